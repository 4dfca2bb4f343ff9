/**
 * @file tr_msg.c  Messaging: XMPP chat <-> SIP MESSAGE (page mode).
 *
 * Every message is a record in the msg database from the moment it is
 * accepted until its retention has passed:
 *   PENDING  the front that must emit it is (re)sent the frame until it
 *            reports the outcome (SIP final response / stanza written);
 *   DONE     kept so that a retransmitted SIP MESSAGE is answered again
 *            without being delivered twice; swept after RETAIN_MS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "msgrec.h"
#include "translator.h"

enum {
	RETAIN_MS = 5 * 60 * 1000, /* > SIP Timer F, covers retransmissions */
	MF_RECEIPT = 1,            /* XEP-0184 receipt requested */
};

static int rec_load(struct translator *tr, uint64_t id, struct msgrec *r)
{
	const void *v;
	size_t vl;
	int err = tr_rec_get(tr, DB_MSG, id, &v, &vl);

	if (err)
		return err;
	err = msgrec_decode(r, v, vl);
	if (err)
		log_error("msg %llu: undecodable record",
			  (unsigned long long)id);
	return err;
}


static void rec_save(struct translator *tr, uint64_t id, struct msgrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_MSG, id, &fb, msgrec_encode(&fb, r));
}


/* Stage the frame that makes the right front emit a pending message. */
static void rec_emit(struct translator *tr, uint64_t id, struct msgrec *r)
{
	struct fbuf fb = {0};

	if (r->kind == MK_CHAT_X2S || r->kind == MK_SNOTICE) {
		frame_begin(&fb, MSG_SIP_OUT_MESSAGE, id);
		frame_put_cstr(&fb, r->ruri);
		frame_put_cstr(&fb, r->sfrom);
		frame_put_cstr(&fb, r->sto);
		frame_put_cstr(&fb, r->callid);
		frame_put_cstr(&fb, r->ftag);
		frame_put_cstr(&fb, r->branch);
		frame_put_cstr(&fb, r->ctype);
		frame_put_cstr(&fb, r->body);
		frame_put_u32(&fb, r->cseq);
		tr_after_commit(tr, PROC_SIP_FRONT, &fb);
	} else {
		frame_begin(&fb, MSG_XMPP_OUT_MESSAGE, id);
		frame_put_cstr(&fb, r->xfrom);
		frame_put_cstr(&fb, r->xto);
		frame_put_cstr(&fb, r->xid);
		frame_put_cstr(&fb, r->kind == MK_XERR      ? "error"
				    : r->kind == MK_RECEIPT ? "receipt"
							    : "chat");
		frame_put_cstr(&fb, r->body);
		frame_put_cstr(&fb, r->econd);
		frame_put_cstr(&fb, r->etext);
		frame_put_u32(&fb, r->flags);
		tr_after_commit(tr, PROC_XMPP_FRONT, &fb);
	}
}


/* Store a new pending message and stage its frame. */
static uint64_t rec_create(struct translator *tr, struct msgrec *r)
{
	uint64_t id = store_next_id(tr_txn(tr));

	r->state = MS_PENDING;
	r->created = wall_ms();
	r->attempts = 1;
	rec_save(tr, id, r);
	rec_emit(tr, id, r);
	store_count(tr_txn(tr), "messages.accepted", 1);
	log_debug("msg %llu: new %s", (unsigned long long)id,
		  msgrec_kind_name[r->kind]);
	return id;
}


static void rec_done(struct translator *tr, uint64_t id, struct msgrec *r)
{
	r->state = MS_DONE;
	rec_save(tr, id, r);
	tr_deadline(tr, wall_ms() + RETAIN_MS, id);
}


static char *dup_or_null(const char *s)
{
	char *d = NULL;

	if (s)
		str_dup(&d, s);
	return d;
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
	rec_create(tr, &e);
	store_count(tr_txn(tr), "messages.errors", 1);
	msgrec_reset(&e);
}


static int random_token(char **p, const char *prefix)
{
	return re_sdprintf(p, "%s%016llx", prefix,
			   (unsigned long long)random_u64());
}


/* The SIP MESSAGE for a chat; the transaction identifiers are chosen here
 * and stored, so that a re-send after a crash is a retransmission. */
static int sip_ids(struct msgrec *r)
{
	int err = re_sdprintf(&r->callid, "%016llx@xsgw",
			      (unsigned long long)random_u64());

	err |= random_token(&r->ftag, "");
	err |= random_token(&r->branch, "z9hG4bK");
	r->cseq = 1;
	return err ? ENOMEM : 0;
}


static void bare_of(const char *jid, char *out, size_t sz)
{
	size_t n = strcspn(jid, "/");

	if (n >= sz)
		n = sz - 1;
	memcpy(out, jid, n);
	out[n] = 0;
}


/* XMPP <message type=error> for something we sent: tell its SIP sender. */
static int xmpp_error_in(struct translator *tr, const char *id,
			 const char *cond, const char *text)
{
	struct msgrec o = {0}, n = {0};
	unsigned long long oid;
	char body[1024];
	int err = 0;

	if (sscanf(id, "xsgw-%llu", &oid) != 1 || rec_load(tr, oid, &o)) {
		log_info("xmpp error %s for unknown message '%s'", cond, id);
		return 0;
	}
	if (o.kind != MK_CHAT_S2X) {
		/* never answer an error with an error */
		log_info("msg %llu: %s bounced (%s)", oid,
			 msgrec_kind_name[o.kind], cond);
		goto out;
	}
	o.econd = mem_deref(o.econd);
	o.econd = dup_or_null(cond);
	rec_done(tr, oid, &o);
	store_count(tr_txn(tr), "messages.failed", 1);
	snprintf(body, sizeof(body), "Message not delivered to %s: %s%s%s",
		 o.xto, cond, *text ? " - " : "", text);
	n.kind = MK_SNOTICE;
	n.ref = oid;
	n.ruri = dup_or_null(o.sfrom);
	n.sfrom = dup_or_null(o.sto);
	n.sto = dup_or_null(o.sfrom);
	n.ctype = dup_or_null("text/plain;charset=UTF-8");
	n.body = dup_or_null(body);
	err = sip_ids(&n);
	if (!err)
		rec_create(tr, &n);
out:
	msgrec_reset(&o);
	msgrec_reset(&n);
	return err;
}


int tr_msg_xmpp_in(struct translator *tr, struct frame *fr)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	char *from, *to, *id, *type, *body, *cond, *text;
	char bare[1024], node[1024], uri[1200], furi[1200];
	struct msgrec r = {0};
	uint32_t flags;
	const char *at;
	int err = 0;

	from = frame_get_strdup(fr);
	to = frame_get_strdup(fr);
	id = frame_get_strdup(fr);
	type = frame_get_strdup(fr);
	body = frame_get_strdup(fr);
	cond = frame_get_strdup(fr);
	text = frame_get_strdup(fr);
	flags = frame_get_u32(fr);
	if (frame_end(fr)) {
		err = EBADMSG;
		goto out;
	}
	store_count(tr_txn(tr), "messages.xmpp_in", 1);

	if (!strcmp(type, "error")) {
		err = xmpp_error_in(tr, id, cond, text);
		goto out;
	}
	if (!strcmp(type, "headline"))
		goto out; /* never answered, never bounced */
	if (!*body)
		goto out; /* chat states and the like: nothing to carry */
	if (strcmp(type, "chat") && strcmp(type, "normal")) {
		reply_xmpp_error(tr, to, from, id, "feature-not-implemented",
				 "only chat messages are carried to SIP", body);
		goto out;
	}
	bare_of(from, bare, sizeof(bare));
	err = addr_user_to_sip(cfg, bare, furi, sizeof(furi));
	if (err) {
		reply_xmpp_error(tr, to, from, id, "forbidden",
				 "sender's domain is not served by this "
				 "gateway",
				 body);
		err = 0;
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
	if (addr_gwnode_to_sip(cfg, node, uri, sizeof(uri))) {
		reply_xmpp_error(tr, to, from, id, "jid-malformed",
				 "not a valid SIP address", body);
		goto out;
	}
	r.kind = MK_CHAT_X2S;
	r.flags = flags & MF_RECEIPT;
	r.xfrom = dup_or_null(from);
	r.xto = dup_or_null(to);
	r.xid = dup_or_null(id);
	r.ruri = dup_or_null(uri);
	r.sto = dup_or_null(uri);
	r.sfrom = dup_or_null(furi);
	r.ctype = dup_or_null("text/plain;charset=UTF-8");
	r.body = dup_or_null(body);
	err = sip_ids(&r);
	if (!err)
		rec_create(tr, &r);
out:
	msgrec_reset(&r);
	mem_deref(from);
	mem_deref(to);
	mem_deref(id);
	mem_deref(type);
	mem_deref(body);
	mem_deref(cond);
	mem_deref(text);
	return err;
}


int tr_msg_xmpp_sent(struct translator *tr, struct frame *fr)
{
	struct msgrec r = {0};
	uint64_t id = frame_get_u64(fr);

	if (frame_end(fr))
		return EBADMSG;
	if (rec_load(tr, id, &r))
		return 0; /* already swept */
	if (r.state == MS_PENDING &&
	    (r.kind == MK_CHAT_S2X || r.kind == MK_XERR ||
	     r.kind == MK_RECEIPT)) {
		rec_done(tr, id, &r);
		store_count(tr_txn(tr), "messages.delivered_xmpp", 1);
	}
	msgrec_reset(&r);
	return 0;
}


/* The final response to a MESSAGE: in the outbox, so a translator killed
 * after committing the message but before this left still answers it. */
static void stage_reply(struct translator *tr, uint64_t tx, unsigned scode,
			const char *reason)
{
	struct fbuf fb = {0};

	frame_begin(&fb, MSG_SIP_OUT_REPLY, 0);
	frame_put_u64(&fb, tx);
	frame_put_u32(&fb, scode);
	frame_put_cstr(&fb, reason);
	(void)tr_out(tr, PROC_SIP_FRONT, &fb);
}


/* user and host of a SIP URI, as NUL-terminated strings */
static int uri_parts(const char *s, char *user, size_t us, char *host,
		     size_t hs)
{
	struct uri u;
	struct pl pl;

	pl_set_str(&pl, s);
	if (uri_decode(&u, &pl) || (pl_strcasecmp(&u.scheme, "sip") &&
				    pl_strcasecmp(&u.scheme, "sips")))
		return EINVAL;
	if (!u.user.l || u.user.l >= us || !u.host.l || u.host.l >= hs)
		return EINVAL;
	pl_strcpy(&u.user, user, us);
	pl_strcpy(&u.host, host, hs);
	return 0;
}


/* text/plain with no charset or UTF-8 (US-ASCII is a subset) */
static int ctype_ok(const char *ct)
{
	char buf[256], *p, *save = NULL;
	int ok;

	if (strlen(ct) >= sizeof(buf))
		return 0;
	strcpy(buf, ct);
	p = strtok_r(buf, ";", &save);
	if (!p)
		return 0;
	while (*p == ' ')
		p++;
	ok = !strncasecmp(p, "text/plain", 10) && (p[10] == 0 || p[10] == ' ');
	while (ok && (p = strtok_r(NULL, ";", &save))) {
		while (*p == ' ')
			p++;
		if (!strncasecmp(p, "charset=", 8)) {
			const char *cs = p + 8;
			if (*cs == '"')
				cs++;
			ok = !strncasecmp(cs, "utf-8", 5) ||
			     !strncasecmp(cs, "us-ascii", 8);
		}
	}
	return ok;
}


int tr_msg_sip_in(struct translator *tr, struct frame *fr)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	char *callid, *cseq, *ftag, *from, *to, *ruri, *ctype, *src;
	char user[512], host[256], jid[1200], gwjid[1600], key[1024];
	const char *body;
	size_t blen;
	struct msgrec r = {0};
	const void *v;
	size_t vl;
	uint64_t tx, id;
	int err = 0;

	tx = frame_get_u64(fr);
	callid = frame_get_strdup(fr);
	cseq = frame_get_strdup(fr);
	ftag = frame_get_strdup(fr);
	from = frame_get_strdup(fr);
	to = frame_get_strdup(fr);
	ruri = frame_get_strdup(fr);
	ctype = frame_get_strdup(fr);
	frame_get_str(fr, &body, &blen);
	src = frame_get_strdup(fr);
	if (frame_end(fr)) {
		err = EBADMSG;
		goto out;
	}
	store_count(tr_txn(tr), "messages.sip_in", 1);

	/* a retransmission of a MESSAGE already accepted: same answer */
	snprintf(key, sizeof(key), "s\t%s\t%s\t%s", callid, cseq, ftag);
	if (!store_get(tr_txn(tr), DB_MSGKEY, key, strlen(key), &v, &vl) &&
	    vl == 8) {
		stage_reply(tr, tx, 202, "Accepted");
		goto out;
	}
	if (!blen) {
		stage_reply(tr, tx, 400, "Empty Message");
		goto out;
	}
	if (!ctype_ok(ctype)) {
		stage_reply(tr, tx, 415, "Unsupported Media Type");
		goto out;
	}
	if (!utf8_xml_valid(body, blen)) {
		stage_reply(tr, tx, 400, "Body Is Not Valid UTF-8 Text");
		goto out;
	}
	/* the recipient: Request-URI, or To when the R-URI names the
	 * gateway itself */
	err = uri_parts(ruri, user, sizeof(user), host, sizeof(host));
	if (!err)
		err = addr_sip_to_user(cfg, user, host, jid, sizeof(jid));
	if (err == ENOENT &&
	    (!strcmp(host, cfg->sip.local_host) ||
	     !strcmp(host, cfg->sip.listen.host)) &&
	    !uri_parts(to, user, sizeof(user), host, sizeof(host)))
		err = addr_sip_to_user(cfg, user, host, jid, sizeof(jid));
	if (err) {
		stage_reply(tr, tx, 404,
			    err == ENOENT ? "Unknown Domain" : "Not Found");
		err = 0;
		goto out;
	}
	if (uri_parts(from, user, sizeof(user), host, sizeof(host)) ||
	    addr_sip_to_gwjid(cfg, user, host, gwjid, sizeof(gwjid))) {
		stage_reply(tr, tx, 400, "Bad From URI");
		goto out;
	}
	r.kind = MK_CHAT_S2X;
	r.xfrom = dup_or_null(gwjid);
	r.xto = dup_or_null(jid);
	r.sfrom = dup_or_null(from);
	r.sto = dup_or_null(to);
	r.callid = dup_or_null(callid);
	r.ftag = dup_or_null(ftag);
	r.ctype = dup_or_null(ctype);
	r.body = mem_alloc(blen + 1, NULL);
	if (!r.body) {
		err = ENOMEM;
		goto out;
	}
	memcpy(r.body, body, blen);
	r.body[blen] = 0;
	r.scode = 202;
	r.dkey = dup_or_null(key);
	id = store_next_id(tr_txn(tr));
	re_sdprintf(&r.xid, "xsgw-%llu", (unsigned long long)id);
	r.state = MS_PENDING;
	r.created = wall_ms();
	r.attempts = 1;
	rec_save(tr, id, &r);
	{
		uint8_t k[8];
		be64_put(k, id);
		store_put(tr_txn(tr), DB_MSGKEY, key, strlen(key), k, 8);
	}
	store_count(tr_txn(tr), "messages.accepted", 1);
	stage_reply(tr, tx, 202, "Accepted");
	rec_emit(tr, id, &r);
	log_debug("msg %llu: SIP MESSAGE from %s accepted for %s (src %s)",
		  (unsigned long long)id, from, jid, src);
out:
	msgrec_reset(&r);
	mem_deref(callid);
	mem_deref(cseq);
	mem_deref(ftag);
	mem_deref(from);
	mem_deref(to);
	mem_deref(ruri);
	mem_deref(ctype);
	mem_deref(src);
	return err;
}


int tr_msg_sip_result(struct translator *tr, struct frame *fr)
{
	struct msgrec r = {0}, n = {0};
	uint64_t id;
	uint32_t scode;
	char *reason, text[512];
	int err = 0;

	id = frame_get_u64(fr);
	scode = frame_get_u32(fr);
	reason = frame_get_strdup(fr);
	if (frame_end(fr) || scode < 200 || scode > 699) {
		mem_deref(reason);
		return EBADMSG;
	}
	if (rec_load(tr, id, &r) || r.state != MS_PENDING ||
	    (r.kind != MK_CHAT_X2S && r.kind != MK_SNOTICE))
		goto out; /* a late duplicate */
	r.scode = scode;
	mem_deref(r.reason);
	r.reason = dup_or_null(reason);
	rec_done(tr, id, &r);
	if (scode < 300) {
		store_count(tr_txn(tr), "messages.delivered_sip", 1);
		if (r.kind == MK_CHAT_X2S && (r.flags & MF_RECEIPT) && *r.xid) {
			n.kind = MK_RECEIPT;
			n.ref = id;
			n.xfrom = dup_or_null(r.xto);
			n.xto = dup_or_null(r.xfrom);
			n.xid = dup_or_null(r.xid);
			rec_create(tr, &n);
		}
		goto out;
	}
	store_count(tr_txn(tr), "messages.failed", 1);
	log_info("msg %llu: SIP %u %s for %s", (unsigned long long)id, scode,
		 reason, r.sto);
	if (r.kind == MK_CHAT_X2S) {
		snprintf(text, sizeof(text), "SIP %u %s", scode, reason);
		reply_xmpp_error(tr, r.xto, r.xfrom, r.xid,
				 addr_sip_to_xmpp_error(scode), text, r.body);
	}
out:
	msgrec_reset(&r);
	msgrec_reset(&n);
	mem_deref(reason);
	return err;
}


struct replay_ctx {
	struct translator *tr;
	enum proc_id to;
	unsigned n;
};


static bool replay_visit(const void *k, size_t kl, const void *v, size_t vl,
			 void *arg)
{
	struct replay_ctx *c = arg;
	struct msgrec r;
	bool sip;

	if (kl != 8 || msgrec_decode(&r, v, vl))
		return true;
	sip = r.kind == MK_CHAT_X2S || r.kind == MK_SNOTICE;
	if (r.state == MS_PENDING && (c->to == PROC_SIP_FRONT) == sip) {
		rec_emit(c->tr, be64_get(k), &r);
		c->n++;
	}
	msgrec_reset(&r);
	return true;
}


void tr_msg_replay(struct translator *tr, enum proc_id to)
{
	struct replay_ctx c = {tr, to, 0};

	store_scan(tr_txn(tr), DB_MSG, NULL, 0, replay_visit, &c);
	if (c.n)
		log_info("re-sending %u pending message(s) to %s", c.n,
			 proc_name(to));
}


int tr_msg_expired(struct translator *tr, uint64_t id)
{
	struct msgrec r;

	if (rec_load(tr, id, &r))
		return ENOENT;
	if (r.dkey && *r.dkey)
		store_del(tr_txn(tr), DB_MSGKEY, r.dkey, strlen(r.dkey));
	msgrec_reset(&r);
	tr_rec_del(tr, DB_MSG, id);
	return 0;
}
