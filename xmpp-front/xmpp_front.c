/**
 * @file xmpp_front.c  main(): the component connection, stanzas in and out.
 *
 * Transport only: every stanza received goes to the translator as XML
 * (MSG_XMPP_IN), every stanza the translator built is written to the
 * stream as it is (MSG_XMPP_OUT) and reported done (MSG_OUT_DONE). The
 * front answers nothing itself except an error for a stanza it could not
 * hand over (too large for a frame).
 *
 * libstrophe runs inside the libre loop: its socket is watched with
 * fd_listen and xmpp_run_once(ctx, 0) is called when it is readable, after
 * every send, and from a 50 ms timer (connect completion, timed handlers).
 * An outage of the XMPP server is a reconnect with backoff here, never a
 * reason for the supervisor to restart this process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "backoff.h"
#include "log.h"
#include "proc.h"
#include "msg.h"
#include "tlink.h"
#include "xmlcheck.h"
#include "xmpp_front.h"
#include "xmpp_util.h"

/* Stanzas waiting for the stream (the XMPP server is away): past either
 * bound the translator's channel is paused, and its queue holds the rest. */
enum { PUMP_MS = 50, OUTQ_MAX = 100000, OUTQ_BYTES_MAX = 64 * 1024 * 1024 };

/** An outgoing stanza waiting for the stream. */
struct outmsg {
	struct le le;
	uint64_t id;
	char *xml;
	size_t len;
};

static struct {
	struct proc proc;
	struct tlink *tl;
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn;
	int fd;
	bool up;
	bool stopping;
	unsigned attempts;
	struct tmr pump, retry, drain;
	uint64_t stop_deadline;
	struct list outq;
	size_t outq_bytes;
	char stream_id[128]; /**< of the current stream, never logged */
} xf = {.fd = -1};

static void xf_connect(void *arg);


static void outmsg_destructor(void *arg)
{
	struct outmsg *m = arg;

	if (m->le.list)
		xf.outq_bytes -= m->len;
	list_unlink(&m->le);
	mem_deref(m->xml);
}


/* Remember the id of the stream the server just opened (from libstrophe's
 * "RECV: <stream:stream ... id=...>" line) so that no later line shows it. */
static void stream_id_note(const char *msg)
{
	const char *p = strstr(msg, " id=");
	size_t n;

	xf.stream_id[0] = '\0';
	if (!p || (p[4] != '"' && p[4] != '\''))
		return;
	p += 5;
	n = strcspn(p, "\"'");
	if (n && n < sizeof(xf.stream_id)) {
		memcpy(xf.stream_id, p, n);
		xf.stream_id[n] = '\0';
	}
}


/* A libstrophe line holding credentials: the stream headers (the id), the
 * handshake SHA1(id + secret) and the auth area's digest. Together they
 * let whoever reads the log test guesses of xmpp.secret offline. */
static bool strophe_secret(const char *area, const char *msg)
{
	if (strstr(msg, "<stream:stream")) {
		if (strstr(msg, "RECV:"))
			stream_id_note(msg);
		return true;
	}
	return !strcmp(area, "auth") || strstr(msg, "handshake") ||
	       (xf.stream_id[0] && strstr(msg, xf.stream_id));
}


static void strophe_log(void *arg, xmpp_log_level_t level, const char *area,
			const char *msg)
{
	bool secret = strophe_secret(area, msg);

	if (level >= XMPP_LEVEL_WARN)
		log_warn("libstrophe %s: %s", area,
			 secret ? "(withheld: stream credentials)" : msg);
	else if (!secret && log_enabled(LOG_DEBUG) &&
		 (xf.proc.cfg->log.bodies || !strstr(msg, "<body")))
		/* a stanza with a chat only if the operator asks (log.bodies)
		 */
		log_debug("libstrophe %s: %s", area, msg);
}


static void xf_pump(void)
{
	xmpp_run_once(xf.ctx, 0);
}


static void xf_io_handler(int flags, void *arg)
{
	xf_pump();
}


static void pump_handler(void *arg)
{
	xf_pump();
	tmr_start(&xf.pump, PUMP_MS, pump_handler, NULL);
}


static int remember_fd(xmpp_conn_t *conn, void *sock)
{
	xf.fd = *(int *)sock;
	return 0;
}


static void link_report(bool up)
{
	struct m_xmpp_link m = {up};
	struct fbuf fb = {0};

	if (!msg_enc_xmpp_link(&fb, &m))
		(void)tlink_send(xf.tl, &fb);
	fbuf_reset(&fb);
}


/* The end of an outbox entry's work, for the translator (reliable). */
static void out_report(uint64_t id, uint32_t scode, const char *reason)
{
	struct m_out_done d = {.out = id, .scode = scode};
	struct fbuf fb = {0};
	int err;

	tlink_done(xf.tl, id);
	pl_set_str(&d.reason, reason);
	err = msg_enc_out_done(&fb, &d);
	if (!err)
		err = tlink_send_reliable(xf.tl, &fb, NULL);
	if (err)
		log_error("out %llu: cannot report it %s: %s",
			  (unsigned long long)id, reason, strerror(err));
	fbuf_reset(&fb);
}


/* Write one stanza of the translator's; then report it done. */
static void outmsg_emit(struct outmsg *m)
{
	xmpp_send_raw(xf.conn, m->xml, m->len);
	xf_pump(); /* hand it to the kernel now */
	out_report(m->id, 200, "sent");
	mem_deref(m);
}


static bool outq_full(void)
{
	return list_count(&xf.outq) >= OUTQ_MAX ||
	       xf.outq_bytes >= OUTQ_BYTES_MAX;
}


static void outq_flush(void)
{
	struct le *le;

	while (xf.up && !xf.stopping && (le = list_head(&xf.outq)))
		outmsg_emit(le->data);
	if (!outq_full())
		tlink_resume(xf.tl);
}


static bool outq_has(uint64_t id)
{
	for (struct le *le = list_head(&xf.outq); le; le = le->next)
		if (((struct outmsg *)le->data)->id == id)
			return true;
	return false;
}


static int xmpp_front_dispatch_translator(struct frame *fr, void *arg)
{
	struct m_xmpp_out o;
	struct outmsg *m;
	const char *why;

	if (fr->type != MSG_XMPP_OUT || msg_dec_xmpp_out(fr, &o))
		return EBADMSG;
	/* a re-send after the translator restarted: do the work once.
	 * Stopping: nothing more is written; the outbox keeps it for the
	 * next incarnation */
	if (tlink_is_done(xf.tl, o.out) || outq_has(o.out) || xf.stopping)
		return 0;
	/* backpressure: the translator's queue holds the rest */
	if (outq_full())
		return CHAN_PAUSE;
	/* the server would close the stream on it, losing what follows in
	 * the same burst: never written, a local failure (5xx) instead */
	if (xmlcheck_stanza(o.xml.p, o.xml.l, XMPP_LINK_DEPTH_MAX, &why)) {
		log_warn("out %llu: not written, not XMPP XML: %s",
			 (unsigned long long)o.out, why);
		out_report(o.out, 500, "Stanza not well-formed");
		return 0;
	}
	m = mem_zalloc(sizeof(*m), outmsg_destructor);
	if (!m || pl_strdup(&m->xml, &o.xml)) {
		mem_deref(m);
		return ENOMEM;
	}
	m->id = o.out;
	m->len = o.xml.l;
	list_append(&xf.outq, &m->le, m);
	xf.outq_bytes += m->len;
	outq_flush();
	return 0;
}


/* The translator cannot take this stanza (too large for a frame, nested
 * too deep): a transport-level refusal, so the sender hears it at once,
 * never silence. */
static void stanza_refuse(xmpp_stanza_t *st, int err)
{
	const char *cond = "policy-violation", *text;
	xmpp_stanza_t *r;

	switch (err) {
	case EMSGSIZE:
		text = "stanza too large for the gateway";
		break;
	case E2BIG:
		text = "stanza nested too deep for the gateway";
		break;
	default:
		cond = "resource-constraint";
		text = "the gateway is out of memory";
		break;
	}
	log_warn("%s from %s refused: %s", xmpp_stanza_get_name(st),
		 xu_attr(st, "from"), text);
	r = xmpp_link_refusal(xf.ctx, st, cond, text);
	if (!r)
		return;
	xmpp_send(xf.conn, r);
	xmpp_stanza_release(r);
	xf_pump();
}


/* Every stanza goes to the translator as XML (reliable). */
static int stanza_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct m_xmpp_in m;
	struct fbuf fb = {0};
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (!xmpp_stanza_get_name(st))
		return 1;
	/* checked before libstrophe's recursive serializer runs */
	if (!xmpp_link_depth_ok(st, XMPP_LINK_DEPTH_MAX)) {
		stanza_refuse(st, E2BIG);
		return 1;
	}
	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK) {
		stanza_refuse(st, ENOMEM);
		return 1;
	}
	m.xml.p = buf;
	m.xml.l = len;
	err = msg_enc_xmpp_in(&fb, &m);
	if (!err)
		err = tlink_send_reliable(xf.tl, &fb, NULL);
	fbuf_reset(&fb);
	xmpp_free(xf.ctx, buf);
	if (err)
		stanza_refuse(st, err);
	return 1;
}


static void xf_retry(void)
{
	const struct xsgw_config *cfg = xf.proc.cfg;
	uint32_t d = backoff_delay(cfg->xmpp.reconnect_ms[0],
				   cfg->xmpp.reconnect_ms[1], xf.attempts++,
				   (uint32_t)random_u64());

	log_info("xmpp: reconnecting in %u ms", d);
	tmr_start(&xf.retry, d, xf_connect, NULL);
}


static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err,
			 xmpp_stream_error_t *se, void *arg)
{
	if (ev == XMPP_CONN_CONNECT) {
		log_info("xmpp: connected to %s:%u as %s",
			 xf.proc.cfg->xmpp.host, xf.proc.cfg->xmpp.port,
			 xf.proc.cfg->xmpp.component);
		xf.up = true;
		xf.attempts = 0;
		xmpp_handler_add(conn, stanza_handler, NULL, NULL, NULL, NULL);
		link_report(true);
		outq_flush();
		return;
	}
	/* libstrophe has closed the socket already */
	if (xf.fd >= 0)
		fd_close(xf.fd);
	xf.fd = -1;
	if (xf.up)
		link_report(false);
	xf.up = false;
	log_warn("xmpp: %s%s%s",
		 ev == XMPP_CONN_FAIL ? "connection failed" : "disconnected",
		 se && se->text ? ": " : "", se && se->text ? se->text : "");
	if (!xf.stopping)
		xf_retry();
}


static void xf_connect(void *arg)
{
	const struct xsgw_config *cfg = xf.proc.cfg;
	int err;

	/* a fresh conn per attempt: nothing of the old stream survives */
	if (xf.conn)
		xmpp_conn_release(xf.conn);
	xf.conn = xmpp_conn_new(xf.ctx);
	xmpp_conn_set_jid(xf.conn, cfg->xmpp.component);
	xmpp_conn_set_pass(xf.conn, cfg->xmpp.secret);
	xmpp_link_prime(xf.conn);
	xmpp_conn_set_sockopt_callback(xf.conn, remember_fd);
	xf.fd = -1;
	err = xmpp_connect_component(xf.conn, cfg->xmpp.host, cfg->xmpp.port,
				     conn_handler, NULL);
	if (err != XMPP_EOK || xf.fd < 0) {
		log_warn("xmpp: cannot connect to %s:%u (%d)", cfg->xmpp.host,
			 cfg->xmpp.port, err);
		xf.fd = -1;
		xf_retry();
		return;
	}
	fd_listen(xf.fd, FD_READ, xf_io_handler, NULL);
}


/*
 * Stop without losing a stanza: after our </stream:stream> the server still
 * delivers what it had routed to us, then closes its side (later stanzas it
 * bounces). Exit once the stream is closed and the translator has acknowledged
 * every frame, or at three quarters of supervisor.shutdown_grace_ms (the
 * supervisor's SIGKILL at the full grace is the hard limit).
 */
static void drain_handler(void *arg)
{
	bool closed = !xf.conn || xmpp_conn_is_disconnected(xf.conn);

	xf_pump();
	if ((closed && !tlink_unacked(xf.tl)) || now_ms() >= xf.stop_deadline) {
		if (!closed || tlink_unacked(xf.tl))
			log_warn("xmpp: stopping with the stream %s and %zu "
				 "frame(s) unacknowledged",
				 closed ? "closed" : "open",
				 tlink_unacked(xf.tl));
		re_cancel();
		return;
	}
	tmr_start(&xf.drain, 10, drain_handler, NULL);
}


static void xmpp_front_shutdown(void *arg)
{
	if (xf.stopping)
		return;
	xf.stopping = true;
	tlink_resume(xf.tl); /* the ACKs the drain waits for */
	tmr_cancel(&xf.retry);
	if (xf.up)
		xmpp_disconnect(xf.conn);
	xf.stop_deadline =
		now_ms() + xf.proc.cfg->supervisor.shutdown_grace_ms * 3ULL / 4;
	drain_handler(NULL);
}


int main(int argc, char **argv)
{
	xmpp_log_t slog = {strophe_log, NULL};
	int err;

	proc_init(&xf.proc, PROC_XMPP_FRONT, argc, argv, xmpp_front_shutdown,
		  NULL);
	xmpp_initialize();
	xf.ctx = xmpp_ctx_new(NULL, &slog);
	if (!xf.ctx)
		fatal(1, "xmpp: out of memory");
	err = tlink_alloc(&xf.tl, &xf.proc, xmpp_front_dispatch_translator,
			  NULL);
	if (err)
		fatal(1, "xmpp-front: %s", strerror(err));
	tmr_init(&xf.pump);
	tmr_init(&xf.retry);
	tmr_init(&xf.drain);
	tmr_start(&xf.pump, PUMP_MS, pump_handler, NULL);
	xf_connect(NULL);
	proc_ready(&xf.proc);

	err = proc_run(&xf.proc);

	tmr_cancel(&xf.pump);
	tmr_cancel(&xf.retry);
	tmr_cancel(&xf.drain);
	if (xf.fd >= 0)
		fd_close(xf.fd);
	list_flush(&xf.outq);
	if (xf.conn)
		xmpp_conn_release(xf.conn);
	xmpp_ctx_free(xf.ctx);
	xmpp_shutdown();
	xf.tl = mem_deref(xf.tl);
	log_info("stopped");
	libre_close();
	config_free(xf.proc.cfg);
	return err;
}
