/**
 * @file tr_flush.c  store.sync: periodic — what was committed goes to disk
 *                   every sync_interval_ms, without blocking the loop.
 *
 * The flush is a fdatasync of the store's data file (its writable map's
 * dirty pages are the file's page cache, whoever flushes them). It blocks
 * for milliseconds, so a child forked at start does it and nothing else:
 * it waits for a byte, flushes, answers with the result (an errno, 0 for
 * success). A flush is asked only once the last one answered: an interval
 * that finds one still running is skipped. The child dies with the
 * translator (PR_SET_PDEATHSIG and EOF on its socket), so a SIGKILL of the
 * translator leaves nothing behind. A child lost otherwise is started again
 * at the next interval; if that fails, the flush runs in the loop, as it
 * must happen. A failed flush stops the translator (as before: Linux may
 * have dropped the pages after EIO; the supervisor restarts it, a disk
 * that keeps failing stops the gateway).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <re.h>
#include "log.h"
#include "translator.h"

/* a flush running for this many intervals (at least a second) is logged,
 * again after as long */
enum { SLOW_INTERVALS = 20, SLOW_MIN_MS = 1000 };

static struct {
	int fd;      /**< our end of the child's socket; -1: no child */
	pid_t pid;   /**< the child; 0: none */
	pid_t dying; /**< a child killed, not yet reaped; 0: none */
	bool busy;   /**< a flush asked, not yet answered */
	uint64_t asked, warned; /**< when (tmr_jiffies) */
	uint32_t ms;            /**< sync_interval_ms */
	struct store *store;
	struct tmr tmr;
} fl = {.fd = -1};


/* The child: flush when asked, answer, until the translator is gone. */
static void __attribute__((noreturn))
child_run(pid_t parent, int sock, int data)
{
	char c;
	int r;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0); /* it died before the line above */
	(void)prctl(PR_SET_NAME, "xsgw-flusher");
	/* the translator's signals are not ours: SIGTERM to the process
	 * group (a terminal's ^C) ends it, and the EOF ends us */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		ssize_t n = read(sock, &c, 1);
		if (n == 0)
			_exit(0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		r = fdatasync(data) ? errno : 0;
		if (write(sock, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
	}
}


static void child_reap(void)
{
	if (fl.dying && waitpid(fl.dying, NULL, WNOHANG) != 0)
		fl.dying = 0; /* reaped, or not ours any more */
}


static void child_gone(const char *why)
{
	log_error("store: the flusher is gone (%s); a new one takes the next "
		  "flush",
		  why);
	fd_close(fl.fd);
	close(fl.fd);
	fl.fd = -1;
	fl.busy = false;
	if (fl.pid) {
		/* never wait for it here: a child stuck in the disk dies
		 * only when the disk answers */
		(void)kill(fl.pid, SIGKILL);
		child_reap(); /* an earlier one, if it is gone by now */
		fl.dying = fl.pid;
		child_reap(); /* this one, if it is gone already */
	}
	fl.pid = 0;
}


static void answer_handler(int flags, void *arg)
{
	ssize_t n;
	int r;

	n = read(fl.fd, &r, sizeof(r));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != (ssize_t)sizeof(r)) {
		/* killed with a request unread, it is ECONNRESET here */
		child_gone(n == 0  ? "exited"
			   : n < 0 ? strerror(errno)
				   : "answered short");
		return;
	}
	fl.busy = false;
	if (r)
		fatal(1, "store: flush to disk failed: %s", strerror(r));
}


/* @return 0 or errno (no child then) */
static int child_start(void)
{
	const pid_t parent = getpid();
	int sv[2], data, err;
	pid_t pid;

	err = store_fd(fl.store, &data);
	if (err)
		return err;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return errno;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		/* nothing of the translator's but the file and the socket */
		const int lo = sv[1] < data ? sv[1] : data;
		const int hi = sv[1] < data ? data : sv[1];
		if (lo > 0)
			(void)close_range(0, lo - 1, 0);
		if (hi > lo + 1)
			(void)close_range(lo + 1, hi - 1, 0);
		(void)close_range(hi + 1, ~0U, 0);
		child_run(parent, sv[1], data);
	}
	close(sv[1]);
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	err = fd_listen(sv[0], FD_READ, answer_handler, NULL);
	if (err) {
		close(sv[0]);
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return err;
	}
	fl.fd = sv[0];
	fl.pid = pid;
	return 0;
}


static void tick_handler(void *arg)
{
	static const char c = 0;
	int err;

	tmr_start(&fl.tmr, fl.ms, tick_handler, NULL);
	child_reap();
	if (fl.busy) {
		/* the last one still runs: the first tick after its answer
		 * asks for the rest. A disk that hangs is the operator's to
		 * know (commits go on, in the page cache only). */
		const uint64_t now = tmr_jiffies();
		const uint64_t slow =
			(uint64_t)fl.ms * SLOW_INTERVALS > SLOW_MIN_MS
				? (uint64_t)fl.ms * SLOW_INTERVALS
				: SLOW_MIN_MS;
		if (now - fl.asked >= slow && now - fl.warned >= slow) {
			log_warn("store: a flush to disk has been running for "
				 "%llu ms",
				 (unsigned long long)(now - fl.asked));
			fl.warned = now;
		}
		return;
	}
	if (fl.fd < 0 && child_start()) {
		err = store_flush(fl.store);
		if (err)
			fatal(1, "store: flush to disk failed: %s",
			      strerror(err));
		return;
	}
	if (write(fl.fd, &c, 1) == 1) {
		fl.busy = true;
		fl.asked = tmr_jiffies();
	} else
		child_gone("does not listen");
}


void tr_flush_start(struct store *store, uint32_t interval_ms)
{
	int err;

	fl.store = store;
	fl.ms = interval_ms;
	tmr_init(&fl.tmr);
	err = child_start();
	if (err)
		log_warn("store: no flusher process (%s): flushing in the "
			 "loop",
			 strerror(err));
	tmr_start(&fl.tmr, fl.ms, tick_handler, NULL);
}


void tr_flush_stop(void)
{
	int err;

	tmr_cancel(&fl.tmr);
	if (fl.fd >= 0) {
		fd_close(fl.fd);
		close(fl.fd); /* EOF: it exits after a flush it runs */
		fl.fd = -1;
		(void)waitpid(fl.pid, NULL, 0);
		fl.pid = 0;
	}
	if (!fl.store)
		return;
	/* the last commits, before the store closes */
	err = store_flush(fl.store);
	if (err)
		log_error("store: flush to disk failed: %s", strerror(err));
	fl.store = NULL;
}
