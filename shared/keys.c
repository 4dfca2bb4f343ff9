/**
 * @file keys.c  Store key builders and parsers (see keys.h).
 */
#include <errno.h>
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


/* kind a NUL b */
static size_t key_pair(uint8_t *k, size_t sz, int kind, const char *a,
		       const char *b)
{
	size_t al = strlen(a ? a : ""), bl = strlen(b ? b : "");
	size_t n = (kind ? 1 : 0) + al + 1 + bl;
	uint8_t *p = k;

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
	return key_pair(k, sz, kind, a, b);
}


int key_callkey_parse(const void *k, size_t kl, enum callkey_kind *kind,
		      struct pl *a, struct pl *b)
{
	const uint8_t *p = k;

	if (kl < 2 ||
	    (p[0] != CK_SID && p[0] != CK_DIALOG && p[0] != CK_REMOTE))
		return EBADMSG;
	*kind = (enum callkey_kind)p[0];
	return key_pair_parse(p + 1, kl - 1, a, b);
}


size_t key_msgdedup(uint8_t *k, size_t sz, const struct pl *callid,
		    uint32_t cseq, const struct pl *ftag)
{
	int n = re_snprintf((char *)k, sz, "s\t%r\t%u\t%r", callid, cseq, ftag);

	if (n < 0 || (size_t)n >= sz || n > KEY_MAX)
		return 0;
	return (size_t)n;
}


size_t key_presence(uint8_t *k, size_t sz, const char *bare,
		    const char *resource)
{
	return key_pair(k, sz, 0, bare, resource);
}


size_t key_presence_prefix(uint8_t *k, size_t sz, const char *bare)
{
	return key_pair(k, sz, 0, bare, "");
}


int key_presence_parse(const void *k, size_t kl, struct pl *bare,
		       struct pl *resource)
{
	return key_pair_parse(k, kl, bare, resource);
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
