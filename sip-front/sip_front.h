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
 *   sf_tcp.c      a guard on each TCP connection libre accepts: answers
 *                 what libre would close the connection for
 *   sf_tcpframe.c SIP over TCP framed as libre frames it (sf_tcp.c's)
 *   sf_strans.c  requests from the network (checks, refusals), server
 *                 transactions: requests waiting for the translator's
 *                 answer, 2xx to INVITE retransmitted until ACK
 *   sf_ctrans.c  client transactions: requests the translator sends
 *   sf_dns.c     host names of next hops (RFC 3263): /etc/hosts, DNS
 *   sf_report.c  frames to the translator (reliable)
 */
#ifndef XSGW_SIP_FRONT_H
#define XSGW_SIP_FRONT_H

#include <re.h>
#include "msg.h"
#include "proc.h"
#include "tlink.h"

/* buckets of the transaction tables: a lookup stays short with the tens of
 * thousands a few hundred operations a second keep for Timer B/F/K */
enum { SF_HASH_BUCKETS = 4096 };

struct sip_front {
	struct proc proc;
	struct sip *sip;
	struct sip_lsnr *lsnr_req, *lsnr_resp;
	struct tlink *tl;
	struct sa laddr;
	struct hash *strans;   /**< pending server transactions by tx id */
	struct hash *creqs;    /**< outgoing requests by branch */
	struct hash *creq_ids; /**< the same by outbox id */
	/** INVITEs sent on with a new branch (RFC 3263 4.3 failover): found
	 * by the translator's branch when its CANCEL comes (few; a list) */
	struct list creq_moved;
	struct hash *okx;     /**< 2xx to INVITE awaiting ACK, by Call-ID */
	struct hash *okx_ids; /**< the same by outbox id */
	struct hash *reach;   /**< UDP destinations watched (sf_reach.c) */
	uint64_t next_tx;
	/** ms a request waits for the translator before its 503 (0: 30 s) */
	uint32_t strans_timeout_ms;
	uint64_t nrel;         /**< reliable frames sent (their seqs: 1..) */
	uint64_t probe;        /**< token of our own UDP probe; 0: none */
	struct udp_sock *us;   /**< libre's SIP UDP socket, once probed */
	struct udp_helper *uh; /**< answers what libre cannot parse */
	struct sf_dns *dns;    /**< host names of next hops (sf_dns.c) */
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

/* sf_dns.c: host names of next hops */

struct sf_dns_query;
/** A name resolved: err 0 and dst, or err (ENOENT: no such name or no
 * address for it; ETIMEDOUT: no DNS server answered; EPROTO: a server
 * failure). Called once, in the event loop. */
typedef void(sf_dns_h)(int err, const struct sa *dst, void *arg);

/** The resolver: /etc/hosts, sip.dns_servers or /etc/resolv.conf's.
 * @return 0 (also with no server known: names resolve from /etc/hosts
 *         only), or ENOMEM */
int sf_dns_init(struct sip_front *sf);
void sf_dns_close(struct sip_front *sf);
/**
 * Where a next hop goes (RFC 3263 4.2, no NAPTR): a numeric host as is
 * (port 0: 5060); a name from /etc/hosts (port 0: 5060) or the cache; else
 * DNS — with no port SRV _sip._udp (_sip._tcp for tp TCP), then A, then
 * AAAA on 5060; with a port A, then AAAA.
 * @param qp  set on EINPROGRESS: mem_deref(*qp) and h is never called
 * @return 0 and *dst set at once (h is not called); EINPROGRESS (h is
 *         called once later); ENOENT, ETIMEDOUT, EPROTO: the name did not
 *         resolve a moment ago (cached); ENOSYS: no DNS server; EBUSY:
 *         too many names being resolved; ENOMEM
 */
int sf_dns_resolve(struct sf_dns_query **qp, struct sip_front *sf,
		   const char *host, uint16_t port, enum sip_transp tp,
		   struct sa *dst, sf_dns_h *h, void *arg);

/**
 * A request to dst, where host (no port: an SRV name) resolved, failed in
 * transport (RFC 3263 4.3): the name's next SRV target is taken from now
 * on. @return true if there is one, or the name points elsewhere already
 *         (resolve again), false if not
 */
bool sf_dns_failed(struct sip_front *sf, const char *host, uint16_t port,
		   enum sip_transp tp, const struct sa *dst);

/* sf_reach.c: is anyone listening at a UDP destination? */

struct sf_reach_watch;
/** Nothing listens at the destination (err: ECONNREFUSED, or another
 * ICMP-reported error). Called once; the watch has ended. */
typedef void(sf_unreach_h)(int err, void *arg);

/**
 * Watch dst for 4*T1 from now: an ICMP error for it calls h once.
 * mem_deref(*wp) ends the watch early (the request was answered).
 * @return 0; ECONNREFUSED if dst is known unreachable now (h is not
 *         called); another errno if no watch could be set (then the
 *         request just waits for its timers)
 */
int sf_reach_watch(struct sf_reach_watch **wp, struct sip_front *sf,
		   const struct sa *dst, sf_unreach_h *h, void *arg);
/** Drop every watched destination (shutdown). */
void sf_reach_flush(struct sip_front *sf);

/* sf_tcp.c: the TCP guard */

/** Guard every TCP connection libre accepts from now on (sf_tcp.c's
 * tcp_accept). @return 0, or ENOSYS if the program does not export it */
int sf_tcp_init(struct sip_front *sf);
/** Free every guard (shutdown, after sip_close). */
void sf_tcp_close(void);

/* sf_tcpframe.c: SIP over TCP framed as libre 1.1.0's transport frames it
 * (src/sip/transp.c tcp_recv_handler), so that what is passed on is read
 * by libre exactly as sent, and what libre would end the connection for
 * is stopped first. */

/**
 * The largest message passed on: libre closes a connection with more than
 * 64 KiB buffered; a message up to this size plus one read (8 KiB) stays
 * within it.
 */
#define SF_TCP_MSG_MAX (65536 - 8192)

/** What the framer did not pass on. */
enum sf_tcp_drop {
	SF_TCP_TOO_LARGE,  /**< whole header section, over the limit with
			      its body: the body is skipped, the stream goes
			      on */
	SF_TCP_HEAD_LARGE, /**< no end of headers within the limit */
	SF_TCP_BAD,        /**< libre cannot decode it */
	SF_TCP_NO_LENGTH,  /**< no Content-Length (RFC 3261 18.3) */
};

/**
 * A message the framer stopped. For every kind but SF_TCP_TOO_LARGE the
 * stream cannot be framed past it: nothing more is passed on.
 * @param head  its header section as read (up to the blank line, or all
 *              that was read); valid during the call only
 */
typedef void(sf_tcpframe_drop_h)(enum sf_tcp_drop why, const struct pl *head,
				 void *arg);

struct sf_tcpframe {
	struct mbuf *hold; /**< a header section not yet whole */
	size_t rem;        /**< body bytes still to pass on or skip */
	size_t seen;       /**< held bytes known to hold no end of headers */
	size_t lf1;        /**< 1 + offset of the held bytes' first LF; 0:
			      none in the first seen bytes */
	enum { SF_TCPF_HEAD, SF_TCPF_BODY, SF_TCPF_SKIP, SF_TCPF_DRAIN } st;
	sf_tcpframe_drop_h *droph;
	void *arg;
};

void sf_tcpframe_init(struct sf_tcpframe *f, sf_tcpframe_drop_h *droph,
		      void *arg);
/** Forget the stream (frees the held bytes). */
void sf_tcpframe_reset(struct sf_tcpframe *f);
/**
 * Read bytes received on the stream.
 * @param in   what was read (pos..end; mbuf_alloc'ed: the parser takes a
 *             reference while it reads), all of it read on return
 * @param out  what libre may read is appended here: whole header sections
 *             with what follows them, CRLF keep-alives
 * @return 0, or ENOMEM (the stream is lost: close it)
 */
int sf_tcpframe_feed(struct sf_tcpframe *f, struct mbuf *in, struct mbuf *out);

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
/** True if src is in sip.trusted. */
bool sf_strans_trusted(const struct sip_front *sf, const struct sa *src);
/**
 * A stateless answer built from a request's raw header section, which may
 * not decode: the status line, every Via, From, To (with our tag if it has
 * none), Call-ID, CSeq, Content-Length 0.
 * @param head   the header section (up to its blank line, or all there is)
 * @param scode  0: the answer to an undecodable request, 400, or 505 if
 *               its request line names another SIP version
 * @return the answer (pos 0; the caller derefs it), or NULL: no Via
 *         (nowhere to answer, RFC 3261 18.2.1) or ENOMEM
 */
struct mbuf *sf_strans_raw_answer(const struct pl *head, uint16_t scode,
				  const char *reason);

/* sf_ctrans.c: client transactions */

/** MSG_SIP_OUT_REQUEST: start it (idempotent per out id). @return 0/ENOMEM */
int sf_ctrans_start(struct sip_front *sf, const struct m_sip_out_request *m);
/** A response no libre transaction claimed. @return true if ours */
bool sf_ctrans_response(struct sip_front *sf, const struct sip_msg *msg);
/** Drop every transaction (shutdown). */
void sf_ctrans_flush(struct sip_front *sf);

#endif
