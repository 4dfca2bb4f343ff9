/**
 * @file tr_phone.c  The phone state machine (SPEC 6.3, perl-bosh's model):
 *                   a phone of presence.phones is in one of five states,
 *                   driven by the reg and dialog events the presence
 *                   server NOTIFYs (tr_sub.c), and shown as the presence of
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
 *                               for keepalive_max_s)
 *
 * Every event but the last pushes the keepalive deadline. The owner sees
 * available "Phone online" (online, still-online), dnd "On the phone"
 * (onthephone, still-onthephone) or unavailable (offline): a presence is
 * sent when what it shows changes, never for a refresh that changes
 * nothing.
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


/* The phone's presence as it is now, to one JID. */
static void presence_to(struct translator *tr, const struct phonerec *r,
			const char *to)
{
	xmpp_stanza_t *p = xmpp_presence_new(tr->xctx);
	char from[600];

	snprintf(from, sizeof(from), "%s/%s", r->gwjid,
		 *r->res ? r->res : "phone");
	xmpp_stanza_set_from(p, from);
	xmpp_stanza_set_to(p, to);
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
	tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, p);
	xmpp_stanza_release(p);
}


static void keepalive(struct translator *tr, uint64_t id, struct phonerec *r,
		      bool on)
{
	const uint32_t s = tr->proc.cfg->presence.keepalive_max_s;

	if (r->deadline)
		tr_deadline_del(tr, r->deadline, OWN_PHONE, id);
	r->deadline = on && s ? wall_ms() + (uint64_t)s * 1000 : 0;
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


/* Load, apply, save once; tell the owner if what it shows changed. */
static void phone_apply(struct translator *tr, uint64_t id, enum phone_event ev,
			bool on, const char *source)
{
	struct phonerec r;
	uint32_t next;

	if (phone_load(tr, id, &r))
		return;
	if (ev == PE_T_KEEPALIVE) {
		r.deadline = 0; /* taken from the store as it passed */
		if (r.state == PH_OFFLINE)
			goto out;
	}
	next = next_state(r.state, ev, on);
	if (next != r.state)
		phone_event(&r, "%s (%s)", phonerec_state_name[next], source);
	log_info("phone %s: %s -> %s (%s)", r.aor, phonerec_state_name[r.state],
		 phonerec_state_name[next], source);
	r.state = next;
	r.last_event = wall_ms();
	mem_deref(r.source);
	(void)str_dup(&r.source, source);
	keepalive(tr, id, &r, ev != PE_T_KEEPALIVE && next != PH_OFFLINE);
	if (shown_of(r.state) != r.shown) {
		r.shown = shown_of(r.state);
		presence_to(tr, &r, r.jid);
	}
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


uint64_t tr_phone_ensure(struct translator *tr, const struct cfg_presphone *p)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	struct phonerec r = {0};
	char user[256], host[256], gw[600];
	struct uri u;
	struct pl pl;
	uint64_t id = tr_regrec_key_get(tr, RK_PHONE, p->sip);

	if (id)
		return id;
	pl_set_str(&pl, p->sip);
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
	if (str_dup(&r.aor, p->sip) || str_dup(&r.jid, p->jid) ||
	    str_dup(&r.res, p->resource ? p->resource : "") ||
	    str_dup(&r.gwjid, gw) || str_dup(&r.source, "config")) {
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
		if (r.shown != PS_UNAVAILABLE && r.shown != PS_NONE) {
			r.state = PH_OFFLINE;
			presence_to(tr, &r, r.jid);
		}
		keepalive(tr, u.ids[i], &r, false);
		tr_regrec_key_del(tr, RK_PHONE, r.aor);
		tr_regrec_key_del(tr, RK_PHONE_JID, r.gwjid);
		tr_rec_del(tr, DB_PHONE, u.ids[i]);
		phonerec_reset(&r);
	}
}
