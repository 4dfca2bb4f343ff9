/**
 * @file proc.h  What every worker does the same way: argv, config, log,
 *               the control channel to the supervisor on fd 3 (PING/PONG,
 *               SHUTDOWN, RELOAD; EOF means the supervisor is gone: exit).
 */
#ifndef XSGW_PROC_H
#define XSGW_PROC_H

#include "chan.h"
#include "config.h"
#include "msg.h"
#include "util.h"

/**
 * Called on MSG_SHUTDOWN and MSG_RESTART (proc.restarting tells which) and
 * on SIGTERM/SIGINT: stop gracefully, then call re_cancel().
 */
typedef void(proc_shutdown_h)(void *arg);
/** A worker-specific frame from the supervisor. @return 0 or EBADMSG */
typedef int(proc_frame_h)(struct frame *fr, void *arg);

struct proc {
	enum proc_id id;
	struct xsgw_config *cfg;
	struct chan *ctl; /**< fd 3, NULL when run by hand */
	proc_shutdown_h *shutdownh;
	proc_frame_h *frameh; /**< other supervisor frames, or NULL */
	void *arg;
	uint64_t boot; /**< random id of this incarnation */
	/** the stop asked for is a restart (MSG_RESTART): keep what the next
	 * incarnation takes over (descriptors in the supervisor's custody) */
	bool restarting;
	/** descriptors the previous incarnation left in the supervisor's
	 * custody, handed over at start (proc_fds_taken) */
	int fds[FD_STORE_MAX];
	unsigned nfds;
};

/**
 * Parse "-c FILE", load the config (exit 78 on a bad one), set up the log,
 * initialise libre and attach fd 3 if it is open.
 *
 * Descriptors handed over by the supervisor (XSGW_FDS=n in the environment:
 * descriptors 4 .. 4+n-1, n 1..FD_STORE_MAX, in the order they were stored)
 * are checked, made close-on-exec and kept for proc_fds_taken(); XSGW_FDS is
 * removed from the environment. A bad XSGW_FDS, or one of the n that is not
 * open, hands over nothing (logged; those that are open are closed).
 */
void proc_init(struct proc *p, enum proc_id id, int argc, char **argv,
	       proc_shutdown_h *shutdownh, void *arg);

/** Tell the supervisor this worker is ready (MSG_READY). */
void proc_ready(struct proc *p);

/** Run the loop until re_cancel(); returns the exit status. */
int proc_run(struct proc *p);

/**
 * Take the descriptors handed over at start (see proc_init), in the order
 * the previous incarnation stored them. They are the caller's from now
 * (close-on-exec); a second call returns 0.
 * @param fds  receives them
 * @param max  room in fds; any beyond it are closed
 * @return how many were written to fds (0: nothing was handed over)
 */
unsigned proc_fds_taken(struct proc *p, int *fds, unsigned max);

/**
 * Leave descriptors in the supervisor's custody (MSG_FD_STORE): it holds
 * duplicates, never reads or writes them, and hands them to this worker's
 * next incarnation (a restart, a crash, a kill by the heartbeat) through
 * proc_init. Each call replaces what it held for this worker; n 0 releases
 * it all (closed by the supervisor). They are closed when the gateway
 * stops, after this worker has exited: to end a connection, shut it down
 * (shutdown(2)) before exiting. The caller keeps its own descriptors.
 * @param fds  n open descriptors
 * @param n    0..FD_STORE_MAX
 * @return 0, ENOTCONN if there is no supervisor (run by hand), EINVAL,
 *         or chan_send_fds's errors
 */
int proc_fd_store(struct proc *p, const int *fds, unsigned n);

/** Send MSG_HELLO on a channel. */
int proc_hello(struct proc *p, struct chan *ch, uint64_t acked);


#endif
