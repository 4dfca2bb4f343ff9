/**
 * @file xclient.h  The phones' client sessions (SPEC 6.3): for every entry
 *                  of presence.phones with a password, the front signs in
 *                  as jid/resource over a client stream and sends the
 *                  phone's presence from the user's own JID.
 *
 * The translator owns the state: it sends the presence to show
 * (MSG_CLIENT_OUT) whenever it changes and whenever the front asks
 * (MSG_CLIENT_UP: on each new link to the translator, for every session,
 * and at each sign-in), with what the store keeps of the session's stream
 * (MSG_CLIENT_STATE). A session keeps the last presence it was given,
 * sends it once signed in, and never sends the same stanza twice in a row.
 * A lost session reconnects with xmpp.reconnect_backoff_ms. The session
 * reads nothing: an IQ is answered (ping: result, else
 * service-unavailable), a chat to its full JID bounces with
 * service-unavailable, and its priority of -1 keeps chats for the bare JID
 * away from it.
 *
 * The stream is libstrophe's raw mode (TCP, TLS, XML framing); STARTTLS,
 * SASL (SCRAM-SHA-1, else PLAIN: xsasl.h), bind and stream management
 * (XEP-0198) are done here. With a server that offers resumption, the
 * session outlives the front: the server keeps it while no connection
 * holds it, and the next incarnation resumes it (its contacts see
 * nothing). That needs three numbers kept in the store before anything
 * that depends on them goes out (MSG_CLIENT_SM): the resumption id; the
 * count of stanzas handled that an <a/> tells the server (a lower count
 * after a resumption would make the server refuse it); and the number a
 * presence will have among the stanzas sent, so that after a resumption
 * the server's count tells whether it got it (sent again only if not).
 * Stanzas handled but not yet counted in the store come again after a
 * resumption (a ping answered twice).
 *
 * libstrophe waits inside a TLS handshake: a watchdog (SIGUSR2) cuts the
 * sessions' sockets when a pump outlasts a few hundred ms, so that one
 * unresponsive server never stalls the front. presence.client_server is a
 * numeric address (config.c): no name lookup blocks the loop.
 */
#ifndef XSGW_XCLIENT_H
#define XSGW_XCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct m_client_sm;

/** Ask the translator for jid's session (MSG_CLIENT_UP). */
typedef void(xclient_up_h)(const char *jid);
/**
 * Have m kept in the store (MSG_CLIENT_SM, reliable); the translator
 * confirms with MSG_CLIENT_STATE (xclient_state), which is what the
 * session acts on (an acknowledgement of the frame is not enough: a
 * frame can be applied without being kept, in a refused batch).
 * @return 0 or an error (the session asks again later)
 */
typedef int(xclient_keep_h)(const struct m_client_sm *m);

/**
 * Make a session per presence.phones entry with a password. A session
 * waits for its MSG_CLIENT_STATE (xclient_state) before it connects.
 * @param cfg    lives as long as the sessions
 * @param uph    asks for a session's state and presence
 * @param keeph  keeps a session's stream state
 * @return 0 or ENOMEM
 */
int xclient_init(const struct xsgw_config *cfg, xclient_up_h *uph,
		 xclient_keep_h *keeph);

/**
 * End every session: a resumable one is left to the server (its socket
 * just closed), so that the next incarnation or the next start of the
 * gateway resumes it; any other ends with </stream>.
 */
void xclient_close(void);

/** MSG_CLIENT_STATE: what the store keeps of m->jid's session. A session
 * waiting for it connects; a session under way takes it as the
 * confirmation of what it asked to keep. */
void xclient_state(const struct m_client_sm *m);

/**
 * The presence jid's session shows from now on.
 * @param jid  the session's full JID
 * @param xml  one <presence/> stanza, without from and to (len bytes;
 *             copied)
 * @return 0 (sent, or kept for the sign-in), ENOENT: no such session, or
 *         ENOMEM
 */
int xclient_show(const char *jid, const char *xml, size_t len);

/** Call uph for every session (a new link to the translator). */
void xclient_announce(void);

#endif
