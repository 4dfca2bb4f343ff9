/**
 * @file fuzz_xstream.c  libFuzzer target for the xmpp-front's stream parser
 *                       (xmpp-front/xstream.h).
 *
 * The first three bytes pick the limits (max_bytes, max_depth), whether a
 * component stream header is put before the rest, the seed of the random
 * split of the reads and where a primed parser resumes. The rest is the
 * stream. Besides "no crash", the same bytes must give the same reports:
 *   - fed whole, and fed in random pieces (down to single bytes);
 *   - from a boundary a live parser gave (xstream_boundary between two
 *     reads), a parser primed with the header reports what the live one
 *     did from there on;
 * and every report must hold: stanza ends increasing, each just past a
 * '>', xstream_boundary at the end in the stanza handler, never past the
 * bytes fed, never going back; a stanza serialized re-parses (libstrophe).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "xstream.h"
#include "fuzz_check.h"


#define HDR                                                                    \
	"<?xml version='1.0'?><stream:stream "                                 \
	"xmlns:stream='http://etherx.jabber.org/streams' "                     \
	"xmlns='jabber:component:accept' from='gw.localhost' id='fz1'>"

static xmpp_ctx_t *ctx;

/** One run: what was reported, and what a run is checked against. */
struct run {
	struct xstream *xs;
	const uint8_t *s; /**< the stream; s[0] is at offset base */
	uint64_t base;
	uint64_t fed; /**< offset of the next byte to feed */
	struct mbuf *log;
	char *hdr; /**< the header reported */
	size_t hdrlen;
	unsigned n;    /**< stanzas reported */
	uint64_t prev; /**< last stanza end (or base) */
	bool ended;
};


static void header_handler(const char *hdr, size_t len, const char *id,
			   void *arg)
{
	struct run *r = arg;

	CHECK(!r->hdr && !r->n && !r->ended);
	CHECK(len <= r->fed - r->base);
	CHECK(!memcmp(hdr, r->s, len) && hdr[len - 1] == '>');
	r->hdr = mem_alloc(len, NULL);
	memcpy(r->hdr, hdr, len);
	r->hdrlen = len;
	mbuf_printf(r->log, "H %zu %s\n", len, id);
}


static void stanza_handler(xmpp_stanza_t *st, uint64_t end, int err, void *arg)
{
	struct run *r = arg;
	xmpp_stanza_t *p;
	char *buf;
	size_t len;

	CHECK(!r->ended);
	CHECK(err == 0 || err == EMSGSIZE || err == E2BIG);
	CHECK(end > r->prev && end <= r->fed);
	CHECK(r->s[end - r->base - 1] == '>');
	CHECK(xstream_boundary(r->xs) == end);
	if (err)
		CHECK(!xmpp_stanza_get_children(st));
	CHECK(xmpp_stanza_to_text(st, &buf, &len) == XMPP_EOK);
	p = xmpp_stanza_new_from_string(ctx, buf);
	CHECK(p);
	xmpp_stanza_release(p);
	for (char *c = buf; (c = strchr(c, '\n'));) /* one line per report */
		*c = '\x01';
	mbuf_printf(r->log, "S %llu %d %s\n", (unsigned long long)end, err,
		    buf);
	xmpp_free(ctx, buf);
	r->prev = end;
	r->n++;
}


static void end_handler(int err, void *arg)
{
	struct run *r = arg;

	CHECK(!r->ended);
	CHECK(err == 0 || err == EBADMSG || err == EMSGSIZE);
	r->ended = true;
	mbuf_printf(r->log, "E %d\n", err);
}


static void run_init(struct run *r, const uint8_t *s, uint64_t base,
		     size_t max_bytes, unsigned max_depth)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->base = r->fed = r->prev = base;
	r->log = mbuf_alloc(1024);
	CHECK(!xstream_alloc(&r->xs, ctx, max_bytes, max_depth, header_handler,
			     stanza_handler, end_handler, r));
	xstream_start(r->xs, base);
}


static void run_close(struct run *r)
{
	mem_deref(r->xs);
	mem_deref(r->log);
	mem_deref(r->hdr);
}


/* Feed n bytes at r->fed and check the boundary. */
static void run_feed(struct run *r, size_t n)
{
	uint64_t b0 = xstream_boundary(r->xs), b;
	int err;

	r->fed += n;
	err = xstream_feed(r->xs, (const char *)r->s + (r->fed - n - r->base),
			   n);
	CHECK(!err || r->ended);
	b = xstream_boundary(r->xs);
	CHECK(b >= b0 && b <= r->fed && b >= r->prev);
}


static bool same_log(struct run *a, struct run *b, const char *from)
{
	size_t off = (size_t)(from - (const char *)a->log->buf);

	return a->log->end - off == b->log->end &&
	       !memcmp(from, b->log->buf, b->log->end);
}


/* a's log from its k-th stanza on */
static const char *log_from(struct run *a, unsigned k)
{
	const char *p = (const char *)a->log->buf;
	const char *end = p + a->log->end;

	while (p < end && *p == 'H')
		p = memchr(p, '\n', (size_t)(end - p)) + 1;
	for (unsigned i = 0; i < k && p < end; i++)
		p = memchr(p, '\n', (size_t)(end - p)) + 1;
	return p;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxb[] = {8, 32, 100, 300, 1000, 4096, 65536, 400};
	static const unsigned maxd[] = {1, 2, 3, 4, 8, 16, 64, 5};
	struct run whole, split, primed;
	uint64_t base, cut_b = 0;
	unsigned cut_n = 0, pick;
	uint32_t rnd;
	size_t len, mb, maxstep, hl = 0;
	uint8_t *s;
	unsigned md;

	if (!ctx) {
		xmpp_initialize();
		ctx = xmpp_ctx_new(NULL, NULL);
	}
	if (size < 3)
		return 0;
	mb = maxb[data[0] & 7];
	md = maxd[data[0] >> 3 & 7];
	if (data[0] & 0x40)
		hl = strlen(HDR);
	if (hl > mb)
		mb = hl;
	rnd = data[1] * 2654435761u + 1;
	maxstep = (size_t)1 << (data[1] & 7);
	pick = data[2];
	base = ((uint64_t)data[1] << 32) + data[2];
	len = hl + size - 3;
	s = mem_alloc(len ? len : 1, NULL);
	memcpy(s, HDR, hl);
	memcpy(s + hl, data + 3, size - 3);

	run_init(&whole, s, base, mb, md);
	run_feed(&whole, len);

	/* random pieces; one boundary between two of them to resume at */
	run_init(&split, s, base, mb, md);
	for (size_t i = 0; i < len;) {
		size_t n;

		rnd = rnd * 1103515245u + 12345u;
		n = 1 + (rnd >> 8) % maxstep;
		if (n > len - i)
			n = len - i;
		run_feed(&split, n);
		i += n;
		if (split.hdr && !split.ended && (pick-- == 0 || !cut_b)) {
			cut_b = xstream_boundary(split.xs);
			cut_n = split.n;
		}
	}
	CHECK(same_log(&whole, &split, (const char *)whole.log->buf));

	if (cut_b) {
		size_t at = (size_t)(cut_b - base);

		run_init(&primed, s, cut_b, mb, md);
		CHECK(!xstream_prime(primed.xs, split.hdr, split.hdrlen,
				     cut_b));
		CHECK(xstream_boundary(primed.xs) == cut_b);
		primed.s = s + at;
		primed.base = primed.fed = primed.prev = cut_b;
		run_feed(&primed, len - at);
		CHECK(same_log(&whole, &primed, log_from(&whole, cut_n)));
		run_close(&primed);
	}
	run_close(&whole);
	run_close(&split);
	mem_deref(s);
	return 0;
}
