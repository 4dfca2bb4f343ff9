/**
 * @file test_xstream.c  The xmpp-front's stream parser (xstream.h): the
 *                       stream offset where each stanza ends, for a live
 *                       parser and one primed to resume at a stanza
 *                       boundary, whatever the reads' split; namespaces
 *                       as libstrophe's parser gives them; the limits
 *                       (size, depth) and what is not an XMPP stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "xstream.h"

static xmpp_ctx_t *ctx;

enum { REC_MAX = 32 };

/** What the handlers reported. */
struct rec {
	struct xstream *xs;
	char *hdr; /**< the header's bytes, NUL-terminated */
	size_t hdrlen;
	char id[128];
	unsigned n; /**< stanzas */
	char *xml[REC_MAX];
	char *name[REC_MAX];
	uint64_t end[REC_MAX];
	uint64_t bnd[REC_MAX]; /**< xstream_boundary in the stanza handler */
	int err[REC_MAX];
	xmpp_stanza_t *st[REC_MAX]; /**< clones, if keep */
	bool keep;
	unsigned nend;
	int end_err;
	struct mbuf *log; /**< every report, one line each */
};

#define STREAM_NS "http://etherx.jabber.org/streams"
#define HDR                                                                    \
	"<?xml version='1.0'?><stream:stream xmlns:stream='" STREAM_NS "' "    \
	"xml:lang='en' xmlns='jabber:component:accept' from='gw.localhost' "   \
	"id='7c2ab7e2-9a5e-4c50-a9e2-0f8b1d0b9c11'>"
#define HANDSHAKE "<handshake/>"
#define MESSAGE                                                                \
	"<message from='alice@localhost/res' to='bob@gw.localhost' "           \
	"type='chat' id='m1' xml:lang='fr'><body>h\xc3\xa9llo &amp; "          \
	"&lt;w&gt; \xe2\x98\x83 \xf0\x9f\x98\x80</body><active "               \
	"xmlns='http://jabber.org/protocol/chatstates'/><data "                \
	"xmlns:foo='urn:foo' foo:bar='1' plain='2'>x<![CDATA[<y>]]>z</data>"   \
	"</message>"
#define PRESENCE "<presence from='alice@localhost' to='gw.localhost'/>"
#define IQ                                                                     \
	"<iq type='get' id='q1' from='a@localhost' to='gw.localhost'>"         \
	"<query xmlns='http://jabber.org/protocol/disco#info'><identity "      \
	"xmlns='' category='x'/></query></iq>"
#define STREAM_ERROR                                                           \
	"<stream:error><not-authorized "                                       \
	"xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
#define CLOSE "</stream:stream>"

/* the stanzas of the component stream, what separates them */
static const char *const stanzas[] = {HANDSHAKE, MESSAGE,  PRESENCE,
				      IQ,        PRESENCE, STREAM_ERROR};
static const char *const seps[] = {"", "\n", " \r\n\t", "", "\r\n", "\n"};
enum { NSTANZAS = sizeof(stanzas) / sizeof(stanzas[0]) };


static void header_handler(const char *hdr, size_t len, const char *id,
			   void *arg)
{
	struct rec *r = arg;

	assert_null(r->hdr);
	r->hdr = malloc(len + 1);
	memcpy(r->hdr, hdr, len);
	r->hdr[len] = 0;
	r->hdrlen = len;
	snprintf(r->id, sizeof(r->id), "%s", id);
	mbuf_printf(r->log, "H %zu %s\n", len, id);
}


static void stanza_handler(xmpp_stanza_t *st, uint64_t end, int err, void *arg)
{
	struct rec *r = arg;
	char *buf;
	size_t len;

	assert_int_equal(r->nend, 0);
	assert_int_equal(xmpp_stanza_to_text(st, &buf, &len), XMPP_EOK);
	mbuf_printf(r->log, "S %" PRIu64 " %d %s\n", end, err, buf);
	if (r->n < REC_MAX) {
		r->xml[r->n] = strdup(buf);
		r->name[r->n] = strdup(xmpp_stanza_get_name(st));
		r->end[r->n] = end;
		r->err[r->n] = err;
		r->bnd[r->n] = xstream_boundary(r->xs);
		if (r->keep)
			r->st[r->n] = xmpp_stanza_clone(st);
	}
	r->n++;
	xmpp_free(ctx, buf);
}


static void end_handler(int err, void *arg)
{
	struct rec *r = arg;

	r->nend++;
	r->end_err = err;
	mbuf_printf(r->log, "E %d\n", err);
}


static void rec_init(struct rec *r, size_t max_bytes, unsigned max_depth)
{
	memset(r, 0, sizeof(*r));
	r->log = mbuf_alloc(1024);
	assert_int_equal(xstream_alloc(&r->xs, ctx, max_bytes, max_depth,
				       header_handler, stanza_handler,
				       end_handler, r),
			 0);
}


static void rec_close(struct rec *r)
{
	for (unsigned i = 0; i < r->n && i < REC_MAX; i++) {
		free(r->xml[i]);
		free(r->name[i]);
		if (r->st[i])
			xmpp_stanza_release(r->st[i]);
	}
	free(r->hdr);
	mem_deref(r->log);
	mem_deref(r->xs);
}


/* The log, NUL-terminated. */
static const char *rec_log(struct rec *r)
{
	mbuf_write_u8(r->log, 0);
	r->log->end--;
	return (const char *)r->log->buf;
}


/* Feed s in pieces of step bytes (0: one piece); @return the last
 * xstream_feed result */
static int feed_steps(struct xstream *xs, const char *s, size_t len,
		      size_t step)
{
	int err = 0;

	if (!step)
		step = len ? len : 1;
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		err = xstream_feed(xs, s + i, n);
	}
	return err;
}


static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}


/* Feed s in random pieces of 1 to maxstep bytes. */
static int feed_random(struct xstream *xs, const char *s, size_t len,
		       size_t maxstep)
{
	int err = 0;

	for (size_t i = 0; i < len;) {
		size_t n = 1 + rnd() % maxstep;
		if (n > len - i)
			n = len - i;
		err = xstream_feed(xs, s + i, n);
		i += n;
	}
	return err;
}


/* The component stream: header, stanzas with seps before them, close. */
static char *component_stream(size_t *lenp, uint64_t *ends)
{
	struct mbuf *mb = mbuf_alloc(2048);
	char *s;

	mbuf_printf(mb, "%s", HDR);
	for (unsigned i = 0; i < NSTANZAS; i++) {
		mbuf_printf(mb, "%s%s", seps[i], stanzas[i]);
		ends[i] = mb->end;
	}
	mbuf_printf(mb, "\n%s", CLOSE);
	*lenp = mb->end;
	s = malloc(mb->end + 1);
	memcpy(s, mb->buf, mb->end);
	s[mb->end] = 0;
	mem_deref(mb);
	return s;
}


static void test_component_stream_offsets(void **state)
{
	const uint64_t base = 1000000007;
	uint64_t ends[NSTANZAS];
	size_t len;
	char *s = component_stream(&len, ends);
	struct rec r;

	rec_init(&r, 65536, 64);
	xstream_start(r.xs, base);
	assert_int_equal(xstream_boundary(r.xs), base);
	assert_int_equal(xstream_feed(r.xs, s, len), 0);
	/* the header, raw */
	assert_int_equal(r.hdrlen, strlen(HDR));
	assert_string_equal(r.hdr, HDR);
	assert_string_equal(r.id, "7c2ab7e2-9a5e-4c50-a9e2-0f8b1d0b9c11");
	/* every stanza, ending where its last byte is */
	assert_int_equal(r.n, NSTANZAS);
	for (unsigned i = 0; i < NSTANZAS; i++) {
		assert_int_equal(r.end[i], base + ends[i]);
		assert_int_equal(r.err[i], 0);
		assert_int_equal(r.bnd[i], base + ends[i]);
		assert_int_equal(s[ends[i] - 1], '>');
	}
	assert_string_equal(r.name[0], "handshake");
	assert_string_equal(r.name[1], "message");
	assert_string_equal(r.name[2], "presence");
	assert_string_equal(r.name[3], "iq");
	assert_string_equal(r.name[5], "error");
	/* </stream:stream>: the end, 0 */
	assert_int_equal(r.nend, 1);
	assert_int_equal(r.end_err, 0);
	assert_int_equal(xstream_boundary(r.xs), base + len);
	/* nothing more is parsed or reported */
	assert_int_equal(xstream_feed(r.xs, PRESENCE, strlen(PRESENCE)), 0);
	assert_int_equal(xstream_feed(r.xs, "<<<", 3), 0);
	assert_int_equal(r.n, NSTANZAS);
	assert_int_equal(r.nend, 1);
	rec_close(&r);
	free(s);
}


/* A child of st by name, and its namespace. */
static xmpp_stanza_t *child(xmpp_stanza_t *st, const char *name)
{
	xmpp_stanza_t *c = xmpp_stanza_get_child_by_name(st, name);

	assert_non_null(c);
	return c;
}


static void test_namespaces_as_libstrophe(void **state)
{
	uint64_t ends[NSTANZAS];
	size_t len;
	char *s = component_stream(&len, ends);
	xmpp_stanza_t *st, *c;
	struct rec r;
	char *txt;

	rec_init(&r, 65536, 64);
	r.keep = true;
	assert_int_equal(xstream_feed(r.xs, s, len), 0);
	assert_int_equal(r.n, NSTANZAS);

	/* as built: xmlns on the stanza, on a child only where it differs */
	st = r.st[1];
	assert_string_equal(xmpp_stanza_get_ns(st), "jabber:component:accept");
	assert_string_equal(xmpp_stanza_get_attribute(st, "xml:lang"), "fr");
	assert_string_equal(xmpp_stanza_get_attribute(st, "from"),
			    "alice@localhost/res");
	c = child(st, "body");
	assert_null(xmpp_stanza_get_ns(c));
	txt = xmpp_stanza_get_text(c);
	assert_string_equal(txt, "h\xc3\xa9llo & <w> \xe2\x98\x83 "
				 "\xf0\x9f\x98\x80");
	xmpp_free(ctx, txt);
	/* one text child per run */
	assert_true(xmpp_stanza_is_text(xmpp_stanza_get_children(c)));
	assert_null(xmpp_stanza_get_next(xmpp_stanza_get_children(c)));
	c = child(st, "active");
	assert_string_equal(xmpp_stanza_get_ns(c),
			    "http://jabber.org/protocol/chatstates");
	c = child(st, "data");
	assert_null(xmpp_stanza_get_ns(c));
	assert_string_equal(xmpp_stanza_get_attribute(c, "foo:bar"), "1");
	assert_string_equal(xmpp_stanza_get_attribute(c, "xmlns:foo"),
			    "urn:foo");
	assert_string_equal(xmpp_stanza_get_attribute(c, "plain"), "2");
	txt = xmpp_stanza_get_text(c);
	assert_string_equal(txt, "x<y>z"); /* a CDATA section is text */
	xmpp_free(ctx, txt);
	assert_string_equal(xmpp_stanza_get_ns(r.st[0]),
			    "jabber:component:accept");
	c = child(child(r.st[3], "query"), "identity");
	assert_string_equal(xmpp_stanza_get_ns(c), ""); /* no namespace */
	/* a stream-level element: its own name and namespace */
	assert_string_equal(xmpp_stanza_get_ns(r.st[5]), STREAM_NS);
	assert_string_equal(
		xmpp_stanza_get_ns(child(r.st[5], "not-authorized")),
		"urn:ietf:params:xml:ns:xmpp-streams");

	/* serialized, re-parsed by libstrophe: the same namespaces */
	for (unsigned i = 0; i < NSTANZAS; i++) {
		xmpp_stanza_t *p = xmpp_stanza_new_from_string(ctx, r.xml[i]);
		assert_non_null(p);
		assert_string_equal(xmpp_stanza_get_name(p), r.name[i]);
		assert_string_equal(xmpp_stanza_get_ns(p),
				    i == 5 ? STREAM_NS
					   : "jabber:component:accept");
		if (i == 1) {
			assert_string_equal(
				xmpp_stanza_get_ns(child(p, "body")),
				"jabber:component:accept");
			assert_string_equal(
				xmpp_stanza_get_ns(child(p, "active")),
				"http://jabber.org/protocol/chatstates");
			/* written with their prefixes, declared (else
			 * not well-formed); libstrophe's parser drops them */
			assert_non_null(strstr(r.xml[i], " xml:lang=\"fr\""));
			assert_non_null(strstr(r.xml[i], " foo:bar=\"1\""));
			assert_non_null(
				strstr(r.xml[i], " xmlns:foo=\"urn:foo\""));
			assert_string_equal(xmpp_stanza_get_attribute(
						    child(p, "data"), "bar"),
					    "1");
			assert_string_equal(
				xmpp_stanza_get_attribute(p, "lang"), "fr");
			txt = xmpp_stanza_get_text(child(p, "body"));
			assert_string_equal(txt, "h\xc3\xa9llo & <w> "
						 "\xe2\x98\x83 "
						 "\xf0\x9f\x98\x80");
			xmpp_free(ctx, txt);
		}
		if (i == 3)
			assert_string_equal(
				xmpp_stanza_get_ns(child(p, "query")),
				"http://jabber.org/protocol/disco#info");
		xmpp_stanza_release(p);
	}
	rec_close(&r);
	free(s);
}


/* The lines of a log from its k-th stanza line on (the header line is
 * skipped). */
static const char *log_from(const char *log, unsigned k)
{
	const char *p = log;

	while (*p == 'H')
		p = strchr(p, '\n') + 1;
	for (unsigned i = 0; i < k; i++)
		p = strchr(p, '\n') + 1;
	return p;
}


static void test_primed_parser_resumes_at_a_boundary(void **state)
{
	const uint64_t base = 77;
	uint64_t ends[NSTANZAS];
	size_t len;
	char *s = component_stream(&len, ends);
	struct rec live;

	rec_init(&live, 65536, 64);
	xstream_start(live.xs, base);
	assert_int_equal(xstream_feed(live.xs, s, len), 0);
	assert_int_equal(live.n, NSTANZAS);

	/* from the end of each stanza, and from after the header */
	for (unsigned k = 0; k <= NSTANZAS; k++) {
		uint64_t at = k ? ends[k - 1] : strlen(HDR);
		struct rec r;

		rec_init(&r, 65536, 64);
		assert_int_equal(
			xstream_prime(r.xs, live.hdr, live.hdrlen, base + at),
			0);
		assert_int_equal(xstream_boundary(r.xs), base + at);
		assert_int_equal(xstream_feed(r.xs, s + at, len - at), 0);
		assert_null(r.hdr); /* not reported again */
		assert_string_equal(rec_log(&r), log_from(rec_log(&live), k));
		rec_close(&r);
	}

	/* from the boundary a live parser gives mid-stream, torn tag too */
	for (size_t cut = strlen(HDR); cut < len; cut += 7) {
		struct rec a, r;
		uint64_t b;

		rec_init(&a, 65536, 64);
		xstream_start(a.xs, base);
		assert_int_equal(xstream_feed(a.xs, s, cut), 0);
		b = xstream_boundary(a.xs);
		assert_true(b >= base + strlen(HDR) && b <= base + cut);
		rec_init(&r, 65536, 64);
		assert_int_equal(xstream_prime(r.xs, a.hdr, a.hdrlen, b), 0);
		assert_int_equal(
			xstream_feed(r.xs, s + (b - base), len - (b - base)),
			0);
		assert_string_equal(rec_log(&r), log_from(rec_log(&live), a.n));
		rec_close(&a);
		rec_close(&r);
	}
	rec_close(&live);
	free(s);
}


static void test_torn_reads_same_results(void **state)
{
	uint64_t ends[NSTANZAS];
	size_t len;
	char *s = component_stream(&len, ends);
	const char *utf8 = strstr(s, "\xc3\xa9"), *emoji = strstr(s, "\xf0");
	struct rec whole, r;

	rec_init(&whole, 65536, 64);
	assert_int_equal(xstream_feed(whole.xs, s, len), 0);

	/* one byte at a time, and other fixed steps */
	for (size_t step = 1; step <= 13; step++) {
		rec_init(&r, 65536, 64);
		assert_int_equal(feed_steps(r.xs, s, len, step), 0);
		assert_string_equal(rec_log(&r), rec_log(&whole));
		rec_close(&r);
	}
	/* random pieces */
	for (int i = 0; i < 200; i++) {
		rec_init(&r, 65536, 64);
		assert_int_equal(feed_random(r.xs, s, len, 1 + i % 40), 0);
		assert_string_equal(rec_log(&r), rec_log(&whole));
		rec_close(&r);
	}
	/* cut inside a 2-byte and inside a 4-byte UTF-8 character */
	assert_non_null(utf8);
	assert_non_null(emoji);
	for (int k = 0; k < 4; k++) {
		size_t cut = k < 1 ? (size_t)(utf8 - s) + 1
				   : (size_t)(emoji - s) + (size_t)k;
		rec_init(&r, 65536, 64);
		assert_int_equal(xstream_feed(r.xs, s, cut), 0);
		assert_int_equal(xstream_feed(r.xs, s + cut, len - cut), 0);
		assert_string_equal(rec_log(&r), rec_log(&whole));
		rec_close(&r);
	}
	rec_close(&whole);
	free(s);
}


static void test_boundary_between_and_inside_elements(void **state)
{
	const uint64_t base = 5000;
	const size_t h = strlen(HDR);
	const char *msg = "<message to='a@b'><body>hi</body></message>";
	struct rec r;

	rec_init(&r, 65536, 64);
	xstream_start(r.xs, base);
	/* the header in progress: the stream start */
	assert_int_equal(xstream_feed(r.xs, HDR, 30), 0);
	assert_int_equal(xstream_boundary(r.xs), base);
	assert_null(r.hdr);
	assert_int_equal(xstream_feed(r.xs, HDR + 30, h - 30), 0);
	assert_non_null(r.hdr);
	assert_int_equal(xstream_boundary(r.xs), base + h);
	/* whitespace: the next byte to feed */
	assert_int_equal(xstream_feed(r.xs, "\n  ", 3), 0);
	assert_int_equal(xstream_boundary(r.xs), base + h + 3);
	/* a torn start tag: where it began */
	assert_int_equal(xstream_feed(r.xs, "<mess", 5), 0);
	assert_int_equal(xstream_boundary(r.xs), base + h + 3);
	assert_int_equal(xstream_feed(r.xs, msg + 5, 13), 0); /* <message> */
	assert_int_equal(xstream_boundary(r.xs), base + h + 3);
	assert_int_equal(xstream_feed(r.xs, msg + 18, 10), 0); /* in body */
	assert_int_equal(xstream_boundary(r.xs), base + h + 3);
	assert_int_equal(r.n, 0);
	/* torn end tag */
	assert_int_equal(xstream_feed(r.xs, msg + 28, strlen(msg) - 28 - 1), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(xstream_boundary(r.xs), base + h + 3);
	assert_int_equal(xstream_feed(r.xs, ">", 1), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.end[0], base + h + 3 + strlen(msg));
	assert_int_equal(xstream_boundary(r.xs), base + h + 3 + strlen(msg));
	/* a CR may be a CR LF: held until the next byte */
	assert_int_equal(xstream_feed(r.xs, " \r", 2), 0);
	assert_int_equal(xstream_boundary(r.xs),
			 base + h + 3 + strlen(msg) + 1);
	assert_int_equal(xstream_feed(r.xs, "\n<presence/>", 12), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.end[1], base + h + 3 + strlen(msg) + 14);
	assert_int_equal(xstream_boundary(r.xs), r.end[1]);
	assert_int_equal(r.nend, 0);
	rec_close(&r);
}


static void test_empty_element_stanzas(void **state)
{
	const char *body = "<presence/><presence/>\n<presence></presence>"
			   "<presence type='unavailable'/>";
	const size_t h = strlen(HDR);
	const uint64_t want[] = {11, 22, 44, 74};
	struct rec r;

	rec_init(&r, 65536, 64);
	xstream_start(r.xs, 10);
	assert_int_equal(xstream_feed(r.xs, HDR, h), 0);
	assert_int_equal(xstream_feed(r.xs, body, strlen(body)), 0);
	assert_int_equal(r.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(r.end[i], 10 + h + want[i]);
		assert_int_equal(r.err[i], 0);
		assert_string_equal(r.name[i], "presence");
	}
	assert_int_equal(strlen(body), want[3]);
	rec_close(&r);
}


static void test_oversize_stanza(void **state)
{
	const size_t h = strlen(HDR);
	struct mbuf *mb = mbuf_alloc(4096);
	size_t big_end, small_end;
	struct rec r;

	/* children and text past max_bytes: the top element alone */
	mbuf_printf(mb,
		    "%s<message from='a@b' to='c@d' id='big' type='chat'>"
		    "<body>",
		    HDR);
	for (int i = 0; i < 400; i++)
		mbuf_printf(mb, "xy");
	mbuf_printf(mb, "</body><x xmlns='urn:x'><y/></x></message>");
	big_end = mb->end;
	mbuf_printf(mb, " <presence/>");
	small_end = mb->end;

	for (size_t step = 0; step <= 3; step++) {
		rec_init(&r, 300, 64);
		r.keep = true;
		assert_int_equal(
			feed_steps(r.xs, (char *)mb->buf, mb->end, step), 0);
		assert_int_equal(r.n, 2);
		assert_int_equal(r.err[0], EMSGSIZE);
		assert_int_equal(r.end[0], big_end);
		assert_string_equal(r.name[0], "message");
		assert_string_equal(xmpp_stanza_get_attribute(r.st[0], "id"),
				    "big");
		assert_string_equal(xmpp_stanza_get_attribute(r.st[0], "to"),
				    "c@d");
		assert_string_equal(xmpp_stanza_get_ns(r.st[0]),
				    "jabber:component:accept");
		assert_null(xmpp_stanza_get_children(r.st[0]));
		/* the stream goes on */
		assert_int_equal(r.err[1], 0);
		assert_int_equal(r.end[1], small_end);
		assert_int_equal(r.nend, 0);
		rec_close(&r);
	}

	/* max_bytes is the longest whole stanza */
	rec_init(&r, 12, 64);
	assert_int_equal(xstream_prime(r.xs, HDR, h, 0), 0); /* any length */
	assert_int_equal(xstream_feed(r.xs, "<m>12345</m><m>123456</m>", 25),
			 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.err[0], 0);
	assert_int_equal(r.err[1], EMSGSIZE);
	assert_int_equal(r.end[1], 25);
	rec_close(&r);

	/* one tag longer than max_bytes cannot be held: the stream ends,
	 * split or not */
	mbuf_rewind(mb);
	mbuf_printf(mb, "%s<message to='", HDR);
	for (int i = 0; i < 400; i++)
		mbuf_printf(mb, "x");
	mbuf_printf(mb, "'/>");
	for (size_t step = 0; step <= 2; step++) {
		rec_init(&r, 300, 64);
		assert_int_equal(
			feed_steps(r.xs, (char *)mb->buf, mb->end, step),
			EMSGSIZE);
		assert_int_equal(r.n, 0);
		assert_int_equal(r.nend, 1);
		assert_int_equal(r.end_err, EMSGSIZE);
		assert_int_equal(xstream_boundary(r.xs), h);
		rec_close(&r);
	}
	/* so does a header longer than max_bytes */
	rec_init(&r, 100, 64);
	assert_int_equal(xstream_feed(r.xs, HDR, h), EMSGSIZE);
	assert_null(r.hdr);
	rec_close(&r);
	mem_deref(mb);
}


static void test_too_deep(void **state)
{
	const unsigned levels = 100000;
	const size_t h = strlen(HDR);
	struct mbuf *mb = mbuf_alloc(1 << 20);
	size_t deep_end;
	struct rec r;

	mbuf_printf(mb, "%s<message id='deep' to='a@b'>", HDR);
	for (unsigned i = 0; i < levels; i++)
		mbuf_write_str(mb, "<a>");
	mbuf_write_str(mb, "text");
	for (unsigned i = 0; i < levels; i++)
		mbuf_write_str(mb, "</a>");
	mbuf_write_str(mb, "</message>");
	deep_end = mb->end;
	mbuf_write_str(mb, "<presence/>");

	for (size_t step = 0; step <= 4096; step += 4096) {
		rec_init(&r, 1 << 20, 16);
		r.keep = true;
		assert_int_equal(
			feed_steps(r.xs, (char *)mb->buf, mb->end, step), 0);
		assert_int_equal(r.n, 2);
		assert_int_equal(r.err[0], E2BIG);
		assert_int_equal(r.end[0], deep_end);
		assert_string_equal(r.name[0], "message");
		assert_string_equal(xmpp_stanza_get_attribute(r.st[0], "id"),
				    "deep");
		assert_null(xmpp_stanza_get_children(r.st[0]));
		assert_int_equal(r.err[1], 0);
		assert_int_equal(r.end[1], deep_end + 11);
		rec_close(&r);
	}

	/* max_depth itself is built whole */
	rec_init(&r, 65536, 3);
	assert_int_equal(xstream_feed(r.xs, HDR "<m><a><b/></a></m>", h + 18),
			 0);
	assert_int_equal(xstream_feed(r.xs, "<m><a><b><c/></b></a></m>", 25),
			 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.err[0], 0);
	assert_string_equal(r.xml[0], "<m xmlns=\"jabber:component:accept\">"
				      "<a><b/></a></m>");
	assert_int_equal(r.err[1], E2BIG);
	assert_string_equal(r.xml[1], "<m xmlns=\"jabber:component:accept\"/>");
	rec_close(&r);

	/* past max_bytes too: the open elements are not held, the stream
	 * ends */
	rec_init(&r, 1000, 16);
	assert_int_equal(xstream_feed(r.xs, (char *)mb->buf, mb->end),
			 EMSGSIZE);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.end_err, EMSGSIZE);
	assert_int_equal(xstream_boundary(r.xs), h);
	rec_close(&r);
	mem_deref(mb);
}


/* Feed HDR then s whole; @return the end handler's error (-1: none) */
static int after_header(const char *s, unsigned *nstanzas)
{
	struct rec r;
	int err;

	rec_init(&r, 65536, 64);
	err = xstream_feed(r.xs, HDR, strlen(HDR));
	if (!err)
		err = xstream_feed(r.xs, s, strlen(s));
	assert_int_equal(err, r.nend ? r.end_err : 0);
	err = r.nend ? r.end_err : -1;
	if (nstanzas)
		*nstanzas = r.n;
	rec_close(&r);
	return err;
}


/* Feed a whole stream; @return the end handler's error (-1: none) */
static int whole(const char *s)
{
	struct rec r;
	int err;

	rec_init(&r, 65536, 64);
	(void)xstream_feed(r.xs, s, strlen(s));
	err = r.nend ? r.end_err : -1;
	assert_true(r.nend <= 1);
	rec_close(&r);
	return err;
}


static void test_not_an_xmpp_stream(void **state)
{
	static const char *const bad_streams[] = {
		/* a DTD: billion laughs, an internal entity, any DOCTYPE */
		"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
		"<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
		"<stream:stream xmlns:stream='" STREAM_NS "'>&lol2;",
		"<!DOCTYPE stream:stream><stream:stream "
		"xmlns:stream='" STREAM_NS "'>",
		"<!DOCTYPE s SYSTEM 'file:///etc/passwd'><stream:stream "
		"xmlns:stream='" STREAM_NS "'>",
		/* another root */
		"<stream xmlns='jabber:client'>",
		"<stream:stream xmlns:stream='jabber:client'>",
		"<s:stream xmlns:s='" STREAM_NS "'>",
		"<stream:features xmlns:stream='" STREAM_NS "'>",
		/* comments, processing instructions */
		"<!-- hi --><stream:stream xmlns:stream='" STREAM_NS "'>",
		"<?xml version='1.0'?><?pi x?><stream:stream "
		"xmlns:stream='" STREAM_NS "'>",
		/* not XML */
		"hello <a/>",
		"<stream:stream xmlns:stream='" STREAM_NS "' a='1' a='2'>",
		"<stream:stream>",
		" <?xml version='1.0'?><stream:stream>",
		/* UTF-8 only, no byte order mark */
		"\xef\xbb\xbf<stream:stream xmlns:stream='" STREAM_NS "'>",
		"<?xml version='1.0' encoding='UTF-16'?><stream:stream "
		"xmlns:stream='" STREAM_NS "'><m>\xff</m>",
	};
	static const char *const bad_stanzas[] = {
		"<message><body></message>",
		"<message><?pi x?></message>",
		"<?pi x?>",
		"<message><!-- c --></message>",
		"<!-- c -->",
		"text<presence/>",
		"&#32;<presence/>",
		"<![CDATA[ ]]>",
		"<message>&lol;</message>",
		"<message><body>\xff</body></message>",
		"<message><body>\xc3\xa9\xed\xa0\x80</body></message>",
		"<message><body>\x01</body></message>",
		"<message><body>&#1;</body></message>",
		"<message><x:y/></message>",
		"<message><xml:x/></message>",
		"<message xml:lang='en' xml:lang='fr'/>",
		"<message xmlns:a='urn:a' xmlns:b='urn:a' a:x='1' b:x='2'/>",
		"</stream:error>",
		"</stream:stream><presence/>x",
	};
	unsigned n;
	struct rec r;

	for (size_t i = 0; i < sizeof(bad_streams) / sizeof(*bad_streams);
	     i++) {
		if (whole(bad_streams[i]) != EBADMSG)
			fail_msg("stream %s: not EBADMSG", bad_streams[i]);
	}
	for (size_t i = 0; i < sizeof(bad_stanzas) / sizeof(*bad_stanzas);
	     i++) {
		int err = after_header(bad_stanzas[i], &n);
		int want = strncmp(bad_stanzas[i], "</stream:stream>", 16)
				   ? EBADMSG
				   : 0;
		if (err != want || n)
			fail_msg("stanza %s: got %d, %u stanzas",
				 bad_stanzas[i], err, n);
	}

	/* a NUL second byte: what expat would take for UTF-16, whole or
	 * torn */
	for (int torn = 0; torn < 2; torn++) {
		static const char u16[] = "<\0s\0t\0";

		rec_init(&r, 65536, 64);
		if (torn)
			assert_int_equal(xstream_feed(r.xs, u16, 1), 0);
		assert_int_equal(
			xstream_feed(r.xs, u16 + torn, sizeof(u16) - 1 - torn),
			EBADMSG);
		assert_int_equal(r.end_err, EBADMSG);
		rec_close(&r);
	}

	/* once ended, feeding returns the error and reports nothing */
	rec_init(&r, 65536, 64);
	assert_int_equal(xstream_feed(r.xs, HDR "<presence/><a><b></a>",
				      strlen(HDR) + 21),
			 EBADMSG);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.nend, 1);
	assert_int_equal(xstream_feed(r.xs, "<presence/>", 11), EBADMSG);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.nend, 1);
	/* a new stream: a new start */
	xstream_start(r.xs, 0);
	free(r.hdr);
	r.hdr = NULL;
	r.nend = 0;
	assert_int_equal(
		xstream_feed(r.xs, HDR "<presence/>", strlen(HDR) + 11), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.end[1], strlen(HDR) + 11);
	rec_close(&r);
}


static void test_prime_refuses_a_bad_header(void **state)
{
	static const char *const bad[] = {
		"",
		"<stream:stream xmlns:stream='" STREAM_NS "'", /* cut */
		"<stream:stream xmlns:stream='" STREAM_NS "'><presence/>",
		"<stream:stream xmlns:stream='" STREAM_NS "'></stream:stream>",
		"<stream:stream xmlns:stream='" STREAM_NS "'><pres",
		"<stream xmlns='jabber:client'>",
		"<!DOCTYPE s><stream:stream xmlns:stream='" STREAM_NS "'>",
	};
	struct rec r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rec_init(&r, 65536, 64);
		if (xstream_prime(r.xs, bad[i], strlen(bad[i]), 100) != EBADMSG)
			fail_msg("primed with %s", bad[i]);
		assert_int_equal(xstream_feed(r.xs, "<presence/>", 11),
				 EBADMSG);
		assert_int_equal(r.n, 0);
		assert_int_equal(r.nend, 0);
		rec_close(&r);
	}
	/* the header and whitespace is fine, and so is priming again */
	rec_init(&r, 65536, 64);
	assert_int_equal(xstream_prime(r.xs, HDR "\n", strlen(HDR) + 1, 100),
			 0);
	assert_int_equal(xstream_prime(r.xs, HDR, strlen(HDR), 200), 0);
	assert_int_equal(xstream_feed(r.xs, "<presence/>", 11), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.end[0], 211);
	assert_null(r.hdr);
	rec_close(&r);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_component_stream_offsets),
		cmocka_unit_test(test_namespaces_as_libstrophe),
		cmocka_unit_test(test_primed_parser_resumes_at_a_boundary),
		cmocka_unit_test(test_torn_reads_same_results),
		cmocka_unit_test(test_boundary_between_and_inside_elements),
		cmocka_unit_test(test_empty_element_stanzas),
		cmocka_unit_test(test_oversize_stanza),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_not_an_xmpp_stream),
		cmocka_unit_test(test_prime_refuses_a_bad_header),
	};
	int ret;

	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return ret;
}
