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
 * @param pidp  the child's pid
 * @param ctlfd the supervisor's end of the control socket
 * @return 0 or errno
 */
int spawn_worker(pid_t *pidp, int *ctlfd, const char *path, const char *config);

/** "exited with code 1", "killed by signal 9 (core dumped)", ... */
void spawn_describe(int status, char *buf, size_t sz);

#endif
