/**
 * @file sip_front.h  The SIP front: libre transports, requests in,
 *                    client transactions out. Keeps nothing a
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
	struct hash *creqs;  /**< outgoing dialog requests by branch */
	struct hash *okx;    /**< 2xx to INVITE awaiting ACK, by Call-ID */
	uint64_t next_tx;
};

/* sip_front.c: server transactions waiting for the translator */

struct strans;
const struct sip_msg *sip_front_strans_msg(const struct strans *s);
/**
 * The libre transaction to reply with. A final reply retires s (the
 * transaction itself lives on in libre for retransmissions).
 */
struct sip_strans *sip_front_strans_take(struct strans *s, bool final);
/** A server transaction for a stored request (after a restart) as tx. */
struct strans *sip_front_strans_restore(struct sip_front *sf,
					const struct sip_msg *msg, uint64_t tx);
/** The pending server transaction tx, or NULL. */
struct strans *sip_front_strans_find(struct sip_front *sf, uint64_t tx);

/* sip_call.c */

/** Hand a request to the translator (reliable). tx 0: already answered. */
int sip_call_request(struct sip_front *sf, const struct sip_msg *msg,
		     uint64_t tx);
/** An ACK: stops a 2xx retransmission. @return true if one matched */
bool sip_call_ack(struct sip_front *sf, const struct sip_msg *msg);
/** MSG_SIP_OUT_REQUEST: send a request (idempotent per outbox id). */
int sip_call_send(struct sip_front *sf, struct frame *fr);
/**
 * Start a client transaction (RFC 3261 17.1) for a request the translator
 * identified: Via with branch, Max-Forwards, hdrs, Content-Length, body.
 * @param id    outbox or message id; a second start of it is a no-op
 * @param dst   next hop URI, "" for the proxy or the Request-URI's host
 * @param page  MESSAGE: report only the outcome (MSG_SIP_RESULT, timeout
 *              sip.message_timeout_ms); else every response (1xx too) as
 *              MSG_SIP_IN_RESPONSE
 * @return 0 (failures are reported as outcomes) or ENOMEM
 */
int sip_call_start(struct sip_front *sf, uint64_t id, const char *method,
		   const char *ruri, const char *dst, const char *branch,
		   const char *hdrs, const char *body, size_t bodyl, bool page);
/** MSG_SIP_OUT_RESPONSE: answer a request (idempotent per outbox id). */
int sip_call_respond(struct sip_front *sf, struct frame *fr);
/** A response no libre transaction claimed. @return true if ours */
bool sip_call_response(struct sip_front *sf, const struct sip_msg *msg);
/** Report an outbox frame done (MSG_SIP_RESULT, reliable); id 0: none. */
void sip_call_done(struct sip_front *sf, uint64_t id, uint16_t scode,
		   const char *reason);
/** Drop every transaction (shutdown). */
void sip_call_flush(struct sip_front *sf);

/* sip_msg.c */

/** MSG_SIP_OUT_MESSAGE: send the MESSAGE (idempotent per message id). */
int sip_msg_send(struct sip_front *sf, struct frame *fr);

#endif
