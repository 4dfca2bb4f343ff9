/**
 * @file keys.h  Store keys: one builder and one parser per key kind (the
 *               layout of every database is in store.h). Integers are
 *               big-endian so that keys sort the way they are queried.
 *
 * Builders write into k (sz bytes) and return the key length, or 0 if the
 * key would not fit (the caller refuses the input: nothing is stored under
 * a truncated key). Keys made of peer identifiers (callkey, msgdedup) never
 * exceed LMDB's limit: a part longer than 128 bytes (or one holding a
 * separator) is stored as 0x01 and its digest in 40 hex digits, so any
 * Call-ID, tag or sid has a key; lookups build the same key from the whole
 * value. Keys hold no NUL other than the pair separator. Parsers
 * return 0 or EBADMSG; strings they return (pl) point into the key, valid as
 * long as the key is.
 */
#ifndef XSGW_KEYS_H
#define XSGW_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <re.h>

enum { KEY_MAX = 511 }; /**< LMDB's default maximum key size */

/** The ids of the things that own outbox entries and deadlines. */
enum owner_kind {
	OWN_NONE = 0,  /**< fire and forget (an IQ result, a reply) */
	OWN_MSG = 1,   /**< a message record (msg) */
	OWN_CALL = 2,  /**< a call record (call) */
	OWN_REG = 3,   /**< a registration record (reg) */
	OWN_PHONE = 4, /**< a phone record (phone) */
	OWN_SUB = 5,   /**< a subscription record (sub) */
	OWN_WATCH = 6, /**< a SIP watcher of a user's presence (watch) */
	OWN_COUNT
};

/* id (be64): msg, call, reg, outbox values */
void key_id(uint8_t k[8], uint64_t id);
uint64_t key_id_parse(const void *k);

/* callkey: kind(1) a NUL b -> call id */
enum callkey_kind {
	CK_SID = 's',    /**< owner bare JID, Jingle sid */
	CK_DIALOG = 'd', /**< Call-ID, local tag */
	CK_REMOTE = 'u', /**< Call-ID, remote tag (SIP->XMPP calls) */
	CK_SUB = 'b',    /**< Call-ID, local tag of our SUBSCRIBE (sub) */
	CK_WATCH = 'w',  /**< Call-ID, our tag of a watcher's dialog (watch) */
	CK_WATCH_REMOTE = 'v', /**< Call-ID, the watcher's tag (watch): its
				  SUBSCRIBE again outside the dialog */
};
size_t key_callkey(uint8_t *k, size_t sz, enum callkey_kind kind, const char *a,
		   const char *b);
int key_callkey_parse(const void *k, size_t kl, enum callkey_kind *kind,
		      struct pl *a, struct pl *b);

/* msgkey: "s" TAB Call-ID TAB CSeq TAB From-tag -> msg id (a SIP MESSAGE
 * already accepted: its retransmissions get the same answer) */
size_t key_msgdedup(uint8_t *k, size_t sz, const struct pl *callid,
		    uint32_t cseq, const struct pl *ftag);

/* regkey: kind(1) value -> reg id; values are kept whole (no NUL) */
enum regkey_kind {
	RK_JID = 'j',       /**< the user's bare JID */
	RK_CONTACT = 'c',   /**< the Contact user part we registered */
	RK_PHONE = 'p',     /**< a phone's AOR (phone) */
	RK_PHONE_JID = 'g', /**< a phone's gateway JID (phone) */
	/** "URI SP JID": a SIP URI whose presence an XMPP user (bare JID)
	 * watches: our "presence" subscription to it for that watcher
	 * (sub; schema 5: "URI" alone, one shared by every watcher) */
	RK_PRESENTITY = 'e',
};
size_t key_regkey(uint8_t *k, size_t sz, enum regkey_kind kind, const char *v);
/** The RK_PRESENTITY value of watcher's subscription to uri: "URI SP
 * JID" into v (neither holds a space). @return false if it does not fit
 * v or a key */
bool key_presentity(char *v, size_t sz, const char *uri, const char *watcher);

/* presence: bare JID NUL resource -> presrec */
size_t key_presence(uint8_t *k, size_t sz, const char *bare,
		    const char *resource);
/** The prefix of every resource of bare (bare NUL). */
size_t key_presence_prefix(uint8_t *k, size_t sz, const char *bare);
int key_presence_parse(const void *k, size_t kl, struct pl *bare,
		       struct pl *resource);

/* watchkey "u": user NUL gateway JID NUL id(be64) -> empty: the SIP
 * watchers of a served user (bare JID), by the gateway JID they watch
 * from; parts longer than 128 bytes are digested (key_callkey) */
size_t key_watchuser(uint8_t *k, size_t sz, const char *user, const char *gwjid,
		     uint64_t id);
/** The prefix of a user's watchers (gwjid NULL), or of those from one
 * gateway JID. */
size_t key_watchuser_prefix(uint8_t *k, size_t sz, const char *user,
			    const char *gwjid);
/** @param id  set to the watcher's id */
int key_watchuser_parse(const void *k, size_t kl, uint64_t *id);

/* deadline: when_ms(be64) kind(u8) id(be64) -> empty */
enum { KEY_DEADLINE_LEN = 17 };
void key_deadline(uint8_t k[KEY_DEADLINE_LEN], uint64_t when,
		  enum owner_kind kind, uint64_t id);
int key_deadline_parse(const void *k, size_t kl, uint64_t *when,
		       enum owner_kind *kind, uint64_t *id);

/* outbox: front(be32) id(be64) -> outrec; a front's entries are a prefix */
enum { KEY_OUTBOX_LEN = 12 };
void key_outbox(uint8_t k[KEY_OUTBOX_LEN], uint32_t front, uint64_t id);
void key_outbox_prefix(uint8_t k[4], uint32_t front);
int key_outbox_parse(const void *k, size_t kl, uint32_t *front, uint64_t *id);

/* rx: proc(be32) -> {u64 boot, u64 seq} */
void key_rx(uint8_t k[4], uint32_t proc);

#endif
