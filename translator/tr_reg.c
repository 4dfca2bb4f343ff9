/**
 * @file tr_reg.c  The registration state machine: SIP accounts of XMPP
 *                 users (SPEC 6.2, XEP-0077/XEP-0100), one REGISTER
 *                 binding per account whatever the number of the user's
 *                 devices.
 *
 * One record per account (regrec.h). tr_reg_apply() loads it once, refines
 * the event (a REGISTER's outcome: challenge, 2xx, 423, failure; one for
 * a REGISTER that is no longer the record's current one is ignored), runs
 * the rule of (state, event) below on the record in memory and saves once,
 * or drops the account. Everything leaves through the outbox after the
 * commit; the refresh and the retry are store deadlines, so they survive
 * any restart.
 *
 *  state                 event         action                  -> next
 *  --------------------  ------------  ----------------------  ----------
 *  (none)                X_SET         REGISTER                LINKING
 *  any                   X_SET         new values, REGISTER    LINKING
 *                                      (an IQ still owed:
 *                                      conflict; a working
 *                                      account is kept in prev;
 *                                      one in flight for the
 *                                      Call-ID: queued)
 *  any                   X_REMOVE      result; unsubscribe,
 *                        OP_END        unavailable; bound or
 *                                      in flight: REGISTER
 *                                      Expires 0               UNLINKING
 *                                      else                    GONE
 *  LINKING|REFRESHING|   R_CHALLENGE   REGISTER with           -
 *  UNLINKING                           credentials (again only
 *                                      for a stale nonce)
 *  LINKING|REFRESHING    R_BRIEF       REGISTER with the       -
 *                                      registrar's Min-Expires
 *  LINKING               R_OK          result, subscribe (first
 *                                      link), available,
 *                                      refresh deadline; prev
 *                                      forgotten (another
 *                                      binding: Expires 0)     REGISTERED
 *  LINKING               R_FAIL        with prev: IQ error, the
 *                        (a re-set)    previous account back,
 *                                      REGISTER                REFRESHING
 *  LINKING               R_FAIL        IQ error; a new account GONE
 *                                      else retry deadline (none
 *                                      for refused
 *                                      credentials)            FAILED
 *  REFRESHING            R_OK          available; "registered
 *                                      again" if it had failed REGISTERED
 *  REFRESHING            R_FAIL        unavailable CODE REASON,
 *                                      "failed" chat (once),
 *                                      retry deadline (none
 *                                      for refused
 *                                      credentials)            FAILED
 *  REGISTERED|FAILED     T_EXPIRED     REGISTER                REFRESHING
 *  UNLINKING             R_OK|R_FAIL   -                       GONE
 *  any, queued           R_* of the    the queued REGISTER     -
 *                        one in flight
 *  (other)               (other)       nothing                 -
 *
 * A challenge is answered once per request; a 401/407 to a request that
 * carried credentials is a refusal (not-authorized) unless every
 * challenge says stale=true. The credentials never leave this file but
 * as a digest (tr_digest.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "keys.h"
#include "log.h"
#include "regrec.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"

/* a long-lived record keeps its recent events within this */
enum { HISTORY_MAX = 4096 };

enum reg_event {
	RE_X_SET = 1,
	RE_X_REMOVE,
	RE_OP_END,
	RE_R_CHALLENGE,
	RE_R_BRIEF,
	RE_R_OK,
	RE_R_FAIL,
	RE_T_EXPIRED,
};

/** What an event carries. */
struct reg_ev {
	xmpp_stanza_t *iq;           /**< X_SET, X_REMOVE */
	const struct reg_form *f;    /**< X_SET */
	const struct tr_outcome *oc; /**< R_* */
};

struct reg_ctx {
	struct translator *tr;
	uint64_t id;
	struct regrec *r;
	const struct reg_ev *e;
};

#define M(s) (1u << (s))
#define ANY  0xffffffffu

typedef int(reg_action_h)(struct reg_ctx *c);

/* ---- the record ----------------------------------------------------- */

static void reg_deadline(struct reg_ctx *c, uint64_t when)
{
	if (c->r->deadline)
		tr_deadline_del(c->tr, c->r->deadline, OWN_REG, c->id);
	c->r->deadline = when;
	if (when)
		tr_deadline(c->tr, when, OWN_REG, c->id);
}


static void reg_event(struct regrec *r, const char *fmt, ...)
{
	char line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)tr_history_append(&r->history, HISTORY_MAX, line);
}


static void forget_prev(struct reg_ctx *c);
static bool prev_aor_is(const struct regrec *r, const char *aor);


static int set_str(char **dst, const char *s)
{
	char *d = NULL;
	int err = str_dup(&d, s ? s : "");

	if (!err) {
		mem_deref(*dst);
		*dst = d;
	}
	return err;
}

/* ---- what the user is told ----------------------------------------- */

static const char *component(const struct reg_ctx *c)
{
	return c->tr->proc.cfg->xmpp.component;
}


static void answer_iq(struct reg_ctx *c, const char *cond, const char *text)
{
	struct regrec *r = c->r;

	if (r->iq_kind == RIQ_NONE)
		return;
	tr_xmpp_iq_reply(c->tr, r->iq_from, component(c), r->iq_id, cond, text);
	r->iq_kind = RIQ_NONE;
	set_str(&r->iq_id, "");
	set_str(&r->iq_from, "");
}


/* Our presence for the account (SPEC 6.2): available while bound,
 * unavailable with the last code and reason otherwise. */
static void tell_presence(struct translator *tr, const struct regrec *r,
			  const char *to)
{
	const char *from = tr->proc.cfg->xmpp.component;
	char status[160];

	if (r->state == RS_REGISTERED ||
	    (r->state == RS_REFRESHING && r->reg_until > wall_ms())) {
		snprintf(status, sizeof(status), "Registered as %s", r->aor);
		tr_xmpp_presence(tr, from, to, NULL, status);
		return;
	}
	if (r->last_code)
		snprintf(status, sizeof(status), "%u %s", r->last_code,
			 r->last_reason ? r->last_reason : "");
	else
		snprintf(status, sizeof(status), "Not registered");
	tr_xmpp_presence(tr, from, to, "unavailable", status);
}


static void notice(struct reg_ctx *c, const char *fmt, ...)
{
	char body[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	tr_xmpp_notice(c->tr, component(c), c->r->jid, body);
}

/* ---- REGISTER -------------------------------------------------------- */

static void reg_send(struct reg_ctx *c, uint32_t expires, const char *auth)
{
	struct regrec *r = c->r;

	r->cseq++;
	r->out_expires = expires;
	/* challenges answered for this attempt (a refresh starts over) */
	r->authed = auth ? r->authed + 1 : 0;
	r->out = tr_sip_register(c->tr, c->id, r, expires, auth);
	reg_event(r, "REGISTER cseq %u expires %u%s", r->cseq, expires,
		  auth ? " with credentials" : "");
}


static uint32_t retry_ms(const struct reg_ctx *c)
{
	const uint32_t *b = c->tr->proc.cfg->sip.register_retry_ms;
	uint64_t ms = b[0];

	for (uint32_t i = 1; i < c->r->failures && ms < b[1]; i++)
		ms *= 2;
	return (uint32_t)(ms < b[1] ? ms : b[1]);
}


static void outcome_note(struct reg_ctx *c)
{
	const struct tr_outcome *oc = c->e->oc;

	c->r->last_code = oc->scode;
	set_str(&c->r->last_reason, oc->reason);
	reg_event(c->r, "%u %s", oc->scode, oc->reason);
}


/* The XMPP condition of a failed REGISTER (SPEC 6.2). */
static const char *fail_cond(const struct tr_outcome *oc)
{
	if (!oc->msg && oc->scode == 408)
		return "remote-server-timeout";
	if (!oc->msg)
		return "remote-server-not-found";
	switch (oc->scode) {
	case 401:
	case 403:
	case 407:
		return "not-authorized";
	case 404:
		return "item-not-found";
	case 408:
		return "remote-server-timeout";
	default:
		return oc->scode < 500 ? "not-acceptable"
				       : "service-unavailable";
	}
}


/* The expiry the registrar granted our binding: its Contact's expires,
 * else Expires, else what we asked (RFC 3261 10.2.4). */
struct granted {
	const char *contact;
	uint32_t expires;
	bool found, has_expires;
};

static bool contact_handler(const struct sip_hdr *hdr,
			    const struct sip_msg *msg, void *arg)
{
	struct granted *g = arg;
	struct sip_addr a;
	struct pl ex;
	(void)msg;

	if (sip_addr_decode(&a, &hdr->val) ||
	    pl_strcmp(&a.uri.user, g->contact))
		return false;
	g->found = true;
	if (!msg_param_decode(&a.params, "expires", &ex)) {
		g->expires = pl_u32(&ex);
		g->has_expires = true;
	}
	return true;
}


static bool route_handler(const struct sip_hdr *hdr, const struct sip_msg *msg,
			  void *arg)
{
	char **routes = arg, *s = NULL;
	(void)msg;

	/* a registrar's bytes go into our requests' Route headers: none
	 * that would break a line (as Record-Route, tr_sip_route_set) */
	if (!addr_sip_clean(&hdr->val)) {
		log_warn("Service-Route with control bytes or spaces ignored");
		return false;
	}
	if (!re_sdprintf(&s, "%s%r\n", *routes ? *routes : "", &hdr->val)) {
		mem_deref(*routes);
		*routes = s;
	}
	return false;
}


static uint32_t granted_of(const struct reg_ctx *c)
{
	const struct sip_msg *msg = c->e->oc->msg;
	struct granted g = {c->r->contact, 0, false, false};

	sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, contact_handler, &g);
	if (g.has_expires)
		return g.expires;
	/* bindings listed, ours not among them: not registered */
	if (!g.found && sip_msg_hdr(msg, SIP_HDR_CONTACT))
		return 0;
	/* a registrar that lists none: its Expires, or what we asked */
	if (pl_isset(&msg->expires))
		return pl_u32(&msg->expires);
	return c->r->out_expires;
}

/* ---- actions --------------------------------------------------------- */

static int act_set(struct reg_ctx *c)
{
	struct regrec *r = c->r;
	const struct reg_form *f = c->e->f;
	const bool aor_changed = !r->aor || strcmp(r->aor, f->aor);
	const bool working = r->told == 1 && (r->state == RS_REGISTERED ||
					      r->state == RS_REFRESHING);
	int err;

	if (r->iq_kind != RIQ_NONE)
		answer_iq(c, "conflict", "superseded by a newer request");
	/* the working account stays until the registrar accepts the new
	 * one (act_ok); refused, it comes back (act_fail) */
	if (r->prev_out) {
		/* the binding being removed is forgotten: its answer too */
		r->prev_out = 0;
		set_str(&r->prev, "");
	}
	if (working && (!r->prev || !*r->prev) && regrec_prev_keep(r))
		return ENOMEM;
	if (aor_changed && r->aor && !working && !prev_aor_is(r, r->aor))
		tr_phone_account(c->tr, r->aor, r->jid, PA_GONE);
	if (aor_changed)
		r->queued = 0; /* another Call-ID: nothing to wait for */
	err = set_str(&r->aor, f->aor) | set_str(&r->password, f->password) |
	      set_str(&r->ha1, f->ha1) | set_str(&r->auth_user, f->auth_user) |
	      set_str(&r->proxy, f->proxy) | set_str(&r->display, f->display) |
	      set_str(&r->iq_id, xu_attr(c->e->iq, "id")) |
	      set_str(&r->iq_from, xu_attr(c->e->iq, "from"));
	if (err)
		return err;
	r->expires = f->expires;
	r->srtp = f->srtp;
	r->iq_kind = RIQ_SET;
	if (aor_changed) {
		/* a new registrar: a new Call-ID (RFC 3261 10.2.4) */
		mem_deref(r->callid);
		mem_deref(r->ftag);
		r->callid = tr_sip_token("xsgw-reg-");
		r->ftag = tr_sip_token("");
		r->cseq = 0;
		r->granted = 0;
		r->reg_until = 0;
		r->routes = mem_deref(r->routes);
	}
	if (!r->contact) {
		r->contact = tr_sip_token("xa");
		tr_regrec_key_put(c->tr, RK_CONTACT, r->contact, c->id);
	}
	if (!r->callid || !r->ftag || !r->contact)
		return ENOMEM;
	r->failures = 0;
	reg_event(r, "linked %s", r->aor);
	reg_deadline(c, 0);
	if (r->out && !aor_changed) {
		/* RFC 3261 10.2: not while one of this Call-ID is in flight */
		r->queued = 1;
		return 0;
	}
	reg_send(c, r->expires, NULL);
	return 0;
}


static int act_remove(struct reg_ctx *c)
{
	struct regrec *r = c->r;
	const char *to = r->jid;
	const bool bound = r->reg_until > wall_ms() || r->out;

	if (c->e->iq)
		tr_xmpp_iq_answer(c->tr, c->e->iq, NULL, NULL);
	answer_iq(c, "conflict", "the account was removed");
	tr_xmpp_presence(c->tr, component(c), to, "unsubscribe", NULL);
	tr_xmpp_presence(c->tr, component(c), to, "unsubscribed", NULL);
	tr_xmpp_presence(c->tr, component(c), to, "unavailable", NULL);
	reg_event(r, "unlinked");
	reg_deadline(c, 0);
	r->queued = 0;
	/* a re-set under way: the kept account's binding goes too */
	if (r->prev && *r->prev && !r->prev_out)
		forget_prev(c);
	if (!bound)
		return ECANCELED; /* nothing at the registrar: gone */
	reg_send(c, 0, NULL);
	return 0;
}


static int act_challenge(struct reg_ctx *c)
{
	struct regrec *r = c->r;
	struct mbuf *mb = mbuf_alloc(512);
	char *ruri = tr_sip_register_uri(r->aor), *auth = NULL;
	bool stale = false;
	int err = !mb || !ruri ? ENOMEM : 0;

	if (!err)
		err = tr_account_credentials(r, mb, c->e->oc->msg, "REGISTER",
					     ruri, &stale);
	/* a second challenge is the credentials refused, unless it says
	 * stale=true, which is believed once (RFC 7616 3.3) */
	if (!err && r->authed && (!stale || r->authed >= 2))
		err = EAUTH;
	if (!err)
		err = re_sdprintf(&auth, "%b", mb->buf, mb->end);
	if (!err)
		reg_send(c, r->out_expires, auth);
	mem_deref(mb);
	mem_deref(ruri);
	mem_deref(auth);
	return err;
}


static int act_brief(struct reg_ctx *c)
{
	const struct sip_hdr *h =
		sip_msg_hdr(c->e->oc->msg, SIP_HDR_MIN_EXPIRES);
	uint32_t min = h ? pl_u32(&h->val) : 0;

	if (!min || min <= c->r->out_expires)
		return EPROTO;
	reg_event(c->r, "423: Min-Expires %u", min);
	c->r->expires = min;
	reg_send(c, min, NULL);
	return 0;
}


/* The new account is bound: the working one it replaced is forgotten,
 * and its binding, if it was another (another AOR or registrar), is
 * removed (Expires: 0; its answer is not the record's and is ignored: a
 * registrar that challenges it lets it expire). */
static bool prev_aor_is(const struct regrec *r, const char *aor)
{
	struct regrec old;
	bool same;

	if (regrec_prev_get(r, &old))
		return false;
	same = !strcmp(old.aor, aor);
	regrec_reset(&old);
	return same;
}


static void forget_prev(struct reg_ctx *c)
{
	struct regrec *r = c->r, old;

	if (r->prev_out || regrec_prev_get(r, &old))
		return;
	if (strcmp(old.callid, r->callid)) {
		/* another AOR (another Call-ID): the old binding is removed
		 * with its own Call-ID and next CSeq; prev stays until that
		 * is answered (prev_outcome). The same Call-ID is the one
		 * binding, refreshed by the new REGISTER already. */
		old.cseq++;
		old.authed = 0;
		tr_phone_account(c->tr, old.aor, r->jid, PA_GONE);
		r->prev_out = tr_sip_register(c->tr, c->id, &old, 0, NULL);
		if (r->prev_out && !regrec_prev_keep(&old)) {
			mem_deref(r->prev);
			r->prev = old.prev;
			old.prev = NULL;
			reg_event(r, "removing the binding of %s", old.aor);
			regrec_reset(&old);
			return;
		}
		r->prev_out = 0;
	}
	regrec_reset(&old);
	set_str(&r->prev, "");
}


/* The answer to the un-REGISTER of the replaced binding: a challenge is
 * answered once with its credentials; anything else ends it. */
static void prev_outcome(struct reg_ctx *c)
{
	const struct tr_outcome *oc = c->e->oc;
	struct regrec *r = c->r, old;
	struct mbuf *mb = NULL;
	char *ruri = NULL, *auth = NULL;
	bool stale = false;

	r->prev_out = 0;
	if (regrec_prev_get(r, &old)) {
		set_str(&r->prev, "");
		return;
	}
	if (oc->msg && (oc->scode == 401 || oc->scode == 407) && !old.authed &&
	    (mb = mbuf_alloc(512)) && (ruri = tr_sip_register_uri(old.aor)) &&
	    !tr_account_credentials(&old, mb, oc->msg, "REGISTER", ruri,
				    &stale) &&
	    !re_sdprintf(&auth, "%b", mb->buf, mb->end)) {
		old.cseq++;
		old.authed = 1;
		r->prev_out = tr_sip_register(c->tr, c->id, &old, 0, auth);
	}
	if (r->prev_out && !regrec_prev_keep(&old)) {
		mem_deref(r->prev);
		r->prev = old.prev;
		old.prev = NULL;
	} else {
		r->prev_out = 0;
		set_str(&r->prev, "");
		reg_event(r, "binding of %s removed: %u %s", old.aor, oc->scode,
			  oc->reason);
	}
	regrec_reset(&old);
	mem_deref(mb);
	mem_deref(ruri);
	mem_deref(auth);
}


/* A re-set the registrar refused: the working account comes back and is
 * registered again; the user's IQ says so. @return EALREADY (the state
 * is set here) */
static int restore_prev(struct reg_ctx *c, const char *text)
{
	struct regrec *r = c->r, old;
	char why[300];
	int err;

	err = regrec_prev_get(r, &old);
	if (err) {
		/* damaged: forgotten, a plain failure */
		set_str(&r->prev, "");
		return EAGAIN;
	}
	snprintf(why, sizeof(why), "%s; the previous settings are kept", text);
	answer_iq(c, fail_cond(c->e->oc), why);
	err = set_str(&r->aor, old.aor) | set_str(&r->password, old.password) |
	      set_str(&r->ha1, old.ha1) |
	      set_str(&r->auth_user, old.auth_user) |
	      set_str(&r->proxy, old.proxy) |
	      set_str(&r->display, old.display) |
	      set_str(&r->routes, old.routes) | set_str(&r->prev, "");
	if (!err && strcmp(r->callid, old.callid)) {
		err = set_str(&r->callid, old.callid) |
		      set_str(&r->ftag, old.ftag);
		r->cseq = old.cseq;
	}
	r->expires = old.expires;
	r->srtp = old.srtp;
	r->granted = old.granted;
	r->reg_until = old.reg_until;
	r->failures = 0;
	regrec_reset(&old);
	if (err)
		return err;
	reg_event(r, "re-set refused: the previous account is kept");
	reg_send(c, r->expires, NULL);
	r->state = RS_REFRESHING;
	return EALREADY;
}


static int act_ok(struct reg_ctx *c)
{
	struct regrec *r = c->r;
	const bool first = r->told == 0, restored = r->told == 2;
	const uint32_t granted = granted_of(c);
	const uint64_t now = wall_ms();

	outcome_note(c);
	if (!granted)
		return EPROTO; /* our binding is not among the registrar's */
	forget_prev(c);
	r->granted = granted;
	r->reg_until = now + (uint64_t)granted * 1000;
	r->failures = 0;
	r->out = 0;
	r->routes = mem_deref(r->routes);
	sip_msg_xhdr_apply(c->e->oc->msg, true, "Service-Route", route_handler,
			   &r->routes);
	/* libre's sipreg refreshes at 90% of the granted time */
	reg_deadline(c, now + (uint64_t)granted * 900);
	if (r->iq_kind == RIQ_SET)
		answer_iq(c, NULL, NULL);
	if (first)
		tr_xmpp_presence(c->tr, component(c), r->jid, "subscribe",
				 NULL);
	r->told = 1;
	r->state = RS_REGISTERED;
	tell_presence(c->tr, r, r->jid);
	tr_phone_account(c->tr, r->aor, r->jid, PA_REGISTERED);
	if (restored)
		notice(c, "SIP account %s: registered again (%u %s)", r->aor,
		       r->last_code, r->last_reason);
	log_info("registration %llu (%s): registered for %u s",
		 (unsigned long long)c->id, r->aor, granted);
	return 0;
}


static int act_fail(struct reg_ctx *c)
{
	struct regrec *r = c->r;
	const struct tr_outcome *oc = c->e->oc;
	char text[200];

	outcome_note(c);
	r->out = 0;
	r->failures++;
	log_info("registration %llu (%s): %u %s", (unsigned long long)c->id,
		 r->aor, oc->scode, oc->reason);
	snprintf(text, sizeof(text), "the registrar answered %u %s", oc->scode,
		 oc->reason);
	if (r->iq_kind == RIQ_SET && r->prev && *r->prev && !r->prev_out &&
	    restore_prev(c, text) == EALREADY)
		return EALREADY;
	if (r->iq_kind == RIQ_SET) {
		answer_iq(c, fail_cond(oc), text);
		if (c->r->told == 0)
			return ECANCELED; /* never linked: nothing stays */
	}
	r->state = RS_FAILED;
	tell_presence(c->tr, r, r->jid);
	tr_phone_account(c->tr, r->aor, r->jid, PA_UNREGISTERED);
	if (!strcmp(fail_cond(oc), "not-authorized")) {
		/* refused credentials are not tried again and again (a
		 * registrar may lock the account): the user links again */
		reg_deadline(c, 0);
		if (r->told != 2)
			notice(c,
			       "SIP account %s: registration refused: %u %s "
			       "(link the account again with the right "
			       "credentials)",
			       r->aor, oc->scode, oc->reason);
		r->told = 2;
		return 0;
	}
	reg_deadline(c, wall_ms() + retry_ms(c));
	if (r->told != 2)
		notice(c,
		       "SIP account %s: registration failed: %u %s "
		       "(retrying in %u s)",
		       r->aor, oc->scode, oc->reason, retry_ms(c) / 1000);
	r->told = 2;
	return 0;
}


static int act_refresh(struct reg_ctx *c)
{
	reg_send(c, c->r->expires, NULL);
	return 0;
}


static int act_unlinked(struct reg_ctx *c)
{
	outcome_note(c);
	return ECANCELED;
}

/* ---- the table ------------------------------------------------------- */

struct reg_rule {
	uint32_t states;
	enum reg_event ev;
	reg_action_h *act;
	int next; /**< 0: unchanged */
};

static const struct reg_rule rules[] = {
	{ANY, RE_X_SET, act_set, RS_LINKING},
	{ANY, RE_X_REMOVE, act_remove, RS_UNLINKING},
	{ANY, RE_OP_END, act_remove, RS_UNLINKING},
	{M(RS_LINKING) | M(RS_REFRESHING) | M(RS_UNLINKING), RE_R_CHALLENGE,
	 act_challenge, 0},
	{M(RS_LINKING) | M(RS_REFRESHING), RE_R_BRIEF, act_brief, 0},
	{M(RS_LINKING) | M(RS_REFRESHING), RE_R_OK, act_ok, RS_REGISTERED},
	{M(RS_LINKING) | M(RS_REFRESHING), RE_R_FAIL, act_fail, RS_FAILED},
	{M(RS_REGISTERED) | M(RS_FAILED), RE_T_EXPIRED, act_refresh,
	 RS_REFRESHING},
	{M(RS_UNLINKING), RE_R_OK, act_unlinked, 0},
	{M(RS_UNLINKING), RE_R_FAIL, act_unlinked, 0},
};


/* A REGISTER's outcome, by what the registrar said. */
static enum reg_event refine(const struct reg_ctx *c, enum reg_event ev)
{
	const struct tr_outcome *oc = c->e->oc;

	if (ev != RE_R_OK)
		return ev;
	if (!oc->out || oc->out != c->r->out)
		return 0; /* an older REGISTER's: superseded */
	if (oc->scode >= 200 && oc->scode < 300)
		return oc->msg ? RE_R_OK : RE_R_FAIL; /* (no 2xx to read) */
	if (oc->msg && (oc->scode == 401 || oc->scode == 407))
		return RE_R_CHALLENGE;
	if (oc->msg && oc->scode == 423)
		return RE_R_BRIEF;
	return RE_R_FAIL;
}


static void reg_drop(struct reg_ctx *c)
{
	struct regrec *r = c->r;

	log_info("registration %llu (%s of %s) removed",
		 (unsigned long long)c->id, r->aor, r->jid);
	reg_deadline(c, 0);
	tr_phone_account(c->tr, r->aor, r->jid, PA_GONE);
	tr_regrec_key_del(c->tr, RK_JID, r->jid);
	if (r->contact)
		tr_regrec_key_del(c->tr, RK_CONTACT, r->contact);
	tr_rec_del(c->tr, DB_REG, c->id);
}


/**
 * Apply ev to registration id (0 with X_SET: a new account of jid).
 * @return 0, or ENOENT if there is no such registration
 */
static int tr_reg_apply(struct translator *tr, uint64_t id, const char *jid,
			enum reg_event ev, const struct reg_ev *e)
{
	struct regrec r = {0};
	struct reg_ctx c = {tr, id, &r, e};
	const struct reg_rule *ru = NULL;
	enum reg_event rev;
	int err;

	if (id && tr_regrec_load(tr, id, &r))
		return ENOENT;
	if (!id) {
		c.id = id = store_next_id(tr_txn(tr));
		r.created = wall_ms();
		if (set_str(&r.jid, jid) || set_str(&r.last_reason, ""))
			goto out;
		tr_regrec_key_put(tr, RK_JID, jid, id);
	}
	if (ev == RE_T_EXPIRED)
		r.deadline = 0; /* taken from the store as it passed */
	if (ev == RE_R_OK && r.prev_out && e->oc->out == r.prev_out) {
		prev_outcome(&c);
		tr_regrec_save(tr, id, &r);
		goto out;
	}
	if (ev == RE_R_OK && r.queued && e->oc->out && e->oc->out == r.out) {
		/* the REGISTER in flight is answered: the one queued goes
		 * (its values are the record's now) */
		r.queued = 0;
		r.out = 0;
		reg_send(&c, r.expires, NULL);
		tr_regrec_save(tr, id, &r);
		goto out;
	}
	rev = refine(&c, ev);
	for (size_t i = 0; rev && i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].ev == rev && (rules[i].states & M(r.state))) {
			ru = &rules[i];
			break;
		}
	if (!ru)
		goto out;
	err = ru->act(&c);
	if (err == EALREADY) {
		tr_regrec_save(tr, id, &r);
		goto out;
	}
	if (err == ECANCELED) {
		reg_drop(&c);
		goto out;
	}
	if (err && err != ENOMEM && rev >= RE_R_CHALLENGE && rev <= RE_R_OK) {
		/* an answer we cannot go on from is a failure (act_fail
		 * may bring a kept account back: EALREADY, saved below) */
		if (r.state == RS_UNLINKING || act_fail(&c) == ECANCELED) {
			reg_drop(&c);
			goto out;
		}
		tr_regrec_save(tr, id, &r);
		goto out;
	}
	if (err) {
		log_warn("registration %llu: %s", (unsigned long long)id,
			 strerror(err));
		goto out;
	}
	if (ru->next)
		r.state = (uint32_t)ru->next;
	tr_regrec_save(tr, id, &r);
out:
	regrec_reset(&r);
	return 0;
}

/* ---- entries --------------------------------------------------------- */

void tr_reg_iq(struct translator *tr, xmpp_stanza_t *iq, xmpp_stanza_t *q)
{
	const char *from = xu_attr(iq, "from"), *type = xu_attr(iq, "type");
	struct reg_ev e = {.iq = iq};
	struct reg_form f;
	struct regrec r;
	char bare[512], why[160] = "";
	const void *v;
	size_t vl;
	uint64_t id;

	xu_bare(from, bare, sizeof(bare));
	if (strcmp(xu_attr(iq, "to"), tr->proc.cfg->xmpp.component) ||
	    !strchr(from, '/') || !tr_presence_served(tr->proc.cfg, bare)) {
		tr_xmpp_iq_answer(tr, iq, "service-unavailable",
				  "SIP accounts are for users of the served "
				  "domains, at the gateway's JID");
		return;
	}
	id = tr_regrec_key_get(tr, RK_JID, bare);
	if (!strcmp(type, "get")) {
		if (id && !tr_rec_get(tr, DB_REG, id, &v, &vl) &&
		    !regrec_decode(&r, v, vl)) {
			tr_xmpp_register_form(tr, iq, &r);
			regrec_reset(&r);
		} else {
			tr_xmpp_register_form(tr, iq, NULL);
		}
		return;
	}
	if (xmpp_stanza_get_child_by_name(q, "remove")) {
		if (!id || tr_reg_apply(tr, id, bare, RE_X_REMOVE, &e))
			tr_xmpp_iq_answer(tr, iq, "item-not-found",
					  "no SIP account is linked");
		return;
	}
	if (!tr_admit(tr)) {
		tr_xmpp_iq_answer(tr, iq, "resource-constraint",
				  "the gateway is full; try later");
		return;
	}
	if (tr_reg_form_parse(q, &f, why, sizeof(why))) {
		tr_xmpp_iq_answer(tr, iq, "bad-request",
				  *why ? why : "cannot read the form");
		return;
	}
	e.f = &f;
	if (!id || tr_reg_apply(tr, id, bare, RE_X_SET, &e))
		(void)tr_reg_apply(tr, 0, bare, RE_X_SET, &e);
	reg_form_reset(&f);
}


void tr_reg_presence_to(struct translator *tr, const char *bare)
{
	uint64_t id = tr_regrec_key_get(tr, RK_JID, bare);
	struct regrec r;

	if (!id || tr_regrec_load(tr, id, &r))
		return;
	tell_presence(tr, &r, bare);
	regrec_reset(&r);
}


void tr_reg_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc)
{
	struct reg_ev e = {.oc = oc};

	if (oc->scode < 200)
		return;
	(void)tr_reg_apply(tr, id, NULL, RE_R_OK, &e);
}


void tr_reg_expired(struct translator *tr, uint64_t id)
{
	struct reg_ev e = {0};

	(void)tr_reg_apply(tr, id, NULL, RE_T_EXPIRED, &e);
}


bool tr_reg_wants(struct translator *tr, uint64_t id)
{
	const void *v;
	size_t vl;

	return !tr_rec_get(tr, DB_REG, id, &v, &vl);
}


int tr_reg_end(struct translator *tr, uint64_t id)
{
	struct reg_ev e = {0};

	return tr_reg_apply(tr, id, NULL, RE_OP_END, &e);
}
