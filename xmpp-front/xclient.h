/**
 * @file xclient.h  The phones' client sessions (SPEC 6.3): for every entry
 *                  of presence.phones with a password, the front signs in
 *                  as jid/resource over a client stream (libstrophe,
 *                  STARTTLS as presence.client_tls says) and sends the
 *                  phone's presence from the user's own JID.
 *
 * The translator owns the state: it sends the presence to show
 * (MSG_CLIENT_OUT) whenever it changes and whenever a session tells it
 * that it signed in (MSG_CLIENT_UP). A session keeps the last presence it
 * was given, sends it at sign-in, and never sends the same stanza twice in
 * a row. A lost session reconnects with xmpp.reconnect_backoff_ms. The
 * session reads nothing: an IQ is answered (ping: result, else
 * service-unavailable), a chat to its full JID bounces with
 * service-unavailable, and its priority of -1 keeps chats for the bare JID
 * away from it.
 *
 * libstrophe may wait inside a TLS handshake: a watchdog (SIGALRM) cuts
 * the sessions' sockets when a pump outlasts a few hundred ms, so that
 * one unresponsive server never stalls the front. presence.client_server
 * is a numeric address (config.c): no name lookup blocks the loop.
 *
 * A session is a TLS stream in this process: it does not outlive the
 * process as the component stream does. After a kill -9 of the front the
 * server sees the session end, and the next incarnation signs in again
 * and shows the current state.
 */
#ifndef XSGW_XCLIENT_H
#define XSGW_XCLIENT_H

#include <stddef.h>
#include "config.h"

/** A session signed in (or a new link to the translator found it so). */
typedef void(xclient_up_h)(const char *jid);

/**
 * Start a session per presence.phones entry with a password.
 * @param cfg  lives as long as the sessions
 * @param uph  told each time a session has signed in
 * @return 0 or ENOMEM
 */
int xclient_init(const struct xsgw_config *cfg, xclient_up_h *uph);

/** End every session (a </stream> is sent where it can be). */
void xclient_close(void);

/**
 * The presence jid's session shows from now on.
 * @param jid  the session's full JID
 * @param xml  one <presence/> stanza, without from and to (len bytes;
 *             copied)
 * @return 0 (sent, or kept for the sign-in), ENOENT: no such session, or
 *         ENOMEM
 */
int xclient_show(const char *jid, const char *xml, size_t len);

/** Call uph for every signed-in session (a new link to the translator). */
void xclient_announce(void);

#endif
