/**
 * @file xmlcheck.c  One pass over a serialized stanza, no allocation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "util.h"
#include "xmlcheck.h"

enum { ATTR_MAX = 64 }; /**< attributes of one element (libstrophe: < 10) */

struct scan {
	const unsigned char *s;
	size_t n, i;
};


static bool name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c >= 0x80;
}


static bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == ':';
}


static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}


static bool xml_char(uint32_t v)
{
	return v == 0x9 || v == 0xa || v == 0xd || (v >= 0x20 && v <= 0xd7ff) ||
	       (v >= 0xe000 && v <= 0xfffd) || (v >= 0x10000 && v <= 0x10ffff);
}


static void skip_space(struct scan *sc)
{
	while (sc->i < sc->n && is_space(sc->s[sc->i]))
		sc->i++;
}


/* A name at sc->i. @return its length, 0 if there is none */
static size_t scan_name(struct scan *sc)
{
	size_t b = sc->i;

	if (sc->i >= sc->n || !name_start(sc->s[sc->i]))
		return 0;
	while (sc->i < sc->n && name_char(sc->s[sc->i]))
		sc->i++;
	return sc->i - b;
}


/* A reference at sc->i ('&'): a predefined entity or the character
 * reference of an XML character. */
static bool scan_ref(struct scan *sc)
{
	static const char *const ents[] = {"lt;", "gt;", "amp;", "quot;",
					   "apos;"};
	const unsigned char *p = sc->s + sc->i + 1;
	size_t left = sc->n - sc->i - 1, k, digits = 0;
	uint32_t v = 0;
	bool hex;

	for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
		size_t l = strlen(ents[e]);
		if (left >= l && !memcmp(p, ents[e], l)) {
			sc->i += 1 + l;
			return true;
		}
	}
	if (left < 1 || p[0] != '#')
		return false;
	hex = left >= 2 && p[1] == 'x';
	for (k = hex ? 2 : 1; k < left && p[k] != ';'; k++, digits++) {
		unsigned c = p[k] | 0x20, d;
		if (p[k] >= '0' && p[k] <= '9')
			d = p[k] - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		v = v * (hex ? 16 : 10) + d;
		if (v > 0x10ffff)
			return false;
	}
	if (k >= left || !digits || !xml_char(v))
		return false;
	sc->i += 1 + k + 1;
	return true;
}


/* A quoted attribute value at sc->i. */
static bool scan_value(struct scan *sc)
{
	unsigned char q;

	if (sc->i >= sc->n || (sc->s[sc->i] != '"' && sc->s[sc->i] != '\''))
		return false;
	q = sc->s[sc->i++];
	while (sc->i < sc->n && sc->s[sc->i] != q) {
		if (sc->s[sc->i] == '<')
			return false;
		if (sc->s[sc->i] != '&')
			sc->i++;
		else if (!scan_ref(sc))
			return false;
	}
	if (sc->i >= sc->n)
		return false;
	sc->i++;
	return true;
}


/* An attribute name with a colon: only xml:* and xmlns:* are bound
 * without a declaration we would have to track. */
static bool prefix_ok(const unsigned char *p, size_t l)
{
	if (!memchr(p, ':', l))
		return true;
	return (l > 4 && !memcmp(p, "xml:", 4)) ||
	       (l > 6 && !memcmp(p, "xmlns:", 6) && !memchr(p + 6, ':', l - 6));
}


/* The attributes and end of a start tag (its name is read).
 * @return 0, or a reason; *empty is set for "/>" */
static const char *scan_attrs(struct scan *sc, bool *empty)
{
	size_t aoff[ATTR_MAX], alen[ATTR_MAX], b, l;
	unsigned na = 0;

	for (;;) {
		size_t sp = sc->i;

		skip_space(sc);
		if (sc->i >= sc->n)
			return "unterminated tag";
		if (sc->s[sc->i] == '>') {
			sc->i++;
			*empty = false;
			return NULL;
		}
		if (sc->s[sc->i] == '/') {
			if (sc->i + 1 >= sc->n || sc->s[sc->i + 1] != '>')
				return "bad tag end";
			sc->i += 2;
			*empty = true;
			return NULL;
		}
		if (sc->i == sp)
			return "no space before an attribute";
		b = sc->i;
		l = scan_name(sc);
		if (!l)
			return "bad attribute name";
		if (!prefix_ok(sc->s + b, l))
			return "unbound attribute prefix";
		for (unsigned k = 0; k < na; k++)
			if (alen[k] == l &&
			    !memcmp(sc->s + aoff[k], sc->s + b, l))
				return "repeated attribute";
		if (na == ATTR_MAX)
			return "too many attributes";
		aoff[na] = b;
		alen[na++] = l;
		skip_space(sc);
		if (sc->i >= sc->n || sc->s[sc->i] != '=')
			return "attribute without a value";
		sc->i++;
		skip_space(sc);
		if (!scan_value(sc))
			return "bad attribute value";
	}
}


int xmlcheck_stanza(const char *str, size_t n, unsigned max_depth,
		    const char **why)
{
	size_t off[XMLCHECK_DEPTH_CAP], len[XMLCHECK_DEPTH_CAP], b, l;
	struct scan sc = {(const unsigned char *)str, n, 0};
	const char *r = NULL;
	unsigned depth = 0;
	int err = EBADMSG;
	bool empty;

	if (max_depth > XMLCHECK_DEPTH_CAP)
		max_depth = XMLCHECK_DEPTH_CAP;
	if (!str || !utf8_xml_valid(str, n)) {
		err = EILSEQ;
		r = "not UTF-8 of XML characters";
		goto out;
	}
	if (!n || sc.s[0] != '<') {
		r = "not an element";
		goto out;
	}
	do {
		if (sc.i >= n) {
			r = "unclosed element";
			goto out;
		}
		if (sc.s[sc.i] == '<' && sc.i + 1 < n &&
		    sc.s[sc.i + 1] == '/') {
			sc.i += 2;
			b = sc.i;
			l = scan_name(&sc);
			if (!l || !depth || l != len[depth - 1] ||
			    memcmp(sc.s + b, sc.s + off[depth - 1], l)) {
				r = "end tag does not match";
				goto out;
			}
			skip_space(&sc);
			if (sc.i >= n || sc.s[sc.i] != '>') {
				r = "bad end tag";
				goto out;
			}
			sc.i++;
			depth--;
		} else if (sc.s[sc.i] == '<') {
			sc.i++;
			if (depth >= max_depth) {
				err = E2BIG;
				r = "nested too deep";
				goto out;
			}
			b = sc.i;
			l = scan_name(&sc);
			if (!l) {
				/* also <!-- -->, <?pi?>, <![CDATA[, <!DOCTYPE
				 */
				r = "bad element name";
				goto out;
			}
			if (memchr(sc.s + b, ':', l)) {
				r = "prefixed element name";
				goto out;
			}
			r = scan_attrs(&sc, &empty);
			if (r)
				goto out;
			if (!empty) {
				off[depth] = b;
				len[depth++] = l;
			}
		} else if (sc.s[sc.i] == '&') {
			if (!scan_ref(&sc)) {
				r = "bad reference";
				goto out;
			}
		} else {
			if (sc.s[sc.i] == '>' && sc.i >= 2 &&
			    sc.s[sc.i - 1] == ']' && sc.s[sc.i - 2] == ']') {
				r = "]]> in text";
				goto out;
			}
			sc.i++;
		}
	} while (depth);
	if (sc.i != n) {
		r = "bytes after the element";
		goto out;
	}
	return 0;
out:
	if (why)
		*why = r;
	return err;
}
