/**
 * @file msgrec.c  Message record codec (see msgrec.h): one table of fields
 *                 with the versions each appears in, read and written in
 *                 its order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "msgrec.h"
#include "store.h"

enum { R, T }; /* where a field lives: the record, the v1 transaction */

#define F(t, w, s, m, from, to)                                                \
	{                                                                      \
		t, w, offsetof(s, m), from, to                                 \
	}
#define M(t, m)   F(t, R, struct msgrec, m, 1, MSGREC_VERSION)
#define V1T(t, m) F(t, T, struct msgrec_v1_txn, m, 1, 1)

static const struct {
	uint8_t tag, where;
	size_t off;
	uint8_t from, to; /* versions holding the field */
} fields[] = {
	M(FT_U32, kind),    M(FT_U32, state),   V1T(FT_U32, attempts),
	M(FT_U64, created), M(FT_U64, updated), M(FT_U64, ref),
	M(FT_U32, scode),   M(FT_U32, flags),   V1T(FT_U32, cseq),
	M(FT_STR, xfrom),   M(FT_STR, xto),     M(FT_STR, xid),
	M(FT_STR, sfrom),   M(FT_STR, sto),     M(FT_STR, ruri),
	M(FT_STR, callid),  V1T(FT_STR, ftag),  V1T(FT_STR, branch),
	M(FT_STR, ctype),   M(FT_STR, body),    M(FT_STR, reason),
	M(FT_STR, econd),   M(FT_STR, etext),   M(FT_STR, dkey),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

const char *msgrec_kind_name[] = {"?",          "chat-x2s",   "chat-s2x",
				  "xmpp-error", "sip-notice", "receipt"};


static void *at(size_t i, struct msgrec *r, struct msgrec_v1_txn *t)
{
	if (fields[i].where == T)
		return t ? (char *)t + fields[i].off : NULL;
	return (char *)r + fields[i].off;
}


void msgrec_reset(struct msgrec *r)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].tag == FT_STR && fields[i].where == R)
			mem_deref(*(char **)at(i, r, NULL));
	memset(r, 0, sizeof(*r));
}


int msgrec_encode(struct fbuf *fb, const struct msgrec *r)
{
	rec_begin(fb, MSGREC_VERSION);
	for (size_t i = 0; i < NFIELDS; i++) {
		const void *p;
		if (fields[i].to < MSGREC_VERSION)
			continue;
		p = at(i, (struct msgrec *)r, NULL);
		switch (fields[i].tag) {
		case FT_U32:
			frame_put_u32(fb, *(const uint32_t *)p);
			break;
		case FT_U64:
			frame_put_u64(fb, *(const uint64_t *)p);
			break;
		default:
			frame_put_cstr(fb, *(char *const *)p);
			break;
		}
	}
	return fb->err;
}


int msgrec_decode(struct msgrec *r, const void *v, size_t vl,
		  struct msgrec_v1_txn *old)
{
	struct msgrec_v1_txn scratch = {0};
	struct frame fr;
	uint8_t ver;

	memset(r, 0, sizeof(*r));
	if (old)
		memset(old, 0, sizeof(*old));
	ver = rec_open(&fr, v, vl);
	if (ver < 1 || ver > MSGREC_VERSION)
		return EBADMSG;
	for (size_t i = 0; i < NFIELDS; i++) {
		void *p;
		if (ver < fields[i].from || ver > fields[i].to)
			continue;
		p = at(i, r, old ? old : &scratch);
		switch (fields[i].tag) {
		case FT_U32:
			*(uint32_t *)p = frame_get_u32(&fr);
			break;
		case FT_U64:
			*(uint64_t *)p = frame_get_u64(&fr);
			break;
		default:
			*(char **)p = frame_get_strdup(&fr);
			break;
		}
	}
	if (!old) {
		mem_deref(scratch.ftag);
		mem_deref(scratch.branch);
	}
	if (frame_end(&fr)) {
		msgrec_reset(r);
		if (old) {
			old->ftag = mem_deref(old->ftag);
			old->branch = mem_deref(old->branch);
		}
		return EBADMSG;
	}
	return 0;
}
