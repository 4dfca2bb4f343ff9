/**
 * @file xresolve.h  The XMPP server's address (xmpp.host) without blocking
 *                   the loop: a numeric address or a name in the hosts file
 *                   at once, else DNS (A, then AAAA; a name without a dot
 *                   with resolv.conf's search domain first, as
 *                   getaddrinfo would), each query given up after 5 s.
 *                   Nothing is cached: each connect asks anew (connects
 *                   are rare and follow the server's DNS).
 */
#ifndef XSGW_XRESOLVE_H
#define XSGW_XRESOLVE_H

#include <stdint.h>
#include "config.h"

struct xresolve;
struct sa;

/** The answer: err 0 and sa (with the port asked), or ENOENT (no such
 * name or no address), ETIMEDOUT, EPROTO (the server failed). */
typedef void(xresolve_h)(int err, const struct sa *sa, void *arg);

/** @return 0 or ENOMEM. The hosts file and DNS client are set up at the
 * first name asked (a numeric xmpp.host needs neither). */
int xresolve_alloc(struct xresolve **xrp);

/**
 * Resolve host. One lookup at a time: a new one ends the last.
 * @return 0 with *sa set (known at once); EINPROGRESS: h is called once,
 *         from the loop, unless xresolve_cancel comes first; ENOENT: not
 *         numeric, not in the hosts file and no DNS server; or dnsc's error
 */
int xresolve_query(struct xresolve *xr, const struct xsgw_config *cfg,
		   const char *host, uint16_t port, struct sa *sa,
		   xresolve_h *h, void *arg);

/** End the lookup under way, if any: its handler is not called. */
void xresolve_cancel(struct xresolve *xr);

/** True while a lookup is under way. */
bool xresolve_busy(const struct xresolve *xr);

#endif
