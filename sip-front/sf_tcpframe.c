/**
 * @file sf_tcpframe.c  SIP over TCP, framed as libre 1.1.0 frames it.
 *
 * libre's SIP transport (src/sip/transp.c tcp_recv_handler) reads a TCP
 * stream into one buffer: CRLF pairs between messages are keep-alives; a
 * message is a header section sip_msg_decode() accepts and Content-Length
 * bytes of body. It ends the connection, unanswered, for a header section
 * it cannot decode or without Content-Length, and when more than 64 KiB
 * are buffered. This framer reads the stream first, with the same parser,
 * and holds each header section until it is whole: a message within
 * SF_TCP_MSG_MAX is passed on byte for byte; one libre would fail on is
 * stopped, with its header section for an answer (sf_tcp.c).
 *
 * A held header section grows in place and is decoded only once a blank
 * line may have arrived (libre's end of headers: LF, any CRs, LF, after
 * the start line); each read is scanned once, so a section sent a byte at
 * a time costs linear time, not quadratic.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "sip_front.h"


void sf_tcpframe_init(struct sf_tcpframe *f, sf_tcpframe_drop_h *droph,
		      void *arg)
{
	memset(f, 0, sizeof(*f));
	f->st = SF_TCPF_HEAD;
	f->droph = droph;
	f->arg = arg;
}


void sf_tcpframe_reset(struct sf_tcpframe *f)
{
	f->hold = mem_deref(f->hold);
	f->rem = 0;
	f->seen = 0;
	f->lf1 = 0;
	f->st = SF_TCPF_HEAD;
}


/* True if p[from..n) holds the LF that ends a header section: one whose
 * nearest byte before it other than CR is an LF after the start line's
 * (libre's parser reads the header lines after the first LF; an empty
 * line right after the start line may be folded into the next).
 * *lf1: 1 + the offset of p's first LF, found here once (0: not yet). */
static bool head_may_end(const uint8_t *p, size_t from, size_t n, size_t *lf1)
{
	if (!*lf1) {
		const uint8_t *e = memchr(p + from, '\n', n - from);

		if (!e)
			return false;
		*lf1 = (size_t)(e - p) + 1;
	}
	for (size_t i = from; i < n; i++) {
		size_t j = i;

		if (p[i] != '\n')
			continue;
		while (j > 0 && p[j - 1] == '\r')
			j--;
		if (j > 1 && p[j - 1] == '\n' && j - 1 > *lf1 - 1)
			return true;
	}
	return false;
}


/* The stream cannot be framed past this message: nothing more is passed
 * on. */
static void drain(struct sf_tcpframe *f, enum sf_tcp_drop why, struct pl *head)
{
	const char *e = memmem(head->p, head->l, "\r\n\r\n", 4);

	if (e)
		head->l = (size_t)(e - head->p) + 2;
	f->st = SF_TCPF_DRAIN;
	f->droph(why, head, f->arg);
}


/* Keep the rest of cur: a header section not yet whole. cur is the held
 * buffer itself when it grew (kept, not copied) or the read. */
static int hold(struct sf_tcpframe *f, struct mbuf *cur, bool own)
{
	const size_t left = mbuf_get_left(cur);

	if (own) {
		if (cur->pos) {
			memmove(cur->buf, mbuf_buf(cur), left);
			cur->end = left;
			cur->pos = 0;
		}
		f->hold = mem_ref(cur);
	} else {
		f->hold = mbuf_alloc(left < 1024 ? 1024 : left);
		if (!f->hold)
			return ENOMEM;
		(void)mbuf_write_mem(f->hold, mbuf_buf(cur), left);
		f->hold->pos = 0;
	}
	f->seen = left;
	cur->pos = cur->end;
	return 0;
}


/* The message at cur's pos: its header section passed on, stopped, or
 * held (cur all read then; own: cur is the held buffer, kept). Keep-alives
 * before it are passed on. */
static int head_read(struct sf_tcpframe *f, struct mbuf *cur, bool own,
		     struct mbuf *out)
{
	struct sip_msg *msg = NULL;
	struct pl head;
	size_t start, left, hlen;
	int err = 0;

	/* CRLF pairs between messages: keep-alives (RFC 5626 3.5.1) */
	while (mbuf_get_left(cur) >= 2 && !memcmp(mbuf_buf(cur), "\r\n", 2)) {
		err = mbuf_write_mem(out, mbuf_buf(cur), 2);
		if (err)
			return err;
		cur->pos += 2;
		f->seen = 0;
		f->lf1 = 0;
	}
	start = cur->pos;
	left = mbuf_get_left(cur);
	if (!left)
		return 0;
	head.p = (const char *)mbuf_buf(cur);
	head.l = left;
	if (!head_may_end(mbuf_buf(cur), f->seen < left ? f->seen : 0, left,
			  &f->lf1))
		err = EAGAIN;
	else if ((err = sip_msg_decode(&msg, cur)) == ENODATA)
		err = EBADMSG; /* whole, yet never decodable (start line) */
	if (err == EAGAIN && left <= SF_TCP_MSG_MAX)
		return hold(f, cur, own);
	f->seen = 0;
	f->lf1 = 0;
	if (err == EAGAIN) {
		drain(f, SF_TCP_HEAD_LARGE, &head);
		return 0;
	}
	if (err == ENOMEM)
		return err;
	if (err) {
		drain(f, SF_TCP_BAD, &head);
		return 0;
	}
	hlen = cur->pos - start;
	head.l = hlen;
	if (!msg->clen.p) {
		mem_deref(msg);
		cur->pos = start;
		drain(f, SF_TCP_NO_LENGTH, &head);
		return 0;
	}
	f->rem = pl_u32(&msg->clen);
	mem_deref(msg);
	if (hlen + f->rem > SF_TCP_MSG_MAX) {
		f->st = SF_TCPF_SKIP;
		f->droph(SF_TCP_TOO_LARGE, &head, f->arg);
	} else {
		err = mbuf_write_mem(out, mbuf_buf(cur) - hlen, hlen);
		f->st = SF_TCPF_BODY;
	}
	if (!f->rem)
		f->st = SF_TCPF_HEAD;
	return err;
}


int sf_tcpframe_feed(struct sf_tcpframe *f, struct mbuf *in, struct mbuf *out)
{
	struct mbuf *cur = in;
	size_t k;
	int err = 0;

	if (f->hold) { /* the held header section, and what follows it */
		cur = f->hold;
		f->hold = NULL;
		cur->pos = cur->end;
		err = mbuf_write_mem(cur, mbuf_buf(in), mbuf_get_left(in));
		cur->pos = 0;
		in->pos = in->end;
	}
	while (!err && mbuf_get_left(cur)) {
		k = MIN(f->rem, mbuf_get_left(cur));
		switch (f->st) {
		case SF_TCPF_BODY:
			err = mbuf_write_mem(out, mbuf_buf(cur), k);
			/* fall through */
		case SF_TCPF_SKIP:
			cur->pos += k;
			f->rem -= k;
			if (!f->rem)
				f->st = SF_TCPF_HEAD;
			break;
		case SF_TCPF_DRAIN:
			cur->pos = cur->end;
			break;
		case SF_TCPF_HEAD:
			err = head_read(f, cur, cur != in, out);
			break;
		}
	}
	if (cur != in)
		mem_deref(cur);
	return err;
}
