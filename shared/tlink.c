/**
 * @file tlink.c  Front -> translator link.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "backoff.h"
#include "log.h"
#include "msg.h"
#include "tlink.h"

enum {
	DONE_RING = 8192,
	/* a lazy frame waits at most this long for company (tlink.h). Not
	 * longer: a report that rides on a stanza is applied in the turn
	 * that answers the stanza, ahead of its answer (+80 us p50 per
	 * message at 50/s with 100 ms, for 13 % less CPU) */
	LAZY_MS_DEFAULT = 10,
	/* ... and no more of them wait than this (the translator's journal
	 * of them, and a successor's replay, stay short) */
	LAZY_MAX = 64,
};

/** An out id reported done: in the ring, and in its index. */
struct done_ent {
	struct le he;
	uint64_t id;
};

struct tlink {
	struct proc *proc;
	struct chan *ch;
	struct relq *q;
	struct tmr tmr;
	struct tmr lazy; /* sends the lazy frames kept but not yet sent */
	uint64_t unsent; /* the first of them (seq), 0: none */
	uint32_t lazy_ms;
	unsigned attempts;
	bool up;
	uint64_t epoch; /* HELLOs exchanged */
	tlink_frame_h *frameh;
	tlink_ack_h *ackh;
	void *arg;
	uint64_t pushed; /* reliable frames pushed: the last one's seq */
	struct done_ent done[DONE_RING]; /**< the last DONE_RING, a ring */
	unsigned done_head;
	struct hash *done_idx; /**< the ring's entries by id */
	char path[512];
};

static void tlink_connect(void *arg);


static void lazy_flush(struct tlink *tl);


static void tlink_destructor(void *arg)
{
	struct tlink *tl = arg;

	lazy_flush(tl); /* written now: no loop runs after this */
	tmr_cancel(&tl->tmr);
	tmr_cancel(&tl->lazy);
	mem_deref(tl->ch);
	mem_deref(tl->q);
	hash_clear(tl->done_idx); /* the entries are part of tl */
	mem_deref(tl->done_idx);
}


static void tlink_retry(struct tlink *tl)
{
	uint32_t d =
		backoff_delay(50, 1000, tl->attempts++, (uint32_t)random_u64());

	tmr_start(&tl->tmr, d, tlink_connect, tl);
}


static int tlink_dispatch(struct chan *ch, struct frame *fr, void *arg)
{
	struct tlink *tl = arg;
	struct m_hello h;
	struct m_ack a;
	int err;

	if (!tl->up) {
		if (fr->type != MSG_HELLO)
			return EPROTO;
		err = msg_dec_hello(fr, &h);
		if (err || h.proc != PROC_TRANSLATOR)
			return err ? err : EPROTO;
		relq_ack(tl->q, h.acked);
		tl->up = true;
		tl->epoch++;
		tl->attempts = 0;
		log_info("translator link up (pid %u); re-sending %zu frame(s)",
			 h.pid, relq_count(tl->q));
		err = relq_replay(tl->q, ch);
		tl->unsent = 0; /* the lazy ones went too */
		tmr_cancel(&tl->lazy);
		if (tl->ackh)
			tl->ackh(h.acked, tl->arg);
		/* more than the channel holds: it closes once the rest is
		 * written, and the next link goes on from what was applied */
		return err == ENOBUFS ? 0 : err;
	}
	if (fr->type == MSG_ACK) {
		if (msg_dec_ack(fr, &a))
			return EBADMSG;
		relq_ack(tl->q, a.seq);
		if (tl->ackh)
			tl->ackh(a.seq, tl->arg);
		return 0;
	}
	return tl->frameh(fr, tl->arg);
}


static void tlink_close_handler(struct chan *ch, int err, void *arg)
{
	struct tlink *tl = arg;

	/* a translator of another release: retrying cannot help (chan has
	 * logged why); the supervisor stops on EXIT_CONFIG */
	if (err == EPROTO && chan_peer_version(ch))
		exit(EXIT_CONFIG);
	log_warn("translator link down (%s); %zu frame(s) kept",
		 err ? strerror(err) : "EOF", relq_count(tl->q));
	tl->up = false;
	tl->ch = mem_deref(tl->ch);
	tlink_retry(tl);
}


static void tlink_connect(void *arg)
{
	struct tlink *tl = arg;
	int err;

	err = chan_connect(&tl->ch, tl->path, "translator", tlink_dispatch,
			   NULL, tlink_close_handler, tl);
	if (!err)
		err = proc_hello(tl->proc, tl->ch, 0);
	if (err) {
		if (tl->attempts == 0 || log_enabled(LOG_DEBUG))
			log_info("translator not reachable (%s); retrying",
				 strerror(err));
		tl->ch = mem_deref(tl->ch);
		tlink_retry(tl);
	}
}


int tlink_alloc(struct tlink **tlp, struct proc *proc, tlink_frame_h *frameh,
		void *arg)
{
	struct tlink *tl;
	int err;

	tl = mem_zalloc(sizeof(*tl), tlink_destructor);
	if (!tl)
		return ENOMEM;
	tl->proc = proc;
	tl->frameh = frameh;
	tl->arg = arg;
	tmr_init(&tl->tmr);
	tmr_init(&tl->lazy);
	tl->lazy_ms = LAZY_MS_DEFAULT;
	err = path_join(tl->path, sizeof(tl->path), proc->cfg->runtime.dir,
			"translator.sock");
	if (!err)
		err = relq_alloc(&tl->q, proc->boot);
	if (!err)
		err = hash_alloc(&tl->done_idx, DONE_RING / 2);
	if (err) {
		mem_deref(tl);
		return err;
	}
	tmr_start(&tl->tmr, 0, tlink_connect, tl);
	*tlp = tl;
	return 0;
}


/* Send the lazy frames kept so far (in order, before anything else). A
 * link that is down replays them all when it is up again. */
static void lazy_flush(struct tlink *tl)
{
	if (!tl->unsent)
		return;
	tmr_cancel(&tl->lazy);
	if (tl->up)
		(void)relq_send_from(tl->q, tl->ch, tl->unsent);
	tl->unsent = 0;
}


static void lazy_handler(void *arg)
{
	lazy_flush(arg);
}


static int push(struct tlink *tl, struct fbuf *fb, uint64_t *seqp, bool lazy)
{
	int err;

	if (!lazy)
		lazy_flush(tl);
	err = relq_push(tl->q, tl->up && !lazy ? tl->ch : NULL, fb);
	if (err)
		return err;
	/* relq numbers its frames 1, 2, ... and only tlink pushes */
	tl->pushed++;
	if (seqp)
		*seqp = tl->pushed;
	if (lazy && tl->up && !tl->unsent) {
		tl->unsent = tl->pushed;
		tmr_start(&tl->lazy, tl->lazy_ms, lazy_handler, tl);
	} else if (lazy && tl->unsent &&
		   tl->pushed - tl->unsent + 1 >= LAZY_MAX) {
		lazy_flush(tl);
	}
	return 0;
}


int tlink_send_reliable(struct tlink *tl, struct fbuf *fb, uint64_t *seqp)
{
	return push(tl, fb, seqp, false);
}


int tlink_send_lazy(struct tlink *tl, struct fbuf *fb, uint64_t *seqp)
{
	return push(tl, fb, seqp, true);
}


int tlink_report_done(struct tlink *tl, uint64_t out, uint32_t scode,
		      const char *reason, uint64_t *seqp)
{
	struct m_out_done d = {.out = out, .scode = scode};
	struct fbuf fb = {0};
	int err;

	tlink_done(tl, out);
	pl_set_str(&d.reason, reason);
	err = msg_enc_out_done(&fb, &d);
	if (!err)
		err = scode < 300 ? tlink_send_lazy(tl, &fb, seqp)
				  : tlink_send_reliable(tl, &fb, seqp);
	fbuf_reset(&fb);
	return err;
}


void tlink_flush(struct tlink *tl)
{
	lazy_flush(tl);
}


void tlink_set_lazy_ms(struct tlink *tl, uint32_t ms)
{
	tl->lazy_ms = ms;
}


void tlink_set_ack_handler(struct tlink *tl, tlink_ack_h *ackh)
{
	tl->ackh = ackh;
}


int tlink_send(struct tlink *tl, struct fbuf *fb)
{
	int err = frame_finish(fb);

	if (err)
		return err;
	lazy_flush(tl);
	return tl->up ? chan_send(tl->ch, fb) : EPIPE;
}


void tlink_resume(struct tlink *tl)
{
	chan_resume(tl->ch);
}


bool tlink_up(const struct tlink *tl)
{
	return tl->up;
}


uint64_t tlink_epoch(const struct tlink *tl)
{
	return tl->up ? tl->epoch : 0;
}


size_t tlink_unacked(const struct tlink *tl)
{
	return relq_count(tl->q);
}


static uint32_t done_key(uint64_t id)
{
	return (uint32_t)(id ^ id >> 32);
}


void tlink_done(struct tlink *tl, uint64_t id)
{
	struct done_ent *e = &tl->done[tl->done_head];

	hash_unlink(&e->he); /* the oldest leaves (no-op if unused) */
	e->id = id;
	hash_append(tl->done_idx, done_key(id), &e->he, e);
	tl->done_head = (tl->done_head + 1) % DONE_RING;
}


static bool done_match(struct le *le, void *arg)
{
	const struct done_ent *e = le->data;

	return e->id == *(const uint64_t *)arg;
}


bool tlink_is_done(const struct tlink *tl, uint64_t id)
{
	return hash_lookup(tl->done_idx, done_key(id), done_match, &id) != NULL;
}
