/**
 * @file xcout.h  What a phone's client session sends, and what the store
 *                keeps of its stream so that the front's next incarnation
 *                resumes it (XEP-0198; xclient.h says why each number).
 *
 * Every stanza a session sends goes through xcout_send: counted while
 * stream management is on, held while a number is being kept. What is
 * kept is asked with MSG_CLIENT_SM (xcout_keep, again every 2 s until
 * confirmed) and acted on only once the translator confirms it
 * (xcout_confirmed, from MSG_CLIENT_STATE). Nothing here calls back into
 * xclient.c.
 */
#ifndef XSGW_XCOUT_H
#define XSGW_XCOUT_H

#include <stdbool.h>
#include "xclient.h"
#include "xcsess.h"

/** Where keeps go (the front's tlink). */
void xcout_init(xclient_keep_h *keeph);

/** Ask the store to keep s's smid, h_in, k and kxml (s->keeping). */
void xcout_keep(struct xsess *s);

/**
 * Number kxml (NULL: none) as the next stanza sent and keep it; counted
 * stanzas are held until confirmed (s->wait_k); an unsent kxml goes out
 * then. kxml is referenced (mem_ref), not copied.
 */
void xcout_number(struct xsess *s, char *kxml, bool unsent);

/** The presence numbered k may not have reached the server: the number
 * is void (K_VOID), kept before anything counted goes out. */
void xcout_void(struct xsess *s);

/** Send a stanza (NUL-terminated text), or hold it (s->wait_k). */
void xcout_send(struct xsess *s, const char *xml);
void xcout_send_stanza(struct xsess *s, xmpp_stanza_t *st);

/** Forget the stanzas held (the connection is gone). */
void xcout_drop(struct xsess *s);

/** Show s->want if it is not shown (numbered first under stream
 * management); a new session shows no unavailable. Up sessions only. */
void xcout_show(struct xsess *s);

/**
 * MSG_CLIENT_STATE for s: what it confirms is acted on (an <a/> owed, a
 * presence numbered, the stanzas held).
 * @return true if something was written (the caller pumps libstrophe)
 */
bool xcout_confirmed(struct xsess *s, const struct m_client_sm *m);

/** A stanza from the server handled (counted under stream management). */
void xcout_handled(struct xsess *s);

/** <r/>: answered with the h the store keeps, at once or once kept. */
void xcout_r(struct xsess *s);

#endif
