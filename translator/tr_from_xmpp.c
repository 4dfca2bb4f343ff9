/**
 * @file tr_from_xmpp.c  A stanza from the xmpp-front, routed to its owner:
 *                       presence, chat (tr_msg), Jingle and XEP-0353 (the
 *                       call state machine), replies to our IQs, and the
 *                       gateway's own disco#info and ping.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "log.h"
#include "translator.h"
#include "xparse.h"
#include "xmpp_util.h"


/* XEP-0353 from a device: about a call of the owner's (or a propose to a
 * gateway JID, which proceeds at once). */
static void jmi_in(struct translator *tr, xmpp_stanza_t *st, xmpp_stanza_t *c)
{
	struct call_ev e = {.st = st, .from = xu_attr(st, "from")};
	const char *what = xmpp_stanza_get_name(c);
	char owner[512];
	uint64_t id;

	xu_bare(e.from, owner, sizeof(owner));
	if (!strcmp(what, "propose")) {
		/* the gateway is the callee's device: the caller's
		 * session-initiate (sid = the propose id) follows */
		const char *sid = xu_attr(c, "id");
		if (*sid && strchr(e.from, '/') &&
		    strchr(xu_attr(st, "to"), '@') &&
		    tr_presence_served(tr->proc.cfg, owner))
			tr_xmpp_jmi_proceed(tr, xu_attr(st, "to"), e.from, sid);
		return;
	}
	id = tr_callrec_key_get(tr, CK_SID, owner, xu_attr(c, "id"));
	if (!id)
		return;
	if (!strcmp(what, "ringing"))
		(void)tr_call_apply(tr, id, CE_X_JMI_RINGING, &e);
	else if (!strcmp(what, "proceed"))
		(void)tr_call_apply(tr, id, CE_X_JMI_PROCEED, &e);
	else if (!strcmp(what, "reject"))
		(void)tr_call_apply(tr, id, CE_X_JMI_REJECT, &e);
}


/* New work while the store is full (tr_admit): resource-constraint. */
static void refuse_full(struct translator *tr, xmpp_stanza_t *st)
{
	xmpp_stanza_t *r = xu_error_reply(tr->xctx, st, "resource-constraint",
					  "the gateway is full; try later");

	tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, r);
	xmpp_stanza_release(r);
}


/* XEP-0166 §8: a Jingle request about a session the gateway does not
 * know: item-not-found with <unknown-session/>. */
static void unknown_session(struct translator *tr, xmpp_stanza_t *iq)
{
	xmpp_stanza_t *r = xu_error_reply(tr->xctx, iq, "item-not-found", NULL);
	xmpp_stanza_t *e = r ? xmpp_stanza_get_child_by_name(r, "error") : NULL;

	if (!e)
		goto out;
	xu_elem(tr->xctx, e, "unknown-session", NS_JINGLE_ERR);
	tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, r);
out:
	if (r)
		xmpp_stanza_release(r);
}


/* A probe of the gateway's JID, or the approval of its subscription: the
 * presence of the user's SIP account (SPEC 6.2). The rest: who is online,
 * subscriptions to approve (tr_presence). */
static void presence_in(struct translator *tr, xmpp_stanza_t *st)
{
	const char *type = xu_attr(st, "type");
	char bare[512], to[512];

	if ((!strcmp(type, "probe") || !strcmp(type, "subscribed")) &&
	    !strcmp(xu_attr(st, "to"), tr->proc.cfg->xmpp.component)) {
		xu_bare(xu_attr(st, "from"), bare, sizeof(bare));
		if (tr_presence_served(tr->proc.cfg, bare))
			tr_reg_presence_to(tr, bare);
		return;
	}
	/* a probe of (or an approval for) a phone's gateway JID, from a
	 * user of the served domains only (a phone's state is theirs) */
	xu_bare(xu_attr(st, "to"), to, sizeof(to));
	xu_bare(xu_attr(st, "from"), bare, sizeof(bare));
	/* a served user's answer to SIP watchers from a gateway JID
	 * (tr_watch); a phone's approval goes on below */
	if ((!strcmp(type, "subscribed") || !strcmp(type, "unsubscribed")) &&
	    tr_presence_served(tr->proc.cfg, bare))
		tr_watch_answer(tr, bare, to, !strcmp(type, "subscribed"));
	if ((!strcmp(type, "probe") || !strcmp(type, "subscribed")) &&
	    tr_presence_served(tr->proc.cfg, bare) &&
	    tr_phone_presence_to(tr, to, xu_attr(st, "from")))
		return;
	/* a served user watching a SIP user's gateway JID (a phone's keeps
	 * the approval below): our presence subscription (tr_sub) */
	if ((!strcmp(type, "subscribe") || !strcmp(type, "unsubscribe") ||
	     !strcmp(type, "probe")) &&
	    strchr(to, '@') &&
	    !strcasecmp(strchr(to, '@') + 1, tr->proc.cfg->xmpp.component) &&
	    tr_presence_served(tr->proc.cfg, bare) &&
	    !tr_regrec_key_get(tr, RK_PHONE_JID, to)) {
		tr_sub_watch(tr, st);
		return;
	}
	tr_presence_in(tr, st);
	/* what a served user shows: their SIP watchers hear of a change */
	if ((!*type || !strcmp(type, "unavailable")) &&
	    tr_presence_served(tr->proc.cfg, bare))
		tr_watch_presence(tr, bare);
}


static void message_in(struct translator *tr, xmpp_stanza_t *st)
{
	xmpp_stanza_t *jmi = xu_child_ns(st, NS_JMI);
	const char *type = xu_attr(st, "type");

	if (jmi)
		jmi_in(tr, st, jmi);
	else if (strcmp(type, "error") &&
		 xmpp_stanza_get_child_by_name(st, "body") && !tr_admit(tr))
		refuse_full(tr, st);
	else
		tr_msg_from_xmpp(tr, st);
}


/* A reply to an IQ we sent: only a call's (a session-initiate) matters. */
/* The conditions a server answers for a resource that is not there. */
static bool resource_gone(xmpp_stanza_t *iq)
{
	static const char *conds[] = {"service-unavailable", "item-not-found",
				      "recipient-unavailable", "gone", NULL};
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(iq, "error");

	for (int i = 0; e && conds[i]; i++)
		if (xmpp_stanza_get_child_by_name_and_ns(e, conds[i],
							 NS_STANZAS))
			return true;
	return false;
}


static void iq_reply_in(struct translator *tr, xmpp_stanza_t *iq)
{
	struct call_ev e = {.iq = NULL, .from = xu_attr(iq, "from")};
	uint64_t id;

	if (xu_id_parse(xu_attr(iq, "id"), &id) != XU_ID_CALL)
		return;
	e.gone = !strcmp(xu_attr(iq, "type"), "error") && resource_gone(iq);
	(void)tr_call_apply(tr, id,
			    strcmp(xu_attr(iq, "type"), "error")
				    ? CE_X_IQ_RESULT
				    : CE_X_IQ_ERROR,
			    &e);
}


static const struct {
	const char *action;
	enum call_event ev;
} jingle_events[] = {
	{"session-accept", CE_X_ACCEPT}, {"session-terminate", CE_X_TERMINATE},
	{"session-info", CE_X_INFO},     {"transport-info", CE_X_TRANSPORT},
	{"source-add", CE_X_SOURCE},     {"source-remove", CE_X_SOURCE},
	{"source-update", CE_X_SOURCE},  {"content-modify", CE_X_MODIFY},
};


static void jingle_in(struct translator *tr, xmpp_stanza_t *iq,
		      xmpp_stanza_t *j)
{
	struct call_ev e = {.iq = iq, .j = j, .from = xu_attr(iq, "from")};
	const char *type = xu_attr(iq, "type");
	const char *action = xu_attr(j, "action"), *sid = xu_attr(j, "sid");
	char owner[512];
	uint64_t id;

	xu_bare(e.from, owner, sizeof(owner));
	if (!*sid || !*action || !strchr(e.from, '/')) {
		tr_xmpp_iq_answer(tr, iq, "bad-request",
				  "jingle needs action and sid");
		return;
	}
	if (!tr_presence_served(tr->proc.cfg, owner)) {
		tr_xmpp_iq_answer(tr, iq, "forbidden",
				  "not a user of the served domains");
		return;
	}
	if (!strcmp(type, "set") && !strcmp(action, "session-initiate")) {
		if (!tr_admit(tr))
			refuse_full(tr, iq);
		else
			(void)tr_call_apply(tr, 0, CE_X_INITIATE, &e);
		return;
	}
	/* everything else acts on an existing session of the sender's */
	id = tr_callrec_key_get(tr, CK_SID, owner, sid);
	if (!id) {
		unknown_session(tr, iq);
		return;
	}
	if (!strcmp(type, "get")) {
		if (!strcmp(action, "existing-session-initiate"))
			(void)tr_call_apply(tr, id, CE_X_EXISTING, &e);
		else
			tr_xmpp_iq_answer(tr, iq, "feature-not-implemented",
					  NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(jingle_events) / sizeof(jingle_events[0]);
	     i++)
		if (!strcmp(action, jingle_events[i].action)) {
			if (tr_call_apply(tr, id, jingle_events[i].ev, &e))
				unknown_session(tr, iq);
			return;
		}
	tr_xmpp_iq_answer(tr, iq, "feature-not-implemented", NULL);
}


/* disco#info (XEP-0030), per entity: the component (no node), or a
 * gateway JID standing for a SIP user (tr_xmpp_disco_user); anything
 * else is item-not-found. */
static void disco_in(struct translator *tr, xmpp_stanza_t *iq, xmpp_stanza_t *q)
{
	const char *node = xmpp_stanza_get_attribute(q, "node");
	char bare[1024], uri[1200];

	xu_bare(xu_attr(iq, "to"), bare, sizeof(bare));
	if (!strchr(bare, '@') && !node)
		tr_xmpp_disco_info(tr, iq);
	else if (!tr_sipaddr_of_gwjid(tr->proc.cfg, bare, true, uri,
				      sizeof(uri)))
		tr_xmpp_disco_user(tr, iq, node);
	else
		tr_xmpp_iq_answer(tr, iq, "item-not-found", NULL);
}


static void iq_in(struct translator *tr, xmpp_stanza_t *iq)
{
	const char *type = xu_attr(iq, "type");
	xmpp_stanza_t *q;
	const char *ns;

	if (!strcmp(type, "result") || !strcmp(type, "error")) {
		iq_reply_in(tr, iq);
		return;
	}
	if (strcmp(type, "get") && strcmp(type, "set")) {
		tr_xmpp_iq_answer(tr, iq, "bad-request", "no such IQ type");
		return;
	}
	q = xmpp_stanza_get_child_by_name_and_ns(iq, "jingle", NS_JINGLE);
	if (q) {
		jingle_in(tr, iq, q);
		return;
	}
	q = xu_first_elem(iq);
	ns = q ? xmpp_stanza_get_ns(q) : NULL;
	if (ns && !strcmp(ns, NS_REGISTER))
		tr_reg_iq(tr, iq, q);
	else if (!strcmp(type, "get") && ns && !strcmp(ns, NS_PING))
		tr_xmpp_iq_answer(tr, iq, NULL, NULL);
	else if (!strcmp(type, "get") && ns && !strcmp(ns, NS_DISCO_INFO))
		disco_in(tr, iq, q);
	else
		tr_xmpp_iq_answer(tr, iq, "service-unavailable", NULL);
}


void tr_from_xmpp(struct translator *tr, const struct m_xmpp_in *m)
{
	xmpp_stanza_t *st;
	const char *name;

	st = xparse_stanza(tr->xctx, m->xml.p, m->xml.l);
	if (!st) {
		log_warn("undecodable stanza from the xmpp-front");
		return; /* the front parsed it: not a channel error */
	}
	name = xmpp_stanza_get_name(st);
	if (!name)
		;
	else if (!strcmp(name, "presence"))
		presence_in(tr, st);
	else if (!strcmp(name, "message"))
		message_in(tr, st);
	else if (!strcmp(name, "iq"))
		iq_in(tr, st);
	xmpp_stanza_release(st);
}


void tr_from_xmpp_refuse(struct translator *tr, const struct m_xmpp_in *m,
			 int err)
{
	const char *cond =
		err == ENOSPC ? "resource-constraint" : "internal-server-error";
	xmpp_stanza_t *st = NULL, *r = NULL;
	const char *name, *type;

	st = xparse_stanza(tr->xctx, m->xml.p, m->xml.l);
	if (!st)
		return;
	name = xmpp_stanza_get_name(st);
	type = xu_attr(st, "type");
	/* never answer an error, a result or an unavailable */
	if (name && strcmp(type, "error") && strcmp(type, "result") &&
	    strcmp(type, "unavailable") &&
	    (!strcmp(name, "iq") || !strcmp(name, "message") ||
	     !strcmp(name, "presence"))) {
		r = xu_error_reply(tr->xctx, st, cond,
				   "the gateway cannot take this now");
		if (r)
			tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, r);
	}
	if (r)
		xmpp_stanza_release(r);
	xmpp_stanza_release(st);
}
