/**
 * @file sf_strans.c  Server transactions: requests waiting for the
 *                     translator's answer, and 2xx responses to INVITE
 *                     retransmitted until their ACK (RFC 3261 13.3.1.4).
 *
 * libre's sip_strans absorbs retransmitted requests and retransmits final
 * responses; this file keeps the libre transaction until the translator
 * answers. After a restart of this front, a response to a request it no
 * longer has is sent from the stored raw request (the translator keeps it)
 * through a new server transaction under the same tx id.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "util.h"
#include "sip_front.h"

enum { STRANS_TIMEOUT_MS = 30000 };

/** A request waiting for the translator's answer. */
struct strans {
	struct le he;
	uint64_t tx;
	struct sip_strans *st;
	struct sip_msg *msg;
	struct tmr tmr;
	struct sip_front *sf;
};

/** A 2xx to an INVITE, retransmitted until its ACK. */
struct okx {
	struct le he;
	uint64_t out;
	char *callid;
	uint32_t cseq;
	struct mbuf *mb;
	struct sa dst;
	enum sip_transp tp;
	struct tmr retr, timeout;
	uint32_t interval;
	struct sip_front *sf;
};

static sf_strans_cancel_h *cancel_h;


static void strans_destructor(void *arg)
{
	struct strans *s = arg;

	tmr_cancel(&s->tmr);
	hash_unlink(&s->he);
	mem_deref(s->st);
	mem_deref(s->msg);
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


int sf_strans_init(struct sip_front *sf, sf_strans_cancel_h *cancelh)
{
	int err = hash_alloc(&sf->strans, 256);

	if (!err)
		err = hash_alloc(&sf->okx, 256);
	cancel_h = cancelh;
	/* tx ids are unique across incarnations: a response the translator
	 * owes a request of a previous one must not reach a request that
	 * took the same number since (random high half, a counter below) */
	sf->next_tx = random_u64() & 0x7fffffff00000000ULL;
	return err;
}


static void strans_timeout_handler(void *arg)
{
	struct strans *s = arg;

	log_warn("no answer from the translator for tx %llu; 503",
		 (unsigned long long)s->tx);
	sip_treplyf(&s->st, NULL, s->sf->sip, s->msg, false, 503,
		    "Service Unavailable",
		    "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
	mem_deref(s);
}


static bool strans_match(struct le *le, void *arg)
{
	const struct strans *s = le->data;

	return s->tx == *(const uint64_t *)arg;
}


static struct strans *strans_find(struct sip_front *sf, uint64_t tx)
{
	return list_ledata(
		hash_lookup(sf->strans, (uint32_t)tx, strans_match, &tx));
}


/* libre answered a CANCEL for an INVITE we hold: hand the translator the
 * CANCEL it would have had (RFC 3261 9.1: same Call-ID, From, To, CSeq
 * number, Request-URI and top Via as the INVITE). */
static void strans_cancel_handler(void *arg)
{
	struct strans *s = arg;
	const struct sip_msg *inv = s->msg;
	struct sip_msg cancel;
	struct mbuf *mb = mbuf_alloc(512);
	int err;

	if (!mb)
		return;
	err = mbuf_printf(mb,
			  "CANCEL %r SIP/2.0\r\nVia: %r\r\nFrom: %r\r\n"
			  "To: %r\r\nCall-ID: %r\r\nCSeq: %u CANCEL\r\n"
			  "Content-Length: 0\r\n\r\n",
			  &inv->ruri, &sip_msg_hdr(inv, SIP_HDR_VIA)->val,
			  &inv->from.val, &inv->to.val, &inv->callid,
			  inv->cseq.num);
	if (!err && cancel_h) {
		memset(&cancel, 0, sizeof(cancel));
		cancel.mb = mb;
		cancel.src = inv->src;
		cancel.tp = inv->tp;
		cancel_h(&cancel, s->sf);
	}
	mem_deref(mb);
}


static struct strans *strans_make(struct sip_front *sf,
				  const struct sip_msg *msg, uint64_t tx)
{
	struct strans *s = mem_zalloc(sizeof(*s), strans_destructor);
	bool invite = !pl_strcmp(&msg->met, "INVITE");

	if (!s || sip_strans_alloc(&s->st, sf->sip, msg,
				   invite ? strans_cancel_handler : NULL, s))
		return mem_deref(s);
	s->sf = sf;
	s->tx = tx;
	s->msg = mem_ref((void *)msg);
	tmr_init(&s->tmr);
	/* a request the translator has not answered at all by then gets a
	 * 503; an INVITE it answered provisionally waits for the callee */
	tmr_start(&s->tmr, STRANS_TIMEOUT_MS, strans_timeout_handler, s);
	hash_append(sf->strans, (uint32_t)s->tx, &s->he, s);
	return s;
}


uint64_t sf_strans_new(struct sip_front *sf, const struct sip_msg *msg)
{
	struct strans *s = strans_make(sf, msg, sf->next_tx + 1);

	if (!s) {
		sip_replyf(sf->sip, msg, 500, "Server Internal Error",
			   "Content-Length: 0\r\n\r\n");
		return 0;
	}
	return ++sf->next_tx;
}


void sf_strans_refuse(struct sip_front *sf, uint64_t tx, int err)
{
	struct strans *s = strans_find(sf, tx);

	if (!s)
		return;
	log_warn("%r from %J: %s", &s->msg->met, &s->msg->src, strerror(err));
	sip_treplyf(&s->st, NULL, sf->sip, s->msg, false,
		    err == EMSGSIZE ? 413 : 500,
		    err == EMSGSIZE ? "Request Entity Too Large"
				    : "Server Internal Error",
		    "Content-Length: 0\r\n\r\n");
	mem_deref(s);
}


static bool okx_match(struct le *le, void *arg)
{
	const struct okx *o = le->data;
	const struct sip_msg *msg = arg;

	return o->cseq == msg->cseq.num && !pl_strcmp(&msg->callid, o->callid);
}


bool sf_strans_ack(struct sip_front *sf, const struct sip_msg *msg)
{
	struct okx *o = list_ledata(hash_lookup(
		sf->okx, hash_joaat_pl(&msg->callid), okx_match, (void *)msg));

	if (!o)
		return false;
	sf_report_done(sf, o->out, 200, "ACK");
	mem_deref(o);
	return true;
}


static void okx_retr_handler(void *arg)
{
	struct okx *o = arg;

	o->mb->pos = 0;
	(void)sip_send(o->sf->sip, NULL, o->tp, &o->dst, o->mb);
	o->interval = o->interval * 2 > SIP_T2 ? SIP_T2 : o->interval * 2;
	tmr_start(&o->retr, o->interval, okx_retr_handler, o);
}


static void okx_timeout_handler(void *arg)
{
	struct okx *o = arg;

	log_info("out %llu: no ACK for the 2xx", (unsigned long long)o->out);
	sf_report_done(o->sf, o->out, 408, "No ACK");
	mem_deref(o);
}


static bool okx_out_match(struct le *le, void *arg)
{
	return ((struct okx *)le->data)->out == *(const uint64_t *)arg;
}


/* Keep retransmitting a 2xx to INVITE until the ACK (Timer G/H analogue,
 * RFC 3261 13.3.1.4); on TCP only the timeout runs. */
static void okx_start(struct sip_front *sf, uint64_t out,
		      const struct sip_msg *req, struct mbuf *mb)
{
	struct pl rport;
	struct okx *o;

	if (!out || hash_apply(sf->okx, okx_out_match, &out))
		return;
	o = mem_zalloc(sizeof(*o), okx_destructor);
	if (!o || pl_strdup(&o->callid, &req->callid)) {
		mem_deref(o);
		return;
	}
	o->sf = sf;
	o->out = out;
	o->cseq = req->cseq.num;
	o->mb = mem_ref(mb);
	o->tp = req->tp;
	/* where libre sent the first one (RFC 3261 18.2.2 and RFC 3581: the
	 * source port only if the Via asked for rport) */
	sip_reply_addr(&o->dst, req,
		       !msg_param_exists(&req->via.params, "rport", &rport));
	tmr_init(&o->retr);
	tmr_init(&o->timeout);
	hash_append(sf->okx, hash_joaat_pl(&req->callid), &o->he, o);
	if (o->tp == SIP_TRANSP_UDP) {
		o->interval = T1_OF(sf);
		tmr_start(&o->retr, T1_OF(sf), okx_retr_handler, o);
	}
	tmr_start(&o->timeout, TB_OF(sf), okx_timeout_handler, o);
}


/* The server transaction for tx: the live one, or a new one for the
 * stored request (this front restarted since). NULL if unusable. */
static struct strans *strans_for(struct sip_front *sf,
				 const struct m_sip_out_response *m)
{
	struct strans *sx = strans_find(sf, m->tx);
	struct sip_msg *req = NULL;
	struct mbuf *in;
	int err;

	if (sx)
		return sx;
	log_debug("out %llu: tx %llu is not live; a transaction for the "
		  "stored request",
		  (unsigned long long)m->out, (unsigned long long)m->tx);
	in = mbuf_alloc(m->raw.l);
	err = in ? mbuf_write_mem(in, (const uint8_t *)m->raw.p, m->raw.l)
		 : ENOMEM;
	if (!err) {
		in->pos = 0;
		err = sip_msg_decode(&req, in);
	}
	if (!err)
		err = sf_src_decode(&m->src, &req->src, &req->tp);
	if (!err) {
		req->dst = sf->laddr;
		sx = strans_make(sf, req, m->tx);
	}
	mem_deref(req);
	mem_deref(in);
	return sx;
}


int sf_strans_respond(struct sip_front *sf, const struct m_sip_out_response *m)
{
	struct sip_strans *st = NULL;
	struct strans *sx;
	struct sip_msg *req = NULL;
	struct mbuf *out = NULL;
	char reason[128];
	bool rr;
	int err;

	if (m->out && (tlink_is_done(sf->tl, m->out) ||
		       hash_apply(sf->okx, okx_out_match, (void *)&m->out)))
		return 0; /* a re-send of what this incarnation did */
	/* a long phrase is the translator's wording, not a broken frame */
	pl_strcpy(&m->reason, reason, sizeof(reason));

	sx = strans_for(sf, m);
	if (!sx) {
		log_warn("out %llu: stored request unusable",
			 (unsigned long long)m->out);
		sf_report_done(sf, m->out, 500, "Bad stored request");
		return 0;
	}
	req = mem_ref(sx->msg);
	if (m->scode >= 200) {
		st = sx->st; /* libre's from now (retransmissions) */
		sx->st = NULL;
		mem_deref(sx);
	} else {
		st = sx->st;
		tmr_cancel(&sx->tmr); /* answered: the translator's timers
					 rule */
	}
	req->tag = m->totag;
	/* RFC 3261 12.1.1: dialog-creating responses copy Record-Route */
	rr = m->scode > 100 && m->scode < 300 &&
	     !pl_strcmp(&req->met, "INVITE");
	err = sip_treplyf(&st, &out, sf->sip, req, rr, (uint16_t)m->scode,
			  reason, "%rContent-Length: %zu\r\n\r\n%r", &m->hdrs,
			  m->body.l, &m->body);
	if (m->scode < 200 && sx)
		sx->st = st;
	if (err) {
		log_info("out %llu: cannot send %u: %s",
			 (unsigned long long)m->out, m->scode, strerror(err));
		sf_report_done(sf, m->out, 503, "Send failed");
	} else if (m->scode >= 200 && m->scode < 300 &&
		   !pl_strcmp(&req->cseq.met, "INVITE"))
		okx_start(sf, m->out, req, out);
	else
		sf_report_done(sf, m->out, (uint16_t)m->scode, reason);
	mem_deref(req);
	mem_deref(out);
	return 0;
}


static bool flush_apply(struct le *le, void *arg)
{
	mem_deref(le->data);
	return false;
}


void sf_strans_flush(struct sip_front *sf)
{
	hash_apply(sf->okx, flush_apply, NULL);
	hash_apply(sf->strans, flush_apply, NULL);
}
