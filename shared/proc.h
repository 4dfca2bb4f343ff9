/**
 * @file proc.h  What every worker does the same way: argv, config, log,
 *               the control channel to the supervisor on fd 3 (PING/PONG,
 *               SHUTDOWN, RELOAD; EOF means the supervisor is gone: exit).
 */
#ifndef XSGW_PROC_H
#define XSGW_PROC_H

#include "chan.h"
#include "config.h"
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
};

/**
 * Parse "-c FILE", load the config (exit 78 on a bad one), set up the log,
 * initialise libre and attach fd 3 if it is open.
 */
void proc_init(struct proc *p, enum proc_id id, int argc, char **argv,
	       proc_shutdown_h *shutdownh, void *arg);

/** Tell the supervisor this worker is ready (MSG_READY). */
void proc_ready(struct proc *p);

/** Run the loop until re_cancel(); returns the exit status. */
int proc_run(struct proc *p);

/** Send MSG_HELLO on a channel. */
int proc_hello(struct proc *p, struct chan *ch, uint64_t acked);


#endif
