/**
 * @file msg.h  The messages between xsgw processes: one type number, one
 *               payload struct and one encoder/decoder pair per type.
 *
 * The header (frame.h) carries the type; its seq is only ever the sender's
 * reliable sequence number ("R" types, front -> translator, acknowledged by
 * MSG_ACK once their effect is committed) and 0 on every other frame. Ids
 * (outbox entries, server transactions, calls, ping nonces) are payload.
 *
 * The front protocol is one for messages and calls alike: the fronts do
 * transport and transactions, the translator decides.
 *   xmpp-front  every stanza in as XML (MSG_XMPP_IN), every stanza out as
 *               XML built by the translator (MSG_XMPP_OUT), written whole.
 *   sip-front   every request in as raw bytes with a server transaction id
 *               (MSG_SIP_IN_REQUEST); requests out with the end-to-end
 *               headers the translator wrote (MSG_SIP_OUT_REQUEST: the front
 *               adds the request line, Via and Content-Length); responses to
 *               a request (MSG_SIP_OUT_RESPONSE: libre copies Via, From, To,
 *               Call-ID and CSeq); responses to a request out come back as
 *               MSG_SIP_IN_RESPONSE.
 *   both        every outbox frame (those with an "out" id) ends with one
 *               report: MSG_SIP_IN_RESPONSE for a SIP client transaction
 *               (its final response or local failure), MSG_OUT_DONE for
 *               everything else (stanza written, response sent, 2xx ACKed).
 *               A front treats a second copy of an out id it is doing or
 *               has done as a no-op.
 *
 * Decoded strings (struct pl) point into the frame's buffer: valid until
 * the dispatch handler returns. Decoders check every field and that no byte
 * is left; any error is EBADMSG and closes the channel.
 *
 * Bump FRAME_VERSION on any change to a type number or a payload. Outbox
 * entries are stored as payloads without a header (rebuilt at the current
 * version on replay), so a payload change also needs a store migration.
 */
#ifndef XSGW_MSG_H
#define XSGW_MSG_H

#include <stdint.h>
#include <re.h>
#include "frame.h"

/** Message types: direction, payload (struct m_*). */
enum msg_type {
	/* control: supervisor <-> worker (fd 3), and on every channel */
	MSG_HELLO = 0x0001,    /**< both: m_hello */
	MSG_READY = 0x0002,    /**< worker -> supervisor: none */
	MSG_PING = 0x0003,     /**< supervisor -> worker: m_ping */
	MSG_PONG = 0x0004,     /**< worker -> supervisor: m_ping (echo) */
	MSG_SHUTDOWN = 0x0005, /**< supervisor -> worker: none */
	MSG_RELOAD = 0x0006,   /**< supervisor -> worker: none */
	MSG_ACK = 0x0007,      /**< translator -> front: m_ack */
	MSG_CALL_END = 0x0008, /**< supervisor -> translator: m_id (call) */
	MSG_OUT_DONE = 0x0009, /**< R front -> translator: m_out_done */
	MSG_RESTART = 0x000A,  /**< supervisor -> worker: none (a SHUTDOWN
				  for a restart: keep what outlives you) */
	MSG_FD_STORE = 0x000B, /**< worker -> supervisor: m_fd_store, the
				  descriptors as SCM_RIGHTS on its bytes */

	/* xmpp-front <-> translator */
	MSG_XMPP_LINK = 0x0101,    /**< front -> tr: m_xmpp_link */
	MSG_XMPP_IN = 0x0102,      /**< R front -> tr: m_xmpp_in */
	MSG_XMPP_OUT = 0x0103,     /**< tr -> front: m_xmpp_out */
	MSG_CLIENT_UP = 0x0104,    /**< front -> tr: m_client_up */
	MSG_CLIENT_OUT = 0x0105,   /**< tr -> front: m_client_out */
	MSG_CLIENT_SM = 0x0106,    /**< R front -> tr: m_client_sm, keep */
	MSG_CLIENT_STATE = 0x0107, /**< tr -> front: m_client_sm, as kept */

	/* sip-front <-> translator */
	MSG_SIP_IN_REQUEST = 0x0201,   /**< R front -> tr: m_sip_in_request */
	MSG_SIP_IN_RESPONSE = 0x0202,  /**< R front -> tr: m_sip_in_response */
	MSG_SIP_OUT_REQUEST = 0x0203,  /**< tr -> front: m_sip_out_request */
	MSG_SIP_OUT_RESPONSE = 0x0204, /**< tr -> front: m_sip_out_response */

	/* xsgwctl <-> supervisor (control.sock) */
	MSG_CTL_STATUS = 0x0301,   /**< ctl -> sup: none */
	MSG_CTL_WORKER = 0x0302,   /**< sup -> ctl: m_ctl_worker */
	MSG_CTL_RESTART = 0x0303,  /**< ctl -> sup: m_ctl_restart */
	MSG_CTL_END = 0x0304,      /**< sup -> ctl: m_ctl_end */
	MSG_CTL_CALL_END = 0x0305, /**< ctl -> sup: m_id (call) */
};

/** Name of a message type, or NULL if the type is unknown. */
const char *msg_type_name(uint16_t type);

struct m_hello {
	uint32_t proc;  /**< enum proc_id of the sender */
	uint32_t pid;   /**< for logs */
	uint64_t boot;  /**< sender incarnation (random) */
	uint64_t acked; /**< translator: last reliable seq of this front's
			   incarnation already applied; fronts: 0 */
};

struct m_ping {
	uint64_t nonce;
};

struct m_ack {
	uint64_t seq; /**< every reliable frame up to seq is applied */
};

/** One id: MSG_CALL_END, MSG_CTL_CALL_END. */
struct m_id {
	uint64_t id;
};

/** The end of an outbox frame's work. */
struct m_out_done {
	uint64_t out;   /**< outbox id */
	uint32_t scode; /**< SIP status sent or seen; 200 for a stanza
			   written or a 2xx ACKed, 408 for a 2xx never
			   ACKed, 5xx for a local failure, 0 for an ACK */
	struct pl reason;
};

/** The component stream's state, sent once per change and again to each
 * new translator link. */
struct m_xmpp_link {
	uint32_t up;
	uint64_t stream; /**< the stream (as m_xmpp_in.stream); 0: down. A
			    translator that sees a stream it has not seen
			    probes the presence it relies on: the server
			    routed none to it while no stream was open */
};

struct m_xmpp_in {
	uint64_t stream; /**< the component stream (random per connection) */
	uint64_t end;    /**< stream offset just past the stanza (kernel's
			    count of bytes read): applied once per stream */
	struct pl xml;   /**< one stanza as received */
};

/**
 * Descriptors a worker leaves in the supervisor's custody (systemd's fd
 * store): they outlive the worker and are handed to its next incarnation
 * (spawn_worker). The supervisor never reads or writes them. nfds 0 drops
 * what it holds for the worker.
 */
struct m_fd_store {
	uint32_t nfds; /**< 0..FD_STORE_MAX, sent as SCM_RIGHTS */
};
enum { FD_STORE_MAX = 4 };

struct m_xmpp_out {
	uint64_t out;
	struct pl xml; /**< one stanza, written to the stream as is */
};

/**
 * A phone's client session (presence.phones with a password) is signed
 * in, or the translator's link came up while it was: the translator
 * answers with the phone's current presence (MSG_CLIENT_OUT).
 */
struct m_client_up {
	struct pl jid; /**< the session's full JID, jid/resource */
};

/**
 * A presence the phone's client session sends from the user's own JID.
 * The front keeps the last one per session: it sends it when the session
 * signs in, and never sends the same stanza twice in a row on one session.
 * Reported done (MSG_OUT_DONE 200) once written or kept for the sign-in;
 * 404 for a JID that has no client session.
 */
struct m_client_out {
	uint64_t out;
	struct pl jid; /**< the session's full JID */
	struct pl xml; /**< one <presence/> without from/to */
};

/**
 * A client session's stream management (XEP-0198), kept in the store so
 * that the front's next incarnation resumes the session rather than
 * signing in again (the user's contacts see nothing of a front's restart).
 * MSG_CLIENT_SM (front -> tr, reliable) asks to keep it; the translator
 * answers each with MSG_CLIENT_STATE after its commit: what is kept (the
 * old state where nothing could be kept). The front acts on what depends
 * on it (an ack's h, the presence numbered k) only once confirmed so.
 * MSG_CLIENT_STATE also answers every MSG_CLIENT_UP (smid "": nothing).
 */
struct m_client_sm {
	struct pl jid;  /**< the session's full JID */
	struct pl smid; /**< the server's resumption id; "" none */
	uint32_t h;     /**< stanzas from the server handled (its h) */
	uint32_t k;     /**< the number of the stanza xml is; 0: none */
	struct pl xml;  /**< the presence sent (or about to be) as stanza k */
};

struct m_sip_in_request {
	uint64_t tx;   /**< the front's server transaction; 0: none (ACK,
			  or a CANCEL libre already answered) */
	struct pl src; /**< "udp|tcp addr:port" */
	struct pl raw; /**< the request as received */
	/** wall clock (CLOCK_REALTIME ms, same host); a translator applying
	 * the frame later must not act on it but answer it 503 itself (out
	 * 0): the front answers 503 on its own a little after, unless the
	 * frame was acknowledged by then; 0: none (ACK, CANCEL) */
	uint64_t deadline_ms;
};

struct m_sip_in_response {
	uint64_t out; /**< outbox id of our request; 0: none (e.g. a 2xx
			 retransmitted after the transaction ended) */
	uint32_t scode;
	struct pl reason;
	struct pl raw; /**< empty: a local failure (timeout, no route) */
};

enum {
	SIPF_PAGE = 1
}; /**< m_sip_out_request.flags: report only the
      final response, timeout sip.message_timeout_ms */

struct m_sip_out_request {
	uint64_t out;
	uint32_t flags;
	struct pl method, ruri;
	struct pl dst;    /**< next hop URI; empty: the proxy or the R-URI */
	struct pl branch; /**< Via branch, chosen and stored by the sender */
	struct pl hdrs;   /**< end-to-end headers, each ending in CRLF */
	struct pl body;
};

struct m_sip_out_response {
	uint64_t out;
	uint64_t tx;    /**< the server transaction, if the front has it */
	struct pl src;  /**< where the request came from (after a restart) */
	struct pl raw;  /**< the request (after a restart) */
	uint64_t totag; /**< To-tag libre adds; 0: a random one */
	uint32_t scode;
	struct pl reason;
	struct pl hdrs; /**< headers the translator adds, each ending CRLF */
	struct pl body;
};

struct m_ctl_worker {
	struct pl name;
	uint32_t pid, ready;
	uint64_t started_ms;
	uint32_t restarts;
	struct pl last_exit;
};

struct m_ctl_restart {
	struct pl worker;
};

struct m_ctl_end {
	uint32_t err;
	struct pl text;
};

/*
 * Encoders: write one whole frame (header with seq 0, then the payload)
 * into fb, which is reset first. @return 0, or ENOMEM, or EMSGSIZE when the
 * payload is over FRAME_MAX (fb holds nothing usable then).
 *
 * Decoders: read the payload of fr (whose type the caller checked).
 * @return 0, or EBADMSG on a short or mistyped field or leftover bytes.
 */
#define MSG_CODEC(name)                                                        \
	int msg_enc_##name(struct fbuf *fb, const struct m_##name *m);         \
	int msg_dec_##name(struct frame *fr, struct m_##name *m)

MSG_CODEC(hello);
MSG_CODEC(ack);
MSG_CODEC(out_done);
MSG_CODEC(xmpp_link);
MSG_CODEC(fd_store);
MSG_CODEC(xmpp_in);
MSG_CODEC(xmpp_out);
MSG_CODEC(client_up);
MSG_CODEC(client_out);
MSG_CODEC(sip_in_request);
MSG_CODEC(sip_in_response);
MSG_CODEC(sip_out_request);
MSG_CODEC(sip_out_response);
MSG_CODEC(ctl_worker);
MSG_CODEC(ctl_restart);
MSG_CODEC(ctl_end);

/* Payloads shared by two types: the encoder takes the type. */
int msg_enc_ping(struct fbuf *fb, uint16_t type, const struct m_ping *m);
int msg_dec_ping(struct frame *fr, struct m_ping *m);
int msg_enc_id(struct fbuf *fb, uint16_t type, const struct m_id *m);
int msg_dec_id(struct frame *fr, struct m_id *m);
int msg_enc_client_sm(struct fbuf *fb, uint16_t type,
		      const struct m_client_sm *m);
int msg_dec_client_sm(struct frame *fr, struct m_client_sm *m);

/** A frame without payload (READY, SHUTDOWN, RELOAD, CTL_STATUS). */
int msg_enc_empty(struct fbuf *fb, uint16_t type);
/** @return 0 if fr has no payload, else EBADMSG */
int msg_dec_empty(struct frame *fr);

/**
 * The payload of an encoded frame and its rebuilding (the outbox stores
 * payloads without a header).
 */
static inline const uint8_t *msg_payload(const struct fbuf *fb)
{
	return fb->b + FRAME_HDR_SIZE;
}
static inline size_t msg_payload_len(const struct fbuf *fb)
{
	return fb->len - FRAME_HDR_SIZE;
}
/** A whole frame of type from a stored payload. @return 0 or fb's error */
int msg_rebuild(struct fbuf *fb, uint16_t type, const void *payload,
		size_t len);

#endif
