/**
 * @file rxrec.h  The last reliable frame of a front applied by the
 *                translator (database "rx", key keys.h key_rx): stored in
 *                the same transaction as the frame's effects, so a front
 *                that reconnects is told exactly what to drop. For the
 *                xmpp-front it also holds how far its component stream is
 *                applied, which outlives the front's incarnations (the
 *                stream is kept in the supervisor's custody).
 */
#ifndef XSGW_RXREC_H
#define XSGW_RXREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

/* 2 added stream and off; 1 was {boot, seq}; schema 1 stored
 * {be64 boot, be64 seq} raw */
#define RXREC_VERSION 2

struct rxrec {
	uint64_t boot;   /**< the front's incarnation */
	uint64_t seq;    /**< its last reliable seq applied */
	uint64_t stream; /**< its XMPP stream (m_xmpp_in.stream); 0: none */
	uint64_t off;    /**< end of the last stanza of stream applied */
};

/** Encode into fb. @return 0 or the fbuf error */
int rxrec_encode(struct fbuf *fb, const struct rxrec *r);
/**
 * Decode this version, version 1 or schema 1's raw form (stream and off 0).
 * @return 0 or EBADMSG
 */
int rxrec_decode(struct rxrec *r, const void *v, size_t vl);

#endif
