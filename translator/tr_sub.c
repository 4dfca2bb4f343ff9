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
 * A NOTIFY may come before the 2xx (RFC 6665 4.1.2.4): either creates the
 * dialog. A NOTIFY with a CSeq below the last is answered 500, one for a
 * subscription we do not have 481 (tr_from_sip.c). Not handled yet: a
 * 401/407 or 423 to a SUBSCRIBE (it fails and is retried as it was).
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

enum { RETRY_MIN_MS = 2000, TERMINATED_RETRY_MS = 1000 };


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


static void sub_drop(struct translator *tr, uint64_t id, struct subrec *r)
{
	sub_deadline(tr, id, r, 0);
	tr_callrec_key_del(tr, CK_SUB, r->callid, r->ltag);
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


static void subscribe(struct translator *tr, uint64_t id, struct subrec *r)
{
	r->lcseq++;
	r->out = tr_sip_subscribe(tr, id, r, expires_of(tr));
	r->state = SB_SUBSCRIBING;
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


struct find {
	uint64_t phone;
	const char *event;
	uint64_t id;
};

static bool find_visit(const void *k, size_t kl, const void *v, size_t vl,
		       void *arg)
{
	struct find *f = arg;
	struct subrec r;

	if (kl != 8 || subrec_decode(&r, v, vl))
		return true;
	if (r.phone == f->phone && !strcmp(r.event, f->event))
		f->id = key_id_parse(k);
	subrec_reset(&r);
	return !f->id;
}


void tr_sub_ensure(struct translator *tr, uint64_t phone, const char *event,
		   const char *target)
{
	struct find f = {phone, event, 0};
	struct subrec r = {0};
	uint64_t id;

	store_scan(tr_txn(tr), DB_SUB, NULL, 0, find_visit, &f);
	if (f.id)
		return;
	id = store_next_id(tr_txn(tr));
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


void tr_sub_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc)
{
	struct subrec r;

	if (oc->scode < 200 || sub_load(tr, id, &r))
		return;
	if (!phone_exists(tr, r.phone)) {
		sub_drop(tr, id, &r);
		goto out;
	}
	if (!oc->out || oc->out != r.out)
		goto out; /* an older SUBSCRIBE's */
	r.out = 0;
	r.last_code = oc->scode;
	mem_deref(r.last_reason);
	(void)str_dup(&r.last_reason, oc->reason);
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
	if (!phone_exists(tr, r.phone)) {
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
