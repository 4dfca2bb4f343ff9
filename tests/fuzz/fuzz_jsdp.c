/**
 * @file fuzz_jsdp.c  libFuzzer target for the SDP and Jingle decoders (and
 *                    the encoders on whatever they accept). The first byte
 *                    picks the direction and the perspective.
 */
#include <stdint.h>
#include <string.h>
#include "jsdp.h"

static xmpp_ctx_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void encode_both(const struct jsdp *m, bool by_init)
{
	struct jsdp_sdp_opts so = {.author_is_initiator = by_init,
				   .origin = "127.0.0.1"};
	struct jsdp_jingle_opts jo = {.raw_udp = by_init};
	struct mbuf *mb = mbuf_alloc(1024);
	xmpp_stanza_t *j = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(j, "jingle");
	(void)jsdp_jingle_encode(j, m, &jo);
	(void)jsdp_sdp_encode(mb, m, &so);
	so.offer = m; /* an answer to itself */
	(void)jsdp_sdp_encode(mb, m, &so);
	xmpp_stanza_release(j);
	mem_deref(mb);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsdp *m;
	char eb[128], *s;
	bool by_init;

	if (!ctx) {
		xmpp_initialize();
		ctx = xmpp_ctx_new(NULL, NULL);
	}
	if (size < 1)
		return 0;
	by_init = data[0] & 1;
	m = jsdp_alloc();
	s = mem_alloc(size, NULL); /* NUL-terminated copy of data[1..] */
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	if (data[0] & 2) {
		xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, s);
		if (st) {
			if (!jsdp_jingle_decode(m, st, eb, sizeof(eb)))
				encode_both(m, by_init);
			xmpp_stanza_release(st);
		}
	} else {
		struct pl pl = {s, size - 1};
		if (!jsdp_sdp_decode(m, &pl, by_init, eb, sizeof(eb)))
			encode_both(m, by_init);
	}
	mem_deref(s);
	mem_deref(m);
	return 0;
}
