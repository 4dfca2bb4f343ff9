/**
 * @file tr_watch.c  SIP watchers of served XMPP users (SPEC 6.3, RFC 6665,
 *                   RFC 3856, RFC 7248): a SUBSCRIBE "Event: presence" for
 *                   a user makes a dialog in which the gateway is the
 *                   notifier. One record per watcher (watchrec.h), found
 *                   by its dialog (callkey "w": Call-ID, our tag; "v":
 *                   Call-ID, the watcher's tag) and by its user (watchkey
 *                   "u": user, gateway JID, id); its expiry is a store
 *                   deadline. The user is asked with <presence
 *                   type='subscribe'/> from the watcher's gateway JID (SPEC
 *                   5) and answers subscribed / unsubscribed to it.
 *
 *  state       event                   action                     -> next
 *  ----------  ----------------------  -------------------------  --------
 *  (none)      SUBSCRIBE (Expires > 0) 202; NOTIFY pending; ask
 *                                      the user (subscribe); 503
 *                                      past MAX_WATCHERS          PENDING
 *  (none)      UNSUBSCRIBE (a fetch,   202; NOTIFY terminated;
 *              Expires: 0)             reason=timeout             TERMINATED
 *  PENDING     REFRESH                 200; NOTIFY pending        PENDING
 *  ACTIVE      REFRESH                 200; NOTIFY active + PIDF  ACTIVE
 *  PENDING |   UNSUBSCRIBE             200; NOTIFY terminated
 *  ACTIVE                              (+ PIDF if active); the
 *                                      user's subscription
 *                                      cancelled (unsubscribe)
 *                                      unless another watcher
 *                                      from that JID lives        TERMINATED
 *  PENDING     APPROVED (subscribed)   NOTIFY active + PIDF       ACTIVE
 *  PENDING |   REFUSED (unsubscribed)  NOTIFY terminated;
 *  ACTIVE                              reason=rejected            TERMINATED
 *  ACTIVE      PRESENCE                NOTIFY active + PIDF when
 *                                      what it shows changed      ACTIVE
 *  PENDING |   T_EXPIRED               NOTIFY terminated;
 *  ACTIVE                              reason=timeout             TERMINATED
 *  PENDING |   R_GONE (a NOTIFY        - (the watcher is gone,
 *  ACTIVE      failed: any error but   RFC 6665 4.2.2)            (none)
 *              491 and 500/503 with
 *              Retry-After, a timeout,
 *              a transport error)
 *  TERMINATED  R_FINAL (the final      -                          (none)
 *              NOTIFY's outcome)
 *  TERMINATED  T_EXPIRED (no outcome)  -                          (none)
 *  TERMINATED  REFRESH | UNSUBSCRIBE   481 (the one that ended it
 *                                      again: its answer again)   -
 *
 * Any other (state, event) changes nothing. One event: the record is
 * loaded once, the row applied, the record saved once (or dropped); what
 * the row sends goes through the outbox, after the commit. A NOTIFY says
 * the user's presence as the store has it (presence database: every
 * resource, tr_presence.c), so a restarted translator says the same; the
 * record keeps what its watcher was last told, so a presence that changes
 * nothing for it (the same presence routed again, to another gateway JID)
 * NOTIFYs nobody.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "addr.h"
#include "keys.h"
#include "log.h"
#include "presrec.h"
#include "translator.h"
#include "util.h"
#include "watchrec.h"

enum {
	WS_NONE = 0,            /**< no record: created, or dropped */
	DROP_MS = 40000,        /**< a final NOTIFY's outcome comes within
				   Timer F (32 s) */
	DEFAULT_EXPIRES = 3600, /**< RFC 3856 6.4 */
	HISTORY_MAX = 2048,
	MAX_WATCHERS = 256, /**< of one user, told in one batch */
};

enum watch_event {
	WE_SUBSCRIBE = 1, /**< a new SUBSCRIBE, Expires > 0 */
	WE_REFRESH,       /**< a SUBSCRIBE in the dialog, Expires > 0 */
	WE_UNSUBSCRIBE,   /**< a SUBSCRIBE with Expires: 0 */
	WE_APPROVED,      /**< the user: subscribed */
	WE_REFUSED,       /**< the user: unsubscribed */
	WE_PRESENCE,      /**< the user's presence may have changed */
	WE_T_EXPIRED,     /**< the record's deadline passed */
	WE_R_OUTCOME,     /**< a NOTIFY's outcome (refined below) */
	WE_R_GONE,        /**< a NOTIFY failed (notify_failed) */
	WE_R_FINAL,       /**< the final NOTIFY's outcome */
	WE_COUNT
};

static const char *event_name[WE_COUNT] = {
	"?",        "subscribe", "refresh",   "unsubscribe",
	"approved", "refused",   "presence",  "expired",
	"outcome",  "gone",      "final done"};

/** What an event carries. */
struct watch_ev {
	const struct call_ev *e;         /**< a SUBSCRIBE */
	uint32_t expires;                /**< its Expires, granted */
	const char *user, *gwjid, *evid; /**< a new watcher's */
	const struct tr_outcome *oc;     /**< WE_R_OUTCOME */
};

struct wctx {
	struct translator *tr;
	uint64_t id;
	struct watchrec *r;
	const struct watch_ev *w;
};

/* An action: 0, or nonzero to leave the record as it was (nothing
 * changed, or the event was refused). */
typedef int(watch_act_h)(struct wctx *c);

static watch_act_h act_create, act_fetch, act_refresh, act_unsubscribe,
	act_activate, act_reject, act_change, act_timeout, act_gone, act_481;

static const struct rule {
	uint32_t state;
	enum watch_event ev;
	watch_act_h *act;
	uint32_t next;
} rules[] = {
	{WS_NONE, WE_SUBSCRIBE, act_create, WS_PENDING},
	{WS_NONE, WE_UNSUBSCRIBE, act_fetch, WS_TERMINATED},
	{WS_PENDING, WE_REFRESH, act_refresh, WS_PENDING},
	{WS_ACTIVE, WE_REFRESH, act_refresh, WS_ACTIVE},
	{WS_PENDING, WE_UNSUBSCRIBE, act_unsubscribe, WS_TERMINATED},
	{WS_ACTIVE, WE_UNSUBSCRIBE, act_unsubscribe, WS_TERMINATED},
	{WS_PENDING, WE_APPROVED, act_activate, WS_ACTIVE},
	{WS_PENDING, WE_REFUSED, act_reject, WS_TERMINATED},
	{WS_ACTIVE, WE_REFUSED, act_reject, WS_TERMINATED},
	{WS_ACTIVE, WE_PRESENCE, act_change, WS_ACTIVE},
	{WS_PENDING, WE_T_EXPIRED, act_timeout, WS_TERMINATED},
	{WS_ACTIVE, WE_T_EXPIRED, act_timeout, WS_TERMINATED},
	{WS_PENDING, WE_R_GONE, act_gone, WS_NONE},
	{WS_ACTIVE, WE_R_GONE, act_gone, WS_NONE},
	{WS_TERMINATED, WE_R_FINAL, NULL, WS_NONE},
	{WS_TERMINATED, WE_T_EXPIRED, NULL, WS_NONE},
	{WS_TERMINATED, WE_REFRESH, act_481, WS_TERMINATED},
	{WS_TERMINATED, WE_UNSUBSCRIBE, act_481, WS_TERMINATED},
};


/* ---- the record ---------------------------------------------------- */

static int watch_load(struct translator *tr, uint64_t id, struct watchrec *r)
{
	const void *v;
	size_t vl;

	if (tr_rec_get(tr, DB_WATCH, id, &v, &vl))
		return ENOENT;
	if (watchrec_decode(r, v, vl)) {
		log_warn("watcher %llu: undecodable record",
			 (unsigned long long)id);
		return EBADMSG;
	}
	return 0;
}


static void watch_save(struct translator *tr, uint64_t id, struct watchrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_WATCH, id, &fb, watchrec_encode(&fb, r));
}


static void watch_deadline(struct translator *tr, uint64_t id,
			   struct watchrec *r, uint64_t when)
{
	if (r->deadline == when)
		return;
	if (r->deadline)
		tr_deadline_del(tr, r->deadline, OWN_WATCH, id);
	r->deadline = when;
	if (when)
		tr_deadline(tr, when, OWN_WATCH, id);
}


static void user_key(struct translator *tr, const struct watchrec *r,
		     uint64_t id, bool put)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_watchuser(k, sizeof(k), r->user, r->gwjid, id);

	if (!kl)
		return;
	if (put)
		store_put(tr_txn(tr), DB_WATCHKEY, k, kl, "", 0);
	else
		(void)store_del(tr_txn(tr), DB_WATCHKEY, k, kl);
}


static void watch_drop(struct translator *tr, uint64_t id, struct watchrec *r)
{
	watch_deadline(tr, id, r, 0);
	tr_callrec_key_del(tr, CK_WATCH, r->callid, r->ltag);
	if (r->rtag)
		tr_callrec_key_del(tr, CK_WATCH_REMOTE, r->callid, r->rtag);
	user_key(tr, r, id, false);
	tr_rec_del(tr, DB_WATCH, id);
}


static void watch_event(struct watchrec *r, const char *fmt, ...)
{
	char line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)tr_history_append(&r->history, HISTORY_MAX, line);
}


static int set(char **dst, const char *s)
{
	mem_deref(*dst);
	*dst = NULL;
	return str_dup(dst, s ? s : "");
}


/* ---- what the user shows (the presence database) ------------------- */

struct view {
	struct presrec best;
	bool any;
	uint8_t prefix[KEY_MAX];
	size_t pl;
};


/* Most available first (RFC 6121 4.7.2.1), then priority, then newest. */
static int show_rank(const char *show)
{
	if (!*show || !strcmp(show, "chat"))
		return 0;
	if (!strcmp(show, "away"))
		return 1;
	if (!strcmp(show, "xa"))
		return 2;
	return 3; /* dnd */
}


static bool view_visit(const void *k, size_t kl, const void *v, size_t vl,
		       void *arg)
{
	struct view *c = arg;
	struct presrec pr;

	if (kl < c->pl || memcmp(k, c->prefix, c->pl))
		return false;
	if (presrec_decode(&pr, v, vl))
		return true;
	if (!c->any || show_rank(pr.show) < show_rank(c->best.show) ||
	    (show_rank(pr.show) == show_rank(c->best.show) &&
	     (pr.priority > c->best.priority ||
	      (pr.priority == c->best.priority &&
	       pr.seen_ms > c->best.seen_ms))))
		c->best = pr;
	c->any = true;
	return true;
}


static void user_view(struct translator *tr, const char *user, struct view *c,
		      struct tr_pres_view *v)
{
	memset(c, 0, sizeof(*c));
	c->pl = key_presence_prefix(c->prefix, sizeof(c->prefix), user);
	if (c->pl)
		store_scan(tr_txn(tr), DB_PRESENCE, c->prefix, c->pl,
			   view_visit, c);
	v->open = c->any;
	v->show = c->any ? c->best.show : "";
	v->note = c->any ? c->best.status : "";
}


static bool view_told(const struct watchrec *r, const struct tr_pres_view *v)
{
	return r->nbasic == (v->open ? WB_OPEN : WB_CLOSED) &&
	       !strcmp(r->nshow ? r->nshow : "", v->show) &&
	       !strcmp(r->nnote ? r->nnote : "", v->note);
}


/* ---- what is sent -------------------------------------------------- */

static void reply(struct translator *tr, const struct call_ev *e,
		  uint64_t totag, unsigned scode, const char *reason,
		  const char *extra)
{
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .totag = totag,
				  .scode = scode,
				  .reason = reason,
				  .contact = scode < 300,
				  .extra = extra};

	if (scode >= 300)
		LOG_LIMITED(LOG_INFO, "SUBSCRIBE %r from %s: %u %s",
			    &e->msg->callid, e->src, scode, reason);
	(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


static uint64_t totag_of(const struct watchrec *r)
{
	return strtoull(r->ltag, NULL, 16);
}


/* The answer to a SUBSCRIBE of the dialog: Expires granted (RFC 6665
 * 4.2.1.1). */
static void accept_subscribe(struct wctx *c, unsigned scode, const char *reason)
{
	char ex[32];

	snprintf(ex, sizeof(ex), "Expires: %u\r\n", c->r->expires);
	reply(c->tr, c->w->e, totag_of(c->r), scode, reason, ex);
}


static uint32_t left_s(const struct watchrec *r)
{
	const uint64_t now = wall_ms();

	return r->expires_at > now ? (uint32_t)((r->expires_at - now) / 1000)
				   : 0;
}


/*
 * A NOTIFY in the dialog (RFC 6665 4.2.2) with Subscription-State state
 * ("pending", "active": with expires; else as given), and with the user's
 * presence (PIDF) if body; what it says is what the watcher was told.
 */
static void notify(struct wctx *c, const char *state, bool body)
{
	struct watchrec *r = c->r;
	struct callrec d;
	struct tr_pres_view v;
	struct view vc;
	char extra[300], *pidf = NULL;
	const bool live = !strcmp(state, "pending") || !strcmp(state, "active");

	if (body) {
		user_view(c->tr, r->user, &vc, &v);
		if (tr_pidf_out(&pidf, r->entity, &v)) {
			log_warn("watcher %llu: no memory for the PIDF",
				 (unsigned long long)c->id);
			return;
		}
		r->nbasic = v.open ? WB_OPEN : WB_CLOSED;
		(void)set(&r->nshow, v.show);
		(void)set(&r->nnote, v.note);
	}
	if (live)
		snprintf(extra, sizeof(extra),
			 "Event: presence%s%s\r\n"
			 "Subscription-State: %s;expires=%u\r\n",
			 *r->evid ? ";id=" : "", r->evid, state,
			 left_s(r) ? left_s(r) : 1);
	else
		snprintf(extra, sizeof(extra),
			 "Event: presence%s%s\r\n"
			 "Subscription-State: %s\r\n",
			 *r->evid ? ";id=" : "", r->evid, state);
	/* the dialog as requests in a dialog are written (we are its UAS) */
	memset(&d, 0, sizeof(d));
	d.dir = CD_S2X;
	d.callid = r->callid;
	d.ltag = r->ltag;
	d.rtag = r->rtag;
	d.luri = r->luri;
	d.ruri = r->ruri;
	d.target = r->rtarget;
	d.inv_ruri = r->rtarget;
	d.routes = r->routes;
	r->out = tr_sip_request(c->tr, (struct tr_owner){OWN_WATCH, c->id}, &d,
				"NOTIFY", ++r->lcseq, NULL,
				"application/pidf+xml", NULL, extra, pidf);
	watch_event(r, "NOTIFY %u %s%s", r->lcseq, state,
		    body ? (r->nbasic == WB_OPEN ? " open" : " closed") : "");
	mem_deref(pidf);
}


/* Another watcher of the user from the same gateway JID still lives? */
static bool others_live(struct translator *tr, const struct watchrec *r,
			uint64_t id);
/* The watchers of one user (watchers_of). */
struct ids {
	uint8_t prefix[KEY_MAX];
	size_t pl;
	uint64_t id[MAX_WATCHERS];
	unsigned n;
};
static void watchers_of(struct translator *tr, const char *user,
			const char *gwjid, struct ids *c);


/* ---- actions ------------------------------------------------------- */

static int create(struct wctx *c)
{
	const struct sip_msg *msg = c->w->e->msg;
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct watchrec *r = c->r;
	struct translator *tr = c->tr;
	struct sip_addr a;
	int err = 0;

	c->id = store_next_id(tr_txn(tr));
	r->created = wall_ms();
	r->expires = c->w->expires;
	r->expires_at = r->created + (uint64_t)r->expires * 1000;
	err |= set(&r->user, c->w->user);
	err |= set(&r->gwjid, c->w->gwjid);
	err |= set(&r->evid, c->w->evid);
	err |= set(&r->reason, "");
	err |= re_sdprintf(&r->entity, "%r", &msg->to.auri);
	err |= re_sdprintf(&r->aor, "%r", &msg->from.auri);
	err |= re_sdprintf(&r->luri, "<%r>", &msg->to.auri);
	err |= re_sdprintf(&r->ruri, "<%r>", &msg->from.auri);
	err |= pl_strdup(&r->callid, &msg->callid);
	err |= pl_strdup(&r->rtag, &msg->from.tag);
	/* libre writes To-tags as 16 hex digits of a u64 */
	err |= re_sdprintf(&r->ltag, "%016llx",
			   (unsigned long long)(random_u64() | 1));
	if (h && !sip_addr_decode(&a, &h->val))
		err |= pl_strdup(&r->rtarget, &a.auri);
	r->routes = tr_sip_route_set(msg, false);
	r->rcseq = msg->cseq.num;
	if (err || !r->rtarget || !r->routes) {
		reply(tr, c->w->e, 0, 500, "Server Internal Error", NULL);
		return ENOMEM;
	}
	tr_callrec_key_put(tr, CK_WATCH, r->callid, r->ltag, c->id);
	tr_callrec_key_put(tr, CK_WATCH_REMOTE, r->callid, r->rtag, c->id);
	user_key(tr, r, c->id, true);
	log_info("watcher %llu: %s watches %s (as %s), %us",
		 (unsigned long long)c->id, r->aor, r->user, r->gwjid,
		 r->expires);
	return 0;
}


/* A user has at most MAX_WATCHERS (each change is told to all in one
 * batch): one more is refused, never silently left untold.
 * @return true if it was (answered 503) */
static bool too_many(struct wctx *c)
{
	struct ids *ids = mem_zalloc(sizeof(*ids), NULL);
	bool full;

	if (!ids) {
		reply(c->tr, c->w->e, 0, 500, "Server Internal Error", NULL);
		return true;
	}
	watchers_of(c->tr, c->w->user, NULL, ids);
	full = ids->n >= MAX_WATCHERS;
	mem_deref(ids);
	if (full)
		reply(c->tr, c->w->e, 0, 503, "Too Many Watchers",
		      "Retry-After: 600\r\n");
	return full;
}


static int act_create(struct wctx *c)
{
	if (too_many(c))
		return EALREADY;
	if (create(c))
		return ENOMEM;
	accept_subscribe(c, 202, "Accepted");
	notify(c, "pending", false);
	/* SPEC 6.3: the user is asked, from the watcher's gateway JID */
	tr_xmpp_presence(c->tr, c->r->gwjid, c->r->user, "subscribe", NULL);
	return 0;
}


/* RFC 6665 4.4.3: Expires: 0 outside a dialog fetches the state; nobody
 * has approved this watcher: it is told nothing but the end. */
static int act_fetch(struct wctx *c)
{
	if (too_many(c))
		return EALREADY;
	if (create(c))
		return ENOMEM;
	accept_subscribe(c, 202, "Accepted");
	(void)set(&c->r->reason, "fetch");
	notify(c, "terminated;reason=timeout", false);
	return 0;
}


/* The CSeq of a SUBSCRIBE in the dialog: a lower one is out of order
 * (RFC 3261 12.2.2); the same one again (a retransmission a restarted
 * sip-front handed over) gets the same answer and nothing else. */
static int cseq_check(struct wctx *c)
{
	const struct sip_msg *msg = c->w->e->msg;

	if (msg->cseq.num < c->r->rcseq) {
		reply(c->tr, c->w->e, 0, 500, "Out Of Order CSeq", NULL);
		return EPROTO;
	}
	if (msg->cseq.num == c->r->rcseq) {
		accept_subscribe(c, pl_isset(&msg->to.tag) ? 200 : 202,
				 pl_isset(&msg->to.tag) ? "OK" : "Accepted");
		return EALREADY;
	}
	c->r->rcseq = msg->cseq.num;
	return 0;
}


/* RFC 6665 4.1.2.1 / RFC 3261 12.2.2: a SUBSCRIBE in the dialog is a
 * target refresh: its Contact is where the NOTIFYs go from now on. */
static void target_refresh(struct wctx *c)
{
	const struct sip_hdr *h = sip_msg_hdr(c->w->e->msg, SIP_HDR_CONTACT);
	struct sip_addr a;
	char *t = NULL;

	/* as the first SUBSCRIBE's: a target that could not be written
	 * back into a request line is ignored */
	if (!h || sip_addr_decode(&a, &h->val) || !addr_sip_clean(&a.auri) ||
	    pl_strdup(&t, &a.auri))
		return;
	mem_deref(c->r->rtarget);
	c->r->rtarget = t;
}


static int act_refresh(struct wctx *c)
{
	struct watchrec *r = c->r;

	if (cseq_check(c))
		return EALREADY;
	target_refresh(c);
	r->expires = c->w->expires;
	r->expires_at = wall_ms() + (uint64_t)r->expires * 1000;
	accept_subscribe(c, 200, "OK");
	/* RFC 6665 4.2.1.2: a refresh is followed by the current state */
	if (r->state == WS_ACTIVE)
		notify(c, "active", true);
	else
		notify(c, "pending", false);
	return 0;
}


static int act_unsubscribe(struct wctx *c)
{
	struct watchrec *r = c->r;

	if (cseq_check(c))
		return EALREADY;
	target_refresh(c);
	r->expires = 0;
	r->expires_at = wall_ms();
	accept_subscribe(c, 200, "OK");
	(void)set(&r->reason, "unsubscribed");
	notify(c, "terminated;reason=timeout", r->state == WS_ACTIVE);
	/* RFC 7248: the watcher cancelled; the user's roster follows */
	if (!others_live(c->tr, r, c->id))
		tr_xmpp_presence(c->tr, r->gwjid, r->user, "unsubscribe", NULL);
	return 0;
}


static int act_activate(struct wctx *c)
{
	notify(c, "active", true);
	return 0;
}


static int act_reject(struct wctx *c)
{
	(void)set(&c->r->reason, "rejected");
	notify(c, "terminated;reason=rejected", false);
	return 0;
}


static int act_change(struct wctx *c)
{
	struct tr_pres_view v;
	struct view vc;

	user_view(c->tr, c->r->user, &vc, &v);
	if (view_told(c->r, &v))
		return EALREADY; /* nothing it has not been told */
	notify(c, "active", true);
	return 0;
}


static int act_timeout(struct wctx *c)
{
	(void)set(&c->r->reason, "expired");
	notify(c, "terminated;reason=timeout", false);
	return 0;
}


static int act_gone(struct wctx *c)
{
	log_info("watcher %llu (%s of %s): NOTIFY answered %u: gone",
		 (unsigned long long)c->id, c->r->aor, c->r->user,
		 c->w->oc ? c->w->oc->scode : 0);
	return 0;
}


static int act_481(struct wctx *c)
{
	const struct sip_msg *msg = c->w->e->msg;

	/* the request that ended it, again (a fetch or an un-SUBSCRIBE a
	 * restarted sip-front handed over): the same answer */
	if (msg->cseq.num == c->r->rcseq) {
		accept_subscribe(c, pl_isset(&msg->to.tag) ? 200 : 202,
				 pl_isset(&msg->to.tag) ? "OK" : "Accepted");
		return EALREADY;
	}
	reply(c->tr, c->w->e, 0, 481, "Subscription Does Not Exist", NULL);
	return EALREADY;
}


/* ---- applying an event --------------------------------------------- */

static const struct rule *rule_of(uint32_t state, enum watch_event ev)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].state == state && rules[i].ev == ev)
			return &rules[i];
	return NULL;
}


/* RFC 6665 4.2.2: a NOTIFY that fails (an error response, Timer F, a
 * transport error) removes the subscription, unless the failure is the
 * transaction's alone (RFC 5057 5.1: 491, or 500/503 with Retry-After):
 * the next change is NOTIFYed again. */
static bool notify_failed(const struct tr_outcome *oc)
{
	if (oc->scode < 300 || oc->scode == 491)
		return false;
	if ((oc->scode == 500 || oc->scode == 503) && oc->msg &&
	    sip_msg_hdr(oc->msg, SIP_HDR_RETRY_AFTER))
		return false;
	return true;
}


/* WE_R_OUTCOME by the record: the final NOTIFY's, or the watcher gone. */
static enum watch_event refine(const struct watchrec *r,
			       const struct tr_outcome *oc)
{
	if (oc->scode < 200)
		return 0;
	if (r->state == WS_TERMINATED)
		return oc->out && oc->out == r->out ? WE_R_FINAL : 0;
	return notify_failed(oc) ? WE_R_GONE : 0;
}


/*
 * Apply ev to watcher id (0: none yet): load once, run the row of (state,
 * event), save once or drop.
 * @return 0, or ENOENT if there is no such watcher
 */
static int watch_apply(struct translator *tr, uint64_t id, enum watch_event ev,
		       const struct watch_ev *w)
{
	struct watchrec r = {0};
	struct wctx c = {tr, id, &r, w};
	const struct rule *rule;
	uint32_t from = WS_NONE;

	if (id) {
		if (watch_load(tr, id, &r))
			return ENOENT;
		from = r.state;
	}
	if (ev == WE_T_EXPIRED)
		r.deadline = 0; /* taken from the store as it passed */
	if (ev == WE_R_OUTCOME)
		ev = refine(&r, w->oc);
	rule = ev ? rule_of(from, ev) : NULL;
	if (!rule || (rule->act && rule->act(&c))) {
		watchrec_reset(&r); /* nothing changed */
		return 0;
	}
	if (rule->next == WS_NONE) {
		log_info("watcher %llu (%s of %s): %s, %s: forgotten",
			 (unsigned long long)c.id, r.aor, r.user,
			 watchrec_state_name[from], event_name[ev]);
		watch_drop(tr, c.id, &r);
		watchrec_reset(&r);
		return 0;
	}
	if (rule->next != from)
		watch_event(&r, "%s -> %s (%s)",
			    from ? watchrec_state_name[from] : "new",
			    watchrec_state_name[rule->next], event_name[ev]);
	r.state = rule->next;
	watch_deadline(tr, c.id, &r,
		       r.state == WS_TERMINATED ? wall_ms() + DROP_MS
						: r.expires_at);
	watch_save(tr, c.id, &r);
	watchrec_reset(&r);
	return 0;
}


/* ---- a user's watchers --------------------------------------------- */

static bool ids_visit(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	struct ids *c = arg;
	uint64_t id;

	if (kl < c->pl || memcmp(k, c->prefix, c->pl) || c->n == MAX_WATCHERS)
		return false;
	if (!key_watchuser_parse(k, kl, &id))
		c->id[c->n++] = id;
	return true;
}


/* The watchers of user (from gwjid only, unless NULL). */
static void watchers_of(struct translator *tr, const char *user,
			const char *gwjid, struct ids *c)
{
	c->n = 0;
	c->pl = key_watchuser_prefix(c->prefix, sizeof(c->prefix), user, gwjid);
	if (c->pl)
		store_scan(tr_txn(tr), DB_WATCHKEY, c->prefix, c->pl, ids_visit,
			   c);
}


static bool others_live(struct translator *tr, const struct watchrec *r,
			uint64_t id)
{
	struct ids *c = mem_zalloc(sizeof(*c), NULL);
	bool live = false;

	if (!c)
		return true; /* when in doubt, the user's roster stays */
	watchers_of(tr, r->user, r->gwjid, c);
	for (unsigned i = 0; i < c->n && !live; i++) {
		struct watchrec o;
		if (c->id[i] == id || watch_load(tr, c->id[i], &o))
			continue;
		live = o.state != WS_TERMINATED;
		watchrec_reset(&o);
	}
	mem_deref(c);
	return live;
}


static void apply_all(struct translator *tr, const char *user,
		      const char *gwjid, enum watch_event ev)
{
	struct ids *c = mem_zalloc(sizeof(*c), NULL);

	if (!c)
		return;
	watchers_of(tr, user, gwjid, c);
	for (unsigned i = 0; i < c->n; i++)
		(void)watch_apply(tr, c->id[i], ev, NULL);
	mem_deref(c);
}


/* One user to probe, and the gateway JID it approved. */
struct probe {
	struct le le;
	char *user, *gwjid;
};


static void probe_destructor(void *arg)
{
	struct probe *p = arg;

	list_unlink(&p->le);
	mem_deref(p->user);
	mem_deref(p->gwjid);
}


static bool probe_has(struct le *le, void *arg)
{
	const struct probe *p = le->data;

	return !strcmp(p->user, arg);
}


struct probes {
	struct hash *h;
	unsigned n;
};


static bool probe_visit(const void *k, size_t kl, const void *v, size_t vl,
			void *arg)
{
	struct probes *c = arg;
	struct watchrec r;
	struct probe *p;

	if (watchrec_decode(&r, v, vl))
		return true;
	if (r.state == WS_ACTIVE &&
	    !hash_lookup(c->h, hash_joaat_str(r.user), probe_has, r.user) &&
	    (p = mem_zalloc(sizeof(*p), probe_destructor))) {
		p->user = mem_ref(r.user);
		p->gwjid = mem_ref(r.gwjid);
		hash_append(c->h, hash_joaat_str(r.user), &p->le, p);
		c->n++;
	}
	watchrec_reset(&r);
	return true;
}


static bool probe_send(struct le *le, void *arg)
{
	const struct probe *p = le->data;

	tr_xmpp_presence(arg, p->gwjid, p->user, "probe", NULL);
	return false;
}


void tr_watch_probe_all(struct translator *tr)
{
	struct probes c = {0};

	if (hash_alloc(&c.h, 256))
		return;
	store_scan(tr_txn(tr), DB_WATCH, NULL, 0, probe_visit, &c);
	if (c.n)
		log_info("presence of %u watched user(s) probed (a new "
			 "component stream)",
			 c.n);
	hash_apply(c.h, probe_send, tr);
	hash_flush(c.h);
	mem_deref(c.h);
}


void tr_watch_answer(struct translator *tr, const char *user, const char *gwjid,
		     bool approved)
{
	apply_all(tr, user, gwjid, approved ? WE_APPROVED : WE_REFUSED);
}


void tr_watch_presence(struct translator *tr, const char *user)
{
	apply_all(tr, user, NULL, WE_PRESENCE);
}


void tr_watch_outcome(struct translator *tr, uint64_t id,
		      const struct tr_outcome *oc)
{
	struct watch_ev w = {.oc = oc};

	(void)watch_apply(tr, id, WE_R_OUTCOME, &w);
}


void tr_watch_expired(struct translator *tr, uint64_t id)
{
	(void)watch_apply(tr, id, WE_T_EXPIRED, NULL);
}


bool tr_watch_wants(struct translator *tr, uint64_t id)
{
	const void *v;
	size_t vl;

	return !tr_rec_get(tr, DB_WATCH, id, &v, &vl);
}


/* ---- a SUBSCRIBE --------------------------------------------------- */

/* Does the Accept list take PIDF (none: it does, RFC 3856 6.7)? */
static bool accepts_pidf(const struct sip_msg *msg)
{
	struct le *le;
	bool any = false;

	for (le = list_head(&msg->hdrl); le; le = le->next) {
		const struct sip_hdr *h = le->data;
		char v[256];
		if (h->id != SIP_HDR_ACCEPT)
			continue;
		any = true;
		pl_strcpy(&h->val, v, sizeof(v));
		if (strcasestr(v, "application/pidf+xml") ||
		    strcasestr(v, "*/*") || strcasestr(v, "application/*"))
			return true;
	}
	return !any;
}


/* Expires of a SUBSCRIBE, capped at presence.subscribe_expires_s.
 * @return 0, or EINVAL (not a number) */
static int expires_of(const struct translator *tr, const struct sip_msg *msg,
		      uint32_t *ex)
{
	const uint32_t cap =
		tr->proc.cfg->presence.subscribe_expires_s
			? tr->proc.cfg->presence.subscribe_expires_s
			: DEFAULT_EXPIRES;
	uint64_t v = 0;

	if (!pl_isset(&msg->expires)) {
		*ex = DEFAULT_EXPIRES < cap ? DEFAULT_EXPIRES : cap;
		return 0;
	}
	if (msg->expires.l > 10)
		v = UINT32_MAX;
	for (size_t i = 0; i < msg->expires.l && v != UINT32_MAX; i++) {
		if (msg->expires.p[i] < '0' || msg->expires.p[i] > '9')
			return EINVAL;
		v = v * 10 + (uint64_t)(msg->expires.p[i] - '0');
	}
	*ex = (uint32_t)(v < cap ? v : cap);
	return 0;
}


/* The Event header's package and id parameter (a token).
 * @return 0, ENOENT (none), or EINVAL */
static int event_of(const struct sip_msg *msg, struct pl *pkg, char *id,
		    size_t isz)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_EVENT);
	struct pl v;

	*id = 0;
	if (!h)
		return ENOENT;
	if (re_regex(h->val.p, h->val.l, "[^; \t]+", pkg))
		return EINVAL;
	if (!re_regex(h->val.p, h->val.l, ";[ \t]*id=[^; \t]+", NULL, &v)) {
		if (v.l >= isz)
			return EINVAL;
		for (size_t i = 0; i < v.l; i++)
			if (!isalnum((unsigned char)v.p[i]) &&
			    !strchr("-.!%*_+`'~", v.p[i]))
				return EINVAL;
		pl_strcpy(&v, id, isz);
	}
	return 0;
}


void tr_watch_subscribe(struct translator *tr, const struct call_ev *e)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	const struct sip_msg *msg = e->msg;
	const struct sip_hdr *ct = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct watch_ev w = {.e = e};
	char evid[64], user[256], host[256], jid[512], gw[1600];
	struct sip_addr a;
	struct pl pkg;
	uint64_t id;
	int err;

	err = event_of(msg, &pkg, evid, sizeof(evid));
	if (err == ENOENT || (!err && pl_strcmp(&pkg, "presence"))) {
		/* RFC 6665 8.2.1: the one package we notify */
		reply(tr, e, 0, 489, "Bad Event", "Allow-Events: presence\r\n");
		return;
	}
	if (err) {
		reply(tr, e, 0, 400, "Bad Event Header", NULL);
		return;
	}
	if (expires_of(tr, msg, &w.expires)) {
		reply(tr, e, 0, 400, "Bad Expires", NULL);
		return;
	}
	if (pl_isset(&msg->to.tag)) {
		id = tr_callrec_key_get_pl(tr, CK_WATCH, &msg->callid,
					   &msg->to.tag);
		if (!id ||
		    watch_apply(tr, id, w.expires ? WE_REFRESH : WE_UNSUBSCRIBE,
				&w))
			reply(tr, e, 0, 481, "Subscription Does Not Exist",
			      NULL);
		return;
	}
	/* the same SUBSCRIBE again (a restarted sip-front), or a new one
	 * of the same dialog-to-be: as in the dialog */
	id = tr_callrec_key_get_pl(tr, CK_WATCH_REMOTE, &msg->callid,
				   &msg->from.tag);
	if (id &&
	    !watch_apply(tr, id, w.expires ? WE_REFRESH : WE_UNSUBSCRIBE, &w))
		return;
	if (!accepts_pidf(msg)) {
		reply(tr, e, 0, 406, "Not Acceptable", NULL);
		return;
	}
	if (!ct || sip_addr_decode(&a, &ct->val) || !addr_sip_clean(&a.auri)) {
		reply(tr, e, 0, 400, "Missing Or Bad Contact", NULL);
		return;
	}
	if (!pl_isset(&msg->from.tag)) {
		reply(tr, e, 0, 400, "Missing From Tag", NULL);
		return;
	}
	/* the user watched (SPEC 5): a served domain, or a mapped number */
	err = tr_sipaddr_recipient(tr, msg, jid, sizeof(jid), NULL);
	if (err) {
		const char *why;
		unsigned scode = tr_sipaddr_refusal(err, &why);
		reply(tr, e, 0, scode, why, NULL);
		return;
	}
	if (tr_sipaddr_parts(&msg->from.uri, user, sizeof(user), host,
			     sizeof(host)) ||
	    addr_sip_to_gwjid(cfg, user, host, gw, sizeof(gw))) {
		reply(tr, e, 0, 400, "Bad From URI", NULL);
		return;
	}
	if (!tr_admit(tr)) {
		struct tr_sip_reply rp = {.tx = e->tx,
					  .src = e->src,
					  .raw = e->raw,
					  .scode = 503,
					  .reason = "Service Unavailable",
					  .retry_after = 30};
		(void)tr_sip_respond(tr, (struct tr_owner){OWN_NONE, 0}, &rp);
		return;
	}
	w.user = jid;
	w.gwjid = gw;
	w.evid = evid;
	(void)watch_apply(tr, 0, w.expires ? WE_SUBSCRIBE : WE_UNSUBSCRIBE, &w);
}
