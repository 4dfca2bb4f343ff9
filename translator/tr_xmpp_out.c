/**
 * @file tr_xmpp_out.c  Every stanza the gateway writes is built here, and
 *                      goes out through the outbox as XML that the
 *                      xmpp-front writes as it is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "regrec.h"
#include "translator.h"
#include "xparse.h"
#include "util.h"
#include "xmpp_util.h"

#define OWNER(k, i) ((struct tr_owner){(k), (i)})
#define NS_CAPS     "http://jabber.org/protocol/caps"


/* Serialise st for a stream whose default namespace is jabber:client or
 * jabber:component:accept; stage it on the component stream (jid NULL)
 * or on jid's client session. */
static void xmpp_stage(struct translator *tr, struct tr_owner owner,
		       const char *jid, xmpp_stanza_t *st)
{
	char *buf = NULL, *clean = NULL;
	size_t len = 0;

	/* the stream's default namespace is the component's */
	xmpp_stanza_del_attribute(st, "lang");
	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK) {
		log_error("cannot serialise a stanza");
		return;
	}
	/* The one XML-text check: what came from SIP (reason phrases, SDP
	 * tokens, names) may hold bytes XML cannot carry, and one such
	 * stanza makes the server close the component stream. */
	if (!utf8_xml_valid(buf, len)) {
		clean = xu_text_clean(buf, len);
		log_warn("a %s stanza held bytes XML cannot carry: replaced",
			 xmpp_stanza_get_name(st));
		if (!clean)
			goto out;
	}
	if (jid)
		(void)tr_out_client(tr, owner, jid, clean ? clean : buf,
				    clean ? strlen(clean) : len);
	else
		(void)tr_out_xmpp(tr, owner, clean ? clean : buf,
				  clean ? strlen(clean) : len);
out:
	mem_deref(clean);
	xmpp_free(tr->xctx, buf);
}


void tr_xmpp_send(struct translator *tr, struct tr_owner owner,
		  xmpp_stanza_t *st)
{
	xmpp_stage(tr, owner, NULL, st);
}


void tr_client_send(struct translator *tr, const char *jid, xmpp_stanza_t *st)
{
	xmpp_stage(tr, (struct tr_owner){OWN_NONE, 0}, jid, st);
}


void tr_xmpp_iq_answer(struct translator *tr, xmpp_stanza_t *req,
		       const char *cond, const char *text)
{
	xmpp_stanza_t *r;

	if (cond) {
		r = xu_error_reply(tr->xctx, req, cond, text);
	} else {
		r = xmpp_iq_new(tr->xctx, "result", xu_attr(req, "id"));
		xmpp_stanza_set_to(r, xu_attr(req, "from"));
		xmpp_stanza_set_from(r, xu_attr(req, "to"));
	}
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), r);
	xmpp_stanza_release(r);
}


/* What a gateway JID standing for a SIP user is and serves (XEP-0030):
 * a phone that calls (XEP-0166/0167/0176/0177/0320/0181/0353, SPEC 6.2
 * INFO payloads) and chats (XEP-0184); the gateway answers its pings. */
static const char *const user_features[] = {NS_DISCO_INFO,
					    NS_PING,
					    NS_RECEIPTS,
					    NS_JINGLE,
					    NS_RTP,
					    "urn:xmpp:jingle:apps:rtp:audio",
					    "urn:xmpp:jingle:apps:rtp:video",
					    NS_RTP_INFO,
					    NS_ICE,
					    NS_RAW_UDP,
					    NS_DTLS,
					    NS_DTMF,
					    NS_SIP_INFO,
					    NS_JMI};
static const char user_category[] = "client", user_type[] = "phone",
		  user_name[] = "SIP contact";


static int str_order(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}


const char *tr_xmpp_caps_ver(void)
{
	static char ver[32];
	const char *f[ARRAY_SIZE(user_features)];
	unsigned char d[XMPP_SHA1_DIGEST_SIZE];
	char s[1024];
	size_t n, vl = sizeof(ver) - 1;
	int err;

	if (*ver)
		return ver;
	/* XEP-0115 5.1: category/type/lang/name<, then each feature< in
	 * octet order (no forms) */
	memcpy(f, user_features, sizeof(f));
	qsort(f, ARRAY_SIZE(f), sizeof(f[0]), str_order);
	n = (size_t)snprintf(s, sizeof(s), "%s/%s//%s<", user_category,
			     user_type, user_name);
	for (size_t i = 0; i < ARRAY_SIZE(f) && n < sizeof(s); i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s<", f[i]);
	if (n >= sizeof(s)) {
		err = ENAMETOOLONG;
		goto out;
	}
	xmpp_sha1_digest((const unsigned char *)s, n, d);
	err = base64_encode(d, sizeof(d), ver, &vl);
	if (!err)
		ver[vl] = '\0';
out:
	if (err) {
		log_error("caps: no verification string (%s)", strerror(err));
		ver[0] = '\0';
	}
	return ver;
}


void tr_xmpp_caps(struct translator *tr, xmpp_stanza_t *p)
{
	xmpp_stanza_t *c = xu_elem(tr->xctx, p, "c", NS_CAPS);

	xmpp_stanza_set_attribute(c, "hash", "sha-1");
	xmpp_stanza_set_attribute(c, "node", TR_CAPS_NODE);
	xmpp_stanza_set_attribute(c, "ver", tr_xmpp_caps_ver());
}


/* A disco#info result: one identity, the features, then extra (or NULL);
 * node echoed if not NULL. */
static void disco_result(struct translator *tr, xmpp_stanza_t *req,
			 const char *node, const char *category,
			 const char *type, const char *name, const char *extra)
{
	xmpp_stanza_t *r = xmpp_iq_new(tr->xctx, "result", xu_attr(req, "id"));
	xmpp_stanza_t *q, *id, *f;

	xmpp_stanza_set_to(r, xu_attr(req, "from"));
	xmpp_stanza_set_from(r, xu_attr(req, "to"));
	q = xu_elem(tr->xctx, r, "query", NS_DISCO_INFO);
	if (node)
		xmpp_stanza_set_attribute(q, "node", node);
	id = xu_elem(tr->xctx, q, "identity", NULL);
	xmpp_stanza_set_attribute(id, "category", category);
	xmpp_stanza_set_attribute(id, "type", type);
	xmpp_stanza_set_attribute(id, "name", name);
	for (size_t i = 0; i <= ARRAY_SIZE(user_features); i++) {
		const char *v = i < ARRAY_SIZE(user_features) ? user_features[i]
							      : extra;
		if (!v)
			break;
		f = xu_elem(tr->xctx, q, "feature", NULL);
		xmpp_stanza_set_attribute(f, "var", v);
	}
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), r);
	xmpp_stanza_release(r);
}


/* The component serves what its users' JIDs serve, and registration. */
void tr_xmpp_disco_info(struct translator *tr, xmpp_stanza_t *req)
{
	disco_result(tr, req, NULL, "gateway", "sip", "XMPP-SIP gateway",
		     NS_REGISTER);
}


void tr_xmpp_disco_user(struct translator *tr, xmpp_stanza_t *req,
			const char *node)
{
	const char *ver = tr_xmpp_caps_ver();

	if (node && (strncmp(node, TR_CAPS_NODE "#", sizeof(TR_CAPS_NODE)) ||
		     !*ver || strcmp(node + sizeof(TR_CAPS_NODE), ver))) {
		tr_xmpp_iq_answer(tr, req, "item-not-found", NULL);
		return;
	}
	disco_result(tr, req, node, user_category, user_type, user_name, NULL);
}


static xmpp_stanza_t *message_new(struct translator *tr, const char *type,
				  const char *from, const char *to,
				  const char *id)
{
	xmpp_stanza_t *m = xmpp_message_new(tr->xctx, type, to, id);

	xmpp_stanza_set_from(m, from);
	return m;
}


void tr_xmpp_chat(struct translator *tr, uint64_t msg, const char *from,
		  const char *to, const char *id, const char *body)
{
	xmpp_stanza_t *m = message_new(tr, "chat", from, to, id);

	xmpp_message_set_body(m, body);
	tr_xmpp_send(tr, OWNER(OWN_MSG, msg), m);
	xmpp_stanza_release(m);
}


void tr_xmpp_msg_error(struct translator *tr, uint64_t msg, const char *from,
		       const char *to, const char *id, const char *cond,
		       const char *text, const char *body)
{
	xmpp_stanza_t *m = message_new(tr, "error", from, to, id);

	if (body && *body)
		xmpp_message_set_body(m, body);
	xu_add_error(tr->xctx, m, cond, text);
	tr_xmpp_send(tr, OWNER(OWN_MSG, msg), m);
	xmpp_stanza_release(m);
}


void tr_xmpp_receipt(struct translator *tr, uint64_t msg, const char *from,
		     const char *to, const char *id)
{
	char rid[40];
	xmpp_stanza_t *m =
		message_new(tr, NULL, from, to,
			    xu_id(rid, sizeof(rid), XU_ID_RECEIPT, msg));
	xmpp_stanza_t *r = xu_elem(tr->xctx, m, "received", NS_RECEIPTS);

	xmpp_stanza_set_attribute(r, "id", id);
	tr_xmpp_send(tr, OWNER(OWN_MSG, msg), m);
	xmpp_stanza_release(m);
}


void tr_xmpp_subscribed(struct translator *tr, const char *from, const char *to)
{
	xmpp_stanza_t *r = xmpp_presence_new(tr->xctx);

	xmpp_stanza_set_type(r, "subscribed");
	xmpp_stanza_set_to(r, to);
	xmpp_stanza_set_from(r, from);
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), r);
	xmpp_stanza_release(r);
}


void tr_xmpp_presence(struct translator *tr, const char *from, const char *to,
		      const char *type, const char *status)
{
	xmpp_stanza_t *r = xmpp_presence_new(tr->xctx);

	if (type && *type)
		xmpp_stanza_set_type(r, type);
	xmpp_stanza_set_to(r, to);
	xmpp_stanza_set_from(r, from);
	if (status && *status)
		xu_text_elem(tr->xctx, r, "status", NULL, status);
	/* a SIP user's gateway JID (not the component) is a phone */
	if (!(type && *type) && from && strchr(from, '@'))
		tr_xmpp_caps(tr, r);
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), r);
	xmpp_stanza_release(r);
}


void tr_xmpp_notice(struct translator *tr, const char *from, const char *to,
		    const char *body)
{
	xmpp_stanza_t *m = message_new(tr, "chat", from, to, NULL);

	xmpp_message_set_body(m, body);
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), m);
	xmpp_stanza_release(m);
}


void tr_xmpp_iq_reply(struct translator *tr, const char *from, const char *to,
		      const char *id, const char *cond, const char *text)
{
	xmpp_stanza_t *req = xmpp_iq_new(tr->xctx, "set", id);

	xmpp_stanza_set_from(req, from);
	xmpp_stanza_set_to(req, to);
	tr_xmpp_iq_answer(tr, req, cond, text);
	xmpp_stanza_release(req);
}


/* <field var type label><value/>?</field> of a form */
static xmpp_stanza_t *form_field(xmpp_ctx_t *ctx, xmpp_stanza_t *x,
				 const char *var, const char *type,
				 const char *label, const char *value,
				 bool required)
{
	xmpp_stanza_t *f = xu_elem(ctx, x, "field", NULL);

	xmpp_stanza_set_attribute(f, "var", var);
	xmpp_stanza_set_attribute(f, "type", type);
	if (label)
		xmpp_stanza_set_attribute(f, "label", label);
	if (required)
		xu_elem(ctx, f, "required", NULL);
	if (value && *value)
		xu_text_elem(ctx, f, "value", NULL, value);
	return f;
}


void tr_xmpp_register_form(struct translator *tr, xmpp_stanza_t *req,
			   const struct regrec *r)
{
	xmpp_ctx_t *ctx = tr->xctx;
	xmpp_stanza_t *iq = xmpp_iq_new(ctx, "result", xu_attr(req, "id"));
	xmpp_stanza_t *q, *x, *f;
	char exp[16];

	xmpp_stanza_set_to(iq, xu_attr(req, "from"));
	xmpp_stanza_set_from(iq, xu_attr(req, "to"));
	q = xu_elem(ctx, iq, "query", NS_REGISTER);
	xu_text_elem(ctx, q, "instructions", NULL,
		     "Link your SIP account: its address (sip:user@host), "
		     "password, and optionally the registrar or outbound "
		     "proxy (host[:port][;transport=udp|tcp]).");
	if (r)
		xu_elem(ctx, q, "registered", NULL);
	if (r)
		xu_text_elem(ctx, q, "username", NULL, r->aor);
	else
		xu_elem(ctx, q, "username", NULL);
	xu_elem(ctx, q, "password", NULL); /* never its value */
	x = xu_elem(ctx, q, "x", NS_XDATA);
	xmpp_stanza_set_attribute(x, "type", "form");
	xu_text_elem(ctx, x, "title", NULL, "SIP account");
	xu_text_elem(ctx, x, "instructions", NULL,
		     "Your SIP address and its credentials; the gateway "
		     "registers it for all your devices.");
	form_field(ctx, x, "FORM_TYPE", "hidden", NULL, NS_REGISTER, false);
	form_field(ctx, x, "username", "text-single",
		   "SIP address (sip:user@host)", r ? r->aor : NULL, true);
	form_field(ctx, x, "password", "text-private", "Password", NULL, false);
	form_field(ctx, x, "ha1", "text-private",
		   "or HA1: MD5(user:realm:password)", NULL, false);
	form_field(ctx, x, "auth_user", "text-single",
		   "Authentication user (default: the address's user)",
		   r ? r->auth_user : NULL, false);
	form_field(
		ctx, x, "proxy", "text-single",
		"Registrar / outbound proxy: host[:port][;transport=udp|tcp]",
		r ? r->proxy : NULL, false);
	form_field(ctx, x, "display_name", "text-single", "Display name",
		   r ? r->display : NULL, false);
	snprintf(exp, sizeof(exp), "%u", r ? r->expires : 3600);
	form_field(ctx, x, "expires", "text-single",
		   "Registration interval (seconds)", exp, false);
	f = form_field(ctx, x, "srtp", "list-single",
		       "SRTP (SDES) for calls: as each call says, offered, "
		       "or required",
		       regrec_srtp_name[r ? r->srtp : RSRTP_SESSION], false);
	for (unsigned i = RSRTP_SESSION; i <= RSRTP_MANDATORY; i++)
		xu_text_elem(ctx, xu_elem(ctx, f, "option", NULL), "value",
			     NULL, regrec_srtp_name[i]);
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), iq);
	xmpp_stanza_release(iq);
}


xmpp_stanza_t *tr_xmpp_jingle(struct translator *tr, uint64_t id,
			      const struct callrec *r, const char *to,
			      const char *action, xmpp_stanza_t **jp)
{
	char iqid[64];
	xmpp_stanza_t *iq, *j;

	/* unique across restarts; replies find the call by its id */
	iq = xmpp_iq_new(tr->xctx, "set",
			 xu_id(iqid, sizeof(iqid), XU_ID_CALL, id));
	xmpp_stanza_set_to(iq, to);
	xmpp_stanza_set_from(iq, r->gwjid);
	j = xu_elem(tr->xctx, iq, "jingle", NS_JINGLE);
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


xmpp_stanza_t *tr_xmpp_session_info(struct translator *tr, uint64_t id,
				    const struct callrec *r, const char *what,
				    const char *dtmf)
{
	xmpp_stanza_t *j,
		*iq = tr_xmpp_jingle(tr, id, r, r->ufull, "session-info", &j);
	xmpp_stanza_t *e;

	if (dtmf) {
		/* XEP-0181 */
		e = xu_elem(tr->xctx, j, "dtmf", NS_DTMF);
		xmpp_stanza_set_attribute(e, "code", dtmf);
	} else {
		/* XEP-0167 §7: ringing, hold, active */
		xu_elem(tr->xctx, j, what, NS_RTP_INFO);
	}
	return iq;
}


xmpp_stanza_t *tr_xmpp_sip_info(struct translator *tr, uint64_t id,
				const struct callrec *r, const char *ctype,
				const char *body)
{
	xmpp_stanza_t *j,
		*iq = tr_xmpp_jingle(tr, id, r, r->ufull, "session-info", &j);
	xmpp_stanza_t *e = xu_elem(tr->xctx, j, "info", NS_SIP_INFO), *t;

	xmpp_stanza_set_attribute(e, "content-type", ctype);
	if (body && *body) {
		t = xmpp_stanza_new(tr->xctx);
		xmpp_stanza_set_text(t, body);
		xmpp_stanza_add_child(e, t);
		xmpp_stanza_release(t);
	}
	return iq;
}


void tr_xmpp_call_chat(struct translator *tr, uint64_t id,
		       const struct callrec *r, const char *body)
{
	char mid[64];
	xmpp_stanza_t *m =
		message_new(tr, "chat", r->gwjid,
			    r->ufull && *r->ufull ? r->ufull : r->owner,
			    xu_id(mid, sizeof(mid), XU_ID_CALL, id));

	xmpp_message_set_body(m, body);
	tr_xmpp_send(tr, OWNER(OWN_CALL, id), m);
	xmpp_stanza_release(m);
}


void tr_xmpp_jingle_to_all(struct translator *tr, uint64_t id,
			   const struct callrec *r, xmpp_stanza_t *iq)
{
	char *rung = NULL, *save = NULL, *to;

	if (r->ufull && *r->ufull) {
		xmpp_stanza_set_to(iq, r->ufull);
		tr_xmpp_send(tr, OWNER(OWN_CALL, id), iq);
		return;
	}
	if (str_dup(&rung, r->rung ? r->rung : ""))
		return;
	for (to = strtok_r(rung, "\n", &save); to;
	     to = strtok_r(NULL, "\n", &save)) {
		xmpp_stanza_set_to(iq, to);
		tr_xmpp_send(tr, OWNER(OWN_CALL, id), iq);
	}
	mem_deref(rung);
}


void tr_xmpp_terminate(struct translator *tr, uint64_t id,
		       const struct callrec *r, const char *reason,
		       unsigned scode, const char *phrase)
{
	xmpp_stanza_t *j, *iq = tr_xmpp_jingle(tr, id, r, r->owner,
					       "session-terminate", &j);
	xmpp_stanza_t *re = xu_elem(tr->xctx, j, "reason", NULL);

	xu_elem(tr->xctx, re, reason, NULL);
	if (scode) {
		char code[12];
		xmpp_stanza_t *se;

		snprintf(code, sizeof(code), "%u", scode);
		xu_text_elem(tr->xctx, re, "sip-error", NULL,
			     phrase ? phrase : "");
		se = xmpp_stanza_get_child_by_name(re, "sip-error");
		xmpp_stanza_set_attribute(se, "code", code);
		if (phrase && *phrase)
			xu_text_elem(tr->xctx, re, "text", NULL, phrase);
	}
	tr_xmpp_jingle_to_all(tr, id, r, iq);
	xmpp_stanza_release(iq);
}


void tr_xmpp_cancel_others(struct translator *tr, uint64_t id,
			   const struct callrec *r, const char *winner)
{
	char *rung = NULL, *save = NULL, *to;

	if (str_dup(&rung, r->rung ? r->rung : ""))
		return;
	for (to = strtok_r(rung, "\n", &save); to;
	     to = strtok_r(NULL, "\n", &save)) {
		xmpp_stanza_t *j, *iq;
		if (!strcmp(to, winner))
			continue;
		iq = tr_xmpp_jingle(tr, id, r, to, "session-terminate", &j);
		xu_elem(tr->xctx, xu_elem(tr->xctx, j, "reason", NULL),
			"cancel", NULL);
		tr_xmpp_send(tr, OWNER(OWN_CALL, id), iq);
		xmpp_stanza_release(iq);
	}
	mem_deref(rung);
}


int tr_xmpp_initiate_to(struct translator *tr, uint64_t id,
			const struct callrec *r, const char *from,
			const char *to)
{
	xmpp_stanza_t *j =
		xparse_stanza(tr->xctx, r->init_xml ? r->init_xml : "",
			      r->init_xml ? strlen(r->init_xml) : 0);
	xmpp_stanza_t *iq;
	char iqid[64];

	if (!j)
		return EBADMSG;
	iq = xmpp_iq_new(tr->xctx, "set",
			 xu_id(iqid, sizeof(iqid), XU_ID_CALL, id));
	xmpp_stanza_set_to(iq, to);
	xmpp_stanza_set_from(iq, from);
	xmpp_stanza_add_child(iq, j);
	xmpp_stanza_release(j);
	tr_xmpp_send(tr, OWNER(OWN_CALL, id), iq);
	xmpp_stanza_release(iq);
	return 0;
}


/* XEP-0353 4: one <description media/> in the propose e per content of
 * the session-initiate the devices get on proceed (init_xml); audio if
 * it has none (not built: the proceed will fail anyway). */
static void propose_media(struct translator *tr, const struct callrec *r,
			  xmpp_stanza_t *e)
{
	xmpp_stanza_t *j = r->init_xml ? xparse_stanza(tr->xctx, r->init_xml,
						       strlen(r->init_xml))
				       : NULL;
	xmpp_stanza_t *c, *d;
	unsigned n = 0;

	for (c = j ? xmpp_stanza_get_children(j) : NULL; c;
	     c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c);

		if (!name || strcmp(name, "content"))
			continue;
		d = xmpp_stanza_get_child_by_name_and_ns(c, "description",
							 NS_RTP);
		if (!d || !*xu_attr(d, "media"))
			continue;
		xmpp_stanza_set_attribute(
			xu_elem(tr->xctx, e, "description", NS_RTP), "media",
			xu_attr(d, "media"));
		n++;
	}
	if (!n)
		xmpp_stanza_set_attribute(
			xu_elem(tr->xctx, e, "description", NS_RTP), "media",
			"audio");
	if (j)
		xmpp_stanza_release(j);
}


void tr_xmpp_jmi(struct translator *tr, uint64_t id, const struct callrec *r,
		 const char *to, const char *what)
{
	xmpp_stanza_t *m, *e;
	char mid[96];

	snprintf(mid, sizeof(mid), "xsgw-jmi-%s-%s", what, r->sid);
	m = message_new(tr, "chat", r->gwjid, to, mid);
	e = xu_elem(tr->xctx, m, what, NS_JMI);
	xmpp_stanza_set_attribute(e, "id", r->sid);
	if (!strcmp(what, "propose"))
		propose_media(tr, r, e);
	xu_elem(tr->xctx, m, "store", NS_HINTS);
	tr_xmpp_send(tr, OWNER(OWN_CALL, id), m);
	xmpp_stanza_release(m);
}


void tr_xmpp_jmi_proceed(struct translator *tr, const char *from,
			 const char *to, const char *sid)
{
	xmpp_stanza_t *m, *e;
	char mid[96];

	snprintf(mid, sizeof(mid), "xsgw-jmi-proceed-%s", sid);
	m = message_new(tr, "chat", from, to, mid);
	e = xu_elem(tr->xctx, m, "proceed", NS_JMI);
	xmpp_stanza_set_attribute(e, "id", sid);
	xu_elem(tr->xctx, m, "store", NS_HINTS);
	tr_xmpp_send(tr, OWNER(OWN_NONE, 0), m);
	xmpp_stanza_release(m);
}
