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
	frame_put_cstr(fb, r->show);
	frame_put_cstr(fb, r->status);
	return fb->err;
}


/* A string field into a fixed buffer: longer than it holds is malformed. */
static void get_fixed(struct frame *fr, char *out, size_t sz)
{
	const char *s;
	size_t n;

	frame_get_str(fr, &s, &n);
	if (fr->err)
		return;
	if (n >= sz || memchr(s, 0, n)) {
		fr->err = EBADMSG;
		return;
	}
	memcpy(out, s, n);
	out[n] = 0;
}


int presrec_decode(struct presrec *r, const void *v, size_t vl)
{
	const uint8_t *p = v;
	struct frame fr;
	uint8_t ver;

	memset(r, 0, sizeof(*r));
	if (vl == 12) {
		/* schema 1: raw, unversioned */
		r->priority = (int32_t)((uint32_t)p[0] << 24 | p[1] << 16 |
					p[2] << 8 | p[3]);
		r->seen_ms = be64_get(p + 4);
		return 0;
	}
	ver = rec_open(&fr, v, vl);
	if (ver != 1 && ver != PRESREC_VERSION)
		return EBADMSG;
	r->priority = (int32_t)frame_get_u32(&fr);
	r->seen_ms = frame_get_u64(&fr);
	if (ver >= 2) {
		get_fixed(&fr, r->show, sizeof(r->show));
		get_fixed(&fr, r->status, sizeof(r->status));
	}
	if (frame_end(&fr)) {
		memset(r, 0, sizeof(*r));
		return EBADMSG;
	}
	return 0;
}


void presrec_set_show(struct presrec *r, const char *show)
{
	static const char *shows[] = {"away", "chat", "dnd", "xa"};

	r->show[0] = 0;
	for (size_t i = 0; show && i < sizeof(shows) / sizeof(shows[0]); i++)
		if (!strcmp(show, shows[i]))
			strcpy(r->show, shows[i]);
}


void presrec_set_status(struct presrec *r, const char *status)
{
	size_t n = status ? strlen(status) : 0;

	if (n > PRESREC_STATUS_MAX) {
		n = PRESREC_STATUS_MAX;
		/* not inside a UTF-8 sequence: back to a lead byte */
		while (n && ((uint8_t)status[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(r->status, status, n);
	r->status[n] = 0;
}
