/**
 * @file phonerec.c  Phone and subscription record codecs (phonerec.h): one
 *                   table of fields per record, read and written in order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "phonerec.h"
#include "store.h"

struct field {
	uint8_t tag; /* enum field_tag */
	size_t off;
};

#define P(t, m)                                                                \
	{                                                                      \
		t, offsetof(struct phonerec, m)                                \
	}
#define S(t, m)                                                                \
	{                                                                      \
		t, offsetof(struct subrec, m)                                  \
	}

static const struct field phone_fields[] = {
	P(FT_U32, state),    P(FT_U64, created),   P(FT_U64, updated),
	P(FT_U64, deadline), P(FT_STR, aor),       P(FT_STR, jid),
	P(FT_STR, res),      P(FT_STR, gwjid),     P(FT_U64, last_event),
	P(FT_STR, source),   P(FT_U32, shown),     P(FT_U32, asked),
	P(FT_U32, contacts), P(FT_U32, calls),     P(FT_STR, history),
	P(FT_STR, pub_etag), P(FT_U64, pub_until), P(FT_U32, account),
	P(FT_STR, cs_smid),  P(FT_U32, cs_h),      P(FT_U32, cs_k),
	P(FT_STR, cs_xml),
};
enum { PHONE_FIELDS_V1 = 15, PHONE_FIELDS_V2 = 18 };

/* subrec: version 1 is the first SUB_FIELDS_V1, up to version; version 2
 * adds the presence fields from gwjid on; version 3 from */
static const struct field sub_fields[] = {
	S(FT_U32, state),       S(FT_U64, created),    S(FT_U64, updated),
	S(FT_U64, deadline),    S(FT_U64, phone),      S(FT_STR, event),
	S(FT_STR, target),      S(FT_STR, callid),     S(FT_STR, ltag),
	S(FT_STR, rtag),        S(FT_STR, rtarget),    S(FT_STR, routes),
	S(FT_U32, lcseq),       S(FT_U32, rcseq),      S(FT_U64, out),
	S(FT_U32, expires),     S(FT_U32, failures),   S(FT_U32, last_code),
	S(FT_STR, last_reason), S(FT_U32, version),    S(FT_STR, gwjid),
	S(FT_STR, watchers),    S(FT_U32, authorized), S(FT_U32, open),
	S(FT_STR, show),        S(FT_STR, status),     S(FT_STR, from),
};
enum { SUB_FIELDS_V1 = 20, SUB_FIELDS_V2 = 26 };

#define N(a)           (sizeof(a) / sizeof(a[0]))
#define AT(r, f, type) ((type *)((char *)(r) + (f).off))

const char *phonerec_state_name[PH_STATE_MAX] = {
	"?",          "offline",         "online", "still-online",
	"onthephone", "still-onthephone"};
const char *subrec_state_name[SB_STATE_MAX] = {"?", "subscribing", "active",
					       "waiting", "ending"};


static void reset(void *r, const struct field *f, size_t n, size_t sz)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].tag == FT_STR)
			*AT(r, f[i], char *) = mem_deref(*AT(r, f[i], char *));
	memset(r, 0, sz);
}


static int encode(struct fbuf *fb, uint8_t ver, const void *r,
		  const struct field *f, size_t n)
{
	rec_begin(fb, ver);
	for (size_t i = 0; i < n; i++) {
		switch (f[i].tag) {
		case FT_U32:
			frame_put_u32(fb, *AT(r, f[i], const uint32_t));
			break;
		case FT_U64:
			frame_put_u64(fb, *AT(r, f[i], const uint64_t));
			break;
		default:
			frame_put_cstr(fb, *AT(r, f[i], char *const));
			break;
		}
	}
	return fb->err;
}


/* The record's fields after its version byte: the first n of f. */
static int decode_fields(void *r, struct frame *fr, const struct field *f,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (f[i].tag) {
		case FT_U32:
			*AT(r, f[i], uint32_t) = frame_get_u32(fr);
			break;
		case FT_U64:
			*AT(r, f[i], uint64_t) = frame_get_u64(fr);
			break;
		default:
			*AT(r, f[i], char *) = frame_get_strdup(fr);
			break;
		}
	}
	return frame_end(fr) ? EBADMSG : 0;
}


void phonerec_reset(struct phonerec *r)
{
	reset(r, phone_fields, N(phone_fields), sizeof(*r));
}


int phonerec_encode(struct fbuf *fb, const struct phonerec *r)
{
	return encode(fb, PHONEREC_VERSION, r, phone_fields, N(phone_fields));
}


int phonerec_decode(struct phonerec *r, const void *v, size_t vl)
{
	struct frame fr;
	uint8_t ver;

	memset(r, 0, sizeof(*r));
	/* records upgrade: version 1 has no publication, version 2 no
	 * client session state */
	ver = rec_open(&fr, v, vl);
	if (ver < 1 || ver > PHONEREC_VERSION ||
	    decode_fields(r, &fr, phone_fields,
			  ver == 1   ? PHONE_FIELDS_V1
			  : ver == 2 ? PHONE_FIELDS_V2
				     : N(phone_fields)) ||
	    !r->state || r->state >= PH_STATE_MAX || !r->aor || !r->jid ||
	    !r->gwjid) {
		phonerec_reset(r);
		return EBADMSG;
	}
	return 0;
}


void subrec_reset(struct subrec *r)
{
	reset(r, sub_fields, N(sub_fields), sizeof(*r));
}


int subrec_encode(struct fbuf *fb, const struct subrec *r)
{
	return encode(fb, SUBREC_VERSION, r, sub_fields, N(sub_fields));
}


int subrec_decode(struct subrec *r, const void *v, size_t vl)
{
	struct frame fr;
	uint8_t ver;

	memset(r, 0, sizeof(*r));
	/* records upgrade: a version 1 record (reg, dialog) has no presence
	 * fields, a version 2 one no From; written back as the current
	 * version when next saved */
	ver = rec_open(&fr, v, vl);
	if (ver < 1 || ver > SUBREC_VERSION ||
	    decode_fields(r, &fr, sub_fields,
			  ver == 1   ? SUB_FIELDS_V1
			  : ver == 2 ? SUB_FIELDS_V2
				     : N(sub_fields)) ||
	    !r->state || r->state >= SB_STATE_MAX || !r->event || !r->target ||
	    !r->callid || !r->ltag) {
		subrec_reset(r);
		return EBADMSG;
	}
	return 0;
}
