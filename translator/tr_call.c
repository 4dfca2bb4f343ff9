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
 *  X2S  CALLING             R_PROVISIONAL    ringing          -> RINGING
 *  X2S  CALLING|RINGING     R_ANSWER         ACK, accept      -> ACTIVE
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
 *  S2X  ACTIVE              S_ACK, O_ACKED   the 2xx is done           -
 *  S2X  ACTIVE              O_NO_ACK         BYE, terminate   -> GONE
 *  any  ACTIVE              X_TERMINATE      BYE              -> GONE
 *  any  ACTIVE              X_DTMF           INFO                      -
 *  any  ACTIVE              X_HOLD/X_RESUME  re-INVITE                 -
 *  any  ACTIVE              X_SOURCE         re-INVITE                 -
 *  any  ACTIVE              S_REINVITE       200 with an answer;
 *                                            source-*, hold/active or
 *                                            transport-info            -
 *  any  ACTIVE              R_REINVITE_OK    ACK                       -
 *  any  ACTIVE              T_EXPIRED/OP_END BYE, terminate   -> GONE
 *  any  ACTIVE|RINGING|...  X_TRANSPORT      INFO (trickle fragment),
 *                                            kept until a dialog exists  -
 *  any  any                 S_BYE            200, terminate   -> GONE
 *  any  any                 S_INFO           DTMF / trickle to Jingle  -
 *  any  any                 S_OPTIONS        200                       -
 *  any  any                 S_OTHER          405                       -
 *  any  (other)             X_ACCEPT         unexpected-request        -
 *  any  (other)             X_SOURCE         unexpected-request        -
 *  any  (other)             X_EXISTING       item-not-found            -
 *  any  (other)             S_REINVITE       491                       -
 *  any  (other)             S_CANCEL         200                       -
 *  any  (other)             X_* IQ           result                    -
 *  any  (other)             anything else    nothing                   -
 *
 * Any request in the dialog with a CSeq below the last one is refused
 * (500) before the table; any in ACTIVE pushes the idle deadline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"

enum { CANCEL_WAIT_MS = 32000 };

/* What an action returns: the next state, or one of these. */
enum { NOCHANGE = -1, GONE = -2 };

/* Events only the refinement in tr_call_apply produces. */
enum {
	CE_X_RINGING = CE_COUNT,
	CE_X_DTMF,
	CE_X_HOLD,
	CE_X_RESUME,
	CE_X_PING,
	CE_R_PROVISIONAL, /**< 1xx to our INVITE */
	CE_R_ANSWER,      /**< 2xx to our INVITE */
	CE_R_FAILURE,     /**< >= 300 or a local failure of our INVITE */
	CE_R_REINVITE_OK, /**< 2xx to our re-INVITE */
	CE_R_OTHER,       /**< a response to another request of ours */
	CE_O_ACKED,       /**< our 2xx was ACKed */
	CE_O_NO_ACK,      /**< our 2xx never was */
	CE_O_OTHER,       /**< another outbox entry is done */
};

struct call_ctx {
	struct translator *tr;
	uint64_t id;
	struct callrec *r;
	const struct call_ev *e;
	xmpp_stanza_t *info; /**< the payload of a session-info */
	const char *why;     /**< why the call ended (GONE) */
};

typedef int(call_act_h)(struct call_ctx *c);

#define S(x)     (1u << (x))
#define ANY      0xffffu
#define OWN_C(c) ((struct tr_owner){OWN_CALL, (c)->id})

static const struct xsgw_config *cfg_of(const struct call_ctx *c)
{
	return c->tr->proc.cfg;
}


/* ---- small helpers of the actions ---------------------------------- */

static void iq_ok(struct call_ctx *c)
{
	tr_xmpp_iq_answer(c->tr, c->e->iq, NULL, NULL);
}


static void iq_err(struct call_ctx *c, const char *cond, const char *text)
{
	tr_xmpp_iq_answer(c->tr, c->e->iq, cond, text);
}


/* Answer the request of the event (not the pending INVITE). */
static void reply(struct call_ctx *c, unsigned scode, const char *reason,
		  bool contact, const char *body)
{
	const struct call_ev *e = c->e;
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .scode = scode,
				  .reason = reason,
				  .contact = contact,
				  .body = body};

	if (scode >= 300)
		log_info("%r %r from %s: %u %s", &e->msg->met, &e->msg->callid,
			 e->src, scode, reason);
	if (!e->tx && !pl_strcmp(&e->msg->met, "CANCEL"))
		return; /* libre has answered it */
	(void)tr_sip_respond(c->tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


/* Our To-tag as libre takes it (S2X: ltag is 16 hex digits). */
static uint64_t totag_of(const struct callrec *r)
{
	return strtoull(r->ltag ? r->ltag : "0", NULL, 16);
}


/* Answer the pending INVITE of an S2X call. */
static uint64_t invite_reply(struct call_ctx *c, unsigned scode,
			     const char *reason, const char *body)
{
	struct callrec *r = c->r;
	struct tr_sip_reply rp = {.tx = r->inv_tx,
				  .src = r->inv_src,
				  .totag = totag_of(r),
				  .scode = scode,
				  .reason = reason,
				  .contact = scode < 300,
				  .body = body};

	pl_set_str(&rp.raw, r->inv_raw ? r->inv_raw : "");
	r->last_scode = scode;
	tr_callrec_event(r, "sent %u %s", scode, reason);
	return tr_sip_respond(c->tr, OWN_C(c), &rp);
}


static uint64_t sip_req(struct call_ctx *c, const char *method, uint32_t cseq,
			const char *branch, const char *ctype,
			const char *extra, const char *body)
{
	return tr_sip_request(c->tr, c->id, c->r, method, cseq, branch, ctype,
			      extra, body);
}


static void bye(struct call_ctx *c, const char *extra)
{
	sip_req(c, "BYE", 0, NULL, NULL, extra, NULL);
	tr_callrec_event(c->r, "BYE sent");
}


static void cancel(struct call_ctx *c)
{
	sip_req(c, "CANCEL", c->r->inv_cseq, c->r->inv_branch, NULL, NULL,
		NULL);
	tr_callrec_deadline(c->tr, c->id, c->r, wall_ms() + CANCEL_WAIT_MS);
}


static void terminate(struct call_ctx *c, const char *reason)
{
	tr_xmpp_terminate(c->tr, c->id, c->r, reason, 0, NULL);
}


static void idle_deadline(struct call_ctx *c)
{
	tr_callrec_deadline(c->tr, c->id, c->r,
			    wall_ms() + cfg_of(c)->sip.call_idle_timeout_s *
						1000ULL);
}


static char *body_of(const struct sip_msg *msg)
{
	char *b = NULL;

	re_sdprintf(&b, "%b", mbuf_buf(msg->mb), mbuf_get_left(msg->mb));
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
			while (one.l && (*one.p == ' ' || *one.p == '\t'))
				one.p++, one.l--;
			while (one.l && (one.p[one.l - 1] == ' ' ||
					 one.p[one.l - 1] == '\t'))
				one.l--;
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
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr a;

	if (h && !sip_addr_decode(&a, &h->val))
		tr_callrec_set_pl(&r->target, &a.auri);
	if (uac) {
		mem_deref(r->routes);
		r->routes = route_set(msg, true);
		tr_callrec_set_pl(&r->rtag, &msg->to.tag);
	}
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


static bool rung_has(const struct callrec *r, const char *who)
{
	const char *p = r->rung ? r->rung : "";
	size_t n = strlen(who);

	for (; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0))
		if (!strncmp(p, who, n) && (p[n] == '\n' || !p[n]))
			return true;
	return false;
}


/* The trickle candidates kept for the dialog, once there is one. */
static void frag_flush(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!r->pend_frag || !*r->pend_frag || !r->rtag || !*r->rtag)
		return;
	sip_req(c, "INFO", 0, NULL, "application/trickle-ice-sdpfrag",
		"Info-Package: trickle-ice\r\n", r->pend_frag);
	r->pend_frag = mem_deref(r->pend_frag);
}


/* ---- creating a call ------------------------------------------------ */

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


/* Send our INVITE with the SDP in lsdp; the call rings from now on. */
static void invite_send(struct call_ctx *c)
{
	struct callrec *r = c->r;

	r->inv_out = sip_req(c, "INVITE", r->inv_cseq, r->inv_branch,
			     "application/sdp", NULL, r->lsdp);
	tr_callrec_deadline(c->tr, c->id, r,
			    wall_ms() + cfg_of(c)->sip.ring_timeout_ms);
}


static int x_initiate(struct call_ctx *c)
{
	const struct xsgw_config *cfg = cfg_of(c);
	const struct call_ev *e = c->e;
	struct callrec *r = c->r;
	const char *sid = xu_attr(e->j, "sid");
	char target[600], me[600], eb[160], gw[512], owner[512];
	char *sdp = NULL;
	int err = 0;

	xu_bare(e->from, owner, sizeof(owner));
	if (tr_callrec_key_get(c->tr, CK_SID, owner, sid)) {
		iq_err(c, "conflict", "sid in use");
		return NOCHANGE;
	}
	xu_bare(xu_attr(e->iq, "to"), gw, sizeof(gw));
	if (sip_uri_of_gwjid(cfg, gw, target, sizeof(target)) ||
	    addr_user_to_sip(cfg, owner, me, sizeof(me))) {
		iq_err(c, "jid-malformed", NULL);
		return NOCHANGE;
	}
	r->dir = CD_X2S;
	r->created = wall_ms();
	if (tr_media_sdp_of_jingle(c->tr, r, e->j, true, NULL, NULL, &sdp, eb,
				   sizeof(eb))) {
		iq_err(c, "bad-request", eb);
		return NOCHANGE;
	}
	err |= re_sdprintf(&r->luri, "<%s>", me);
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
		iq_err(c, "internal-server-error", NULL);
		return NOCHANGE;
	}
	r->lcseq = r->inv_cseq = 1;
	c->id = store_next_id(tr_txn(c->tr));
	tr_callrec_key_put(c->tr, CK_SID, owner, sid, c->id);
	tr_callrec_key_put(c->tr, CK_DIALOG, r->callid, r->ltag, c->id);
	store_count(tr_txn(c->tr), "calls.x2s", 1);
	iq_ok(c);
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
	invite_send(c);
	return CS_CALLING;
}


static int s_invite(struct call_ctx *c)
{
	const struct xsgw_config *cfg = cfg_of(c);
	const struct call_ev *e = c->e;
	const struct sip_msg *msg = e->msg;
	struct callrec *r = c->r;
	char user[256], host[256], owner[512], gw[600], eb[160], *list = NULL;
	xmpp_stanza_t *iq = NULL, *j;
	unsigned n;
	int next = NOCHANGE, err = 0;

	pl_strcpy(&msg->uri.user, user, sizeof(user));
	pl_strcpy(&msg->uri.host, host, sizeof(host));
	if (addr_sip_to_user(cfg, user, host, owner, sizeof(owner))) {
		reply(c, 404, "Not Found", false, NULL);
		return NOCHANGE;
	}
	n = tr_presence_online(c->tr, owner, &list);
	if (!n && !cfg->sip.propose_timeout_ms) {
		reply(c, 480, "Temporarily Unavailable", false, NULL);
		goto out;
	}
	if (!msg->ctyp.type.l ||
	    pl_strcasecmp(&msg->ctyp.type, "application") ||
	    pl_strcasecmp(&msg->ctyp.subtype, "sdp") ||
	    !mbuf_get_left(msg->mb)) {
		/* nobody known online: that is the answer, offer or not */
		if (!n)
			reply(c, 480, "Temporarily Unavailable", false, NULL);
		else
			reply(c, 488, "SDP Offer Required", false, NULL);
		goto out;
	}
	pl_strcpy(&msg->from.uri.user, user, sizeof(user));
	pl_strcpy(&msg->from.uri.host, host, sizeof(host));
	if (addr_sip_to_gwjid(cfg, user, host, gw, sizeof(gw))) {
		reply(c, 400, "Bad From", false, NULL);
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
	dialog_learn(r, msg, false);
	r->routes = route_set(msg, false);
	r->rcseq = r->inv_cseq = msg->cseq.num;
	r->inv_tx = e->tx;
	err |= tr_callrec_set(&r->inv_src, e->src);
	err |= tr_callrec_set_pl(&r->inv_raw, &e->raw);
	r->rsdp = body_of(msg);
	if (err || !r->sid || !r->rsdp || !r->routes) {
		reply(c, 500, "Server Internal Error", false, NULL);
		goto out;
	}
	c->id = store_next_id(tr_txn(c->tr));
	iq = tr_xmpp_jingle(c->tr, c->id, r, owner, "session-initiate", &j);
	if (tr_media_jingle_of_sdp(c->tr, j, r->rsdp, true, NULL, eb,
				   sizeof(eb))) {
		char reason[200];
		log_info("INVITE %s: SDP refused: %s", r->callid, eb);
		snprintf(reason, sizeof(reason), "Not Acceptable Here (%s)",
			 eb);
		reply(c, 488, reason, false, NULL);
		goto out;
	}
	if (tr_media_stanza_text(c->tr, j, &r->init_xml)) {
		reply(c, 500, "Server Internal Error", false, NULL);
		goto out;
	}
	invite_reply(c, 100, "Trying", NULL);
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


/* ---- XMPP side ------------------------------------------------------ */

static int x_terminate_waiting(struct call_ctx *c)
{
	iq_ok(c);
	c->why = "ended before its INVITE was sent";
	return GONE;
}


static int x_terminate_active(struct call_ctx *c)
{
	iq_ok(c);
	bye(c, NULL);
	c->why = "terminated by the XMPP user";
	return GONE;
}


static int x_terminate_calling(struct call_ctx *c)
{
	iq_ok(c);
	cancel(c);
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
	for (x = xmpp_stanza_get_children(re); x; x = xmpp_stanza_get_next(x)) {
		const char *n = xmpp_stanza_get_name(x);
		if (n && !strcmp(n, "sip-error")) {
			int code = atoi(xu_attr(x, "code"));
			if (code >= 400 && code <= 699) {
				sip_phrase(tr, x, pbuf, psz);
				*phrase = *pbuf ? pbuf : "Rejected";
				return (unsigned)code;
			}
		}
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


static int x_terminate_ringing(struct call_ctx *c)
{
	const char *phrase;
	char pbuf[64];
	unsigned code;

	iq_ok(c);
	/* one device declining does not end a multi-device ring */
	if (rung_remove(c->r, c->e->from)) {
		tr_callrec_event(c->r, "%s declined", c->e->from);
		return c->r->state;
	}
	code = reject_code(c->tr, c->e->j, &phrase, pbuf, sizeof(pbuf));
	invite_reply(c, code, phrase, NULL);
	c->why = "terminated by the XMPP user";
	return GONE;
}


static int x_accept(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char eb[160], *sdp = NULL;

	if (tr_media_sdp_of_jingle(c->tr, r, c->e->j, false, r->rsdp, NULL,
				   &sdp, eb, sizeof(eb))) {
		iq_err(c, "bad-request", eb);
		return NOCHANGE;
	}
	tr_callrec_set(&r->ufull, c->e->from);
	tr_callrec_set(&r->responder, c->e->from);
	mem_deref(r->lsdp);
	r->lsdp = sdp;
	r->inv_out = invite_reply(c, 200, "OK", sdp);
	tr_xmpp_cancel_others(c->tr, c->id, r, c->e->from);
	r->init_xml = mem_deref(r->init_xml);
	idle_deadline(c);
	iq_ok(c);
	return CS_ACTIVE;
}


static int x_ringing(struct call_ctx *c)
{
	if (c->e->iq)
		iq_ok(c);
	if (c->r->last_scode < 180)
		invite_reply(c, 180, "Ringing", NULL);
	return c->r->state;
}


static int x_jmi_ringing(struct call_ctx *c)
{
	if (!c->r->jmi)
		return NOCHANGE;
	return x_ringing(c);
}


static int x_dtmf(struct call_ctx *c)
{
	char body[64];
	const char *code = xu_attr(c->info, "code");
	unsigned dur = *xu_attr(c->info, "duration")
			       ? atoi(xu_attr(c->info, "duration"))
			       : 100;

	iq_ok(c);
	snprintf(body, sizeof(body), "Signal=%.1s\r\nDuration=%u\r\n", code,
		 dur);
	sip_req(c, "INFO", 0, NULL, "application/dtmf-relay", NULL, body);
	return c->r->state;
}


static int hold(struct call_ctx *c, bool on)
{
	char *sdp = NULL;

	iq_ok(c);
	if (tr_media_hold_sdp(c->tr, c->r, on, &sdp))
		return NOCHANGE;
	sip_req(c, "INVITE", 0, NULL, "application/sdp", NULL, sdp);
	mem_deref(c->r->lsdp);
	c->r->lsdp = sdp;
	tr_callrec_event(c->r, on ? "hold (re-INVITE sent)"
				  : "resume (re-INVITE sent)");
	return c->r->state;
}


static int x_hold(struct call_ctx *c)
{
	return hold(c, true);
}


static int x_resume(struct call_ctx *c)
{
	return hold(c, false);
}


static int x_transport_waiting(struct call_ctx *c)
{
	if (tr_media_merge_candidates(c->tr, &c->r->init_xml, c->e->j)) {
		iq_err(c, "item-not-found", "no such content");
		return NOCHANGE;
	}
	iq_ok(c);
	return c->r->state;
}


/* transport-info -> INFO with an RFC 8840 fragment (trickle ICE); until
 * the callee's first dialog-creating response the candidates wait in the
 * record (RFC 8838: INFO needs a dialog). */
static int x_transport(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char eb[160], *body = NULL, *frag = NULL;

	eb[0] = 0;
	if (tr_media_frag_of_jingle(c->tr, r, c->e->j, &body, eb, sizeof(eb))) {
		iq_err(c, "bad-request", *eb ? eb : NULL);
		return NOCHANGE;
	}
	iq_ok(c);
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
	frag_flush(c);
	return r->state;
}


/* source-add/remove/update -> re-INVITE with a=jingle-action */
static int x_source(struct call_ctx *c)
{
	const char *action = xu_attr(c->e->j, "action");
	char eb[160], *sdp = NULL;

	if (tr_media_sdp_of_jingle(c->tr, c->r, c->e->j, c->r->dir == CD_X2S,
				   NULL, action, &sdp, eb, sizeof(eb))) {
		iq_err(c, "bad-request", eb);
		return NOCHANGE;
	}
	sip_req(c, "INVITE", 0, NULL, "application/sdp", NULL, sdp);
	tr_callrec_event(c->r, "re-INVITE (%s) sent", action);
	iq_ok(c);
	mem_deref(sdp);
	return c->r->state;
}


static int x_existing(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!r->init_xml || !*r->init_xml) {
		iq_err(c, "item-not-found", "no session-initiate for this SID");
		return NOCHANGE;
	}
	if (tr_xmpp_initiate_to(c->tr, c->id, r, r->gwjid, c->e->from)) {
		iq_err(c, "internal-server-error", NULL);
		return NOCHANGE;
	}
	iq_ok(c);
	if (!rung_has(r, c->e->from)) {
		char *t = NULL;
		re_sdprintf(&t, "%s%s\n", r->rung ? r->rung : "", c->e->from);
		mem_deref(r->rung);
		r->rung = t;
	}
	return r->state;
}


static int x_iq_error(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!rung_has(r, c->e->from))
		return NOCHANGE;
	if (rung_remove(r, c->e->from))
		return r->state;
	invite_reply(c, 480, "Temporarily Unavailable", NULL);
	c->why = "every device refused the call";
	return GONE;
}


static int x_iq_result(struct call_ctx *c)
{
	if (c->r->last_scode >= 180)
		return NOCHANGE;
	invite_reply(c, 180, "Ringing", NULL);
	return c->r->state;
}


static int x_jmi_proceed(struct call_ctx *c)
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
			    wall_ms() + cfg_of(c)->sip.ring_timeout_ms);
	return CS_RINGING;
}


static int x_jmi_reject(struct call_ctx *c)
{
	if (!c->r->jmi)
		return NOCHANGE;
	invite_reply(c, 603, "Decline", NULL);
	c->why = "rejected (XEP-0353)";
	return GONE;
}


static int x_unexpected_accept(struct call_ctx *c)
{
	iq_err(c, "unexpected-request", "not a ringing incoming call");
	return NOCHANGE;
}


static int x_unexpected_source(struct call_ctx *c)
{
	iq_err(c, "unexpected-request", "the call is not answered");
	return NOCHANGE;
}


static int x_no_initiate(struct call_ctx *c)
{
	iq_err(c, "item-not-found", "no session-initiate for this SID");
	return NOCHANGE;
}


static int x_ack_only(struct call_ctx *c)
{
	if (c->e->iq)
		iq_ok(c);
	return NOCHANGE;
}


/* ---- SIP side: requests ------------------------------------------- */

static int s_invite_again(struct call_ctx *c)
{
	struct callrec *r = c->r;
	struct tr_sip_reply rp = {.tx = c->e->tx,
				  .src = r->inv_src,
				  .totag = totag_of(r),
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


static int s_cancel_ringing(struct call_ctx *c)
{
	reply(c, 200, "OK", false, NULL);
	invite_reply(c, 487, "Request Terminated", NULL);
	if (c->r->state == CS_PROPOSED)
		tr_xmpp_jmi(c->tr, c->id, c->r, c->r->owner, "retract");
	else
		terminate(c, "decline");
	c->why = "CANCEL";
	return GONE;
}


static int s_cancel_late(struct call_ctx *c)
{
	reply(c, 200, "OK", false, NULL);
	return NOCHANGE;
}


static int s_ack(struct call_ctx *c)
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
static int s_bye_early(struct call_ctx *c)
{
	reply(c, 200, "OK", false, NULL);
	invite_reply(c, 487, "Request Terminated", NULL);
	if (c->r->state == CS_PROPOSED)
		tr_xmpp_jmi(c->tr, c->id, c->r, c->r->owner, "retract");
	else
		terminate(c, "success");
	c->why = "BYE from SIP before the answer";
	return GONE;
}


static int s_bye(struct call_ctx *c)
{
	reply(c, 200, "OK", false, NULL);
	terminate(c, "success");
	c->why = "BYE from SIP";
	return GONE;
}


/* re-INVITE from the SIP side: to XMPP as the action it names (source-*),
 * hold/active, or transport-info; answered with a real SDP answer. */
static int s_reinvite(struct call_ctx *c)
{
	struct callrec *r = c->r;
	const bool we_init = r->dir == CD_X2S;
	char *offer = body_of(c->e->msg), *answer = NULL, eb[160];
	xmpp_stanza_t *iq = NULL, *j;
	struct pl action = PL_INIT;
	bool held;
	int next = NOCHANGE;

	if (!offer)
		return NOCHANGE;
	if (!*offer) {
		/* offerless re-INVITE: our current SDP as the offer */
		reply(c, 200, "OK", true, r->lsdp);
		goto out;
	}
	if (tr_media_reoffer_answer(c->tr, r, offer, &answer, &action, &held,
				    eb, sizeof(eb))) {
		char reason[200];
		snprintf(reason, sizeof(reason), "Not Acceptable Here (%s)",
			 eb);
		reply(c, 488, reason, false, NULL);
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
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "session-info",
				    &j);
		xu_elem(c->tr->xctx, j, held ? "hold" : "active", NS_RTP_INFO);
	} else {
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info",
				    &j);
		tr_media_jingle_of_sdp(c->tr, j, offer, !we_init, NULL, eb,
				       sizeof(eb));
	}
	r->on_hold = held;
	tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
	tr_callrec_set(&r->rsdp, offer);
	mem_deref(r->lsdp);
	r->lsdp = answer;
	answer = NULL;
	tr_callrec_event(r, "re-INVITE received%s", held ? " (hold)" : "");
	reply(c, 200, "OK", true, r->lsdp);
	next = r->state;
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(offer);
	mem_deref(answer);
	return next;
}


/* INFO: DTMF relay -> XEP-0181; trickle ICE fragment -> transport-info */
static int s_info(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	struct callrec *r = c->r;
	char *body = body_of(msg), *sdp = NULL, eb[160];
	xmpp_stanza_t *iq = NULL, *j;
	struct pl sig;
	int next = NOCHANGE;

	if (!body)
		return NOCHANGE;
	if (!mbuf_get_left(msg->mb)) {
		reply(c, 200, "OK", false, NULL);
		goto out;
	}
	if (!pl_strcasecmp(&msg->ctyp.subtype, "dtmf-relay") &&
	    !re_regex(body, strlen(body), "Signal=[ ]*[0-9A-D*#]1", NULL,
		      &sig)) {
		char code[2] = {sig.p[0], 0};
		xmpp_stanza_t *d;
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "session-info",
				    &j);
		d = xu_elem(c->tr->xctx, j, "dtmf", NS_DTMF);
		xmpp_stanza_set_attribute(d, "code", code);
	} else if (!pl_strcasecmp(&msg->ctyp.subtype, "trickle-ice-sdpfrag") ||
		   !pl_strcasecmp(&msg->ctyp.subtype, "sdpfrag")) {
		re_sdprintf(&sdp,
			    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\n"
			    "t=0 0\r\n%s",
			    body);
		iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "transport-info",
				    &j);
		if (!sdp ||
		    tr_media_transports_of_sdp(c->tr, j, sdp, r->dir == CD_S2X,
					       eb, sizeof(eb))) {
			reply(c, 400, "Bad SDP Fragment", false, NULL);
			goto out;
		}
	} else {
		reply(c, 415, "Unsupported Media Type", false, NULL);
		goto out;
	}
	tr_xmpp_jingle_to_all(c->tr, c->id, r, iq);
	reply(c, 200, "OK", false, NULL);
	next = r->state;
out:
	if (iq)
		xmpp_stanza_release(iq);
	mem_deref(body);
	mem_deref(sdp);
	return next;
}


static int s_options(struct call_ctx *c)
{
	reply(c, 200, "OK", false, NULL);
	return NOCHANGE;
}


static int s_other(struct call_ctx *c)
{
	reply(c, 405, "Method Not Allowed", false, NULL);
	return NOCHANGE;
}


static int s_pending(struct call_ctx *c)
{
	reply(c, 491, "Request Pending", false, NULL);
	return NOCHANGE;
}


/* ---- SIP side: responses to our requests -------------------------- */

static int r_provisional(struct call_ctx *c)
{
	const struct sip_msg *msg = c->e->msg;
	xmpp_stanza_t *j, *iq;

	if (c->e->scode <= 100)
		return NOCHANGE;
	if (pl_isset(&msg->to.tag)) {
		dialog_learn(c->r, msg, true);
		frag_flush(c);
	}
	iq = tr_xmpp_jingle(c->tr, c->id, c->r, c->r->ufull, "session-info",
			    &j);
	xu_elem(c->tr->xctx, j, "ringing", NS_RTP_INFO);
	tr_xmpp_send(c->tr, OWN_C(c), iq);
	xmpp_stanza_release(iq);
	return CS_RINGING;
}


static void ack_2xx(struct call_ctx *c, uint32_t cseq)
{
	sip_req(c, "ACK", cseq, NULL, NULL, NULL, NULL);
}


static int r_answer(struct call_ctx *c)
{
	struct callrec *r = c->r;
	char *sdp = body_of(c->e->msg), eb[160];
	xmpp_stanza_t *iq, *j;
	int next = CS_ACTIVE;

	dialog_learn(r, c->e->msg, true);
	ack_2xx(c, r->inv_cseq);
	iq = tr_xmpp_jingle(c->tr, c->id, r, r->ufull, "session-accept", &j);
	if (!sdp || tr_media_jingle_of_sdp(c->tr, j, sdp, false, NULL, eb,
					   sizeof(eb))) {
		bye(c, "Reason: SIP;cause=488;text=\"Bad SDP answer\"\r\n");
		terminate(c, "failed-application");
		c->why = "unusable SDP answer";
		next = GONE;
	} else {
		tr_xmpp_send(c->tr, OWN_C(c), iq);
		tr_callrec_set(&r->rsdp, sdp);
		frag_flush(c);
		idle_deadline(c);
	}
	xmpp_stanza_release(iq);
	mem_deref(sdp);
	return next;
}


static int r_answer_again(struct call_ctx *c)
{
	ack_2xx(c, c->r->inv_cseq); /* our ACK was lost: the 2xx again */
	return c->r->state;
}


static int r_answer_cancelled(struct call_ctx *c)
{
	/* the callee answered as we cancelled: end it properly */
	dialog_learn(c->r, c->e->msg, true);
	ack_2xx(c, c->r->inv_cseq);
	bye(c, NULL);
	c->why = "answered after CANCEL";
	return GONE;
}


static int r_failure(struct call_ctx *c)
{
	unsigned scode = c->e->scode;
	const char *phrase = c->e->reason;

	if (scode == 486 || scode == 603)
		terminate(c, "decline");
	else if (scode == 600)
		terminate(c, "busy");
	else
		tr_xmpp_terminate(c->tr, c->id, c->r, "general-error", scode,
				  phrase);
	tr_callrec_event(c->r, "final %u %s", scode, phrase);
	c->why = phrase;
	return GONE;
}


static int r_failure_cancelled(struct call_ctx *c)
{
	c->why = "cancelled";
	return GONE;
}


static int r_reinvite_ok(struct call_ctx *c)
{
	ack_2xx(c, c->e->msg->cseq.num);
	return c->r->state;
}


/* ---- outbox outcomes, timers, the operator ------------------------ */

static int o_acked(struct call_ctx *c)
{
	c->r->inv_out = 0;
	return c->r->state;
}


/* A 2xx we sent was never ACKed (RFC 3261 13.3.1.4): end the call. */
static int o_no_ack(struct call_ctx *c)
{
	log_info("call %llu: the caller never ACKed the 200",
		 (unsigned long long)c->id);
	bye(c, NULL);
	terminate(c, "success");
	c->why = "no ACK for the 200";
	return GONE;
}


static int t_send_waiting(struct call_ctx *c)
{
	struct callrec *r = c->r;
	xmpp_stanza_t *j = xmpp_stanza_new_from_string(
		c->tr->xctx, r->init_xml ? r->init_xml : "");
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
	invite_send(c);
	tr_callrec_event(r, "INVITE sent");
	return CS_CALLING;
}


static int end_waiting(struct call_ctx *c)
{
	terminate(c, "cancel");
	return GONE;
}


static int end_active(struct call_ctx *c)
{
	bye(c, NULL);
	terminate(c, "success");
	return GONE;
}


static int end_calling(struct call_ctx *c)
{
	cancel(c);
	terminate(c, "timeout");
	return CS_CANCELLING;
}


static int end_ringing(struct call_ctx *c)
{
	invite_reply(c, 480, "Temporarily Unavailable", NULL);
	if (c->r->state == CS_PROPOSED)
		tr_xmpp_jmi(c->tr, c->id, c->r, c->r->owner, "retract");
	else
		terminate(c, "timeout");
	return GONE;
}


static int end_now(struct call_ctx *c)
{
	return GONE;
}


/* ---- the table ------------------------------------------------------ */

#define X2S         CD_X2S
#define S2X         CD_S2X
#define NEW         S(0)
#define RINGISH     (S(CS_PROPOSED) | S(CS_RINGING))
#define OUT_RINGISH (S(CS_CALLING) | S(CS_RINGING))

static const struct call_rule {
	uint8_t dir;     /* 0: either */
	uint16_t states; /* S(state) mask; NEW: no record yet */
	uint8_t ev;
	call_act_h *act;
} rules[] = {
	{X2S, NEW, CE_X_INITIATE, x_initiate},
	{S2X, NEW, CE_S_INVITE, s_invite},

	{X2S, S(CS_WAITING), CE_X_TRANSPORT, x_transport_waiting},
	{X2S, S(CS_WAITING), CE_T_EXPIRED, t_send_waiting},
	{X2S, S(CS_WAITING), CE_X_TERMINATE, x_terminate_waiting},
	{X2S, S(CS_WAITING), CE_OP_END, end_waiting},

	{X2S, S(CS_CALLING), CE_R_PROVISIONAL, r_provisional},
	{X2S, OUT_RINGISH, CE_R_ANSWER, r_answer},
	{X2S, OUT_RINGISH, CE_R_FAILURE, r_failure},
	{X2S, OUT_RINGISH, CE_X_TERMINATE, x_terminate_calling},
	{X2S, OUT_RINGISH, CE_T_EXPIRED, end_calling},
	{X2S, OUT_RINGISH, CE_OP_END, end_calling},
	{X2S, S(CS_CANCELLING), CE_R_ANSWER, r_answer_cancelled},
	{X2S, S(CS_CANCELLING), CE_R_FAILURE, r_failure_cancelled},
	{X2S, S(CS_CANCELLING), CE_T_EXPIRED, end_now},
	{X2S, S(CS_CANCELLING), CE_OP_END, end_now},
	{X2S, S(CS_ACTIVE), CE_R_ANSWER, r_answer_again},

	{S2X, S(CS_PROPOSED), CE_X_JMI_PROCEED, x_jmi_proceed},
	{S2X, RINGISH, CE_X_JMI_RINGING, x_jmi_ringing},
	{S2X, RINGISH, CE_X_JMI_REJECT, x_jmi_reject},
	{S2X, S(CS_RINGING), CE_X_IQ_RESULT, x_iq_result},
	{S2X, S(CS_RINGING), CE_X_IQ_ERROR, x_iq_error},
	{S2X, S(CS_RINGING), CE_X_RINGING, x_ringing},
	{S2X, S(CS_RINGING), CE_X_ACCEPT, x_accept},
	{S2X, S(CS_RINGING), CE_X_EXISTING, x_existing},
	{S2X, RINGISH, CE_X_TERMINATE, x_terminate_ringing},
	{S2X, RINGISH, CE_S_INVITE_AGAIN, s_invite_again},
	{S2X, RINGISH, CE_S_CANCEL, s_cancel_ringing},
	{S2X, RINGISH, CE_S_BYE, s_bye_early},
	{S2X, RINGISH, CE_T_EXPIRED, end_ringing},
	{S2X, RINGISH, CE_OP_END, end_ringing},
	{S2X, S(CS_ACTIVE), CE_S_ACK, s_ack},
	{S2X, S(CS_ACTIVE), CE_O_ACKED, o_acked},
	{S2X, S(CS_ACTIVE), CE_O_NO_ACK, o_no_ack},

	{0, S(CS_ACTIVE), CE_X_TERMINATE, x_terminate_active},
	{0, S(CS_ACTIVE), CE_X_DTMF, x_dtmf},
	{0, S(CS_ACTIVE), CE_X_HOLD, x_hold},
	{0, S(CS_ACTIVE), CE_X_RESUME, x_resume},
	{0, S(CS_ACTIVE), CE_X_SOURCE, x_source},
	{0, S(CS_ACTIVE), CE_S_REINVITE, s_reinvite},
	{0, S(CS_ACTIVE), CE_R_REINVITE_OK, r_reinvite_ok},
	{0, S(CS_ACTIVE), CE_T_EXPIRED, end_active},
	{0, S(CS_ACTIVE), CE_OP_END, end_active},
	{0, ANY & ~NEW, CE_X_TRANSPORT, x_transport},

	{0, ANY, CE_S_BYE, s_bye},
	{0, ANY, CE_S_INFO, s_info},
	{0, ANY, CE_S_OPTIONS, s_options},
	{0, ANY, CE_S_OTHER, s_other},
	{0, ANY, CE_X_ACCEPT, x_unexpected_accept},
	{0, ANY, CE_X_SOURCE, x_unexpected_source},
	{0, ANY, CE_X_EXISTING, x_no_initiate},
	{0, ANY, CE_S_REINVITE, s_pending},
	{0, ANY, CE_S_CANCEL, s_cancel_late},
	{0, ANY, CE_X_TERMINATE, x_ack_only},
	{0, ANY, CE_X_RINGING, x_ack_only},
	{0, ANY, CE_X_DTMF, x_ack_only},
	{0, ANY, CE_X_HOLD, x_ack_only},
	{0, ANY, CE_X_RESUME, x_ack_only},
	{0, ANY, CE_X_PING, x_ack_only},
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


/* The event as the record tells it: which of our requests a response
 * answers, which outbox entry is done, what a session-info carries. */
static unsigned refine(struct call_ctx *c, unsigned ev)
{
	const struct call_ev *e = c->e;
	const struct callrec *r = c->r;
	const char *n;

	switch (ev) {
	case CE_R_RESPONSE:
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
		n = c->info ? xmpp_stanza_get_name(c->info) : NULL;
		if (!n)
			return CE_X_PING;
		if (!strcmp(n, "ringing"))
			return CE_X_RINGING;
		if (!strcmp(n, "dtmf"))
			return CE_X_DTMF;
		if (!strcmp(n, "hold"))
			return CE_X_HOLD;
		if (!strcmp(n, "active"))
			return CE_X_RESUME;
		return CE_X_PING;
	default:
		return ev;
	}
}


static bool in_dialog_request(unsigned ev)
{
	return ev == CE_S_BYE || ev == CE_S_REINVITE || ev == CE_S_INFO ||
	       ev == CE_S_OPTIONS || ev == CE_S_OTHER || ev == CE_S_ACK;
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
			reply(&c, 500, "Out Of Order CSeq", false, NULL);
			goto out;
		}
		dirty = r.rcseq != e->msg->cseq.num;
		r.rcseq = e->msg->cseq.num;
	}
	ru = rule_find(r.dir, r.state, rev);
	next = ru ? ru->act(&c) : NOCHANGE;
	if (next == GONE) {
		if (c.id)
			tr_callrec_drop(tr, c.id, &r, c.why);
		goto out;
	}
	if (next == NOCHANGE && dirty)
		next = (int)r.state;
	if (in_dialog_request(rev) &&
	    (next == NOCHANGE ? (int)r.state : next) == CS_ACTIVE) {
		idle_deadline(&c); /* activity keeps it from the sweep */
		next = CS_ACTIVE;
	}
	if (next == NOCHANGE || !c.id)
		goto out;
	if ((uint32_t)next != r.state) {
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

	(void)tr_call_apply(tr, id, oc->response ? CE_R_RESPONSE : CE_O_DONE,
			    &e);
}


void tr_call_expired(struct translator *tr, uint64_t id)
{
	struct call_ev e = {.reason = "timed out (no answer, no activity or "
				      "no final response)"};

	(void)tr_call_apply(tr, id, CE_T_EXPIRED, &e);
}
