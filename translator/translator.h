/**
 * @file translator.h  The translator: owns the store, decides everything.
 *                     Private header, one section per file.
 *
 * Files in layers; a file calls only files of a lower layer (or its own):
 *
 *   4  translator.c    main(), the peer table, one dispatch per peer
 *   3  tr_from_xmpp.c  a stanza from the xmpp-front: to whom it is
 *      tr_from_sip.c   a SIP request/response from the sip-front: to whom
 *      tr_owner.c      outcomes and expiries, by the owner's kind
 *      tr_upgrade.c    store migrations (schema history in store.h)
 *   2  tr_call.c       the call state machine (its table is written there)
 *      tr_call_xmpp.c  its actions on XMPP events   } private header
 *      tr_call_sip.c   its actions on SIP events    } tr_call_act.h
 *      tr_call_xfer.c  its actions of a transfer    }
 *      tr_call_util.c  what those actions share     }
 *      tr_msg.c        the message lifecycle
 *      tr_reg.c        the registration state machine (SIP accounts)
 *      tr_phone.c      the phone state machine (presence.phones)
 *      tr_sub.c        our subscriptions at the presence server
 *      tr_watch.c      SIP watchers of served users (we notify)
 *   1  tr_callrec.c    call records: load/save, keys, history, deadline
 *      tr_presence.c   who is online, subscriptions from served domains
 *      tr_pidf.c       reginfo and dialog-info bodies, read
 *      tr_pidf_out.c   PIDF bodies, written
 *      tr_media.c      SDP <-> Jingle for calls (jsdp underneath)
 *      tr_sip_out.c    every SIP header the gateway writes
 *      tr_xmpp_out.c   every stanza the gateway writes
 *      tr_regrec.c     registration records: load/save, keys, the
 *                      account view for calls and messages
 *      tr_reg_form.c   an account as XEP-0077 fields, checked
 *   0  tr_out.c        the one outbox
 *      tr_digest.c     digest credentials for a challenge
 *      tr_core.c       the batch transaction, deadlines, records by id
 */
#ifndef XSGW_TRANSLATOR_H
#define XSGW_TRANSLATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include <strophe.h>
#include "callrec.h"
#include "regrec.h"
#include "chan.h"
#include "keys.h"
#include "msg.h"
#include "proc.h"
#include "store.h"

/* ---- tr_core.c ---------------------------------------------------- */

/** A front as the translator sees it. */
struct tr_peer {
	enum proc_id id;
	struct chan *ch;    /**< NULL while the front is away */
	uint64_t boot;      /**< front incarnation of the frames below */
	uint64_t hwm;       /**< last reliable seq applied (committed) */
	uint64_t ack;       /**< hwm to acknowledge after the next commit */
	uint64_t sent;      /**< last seq acknowledged to the front (<= hwm) */
	struct tmr ack_tmr; /**< a lazy acknowledgement (tr_commit) */
	bool ack_now;       /**< a frame since the last commit whose
			     * acknowledgement must not wait (tr_commit) */
	/** the xmpp-front's component stream and the end of its last stanza
	 * applied (stored with hwm): a stanza of an older incarnation of the
	 * front is applied once, whatever its seq */
	uint64_t stream, off;
	/** a frame whose effects could not be stored: refused on replay */
	uint64_t poison_boot, poison_seq;
	int poison_err;
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
	bool store_full;  /**< above STORE_HIGH_WATER (tr_admit) */
	xmpp_ctx_t *xctx; /**< for stanzas (parse and build) */
};

/** Percent of store.map_size above which new work is refused. */
enum { STORE_HIGH_WATER = 80 };

/** The peer of a front, or NULL. */
struct tr_peer *tr_peer_of(struct translator *tr, enum proc_id id);

/**
 * The write transaction of the current batch (opened on demand; a store
 * that cannot begin one ends the process: nothing can be promised).
 */
struct store_txn *tr_txn(struct translator *tr);

/**
 * Send a finished frame to a front once the batch commits (persist, then
 * act). fb is taken over (reset).
 */
void tr_after_commit(struct translator *tr, enum proc_id to, struct fbuf *fb);

/**
 * End of a batch: commit, then send what depends on it and acknowledge the
 * fronts' frames. A failed commit drops the effects and closes the fronts'
 * channels: they replay what was not acknowledged.
 */
void tr_commit(struct translator *tr);
/** Send the acknowledgements tr_commit left lazy (at a stop). */
void tr_ack_flush(struct translator *tr);

/**
 * store.sync periodic: flush the store to disk every interval_ms, in a
 * child process (tr_flush.c), never blocking the loop (without a child,
 * which is logged, the flush runs in the loop).
 */
void tr_flush_start(struct store *store, uint32_t interval_ms);
/** Stop the child and flush the last commits (blocking: at exit). */
void tr_flush_stop(void);

/**
 * Admission: may new work (a message, a call) be taken? Not when the store
 * is above STORE_HIGH_WATER percent of store.map_size: the rest is kept
 * for completions, expiries and deletions, which always commit, so the
 * gateway recovers by itself as pending work drains (F4). Callers refuse
 * with SIP 503 + Retry-After or XMPP resource-constraint.
 */
bool tr_admit(struct translator *tr);

/*
 * One input never wedges a direction. Around each reliable frame:
 * tr_frame_begin returns the batch's store error so far; tr_frame_end
 * notices that this frame set it (an over-long key, a full store: its
 * effects cannot be stored), logs it once and remembers it in p. The batch
 * fails and the fronts replay it; tr_poisoned then tells the dispatcher
 * to refuse that frame (tr_from_*_refuse) instead of applying it.
 */
int tr_frame_begin(struct translator *tr);
void tr_frame_end(struct translator *tr, struct tr_peer *p,
		  const struct frame *fr, int before);
bool tr_poisoned(const struct tr_peer *p, uint64_t seq);

/** A timer of an owner, kept in the store (survives restarts). */
void tr_deadline(struct translator *tr, uint64_t when_ms, enum owner_kind kind,
		 uint64_t id);
void tr_deadline_del(struct translator *tr, uint64_t when_ms,
		     enum owner_kind kind, uint64_t id);

struct tr_due {
	enum owner_kind kind;
	uint64_t id;
};
/**
 * Take the deadlines that passed (oldest first, at most max): they are
 * deleted and returned in due. @return how many
 */
unsigned tr_deadline_take(struct translator *tr, uint64_t now,
			  struct tr_due *due, unsigned max);

/**
 * Records kept under an id in db: get (*v valid until the next write of
 * the batch), put (fb holds the encoded record and is reset; an encoding
 * error is logged and nothing is written), delete.
 * @return tr_rec_get: 0 or ENOENT
 */
int tr_rec_get(struct translator *tr, enum store_db db, uint64_t id,
	       const void **v, size_t *vl);
void tr_rec_put(struct translator *tr, enum store_db db, uint64_t id,
		struct fbuf *fb, int encode_err);
void tr_rec_del(struct translator *tr, enum store_db db, uint64_t id);

/**
 * Append "ms line\n" to a record's history (a libre string), dropping its
 * oldest lines so that it stays under max bytes: a record that lives for
 * months (a registration, a phone) keeps its recent events and never
 * grows past what one record may hold.
 * @return 0 or ENOMEM (the history is left as it was)
 */
int tr_history_append(char **hist, size_t max, const char *line);

/* ---- tr_out.c ----------------------------------------------------- */

/** Who an outbox entry belongs to. */
struct tr_owner {
	enum owner_kind kind;
	uint64_t id;
};

/*
 * Stage work for a front and keep it in the outbox until the front
 * reports it done; the frame's out id is set here. The work is sent once
 * the batch commits, and again to a front that (re)connects.
 * @return the out id, or 0 if it could not be encoded (logged)
 */
uint64_t tr_out_xmpp(struct translator *tr, struct tr_owner owner,
		     const char *xml, size_t len);
/** ... on the client session of jid (a phone's full JID) */
uint64_t tr_out_client(struct translator *tr, struct tr_owner owner,
		       const char *jid, const char *xml, size_t len);
uint64_t tr_out_sip_request(struct translator *tr, struct tr_owner owner,
			    struct m_sip_out_request *m);
uint64_t tr_out_sip_response(struct translator *tr, struct tr_owner owner,
			     struct m_sip_out_response *m);

/**
 * The owner of a front's outbox entry; with remove, the entry is done.
 * @return 0, or ENOENT if there is none (done already, or never ours)
 */
int tr_out_take(struct translator *tr, enum proc_id front, uint64_t out,
		bool remove, struct tr_owner *owner);

/** Does the owner still want its entry (a message still pending)? */
typedef bool(tr_out_wanted_h)(struct translator *tr, struct tr_owner owner);
/**
 * Re-send the outbox of a front that (re)connected, oldest first; entries
 * whose owner no longer wants them (wanted, if not NULL) are deleted
 * instead: an expired message is never delivered after its sender was
 * told it failed.
 */
void tr_out_replay(struct translator *tr, enum proc_id front,
		   tr_out_wanted_h *wanted);

/* ---- tr_xmpp_out.c ------------------------------------------------ */

/** Serialise st and stage it (tr_out_xmpp); st stays the caller's. */
void tr_xmpp_send(struct translator *tr, struct tr_owner owner,
		  xmpp_stanza_t *st);
/** ... on the client session of jid instead of the component stream. */
void tr_client_send(struct translator *tr, const char *jid, xmpp_stanza_t *st);
/** Answer an IQ: result (cond NULL) or error with cond and text. */
void tr_xmpp_iq_answer(struct translator *tr, xmpp_stanza_t *req,
		       const char *cond, const char *text);
/** disco#info of the gateway (its identity and features). */
void tr_xmpp_disco_info(struct translator *tr, xmpp_stanza_t *req);

/** XEP-0115 node of the presence of SIP users' gateway JIDs. */
#define TR_CAPS_NODE "https://github.com/xsgw"
/**
 * XEP-0115 5.1 verification string (SHA-1, base64) of what
 * tr_xmpp_disco_user answers; computed once (it depends only on the
 * feature list). @return the string ("" only if it could not be built)
 */
const char *tr_xmpp_caps_ver(void);
/** Add <c hash='sha-1' node ver/> (XEP-0115) to a SIP user's available
 * presence. */
void tr_xmpp_caps(struct translator *tr, xmpp_stanza_t *presence);
/**
 * disco#info of a gateway JID standing for a SIP user (XEP-0030): identity
 * client/phone and the features the gateway serves for it. node NULL or
 * TR_CAPS_NODE#ver: that answer (echoing node); any other: item-not-found.
 */
void tr_xmpp_disco_user(struct translator *tr, xmpp_stanza_t *req,
			const char *node);
/** A chat message (receipt: ask for an XEP-0184 receipt). */
void tr_xmpp_chat(struct translator *tr, uint64_t msg, const char *from,
		  const char *to, const char *id, const char *body);
/** An error message back to a sender (body: the message refused). */
void tr_xmpp_msg_error(struct translator *tr, uint64_t msg, const char *from,
		       const char *to, const char *id, const char *cond,
		       const char *text, const char *body);
/** An XEP-0184 receipt for the message id. */
void tr_xmpp_receipt(struct translator *tr, uint64_t msg, const char *from,
		     const char *to, const char *id);
/** A presence (type NULL: available) with an optional <status/>; an
 * available one from a SIP user's gateway JID carries tr_xmpp_caps. */
void tr_xmpp_presence(struct translator *tr, const char *from, const char *to,
		      const char *type, const char *status);
/** A chat message from the gateway to a user (fire and forget). */
void tr_xmpp_notice(struct translator *tr, const char *from, const char *to,
		    const char *body);
/** Answer an IQ kept as (its sender, its recipient, id): result (cond
 * NULL) or error. */
void tr_xmpp_iq_reply(struct translator *tr, const char *from, const char *to,
		      const char *id, const char *cond, const char *text);
/** The jabber:iq:register form (SPEC 6.2); r: the linked account, whose
 * values it shows except the secrets, or NULL. */
struct regrec;
void tr_xmpp_register_form(struct translator *tr, xmpp_stanza_t *req,
			   const struct regrec *r);
/** Approve a presence subscription. */
void tr_xmpp_subscribed(struct translator *tr, const char *from,
			const char *to);
/**
 * <iq type=set to><jingle action sid initiator responder/></iq> of call
 * id; *jp is the jingle element (owned by the iq, which the caller
 * releases).
 */
xmpp_stanza_t *tr_xmpp_jingle(struct translator *tr, uint64_t id,
			      const struct callrec *r, const char *to,
			      const char *action, xmpp_stanza_t **jp);
/**
 * A session-info of call id with one payload: what is "ringing", "hold" or
 * "active" (XEP-0167), or "dtmf" with its code (XEP-0181). The caller sends
 * it (tr_xmpp_send or tr_xmpp_jingle_to_all) and releases it.
 */
xmpp_stanza_t *tr_xmpp_session_info(struct translator *tr, uint64_t id,
				    const struct callrec *r, const char *what,
				    const char *dtmf);
/**
 * A session-info of call id carrying a SIP INFO's payload (SPEC 6.2):
 * <info xmlns='urn:xmpp:sip:info:0' content-type='ctype'>body</info>.
 * The caller checked both (XML-safe text) and releases the IQ.
 */
xmpp_stanza_t *tr_xmpp_sip_info(struct translator *tr, uint64_t id,
				const struct callrec *r, const char *ctype,
				const char *body);
/** A chat from the call's SIP party (its gateway JID) to the user in the
 * call (its device, else its bare JID): a MESSAGE in the dialog. */
void tr_xmpp_call_chat(struct translator *tr, uint64_t id,
		       const struct callrec *r, const char *body);
/** Send a Jingle IQ of the call to its device, or every device rung. */
void tr_xmpp_jingle_to_all(struct translator *tr, uint64_t id,
			   const struct callrec *r, xmpp_stanza_t *iq);
/** session-terminate with a reason; for a SIP code a <sip-error/> too. */
void tr_xmpp_terminate(struct translator *tr, uint64_t id,
		       const struct callrec *r, const char *reason,
		       unsigned scode, const char *phrase);
/** session-terminate <cancel/> to every device rung but winner. */
void tr_xmpp_cancel_others(struct translator *tr, uint64_t id,
			   const struct callrec *r, const char *winner);
/** The stored session-initiate of a call (init_xml) as an IQ to a device. */
int tr_xmpp_initiate_to(struct translator *tr, uint64_t id,
			const struct callrec *r, const char *from,
			const char *to);
/** XEP-0353 <propose/> or <retract/> to the callee from the caller; a
 * propose has one <description media/> per content of the stored
 * session-initiate (r->init_xml): the media the session will carry. */
void tr_xmpp_jmi(struct translator *tr, uint64_t id, const struct callrec *r,
		 const char *to, const char *what);
/** XEP-0353 <proceed/> to a caller's propose to a gateway JID. */
void tr_xmpp_jmi_proceed(struct translator *tr, const char *from,
			 const char *to, const char *sid);

/* ---- tr_sip_out.c ------------------------------------------------- */

/** Why a request ends something (RFC 3326 Reason). */
struct tr_sip_why {
	unsigned cause;
	const char *text; /**< printable ASCII without quotes */
};

/**
 * A request in the dialog of a call, from its record (RFC 3261
 * 12.2.1.1); its outcome goes to owner (the call, or the message record
 * of a MESSAGE in the dialog). cseq 0 takes the next local CSeq; branch NULL a
 * new one; why NULL: no Reason; extra: more header lines, each ending in CRLF
 * (credentials, a NOTIFY's Event and Subscription-State, a PRACK's
 * RAck), or NULL. Every other header is written here: an INFO with a
 * trickle-ice-sdpfrag body gets its Info-Package (RFC 8840).
 * @return the out id, or 0
 */
uint64_t tr_sip_request(struct translator *tr, struct tr_owner owner,
			struct callrec *r, const char *method, uint32_t cseq,
			const char *branch, const char *ctype,
			const struct tr_sip_why *why, const char *extra,
			const char *body);

/** A response to a request kept as raw bytes. */
struct tr_sip_reply {
	uint64_t tx;     /**< the front's server transaction */
	const char *src; /**< where the request came from */
	struct pl raw;   /**< the request */
	uint64_t totag;  /**< 0: none */
	unsigned scode;
	const char *reason;
	bool contact;      /**< add our Contact (dialog-creating) */
	const char *ctype; /**< with body */
	const char *body;
	uint32_t retry_after; /**< s, for a 503; 0: none */
	const char *extra;    /**< more header lines, each ending CRLF (a
				 SUBSCRIBE's Expires), or NULL */
};
/**
 * Every header of a response is written here: Contact, Allow (2xx, 405),
 * Accept by the request's method (415, and 2xx to OPTIONS), Content-Type.
 * @return the out id, or 0
 */
uint64_t tr_sip_respond(struct translator *tr, struct tr_owner owner,
			const struct tr_sip_reply *rp);

/** A SIP MESSAGE (page mode), identifiers chosen by the caller. */
struct tr_sip_page {
	const char *ruri, *from, *to, *callid, *ftag, *branch;
	uint32_t cseq;
	const char *ctype, *body;
	const char *dst;  /**< next hop URI, or NULL (sip.proxy, R-URI) */
	const char *auth; /**< credential headers, or NULL */
};
uint64_t tr_sip_message(struct translator *tr, uint64_t msg,
			const struct tr_sip_page *pg);

/** The route set of a dialog from Record-Route, one per line (UAS: in
 * order; UAC: reversed). @return a libre string, or NULL */
char *tr_sip_route_set(const struct sip_msg *msg, bool reverse);

/** A random token: prefix + 16 hex digits (a libre string). */
char *tr_sip_token(const char *prefix);

/** A REGISTER of registration id (tr_reg.c); auth: credential headers
 * or NULL. Identifiers and CSeq come from the record. @return the out id
 * or 0 */
struct regrec;
uint64_t tr_sip_register(struct translator *tr, uint64_t id,
			 const struct regrec *r, uint32_t expires,
			 const char *auth);
/** A SUBSCRIBE of subscription id (tr_sub.c) from its record (CSeq
 * lcseq, in its dialog once it has one). @return the out id or 0 */
struct subrec;
uint64_t tr_sip_subscribe(struct translator *tr, uint64_t id,
			  const struct subrec *r, uint32_t expires);
/** The R-URI of a REGISTER for an AOR: "sip:host[:port]" (a libre
 * string, or NULL if the AOR is not a SIP URI). */
char *tr_sip_register_uri(const char *aor);

/* ---- tr_digest.c -------------------------------------------------- */

/** Credentials (secrets: never logged). */
struct tr_cred {
	const char *user;     /**< digest username */
	const char *password; /**< "" when ha1 is used */
	const char *ha1;      /**< MD5(user:realm:password) in hex, or "" */
};
/**
 * Credentials for the challenges of a 401/407 (every WWW-Authenticate and
 * Proxy-Authenticate, the strongest algorithm we can answer per realm:
 * SHA-256 with a password, else MD5; qop=auth when offered), written to
 * mb as Authorization / Proxy-Authorization headers for method and uri.
 * @param stale  set if every challenge answered said stale=true
 * @return 0; EAUTH if none can be answered (no challenge, only unknown
 *         algorithms, SHA-256 with only an HA1); EBADMSG if malformed
 */
int tr_digest_answer(struct mbuf *mb, const struct sip_msg *resp,
		     const struct tr_cred *cred, const char *method,
		     const char *uri, bool *stale);

/* ---- tr_pidf.c ---------------------------------------------------- */

/** A reginfo document (RFC 3680) as a phone's state needs it. */
struct tr_reginfo {
	bool full;       /**< state="full" (else partial) */
	unsigned active; /**< contacts (or registrations) active */
	bool refreshed;  /**< an active contact says event="refreshed" */
};
/** @return 0, or EBADMSG (malformed, not reginfo) */
int tr_pidf_reginfo(struct translator *tr, const char *body,
		    struct tr_reginfo *ri);

/** A dialog-info document (RFC 4235) as a phone's state needs it. */
struct tr_dialoginfo {
	bool full;
	unsigned dialogs, confirmed, terminated;
};
/** @return 0, or EBADMSG (malformed, not dialog-info) */
int tr_pidf_dialoginfo(struct translator *tr, const char *body,
		       struct tr_dialoginfo *di);

/** A PIDF document (RFC 3863, RPID activities of RFC 4480) as XMPP
 * presence (RFC 7248): available if a tuple is open, show from the
 * activities (busy, on-the-phone -> dnd; away -> away; vacation -> xa),
 * status from the first note. */
struct tr_pidf {
	bool open;
	char show[8];     /**< "", "away", "dnd", "xa" */
	char status[512]; /**< "" if none */
};
/** @return 0, EBADMSG (malformed, not PIDF) or EMSGSIZE (too large) */
int tr_pidf_presence(struct translator *tr, const char *body,
		     struct tr_pidf *p);

/* ---- tr_presence.c ------------------------------------------------ */

/** A <presence/> from a local user: learn it, approve subscriptions. */
void tr_presence_in(struct translator *tr, xmpp_stanza_t *st);
/** Online resources of a bare JID (full JIDs, one per line in *list, a
 * libre string or NULL). @return how many */
unsigned tr_presence_online(struct translator *tr, const char *bare,
			    char **list);
/** A resource the server says is not there any more (a lost
 * unavailable): it is not rung again (F21). */
void tr_presence_forget(struct translator *tr, const char *full);
/** Is the bare JID's domain one of xmpp.domains? */
bool tr_presence_served(const struct xsgw_config *cfg, const char *bare);

/* ---- tr_media.c --------------------------------------------------- */

/**
 * SDP of a <jingle/> (author_is_initiator: whose perspective). With an
 * offer, an answer to it. Bumps the record's SDP version. The call's
 * SDES policy (callrec srtp) applies to offers and answers.
 * @return 0, EPERM (the policy refuses it), or another errno; eb says
 *         why for the peer
 */
int tr_media_sdp_of_jingle(struct translator *tr, struct callrec *r,
			   xmpp_stanza_t *j, bool author_is_initiator,
			   const char *offer_sdp, const char *action,
			   char **sdp, char *eb, size_t ebsz);
/** Add an SDP's contents to a <jingle/> (action: its a=jingle-action).
 * @return 0, or EPROTO (eb says why) if the SDP is malformed, holds values
 *         XML cannot carry, or has no media the gateway can carry */
int tr_media_jingle_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			   const char *sdp, bool author_is_initiator,
			   struct pl *action, char *eb, size_t ebsz);
/** Only the transports of an SDP's contents (transport-info). */
int tr_media_transports_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			       const char *sdp, bool author_is_initiator,
			       char *eb, size_t ebsz);
/** Our current SDP with every stream sendonly (hold) or sendrecv. */
int tr_media_hold_sdp(struct translator *tr, struct callrec *r, bool hold,
		      char **sdp);
/**
 * Does sdp (ours, as the call's side writes it) hold the call: only we
 * may send, or nobody, on every stream it has (the user's hold, or a
 * content-modify to the same effect)?
 */
bool tr_media_sdp_holds(const struct callrec *r, const char *sdp);
/**
 * The answer to a re-offer from our current media (RFC 3264 8).
 * @param held  set if the offer puts us on hold
 * @return 0, or EPROTO with eb set (488)
 */
int tr_media_reoffer_answer(struct translator *tr, struct callrec *r,
			    const char *offer, char **answer, struct pl *action,
			    bool *held, char *eb, size_t ebsz);
/** An RFC 8840 trickle-ice-sdpfrag of a transport-info. */
int tr_media_frag_of_jingle(struct translator *tr, const struct callrec *r,
			    xmpp_stanza_t *j, char **frag, char *eb,
			    size_t ebsz);
/** True if a content has an ICE transport without candidates (trickle). */
bool tr_media_trickle_pending(xmpp_stanza_t *j);
/** Add a transport-info's candidates to a stored session-initiate. */
int tr_media_merge_candidates(struct translator *tr, char **init_xml,
			      xmpp_stanza_t *ti);
/** Our current SDP with the senders of a content-modify's contents (a
 * re-INVITE's offer). @return 0, or EPROTO with eb set (bad-request) */
int tr_media_senders_sdp(struct translator *tr, struct callrec *r,
			 xmpp_stanza_t *j, char **sdp, char *eb, size_t ebsz);
/** Our current SDP with the new ICE credentials and candidates of a
 * transport-info that restarts ICE (RFC 8839 4.4.1.1.1; XEP-0176).
 * @return 0; ENOENT if it restarts nothing (trickle); EPROTO (eb) */
int tr_media_restart_sdp(struct translator *tr, struct callrec *r,
			 xmpp_stanza_t *j, char **sdp, char *eb, size_t ebsz);
/** Do the ICE credentials of an SDP differ from an earlier one's? */
bool tr_media_ice_restarted(const char *before, const char *after);
/** Does an SDP carry SRTP keys that are required (RTP/SAVP with
 * a=crypto) in every stream it does not refuse? */
bool tr_media_sdp_secure(const char *sdp);
/** A stanza as text (a libre string). @return 0 or ENOMEM */
int tr_media_stanza_text(struct translator *tr, xmpp_stanza_t *st, char **out);

/* ---- tr_callrec.c ------------------------------------------------- */

/** @return 0, ENOENT, or EBADMSG (logged) */
int tr_callrec_load(struct translator *tr, uint64_t id, struct callrec *r);
void tr_callrec_save(struct translator *tr, uint64_t id, struct callrec *r);
void tr_callrec_key_put(struct translator *tr, enum callkey_kind kind,
			const char *a, const char *b, uint64_t id);
void tr_callrec_key_del(struct translator *tr, enum callkey_kind kind,
			const char *a, const char *b);
/** @return the call id, or 0 */
uint64_t tr_callrec_key_get(struct translator *tr, enum callkey_kind kind,
			    const char *a, const char *b);
uint64_t tr_callrec_key_get_pl(struct translator *tr, enum callkey_kind kind,
			       const struct pl *a, const struct pl *b);
/** The active call of owner (a bare JID) with a gateway JID (bare; NULL:
 * anyone), the latest if several, or 0. Cost: the owner's calls. */
uint64_t tr_callrec_active_with(struct translator *tr, const char *owner,
				const char *gwjid);
/** The same, of the calls through linked account reg only (0: any). */
uint64_t tr_callrec_active_via(struct translator *tr, const char *owner,
			       const char *gwjid, uint64_t reg);
/** Append a line to the call's history ("ms text"). */
void tr_callrec_event(struct callrec *r, const char *fmt, ...);
/** Replace the call's deadline (0: none). */
void tr_callrec_deadline(struct translator *tr, uint64_t id, struct callrec *r,
			 uint64_t when);
/** Forget the call everywhere: keys (those of a transfer under way
 * too), deadline, record. */
void tr_callrec_drop(struct translator *tr, uint64_t id, struct callrec *r,
		     const char *why);
/** Set a record string from a C string / pl. @return 0 or ENOMEM */
int tr_callrec_set(char **dst, const char *s);
int tr_callrec_set_pl(char **dst, const struct pl *pl);

/* ---- tr_call.c ---------------------------------------------------- */

/** The events of a call (table in tr_call.c). */
enum call_event {
	CE_X_INITIATE = 1, /**< session-initiate to a gateway JID */
	CE_X_ACCEPT,       /**< session-accept */
	CE_X_TERMINATE,    /**< session-terminate */
	CE_X_INFO,         /**< session-info (refined by its payload:
			      ringing, dtmf, hold, active, SIP info, ping) */
	CE_X_TRANSPORT,    /**< transport-info */
	CE_X_SOURCE,       /**< source-add/remove/update */
	CE_X_EXISTING,     /**< existing-session-initiate (get) */
	CE_X_IQ_RESULT,    /**< a device acknowledged our IQ */
	CE_X_IQ_ERROR,     /**< a device refused our IQ */
	CE_X_JMI_RINGING,  /**< XEP-0353 <ringing/> */
	CE_X_JMI_PROCEED,  /**< XEP-0353 <proceed/> */
	CE_X_JMI_REJECT,   /**< XEP-0353 <reject/> */
	CE_S_INVITE,       /**< an INVITE outside a dialog */
	CE_S_INVITE_AGAIN, /**< its retransmission */
	CE_S_CANCEL,       /**< CANCEL of the pending INVITE */
	CE_S_ACK,          /**< ACK in the dialog */
	CE_S_BYE,          /**< BYE */
	CE_S_REINVITE,     /**< re-INVITE or UPDATE */
	CE_S_INFO,         /**< INFO (refined by its Content-Type: DTMF,
			      trickle fragment, any other payload) */
	CE_S_OPTIONS,      /**< OPTIONS in the dialog */
	CE_S_OTHER,        /**< any other request in the dialog */
	CE_S_MESSAGE,      /**< MESSAGE in the dialog */
	CE_S_REFER,        /**< REFER in the dialog (transfer) */
	CE_R_RESPONSE,     /**< a response to our request, or its local
			      failure (refined by the record) */
	CE_O_DONE,         /**< a front finished an outbox entry (refined)
			    */
	CE_T_EXPIRED,      /**< the call's deadline passed */
	CE_OP_END,         /**< xsgwctl end */
	CE_X_MODIFY,       /**< content-modify (senders) */
	CE_X_CHAT,         /**< a chat from the user to the call's gateway
			      JID while it is active (tr_msg) */
	CE_COUNT
};

/** What an event carries (fields by event). */
struct call_ev {
	/* from XMPP */
	xmpp_stanza_t *iq, *j, *st; /**< the IQ, its <jingle/>, a message */
	const char *from;           /**< the sender's full JID */
	bool gone; /**< CE_X_IQ_ERROR: the resource is not there (RFC 6120
		      service-unavailable, item-not-found, ...) */
	/* from SIP */
	const struct sip_msg *msg; /**< a request or response */
	uint64_t tx;               /**< the request's server transaction */
	const char *src;           /**< where the request came from */
	struct pl raw;             /**< the request as received */
	unsigned scode;            /**< a response's status */
	const char *reason;        /**< its phrase, or why (operator) */
	uint64_t out;              /**< the outbox id an outcome is for */
	/* CE_X_CHAT */
	uint64_t chat;    /**< the message record owning the MESSAGE */
	const char *text; /**< its body */
};

/**
 * Apply an event to call id: load the record once, run the transition of
 * (direction, state, event), save once (or drop the call). id 0 with
 * CE_X_INITIATE or CE_S_INVITE creates the call.
 * @return 0, or ENOENT if there is no such call
 */
int tr_call_apply(struct translator *tr, uint64_t id, enum call_event ev,
		  const struct call_ev *e);
/** Outcome of an outbox entry of call id. */
struct tr_outcome;
void tr_call_outcome(struct translator *tr, uint64_t id,
		     const struct tr_outcome *oc);
/** The call's deadline passed. */
void tr_call_expired(struct translator *tr, uint64_t id);

/* ---- tr_msg.c ----------------------------------------------------- */

/** The Content-Type of a chat carried as a SIP MESSAGE. */
#define CTYPE_TEXT "text/plain;charset=UTF-8"

/** A <message/> (chat, normal, error, headline) from XMPP. */
void tr_msg_from_xmpp(struct translator *tr, xmpp_stanza_t *st);
/** A SIP MESSAGE outside a dialog. */
void tr_msg_from_sip(struct translator *tr, const struct sip_msg *msg,
		     uint64_t tx, const char *src, const struct pl *raw);
/** Outcome of an outbox entry of message id. */
void tr_msg_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc);
/** A deadline of the message passed: a pending message has waited too
 * long (it fails back to its sender), a done one is forgotten. */
void tr_msg_expired(struct translator *tr, uint64_t id);
/** Is message id still pending (its delivery still owed)? */
bool tr_msg_wants(struct translator *tr, uint64_t id);

/* ---- tr_regrec.c -------------------------------------------------- */

/** @return 0, ENOENT, or EBADMSG (logged) */
int tr_regrec_load(struct translator *tr, uint64_t id, struct regrec *r);
void tr_regrec_save(struct translator *tr, uint64_t id, struct regrec *r);
/** @return the registration id, or 0 */
uint64_t tr_regrec_key_get(struct translator *tr, enum regkey_kind kind,
			   const char *v);
void tr_regrec_key_put(struct translator *tr, enum regkey_kind kind,
		       const char *v, uint64_t id);
void tr_regrec_key_del(struct translator *tr, enum regkey_kind kind,
		       const char *v);
/**
 * The linked account of a user that calls and messages go through (not
 * while it is being linked or removed).
 * @param id  if not NULL, set to the registration id
 * @return 0 (r filled: regrec_reset it), or ENOENT
 */
int tr_account_of_jid(struct translator *tr, const char *bare, struct regrec *r,
		      uint64_t *id);
/** The user whose binding a Request-URI user part is (our Contact).
 * @return the registration id (jid set), or 0 */
uint64_t tr_account_jid_of_contact(struct translator *tr, const struct pl *user,
				   char *jid, size_t sz);
/** The account's next hop ("sip:proxy;lr", a libre string) or NULL:
 * sip.proxy or the Request-URI, as without an account. */
char *tr_account_next_hop(const struct regrec *r);
/** Credentials of the account for a 401/407 (tr_digest_answer). */
int tr_account_credentials(const struct regrec *r, struct mbuf *mb,
			   const struct sip_msg *resp, const char *method,
			   const char *uri, bool *stale);
/** A callee URI in the account's domain: uri's user and parameters at
 * the AOR's host. @return 0, EINVAL or ENAMETOOLONG */
int tr_account_target(const struct regrec *r, const char *uri, char *out,
		      size_t sz);

/* ---- tr_sipaddr.c ------------------------------------------------- */

/** A sip: or sips: URI's user and host, copied.
 * @return 0, EPROTONOSUPPORT (another scheme: 416), or EINVAL (no user,
 *         or too long) */
int tr_sipaddr_parts(const struct uri *u, char *user, size_t us, char *host,
		     size_t hs);
/** The SIP URI of a gateway JID (node@component[/resource]): through
 *  sip.proxy's domain if proxied (addr_gwnode_to_sip_proxied).
 *  @return 0, or EINVAL (not a gateway JID) and addr's errors */
int tr_sipaddr_of_gwjid(const struct xsgw_config *cfg, const char *jid,
			bool proxied, char *uri, size_t sz);
/** The status and phrase for a recipient tr_sipaddr_recipient refused:
 *  416 for another scheme than sip/sips (RFC 3261 8.2.2.1), else 404. */
unsigned tr_sipaddr_refusal(int err, const char **reason);
/**
 * The XMPP user a request from SIP is for: the Request-URI's user in a
 * served domain, the user of a linked account whose binding it is (only
 * with regp), or, when the Request-URI's host is the gateway's own, To's.
 * @param regp  NULL: no accounts; else set to the account's registration
 *              id (0: none)
 * @return 0 (jid set), ENOENT (no domain served), or addr_sip_to_user's
 *         and tr_sipaddr_parts' errors
 */
int tr_sipaddr_recipient(struct translator *tr, const struct sip_msg *msg,
			 char *jid, size_t sz, uint64_t *regp);

/* ---- tr_reg_form.c ------------------------------------------------ */

/** An account as a user submitted it (strings: libre strings). */
struct reg_form {
	char *aor, *password, *ha1, *auth_user, *proxy, *display;
	uint32_t expires;
	uint32_t srtp; /**< enum reg_srtp */
};
void reg_form_reset(struct reg_form *f);
/**
 * Read the legacy fields or the submitted XEP-0004 form of a
 * jabber:iq:register query, and check them (SPEC 6.2).
 * @return 0, or EINVAL with why (for a bad-request <text/>)
 */
int tr_reg_form_parse(xmpp_stanza_t *query, struct reg_form *f, char *why,
		      size_t wsz);

/* ---- tr_reg.c ----------------------------------------------------- */

/** A jabber:iq:register IQ to the component (get, set, remove). */
void tr_reg_iq(struct translator *tr, xmpp_stanza_t *iq, xmpp_stanza_t *q);
/** A probe or a subscription approval from a user to the component: our
 * presence for their account (none if no account). */
void tr_reg_presence_to(struct translator *tr, const char *bare);
/** Outcome of a REGISTER of registration id. */
void tr_reg_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc);
/** Registration id's deadline: refresh, retry. */
void tr_reg_expired(struct translator *tr, uint64_t id);
/** Is the outbox entry still wanted (its registration still exists)? */
bool tr_reg_wants(struct translator *tr, uint64_t id);
/** xsgwctl end: un-REGISTER and forget. @return 0 or ENOENT */
int tr_reg_end(struct translator *tr, uint64_t id);

/* ---- tr_phone.c --------------------------------------------------- */

/** The phone of a presence.phones entry: its record, created (and its
 * owner asked to subscribe) if new. @return its id, or 0 (a bad AOR) */
struct cfg_presphone;
uint64_t tr_phone_ensure(struct translator *tr, const struct cfg_presphone *p);
/** Events of phone id (tr_sub.c reads them from NOTIFYs). */
void tr_phone_reg(struct translator *tr, uint64_t id,
		  const struct tr_reginfo *ri);
void tr_phone_dialog(struct translator *tr, uint64_t id,
		     const struct tr_dialoginfo *di);
/** Its keepalive deadline passed: offline. */
void tr_phone_expired(struct translator *tr, uint64_t id);
/** What a linked SIP account did, for its phone (SPEC 6.3: each linked
 * account is a phone too; its gateway JID shows its state to its user). */
enum phone_account {
	PA_REGISTERED,   /**< bound (a refresh too) */
	PA_UNREGISTERED, /**< not bound */
	PA_CALL,         /**< a call through it is answered */
	PA_NO_CALL,      /**< no answered call through it any more */
	PA_GONE,         /**< unlinked: the phone is forgotten */
};
/** Drive the phone of a linked account (aor, its user jid); created at
 * its first registration. A configured phone of the same AOR is left to
 * the presence server. */
void tr_phone_account(struct translator *tr, const char *aor, const char *jid,
		      enum phone_account what);
/** A PUBLISH (RFC 3903; Event presence or dialog) for a configured
 * phone's AOR: answered here (200 with SIP-ETag, 412, 489, 404, 400). */
void tr_phone_publish(struct translator *tr, const struct call_ev *e);
/** A probe of a phone's gateway JID: its presence to the prober.
 * @return false if gwjid is no phone */
bool tr_phone_presence_to(struct translator *tr, const char *gwjid,
			  const char *to);
/** The xmpp-front asks for its client session jid (a phone's full JID):
 * it gets what is kept of the session's stream (MSG_CLIENT_STATE) and
 * the phone's current presence to show on it. */
void tr_phone_client_up(struct translator *tr, const char *jid);
/** MSG_CLIENT_SM: keep a client session's XEP-0198 state in its phone's
 * record (keep false: a refused batch, nothing is kept) and confirm with
 * what is kept (MSG_CLIENT_STATE, after the commit). */
void tr_phone_client_sm(struct translator *tr, const struct m_client_sm *m,
			bool keep);
/** Forget the phones no longer in presence.phones (their watchers see
 * them unavailable; their subscriptions lapse at their next deadline). */
void tr_phone_forget_unconfigured(struct translator *tr);

/* ---- tr_sub.c ----------------------------------------------------- */

/** The subscriptions of n phones (ids; 0: skip) to the reg and dialog
 * events of their targets at the presence server: those missing are
 * created and SUBSCRIBEd (one scan of the subscriptions for all). */
void tr_sub_ensure_all(struct translator *tr, size_t n, const uint64_t *phones,
		       const char *const *targets);
/** A NOTIFY in one of our subscriptions (id from CK_SUB): answered here;
 * its body, if it is one the phone takes, is read into ri or di and the
 * phone's id returned with *kind 'r' or 'd'. A presence subscription's
 * is handled whole here (its watchers told). @return phone id or 0 */
uint64_t tr_sub_notify(struct translator *tr, uint64_t id,
		       const struct call_ev *e, char *kind,
		       struct tr_reginfo *ri, struct tr_dialoginfo *di);
/** A served user's subscribe, unsubscribe or probe to a SIP user's
 * gateway JID (not a phone's): the one presence subscription to its SIP
 * URI at the presence server gains or loses a watcher, or answers from
 * the store. */
void tr_sub_watch(struct translator *tr, xmpp_stanza_t *st);
void tr_sub_outcome(struct translator *tr, uint64_t id,
		    const struct tr_outcome *oc);
void tr_sub_expired(struct translator *tr, uint64_t id);
bool tr_sub_wants(struct translator *tr, uint64_t id);

/* ---- tr_watch.c --------------------------------------------------- */

/** A SUBSCRIBE (inside a dialog or not): a SIP watcher of a served user
 * (SPEC 6.3), or refused (489 for another event). */
void tr_watch_subscribe(struct translator *tr, const struct call_ev *e);
/** A served user (bare) answered the subscription request of gateway JID
 * gwjid (bare): approved (subscribed) or refused (unsubscribed). */
void tr_watch_answer(struct translator *tr, const char *user, const char *gwjid,
		     bool approved);
/** The presence of a served user (bare) may have changed (the presence
 * database has it): its active watchers are told when it did. */
void tr_watch_presence(struct translator *tr, const char *user);
/** A new component stream: the server routed no presence while none was
 * open, so each user with an active SIP watcher is probed (from a gateway
 * JID it approved); its answer is its presence as any other. */
void tr_watch_probe_all(struct translator *tr);
void tr_watch_outcome(struct translator *tr, uint64_t id,
		      const struct tr_outcome *oc);
void tr_watch_expired(struct translator *tr, uint64_t id);
bool tr_watch_wants(struct translator *tr, uint64_t id);

/* ---- tr_pidf_out.c ------------------------------------------------ */

/** A user's presence as SIP watchers see it (RFC 7248: aggregated over
 * the user's resources). */
struct tr_pres_view {
	bool open;        /**< any resource available */
	const char *show; /**< the best resource's: "", away, xa, dnd, chat */
	const char *note; /**< its status text, or "" */
};
/**
 * A PIDF document (RFC 3863, RPID RFC 4480 activities) for entity: basic
 * open/closed; away and xa as <rpid:away/>, dnd as <rpid:busy/>; the
 * status text as <note/> (else the show's name). Text is XML-escaped.
 * @param body  set to a libre string
 * @return 0 or ENOMEM
 */
int tr_pidf_out(char **body, const char *entity, const struct tr_pres_view *v);

/* ---- tr_owner.c --------------------------------------------------- */

/** How an outbox entry ended. */
struct tr_outcome {
	bool response; /**< MSG_SIP_IN_RESPONSE, else OUT_DONE */
	uint64_t out;
	unsigned scode;            /**< see m_out_done, m_sip_in_response */
	const char *reason;        /**< NUL-terminated */
	const struct sip_msg *msg; /**< a SIP response, or NULL */
};

/** Hand an outcome to the owner's handler, by its kind. */
void tr_owner_outcome(struct translator *tr, struct tr_owner owner,
		      const struct tr_outcome *oc);
/** MSG_OUT_DONE from a front: the entry is done, its owner hears how. */
void tr_owner_done(struct translator *tr, enum proc_id front,
		   const struct m_out_done *m);
/** tr_out_wanted_h by the owner's kind. */
bool tr_owner_wants(struct translator *tr, struct tr_owner owner);
/** Hand an expired deadline to the owner's handler, by its kind. */
void tr_owner_expired(struct translator *tr, enum owner_kind kind, uint64_t id);

/* ---- tr_from_xmpp.c / tr_from_sip.c ------------------------------- */

/** MSG_XMPP_IN: a stanza, routed to its owner. */
void tr_from_xmpp(struct translator *tr, const struct m_xmpp_in *m);
/** MSG_SIP_IN_REQUEST */
void tr_from_sip_request(struct translator *tr,
			 const struct m_sip_in_request *m);
/** MSG_SIP_IN_RESPONSE */
void tr_from_sip_response(struct translator *tr,
			  const struct m_sip_in_response *m);

/**
 * Refuse a frame whose effects cannot be stored (err: why; ENOSPC: the
 * store is full; ETIMEDOUT: a request past its deadline): its sender gets
 * an error (SIP 503 with Retry-After, else 500; XMPP resource-constraint
 * for ENOSPC, else internal-server-error), nothing else.
 */
void tr_from_xmpp_refuse(struct translator *tr, const struct m_xmpp_in *m,
			 int err);
void tr_from_sip_refuse(struct translator *tr, const struct m_sip_in_request *m,
			int err);

/* ---- tr_upgrade.c ------------------------------------------------- */

/**
 * Migrate an older store to STORE_SCHEMA (one transaction, committed).
 * @return 0, or an errno (the store is left as it was)
 */
int tr_upgrade(struct translator *tr);

#endif
