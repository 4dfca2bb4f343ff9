/**
 * @file supervisor.h  The supervisor: starts, watches and restarts the
 *                     workers; answers xsgwctl on control.sock.
 */
#ifndef XSGW_SUPERVISOR_H
#define XSGW_SUPERVISOR_H

#include <sys/types.h>

/* spawn.c */

/**
 * Fork and exec a worker with the control socket as fd 3, in its own
 * process group (a terminal's Ctrl-C reaches only the supervisor).
 *
 * Descriptors in custody are handed over as 4 .. 4+nfds-1, in order, with
 * XSGW_FDS=nfds in its environment (unset when nfds is 0; see proc_init).
 * Nothing else of the supervisor's is inherited: the caller's descriptors
 * stay its own (they should be close-on-exec, for other children).
 * @param pidp  the child's pid
 * @param ctlfd the supervisor's end of the control socket
 * @param fds   nfds descriptors to hand over, or NULL when nfds is 0
 * @param nfds  0..FD_STORE_MAX (msg.h)
 * @return 0 or errno (EINVAL: nfds over FD_STORE_MAX)
 */
int spawn_worker(pid_t *pidp, int *ctlfd, const char *path, const char *config,
		 const int *fds, unsigned nfds);

/** "exited with code 1", "killed by signal 9 (core dumped)", ... */
void spawn_describe(int status, char *buf, size_t sz);

#endif
