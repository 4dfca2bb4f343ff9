/**
 * @file tr_out.c  The outbox: frames a front must act on, kept in the store
 *                 until the front reports them done, so that a front killed
 *                 before acting gets them again when it reconnects.
 *
 * The outbox id is the frame's seq; fronts treat a second copy of an id they
 * have done (or are doing) as a no-op. A record is {u32 front, str frame}.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "translator.h"

#define OUTREC_VERSION 1


uint64_t tr_out(struct translator *tr, enum proc_id to, struct fbuf *fb)
{
	struct fbuf rec = {0};
	uint64_t id;
	uint8_t k[8];

	if (frame_finish(fb)) {
		log_error("dropping an outgoing %s: too large", proc_name(to));
		fbuf_reset(fb);
		return 0;
	}
	id = store_next_id(tr_txn(tr));
	be64_put(fb->b + 8, id); /* the header's seq */
	rec_begin(&rec, OUTREC_VERSION);
	frame_put_u32(&rec, to);
	frame_put_str(&rec, (const char *)fb->b, fb->len);
	be64_put(k, id);
	if (!rec.err)
		store_put(tr_txn(tr), DB_OUTBOX, k, 8, rec.b, rec.len);
	fbuf_reset(&rec);
	tr_after_commit(tr, to, fb);
	return id;
}


int tr_out_done(struct translator *tr, uint64_t id)
{
	uint8_t k[8];

	be64_put(k, id);
	return store_del(tr_txn(tr), DB_OUTBOX, k, 8);
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
	struct fbuf fb = {0};
	struct frame fr;
	const char *p;
	size_t n;
	uint32_t to;

	if (kl != 8 || rec_open(&fr, v, vl) != OUTREC_VERSION)
		return true;
	to = frame_get_u32(&fr);
	frame_get_str(&fr, &p, &n);
	if (frame_end(&fr) || to != c->to || n < FRAME_HDR_SIZE)
		return true;
	/* stage the stored frame as it is (header included) */
	fb.b = malloc(n);
	if (!fb.b)
		return false;
	memcpy(fb.b, p, n);
	fb.len = fb.cap = n;
	tr_after_commit(c->tr, c->to, &fb); /* finish: idempotent */
	c->n++;
	return true;
}


void tr_out_replay(struct translator *tr, enum proc_id to)
{
	struct replay_ctx c = {tr, to, 0};

	store_scan(tr_txn(tr), DB_OUTBOX, NULL, 0, replay_visit, &c);
	if (c.n)
		log_info("re-sending %u outbox frame(s) to %s", c.n,
			 proc_name(to));
}
