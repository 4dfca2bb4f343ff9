/**
 * @file phonerec.h  The stored state of a phone whose SIP state shows as
 *                   XMPP presence (SPEC 6.3, perl-bosh's model; database
 *                   "phone"), and of a subscription the gateway keeps at
 *                   the presence server for it (database "sub"). Shared by
 *                   the translator (writer) and xsgwctl (reader).
 */
#ifndef XSGW_PHONEREC_H
#define XSGW_PHONEREC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

/* subrec 2: event "presence" (XMPP watchers of a SIP user): gwjid,
 * watchers, authorized, open, show, status; a version 1 record is read
 * with them empty. subrec 3: from (the watcher's own SIP address, RFC
 * 7248); a version 2 record is read without (From the gateway) */
/* phonerec 2: pub_etag, pub_until (RFC 3903 publications), account (a
 * linked account's phone); version 1 records read with none. phonerec 3:
 * cs_* (the client session's XEP-0198 state); older records read with
 * none */
#define PHONEREC_VERSION 3
#define SUBREC_VERSION   3

/** perl-bosh's five states (names binding: SPEC 6.3); transitions in
 * translator/tr_phone.c. */
enum phone_state {
	PH_OFFLINE = 1,
	PH_ONLINE = 2,
	PH_STILL_ONLINE = 3,
	PH_ONTHEPHONE = 4,
	PH_STILL_ONTHEPHONE = 5,
	PH_STATE_MAX
};

/** The XMPP presence a state shows as (what the watchers were told). */
enum phone_shown { PS_NONE = 0, PS_AVAILABLE, PS_DND, PS_UNAVAILABLE };

struct phonerec {
	uint32_t state;
	uint64_t created, updated, deadline;
	char *aor;           /**< "sip:user@host" (presence.phones sip) */
	char *jid;           /**< the owner's bare JID */
	char *res;           /**< the resource it shows as */
	char *gwjid;         /**< the phone's gateway JID (SPEC 5) */
	uint64_t last_event; /**< wall ms of the last event */
	char *source;        /**< of the last event: "reg", "dialog", "publish",
				"keepalive" */
	uint32_t shown;      /**< enum phone_shown: last presence sent */
	uint32_t asked;      /**< the owner was asked to subscribe */
	uint32_t contacts;   /**< active registrations seen */
	uint32_t calls;      /**< confirmed dialogs seen */
	char *history;       /**< "ms event" lines */
	/* since version 2 */
	char *pub_etag;     /**< entity-tag of the phone's publication (RFC
			       3903), "" none */
	uint64_t pub_until; /**< when it expires (wall ms; 0 none) */
	uint32_t account;   /**< a linked SIP account's (SPEC 6.2), not one
			       of presence.phones */
	/* since version 3: the phone's client session (m_client_sm) */
	char *cs_smid; /**< the server's resumption id, "" none */
	uint32_t cs_h; /**< stanzas from the server handled */
	uint32_t cs_k; /**< the number of the stanza cs_xml is, 0: none */
	char *cs_xml;  /**< the presence sent (or about to be) as cs_k */
};

/** Our subscription's states; transitions in translator/tr_sub.c. */
enum sub_state {
	SB_SUBSCRIBING = 1, /**< SUBSCRIBE sent, no 2xx yet */
	SB_ACTIVE = 2,      /**< accepted; deadline: the refresh */
	SB_WAITING = 3,     /**< failed or terminated; deadline: retry */
	SB_ENDING = 4,      /**< un-SUBSCRIBE (Expires: 0) sent; deadline:
			       forget it anyway */
	SB_STATE_MAX
};

/** The last presence a presence subscription saw (RFC 3863 basic). */
enum sub_open { SO_UNKNOWN = 0, SO_OPEN = 1, SO_CLOSED = 2 };

struct subrec {
	uint32_t state;
	uint64_t created, updated, deadline;
	uint64_t phone; /**< the phone it feeds */
	char *event;    /**< "reg" or "dialog" */
	char *target;   /**< the AOR subscribed to */
	char *callid, *ltag, *rtag;
	char *rtarget; /**< remote target (Contact) once known */
	char *routes;  /**< route set, one per line */
	uint32_t lcseq, rcseq;
	uint64_t out;     /**< the SUBSCRIBE in flight, or 0 */
	uint32_t expires; /**< granted */
	uint32_t failures;
	uint32_t last_code;
	char *last_reason;
	uint32_t version; /**< last reginfo/dialog-info version applied */
	/* event "presence" (version 2): the SIP user's gateway JID seen by
	 * XMPP watchers; target is the SIP URI (regkey "e" URI SP JID) */
	char *gwjid;         /**< the JID its presence comes from */
	char *watchers;      /**< bare JIDs, one per line (one since
				schema 6) */
	uint32_t authorized; /**< NOTIFY active seen: watchers were told
				subscribed */
	uint32_t open;       /**< enum sub_open: the last PIDF seen */
	char *show;          /**< its XMPP show ("", away, dnd, xa) */
	char *status;        /**< its note, as XMPP status */
	/* version 3 */
	char *from; /**< the SUBSCRIBE's From URI; NULL: the gateway's */
};

extern const char *phonerec_state_name[PH_STATE_MAX];
extern const char *subrec_state_name[SB_STATE_MAX];

void phonerec_reset(struct phonerec *r);
int phonerec_encode(struct fbuf *fb, const struct phonerec *r);
/** @return 0, or EBADMSG (r is left empty) */
int phonerec_decode(struct phonerec *r, const void *v, size_t vl);

void subrec_reset(struct subrec *r);
int subrec_encode(struct fbuf *fb, const struct subrec *r);
/** A record of version 1 to 3 (1: the presence fields empty; 2: no from).
 * @return 0, or EBADMSG (r is left empty) */
int subrec_decode(struct subrec *r, const void *v, size_t vl);

#endif
