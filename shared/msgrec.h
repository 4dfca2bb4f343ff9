/**
 * @file msgrec.h  The stored form of a message (database "msg"): one
 *                 version byte, then typed fields in table order.
 *                 Shared by the translator (writer) and xsgwctl (reader).
 *
 * The record keeps business state only (who, what, how it ended); the work
 * a front still owes for it is in the outbox, owned by the message.
 */
#ifndef XSGW_MSGREC_H
#define XSGW_MSGREC_H

#include <stdint.h>
#include "frame.h"

/* 2: without the SIP transaction (attempts, cseq, ftag, branch), which the
 *    outbox entry now holds; version 1 records are still read */
#define MSGREC_VERSION 2

enum msg_kind {
	MK_CHAT_X2S = 1, /**< XMPP chat -> SIP MESSAGE */
	MK_CHAT_S2X = 2, /**< SIP MESSAGE -> XMPP chat */
	MK_XERR = 3,     /**< error stanza back to an XMPP sender */
	MK_SNOTICE = 4,  /**< SIP MESSAGE telling a SIP sender of a failure */
	MK_RECEIPT = 5,  /**< XEP-0184 receipt to an XMPP sender */
};

/** PENDING: its outbox entry is not done; DONE: kept for RETAIN_MS so that
 * a retransmitted SIP MESSAGE gets the same answer, then swept. */
enum msg_state { MS_PENDING = 1, MS_DONE = 2 };

/** One message record; strings are libre mem strings (or NULL). */
struct msgrec {
	uint32_t kind, state;
	uint64_t created, updated, ref;
	uint32_t scode, flags;
	char *xfrom, *xto, *xid;  /**< XMPP side: from, to, stanza id */
	char *sfrom, *sto, *ruri; /**< SIP side URIs */
	char *callid;             /**< SIP Call-ID (for operators) */
	char *ctype, *body;
	char *reason, *econd, *etext;
	char *dkey; /**< msgkey entry of a SIP-originated message */
};

/** The SIP transaction a version 1 record held (the upgrade rebuilds its
 * MESSAGE from it, so that a re-send is a retransmission). */
struct msgrec_v1_txn {
	uint32_t attempts, cseq;
	char *ftag, *branch;
};

extern const char *msgrec_kind_name[];

/** Free the strings and zero the record. */
void msgrec_reset(struct msgrec *r);
/** Encode into fb (MSGREC_VERSION). @return 0 or the fbuf error */
int msgrec_encode(struct fbuf *fb, const struct msgrec *r);
/**
 * Decode this version or an older one.
 * @param old  if not NULL, filled from a version 1 record (strings are
 *             libre mem strings the caller frees; zero for version 2)
 * @return 0, or EBADMSG (r is left empty)
 */
int msgrec_decode(struct msgrec *r, const void *v, size_t vl,
		  struct msgrec_v1_txn *old);

#endif
