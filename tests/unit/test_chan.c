/* Inter-process channels, driven by the libre loop over socketpairs and a
 * scripted translator on a Unix socket (no real peers):
 *   chan   frames written in pieces or several per write, every kind of bad
 *          frame closing the channel once, EOF, EPIPE, the queue limit
 *          (refused, drained, then closed: never up with a frame missing),
 *          a receiver pausing and resuming (backpressure);
 *   relq   seqs, cumulative ACKs, replay in order onto a new channel, a
 *          frame a full channel refused replayed after the close;
 *   tlink  HELLO exchange, frames kept while down, replay with the same seq
 *          after a reconnect, backoff, tlink_done;
 *   fds    descriptors riding a frame (SCM_RIGHTS): with its first byte,
 *          exactly once through partial writes, several in a row, the
 *          frames around them intact; untaken ones closed with the channel;
 *          too many closing it; a worker taking over those handed to it
 *          (proc_init, XSGW_FDS).
 * Nothing asserts inside a loop callback: callbacks record, the test asserts
 * after re_main returns. Every loop run has a hard timeout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <cmocka.h>
#include <re.h>
#include "chan.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "tlink.h"

enum { MAXREC = 64, TEXT_MAX = 32, GUARD_MS = 2000, MAXFDS = 16, MAXFDF = 8 };

/* What a receiver saw of one frame. */
struct rec {
	uint16_t type;
	uint64_t seq;
	size_t len;          /**< payload string length */
	char text[TEXT_MAX]; /**< its start, NUL-terminated */
	unsigned conn;       /**< translator side: which accepted connection */
	bool up;             /**< front side: tlink_up() when it arrived */
	size_t unacked;      /**< front side: tlink_unacked() then */
};


/* ---- Wire helpers: the only frame-type-specific code (adapt here) ---- */

/* Any data type will do: a reliable front->translator one, one string. */
#define DATA_TYPE MSG_XMPP_IN


/* Put seq into a finished frame's header (see frame.h). */
static void set_seq(struct fbuf *fb, uint64_t seq)
{
	for (int i = 0; i < 8; i++)
		fb->b[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
}


/* A whole data frame; seq 0 for relq_push / tlink_send_reliable.
 * @return the encoder's result */
static int data_frame(struct fbuf *fb, uint64_t seq, const char *text)
{
	struct m_xmpp_in m = {0};
	int err;

	pl_set_str(&m.xml, text);
	err = msg_enc_xmpp_in(fb, &m);
	if (!err && seq)
		set_seq(fb, seq);
	return err;
}


/* Decode a data frame into r. @return 0 or EBADMSG */
static int data_decode(struct frame *fr, struct rec *r)
{
	struct m_xmpp_in m;
	size_t n;
	int err = msg_dec_xmpp_in(fr, &m);

	if (err)
		return err;
	r->len = m.xml.l;
	n = m.xml.l < TEXT_MAX - 1 ? m.xml.l : TEXT_MAX - 1;
	memcpy(r->text, m.xml.p, n);
	r->text[n] = '\0';
	return 0;
}


/* A data frame whose payload is not what the type says (u32, not str). */
static int bad_payload_frame(struct fbuf *fb)
{
	frame_begin(fb, DATA_TYPE, 1);
	frame_put_u32(fb, 7);
	return frame_finish(fb);
}


/* The frame that carries descriptors: MSG_FD_STORE, nfds n. */
static int fds_frame(struct fbuf *fb, unsigned n)
{
	struct m_fd_store m = {.nfds = n};

	return msg_enc_fd_store(fb, &m);
}


static int fds_decode(struct frame *fr, unsigned *n)
{
	struct m_fd_store m = {0};
	int err = msg_dec_fd_store(fr, &m);

	*n = m.nfds;
	return err;
}


static int ack_send(struct chan *ch, uint64_t seq)
{
	struct m_ack m = {.seq = seq};
	struct fbuf fb = {0};

	return chan_send_msg(ch, &fb, msg_enc_ack(&fb, &m));
}


static int ack_decode(struct frame *fr, uint64_t *seq)
{
	struct m_ack m = {0};
	int err = msg_dec_ack(fr, &m);

	*seq = m.seq;
	return err;
}


static int hello_decode(struct frame *fr, uint32_t *proc, uint32_t *pid,
			uint64_t *boot, uint64_t *acked)
{
	struct m_hello m = {0};
	int err = msg_dec_hello(fr, &m);

	*proc = m.proc, *pid = m.pid, *boot = m.boot, *acked = m.acked;
	return err;
}


/* A raw header (see frame.h), for frames the encoder refuses to build. */
static void raw_header(uint8_t *h, uint16_t ver, uint16_t type, uint32_t len,
		       uint64_t seq)
{
	h[0] = (uint8_t)(ver >> 8), h[1] = (uint8_t)ver;
	h[2] = (uint8_t)(type >> 8), h[3] = (uint8_t)type;
	for (int i = 0; i < 4; i++)
		h[4 + i] = (uint8_t)(len >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
}


/* ---- Test state ---- */

/* One end of a socketpair wrapped in a channel, recording what it sees. */
struct side {
	struct chan *ch;
	struct relq *q; /**< MSG_ACK frames are applied to q */
	struct rec recs[MAXREC];
	unsigned nrec;   /**< data frames (only the first MAXREC kept) */
	unsigned frames; /**< every frame the handler saw */
	unsigned batches, closes;
	int close_err;
	uint64_t last_seq, last_ack;
	unsigned seq_breaks; /**< data frames whose seq is not last + 1 */
	char ev[64];         /**< F frame, B batch, C close, P pause */
	bool deref_on_close;
	unsigned pause_at; /**< pause once before data frame n (1-based) */
	bool paused_once;
	unsigned nrec_at_close;
	int fds[MAXFDS]; /**< taken by MSG_FD_STORE frames, in order */
	unsigned nfds;
	unsigned fdframes;         /**< MSG_FD_STORE frames seen */
	unsigned fd_after[MAXFDF]; /**< data frames before each of them */
	unsigned fd_count[MAXFDF]; /**< the nfds each said */
	unsigned slow_ms; /**< each frame keeps the handler this long */
};

static struct {
	/* the loop */
	struct tmr guard;
	bool timed_out;
	bool (*done)(void);
	int cb_errs; /**< a callback's send or build that failed */

	/* chan / relq tests */
	struct side a, b;
	int raw; /**< the raw (unwrapped) end of a socketpair, or -1 */
	struct relq *q;
	struct tmr drip;
	const uint8_t *drip_p;
	size_t drip_n, drip_i;
	int drip_fd; /**< the channel's end, to see its unread bytes */
	unsigned drip_unread, drip_frames_before_last;

	/* tlink tests */
	char dir[64], path[128];
	struct xsgw_config cfg;
	struct proc front, trproc, wrong;
	struct tlink *tl;
	struct rec frecs[MAXREC]; /**< frames the front's tlink delivered */
	unsigned nfrec;
	void (*front_on_frame)(void);

	/* fds tests: a raw end read one byte per recvmsg */
	bool raw_listening;
	uint8_t *rin;
	size_t rinlen, rincap;
	struct {
		size_t at; /**< offset of the byte they came with */
		unsigned n;
		int fds[FD_STORE_MAX];
	} rfd[MAXFDF];
	unsigned nrfd;
	unsigned rtrunc; /**< reads with MSG_CTRUNC */
} T;

/* The scripted translator. */
static struct {
	int lfd;
	struct chan *ch;
	struct tmr tmr;
	unsigned accepts;
	uint64_t accept_ms[8];
	unsigned hellos;
	uint32_t hproc[8], hpid[8];
	uint64_t hboot[8], hacked[8];
	struct rec recs[MAXREC];
	unsigned nrec;
	unsigned early; /**< data frames before our HELLO on a connection */
	bool replied;   /**< our HELLO sent on this connection */
	unsigned bad;   /**< undecodable frames from the front */
	void (*on_accept)(void);
	void (*on_hello)(void);
	void (*on_data)(void);
	bool hold;        /**< answer CHAN_PAUSE to data frames */
	uint64_t applied; /**< data frames taken in seq order, 1.. */
	unsigned dups, gaps;
} TR;


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


/* Run the loop until done() holds. @return false on the hard timeout */
static bool run_until(bool (*done)(void), uint32_t guard_ms)
{
	int err;

	if (done && done())
		return true;
	T.done = done;
	T.timed_out = false;
	tmr_start(&T.guard, guard_ms, guard_handler, NULL);
	err = re_main(NULL);
	tmr_cancel(&T.guard);
	T.done = NULL;
	return !err && !T.timed_out;
}


/* Run the loop for ms, to see that nothing more happens. */
static void settle(uint32_t ms)
{
	(void)run_until(NULL, ms);
}


static void ev(struct side *s, char c)
{
	size_t n = strlen(s->ev);

	if (n + 1 < sizeof(s->ev))
		s->ev[n] = c;
}


static int side_frame(struct chan *ch, struct frame *fr, void *arg)
{
	struct side *s = arg;
	struct rec r = {.type = fr->type, .seq = fr->seq};
	uint64_t seq = 0;
	int err;

	if (s->pause_at && s->nrec + 1 == s->pause_at && !s->paused_once) {
		s->paused_once = true;
		ev(s, 'P');
		check_done();
		return CHAN_PAUSE;
	}
	s->frames++;
	ev(s, 'F');
	if (s->slow_ms) {
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000 +
			       (t.tv_nsec - t0.tv_nsec) / 1000000 <
		       (long)s->slow_ms);
	}
	if (fr->type == MSG_FD_STORE) {
		unsigned n = 0;
		err = fds_decode(fr, &n);
		if (!err && s->fdframes < MAXFDF) {
			s->fd_after[s->fdframes] = s->nrec;
			s->fd_count[s->fdframes] = n;
		}
		s->fdframes++;
		for (unsigned i = 0; !err && i < n; i++) {
			int fd = chan_fd_take(ch);
			if (fd < 0)
				err = EBADMSG;
			else if (s->nfds < MAXFDS)
				s->fds[s->nfds++] = fd;
			else
				close(fd);
		}
	} else if (fr->type == MSG_ACK) {
		err = ack_decode(fr, &seq);
		if (!err && s->q)
			relq_ack(s->q, seq);
		s->last_ack = seq;
	} else {
		err = data_decode(fr, &r);
		if (!err) {
			if (s->nrec && fr->seq != s->last_seq + 1)
				s->seq_breaks++;
			s->last_seq = fr->seq;
			if (s->nrec < MAXREC)
				s->recs[s->nrec] = r;
			s->nrec++;
		}
	}
	check_done();
	return err;
}


static void side_batch(struct chan *ch, void *arg)
{
	struct side *s = arg;

	s->batches++;
	ev(s, 'B');
	check_done();
}


static void side_close(struct chan *ch, int err, void *arg)
{
	struct side *s = arg;

	s->closes++;
	s->close_err = err;
	s->nrec_at_close = s->nrec;
	ev(s, 'C');
	if (s->deref_on_close)
		s->ch = mem_deref(ch);
	check_done();
}


/* Wrap fd in a recording channel. */
static void side_open(struct side *s, int fd, const char *name)
{
	assert_int_equal(chan_alloc(&s->ch, fd, name, side_frame, side_batch,
				    side_close, s),
			 0);
}


/* A channel on one end of a new socketpair; T.raw is the other end. */
static void pair_raw(struct side *s)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_open(s, sv[0], "a");
	T.raw = sv[1];
}


/* Channels on both ends of a new socketpair. */
static void pair_chans(struct side *a, struct side *b)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_open(a, sv[0], "a");
	side_open(b, sv[1], "b");
}


static void raw_write(const void *p, size_t n)
{
	assert_int_equal(send(T.raw, p, n, MSG_NOSIGNAL), (ssize_t)n);
}


static int send_data(struct chan *ch, uint64_t seq, const char *text)
{
	struct fbuf fb = {0};
	int err = data_frame(&fb, seq, text);

	if (!err)
		err = chan_send(ch, &fb);
	fbuf_reset(&fb);
	return err;
}


static int push_data(struct relq *q, struct chan *ch, const char *text)
{
	struct fbuf fb = {0};
	int err;

	err = data_frame(&fb, 0, text);
	if (!err)
		err = relq_push(q, ch, &fb);
	fbuf_reset(&fb);
	return err;
}


static int setup(void **state)
{
	memset(&T, 0, sizeof(T));
	memset(&TR, 0, sizeof(TR));
	T.raw = -1;
	TR.lfd = -1;
	return 0;
}


static int teardown(void **state)
{
	/* a failure never leaves re_main running (nothing asserts inside
	 * it); this only resets the loop state in case */
	re_cancel();
	tmr_cancel(&T.guard);
	tmr_cancel(&T.drip);
	tmr_cancel(&TR.tmr);
	T.tl = mem_deref(T.tl);
	TR.ch = mem_deref(TR.ch);
	if (TR.lfd >= 0) {
		fd_close(TR.lfd);
		close(TR.lfd);
	}
	T.a.ch = mem_deref(T.a.ch);
	T.b.ch = mem_deref(T.b.ch);
	T.q = mem_deref(T.q);
	if (T.raw_listening)
		fd_close(T.raw);
	if (T.raw >= 0)
		close(T.raw);
	for (unsigned i = 0; i < T.a.nfds; i++)
		close(T.a.fds[i]);
	for (unsigned i = 0; i < T.b.nfds; i++)
		close(T.b.fds[i]);
	for (unsigned i = 0; i < T.nrfd && i < MAXFDF; i++)
		for (unsigned j = 0; j < T.rfd[i].n; j++)
			close(T.rfd[i].fds[j]);
	free(T.rin);
	if (T.dir[0]) {
		unlink(T.path);
		rmdir(T.dir);
	}
	return 0;
}


/* ---- chan ---- */

static bool a_got_frame_and_drip_done(void)
{
	return T.a.nrec >= 1 && T.drip_i == T.drip_n;
}


static void drip_handler(void *arg)
{
	int unread = 0;

	/* the previous piece was read in an earlier loop turn */
	if (ioctl(T.drip_fd, FIONREAD, &unread) == 0 && unread)
		T.drip_unread++;
	if (T.drip_i == T.drip_n - 1)
		T.drip_frames_before_last = T.a.frames;
	if (send(T.raw, T.drip_p + T.drip_i, 1, MSG_NOSIGNAL) != 1)
		T.cb_errs++;
	T.drip_i++;
	if (T.drip_i < T.drip_n)
		tmr_start(&T.drip, 1, drip_handler, NULL);
	check_done();
}


static void test_chan_frame_in_pieces_delivered_whole_once(void **state)
{
	struct fbuf fb = {0};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_open(&T.a, sv[0], "a");
	T.raw = sv[1];
	T.drip_fd = sv[0];
	assert_int_equal(data_frame(&fb, 0x0102030405060708ULL, "in pieces"),
			 0);
	T.drip_p = fb.b;
	T.drip_n = fb.len;
	/* one byte per loop turn (a 1 ms timer always lets the loop poll) */
	tmr_start(&T.drip, 0, drip_handler, NULL);
	assert_true(run_until(a_got_frame_and_drip_done, GUARD_MS));
	settle(20);

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(T.drip_i, fb.len);
	assert_int_equal(T.drip_unread, 0);
	assert_int_equal(T.drip_frames_before_last, 0);
	assert_int_equal(T.a.frames, 1);
	assert_int_equal(T.a.nrec, 1);
	assert_int_equal(T.a.recs[0].type, DATA_TYPE);
	assert_true(T.a.recs[0].seq == 0x0102030405060708ULL);
	assert_int_equal(T.a.recs[0].len, strlen("in pieces"));
	assert_string_equal(T.a.recs[0].text, "in pieces");
	assert_int_equal(T.a.closes, 0);
	fbuf_reset(&fb);
}


static bool a_batched(void)
{
	return T.a.batches >= 1;
}


static void test_chan_frames_in_one_write_then_one_batch(void **state)
{
	const char *texts[3] = {"one", "two", "three"};
	struct fbuf fb = {0};
	uint8_t buf[256];
	size_t n = 0;

	pair_raw(&T.a);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(data_frame(&fb, 10 + i, texts[i]), 0);
		memcpy(buf + n, fb.b, fb.len);
		n += fb.len;
	}
	fbuf_reset(&fb);
	raw_write(buf, n);
	assert_true(run_until(a_batched, GUARD_MS));
	settle(20);

	assert_string_equal(T.a.ev, "FFFB");
	assert_int_equal(T.a.nrec, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.a.recs[i].type, DATA_TYPE);
		assert_int_equal(T.a.recs[i].seq, 10 + i);
		assert_string_equal(T.a.recs[i].text, texts[i]);
	}
	assert_int_equal(T.a.closes, 0);
}


static bool a_got_ten(void)
{
	return T.a.nrec >= 10;
}


static void tick_handler(void *arg)
{
	ev(&T.a, 'T');
	tmr_start(&T.drip, 5, tick_handler, NULL);
}


/* A read's frames that take long to handle leave room for the rest of the
 * loop (here a 5 ms timer; in the gateway the supervisor's heartbeat):
 * the dispatch stops after its turn (CHAN_TURN_MS), commits what it did
 * (the batch) and goes on in the next turn, in order, nothing lost. */
static void test_chan_long_batch_yields_to_the_loop(void **state)
{
	struct fbuf fb = {0};
	uint8_t buf[1024];
	size_t n = 0;
	char text[16];
	const char *p;
	unsigned ticks_between = 0;

	pair_raw(&T.a);
	T.a.slow_ms = 20;
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "f%d", i);
		assert_int_equal(data_frame(&fb, 1 + i, text), 0);
		memcpy(buf + n, fb.b, fb.len);
		n += fb.len;
	}
	fbuf_reset(&fb);
	raw_write(buf, n);
	tmr_start(&T.drip, 5, tick_handler, NULL);
	assert_true(run_until(a_got_ten, GUARD_MS));
	tmr_cancel(&T.drip);
	settle(20);

	assert_int_equal(T.a.nrec, 10);
	assert_int_equal(T.a.seq_breaks, 0);
	assert_string_equal(T.a.recs[9].text, "f9");
	/* frames, then a batch and the timer's turn, then frames again */
	assert_true(T.a.batches >= 3);
	p = strchr(T.a.ev, 'F');
	for (; p && *p; p++)
		if (*p == 'T' && strchr(p, 'F'))
			ticks_between++;
	assert_true(ticks_between >= 2);
	assert_int_equal(T.a.closes, 0);
}


static bool a_closed(void)
{
	return T.a.closes >= 1;
}


/* Write bytes to a fresh channel; it must close once with err. */
static void expect_close(const void *p, size_t n, int err)
{
	pair_raw(&T.a);
	raw_write(p, n);
	assert_true(run_until(a_closed, GUARD_MS));
	settle(20);
	assert_int_equal(T.a.closes, 1);
	assert_int_equal(T.a.close_err, err);
	assert_int_equal(T.a.batches, 0);
	/* closed for good */
	assert_int_equal(send_data(T.a.ch, 1, "late"), EPIPE);
}


static void test_chan_bad_version_closes(void **state)
{
	uint8_t h[FRAME_HDR_SIZE];

	raw_header(h, FRAME_VERSION + 1, DATA_TYPE, 0, 1);
	expect_close(h, sizeof(h), EPROTO);
	assert_int_equal(T.a.frames, 0);
	assert_int_equal(chan_peer_version(T.a.ch), FRAME_VERSION + 1);
	/* the peer is told the version this side speaks: a bare header */
	assert_int_equal(recv(T.raw, h, sizeof(h), MSG_DONTWAIT), sizeof(h));
	assert_int_equal(h[0] << 8 | h[1], FRAME_VERSION);
	assert_int_equal(h[2] << 8 | h[3], MSG_HELLO);
	assert_int_equal(h[4] | h[5] | h[6] | h[7], 0);
}


static void test_chan_unknown_type_closes(void **state)
{
	uint8_t h[FRAME_HDR_SIZE];

	assert_null(msg_type_name(0x7f7f));
	raw_header(h, FRAME_VERSION, 0x7f7f, 0, 1);
	expect_close(h, sizeof(h), EBADMSG);
	assert_int_equal(T.a.frames, 0);
	assert_int_equal(chan_peer_version(T.a.ch), 0);
}


static void test_chan_length_over_max_closes_from_header(void **state)
{
	uint8_t h[FRAME_HDR_SIZE];

	/* refused from the header alone: no payload byte is ever sent */
	raw_header(h, FRAME_VERSION, DATA_TYPE, FRAME_MAX + 1, 1);
	expect_close(h, sizeof(h), EMSGSIZE);
	assert_int_equal(T.a.frames, 0);
}


static void test_chan_bad_payload_closes_after_good_frames(void **state)
{
	struct fbuf fb = {0};
	uint8_t buf[256];
	size_t n;

	/* a good frame, then one the handler refuses, in one write */
	assert_int_equal(data_frame(&fb, 5, "good"), 0);
	memcpy(buf, fb.b, fb.len);
	n = fb.len;
	assert_int_equal(bad_payload_frame(&fb), 0);
	memcpy(buf + n, fb.b, fb.len);
	n += fb.len;
	assert_int_equal(data_frame(&fb, 6, "never"), 0);
	memcpy(buf + n, fb.b, fb.len);
	n += fb.len;
	fbuf_reset(&fb);
	expect_close(buf, n, EBADMSG);
	assert_string_equal(T.a.ev, "FFC");
	assert_int_equal(T.a.nrec, 1);
	assert_int_equal(T.a.recs[0].seq, 5);
	assert_string_equal(T.a.recs[0].text, "good");
}


static void test_chan_eof_closes_and_owner_may_free(void **state)
{
	T.a.deref_on_close = true;
	pair_raw(&T.a);
	assert_int_equal(send_data(T.a.ch, 1, "to a peer that leaves"), 0);
	close(T.raw);
	T.raw = -1;
	assert_true(run_until(a_closed, GUARD_MS));
	settle(20);
	/* the peer had unread bytes: ECONNRESET; without them EOF is 0 */
	assert_int_equal(T.a.closes, 1);
	assert_true(T.a.close_err == ECONNRESET || T.a.close_err == 0);
	assert_null(T.a.ch);
	assert_int_equal(T.a.frames, 0);
}


static void test_chan_clean_eof_is_err_0(void **state)
{
	pair_raw(&T.a);
	close(T.raw);
	T.raw = -1;
	assert_true(run_until(a_closed, GUARD_MS));
	settle(20);
	assert_string_equal(T.a.ev, "C");
	assert_int_equal(T.a.close_err, 0);
}


static void test_chan_eof_inside_a_frame_is_ebadmsg(void **state)
{
	struct fbuf fb = {0};

	pair_raw(&T.a);
	assert_int_equal(data_frame(&fb, 1, "cut short"), 0);
	raw_write(fb.b, fb.len - 3);
	close(T.raw);
	T.raw = -1;
	fbuf_reset(&fb);
	assert_true(run_until(a_closed, GUARD_MS));
	settle(20);
	assert_int_equal(T.a.closes, 1);
	assert_int_equal(T.a.close_err, EBADMSG);
	assert_int_equal(T.a.frames, 0);
}


static void test_chan_send_epipe_when_closed_or_peerless(void **state)
{
	struct fbuf fb = {0};

	assert_int_equal(data_frame(&fb, 1, "x"), 0);
	assert_int_equal(chan_send(NULL, &fb), EPIPE);
	assert_int_equal(ack_send(NULL, 1), EPIPE);

	/* the peer is gone but the channel has not read the EOF yet: the
	 * send is dropped and the error reported by the close handler */
	pair_raw(&T.a);
	close(T.raw);
	T.raw = -1;
	assert_int_equal(chan_send(T.a.ch, &fb), 0);
	assert_int_equal(chan_queued(T.a.ch), 0);
	assert_true(run_until(a_closed, GUARD_MS));
	assert_int_equal(T.a.closes, 1);

	/* closed: refused at once */
	assert_int_equal(chan_send(T.a.ch, &fb), EPIPE);
	assert_int_equal(ack_send(T.a.ch, 1), EPIPE);
	assert_int_equal(chan_queued(T.a.ch), 0);
	settle(20);
	assert_int_equal(T.a.closes, 1);
	fbuf_reset(&fb);
}


static unsigned want_b;


static bool b_has_want(void)
{
	return T.b.nrec >= want_b;
}


static bool a_and_b_closed(void)
{
	return T.a.closes && T.b.closes;
}


/* Fill a channel whose peer does not read with frames of BIG bytes until
 * one is refused. @return the number of frames queued */
enum { BIG = 60000 };

static unsigned fill_until_refused(struct chan *ch, size_t *flenp)
{
	char *big = malloc(BIG + 1);
	struct fbuf fb = {0};
	size_t queued = 0;
	uint64_t seq;
	int err = 0;

	assert_non_null(big);
	memset(big, 'x', BIG);
	big[BIG] = '\0';
	memcpy(big, "seq", 3);
	for (seq = 1; seq < 4096; seq++) {
		assert_int_equal(data_frame(&fb, seq, big), 0);
		*flenp = fb.len;
		queued = chan_queued(ch);
		err = chan_send(ch, &fb);
		if (err)
			break;
	}
	assert_int_equal(err, ENOBUFS);
	/* a refused frame is not queued in part; the limit is not tiny */
	assert_int_equal(chan_queued(ch), queued);
	fbuf_reset(&fb);
	free(big);
	return (unsigned)(seq - 1);
}


static void test_chan_queue_limit_refuses_then_drains_and_closes(void **state)
{
	unsigned n;
	size_t flen = 0;
	int sv[2];

	/* the peer does not read: the queue grows until the limit */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_open(&T.a, sv[0], "a");
	n = fill_until_refused(T.a.ch, &flen);
	assert_true(n * flen >= 32u * 1024 * 1024);
	/* refused from now on, even a small frame: none overtakes the
	 * refused one; the channel stays until what it holds is written */
	assert_int_equal(send_data(T.a.ch, n + 2, "small"), ENOBUFS);
	assert_int_equal(ack_send(T.a.ch, 1), ENOBUFS);
	settle(20);
	assert_int_equal(T.a.closes, 0);

	/* the peer reads: everything queued arrives, in order, whole; then
	 * the channel closes so that both sides replay from the gap */
	want_b = n;
	side_open(&T.b, sv[1], "b");
	assert_true(run_until(a_and_b_closed, 20000));
	assert_int_equal(T.a.closes, 1);
	assert_int_equal(T.a.close_err, ENOBUFS);
	assert_int_equal(T.b.closes, 1);
	assert_int_equal(T.b.close_err, 0);
	assert_int_equal(T.b.nrec_at_close, n);
	assert_int_equal(T.b.nrec, n);
	assert_int_equal(T.b.seq_breaks, 0);
	assert_int_equal(T.b.recs[0].seq, 1);
	assert_true(T.b.last_seq == n);
	assert_int_equal(T.b.recs[0].len, BIG);
	assert_string_equal(T.b.recs[0].text,
			    "seqxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(send_data(T.a.ch, 1, "late"), EPIPE);
}


static bool a_has_5(void)
{
	return T.a.nrec >= 5;
}


/* Frames in one write; the receiver has no room for the second. */
static void test_chan_pause_keeps_the_frame_until_resumed(void **state)
{
	const char *texts[5] = {"one", "two", "three", "four", "five"};
	struct fbuf fb = {0};
	uint8_t buf[512];
	size_t n = 0;
	int sv[2], unread = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_open(&T.a, sv[0], "a");
	T.raw = sv[1];
	T.a.pause_at = 2;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(data_frame(&fb, 1 + i, texts[i]), 0);
		memcpy(buf + n, fb.b, fb.len);
		n += fb.len;
	}
	raw_write(buf, n);
	assert_true(run_until(a_batched, GUARD_MS));
	assert_string_equal(T.a.ev, "FPB");
	assert_true(chan_paused(T.a.ch));

	/* paused: later frames stay in the socket, nothing is dispatched */
	n = 0;
	for (int i = 3; i < 5; i++) {
		assert_int_equal(data_frame(&fb, 1 + i, texts[i]), 0);
		memcpy(buf + n, fb.b, fb.len);
		n += fb.len;
	}
	fbuf_reset(&fb);
	raw_write(buf, n);
	settle(50);
	assert_string_equal(T.a.ev, "FPB");
	assert_int_equal(ioctl(sv[0], FIONREAD, &unread), 0);
	assert_int_equal(unread, (int)n);
	/* it still writes */
	assert_int_equal(send_data(T.a.ch, 9, "out"), 0);

	chan_resume(T.a.ch);
	assert_false(chan_paused(T.a.ch));
	assert_true(run_until(a_has_5, GUARD_MS));
	settle(20);
	assert_int_equal(T.a.nrec, 5);
	assert_int_equal(T.a.seq_breaks, 0);
	for (int i = 0; i < 5; i++)
		assert_string_equal(T.a.recs[i].text, texts[i]);
	assert_int_equal(T.a.closes, 0);
	assert_int_equal(recv(T.raw, buf, sizeof(buf), MSG_DONTWAIT),
			 FRAME_HDR_SIZE + 2 * 9 + 1 + 4 + 3);
}


static void test_chan_paused_then_peer_leaves_close_after_resume(void **state)
{
	pair_raw(&T.a);
	T.a.pause_at = 1;
	{
		struct fbuf fb = {0};
		assert_int_equal(data_frame(&fb, 1, "kept"), 0);
		raw_write(fb.b, fb.len);
		fbuf_reset(&fb);
	}
	assert_true(run_until(a_batched, GUARD_MS));
	close(T.raw);
	T.raw = -1;
	/* not watched while paused with nothing to write: no close yet, and
	 * no busy loop on the hang-up */
	settle(50);
	assert_int_equal(T.a.closes, 0);
	chan_resume(T.a.ch);
	assert_true(run_until(a_closed, GUARD_MS));
	assert_int_equal(T.a.nrec, 1);
	assert_string_equal(T.a.recs[0].text, "kept");
	assert_string_equal(T.a.ev, "PBFBC");
	/* resuming a closed or unpaused channel does nothing */
	chan_resume(T.a.ch);
	chan_resume(NULL);
	settle(20);
	assert_int_equal(T.a.closes, 1);
}


/* Paused with output queued: the peer's hang-up is still reported. */
static void test_chan_paused_with_output_sees_the_hangup(void **state)
{
	struct fbuf fb = {0};
	unsigned n = 0;
	char *big;

	pair_raw(&T.a);
	T.a.pause_at = 1;
	assert_int_equal(data_frame(&fb, 1, "kept"), 0);
	raw_write(fb.b, fb.len);
	fbuf_reset(&fb);
	assert_true(run_until(a_batched, GUARD_MS));
	assert_true(chan_paused(T.a.ch));
	/* the peer reads nothing: the socket buffer fills, then the queue */
	big = calloc(1, BIG + 1);
	assert_non_null(big);
	memset(big, 'q', BIG);
	while (!chan_queued(T.a.ch) && n++ < 64)
		assert_int_equal(send_data(T.a.ch, n, big), 0);
	free(big);
	assert_true(chan_queued(T.a.ch) > 0);
	close(T.raw);
	T.raw = -1;
	assert_true(run_until(a_closed, GUARD_MS));
	assert_int_equal(T.a.closes, 1);
	assert_true(T.a.close_err == EPIPE || T.a.close_err == ECONNRESET);
	assert_int_equal(T.a.nrec, 0);
}


/* ---- descriptors riding frames ---- */

/* Open descriptors (/proc/self/fd, the listing's own left out): a set over
 * 0..FDSET-1. @return how many */
enum { FDSET = 1024 };

static unsigned fds_open(bool *set)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	if (set)
		memset(set, 0, FDSET * sizeof(*set));
	while ((e = readdir(d))) {
		int fd;
		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		if (set && fd < FDSET)
			set[fd] = true;
		n++;
	}
	closedir(d);
	return n;
}


/* n descriptors of n distinct files (memfds) */
static void files_open(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		fds[i] = memfd_create("test_chan", MFD_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
}


static void files_close(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}


static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}


static bool is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}


static bool is_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}


/* Send raw bytes with n descriptors (SCM_RIGHTS) from T.raw. */
static void raw_write_fds(const void *p, size_t len, const int *fds, unsigned n)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int) * 8)];
	} cbuf;
	struct iovec iov = {(void *)p, len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf.b,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *cm;

	assert_true(n >= 1 && n <= 8);
	memset(&cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	assert_int_equal(sendmsg(T.raw, &mh, MSG_NOSIGNAL), (ssize_t)len);
}


/* Read T.raw one byte per recvmsg: which byte each descriptor came with. */
static void raw_byte_reader(int flags, void *arg)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int) * FD_STORE_MAX)];
	} cbuf;

	for (;;) {
		struct iovec iov;
		struct msghdr mh;
		struct cmsghdr *cm;
		ssize_t n;

		if (T.rinlen == T.rincap) {
			size_t cap = T.rincap ? 2 * T.rincap : 65536;
			uint8_t *b = realloc(T.rin, cap);
			if (!b) {
				T.cb_errs++;
				return;
			}
			T.rin = b;
			T.rincap = cap;
		}
		iov.iov_base = T.rin + T.rinlen;
		iov.iov_len = 1;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.b;
		mh.msg_controllen = sizeof(cbuf.b);
		n = recvmsg(T.raw, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		if (mh.msg_flags & MSG_CTRUNC)
			T.rtrunc++;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) /
						sizeof(int));
			if (cm->cmsg_type != SCM_RIGHTS)
				continue;
			if (T.nrfd >= MAXFDF || k > FD_STORE_MAX) {
				T.cb_errs++;
				continue;
			}
			T.rfd[T.nrfd].at = T.rinlen;
			T.rfd[T.nrfd].n = k;
			memcpy(T.rfd[T.nrfd].fds, CMSG_DATA(cm),
			       k * sizeof(int));
			T.nrfd++;
		}
		T.rinlen += (size_t)n;
	}
	check_done();
}


/* What a sender queued: the bytes, and where each fd frame starts. */
struct script {
	uint8_t *b;
	size_t len;
	size_t at[MAXFDF];
	unsigned n[MAXFDF];
	const int *fds[MAXFDF];
	unsigned nfd;
	unsigned ndata;
};


static void script_add(struct script *sc, const struct fbuf *fb)
{
	uint8_t *b = realloc(sc->b, sc->len + fb->len);

	assert_non_null(b);
	memcpy(b + sc->len, fb->b, fb->len);
	sc->b = b;
	sc->len += fb->len;
}


static void script_data(struct script *sc, struct chan *ch, const char *text)
{
	struct fbuf fb = {0};

	assert_int_equal(data_frame(&fb, sc->ndata + sc->nfd + 1, text), 0);
	assert_int_equal(chan_send(ch, &fb), 0);
	script_add(sc, &fb);
	sc->ndata++;
	fbuf_reset(&fb);
}


static void script_fds(struct script *sc, struct chan *ch, const int *fds,
		       unsigned n)
{
	struct fbuf fb = {0};

	assert_true(sc->nfd < MAXFDF);
	assert_int_equal(fds_frame(&fb, n), 0);
	assert_int_equal(chan_send_fds(ch, &fb, fds, n), 0);
	sc->at[sc->nfd] = sc->len;
	sc->n[sc->nfd] = n;
	sc->fds[sc->nfd] = fds;
	sc->nfd++;
	script_add(sc, &fb);
	fbuf_reset(&fb);
}


/* The script behind partial writes: a backlog, fd frames back to back,
 * more backlog, one more, a last small frame. files: 6 descriptors. */
static void script_run(struct script *sc, struct chan *ch, const int *files,
		       char *big)
{
	memset(big, 'b', BIG);
	big[BIG] = '\0';
	script_data(sc, ch, big);
	script_fds(sc, ch, files, 1);
	script_fds(sc, ch, files + 1, 2);
	big[0] = 'c';
	script_data(sc, ch, big);
	big[0] = 'd';
	script_data(sc, ch, big);
	script_fds(sc, ch, files + 3, 3);
	script_data(sc, ch, "end");
}


/* A socketpair whose first end buffers little: writes are partial. */
static void pair_small(int sv[2])
{
	int sz = 4096;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	assert_int_equal(
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), 0);
}


static bool b_has_fds_and_after(void)
{
	return T.b.fdframes >= 1 && T.b.nrec >= 2;
}


static void test_chan_fds_ride_their_frame_between_others(void **state)
{
	int files[2], base;

	files_open(files, 2);
	pair_chans(&T.a, &T.b);
	base = (int)fds_open(NULL);

	assert_int_equal(send_data(T.a.ch, 1, "before"), 0);
	{
		struct fbuf fb = {0};
		assert_int_equal(fds_frame(&fb, 2), 0);
		assert_int_equal(chan_send_fds(T.a.ch, &fb, files, 2), 0);
		fbuf_reset(&fb);
	}
	assert_int_equal(send_data(T.a.ch, 3, "after"), 0);
	assert_true(run_until(b_has_fds_and_after, GUARD_MS));
	settle(20);

	assert_int_equal(T.b.closes, 0);
	assert_int_equal(T.b.frames, 3);
	assert_int_equal(T.b.nrec, 2);
	assert_string_equal(T.b.recs[0].text, "before");
	assert_string_equal(T.b.recs[1].text, "after");
	assert_int_equal(T.b.recs[1].seq, 3);
	assert_int_equal(T.b.fdframes, 1);
	assert_int_equal(T.b.fd_after[0], 1);
	assert_int_equal(T.b.nfds, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_true(same_file(T.b.fds[i], files[i]));
		assert_int_not_equal(T.b.fds[i], files[i]);
		assert_true(is_cloexec(T.b.fds[i]));
		/* the sender keeps its own */
		assert_false(is_closed(files[i]));
	}
	assert_int_equal(chan_fd_take(T.b.ch), -1);
	/* the sender's duplicates are closed once sent: only the two the
	 * receiver took are new */
	assert_int_equal((int)fds_open(NULL), base + 2);
	files_close(files, 2);
}


static bool raw_has_all(void)
{
	return T.rinlen >= want_b;
}


/* Bytes read one by one: each fd frame's descriptors come with its first
 * byte, once, however the writes were cut. */
static void test_chan_fds_arrive_with_the_frames_first_byte(void **state)
{
	struct script sc = {0};
	int files[6], sv[2], base;
	char *big = malloc(BIG + 1);

	assert_non_null(big);
	files_open(files, 6);
	pair_small(sv);
	side_open(&T.a, sv[0], "a");
	T.raw = sv[1];
	base = (int)fds_open(NULL);

	script_run(&sc, T.a.ch, files, big);
	/* partial writes: most of it is still queued, with descriptors */
	assert_true(chan_queued(T.a.ch) > BIG);
	assert_true((int)fds_open(NULL) > base);

	want_b = (unsigned)sc.len;
	assert_int_equal(fd_listen(T.raw, FD_READ, raw_byte_reader, NULL), 0);
	T.raw_listening = true;
	assert_true(run_until(raw_has_all, 10000));
	settle(20);
	raw_byte_reader(FD_READ, NULL);

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(T.rtrunc, 0);
	assert_int_equal(T.rinlen, sc.len);
	assert_memory_equal(T.rin, sc.b, sc.len);
	assert_int_equal(T.nrfd, sc.nfd);
	for (unsigned i = 0; i < sc.nfd; i++) {
		assert_int_equal(T.rfd[i].at, sc.at[i]);
		assert_int_equal(T.rfd[i].n, sc.n[i]);
		for (unsigned j = 0; j < sc.n[i]; j++)
			assert_true(same_file(T.rfd[i].fds[j], sc.fds[i][j]));
	}
	assert_int_equal(chan_queued(T.a.ch), 0);
	/* exactly once: the six received, the duplicates all closed */
	assert_int_equal((int)fds_open(NULL), base + 6);
	files_close(files, 6);
	free(sc.b);
	free(big);
}


static bool b_has_script(void)
{
	return T.b.nrec >= 4 && T.b.fdframes >= 3;
}


/* The same through a receiving channel: its reads are cut too. */
static void test_chan_fds_exactly_once_through_partial_writes(void **state)
{
	struct script sc = {0};
	int files[6], sv[2], base;
	char *big = malloc(BIG + 1);

	assert_non_null(big);
	files_open(files, 6);
	pair_small(sv);
	side_open(&T.a, sv[0], "a");
	side_open(&T.b, sv[1], "b");
	base = (int)fds_open(NULL);

	script_run(&sc, T.a.ch, files, big);
	assert_true(chan_queued(T.a.ch) > BIG);
	assert_true(run_until(b_has_script, 10000));
	settle(20);

	assert_int_equal(T.a.closes + T.b.closes, 0);
	assert_int_equal(T.b.nrec, 4);
	assert_int_equal(T.b.recs[0].seq, 1);
	assert_int_equal(T.b.recs[1].seq, 4);
	assert_int_equal(T.b.recs[2].seq, 5);
	assert_int_equal(T.b.recs[3].seq, 7);
	assert_int_equal(T.b.recs[0].len, BIG);
	assert_int_equal(T.b.recs[0].text[0], 'b');
	assert_int_equal(T.b.recs[1].text[0], 'c');
	assert_int_equal(T.b.recs[2].text[0], 'd');
	assert_string_equal(T.b.recs[3].text, "end");
	assert_int_equal(T.b.fdframes, 3);
	assert_int_equal(T.b.fd_after[0], 1);
	assert_int_equal(T.b.fd_after[1], 1);
	assert_int_equal(T.b.fd_after[2], 3);
	assert_int_equal(T.b.fd_count[0], 1);
	assert_int_equal(T.b.fd_count[1], 2);
	assert_int_equal(T.b.fd_count[2], 3);
	assert_int_equal(T.b.nfds, 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_true(same_file(T.b.fds[i], files[i]));
		assert_true(is_cloexec(T.b.fds[i]));
	}
	assert_int_equal(chan_fd_take(T.b.ch), -1);
	assert_int_equal((int)fds_open(NULL), base + 6);
	files_close(files, 6);
	free(sc.b);
	free(big);
}


static bool a_has_1(void)
{
	return T.a.nrec >= 1;
}


/* The descriptors new since before. @return how many (at most max) */
static unsigned fds_new(const bool *before, int *fds, unsigned max)
{
	bool now[FDSET];
	unsigned n = 0;

	fds_open(now);
	for (int fd = 0; fd < FDSET; fd++)
		if (now[fd] && !before[fd] && n < max)
			fds[n++] = fd;
	return n;
}


static void test_chan_untaken_fds_closed_with_the_channel(void **state)
{
	bool before[FDSET];
	struct fbuf fb = {0};
	int files[2], got[4];

	files_open(files, 2);
	assert_int_equal(data_frame(&fb, 1, "not claimed"), 0);

	/* freed while up */
	pair_raw(&T.a);
	fds_open(before);
	raw_write_fds(fb.b, fb.len, files, 2);
	assert_true(run_until(a_has_1, GUARD_MS));
	assert_int_equal(T.a.closes, 0);
	assert_int_equal(fds_new(before, got, 4), 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_true(same_file(got[i], files[0]) ||
			    same_file(got[i], files[1]));
		assert_true(is_cloexec(got[i]));
	}
	T.a.ch = mem_deref(T.a.ch);
	assert_true(is_closed(got[0]));
	assert_true(is_closed(got[1]));
	close(T.raw);
	T.raw = -1;
	memset(&T.a, 0, sizeof(T.a));

	/* closed by the peer's EOF: closed then, before any free */
	pair_raw(&T.a);
	fds_open(before);
	raw_write_fds(fb.b, fb.len, files, 2);
	close(T.raw);
	T.raw = -1;
	assert_true(run_until(a_closed, GUARD_MS));
	assert_int_equal(T.a.nrec, 1);
	assert_int_equal(T.a.close_err, 0);
	assert_int_equal(fds_new(before, got, 4), 0);
	assert_int_equal(chan_fd_take(T.a.ch), -1);

	assert_false(is_closed(files[0]));
	files_close(files, 2);
	fbuf_reset(&fb);
}


static void test_chan_fds_beyond_the_bound_close_the_channel(void **state)
{
	bool before[FDSET];
	struct fbuf fb = {0};
	int files[5], got[8];

	files_open(files, 5);
	assert_int_equal(data_frame(&fb, 1, "x"), 0);

	/* more in one frame than fit (MSG_CTRUNC): closed, nothing kept,
	 * the frame not dispatched */
	pair_raw(&T.a);
	fds_open(before);
	raw_write_fds(fb.b, fb.len, files, FD_STORE_MAX + 1);
	assert_true(run_until(a_closed, GUARD_MS));
	assert_int_equal(T.a.close_err, EBADMSG);
	assert_int_equal(T.a.frames, 0);
	assert_int_equal(fds_new(before, got, 8), 0);
	T.a.ch = mem_deref(T.a.ch);
	close(T.raw);
	T.raw = -1;
	memset(&T.a, 0, sizeof(T.a));

	/* no frame takes them: past CHAN_FDS_PENDING the channel closes */
	pair_raw(&T.a);
	fds_open(before);
	for (unsigned i = 0; i * FD_STORE_MAX <= CHAN_FDS_PENDING; i++)
		raw_write_fds(fb.b, fb.len, files, FD_STORE_MAX);
	assert_true(run_until(a_closed, GUARD_MS));
	assert_int_equal(T.a.close_err, EBADMSG);
	assert_true(T.a.nrec >= CHAN_FDS_PENDING / FD_STORE_MAX);
	assert_int_equal(fds_new(before, got, 8), 0);

	files_close(files, 5);
	fbuf_reset(&fb);
}


static void test_chan_send_fds_refusals_and_unsent_dups(void **state)
{
	struct fbuf fb = {0};
	int files[2], sv[2], base, bad[2];
	char *big = malloc(BIG + 1);

	assert_non_null(big);
	files_open(files, 2);
	assert_int_equal(fds_frame(&fb, 1), 0);
	assert_int_equal(chan_send_fds(NULL, &fb, files, 1), EPIPE);

	pair_small(sv);
	side_open(&T.a, sv[0], "a");
	T.raw = sv[1];
	base = (int)fds_open(NULL);
	assert_int_equal(chan_send_fds(T.a.ch, &fb, files, FD_STORE_MAX + 1),
			 EINVAL);
	assert_int_equal(chan_send_fds(T.a.ch, &fb, NULL, 1), EINVAL);
	/* one not a descriptor: nothing queued, the other's dup closed */
	bad[0] = files[0];
	bad[1] = -1;
	assert_int_equal(chan_send_fds(T.a.ch, &fb, bad, 2), EBADF);
	assert_int_equal(chan_queued(T.a.ch), 0);
	assert_int_equal((int)fds_open(NULL), base);

	/* the peer does not read: the duplicates wait with their frame and
	 * are closed with the channel, the sender's own stay open */
	memset(big, 'q', BIG);
	big[BIG] = '\0';
	assert_int_equal(send_data(T.a.ch, 1, big), 0);
	assert_int_equal(chan_send_fds(T.a.ch, &fb, files, 2), 0);
	assert_true(chan_queued(T.a.ch) > 0);
	assert_int_equal((int)fds_open(NULL), base + 2);
	T.a.ch = mem_deref(T.a.ch);
	assert_int_equal((int)fds_open(NULL), base - 1); /* and its socket */
	assert_false(is_closed(files[0]));
	assert_false(is_closed(files[1]));

	/* n 0 is chan_send */
	pair_chans(&T.a, &T.b);
	fbuf_reset(&fb);
	assert_int_equal(fds_frame(&fb, 0), 0);
	assert_int_equal(chan_send_fds(T.a.ch, &fb, NULL, 0), 0);
	files_close(files, 2);
	fbuf_reset(&fb);
	free(big);
}


/* In a child: hand it fds 4, 5 (XSGW_FDS=nenv), run proc_init as a worker
 * is run, check what it took. @return 0, or which check failed */
static int proc_child(const char *nenv, bool open5, int *memfds)
{
	char cfg[1024], *argv[4];
	const char *src = getenv("XSGW_SRCDIR");
	struct proc p;
	int fds[FD_STORE_MAX];
	unsigned n;

	snprintf(cfg, sizeof(cfg), "%s/conf/xsgw.yaml", src ? src : ".");
	argv[0] = "test_chan";
	argv[1] = "-c";
	argv[2] = cfg;
	argv[3] = NULL;
	close(3); /* no supervisor: run by hand */
	if (dup2(memfds[0], 4) != 4)
		return 10;
	if (open5 && dup2(memfds[1], 5) != 5)
		return 11;
	if (!open5)
		close(5);
	setenv("XSGW_FDS", nenv, 1);
	optind = 1;
	proc_init(&p, PROC_XMPP_FRONT, 3, argv, NULL, NULL);
	if (getenv("XSGW_FDS"))
		return 12;
	if (!open5) {
		/* one of them missing: none taken, the other closed */
		if (proc_fds_taken(&p, fds, FD_STORE_MAX) != 0)
			return 20;
		return is_closed(4) ? 0 : 21;
	}
	if (!strcmp(nenv, "x")) /* a bad count: nothing touched */
		return proc_fds_taken(&p, fds, FD_STORE_MAX) == 0 &&
				       !is_closed(4) && !is_cloexec(4)
			       ? 0
			       : 30;
	n = proc_fds_taken(&p, fds, FD_STORE_MAX);
	if (n != 2 || fds[0] != 4 || fds[1] != 5)
		return 13;
	if (!same_file(4, memfds[0]) || !same_file(5, memfds[1]))
		return 14;
	if (!is_cloexec(4) || !is_cloexec(5))
		return 15;
	if (proc_fds_taken(&p, fds, FD_STORE_MAX) != 0) /* once */
		return 16;
	if (proc_fd_store(&p, fds, 2) != ENOTCONN)
		return 17;
	if (proc_fd_store(&p, fds, FD_STORE_MAX + 1) != EINVAL)
		return 18;
	return 0;
}


static int proc_child_status(const char *nenv, bool open5)
{
	int memfds[2], status = -1;
	pid_t pid;

	/* out of the way of 3..5 in the child */
	for (unsigned i = 0; i < 2; i++) {
		int m = memfd_create("test_proc", MFD_CLOEXEC);
		assert_true(m >= 0);
		memfds[i] = fcntl(m, F_DUPFD_CLOEXEC, 100);
		assert_true(memfds[i] >= 100);
		close(m);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(proc_child(nenv, open5, memfds));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	files_close(memfds, 2);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}


static void test_proc_takes_over_the_fds_handed_to_it(void **state)
{
	assert_int_equal(proc_child_status("2", true), 0);
	assert_int_equal(proc_child_status("2", false), 0);
	assert_int_equal(proc_child_status("x", true), 0);
}


/* ---- relq ---- */


static void test_relq_seqs_increase_from_1(void **state)
{
	assert_int_equal(relq_alloc(&T.q, 0xb007b007b007b007ULL), 0);
	assert_true(relq_boot(T.q) == 0xb007b007b007b007ULL);
	assert_int_equal(relq_count(T.q), 0);
	pair_chans(&T.a, &T.b);
	assert_int_equal(push_data(T.q, T.a.ch, "r1"), 0);
	assert_int_equal(push_data(T.q, T.a.ch, "r2"), 0);
	/* no channel: kept, not sent, still numbered */
	assert_int_equal(push_data(T.q, NULL, "r3"), 0);
	assert_int_equal(push_data(T.q, T.a.ch, "r4"), 0);
	assert_int_equal(relq_count(T.q), 4);
	want_b = 3;
	assert_true(run_until(b_has_want, GUARD_MS));
	settle(20);

	assert_int_equal(T.b.nrec, 3);
	assert_int_equal(T.b.recs[0].seq, 1);
	assert_string_equal(T.b.recs[0].text, "r1");
	assert_int_equal(T.b.recs[1].seq, 2);
	assert_string_equal(T.b.recs[1].text, "r2");
	assert_int_equal(T.b.recs[2].seq, 4);
	assert_string_equal(T.b.recs[2].text, "r4");
	assert_int_equal(T.b.recs[2].type, DATA_TYPE);
	/* sending does not drop them: only an ACK does */
	assert_int_equal(relq_count(T.q), 4);
}


static void test_relq_ack_is_cumulative(void **state)
{
	char t[16];

	assert_int_equal(relq_alloc(&T.q, 1), 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(t, sizeof(t), "r%d", i);
		assert_int_equal(push_data(T.q, NULL, t), 0);
	}
	relq_ack(T.q, 0);
	assert_int_equal(relq_count(T.q), 5);
	relq_ack(T.q, 2);
	assert_int_equal(relq_count(T.q), 3);
	relq_ack(T.q, 1); /* older than the last: nothing */
	assert_int_equal(relq_count(T.q), 3);
	relq_ack(T.q, 4);
	assert_int_equal(relq_count(T.q), 1);

	/* what is left is exactly seq 5 */
	pair_chans(&T.a, &T.b);
	assert_int_equal(relq_replay(T.q, T.a.ch), 0);
	want_b = 1;
	assert_true(run_until(b_has_want, GUARD_MS));
	settle(20);
	assert_int_equal(T.b.nrec, 1);
	assert_int_equal(T.b.recs[0].seq, 5);
	assert_string_equal(T.b.recs[0].text, "r5");

	relq_ack(T.q, 100);
	assert_int_equal(relq_count(T.q), 0);
	/* numbering goes on after everything was acknowledged */
	assert_int_equal(push_data(T.q, T.a.ch, "r6"), 0);
	want_b = 2;
	assert_true(run_until(b_has_want, GUARD_MS));
	assert_int_equal(T.b.recs[1].seq, 6);
	assert_string_equal(T.b.recs[1].text, "r6");
}


static void test_relq_replays_unacked_in_order_on_new_channel(void **state)
{
	const char *texts[3] = {"first", "second", "third"};

	assert_int_equal(relq_alloc(&T.q, 1), 0);
	pair_chans(&T.a, &T.b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(push_data(T.q, T.a.ch, texts[i]), 0);
	want_b = 3;
	assert_true(run_until(b_has_want, GUARD_MS));

	/* the peer goes away without acknowledging anything */
	T.b.ch = mem_deref(T.b.ch);
	assert_true(run_until(a_closed, GUARD_MS));
	T.a.ch = mem_deref(T.a.ch);
	assert_int_equal(relq_count(T.q), 3);

	memset(&T.b, 0, sizeof(T.b));
	memset(&T.a, 0, sizeof(T.a));
	pair_chans(&T.a, &T.b);
	assert_int_equal(relq_replay(T.q, T.a.ch), 0);
	assert_int_equal(push_data(T.q, T.a.ch, "fourth"), 0);
	want_b = 4;
	assert_true(run_until(b_has_want, GUARD_MS));
	settle(20);
	assert_int_equal(T.b.nrec, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.b.recs[i].seq, i + 1);
		assert_string_equal(T.b.recs[i].text, texts[i]);
	}
	assert_int_equal(T.b.recs[3].seq, 4);
	assert_string_equal(T.b.recs[3].text, "fourth");
	assert_int_equal(relq_count(T.q), 4);
}


/* Frames kept without being sent (relq_push with no channel: tlink's lazy
 * frames) go later by relq_send_from, in order, after those already sent,
 * and none of the sent ones again. */
static void test_relq_send_from_sends_the_kept_tail_once(void **state)
{
	assert_int_equal(relq_alloc(&T.q, 1), 0);
	pair_chans(&T.a, &T.b);
	assert_int_equal(push_data(T.q, T.a.ch, "sent1"), 0);
	assert_int_equal(push_data(T.q, T.a.ch, "sent2"), 0);
	assert_int_equal(push_data(T.q, NULL, "kept3"), 0);
	assert_int_equal(push_data(T.q, NULL, "kept4"), 0);
	want_b = 2;
	assert_true(run_until(b_has_want, GUARD_MS));
	settle(20);
	assert_int_equal(T.b.nrec, 2);
	assert_int_equal(relq_send_from(T.q, T.a.ch, 3), 0);
	assert_int_equal(push_data(T.q, T.a.ch, "sent5"), 0);
	want_b = 5;
	assert_true(run_until(b_has_want, GUARD_MS));
	settle(20);
	assert_int_equal(T.b.nrec, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(T.b.recs[i].seq, i + 1);
	assert_string_equal(T.b.recs[2].text, "kept3");
	assert_string_equal(T.b.recs[3].text, "kept4");
	/* from past the newest: nothing */
	assert_int_equal(relq_send_from(T.q, T.a.ch, 6), 0);
	settle(20);
	assert_int_equal(T.b.nrec, 5);
	assert_int_equal(relq_count(T.q), 5);
}


static bool a_acked_2(void)
{
	return T.a.last_ack == 2;
}


static bool a_acked_4(void)
{
	return T.a.last_ack == 4;
}


static void test_relq_peer_acks_part_then_reconnect_replays_rest(void **state)
{
	char t[16];

	assert_int_equal(relq_alloc(&T.q, 1), 0);
	T.a.q = T.q; /* MSG_ACK on a is applied to q */
	pair_chans(&T.a, &T.b);
	for (int i = 1; i <= 4; i++) {
		snprintf(t, sizeof(t), "r%d", i);
		assert_int_equal(push_data(T.q, T.a.ch, t), 0);
	}
	want_b = 4;
	assert_true(run_until(b_has_want, GUARD_MS));
	assert_int_equal(T.b.last_seq, 4);

	/* the peer commits two, acknowledges them, and goes away */
	assert_int_equal(ack_send(T.b.ch, 2), 0);
	assert_true(run_until(a_acked_2, GUARD_MS));
	assert_int_equal(relq_count(T.q), 2);
	T.b.ch = mem_deref(T.b.ch);
	assert_true(run_until(a_closed, GUARD_MS));
	T.a.ch = mem_deref(T.a.ch);

	memset(&T.b, 0, sizeof(T.b));
	pair_chans(&T.a, &T.b);
	assert_int_equal(relq_replay(T.q, T.a.ch), 0);
	want_b = 2;
	assert_true(run_until(b_has_want, GUARD_MS));
	settle(20);
	assert_int_equal(T.b.nrec, 2);
	assert_int_equal(T.b.recs[0].seq, 3);
	assert_string_equal(T.b.recs[0].text, "r3");
	assert_int_equal(T.b.recs[1].seq, 4);
	assert_string_equal(T.b.recs[1].text, "r4");

	/* this peer acknowledges everything */
	assert_int_equal(ack_send(T.b.ch, 4), 0);
	assert_true(run_until(a_acked_4, GUARD_MS));
	assert_int_equal(relq_count(T.q), 0);
}


static void test_relq_frame_refused_by_a_full_channel_is_replayed(void **state)
{
	char *big = malloc(BIG + 1);
	size_t before;
	unsigned n = 0, got;
	int sv[2];

	assert_non_null(big);
	memset(big, 'r', BIG);
	big[BIG] = '\0';
	assert_int_equal(relq_alloc(&T.q, 1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_open(&T.a, sv[0], "a");
	/* push until the channel refuses one: relq keeps it all the same */
	do {
		before = chan_queued(T.a.ch);
		assert_int_equal(push_data(T.q, T.a.ch, big), 0);
		n++;
		/* refused: the queue (never empty then) did not grow */
	} while (!(before && chan_queued(T.a.ch) == before) && n < 4096);
	assert_true(n < 4096);
	free(big);
	assert_int_equal(push_data(T.q, T.a.ch, "after1"), 0);
	assert_int_equal(push_data(T.q, T.a.ch, "after2"), 0);
	n += 2;
	assert_int_equal(relq_count(T.q), n);

	/* the peer reads what was queued; then the channel closes: the link
	 * is never up with a frame of the queue missing */
	side_open(&T.b, sv[1], "b");
	assert_true(run_until(a_and_b_closed, 20000));
	assert_int_equal(T.a.close_err, ENOBUFS);
	got = T.b.nrec;
	assert_true(got > 0 && got < n);
	assert_int_equal(T.b.seq_breaks, 0);
	assert_true(T.b.last_seq == got);

	/* the reconnect: the peer had applied what it got (its HELLO says
	 * so), the rest is replayed in order, the refused ones included */
	relq_ack(T.q, got);
	T.a.ch = mem_deref(T.a.ch);
	T.b.ch = mem_deref(T.b.ch);
	memset(&T.b, 0, sizeof(T.b));
	memset(&T.a, 0, sizeof(T.a));
	pair_chans(&T.a, &T.b);
	assert_int_equal(relq_replay(T.q, T.a.ch), 0);
	want_b = n - got;
	assert_true(run_until(b_has_want, 20000));
	settle(20);
	assert_int_equal(T.b.nrec, n - got);
	assert_int_equal(T.b.seq_breaks, 0);
	assert_true(T.b.recs[0].seq == got + 1);
	assert_true(T.b.last_seq == n);
	if (n - got <= MAXREC) {
		assert_string_equal(T.b.recs[n - got - 2].text, "after1");
		assert_string_equal(T.b.recs[n - got - 1].text, "after2");
	}
	assert_int_equal(T.a.closes + T.b.closes, 0);
}


/* ---- tlink against a scripted translator ---- */

static int tr_frame(struct chan *ch, struct frame *fr, void *arg)
{
	struct rec r = {.type = fr->type, .seq = fr->seq, .conn = TR.accepts};
	unsigned i = TR.hellos;
	int err;

	if (fr->type == MSG_HELLO) {
		if (i >= 8)
			return EPROTO;
		err = hello_decode(fr, &TR.hproc[i], &TR.hpid[i], &TR.hboot[i],
				   &TR.hacked[i]);
		if (err)
			return err;
		TR.hellos++;
		if (TR.on_hello)
			TR.on_hello();
		check_done();
		return 0;
	}
	if (TR.hold)
		return CHAN_PAUSE;
	err = data_decode(fr, &r);
	if (err) {
		TR.bad++;
		return err;
	}
	if (!TR.replied)
		TR.early++;
	if (r.seq == TR.applied + 1)
		TR.applied++;
	else if (r.seq && r.seq <= TR.applied)
		TR.dups++;
	else if (r.seq)
		TR.gaps++;
	if (TR.nrec < MAXREC)
		TR.recs[TR.nrec++] = r;
	if (TR.on_data)
		TR.on_data();
	check_done();
	return 0;
}


static void tr_close(struct chan *ch, int err, void *arg)
{
	if (TR.ch == ch)
		TR.ch = mem_deref(TR.ch);
	check_done();
}


static void tr_accept(int flags, void *arg)
{
	int fd = accept4(TR.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	TR.ch = mem_deref(TR.ch); /* one front at a time */
	if (chan_alloc(&TR.ch, fd, "front", tr_frame, NULL, tr_close, NULL)) {
		close(fd);
		T.cb_errs++;
		return;
	}
	if (TR.accepts < 8)
		TR.accept_ms[TR.accepts] = tmr_jiffies();
	TR.accepts++;
	TR.replied = false;
	if (TR.on_accept)
		TR.on_accept();
	check_done();
}


static void tr_listen(void)
{
	assert_int_equal(unix_listen(&TR.lfd, T.path), 0);
	assert_int_equal(fd_listen(TR.lfd, FD_READ, tr_accept, NULL), 0);
}


/* The translator's HELLO (as p), then a probe frame: when the front's
 * tlink hands the probe up, the HELLO before it has been handled. */
static void tr_hello_as(struct proc *p, uint64_t acked)
{
	char t[TEXT_MAX];

	snprintf(t, sizeof(t), "probe%u", TR.accepts);
	TR.replied = true;
	if (proc_hello(p, TR.ch, acked) || send_data(TR.ch, 0, t))
		T.cb_errs++;
}


static void tr_reply_hello(void)
{
	tr_hello_as(&T.trproc, 0);
}


static void tr_drop_handler(void *arg)
{
	TR.ch = mem_deref(TR.ch);
	check_done();
}


static char front_pause_on[TEXT_MAX]; /**< pause once on this text */
static unsigned front_paused;


/* The front's frame handler. */
static int front_frame(struct frame *fr, void *arg)
{
	struct rec r = {.type = fr->type, .seq = fr->seq};
	int err = data_decode(fr, &r);

	if (err)
		return err;
	if (front_pause_on[0] && !strcmp(r.text, front_pause_on)) {
		front_pause_on[0] = '\0'; /* once */
		front_paused++;
		check_done();
		return CHAN_PAUSE;
	}
	r.up = tlink_up(T.tl);
	r.unacked = tlink_unacked(T.tl);
	if (T.nfrec < MAXREC)
		T.frecs[T.nfrec++] = r;
	if (T.front_on_frame)
		T.front_on_frame();
	check_done();
	return 0;
}


/* A temp runtime dir and the two processes; tlink_alloc is the test's. */
static void tlink_fixture(void)
{
	strcpy(T.dir, "/tmp/xsgw-chan-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	assert_int_equal(
		path_join(T.path, sizeof(T.path), T.dir, "translator.sock"), 0);
	T.cfg.runtime.dir = T.dir;
	T.front.id = PROC_XMPP_FRONT;
	T.front.cfg = &T.cfg;
	T.front.boot = 0x0f0f0f0f12345678ULL;
	T.trproc.id = PROC_TRANSLATOR;
	T.trproc.cfg = &T.cfg;
	T.trproc.boot = 0x7777777788888888ULL;
	T.wrong.id = PROC_SIP_FRONT;
	T.wrong.cfg = &T.cfg;
	T.wrong.boot = 3;
}


static int front_push(const char *text, bool lazy)
{
	struct fbuf fb = {0};
	int err;

	err = data_frame(&fb, 0, text);
	if (!err)
		err = lazy ? tlink_send_lazy(T.tl, &fb, NULL)
			   : tlink_send_reliable(T.tl, &fb, NULL);
	fbuf_reset(&fb);
	return err;
}


static int front_send(const char *text)
{
	return front_push(text, false);
}


static int front_send_lazy(const char *text)
{
	return front_push(text, true);
}


static int front_send_best_effort(const char *text)
{
	struct fbuf fb = {0};
	int err;

	err = data_frame(&fb, 0, text);
	if (!err)
		err = tlink_send(T.tl, &fb);
	fbuf_reset(&fb);
	return err;
}


static void on_probe_send_best_effort(void)
{
	if (T.nfrec == 1 && front_send_best_effort("best effort"))
		T.cb_errs++;
}


static bool tr_got_1(void)
{
	return TR.nrec >= 1;
}


static void test_tlink_hello_exchange_brings_link_up(void **state)
{
	tlink_fixture();
	tr_listen();
	TR.on_hello = tr_reply_hello;
	T.front_on_frame = on_probe_send_best_effort;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_false(tlink_up(T.tl));
	/* best effort while down: refused, not kept */
	assert_int_equal(front_send_best_effort("dropped"), EPIPE);
	assert_int_equal(tlink_unacked(T.tl), 0);
	assert_true(run_until(tr_got_1, GUARD_MS));
	settle(20);

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(TR.accepts, 1);
	assert_int_equal(TR.hellos, 1);
	assert_int_equal(TR.hproc[0], PROC_XMPP_FRONT);
	assert_int_equal(TR.hpid[0], getpid());
	assert_true(TR.hboot[0] == T.front.boot);
	assert_true(TR.hacked[0] == 0);
	/* the translator's frame reached the front's handler, link up */
	assert_int_equal(T.nfrec, 1);
	assert_int_equal(T.frecs[0].type, DATA_TYPE);
	assert_string_equal(T.frecs[0].text, "probe1");
	assert_true(T.frecs[0].up);
	assert_true(tlink_up(T.tl));
	/* the best-effort frame went out as it was, and only it */
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(TR.recs[0].seq, 0);
	assert_string_equal(TR.recs[0].text, "best effort");
	assert_int_equal(TR.early, 0);
	assert_int_equal(TR.bad, 0);
	assert_int_equal(tlink_unacked(T.tl), 0);
}


static void tr_reply_hello_handler(void *arg)
{
	tr_reply_hello();
}


/* Reply 30 ms late: a front that sent before our HELLO would be seen. */
static void tr_reply_late(void)
{
	tmr_start(&TR.tmr, 30, tr_reply_hello_handler, NULL);
}


/* Connected, HELLO not answered yet: still down, so kept, not sent. */
static void tr_accept_front_sends(void)
{
	if (tlink_up(T.tl) || front_send("m3"))
		T.cb_errs++;
}


static void tr_ack_after_3(void)
{
	if (TR.nrec == 3 &&
	    (ack_send(TR.ch, 3) || send_data(TR.ch, 0, "acked")))
		T.cb_errs++;
}


static void front_send_after_ack(void)
{
	if (T.nfrec == 2 && front_send("m4"))
		T.cb_errs++;
}


static bool tr_got_4(void)
{
	return TR.nrec >= 4;
}


static void
test_tlink_frames_sent_while_down_delivered_after_hello(void **state)
{
	tlink_fixture();
	tr_listen();
	TR.on_accept = tr_accept_front_sends;
	TR.on_hello = tr_reply_late;
	TR.on_data = tr_ack_after_3;
	T.front_on_frame = front_send_after_ack;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	/* before the link even tried to connect */
	assert_int_equal(front_send("m1"), 0);
	assert_int_equal(front_send("m2"), 0);
	assert_int_equal(tlink_unacked(T.tl), 2);
	assert_true(run_until(tr_got_4, GUARD_MS));
	settle(20);

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(TR.accepts, 1);
	assert_int_equal(TR.hellos, 1);
	assert_int_equal(TR.early, 0); /* nothing before our HELLO */
	assert_int_equal(TR.nrec, 4);
	for (int i = 0; i < 4; i++) {
		char t[16];
		snprintf(t, sizeof(t), "m%d", i + 1);
		assert_int_equal(TR.recs[i].type, DATA_TYPE);
		assert_int_equal(TR.recs[i].seq, i + 1);
		assert_string_equal(TR.recs[i].text, t);
	}
	/* front: the probe (3 kept), then "acked" (ACK 3 applied) */
	assert_int_equal(T.nfrec, 2);
	assert_string_equal(T.frecs[0].text, "probe1");
	assert_int_equal(T.frecs[0].unacked, 3);
	assert_string_equal(T.frecs[1].text, "acked");
	assert_int_equal(T.frecs[1].unacked, 0);
	/* m4 is not acknowledged yet */
	assert_int_equal(tlink_unacked(T.tl), 1);
}


static bool up_at_second_accept;


/* Connection 1: HELLO acked 0; 2: HELLO says 3 were already applied. */
static void tr_reconnect_hello(void)
{
	tr_hello_as(&T.trproc, TR.accepts == 1 ? 0 : 3);
}


static void tr_reconnect_accept(void)
{
	/* the link is down now: r6 is kept for the replay */
	if (TR.accepts == 2) {
		up_at_second_accept = tlink_up(T.tl);
		if (front_send("r6"))
			T.cb_errs++;
	}
}


static unsigned recs_on_conn(unsigned conn)
{
	unsigned n = 0;

	for (unsigned i = 0; i < TR.nrec; i++)
		n += TR.recs[i].conn == conn;
	return n;
}


static void tr_reconnect_data(void)
{
	int err = 0;

	if (TR.accepts == 1 && recs_on_conn(1) == 5)
		err = ack_send(TR.ch, 2) || send_data(TR.ch, 0, "acked2");
	if (TR.accepts == 2 && recs_on_conn(2) == 3)
		err = ack_send(TR.ch, 6) || send_data(TR.ch, 0, "acked6");
	T.cb_errs += err;
}


static void front_reconnect_frame(void)
{
	char t[16];
	const char *last = T.frecs[T.nfrec - 1].text;

	if (!strcmp(last, "probe1")) {
		for (int i = 1; i <= 5; i++) {
			snprintf(t, sizeof(t), "r%d", i);
			T.cb_errs += front_send(t) != 0;
		}
	} else if (!strcmp(last, "acked2")) {
		/* the translator goes away */
		tmr_start(&TR.tmr, 0, tr_drop_handler, NULL);
	}
}


static bool front_got_acked6(void)
{
	return T.nfrec && !strcmp(T.frecs[T.nfrec - 1].text, "acked6");
}


static void test_tlink_reconnect_replays_unacked_with_same_seq(void **state)
{
	tlink_fixture();
	tr_listen();
	up_at_second_accept = true;
	TR.on_accept = tr_reconnect_accept;
	TR.on_hello = tr_reconnect_hello;
	TR.on_data = tr_reconnect_data;
	T.front_on_frame = front_reconnect_frame;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_true(run_until(front_got_acked6, GUARD_MS));
	settle(20);

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(TR.accepts, 2);
	assert_int_equal(TR.early, 0);
	assert_int_equal(TR.bad, 0);
	/* both HELLOs: the same front incarnation */
	assert_int_equal(TR.hellos, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(TR.hproc[i], PROC_XMPP_FRONT);
		assert_int_equal(TR.hpid[i], getpid());
		assert_true(TR.hboot[i] == T.front.boot);
		assert_true(TR.hacked[i] == 0);
	}
	/* connection 1: r1..r5 as seqs 1..5 */
	assert_int_equal(TR.nrec, 8);
	for (int i = 0; i < 5; i++) {
		char t[16];
		snprintf(t, sizeof(t), "r%d", i + 1);
		assert_int_equal(TR.recs[i].conn, 1);
		assert_int_equal(TR.recs[i].seq, i + 1);
		assert_string_equal(TR.recs[i].text, t);
	}
	/* connection 2: acked 3 in our HELLO, so 4 and 5 again with their
	 * seqs, then r6 kept while down */
	assert_false(up_at_second_accept);
	for (int i = 5; i < 8; i++)
		assert_int_equal(TR.recs[i].conn, 2);
	assert_int_equal(TR.recs[5].seq, 4);
	assert_string_equal(TR.recs[5].text, "r4");
	assert_int_equal(TR.recs[6].seq, 5);
	assert_string_equal(TR.recs[6].text, "r5");
	assert_int_equal(TR.recs[7].seq, 6);
	assert_string_equal(TR.recs[7].text, "r6");
	/* the front: up, 3 kept after ACK 2, then 3 left after the HELLO
	 * (4, 5, 6), none after ACK 6 */
	assert_int_equal(T.nfrec, 4);
	assert_string_equal(T.frecs[0].text, "probe1");
	assert_string_equal(T.frecs[1].text, "acked2");
	assert_int_equal(T.frecs[1].unacked, 3);
	assert_string_equal(T.frecs[2].text, "probe2");
	assert_int_equal(T.frecs[2].unacked, 3);
	assert_string_equal(T.frecs[3].text, "acked6");
	assert_int_equal(T.frecs[3].unacked, 0);
	assert_true(tlink_up(T.tl));
}


static uint64_t drop_ms;


/* Connections 1-4 are dropped at once (no HELLO): each retry waits longer.
 * Connection 5 comes up and is then dropped: the wait starts over. */
static void tr_backoff_accept(void)
{
	if (TR.accepts <= 4)
		TR.ch = mem_deref(TR.ch);
}


/* Connection 5 is dropped once the kept frame came through on it. */
static void tr_backoff_data(void)
{
	if (TR.accepts == 5) {
		drop_ms = tmr_jiffies();
		tmr_start(&TR.tmr, 0, tr_drop_handler, NULL);
	}
}


static bool six_accepts(void)
{
	return TR.accepts >= 6;
}


static void test_tlink_reconnects_with_backoff_reset_when_up(void **state)
{
	uint64_t *at = TR.accept_ms;

	tlink_fixture();
	tr_listen();
	TR.on_accept = tr_backoff_accept;
	TR.on_hello = tr_reply_hello;
	TR.on_data = tr_backoff_data;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_int_equal(front_send("kept"), 0);
	assert_true(run_until(six_accepts, 5000));

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(TR.accepts, 6);
	/* backoff_delay(50, 1000, n): at least 25, 50, 100, 200 ms */
	assert_true(at[1] - at[0] >= 25);
	assert_true(at[2] - at[1] >= 50);
	assert_true(at[3] - at[2] >= 100);
	assert_true(at[4] - at[3] >= 200);
	/* the frame came through on connection 5 only */
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(TR.recs[0].conn, 5);
	assert_int_equal(TR.recs[0].seq, 1);
	assert_string_equal(TR.recs[0].text, "kept");
	/* after the HELLO the first retry is back at 25-50 ms, not the 400+
	 * that a sixth attempt would wait */
	assert_int_equal(T.nfrec, 1);
	assert_string_equal(T.frecs[0].text, "probe5");
	assert_true(at[5] >= drop_ms);
	assert_true(at[5] - drop_ms < 200);
}


static void listen_handler(void *arg)
{
	if (unix_listen(&TR.lfd, T.path) ||
	    fd_listen(TR.lfd, FD_READ, tr_accept, NULL))
		T.cb_errs++;
}


static bool front_got_1(void)
{
	return T.nfrec >= 1 && TR.nrec >= 1;
}


static void test_tlink_connects_when_translator_appears_later(void **state)
{
	tlink_fixture();
	TR.on_hello = tr_reply_hello;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_int_equal(front_send("waited"), 0);
	/* no socket yet: connects fail (ENOENT) and are retried */
	tmr_start(&TR.tmr, 150, listen_handler, NULL);
	assert_true(run_until(front_got_1, GUARD_MS));

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(TR.accepts, 1);
	assert_true(tlink_up(T.tl));
	assert_int_equal(TR.recs[0].seq, 1);
	assert_string_equal(TR.recs[0].text, "waited");
	assert_string_equal(T.frecs[0].text, "probe1");
}


/* Connection 1 answers as the wrong process; connection 2 correctly. */
static void tr_wrong_then_right(void)
{
	tr_hello_as(TR.accepts == 1 ? &T.wrong : &T.trproc, 0);
}


static void test_tlink_hello_from_wrong_process_closes_and_retries(void **state)
{
	tlink_fixture();
	tr_listen();
	TR.on_hello = tr_wrong_then_right;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_int_equal(front_send("once"), 0);
	assert_true(run_until(front_got_1, GUARD_MS));
	settle(20);

	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(TR.accepts, 2);
	/* nothing sent to, nor handed up from, the wrong process */
	assert_int_equal(T.nfrec, 1);
	assert_string_equal(T.frecs[0].text, "probe2");
	assert_int_equal(TR.nrec, 1);
	assert_int_equal(TR.recs[0].conn, 2);
	assert_int_equal(TR.recs[0].seq, 1);
	assert_string_equal(TR.recs[0].text, "once");
}


/* HELLO and probe, three frames, then the ACK of the front's frame. */
static void tr_hello_then_three_and_ack(void)
{
	tr_reply_hello();
	T.cb_errs += send_data(TR.ch, 0, "d1") != 0;
	T.cb_errs += send_data(TR.ch, 0, "d2") != 0;
	T.cb_errs += send_data(TR.ch, 0, "d3") != 0;
	T.cb_errs += ack_send(TR.ch, 1) != 0;
}


static bool front_paused_once(void)
{
	return front_paused == 1;
}


static bool front_got_d3(void)
{
	return T.nfrec >= 4;
}


static void test_tlink_pause_holds_frames_and_acks_until_resume(void **state)
{
	tlink_fixture();
	tr_listen();
	TR.on_hello = tr_hello_then_three_and_ack;
	strcpy(front_pause_on, "d2");
	front_paused = 0;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_int_equal(front_send("kept"), 0);
	assert_true(run_until(front_paused_once, GUARD_MS));
	settle(50);
	/* no room for d2: neither it nor what follows is handled, the ACK
	 * behind it included; the link stays up */
	assert_int_equal(T.nfrec, 2);
	assert_string_equal(T.frecs[0].text, "probe1");
	assert_string_equal(T.frecs[1].text, "d1");
	assert_int_equal(tlink_unacked(T.tl), 1);
	assert_true(tlink_up(T.tl));

	tlink_resume(T.tl);
	assert_true(run_until(front_got_d3, GUARD_MS));
	settle(20);
	assert_int_equal(T.cb_errs, 0);
	assert_int_equal(tlink_unacked(T.tl), 0); /* the ACK after d3 */
	assert_int_equal(T.nfrec, 4);
	assert_string_equal(T.frecs[2].text, "d2");
	assert_string_equal(T.frecs[3].text, "d3");
	assert_int_equal(front_paused, 1);
	assert_int_equal(TR.accepts, 1);
	assert_int_equal(TR.nrec, 1);
	assert_string_equal(TR.recs[0].text, "kept");
}


/* Our HELLO says what was applied, as the translator's does. */
static void tr_hello_applied(void)
{
	tr_hello_as(&T.trproc, TR.applied);
}


static bool front_up(void)
{
	return T.nfrec >= 1;
}


static unsigned want_applied;


static bool tr_applied_all(void)
{
	return TR.applied >= want_applied;
}


/* The translator stops reading while the front sends more than a channel
 * holds: the front's channel refuses the rest, is drained, closes, and the
 * reconnect replays from what was applied. Every frame arrives once, in
 * order; none is left pending on a link that is up. */
static void
test_tlink_overflow_reconnects_and_nothing_is_left_behind(void **state)
{
	enum { N = 1300 }; /* 1300 x 60 kB: more than the 64 MiB queue */
	char *big = malloc(BIG + 1);

	assert_non_null(big);
	memset(big, 'f', BIG);
	big[BIG] = '\0';
	tlink_fixture();
	tr_listen();
	TR.on_hello = tr_hello_applied;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_true(run_until(front_up, GUARD_MS));

	TR.hold = true;
	for (int i = 0; i < N; i++)
		assert_int_equal(front_send(big), 0);
	free(big);
	assert_int_equal(tlink_unacked(T.tl), N);
	settle(100);
	/* the translator reads nothing: everything waits, the link is up */
	assert_int_equal(TR.applied, 0);
	assert_int_equal(TR.accepts, 1);
	assert_true(tlink_up(T.tl));

	TR.hold = false;
	chan_resume(TR.ch);
	want_applied = N;
	assert_true(run_until(tr_applied_all, 30000));
	assert_int_equal(TR.applied, N);
	assert_int_equal(TR.gaps, 0);
	assert_int_equal(TR.dups, 0);
	assert_int_equal(TR.bad, 0);
	/* once: the refusal closed the first connection */
	assert_int_equal(TR.accepts, 2);
	assert_true(TR.hacked[1] == 0);
	/* the translator acknowledges: nothing kept */
	assert_int_equal(ack_send(TR.ch, N), 0);
	settle(50);
	assert_int_equal(tlink_unacked(T.tl), 0);
	assert_true(tlink_up(T.tl));
	assert_int_equal(T.cb_errs, 0);
}


static void test_tlink_done_remembers_recent_ids(void **state)
{
	enum { RING = 8192 }; /* DONE_RING in tlink.c */

	tlink_fixture();
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	assert_false(tlink_is_done(T.tl, 42));
	tlink_done(T.tl, 42);
	tlink_done(T.tl, 0x8000000000000001ULL);
	assert_true(tlink_is_done(T.tl, 42));
	assert_true(tlink_is_done(T.tl, 0x8000000000000001ULL));
	assert_false(tlink_is_done(T.tl, 43));
	assert_false(tlink_is_done(T.tl, 41));
	/* a bounded memory: the oldest is forgotten, the newest kept */
	for (uint64_t id = 1000; id < 1000 + RING; id++)
		tlink_done(T.tl, id);
	assert_false(tlink_is_done(T.tl, 42));
	assert_true(tlink_is_done(T.tl, 1000 + RING - 1));
	assert_true(tlink_is_done(T.tl, 1000 + 2));
}


static bool front_got_probe(void)
{
	return T.nfrec >= 1;
}


static bool tr_got_3(void)
{
	return TR.nrec >= 3;
}


static bool tr_applied_67(void)
{
	return TR.applied >= 67;
}


/* Lazy frames wait for company: the next reliable frame takes them along,
 * in order, and 64 waiting go at once. The lazy timer is set to an hour,
 * so only those two can have sent them. */
static void test_tlink_lazy_frames_ride_on_the_next_or_go_at_64(void **state)
{
	char t[TEXT_MAX];

	tlink_fixture();
	tr_listen();
	TR.on_hello = tr_reply_hello;
	assert_int_equal(tlink_alloc(&T.tl, &T.front, front_frame, NULL), 0);
	tlink_set_lazy_ms(T.tl, 3600 * 1000);
	assert_true(run_until(front_got_probe, GUARD_MS));
	assert_true(tlink_up(T.tl));

	assert_int_equal(front_send_lazy("l1"), 0);
	assert_int_equal(front_send_lazy("l2"), 0);
	settle(50);
	assert_int_equal(TR.applied, 0); /* kept, not sent */
	assert_int_equal(tlink_unacked(T.tl), 2);
	assert_int_equal(front_send("r3"), 0);
	assert_true(run_until(tr_got_3, GUARD_MS));
	assert_string_equal(TR.recs[0].text, "l1");
	assert_string_equal(TR.recs[1].text, "l2");
	assert_string_equal(TR.recs[2].text, "r3");

	for (int i = 4; i <= 66; i++) {
		snprintf(t, sizeof(t), "l%d", i);
		assert_int_equal(front_send_lazy(t), 0);
	}
	settle(50);
	assert_int_equal(TR.applied, 3); /* 63 wait */
	assert_int_equal(front_send_lazy("l67"), 0);
	assert_true(run_until(tr_applied_67, GUARD_MS));
	settle(20);
	assert_int_equal(TR.applied, 67); /* seqs 1..67, in order, once */
	assert_int_equal(TR.gaps, 0);
	assert_int_equal(TR.dups, 0);
	assert_string_equal(TR.recs[3].text, "l4");
	assert_string_equal(TR.recs[63].text, "l64");
	assert_int_equal(tlink_unacked(T.tl), 67);
	assert_int_equal(T.cb_errs, 0);
}


static int group_setup(void **state)
{
	log_setup(LOG_ERROR, 0);
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
		T_(test_chan_frame_in_pieces_delivered_whole_once),
		T_(test_chan_frames_in_one_write_then_one_batch),
		T_(test_chan_long_batch_yields_to_the_loop),
		T_(test_chan_bad_version_closes),
		T_(test_chan_unknown_type_closes),
		T_(test_chan_length_over_max_closes_from_header),
		T_(test_chan_bad_payload_closes_after_good_frames),
		T_(test_chan_eof_closes_and_owner_may_free),
		T_(test_chan_clean_eof_is_err_0),
		T_(test_chan_eof_inside_a_frame_is_ebadmsg),
		T_(test_chan_send_epipe_when_closed_or_peerless),
		T_(test_chan_queue_limit_refuses_then_drains_and_closes),
		T_(test_chan_pause_keeps_the_frame_until_resumed),
		T_(test_chan_paused_then_peer_leaves_close_after_resume),
		T_(test_chan_paused_with_output_sees_the_hangup),
		T_(test_chan_fds_ride_their_frame_between_others),
		T_(test_chan_fds_arrive_with_the_frames_first_byte),
		T_(test_chan_fds_exactly_once_through_partial_writes),
		T_(test_chan_untaken_fds_closed_with_the_channel),
		T_(test_chan_fds_beyond_the_bound_close_the_channel),
		T_(test_chan_send_fds_refusals_and_unsent_dups),
		T_(test_proc_takes_over_the_fds_handed_to_it),
		T_(test_relq_seqs_increase_from_1),
		T_(test_relq_ack_is_cumulative),
		T_(test_relq_replays_unacked_in_order_on_new_channel),
		T_(test_relq_send_from_sends_the_kept_tail_once),
		T_(test_relq_peer_acks_part_then_reconnect_replays_rest),
		T_(test_relq_frame_refused_by_a_full_channel_is_replayed),
		T_(test_tlink_hello_exchange_brings_link_up),
		T_(test_tlink_frames_sent_while_down_delivered_after_hello),
		T_(test_tlink_reconnect_replays_unacked_with_same_seq),
		T_(test_tlink_reconnects_with_backoff_reset_when_up),
		T_(test_tlink_connects_when_translator_appears_later),
		T_(test_tlink_hello_from_wrong_process_closes_and_retries),
		T_(test_tlink_pause_holds_frames_and_acks_until_resume),
		T_(test_tlink_overflow_reconnects_and_nothing_is_left_behind),
		T_(test_tlink_done_remembers_recent_ids),
		T_(test_tlink_lazy_frames_ride_on_the_next_or_go_at_64),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
