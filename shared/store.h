/**
 * @file store.h  The LMDB session store. The translator is its only writer;
 *                xsgwctl opens it read-only.
 *
 * Databases (keys sort the way they are queried; integers big-endian; every
 * key is built and parsed by keys.h, every value by a record codec):
 *   meta      "schema" -> u32, "next_id" -> u64
 *   msg       id -> message record (msgrec.h)
 *   msgkey    "s" TAB Call-ID TAB CSeq TAB From-tag -> id(be64)
 *   deadline  when_ms(be64) kind(u8) id(be64) -> empty: timers of the
 *             owner (enum owner_kind), which survive restarts
 *   rx        proc(be32) -> rxrec.h: the last frame applied per front
 *   stats     counter name -> u64
 *   call      id -> call record (callrec.h)
 *   callkey   kind(1) a NUL b -> id(be64): "s" owner-bare-JID NUL sid,
 *             "d" Call-ID NUL local-tag, "u" Call-ID NUL remote-tag
 *   outbox    front(be32) id(be64) -> outbox entry (outrec.h): work a front
 *             owes, re-sent when it reconnects until it reports it done
 *   presence  bare-JID NUL resource -> presence record (presrec.h)
 *   reg       id -> registration record (regrec.h): a linked SIP account
 *   regkey    kind(1) value -> id(be64): "j" bare JID, "c" Contact user
 *             (of a registration), "p" AOR and "g" gateway JID (of a
 *             phone)
 *   phone     id -> phone record (phonerec.h): a phone shown as presence
 *   sub       id -> subscription record (phonerec.h): ours, at the
 *             presence server; callkey "b" Call-ID NUL local-tag -> id
 *   watch     id -> watcher record (watchrec.h): a SIP watcher of a
 *             served user's presence; callkey "w" Call-ID NUL our tag and
 *             "v" Call-ID NUL the watcher's tag -> id
 *   watchkey  "u" user NUL gateway-JID NUL id(be64) -> empty: a user's
 *             watchers
 *
 * Schema history (STORE_SCHEMA; the translator migrates, see
 * translator/tr_upgrade.c):
 *   1  bb80ea4: deadline when||id; outbox id -> {front, whole frame};
 *      msgrec v1; callrec v5; "o" outbox-id keys in callkey; raw presence
 *      and rx values
 *   2  76ef848: callkey parts kept whole (up to LMDB's 511-byte key)
 *   3  f74860f: callkey parts over 128 bytes keyed by their digest
 *   4  2d7f125: reg, regkey, phone, sub (SIP accounts, phone
 *      presence), created empty
 *   5  0879dfe: watch, watchkey (SIP watchers of XMPP users), created
 *      empty; presence records v2 (show, status)
 *   6  this layout: regkey "e" per watcher (URI SP JID)
 *
 * A record is one version byte followed by typed fields (frame.h codec).
 */
#ifndef XSGW_STORE_H
#define XSGW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "frame.h"

#define STORE_SCHEMA 6

enum store_db {
	DB_META = 0,
	DB_MSG,
	DB_MSGKEY,
	DB_DEADLINE,
	DB_RX,
	DB_STATS,
	DB_CALL,
	DB_CALLKEY,
	DB_OUTBOX,
	DB_PRESENCE,
	DB_REG,
	DB_REGKEY,
	DB_PHONE,
	DB_SUB,
	DB_WATCH,
	DB_WATCHKEY,
	DB_COUNT
};

struct store;
struct store_txn;

/** store_open's flags. */
enum {
	/** read-only (xsgwctl); the directory must exist */
	STORE_RDONLY = 1,
	/**
	 * Commits do not wait for the disk (store.sync: periodic): LMDB's
	 * MDB_NOSYNC with MDB_WRITEMAP, so a commit writes its pages into the
	 * shared file mapping with no system call. A commit is in the page
	 * cache when it returns, which every process crash survives;
	 * store_flush puts it on disk. A power loss or kernel crash loses
	 * what was not flushed, and LMDB may then need the store restored.
	 * The writable map gives up LMDB's protection from stray writes into
	 * it (the price of the syscalls: 36 pwrite, 7 writev per call).
	 */
	STORE_PERIODIC = 2,
};

/**
 * Open (and create) the environment in dir.
 * @param max_size  the map grows on demand up to this many bytes
 * @param flags     STORE_RDONLY, STORE_PERIODIC, or 0 (every commit on
 *                  disk before it returns)
 * @return 0; ENOENT if read-only and there is no store; EPROTO if the
 *         schema is newer than this program; another errno from LMDB
 * Stale reader slots left by dead processes are cleared (mdb_reader_check).
 * A new store gets STORE_SCHEMA; an older one keeps its number until its
 * writer has migrated it (store_schema, store_set_schema).
 */
int store_open(struct store **sp, const char *dir, uint64_t max_size,
	       unsigned flags);
void store_close(struct store *s);

/** Write every commit so far to disk (blocks for the flush). */
int store_flush(struct store *s);

/**
 * The data file's descriptor: with STORE_PERIODIC, a fdatasync of it (by
 * any process) is store_flush. Valid until store_close.
 * @return 0 or an errno from LMDB
 */
int store_fd(const struct store *s, int *fdp);

/** The schema number of the store as opened. */
uint32_t store_schema(const struct store *s);
/** Record that the store now has schema v (in the migrating transaction). */
void store_set_schema(struct store_txn *t, uint32_t v);

/** Current map size and bytes in use. */
void store_size(struct store *s, uint64_t *mapsize, uint64_t *used);

/**
 * How full the store is as seen by t: bytes in the databases' pages (it
 * falls when records are deleted) and the most the map may grow to
 * (store.map_size).
 */
void store_fill(struct store_txn *t, uint64_t *in_use, uint64_t *max);

/** Name of a database (for dump). */
const char *store_db_name(enum store_db db);

/**
 * Begin a transaction. A write transaction first grows the map when it is
 * more than three quarters full.
 * @return 0, ENOSPC, or an errno for LMDB's error
 */
int store_begin(struct store *s, struct store_txn **tp, bool write);

/**
 * Commit. Any error recorded by an operation aborts instead.
 * @return 0; EAGAIN if the map was full and has grown (redo the work);
 *         ENOSPC if it is full at store.map_size; another errno
 */
int store_commit(struct store_txn *t);
void store_abort(struct store_txn *t);

/** The transaction's first error (sticky), or 0. */
int store_txn_err(const struct store_txn *t);

/**
 * Operations record their first error in the transaction (sticky): once
 * one failed, store_put and store_del do nothing and return that error,
 * and store_commit aborts. store_get never sets it.
 */
int store_put(struct store_txn *t, enum store_db db, const void *k, size_t kl,
	      const void *v, size_t vl);
/**
 * @param v  set to the value inside the map: valid only until the next
 *           write in this transaction or its end (LMDB's rule); copy what
 *           must live longer
 * @return 0, or ENOENT if absent (not sticky)
 */
int store_get(struct store_txn *t, enum store_db db, const void *k, size_t kl,
	      const void **v, size_t *vl);
/** @return 0, or ENOENT if absent (not sticky) */
int store_del(struct store_txn *t, enum store_db db, const void *k, size_t kl);

/**
 * Visit entries in key order, starting at the first key >= from.
 * @param cb  return true to go on
 */
typedef bool(store_visit_h)(const void *k, size_t kl, const void *v, size_t vl,
			    void *arg);
int store_scan(struct store_txn *t, enum store_db db, const void *from,
	       size_t fl, store_visit_h *cb, void *arg);

/** Allocate the next id (meta next_id), never reused. */
uint64_t store_next_id(struct store_txn *t);

/** Add delta to a counter in stats. */
void store_count(struct store_txn *t, const char *name, int64_t delta);

/** Big-endian helpers for keys. */
void be64_put(uint8_t *p, uint64_t v);
uint64_t be64_get(const uint8_t *p);
void be32_put(uint8_t *p, uint32_t v);
uint32_t be32_get(const uint8_t *p);

/** Start a record: fb is reset, the version byte written. */
void rec_begin(struct fbuf *fb, uint8_t version);
/**
 * Open a record for reading with the frame_get_* functions.
 * @return the record version, or 0 if empty
 */
uint8_t rec_open(struct frame *fr, const void *v, size_t vl);

#endif
