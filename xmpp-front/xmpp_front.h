/**
 * @file xmpp_front.h  The XMPP front: an XEP-0114 component (libstrophe)
 *                     pumped from the libre loop.
 */
#ifndef XSGW_XMPP_FRONT_H
#define XSGW_XMPP_FRONT_H

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

#endif
