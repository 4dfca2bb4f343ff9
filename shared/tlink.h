/**
 * @file tlink.h  A front's link to the translator: connect with backoff,
 *                HELLO, reliable frames replayed after a reconnect, and a
 *                short memory of what was already done (idempotency when
 *                the translator re-sends after its own restart).
 */
#ifndef XSGW_TLINK_H
#define XSGW_TLINK_H

#include "proc.h"

struct tlink;

/**
 * A frame from the translator (not HELLO/ACK).
 * @return 0, EBADMSG, or CHAN_PAUSE (no room: this frame and the next
 *         stay unread, ACKs included, until tlink_resume)
 */
typedef int(tlink_frame_h)(struct frame *fr, void *arg);

/**
 * The translator has applied (committed) every reliable frame up to seq
 * (cumulative; seqs as tlink_send_reliable returned them). Also called
 * once the link is up after each (re)connect (seq may be 0 then).
 */
typedef void(tlink_ack_h)(uint64_t seq, void *arg);

/** @param proc  this worker; the link starts connecting at once */
int tlink_alloc(struct tlink **tlp, struct proc *proc, tlink_frame_h *frameh,
		void *arg);

/**
 * Send a reliable frame (begun with seq 0): kept until acknowledged.
 * @param seqp  if not NULL, the frame's seq (1, 2, ... per incarnation)
 * @return 0 or ENOMEM
 */
int tlink_send_reliable(struct tlink *tl, struct fbuf *fb, uint64_t *seqp);

/**
 * A reliable frame no one waits for (a success report): kept at once (it
 * counts in tlink_unacked) but sent with the next frame, or 10 ms later
 * (tlink_set_lazy_ms), or once 64 wait, so that the translator applies
 * several in one commit instead of waking for each. Same seqp, returns
 * and order as tlink_send_reliable.
 */
int tlink_send_lazy(struct tlink *tl, struct fbuf *fb, uint64_t *seqp);

/**
 * The end of an outbox entry's work, for the translator: remembered as
 * done (tlink_done), then MSG_OUT_DONE — lazily for a success (scode <
 * 300: nothing waits for it, the translator commits several at once),
 * at once for a failure (its sender is to hear of it).
 * @param seqp  as tlink_send_reliable
 * @return 0, or the encoder's or tlink_send_reliable's error
 */
int tlink_report_done(struct tlink *tl, uint64_t out, uint32_t scode,
		      const char *reason, uint64_t *seqp);

/** Send the lazy frames now (a front that stops). */
void tlink_flush(struct tlink *tl);

/** How long a lazy frame waits for company (10 ms unless set). */
void tlink_set_lazy_ms(struct tlink *tl, uint32_t ms);

/** Be told of acknowledgements (NULL: not). Called from the loop. */
void tlink_set_ack_handler(struct tlink *tl, tlink_ack_h *ackh);

/** Send a best-effort frame; dropped while the link is down. */
int tlink_send(struct tlink *tl, struct fbuf *fb);

/** Read the translator's frames again after a CHAN_PAUSE (no-op else). */
void tlink_resume(struct tlink *tl);

/** True once HELLO was exchanged. */
bool tlink_up(const struct tlink *tl);
/** Which link this is: 1, 2, ... per HELLO exchanged; 0 while down. A
 * front that must tell each new link something compares it. */
uint64_t tlink_epoch(const struct tlink *tl);

/** Frames waiting for an acknowledgement. */
size_t tlink_unacked(const struct tlink *tl);

/** Remember that the work for id is done. */
void tlink_done(struct tlink *tl, uint64_t id);
/** True if id was done by this incarnation (recently). */
bool tlink_is_done(const struct tlink *tl, uint64_t id);

#endif
