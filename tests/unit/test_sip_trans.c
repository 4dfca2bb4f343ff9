/* The sip-front's transaction layer over real sockets, driven by the libre
 * loop, no real peers. A struct sip_front is built as sip_front.c's main()
 * builds it (a libre SIP stack on 127.0.0.1 UDP+TCP, sf_strans_init, the
 * creqs hash, a tlink, the UDP probe), with sip_front.c's small
 * response/frame handlers replicated here (it has main(), so it is not
 * linked; requests go to sf_strans_request as there). Around it:
 *   a scripted translator on a Unix socket in a temp dir: answers HELLO,
 *     ACKs every reliable frame (unless it plays stalled), reads frames
 *     with frame_parse + msg_dec_*;
 *   the SIP peer: two plain UDP sockets (libre udp_listen) and a TCP
 *     listener on the first one's port; what it receives is parsed with
 *     sip_msg_decode.
 * T1 (sip.t1_ms) is 20 ms, so Timer B/F/H is 1.28 s; the T2 test uses
 * 150 ms to see the T2 cap (libre's SIP_T2, 4 s) before Timer F.
 *
 *   ctrans  the request as built (request line, Via, Content-Length, the
 *           translator's headers), retransmission T1, 2T1.. (non-INVITE
 *           capped at T2, T2 after a 1xx; INVITE uncapped, stopped by a
 *           1xx), Timer B/F -> 408, 1xx and final reporting, page mode,
 *           hop-by-hop ACK and Timer D, next hop (dst, proxy, R-URI, no
 *           route), UDP -> TCP, ACK without a transaction, out id
 *           idempotency;
 *   strans  request reported with a tx, retransmissions absorbed, responses
 *           with the To-tag, Record-Route and the translator's headers, 2xx
 *           to INVITE retransmitted until ACK or "No ACK", a tx not live
 *           (restart) answered from the frame's raw request and src, CANCEL,
 *           tx ids unique across incarnations;
 *   issue 9 ACK subject to sip.trusted and matched by tags, control bytes
 *           and invalid UTF-8 refused 400, 503 only for an unacknowledged
 *           request (its frame's deadline), INVITE ended 64*T1 after its
 *           CANCEL, a request too big for UDP retried over UDP when TCP is
 *           refused, transport errors 503 at once, UDP read to 64 KiB and
 *           413 over the frame limit.
 *
 * Timing: a copy's arrival is never before its due time counted from just
 * before the call that started it. The loop measures its own stalls (a
 * 2 ms ticker; on a loaded machine the process may not run for hundreds of
 * ms): an interval may be up to LATE + stall ms long and SLACK + stall ms
 * short (the previous arrival was late). Where a count depends on when the
 * peer answers, the test counts the copies it had when it answered: one
 * more may have been on its way then, none after that. A series that ends
 * with a timeout is complete: the copy after the last one would have been
 * due after the timeout.
 * Nothing asserts inside a loop callback: callbacks record, the test asserts
 * after re_main returns. Every loop run has a hard timeout.
 * XSGW_TEST_TIMES=1 prints the arrival times; XSGW_TEST_LOG=1 the front's
 * log. Tests marked "Regression" found a bug when they were written.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <re.h>
#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "sip_front.h"
#include "tlink.h"
#include "util.h"

enum {
	MAXREC = 64,    /**< peer messages, translator frames */
	RAW_MAX = 4096, /**< bytes of a raw SIP message kept */
	NTCP = 4,       /**< TCP connections the peer accepts */
	GUARD_MS = 3000,
	T1 = 20,       /**< sip.t1_ms */
	TB = 64 * T1,  /**< Timer B/F, and the 2xx "No ACK" timeout */
	PAGE_MS = 250, /**< sip.message_timeout_ms */
	SLACK = 15,    /**< an interval may look this much short */
	LATE = 50,     /**< a timer may fire this much late, plus stalls */
	TICK = 2,      /**< the loop's ticker */
};

#define PEER_TCP 2 /**< prec.via: 0, 1 a UDP socket; PEER_TCP + i a conn */
#define LOCAL    "127.0.0.1"

/* What the SIP peer received. */
struct prec {
	uint64_t ms;  /**< tmr_jiffies() at arrival */
	unsigned via; /**< UDP peer 0/1, or PEER_TCP + connection */
	struct sip_msg *msg;
};

/* A frame the translator received. */
struct trec {
	uint16_t type;
	uint64_t seq;
	uint64_t ms;
	uint64_t id; /**< out (IN_RESPONSE, OUT_DONE), tx (IN_REQUEST) */
	uint32_t scode;
	char reason[64];
	char src[64];
	char raw[RAW_MAX];
	size_t rawlen; /**< the whole raw's length (raw keeps RAW_MAX-1) */
	uint64_t deadline_ms; /**< IN_REQUEST */
	uint64_t wall;        /**< wall_ms() at arrival */
};

struct tpeer {
	struct tcp_conn *tc;
	struct mbuf *buf;
	unsigned closes;
};

static struct {
	/* the loop */
	struct tmr guard, tick;
	uint64_t last_tick, stall; /**< the longest stall of the loop */
	bool timed_out;
	bool (*done)(void);
	int cb_errs; /**< a callback's send, build or record that failed */

	/* the front */
	char dir[64], path[128];
	struct xsgw_config cfg;
	struct sip_front sf;
	uint64_t tx0; /**< the front's first tx id is tx0 + 1 */

	/* the SIP peer */
	struct udp_sock *us[2];
	struct sa peer[2];
	char ruri[2][64]; /**< sip:bob@127.0.0.1:<peer port> */
	struct tcp_sock *ts;
	struct tpeer tcp[NTCP];
	struct prec recs[MAXREC];
	unsigned nrec, over, bad;
	unsigned pings;         /**< datagrams of 4 bytes or less */
	char last[RAW_MAX];     /**< the last message the peer sent */
	struct cfg_net trusted; /**< sip.trusted: 127.0.0.1/32 */
} T;

/* The nth server transaction id of this incarnation of the front. */
#define TX(n) (T.tx0 + (n))

/* The scripted translator. */
static struct {
	int lfd, fd;
	uint8_t buf[2 * (FRAME_MAX + FRAME_HDR_SIZE)];
	size_t n;
	unsigned accepts, hellos, bad;
	bool noack; /**< a stalled translator: reads, commits nothing */
	uint32_t hproc;
	uint64_t hboot;
	struct trec recs[MAXREC];
	unsigned nrec;
} TR;

static bool verbose;


/* ---- the loop ---- */

static void check_done(void)
{
	if (T.done && T.done())
		re_cancel();
}


static void guard_handler(void *arg)
{
	T.timed_out = true;
	re_cancel();
}


/* Measures stalls (the time between two runs of the loop counts, as the
 * test's own code between run_until calls does); checks done() for state
 * no callback reports (tlink_up, hashes). */
static void tick_handler(void *arg)
{
	uint64_t now = tmr_jiffies();

	if (T.last_tick && now - T.last_tick > TICK + T.stall)
		T.stall = now - T.last_tick - TICK;
	T.last_tick = now;
	tmr_start(&T.tick, TICK, tick_handler, NULL);
	check_done();
}


/* How late a timer may fire, given the stalls seen so far. */
static uint64_t late(void)
{
	return LATE + T.stall;
}


/* Run the loop until done() holds. @return false on the hard timeout */
static bool run_until(bool (*done)(void), uint32_t guard_ms)
{
	int err;

	if (done && done())
		return true;
	T.done = done;
	T.timed_out = false;
	tmr_start(&T.guard, guard_ms, guard_handler, NULL);
	tmr_start(&T.tick, TICK, tick_handler, NULL);
	err = re_main(NULL);
	tmr_cancel(&T.guard);
	tmr_cancel(&T.tick);
	T.done = NULL;
	return !err && !T.timed_out;
}


/* Run the loop for ms, to see that nothing more happens. */
static void settle(uint32_t ms)
{
	(void)run_until(NULL, ms);
}


static void copy_pl(char *dst, size_t sz, const struct pl *pl)
{
	size_t n = pl->l < sz - 1 ? pl->l : sz - 1;

	memcpy(dst, pl->p, n);
	dst[n] = '\0';
}


static void assert_pl(const struct pl *pl, const char *s)
{
	char buf[RAW_MAX];

	copy_pl(buf, sizeof(buf), pl);
	assert_string_equal(buf, s);
}


/* ---- the scripted translator ---- */

static void tr_write(struct fbuf *fb, int err)
{
	if (err || TR.fd < 0 ||
	    send(TR.fd, fb->b, fb->len, MSG_NOSIGNAL) != (ssize_t)fb->len)
		T.cb_errs++;
	fbuf_reset(fb);
}


static void tr_hello(void)
{
	struct m_hello m = {PROC_TRANSLATOR, (uint32_t)getpid(),
			    0x7777777788888888ULL, 0};
	struct fbuf fb = {0};

	tr_write(&fb, msg_enc_hello(&fb, &m));
}


static void tr_ack(uint64_t seq)
{
	struct m_ack m = {.seq = seq};
	struct fbuf fb = {0};

	tr_write(&fb, msg_enc_ack(&fb, &m));
}


/* A frame the translator would send: through the front's tlink. */
static void tr_send_out_request(const struct m_sip_out_request *m)
{
	struct fbuf fb = {0};

	tr_write(&fb, msg_enc_sip_out_request(&fb, m));
}


static int tr_decode(struct frame *fr, struct trec *r)
{
	struct m_sip_in_request rq;
	struct m_sip_in_response rs;
	struct m_out_done d;
	const struct pl *raw = NULL;
	int err;

	switch (fr->type) {
	case MSG_SIP_IN_REQUEST:
		err = msg_dec_sip_in_request(fr, &rq);
		r->id = rq.tx;
		r->deadline_ms = rq.deadline_ms;
		copy_pl(r->src, sizeof(r->src), &rq.src);
		raw = &rq.raw;
		break;
	case MSG_SIP_IN_RESPONSE:
		err = msg_dec_sip_in_response(fr, &rs);
		r->id = rs.out;
		r->scode = rs.scode;
		copy_pl(r->reason, sizeof(r->reason), &rs.reason);
		raw = &rs.raw;
		break;
	case MSG_OUT_DONE:
		err = msg_dec_out_done(fr, &d);
		r->id = d.out;
		r->scode = d.scode;
		copy_pl(r->reason, sizeof(r->reason), &d.reason);
		break;
	default:
		return EBADMSG;
	}
	if (!err && raw) {
		r->rawlen = raw->l;
		copy_pl(r->raw, sizeof(r->raw), raw);
	}
	return err;
}


static void tr_frame(struct frame *fr)
{
	struct m_hello h;
	struct trec *r;

	if (fr->type == MSG_HELLO) {
		if (msg_dec_hello(fr, &h)) {
			TR.bad++;
			return;
		}
		TR.hellos++;
		TR.hproc = h.proc;
		TR.hboot = h.boot;
		tr_hello();
		return;
	}
	if (TR.nrec >= MAXREC) {
		TR.bad++;
		return;
	}
	r = &TR.recs[TR.nrec];
	memset(r, 0, sizeof(*r));
	r->type = fr->type;
	r->seq = fr->seq;
	r->ms = tmr_jiffies();
	r->wall = wall_ms();
	if (tr_decode(fr, r)) {
		TR.bad++;
		return;
	}
	TR.nrec++;
	if (fr->seq && !TR.noack)
		tr_ack(fr->seq);
	if (verbose)
		fprintf(stderr, "  tr  %5llu %s id %llu %u %s rawlen %zu\n",
			(unsigned long long)r->ms % 100000,
			msg_type_name(r->type), (unsigned long long)r->id,
			r->scode, r->reason, r->rawlen);
}


static void tr_recv(int flags, void *arg)
{
	struct frame fr;
	size_t used;
	ssize_t n;
	int err;

	n = recv(TR.fd, TR.buf + TR.n, sizeof(TR.buf) - TR.n, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		fd_close(TR.fd);
		close(TR.fd);
		TR.fd = -1;
		check_done();
		return;
	}
	TR.n += (size_t)n;
	for (;;) {
		err = frame_parse(TR.buf, TR.n, &fr, &used);
		if (err == EAGAIN)
			break;
		if (err) {
			TR.bad++;
			TR.n = 0;
			break;
		}
		tr_frame(&fr);
		memmove(TR.buf, TR.buf + used, TR.n - used);
		TR.n -= used;
	}
	check_done();
}


static void tr_accept(int flags, void *arg)
{
	int fd = accept4(TR.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (TR.fd >= 0) { /* one front at a time */
		fd_close(TR.fd);
		close(TR.fd);
	}
	TR.fd = fd;
	TR.n = 0;
	TR.accepts++;
	if (fd_listen(fd, FD_READ, tr_recv, NULL))
		T.cb_errs++;
}


static unsigned tr_count(uint16_t type, uint64_t id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < TR.nrec; i++)
		n += TR.recs[i].type == type && TR.recs[i].id == id;
	return n;
}


/* The nth (from 0) frame of type for id; the test fails without it. */
static const struct trec *tr_get(uint16_t type, uint64_t id, unsigned nth)
{
	for (unsigned i = 0; i < TR.nrec; i++)
		if (TR.recs[i].type == type && TR.recs[i].id == id && !nth--)
			return &TR.recs[i];
	fail_msg("no frame %s for %llu", msg_type_name(type),
		 (unsigned long long)id);
	return NULL;
}


/* ---- the SIP peer ---- */

static void peer_record(const uint8_t *p, size_t n, unsigned via)
{
	struct mbuf *mb = mbuf_alloc(n + 1);
	struct sip_msg *msg = NULL;

	if (!mb || mbuf_write_mem(mb, p, n)) {
		T.cb_errs++;
		mem_deref(mb);
		return;
	}
	mb->pos = 0;
	if (sip_msg_decode(&msg, mb))
		T.bad++;
	else if (T.nrec >= MAXREC)
		T.over++;
	else {
		T.recs[T.nrec].ms = tmr_jiffies();
		T.recs[T.nrec].via = via;
		T.recs[T.nrec].msg = msg;
		T.nrec++;
		msg = NULL;
		if (verbose)
			fprintf(stderr, "  peer%u %5llu %.*s\n", via,
				(unsigned long long)T.recs[T.nrec - 1].ms %
					100000,
				(int)strcspn((const char *)p, "\r"), p);
	}
	mem_deref(msg);
	mem_deref(mb);
	check_done();
}


static void peer_udp_recv(const struct sa *src, struct mbuf *mb, void *arg)
{
	if (mbuf_get_left(mb) <= 4) { /* a keepalive or ping: not SIP */
		T.pings++;
		return;
	}
	peer_record(mbuf_buf(mb), mbuf_get_left(mb), (unsigned)(uintptr_t)arg);
}


/* A TCP stream cut into messages by Content-Length. */
static void peer_tcp_recv(struct mbuf *mb, void *arg)
{
	struct tpeer *tp = arg;
	const uint8_t *b, *e;
	struct pl cl;
	size_t n, hl, clen;

	if (mbuf_write_mem(tp->buf, mbuf_buf(mb), mbuf_get_left(mb))) {
		T.cb_errs++;
		return;
	}
	for (;;) {
		b = tp->buf->buf;
		n = tp->buf->end;
		e = memmem(b, n, "\r\n\r\n", 4);
		if (!e)
			break;
		hl = (size_t)(e - b) + 4;
		clen = 0;
		if (!re_regex((const char *)b, hl, "Content-Length:[ ]*[0-9]+",
			      NULL, &cl))
			clen = pl_u32(&cl);
		if (n < hl + clen)
			break;
		peer_record(b, hl + clen, PEER_TCP + (unsigned)(tp - T.tcp));
		memmove(tp->buf->buf, b + hl + clen, n - hl - clen);
		tp->buf->end = tp->buf->pos = n - hl - clen;
	}
}


static void peer_tcp_close(int err, void *arg)
{
	((struct tpeer *)arg)->closes++;
}


static void peer_tcp_conn(const struct sa *src, void *arg)
{
	for (unsigned i = 0; i < NTCP; i++) {
		struct tpeer *tp = &T.tcp[i];

		if (tp->tc)
			continue;
		if (!tp->buf)
			tp->buf = mbuf_alloc(8192);
		if (!tp->buf || tcp_accept(&tp->tc, T.ts, NULL, peer_tcp_recv,
					   peer_tcp_close, tp))
			T.cb_errs++;
		return;
	}
	tcp_reject(T.ts);
	T.cb_errs++;
}


/* Send n bytes to the front: from UDP peer via, or on TCP connection
 * via - PEER_TCP. */
static void peer_send_raw(unsigned via, const char *text, size_t n)
{
	struct mbuf *mb = mbuf_alloc(n + 1);
	int err;

	snprintf(T.last, sizeof(T.last), "%s", text);
	if (!mb) {
		T.cb_errs++;
		return;
	}
	err = mbuf_write_mem(mb, (const uint8_t *)text, n);
	mb->pos = 0;
	if (!err && via >= PEER_TCP)
		err = tcp_send(T.tcp[via - PEER_TCP].tc, mb);
	else if (!err)
		err = udp_send(T.us[via], &T.sf.laddr, mb);
	if (err)
		T.cb_errs++;
	mem_deref(mb);
}


static void peer_send_via(unsigned via, const char *text)
{
	peer_send_raw(via, text, strlen(text));
}


/* A response to the request r received, sent back the way it came. */
static void peer_reply(const struct prec *r, uint16_t scode, const char *reason,
		       const char *totag)
{
	const struct sip_msg *m = r->msg;
	char text[RAW_MAX];

	re_snprintf(text, sizeof(text),
		    "SIP/2.0 %u %s\r\n"
		    "Via: %r\r\n"
		    "From: %r\r\n"
		    "To: %r%s%s\r\n"
		    "Call-ID: %r\r\n"
		    "CSeq: %u %r\r\n"
		    "Server: peer\r\n"
		    "Content-Length: 0\r\n\r\n",
		    scode, reason, &sip_msg_hdr(m, SIP_HDR_VIA)->val,
		    &m->from.val, &m->to.val, totag ? ";tag=" : "",
		    totag ? totag : "", &m->callid, m->cseq.num, &m->cseq.met);
	peer_send_via(r->via, text);
}


/* A request as a phone (UDP peer p) sends it to alice via the gateway,
 * with Via sent-by port via_port and rport if rport. */
static void req_text(char *text, size_t sz, unsigned p, const char *met,
		     const char *branch, const char *callid, uint32_t cseq,
		     const char *totag, const char *body, uint16_t via_port,
		     bool rport)
{
	re_snprintf(text, sz,
		    "%s sip:alice@" LOCAL ":%u SIP/2.0\r\n"
		    "Via: SIP/2.0/UDP " LOCAL ":%u;branch=%s%s\r\n"
		    "Record-Route: <sip:rr.example.org;lr>\r\n"
		    "Max-Forwards: 70\r\n"
		    "From: \"Bob\" <sip:bob@example.org>;tag=bobtag\r\n"
		    "To: <sip:alice@localhost>%s%s\r\n"
		    "Call-ID: %s\r\n"
		    "CSeq: %u %s\r\n"
		    "Contact: <sip:bob@" LOCAL ":%u>\r\n"
		    "%s"
		    "Content-Length: %zu\r\n\r\n%s",
		    met, sa_port(&T.sf.laddr), via_port, branch,
		    rport ? ";rport" : "", totag ? ";tag=" : "",
		    totag ? totag : "", callid, cseq, met, sa_port(&T.peer[p]),
		    *body ? "Content-Type: application/sdp\r\n" : "",
		    strlen(body), body);
}


static void peer_request(unsigned p, const char *met, const char *branch,
			 const char *callid, uint32_t cseq, const char *totag,
			 const char *body)
{
	char text[RAW_MAX];

	req_text(text, sizeof(text), p, met, branch, callid, cseq, totag, body,
		 sa_port(&T.peer[p]), true);
	peer_send_via(p, text);
}


static bool rec_match(const struct prec *r, const char *met, const char *branch,
		      uint16_t scode)
{
	const struct sip_msg *m = r->msg;

	if (met && (!m->req || pl_strcmp(&m->met, met)))
		return false;
	if (scode && (m->req || m->scode != scode))
		return false;
	return !branch || !pl_strcmp(&m->via.branch, branch);
}


/* Indices of the peer's records: requests met (NULL: any) or responses
 * scode (0: any), with top Via branch (NULL: any). @return how many */
static unsigned sel(unsigned *idx, const char *met, const char *branch,
		    uint16_t scode)
{
	unsigned n = 0;

	for (unsigned i = 0; i < T.nrec; i++) {
		if (!rec_match(&T.recs[i], met, branch, scode))
			continue;
		if (idx)
			idx[n] = i;
		n++;
	}
	return n;
}


static const struct sip_msg *rmsg(unsigned i)
{
	return T.recs[i].msg;
}


/* The body and the whole message of a record. */
static struct pl rbody(unsigned i)
{
	struct pl pl = PL_INIT;
	const struct mbuf *mb = rmsg(i)->mb;

	pl.p = (const char *)mbuf_buf(mb);
	pl.l = mbuf_get_left(mb);
	return pl;
}


static bool rsame(unsigned a, unsigned b)
{
	const struct mbuf *x = rmsg(a)->mb, *y = rmsg(b)->mb;

	return x->end == y->end && !memcmp(x->buf, y->buf, x->end);
}


static void assert_raw_is(const struct trec *r, const char *text)
{
	assert_int_equal(r->rawlen, strlen(text));
	assert_string_equal(r->raw, text);
}


static void assert_pl_eq(const struct pl *a, const struct pl *b)
{
	char buf[RAW_MAX];

	copy_pl(buf, sizeof(buf), b);
	assert_pl(a, buf);
}


static void assert_hdr(const struct sip_msg *m, const char *name,
		       const char *val)
{
	const struct sip_hdr *h = sip_msg_xhdr(m, name);

	assert_non_null(h);
	assert_pl(&h->val, val);
}


/* The interval after copy k (from 1) of a series: doubling from t1,
 * capped at cap (0: no cap). */
static uint32_t series_iv(uint32_t t1, uint32_t cap, unsigned k)
{
	uint32_t iv = t1;

	while (--k)
		iv = cap && 2 * iv > cap ? cap : 2 * iv;
	return iv;
}


/* Copies idx[0..n-1] of one message, the first sent at t0 (before the
 * call that sent it): all the same, each due T1 * (2^k - 1) after t0
 * (intervals capped at cap). */
static void assert_series(const unsigned *idx, unsigned n, uint64_t t0,
			  uint32_t t1, uint32_t cap)
{
	uint64_t due = 0;

	assert_true(n >= 1);
	assert_true(T.recs[idx[0]].ms >= t0);
	for (unsigned k = 1; k < n; k++) {
		uint64_t at = T.recs[idx[k]].ms;
		uint64_t gap = at - T.recs[idx[k - 1]].ms;
		uint32_t iv = series_iv(t1, cap, k);
		uint64_t short_by = SLACK + T.stall < iv ? SLACK + T.stall : iv;

		due += iv;
		if (verbose)
			fprintf(stderr,
				"  copy %u at %llu (due %llu) gap %llu "
				"(interval %u, stall %llu)\n",
				k, (unsigned long long)(at - t0),
				(unsigned long long)due,
				(unsigned long long)gap, iv,
				(unsigned long long)T.stall);
		assert_true(at >= t0 + due); /* never early */
		assert_in_range(gap, iv - short_by, iv + late());
		assert_true(rsame(idx[0], idx[k]));
	}
}


/* A series that a timeout due at t0 + end ended: none missing at the end
 * (the copy after the last would have been due after the timeout; the
 * retransmission timer fires first when due first, even after a stall). */
static void assert_series_to(const unsigned *idx, unsigned n, uint64_t t0,
			     uint32_t t1, uint32_t cap, uint32_t end)
{
	assert_series(idx, n, t0, t1, cap);
	assert_true(T.recs[idx[n - 1]].ms + series_iv(t1, cap, n) + 1 >=
		    t0 + end);
}


/* A timeout due at t0 + end, seen at ms. */
static void assert_timeout_at(uint64_t ms, uint64_t t0, uint32_t end)
{
	if (verbose)
		fprintf(stderr, "  timeout at %llu (due %u, stall %llu)\n",
			(unsigned long long)(ms - t0), end,
			(unsigned long long)T.stall);
	assert_in_range(ms - t0, end, end + late());
}


/* ---- the front, as sip_front.c sets it up ---- */

/* sip_front_request_handler */
static bool front_request(const struct sip_msg *msg, void *arg)
{
	sf_strans_request(&T.sf, msg);
	return true;
}


static bool front_response(const struct sip_msg *msg, void *arg)
{
	return sf_ctrans_response(&T.sf, msg);
}


static void front_cancel(const struct sip_msg *cancel, void *arg)
{
	if (sf_report_request(&T.sf, cancel, 0, 0))
		T.cb_errs++;
}


/* sip_front_dispatch_translator */
static int front_frame(struct frame *fr, void *arg)
{
	struct m_sip_out_request rq;
	struct m_sip_out_response rs;

	switch (fr->type) {
	case MSG_SIP_OUT_REQUEST:
		if (msg_dec_sip_out_request(fr, &rq))
			return EBADMSG;
		if (sf_ctrans_start(&T.sf, &rq))
			T.cb_errs++;
		return 0;
	case MSG_SIP_OUT_RESPONSE:
		if (msg_dec_sip_out_response(fr, &rs))
			return EBADMSG;
		return sf_strans_respond(&T.sf, &rs);
	default:
		return EBADMSG;
	}
}


static bool link_up(void)
{
	return tlink_up(T.sf.tl);
}


static bool probed(void)
{
	return T.sf.us != NULL;
}


/* The SIP stack on 127.0.0.1, UDP and TCP on one free port. */
static void front_sip(void)
{
	struct sip_front *sf = &T.sf;
	struct sa any;
	int err = EADDRINUSE;

	assert_int_equal(sa_set_str(&any, LOCAL, 0), 0);
	for (int i = 0; i < 20 && err; i++) {
		sf->sip = mem_deref(sf->sip);
		assert_int_equal(sip_alloc(&sf->sip, NULL, 32, 32, 32, "xsgw",
					   NULL, NULL),
				 0);
		assert_int_equal(sip_transp_add(sf->sip, SIP_TRANSP_UDP, &any),
				 0);
		assert_int_equal(sip_transp_laddr(sf->sip, &sf->laddr,
						  SIP_TRANSP_UDP, &any),
				 0);
		err = sip_transp_add(sf->sip, SIP_TRANSP_TCP, &sf->laddr);
	}
	assert_int_equal(err, 0);
}


/* Two UDP peers; a TCP listener on the first one's port. */
static void peers_listen(void)
{
	struct sa any;
	int err = EADDRINUSE;

	assert_int_equal(sa_set_str(&any, LOCAL, 0), 0);
	for (int i = 0; i < 20 && err; i++) {
		T.us[0] = mem_deref(T.us[0]);
		assert_int_equal(
			udp_listen(&T.us[0], &any, peer_udp_recv, (void *)0),
			0);
		assert_int_equal(udp_local_get(T.us[0], &T.peer[0]), 0);
		err = tcp_listen(&T.ts, &T.peer[0], peer_tcp_conn, NULL);
	}
	assert_int_equal(err, 0);
	assert_int_equal(udp_listen(&T.us[1], &any, peer_udp_recv, (void *)1),
			 0);
	assert_int_equal(udp_local_get(T.us[1], &T.peer[1]), 0);
	for (int i = 0; i < 2; i++)
		re_snprintf(T.ruri[i], sizeof(T.ruri[i]), "sip:bob@%J",
			    &T.peer[i]);
}


/* The front as main() builds it, with T1 t1 and the page timeout; the
 * translator link up. */
static void front_up(uint32_t t1, uint32_t page_ms)
{
	struct sip_front *sf = &T.sf;

	T.cfg.sip.t1_ms = t1;
	T.cfg.sip.message_timeout_ms = page_ms;
	T.cfg.sip.transport = SIP_TP_UDP;
	T.cfg.sip.local_host = LOCAL;
	T.cfg.sip.trusted = &T.trusted;
	T.cfg.sip.ntrusted = 1;
	T.cfg.runtime.dir = T.dir;
	memcpy(T.trusted.addr, "\x7f\0\0\x01", 4);
	T.trusted.prefix = 32;
	sf->proc.id = PROC_SIP_FRONT;
	sf->proc.cfg = &T.cfg;
	sf->proc.boot = 0x5157000012345678ULL;
	front_sip();
	snprintf(T.cfg.sip.listen.host, sizeof(T.cfg.sip.listen.host), "%s",
		 LOCAL);
	T.cfg.sip.listen.port = sa_port(&sf->laddr);
	assert_int_equal(sf_strans_init(sf, front_cancel), 0);
	T.tx0 = sf->next_tx; /* random high half: see sf_strans_init */
	assert_int_equal(hash_alloc(&sf->creqs, 256), 0);
	assert_int_equal(hash_alloc(&sf->creq_ids, 256), 0);
	assert_int_equal(hash_alloc(&sf->reach, 64), 0);
	assert_int_equal(
		sip_listen(&sf->lsnr_req, sf->sip, true, front_request, NULL),
		0);
	assert_int_equal(sip_listen(&sf->lsnr_resp, sf->sip, false,
				    front_response, NULL),
			 0);
	assert_int_equal(tlink_alloc(&sf->tl, &sf->proc, front_frame, NULL), 0);
	peers_listen();
	assert_int_equal(sf_strans_probe(sf), 0); /* as main() */
	assert_true(run_until(probed, GUARD_MS));
	assert_true(run_until(link_up, GUARD_MS));
	assert_int_equal(TR.hellos, 1);
	assert_int_equal(TR.hproc, PROC_SIP_FRONT);
	assert_true(TR.hboot == sf->proc.boot);
}


static bool count_apply(struct le *le, void *arg)
{
	++*(unsigned *)arg;
	return false;
}


static unsigned creqs_count(void)
{
	unsigned n = 0;

	hash_apply(T.sf.creqs, count_apply, &n);
	return n;
}


static bool no_creqs(void)
{
	return creqs_count() == 0;
}


static unsigned okx_count(void)
{
	unsigned n = 0;

	hash_apply(T.sf.okx, count_apply, &n);
	return n;
}


static int setup(void **state)
{
	memset(&T, 0, sizeof(T));
	memset(&TR, 0, sizeof(TR));
	TR.lfd = TR.fd = -1;
	strcpy(T.dir, "/tmp/xsgw-siptr-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	assert_int_equal(
		path_join(T.path, sizeof(T.path), T.dir, "translator.sock"), 0);
	assert_int_equal(unix_listen(&TR.lfd, T.path), 0);
	assert_int_equal(fd_listen(TR.lfd, FD_READ, tr_accept, NULL), 0);
	return 0;
}


static int teardown(void **state)
{
	struct sip_front *sf = &T.sf;

	/* a failure never leaves re_main running (nothing asserts inside
	 * it); as main() shuts down */
	re_cancel();
	tmr_cancel(&T.guard);
	tmr_cancel(&T.tick);
	sf_ctrans_flush(sf);
	sf_strans_flush(sf);
	sf->tl = mem_deref(sf->tl);
	sf->lsnr_req = mem_deref(sf->lsnr_req);
	sf->lsnr_resp = mem_deref(sf->lsnr_resp);
	if (sf->sip)
		sip_close(sf->sip, true);
	sf->sip = mem_deref(sf->sip);
	sf->strans = mem_deref(sf->strans);
	sf->creqs = mem_deref(sf->creqs);
	sf->creq_ids = mem_deref(sf->creq_ids);
	sf->okx_ids = mem_deref(sf->okx_ids);
	if (sf->reach)
		sf_reach_flush(sf);
	sf->reach = mem_deref(sf->reach);
	sf->okx = mem_deref(sf->okx);
	for (int i = 0; i < 2; i++)
		T.us[i] = mem_deref(T.us[i]);
	for (int i = 0; i < NTCP; i++) {
		T.tcp[i].tc = mem_deref(T.tcp[i].tc);
		T.tcp[i].buf = mem_deref(T.tcp[i].buf);
	}
	T.ts = mem_deref(T.ts);
	for (unsigned i = 0; i < T.nrec; i++)
		T.recs[i].msg = mem_deref(T.recs[i].msg);
	if (TR.fd >= 0) {
		fd_close(TR.fd);
		close(TR.fd);
	}
	if (TR.lfd >= 0) {
		fd_close(TR.lfd);
		close(TR.lfd);
	}
	unlink(T.path);
	rmdir(T.dir);
	return 0;
}


/* ---- waits (the predicates read W) ---- */

static struct {
	const char *met, *branch;
	uint16_t scode;
	unsigned n;
	uint16_t type;
	uint64_t id;
} W;


static bool peer_has(void)
{
	return sel(NULL, W.met, W.branch, W.scode) >= W.n;
}


static bool tr_has(void)
{
	return tr_count(W.type, W.id) >= W.n;
}


/* Until the peer has n records matching (see sel). */
static bool wait_peer(const char *met, const char *branch, uint16_t scode,
		      unsigned n, uint32_t guard_ms)
{
	W.met = met, W.branch = branch, W.scode = scode, W.n = n;
	return run_until(peer_has, guard_ms);
}


/* Until the translator has n frames of type for id. */
static bool wait_tr(uint16_t type, uint64_t id, unsigned n, uint32_t guard_ms)
{
	W.type = type, W.id = id, W.n = n;
	return run_until(tr_has, guard_ms);
}


/* Until the peer has the nth copy; @return the copies it has (idx) */
static unsigned wait_copies(const char *met, const char *branch, uint16_t scode,
			    unsigned n, unsigned *idx)
{
	assert_true(wait_peer(met, branch, scode, n, GUARD_MS));
	return sel(idx, met, branch, scode);
}


/* ---- what the translator sends ---- */

static char hdrbuf[8][1024];


/* The translator's end-to-end headers of a request (slot: a buffer). */
static const char *req_hdrs(unsigned slot, const char *met, const char *callid,
			    uint32_t cseq, const char *extra)
{
	re_snprintf(hdrbuf[slot], sizeof(hdrbuf[slot]),
		    "Max-Forwards: 70\r\n"
		    "From: <sip:alice@localhost>;tag=atag%u\r\n"
		    "To: <sip:bob@example.org>\r\n"
		    "Call-ID: %s\r\n"
		    "CSeq: %u %s\r\n"
		    "User-Agent: xsgw-test\r\n"
		    "%s",
		    slot, callid, cseq, met, extra ? extra : "");
	return hdrbuf[slot];
}


static struct m_sip_out_request out_req(uint64_t out, const char *met,
					const char *ruri, const char *branch,
					const char *hdrs, const char *body)
{
	struct m_sip_out_request m = {.out = out};

	pl_set_str(&m.method, met);
	pl_set_str(&m.ruri, ruri);
	pl_set_str(&m.dst, "");
	pl_set_str(&m.branch, branch);
	pl_set_str(&m.hdrs, hdrs);
	pl_set_str(&m.body, body);
	return m;
}


static struct m_sip_out_response out_resp(uint64_t out, uint64_t tx,
					  uint64_t totag, uint32_t scode,
					  const char *reason, const char *hdrs,
					  const char *body)
{
	struct m_sip_out_response m = {
		.out = out, .tx = tx, .totag = totag, .scode = scode};

	pl_set_str(&m.src, "");
	pl_set_str(&m.raw, "");
	pl_set_str(&m.reason, reason);
	pl_set_str(&m.hdrs, hdrs);
	pl_set_str(&m.body, body);
	return m;
}


/* ---- client transactions ---- */

static void test_ctrans_non_invite_retransmitted_then_408(void **state)
{
	const char *hdrs = req_hdrs(0, "MESSAGE", "nonInv1@gw", 1,
				    "Content-Type: text/plain\r\n");
	struct m_sip_out_request m =
		out_req(101, "MESSAGE", NULL, "z9hG4bKa1", hdrs, "hello");
	unsigned idx[MAXREC], n;
	const struct sip_msg *r;
	const struct trec *f;
	struct pl rport, body;
	uint64_t t0;
	char via[64];

	front_up(T1, 60000);
	pl_set_str(&m.ruri, T.ruri[0]);
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	/* a re-send of the frame while the transaction runs: no-op */
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	assert_int_equal(creqs_count(), 1);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 101, 1, TB + GUARD_MS));
	settle(3 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* the request as built */
	n = sel(idx, "MESSAGE", "z9hG4bKa1", 0);
	r = rmsg(idx[0]);
	assert_int_equal(T.recs[idx[0]].via, 0);
	assert_pl(&r->ruri, T.ruri[0]);
	assert_pl(&r->ver, "SIP/2.0");
	assert_int_equal(r->via.tp, SIP_TRANSP_UDP);
	re_snprintf(via, sizeof(via), LOCAL ":%u", sa_port(&T.sf.laddr));
	assert_pl(&r->via.sentby, via);
	assert_pl(&r->via.branch, "z9hG4bKa1");
	assert_int_equal(msg_param_exists(&r->via.params, "rport", &rport), 0);
	assert_int_equal(sip_msg_hdr_count(r, SIP_HDR_VIA), 1);
	assert_pl(&r->clen, "5");
	assert_int_equal(sip_msg_hdr_count(r, SIP_HDR_CONTENT_LENGTH), 1);
	assert_pl(&r->callid, "nonInv1@gw");
	assert_int_equal(r->cseq.num, 1);
	assert_pl(&r->cseq.met, "MESSAGE");
	assert_pl(&r->from.val, "<sip:alice@localhost>;tag=atag0");
	assert_pl(&r->to.val, "<sip:bob@example.org>");
	assert_pl(&r->maxfwd, "70");
	assert_hdr(r, "User-Agent", "xsgw-test");
	assert_hdr(r, "Content-Type", "text/plain");
	body = rbody(idx[0]);
	assert_pl(&body, "hello");
	/* T1, 2T1, 4T1... until Timer F (64*T1): due at 0, 20, 60, 140, 300,
	 * 620, 1260 (the last one is lost if the timers drifted by 20 ms) */
	assert_true(n <= 7);
	assert_series_to(idx, n, t0, T1, SIP_T2, TB);
	/* Timer F: one 408 without a response */
	assert_int_equal(TR.nrec, 1);
	f = tr_get(MSG_SIP_IN_RESPONSE, 101, 0);
	assert_int_equal(f->scode, 408);
	assert_string_equal(f->reason, "Request Timeout");
	assert_int_equal(f->rawlen, 0);
	assert_true(f->seq > 0);
	assert_timeout_at(f->ms, t0, TB);
	assert_int_equal(creqs_count(), 0);
	/* done: a re-send of the frame sends nothing, reports nothing */
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	settle(5 * T1);
	assert_int_equal(sel(NULL, NULL, NULL, 0), n);
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(creqs_count(), 0);
}


static void test_ctrans_non_invite_200_stops_retransmission(void **state)
{
	struct m_sip_out_request m =
		out_req(102, "OPTIONS", NULL, "z9hG4bKb1",
			req_hdrs(0, "OPTIONS", "opt1@gw", 7, NULL), "");
	unsigned idx[MAXREC], n_at, n;
	const struct trec *f;
	char sent[RAW_MAX];
	uint64_t t0;

	front_up(T1, 60000);
	pl_set_str(&m.ruri, T.ruri[0]);
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	n_at = wait_copies("OPTIONS", "z9hG4bKb1", 0, 3, idx);
	peer_reply(&T.recs[idx[n_at - 1]], 200, "OK", "peer200");
	strcpy(sent, T.last);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 102, 1, GUARD_MS));
	/* past Timer F: neither a copy nor a 408 */
	settle(TB + 2 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	n = sel(idx, "OPTIONS", "z9hG4bKb1", 0);
	assert_in_range(n, n_at, n_at + 1);
	assert_series(idx, n, t0, T1, SIP_T2);
	assert_pl(&rmsg(idx[0])->clen, "0");
	assert_int_equal(TR.nrec, 1);
	f = tr_get(MSG_SIP_IN_RESPONSE, 102, 0);
	assert_int_equal(f->scode, 200);
	assert_string_equal(f->reason, "OK");
	assert_raw_is(f, sent);
	assert_int_equal(creqs_count(), 0);
	/* a re-send of the frame: nothing */
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	settle(5 * T1);
	assert_int_equal(sel(NULL, NULL, NULL, 0), n);
	assert_int_equal(TR.nrec, 1);
}


static void test_ctrans_invite_1xx_stops_timer_a_then_486_acked(void **state)
{
	char rval[64], route[80], hdrs[2048], sent180[RAW_MAX],
		sent486[RAW_MAX];
	const char *sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
			  "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			  "m=audio 4000 RTP/AVP 0\r\n";
	struct m_sip_out_request m;
	unsigned inv[MAXREC], acks[8], n, n_at;
	const struct sip_msg *a, *r;
	const struct trec *f;
	uint64_t t0, t486;

	front_up(T1, 60000);
	re_snprintf(rval, sizeof(rval), "<sip:%J;lr>", &T.peer[0]);
	snprintf(route, sizeof(route), "Route: %s\r\n", rval);
	snprintf(hdrs, sizeof(hdrs), "%sContact: <sip:alice@" LOCAL ">\r\n%s",
		 req_hdrs(0, "INVITE", "inv1@gw", 1, NULL), route);
	m = out_req(201, "INVITE", T.ruri[0], "z9hG4bKc1", hdrs, sdp);
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	n_at = wait_copies("INVITE", "z9hG4bKc1", 0, 3, inv);
	/* a proxy's 100 stops Timer A and is kept from the translator */
	peer_reply(&T.recs[inv[n_at - 1]], 100, "Trying", NULL);
	peer_reply(&T.recs[inv[n_at - 1]], 180, "Ringing", "callee1");
	strcpy(sent180, T.last);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 201, 1, GUARD_MS));
	/* Timer A stopped; Timer B too: the call may ring for long */
	settle(TB + 5 * T1);
	n = sel(inv, "INVITE", NULL, 0);
	assert_in_range(n, n_at, n_at + 1);
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(creqs_count(), 1);

	t486 = tmr_jiffies();
	peer_reply(&T.recs[inv[0]], 486, "Busy Here", "callee1");
	strcpy(sent486, T.last);
	assert_true(wait_peer("ACK", "z9hG4bKc1", 0, 1, GUARD_MS));
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 201, 2, GUARD_MS));
	/* the 486 again (our ACK was lost): ACKed again, not reported */
	peer_reply(&T.recs[inv[0]], 486, "Busy Here", "callee1");
	assert_true(wait_peer("ACK", "z9hG4bKc1", 0, 2, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_series(inv, n, t0, T1, 0);
	r = rmsg(inv[0]);
	assert_int_equal(pl_u32(&r->clen), strlen(sdp));
	assert_hdr(r, "Route", rval);
	/* reported: the 180, then the 486 once */
	assert_int_equal(TR.nrec, 2);
	f = tr_get(MSG_SIP_IN_RESPONSE, 201, 0);
	assert_int_equal(f->scode, 180);
	assert_string_equal(f->reason, "Ringing");
	assert_raw_is(f, sent180);
	f = tr_get(MSG_SIP_IN_RESPONSE, 201, 1);
	assert_int_equal(f->scode, 486);
	assert_string_equal(f->reason, "Busy Here");
	assert_raw_is(f, sent486);
	/* the hop-by-hop ACK: the INVITE's request line, Via, From, Call-ID,
	 * CSeq number and Route; the response's To */
	assert_int_equal(sel(acks, "ACK", NULL, 0), 2);
	a = rmsg(acks[0]);
	assert_int_equal(T.recs[acks[0]].via, 0);
	assert_pl_eq(&a->ruri, &r->ruri);
	assert_int_equal(sip_msg_hdr_count(a, SIP_HDR_VIA), 1);
	assert_pl_eq(&sip_msg_hdr(a, SIP_HDR_VIA)->val,
		     &sip_msg_hdr(r, SIP_HDR_VIA)->val);
	assert_pl_eq(&a->from.val, &r->from.val);
	assert_pl(&a->to.val, "<sip:bob@example.org>;tag=callee1");
	assert_pl(&a->to.tag, "callee1");
	assert_pl(&a->callid, "inv1@gw");
	assert_int_equal(a->cseq.num, 1);
	assert_pl(&a->cseq.met, "ACK");
	assert_hdr(a, "Route", rval);
	assert_pl(&a->maxfwd, "70");
	assert_pl(&a->clen, "0");
	assert_int_equal(mbuf_get_left(a->mb), 0);
	assert_true(rsame(acks[0], acks[1]));

	/* Timer D (64*T1 here) ends the transaction; a 486 after it is
	 * neither ACKed nor reported */
	assert_int_equal(creqs_count(), 1);
	assert_true(run_until(no_creqs, TB + GUARD_MS));
	assert_timeout_at(tmr_jiffies(), t486, TB);
	n = T.nrec;
	peer_reply(&T.recs[inv[0]], 486, "Busy Here", "callee1");
	settle(5 * T1);
	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(T.nrec, n);
	assert_int_equal(TR.nrec, 2);
}


static void test_ctrans_invite_2xx_ends_it_retransmission_out_0(void **state)
{
	struct m_sip_out_request m;
	unsigned idx[MAXREC], n_at;
	const struct trec *f;
	char sent[RAW_MAX];

	front_up(T1, 60000);
	m = out_req(202, "INVITE", T.ruri[0], "z9hG4bKd1",
		    req_hdrs(0, "INVITE", "inv2@gw", 1, NULL), "");
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	n_at = wait_copies("INVITE", "z9hG4bKd1", 0, 1, idx);
	peer_reply(&T.recs[idx[0]], 200, "OK", "callee2");
	strcpy(sent, T.last);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 202, 1, GUARD_MS));
	assert_int_equal(creqs_count(), 0);
	/* the 200 again: the transaction is over, the translator ACKs it */
	peer_reply(&T.recs[idx[0]], 200, "OK", "callee2");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 0, 1, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* none after the 200; the ACK of a 2xx is not ours */
	assert_in_range(sel(NULL, "INVITE", NULL, 0), n_at, n_at + 1);
	assert_int_equal(sel(NULL, "ACK", NULL, 0), 0);
	assert_int_equal(TR.nrec, 2);
	f = &TR.recs[0];
	assert_int_equal(f->type, MSG_SIP_IN_RESPONSE);
	assert_true(f->id == 202);
	assert_int_equal(f->scode, 200);
	assert_string_equal(f->reason, "OK");
	assert_raw_is(f, sent);
	f = &TR.recs[1];
	assert_int_equal(f->type, MSG_SIP_IN_RESPONSE);
	assert_true(f->id == 0);
	assert_int_equal(f->scode, 200);
	assert_raw_is(f, sent);
}


static void test_ctrans_page_mode_reports_only_the_final(void **state)
{
	struct m_sip_out_request m;
	unsigned idx[MAXREC], n_at;
	const struct trec *f;
	char sent[RAW_MAX];

	front_up(T1, PAGE_MS);
	m = out_req(301, "MESSAGE", T.ruri[0], "z9hG4bKe1",
		    req_hdrs(0, "MESSAGE", "page1@gw", 3,
			     "Content-Type: text/plain\r\n"),
		    "hi");
	m.flags = SIPF_PAGE;
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	n_at = wait_copies("MESSAGE", "z9hG4bKe1", 0, 1, idx);
	peer_reply(&T.recs[idx[0]], 100, "Trying", NULL);
	peer_reply(&T.recs[idx[0]], 180, "Ringing", "pg1");
	settle(5 * T1); /* time enough to have reported them */
	assert_int_equal(TR.nrec, 0);
	peer_reply(&T.recs[idx[0]], 202, "Accepted", "pg1");
	strcpy(sent, T.last);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 301, 1, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* after a 1xx the next copy would be due after T2 */
	assert_in_range(sel(NULL, "MESSAGE", NULL, 0), n_at, n_at + 1);
	assert_int_equal(TR.nrec, 1);
	f = tr_get(MSG_SIP_IN_RESPONSE, 301, 0);
	assert_int_equal(f->scode, 202);
	assert_string_equal(f->reason, "Accepted");
	assert_raw_is(f, sent);
	assert_int_equal(creqs_count(), 0);
}


static bool page_timeouts(void)
{
	return tr_count(MSG_SIP_IN_RESPONSE, 302) &&
	       tr_count(MSG_SIP_IN_RESPONSE, 303);
}


static void test_ctrans_page_mode_times_out_after_message_timeout(void **state)
{
	struct m_sip_out_request m1, m2;
	unsigned idx[MAXREC], n, n_at;
	const struct trec *f;
	uint64_t t0;

	front_up(T1, PAGE_MS);
	/* one answered 100 Trying, one not answered at all */
	m1 = out_req(302, "MESSAGE", T.ruri[0], "z9hG4bKe2",
		     req_hdrs(0, "MESSAGE", "page2@gw", 1, NULL), "a");
	m2 = out_req(303, "MESSAGE", T.ruri[0], "z9hG4bKe3",
		     req_hdrs(1, "MESSAGE", "page3@gw", 1, NULL), "b");
	m1.flags = m2.flags = SIPF_PAGE;
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &m1), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &m2), 0);
	n_at = wait_copies("MESSAGE", "z9hG4bKe2", 0, 1, idx);
	peer_reply(&T.recs[idx[0]], 100, "Trying", NULL);
	assert_true(run_until(page_timeouts, TB + GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(TR.nrec, 2);
	for (uint64_t out = 302; out <= 303; out++) {
		f = tr_get(MSG_SIP_IN_RESPONSE, out, 0);
		assert_int_equal(f->scode, 408);
		assert_string_equal(f->reason, "Request Timeout");
		assert_int_equal(f->rawlen, 0);
		/* message_timeout_ms, not 64*T1 */
		assert_timeout_at(f->ms, t0, PAGE_MS);
	}
	/* the 100 moved the next copy to T2; the other: T1, 2T1, 4T1 (due
	 * at 0, 20, 60, 140; the next at 300 is after the timeout) */
	assert_in_range(sel(NULL, "MESSAGE", "z9hG4bKe2", 0), n_at, n_at + 1);
	n = sel(idx, "MESSAGE", "z9hG4bKe3", 0);
	assert_true(n <= 4);
	assert_series_to(idx, n, t0, T1, SIP_T2, PAGE_MS);
	assert_int_equal(creqs_count(), 0);
}


static void test_ctrans_no_route_503_at_once(void **state)
{
	const char *hdrs = req_hdrs(0, "MESSAGE", "nr1@gw", 1, NULL);
	struct m_sip_out_request m1, m2;
	const struct trec *f;
	uint64_t t0;

	front_up(T1, 60000);
	/* no proxy: the R-URI, a name; or a dst that is one (no resolver
	 * here, T.sf.dns NULL: as a name nothing answers for) */
	m1 = out_req(401, "MESSAGE", "sip:x@host.invalid", "z9hG4bKf1", hdrs,
		     "x");
	m2 = out_req(402, "MESSAGE", T.ruri[0], "z9hG4bKf2", hdrs, "x");
	pl_set_str(&m2.dst, "<sip:gw.invalid;lr>");
	assert_int_equal(tlink_unacked(T.sf.tl), 0);
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &m1), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &m2), 0);
	/* reported from within the call, nothing left running */
	assert_int_equal(tlink_unacked(T.sf.tl), 2);
	assert_int_equal(creqs_count(), 0);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 401, 1, GUARD_MS));
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 402, 1, GUARD_MS));
	/* a re-send of the frame: nothing */
	assert_int_equal(sf_ctrans_start(&T.sf, &m1), 0);
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(T.nrec, 0);
	assert_int_equal(TR.nrec, 2);
	for (uint64_t out = 401; out <= 402; out++) {
		f = tr_get(MSG_SIP_IN_RESPONSE, out, 0);
		assert_int_equal(f->scode, 503);
		assert_string_equal(f->reason, "Next Hop Not Resolved");
		assert_int_equal(f->rawlen, 0);
		assert_true(f->ms - t0 < late());
	}
}


static bool routed_4(void)
{
	return sel(NULL, NULL, "z9hG4bKg1", 0) &&
	       sel(NULL, NULL, "z9hG4bKg2", 0) &&
	       sel(NULL, NULL, "z9hG4bKg3", 0) &&
	       sel(NULL, NULL, "z9hG4bKg4", 0);
}


static void test_ctrans_next_hop_dst_proxy_ruri(void **state)
{
	const char *hdrs = req_hdrs(0, "MESSAGE", "rt1@gw", 1, NULL);
	static const char *br[4] = {"z9hG4bKg1", "z9hG4bKg2", "z9hG4bKg3",
				    "z9hG4bKg4"};
	const char *ruri[4];
	unsigned want[4] = {0, 1, 1, 0}, idx[MAXREC], n;
	struct m_sip_out_request m;
	char dst0[64], dst0plain[64];

	front_up(T1, 60000);
	re_snprintf(dst0, sizeof(dst0), "<sip:%J;lr>", &T.peer[0]);
	re_snprintf(dst0plain, sizeof(dst0plain), "sip:%J", &T.peer[0]);
	snprintf(T.cfg.sip.proxy.host, sizeof(T.cfg.sip.proxy.host), LOCAL);
	T.cfg.sip.proxy.port = sa_port(&T.peer[1]);
	/* dst first, even with a proxy */
	ruri[0] = "sip:bob@host.invalid";
	m = out_req(501, "MESSAGE", ruri[0], br[0], hdrs, "1");
	pl_set_str(&m.dst, dst0);
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	/* no dst: the proxy, whatever the R-URI */
	ruri[1] = T.ruri[0];
	m = out_req(502, "MESSAGE", ruri[1], br[1], hdrs, "2");
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	/* no dst, no proxy: the R-URI */
	T.cfg.sip.proxy.port = 0;
	ruri[2] = T.ruri[1];
	m = out_req(503, "MESSAGE", ruri[2], br[2], hdrs, "3");
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	/* a dst that is a plain URI */
	ruri[3] = T.ruri[1];
	m = out_req(504, "MESSAGE", ruri[3], br[3], hdrs, "4");
	pl_set_str(&m.dst, dst0plain);
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	assert_true(run_until(routed_4, GUARD_MS));

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(TR.nrec, 0);
	for (int i = 0; i < 4; i++) {
		n = sel(idx, "MESSAGE", br[i], 0);
		assert_true(n >= 1);
		for (unsigned k = 0; k < n; k++)
			assert_int_equal(T.recs[idx[k]].via, want[i]);
		assert_pl(&rmsg(idx[0])->ruri, ruri[i]);
	}
}


static void test_ctrans_large_request_over_tcp(void **state)
{
	static char big[1201];
	const char *hdrs = req_hdrs(0, "MESSAGE", "tcp1@gw", 1, NULL);
	struct m_sip_out_request m1, m2;
	unsigned i1[MAXREC], i2[MAXREC];
	const struct sip_msg *r;
	const struct trec *f;
	char via[64], ruri[80], sent[RAW_MAX];
	struct pl body;

	front_up(T1, 60000);
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "begin", 5);
	/* over UDP_MAX with the headers: TCP, though UDP is configured */
	m1 = out_req(601, "MESSAGE", T.ruri[0], "z9hG4bKh1", hdrs, big);
	/* small, but the R-URI asks for TCP */
	re_snprintf(ruri, sizeof(ruri), "%s;transport=tcp", T.ruri[0]);
	m2 = out_req(602, "MESSAGE", ruri, "z9hG4bKh2",
		     req_hdrs(1, "MESSAGE", "tcp2@gw", 1, NULL), "small");
	assert_int_equal(sf_ctrans_start(&T.sf, &m1), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &m2), 0);
	assert_true(wait_peer("MESSAGE", "z9hG4bKh1", 0, 1, GUARD_MS));
	assert_true(wait_peer("MESSAGE", "z9hG4bKh2", 0, 1, GUARD_MS));
	settle(8 * T1); /* no retransmission on TCP */
	assert_int_equal(sel(i1, "MESSAGE", "z9hG4bKh1", 0), 1);
	assert_int_equal(sel(i2, "MESSAGE", "z9hG4bKh2", 0), 1);
	peer_reply(&T.recs[i1[0]], 200, "OK", "tcp");
	strcpy(sent, T.last);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 601, 1, GUARD_MS));

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(T.over, 0);
	re_snprintf(via, sizeof(via), LOCAL ":%u", sa_port(&T.sf.laddr));
	r = rmsg(i1[0]);
	assert_true(T.recs[i1[0]].via >= PEER_TCP);
	assert_int_equal(r->via.tp, SIP_TRANSP_TCP);
	assert_pl(&r->via.sentby, via);
	assert_pl(&r->via.branch, "z9hG4bKh1");
	assert_int_equal(pl_u32(&r->clen), sizeof(big) - 1);
	body = rbody(i1[0]);
	assert_pl(&body, big);
	r = rmsg(i2[0]);
	assert_true(T.recs[i2[0]].via >= PEER_TCP);
	assert_int_equal(r->via.tp, SIP_TRANSP_TCP);
	assert_pl(&r->ruri, ruri);
	assert_int_equal(sel(NULL, NULL, NULL, 0), 2);
	f = tr_get(MSG_SIP_IN_RESPONSE, 601, 0);
	assert_int_equal(f->scode, 200);
	assert_raw_is(f, sent);
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(creqs_count(), 1); /* 602 waits for Timer F */
}


static void test_ctrans_ack_sent_once_without_transaction(void **state)
{
	struct m_sip_out_request m;
	unsigned idx[4];
	const struct sip_msg *a;
	const struct trec *f;

	front_up(T1, 60000);
	m = out_req(701, "ACK", T.ruri[0], "z9hG4bKi1",
		    req_hdrs(0, "ACK", "inv7@gw", 1, NULL), "");
	/* through the link, twice: the translator re-sent the frame */
	tr_send_out_request(&m);
	tr_send_out_request(&m);
	assert_true(wait_tr(MSG_OUT_DONE, 701, 1, GUARD_MS));
	settle(10 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(sel(idx, "ACK", "z9hG4bKi1", 0), 1);
	assert_int_equal(T.nrec, 1);
	a = rmsg(idx[0]);
	assert_pl(&a->ruri, T.ruri[0]);
	assert_pl(&a->cseq.met, "ACK");
	assert_pl(&a->clen, "0");
	assert_int_equal(TR.nrec, 1);
	f = tr_get(MSG_OUT_DONE, 701, 0);
	assert_int_equal(f->scode, 0);
	assert_string_equal(f->reason, "sent");
	assert_int_equal(creqs_count(), 0);
}


/* ---- server transactions ---- */

static const char *const SDP = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\n"
			       "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			       "m=audio 4002 RTP/AVP 0\r\n";


/* The request in a translator frame, decoded. */
static struct sip_msg *raw_decode(const struct trec *f)
{
	struct mbuf *mb = mbuf_alloc(f->rawlen + 1);
	struct sip_msg *msg = NULL;

	assert_non_null(mb);
	assert_int_equal(mbuf_write_mem(mb, (const uint8_t *)f->raw, f->rawlen),
			 0);
	mb->pos = 0;
	assert_int_equal(sip_msg_decode(&msg, mb), 0);
	mem_deref(mb);
	return msg;
}


static void
test_strans_request_reported_then_provisional_and_final(void **state)
{
	const char *h180 = "Contact: <sip:alice@" LOCAL ">\r\nX-Tr: one\r\n";
	struct m_sip_out_response r180, r486;
	unsigned i180[4], i486[4], n;
	const struct sip_msg *r;
	const struct trec *f;
	char sent[RAW_MAX], src[64], rport[32];
	struct pl pl;

	front_up(T1, 60000);
	peer_request(0, "INVITE", "z9hG4bKs1", "s1@peer", 1, NULL, SDP);
	strcpy(sent, T.last);
	peer_send_via(0, sent); /* a retransmission before any answer */
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	settle(5 * T1);
	assert_int_equal(TR.nrec, 1);

	r180 = out_resp(11, TX(1), 0x1234abcd5678ef00ULL, 180, "Ringing", h180,
			"");
	r486 = out_resp(12, TX(1), 0x1234abcd5678ef00ULL, 486, "Busy Here",
			"X-Tr: two\r\n", "");
	assert_int_equal(sf_strans_respond(&T.sf, &r180), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs1", 180, 1, GUARD_MS));
	assert_true(wait_tr(MSG_OUT_DONE, 11, 1, GUARD_MS));
	/* the INVITE again: libre answers it with the 180 again */
	peer_send_via(0, sent);
	assert_true(wait_peer(NULL, "z9hG4bKs1", 180, 2, GUARD_MS));
	assert_int_equal(sf_strans_respond(&T.sf, &r486), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs1", 486, 1, GUARD_MS));
	assert_true(wait_tr(MSG_OUT_DONE, 12, 1, GUARD_MS));
	peer_request(0, "ACK", "z9hG4bKs1", "s1@peer", 1, "1234abcd5678ef00",
		     "");
	/* re-sends of both frames: nothing */
	assert_int_equal(sf_strans_respond(&T.sf, &r180), 0);
	assert_int_equal(sf_strans_respond(&T.sf, &r486), 0);
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* the request: once, with a tx, as received, from where */
	f = &TR.recs[0];
	assert_int_equal(f->type, MSG_SIP_IN_REQUEST);
	assert_true(f->id == TX(1));
	re_snprintf(src, sizeof(src), "udp %J", &T.peer[0]);
	assert_int_equal(strcasecmp(f->src, src), 0); /* "UDP ..." */
	assert_raw_is(f, sent);
	/* the 180 */
	assert_int_equal(sel(i180, NULL, "z9hG4bKs1", 180), 2);
	assert_true(rsame(i180[0], i180[1]));
	r = rmsg(i180[0]);
	assert_int_equal(T.recs[i180[0]].via, 0);
	assert_pl(&r->reason, "Ringing");
	assert_int_equal(msg_param_decode(&r->via.params, "rport", &pl), 0);
	re_snprintf(rport, sizeof(rport), "%u", sa_port(&T.peer[0]));
	assert_pl(&pl, rport);
	assert_pl(&r->to.tag, "1234abcd5678ef00");
	assert_pl(&r->from.val, "\"Bob\" <sip:bob@example.org>;tag=bobtag");
	assert_pl(&r->callid, "s1@peer");
	assert_int_equal(r->cseq.num, 1);
	assert_pl(&r->cseq.met, "INVITE");
	assert_pl(&r->clen, "0");
	assert_hdr(r, "Contact", "<sip:alice@" LOCAL ">");
	assert_hdr(r, "X-Tr", "one");
	assert_hdr(r, "Record-Route", "<sip:rr.example.org;lr>");
	/* the 486: the same To-tag, its own headers, no Record-Route (libre
	 * repeats it after 500 ms until the ACK: twice after a stall) */
	n = sel(i486, NULL, "z9hG4bKs1", 486);
	assert_in_range(n, 1, 2);
	r = rmsg(i486[0]);
	assert_pl(&r->to.tag, "1234abcd5678ef00");
	assert_pl(&r->cseq.met, "INVITE");
	assert_pl(&r->clen, "0");
	assert_hdr(r, "X-Tr", "two");
	assert_int_equal(sip_msg_hdr_count(r, SIP_HDR_RECORD_ROUTE), 0);
	assert_int_equal(sel(NULL, NULL, NULL, 0), 2 + n);
	/* each response reported done; the ACK of the 486 is libre's */
	assert_int_equal(TR.nrec, 3);
	f = tr_get(MSG_OUT_DONE, 11, 0);
	assert_int_equal(f->scode, 180);
	assert_string_equal(f->reason, "Ringing");
	f = tr_get(MSG_OUT_DONE, 12, 0);
	assert_int_equal(f->scode, 486);
	assert_string_equal(f->reason, "Busy Here");
}


/* An INVITE from peer p answered 200 (out) by the translator at t0. */
static void invite_answered(unsigned p, const char *branch, uint64_t out,
			    uint64_t *t0)
{
	struct m_sip_out_response rs;

	peer_request(p, "INVITE", branch, "s2@peer", 1, NULL, SDP);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	rs = out_resp(out, TX(1), 0xabc, 200, "OK",
		      "Contact: <sip:alice@" LOCAL ">\r\n"
		      "Content-Type: application/sdp\r\n",
		      SDP);
	*t0 = tmr_jiffies();
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	/* a re-send of the frame while the 2xx is retransmitted: no-op */
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_int_equal(okx_count(), 1);
}


static void test_strans_2xx_to_invite_retransmitted_until_ack(void **state)
{
	struct m_sip_out_response rs;
	unsigned idx[MAXREC], n_at, n;
	const struct sip_msg *r;
	const struct trec *f;
	struct pl body;
	uint64_t t0;

	front_up(T1, 60000);
	invite_answered(0, "z9hG4bKs2", 21, &t0);
	n_at = wait_copies(NULL, "z9hG4bKs2", 200, 3, idx);
	peer_request(0, "ACK", "z9hG4bKs2ack", "s2@peer", 1, "0000000000000abc",
		     "");
	assert_true(wait_tr(MSG_OUT_DONE, 21, 1, GUARD_MS));
	settle(10 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	n = sel(idx, NULL, "z9hG4bKs2", 200);
	assert_in_range(n, n_at, n_at + 1);
	assert_series(idx, n, t0, T1, SIP_T2);
	r = rmsg(idx[0]);
	assert_pl(&r->to.tag, "0000000000000abc");
	assert_pl(&r->cseq.met, "INVITE");
	assert_hdr(r, "Record-Route", "<sip:rr.example.org;lr>");
	assert_hdr(r, "Contact", "<sip:alice@" LOCAL ">");
	assert_hdr(r, "Content-Type", "application/sdp");
	assert_int_equal(pl_u32(&r->clen), strlen(SDP));
	body = rbody(idx[0]);
	assert_pl(&body, SDP);
	/* the ACK ended it: reported done, not as a request */
	assert_int_equal(TR.nrec, 2);
	f = tr_get(MSG_OUT_DONE, 21, 0);
	assert_int_equal(f->scode, 200);
	assert_string_equal(f->reason, "ACK");
	assert_int_equal(okx_count(), 0);
	/* a re-send of the frame after it is done: nothing */
	rs = out_resp(21, TX(1), 0xabc, 200, "OK", "", SDP);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	settle(5 * T1);
	assert_int_equal(sel(NULL, NULL, NULL, 200), n);
	assert_int_equal(TR.nrec, 2);
}


static void test_strans_2xx_without_ack_408_no_ack(void **state)
{
	unsigned idx[MAXREC], n;
	const struct trec *f;
	uint64_t t0;

	front_up(T1, 60000);
	invite_answered(0, "z9hG4bKs3", 31, &t0);
	assert_true(wait_tr(MSG_OUT_DONE, 31, 1, TB + GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* due at 0, 20, 60, 140, 300, 620, 1260; 64*T1 ends it */
	n = sel(idx, NULL, "z9hG4bKs3", 200);
	assert_true(n <= 7);
	assert_series_to(idx, n, t0, T1, SIP_T2, TB);
	assert_int_equal(TR.nrec, 2);
	f = tr_get(MSG_OUT_DONE, 31, 0);
	assert_int_equal(f->scode, 408);
	assert_string_equal(f->reason, "No ACK");
	assert_timeout_at(f->ms, t0, TB);
	assert_int_equal(okx_count(), 0);
}


static void test_strans_2xx_retransmitted_where_the_first_went(void **state)
{
	struct m_sip_out_response rs;
	char text[RAW_MAX];
	unsigned idx[MAXREC], n;

	/* Regression (found here, fixed): okx_start() takes the destination of
	 * the retransmissions with sip_reply_addr(rport = true): the request's
	 * source, whereas libre sent the first 2xx (sip_treplyf) where RFC
	 * 3261 18.2.2 says: the source address at the Via port when the Via has
	 * no rport. A phone sending from another port than its Via's gets the
	 * first 2xx only; the copies go to its source port. */
	front_up(T1, 60000);
	/* sent from peer 0, Via with peer 1's port and no rport */
	req_text(text, sizeof(text), 0, "INVITE", "z9hG4bKs8", "s8@peer", 1,
		 NULL, SDP, sa_port(&T.peer[1]), false);
	peer_send_via(0, text);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	rs = out_resp(81, TX(1), 0x81, 200, "OK", "", SDP);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs8", 200, 3, GUARD_MS));

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	n = sel(idx, NULL, "z9hG4bKs8", 200);
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(T.recs[idx[k]].via, 1);
}


static void test_strans_tx_not_live_answered_from_raw_request(void **state)
{
	struct m_sip_out_response rs;
	char inv[RAW_MAX], msg[RAW_MAX], src1[64], src0[64];
	unsigned i180[4], i200[MAXREC], im[4];
	const struct sip_msg *r;
	const struct trec *f;

	front_up(T1, 60000);
	/* requests the previous incarnation of the front received: from
	 * peer 0 (its Via), with src saying peer 1 for the INVITE */
	req_text(inv, sizeof(inv), 0, "INVITE", "z9hG4bKs4", "s4@peer", 1, NULL,
		 SDP, sa_port(&T.peer[0]), true);
	req_text(msg, sizeof(msg), 0, "MESSAGE", "z9hG4bKs5", "s5@peer", 9,
		 NULL, "", sa_port(&T.peer[0]), true);
	re_snprintf(src1, sizeof(src1), "udp %J", &T.peer[1]);
	re_snprintf(src0, sizeof(src0), "udp %J", &T.peer[0]);

	rs = out_resp(41, 77, 0xfeed, 180, "Ringing", "X-Tr: r\r\n", "");
	pl_set_str(&rs.src, src1);
	pl_set_str(&rs.raw, inv);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs4", 180, 1, GUARD_MS));
	assert_true(wait_tr(MSG_OUT_DONE, 41, 1, GUARD_MS));
	/* tx 77 is live now: its final without the raw request */
	rs = out_resp(42, 77, 0xfeed, 200, "OK", "", SDP);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs4", 200, 2, GUARD_MS));
	peer_request(1, "ACK", "z9hG4bKs4ack", "s4@peer", 1, "000000000000feed",
		     "");
	assert_true(wait_tr(MSG_OUT_DONE, 42, 1, GUARD_MS));
	/* a final at once, for another request not live */
	rs = out_resp(43, 78, 0x43, 200, "OK", "", "");
	pl_set_str(&rs.src, src0);
	pl_set_str(&rs.raw, msg);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs5", 200, 1, GUARD_MS));
	assert_true(wait_tr(MSG_OUT_DONE, 43, 1, GUARD_MS));
	/* a stored request that does not parse */
	rs = out_resp(44, 79, 0, 200, "OK", "", "");
	pl_set_str(&rs.src, src0);
	pl_set_str(&rs.raw, "garbage\r\n\r\n");
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_tr(MSG_OUT_DONE, 44, 1, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + TR.bad, 0);
	assert_int_equal(sel(i180, NULL, "z9hG4bKs4", 180), 1);
	r = rmsg(i180[0]);
	assert_int_equal(T.recs[i180[0]].via, 1); /* where src says */
	assert_pl(&r->to.tag, "000000000000feed");
	assert_pl(&r->callid, "s4@peer");
	assert_pl(&r->cseq.met, "INVITE");
	assert_hdr(r, "X-Tr", "r");
	assert_hdr(r, "Record-Route", "<sip:rr.example.org;lr>");
	assert_true(sel(i200, NULL, "z9hG4bKs4", 200) >= 2);
	assert_int_equal(T.recs[i200[0]].via, 1);
	assert_pl(&rmsg(i200[0])->to.tag, "000000000000feed");
	f = tr_get(MSG_OUT_DONE, 41, 0);
	assert_int_equal(f->scode, 180);
	f = tr_get(MSG_OUT_DONE, 42, 0);
	assert_int_equal(f->scode, 200);
	assert_string_equal(f->reason, "ACK");
	assert_int_equal(sel(im, NULL, "z9hG4bKs5", 200), 1);
	r = rmsg(im[0]);
	assert_int_equal(T.recs[im[0]].via, 0);
	assert_pl(&r->callid, "s5@peer");
	assert_int_equal(r->cseq.num, 9);
	assert_pl(&r->cseq.met, "MESSAGE");
	f = tr_get(MSG_OUT_DONE, 43, 0);
	assert_int_equal(f->scode, 200);
	assert_string_equal(f->reason, "OK");
	f = tr_get(MSG_OUT_DONE, 44, 0);
	assert_int_equal(f->scode, 500);
	assert_string_equal(f->reason, "Bad stored request");
	assert_int_equal(TR.nrec, 4);
}


static void test_strans_cancel_reported_without_tx(void **state)
{
	struct m_sip_out_response rs;
	unsigned idx[4];
	struct sip_msg *c;
	const struct trec *f;
	char src[64], ruri[64];

	front_up(T1, 60000);
	peer_request(0, "INVITE", "z9hG4bKs6", "s6@peer", 1, NULL, SDP);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	peer_request(0, "CANCEL", "z9hG4bKs6", "s6@peer", 1, NULL, "");
	assert_true(wait_peer(NULL, "z9hG4bKs6", 200, 1, GUARD_MS));
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, 0, 1, GUARD_MS));
	rs = out_resp(61, TX(1), 0x61, 487, "Request Terminated", "", "");
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, "z9hG4bKs6", 487, 1, GUARD_MS));
	assert_true(wait_tr(MSG_OUT_DONE, 61, 1, GUARD_MS));
	peer_request(0, "ACK", "z9hG4bKs6", "s6@peer", 1, "0000000000000061",
		     "");
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* libre answered the CANCEL */
	assert_int_equal(sel(idx, NULL, "z9hG4bKs6", 200), 1);
	assert_pl(&rmsg(idx[0])->cseq.met, "CANCEL");
	/* the translator got the CANCEL of the INVITE (RFC 3261 9.1) */
	f = tr_get(MSG_SIP_IN_REQUEST, 0, 0);
	re_snprintf(src, sizeof(src), "udp %J", &T.peer[0]);
	assert_int_equal(strcasecmp(f->src, src), 0); /* "UDP ..." */
	c = raw_decode(f);
	assert_pl(&c->met, "CANCEL");
	re_snprintf(ruri, sizeof(ruri), "sip:alice@%J", &T.sf.laddr);
	assert_pl(&c->ruri, ruri);
	assert_pl(&c->via.branch, "z9hG4bKs6");
	assert_pl(&c->callid, "s6@peer");
	assert_pl(&c->from.tag, "bobtag");
	assert_pl(&c->to.val, "<sip:alice@localhost>");
	assert_int_equal(c->cseq.num, 1);
	assert_pl(&c->cseq.met, "CANCEL");
	mem_deref(c);
	/* and answered the INVITE */
	assert_in_range(sel(idx, NULL, "z9hG4bKs6", 487), 1, 2);
	assert_pl(&rmsg(idx[0])->cseq.met, "INVITE");
	assert_pl(&rmsg(idx[0])->to.tag, "0000000000000061");
	f = tr_get(MSG_OUT_DONE, 61, 0);
	assert_int_equal(f->scode, 487);
	assert_int_equal(TR.nrec, 3);
}


static void test_strans_tx_of_previous_front_not_a_live_one(void **state)
{
	struct m_sip_out_response rs;
	char inv[RAW_MAX], src[64];
	unsigned idx[4];
	const struct sip_msg *r;

	/* Regression (found here, fixed): tx ids started at 1 in every
	 * incarnation of the front (sf->next_tx is 0 at start), so a response
	 * for a request the previous incarnation received - tx N, its raw
	 * request and src in the frame, as tr_call.c's invite_reply sends it -
	 * goes through the unrelated request that took tx N in this
	 * incarnation: the phone of the old INVITE never gets its 180/200, the
	 * new request gets a response meant for another. */
	front_up(T1, 60000);
	req_text(inv, sizeof(inv), 0, "INVITE", "z9hG4bKold", "old@peer", 1,
		 NULL, SDP, sa_port(&T.peer[0]), true);
	re_snprintf(src, sizeof(src), "udp %J", &T.peer[0]);
	/* after the restart a new request takes this incarnation's first tx */
	peer_request(0, "MESSAGE", "z9hG4bKnew", "new@peer", 1, NULL, "");
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	/* the old INVITE had tx 1 of the previous incarnation */
	rs = out_resp(91, T.tx0 - 0x100000000ULL + 1, 0x91, 180, "Ringing", "",
		      "");
	pl_set_str(&rs.src, src);
	pl_set_str(&rs.raw, inv);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, NULL, 180, 1, GUARD_MS));

	assert_int_equal(sel(idx, NULL, NULL, 180), 1);
	r = rmsg(idx[0]);
	assert_pl(&r->via.branch, "z9hG4bKold");
	assert_pl(&r->callid, "old@peer");
	assert_pl(&r->cseq.met, "INVITE");
}


/* ---- T2 ---- */

enum { T1L = 150, TBL = 64 * T1L };


static bool t2_done(void)
{
	return tr_count(MSG_SIP_IN_RESPONSE, 901) &&
	       tr_count(MSG_SIP_IN_RESPONSE, 902) >= 2 &&
	       tr_count(MSG_SIP_IN_RESPONSE, 903) &&
	       tr_count(MSG_OUT_DONE, 904);
}


static void test_t2_caps_retransmission_intervals(void **state)
{
	struct m_sip_out_request a, c, d;
	struct m_sip_out_response b;
	unsigned idx[MAXREC], n, n_at, k;
	const struct trec *f;
	uint64_t t0, t100;

	/* T1 150 ms: intervals 150, 300, 600, 1200, 2400, then 4000 (T2)
	 * and not 4800, before Timer F at 9600 */
	front_up(T1L, 60000);
	peer_request(0, "INVITE", "z9hG4bKt2b", "t2b@peer", 1, NULL, SDP);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	a = out_req(901, "MESSAGE", T.ruri[0], "z9hG4bKt2a",
		    req_hdrs(0, "MESSAGE", "t2a@gw", 1, NULL), "a");
	c = out_req(902, "OPTIONS", T.ruri[0], "z9hG4bKt2c",
		    req_hdrs(1, "OPTIONS", "t2c@gw", 1, NULL), "");
	d = out_req(903, "INVITE", T.ruri[0], "z9hG4bKt2d",
		    req_hdrs(2, "INVITE", "t2d@gw", 1, NULL), SDP);
	b = out_resp(904, TX(1), 0xb, 200, "OK", "", SDP);
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &a), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &c), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &d), 0);
	assert_int_equal(sf_strans_respond(&T.sf, &b), 0);
	n_at = wait_copies("OPTIONS", "z9hG4bKt2c", 0, 1, idx);
	t100 = tmr_jiffies();
	peer_reply(&T.recs[idx[0]], 100, "Trying", NULL);
	assert_true(run_until(t2_done, TBL + GUARD_MS));
	settle(T1L);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	/* non-INVITE: due at 0, 150, 450, 1050, 2250, 4650, 8650 */
	n = sel(idx, "MESSAGE", "z9hG4bKt2a", 0);
	assert_true(n <= 7);
	assert_series_to(idx, n, t0, T1L, SIP_T2, TBL);
	/* the 2xx to INVITE: the same */
	n = sel(idx, NULL, "z9hG4bKt2b", 200);
	assert_true(n <= 7);
	assert_series_to(idx, n, t0, T1L, SIP_T2, TBL);
	/* INVITE (Timer A): no cap, 4800 after 4650, so the 7th is due at
	 * 9450 (capped it would be at 8650) */
	n = sel(idx, "INVITE", "z9hG4bKt2d", 0);
	assert_true(n <= 7);
	assert_series_to(idx, n, t0, T1L, 0, TBL);
	/* a non-INVITE after a 1xx: every T2 from the 1xx (~4000, ~8000) */
	n = sel(idx, "OPTIONS", "z9hG4bKt2c", 0);
	for (k = 0; k < n && T.recs[idx[k]].ms < t100 + SIP_T2; k++)
		;
	assert_in_range(k, n_at, n_at + 1);
	assert_true(n - k >= 1);
	assert_in_range(T.recs[idx[k]].ms - t100, SIP_T2,
			SIP_T2 + late() + T.stall);
	for (k++; k < n; k++) {
		uint64_t gap = T.recs[idx[k]].ms - T.recs[idx[k - 1]].ms;
		if (verbose)
			fprintf(stderr, "  after 1xx: gap %llu\n",
				(unsigned long long)gap);
		assert_in_range(gap, SIP_T2 - SLACK - T.stall, SIP_T2 + late());
	}
	assert_true(T.recs[idx[n - 1]].ms + SIP_T2 + 1 >= t0 + TBL);
	/* every one ends after 64*T1 */
	f = tr_get(MSG_SIP_IN_RESPONSE, 902, 0);
	assert_int_equal(f->scode, 100);
	for (uint64_t out = 901; out <= 904; out++) {
		f = out == 904 ? tr_get(MSG_OUT_DONE, out, 0)
			       : tr_get(MSG_SIP_IN_RESPONSE, out,
					out == 902 ? 1 : 0);
		assert_int_equal(f->scode, 408);
		assert_timeout_at(f->ms, t0, TBL);
	}
	assert_int_equal(TR.nrec, 6);
}


/* F3: server transaction ids are unique across incarnations of the front.
 * A response the translator owes a request of the previous incarnation
 * (its raw request and source in the frame) reaches that request, never
 * the request of this incarnation that would have taken the same number.
 * (The test above takes the previous incarnation's id as given; this one
 * restarts the transaction layer: with ids counting from 1 in each, both
 * requests had tx 1.) */
static void test_strans_tx_ids_unique_across_incarnations(void **state)
{
	struct sip_front *sf = &T.sf;
	struct m_sip_out_response rs;
	const struct trec *f;
	char raw[RAW_MAX], src[64];
	uint64_t old_tx, new_tx;
	unsigned idx[4];
	const struct sip_msg *r;

	front_up(T1, 60000);
	peer_request(0, "INVITE", "z9hG4bKinc1", "inc1@peer", 1, NULL, SDP);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	f = tr_get(MSG_SIP_IN_REQUEST, TX(1), 0);
	old_tx = f->id;
	assert_true(f->rawlen < sizeof(raw));
	memcpy(raw, f->raw, f->rawlen + 1);
	snprintf(src, sizeof(src), "%s", f->src);

	/* the transaction layer restarts, as in a new process */
	sf_strans_flush(sf);
	sf->strans = mem_deref(sf->strans);
	sf->okx = mem_deref(sf->okx);
	sf->okx_ids = mem_deref(sf->okx_ids);
	assert_int_equal(sf_strans_init(sf, front_cancel), 0);
	assert_int_equal(sf_strans_probe(sf), 0);
	assert_true(run_until(probed, GUARD_MS));
	T.tx0 = sf->next_tx;
	peer_request(1, "INVITE", "z9hG4bKinc2", "inc2@peer", 1, NULL, SDP);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	new_tx = TX(1);
	assert_true(new_tx != old_tx);

	/* the translator answers the old INVITE */
	rs = out_resp(95, old_tx, 0x95, 180, "Ringing", "", "");
	pl_set_str(&rs.src, src);
	pl_set_str(&rs.raw, raw);
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, NULL, 180, 1, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(sel(idx, NULL, NULL, 180), 1);
	r = rmsg(idx[0]);
	assert_int_equal(T.recs[idx[0]].via, 0);
	assert_pl(&r->via.branch, "z9hG4bKinc1");
	assert_pl(&r->callid, "inc1@peer");
	assert_int_equal(sel(NULL, NULL, "z9hG4bKinc2", 0), 0);
}


/* ---- issue 9: hardening ---- */

/* F11: sip.trusted covers ACK; a 2xx is ACKed only within its dialog.
 * Regression: an ACK was matched before the source check, by Call-ID and
 * CSeq only. */
static void test_strans_ack_trusted_and_matched_by_tags(void **state)
{
	unsigned idx[MAXREC], n;
	const struct trec *f;
	uint64_t t0;

	front_up(T1, 60000);
	invite_answered(0, "z9hG4bKa1", 41, &t0);
	wait_copies(NULL, "z9hG4bKa1", 200, 2, idx);
	/* another dialog's ACK (To-tag): not ours, the translator's */
	peer_request(0, "ACK", "z9hG4bKa1x", "s2@peer", 1, "0000000000000bad",
		     "");
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, 0, 1, GUARD_MS));
	/* the right ACK from an untrusted source: dropped */
	memcpy(T.trusted.addr, "\x7f\0\0\x02", 4);
	peer_request(0, "ACK", "z9hG4bKa1y", "s2@peer", 1, "0000000000000abc",
		     "");
	n = sel(NULL, NULL, "z9hG4bKa1", 200);
	assert_true(wait_peer(NULL, "z9hG4bKa1", 200, n + 2, GUARD_MS));
	assert_int_equal(tr_count(MSG_OUT_DONE, 41), 0);
	assert_int_equal(okx_count(), 1);
	/* trusted again: it ends the 2xx */
	memcpy(T.trusted.addr, "\x7f\0\0\x01", 4);
	peer_request(0, "ACK", "z9hG4bKa1z", "s2@peer", 1, "0000000000000abc",
		     "");
	assert_true(wait_tr(MSG_OUT_DONE, 41, 1, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	f = tr_get(MSG_OUT_DONE, 41, 0);
	assert_int_equal(f->scode, 200);
	assert_string_equal(f->reason, "ACK");
	assert_int_equal(tr_count(MSG_SIP_IN_REQUEST, 0), 1);
	f = tr_get(MSG_SIP_IN_REQUEST, 0, 0);
	assert_non_null(strstr(f->raw, "tag=0000000000000bad"));
	assert_int_equal(okx_count(), 0);
}


/* F15: bytes that must never reach the translator (its store keys, its
 * XML) are refused at once with 400 and no frame; UTF-8 and HTAB pass.
 * Regression: a NUL in Call-ID reset the translator link. */
static void test_strans_control_bytes_and_bad_utf8_400(void **state)
{
	static const struct {
		const char *callid, *from, *extra;
		size_t nul_at; /**< 0: none; else a NUL at this offset of
				  the Call-ID */
		bool ok;
	} cases[] = {
		{"c1@peer", "\"Bob\" <sip:bob@example.org>", "", 3, false},
		{"c2@peer", "\"Bob\" <sip:bob@example.org>",
		 "Subject: a\x01z\r\n", 0, false},
		{"c3@peer", "\"B\xff\xfe\" <sip:bob@example.org>", "", 0,
		 false},
		{"c4@peer", "<sip:%01bob@example.org>", "", 0, false},
		{"c5@peer", "<sip:b%C3ob@example.org>", "", 0, false},
		{"c6@peer", "\"Bob\" <sip:bob@example.org>",
		 "Subject: del\x7f\r\n", 0, false},
		{"c7@peer", "\"Zo\xc3\xab\" <sip:zo%C3%AB@example.org>",
		 "Subject: a\tb\r\n", 0, true},
	};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	char text[RAW_MAX], br[32];
	unsigned nok = 0;

	front_up(T1, 60000);
	for (size_t i = 0; i < ncases; i++) {
		int n;

		snprintf(br, sizeof(br), "z9hG4bKb%zu", i);
		n = re_snprintf(
			text, sizeof(text),
			"MESSAGE sip:alice@" LOCAL ":%u SIP/2.0\r\n"
			"Via: SIP/2.0/UDP " LOCAL ":%u;branch=%s;rport\r\n"
			"Max-Forwards: 70\r\n"
			"From: %s;tag=t%zu\r\n"
			"To: <sip:alice@localhost>\r\n"
			"Call-ID: %s\r\n"
			"CSeq: 1 MESSAGE\r\n"
			"%s"
			"Content-Type: text/plain\r\n"
			"Content-Length: 2\r\n\r\nhi",
			sa_port(&T.sf.laddr), sa_port(&T.peer[0]), br,
			cases[i].from, i, cases[i].callid, cases[i].extra);
		assert_true(n > 0);
		if (cases[i].nul_at) {
			char *cid = strstr(text, "Call-ID: ") + 9;
			cid[cases[i].nul_at] = '\0';
		}
		peer_send_raw(0, text, (size_t)n);
		if (cases[i].ok) {
			nok++;
			assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(nok), 1,
					    GUARD_MS));
		} else
			assert_true(wait_peer(NULL, br, 400, 1, GUARD_MS));
	}
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(TR.nrec, nok);
	assert_int_equal(sel(NULL, NULL, NULL, 400), ncases - nok);
	for (size_t i = 0; i < ncases; i++) {
		unsigned idx[4];

		snprintf(br, sizeof(br), "z9hG4bKb%zu", i);
		assert_int_equal(sel(idx, NULL, br, 0), cases[i].ok ? 0 : 1);
	}
}


static bool tr_acked_all(void)
{
	return tlink_unacked(T.sf.tl) == 0;
}


/* F7: after the wait, 503 only for a request whose frame the translator
 * has not acknowledged, and that frame carries the deadline after which a
 * translator must not act on it; an acknowledged request waits for the
 * translator's answer. Regression: 503 after 30 s whatever the translator
 * had done, and the request was applied later anyway. */
static void test_strans_503_only_unacknowledged_with_deadline(void **state)
{
	const uint32_t wait = 300;
	struct m_sip_out_response rs;
	unsigned idx[4];
	const struct sip_msg *r;
	const struct trec *f;
	uint64_t t0, w0;

	front_up(T1, 60000);
	T.sf.strans_timeout_ms = wait;
	/* a stalled translator: it reads the request, commits nothing */
	TR.noack = true;
	w0 = wall_ms();
	t0 = tmr_jiffies();
	peer_request(0, "MESSAGE", "z9hG4bKd1", "d1@peer", 1, NULL, "hi");
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	assert_true(wait_peer(NULL, "z9hG4bKd1", 503, 1, wait + GUARD_MS));
	assert_timeout_at(T.recs[sel(idx, NULL, "z9hG4bKd1", 503) - 1].ms, t0,
			  wait);
	f = tr_get(MSG_SIP_IN_REQUEST, TX(1), 0);
	/* due a sixth of the wait before the 503: a translator applying it
	 * after the 503 finds it passed */
	assert_in_range(f->deadline_ms, w0 + wait - wait / 6,
			f->wall + wait - wait / 6);
	assert_true(f->deadline_ms <= wall_ms());
	r = rmsg(idx[0]);
	assert_hdr(r, "Retry-After", "5");

	/* the translator commits (acknowledges) but has not answered yet */
	TR.noack = false;
	peer_request(0, "MESSAGE", "z9hG4bKd2", "d2@peer", 1, NULL, "hi");
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(2), 1, GUARD_MS));
	assert_true(run_until(tr_acked_all, GUARD_MS));
	settle(wait + late() + 4 * T1);
	assert_int_equal(sel(NULL, NULL, "z9hG4bKd2", 0), 0);
	rs = out_resp(51, TX(2), 0xd2, 202, "Accepted", "", "");
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	assert_true(wait_peer(NULL, "z9hG4bKd2", 202, 1, GUARD_MS));
	/* the translator's own 503 for an expired request after ours: the
	 * transaction is gone, nothing is sent */
	rs = out_resp(0, TX(1), 0, 503, "Service Unavailable", "", "");
	assert_int_equal(sf_strans_respond(&T.sf, &rs), 0);
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(sel(NULL, NULL, "z9hG4bKd1", 0), 1);
	assert_int_equal(sel(NULL, NULL, "z9hG4bKd2", 0), 1);
	f = tr_get(MSG_SIP_IN_REQUEST, TX(2), 0);
	assert_true(f->deadline_ms > f->wall);
}


/* F8: RFC 3261 9.1, an INVITE that had a 1xx and is cancelled ends 64*T1
 * after the CANCEL if no final response comes (487 to the translator).
 * Regression: it lived for ever. */
static void test_ctrans_invite_ends_64t1_after_cancel(void **state)
{
	struct m_sip_out_request inv, can;
	unsigned idx[MAXREC];
	const struct trec *f;
	uint64_t t0;

	front_up(T1, 60000);
	inv = out_req(301, "INVITE", T.ruri[0], "z9hG4bKe1",
		      req_hdrs(0, "INVITE", "e1@gw", 1, NULL), SDP);
	assert_int_equal(sf_ctrans_start(&T.sf, &inv), 0);
	wait_copies("INVITE", "z9hG4bKe1", 0, 1, idx);
	peer_reply(&T.recs[idx[0]], 180, "Ringing", "e1");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 301, 1, GUARD_MS));
	settle(TB / 2); /* Timer B does not run after the 1xx */
	can = out_req(302, "CANCEL", T.ruri[0], "z9hG4bKe1",
		      req_hdrs(0, "CANCEL", "e1@gw", 1, NULL), "");
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &can), 0);
	wait_copies("CANCEL", "z9hG4bKe1", 0, 1, idx);
	peer_reply(&T.recs[idx[0]], 200, "OK", "e1");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 302, 1, GUARD_MS));
	/* no 487 from the callee */
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 301, 2, TB + GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	f = tr_get(MSG_SIP_IN_RESPONSE, 301, 1);
	assert_int_equal(f->scode, 487);
	assert_int_equal(f->rawlen, 0);
	assert_timeout_at(f->ms, t0, TB);
	f = tr_get(MSG_SIP_IN_RESPONSE, 302, 0);
	assert_int_equal(f->scode, 200);
	assert_int_equal(creqs_count(), 0);
}


/* RFC 3261 9.1: a CANCEL is not sent before the INVITE has a provisional
 * response; it goes with the first one (here the second copy of the
 * INVITE is answered 100). An INVITE whose first response is final never
 * has its CANCEL sent (outcome 481, not sent); one that gets nothing ends
 * at Timer B, its held CANCEL with it (408). */
static void test_ctrans_cancel_waits_for_a_provisional(void **state)
{
	struct m_sip_out_request inv, can;
	unsigned idx[MAXREC];
	const struct trec *f;

	front_up(T1, 60000);
	/* (a) held until the 100 */
	inv = out_req(311, "INVITE", T.ruri[0], "z9hG4bKh1",
		      req_hdrs(0, "INVITE", "h1@gw", 1, NULL), SDP);
	can = out_req(312, "CANCEL", T.ruri[0], "z9hG4bKh1",
		      req_hdrs(1, "CANCEL", "h1@gw", 1, NULL), "");
	assert_int_equal(sf_ctrans_start(&T.sf, &inv), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &can), 0);
	wait_copies("INVITE", "z9hG4bKh1", 0, 2, idx); /* T1 went by */
	assert_int_equal(sel(NULL, "CANCEL", "z9hG4bKh1", 0), 0);
	peer_reply(&T.recs[idx[1]], 100, "Trying", NULL);
	wait_copies("CANCEL", "z9hG4bKh1", 0, 1, idx);
	peer_reply(&T.recs[idx[0]], 200, "OK", "h1");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 312, 1, GUARD_MS));
	assert_int_equal(tr_get(MSG_SIP_IN_RESPONSE, 312, 0)->scode, 200);

	/* (b) the INVITE's first response is final: no CANCEL at all */
	inv = out_req(321, "INVITE", T.ruri[0], "z9hG4bKh2",
		      req_hdrs(0, "INVITE", "h2@gw", 1, NULL), SDP);
	can = out_req(322, "CANCEL", T.ruri[0], "z9hG4bKh2",
		      req_hdrs(1, "CANCEL", "h2@gw", 1, NULL), "");
	assert_int_equal(sf_ctrans_start(&T.sf, &inv), 0);
	wait_copies("INVITE", "z9hG4bKh2", 0, 1, idx);
	assert_int_equal(sf_ctrans_start(&T.sf, &can), 0);
	peer_reply(&T.recs[idx[0]], 486, "Busy Here", "h2");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 322, 1, GUARD_MS));
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 321, 1, GUARD_MS));
	f = tr_get(MSG_SIP_IN_RESPONSE, 322, 0);
	assert_int_equal(f->scode, 481);
	assert_int_equal(f->rawlen, 0);
	assert_int_equal(tr_get(MSG_SIP_IN_RESPONSE, 321, 0)->scode, 486);

	/* (c) no response ever: Timer B ends both */
	inv = out_req(331, "INVITE", T.ruri[0], "z9hG4bKh3",
		      req_hdrs(0, "INVITE", "h3@gw", 1, NULL), SDP);
	can = out_req(332, "CANCEL", T.ruri[0], "z9hG4bKh3",
		      req_hdrs(1, "CANCEL", "h3@gw", 1, NULL), "");
	assert_int_equal(sf_ctrans_start(&T.sf, &inv), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &can), 0);
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 332, 1, TB + GUARD_MS));
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 331, 1, GUARD_MS));
	assert_int_equal(tr_get(MSG_SIP_IN_RESPONSE, 331, 0)->scode, 408);
	assert_int_equal(tr_get(MSG_SIP_IN_RESPONSE, 332, 0)->scode, 408);
	settle(5 * T1);

	assert_int_equal(sel(NULL, "CANCEL", "z9hG4bKh2", 0), 0);
	assert_int_equal(sel(NULL, "CANCEL", "z9hG4bKh3", 0), 0);
	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(tr_count(MSG_SIP_IN_RESPONSE, 312), 1);
	assert_int_equal(tr_count(MSG_SIP_IN_RESPONSE, 322), 1);
	assert_int_equal(tr_count(MSG_SIP_IN_RESPONSE, 332), 1);
	/* (a)'s INVITE had no 487: it ended 64*T1 after its CANCEL */
	assert_int_equal(tr_get(MSG_SIP_IN_RESPONSE, 311, 0)->scode, 487);
	assert_int_equal(creqs_count(), 0);
}


/* The SDP of a WebRTC offer: enough to leave UDP_MAX behind. */
static const char *big_body(void)
{
	static char b[3001];

	memset(b, 'a', sizeof(b) - 1);
	memcpy(b, "v=0\r\n", 5);
	return b;
}


/* Issue 9 point 3, RFC 3261 18.1.1: a request on TCP only for its size is
 * retried over UDP when TCP is refused (a UDP-only phone), with its Via
 * naming UDP and UDP retransmissions. Regression: it waited for Timer B. */
static void test_ctrans_big_request_tcp_refused_then_udp(void **state)
{
	struct m_sip_out_request m;
	unsigned idx[MAXREC], n;
	const struct sip_msg *r;
	const struct trec *f;
	uint64_t t0;

	front_up(T1, 60000);
	/* peer 1 has no TCP listener: TCP to it is refused */
	m = out_req(401, "INVITE", T.ruri[1], "z9hG4bKf1",
		    req_hdrs(0, "INVITE", "f1@gw", 1, NULL), big_body());
	t0 = tmr_jiffies();
	assert_int_equal(sf_ctrans_start(&T.sf, &m), 0);
	n = wait_copies("INVITE", "z9hG4bKf1", 0, 3, idx);
	peer_reply(&T.recs[idx[n - 1]], 180, "Ringing", "f1");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 401, 1, GUARD_MS));
	peer_reply(&T.recs[idx[0]], 486, "Busy Here", "f1");
	assert_true(wait_tr(MSG_SIP_IN_RESPONSE, 401, 2, GUARD_MS));

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	assert_int_equal(T.pings, 1); /* is UDP there? (ICMP if not) */
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(T.recs[idx[i]].via, 1);
	r = rmsg(idx[0]);
	assert_int_equal(r->via.tp, SIP_TRANSP_UDP);
	assert_int_equal(pl_u32(&r->clen), strlen(big_body()));
	assert_true(T.recs[idx[0]].ms < t0 + TB / 4);
	assert_true(rsame(idx[0], idx[n - 1]));
	f = tr_get(MSG_SIP_IN_RESPONSE, 401, 1);
	assert_int_equal(f->scode, 486);
}


static bool outcome_402_403_404(void)
{
	return tr_count(MSG_SIP_IN_RESPONSE, 402) &&
	       tr_count(MSG_SIP_IN_RESPONSE, 403) &&
	       tr_count(MSG_SIP_IN_RESPONSE, 404);
}


/* Issue 9 point 3, RFC 3261 8.1.3.1: a transport error is a 503 outcome
 * at once: TCP refused where TCP was asked for, and an ICMP port
 * unreachable for the empty datagram sent from a connected socket with a
 * UDP request (nobody listens): a small one, or the UDP retry of a big
 * one. Regression: 408 at Timer B. */
static void test_ctrans_transport_errors_503_at_once(void **state)
{
	struct m_sip_out_request m1, m2, m3;
	struct udp_sock *gone = NULL;
	char ruri1[80], ruri2[80];
	struct sa any, dead;
	const struct trec *f;
	uint64_t t0;

	front_up(T1, 60000);
	assert_int_equal(sa_set_str(&any, LOCAL, 0), 0);
	assert_int_equal(udp_listen(&gone, &any, NULL, NULL), 0);
	assert_int_equal(udp_local_get(gone, &dead), 0);
	gone = mem_deref(gone); /* a port nobody listens on */
	re_snprintf(ruri1, sizeof(ruri1), "%s;transport=tcp", T.ruri[1]);
	re_snprintf(ruri2, sizeof(ruri2), "sip:bob@%J", &dead);
	m1 = out_req(402, "MESSAGE", ruri1, "z9hG4bKg1",
		     req_hdrs(0, "MESSAGE", "g1@gw", 1, NULL), "small");
	m2 = out_req(403, "INVITE", ruri2, "z9hG4bKg2",
		     req_hdrs(1, "INVITE", "g2@gw", 1, NULL), big_body());
	t0 = tmr_jiffies();
	m3 = out_req(404, "MESSAGE", ruri2, "z9hG4bKg3",
		     req_hdrs(2, "MESSAGE", "g3@gw", 1, NULL), "small");
	assert_int_equal(sf_ctrans_start(&T.sf, &m1), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &m2), 0);
	assert_int_equal(sf_ctrans_start(&T.sf, &m3), 0);
	assert_true(run_until(outcome_402_403_404, TB / 2));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	f = tr_get(MSG_SIP_IN_RESPONSE, 402, 0);
	assert_int_equal(f->scode, 503);
	assert_int_equal(f->rawlen, 0);
	assert_true(f->ms < t0 + TB / 4);
	f = tr_get(MSG_SIP_IN_RESPONSE, 403, 0);
	assert_int_equal(f->scode, 503);
	assert_true(f->ms < t0 + TB / 4);
	f = tr_get(MSG_SIP_IN_RESPONSE, 404, 0);
	assert_int_equal(f->scode, 503);
	assert_true(f->ms < t0 + TB / 4);
	assert_int_equal(TR.nrec, 3);
	assert_int_equal(creqs_count(), 0);
	assert_int_equal(sel(NULL, NULL, NULL, 0), 0);
}


/* A MESSAGE of n bytes in all from UDP peer 0. */
static size_t big_message(char *text, size_t sz, const char *branch, size_t n)
{
	int hl = re_snprintf(text, sz,
			     "MESSAGE sip:alice@" LOCAL ":%u SIP/2.0\r\n"
			     "Via: SIP/2.0/UDP " LOCAL ":%u;branch=%s;rport\r\n"
			     "Max-Forwards: 70\r\n"
			     "From: <sip:bob@example.org>;tag=big\r\n"
			     "To: <sip:alice@localhost>\r\n"
			     "Call-ID: %s@peer\r\n"
			     "CSeq: 1 MESSAGE\r\n"
			     "Content-Type: text/plain\r\n"
			     "Content-Length: %05zu\r\n\r\n",
			     sa_port(&T.sf.laddr), sa_port(&T.peer[0]), branch,
			     branch, (size_t)0);
	char digits[8];
	size_t body;

	assert_true(hl > 0 && (size_t)hl < n && n < sz);
	body = n - (size_t)hl;
	snprintf(digits, sizeof(digits), "%05zu", body);
	memcpy(strstr(text, "Content-Length: ") + 16, digits, 5);
	memset(text + hl, 'm', body);
	text[n] = '\0';
	return n;
}


/* F18: UDP requests are read whole up to 64 KiB (RFC 3261 18.1.1), and
 * one too large for a frame is answered 413. Regression: libre read 8 KiB
 * and answered "400 Content-Length Mismatch". */
static void test_strans_udp_64k_read_whole_or_413(void **state)
{
	static char text[65536];
	size_t n1, n2;
	const struct trec *f;

	front_up(T1, 60000);
	n1 = big_message(text, sizeof(text), "z9hG4bKu1", 20000);
	peer_send_raw(0, text, n1);
	assert_true(wait_tr(MSG_SIP_IN_REQUEST, TX(1), 1, GUARD_MS));
	/* the largest UDP datagram: over the frame limit with its header */
	n2 = big_message(text, sizeof(text), "z9hG4bKu2", 65507);
	peer_send_raw(0, text, n2);
	assert_true(wait_peer(NULL, "z9hG4bKu2", 413, 1, GUARD_MS));
	settle(5 * T1);

	assert_int_equal(T.cb_errs + T.bad + TR.bad, 0);
	f = tr_get(MSG_SIP_IN_REQUEST, TX(1), 0);
	assert_int_equal(f->rawlen, n1);
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(sel(NULL, NULL, "z9hG4bKu1", 0), 0);
}


static int group_setup(void **state)
{
	verbose = getenv("XSGW_TEST_TIMES") != NULL;
	log_setup(getenv("XSGW_TEST_LOG") ? LOG_DEBUG : LOG_ERROR, 0);
	return libre_init();
}


static int group_teardown(void **state)
{
	libre_close();
	return 0;
}


#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T_(test_ctrans_non_invite_retransmitted_then_408),
		T_(test_ctrans_non_invite_200_stops_retransmission),
		T_(test_ctrans_invite_1xx_stops_timer_a_then_486_acked),
		T_(test_ctrans_invite_2xx_ends_it_retransmission_out_0),
		T_(test_ctrans_page_mode_reports_only_the_final),
		T_(test_ctrans_page_mode_times_out_after_message_timeout),
		T_(test_ctrans_no_route_503_at_once),
		T_(test_ctrans_cancel_waits_for_a_provisional),
		T_(test_ctrans_next_hop_dst_proxy_ruri),
		T_(test_ctrans_large_request_over_tcp),
		T_(test_ctrans_ack_sent_once_without_transaction),
		T_(test_strans_request_reported_then_provisional_and_final),
		T_(test_strans_2xx_to_invite_retransmitted_until_ack),
		T_(test_strans_2xx_without_ack_408_no_ack),
		T_(test_strans_2xx_retransmitted_where_the_first_went),
		T_(test_strans_tx_not_live_answered_from_raw_request),
		T_(test_strans_cancel_reported_without_tx),
		T_(test_strans_tx_of_previous_front_not_a_live_one),
		T_(test_t2_caps_retransmission_intervals),
		T_(test_strans_tx_ids_unique_across_incarnations),
		T_(test_strans_ack_trusted_and_matched_by_tags),
		T_(test_strans_control_bytes_and_bad_utf8_400),
		T_(test_strans_503_only_unacknowledged_with_deadline),
		T_(test_ctrans_invite_ends_64t1_after_cancel),
		T_(test_ctrans_big_request_tcp_refused_then_udp),
		T_(test_ctrans_transport_errors_503_at_once),
		T_(test_strans_udp_64k_read_whole_or_413),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
