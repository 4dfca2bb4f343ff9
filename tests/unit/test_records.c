/* Store keys and records: every key builder and parser (round trip,
 * refusals, sort order), and the outbox, presence, message and call records
 * (round trip, older versions read and upgraded, bad and future versions);
 * the applied-frame record too. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include "callrec.h"
#include "frame.h"
#include "keys.h"
#include "msg.h"
#include "msgrec.h"
#include "outrec.h"
#include "presrec.h"
#include "rxrec.h"
#include "store.h"

#define SNOW     "\xe2\x98\x83"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))


static int sign(int v)
{
	return (v > 0) - (v < 0);
}


static struct pl pl_of(const char *s)
{
	struct pl p;
	pl_set_str(&p, s);
	return p;
}


static void assert_pl_str(const struct pl *p, const char *s)
{
	assert_int_equal(p->l, strlen(s));
	assert_memory_equal(p->p, s, p->l);
}


/* A heap copy of exactly n bytes, so that ASan sees any overread. */
static uint8_t *copy(const void *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, b, n);
	return c;
}


/* ---- keys ---- */

static void test_key_id(void **state)
{
	static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t k[8];

	key_id(k, 0x0102030405060708ULL);
	assert_memory_equal(k, want, 8);
	assert_true(key_id_parse(k) == 0x0102030405060708ULL);
	key_id(k, UINT64_MAX);
	assert_true(key_id_parse(k) == UINT64_MAX);
	key_id(k, 0);
	assert_true(key_id_parse(k) == 0);
}


static void test_key_callkey(void **state)
{
	static const enum callkey_kind kinds[] = {CK_SID, CK_DIALOG, CK_REMOTE};
	static const struct {
		const char *a, *b;
	} v[] = {
		{"alice@localhost", "sid-1" SNOW},
		{"a84b4c76e66710@pc33.example.com", "1928301774"},
		{"x", ""}, /* an empty b */
		{"", "y"}, /* an empty a */
		{"", ""},
	};
	uint8_t k[KEY_MAX + 1];

	for (size_t i = 0; i < NELEM(kinds); i++) {
		for (size_t j = 0; j < NELEM(v); j++) {
			size_t al = strlen(v[j].a), bl = strlen(v[j].b);
			enum callkey_kind kind = 0;
			struct pl a, b;
			size_t kl;

			kl = key_callkey(k, sizeof(k), kinds[i], v[j].a,
					 v[j].b);
			assert_int_equal(kl, 1 + al + 1 + bl);
			/* kind, a, NUL, b */
			assert_int_equal(k[0], kinds[i]);
			assert_memory_equal(k + 1, v[j].a, al);
			assert_int_equal(k[1 + al], 0);
			assert_memory_equal(k + 2 + al, v[j].b, bl);
			assert_int_equal(
				key_callkey_parse(k, kl, &kind, &a, &b), 0);
			assert_int_equal(kind, kinds[i]);
			assert_pl_str(&a, v[j].a);
			assert_pl_str(&b, v[j].b);
		}
	}
	/* NULL is "" */
	assert_int_equal(key_callkey(k, sizeof(k), CK_SID, NULL, NULL), 2);
	assert_int_equal(k[0], CK_SID);
	assert_int_equal(k[1], 0);
}


static void test_key_callkey_refused(void **state)
{
	char *a = malloc(KEY_MAX + 2);
	uint8_t k[KEY_MAX + 16];
	enum callkey_kind kind;
	struct pl pa, pb;
	size_t kl;

	assert_non_null(a);
	/* too long for the buffer: exactly fits, one more is refused */
	assert_int_equal(key_callkey(k, 5, CK_DIALOG, "ab", "c"), 5);
	assert_int_equal(key_callkey(k, 4, CK_DIALOG, "ab", "c"), 0);
	assert_int_equal(key_callkey(k, 0, CK_DIALOG, "", ""), 0);
	/* a part over 128 bytes is keyed by its digest: any length has a
	 * key of 1 + 41 + 1 + 41 bytes at most, the same for the same value,
	 * another for another value; the parser splits it */
	memset(a, 'a', KEY_MAX + 1);
	a[KEY_MAX + 1] = 0;
	kl = key_callkey(k, sizeof(k), CK_SID, a, a);
	assert_int_equal(kl, 1 + 41 + 1 + 41);
	assert_int_equal(k[1], 0x01);
	{
		uint8_t k2[KEY_MAX];
		assert_int_equal(key_callkey(k2, sizeof(k2), CK_SID, a, a), kl);
		assert_memory_equal(k, k2, kl);
		a[KEY_MAX] = 'b';
		assert_int_equal(key_callkey(k2, sizeof(k2), CK_SID, a, a), kl);
		assert_memory_not_equal(k, k2, kl);
		assert_int_equal(key_callkey_parse(k2, kl, &kind, &pa, &pb), 0);
		assert_int_equal(pa.l, 41);
		assert_int_equal(pb.l, 41);
		/* no NUL but the separator: a key is a C string up to it */
		assert_null(memchr(k2 + 1, 0, 41));
	}
	/* 128 bytes stay as they are, 129 are digested */
	a[128] = 0;
	assert_int_equal(key_callkey(k, sizeof(k), CK_DIALOG, a, "t"),
			 1 + 128 + 1 + 1);
	a[128] = 'a';
	a[129] = 0;
	assert_int_equal(key_callkey(k, sizeof(k), CK_DIALOG, a, "t"),
			 1 + 41 + 1 + 1);
	/* a value that looks like a digest is digested too: no collision */
	a[0] = 0x01;
	a[41] = 0;
	assert_int_equal(key_callkey(k, sizeof(k), CK_DIALOG, a, "t"),
			 1 + 41 + 1 + 1);
	assert_int_equal(key_callkey(k, 10, CK_DIALOG, a, "t"), 0);

	/* the parser: an unknown kind, no NUL, too short */
	kl = key_callkey(k, sizeof(k), CK_REMOTE, "a", "b");
	assert_int_equal(kl, 4);
	assert_int_equal(key_callkey_parse(k, kl, &kind, &pa, &pb), 0);
	k[0] = 'x';
	assert_int_equal(key_callkey_parse(k, kl, &kind, &pa, &pb), EBADMSG);
	k[0] = 0;
	assert_int_equal(key_callkey_parse(k, kl, &kind, &pa, &pb), EBADMSG);
	k[0] = CK_REMOTE;
	k[2] = 'c'; /* "uacb": no NUL */
	assert_int_equal(key_callkey_parse(k, kl, &kind, &pa, &pb), EBADMSG);
	assert_int_equal(key_callkey_parse(k, 1, &kind, &pa, &pb), EBADMSG);
	assert_int_equal(key_callkey_parse(k, 0, &kind, &pa, &pb), EBADMSG);
	/* a NUL right after the kind: empty a */
	k[1] = 0;
	assert_int_equal(key_callkey_parse(k, 2, &kind, &pa, &pb), 0);
	assert_int_equal(pa.l, 0);
	assert_int_equal(pb.l, 0);
	/* the a-string ends at the first NUL: whatever follows is b */
	memcpy(k, "sa\0b\0c", 6);
	assert_int_equal(key_callkey_parse(k, 6, &kind, &pa, &pb), 0);
	assert_pl_str(&pa, "a");
	assert_int_equal(pb.l, 3);
	assert_memory_equal(pb.p, "b\0c", 3);
	free(a);
}


static void test_key_msgdedup(void **state)
{
	struct pl callid = pl_of("a84b4c76e66710@pc33"),
		  ftag = pl_of("9fxced76sl");
	struct pl empty = PL_INIT;
	char *big = malloc(KEY_MAX + 1);
	uint8_t k[KEY_MAX + 16];
	static const char want[] = "s\ta84b4c76e66710@pc33\t4294967295\t"
				   "9fxced76sl";
	struct pl bp;
	size_t kl;

	assert_non_null(big);
	kl = key_msgdedup(k, sizeof(k), &callid, UINT32_MAX, &ftag);
	assert_int_equal(kl, sizeof(want) - 1);
	assert_memory_equal(k, want, kl);
	kl = key_msgdedup(k, sizeof(k), &empty, 0, &empty);
	assert_int_equal(kl, 5);
	assert_memory_equal(k, "s\t\t0\t", 5);
	/* another CSeq or tag is another key */
	kl = key_msgdedup(k, sizeof(k), &callid, 1, &ftag);
	assert_memory_equal(k, "s\ta84b4c76e66710@pc33\t1\t9fxced76sl", kl);

	/* too long for the buffer */
	kl = key_msgdedup(k, sizeof(want), &callid, UINT32_MAX, &ftag);
	assert_int_equal(kl, sizeof(want) - 1); /* room for the NUL */
	assert_int_equal(
		key_msgdedup(k, sizeof(want) - 2, &callid, UINT32_MAX, &ftag),
		0);
	assert_int_equal(key_msgdedup(k, 0, &callid, 1, &ftag), 0);

	/* a long Call-ID or tag, or one holding a TAB, is keyed by its
	 * digest: the key stays short and different values differ */
	memset(big, 'c', KEY_MAX + 1);
	bp.p = big;
	bp.l = KEY_MAX + 1;
	kl = key_msgdedup(k, sizeof(k), &bp, 1, &empty);
	assert_int_equal(kl, 2 + 41 + 3);
	assert_int_equal(key_msgdedup(k, sizeof(k), &empty, 1, &bp),
			 2 + 3 + 41);
	{
		uint8_t k2[KEY_MAX];
		struct pl t1 = pl_of("a\t1\tb"), t2 = pl_of("a");
		struct pl f1 = pl_of("c"), f2 = pl_of("b\t1\tc");
		size_t l1 = key_msgdedup(k, sizeof(k), &t1, 1, &f1);
		size_t l2 = key_msgdedup(k2, sizeof(k2), &t2, 1, &f2);
		assert_true(l1 != l2 || memcmp(k, k2, l1));
	}
	free(big);
}


static void test_key_presence(void **state)
{
	uint8_t k[KEY_MAX + 16], p[KEY_MAX + 16];
	char *big = malloc(KEY_MAX + 1);
	struct pl bare, res;
	size_t kl, pl;

	assert_non_null(big);
	kl = key_presence(k, sizeof(k), "alice@localhost", "phone" SNOW);
	assert_int_equal(kl, 15 + 1 + 5 + 3);
	assert_memory_equal(k, "alice@localhost\0phone" SNOW, kl);
	assert_int_equal(key_presence_parse(k, kl, &bare, &res), 0);
	assert_pl_str(&bare, "alice@localhost");
	assert_pl_str(&res, "phone" SNOW);

	/* the prefix: bare NUL, a prefix of every resource of bare only */
	pl = key_presence_prefix(p, sizeof(p), "alice@localhost");
	assert_int_equal(pl, 16);
	assert_memory_equal(p, "alice@localhost", 16); /* with the NUL */
	assert_memory_equal(k, p, pl);
	kl = key_presence(k, sizeof(k), "alice@localhostx", "phone");
	assert_true(memcmp(k, p, pl) != 0);
	kl = key_presence(k, sizeof(k), "alice@localhost", "");
	assert_int_equal(kl, pl);
	assert_memory_equal(k, p, pl);
	assert_int_equal(key_presence_parse(k, kl, &bare, &res), 0);
	assert_pl_str(&bare, "alice@localhost");
	assert_int_equal(res.l, 0);

	/* refusals: the buffer, KEY_MAX, no NUL */
	assert_int_equal(key_presence(k, 3, "a", "b"), 3);
	assert_int_equal(key_presence(k, 2, "a", "b"), 0);
	assert_int_equal(key_presence_prefix(k, 1, "a"), 0);
	memset(big, 'b', KEY_MAX + 1);
	big[KEY_MAX - 1] = 0; /* + NUL = KEY_MAX */
	assert_int_equal(key_presence_prefix(k, sizeof(k), big), KEY_MAX);
	assert_int_equal(key_presence(k, sizeof(k), big, ""), KEY_MAX);
	assert_int_equal(key_presence(k, sizeof(k), big, "r"), 0);
	assert_int_equal(key_presence(k, sizeof(k), "", big), KEY_MAX);
	assert_int_equal(key_presence(k, sizeof(k), "b", big), 0);
	big[KEY_MAX - 1] = 'b';
	big[KEY_MAX] = 0;
	assert_int_equal(key_presence_prefix(k, sizeof(k), big), 0);
	assert_int_equal(key_presence_parse("abc", 3, &bare, &res), EBADMSG);
	assert_int_equal(key_presence_parse("", 0, &bare, &res), EBADMSG);
	free(big);
}


struct dl {
	uint64_t when;
	enum owner_kind kind;
	uint64_t id;
};

static int dl_cmp(const struct dl *a, const struct dl *b)
{
	if (a->when != b->when)
		return a->when < b->when ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}


/* values where byte order matters */
static const uint64_t vals[] = {0,
				1,
				0xff,
				0x100,
				0xffffffffULL,
				0x100000000ULL,
				0x0102030405060708ULL,
				0x0807060504030201ULL,
				1ULL << 56,
				UINT64_MAX};


static void test_key_deadline(void **state)
{
	enum { N = NELEM(vals) * OWN_COUNT * 4 };
	static const int ids[] = {0, 2, 6, 9}; /* indexes into vals */
	struct dl *d = calloc(N, sizeof(*d));
	uint8_t(*k)[KEY_DEADLINE_LEN] = calloc(N, KEY_DEADLINE_LEN);
	size_t n = 0;

	assert_non_null(d);
	assert_non_null(k);
	for (size_t w = 0; w < NELEM(vals); w++)
		for (int kind = 0; kind < OWN_COUNT; kind++)
			for (size_t i = 0; i < NELEM(ids); i++, n++) {
				d[n].when = vals[w];
				d[n].kind = kind;
				d[n].id = vals[NELEM(vals) - 1 - ids[i]];
				key_deadline(k[n], d[n].when, d[n].kind,
					     d[n].id);
			}
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++) {
		struct dl p = {0};
		assert_int_equal(key_deadline_parse(k[i], KEY_DEADLINE_LEN,
						    &p.when, &p.kind, &p.id),
				 0);
		assert_int_equal(dl_cmp(&p, &d[i]), 0);
		/* memcmp order is (when, kind, id) order */
		for (size_t j = 0; j < n; j++)
			assert_int_equal(
				sign(memcmp(k[i], k[j], KEY_DEADLINE_LEN)),
				dl_cmp(&d[i], &d[j]));
	}
	/* the layout: be64 when, u8 kind, be64 id */
	key_deadline(k[0], 0x0102030405060708ULL, OWN_CALL, 0x1112131415161718);
	assert_memory_equal(k[0],
			    "\x01\x02\x03\x04\x05\x06\x07\x08\x02\x11\x12\x13"
			    "\x14\x15\x16\x17\x18",
			    KEY_DEADLINE_LEN);

	/* refusals: the length, an unknown owner kind */
	struct dl p;
	assert_int_equal(key_deadline_parse(k[0], KEY_DEADLINE_LEN - 1, &p.when,
					    &p.kind, &p.id),
			 EBADMSG);
	assert_int_equal(key_deadline_parse(k[0], KEY_DEADLINE_LEN + 1, &p.when,
					    &p.kind, &p.id),
			 EBADMSG);
	k[0][8] = OWN_COUNT;
	assert_int_equal(key_deadline_parse(k[0], KEY_DEADLINE_LEN, &p.when,
					    &p.kind, &p.id),
			 EBADMSG);
	k[0][8] = 0xff;
	assert_int_equal(key_deadline_parse(k[0], KEY_DEADLINE_LEN, &p.when,
					    &p.kind, &p.id),
			 EBADMSG);
	k[0][8] = OWN_NONE;
	assert_int_equal(key_deadline_parse(k[0], KEY_DEADLINE_LEN, &p.when,
					    &p.kind, &p.id),
			 0);
	assert_int_equal(p.kind, OWN_NONE);
	free(d);
	free(k);
}


struct ob {
	uint32_t front;
	uint64_t id;
};

static int ob_cmp(const struct ob *a, const struct ob *b)
{
	if (a->front != b->front)
		return a->front < b->front ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}


static void test_key_outbox(void **state)
{
	static const uint32_t fronts[] = {0,     1,          2,         0xff,
					  0x100, 0x01000000, UINT32_MAX};
	enum { N = NELEM(fronts) * NELEM(vals) };
	struct ob o[N];
	uint8_t k[N][KEY_OUTBOX_LEN];
	size_t n = 0;

	for (size_t f = 0; f < NELEM(fronts); f++)
		for (size_t i = 0; i < NELEM(vals); i++, n++) {
			o[n].front = fronts[f];
			o[n].id = vals[i];
			key_outbox(k[n], o[n].front, o[n].id);
		}
	for (size_t i = 0; i < n; i++) {
		struct ob p = {0};
		uint8_t pre[4];

		assert_int_equal(
			key_outbox_parse(k[i], KEY_OUTBOX_LEN, &p.front, &p.id),
			0);
		assert_int_equal(ob_cmp(&p, &o[i]), 0);
		for (size_t j = 0; j < n; j++)
			assert_int_equal(
				sign(memcmp(k[i], k[j], KEY_OUTBOX_LEN)),
				ob_cmp(&o[i], &o[j]));
		/* a front's entries, and only those, start with its prefix */
		key_outbox_prefix(pre, o[i].front);
		for (size_t j = 0; j < n; j++)
			assert_int_equal(memcmp(k[j], pre, 4) == 0,
					 o[j].front == o[i].front);
	}
	key_outbox(k[0], 0x01020304, 0x05060708090a0b0cULL);
	assert_memory_equal(k[0],
			    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
			    "\x0b\x0c",
			    KEY_OUTBOX_LEN);
	struct ob p;
	assert_int_equal(
		key_outbox_parse(k[0], KEY_OUTBOX_LEN - 1, &p.front, &p.id),
		EBADMSG);
	assert_int_equal(
		key_outbox_parse(k[0], KEY_OUTBOX_LEN + 1, &p.front, &p.id),
		EBADMSG);
	assert_int_equal(key_outbox_parse(k[0], 0, &p.front, &p.id), EBADMSG);
}


static void test_key_rx(void **state)
{
	uint8_t k[4];

	key_rx(k, 0x01020304);
	assert_memory_equal(k, "\x01\x02\x03\x04", 4);
	key_rx(k, 2);
	assert_memory_equal(k, "\x00\x00\x00\x02", 4);
}


/* ---- outbox entries ---- */

static void test_outrec(void **state)
{
	struct m_sip_out_request m = {.out = 77,
				      .method = PL("MESSAGE"),
				      .ruri = PL("sip:bob@example.org"),
				      .branch = PL("z9hG4bKx"),
				      .body = {"a\0b", 3}};
	struct fbuf msg = {0}, fb = {0}, re = {0};
	struct outrec r, d;
	struct frame fr;
	size_t used;

	assert_int_equal(msg_enc_sip_out_request(&msg, &m), 0);
	r.owner_kind = OWN_CALL;
	r.owner = 0xfedcba9876543210ULL;
	r.type = MSG_SIP_OUT_REQUEST;
	r.payload = msg_payload(&msg);
	r.len = msg_payload_len(&msg);
	assert_int_equal(outrec_encode(&fb, &r), 0);
	assert_int_equal(fb.b[0], OUTREC_VERSION);
	assert_int_equal(OUTREC_VERSION, 2);

	memset(&d, 0xa5, sizeof(d));
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.owner_kind, OWN_CALL);
	assert_true(d.owner == r.owner);
	assert_int_equal(d.type, MSG_SIP_OUT_REQUEST);
	assert_int_equal(d.len, r.len);
	assert_memory_equal(d.payload, r.payload, r.len);
	/* the payload points into the stored value */
	assert_true(d.payload > fb.b && d.payload + d.len == fb.b + fb.len);

	/* replay: the frame rebuilt from it is the one encoded */
	assert_int_equal(msg_rebuild(&re, d.type, d.payload, d.len), 0);
	assert_int_equal(re.len, msg.len);
	assert_memory_equal(re.b, msg.b, msg.len);
	assert_int_equal(frame_parse(re.b, re.len, &fr, &used), 0);
	assert_int_equal(fr.type, MSG_SIP_OUT_REQUEST);

	/* every truncation, a byte more: refused */
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		assert_int_equal(outrec_decode(&d, c, n), EBADMSG);
		free(c);
	}
	frame_put_raw(&fb, "", 1);
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), EBADMSG);

	/* an empty payload, owner none */
	r.owner_kind = OWN_NONE;
	r.owner = 0;
	r.type = MSG_XMPP_OUT;
	r.payload = NULL;
	r.len = 0;
	assert_int_equal(outrec_encode(&fb, &r), 0);
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.owner_kind, OWN_NONE);
	assert_int_equal(d.type, MSG_XMPP_OUT);
	assert_int_equal(d.len, 0);

	/* versions 1 (schema 1), 3 and 0 are refused */
	for (int v = 0; v < 256; v++) {
		fb.b[0] = (uint8_t)v;
		assert_int_equal(outrec_decode(&d, fb.b, fb.len),
				 v == OUTREC_VERSION ? 0 : EBADMSG);
	}
	/* a version byte alone, of any version */
	for (int ver = 0; ver < 256; ver++) {
		uint8_t *c = copy((uint8_t[]){(uint8_t)ver}, 1);
		assert_int_equal(outrec_decode(&d, c, 1), EBADMSG);
		free(c);
	}
	fbuf_reset(&msg);
	fbuf_reset(&re);
	fbuf_reset(&fb);
}


static void test_outrec_bad(void **state)
{
	struct fbuf fb = {0};
	struct outrec d;

	/* a type over 16 bits */
	rec_begin(&fb, OUTREC_VERSION);
	frame_put_u32(&fb, OWN_MSG);
	frame_put_u64(&fb, 1);
	frame_put_u32(&fb, 0x10000 | MSG_XMPP_OUT);
	frame_put_str(&fb, "x", 1);
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), EBADMSG);
	/* fields of the wrong kind */
	rec_begin(&fb, OUTREC_VERSION);
	frame_put_u64(&fb, OWN_MSG);
	frame_put_u64(&fb, 1);
	frame_put_u32(&fb, MSG_XMPP_OUT);
	frame_put_str(&fb, "x", 1);
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), EBADMSG);
	/* the same, right */
	rec_begin(&fb, OUTREC_VERSION);
	frame_put_u32(&fb, OWN_MSG);
	frame_put_u64(&fb, 1);
	frame_put_u32(&fb, MSG_XMPP_OUT);
	frame_put_str(&fb, "x", 1);
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.owner_kind, OWN_MSG);
	assert_int_equal(d.type, MSG_XMPP_OUT);
	/* schema 1: {u32 front, str whole frame} */
	rec_begin(&fb, 1);
	frame_put_u32(&fb, 2);
	frame_put_str(&fb, "x", 1);
	assert_int_equal(outrec_decode(&d, fb.b, fb.len), EBADMSG);
	fbuf_reset(&fb);
}


/* ---- presence ---- */

static void test_presrec(void **state)
{
	static const struct presrec v[] = {
		{.priority = 0, .seen_ms = 0},
		{.priority = -1, .seen_ms = 1700000000123ULL},
		{.priority = 127, .seen_ms = UINT64_MAX},
		{.priority = INT32_MIN, .seen_ms = 1},
		{.priority = INT32_MAX, .seen_ms = 0x0102030405060708ULL}};
	struct fbuf fb = {0};
	struct presrec d;

	for (size_t i = 0; i < NELEM(v); i++) {
		assert_int_equal(presrec_encode(&fb, &v[i]), 0);
		assert_int_equal(fb.b[0], PRESREC_VERSION);
		/* v2: two more fields, show and status (empty here) */
		assert_int_equal(fb.len, 1 + 5 + 9 + 5 + 5);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(presrec_decode(&d, fb.b, fb.len), 0);
		assert_int_equal(d.priority, v[i].priority);
		assert_true(d.seen_ms == v[i].seen_ms);
	}
	/* truncated (12 bytes would be the raw form), a byte more, other
	 * versions */
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		if (n != 12)
			assert_int_equal(presrec_decode(&d, c, n), EBADMSG);
		free(c);
	}
	frame_put_raw(&fb, "", 1);
	assert_int_equal(presrec_decode(&d, fb.b, fb.len), EBADMSG);
	fb.len--;
	assert_int_equal(presrec_decode(&d, fb.b, fb.len), 0);
	fb.b[0] = PRESREC_VERSION + 1;
	assert_int_equal(presrec_decode(&d, fb.b, fb.len), EBADMSG);
	fb.b[0] = 0;
	assert_int_equal(presrec_decode(&d, fb.b, fb.len), EBADMSG);
	/* a version byte alone, of any version */
	for (int ver = 0; ver < 256; ver++) {
		uint8_t *c = copy((uint8_t[]){(uint8_t)ver}, 1);
		assert_int_equal(presrec_decode(&d, c, 1), EBADMSG);
		free(c);
	}
	fbuf_reset(&fb);
}


static void test_presrec_raw(void **state)
{
	static const struct {
		uint8_t b[12];
		int32_t prio;
		uint64_t seen;
	} v[] = {
		{{0, 0, 0, 5, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x7b},
		 5,
		 1700000000123ULL},
		{{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8},
		 -1,
		 0x0102030405060708ULL},
		{{0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff},
		 INT32_MIN,
		 UINT64_MAX},
	};
	struct presrec d;

	for (size_t i = 0; i < NELEM(v); i++) {
		uint8_t *c = copy(v[i].b, 12);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(presrec_decode(&d, c, 12), 0);
		assert_int_equal(d.priority, v[i].prio);
		assert_true(d.seen_ms == v[i].seen);
		/* 11 or 13 raw bytes are neither form */
		assert_int_equal(presrec_decode(&d, c, 11), EBADMSG);
		free(c);
	}
}


/* ---- applied frames ---- */

static void test_rxrec(void **state)
{
	static const struct rxrec v[] = {
		{0, 0, 0, 0},
		{0x0102030405060708ULL, 1, 0x1122334455667788ULL, 4096},
		{UINT64_MAX, UINT64_MAX - 1, UINT64_MAX, UINT64_MAX - 2}};
	struct fbuf fb = {0};
	struct rxrec d;

	for (size_t i = 0; i < NELEM(v); i++) {
		assert_int_equal(rxrec_encode(&fb, &v[i]), 0);
		assert_int_equal(fb.b[0], RXREC_VERSION);
		assert_int_equal(fb.len, 1 + 4 * 9);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(rxrec_decode(&d, fb.b, fb.len), 0);
		assert_true(d.boot == v[i].boot);
		assert_true(d.seq == v[i].seq);
		assert_true(d.stream == v[i].stream);
		assert_true(d.off == v[i].off);
	}
	/* truncated (16 bytes would be the raw form, 19 version 1's), a
	 * byte more, other versions, a version byte alone */
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		if (n != 16 && n != 19)
			assert_int_equal(rxrec_decode(&d, c, n), EBADMSG);
		free(c);
	}
	frame_put_raw(&fb, "", 1);
	assert_int_equal(rxrec_decode(&d, fb.b, fb.len), EBADMSG);
	fb.len--;
	for (int ver = 0; ver < 256; ver++) {
		uint8_t *c = copy((uint8_t[]){(uint8_t)ver}, 1);
		assert_int_equal(rxrec_decode(&d, c, 1), EBADMSG);
		free(c);
		fb.b[0] = (uint8_t)ver;
		assert_int_equal(rxrec_decode(&d, fb.b, fb.len),
				 ver == RXREC_VERSION ? 0 : EBADMSG);
	}
	/* version 1: {boot, seq}, no stream yet */
	{
		struct fbuf f1 = {0};
		rec_begin(&f1, 1);
		frame_put_u64(&f1, 7);
		frame_put_u64(&f1, 9);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(rxrec_decode(&d, f1.b, f1.len), 0);
		assert_true(d.boot == 7 && d.seq == 9);
		assert_true(d.stream == 0 && d.off == 0);
		fbuf_reset(&f1);
	}
	/* schema 1: {be64 boot, be64 seq} raw */
	{
		static const uint8_t raw[16] = {1, 2, 3, 4, 5, 6, 7, 8,
						0, 0, 0, 0, 0, 0, 1, 0};
		uint8_t *c = copy(raw, 16);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(rxrec_decode(&d, c, 16), 0);
		assert_true(d.boot == 0x0102030405060708ULL);
		assert_true(d.seq == 0x100);
		assert_int_equal(rxrec_decode(&d, c, 15), EBADMSG);
		free(c);
	}
	fbuf_reset(&fb);
}


/* ---- messages ---- */

#define MSG_STRS(X)                                                            \
	X(xfrom)                                                               \
	X(xto)                                                                 \
	X(xid)                                                                 \
	X(sfrom)                                                               \
	X(sto)                                                                 \
	X(ruri)                                                                \
	X(callid)                                                              \
	X(ctype)                                                               \
	X(body)                                                                \
	X(reason)                                                              \
	X(econd)                                                               \
	X(etext)                                                               \
	X(dkey)


static void msg_fill(struct msgrec *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = MK_CHAT_S2X;
	r->state = MS_DONE;
	r->created = 0x0102030405060708ULL;
	r->updated = 0x1112131415161718ULL;
	r->ref = UINT64_MAX;
	r->scode = 486;
	r->flags = 0x80000001;
#define SET(f) assert_int_equal(re_sdprintf(&r->f, "%s " SNOW, #f), 0);
	MSG_STRS(SET)
#undef SET
	r->body = mem_deref(r->body);
	assert_int_equal(str_dup(&r->body, ""), 0); /* an empty one */
}


static void msg_check(const struct msgrec *d, const struct msgrec *r)
{
	assert_int_equal(d->kind, r->kind);
	assert_int_equal(d->state, r->state);
	assert_true(d->created == r->created);
	assert_true(d->updated == r->updated);
	assert_true(d->ref == r->ref);
	assert_int_equal(d->scode, r->scode);
	assert_int_equal(d->flags, r->flags);
#define CHK(f)                                                                 \
	assert_non_null(d->f);                                                 \
	assert_string_equal(d->f, r->f ? r->f : "");
	MSG_STRS(CHK)
#undef CHK
}


static void test_msgrec_v2(void **state)
{
	struct msgrec r, d;
	struct msgrec_v1_txn old = {.attempts = 3, .cseq = 4};
	struct fbuf fb = {0};
	size_t want = 1 + 4 * 5 + 3 * 9;

	msg_fill(&r);
#define LEN(f) want += 5 + strlen(r.f);
	MSG_STRS(LEN)
#undef LEN
	assert_int_equal(msgrec_encode(&fb, &r), 0);
	assert_int_equal(fb.b[0], MSGREC_VERSION);
	assert_int_equal(MSGREC_VERSION, 2);
	assert_int_equal(fb.len, want); /* no v1 transaction fields */

	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), 0);
	msg_check(&d, &r);
	msgrec_reset(&d);
	assert_null(d.xfrom);
	assert_int_equal(d.kind, 0);
	/* with the old-txn out param: zero for version 2 */
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, &old), 0);
	msg_check(&d, &r);
	assert_int_equal(old.attempts, 0);
	assert_int_equal(old.cseq, 0);
	assert_null(old.ftag);
	assert_null(old.branch);
	msgrec_reset(&d);

	/* unset strings come back empty */
	msgrec_reset(&r);
	r.kind = MK_RECEIPT;
	assert_int_equal(msgrec_encode(&fb, &r), 0);
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), 0);
	msg_check(&d, &r);
	msgrec_reset(&d);
	fbuf_reset(&fb);
}


static void msg_put_v1(struct fbuf *fb, const struct msgrec *r,
		       const struct msgrec_v1_txn *t)
{
	rec_begin(fb, 1);
	frame_put_u32(fb, r->kind);
	frame_put_u32(fb, r->state);
	frame_put_u32(fb, t->attempts);
	frame_put_u64(fb, r->created);
	frame_put_u64(fb, r->updated);
	frame_put_u64(fb, r->ref);
	frame_put_u32(fb, r->scode);
	frame_put_u32(fb, r->flags);
	frame_put_u32(fb, t->cseq);
	frame_put_cstr(fb, r->xfrom);
	frame_put_cstr(fb, r->xto);
	frame_put_cstr(fb, r->xid);
	frame_put_cstr(fb, r->sfrom);
	frame_put_cstr(fb, r->sto);
	frame_put_cstr(fb, r->ruri);
	frame_put_cstr(fb, r->callid);
	frame_put_cstr(fb, t->ftag);
	frame_put_cstr(fb, t->branch);
	frame_put_cstr(fb, r->ctype);
	frame_put_cstr(fb, r->body);
	frame_put_cstr(fb, r->reason);
	frame_put_cstr(fb, r->econd);
	frame_put_cstr(fb, r->etext);
	frame_put_cstr(fb, r->dkey);
	assert_int_equal(fb->err, 0);
}


static void test_msgrec_v1(void **state)
{
	struct msgrec_v1_txn t = {.attempts = 5,
				  .cseq = 0x7fffffff,
				  .ftag = "9fxced76sl" SNOW,
				  .branch = "z9hG4bK776asdhds"},
			     old;
	struct msgrec r, d;
	struct fbuf fb = {0};

	msg_fill(&r);
	msg_put_v1(&fb, &r, &t);

	/* without the out param: the business fields */
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), 0);
	msg_check(&d, &r);
	msgrec_reset(&d);

	/* with it: the transaction too */
	memset(&old, 0, sizeof(old));
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, &old), 0);
	msg_check(&d, &r);
	assert_int_equal(old.attempts, 5);
	assert_int_equal(old.cseq, 0x7fffffff);
	assert_non_null(old.ftag);
	assert_non_null(old.branch);
	assert_string_equal(old.ftag, t.ftag);
	assert_string_equal(old.branch, t.branch);
	old.ftag = mem_deref(old.ftag);
	old.branch = mem_deref(old.branch);
	msgrec_reset(&d);

	/* re-encoded, it is version 2 */
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), 0);
	{
		struct fbuf v2 = {0};
		struct msgrec e;
		assert_int_equal(msgrec_encode(&v2, &d), 0);
		assert_int_equal(v2.b[0], 2);
		assert_true(v2.len < fb.len);
		assert_int_equal(msgrec_decode(&e, v2.b, v2.len, NULL), 0);
		msg_check(&e, &r);
		msgrec_reset(&e);
		fbuf_reset(&v2);
	}
	msgrec_reset(&d);

	/* every truncation, and a byte more: refused, nothing left over */
	for (size_t n = 0; n <= fb.len; n++) {
		uint8_t *c = copy(fb.b, fb.len + 1);
		size_t l = n < fb.len ? n : fb.len + 1;

		c[fb.len] = 0;
		memset(&old, 0, sizeof(old));
		assert_int_equal(msgrec_decode(&d, c, l, &old), EBADMSG);
		assert_null(d.xfrom);
		assert_null(d.dkey);
		assert_null(old.ftag);
		assert_null(old.branch);
		assert_int_equal(msgrec_decode(&d, c, l, NULL), EBADMSG);
		assert_null(d.xfrom);
		free(c);
	}
	/* a version 2 field order under a version 1 byte */
	assert_int_equal(msgrec_encode(&fb, &r), 0);
	fb.b[0] = 1;
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, &old), EBADMSG);
	assert_null(old.ftag);
	msgrec_reset(&r);
	fbuf_reset(&fb);
}


static void test_msgrec_bad(void **state)
{
	struct msgrec r, d;
	struct fbuf fb = {0};

	msg_fill(&r);
	assert_int_equal(msgrec_encode(&fb, &r), 0);
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		assert_int_equal(msgrec_decode(&d, c, n, NULL), EBADMSG);
		assert_null(d.xfrom);
		free(c);
	}
	/* an embedded NUL in a string */
	rec_begin(&fb, MSGREC_VERSION);
	frame_put_u32(&fb, MK_CHAT_X2S); /* kind, state */
	frame_put_u32(&fb, MS_PENDING);
	for (int i = 0; i < 3; i++) /* created, updated, ref */
		frame_put_u64(&fb, 1);
	frame_put_u32(&fb, 200); /* scode, flags */
	frame_put_u32(&fb, 0);
	for (int i = 0; i < 13; i++)
		frame_put_str(&fb, i == 12 ? "a\0b" : "x", i == 12 ? 3 : 1);
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), EBADMSG);
	fb.b[fb.len - 2] = 'c'; /* the same without it */
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), 0);
	assert_string_equal(d.dkey, "acb");
	msgrec_reset(&d);
	/* future and unknown versions */
	assert_int_equal(msgrec_encode(&fb, &r), 0);
	for (int v = 3; v < 256; v++) {
		fb.b[0] = (uint8_t)v;
		assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL),
				 EBADMSG);
	}
	fb.b[0] = 0;
	assert_int_equal(msgrec_decode(&d, fb.b, fb.len, NULL), EBADMSG);
	/* a version byte alone, of any version */
	for (int ver = 0; ver < 256; ver++) {
		uint8_t *c = copy((uint8_t[]){(uint8_t)ver}, 1);
		assert_int_equal(msgrec_decode(&d, c, 1, NULL), EBADMSG);
		free(c);
	}
	msgrec_reset(&r);
	fbuf_reset(&fb);
}


/* ---- calls ---- */

#define CALL_STRS(X)                                                           \
	X(owner)                                                               \
	X(ufull)                                                               \
	X(gwjid)                                                               \
	X(sid)                                                                 \
	X(initiator)                                                           \
	X(responder)                                                           \
	X(rung)                                                                \
	X(init_xml)                                                            \
	X(callid)                                                              \
	X(ltag)                                                                \
	X(rtag)                                                                \
	X(luri)                                                                \
	X(ruri)                                                                \
	X(target)                                                              \
	X(routes)                                                              \
	X(inv_ruri)                                                            \
	X(inv_branch)                                                          \
	X(inv_src)                                                             \
	X(inv_raw)                                                             \
	X(lsdp)                                                                \
	X(rsdp)                                                                \
	X(history)                                                             \
	X(pend_frag)                                                           \
	X(hop)                                                                 \
	X(xfer_callid)                                                         \
	X(xfer_ltag)                                                           \
	X(xfer_ruri)                                                           \
	X(xfer_branch)                                                         \
	X(xfer_sdp)                                                            \
	X(xfer_by)                                                             \
	X(reinv_prev)                                                          \
	X(reinv_sdp)
#define CALL_U32(X)                                                            \
	X(dir)                                                                 \
	X(state)                                                               \
	X(lcseq)                                                               \
	X(rcseq)                                                               \
	X(inv_cseq)                                                            \
	X(last_scode)                                                          \
	X(sdp_ver)                                                             \
	X(on_hold)                                                             \
	X(jmi)                                                                 \
	X(authed)                                                              \
	X(early)                                                               \
	X(xfer)                                                                \
	X(xfer_refer)                                                          \
	X(xfer_cseq)                                                           \
	X(srtp)                                                                \
	X(rseq)                                                                \
	X(xfer_nosub)                                                          \
	X(reinv_session)                                                       \
	X(reinv_tries)                                                         \
	X(local_hold)                                                          \
	X(xfer_moved)
#define CALL_U64(X)                                                            \
	X(created)                                                             \
	X(updated)                                                             \
	X(deadline)                                                            \
	X(inv_out)                                                             \
	X(inv_tx)                                                              \
	X(sdp_id)                                                              \
	X(reg)                                                                 \
	X(xfer_out)                                                            \
	X(xfer_until)                                                          \
	X(reinv_out)                                                           \
	X(reinv_retry_at)


/* Every field set, each to its own value. */
static void call_fill(struct callrec *r, enum call_dir dir, enum call_state st)
{
	uint32_t n = 1;

	memset(r, 0, sizeof(*r));
#define SET(f) assert_int_equal(re_sdprintf(&r->f, "%s\n" SNOW, #f), 0);
	CALL_STRS(SET)
#undef SET
#define SET32(f) r->f = 0x01000000u * n++ + 7;
	CALL_U32(SET32)
#undef SET32
#define SET64(f) r->f = 0x0100000000000000ULL * n++ + 0x1234567890ULL;
	CALL_U64(SET64)
#undef SET64
	r->dir = dir;
	r->state = st;
	r->xfer = CX_PENDING;
}


/* d is r with the state st. */
static void call_check(const struct callrec *d, const struct callrec *r,
		       enum call_state st)
{
	struct callrec w = *r; /* shares r's strings: only read */

	w.state = st;
#define CHK(f)                                                                 \
	assert_non_null(d->f);                                                 \
	assert_string_equal(d->f, w.f ? w.f : "");
	CALL_STRS(CHK)
#undef CHK
#define CHK(f) assert_true(d->f == w.f);
	CALL_U32(CHK)
	CALL_U64(CHK)
#undef CHK
}


static size_t call_len(const struct callrec *r)
{
	size_t n = 1;
#define S(f)   n += 5 + (r->f ? strlen(r->f) : 0);
#define U32(f) n += 5;
#define U64(f) n += 9;
	CALL_STRS(S)
	CALL_U32(U32)
	CALL_U64(U64)
#undef S
#undef U32
#undef U64
	return n;
}


static void test_callrec_v8(void **state)
{
	struct callrec r, d;
	struct fbuf fb = {0};

	for (int st = CS_CALLING; st < CS_STATE_MAX; st++) {
		call_fill(&r, st % 2 ? CD_X2S : CD_S2X, st);
		assert_int_equal(callrec_encode(&fb, &r), 0);
		assert_int_equal(fb.b[0], CALLREC_VERSION);
		assert_int_equal(CALLREC_VERSION, 12);
		/* every field of the table is one the test knows */
		assert_int_equal(fb.len, call_len(&r));
		memset(&d, 0, sizeof(d));
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		call_check(&d, &r, st);
		assert_non_null(callrec_state_name[st]);
		callrec_reset(&d);
		callrec_reset(&r);
	}
	assert_string_equal(callrec_state_name[CS_WAITING], "waiting");
	assert_string_equal(callrec_state_name[CS_PROPOSED], "proposed");

	/* unset strings come back empty */
	memset(&r, 0, sizeof(r));
	r.dir = CD_X2S;
	r.state = CS_CALLING;
	assert_int_equal(callrec_encode(&fb, &r), 0);
	assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
	call_check(&d, &r, CS_CALLING);
	callrec_reset(&d);
	fbuf_reset(&fb);
}


static void test_callrec_bad(void **state)
{
	static const struct callrec zero;
	struct callrec r, d;
	struct fbuf fb = {0};

	call_fill(&r, CD_S2X, CS_ACTIVE);
	assert_int_equal(callrec_encode(&fb, &r), 0);
	/* every truncation: refused, r left empty */
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		memset(&d, 0, sizeof(d));
		assert_int_equal(callrec_decode(&d, c, n), EBADMSG);
		assert_memory_equal(&d, &zero, sizeof(d));
		free(c);
	}
	/* a byte more */
	frame_put_raw(&fb, "", 1);
	assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
	assert_memory_equal(&d, &zero, sizeof(d));
	fb.len--;
	/* versions: 8 is read; 5 to 7 (read elsewhere) end before the
	 * fields of 8, which are leftover bytes to them; others refused */
	for (int v = 0; v < 256; v++) {
		fb.b[0] = (uint8_t)v;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len),
				 v == CALLREC_VERSION ? 0 : EBADMSG);
		callrec_reset(&d);
	}
	callrec_reset(&r);

	/* a version byte alone, of any version */
	for (int ver = 0; ver < 256; ver++) {
		uint8_t *c = copy((uint8_t[]){(uint8_t)ver}, 1);
		assert_int_equal(callrec_decode(&d, c, 1), EBADMSG);
		free(c);
	}

	/* a transfer phase out of range */
	call_fill(&r, CD_X2S, CS_ACTIVE);
	r.xfer = CX_ORPHANED + 1;
	assert_int_equal(callrec_encode(&fb, &r), 0);
	assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
	assert_memory_equal(&d, &zero, sizeof(d));
	callrec_reset(&r);

	/* a state out of range */
	for (uint32_t st = CS_STATE_MAX; st < CS_STATE_MAX + 2; st++) {
		call_fill(&r, CD_S2X, CS_ACTIVE);
		r.state = st;
		assert_int_equal(callrec_encode(&fb, &r), 0);
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		assert_memory_equal(&d, &zero, sizeof(d));
		callrec_reset(&r);
	}
	fbuf_reset(&fb);
}


static void set_str(char **s, const char *v)
{
	*s = mem_deref(*s);
	if (v)
		assert_int_equal(str_dup(s, v), 0);
}


/* Version 8's fields as a record of an older version has them: zero,
 * its strings empty (r) or NULL (d, decoded). */
#define V8_LEN (4 * 5 + 2 * 9 + 5 * 5)
static void v8_clear(struct callrec *r)
{
	r->early = r->xfer = r->xfer_refer = r->xfer_cseq = 0;
	r->xfer_out = r->xfer_until = 0;
	set_str(&r->xfer_callid, NULL);
	set_str(&r->xfer_ltag, NULL);
	set_str(&r->xfer_ruri, NULL);
	set_str(&r->xfer_branch, NULL);
	set_str(&r->xfer_sdp, NULL);
}


static void v8_empty(struct callrec *d)
{
	assert_null(d->xfer_callid);
	assert_null(d->xfer_ltag);
	assert_null(d->xfer_ruri);
	assert_null(d->xfer_branch);
	assert_null(d->xfer_sdp);
	assert_null(d->xfer_by);    /* version 9's */
	assert_null(d->reinv_prev); /* version 10's */
	assert_null(d->reinv_sdp);  /* version 11's */
	set_str(&d->xfer_callid, "");
	set_str(&d->xfer_ltag, "");
	set_str(&d->xfer_ruri, "");
	set_str(&d->xfer_branch, "");
	set_str(&d->xfer_sdp, "");
	set_str(&d->xfer_by, "");
	set_str(&d->reinv_prev, "");
	set_str(&d->reinv_sdp, "");
}


static void test_callrec_v5(void **state)
{
	static const struct {
		uint32_t dir, state;
		uint64_t inv_out;
		const char *init_xml;
		uint32_t jmi;
		const char *rung;
		uint32_t want;
	} v[] = {
		/* X2S calling, no INVITE out, a held session-initiate */
		{CD_X2S, CS_CALLING, 0, "<jingle/>", 0, "x", CS_WAITING},
		{CD_X2S, CS_CALLING, 0, "<jingle/>", 1, "", CS_WAITING},
		{CD_X2S, CS_CALLING, 9, "<jingle/>", 0, "", CS_CALLING},
		{CD_X2S, CS_CALLING, 0, "", 0, "", CS_CALLING},
		{CD_X2S, CS_CALLING, 0, NULL, 0, "", CS_CALLING},
		{CD_X2S, CS_RINGING, 0, "<jingle/>", 0, "", CS_RINGING},
		{CD_X2S, CS_ACTIVE, 0, "<jingle/>", 0, "", CS_ACTIVE},
		{CD_S2X, CS_CALLING, 0, "<jingle/>", 0, "", CS_CALLING},
		/* S2X ringing by a propose, nobody rung yet */
		{CD_S2X, CS_RINGING, 0, "<jingle/>", 1, "", CS_PROPOSED},
		{CD_S2X, CS_RINGING, 7, "", 1, NULL, CS_PROPOSED},
		{CD_S2X, CS_RINGING, 0, "", 1, "a@b/c\n", CS_RINGING},
		{CD_S2X, CS_RINGING, 0, "", 0, "", CS_RINGING},
		{CD_S2X, CS_ACTIVE, 0, "", 1, "", CS_ACTIVE},
		{CD_S2X, CS_CANCELLING, 0, "", 1, "", CS_CANCELLING},
		{CD_X2S, CS_RINGING, 0, "", 1, "", CS_RINGING},
	};
	struct callrec r, d;
	struct fbuf fb = {0};

	for (size_t i = 0; i < NELEM(v); i++) {
		call_fill(&r, v[i].dir, v[i].state);
		r.inv_out = v[i].inv_out;
		r.jmi = v[i].jmi;
		set_str(&r.init_xml, v[i].init_xml);
		set_str(&r.rung, v[i].rung);
		/* versions 5 and 6 end before version 7's fields, 7
		 * before version 8's */
		/* version 12's, 11's, 10's and 9's fields */
		r.local_hold = r.xfer_moved = 0;
		set_str(&r.reinv_sdp, NULL);
		r.reinv_session = 0;
		r.reinv_retry_at = 0;
		r.reinv_tries = 0;
		r.reinv_out = 0;
		set_str(&r.reinv_prev, NULL);
		r.srtp = r.rseq = r.xfer_nosub = 0;
		set_str(&r.xfer_by, NULL);
		v8_clear(&r);
		r.reg = 0;
		r.hop = mem_deref(r.hop);
		r.authed = 0;
		assert_int_equal(callrec_encode(&fb, &r), 0);
		fb.len -= 5 + 5; /* local_hold, xfer_moved */
		fb.len -=
			5 + 5 + 9 + 5; /* reinv_sdp "", _session, _at, _tries */
		fb.len -= 9 + 5;       /* reinv_out, reinv_prev "" */
		fb.len -= 4 * 5;       /* srtp, rseq, xfer_nosub, xfer_by "" */
		fb.len -= V8_LEN;
		fb.len -= 9 + 5 + 5; /* reg, hop (empty), authed */

		/* as version 5: upgraded, every other field as it was */
		fb.b[0] = 5;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_int_equal(d.state, v[i].want);
		assert_null(d.hop);
		set_str(&d.hop, "");
		v8_empty(&d);
		call_check(&d, &r, v[i].want);
		callrec_reset(&d);

		/* as version 6: the state is what it says */
		fb.b[0] = 6;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_int_equal(d.state, v[i].state);
		assert_null(d.hop);
		set_str(&d.hop, "");
		v8_empty(&d);
		call_check(&d, &r, v[i].state);
		callrec_reset(&d);

		/* a version 6 record with version 7's fields: leftover */
		fb.len += 9 + 5 + 5;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		callrec_reset(&d);

		/* as version 7: version 8's fields are zero */
		fb.b[0] = 7;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_int_equal(d.state, v[i].state);
		assert_null(d.xfer_sdp);
		v8_empty(&d);
		call_check(&d, &r, v[i].state);
		callrec_reset(&d);

		/* a version 7 record with version 8's fields: leftover */
		fb.len += V8_LEN;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		callrec_reset(&d);

		/* as version 8: srtp is 0 (as the session says) */
		fb.b[0] = 8;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_int_equal(d.srtp, 0);
		assert_int_equal(d.rseq, 0);
		assert_null(d.xfer_by);
		set_str(&d.xfer_by, "");
		assert_null(d.reinv_prev);
		set_str(&d.reinv_prev, "");
		assert_null(d.reinv_sdp);
		set_str(&d.reinv_sdp, "");
		call_check(&d, &r, v[i].state);
		callrec_reset(&d);

		/* a version 8 record with version 9's fields: leftover */
		fb.len += 4 * 5;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		callrec_reset(&d);

		/* as version 9: no re-INVITE of ours in progress */
		fb.b[0] = 9;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_true(d.reinv_out == 0);
		assert_null(d.reinv_prev);
		set_str(&d.reinv_prev, "");
		assert_null(d.reinv_sdp);
		set_str(&d.reinv_sdp, "");
		call_check(&d, &r, v[i].state);
		callrec_reset(&d);

		/* a version 9 record with version 10's fields: leftover */
		fb.len += 9 + 5;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		callrec_reset(&d);

		/* as version 10: no re-INVITE of ours waits to go again */
		fb.b[0] = 10;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_null(d.reinv_sdp);
		assert_int_equal(d.reinv_session, 0);
		assert_true(d.reinv_retry_at == 0);
		assert_int_equal(d.reinv_tries, 0);
		set_str(&d.reinv_sdp, "");
		call_check(&d, &r, v[i].state);
		callrec_reset(&d);

		/* a version 10 record with version 11's fields: leftover */
		fb.len += 5 + 5 + 9 + 5;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		callrec_reset(&d);

		/* as version 11: the user holds nothing */
		fb.b[0] = 11;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), 0);
		assert_int_equal(d.local_hold, 0);
		assert_int_equal(d.xfer_moved, 0);
		call_check(&d, &r, v[i].state);
		callrec_reset(&d);

		/* a version 11 record with version 12's fields: leftover */
		fb.len += 5 + 5;
		assert_int_equal(callrec_decode(&d, fb.b, fb.len), EBADMSG);
		callrec_reset(&r);
	}
	fbuf_reset(&fb);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_id),
		cmocka_unit_test(test_key_callkey),
		cmocka_unit_test(test_key_callkey_refused),
		cmocka_unit_test(test_key_msgdedup),
		cmocka_unit_test(test_key_presence),
		cmocka_unit_test(test_key_deadline),
		cmocka_unit_test(test_key_outbox),
		cmocka_unit_test(test_key_rx),
		cmocka_unit_test(test_outrec),
		cmocka_unit_test(test_outrec_bad),
		cmocka_unit_test(test_presrec),
		cmocka_unit_test(test_presrec_raw),
		cmocka_unit_test(test_rxrec),
		cmocka_unit_test(test_msgrec_v2),
		cmocka_unit_test(test_msgrec_v1),
		cmocka_unit_test(test_msgrec_bad),
		cmocka_unit_test(test_callrec_v8),
		cmocka_unit_test(test_callrec_bad),
		cmocka_unit_test(test_callrec_v5),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
