/**
 * @file sf_report.c  Frames from the sip-front to the translator. All are
 *                     reliable: kept by the link until the translator has
 *                     committed their effect.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"


int sf_src_encode(char *buf, size_t sz, const struct sip_msg *msg)
{
	return re_snprintf(buf, sz, "%s %J", sip_transp_name(msg->tp),
			   &msg->src) < 0
		       ? ENOMEM
		       : 0;
}


int sf_src_decode(const struct pl *s, struct sa *sa, enum sip_transp *tp)
{
	struct pl t, a;

	if (re_regex(s->p, s->l, "[^ ]+ [^]+", &t, &a))
		return EINVAL;
	*tp = !pl_strcasecmp(&t, "tcp") ? SIP_TRANSP_TCP : SIP_TRANSP_UDP;
	return sa_decode(sa, a.p, a.l);
}


/* Every frame to the translator is reliable: the link numbers them 1, 2..
 * in the order sent, and acknowledges them in that order. */
static int push(struct sip_front *sf, struct fbuf *fb)
{
	int err = tlink_send_reliable(sf->tl, fb, NULL);

	if (!err)
		sf->nrel++;
	return err;
}


bool sf_report_acked(const struct sip_front *sf, uint64_t seq)
{
	return seq && sf->nrel - tlink_unacked(sf->tl) >= seq;
}


int sf_report_request(struct sip_front *sf, const struct sip_msg *msg,
		      uint64_t tx, uint64_t deadline_ms)
{
	struct m_sip_in_request m = {.tx = tx, .deadline_ms = deadline_ms};
	struct fbuf fb = {0};
	char src[80];
	int err;

	err = sf_src_encode(src, sizeof(src), msg);
	if (err)
		return err;
	pl_set_str(&m.src, src);
	m.raw.p = (const char *)msg->mb->buf;
	m.raw.l = msg->mb->end;
	err = msg_enc_sip_in_request(&fb, &m);
	if (!err)
		err = push(sf, &fb);
	fbuf_reset(&fb);
	return err;
}


void sf_report_response(struct sip_front *sf, uint64_t out, uint16_t scode,
			const char *reason, const struct sip_msg *resp)
{
	struct m_sip_in_response m = {.out = out, .scode = scode};
	struct fbuf fb = {0};
	int err;

	pl_set_str(&m.reason, reason);
	if (resp) {
		m.raw.p = (const char *)resp->mb->buf;
		m.raw.l = resp->mb->end;
	}
	err = msg_enc_sip_in_response(&fb, &m);
	if (!err)
		err = push(sf, &fb);
	fbuf_reset(&fb);
	if (err)
		log_error("out %llu: cannot report SIP %u: %s",
			  (unsigned long long)out, scode, strerror(err));
	if (scode >= 200 && out)
		tlink_done(sf->tl, out);
}


void sf_report_done(struct sip_front *sf, uint64_t out, uint16_t scode,
		    const char *reason)
{
	int err;

	if (!out)
		return;
	/* a success goes lazily: should this process die first, the
	 * translator hands the output to its successor again (an ACK or a
	 * 2xx twice, which SIP absorbs) */
	err = tlink_report_done(sf->tl, out, scode, reason, NULL);
	if (!err)
		sf->nrel++;
	else
		log_error("out %llu: cannot report it done: %s",
			  (unsigned long long)out, strerror(err));
}
