/**
 * @file sip_front.h  The SIP front: libre transports, requests in,
 *                    MESSAGE client transactions out. Keeps nothing a
 *                    restart would lose: every transaction identifier it
 *                    sends was chosen and stored by the translator.
 */
#ifndef XSGW_SIP_FRONT_H
#define XSGW_SIP_FRONT_H

#include <re.h>
#include "proc.h"
#include "tlink.h"

struct sip_front {
	struct proc proc;
	struct sip *sip;
	struct sip_lsnr *lsnr_req, *lsnr_resp;
	struct tlink *tl;
	struct sa laddr;
	struct hash *strans; /**< pending server transactions by tx id */
	struct hash *ctrans; /**< outgoing MESSAGEs by message id */
	uint64_t next_tx;
};

/* sip_msg.c */

/** MSG_SIP_OUT_MESSAGE: send the MESSAGE (idempotent per message id). */
int sip_msg_send(struct sip_front *sf, struct frame *fr);
/** A response no libre transaction claimed. @return true if ours */
bool sip_msg_response(struct sip_front *sf, const struct sip_msg *msg);
/** Drop every outgoing transaction (shutdown). */
void sip_msg_flush(struct sip_front *sf);

#endif
