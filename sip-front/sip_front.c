/**
 * @file sip_front.c  main(): requests and responses from the SIP network,
 *                    frames from the translator. Requests that must not
 *                    reach the translator (untrusted source 403, malformed
 *                    400, Max-Forwards 0 483) are refused here, and a
 *                    request the translator cannot take (413/500) or does
 *                    not answer in 30 s (503) by sf_strans.c; every other
 *                    request goes to the translator, which decides.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

static struct sip_front sf;


static bool src_trusted(const struct sa *src)
{
	const struct xsgw_config *cfg = sf.proc.cfg;

	for (size_t i = 0; i < cfg->sip.ntrusted; i++) {
		const struct cfg_net *n = &cfg->sip.trusted[i];
		const uint8_t *a;
		unsigned bits = n->prefix, len;

		if (n->v6 != (sa_af(src) == AF_INET6))
			continue;
		a = n->v6 ? (const uint8_t *)&src->u.in6.sin6_addr
			  : (const uint8_t *)&src->u.in.sin_addr;
		len = bits / 8;
		if (memcmp(a, n->addr, len))
			continue;
		if (bits % 8 &&
		    (a[len] ^ n->addr[len]) & (0xff << (8 - bits % 8)))
			continue;
		return true;
	}
	return false;
}


static void reply(const struct sip_msg *msg, uint16_t scode, const char *reason)
{
	sip_replyf(sf.sip, msg, scode, reason, "Content-Length: 0\r\n\r\n");
}


/* Checks libre's parser leaves to us (RFC 4475 torture cases). */
static const char *msg_invalid(const struct sip_msg *msg)
{
	uint32_t clen;

	if (!msg->callid.l)
		return "Missing Call-ID";
	if (!msg->from.tag.l)
		return "Missing From Tag";
	if (!msg->cseq.met.l || pl_cmp(&msg->cseq.met, &msg->met))
		return "CSeq Method Mismatch";
	if (msg->clen.l) {
		if (pl_isset(&msg->clen) &&
		    strspn(msg->clen.p, "0123456789") < msg->clen.l)
			return "Bad Content-Length";
		clen = pl_u32(&msg->clen);
		if (clen != mbuf_get_left(msg->mb))
			return "Content-Length Mismatch";
	}
	if (sip_msg_hdr_count(msg, SIP_HDR_CONTENT_LENGTH) > 1)
		return "Multiple Content-Length";
	return NULL;
}


/* A request for the translator, in a server transaction (not ACK). */
static void request_in(const struct sip_msg *msg)
{
	uint64_t tx = 0;
	int err;

	if (pl_strcmp(&msg->met, "ACK")) {
		tx = sf_strans_new(&sf, msg);
		if (!tx)
			return;
	}
	err = sf_report_request(&sf, msg, tx);
	if (err && tx)
		sf_strans_refuse(&sf, tx, err);
}


/* libre answered a CANCEL for an INVITE waiting for the translator. */
static void sip_front_cancel_handler(const struct sip_msg *cancel, void *arg)
{
	int err = sf_report_request(&sf, cancel, 0);

	if (err)
		log_warn("CANCEL lost: %s", strerror(err));
}


static bool sip_front_request_handler(const struct sip_msg *msg, void *arg)
{
	const char *bad;

	if (!pl_strcmp(&msg->met, "ACK")) {
		if (!sf_strans_ack(&sf, msg) && msg->to.tag.l)
			request_in(msg);
		return true;
	}
	if (!src_trusted(&msg->src)) {
		log_info("%r from untrusted %J refused", &msg->met, &msg->src);
		reply(msg, 403, "Forbidden");
		return true;
	}
	bad = msg_invalid(msg);
	if (bad) {
		log_info("%r from %J: %s", &msg->met, &msg->src, bad);
		reply(msg, 400, bad);
		return true;
	}
	if (msg->maxfwd.l && pl_u32(&msg->maxfwd) == 0 &&
	    pl_strcmp(&msg->met, "OPTIONS")) {
		reply(msg, 483, "Too Many Hops");
		return true;
	}
	request_in(msg); /* the translator decides, OPTIONS and 405 too */
	return true;
}


static bool sip_front_response_handler(const struct sip_msg *msg, void *arg)
{
	return sf_ctrans_response(&sf, msg);
}


static int sip_front_dispatch_translator(struct frame *fr, void *arg)
{
	struct m_sip_out_request rq;
	struct m_sip_out_response rs;
	int err;

	switch (fr->type) {
	case MSG_SIP_OUT_REQUEST:
		if (msg_dec_sip_out_request(fr, &rq))
			return EBADMSG;
		err = sf_ctrans_start(&sf, &rq);
		if (err)
			log_error(
				"out %llu: %s (re-sent when the link is back)",
				(unsigned long long)rq.out, strerror(err));
		return 0;
	case MSG_SIP_OUT_RESPONSE:
		if (msg_dec_sip_out_response(fr, &rs))
			return EBADMSG;
		return sf_strans_respond(&sf, &rs);
	default:
		return EBADMSG;
	}
}


static void sip_front_shutdown(void *arg)
{
	re_cancel();
}


int main(int argc, char **argv)
{
	const struct xsgw_config *cfg;
	int err;

	proc_init(&sf.proc, PROC_SIP_FRONT, argc, argv, sip_front_shutdown,
		  NULL);
	cfg = sf.proc.cfg;
	err = sa_set_str(&sf.laddr, cfg->sip.listen.host, cfg->sip.listen.port);
	if (err)
		fatal(EXIT_CONFIG, "sip.listen: bad address");
	err = sip_alloc(&sf.sip, NULL, 32, 32, 32, "xsgw", NULL, NULL);
	if (!err)
		err = sip_transp_add(sf.sip, SIP_TRANSP_UDP, &sf.laddr);
	if (!err)
		err = sip_transp_add(sf.sip, SIP_TRANSP_TCP, &sf.laddr);
	if (err)
		fatal(1, "sip: cannot listen on %J: %s", &sf.laddr,
		      strerror(err));
	err = sf_strans_init(&sf, sip_front_cancel_handler);
	if (!err)
		err = hash_alloc(&sf.creqs, 256);
	if (!err)
		err = sip_listen(&sf.lsnr_req, sf.sip, true,
				 sip_front_request_handler, NULL);
	if (!err)
		err = sip_listen(&sf.lsnr_resp, sf.sip, false,
				 sip_front_response_handler, NULL);
	if (!err)
		err = tlink_alloc(&sf.tl, &sf.proc,
				  sip_front_dispatch_translator, NULL);
	if (err)
		fatal(1, "sip-front: %s", strerror(err));
	log_info("SIP on udp+tcp %J", &sf.laddr);
	proc_ready(&sf.proc);

	err = proc_run(&sf.proc);

	sf_ctrans_flush(&sf);
	sf_strans_flush(&sf);
	sf.tl = mem_deref(sf.tl);
	sf.lsnr_req = mem_deref(sf.lsnr_req);
	sf.lsnr_resp = mem_deref(sf.lsnr_resp);
	sip_close(sf.sip, true);
	sf.sip = mem_deref(sf.sip);
	sf.strans = mem_deref(sf.strans);
	sf.creqs = mem_deref(sf.creqs);
	sf.okx = mem_deref(sf.okx);
	log_info("stopped");
	libre_close();
	config_free(sf.proc.cfg);
	return err;
}
