/**
 * @file tr_call_xfer.c  The call state machine's actions of a blind
 *                       transfer (RFC 3515 REFER, RFC 5589 §6): the SIP
 *                       party asks the gateway to call someone else in
 *                       its place, and the XMPP user's session goes on
 *                       with them (see the table in tr_call.c).
 *
 * A REFER (Refer-To: <sip:carol@...>) in an answered call is answered 202
 * and followed by a NOTIFY "SIP/2.0 100 Trying" (Event: refer,
 * message/sipfrag) in its dialog; then an INVITE goes to carol in a new
 * dialog: a new Call-ID and local tag, From the call's local URI, the
 * XMPP party's current media as the offer (every stream sendrecv again:
 * the transferor has usually put it on hold), through the call's next hop
 * (the linked account's proxy, sip.proxy, or the Request-URI). Without a
 * proxy the target's host must be one the gateway calls (F9), so a REFER
 * cannot make it call anything on its network.
 *
 * Crash safety: the new dialog is in the record (xfer_*) and its key
 * CK_DIALOG(new Call-ID, new tag) names the call from the REFER on, both
 * written in the transaction that stages the 202, the NOTIFY and the
 * INVITE. A translator killed after the 202 finds them when carol's
 * answer comes, and completes the transfer.
 *
 * carol's 2xx: NOTIFY "200 OK" (Subscription-State: terminated) and BYE in
 * the old dialog; the new dialog becomes the call's (Call-ID, tags, remote
 * URI and target, route set, CSeqs; the old dialog's keys deleted) and its
 * 2xx is ACKed — all in one transaction. The user gets a transport-info
 * with carol's media: the session (sid, initiator, responder, the gateway
 * JID) stays, only the remote media changed, which is how the gateway
 * tells any re-INVITE that changes them (SPEC 6.1) and how XEP-0176
 * clients see an ICE restart (new ufrag/pwd); transport-replace would ask
 * for a transport-accept that RTP clients do not implement.
 *
 * A failure (>= 300, a local failure, or no answer within
 * sip.ring_timeout_ms: CANCEL) is NOTIFYed with its status, and the old
 * call goes on. A transferor that hangs up meanwhile (many phones BYE
 * right after the 202) is answered 200 and the transfer goes on
 * (CX_ORPHANED); if it then fails, the XMPP user's session ends.
 *
 * A REFER with Refer-Sub: false (RFC 4488) is answered 202 with Refer-Sub:
 * false and gets no NOTIFYs. The INVITE to the target carries Referred-By
 * (RFC 3892): the REFER's, or the transferor's URI.
 *
 * Not done: attended transfer (Refer-To with Replaces: 501), NOTIFYs for
 * the target's provisional responses, the linked account's Service-Route
 * on the new INVITE (its proxy is the next hop; its credentials answer a
 * 401/407 once).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "tr_call_act.h"
#include "util.h"

enum { XFER_SUB_S = 60 }; /* the implicit subscription's Expires */


/* The transfer's dialog as a record for tr_sip_request: the call's, with
 * the new dialog's identifiers. v shares r's strings: never reset it. */
static void xfer_view(const struct callrec *r, struct callrec *v, char *to,
		      size_t sz)
{
	*v = *r;
	snprintf(to, sz, "<%s>", r->xfer_ruri ? r->xfer_ruri : "");
	v->dir = CD_X2S; /* our INVITE: the next hop, not the R-URI */
	v->callid = r->xfer_callid;
	v->ltag = r->xfer_ltag;
	v->rtag = NULL;
	v->ruri = to;
	v->target = NULL;
	v->routes = NULL;
	v->inv_ruri = r->xfer_ruri;
}


static uint64_t xfer_request(struct call_ctx *c, const char *method,
			     const char *auth, const char *body)
{
	const struct callrec *r = c->r;
	struct callrec v;
	char to[700], *extra = NULL;
	uint64_t out;

	xfer_view(r, &v, to, sizeof(to));
	if (!strcmp(method, "INVITE") && r->xfer_by && *r->xfer_by &&
	    re_sdprintf(&extra, "%sReferred-By: %s\r\n", auth ? auth : "",
			r->xfer_by))
		return 0;
	out = tr_sip_request(c->tr, OWN_C(c), &v, method, r->xfer_cseq,
			     r->xfer_branch, body ? "application/sdp" : NULL,
			     NULL, extra ? extra : auth, body);
	mem_deref(extra);
	return out;
}


/* A status line for a sipfrag: printable ASCII only. */
static void phrase_clean(const char *in, char *out, size_t sz)
{
	size_t n = 0;

	for (; in && *in && n + 1 < sz; in++)
		if (*in >= 0x20 && *in < 0x7f)
			out[n++] = *in;
	out[n] = 0;
}


/* RFC 3515 2.4.5: the progress of the transfer in the old dialog. */
static void xfer_notify(struct call_ctx *c, unsigned scode, const char *reason,
			bool final)
{
	char extra[160], frag[200], ph[128];

	if (c->r->xfer_nosub)
		return; /* RFC 4488: no implicit subscription */
	phrase_clean(reason, ph, sizeof(ph));
	snprintf(extra, sizeof(extra),
		 "Event: refer;id=%u\r\nSubscription-State: %s\r\n",
		 c->r->xfer_refer,
		 final ? "terminated;reason=noresource" : "active;expires=60");
	snprintf(frag, sizeof(frag), "SIP/2.0 %u %s\r\n", scode,
		 *ph ? ph : "Unknown");
	(void)tr_sip_request(c->tr, OWN_C(c), c->r, "NOTIFY", 0, NULL,
			     "message/sipfrag;version=2.0", NULL, extra, frag);
}


static void xfer_clear(struct callrec *r)
{
	r->xfer = CX_NONE;
	r->xfer_refer = r->xfer_cseq = 0;
	r->xfer_out = r->xfer_until = 0;
	r->xfer_callid = mem_deref(r->xfer_callid);
	r->xfer_ltag = mem_deref(r->xfer_ltag);
	r->xfer_ruri = mem_deref(r->xfer_ruri);
	r->xfer_branch = mem_deref(r->xfer_branch);
	r->xfer_sdp = mem_deref(r->xfer_sdp);
	r->xfer_by = mem_deref(r->xfer_by);
	r->xfer_nosub = 0;
}


/* F9 for a Refer-To: the host a user may make the gateway call. */
static bool target_allowed(struct call_ctx *c, const char *uri)
{
	struct uri u;
	struct pl pl;
	char host[300];

	if (c->r->hop && *c->r->hop)
		return true; /* the account's proxy decides */
	pl_set_str(&pl, uri);
	if (uri_decode(&u, &pl))
		return false;
	if (u.af == AF_INET6)
		re_snprintf(host, sizeof(host), "[%r]", &u.host);
	else
		re_snprintf(host, sizeof(host), "%r", &u.host);
	if (u.port)
		re_snprintf(host + strlen(host), sizeof(host) - strlen(host),
			    ":%u", u.port);
	return addr_sip_host_allowed(call_cfg_of(c), host);
}


int call_s_refer(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	struct callrec *r = c->r;
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REFER_TO);
	char uri[600], *sdp = NULL;
	int err;

	if (r->xfer) {
		call_reply(c, 491, "Request Pending", false, NULL);
		return NOCHANGE;
	}
	err = h && sip_msg_hdr_count(msg, SIP_HDR_REFER_TO) == 1
		      ? call_refer_uri(&h->val, uri, sizeof(uri))
		      : EINVAL;
	if (err == EPROTONOSUPPORT) {
		call_reply(c, 416, "Unsupported URI Scheme", false, NULL);
		return NOCHANGE;
	}
	if (err == ENOTSUP) {
		call_reply(c, 501, "Attended Transfer Not Implemented", false,
			   NULL);
		return NOCHANGE;
	}
	if (err) {
		call_reply(c, 400, "Bad Refer-To", false, NULL);
		return NOCHANGE;
	}
	if (!target_allowed(c, uri)) {
		call_reply(c, 403, "The Gateway Does Not Call That Host", false,
			   NULL);
		return NOCHANGE;
	}
	/* the XMPP party's media: the offer to the target, sendrecv, or
	 * sendonly while the user holds the call */
	if (tr_media_hold_sdp(c->tr, r, r->local_hold, &sdp)) {
		call_reply(c, 500, "No Media To Offer", false, NULL);
		return NOCHANGE;
	}
	xfer_clear(r); /* (a decoded record has them, empty) */
	r->xfer_sdp = sdp;
	r->xfer_callid = tr_sip_token("");
	r->xfer_ltag = tr_sip_token("");
	r->xfer_branch = tr_sip_token("z9hG4bK");
	if (tr_callrec_set(&r->xfer_ruri, uri) || !r->xfer_callid ||
	    !r->xfer_ltag || !r->xfer_branch) {
		xfer_clear(r);
		call_reply(c, 500, "Server Internal Error", false, NULL);
		return NOCHANGE;
	}
	/* RFC 3892: the REFER's Referred-By if it is one line of printable
	 * ASCII, else the transferor (the call's remote URI) */
	h = sip_msg_xhdr(msg, "Referred-By");
	if (h && h->val.l && h->val.l < 512 && addr_sip_clean(&h->val))
		err = tr_callrec_set_pl(&r->xfer_by, &h->val);
	else
		err = tr_callrec_set(&r->xfer_by, r->ruri);
	/* RFC 4488: Refer-Sub: false asks for no NOTIFYs */
	h = sip_msg_xhdr(msg, "Refer-Sub");
	r->xfer_nosub = h && !pl_strcasecmp(&h->val, "false");
	if (err) {
		xfer_clear(r);
		call_reply(c, 500, "Server Internal Error", false, NULL);
		return NOCHANGE;
	}
	r->xfer = CX_PENDING;
	r->xfer_refer = msg->cseq.num;
	r->xfer_cseq = 1;
	r->xfer_until = wall_ms() + call_cfg_of(c)->sip.ring_timeout_ms;
	/* persisted with what follows: a new translator finds the call by
	 * the new dialog's responses and requests too */
	tr_callrec_key_put(c->tr, CK_DIALOG, r->xfer_callid, r->xfer_ltag,
			   c->id);
	call_reply_extra(c, 202, "Accepted", false, NULL,
			 r->xfer_nosub ? "Refer-Sub: false\r\n" : NULL);
	xfer_notify(c, 100, "Trying", false);
	r->xfer_out = xfer_request(c, "INVITE", NULL, r->xfer_sdp);
	tr_callrec_event(r, "REFER: INVITE to %s (Call-ID %s)", uri,
			 r->xfer_callid);
	log_info("call %llu: transfer to %s (Call-ID %s)",
		 (unsigned long long)c->id, uri, r->xfer_callid);
	call_idle_deadline(c); /* now the transfer's, sooner */
	return CS_ACTIVE;
}


int call_s_refer_refused(struct call_ctx *c)
{
	call_reply(c, 403, "Transfer Only In An Answered Call", false, NULL);
	return NOCHANGE;
}


/* RFC 5589 6.1: the transferor may hang up once it has the 202; the
 * transfer goes on, the old dialog is over. */
int call_s_bye_xfer(struct call_ctx *c)
{
	struct callrec *r = c->r;

	call_reply(c, 200, "OK", false, NULL);
	tr_callrec_key_del(c->tr, CK_DIALOG, r->callid, r->ltag);
	if (r->dir == CD_S2X)
		tr_callrec_key_del(c->tr, CK_REMOTE, r->callid, r->rtag);
	r->xfer = CX_ORPHANED;
	call_reinvite_forget(c); /* that dialog is over */
	tr_callrec_event(r, "BYE from the transferor: the transfer goes on");
	return (int)r->state;
}


/* The transfer is over without a new party: NOTIFY the status; the old
 * call goes on, or ends if its transferor has gone. */
static int xfer_failed(struct call_ctx *c, unsigned scode, const char *phrase)
{
	struct callrec *r = c->r;
	const bool orphaned = r->xfer == CX_ORPHANED;
	char ph[128];

	phrase_clean(phrase, ph, sizeof(ph));
	log_info("call %llu: transfer to %s failed: %u %s",
		 (unsigned long long)c->id, r->xfer_ruri, scode, ph);
	tr_callrec_key_del(c->tr, CK_DIALOG, r->xfer_callid, r->xfer_ltag);
	if (!orphaned)
		xfer_notify(c, scode, ph, true);
	tr_callrec_event(r, "transfer failed: %u %s", scode, ph);
	xfer_clear(r);
	if (orphaned) {
		tr_xmpp_terminate(c->tr, c->id, r, "general-error", scode, ph);
		c->why = "transfer failed, its transferor gone";
		return GONE;
	}
	call_idle_deadline(c);
	return (int)r->state;
}


/* RFC 3261 22.2 for the INVITE to the target, with the linked account's
 * credentials (once: a second challenge is the credentials refused). */
static bool xfer_authenticate(struct call_ctx *c)
{
	struct callrec *r = c->r;
	struct mbuf *mb = NULL;
	struct regrec a;
	char *auth = NULL, *br = NULL;
	bool stale = false, sent = false;

	if (!r->reg || !c->e->msg || tr_regrec_load(c->tr, r->reg, &a))
		return false;
	mb = mbuf_alloc(512);
	if (mb &&
	    !tr_account_credentials(&a, mb, c->e->msg, "INVITE", r->xfer_ruri,
				    &stale) &&
	    (r->xfer_cseq == 1 || (stale && r->xfer_cseq == 2)) &&
	    !re_sdprintf(&auth, "%b", mb->buf, mb->end) &&
	    (br = tr_sip_token("z9hG4bK"))) {
		mem_deref(r->xfer_branch);
		r->xfer_branch = br;
		r->xfer_cseq++;
		r->xfer_out = xfer_request(c, "INVITE", auth, r->xfer_sdp);
		tr_callrec_event(r, "transfer INVITE again with credentials");
		sent = true;
	}
	regrec_reset(&a);
	mem_deref(mb);
	mem_deref(auth);
	return sent;
}


int call_r_xfer_failure(struct call_ctx *c)
{
	unsigned scode = c->e->scode;

	if ((scode == 401 || scode == 407) && xfer_authenticate(c))
		return (int)c->r->state;
	return xfer_failed(c, scode ? scode : 500, c->e->reason);
}


int call_t_xfer_expired(struct call_ctx *c)
{
	call_xfer_abandon(c);
	return xfer_failed(c, 408, "Request Timeout");
}


void call_xfer_abandon(struct call_ctx *c)
{
	struct callrec *r = c->r;
	struct tr_owner o;

	if (!r->xfer_out)
		return;
	(void)xfer_request(c, "CANCEL", NULL, NULL);
	/* owed to nobody now: a sip-front that restarts must not ring the
	 * target again (F8) */
	(void)tr_out_take(c->tr, PROC_SIP_FRONT, r->xfer_out, true, &o);
	r->xfer_out = 0;
	tr_callrec_event(r, "transfer INVITE cancelled");
}


/* Move the new dialog into the call: the old one's keys go, the new
 * one's (put at the REFER) stays. */
static void dialog_swap(struct call_ctx *c, const struct sip_msg *msg)
{
	struct callrec *r = c->r;
	char *to = NULL;

	tr_callrec_key_del(c->tr, CK_DIALOG, r->callid, r->ltag);
	if (r->dir == CD_S2X)
		tr_callrec_key_del(c->tr, CK_REMOTE, r->callid, r->rtag);
	re_sdprintf(&to, "<%s>", r->xfer_ruri);
	mem_deref(r->callid);
	r->callid = r->xfer_callid;
	r->xfer_callid = NULL;
	mem_deref(r->ltag);
	r->ltag = r->xfer_ltag;
	r->xfer_ltag = NULL;
	mem_deref(r->inv_ruri);
	r->inv_ruri = r->xfer_ruri;
	r->xfer_ruri = NULL;
	mem_deref(r->inv_branch);
	r->inv_branch = r->xfer_branch;
	r->xfer_branch = NULL;
	mem_deref(r->ruri);
	r->ruri = to;
	r->target = mem_deref(r->target);
	r->pend_frag = mem_deref(r->pend_frag);
	r->inv_cseq = r->lcseq = r->xfer_cseq;
	r->rcseq = 0;
	r->inv_out = 0;
	r->on_hold = 0;
	r->xfer_moved = 1; /* our INVITE made this dialog */
	/* a re-INVITE of ours in the old dialog is that dialog's */
	call_reinvite_forget(c);
	mem_deref(r->lsdp);
	r->lsdp = r->xfer_sdp;
	r->xfer_sdp = NULL;
	/* remote tag, target, route set: the 2xx's (RFC 3261 12.1.2) */
	call_dialog_learn(r, msg, true);
}


int call_r_xfer_answer(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	struct callrec *r = c->r;
	const bool we_init = r->dir == CD_X2S;
	char *sdp = call_body_of(msg), eb[160], who[600];
	xmpp_stanza_t *iq, *j;
	int next = CS_ACTIVE;

	snprintf(who, sizeof(who), "%s", r->xfer_ruri);
	/* the old dialog ends (its transferor may have ended it already) */
	if (r->xfer == CX_PENDING) {
		xfer_notify(c, 200, "OK", true);
		call_bye(c, NULL);
	}
	dialog_swap(c, msg);
	call_ack_2xx(c, r->inv_cseq);
	xfer_clear(r);
	/* the user's session goes on with the new party's media */
	iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info", &j);
	if (!sdp || tr_media_jingle_of_sdp(c->tr, j, sdp, !we_init, NULL, eb,
					   sizeof(eb))) {
		call_bye(c, &(struct tr_sip_why){488, "Bad SDP answer"});
		call_terminate(c, "failed-application");
		c->why = "transfer target's SDP answer unusable";
		next = GONE;
	} else {
		tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
		tr_callrec_set(&r->rsdp, sdp);
		tr_callrec_event(r, "transferred to %s (Call-ID %s)", who,
				 r->callid);
		log_info("call %llu: transferred to %s (Call-ID %s)",
			 (unsigned long long)c->id, who, r->callid);
		store_count(tr_txn(c->tr), "calls.transferred", 1);
		call_idle_deadline(c);
	}
	xmpp_stanza_release(iq);
	mem_deref(sdp);
	return next;
}
