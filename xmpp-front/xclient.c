/**
 * @file xclient.c  The phones' client sessions (xclient.h).
 *
 * libstrophe's raw mode does TCP, TLS and the XML framing; its sockets
 * are watched by libre's loop (the socket is learnt from the sockopt
 * callback), which calls xmpp_run_once() without waiting whenever one is
 * ready and once a second for libstrophe's own timers. The sign-in is a
 * chain of steps, each started by what the server sent:
 *
 *   features (no TLS yet, STARTTLS offered)  -> <starttls/>      XS_TLS
 *   <proceed/>                               -> TLS, new stream  XS_OPEN
 *   features (not signed in)                 -> <auth/>          XS_AUTH
 *   <challenge/>, <success/>                 -> new stream       XS_OPEN
 *   features, a kept resumption id, SM       -> <resume/>        XS_RESUME
 *   features otherwise                       -> bind             XS_BIND
 *   <resumed/>                               -> up               XS_UP
 *   <failed/> (resume)                       -> bind             XS_BIND
 *   bind result, SM offered                  -> <enable/>        XS_ENABLE
 *   bind result, no SM; <enabled/>, <failed/> -> up              XS_UP
 *
 * Each step has STEP_MS to get its answer; anything else ends the
 * connection and the session tries again with its backoff. libstrophe
 * logs only warnings and errors here: its debug log holds the SASL
 * exchange.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <re.h>
#include <strophe.h>
#include "backoff.h"
#include "log.h"
#include "msg.h"
#include "util.h"
#include "xclient.h"
#include "xcout.h"
#include "xcsess.h"
#include "xcwd.h"
#include "xmpp_front.h"
#include "xmpp_util.h"
#include "xsasl.h"

#define NS_TLS  "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define BIND_ID "xc-bind"

enum {
	TICK_MS = 1000,  /* libstrophe's timers (connect timeout) */
	STEP_MS = 15000, /* each sign-in step's answer */
	REFUSED_MAX_MS = 300000,
	PUMP_ROUNDS = 4, /* reads per wake-up: TLS may hold more than one */
};

static struct {
	const struct xsgw_config *cfg;
	xclient_up_h *uph;
	xmpp_ctx_t *ctx;
	xmpp_log_t log;
	struct list sessions;
	struct tmr tick, again;
	bool closing;
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


/* ---- libre's loop drives libstrophe ---- */

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
	int fds[XCWD_FDS];
	size_t n = 0;
	struct le *le;

	LIST_FOREACH(&xc.sessions, le)
	{
		const struct xsess *s = le->data;
		if (s->fd >= 0 && n < XCWD_FDS)
			fds[n++] = s->fd;
	}
	xcwd_arm(fds, n);
	for (int i = 0; i < PUMP_ROUNDS; i++)
		xmpp_run_once(xc.ctx, 0);
	xcwd_disarm();
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


/* ---- what comes in once signed in: nothing is read, all is answered ---- */

/* A stanza from the server handled, with its answer r (NULL: none;
 * released). */
static void sess_answer(struct xsess *s, xmpp_stanza_t *r)
{
	if (r) {
		xcout_send_stanza(s, r);
		xmpp_stanza_release(r);
	}
	xcout_handled(s);
}


static int message_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;
	xmpp_stanza_t *r;

	if (s->phase != XS_UP)
		return 1;
	r = xmpp_link_refusal(
		xc.ctx, st, "service-unavailable",
		"This resource shows a phone's state; it reads no messages");
	sess_answer(s, r);
	return 1;
}


static int presence_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;

	if (s->phase == XS_UP)
		xcout_handled(s);
	return 1;
}


/* ---- the sign-in ---- */

/* End the connection without </stream> (the server keeps a resumable
 * session): a step without an answer, an answer we cannot use. */
static void sess_abort(struct xsess *s, const char *why)
{
	s->fail = why;
	s->phase = XS_IDLE; /* what else arrives is ignored */
	if (s->fd >= 0)
		(void)shutdown(s->fd, SHUT_RDWR);
	else
		xmpp_disconnect(s->conn);
}


static void step_handler(void *arg)
{
	sess_abort(arg, "no answer in time");
}


static void sess_step(struct xsess *s, enum xs_phase phase)
{
	s->phase = phase;
	if (phase == XS_UP)
		tmr_cancel(&s->step);
	else
		tmr_start(&s->step, STEP_MS, step_handler, s);
}


/* End the connection for a reason of our own (refused: the long wait). */
static void sess_fail(struct xsess *s, const char *why, bool refused)
{
	s->fail = why;
	s->refused = refused;
	s->phase = XS_IDLE; /* what else arrives is ignored */
	xmpp_disconnect(s->conn);
}


/* A new stream: features are read once the server's header came
 * (XMPP_CONN_CONNECT); what arrives before it is the old stream's. */
static void sess_open(struct xsess *s)
{
	sess_step(s, XS_OPENING);
	(void)xmpp_conn_open_stream_default(s->conn);
}


static void sess_up(struct xsess *s, bool resumed)
{
	sess_step(s, XS_UP);
	s->was_up = true;
	s->streak = false;
	s->refused = false;
	s->attempts = 0;
	log_info("client session %s %s%s%s", s->jid,
		 resumed ? "resumed" : "signed in", s->tls ? " (TLS)" : "",
		 s->sm && s->smid && *s->smid ? " (resumable)" : "");
	if (xc.uph)
		xc.uph(s->jid);
	xcout_show(s);
}


static void sess_bind(struct xsess *s)
{
	xmpp_stanza_t *iq = xmpp_iq_new(xc.ctx, "set", BIND_ID);
	xmpp_stanza_t *b = xmpp_stanza_new(xc.ctx);

	s->fresh = true;
	s->sm = false;
	s->sent = mem_deref(s->sent);
	if (!iq || !b) {
		sess_fail(s, "out of memory", false);
		goto out;
	}
	xmpp_stanza_set_name(b, "bind");
	xmpp_stanza_set_ns(b, NS_BIND);
	xu_text_elem(xc.ctx, b, "resource", NULL, s->ph->resource);
	xmpp_stanza_add_child(iq, b);
	sess_step(s, XS_BIND);
	xmpp_send(s->conn, iq);
out:
	if (b)
		xmpp_stanza_release(b);
	if (iq)
		xmpp_stanza_release(iq);
}


static void sess_auth(struct xsess *s, xmpp_stanza_t *mechs)
{
	char out[XSASL_MAX * 2], nonce[XSASL_NONCE + 1], user[512],
		buf[XSASL_MAX * 2 + 128];
	bool scram = false, plain = false;
	const char *at = strchr(s->ph->jid, '@'), *why = NULL;

	for (xmpp_stanza_t *m = mechs ? xmpp_stanza_get_children(mechs) : NULL;
	     m; m = xmpp_stanza_get_next(m)) {
		char *t = xmpp_stanza_get_text(m);
		scram |= t && !strcmp(t, "SCRAM-SHA-1");
		plain |= t && !strcmp(t, "PLAIN");
		if (t)
			xmpp_free(xc.ctx, t);
	}
	if (!at || (size_t)(at - s->ph->jid) >= sizeof(user)) {
		sess_fail(s, "no user name in the JID", true);
		return;
	}
	memcpy(user, s->ph->jid, (size_t)(at - s->ph->jid));
	user[at - s->ph->jid] = '\0';
	s->scram = scram;
	if (scram) {
		/* 18 random bytes as base64: 24 characters, no ',' */
		uint8_t rnd[18];
		size_t nl = sizeof(nonce) - 1;
		rand_bytes(rnd, sizeof(rnd));
		if (base64_encode(rnd, sizeof(rnd), nonce, &nl))
			nl = 0;
		nonce[nl] = '\0';
		if (xsasl_scram_first(&s->sc, user, nonce, out, sizeof(out)))
			why = "SASL: the user name does not fit";
	} else if (plain) {
		if (xsasl_plain(user, s->ph->password, out, sizeof(out)))
			why = "SASL: the password does not fit";
	} else {
		why = "the server offers neither SCRAM-SHA-1 nor PLAIN";
	}
	if (why) {
		sess_fail(s, why, true);
		return;
	}
	re_snprintf(buf, sizeof(buf),
		    "<auth xmlns='%s' mechanism='%s'>%s</auth>", NS_SASL,
		    scram ? "SCRAM-SHA-1" : "PLAIN", out);
	sess_step(s, XS_AUTH);
	xmpp_send_raw(s->conn, buf, strlen(buf));
	memset(out, 0, sizeof(out));
	memset(buf, 0, sizeof(buf));
}


static int features_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;
	char x[128];

	if (s->phase != XS_OPEN)
		return 1;
	if (!s->tls && xu_child_ns(st, NS_TLS)) {
		re_snprintf(x, sizeof(x), "<starttls xmlns='%s'/>", NS_TLS);
		sess_step(s, XS_TLS);
		xmpp_send_raw(conn, x, strlen(x));
		return 1;
	}
	if (!s->tls && xc.cfg->presence.client_tls) {
		sess_fail(s, "the server offers no TLS (presence.client_tls)",
			  true);
		return 1;
	}
	if (!s->authed) {
		sess_auth(s, xu_child_ns(st, NS_SASL));
		return 1;
	}
	s->offer_sm = xu_child_ns(st, NS_SM) != NULL;
	if (s->offer_sm && s->smid && *s->smid) {
		xmpp_stanza_t *r = xmpp_stanza_new(xc.ctx);
		if (!r) {
			sess_fail(s, "out of memory", false);
			return 1;
		}
		re_snprintf(x, sizeof(x), "%u", s->h_kept);
		xmpp_stanza_set_name(r, "resume");
		xmpp_stanza_set_ns(r, NS_SM);
		xmpp_stanza_set_attribute(r, "previd", s->smid);
		xmpp_stanza_set_attribute(r, "h", x);
		sess_step(s, XS_RESUME);
		xmpp_send(conn, r);
		xmpp_stanza_release(r);
		return 1;
	}
	sess_bind(s);
	return 1;
}


static int tls_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;

	if (s->phase != XS_TLS)
		return 1;
	if (strcmp(xmpp_stanza_get_name(st), "proceed")) {
		sess_fail(s, "the server refused STARTTLS", true);
		return 1;
	}
	xcwd_only(s->fd); /* the handshake blocks: the watchdog cuts it */
	if (xmpp_conn_tls_start(conn)) {
		sess_fail(s, "TLS handshake failed", true);
		return 1;
	}
	s->tls = true;
	sess_open(s);
	return 1;
}


static int sasl_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;
	const char *name = xmpp_stanza_get_name(st);
	char out[XSASL_MAX * 2], buf[XSASL_MAX * 2 + 64];
	char *text;
	int err = 0;

	if (s->phase != XS_AUTH)
		return 1;
	text = xmpp_stanza_get_text(st);
	if (!strcmp(name, "challenge") && s->scram && s->sc.step == 1) {
		err = xsasl_scram_final(&s->sc, s->ph->password,
					text ? text : "", out, sizeof(out));
		if (!err) {
			re_snprintf(buf, sizeof(buf),
				    "<response xmlns='%s'>%s</response>",
				    NS_SASL, out);
			xmpp_send_raw(conn, buf, strlen(buf));
			memset(buf, 0, sizeof(buf));
		}
	} else if (!strcmp(name, "challenge") && s->scram) {
		/* the server-final in a challenge (RFC 6120 6.3.10): an
		 * empty response, then <success/> */
		err = xsasl_scram_verify(&s->sc, text ? text : "");
		if (!err) {
			re_snprintf(buf, sizeof(buf), "<response xmlns='%s'/>",
				    NS_SASL);
			xmpp_send_raw(conn, buf, strlen(buf));
		}
	} else if (!strcmp(name, "success")) {
		/* SCRAM: the server proves it knows the password, in this
		 * <success/> or in the challenge before it */
		if (s->scram && s->sc.step != 3 &&
		    xsasl_scram_verify(&s->sc, text ? text : ""))
			err = EBADMSG;
		else {
			s->authed = true;
			sess_open(s);
		}
	} else {
		/* <failure/>: its condition says why */
		xmpp_stanza_t *c = xmpp_stanza_get_children(st);
		while (c && !xmpp_stanza_is_tag(c))
			c = xmpp_stanza_get_next(c);
		re_snprintf(s->failbuf, sizeof(s->failbuf), "SASL %s: %s", name,
			    c ? xmpp_stanza_get_name(c) : "no condition");
		err = EACCES;
	}
	if (text)
		xmpp_free(xc.ctx, text);
	if (err)
		sess_fail(s,
			  err == EACCES    ? s->failbuf
			  : err == EBADMSG ? "the server's SASL answer is wrong"
					   : "SASL",
			  true);
	return 1;
}


static int iq_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;
	const char *type = xu_attr(st, "type");
	xmpp_stanza_t *r = NULL;

	if (s->phase == XS_BIND && !strcmp(xu_attr(st, "id"), BIND_ID)) {
		if (strcmp(type, "result")) {
			sess_fail(s, "the server refused the resource", true);
			return 1;
		}
		if (s->offer_sm) {
			char x[96];
			re_snprintf(x, sizeof(x),
				    "<enable xmlns='%s' resume='true'/>",
				    NS_SM);
			sess_step(s, XS_ENABLE);
			xmpp_send_raw(conn, x, strlen(x));
			return 1;
		}
		s->smid = mem_deref(s->smid);
		sess_up(s, false);
		return 1;
	}
	if (s->phase != XS_UP)
		return 1;
	if (!strcmp(type, "get") && xu_child_ns(st, "urn:xmpp:ping")) {
		r = xmpp_iq_new(xc.ctx, "result", xu_attr(st, "id"));
		if (r && *xu_attr(st, "from"))
			xmpp_stanza_set_to(r, xu_attr(st, "from"));
	} else if (!strcmp(type, "get") || !strcmp(type, "set")) {
		r = xmpp_link_refusal(xc.ctx, st, "service-unavailable", NULL);
	}
	sess_answer(s, r);
	return 1;
}


/* <enabled/>, <resumed/>, <failed/> (XEP-0198). */
static int sm_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;
	const char *name = xmpp_stanza_get_name(st);
	const char *h;
	unsigned long n;
	char *end;

	if (s->phase == XS_ENABLE && !strcmp(name, "enabled")) {
		const char *res = xu_attr(st, "resume");
		s->smid = mem_deref(s->smid);
		if (!strcmp(res, "true") || !strcmp(res, "1"))
			(void)str_dup(&s->smid, xu_attr(st, "id"));
		s->sm = true;
		s->h_in = s->out_nr = s->h_kept = 0;
		s->keeping = s->owe_a = false;
		s->kxml = mem_deref(s->kxml);
		s->k = 0;
		s->wait_k = s->unsent = false;
		/* the new id is kept before anything counted goes out */
		if (s->smid && *s->smid)
			xcout_number(s, NULL, false);
		sess_up(s, false);
	} else if (s->phase == XS_ENABLE && !strcmp(name, "failed")) {
		s->smid = mem_deref(s->smid);
		sess_up(s, false);
	} else if (s->phase == XS_RESUME && !strcmp(name, "resumed")) {
		h = xu_attr(st, "h");
		n = strtoul(h, &end, 10);
		if (!*h || *end || n > UINT32_MAX) {
			sess_abort(s, "the server's <resumed/> has no h");
			return 1;
		}
		s->sm = true;
		s->h_in = s->h_kept;
		s->owe_a = false;
		s->out_nr = (uint32_t)n;
		/* what the contacts were shown: nothing since the sign-in
		 * (k 0); the presence numbered k if the server's count says
		 * it got it; else unknown, the current one goes out (and the
		 * number is void before anything counted is sent: stanzas
		 * sent later must not reach it) */
		s->fresh = !s->k;
		mem_deref(s->sent);
		s->sent = NULL;
		if (s->k && s->k != K_VOID && n >= s->k)
			s->sent = mem_ref(s->kxml);
		else if (s->k && s->k != K_VOID)
			xcout_void(s);
		sess_up(s, true);
	} else if (s->phase == XS_RESUME && !strcmp(name, "failed")) {
		log_info("client session %s: the server no longer has it; "
			 "signing in anew",
			 s->jid);
		s->smid = mem_deref(s->smid);
		s->kxml = mem_deref(s->kxml);
		s->k = 0;
		s->wait_k = s->unsent = s->keeping = s->owe_a = false;
		tmr_cancel(&s->rekeep);
		sess_bind(s);
	}
	return 1;
}


/* A stream error (its condition says why; conflict: another client took
 * the resource). The server closes the stream next. */
static int error_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct xsess *s = arg;
	xmpp_stanza_t *c = xmpp_stanza_get_children(st);

	while (c && !xmpp_stanza_is_tag(c))
		c = xmpp_stanza_get_next(c);
	s->conflict = c && !strcmp(xmpp_stanza_get_name(c), "conflict");
	if (s->fail)
		return 1;
	re_snprintf(s->failbuf, sizeof(s->failbuf), "stream error: %s",
		    c ? xmpp_stanza_get_name(c) : "no condition");
	s->fail = s->failbuf;
	return 1;
}


/* Every element the server sends at the stream's top level, by its
 * namespace and name (libstrophe's own matching would also fire a
 * handler for an element with a child of that namespace). */
static int stream_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	const char *ns = xmpp_stanza_get_ns(st);
	const char *name = xmpp_stanza_get_name(st);

	if (!name)
		return 1;
	if (!ns)
		ns = "";
	if (!strcmp(ns, XMPP_NS_STREAMS))
		return !strcmp(name, "features")
			       ? features_handler(conn, st, arg)
		       : !strcmp(name, "error") ? error_handler(conn, st, arg)
						: 1;
	if (!strcmp(ns, NS_TLS))
		return tls_handler(conn, st, arg);
	if (!strcmp(ns, NS_SASL))
		return sasl_handler(conn, st, arg);
	if (!strcmp(ns, NS_SM)) {
		if (strcmp(name, "r"))
			return sm_handler(conn, st, arg);
		xcout_r(arg);
		return 1;
	}
	if (!strcmp(name, "iq"))
		return iq_handler(conn, st, arg);
	if (!strcmp(name, "message"))
		return message_handler(conn, st, arg);
	if (!strcmp(name, "presence"))
		return presence_handler(conn, st, arg);
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

	sess_step(s, XS_IDLE);
	tmr_cancel(&s->step);
	tmr_start(
		&s->retry,
		backoff_delay(r[0], max, s->attempts++, (uint32_t)random_u64()),
		sess_connect, s);
}


static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
			 xmpp_stream_error_t *serr, void *arg)
{
	struct xsess *s = arg;
	const char *why;

	if (ev == XMPP_CONN_RAW_CONNECT) {
		sess_open(s);
		return;
	}
	if (ev == XMPP_CONN_CONNECT) {
		if (s->phase == XS_OPENING)
			sess_step(s, XS_OPEN);
		return;
	}
	if (ev != XMPP_CONN_DISCONNECT && ev != XMPP_CONN_FAIL)
		return;
	sess_unwatch(s);
	tmr_cancel(&s->step);
	/* a (k, kxml) being kept stays so (and is asked again): a
	 * resumption decides with it */
	xcout_drop(s);
	s->unsent = false;
	s->owe_a = false;
	s->sm = false;
	if (xc.closing)
		return;
	/* the server ended it without saying why after a sign-in step
	 * (error 0: no socket error), or stalled the front (the watchdog
	 * cut it) */
	if (xcwd_fired())
		s->refused = true;
	else if (!s->fail && !s->was_up && !error && s->phase > XS_OPEN)
		s->refused = true;
	if (s->conflict) {
		s->refused = true;
		s->attempts = 32; /* at once the longest wait */
	}
	why = s->fail        ? s->fail
	      : xcwd_fired() ? "no answer within the watchdog's time, cut"
	      : error        ? strerror(error)
	      : *xc.why      ? xc.why
			     : "closed";
	/* once per loss, and once per run of failures */
	if (s->was_up || !s->streak)
		log_warn("client session %s %s (%s); retrying", s->jid,
			 s->conflict ? "taken over by another client"
			 : s->was_up ? "lost"
				     : "cannot sign in",
			 why);
	xc.why[0] = '\0';
	s->streak = true;
	s->was_up = false;
	s->sent = mem_deref(s->sent);
	sess_retry(s);
}


static void sess_connect(void *arg)
{
	struct xsess *s = arg;
	const struct cfg_hostport *hp = &xc.cfg->presence.client_server;
	int err;

	xc.why[0] = '\0';
	if (s->conn)
		xmpp_conn_release(s->conn);
	s->tls = s->authed = s->offer_sm = s->conflict = false;
	s->fail = NULL;
	s->conn = xmpp_conn_new(xc.ctx);
	if (!s->conn) {
		sess_retry(s);
		return;
	}
	xmpp_conn_set_jid(s->conn, s->jid);
	xmpp_conn_set_sockopt_callback(s->conn, sockopt_handler);
	xmpp_handler_add(s->conn, stream_handler, NULL, NULL, NULL, s);
	sess_step(s, XS_OPENING);
	err = xmpp_connect_raw(s->conn, hp->port ? hp->host : NULL, hp->port,
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
	tmr_cancel(&s->step);
	tmr_cancel(&s->rekeep);
	sess_unwatch(s);
	xcout_drop(s);
	if (s->conn)
		xmpp_conn_release(s->conn);
	list_unlink(&s->le);
	mem_deref(s->jid);
	mem_deref(s->smid);
	mem_deref(s->kxml);
	mem_deref(s->want);
	mem_deref(s->sent);
}


/* The libstrophe context and the watchdog's timer: made with the first
 * session only (a gateway without phone passwords has neither). */
static int ctx_make(void)
{
	int err = xcwd_init();

	if (err)
		return err;
	xc.log.handler = strophe_log;
	xc.ctx = xmpp_ctx_new(NULL, &xc.log);
	if (!xc.ctx) {
		xcwd_close();
		return ENOMEM;
	}
	xmpp_ctx_set_timeout(xc.ctx, 0);
	return 0;
}


int xclient_init(const struct xsgw_config *cfg, xclient_up_h *uph,
		 xclient_keep_h *keeph)
{
	int err;

	xc.cfg = cfg;
	xc.uph = uph;
	xcout_init(keeph);
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
		s->phase = XS_WAIT;
		tmr_init(&s->retry);
		tmr_init(&s->step);
		tmr_init(&s->rekeep);
		list_init(&s->held);
		list_append(&xc.sessions, &s->le, s);
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
		/* a resumable session's socket is just closed (the
		 * destructor): the server keeps the session for the next
		 * incarnation, or for whoever starts the gateway again */
		if (s->conn && s->phase == XS_UP && !(s->smid && *s->smid))
			xmpp_disconnect(s->conn);
	}
	/* the </stream> goes out if the socket takes it now; the server
	 * ends the session on the close anyway */
	if (xc.ctx)
		pump();
	list_flush(&xc.sessions);
	if (xc.ctx)
		xcwd_close(); /* after the last pump */
	if (xc.ctx) {
		xmpp_ctx_free(xc.ctx);
		xc.ctx = NULL;
	}
}


void xclient_state(const struct m_client_sm *m)
{
	struct xsess *s;
	char jid[600];

	if (m->jid.l >= sizeof(jid))
		return;
	pl_strcpy(&m->jid, jid, sizeof(jid));
	s = sess_by_jid(jid);
	if (!s)
		return;
	if (s->phase != XS_WAIT) {
		if (xcout_confirmed(s, m))
			pump();
		return;
	}
	s->smid = mem_deref(s->smid);
	s->kxml = mem_deref(s->kxml);
	if ((m->smid.l && pl_strdup(&s->smid, &m->smid)) ||
	    (m->xml.l && pl_strdup(&s->kxml, &m->xml)))
		return; /* out of memory: the next link asks again */
	s->h_kept = m->h;
	s->k = m->k;
	s->phase = XS_IDLE;
	tmr_start(&s->retry, 0, sess_connect, s);
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
	xcout_show(s);
	pump();
	return 0;
}


void xclient_announce(void)
{
	struct le *le;

	LIST_FOREACH(&xc.sessions, le)
	{
		struct xsess *s = le->data;
		if (xc.uph)
			xc.uph(s->jid);
	}
}
