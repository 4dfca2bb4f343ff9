/**
 * @file callrec.h  The stored form of a call (database "call"): one version
 *                  byte, then typed fields in the order of callrec_fields.
 *                  Shared by the translator (writer) and xsgwctl (reader).
 *
 * A call joins one Jingle session (sid, owned by one local XMPP user) and
 * one SIP dialog (Call-ID, tags). Everything needed to continue the dialog
 * after any process restarts is here: the URIs, the remote target, the
 * route set, both CSeqs and the pending INVITE.
 */
#ifndef XSGW_CALLREC_H
#define XSGW_CALLREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

/* 6: explicit states WAITING and PROPOSED (version 5 encoded them as
 *    CALLING/RINGING plus field values; callrec_decode upgrades them) */
/* 7: reg, hop, authed (calls through a linked SIP account); older
 *    records read with them zero */
/* 8: early (early media), the transfer (xfer, xfer_*): older records read
 *    with them zero */
/* 9: srtp (the account's SDES-SRTP policy), rseq (the last reliable 1xx
 *    PRACKed), xfer_nosub and xfer_by (a transfer's RFC 4488 / RFC 3892):
 *    older records read with them 0 / NULL */
/* 10: reinv_out, reinv_prev (our re-INVITE in progress, RFC 3261 14.1):
 *    older records read with them 0 / NULL */
/* 11: reinv_sdp, reinv_session, reinv_retry_at, reinv_tries (our
 *     re-INVITE's offer,
 *     sent again after a 491, RFC 3261 14.1): older records read with them
 *     NULL / 0 */
/* 12: local_hold (the XMPP user holds the call; our answers keep it),
 *     xfer_moved (the call is in our INVITE's dialog since a transfer):
 *     older records read with them 0 */
#define CALLREC_VERSION 12

enum call_dir {
	CD_X2S = 1, /**< an XMPP user called: we are the SIP UAC */
	CD_S2X = 2, /**< a SIP user called: we are the SIP UAS */
};

/** The states of a call; the transitions are in translator/tr_call.c. */
enum call_state {
	CS_CALLING = 1,    /**< X2S: INVITE sent, no answer yet */
	CS_RINGING = 2,    /**< 1xx received / session-initiate sent */
	CS_ACTIVE = 3,     /**< answered */
	CS_CANCELLING = 4, /**< X2S: CANCEL sent, the INVITE not yet final */
	CS_WAITING = 5,    /**< X2S: the INVITE waits for trickled candidates */
	CS_PROPOSED = 6,   /**< S2X: XEP-0353 propose sent, no device yet */
	CS_STATE_MAX
};

/** One call record; strings are libre mem strings (or NULL). */
struct callrec {
	uint32_t dir, state;
	uint64_t created, updated, deadline;
	/* XMPP side */
	char *owner; /**< bare JID of the local user */
	char *ufull; /**< the user's full JID in the call ("" unknown) */
	char *gwjid; /**< the SIP party as a gateway JID (bare) */
	char *sid;   /**< Jingle sid as the user knows it */
	char *initiator, *responder; /**< full JIDs for <jingle/> */
	char *rung;                  /**< S2X: full JIDs rung, one per line */
	char *init_xml; /**< the <jingle/> session-initiate: S2X as sent,
			   X2S while the INVITE waits for candidates */
	/* SIP dialog */
	char *callid, *ltag, *rtag;
	char *luri, *ruri; /**< local and remote URIs (From/To name-addr) */
	char *target;      /**< remote target (Contact URI) */
	char *routes;      /**< route set, one per line, in use order */
	uint32_t lcseq, rcseq;
	uint32_t inv_cseq;           /**< CSeq of the initial INVITE */
	char *inv_ruri, *inv_branch; /**< X2S: our INVITE, for CANCEL */
	uint64_t inv_out;            /**< X2S: outbox id of our INVITE */
	uint64_t inv_tx;         /**< S2X: front transaction of the INVITE */
	char *inv_src, *inv_raw; /**< S2X: the pending INVITE as received */
	uint32_t last_scode;     /**< S2X: last response sent (replay) */
	/* media */
	char *lsdp, *rsdp; /**< last SDP sent / received */
	uint64_t sdp_id;
	uint32_t sdp_ver;
	char *history;    /**< "ms state-or-event" lines */
	uint32_t on_hold; /**< the SIP side has put the call on hold */
	/** the XMPP user holds the call (session-info hold, until active):
	 * our answers to the peer's offers keep it (RFC 3264 8.4) */
	uint32_t local_hold;
	/** a transfer moved the call into the dialog of our INVITE to its
	 * target: the Call-ID is ours (RFC 3261 14.1's 491 wait) */
	uint32_t xfer_moved;
	uint32_t jmi; /**< S2X: rung by an XEP-0353 propose to the bare JID */
	char *pend_frag; /**< trickle candidates held until a dialog exists */
	/* since version 7 */
	uint64_t reg;    /**< the user's linked SIP account (regrec id), or 0 */
	char *hop;       /**< next hop of requests outside the route set (the
			    account's proxy, "sip:...;lr"), or NULL */
	uint32_t authed; /**< X2S: challenges our INVITE answered */
	/* since version 8 */
	uint32_t early; /**< X2S: the session-accept went with the SDP of a
			   provisional response (early media) */
	uint32_t xfer;  /**< enum call_xfer: a transfer (REFER) under way */
	uint32_t xfer_refer; /**< CSeq of the REFER (the NOTIFYs' Event id) */
	uint32_t xfer_cseq;  /**< CSeq of our INVITE to the transfer target */
	uint64_t xfer_out;   /**< outbox id of that INVITE */
	uint64_t xfer_until; /**< when the transfer gives up (wall ms) */
	char *xfer_callid;   /**< the new dialog: Call-ID, our tag, */
	char *xfer_ltag;     /**< the target (Request-URI and To), */
	char *xfer_ruri;     /**< the INVITE's branch (CANCEL) and */
	char *xfer_branch;   /**< its offer: the XMPP party's media */
	char *xfer_sdp;
	/* since version 9 */
	uint32_t srtp; /**< the linked account's SDES policy (regrec.h enum
			  reg_srtp) when the call began; 0: the session's */
	uint32_t rseq; /**< X2S: RSeq of the last reliable 1xx PRACKed */
	uint32_t xfer_nosub; /**< the REFER said Refer-Sub: false (RFC 4488):
				no NOTIFYs */
	char *xfer_by;       /**< Referred-By of the INVITE to the target
				(RFC 3892) */
	/* since version 10 */
	uint64_t reinv_out; /**< outbox id of our re-INVITE awaiting its
			       final response; 0: none (one INVITE
			       transaction at a time, RFC 3261 14.1) */
	char *reinv_prev;   /**< our SDP before it: ours again if it fails */
	/* since version 11 */
	char *reinv_sdp;         /**< the offer of our re-INVITE in progress or
				    waiting to be sent again; NULL: none */
	uint32_t reinv_session;  /**< that offer becomes lsdp when sent */
	uint64_t reinv_retry_at; /**< wall ms: send it again then (it met a
				    491); 0: not waiting */
	uint32_t reinv_tries;    /**< 491s that offer met in a row */
};

/** A transfer's phase (callrec.xfer). */
enum call_xfer {
	CX_NONE = 0,
	CX_PENDING = 1,  /**< REFER accepted, the target's answer awaited */
	CX_ORPHANED = 2, /**< so, and the transferor has hung up meanwhile */
};

extern const char *callrec_state_name[CS_STATE_MAX];

/** Free the strings and zero the record. */
void callrec_reset(struct callrec *r);
/** Encode into fb. @return 0 or the fbuf error */
int callrec_encode(struct fbuf *fb, const struct callrec *r);
/**
 * Decode this version or versions 5 to 7 (5 upgraded to this one's
 * states; fields they lack are zero).
 * @return 0, or EBADMSG (r is left empty)
 */
int callrec_decode(struct callrec *r, const void *v, size_t vl);

#endif
