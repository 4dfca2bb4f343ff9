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
	uint64_t boot;	 /**< front incarnation of the frames below */
	uint64_t hwm;	 /**< last reliable seq applied (committed) */
	uint64_t ack;	 /**< hwm to acknowledge after the next commit */
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
};

/** The write transaction of the current batch (opened on demand). */
struct store_txn *tr_txn(struct translator *tr);

/**
 * Send fb to a front once the batch commits (persist, then act).
 * fb is taken over (reset).
 */
void tr_after_commit(struct translator *tr, enum proc_id to, struct fbuf *fb);

/** Record a deadline for id (swept by tr_msg_expire). */
void tr_deadline(struct translator *tr, uint64_t when_ms, uint64_t id);

/* tr_msg.c */

int tr_msg_xmpp_in(struct translator *tr, struct frame *fr);
int tr_msg_xmpp_sent(struct translator *tr, struct frame *fr);
int tr_msg_sip_in(struct translator *tr, struct frame *fr);
int tr_msg_sip_result(struct translator *tr, struct frame *fr);
/** Re-send every pending message for a front that (re)connected. */
void tr_msg_replay(struct translator *tr, enum proc_id to);
/** Delete done messages whose retention has passed. */
void tr_msg_expire(struct translator *tr, uint64_t now);

#endif
