/* Store: records round trip, map growth from a tiny size, sticky errors,
 * schema guard, read-only open, stale reader cleanup after SIGKILL. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <re.h>
#include "callrec.h"
#include "msgrec.h"
#include "store.h"

static char dir[64];


static int setup(void **state)
{
	strcpy(dir, "/tmp/xsgw-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}


static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}


static void test_callrec_roundtrip(void **state)
{
	struct callrec r = {0}, d;
	struct fbuf fb = {0};

	r.dir = CD_S2X;
	r.state = CS_RINGING;
	r.lcseq = 7;
	r.inv_tx = 0x0123456789abcdefULL;
	r.on_hold = 1;
	str_dup(&r.callid, "a84b4c76e66710@pc33.example.com");
	str_dup(&r.routes, "<sip:p1;lr>\n<sip:p2;lr>\n");
	str_dup(&r.inv_raw, "INVITE sip:alice@localhost SIP/2.0\r\n\r\n");
	assert_int_equal(callrec_encode(&fb, &r), 0);
	assert_int_equal(fb.b[0], CALLREC_VERSION);
	assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.dir, CD_S2X);
	assert_int_equal(d.state, CS_RINGING);
	assert_int_equal(d.lcseq, 7);
	assert_true(d.inv_tx == r.inv_tx);
	assert_int_equal(d.on_hold, 1);
	assert_string_equal(d.callid, r.callid);
	assert_string_equal(d.routes, r.routes);
	assert_string_equal(d.inv_raw, r.inv_raw);
	assert_string_equal(d.sid, ""); /* unset strings come back empty */
	callrec_reset(&d);
	/* truncated, or another version: refused, never half-read */
	assert_int_equal(callrec_decode(&d, fb.b, fb.len - 1), EBADMSG);
	assert_null(d.callid);
	fb.b[0] = CALLREC_VERSION + 1;
	assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
	callrec_reset(&r);
	fbuf_reset(&fb);
}


static void test_msgrec_roundtrip(void **state)
{
	struct msgrec r = {0}, d;
	struct fbuf fb = {0};
	struct store *s;
	struct store_txn *t;
	const void *v;
	size_t vl;
	uint64_t id;

	assert_int_equal(store_open(&s, dir, 64 << 20, 0), 0);
	assert_int_equal(store_begin(s, &t, true), 0);
	id = store_next_id(t);
	assert_int_equal(store_next_id(t), id + 1);
	r.kind = MK_CHAT_X2S;
	r.state = MS_PENDING;
	r.scode = 202;
	str_dup(&r.xfrom, "alice@localhost/phone");
	str_dup(&r.body, "gr\xc3\xbc\xc3\x9f dich");
	assert_int_equal(msgrec_encode(&fb, &r), 0);
	assert_int_equal(fb.b[0], MSGREC_VERSION);
	store_put(t, DB_MSG, "k", 1, fb.b, fb.len);
	assert_int_equal(store_commit(t), 0);

	assert_int_equal(store_begin(s, &t, false), 0);
	assert_int_equal(store_get(t, DB_MSG, "k", 1, &v, &vl), 0);
	assert_int_equal(msgrec_decode(&d, v, vl, NULL), 0);
	assert_string_equal(d.xfrom, "alice@localhost/phone");
	assert_string_equal(d.body, "gr\xc3\xbc\xc3\x9f dich");
	assert_int_equal(d.kind, MK_CHAT_X2S);
	msgrec_reset(&d);
	/* a record of an unknown version or truncated is refused */
	assert_int_equal(msgrec_decode(&d, v, vl - 1, NULL), EBADMSG);
	((uint8_t *)fb.b)[0] = 99;
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), EBADMSG);
	assert_int_equal(store_get(t, DB_MSG, "x", 1, &v, &vl), ENOENT);
	store_abort(t);
	msgrec_reset(&r);
	msgrec_reset(&d);
	fbuf_reset(&fb);
	store_close(s);
}


/* Values 0..n-1 of vlen bytes, each filled with its index's low byte, are
 * in DB_MSG under their big-endian index (a sample of them is read). */
static void check_filled(struct store *s, int n, size_t vlen)
{
	struct store_txn *t;

	assert_int_equal(store_begin(s, &t, false), 0);
	for (int i = 0; i < n; i += n / 6 - 1) {
		uint8_t k[8];
		const void *v;
		size_t vl;
		be64_put(k, (uint64_t)i);
		assert_int_equal(store_get(t, DB_MSG, k, 8, &v, &vl), 0);
		assert_int_equal(vl, vlen);
		assert_int_equal(((const uint8_t *)v)[vlen / 2], i & 0xff);
	}
	store_abort(t);
}


static void test_growth(void **state)
{
	static uint8_t val[4096];
	struct store *s;
	struct store_txn *t;
	uint64_t map0, map1, used;
	int err, again = 0;

	assert_int_equal(store_open(&s, dir, 64 << 20, 0), 0);
	store_size(s, &map0, &used);
	/* 24 MiB of values: the map must grow past its initial 8 MiB */
	for (int i = 0; i < 6144; i++) {
		uint8_t k[8];
		be64_put(k, (uint64_t)i);
		memset(val, i & 0xff, sizeof(val));
		do {
			assert_int_equal(store_begin(s, &t, true), 0);
			store_put(t, DB_MSG, k, 8, val, sizeof(val));
			err = store_commit(t);
			again += err == EAGAIN;
		} while (err == EAGAIN);
		assert_int_equal(err, 0);
	}
	store_size(s, &map1, &used);
	assert_true(map1 > map0);
	assert_true(map1 <= 64 << 20);
	store_close(s);

	/* everything survived, and the store reopens at its grown size */
	assert_int_equal(store_open(&s, dir, 64 << 20, STORE_RDONLY), 0);
	check_filled(s, 6144, sizeof(val));
	store_close(s);
	(void)again;
}


/* store.sync: periodic: commits that were never flushed survive the
 * writer's kill -9 (they are in the shared mapping), the map grows, and
 * the file's blocks are reserved as far as the map goes (no SIGBUS on a
 * full disk: ENOSPC at growth instead). */
static void test_periodic(void **state)
{
	static uint8_t val[4096];
	char path[600];
	struct store *s;
	struct store_txn *t;
	struct stat st;
	uint64_t map, used;
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (store_open(&s, dir, 64 << 20, STORE_PERIODIC))
			_exit(2);
		for (int i = 0; i < 3072; i++) {
			uint8_t k[8];
			int err;
			be64_put(k, (uint64_t)i);
			memset(val, i & 0xff, sizeof(val));
			do {
				if (store_begin(s, &t, true))
					_exit(3);
				store_put(t, DB_MSG, k, 8, val, sizeof(val));
				err = store_commit(t);
			} while (err == EAGAIN);
			if (err)
				_exit(4);
		}
		kill(getpid(), SIGKILL); /* never flushed, never closed */
		_exit(5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	assert_int_equal(store_open(&s, dir, 64 << 20, STORE_PERIODIC), 0);
	store_size(s, &map, &used);
	assert_true(map > 8 << 20); /* grew past the initial 8 MiB */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= map);
	check_filled(s, 3072, sizeof(val));
	assert_int_equal(store_flush(s), 0);
	store_close(s);
}


static void test_full_at_limit(void **state)
{
	static uint8_t val[1 << 20];
	struct store *s;
	struct store_txn *t;
	int err = 0;

	/* a 2 MiB limit cannot hold 4 MiB: ENOSPC, never a crash */
	assert_int_equal(store_open(&s, dir, 2 << 20, 0), 0);
	for (int i = 0; i < 4 && !err; i++) {
		uint8_t k[8];
		be64_put(k, (uint64_t)i);
		assert_int_equal(store_begin(s, &t, true), 0);
		store_put(t, DB_MSG, k, 8, val, sizeof(val));
		err = store_commit(t);
		if (err == EAGAIN)
			err = 0, i--;
	}
	assert_int_equal(err, ENOSPC);
	store_close(s);
}


static void test_schema_guard(void **state)
{
	struct store *s;
	struct store_txn *t;
	uint8_t newer[4] = {0, 0, 0, STORE_SCHEMA + 1};

	assert_int_equal(store_open(&s, dir, 8 << 20, 0), 0);
	assert_int_equal(store_begin(s, &t, true), 0);
	store_put(t, DB_META, "schema", 6, newer, 4);
	assert_int_equal(store_commit(t), 0);
	store_close(s);
	assert_int_equal(store_open(&s, dir, 8 << 20, 0), EPROTO);
	assert_int_equal(store_open(&s, dir, 8 << 20, STORE_RDONLY), EPROTO);
}


/* A new store gets this schema; an older one keeps its number until its
 * writer migrates it (translator/tr_upgrade.c), which store_set_schema
 * records. */
static void test_schema_older_kept_until_migrated(void **state)
{
	struct store *s;
	struct store_txn *t;
	uint8_t older[4] = {0, 0, 0, 1};
	const void *v;
	size_t vl;

	assert_int_equal(store_open(&s, dir, 8 << 20, 0), 0);
	assert_int_equal(store_schema(s), STORE_SCHEMA);
	assert_int_equal(store_begin(s, &t, true), 0);
	store_put(t, DB_META, "schema", 6, older, 4);
	assert_int_equal(store_commit(t), 0);
	store_close(s);

	assert_int_equal(store_open(&s, dir, 8 << 20, STORE_RDONLY), 0);
	assert_int_equal(store_schema(s), 1);
	store_close(s);
	assert_int_equal(store_open(&s, dir, 8 << 20, 0), 0);
	assert_int_equal(store_schema(s), 1);
	assert_int_equal(store_begin(s, &t, false), 0);
	assert_int_equal(store_get(t, DB_META, "schema", 6, &v, &vl), 0);
	assert_int_equal(be32_get(v), 1); /* opening did not change it */
	store_abort(t);
	assert_int_equal(store_begin(s, &t, true), 0);
	store_set_schema(t, STORE_SCHEMA);
	assert_int_equal(store_commit(t), 0);
	store_close(s);
	assert_int_equal(store_open(&s, dir, 8 << 20, 0), 0);
	assert_int_equal(store_schema(s), STORE_SCHEMA);
	store_close(s);
}


static void test_rdonly_missing(void **state)
{
	struct store *s;
	assert_int_equal(store_open(&s, "/tmp/xsgw-no-such-store", 8 << 20,
				    STORE_RDONLY),
			 ENOENT);
}


static void test_stale_reader(void **state)
{
	struct store *s;
	struct store_txn *t;
	int pfd[2], status;
	pid_t pid;
	char c;

	assert_int_equal(store_open(&s, dir, 8 << 20, 0), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		struct store *cs;
		struct store_txn *ct;
		if (store_open(&cs, dir, 8 << 20, STORE_RDONLY) ||
		    store_begin(cs, &ct, 0))
			_exit(1);
		(void)!write(pfd[1], "r", 1);
		pause(); /* holding a read transaction */
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	store_close(s);
	/* the next open clears the dead reader's slot and works */
	assert_int_equal(store_open(&s, dir, 8 << 20, 0), 0);
	assert_int_equal(store_begin(s, &t, true), 0);
	store_count(t, "x", 2);
	store_count(t, "x", 3);
	assert_int_equal(store_commit(t), 0);
	store_close(s);
	close(pfd[0]);
	close(pfd[1]);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msgrec_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_at_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_schema_older_kept_until_migrated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_guard, setup,
						teardown),
		cmocka_unit_test(test_rdonly_missing),
		cmocka_unit_test(test_callrec_roundtrip),
		cmocka_unit_test_setup_teardown(test_stale_reader, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
