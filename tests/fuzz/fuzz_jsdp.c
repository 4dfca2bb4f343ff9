/**
 * @file fuzz_jsdp.c  libFuzzer target for the SDP and Jingle decoders and
 *                    the encoders on whatever they accept, as tr_media.c
 *                    uses them.
 *
 * The first byte picks: bit 0 the perspective (author is the initiator),
 * bit 1 the direction (Jingle -> model, else SDP -> model), bit 2 an
 * a=jingle-action ("source-add") in the SDP written. The rest is the input,
 * optionally followed by a NUL and an SDP offer (decoded from the other
 * party's perspective): the model is then also written as the answer to
 * that offer (tr_media_sdp_of_jingle with offer_sdp). Whatever the decoder
 * accepts is written as Jingle (ICE and raw UDP), as SDP (offer, answer to
 * itself, answer to the offer) and as an RFC 8840 fragment (transport-info
 * -> INFO).
 */
#include <stdint.h>
#include <string.h>
#include "jsdp.h"

static xmpp_ctx_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void encode_all(const struct jsdp *m, bool by_init, bool action,
		       const struct jsdp *offer)
{
	struct jsdp_sdp_opts so = {.author_is_initiator = by_init,
				   .origin = "127.0.0.1",
				   .sess_id = 1,
				   .sess_version = 2,
				   .action = action ? "source-add" : NULL};
	struct jsdp_jingle_opts jo = {.raw_udp = by_init};
	struct mbuf *mb = mbuf_alloc(1024);
	xmpp_stanza_t *j = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(j, "jingle");
	(void)jsdp_jingle_encode(j, m, &jo);
	xmpp_stanza_release(j);
	j = xmpp_stanza_new(ctx);
	xmpp_stanza_set_name(j, "jingle");
	jo.raw_udp = !by_init;
	(void)jsdp_jingle_encode(j, m, &jo);
	xmpp_stanza_release(j);
	(void)jsdp_sdp_encode(mb, m, &so);
	so.offer = m; /* an answer to itself */
	(void)jsdp_sdp_encode(mb, m, &so);
	if (offer) { /* an answer to another party's offer */
		so.offer = offer;
		(void)jsdp_sdp_encode(mb, m, &so);
	}
	(void)jsdp_frag_encode(mb, m);
	mem_deref(mb);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsdp *m, *offer = NULL;
	char eb[128], *s, *o;
	bool by_init, action;
	size_t len;

	if (!ctx) {
		xmpp_initialize();
		ctx = xmpp_ctx_new(NULL, NULL);
	}
	if (size < 1)
		return 0;
	by_init = data[0] & 1;
	action = data[0] & 4;
	m = jsdp_alloc();
	s = mem_alloc(size, NULL); /* NUL-terminated copy of data[1..] */
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	len = strlen(s);
	o = len < size - 1 ? s + len + 1 : NULL; /* the offer after a NUL */
	if (o) {
		struct pl pl = {o, size - 1 - len - 1};
		offer = jsdp_alloc();
		if (jsdp_sdp_decode(offer, &pl, !by_init, eb, sizeof(eb)))
			offer = mem_deref(offer);
	}
	if (data[0] & 2) {
		xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, s);
		if (st) {
			if (!jsdp_jingle_decode(m, st, eb, sizeof(eb)))
				encode_all(m, by_init, action, offer);
			xmpp_stanza_release(st);
		}
	} else {
		struct pl pl = {s, len};
		if (!jsdp_sdp_decode(m, &pl, by_init, eb, sizeof(eb)))
			encode_all(m, by_init, action, offer);
	}
	mem_deref(s);
	mem_deref(m);
	mem_deref(offer);
	return 0;
}
