/**
 * @file outrec.h  An outbox entry (database "outbox", key keys.h
 *                 key_outbox): work a front owes, kept until the front
 *                 reports it done. It names its owner, so that the outcome
 *                 goes to the owner's handler, and holds the frame's
 *                 payload without a header: replay rebuilds the frame at the
 *                 current FRAME_VERSION.
 */
#ifndef XSGW_OUTREC_H
#define XSGW_OUTREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

#define OUTREC_VERSION 2 /* 1: {u32 front, str whole frame} (schema 1) */

struct outrec {
	uint32_t owner_kind;    /**< enum owner_kind (keys.h) */
	uint64_t owner;         /**< the owner's record id */
	uint16_t type;          /**< enum msg_type of the frame */
	const uint8_t *payload; /**< decode: points into the stored value */
	size_t len;
};

/** Encode into fb. @return 0 or the fbuf error */
int outrec_encode(struct fbuf *fb, const struct outrec *r);
/**
 * Decode; r->payload points into v (valid while v is).
 * @return 0, or EBADMSG (another version or a bad record)
 */
int outrec_decode(struct outrec *r, const void *v, size_t vl);

#endif
