/**
 * @file outrec.c  Outbox entry codec (see outrec.h).
 */
#include <errno.h>
#include <string.h>
#include "outrec.h"
#include "store.h"


int outrec_encode(struct fbuf *fb, const struct outrec *r)
{
	rec_begin(fb, OUTREC_VERSION);
	frame_put_u32(fb, r->owner_kind);
	frame_put_u64(fb, r->owner);
	frame_put_u32(fb, r->type);
	frame_put_str(fb, (const char *)r->payload, r->len);
	return fb->err;
}


int outrec_decode(struct outrec *r, const void *v, size_t vl)
{
	struct frame fr;
	const char *p;
	uint32_t type;

	memset(r, 0, sizeof(*r));
	if (rec_open(&fr, v, vl) != OUTREC_VERSION)
		return EBADMSG;
	r->owner_kind = frame_get_u32(&fr);
	r->owner = frame_get_u64(&fr);
	type = frame_get_u32(&fr);
	frame_get_str(&fr, &p, &r->len);
	r->payload = (const uint8_t *)p;
	r->type = (uint16_t)type;
	if (frame_end(&fr) || type > 0xffff)
		return EBADMSG;
	return 0;
}
