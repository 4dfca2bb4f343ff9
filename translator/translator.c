/**
 * @file translator.c  main(), the peer table, and one dispatch function per
 *                     peer (relayd's shape). Every data frame from a front
 *                     is reliable: it is applied once per (front
 *                     incarnation, seq) in the batch transaction
 *                     (tr_core.c), whose commit precedes anything that
 *                     depends on it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "rxrec.h"
#include "translator.h"
#include "xparse.h"

static struct translator tr;

static int translator_dispatch_xmpp(struct frame *fr);
static int translator_dispatch_sip(struct frame *fr);

/* The fronts: who may connect, and who reads their frames. */
static const struct {
	enum proc_id id;
	int (*dispatch)(struct frame *fr);
} peers[] = {
	{PROC_XMPP_FRONT, translator_dispatch_xmpp},
	{PROC_SIP_FRONT, translator_dispatch_sip},
};


/* Apply a reliable frame once: its seq is stored with its effects. A
 * frame known to poison the batch is only refused (tr_poisoned). */
static bool peer_fresh(struct tr_peer *p, const struct frame *fr)
{
	struct rxrec r;
	struct fbuf fb = {0};
	uint8_t k[4];

	if (fr->seq <= p->ack)
		return false;
	p->ack = fr->seq;
	r.boot = p->boot;
	r.seq = p->ack;
	r.stream = p->stream;
	r.off = p->off;
	key_rx(k, p->id);
	if (!rxrec_encode(&fb, &r))
		store_put(tr_txn(&tr), DB_RX, k, sizeof(k), fb.b, fb.len);
	fbuf_reset(&fb);
	return true;
}


/* A stanza: applied once per stream position, so the stanzas a killed
 * front had sent are dropped when its successor, continuing the same
 * stream, sends them again (under a new incarnation and seq). */
static int xmpp_in(struct frame *fr, bool refuse)
{
	struct tr_peer *p = &tr.xmpp;
	struct m_xmpp_in in;
	bool seen;

	if (msg_dec_xmpp_in(fr, &in))
		return EBADMSG;
	seen = in.stream && in.stream == p->stream && in.end <= p->off;
	if (fr->seq > p->ack && !seen) {
		p->stream = in.stream;
		p->off = in.end;
	}
	if (!peer_fresh(p, fr) || seen)
		return 0;
	if (refuse)
		tr_from_xmpp_refuse(&tr, &in, p->poison_err);
	else
		tr_from_xmpp(&tr, &in);
	return 0;
}


/* A component stream this store has not seen yet: what the server did not
 * route to the gateway meanwhile is asked for (once per stream: the
 * stream's id is kept in the store's meta). */
static void xmpp_stream_seen(uint64_t stream)
{
	static const char k[] = "xmpp_stream";
	uint8_t b[8];
	const void *v;
	size_t vl;

	if (!store_get(tr_txn(&tr), DB_META, k, sizeof(k) - 1, &v, &vl) &&
	    vl == 8 && be64_get(v) == stream)
		return;
	be64_put(b, stream);
	store_put(tr_txn(&tr), DB_META, k, sizeof(k) - 1, b, sizeof(b));
	tr_watch_probe_all(&tr);
}


static int translator_dispatch_xmpp(struct frame *fr)
{
	struct m_xmpp_link link;
	struct m_client_up up;
	struct m_client_sm sm;
	struct m_out_done done;
	char jid[1024];
	bool refuse;

	if (fr->type == MSG_XMPP_LINK) {
		if (msg_dec_xmpp_link(fr, &link))
			return EBADMSG;
		log_info("xmpp link %s", link.up ? "up" : "down");
		if (link.up && link.stream)
			xmpp_stream_seen(link.stream);
		if (!link.up) {
			/* a front stopping waits for every acknowledgement:
			 * what is committed, and this batch's, go at once */
			tr.xmpp.ack_now = true;
			tr_ack_flush(&tr);
		}
		return 0;
	}
	if (fr->type == MSG_CLIENT_UP) {
		/* not reliable: sent again whenever the link comes up */
		if (msg_dec_client_up(fr, &up) || up.jid.l >= sizeof(jid))
			return EBADMSG;
		pl_strcpy(&up.jid, jid, sizeof(jid));
		tr_phone_client_up(&tr, jid);
		return 0;
	}
	refuse = tr_poisoned(&tr.xmpp, fr->seq);
	/* the front consumes a stanza's bytes only once it is acknowledged,
	 * and only then does the kernel acknowledge them to the server: a
	 * server with Nagle on (Prosody's default) holds its next stanza
	 * until then. Only a report may wait. */
	if (fr->type != MSG_OUT_DONE)
		tr.xmpp.ack_now = true;
	if (fr->type == MSG_XMPP_IN)
		return xmpp_in(fr, refuse);
	if (!peer_fresh(&tr.xmpp, fr))
		return 0;
	switch (fr->type) {
	case MSG_OUT_DONE:
		if (msg_dec_out_done(fr, &done))
			return EBADMSG;
		if (!refuse)
			tr_owner_done(&tr, PROC_XMPP_FRONT, &done);
		return 0;
	case MSG_CLIENT_SM:
		if (msg_dec_client_sm(fr, &sm))
			return EBADMSG;
		tr_phone_client_sm(&tr, &sm, !refuse);
		return 0;
	default:
		return EBADMSG;
	}
}


static int translator_dispatch_sip(struct frame *fr)
{
	struct m_sip_in_request rq;
	struct m_sip_in_response rs;
	struct m_out_done done;
	bool refuse = tr_poisoned(&tr.sip, fr->seq);

	if (!peer_fresh(&tr.sip, fr))
		return 0;
	switch (fr->type) {
	case MSG_SIP_IN_REQUEST:
		if (msg_dec_sip_in_request(fr, &rq))
			return EBADMSG;
		if (refuse)
			tr_from_sip_refuse(&tr, &rq, tr.sip.poison_err);
		else
			tr_from_sip_request(&tr, &rq);
		return 0;
	case MSG_SIP_IN_RESPONSE:
		if (msg_dec_sip_in_response(fr, &rs))
			return EBADMSG;
		if (!refuse)
			tr_from_sip_response(&tr, &rs);
		return 0;
	case MSG_OUT_DONE:
		if (msg_dec_out_done(fr, &done))
			return EBADMSG;
		if (!refuse)
			tr_owner_done(&tr, PROC_SIP_FRONT, &done);
		return 0;
	default:
		return EBADMSG;
	}
}


static int translator_hello(struct chan *ch, struct frame *fr)
{
	struct m_hello h;
	struct tr_peer *p;
	struct rxrec rx;
	uint8_t k[4];
	const void *v;
	size_t vl;
	int err;

	err = msg_dec_hello(fr, &h);
	if (err)
		return err;
	p = tr_peer_of(&tr, (enum proc_id)h.proc);
	if (!p) {
		log_warn("hello from unexpected process %u", h.proc);
		return EPROTO;
	}
	key_rx(k, h.proc);
	p->hwm = 0;
	p->stream = p->off = 0;
	if (!store_get(tr_txn(&tr), DB_RX, k, sizeof(k), &v, &vl) &&
	    !rxrec_decode(&rx, v, vl)) {
		if (rx.boot == h.boot)
			p->hwm = rx.seq;
		p->stream = rx.stream;
		p->off = rx.off;
	}
	p->ack = p->sent = p->hwm; /* the HELLO below acknowledges hwm */
	tmr_cancel(&p->ack_tmr);
	p->boot = h.boot;
	if (p->ch && p->ch != ch) {
		log_info("%s reconnected; dropping its old channel",
			 proc_name(p->id));
		mem_deref(p->ch);
	}
	p->ch = ch;
	chan_set_user(ch, p);
	chan_set_name(ch, proc_name(p->id));
	log_info("%s connected (pid %u, %llu frames already applied)",
		 proc_name(p->id), h.pid, (unsigned long long)p->hwm);
	err = proc_hello(&tr.proc, ch, p->hwm);
	if (!err)
		tr_out_replay(&tr, p->id, tr_owner_wants);
	return err;
}


static int translator_dispatch(struct chan *ch, struct frame *fr, void *arg)
{
	struct tr_peer *p = chan_user(ch);
	int err = EPROTO, before;

	if (!p) {
		if (fr->type != MSG_HELLO)
			return EPROTO;
		return translator_hello(ch, fr);
	}
	if (tr.stopping)
		return 0; /* not applied, not acked: replayed later */
	before = tr_frame_begin(&tr);
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		if (peers[i].id == p->id)
			err = peers[i].dispatch(fr);
	tr_frame_end(&tr, p, fr, before);
	if (err)
		log_warn("bad %s from %s (seq %llu)",
			 msg_type_name(fr->type) ? msg_type_name(fr->type)
						 : "frame",
			 proc_name(p->id), (unsigned long long)fr->seq);
	return err;
}


static void translator_batch_handler(struct chan *ch, void *arg)
{
	tr_commit(&tr);
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


/* Deadlines that passed go to their owners, at most 256 per turn. */
static void sweep_handler(void *arg)
{
	struct tr_due due[256];
	unsigned n = tr_deadline_take(&tr, wall_ms(), due, 256);

	for (unsigned i = 0; i < n; i++)
		tr_owner_expired(&tr, due[i].kind, due[i].id);
	tr_commit(&tr);
	tmr_start(&tr.sweep, n == 256 ? 0 : 1000, sweep_handler, NULL);
}


/* Operator requests relayed by the supervisor. */
static int translator_dispatch_supervisor(struct frame *fr, void *arg)
{
	struct call_ev e = {.reason = "ended by the operator (xsgwctl end)"};
	struct m_id m;

	if (fr->type != MSG_CALL_END || msg_dec_id(fr, &m))
		return EBADMSG;
	if (tr_call_apply(&tr, m.id, CE_OP_END, &e) && tr_reg_end(&tr, m.id))
		log_info("xsgwctl end %llu: no such call or registration",
			 (unsigned long long)m.id);
	tr_commit(&tr);
	return 0;
}


static void translator_shutdown(void *arg)
{
	tr.stopping = true;
	tr_commit(&tr);
	tr_ack_flush(&tr); /* a lazy acknowledgement would die with us */
	re_cancel();
}


/* SPEC 6.3: every phone of presence.phones has its record and its two
 * subscriptions (reg, dialog) at the presence server; phones no longer
 * configured are forgotten, their subscriptions lapse at their next
 * deadline (which finds no phone). */
static void phones_sync(void)
{
	const struct xsgw_config *cfg = tr.proc.cfg;

	const size_t n = cfg->presence.nphones;
	uint64_t *ids = mem_zalloc((n ? n : 1) * sizeof(*ids), NULL);
	const char **sips = mem_zalloc((n ? n : 1) * sizeof(*sips), NULL);

	tr_phone_forget_unconfigured(&tr);
	for (size_t i = 0; ids && sips && i < n; i++) {
		const struct cfg_presphone *p = &cfg->presence.phones[i];
		ids[i] = tr_phone_ensure(&tr, p);
		sips[i] = p->sip;
		if (!ids[i])
			log_warn("presence.phones: %s: no gateway JID for it",
				 p->sip);
	}
	if (ids && sips)
		tr_sub_ensure_all(&tr, n, ids, sips);
	mem_deref(ids);
	mem_deref(sips);
	tr_commit(&tr);
}


int main(int argc, char **argv)
{
	char path[512];
	const char *why;
	int err;

	proc_init(&tr.proc, PROC_TRANSLATOR, argc, argv, translator_shutdown,
		  NULL);
	tr.proc.frameh = translator_dispatch_supervisor;
	tr.xmpp.id = PROC_XMPP_FRONT;
	tr.sip.id = PROC_SIP_FRONT;
	err = store_open(&tr.store, tr.proc.cfg->store.path,
			 tr.proc.cfg->store.map_size,
			 tr.proc.cfg->store.sync_periodic ? STORE_PERIODIC : 0);
	if (err)
		fatal(1, "store %s: %s", tr.proc.cfg->store.path,
		      strerror(err));
	tmr_init(&tr.xmpp.ack_tmr);
	tmr_init(&tr.sip.ack_tmr);
	if (tr.proc.cfg->store.sync_periodic) {
		tr_flush_start(tr.store, tr.proc.cfg->store.sync_interval_ms);
		log_info("store: commits flushed to disk every %u ms",
			 tr.proc.cfg->store.sync_interval_ms);
	}
	xmpp_initialize();
	tr.xctx = xmpp_ctx_new(NULL, NULL);
	if (!tr.xctx)
		fatal(1, "xmpp: out of memory");
	err = tr_upgrade(&tr);
	if (err)
		fatal(1, "store %s: cannot upgrade: %s",
		      tr.proc.cfg->store.path, strerror(err));
	phones_sync();
	if (mkdir_safe(tr.proc.cfg->runtime.dir, 077, &why))
		fatal(EXIT_CONFIG, "runtime.dir %s: %s",
		      tr.proc.cfg->runtime.dir, why);
	err = path_join(path, sizeof(path), tr.proc.cfg->runtime.dir,
			"translator.sock");
	if (!err)
		err = unix_listen(&tr.lfd, path);
	if (err)
		fatal(1, "listen %s: %s", path, strerror(err));
	fd_listen(tr.lfd, FD_READ, translator_accept_handler, NULL);
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
	tmr_cancel(&tr.xmpp.ack_tmr);
	tmr_cancel(&tr.sip.ack_tmr);
	tr_flush_stop();
	store_close(tr.store);
	list_flush(&tr.after);
	xparse_close();
	xmpp_ctx_free(tr.xctx);
	xmpp_shutdown();
	log_info("stopped");
	libre_close();
	config_free(tr.proc.cfg);
	return err;
}
