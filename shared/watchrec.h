/**
 * @file watchrec.h  A SIP watcher of a served XMPP user's presence (SPEC
 *                   6.3, RFC 6665/3856; database "watch"): the dialog of
 *                   its SUBSCRIBE, in which the gateway is the notifier,
 *                   and what the watcher was last told. Shared by the
 *                   translator (writer, translator/tr_watch.c) and xsgwctl
 *                   (reader).
 */
#ifndef XSGW_WATCHREC_H
#define XSGW_WATCHREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

#define WATCHREC_VERSION 1

/** A watcher's states; transitions in translator/tr_watch.c. */
enum watch_state {
	WS_PENDING = 1,    /**< 202 and NOTIFY pending sent; the user was asked
			      (presence subscribe) */
	WS_ACTIVE = 2,     /**< the user approved: NOTIFYs carry PIDF */
	WS_TERMINATED = 3, /**< the final NOTIFY is under way; the record goes
			      with its outcome (or its deadline) */
	WS_STATE_MAX
};

/** What a NOTIFY said of the user (basic), 0: nothing yet. */
enum watch_basic { WB_NONE = 0, WB_OPEN = 1, WB_CLOSED = 2 };

struct watchrec {
	uint32_t state;
	uint64_t created, updated;
	uint64_t deadline;   /**< the store deadline: the expiry (pending,
				active), the drop (terminated) */
	uint64_t expires_at; /**< wall ms the subscription expires */
	uint32_t expires;    /**< last granted, s */
	char *user;          /**< the user watched (bare JID) */
	char *entity;        /**< the user as the watcher named it (the
				SUBSCRIBE's To URI): the PIDF entity */
	char *aor;           /**< the watcher (From URI) */
	char *gwjid;         /**< the watcher's gateway JID (SPEC 5) */
	char *callid, *ltag, *rtag;
	char *luri, *ruri; /**< our URI (NOTIFY From), the watcher's (To) */
	char *rtarget;     /**< the watcher's Contact */
	char *routes;      /**< route set, one per line (Record-Route) */
	char *evid;        /**< the Event header's id parameter, or "" */
	uint32_t lcseq;    /**< our last NOTIFY's CSeq */
	uint32_t rcseq;    /**< the watcher's last SUBSCRIBE's CSeq */
	uint64_t out;      /**< our last NOTIFY's outbox id */
	uint32_t nbasic;   /**< enum watch_basic: last notified */
	char *nshow;       /**< last notified show ("", away, xa, dnd, chat) */
	char *nnote;       /**< last notified status text */
	char *reason;      /**< why it ended (terminated), or "" */
	char *history;     /**< "ms event" lines */
};

extern const char *watchrec_state_name[WS_STATE_MAX];

void watchrec_reset(struct watchrec *r);
/** Encode into fb. @return 0 or the fbuf error */
int watchrec_encode(struct fbuf *fb, const struct watchrec *r);
/** @return 0, or EBADMSG (r is left empty) */
int watchrec_decode(struct watchrec *r, const void *v, size_t vl);

#endif
