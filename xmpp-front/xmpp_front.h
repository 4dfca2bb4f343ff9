/**
 * @file xmpp_front.h  The XMPP front: an XEP-0114 component on a stream
 *                     that outlives the process (xmpp_front.c).
 */
#ifndef XSGW_XMPP_FRONT_H
#define XSGW_XMPP_FRONT_H

#include <stdbool.h>
#include <strophe.h>

/* xmpp_link.c */

/**
 * Deepest nesting the front takes or writes (the stanza itself is 1):
 * libstrophe's serializer and release recurse once per level and die
 * near 100 000 levels; no XMPP extension comes close to 64. The parser
 * (xstream.c) stops building deeper stanzas.
 */
enum { XMPP_LINK_DEPTH_MAX = 64 };

/**
 * The error answer to a stanza the front refuses (RFC 6120 §8.3), or NULL
 * when none is owed: an error or a result is never answered, a presence
 * only if it asks for one (subscribe, probe). Release it after sending.
 */
xmpp_stanza_t *xmpp_link_refusal(xmpp_ctx_t *ctx, xmpp_stanza_t *st,
				 const char *cond, const char *text);

#endif
