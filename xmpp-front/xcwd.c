/**
 * @file xcwd.c  The client sessions' watchdog (xcwd.h).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "xcwd.h"

static volatile sig_atomic_t wd_fd[XCWD_FDS];
static volatile sig_atomic_t wd_n;
static volatile sig_atomic_t wd_fired; /**< in this pump */
static timer_t wd_timer;


static void wd_handler(int sig)
{
	for (sig_atomic_t i = 0; i < wd_n; i++)
		(void)shutdown(wd_fd[i], SHUT_RDWR);
	wd_fired = wd_n > 0;
}


int xcwd_init(void)
{
	struct sigaction sa;
	struct sigevent sev;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wd_handler;
	sigemptyset(&sa.sa_mask);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR2;
	if (sigaction(SIGUSR2, &sa, NULL) ||
	    timer_create(CLOCK_MONOTONIC, &sev, &wd_timer))
		return errno;
	return 0;
}


void xcwd_close(void)
{
	(void)timer_delete(wd_timer);
}


void xcwd_arm(const int *fds, size_t n)
{
	struct itimerspec it = {{0, 0}, {0, XCWD_MAX_MS * 1000000L}};

	wd_n = 0;
	for (size_t i = 0; i < n && i < XCWD_FDS; i++)
		wd_fd[i] = fds[i];
	wd_n = (sig_atomic_t)(n < XCWD_FDS ? n : XCWD_FDS);
	wd_fired = 0;
	(void)timer_settime(wd_timer, 0, &it, NULL);
}


void xcwd_only(int fd)
{
	wd_n = 0;
	wd_fd[0] = fd;
	wd_n = fd >= 0 ? 1 : 0;
}


void xcwd_disarm(void)
{
	struct itimerspec it = {{0, 0}, {0, 0}};

	wd_n = 0;
	(void)timer_settime(wd_timer, 0, &it, NULL);
}


bool xcwd_fired(void)
{
	return wd_fired;
}
