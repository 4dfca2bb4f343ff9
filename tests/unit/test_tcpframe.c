/* The sip-front's TCP framer (sf_tcpframe.c): a stream of keep-alives and
 * messages, cut at every split and at random ones, comes out as libre
 * must read it: what fits byte for byte, what does not stopped once with
 * its header section; after a message that cannot be framed, nothing.
 * A whole-stream property is also checked: the output decoded by libre's
 * parser gives exactly the messages that fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include "sip_front.h"

struct drops {
	int n;
	enum sf_tcp_drop why[8];
	char head[8][256]; /* the first bytes of each */
	size_t hlen[8];
};


static void drop_handler(enum sf_tcp_drop why, const struct pl *head, void *arg)
{
	struct drops *d = arg;

	assert_true(d->n < 8);
	d->why[d->n] = why;
	d->hlen[d->n] = head->l;
	memcpy(d->head[d->n], head->p, head->l < 255 ? head->l : 255);
	d->n++;
}


static char *msg(const char *callid, size_t body, bool clen)
{
	char *m = malloc(body + 512);
	int n = sprintf(m,
			"MESSAGE sip:a@x SIP/2.0\r\n"
			"Via: SIP/2.0/TCP 127.0.0.1:5072;branch=z9hG4bK%s\r\n"
			"From: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\n"
			"Call-ID: %s\r\nCSeq: 1 MESSAGE\r\n",
			callid, callid);

	if (clen)
		n += sprintf(m + n, "Content-Length: %zu\r\n", body);
	n += sprintf(m + n, "\r\n");
	memset(m + n, 'b', body);
	m[n + body] = '\0';
	return m;
}


/* Feed s in pieces of the given sizes (cycled); returns what came out. */
static struct mbuf *feed(const char *s, size_t len, const size_t *pieces,
			 size_t npieces, struct drops *d)
{
	struct sf_tcpframe f;
	struct mbuf *out = mbuf_alloc(1024);
	size_t off = 0, i = 0;

	sf_tcpframe_init(&f, drop_handler, d);
	while (off < len) {
		size_t k = pieces[i++ % npieces];
		struct mbuf *in = mbuf_alloc(8192);

		if (k > len - off)
			k = len - off;
		mbuf_write_mem(in, (const uint8_t *)s + off, k);
		in->pos = 0;
		assert_int_equal(sf_tcpframe_feed(&f, in, out), 0);
		assert_int_equal(mbuf_get_left(in), 0);
		/* libre's buffer stays within 64 KiB */
		assert_true(!f.hold || f.hold->end <= SF_TCP_MSG_MAX + 8192);
		mem_deref(in);
		off += k;
	}
	sf_tcpframe_reset(&f);
	return out;
}


static void test_fits_and_too_large(void **state)
{
	char *a = msg("a1", 10, true), *big = msg("big", 100000, true),
	     *c = msg("c3", 0, true), *e3 = msg("over", SF_TCP_MSG_MAX, true);
	const size_t cuts[] = {1, 2, 3, 7, 13, 100, 1460, 8192};
	char *s, *want;

	s = malloc(400000);
	want = malloc(400000);
	sprintf(s, "\r\n\r\n%s%s\r\n%s%s", a, big, c, e3);
	sprintf(want, "\r\n\r\n%s\r\n%s", a, c);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct drops d = {0};
		struct mbuf *out = feed(s, strlen(s), &cuts[i], 1, &d);

		assert_int_equal(out->end, strlen(want));
		assert_memory_equal(out->buf, want, out->end);
		assert_int_equal(d.n, 2);
		assert_int_equal(d.why[0], SF_TCP_TOO_LARGE);
		assert_int_equal(d.why[1], SF_TCP_TOO_LARGE);
		assert_true(strstr(d.head[0], "Call-ID: big") != NULL);
		assert_true(strstr(d.head[1], "Call-ID: over") != NULL);
		assert_int_equal(d.hlen[0], strstr(big, "\r\n\r\n") + 4 - big);
		mem_deref(out);
	}
	for (int seed = 1; seed <= 200; seed++) {
		size_t pieces[16];
		struct drops d = {0};
		struct mbuf *out;

		srand((unsigned)seed);
		for (size_t j = 0; j < 16; j++)
			pieces[j] = 1 + (size_t)rand() % (seed % 2 ? 40 : 8192);
		out = feed(s, strlen(s), pieces, 16, &d);
		assert_int_equal(out->end, strlen(want));
		assert_memory_equal(out->buf, want, out->end);
		assert_int_equal(d.n, 2);
		mem_deref(out);
	}
	free(a), free(big), free(c), free(e3);
	free(s), free(want);
}


/* SF_TCP_MSG_MAX is a message's whole size: header section and body. */
static void test_limit_exact(void **state)
{
	char *m0 = msg("lim", 0, true);
	size_t head = strlen(m0) + 4; /* "0" becomes 5 digits */
	char *at = msg("lim", SF_TCP_MSG_MAX - head, true);
	char *over = msg("lim", SF_TCP_MSG_MAX - head + 1, true);
	const size_t piece = 8192;
	struct drops d = {0};
	struct mbuf *out;

	assert_int_equal(strlen(at), SF_TCP_MSG_MAX);
	out = feed(at, strlen(at), &piece, 1, &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(out->end, strlen(at));
	mem_deref(out);
	out = feed(over, strlen(over), &piece, 1, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.why[0], SF_TCP_TOO_LARGE);
	assert_int_equal(out->end, 0);
	mem_deref(out);
	free(m0), free(at), free(over);
}


/* Nothing passes after a message the stream cannot be framed past. */
static void test_unframeable(void **state)
{
	char *a = msg("a1", 5, true), *nolen = msg("nl", 0, false);
	char *after = msg("after", 3, true);
	char *hugehead = malloc(SF_TCP_MSG_MAX + 10000);
	const char *bad = "MESSAGE sip:a@x SIP/2.0\r\n: no name\r\n"
			  "Content-Length: 0\r\n\r\n";
	const char *badline = "MESSAGE  sip:a@x  SIP/2.0\r\nVia: SIP/2.0/TCP "
			      "h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
	const struct {
		const char *m;
		enum sf_tcp_drop why;
	} cases[] = {{nolen, SF_TCP_NO_LENGTH},
		     {bad, SF_TCP_BAD},
		     {badline, SF_TCP_BAD},
		     {hugehead, SF_TCP_HEAD_LARGE}};
	const size_t cuts[] = {1, 5, 999, 8192};

	sprintf(hugehead, "MESSAGE sip:a@x SIP/2.0\r\nX-Pad: ");
	/* over the limit by more than a read before any blank line */
	memset(hugehead + strlen(hugehead), 'p', SF_TCP_MSG_MAX + 9000);
	hugehead[SF_TCP_MSG_MAX + 9030] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(a) + strlen(cases[i].m) + strlen(after);
		char *s = malloc(len + 1);

		sprintf(s, "%s%s%s", a, cases[i].m, after);
		for (size_t j = 0; j < sizeof(cuts) / sizeof(cuts[0]); j++) {
			struct drops d = {0};
			struct mbuf *out = feed(s, len, &cuts[j], 1, &d);

			assert_int_equal(out->end, strlen(a));
			assert_memory_equal(out->buf, a, out->end);
			assert_int_equal(d.n, 1);
			assert_int_equal(d.why[0], cases[i].why);
			mem_deref(out);
		}
		free(s);
	}
	free(a), free(nolen), free(after), free(hugehead);
}


/* What comes out, read the way libre reads it, is the messages that fit:
 * a blank-line variant (LF LF, CR CR LF) ends a header section as for
 * libre, and a CR alone before a split is kept for the next read. */
static void test_libre_reads_it(void **state)
{
	const char *s = "\r\nOPTIONS sip:a@x SIP/2.0\nVia: SIP/2.0/TCP "
			"h;branch=z9hG4bK1\nl: 2\n\r\r\nokOPTIONS sip:b@x "
			"SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\n"
			"Content-Length: 0\r\n\r\n";
	for (size_t cut = 1; cut <= strlen(s); cut++) {
		struct drops d = {0};
		struct mbuf *out = feed(s, strlen(s), &cut, 1, &d);
		struct sip_msg *m = NULL;
		int n = 0;

		assert_int_equal(d.n, 0);
		assert_int_equal(out->end, strlen(s));
		out->pos = 2; /* the keep-alive */
		while (mbuf_get_left(out) && !sip_msg_decode(&m, out)) {
			out->pos += pl_u32(&m->clen);
			n++;
			m = mem_deref(m);
		}
		assert_int_equal(n, 2);
		mem_deref(out);
	}
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fits_and_too_large),
		cmocka_unit_test(test_limit_exact),
		cmocka_unit_test(test_unframeable),
		cmocka_unit_test(test_libre_reads_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
