/**
 * @file xmpp_front.h  The XMPP front: an XEP-0114 component (libstrophe)
 *                     pumped from the libre loop.
 */
#ifndef XSGW_XMPP_FRONT_H
#define XSGW_XMPP_FRONT_H

#include <stdbool.h>
#include <strophe.h>

/* xmpp_link.c */

/**
 * Work around libstrophe 0.12.2's component-mode crash.
 *
 * xmpp_connect_component() never allocates conn->sm_state (XEP-0198
 * state), but the stanza, send and disconnect paths dereference it, so the
 * process dies right after the server's <handshake/>. A client connect
 * whose sockopt callback vetoes every socket allocates that state through
 * the public API, fails before any packet is sent, and leaves the conn
 * DISCONNECTED and ready for xmpp_connect_component(). Call once on every
 * new conn, after xmpp_conn_set_jid(). Tested in tests/unit/test_xmpp.c.
 */
void xmpp_link_prime(xmpp_conn_t *conn);

/**
 * Deepest nesting the front takes or writes (the stanza itself is 1):
 * libstrophe's serializer and release recurse once per level and die
 * near 100 000 levels; no XMPP extension comes close to 64.
 */
enum { XMPP_LINK_DEPTH_MAX = 64 };

/**
 * True if st nests no deeper than max levels (at most
 * XMPP_LINK_DEPTH_MAX); iterative, so safe at any depth.
 */
bool xmpp_link_depth_ok(xmpp_stanza_t *st, unsigned max);

/**
 * The error answer to a stanza the front refuses (RFC 6120 §8.3), or NULL
 * when none is owed: an error or a result is never answered, a presence
 * only if it asks for one (subscribe, probe). Release it after sending.
 */
xmpp_stanza_t *xmpp_link_refusal(xmpp_ctx_t *ctx, xmpp_stanza_t *st,
				 const char *cond, const char *text);

#endif
