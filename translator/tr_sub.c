/**
 * @file tr_sub.c  Our subscriptions at the presence server (RFC 6665): the
 *                 reg (RFC 3680) and dialog (RFC 4235) events of each
 *                 phone of presence.phones. One record per subscription
 *                 (phonerec.h subrec), its dialog found by CK_SUB (Call-ID,
 *                 our tag); refreshes and retries are store deadlines.
 *
 *  state        event                      action              -> next
 *  -----------  -------------------------  ------------------  -----------
 *  (none)       ENSURE                     SUBSCRIBE           SUBSCRIBING
 *  SUBSCRIBING  R_OK (2xx)                 learn the dialog,
 *  | ACTIVE                                refresh deadline    ACTIVE
 *  SUBSCRIBING  R_FAIL 481, 408            a new dialog, retry
 *  | ACTIVE                                (1 s, then backoff) WAITING
 *  SUBSCRIBING  R_FAIL (other >= 300,      a new dialog, retry
 *  | ACTIVE     local failure)             with backoff        WAITING
 *  ACTIVE |     NOTIFY active|pending      200; the body to
 *  WAITING                                 the phone; refresh
 *                                          by its expires      ACTIVE
 *  SUBSCRIBING  NOTIFY active|pending      200; the body       -
 *  any          NOTIFY terminated          200; the body; a
 *                                          new dialog, retry
 *                                          with backoff (the
 *                                          longest for
 *                                          rejected,
 *                                          noresource)         WAITING
 *  ACTIVE       T_EXPIRED                  SUBSCRIBE in the
 *                                          dialog (refresh);
 *                                          failures forgotten  SUBSCRIBING
 *  WAITING      T_EXPIRED                  SUBSCRIBE, a new
 *                                          dialog              SUBSCRIBING
 *  any          its phone is gone          -                   GONE
 *
 * Event "presence" (SPEC 6.3, XMPP watchers of a SIP user): one record per
 * SIP URI and watcher (a bare JID of the served domains; regkey "e" "URI
 * SP JID"), holding the presence last seen. Its SUBSCRIBE is From the
 * watcher's own SIP address (RFC 7248 4), so that the presentity
 * authorizes each watcher. (A record of schema 5 was shared by all the
 * watchers of a URI, From the gateway: it goes on as it was, with a key
 * per watcher.) The rows above, and these first (W_: a watcher's stanza
 * to the URI's gateway JID):
 *
 *  state        event                      action              -> next
 *  -----------  -------------------------  ------------------  -----------
 *  (none)       W_SUBSCRIBE                SUBSCRIBE           SUBSCRIBING
 *  any but      W_SUBSCRIBE                the watcher added;
 *  ENDING                                  authorized: it gets
 *                                          subscribed and the
 *                                          presence seen       -
 *  ENDING       W_SUBSCRIBE                the watcher added, a
 *                                          new dialog,
 *                                          SUBSCRIBE           SUBSCRIBING
 *  any          W_UNSUBSCRIBE              unavailable to it;
 *                                          the watcher removed -
 *  SUBSCRIBING  W_UNSUBSCRIBE (the last)   SUBSCRIBE Expires 0 ENDING
 *  | ACTIVE     (in a dialog)
 *  SUBSCRIBING  W_UNSUBSCRIBE (the last;   - (it waits for the
 *               no dialog yet)             dialog)             -
 *  SUBSCRIBING  R_OK, NOTIFY active |      SUBSCRIBE Expires 0
 *  (no watcher) pending                    in the dialog       ENDING
 *  WAITING      W_UNSUBSCRIBE (the last)   forgotten           GONE
 *  any          W_PROBE                    a watcher: the
 *                                          presence seen; else
 *                                          unavailable         -
 *  any          NOTIFY active              200; the first:
 *                                          subscribed to every
 *                                          watcher; a PIDF that
 *                                          changes what is
 *                                          seen: presence to
 *                                          every watcher       ACTIVE
 *  any          NOTIFY pending             200, nothing yet    ACTIVE
 *  any          NOTIFY terminated          200; unsubscribed
 *               (rejected, noresource,     and unavailable to
 *               invariant, no reason)      every watcher       GONE
 *  not          R_FAIL (>= 300, timeout,   presence error to
 *  authorized   local failure)             every watcher       GONE
 *  ENDING       R_OK                       -                   -
 *  ENDING       R_FAIL, NOTIFY             forgotten           GONE
 *               terminated, T_EXPIRED
 *
 * Other terminations (deactivated, probation, timeout, giveup) and the
 * failures of an authorized subscription retry as the phones' do.
 *
 * A NOTIFY may come before the 2xx (RFC 6665 4.1.2.4): either creates the
 * dialog. A NOTIFY with a CSeq below the last is answered 500, one for a
 * subscription we do not have 481 (tr_from_sip.c). A 423 with a
 * Min-Expires above what was asked is asked again at once for that
 * (interval_too_brief). Not handled yet: a 401/407 to a SUBSCRIBE (it
 * fails and is retried as any failure).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "addr.h"
#include "keys.h"
#include "log.h"
#include "phonerec.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"

enum {
	RETRY_MIN_MS = 2000,
	TERMINATED_RETRY_MS = 1000,
	ENDING_MS = 32000,       /* Timer F: the un-SUBSCRIBE's answer */
	MIN_EXPIRES_MAX = 86400, /* a 423 asking for more is a failure */
	WATCHERS_MAX = 16384,    /* bytes of watchers' JIDs a record holds */
};

#define EV_PRESENCE "presence"

static bool presence_outcome(struct translator *tr, uint64_t id,
			     struct subrec *r, const struct tr_outcome *oc);
static void presence_notify(struct translator *tr, uint64_t id,
			    struct subrec *r, const struct call_ev *e,
			    const struct sip_hdr *ss, const struct pl *state);


static int sub_load(struct translator *tr, uint64_t id, struct subrec *r)
{
	const void *v;
	size_t vl;

	if (tr_rec_get(tr, DB_SUB, id, &v, &vl))
		return ENOENT;
	if (subrec_decode(r, v, vl)) {
		log_warn("subscription %llu: undecodable record",
			 (unsigned long long)id);
		return EBADMSG;
	}
	return 0;
}


static void sub_save(struct translator *tr, uint64_t id, struct subrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_SUB, id, &fb, subrec_encode(&fb, r));
}


static void sub_deadline(struct translator *tr, uint64_t id, struct subrec *r,
			 uint64_t when)
{
	if (r->deadline)
		tr_deadline_del(tr, r->deadline, OWN_SUB, id);
	r->deadline = when;
	if (when)
		tr_deadline(tr, when, OWN_SUB, id);
}


/* Its phone still configured? (the record, not the phone's machine) */
static bool phone_exists(struct translator *tr, uint64_t phone)
{
	const void *v;
	size_t vl;

	return !tr_rec_get(tr, DB_PHONE, phone, &v, &vl);
}


static bool is_presence(const struct subrec *r)
{
	return !strcmp(r->event, EV_PRESENCE);
}


/* A phone's subscription whose phone is no longer configured. */
static bool orphaned(struct translator *tr, const struct subrec *r)
{
	return !is_presence(r) && !phone_exists(tr, r->phone);
}


static void presentity_keys_del(struct translator *tr, const struct subrec *r);

static void sub_drop(struct translator *tr, uint64_t id, struct subrec *r)
{
	sub_deadline(tr, id, r, 0);
	tr_callrec_key_del(tr, CK_SUB, r->callid, r->ltag);
	if (is_presence(r))
		presentity_keys_del(tr, r);
	tr_rec_del(tr, DB_SUB, id);
}


static uint32_t expires_of(const struct translator *tr)
{
	const uint32_t e = tr->proc.cfg->presence.subscribe_expires_s;

	return e ? e : 3600;
}


/* A new dialog: new Call-ID and tag (the old key goes). */
static int new_dialog(struct translator *tr, uint64_t id, struct subrec *r)
{
	if (r->callid && r->ltag)
		tr_callrec_key_del(tr, CK_SUB, r->callid, r->ltag);
	mem_deref(r->callid);
	mem_deref(r->ltag);
	r->callid = tr_sip_token("xsgw-sub-");
	r->ltag = tr_sip_token("");
	r->rtag = mem_deref(r->rtag);
	r->rtarget = mem_deref(r->rtarget);
	r->routes = mem_deref(r->routes);
	r->lcseq = 0;
	r->rcseq = 0;
	if (!r->callid || !r->ltag)
		return ENOMEM;
	tr_callrec_key_put(tr, CK_SUB, r->callid, r->ltag, id);
	return 0;
}


/* What a SUBSCRIBE asks for: presence.subscribe_expires_s, or more if
 * the server asked for more (423; r->expires holds its Min-Expires until
 * a 2xx grants a value). */
static uint32_t expires_wanted(const struct translator *tr,
			       const struct subrec *r)
{
	return r->expires > expires_of(tr) ? r->expires : expires_of(tr);
}


static void subscribe(struct translator *tr, uint64_t id, struct subrec *r)
{
	r->lcseq++;
	r->out = tr_sip_subscribe(tr, id, r, expires_wanted(tr, r));
	r->state = SB_SUBSCRIBING;
}


/* RFC 6665 4.1.2.3: SUBSCRIBE with Expires 0 ends it. */
static void unsubscribe(struct translator *tr, uint64_t id, struct subrec *r)
{
	r->lcseq++;
	r->out = tr_sip_subscribe(tr, id, r, 0);
	r->state = SB_ENDING;
	sub_deadline(tr, id, r, wall_ms() + ENDING_MS);
}


static void wait_retry(struct translator *tr, uint64_t id, struct subrec *r,
		       uint32_t ms)
{
	r->state = SB_WAITING;
	r->out = 0;
	sub_deadline(tr, id, r, wall_ms() + ms);
}


static uint32_t backoff_ms(const struct translator *tr, const struct subrec *r)
{
	const uint32_t max = tr->proc.cfg->sip.register_retry_ms[1];
	uint64_t ms = RETRY_MIN_MS;

	for (uint32_t i = 1; i < r->failures && ms < max; i++)
		ms *= 2;
	return (uint32_t)(ms < max ? ms : max);
}


/* The phones' subscriptions found by one scan: bit 1 reg, bit 2 dialog
 * per phone (the store may hold many presence subscriptions: each record
 * is decoded once, not once per phone). */
struct found {
	size_t n;
	const uint64_t *phones;
	uint8_t *has;
};

static bool found_visit(const void *k, size_t kl, const void *v, size_t vl,
			void *arg)
{
	struct found *f = arg;
	struct subrec r;

	if (kl != 8 || subrec_decode(&r, v, vl))
		return true;
	for (size_t i = 0; r.phone && !is_presence(&r) && i < f->n; i++)
		if (f->phones[i] == r.phone)
			f->has[i] |= !strcmp(r.event, "reg") ? 1 : 2;
	subrec_reset(&r);
	return true;
}


static void sub_new(struct translator *tr, uint64_t phone, const char *event,
		    const char *target)
{
	struct subrec r = {0};
	uint64_t id = store_next_id(tr_txn(tr));

	r.created = wall_ms();
	r.phone = phone;
	if (str_dup(&r.event, event) || str_dup(&r.target, target) ||
	    new_dialog(tr, id, &r)) {
		subrec_reset(&r);
		return;
	}
	subscribe(tr, id, &r);
	sub_save(tr, id, &r);
	log_info("subscription %llu: %s of %s", (unsigned long long)id, event,
		 target);
	subrec_reset(&r);
}


void tr_sub_ensure_all(struct translator *tr, size_t n, const uint64_t *phones,
		       const char *const *targets)
{
	struct found f = {n, phones, mem_zalloc(n ? n : 1, NULL)};

	if (!f.has)
		return;
	store_scan(tr_txn(tr), DB_SUB, NULL, 0, found_visit, &f);
	for (size_t i = 0; i < n; i++) {
		if (!phones[i])
			continue;
		if (!(f.has[i] & 1))
			sub_new(tr, phones[i], "reg", targets[i]);
		if (!(f.has[i] & 2))
			sub_new(tr, phones[i], "dialog", targets[i]);
	}
	mem_deref(f.has);
}


/* The dialog as a 2xx (UAC: reversed route set) or a NOTIFY (as UAS)
 * makes it, once. */
static void learn(struct subrec *r, const struct sip_msg *msg, bool response)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr a;

	if (r->rtag && *r->rtag)
		return;
	r->rtag = mem_deref(r->rtag);
	r->rtarget = mem_deref(r->rtarget);
	mem_deref(r->routes);
	(void)pl_strdup(&r->rtag, response ? &msg->to.tag : &msg->from.tag);
	if (h && !sip_addr_decode(&a, &h->val) && addr_sip_clean(&a.auri))
		(void)pl_strdup(&r->rtarget, &a.auri);
	r->routes = tr_sip_route_set(msg, response);
}


/* RFC 6665 4.1.2.1, RFC 3261 10.2.8: 423 with a Min-Expires above what
 * we asked: asked again at once, for that. @return true if it was */
static bool interval_too_brief(struct translator *tr, uint64_t id,
			       struct subrec *r, const struct tr_outcome *oc)
{
	const struct sip_hdr *h =
		oc->msg ? sip_msg_hdr(oc->msg, SIP_HDR_MIN_EXPIRES) : NULL;
	const uint32_t min = h ? pl_u32(&h->val) : 0;

	if (oc->scode != 423 || r->state == SB_ENDING ||
	    min <= expires_wanted(tr, r) || min > MIN_EXPIRES_MAX)
		return false;
	log_info("subscription %llu (%s of %s): 423, Min-Expires %u",
		 (unsigned long long)id, r->event, r->target, min);
	r->expires = min;
	subscribe(tr, id, r);
	sub_save(tr, id, r);
	return true;
}


void tr_sub_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc)
{
	struct subrec r;

	if (oc->scode < 200 || sub_load(tr, id, &r))
		return;
	if (orphaned(tr, &r)) {
		sub_drop(tr, id, &r);
		goto out;
	}
	if (!oc->out || oc->out != r.out)
		goto out; /* an older SUBSCRIBE's */
	r.out = 0;
	r.last_code = oc->scode;
	mem_deref(r.last_reason);
	(void)str_dup(&r.last_reason, oc->reason);
	if (interval_too_brief(tr, id, &r, oc))
		goto out;
	if (is_presence(&r) && presence_outcome(tr, id, &r, oc))
		goto out;
	if (oc->scode < 300 && oc->msg) {
		uint32_t granted = pl_isset(&oc->msg->expires)
					   ? pl_u32(&oc->msg->expires)
					   : expires_of(tr);
		learn(&r, oc->msg, true);
		r.state = SB_ACTIVE;
		r.expires = granted;
		sub_deadline(tr, id, &r,
			     wall_ms() +
				     (uint64_t)(granted ? granted : 1) * 900);
	} else if (oc->scode == 481 || oc->scode == 408) {
		/* the dialog is gone (RFC 6665 4.1.2.2): a new one */
		r.failures++;
		if (!new_dialog(tr, id, &r))
			wait_retry(tr, id, &r,
				   r.failures > 1 ? backoff_ms(tr, &r)
						  : TERMINATED_RETRY_MS);
	} else {
		r.failures++;
		log_info("subscription %llu (%s of %s): %u %s",
			 (unsigned long long)id, r.event, r.target, oc->scode,
			 oc->reason);
		if (!new_dialog(tr, id, &r))
			wait_retry(tr, id, &r, backoff_ms(tr, &r));
	}
	sub_save(tr, id, &r);
out:
	subrec_reset(&r);
}


void tr_sub_expired(struct translator *tr, uint64_t id)
{
	struct subrec r;

	if (sub_load(tr, id, &r))
		return;
	r.deadline = 0; /* taken from the store as it passed */
	if (orphaned(tr, &r) || r.state == SB_ENDING) {
		sub_drop(tr, id, &r);
		goto out;
	}
	if (r.state == SB_ACTIVE)
		r.failures = 0; /* it lived a whole period: healthy */
	if (r.state == SB_ACTIVE || r.state == SB_WAITING)
		subscribe(tr, id, &r);
	sub_save(tr, id, &r);
out:
	subrec_reset(&r);
}


bool tr_sub_wants(struct translator *tr, uint64_t id)
{
	const void *v;
	size_t vl;

	return !tr_rec_get(tr, DB_SUB, id, &v, &vl);
}


static void reply(struct translator *tr, const struct call_ev *e,
		  unsigned scode, const char *reason)
{
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .scode = scode,
				  .reason = reason};

	(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


/* ---- event "presence": XMPP watchers of a SIP user ------------------ */

/* The next line of *list into out (cut to sz); false at the end. */
static bool next_line(const char **list, char *out, size_t sz)
{
	const char *p = *list, *e;
	size_t n;

	if (!p || !*p)
		return false;
	e = strchr(p, '\n');
	n = e ? (size_t)(e - p) : strlen(p);
	*list = e ? e + 1 : p + n;
	if (n >= sz)
		n = sz - 1;
	memcpy(out, p, n);
	out[n] = 0;
	return true;
}


static void presentity_keys_del(struct translator *tr, const struct subrec *r)
{
	const char *l = r->watchers;
	char w[512], k[KEY_MAX];

	while (next_line(&l, w, sizeof(w)))
		if (key_presentity(k, sizeof(k), r->target, w))
			tr_regrec_key_del(tr, RK_PRESENTITY, k);
}


/* Has the subscription a watcher left? */
static bool watched(const struct subrec *r)
{
	return r->watchers && *r->watchers;
}


static bool watcher_has(const struct subrec *r, const char *jid)
{
	const char *l = r->watchers;
	char w[512];

	while (next_line(&l, w, sizeof(w)))
		if (!strcmp(w, jid))
			return true;
	return false;
}


/* @return 0, ENOMEM, or ENOSPC (the record holds as many as it may) */
static int watcher_add(struct subrec *r, const char *jid)
{
	char *l = NULL;

	if (watcher_has(r, jid))
		return 0;
	if ((r->watchers ? strlen(r->watchers) : 0) + strlen(jid) >=
	    WATCHERS_MAX)
		return ENOSPC;
	if (re_sdprintf(&l, "%s%s\n", r->watchers ? r->watchers : "", jid))
		return ENOMEM;
	mem_deref(r->watchers);
	r->watchers = l;
	return 0;
}


/* @return true if jid was a watcher (it is not any more) */
static bool watcher_del(struct subrec *r, const char *jid)
{
	const char *l = r->watchers;
	char *rest = NULL, *t, w[512];
	bool found = false;

	if (str_dup(&rest, ""))
		return false;
	while (next_line(&l, w, sizeof(w))) {
		if (!strcmp(w, jid)) {
			found = true;
			continue;
		}
		t = NULL;
		if (re_sdprintf(&t, "%s%s\n", rest, w)) {
			mem_deref(rest);
			return false;
		}
		mem_deref(rest);
		rest = t;
	}
	if (found) {
		mem_deref(r->watchers);
		r->watchers = rest;
	} else
		mem_deref(rest);
	return found;
}


/* A presence from the SIP user's gateway JID: of type (subscribed,
 * unsubscribed, unavailable), or with type NULL the presence seen (RFC
 * 7248: open is available with its show and status and XEP-0115 caps,
 * anything else unavailable). */
static void presence_to(struct translator *tr, const struct subrec *r,
			const char *from, const char *to, const char *type)
{
	xmpp_stanza_t *p = xmpp_presence_new(tr->xctx);
	const char *status = NULL;

	xmpp_stanza_set_from(p, from);
	xmpp_stanza_set_to(p, to);
	if (type)
		xmpp_stanza_set_type(p, type);
	else if (r->open != SO_OPEN)
		xmpp_stanza_set_type(p, "unavailable");
	if (!type) {
		if (r->open == SO_OPEN && r->show && *r->show)
			xu_text_elem(tr->xctx, p, "show", NULL, r->show);
		status = r->status;
	}
	if (status && *status)
		xu_text_elem(tr->xctx, p, "status", NULL, status);
	if (!type && r->open == SO_OPEN)
		tr_xmpp_caps(tr, p); /* a phone that takes calls */
	tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, p);
	xmpp_stanza_release(p);
}


/* The subscription failed: <presence type='error'/> with cond (RFC 6121
 * 3.1.3: the contact's server could not deliver it). */
static void presence_error(struct translator *tr, const char *from,
			   const char *to, const char *cond, const char *text)
{
	xmpp_stanza_t *p = xmpp_presence_new(tr->xctx);

	xmpp_stanza_set_type(p, "error");
	xmpp_stanza_set_from(p, from);
	xmpp_stanza_set_to(p, to);
	xu_add_error(tr->xctx, p, cond, text);
	tr_xmpp_send(tr, (struct tr_owner){OWN_NONE, 0}, p);
	xmpp_stanza_release(p);
}


/* type (see presence_to) to every watcher. */
static void to_watchers(struct translator *tr, const struct subrec *r,
			const char *type)
{
	const char *l = r->watchers;
	char w[512];

	while (next_line(&l, w, sizeof(w)))
		presence_to(tr, r, r->gwjid, w, type);
}


/* RFC 7247 8 / RFC 6120 8.3.3: why the presence server did not take it. */
static const char *failure_cond(const struct tr_outcome *oc)
{
	if (!oc->msg && oc->scode == 408)
		return "remote-server-timeout";
	if (!oc->msg)
		return "remote-server-not-found";
	return addr_sip_to_xmpp_error(oc->scode);
}


/* An outcome only a presence subscription takes: the un-SUBSCRIBE's, and
 * the failure of one never authorized (its watchers are told why).
 * @return true if it was (r saved or dropped) */
static bool presence_outcome(struct translator *tr, uint64_t id,
			     struct subrec *r, const struct tr_outcome *oc)
{
	const bool ok = oc->scode < 300 && oc->msg;
	const char *l = r->watchers;
	char w[512], text[160];

	if (r->state == SB_ENDING) {
		/* a 2xx: the final NOTIFY (or the deadline) forgets it */
		if (ok)
			sub_save(tr, id, r);
		else
			sub_drop(tr, id, r);
		return true;
	}
	if (ok && !watched(r)) {
		/* its watcher left before this answer: the un-SUBSCRIBE
		 * goes in the dialog it makes */
		learn(r, oc->msg, true);
		unsubscribe(tr, id, r);
		sub_save(tr, id, r);
		return true;
	}
	if (ok || r->authorized)
		return false;
	snprintf(text, sizeof(text), "presence server: %u %s", oc->scode,
		 oc->reason ? oc->reason : "");
	log_info("subscription %llu (presence of %s): %s: its watchers are "
		 "told",
		 (unsigned long long)id, r->target, text);
	while (next_line(&l, w, sizeof(w)))
		presence_error(tr, r->gwjid, w, failure_cond(oc), text);
	sub_drop(tr, id, r);
	return true;
}


/* RFC 6665 4.1.3: reasons after which subscribing again is pointless;
 * without a reason the subscriber may, but the server ended it. */
static bool terminated_final(const struct sip_hdr *ss)
{
	struct pl reason;

	if (re_regex(ss->val.p, ss->val.l, "reason=[a-z]+", &reason))
		return true;
	return pl_strcmp(&reason, "deactivated") &&
	       pl_strcmp(&reason, "probation") &&
	       pl_strcmp(&reason, "timeout") && pl_strcmp(&reason, "giveup");
}


/* The NOTIFY's PIDF into r (a body we cannot read changes nothing).
 * @return true if what the watchers see changed */
static bool presence_seen(struct translator *tr, uint64_t id, struct subrec *r,
			  const struct sip_msg *msg)
{
	const size_t n = mbuf_get_left(msg->mb);
	struct tr_pidf p;
	char *body = NULL;
	uint32_t open;
	int err = 0;

	memset(&p, 0, sizeof(p));
	if (n && (pl_strcasecmp(&msg->ctyp.type, "application") ||
		  pl_strcasecmp(&msg->ctyp.subtype, "pidf+xml")))
		err = EPROTO;
	else if (n && memchr(mbuf_buf(msg->mb), 0, n))
		err = EBADMSG;
	else if (n && re_sdprintf(&body, "%b", mbuf_buf(msg->mb), n))
		err = ENOMEM;
	else if (n)
		err = tr_pidf_presence(tr, body, &p);
	mem_deref(body);
	if (err) {
		log_warn("subscription %llu (presence of %s): NOTIFY body "
			 "unreadable (%s): ignored",
			 (unsigned long long)id, r->target, strerror(err));
		return false;
	}
	/* no body: the server knows nothing of it (no publication) */
	open = p.open ? SO_OPEN : SO_CLOSED;
	if (open == r->open && !strcmp(p.show, r->show ? r->show : "") &&
	    !strcmp(p.status, r->status ? r->status : ""))
		return false;
	r->open = open;
	r->show = mem_deref(r->show);
	r->status = mem_deref(r->status);
	(void)str_dup(&r->show, p.show);
	(void)str_dup(&r->status, p.status);
	log_info("presence of %s: %s%s%s", r->target,
		 open == SO_OPEN ? "open" : "closed", *p.show ? " " : "",
		 p.show);
	return true;
}


/* A NOTIFY of a presence subscription (answered here; r saved or
 * dropped). */
static void presence_notify(struct translator *tr, uint64_t id,
			    struct subrec *r, const struct call_ev *e,
			    const struct sip_hdr *ss, const struct pl *state)
{
	struct pl ex;
	uint32_t s;

	reply(tr, e, 200, "OK");
	if (!pl_strcasecmp(state, "terminated")) {
		if (r->state == SB_ENDING || terminated_final(ss) ||
		    !watched(r)) {
			if (r->state != SB_ENDING) {
				log_info("subscription %llu (presence of %s) "
					 "ended by the server: %r",
					 (unsigned long long)id, r->target,
					 &ss->val);
				to_watchers(tr, r, "unsubscribed");
				to_watchers(tr, r, "unavailable");
			}
			sub_drop(tr, id, r);
			return;
		}
		r->failures++;
		if (!new_dialog(tr, id, r))
			wait_retry(tr, id, r, backoff_ms(tr, r));
		sub_save(tr, id, r);
		return;
	}
	if (r->state == SB_ENDING) {
		sub_save(tr, id, r);
		return;
	}
	if (!watched(r)) {
		/* its watcher left before the SUBSCRIBE was answered: this
		 * NOTIFY made the dialog the un-SUBSCRIBE goes in */
		unsubscribe(tr, id, r);
		sub_save(tr, id, r);
		return;
	}
	s = !re_regex(ss->val.p, ss->val.l, "expires=[0-9]+", &ex)
		    ? pl_u32(&ex)
		    : expires_of(tr);
	if (r->state != SB_SUBSCRIBING)
		r->state = SB_ACTIVE;
	r->expires = s;
	if (r->state == SB_ACTIVE)
		sub_deadline(tr, id, r,
			     wall_ms() + (uint64_t)(s ? s : 1) * 900);
	if (!pl_strcasecmp(state, "active")) {
		if (!r->authorized) {
			/* RFC 6665 4.1.2.1: the 2xx only said it was taken;
			 * active says the watchers may see it */
			r->authorized = 1;
			to_watchers(tr, r, "subscribed");
		}
		if (presence_seen(tr, id, r, e->msg))
			to_watchers(tr, r, NULL);
	}
	sub_save(tr, id, r);
}


void tr_sub_watch(struct translator *tr, xmpp_stanza_t *st)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	const char *type = xu_attr(st, "type");
	char watcher[512], gwjid[512], node[512], uri[600], key[KEY_MAX];
	char from[600];
	const char *at;
	struct subrec r = {0};
	uint64_t id;
	int err;

	xu_bare(xu_attr(st, "from"), watcher, sizeof(watcher));
	xu_bare(xu_attr(st, "to"), gwjid, sizeof(gwjid));
	at = strchr(gwjid, '@');
	if (!at || (size_t)(at - gwjid) >= sizeof(node))
		return;
	memcpy(node, gwjid, (size_t)(at - gwjid));
	node[at - gwjid] = 0;
	err = addr_gwnode_to_sip(cfg, node, uri, sizeof(uri));
	if (err) {
		/* F9: a host the gateway may not send to is no malformed
		 * address */
		if (!strcmp(type, "subscribe"))
			presence_error(tr, gwjid, watcher,
				       err == EPERM ? "forbidden"
						    : "jid-malformed",
				       err == EPERM ? "that SIP domain is not "
						      "served"
						    : "not a SIP address");
		return;
	}
	if (!key_presentity(key, sizeof(key), uri, watcher)) {
		if (!strcmp(type, "subscribe"))
			presence_error(tr, gwjid, watcher, "not-acceptable",
				       "address too long");
		return;
	}
	id = tr_regrec_key_get(tr, RK_PRESENTITY, key);
	if (id && sub_load(tr, id, &r))
		return;
	if (!strcmp(type, "probe")) {
		/* from the store; nothing is revealed to a non-watcher */
		if (id && r.authorized && watcher_has(&r, watcher))
			presence_to(tr, &r, gwjid, xu_attr(st, "from"), NULL);
		else
			presence_to(tr, &r, gwjid, xu_attr(st, "from"),
				    "unavailable");
		goto out;
	}
	if (!strcmp(type, "unsubscribe")) {
		/* RFC 6121 3.3.3: the contact shows unavailable to it */
		presence_to(tr, &r, gwjid, watcher, "unavailable");
		if (!id || !watcher_del(&r, watcher))
			goto out;
		tr_regrec_key_del(tr, RK_PRESENTITY, key);
		log_info("subscription %llu (presence of %s): %s left",
			 (unsigned long long)id, r.target, watcher);
		if (watched(&r))
			sub_save(tr, id, &r);
		else if (r.state == SB_WAITING || r.state == SB_ENDING)
			sub_drop(tr, id, &r);
		else if (r.state == SB_SUBSCRIBING && !(r.rtag && *r.rtag))
			sub_save(tr, id, &r); /* no dialog yet: at its answer */
		else {
			unsubscribe(tr, id, &r);
			sub_save(tr, id, &r);
		}
		goto out;
	}
	if (strcmp(type, "subscribe"))
		goto out;
	if (!id) {
		/* F9: the SUBSCRIBE goes to the URI's host without a
		 * presence server or proxy */
		char host[600];
		snprintf(host, sizeof(host), "%s",
			 strchr(uri, '@') ? strchr(uri, '@') + 1 : "");
		host[strcspn(host, ";")] = 0;
		if (!cfg->presence.server.port && !cfg->sip.proxy.port &&
		    !addr_sip_host_allowed(cfg, host)) {
			presence_error(tr, gwjid, watcher, "forbidden",
				       "no presence server for that domain");
			goto out;
		}
		if (!tr_admit(tr)) {
			presence_error(tr, gwjid, watcher,
				       "resource-constraint",
				       "the gateway is full; try later");
			goto out;
		}
		/* RFC 7248 4: From the watcher's own SIP address, so that
		 * the presentity authorizes each watcher, not the gateway */
		if (addr_user_to_sip(cfg, watcher, from, sizeof(from))) {
			presence_error(tr, gwjid, watcher, "forbidden",
				       "not a user of this gateway");
			goto out;
		}
		id = store_next_id(tr_txn(tr));
		r.created = wall_ms();
		if (str_dup(&r.event, EV_PRESENCE) || str_dup(&r.target, uri) ||
		    str_dup(&r.gwjid, gwjid) || str_dup(&r.from, from) ||
		    new_dialog(tr, id, &r))
			goto out;
		tr_regrec_key_put(tr, RK_PRESENTITY, key, id);
		log_info("subscription %llu: presence of %s for %s (%s)",
			 (unsigned long long)id, uri, watcher, gwjid);
	}
	err = watcher_add(&r, watcher);
	if (err) {
		presence_error(tr, gwjid, watcher, "resource-constraint",
			       "too many watchers");
		goto out;
	}
	if (!r.state || r.state == SB_ENDING) {
		/* the first watcher, or one back before it ended: anew */
		if (r.state == SB_ENDING) {
			sub_deadline(tr, id, &r, 0);
			if (new_dialog(tr, id, &r))
				goto out;
		}
		r.authorized = 0;
		r.open = SO_UNKNOWN;
		r.failures = 0;
		subscribe(tr, id, &r);
	} else if (r.authorized) {
		presence_to(tr, &r, gwjid, watcher, "subscribed");
		presence_to(tr, &r, gwjid, watcher, NULL);
	}
	log_info("subscription %llu (presence of %s): watched by %s",
		 (unsigned long long)id, r.target, watcher);
	sub_save(tr, id, &r);
out:
	subrec_reset(&r);
}


uint64_t tr_sub_notify(struct translator *tr, uint64_t id,
		       const struct call_ev *e, char *kind,
		       struct tr_reginfo *ri, struct tr_dialoginfo *di)
{
	const struct sip_msg *msg = e->msg;
	const struct sip_hdr *ss = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	struct subrec r;
	struct pl state = PL_INIT, ex;
	char *body = NULL;
	uint64_t phone = 0;
	int err = 0;

	*kind = 0;
	if (sub_load(tr, id, &r)) {
		reply(tr, e, 481, "Subscription Does Not Exist");
		return 0;
	}
	if (r.rcseq && msg->cseq.num < r.rcseq) {
		reply(tr, e, 500, "Out Of Order CSeq");
		goto out;
	}
	if (!ss || re_regex(ss->val.p, ss->val.l, "[a-zA-Z]+", &state)) {
		reply(tr, e, 400, "Missing Subscription-State");
		goto out;
	}
	r.rcseq = msg->cseq.num;
	learn(&r, msg, false);
	if (is_presence(&r)) {
		presence_notify(tr, id, &r, e, ss, &state);
		goto out;
	}
	if (mbuf_get_left(msg->mb)) {
		body = NULL;
		if (memchr(mbuf_buf(msg->mb), 0, mbuf_get_left(msg->mb)) ||
		    re_sdprintf(&body, "%b", mbuf_buf(msg->mb),
				mbuf_get_left(msg->mb)))
			err = EBADMSG;
		else if (!strcmp(r.event, "reg"))
			err = tr_pidf_reginfo(tr, body, ri);
		else
			err = tr_pidf_dialoginfo(tr, body, di);
		if (err) {
			/* a document we cannot read changes nothing */
			log_warn("subscription %llu (%s of %s): NOTIFY body "
				 "unreadable: ignored",
				 (unsigned long long)id, r.event, r.target);
		} else {
			*kind = !strcmp(r.event, "reg") ? 'r' : 'd';
			phone = r.phone;
		}
	}
	reply(tr, e, 200, "OK");
	if (!pl_strcasecmp(&state, "terminated")) {
		/* RFC 6665 4.1.3: subscribe again (a new dialog), with a
		 * growing delay: a server that accepts and then ends it at
		 * once is not asked every second; "rejected" and "noresource"
		 * will not change soon */
		const bool final = re_regex(ss->val.p, ss->val.l,
					    "reason=rejected") == 0 ||
				   re_regex(ss->val.p, ss->val.l,
					    "reason=noresource") == 0;
		r.failures++;
		if (!new_dialog(tr, id, &r))
			wait_retry(
				tr, id, &r,
				final ? tr->proc.cfg->sip.register_retry_ms[1]
				      : backoff_ms(tr, &r));
	} else {
		uint32_t s =
			!re_regex(ss->val.p, ss->val.l, "expires=[0-9]+", &ex)
				? pl_u32(&ex)
				: expires_of(tr);
		if (r.state != SB_SUBSCRIBING)
			r.state = SB_ACTIVE;
		r.expires = s;
		if (r.state == SB_ACTIVE)
			sub_deadline(tr, id, &r,
				     wall_ms() + (uint64_t)(s ? s : 1) * 900);
	}
	sub_save(tr, id, &r);
out:
	mem_deref(body);
	subrec_reset(&r);
	return phone;
}
