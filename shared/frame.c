/**
 * @file frame.c  Frame header and typed field codec (see frame.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "frame.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}


static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}


static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}


int frame_parse(const uint8_t *buf, size_t n, struct frame *fr, size_t *used)
{
	uint32_t len;

	if (n < FRAME_HDR_SIZE)
		return EAGAIN;
	if (rd16(buf) != FRAME_VERSION) {
		fr->ver = rd16(buf);
		return EPROTO;
	}
	len = rd32(buf + 4);
	if (len > FRAME_MAX)
		return EMSGSIZE;
	if (n - FRAME_HDR_SIZE < len)
		return EAGAIN;

	memset(fr, 0, sizeof(*fr));
	fr->ver = FRAME_VERSION;
	fr->type = rd16(buf + 2);
	fr->len = len;
	fr->seq = rd64(buf + 8);
	fr->p = buf + FRAME_HDR_SIZE;
	*used = FRAME_HDR_SIZE + (size_t)len;
	return 0;
}


/* Take a tag and n value bytes; NULL and sticky EBADMSG if not there. */
static const uint8_t *take(struct frame *fr, uint8_t tag, size_t n)
{
	const uint8_t *p;

	if (fr->err)
		return NULL;
	if (fr->len - fr->pos < 1 + n || fr->p[fr->pos] != tag) {
		fr->err = EBADMSG;
		return NULL;
	}
	p = fr->p + fr->pos + 1;
	fr->pos += 1 + n;
	return p;
}


uint32_t frame_get_u32(struct frame *fr)
{
	const uint8_t *p = take(fr, FT_U32, 4);
	return p ? rd32(p) : 0;
}


uint64_t frame_get_u64(struct frame *fr)
{
	const uint8_t *p = take(fr, FT_U64, 8);
	return p ? rd64(p) : 0;
}


void frame_get_str(struct frame *fr, const char **s, size_t *len)
{
	const uint8_t *p = take(fr, FT_STR, 4);
	uint32_t n;

	*s = "";
	*len = 0;
	if (!p)
		return;
	n = rd32(p);
	if (fr->len - fr->pos < n) {
		fr->err = EBADMSG;
		return;
	}
	*s = (const char *)fr->p + fr->pos;
	*len = n;
	fr->pos += n;
}


char *frame_get_strdup(struct frame *fr)
{
	const char *s;
	size_t n;
	char *d;

	frame_get_str(fr, &s, &n);
	if (fr->err)
		return NULL;
	if (memchr(s, 0, n)) {
		fr->err = EBADMSG;
		return NULL;
	}
	d = mem_alloc(n + 1, NULL);
	if (!d) {
		fr->err = ENOMEM;
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}


int frame_end(const struct frame *fr)
{
	if (fr->err)
		return fr->err;
	return fr->pos == fr->len ? 0 : EBADMSG;
}


static void grow(struct fbuf *fb, size_t n)
{
	size_t cap;
	uint8_t *b;

	if (fb->err || fb->len + n <= fb->cap)
		return;
	cap = fb->cap ? fb->cap : 256;
	while (cap < fb->len + n)
		cap *= 2;
	b = realloc(fb->b, cap);
	if (!b) {
		fb->err = ENOMEM;
		return;
	}
	fb->b = b;
	fb->cap = cap;
}


static void wr(struct fbuf *fb, const void *p, size_t n)
{
	grow(fb, n);
	if (fb->err || !n)
		return; /* memcpy from NULL is undefined even for 0 bytes */
	memcpy(fb->b + fb->len, p, n);
	fb->len += n;
}


static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}


static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, v >> 32);
	wr32(p + 4, (uint32_t)v);
}


void frame_begin(struct fbuf *fb, uint16_t type, uint64_t seq)
{
	uint8_t h[FRAME_HDR_SIZE] = {0};

	fb->len = 0;
	fb->err = 0;
	h[0] = FRAME_VERSION >> 8;
	h[1] = FRAME_VERSION & 0xff;
	h[2] = type >> 8;
	h[3] = type & 0xff;
	wr64(h + 8, seq);
	wr(fb, h, sizeof(h));
}


void frame_put_u32(struct fbuf *fb, uint32_t v)
{
	uint8_t b[5] = {FT_U32};
	wr32(b + 1, v);
	wr(fb, b, sizeof(b));
}


void frame_put_u64(struct fbuf *fb, uint64_t v)
{
	uint8_t b[9] = {FT_U64};
	wr64(b + 1, v);
	wr(fb, b, sizeof(b));
}


void frame_put_str(struct fbuf *fb, const char *s, size_t len)
{
	uint8_t b[5] = {FT_STR};

	if (len > FRAME_MAX) {
		if (!fb->err)
			fb->err = EMSGSIZE;
		return;
	}
	wr32(b + 1, (uint32_t)len);
	wr(fb, b, sizeof(b));
	if (len)
		wr(fb, s, len);
}


void frame_put_raw(struct fbuf *fb, const void *p, size_t n)
{
	wr(fb, p, n);
}


void frame_put_cstr(struct fbuf *fb, const char *s)
{
	frame_put_str(fb, s ? s : "", s ? strlen(s) : 0);
}


int frame_finish(struct fbuf *fb)
{
	if (fb->err)
		return fb->err;
	if (fb->len < FRAME_HDR_SIZE)
		return EINVAL;
	if (fb->len - FRAME_HDR_SIZE > FRAME_MAX)
		return fb->err = EMSGSIZE;
	wr32(fb->b + 4, (uint32_t)(fb->len - FRAME_HDR_SIZE));
	return 0;
}


void fbuf_reset(struct fbuf *fb)
{
	free(fb->b);
	memset(fb, 0, sizeof(*fb));
}
