/**
 * @file presrec.h  A presence seen from a local user's resource (database
 *                  "presence", key keys.h key_presence).
 */
#ifndef XSGW_PRESREC_H
#define XSGW_PRESREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

/* schema 1 stored {be32 prio, be64 seen} raw; v1 {prio, seen}; v2 adds
 * show and status (what SIP watchers are told, tr_watch.c) */
#define PRESREC_VERSION 2

/** Status text kept (bytes, a UTF-8 prefix of what the user sent). */
enum { PRESREC_STATUS_MAX = 512 };

struct presrec {
	int32_t priority; /**< RFC 6121: negative = never for routing */
	uint64_t seen_ms;
	char show[8]; /**< "", "away", "chat", "dnd", "xa" (RFC 6121 4.7.2.1) */
	char status[PRESREC_STATUS_MAX + 1];
};

/** Encode into fb (this version). @return 0 or the fbuf error */
int presrec_encode(struct fbuf *fb, const struct presrec *r);
/**
 * Decode this version, v1 (no show, no status), or the raw 12-byte value
 * of schema 1.
 * @return 0 or EBADMSG
 */
int presrec_decode(struct presrec *r, const void *v, size_t vl);

/** Set show from a <show/>'s text: one of RFC 6121's four, else "". */
void presrec_set_show(struct presrec *r, const char *show);
/** Set status: its first PRESREC_STATUS_MAX bytes, cut at a character. */
void presrec_set_status(struct presrec *r, const char *status);

#endif
