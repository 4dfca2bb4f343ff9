/**
 * @file store.c  LMDB wrapper: named databases, sticky-error transactions,
 *                map growth, stale reader cleanup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "log.h"
#include "store.h"
#include "util.h"

#define STORE_INITIAL_MAP (8ULL << 20)

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	uint64_t max_size;
	uint32_t schema;
	bool rdonly;
	bool writemap; /**< STORE_PERIODIC: the map's blocks are reserved */
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int err; /* first error, sticky */
	bool map_full;
};

static const char *db_names[DB_COUNT] = {
	"meta",  "msg",     "msgkey", "deadline", "rx",  "stats",
	"call",  "callkey", "outbox", "presence", "reg", "regkey",
	"phone", "sub",     "watch",  "watchkey"};


const char *store_db_name(enum store_db db)
{
	return db < DB_COUNT ? db_names[db] : "?";
}


static int mdb_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return ENOENT;
	case MDB_KEYEXIST:
		return EEXIST;
	case MDB_MAP_FULL:
		return ENOSPC;
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		log_error("store: %s", mdb_strerror(rc));
		return EBADMSG;
	default:
		if (rc > 0)
			return rc;
		log_error("store: %s", mdb_strerror(rc));
		return EIO;
	}
}


void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}


uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}


void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}


uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}


uint32_t store_schema(const struct store *s)
{
	return s->schema;
}


void store_set_schema(struct store_txn *t, uint32_t v)
{
	uint8_t b[4];

	be32_put(b, v);
	store_put(t, DB_META, "schema", 6, b, 4);
}


void store_size(struct store *s, uint64_t *mapsize, uint64_t *used)
{
	MDB_envinfo info;
	MDB_stat st;

	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	*mapsize = info.me_mapsize;
	*used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}


void store_fill(struct store_txn *t, uint64_t *in_use, uint64_t *max)
{
	MDB_stat st;
	uint64_t pages = 0, psize = 4096;

	/* the pages the databases hold (free pages are not counted: LMDB
	 * reuses them, so this falls again when records are deleted) */
	if (!mdb_stat(t->txn, 1, &st)) { /* the main DB: names of the rest */
		pages += st.ms_branch_pages + st.ms_leaf_pages +
			 st.ms_overflow_pages;
		psize = st.ms_psize;
	}
	for (int i = 0; i < DB_COUNT; i++)
		if (!mdb_stat(t->txn, t->s->dbi[i], &st))
			pages += st.ms_branch_pages + st.ms_leaf_pages +
				 st.ms_overflow_pages;
	*in_use = pages * psize;
	*max = t->s->max_size;
}


static int store_check_schema(struct store *s)
{
	struct store_txn *t;
	const void *v;
	size_t vl;
	uint8_t b[4];
	uint32_t schema = 0;
	int err;

	err = store_begin(s, &t, !s->rdonly);
	if (err)
		return err;
	if (!store_get(t, DB_META, "schema", 6, &v, &vl) && vl == 4) {
		const uint8_t *p = v;
		schema = be32_get(p);
	}
	if (schema > STORE_SCHEMA) {
		log_error("store: schema %u is newer than this program (%u)",
			  schema, STORE_SCHEMA);
		store_abort(t);
		return EPROTO;
	}
	if (s->rdonly || schema == STORE_SCHEMA) {
		s->schema = schema;
		store_abort(t);
		return 0;
	}
	s->schema = schema;
	if (schema) {
		/* an older store: its writer migrates it */
		store_abort(t);
		return 0;
	}
	/* a new store: nothing to migrate */
	s->schema = STORE_SCHEMA;
	be32_put(b, STORE_SCHEMA);
	store_put(t, DB_META, "schema", 6, b, 4);
	return store_commit(t);
}


/* With a writable map, LMDB's file is sparse up to the map size and a
 * commit stores into its holes through the mapping: on a full disk that is
 * SIGBUS, not an error. The blocks are reserved first, so a full disk is a
 * full store (ENOSPC, the F4 policy) instead. */
static int store_reserve(struct store *s, uint64_t size)
{
	int fd = -1;

	if (!s->writemap)
		return 0;
	if (mdb_env_get_fd(s->env, &fd))
		return EBADF;
	return posix_fallocate(fd, 0, (off_t)size);
}


int store_open(struct store **sp, const char *dir, uint64_t max_size,
	       unsigned flags)
{
	const bool rdonly = flags & STORE_RDONLY;
	const unsigned mdbf =
		rdonly ? MDB_RDONLY
		       : (flags & STORE_PERIODIC ? MDB_NOSYNC | MDB_WRITEMAP
						 : 0);
	struct store *s;
	MDB_txn *txn = NULL;
	int rc, err, dead = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	s->max_size = max_size;
	s->rdonly = rdonly;
	s->writemap = mdbf & MDB_WRITEMAP;
	if (!rdonly) {
		const char *why;
		/* F16: a directory others may write to is not ours to trust */
		err = mkdir_safe(dir, 022, &why);
		if (err) {
			log_error("store.path %s: %s", dir, why);
			goto out;
		}
	}
	rc = mdb_env_create(&s->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->env, DB_COUNT);
	if (!rc && !rdonly)
		rc = mdb_env_set_mapsize(s->env, max_size < STORE_INITIAL_MAP
							 ? max_size
							 : STORE_INITIAL_MAP);
	if (!rc)
		rc = mdb_env_open(s->env, dir, MDB_NOTLS | mdbf, 0600);
	if (rc) {
		err = rc == ENOENT ? ENOENT : mdb_err(rc);
		goto out;
	}
	if (s->writemap) {
		MDB_envinfo info;
		mdb_env_info(s->env, &info);
		err = store_reserve(s, info.me_mapsize);
		if (err) {
			log_error("store.path %s: cannot reserve %zu bytes on "
				  "disk: %s",
				  dir, info.me_mapsize, strerror(err));
			goto out;
		}
	}
	mdb_reader_check(s->env, &dead);
	if (dead)
		log_info("store: cleared %d stale reader slot(s)", dead);

	rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
	for (int i = 0; !rc && i < DB_COUNT; i++)
		rc = mdb_dbi_open(txn, db_names[i], rdonly ? 0 : MDB_CREATE,
				  &s->dbi[i]);
	if (rc) {
		/* a read-only open of a store without its databases */
		mdb_txn_abort(txn);
		err = rc == MDB_NOTFOUND ? ENOENT : mdb_err(rc);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	if (rc) {
		err = mdb_err(rc);
		goto out;
	}
	err = store_check_schema(s);
out:
	if (err)
		store_close(s);
	else
		*sp = s;
	return err;
}


int store_flush(struct store *s)
{
	return mdb_err(mdb_env_sync(s->env, 1));
}


int store_fd(const struct store *s, int *fdp)
{
	return mdb_err(mdb_env_get_fd(s->env, fdp));
}


void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	free(s);
}


/* Grow the map before it fills; safe: this process has no open txn. */
static int store_grow(struct store *s, bool force)
{
	uint64_t map, used, want;
	int rc;

	store_size(s, &map, &used);
	if (!force && used * 4 < map * 3)
		return 0;
	if (map >= s->max_size)
		return force ? ENOSPC : 0;
	want = map * 2 > s->max_size ? s->max_size : map * 2;
	rc = store_reserve(s, want);
	if (rc) {
		log_warn("store: cannot reserve %llu bytes on disk: %s",
			 (unsigned long long)want, strerror(rc));
		return force ? ENOSPC : 0;
	}
	rc = mdb_env_set_mapsize(s->env, want);
	if (rc)
		return mdb_err(rc);
	log_info("store: map grown to %llu bytes", (unsigned long long)want);
	return 0;
}


int store_begin(struct store *s, struct store_txn **tp, bool write)
{
	struct store_txn *t;
	int rc;

	if (write && s->rdonly)
		return EROFS;
	if (write)
		(void)store_grow(s, false);
	t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	t->s = s;
	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY,
				   &t->txn);
	}
	if (rc == MDB_READERS_FULL) {
		int dead = 0;
		mdb_reader_check(s->env, &dead);
		rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY,
				   &t->txn);
	}
	if (rc) {
		free(t);
		return mdb_err(rc);
	}
	*tp = t;
	return 0;
}


static void note(struct store_txn *t, int rc)
{
	if (!rc || t->err)
		return;
	if (rc == MDB_MAP_FULL)
		t->map_full = true;
	t->err = mdb_err(rc);
}


int store_txn_err(const struct store_txn *t)
{
	return t->err;
}


int store_commit(struct store_txn *t)
{
	struct store *s = t->s;
	int err = t->err, rc;
	bool full = t->map_full;

	if (err) {
		mdb_txn_abort(t->txn);
	} else {
		rc = mdb_txn_commit(t->txn);
		if (rc == MDB_MAP_FULL)
			full = true;
		err = mdb_err(rc);
	}
	free(t);
	if (full)
		return store_grow(s, true) ? ENOSPC : EAGAIN;
	return err;
}


void store_abort(struct store_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}


int store_put(struct store_txn *t, enum store_db db, const void *k, size_t kl,
	      const void *v, size_t vl)
{
	MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};

	if (t->err)
		return t->err;
	note(t, mdb_put(t->txn, t->s->dbi[db], &key, &val, 0));
	return t->err;
}


int store_get(struct store_txn *t, enum store_db db, const void *k, size_t kl,
	      const void **v, size_t *vl)
{
	MDB_val key = {kl, (void *)k}, val;
	int rc;

	if (t->err)
		return t->err;
	rc = mdb_get(t->txn, t->s->dbi[db], &key, &val);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc) {
		note(t, rc);
		return t->err;
	}
	*v = val.mv_data;
	*vl = val.mv_size;
	return 0;
}


int store_del(struct store_txn *t, enum store_db db, const void *k, size_t kl)
{
	MDB_val key = {kl, (void *)k};
	int rc;

	if (t->err)
		return t->err;
	rc = mdb_del(t->txn, t->s->dbi[db], &key, NULL);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	note(t, rc);
	return t->err;
}


int store_scan(struct store_txn *t, enum store_db db, const void *from,
	       size_t fl, store_visit_h *cb, void *arg)
{
	MDB_cursor *cur;
	MDB_val key = {fl, (void *)from}, val;
	int rc;

	if (t->err)
		return t->err;
	rc = mdb_cursor_open(t->txn, t->s->dbi[db], &cur);
	if (rc)
		return mdb_err(rc);
	rc = mdb_cursor_get(cur, &key, &val, fl ? MDB_SET_RANGE : MDB_FIRST);
	while (!rc) {
		if (!cb(key.mv_data, key.mv_size, val.mv_data, val.mv_size,
			arg))
			break;
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : mdb_err(rc);
}


uint64_t store_next_id(struct store_txn *t)
{
	const void *v;
	size_t vl;
	uint64_t id = 1;
	uint8_t b[8];

	if (!store_get(t, DB_META, "next_id", 7, &v, &vl) && vl == 8)
		id = be64_get(v);
	be64_put(b, id + 1);
	store_put(t, DB_META, "next_id", 7, b, 8);
	return id;
}


void store_count(struct store_txn *t, const char *name, int64_t delta)
{
	const void *v;
	size_t vl;
	uint64_t n = 0;
	uint8_t b[8];

	if (!store_get(t, DB_STATS, name, strlen(name), &v, &vl) && vl == 8)
		n = be64_get(v);
	be64_put(b, n + (uint64_t)delta);
	store_put(t, DB_STATS, name, strlen(name), b, 8);
}


void rec_begin(struct fbuf *fb, uint8_t version)
{
	fb->len = 0;
	fb->err = 0;
	frame_put_raw(fb, &version, 1);
}


uint8_t rec_open(struct frame *fr, const void *v, size_t vl)
{
	memset(fr, 0, sizeof(*fr));
	if (!vl)
		return 0;
	fr->p = (const uint8_t *)v + 1;
	fr->len = (uint32_t)(vl - 1);
	return ((const uint8_t *)v)[0];
}
