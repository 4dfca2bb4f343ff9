/**
 * @file tr_call.c  The call state machine: Jingle (XEP-0166/0167/0353)
 *                  <-> SIP INVITE dialogs.
 *
 * One record per call (callrec.h) holds both sides. tr_call_apply() loads
 * it once, refines the event by the record (which INVITE a response is
 * for, which payload a session-info carries), finds the transition of
 * (direction, state, event) in the table below, runs its action on the
 * record in memory and saves once — or drops the call. Actions only build
 * what goes out (tr_sip_out.c, tr_xmpp_out.c); everything leaves through
 * the outbox after the commit (persist, then act).
 *
 * States (callrec.h): X2S  WAITING -> CALLING -> RINGING -> ACTIVE
 *                                  \-> CANCELLING (our CANCEL sent)
 *                     S2X  PROPOSED -> RINGING -> ACTIVE
 * "-" below: the state does not change; GONE: the call ends (dropped).
 *
 *  dir  state               event            action / next
 *  ---  ------------------  ---------------  ------------------------------
 *  X2S  (new)               X_INITIATE       INVITE, or wait for trickled
 *                                            candidates -> CALLING|WAITING
 *  S2X  (new)               S_INVITE         session-initiate to every
 *                                            online device, else XEP-0353
 *                                            propose -> RINGING|PROPOSED
 *  X2S  WAITING             X_TRANSPORT      add the candidates        -
 *  X2S  WAITING             T_EXPIRED        INVITE           -> CALLING
 *  X2S  WAITING             X_TERMINATE      -                -> GONE
 *  X2S  WAITING             OP_END           terminate        -> GONE
 *  X2S  CALLING|RINGING     R_PROVISIONAL    with SDP the first time:
 *                                            accept (early media);
 *                                            else ringing once; a
 *                                            reliable one PRACKed
 *                                                             -> RINGING
 *  X2S  CALLING|RINGING     R_ANSWER         ACK, accept (early media:
 *                                            only if the SDP changed,
 *                                            transport-info)  -> ACTIVE
 *  X2S  CALLING|RINGING     R_FAILURE 401/   INVITE again with the linked
 *                           407 (account)    account's credentials     -
 *  X2S  CALLING|RINGING     R_FAILURE        terminate        -> GONE
 *  X2S  CALLING|RINGING     X_TERMINATE      CANCEL           -> CANCELLING
 *  X2S  CALLING|RINGING     T_EXPIRED/OP_END CANCEL, terminate-> CANCELLING
 *  X2S  CANCELLING          R_ANSWER         ACK, BYE         -> GONE
 *  X2S  CANCELLING          R_FAILURE        -                -> GONE
 *  X2S  CANCELLING          T_EXPIRED/OP_END -                -> GONE
 *  S2X  PROPOSED            X_JMI_PROCEED    session-initiate -> RINGING
 *  S2X  PROPOSED|RINGING    X_JMI_RINGING    180                       -
 *  S2X  PROPOSED|RINGING    X_JMI_REJECT     603              -> GONE
 *  S2X  RINGING             X_IQ_RESULT      180                       -
 *  S2X  RINGING             X_IQ_ERROR       drop that device; none
 *                                            left: 480        -> GONE
 *  S2X  RINGING             X_RINGING        180                       -
 *  S2X  RINGING             X_ACCEPT         200, cancel the
 *                                            other devices    -> ACTIVE
 *  S2X  RINGING             X_EXISTING       session-initiate again    -
 *  S2X  PROPOSED|RINGING    X_TERMINATE      drop that device; none
 *                                            left: 486/reason -> GONE
 *  S2X  PROPOSED|RINGING    S_INVITE_AGAIN   last provisional again    -
 *  S2X  PROPOSED|RINGING    S_CANCEL         200, 487,
 *                                            terminate/retract-> GONE
 *  S2X  PROPOSED|RINGING    T_EXPIRED/OP_END 480, terminate   -> GONE
 *  S2X  PROPOSED|RINGING    any -> GONE      to a linked account: a
 *                                            "Missed call" chat from
 *                                            the caller's gateway JID
 *  S2X  ACTIVE              S_ACK, O_ACKED   the 2xx is done           -
 *  S2X  ACTIVE              O_NO_ACK         BYE, terminate   -> GONE
 *  any  ACTIVE              X_TERMINATE      BYE              -> GONE
 *  any  ACTIVE              X_DTMF           INFO                      -
 *  any  ACTIVE              X_SIP_INFO       INFO with its Content-Type
 *                                            and body                  -
 *  any  ACTIVE              X_CHAT           MESSAGE (owned by the
 *                                            message record)           -
 *  any  ACTIVE              X_HOLD/X_RESUME  re-INVITE                 -
 *  any  ACTIVE              X_SOURCE         re-INVITE                 -
 *  any  ACTIVE              X_MODIFY         re-INVITE with the new
 *                                            directions                -
 *  any  ACTIVE              X_TRANSPORT      new ICE credentials (a
 *                                            restart): re-INVITE, else
 *                                            as below (trickle)        -
 *  any  ACTIVE              S_REINVITE       200 with an answer;
 *                                            source-*, hold/active or
 *                                            transport-info            -
 *  any  ACTIVE              R_REINVITE_OK    ACK; new ICE credentials
 *                                            in the answer: transport-
 *                                            info to the user          -
 *  any  ACTIVE              R_REINVITE_FAILED our SDP as before it; a
 *                                            481/408 ends the call
 *                                            (BYE after 408); after a
 *                                            491 the offer waits to go
 *                                            again (14.1)     -> -|GONE
 *  any  ACTIVE              T_REINVITE_RETRY that offer again        -
 *  any  ACTIVE              S_REINVITE while ours is pending: 491      -
 *  any  ACTIVE              X_HOLD/RESUME/   while ours is pending:
 *                           SOURCE/MODIFY/   unexpected-request        -
 *                           TRANSPORT (restart)
 *  any  ACTIVE              S_REFER          202, NOTIFY 100, INVITE to
 *                                            the Refer-To target with the
 *                                            XMPP party's media (491
 *                                            while one is pending)      -
 *  any  ACTIVE              S_BYE_XFER       200; the transfer goes on  -
 *  any  ACTIVE              R_XFER_ANSWER    ACK; NOTIFY 200 and BYE in
 *                                            the old dialog; the new one
 *                                            is the call's; transport-
 *                                            info with the new media    -
 *  any  ACTIVE              R_XFER_FAILURE   NOTIFY the status; the old
 *                                            dialog goes on, or (its
 *                                            transferor gone) terminate
 *                                                             -> -|GONE
 *  any  ACTIVE              T_XFER_EXPIRED   CANCEL it, as R_XFER_FAILURE
 *  any  ACTIVE              T_EXPIRED/OP_END BYE, terminate   -> GONE
 *  any  ACTIVE|RINGING|...  X_TRANSPORT      INFO (trickle fragment),
 *                                            kept until a dialog exists  -
 *  any  any                 S_BYE            200, terminate   -> GONE
 *  any  any                 S_INFO           DTMF / trickle to Jingle  -
 *  any  CALLING|RINGING|    S_INFO_BODY      session-info <info/>, 200 -
 *       ACTIVE
 *  any  any                 S_MESSAGE        chat to the user, 200     -
 *  any  any                 S_OPTIONS        200                       -
 *  any  any                 X_INFO_UNKNOWN   feature-not-implemented
 *                                            <unsupported-info/>       -
 *  any  any                 S_OTHER          405                       -
 *  any  (other)             X_ACCEPT         unexpected-request        -
 *  any  (other)             X_SOURCE|MODIFY  unexpected-request        -
 *  any  (other)             X_EXISTING       item-not-found            -
 *  any  (other)             S_REINVITE       491                       -
 *  any  (other)             S_INFO_BODY      480                       -
 *  any  (other)             S_REFER          403                       -
 *  any  (other)             X_SIP_INFO       unexpected-request        -
 *  any  (other)             S_CANCEL         200                       -
 *  any  (other)             X_* IQ           result                    -
 *  any  (other)             anything else    nothing                   -
 *
 * Any request in the dialog with a CSeq below the last one is refused
 * (500) before the table; any in ACTIVE pushes the idle deadline (but
 * not past a transfer's). A call that ends with a transfer pending
 * CANCELs the INVITE to the target.
 *
 * Refinements: X_INFO is X_RINGING, X_HOLD, X_RESUME, X_DTMF,
 * X_SIP_INFO or X_PING (no payload; mute, unmute, unhold) by its
 * payload's name and namespace, else X_INFO_UNKNOWN; S_INFO is
 * S_INFO_BODY for a Content-Type other than dtmf-relay and
 * (trickle-ice-)sdpfrag; S_BYE is S_BYE_XFER while a
 * transfer is pending and its transferor still there; a response to the
 * INVITE to a transfer target is R_XFER_ANSWER/R_XFER_FAILURE (1xx are
 * ignored); T_EXPIRED is T_XFER_EXPIRED when it was the transfer's.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "log.h"
#include "tr_call_act.h"
#include "util.h"
#include "xmpp_util.h"
#include "xparse.h"

#define S(x) (1u << (x))
#define ANY  0xffffu

/* ---- outbox outcomes, timers, the operator ------------------------ */

static int call_o_acked(struct call_ctx *c)
{
	c->r->inv_out = 0;
	return c->r->state;
}


/* A 2xx we sent was never ACKed (RFC 3261 13.3.1.4): end the call. */
static int call_o_no_ack(struct call_ctx *c)
{
	log_info("call %llu: the caller never ACKed the 200",
		 (unsigned long long)c->id);
	call_bye(c, NULL);
	call_terminate(c, "success");
	c->why = "no ACK for the 200";
	return GONE;
}


static int call_t_send_waiting(struct call_ctx *c)
{
	struct callrec *r = c->r;
	xmpp_stanza_t *j =
		xparse_stanza(c->tr->xctx, r->init_xml ? r->init_xml : "",
			      r->init_xml ? strlen(r->init_xml) : 0);
	char eb[160], *sdp = NULL;
	int err = j ? tr_media_sdp_of_jingle(c->tr, r, j, true, NULL, NULL,
					     &sdp, eb, sizeof(eb))
		    : EBADMSG;

	if (j)
		xmpp_stanza_release(j);
	if (err) {
		tr_xmpp_terminate(c->tr, c->id, r, "general-error", 0, NULL);
		c->why = "the waiting session-initiate is unusable";
		return GONE;
	}
	r->init_xml = mem_deref(r->init_xml);
	mem_deref(r->lsdp);
	r->lsdp = sdp;
	call_invite_send(c);
	tr_callrec_event(r, "INVITE sent");
	return CS_CALLING;
}


static int call_end_waiting(struct call_ctx *c)
{
	call_terminate(c, "cancel");
	return GONE;
}


static int call_end_active(struct call_ctx *c)
{
	call_bye(c, NULL);
	call_terminate(c, "success");
	return GONE;
}


static int call_end_calling(struct call_ctx *c)
{
	call_cancel(c);
	call_terminate(c, "timeout");
	return CS_CANCELLING;
}


static int call_end_ringing(struct call_ctx *c)
{
	call_invite_reply(c, 480, "Temporarily Unavailable", NULL);
	if (c->r->state == CS_PROPOSED)
		tr_xmpp_jmi(c->tr, c->id, c->r, c->r->owner, "retract");
	else
		call_terminate(c, "timeout");
	/* what the missed-call chat says (an operator's end says so) */
	c->why = c->e && c->e->reason && strstr(c->e->reason, "operator")
			 ? c->e->reason
		 : c->r->state == CS_PROPOSED ? "no device online"
					      : "not answered";
	return GONE;
}


static int call_end_now(struct call_ctx *c)
{
	return GONE;
}


/* ---- the table ------------------------------------------------------ */

#define X2S         CD_X2S
#define S2X         CD_S2X
#define NEW         S(0)
#define RINGISH     (S(CS_PROPOSED) | S(CS_RINGING))
#define OUT_RINGISH (S(CS_CALLING) | S(CS_RINGING))

/* XEP-0166 7.2: a session-info payload the gateway does not understand:
 * <feature-not-implemented/> with <unsupported-info/>, type modify. */
static int x_info_unsupported(struct call_ctx *c)
{
	xmpp_ctx_t *ctx = c->tr->xctx;
	xmpp_stanza_t *r = NULL, *e;

	if (!c->e->iq)
		goto out;
	r = xu_error_reply(ctx, c->e->iq, "feature-not-implemented", NULL);
	e = r ? xmpp_stanza_get_child_by_name(r, "error") : NULL;
	if (!e)
		goto out;
	xmpp_stanza_set_attribute(e, "type", "modify");
	xu_elem(ctx, e, "unsupported-info", NS_JINGLE_ERR);
	tr_xmpp_send(c->tr, (struct tr_owner){OWN_NONE, 0}, r);
out:
	if (r)
		xmpp_stanza_release(r);
	return NOCHANGE;
}


static const struct call_rule {
	uint8_t dir;     /* 0: either */
	uint16_t states; /* S(state) mask; NEW: no record yet */
	uint8_t ev;
	call_act_h *act;
} rules[] = {
	{X2S, NEW, CE_X_INITIATE, call_x_initiate},
	{S2X, NEW, CE_S_INVITE, call_s_invite},

	{X2S, S(CS_WAITING), CE_X_TRANSPORT, call_x_transport_waiting},
	{X2S, S(CS_WAITING), CE_T_EXPIRED, call_t_send_waiting},
	{X2S, S(CS_WAITING), CE_X_TERMINATE, call_x_terminate_waiting},
	{X2S, S(CS_WAITING), CE_OP_END, call_end_waiting},

	{X2S, OUT_RINGISH, CE_R_PROVISIONAL, call_r_provisional},
	{X2S, OUT_RINGISH, CE_R_ANSWER, call_r_answer},
	{X2S, OUT_RINGISH, CE_R_FAILURE, call_r_failure},
	{X2S, OUT_RINGISH, CE_X_TERMINATE, call_x_terminate_calling},
	{X2S, OUT_RINGISH, CE_T_EXPIRED, call_end_calling},
	{X2S, OUT_RINGISH, CE_OP_END, call_end_calling},
	{X2S, S(CS_CANCELLING), CE_R_ANSWER, call_r_answer_cancelled},
	{X2S, S(CS_CANCELLING), CE_R_FAILURE, call_r_failure_cancelled},
	{X2S, S(CS_CANCELLING), CE_T_EXPIRED, call_end_now},
	{X2S, S(CS_CANCELLING), CE_OP_END, call_end_now},
	{X2S, S(CS_ACTIVE), CE_R_ANSWER, call_r_answer_again},

	{S2X, S(CS_PROPOSED), CE_X_JMI_PROCEED, call_x_jmi_proceed},
	{S2X, RINGISH, CE_X_JMI_RINGING, call_x_jmi_ringing},
	{S2X, RINGISH, CE_X_JMI_REJECT, call_x_jmi_reject},
	{S2X, S(CS_RINGING), CE_X_IQ_RESULT, call_x_iq_result},
	{S2X, S(CS_RINGING), CE_X_IQ_ERROR, call_x_iq_error},
	{S2X, S(CS_RINGING), CE_X_RINGING, call_x_ringing},
	{S2X, S(CS_RINGING), CE_X_ACCEPT, call_x_accept},
	{S2X, S(CS_RINGING), CE_X_EXISTING, call_x_existing},
	{S2X, RINGISH, CE_X_TERMINATE, call_x_terminate_ringing},
	{S2X, RINGISH, CE_S_INVITE_AGAIN, call_s_invite_again},
	{S2X, RINGISH, CE_S_CANCEL, call_s_cancel_ringing},
	{S2X, RINGISH, CE_S_BYE, call_s_bye_early},
	{S2X, RINGISH, CE_T_EXPIRED, call_end_ringing},
	{S2X, RINGISH, CE_OP_END, call_end_ringing},
	{S2X, S(CS_ACTIVE), CE_S_ACK, call_s_ack},
	{S2X, S(CS_ACTIVE), CE_O_ACKED, call_o_acked},
	{S2X, S(CS_ACTIVE), CE_O_NO_ACK, call_o_no_ack},

	{0, S(CS_ACTIVE), CE_X_TERMINATE, call_x_terminate_active},
	{0, S(CS_ACTIVE), CE_X_DTMF, call_x_dtmf},
	{0, S(CS_ACTIVE), CE_X_SIP_INFO, call_x_sip_info},
	{0, S(CS_ACTIVE), CE_X_CHAT, call_x_chat},
	{0, S(CS_ACTIVE), CE_X_HOLD, call_x_hold},
	{0, S(CS_ACTIVE), CE_X_RESUME, call_x_resume},
	{0, S(CS_ACTIVE), CE_X_SOURCE, call_x_source},
	{0, S(CS_ACTIVE), CE_X_MODIFY, call_x_modify},
	{0, S(CS_ACTIVE), CE_S_REINVITE, call_s_reinvite},
	{0, S(CS_ACTIVE), CE_R_REINVITE_OK, call_r_reinvite_ok},
	{0, S(CS_ACTIVE), CE_R_REINVITE_FAILED, call_r_reinvite_failed},
	{0, S(CS_ACTIVE), CE_S_REFER, call_s_refer},
	{0, S(CS_ACTIVE), CE_S_BYE_XFER, call_s_bye_xfer},
	{0, S(CS_ACTIVE), CE_R_XFER_ANSWER, call_r_xfer_answer},
	{0, S(CS_ACTIVE), CE_R_XFER_FAILURE, call_r_xfer_failure},
	{0, S(CS_ACTIVE), CE_T_XFER_EXPIRED, call_t_xfer_expired},
	{0, S(CS_ACTIVE), CE_T_REINVITE_RETRY, call_t_reinvite_retry},
	{0, S(CS_ACTIVE), CE_T_EXPIRED, call_end_active},
	{0, S(CS_ACTIVE), CE_OP_END, call_end_active},
	{0, ANY & ~NEW, CE_X_TRANSPORT, call_x_transport},

	{0, ANY, CE_S_BYE, call_s_bye},
	{0, ANY, CE_S_INFO, call_s_info},
	{0, OUT_RINGISH | S(CS_ACTIVE), CE_S_INFO_BODY, call_s_info_body},
	{0, ANY, CE_S_INFO_BODY, call_s_info_early},
	{0, ANY, CE_S_MESSAGE, call_s_message},
	{0, ANY, CE_S_REFER, call_s_refer_refused},
	{0, ANY, CE_S_OPTIONS, call_s_options},
	{0, ANY, CE_S_OTHER, call_s_other},
	{0, ANY, CE_X_ACCEPT, call_x_unexpected_accept},
	{0, ANY, CE_X_SOURCE, call_x_unexpected_source},
	{0, ANY, CE_X_MODIFY, call_x_unexpected_source},
	{0, ANY, CE_X_EXISTING, call_x_no_initiate},
	{0, ANY, CE_S_REINVITE, call_s_pending},
	{0, ANY, CE_S_CANCEL, call_s_cancel_late},
	{0, ANY, CE_X_TERMINATE, call_x_ack_only},
	{0, ANY, CE_X_RINGING, call_x_ack_only},
	{0, ANY, CE_X_DTMF, call_x_ack_only},
	{0, ANY, CE_X_SIP_INFO, call_x_sip_info_early},
	{0, ANY, CE_X_HOLD, call_x_ack_only},
	{0, ANY, CE_X_RESUME, call_x_ack_only},
	{0, ANY, CE_X_PING, call_x_ack_only},
	{0, ANY, CE_X_INFO_UNKNOWN, x_info_unsupported},
};


static const struct call_rule *rule_find(uint32_t dir, uint32_t state,
					 unsigned ev)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct call_rule *ru = &rules[i];
		if (ru->ev == ev && (!ru->dir || !dir || ru->dir == dir) &&
		    (ru->states & S(state)))
			return ru;
	}
	return NULL;
}


/* XEP-0166 7.2: what a session-info's payload is, by name and namespace
 * (XEP-0167 7, XEP-0181, SPEC 6.2). None is a ping; mute, unmute and
 * unhold are only acknowledged; any other is CE_X_INFO_UNKNOWN. */
static unsigned info_event(xmpp_stanza_t *p)
{
	static const struct {
		const char *name, *ns;
		unsigned ev;
	} known[] = {
		{"ringing", NS_RTP_INFO, CE_X_RINGING},
		{"hold", NS_RTP_INFO, CE_X_HOLD},
		{"active", NS_RTP_INFO, CE_X_RESUME},
		{"unhold", NS_RTP_INFO, CE_X_RESUME}, /* XEP-0167 7.3 */
		{"mute", NS_RTP_INFO, CE_X_PING},
		{"unmute", NS_RTP_INFO, CE_X_PING},
		{"dtmf", NS_DTMF, CE_X_DTMF},
		{"info", NS_SIP_INFO, CE_X_SIP_INFO},
	};
	const char *n = p ? xmpp_stanza_get_name(p) : NULL;
	const char *ns = p ? xmpp_stanza_get_ns(p) : NULL;

	if (!p)
		return CE_X_PING;
	for (size_t i = 0; n && ns && i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(n, known[i].name) && !strcmp(ns, known[i].ns))
			return known[i].ev;
	return CE_X_INFO_UNKNOWN;
}


/* The event as the record tells it: which of our requests a response
 * answers, which outbox entry is done, what a session-info carries. */
static unsigned refine(struct call_ctx *c, unsigned ev)
{
	const struct call_ev *e = c->e;
	const struct callrec *r = c->r;

	switch (ev) {
	case CE_R_RESPONSE:
		/* our INVITE to a transfer target (its 1xx change nothing) */
		if (r->xfer && e->out && e->out == r->xfer_out)
			return !e->msg || e->scode >= 300 ? CE_R_XFER_FAILURE
			       : e->scode >= 200          ? CE_R_XFER_ANSWER
							  : CE_R_OTHER;
		/* a response in a dialog the call left (a transfer) */
		if (e->msg && r->callid &&
		    pl_strcmp(&e->msg->callid, r->callid))
			return CE_R_OTHER;
		/* our re-INVITE's end (RFC 3261 14.1): it failed, or its
		 * 2xx (below) */
		if (r->reinv_out && e->out == r->reinv_out &&
		    (!e->msg || e->scode >= 300))
			return CE_R_REINVITE_FAILED;
		/* a local failure: only our INVITE's matters */
		if (!e->msg)
			return e->out && e->out == r->inv_out ? CE_R_FAILURE
							      : CE_R_OTHER;
		if (pl_strcmp(&e->msg->cseq.met, "INVITE"))
			return CE_R_OTHER; /* BYE, INFO, CANCEL */
		/* our initial INVITE only in X2S: in S2X inv_cseq is the
		 * caller's, and every INVITE of ours is a re-INVITE */
		if (r->dir != CD_X2S || e->msg->cseq.num != r->inv_cseq)
			return e->scode >= 200 && e->scode < 300
				       ? CE_R_REINVITE_OK
				       : CE_R_OTHER;
		return e->scode < 200   ? CE_R_PROVISIONAL
		       : e->scode < 300 ? CE_R_ANSWER
					: CE_R_FAILURE;
	case CE_O_DONE:
		if (!e->out || e->out != r->inv_out)
			return CE_O_OTHER;
		return e->scode == 408 ? CE_O_NO_ACK : CE_O_ACKED;
	case CE_X_INFO:
		c->info = xu_first_elem(e->j);
		return info_event(c->info);
	case CE_S_INFO: {
		const struct pl *st = &e->msg->ctyp.subtype;
		if (!mbuf_get_left(e->msg->mb) ||
		    !pl_strcasecmp(st, "dtmf-relay") ||
		    !pl_strcasecmp(st, "trickle-ice-sdpfrag") ||
		    !pl_strcasecmp(st, "sdpfrag"))
			return CE_S_INFO;
		return CE_S_INFO_BODY;
	}
	case CE_S_BYE:
		return r->xfer == CX_PENDING ? CE_S_BYE_XFER : CE_S_BYE;
	case CE_T_EXPIRED:
		/* the deadline is our re-INVITE's retry, the transfer's or
		 * the idle one (call_idle_deadline) */
		if (r->state == CS_ACTIVE && r->reinv_retry_at &&
		    r->deadline == r->reinv_retry_at)
			return CE_T_REINVITE_RETRY;
		return r->xfer && r->xfer_until && r->deadline == r->xfer_until
			       ? CE_T_XFER_EXPIRED
			       : CE_T_EXPIRED;
	default:
		return ev;
	}
}


/* SPEC 6.3: a call through a linked account is its phone's call too
 * (the phone shows on the phone while one of the user's calls is up). */
static void account_phone(struct call_ctx *c, bool in_call)
{
	struct regrec a;

	if (!c->r->reg || tr_regrec_load(c->tr, c->r->reg, &a))
		return;
	if (in_call ||
	    !tr_callrec_active_via(c->tr, c->r->owner, NULL, c->r->reg))
		tr_phone_account(c->tr, a.aor, a.jid,
				 in_call ? PA_CALL : PA_NO_CALL);
	regrec_reset(&a);
}


static bool in_dialog_request(unsigned ev)
{
	return ev == CE_S_BYE || ev == CE_S_REINVITE || ev == CE_S_INFO ||
	       ev == CE_S_OPTIONS || ev == CE_S_OTHER || ev == CE_S_ACK ||
	       ev == CE_S_INFO_BODY || ev == CE_S_MESSAGE || ev == CE_S_REFER ||
	       ev == CE_S_BYE_XFER;
}


/* SPEC 6.2: a call to a linked account that nobody answered leaves a
 * chat from the caller's gateway JID (who, when, why). */
static void missed_call(struct call_ctx *c)
{
	const struct callrec *r = c->r;
	char body[600], when[32];
	time_t t = (time_t)(r->created / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(body, sizeof(body), "Missed call from %s at %s (%s)",
		 r->ruri ? r->ruri : r->gwjid, when, c->why);
	tr_xmpp_notice(c->tr, r->gwjid, r->owner, body);
	tr_callrec_event(c->r, "missed call told");
}


int tr_call_apply(struct translator *tr, uint64_t id, enum call_event ev,
		  const struct call_ev *e)
{
	struct callrec r = {0};
	struct call_ctx c = {tr, id, &r, e, NULL, "ended"};
	const struct call_rule *ru;
	bool dirty = false;
	unsigned rev;
	int next;

	if (id && tr_callrec_load(tr, id, &r))
		return ENOENT;
	rev = refine(&c, ev);
	if (id && in_dialog_request(rev) && rev != CE_S_ACK) {
		/* RFC 3261 12.2.2: lower than the last one is refused */
		if (r.rcseq && e->msg->cseq.num < r.rcseq) {
			call_reply(&c, 500, "Out Of Order CSeq", false, NULL);
			goto out;
		}
		dirty = r.rcseq != e->msg->cseq.num;
		r.rcseq = e->msg->cseq.num;
	}
	ru = rule_find(r.dir, r.state, rev);
	next = ru ? ru->act(&c) : NOCHANGE;
	if (next == GONE) {
		if (c.id && r.reg && r.dir == CD_S2X &&
		    (r.state == CS_RINGING || r.state == CS_PROPOSED))
			missed_call(&c);
		if (c.id && r.xfer)
			call_xfer_abandon(&c);
		if (c.id)
			tr_callrec_drop(tr, c.id, &r, c.why);
		if (c.id && r.state == CS_ACTIVE)
			account_phone(&c, false);
		goto out;
	}
	if (next == NOCHANGE && dirty)
		next = (int)r.state;
	if (in_dialog_request(rev) &&
	    (next == NOCHANGE ? (int)r.state : next) == CS_ACTIVE) {
		call_idle_deadline(&c); /* activity keeps it from the sweep */
		next = CS_ACTIVE;
	}
	if (next == NOCHANGE || !c.id)
		goto out;
	if ((uint32_t)next != r.state) {
		if (next == CS_ACTIVE)
			account_phone(&c, true);
		r.state = (uint32_t)next;
		tr_callrec_event(&r, "%s", callrec_state_name[next]);
	}
	tr_callrec_save(tr, c.id, &r);
out:
	callrec_reset(&r);
	return 0;
}


void tr_call_outcome(struct translator *tr, uint64_t id,
		     const struct tr_outcome *oc)
{
	struct call_ev e = {.msg = oc->msg,
			    .scode = oc->scode,
			    .reason = oc->reason,
			    .out = oc->out};

	/* a front that could not do its part (a response it could not send,
	 * a stanza it would not write): the call's timers end what hangs */
	if (!oc->response && oc->scode >= 500)
		log_warn("call %llu: out %llu failed in its front: %u %s",
			 (unsigned long long)id, (unsigned long long)oc->out,
			 oc->scode, oc->reason);

	(void)tr_call_apply(tr, id, oc->response ? CE_R_RESPONSE : CE_O_DONE,
			    &e);
}


void tr_call_expired(struct translator *tr, uint64_t id)
{
	struct call_ev e = {.reason = "timed out (no answer, no activity or "
				      "no final response)"};

	(void)tr_call_apply(tr, id, CE_T_EXPIRED, &e);
}
