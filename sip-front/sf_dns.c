/**
 * @file sf_dns.c  Host names of next hops (RFC 3263 4.2, without NAPTR):
 *                 /etc/hosts, then DNS — with no port, SRV
 *                 _sip._udp/_sip._tcp, then A, then AAAA — and a bounded
 *                 cache of the answers for as long as their TTL.
 *
 * A numeric host never gets here. Every request for a name being resolved
 * waits on the same lookup (one DNS query at a time per name). Nothing is
 * kept a restart would need: a restarted sip-front asks again.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "resolv.h"
#include "sip_front.h"

enum {
	CACHE_MAX = 1024, /* names kept; the oldest answered go first */
	PENDING_MAX = 64, /* names being resolved at once */
	STAGE_MS = 5000,  /* one query (SRV, A, AAAA) is given up then */
	SRV_MAX = 8,      /* SRV targets tried in turn */
	TTL_MAX_S = 3600, /* an answer is asked again after this at most */
	NEG_TTL_S = 10,   /* a name that did not resolve: asked again then */
};

/** One name (with a port, or the transport for SRV), resolving or not. */
struct dent {
	struct le he;  /**< in dns->cache */
	struct le le;  /**< in dns->order, oldest first */
	char *key;     /**< "host:port" or "host;udp|tcp" (no port) */
	char *host;    /**< the name asked */
	char *target;  /**< what is asked now: host or an SRV target */
	uint16_t port; /**< 0 while SRV is asked */
	enum sip_transp tp;
	enum { D_SRV, D_A, D_AAAA, D_DONE } st;
	struct sa sa;        /**< D_DONE and !err: the answer */
	int err;             /**< D_DONE: 0 or why not */
	int64_t ttl;         /**< the least TTL of the records used */
	uint64_t expires;    /**< D_DONE: tmr_jiffies() of its end */
	struct dns_query *q; /**< libre's, while one is out */
	struct tmr tmr;      /**< bounds q (libre alone retries for a minute) */
	struct {
		char *target;
		uint16_t port;
	} srv[SRV_MAX];      /**< SRV targets in RFC 2782 order */
	unsigned nsrv, isrv; /**< how many; the one tried now */
	struct list waiters; /**< struct sf_dns_query */
	struct sf_dns *dns;
};

struct sf_dns_query {
	struct le le; /**< in its dent's waiters */
	sf_dns_h *h;
	void *arg;
};

struct sf_dns {
	struct resolv *res; /**< the hosts file and the DNS client */
	struct dnsc *dnsc;  /**< res's; NULL: no DNS server known */
	struct hash *cache;
	struct list order;
	uint32_t n;       /**< names in the cache */
	uint32_t pending; /**< of them being resolved */
};


static void query_destructor(void *arg)
{
	struct sf_dns_query *w = arg;

	list_unlink(&w->le);
}


/* Out of the cache (freed once no dent_done holds it). */
static void dent_unlink(struct dent *e)
{
	hash_unlink(&e->he);
	list_unlink(&e->le);
	if (e->dns) {
		e->dns->n--;
		if (e->st != D_DONE)
			e->dns->pending--;
	}
	e->dns = NULL;
}


static void dent_drop(struct dent *e)
{
	dent_unlink(e);
	mem_deref(e);
}


static void dent_destructor(void *arg)
{
	struct dent *e = arg;

	tmr_cancel(&e->tmr);
	mem_deref(e->q);
	dent_unlink(e);
	mem_deref(e->key);
	mem_deref(e->host);
	mem_deref(e->target);
	for (unsigned i = 0; i < e->nsrv; i++)
		mem_deref(e->srv[i].target);
}


static bool dent_match(struct le *le, void *arg)
{
	return !str_casecmp(((struct dent *)le->data)->key, arg);
}


static bool hosts_find(struct sf_dns *dns, const char *name, struct sa *sa)
{
	return resolv_hosts_find(dns->res, name, sa);
}


static void dent_ttl(struct dent *e, int64_t ttl)
{
	if (e->ttl < 0 || ttl < e->ttl)
		e->ttl = ttl;
}


/* Every waiter hears the answer; e stays cached until it expires. */
static void dent_done(struct dent *e, int err)
{
	struct list ws;
	struct le *le;

	tmr_cancel(&e->tmr);
	e->q = mem_deref(e->q);
	if (e->dns && e->st != D_DONE)
		e->dns->pending--;
	e->st = D_DONE;
	e->err = err;
	if (!err && e->ttl < 1)
		e->ttl = 1;
	e->expires = tmr_jiffies() +
		     1000 * (uint64_t)(err ? NEG_TTL_S
					   : (e->ttl > TTL_MAX_S ? TTL_MAX_S
								 : e->ttl));
	if (err)
		log_info("dns: %s: %s", e->host,
			 err == ENOENT ? "no such name or address"
				       : strerror(err));
	else
		log_debug("dns: %s%s%s is %J", e->host,
			  e->port ? "" : " (SRV) ", e->port ? "" : e->target,
			  &e->sa);
	/* those waiting now hear this answer; a handler may add a waiter
	 * for the next one (a failover) or make the cache evict e */
	list_init(&ws);
	while ((le = list_head(&e->waiters))) {
		list_unlink(le);
		list_append(&ws, le, le->data);
	}
	mem_ref(e);
	while ((le = list_head(&ws))) {
		struct sf_dns_query *w = le->data;

		list_unlink(&w->le);
		w->h(err, err ? NULL : &e->sa, w->arg);
	}
	mem_deref(e);
}


static void dent_ask(struct dent *e);


static void dent_timeout_handler(void *arg)
{
	dent_done(arg, ETIMEDOUT);
}


/* RFC 2782: the lowest priority not taken; among those, by weight at
 * random. */
static const struct dnsrr *srv_pick(struct list *ansl, const bool *taken)
{
	const struct dnsrr *best = NULL;
	uint32_t sum = 0, r;
	unsigned i = 0;

	for (struct le *le = list_head(ansl); le; le = le->next, i++) {
		const struct dnsrr *rr = le->data;

		if (rr->type != DNS_TYPE_SRV || (i < 64 && taken[i]))
			continue;
		if (!best || rr->rdata.srv.pri < best->rdata.srv.pri) {
			best = rr;
			sum = 0;
		}
		if (rr->rdata.srv.pri == best->rdata.srv.pri)
			sum += rr->rdata.srv.weight + 1u;
	}
	if (!best)
		return NULL;
	r = rand_u32() % sum;
	i = 0;
	for (struct le *le = list_head(ansl); le; le = le->next, i++) {
		const struct dnsrr *rr = le->data;

		if (rr->type != DNS_TYPE_SRV || (i < 64 && taken[i]) ||
		    rr->rdata.srv.pri != best->rdata.srv.pri)
			continue;
		if (r < rr->rdata.srv.weight + 1u)
			return rr;
		r -= rr->rdata.srv.weight + 1u;
	}
	return best;
}


/* e->srv: the SRV targets in the order they are tried; "." (no such
 * service, RFC 2782) ends the list. @return 0 or ENOMEM */
static int srv_order(struct dent *e, struct list *ansl)
{
	bool taken[64] = {false};
	const struct dnsrr *rr;

	while (e->nsrv < SRV_MAX && (rr = srv_pick(ansl, taken))) {
		unsigned i = 0;

		for (struct le *le = list_head(ansl); le; le = le->next, i++)
			if (le->data == rr && i < 64)
				taken[i] = true;
		if (!*rr->rdata.srv.target ||
		    !strcmp(rr->rdata.srv.target, "."))
			break;
		if (str_dup(&e->srv[e->nsrv].target, rr->rdata.srv.target))
			return ENOMEM;
		e->srv[e->nsrv++].port = rr->rdata.srv.port;
		dent_ttl(e, rr->ttl);
	}
	return 0;
}


/* The SRV target e->isrv: its address from the answer's additional
 * records or /etc/hosts (@return true: e is done), else asked (A). */
static bool srv_target(struct dent *e, struct list *addl)
{
	const struct dnsrr *a;

	e->target = mem_deref(e->target);
	if (str_dup(&e->target, e->srv[e->isrv].target)) {
		dent_done(e, ENOMEM);
		return true;
	}
	e->port = e->srv[e->isrv].port;
	e->st = D_A;
	a = resolv_rr_find(addl, DNS_TYPE_A, e->target);
	if (!a)
		a = resolv_rr_find(addl, DNS_TYPE_AAAA, e->target);
	if (a) {
		dent_ttl(e, a->ttl);
		resolv_sa_of_rr(&e->sa, a, e->port);
		dent_done(e, 0);
		return true;
	}
	if (hosts_find(e->dns, e->target, &e->sa)) {
		sa_set_port(&e->sa, e->port);
		dent_done(e, 0);
		return true;
	}
	return false;
}


static void dent_answer_handler(int err, const struct dnshdr *hdr,
				struct list *ansl, struct list *authl,
				struct list *addl, void *arg)
{
	struct dent *e = arg;
	const struct dnsrr *rr;

	/* a server that does not answer, or answers with a failure other
	 * than "no such name" / "no such record": no use asking on */
	if (!err && hdr->rcode != DNS_RCODE_OK &&
	    hdr->rcode != DNS_RCODE_NAME_ERR)
		err = EPROTO;
	if (err) {
		dent_done(e, err);
		return;
	}
	switch (e->st) {
	case D_SRV:
		if (srv_order(e, ansl)) {
			dent_done(e, ENOMEM);
			return;
		}
		if (!e->nsrv && resolv_rr_find(ansl, DNS_TYPE_SRV, NULL)) {
			dent_done(e, ENOENT); /* RFC 2782: no such service */
			return;
		}
		if (!e->nsrv) { /* RFC 3263 4.2: no SRV, the name on 5060 */
			e->st = D_A;
			e->port = 5060;
			break;
		}
		if (srv_target(e, addl))
			return;
		break;
	case D_A:
	case D_AAAA:
		rr = resolv_rr_find(
			ansl, e->st == D_A ? DNS_TYPE_A : DNS_TYPE_AAAA, NULL);
		if (rr) {
			dent_ttl(e, rr->ttl);
			resolv_sa_of_rr(&e->sa, rr, e->port);
			dent_done(e, 0);
			return;
		}
		if (e->st == D_A) {
			e->st = D_AAAA;
			break;
		}
		/* no address for this SRV target: the next one (4.3) */
		if (e->nsrv && ++e->isrv < e->nsrv) {
			if (srv_target(e, NULL))
				return;
			break;
		}
		dent_done(e, ENOENT);
		return;
	default:
		return;
	}
	dent_ask(e);
}


/* The query for e's stage. */
static void dent_ask(struct dent *e)
{
	char name[300];
	uint16_t type = DNS_TYPE_A;
	int err;

	if (e->st == D_SRV) {
		if (re_snprintf(name, sizeof(name), "_sip._%s.%s",
				e->tp == SIP_TRANSP_TCP ? "tcp" : "udp",
				e->target) < 0) {
			dent_done(e, ENAMETOOLONG);
			return;
		}
		type = DNS_TYPE_SRV;
	} else {
		str_ncpy(name, e->target, sizeof(name));
		if (e->st == D_AAAA)
			type = DNS_TYPE_AAAA;
	}
	err = dnsc_query(&e->q, e->dns->dnsc, name, type, DNS_CLASS_IN, true,
			 dent_answer_handler, e);
	if (err)
		dent_done(e, err);
	else
		tmr_start(&e->tmr, STAGE_MS, dent_timeout_handler, e);
}


/* Room for one more name: expired answers go first, then names that did
 * not resolve, then the oldest answers. */
static bool cache_room(struct sf_dns *dns)
{
	const uint64_t now = tmr_jiffies();

	for (int pass = 0; pass < 3 && dns->n >= CACHE_MAX; pass++) {
		struct le *le = list_head(&dns->order);

		while (dns->n >= CACHE_MAX && le) {
			struct dent *e = le->data;

			le = le->next;
			if (e->st == D_DONE &&
			    (pass == 2 || (pass == 1 && e->err) ||
			     now >= e->expires))
				dent_drop(e);
		}
	}
	return dns->n < CACHE_MAX;
}


int sf_dns_resolve(struct sf_dns_query **qp, struct sip_front *sf,
		   const char *host, uint16_t port, enum sip_transp tp,
		   struct sa *dst, sf_dns_h *h, void *arg)
{
	struct sf_dns *dns = sf->dns;
	struct sf_dns_query *w;
	struct dent *e;
	char key[300];

	if (!sa_set_str(dst, host, port ? port : 5060))
		return 0;
	if (!dns)
		return ENOSYS;
	if (hosts_find(dns, host, dst)) {
		sa_set_port(dst, port ? port : 5060);
		return 0;
	}
	if (port)
		re_snprintf(key, sizeof(key), "%s:%u", host, port);
	else
		re_snprintf(key, sizeof(key), "%s;%s", host,
			    tp == SIP_TRANSP_TCP ? "tcp" : "udp");
	e = list_ledata(hash_lookup(dns->cache, hash_joaat_str_ci(key),
				    dent_match, key));
	if (e && e->st == D_DONE) {
		if (tmr_jiffies() < e->expires) {
			if (e->err)
				return e->err;
			*dst = e->sa;
			return 0;
		}
		dent_drop(e); /* expired: asked again */
		e = NULL;
	}
	if (!dns->dnsc)
		return ENOSYS;
	if (!e) {
		if (dns->pending >= PENDING_MAX || !cache_room(dns))
			return EBUSY;
		e = mem_zalloc(sizeof(*e), dent_destructor);
		if (!e)
			return ENOMEM;
		if (str_dup(&e->key, key) || str_dup(&e->host, host) ||
		    str_dup(&e->target, host)) {
			mem_deref(e);
			return ENOMEM;
		}
		e->port = port;
		e->tp = tp;
		e->st = port ? D_A : D_SRV;
		e->ttl = -1;
		e->dns = dns;
		dns->n++;
		dns->pending++;
		hash_append(dns->cache, hash_joaat_str_ci(key), &e->he, e);
		list_append(&dns->order, &e->le, e);
		dent_ask(e);
		if (e->st == D_DONE) { /* the query could not be sent */
			const int err = e->err;

			return err ? err : EPROTO;
		}
	}
	w = mem_zalloc(sizeof(*w), query_destructor);
	if (!w)
		return ENOMEM;
	w->h = h;
	w->arg = arg;
	list_append(&e->waiters, &w->le, w);
	*qp = w;
	return EINPROGRESS;
}


bool sf_dns_failed(struct sip_front *sf, const char *host, uint16_t port,
		   enum sip_transp tp, const struct sa *dst)
{
	struct sf_dns *dns = sf->dns;
	struct dent *e;
	char key[300];

	if (!dns || port)
		return false; /* only SRV names have another target */
	re_snprintf(key, sizeof(key), "%s;%s", host,
		    tp == SIP_TRANSP_TCP ? "tcp" : "udp");
	e = list_ledata(hash_lookup(dns->cache, hash_joaat_str_ci(key),
				    dent_match, key));
	if (!e || (e->st == D_DONE && e->err))
		return false;
	/* another request's failure moved the name on already */
	if (e->st != D_DONE || !sa_cmp(&e->sa, dst, SA_ALL))
		return true;
	if (e->isrv + 1 >= e->nsrv)
		return false;
	LOG_LIMITED(LOG_INFO, "dns: %s: %s:%u (%J) failed, %s:%u next", host,
		    e->srv[e->isrv].target, e->srv[e->isrv].port, dst,
		    e->srv[e->isrv + 1].target, e->srv[e->isrv + 1].port);
	e->isrv++;
	dns->pending++;
	if (!srv_target(e, NULL))
		dent_ask(e);
	return true;
}


static void dns_destructor(void *arg)
{
	struct sf_dns *dns = arg;

	list_flush(&dns->order);
	mem_deref(dns->cache);
	mem_deref(dns->res);
}


int sf_dns_init(struct sip_front *sf)
{
	struct sf_dns *dns;
	int err;

	dns = mem_zalloc(sizeof(*dns), dns_destructor);
	if (!dns)
		return ENOMEM;
	err = hash_alloc(&dns->cache, 256);
	if (!err)
		err = resolv_alloc(&dns->res, sf->proc.cfg, "dns");
	if (err) {
		mem_deref(dns);
		return err;
	}
	dns->dnsc = resolv_dnsc(dns->res);
	sf->dns = dns;
	return 0;
}


void sf_dns_close(struct sip_front *sf)
{
	sf->dns = mem_deref(sf->dns);
}
