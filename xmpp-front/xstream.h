/**
 * @file xstream.h  An incremental XMPP stream parser (expat) that knows the
 *                  stream byte offset where every stanza ends.
 *
 * The xmpp-front reads the component socket with MSG_PEEK and consumes
 * bytes only once the stanza they carry is committed; a restarted process
 * resumes at a stanza boundary with a parser primed with the stream header
 * (xstream_prime). Each top-level element (a stanza, or a stream-level
 * element such as <handshake/> or <stream:error/>) is handed over as a
 * libstrophe stanza with the offset just past its last byte.
 *
 * Offsets are absolute stream offsets: base (xstream_start, xstream_prime)
 * plus the bytes fed since. Results do not depend on how the bytes are
 * split across xstream_feed calls.
 *
 * Only XMPP's restricted XML is taken (RFC 6120 §11.1): no DTD or entity
 * declaration, no comment, no processing instruction; between stanzas
 * only whitespace. The stream is UTF-8 whatever the XML declaration says
 * (RFC 6120 §11.6), and begins with '<' (no byte order mark).
 */
#ifndef XSGW_XSTREAM_H
#define XSGW_XSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

struct xstream;

/**
 * The server's stream header: hdr = the raw bytes from the start of the
 * stream (XML declaration included) to the '>' of <stream:stream ...>;
 * id = its id attribute ("" if none). Not called for a primed parser.
 */
typedef void(xstream_header_h)(const char *hdr, size_t len, const char *id,
			       void *arg);

/**
 * A top-level element ended at stream offset end (just past its last byte).
 * err 0: st is the whole element; EMSGSIZE: it was longer than max_bytes,
 * E2BIG: nested deeper than max_depth — st is then the top element alone
 * (name and attributes, no children), for an error reply. st is released
 * by the parser after the call (the handler may xmpp_stanza_clone it).
 *
 * Namespaces are rebuilt for libstrophe (xmpp_stanza_get_ns,
 * xmpp_stanza_to_text): st has xmlns set to its namespace (a stanza
 * inherits the stream's default namespace, e.g. jabber:component:accept;
 * <stream:error/> is "error" in http://etherx.jabber.org/streams); a child
 * has xmlns only where its namespace differs from its parent's (xmlns=""
 * for none). Element prefixes are dropped; an attribute keeps its prefix,
 * xml:lang as "xml:lang", any other with an xmlns:prefix declaration on
 * its element.
 * Each run of character data is one text child.
 */
typedef void(xstream_stanza_h)(xmpp_stanza_t *st, uint64_t end, int err,
			       void *arg);

/**
 * The stream ended; nothing more is reported, and xstream_feed returns err
 * without parsing until xstream_start or xstream_prime.
 * @param err  0 for </stream:stream>;
 *             EBADMSG if not well-formed XML or not an XMPP stream (a
 *             DOCTYPE or entity declaration, a comment or processing
 *             instruction, a root other than stream:stream in
 *             http://etherx.jabber.org/streams, anything but whitespace
 *             between stanzas, an element in the xml: namespace, not
 *             UTF-8 or not starting with '<');
 *             EMSGSIZE if more than max_bytes bytes go by with nothing
 *             complete in them: one tag (with its attributes) or the
 *             header longer than max_bytes — the parser would have to hold
 *             it — or, in a stanza already longer than max_bytes, an
 *             element opened deeper than max_depth (the open elements
 *             would have to be held);
 *             ENOMEM
 */
typedef void(xstream_end_h)(int err, void *arg);

/**
 * Allocate a parser, ready as after xstream_start(xs, 0).
 *
 * The handlers run from xstream_feed. A handler must not mem_deref the
 * parser, nor call xstream_start, xstream_prime or xstream_feed on it
 * (xstream_boundary is fine); set a flag and act after xstream_feed.
 *
 * @param xsp        the new parser, freed with mem_deref
 * @param ctx        libstrophe context for the stanzas built
 * @param max_bytes  longest stanza built whole (bytes from its '<' to the
 *                   end of its end tag), and longest tag or header taken
 *                   at all (xstream_end_h); at least 1
 * @param max_depth  deepest nesting built, the stanza itself is 1 (the
 *                   stanza trees handed over are never deeper, for
 *                   libstrophe's recursive serializer); at least 1
 * @param hh         stream header handler, or NULL
 * @param sh         stanza handler
 * @param eh         end handler, or NULL
 * @return 0, EINVAL or ENOMEM
 */
int xstream_alloc(struct xstream **xsp, xmpp_ctx_t *ctx, size_t max_bytes,
		  unsigned max_depth, xstream_header_h *hh,
		  xstream_stanza_h *sh, xstream_end_h *eh, void *arg);

/**
 * A new stream whose first byte is at stream offset base. Whatever the
 * parser was doing is dropped without a report.
 */
void xstream_start(struct xstream *xs, uint64_t base);

/**
 * Resume a stream: parse the stored header (as given to the header handler
 * before, not reported again); the next byte fed is at stream offset base,
 * and must be at a stanza boundary (xstream_boundary). Whatever the parser
 * was doing is dropped without a report.
 * @return 0 or EBADMSG (bad header: not exactly one stream header; the
 *         end handler is not called, xstream_feed returns EBADMSG), ENOMEM
 */
int xstream_prime(struct xstream *xs, const char *hdr, size_t len,
		  uint64_t base);

/**
 * Parse the next len bytes (any split: a torn read mid-tag or mid-UTF-8
 * character is fine). The header, stanza and end handlers run from here.
 * @return 0, or the error the end handler got (also on every call after
 *         the end; 0 after </stream:stream>)
 */
int xstream_feed(struct xstream *xs, const char *buf, size_t len);

/**
 * The offset where the element in progress began (the stream start while
 * the header is incomplete), or, between elements, the offset just past
 * the last byte parsed to the end: every byte before it belongs to a
 * reported element, the header or whitespace between them, and parsing
 * can resume there (xstream_prime). Between elements it is the offset of
 * the next byte to feed, unless the last feed ended in a torn tag (or a
 * CR, which may begin a CR LF): then it is where that began.
 */
uint64_t xstream_boundary(const struct xstream *xs);

/**
 * True while the element in progress is already longer than max_bytes (it
 * will be reported EMSGSIZE): its content is not kept, so its bytes may be
 * dropped as they are parsed. @param startp  its first byte's offset
 */
bool xstream_oversize(const struct xstream *xs, uint64_t *startp);

/** The offset just past the last event parsed (inside an element too). */
uint64_t xstream_parsed(const struct xstream *xs);

#endif
