/**
 * @file keys.c  Store key builders and parsers (see keys.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "keys.h"
#include "store.h"


void key_id(uint8_t k[8], uint64_t id)
{
	be64_put(k, id);
}


uint64_t key_id_parse(const void *k)
{
	return be64_get(k);
}


/* A key part longer than this, or one a separator would make ambiguous,
 * is stored as KEY_PART_DIGEST followed by its digest: every key stays under
 * LMDB's limit whatever a peer sends, and lookups, which build the key the
 * same way, find it (the record keeps the whole value). */
enum { KEY_PART_MAX = 128, KEY_PART_DIGEST = 0x01, KEY_DIGEST_LEN = 40 };


static bool part_plain(const char *s, size_t l, int sep)
{
	if (!l)
		return true; /* (s may be NULL: an empty pl) */
	return l <= KEY_PART_MAX && !memchr(s, 0, l) &&
	       !(sep && memchr(s, sep, l)) &&
	       !(l && (uint8_t)s[0] == KEY_PART_DIGEST);
}


/* Write part s (l bytes) at p; sep: another separator it must not hold.
 * @return the bytes written (at most KEY_PART_MAX) */
static size_t key_part(uint8_t *p, const char *s, size_t l, int sep)
{
	static const uint8_t salt[] = "xsgw key part";
	static const char hex[] = "0123456789abcdef";
	uint8_t md[KEY_DIGEST_LEN / 2];

	if (part_plain(s, l, sep)) {
		if (l)
			memcpy(p, s, l);
		return l;
	}
	/* in hex: a key holds no NUL but its separator, and can be kept
	 * as a string (msgrec dkey) */
	p[0] = KEY_PART_DIGEST;
	hmac_sha1(salt, sizeof(salt) - 1, (const uint8_t *)s, l, md,
		  sizeof(md));
	for (size_t i = 0; i < sizeof(md); i++) {
		p[1 + 2 * i] = (uint8_t)hex[md[i] >> 4];
		p[2 + 2 * i] = (uint8_t)hex[md[i] & 15];
	}
	return 1 + KEY_DIGEST_LEN;
}


/* kind a NUL b; with digest, long parts are digested (key_part) */
static size_t key_pair(uint8_t *k, size_t sz, int kind, const char *a,
		       const char *b, bool digest)
{
	size_t al = strlen(a ? a : ""), bl = strlen(b ? b : "");
	size_t n;
	uint8_t *p = k;

	if (digest) {
		uint8_t tmp[1 + 2 * KEY_PART_MAX + 1];

		n = 0;
		if (kind)
			tmp[n++] = (uint8_t)kind;
		n += key_part(tmp + n, a ? a : "", al, 0);
		tmp[n++] = 0;
		n += key_part(tmp + n, b ? b : "", bl, 0);
		if (n > sz)
			return 0;
		memcpy(k, tmp, n);
		return n;
	}
	n = (kind ? 1 : 0) + al + 1 + bl;
	if (n > sz || n > KEY_MAX || memchr(a ? a : "", 0, al))
		return 0;
	if (kind)
		*p++ = (uint8_t)kind;
	memcpy(p, a ? a : "", al);
	p[al] = 0;
	memcpy(p + al + 1, b ? b : "", bl);
	return n;
}


static int key_pair_parse(const uint8_t *k, size_t kl, struct pl *a,
			  struct pl *b)
{
	const uint8_t *nul = memchr(k, 0, kl);

	if (!nul)
		return EBADMSG;
	a->p = (const char *)k;
	a->l = (size_t)(nul - k);
	b->p = (const char *)nul + 1;
	b->l = kl - a->l - 1;
	return 0;
}


size_t key_callkey(uint8_t *k, size_t sz, enum callkey_kind kind, const char *a,
		   const char *b)
{
	return key_pair(k, sz, kind, a, b, true);
}


int key_callkey_parse(const void *k, size_t kl, enum callkey_kind *kind,
		      struct pl *a, struct pl *b)
{
	const uint8_t *p = k;

	if (kl < 2 ||
	    (p[0] != CK_SID && p[0] != CK_DIALOG && p[0] != CK_REMOTE &&
	     p[0] != CK_SUB && p[0] != CK_WATCH && p[0] != CK_WATCH_REMOTE))
		return EBADMSG;
	*kind = (enum callkey_kind)p[0];
	return key_pair_parse(p + 1, kl - 1, a, b);
}


size_t key_msgdedup(uint8_t *k, size_t sz, const struct pl *callid,
		    uint32_t cseq, const struct pl *ftag)
{
	uint8_t tmp[2 + KEY_PART_MAX + 12 + KEY_PART_MAX];
	size_t n = 0;
	int m;

	tmp[n++] = 's';
	tmp[n++] = '\t';
	n += key_part(tmp + n, callid->p, callid->l, '\t');
	m = snprintf((char *)tmp + n, sizeof(tmp) - n, "\t%u\t", cseq);
	n += (size_t)m;
	n += key_part(tmp + n, ftag->p, ftag->l, '\t');
	if (n > sz)
		return 0;
	memcpy(k, tmp, n);
	return n;
}


size_t key_regkey(uint8_t *k, size_t sz, enum regkey_kind kind, const char *v)
{
	size_t n = strlen(v ? v : "");

	if (1 + n > sz || 1 + n > KEY_MAX || !n)
		return 0;
	k[0] = (uint8_t)kind;
	memcpy(k + 1, v, n);
	return 1 + n;
}


bool key_presentity(char *v, size_t sz, const char *uri, const char *watcher)
{
	int n = snprintf(v, sz, "%s %s", uri, watcher);

	return n > 0 && (size_t)n < sz && (size_t)n < KEY_MAX - 1;
}


size_t key_presence(uint8_t *k, size_t sz, const char *bare,
		    const char *resource)
{
	return key_pair(k, sz, 0, bare, resource, false);
}


size_t key_presence_prefix(uint8_t *k, size_t sz, const char *bare)
{
	return key_pair(k, sz, 0, bare, "", false);
}


int key_presence_parse(const void *k, size_t kl, struct pl *bare,
		       struct pl *resource)
{
	return key_pair_parse(k, kl, bare, resource);
}


enum { WK_USER = 'u' };


size_t key_watchuser_prefix(uint8_t *k, size_t sz, const char *user,
			    const char *gwjid)
{
	size_t n = key_pair(k, sz, WK_USER, user, gwjid ? gwjid : "", true);

	if (!n)
		return 0;
	if (!gwjid)
		return n; /* "u" user NUL */
	if (n + 1 > sz)
		return 0;
	k[n] = 0;
	return n + 1;
}


size_t key_watchuser(uint8_t *k, size_t sz, const char *user, const char *gwjid,
		     uint64_t id)
{
	size_t n = key_watchuser_prefix(k, sz, user, gwjid);

	if (!n || n + 8 > sz)
		return 0;
	be64_put(k + n, id);
	return n + 8;
}


int key_watchuser_parse(const void *k, size_t kl, uint64_t *id)
{
	const uint8_t *p = k, *nul;

	if (kl < 12 || p[0] != WK_USER)
		return EBADMSG;
	nul = memchr(p + 1, 0, kl - 9);
	if (!nul || !memchr(nul + 1, 0, (size_t)(p + kl - 8 - (nul + 1))) ||
	    p[kl - 9] != 0)
		return EBADMSG;
	*id = be64_get(p + kl - 8);
	return 0;
}


void key_deadline(uint8_t k[KEY_DEADLINE_LEN], uint64_t when,
		  enum owner_kind kind, uint64_t id)
{
	be64_put(k, when);
	k[8] = (uint8_t)kind;
	be64_put(k + 9, id);
}


int key_deadline_parse(const void *k, size_t kl, uint64_t *when,
		       enum owner_kind *kind, uint64_t *id)
{
	const uint8_t *p = k;

	if (kl != KEY_DEADLINE_LEN || p[8] >= OWN_COUNT)
		return EBADMSG;
	*when = be64_get(p);
	*kind = (enum owner_kind)p[8];
	*id = be64_get(p + 9);
	return 0;
}


void key_outbox(uint8_t k[KEY_OUTBOX_LEN], uint32_t front, uint64_t id)
{
	be32_put(k, front);
	be64_put(k + 4, id);
}


void key_outbox_prefix(uint8_t k[4], uint32_t front)
{
	be32_put(k, front);
}


int key_outbox_parse(const void *k, size_t kl, uint32_t *front, uint64_t *id)
{
	const uint8_t *p = k;

	if (kl != KEY_OUTBOX_LEN)
		return EBADMSG;
	*front = be32_get(p);
	*id = be64_get(p + 4);
	return 0;
}


void key_rx(uint8_t k[4], uint32_t proc)
{
	be32_put(k, proc);
}
