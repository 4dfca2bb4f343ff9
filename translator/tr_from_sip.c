/**
 * @file tr_from_sip.c  A request or response from the sip-front, routed to
 *                      its owner: a MESSAGE outside a dialog to messaging,
 *                      everything else (a MESSAGE or REFER inside one too)
 *                      to the call it belongs to; responses
 *                      to the owner of the request they answer.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "translator.h"
#include "util.h"


/* The raw bytes as a libre message (msg and mb are the caller's). */
static int decode(const struct pl *raw, struct mbuf **mbp,
		  struct sip_msg **msgp)
{
	struct mbuf *mb = mbuf_alloc(raw->l + 1);

	if (!mb)
		return ENOMEM;
	(void)mbuf_write_mem(mb, (const uint8_t *)raw->p, raw->l);
	mb->pos = 0;
	*mbp = mb;
	return sip_msg_decode(msgp, mb);
}


static const struct {
	const char *method;
	enum call_event ev;
} dialog_events[] = {
	{"ACK", CE_S_ACK},         {"BYE", CE_S_BYE},
	{"INVITE", CE_S_REINVITE}, {"UPDATE", CE_S_REINVITE},
	{"INFO", CE_S_INFO},       {"OPTIONS", CE_S_OPTIONS},
	{"MESSAGE", CE_S_MESSAGE}, {"REFER", CE_S_REFER},
};


static void reply(struct translator *tr, const struct call_ev *e,
		  unsigned scode, const char *reason)
{
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .scode = scode,
				  .reason = reason};

	if (!pl_strcmp(&e->msg->met, "ACK") ||
	    (!e->tx && !pl_strcmp(&e->msg->met, "CANCEL")))
		return; /* never answered / answered by libre */
	if (scode >= 300)
		LOG_LIMITED(LOG_INFO, "%r %r from %s: %u %s", &e->msg->met,
			    &e->msg->callid, e->src, scode, reason);
	(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


/* 503 with Retry-After: not now (full store, late request). */
static void reply_later(struct translator *tr, const struct call_ev *e,
			uint32_t retry_after)
{
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .scode = 503,
				  .reason = "Service Unavailable",
				  .retry_after = retry_after};

	if (!pl_strcmp(&e->msg->met, "ACK"))
		return;
	LOG_LIMITED(LOG_INFO, "%r %r from %s: 503 (retry after %us)",
		    &e->msg->met, &e->msg->callid, e->src, retry_after);
	(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


/* F20: without a proxy that vouches for them, SIP identities inside the
 * XMPP domains this gateway serves can only be forged (a client showing
 * alice\40localhost@... as alice@localhost). With a proxy, a call between
 * two XMPP users may loop through SIP (SPEC §5): allowed. */
static bool from_forged(const struct translator *tr, const struct sip_msg *msg)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	const struct pl *h = &msg->from.uri.host;

	if (cfg->sip.proxy.port)
		return false;
	for (size_t i = 0; i < cfg->xmpp.ndomains; i++)
		if (!pl_strcasecmp(h, cfg->xmpp.domains[i]))
			return true;
	return false;
}


/* The methods the gateway knows (tr_sip_out.c writes them as Allow). */
static bool known(const struct pl *met)
{
	static const char *m[] = {"INVITE",  "ACK",     "CANCEL",
				  "BYE",     "INFO",    "UPDATE",
				  "MESSAGE", "OPTIONS", "REFER"};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!pl_strcmp(met, m[i]))
			return true;
	return false;
}


/* A NOTIFY of one of our subscriptions (tr_sub.c); what it says about a
 * phone goes to the phone (tr_phone.c). */
static void notify_in(struct translator *tr, const struct call_ev *e,
		      uint64_t id)
{
	struct tr_reginfo ri;
	struct tr_dialoginfo di;
	uint64_t phone;
	char kind;

	phone = tr_sub_notify(tr, id, e, &kind, &ri, &di);
	if (phone && kind == 'r')
		tr_phone_reg(tr, phone, &ri);
	else if (phone && kind == 'd')
		tr_phone_dialog(tr, phone, &di);
}


static void request_in(struct translator *tr, const struct call_ev *e)
{
	const struct sip_msg *msg = e->msg;
	enum call_event ev = CE_S_OTHER;
	uint64_t id;

	/* addresses the gateway may write back (a notice to From, a To
	 * echoed as its From) must be clean of control bytes */
	if (!addr_sip_clean(&msg->from.auri) ||
	    !addr_sip_clean(&msg->to.auri)) {
		reply(tr, e, 400, "Bad From Or To URI");
		return;
	}
	/* the Call-ID and tags go back into requests of ours (a NOTIFY, a
	 * BYE): control bytes in them are refused here, for every method */
	if (!addr_sip_clean(&msg->callid) ||
	    (pl_isset(&msg->from.tag) && !addr_sip_clean(&msg->from.tag)) ||
	    (pl_isset(&msg->to.tag) && !addr_sip_clean(&msg->to.tag))) {
		reply(tr, e, 400, "Bad Call-ID Or Tag");
		return;
	}
	/* a body is read as text everywhere: a NUL in it is malformed (an
	 * SDP one is not acceptable as an offer, RFC 3261 21.4.26) */
	if (memchr(mbuf_buf(msg->mb), 0, mbuf_get_left(msg->mb))) {
		if (!pl_strcasecmp(&msg->ctyp.subtype, "sdp"))
			reply(tr, e, 488,
			      "Not Acceptable Here (NUL byte in SDP)");
		else
			reply(tr, e, 400, "NUL Byte In Body");
		return;
	}
	if ((!pl_strcmp(&msg->met, "INVITE") ||
	     !pl_strcmp(&msg->met, "MESSAGE") ||
	     !pl_strcmp(&msg->met, "SUBSCRIBE")) &&
	    !pl_isset(&msg->to.tag) && from_forged(tr, msg)) {
		reply(tr, e, 403, "From Is In A Served XMPP Domain");
		return;
	}
	if (!pl_strcmp(&msg->met, "INVITE") && !pl_isset(&msg->to.tag)) {
		id = tr_callrec_key_get_pl(tr, CK_REMOTE, &msg->callid,
					   &msg->from.tag);
		if (id)
			(void)tr_call_apply(tr, id, CE_S_INVITE_AGAIN, e);
		else if (!tr_admit(tr))
			reply_later(tr, e, 30);
		else
			(void)tr_call_apply(tr, 0, CE_S_INVITE, e);
		return;
	}
	if (!pl_strcmp(&msg->met, "CANCEL")) {
		id = tr_callrec_key_get_pl(tr, CK_REMOTE, &msg->callid,
					   &msg->from.tag);
		if (!id || tr_call_apply(tr, id, CE_S_CANCEL, e))
			reply(tr, e, 481, "Call/Transaction Does Not Exist");
		return;
	}
	if (!pl_strcmp(&msg->met, "MESSAGE") && !pl_isset(&msg->to.tag)) {
		if (!tr_admit(tr))
			reply_later(tr, e, 30);
		else
			tr_msg_from_sip(tr, msg, e->tx, e->src, &e->raw);
		return;
	}
	if (!pl_strcmp(&msg->met, "OPTIONS") && !pl_isset(&msg->to.tag)) {
		reply(tr, e, 200, "OK");
		return;
	}
	if (!pl_strcmp(&msg->met, "NOTIFY") &&
	    (id = tr_callrec_key_get_pl(tr, CK_SUB, &msg->callid,
					&msg->to.tag))) {
		notify_in(tr, e, id);
		return;
	}
	if (!pl_strcmp(&msg->met, "NOTIFY") &&
	    !tr_callrec_key_get_pl(tr, CK_DIALOG, &msg->callid, &msg->to.tag)) {
		/* RFC 6665 4.1.3: a subscription we do not have ends */
		reply(tr, e, 481, "Subscription Does Not Exist");
		return;
	}
	if (!pl_strcmp(&msg->met, "SUBSCRIBE") &&
	    !(pl_isset(&msg->to.tag) &&
	      tr_callrec_key_get_pl(tr, CK_DIALOG, &msg->callid,
				    &msg->to.tag))) {
		/* a SIP watcher of a served user (tr_watch); in a call's
		 * dialog it is not allowed (below) */
		tr_watch_subscribe(tr, e);
		return;
	}
	if (!pl_strcmp(&msg->met, "PUBLISH") && !pl_isset(&msg->to.tag)) {
		/* a phone's state, published (RFC 3903; tr_phone) */
		tr_phone_publish(tr, e);
		return;
	}
	if (!known(&msg->met)) {
		reply(tr, e, 405, "Method Not Allowed");
		return;
	}
	if (!pl_isset(&msg->to.tag)) {
		reply(tr, e, 481, "Call/Transaction Does Not Exist");
		return;
	}
	for (size_t i = 0; i < sizeof(dialog_events) / sizeof(dialog_events[0]);
	     i++)
		if (!pl_strcmp(&msg->met, dialog_events[i].method))
			ev = dialog_events[i].ev;
	id = tr_callrec_key_get_pl(tr, CK_DIALOG, &msg->callid, &msg->to.tag);
	if (!id || tr_call_apply(tr, id, ev, e))
		reply(tr, e, 481, "Call/Transaction Does Not Exist");
}


void tr_from_sip_request(struct translator *tr,
			 const struct m_sip_in_request *m)
{
	struct call_ev e = {.tx = m->tx, .raw = m->raw};
	struct sip_msg *msg = NULL;
	struct mbuf *mb = NULL;
	char src[80];

	/* past its deadline the front has told the sender 503 (or will):
	 * acting now would deliver what the sender retries (F7) */
	if (m->deadline_ms && wall_ms() > m->deadline_ms) {
		tr_from_sip_refuse(tr, m, ETIMEDOUT);
		return;
	}
	if (m->src.l >= sizeof(src) || decode(&m->raw, &mb, &msg)) {
		log_warn("undecodable request from the sip-front");
		goto out;
	}
	pl_strcpy(&m->src, src, sizeof(src));
	e.src = src;
	e.msg = msg;
	request_in(tr, &e);
out:
	mem_deref(msg);
	mem_deref(mb);
}


void tr_from_sip_response(struct translator *tr,
			  const struct m_sip_in_response *m)
{
	struct tr_outcome oc = {
		.response = true, .out = m->out, .scode = m->scode};
	struct tr_owner owner = {OWN_NONE, 0};
	struct sip_msg *msg = NULL;
	struct mbuf *mb = NULL;
	char reason[128];
	int err;

	pl_strcpy(&m->reason, reason, sizeof(reason));
	oc.reason = reason;
	/* the request's owner; a final response ends its outbox entry */
	err = tr_out_take(tr, PROC_SIP_FRONT, m->out, m->scode >= 200, &owner);
	if (owner.kind == OWN_MSG && m->scode != 401 && m->scode != 407) {
		/* a MESSAGE's outcome is its status (but for a challenge, to
		 * answer with a linked account's credentials) */
		tr_owner_outcome(tr, owner, &oc);
		return;
	}
	if (m->raw.l && decode(&m->raw, &mb, &msg)) {
		log_warn("undecodable response from the sip-front");
		goto out;
	}
	oc.msg = msg;
	if (err && msg) {
		/* no entry (a 2xx retransmitted after the transaction):
		 * the dialog's call, if any */
		owner.kind = OWN_CALL;
		owner.id = tr_callrec_key_get_pl(tr, CK_DIALOG, &msg->callid,
						 &msg->from.tag);
	}
	if (owner.id)
		tr_owner_outcome(tr, owner, &oc);
out:
	mem_deref(msg);
	mem_deref(mb);
}


void tr_from_sip_refuse(struct translator *tr, const struct m_sip_in_request *m,
			int err)
{
	struct call_ev e = {.tx = m->tx, .raw = m->raw};
	struct sip_msg *msg = NULL;
	struct mbuf *mb = NULL;
	char src[80];

	if (m->src.l >= sizeof(src) || decode(&m->raw, &mb, &msg))
		goto out;
	pl_strcpy(&m->src, src, sizeof(src));
	e.src = src;
	e.msg = msg;
	if (err == ENOSPC || err == ETIMEDOUT)
		reply_later(tr, &e, err == ENOSPC ? 30 : 5);
	else
		reply(tr, &e, 500, "Server Internal Error");
out:
	mem_deref(msg);
	mem_deref(mb);
}
