/**
 * @file presrec.c  Presence record codec (see presrec.h).
 */
#include <errno.h>
#include <string.h>
#include "presrec.h"
#include "store.h"


int presrec_encode(struct fbuf *fb, const struct presrec *r)
{
	rec_begin(fb, PRESREC_VERSION);
	frame_put_u32(fb, (uint32_t)r->priority);
	frame_put_u64(fb, r->seen_ms);
	return fb->err;
}


int presrec_decode(struct presrec *r, const void *v, size_t vl)
{
	const uint8_t *p = v;
	struct frame fr;

	memset(r, 0, sizeof(*r));
	if (vl == 12) {
		/* schema 1: raw, unversioned */
		r->priority = (int32_t)((uint32_t)p[0] << 24 | p[1] << 16 |
					p[2] << 8 | p[3]);
		r->seen_ms = be64_get(p + 4);
		return 0;
	}
	if (rec_open(&fr, v, vl) != PRESREC_VERSION)
		return EBADMSG;
	r->priority = (int32_t)frame_get_u32(&fr);
	r->seen_ms = frame_get_u64(&fr);
	return frame_end(&fr) ? EBADMSG : 0;
}
