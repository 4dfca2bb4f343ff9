/**
 * @file spawn.c  fork/exec of workers and exit status text.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "msg.h"
#include "supervisor.h"

/* Above every descriptor number a worker is given (3, 4..4+FD_STORE_MAX-1) */
enum { SPAWN_FD_HIGH = 4 + FD_STORE_MAX };


int spawn_worker(pid_t *pidp, int *ctlfd, const char *path, const char *config,
		 const int *fds, unsigned nfds)
{
	int sv[2];
	pid_t pid;

	if (nfds > FD_STORE_MAX || (nfds && !fds))
		return EINVAL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return errno;
	pid = fork();
	if (pid < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		int ctl, hi[FD_STORE_MAX];
		char n[16];
		sigset_t all;

		setpgid(0, 0);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		/* every source out of the way first: a dup2 to 3 or 4.. must
		 * not clobber one that is still to be moved (the dup2 copies
		 * lose close-on-exec, the high ones are closed below) */
		ctl = fcntl(sv[1], F_DUPFD, SPAWN_FD_HIGH);
		if (ctl < 0)
			_exit(127);
		for (unsigned i = 0; i < nfds; i++) {
			hi[i] = fcntl(fds[i], F_DUPFD, SPAWN_FD_HIGH);
			if (hi[i] < 0)
				_exit(127);
		}
		if (dup2(ctl, 3) < 0)
			_exit(127);
		for (unsigned i = 0; i < nfds; i++)
			if (dup2(hi[i], 4 + (int)i) < 0)
				_exit(127);
		for (int fd = 4 + (int)nfds; fd < 1024; fd++)
			close(fd);
		/* the supervisor is single-threaded: setenv is safe here */
		if (nfds) {
			snprintf(n, sizeof(n), "%u", nfds);
			setenv("XSGW_FDS", n, 1);
		} else {
			unsetenv("XSGW_FDS");
		}
		execl(path, path, "-c", config, (char *)NULL);
		fprintf(stderr, "xsgw: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	*pidp = pid;
	*ctlfd = sv[0];
	return 0;
}


void spawn_describe(int status, char *buf, size_t sz)
{
	if (WIFEXITED(status))
		snprintf(buf, sz, "exited with code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sz, "killed by signal %d%s", WTERMSIG(status),
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, sz, "status 0x%x", status);
}
