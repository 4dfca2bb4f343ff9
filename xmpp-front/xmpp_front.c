/**
 * @file xmpp_front.c  main(): the component connection, stanzas in and out.
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
#include "tlink.h"
#include "xmpp_front.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_PING       "urn:xmpp:ping"
#define NS_RECEIPTS   "urn:xmpp:receipts"
#define NS_STANZAS    "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_JINGLE     "urn:xmpp:jingle:1"
#define NS_JMI        "urn:xmpp:jingle-message:0"

enum { PUMP_MS = 50, OUTQ_MAX = 100000 };

/** An outgoing message waiting for the link. */
struct outmsg {
	struct le le;
	uint64_t id;
	char *from, *to, *sid, *type, *body, *cond, *text;
	char *xml; /**< MSG_XMPP_OUT_STANZA: the stanza as built */
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
} xf = {.fd = -1};

static void xf_connect(void *arg);
static int stanza_forward(xmpp_stanza_t *st);
static int chat_forward(xmpp_stanza_t *st);
static bool jmi_child(xmpp_stanza_t *st);


static void outmsg_destructor(void *arg)
{
	struct outmsg *m = arg;

	list_unlink(&m->le);
	mem_deref(m->from);
	mem_deref(m->to);
	mem_deref(m->sid);
	mem_deref(m->type);
	mem_deref(m->body);
	mem_deref(m->xml);
	mem_deref(m->cond);
	mem_deref(m->text);
}


static void strophe_log(void *arg, xmpp_log_level_t level, const char *area,
			const char *msg)
{
	if (level >= XMPP_LEVEL_WARN)
		log_warn("libstrophe %s: %s", area, msg);
	else if (log_enabled(LOG_DEBUG))
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
	struct fbuf fb = {0};

	frame_begin(&fb, MSG_XMPP_LINK, 0);
	frame_put_u32(&fb, up);
	(void)tlink_send(xf.tl, &fb);
	fbuf_reset(&fb);
}


static void xf_send(xmpp_stanza_t *st)
{
	xmpp_stanza_del_attribute(st, "lang");
	xmpp_send(xf.conn, st);
	xmpp_stanza_release(st);
	xf_pump(); /* hand it to the kernel now */
}


static xmpp_stanza_t *child(xmpp_stanza_t *parent, const char *name,
			    const char *ns)
{
	xmpp_stanza_t *c = xmpp_stanza_new(xf.ctx);

	xmpp_stanza_set_name(c, name);
	if (ns)
		xmpp_stanza_set_ns(c, ns);
	xmpp_stanza_add_child(parent, c);
	xmpp_stanza_release(c);
	return c;
}


static void text_child(xmpp_stanza_t *parent, const char *name, const char *ns,
		       const char *text)
{
	xmpp_stanza_t *c = child(parent, name, ns);
	xmpp_stanza_t *t = xmpp_stanza_new(xf.ctx);

	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(c, t);
	xmpp_stanza_release(t);
}


static const char *error_type(const char *cond)
{
	static const char *wait[] = {"recipient-unavailable",
				     "remote-server-timeout",
				     "resource-constraint", NULL};
	static const char *modify[] = {"bad-request",    "jid-malformed",
				       "not-acceptable", "redirect",
				       "gone",           NULL};
	static const char *auth[] = {"forbidden", "not-authorized", NULL};

	for (int i = 0; wait[i]; i++)
		if (!strcmp(cond, wait[i]))
			return "wait";
	for (int i = 0; modify[i]; i++)
		if (!strcmp(cond, modify[i]))
			return "modify";
	for (int i = 0; auth[i]; i++)
		if (!strcmp(cond, auth[i]))
			return "auth";
	return "cancel";
}


static xmpp_stanza_t *error_stanza(const char *cond, const char *text)
{
	xmpp_stanza_t *e = xmpp_stanza_new(xf.ctx);

	xmpp_stanza_set_name(e, "error");
	xmpp_stanza_set_type(e, error_type(cond));
	child(e, cond, NS_STANZAS);
	if (text && *text)
		text_child(e, "text", NS_STANZAS, text);
	return e;
}


/* Emit one message from the translator; then report it done. */
static void outmsg_emit(struct outmsg *m)
{
	xmpp_stanza_t *st;
	struct fbuf fb = {0};
	bool receipt = m->type && !strcmp(m->type, "receipt");

	if (m->xml) {
		st = xmpp_stanza_new_from_string(xf.ctx, m->xml);
		if (st)
			xf_send(st);
		else
			log_warn("out %llu: unparsable stanza dropped",
				 (unsigned long long)m->id);
		goto done;
	}

	st = xmpp_message_new(xf.ctx, receipt ? NULL : m->type, m->to,
			      receipt ? NULL : m->sid);
	xmpp_stanza_set_from(st, m->from);
	if (receipt) {
		xmpp_stanza_t *r = child(st, "received", NS_RECEIPTS);
		char id[40];
		re_snprintf(id, sizeof(id), "xsgw-r%llu",
			    (unsigned long long)m->id);
		xmpp_stanza_set_id(st, id);
		xmpp_stanza_set_attribute(r, "id", m->sid);
	} else if (*m->body) {
		xmpp_message_set_body(st, m->body);
	}
	if (!strcmp(m->type, "error")) {
		xmpp_stanza_t *e = error_stanza(m->cond, m->text);
		xmpp_stanza_add_child(st, e);
		xmpp_stanza_release(e);
	}
	xf_send(st);
done:
	tlink_done(xf.tl, m->id);
	frame_begin(&fb, MSG_XMPP_SENT, 0);
	frame_put_u64(&fb, m->id);
	if (tlink_send_reliable(xf.tl, &fb))
		log_error("msg %llu: cannot report it sent",
			  (unsigned long long)m->id);
	fbuf_reset(&fb);
	mem_deref(m);
}


static void outq_flush(void)
{
	struct le *le;

	while (xf.up && !xf.stopping && (le = list_head(&xf.outq)))
		outmsg_emit(le->data);
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
	struct outmsg *m;

	if (fr->type != MSG_XMPP_OUT_MESSAGE && fr->type != MSG_XMPP_OUT_STANZA)
		return EBADMSG;
	m = mem_zalloc(sizeof(*m), outmsg_destructor);
	if (!m)
		return ENOMEM;
	m->id = fr->seq;
	if (fr->type == MSG_XMPP_OUT_STANZA) {
		m->xml = frame_get_strdup(fr);
		if (frame_end(fr) || !m->xml) {
			mem_deref(m);
			return EBADMSG;
		}
		goto queue;
	}
	m->from = frame_get_strdup(fr);
	m->to = frame_get_strdup(fr);
	m->sid = frame_get_strdup(fr);
	m->type = frame_get_strdup(fr);
	m->body = frame_get_strdup(fr);
	m->cond = frame_get_strdup(fr);
	m->text = frame_get_strdup(fr);
	(void)frame_get_u32(fr);
	if (frame_end(fr)) {
		mem_deref(m);
		return EBADMSG;
	}
queue:
	/* a re-send after the translator restarted: do the work once */
	if (tlink_is_done(xf.tl, m->id) || outq_has(m->id) ||
	    list_count(&xf.outq) >= OUTQ_MAX) {
		mem_deref(m);
		return 0;
	}
	list_append(&xf.outq, &m->le, m);
	outq_flush();
	return 0;
}


static const char *attr(xmpp_stanza_t *st, const char *name)
{
	const char *v = xmpp_stanza_get_attribute(st, name);

	return v ? v : "";
}


static int message_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	if (jmi_child(st)) {
		/* XEP-0353 call signalling: for the call state machine */
		(void)stanza_forward(st);
		return 1;
	}
	return chat_forward(st);
}


static int chat_forward(xmpp_stanza_t *st)
{
	xmpp_stanza_t *b, *e, *c;
	const char *type = attr(st, "type"), *cond = "", *etext = "";
	char *body = NULL, *tx = NULL;
	struct fbuf fb = {0};
	uint32_t flags = 0;
	int err;

	if (!*type)
		type = "normal";
	b = xmpp_stanza_get_child_by_name(st, "body");
	if (b)
		body = xmpp_stanza_get_text(b);
	if (xmpp_stanza_get_child_by_name_and_ns(st, "request", NS_RECEIPTS))
		flags |= 1;
	e = xmpp_stanza_get_child_by_name(st, "error");
	if (!strcmp(type, "error") && e) {
		for (c = xmpp_stanza_get_children(e); c;
		     c = xmpp_stanza_get_next(c)) {
			const char *n = xmpp_stanza_get_name(c);
			const char *ns = xmpp_stanza_get_ns(c);
			if (!n || !ns || strcmp(ns, NS_STANZAS))
				continue;
			if (!strcmp(n, "text")) {
				tx = xmpp_stanza_get_text(c);
				etext = tx ? tx : "";
			} else if (!*cond)
				cond = n;
		}
		if (!*cond)
			cond = "undefined-condition";
	}
	frame_begin(&fb, MSG_XMPP_IN_MESSAGE, 0);
	frame_put_cstr(&fb, attr(st, "from"));
	frame_put_cstr(&fb, attr(st, "to"));
	frame_put_cstr(&fb, attr(st, "id"));
	frame_put_cstr(&fb, type);
	frame_put_cstr(&fb, body);
	frame_put_cstr(&fb, cond);
	frame_put_cstr(&fb, etext);
	frame_put_u32(&fb, flags);
	err = tlink_send_reliable(xf.tl, &fb);
	if (err)
		log_error("message from %s dropped: %s", attr(st, "from"),
			  strerror(err));
	fbuf_reset(&fb);
	if (body)
		xmpp_free(xf.ctx, body);
	if (tx)
		xmpp_free(xf.ctx, tx);
	return 1;
}


/* A stanza for the translator, as XML (reliable). */
static int stanza_forward(xmpp_stanza_t *st)
{
	struct fbuf fb = {0};
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK)
		return ENOMEM;
	frame_begin(&fb, MSG_XMPP_IN_STANZA, 0);
	frame_put_str(&fb, buf, len);
	err = tlink_send_reliable(xf.tl, &fb);
	fbuf_reset(&fb);
	xmpp_free(xf.ctx, buf);
	if (err)
		log_error("%s from %s dropped: %s", xmpp_stanza_get_name(st),
			  attr(st, "from"), strerror(err));
	return err;
}


static int presence_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	(void)stanza_forward(st);
	return 1;
}


static bool jmi_child(xmpp_stanza_t *st)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);
		if (ns && !strcmp(ns, NS_JMI))
			return true;
	}
	return false;
}


static xmpp_stanza_t *iq_reply(xmpp_stanza_t *st, const char *type)
{
	xmpp_stanza_t *r = xmpp_iq_new(xf.ctx, type, attr(st, "id"));

	xmpp_stanza_set_to(r, attr(st, "from"));
	xmpp_stanza_set_from(r, attr(st, "to"));
	return r;
}


/* The <jingle/> child if there is one, else the first child element. */
static xmpp_stanza_t *jingle_or_first(xmpp_stanza_t *st)
{
	xmpp_stanza_t *j =
		xmpp_stanza_get_child_by_name_and_ns(st, "jingle", NS_JINGLE);
	xmpp_stanza_t *c;

	if (j)
		return j;
	for (c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c))
			return c;
	return NULL;
}


static int iq_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	const char *type = attr(st, "type");
	xmpp_stanza_t *q = jingle_or_first(st), *r, *id, *f;
	const char *ns = q ? xmpp_stanza_get_ns(q) : NULL;
	static const char *features[] = {NS_DISCO_INFO,
					 NS_PING,
					 NS_RECEIPTS,
					 NS_JINGLE,
					 "urn:xmpp:jingle:apps:rtp:1",
					 "urn:xmpp:jingle:apps:rtp:audio",
					 "urn:xmpp:jingle:apps:rtp:video",
					 "urn:xmpp:jingle:transports:ice-udp:1",
					 "urn:xmpp:jingle:transports:raw-udp:1",
					 "urn:xmpp:jingle:apps:dtls:0",
					 "urn:xmpp:jingle:dtmf:0",
					 NS_JMI,
					 NULL};

	if (strcmp(type, "get") && strcmp(type, "set")) {
		/* replies to the translator's Jingle requests */
		if (!strncmp(attr(st, "id"), "xsgw-c", 6))
			(void)stanza_forward(st);
		return 1;
	}
	if (q && ns && !strcmp(ns, NS_JINGLE) &&
	    !strcmp(xmpp_stanza_get_name(q), "jingle")) {
		if (stanza_forward(st)) {
			r = iq_reply(st, "error");
			q = error_stanza("internal-server-error", NULL);
			xmpp_stanza_add_child(r, q);
			xmpp_stanza_release(q);
			xf_send(r);
		}
		return 1;
	}
	if (!strcmp(type, "get") && ns && !strcmp(ns, NS_PING)) {
		xf_send(iq_reply(st, "result"));
		return 1;
	}
	if (!strcmp(type, "get") && ns && !strcmp(ns, NS_DISCO_INFO) &&
	    !xmpp_stanza_get_attribute(q, "node")) {
		r = iq_reply(st, "result");
		q = child(r, "query", NS_DISCO_INFO);
		id = child(q, "identity", NULL);
		xmpp_stanza_set_attribute(id, "category", "gateway");
		xmpp_stanza_set_attribute(id, "type", "sip");
		xmpp_stanza_set_attribute(id, "name", "XMPP-SIP gateway");
		for (int i = 0; features[i]; i++) {
			f = child(q, "feature", NULL);
			xmpp_stanza_set_attribute(f, "var", features[i]);
		}
		xf_send(r);
		return 1;
	}
	r = iq_reply(st, "error");
	q = error_stanza("service-unavailable", NULL);
	xmpp_stanza_add_child(r, q);
	xmpp_stanza_release(q);
	xf_send(r);
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
		xmpp_handler_add(conn, message_handler, NULL, "message", NULL,
				 NULL);
		xmpp_handler_add(conn, iq_handler, NULL, "iq", NULL, NULL);
		xmpp_handler_add(conn, presence_handler, NULL, "presence", NULL,
				 NULL);
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
