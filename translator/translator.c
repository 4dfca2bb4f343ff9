/**
 * @file translator.c  main(), the peer table and group commit.
 *
 * Every frame read from a front in one loop turn runs against one write
 * transaction; the transaction commits at the end of the turn, and only
 * then are the frames that depend on it sent and the reliable frames
 * acknowledged (persist, then act).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <re.h>
#include "log.h"
#include "translator.h"

struct after {
	struct le le;
	enum proc_id to;
	struct fbuf fb;
};

static struct translator tr;


static void after_destructor(void *arg)
{
	struct after *a = arg;

	list_unlink(&a->le);
	fbuf_reset(&a->fb);
}


static struct tr_peer *peer_of(enum proc_id id)
{
	return id == PROC_XMPP_FRONT  ? &tr.xmpp
	       : id == PROC_SIP_FRONT ? &tr.sip
				      : NULL;
}


struct store_txn *tr_txn(struct translator *t)
{
	int err;

	if (!t->txn) {
		err = store_begin(t->store, &t->txn, true);
		if (err) {
			/* without a store nothing can be promised: restart */
			fatal(1, "store: cannot begin a transaction: %s",
			      strerror(err));
		}
	}
	return t->txn;
}


void tr_after_commit(struct translator *t, enum proc_id to, struct fbuf *fb)
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
	list_append(&t->after, &a->le, a);
}


void tr_deadline(struct translator *t, uint64_t when, uint64_t id)
{
	uint8_t k[16];

	be64_put(k, when);
	be64_put(k + 8, id);
	store_put(tr_txn(t), DB_DEADLINE, k, sizeof(k), "", 0);
}


int tr_rec_get(struct translator *t, enum store_db db, uint64_t id,
	       const void **v, size_t *vl)
{
	uint8_t k[8];

	be64_put(k, id);
	return store_get(tr_txn(t), db, k, sizeof(k), v, vl);
}


void tr_rec_put(struct translator *t, enum store_db db, uint64_t id,
		struct fbuf *fb, int encode_err)
{
	uint8_t k[8];

	be64_put(k, id);
	if (encode_err)
		log_error("%s %llu: cannot encode the record",
			  store_db_name(db), (unsigned long long)id);
	else
		store_put(tr_txn(t), db, k, sizeof(k), fb->b, fb->len);
	fbuf_reset(fb);
}


void tr_rec_del(struct translator *t, enum store_db db, uint64_t id)
{
	uint8_t k[8];

	be64_put(k, id);
	(void)store_del(tr_txn(t), db, k, sizeof(k));
}


void tr_deadline_del(struct translator *t, uint64_t when, uint64_t id)
{
	uint8_t k[16];

	be64_put(k, when);
	be64_put(k + 8, id);
	store_del(tr_txn(t), DB_DEADLINE, k, sizeof(k));
}


struct expire_ctx {
	uint64_t now;
	uint8_t keys[256][16];
	unsigned n;
};


static bool expire_visit(const void *k, size_t kl, const void *v, size_t vl,
			 void *arg)
{
	struct expire_ctx *c = arg;

	if (kl != 16 || be64_get(k) > c->now || c->n == 256)
		return false;
	memcpy(c->keys[c->n++], k, 16);
	return true;
}


/* Deadlines that passed, oldest first, at most 256 per turn. */
static void tr_expire(uint64_t now)
{
	struct expire_ctx *c = mem_zalloc(sizeof(*c), NULL);

	if (!c)
		return;
	c->now = now;
	store_scan(tr_txn(&tr), DB_DEADLINE, NULL, 0, expire_visit, c);
	for (unsigned i = 0; i < c->n; i++) {
		uint64_t id = be64_get(c->keys[i] + 8);

		store_del(tr_txn(&tr), DB_DEADLINE, c->keys[i], 16);
		if (tr_msg_expired(&tr, id) == ENOENT)
			(void)tr_call_expired(&tr, id);
	}
	mem_deref(c);
}


static void peer_ack(struct tr_peer *p)
{
	if (p->ack > p->hwm) {
		p->hwm = p->ack;
		if (p->ch)
			chan_send_empty(p->ch, MSG_ACK, p->hwm);
	}
}


/* End of a batch: commit, then send what depends on it. */
static void tr_commit(void)
{
	struct le *le;
	int err;

	if (!tr.txn)
		return;
	err = store_commit(tr.txn);
	tr.txn = NULL;
	if (err) {
		/* Nothing was promised: drop the effects and make the fronts
		 * replay their unacknowledged frames. */
		log_error("store commit failed: %s; fronts will replay",
			  strerror(err));
		list_flush(&tr.after);
		tr.xmpp.ack = tr.xmpp.hwm;
		tr.sip.ack = tr.sip.hwm;
		tr.xmpp.ch = mem_deref(tr.xmpp.ch);
		tr.sip.ch = mem_deref(tr.sip.ch);
		return;
	}
	while ((le = list_head(&tr.after))) {
		struct after *a = le->data;
		struct tr_peer *p = peer_of(a->to);
		if (p && p->ch)
			chan_send(p->ch, &a->fb);
		mem_deref(a);
	}
	peer_ack(&tr.xmpp);
	peer_ack(&tr.sip);
}


static void translator_batch_handler(struct chan *ch, void *arg)
{
	tr_commit();
}


/* Every data frame from a front is reliable: apply it once per
 * (front incarnation, seq); the seq is stored with its effects. */
static bool peer_fresh(struct tr_peer *p, const struct frame *fr)
{
	uint8_t k[4] = {0, 0, 0, (uint8_t)p->id}, v[16];

	if (fr->seq <= p->ack)
		return false;
	p->ack = fr->seq;
	be64_put(v, p->boot);
	be64_put(v + 8, p->ack);
	store_put(tr_txn(&tr), DB_RX, k, sizeof(k), v, sizeof(v));
	return true;
}


static int translator_dispatch_xmpp(struct frame *fr)
{
	if (fr->type != MSG_XMPP_LINK && !peer_fresh(&tr.xmpp, fr))
		return 0;
	switch (fr->type) {
	case MSG_XMPP_IN_MESSAGE:
		return tr_msg_xmpp_in(&tr, fr);
	case MSG_XMPP_SENT:
		if (!tr_out_done(&tr, frame_peek_u64(fr)))
			return frame_skip_u64_end(fr);
		return tr_msg_xmpp_sent(&tr, fr);
	case MSG_XMPP_IN_STANZA:
		return tr_call_xmpp_in(&tr, fr);
	case MSG_XMPP_LINK: {
		uint32_t up = frame_get_u32(fr);
		if (frame_end(fr))
			return EBADMSG;
		log_info("xmpp link %s", up ? "up" : "down");
		return 0;
	}
	default:
		return EBADMSG;
	}
}


/* MSG_SIP_RESULT for an outbox frame (already removed from the outbox). */
static int translator_out_result(struct frame *fr)
{
	uint64_t id = frame_get_u64(fr);
	uint32_t scode = frame_get_u32(fr);
	const char *reason;
	size_t rl;

	frame_get_str(fr, &reason, &rl);
	if (frame_end(fr))
		return EBADMSG;
	tr_call_result(&tr, id, scode);
	return 0;
}


static int translator_dispatch_sip(struct frame *fr)
{
	if (!peer_fresh(&tr.sip, fr))
		return 0;
	switch (fr->type) {
	case MSG_SIP_IN_MESSAGE:
		return tr_msg_sip_in(&tr, fr);
	case MSG_SIP_RESULT:
		if (tr_out_done(&tr, frame_peek_u64(fr)))
			return tr_msg_sip_result(&tr, fr);
		return translator_out_result(fr);
	case MSG_SIP_IN_REQUEST:
		return tr_call_sip_request(&tr, fr);
	case MSG_SIP_IN_RESPONSE:
		return tr_call_sip_response(&tr, fr);
	default:
		return EBADMSG;
	}
}


static int translator_hello(struct chan *ch, struct frame *fr)
{
	uint32_t proc, pid;
	uint64_t boot, acked;
	struct tr_peer *p;
	uint8_t k[4] = {0};
	const void *v;
	size_t vl;
	int err;

	err = proc_hello_decode(fr, &proc, &pid, &boot, &acked);
	if (err)
		return err;
	p = peer_of((enum proc_id)proc);
	if (!p) {
		log_warn("hello from unexpected process %u", proc);
		return EPROTO;
	}
	k[3] = (uint8_t)proc;
	p->hwm = 0;
	if (!store_get(tr_txn(&tr), DB_RX, k, sizeof(k), &v, &vl) && vl == 16 &&
	    be64_get(v) == boot)
		p->hwm = be64_get((const uint8_t *)v + 8);
	p->ack = p->hwm;
	p->boot = boot;
	if (p->ch && p->ch != ch) {
		log_info("%s reconnected; dropping its old channel",
			 proc_name(p->id));
		mem_deref(p->ch);
	}
	p->ch = ch;
	chan_set_user(ch, p);
	chan_set_name(ch, proc_name(p->id));
	log_info("%s connected (pid %u, %llu frames already applied)",
		 proc_name(p->id), pid, (unsigned long long)p->hwm);
	err = proc_hello(&tr.proc, ch, p->hwm);
	if (!err) {
		tr_msg_replay(&tr, p->id);
		tr_out_replay(&tr, p->id);
	}
	return err;
}


static int translator_dispatch(struct chan *ch, struct frame *fr, void *arg)
{
	struct tr_peer *p = chan_user(ch);
	int err;

	if (!p) {
		if (fr->type != MSG_HELLO)
			return EPROTO;
		return translator_hello(ch, fr);
	}
	if (tr.stopping)
		return 0; /* not applied, not acked: replayed later */
	err = p->id == PROC_XMPP_FRONT ? translator_dispatch_xmpp(fr)
				       : translator_dispatch_sip(fr);
	if (err)
		log_warn("bad %s from %s (seq %llu)",
			 msg_type_name(fr->type) ? msg_type_name(fr->type)
						 : "frame",
			 proc_name(p->id), (unsigned long long)fr->seq);
	return err;
}


static void translator_close_handler(struct chan *ch, int err, void *arg)
{
	struct tr_peer *p = chan_user(ch);

	if (p && p->ch == ch) {
		log_info("%s disconnected", proc_name(p->id));
		p->ch = NULL;
	}
	mem_deref(ch);
}


static void translator_accept_handler(int flags, void *arg)
{
	struct chan *ch;
	int fd, err;

	fd = accept4(tr.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	err = chan_alloc(&ch, fd, "front", translator_dispatch,
			 translator_batch_handler, translator_close_handler,
			 NULL);
	if (err) {
		log_warn("accept: %s", strerror(err));
		close(fd);
	}
}


static void sweep_handler(void *arg)
{
	tr_expire(wall_ms());
	tr_commit();
	tmr_start(&tr.sweep, 1000, sweep_handler, NULL);
}


/* Operator requests relayed by the supervisor. */
static int translator_dispatch_supervisor(struct frame *fr, void *arg)
{
	if (fr->type != MSG_CALL_END || frame_end(fr))
		return EBADMSG;
	if (tr_call_end(&tr, fr->seq, "ended by the operator (xsgwctl end)"))
		log_info("xsgwctl end %llu: no such call",
			 (unsigned long long)fr->seq);
	tr_commit();
	return 0;
}


static void translator_shutdown(void *arg)
{
	tr.stopping = true;
	tr_commit();
	re_cancel();
}


int main(int argc, char **argv)
{
	char path[512];
	int err;

	proc_init(&tr.proc, PROC_TRANSLATOR, argc, argv, translator_shutdown,
		  NULL);
	tr.proc.frameh = translator_dispatch_supervisor;
	tr.xmpp.id = PROC_XMPP_FRONT;
	tr.sip.id = PROC_SIP_FRONT;
	err = store_open(&tr.store, tr.proc.cfg->store.path,
			 tr.proc.cfg->store.map_size, false);
	if (err)
		fatal(1, "store %s: %s", tr.proc.cfg->store.path,
		      strerror(err));
	err = mkdir_p(tr.proc.cfg->runtime.dir, 0700);
	if (!err)
		err = path_join(path, sizeof(path), tr.proc.cfg->runtime.dir,
				"translator.sock");
	if (!err)
		err = unix_listen(&tr.lfd, path);
	if (err)
		fatal(1, "listen %s: %s", path, strerror(err));
	fd_listen(tr.lfd, FD_READ, translator_accept_handler, NULL);
	err = tr_call_init(&tr);
	if (err)
		fatal(1, "calls: %s", strerror(err));
	tmr_init(&tr.sweep);
	sweep_handler(NULL);
	proc_ready(&tr.proc);

	err = proc_run(&tr.proc);

	tmr_cancel(&tr.sweep);
	fd_close(tr.lfd);
	close(tr.lfd);
	tr.xmpp.ch = mem_deref(tr.xmpp.ch);
	tr.sip.ch = mem_deref(tr.sip.ch);
	if (tr.txn)
		store_abort(tr.txn);
	store_close(tr.store);
	list_flush(&tr.after);
	tr_call_close(&tr);
	log_info("stopped");
	libre_close();
	config_free(tr.proc.cfg);
	return err;
}
