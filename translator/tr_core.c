/**
 * @file tr_core.c  The batch core: every frame read from a front in one
 *                  loop turn runs against one write transaction, which
 *                  commits at the end of the turn; only then are the frames
 *                  that depend on it sent and the fronts' reliable frames
 *                  acknowledged (persist, then act). Deadlines and records
 *                  by id live here too.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "translator.h"

struct after {
	struct le le;
	enum proc_id to;
	struct fbuf fb;
};


static void after_destructor(void *arg)
{
	struct after *a = arg;

	list_unlink(&a->le);
	fbuf_reset(&a->fb);
}


struct tr_peer *tr_peer_of(struct translator *tr, enum proc_id id)
{
	return id == PROC_XMPP_FRONT  ? &tr->xmpp
	       : id == PROC_SIP_FRONT ? &tr->sip
				      : NULL;
}


struct store_txn *tr_txn(struct translator *tr)
{
	int err;

	if (!tr->txn) {
		err = store_begin(tr->store, &tr->txn, true);
		if (err) {
			/* without a store nothing can be promised: restart */
			fatal(1, "store: cannot begin a transaction: %s",
			      strerror(err));
		}
	}
	return tr->txn;
}


void tr_after_commit(struct translator *tr, enum proc_id to, struct fbuf *fb)
{
	struct after *a = mem_zalloc(sizeof(*a), after_destructor);

	if (!a || frame_finish(fb)) {
		log_error("dropping an outgoing frame: %s",
			  a ? "frame too large" : "out of memory");
		mem_deref(a);
		fbuf_reset(fb);
		return;
	}
	a->to = to;
	a->fb = *fb;
	memset(fb, 0, sizeof(*fb));
	list_append(&tr->after, &a->le, a);
}


enum {
	/* an acknowledgement with no frame to go with waits this long for
	 * one, unless a frame asked for it at once (tr_peer.ack_now): the
	 * front keeps its frames until then, and wakes once for several
	 * (at a few operations a second, for none: it rides on the next) */
	ACK_LAZY_MS = 100,
	/* ... or until this many frames wait for it: a front's journal of
	 * unacknowledged frames stays short */
	ACK_LAZY_MAX = 64,
};


static void peer_ack(struct tr_peer *p)
{
	struct m_ack m;
	struct fbuf fb = {0};

	tmr_cancel(&p->ack_tmr);
	if (p->hwm > p->sent && p->ch) {
		p->sent = p->hwm;
		m.seq = p->sent;
		chan_send_msg(p->ch, &fb, msg_enc_ack(&fb, &m));
	}
}


static void ack_handler(void *arg)
{
	peer_ack(arg);
}


/* Committed: acknowledge at once if a frame goes to the front anyway
 * (one write for both) or sending says so, else lazily. */
static void peer_committed(struct tr_peer *p, bool sending)
{
	p->hwm = p->ack;
	if (!p->ch)
		p->sent = p->hwm; /* away: its HELLO will tell it */
	if (p->hwm <= p->sent)
		return;
	if (sending || p->hwm - p->sent >= ACK_LAZY_MAX)
		peer_ack(p);
	else if (!tmr_isrunning(&p->ack_tmr))
		tmr_start(&p->ack_tmr, ACK_LAZY_MS, ack_handler, p);
}


void tr_ack_flush(struct translator *tr)
{
	peer_ack(&tr->xmpp);
	peer_ack(&tr->sip);
}


void tr_commit(struct translator *tr)
{
	bool sip_sent = false, xmpp_sent = false;
	struct le *le;
	int err;

	if (!tr->txn)
		return;
	err = store_commit(tr->txn);
	tr->txn = NULL;
	if (err) {
		/* Nothing was promised: drop the effects and make the fronts
		 * replay their unacknowledged frames. */
		log_error("store commit failed: %s; fronts will replay",
			  strerror(err));
		if (err == EAGAIN) {
			/* the map grew: nothing was anybody's fault */
			tr->xmpp.poison_seq = 0;
			tr->sip.poison_seq = 0;
		}
		list_flush(&tr->after);
		tr->xmpp.ack_now = tr->sip.ack_now = false;
		tr->xmpp.ack = tr->xmpp.hwm;
		tr->sip.ack = tr->sip.hwm;
		tr->xmpp.ch = mem_deref(tr->xmpp.ch);
		tr->sip.ch = mem_deref(tr->sip.ch);
		return;
	}
	while ((le = list_head(&tr->after))) {
		struct after *a = le->data;
		struct tr_peer *p = tr_peer_of(tr, a->to);
		if (p && p->ch) {
			chan_send(p->ch, &a->fb);
			sip_sent |= p == &tr->sip;
			xmpp_sent |= p == &tr->xmpp;
		}
		mem_deref(a);
	}
	peer_committed(&tr->xmpp, xmpp_sent || tr->xmpp.ack_now);
	peer_committed(&tr->sip, sip_sent || tr->sip.ack_now);
	tr->xmpp.ack_now = tr->sip.ack_now = false;
}


bool tr_admit(struct translator *tr)
{
	uint64_t used, max;
	bool full;

	store_fill(tr_txn(tr), &used, &max);
	full = max && used * 100 >= max * STORE_HIGH_WATER;
	if (full != tr->store_full)
		log_warn(full ? "store %llu%% full: new messages and calls are "
				"refused until it drains"
			      : "store %llu%% full: new work accepted again",
			 (unsigned long long)(max ? used * 100 / max : 0));
	tr->store_full = full;
	if (full)
		store_count(tr_txn(tr), "store.refused", 1);
	return !full;
}


int tr_frame_begin(struct translator *tr)
{
	return store_txn_err(tr_txn(tr));
}


void tr_frame_end(struct translator *tr, struct tr_peer *p,
		  const struct frame *fr, int before)
{
	int err = tr->txn ? store_txn_err(tr->txn) : 0;

	if (before || !err || !fr->seq)
		return;
	log_error("%s from %s (seq %llu) cannot be stored (%s): refused",
		  msg_type_name(fr->type) ? msg_type_name(fr->type) : "frame",
		  proc_name(p->id), (unsigned long long)fr->seq, strerror(err));
	p->poison_boot = p->boot;
	p->poison_seq = fr->seq;
	p->poison_err = err;
}


bool tr_poisoned(const struct tr_peer *p, uint64_t seq)
{
	return p->poison_seq && p->poison_seq == seq &&
	       p->poison_boot == p->boot;
}


void tr_deadline(struct translator *tr, uint64_t when, enum owner_kind kind,
		 uint64_t id)
{
	uint8_t k[KEY_DEADLINE_LEN];

	key_deadline(k, when, kind, id);
	store_put(tr_txn(tr), DB_DEADLINE, k, sizeof(k), "", 0);
}


void tr_deadline_del(struct translator *tr, uint64_t when, enum owner_kind kind,
		     uint64_t id)
{
	uint8_t k[KEY_DEADLINE_LEN];

	key_deadline(k, when, kind, id);
	(void)store_del(tr_txn(tr), DB_DEADLINE, k, sizeof(k));
}


struct due_scan {
	uint64_t now;
	struct tr_due *due;
	unsigned n, max;
	uint8_t (*keys)[KEY_DEADLINE_LEN];
};


static bool due_visit(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	struct due_scan *c = arg;
	uint64_t when, id;
	enum owner_kind kind;

	if (c->n == c->max)
		return false;
	if (key_deadline_parse(k, kl, &when, &kind, &id))
		return true; /* not of this schema (tr_upgrade converts) */
	if (when > c->now)
		return false;
	memcpy(c->keys[c->n], k, KEY_DEADLINE_LEN);
	c->due[c->n].kind = kind;
	c->due[c->n].id = id;
	c->n++;
	return true;
}


unsigned tr_deadline_take(struct translator *tr, uint64_t now,
			  struct tr_due *due, unsigned max)
{
	struct due_scan c = {now, due, 0, max, NULL};

	c.keys = mem_zalloc(max * KEY_DEADLINE_LEN, NULL);
	if (!c.keys)
		return 0;
	store_scan(tr_txn(tr), DB_DEADLINE, NULL, 0, due_visit, &c);
	for (unsigned i = 0; i < c.n; i++)
		(void)store_del(tr_txn(tr), DB_DEADLINE, c.keys[i],
				KEY_DEADLINE_LEN);
	mem_deref(c.keys);
	return c.n;
}


int tr_rec_get(struct translator *tr, enum store_db db, uint64_t id,
	       const void **v, size_t *vl)
{
	uint8_t k[8];

	key_id(k, id);
	return store_get(tr_txn(tr), db, k, sizeof(k), v, vl);
}


void tr_rec_put(struct translator *tr, enum store_db db, uint64_t id,
		struct fbuf *fb, int encode_err)
{
	uint8_t k[8];

	key_id(k, id);
	if (encode_err)
		log_error("%s %llu: cannot encode the record",
			  store_db_name(db), (unsigned long long)id);
	else
		store_put(tr_txn(tr), db, k, sizeof(k), fb->b, fb->len);
	fbuf_reset(fb);
}


void tr_rec_del(struct translator *tr, enum store_db db, uint64_t id)
{
	uint8_t k[8];

	key_id(k, id);
	(void)store_del(tr_txn(tr), db, k, sizeof(k));
}


int tr_history_append(char **hist, size_t max, const char *line)
{
	const char *old = *hist ? *hist : "";
	size_t add = strlen(line) + 24;
	char *h = NULL;

	/* drop whole lines from the front until the new one fits */
	while (*old && strlen(old) + add > max) {
		const char *nl = strchr(old, '\n');
		old = nl ? nl + 1 : old + strlen(old);
	}
	if (re_sdprintf(&h, "%s%llu %s\n", old, (unsigned long long)wall_ms(),
			line))
		return ENOMEM;
	mem_deref(*hist);
	*hist = h;
	return 0;
}
