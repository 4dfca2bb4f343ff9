/**
 * @file regrec.c  Registration record codec (see regrec.h): one table of
 *                 fields, read and written in its order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "regrec.h"
#include "store.h"

#define F(t, m)                                                                \
	{                                                                      \
		t, offsetof(struct regrec, m), 1                               \
	}
#define F2(t, m)                                                               \
	{                                                                      \
		t, offsetof(struct regrec, m), 2                               \
	}

static const struct {
	uint8_t tag; /* enum field_tag */
	size_t off;
	uint8_t since; /* the record version that added the field */
} fields[] = {
	F(FT_U32, state),     F(FT_U64, created),     F(FT_U64, updated),
	F(FT_U64, deadline),  F(FT_STR, jid),         F(FT_STR, aor),
	F(FT_STR, auth_user), F(FT_STR, password),    F(FT_STR, ha1),
	F(FT_STR, proxy),     F(FT_STR, display),     F(FT_U32, expires),
	F(FT_U32, granted),   F(FT_U64, reg_until),   F(FT_STR, callid),
	F(FT_STR, ftag),      F(FT_STR, contact),     F(FT_U32, cseq),
	F(FT_U64, out),       F(FT_U32, out_expires), F(FT_U32, authed),
	F(FT_U32, last_code), F(FT_STR, last_reason), F(FT_U32, failures),
	F(FT_U32, iq_kind),   F(FT_STR, iq_id),       F(FT_STR, iq_from),
	F(FT_STR, routes),    F(FT_U32, told),        F(FT_STR, history),
	F2(FT_U32, srtp),     F2(FT_STR, prev),       F2(FT_U32, queued),
	F2(FT_U64, prev_out),
};

#define NFIELDS        (sizeof(fields) / sizeof(fields[0]))
#define AT(r, i, type) ((type *)((char *)(r) + fields[i].off))

const char *regrec_state_name[RS_STATE_MAX] = {
	"?", "linking", "registered", "refreshing", "failed", "unlinking"};

const char *const regrec_srtp_name[RSRTP_MANDATORY + 1] = {
	"session", "sdes_optional", "sdes_mandatory"};


void regrec_reset(struct regrec *r)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].tag == FT_STR)
			*AT(r, i, char *) = mem_deref(*AT(r, i, char *));
	memset(r, 0, sizeof(*r));
}


int regrec_encode(struct fbuf *fb, const struct regrec *r)
{
	rec_begin(fb, REGREC_VERSION);
	for (size_t i = 0; i < NFIELDS; i++) {
		switch (fields[i].tag) {
		case FT_U32:
			frame_put_u32(fb, *AT(r, i, const uint32_t));
			break;
		case FT_U64:
			frame_put_u64(fb, *AT(r, i, const uint64_t));
			break;
		default:
			frame_put_cstr(fb, *AT(r, i, char *const));
			break;
		}
	}
	return fb->err;
}


int regrec_decode(struct regrec *r, const void *v, size_t vl)
{
	struct frame fr;
	int ver;

	memset(r, 0, sizeof(*r));
	ver = rec_open(&fr, v, vl);
	if (ver < 1 || ver > REGREC_VERSION)
		return EBADMSG;
	/* an older record has the fields of its version; the rest are 0 */
	for (size_t i = 0; i < NFIELDS && fields[i].since <= ver; i++) {
		switch (fields[i].tag) {
		case FT_U32:
			*AT(r, i, uint32_t) = frame_get_u32(&fr);
			break;
		case FT_U64:
			*AT(r, i, uint64_t) = frame_get_u64(&fr);
			break;
		default:
			*AT(r, i, char *) = frame_get_strdup(&fr);
			break;
		}
	}
	if (frame_end(&fr) || !r->state || r->state >= RS_STATE_MAX ||
	    !r->jid || !r->aor || r->srtp > RSRTP_MANDATORY) {
		regrec_reset(r);
		return EBADMSG;
	}
	return 0;
}


int regrec_prev_keep(struct regrec *r)
{
	static const char hex[] = "0123456789abcdef";
	struct regrec k = *r; /* shares r's strings: only read */
	struct fbuf fb = {0};
	char *s = NULL;
	int err;

	k.prev = NULL;
	k.history = NULL;
	err = regrec_encode(&fb, &k);
	if (!err && !(s = mem_zalloc(fb.len * 2 + 1, NULL)))
		err = ENOMEM;
	for (size_t i = 0; !err && i < fb.len; i++) {
		s[2 * i] = hex[fb.b[i] >> 4];
		s[2 * i + 1] = hex[fb.b[i] & 15];
	}
	fbuf_reset(&fb);
	if (err)
		return err;
	mem_deref(r->prev);
	r->prev = s;
	return 0;
}


static int nibble(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}


int regrec_prev_get(const struct regrec *r, struct regrec *prev)
{
	size_t n = r->prev ? strlen(r->prev) : 0;
	uint8_t *b;
	int err = 0;

	memset(prev, 0, sizeof(*prev));
	if (!n)
		return ENOENT;
	if (n % 2 || !(b = mem_alloc(n / 2, NULL)))
		return n % 2 ? EBADMSG : ENOMEM;
	for (size_t i = 0; i < n / 2 && !err; i++) {
		int h = nibble(r->prev[2 * i]), l = nibble(r->prev[2 * i + 1]);
		if (h < 0 || l < 0)
			err = EBADMSG;
		b[i] = (uint8_t)(h << 4 | l);
	}
	if (!err)
		err = regrec_decode(prev, b, n / 2);
	mem_deref(b);
	return err;
}
