/**
 * @file sip_front.h  The SIP front: libre transports, requests in, client
 *                    and server transactions. It keeps nothing a restart
 *                    would lose and decides nothing: every identifier and
 *                    every end-to-end header it sends was chosen and written
 *                    by the translator (msg.h, "the front protocol").
 *
 * Files, top to bottom (no file calls one above it):
 *   sip_front.c   main(), requests and responses from the network, frames
 *                 from the translator
 *   sf_strans.c  requests from the network (checks, refusals), server
 *                 transactions: requests waiting for the translator's
 *                 answer, 2xx to INVITE retransmitted until ACK
 *   sf_ctrans.c  client transactions: requests the translator sends
 *   sf_report.c  frames to the translator (reliable)
 */
#ifndef XSGW_SIP_FRONT_H
#define XSGW_SIP_FRONT_H

#include <re.h>
#include "msg.h"
#include "proc.h"
#include "tlink.h"

struct sip_front {
	struct proc proc;
	struct sip *sip;
	struct sip_lsnr *lsnr_req, *lsnr_resp;
	struct tlink *tl;
	struct sa laddr;
	struct hash *strans; /**< pending server transactions by tx id */
	struct hash *creqs;  /**< outgoing requests by branch */
	struct hash *okx;    /**< 2xx to INVITE awaiting ACK, by Call-ID */
	uint64_t next_tx;
	/** ms a request waits for the translator before its 503 (0: 30 s) */
	uint32_t strans_timeout_ms;
	uint64_t nrel;         /**< reliable frames sent (their seqs: 1..) */
	uint64_t probe;        /**< token of our own UDP probe; 0: none */
	struct udp_sock *us;   /**< libre's SIP UDP socket, once probed */
	struct udp_helper *uh; /**< answers what libre cannot parse */
};

/* RFC 3261 T1 from sip.t1_ms (500 unless an operator tunes it), Timer B;
 * T2 is libre's SIP_T2 */
#define T1_OF(sf) ((sf)->proc.cfg->sip.t1_ms)
#define TB_OF(sf) (64 * T1_OF(sf))

/* sf_report.c: to the translator, reliable (kept until acknowledged) */

/**
 * A request for the translator.
 * @param tx  its server transaction; 0: none (ACK, answered CANCEL)
 * @return 0, or ENOMEM/EMSGSIZE (the caller refuses the request)
 */
int sf_report_request(struct sip_front *sf, const struct sip_msg *msg,
		      uint64_t tx, uint64_t deadline_ms);
/** True once the translator acknowledged reliable frame seq. */
bool sf_report_acked(const struct sip_front *sf, uint64_t seq);
/** A response to our request out (resp NULL: a local failure). */
void sf_report_response(struct sip_front *sf, uint64_t out, uint16_t scode,
			const char *reason, const struct sip_msg *resp);
/** An outbox frame is done (MSG_OUT_DONE); out 0: nothing to report. */
void sf_report_done(struct sip_front *sf, uint64_t out, uint16_t scode,
		    const char *reason);

/** "udp|tcp addr:port", as the translator stores a request's source */
int sf_src_encode(char *buf, size_t sz, const struct sip_msg *msg);
int sf_src_decode(const struct pl *s, struct sa *sa, enum sip_transp *tp);

/* sf_strans.c: server transactions */

/** Called when libre answered a CANCEL for a pending INVITE. */
typedef void(sf_strans_cancel_h)(const struct sip_msg *cancel, void *arg);

int sf_strans_init(struct sip_front *sf, sf_strans_cancel_h *cancelh);
/**
 * A request from the network (sip_listen handler): refused here if it must
 * not reach the translator (untrusted source 403 — ACK dropped —,
 * malformed or control bytes 400, Max-Forwards 0 483, too large 413), an
 * ACK matched to our 2xx, else handed to the translator.
 */
void sf_strans_request(struct sip_front *sf, const struct sip_msg *msg);
/** Send our UDP probe (learns libre's UDP socket: its receive size, a
 * helper for requests libre cannot parse). */
int sf_strans_probe(struct sip_front *sf);
/**
 * A server transaction for a request going to the translator.
 * @return its tx id, or 0 (answered 500 already)
 */
uint64_t sf_strans_new(struct sip_front *sf, const struct sip_msg *msg);
/** Answer tx at once and forget it (it could not reach the translator:
 * EMSGSIZE gets 413, anything else 500). */
void sf_strans_refuse(struct sip_front *sf, uint64_t tx, int err);
/** MSG_SIP_OUT_RESPONSE (idempotent per out id). */
int sf_strans_respond(struct sip_front *sf, const struct m_sip_out_response *m);
/** An ACK: stops a 2xx retransmission. @return true if one matched */
bool sf_strans_ack(struct sip_front *sf, const struct sip_msg *msg);
/** Drop every transaction (shutdown). */
void sf_strans_flush(struct sip_front *sf);

/* sf_ctrans.c: client transactions */

/** MSG_SIP_OUT_REQUEST: start it (idempotent per out id). @return 0/ENOMEM */
int sf_ctrans_start(struct sip_front *sf, const struct m_sip_out_request *m);
/** A response no libre transaction claimed. @return true if ours */
bool sf_ctrans_response(struct sip_front *sf, const struct sip_msg *msg);
/** Drop every transaction (shutdown). */
void sf_ctrans_flush(struct sip_front *sf);

#endif
