/**
 * @file sip_call.c  Dialog traffic (INVITE, ACK, BYE, CANCEL, INFO, ...)
 *                   for the translator, which owns every dialog.
 *
 * This front keeps only transaction state: requests it must retransmit
 * (RFC 3261 §17.1), 2xx responses to INVITE it retransmits until the ACK
 * (§13.3.1.4), and server transactions that absorb retransmissions. Every
 * identifier in what it sends (Call-ID, tags, CSeq, branch) was chosen and
 * stored by the translator, and every request it answers reaches it again
 * as raw bytes, so after a restart the translator's re-sends are
 * retransmissions of the same messages.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

enum { T2 = 4000, UDP_MAX = 1300 };

/* RFC 3261 timers from sip.t1_ms (500 unless an operator tunes it) */
#define T1(sf)  ((sf)->proc.cfg->sip.t1_ms)
#define T_B(sf) (64 * T1(sf))

/** A request we sent: a client transaction. */
struct creq {
	struct le he;
	uint64_t id; /**< outbox id */
	char *branch, *method;
	struct mbuf *mb;
	struct sip_msg *req; /**< our request, decoded (for the ACK) */
	struct sa dst;
	enum sip_transp tp;
	struct tmr retr, timeout;
	uint32_t interval;
	bool invite, completed;
	bool page; /**< MESSAGE (page mode): only the outcome is reported */
	struct sip_front *sf;
};

/** A 2xx to an INVITE, retransmitted until its ACK. */
struct okx {
	struct le he;
	uint64_t id; /**< outbox id */
	char *callid;
	uint32_t cseq;
	struct mbuf *mb;
	struct sa dst;
	enum sip_transp tp;
	struct tmr retr, timeout;
	uint32_t interval;
	struct sip_front *sf;
};


static void creq_destructor(void *arg)
{
	struct creq *c = arg;

	tmr_cancel(&c->retr);
	tmr_cancel(&c->timeout);
	hash_unlink(&c->he);
	mem_deref(c->branch);
	mem_deref(c->method);
	mem_deref(c->mb);
	mem_deref(c->req);
}


static void okx_destructor(void *arg)
{
	struct okx *o = arg;

	tmr_cancel(&o->retr);
	tmr_cancel(&o->timeout);
	hash_unlink(&o->he);
	mem_deref(o->callid);
	mem_deref(o->mb);
}


void sip_call_done(struct sip_front *sf, uint64_t id, uint16_t scode,
		   const char *reason)
{
	struct fbuf fb = {0};

	if (!id)
		return;
	frame_begin(&fb, MSG_SIP_RESULT, 0);
	frame_put_u64(&fb, id);
	frame_put_u32(&fb, scode);
	frame_put_cstr(&fb, reason);
	if (tlink_send_reliable(sf->tl, &fb))
		log_error("out %llu: cannot report its result",
			  (unsigned long long)id);
	fbuf_reset(&fb);
	tlink_done(sf->tl, id);
}


/* A response for the translator; raw == NULL for a local failure. */
static void report_response(struct sip_front *sf, uint64_t id, uint16_t scode,
			    const char *reason, const struct mbuf *raw)
{
	struct fbuf fb = {0};

	frame_begin(&fb, MSG_SIP_IN_RESPONSE, 0);
	frame_put_u64(&fb, id);
	frame_put_u32(&fb, scode);
	frame_put_cstr(&fb, reason);
	frame_put_str(&fb, raw ? (const char *)raw->buf : "",
		      raw ? raw->end : 0);
	if (tlink_send_reliable(sf->tl, &fb))
		log_error("out %llu: cannot report SIP %u",
			  (unsigned long long)id, scode);
	fbuf_reset(&fb);
}


/* The end of a client transaction: a MESSAGE reports its outcome
 * (MSG_SIP_RESULT), a dialog request its final response or local failure
 * (MSG_SIP_IN_RESPONSE). */
static void creq_outcome(struct sip_front *sf, uint64_t id, bool page,
			 uint16_t scode, const char *reason,
			 const struct sip_msg *resp)
{
	if (page) {
		sip_call_done(sf, id, scode, reason);
		return;
	}
	report_response(sf, id, scode, reason, resp ? resp->mb : NULL);
	tlink_done(sf->tl, id);
}


/* "udp|tcp addr:port", as the translator stores a request's source */
static int src_encode(char *buf, size_t sz, const struct sip_msg *msg)
{
	return re_snprintf(buf, sz, "%s %J", sip_transp_name(msg->tp),
			   &msg->src) < 0
		       ? ENOMEM
		       : 0;
}


static int src_decode(const char *s, struct sa *sa, enum sip_transp *tp)
{
	struct pl t, a;

	if (re_regex(s, strlen(s), "[^ ]+ [^]+", &t, &a))
		return EINVAL;
	*tp = !pl_strcasecmp(&t, "tcp") ? SIP_TRANSP_TCP : SIP_TRANSP_UDP;
	return sa_decode(sa, a.p, a.l);
}


int sip_call_request(struct sip_front *sf, const struct sip_msg *msg,
		     uint64_t tx)
{
	struct fbuf fb = {0};
	char src[80];
	int err;

	err = src_encode(src, sizeof(src), msg);
	if (err)
		return err;
	frame_begin(&fb, MSG_SIP_IN_REQUEST, 0);
	frame_put_u64(&fb, tx);
	frame_put_cstr(&fb, src);
	frame_put_str(&fb, (const char *)msg->mb->buf, msg->mb->end);
	err = tlink_send_reliable(sf->tl, &fb);
	fbuf_reset(&fb);
	return err;
}


static bool okx_match(struct le *le, void *arg)
{
	const struct okx *o = le->data;
	const struct sip_msg *msg = arg;

	return o->cseq == msg->cseq.num && !pl_strcmp(&msg->callid, o->callid);
}


bool sip_call_ack(struct sip_front *sf, const struct sip_msg *msg)
{
	struct okx *o = list_ledata(hash_lookup(
		sf->okx, hash_joaat_pl(&msg->callid), okx_match, (void *)msg));

	if (!o)
		return false;
	sip_call_done(sf, o->id, 200, "ACK");
	mem_deref(o);
	return true;
}


static void okx_retr_handler(void *arg)
{
	struct okx *o = arg;

	o->mb->pos = 0;
	(void)sip_send(o->sf->sip, NULL, o->tp, &o->dst, o->mb);
	o->interval = o->interval * 2 > T2 ? T2 : o->interval * 2;
	tmr_start(&o->retr, o->interval, okx_retr_handler, o);
}


static void okx_timeout_handler(void *arg)
{
	struct okx *o = arg;

	log_info("out %llu: no ACK for the 2xx", (unsigned long long)o->id);
	sip_call_done(o->sf, o->id, 408, "No ACK");
	mem_deref(o);
}


static bool okx_id_match(struct le *le, void *arg)
{
	return ((struct okx *)le->data)->id == *(const uint64_t *)arg;
}


/* Keep retransmitting a 2xx to INVITE until the ACK (UDP) or report it
 * sent once it is on a reliable transport's way. */
static void okx_start(struct sip_front *sf, uint64_t id,
		      const struct sip_msg *req, struct mbuf *mb)
{
	struct okx *o;

	if (!id)
		return;
	if (hash_apply(sf->okx, okx_id_match, &id))
		return;
	o = mem_zalloc(sizeof(*o), okx_destructor);
	if (!o || pl_strdup(&o->callid, &req->callid)) {
		mem_deref(o);
		return;
	}
	o->sf = sf;
	o->id = id;
	o->cseq = req->cseq.num;
	o->mb = mem_ref(mb);
	o->tp = req->tp;
	sip_reply_addr(&o->dst, req, true);
	tmr_init(&o->retr);
	tmr_init(&o->timeout);
	hash_append(sf->okx, hash_joaat_pl(&req->callid), &o->he, o);
	if (o->tp == SIP_TRANSP_UDP) {
		o->interval = T1(sf);
		tmr_start(&o->retr, T1(sf), okx_retr_handler, o);
	}
	tmr_start(&o->timeout, T_B(sf), okx_timeout_handler, o);
}


int sip_call_respond(struct sip_front *sf, struct frame *fr)
{
	const char *src, *raw, *reason, *hdrs, *body;
	size_t srcl, rawl, reasonl, hdrsl, bodyl;
	uint64_t id = fr->seq, tx, totag;
	uint32_t scode;
	struct sip_strans *st = NULL;
	struct strans *sx;
	struct sip_msg *req = NULL;
	struct mbuf *in = NULL, *out = NULL;
	char srcs[80], reasons[128];
	bool rr;
	int err = 0;

	tx = frame_get_u64(fr);
	frame_get_str(fr, &src, &srcl);
	frame_get_str(fr, &raw, &rawl);
	totag = frame_get_u64(fr);
	scode = frame_get_u32(fr);
	frame_get_str(fr, &reason, &reasonl);
	frame_get_str(fr, &hdrs, &hdrsl);
	frame_get_str(fr, &body, &bodyl);
	if (frame_end(fr) || scode < 100 || scode > 699 || !rawl ||
	    srcl >= sizeof(srcs))
		return EBADMSG;
	/* a long phrase is the translator's wording, not a broken frame */
	if (reasonl >= sizeof(reasons))
		reasonl = sizeof(reasons) - 1;
	if (id && (tlink_is_done(sf->tl, id) ||
		   hash_apply(sf->okx, okx_id_match, &id)))
		return 0; /* a re-send of what this incarnation did */

	memcpy(srcs, src, srcl);
	srcs[srcl] = 0;
	memcpy(reasons, reason, reasonl);
	reasons[reasonl] = 0;

	/* the live server transaction, or a new one for the stored request */
	sx = sip_front_strans_find(sf, tx);
	if (!sx) {
		in = mbuf_alloc(rawl);
		err = in ? mbuf_write_mem(in, (const uint8_t *)raw, rawl)
			 : ENOMEM;
		if (err)
			goto out;
		in->pos = 0;
		err = sip_msg_decode(&req, in);
		if (!err)
			err = src_decode(srcs, &req->src, &req->tp);
		if (!err) {
			req->dst = sf->laddr;
			sx = sip_front_strans_restore(sf, req, tx);
		}
		req = mem_deref(req);
		if (!sx) {
			log_warn("out %llu: stored request unusable",
				 (unsigned long long)id);
			err = 0;
			sip_call_done(sf, id, 500, "Bad stored request");
			goto out;
		}
	}
	req = mem_ref((void *)sip_front_strans_msg(sx));
	st = sip_front_strans_take(sx, scode >= 200);
	req->tag = totag;
	/* RFC 3261 12.1.1: dialog-creating responses copy Record-Route */
	rr = scode > 100 && scode < 300 && !pl_strcmp(&req->met, "INVITE");
	err = sip_treplyf(&st, &out, sf->sip, req, rr, (uint16_t)scode, reasons,
			  "%b%sContent-Length: %zu\r\n\r\n%b", hdrs, hdrsl,
			  bodyl ? "Content-Type: application/sdp\r\n" : "",
			  bodyl, body, bodyl);
	if (err) {
		log_info("out %llu: cannot send %u: %s", (unsigned long long)id,
			 scode, strerror(err));
		sip_call_done(sf, id, 503, "Send failed");
		err = 0;
		goto out;
	}
	if (scode < 200)
		sip_call_done(sf, id, scode, reasons);
	else if (scode < 300 && !pl_strcmp(&req->cseq.met, "INVITE"))
		okx_start(sf, id, req, out);
	else
		sip_call_done(sf, id, scode, reasons);
out:
	mem_deref(req);
	mem_deref(in);
	mem_deref(out);
	return err;
}


/* Where a request goes: dst (an URI: route or remote target), else the
 * proxy, else the Request-URI. Numeric hosts only. */
static int next_hop(const struct xsgw_config *cfg, const char *ruri,
		    const char *dst, struct sa *sa, enum sip_transp *tp)
{
	struct uri u;
	struct pl pl, tpv;

	*tp = cfg->sip.transport == SIP_TP_TCP ? SIP_TRANSP_TCP
					       : SIP_TRANSP_UDP;
	if (!*dst && cfg->sip.proxy.port)
		return sa_set_str(sa, cfg->sip.proxy.host, cfg->sip.proxy.port);
	pl_set_str(&pl, *dst ? dst : ruri);
	/* a route may be a name-addr: <sip:...;lr> */
	if (pl.l && pl.p[0] == '<') {
		pl.p++;
		pl.l = strcspn(pl.p, ">");
	}
	if (uri_decode(&u, &pl))
		return EINVAL;
	if (!msg_param_decode(&u.params, "transport", &tpv))
		*tp = !pl_strcasecmp(&tpv, "tcp") ? SIP_TRANSP_TCP
						  : SIP_TRANSP_UDP;
	return sa_set(sa, &u.host, u.port ? u.port : 5060);
}


static void creq_retr_handler(void *arg)
{
	struct creq *c = arg;

	c->mb->pos = 0;
	(void)sip_send(c->sf->sip, NULL, c->tp, &c->dst, c->mb);
	c->interval = c->invite ? c->interval * 2
				: (c->interval * 2 > T2 ? T2 : c->interval * 2);
	tmr_start(&c->retr, c->interval, creq_retr_handler, c);
}


static void creq_timeout_handler(void *arg)
{
	struct creq *c = arg;

	log_info("out %llu: %s timed out", (unsigned long long)c->id,
		 c->method);
	creq_outcome(c->sf, c->id, c->page, 408, "Request Timeout", NULL);
	mem_deref(c);
}


static bool creq_id_match(struct le *le, void *arg)
{
	return ((struct creq *)le->data)->id == *(const uint64_t *)arg;
}


int sip_call_send(struct sip_front *sf, struct frame *fr)
{
	char *method, *ruri, *dst, *branch, *hdrs;
	const char *body;
	size_t bodyl;
	int err = 0;

	method = frame_get_strdup(fr);
	ruri = frame_get_strdup(fr);
	dst = frame_get_strdup(fr);
	branch = frame_get_strdup(fr);
	hdrs = frame_get_strdup(fr);
	frame_get_str(fr, &body, &bodyl);
	if (frame_end(fr) || !method || !*method || !ruri || !*ruri)
		err = EBADMSG;
	else
		err = sip_call_start(sf, fr->seq, method, ruri, dst, branch,
				     hdrs, body, bodyl, false);
	mem_deref(method);
	mem_deref(ruri);
	mem_deref(dst);
	mem_deref(branch);
	mem_deref(hdrs);
	if (err && err != EBADMSG)
		log_error("out %llu: %s (re-sent when the link is back)",
			  (unsigned long long)fr->seq, strerror(err));
	return err == EBADMSG ? err : 0;
}


int sip_call_start(struct sip_front *sf, uint64_t id, const char *method,
		   const char *ruri, const char *dst, const char *branch,
		   const char *hdrs, const char *body, size_t bodyl, bool page)
{
	const struct xsgw_config *cfg = sf->proc.cfg;
	struct creq *c = NULL;
	struct sa laddr;
	int err = 0;

	if (tlink_is_done(sf->tl, id) ||
	    hash_apply(sf->creqs, creq_id_match, &id))
		return 0;

	c = mem_zalloc(sizeof(*c), creq_destructor);
	if (!c || str_dup(&c->method, method) || str_dup(&c->branch, branch)) {
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

	if (next_hop(cfg, ruri, dst, &c->dst, &c->tp)) {
		log_info("out %llu: no route to %s", (unsigned long long)id,
			 *dst ? dst : ruri);
		creq_outcome(sf, id, page, 503, "No Route To Destination",
			     NULL);
		mem_deref(c);
		return 0;
	}
	if (c->tp == SIP_TRANSP_UDP && bodyl + strlen(hdrs) + 300 > UDP_MAX)
		c->tp = SIP_TRANSP_TCP;
	if (sip_transp_laddr(sf->sip, &laddr, c->tp, &c->dst))
		laddr = sf->laddr;
	c->mb = mbuf_alloc(bodyl + strlen(hdrs) + 512);
	if (!c->mb) {
		mem_deref(c);
		return ENOMEM;
	}
	err = mbuf_printf(c->mb,
			  "%s %s SIP/2.0\r\n"
			  "Via: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
			  "Max-Forwards: 70\r\n"
			  "%s"
			  "User-Agent: xsgw\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  c->method, ruri, sip_transp_name(c->tp),
			  cfg->sip.local_host, sa_port(&laddr), c->branch, hdrs,
			  bodyl);
	err |= mbuf_write_mem(c->mb, (const uint8_t *)body, bodyl);
	if (!err) {
		c->mb->pos = 0;
		err = sip_msg_decode(&c->req, c->mb);
		c->mb->pos = 0;
	}
	if (err) {
		log_warn("out %llu: cannot build %s: %s",
			 (unsigned long long)id, c->method, strerror(err));
		creq_outcome(sf, id, page, 500, "Bad Request Built", NULL);
		mem_deref(c);
		return 0;
	}
	err = sip_send(sf->sip, NULL, c->tp, &c->dst, c->mb);
	if (err) {
		log_info("out %llu: send to %J failed: %s",
			 (unsigned long long)id, &c->dst, strerror(err));
		creq_outcome(sf, id, page, 503, "Service Unavailable", NULL);
		mem_deref(c);
		return 0;
	}
	log_debug("out %llu: %s %s via %s %J\n%b", (unsigned long long)id,
		  c->method, ruri, sip_transp_name(c->tp), &c->dst, c->mb->buf,
		  c->mb->end);
	if (!strcmp(c->method, "ACK")) {
		/* no transaction: the translator re-sends it per 2xx */
		sip_call_done(sf, id, 0, "sent");
		mem_deref(c);
		return 0;
	}
	if (c->tp == SIP_TRANSP_UDP) {
		c->interval = T1(sf);
		tmr_start(&c->retr, T1(sf), creq_retr_handler, c);
	}
	tmr_start(&c->timeout, page ? cfg->sip.message_timeout_ms : T_B(sf),
		  creq_timeout_handler, c);
	return 0;
}


/* The hop-by-hop ACK for a non-2xx final response (RFC 3261 17.1.1.3). */
static void creq_ack(struct creq *c, const struct sip_msg *resp)
{
	const struct sip_msg *r = c->req;
	struct mbuf *mb = mbuf_alloc(512);
	struct le *le;
	int err;

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


static void creq_gone_handler(void *arg)
{
	mem_deref(arg);
}


static bool creq_match(struct le *le, void *arg)
{
	const struct creq *c = le->data;
	const struct sip_msg *msg = arg;

	return !pl_strcmp(&msg->via.branch, c->branch) &&
	       !pl_strcmp(&msg->cseq.met, c->method);
}


bool sip_call_response(struct sip_front *sf, const struct sip_msg *msg)
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
			report_response(sf, 0, msg->scode, reason, msg->mb);
		return true;
	}
	if (c->completed) {
		creq_ack(c, msg); /* a retransmitted final response */
		return true;
	}
	if (msg->scode < 200) {
		if (!c->page)
			report_response(sf, c->id, msg->scode, reason, msg->mb);
		if (c->invite)
			tmr_cancel(&c->retr); /* Timer A stops (17.1.1.2) */
		else if (c->tp == SIP_TRANSP_UDP) {
			c->interval = T2;
			tmr_start(&c->retr, T2, creq_retr_handler, c);
		}
		/* an answered INVITE may ring for long: the translator's
		 * ring timeout ends it (CANCEL), not Timer B */
		if (c->invite)
			tmr_cancel(&c->timeout);
		return true;
	}
	creq_outcome(sf, c->id, c->page, msg->scode, reason, msg);
	if (c->invite && msg->scode >= 300) {
		creq_ack(c, msg);
		if (c->tp == SIP_TRANSP_UDP) {
			/* Timer D: absorb and ACK retransmissions */
			c->completed = true;
			tmr_cancel(&c->retr);
			tmr_start(&c->timeout, T_B(sf), creq_gone_handler, c);
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


void sip_call_flush(struct sip_front *sf)
{
	hash_apply(sf->creqs, flush_apply, NULL);
	hash_apply(sf->okx, flush_apply, NULL);
}
