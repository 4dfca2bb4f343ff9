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
 *   type  enum msg_type (msg.h); an unknown type closes the channel.
 *   len   payload bytes, at most FRAME_MAX; checked before anything is
 *         allocated.
 *   seq   for reliable frames (front -> translator): the sender's sequence
 *         number, acknowledged by MSG_ACK once the effect is committed;
 *         0 on every other frame. Ids are payload (msg.h).
 *
 * A payload field is a one-byte tag and a value:
 *   FT_U32  4 bytes;  FT_U64  8 bytes;  FT_STR  u32 length + bytes.
 * A reader asks for the fields in order with the expected tag; a wrong tag,
 * a short field or bytes left over after frame_end() make the frame bad.
 *
 * The types and their payloads are in msg.h. Bump FRAME_VERSION on any
 * change to a type number or a payload.
 */
#ifndef XSGW_FRAME_H
#define XSGW_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* 3: one front protocol (issue 8); 4: MSG_SIP_IN_REQUEST deadline_ms;
 * 6: MSG_CLIENT_UP, MSG_CLIENT_OUT (the phones' client sessions),
 * m_xmpp_link.stream; 7: MSG_CLIENT_SM, MSG_CLIENT_STATE (XEP-0198) */
#ifndef FRAME_VERSION /* a test build may set another to see it refused */
#define FRAME_VERSION 7
#endif
#define FRAME_HDR_SIZE 16
#define FRAME_MAX      (64 * 1024) /**< maximum payload bytes */

enum field_tag { FT_U32 = 1, FT_U64 = 2, FT_STR = 3 };

/** A decoded frame; p points into the caller's buffer. */
struct frame {
	uint16_t ver; /**< set even when frame_parse returns EPROTO */
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
 * @return 0 on success; EAGAIN if more bytes are needed; EPROTO for a
 *         version other than FRAME_VERSION (fr->ver says which);
 *         EMSGSIZE for len > FRAME_MAX. The type is not checked here (the
 *         channel checks it against msg.h).
 */
int frame_parse(const uint8_t *buf, size_t n, struct frame *fr, size_t *used);

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
