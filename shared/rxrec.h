/**
 * @file rxrec.h  The last reliable frame of a front applied by the
 *                translator (database "rx", key keys.h key_rx): stored in
 *                the same transaction as the frame's effects, so a front
 *                that reconnects is told exactly what to drop.
 */
#ifndef XSGW_RXREC_H
#define XSGW_RXREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

#define RXREC_VERSION 1 /* schema 1 stored {be64 boot, be64 seq} raw */

struct rxrec {
	uint64_t boot; /**< the front's incarnation */
	uint64_t seq;  /**< its last reliable seq applied */
};

/** Encode into fb. @return 0 or the fbuf error */
int rxrec_encode(struct fbuf *fb, const struct rxrec *r);
/** Decode this version or schema 1's raw form. @return 0 or EBADMSG */
int rxrec_decode(struct rxrec *r, const void *v, size_t vl);

#endif
