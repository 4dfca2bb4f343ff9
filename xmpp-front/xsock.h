/**
 * @file xsock.h  The component socket as the kernel counts it.
 *
 * A stream position is a count of bytes since the connection began, as
 * the kernel keeps it for the socket itself, so it is the same number in
 * every process that holds the descriptor: a restarted front learns from
 * the kernel how far its predecessor read (consumed) and wrote.
 */
#ifndef XSGW_XSOCK_H
#define XSGW_XSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * Bytes taken out of the receive queue so far (TCP_INFO bytes_received
 * less SIOCINQ, read consistently while data arrives).
 * @return 0 or errno
 */
int xsock_consumed(int fd, uint64_t *offp);

/**
 * Bytes handed to the kernel for sending so far (TCP_INFO bytes_acked
 * plus SIOCOUTQ, read consistently while acknowledgements arrive).
 * @return 0 or errno
 */
int xsock_written(int fd, uint64_t *offp);

/**
 * Read-ahead without consuming: start peeking at the first unconsumed
 * byte again (SO_PEEK_OFF 0). Kernels without a TCP peek offset (before
 * Linux 6.10) are handled by xsock_peek re-reading from the start.
 * @return true if the kernel keeps the peek offset
 */
bool xsock_peek_reset(int fd);

/** Bytes a peek can skip without a kernel peek offset (xsock_peek). */
enum { XSOCK_SKIP_MAX = 1024 * 1024 };

/**
 * Copy up to len bytes that follow the skip bytes already peeked (skip
 * is ignored when the kernel keeps the peek offset) without consuming
 * them. @return bytes copied, 0 at EOF, -1 with errno (EAGAIN: none yet)
 */
ssize_t xsock_peek(int fd, bool kernel_off, size_t skip, char *buf, size_t len);

/**
 * Consume (drop) n bytes from the front of the receive queue, in one
 * call; they have been peeked before. @return 0 or errno
 */
int xsock_consume(int fd, size_t n);

/**
 * Be woken only when at least n bytes wait (SO_RCVLOWAT; EOF still wakes):
 * with n one more than what is peeked already, peeked bytes waiting for
 * their commit do not keep the socket readable. The kernel also grows the
 * receive buffer to hold n. @return 0 or errno
 */
int xsock_lowat(int fd, size_t n);

/**
 * No Nagle on the stream: a stanza is written whole (xmpp_front.c), so
 * holding its last segment back until the server's delayed ACK (40 ms)
 * only adds latency to every call and message.
 * @return 0 or errno
 */
int xsock_nodelay(int fd);

/**
 * A receive buffer of n bytes (SO_RCVBUFFORCE where allowed, else
 * SO_RCVBUF, capped by net.core.rmem_max). Bytes that are only peeked
 * stay charged to the buffer with their whole kernel allocation: a few
 * hundred bytes of a partial stanza left in a large segment once pinned
 * 128 KiB (the default), closed the window (below one MSS of room) and
 * the rest of the stanza could never arrive. A buffer far above one
 * stanza's worth keeps the window open.
 * @return 0 or errno
 */
int xsock_rcvbuf(int fd, int n);

/**
 * Free room in the send buffer, in payload bytes (SO_SNDBUF less
 * SIOCOUTQ); 0 when it is full. emptyp: nothing waits in it.
 * @return 0 or errno
 */
int xsock_room(int fd, size_t *roomp, bool *emptyp);

/** True while data may still come: established, or closed by the peer
 *  with bytes left to read (TCP_INFO state). */
bool xsock_alive(int fd);

#endif
