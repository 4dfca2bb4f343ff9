/**
 * @file xsock.c  Kernel counters and peeking of the component socket.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h> /* glibc's tcp_info lacks the byte counters */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "xsock.h"

#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif

/* tcpi_state values (the kernel's tcp_states.h) */
enum {
	ST_ESTABLISHED = 1,
	ST_CLOSE_WAIT = 8,
	ST_LAST_ACK = 9,
	ST_CLOSING = 11
};


static int tcp_info_get(int fd, struct tcp_info *ti)
{
	socklen_t l = sizeof(*ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &l))
		return errno;
	return 0;
}


int xsock_consumed(int fd, uint64_t *offp)
{
	struct tcp_info a, b;
	int inq, err;

	/* inq read between two equal bytes_received belongs to them */
	for (int i = 0; i < 1000; i++) {
		err = tcp_info_get(fd, &a);
		if (!err && ioctl(fd, SIOCINQ, &inq))
			err = errno;
		if (!err)
			err = tcp_info_get(fd, &b);
		if (err)
			return err;
		if (a.tcpi_bytes_received == b.tcpi_bytes_received) {
			/* the peer's FIN is counted as received, not as
			 * queued */
			bool fin = a.tcpi_state == ST_CLOSE_WAIT ||
				   a.tcpi_state == ST_LAST_ACK ||
				   a.tcpi_state == ST_CLOSING;
			*offp = a.tcpi_bytes_received - (uint64_t)inq - fin;
			return 0;
		}
	}
	return EAGAIN;
}


int xsock_written(int fd, uint64_t *offp)
{
	struct tcp_info ti;
	int o1, o2, err;

	/* bytes_acked read between two equal queue sizes belongs to them */
	for (int i = 0; i < 1000; i++) {
		if (ioctl(fd, SIOCOUTQ, &o1))
			return errno;
		err = tcp_info_get(fd, &ti);
		if (err)
			return err;
		if (ioctl(fd, SIOCOUTQ, &o2))
			return errno;
		if (o1 == o2) {
			*offp = ti.tcpi_bytes_acked + (uint64_t)o1;
			return 0;
		}
	}
	return EAGAIN;
}


bool xsock_peek_reset(int fd)
{
	int off = 0;

	return !setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
}


ssize_t xsock_peek(int fd, bool kernel_off, size_t skip, char *buf, size_t len)
{
	static char scratch[1 << 20];
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	if (kernel_off)
		return recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
	/* no peek offset: read the skipped bytes again into scratch */
	if (skip > sizeof(scratch)) {
		errno = ENOBUFS;
		return -1;
	}
	iov[0].iov_base = scratch;
	iov[0].iov_len = skip;
	iov[1].iov_base = buf;
	iov[1].iov_len = len;
	n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return n;
	if ((size_t)n <= skip) {
		if (n == 0)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	return n - (ssize_t)skip;
}


int xsock_consume(int fd, size_t n)
{
	char sink[1];
	long r;

	/* one call, whatever n: a kill cannot stop it half way. MSG_TRUNC:
	 * TCP drops the bytes without copying them (the raw syscall: a
	 * sanitizer's recv() would take sink for n bytes long) */
	do
		r = syscall(SYS_recvfrom, fd, sink, n, MSG_TRUNC | MSG_DONTWAIT,
			    NULL, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	return (size_t)r == n ? 0 : EPIPE;
}


int xsock_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return errno;
	return 0;
}


int xsock_rcvbuf(int fd, int n)
{
	if (!setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof(n)))
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n)))
		return errno;
	return 0;
}


int xsock_lowat(int fd, size_t n)
{
	int v = n > INT_MAX ? INT_MAX : (int)n;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)))
		return errno;
	return 0;
}


int xsock_room(int fd, size_t *roomp, bool *emptyp)
{
	socklen_t l = sizeof(int);
	int sz, outq;

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, &l))
		return errno;
	if (ioctl(fd, SIOCOUTQ, &outq))
		return errno;
	/* the kernel doubles SO_SNDBUF for its bookkeeping */
	sz /= 2;
	*roomp = outq < sz ? (size_t)(sz - outq) : 0;
	*emptyp = outq == 0;
	return 0;
}


bool xsock_alive(int fd)
{
	struct tcp_info ti;

	return !tcp_info_get(fd, &ti) && (ti.tcpi_state == ST_ESTABLISHED ||
					  ti.tcpi_state == ST_CLOSE_WAIT);
}
