/**
 * @file frame.h  The one wire format between xsgw processes.
 *
 * A frame is a 16-byte header followed by a payload of typed fields.
 * All integers are big-endian.
 *
 *   0      2      4          8                 16
 *   +------+------+----------+-----------------+----------------
 *   | ver  | type | len      | seq             | payload (len bytes)
 *   +------+------+----------+-----------------+----------------
 *
 *   ver   FRAME_VERSION; any other value closes the channel.
 *   type  enum msg_type; an unknown type closes the channel.
 *   len   payload bytes, at most FRAME_MAX; checked before anything is
 *         allocated.
 *   seq   for reliable frames (front -> translator): the sender's sequence
 *         number, acknowledged by MSG_ACK once the effect is committed;
 *         otherwise the id of the object the frame is about, or 0.
 *
 * A payload field is a one-byte tag and a value:
 *   FT_U32  4 bytes;  FT_U64  8 bytes;  FT_STR  u32 length + bytes.
 * A reader asks for the fields in order with the expected tag; a wrong tag,
 * a short field or bytes left over after frame_end() make the frame bad.
 *
 * Bump FRAME_VERSION on any change to a type number or a payload.
 */
#ifndef XSGW_FRAME_H
#define XSGW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION  2
#define FRAME_HDR_SIZE 16
#define FRAME_MAX      (64 * 1024) /**< maximum payload bytes */

enum field_tag { FT_U32 = 1, FT_U64 = 2, FT_STR = 3 };

/**
 * Message types. Each line: direction, payload fields in order, meaning of
 * seq. "R" marks reliable frames: kept by the sender until MSG_ACK.
 */
enum msg_type {
	/* control: supervisor <-> worker (fd 3), and on every channel */
	MSG_HELLO = 0x0001, /**< both: u32 proc, u32 pid, u64 boot, u64 acked */
	MSG_READY = 0x0002, /**< worker -> supervisor: (none) */
	MSG_PING = 0x0003,  /**< supervisor -> worker: (none); seq = nonce */
	MSG_PONG = 0x0004,  /**< worker -> supervisor: (none); seq = nonce */
	MSG_SHUTDOWN = 0x0005, /**< supervisor -> worker: (none) */
	MSG_RELOAD = 0x0006,   /**< supervisor -> worker: (none) */
	MSG_ACK = 0x0007, /**< receiver -> sender: (none); seq = last done */
	MSG_CALL_END = 0x0008, /**< supervisor -> translator: (none); seq = call
				  id to end on both sides (xsgwctl end) */

	/* xmpp-front <-> translator */
	MSG_XMPP_IN_MESSAGE = 0x0101,  /**< R front->tr: str from, to, id, type,
					  body, err_cond, err_text; u32 flags */
	MSG_XMPP_OUT_MESSAGE = 0x0102, /**< tr->front: str from, to, id, type,
					  body, err_cond, err_text; u32 flags;
					  seq = message id */
	MSG_XMPP_SENT = 0x0103,        /**< R front->tr: u64 message id */
	MSG_XMPP_LINK = 0x0104,        /**< front->tr: u32 up */
	MSG_XMPP_IN_STANZA = 0x0105,   /**< R front->tr: str xml (an <iq/> with
					  <jingle/>, a <presence/>) */
	MSG_XMPP_OUT_STANZA = 0x0106,  /**< tr->front: str xml; seq = outbox
					  id, reported by MSG_XMPP_SENT */

	/* sip-front <-> translator */
	MSG_SIP_IN_MESSAGE = 0x0201,  /**< R front->tr: u64 tx, str callid,
					 cseq, fromtag, from, to, ruri, ctype,
					 body, src */
	MSG_SIP_OUT_REPLY = 0x0202,   /**< tr->front: u64 tx, u32 scode,
					 str reason */
	MSG_SIP_OUT_MESSAGE = 0x0203, /**< tr->front: str ruri, from, to,
					 callid, fromtag, branch, ctype, body;
					 u32 cseq; seq = message id */
	MSG_SIP_RESULT = 0x0204, /**< R front->tr: u64 message id, u32 scode,
				    str reason */
	MSG_SIP_IN_REQUEST = 0x0205,   /**< R front->tr: u64 tx, str src
					  ("udp|tcp addr:port"), str raw
					  request */
	MSG_SIP_IN_RESPONSE = 0x0206,  /**< R front->tr: u64 outbox id (0: no
					  transaction), u32 scode, str reason,
					  str raw (empty: local failure) */
	MSG_SIP_OUT_REQUEST = 0x0207,  /**< tr->front: str method, ruri, dst
					  ("" = proxy or ruri), branch,
					  headers, body; seq = outbox id */
	MSG_SIP_OUT_RESPONSE = 0x0208, /**< tr->front: u64 tx, str src, str
					  raw request, u64 totag, u32 scode,
					  str reason, headers, body; seq =
					  outbox id (MSG_SIP_RESULT when sent,
					  for 2xx to INVITE when ACKed) */

	/* xsgwctl <-> supervisor (control.sock) */
	MSG_CTL_STATUS = 0x0301,   /**< ctl->sup: (none) */
	MSG_CTL_WORKER = 0x0302,   /**< sup->ctl: str name; u32 pid, ready;
				      u64 started_ms; u32 restarts;
				      str last_exit */
	MSG_CTL_RESTART = 0x0303,  /**< ctl->sup: str worker */
	MSG_CTL_END = 0x0304,      /**< sup->ctl: u32 err, str text */
	MSG_CTL_CALL_END = 0x0305, /**< ctl->sup: u64 call id */
};

/** Name of a message type, or NULL if the type is unknown. */
const char *msg_type_name(uint16_t type);

/** A decoded frame; p points into the caller's buffer. */
struct frame {
	uint16_t type;
	uint32_t len;
	uint64_t seq;
	const uint8_t *p; /**< payload */
	size_t pos;       /**< read position in the payload */
	int err;          /**< first decode error, sticky */
};

/**
 * Parse one frame from the start of a byte stream.
 * @param buf   bytes received so far
 * @param n     number of bytes in buf
 * @param fr    filled on success
 * @param used  on success, bytes consumed (header + payload)
 * @return 0 on success; EAGAIN if more bytes are needed; EPROTO for a bad
 *         version; EBADMSG for an unknown type; EMSGSIZE for len > FRAME_MAX.
 */
int frame_parse(const uint8_t *buf, size_t n, struct frame *fr, size_t *used);

/** The next field as a u64 without reading it (0 if it is not one). */
uint64_t frame_peek_u64(const struct frame *fr);
/** Read a u64 and finish. @return frame_end's result */
int frame_skip_u64_end(struct frame *fr);

/** Getters: on a short field or a wrong tag set fr->err = EBADMSG. */
uint32_t frame_get_u32(struct frame *fr);
uint64_t frame_get_u64(struct frame *fr);
/** @param s  set to the string (not NUL-terminated), empty on error */
void frame_get_str(struct frame *fr, const char **s, size_t *len);
/**
 * Copy a string field into a new NUL-terminated libre string (mem_deref).
 * Strings with an embedded NUL are bad (EBADMSG).
 */
char *frame_get_strdup(struct frame *fr);

/**
 * Finish reading.
 * @return 0 if every field was read and no bytes are left, else EBADMSG.
 */
int frame_end(const struct frame *fr);

/** A frame being written into a growable buffer. */
struct fbuf {
	uint8_t *b;
	size_t len, cap;
	int err; /**< first error (ENOMEM, EMSGSIZE), sticky */
};

/** Start a frame in fb (which is reset). */
void frame_begin(struct fbuf *fb, uint16_t type, uint64_t seq);
void frame_put_u32(struct fbuf *fb, uint32_t v);
void frame_put_u64(struct fbuf *fb, uint64_t v);
void frame_put_str(struct fbuf *fb, const char *s, size_t len);
/** Append raw bytes (no tag): used for record version bytes. */
void frame_put_raw(struct fbuf *fb, const void *p, size_t n);
/** Put a NUL-terminated string; NULL is written as "". */
void frame_put_cstr(struct fbuf *fb, const char *s);
/**
 * Patch the length into the header.
 * @return 0, or the first error (EMSGSIZE if the payload is over FRAME_MAX)
 */
int frame_finish(struct fbuf *fb);
/** Free the buffer. */
void fbuf_reset(struct fbuf *fb);

#endif
