/**
 * @file chan.c  Framed channels and the reliable-frame queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <re.h>
#include "log.h"
#include "msg.h"
#include "chan.h"
#include "util.h"

enum { CHAN_OUT_MAX = 64 * 1024 * 1024, CHAN_READ = 65536 };

/* A read's frames are dispatched for at most this long in one turn of the
 * loop; the rest wait for the next turn, the socket unread meanwhile. A
 * peer replaying thousands of frames (a front after the translator's
 * restart) must not keep the other channels waiting: the supervisor's
 * heartbeat above all, which would kill the process for being busy, and
 * the replay would start over. */
enum { CHAN_TURN_MS = 50 };

/* Descriptors queued with a frame: they go with its first byte. */
struct chan_fds {
	struct le le;
	size_t pos; /**< the frame's first byte in chan.out */
	unsigned n;
	int fds[FD_STORE_MAX]; /**< our duplicates, -1 once closed */
};

struct chan {
	int fd;
	const char *name;
	uint8_t *in;
	size_t inlen, incap;
	uint8_t *out;
	size_t outoff, outlen, outcap;
	bool closed;
	chan_frame_h *frameh;
	chan_batch_h *batchh;
	chan_close_h *closeh;
	void *arg;
	void *user;
	uint16_t peer_ver; /**< frame version of a refused peer */
	int flags;         /**< what fd_listen watches now (0: nothing) */
	bool full;         /**< a frame was refused: drain, then close */
	bool paused;       /**< a handler said CHAN_PAUSE: not reading */
	bool yielded;      /**< frames left for the next turn: not reading */
	bool draining;     /**< chan_drain: no turn budget */
	int failed;        /**< a write error, reported from the loop */
	struct tmr tmr;    /**< failed, or dispatch what a resume kept */
	struct list fdq;   /**< chan_fds to send, in chan.out order */
	struct le hle;     /**< in held while writes are held */
	int rfds[CHAN_FDS_PENDING]; /**< received, untaken: a ring */
	unsigned rhead, rcount;
};


/* chan_hold: the depth, and the channels with frames queued meanwhile. */
static unsigned hold_depth;
static struct list held;


static void chan_fds_destructor(void *arg)
{
	struct chan_fds *f = arg;

	list_unlink(&f->le);
	for (unsigned i = 0; i < f->n; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
}


/* Close every descriptor the channel holds, sent or received. */
static void chan_fds_close(struct chan *ch)
{
	int fd;

	list_flush(&ch->fdq);
	while ((fd = chan_fd_take(ch)) >= 0)
		close(fd);
}


static void chan_destructor(void *arg)
{
	struct chan *ch = arg;

	tmr_cancel(&ch->tmr);
	list_unlink(&ch->hle);
	if (ch->fd >= 0) {
		fd_close(ch->fd);
		close(ch->fd);
	}
	chan_fds_close(ch);
	free(ch->in);
	free(ch->out);
}


static void chan_shut(struct chan *ch, int err)
{
	if (ch->closed)
		return;
	ch->closed = true;
	tmr_cancel(&ch->tmr);
	list_unlink(&ch->hle);
	fd_close(ch->fd);
	close(ch->fd);
	ch->fd = -1;
	chan_fds_close(ch);
	if (ch->closeh)
		ch->closeh(ch, err, ch->arg);
}


static void chan_io_handler(int flags, void *arg);
static void later_handler(void *arg);


/* Read unless paused; write interest only while output is queued. A
 * paused channel with nothing to write is not watched at all (a hang-up
 * would wake the loop for ever); it is read again on resume. */
static int chan_update(struct chan *ch)
{
	int flags = (ch->paused || ch->yielded ? 0 : FD_READ) |
		    (ch->outlen > ch->outoff ? FD_WRITE : 0);
	int err = 0;

	if (flags == ch->flags)
		return 0; /* an epoll_ctl per frame costs more than the send */
	if (flags)
		err = fd_listen(ch->fd, flags, chan_io_handler, ch);
	else
		fd_close(ch->fd);
	if (!err)
		ch->flags = flags;
	return err;
}


/* Send from f's frame on, f's descriptors with the first byte; up to the
 * next frame with descriptors (they need a sendmsg of their own). Once any
 * byte is sent the descriptors went with it (the kernel attaches them to
 * the first one): they are closed then, never sent twice. */
static ssize_t chan_sendmsg(struct chan *ch, struct chan_fds *f)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int) * FD_STORE_MAX)];
	} cbuf;
	struct le *next = f->le.next;
	size_t end = next ? ((struct chan_fds *)next->data)->pos : ch->outlen;
	struct iovec iov = {ch->out + ch->outoff, end - ch->outoff};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf.b,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * f->n)};
	struct cmsghdr *cm;
	ssize_t n;

	memset(&cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * f->n);
	memcpy(CMSG_DATA(cm), f->fds, sizeof(int) * f->n);
	n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
	if (n > 0)
		mem_deref(f);
	return n;
}


/* Write what the socket takes; the rest waits for FD_WRITE. Bytes before a
 * frame with descriptors go by send(), stopping at that frame. */
static int chan_flush(struct chan *ch)
{
	while (ch->outoff < ch->outlen) {
		struct le *le = list_head(&ch->fdq);
		struct chan_fds *f = le ? le->data : NULL;
		ssize_t n;

		if (f && f->pos == ch->outoff)
			n = chan_sendmsg(ch, f);
		else
			n = send(ch->fd, ch->out + ch->outoff,
				 (f ? f->pos : ch->outlen) - ch->outoff,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return errno;
		}
		ch->outoff += (size_t)n;
	}
	if (ch->outoff == ch->outlen)
		ch->outoff = ch->outlen = 0;
	return 0;
}


/* Tell a peer of another release which version we speak (a bare header,
 * best effort) so that it can refuse us too, once, instead of retrying. */
static void chan_announce(struct chan *ch)
{
	struct fbuf fb = {0};

	if (!msg_enc_empty(&fb, MSG_HELLO))
		(void)send(ch->fd, fb.b, fb.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	fbuf_reset(&fb);
}


/* Dispatch the whole frames read so far, until a handler pauses. */
static void chan_dispatch(struct chan *ch)
{
	const uint64_t t0 = now_ms();
	size_t off = 0, used;
	struct frame fr;
	int err;

	ch->yielded = false;
	while (!ch->closed && !ch->paused) {
		err = frame_parse(ch->in + off, ch->inlen - off, &fr, &used);
		if (err == EAGAIN)
			break;
		if (off && !ch->draining && now_ms() - t0 >= CHAN_TURN_MS) {
			ch->yielded = true; /* this frame, next turn */
			break;
		}
		if (err == EPROTO) {
			/* another release: one line, never a frame of it */
			ch->peer_ver = fr.ver;
			log_error("chan %s: the peer speaks frame version %u, "
				  "this program %u: refused",
				  ch->name, fr.ver, FRAME_VERSION);
			chan_announce(ch);
			chan_shut(ch, err);
			return;
		}
		if (!err && !msg_type_name(fr.type))
			err = EBADMSG;
		if (!err)
			err = ch->frameh(ch, &fr, ch->arg);
		if (err == CHAN_PAUSE) {
			ch->paused = true; /* this frame is kept */
			break;
		}
		if (err) {
			/* fr is unset when the header itself was refused */
			const uint8_t *h = ch->in + off;
			log_warn(
				"chan %s: bad frame (type 0x%04x): %s; closing",
				ch->name, h[2] << 8 | h[3], strerror(err));
			chan_shut(ch, err);
			return;
		}
		off += used;
	}
	if (ch->closed)
		return;
	memmove(ch->in, ch->in + off, ch->inlen - off);
	ch->inlen -= off;
	if ((ch->paused || ch->yielded) && chan_update(ch)) {
		chan_shut(ch, EIO);
		return;
	}
	if (ch->yielded)
		tmr_start(&ch->tmr, 0, later_handler, ch);
	if (ch->batchh)
		ch->batchh(ch, ch->arg);
}


/* Keep the descriptors a read brought. @return 0 or EBADMSG (they did not
 * fit: the ones received are closed with the channel) */
static int chan_fds_recv(struct chan *ch, struct msghdr *mh)
{
	struct cmsghdr *cm;
	int err = 0;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		const uint8_t *p = CMSG_DATA(cm);
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i * sizeof(int), sizeof(int));
			if (ch->rcount == CHAN_FDS_PENDING) {
				close(fd);
				err = EBADMSG;
				continue;
			}
			ch->rfds[(ch->rhead + ch->rcount++) %
				 CHAN_FDS_PENDING] = fd;
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		err = EBADMSG;
	if (err)
		log_warn("chan %s: descriptors beyond what the protocol "
			 "allows (%u untaken); closing",
			 ch->name, ch->rcount);
	return err;
}


/* @return bytes read; 0 at EAGAIN, EOF or an error (then closed) */
static ssize_t chan_read(struct chan *ch)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int) * FD_STORE_MAX)];
	} cbuf;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	int err;

	if (ch->incap - ch->inlen < CHAN_READ) {
		size_t cap = ch->inlen + CHAN_READ;
		uint8_t *b = realloc(ch->in, cap);
		if (!b) {
			chan_shut(ch, ENOMEM);
			return 0;
		}
		ch->in = b;
		ch->incap = cap;
	}
	iov.iov_base = ch->in + ch->inlen;
	iov.iov_len = ch->incap - ch->inlen;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.b;
	mh.msg_controllen = sizeof(cbuf.b);
	n = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			chan_shut(ch, errno);
		return 0;
	}
	err = chan_fds_recv(ch, &mh);
	if (err) {
		chan_shut(ch, err);
		return 0;
	}
	if (n == 0) {
		chan_shut(ch, ch->inlen ? EBADMSG : 0);
		return 0;
	}
	ch->inlen += (size_t)n;
	chan_hold();
	chan_dispatch(ch);
	chan_release();
	return n;
}


static void chan_io_handler(int flags, void *arg)
{
	struct chan *ch = mem_ref(arg);
	int err;

	/* a hang-up while paused: the write reports it (not read then) */
	if (flags & (FD_WRITE | FD_EXCEPT)) {
		err = chan_flush(ch);
		if (err)
			chan_shut(ch, err);
		else if (ch->full && !chan_queued(ch))
			chan_shut(ch, ENOBUFS); /* the peer replays the rest */
		else if (!ch->closed)
			chan_update(ch);
	}
	if (!ch->closed && !ch->paused && !ch->yielded &&
	    (flags & (FD_READ | FD_EXCEPT)))
		(void)chan_read(ch);
	mem_deref(ch);
}


int chan_alloc(struct chan **chp, int fd, const char *name,
	       chan_frame_h *frameh, chan_batch_h *batchh, chan_close_h *closeh,
	       void *arg)
{
	struct chan *ch;
	int err;

	if (!chp || fd < 0 || !frameh)
		return EINVAL;
	ch = mem_zalloc(sizeof(*ch), chan_destructor);
	if (!ch)
		return ENOMEM;
	ch->fd = fd;
	ch->name = name;
	ch->frameh = frameh;
	ch->batchh = batchh;
	ch->closeh = closeh;
	ch->arg = arg;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	err = chan_update(ch);
	if (err) {
		ch->fd = -1;
		mem_deref(ch);
		return err;
	}
	*chp = ch;
	return 0;
}


int chan_connect(struct chan **chp, const char *path, const char *name,
		 chan_frame_h *frameh, chan_batch_h *batchh,
		 chan_close_h *closeh, void *arg)
{
	struct sockaddr_un sun;
	int fd, err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	err = chan_alloc(chp, fd, name, frameh, batchh, closeh, arg);
	if (err)
		close(fd);
	return err;
}


/* Write what is queued now. A write error is reported through the close
 * handler from the loop (the caller may be inside a handler of this
 * channel). @return 0, or chan_update's error */
static int chan_push(struct chan *ch)
{
	int err = chan_flush(ch);

	if (err) {
		ch->outoff = ch->outlen = 0;
		list_flush(&ch->fdq);
		ch->failed = err;
		tmr_start(&ch->tmr, 0, later_handler, ch);
		return 0;
	}
	return chan_update(ch);
}


/* Queue a frame, with f's descriptors if f is not NULL (owned from now:
 * freed on an error). */
static int chan_queue(struct chan *ch, const struct fbuf *fb,
		      struct chan_fds *f)
{
	int err = 0;

	if (!ch || ch->closed || ch->failed) {
		err = EPIPE;
		goto out;
	}
	if (ch->full) {
		err = ENOBUFS;
		goto out;
	}
	if (ch->outlen - ch->outoff + fb->len > CHAN_OUT_MAX) {
		/* never up with a frame missing: what is queued goes out,
		 * then the close makes both sides replay from the gap */
		log_warn("chan %s: %zu bytes queued, the peer does not read: "
			 "closing once they are written",
			 ch->name, chan_queued(ch));
		ch->full = true;
		err = ENOBUFS;
		goto out;
	}
	if (ch->outcap - ch->outlen < fb->len) {
		size_t cap = ch->outcap ? ch->outcap : 4096;
		uint8_t *b;
		while (cap - ch->outlen < fb->len)
			cap *= 2;
		b = realloc(ch->out, cap);
		if (!b) {
			err = ENOMEM;
			goto out;
		}
		ch->out = b;
		ch->outcap = cap;
	}
	if (f) {
		f->pos = ch->outlen;
		list_append(&ch->fdq, &f->le, f);
		f = NULL;
	}
	memcpy(ch->out + ch->outlen, fb->b, fb->len);
	ch->outlen += fb->len;
	if (hold_depth) {
		if (!ch->hle.list)
			list_append(&held, &ch->hle, ch);
		goto out;
	}
	err = chan_push(ch);
out:
	mem_deref(f);
	return err;
}


void chan_hold(void)
{
	hold_depth++;
}


void chan_release(void)
{
	struct le *le;

	if (!hold_depth || --hold_depth)
		return;
	while ((le = list_head(&held))) {
		struct chan *ch = le->data;

		list_unlink(le);
		if (!ch->closed && !ch->failed && chan_push(ch)) {
			ch->failed = EIO;
			tmr_start(&ch->tmr, 0, later_handler, ch);
		}
	}
}


int chan_send(struct chan *ch, const struct fbuf *fb)
{
	return chan_queue(ch, fb, NULL);
}


int chan_send_fds(struct chan *ch, const struct fbuf *fb, const int *fds,
		  unsigned n)
{
	struct chan_fds *f;
	int err = 0;

	if (!n)
		return chan_send(ch, fb);
	if (!fb || fb->len < FRAME_HDR_SIZE || !fds || n > FD_STORE_MAX)
		return EINVAL;
	if (!ch || ch->closed || ch->failed)
		return EPIPE;
	f = mem_zalloc(sizeof(*f), chan_fds_destructor);
	if (!f)
		return ENOMEM;
	for (; f->n < n; f->n++) {
		f->fds[f->n] = fcntl(fds[f->n], F_DUPFD_CLOEXEC, 0);
		if (f->fds[f->n] < 0) {
			err = errno;
			goto out;
		}
	}
	return chan_queue(ch, fb, f); /* f is the channel's now */
out:
	mem_deref(f);
	return err;
}


int chan_fd_take(struct chan *ch)
{
	int fd;

	if (!ch || !ch->rcount)
		return -1;
	fd = ch->rfds[ch->rhead];
	ch->rhead = (ch->rhead + 1) % CHAN_FDS_PENDING;
	ch->rcount--;
	return fd;
}


void chan_drain(struct chan *ch)
{
	if (!ch)
		return;
	mem_ref(ch); /* the close handler may free it */
	ch->draining = true;
	if (ch->yielded) {
		tmr_cancel(&ch->tmr);
		chan_hold();
		chan_dispatch(ch);
		chan_release();
	}
	while (!ch->closed && !ch->paused && chan_read(ch) > 0)
		;
	ch->draining = false;
	mem_deref(ch);
}


int chan_send_msg(struct chan *ch, struct fbuf *fb, int encode_err)
{
	int err = encode_err ? encode_err : chan_send(ch, fb);

	fbuf_reset(fb);
	return err;
}


uint16_t chan_peer_version(const struct chan *ch)
{
	return ch ? ch->peer_ver : 0;
}


size_t chan_queued(const struct chan *ch)
{
	return ch ? ch->outlen - ch->outoff : 0;
}


static void later_handler(void *arg)
{
	struct chan *ch = mem_ref(arg);

	if (ch->failed) {
		chan_shut(ch, ch->failed);
	} else {
		chan_hold();
		chan_dispatch(ch);
		chan_release();
	}
	if (!ch->closed && !ch->paused && chan_update(ch))
		chan_shut(ch, EIO);
	mem_deref(ch);
}


void chan_resume(struct chan *ch)
{
	if (!ch || ch->closed || !ch->paused)
		return;
	ch->paused = false;
	/* from the loop: the caller may be inside a handler of this chan */
	tmr_start(&ch->tmr, 0, later_handler, ch);
}


bool chan_paused(const struct chan *ch)
{
	return ch && ch->paused;
}


const char *chan_name(const struct chan *ch)
{
	return ch ? ch->name : "?";
}


void chan_set_name(struct chan *ch, const char *name)
{
	if (ch)
		ch->name = name;
}


void chan_set_user(struct chan *ch, void *user)
{
	ch->user = user;
}


void *chan_user(const struct chan *ch)
{
	return ch->user;
}


/* Reliable queue */

struct relq_ent {
	struct le le;
	uint64_t seq;
	struct fbuf fb;
};

struct relq {
	struct list ents;
	uint64_t next_seq;
	uint64_t boot;
};


static void relq_ent_destructor(void *arg)
{
	struct relq_ent *e = arg;

	list_unlink(&e->le);
	fbuf_reset(&e->fb);
}


static void relq_destructor(void *arg)
{
	struct relq *q = arg;

	list_flush(&q->ents);
}


int relq_alloc(struct relq **qp, uint64_t boot)
{
	struct relq *q = mem_zalloc(sizeof(*q), relq_destructor);

	if (!q)
		return ENOMEM;
	q->next_seq = 1;
	q->boot = boot;
	*qp = q;
	return 0;
}


static void wr64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}


int relq_push(struct relq *q, struct chan *ch, struct fbuf *fb)
{
	struct relq_ent *e;
	int err;

	err = frame_finish(fb);
	if (err)
		return err;
	e = mem_zalloc(sizeof(*e), relq_ent_destructor);
	if (!e)
		return ENOMEM;
	e->seq = q->next_seq++;
	wr64be(fb->b + 8, e->seq);
	e->fb = *fb;
	memset(fb, 0, sizeof(*fb));
	list_append(&q->ents, &e->le, e);
	if (ch)
		(void)chan_send(ch, &e->fb);
	return 0;
}


void relq_ack(struct relq *q, uint64_t seq)
{
	struct le *le;

	while ((le = list_head(&q->ents))) {
		struct relq_ent *e = le->data;
		if (e->seq > seq)
			break;
		mem_deref(e);
	}
}


int relq_send_from(struct relq *q, struct chan *ch, uint64_t seq)
{
	struct le *le = list_tail(&q->ents);
	int err = 0;

	/* the frames from seq on are the newest: back from the tail to the
	 * first of them, not forward over every unacknowledged one */
	while (le && le->prev &&
	       ((struct relq_ent *)le->prev->data)->seq >= seq)
		le = le->prev;
	for (; le && !err; le = le->next) {
		struct relq_ent *e = le->data;
		if (e->seq >= seq)
			err = chan_send(ch, &e->fb);
	}
	return err;
}


int relq_replay(struct relq *q, struct chan *ch)
{
	return relq_send_from(q, ch, 0);
}


size_t relq_count(const struct relq *q)
{
	return list_count(&q->ents);
}


uint64_t relq_boot(const struct relq *q)
{
	return q->boot;
}


int unix_listen(int *fdp, const char *path)
{
	struct sockaddr_un sun;
	int fd, err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}
