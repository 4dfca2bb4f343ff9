/**
 * @file msgrec.h  The stored form of a message (database "msg"): one
 *                 version byte, then typed fields in the order below.
 *                 Shared by the translator (writer) and xsgwctl (reader).
 */
#ifndef XSGW_MSGREC_H
#define XSGW_MSGREC_H

#include <stdint.h>
#include "frame.h"

#define MSGREC_VERSION 1

enum msg_kind {
	MK_CHAT_X2S = 1, /**< XMPP chat -> SIP MESSAGE */
	MK_CHAT_S2X = 2, /**< SIP MESSAGE -> XMPP chat */
	MK_XERR = 3,     /**< error stanza back to an XMPP sender */
	MK_SNOTICE = 4,  /**< SIP MESSAGE telling a SIP sender of a failure */
	MK_RECEIPT = 5,  /**< XEP-0184 receipt to an XMPP sender */
};

enum msg_state { MS_PENDING = 1, MS_DONE = 2 };

/** One message record; strings are libre mem strings (or NULL). */
struct msgrec {
	uint32_t kind, state, attempts;
	uint64_t created, updated, ref;
	uint32_t scode, flags, cseq;
	char *xfrom, *xto, *xid;  /**< XMPP side: from, to, stanza id */
	char *sfrom, *sto, *ruri; /**< SIP side URIs */
	char *callid, *ftag, *branch;
	char *ctype, *body;
	char *reason, *econd, *etext;
	char *dkey; /**< msgkey entry of a SIP-originated message */
};

extern const char *msgrec_kind_name[];

/** Free the strings and zero the record. */
void msgrec_reset(struct msgrec *r);
/** Encode into fb. @return 0 or the fbuf error */
int msgrec_encode(struct fbuf *fb, const struct msgrec *r);
/** Decode. @return 0, or EBADMSG (r is left empty) */
int msgrec_decode(struct msgrec *r, const void *v, size_t vl);

#endif
