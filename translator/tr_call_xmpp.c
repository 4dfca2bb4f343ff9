/**
 * @file tr_call_xmpp.c  The call state machine's actions on XMPP events:
 *                       a session-initiate creating a call, and Jingle
 *                       and XEP-0353 events of a call (see the table in
 *                       tr_call.c).
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


/* ---- creating a call ------------------------------------------------ */

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


int call_x_initiate(struct call_ctx *c)
{
	const struct xsgw_config *cfg = call_cfg_of(c);
	const struct call_ev *e = c->e;
	struct callrec *r = c->r;
	const char *sid = xu_attr(e->j, "sid");
	char target[600], me[600], eb[160], gw[512], owner[512], name[300] = "";
	char *sdp = NULL;
	struct regrec acc;
	bool linked;
	int err = 0;

	xu_bare(e->from, owner, sizeof(owner));
	if (tr_callrec_key_get(c->tr, CK_SID, owner, sid)) {
		call_iq_err(c, "conflict", "sid in use");
		return NOCHANGE;
	}
	xu_bare(xu_attr(e->iq, "to"), gw, sizeof(gw));
	linked = !tr_account_of_jid(c->tr, owner, &acc, &r->reg);
	/* through an account's own proxy any host: its proxy decides */
	err = tr_sipaddr_of_gwjid(cfg, gw, linked && *acc.proxy, target,
				  sizeof(target));
	if (!err)
		err = addr_user_to_sip(cfg, owner, me, sizeof(me));
	if (err) {
		if (err == EPERM)
			call_iq_err(c, "forbidden",
				    "the gateway does not call that host");
		else
			call_iq_err(c, "jid-malformed", NULL);
		if (linked)
			regrec_reset(&acc);
		return NOCHANGE;
	}
	if (linked) {
		/* SPEC 6.2: From the account's AOR, through its proxy; a
		 * number or user without a domain is in the account's */
		char t[600];
		if (!strstr(gw, "\\40") &&
		    !tr_account_target(&acc, target, t, sizeof(t)))
			snprintf(target, sizeof(target), "%s", t);
		snprintf(me, sizeof(me), "%s", acc.aor);
		if (*acc.display)
			snprintf(name, sizeof(name), "\"%s\" ", acc.display);
		r->hop = tr_account_next_hop(&acc);
		r->srtp = acc.srtp;
		/* RFC 3608: the registrar's Service-Route, preloaded after
		 * the outbound proxy (which stays the next hop) */
		if (acc.routes && *acc.routes)
			err |= re_sdprintf(&r->routes, "%s%s%s%s",
					   r->hop ? "<" : "",
					   r->hop ? r->hop : "",
					   r->hop ? ">\n" : "", acc.routes);
		regrec_reset(&acc);
	}
	r->dir = CD_X2S;
	r->created = wall_ms();
	err = tr_media_sdp_of_jingle(c->tr, r, e->j, true, NULL, NULL, &sdp, eb,
				     sizeof(eb));
	if (err) {
		/* EPERM: the account's SRTP policy, not a malformed offer */
		call_iq_err(c, err == EPERM ? "not-acceptable" : "bad-request",
			    eb);
		return NOCHANGE;
	}
	err |= re_sdprintf(&r->luri, "%s<%s>", name, me);
	err |= re_sdprintf(&r->ruri, "<%s>", target);
	err |= tr_callrec_set(&r->owner, owner);
	err |= tr_callrec_set(&r->ufull, e->from);
	err |= tr_callrec_set(&r->gwjid, gw);
	err |= tr_callrec_set(&r->sid, sid);
	err |= tr_callrec_set(&r->initiator,
			      *xu_attr(e->j, "initiator")
				      ? xu_attr(e->j, "initiator")
				      : e->from);
	err |= tr_callrec_set(&r->responder, gw);
	err |= tr_callrec_set(&r->inv_ruri, target);
	r->lsdp = sdp;
	r->callid = callid_of_sid(sid);
	r->ltag = tr_sip_token("");
	r->inv_branch = tr_sip_token("z9hG4bK");
	if (err || !r->callid || !r->ltag || !r->inv_branch) {
		call_iq_err(c, "internal-server-error", NULL);
		return NOCHANGE;
	}
	r->lcseq = r->inv_cseq = 1;
	c->id = store_next_id(tr_txn(c->tr));
	tr_callrec_key_put(c->tr, CK_SID, owner, sid, c->id);
	tr_callrec_key_put(c->tr, CK_DIALOG, r->callid, r->ltag, c->id);
	store_count(tr_txn(c->tr), "calls.x2s", 1);
	call_iq_ok(c);
	log_info("call %llu: %s -> %s (sid %s, Call-ID %s)",
		 (unsigned long long)c->id, e->from, target, sid, r->callid);
	if (cfg->sip.candidate_wait_ms && tr_media_trickle_pending(e->j)) {
		/* the client trickles its candidates: collect them for a
		 * while, a SIP peer may not take them later */
		if (tr_media_stanza_text(c->tr, e->j, &r->init_xml))
			return NOCHANGE;
		tr_callrec_event(r,
				 "INVITE waits %u ms for trickled "
				 "candidates",
				 cfg->sip.candidate_wait_ms);
		tr_callrec_deadline(c->tr, c->id, r,
				    wall_ms() + cfg->sip.candidate_wait_ms);
		return CS_WAITING;
	}
	call_invite_send(c);
	return CS_CALLING;
}


/* ---- XMPP side ------------------------------------------------------ */

int call_x_terminate_waiting(struct call_ctx *c)
{
	call_iq_ok(c);
	c->why = "ended before its INVITE was sent";
	return GONE;
}


int call_x_terminate_active(struct call_ctx *c)
{
	call_iq_ok(c);
	call_bye(c, NULL);
	c->why = "terminated by the XMPP user";
	return GONE;
}


int call_x_terminate_calling(struct call_ctx *c)
{
	call_iq_ok(c);
	call_cancel(c);
	return CS_CANCELLING;
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
		xmpp_free(tr->xctx, t);
}


/* Jingle reason -> SIP final response for an unanswered incoming call. */
static unsigned reject_code(struct translator *tr, xmpp_stanza_t *j,
			    const char **phrase, char *pbuf, size_t psz)
{
	xmpp_stanza_t *re = xmpp_stanza_get_child_by_name(j, "reason"), *x;
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
	/* a chosen final status: <sip-error code='4xx-6xx'>phrase</...>
	 * (any namespace, as tr_xmpp_terminate writes it); anything else
	 * falls back to the condition's */
	for (x = xmpp_stanza_get_children(re); x; x = xmpp_stanza_get_next(x)) {
		const char *n = xmpp_stanza_get_name(x);
		const char *cs =
			n && !strcmp(n, "sip-error") ? xu_attr(x, "code") : "";
		unsigned code;
		if (strlen(cs) != 3 || strspn(cs, "0123456789") != 3)
			continue;
		code = (unsigned)atoi(cs);
		if (code < 400 || code > 699)
			continue;
		sip_phrase(tr, x, pbuf, psz);
		*phrase = *pbuf                  ? pbuf
			  : call_phrase_of(code) ? call_phrase_of(code)
						 : "Rejected";
		return code;
	}
	for (x = xmpp_stanza_get_children(re); x; x = xmpp_stanza_get_next(x)) {
		const char *n = xmpp_stanza_get_name(x);
		for (size_t i = 0; n && i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcmp(n, map[i].cond)) {
				*phrase = map[i].phrase;
				return map[i].code;
			}
	}
	return 486;
}


int call_x_terminate_ringing(struct call_ctx *c)
{
	const char *phrase;
	char pbuf[64];
	unsigned code;

	call_iq_ok(c);
	/* one device declining does not end a multi-device ring */
	if (call_rung_remove(c->r, c->e->from)) {
		tr_callrec_event(c->r, "%s declined", c->e->from);
		return c->r->state;
	}
	code = reject_code(c->tr, c->e->j, &phrase, pbuf, sizeof(pbuf));
	call_invite_reply(c, code, phrase, NULL);
	c->why = "declined";
	return GONE;
}


int call_x_accept(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char eb[160], *sdp = NULL;
	int err = tr_media_sdp_of_jingle(c->tr, r, c->e->j, false, r->rsdp,
					 NULL, &sdp, eb, sizeof(eb));

	if (err == EPERM) {
		/* the account's SRTP policy refuses the answer: the call
		 * cannot go on as answered; the caller hears 488 now instead
		 * of ringing until the timeout, the user's devices a
		 * session-terminate */
		call_iq_err(c, "not-acceptable", eb);
		call_invite_reply(c, 488, "Not Acceptable Here", NULL);
		call_terminate(c, "security-error");
		c->why = "the answer breaks the account's SRTP policy";
		return GONE;
	}
	if (err) {
		call_iq_err(c, "bad-request", eb);
		return NOCHANGE;
	}
	tr_callrec_set(&r->ufull, c->e->from);
	tr_callrec_set(&r->responder, c->e->from);
	mem_deref(r->lsdp);
	r->lsdp = sdp;
	r->inv_out = call_invite_reply(c, 200, "OK", sdp);
	tr_xmpp_cancel_others(c->tr, c->id, r, c->e->from);
	r->init_xml = mem_deref(r->init_xml);
	call_idle_deadline(c);
	call_iq_ok(c);
	return CS_ACTIVE;
}


int call_x_ringing(struct call_ctx *c)
{
	if (c->e->iq)
		call_iq_ok(c);
	if (c->r->last_scode < 180)
		call_invite_reply(c, 180, "Ringing", NULL);
	return c->r->state;
}


int call_x_jmi_ringing(struct call_ctx *c)
{
	if (!c->r->jmi)
		return NOCHANGE;
	return call_x_ringing(c);
}


int call_x_dtmf(struct call_ctx *c)
{
	char body[64];
	const char *code = xu_attr(c->info, "code");
	unsigned dur = *xu_attr(c->info, "duration")
			       ? atoi(xu_attr(c->info, "duration"))
			       : 100;

	call_iq_ok(c);
	snprintf(body, sizeof(body), "Signal=%.1s\r\nDuration=%u\r\n", code,
		 dur);
	call_sip_req(c, "INFO", 0, NULL, "application/dtmf-relay", NULL, body);
	return c->r->state;
}


static int hold(struct call_ctx *c, bool on)
{
	char *sdp = NULL;

	if (call_reinvite_busy(c))
		return NOCHANGE;
	call_iq_ok(c);
	/* the user's intent, kept whatever becomes of the re-INVITE (she was
	 * told ok): a peer that refuses it gets it in our next answer */
	c->r->local_hold = on;
	if (tr_media_hold_sdp(c->tr, c->r, on, &sdp))
		return c->r->state;
	call_reinvite(c, sdp, true);
	tr_callrec_event(c->r, on ? "hold (re-INVITE sent)"
				  : "resume (re-INVITE sent)");
	return c->r->state;
}


int call_x_hold(struct call_ctx *c)
{
	return hold(c, true);
}


int call_x_resume(struct call_ctx *c)
{
	return hold(c, false);
}


int call_x_transport_waiting(struct call_ctx *c)
{
	int err = tr_media_merge_candidates(c->tr, &c->r->init_xml, c->e->j);

	if (err) {
		call_iq_err(c, err == ENOENT ? "item-not-found" : "bad-request",
			    err == ENOENT ? "no such content"
					  : "bad candidate");
		return NOCHANGE;
	}
	call_iq_ok(c);
	return c->r->state;
}


/* transport-info -> INFO with an RFC 8840 fragment (trickle ICE); until
 * the callee's first dialog-creating response the candidates wait in the
 * record (RFC 8838: INFO needs a dialog). */
/* A re-INVITE with our new SDP, the IQ answered; the answer is handled
 * by R_REINVITE_OK. */
static int reinvite(struct call_ctx *c, char *sdp, const char *why)
{
	if (call_reinvite_busy(c)) {
		mem_deref(sdp);
		return NOCHANGE;
	}
	call_reinvite(c, sdp, true);
	tr_callrec_event(c->r, "re-INVITE (%s) sent", why);
	call_iq_ok(c);
	return c->r->state;
}


int call_x_transport(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char eb[160], *body = NULL, *frag = NULL;
	int err;

	eb[0] = 0;
	/* an ICE restart (new ufrag/pwd) in an answered call: re-INVITE */
	if (r->state == CS_ACTIVE && r->rtag && *r->rtag) {
		err = tr_media_restart_sdp(c->tr, r, c->e->j, &body, eb,
					   sizeof(eb));
		if (!err)
			return reinvite(c, body, "ICE restart");
		if (err != ENOENT) {
			call_iq_err(c, "bad-request", *eb ? eb : NULL);
			return NOCHANGE;
		}
	}
	if (tr_media_frag_of_jingle(c->tr, r, c->e->j, &body, eb, sizeof(eb))) {
		call_iq_err(c, "bad-request", *eb ? eb : NULL);
		return NOCHANGE;
	}
	call_iq_ok(c);
	if (re_sdprintf(&frag, "%s%s", r->pend_frag ? r->pend_frag : "",
			body)) {
		mem_deref(body);
		return NOCHANGE;
	}
	mem_deref(body);
	mem_deref(r->pend_frag);
	r->pend_frag = frag;
	if (!r->rtag || !*r->rtag)
		tr_callrec_event(r, "trickle candidates wait for a dialog");
	call_frag_flush(c);
	return r->state;
}


/* content-modify (XEP-0166 7.2.8: senders) -> re-INVITE with the new
 * directions */
int call_x_modify(struct call_ctx *c)
{
	char eb[160], *sdp = NULL;

	if (tr_media_senders_sdp(c->tr, c->r, c->e->j, &sdp, eb, sizeof(eb))) {
		call_iq_err(c, "bad-request", eb);
		return NOCHANGE;
	}
	if (!c->r->reinv_out) /* the user's directions now (busy: refused) */
		c->r->local_hold = tr_media_sdp_holds(c->r, sdp);
	return reinvite(c, sdp, "content-modify");
}


/* source-add/remove/update -> re-INVITE with a=jingle-action */
int call_x_source(struct call_ctx *c)
{
	const char *action = xu_attr(c->e->j, "action");
	char eb[160], *sdp = NULL;

	if (call_reinvite_busy(c))
		return NOCHANGE;
	if (tr_media_sdp_of_jingle(c->tr, c->r, c->e->j, c->r->dir == CD_X2S,
				   NULL, action, &sdp, eb, sizeof(eb))) {
		call_iq_err(c, "bad-request", eb);
		return NOCHANGE;
	}
	call_reinvite(c, sdp, false);
	tr_callrec_event(c->r, "re-INVITE (%s) sent", action);
	call_iq_ok(c);
	return c->r->state;
}


int call_x_existing(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!r->init_xml || !*r->init_xml) {
		call_iq_err(c, "item-not-found",
			    "no session-initiate for this SID");
		return NOCHANGE;
	}
	if (tr_xmpp_initiate_to(c->tr, c->id, r, r->gwjid, c->e->from)) {
		call_iq_err(c, "internal-server-error", NULL);
		return NOCHANGE;
	}
	call_iq_ok(c);
	if (!call_rung_has(r, c->e->from)) {
		char *t = NULL;
		re_sdprintf(&t, "%s%s\n", r->rung ? r->rung : "", c->e->from);
		mem_deref(r->rung);
		r->rung = t;
	}
	return r->state;
}


int call_x_iq_error(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!call_rung_has(r, c->e->from))
		return NOCHANGE;
	if (c->e->gone)
		tr_presence_forget(c->tr, c->e->from);
	if (call_rung_remove(r, c->e->from))
		return r->state;
	call_invite_reply(c, 480, "Temporarily Unavailable", NULL);
	c->why = "every device refused the call";
	return GONE;
}


int call_x_iq_result(struct call_ctx *c)
{
	/* only a device we rang acknowledges our session-initiate */
	if (!call_rung_has(c->r, c->e->from) || c->r->last_scode >= 180)
		return NOCHANGE;
	call_invite_reply(c, 180, "Ringing", NULL);
	return c->r->state;
}


int call_x_jmi_proceed(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!strchr(c->e->from, '/'))
		return NOCHANGE;
	/* the stored <jingle/> (its sid is the propose id) */
	if (tr_xmpp_initiate_to(c->tr, c->id, r, r->gwjid, c->e->from)) {
		log_error("call %llu: stored session-initiate unusable",
			  (unsigned long long)c->id);
		return NOCHANGE;
	}
	mem_deref(r->rung);
	r->rung = NULL;
	re_sdprintf(&r->rung, "%s\n", c->e->from);
	tr_callrec_event(r, "proceed from %s", c->e->from);
	tr_callrec_deadline(c->tr, c->id, r,
			    wall_ms() + call_cfg_of(c)->sip.ring_timeout_ms);
	return CS_RINGING;
}


int call_x_jmi_reject(struct call_ctx *c)
{
	if (!c->r->jmi)
		return NOCHANGE;
	call_invite_reply(c, 603, "Decline", NULL);
	c->why = "rejected (XEP-0353)";
	return GONE;
}


/* SPEC 6.2: a session-info <info xmlns='urn:xmpp:sip:info:0'
 * content-type='TYPE'>BODY</info> -> INFO in the dialog with that
 * Content-Type and body; answered at once (the INFO's outcome is the SIP
 * side's, as for DTMF). */
int call_x_sip_info(struct call_ctx *c)
{
	const char *ct = xu_attr(c->info, "content-type");
	char *body = xmpp_stanza_get_text(c->info);
	const char *b = body ? body : "";
	int next = NOCHANGE;

	if (!call_ctype_ok(ct))
		call_iq_err(c, "bad-request",
			    "<info/> needs a content-type 'type/subtype' of "
			    "printable ASCII");
	else if (call_text_check(b, strlen(b)))
		call_iq_err(c, "policy-violation",
			    "the <info/> body is too large for SIP");
	else {
		call_iq_ok(c);
		call_sip_req(c, "INFO", 0, NULL, ct, NULL, b);
		tr_callrec_event(c->r, "INFO %s sent", ct);
		next = (int)c->r->state;
	}
	if (body)
		xmpp_free(c->tr->xctx, body);
	return next;
}


int call_x_sip_info_early(struct call_ctx *c)
{
	call_iq_err(c, "unexpected-request", "the call is not answered");
	return NOCHANGE;
}


int call_x_unexpected_accept(struct call_ctx *c)
{
	call_iq_err(c, "unexpected-request", "not a ringing incoming call");
	return NOCHANGE;
}


int call_x_unexpected_source(struct call_ctx *c)
{
	call_iq_err(c, "unexpected-request", "the call is not answered");
	return NOCHANGE;
}


int call_x_no_initiate(struct call_ctx *c)
{
	call_iq_err(c, "item-not-found", "no session-initiate for this SID");
	return NOCHANGE;
}


int call_x_ack_only(struct call_ctx *c)
{
	if (c->e->iq)
		call_iq_ok(c);
	return NOCHANGE;
}


/* SPEC 6.2: a chat from the user to the call's gateway JID while the call
 * is up -> a MESSAGE in the call's dialog (next local CSeq, its route
 * set, no Contact: RFC 3428). Its outcome is the message record's (a
 * receipt, or an error back to the user), not the call's. */
int call_x_chat(struct call_ctx *c)
{
	struct tr_owner msg = {OWN_MSG, c->e->chat};

	if (!tr_sip_request(c->tr, msg, c->r, "MESSAGE", 0, NULL, CTYPE_TEXT,
			    NULL, NULL, c->e->text))
		return NOCHANGE; /* the message expires back to its sender */
	tr_callrec_event(c->r, "MESSAGE sent (msg %llu)",
			 (unsigned long long)c->e->chat);
	return (int)c->r->state; /* the CSeq moved: save */
}
