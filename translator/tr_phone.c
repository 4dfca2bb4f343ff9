/**
 * @file tr_phone.c  The phone state machine (SPEC 6.3, perl-bosh's model):
 *                   a phone of presence.phones is in one of five states,
 *                   driven by the reg and dialog events the presence
 *                   server NOTIFYs (tr_sub.c) or a PUBLISH (RFC 3903),
 *                   and shown as the presence of
 *                   its gateway JID to its owner.
 *
 *  state                        event                    -> next
 *  ---------------------------  -----------------------  ----------------
 *  offline                      REG active               online
 *  online | still-online        REG active (a refresh)   still-online
 *  onthephone |                 REG active (a refresh)   still-onthephone
 *  still-onthephone
 *  any                          REG none active          offline
 *  online | still-online        DIALOG confirmed         onthephone
 *  onthephone |                 DIALOG confirmed         still-onthephone
 *  still-onthephone             (a refresh in the call)
 *  onthephone |                 DIALOG none confirmed    still-online
 *  still-onthephone
 *  offline                      DIALOG any               -
 *  any but offline              T_KEEPALIVE (no event    offline
 *                               for keepalive_max_s, or
 *                               the publication expired)
 *
 * A PUBLISH (RFC 3903, from a trusted source, for a configured phone's
 * AOR) is the same events: PIDF open -> REG active, then DIALOG
 * confirmed if it says on-the-phone/busy, else DIALOG none; PIDF closed
 * or Expires: 0 -> REG none; dialog-info -> DIALOG. A refresh
 * (SIP-If-Match, no body) pushes the deadline; a wrong entity-tag: 412.
 *
 * Every event but the last pushes the keepalive deadline. The owner sees
 * available "Phone online" (online, still-online), dnd "On the phone"
 * (onthephone, still-onthephone) or unavailable (offline): a presence is
 * sent when what it shows changes, never for a refresh that changes
 * nothing. With a password in its entry of presence.phones, the same
 * presence goes out from the user's own JID/resource too, on the client
 * session the xmpp-front keeps (which asks for it again whenever it signs
 * in: tr_phone_client_up).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "keys.h"
#include "log.h"
#include "phonerec.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"

/* a long-lived record keeps its recent events within this */
enum { HISTORY_MAX = 4096 };

enum phone_event { PE_REG = 1, PE_DIALOG, PE_T_KEEPALIVE };


static int phone_load(struct translator *tr, uint64_t id, struct phonerec *r)
{
	const void *v;
	size_t vl;

	if (tr_rec_get(tr, DB_PHONE, id, &v, &vl))
		return ENOENT;
	if (phonerec_decode(r, v, vl)) {
		log_warn("phone %llu: undecodable record",
			 (unsigned long long)id);
		return EBADMSG;
	}
	return 0;
}


static void phone_save(struct translator *tr, uint64_t id, struct phonerec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_PHONE, id, &fb, phonerec_encode(&fb, r));
}


static void phone_event(struct phonerec *r, const char *fmt, ...)
{
	char line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)tr_history_append(&r->history, HISTORY_MAX, line);
}


static enum phone_shown shown_of(uint32_t state)
{
	switch (state) {
	case PH_ONLINE:
	case PH_STILL_ONLINE:
		return PS_AVAILABLE;
	case PH_ONTHEPHONE:
	case PH_STILL_ONTHEPHONE:
		return PS_DND;
	default:
		return PS_UNAVAILABLE;
	}
}


/* The phone's presence as it is now: its show and status into p. */
static void presence_fill(struct translator *tr, const struct phonerec *r,
			  xmpp_stanza_t *p)
{
	switch (shown_of(r->state)) {
	case PS_AVAILABLE:
		xu_text_elem(tr->xctx, p, "status", NULL, "Phone online");
		break;
	case PS_DND:
		xu_text_elem(tr->xctx, p, "show", NULL, "dnd");
		xu_text_elem(tr->xctx, p, "status", NULL, "On the phone");
		break;
	default:
		xmpp_stanza_set_type(p, "unavailable");
		break;
	}
}


/* The phone's presence as it is now, from its gateway JID to one JID. */
static void presence_to(struct translator *tr, const struct phonerec *r,
			const char *to)
{
	xmpp_stanza_t *p = xmpp_presence_new(tr->xctx);
	char from[600];

	snprintf(from, sizeof(from), "%s/%s", r->gwjid,
		 *r->res ? r->res : "phone");
	xmpp_stanza_set_from(p, from);
	xmpp_stanza_set_to(p, to);
	presence_fill(tr, r, p);
	if (shown_of(r->state) == PS_AVAILABLE || shown_of(r->state) == PS_DND)
		tr_xmpp_caps(tr, p); /* a phone that takes calls (XEP-0115) */
	tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, p);
	xmpp_stanza_release(p);
}


/* The entry of presence.phones for aor if it has a client session. */
static const struct cfg_presphone *client_of(struct translator *tr,
					     const char *aor)
{
	const struct xsgw_config *cfg = tr->proc.cfg;

	for (size_t i = 0; i < cfg->presence.nphones; i++) {
		if (cfg->presence.phones[i].password &&
		    !strcmp(cfg->presence.phones[i].sip, aor))
			return &cfg->presence.phones[i];
	}
	return NULL;
}


/* SPEC 6.3: with a password, the same presence from the user's own JID
 * and resource, on the client session the xmpp-front keeps. Priority -1:
 * the server never routes a chat for the bare JID to it. */
static void presence_client(struct translator *tr, const struct phonerec *r)
{
	const struct cfg_presphone *c = client_of(tr, r->aor);
	xmpp_stanza_t *p;
	char jid[600];

	if (!c)
		return;
	snprintf(jid, sizeof(jid), "%s/%s", c->jid, c->resource);
	p = xmpp_presence_new(tr->xctx);
	presence_fill(tr, r, p);
	if (shown_of(r->state) != PS_UNAVAILABLE)
		xu_text_elem(tr->xctx, p, "priority", NULL, "-1");
	tr_client_send(tr, jid, p);
	xmpp_stanza_release(p);
}


static void keepalive(struct translator *tr, uint64_t id, struct phonerec *r,
		      bool on)
{
	/* a linked account's state is known, not inferred: no keepalive */
	const uint32_t s =
		r->account ? 0 : tr->proc.cfg->presence.keepalive_max_s;

	if (r->deadline)
		tr_deadline_del(tr, r->deadline, OWN_PHONE, id);
	r->deadline = on && s ? wall_ms() + (uint64_t)s * 1000 : 0;
	/* a publication that ends sooner ends it sooner (RFC 3903) */
	if (on && r->pub_until && (!r->deadline || r->pub_until < r->deadline))
		r->deadline = r->pub_until;
	if (r->deadline)
		tr_deadline(tr, r->deadline, OWN_PHONE, id);
}


/* The table above, as code: the next state of (state, event). */
static uint32_t next_state(uint32_t st, enum phone_event ev, bool on)
{
	const bool in_call = st == PH_ONTHEPHONE || st == PH_STILL_ONTHEPHONE;

	switch (ev) {
	case PE_REG:
		if (!on)
			return PH_OFFLINE;
		if (st == PH_OFFLINE)
			return PH_ONLINE;
		return in_call ? PH_STILL_ONTHEPHONE : PH_STILL_ONLINE;
	case PE_DIALOG:
		if (st == PH_OFFLINE)
			return st;
		if (on)
			return in_call ? PH_STILL_ONTHEPHONE : PH_ONTHEPHONE;
		return in_call ? PH_STILL_ONLINE : st;
	case PE_T_KEEPALIVE:
	default:
		return PH_OFFLINE;
	}
}


/* Tell the owner (and the client session) if what r shows changed. A
 * phone nothing was sent for yet shows unavailable (as the answers to
 * probes and to the approval said): offline then is no change. */
static void phone_show(struct translator *tr, struct phonerec *r)
{
	const enum phone_shown was =
		r->shown == PS_NONE ? PS_UNAVAILABLE : r->shown;

	if (shown_of(r->state) != was) {
		r->shown = shown_of(r->state);
		presence_to(tr, r, r->jid);
		presence_client(tr, r);
	}
}


/* Apply ev to a loaded record; shown by the caller (phone_show). */
static void phone_move(struct translator *tr, uint64_t id, struct phonerec *r,
		       enum phone_event ev, bool on, const char *source)
{
	const uint32_t next = next_state(r->state, ev, on);

	if (next != r->state)
		phone_event(r, "%s (%s)", phonerec_state_name[next], source);
	log_info("phone %s: %s -> %s (%s)", r->aor,
		 phonerec_state_name[r->state], phonerec_state_name[next],
		 source);
	r->state = next;
	r->last_event = wall_ms();
	mem_deref(r->source);
	(void)str_dup(&r->source, source);
	keepalive(tr, id, r, ev != PE_T_KEEPALIVE && next != PH_OFFLINE);
}


/* Apply ev to a loaded record and show the outcome. */
static void phone_step(struct translator *tr, uint64_t id, struct phonerec *r,
		       enum phone_event ev, bool on, const char *source)
{
	phone_move(tr, id, r, ev, on, source);
	phone_show(tr, r);
}


/* Load, apply, save once. */
static void phone_apply(struct translator *tr, uint64_t id, enum phone_event ev,
			bool on, const char *source)
{
	struct phonerec r;

	if (phone_load(tr, id, &r))
		return;
	if (ev == PE_T_KEEPALIVE) {
		r.deadline = 0; /* taken from the store as it passed */
		if (r.state == PH_OFFLINE)
			goto out;
		if (r.pub_until && r.pub_until <= wall_ms()) {
			/* RFC 3903: the publication expired unrefreshed */
			mem_deref(r.pub_etag);
			(void)str_dup(&r.pub_etag, "");
			r.pub_until = 0;
			source = "publication expired";
		}
	}
	phone_step(tr, id, &r, ev, on, source);
	phone_save(tr, id, &r);
out:
	phonerec_reset(&r);
}


void tr_phone_reg(struct translator *tr, uint64_t id,
		  const struct tr_reginfo *ri)
{
	phone_apply(tr, id, PE_REG, ri->active > 0, "reg");
}


void tr_phone_dialog(struct translator *tr, uint64_t id,
		     const struct tr_dialoginfo *di)
{
	/* a partial document names only the dialogs that changed: without a
	 * confirmed one it says nothing about the others (Kamailio sends
	 * full ones) */
	if (!di->full && !di->confirmed)
		return;
	phone_apply(tr, id, PE_DIALOG, di->confirmed > 0, "dialog");
}


void tr_phone_expired(struct translator *tr, uint64_t id)
{
	phone_apply(tr, id, PE_T_KEEPALIVE, false, "keepalive");
}


/* A new phone record for aor, shown to jid; its owner is asked to
 * subscribe to its gateway JID. @return its id, or 0 */
static uint64_t phone_new(struct translator *tr, const char *aor,
			  const char *jid, const char *res, bool account)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	struct phonerec r = {0};
	char user[256], host[256], gw[600];
	struct uri u;
	struct pl pl;
	uint64_t id;

	pl_set_str(&pl, aor);
	if (uri_decode(&u, &pl) || !u.user.l || u.user.l >= sizeof(user) ||
	    u.host.l >= sizeof(host))
		return 0;
	pl_strcpy(&u.user, user, sizeof(user));
	pl_strcpy(&u.host, host, sizeof(host));
	if (addr_sip_to_gwjid(cfg, user, host, gw, sizeof(gw)))
		return 0;
	id = store_next_id(tr_txn(tr));
	r.state = PH_OFFLINE;
	r.created = wall_ms();
	r.account = account;
	if (str_dup(&r.aor, aor) || str_dup(&r.jid, jid) ||
	    str_dup(&r.res, res) || str_dup(&r.gwjid, gw) ||
	    str_dup(&r.pub_etag, "") ||
	    str_dup(&r.source, account ? "account" : "config")) {
		phonerec_reset(&r);
		return 0;
	}
	/* SPEC 6.3: the owner is asked to subscribe to the phone's JID */
	tr_xmpp_presence(tr, r.gwjid, r.jid, "subscribe", NULL);
	r.asked = 1;
	phone_event(&r, "configured");
	tr_regrec_key_put(tr, RK_PHONE, r.aor, id);
	tr_regrec_key_put(tr, RK_PHONE_JID, r.gwjid, id);
	phone_save(tr, id, &r);
	log_info("phone %s shows as %s to %s", r.aor, r.gwjid, r.jid);
	phonerec_reset(&r);
	return id;
}


uint64_t tr_phone_ensure(struct translator *tr, const struct cfg_presphone *p)
{
	uint64_t id = tr_regrec_key_get(tr, RK_PHONE, p->sip);

	return id ? id
		  : phone_new(tr, p->sip, p->jid,
			      p->resource ? p->resource : "", false);
}


/* Forget a phone: its owner sees it unavailable if it showed more. */
static void phone_drop(struct translator *tr, uint64_t id, struct phonerec *r)
{
	if (r->shown != PS_UNAVAILABLE && r->shown != PS_NONE) {
		r->state = PH_OFFLINE;
		presence_to(tr, r, r->jid);
		presence_client(tr, r);
	}
	keepalive(tr, id, r, false);
	tr_regrec_key_del(tr, RK_PHONE, r->aor);
	tr_regrec_key_del(tr, RK_PHONE_JID, r->gwjid);
	tr_rec_del(tr, DB_PHONE, id);
}


void tr_phone_account(struct translator *tr, const char *aor, const char *jid,
		      enum phone_account what)
{
	uint64_t id = tr_regrec_key_get(tr, RK_PHONE, aor);
	struct phonerec r;

	if (id && phone_load(tr, id, &r))
		return;
	if (id && !r.account) {
		/* one of presence.phones: the presence server tells */
		phonerec_reset(&r);
		return;
	}
	if (!id && (what != PA_REGISTERED ||
		    !(id = phone_new(tr, aor, jid, "sip", true)) ||
		    phone_load(tr, id, &r)))
		return;
	switch (what) {
	case PA_REGISTERED:
	case PA_UNREGISTERED:
		phone_step(tr, id, &r, PE_REG, what == PA_REGISTERED,
			   "account");
		break;
	case PA_CALL:
	case PA_NO_CALL:
		phone_step(tr, id, &r, PE_DIALOG, what == PA_CALL, "account");
		break;
	case PA_GONE:
		log_info("phone %s of a linked account forgotten", r.aor);
		phone_drop(tr, id, &r);
		phonerec_reset(&r);
		return;
	}
	phone_save(tr, id, &r);
	phonerec_reset(&r);
}


/* The configured phone whose client session is jid/resource, and its
 * record's id (0: none yet). */
static const struct cfg_presphone *client_by_jid(struct translator *tr,
						 const char *jid, uint64_t *idp)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	char full[600];

	for (size_t i = 0; i < cfg->presence.nphones; i++) {
		const struct cfg_presphone *c = &cfg->presence.phones[i];

		snprintf(full, sizeof(full), "%s/%s", c->jid, c->resource);
		if (!c->password || strcmp(full, jid))
			continue;
		*idp = tr_regrec_key_get(tr, RK_PHONE, c->sip);
		return c;
	}
	log_warn("client session %s: no such phone", jid);
	return NULL;
}


/* MSG_CLIENT_STATE: what is kept of jid's session (none without a
 * record), after the batch commits. */
static void client_state(struct translator *tr, const char *jid,
			 const struct phonerec *r)
{
	struct m_client_sm m;
	struct fbuf fb = {0};

	memset(&m, 0, sizeof(m));
	pl_set_str(&m.jid, jid);
	if (r) {
		pl_set_str(&m.smid, r->cs_smid ? r->cs_smid : "");
		m.h = r->cs_h;
		m.k = r->cs_k;
		pl_set_str(&m.xml, r->cs_xml ? r->cs_xml : "");
	}
	if (msg_enc_client_sm(&fb, MSG_CLIENT_STATE, &m))
		fbuf_reset(&fb);
	else
		tr_after_commit(tr, PROC_XMPP_FRONT, &fb);
}


void tr_phone_client_up(struct translator *tr, const char *jid)
{
	struct phonerec r;
	uint64_t id = 0;
	bool have;

	if (!client_by_jid(tr, jid, &id))
		return;
	have = id && !phone_load(tr, id, &r);
	client_state(tr, jid, have ? &r : NULL);
	/* a full store takes nothing new (F4); the next sign-in or link
	 * asks again */
	if (have && tr_admit(tr))
		presence_client(tr, &r);
	if (have)
		phonerec_reset(&r);
}


void tr_phone_client_sm(struct translator *tr, const struct m_client_sm *m,
			bool keep)
{
	struct phonerec r;
	char jid[600];
	uint64_t id = 0;

	if (m->jid.l >= sizeof(jid))
		return;
	pl_strcpy(&m->jid, jid, sizeof(jid));
	if (!client_by_jid(tr, jid, &id))
		return;
	if (!id || phone_load(tr, id, &r)) {
		log_warn("client session %s: no phone record to keep its "
			 "stream state in",
			 jid);
		client_state(tr, jid, NULL);
		return;
	}
	if (keep) {
		char *smid = NULL, *xml = NULL;
		if (!pl_strdup(&smid, &m->smid) && !pl_strdup(&xml, &m->xml)) {
			mem_deref(r.cs_smid);
			mem_deref(r.cs_xml);
			r.cs_smid = smid;
			r.cs_xml = xml;
			r.cs_h = m->h;
			r.cs_k = m->k;
			phone_save(tr, id, &r);
		} else {
			mem_deref(smid);
			mem_deref(xml);
		}
	}
	/* the confirmation: what is kept now (the front acts on it only) */
	client_state(tr, jid, &r);
	phonerec_reset(&r);
}


bool tr_phone_presence_to(struct translator *tr, const char *gwjid,
			  const char *to)
{
	uint64_t id = tr_regrec_key_get(tr, RK_PHONE_JID, gwjid);
	struct phonerec r;

	if (!id || phone_load(tr, id, &r))
		return false;
	presence_to(tr, &r, to);
	phonerec_reset(&r);
	return true;
}


struct unconfigured {
	const struct xsgw_config *cfg;
	uint64_t ids[64]; /* a start forgets at most this many */
	unsigned n;
};

static bool unconfigured_visit(const void *k, size_t kl, const void *v,
			       size_t vl, void *arg)
{
	struct unconfigured *u = arg;
	struct phonerec r;
	bool keep = false;

	if (kl != 8 || phonerec_decode(&r, v, vl))
		return true;
	keep = r.account; /* a linked account's: not configured */
	for (size_t i = 0; i < u->cfg->presence.nphones; i++)
		keep |= !strcmp(u->cfg->presence.phones[i].sip, r.aor);
	if (!keep && u->n < sizeof(u->ids) / sizeof(u->ids[0]))
		u->ids[u->n++] = key_id_parse(k);
	phonerec_reset(&r);
	return true;
}


void tr_phone_forget_unconfigured(struct translator *tr)
{
	struct unconfigured u = {.cfg = tr->proc.cfg};
	struct phonerec r;

	store_scan(tr_txn(tr), DB_PHONE, NULL, 0, unconfigured_visit, &u);
	for (unsigned i = 0; i < u.n; i++) {
		if (phone_load(tr, u.ids[i], &r))
			continue;
		log_info("phone %s is no longer configured: forgotten", r.aor);
		phone_drop(tr, u.ids[i], &r);
		phonerec_reset(&r);
	}
}


/* ---- PUBLISH (RFC 3903) ---------------------------------------------- */

static void publish_reply(struct translator *tr, const struct call_ev *e,
			  unsigned scode, const char *reason, const char *extra)
{
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .scode = scode,
				  .reason = reason,
				  .extra = extra};

	(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


/* What a publication body says, as phone events. @return 0 or EBADMSG */
static int publish_read(struct translator *tr, const struct sip_msg *msg,
			bool presence, bool *reg_on, bool *in_call)
{
	char *body = NULL;
	int err;

	err = re_sdprintf(&body, "%b", mbuf_buf(msg->mb),
			  mbuf_get_left(msg->mb));
	if (err)
		return err;
	if (presence) {
		struct tr_pidf p;
		err = tr_pidf_presence(tr, body, &p);
		*reg_on = p.open;
		/* RFC 4480 on-the-phone / busy: dnd */
		*in_call = p.open && !strcmp(p.show, "dnd");
	} else {
		struct tr_dialoginfo di;
		err = tr_pidf_dialoginfo(tr, body, &di);
		*reg_on = true;
		*in_call = di.confirmed > 0;
	}
	mem_deref(body);
	return err ? EBADMSG : 0;
}


void tr_phone_publish(struct translator *tr, const struct call_ev *e)
{
	const struct sip_msg *msg = e->msg;
	const struct sip_hdr *ev = sip_msg_hdr(msg, SIP_HDR_EVENT);
	const struct sip_hdr *im = sip_msg_xhdr(msg, "SIP-If-Match");
	const uint32_t max = 3600;
	char aor[600], extra[200];
	uint32_t expires = max;
	bool presence, reg_on = false, in_call = false, removal;
	struct phonerec r;
	char *etag = NULL;
	uint64_t id;

	if (!ev || (pl_strcasecmp(&ev->val, "presence") &&
		    pl_strcasecmp(&ev->val, "dialog"))) {
		publish_reply(tr, e, 489, "Bad Event",
			      "Allow-Events: presence, dialog\r\n");
		return;
	}
	presence = !pl_strcasecmp(&ev->val, "presence");
	re_snprintf(aor, sizeof(aor), "sip:%r@%r", &msg->uri.user,
		    &msg->uri.host);
	id = tr_regrec_key_get(tr, RK_PHONE, aor);
	if (!id || phone_load(tr, id, &r)) {
		publish_reply(tr, e, 404, "Not A Configured Phone", NULL);
		return;
	}
	if (r.account) {
		/* a linked account's state is the gateway's own to tell */
		publish_reply(tr, e, 404, "Not A Configured Phone", NULL);
		goto out;
	}
	if (pl_isset(&msg->expires))
		expires = pl_u32(&msg->expires);
	if (expires > max)
		expires = max;
	removal = pl_isset(&msg->expires) && !expires;
	if (im && (!r.pub_etag || pl_strcmp(&im->val, r.pub_etag))) {
		publish_reply(tr, e, 412, "Conditional Request Failed", NULL);
		goto out;
	}
	if (!im && (removal || !mbuf_get_left(msg->mb))) {
		publish_reply(tr, e, 400, "Initial PUBLISH Needs A Body", NULL);
		goto out;
	}
	if (!removal && mbuf_get_left(msg->mb) &&
	    publish_read(tr, msg, presence, &reg_on, &in_call)) {
		publish_reply(tr, e, 400, "Bad Event State", NULL);
		goto out;
	}
	mem_deref(r.pub_etag);
	r.pub_etag = NULL;
	if (removal) {
		(void)str_dup(&r.pub_etag, "");
		r.pub_until = 0;
		phone_step(tr, id, &r, PE_REG, false, "publish");
		publish_reply(tr, e, 200, "OK", "Expires: 0\r\n");
		phone_save(tr, id, &r);
		goto out;
	}
	etag = tr_sip_token("e");
	(void)str_dup(&r.pub_etag, etag ? etag : "");
	r.pub_until = wall_ms() + (uint64_t)expires * 1000;
	if (mbuf_get_left(msg->mb) && presence) {
		/* one document, two events, one presence for the outcome */
		phone_move(tr, id, &r, PE_REG, reg_on, "publish");
		if (reg_on)
			phone_move(tr, id, &r, PE_DIALOG, in_call, "publish");
		phone_show(tr, &r);
	} else if (mbuf_get_left(msg->mb)) {
		/* dialog-info says nothing about the registration */
		phone_step(tr, id, &r, PE_DIALOG, in_call, "publish");
	} else {
		/* a refresh: what was published still holds */
		keepalive(tr, id, &r, r.state != PH_OFFLINE);
	}
	snprintf(extra, sizeof(extra), "SIP-ETag: %s\r\nExpires: %u\r\n",
		 r.pub_etag, expires);
	publish_reply(tr, e, 200, "OK", extra);
	phone_save(tr, id, &r);
out:
	mem_deref(etag);
	phonerec_reset(&r);
}
