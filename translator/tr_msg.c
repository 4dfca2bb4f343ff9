/**
 * @file tr_msg.c  Messaging: XMPP chat <-> SIP MESSAGE (page mode).
 *
 * Every message is a record (msgrec.h) from the moment it is accepted until
 * its retention has passed; the work a front owes for it (the MESSAGE to
 * send, the stanza to write) is an outbox entry it owns. msg_apply() loads
 * the record once, applies an event by (state, event), saves once:
 *
 *   state    event                       action / next
 *   -------  --------------------------  ---------------------------------
 *   (new)    accepted                    outbox entry          -> PENDING
 *   PENDING  ME_DELIVERED (2xx, written) receipt if asked      -> DONE
 *   PENDING  ME_CHALLENGED (401/407 to   the MESSAGE again with the
 *            a chat through a linked     account's credentials
 *            account, the first)         (next CSeq)                 -
 *   PENDING  ME_FAILED (SIP >= 300,      an error back to the
 *            timeout, no route)          sender                -> DONE
 *   any      ME_BOUNCED (XMPP error for  a SIP MESSAGE telling
 *            a chat we delivered, from   the SIP sender        -> DONE
 *            its recipient, the first)
 *   PENDING  ME_EXPIRED (PENDING_MS)     as ME_FAILED / ME_BOUNCED:
 *                                        the sender is told  -> DONE
 *   DONE     ME_EXPIRED (retention)      forget it (and its dedup key)
 *   (other)  (any)                       nothing: a late duplicate
 *
 * DONE records stay store.message_retain_s (300 s unless the operator
 * sets it; at least 32 s, SIP's Timer F) so that a retransmitted SIP
 * MESSAGE is answered again without being delivered twice.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "addr.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "msgrec.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"

enum {
	PENDING_MS = 10 * 60 * 1000, /* undelivered by then: back to sender */
	MF_RECEIPT = 1,              /* XEP-0184 receipt requested */
	MF_AUTHED = 2,               /* sent again with credentials */
	MF_DIALOG = 4,               /* X2S: in the dialog of call ref */
};

enum msg_event {
	ME_DELIVERED,
	ME_FAILED,
	ME_BOUNCED,
	ME_EXPIRED,
	ME_CHALLENGED
};

/* The largest body carried either way: with the addresses and the rest of
 * the stanza or request it still fits one frame (FRAME_MAX), and so does
 * an error that returns it. */
enum { BODY_MAX = FRAME_MAX / 2 - 4096 };


/* The length of text once XML-escaped, at most (libstrophe escapes & < >
 * " and '). */
static size_t xml_text_len(const char *s, size_t n)
{
	size_t l = 0;

	for (size_t i = 0; i < n; i++)
		l += s[i] == '&'                   ? 5
		     : s[i] == '<' || s[i] == '>'  ? 4
		     : s[i] == '"' || s[i] == '\'' ? 6
						   : 1;
	return l;
}


static int msg_load(struct translator *tr, uint64_t id, struct msgrec *r)
{
	const void *v;
	size_t vl;
	int err = tr_rec_get(tr, DB_MSG, id, &v, &vl);

	if (err)
		return err;
	err = msgrec_decode(r, v, vl, NULL);
	if (err)
		log_error("msg %llu: undecodable record",
			  (unsigned long long)id);
	return err;
}


static void msg_save(struct translator *tr, uint64_t id, struct msgrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_MSG, id, &fb, msgrec_encode(&fb, r));
}


static char *dup_or_null(const char *s)
{
	char *d = NULL;

	if (s)
		str_dup(&d, s);
	return d;
}


/* The linked account a chat to SIP goes through (its sender's), or
 * NULL. @return 0 and a (r filled), or ENOENT */
static int msg_account(struct translator *tr, const struct msgrec *r,
		       struct regrec *a)
{
	char bare[512];

	if (r->kind != MK_CHAT_X2S || !r->xfrom)
		return ENOENT;
	xu_bare(r->xfrom, bare, sizeof(bare));
	return tr_account_of_jid(tr, bare, a, NULL);
}


/* The next hop of a chat through an account (a libre string), or NULL. */
static char *account_hop(struct translator *tr, const struct msgrec *r)
{
	struct regrec a;
	char *hop;

	if (msg_account(tr, r, &a))
		return NULL;
	hop = tr_account_next_hop(&a);
	regrec_reset(&a);
	return hop;
}


/* RFC 3261 22.2: the MESSAGE again, with the sender's account's
 * credentials for its 401/407: same Call-ID and From tag, next CSeq. */
static int challenged(struct translator *tr, uint64_t id, struct msgrec *r,
		      const struct sip_msg *resp)
{
	struct tr_sip_page pg = {0};
	struct mbuf *mb = NULL;
	char *ftag = NULL, *branch = NULL, *auth = NULL, *hop = NULL;
	struct regrec a;
	bool stale = false;
	int err;

	/* in a call's dialog the CSeq is the call's: not sent again */
	if (r->flags & (MF_AUTHED | MF_DIALOG) || msg_account(tr, r, &a))
		return EAUTH;
	mb = mbuf_alloc(512);
	err = mb ? tr_account_credentials(&a, mb, resp, "MESSAGE", r->ruri,
					  &stale)
		 : ENOMEM;
	if (!err)
		err = re_sdprintf(&auth, "%b", mb->buf, mb->end) |
		      pl_strdup(&ftag, &resp->from.tag);
	branch = tr_sip_token("z9hG4bK");
	hop = tr_account_next_hop(&a);
	if (!err && branch) {
		pg.ruri = r->ruri;
		pg.from = r->sfrom;
		pg.to = r->sto;
		pg.callid = r->callid;
		pg.ftag = ftag;
		pg.branch = branch;
		pg.cseq = resp->cseq.num + 1;
		pg.ctype = r->ctype;
		pg.body = r->body;
		pg.dst = hop;
		pg.auth = auth;
		if (!tr_sip_message(tr, id, &pg))
			err = ENOMEM;
		r->flags |= MF_AUTHED;
		log_info("msg %llu: MESSAGE again with credentials",
			 (unsigned long long)id);
	}
	regrec_reset(&a);
	mem_deref(mb);
	mem_deref(ftag);
	mem_deref(branch);
	mem_deref(auth);
	mem_deref(hop);
	return err ? err : (branch ? 0 : ENOMEM);
}


/* The outbox entry that delivers a new message. A SIP MESSAGE gets fresh
 * identifiers here, stored in the entry: a re-send after any restart is a
 * retransmission of the same request. */
static int msg_emit(struct translator *tr, uint64_t id, const struct msgrec *r)
{
	struct tr_sip_page pg = {0};
	char *ftag, *branch, *hop;
	int err = 0;

	switch (r->kind) {
	case MK_CHAT_X2S:
	case MK_SNOTICE:
		if (r->flags & MF_DIALOG) {
			struct call_ev e = {.chat = id, .text = r->body};
			err = tr_call_apply(tr, r->ref, CE_X_CHAT, &e);
			break;
		}
		hop = account_hop(tr, r);
		pg.dst = hop;
		ftag = tr_sip_token("");
		branch = tr_sip_token("z9hG4bK");
		pg.ruri = r->ruri;
		pg.from = r->sfrom;
		pg.to = r->sto;
		pg.callid = r->callid;
		pg.ftag = ftag;
		pg.branch = branch;
		pg.cseq = 1;
		pg.ctype = r->ctype;
		pg.body = r->body;
		if (!ftag || !branch || !tr_sip_message(tr, id, &pg))
			err = ENOMEM;
		mem_deref(ftag);
		mem_deref(branch);
		mem_deref(hop);
		break;
	case MK_CHAT_S2X:
		tr_xmpp_chat(tr, id, r->xfrom, r->xto, r->xid, r->body);
		break;
	case MK_XERR:
		tr_xmpp_msg_error(tr, id, r->xfrom, r->xto, r->xid, r->econd,
				  r->etext, r->body);
		break;
	case MK_RECEIPT:
		tr_xmpp_receipt(tr, id, r->xfrom, r->xto, r->xid);
		break;
	default:
		err = EINVAL;
		break;
	}
	return err;
}


/* Store a new pending message (id: allocated already, or 0) and stage its
 * delivery; it fails back to its sender if still pending at PENDING_MS. */
static uint64_t msg_create_id(struct translator *tr, struct msgrec *r,
			      uint64_t id)
{
	if (!id)
		id = store_next_id(tr_txn(tr));
	r->state = MS_PENDING;
	r->created = wall_ms();
	if ((r->kind == MK_CHAT_X2S || r->kind == MK_SNOTICE) && !r->callid)
		re_sdprintf(&r->callid, "%016llx@xsgw",
			    (unsigned long long)random_u64());
	msg_save(tr, id, r);
	tr_deadline(tr, r->created + PENDING_MS, OWN_MSG, id);
	if (msg_emit(tr, id, r))
		log_error("msg %llu: cannot stage its delivery",
			  (unsigned long long)id);
	store_count(tr_txn(tr), "messages.accepted", 1);
	log_debug("msg %llu: new %s", (unsigned long long)id,
		  msgrec_kind_name[r->kind]);
	return id;
}


static uint64_t msg_create(struct translator *tr, struct msgrec *r)
{
	return msg_create_id(tr, r, 0);
}


/* An XMPP error stanza back to a sender. */
static void reply_xmpp_error(struct translator *tr, const char *gw_jid,
			     const char *to, const char *id, const char *cond,
			     const char *text, const char *body)
{
	struct msgrec e = {0};

	e.kind = MK_XERR;
	e.xfrom = dup_or_null(gw_jid);
	e.xto = dup_or_null(to);
	e.xid = dup_or_null(id);
	e.econd = dup_or_null(cond);
	e.etext = dup_or_null(text);
	e.body = dup_or_null(body);
	msg_create(tr, &e);
	store_count(tr_txn(tr), "messages.errors", 1);
	msgrec_reset(&e);
}


/* What an event carries. */
struct msg_ev {
	unsigned scode;
	const char *reason;
	const char *cond, *text;    /* ME_BOUNCED */
	const char *from;           /* ME_BOUNCED: who sent the error */
	const char *id;             /* ME_BOUNCED: the stanza id it names */
	const struct sip_msg *resp; /* ME_CHALLENGED: the 401/407 */
};


static void done(struct translator *tr, uint64_t id, struct msgrec *r)
{
	tr_deadline_del(tr, r->created + PENDING_MS, OWN_MSG, id);
	r->state = MS_DONE;
	tr_deadline(tr,
		    wall_ms() + 1000ULL * tr->proc.cfg->store.message_retain_s,
		    OWN_MSG, id);
}


static void delivered(struct translator *tr, uint64_t id, struct msgrec *r,
		      const struct msg_ev *e)
{
	struct msgrec n = {0};

	r->scode = e->scode;
	mem_deref(r->reason);
	r->reason = dup_or_null(e->reason);
	done(tr, id, r);
	if (r->kind == MK_CHAT_X2S || r->kind == MK_SNOTICE)
		store_count(tr_txn(tr), "messages.delivered_sip", 1);
	else
		store_count(tr_txn(tr), "messages.delivered_xmpp", 1);
	if (r->kind == MK_CHAT_X2S && (r->flags & MF_RECEIPT) && *r->xid) {
		n.kind = MK_RECEIPT;
		n.ref = id;
		n.xfrom = dup_or_null(r->xto);
		n.xto = dup_or_null(r->xfrom);
		n.xid = dup_or_null(r->xid);
		msg_create(tr, &n);
		msgrec_reset(&n);
	}
}


static void bounced(struct translator *tr, uint64_t id, struct msgrec *r,
		    const struct msg_ev *e);


static void failed(struct translator *tr, uint64_t id, struct msgrec *r,
		   const struct msg_ev *e)
{
	char text[512];

	if (r->kind == MK_CHAT_S2X) {
		/* the xmpp-front could not write it: its SIP sender hears */
		bounced(tr, id, r, e);
		return;
	}
	r->scode = e->scode;
	mem_deref(r->reason);
	r->reason = dup_or_null(e->reason);
	done(tr, id, r);
	store_count(tr_txn(tr), "messages.failed", 1);
	log_info("msg %llu: SIP %u %s for %s", (unsigned long long)id, e->scode,
		 e->reason, r->sto);
	if (r->kind == MK_CHAT_X2S) {
		snprintf(text, sizeof(text), "SIP %u %s", e->scode, e->reason);
		reply_xmpp_error(tr, r->xto, r->xfrom, r->xid,
				 addr_sip_to_xmpp_error(e->scode), text,
				 r->body);
	}
}


/* XMPP bounced a chat we delivered: tell its SIP sender. */
static void bounced(struct translator *tr, uint64_t id, struct msgrec *r,
		    const struct msg_ev *e)
{
	struct msgrec n = {0};
	char body[1024];

	mem_deref(r->econd);
	r->econd = dup_or_null(e->cond);
	if (r->state == MS_PENDING)
		done(tr, id, r);
	store_count(tr_txn(tr), "messages.failed", 1);
	snprintf(body, sizeof(body), "Message not delivered to %s: %s%s%s",
		 r->xto, e->cond, *e->text ? " - " : "", e->text);
	n.kind = MK_SNOTICE;
	n.ref = id;
	n.ruri = dup_or_null(r->sfrom);
	n.sfrom = dup_or_null(r->sto);
	n.sto = dup_or_null(r->sfrom);
	n.ctype = dup_or_null(CTYPE_TEXT);
	n.body = dup_or_null(body);
	msg_create(tr, &n);
	msgrec_reset(&n);
}


/* Pending for PENDING_MS (a front or its server away that long): the
 * sender learns it failed, and its outbox entry is not replayed any more
 * (tr_msg_wants). */
static void expired_pending(struct translator *tr, uint64_t id,
			    struct msgrec *r)
{
	static const struct msg_ev timeout = {
		.scode = 408,
		.reason = "Not Delivered In Time",
		.cond = "remote-server-timeout",
		.text = "not delivered within 10 minutes"};

	log_info("msg %llu: %s pending too long", (unsigned long long)id,
		 msgrec_kind_name[r->kind]);
	if (r->kind == MK_CHAT_X2S)
		failed(tr, id, r, &timeout);
	else if (r->kind == MK_CHAT_S2X)
		bounced(tr, id, r, &timeout);
	else
		done(tr, id,
		     r); /* a notice, receipt or error: no one to tell */
}


/* A bounce counts once, and only from the account the chat was written to
 * (the server answers for it): anyone else's is a forgery. */
static bool bounce_genuine(const struct msgrec *r, const struct msg_ev *e)
{
	char a[1024], b[1024];

	const char *why = NULL;

	xu_bare(e->from ? e->from : "", a, sizeof(a));
	xu_bare(r->xto ? r->xto : "", b, sizeof(b));
	if (strcasecmp(a, b))
		why = "not the recipient";
	else if (!r->xid || !e->id || strcmp(r->xid, e->id))
		why = "not the id sent"; /* guessed */
	else if (r->econd && *r->econd)
		why = "counted already";
	if (why)
		LOG_LIMITED(LOG_INFO, "ignored a bounce from %s (%s)",
			    *a ? a : "nobody", why);
	return !why;
}


static void msg_apply(struct translator *tr, uint64_t id, enum msg_event ev,
		      const struct msg_ev *e)
{
	struct msgrec r = {0};
	const void *v;
	size_t vl;

	if (msg_load(tr, id, &r))
		return; /* swept already */
	switch (ev) {
	case ME_DELIVERED:
		if (r.state != MS_PENDING)
			goto out; /* a late duplicate */
		delivered(tr, id, &r, e);
		break;
	case ME_CHALLENGED:
		if (r.state != MS_PENDING)
			goto out;
		if (challenged(tr, id, &r, e->resp))
			failed(tr, id, &r, e);
		break;
	case ME_FAILED:
		if (r.state != MS_PENDING)
			goto out;
		failed(tr, id, &r, e);
		break;
	case ME_BOUNCED:
		if (!bounce_genuine(&r, e))
			goto out;
		if (r.kind != MK_CHAT_S2X) {
			/* never answer an error with an error */
			log_info("msg %llu: %s bounced (%s)",
				 (unsigned long long)id,
				 msgrec_kind_name[r.kind], e->cond);
			goto out;
		}
		bounced(tr, id, &r, e);
		break;
	case ME_EXPIRED:
		if (r.state == MS_PENDING) {
			expired_pending(tr, id, &r);
			break;
		}
		if (r.state != MS_DONE)
			goto out;
		if (r.dkey && *r.dkey &&
		    !store_get(tr_txn(tr), DB_MSGKEY, r.dkey, strlen(r.dkey),
			       &v, &vl))
			store_del(tr_txn(tr), DB_MSGKEY, r.dkey,
				  strlen(r.dkey));
		tr_rec_del(tr, DB_MSG, id);
		goto out;
	}
	msg_save(tr, id, &r);
out:
	msgrec_reset(&r);
}


void tr_msg_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc)
{
	/* a front's local failure (OUT_DONE >= 300: a stanza it would not
	 * write, a request it could not send) is a failure like a SIP one */
	struct msg_ev e = {.scode = oc->scode,
			   .reason = oc->reason,
			   .cond = "internal-server-error",
			   .text = oc->reason,
			   .resp = oc->msg};

	if (oc->response && oc->scode < 200)
		return; /* page mode reports finals only */
	msg_apply(tr, id,
		  oc->scode >= 200 && oc->scode < 300 ? ME_DELIVERED
		  : oc->msg && (oc->scode == 401 || oc->scode == 407)
			  ? ME_CHALLENGED
			  : ME_FAILED,
		  &e);
}


void tr_msg_expired(struct translator *tr, uint64_t id)
{
	msg_apply(tr, id, ME_EXPIRED, NULL);
}


bool tr_msg_wants(struct translator *tr, uint64_t id)
{
	struct msgrec r = {0};
	bool pending = !msg_load(tr, id, &r) && r.state == MS_PENDING;

	msgrec_reset(&r);
	return pending;
}


/* ---- a <message/> from XMPP --------------------------------------- */

/* The xml:lang of an element, or NULL: xparse.c keeps an attribute by its
 * local name, "lang". */
static const char *lang_of(xmpp_stanza_t *e)
{
	const char *l = xmpp_stanza_get_attribute(e, "xml:lang");

	return l ? l : xmpp_stanza_get_attribute(e, "lang");
}


/* RFC 6121 5.2.3: the text of the <body/> in the stanza's default
 * language (one without xml:lang, or with the stanza's), else of the
 * first; NULL if none. */
static char *body_text(struct translator *tr, xmpp_stanza_t *st)
{
	const char *lang = lang_of(st);
	xmpp_stanza_t *b = NULL;
	char *t, *d = NULL;

	for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *l;
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "body"))
			continue;
		if (!b)
			b = c;
		l = lang_of(c);
		if (!l || (lang && !strcasecmp(l, lang))) {
			b = c;
			break;
		}
	}
	t = b ? xmpp_stanza_get_text(b) : NULL;
	if (t) {
		str_dup(&d, t);
		xmpp_free(tr->xctx, t);
	}
	return d;
}


/* An end-to-end encrypted message (OMEMO, OpenPGP for XMPP, legacy
 * OpenPGP, or one that says so by XEP-0380): its <body/> is only a
 * fallback, SIP cannot carry what it holds. */
static bool e2e_encrypted(xmpp_stanza_t *st)
{
	static const struct {
		const char *name, *ns;
	} e2e[] = {
		{"encrypted", "eu.siacs.conversations.axolotl"},
		{"encrypted", "urn:xmpp:omemo:2"},
		{"openpgp", "urn:xmpp:openpgp:0"},
		{"x", "jabber:x:encrypted"},
		{"encryption", "urn:xmpp:eme:0"},
	};

	for (size_t i = 0; i < sizeof(e2e) / sizeof(e2e[0]); i++)
		if (xmpp_stanza_get_child_by_name_and_ns(st, e2e[i].name,
							 e2e[i].ns))
			return true;
	return false;
}


/* <message type=error> for something we sent: its <error/> condition. */
static void error_of(struct translator *tr, xmpp_stanza_t *st,
		     const char **cond, char **text)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error"), *c;

	*cond = "undefined-condition";
	for (c = e ? xmpp_stanza_get_children(e) : NULL; c;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		const char *ns = xmpp_stanza_get_ns(c);
		if (!xmpp_stanza_is_tag(c) || !n || !ns ||
		    strcmp(ns, NS_STANZAS))
			continue;
		if (!strcmp(n, "text")) {
			char *t = xmpp_stanza_get_text(c);
			if (t && !*text)
				str_dup(text, t);
			if (t)
				xmpp_free(tr->xctx, t);
		} else if (!strcmp(*cond, "undefined-condition"))
			*cond = n;
	}
}


static void from_xmpp_error(struct translator *tr, xmpp_stanza_t *st)
{
	const char *id = xu_attr(st, "id"), *cond;
	struct msg_ev e = {0};
	char *text = NULL;
	uint64_t mid;

	error_of(tr, st, &cond, &text);
	if (xu_id_parse(id, &mid) != XU_ID_MSG) {
		LOG_LIMITED(LOG_INFO, "xmpp error %s for unknown message '%s'",
			    cond, id);
		goto out;
	}
	e.cond = cond;
	e.text = text ? text : "";
	e.from = xu_attr(st, "from");
	e.id = id;
	msg_apply(tr, mid, ME_BOUNCED, &e);
out:
	mem_deref(text);
}


void tr_msg_from_xmpp(struct translator *tr, xmpp_stanza_t *st)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	const char *from = xu_attr(st, "from"), *to = xu_attr(st, "to");
	const char *id = xu_attr(st, "id"), *type = xu_attr(st, "type");
	char bare[1024], node[1024], uri[1200], furi[1200];
	struct regrec acc;
	struct msgrec r = {0};
	char *body = NULL;
	const char *at;
	int err;

	if (!*type)
		type = "normal";
	store_count(tr_txn(tr), "messages.xmpp_in", 1);
	if (!strcmp(type, "error")) {
		from_xmpp_error(tr, st);
		return;
	}
	if (!strcmp(type, "headline"))
		return; /* never answered, never bounced */
	body = body_text(tr, st);
	if (!body || !*body)
		goto out; /* chat states and the like: nothing to carry */
	if (strcmp(type, "chat") && strcmp(type, "normal")) {
		reply_xmpp_error(tr, to, from, id, "feature-not-implemented",
				 "only chat messages are carried to SIP", body);
		goto out;
	}
	if (e2e_encrypted(st)) {
		reply_xmpp_error(tr, to, from, id, "not-acceptable",
				 "end-to-end encrypted messages cannot reach "
				 "SIP users",
				 NULL);
		goto out;
	}
	if (xml_text_len(body, strlen(body)) > BODY_MAX) {
		/* a MESSAGE must fit a frame to the sip-front (F6) */
		reply_xmpp_error(tr, to, from, id, "policy-violation",
				 "message too large for SIP", NULL);
		goto out;
	}
	xu_bare(from, bare, sizeof(bare));
	if (addr_user_to_sip(cfg, bare, furi, sizeof(furi))) {
		reply_xmpp_error(tr, to, from, id, "forbidden",
				 "sender's domain is not served by this "
				 "gateway",
				 body);
		goto out;
	}
	at = strchr(to, '@');
	if (!at || at == to || (size_t)(at - to) >= sizeof(node)) {
		reply_xmpp_error(tr, to, from, id, "item-not-found",
				 "address a SIP user as user@gateway", body);
		goto out;
	}
	memcpy(node, to, (size_t)(at - to));
	node[at - to] = 0;
	/* SPEC 6.2: between the parties of a call, in its dialog (which
	 * says where it goes) */
	xu_bare(to, uri, sizeof(uri));
	r.ref = tr_callrec_active_with(tr, bare, uri);
	if (r.ref)
		r.flags |= MF_DIALOG;
	if (!tr_account_of_jid(tr, bare, &acc, NULL)) {
		/* SPEC 6.2: From the account's AOR, a user without a domain
		 * in the account's; through its own proxy any host */
		char t[600];
		err = *acc.proxy
			      ? addr_gwnode_to_sip_proxied(cfg, node, uri,
							   sizeof(uri))
			      : addr_gwnode_to_sip(cfg, node, uri, sizeof(uri));
		if (!err && !strstr(node, "\\40") &&
		    !tr_account_target(&acc, uri, t, sizeof(t)))
			snprintf(uri, sizeof(uri), "%s", t);
		snprintf(furi, sizeof(furi), "%s", acc.aor);
		regrec_reset(&acc);
	} else {
		err = addr_gwnode_to_sip(cfg, node, uri, sizeof(uri));
	}
	if (err && r.ref) {
		/* the dialog's remote target: the To is for the record */
		snprintf(uri, sizeof(uri), "sip:%s", node);
		err = 0;
	}
	if (err == EPERM) {
		reply_xmpp_error(tr, to, from, id, "forbidden",
				 "the gateway does not send to that host",
				 body);
		goto out;
	} else if (err) {
		reply_xmpp_error(tr, to, from, id, "jid-malformed",
				 "not a valid SIP address", body);
		goto out;
	}
	r.kind = MK_CHAT_X2S;
	if (xmpp_stanza_get_child_by_name_and_ns(st, "request", NS_RECEIPTS))
		r.flags |= MF_RECEIPT;
	r.xfrom = dup_or_null(from);
	r.xto = dup_or_null(to);
	r.xid = dup_or_null(id);
	r.ruri = dup_or_null(uri);
	r.sto = dup_or_null(uri);
	r.sfrom = dup_or_null(furi);
	r.ctype = dup_or_null(CTYPE_TEXT);
	r.body = body;
	body = NULL;
	msg_create(tr, &r);
out:
	msgrec_reset(&r);
	mem_deref(body);
}


/* ---- a SIP MESSAGE ------------------------------------------------- */

/* user and host of a SIP URI, as NUL-terminated strings */
/* text/plain with no charset or UTF-8 (US-ASCII is a subset) */
static bool ctype_ok(const struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE);
	struct pl cs;

	if (!h || pl_strcasecmp(&msg->ctyp.type, "text") ||
	    pl_strcasecmp(&msg->ctyp.subtype, "plain"))
		return false;
	if (msg_param_decode(&msg->ctyp.params, "charset", &cs))
		return true;
	if (cs.l && cs.p[0] == '"')
		cs.p++, cs.l -= cs.l > 1 ? 2 : 1;
	return !pl_strcasecmp(&cs, "utf-8") || !pl_strcasecmp(&cs, "us-ascii");
}


static void msg_reply(struct translator *tr, const struct sip_msg *msg,
		      uint64_t tx, const char *src, const struct pl *raw,
		      unsigned scode, const char *reason)
{
	struct tr_sip_reply rp = {.tx = tx,
				  .src = src,
				  .raw = *raw,
				  .scode = scode,
				  .reason = reason};

	(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


void tr_msg_from_sip(struct translator *tr, const struct sip_msg *msg,
		     uint64_t tx, const char *src, const struct pl *raw)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	char user[512], host[256], jid[1200], gwjid[1600], xid[40];
	uint8_t key[KEY_MAX], k[8];
	const uint8_t *body = mbuf_buf(msg->mb);
	size_t blen = mbuf_get_left(msg->mb), kl;
	struct msgrec r = {0};
	const void *v;
	size_t vl;
	uint64_t id, reg;
	int err;

	store_count(tr_txn(tr), "messages.sip_in", 1);
	kl = key_msgdedup(key, sizeof(key), &msg->callid, msg->cseq.num,
			  &msg->from.tag);
	if (!kl) {
		msg_reply(tr, msg, tx, src, raw, 400, "Call-ID Too Long");
		return;
	}
	/* a retransmission of a MESSAGE already accepted: same answer */
	if (!store_get(tr_txn(tr), DB_MSGKEY, key, kl, &v, &vl) && vl == 8) {
		msg_reply(tr, msg, tx, src, raw, 202, "Accepted");
		return;
	}
	if (!blen) {
		msg_reply(tr, msg, tx, src, raw, 400, "Empty Message");
		return;
	}
	if (!ctype_ok(msg)) {
		msg_reply(tr, msg, tx, src, raw, 415, "Unsupported Media Type");
		return;
	}
	if (!utf8_xml_valid((const char *)body, blen)) {
		msg_reply(tr, msg, tx, src, raw, 400,
			  "Body Is Not Valid UTF-8 Text");
		return;
	}
	/* refused before it is accepted, not lost after a 202 (F6) */
	if (xml_text_len((const char *)body, blen) > BODY_MAX) {
		msg_reply(tr, msg, tx, src, raw, 413,
			  "Request Entity Too Large");
		return;
	}
	err = tr_sipaddr_recipient(tr, msg, jid, sizeof(jid), &reg);
	if (err) {
		const char *why;
		unsigned scode = tr_sipaddr_refusal(err, &why);
		msg_reply(tr, msg, tx, src, raw, scode, why);
		return;
	}
	if (tr_sipaddr_parts(&msg->from.uri, user, sizeof(user), host,
			     sizeof(host)) ||
	    addr_sip_to_gwjid(cfg, user, host, gwjid, sizeof(gwjid))) {
		msg_reply(tr, msg, tx, src, raw, 400, "Bad From URI");
		return;
	}
	id = store_next_id(tr_txn(tr));
	r.kind = MK_CHAT_S2X;
	r.xfrom = dup_or_null(gwjid);
	r.xto = dup_or_null(jid);
	re_sdprintf(&r.sfrom, "%r", &msg->from.auri);
	re_sdprintf(&r.sto, "%r", &msg->to.auri);
	pl_strdup(&r.callid, &msg->callid);
	re_sdprintf(&r.ctype, "%r/%r", &msg->ctyp.type, &msg->ctyp.subtype);
	re_sdprintf(&r.body, "%b", body, blen);
	re_sdprintf(&r.dkey, "%b", key, kl);
	r.xid = dup_or_null(xu_id(xid, sizeof(xid), XU_ID_MSG, id));
	r.scode = 202;
	if (!r.body || !r.dkey || !r.sfrom || !r.sto) {
		msg_reply(tr, msg, tx, src, raw, 500, "Server Internal Error");
		goto out;
	}
	msg_create_id(tr, &r, id);
	key_id(k, id);
	store_put(tr_txn(tr), DB_MSGKEY, key, kl, k, 8);
	msg_reply(tr, msg, tx, src, raw, 202, "Accepted");
	log_debug("msg %llu: SIP MESSAGE from %s accepted for %s (src %s)",
		  (unsigned long long)id, r.sfrom, jid, src);
out:
	msgrec_reset(&r);
}
