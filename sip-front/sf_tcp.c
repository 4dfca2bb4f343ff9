/**
 * @file sf_tcp.c  The TCP guard: a request libre 1.1.0 would end its TCP
 *                 connection for gets an answer instead.
 *
 * libre's SIP transport closes a TCP connection, unanswered, when a
 * request is too large (over 64 KiB buffered), undecodable or without
 * Content-Length. RFC 3261 wants 413 (21.4.11) and 400, RFC 4475 3.1.2
 * too. The connection object is private to libre (struct sip_conn), so
 * the guard goes on below it: this program defines tcp_accept(), the
 * dynamic linker binds libre's own call to it (the Makefile exports the
 * symbol; lint's check-symbols allows this one), and it calls libre's
 * through dlsym(RTLD_NEXT) and puts a TCP helper on the new connection.
 * The helper runs each read through the framer (sf_tcpframe.c) and hands
 * libre what the framer passes on.
 *
 * Answers: 413 to a request over SF_TCP_MSG_MAX (its body is skipped and
 * the connection goes on); 400 (505 for another SIP version) to one libre
 * cannot decode or without Content-Length: the stream cannot be framed
 * past it, so what arrives after it is discarded until the peer closes
 * (or libre's idle timer ends the connection). The connection stays open
 * for the answers still owed to the requests before it. ACKs, responses
 * and sources outside sip.trusted get no answer.
 *
 * A guard lives in a table by file descriptor: libre frees the helper
 * with its connection and tells nobody, so the guard of a descriptor is
 * reset when the descriptor is accepted again (a live connection's
 * descriptor is never reused), and its held bytes are freed when libre's
 * close handler runs (the guard wraps it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

enum {
	GUARD_LAYER = -1000, /**< before any other helper of libre's */
	FD_MAX = 1 << 20,    /**< far above any RLIMIT_NOFILE here */
};

/** One accepted connection's guard. */
struct guard {
	struct tcp_conn *tc;   /**< libre's; alive while its fd is open */
	struct tcp_helper *th; /**< owned by tc */
	struct sf_tcpframe frame;
	struct sa peer;
	int fd;
	void *conn;          /**< libre's argument for its handlers */
	tcp_close_h *closeh; /**< libre's close handler (wrapped) */
};

typedef int(tcp_accept_f)(struct tcp_conn **, struct tcp_sock *, tcp_estab_h *,
			  tcp_recv_h *, tcp_close_h *, void *);

static struct {
	struct sip_front *sf;
	struct guard **byfd;
	size_t nfd;
} tg;


static const char *drop_name(enum sf_tcp_drop why)
{
	switch (why) {
	case SF_TCP_TOO_LARGE:
		return "too large";
	case SF_TCP_HEAD_LARGE:
		return "header section too large";
	case SF_TCP_BAD:
		return "undecodable";
	case SF_TCP_NO_LENGTH:
		return "no Content-Length";
	}
	return "?";
}


/* The framer stopped a message: answer it if it is a request we answer,
 * and shut our side when the stream cannot go on. */
static void guard_drop_handler(enum sf_tcp_drop why, const struct pl *head,
			       void *arg)
{
	struct guard *g = arg;
	struct mbuf *resp = NULL;
	const bool resp_in = head->l >= 4 && !memcmp(head->p, "SIP/", 4);
	const bool ack = head->l >= 4 && !memcmp(head->p, "ACK ", 4);
	const bool trusted = sf_strans_trusted(tg.sf, &g->peer);

	if (!resp_in && !ack && trusted)
		resp = why == SF_TCP_TOO_LARGE || why == SF_TCP_HEAD_LARGE
			       ? sf_strans_raw_answer(
					 head, 413, "Request Entity Too Large")
		       : why == SF_TCP_NO_LENGTH
			       ? sf_strans_raw_answer(head, 400,
						      "Missing Content-Length")
			       : sf_strans_raw_answer(head, 0, NULL);
	LOG_LIMITED(LOG_INFO, "TCP %J: %s %s%s", &g->peer,
		    resp_in ? "response"
		    : ack   ? "ACK"
			    : "request",
		    drop_name(why),
		    resp             ? ", answered"
		    : !trusted       ? " (untrusted source)"
		    : resp_in || ack ? ""
				     : " (no Via: unanswered)");
	if (resp && tcp_send(g->tc, resp))
		LOG_LIMITED(LOG_WARN, "TCP %J: answer not sent", &g->peer);
	mem_deref(resp);
}


/* Each read, before libre's SIP transport: what the framer passes on
 * replaces it. */
static bool guard_recv_handler(int *err, struct mbuf *mb, bool *estab,
			       void *arg)
{
	struct guard *g = arg;
	struct mbuf *out = mbuf_alloc(mbuf_get_left(mb) + 64);

	if (!out || sf_tcpframe_feed(&g->frame, mb, out)) {
		*err = ENOMEM;
		mem_deref(out);
		return true;
	}
	mb->pos = 0;
	mb->end = 0;
	*err = mbuf_write_mem(mb, out->buf, out->end);
	mb->pos = 0;
	mem_deref(out);
	return *err != 0;
}


static struct guard *guard_for(int fd)
{
	struct guard **t;
	size_t n;

	if (fd < 0 || fd >= FD_MAX)
		return NULL;
	if ((size_t)fd >= tg.nfd) {
		n = (size_t)fd + 64;
		t = tg.byfd ? mem_realloc(tg.byfd, n * sizeof(*t))
			    : mem_zalloc(n * sizeof(*t), NULL);
		if (!t)
			return NULL;
		memset(t + tg.nfd, 0, (n - tg.nfd) * sizeof(*t));
		tg.byfd = t;
		tg.nfd = n;
	}
	if (!tg.byfd[fd]) {
		tg.byfd[fd] = mem_zalloc(sizeof(struct guard), NULL);
		if (!tg.byfd[fd])
			return NULL;
		sf_tcpframe_init(&tg.byfd[fd]->frame, guard_drop_handler,
				 tg.byfd[fd]);
	}
	sf_tcpframe_reset(&tg.byfd[fd]->frame); /* a closed connection's */
	return tg.byfd[fd];
}


/* libre's close handler, after the guard has let go of its bytes. */
static void guard_close_handler(int err, void *arg)
{
	for (size_t i = 0; i < tg.nfd; i++) {
		struct guard *g = tg.byfd[i];

		if (g && g->conn == arg && g->closeh) {
			tcp_close_h *ch = g->closeh;

			sf_tcpframe_reset(&g->frame);
			g->conn = NULL;
			g->closeh = NULL;
			ch(err, arg);
			return;
		}
	}
}


/* @return false: no guard (ENOMEM; libre's handlers are to be restored) */
static bool guard_attach(struct tcp_conn *tc, void *conn, tcp_close_h *closeh)
{
	struct guard *g = guard_for(tcp_conn_fd(tc));

	if (!g) {
		log_warn("TCP: no guard for a connection (ENOMEM)");
		return false;
	}
	g->tc = tc;
	g->fd = tcp_conn_fd(tc);
	g->conn = conn;
	g->closeh = closeh;
	(void)tcp_conn_peer_get(tc, &g->peer);
	if (tcp_register_helper(&g->th, tc, GUARD_LAYER, NULL, NULL,
				guard_recv_handler, g))
		log_warn("TCP %J: no guard (ENOMEM)", &g->peer);
	return true;
}


/* libre's own calls come here (see the file comment). */
int tcp_accept(struct tcp_conn **tcp, struct tcp_sock *ts, tcp_estab_h *eh,
	       tcp_recv_h *rh, tcp_close_h *ch, void *arg)
{
	static tcp_accept_f *next;
	int err;

	if (!next)
		next = (tcp_accept_f *)dlsym(RTLD_NEXT, "tcp_accept");
	if (!next)
		return ENOSYS;
	if (!tg.sf)
		return next(tcp, ts, eh, rh, ch, arg);
	err = next(tcp, ts, eh, rh, ch ? guard_close_handler : NULL, arg);
	if (!err && !guard_attach(*tcp, arg, ch))
		tcp_set_handlers(*tcp, eh, rh, ch, arg);
	return err;
}


int sf_tcp_init(struct sip_front *sf)
{
	/* not exported: libre binds its call to its own */
	if (dlsym(RTLD_DEFAULT, "tcp_accept") != (void *)tcp_accept)
		return ENOSYS;
	tg.sf = sf;
	return 0;
}


void sf_tcp_close(void)
{
	for (size_t i = 0; i < tg.nfd; i++) {
		if (tg.byfd[i])
			sf_tcpframe_reset(&tg.byfd[i]->frame);
		mem_deref(tg.byfd[i]);
	}
	tg.byfd = mem_deref(tg.byfd);
	tg.nfd = 0;
	tg.sf = NULL;
}
