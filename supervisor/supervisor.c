/**
 * @file supervisor.c  xsgw: the supervisor. It only supervises (s6):
 *
 *  - start order: the translator, then (once it is ready) both fronts;
 *  - restart any worker that exits or misses three heartbeats, after a
 *    capped, jittered backoff; a worker that was ready for a while is
 *    restarted at once;
 *  - give up (stop everything, exit 1) after supervisor.max_deaths deaths
 *    within supervisor.death_window_s, or at once on exit status 78 (bad
 *    configuration: a restart cannot fix it);
 *  - SIGTERM/SIGINT stop the fronts, then the translator; SIGHUP checks the
 *    config and tells the workers to reload it;
 *  - hold the descriptors a worker leaves in custody (MSG_FD_STORE: its
 *    component connection, say) and hand them to its next incarnation,
 *    whatever ended the last one (xsgwctl restart, a crash, a kill by the
 *    heartbeat). They are never read or written here; they are closed when
 *    the worker releases them, or when the gateway stops, once that worker
 *    has exited;
 *  - run where supervisor.cpus says: set on itself at start, inherited by
 *    every worker it starts (and their children).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <re.h>
#include "backoff.h"
#include "chan.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "supervisor.h"
#include "util.h"

enum { HB_MISSES = 3, STABLE_MS = 10000 };

/* sv.stopping: the SIGTERM phases, in order */
enum { STOP_NONE = 0, STOP_FRONTS, STOP_TRANSLATOR, STOP_DONE };

struct worker {
	/* static */
	enum proc_id id;
	const char *bin;
	enum proc_id start_after; /* start once it is READY; SUPERVISOR: boot */
	int stop_phase;           /* stop in this sv.stopping phase */
	/* runtime */
	pid_t pid;
	struct chan *ctl;
	bool ready;
	bool stopping;      /* SHUTDOWN sent: its grace timer runs */
	bool restart_asked; /* xsgwctl restart: not a failure */
	uint64_t started, ready_at;
	unsigned restarts, fails, missed;
	char last_exit[64];
	struct tmr tmr; /* restart delay, ready timeout, or stop grace */
	int held[FD_STORE_MAX]; /* in custody for its next incarnation */
	unsigned nheld;
};

/* The workers; xsgwctl status lists them in this order. */
static struct worker workers[] = {
	{.id = PROC_TRANSLATOR,
	 .bin = "xsgw-translator",
	 .start_after = PROC_SUPERVISOR,
	 .stop_phase = STOP_TRANSLATOR},
	{.id = PROC_XMPP_FRONT,
	 .bin = "xsgw-xmpp-front",
	 .start_after = PROC_TRANSLATOR,
	 .stop_phase = STOP_FRONTS},
	{.id = PROC_SIP_FRONT,
	 .bin = "xsgw-sip-front",
	 .start_after = PROC_TRANSLATOR,
	 .stop_phase = STOP_FRONTS},
};

#define NWORKERS (sizeof(workers) / sizeof(workers[0]))

static struct {
	struct xsgw_config *cfg;
	char cfgpath[4096];
	char bindir[4096];
	struct tally deaths;
	struct tmr hb;
	int sigpipe[2];
	int ctlfd;
	int stopping; /* STOP_NONE running, else the phase */
	int exit_code;
	uint64_t started;
} sv;

static void worker_start(struct worker *w);
static void stop_step(void);


static struct worker *worker_by_id(enum proc_id id)
{
	for (size_t i = 0; i < NWORKERS; i++)
		if (workers[i].id == id)
			return &workers[i];
	return NULL;
}


static void worker_kill(struct worker *w, int sig)
{
	if (w->pid > 0)
		kill(w->pid, sig);
}


/* Close what is held for w. */
static void worker_fds_drop(struct worker *w)
{
	if (!w->nheld)
		return;
	for (unsigned i = 0; i < w->nheld; i++)
		close(w->held[i]);
	log_info("%s: closed the %u descriptor(s) held for it",
		 proc_name(w->id), w->nheld);
	w->nheld = 0;
}


/* MSG_FD_STORE: what w holds from now, replacing what it held. */
static int worker_fds_store(struct worker *w, struct chan *ch, struct frame *fr)
{
	struct m_fd_store m;
	int fds[FD_STORE_MAX];
	unsigned n = 0;
	int err = 0;

	if (msg_dec_fd_store(fr, &m))
		return EBADMSG;
	for (; n < m.nfds; n++) {
		fds[n] = chan_fd_take(ch); /* close-on-exec */
		if (fds[n] < 0) {
			err = EBADMSG; /* fewer than it says */
			goto out;
		}
	}
	for (unsigned i = 0; i < w->nheld; i++)
		close(w->held[i]);
	memcpy(w->held, fds, n * sizeof(fds[0]));
	w->nheld = n;
	n = 0;
	log_info("%s: holding %u descriptor(s) for it", proc_name(w->id),
		 w->nheld);
out:
	while (n--)
		close(fds[n]);
	return err;
}


static void stop_all(int code, const char *why)
{
	if (sv.stopping)
		return;
	log_info("stopping: %s", why);
	sv.exit_code = code;
	sv.stopping = STOP_FRONTS;
	stop_step();
}


/* Start the workers that wait for after (PROC_SUPERVISOR: at boot). */
static void start_dependents(enum proc_id after)
{
	if (sv.stopping)
		return;
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *d = &workers[i];
		if (d->start_after == after && !d->pid &&
		    !tmr_isrunning(&d->tmr))
			worker_start(d);
	}
}


static int supervisor_dispatch_worker(struct chan *ch, struct frame *fr,
				      void *arg)
{
	struct worker *w = arg;
	struct m_ping pong;

	/* the last frames of an incarnation that has exited (chan_drain in
	 * worker_died): only what it left in custody still matters */
	if (!w->pid && fr->type != MSG_FD_STORE)
		return 0;
	switch (fr->type) {
	case MSG_FD_STORE:
		return worker_fds_store(w, ch, fr);
	case MSG_READY:
		if (msg_dec_empty(fr))
			return EBADMSG;
		w->ready = true;
		w->ready_at = now_ms();
		if (!w->stopping)
			tmr_cancel(&w->tmr); /* the ready timeout, not the
						stop grace */
		log_info("%s ready (pid %d)", proc_name(w->id), (int)w->pid);
		start_dependents(w->id);
		return 0;
	case MSG_PONG:
		if (msg_dec_ping(fr, &pong))
			return EBADMSG;
		w->missed = 0;
		return 0;
	default:
		return EBADMSG;
	}
}


static void supervisor_close_worker(struct chan *ch, int err, void *arg)
{
	struct worker *w = arg;

	/* the process is reaped through SIGCHLD; a worker of another release
	 * is an installation error (restarting it cannot help); any other
	 * protocol error means the worker is broken: end it */
	if (err == EPROTO && chan_peer_version(ch)) {
		stop_all(EXIT_CONFIG, "a worker of another release");
	} else if (err && w->pid > 0) {
		log_warn("%s: control channel error; killing it",
			 proc_name(w->id));
		worker_kill(w, SIGKILL);
	}
	if (w->ctl == ch)
		w->ctl = NULL;
	mem_deref(ch);
}


static void ready_timeout_handler(void *arg)
{
	struct worker *w = arg;

	log_error("%s not ready in %u ms; killing it", proc_name(w->id),
		  sv.cfg->supervisor.ready_timeout_ms);
	worker_kill(w, SIGKILL);
}


static void worker_start(struct worker *w)
{
	char path[4200];
	int fd, err;

	if (sv.stopping || w->pid)
		return;
	snprintf(path, sizeof(path), "%s/%s", sv.bindir, w->bin);
	err = spawn_worker(&w->pid, &fd, path, sv.cfgpath, w->held, w->nheld);
	if (err) {
		log_error("cannot start %s: %s", path, strerror(err));
		stop_all(1, "cannot fork");
		return;
	}
	err = chan_alloc(&w->ctl, fd, proc_name(w->id),
			 supervisor_dispatch_worker, NULL,
			 supervisor_close_worker, w);
	if (err) {
		close(fd);
		worker_kill(w, SIGKILL);
	}
	w->ready = false;
	w->stopping = false;
	w->missed = 0;
	w->started = now_ms();
	if (w->nheld)
		log_info("started %s (pid %d), handing over %u descriptor(s)",
			 proc_name(w->id), (int)w->pid, w->nheld);
	else
		log_info("started %s (pid %d)", proc_name(w->id), (int)w->pid);
	tmr_start(&w->tmr, sv.cfg->supervisor.ready_timeout_ms,
		  ready_timeout_handler, w);
}


static void restart_handler(void *arg)
{
	struct worker *w = arg;

	w->restarts++;
	worker_start(w);
}


static void worker_died(struct worker *w, int status)
{
	uint64_t now = now_ms(), delay = 0;
	bool asked = w->restart_asked;
	unsigned n;

	spawn_describe(status, w->last_exit, sizeof(w->last_exit));
	tmr_cancel(&w->tmr);
	w->pid = 0;
	/* SIGCHLD may come before the last frames are read: a MSG_FD_STORE
	 * sent just before exiting is still taken */
	chan_drain(w->ctl);
	w->ctl = mem_deref(w->ctl);
	w->stopping = false;
	w->restart_asked = false;
	if (sv.stopping) {
		log_info("%s %s", proc_name(w->id), w->last_exit);
		stop_step();
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CONFIG) {
		log_error("%s %s (configuration error): not restarting",
			  proc_name(w->id), w->last_exit);
		stop_all(EXIT_CONFIG, "configuration error");
		return;
	}
	if (asked) {
		log_info("%s %s; restarting as asked", proc_name(w->id),
			 w->last_exit);
		restart_handler(w);
		return;
	}
	n = tally_add(&sv.deaths, now,
		      sv.cfg->supervisor.death_window_s * 1000ULL);
	log_warn("%s %s (%u death(s) in %us)", proc_name(w->id), w->last_exit,
		 n, sv.cfg->supervisor.death_window_s);
	if (n >= sv.cfg->supervisor.max_deaths) {
		stop_all(1, "too many worker deaths; giving up");
		return;
	}
	if (w->ready && now - w->ready_at >= STABLE_MS)
		w->fails = 0;
	if (w->fails)
		delay = backoff_delay(sv.cfg->supervisor.restart_backoff_ms[0],
				      sv.cfg->supervisor.restart_backoff_ms[1],
				      w->fails - 1, (uint32_t)random_u64());
	w->fails++;
	tmr_start(&w->tmr, delay, restart_handler, w);
}


static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < NWORKERS; i++)
			if (workers[i].pid == pid)
				worker_died(&workers[i], status);
	}
}


/* supervisor.cpus: on this process, inherited by every worker it starts
 * (one call places them all). The kernel keeps only the CPUs online and
 * allowed here (cpusets): fewer is said, none is a configuration error. */
static void cpus_apply(const cpu_set_t *want)
{
	cpu_set_t got;

	if (sched_setaffinity(0, sizeof(*want), want))
		fatal(EXIT_CONFIG,
		      "config: supervisor.cpus: none of them is online and "
		      "allowed for this process (%s)",
		      strerror(errno));
	if (!sched_getaffinity(0, sizeof(got), &got) &&
	    CPU_COUNT(&got) < CPU_COUNT(want))
		log_warn("config: supervisor.cpus: the processes run on %d of "
			 "the %d CPUs listed (the others are offline or not "
			 "allowed here)",
			 CPU_COUNT(&got), CPU_COUNT(want));
}


static void reload(void)
{
	struct fbuf fb = {0};
	struct xsgw_config *nc;
	char eb[512];

	if (config_load(&nc, sv.cfgpath, eb, sizeof(eb))) {
		log_error("reload refused: %s", eb);
		return;
	}
	log_setup(nc->log.level, nc->log.json);
	if (nc->supervisor.cpus.on != sv.cfg->supervisor.cpus.on ||
	    (nc->supervisor.cpus.on &&
	     !CPU_EQUAL(&nc->supervisor.cpus.set,
			&sv.cfg->supervisor.cpus.set)))
		log_warn("config: supervisor.cpus changed: it takes effect "
			 "when the gateway restarts");
	/* what the processes inherit stays what they were started with */
	nc->supervisor.cpus = sv.cfg->supervisor.cpus;
	config_free(sv.cfg);
	sv.cfg = nc;
	for (size_t i = 0; i < NWORKERS; i++)
		if (workers[i].ctl)
			chan_send_msg(workers[i].ctl, &fb,
				      msg_enc_empty(&fb, MSG_RELOAD));
	log_info("configuration reloaded");
}


static void sigpipe_handler(int flags, void *arg)
{
	char buf[64];
	ssize_t n = read(sv.sigpipe[0], buf, sizeof(buf));

	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == SIGCHLD)
			reap();
		else if (buf[i] == SIGHUP)
			reload();
	}
}


static void signal_to_pipe(int sig)
{
	char c = (char)sig;
	int saved = errno;

	(void)!write(sv.sigpipe[1], &c, 1);
	errno = saved;
}


static void heartbeat_handler(void *arg)
{
	struct fbuf fb = {0};

	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];
		if (!w->pid || !w->ready || !w->ctl)
			continue;
		if (w->missed >= HB_MISSES) {
			log_error("%s missed %u heartbeats; killing it",
				  proc_name(w->id), w->missed);
			worker_kill(w, SIGKILL);
			w->missed = 0;
			continue;
		}
		w->missed++;
		chan_send_msg(w->ctl, &fb,
			      msg_enc_ping(&fb, MSG_PING,
					   &(struct m_ping){now_ms()}));
	}
	tmr_start(&sv.hb, sv.cfg->supervisor.heartbeat_ms, heartbeat_handler,
		  NULL);
}


static void grace_handler(void *arg)
{
	struct worker *w = arg;

	log_warn("%s did not stop in time; killing it", proc_name(w->id));
	worker_kill(w, SIGKILL);
}


/* SHUTDOWN, or RESTART (keep what outlives you); SIGTERM without a channel. */
static void stop_worker(struct worker *w, bool restart)
{
	struct fbuf fb = {0};

	if (!w->pid)
		return;
	tmr_cancel(&w->tmr); /* a ready timeout, if it is still starting */
	w->stopping = true;
	if (w->ctl)
		chan_send_msg(w->ctl, &fb,
			      msg_enc_empty(&fb, restart ? MSG_RESTART
							 : MSG_SHUTDOWN));
	else
		worker_kill(w, SIGTERM);
	tmr_start(&w->tmr, sv.cfg->supervisor.shutdown_grace_ms, grace_handler,
		  w);
}


/* Phase by phase (fronts first, then the translator), then the loop ends. */
static void stop_step(void)
{
	for (size_t i = 0; i < NWORKERS; i++) {
		if (workers[i].pid)
			continue;
		tmr_cancel(&workers[i].tmr);
		if (sv.stopping)
			worker_fds_drop(&workers[i]); /* it has exited */
	}
	if (sv.stopping == STOP_NONE || sv.stopping == STOP_DONE)
		return;
	for (; sv.stopping < STOP_DONE; sv.stopping++) {
		bool alive = false;
		for (size_t i = 0; i < NWORKERS; i++) {
			struct worker *w = &workers[i];
			if (w->stop_phase != sv.stopping || !w->pid)
				continue;
			alive = true;
			/* a restart under way becomes a stop: nothing is kept
			 * for a next incarnation */
			if (!w->stopping || w->restart_asked) {
				w->restart_asked = false;
				stop_worker(w, false);
			}
		}
		if (alive)
			return;
	}
	re_cancel();
}


static void supervisor_signal_handler(int sig)
{
	stop_all(0, sig == SIGINT ? "SIGINT" : "SIGTERM");
}


/* xsgwctl */

static int ctl_end(struct chan *ch, int err, const char *text)
{
	struct m_ctl_end m = {.err = (uint32_t)err};
	struct fbuf fb = {0};

	pl_set_str(&m.text, text);
	return chan_send_msg(ch, &fb, msg_enc_ctl_end(&fb, &m));
}


static void ctl_worker(struct chan *ch, const char *name, pid_t pid, bool ready,
		       uint64_t started, unsigned restarts, const char *last)
{
	struct m_ctl_worker m = {.pid = (uint32_t)pid,
				 .ready = ready,
				 .started_ms = started ? now_ms() - started : 0,
				 .restarts = restarts};
	struct fbuf fb = {0};

	pl_set_str(&m.name, name);
	pl_set_str(&m.last_exit, last);
	(void)chan_send_msg(ch, &fb, msg_enc_ctl_worker(&fb, &m));
}


static int supervisor_dispatch_ctl(struct chan *ch, struct frame *fr, void *arg)
{
	struct worker *w = NULL;
	struct m_ctl_restart rs;
	struct m_id call;
	struct fbuf fb = {0};

	switch (fr->type) {
	case MSG_CTL_STATUS:
		if (msg_dec_empty(fr))
			return EBADMSG;
		ctl_worker(ch, "supervisor", getpid(), true, sv.started, 0, "");
		for (size_t i = 0; i < NWORKERS; i++) {
			const struct worker *x = &workers[i];
			ctl_worker(ch, proc_name(x->id), x->pid, x->ready,
				   x->pid ? x->started : 0, x->restarts,
				   x->last_exit);
		}
		return ctl_end(ch, 0, "");
	case MSG_CTL_RESTART:
		if (msg_dec_ctl_restart(fr, &rs))
			return EBADMSG;
		for (size_t i = 0; i < NWORKERS; i++)
			if (!pl_strcmp(&rs.worker, proc_name(workers[i].id)))
				w = &workers[i];
		if (!w)
			return ctl_end(ch, ENOENT,
				       "unknown worker (xmpp-front, sip-front "
				       "or translator)");
		if (!w->pid)
			return ctl_end(ch, EAGAIN, "worker is not running");
		w->restart_asked = true;
		stop_worker(w, true);
		return ctl_end(ch, 0, "restarting");
	case MSG_CTL_CALL_END:
		if (msg_dec_id(fr, &call))
			return EBADMSG;
		w = worker_by_id(PROC_TRANSLATOR);
		if (!w || !w->ctl || !w->ready)
			return ctl_end(ch, EAGAIN, "translator is not running");
		chan_send_msg(w->ctl, &fb,
			      msg_enc_id(&fb, MSG_CALL_END, &call));
		return ctl_end(ch, 0, "ending");
	default:
		return EBADMSG;
	}
}


static void ctl_close_handler(struct chan *ch, int err, void *arg)
{
	mem_deref(ch);
}


static void ctl_accept_handler(int flags, void *arg)
{
	struct chan *ch;
	int fd = accept4(sv.ctlfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (chan_alloc(&ch, fd, "xsgwctl", supervisor_dispatch_ctl, NULL,
		       ctl_close_handler, NULL))
		close(fd);
}


__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: xsgw [-n] -c CONFIG\n"
			"  -n  check the configuration and exit\n");
	exit(EXIT_CONFIG);
}


int main(int argc, char **argv)
{
	bool check = false;
	char eb[512], self[4096], path[4200];
	const char *file = NULL, *env, *why;
	ssize_t n;
	int c, err;

	log_procinit("supervisor");
	while ((c = getopt(argc, argv, "nc:")) != -1) {
		if (c == 'n')
			check = true;
		else if (c == 'c')
			file = optarg;
		else
			usage();
	}
	if (!file)
		usage();
	if (!realpath(file, sv.cfgpath))
		fatal(EXIT_CONFIG, "config: %s: %s", file, strerror(errno));
	err = config_load(&sv.cfg, sv.cfgpath, eb, sizeof(eb));
	if (err)
		fatal(EXIT_CONFIG, "config: %s", eb);
	if (check) {
		printf("%s: OK\n", sv.cfgpath);
		config_free(sv.cfg);
		return 0;
	}
	log_setup(sv.cfg->log.level, sv.cfg->log.json);
	/* a risk the operator chose, and SPEC §4 keys of features this
	 * release does not have (read, checked, and told they do nothing) */
	for (size_t i = 0; i < sv.cfg->presence.nphones; i++)
		if (sv.cfg->presence.phones[i].password &&
		    !sv.cfg->presence.client_tls) {
			log_warn("config: presence.client_tls is optional: a "
				 "server that offers no STARTTLS gets the "
				 "phones' passwords in clear");
			break;
		}
	if (sv.cfg->msrp.listen.port)
		log_warn("config: MSRP is not built in this release: the msrp "
			 "section has no effect");
	if (sv.cfg->supervisor.cpus.on)
		cpus_apply(&sv.cfg->supervisor.cpus.set);

	env = getenv("XSGW_LIBEXEC");
	if (env) {
		snprintf(sv.bindir, sizeof(sv.bindir), "%s", env);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			fatal(1, "cannot find my own binary");
		self[n] = 0;
		snprintf(sv.bindir, sizeof(sv.bindir), "%s", dirname(self));
	}
	/* another user able to change these could replace the sockets or
	 * the store: refuse to start, once, naming the path */
	if (mkdir_safe(sv.cfg->runtime.dir, 077, &why))
		fatal(EXIT_CONFIG, "runtime.dir %s: %s", sv.cfg->runtime.dir,
		      why);
	if (mkdir_safe(sv.cfg->store.path, 022, &why))
		fatal(EXIT_CONFIG, "store.path %s: %s", sv.cfg->store.path,
		      why);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(sv.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal(1, "pipe: %s", strerror(errno));
	err = libre_init();
	if (err)
		fatal(1, "libre_init: %s", strerror(err));
	log_libre_attach();
	fd_listen(sv.sigpipe[0], FD_READ, sigpipe_handler, NULL);
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = signal_to_pipe;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	err = path_join(path, sizeof(path), sv.cfg->runtime.dir,
			"control.sock");
	if (!err)
		err = unix_listen(&sv.ctlfd, path);
	if (err)
		fatal(1, "control socket %s: %s", path, strerror(err));
	fd_listen(sv.ctlfd, FD_READ, ctl_accept_handler, NULL);
	snprintf(path, sizeof(path), "%s/xsgw.pid", sv.cfg->runtime.dir);
	{
		FILE *pf = fopen(path, "w");
		if (pf) {
			fprintf(pf, "%d\n", (int)getpid());
			fclose(pf);
		}
	}
	sv.started = now_ms();
	for (size_t i = 0; i < NWORKERS; i++)
		tmr_init(&workers[i].tmr);
	log_info("xsgw starting (config %s, workers in %s)", sv.cfgpath,
		 sv.bindir);
	start_dependents(PROC_SUPERVISOR); /* the rest follow their READY */
	tmr_init(&sv.hb);
	tmr_start(&sv.hb, sv.cfg->supervisor.heartbeat_ms, heartbeat_handler,
		  NULL);

	re_main(supervisor_signal_handler);

	tmr_cancel(&sv.hb);
	for (size_t i = 0; i < NWORKERS; i++) {
		tmr_cancel(&workers[i].tmr);
		workers[i].ctl = mem_deref(workers[i].ctl);
		worker_fds_drop(&workers[i]);
	}
	fd_close(sv.ctlfd);
	close(sv.ctlfd);
	fd_close(sv.sigpipe[0]);
	unlink(path);
	log_info("stopped (exit %d)", sv.exit_code);
	libre_close();
	config_free(sv.cfg);
	return sv.exit_code;
}
