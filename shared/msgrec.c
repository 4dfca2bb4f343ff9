/**
 * @file msgrec.c  Message record codec (see msgrec.h).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "msgrec.h"
#include "store.h"

#define REC_STRS(r)                                                            \
	&(r)->xfrom, &(r)->xto, &(r)->xid, &(r)->sfrom, &(r)->sto, &(r)->ruri, \
		&(r)->callid, &(r)->ftag, &(r)->branch, &(r)->ctype,           \
		&(r)->body, &(r)->reason, &(r)->econd, &(r)->etext, &(r)->dkey

const char *msgrec_kind_name[] = {"?",          "chat-x2s",   "chat-s2x",
				  "xmpp-error", "sip-notice", "receipt"};


void msgrec_reset(struct msgrec *r)
{
	char **s[] = {REC_STRS(r)};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		*s[i] = mem_deref(*s[i]);
	memset(r, 0, sizeof(*r));
}


int msgrec_encode(struct fbuf *fb, const struct msgrec *r)
{
	char *const *s[] = {REC_STRS(r)};

	rec_begin(fb, MSGREC_VERSION);
	frame_put_u32(fb, r->kind);
	frame_put_u32(fb, r->state);
	frame_put_u32(fb, r->attempts);
	frame_put_u64(fb, r->created);
	frame_put_u64(fb, r->updated);
	frame_put_u64(fb, r->ref);
	frame_put_u32(fb, r->scode);
	frame_put_u32(fb, r->flags);
	frame_put_u32(fb, r->cseq);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		frame_put_cstr(fb, *s[i]);
	return fb->err;
}


int msgrec_decode(struct msgrec *r, const void *v, size_t vl)
{
	char **s[] = {REC_STRS(r)};
	struct frame fr;

	memset(r, 0, sizeof(*r));
	if (rec_open(&fr, v, vl) != MSGREC_VERSION)
		return EBADMSG;
	r->kind = frame_get_u32(&fr);
	r->state = frame_get_u32(&fr);
	r->attempts = frame_get_u32(&fr);
	r->created = frame_get_u64(&fr);
	r->updated = frame_get_u64(&fr);
	r->ref = frame_get_u64(&fr);
	r->scode = frame_get_u32(&fr);
	r->flags = frame_get_u32(&fr);
	r->cseq = frame_get_u32(&fr);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		*s[i] = frame_get_strdup(&fr);
	if (frame_end(&fr)) {
		msgrec_reset(r);
		return EBADMSG;
	}
	return 0;
}
