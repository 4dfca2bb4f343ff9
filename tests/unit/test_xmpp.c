/**
 * @file test_xmpp.c  The xmpp-front's stream mechanics without a server:
 *                    the kernel's counts of a TCP socket shared by two
 *                    descriptors (xsock), the custody journal (xjournal):
 *                    what a successor finds after its predecessor died at
 *                    each step, and the refusals (xmpp_link_refusal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "xjournal.h"
#include "xmpp_front.h"
#include "xsock.h"

/* A connected loopback TCP pair: *c the client (the front), *s the server. */
static void tcp_pair(int *c, int *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*c, (struct sockaddr *)&a, sizeof(a)), 0);
	*s = accept(l, NULL, NULL);
	assert_true(*s >= 0);
	close(l);
}


static void settle(void)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
}


/* The read side of a takeover: a successor (another descriptor of the
 * same socket) finds the consumed position its predecessor left, and peeks
 * from there, whatever the predecessor had peeked. */
static void test_xsock_consumed_is_shared_by_every_descriptor(void **state)
{
	int c, s, d;
	uint64_t off, base;
	char buf[64];
	ssize_t n;

	tcp_pair(&c, &s);
	assert_int_equal(xsock_consumed(c, &base), 0);
	assert_int_equal(write(s, "<a/><b/>", 8), 8);
	settle();
	(void)xsock_peek_reset(c);
	n = xsock_peek(c, true, 0, buf, sizeof(buf));
	assert_int_equal(n, 8);
	/* peeking consumed nothing */
	assert_int_equal(xsock_consumed(c, &off), 0);
	assert_true(off == base);
	assert_int_equal(xsock_consume(c, 4), 0);
	assert_int_equal(xsock_consumed(c, &off), 0);
	assert_true(off == base + 4);
	/* the successor: same position, peeks "<b/>" again */
	d = dup(c);
	close(c);
	assert_int_equal(xsock_consumed(d, &off), 0);
	assert_true(off == base + 4);
	if (xsock_peek_reset(d))
		n = xsock_peek(d, true, 0, buf, sizeof(buf));
	else
		n = xsock_peek(d, false, 0, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "<b/>", 4);
	/* without a kernel peek offset: skip what was peeked already */
	assert_int_equal(write(s, "<c/>", 4), 4);
	settle();
	n = xsock_peek(d, false, 4, buf, sizeof(buf));
	if (n == 4) /* kernels with SO_PEEK_OFF start after "<b/>" anyway */
		assert_memory_equal(buf, "<c/>", 4);
	close(d);
	close(s);
}


/* The write side: the kernel's count of bytes written is the same through
 * every descriptor and counts what one send() took, even unsent. */
static void test_xsock_written_counts_what_the_kernel_took(void **state)
{
	int c, s, d;
	uint64_t w0, w1;
	size_t room;
	bool empty;

	tcp_pair(&c, &s);
	assert_int_equal(xsock_written(c, &w0), 0);
	assert_int_equal(xsock_room(c, &room, &empty), 0);
	assert_true(empty);
	assert_true(room > 1000);
	assert_int_equal(write(c, "<message/>", 10), 10);
	d = dup(c);
	close(c);
	assert_int_equal(xsock_written(d, &w1), 0);
	assert_true(w1 == w0 + 10);
	settle();
	assert_int_equal(xsock_written(d, &w1), 0);
	assert_true(w1 == w0 + 10);
	assert_true(xsock_alive(d));
	{
		char b[16];
		assert_int_equal(read(s, b, sizeof(b)), 10);
	}
	close(s);
	settle();
	assert_true(xsock_alive(d)); /* closed by the peer: bytes may remain */
	close(d);
}


/* A successor reading the journal after its predecessor died at each step
 * of writing a stanza. */
static void test_xjournal_tells_written_torn_and_unwritten(void **state)
{
	struct xjournal *j, *k;
	static uint64_t ids[XJ_RING];
	struct xj_found f;
	struct xj_ent e;
	const char *bytes, *hdr;
	size_t hl;
	int fd;

	assert_int_equal(xjournal_create(&j, 0x1234), 0);
	assert_false(xjournal_last(j, &e, &bytes));
	assert_int_equal(xjournal_state(j), XJ_HANDSHAKE);
	assert_int_equal(xjournal_set_header(j, "<stream:stream>", 15), 0);
	xjournal_set_state(j, XJ_OPEN);
	assert_int_equal(xjournal_begin(j, 7, 100, "<message/>", 10), 0);
	assert_int_equal(xjournal_begin(j, 8, 110, "<iq/>", 5), 0);

	/* the successor maps the same memfd */
	fd = dup(xjournal_fd(j));
	assert_int_equal(xjournal_open(&k, fd), 0);
	assert_true(xjournal_stream(k) == 0x1234);
	assert_int_equal(xjournal_state(k), XJ_OPEN);
	hdr = xjournal_header(k, &hl);
	assert_int_equal(hl, 15);
	assert_memory_equal(hdr, "<stream:stream>", 15);
	assert_true(xjournal_last(k, &e, &bytes));
	assert_true(e.id == 8 && e.start == 110 && e.len == 5);
	assert_non_null(bytes);
	assert_memory_equal(bytes, "<iq/>", 5);
	assert_int_equal(xjournal_recover(k, 115, ids, &f), 0);
	assert_int_equal(f.nids, 2);
	assert_true(ids[0] == 7 && ids[1] == 8);
	/* only the newest entry keeps its bytes */
	assert_int_equal(xjournal_begin(j, 9, 115, "<a/>", 4), 0);
	assert_true(xjournal_last(k, &e, &bytes));
	assert_true(e.id == 9);
	assert_memory_equal(bytes, "<a/>", 4);
	xjournal_close(k);

	/* not a journal */
	fd = memfd_create("x", 0);
	assert_true(fd >= 0);
	assert_int_equal(xjournal_open(&k, fd), EINVAL);
	close(fd);
	xjournal_close(j);
}


/* A successor compares the journal with the kernel's count of bytes
 * written: killed before, during and after the write of the last stanza. */
static void test_xjournal_recover_written_torn_unwritten(void **state)
{
	static uint64_t ids[XJ_RING];
	struct xjournal *j;
	struct xj_found f;

	assert_int_equal(xjournal_create(&j, 1), 0);
	/* 5 <a/> [100,104) 9 <message/> [104,114) 0 (own) [114,118)
	 * 7 <iq/> [118,123) */
	assert_int_equal(xjournal_begin(j, 5, 100, "<a/>", 4), 0);
	assert_int_equal(xjournal_begin(j, 9, 104, "<message/>", 10), 0);
	assert_int_equal(xjournal_begin(j, 0, 114, "<b/>", 4), 0);
	assert_int_equal(xjournal_begin(j, 7, 118, "<iq/>", 5), 0);

	/* killed after the write: all written, nothing torn */
	assert_int_equal(xjournal_recover(j, 123, ids, &f), 0);
	assert_int_equal(f.nids, 3);
	assert_true(ids[0] == 5 && ids[1] == 7 && ids[2] == 9);
	assert_int_equal(f.torn.len, 0);
	assert_null(f.bytes);
	/* killed in the middle: 7 is torn after 2 bytes, the rest is "q/>" */
	assert_int_equal(xjournal_recover(j, 120, ids, &f), 0);
	assert_int_equal(f.nids, 2);
	assert_true(f.torn.id == 7 && f.torn.len == 5 && f.done == 2);
	assert_non_null(f.bytes);
	assert_memory_equal(f.bytes + f.done, "q/>", 3);
	/* killed before it: 7 is not written (and not torn), and forgotten */
	assert_int_equal(xjournal_recover(j, 118, ids, &f), 0);
	assert_int_equal(f.nids, 2);
	assert_true(ids[0] == 5 && ids[1] == 9);
	assert_int_equal(f.torn.len, 0);
	/* the successor writes another stanza where 7 was and dies too: 7
	 * must not count as written for the next one */
	assert_int_equal(xjournal_begin(j, 8, 118, "<x/>", 4), 0);
	assert_int_equal(xjournal_recover(j, 122, ids, &f), 0);
	assert_int_equal(f.nids, 3);
	assert_true(ids[0] == 5 && ids[1] == 8 && ids[2] == 9);
	xjournal_close(j);

	/* a torn stanza whose bytes could not be kept: cannot continue */
	{
		char *big = calloc(1, XJ_CUR_MAX + 1);
		assert_non_null(big);
		assert_int_equal(xjournal_create(&j, 2), 0);
		assert_int_equal(xjournal_begin(j, 3, 10, big, XJ_CUR_MAX + 1),
				 EMSGSIZE);
		assert_int_equal(xjournal_recover(j, 11, ids, &f), EMSGSIZE);
		assert_int_equal(
			xjournal_recover(j, 10 + XJ_CUR_MAX + 1, ids, &f), 0);
		assert_int_equal(f.nids, 1);
		assert_int_equal(xjournal_recover(j, 10, ids, &f), 0);
		assert_int_equal(f.nids, 0);
		xjournal_close(j);
		free(big);
	}
}


/* Past the ring, the oldest entries go; a stanza too large is recorded
 * without its bytes (a successor cannot complete it). */
static void test_xjournal_ring_and_oversize(void **state)
{
	struct xjournal *j;
	static uint64_t ids[XJ_RING];
	struct xj_found f;
	struct xj_ent e;
	const char *bytes;
	char *big = calloc(1, XJ_CUR_MAX + 1);

	assert_non_null(big);
	assert_int_equal(xjournal_create(&j, 1), 0);
	for (uint64_t i = 1; i <= XJ_RING + 10; i++)
		assert_int_equal(xjournal_begin(j, i, i * 10, "<a/>", 4), 0);
	/* the oldest slot is not read (a writer may have died inside it) */
	assert_int_equal(xjournal_recover(j, (XJ_RING + 11) * 10, ids, &f), 0);
	assert_int_equal(f.nids, XJ_RING - 1);
	assert_true(ids[0] == 12);
	assert_true(ids[XJ_RING - 2] == XJ_RING + 10);
	assert_int_equal(xjournal_begin(j, 99, 1, big, XJ_CUR_MAX + 1),
			 EMSGSIZE);
	assert_true(xjournal_last(j, &e, &bytes));
	assert_true(e.id == 99);
	assert_null(bytes);
	xjournal_close(j);
	free(big);
}


/* A writer that records the front's own stanzas (refusals) while the
 * report of an outbox stanza waits for its acknowledgement: as long as it
 * asks xjournal_keeps first, a successor still names that stanza; one
 * entry more and the successor would not (the translator would have it
 * written twice). */
static void test_xjournal_keeps_an_unacknowledged_stanza_named(void **state)
{
	static uint64_t ids[XJ_RING];
	struct xjournal *j;
	struct xj_found f;
	uint64_t mark, pos = 100, own = 0;

	assert_int_equal(xjournal_create(&j, 1), 0);
	assert_true(xjournal_count(j) == 0);
	assert_true(xjournal_keeps(j, 0)); /* no stanza: nothing to keep */
	assert_int_equal(xjournal_begin(j, 0, 0, "<b/>", 4), 0);
	assert_int_equal(xjournal_begin(j, 42, 4, "<message/>", 10), 0);
	mark = xjournal_count(j);
	assert_true(mark == 2);
	pos = 14;
	while (xjournal_keeps(j, mark)) {
		assert_int_equal(xjournal_begin(j, 0, pos, "<b/>", 4), 0);
		pos += 4;
		own++;
	}
	/* XJ_RING - 1 named, 42 the oldest of them */
	assert_true(own == XJ_RING - 2);
	assert_int_equal(xjournal_recover(j, pos, ids, &f), 0);
	assert_int_equal(f.nids, 1);
	assert_true(ids[0] == 42);
	/* a mark ahead of the journal (of another stream) holds nothing */
	assert_true(xjournal_keeps(j, xjournal_count(j) + 1));
	/* the one it refused: 42 would be forgotten */
	assert_int_equal(xjournal_begin(j, 0, pos, "<b/>", 4), 0);
	assert_int_equal(xjournal_recover(j, pos + 4, ids, &f), 0);
	assert_int_equal(f.nids, 0);
	xjournal_close(j);
}


static void test_refusal_answers_only_what_expects_an_answer(void **state)
{
	static const struct {
		const char *in;
		bool answered;
	} cases[] = {
		{"<message from='a@x/r' to='b@sip.x' id='m1' type='chat'/>",
		 true},
		{"<message from='a@x/r' to='b@sip.x'/>", true},
		{"<message from='a@x/r' to='b@sip.x' type='error'/>", false},
		{"<iq from='a@x/r' to='sip.x' id='i1' type='get'/>", true},
		{"<iq from='a@x/r' to='sip.x' id='i2' type='set'/>", true},
		{"<iq from='a@x/r' to='sip.x' id='i3' type='result'/>", false},
		{"<iq from='a@x/r' to='sip.x' id='i4' type='error'/>", false},
		{"<presence from='a@x/r' to='b@sip.x'/>", false},
		{"<presence from='a@x/r' to='b@sip.x' type='unavailable'/>",
		 false},
		{"<presence from='a@x' to='b@sip.x' type='subscribe'/>", true},
		{"<presence from='a@x' to='b@sip.x' type='probe'/>", true},
		{"<presence from='a@x' to='b@sip.x' type='error'/>", false},
		{"<handshake/>", false},
	};
	xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		xmpp_stanza_t *st =
			xmpp_stanza_new_from_string(ctx, cases[i].in);
		xmpp_stanza_t *r, *e, *c;

		assert_non_null(st);
		r = xmpp_link_refusal(ctx, st, "policy-violation", "too big");
		if (!cases[i].answered) {
			if (r)
				fail_msg("answered %s", cases[i].in);
			xmpp_stanza_release(st);
			continue;
		}
		if (!r)
			fail_msg("not answered: %s", cases[i].in);
		assert_string_equal(xmpp_stanza_get_name(r),
				    xmpp_stanza_get_name(st));
		assert_string_equal(xmpp_stanza_get_type(r), "error");
		assert_string_equal(xmpp_stanza_get_to(r),
				    xmpp_stanza_get_from(st));
		assert_string_equal(xmpp_stanza_get_from(r),
				    xmpp_stanza_get_to(st));
		if (xmpp_stanza_get_id(st))
			assert_string_equal(xmpp_stanza_get_id(r),
					    xmpp_stanza_get_id(st));
		e = xmpp_stanza_get_child_by_name(r, "error");
		assert_non_null(e);
		c = xmpp_stanza_get_child_by_name(e, "policy-violation");
		assert_non_null(c);
		assert_string_equal(xmpp_stanza_get_ns(c),
				    "urn:ietf:params:xml:ns:xmpp-stanzas");
		c = xmpp_stanza_get_child_by_name(e, "text");
		assert_non_null(c);
		xmpp_stanza_release(r);
		xmpp_stanza_release(st);
	}
	xmpp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_xsock_consumed_is_shared_by_every_descriptor),
		cmocka_unit_test(
			test_xsock_written_counts_what_the_kernel_took),
		cmocka_unit_test(
			test_xjournal_tells_written_torn_and_unwritten),
		cmocka_unit_test(test_xjournal_ring_and_oversize),
		cmocka_unit_test(
			test_xjournal_keeps_an_unacknowledged_stanza_named),
		cmocka_unit_test(test_xjournal_recover_written_torn_unwritten),
		cmocka_unit_test(
			test_refusal_answers_only_what_expects_an_answer),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
