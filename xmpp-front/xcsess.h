/**
 * @file xcsess.h  A phone's client session as the files of the xmpp-front
 *                 that drive it share it (xclient.c: the stream and the
 *                 session's life; xcout.c: what goes out and what the
 *                 store keeps). Not an interface for anything else.
 */
#ifndef XSGW_XCSESS_H
#define XSGW_XCSESS_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include <strophe.h>
#include "config.h"
#include "xsasl.h"

#define NS_SM "urn:xmpp:sm:3"
/** k of a presence that may or may not have reached the server */
#define K_VOID UINT32_MAX

enum xs_phase {
	XS_WAIT = 0, /**< for MSG_CLIENT_STATE */
	XS_IDLE,     /**< between attempts */
	XS_OPENING,  /**< connecting, or a stream header sent */
	XS_OPEN,     /**< the server's header came: features next */
	XS_TLS,      /**< <starttls/> sent */
	XS_AUTH,     /**< <auth/> sent */
	XS_RESUME,   /**< <resume/> sent */
	XS_BIND,     /**< the bind IQ sent */
	XS_ENABLE,   /**< <enable/> sent */
	XS_UP,       /**< signed in */
};

/** One phone's session. */
struct xsess {
	struct le le;
	const struct cfg_presphone *ph;
	char *jid;         /**< jid/resource */
	xmpp_conn_t *conn; /**< NULL between attempts */
	int fd;            /**< the socket libstrophe uses, or -1 */
	enum xs_phase phase;
	bool tls;      /**< this connection is TLS */
	bool authed;   /**< SASL succeeded on this connection */
	bool offer_sm; /**< the server's features offer XEP-0198 */
	bool scram;    /**< SCRAM-SHA-1 under way (else PLAIN) */
	struct xsasl_scram sc;
	bool was_up;      /**< up on this connection */
	bool streak;      /**< failing since the last sign-in (logged) */
	bool refused;     /**< the server said no: the long backoff */
	bool conflict;    /**< another client took the resource */
	const char *fail; /**< why we ended the connection ourselves */
	char failbuf[96]; /**< a server's condition fail points to */
	/* what the store keeps (MSG_CLIENT_STATE, MSG_CLIENT_SM) */
	char *smid;      /**< resumption id, "" none */
	uint32_t h_kept; /**< the h the store has */
	uint32_t k;      /**< the number kxml has (or will have), 0 none */
	char *kxml;
	/* this stream's stream management */
	bool sm;           /**< on: stanzas are counted */
	uint32_t h_in;     /**< stanzas handled */
	uint32_t out_nr;   /**< stanzas sent */
	bool owe_a;        /**< an <r/> waits for h to be kept */
	bool keeping;      /**< a MSG_CLIENT_SM with keep_h not yet
			      confirmed (MSG_CLIENT_STATE) */
	uint32_t keep_h;   /**< the h it carries */
	bool wait_k;       /**< (k, kxml) not yet confirmed: counted stanzas
			      are held until it is */
	bool unsent;       /**< kxml goes out once confirmed */
	struct list held;  /**< stanzas held */
	struct tmr rekeep; /**< ask again: a confirmation may not come */
	bool fresh; /**< a new session (bound, not resumed): shows nothing
		       until there is something to show */
	char *want; /**< the presence to show; NULL: none yet */
	char *sent; /**< the last one sent; NULL: none or unknown */
	unsigned attempts;
	struct tmr retry, step;
};


#endif
