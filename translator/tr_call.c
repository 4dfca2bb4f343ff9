/**
 * @file tr_call.c  Calls: Jingle (XEP-0166/0167) <-> SIP INVITE dialogs.
 *
 * One record per call (callrec.h) holds both sides: the Jingle session
 * (sid, owner, parties) and the SIP dialog (Call-ID, tags, URIs, remote
 * target, route set, CSeqs, the pending INVITE). Every request and
 * response the gateway emits is built here from that record and goes out
 * through the outbox, so a restarted front gets it again; the record is
 * committed before any of it is sent (persist, then act).
 *
 * Indexes (database callkey):
 *   "s" owner NUL sid       the XMPP user's handle: only the owner acts
 *   "d" Call-ID NUL ltag    requests/responses inside our dialog
 *   "u" Call-ID NUL rtag    S2X: INVITE retransmissions and CANCEL
 *   "o" outbox-id (be64)    our INVITE (local failure), our 2xx (no ACK)
 * Call-ID alone is never a key: a hairpin call has the same Call-ID once
 * as UAC and once as UAS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include <strophe.h>
#include "addr.h"
#include "callrec.h"
#include "jsdp.h"
#include "jsdp_int.h"
#include "log.h"
#include "translator.h"

#define NS_JINGLE      "urn:xmpp:jingle:1"
#define NS_RTP         "urn:xmpp:jingle:apps:rtp:1"
#define NS_ICE         "urn:xmpp:jingle:transports:ice-udp:1"
#define NS_RTP_INFO    "urn:xmpp:jingle:apps:rtp:info:1"
#define NS_STANZAS     "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DTMF        "urn:xmpp:jingle:dtmf:0"
#define NS_JMI         "urn:xmpp:jingle-message:0"
#define HISTORY_MAX    4096
#define CANCEL_WAIT_MS 32000

/** What a request or response in a call is about. */
struct sipin {
	struct sip_msg *msg;
	struct mbuf *mb;
	uint64_t tx;
	char src[80];
};

static xmpp_ctx_t *ctx(struct translator *tr)
{
	return tr->xctx;
}


/* ---- the record ---------------------------------------------------- */

static int call_load(struct translator *tr, uint64_t id, struct callrec *r)
{
	const void *v;
	size_t vl;
	int err = tr_rec_get(tr, DB_CALL, id, &v, &vl);

	if (err)
		return err;
	err = callrec_decode(r, v, vl);
	if (err)
		log_error("call %llu: undecodable record",
			  (unsigned long long)id);
	return err;
}


static void call_save(struct translator *tr, uint64_t id, struct callrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_CALL, id, &fb, callrec_encode(&fb, r));
}


/* key = kind, a, NUL, b */
static size_t key_make(uint8_t *k, size_t sz, char kind, const char *a,
		       const char *b)
{
	size_t al = strlen(a ? a : ""), bl = strlen(b ? b : "");

	if (2 + al + bl > sz)
		return 0;
	k[0] = (uint8_t)kind;
	memcpy(k + 1, a ? a : "", al);
	k[1 + al] = 0;
	memcpy(k + 2 + al, b ? b : "", bl);
	return 2 + al + bl;
}


static void key_put(struct translator *tr, char kind, const char *a,
		    const char *b, uint64_t id)
{
	uint8_t k[1024], v[8];
	size_t kl = key_make(k, sizeof(k), kind, a, b);

	be64_put(v, id);
	if (kl)
		store_put(tr_txn(tr), DB_CALLKEY, k, kl, v, 8);
}


static void key_del(struct translator *tr, char kind, const char *a,
		    const char *b)
{
	uint8_t k[1024];
	size_t kl = key_make(k, sizeof(k), kind, a, b);

	if (kl)
		(void)store_del(tr_txn(tr), DB_CALLKEY, k, kl);
}


static uint64_t key_get(struct translator *tr, char kind, const char *a,
			const char *b)
{
	uint8_t k[1024];
	size_t kl = key_make(k, sizeof(k), kind, a, b), vl;
	const void *v;

	if (!kl || store_get(tr_txn(tr), DB_CALLKEY, k, kl, &v, &vl) || vl != 8)
		return 0;
	return be64_get(v);
}


/* "o" + be64 outbox id -> call: for outcomes a front reports without a SIP
 * message (our INVITE failed locally, our 2xx was never ACKed). */
static void out_key(uint8_t *k, uint64_t oid)
{
	k[0] = 'o';
	be64_put(k + 1, oid);
}


static void out_index(struct translator *tr, uint64_t oid, uint64_t id)
{
	uint8_t k[9], v[8];

	if (!oid)
		return;
	out_key(k, oid);
	be64_put(v, id);
	store_put(tr_txn(tr), DB_CALLKEY, k, sizeof(k), v, sizeof(v));
}


static void out_unindex(struct translator *tr, uint64_t oid)
{
	uint8_t k[9];

	if (!oid)
		return;
	out_key(k, oid);
	(void)store_del(tr_txn(tr), DB_CALLKEY, k, sizeof(k));
}


static uint64_t out_lookup(struct translator *tr, uint64_t oid)
{
	uint8_t k[9];
	const void *v;
	size_t vl;

	out_key(k, oid);
	if (store_get(tr_txn(tr), DB_CALLKEY, k, sizeof(k), &v, &vl) || vl != 8)
		return 0;
	return be64_get(v);
}


static void call_event(struct callrec *r, const char *fmt, ...)
{
	char line[256], *h = NULL;
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%llu ",
		     (unsigned long long)wall_ms());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r->history && strlen(r->history) + strlen(line) + 2 > HISTORY_MAX)
		return; /* the first events are the telling ones */
	if (re_sdprintf(&h, "%s%s\n", r->history ? r->history : "", line))
		return;
	mem_deref(r->history);
	r->history = h;
}


static void call_state(struct callrec *r, enum call_state s)
{
	r->state = s;
	call_event(r, "%s", callrec_state_name[s]);
}


static void call_deadline(struct translator *tr, uint64_t id, struct callrec *r,
			  uint64_t when)
{
	if (r->deadline)
		tr_deadline_del(tr, r->deadline, id);
	r->deadline = when;
	if (when)
		tr_deadline(tr, when, id);
}


/* The call is over: forget it everywhere. */
static void call_drop(struct translator *tr, uint64_t id, struct callrec *r,
		      const char *why)
{
	log_info("call %llu (%s, sid %s, Call-ID %s) ended: %s",
		 (unsigned long long)id,
		 r->dir == CD_X2S ? "xmpp->sip" : "sip->xmpp", r->sid,
		 r->callid, why);
	call_deadline(tr, id, r, 0);
	key_del(tr, 's', r->owner, r->sid);
	key_del(tr, 'd', r->callid, r->ltag);
	if (r->dir == CD_S2X)
		key_del(tr, 'u', r->callid, r->rtag);
	out_unindex(tr, r->inv_out);
	tr_rec_del(tr, DB_CALL, id);
	store_count(tr_txn(tr), "calls.ended", 1);
}


static int set_str(char **dst, const char *s)
{
	char *d = NULL;
	int err = str_dup(&d, s ? s : "");

	if (err)
		return err;
	mem_deref(*dst);
	*dst = d;
	return 0;
}


static int set_pl(char **dst, const struct pl *pl)
{
	char *d = NULL;
	int err = pl_strdup(&d, pl);

	if (err)
		return err;
	mem_deref(*dst);
	*dst = d;
	return 0;
}


static void bare_of(const char *jid, char *out, size_t sz)
{
	size_t n = strcspn(jid, "/");

	if (n >= sz)
		n = sz - 1;
	memcpy(out, jid, n);
	out[n] = 0;
}


static char *token(const char *prefix)
{
	char *s = NULL;

	re_sdprintf(&s, "%s%016llx", prefix, (unsigned long long)random_u64());
	return s;
}


/* ---- XMPP out ------------------------------------------------------- */

static void xml_send(struct translator *tr, xmpp_stanza_t *st)
{
	struct fbuf fb = {0};
	char *buf = NULL;
	size_t len = 0;

	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK) {
		log_error("cannot serialise a stanza");
		return;
	}
	frame_begin(&fb, MSG_XMPP_OUT_STANZA, 0);
	frame_put_str(&fb, buf, len);
	(void)tr_out(tr, PROC_XMPP_FRONT, &fb);
	xmpp_free(ctx(tr), buf);
}


static xmpp_stanza_t *elem(struct translator *tr, xmpp_stanza_t *parent,
			   const char *name, const char *ns)
{
	xmpp_stanza_t *e = xmpp_stanza_new(ctx(tr));

	xmpp_stanza_set_name(e, name);
	if (ns)
		xmpp_stanza_set_ns(e, ns);
	if (parent) {
		xmpp_stanza_add_child(parent, e);
		xmpp_stanza_release(e);
	}
	return e;
}


static void text_elem(struct translator *tr, xmpp_stanza_t *parent,
		      const char *name, const char *ns, const char *text)
{
	xmpp_stanza_t *e = elem(tr, parent, name, ns), *t;

	t = xmpp_stanza_new(ctx(tr));
	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(e, t);
	xmpp_stanza_release(t);
}


static const char *attr(xmpp_stanza_t *st, const char *name)
{
	const char *v = st ? xmpp_stanza_get_attribute(st, name) : NULL;

	return v ? v : "";
}


static void iq_answer(struct translator *tr, xmpp_stanza_t *req,
		      const char *etype, const char *cond, const char *text)
{
	xmpp_stanza_t *r = xmpp_iq_new(ctx(tr), etype ? "error" : "result",
				       attr(req, "id"));

	xmpp_stanza_set_to(r, attr(req, "from"));
	xmpp_stanza_set_from(r, attr(req, "to"));
	if (etype) {
		xmpp_stanza_t *e = elem(tr, r, "error", NULL);
		xmpp_stanza_set_attribute(e, "type", etype);
		elem(tr, e, cond, NS_STANZAS);
		if (text)
			text_elem(tr, e, "text", NS_STANZAS, text);
	}
	xml_send(tr, r);
	xmpp_stanza_release(r);
}


static void iq_result(struct translator *tr, xmpp_stanza_t *req)
{
	iq_answer(tr, req, NULL, NULL, NULL);
}


/* <iq type=set><jingle action sid initiator responder/></iq>; *jp is the
 * jingle element (owned by the iq). */
static xmpp_stanza_t *jingle_iq(struct translator *tr, uint64_t id,
				const struct callrec *r, const char *to,
				const char *action, xmpp_stanza_t **jp)
{
	char iqid[64];
	xmpp_stanza_t *iq, *j;

	/* unique across restarts; replies find the call by its id */
	snprintf(iqid, sizeof(iqid), "xsgw-c%llu-%08x", (unsigned long long)id,
		 (unsigned)random_u64());
	iq = xmpp_iq_new(ctx(tr), "set", iqid);
	xmpp_stanza_set_to(iq, to);
	xmpp_stanza_set_from(iq, r->gwjid);
	j = elem(tr, iq, "jingle", NS_JINGLE);
	xmpp_stanza_set_attribute(j, "action", action);
	xmpp_stanza_set_attribute(j, "sid", r->sid);
	if (r->initiator && *r->initiator)
		xmpp_stanza_set_attribute(j, "initiator", r->initiator);
	if (r->responder && *r->responder && strcmp(action, "session-initiate"))
		xmpp_stanza_set_attribute(j, "responder", r->responder);
	if (jp)
		*jp = j;
	return iq;
}


/* Every resource that must hear about the call: the one in it, or all
 * that were rung. */
static void jingle_to_all(struct translator *tr, uint64_t id,
			  const struct callrec *r, xmpp_stanza_t *iq)
{
	char *rung = NULL, *save = NULL, *to;

	if (r->ufull && *r->ufull) {
		xmpp_stanza_set_to(iq, r->ufull);
		xml_send(tr, iq);
		return;
	}
	if (str_dup(&rung, r->rung ? r->rung : ""))
		return;
	for (to = strtok_r(rung, "\n", &save); to;
	     to = strtok_r(NULL, "\n", &save)) {
		xmpp_stanza_set_to(iq, to);
		xml_send(tr, iq);
	}
	mem_deref(rung);
}


/* session-terminate with a reason; for SIP codes a <sip-error/> too. */
static void jingle_terminate(struct translator *tr, uint64_t id,
			     const struct callrec *r, const char *reason,
			     unsigned scode, const char *phrase)
{
	xmpp_stanza_t *j,
		*iq = jingle_iq(tr, id, r, r->owner, "session-terminate", &j);
	xmpp_stanza_t *re = elem(tr, j, "reason", NULL);

	elem(tr, re, reason, NULL);
	if (scode) {
		char code[12];
		snprintf(code, sizeof(code), "%u", scode);
		xmpp_stanza_t *se = elem(tr, re, "sip-error", NULL);
		xmpp_stanza_t *t = xmpp_stanza_new(ctx(tr));
		xmpp_stanza_set_attribute(se, "code", code);
		xmpp_stanza_set_text(t, phrase && *phrase ? phrase : "");
		xmpp_stanza_add_child(se, t);
		xmpp_stanza_release(t);
		if (phrase && *phrase)
			text_elem(tr, re, "text", NULL, phrase);
	}
	jingle_to_all(tr, id, r, iq);
	xmpp_stanza_release(iq);
}


/* ---- SIP out -------------------------------------------------------- */

static int contact_hdr(struct translator *tr, struct mbuf *mb)
{
	const struct xsgw_config *cfg = tr->proc.cfg;

	return mbuf_printf(mb, "Contact: <sip:xsgw@%s:%u%s>\r\n",
			   cfg->sip.local_host, cfg->sip.listen.port,
			   cfg->sip.transport == SIP_TP_TCP ? ";transport=tcp"
							    : "");
}


/* First line of a route set ("" if none). */
static void first_route(const char *routes, char *out, size_t sz)
{
	size_t n = routes ? strcspn(routes, "\n") : 0;

	if (n >= sz)
		n = 0;
	memcpy(out, routes ? routes : "", n);
	out[n] = 0;
}


/*
 * A request in the dialog, built from the record (RFC 3261 §12.2.1.1).
 * cseq 0 takes the next local CSeq. ACK and CANCEL pass their own.
 */
static uint64_t sip_send_req(struct translator *tr, struct callrec *r,
			     const char *method, uint32_t cseq,
			     const char *branch, const char *ctype,
			     const char *extra, const char *body)
{
	struct mbuf *mb = mbuf_alloc(1024);
	struct fbuf fb = {0};
	char *br = NULL, *rs = NULL, *save = NULL, *line, dst[512];
	const bool cancel = !strcmp(method, "CANCEL");
	const char *ruri =
		cancel || !r->target || !*r->target ? r->inv_ruri : r->target;
	uint64_t id = 0;
	int err;

	if (!mb)
		return 0;
	if (!cseq)
		cseq = ++r->lcseq;
	if (!branch)
		branch = br = token("z9hG4bK");
	err = mbuf_printf(mb,
			  "From: %s;tag=%s\r\nTo: %s%s%s\r\n"
			  "Call-ID: %s\r\nCSeq: %u %s\r\n",
			  r->luri, r->ltag, r->ruri,
			  r->rtag && *r->rtag && !cancel ? ";tag=" : "",
			  r->rtag && !cancel ? r->rtag : "", r->callid, cseq,
			  method);
	if (!cancel && strcmp(method, "ACK"))
		err |= contact_hdr(tr, mb);
	if (r->routes && *r->routes && !str_dup(&rs, r->routes)) {
		for (line = strtok_r(rs, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			err |= mbuf_printf(mb, "Route: %s\r\n", line);
	}
	if (!strcmp(method, "INVITE"))
		err |= mbuf_write_str(mb, "Recv-Info: trickle-ice\r\n");
	if (!strcmp(method, "INVITE") || !strcmp(method, "BYE"))
		err |= mbuf_write_str(mb, "Allow: INVITE, ACK, CANCEL, BYE, "
					  "INFO, UPDATE, MESSAGE, OPTIONS\r\n");
	if (body && *body)
		err |= mbuf_printf(mb, "Content-Type: %s\r\n", ctype);
	if (extra)
		err |= mbuf_write_str(mb, extra);
	first_route(cancel ? "" : r->routes, dst, sizeof(dst));
	if (!*dst && r->dir == CD_S2X && !cancel)
		snprintf(dst, sizeof(dst), "%s", ruri);
	if (!err) {
		frame_begin(&fb, MSG_SIP_OUT_REQUEST, 0);
		frame_put_cstr(&fb, method);
		frame_put_cstr(&fb, ruri);
		frame_put_cstr(&fb, dst);
		frame_put_cstr(&fb, branch);
		frame_put_str(&fb, (const char *)mb->buf, mb->end);
		frame_put_cstr(&fb, body);
		id = tr_out(tr, PROC_SIP_FRONT, &fb);
	}
	mem_deref(mb);
	mem_deref(br);
	mem_deref(rs);
	return id;
}


/* A response to a request we hold as raw bytes. */
static uint64_t sip_send_resp(struct translator *tr, uint64_t tx,
			      const char *src, const struct pl *raw,
			      uint64_t totag, unsigned scode,
			      const char *reason, bool contact,
			      const char *body)
{
	struct mbuf *mb = mbuf_alloc(256);
	struct fbuf fb = {0};
	uint64_t id = 0;
	int err = mb ? 0 : ENOMEM;

	if (!err && contact)
		err = contact_hdr(tr, mb) |
		      mbuf_write_str(mb, "Recv-Info: trickle-ice\r\n");
	if (!err && scode >= 200 && scode < 300)
		err = mbuf_write_str(mb, "Allow: INVITE, ACK, CANCEL, BYE, "
					 "INFO, UPDATE, MESSAGE, OPTIONS\r\n");
	if (!err) {
		frame_begin(&fb, MSG_SIP_OUT_RESPONSE, 0);
		frame_put_u64(&fb, tx);
		frame_put_cstr(&fb, src);
		frame_put_str(&fb, raw->p, raw->l);
		frame_put_u64(&fb, totag);
		frame_put_u32(&fb, scode);
		frame_put_cstr(&fb, reason);
		frame_put_str(&fb, (const char *)mb->buf, mb->end);
		frame_put_cstr(&fb, body);
		id = tr_out(tr, PROC_SIP_FRONT, &fb);
	}
	mem_deref(mb);
	return id;
}


/* Our To-tag as libre takes it (S2X: ltag is 16 hex digits). */
static uint64_t totag_of(const struct callrec *r)
{
	return strtoull(r->ltag ? r->ltag : "0", NULL, 16);
}


/* Answer the pending INVITE of an S2X call. */
static uint64_t invite_reply(struct translator *tr, struct callrec *r,
			     unsigned scode, const char *reason,
			     const char *body)
{
	struct pl raw;

	pl_set_str(&raw, r->inv_raw ? r->inv_raw : "");
	r->last_scode = scode;
	call_event(r, "sent %u %s", scode, reason);
	return sip_send_resp(tr, r->inv_tx, r->inv_src, &raw, totag_of(r),
			     scode, reason, scode < 300, body);
}


/* Answer a request other than the pending INVITE. */
static void sipin_reply(struct translator *tr, const struct sipin *in,
			unsigned scode, const char *reason, bool contact,
			const char *body)
{
	struct pl raw = {(const char *)in->mb->buf, in->mb->end};

	if (scode >= 300)
		log_info("%r %r from %s: %u %s", &in->msg->met,
			 &in->msg->callid, in->src, scode, reason);
	if (!in->tx && !pl_strcmp(&in->msg->met, "CANCEL"))
		return; /* libre has answered it */
	(void)sip_send_resp(tr, in->tx, in->src, &raw, 0, scode, reason,
			    contact, body);
}


/* ---- SDP <-> Jingle ------------------------------------------------- */

static int sdp_of_jingle(struct translator *tr, struct callrec *r,
			 xmpp_stanza_t *j, bool author_is_initiator,
			 const char *offer_sdp, const char *action, char **sdp,
			 char *eb, size_t ebsz)
{
	struct jsdp *m = jsdp_alloc(), *offer = NULL;
	struct mbuf *mb = mbuf_alloc(2048);
	struct jsdp_sdp_opts o = {0};
	struct pl opl;
	int err;

	if (!m || !mb) {
		err = ENOMEM;
		goto out;
	}
	err = jsdp_jingle_decode(m, j, eb, ebsz);
	if (err)
		goto out;
	if (offer_sdp && *offer_sdp) {
		offer = jsdp_alloc();
		pl_set_str(&opl, offer_sdp);
		err = offer ? jsdp_sdp_decode(offer, &opl, !author_is_initiator,
					      eb, ebsz)
			    : ENOMEM;
		if (err)
			goto out;
	}
	if (!r->sdp_id)
		r->sdp_id = random_u64() >> 2;
	o.author_is_initiator = author_is_initiator;
	o.origin = tr->proc.cfg->sip.local_host;
	o.sess_id = r->sdp_id;
	o.sess_version = ++r->sdp_ver;
	o.action = action;
	o.offer = offer;
	err = jsdp_sdp_encode(mb, m, &o);
	if (err) {
		snprintf(eb, ebsz, "no usable content");
		goto out;
	}
	mb->pos = 0;
	err = mbuf_strdup(mb, sdp, mb->end);
out:
	mem_deref(m);
	mem_deref(offer);
	mem_deref(mb);
	return err;
}


/* Add the contents of an SDP to a <jingle/>. */
static int jingle_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			 const char *sdp, bool author_is_initiator,
			 struct pl *action, char *eb, size_t ebsz)
{
	struct jsdp *m = jsdp_alloc();
	struct jsdp_jingle_opts o = {.raw_udp =
					     tr->proc.cfg->sip.phone_raw_udp};
	struct pl pl;
	int err;

	if (!m)
		return ENOMEM;
	pl_set_str(&pl, sdp);
	err = jsdp_sdp_decode(m, &pl, author_is_initiator, eb, ebsz);
	if (!err)
		err = jsdp_jingle_encode(j, m, &o);
	if (!err && action) {
		*action = m->action;
		/* m->action points into sdp, which the caller keeps */
	}
	mem_deref(m);
	return err;
}


/* Only the transports of an SDP's contents (transport-info). */
static int transports_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			     const char *sdp, bool author_is_initiator,
			     char *eb, size_t ebsz)
{
	xmpp_stanza_t *tmp = elem(tr, NULL, "jingle", NS_JINGLE), *c, *t, *nc;
	int err = jingle_of_sdp(tr, tmp, sdp, author_is_initiator, NULL, eb,
				ebsz);

	for (c = xmpp_stanza_get_children(tmp); c && !err;
	     c = xmpp_stanza_get_next(c)) {
		if (strcmp(xmpp_stanza_get_name(c), "content"))
			continue;
		nc = elem(tr, j, "content", NULL);
		xmpp_stanza_set_attribute(nc, "creator", attr(c, "creator"));
		xmpp_stanza_set_attribute(nc, "name", attr(c, "name"));
		t = xmpp_stanza_get_child_by_name(c, "transport");
		if (t) {
			t = xmpp_stanza_copy(t);
			xmpp_stanza_add_child(nc, t);
			xmpp_stanza_release(t);
		}
	}
	xmpp_stanza_release(tmp);
	return err;
}


/* ---- presence: who is online ----------------------------------------- */

struct pres_scan {
	char prefix[512];
	size_t pl;
	char *list; /* full JIDs, one per line */
	unsigned n;
};


static bool pres_visit(const void *k, size_t kl, const void *v, size_t vl,
		       void *arg)
{
	struct pres_scan *c = arg;
	const char *key = k;
	int prio;
	char *l = NULL;

	if (kl < c->pl || memcmp(k, c->prefix, c->pl))
		return false;
	prio = vl >= 4 ? (int32_t)(((uint32_t)((const uint8_t *)v)[0] << 24) |
				   ((const uint8_t *)v)[1] << 16 |
				   ((const uint8_t *)v)[2] << 8 |
				   ((const uint8_t *)v)[3])
		       : 0;
	if (prio < 0)
		return true; /* RFC 6121 §4.7.2.3: never for routing */
	if (re_sdprintf(&l, "%s%b/%b\n", c->list ? c->list : "", c->prefix,
			c->pl - 1, key + c->pl, kl - c->pl))
		return false;
	mem_deref(c->list);
	c->list = l;
	c->n++;
	return true;
}


/* Online resources of a bare JID (full JIDs, one per line). */
static unsigned pres_online(struct translator *tr, const char *bare,
			    char **list)
{
	struct pres_scan c = {0};
	size_t n = strlen(bare);

	*list = NULL;
	if (n + 1 >= sizeof(c.prefix))
		return 0;
	memcpy(c.prefix, bare, n + 1); /* with its NUL */
	c.pl = n + 1;
	store_scan(tr_txn(tr), DB_PRESENCE, c.prefix, c.pl, pres_visit, &c);
	*list = c.list;
	return c.n;
}


static bool domain_served(const struct xsgw_config *cfg, const char *bare)
{
	const char *at = strchr(bare, '@');

	for (size_t i = 0; at && i < cfg->xmpp.ndomains; i++)
		if (!strcasecmp(at + 1, cfg->xmpp.domains[i]))
			return true;
	return false;
}


static void presence_in(struct translator *tr, xmpp_stanza_t *st)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	const char *from = attr(st, "from"), *type = attr(st, "type");
	const char *slash = strchr(from, '/');
	char bare[512];
	uint8_t k[1024], v[12];
	size_t bl, rl;
	xmpp_stanza_t *p;
	int prio = 0;

	bare_of(from, bare, sizeof(bare));
	if (!domain_served(cfg, bare))
		return;
	if (!strcmp(type, "subscribe")) {
		/* §6.0: approve subscriptions from the served domains */
		xmpp_stanza_t *r = xmpp_presence_new(ctx(tr));
		xmpp_stanza_set_type(r, "subscribed");
		xmpp_stanza_set_to(r, bare);
		xmpp_stanza_set_from(r, attr(st, "to"));
		xml_send(tr, r);
		xmpp_stanza_release(r);
		return;
	}
	if (!slash || (*type && strcmp(type, "unavailable")))
		return;
	bl = strlen(bare);
	rl = strlen(slash + 1);
	if (bl + 1 + rl > sizeof(k))
		return;
	memcpy(k, bare, bl + 1);
	memcpy(k + bl + 1, slash + 1, rl);
	if (!strcmp(type, "unavailable")) {
		(void)store_del(tr_txn(tr), DB_PRESENCE, k, bl + 1 + rl);
		return;
	}
	p = xmpp_stanza_get_child_by_name(st, "priority");
	if (p) {
		char *t = xmpp_stanza_get_text(p);
		prio = t ? atoi(t) : 0;
		if (t)
			xmpp_free(ctx(tr), t);
	}
	v[0] = (uint8_t)((uint32_t)prio >> 24);
	v[1] = (uint8_t)((uint32_t)prio >> 16);
	v[2] = (uint8_t)((uint32_t)prio >> 8);
	v[3] = (uint8_t)prio;
	be64_put(v + 4, wall_ms());
	store_put(tr_txn(tr), DB_PRESENCE, k, bl + 1 + rl, v, sizeof(v));
}


/* ---- XEP-0353 Jingle Message Initiation --------------------------------- */

/* Proposed and not yet proceeded by any device. */
static bool jmi_pending(const struct callrec *r)
{
	return r->jmi && (!r->rung || !*r->rung);
}


/* <message><propose|retract id=sid/></message> from the caller's JID. */
static void jmi_send(struct translator *tr, const struct callrec *r,
		     const char *to, const char *what)
{
	xmpp_stanza_t *m = xmpp_message_new(ctx(tr), "chat", to, NULL), *e;
	char id[80];

	snprintf(id, sizeof(id), "xsgw-jmi-%s-%s", what, r->sid);
	xmpp_stanza_set_id(m, id);
	xmpp_stanza_set_from(m, r->gwjid);
	e = elem(tr, m, what, NS_JMI);
	xmpp_stanza_set_attribute(e, "id", r->sid);
	if (!strcmp(what, "propose")) {
		xmpp_stanza_t *d = elem(tr, e, "description", NS_RTP);
		xmpp_stanza_set_attribute(d, "media", "audio");
	}
	elem(tr, m, "store", "urn:xmpp:hints");
	xml_send(tr, m);
	xmpp_stanza_release(m);
}


/*
 * An XMPP user proposes a call to a gateway JID (XEP-0353): the gateway is
 * the callee's device and proceeds at once; the user's session-initiate
 * (sid = the propose id) then becomes the INVITE, and the SIP side's 180
 * the ringing.
 */
static void jmi_propose_in(struct translator *tr, xmpp_stanza_t *st,
			   xmpp_stanza_t *propose, const char *owner)
{
	const char *from = attr(st, "from"), *sid = attr(propose, "id");
	xmpp_stanza_t *m, *e;
	char id[96];

	if (!*sid || !strchr(from, '/') || !strchr(attr(st, "to"), '@') ||
	    !domain_served(tr->proc.cfg, owner))
		return;
	snprintf(id, sizeof(id), "xsgw-jmi-proceed-%s", sid);
	m = xmpp_message_new(ctx(tr), "chat", from, id);
	xmpp_stanza_set_from(m, attr(st, "to"));
	e = elem(tr, m, "proceed", NS_JMI);
	xmpp_stanza_set_attribute(e, "id", sid);
	elem(tr, m, "store", "urn:xmpp:hints");
	xml_send(tr, m);
	xmpp_stanza_release(m);
}


/* A device answers a propose: ringing, proceed (send it the Jingle
 * session-initiate) or reject. */
static void jmi_in(struct translator *tr, xmpp_stanza_t *st)
{
	const char *from = attr(st, "from");
	char owner[512];
	struct callrec r = {0};
	xmpp_stanza_t *c;
	uint64_t id;

	for (c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_get_ns(c) &&
		    !strcmp(xmpp_stanza_get_ns(c), NS_JMI))
			break;
	if (!c)
		return;
	bare_of(from, owner, sizeof(owner));
	if (!strcmp(xmpp_stanza_get_name(c), "propose")) {
		jmi_propose_in(tr, st, c, owner);
		return;
	}
	id = key_get(tr, 's', owner, attr(c, "id"));
	if (!id || call_load(tr, id, &r))
		return;
	if (r.dir != CD_S2X || r.state != CS_RINGING || !r.jmi)
		goto out;
	if (!strcmp(xmpp_stanza_get_name(c), "ringing")) {
		if (r.last_scode < 180)
			invite_reply(tr, &r, 180, "Ringing", NULL);
	} else if (!strcmp(xmpp_stanza_get_name(c), "proceed") &&
		   jmi_pending(&r) && strchr(from, '/')) {
		xmpp_stanza_t *j =
			xmpp_stanza_new_from_string(ctx(tr), r.init_xml);
		xmpp_stanza_t *iq;
		char iqid[64];

		if (!j) {
			log_error("call %llu: stored session-initiate unusable",
				  (unsigned long long)id);
			goto out;
		}
		/* the stored <jingle/> (its sid is the propose id) */
		snprintf(iqid, sizeof(iqid), "xsgw-c%llu-p",
			 (unsigned long long)id);
		iq = xmpp_iq_new(ctx(tr), "set", iqid);
		xmpp_stanza_set_to(iq, from);
		xmpp_stanza_set_from(iq, r.gwjid);
		xmpp_stanza_add_child(iq, j);
		xmpp_stanza_release(j);
		xml_send(tr, iq);
		xmpp_stanza_release(iq);
		mem_deref(r.rung);
		r.rung = NULL;
		re_sdprintf(&r.rung, "%s\n", from);
		call_event(&r, "proceed from %s", from);
		call_deadline(tr, id, &r,
			      wall_ms() + tr->proc.cfg->sip.ring_timeout_ms);
	} else if (!strcmp(xmpp_stanza_get_name(c), "reject")) {
		invite_reply(tr, &r, 603, "Decline", NULL);
		call_drop(tr, id, &r, "rejected (XEP-0353)");
		goto out;
	} else
		goto out;
	call_save(tr, id, &r);
out:
	callrec_reset(&r);
}


/* ---- XMPP user acts -------------------------------------------------- */

static int sip_uri_of_gwjid(const struct xsgw_config *cfg, const char *jid,
			    char *uri, size_t sz)
{
	char node[512];
	const char *at = strchr(jid, '@');
	size_t n;

	if (!at || strncasecmp(at + 1, cfg->xmpp.component,
			       strlen(cfg->xmpp.component)))
		return EINVAL;
	n = (size_t)(at - jid);
	if (!n || n >= sizeof(node))
		return EINVAL;
	memcpy(node, jid, n);
	node[n] = 0;
	return addr_gwnode_to_sip(cfg, node, uri, sz);
}


/* The Call-ID for a gateway-originated INVITE (§5): the sid when it is a
 * safe SIP word, else a hash of it; the local tag keeps it unique. */
static char *callid_of_sid(const char *sid)
{
	char *c = NULL;
	size_t n = strlen(sid);

	if (n && n <= 64 &&
	    strspn(sid, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789-.!%*_+`'~") == n)
		re_sdprintf(&c, "%s", sid);
	else
		re_sdprintf(&c, "%08x%08x", hash_joaat_str(sid),
			    (uint32_t)random_u64());
	return c;
}


/* A stanza as text (a libre string). @return 0 or ENOMEM */
static int stanza_text(struct translator *tr, xmpp_stanza_t *st, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK)
		return ENOMEM;
	mem_deref(*out);
	*out = NULL;
	err = re_sdprintf(out, "%b", buf, len);
	xmpp_free(ctx(tr), buf);
	return err;
}


static xmpp_stanza_t *ice_transport(xmpp_stanza_t *content)
{
	return xmpp_stanza_get_child_by_name_and_ns(content, "transport",
						    NS_ICE);
}


/* True if a content has an ICE transport without a candidate: the client
 * trickles them (XEP-0176), and a SIP peer without trickle ICE would get no
 * address at all. */
static bool trickle_pending(xmpp_stanza_t *j)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(j); c;
	     c = xmpp_stanza_get_next(c)) {
		xmpp_stanza_t *t;
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "content"))
			continue;
		t = ice_transport(c);
		if (t && !xmpp_stanza_get_child_by_name(t, "candidate"))
			return true;
	}
	return false;
}


/* Send our INVITE with sdp; the call rings from now on. */
static void invite_send(struct translator *tr, uint64_t id, struct callrec *r,
			const char *sdp)
{
	set_str(&r->lsdp, sdp);
	r->inv_out = sip_send_req(tr, r, "INVITE", r->inv_cseq, r->inv_branch,
				  "application/sdp", NULL, sdp);
	out_index(tr, r->inv_out, id);
	call_deadline(tr, id, r, wall_ms() + tr->proc.cfg->sip.ring_timeout_ms);
}


/* An X2S call whose INVITE waits for trickled candidates. */
static bool invite_held(const struct callrec *r)
{
	return r->dir == CD_X2S && r->state == CS_CALLING && !r->inv_out &&
	       r->init_xml && *r->init_xml;
}


/* The wait is over: the INVITE from the session-initiate and the
 * candidates trickled since. @return 0, or an errno (the call is dropped) */
static int invite_held_send(struct translator *tr, uint64_t id,
			    struct callrec *r)
{
	xmpp_stanza_t *j = xmpp_stanza_new_from_string(ctx(tr), r->init_xml);
	char eb[160], *sdp = NULL;
	int err = j ? sdp_of_jingle(tr, r, j, true, NULL, NULL, &sdp, eb,
				    sizeof(eb))
		    : EBADMSG;

	if (j)
		xmpp_stanza_release(j);
	if (err) {
		jingle_terminate(tr, id, r, "general-error", 0, NULL);
		call_drop(tr, id, r, "held session-initiate unusable");
		return err;
	}
	r->init_xml = mem_deref(r->init_xml);
	invite_send(tr, id, r, sdp);
	call_event(r, "INVITE sent");
	call_save(tr, id, r);
	mem_deref(sdp);
	return 0;
}


/* Add the candidates of a transport-info to the held session-initiate. */
static int held_merge(struct translator *tr, struct callrec *r,
		      xmpp_stanza_t *ti)
{
	xmpp_stanza_t *init = xmpp_stanza_new_from_string(ctx(tr), r->init_xml);
	int err = 0;

	if (!init)
		return EBADMSG;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(ti); c;
	     c = xmpp_stanza_get_next(c)) {
		xmpp_stanza_t *t = xmpp_stanza_is_tag(c) ? ice_transport(c)
							 : NULL,
			      *ic, *it;
		if (!t)
			continue;
		for (ic = xmpp_stanza_get_children(init); ic;
		     ic = xmpp_stanza_get_next(ic))
			if (xmpp_stanza_is_tag(ic) &&
			    !strcmp(attr(ic, "name"), attr(c, "name")))
				break;
		it = ic ? ice_transport(ic) : NULL;
		if (!it) {
			err = ENOENT;
			break;
		}
		for (xmpp_stanza_t *k = xmpp_stanza_get_children(t); k;
		     k = xmpp_stanza_get_next(k)) {
			xmpp_stanza_t *cp;
			if (!xmpp_stanza_is_tag(k) ||
			    strcmp(xmpp_stanza_get_name(k), "candidate"))
				continue;
			cp = xmpp_stanza_copy(k);
			xmpp_stanza_add_child(it, cp);
			xmpp_stanza_release(cp);
		}
	}
	if (!err)
		err = stanza_text(tr, init, &r->init_xml);
	xmpp_stanza_release(init);
	return err;
}


static void x_initiate(struct translator *tr, xmpp_stanza_t *iq,
		       xmpp_stanza_t *j, const char *from, const char *to,
		       const char *owner, const char *sid)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	struct callrec r = {0};
	char target[600], me[600], eb[160], gw[512], *sdp = NULL, *luri = NULL,
						     *ruri = NULL;
	uint64_t id;
	int err;

	if (key_get(tr, 's', owner, sid)) {
		iq_answer(tr, iq, "cancel", "conflict", "sid in use");
		return;
	}
	bare_of(to, gw, sizeof(gw));
	if (sip_uri_of_gwjid(cfg, gw, target, sizeof(target)) ||
	    addr_user_to_sip(cfg, owner, me, sizeof(me))) {
		iq_answer(tr, iq, "modify", "jid-malformed", NULL);
		return;
	}
	r.dir = CD_X2S;
	r.created = wall_ms();
	err = sdp_of_jingle(tr, &r, j, true, NULL, NULL, &sdp, eb, sizeof(eb));
	if (err) {
		iq_answer(tr, iq, "modify", "bad-request", eb);
		callrec_reset(&r);
		return;
	}
	re_sdprintf(&luri, "<%s>", me);
	re_sdprintf(&ruri, "<%s>", target);
	r.luri = luri;
	r.ruri = ruri;
	set_str(&r.owner, owner);
	set_str(&r.ufull, from);
	set_str(&r.gwjid, gw);
	set_str(&r.sid, sid);
	set_str(&r.initiator,
		*attr(j, "initiator") ? attr(j, "initiator") : from);
	set_str(&r.responder, gw);
	r.callid = callid_of_sid(sid);
	r.ltag = token("");
	r.inv_branch = token("z9hG4bK");
	set_str(&r.inv_ruri, target);
	set_str(&r.lsdp, sdp);
	r.lcseq = r.inv_cseq = 1;
	id = store_next_id(tr_txn(tr));
	call_state(&r, CS_CALLING);
	if (cfg->sip.candidate_wait_ms && trickle_pending(j)) {
		/* the client trickles its candidates: collect them for a
		 * while, a SIP peer may not take them later */
		if (stanza_text(tr, j, &r.init_xml))
			goto fail;
		call_event(&r, "INVITE held %u ms for trickled candidates",
			   cfg->sip.candidate_wait_ms);
		call_deadline(tr, id, &r,
			      wall_ms() + cfg->sip.candidate_wait_ms);
	} else
		invite_send(tr, id, &r, sdp);
	key_put(tr, 's', owner, sid, id);
	key_put(tr, 'd', r.callid, r.ltag, id);
	call_save(tr, id, &r);
	store_count(tr_txn(tr), "calls.x2s", 1);
	iq_result(tr, iq);
	log_info("call %llu: %s -> %s (sid %s, Call-ID %s)",
		 (unsigned long long)id, from, target, sid, r.callid);
	callrec_reset(&r);
	mem_deref(sdp);
	return;
fail:
	iq_answer(tr, iq, "wait", "internal-server-error", NULL);
	callrec_reset(&r);
	mem_deref(sdp);
}


/* Other resources that were rung hear the call was answered elsewhere. */
static void cancel_others(struct translator *tr, uint64_t id, struct callrec *r,
			  const char *winner)
{
	char *rung = NULL, *save = NULL, *to;

	if (str_dup(&rung, r->rung ? r->rung : ""))
		return;
	for (to = strtok_r(rung, "\n", &save); to;
	     to = strtok_r(NULL, "\n", &save)) {
		xmpp_stanza_t *j, *iq;
		if (!strcmp(to, winner))
			continue;
		iq = jingle_iq(tr, id, r, to, "session-terminate", &j);
		elem(tr, elem(tr, j, "reason", NULL), "cancel", NULL);
		xml_send(tr, iq);
		xmpp_stanza_release(iq);
	}
	mem_deref(rung);
}


static void x_accept(struct translator *tr, uint64_t id, struct callrec *r,
		     xmpp_stanza_t *iq, xmpp_stanza_t *j, const char *from)
{
	char eb[160], *sdp = NULL;
	int err;

	if (r->dir != CD_S2X || r->state != CS_RINGING) {
		iq_answer(tr, iq, "cancel", "unexpected-request",
			  "not a ringing incoming call");
		return;
	}
	err = sdp_of_jingle(tr, r, j, false, r->rsdp, NULL, &sdp, eb,
			    sizeof(eb));
	if (err) {
		iq_answer(tr, iq, "modify", "bad-request", eb);
		return;
	}
	set_str(&r->ufull, from);
	set_str(&r->responder, from);
	set_str(&r->lsdp, sdp);
	r->inv_out = invite_reply(tr, r, 200, "OK", sdp);
	out_index(tr, r->inv_out, id);
	call_state(r, CS_ACTIVE);
	cancel_others(tr, id, r, from);
	r->init_xml = mem_deref(r->init_xml);
	call_deadline(tr, id, r,
		      wall_ms() +
			      tr->proc.cfg->sip.call_idle_timeout_s * 1000ULL);
	call_save(tr, id, r);
	iq_result(tr, iq);
	mem_deref(sdp);
}


/* The text of <sip-error/> as a reason phrase: printable ASCII only (a
 * phrase is one header-safe line). */
static void sip_phrase(struct translator *tr, xmpp_stanza_t *se, char *buf,
		       size_t sz)
{
	char *t = xmpp_stanza_get_text(se);
	size_t n = 0;

	for (const char *p = t ? t : ""; *p && n + 1 < sz; p++)
		if (*p >= 0x20 && *p < 0x7f)
			buf[n++] = *p;
	buf[n] = 0;
	if (t)
		xmpp_free(ctx(tr), t);
}


/* Jingle reason -> SIP final response for an unanswered incoming call. */
static unsigned reject_code(struct translator *tr, xmpp_stanza_t *j,
			    const char **phrase, char *pbuf, size_t psz)
{
	xmpp_stanza_t *re = xmpp_stanza_get_child_by_name(j, "reason"), *c;
	static const struct {
		const char *cond;
		unsigned code;
		const char *phrase;
	} map[] = {
		{"busy", 486, "Busy Here"},
		{"decline", 486, "Busy Here"},
		{"success", 486, "Busy Here"},
		{"cancel", 487, "Request Terminated"},
		{"gone", 410, "Gone"},
		{"timeout", 408, "Request Timeout"},
		{"media-error", 488, "Not Acceptable Here"},
		{"unsupported-applications", 488, "Not Acceptable Here"},
		{"unsupported-transports", 488, "Not Acceptable Here"},
		{"incompatible-parameters", 488, "Not Acceptable Here"},
		{"failed-application", 488, "Not Acceptable Here"},
		{"failed-transport", 488, "Not Acceptable Here"},
		{"security-error", 488, "Not Acceptable Here"},
		{"connectivity-error", 503, "Service Unavailable"},
		{"expired", 480, "Temporarily Unavailable"},
		{"general-error", 500, "Server Internal Error"},
	};

	*phrase = "Busy Here";
	if (!re)
		return 486;
	for (c = xmpp_stanza_get_children(re); c; c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		if (n && !strcmp(n, "sip-error")) {
			int code = atoi(attr(c, "code"));
			if (code >= 400 && code <= 699) {
				sip_phrase(tr, c, pbuf, psz);
				*phrase = *pbuf ? pbuf : "Rejected";
				return (unsigned)code;
			}
		}
	}
	for (c = xmpp_stanza_get_children(re); c; c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		for (size_t i = 0; n && i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcmp(n, map[i].cond)) {
				*phrase = map[i].phrase;
				return map[i].code;
			}
	}
	return 486;
}


/* Remove one resource from the rung list. @return resources left */
static unsigned rung_remove(struct callrec *r, const char *who)
{
	char *out = NULL, *rung = NULL, *save = NULL, *to;
	unsigned n = 0;

	if (str_dup(&rung, r->rung ? r->rung : ""))
		return 1;
	str_dup(&out, "");
	for (to = strtok_r(rung, "\n", &save); to && out;
	     to = strtok_r(NULL, "\n", &save)) {
		char *t = NULL;
		if (!strcmp(to, who))
			continue;
		re_sdprintf(&t, "%s%s\n", out, to);
		mem_deref(out);
		out = t;
		n++;
	}
	mem_deref(rung);
	if (out) {
		mem_deref(r->rung);
		r->rung = out;
	}
	return n;
}


static void x_terminate(struct translator *tr, uint64_t id, struct callrec *r,
			xmpp_stanza_t *iq, xmpp_stanza_t *j, const char *from)
{
	const char *phrase;
	char pbuf[64];
	unsigned code;

	iq_result(tr, iq);
	if (invite_held(r)) {
		call_drop(tr, id, r, "ended before its INVITE was sent");
		return;
	}
	switch (r->state) {
	case CS_ACTIVE:
		sip_send_req(tr, r, "BYE", 0, NULL, NULL, NULL, NULL);
		call_event(r, "BYE sent");
		break;
	case CS_CALLING:
	case CS_RINGING:
		if (r->dir == CD_X2S) {
			sip_send_req(tr, r, "CANCEL", r->inv_cseq,
				     r->inv_branch, NULL, NULL, NULL);
			call_state(r, CS_CANCELLING);
			call_deadline(tr, id, r, wall_ms() + CANCEL_WAIT_MS);
			call_save(tr, id, r);
			return;
		}
		/* one device declining does not end a multi-device ring */
		if (rung_remove(r, from)) {
			call_event(r, "%s declined", from);
			call_save(tr, id, r);
			return;
		}
		code = reject_code(tr, j, &phrase, pbuf, sizeof(pbuf));
		invite_reply(tr, r, code, phrase, NULL);
		break;
	default:
		return; /* cancelling already */
	}
	call_drop(tr, id, r, "terminated by the XMPP user");
}


/* <hold/>/<active/> -> re-INVITE with our media sendonly/sendrecv. */
static void x_hold(struct translator *tr, uint64_t id, struct callrec *r,
		   bool hold)
{
	struct jsdp *m = jsdp_alloc();
	struct mbuf *mb = mbuf_alloc(2048);
	struct jsdp_sdp_opts o = {0};
	const bool we_init = r->dir == CD_X2S;
	char eb[160], *sdp = NULL;
	struct pl pl;

	pl_set_str(&pl, r->lsdp ? r->lsdp : "");
	if (!m || !mb || jsdp_sdp_decode(m, &pl, we_init, eb, sizeof(eb)))
		goto out;
	for (unsigned i = 0; i < m->n; i++)
		m->c[i].senders = !hold     ? JSDP_BOTH
				  : we_init ? JSDP_INITIATOR
					    : JSDP_RESPONDER;
	o.author_is_initiator = we_init;
	o.origin = tr->proc.cfg->sip.local_host;
	o.sess_id = r->sdp_id;
	o.sess_version = ++r->sdp_ver;
	if (jsdp_sdp_encode(mb, m, &o))
		goto out;
	mb->pos = 0;
	if (mbuf_strdup(mb, &sdp, mb->end))
		goto out;
	sip_send_req(tr, r, "INVITE", 0, NULL, "application/sdp", NULL, sdp);
	set_str(&r->lsdp, sdp);
	call_event(r,
		   hold ? "hold (re-INVITE sent)" : "resume (re-INVITE sent)");
	call_save(tr, id, r);
out:
	mem_deref(m);
	mem_deref(mb);
	mem_deref(sdp);
}


/* session-info: ringing -> 180; DTMF -> INFO; hold/active -> re-INVITE */
static void x_info(struct translator *tr, uint64_t id, struct callrec *r,
		   xmpp_stanza_t *iq, xmpp_stanza_t *j)
{
	xmpp_stanza_t *c = xmpp_stanza_get_children(j);
	const char *n;

	/* the payload element; whitespace may come first */
	while (c && !xmpp_stanza_is_tag(c))
		c = xmpp_stanza_get_next(c);
	n = c ? xmpp_stanza_get_name(c) : NULL;

	iq_result(tr, iq);
	if (!n)
		return; /* a ping */
	if (!strcmp(n, "ringing") && r->dir == CD_S2X &&
	    r->state == CS_RINGING && r->last_scode < 180) {
		invite_reply(tr, r, 180, "Ringing", NULL);
		call_save(tr, id, r);
	} else if (!strcmp(n, "dtmf") && r->state == CS_ACTIVE) {
		char body[64];
		const char *code = attr(c, "code");
		unsigned dur =
			*attr(c, "duration") ? atoi(attr(c, "duration")) : 100;
		snprintf(body, sizeof(body), "Signal=%.1s\r\nDuration=%u\r\n",
			 code, dur);
		sip_send_req(tr, r, "INFO", 0, NULL, "application/dtmf-relay",
			     NULL, body);
		call_save(tr, id, r);
	} else if ((!strcmp(n, "hold") || !strcmp(n, "active")) &&
		   r->state == CS_ACTIVE) {
		x_hold(tr, id, r, !strcmp(n, "hold"));
	}
}


/* The media and proto of transport-only contents, from our SDP by name
 * (the model's strings then point into lsdp, which the caller keeps). */
static int frag_media(struct jsdp *m, const char *lsdp)
{
	struct jsdp *l = jsdp_alloc();
	struct pl pl;
	char eb[80];

	if (!l)
		return ENOMEM;
	pl_set_str(&pl, lsdp ? lsdp : "");
	if (!jsdp_sdp_decode(l, &pl, true, eb, sizeof(eb))) {
		for (unsigned i = 0; i < m->n; i++)
			for (unsigned k = 0; k < l->n; k++)
				if (!pl_cmp(&m->c[i].name, &l->c[k].name)) {
					m->c[i].media = l->c[k].media;
					m->c[i].proto = l->c[k].proto;
				}
	}
	mem_deref(l);
	return 0;
}


/* Send the trickle candidates held for the dialog, once there is one. */
static void frag_flush(struct translator *tr, struct callrec *r)
{
	if (!r->pend_frag || !*r->pend_frag || !r->rtag || !*r->rtag)
		return;
	sip_send_req(tr, r, "INFO", 0, NULL, "application/trickle-ice-sdpfrag",
		     "Info-Package: trickle-ice\r\n", r->pend_frag);
	r->pend_frag = mem_deref(r->pend_frag);
}


/* transport-info -> INFO with an RFC 8840 fragment (trickle ICE). */
static void x_transport_info(struct translator *tr, uint64_t id,
			     struct callrec *r, xmpp_stanza_t *iq,
			     xmpp_stanza_t *j)
{
	struct jsdp *m;
	struct mbuf *mb;
	char eb[160], *body = NULL, *frag = NULL;

	if (invite_held(r)) {
		if (held_merge(tr, r, j)) {
			iq_answer(tr, iq, "cancel", "item-not-found",
				  "no such content");
			return;
		}
		iq_result(tr, iq);
		call_save(tr, id, r);
		return;
	}
	m = jsdp_alloc();
	mb = mbuf_alloc(512);

	if (!m || !mb || jsdp_jingle_decode(m, j, eb, sizeof(eb)) ||
	    frag_media(m, r->lsdp) || jsdp_frag_encode(mb, m)) {
		iq_answer(tr, iq, "modify", "bad-request", m && mb ? eb : NULL);
		goto out;
	}
	iq_result(tr, iq);
	mb->pos = 0;
	if (mbuf_strdup(mb, &body, mb->end))
		goto out;
	/* RFC 8838: INFO needs a dialog; until the callee's first dialog
	 * creating response the candidates wait in the record */
	if (re_sdprintf(&frag, "%s%s", r->pend_frag ? r->pend_frag : "", body))
		goto out;
	mem_deref(r->pend_frag);
	r->pend_frag = frag;
	if (!r->rtag || !*r->rtag)
		call_event(r, "trickle candidates held until a dialog exists");
	frag_flush(tr, r);
	call_save(tr, id, r);
out:
	mem_deref(m);
	mem_deref(mb);
	mem_deref(body);
}


/* source-add/remove/update -> re-INVITE with a=jingle-action */
static void x_source(struct translator *tr, uint64_t id, struct callrec *r,
		     xmpp_stanza_t *iq, xmpp_stanza_t *j, const char *action)
{
	char eb[160], *sdp = NULL;

	if (r->state != CS_ACTIVE) {
		iq_answer(tr, iq, "cancel", "unexpected-request",
			  "the call is not answered");
		return;
	}
	if (sdp_of_jingle(tr, r, j, r->dir == CD_X2S, NULL, action, &sdp, eb,
			  sizeof(eb))) {
		iq_answer(tr, iq, "modify", "bad-request", eb);
		return;
	}
	sip_send_req(tr, r, "INVITE", 0, NULL, "application/sdp", NULL, sdp);
	call_event(r, "re-INVITE (%s) sent", action);
	call_save(tr, id, r);
	iq_result(tr, iq);
	mem_deref(sdp);
}


static void x_existing(struct translator *tr, uint64_t id, struct callrec *r,
		       xmpp_stanza_t *iq, const char *from)
{
	xmpp_stanza_t *j, *out;
	char caller[512], iqid[64];

	if (r->dir != CD_S2X || r->state != CS_RINGING || !r->init_xml ||
	    !*r->init_xml) {
		iq_answer(tr, iq, "cancel", "item-not-found",
			  "no session-initiate for this SID");
		return;
	}
	j = xmpp_stanza_new_from_string(ctx(tr), r->init_xml);
	if (!j) {
		iq_answer(tr, iq, "wait", "internal-server-error", NULL);
		return;
	}
	iq_result(tr, iq);
	bare_of(r->gwjid, caller, sizeof(caller));
	snprintf(iqid, sizeof(iqid), "xsgw-c%llu-e", (unsigned long long)id);
	out = xmpp_iq_new(ctx(tr), "set", iqid);
	xmpp_stanza_set_to(out, from);
	xmpp_stanza_set_from(out, caller);
	xmpp_stanza_add_child(out, j);
	xmpp_stanza_release(j);
	xml_send(tr, out);
	xmpp_stanza_release(out);
	if (!strstr(r->rung ? r->rung : "", from)) {
		char *t = NULL;
		re_sdprintf(&t, "%s%s\n", r->rung ? r->rung : "", from);
		mem_deref(r->rung);
		r->rung = t;
		call_save(tr, id, r);
	}
}


/* A reply to a session-initiate we sent: the device is alerting (result)
 * or refused it (error). */
static void x_iq_reply(struct translator *tr, xmpp_stanza_t *st)
{
	unsigned long long cid;
	struct callrec r;
	const char *from = attr(st, "from");

	if (sscanf(attr(st, "id"), "xsgw-c%llu-", &cid) != 1 ||
	    call_load(tr, cid, &r))
		return;
	if (r.dir == CD_S2X && r.state == CS_RINGING) {
		if (!strcmp(attr(st, "type"), "result") && r.last_scode < 180) {
			invite_reply(tr, &r, 180, "Ringing", NULL);
			call_save(tr, cid, &r);
		} else if (!strcmp(attr(st, "type"), "error") &&
			   strstr(r.rung ? r.rung : "", from)) {
			if (rung_remove(&r, from)) {
				call_save(tr, cid, &r);
			} else {
				invite_reply(tr, &r, 480,
					     "Temporarily Unavailable", NULL);
				call_drop(tr, cid, &r,
					  "every device refused the call");
			}
		}
	}
	callrec_reset(&r);
}


static void iq_in(struct translator *tr, xmpp_stanza_t *iq)
{
	const char *type = attr(iq, "type"), *from = attr(iq, "from");
	xmpp_stanza_t *j;
	const char *action, *sid;
	char owner[512];
	struct callrec r = {0};
	uint64_t id;

	if (!strcmp(type, "result") || !strcmp(type, "error")) {
		x_iq_reply(tr, iq);
		return;
	}
	j = xmpp_stanza_get_child_by_name_and_ns(iq, "jingle", NS_JINGLE);
	if (!j) {
		iq_answer(tr, iq, "cancel", "service-unavailable", NULL);
		return;
	}
	action = attr(j, "action");
	sid = attr(j, "sid");
	bare_of(from, owner, sizeof(owner));
	if (!*sid || !*action || !strchr(from, '/')) {
		iq_answer(tr, iq, "modify", "bad-request",
			  "jingle needs action and sid");
		return;
	}
	if (!domain_served(tr->proc.cfg, owner)) {
		iq_answer(tr, iq, "cancel", "forbidden",
			  "not a user of the served domains");
		return;
	}
	if (!strcmp(type, "set") && !strcmp(action, "session-initiate")) {
		x_initiate(tr, iq, j, from, attr(iq, "to"), owner, sid);
		return;
	}
	/* everything else acts on an existing session of the sender's */
	id = key_get(tr, 's', owner, sid);
	if (!id || call_load(tr, id, &r)) {
		iq_answer(tr, iq, "cancel", "item-not-found", NULL);
		return;
	}
	if (!strcmp(type, "get")) {
		if (!strcmp(action, "existing-session-initiate"))
			x_existing(tr, id, &r, iq, from);
		else
			iq_answer(tr, iq, "cancel", "feature-not-implemented",
				  NULL);
	} else if (!strcmp(action, "session-accept"))
		x_accept(tr, id, &r, iq, j, from);
	else if (!strcmp(action, "session-terminate"))
		x_terminate(tr, id, &r, iq, j, from);
	else if (!strcmp(action, "session-info"))
		x_info(tr, id, &r, iq, j);
	else if (!strcmp(action, "transport-info"))
		x_transport_info(tr, id, &r, iq, j);
	else if (!strncmp(action, "source-", 7))
		x_source(tr, id, &r, iq, j, action);
	else
		iq_answer(tr, iq, "cancel", "feature-not-implemented", NULL);
	callrec_reset(&r);
}


int tr_call_xmpp_in(struct translator *tr, struct frame *fr)
{
	char *xml = frame_get_strdup(fr);
	xmpp_stanza_t *st;

	if (frame_end(fr) || !xml) {
		mem_deref(xml);
		return EBADMSG;
	}
	st = xmpp_stanza_new_from_string(ctx(tr), xml);
	mem_deref(xml);
	if (!st) {
		log_warn("undecodable stanza from the xmpp-front");
		return 0; /* the front parsed it: not a channel error */
	}
	if (!strcmp(xmpp_stanza_get_name(st), "presence"))
		presence_in(tr, st);
	else if (!strcmp(xmpp_stanza_get_name(st), "message"))
		jmi_in(tr, st);
	else if (!strcmp(xmpp_stanza_get_name(st), "iq"))
		iq_in(tr, st);
	xmpp_stanza_release(st);
	return 0;
}


/* ---- SIP side acts --------------------------------------------------- */

static int sipin_decode(struct sipin *in, const char *raw, size_t rawl)
{
	in->mb = mbuf_alloc(rawl + 1);
	if (!in->mb)
		return ENOMEM;
	(void)mbuf_write_mem(in->mb, (const uint8_t *)raw, rawl);
	in->mb->pos = 0;
	return sip_msg_decode(&in->msg, in->mb);
}


static void sipin_reset(struct sipin *in)
{
	in->msg = mem_deref(in->msg);
	in->mb = mem_deref(in->mb);
}


static char *body_of(const struct sip_msg *msg)
{
	char *b = NULL;
	size_t n = mbuf_get_left(msg->mb);

	re_sdprintf(&b, "%b", mbuf_buf(msg->mb), n);
	return b;
}


/* The route set of a dialog from Record-Route (UAS: as is; UAC: reversed). */
static char *route_set(const struct sip_msg *msg, bool reverse)
{
	char *rs = NULL, *t;
	struct le *le;

	str_dup(&rs, "");
	for (le = list_head(&msg->hdrl); le && rs; le = le->next) {
		const struct sip_hdr *h = le->data;
		struct pl v = h->val, one;
		if (h->id != SIP_HDR_RECORD_ROUTE)
			continue;
		/* one header may hold several comma-separated routes */
		while (v.l) {
			size_t n = 0;
			bool inq = false;
			while (n < v.l && (inq || v.p[n] != ',')) {
				if (v.p[n] == '<' || v.p[n] == '>')
					inq = v.p[n] == '<';
				n++;
			}
			one.p = v.p;
			one.l = n;
			jsdp_trim(&one);
			t = NULL;
			if (reverse)
				re_sdprintf(&t, "%r\n%s", &one, rs);
			else
				re_sdprintf(&t, "%s%r\n", rs, &one);
			mem_deref(rs);
			rs = t;
			if (!rs)
				break;
			v.p += n < v.l ? n + 1 : n;
			v.l -= n < v.l ? n + 1 : n;
		}
	}
	return rs;
}


static void dialog_learn(struct callrec *r, const struct sip_msg *msg, bool uac)
{
	const struct sip_hdr *c = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr a;

	if (c && !sip_addr_decode(&a, &c->val))
		set_pl(&r->target, &a.auri);
	if (uac) {
		mem_deref(r->routes);
		r->routes = route_set(msg, true);
		set_pl(&r->rtag, &msg->to.tag);
	}
}


static void s_invite(struct translator *tr, struct sipin *in)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	const struct sip_msg *msg = in->msg;
	struct callrec r = {0};
	char user[256], host[256], owner[512], gw[600], eb[160], *list = NULL,
								 *body = NULL;
	xmpp_stanza_t *iq = NULL, *j;
	struct pl rawpl = {(const char *)in->mb->buf, in->mb->end};
	uint64_t id;
	unsigned n;
	int err;

	{
		char cid[256], ft[128];
		pl_strcpy(&msg->callid, cid, sizeof(cid));
		pl_strcpy(&msg->from.tag, ft, sizeof(ft));
		id = key_get(tr, 'u', cid, ft);
	}
	if (id) {
		/* a retransmission: the last provisional again */
		if (!call_load(tr, id, &r) && r.state == CS_RINGING &&
		    r.last_scode) {
			struct pl raw;
			pl_set_str(&raw, r.inv_raw);
			sip_send_resp(tr, in->tx, r.inv_src, &raw, totag_of(&r),
				      r.last_scode, "Ringing", true, NULL);
		}
		callrec_reset(&r);
		return;
	}
	pl_strcpy(&msg->uri.user, user, sizeof(user));
	pl_strcpy(&msg->uri.host, host, sizeof(host));
	if (addr_sip_to_user(cfg, user, host, owner, sizeof(owner))) {
		sipin_reply(tr, in, 404, "Not Found", false, NULL);
		return;
	}
	n = pres_online(tr, owner, &list);
	if (!n && !cfg->sip.propose_timeout_ms) {
		sipin_reply(tr, in, 480, "Temporarily Unavailable", false,
			    NULL);
		goto out;
	}
	if (!msg->ctyp.type.l ||
	    pl_strcasecmp(&msg->ctyp.type, "application") ||
	    pl_strcasecmp(&msg->ctyp.subtype, "sdp") ||
	    !mbuf_get_left(msg->mb)) {
		/* nobody known online: that is the answer, offer or not */
		if (!n)
			sipin_reply(tr, in, 480, "Temporarily Unavailable",
				    false, NULL);
		else
			sipin_reply(tr, in, 488, "SDP Offer Required", false,
				    NULL);
		goto out;
	}
	pl_strcpy(&msg->from.uri.user, user, sizeof(user));
	pl_strcpy(&msg->from.uri.host, host, sizeof(host));
	if (addr_sip_to_gwjid(cfg, user, host, gw, sizeof(gw))) {
		sipin_reply(tr, in, 400, "Bad From", false, NULL);
		goto out;
	}
	body = body_of(msg);
	r.dir = CD_S2X;
	r.created = wall_ms();
	set_str(&r.owner, owner);
	set_str(&r.ufull, "");
	set_str(&r.gwjid, gw);
	r.sid = token("");
	set_str(&r.initiator, gw);
	set_str(&r.responder, owner);
	r.rung = list;
	list = NULL;
	set_pl(&r.callid, &msg->callid);
	set_pl(&r.rtag, &msg->from.tag);
	/* libre writes To-tags as 16 hex digits of a u64 */
	re_sdprintf(&r.ltag, "%016llx", (unsigned long long)random_u64());
	re_sdprintf(&r.luri, "<%r>", &msg->to.auri);
	re_sdprintf(&r.ruri, "<%r>", &msg->from.auri);
	dialog_learn(&r, msg, false);
	r.routes = route_set(msg, false);
	r.rcseq = r.inv_cseq = msg->cseq.num;
	r.inv_tx = in->tx;
	set_str(&r.inv_src, in->src);
	pl_strdup(&r.inv_raw, &rawpl);
	r.rsdp = body;
	body = NULL;

	id = store_next_id(tr_txn(tr));
	iq = jingle_iq(tr, id, &r, owner, "session-initiate", &j);
	err = jingle_of_sdp(tr, j, r.rsdp, true, NULL, eb, sizeof(eb));
	if (err) {
		log_info("INVITE %s: SDP refused: %s", r.callid, eb);
		char reason[200];
		snprintf(reason, sizeof(reason), "Not Acceptable Here (%s)",
			 eb);
		sipin_reply(tr, in, 488, reason, false, NULL);
		goto out;
	}
	{
		char *buf = NULL;
		size_t len = 0;
		if (xmpp_stanza_to_text(j, &buf, &len) == XMPP_EOK) {
			re_sdprintf(&r.init_xml, "%b", buf, len);
			xmpp_free(ctx(tr), buf);
		}
	}
	call_state(&r, CS_RINGING);
	invite_reply(tr, &r, 100, "Trying", NULL);
	key_put(tr, 'u', r.callid, r.rtag, id);
	key_put(tr, 'd', r.callid, r.ltag, id);
	key_put(tr, 's', r.owner, r.sid, id);
	if (n) {
		call_deadline(tr, id, &r, wall_ms() + cfg->sip.ring_timeout_ms);
		jingle_to_all(tr, id, &r, iq);
	} else {
		/* §6.0: no presence seen; ask the user's devices (XEP-0353) */
		r.jmi = 1;
		jmi_send(tr, &r, owner, "propose");
		call_event(&r, "propose to %s", owner);
		call_deadline(tr, id, &r,
			      wall_ms() + cfg->sip.propose_timeout_ms);
	}
	call_save(tr, id, &r);
	store_count(tr_txn(tr), "calls.s2x", 1);
	log_info("call %llu: %s -> %s (%u device(s), sid %s, Call-ID %s)",
		 (unsigned long long)id, gw, owner, n, r.sid, r.callid);
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(list);
	mem_deref(body);
	callrec_reset(&r);
}


static void s_cancel(struct translator *tr, struct sipin *in)
{
	char cid[256], ft[128];
	struct callrec r = {0};
	uint64_t id;

	pl_strcpy(&in->msg->callid, cid, sizeof(cid));
	pl_strcpy(&in->msg->from.tag, ft, sizeof(ft));
	id = key_get(tr, 'u', cid, ft);
	if (!id || call_load(tr, id, &r)) {
		sipin_reply(tr, in, 481, "Call/Transaction Does Not Exist",
			    false, NULL);
		return;
	}
	sipin_reply(tr, in, 200, "OK", false, NULL);
	if (r.state == CS_RINGING) {
		invite_reply(tr, &r, 487, "Request Terminated", NULL);
		if (jmi_pending(&r))
			jmi_send(tr, &r, r.owner, "retract");
		else
			jingle_terminate(tr, id, &r, "decline", 0, NULL);
		call_drop(tr, id, &r, "CANCEL");
	}
	callrec_reset(&r);
}


static bool payload_same(const struct jsdp_payload *a,
			 const struct jsdp_payload *b)
{
	if (pl_isset(&a->name) && pl_isset(&b->name))
		return !pl_casecmp(&a->name, &b->name) && a->clock == b->clock;
	return a->id == b->id && a->id < 96; /* static types */
}


/*
 * The answer to a re-offer from our current media (RFC 3264 §6): per offered
 * stream the first unused local stream of the same media, under the offer's
 * name, with the codecs both have (the offer's payload numbers) and the
 * offer's direction mirrored; no common codec refuses the stream.
 */
static void answer_model(struct jsdp *am, const struct jsdp *lm,
			 const struct jsdp *om)
{
	bool used[JSDP_MAX_CONTENTS] = {false};

	memset(am, 0, sizeof(*am));
	for (unsigned i = 0; i < om->n; i++) {
		const struct jsdp_content *oc = &om->c[i];
		struct jsdp_content *c = &am->c[am->n];
		unsigned k;

		for (k = 0; k < lm->n; k++)
			if (!used[k] && !lm->c[k].rejected &&
			    !pl_casecmp(&lm->c[k].media, &oc->media))
				break;
		if (k == lm->n || oc->rejected)
			continue; /* refused: port 0 in the answer */
		used[k] = true;
		*c = lm->c[k];
		c->name = oc->name;
		c->senders = oc->senders;
		c->npt = 0;
		for (unsigned a = 0; a < oc->npt; a++)
			for (unsigned b = 0; b < lm->c[k].npt; b++)
				if (payload_same(&oc->pt[a], &lm->c[k].pt[b])) {
					c->pt[c->npt] = lm->c[k].pt[b];
					c->pt[c->npt++].id = oc->pt[a].id;
					break;
				}
		if (c->npt)
			am->n++;
	}
	memcpy(am->grp, om->grp, sizeof(am->grp));
	am->ngrp = om->ngrp;
}


/* re-INVITE from the SIP side: to XMPP as the action it names (source-*),
 * hold/active, or transport-info; answered with a real SDP answer. */
static void s_reinvite(struct translator *tr, uint64_t id, struct callrec *r,
		       struct sipin *in)
{
	const struct sip_msg *msg = in->msg;
	char *offer = body_of(msg), *answer = NULL, eb[160];
	struct jsdp *om = jsdp_alloc(), *lm = jsdp_alloc(), *am = jsdp_alloc();
	struct mbuf *mb = mbuf_alloc(2048);
	struct jsdp_sdp_opts o = {0};
	xmpp_stanza_t *iq = NULL, *j;
	struct pl opl, lpl, action = PL_INIT;
	const bool we_init = r->dir == CD_X2S;
	bool held = true;
	int err;

	if (!offer || !om || !lm || !am || !mb)
		goto out;
	if (!*offer) {
		/* offerless re-INVITE: our current SDP as the offer */
		sipin_reply(tr, in, 200, "OK", true, r->lsdp);
		goto out;
	}
	pl_set_str(&opl, offer);
	pl_set_str(&lpl, r->lsdp ? r->lsdp : "");
	err = jsdp_sdp_decode(om, &opl, !we_init, eb, sizeof(eb));
	if (!err)
		err = jsdp_sdp_decode(lm, &lpl, we_init, eb, sizeof(eb));
	if (err) {
		char reason[200];
		snprintf(reason, sizeof(reason), "Not Acceptable Here (%s)",
			 eb);
		sipin_reply(tr, in, 488, reason, false, NULL);
		goto out;
	}
	/* answer with our media, following the offer's directions */
	answer_model(am, lm, om);
	for (unsigned i = 0; i < om->n; i++)
		if (om->c[i].senders == JSDP_BOTH && !om->c[i].rejected)
			held = false;
	o.author_is_initiator = we_init;
	o.origin = tr->proc.cfg->sip.local_host;
	o.sess_id = r->sdp_id;
	o.sess_version = ++r->sdp_ver;
	o.offer = om;
	if (jsdp_sdp_encode(mb, am, &o)) {
		sipin_reply(tr, in, 488, "Not Acceptable Here", false, NULL);
		goto out;
	}
	mb->pos = 0;
	mbuf_strdup(mb, &answer, mb->end);
	action = om->action;
	if (pl_isset(&action)) {
		char act[32];
		pl_strcpy(&action, act, sizeof(act));
		iq = jingle_iq(tr, id, r, r->ufull, act, &j);
		jingle_of_sdp(tr, j, offer, !we_init, NULL, eb, sizeof(eb));
	} else if (held || r->held) {
		/* on hold, or off it again: XEP-0167 session-info */
		iq = jingle_iq(tr, id, r, r->ufull, "session-info", &j);
		elem(tr, j, held ? "hold" : "active", NS_RTP_INFO);
	} else {
		iq = jingle_iq(tr, id, r, r->ufull, "transport-info", &j);
		jingle_of_sdp(tr, j, offer, !we_init, NULL, eb, sizeof(eb));
	}
	r->held = held;
	xml_send(tr, iq);
	set_str(&r->rsdp, offer);
	set_str(&r->lsdp, answer);
	r->rcseq = msg->cseq.num;
	call_event(r, "re-INVITE received%s", held ? " (hold)" : "");
	sipin_reply(tr, in, 200, "OK", true, answer);
	call_save(tr, id, r);
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(offer);
	mem_deref(answer);
	mem_deref(om);
	mem_deref(lm);
	mem_deref(am);
	mem_deref(mb);
}


/* INFO: DTMF relay -> XEP-0181; trickle ICE fragment -> transport-info */
static void s_info(struct translator *tr, uint64_t id, struct callrec *r,
		   struct sipin *in)
{
	const struct sip_msg *msg = in->msg;
	char *body = body_of(msg), *sdp = NULL, eb[160];
	xmpp_stanza_t *iq = NULL, *j;
	struct pl sig;

	if (!body)
		return;
	if (!mbuf_get_left(msg->mb)) {
		sipin_reply(tr, in, 200, "OK", false, NULL);
		goto out;
	}
	if (!pl_strcasecmp(&msg->ctyp.subtype, "dtmf-relay") &&
	    !re_regex(body, strlen(body), "Signal=[ ]*[0-9A-D*#]1", NULL,
		      &sig)) {
		char code[2] = {sig.p[0], 0};
		iq = jingle_iq(tr, id, r, r->ufull, "session-info", &j);
		xmpp_stanza_t *d = elem(tr, j, "dtmf", NS_DTMF);
		xmpp_stanza_set_attribute(d, "code", code);
	} else if (!pl_strcasecmp(&msg->ctyp.subtype, "trickle-ice-sdpfrag") ||
		   !pl_strcasecmp(&msg->ctyp.subtype, "sdpfrag")) {
		re_sdprintf(&sdp,
			    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\n"
			    "t=0 0\r\n%s",
			    body);
		iq = jingle_iq(tr, id, r, r->ufull, "transport-info", &j);
		if (!sdp || transports_of_sdp(tr, j, sdp, r->dir == CD_S2X, eb,
					      sizeof(eb))) {
			sipin_reply(tr, in, 400, "Bad SDP Fragment", false,
				    NULL);
			goto out;
		}
	} else {
		sipin_reply(tr, in, 415, "Unsupported Media Type", false, NULL);
		goto out;
	}
	xml_send(tr, iq);
	sipin_reply(tr, in, 200, "OK", false, NULL);
	r->rcseq = msg->cseq.num;
	call_save(tr, id, r);
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(body);
	mem_deref(sdp);
}


static void s_in_dialog(struct translator *tr, struct sipin *in)
{
	const struct sip_msg *msg = in->msg;
	char cid[256], tt[128];
	struct callrec r = {0};
	uint64_t id;

	pl_strcpy(&msg->callid, cid, sizeof(cid));
	pl_strcpy(&msg->to.tag, tt, sizeof(tt));
	id = key_get(tr, 'd', cid, tt);
	if (!id || call_load(tr, id, &r)) {
		if (pl_strcmp(&msg->met, "ACK"))
			sipin_reply(tr, in, 481,
				    "Call/Transaction Does Not Exist", false,
				    NULL);
		return;
	}
	if (pl_strcmp(&msg->met, "ACK") && r.rcseq && msg->cseq.num < r.rcseq &&
	    pl_strcmp(&msg->met, "CANCEL")) {
		sipin_reply(tr, in, 500, "Out Of Order CSeq", false, NULL);
		goto out;
	}
	if (!pl_strcmp(&msg->met, "ACK")) {
		if (r.dir == CD_S2X && r.inv_out &&
		    msg->cseq.num == r.inv_cseq) {
			(void)tr_out_done(tr, r.inv_out);
			out_unindex(tr, r.inv_out);
			r.inv_out = 0;
			call_event(&r, "ACK");
			call_save(tr, id, &r);
		}
	} else if (!pl_strcmp(&msg->met, "BYE")) {
		sipin_reply(tr, in, 200, "OK", false, NULL);
		jingle_terminate(tr, id, &r, "success", 0, NULL);
		call_drop(tr, id, &r, "BYE from SIP");
	} else if (!pl_strcmp(&msg->met, "INVITE") ||
		   !pl_strcmp(&msg->met, "UPDATE")) {
		if (r.state != CS_ACTIVE)
			sipin_reply(tr, in, 491, "Request Pending", false,
				    NULL);
		else
			s_reinvite(tr, id, &r, in);
	} else if (!pl_strcmp(&msg->met, "INFO"))
		s_info(tr, id, &r, in);
	else if (!pl_strcmp(&msg->met, "OPTIONS"))
		sipin_reply(tr, in, 200, "OK", false, NULL);
	else
		sipin_reply(tr, in, 405, "Method Not Allowed", false, NULL);
	if (r.state == CS_ACTIVE && key_get(tr, 'd', r.callid, r.ltag) == id) {
		/* activity keeps the call from the idle sweep */
		call_deadline(tr, id, &r,
			      wall_ms() +
				      tr->proc.cfg->sip.call_idle_timeout_s *
					      1000ULL);
		call_save(tr, id, &r);
	}
out:
	callrec_reset(&r);
}


int tr_call_sip_request(struct translator *tr, struct frame *fr)
{
	struct sipin in = {0};
	const char *src, *raw;
	size_t srcl, rawl;
	int err;

	in.tx = frame_get_u64(fr);
	frame_get_str(fr, &src, &srcl);
	frame_get_str(fr, &raw, &rawl);
	if (frame_end(fr) || srcl >= sizeof(in.src))
		return EBADMSG;
	memcpy(in.src, src, srcl);
	err = sipin_decode(&in, raw, rawl);
	if (err) {
		log_warn("undecodable request from the sip-front");
		sipin_reset(&in);
		return 0;
	}
	if (!pl_strcmp(&in.msg->met, "INVITE") && !pl_isset(&in.msg->to.tag))
		s_invite(tr, &in);
	else if (!pl_strcmp(&in.msg->met, "CANCEL"))
		s_cancel(tr, &in);
	else if (pl_isset(&in.msg->to.tag))
		s_in_dialog(tr, &in);
	else if (pl_strcmp(&in.msg->met, "ACK"))
		sipin_reply(tr, &in, 481, "Call/Transaction Does Not Exist",
			    false, NULL);
	sipin_reset(&in);
	return 0;
}


/* A final failure of our INVITE: tell the caller why. */
static void invite_failed(struct translator *tr, uint64_t id, struct callrec *r,
			  unsigned scode, const char *phrase)
{
	if (r->state == CS_CANCELLING) {
		call_drop(tr, id, r, "cancelled");
		return;
	}
	if (scode == 486 || scode == 603)
		jingle_terminate(tr, id, r, "decline", 0, NULL);
	else if (scode == 600)
		jingle_terminate(tr, id, r, "busy", 0, NULL);
	else
		jingle_terminate(tr, id, r, "general-error", scode, phrase);
	call_event(r, "final %u %s", scode, phrase);
	call_drop(tr, id, r, phrase);
}


static void ack_2xx(struct translator *tr, struct callrec *r, uint32_t cseq)
{
	sip_send_req(tr, r, "ACK", cseq, NULL, NULL, NULL, NULL);
}


static void x_answered(struct translator *tr, uint64_t id, struct callrec *r,
		       const struct sip_msg *msg)
{
	char *sdp = body_of(msg), eb[160];
	xmpp_stanza_t *iq, *j;

	dialog_learn(r, msg, true);
	ack_2xx(tr, r, r->inv_cseq);
	if (r->state == CS_CANCELLING) {
		/* the callee answered as we cancelled: end it properly */
		sip_send_req(tr, r, "BYE", 0, NULL, NULL, NULL, NULL);
		call_drop(tr, id, r, "answered after CANCEL");
		goto out;
	}
	iq = jingle_iq(tr, id, r, r->ufull, "session-accept", &j);
	if (!sdp || jingle_of_sdp(tr, j, sdp, false, NULL, eb, sizeof(eb))) {
		xmpp_stanza_release(iq);
		sip_send_req(
			tr, r, "BYE", 0, NULL, NULL,
			"Reason: SIP;cause=488;text=\"Bad SDP answer\"\r\n",
			NULL);
		jingle_terminate(tr, id, r, "failed-application", 0, NULL);
		call_drop(tr, id, r, "unusable SDP answer");
		goto out;
	}
	xml_send(tr, iq);
	xmpp_stanza_release(iq);
	set_str(&r->rsdp, sdp);
	call_state(r, CS_ACTIVE);
	frag_flush(tr, r);
	call_deadline(tr, id, r,
		      wall_ms() +
			      tr->proc.cfg->sip.call_idle_timeout_s * 1000ULL);
	call_save(tr, id, r);
out:
	mem_deref(sdp);
}


int tr_call_sip_response(struct translator *tr, struct frame *fr)
{
	struct sipin in = {0};
	struct callrec r = {0};
	char reason[128], cid[256], ft[128];
	const char *rs, *raw;
	size_t rsl, rawl;
	uint64_t oid, id = 0;
	uint32_t scode;
	const struct sip_msg *msg;

	oid = frame_get_u64(fr);
	scode = frame_get_u32(fr);
	frame_get_str(fr, &rs, &rsl);
	frame_get_str(fr, &raw, &rawl);
	if (frame_end(fr) || scode < 100 || scode > 699)
		return EBADMSG;
	snprintf(reason, sizeof(reason), "%.*s", (int)rsl, rs);
	if (oid && scode >= 200)
		(void)tr_out_done(tr, oid);
	if (!rawl) {
		/* a local failure: only an INVITE's matters */ id =
			out_lookup(tr, oid);
		if (id && !call_load(tr, id, &r) &&
		    (r.state == CS_CALLING || r.state == CS_RINGING ||
		     r.state == CS_CANCELLING))
			invite_failed(tr, id, &r, scode, reason);
		callrec_reset(&r);
		return 0;
	}
	if (sipin_decode(&in, raw, rawl)) {
		sipin_reset(&in);
		return 0;
	}
	msg = in.msg;
	pl_strcpy(&msg->callid, cid, sizeof(cid));
	pl_strcpy(&msg->from.tag, ft, sizeof(ft));
	id = key_get(tr, 'd', cid, ft);
	if (!id || call_load(tr, id, &r))
		goto out;
	if (pl_strcmp(&msg->cseq.met, "INVITE"))
		goto out; /* BYE, INFO, CANCEL: nothing to translate */
	if (msg->cseq.num != r.inv_cseq) {
		/* our re-INVITE */
		if (scode >= 200 && scode < 300) {
			ack_2xx(tr, &r, msg->cseq.num);
			call_save(tr, id, &r);
		}
		goto out;
	}
	if (r.dir != CD_X2S)
		goto out;
	if (scode < 200) {
		if (scode > 100 && r.state == CS_CALLING) {
			if (pl_isset(&msg->to.tag)) {
				dialog_learn(&r, msg, true);
				frag_flush(tr, &r);
			}
			xmpp_stanza_t *j, *iq = jingle_iq(tr, id, &r, r.ufull,
							  "session-info", &j);
			elem(tr, j, "ringing", NS_RTP_INFO);
			xml_send(tr, iq);
			xmpp_stanza_release(iq);
			call_state(&r, CS_RINGING);
			call_save(tr, id, &r);
		}
	} else if (scode < 300) {
		if (r.state == CS_ACTIVE) {
			ack_2xx(tr, &r, r.inv_cseq); /* 2xx retransmitted */
			call_save(tr, id, &r);
		} else
			x_answered(tr, id, &r, msg);
	} else if (r.state != CS_ACTIVE)
		invite_failed(tr, id, &r, scode, reason);
out:
	callrec_reset(&r);
	sipin_reset(&in);
	return 0;
}


void tr_call_result(struct translator *tr, uint64_t id, uint32_t scode)
{
	uint64_t cid = out_lookup(tr, id);

	/* A 2xx we sent was never ACKed (RFC 3261 13.3.1.4): end the call. */
	if (cid && scode == 408 && !tr_call_end(tr, cid, "no ACK for the 200"))
		log_info("call %llu: the caller never ACKed the 200",
			 (unsigned long long)cid);
}


int tr_call_end(struct translator *tr, uint64_t id, const char *why)
{
	struct callrec r = {0};
	int err = call_load(tr, id, &r);

	if (err)
		return err;
	if (invite_held(&r)) {
		jingle_terminate(tr, id, &r, "cancel", 0, NULL);
		call_drop(tr, id, &r, why);
		callrec_reset(&r);
		return 0;
	}
	switch (r.state) {
	case CS_ACTIVE:
		sip_send_req(tr, &r, "BYE", 0, NULL, NULL, NULL, NULL);
		jingle_terminate(tr, id, &r, "success", 0, NULL);
		break;
	case CS_CALLING:
	case CS_RINGING:
		if (r.dir == CD_X2S) {
			sip_send_req(tr, &r, "CANCEL", r.inv_cseq, r.inv_branch,
				     NULL, NULL, NULL);
			jingle_terminate(tr, id, &r, "timeout", 0, NULL);
			call_state(&r, CS_CANCELLING);
			call_deadline(tr, id, &r, wall_ms() + CANCEL_WAIT_MS);
			call_save(tr, id, &r);
			callrec_reset(&r);
			return 0;
		}
		invite_reply(tr, &r, 480, "Temporarily Unavailable", NULL);
		if (jmi_pending(&r))
			jmi_send(tr, &r, r.owner, "retract");
		else
			jingle_terminate(tr, id, &r, "timeout", 0, NULL);
		break;
	default:
		break;
	}
	call_drop(tr, id, &r, why);
	callrec_reset(&r);
	return 0;
}


int tr_call_expired(struct translator *tr, uint64_t id)
{
	struct callrec r = {0};
	int err = call_load(tr, id, &r);

	if (err)
		return ENOENT;
	r.deadline = 0; /* the sweep removed it */
	if (invite_held(&r)) {
		(void)invite_held_send(tr, id, &r);
		callrec_reset(&r);
		return 0;
	}
	call_save(tr, id, &r);
	callrec_reset(&r);
	return tr_call_end(tr, id,
			   "timed out (no answer, no activity or no final "
			   "response)");
}


int tr_call_init(struct translator *tr)
{
	xmpp_initialize();
	tr->xctx = xmpp_ctx_new(NULL, NULL);
	return tr->xctx ? 0 : ENOMEM;
}


void tr_call_close(struct translator *tr)
{
	if (tr->xctx)
		xmpp_ctx_free(tr->xctx);
	tr->xctx = NULL;
	xmpp_shutdown();
}
