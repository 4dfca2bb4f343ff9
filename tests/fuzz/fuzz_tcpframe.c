/**
 * @file fuzz_tcpframe.c  libFuzzer target for the sip-front's SIP-over-TCP
 *                        framer (sip-front/sf_tcpframe.c).
 *
 * The first byte seeds the random split of the stream into reads (1 to
 * 8192 bytes, as libre reads); the rest is the stream. Besides "no crash":
 *   - fed whole and fed in pieces, the same bytes are passed on and the
 *     same messages stopped, for the same reasons;
 *   - what is passed on, read the way libre 1.1.0 reads a TCP stream
 *     (keep-alive CRLFs, sip_msg_decode, Content-Length), never gives libre
 *     a reason to close the connection: every header section decodes and
 *     has a Content-Length, every message is within SF_TCP_MSG_MAX;
 *   - a held header section never exceeds SF_TCP_MSG_MAX plus one read.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "sip_front.h"
#include "fuzz_check.h"


/* the drops: why, and a stopped message's header length (for the others
 * the header section is what was read so far: reads differ) */
static void drop_handler(enum sf_tcp_drop why, const struct pl *head, void *arg)
{
	struct mbuf *log = arg;

	CHECK(head->l <= SF_TCP_MSG_MAX + 8192);
	(void)mbuf_printf(log, "%d %zu\n", why,
			  why == SF_TCP_TOO_LARGE ? head->l : 0);
}


static struct mbuf *run(const uint8_t *s, size_t n, unsigned seed,
			struct mbuf *log)
{
	struct mbuf *out = mbuf_alloc(n + 16);
	struct sf_tcpframe f;
	size_t off = 0;

	sf_tcpframe_init(&f, drop_handler, log);
	while (off < n) {
		size_t k = seed ? 1 + (size_t)rand_r(&seed) % 8192 : n;
		struct mbuf *in = mbuf_alloc(8192);

		if (k > n - off)
			k = n - off;
		CHECK(in && !mbuf_write_mem(in, s + off, k));
		in->pos = 0;
		CHECK(!sf_tcpframe_feed(&f, in, out));
		CHECK(!f.hold || f.hold->end <= SF_TCP_MSG_MAX + 8192);
		mem_deref(in);
		off += k;
	}
	sf_tcpframe_reset(&f);
	return out;
}


/* libre's TCP reader over what was passed on */
static void libre_reads(struct mbuf *out)
{
	out->pos = 0;
	for (;;) {
		struct sip_msg *m = NULL;
		size_t start;
		int err;

		while (mbuf_get_left(out) >= 2 &&
		       !memcmp(mbuf_buf(out), "\r\n", 2))
			out->pos += 2;
		if (mbuf_get_left(out) < 2)
			return;
		start = out->pos;
		err = sip_msg_decode(&m, out);
		if (err == ENODATA)
			return; /* the stream ended inside it */
		CHECK(!err);
		CHECK(m->clen.p);
		CHECK(out->pos - start + pl_u32(&m->clen) <= SF_TCP_MSG_MAX);
		if (mbuf_get_left(out) < pl_u32(&m->clen)) {
			mem_deref(m);
			return;
		}
		out->pos += pl_u32(&m->clen);
		mem_deref(m);
	}
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbuf *log1, *log2, *whole, *pieces;

	if (size < 1)
		return 0;
	log1 = mbuf_alloc(64);
	log2 = mbuf_alloc(64);
	whole = run(data + 1, size - 1, 0, log1);
	pieces = run(data + 1, size - 1, 1u + data[0], log2);
	CHECK(whole->end == pieces->end);
	CHECK(!memcmp(whole->buf, pieces->buf, whole->end));
	CHECK(log1->end == log2->end);
	CHECK(!memcmp(log1->buf, log2->buf, log1->end));
	libre_reads(whole);
	mem_deref(whole);
	mem_deref(pieces);
	mem_deref(log1);
	mem_deref(log2);
	return 0;
}
