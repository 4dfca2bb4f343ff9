/**
 * @file sip_front.c  main(): requests and responses from the SIP network,
 *                    frames from the translator. sf_strans.c refuses
 *                    requests that must not reach the translator
 *                    (untrusted source 403, malformed or control bytes
 *                    400, Max-Forwards 0 483), that it cannot take
 *                    (413/500) or did not take in 30 s (503); every other
 *                    request goes to the translator, which decides.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

static struct sip_front sf;


/* libre answered a CANCEL for an INVITE waiting for the translator. */
static void sip_front_cancel_handler(const struct sip_msg *cancel, void *arg)
{
	int err = sf_report_request(&sf, cancel, 0, 0);

	if (err)
		log_warn("CANCEL lost: %s", strerror(err));
}


static bool sip_front_request_handler(const struct sip_msg *msg, void *arg)
{
	sf_strans_request(&sf, msg);
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
	sf.strans_timeout_ms = cfg->sip.request_wait_ms;
	err = sa_set_str(&sf.laddr, cfg->sip.listen.host, cfg->sip.listen.port);
	if (err)
		fatal(EXIT_CONFIG, "sip.listen: bad address");
	/* libre's transaction tables: a UDP server transaction stays Timer J
	 * (32 s) after its answer, some 48,000 at 1,500 requests/s; with 32
	 * buckets each lookup walked a thousand of them */
	err = sip_alloc(&sf.sip, NULL, 16384, 16384, 256, "xsgw", NULL, NULL);
	if (!err)
		err = sip_transp_add(sf.sip, SIP_TRANSP_UDP, &sf.laddr);
	/* TCP: what libre would close a connection for is answered by the
	 * guard (sf_tcp.c), a request too large for a frame 413 (sf_strans.c)
	 */
	if (!err && sf_tcp_init(&sf))
		log_warn(
			"TCP guard off (tcp_accept not exported): oversize and "
			"undecodable requests over TCP close the connection");
	if (!err)
		err = sip_transp_add(sf.sip, SIP_TRANSP_TCP, &sf.laddr);
	if (err)
		fatal(1, "sip: cannot listen on %J: %s", &sf.laddr,
		      strerror(err));
	err = sf_strans_init(&sf, sip_front_cancel_handler);
	if (!err)
		err = hash_alloc(&sf.creqs, SF_HASH_BUCKETS);
	if (!err)
		err = hash_alloc(&sf.creq_ids, SF_HASH_BUCKETS);
	if (!err)
		err = hash_alloc(&sf.reach, 64);
	if (!err)
		err = sf_dns_init(&sf);
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
	err = sf_strans_probe(&sf);
	if (err)
		log_warn("UDP probe: %s (datagrams over 8 KiB are truncated)",
			 strerror(err));
	log_info("SIP on udp+tcp %J", &sf.laddr);
	proc_ready(&sf.proc);

	err = proc_run(&sf.proc);

	sf_ctrans_flush(&sf);
	sf_reach_flush(&sf);
	sf_strans_flush(&sf);
	sf_dns_close(&sf);
	sf.tl = mem_deref(sf.tl);
	sf.lsnr_req = mem_deref(sf.lsnr_req);
	sf.lsnr_resp = mem_deref(sf.lsnr_resp);
	sip_close(sf.sip, true);
	sf.sip = mem_deref(sf.sip);
	sf_tcp_close();
	sf.strans = mem_deref(sf.strans);
	sf.creqs = mem_deref(sf.creqs);
	sf.creq_ids = mem_deref(sf.creq_ids);
	sf.reach = mem_deref(sf.reach);
	sf.okx = mem_deref(sf.okx);
	sf.okx_ids = mem_deref(sf.okx_ids);
	log_info("stopped");
	libre_close();
	config_free(sf.proc.cfg);
	return err;
}
