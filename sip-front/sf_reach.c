/**
 * @file sf_reach.c  Is anyone listening at a UDP destination? (RFC 3261
 *                   8.1.3.1: a transport error is reported at once.)
 *
 * The ICMP error of a datagram sent from libre's unconnected SIP socket is
 * not reported (and IP_RECVERR on it would make every later sendto fail
 * with the pending error). An empty datagram from a socket connected to
 * the destination gets it, as ECONNREFUSED, without disturbing anything:
 * SIP stacks ignore datagrams of 4 bytes or less.
 *
 * One such socket per destination, shared by every request sent there
 * within 4*T1 of the last one: a datagram per request, not a socket (a
 * socket, bind, connect and close per request were 15 % of this process's
 * CPU per call). An error fails every request still watching; the socket
 * is then dropped, and the next request opens a new one.
 */
#include <errno.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

/** A destination being watched. */
struct reach {
	struct le he;
	struct sa dst;
	struct udp_sock *us; /**< connected to dst */
	struct list watches; /**< sf_reach_watch, oldest first */
	struct tmr idle;     /**< 4*T1 after the last datagram */
	struct hash *owner;
};

struct sf_reach_watch {
	struct le le;
	struct reach *r; /**< NULL once the watch ended */
	sf_unreach_h *h;
	void *arg;
};


static void watch_destructor(void *arg)
{
	struct sf_reach_watch *w = arg;

	list_unlink(&w->le);
}


static void reach_destructor(void *arg)
{
	struct reach *r = arg;
	struct le *le;

	tmr_cancel(&r->idle);
	hash_unlink(&r->he);
	while ((le = list_head(&r->watches))) {
		struct sf_reach_watch *w = le->data;
		list_unlink(le);
		w->r = NULL;
	}
	mem_deref(r->us);
}


static void recv_handler(const struct sa *src, struct mbuf *mb, void *arg)
{
}


/* Nothing listens at dst: every request watching fails, once. */
static void error_handler(int err, void *arg)
{
	struct reach *r = mem_ref(arg);
	struct le *le;

	hash_unlink(&r->he); /* the next request opens a new socket */
	while ((le = list_head(&r->watches))) {
		struct sf_reach_watch *w = le->data;
		list_unlink(le);
		w->r = NULL;
		w->h(err, w->arg); /* may mem_deref w */
	}
	mem_deref(r); /* ours */
	mem_deref(r); /* the table's */
}


/* No error within 4*T1 of the last datagram: the watches end quietly. */
static void idle_handler(void *arg)
{
	mem_deref(arg);
}


static bool reach_match(struct le *le, void *arg)
{
	return sa_cmp(&((struct reach *)le->data)->dst, arg, SA_ALL);
}


static int reach_open(struct reach **rp, struct hash *tab, const struct sa *dst)
{
	struct reach *r = mem_zalloc(sizeof(*r), reach_destructor);
	struct sa any;
	int err;

	if (!r)
		return ENOMEM;
	r->dst = *dst;
	tmr_init(&r->idle);
	sa_init(&any, sa_af(dst));
	err = udp_listen(&r->us, &any, recv_handler, r);
	if (!err)
		err = udp_connect(r->us, dst);
	if (err) {
		mem_deref(r);
		return err;
	}
	udp_error_handler_set(r->us, error_handler);
	hash_append(tab, sa_hash(dst, SA_ALL), &r->he, r);
	*rp = r;
	return 0;
}


/* The reach of dst: the one watched, or a new one. */
static int reach_get(struct reach **rp, struct sip_front *sf,
		     const struct sa *dst)
{
	*rp = list_ledata(hash_lookup(sf->reach, sa_hash(dst, SA_ALL),
				      reach_match, (void *)dst));
	return *rp ? 0 : reach_open(rp, sf->reach, dst);
}


int sf_reach_watch(struct sf_reach_watch **wp, struct sip_front *sf,
		   const struct sa *dst, sf_unreach_h *h, void *arg)
{
	struct reach *r;
	struct sf_reach_watch *w;
	struct mbuf *mb;
	int err;

	if (!wp || !sf || !dst || !h)
		return EINVAL;
	if ((err = reach_get(&r, sf, dst)))
		return err;
	mb = mbuf_alloc(1);
	w = mem_zalloc(sizeof(*w), watch_destructor);
	if (!mb || !w) {
		err = ENOMEM;
		goto out;
	}
	err = udp_send(r->us, dst, mb);
	if (err == ECONNREFUSED) {
		/* the error of an earlier datagram, taken by this send (the
		 * read handler will not see it): it fails the requests that
		 * were watching; this one starts over on a new socket (the
		 * destination may be listening again by now) */
		error_handler(err, r);
		if ((err = reach_get(&r, sf, dst)))
			goto out;
		err = udp_send(r->us, dst, mb);
	}
	if (err)
		goto out;
	w->r = r;
	w->h = h;
	w->arg = arg;
	list_append(&r->watches, &w->le, w);
	/* an ICMP error comes within a round trip; sockets are few */
	tmr_start(&r->idle, 4 * T1_OF(sf), idle_handler, r);
	*wp = w;
	w = NULL;
out:
	if (err && r && list_isempty(&r->watches))
		mem_deref(r);
	mem_deref(w);
	mem_deref(mb);
	return err;
}


void sf_reach_flush(struct sip_front *sf)
{
	hash_flush(sf->reach); /* the table holds one reference each */
}
