/**
 * @file chan.h  A framed channel over a Unix stream socket, driven by the
 *               libre loop (our mproc). Every byte read is a frame or the
 *               channel is closed. A frame may carry descriptors
 *               (chan_send_fds, chan_fd_take).
 */
#ifndef XSGW_CHAN_H
#define XSGW_CHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "frame.h"
#include "msg.h"

struct chan;

/** A frame handler's answer: not now (see chan_frame_h). */
enum { CHAN_PAUSE = -1 };

/**
 * A complete frame arrived.
 * @return 0 if handled; CHAN_PAUSE if the receiver has no room for it:
 *         the frame and everything after it stay unread until
 *         chan_resume() (backpressure: the peer's queue fills, nothing is
 *         lost); any other error closes the channel (protocol violation).
 */
typedef int(chan_frame_h)(struct chan *ch, struct frame *fr, void *arg);
/** The frames of one read are dispatched (group-commit point). */
typedef void(chan_batch_h)(struct chan *ch, void *arg);
/**
 * The channel is closed (EOF, I/O error or protocol violation).
 * The owner may mem_deref(ch) here; the channel is not touched after.
 */
typedef void(chan_close_h)(struct chan *ch, int err, void *arg);

/**
 * Wrap a connected socket.
 * @param chp     the new channel (mem_deref closes the fd)
 * @param fd      connected stream socket; owned by the channel from now
 * @param name    peer name for logs (static string)
 * @return 0 or ENOMEM/EINVAL
 */
int chan_alloc(struct chan **chp, int fd, const char *name,
	       chan_frame_h *frameh, chan_batch_h *batchh, chan_close_h *closeh,
	       void *arg);

/**
 * Connect to a Unix socket path and wrap it.
 * @return 0, or the connect errno (ENOENT, ECONNREFUSED, ...)
 */
int chan_connect(struct chan **chp, const char *path, const char *name,
		 chan_frame_h *frameh, chan_batch_h *batchh,
		 chan_close_h *closeh, void *arg);

/**
 * Queue a finished frame (frame_finish done) for sending.
 *
 * Past the queue limit (64 MiB) the frame is refused, and so is every later
 * one: the channel writes what it holds and then closes (close handler,
 * err ENOBUFS, from the loop). A channel never drops a frame and stays up,
 * so the peers' reconnect replays what was refused (relq on one side, the
 * outbox on the other); no frame overtakes a refused one.
 * @return 0, or EPIPE if the channel is closed, ENOBUFS if refused
 */
int chan_send(struct chan *ch, const struct fbuf *fb);

/**
 * Hold every channel's writes until the matching chan_release() (nested
 * pairs: the outermost release writes). Frames queued meanwhile keep their
 * order on each channel and go out in one write per channel, not one per
 * frame. A channel's own read holds around its dispatch (with its batch
 * handler); an input handler that queues several frames from one read
 * (a front's stream) holds around it. Never across a return to the loop.
 */
void chan_hold(void);
/** End a chan_hold(); the outermost writes what the channels hold. */
void chan_release(void);

/**
 * Queue a finished frame that carries descriptors (SCM_RIGHTS): the peer
 * receives them with the frame's first byte, once, in order with every
 * other frame (see chan_fd_take).
 *
 * The descriptors are duplicated now (close-on-exec): the caller keeps its
 * own. The duplicates are closed once sent, or when the channel closes
 * first. n 0 is chan_send(). Limits and errors are chan_send's.
 * @param fds  n open descriptors
 * @param n    0..FD_STORE_MAX (msg.h)
 * @return 0, EINVAL (n over FD_STORE_MAX), EBADF (not a descriptor),
 *         EMFILE, ENOMEM, or chan_send's errors
 */
int chan_send_fds(struct chan *ch, const struct fbuf *fb, const int *fds,
		  unsigned n);

/**
 * Take the oldest descriptor received on the channel.
 *
 * Descriptors arrive with the first byte of the frame that carries them, so
 * they are here by the time that frame reaches the frame handler, which
 * takes as many as the frame says (the protocol's business: the channel
 * does not know which frame carries how many). They are close-on-exec.
 *
 * A read whose descriptors did not fit (more than FD_STORE_MAX in one
 * frame: MSG_CTRUNC), or more than CHAN_FDS_PENDING left untaken, closes
 * the channel (EBADMSG, a protocol violation). Descriptors not taken are
 * closed with the channel.
 * @return a descriptor the caller now owns, or -1 if none is waiting
 */
int chan_fd_take(struct chan *ch);

/** Received descriptors a channel keeps untaken, at most. */
enum { CHAN_FDS_PENDING = 2 * FD_STORE_MAX };

/**
 * Read and dispatch, now, what the peer left in the socket: the peer has
 * exited and its last frames (with their descriptors) would otherwise be
 * dropped with the channel. Stops when nothing more is readable, at EOF
 * (the close handler runs) or at a pause.
 */
void chan_drain(struct chan *ch);

/**
 * Send a frame a msg_enc_* call just wrote, then reset fb:
 * chan_send_msg(ch, &fb, msg_enc_ack(&fb, &m)).
 * @return encode_err if set, else chan_send's result
 */
int chan_send_msg(struct chan *ch, struct fbuf *fb, int encode_err);

/**
 * The frame version of a peer refused for speaking another one (the close
 * handler's err is EPROTO then), else 0.
 */
uint16_t chan_peer_version(const struct chan *ch);

/** Bytes waiting to be written. */
size_t chan_queued(const struct chan *ch);

/**
 * Read again after a frame handler returned CHAN_PAUSE: the frames kept
 * are dispatched from the loop, then reading goes on. No-op otherwise.
 */
void chan_resume(struct chan *ch);

/** True while reading is paused (a handler returned CHAN_PAUSE). */
bool chan_paused(const struct chan *ch);

/** Peer name given at allocation. */
const char *chan_name(const struct chan *ch);

/** Change the peer name (after HELLO). */
void chan_set_name(struct chan *ch, const char *name);

/** Opaque user slot. */
void chan_set_user(struct chan *ch, void *user);
void *chan_user(const struct chan *ch);

/**
 * Reliable frames: kept until the peer acknowledges their seq (MSG_ACK,
 * cumulative) and replayed on a new channel after a reconnect.
 */
struct relq;

/** @param boot  sender's boot id, sent in HELLO so the peer can de-dup */
int relq_alloc(struct relq **qp, uint64_t boot);
/**
 * Assign the next seq to a frame begun with seq 0, keep it, and send it on
 * ch if ch is not NULL.
 * @return 0 or ENOMEM (a send error is not an error: a frame the channel
 *         refused is replayed after the reconnect its refusal forces)
 */
int relq_push(struct relq *q, struct chan *ch, struct fbuf *fb);
/** Drop frames up to and including seq. */
void relq_ack(struct relq *q, uint64_t seq);
/** Send every kept frame on ch, in order; stops at the first refusal. */
int relq_replay(struct relq *q, struct chan *ch);
/** The same for the kept frames from seq on (those pushed with ch NULL). */
int relq_send_from(struct relq *q, struct chan *ch, uint64_t seq);
/** Frames kept. */
size_t relq_count(const struct relq *q);
uint64_t relq_boot(const struct relq *q);

/** Create a listening Unix socket at path (unlinked first, mode 0600). */
int unix_listen(int *fdp, const char *path);

#endif
