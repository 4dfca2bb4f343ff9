/**
 * @file xparse.c  One stanza's XML text to a libstrophe stanza (xparse.h).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <expat.h>
#include <re.h>
#include "util.h"
#include "xparse.h"

enum {
	NS_SEP = '\x1F', /* between namespace and local name (libstrophe's) */
	DEPTH_MAX = 256, /* the xmpp-front refuses deeper stanzas earlier */
};

struct build {
	xmpp_ctx_t *ctx;
	xmpp_stanza_t *root;
	xmpp_stanza_t *open[DEPTH_MAX]; /* the elements not yet closed */
	unsigned depth;
	struct mbuf *text; /* character data not yet a text child */
	bool bad;
};

static XML_Parser xp;
static unsigned long salt;


static void build_fail(struct build *b)
{
	b->bad = true;
	(void)XML_StopParser(xp, XML_FALSE);
}


/* Adjacent character data becomes one text child of the open element. */
static void text_flush(struct build *b)
{
	xmpp_stanza_t *t;

	if (!b->text || !b->text->end)
		return;
	t = xmpp_stanza_new(b->ctx);
	if (!t ||
	    xmpp_stanza_set_text_with_size(t, (const char *)b->text->buf,
					   b->text->end) ||
	    xmpp_stanza_add_child_ex(b->open[b->depth - 1], t, 0)) {
		if (t)
			xmpp_stanza_release(t);
		build_fail(b);
	}
	mbuf_rewind(b->text);
}


static void start_handler(void *arg, const XML_Char *nsname,
			  const XML_Char **attrs)
{
	struct build *b = arg;
	const char *sep = strchr(nsname, NS_SEP);
	xmpp_stanza_t *e;
	char *ns = NULL;

	if (b->bad)
		return;
	if (b->depth == DEPTH_MAX) {
		build_fail(b);
		return;
	}
	if (b->depth)
		text_flush(b);
	e = xmpp_stanza_new(b->ctx);
	if (!e || xmpp_stanza_set_name(e, sep ? sep + 1 : nsname))
		goto fail;
	for (size_t i = 0; attrs[i]; i += 2) {
		const char *a = strchr(attrs[i], NS_SEP);
		if (xmpp_stanza_set_attribute(e, a ? a + 1 : attrs[i],
					      attrs[i + 1]))
			goto fail;
	}
	if (sep) {
		ns = strndup(nsname, (size_t)(sep - nsname));
		if (!ns || xmpp_stanza_set_ns(e, ns))
			goto fail;
		free(ns);
		ns = NULL;
	}
	if (b->depth) {
		if (xmpp_stanza_add_child_ex(b->open[b->depth - 1], e, 0))
			goto fail;
	} else {
		b->root = e;
	}
	b->open[b->depth++] = e;
	return;
fail:
	free(ns);
	if (e && e != b->root)
		xmpp_stanza_release(e);
	build_fail(b);
}


static void end_handler(void *arg, const XML_Char *name)
{
	struct build *b = arg;

	(void)name;
	if (b->bad || !b->depth)
		return;
	text_flush(b);
	b->depth--;
}


static void text_handler(void *arg, const XML_Char *s, int len)
{
	struct build *b = arg;

	if (b->bad || !b->depth || len <= 0)
		return;
	if (!b->text)
		b->text = mbuf_alloc(256);
	if (!b->text ||
	    mbuf_write_mem(b->text, (const uint8_t *)s, (size_t)len))
		build_fail(b);
}


/* A stanza declares no entities: a DOCTYPE ends the parse. */
static void doctype_handler(void *arg, const XML_Char *name,
			    const XML_Char *sysid, const XML_Char *pubid,
			    int internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)internal;
	build_fail(arg);
}


static bool parser_ready(struct build *b)
{
	if (!xp) {
		xp = XML_ParserCreateNS(NULL, NS_SEP);
		if (!xp)
			return false;
		while (!salt)
			salt = (unsigned long)random_u64();
	} else if (!XML_ParserReset(xp, NULL)) {
		return false;
	}
	XML_SetUserData(xp, b);
	XML_SetElementHandler(xp, start_handler, end_handler);
	XML_SetCharacterDataHandler(xp, text_handler);
	XML_SetStartDoctypeDeclHandler(xp, doctype_handler);
	/* one random salt for the process, not a getrandom per stanza */
	return XML_SetHashSalt(xp, salt) == 1;
}


xmpp_stanza_t *xparse_stanza(xmpp_ctx_t *ctx, const char *xml, size_t len)
{
	struct build b = {.ctx = ctx};
	enum XML_Status st;

	if (!ctx || !xml || len > INT_MAX || !parser_ready(&b))
		return NULL;
	st = XML_Parse(xp, xml, (int)len, XML_TRUE);
	mem_deref(b.text);
	if (st != XML_STATUS_OK || b.bad || b.depth || !b.root) {
		if (b.root)
			xmpp_stanza_release(b.root);
		/* a stopped parser is reset before its next use */
		return NULL;
	}
	return b.root;
}


void xparse_close(void)
{
	if (xp)
		XML_ParserFree(xp);
	xp = NULL;
}
