/**
 * @file regrec.h  The stored form of a linked SIP account and its
 *                 registration (database "reg"): one version byte, then
 *                 typed fields in the order of regrec.c's table. Shared by
 *                 the translator (writer) and xsgwctl (reader).
 *
 * One record per XMPP user (bare JID) and account: one REGISTER binding
 * whatever the number of the user's devices. Everything needed to refresh
 * or end the binding after any process restarts is here: Call-ID, From
 * tag and CSeq (RFC 3261 10.2.4: one Call-ID per registrar), the Contact
 * token, the request in flight, the IQ still owed to the user.
 *
 * The credentials (password, ha1) are secrets: only the translator uses
 * them (as digests); xsgwctl and the logs never print them.
 */
#ifndef XSGW_REGREC_H
#define XSGW_REGREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

/* 2: srtp (the account's SDES-SRTP policy); version 1 records read with
 *    it 0 (as each session says) */
#define REGREC_VERSION 2

/** The states of a registration; the transitions are in tr_reg.c. */
enum reg_state {
	RS_LINKING = 1,    /**< the set's REGISTER is in flight; IQ owed */
	RS_REGISTERED = 2, /**< bound; deadline: the refresh */
	RS_REFRESHING = 3, /**< bound, a refresh in flight */
	RS_FAILED = 4,     /**< not bound; deadline: the next attempt */
	RS_UNLINKING = 5,  /**< Expires: 0 in flight; then the record goes */
	RS_STATE_MAX
};

/** The account's SDES-SRTP policy for its calls (srtp; Janus's
 * sdes_optional / sdes_mandatory). */
enum reg_srtp {
	RSRTP_SESSION = 0,   /**< as the Jingle session says */
	RSRTP_OPTIONAL = 1,  /**< keys offered on RTP/AVP (best effort) */
	RSRTP_MANDATORY = 2, /**< RTP/SAVP: no call without keys */
};
/** Which IQ the user still waits for (iq_kind). */
enum reg_iq { RIQ_NONE = 0, RIQ_SET = 1, RIQ_REMOVE = 2 };

/** One registration record; strings are libre mem strings (or NULL). */
struct regrec {
	uint32_t state;
	uint64_t created, updated, deadline;
	char *jid;          /**< the user's bare JID */
	char *aor;          /**< address of record, "sip:user@host" */
	char *auth_user;    /**< digest username ("" = the AOR's user) */
	char *password;     /**< secret ("" if ha1 is used) */
	char *ha1;          /**< secret: MD5(user:realm:password) hex, or "" */
	char *proxy;        /**< "host[:port][;transport=udp|tcp]" or "" */
	char *display;      /**< display name or "" */
	uint32_t expires;   /**< requested, s */
	uint32_t granted;   /**< granted by the registrar, s (0: never) */
	uint64_t reg_until; /**< the binding lasts until (wall ms; 0: none) */
	char *callid, *ftag;
	char *contact; /**< Contact user part: incoming requests' key */
	uint32_t cseq; /**< last CSeq used */
	uint64_t out;  /**< outbox id of the REGISTER in flight (0: none) */
	uint32_t out_expires; /**< its Expires (0: an un-REGISTER) */
	uint32_t authed;      /**< challenges answered for it (0: none) */
	uint32_t last_code;   /**< last final answer (0: none yet) */
	char *last_reason;
	uint32_t failures;     /**< consecutive failed attempts */
	uint32_t iq_kind;      /**< enum reg_iq */
	char *iq_id, *iq_from; /**< the IQ owed: its id and sender */
	char *routes;          /**< Service-Route (RFC 3608), one per line */
	uint32_t told;         /**< what the user was last told: 0 nothing, 1
				  registered, 2 failed (chat on a change) */
	char *history;         /**< "ms event" lines */
	uint32_t srtp;         /**< enum reg_srtp (since version 2) */
	char *prev;            /**< since version 2: the working account
				  before a re-set, kept until the registrar
				  accepts the new one ("" none; see
				  regrec_prev_keep) */
	uint32_t queued;       /**< since version 2: a REGISTER waits for the
				  one in flight (RFC 3261 10.2) */
	uint64_t prev_out;     /**< since version 2: the un-REGISTER of the
				  binding of prev in flight (0: none) */
};

extern const char *regrec_state_name[RS_STATE_MAX];
/** The names of enum reg_srtp, as the XEP-0077 form and xsgwctl say them. */
extern const char *const regrec_srtp_name[RSRTP_MANDATORY + 1];

/** Free the strings and zero the record. */
void regrec_reset(struct regrec *r);
/** Encode into fb. @return 0 or the fbuf error */
int regrec_encode(struct fbuf *fb, const struct regrec *r);
/** Decode this version or an older one. @return 0, or EBADMSG (r is
 * left empty) */
int regrec_decode(struct regrec *r, const void *v, size_t vl);
/** Keep r as it is now (without its history) in r->prev.
 * @return 0 or ENOMEM */
int regrec_prev_keep(struct regrec *r);
/** The account kept in r->prev. @return 0, ENOENT (none), EBADMSG */
int regrec_prev_get(const struct regrec *r, struct regrec *prev);

#endif
