/**
 * @file msg.c  One encoder/decoder pair per message type (see msg.h), each
 *              pair side by side so a payload's field order is written once.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "msg.h"

#define CASE(x)                                                                \
	case x:                                                                \
		return #x


const char *msg_type_name(uint16_t type)
{
	switch ((enum msg_type)type) {
		CASE(MSG_HELLO);
		CASE(MSG_READY);
		CASE(MSG_PING);
		CASE(MSG_PONG);
		CASE(MSG_SHUTDOWN);
		CASE(MSG_RELOAD);
		CASE(MSG_ACK);
		CASE(MSG_CALL_END);
		CASE(MSG_OUT_DONE);
		CASE(MSG_RESTART);
		CASE(MSG_FD_STORE);
		CASE(MSG_XMPP_LINK);
		CASE(MSG_XMPP_IN);
		CASE(MSG_XMPP_OUT);
		CASE(MSG_CLIENT_UP);
		CASE(MSG_CLIENT_OUT);
		CASE(MSG_CLIENT_SM);
		CASE(MSG_CLIENT_STATE);
		CASE(MSG_SIP_IN_REQUEST);
		CASE(MSG_SIP_IN_RESPONSE);
		CASE(MSG_SIP_OUT_REQUEST);
		CASE(MSG_SIP_OUT_RESPONSE);
		CASE(MSG_CTL_STATUS);
		CASE(MSG_CTL_WORKER);
		CASE(MSG_CTL_RESTART);
		CASE(MSG_CTL_END);
		CASE(MSG_CTL_CALL_END);
	}
	return NULL;
}


static void put_pl(struct fbuf *fb, const struct pl *pl)
{
	frame_put_str(fb, pl->p ? pl->p : "", pl->l);
}


static void get_pl(struct frame *fr, struct pl *pl)
{
	frame_get_str(fr, &pl->p, &pl->l);
}


static int end(struct fbuf *fb)
{
	int err = frame_finish(fb);

	if (err)
		fbuf_reset(fb);
	return err;
}


int msg_enc_empty(struct fbuf *fb, uint16_t type)
{
	frame_begin(fb, type, 0);
	return end(fb);
}


int msg_dec_empty(struct frame *fr)
{
	return frame_end(fr);
}


int msg_rebuild(struct fbuf *fb, uint16_t type, const void *payload, size_t len)
{
	frame_begin(fb, type, 0);
	frame_put_raw(fb, payload, len);
	return end(fb);
}


int msg_enc_hello(struct fbuf *fb, const struct m_hello *m)
{
	frame_begin(fb, MSG_HELLO, 0);
	frame_put_u32(fb, m->proc);
	frame_put_u32(fb, m->pid);
	frame_put_u64(fb, m->boot);
	frame_put_u64(fb, m->acked);
	return end(fb);
}

int msg_dec_hello(struct frame *fr, struct m_hello *m)
{
	m->proc = frame_get_u32(fr);
	m->pid = frame_get_u32(fr);
	m->boot = frame_get_u64(fr);
	m->acked = frame_get_u64(fr);
	return frame_end(fr);
}


int msg_enc_ping(struct fbuf *fb, uint16_t type, const struct m_ping *m)
{
	frame_begin(fb, type, 0);
	frame_put_u64(fb, m->nonce);
	return end(fb);
}

int msg_dec_ping(struct frame *fr, struct m_ping *m)
{
	m->nonce = frame_get_u64(fr);
	return frame_end(fr);
}


int msg_enc_ack(struct fbuf *fb, const struct m_ack *m)
{
	frame_begin(fb, MSG_ACK, 0);
	frame_put_u64(fb, m->seq);
	return end(fb);
}

int msg_dec_ack(struct frame *fr, struct m_ack *m)
{
	m->seq = frame_get_u64(fr);
	return frame_end(fr);
}


int msg_enc_id(struct fbuf *fb, uint16_t type, const struct m_id *m)
{
	frame_begin(fb, type, 0);
	frame_put_u64(fb, m->id);
	return end(fb);
}

int msg_dec_id(struct frame *fr, struct m_id *m)
{
	m->id = frame_get_u64(fr);
	return frame_end(fr);
}


int msg_enc_out_done(struct fbuf *fb, const struct m_out_done *m)
{
	frame_begin(fb, MSG_OUT_DONE, 0);
	frame_put_u64(fb, m->out);
	frame_put_u32(fb, m->scode);
	put_pl(fb, &m->reason);
	return end(fb);
}

int msg_dec_out_done(struct frame *fr, struct m_out_done *m)
{
	m->out = frame_get_u64(fr);
	m->scode = frame_get_u32(fr);
	get_pl(fr, &m->reason);
	return frame_end(fr);
}


int msg_enc_xmpp_link(struct fbuf *fb, const struct m_xmpp_link *m)
{
	frame_begin(fb, MSG_XMPP_LINK, 0);
	frame_put_u32(fb, m->up);
	frame_put_u64(fb, m->stream);
	return end(fb);
}

int msg_dec_xmpp_link(struct frame *fr, struct m_xmpp_link *m)
{
	m->up = frame_get_u32(fr);
	m->stream = frame_get_u64(fr);
	return frame_end(fr);
}


int msg_enc_fd_store(struct fbuf *fb, const struct m_fd_store *m)
{
	frame_begin(fb, MSG_FD_STORE, 0);
	frame_put_u32(fb, m->nfds);
	return end(fb);
}

int msg_dec_fd_store(struct frame *fr, struct m_fd_store *m)
{
	m->nfds = frame_get_u32(fr);
	if (frame_end(fr) || m->nfds > FD_STORE_MAX)
		return EBADMSG;
	return 0;
}


int msg_enc_xmpp_in(struct fbuf *fb, const struct m_xmpp_in *m)
{
	frame_begin(fb, MSG_XMPP_IN, 0);
	frame_put_u64(fb, m->stream);
	frame_put_u64(fb, m->end);
	put_pl(fb, &m->xml);
	return end(fb);
}

int msg_dec_xmpp_in(struct frame *fr, struct m_xmpp_in *m)
{
	m->stream = frame_get_u64(fr);
	m->end = frame_get_u64(fr);
	get_pl(fr, &m->xml);
	return frame_end(fr);
}


int msg_enc_xmpp_out(struct fbuf *fb, const struct m_xmpp_out *m)
{
	frame_begin(fb, MSG_XMPP_OUT, 0);
	frame_put_u64(fb, m->out);
	put_pl(fb, &m->xml);
	return end(fb);
}

int msg_dec_xmpp_out(struct frame *fr, struct m_xmpp_out *m)
{
	m->out = frame_get_u64(fr);
	get_pl(fr, &m->xml);
	return frame_end(fr);
}


int msg_enc_client_up(struct fbuf *fb, const struct m_client_up *m)
{
	frame_begin(fb, MSG_CLIENT_UP, 0);
	put_pl(fb, &m->jid);
	return end(fb);
}

int msg_dec_client_up(struct frame *fr, struct m_client_up *m)
{
	get_pl(fr, &m->jid);
	return frame_end(fr);
}


int msg_enc_client_out(struct fbuf *fb, const struct m_client_out *m)
{
	frame_begin(fb, MSG_CLIENT_OUT, 0);
	frame_put_u64(fb, m->out);
	put_pl(fb, &m->jid);
	put_pl(fb, &m->xml);
	return end(fb);
}

int msg_dec_client_out(struct frame *fr, struct m_client_out *m)
{
	m->out = frame_get_u64(fr);
	get_pl(fr, &m->jid);
	get_pl(fr, &m->xml);
	return frame_end(fr);
}


int msg_enc_client_sm(struct fbuf *fb, uint16_t type,
		      const struct m_client_sm *m)
{
	frame_begin(fb, type, 0);
	put_pl(fb, &m->jid);
	put_pl(fb, &m->smid);
	frame_put_u32(fb, m->h);
	frame_put_u32(fb, m->k);
	put_pl(fb, &m->xml);
	return end(fb);
}

int msg_dec_client_sm(struct frame *fr, struct m_client_sm *m)
{
	get_pl(fr, &m->jid);
	get_pl(fr, &m->smid);
	m->h = frame_get_u32(fr);
	m->k = frame_get_u32(fr);
	get_pl(fr, &m->xml);
	return frame_end(fr);
}


int msg_enc_sip_in_request(struct fbuf *fb, const struct m_sip_in_request *m)
{
	frame_begin(fb, MSG_SIP_IN_REQUEST, 0);
	frame_put_u64(fb, m->tx);
	put_pl(fb, &m->src);
	put_pl(fb, &m->raw);
	frame_put_u64(fb, m->deadline_ms);
	return end(fb);
}

int msg_dec_sip_in_request(struct frame *fr, struct m_sip_in_request *m)
{
	m->tx = frame_get_u64(fr);
	get_pl(fr, &m->src);
	get_pl(fr, &m->raw);
	m->deadline_ms = frame_get_u64(fr);
	return frame_end(fr);
}


int msg_enc_sip_in_response(struct fbuf *fb, const struct m_sip_in_response *m)
{
	frame_begin(fb, MSG_SIP_IN_RESPONSE, 0);
	frame_put_u64(fb, m->out);
	frame_put_u32(fb, m->scode);
	put_pl(fb, &m->reason);
	put_pl(fb, &m->raw);
	return end(fb);
}

int msg_dec_sip_in_response(struct frame *fr, struct m_sip_in_response *m)
{
	m->out = frame_get_u64(fr);
	m->scode = frame_get_u32(fr);
	get_pl(fr, &m->reason);
	get_pl(fr, &m->raw);
	if (!fr->err && (m->scode < 100 || m->scode > 699))
		return EBADMSG;
	return frame_end(fr);
}


int msg_enc_sip_out_request(struct fbuf *fb, const struct m_sip_out_request *m)
{
	frame_begin(fb, MSG_SIP_OUT_REQUEST, 0);
	frame_put_u64(fb, m->out);
	frame_put_u32(fb, m->flags);
	put_pl(fb, &m->method);
	put_pl(fb, &m->ruri);
	put_pl(fb, &m->dst);
	put_pl(fb, &m->branch);
	put_pl(fb, &m->hdrs);
	put_pl(fb, &m->body);
	return end(fb);
}

int msg_dec_sip_out_request(struct frame *fr, struct m_sip_out_request *m)
{
	m->out = frame_get_u64(fr);
	m->flags = frame_get_u32(fr);
	get_pl(fr, &m->method);
	get_pl(fr, &m->ruri);
	get_pl(fr, &m->dst);
	get_pl(fr, &m->branch);
	get_pl(fr, &m->hdrs);
	get_pl(fr, &m->body);
	if (!fr->err && (!m->method.l || !m->ruri.l || !m->branch.l))
		return EBADMSG;
	return frame_end(fr);
}


int msg_enc_sip_out_response(struct fbuf *fb,
			     const struct m_sip_out_response *m)
{
	frame_begin(fb, MSG_SIP_OUT_RESPONSE, 0);
	frame_put_u64(fb, m->out);
	frame_put_u64(fb, m->tx);
	put_pl(fb, &m->src);
	put_pl(fb, &m->raw);
	frame_put_u64(fb, m->totag);
	frame_put_u32(fb, m->scode);
	put_pl(fb, &m->reason);
	put_pl(fb, &m->hdrs);
	put_pl(fb, &m->body);
	return end(fb);
}

int msg_dec_sip_out_response(struct frame *fr, struct m_sip_out_response *m)
{
	m->out = frame_get_u64(fr);
	m->tx = frame_get_u64(fr);
	get_pl(fr, &m->src);
	get_pl(fr, &m->raw);
	m->totag = frame_get_u64(fr);
	m->scode = frame_get_u32(fr);
	get_pl(fr, &m->reason);
	get_pl(fr, &m->hdrs);
	get_pl(fr, &m->body);
	if (!fr->err && (m->scode < 100 || m->scode > 699 || !m->raw.l))
		return EBADMSG;
	return frame_end(fr);
}


int msg_enc_ctl_worker(struct fbuf *fb, const struct m_ctl_worker *m)
{
	frame_begin(fb, MSG_CTL_WORKER, 0);
	put_pl(fb, &m->name);
	frame_put_u32(fb, m->pid);
	frame_put_u32(fb, m->ready);
	frame_put_u64(fb, m->started_ms);
	frame_put_u32(fb, m->restarts);
	put_pl(fb, &m->last_exit);
	return end(fb);
}

int msg_dec_ctl_worker(struct frame *fr, struct m_ctl_worker *m)
{
	get_pl(fr, &m->name);
	m->pid = frame_get_u32(fr);
	m->ready = frame_get_u32(fr);
	m->started_ms = frame_get_u64(fr);
	m->restarts = frame_get_u32(fr);
	get_pl(fr, &m->last_exit);
	return frame_end(fr);
}


int msg_enc_ctl_restart(struct fbuf *fb, const struct m_ctl_restart *m)
{
	frame_begin(fb, MSG_CTL_RESTART, 0);
	put_pl(fb, &m->worker);
	return end(fb);
}

int msg_dec_ctl_restart(struct frame *fr, struct m_ctl_restart *m)
{
	get_pl(fr, &m->worker);
	return frame_end(fr);
}


int msg_enc_ctl_end(struct fbuf *fb, const struct m_ctl_end *m)
{
	frame_begin(fb, MSG_CTL_END, 0);
	frame_put_u32(fb, m->err);
	put_pl(fb, &m->text);
	return end(fb);
}

int msg_dec_ctl_end(struct frame *fr, struct m_ctl_end *m)
{
	m->err = frame_get_u32(fr);
	get_pl(fr, &m->text);
	return frame_end(fr);
}
