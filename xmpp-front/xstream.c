/**
 * @file xstream.c  The XMPP stream parser (see xstream.h): expat events
 *                  turned into libstrophe stanzas and stream offsets.
 *
 * Positions are expat byte indexes (bytes given to this expat parser,
 * a primed parser's header included) until reported: stream offset =
 * org + index. Nothing here recurses: the stanza being built is an
 * explicit stack of at most max_depth open elements.
 *
 * Bounds. expat holds a torn token (a tag cut by the end of a feed) until
 * it completes, so it is never given more than max_bytes bytes past the
 * end of the last event: if that much is pending with no event and more
 * is to come, the stream ends with EMSGSIZE. A stanza past max_bytes or
 * max_depth keeps only its top element, and its text is dropped. expat
 * keeps every open element, so a stanza past max_bytes may not open an
 * element deeper than max_depth. Events, and so these rules, depend only
 * on the bytes, not on how they were split.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <expat.h>
#include <re.h>
#include "xstream.h"

/* expat's separator of namespace URI, local name and prefix (a control
 * character: in no XML name, and expat refuses it in a namespace URI) */
#define NS_SEP '\x1f'

static const char STREAM_NS[] = "http://etherx.jabber.org/streams";
static const char XML_NS[] = "http://www.w3.org/XML/1998/namespace";

/** An open element of the stanza being built. */
struct level {
	xmpp_stanza_t *st;
	const char *ns; /**< its namespace (st's or an ancestor's xmlns
			 *   attribute), NULL or "" for none */
};

struct xstream {
	XML_Parser p; /**< NULL if a start failed (ENOMEM owed) */
	xmpp_ctx_t *ctx;
	size_t max_bytes;
	unsigned max_depth;
	xstream_header_h *hh;
	xstream_stanza_h *sh;
	xstream_end_h *eh;
	void *arg;

	uint64_t org;      /**< stream offset of expat index 0 */
	uint64_t nfed;     /**< bytes given to expat */
	uint64_t last;     /**< index just past the last event */
	uint64_t mark;     /**< index just past the header, stanza or
			    *   whitespace parsed last at stream level */
	uint64_t st_begin; /**< index of the '<' of the stanza in progress */
	unsigned depth;    /**< open elements, <stream:stream> included */
	int st_err;        /**< EMSGSIZE, E2BIG: the stanza in progress is
			    *   its top element alone from now on */
	struct level *stk; /**< open elements built, stk[0] the stanza */
	unsigned nstk;
	struct mbuf *text; /**< the run of character data in progress */
	struct mbuf *s1;   /**< scratch strings (names, URIs) */
	struct mbuf *s2;
	struct mbuf *hdr; /**< bytes from the stream start until the header
			   *   is reported (NULL: not kept) */
	bool priming;     /**< in xstream_prime: nothing is reported */
	bool stopped;     /**< XML_StopParser called, stop_err the end */
	int stop_err;
	bool ended;    /**< the end is reported (or owed) */
	bool end_owed; /**< a start failed: report end_err at the next feed */
	int end_err;
};


/* expat's index of the current event, 64 bits wide even where XML_Index is
 * a 32-bit long: an event is never 4 GiB before the end of what was fed. */
static uint64_t ev_index(const struct xstream *xs)
{
	XML_Index i = XML_GetCurrentByteIndex(xs->p);

	if (sizeof(i) >= sizeof(uint64_t))
		return (uint64_t)i;
	return xs->nfed - (uint32_t)((uint32_t)xs->nfed - (uint32_t)i);
}


/* Index just past the current event; it becomes the last event. */
static uint64_t ev_end(struct xstream *xs, uint64_t *beginp)
{
	uint64_t b = ev_index(xs);

	xs->last = b + (uint64_t)XML_GetCurrentByteCount(xs->p);
	if (beginp)
		*beginp = b;
	return xs->last;
}


/* End the stream with err (0: </stream:stream>) after this event. */
static void stop(struct xstream *xs, int err)
{
	if (xs->stopped)
		return;
	xs->stopped = true;
	xs->stop_err = err;
	XML_StopParser(xs->p, XML_FALSE);
}


/** An expat name: "local", "uri<SEP>local" or "uri<SEP>local<SEP>prefix". */
struct qname {
	const char *uri; /**< NULL: no namespace */
	size_t urilen;
	const char *local;
	size_t loclen;
	const char *pfx; /**< NULL: no prefix */
	size_t pfxlen;
};


static void qname_split(struct qname *q, const char *s)
{
	const char *a = strchr(s, NS_SEP), *b;

	memset(q, 0, sizeof(*q));
	if (!a) {
		q->local = s;
		q->loclen = strlen(s);
		return;
	}
	q->uri = s;
	q->urilen = (size_t)(a - s);
	q->local = a + 1;
	b = strchr(q->local, NS_SEP);
	if (!b) {
		q->loclen = strlen(q->local);
		return;
	}
	q->loclen = (size_t)(b - q->local);
	q->pfx = b + 1;
	q->pfxlen = strlen(q->pfx);
}


static bool qname_is(const struct qname *q, const char *uri, const char *local)
{
	return q->uri && q->urilen == strlen(uri) &&
	       !memcmp(q->uri, uri, q->urilen) && q->loclen == strlen(local) &&
	       !memcmp(q->local, local, q->loclen);
}


/* a, b and c (lengths given) concatenated into mb, NUL-terminated.
 * @return the string (valid until mb is written again) or NULL (ENOMEM) */
static const char *cat(struct mbuf *mb, const char *a, size_t an, const char *b,
		       size_t bn, const char *c, size_t cn)
{
	int err = 0;

	mbuf_rewind(mb);
	if (an)
		err |= mbuf_write_mem(mb, (const uint8_t *)a, an);
	if (bn)
		err |= mbuf_write_mem(mb, (const uint8_t *)b, bn);
	if (cn)
		err |= mbuf_write_mem(mb, (const uint8_t *)c, cn);
	err |= mbuf_write_u8(mb, 0);
	return err ? NULL : (const char *)mb->buf;
}


/* Set one attribute from expat's name (in triplet form) on st: xml:* as
 * is, any other prefixed one with its xmlns:prefix declaration. */
static int attr_set(struct xstream *xs, xmpp_stanza_t *st, const char *name,
		    const char *val)
{
	const char *n;
	struct qname q;

	qname_split(&q, name);
	if (!q.uri) {
		n = name;
	} else if (q.urilen == sizeof(XML_NS) - 1 &&
		   !memcmp(q.uri, XML_NS, q.urilen)) {
		n = cat(xs->s1, "xml:", 4, q.local, q.loclen, NULL, 0);
	} else if (q.pfx) {
		const char *d =
			cat(xs->s1, "xmlns:", 6, q.pfx, q.pfxlen, NULL, 0);
		const char *u = cat(xs->s2, q.uri, q.urilen, NULL, 0, NULL, 0);

		if (!d || !u || xmpp_stanza_set_attribute(st, d, u) != XMPP_EOK)
			return ENOMEM;
		n = cat(xs->s1, q.pfx, q.pfxlen, ":", 1, q.local, q.loclen);
	} else { /* expat names a namespaced attribute's prefix: not reached */
		n = cat(xs->s1, q.local, q.loclen, NULL, 0, NULL, 0);
	}
	if (!n || xmpp_stanza_set_attribute(st, n, val) != XMPP_EOK)
		return ENOMEM;
	return 0;
}


/* A new element from expat's start event; pns is its parent's namespace
 * (NULL for a stanza: it gets an xmlns whenever it has a namespace). */
static int elem_new(struct xstream *xs, xmpp_stanza_t **stp, const char *name,
		    const char **atts, const char *pns)
{
	xmpp_stanza_t *st;
	const char *s;
	struct qname q;
	bool differs;
	int err = 0;

	qname_split(&q, name);
	st = xmpp_stanza_new(xs->ctx);
	if (!st)
		return ENOMEM;
	s = cat(xs->s1, q.local, q.loclen, NULL, 0, NULL, 0);
	if (!s || xmpp_stanza_set_name(st, s) != XMPP_EOK) {
		err = ENOMEM;
		goto out;
	}
	if (!pns || !*pns)
		differs = q.uri != NULL;
	else
		differs = !q.uri || strlen(pns) != q.urilen ||
			  memcmp(pns, q.uri, q.urilen);
	if (differs) {
		s = cat(xs->s1, q.uri, q.urilen, NULL, 0, NULL, 0);
		if (!s || xmpp_stanza_set_ns(st, s) != XMPP_EOK) {
			err = ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; atts[i]; i += 2) {
		err = attr_set(xs, st, atts[i], atts[i + 1]);
		if (err)
			goto out;
	}

out:
	if (err)
		xmpp_stanza_release(st);
	else
		*stp = st;
	return err;
}


/* A copy of st's name and attributes, no children. */
static int elem_bare(struct xstream *xs, xmpp_stanza_t *st,
		     xmpp_stanza_t **copyp)
{
	int n = xmpp_stanza_get_attribute_count(st), got = 0;
	const char **attrs = NULL;
	xmpp_stanza_t *c;
	int err = 0;

	c = xmpp_stanza_new(xs->ctx);
	if (!c)
		return ENOMEM;
	if (xmpp_stanza_set_name(c, xmpp_stanza_get_name(st)) != XMPP_EOK) {
		err = ENOMEM;
		goto out;
	}
	if (n > 0) {
		attrs = mem_alloc(2 * (size_t)n * sizeof(*attrs), NULL);
		if (!attrs) {
			err = ENOMEM;
			goto out;
		}
		got = xmpp_stanza_get_attributes(st, attrs, 2 * n);
	}
	for (int i = 0; i + 1 < got; i += 2) {
		if (xmpp_stanza_set_attribute(c, attrs[i], attrs[i + 1]) !=
		    XMPP_EOK) {
			err = ENOMEM;
			goto out;
		}
	}

out:
	mem_deref(attrs);
	if (err)
		xmpp_stanza_release(c);
	else
		*copyp = c;
	return err;
}


/* The stanza in progress is past a limit: keep its top element alone. */
static void limit(struct xstream *xs, int why)
{
	xmpp_stanza_t *bare;
	int err;

	if (xs->st_err)
		return;
	xs->st_err = why;
	mbuf_rewind(xs->text);
	if (!xs->nstk)
		return;
	xs->nstk = 1;
	err = elem_bare(xs, xs->stk[0].st, &bare);
	if (err) {
		stop(xs, err);
		return;
	}
	xmpp_stanza_release(xs->stk[0].st); /* recurses: <= max_depth deep */
	xs->stk[0].st = bare;
	xs->stk[0].ns = xmpp_stanza_get_ns(bare);
}


/* The character data run in progress becomes a text child of parent. */
static int text_flush(struct xstream *xs, xmpp_stanza_t *parent)
{
	xmpp_stanza_t *t;
	int err = 0;

	if (!xs->text->end)
		return 0;
	t = xmpp_stanza_new(xs->ctx);
	if (!t)
		return ENOMEM;
	if (xmpp_stanza_set_text_with_size(t, (const char *)xs->text->buf,
					   xs->text->end) != XMPP_EOK ||
	    xmpp_stanza_add_child_ex(parent, t, 0) != XMPP_EOK) {
		xmpp_stanza_release(t);
		err = ENOMEM;
	}
	mbuf_rewind(xs->text);
	return err;
}


/* <stream:stream ...>: the header ends. */
static void root_start(struct xstream *xs, const char *name, const char **atts)
{
	uint64_t end = ev_end(xs, NULL);
	const char *id = "";
	struct qname q;

	qname_split(&q, name);
	if (!qname_is(&q, STREAM_NS, "stream") || !q.pfx ||
	    q.pfxlen != strlen("stream") || memcmp(q.pfx, "stream", q.pfxlen)) {
		stop(xs, EBADMSG);
		return;
	}
	xs->depth = 1;
	xs->mark = end;
	if (xs->priming)
		return;
	for (size_t i = 0; atts[i]; i += 2) {
		if (!strcmp(atts[i], "id"))
			id = atts[i + 1];
	}
	/* the header is at most max_bytes long (xstream_feed's room), and
	 * every byte fed until now is kept in hdr */
	if (!xs->hdr || end > xs->hdr->end) {
		stop(xs, EMSGSIZE);
		return;
	}
	if (xs->hh)
		xs->hh((const char *)xs->hdr->buf, (size_t)end, id, xs->arg);
	xs->hdr = mem_deref(xs->hdr);
}


static void elem_start_handler(void *arg, const XML_Char *name,
			       const XML_Char **atts)
{
	struct xstream *xs = arg;
	unsigned lvl = xs->depth; /* the new element's, the stanza is 1 */
	uint64_t begin, end;
	xmpp_stanza_t *st;
	int err;

	if (xs->stopped)
		return;
	if (xs->depth == 0) {
		root_start(xs, name, atts);
		return;
	}
	end = ev_end(xs, &begin);
	/* a stored header is the header alone; an element in the XML
	 * namespace (<xml:a/>) could only be written with xmlns bound to it,
	 * which XML forbids */
	if (xs->priming || (!strncmp(name, XML_NS, sizeof(XML_NS) - 1) &&
			    name[sizeof(XML_NS) - 1] == NS_SEP)) {
		stop(xs, EBADMSG);
		return;
	}
	if (lvl == 1) {
		xs->st_begin = begin;
		xs->st_err = 0;
		xs->nstk = 0;
		mbuf_rewind(xs->text);
	} else if (!xs->st_err) {
		err = text_flush(xs, xs->stk[xs->nstk - 1].st);
		if (err) {
			stop(xs, err);
			return;
		}
	}
	xs->depth++;
	if (end - xs->st_begin > xs->max_bytes) {
		if (lvl > xs->max_depth) {
			stop(xs, EMSGSIZE);
			return;
		}
		limit(xs, EMSGSIZE);
	}
	if (lvl > xs->max_depth)
		limit(xs, E2BIG);
	if (xs->stopped || (xs->st_err && lvl > 1))
		return;
	err = elem_new(xs, &st, name, atts,
		       lvl > 1 ? xs->stk[xs->nstk - 1].ns : NULL);
	if (!err && lvl > 1 &&
	    xmpp_stanza_add_child_ex(xs->stk[xs->nstk - 1].st, st, 0) !=
		    XMPP_EOK) {
		xmpp_stanza_release(st);
		err = ENOMEM;
	}
	if (err) {
		stop(xs, err);
		return;
	}
	xs->stk[xs->nstk].st = st;
	xs->stk[xs->nstk].ns = xmpp_stanza_get_ns(st);
	if (!xs->stk[xs->nstk].ns && lvl > 1)
		xs->stk[xs->nstk].ns = xs->stk[xs->nstk - 1].ns;
	xs->nstk++;
}


static void elem_end_handler(void *arg, const XML_Char *name)
{
	struct xstream *xs = arg;
	uint64_t end;
	unsigned lvl;
	xmpp_stanza_t *st;
	int err;

	if (xs->stopped)
		return;
	end = ev_end(xs, NULL);
	if (xs->priming) {
		stop(xs, EBADMSG);
		return;
	}
	if (xs->depth == 1) { /* </stream:stream> */
		xs->depth = 0;
		xs->mark = end;
		stop(xs, 0);
		return;
	}
	lvl = xs->depth - 1;
	if (end - xs->st_begin > xs->max_bytes)
		limit(xs, EMSGSIZE);
	if (!xs->st_err) {
		err = text_flush(xs, xs->stk[lvl - 1].st);
		if (err) {
			stop(xs, err);
			return;
		}
		xs->nstk--;
	}
	if (xs->stopped)
		return;
	xs->depth--;
	if (lvl > 1)
		return;
	/* the stanza ended */
	xs->mark = end;
	st = xs->stk[0].st;
	xs->stk[0].st = NULL;
	xs->nstk = 0;
	if (xs->sh)
		xs->sh(st, xs->org + end, xs->st_err, xs->arg);
	xmpp_stanza_release(st); /* recurses: <= max_depth deep */
	xs->st_err = 0;
}


/* Whitespace as it stands in the stream, also a CR LF reported as LF (not
 * a character reference to it). */
static bool is_raw_space(const char *s, int len, int count)
{
	if (count != len && !(len == 1 && count == 2 && s[0] == '\n'))
		return false;
	for (int i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	}
	return true;
}


static void chardata_handler(void *arg, const XML_Char *s, int len)
{
	struct xstream *xs = arg;
	uint64_t end;

	if (xs->stopped)
		return;
	end = ev_end(xs, NULL);
	if (xs->depth <= 1) { /* between stanzas */
		if (!is_raw_space(s, len, XML_GetCurrentByteCount(xs->p)))
			stop(xs, EBADMSG);
		else
			xs->mark = end;
		return;
	}
	if (xs->st_err)
		return;
	if (end - xs->st_begin > xs->max_bytes) {
		limit(xs, EMSGSIZE);
		return;
	}
	if (mbuf_write_mem(xs->text, (const uint8_t *)s, (size_t)len))
		stop(xs, ENOMEM);
}


/* A CDATA section is markup: not between stanzas. */
static void cdata_start_handler(void *arg)
{
	struct xstream *xs = arg;

	if (xs->stopped)
		return;
	(void)ev_end(xs, NULL);
	if (xs->depth <= 1)
		stop(xs, EBADMSG);
}


/* RFC 6120 §11.1: no comment, processing instruction, DTD or entity
 * declaration in an XMPP stream. */
static void comment_handler(void *arg, const XML_Char *data)
{
	stop(arg, EBADMSG);
}


static void pi_handler(void *arg, const XML_Char *target, const XML_Char *data)
{
	stop(arg, EBADMSG);
}


static void doctype_handler(void *arg, const XML_Char *name,
			    const XML_Char *sysid, const XML_Char *pubid,
			    int has_internal_subset)
{
	stop(arg, EBADMSG);
}


static void entity_decl_handler(void *arg, const XML_Char *name, int is_pe,
				const XML_Char *value, int value_len,
				const XML_Char *base, const XML_Char *sysid,
				const XML_Char *pubid, const XML_Char *notation)
{
	stop(arg, EBADMSG);
}


/* Bytes at stream index i.. (i < 2) fit the start of a UTF-8 XMPP stream:
 * '<' then not NUL. expat takes a NUL among the first two bytes (or a
 * BOM) for UTF-16 whatever encoding it is told, and decides on the bytes
 * of its first call: two bytes fed at once or one by one differ. */
static bool utf8_start(uint64_t i, const char *buf, size_t len)
{
	for (; i < 2 && len; i++, buf++, len--) {
		if (i == 0 ? *buf != '<' : *buf == '\0')
			return false;
	}
	return true;
}


/* Drop the stream in progress and make a new expat parser.
 * @return 0 or ENOMEM (xs->p NULL) */
static int restart(struct xstream *xs)
{
	if (xs->nstk)
		xmpp_stanza_release(xs->stk[0].st);
	xs->nstk = 0;
	xs->st_err = 0;
	mbuf_rewind(xs->text);
	xs->hdr = mem_deref(xs->hdr);
	xs->org = xs->nfed = xs->last = xs->mark = xs->st_begin = 0;
	xs->depth = 0;
	xs->priming = xs->stopped = xs->ended = xs->end_owed = false;
	xs->stop_err = xs->end_err = 0;
	if (xs->p)
		XML_ParserFree(xs->p);
	/* UTF-8 whatever the XML declaration says */
	xs->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!xs->p)
		return ENOMEM;
	XML_SetUserData(xs->p, xs);
	XML_SetReturnNSTriplet(xs->p, XML_TRUE);
	XML_SetElementHandler(xs->p, elem_start_handler, elem_end_handler);
	XML_SetCharacterDataHandler(xs->p, chardata_handler);
	XML_SetStartCdataSectionHandler(xs->p, cdata_start_handler);
	XML_SetCommentHandler(xs->p, comment_handler);
	XML_SetProcessingInstructionHandler(xs->p, pi_handler);
	XML_SetStartDoctypeDeclHandler(xs->p, doctype_handler);
	XML_SetEntityDeclHandler(xs->p, entity_decl_handler);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
	/* a stanza is reported as soon as its last byte is fed */
	XML_SetReparseDeferralEnabled(xs->p, XML_FALSE);
#endif
	return 0;
}


static void xstream_destructor(void *arg)
{
	struct xstream *xs = arg;

	if (xs->nstk)
		xmpp_stanza_release(xs->stk[0].st);
	if (xs->p)
		XML_ParserFree(xs->p);
	mem_deref(xs->stk);
	mem_deref(xs->text);
	mem_deref(xs->s1);
	mem_deref(xs->s2);
	mem_deref(xs->hdr);
}


int xstream_alloc(struct xstream **xsp, xmpp_ctx_t *ctx, size_t max_bytes,
		  unsigned max_depth, xstream_header_h *hh,
		  xstream_stanza_h *sh, xstream_end_h *eh, void *arg)
{
	struct xstream *xs;
	int err = 0;

	if (!xsp || !ctx || !max_bytes || !max_depth || !sh)
		return EINVAL;
	xs = mem_zalloc(sizeof(*xs), xstream_destructor);
	if (!xs)
		return ENOMEM;
	xs->ctx = ctx;
	xs->max_bytes = max_bytes;
	xs->max_depth = max_depth;
	xs->hh = hh;
	xs->sh = sh;
	xs->eh = eh;
	xs->arg = arg;
	xs->stk = mem_zalloc((size_t)max_depth * sizeof(*xs->stk), NULL);
	xs->text = mbuf_alloc(256);
	xs->s1 = mbuf_alloc(64);
	xs->s2 = mbuf_alloc(64);
	if (!xs->stk || !xs->text || !xs->s1 || !xs->s2) {
		err = ENOMEM;
		goto out;
	}
	xstream_start(xs, 0);
	if (!xs->p || !xs->hdr)
		err = ENOMEM;

out:
	if (err)
		mem_deref(xs);
	else
		*xsp = xs;
	return err;
}


void xstream_start(struct xstream *xs, uint64_t base)
{
	int err;

	if (!xs)
		return;
	err = restart(xs);
	if (!err) {
		xs->hdr = mbuf_alloc(512);
		if (!xs->hdr)
			err = ENOMEM;
	}
	xs->org = base;
	if (err) {
		xs->ended = true;
		xs->end_owed = true;
		xs->end_err = err;
	}
}


int xstream_prime(struct xstream *xs, const char *hdr, size_t len,
		  uint64_t base)
{
	int err;

	if (!xs || (!hdr && len))
		return EINVAL;
	err = restart(xs);
	if (err)
		goto out;
	if (len > INT_MAX || len < 2 || !utf8_start(0, hdr, len)) {
		err = EBADMSG;
		goto out;
	}
	xs->priming = true;
	xs->nfed = len;
	if (XML_Parse(xs->p, hdr, (int)len, XML_FALSE) != XML_STATUS_OK ||
	    xs->stopped) /* stopped by a handler, expat may still say OK */
		err = xs->stopped && xs->stop_err ? xs->stop_err : EBADMSG;
	else if (xs->depth != 1 || xs->last != len)
		err = EBADMSG; /* no header, or only part of one */
	xs->priming = false;
	xs->org = base - len;
	xs->mark = len;

out:
	if (err) {
		xs->ended = true;
		xs->end_err = err;
	}
	return err;
}


int xstream_feed(struct xstream *xs, const char *buf, size_t len)
{
	int err = 0;

	if (!xs || (!buf && len))
		return EINVAL;
	if (xs->end_owed) {
		xs->end_owed = false;
		goto out;
	}
	if (xs->ended)
		return xs->end_err;
	while (len) {
		/* expat holds at most max_bytes past the last event */
		uint64_t room = xs->last + xs->max_bytes - xs->nfed;
		size_t n = len;

		if (!room) {
			err = EMSGSIZE;
			break;
		}
		if (n > room)
			n = (size_t)room;
		if (n > INT_MAX)
			n = INT_MAX;
		if (xs->hdr && xs->hdr->end < xs->max_bytes) {
			size_t k = xs->max_bytes - xs->hdr->end;

			err = mbuf_write_mem(xs->hdr, (const uint8_t *)buf,
					     n < k ? n : k);
			if (err)
				break;
		}
		if (xs->nfed < 2 && !utf8_start(xs->nfed, buf, n)) {
			err = EBADMSG;
			break;
		}
		xs->nfed += n;
		/* stopped by a handler, expat may still say OK */
		if (XML_Parse(xs->p, buf, (int)n, XML_FALSE) != XML_STATUS_OK &&
		    !xs->stopped) {
			if (XML_GetErrorCode(xs->p) == XML_ERROR_NO_MEMORY)
				err = ENOMEM;
			else
				err = EBADMSG;
			break;
		}
		if (xs->stopped) {
			err = xs->stop_err;
			break;
		}
		buf += n;
		len -= n;
	}
	if (!err && !xs->stopped)
		return 0;
	xs->stopped = true;
	xs->ended = true;
	xs->end_err = err;

out:
	if (xs->eh)
		xs->eh(xs->end_err, xs->arg);
	return xs->end_err;
}


uint64_t xstream_boundary(const struct xstream *xs)
{
	if (!xs)
		return 0;
	return xs->org + (xs->depth >= 2 ? xs->st_begin : xs->mark);
}


bool xstream_oversize(const struct xstream *xs, uint64_t *startp)
{
	if (!xs || xs->depth < 2 || xs->st_err != EMSGSIZE)
		return false;
	*startp = xs->org + xs->st_begin;
	return true;
}


uint64_t xstream_parsed(const struct xstream *xs)
{
	return xs ? xs->org + xs->last : 0;
}
