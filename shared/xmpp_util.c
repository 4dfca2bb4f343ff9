/**
 * @file xmpp_util.c  XMPP helpers (see xmpp_util.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "util.h"
#include "xmpp_util.h"


char *xu_id(char *buf, size_t sz, enum xu_id_kind kind, uint64_t id)
{
	switch (kind) {
	case XU_ID_MSG:
		/* unguessable: a bounce must name it to count (the record
		 * keeps it, so a re-send carries the same) */
		snprintf(buf, sz, "xsgw-%" PRIu64 "-%016" PRIx64, id,
			 random_u64());
		break;
	case XU_ID_RECEIPT:
		snprintf(buf, sz, "xsgw-r%" PRIu64, id);
		break;
	case XU_ID_CALL:
		snprintf(buf, sz, "xsgw-c%" PRIu64 "-%08x", id,
			 (unsigned)random_u64());
		break;
	default:
		snprintf(buf, sz, "xsgw-x%08x", (unsigned)random_u64());
		break;
	}
	return buf;
}


static int digits(const char *s, uint64_t *id, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*id = v;
	*end = p;
	return 0;
}


enum xu_id_kind xu_id_parse(const char *s, uint64_t *id)
{
	const char *end;

	*id = 0;
	if (!s || strncmp(s, "xsgw-", 5))
		return XU_ID_NONE;
	s += 5;
	if (*s == 'r' && !digits(s + 1, id, &end) && !*end)
		return XU_ID_RECEIPT;
	if (*s == 'c' && !digits(s + 1, id, &end) && *end == '-')
		return XU_ID_CALL;
	/* "xsgw-ID" was the form before the random part */
	if (!digits(s, id, &end) && (!*end || *end == '-'))
		return XU_ID_MSG;
	*id = 0;
	return XU_ID_NONE;
}


const char *xu_attr(xmpp_stanza_t *st, const char *name)
{
	const char *v = st ? xmpp_stanza_get_attribute(st, name) : NULL;

	return v ? v : "";
}


xmpp_stanza_t *xu_elem(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
		       const char *ns)
{
	xmpp_stanza_t *e = xmpp_stanza_new(ctx);

	xmpp_stanza_set_name(e, name);
	if (ns)
		xmpp_stanza_set_ns(e, ns);
	if (parent) {
		xmpp_stanza_add_child(parent, e);
		xmpp_stanza_release(e);
	}
	return e;
}


void xu_text_elem(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
		  const char *ns, const char *text)
{
	xmpp_stanza_t *e = xu_elem(ctx, parent, name, ns);
	xmpp_stanza_t *t = xmpp_stanza_new(ctx);

	xmpp_stanza_set_text(t, text ? text : "");
	xmpp_stanza_add_child(e, t);
	xmpp_stanza_release(t);
}


xmpp_stanza_t *xu_first_elem(xmpp_stanza_t *st)
{
	xmpp_stanza_t *c = st ? xmpp_stanza_get_children(st) : NULL;

	while (c && !xmpp_stanza_is_tag(c))
		c = xmpp_stanza_get_next(c);
	return c;
}


xmpp_stanza_t *xu_child_ns(xmpp_stanza_t *st, const char *ns)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_ns(c);
		if (xmpp_stanza_is_tag(c) && n && !strcmp(n, ns))
			return c;
	}
	return NULL;
}


/* RFC 6120 8.3.3: the type each condition's definition and example give
 * (gone is permanent, an internal error not worth a retry: cancel) */
const char *xu_error_type(const char *cond)
{
	static const struct {
		const char *cond, *type;
	} map[] = {
		{"recipient-unavailable", "wait"},
		{"remote-server-timeout", "wait"},
		{"resource-constraint", "wait"},
		{"unexpected-request", "wait"},
		{"bad-request", "modify"},
		{"jid-malformed", "modify"},
		{"not-acceptable", "modify"},
		{"redirect", "modify"},
		{"policy-violation", "modify"},
		{"forbidden", "auth"},
		{"not-authorized", "auth"},
		{"registration-required", "auth"},
		{"subscription-required", "auth"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(cond, map[i].cond))
			return map[i].type;
	return "cancel";
}


void xu_add_error(xmpp_ctx_t *ctx, xmpp_stanza_t *st, const char *cond,
		  const char *text)
{
	xmpp_stanza_t *e = xu_elem(ctx, st, "error", NULL);

	xmpp_stanza_set_attribute(e, "type", xu_error_type(cond));
	xu_elem(ctx, e, cond, NS_STANZAS);
	if (text && *text)
		xu_text_elem(ctx, e, "text", NS_STANZAS, text);
}


xmpp_stanza_t *xu_error_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req,
			      const char *cond, const char *text)
{
	xmpp_stanza_t *r = xmpp_stanza_new(ctx);
	const char *id = xu_attr(req, "id");

	xmpp_stanza_set_name(r, xmpp_stanza_get_name(req));
	xmpp_stanza_set_type(r, "error");
	if (*id)
		xmpp_stanza_set_id(r, id);
	if (*xu_attr(req, "from"))
		xmpp_stanza_set_to(r, xu_attr(req, "from"));
	if (*xu_attr(req, "to"))
		xmpp_stanza_set_from(r, xu_attr(req, "to"));
	xu_add_error(ctx, r, cond, text);
	return r;
}


void xu_bare(const char *jid, char *out, size_t sz)
{
	size_t n = strcspn(jid, "/");

	if (n >= sz)
		n = sz - 1;
	memcpy(out, jid, n);
	out[n] = 0;
}


char *xu_text_clean(const char *s, size_t n)
{
	struct mbuf *mb = mbuf_alloc(n + 16);
	char *out = NULL;
	size_t i = 0, len;

	if (!mb)
		return NULL;
	while (i < n) {
		/* the shortest valid character here, if any */
		for (len = 1; len <= 4 && i + len <= n; len++)
			if (utf8_xml_valid(s + i, len))
				break;
		if (len > 4 || i + len > n) {
			(void)mbuf_write_str(mb, "\xef\xbf\xbd");
			i++;
			continue;
		}
		(void)mbuf_write_mem(mb, (const uint8_t *)s + i, len);
		i += len;
	}
	mb->pos = 0;
	(void)mbuf_strdup(mb, &out, mb->end);
	mem_deref(mb);
	return out;
}
