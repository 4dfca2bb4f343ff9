/**
 * @file test_jsdp.c  SDP <-> Jingle conversion with real SDPs (Chrome and
 *                    Firefox offers, baresip, an Asterisk answer with
 *                    session-level ICE/DTLS, a plain PCMU phone, an SDES
 *                    phone), round trips, perspective, answers, bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsdp.h"

static xmpp_ctx_t *ctx;

static char *load(const char *name)
{
	const char *dir = getenv("XSGW_SRCDIR");
	char path[1024];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/tests/data/sdp/%s", dir ? dir : ".",
		 name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = mem_zalloc((size_t)n + 1, NULL);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}


static int decode(struct jsdp *m, const char *sdp, bool by_initiator, char *eb,
		  size_t sz)
{
	struct pl pl;

	pl_set_str(&pl, sdp);
	return jsdp_sdp_decode(m, &pl, by_initiator, eb, sz);
}


static void decode_ok(struct jsdp *m, const char *sdp, bool by_initiator)
{
	char eb[256] = "";
	int err = decode(m, sdp, by_initiator, eb, sizeof(eb));

	if (err)
		fail_msg("decode: %d %s", err, eb);
}


/* m -> <jingle/> (a fresh element the caller releases) */
static xmpp_stanza_t *to_jingle(const struct jsdp *m, bool raw_udp)
{
	struct jsdp_jingle_opts o = {.raw_udp = raw_udp};
	xmpp_stanza_t *j = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(j, "jingle");
	xmpp_stanza_set_ns(j, "urn:xmpp:jingle:1");
	assert_int_equal(jsdp_jingle_encode(j, m, &o), 0);
	return j;
}


/* Serialise and parse again: what a peer would receive (consumes j). */
static xmpp_stanza_t *reparse(xmpp_stanza_t *j)
{
	char *buf;
	size_t len;
	xmpp_stanza_t *r;

	assert_int_equal(xmpp_stanza_to_text(j, &buf, &len), 0);
	xmpp_stanza_release(j);
	r = xmpp_stanza_new_from_string(ctx, buf);
	xmpp_free(ctx, buf);
	assert_non_null(r);
	return r;
}


static char *to_sdp(const struct jsdp *m, bool by_initiator,
		    const struct jsdp *offer, const char *action)
{
	struct jsdp_sdp_opts o = {.author_is_initiator = by_initiator,
				  .origin = "127.0.0.1",
				  .sess_id = 42,
				  .sess_version = 1,
				  .offer = offer,
				  .action = action};
	struct mbuf *mb = mbuf_alloc(4096);
	char *s;

	assert_int_equal(jsdp_sdp_encode(mb, m, &o), 0);
	mbuf_set_pos(mb, 0);
	assert_int_equal(mbuf_strdup(mb, &s, mb->end), 0);
	mem_deref(mb);
	return s;
}


static xmpp_stanza_t *child(xmpp_stanza_t *st, const char *name,
			    const char *attr, const char *value)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		const char *v =
			attr ? xmpp_stanza_get_attribute(c, attr) : NULL;
		if (n && !strcmp(n, name) &&
		    (!attr || (v && !strcmp(v, value))))
			return c;
	}
	return NULL;
}


static const char *at(xmpp_stanza_t *st, const char *name)
{
	assert_non_null(st);
	return xmpp_stanza_get_attribute(st, name);
}


static void assert_pl(const struct pl *p, const char *s)
{
	if (pl_strcmp(p, s))
		fail_msg("'%.*s' != '%s'", (int)p->l, p->p ? p->p : "", s);
}


static void assert_same_content(const struct jsdp_content *a,
				const struct jsdp_content *b, bool transport)
{
	assert_int_equal(pl_cmp(&a->name, &b->name), 0);
	assert_int_equal(pl_cmp(&a->media, &b->media), 0);
	assert_int_equal(a->senders, b->senders);
	assert_int_equal(a->npt, b->npt);
	for (unsigned i = 0; i < a->npt; i++) {
		const struct jsdp_payload *p = &a->pt[i], *q = &b->pt[i];
		assert_int_equal(p->id, q->id);
		assert_int_equal(pl_cmp(&p->name, &q->name), 0);
		assert_int_equal(p->clock, q->clock);
		/* 0 (absent) and 1 are the same channel count */
		assert_int_equal(p->channels ? p->channels : 1,
				 q->channels ? q->channels : 1);
		assert_int_equal(p->ptime, q->ptime);
		assert_int_equal(p->npar, q->npar);
		for (unsigned k = 0; k < p->npar; k++) {
			assert_int_equal(
				pl_cmp(&p->par[k].name, &q->par[k].name), 0);
			assert_int_equal(
				pl_cmp(&p->par[k].value, &q->par[k].value), 0);
		}
		assert_int_equal(p->nfb, q->nfb);
		for (unsigned k = 0; k < p->nfb; k++) {
			assert_int_equal(pl_cmp(&p->fb[k].type, &q->fb[k].type),
					 0);
			assert_int_equal(
				pl_cmp(&p->fb[k].subtype, &q->fb[k].subtype),
				0);
		}
	}
	assert_int_equal(a->nfb_all, b->nfb_all);
	assert_int_equal(a->next, b->next);
	for (unsigned i = 0; i < a->next; i++) {
		assert_int_equal(a->ext[i].id, b->ext[i].id);
		assert_int_equal(a->ext[i].senders, b->ext[i].senders);
		assert_int_equal(pl_cmp(&a->ext[i].uri, &b->ext[i].uri), 0);
	}
	assert_int_equal(a->rtcp_mux, b->rtcp_mux);
	assert_int_equal(a->nsrc, b->nsrc);
	for (unsigned i = 0; i < a->nsrc; i++) {
		assert_int_equal(a->src[i].ssrc, b->src[i].ssrc);
		assert_int_equal(a->src[i].npar, b->src[i].npar);
	}
	assert_int_equal(a->nsgrp, b->nsgrp);
	assert_int_equal(a->ncrypto, b->ncrypto);
	if (!transport)
		return;
	assert_int_equal(a->tr, b->tr);
	assert_int_equal(pl_cmp(&a->ufrag, &b->ufrag), 0);
	assert_int_equal(pl_cmp(&a->pwd, &b->pwd), 0);
	assert_int_equal(pl_cmp(&a->fp_hash, &b->fp_hash), 0);
	assert_int_equal(pl_cmp(&a->fp_value, &b->fp_value), 0);
	assert_int_equal(pl_cmp(&a->fp_setup, &b->fp_setup), 0);
	assert_int_equal(a->ncand, b->ncand);
	for (unsigned i = 0; i < a->ncand; i++) {
		const struct jsdp_cand *x = &a->cand[i], *y = &b->cand[i];
		assert_int_equal(pl_cmp(&x->foundation, &y->foundation), 0);
		assert_int_equal(x->component, y->component);
		assert_int_equal(pl_casecmp(&x->protocol, &y->protocol), 0);
		assert_int_equal(x->priority, y->priority);
		assert_int_equal(pl_cmp(&x->ip, &y->ip), 0);
		assert_int_equal(x->port, y->port);
		assert_int_equal(pl_cmp(&x->type, &y->type), 0);
		assert_int_equal(pl_cmp(&x->rel_addr, &y->rel_addr), 0);
		assert_int_equal(x->rel_port, y->rel_port);
		assert_int_equal(pl_cmp(&x->tcptype, &y->tcptype), 0);
	}
	if (a->tr == JSDP_TR_RAW) {
		assert_int_equal(pl_cmp(&a->addr, &b->addr), 0);
		assert_int_equal(a->port, b->port);
		assert_int_equal(a->rtcp_port, b->rtcp_port);
	}
}


/* SDP -> Jingle -> (wire) -> Jingle -> SDP -> model: nothing lost. */
static void round_trip(const char *file, bool by_initiator, bool raw_udp)
{
	char *sdp = load(file), *sdp2, eb[256] = "";
	struct jsdp *a = jsdp_alloc(), *b = jsdp_alloc(), *c = jsdp_alloc();
	xmpp_stanza_t *w;
	unsigned k = 0;

	decode_ok(a, sdp, by_initiator);
	w = reparse(to_jingle(a, raw_udp));
	if (jsdp_jingle_decode(b, w, eb, sizeof(eb)))
		fail_msg("jingle decode: %s", eb);
	sdp2 = to_sdp(b, by_initiator, NULL, NULL);
	decode_ok(c, sdp2, by_initiator);
	for (unsigned i = 0; i < a->n; i++) {
		if (a->c[i].rejected)
			continue;
		assert_true(k < c->n);
		/* a phone's address as ICE host candidates is not Raw UDP */
		assert_same_content(&a->c[i], &c->c[k],
				    raw_udp || a->c[i].tr != JSDP_TR_RAW);
		k++;
	}
	assert_int_equal(k, c->n);
	mem_deref(sdp2);
	xmpp_stanza_release(w);
	mem_deref(a);
	mem_deref(b);
	mem_deref(c);
	mem_deref(sdp);
}


static void test_chrome_offer(void **state)
{
	char *sdp = load("chrome_offer.sdp");
	struct jsdp *m = jsdp_alloc();
	xmpp_stanza_t *j, *ct, *d, *t, *g;

	decode_ok(m, sdp, true);
	assert_int_equal(m->n, 3);
	assert_pl(&m->c[0].name, "0");
	assert_pl(&m->c[0].media, "audio");
	assert_int_equal(m->c[0].npt, 8);
	{
		static const uint32_t ids[] = {111, 63, 9, 0, 8, 13, 110, 126};
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(m->c[0].pt[i].id, ids[i]);
	}
	assert_pl(&m->c[0].pt[0].name, "opus");
	assert_int_equal(m->c[0].pt[0].clock, 48000);
	assert_int_equal(m->c[0].pt[0].channels, 2);
	assert_int_equal(m->c[0].pt[0].npar, 2);
	assert_pl(&m->c[0].pt[0].par[0].name, "minptime");
	assert_pl(&m->c[0].pt[0].par[0].value, "10");
	assert_pl(&m->c[0].pt[0].fb[0].type, "transport-cc");
	assert_int_equal(m->c[0].ncand, 3);
	assert_int_equal(m->c[0].tr, JSDP_TR_ICE);
	assert_true(m->c[0].rtcp_mux);
	assert_true(m->c[0].extmap_allow_mixed); /* session level */
	assert_int_equal(m->c[0].next, 4);
	assert_int_equal(m->c[1].nsgrp, 1);
	assert_pl(&m->c[1].sgrp[0].semantics, "FID");
	assert_int_equal(m->c[1].sgrp[0].n, 2);
	assert_int_equal(m->c[1].pt[0].nfb, 5);
	assert_pl(&m->c[1].pt[0].fb[4].subtype, "pli");
	assert_true(m->c[2].rejected); /* m=application */
	assert_int_equal(m->ngrp, 1);
	assert_int_equal(m->grp[0].n, 3);

	j = reparse(to_jingle(m, false));
	/* the data channel is no Jingle RTP content; nor in the group */
	assert_null(child(j, "content", "name", "2"));
	ct = child(j, "content", "name", "0");
	assert_string_equal(at(ct, "creator"), "initiator");
	assert_string_equal(at(ct, "senders"), "both");
	d = child(ct, "description", NULL, NULL);
	assert_string_equal(xmpp_stanza_get_ns(d),
			    "urn:xmpp:jingle:apps:rtp:1");
	assert_string_equal(at(d, "media"), "audio");
	assert_string_equal(at(child(d, "payload-type", "id", "111"), "name"),
			    "opus");
	assert_string_equal(
		at(child(d, "payload-type", "id", "111"), "channels"), "2");
	assert_non_null(child(child(d, "payload-type", "id", "111"), "rtcp-fb",
			      "type", "transport-cc"));
	assert_string_equal(at(child(d, "rtp-hdrext", "id", "3"), "uri"),
			    "http://www.ietf.org/id/draft-holmer-rmcat-"
			    "transport-wide-cc-extensions-01");
	assert_non_null(child(d, "rtcp-mux", NULL, NULL));
	assert_string_equal(
		at(child(d, "source", "ssrc", "3570614608"), "xmlns"),
		"urn:xmpp:jingle:apps:rtp:ssma:0");
	t = child(ct, "transport", NULL, NULL);
	assert_string_equal(xmpp_stanza_get_ns(t),
			    "urn:xmpp:jingle:transports:ice-udp:1");
	assert_string_equal(at(t, "ufrag"), "EsAw");
	assert_string_equal(at(t, "pwd"), "bP+XJMM09aR8AiX1jdukzR6Y");
	assert_string_equal(at(child(t, "fingerprint", NULL, NULL), "setup"),
			    "actpass");
	/* candidates in order, every attribute, protocol lower case */
	{
		xmpp_stanza_t *k =
			child(t, "candidate", "foundation", "1563398707");
		assert_string_equal(at(k, "protocol"), "tcp");
		assert_string_equal(at(k, "tcptype"), "active");
		assert_string_equal(at(k, "priority"), "1518280447");
		assert_string_equal(at(k, "network"), "1");
		k = child(t, "candidate", "type", "srflx");
		assert_string_equal(at(k, "rel-addr"), "192.0.2.10");
		assert_string_equal(at(k, "rel-port"), "50327");
		assert_string_equal(at(k, "ip"), "198.51.100.7");
		k = xmpp_stanza_get_children(t);
		while (k && strcmp(xmpp_stanza_get_name(k), "candidate"))
			k = xmpp_stanza_get_next(k);
		assert_string_equal(at(k, "foundation"), "2867532391");
	}
	ct = child(j, "content", "name", "1");
	d = child(ct, "description", NULL, NULL);
	g = child(d, "ssrc-group", "semantics", "FID");
	assert_non_null(g);
	assert_non_null(child(g, "source", "ssrc", "2704126411"));
	g = child(j, "group", "semantics", "BUNDLE");
	assert_string_equal(xmpp_stanza_get_ns(g),
			    "urn:xmpp:jingle:apps:grouping:0");
	assert_non_null(child(g, "content", "name", "0"));
	assert_non_null(child(g, "content", "name", "1"));
	assert_null(child(g, "content", "name", "2"));
	/* content order is the m-line order */
	assert_string_equal(at(child(j, "content", NULL, NULL), "name"), "0");
	xmpp_stanza_release(j);
	mem_deref(m);
	mem_deref(sdp);
	round_trip("chrome_offer.sdp", true, false);
}


static void test_firefox_offer(void **state)
{
	char *sdp = load("firefox_offer.sdp"), *out;
	struct jsdp *m = jsdp_alloc();
	xmpp_stanza_t *j, *d;

	decode_ok(m, sdp, true);
	assert_int_equal(m->n, 2);
	/* session-level fingerprint applies to every m-section */
	assert_pl(&m->c[0].fp_hash, "sha-256");
	assert_pl(&m->c[1].fp_value,
		  "2E:93:9B:8D:6B:7D:4A:6F:1E:3F:1E:5A:2B:12:"
		  "3C:54:3E:4F:00:71:82:93:A4:B5:C6:D7:E8:F9:"
		  "0A:1B:2C:3D");
	/* recvonly written by the initiator: only the responder sends */
	assert_int_equal(m->c[1].senders, JSDP_RESPONDER);
	assert_int_equal(m->c[0].ext[1].senders, JSDP_RESPONDER);
	/* fmtp without a name: a nameless parameter */
	assert_int_equal(m->c[0].pt[4].npar, 1);
	assert_false(pl_isset(&m->c[0].pt[4].par[0].name));
	assert_pl(&m->c[0].pt[4].par[0].value, "0-15");
	assert_int_equal(m->c[0].pt[1].channels, 1);
	/* no candidates yet (trickle): ICE with ufrag/pwd only */
	assert_int_equal(m->c[0].tr, JSDP_TR_ICE);
	assert_int_equal(m->c[0].ncand, 0);

	j = reparse(to_jingle(m, false));
	d = child(child(j, "content", "name", "0"), "description", NULL, NULL);
	{
		xmpp_stanza_t *p = child(child(d, "payload-type", "id", "101"),
					 "parameter", NULL, NULL);
		assert_null(at(p, "name"));
		assert_string_equal(at(p, "value"), "0-15");
	}
	assert_string_equal(at(child(d, "rtp-hdrext", "id", "2"), "senders"),
			    "responder");
	assert_string_equal(at(child(j, "content", "name", "1"), "senders"),
			    "responder");
	xmpp_stanza_release(j);

	out = to_sdp(m, true, NULL, NULL);
	assert_non_null(strstr(out, "a=fmtp:101 0-15\r\n"));
	assert_non_null(strstr(out, "a=extmap:2/recvonly urn:ietf:params:"
				    "rtp-hdrext:csrc-audio-level\r\n"));
	assert_non_null(strstr(out, "a=mid:1\r\na=recvonly\r\n"));
	/* no candidate: the RFC 8840 placeholder address */
	assert_non_null(strstr(out,
			       "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\n"
			       "c=IN IP4 0.0.0.0\r\n"));
	assert_non_null(strstr(out, "a=fmtp:109 maxplaybackrate=48000;stereo=1;"
				    "useinbandfec=1\r\n"));
	mem_deref(out);
	mem_deref(m);
	mem_deref(sdp);
	round_trip("firefox_offer.sdp", true, false);
}


static void test_baresip_offer_without_ice(void **state)
{
	char *sdp = load("baresip_offer.sdp"), *out;
	struct jsdp *m = jsdp_alloc(), *b = jsdp_alloc();
	xmpp_stanza_t *j, *t, *k;
	char eb[128];

	decode_ok(m, sdp, true);
	assert_int_equal(m->c[0].tr, JSDP_TR_RAW);
	assert_pl(&m->c[0].addr, "127.0.0.1"); /* session-level c= */
	assert_int_equal(m->c[0].port, 10000);
	assert_int_equal(m->c[0].rtcp_port, 10001);
	assert_int_equal(m->c[0].pt[0].ptime, 20);
	assert_pl(&m->c[0].name, "audio"); /* no a=mid */

	/* XEP-0177 Raw UDP */
	j = reparse(to_jingle(m, true));
	t = child(child(j, "content", "name", "audio"), "transport", NULL,
		  NULL);
	assert_string_equal(xmpp_stanza_get_ns(t),
			    "urn:xmpp:jingle:transports:raw-udp:1");
	k = child(t, "candidate", "component", "1");
	assert_string_equal(at(k, "ip"), "127.0.0.1");
	assert_string_equal(at(k, "port"), "10000");
	assert_string_equal(at(child(t, "candidate", "component", "2"), "port"),
			    "10001");
	assert_string_equal(at(child(child(child(j, "content", NULL, NULL),
					   "description", NULL, NULL),
				     "payload-type", "id", "96"),
			       "ptime"),
			    "20");
	assert_int_equal(jsdp_jingle_decode(b, j, eb, sizeof(eb)), 0);
	assert_int_equal(b->c[0].tr, JSDP_TR_RAW);
	out = to_sdp(b, true, NULL, NULL);
	assert_non_null(strstr(out, "m=audio 10000 RTP/AVP 96 97 0 8 101\r\n"
				    "c=IN IP4 127.0.0.1\r\n"));
	assert_non_null(strstr(out, "a=ptime:20\r\n"));
	mem_deref(out);
	xmpp_stanza_release(j);

	/* or ICE-UDP with host candidates, for clients without Raw UDP */
	j = reparse(to_jingle(m, false));
	t = child(child(j, "content", "name", "audio"), "transport", NULL,
		  NULL);
	assert_string_equal(xmpp_stanza_get_ns(t),
			    "urn:xmpp:jingle:transports:ice-udp:1");
	k = child(t, "candidate", "component", "1");
	assert_string_equal(at(k, "type"), "host");
	assert_string_equal(at(k, "protocol"), "udp");
	assert_string_equal(at(k, "priority"), "2130706431");
	assert_string_equal(at(k, "port"), "10000");
	assert_string_equal(at(child(t, "candidate", "component", "2"), "port"),
			    "10001");
	xmpp_stanza_release(j);
	mem_deref(b);
	mem_deref(m);
	mem_deref(sdp);
	round_trip("baresip_offer.sdp", true, true);
	round_trip("baresip_offer.sdp", true, false);
}


static void test_asterisk_answer_session_level(void **state)
{
	char *sdp = load("asterisk_answer.sdp");
	struct jsdp *m = jsdp_alloc();
	xmpp_stanza_t *j, *t;

	decode_ok(m, sdp, false); /* the answer of the responder */
	assert_pl(&m->c[0].ufrag, "5c2a7d1b1f0e3a4b");
	assert_pl(&m->c[0].pwd, "2f4c6e8a0b1d3f5a7c9e1b3d5f7a9c1e");
	assert_pl(&m->c[0].fp_hash, "SHA-256");
	assert_pl(&m->c[0].fp_setup, "active");
	assert_int_equal(m->c[0].pt[0].maxptime, 60);
	assert_int_equal(m->c[0].senders, JSDP_BOTH);
	j = reparse(to_jingle(m, false));
	t = child(child(j, "content", "name", "0"), "transport", NULL, NULL);
	assert_string_equal(at(t, "ufrag"), "5c2a7d1b1f0e3a4b");
	assert_string_equal(at(child(t, "fingerprint", NULL, NULL), "setup"),
			    "active");
	assert_string_equal(
		at(child(t, "candidate", "component", "2"), "protocol"), "udp");
	xmpp_stanza_release(j);
	mem_deref(m);
	mem_deref(sdp);
	round_trip("asterisk_answer.sdp", false, false);
}


static void test_plain_pcmu_phone(void **state)
{
	char *sdp = load("pcmu_phone.sdp");
	struct jsdp *m = jsdp_alloc();
	xmpp_stanza_t *j, *p;

	decode_ok(m, sdp, true);
	/* static payload type without rtpmap; missing direction = sendrecv */
	assert_pl(&m->c[0].pt[0].name, "PCMU");
	assert_int_equal(m->c[0].pt[0].clock, 8000);
	assert_int_equal(m->c[0].senders, JSDP_BOTH);
	j = reparse(to_jingle(m, true));
	p = child(child(child(j, "content", NULL, NULL), "description", NULL,
			NULL),
		  "payload-type", "id", "0");
	assert_string_equal(at(p, "name"), "PCMU");
	assert_string_equal(at(p, "clockrate"), "8000");
	assert_null(at(p, "channels"));
	assert_string_equal(at(child(child(child(j, "content", NULL, NULL),
					   "transport", NULL, NULL),
				     "candidate", "component", "1"),
			       "ip"),
			    "192.0.2.44");
	xmpp_stanza_release(j);
	mem_deref(m);
	mem_deref(sdp);
	round_trip("pcmu_phone.sdp", true, true);
}


#define SDES_AVP                                                               \
	"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\n"     \
	"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"                                  \
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "                                  \
	"inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32\r\n"

/* SDES offered but not required: RTP/AVP with a=crypto (best-effort
 * SRTP) <-> <encryption/> without required, both ways. */
static void test_sdes_optional(void **state)
{
	struct jsdp *m = jsdp_alloc(), *b = jsdp_alloc();
	xmpp_stanza_t *j, *e;
	char *out, eb[128];

	decode_ok(m, SDES_AVP, false);
	assert_int_equal(m->c[0].ncrypto, 1);
	assert_false(m->c[0].crypto_required);
	j = reparse(to_jingle(m, false));
	e = child(child(child(j, "content", NULL, NULL), "description", NULL,
			NULL),
		  "encryption", NULL, NULL);
	assert_non_null(e);
	assert_null(xmpp_stanza_get_attribute(e, "required"));
	assert_string_equal(at(child(e, "crypto", "tag", "1"), "key-params"),
			    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
			    "|2^20|1:32");
	assert_int_equal(jsdp_jingle_decode(b, j, eb, sizeof(eb)), 0);
	assert_false(b->c[0].crypto_required);
	out = to_sdp(b, false, NULL, NULL);
	assert_non_null(strstr(out, "m=audio 4000 RTP/AVP 0\r\n"));
	assert_non_null(strstr(out, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "));
	mem_deref(out);
	xmpp_stanza_release(j);
	mem_deref(b);
	mem_deref(m);
}


/* Jingle -> SDP: required='true'/'1' makes RTP/SAVP, else RTP/AVP. */
static void test_sdes_required_from_jingle(void **state)
{
	static const struct {
		const char *req;
		const char *mline;
	} v[] = {
		{" required='true'", "m=audio 9 RTP/SAVP 0\r\n"},
		{" required='1'", "m=audio 9 RTP/SAVP 0\r\n"},
		{" required='false'", "m=audio 9 RTP/AVP 0\r\n"},
		{"", "m=audio 9 RTP/AVP 0\r\n"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct jsdp *m = jsdp_alloc();
		char xml[1024], eb[128], *out;
		xmpp_stanza_t *j;

		snprintf(xml, sizeof(xml),
			 "<jingle xmlns='urn:xmpp:jingle:1'><content "
			 "creator='initiator' name='a'><description "
			 "xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"
			 "<payload-type id='0' name='PCMU' clockrate='8000'/>"
			 "<encryption%s><crypto tag='1' "
			 "crypto-suite='AES_CM_128_HMAC_SHA1_32' "
			 "key-params='inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJS"
			 "hpX1Zj'/></encryption></description></content>"
			 "</jingle>",
			 v[i].req);
		j = xmpp_stanza_new_from_string(ctx, xml);
		assert_non_null(j);
		assert_int_equal(jsdp_jingle_decode(m, j, eb, sizeof(eb)), 0);
		out = to_sdp(m, true, NULL, NULL);
		if (!strstr(out, v[i].mline))
			fail_msg("%s: no %s in\n%s", v[i].req, v[i].mline, out);
		assert_non_null(strstr(out,
				       "a=crypto:1 AES_CM_128_HMAC_SHA1_32 "
				       "inline:NzB4d1BINUAvLEw6UzF3WSJ+"
				       "PSdFcGdUJShpX1Zj\r\n"));
		mem_deref(out);
		xmpp_stanza_release(j);
		mem_deref(m);
	}
}


static void test_sdes_crypto(void **state)
{
	char *sdp = load("sdes_phone.sdp"), *out;
	struct jsdp *m = jsdp_alloc(), *b = jsdp_alloc();
	xmpp_stanza_t *j, *e;
	char eb[128];

	decode_ok(m, sdp, true);
	assert_int_equal(m->c[0].ncrypto, 2);
	assert_int_equal(m->c[0].senders, JSDP_INITIATOR); /* sendonly */
	assert_int_equal(m->c[0].rtcp_port, 40377);
	j = reparse(to_jingle(m, true));
	e = child(child(child(j, "content", NULL, NULL), "description", NULL,
			NULL),
		  "encryption", NULL, NULL);
	assert_string_equal(at(child(e, "crypto", "tag", "1"), "crypto-suite"),
			    "AES_CM_128_HMAC_SHA1_80");
	assert_string_equal(
		at(child(e, "crypto", "tag", "2"), "session-params"),
		"UNENCRYPTED_SRTCP");
	assert_int_equal(jsdp_jingle_decode(b, j, eb, sizeof(eb)), 0);
	out = to_sdp(b, true, NULL, NULL);
	assert_non_null(strstr(out, "m=audio 40376 RTP/SAVP 8 0 101\r\n"));
	assert_non_null(strstr(out, "a=rtcp:40377\r\n"));
	assert_non_null(strstr(out, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
				    "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
				    "|2^20|1:32\r\n"));
	assert_non_null(strstr(out, "a=sendonly\r\n"));
	/* RTP/SAVP: the keys are required (XEP-0167 7) */
	assert_true(m->c[0].crypto_required);
	assert_true(b->c[0].crypto_required);
	assert_string_equal(at(e, "required"), "1");
	mem_deref(out);
	xmpp_stanza_release(j);
	mem_deref(b);
	mem_deref(m);
	mem_deref(sdp);
	round_trip("sdes_phone.sdp", true, false);
}


/* RFC 3264 6.1: directions are the author's; Jingle senders are absolute. */
static void test_senders_perspective(void **state)
{
	static const char *answer = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
				    "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
				    "c=IN IP4 1.2.3.4\r\na=sendonly\r\n";
	struct jsdp *m = jsdp_alloc();
	char *out;

	decode_ok(m, answer, false);
	assert_int_equal(m->c[0].senders, JSDP_RESPONDER);
	decode_ok(m, answer, true);
	assert_int_equal(m->c[0].senders, JSDP_INITIATOR);

	m->c[0].senders = JSDP_INITIATOR;
	out = to_sdp(m, false, NULL, NULL); /* written for the responder */
	assert_non_null(strstr(out, "a=recvonly\r\n"));
	mem_deref(out);
	out = to_sdp(m, true, NULL, NULL);
	assert_non_null(strstr(out, "a=sendonly\r\n"));
	mem_deref(out);
	m->c[0].senders = JSDP_NONE;
	out = to_sdp(m, false, NULL, NULL);
	assert_non_null(strstr(out, "a=inactive\r\n"));
	mem_deref(out);
	mem_deref(m);
}


/* A session-accept written in another order, without the data channel:
 * the SDP answer mirrors the offer, refused streams get port 0. */
static void test_answer_mirrors_offer(void **state)
{
	char *sdp = load("chrome_offer.sdp"), *out, eb[128];
	struct jsdp *offer = jsdp_alloc(), *acc = jsdp_alloc();
	const char *xml =
		"<jingle xmlns='urn:xmpp:jingle:1' action='session-accept'>"
		"<content creator='initiator' name='1' senders='initiator'>"
		"<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>"
		"<payload-type id='96' name='VP8' clockrate='90000'/>"
		"</description>"
		"<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "
		"ufrag='ab' pwd='cdefghijklmnopqrstuvwx'>"
		"<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' "
		"hash='sha-256'"
		" setup='active'>AA:BB</fingerprint>"
		"<candidate component='1' foundation='1' generation='0' id='x1'"
		" ip='10.0.0.1' network='0' port='7000' priority='2130706431'"
		" protocol='udp' type='host'/>"
		"</transport></content>"
		"<content creator='initiator' name='0'>"
		"<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"
		"<payload-type id='111' name='opus' clockrate='48000' "
		"channels='2'>"
		"<parameter name='useinbandfec' value='1'/></payload-type>"
		"</description>"
		"<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "
		"ufrag='ab' pwd='cdefghijklmnopqrstuvwx'>"
		"<candidate component='1' foundation='1' generation='0' id='x2'"
		" ip='10.0.0.1' network='0' port='7002' priority='2130706431'"
		" protocol='udp' type='host'/>"
		"<candidate component='1' foundation='2' generation='0' id='x3'"
		" ip='10.0.0.9' network='0' port='7004' priority='1686052607'"
		" protocol='udp' type='srflx' rel-addr='10.0.0.1' "
		"rel-port='7002'/>"
		"</transport></content></jingle>";
	xmpp_stanza_t *j = xmpp_stanza_new_from_string(ctx, xml);
	const char *a, *v, *d;

	decode_ok(offer, sdp, true);
	assert_int_equal(jsdp_jingle_decode(acc, j, eb, sizeof(eb)), 0);
	out = to_sdp(acc, false, offer, NULL);
	a = strstr(out, "m=audio ");
	v = strstr(out, "m=video ");
	d = strstr(out, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n");
	assert_non_null(a);
	assert_non_null(v);
	assert_non_null(d);
	assert_true(a < v && v < d);
	/* the default candidate: srflx before host */
	assert_non_null(strstr(out, "m=audio 7004 UDP/TLS/RTP/SAVPF 111\r\n"
				    "c=IN IP4 10.0.0.9\r\n"));
	/* senders=initiator in the responder's answer: it only receives */
	assert_non_null(strstr(v, "a=recvonly\r\n"));
	assert_non_null(strstr(out, "a=candidate:2 1 udp 1686052607 10.0.0.9 "
				    "7004 typ srflx raddr 10.0.0.1 rport 7002 "
				    "generation 0 network-id 0\r\n"));
	assert_non_null(strstr(out, "a=setup:active\r\n"));
	mem_deref(out);
	xmpp_stanza_release(j);
	mem_deref(acc);
	mem_deref(offer);
	mem_deref(sdp);
}


static void test_jingle_action_and_static_fb(void **state)
{
	static const char *sdp =
		"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
		"a=jingle-action:source-add\r\n"
		"m=video 5000 RTP/AVPF 96\r\nc=IN IP4 1.2.3.4\r\n"
		"a=rtpmap:96 VP8/90000\r\na=rtcp-fb:* nack\r\n"
		"a=rtcp-fb:96 ccm tmmbr smaxpr=120\r\n";
	struct jsdp *m = jsdp_alloc(), *b = jsdp_alloc();
	xmpp_stanza_t *j, *d;
	char *out, eb[128];

	decode_ok(m, sdp, true);
	assert_pl(&m->action, "source-add");
	assert_int_equal(m->c[0].nfb_all, 1);
	assert_pl(&m->c[0].pt[0].fb[0].subtype, "tmmbr smaxpr=120");
	j = reparse(to_jingle(m, true));
	d = child(child(j, "content", NULL, NULL), "description", NULL, NULL);
	assert_string_equal(at(child(d, "rtcp-fb", NULL, NULL), "type"),
			    "nack");
	assert_int_equal(jsdp_jingle_decode(b, j, eb, sizeof(eb)), 0);
	out = to_sdp(b, true, NULL, "source-add");
	assert_non_null(strstr(out, "t=0 0\r\na=jingle-action:source-add\r\n"));
	assert_non_null(strstr(out, "a=rtcp-fb:* nack\r\n"));
	assert_non_null(strstr(out, "a=rtcp-fb:96 ccm tmmbr smaxpr=120\r\n"));
	mem_deref(out);
	xmpp_stanza_release(j);
	mem_deref(b);
	mem_deref(m);
}


static void expect_sdp_error(const char *sdp, int err, const char *why)
{
	struct jsdp *m = jsdp_alloc();
	char eb[256] = "";

	assert_int_equal(decode(m, sdp, true, eb, sizeof(eb)), err);
	if (!strstr(eb, why))
		fail_msg("'%s' does not say '%s'", eb, why);
	mem_deref(m);
}


static void test_bad_sdp(void **state)
{
	struct mbuf *mb = mbuf_alloc(8192);
	char *big;

	expect_sdp_error("", EBADMSG, "empty SDP");
	expect_sdp_error("v=1\r\n", EBADMSG, "line 1: SDP must start v=0");
	expect_sdp_error("v=0\r\nhello\r\n", EBADMSG,
			 "line 2: not <type>=<value>");
	expect_sdp_error("v=0\r\nm=audio x RTP/AVP 0\r\n", EBADMSG, "bad port");
	expect_sdp_error("v=0\r\nm=audio 1\r\n", EBADMSG,
			 "m= needs media, port, proto");
	expect_sdp_error("v=0\r\nm=audio 1 RTP/AVP\r\n", EBADMSG,
			 "m= without formats");
	expect_sdp_error("v=0\r\nm=audio 1 RTP/AVP 0 x\r\n", EBADMSG,
			 "not a payload type");
	expect_sdp_error("v=0\r\nm=audio 1 RTP/AVP 128\r\n", EBADMSG,
			 "not a payload type");
	expect_sdp_error("v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/x\r\n",
			 EBADMSG, "line 3: malformed a=rtpmap");
	expect_sdp_error(
		"v=0\r\nm=audio 1 RTP/AVP 0\r\na=candidate:1 1 udp\r\n",
		EBADMSG, "malformed a=candidate");
	expect_sdp_error("v=0\r\nm=audio 1 RTP/AVP 0\r\n"
			 "a=candidate:1 1 udp 9 1.2.3.4 99999 typ host\r\n",
			 EBADMSG, "bad number in a=candidate");
	expect_sdp_error("v=0\r\nm=audio 1 RTP/AVP 0\r\na=extmap:0 urn:x\r\n",
			 EBADMSG, "bad id in a=extmap");
	expect_sdp_error(
		"v=0\r\nm=audio 1 RTP/AVP 0\r\na=extmap:1/up urn:x\r\n",
		EBADMSG, "bad direction in a=extmap");
	expect_sdp_error("v=0\r\nc=IN IP9 x\r\n", EBADMSG, "malformed c=");
	expect_sdp_error("v=0\r\na=fingerprint:sha-256\r\n", EBADMSG,
			 "line 2: malformed a=fingerprint");
	/* bounds are refused, never truncated */
	mbuf_write_str(mb, "v=0\r\nm=audio 1 RTP/AVP");
	for (int i = 0; i <= JSDP_MAX_PAYLOADS; i++)
		mbuf_printf(mb, " %d", 50 + i);
	mbuf_write_str(mb, "\r\n");
	mbuf_set_pos(mb, 0);
	assert_int_equal(mbuf_strdup(mb, &big, mb->end), 0);
	expect_sdp_error(big, EOVERFLOW, "too many payload types");
	mem_deref(big);
	mbuf_rewind(mb);
	mbuf_write_str(mb, "v=0\r\n");
	for (int i = 0; i <= JSDP_MAX_CONTENTS; i++)
		mbuf_write_str(mb, "m=audio 1 RTP/AVP 0\r\n");
	mbuf_set_pos(mb, 0);
	assert_int_equal(mbuf_strdup(mb, &big, mb->end), 0);
	expect_sdp_error(big, EOVERFLOW, "too many m= lines");
	mem_deref(big);
	mem_deref(mb);
}


static void expect_jingle_error(const char *body, int err, const char *why)
{
	struct jsdp *m = jsdp_alloc();
	char xml[4096], eb[256] = "";
	xmpp_stanza_t *j;

	snprintf(xml, sizeof(xml),
		 "<jingle xmlns='urn:xmpp:jingle:1'>%s</jingle>", body);
	j = xmpp_stanza_new_from_string(ctx, xml);
	assert_non_null(j);
	assert_int_equal(jsdp_jingle_decode(m, j, eb, sizeof(eb)), err);
	if (!strstr(eb, why))
		fail_msg("'%s' does not say '%s'", eb, why);
	xmpp_stanza_release(j);
	mem_deref(m);
}


#define RTP "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"
#define CT  "<content creator='initiator' name='a'"
#define ICE "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'"
#define PCMU                                                                   \
	RTP "<payload-type id='0' name='PCMU' "                                \
	    "clockrate='8000'/></description>"
/* an ICE host candidate with attributes before and after the hole */
#define CAND(a) "<candidate component='1' foundation='1' " a " />"
#define HOST    "priority='2130706431' protocol='udp' type='host'"

static void test_bad_jingle(void **state)
{
	expect_jingle_error("<content creator='initiator'/>", EBADMSG,
			    "without name");
	expect_jingle_error(CT " senders='sideways'/>", EBADMSG,
			    "bad senders 'sideways'");
	expect_jingle_error("<content name='a' creator='nobody'/>", EBADMSG,
			    "bad creator");
	expect_jingle_error(CT ">" PCMU "</content>" CT ">" PCMU "</content>",
			    EBADMSG, "content 'a' twice");
	expect_jingle_error(CT ">" RTP "<payload-type id='300' name='x'/>"
			       "</description></content>",
			    EBADMSG, "bad <payload-type/>");
	expect_jingle_error(CT ">" RTP "<payload-type name='x'/></description>"
			       "</content>",
			    EBADMSG, "bad <payload-type/>");
	expect_jingle_error(CT "><description "
			       "xmlns='urn:xmpp:jingle:apps:rtp:1'/></content>",
			    EBADMSG, "without media");
	expect_jingle_error(
		CT ">" RTP "</description>"
		   "<transport xmlns='urn:xmpp:jingle:transports:s5b:1'/>"
		   "</content>",
		EBADMSG, "unsupported transport");
	expect_jingle_error(CT ">" RTP "</description>" ICE ">"
			       "<candidate component='1' ip='1.2.3.4'/>"
			       "</transport></content>",
			    EBADMSG, "needs component, ip, port");
	expect_jingle_error(CT
			    ">" RTP "</description>" ICE ">"
			    "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' "
			    "hash='sha-256'/></transport></content>",
			    EBADMSG, "<fingerprint/> needs hash and value");
	expect_jingle_error("<group xmlns='urn:xmpp:jingle:apps:grouping:0'/>",
			    EBADMSG, "without semantics");
}


/* Issue 9 point 2c: every Jingle the SDP could not say is refused, with a
 * reason for the <bad-request/> text. */
static void test_malformed_jingle(void **state)
{
	/* a content that says nothing; one that says a thing twice */
	expect_jingle_error(CT "/>", EBADMSG,
			    "<content/> without <description/> and "
			    "<transport/>");
	expect_jingle_error(CT " senders='both'><foo xmlns='x'/></content>",
			    EBADMSG, "without <description/> and <transport/>");
	expect_jingle_error(CT ">" PCMU PCMU "</content>", EBADMSG,
			    "<content/> with two <description/>");
	expect_jingle_error(CT ">" PCMU ICE "/>" ICE "/></content>", EBADMSG,
			    "<content/> with two <transport/>");
	/* XEP-0166 7.2: creator is required (but in jingle.js's source-*) */
	expect_jingle_error("<content name='a'>" PCMU "</content>", EBADMSG,
			    "<content/> without creator");
	/* RFC 3551 6: a dynamic payload type needs its name and rate */
	expect_jingle_error(CT ">" RTP "<payload-type id='96' name='VP8'/>"
			       "</description></content>",
			    EBADMSG,
			    "<payload-type/> 96 needs name and clockrate");
	expect_jingle_error(CT ">" RTP "<payload-type id='101' "
			       "clockrate='8000'/></description></content>",
			    EBADMSG, "<payload-type/> 101 needs name");
	/* numbers: empty, signed, not decimal, too large */
	expect_jingle_error(CT ">" RTP "<payload-type id=''/></description>"
			       "</content>",
			    EBADMSG, "bad <payload-type/>");
	expect_jingle_error(CT ">" RTP
			       "<payload-type id='0' clockrate='-8000'/>"
			       "</description></content>",
			    EBADMSG, "bad <payload-type/>");
	expect_jingle_error(
		CT
		">" PCMU ICE
		">" CAND("ip='1.2.3.4' port='' " HOST) "</transport></content>",
		EBADMSG, "needs component, ip, port");
	expect_jingle_error(
		CT ">" PCMU ICE
		   ">" CAND("ip='1.2.3.4' port='0x10' " HOST) "</transport></"
							      "content>",
		EBADMSG, "needs component, ip, port");
	expect_jingle_error(CT ">" PCMU ICE ">"
			       "<candidate component='1' foundation='1' "
			       "ip='1.2.3.4' port='1' priority='4294967296' "
			       "protocol='udp' type='host'/>"
			       "</transport></content>",
			    EBADMSG, "bad number in <candidate/>");
	expect_jingle_error(CT ">" RTP "<source "
			       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' "
			       "ssrc='1 2'/></description></content>",
			    EBADMSG, "<source/> without a valid ssrc");
	/* values that are not among those defined */
	expect_jingle_error(CT ">" PCMU ICE ">"
			       "<candidate component='1' foundation='1' "
			       "ip='1.2.3.4' port='1' priority='1' "
			       "protocol='sctp' type='host'/>"
			       "</transport></content>",
			    EBADMSG, "unknown protocol, type or tcptype");
	expect_jingle_error(CT ">" PCMU ICE ">"
			       "<candidate component='1' foundation='1' "
			       "ip='1.2.3.4' port='1' priority='1' "
			       "protocol='udp' type='local'/>"
			       "</transport></content>",
			    EBADMSG, "unknown protocol, type or tcptype");
	expect_jingle_error(CT
			    ">" PCMU ICE ">"
			    "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' "
			    "hash='sha-256' setup='both'>AA:BB</fingerprint>"
			    "</transport></content>",
			    EBADMSG, "<fingerprint/> of unknown setup 'both'");
	expect_jingle_error(CT ">" RTP "<source "
			       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' "
			       "ssrc='1'><parameter value='x'/></source>"
			       "</description></content>",
			    EBADMSG, "<parameter/> without name");
	expect_jingle_error(CT ">" PCMU "</content>"
			       "<group xmlns='urn:xmpp:jingle:apps:grouping:0' "
			       "semantics='BUNDLE'><content name='a'/>"
			       "<content name='b'/></group>",
			    EBADMSG, "<group/> names no <content/>");
	/* an echoed value is printable ASCII in the reason */
	expect_jingle_error(CT " senders='x&#13;&#10;y'/>", EBADMSG,
			    "bad senders 'x??y'");
}


/* F13: a Jingle value with CR/LF (or another control byte, or a space in a
 * token) never reaches the SDP: the decoder refuses it, naming the field. */
static void test_jingle_values_cannot_add_sdp_lines(void **state)
{
	struct jsdp *m = jsdp_alloc();
	char eb[256];
	xmpp_stanza_t *j;

	expect_jingle_error(CT ">" PCMU ICE
			       " ufrag='ab&#13;&#10;a=injected:line'"
			       " pwd='cdefghijklmnopqrstuvwx'/></content>",
			    EBADMSG, "<content/> 1: ice-ufrag: space, control");
	expect_jingle_error(CT ">" PCMU ICE " ufrag='abcd' "
			       "pwd='cdefghijklmnopqrstuvw&#10;x'/></content>",
			    EBADMSG, "<content/> 1: ice-pwd:");
	expect_jingle_error(CT ">" PCMU ICE ">" CAND(
				    "ip='1.2.3.4&#13;&#10;c=IN IP4 6.6.6.6' "
				    "port='1' " HOST) "</transport></content>",
			    EBADMSG, "<content/> 1: candidate ip:");
	expect_jingle_error(CT ">" PCMU
			       "<transport xmlns='urn:xmpp:jingle:transports:"
			       "raw-udp:1'><candidate component='1' id='x' "
			       "generation='0' ip='1.2.3.4&#10;a=x' port='1'/>"
			       "</transport></content>",
			    EBADMSG, "<content/> 1: address:");
	expect_jingle_error(
		CT ">" PCMU ICE
		   ">" CAND("ip='1.2.3.4' port='1' "
			    "priority='1' protocol='udp' type='host' "
			    "rel-addr='1.1.1.1 x'") "</transport></content>",
		EBADMSG, "candidate rel-addr:");
	expect_jingle_error(CT ">" PCMU ICE ">"
			       "<candidate component='1' foundation='1&#9;2' "
			       "ip='1.2.3.4' port='1' " HOST "/>"
			       "</transport></content>",
			    EBADMSG, "candidate foundation:");
	expect_jingle_error("<content creator='initiator' name='a b'>" PCMU
			    "</content>",
			    EBADMSG, "<content/> 1: name (mid):");
	expect_jingle_error(CT "><description "
			       "xmlns='urn:xmpp:jingle:apps:rtp:1' "
			       "media='audio&#10;'/></content>",
			    EBADMSG, "<content/> 1: media:");
	expect_jingle_error(CT ">" RTP "<payload-type id='96' "
			       "name='opus&#13;&#10;a=x' clockrate='48000'/>"
			       "</description></content>",
			    EBADMSG, "payload name:");
	expect_jingle_error(CT ">" RTP "<payload-type id='0'><parameter "
			       "name='a' value='1&#13;&#10;a=x:y'/>"
			       "</payload-type></description></content>",
			    EBADMSG, "parameter value: control character");
	expect_jingle_error(CT ">" RTP "<payload-type id='0'><parameter "
			       "name='a b' value='1'/>"
			       "</payload-type></description></content>",
			    EBADMSG, "parameter name:");
	expect_jingle_error(CT ">" RTP "<payload-type id='0'><rtcp-fb "
			       "xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' "
			       "type='nack' subtype='pli&#10;'/></payload-type>"
			       "</description></content>",
			    EBADMSG, "rtcp-fb subtype:");
	expect_jingle_error(CT ">" RTP "<rtp-hdrext "
			       "xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' "
			       "id='1' uri='urn:x y'/></description></content>",
			    EBADMSG, "rtp-hdrext uri:");
	expect_jingle_error(CT ">" RTP "<source "
			       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' "
			       "ssrc='1'><parameter name='cname' "
			       "value='x&#13;&#10;a=y'/></source>"
			       "</description></content>",
			    EBADMSG, "ssrc attribute value:");
	expect_jingle_error(CT ">" RTP "<encryption><crypto tag='1' "
			       "crypto-suite='AES_CM_128_HMAC_SHA1_80' "
			       "key-params='inline:abc&#10;a=x'/></encryption>"
			       "</description></content>",
			    EBADMSG, "crypto key-params:");
	expect_jingle_error(CT
			    ">" PCMU ICE ">"
			    "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' "
			    "hash='sha-256'>AA:BB&#10;a=x</fingerprint>"
			    "</transport></content>",
			    EBADMSG, "fingerprint:");
	expect_jingle_error(CT ">" PCMU "</content>"
			       "<group xmlns='urn:xmpp:jingle:apps:grouping:0' "
			       "semantics='BUNDLE&#10;a=x'><content name='a'/>"
			       "</group>",
			    EBADMSG, "group semantics:");

	/* jingle.js writes source-add contents without creator */
	j = xmpp_stanza_new_from_string(
		ctx, "<jingle xmlns='urn:xmpp:jingle:1' action='source-add'>"
		     "<content name='a'>" PCMU "</content></jingle>");
	assert_non_null(j);
	assert_int_equal(jsdp_jingle_decode(m, j, eb, sizeof(eb)), 0);
	assert_false(m->c[0].creator_responder);
	xmpp_stanza_release(j);

	/* what may hold spaces holds them; a fingerprint on its own line
	 * is the same fingerprint */
	j = xmpp_stanza_new_from_string(
		ctx, "<jingle xmlns='urn:xmpp:jingle:1'>" CT ">" RTP
		     "<payload-type id='0'/><source "
		     "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1'>"
		     "<parameter name='msid' value='stream track'/></source>"
		     "</description>" ICE "><fingerprint "
		     "xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256'>\n"
		     "  AA:BB\n</fingerprint></transport></content></jingle>");
	assert_non_null(j);
	assert_int_equal(jsdp_jingle_decode(m, j, eb, sizeof(eb)), 0);
	assert_pl(&m->c[0].src[0].par[0].value, "stream track");
	assert_pl(&m->c[0].fp_value, "AA:BB");
	xmpp_stanza_release(j);
	mem_deref(m);
}


/* SDP with length (NUL bytes included) */
static void expect_sdp_bytes_error(const char *sdp, size_t len, const char *why)
{
	struct jsdp *m = jsdp_alloc();
	struct pl pl = {sdp, len};
	char eb[256] = "";

	assert_int_equal(jsdp_sdp_decode(m, &pl, true, eb, sizeof(eb)),
			 EBADMSG);
	if (!strstr(eb, why))
		fail_msg("'%s' does not say '%s'", eb, why);
	mem_deref(m);
}

#define SDP_HEAD                                                               \
	"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"                    \
	"m=audio 4000 RTP/AVP 0 96\r\nc=IN IP4 1.2.3.4\r\n"                    \
	"a=rtpmap:96 opus/48000/2\r\n"
#define SDP_BAD(line, why)                                                     \
	expect_sdp_bytes_error(SDP_HEAD line "\r\n",                           \
			       sizeof(SDP_HEAD line "\r\n") - 1, why)

/* Issue 9 point 2b: an SDP value the Jingle would carry that XML cannot
 * (invalid UTF-8, NUL, control characters) or a token with a space is an
 * error of the decoder, naming the m-line and the field. */
static void test_sdp_values_xml_cannot_carry(void **state)
{
	static const char ok[] = SDP_HEAD "a=ssrc:1 cname:caf\xc3\xa9\r\n"
					  "a=ssrc:1 msid:stream track\r\n";
	struct jsdp *m = jsdp_alloc();
	xmpp_stanza_t *j;

	SDP_BAD("a=rtpmap:0 PC\xffMU/8000", "SDP m-line 1: payload name:");
	SDP_BAD("a=rtpmap:0 PC\x01MU/8000", "SDP m-line 1: payload name:");
	SDP_BAD("a=fmtp:96 useinbandfec=\xc3\x28", "parameter value:");
	SDP_BAD("a=fmtp:96 a\x7f=1", "parameter name:");
	SDP_BAD("a=ice-ufrag:ab\x1b[2Jcd", "ice-ufrag:");
	SDP_BAD("a=ice-pwd:abcd\refgh", "ice-pwd:");
	SDP_BAD("a=candidate:1\x02 1 udp 1 1.2.3.4 1 typ host",
		"candidate foundation:");
	SDP_BAD("a=candidate:1 1 udp 1 1.2.3.\x80 1 typ host", "candidate ip:");
	SDP_BAD("a=candidate:1 1 udp 1 1.2.3.4 1 typ ho\x7fst",
		"candidate type:");
	SDP_BAD("a=fingerprint:sha-256 AA:\xc0\xaf"
		"BB",
		"fingerprint:");
	SDP_BAD("a=ssrc:1 cname:\xed\xa0\x80", "ssrc attribute value:");
	SDP_BAD("a=ssrc:1 cname:\xef\xbf\xbf", "ssrc attribute value:");
	SDP_BAD("a=ssrc:1 cname:\xc2\x85", "ssrc attribute value:");
	SDP_BAD("a=ssrc:1 cname:\xf0\x82\x82\xac", "ssrc attribute value:");
	SDP_BAD("a=ssrc:1 cn\xc3\xa9:x", "ssrc attribute name:");
	SDP_BAD("a=mid:a b", "name (mid):");
	SDP_BAD("a=rtcp-fb:96 nack p\x0bli", "rtcp-fb subtype:");
	SDP_BAD("a=extmap:1 urn:\xe2\x82", "rtp-hdrext uri:");
	SDP_BAD("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:a\x01",
		"crypto key-params:");
	/* NUL: an SDP is not a C string */
	SDP_BAD("a=ice-ufrag:ab\0cd", "ice-ufrag:");
	expect_sdp_bytes_error("v=0\r\nc=IN IP4 1.2.3.4\0\r\n"
			       "m=audio 1 RTP/AVP 0\r\n",
			       sizeof("v=0\r\nc=IN IP4 1.2.3.4\0\r\n"
				      "m=audio 1 RTP/AVP 0\r\n") -
				       1,
			       "address:");
	expect_sdp_bytes_error("v=0\r\na=group:BUNDLE a\x01\r\n", 22,
			       "group member:");

	/* UTF-8 and spaces where SDP allows them go through */
	decode_ok(m, ok, true);
	assert_pl(&m->c[0].src[0].par[0].value, "caf\xc3\xa9");
	assert_pl(&m->c[0].src[0].par[1].value, "stream track");
	j = reparse(to_jingle(m, false));
	xmpp_stanza_release(j);
	mem_deref(m);
}


/* sip.sdp_origin: the o= address, and c= where the Jingle gives none (no
 * transport, Raw UDP without candidate); an ICE transport without
 * candidate yet is 0.0.0.0 (RFC 8840). */
static void test_origin_in_o_and_c(void **state)
{
	struct jsdp_sdp_opts o = {.author_is_initiator = true,
				  .origin = "192.0.2.7",
				  .sess_id = 42,
				  .sess_version = 1};
	struct jsdp *m = jsdp_alloc();
	struct mbuf *mb = mbuf_alloc(1024);
	char eb[256] = "", *out;
	xmpp_stanza_t *j = xmpp_stanza_new_from_string(
		ctx, "<jingle xmlns='urn:xmpp:jingle:1'>" CT ">" PCMU
		     "</content><content creator='initiator' name='b'>" PCMU ICE
		     " ufrag='abcd' pwd='cdefghijklmnopqrstuvwx'/>"
		     "</content><content creator='initiator' name='c'>" PCMU
		     "<transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'/>"
		     "</content></jingle>");

	assert_int_equal(jsdp_jingle_decode(m, j, eb, sizeof(eb)), 0);
	assert_int_equal(jsdp_sdp_encode(mb, m, &o), 0);
	mbuf_set_pos(mb, 0);
	assert_int_equal(mbuf_strdup(mb, &out, mb->end), 0);
	assert_non_null(strstr(out, "\r\no=- 42 1 IN IP4 192.0.2.7\r\n"));
	assert_non_null(strstr(out, "m=audio 9 RTP/AVP 0\r\n"
				    "c=IN IP4 192.0.2.7\r\na=mid:a\r\n"));
	assert_non_null(strstr(out, "c=IN IP4 0.0.0.0\r\na=mid:b\r\n"));
	/* Raw UDP without a candidate yet: not a refused stream (port 0) */
	assert_non_null(strstr(out, "m=audio 9 RTP/AVP 0\r\n"
				    "c=IN IP4 192.0.2.7\r\na=mid:c\r\n"));
	mem_deref(out);
	mbuf_rewind(mb);
	o.origin = "2001:db8::7";
	assert_int_equal(jsdp_sdp_encode(mb, m, &o), 0);
	mbuf_set_pos(mb, 0);
	assert_int_equal(mbuf_strdup(mb, &out, mb->end), 0);
	assert_non_null(strstr(out, "\r\no=- 42 1 IN IP6 2001:db8::7\r\n"));
	assert_non_null(strstr(out, "c=IN IP6 2001:db8::7\r\na=mid:a\r\n"));
	mem_deref(out);
	mem_deref(mb);
	xmpp_stanza_release(j);
	mem_deref(m);
}


/* A data channel content in Jingle: refused, port 0 in the SDP answer. */
static void test_non_rtp_content_rejected(void **state)
{
	static const char *sdp = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n"
				 "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
				 "c=IN IP4 1.2.3.4\r\n"
				 "m=application 4002 UDP/DTLS/SCTP "
				 "webrtc-datachannel\r\na=mid:dc\r\n";
	struct jsdp *offer = jsdp_alloc(), *m = jsdp_alloc();
	char *out;

	decode_ok(offer, sdp, true);
	assert_true(offer->c[1].rejected);
	decode_ok(m, sdp, false);
	out = to_sdp(m, false, offer, NULL);
	assert_non_null(strstr(out, "m=audio 4000 RTP/AVP 0\r\n"));
	assert_non_null(strstr(out, "m=application 0 UDP/DTLS/SCTP "
				    "webrtc-datachannel\r\na=mid:dc\r\n"));
	mem_deref(out);
	mem_deref(m);
	mem_deref(offer);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chrome_offer),
		cmocka_unit_test(test_firefox_offer),
		cmocka_unit_test(test_baresip_offer_without_ice),
		cmocka_unit_test(test_asterisk_answer_session_level),
		cmocka_unit_test(test_plain_pcmu_phone),
		cmocka_unit_test(test_sdes_crypto),
		cmocka_unit_test(test_sdes_optional),
		cmocka_unit_test(test_sdes_required_from_jingle),
		cmocka_unit_test(test_senders_perspective),
		cmocka_unit_test(test_answer_mirrors_offer),
		cmocka_unit_test(test_jingle_action_and_static_fb),
		cmocka_unit_test(test_bad_sdp),
		cmocka_unit_test(test_bad_jingle),
		cmocka_unit_test(test_malformed_jingle),
		cmocka_unit_test(test_jingle_values_cannot_add_sdp_lines),
		cmocka_unit_test(test_sdp_values_xml_cannot_carry),
		cmocka_unit_test(test_origin_in_o_and_c),
		cmocka_unit_test(test_non_rtp_content_rejected),
	};
	int r;

	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return r;
}
