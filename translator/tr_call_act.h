/**
 * @file tr_call_act.h  The call state machine's actions (private to the
 *                      tr_call*.c files). tr_call.c holds the machine: the
 *                      table of (direction, state, event) -> action; the
 *                      actions are in tr_call_xmpp.c (XMPP events),
 *                      tr_call_sip.c (SIP requests and responses),
 *                      tr_call_xfer.c (a transfer), and the helpers they
 *                      share in tr_call_util.c.
 *
 * An action works on the record loaded in c->r (saved once afterwards by
 * tr_call_apply) and returns the next state, NOCHANGE (nothing to save)
 * or GONE (the call ends: tr_call_apply drops it, c->why says why).
 */
#ifndef XSGW_TR_CALL_ACT_H
#define XSGW_TR_CALL_ACT_H

#include "translator.h"

enum {
	CANCEL_WAIT_MS = 32000,
	/* the largest payload an INFO or a MESSAGE carries between the
	 * sides: XML-escaped, with the rest of the stanza or request, it
	 * still fits one frame (as tr_msg.c's BODY_MAX) */
	CALL_BODY_MAX = FRAME_MAX / 2 - 4096,
};

/* What an action returns: the next state, or one of these. */
enum { NOCHANGE = -1, GONE = -2 };

/* Events only the refinement in tr_call_apply produces. */
enum {
	CE_X_RINGING = CE_COUNT,
	CE_X_DTMF,
	CE_X_HOLD,
	CE_X_RESUME,
	CE_X_PING,
	CE_X_SIP_INFO,       /**< session-info with <info/> (SPEC 6.2) */
	CE_X_INFO_UNKNOWN,   /**< session-info with a payload unknown */
	CE_S_INFO_BODY,      /**< INFO with another payload than DTMF/trickle */
	CE_S_BYE_XFER,       /**< BYE of the transferor, its transfer pending */
	CE_R_XFER_ANSWER,    /**< 2xx to our INVITE to a transfer target */
	CE_R_XFER_FAILURE,   /**< >= 300 or a local failure of that INVITE */
	CE_T_XFER_EXPIRED,   /**< the transfer target did not answer in time */
	CE_T_REINVITE_RETRY, /**< our re-INVITE that met 491 goes again */
	CE_R_PROVISIONAL,    /**< 1xx to our INVITE */
	CE_R_ANSWER,         /**< 2xx to our INVITE */
	CE_R_FAILURE,        /**< >= 300 or a local failure of our INVITE */
	CE_R_REINVITE_OK,    /**< 2xx to our re-INVITE */
	CE_R_REINVITE_FAILED, /**< a failure of our re-INVITE (final or local)
			       */
	CE_R_OTHER,           /**< a response to another request of ours */
	CE_O_ACKED,           /**< our 2xx was ACKed */
	CE_O_NO_ACK,          /**< our 2xx never was */
	CE_O_OTHER,           /**< another outbox entry is done */
};

struct call_ctx {
	struct translator *tr;
	uint64_t id; /**< 0 until an action creating the call sets it */
	struct callrec *r;
	const struct call_ev *e;
	xmpp_stanza_t *info; /**< the payload of a session-info */
	const char *why;     /**< why the call ended (GONE) */
};

typedef int(call_act_h)(struct call_ctx *c);

#define OWN_C(c) ((struct tr_owner){OWN_CALL, (c)->id})

static inline const struct xsgw_config *call_cfg_of(const struct call_ctx *c)
{
	return c->tr->proc.cfg;
}

/* tr_call_util.c: what the actions share */
void call_iq_ok(struct call_ctx *c);
void call_iq_err(struct call_ctx *c, const char *cond, const char *text);
void call_reply(struct call_ctx *c, unsigned scode, const char *reason,
		bool contact, const char *body);
/** call_reply with more header lines (each ending in CRLF), or NULL. */
void call_reply_extra(struct call_ctx *c, unsigned scode, const char *reason,
		      bool contact, const char *body, const char *extra);
uint64_t call_totag_of(const struct callrec *r);
uint64_t call_invite_reply(struct call_ctx *c, unsigned scode,
			   const char *reason, const char *body);
uint64_t call_sip_req(struct call_ctx *c, const char *method, uint32_t cseq,
		      const char *branch, const char *ctype,
		      const struct tr_sip_why *why, const char *body);
void call_bye(struct call_ctx *c, const struct tr_sip_why *why);
void call_cancel(struct call_ctx *c);
void call_terminate(struct call_ctx *c, const char *reason);
void call_idle_deadline(struct call_ctx *c);
/** The body as a string, or NULL if it holds a NUL byte (or no memory). */
char *call_body_of(const struct sip_msg *msg);
void call_dialog_learn(struct callrec *r, const struct sip_msg *msg, bool uac);
unsigned call_rung_remove(struct callrec *r, const char *who);
bool call_rung_has(const struct callrec *r, const char *who);
void call_frag_flush(struct call_ctx *c);
void call_invite_send(struct call_ctx *c);
/** Answer a 401/407 to our INVITE with the linked account's credentials.
 * @return true if the INVITE went again */
bool call_invite_authenticate(struct call_ctx *c);
void call_ack_2xx(struct call_ctx *c, uint32_t cseq);
/** While our re-INVITE awaits its final response no other goes (RFC 3261
 * 14.1): the IQ is answered unexpected-request. @return true if so */
bool call_reinvite_busy(struct call_ctx *c);
/** Our re-INVITE with sdp (taken); session: sdp becomes our session
 * description (lsdp), the previous kept until the answer (a failure
 * restores it). */
void call_reinvite(struct call_ctx *c, char *sdp, bool session);
/** Our re-INVITE met 491 (RFC 3261 14.1): its offer goes again after a
 * random wait (2.1-4 s if we chose the Call-ID, else 0-2 s).
 * @return the wait in ms */
uint32_t call_reinvite_later(struct call_ctx *c);
/** Nothing of ours to re-INVITE any more (answered, failed, superseded by
 * the peer's offer, the dialog gone): the retry is forgotten and the
 * deadline is the idle one again. */
void call_reinvite_forget(struct call_ctx *c);
/** A Content-Type that both a SIP header and an XML attribute carry as it
 * is: type "/" subtype [";" parameters], printable ASCII, at most 255
 * bytes. */
bool call_ctype_ok(const char *ct);
/**
 * Can a SIP body be XML text as it is, and fit a frame once escaped?
 * @return 0; EILSEQ (not UTF-8, or a control other than TAB, CR, LF);
 *         EMSGSIZE (over CALL_BODY_MAX escaped)
 */
int call_text_check(const char *s, size_t n);
/** The reason phrase of a final status (RFC 3261 21, RFC 6665), or NULL
 * for a code without a standard phrase. */
const char *call_phrase_of(unsigned scode);
/**
 * The URI of a Refer-To value (RFC 3515 2.1: a name-addr or addr-spec).
 * @return 0; EINVAL (malformed, or bytes a header cannot carry);
 *         EPROTONOSUPPORT (not sip:/sips:); ENOTSUP (URI headers, e.g.
 *         Replaces: an attended transfer); ENAMETOOLONG
 */
int call_refer_uri(const struct pl *v, char *uri, size_t sz);

/* tr_call_xmpp.c: actions on XMPP events (x_initiate creates a call) */
int call_x_initiate(struct call_ctx *c);
int call_x_terminate_waiting(struct call_ctx *c);
int call_x_terminate_active(struct call_ctx *c);
int call_x_terminate_calling(struct call_ctx *c);
int call_x_terminate_ringing(struct call_ctx *c);
int call_x_accept(struct call_ctx *c);
int call_x_ringing(struct call_ctx *c);
int call_x_jmi_ringing(struct call_ctx *c);
int call_x_dtmf(struct call_ctx *c);
int call_x_hold(struct call_ctx *c);
int call_x_resume(struct call_ctx *c);
int call_x_transport_waiting(struct call_ctx *c);
int call_x_transport(struct call_ctx *c);
int call_x_source(struct call_ctx *c);
int call_x_modify(struct call_ctx *c);
int call_x_existing(struct call_ctx *c);
int call_x_iq_error(struct call_ctx *c);
int call_x_iq_result(struct call_ctx *c);
int call_x_jmi_proceed(struct call_ctx *c);
int call_x_jmi_reject(struct call_ctx *c);
int call_x_unexpected_accept(struct call_ctx *c);
int call_x_unexpected_source(struct call_ctx *c);
int call_x_sip_info(struct call_ctx *c);
int call_x_sip_info_early(struct call_ctx *c);
int call_x_no_initiate(struct call_ctx *c);
int call_x_ack_only(struct call_ctx *c);
int call_x_chat(struct call_ctx *c);

/* tr_call_sip.c: actions on SIP requests and responses (s_invite creates
 * a call) */
int call_s_invite(struct call_ctx *c);
int call_s_invite_again(struct call_ctx *c);
int call_s_cancel_ringing(struct call_ctx *c);
int call_s_cancel_late(struct call_ctx *c);
int call_s_ack(struct call_ctx *c);
int call_s_bye_early(struct call_ctx *c);
int call_s_bye(struct call_ctx *c);
int call_s_reinvite(struct call_ctx *c);
int call_s_info(struct call_ctx *c);
int call_s_info_body(struct call_ctx *c);
int call_s_info_early(struct call_ctx *c);
int call_s_message(struct call_ctx *c);
int call_s_options(struct call_ctx *c);
int call_s_other(struct call_ctx *c);
int call_s_pending(struct call_ctx *c);
int call_r_provisional(struct call_ctx *c);
int call_r_answer(struct call_ctx *c);
int call_r_answer_again(struct call_ctx *c);
int call_r_answer_cancelled(struct call_ctx *c);
int call_r_failure(struct call_ctx *c);
int call_r_failure_cancelled(struct call_ctx *c);
int call_r_reinvite_ok(struct call_ctx *c);
int call_r_reinvite_failed(struct call_ctx *c);

/* tr_call_xfer.c: a blind transfer (RFC 3515, RFC 5589): REFER accepted,
 * the target called with the XMPP party's media, the call continuing in
 * the new dialog */
int call_s_refer(struct call_ctx *c);
int call_s_refer_refused(struct call_ctx *c);
int call_s_bye_xfer(struct call_ctx *c);
int call_r_xfer_answer(struct call_ctx *c);
int call_r_xfer_failure(struct call_ctx *c);
int call_t_xfer_expired(struct call_ctx *c);
int call_t_reinvite_retry(struct call_ctx *c);
/** The call ends with its transfer pending: CANCEL the INVITE to the
 * target, forget the new dialog. */
void call_xfer_abandon(struct call_ctx *c);

#endif
