/**
 * @file xparse.h  One stanza's XML text to a libstrophe stanza, with one
 *                 expat parser kept for the life of the process.
 *
 * xmpp_stanza_new_from_string() creates and frees an expat parser for
 * every stanza (its hash tables, and a getrandom(2) for their salt): the
 * translator parses every stanza the xmpp-front hands it and several it
 * stored, and that was a sixth of its CPU per call (perf, issue 13).
 * The tree built is the one libstrophe's own parser builds: every element
 * with a namespace carries it as its "xmlns" attribute (inherited ones
 * too), namespaced attributes lose their namespace, adjacent character
 * data is one text child.
 *
 * Not re-entrant (one parser per process; the gateway has no threads).
 */
#ifndef XSGW_XPARSE_H
#define XSGW_XPARSE_H

#include <stddef.h>
#include <strophe.h>

/**
 * Parse one element (a stanza, or any element stored as text).
 * @param ctx  the libstrophe context the stanza belongs to
 * @param xml  the element's text; need not be NUL-terminated
 * @param len  its length in bytes
 * @return a new stanza (the caller releases it), or NULL: not well-formed
 *         XML, not exactly one element, a DOCTYPE (no entity may be
 *         declared), or out of memory
 */
xmpp_stanza_t *xparse_stanza(xmpp_ctx_t *ctx, const char *xml, size_t len);

/** Free the parser (at exit, for leak checkers). */
void xparse_close(void);

#endif
