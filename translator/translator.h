/**
 * @file translator.h  The translator: owns the store, correlates the two
 *                     worlds. Private header, sections by file.
 */
#ifndef XSGW_TRANSLATOR_H
#define XSGW_TRANSLATOR_H

#include <stdbool.h>
#include <stdint.h>
#include "chan.h"
#include "proc.h"
#include "store.h"

/* translator.c */

/** A front as the translator sees it. */
struct tr_peer {
	enum proc_id id;
	struct chan *ch; /**< NULL while the front is away */
	uint64_t boot;   /**< front incarnation of the frames below */
	uint64_t hwm;    /**< last reliable seq applied (committed) */
	uint64_t ack;    /**< hwm to acknowledge after the next commit */
};

struct translator {
	struct proc proc;
	struct store *store;
	struct store_txn *txn; /**< open for the current batch, or NULL */
	struct list after;     /**< frames to send once txn commits */
	struct tr_peer xmpp, sip;
	int lfd;
	struct tmr sweep;
	bool stopping;
	void *xctx; /**< xmpp_ctx_t for stanzas (parse and build) */
};

/** The write transaction of the current batch (opened on demand). */
struct store_txn *tr_txn(struct translator *tr);

/**
 * Send fb to a front once the batch commits (persist, then act).
 * fb is taken over (reset).
 */
void tr_after_commit(struct translator *tr, enum proc_id to, struct fbuf *fb);

/** Record a deadline for id (the sweep calls tr_*_expired). */
void tr_deadline(struct translator *tr, uint64_t when_ms, uint64_t id);
/** Remove a deadline recorded for id. */
void tr_deadline_del(struct translator *tr, uint64_t when_ms, uint64_t id);

/**
 * Records kept under an id (be64 key) in db: get, put (fb holds the
 * encoded record and is reset; an encoding error is logged, nothing is
 * written), delete.
 * @return tr_rec_get: 0 or ENOENT
 */
int tr_rec_get(struct translator *tr, enum store_db db, uint64_t id,
	       const void **v, size_t *vl);
void tr_rec_put(struct translator *tr, enum store_db db, uint64_t id,
		struct fbuf *fb, int encode_err);
void tr_rec_del(struct translator *tr, enum store_db db, uint64_t id);

/* tr_out.c */

/**
 * Stage a frame (begun with seq 0) for a front and keep it in the outbox
 * until tr_out_done: its seq becomes the outbox id. fb is taken over.
 * @return the outbox id, or 0 if the frame could not be finished
 */
uint64_t tr_out(struct translator *tr, enum proc_id to, struct fbuf *fb);
/** The front reported id done. @return 0, or ENOENT if not in the outbox */
int tr_out_done(struct translator *tr, uint64_t id);
/** Re-send the outbox of a front that (re)connected. */
void tr_out_replay(struct translator *tr, enum proc_id to);

/* tr_call.c */

int tr_call_init(struct translator *tr);
void tr_call_close(struct translator *tr);
/** MSG_XMPP_IN_STANZA */
int tr_call_xmpp_in(struct translator *tr, struct frame *fr);
/** MSG_SIP_IN_REQUEST */
int tr_call_sip_request(struct translator *tr, struct frame *fr);
/** MSG_SIP_IN_RESPONSE */
int tr_call_sip_response(struct translator *tr, struct frame *fr);
/** MSG_SIP_RESULT for an outbox id (the frame was done): id's outcome */
void tr_call_result(struct translator *tr, uint64_t id, uint32_t scode);
/** A deadline of id passed. @return ENOENT if id is not a call */
int tr_call_expired(struct translator *tr, uint64_t id);
/** End a call on both sides (xsgwctl end). @return 0 or ENOENT */
int tr_call_end(struct translator *tr, uint64_t id, const char *why);

/* tr_msg.c */

int tr_msg_xmpp_in(struct translator *tr, struct frame *fr);
int tr_msg_xmpp_sent(struct translator *tr, struct frame *fr);
int tr_msg_sip_in(struct translator *tr, struct frame *fr);
int tr_msg_sip_result(struct translator *tr, struct frame *fr);
/** Re-send every pending message for a front that (re)connected. */
void tr_msg_replay(struct translator *tr, enum proc_id to);
/** A deadline of id passed. @return ENOENT if id is not a message */
int tr_msg_expired(struct translator *tr, uint64_t id);

#endif
