/**
 * @file presrec.h  A presence seen from a local user's resource (database
 *                  "presence", key keys.h key_presence).
 */
#ifndef XSGW_PRESREC_H
#define XSGW_PRESREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

#define PRESREC_VERSION 1 /* schema 1 stored {be32 prio, be64 seen} raw */

struct presrec {
	int32_t priority; /**< RFC 6121: negative = never for routing */
	uint64_t seen_ms;
};

/** Encode into fb. @return 0 or the fbuf error */
int presrec_encode(struct fbuf *fb, const struct presrec *r);
/**
 * Decode this version, or the raw 12-byte value of schema 1.
 * @return 0 or EBADMSG
 */
int presrec_decode(struct presrec *r, const void *v, size_t vl);

#endif
