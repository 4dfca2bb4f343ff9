/*
 * xscan.h  What the bench's C tools (loadc.c, nullcomp.c) share: a tiny
 * XMPP stream scanner (no XML library), attribute lookup, base64, a
 * monotonic clock and a growable byte buffer.
 *
 * The scanner finds where a top-level element (a stanza) ends: it only
 * counts start and end tags, honours quotes inside tags, and skips text.
 * Enough for what Prosody writes (well-formed, escaped), not a parser.
 */
#ifndef BENCH_XSCAN_H
#define BENCH_XSCAN_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct buf {
	char *p;
	size_t len, cap;
};

static inline void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 4096;
		while (c < b->len + n + 1)
			c *= 2;
		b->p = realloc(b->p, c);
		if (!b->p) {
			perror("realloc");
			exit(2);
		}
		b->cap = c;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static inline void buf_drop(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->p, b->p + n, b->len - n);
		b->len -= n;
	}
	if (b->p)
		b->p[b->len] = 0;
}

__attribute__((format(printf, 2, 3))) static inline void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	buf_add(b, tmp, (size_t)n);
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The end of the tag starting at p ('<'): index of its '>' or -1. */
static inline long tag_end(const char *p, size_t len)
{
	char q = 0;

	for (size_t i = 1; i < len; i++) {
		if (q) {
			if (p[i] == q)
				q = 0;
		} else if (p[i] == '\'' || p[i] == '"') {
			q = p[i];
		} else if (p[i] == '>') {
			return (long)i;
		}
	}
	return -1;
}

/*
 * The first complete top-level element of p[0..len): *start its '<',
 * return the offset just past its end; 0: not complete yet; -1: the
 * stream ended (</stream:stream>). Leading whitespace is skipped.
 */
static inline long next_element(const char *p, size_t len, size_t *start)
{
	size_t i = 0;
	int depth = 0;

	while (i < len && p[i] != '<')
		i++;
	if (i >= len)
		return 0;
	*start = i;
	while (i < len) {
		long e;

		if (p[i] != '<') {
			const char *lt = memchr(p + i, '<', len - i);
			if (!lt)
				return 0;
			i = (size_t)(lt - p);
			continue;
		}
		e = tag_end(p + i, len - i);
		if (e < 0)
			return 0;
		if (p[i + 1] == '/') {
			if (depth == 0)
				return -1; /* </stream:stream> */
			depth--;
		} else if (p[i + 1] == '?') {
			/* declaration: no depth */
		} else if (p[i + e - 1] != '/') {
			depth++;
		}
		i += (size_t)e + 1;
		if (depth == 0)
			return (long)i;
	}
	return 0;
}

/*
 * Attribute name of the start tag at p (p points at '<' or anywhere
 * before the tag's '>'): copied into out. 1 found, 0 not.
 */
static inline int attr(const char *p, const char *name, char *out, size_t outlen)
{
	long e = tag_end(p, strlen(p));
	size_t nl = strlen(name);
	const char *s = p;

	if (e < 0)
		return 0;
	while ((s = strstr(s, name)) && s < p + e) {
		if ((s[-1] == ' ' || s[-1] == '\t' || s[-1] == '\n') && s[nl] == '=' &&
		    (s[nl + 1] == '\'' || s[nl + 1] == '"')) {
			char q = s[nl + 1];
			const char *v = s + nl + 2, *ve = strchr(v, q);
			size_t n;

			if (!ve)
				return 0;
			n = (size_t)(ve - v);
			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return 1;
		}
		s += nl;
	}
	return 0;
}

/* Attribute name of the first <elem ...> inside the NUL-terminated
 * stanza st. */
static inline int child_attr(const char *st, const char *elem, const char *name,
			     char *out, size_t outlen)
{
	char pat[64];
	const char *c;

	snprintf(pat, sizeof(pat), "<%s", elem);
	c = strstr(st, pat);
	if (!c)
		return 0;
	return attr(c, name, out, outlen);
}

static inline size_t b64(const unsigned char *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = in[i] << 16;
		if (i + 1 < n)
			v |= in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

/* Write all of b (blocking socket semantics emulated with a retry loop
 * on EAGAIN). Returns 0 or -1. */
static inline int buf_flush(int fd, struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(fd, b->p + off, b->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break; /* the caller retries when writable */
			return -1;
		}
		off += (size_t)n;
	}
	buf_drop(b, off);
	return 0;
}

#endif
