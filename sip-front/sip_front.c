/**
 * @file sip_front.c  main(), requests from the SIP network.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"

enum { STRANS_TIMEOUT_MS = 30000 };

/** A request waiting for the translator's answer. */
struct strans {
	struct le he;
	uint64_t tx;
	struct sip_strans *st;
	struct sip_msg *msg;
	struct tmr tmr;
};

static struct sip_front sf;


static void strans_destructor(void *arg)
{
	struct strans *s = arg;

	tmr_cancel(&s->tmr);
	hash_unlink(&s->he);
	mem_deref(s->st);
	mem_deref(s->msg);
}


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


static void strans_timeout_handler(void *arg)
{
	struct strans *s = arg;

	log_warn("no answer from the translator for tx %llu; 503",
		 (unsigned long long)s->tx);
	sip_treplyf(&s->st, NULL, sf.sip, s->msg, false, 503,
		    "Service Unavailable",
		    "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
	mem_deref(s);
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


static bool strans_match(struct le *le, void *arg)
{
	const struct strans *s = le->data;

	return s->tx == *(const uint64_t *)arg;
}


const struct sip_msg *sip_front_strans_msg(const struct strans *s)
{
	return s->msg;
}


struct sip_strans *sip_front_strans_take(struct strans *s, bool final)
{
	struct sip_strans *st = s->st;

	if (final) {
		s->st = NULL; /* libre's now */
		mem_deref(s);
	} else
		tmr_cancel(
			&s->tmr); /* answered: the translator's timers rule */
	return st;
}


static void strans_track(struct strans *s, const struct sip_msg *msg)
{
	s->msg = mem_ref((void *)msg);
	tmr_init(&s->tmr);
	/* a request the translator has not answered at all by then gets a
	 * 503; an INVITE it answered provisionally waits for the callee */
	tmr_start(&s->tmr, STRANS_TIMEOUT_MS, strans_timeout_handler, s);
	hash_append(sf.strans, (uint32_t)s->tx, &s->he, s);
}


/* libre answered a CANCEL for an INVITE we hold: tell the translator as
 * if the CANCEL had come to us (RFC 3261 9.1: same Call-ID, From, To,
 * CSeq number, Request-URI and Via as the INVITE). */
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
	if (!err) {
		memset(&cancel, 0, sizeof(cancel));
		cancel.mb = mb;
		cancel.src = inv->src;
		cancel.tp = inv->tp;
		err = sip_call_request(&sf, &cancel, 0);
	}
	if (err)
		log_warn("CANCEL for tx %llu lost: %s",
			 (unsigned long long)s->tx, strerror(err));
	mem_deref(mb);
}


static struct strans *strans_make(const struct sip_msg *msg, uint64_t tx)
{
	struct strans *s = mem_zalloc(sizeof(*s), strans_destructor);
	bool invite = !pl_strcmp(&msg->met, "INVITE");

	if (!s || sip_strans_alloc(&s->st, sf.sip, msg,
				   invite ? strans_cancel_handler : NULL, s))
		return mem_deref(s);
	s->tx = tx;
	strans_track(s, msg);
	return s;
}


static struct strans *strans_new(const struct sip_msg *msg)
{
	struct strans *s = strans_make(msg, sf.next_tx + 1);

	if (!s) {
		reply(msg, 500, "Server Internal Error");
		return NULL;
	}
	sf.next_tx++;
	return s;
}


struct strans *sip_front_strans_restore(struct sip_front *f,
					const struct sip_msg *msg, uint64_t tx)
{
	return strans_make(msg, tx);
}


struct strans *sip_front_strans_find(struct sip_front *f, uint64_t tx)
{
	return list_ledata(
		hash_lookup(f->strans, (uint32_t)tx, strans_match, &tx));
}


/* A request that could not be handed to the translator: answer it now
 * (too large for a frame: 413) and forget it. */
static void strans_refuse(struct strans *s, int err)
{
	log_warn("%r from %J: %s", &s->msg->met, &s->msg->src, strerror(err));
	sip_treplyf(&s->st, NULL, sf.sip, s->msg, false,
		    err == EMSGSIZE ? 413 : 500,
		    err == EMSGSIZE ? "Request Entity Too Large"
				    : "Server Internal Error",
		    "Content-Length: 0\r\n\r\n");
	mem_deref(s);
}


/* A dialog request for the translator. */
static void dialog_in(const struct sip_msg *msg)
{
	struct strans *s = NULL;
	int err;

	if (pl_strcmp(&msg->met, "ACK")) {
		s = strans_new(msg);
		if (!s)
			return;
	}
	err = sip_call_request(&sf, msg, s ? s->tx : 0);
	if (err && s)
		strans_refuse(s, err);
}


static void message_in(const struct sip_msg *msg)
{
	const struct sip_hdr *ct;
	struct fbuf fb = {0};
	struct strans *s;
	char src[64], cseq[16];
	int err;

	s = strans_new(msg);
	if (!s)
		return;

	ct = sip_msg_hdr(msg, SIP_HDR_CONTENT_TYPE);
	re_snprintf(src, sizeof(src), "%J", &msg->src);
	frame_begin(&fb, MSG_SIP_IN_MESSAGE, 0);
	frame_put_u64(&fb, s->tx);
	frame_put_str(&fb, msg->callid.p, msg->callid.l);
	re_snprintf(cseq, sizeof(cseq), "%u", msg->cseq.num);
	frame_put_cstr(&fb, cseq);
	frame_put_str(&fb, msg->from.tag.p, msg->from.tag.l);
	frame_put_str(&fb, msg->from.auri.p, msg->from.auri.l);
	frame_put_str(&fb, msg->to.auri.p, msg->to.auri.l);
	frame_put_str(&fb, msg->ruri.p, msg->ruri.l);
	frame_put_str(&fb, ct ? ct->val.p : "", ct ? ct->val.l : 0);
	frame_put_str(&fb, (const char *)mbuf_buf(msg->mb),
		      mbuf_get_left(msg->mb));
	frame_put_cstr(&fb, src);
	err = tlink_send_reliable(sf.tl, &fb);
	fbuf_reset(&fb);
	if (err)
		strans_refuse(s, err);
}


#define ALLOW "INVITE, ACK, CANCEL, BYE, INFO, UPDATE, MESSAGE, OPTIONS"


/* Methods the translator handles inside (or to start) a dialog. */
static bool method_dialog(const struct pl *met)
{
	static const char *m[] = {"INVITE", "BYE",     "CANCEL",  "INFO",
				  "UPDATE", "MESSAGE", "OPTIONS", NULL};

	for (int i = 0; m[i]; i++)
		if (!pl_strcmp(met, m[i]))
			return true;
	return false;
}


static bool sip_front_request_handler(const struct sip_msg *msg, void *arg)
{
	const char *bad;

	if (!pl_strcmp(&msg->met, "ACK")) {
		if (!sip_call_ack(&sf, msg) && msg->to.tag.l)
			dialog_in(msg);
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
	if (!pl_strcmp(&msg->met, "OPTIONS") && !msg->to.tag.l) {
		sip_replyf(sf.sip, msg, 200, "OK",
			   "Allow: " ALLOW "\r\n"
			   "Accept: text/plain, application/sdp\r\n"
			   "Content-Length: 0\r\n\r\n");
		return true;
	}
	if (!pl_strcmp(&msg->met, "MESSAGE") && !msg->to.tag.l) {
		message_in(msg);
		return true;
	}
	if (method_dialog(&msg->met)) {
		dialog_in(msg);
		return true;
	}
	sip_replyf(sf.sip, msg, 405, "Method Not Allowed",
		   "Allow: " ALLOW "\r\nContent-Length: 0\r\n\r\n");
	return true;
}


static bool sip_front_response_handler(const struct sip_msg *msg, void *arg)
{
	return sip_call_response(&sf, msg);
}


static int sip_front_dispatch_translator(struct frame *fr, void *arg)
{
	struct strans *s;
	uint64_t tx;
	uint32_t scode;
	char *reason;

	switch (fr->type) {
	case MSG_SIP_OUT_REPLY:
		tx = frame_get_u64(fr);
		scode = frame_get_u32(fr);
		reason = frame_get_strdup(fr);
		if (frame_end(fr) || scode < 200 || scode > 699) {
			mem_deref(reason);
			return EBADMSG;
		}
		s = list_ledata(hash_lookup(sf.strans, (uint32_t)tx,
					    strans_match, &tx));
		if (s) {
			sip_treplyf(&s->st, NULL, sf.sip, s->msg, false,
				    (uint16_t)scode, reason,
				    "%sContent-Length: 0\r\n\r\n",
				    scode == 415 ? "Accept: text/plain\r\n"
						 : "");
			mem_deref(s);
		}
		/* else answered already, or by a previous incarnation */
		sip_call_done(&sf, fr->seq, (uint16_t)scode, "replied");
		mem_deref(reason);
		return 0;
	case MSG_SIP_OUT_MESSAGE:
		return sip_msg_send(&sf, fr);
	case MSG_SIP_OUT_REQUEST:
		return sip_call_send(&sf, fr);
	case MSG_SIP_OUT_RESPONSE:
		return sip_call_respond(&sf, fr);
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
	err = hash_alloc(&sf.strans, 256);
	if (!err)
		err = hash_alloc(&sf.creqs, 256);
	if (!err)
		err = hash_alloc(&sf.okx, 256);
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

	sip_call_flush(&sf);
	hash_flush(sf.strans);
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
