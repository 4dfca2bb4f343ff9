/**
 * @file xjournal.h  The component stream's journal: what a restarted front
 *                   needs to continue the stream its predecessor left.
 *
 * It lives in a memfd that the supervisor holds with the socket (custody),
 * so it lives exactly as long as the connection: no fsync is needed (a
 * machine that loses it loses the connection too), and every store to it
 * is seen by the next incarnation even after a SIGKILL. One writer at a
 * time: the supervisor starts a front only after the last one died.
 */
#ifndef XSGW_XJOURNAL_H
#define XSGW_XJOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "frame.h"

enum {
	XJ_HDR_MAX = 4096, /**< the server's stream header */
	XJ_RING = 8192,    /**< stanzas written, newest last */
	XJ_CUR_MAX = FRAME_MAX,
};

/** The stream's state. */
enum xj_state {
	XJ_HANDSHAKE = 1, /**< connected, not yet accepted by the server */
	XJ_OPEN = 2,      /**< the handshake succeeded: stanzas flow */
};

/** One stanza handed to the kernel: its outbox id (0: the front's own),
 *  the write position of its first byte and its length. */
struct xj_ent {
	uint64_t id, start, len;
};

struct xjournal;

/**
 * A new journal for a new connection (a sealed-size memfd, mapped).
 * @param stream  the stream's random id
 * @return 0 or errno
 */
int xjournal_create(struct xjournal **jp, uint64_t stream);

/**
 * Map the journal of a connection taken over. The descriptor is kept.
 * @return 0, or EINVAL if fd holds no journal of this release
 */
int xjournal_open(struct xjournal **jp, int fd);

/** Unmap and close. */
void xjournal_close(struct xjournal *j);

/** The memfd, to hand to the supervisor with the socket. */
int xjournal_fd(const struct xjournal *j);

uint64_t xjournal_stream(const struct xjournal *j);
enum xj_state xjournal_state(const struct xjournal *j);
void xjournal_set_state(struct xjournal *j, enum xj_state st);

/** Keep the server's stream header. @return 0 or EMSGSIZE */
int xjournal_set_header(struct xjournal *j, const char *hdr, size_t len);
/** The header kept (NULL if none), valid while j is open. */
const char *xjournal_header(const struct xjournal *j, size_t *lenp);

/**
 * Record a stanza about to be written at position start: its entry and
 * its bytes, published in that order, so a successor finds either the
 * previous state or this one whole. @return 0 or EMSGSIZE (len over
 * XJ_CUR_MAX: recorded without its bytes, cannot be completed)
 */
int xjournal_begin(struct xjournal *j, uint64_t id, uint64_t start,
		   const char *xml, size_t len);

/** Entries ever recorded on this journal (xjournal_begin calls). */
uint64_t xjournal_count(const struct xjournal *j);

/**
 * May one more stanza be recorded while the one recorded when
 * xjournal_count was mark stays among those xjournal_recover names? A
 * writer asks this for the oldest stanza whose report the translator has
 * not yet acknowledged: a successor must name it, or the translator would
 * have it written twice. @return true unless mark is XJ_RING - 2 or more
 * entries behind (mark 0: no stanza recorded, nothing to keep)
 */
bool xjournal_keeps(const struct xjournal *j, uint64_t mark);

/**
 * The last stanza recorded and its bytes (NULL if none, or too large to
 * keep), valid while j is open. @return false if nothing was recorded
 */
bool xjournal_last(const struct xjournal *j, struct xj_ent *e,
		   const char **xmlp);

/** What a successor finds (xjournal_recover). */
struct xj_found {
	size_t nids;        /**< ids of the stanzas written whole, sorted */
	struct xj_ent torn; /**< the stanza its predecessor left cut (len 0:
			       none); the successor writes the rest first */
	const char *bytes;  /**< torn's bytes, valid while the journal is */
	size_t done;        /**< how many of them reached the kernel */
};

/**
 * Record that an oversize stanza beginning at start is dropped as it is
 * parsed (on), or that it is over (off): a successor finding the read
 * position past start cannot parse from there.
 */
void xjournal_set_skip(struct xjournal *j, bool on, uint64_t start);
/** True if an oversize stanza is being dropped; startp: where it began. */
bool xjournal_skip(const struct xjournal *j, uint64_t *startp);

/**
 * Compare the journal with written, the kernel's count of bytes written on
 * the socket: which outbox stanzas (id not 0) are already on the stream,
 * and which one is torn. Entries that never reached the kernel are
 * forgotten (they are written again at new positions).
 * @param ids  room for XJ_RING ids, filled sorted (f->nids of them)
 * @return 0, or EMSGSIZE if the torn stanza's bytes were not kept (the
 *         stream cannot be continued)
 */
int xjournal_recover(struct xjournal *j, uint64_t written, uint64_t *ids,
		     struct xj_found *f);

#endif
