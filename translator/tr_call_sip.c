/**
 * @file tr_call_sip.c  The call state machine's actions on SIP events: an
 *                      INVITE creating a call, requests in its dialog, and
 *                      responses to our requests (see the table in
 *                      tr_call.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "tr_call_act.h"
#include "util.h"
#include "xmpp_util.h"


/* The SDES policy of a linked account (0 if none). */
static uint32_t account_srtp(struct translator *tr, uint64_t reg)
{
	struct regrec a;
	uint32_t srtp;

	if (!reg || tr_regrec_load(tr, reg, &a))
		return RSRTP_SESSION;
	srtp = a.srtp;
	regrec_reset(&a);
	return srtp;
}


int call_s_invite(struct call_ctx *c)
{
	const struct xsgw_config *cfg = call_cfg_of(c);
	const struct call_ev *e = c->e;
	const struct sip_msg *msg = e->msg;
	struct callrec *r = c->r;
	char user[256], host[256], owner[512], gw[600], eb[160], *list = NULL;
	xmpp_stanza_t *iq = NULL, *j;
	unsigned n;
	int next = NOCHANGE, err = 0;

	/* to a linked account's binding (SPEC 6.2), or addressed (§5) */
	err = tr_sipaddr_recipient(c->tr, msg, owner, sizeof(owner), &r->reg);
	if (err) {
		const char *why;
		unsigned scode = tr_sipaddr_refusal(err, &why);
		call_reply(c, scode, why, false, NULL);
		return NOCHANGE;
	}
	n = tr_presence_online(c->tr, owner, &list);
	if (!n && !cfg->sip.propose_timeout_ms) {
		call_reply(c, 480, "Temporarily Unavailable", false, NULL);
		goto out;
	}
	if (!msg->ctyp.type.l ||
	    pl_strcasecmp(&msg->ctyp.type, "application") ||
	    pl_strcasecmp(&msg->ctyp.subtype, "sdp") ||
	    !mbuf_get_left(msg->mb)) {
		/* nobody known online: that is the answer, offer or not */
		if (!n)
			call_reply(c, 480, "Temporarily Unavailable", false,
				   NULL);
		else
			call_reply(c, 488, "SDP Offer Required", false, NULL);
		goto out;
	}
	pl_strcpy(&msg->from.uri.user, user, sizeof(user));
	pl_strcpy(&msg->from.uri.host, host, sizeof(host));
	if (addr_sip_to_gwjid(cfg, user, host, gw, sizeof(gw))) {
		call_reply(c, 400, "Bad From", false, NULL);
		goto out;
	}
	r->dir = CD_S2X;
	r->created = wall_ms();
	err |= tr_callrec_set(&r->owner, owner);
	err |= tr_callrec_set(&r->ufull, "");
	err |= tr_callrec_set(&r->gwjid, gw);
	r->sid = tr_sip_token("");
	err |= tr_callrec_set(&r->initiator, gw);
	err |= tr_callrec_set(&r->responder, owner);
	r->rung = list;
	list = NULL;
	err |= tr_callrec_set_pl(&r->callid, &msg->callid);
	err |= tr_callrec_set_pl(&r->rtag, &msg->from.tag);
	/* libre writes To-tags as 16 hex digits of a u64 */
	err |= re_sdprintf(&r->ltag, "%016llx",
			   (unsigned long long)random_u64());
	err |= re_sdprintf(&r->luri, "<%r>", &msg->to.auri);
	err |= re_sdprintf(&r->ruri, "<%r>", &msg->from.auri);
	call_dialog_learn(r, msg, false);
	r->routes = tr_sip_route_set(msg, false);
	r->rcseq = r->inv_cseq = msg->cseq.num;
	r->inv_tx = e->tx;
	err |= tr_callrec_set(&r->inv_src, e->src);
	err |= tr_callrec_set_pl(&r->inv_raw, &e->raw);
	r->rsdp = call_body_of(msg);
	if (err || !r->sid || !r->rsdp || !r->routes) {
		call_reply(c, 500, "Server Internal Error", false, NULL);
		goto out;
	}
	/* SPEC 6.2: an account that requires SRTP takes no call without */
	r->srtp = account_srtp(c->tr, r->reg);
	if (r->srtp == RSRTP_MANDATORY && !tr_media_sdp_secure(r->rsdp)) {
		call_reply(c, 488, "Not Acceptable Here (SRTP Required)", false,
			   NULL);
		goto out;
	}
	c->id = store_next_id(tr_txn(c->tr));
	iq = tr_xmpp_jingle(c->tr, c->id, r, owner, "session-initiate", &j);
	if (tr_media_jingle_of_sdp(c->tr, j, r->rsdp, true, NULL, eb,
				   sizeof(eb))) {
		char reason[200];
		LOG_LIMITED(LOG_INFO, "INVITE %s: SDP refused: %s", r->callid,
			    eb);
		snprintf(reason, sizeof(reason), "Not Acceptable Here (%s)",
			 eb);
		call_reply(c, 488, reason, false, NULL);
		goto out;
	}
	if (tr_media_stanza_text(c->tr, j, &r->init_xml)) {
		call_reply(c, 500, "Server Internal Error", false, NULL);
		goto out;
	}
	call_invite_reply(c, 100, "Trying", NULL);
	tr_callrec_key_put(c->tr, CK_REMOTE, r->callid, r->rtag, c->id);
	tr_callrec_key_put(c->tr, CK_DIALOG, r->callid, r->ltag, c->id);
	tr_callrec_key_put(c->tr, CK_SID, r->owner, r->sid, c->id);
	store_count(tr_txn(c->tr), "calls.s2x", 1);
	log_info("call %llu: %s -> %s (%u device(s), sid %s, Call-ID %s)",
		 (unsigned long long)c->id, gw, owner, n, r->sid, r->callid);
	if (n) {
		tr_callrec_deadline(c->tr, c->id, r,
				    wall_ms() + cfg->sip.ring_timeout_ms);
		tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
		next = CS_RINGING;
	} else {
		/* §6.0: no presence seen; ask the user's devices (XEP-0353) */
		r->jmi = 1;
		tr_xmpp_jmi(c->tr, c->id, r, owner, "propose");
		tr_callrec_event(r, "propose to %s", owner);
		tr_callrec_deadline(c->tr, c->id, r,
				    wall_ms() + cfg->sip.propose_timeout_ms);
		next = CS_PROPOSED;
	}
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(list);
	return next;
}


/* ---- SIP side: requests ------------------------------------------- */

int call_s_invite_again(struct call_ctx *c)
{
	struct callrec *r = c->r;
	struct tr_sip_reply rp = {.tx = c->e->tx,
				  .src = r->inv_src,
				  .totag = call_totag_of(r),
				  .scode = r->last_scode,
				  .reason = r->last_scode == 100 ? "Trying"
								 : "Ringing",
				  .contact = true};

	if (!r->last_scode)
		return NOCHANGE;
	/* a retransmission: the last provisional again */
	pl_set_str(&rp.raw, r->inv_raw ? r->inv_raw : "");
	(void)tr_sip_respond(c->tr, OWN_C(c), &rp);
	return NOCHANGE;
}


int call_s_cancel_ringing(struct call_ctx *c)
{
	call_reply(c, 200, "OK", false, NULL);
	call_invite_reply(c, 487, "Request Terminated", NULL);
	if (c->r->state == CS_PROPOSED)
		tr_xmpp_jmi(c->tr, c->id, c->r, c->r->owner, "retract");
	else
		call_terminate(c, "decline");
	c->why = "CANCEL";
	return GONE;
}


int call_s_cancel_late(struct call_ctx *c)
{
	call_reply(c, 200, "OK", false, NULL);
	return NOCHANGE;
}


int call_s_ack(struct call_ctx *c)
{
	struct callrec *r = c->r;
	struct tr_owner o;

	if (!r->inv_out || c->e->msg->cseq.num != r->inv_cseq)
		return NOCHANGE;
	/* our 2xx is done: the front's report of it finds nothing */
	(void)tr_out_take(c->tr, PROC_SIP_FRONT, r->inv_out, true, &o);
	r->inv_out = 0;
	tr_callrec_event(r, "ACK");
	return r->state;
}


/* RFC 3261 15.1.2: a BYE in the early dialog; the INVITE gets 487 too. */
int call_s_bye_early(struct call_ctx *c)
{
	call_reply(c, 200, "OK", false, NULL);
	call_invite_reply(c, 487, "Request Terminated", NULL);
	if (c->r->state == CS_PROPOSED)
		tr_xmpp_jmi(c->tr, c->id, c->r, c->r->owner, "retract");
	else
		call_terminate(c, "success");
	c->why = "BYE from SIP before the answer";
	return GONE;
}


int call_s_bye(struct call_ctx *c)
{
	call_reply(c, 200, "OK", false, NULL);
	call_terminate(c, "success");
	c->why = "BYE from SIP";
	return GONE;
}


/* re-INVITE from the SIP side: to XMPP as the action it names (source-*),
 * hold/active, or transport-info; answered with a real SDP answer. */
int call_s_reinvite(struct call_ctx *c)
{
	struct callrec *r = c->r;
	const bool we_init = r->dir == CD_X2S;
	const bool update = !pl_strcmp(&c->e->msg->met, "UPDATE");
	char *offer = call_body_of(c->e->msg), *answer = NULL, eb[160];
	xmpp_stanza_t *iq = NULL, *j;
	struct pl action = PL_INIT;
	bool held;
	int next = NOCHANGE;

	if (!offer)
		return NOCHANGE;
	/* ours awaits its answer (RFC 3261 14.2, RFC 3311 5.2): not an
	 * offerless UPDATE, which changes no session */
	if (r->reinv_out && (!update || *offer)) {
		call_reply(c, 491, "Request Pending", false, NULL);
		goto out;
	}
	if (!*offer) {
		/* offerless, a target refresh (RFC 3261 12.2.2) and nothing
		 * else: a re-INVITE gets our current SDP as the offer, an
		 * UPDATE (an RFC 4028 session refresh) none (RFC 3311 5.2);
		 * the XMPP side hears nothing */
		call_dialog_learn(r, c->e->msg, false);
		call_reply(c, 200, "OK", true, update ? NULL : r->lsdp);
		next = r->state;
		goto out;
	}
	if (tr_media_reoffer_answer(c->tr, r, offer, &answer, &action, &held,
				    eb, sizeof(eb))) {
		char reason[200];
		snprintf(reason, sizeof(reason), "Not Acceptable Here (%s)",
			 eb);
		call_reply(c, 488, reason, false, NULL);
		goto out;
	}
	if (pl_isset(&action)) {
		char act[32];
		pl_strcpy(&action, act, sizeof(act));
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, act, &j);
		tr_media_jingle_of_sdp(c->tr, j, offer, !we_init, NULL, eb,
				       sizeof(eb));
	} else if (held || r->on_hold) {
		/* on hold, or off it again: XEP-0167 session-info */
		iq = tr_xmpp_session_info(c->tr, c->id, r,
					  held ? "hold" : "active", NULL);
	} else {
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info",
				    &j);
		tr_media_jingle_of_sdp(c->tr, j, offer, !we_init, NULL, eb,
				       sizeof(eb));
	}
	r->on_hold = held;
	tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
	call_reinvite_forget(c); /* the peer's offer took the turn */
	tr_callrec_set(&r->rsdp, offer);
	mem_deref(r->lsdp);
	r->lsdp = answer;
	answer = NULL;
	tr_callrec_event(r, "re-INVITE received%s", held ? " (hold)" : "");
	call_dialog_learn(r, c->e->msg, false);
	call_reply(c, 200, "OK", true, r->lsdp);
	next = r->state;
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(offer);
	mem_deref(answer);
	return next;
}


/* INFO: DTMF relay -> XEP-0181; trickle ICE fragment -> transport-info */
int call_s_info(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	struct callrec *r = c->r;
	char *body = call_body_of(msg), *sdp = NULL, eb[160];
	xmpp_stanza_t *iq = NULL, *j;
	struct pl sig;
	int next = NOCHANGE;

	if (!body)
		return NOCHANGE;
	if (!mbuf_get_left(msg->mb)) {
		call_reply(c, 200, "OK", false, NULL);
		goto out;
	}
	if (!pl_strcasecmp(&msg->ctyp.subtype, "dtmf-relay")) {
		char code[2] = {0, 0};
		if (re_regex(body, strlen(body), "Signal=[ ]*[0-9A-D*#]1", NULL,
			     &sig)) {
			call_reply(c, 400, "Bad dtmf-relay Body", false, NULL);
			goto out;
		}
		code[0] = sig.p[0];
		iq = tr_xmpp_session_info(c->tr, c->id, r, "dtmf", code);
	} else {
		/* (trickle-ice-)sdpfrag: the rest is S_INFO_BODY */
		re_sdprintf(&sdp,
			    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\n"
			    "t=0 0\r\n%s",
			    body);
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info",
				    &j);
		if (!sdp ||
		    tr_media_transports_of_sdp(c->tr, j, sdp, r->dir == CD_S2X,
					       eb, sizeof(eb))) {
			call_reply(c, 400, "Bad SDP Fragment", false, NULL);
			goto out;
		}
	}
	tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
	call_reply(c, 200, "OK", false, NULL);
	next = r->state;
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(body);
	mem_deref(sdp);
	return next;
}


/* A body from SIP checked for XML (call_text_check): answered 400 or 413
 * if it is not fit. @return true if it is */
static bool body_fit(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	int err = call_text_check((const char *)mbuf_buf(msg->mb),
				  mbuf_get_left(msg->mb));

	if (err == EILSEQ)
		call_reply(c, 400, "Body Is Not UTF-8 Text", false, NULL);
	else if (err)
		call_reply(c, 413, "Request Entity Too Large", false, NULL);
	return !err;
}


/* SPEC 6.2: an INFO with any other payload -> session-info <info
 * xmlns='urn:xmpp:sip:info:0' content-type='TYPE'>BODY</info> to the
 * user's device (before an answer: every device rung). Answered 200 at
 * once, not when the device acknowledges: the far end learns nothing it
 * can act on from that, and SIP would retransmit meanwhile. What XML
 * cannot carry as it is (not UTF-8, control characters) or what would not
 * fit a frame is refused, never cleaned up. */
int call_s_info_body(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE);
	char ct[257], *body = NULL;
	xmpp_stanza_t *iq;

	if (!h || h->val.l >= sizeof(ct) ||
	    (pl_strcpy(&h->val, ct, sizeof(ct)), !call_ctype_ok(ct))) {
		call_reply(c, 400, "Bad Content-Type", false, NULL);
		return NOCHANGE;
	}
	if (!body_fit(c) || !(body = call_body_of(msg)))
		return NOCHANGE;
	iq = tr_xmpp_sip_info(c->tr, c->id, c->r, ct, body);
	tr_xmpp_jingle_to_all(c->tr, c->id, c->r, iq);
	xmpp_stanza_release(iq);
	mem_deref(body);
	call_reply(c, 200, "OK", false, NULL);
	return c->r->state;
}


int call_s_info_early(struct call_ctx *c)
{
	call_reply(c, 480, "No Session To Carry It", false, NULL);
	return NOCHANGE;
}


/* SPEC 6.2: a MESSAGE inside the call's dialog -> a chat from the call's
 * gateway JID to the user in the call, 200 once it is staged (the user
 * is there: it is their call). Text only, as a page-mode MESSAGE. */
int call_s_message(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	char *body = NULL;

	if (!mbuf_get_left(msg->mb)) {
		call_reply(c, 400, "Empty Message", false, NULL);
		return NOCHANGE;
	}
	if (pl_strcasecmp(&msg->ctyp.type, "text") ||
	    pl_strcasecmp(&msg->ctyp.subtype, "plain")) {
		call_reply(c, 415, "Unsupported Media Type", false, NULL);
		return NOCHANGE;
	}
	if (!body_fit(c) || !(body = call_body_of(msg)))
		return NOCHANGE;
	tr_xmpp_call_chat(c->tr, c->id, c->r, body);
	mem_deref(body);
	call_reply(c, 200, "OK", false, NULL);
	return NOCHANGE;
}


int call_s_options(struct call_ctx *c)
{
	call_reply(c, 200, "OK", false, NULL);
	return NOCHANGE;
}


int call_s_other(struct call_ctx *c)
{
	call_reply(c, 405, "Method Not Allowed", false, NULL);
	return NOCHANGE;
}


int call_s_pending(struct call_ctx *c)
{
	call_reply(c, 491, "Request Pending", false, NULL);
	return NOCHANGE;
}


/* ---- SIP side: responses to our requests -------------------------- */

/* RFC 3262: a reliable provisional response is PRACKed (we do not ask
 * for them, but a callee may require them) once: its retransmissions,
 * and one whose RSeq is not the next (4: out of order), are not. */
static void prack(struct call_ctx *c, const struct sip_msg *msg)
{
	const struct sip_hdr *rs = sip_msg_hdr(msg, SIP_HDR_RSEQ);
	char rack[80];
	uint32_t n;

	if (!rs || !rs->val.l || rs->val.l > 10 ||
	    !sip_msg_hdr_has_value(msg, SIP_HDR_REQUIRE, "100rel"))
		return;
	for (size_t i = 0; i < rs->val.l; i++)
		if (rs->val.p[i] < '0' || rs->val.p[i] > '9')
			return;
	n = pl_u32(&rs->val);
	if (c->r->rseq && n != c->r->rseq + 1) {
		tr_callrec_event(c->r, "RSeq %u not PRACKed (last %u)", n,
				 c->r->rseq);
		return;
	}
	c->r->rseq = n;
	re_snprintf(rack, sizeof(rack), "RAck: %r %u INVITE\r\n", &rs->val,
		    msg->cseq.num);
	tr_sip_request(c->tr, OWN_C(c), c->r, "PRACK", 0, NULL, NULL, NULL,
		       rack, NULL);
}


/* Early media: the first provisional response with SDP is the answer
 * (RFC 3261 13.2.1; XEP-0167 has no early media): session-accept with
 * it, so media flows; the 200 then completes the call. @return true if
 * it went */
static bool early_accept(struct call_ctx *c, const struct sip_msg *msg)
{
	struct callrec *r = c->r;
	char *sdp, eb[160];
	xmpp_stanza_t *iq, *j;
	bool ok;

	if (r->early || pl_strcasecmp(&msg->ctyp.subtype, "sdp") ||
	    !mbuf_get_left(msg->mb) || !(sdp = call_body_of(msg)))
		return false;
	iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "session-accept", &j);
	ok = !tr_media_jingle_of_sdp(c->tr, j, sdp, false, NULL, eb,
				     sizeof(eb));
	if (ok) {
		tr_xmpp_send(c->tr, OWN_C(c), iq);
		tr_callrec_set(&r->rsdp, sdp);
		r->early = 1;
		tr_callrec_event(r, "early media (%u): accepted", c->e->scode);
	} else
		log_info("call %llu: early SDP unusable (%s): the answer "
			 "waits for the 200",
			 (unsigned long long)c->id, eb);
	xmpp_stanza_release(iq);
	mem_deref(sdp);
	return ok;
}


int call_r_provisional(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	xmpp_stanza_t *iq;

	if (c->e->scode <= 100)
		return NOCHANGE;
	if (pl_isset(&msg->to.tag)) {
		call_dialog_learn(c->r, msg, true);
		call_frag_flush(c);
		prack(c, msg);
	}
	if (early_accept(c, msg))
		return CS_RINGING;
	if (c->r->state == CS_RINGING)
		return CS_RINGING; /* told once */
	iq = tr_xmpp_session_info(c->tr, c->id, c->r, "ringing", NULL);
	tr_xmpp_send(c->tr, OWN_C(c), iq);
	xmpp_stanza_release(iq);
	return CS_RINGING;
}


/* The 200 after early media: nothing to tell the user if it has no SDP or
 * the early one; another (a fork answered, or a callee breaking RFC 3261
 * 13.2.1) is new remote media, told as a re-INVITE's (transport-info). */
static int answer_after_early(struct call_ctx *c, char *sdp)
{
	struct callrec *r = c->r;
	xmpp_stanza_t *iq, *j;
	char eb[160];

	if (sdp && *sdp && strcmp(sdp, r->rsdp ? r->rsdp : "")) {
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info",
				    &j);
		if (!tr_media_jingle_of_sdp(c->tr, j, sdp, false, NULL, eb,
					    sizeof(eb))) {
			tr_xmpp_send(c->tr, OWN_C(c), iq);
			tr_callrec_set(&r->rsdp, sdp);
			tr_callrec_event(r, "the 200's SDP differs from the "
					    "early one: transport-info");
		} else
			log_info("call %llu: the 200's SDP is unusable (%s): "
				 "the early one stays",
				 (unsigned long long)c->id, eb);
		xmpp_stanza_release(iq);
	}
	mem_deref(sdp);
	call_frag_flush(c);
	call_idle_deadline(c);
	return CS_ACTIVE;
}


int call_r_answer(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char *sdp = call_body_of(c->e->msg), eb[160];
	xmpp_stanza_t *iq, *j;
	int next = CS_ACTIVE;

	call_dialog_learn(r, c->e->msg, true);
	call_ack_2xx(c, r->inv_cseq);
	if (r->early)
		return answer_after_early(c, sdp);
	iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "session-accept", &j);
	if (!sdp || tr_media_jingle_of_sdp(c->tr, j, sdp, false, NULL, eb,
					   sizeof(eb))) {
		call_bye(c, &(struct tr_sip_why){488, "Bad SDP answer"});
		call_terminate(c, "failed-application");
		c->why = "unusable SDP answer";
		next = GONE;
	} else {
		tr_xmpp_send(c->tr, OWN_C(c), iq);
		tr_callrec_set(&r->rsdp, sdp);
		call_frag_flush(c);
		call_idle_deadline(c);
	}
	xmpp_stanza_release(iq);
	mem_deref(sdp);
	return next;
}


/* A 2xx to our INVITE in an answered call: our ACK was lost (the same
 * dialog: ACK again), or another fork answered too (RFC 3261 13.2.2.4: its
 * own dialog is ACKed and ended with a BYE; the call stays with the
 * first). */
int call_r_answer_again(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	struct callrec *r = c->r;
	char *rtag = r->rtag, *target = r->target, *routes = r->routes;
	const uint32_t lcseq = r->lcseq;

	if (!pl_isset(&msg->to.tag) || !rtag ||
	    !pl_strcmp(&msg->to.tag, rtag)) {
		call_ack_2xx(c, r->inv_cseq);
		return r->state;
	}
	/* the requests of that dialog, from its 2xx; then ours again */
	r->rtag = r->target = r->routes = NULL;
	call_dialog_learn(r, msg, true);
	r->lcseq = r->inv_cseq; /* its BYE is the next after the INVITE */
	call_ack_2xx(c, r->inv_cseq);
	call_bye(c, NULL);
	mem_deref(r->rtag);
	mem_deref(r->target);
	mem_deref(r->routes);
	r->rtag = rtag;
	r->target = target;
	r->routes = routes;
	r->lcseq = lcseq;
	tr_callrec_event(r, "another fork answered: ACK and BYE");
	return r->state;
}


int call_r_answer_cancelled(struct call_ctx *c)
{
	/* the callee answered as we cancelled: end it properly */
	call_dialog_learn(c->r, c->e->msg, true);
	call_ack_2xx(c, c->r->inv_cseq);
	call_bye(c, NULL);
	c->why = "answered after CANCEL";
	return GONE;
}


int call_r_failure(struct call_ctx *c)
{
	unsigned scode = c->e->scode;
	const char *phrase = c->e->reason;

	if ((scode == 401 || scode == 407) && call_invite_authenticate(c))
		return (int)c->r->state; /* still calling: save */
	if (scode == 486 || scode == 603)
		call_terminate(c, "decline");
	else if (scode == 600)
		call_terminate(c, "busy");
	else
		tr_xmpp_terminate(c->tr, c->id, c->r, "general-error", scode,
				  phrase);
	tr_callrec_event(c->r, "final %u %s", scode, phrase);
	c->why = phrase;
	return GONE;
}


int call_r_failure_cancelled(struct call_ctx *c)
{
	c->why = "cancelled";
	return GONE;
}


/* Our re-INVITE that met 491 goes again, with the same offer. */
int call_t_reinvite_retry(struct call_ctx *c)
{
	struct callrec *r = c->r;
	const uint32_t tries = r->reinv_tries;
	char *sdp = NULL;

	if (r->reinv_out || r->xfer || !r->reinv_sdp ||
	    str_dup(&sdp, r->reinv_sdp)) {
		call_reinvite_forget(c);
		return r->state;
	}
	/* (call_reinvite forgets the wait: the deadline is the idle one) */
	call_reinvite(c, sdp, r->reinv_session);
	r->reinv_tries = tries; /* the same offer: its 491s still count */
	tr_callrec_event(r, "re-INVITE sent again (after 491)");
	return r->state;
}


int call_r_reinvite_ok(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char *sdp = call_body_of(c->e->msg), eb[160];
	xmpp_stanza_t *iq, *j;

	call_ack_2xx(c, c->e->msg->cseq.num);
	if (r->reinv_out && c->e->out == r->reinv_out)
		call_reinvite_forget(c);
	/* the answer to an ICE restart: its credentials and candidates to
	 * the user (XEP-0176: a transport-info with the new ufrag/pwd) */
	if (sdp && *sdp && tr_media_ice_restarted(r->rsdp, sdp)) {
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info",
				    &j);
		if (!tr_media_transports_of_sdp(c->tr, j, sdp, r->dir == CD_S2X,
						eb, sizeof(eb)))
			tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
		xmpp_stanza_release(iq);
	}
	if (sdp && *sdp)
		tr_callrec_set(&r->rsdp, sdp);
	mem_deref(sdp);
	return r->state;
}


/* Our re-INVITE failed: the session stays as it was (RFC 3261 14.1), our
 * SDP the one before it. A 481 says the dialog is gone, a 408 (or no
 * answer at all) that it may be (12.2.1.2): the call ends. A 491 (both
 * sides re-INVITEd at once): the same offer goes again after a random
 * wait, unless an offer of the peer's or the user's comes first. */
/* how many 491s one offer of ours meets before it is given up */
enum { REINVITE_TRIES = 3 };

int call_r_reinvite_failed(struct call_ctx *c)
{
	struct callrec *r = c->r;
	const unsigned scode = c->e->msg ? c->e->scode : 408;

	r->reinv_out = 0;
	if (r->reinv_prev && *r->reinv_prev) {
		mem_deref(r->lsdp);
		r->lsdp = r->reinv_prev;
		r->reinv_prev = NULL;
	}
	/* a few times, and not while a transfer moves the call elsewhere */
	if (scode == 491 && r->reinv_sdp && *r->reinv_sdp && !r->xfer &&
	    r->reinv_tries < REINVITE_TRIES) {
		r->reinv_tries++;
		tr_callrec_event(r, "re-INVITE met 491: again in %u ms",
				 call_reinvite_later(c));
		return r->state;
	}
	call_reinvite_forget(c);
	tr_callrec_event(r, "re-INVITE failed (%u)%s", scode,
			 scode == 491 ? ": given up" : "");
	if (scode != 481 && scode != 408)
		return r->state;
	if (scode == 408)
		call_bye(c, NULL);
	call_terminate(c, "connectivity-error");
	c->why = "the dialog is gone";
	return GONE;
}
