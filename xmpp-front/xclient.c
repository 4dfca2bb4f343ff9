/**
 * @file xclient.c  The phones' client sessions (xclient.h).
 *
 * libstrophe does the client stream (STARTTLS, SASL, bind); its sockets
 * are watched by libre's loop (the socket is learnt from the sockopt
 * callback), which calls xmpp_run_once() without waiting whenever one is
 * ready and once a second for libstrophe's own timers. libstrophe logs
 * only warnings and errors here: its debug log holds the SASL exchange.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <re.h>
#include <strophe.h>
#include "backoff.h"
#include "log.h"
#include "util.h"
#include "xclient.h"
#include "xmpp_front.h"
#include "xmpp_util.h"

enum {
	TICK_MS = 1000, /* libstrophe's timers (connect timeout) */
	REFUSED_MAX_MS = 300000,
	PUMP_ROUNDS = 4,   /* reads per wake-up: TLS may hold more than one */
	PUMP_MAX_MS = 500, /* the watchdog (below): below a heartbeat */
	WD_MAX = 64,
};

/** One phone's session. */
struct xsess {
	struct le le;
	const struct cfg_presphone *ph;
	char *jid;         /**< jid/resource */
	xmpp_conn_t *conn; /**< NULL between attempts */
	int fd;            /**< the socket libstrophe uses, or -1 */
	bool up;           /**< signed in */
	bool streak;       /**< failing since the last sign-in (logged) */
	bool refused;      /**< the server said no: the long backoff */
	char *want;        /**< the presence to show; NULL: none yet */
	char *sent;        /**< the last one sent on this sign-in */
	unsigned attempts;
	struct tmr retry;
};

static struct {
	const struct xsgw_config *cfg;
	xclient_up_h *uph;
	xmpp_ctx_t *ctx;
	xmpp_log_t log;
	struct list sessions;
	struct tmr tick, again;
	timer_t wd; /**< the watchdog's */
	bool closing;
	bool kept;     /**< a connection left to the process's end */
	char why[160]; /**< libstrophe's last warning */
} xc;

static void sess_connect(void *arg);
static void pump(void);
static void again_handler(void *arg);


/* libstrophe's warnings and errors: at debug level, the last one kept
 * for the line that says why a session ended. */
static void strophe_log(void *arg, xmpp_log_level_t level, const char *area,
			const char *msg)
{
	if (level < XMPP_LEVEL_WARN)
		return;
	log_debug("xmpp client: %s: %s", area, msg);
	str_ncpy(xc.why, msg, sizeof(xc.why));
}


static struct xsess *sess_by_conn(const xmpp_conn_t *conn)
{
	struct le *le;

	LIST_FOREACH(&xc.sessions, le)
	{
		struct xsess *s = le->data;
		if (s->conn == conn)
			return s;
	}
	return NULL;
}


static struct xsess *sess_by_jid(const char *jid)
{
	struct le *le;

	LIST_FOREACH(&xc.sessions, le)
	{
		struct xsess *s = le->data;
		if (!strcmp(s->jid, jid))
			return s;
	}
	return NULL;
}


static bool unavailable(const char *xml)
{
	return strstr(xml, "type=\"unavailable\"") ||
	       strstr(xml, "type='unavailable'");
}


/* Write what the session should show, unless it is out already. A
 * session just signed in shows nothing yet: an unavailable is not sent. */
static void sess_show(struct xsess *s)
{
	if (!s->up || !s->want || (s->sent && !strcmp(s->sent, s->want)))
		return;
	if (s->sent || !unavailable(s->want))
		xmpp_send_raw(s->conn, s->want, strlen(s->want));
	mem_deref(s->sent);
	s->sent = mem_ref(s->want);
}


/* ---- libre's loop drives libstrophe ---- */

/*
 * The watchdog. libstrophe 0.12 waits inside xmpp_run_once() during a TLS
 * handshake (tls_start loops until the server answers, with no limit),
 * which would stall the whole front until the supervisor's heartbeat
 * kills it. A pump that outlasts PUMP_MAX_MS gets every session's socket
 * shut down from a signal handler (shutdown() is async-signal-safe): the
 * handshake
 * fails at once, the session reconnects with its backoff, the loop goes
 * on. (A POSIX timer on SIGUSR2: libre's re_main takes SIGALRM.)
 */
static volatile sig_atomic_t wd_fd[WD_MAX];
static volatile sig_atomic_t wd_n;
static volatile sig_atomic_t wd_fired; /**< in this pump */

static void wd_handler(int sig)
{
	for (sig_atomic_t i = 0; i < wd_n; i++)
		(void)shutdown(wd_fd[i], SHUT_RDWR);
	wd_fired = wd_n > 0;
}


static void wd_arm(void)
{
	struct itimerspec it = {{0, 0}, {0, PUMP_MAX_MS * 1000000L}};
	struct le *le;
	sig_atomic_t n = 0;

	LIST_FOREACH(&xc.sessions, le)
	{
		const struct xsess *s = le->data;
		if (s->fd >= 0 && n < WD_MAX)
			wd_fd[n++] = s->fd;
	}
	wd_n = n;
	wd_fired = 0;
	(void)timer_settime(xc.wd, 0, &it, NULL);
}


static void wd_disarm(void)
{
	struct itimerspec it = {{0, 0}, {0, 0}};

	wd_n = 0;
	(void)timer_settime(xc.wd, 0, &it, NULL);
}


static void io_handler(int flags, void *arg)
{
	pump();
	/* TLS may hold decrypted bytes the socket no longer announces */
	tmr_start(&xc.again, 0, again_handler, NULL);
}


/* Forget s's socket: libstrophe closed it (or will). */
static void sess_unwatch(struct xsess *s)
{
	if (s->fd >= 0)
		fd_close(s->fd);
	s->fd = -1;
}


/* Watch s's socket: for writing too while libstrophe has bytes queued
 * or the TCP connect is under way; not at all once it is closed. */
static void sess_watch(struct xsess *s)
{
	int flags = FD_READ;

	if (s->fd < 0 || !s->conn)
		return;
	if (xmpp_conn_is_disconnected(s->conn)) {
		sess_unwatch(s);
		return;
	}
	if (!xmpp_conn_is_connected(s->conn) ||
	    xmpp_conn_send_queue_len(s->conn) > 0)
		flags |= FD_WRITE;
	(void)fd_listen(s->fd, flags, io_handler, s);
}


static void pump(void)
{
	struct le *le;

	wd_arm();
	for (int i = 0; i < PUMP_ROUNDS; i++)
		xmpp_run_once(xc.ctx, 0);
	wd_disarm();
	LIST_FOREACH(&xc.sessions, le)
	sess_watch(le->data);
}


static void again_handler(void *arg)
{
	pump();
}


static void tick_handler(void *arg)
{
	pump();
	tmr_start(&xc.tick, TICK_MS, tick_handler, NULL);
}


/* libstrophe made the socket (before its connect; the pump that follows
 * watches it). */
static int sockopt_handler(xmpp_conn_t *conn, void *sock)
{
	struct xsess *s = sess_by_conn(conn);

	if (s) {
		if (s->fd != *(int *)sock)
			sess_unwatch(s);
		s->fd = *(int *)sock;
	}
	return xmpp_sockopt_cb_keepalive(conn, sock);
}


/* ---- what comes in: nothing is read, everything is answered ---- */

static int iq_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	const char *type = xu_attr(st, "type");
	xmpp_stanza_t *r = NULL;

	if (strcmp(type, "get") && strcmp(type, "set"))
		return 1;
	if (!strcmp(type, "get") && xu_child_ns(st, "urn:xmpp:ping")) {
		r = xmpp_iq_new(xc.ctx, "result", xu_attr(st, "id"));
		if (r && *xu_attr(st, "from"))
			xmpp_stanza_set_to(r, xu_attr(st, "from"));
	} else {
		r = xmpp_link_refusal(xc.ctx, st, "service-unavailable", NULL);
	}
	if (r) {
		xmpp_send(conn, r);
		xmpp_stanza_release(r);
	}
	return 1;
}


static int message_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	xmpp_stanza_t *r = xmpp_link_refusal(
		xc.ctx, st, "service-unavailable",
		"This resource shows a phone's state; it reads no messages");

	if (r) {
		xmpp_send(conn, r);
		xmpp_stanza_release(r);
	}
	return 1;
}


/* ---- the session's life ---- */

/* Lost, or the server unreachable: xmpp.reconnect_backoff_ms. Refused
 * (the server answered and would not sign it in: a password, TLS it
 * does not offer, another client taking the resource): the same,
 * doubling up to REFUSED_MAX_MS, so that the session does not knock on
 * the server (or fight the other client) every few seconds. */
static void sess_retry(struct xsess *s)
{
	const uint32_t *r = xc.cfg->xmpp.reconnect_ms;
	uint32_t max =
		s->refused && r[1] < REFUSED_MAX_MS ? REFUSED_MAX_MS : r[1];

	tmr_start(
		&s->retry,
		backoff_delay(r[0], max, s->attempts++, (uint32_t)random_u64()),
		sess_connect, s);
}


static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
			 xmpp_stream_error_t *serr, void *arg)
{
	struct xsess *s = arg;
	bool conflict;

	if (ev == XMPP_CONN_CONNECT) {
		log_info("client session %s signed in%s", s->jid,
			 xmpp_conn_is_secured(conn) ? " (TLS)" : "");
		s->up = true;
		s->streak = false;
		s->refused = false;
		s->attempts = 0;
		s->sent = mem_deref(s->sent);
		sess_show(s);
		if (xc.uph)
			xc.uph(s->jid);
		return;
	}
	if (ev != XMPP_CONN_DISCONNECT && ev != XMPP_CONN_FAIL)
		return;
	sess_unwatch(s);
	if (xc.closing)
		return;
	conflict = serr && serr->type == XMPP_SE_CONFLICT;
	/* the server answered and said no (error 0: no socket error), or
	 * stalled the front (the watchdog cut it) */
	s->refused = conflict || wd_fired || (!s->up && !error);
	if (conflict)
		s->attempts = 32; /* at once the longest wait */
	/* once per loss, and once per run of failures */
	if (s->up || !s->streak)
		log_warn("client session %s %s (%s%s%s); retrying", s->jid,
			 conflict ? "taken over by another client"
			 : s->up  ? "lost"
				  : "cannot sign in",
			 error ? strerror(error) : "closed",
			 serr && serr->text    ? ": "
			 : wd_fired || *xc.why ? ": "
					       : "",
			 serr && serr->text ? serr->text
			 : wd_fired         ? "no answer within the watchdog's "
					      "time, cut"
					    : xc.why);
	xc.why[0] = '\0';
	s->streak = true;
	s->up = false;
	s->sent = mem_deref(s->sent);
	sess_retry(s);
}


static void sess_connect(void *arg)
{
	struct xsess *s = arg;
	const struct cfg_hostport *hp = &xc.cfg->presence.client_server;
	long flags = XMPP_CONN_FLAG_DISABLE_SM;
	int err;

	xc.why[0] = '\0';
	if (s->conn)
		xmpp_conn_release(s->conn);
	s->conn = xmpp_conn_new(xc.ctx);
	if (!s->conn) {
		sess_retry(s);
		return;
	}
	if (xc.cfg->presence.client_tls)
		flags |= XMPP_CONN_FLAG_MANDATORY_TLS;
	(void)xmpp_conn_set_flags(s->conn, flags);
	xmpp_conn_set_jid(s->conn, s->jid);
	xmpp_conn_set_pass(s->conn, s->ph->password);
	xmpp_conn_set_sockopt_callback(s->conn, sockopt_handler);
	xmpp_handler_add(s->conn, iq_handler, NULL, "iq", NULL, s);
	xmpp_handler_add(s->conn, message_handler, NULL, "message", NULL, s);
	err = xmpp_connect_client(s->conn, hp->port ? hp->host : NULL, hp->port,
				  conn_handler, s);
	if (err != XMPP_EOK) {
		/* libstrophe closed the socket it may have made */
		sess_unwatch(s);
		if (!s->streak)
			log_warn("client session %s: cannot connect to %s:%u; "
				 "retrying",
				 s->jid, hp->host, hp->port);
		s->streak = true;
		sess_retry(s);
		return;
	}
	pump();
}


static void sess_destructor(void *arg)
{
	struct xsess *s = arg;

	tmr_cancel(&s->retry);
	sess_unwatch(s);
	/* libstrophe 0.12.2 loses a SASL exchange's state (its handler's
	 * userdata) when a connection is released during it: at exit, a
	 * session still signing in is left to the process's end, reachable
	 * from the context */
	if (s->conn && xc.closing && !s->up && xmpp_conn_is_connected(s->conn))
		xc.kept = true;
	else if (s->conn)
		xmpp_conn_release(s->conn);
	list_unlink(&s->le);
	mem_deref(s->jid);
	mem_deref(s->want);
	mem_deref(s->sent);
}


/* The libstrophe context and the watchdog's timer: made with the first
 * session only (a gateway without phone passwords has neither). */
static int ctx_make(void)
{
	struct sigaction sa;
	struct sigevent sev;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wd_handler;
	sigemptyset(&sa.sa_mask);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR2;
	if (sigaction(SIGUSR2, &sa, NULL) ||
	    timer_create(CLOCK_MONOTONIC, &sev, &xc.wd))
		return errno;
	xc.log.handler = strophe_log;
	xc.ctx = xmpp_ctx_new(NULL, &xc.log);
	if (!xc.ctx) {
		(void)timer_delete(xc.wd);
		return ENOMEM;
	}
	xmpp_ctx_set_timeout(xc.ctx, 0);
	return 0;
}


int xclient_init(const struct xsgw_config *cfg, xclient_up_h *uph)
{
	int err;

	xc.cfg = cfg;
	xc.uph = uph;
	list_init(&xc.sessions);
	tmr_init(&xc.tick);
	tmr_init(&xc.again);
	for (size_t i = 0; i < cfg->presence.nphones; i++) {
		const struct cfg_presphone *ph = &cfg->presence.phones[i];
		struct xsess *s;

		if (!ph->password)
			continue;
		if (!xc.ctx && (err = ctx_make()))
			return err;
		s = mem_zalloc(sizeof(*s), sess_destructor);
		if (!s || re_sdprintf(&s->jid, "%s/%s", ph->jid, ph->resource))
			return mem_deref(s), ENOMEM;
		s->ph = ph;
		s->fd = -1;
		tmr_init(&s->retry);
		list_append(&xc.sessions, &s->le, s);
		tmr_start(&s->retry, 0, sess_connect, s);
	}
	if (xc.ctx)
		tmr_start(&xc.tick, TICK_MS, tick_handler, NULL);
	return 0;
}


void xclient_close(void)
{
	struct le *le;

	xc.closing = true;
	tmr_cancel(&xc.tick);
	tmr_cancel(&xc.again);
	LIST_FOREACH(&xc.sessions, le)
	{
		struct xsess *s = le->data;
		if (s->conn && s->up)
			xmpp_disconnect(s->conn);
	}
	/* the </stream> goes out if the socket takes it now; the server
	 * ends the session on the close anyway */
	if (xc.ctx)
		pump();
	list_flush(&xc.sessions);
	if (xc.ctx)
		(void)timer_delete(xc.wd); /* after the last pump */
	if (xc.ctx && !xc.kept) {
		xmpp_ctx_free(xc.ctx);
		xc.ctx = NULL;
	}
}


int xclient_show(const char *jid, const char *xml, size_t len)
{
	struct xsess *s = sess_by_jid(jid);
	char *want;

	if (!s)
		return ENOENT;
	want = mem_alloc(len + 1, NULL);
	if (!want)
		return ENOMEM;
	memcpy(want, xml, len);
	want[len] = '\0';
	mem_deref(s->want);
	s->want = want;
	sess_show(s);
	pump();
	return 0;
}


void xclient_announce(void)
{
	struct le *le;

	LIST_FOREACH(&xc.sessions, le)
	{
		struct xsess *s = le->data;
		if (s->up && xc.uph)
			xc.uph(s->jid);
	}
}
