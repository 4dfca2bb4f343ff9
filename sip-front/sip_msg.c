/**
 * @file sip_msg.c  Outgoing MESSAGEs (page mode) built from the identifiers
 *                  the translator stored, so a re-send after a restart is a
 *                  retransmission, not a new message. The client transaction
 *                  is sip_call.c's.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "sip_front.h"


int sip_msg_send(struct sip_front *sf, struct frame *fr)
{
	char *ruri, *from, *to, *callid, *ftag, *branch, *ctype, *hdrs = NULL;
	const char *body;
	size_t blen;
	uint32_t cseq;
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
	if (frame_end(fr) || !ruri || !*ruri) {
		err = EBADMSG;
		goto out;
	}
	err = re_sdprintf(&hdrs,
			  "From: <%s>;tag=%s\r\n"
			  "To: <%s>\r\n"
			  "Call-ID: %s\r\n"
			  "CSeq: %u MESSAGE\r\n"
			  "Content-Type: %s\r\n",
			  from, ftag, to, callid, cseq, ctype);
	if (!err)
		err = sip_call_start(sf, fr->seq, "MESSAGE", ruri, "", branch,
				     hdrs, body, blen, true);
out:
	mem_deref(ruri);
	mem_deref(from);
	mem_deref(to);
	mem_deref(callid);
	mem_deref(ftag);
	mem_deref(branch);
	mem_deref(ctype);
	mem_deref(hdrs);
	if (err && err != EBADMSG)
		log_error("msg %llu: %s (re-sent when the link is back)",
			  (unsigned long long)fr->seq, strerror(err));
	return err == EBADMSG ? err : 0;
}
