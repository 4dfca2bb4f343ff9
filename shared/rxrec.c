/**
 * @file rxrec.c  Applied-frame record codec (see rxrec.h).
 */
#include <errno.h>
#include <string.h>
#include "rxrec.h"
#include "store.h"


int rxrec_encode(struct fbuf *fb, const struct rxrec *r)
{
	rec_begin(fb, RXREC_VERSION);
	frame_put_u64(fb, r->boot);
	frame_put_u64(fb, r->seq);
	frame_put_u64(fb, r->stream);
	frame_put_u64(fb, r->off);
	return fb->err;
}


int rxrec_decode(struct rxrec *r, const void *v, size_t vl)
{
	struct frame fr;
	uint8_t ver;

	memset(r, 0, sizeof(*r));
	if (vl == 16) {
		/* schema 1: raw, unversioned */
		r->boot = be64_get(v);
		r->seq = be64_get((const uint8_t *)v + 8);
		return 0;
	}
	ver = rec_open(&fr, v, vl);
	if (ver != 1 && ver != RXREC_VERSION)
		return EBADMSG;
	r->boot = frame_get_u64(&fr);
	r->seq = frame_get_u64(&fr);
	if (ver >= 2) {
		r->stream = frame_get_u64(&fr);
		r->off = frame_get_u64(&fr);
	}
	return frame_end(&fr) ? EBADMSG : 0;
}
