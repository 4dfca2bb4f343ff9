/**
 * @file xmpp_front.c  main(): the component stream, stanzas in and out.
 *
 * Transport only: every stanza received goes to the translator as XML
 * (MSG_XMPP_IN), every stanza the translator built is written to the
 * stream as it is (MSG_XMPP_OUT) and reported done (MSG_OUT_DONE). The
 * front answers nothing itself except an error for a stanza it could not
 * hand over (too large, nested too deep).
 *
 * Custody: the component's TCP connection outlives this process. Once
 * connected, the socket and the stream's journal (xjournal.h) are left with
 * the supervisor (MSG_FD_STORE), which hands them to the next incarnation;
 * only a broken connection or a gateway stop ends the stream. So that a
 * SIGKILL at any instant loses and doubles nothing:
 *  - in: bytes are peeked, never read; they are consumed only once the
 *    translator has committed the stanzas they carry (its ACK), and each
 *    stanza carries its stream position, which the translator stores with
 *    its effects: a successor parses again from the first unconsumed byte
 *    (a stanza boundary, with a parser primed with the stream header) and
 *    the translator drops what it already applied;
 *  - out: a stanza is recorded in the journal (id, write position, bytes)
 *    before it is written, and written whole when the send buffer has room
 *    for it; a successor compares the kernel's count of bytes written with
 *    the journal: it completes a stanza its predecessor left torn, and
 *    reports the ones already written instead of writing them again.
 * An outage of the XMPP server is a reconnect with backoff here, never a
 * reason for the supervisor to restart this process.
 *
 * The phones' client sessions (xclient.h) live here too: MSG_CLIENT_OUT
 * in, MSG_CLIENT_UP out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <re.h>
#include "backoff.h"
#include "log.h"
#include "proc.h"
#include "msg.h"
#include "tlink.h"
#include "xclient.h"
#include "xjournal.h"
#include "xmlcheck.h"
#include "xmpp_front.h"
#include "xmpp_util.h"
#include "xresolve.h"
#include "xsock.h"
#include "xstream.h"

enum {
	/* stanzas waiting for the stream: past either bound the translator's
	 * channel is paused, and its queue holds the rest */
	OUTQ_MAX = 100000,
	OUTQ_BYTES_MAX = 64 * 1024 * 1024,
	/* bytes peeked but not yet consumed: past it reading pauses (the
	 * kernel, then the server, hold the rest) */
	INQ_MAX = 8 * 1024 * 1024,
	/* OUT_DONE reports not yet acknowledged: the journal's ring must name
	 * every stanza a successor could be asked to write again */
	UNACKED_MAX = XJ_RING / 2,
	ROOM_POLL_MS = 2,
	/* a wake-up with nothing new to peek: reading waits this long (or
	 * for a consume) before the next */
	RD_POLL_MS = 2,
	/* reading or writing the stream stops after this long in one turn of
	 * the loop and goes on in the next: a backlog (megabytes the server
	 * sent while this process was being restarted) must not keep the
	 * supervisor's heartbeat and the translator's acks waiting */
	TURN_MS = 50,
	/* the component socket's receive buffer (xsock_rcvbuf: peeked bytes
	 * pin their whole segments) */
	RCVBUF = 4 * 1024 * 1024,
	CONNECT_TIMEOUT_MS = 10000,
};

/** Where the stream stands. */
enum xf_state {
	XF_DOWN,       /**< no connection (a retry may be due) */
	XF_CONNECTING, /**< TCP connect in progress */
	XF_HANDSHAKE,  /**< stream opened, waiting for <handshake/> */
	XF_OPEN,       /**< stanzas flow */
	XF_CLOSING,    /**< our </stream:stream> is out: reading to EOF */
};

/** A stanza waiting for the stream (id 0: the front's own). */
struct outmsg {
	struct le le;
	uint64_t id;
	char *xml;
	size_t len;
};

/** A stanza handed to the translator, consumed once it is acknowledged. */
struct inflight {
	struct le le;
	uint64_t seq; /**< its reliable seq (0: nothing to wait for) */
	uint64_t end; /**< stream position just past it */
};

static struct {
	struct proc proc;
	struct tlink *tl;
	xmpp_ctx_t *ctx; /**< stanza objects only */
	enum xf_state st;
	bool stopping;
	int fd;
	/* what is set on fd now, to spare the system calls that would set
	 * the same again (libre's fd_listen is two epoll_ctl each time) */
	int io_flags;    /**< watched (fd_listen); 0: not watched */
	size_t lowat;    /**< SO_RCVLOWAT; 0: not set on this fd */
	size_t room_est; /**< send buffer room known, less what went since */
	struct xjournal *j;
	struct xstream *xs;
	struct xresolve *res; /**< xmpp.host's address */
	bool peek_kernel;     /**< the kernel keeps the peek offset */
	uint64_t rd_base;   /**< stream position of the first unconsumed byte */
	uint64_t rd_peeked; /**< ... of the first byte not yet peeked */
	uint64_t rd_acked;  /**< end of the last stanza acknowledged */
	uint64_t acked;     /**< the translator's last acknowledged seq */
	uint64_t last_seq;  /**< of the last reliable frame sent */
	/* "written" reports not yet acknowledged, oldest first (a ring):
	 * the journal must name each one's stanza, so writing waits at
	 * UNACKED_MAX of them, or while one more stanza of any kind (the
	 * front's own too) would push the oldest out of the journal's ring.
	 * Only them: frames in, unread while the translator's channel is
	 * paused, must not stop the writer that would resume it */
	struct {
		uint64_t seq;  /**< the report's reliable seq */
		uint64_t mark; /**< its stanza's xjournal_count (0: none) */
	} rep[UNACKED_MAX];
	unsigned rep_head, rep_n;
	bool wr_held;        /**< writing waits for those acknowledgements (and
				reading for writing) */
	uint64_t prior_mark; /**< a mark no later than any prior stanza's */
	bool rd_paused;      /**< INQ_MAX reached */
	bool rd_idle;        /**< woken for bytes already peeked: rd_poll */
	bool link_told;      /**< the translator knows the stream is open */
	uint64_t link_epoch; /**< ... on this translator link */
	uint64_t client_epoch; /**< the link the client sessions told */
	bool end_due;          /**< stopping: </stream:stream> still to write */
	struct list inflight;
	uint64_t wr_off;    /**< stream position of the next byte written */
	struct outmsg *cur; /**< being written (partly, if cur_done) */
	size_t cur_done;
	struct list outq;
	size_t outq_bytes;
	uint64_t *prior; /**< written by the predecessor, sorted */
	size_t nprior;
	unsigned attempts;
	struct tmr retry, room, drain, rd_poll;
	uint64_t stop_deadline;
} xf = {.fd = -1};

static void xf_connect(void *arg);
static void io_update(void);
static void wr_flush(void);


/* fd is no longer watched (about to be closed, or replaced): what was set
 * on it is forgotten. */
static void io_forget(void)
{
	if (xf.fd >= 0)
		fd_close(xf.fd);
	xf.io_flags = 0;
	xf.lowat = 0;
	xf.room_est = 0;
}


static void outmsg_destructor(void *arg)
{
	struct outmsg *m = arg;

	if (m->le.list)
		xf.outq_bytes -= m->len;
	list_unlink(&m->le);
	mem_deref(m->xml);
}


static struct outmsg *outmsg_new(uint64_t id, const char *xml, size_t len)
{
	struct outmsg *m = mem_zalloc(sizeof(*m), outmsg_destructor);

	if (!m)
		return NULL;
	m->xml = mem_alloc(len + 1, NULL);
	if (!m->xml)
		return mem_deref(m);
	memcpy(m->xml, xml, len);
	m->xml[len] = '\0'; /* for the debug log's strstr */
	m->id = id;
	m->len = len;
	return m;
}


/* Tell the translator whether the stream is open, and which one: once
 * per change, and once to each new link to it. */
static void link_report(void)
{
	struct m_xmpp_link m = {xf.st == XF_OPEN || xf.st == XF_CLOSING, 0};
	struct fbuf fb = {0};

	if (!tlink_up(xf.tl) ||
	    ((bool)m.up == xf.link_told && tlink_epoch(xf.tl) == xf.link_epoch))
		return;
	if (m.up && xf.j)
		m.stream = xjournal_stream(xf.j);
	if (!msg_enc_xmpp_link(&fb, &m) && !tlink_send(xf.tl, &fb)) {
		xf.link_told = m.up;
		xf.link_epoch = tlink_epoch(xf.tl);
	}
	fbuf_reset(&fb);
}


/* The end of an outbox entry's work, for the translator (tlink: a
 * stanza written lazily — the journal answers for it if this process dies
 * first — a failure at once). mark: the stanza's place in the journal
 * (xjournal_count once it was recorded; 0: not in the journal). */
static void out_report(uint64_t id, uint32_t scode, const char *reason,
		       uint64_t mark)
{
	int err = tlink_report_done(xf.tl, id, scode, reason, &xf.last_seq);
	unsigned i;

	if (!err && scode < 300) {
		if (xf.rep_n < UNACKED_MAX) {
			i = (xf.rep_head + xf.rep_n++) % UNACKED_MAX;
			xf.rep[i].mark = 0;
		} else {
			/* full (a report that wrote nothing: the writer waits
			 * at UNACKED_MAX): the newest answers for it too, its
			 * seq the later, its mark the lower */
			i = (xf.rep_head + xf.rep_n - 1) % UNACKED_MAX;
		}
		xf.rep[i].seq = xf.last_seq;
		if (mark && (!xf.rep[i].mark || mark < xf.rep[i].mark))
			xf.rep[i].mark = mark;
		mark = xf.rep[i].mark;
		/* marks never fall from the oldest on (0 counting as
		 * highest), so wr_may asks only for the oldest's: lowering
		 * a mark only makes the writer wait longer */
		while (mark && i != xf.rep_head) {
			i = (i + UNACKED_MAX - 1) % UNACKED_MAX;
			if (xf.rep[i].mark && xf.rep[i].mark <= mark)
				break;
			xf.rep[i].mark = mark;
		}
	}
	if (err)
		log_error("out %llu: cannot report it %s: %s",
			  (unsigned long long)id, reason, strerror(err));
}


/* ---- the connection ---- */

/* Leave the socket and the journal with the supervisor (or take them
 * back: n 0). Run by hand (no supervisor) there is no custody. */
static void custody(bool keep)
{
	int fds[2];
	int err;

	fds[0] = xf.fd;
	fds[1] = xf.j ? xjournal_fd(xf.j) : -1;
	err = proc_fd_store(&xf.proc, fds, keep && xf.j ? 2 : 0);
	if (err && err != ENOTCONN)
		log_warn("xmpp: custody of the stream: %s", strerror(err));
}


/* Forget the connection: the socket (ended for the server too, whoever
 * else holds it), the journal, the parser, what waited for it. */
static void conn_drop(void)
{
	if (xf.fd >= 0) {
		custody(false);
		io_forget();
		(void)shutdown(xf.fd, SHUT_RDWR);
		close(xf.fd);
	}
	xf.fd = -1;
	xjournal_close(xf.j);
	xf.j = NULL;
	xf.xs = mem_deref(xf.xs);
	list_flush(&xf.inflight);
	tmr_cancel(&xf.room);
	tmr_cancel(&xf.rd_poll);
	xf.rd_idle = false;
	if (xf.cur) {
		/* written partly on a stream that is gone: whole on the next */
		if (xf.cur->id) {
			list_prepend(&xf.outq, &xf.cur->le, xf.cur);
			xf.outq_bytes += xf.cur->len;
		} else {
			mem_deref(xf.cur);
		}
		xf.cur = NULL;
	}
	xf.prior = mem_deref(xf.prior);
	xf.nprior = 0;
	/* their marks were of that stream's journal: the next starts anew
	 * (what the translator sends again is written on it again) */
	xf.rep_n = 0;
	xf.wr_held = false;
	xf.rd_paused = false;
	/* the front's own writes belonged to that stream (its handshake, its
	 * answers): not to be written on the next one */
	for (struct le *le = list_head(&xf.outq); le;) {
		struct outmsg *m = le->data;
		le = le->next;
		if (!m->id)
			mem_deref(m);
	}
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


/* The connection broke or the server ended the stream. */
static void conn_lost(const char *why)
{
	bool was_up = xf.st == XF_OPEN || xf.st == XF_CLOSING;

	if (xf.st == XF_DOWN)
		return;
	if (xf.st != XF_CLOSING)
		log_warn("xmpp: %s: %s",
			 was_up ? "disconnected" : "connection failed", why);
	conn_drop();
	xf.st = XF_DOWN;
	if (was_up)
		link_report();
	if (!xf.stopping)
		xf_retry();
}


/* ---- writing ---- */

/* Write a stanza recorded in the journal, from cur_done on. @return true
 * once it is all with the kernel */
static bool wr_some(void)
{
	struct outmsg *m = xf.cur;
	ssize_t n;

	while (xf.cur_done < m->len) {
		n = send(xf.fd, m->xml + xf.cur_done, m->len - xf.cur_done,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0) {
			conn_lost(n < 0 ? strerror(errno) : "write failed");
			return false;
		}
		xf.cur_done += (size_t)n;
		xf.wr_off += (uint64_t)n;
	}
	if (m->id)
		out_report(m->id, 200, "sent", xjournal_count(xf.j));
	mem_deref(m);
	xf.cur = NULL;
	return true;
}


/* May a stanza go to the debug log? Not a message body unless log.bodies
 * says so, and never an XEP-0077 registration: it holds a SIP password. */
static bool loggable(const char *xml)
{
	return !strstr(xml, "jabber:iq:register") &&
	       (xf.proc.cfg->log.bodies || !strstr(xml, "<body"));
}


/* Take m as the stanza being written: journal first, then the kernel. */
static bool wr_start(struct outmsg *m)
{
	if (m->le.list) {
		list_unlink(&m->le);
		xf.outq_bytes -= m->len;
	}
	if (xjournal_begin(xf.j, m->id, xf.wr_off, m->xml, m->len))
		log_warn("out %llu: %zu bytes: too large to be completed "
			 "after a restart",
			 (unsigned long long)m->id, m->len);
	xf.cur = m;
	xf.cur_done = 0;
	/* the front's own (stream header, handshake) are never logged: with
	 * the stream id they let a reader test guesses of the secret */
	if (m->id && log_enabled(LOG_DEBUG) && loggable(m->xml))
		log_debug("xmpp out: %b", m->xml, m->len);
	return wr_some();
}


static void room_handler(void *arg)
{
	wr_flush();
}


/* Room for the next stanza whole? Past the unacknowledged bound, or with
 * a send buffer too full, the writer waits (a stanza larger than the whole
 * buffer goes when the buffer is empty). */
static bool wr_may(const struct outmsg *m)
{
	size_t room;
	bool empty;

	/* resumed from ack_handler */
	if (xf.rep_n >= UNACKED_MAX ||
	    (xf.rep_n && !xjournal_keeps(xf.j, xf.rep[xf.rep_head].mark))) {
		/* a peer's refusals can bring it back at every ack */
		if (!xf.wr_held)
			LOG_LIMITED(
				LOG_WARN,
				"xmpp: writing waits for the translator to "
				"acknowledge %u report(s) of stanzas written",
				xf.rep_n);
		xf.wr_held = true;
		return false;
	}
	if (xf.wr_held)
		LOG_LIMITED(LOG_INFO, "xmpp: writing goes on");
	xf.wr_held = false;
	if (m->len <= xf.room_est) {
		/* room only grows as the server reads: no need to ask */
		xf.room_est -= m->len;
		return true;
	}
	if (xsock_room(xf.fd, &room, &empty)) {
		xf.room_est = 0;
		return true;
	}
	xf.room_est = room >= m->len ? room - m->len : 0;
	if (room >= m->len || empty)
		return true;
	tmr_start(&xf.room, ROOM_POLL_MS, room_handler, NULL);
	return false;
}


/* Write what waits, in order, while the stream takes it. */
static void wr_flush(void)
{
	const uint64_t t0 = now_ms();
	struct le *le;

	if (xf.cur && !wr_some())
		goto out;
	if (xf.st == XF_CLOSING && xf.end_due) {
		static const char end[] = "</stream:stream>";
		struct outmsg *m = outmsg_new(0, end, sizeof(end) - 1);
		xf.end_due = false;
		/* then the server closes its side once it has sent the rest */
		if (m && wr_start(m))
			(void)shutdown(xf.fd, SHUT_WR);
		goto out;
	}
	/* before the stream is open only the front's own (id 0) */
	while (!xf.cur && (le = list_head(&xf.outq)) &&
	       (xf.st == XF_OPEN ||
		(xf.st == XF_HANDSHAKE && !((struct outmsg *)le->data)->id))) {
		if (!wr_may(le->data) || !wr_start(le->data))
			break;
		if (now_ms() - t0 >= TURN_MS) {
			tmr_start(&xf.room, 0, room_handler, NULL);
			break;
		}
	}
out:
	if (xf.st != XF_DOWN)
		io_update();
	if (list_count(&xf.outq) < OUTQ_MAX && xf.outq_bytes < OUTQ_BYTES_MAX)
		tlink_resume(xf.tl);
}


/* A stanza of the front's own (stream header, handshake, an error reply):
 * queued like the translator's, first in line before the stream is open. */
static void wr_own(const char *xml, size_t len)
{
	struct outmsg *m = outmsg_new(0, xml, len);

	if (!m) {
		log_error("xmpp: out of memory");
		return;
	}
	list_prepend(&xf.outq, &m->le, m);
	xf.outq_bytes += len;
	wr_flush();
}


static bool prior_has(uint64_t id)
{
	size_t lo = 0, hi = xf.nprior;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (xf.prior[mid] == id)
			return true;
		if (xf.prior[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}


static bool outq_has(uint64_t id)
{
	if (xf.cur && xf.cur->id == id)
		return true;
	for (struct le *le = list_head(&xf.outq); le; le = le->next)
		if (((struct outmsg *)le->data)->id == id)
			return true;
	return false;
}


/* The translator's link came up, or a client session signed in: it
 * answers with the phone's presence (MSG_CLIENT_OUT). */
static void client_up(const char *jid)
{
	struct m_client_up m = {{0}};
	struct fbuf fb = {0};

	pl_set_str(&m.jid, jid);
	if (!msg_enc_client_up(&fb, &m))
		(void)tlink_send(xf.tl, &fb);
	fbuf_reset(&fb);
}


/* A client session's stream state is kept (xclient.h). */
static int client_keep(const struct m_client_sm *m)
{
	struct fbuf fb = {0};
	int err = msg_enc_client_sm(&fb, MSG_CLIENT_SM, m);

	if (!err)
		err = tlink_send_reliable(xf.tl, &fb, NULL);
	fbuf_reset(&fb);
	return err;
}


/* What the store keeps of a client session's stream. */
static int client_state(struct frame *fr)
{
	struct m_client_sm m;

	if (msg_dec_client_sm(fr, &m))
		return EBADMSG;
	xclient_state(&m);
	return 0;
}


/* A presence for a phone's client session (xclient.h): kept there and
 * sent when it can be; done at once. */
static int client_out(struct frame *fr)
{
	struct m_client_out o;
	const char *why;
	char jid[1024];
	int err;

	if (msg_dec_client_out(fr, &o) || o.jid.l >= sizeof(jid))
		return EBADMSG;
	if (tlink_is_done(xf.tl, o.out))
		return 0;
	pl_strcpy(&o.jid, jid, sizeof(jid));
	if (xmlcheck_stanza(o.xml.p, o.xml.l, XMPP_LINK_DEPTH_MAX, &why)) {
		log_warn("out %llu: not sent, not XMPP XML: %s",
			 (unsigned long long)o.out, why);
		out_report(o.out, 500, "Stanza not well-formed", 0);
		return 0;
	}
	err = xclient_show(jid, o.xml.p, o.xml.l);
	if (err == ENOMEM)
		return ENOMEM;
	if (err)
		log_warn("out %llu: no client session %s",
			 (unsigned long long)o.out, jid);
	out_report(o.out, err ? 404 : 200, err ? "No such session" : "kept", 0);
	return 0;
}


static int xmpp_front_dispatch_translator(struct frame *fr, void *arg)
{
	struct m_xmpp_out o;
	struct outmsg *m;
	const char *why;

	if (fr->type == MSG_CLIENT_OUT)
		return client_out(fr);
	if (fr->type == MSG_CLIENT_STATE)
		return client_state(fr);
	if (fr->type != MSG_XMPP_OUT || msg_dec_xmpp_out(fr, &o))
		return EBADMSG;
	/* a re-send after the translator restarted: do the work once.
	 * Stopping: nothing more is written; the outbox keeps it for the
	 * next incarnation */
	if (tlink_is_done(xf.tl, o.out) || outq_has(o.out) || xf.stopping)
		return 0;
	if (prior_has(o.out)) {
		/* written by the predecessor, which died before reporting */
		out_report(o.out, 200, "sent", xf.prior_mark);
		return 0;
	}
	/* backpressure: the translator's queue holds the rest */
	if (list_count(&xf.outq) >= OUTQ_MAX || xf.outq_bytes >= OUTQ_BYTES_MAX)
		return CHAN_PAUSE;
	/* the server would close the stream on it, losing what follows in
	 * the same burst: never written, a local failure (5xx) instead */
	if (xmlcheck_stanza(o.xml.p, o.xml.l, XMPP_LINK_DEPTH_MAX, &why)) {
		log_warn("out %llu: not written, not XMPP XML: %s",
			 (unsigned long long)o.out, why);
		out_report(o.out, 500, "Stanza not well-formed", 0);
		return 0;
	}
	m = outmsg_new(o.out, o.xml.p, o.xml.l);
	if (!m)
		return ENOMEM;
	list_append(&xf.outq, &m->le, m);
	xf.outq_bytes += m->len;
	wr_flush();
	return 0;
}


/* ---- reading ---- */

/* How much may be peeked and not consumed: past it reading pauses. */
static uint64_t rd_max(void)
{
	return xf.peek_kernel ? INQ_MAX : XSOCK_SKIP_MAX - 65536;
}


/* Wake for new bytes only, not for the peeked ones waiting for their
 * commit (the socket stays readable while they are queued). */
static void rd_lowat(void)
{
	const size_t n = (size_t)(xf.rd_peeked - xf.rd_base) + 1;

	if (n != xf.lowat)
		xf.lowat = xsock_lowat(xf.fd, n) ? 0 : n;
}


static void rd_poll_handler(void *arg)
{
	xf.rd_idle = false;
	io_update();
}


/* Woken with nothing new to peek: the bytes held for the translator's
 * commit fill the receive buffer, and Linux then reports the socket
 * readable whatever SO_RCVLOWAT says (tcp_epollin_ready: memory pressure,
 * a window under one MSS). Level-triggered, that is a busy loop while the
 * translator is slow; reading waits RD_POLL_MS, or for the next consume,
 * instead. */
static void rd_idle(void)
{
	xf.rd_idle = true;
	io_update();
	tmr_start(&xf.rd_poll, RD_POLL_MS, rd_poll_handler, NULL);
}


/* Bytes were consumed: room for new ones, read at once. */
static void rd_wake(void)
{
	if (!xf.rd_idle)
		return;
	tmr_cancel(&xf.rd_poll);
	rd_poll_handler(NULL);
}


/* Drop from the kernel what is committed: up to the last stanza the
 * translator acknowledged, or, with nothing in flight, everything parsed
 * (whitespace, the stream's own elements). */
static void rd_consume(void)
{
	uint64_t to, start = 0;
	bool skip;
	int err;

	if (xf.fd < 0 || !xf.xs)
		return;
	skip = list_isempty(&xf.inflight) && xstream_oversize(xf.xs, &start);
	if (skip) {
		/* an oversize stanza (refused at its end) is kept by nobody:
		 * its bytes go as they are parsed, or it would never fit the
		 * receive buffer. A successor cannot parse from inside it. */
		xjournal_set_skip(xf.j, true, start);
		to = xstream_parsed(xf.xs);
	} else {
		to = list_isempty(&xf.inflight) ? xstream_boundary(xf.xs)
						: xf.rd_acked;
	}
	if (to > xf.rd_base) {
		err = xsock_consume(xf.fd, (size_t)(to - xf.rd_base));
		if (err) {
			conn_lost(strerror(err));
			return;
		}
		xf.rd_base = to;
		rd_wake();
	}
	if (!skip && xjournal_skip(xf.j, &start) && xf.rd_base > start)
		xjournal_set_skip(xf.j, false, 0); /* past its end */
	rd_lowat();
	if (xf.rd_paused && xf.rd_peeked - xf.rd_base < rd_max()) {
		xf.rd_paused = false;
		io_update();
	}
}


static void inflight_destructor(void *arg)
{
	struct inflight *f = arg;

	list_unlink(&f->le);
}


static void inflight_add(uint64_t seq, uint64_t end)
{
	struct inflight *f = mem_zalloc(sizeof(*f), inflight_destructor);

	if (!f) {
		log_error("xmpp: out of memory");
		return;
	}
	f->seq = seq;
	f->end = end;
	list_append(&xf.inflight, &f->le, f);
}


/* Every stanza up to seq is committed: their bytes can go. */
static void ack_handler(uint64_t seq, void *arg)
{
	struct le *le;

	if (seq > xf.acked)
		xf.acked = seq;
	while (xf.rep_n && xf.rep[xf.rep_head].seq <= xf.acked) {
		xf.rep_head = (xf.rep_head + 1) % UNACKED_MAX;
		xf.rep_n--;
	}
	link_report();
	if (tlink_epoch(xf.tl) != xf.client_epoch) {
		/* a new translator link: every session asks again */
		xf.client_epoch = tlink_epoch(xf.tl);
		xclient_announce();
	}
	while ((le = list_head(&xf.inflight))) {
		struct inflight *f = le->data;
		if (f->seq > xf.acked)
			break;
		xf.rd_acked = f->end;
		mem_deref(f);
	}
	rd_consume();
	if (xf.st == XF_OPEN && !xf.cur && !tmr_isrunning(&xf.room))
		wr_flush();
}


/* The translator cannot take this stanza: a transport-level refusal, so
 * the sender hears it at once, never silence. */
static void stanza_refuse(xmpp_stanza_t *st, uint64_t end, int err)
{
	const char *cond = "policy-violation", *text;
	xmpp_stanza_t *r;
	char *buf = NULL;
	size_t len = 0;

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
	LOG_LIMITED(LOG_WARN, "%s from %s refused: %s",
		    xmpp_stanza_get_name(st), xu_attr(st, "from"), text);
	r = xmpp_link_refusal(xf.ctx, st, cond, text);
	if (r && xmpp_stanza_to_text(r, &buf, &len) == XMPP_EOK) {
		wr_own(buf, len);
		xmpp_free(xf.ctx, buf);
	}
	if (r)
		xmpp_stanza_release(r);
	/* its bytes go with those of the frames before it */
	inflight_add(xf.last_seq, end);
	ack_handler(xf.acked, NULL);
}


/* A stanza of the open stream: to the translator, with its position. */
static void stanza_forward(xmpp_stanza_t *st, uint64_t end)
{
	struct m_xmpp_in m = {.stream = xjournal_stream(xf.j), .end = end};
	struct fbuf fb = {0};
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK) {
		stanza_refuse(st, end, ENOMEM);
		return;
	}
	if (log_enabled(LOG_DEBUG) && loggable(buf))
		log_debug("xmpp in: %s", buf);
	m.xml.p = buf;
	m.xml.l = len;
	err = msg_enc_xmpp_in(&fb, &m);
	if (!err)
		err = tlink_send_reliable(xf.tl, &fb, &xf.last_seq);
	fbuf_reset(&fb);
	xmpp_free(xf.ctx, buf);
	if (err)
		stanza_refuse(st, end, err);
	else
		inflight_add(xf.last_seq, end);
}


/* The handshake digest: hex SHA-1 of the stream id and the secret. */
static void handshake_send(const char *id)
{
	const char *secret = xf.proc.cfg->xmpp.secret;
	size_t il = strlen(id), sl = strlen(secret);
	char *in = mem_alloc(il + sl + 1, NULL), *hex = NULL;
	char xml[128];
	int n;

	if (in) {
		memcpy(in, id, il);
		memcpy(in + il, secret, sl);
		hex = xmpp_sha1(xf.ctx, (unsigned char *)in, il + sl);
		memset(in, 0, il + sl);
	}
	mem_deref(in);
	if (!hex) {
		conn_lost("out of memory");
		return;
	}
	n = snprintf(xml, sizeof(xml), "<handshake>%s</handshake>", hex);
	xmpp_free(xf.ctx, hex);
	wr_own(xml, (size_t)n);
	memset(xml, 0, sizeof(xml));
}


static void header_handler(const char *hdr, size_t len, const char *id,
			   void *arg)
{
	if (xf.st != XF_HANDSHAKE || !xf.xs)
		return;
	if (xjournal_set_header(xf.j, hdr, len)) {
		conn_lost("stream header too long");
		return;
	}
	handshake_send(id);
}


static void stanza_handler(xmpp_stanza_t *st, uint64_t end, int err, void *arg)
{
	const char *name = xmpp_stanza_get_name(st);

	if (!xf.xs) /* the connection was dropped during this read */
		return;
	if (xf.st == XF_HANDSHAKE) {
		if (name && !strcmp(name, "handshake") && !err) {
			tmr_cancel(&xf.retry); /* the handshake's deadline */
			xjournal_set_state(xf.j, XJ_OPEN);
			xf.st = XF_OPEN;
			xf.attempts = 0;
			log_info("xmpp: connected to %s:%u as %s",
				 xf.proc.cfg->xmpp.host, xf.proc.cfg->xmpp.port,
				 xf.proc.cfg->xmpp.component);
			link_report();
			wr_flush();
			return;
		}
		log_warn("xmpp: the server refused the handshake (<%s>)",
			 name ? name : "?");
		conn_lost("handshake refused");
		return;
	}
	if (name && !strcmp(name, "error") &&
	    !strcmp(xmpp_stanza_get_ns(st) ? xmpp_stanza_get_ns(st) : "",
		    "http://etherx.jabber.org/streams")) {
		log_warn("xmpp: stream error from the server");
		inflight_add(xf.last_seq, end);
		return; /* the server closes the stream next */
	}
	if (err)
		stanza_refuse(st, end, err);
	else
		stanza_forward(st, end);
}


static void end_handler(int err, void *arg)
{
	if (!xf.xs)
		return;
	conn_lost(err ? "the stream is not well-formed XML"
		      : "the server ended the stream");
}


static void io_handler(int flags, void *arg);


/* Listen for what the stream needs now. */
static void io_update(void)
{
	int flags = 0;

	if (xf.fd < 0)
		return;
	if (xf.st == XF_CONNECTING)
		flags = FD_WRITE;
	else if (xf.st != XF_DOWN) {
		/* writing held: reading too, or a peer's refusals would
		 * queue without end for a writer that cannot take them */
		if (!xf.rd_paused && !xf.rd_idle && !xf.wr_held)
			flags |= FD_READ;
		if (xf.cur)
			flags |= FD_WRITE;
	}
	if (flags == xf.io_flags)
		return;
	if (!flags)
		fd_close(xf.fd);
	else if (fd_listen(xf.fd, flags, io_handler, NULL))
		flags = -1; /* unknown: set again next time */
	xf.io_flags = flags;
}


static void rd_some(void)
{
	const uint64_t t0 = now_ms();
	char buf[65536];
	bool got = false;
	ssize_t n;

	while (xf.fd >= 0 && !xf.rd_paused && !xf.wr_held) {
		if (xf.rd_peeked - xf.rd_base >= rd_max()) {
			xf.rd_paused = true;
			io_update();
			break;
		}
		n = xsock_peek(xf.fd, xf.peek_kernel,
			       (size_t)(xf.rd_peeked - xf.rd_base), buf,
			       sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!got)
				rd_idle();
			break;
		}
		if (n <= 0) {
			conn_lost(n < 0 ? strerror(errno)
					: "the server closed the connection");
			return;
		}
		got = true;
		xf.rd_peeked += (uint64_t)n;
		/* handlers may drop the connection (conn_lost) */
		mem_ref(xf.xs);
		{
			struct xstream *xs = xf.xs;
			(void)xstream_feed(xs, buf, (size_t)n);
			mem_deref(xs);
		}
		if ((size_t)n < sizeof(buf))
			break; /* drained: a peek more would only say EAGAIN */
		if (now_ms() - t0 >= TURN_MS)
			break; /* still readable: the loop calls us again */
	}
	rd_consume();
}


static void stream_open(void);


static void io_handler(int flags, void *arg)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (xf.st == XF_CONNECTING) {
		if (getsockopt(xf.fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
			conn_lost(strerror(err ? err : errno));
			return;
		}
		stream_open();
		return;
	}
	if ((flags & FD_WRITE) && xf.cur)
		wr_flush();
	if ((flags & (FD_READ | FD_EXCEPT)) && xf.fd >= 0) {
		chan_hold(); /* the stanzas of one read: one write */
		rd_some();
		chan_release();
	}
}


/* Start parsing and counting at the kernel's positions. */
static int stream_attach(void)
{
	int err;

	xf.peek_kernel = xsock_peek_reset(xf.fd);
	err = xsock_consumed(xf.fd, &xf.rd_base);
	if (!err)
		err = xsock_written(xf.fd, &xf.wr_off);
	if (err)
		return err;
	xf.rd_peeked = xf.rd_acked = xf.rd_base;
	return xstream_alloc(&xf.xs, xf.ctx, FRAME_MAX - 64,
			     XMPP_LINK_DEPTH_MAX, header_handler,
			     stanza_handler, end_handler, NULL);
}


/* Connected: a journal, custody, and our stream header. */
static void stream_open(void)
{
	const struct xsgw_config *cfg = xf.proc.cfg;
	char hdr[512];
	int err, n;

	tmr_cancel(&xf.retry);
	err = xjournal_create(&xf.j, random_u64() | 1);
	if (!err)
		err = stream_attach();
	if (err) {
		conn_lost(strerror(err));
		return;
	}
	xstream_start(xf.xs, xf.rd_base);
	custody(true);
	xf.st = XF_HANDSHAKE;
	n = snprintf(hdr, sizeof(hdr),
		     "<?xml version='1.0'?><stream:stream "
		     "xmlns='jabber:component:accept' "
		     "xmlns:stream='http://etherx.jabber.org/streams' "
		     "to='%s'>",
		     cfg->xmpp.component);
	wr_own(hdr, (size_t)n);
	/* the server must accept us in time */
	tmr_start(&xf.retry, CONNECT_TIMEOUT_MS, xf_connect, NULL);
}


/* TCP connect to the server's address (xf_connect found it). */
static void server_connect(const struct sa *sa)
{
	io_forget();
	xf.fd = socket(sa_af(sa), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (xf.fd < 0) {
		log_warn("xmpp: socket: %s", strerror(errno));
		xf_retry();
		return;
	}
	if (xsock_nodelay(xf.fd))
		log_warn("xmpp: TCP_NODELAY: %s", strerror(errno));
	if (xsock_rcvbuf(xf.fd, RCVBUF))
		log_warn("xmpp: SO_RCVBUF: %s", strerror(errno));
	xf.st = XF_CONNECTING;
	if (connect(xf.fd, &sa->u.sa, sa->len) && errno != EINPROGRESS) {
		conn_lost(strerror(errno));
		return;
	}
	io_update();
	tmr_start(&xf.retry, CONNECT_TIMEOUT_MS, xf_connect, NULL);
}


static void resolved_handler(int err, const struct sa *sa, void *arg)
{
	(void)arg;
	if (xf.stopping)
		return;
	if (err) {
		log_warn("xmpp: cannot resolve %s: %s", xf.proc.cfg->xmpp.host,
			 err == ENOENT ? "no such name or address"
				       : strerror(err));
		xf_retry();
		return;
	}
	log_debug("xmpp: %s is %J", xf.proc.cfg->xmpp.host, sa);
	server_connect(sa);
}


static void xf_connect(void *arg)
{
	const struct xsgw_config *cfg = xf.proc.cfg;
	struct sa sa;
	int err;

	if (xf.st != XF_DOWN) {
		/* connect or handshake timed out: conn_lost retries */
		conn_lost("no answer in time");
		return;
	}
	if (xf.stopping || xresolve_busy(xf.res))
		return;
	/* a name is asked of DNS without blocking the loop (xresolve.h) */
	err = xresolve_query(xf.res, cfg, cfg->xmpp.host, cfg->xmpp.port, &sa,
			     resolved_handler, NULL);
	if (err == EINPROGRESS)
		return;
	if (err) {
		resolved_handler(err, NULL, NULL);
		return;
	}
	server_connect(&sa);
}


/*
 * Continue the stream a predecessor left (descriptors from the
 * supervisor): parse again from the first unconsumed byte, finish a stanza
 * it left torn, and remember what it wrote. @return 0, or an error: the
 * stream cannot be continued (the caller ends it and connects anew)
 */
static int stream_resume(void)
{
	struct xj_found found;
	const char *hdr;
	uint64_t skip;
	size_t hl;
	int err;

	if (xjournal_state(xf.j) != XJ_OPEN || !xsock_alive(xf.fd))
		return ENOTCONN;
	hdr = xjournal_header(xf.j, &hl);
	if (!hdr)
		return EINVAL;
	err = stream_attach();
	if (!err && xjournal_skip(xf.j, &skip) && xf.rd_base > skip)
		err = EPROTO; /* inside an oversize stanza being dropped */
	if (!err)
		err = xstream_prime(xf.xs, hdr, hl, xf.rd_base);
	if (err)
		return err;
	xf.prior = mem_alloc(XJ_RING * sizeof(*xf.prior), NULL);
	if (!xf.prior)
		return ENOMEM;
	err = xjournal_recover(xf.j, xf.wr_off, xf.prior, &found);
	if (err)
		return err;
	xf.nprior = found.nids;
	/* the oldest entry a prior id can be: the newest XJ_RING - 1 */
	xf.prior_mark = xjournal_count(xf.j) >= XJ_RING - 1
				? xjournal_count(xf.j) - XJ_RING + 2
				: 1;
	if (found.torn.len) {
		/* the rest, before anything else */
		xf.cur = outmsg_new(found.torn.id, found.bytes, found.torn.len);
		if (!xf.cur)
			return ENOMEM;
		xf.cur_done = found.done;
		log_info("xmpp: completing a stanza cut after %zu of %zu "
			 "bytes",
			 xf.cur_done, (size_t)found.torn.len);
	}
	xf.st = XF_OPEN;
	log_info("xmpp: continuing the stream of the previous incarnation "
		 "(%zu stanza(s) it wrote are known)",
		 xf.nprior);
	return 0;
}


/* Descriptors handed over by the supervisor: continue, or start anew. */
static void stream_take(void)
{
	int fds[FD_STORE_MAX];
	unsigned n = proc_fds_taken(&xf.proc, fds, FD_STORE_MAX);
	int err = EINVAL;

	if (!n)
		return;
	for (unsigned i = 2; i < n; i++)
		close(fds[i]);
	io_forget();
	xf.fd = fds[0];
	(void)xsock_rcvbuf(xf.fd, RCVBUF); /* set at connect; kept by a
					      stream of an older release */
	if (n >= 2) {
		err = xjournal_open(&xf.j, fds[1]);
		if (err)
			close(fds[1]);
	}
	if (!err)
		err = stream_resume();
	if (err) {
		log_warn("xmpp: cannot continue the stream left by the "
			 "previous incarnation (%s); connecting anew",
			 strerror(err));
		conn_drop();
		xf.st = XF_DOWN;
		return;
	}
	io_update();
	if (xf.cur)
		wr_flush();
}


/*
 * Stop. A restart (MSG_RESTART) leaves the stream in the supervisor's
 * custody for the next incarnation and exits at once. A gateway stop ends
 * it: after our </stream:stream> the server still delivers what it had
 * routed to us, then closes its side (later stanzas it bounces). Exit once
 * the stream is closed and the translator has acknowledged every frame,
 * or at three quarters of supervisor.shutdown_grace_ms (the supervisor's
 * SIGKILL at the full grace is the hard limit).
 */
static void drain_handler(void *arg)
{
	bool closed = xf.st == XF_DOWN;

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
	xresolve_cancel(xf.res);
	if (xf.proc.restarting && xf.st == XF_OPEN) {
		log_info("xmpp: restarting; the stream stays open");
		re_cancel();
		return;
	}
	tlink_resume(xf.tl); /* the ACKs the drain waits for */
	tlink_flush(xf.tl);  /* ... and the reports they are for */
	if (xf.st == XF_OPEN) {
		custody(false);
		list_flush(&xf.outq); /* the outbox keeps them */
		xf.outq_bytes = 0;
		xf.st = XF_CLOSING;
		xf.end_due = true;
		wr_flush();
	} else if (xf.st != XF_DOWN) {
		conn_lost("stopping");
	}
	xf.stop_deadline =
		now_ms() + xf.proc.cfg->supervisor.shutdown_grace_ms * 3ULL / 4;
	drain_handler(NULL);
}


int main(int argc, char **argv)
{
	int err;

	proc_init(&xf.proc, PROC_XMPP_FRONT, argc, argv, xmpp_front_shutdown,
		  NULL);
	xmpp_initialize();
	xf.ctx = xmpp_ctx_new(NULL, NULL);
	if (!xf.ctx)
		fatal(1, "xmpp: out of memory");
	tmr_init(&xf.retry);
	tmr_init(&xf.room);
	tmr_init(&xf.drain);
	tmr_init(&xf.rd_poll);
	err = tlink_alloc(&xf.tl, &xf.proc, xmpp_front_dispatch_translator,
			  NULL);
	if (err)
		fatal(1, "xmpp-front: %s", strerror(err));
	tlink_set_ack_handler(xf.tl, ack_handler);
	err = xresolve_alloc(&xf.res);
	if (err)
		fatal(1, "xmpp-front: %s", strerror(err));
	/* what the predecessor wrote is known before the translator's replay
	 * (the link connects from the loop) */
	stream_take();
	if (xf.st == XF_DOWN)
		xf_connect(NULL);
	err = xclient_init(xf.proc.cfg, client_up, client_keep);
	if (err)
		fatal(1, "xmpp-front: client sessions: %s", strerror(err));
	proc_ready(&xf.proc);

	err = proc_run(&xf.proc);

	xclient_close();
	tmr_cancel(&xf.retry);
	tmr_cancel(&xf.room);
	tmr_cancel(&xf.drain);
	tmr_cancel(&xf.rd_poll);
	if (xf.fd >= 0) {
		/* a restart: the supervisor's copy keeps the stream open */
		io_forget();
		close(xf.fd);
	}
	xjournal_close(xf.j);
	xf.res = mem_deref(xf.res);
	xf.xs = mem_deref(xf.xs);
	list_flush(&xf.outq);
	list_flush(&xf.inflight);
	mem_deref(xf.cur);
	mem_deref(xf.prior);
	xmpp_ctx_free(xf.ctx);
	xmpp_shutdown();
	xf.tl = mem_deref(xf.tl);
	log_info("stopped");
	libre_close();
	config_free(xf.proc.cfg);
	return err;
}
