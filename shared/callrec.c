/**
 * @file callrec.c  Call record codec (see callrec.h): one table of fields,
 *                  read and written in its order.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re.h>
#include "callrec.h"
#include "store.h"

#define F(t, m)                                                                \
	{                                                                      \
		t, offsetof(struct callrec, m), 5                              \
	}
#define F7(t, m)                                                               \
	{                                                                      \
		t, offsetof(struct callrec, m), 7                              \
	}
#define F8(t, m)                                                               \
	{                                                                      \
		t, offsetof(struct callrec, m), 8                              \
	}
#define F9(t, m)                                                               \
	{                                                                      \
		t, offsetof(struct callrec, m), 9                              \
	}
#define F10(t, m)                                                              \
	{                                                                      \
		t, offsetof(struct callrec, m), 10                             \
	}
#define F11(t, m)                                                              \
	{                                                                      \
		t, offsetof(struct callrec, m), 11                             \
	}
#define F12(t, m)                                                              \
	{                                                                      \
		t, offsetof(struct callrec, m), 12                             \
	}

static const struct {
	uint8_t tag; /* enum field_tag */
	size_t off;
	uint8_t since; /* the record version that added the field */
} fields[] = {
	F(FT_U32, dir),
	F(FT_U32, state),
	F(FT_U64, created),
	F(FT_U64, updated),
	F(FT_U64, deadline),
	F(FT_STR, owner),
	F(FT_STR, ufull),
	F(FT_STR, gwjid),
	F(FT_STR, sid),
	F(FT_STR, initiator),
	F(FT_STR, responder),
	F(FT_STR, rung),
	F(FT_STR, init_xml),
	F(FT_STR, callid),
	F(FT_STR, ltag),
	F(FT_STR, rtag),
	F(FT_STR, luri),
	F(FT_STR, ruri),
	F(FT_STR, target),
	F(FT_STR, routes),
	F(FT_U32, lcseq),
	F(FT_U32, rcseq),
	F(FT_U32, inv_cseq),
	F(FT_STR, inv_ruri),
	F(FT_STR, inv_branch),
	F(FT_U64, inv_out),
	F(FT_U64, inv_tx),
	F(FT_STR, inv_src),
	F(FT_STR, inv_raw),
	F(FT_U32, last_scode),
	F(FT_STR, lsdp),
	F(FT_STR, rsdp),
	F(FT_U64, sdp_id),
	F(FT_U32, sdp_ver),
	F(FT_STR, history),
	F(FT_U32, on_hold),
	F(FT_U32, jmi),
	F(FT_STR, pend_frag),
	F7(FT_U64, reg),
	F7(FT_STR, hop),
	F7(FT_U32, authed),
	F8(FT_U32, early),
	F8(FT_U32, xfer),
	F8(FT_U32, xfer_refer),
	F8(FT_U32, xfer_cseq),
	F8(FT_U64, xfer_out),
	F8(FT_U64, xfer_until),
	F8(FT_STR, xfer_callid),
	F8(FT_STR, xfer_ltag),
	F8(FT_STR, xfer_ruri),
	F8(FT_STR, xfer_branch),
	F8(FT_STR, xfer_sdp),
	F9(FT_U32, srtp),
	F9(FT_U32, rseq),
	F9(FT_U32, xfer_nosub),
	F9(FT_STR, xfer_by),
	F10(FT_U64, reinv_out),
	F10(FT_STR, reinv_prev),
	F11(FT_STR, reinv_sdp),
	F11(FT_U32, reinv_session),
	F11(FT_U64, reinv_retry_at),
	F11(FT_U32, reinv_tries),
	F12(FT_U32, local_hold),
	F12(FT_U32, xfer_moved),
};

#define NFIELDS        (sizeof(fields) / sizeof(fields[0]))
#define AT(r, i, type) ((type *)((char *)(r) + fields[i].off))

const char *callrec_state_name[CS_STATE_MAX] = {
	"?",          "calling", "ringing", "active",
	"cancelling", "waiting", "proposed"};


void callrec_reset(struct callrec *r)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].tag == FT_STR)
			*AT(r, i, char *) = mem_deref(*AT(r, i, char *));
	memset(r, 0, sizeof(*r));
}


int callrec_encode(struct fbuf *fb, const struct callrec *r)
{
	rec_begin(fb, CALLREC_VERSION);
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


/* Version 5 had the same fields; two states were implied by values. */
static void upgrade_v5(struct callrec *r)
{
	if (r->dir == CD_X2S && r->state == CS_CALLING && !r->inv_out &&
	    r->init_xml && *r->init_xml)
		r->state = CS_WAITING;
	else if (r->dir == CD_S2X && r->state == CS_RINGING && r->jmi &&
		 (!r->rung || !*r->rung))
		r->state = CS_PROPOSED;
}


int callrec_decode(struct callrec *r, const void *v, size_t vl)
{
	struct frame fr;
	uint8_t ver;

	memset(r, 0, sizeof(*r));
	ver = rec_open(&fr, v, vl);
	if (ver < 5 || ver > CALLREC_VERSION)
		return EBADMSG;
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
	if (frame_end(&fr) || r->state >= CS_STATE_MAX ||
	    r->xfer > CX_ORPHANED) {
		callrec_reset(r);
		return EBADMSG;
	}
	if (ver == 5)
		upgrade_v5(r);
	return 0;
}
