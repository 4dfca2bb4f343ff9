/**
 * @file sip_msg.c  Outgoing MESSAGE client transactions (RFC 3261 §17.1.2)
 *                  built from the identifiers the translator stored, so a
 *                  re-send after a restart is a retransmission, not a new
 *                  message.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

enum { T1 = 500, T2 = 4000, UDP_MAX = 1300 };

struct ctrans {
	struct le he;
	uint64_t id;
	char *branch;
	struct mbuf *mb;
	struct sa dst;
	enum sip_transp tp;
	struct tmr retr, timeout;
	uint32_t interval;
	struct sip_front *sf;
};


static void ctrans_destructor(void *arg)
{
	struct ctrans *ct = arg;

	tmr_cancel(&ct->retr);
	tmr_cancel(&ct->timeout);
	hash_unlink(&ct->he);
	mem_deref(ct->branch);
	mem_deref(ct->mb);
}


/* Report the outcome (reliable) and forget the transaction. */
static void ctrans_result(struct ctrans *ct, uint16_t scode, const char *reason)
{
	struct fbuf fb = {0};

	frame_begin(&fb, MSG_SIP_RESULT, 0);
	frame_put_u64(&fb, ct->id);
	frame_put_u32(&fb, scode);
	frame_put_cstr(&fb, reason);
	if (tlink_send_reliable(ct->sf->tl, &fb))
		log_error("msg %llu: cannot report SIP %u",
			  (unsigned long long)ct->id, scode);
	fbuf_reset(&fb);
	tlink_done(ct->sf->tl, ct->id);
	mem_deref(ct);
}


static void retr_handler(void *arg)
{
	struct ctrans *ct = arg;

	ct->mb->pos = 0;
	(void)sip_send(ct->sf->sip, NULL, ct->tp, &ct->dst, ct->mb);
	ct->interval = ct->interval * 2 > T2 ? T2 : ct->interval * 2;
	tmr_start(&ct->retr, ct->interval, retr_handler, ct);
}


static void timeout_handler(void *arg)
{
	struct ctrans *ct = arg;

	log_info("msg %llu: no final response; 408",
		 (unsigned long long)ct->id);
	ctrans_result(ct, 408, "Request Timeout");
}


static bool id_match(struct le *le, void *arg)
{
	const struct ctrans *ct = le->data;

	return ct->id == *(const uint64_t *)arg;
}


/* Where to send: the proxy, or the Request-URI's (numeric) host. */
static int next_hop(const struct xsgw_config *cfg, const char *ruri,
		    struct sa *dst, enum sip_transp *tp)
{
	struct uri u;
	struct pl pl, tpv;

	pl_set_str(&pl, ruri);
	if (uri_decode(&u, &pl))
		return EINVAL;
	*tp = cfg->sip.transport == SIP_TP_TCP ? SIP_TRANSP_TCP
					       : SIP_TRANSP_UDP;
	if (cfg->sip.proxy.port)
		return sa_set_str(dst, cfg->sip.proxy.host,
				  cfg->sip.proxy.port);
	if (!msg_param_decode(&u.params, "transport", &tpv))
		*tp = !pl_strcasecmp(&tpv, "tcp") ? SIP_TRANSP_TCP
						  : SIP_TRANSP_UDP;
	return sa_set(dst, &u.host, u.port ? u.port : 5060);
}


int sip_msg_send(struct sip_front *sf, struct frame *fr)
{
	const struct xsgw_config *cfg = sf->proc.cfg;
	char *ruri, *from, *to, *callid, *ftag, *branch, *ctype;
	const char *body;
	size_t blen;
	uint32_t cseq;
	uint64_t id = fr->seq;
	struct ctrans *ct = NULL;
	struct sa laddr;
	int err = 0;

	ruri = frame_get_strdup(fr);
	from = frame_get_strdup(fr);
	to = frame_get_strdup(fr);
	callid = frame_get_strdup(fr);
	ftag = frame_get_strdup(fr);
	branch = frame_get_strdup(fr);
	ctype = frame_get_strdup(fr);
	frame_get_str(fr, &body, &blen);
	cseq = frame_get_u32(fr);
	if (frame_end(fr)) {
		err = EBADMSG;
		goto out;
	}
	/* the translator re-sends after its restart: do the work once */
	if (tlink_is_done(sf->tl, id) || hash_apply(sf->ctrans, id_match, &id))
		goto out;

	ct = mem_zalloc(sizeof(*ct), ctrans_destructor);
	if (!ct) {
		err = ENOMEM;
		goto out;
	}
	ct->sf = sf;
	ct->id = id;
	ct->branch = branch;
	branch = NULL;
	tmr_init(&ct->retr);
	tmr_init(&ct->timeout);
	hash_append(sf->ctrans, hash_joaat_str(ct->branch), &ct->he, ct);

	if (next_hop(cfg, ruri, &ct->dst, &ct->tp)) {
		log_info("msg %llu: no route to %s", (unsigned long long)id,
			 ruri);
		ctrans_result(ct, 503, "No Route To Destination");
		goto out;
	}
	/* RFC 3261 18.1.1: too large for UDP goes over TCP */
	if (ct->tp == SIP_TRANSP_UDP && blen + 600 > UDP_MAX)
		ct->tp = SIP_TRANSP_TCP;
	if (sip_transp_laddr(sf->sip, &laddr, ct->tp, &ct->dst))
		laddr = sf->laddr;
	ct->mb = mbuf_alloc(blen + 1024);
	if (!ct->mb) {
		mem_deref(ct);
		err = ENOMEM;
		goto out;
	}
	err = mbuf_printf(ct->mb,
			  "MESSAGE %s SIP/2.0\r\n"
			  "Via: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
			  "Max-Forwards: 70\r\n"
			  "From: <%s>;tag=%s\r\n"
			  "To: <%s>\r\n"
			  "Call-ID: %s\r\n"
			  "CSeq: %u MESSAGE\r\n"
			  "Content-Type: %s\r\n"
			  "User-Agent: xsgw\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  ruri, sip_transp_name(ct->tp), cfg->sip.local_host,
			  sa_port(&laddr), ct->branch, from, ftag, to, callid,
			  cseq, ctype, blen);
	err |= mbuf_write_mem(ct->mb, (const uint8_t *)body, blen);
	if (err) {
		mem_deref(ct);
		goto out;
	}
	ct->mb->pos = 0;
	err = sip_send(sf->sip, NULL, ct->tp, &ct->dst, ct->mb);
	if (err) {
		log_info("msg %llu: send to %J failed: %s",
			 (unsigned long long)id, &ct->dst, strerror(err));
		ctrans_result(ct, 503, "Service Unavailable");
		err = 0;
		goto out;
	}
	if (ct->tp == SIP_TRANSP_UDP) {
		ct->interval = T1;
		tmr_start(&ct->retr, T1, retr_handler, ct);
	}
	tmr_start(&ct->timeout, cfg->sip.message_timeout_ms, timeout_handler,
		  ct);
	log_debug("msg %llu: MESSAGE %s via %s %J", (unsigned long long)id,
		  ruri, sip_transp_name(ct->tp), &ct->dst);
out:
	mem_deref(ruri);
	mem_deref(from);
	mem_deref(to);
	mem_deref(callid);
	mem_deref(ftag);
	mem_deref(branch);
	mem_deref(ctype);
	return err == EBADMSG ? err : 0;
}


static bool branch_match(struct le *le, void *arg)
{
	const struct ctrans *ct = le->data;

	return !pl_strcmp(arg, ct->branch);
}


bool sip_msg_response(struct sip_front *sf, const struct sip_msg *msg)
{
	struct ctrans *ct;
	char reason[128];

	if (pl_strcmp(&msg->cseq.met, "MESSAGE"))
		return false;
	ct = list_ledata(hash_lookup(sf->ctrans,
				     hash_joaat_pl(&msg->via.branch),
				     branch_match, (void *)&msg->via.branch));
	if (!ct)
		return true; /* a retransmitted final response: absorbed */
	if (msg->scode < 200) {
		/* Proceeding: keep retransmitting at T2 (17.1.2.2) */
		if (ct->tp == SIP_TRANSP_UDP) {
			ct->interval = T2;
			tmr_start(&ct->retr, T2, retr_handler, ct);
		}
		return true;
	}
	pl_strcpy(&msg->reason, reason, sizeof(reason));
	ctrans_result(ct, msg->scode, reason);
	return true;
}


static bool flush_apply(struct le *le, void *arg)
{
	mem_deref(le->data);
	return false;
}


void sip_msg_flush(struct sip_front *sf)
{
	hash_apply(sf->ctrans, flush_apply, NULL);
}
