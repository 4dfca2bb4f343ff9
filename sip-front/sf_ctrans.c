/**
 * @file sf_ctrans.c  Client transactions (RFC 3261 17.1) for the requests
 *                     the translator sends: retransmission, Timers A/B/E/F,
 *                     the hop-by-hop ACK of a non-2xx final response, and
 *                     absorbing retransmitted finals (Timer D).
 *
 * The translator wrote every end-to-end header; this file adds the request
 * line, the Via (the transport is chosen here) and Content-Length. Every
 * identifier was chosen and stored by the translator, so a re-send after a
 * restart is a retransmission of the same request. Each transaction ends
 * with one MSG_SIP_IN_RESPONSE (its final response, or a local failure);
 * in page mode (MESSAGE) only that one, otherwise provisionals too.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "sip_front.h"

enum {
	UDP_MAX = 1300,
	FAILOVER_MAX = 3, /* other SRV targets one request goes to */
};

/* libre 1.1.0 exports this but declares it only in its private
 * src/sip/sip.h: sip_send() with a transport handler, the only report of a
 * TCP connection refused or closed before the request was written (RFC
 * 3261 18.1.1, 8.1.3.1). The handler is not called once it was written. */
struct sip_connqent;
typedef void(sip_transp_h)(int err, void *arg);
int sip_transp_send(struct sip_connqent **qentp, struct sip *sip, void *sock,
		    enum sip_transp tp, const struct sa *dst, struct mbuf *mb,
		    sip_transp_h *transph, void *arg);

/** A request we sent: a client transaction. */
struct creq {
	struct le he;  /**< in sf->creqs */
	struct le ihe; /**< in sf->creq_ids */
	struct le mle; /**< in sf->creq_moved while tx_branch is set */
	uint64_t id;   /**< outbox id; 0: left Completed by a failover */
	char *branch;  /**< our Via's: responses are matched by it */
	/** the translator's branch once a failover gave ours a new one (an
	 * INVITE's CANCEL carries it), else NULL */
	char *tx_branch;
	char *method;
	struct mbuf *mb;
	struct sip_msg *req; /**< our request, decoded for an ACK, or NULL */
	struct sa dst;
	enum sip_transp tp;
	struct tmr retr, timeout;
	uint32_t interval;
	bool invite, completed;
	bool page;     /**< MESSAGE (page mode): only the outcome is reported */
	bool big;      /**< TCP only for its size: UDP if TCP fails (18.1.1) */
	bool answered; /**< a response came */
	struct sip_connqent *qent; /**< libre's, while TCP connects */
	struct sf_dns_query *dq;   /**< while its next hop's name resolves */
	/** its next hop's name (NULL: numeric, or a CANCEL that goes where
	 * its INVITE went), as the hop gave it: port 0 for SRV */
	char *host;
	uint16_t hop_port;
	enum sip_transp hop_tp; /**< the hop's transport (SRV's) */
	uint8_t failovers;      /**< times sent to another SRV target */
	bool cancelled;         /**< an INVITE: our CANCEL of it went */
	/** an INVITE: our CANCEL of it, held until a provisional response
	 * comes (RFC 3261 9.1); a CANCEL: the INVITE holding it */
	struct creq *cancel, *held_by;
	struct sf_reach_watch *reach; /**< UDP, for 4*T1: anyone there? */
	struct sip_front *sf;
};

static void creq_destructor(void *arg)
{
	struct creq *c = arg;

	tmr_cancel(&c->retr);
	tmr_cancel(&c->timeout);
	hash_unlink(&c->he);
	hash_unlink(&c->ihe);
	list_unlink(&c->mle);
	mem_deref(c->tx_branch);
	mem_deref(c->qent); /* no transport report after us */
	mem_deref(c->dq);
	mem_deref(c->host);
	/* the other one of a held pair is freed on its own (shutdown) */
	if (c->cancel)
		c->cancel->held_by = NULL;
	if (c->held_by)
		c->held_by->cancel = NULL;
	mem_deref(c->reach);
	mem_deref(c->branch);
	mem_deref(c->method);
	mem_deref(c->mb);
	mem_deref(c->req);
}


static bool creq_failover(struct creq *c, const struct sip_msg *resp);


/** A next hop before resolution. */
struct hop {
	char host[256]; /**< numeric, or a name (sf_dns.c) */
	uint16_t port;  /**< 0: none given */
	enum sip_transp tp;
};


/* The end of a client transaction: its final response or local failure.
 * An INVITE that ends with a CANCEL still held for it (no provisional
 * came, RFC 3261 9.1) ends that CANCEL unsent: 481 after a response, else
 * the INVITE's own local failure. */
static void creq_outcome(struct creq *c, uint16_t scode, const char *reason,
			 const struct sip_msg *resp)
{
	struct creq *cn = c->cancel;

	if (cn) {
		c->cancel = NULL;
		cn->held_by = NULL;
		sf_report_response(
			c->sf, cn->id, resp ? 481 : scode,
			resp ? "INVITE Completed Before CANCEL" : reason, NULL);
		mem_deref(cn);
	}
	sf_report_response(c->sf, c->id, scode, reason, resp);
}


/* Where a request goes: dst (an URI: route or remote target), else the
 * proxy, else the Request-URI. */
static int next_hop(const struct xsgw_config *cfg, const struct pl *ruri,
		    const struct pl *dst, struct hop *hop)
{
	struct uri u;
	struct pl pl, tpv;
	struct sa sa;

	hop->tp = cfg->sip.transport == SIP_TP_TCP ? SIP_TRANSP_TCP
						   : SIP_TRANSP_UDP;
	if (!dst->l && cfg->sip.proxy.port) {
		str_ncpy(hop->host, cfg->sip.proxy.host, sizeof(hop->host));
		hop->port = cfg->sip.proxy.port;
		return 0;
	}
	pl = dst->l ? *dst : *ruri;
	/* a route may be a name-addr: <sip:...;lr> */
	if (pl.l && pl.p[0] == '<') {
		pl.p++;
		pl.l = strcspn(pl.p, ">");
	}
	if (uri_decode(&u, &pl) || !u.host.l || u.host.l >= sizeof(hop->host))
		return EINVAL;
	if (!msg_param_decode(&u.params, "transport", &tpv))
		hop->tp = !pl_strcasecmp(&tpv, "tcp") ? SIP_TRANSP_TCP
						      : SIP_TRANSP_UDP;
	pl_strcpy(&u.host, hop->host, sizeof(hop->host));
	hop->port = u.port;
	/* a name DNS could not carry is no next hop */
	if (sa_set_str(&sa, hop->host, 0) && !addr_host_name_ok(hop->host))
		return EINVAL;
	return 0;
}


static void creq_retr_handler(void *arg)
{
	struct creq *c = arg;

	c->mb->pos = 0;
	(void)sip_send(c->sf->sip, NULL, c->tp, &c->dst, c->mb);
	c->interval = c->invite ? c->interval * 2
				: (c->interval * 2 > SIP_T2 ? SIP_T2
							    : c->interval * 2);
	tmr_start(&c->retr, c->interval, creq_retr_handler, c);
}


static void creq_timeout_handler(void *arg)
{
	struct creq *c = arg;

	log_info("out %llu: %s timed out", (unsigned long long)c->id,
		 c->method);
	/* Timer B/F ends the try at one SRV target; a page's own timeout
	 * bounds all its tries */
	if (!c->page && creq_failover(c, NULL))
		return;
	creq_outcome(c, 408, "Request Timeout", NULL);
	mem_deref(c);
}


/* RFC 3261 9.1: an INVITE cancelled without a final response within
 * 64*T1 ends (the CANCEL's UAS should have sent 487). */
static void creq_cancelled_handler(void *arg)
{
	struct creq *c = arg;

	log_info("out %llu: no final response after CANCEL",
		 (unsigned long long)c->id);
	creq_outcome(c, 487, "Request Terminated", NULL);
	mem_deref(c);
}


static bool creq_invite_match(struct le *le, void *arg)
{
	const struct creq *c = le->data;

	/* not an INVITE left Completed by a failover (id 0) */
	return c->invite && c->id && !strcmp(c->branch, arg);
}


static bool creq_moved_match(struct le *le, void *arg)
{
	return !strcmp(((const struct creq *)le->data)->tx_branch, arg);
}


/* Our INVITE whose branch a CANCEL carries (ours, or the translator's
 * before a failover gave the INVITE another), or NULL. */
static struct creq *creq_invite_of(struct sip_front *sf, const char *branch)
{
	struct creq *c =
		list_ledata(hash_lookup(sf->creqs, hash_joaat_str(branch),
					creq_invite_match, (void *)branch));

	if (!c)
		c = list_ledata(list_apply(&sf->creq_moved, true,
					   creq_moved_match, (void *)branch));
	return c;
}


/* A CANCEL for our INVITE (same branch) bounds its wait. */
static void creq_cancel_sent(struct sip_front *sf, const char *branch)
{
	struct creq *inv = creq_invite_of(sf, branch);

	if (!inv || inv->completed)
		return;
	inv->cancelled = true;
	tmr_start(&inv->timeout, TB_OF(sf), creq_cancelled_handler, inv);
}


static void creq_resolved_handler(int err, const struct sa *dst, void *arg);
static void creq_transmit(struct creq *c);
static void creq_ack(struct creq *c, const struct sip_msg *resp);
static void creq_unresolved(struct creq *c, const char *host, int err);


/* c->mb with its bytes [off, off + len) replaced by with[0..wl).
 * @return 0 or ENOMEM (c unchanged) */
static int creq_splice(struct creq *c, size_t off, size_t len, const void *with,
		       size_t wl)
{
	struct mbuf *mb = c->mb;
	struct mbuf *nb = mbuf_alloc(mb->end - len + wl);

	if (!nb)
		return ENOMEM;
	(void)mbuf_write_mem(nb, mb->buf, off);
	(void)mbuf_write_mem(nb, with, wl);
	(void)mbuf_write_mem(nb, mb->buf + off + len, mb->end - off - len);
	nb->pos = 0;
	mem_deref(c->mb);
	c->mb = nb;
	c->req = mem_deref(c->req); /* decoded again for an ACK */
	return 0;
}


/* Responses come to c by branch now (taken; an INVITE keeps the
 * translator's for its CANCEL). Cannot fail. */
static void creq_rekey(struct creq *c, char *branch)
{
	if (c->invite && !c->tx_branch) {
		c->tx_branch = c->branch;
		list_append(&c->sf->creq_moved, &c->mle, c);
	} else {
		mem_deref(c->branch);
	}
	c->branch = branch;
	hash_unlink(&c->he);
	hash_append(c->sf->creqs, hash_joaat_str(c->branch), &c->he, c);
}


/* Where our Via (the first header line, sf_ctrans_start) is in mb: the
 * value's offset and length. @return true if found */
static bool via_find(const struct mbuf *mb, size_t *off, size_t *len)
{
	const uint8_t *p = memmem(mb->buf, mb->end, "\r\nVia: ", 7), *e;

	if (!p)
		return false;
	p += 7;
	e = memmem(p, (size_t)(mb->buf + mb->end - p), "\r\n", 2);
	if (!e)
		return false;
	*off = (size_t)(p - mb->buf);
	*len = (size_t)(e - p);
	return true;
}


/* A new transaction for the same request (RFC 3263 4.3): our Via gets a
 * new branch. @return 0, EINVAL (no Via of ours) or ENOMEM (c unchanged) */
static int creq_rebranch(struct creq *c)
{
	const size_t ol = strlen(c->branch);
	size_t off, len;
	const uint8_t *p;
	char *branch;

	if (!via_find(c->mb, &off, &len))
		return EINVAL;
	p = memmem(c->mb->buf + off, len, ";branch=", 8);
	if (!p || (size_t)(c->mb->buf + off + len - p) < 8 + ol ||
	    memcmp(p + 8, c->branch, ol))
		return EINVAL;
	if (re_sdprintf(&branch, "z9hG4bK%016llx",
			(unsigned long long)rand_u64()))
		return ENOMEM;
	off = (size_t)(p - c->mb->buf) + 8;
	if (creq_splice(c, off, ol, branch, strlen(branch))) {
		mem_deref(branch);
		return ENOMEM;
	}
	creq_rekey(c, branch);
	return 0;
}


/* RFC 3261 9.1: a CANCEL's Via is its INVITE's top Via (the branch a
 * failover gave it, the transport a fallback to UDP gave it).
 * @return 0, EINVAL or ENOMEM (c unchanged) */
static int creq_via_of(struct creq *c, const struct creq *inv)
{
	size_t off, len, ioff, ilen;
	char *branch = NULL;

	if (!via_find(c->mb, &off, &len) || !via_find(inv->mb, &ioff, &ilen))
		return EINVAL;
	if (len == ilen && !memcmp(c->mb->buf + off, inv->mb->buf + ioff, len))
		return 0;
	if (strcmp(c->branch, inv->branch) && str_dup(&branch, inv->branch))
		return ENOMEM;
	if (creq_splice(c, off, len, inv->mb->buf + ioff, ilen)) {
		mem_deref(branch);
		return ENOMEM;
	}
	if (branch)
		creq_rekey(c, branch);
	return 0;
}


static void creq_gone_handler(void *arg)
{
	mem_deref(arg);
}


/* The INVITE transaction a 503 ended at the last target, as it was (its
 * branch, request and destination), Completed: to be kept for Timer D
 * (creq_keep_completed). @return it, or NULL (out of memory) */
static struct creq *creq_completed_copy(const struct creq *c)
{
	struct creq *g = mem_zalloc(sizeof(*g), creq_destructor);

	if (!g || str_dup(&g->branch, c->branch) ||
	    str_dup(&g->method, c->method) || !(g->mb = mbuf_alloc(c->mb->end)))
		return mem_deref(g);
	(void)mbuf_write_mem(g->mb, c->mb->buf, c->mb->end);
	g->mb->pos = 0;
	g->sf = c->sf;
	g->invite = g->completed = g->answered = true;
	g->dst = c->dst;
	g->tp = c->tp;
	tmr_init(&g->retr);
	tmr_init(&g->timeout);
	return g;
}


/* RFC 3261 17.1.1.2: g waits Timer D under its branch; a retransmitted
 * 503 is ACKed again there, nothing is reported (id 0). */
static void creq_keep_completed(struct creq *g)
{
	hash_append(g->sf->creqs, hash_joaat_str(g->branch), &g->he, g);
	tmr_start(&g->timeout, TB_OF(g->sf), creq_gone_handler, g);
}


/* RFC 3263 4.3 (and RFC 3261 21.5.4 for a 503): nobody took it at that
 * SRV target (a transport error), it timed out there, or the server
 * answered 503 (resp) before any provisional response; the name's next
 * target, if there is one, gets the same request as a new transaction
 * (a new branch). Not for an INVITE being cancelled. A 503 to an INVITE
 * is ACKed where it came from first (17.1.1.3).
 * @return true if it goes there */
static bool creq_failover(struct creq *c, const struct sip_msg *resp)
{
	struct creq *old = NULL;
	int err;

	/* (a CANCEL goes where its INVITE went, RFC 3261 9.1: never on) */
	if (!c->host || c->dq || c->failovers >= FAILOVER_MAX || c->answered ||
	    c->completed || c->cancel || c->cancelled ||
	    !strcmp(c->method, "CANCEL") ||
	    !sf_dns_failed(c->sf, c->host, c->hop_port, c->hop_tp, &c->dst))
		return false;
	/* the old transaction, as it was: it ACKs the 503 (17.1.1.3) and,
	 * over UDP, absorbs its retransmissions for Timer D */
	if (resp && c->invite && !(old = creq_completed_copy(c)))
		return false;
	if (creq_rebranch(c)) {
		mem_deref(old);
		return false; /* (the 503 is c's outcome, ACKed there) */
	}
	if (old) {
		creq_ack(old, resp);
		if (old->tp == SIP_TRANSP_UDP)
			creq_keep_completed(old);
		else
			mem_deref(old);
	}
	c->failovers++;
	tmr_cancel(&c->retr);
	c->reach = mem_deref(c->reach);
	c->qent = mem_deref(c->qent); /* a TCP connect still pending there */
	err = sf_dns_resolve(&c->dq, c->sf, c->host, c->hop_port, c->hop_tp,
			     &c->dst, creq_resolved_handler, c);
	if (err == EINPROGRESS)
		return true;
	if (err) /* a new transaction, unsent: it ends here */
		creq_unresolved(c, c->host, err);
	else
		creq_transmit(c);
	return true;
}


static void creq_transport_fail(struct creq *c, int err)
{
	log_info("out %llu: %s to %s %J: %s", (unsigned long long)c->id,
		 c->method, sip_transp_name(c->tp), &c->dst, strerror(err));
	if (creq_failover(c, NULL))
		return;
	creq_outcome(c, 503, "Transport Error", NULL);
	mem_deref(c);
}


/* Nothing listens at the UDP destination. */
static void creq_unreach_handler(int err, void *arg)
{
	struct creq *c = arg;

	c->reach = mem_deref(c->reach); /* ended */
	if (!c->answered && !c->completed)
		creq_transport_fail(c, err);
}


/* Our first copy went out over UDP: its retransmissions start, and the
 * watch that tells at once if nothing listens there (sf_reach.c).
 * @return false if c failed (it is gone) */
static bool creq_udp_started(struct creq *c)
{
	int err;

	c->interval = T1_OF(c->sf);
	tmr_start(&c->retr, T1_OF(c->sf), creq_retr_handler, c);
	c->reach = mem_deref(c->reach);
	err = sf_reach_watch(&c->reach, c->sf, &c->dst, creq_unreach_handler,
			     c);
	if (err != ECONNREFUSED)
		return true;
	creq_transport_fail(c, err);
	return false;
}


/* libre could not write our request on a TCP connection (refused, reset
 * or closed while connecting). A request that would have gone over UDP
 * but for its size is retried over UDP (RFC 3261 18.1.1); anything else
 * fails at once with 503 (8.1.3.1), not at Timer B/F. */
static void creq_transp_handler(int err, void *arg)
{
	struct creq *c = arg;
	struct mbuf *mb = c->mb;
	uint8_t *via;

	c->qent = NULL;
	if (!err || c->answered || c->completed)
		return;
	via = c->big ? memmem(mb->buf, mb->end, "\r\nVia: SIP/2.0/TCP ", 19)
		     : NULL;
	if (!via) {
		creq_transport_fail(c, err);
		return;
	}
	log_info("out %llu: TCP to %J failed (%s); over UDP",
		 (unsigned long long)c->id, &c->dst, strerror(err));
	memcpy(via + 15, "UDP", 3); /* the Via names the transport used */
	c->tp = SIP_TRANSP_UDP;
	mb->pos = 0;
	err = sip_send(c->sf->sip, NULL, c->tp, &c->dst, mb);
	if (err) {
		creq_transport_fail(c, err);
		return;
	}
	(void)creq_udp_started(c);
}


/* What the translator wrote, checked before it goes out: a Request-URI of
 * visible characters; header lines "name: value" ended by CRLF, no other
 * control character but HTAB, no empty line (it would end the header
 * block). A bug there must not put a malformed request on the wire (a
 * Contact with a bare CR once became an ACK's Request-URI). A scan, not a
 * decode: decoding every request we send was 10 % of this process's CPU. */
static bool built_ok(const struct pl *ruri, const struct pl *hdrs)
{
	const char *p = hdrs->p, *end = hdrs->p + hdrs->l;

	if (!ruri->l)
		return false;
	for (size_t i = 0; i < ruri->l; i++)
		if ((unsigned char)ruri->p[i] <= ' ' || ruri->p[i] == 0x7f)
			return false;
	while (p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		const char *colon;

		if (!eol || eol + 1 >= end || eol[1] != '\n' || eol == p)
			return false;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return false;
		for (const char *q = p; q < eol; q++) {
			const unsigned char ch = (unsigned char)*q;
			if ((ch < ' ' && ch != '\t') || ch == 0x7f ||
			    (q < colon && (ch == ' ' || ch == '\t')))
				return false;
		}
		p = eol + 2;
	}
	return true;
}


static bool creq_id_match(struct le *le, void *arg)
{
	return ((struct creq *)le->data)->id == *(const uint64_t *)arg;
}


/* The request goes out to c->dst: an ACK once, anything else as a
 * transaction with its timers. */
static void creq_transmit(struct creq *c)
{
	struct sip_front *sf = c->sf;
	int err;

	if (!strcmp(c->method, "CANCEL")) {
		struct creq *inv = creq_invite_of(sf, c->branch);

		/* RFC 3261 9.1: not before a provisional response; the
		 * INVITE's Timer B still bounds the wait */
		if (inv && !inv->answered && !inv->completed && !inv->cancel) {
			inv->cancel = c;
			c->held_by = inv;
			return;
		}
		if (inv) { /* to where the INVITE went, with its Via */
			c->dst = inv->dst;
			c->tp = inv->tp;
			if (creq_via_of(c, inv)) {
				creq_outcome(c, 500, "Bad Request Built", NULL);
				mem_deref(c);
				return;
			}
		}
	}

	if (!strcmp(c->method, "ACK")) {
		/* no transaction: the translator re-sends it per 2xx */
		err = sip_send(sf->sip, NULL, c->tp, &c->dst, c->mb);
		if (err) {
			creq_transport_fail(c, err);
			return;
		}
		sf_report_done(sf, c->id, 0, "sent");
		mem_deref(c);
		return;
	}
	err = sip_transp_send(&c->qent, sf->sip, NULL, c->tp, &c->dst, c->mb,
			      creq_transp_handler, c);
	if (err) {
		creq_transport_fail(c, err);
		return;
	}
	if (!strcmp(c->method, "CANCEL"))
		creq_cancel_sent(sf, c->branch);
	if (c->tp == SIP_TRANSP_UDP && !creq_udp_started(c))
		return;
	if (!c->page || !tmr_isrunning(&c->timeout))
		tmr_start(&c->timeout,
			  c->page ? sf->proc.cfg->sip.message_timeout_ms
				  : TB_OF(sf),
			  creq_timeout_handler, c);
}


static void creq_unresolved(struct creq *c, const char *host, int err)
{
	LOG_LIMITED(LOG_INFO, "out %llu: %s: cannot resolve %s: %s",
		    (unsigned long long)c->id, c->method, host,
		    err == ENOENT   ? "no such name or address"
		    : err == ENOSYS ? "no DNS server"
		    : err == EBUSY  ? "too many names being resolved"
				    : strerror(err));
	creq_outcome(c, 503, "Next Hop Not Resolved", NULL);
	mem_deref(c);
}


static void creq_resolved_handler(int err, const struct sa *dst, void *arg)
{
	struct creq *c = arg;

	c->dq = mem_deref(c->dq);
	if (err) {
		creq_unresolved(c, c->host, err);
		return;
	}
	if (c->failovers && c->cancel) {
		/* cancelled while the next target was being found: nobody
		 * has it (the last target failed it), it ends unsent */
		creq_outcome(c, 487, "Request Terminated", NULL);
		mem_deref(c);
		return;
	}
	c->dst = *dst;
	creq_transmit(c);
}


int sf_ctrans_start(struct sip_front *sf, const struct m_sip_out_request *m)
{
	const struct xsgw_config *cfg = sf->proc.cfg;
	const uint64_t id = m->out;
	const bool page = m->flags & SIPF_PAGE;
	struct creq *c = NULL, *inv;
	struct hop hop;
	struct sa laddr, num;
	int err = 0;

	if (tlink_is_done(sf->tl, id) ||
	    hash_lookup(sf->creq_ids, (uint32_t)id, creq_id_match, (void *)&id))
		return 0;

	c = mem_zalloc(sizeof(*c), creq_destructor);
	if (!c || pl_strdup(&c->method, &m->method) ||
	    pl_strdup(&c->branch, &m->branch)) {
		mem_deref(c);
		return ENOMEM;
	}
	c->sf = sf;
	c->id = id;
	c->page = page;
	c->invite = !strcmp(c->method, "INVITE");
	tmr_init(&c->retr);
	tmr_init(&c->timeout);
	hash_append(sf->creqs, hash_joaat_str(c->branch), &c->he, c);
	hash_append(sf->creq_ids, (uint32_t)id, &c->ihe, c);

	if (next_hop(cfg, &m->ruri, &m->dst, &hop)) {
		log_info("out %llu: no route to %r", (unsigned long long)id,
			 m->dst.l ? &m->dst : &m->ruri);
		creq_outcome(c, 503, "No Route To Destination", NULL);
		mem_deref(c);
		return 0;
	}
	c->tp = hop.tp;
	if (c->tp == SIP_TRANSP_UDP && m->body.l + m->hdrs.l + 300 > UDP_MAX) {
		c->tp = SIP_TRANSP_TCP;
		c->big = true;
	}
	inv = !strcmp(c->method, "CANCEL") ? creq_invite_of(sf, c->branch)
					   : NULL;
	if (inv) {
		/* RFC 3261 9.1: where the INVITE went, as it went (its
		 * address once known: creq_transmit holds the CANCEL until
		 * the INVITE has a response) */
		c->tp = inv->tp;
		c->dst = inv->dst;
		err = 0;
	} else {
		/* SRV of the hop's transport: one too large for UDP is
		 * still that server's (18.1.1) */
		err = sf_dns_resolve(&c->dq, sf, hop.host, hop.port, hop.tp,
				     &c->dst, creq_resolved_handler, c);
	}
	/* a name: kept for a failover (creq_failover) */
	if (!inv && sa_set_str(&num, hop.host, 0) &&
	    str_dup(&c->host, hop.host)) {
		mem_deref(c);
		return ENOMEM;
	}
	c->hop_port = hop.port;
	c->hop_tp = hop.tp;
	if (err && err != EINPROGRESS) {
		creq_unresolved(c, hop.host, err);
		return 0;
	}
	/* the Via's port: the listening one (UDP and TCP share it) */
	if (err || sip_transp_laddr(sf->sip, &laddr, c->tp, &c->dst))
		laddr = sf->laddr;
	c->mb = mbuf_alloc(m->body.l + m->hdrs.l + 512);
	if (!c->mb) {
		mem_deref(c);
		return ENOMEM;
	}
	if (mbuf_printf(c->mb,
			"%s %r SIP/2.0\r\n"
			"Via: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
			"%r"
			"Content-Length: %zu\r\n\r\n%r",
			c->method, &m->ruri, sip_transp_name(c->tp),
			cfg->sip.local_host, sa_port(&laddr), c->branch,
			&m->hdrs, m->body.l, &m->body) ||
	    !built_ok(&m->ruri, &m->hdrs)) {
		log_warn("out %llu: cannot build %s", (unsigned long long)id,
			 c->method);
		creq_outcome(c, 500, "Bad Request Built", NULL);
		mem_deref(c);
		return 0;
	}
	c->mb->pos = 0;
	/* the headers only unless log.bodies: bodies are chats and SDP */
	log_debug("out %llu: %s %r via %s %s, %zu body bytes\n%b",
		  (unsigned long long)id, c->method, &m->ruri,
		  sip_transp_name(c->tp), hop.host, m->body.l, c->mb->buf,
		  c->mb->end - (cfg->log.bodies ? 0 : m->body.l));
	if (err == EINPROGRESS) {
		/* Timer B/F (a page: its own) also bounds the lookup */
		tmr_start(&c->timeout,
			  page ? cfg->sip.message_timeout_ms : TB_OF(sf),
			  creq_timeout_handler, c);
		return 0;
	}
	creq_transmit(c);
	return 0;
}


/* The hop-by-hop ACK for a non-2xx final response (RFC 3261 17.1.1.3). */
static void creq_ack(struct creq *c, const struct sip_msg *resp)
{
	const struct sip_msg *r;
	struct mbuf *mb;
	struct le *le;
	int err;

	if (!c->req) {
		/* decoded only now: most transactions never need it */
		c->mb->pos = 0;
		err = sip_msg_decode(&c->req, c->mb);
		c->mb->pos = 0;
		if (err) {
			log_warn("out %llu: cannot decode our %s for its ACK: "
				 "%s",
				 (unsigned long long)c->id, c->method,
				 strerror(err));
			return;
		}
	}
	r = c->req;
	mb = mbuf_alloc(512);
	if (!mb)
		return;
	err = mbuf_printf(mb,
			  "ACK %r SIP/2.0\r\n"
			  "Via: %r\r\n"
			  "Max-Forwards: 70\r\n"
			  "From: %r\r\n"
			  "To: %r\r\n"
			  "Call-ID: %r\r\n"
			  "CSeq: %u ACK\r\n",
			  &r->ruri, &sip_msg_hdr(r, SIP_HDR_VIA)->val,
			  &r->from.val, &resp->to.val, &r->callid, r->cseq.num);
	for (le = list_head(&r->hdrl); le && !err; le = le->next) {
		const struct sip_hdr *h = le->data;
		if (h->id == SIP_HDR_ROUTE)
			err = mbuf_printf(mb, "Route: %r\r\n", &h->val);
	}
	err |= mbuf_printf(mb, "Content-Length: 0\r\n\r\n");
	if (!err) {
		mb->pos = 0;
		(void)sip_send(c->sf->sip, NULL, c->tp, &c->dst, mb);
	}
	mem_deref(mb);
}


static bool creq_match(struct le *le, void *arg)
{
	const struct creq *c = le->data;
	const struct sip_msg *msg = arg;

	return !pl_strcmp(&msg->via.branch, c->branch) &&
	       !pl_strcmp(&msg->cseq.met, c->method);
}


bool sf_ctrans_response(struct sip_front *sf, const struct sip_msg *msg)
{
	struct creq *c;
	char reason[128];

	c = list_ledata(hash_lookup(sf->creqs, hash_joaat_pl(&msg->via.branch),
				    creq_match, (void *)msg));
	pl_strcpy(&msg->reason, reason, sizeof(reason));
	if (!c) {
		/* a 2xx retransmission (the translator ACKs it again), or a
		 * response for a transaction a previous incarnation had */
		if (msg->scode >= 200 && msg->scode < 300 &&
		    !pl_strcmp(&msg->cseq.met, "INVITE"))
			sf_report_response(sf, 0, msg->scode, reason, msg);
		return true;
	}
	/* not sent yet by us (its name resolves): a response to a copy a
	 * previous incarnation sent; the peer repeats it after ours */
	if (c->dq)
		return true;
	if (msg->scode == 503 && creq_failover(c, msg))
		return true;
	c->answered = true;
	c->reach = mem_deref(c->reach);
	if (c->completed) {
		creq_ack(c, msg); /* a retransmitted final response */
		return true;
	}
	if (msg->scode < 200) {
		/* a page hears only its final response; an INVITE's 100 only
		 * stops Timer A here (every proxy sends one: the translator
		 * would wake and commit for nothing) */
		if (!c->page && !(c->invite && msg->scode == 100))
			sf_report_response(sf, c->id, msg->scode, reason, msg);
		if (c->invite)
			tmr_cancel(&c->retr); /* Timer A stops (17.1.1.2) */
		else if (c->tp == SIP_TRANSP_UDP) {
			c->interval = SIP_T2;
			tmr_start(&c->retr, SIP_T2, creq_retr_handler, c);
		}
		/* an answered INVITE may ring for long: the translator's
		 * ring timeout ends it (CANCEL), not Timer B */
		if (c->invite)
			tmr_cancel(&c->timeout);
		if (c->cancel) { /* a CANCEL held for this (9.1) */
			struct creq *cn = c->cancel;

			c->cancel = NULL;
			cn->held_by = NULL;
			creq_transmit(cn);
		}
		return true;
	}
	creq_outcome(c, msg->scode, reason, msg);
	if (c->invite && msg->scode >= 300) {
		creq_ack(c, msg);
		if (c->tp == SIP_TRANSP_UDP) {
			/* Timer D: absorb and ACK retransmissions */
			c->completed = true;
			tmr_cancel(&c->retr);
			tmr_start(&c->timeout, TB_OF(sf), creq_gone_handler, c);
			return true;
		}
	}
	mem_deref(c);
	return true;
}


static bool flush_apply(struct le *le, void *arg)
{
	mem_deref(le->data);
	return false;
}


void sf_ctrans_flush(struct sip_front *sf)
{
	hash_apply(sf->creqs, flush_apply, NULL);
}
