/**
 * @file watchrec.c  Watcher record codec (watchrec.h): one table of fields,
 *                   read and written in order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "store.h"
#include "watchrec.h"

struct field {
	uint8_t tag; /* enum field_tag */
	size_t off;
};

#define W(t, m)                                                                \
	{                                                                      \
		t, offsetof(struct watchrec, m)                                \
	}

static const struct field fields[] = {
	W(FT_U32, state),    W(FT_U64, created),    W(FT_U64, updated),
	W(FT_U64, deadline), W(FT_U64, expires_at), W(FT_U32, expires),
	W(FT_STR, user),     W(FT_STR, entity),     W(FT_STR, aor),
	W(FT_STR, gwjid),    W(FT_STR, callid),     W(FT_STR, ltag),
	W(FT_STR, rtag),     W(FT_STR, luri),       W(FT_STR, ruri),
	W(FT_STR, rtarget),  W(FT_STR, routes),     W(FT_STR, evid),
	W(FT_U32, lcseq),    W(FT_U32, rcseq),      W(FT_U64, out),
	W(FT_U32, nbasic),   W(FT_STR, nshow),      W(FT_STR, nnote),
	W(FT_STR, reason),   W(FT_STR, history),
};

#define N(a)           (sizeof(a) / sizeof(a[0]))
#define AT(r, f, type) ((type *)((char *)(r) + (f).off))

const char *watchrec_state_name[WS_STATE_MAX] = {"?", "pending", "active",
						 "terminated"};


void watchrec_reset(struct watchrec *r)
{
	for (size_t i = 0; i < N(fields); i++)
		if (fields[i].tag == FT_STR)
			*AT(r, fields[i], char *) =
				mem_deref(*AT(r, fields[i], char *));
	memset(r, 0, sizeof(*r));
}


int watchrec_encode(struct fbuf *fb, const struct watchrec *r)
{
	rec_begin(fb, WATCHREC_VERSION);
	for (size_t i = 0; i < N(fields); i++) {
		switch (fields[i].tag) {
		case FT_U32:
			frame_put_u32(fb, *AT(r, fields[i], const uint32_t));
			break;
		case FT_U64:
			frame_put_u64(fb, *AT(r, fields[i], const uint64_t));
			break;
		default:
			frame_put_cstr(fb, *AT(r, fields[i], char *const));
			break;
		}
	}
	return fb->err;
}


int watchrec_decode(struct watchrec *r, const void *v, size_t vl)
{
	struct frame fr;

	memset(r, 0, sizeof(*r));
	if (rec_open(&fr, v, vl) != WATCHREC_VERSION)
		return EBADMSG;
	for (size_t i = 0; i < N(fields); i++) {
		switch (fields[i].tag) {
		case FT_U32:
			*AT(r, fields[i], uint32_t) = frame_get_u32(&fr);
			break;
		case FT_U64:
			*AT(r, fields[i], uint64_t) = frame_get_u64(&fr);
			break;
		default:
			*AT(r, fields[i], char *) = frame_get_strdup(&fr);
			break;
		}
	}
	if (frame_end(&fr) || !r->state || r->state >= WS_STATE_MAX ||
	    !r->user || !r->gwjid || !r->callid || !r->ltag) {
		watchrec_reset(r);
		return EBADMSG;
	}
	return 0;
}
