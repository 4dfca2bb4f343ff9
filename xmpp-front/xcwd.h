/**
 * @file xcwd.h  The client sessions' watchdog. libstrophe 0.12 waits
 *               inside xmpp_run_once() during a TLS handshake (tls_start
 *               loops until the server answers, with no limit), which
 *               would stall the whole front until the supervisor's
 *               heartbeat kills it. A pump that outlasts XCWD_MAX_MS gets
 *               the sockets it was armed with shut down from a signal
 *               handler (shutdown() is async-signal-safe): the handshake
 *               fails at once, the session reconnects with its backoff,
 *               the loop goes on. A POSIX timer on SIGUSR2 (libre's
 *               re_main takes SIGALRM).
 */
#ifndef XSGW_XCWD_H
#define XSGW_XCWD_H

#include <stdbool.h>
#include <stddef.h>

enum { XCWD_MAX_MS = 500, /**< below a heartbeat */ XCWD_FDS = 64 };

/** @return 0 or errno (the signal handler or the timer) */
int xcwd_init(void);
/** After the last pump. */
void xcwd_close(void);
/** Before a pump: cut these sockets (at most XCWD_FDS) if it outlasts
 * XCWD_MAX_MS. */
void xcwd_arm(const int *fds, size_t n);
/** Within a pump, before a call that blocks for one session: cut only
 * its socket. */
void xcwd_only(int fd);
/** After a pump. */
void xcwd_disarm(void);
/** Did it cut in the last pump? */
bool xcwd_fired(void);

#endif
