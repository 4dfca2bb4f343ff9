/**
 * @file proc.c  Common worker bootstrap.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "log.h"
#include "msg.h"
#include "proc.h"

static struct proc *g_proc;


static int proc_dispatch_supervisor(struct chan *ch, struct frame *fr,
				    void *arg)
{
	struct proc *p = arg;
	char eb[512];
	struct xsgw_config *nc;

	struct m_ping ping;
	struct fbuf fb = {0};

	switch (fr->type) {
	case MSG_PING:
		if (msg_dec_ping(fr, &ping))
			return EBADMSG;
		return chan_send_msg(ch, &fb,
				     msg_enc_ping(&fb, MSG_PONG, &ping));
	case MSG_SHUTDOWN:
	case MSG_RESTART:
	case MSG_RELOAD:
		if (msg_dec_empty(fr))
			return EBADMSG;
		break;
	default:
		return p->frameh ? p->frameh(fr, p->arg) : EBADMSG;
	}
	switch (fr->type) {
	case MSG_SHUTDOWN:
	case MSG_RESTART:
		p->restarting = fr->type == MSG_RESTART;
		log_info("%s requested",
			 p->restarting ? "restart" : "shutdown");
		if (p->shutdownh)
			p->shutdownh(p->arg);
		else
			re_cancel();
		return 0;
	case MSG_RELOAD:
		if (config_load(&nc, p->cfg->file, eb, sizeof(eb))) {
			log_error("reload: %s (keeping the old config)", eb);
			return 0;
		}
		/* only the log settings apply without a restart */
		log_setup(nc->log.level, nc->log.json);
		p->cfg->log = nc->log;
		config_free(nc);
		log_info("reloaded %s", p->cfg->file);
		return 0;
	default:
		return EBADMSG;
	}
}


static void proc_close_supervisor(struct chan *ch, int err, void *arg)
{
	/* The supervisor is gone: never outlive it. Another release's
	 * supervisor is an installation error, not a crash: no restarts. */
	if (err == EPROTO && chan_peer_version(ch))
		exit(EXIT_CONFIG);
	log_warn("supervisor channel closed (%s); exiting",
		 err ? strerror(err) : "EOF");
	exit(1);
}


static void signal_handler(int sig)
{
	if (sig == SIGTERM || sig == SIGINT) {
		if (g_proc && g_proc->shutdownh)
			g_proc->shutdownh(g_proc->arg);
		else
			re_cancel();
	}
}


/*
 * Keep the descriptors the supervisor handed over (XSGW_FDS=n: fds 4..).
 * Done before anything opens a file (it could take the number of one that
 * is missing); logged once the log is set up.
 * @return 0 (none, or all taken), EINVAL (a bad n) or EBADF (one of them
 *         is not open: none taken, the others closed)
 */
static int proc_fds_init(struct proc *p, unsigned long *np)
{
	const char *env = getenv("XSGW_FDS");
	unsigned long n;
	char *end;
	int err = 0;

	*np = 0;
	if (!env)
		return 0;
	n = strtoul(env, &end, 10);
	if (end == env || *end || n < 1 || n > FD_STORE_MAX) {
		err = EINVAL;
		goto out;
	}
	*np = n;
	for (int fd = 4; fd < 4 + (int)n; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			err = EBADF;
	for (int fd = 4; fd < 4 + (int)n; fd++) {
		if (err) {
			close(fd);
			continue;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		p->fds[p->nfds++] = fd;
	}
out:
	unsetenv("XSGW_FDS");
	return err;
}


unsigned proc_fds_taken(struct proc *p, int *fds, unsigned max)
{
	unsigned n = 0;

	if (!p)
		return 0;
	for (unsigned i = 0; i < p->nfds; i++) {
		if (fds && n < max)
			fds[n++] = p->fds[i];
		else
			close(p->fds[i]);
	}
	p->nfds = 0;
	return n;
}


int proc_fd_store(struct proc *p, const int *fds, unsigned n)
{
	struct m_fd_store m = {.nfds = n};
	struct fbuf fb = {0};
	int err;

	if (!p || (n && !fds) || n > FD_STORE_MAX)
		return EINVAL;
	if (!p->ctl)
		return ENOTCONN;
	err = msg_enc_fd_store(&fb, &m);
	if (!err)
		err = chan_send_fds(p->ctl, &fb, fds, n);
	fbuf_reset(&fb);
	return err;
}


__attribute__((noreturn)) static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s -c CONFIG\n", prog);
	exit(EXIT_CONFIG);
}


void proc_init(struct proc *p, enum proc_id id, int argc, char **argv,
	       proc_shutdown_h *shutdownh, void *arg)
{
	const char *file = NULL;
	unsigned long nfds;
	char eb[512];
	int c, err, fderr;

	memset(p, 0, sizeof(*p));
	p->id = id;
	p->shutdownh = shutdownh;
	p->arg = arg;
	p->boot = random_u64();
	g_proc = p;
	log_procinit(proc_name(id));
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c == 'c')
			file = optarg;
		else
			usage(argv[0]);
	}
	if (!file)
		usage(argv[0]);
	fderr = proc_fds_init(p, &nfds);
	err = config_load(&p->cfg, file, eb, sizeof(eb));
	if (err)
		fatal(EXIT_CONFIG, "config: %s", eb);
	log_setup(p->cfg->log.level, p->cfg->log.json);
	if (fderr == EINVAL)
		log_warn("XSGW_FDS: not 1..%u; ignored", FD_STORE_MAX);
	else if (fderr)
		log_warn("XSGW_FDS=%lu: not all of them open; none taken",
			 nfds);
	else if (nfds)
		log_info("took over %lu descriptor(s)", nfds);
	signal(SIGPIPE, SIG_IGN);
	err = libre_init();
	if (err)
		fatal(1, "libre_init: %s", strerror(err));
	log_libre_attach();
	if (fcntl(3, F_GETFD) != -1) {
		err = chan_alloc(&p->ctl, 3, "supervisor",
				 proc_dispatch_supervisor, NULL,
				 proc_close_supervisor, p);
		if (err)
			fatal(1, "control channel: %s", strerror(err));
	}
}


void proc_ready(struct proc *p)
{
	struct fbuf fb = {0};

	if (p->ctl)
		chan_send_msg(p->ctl, &fb, msg_enc_empty(&fb, MSG_READY));
	log_info("ready (pid %d)", (int)getpid());
}


int proc_run(struct proc *p)
{
	int err = re_main(signal_handler);

	if (p->ctl) {
		/* closing is not EOF for us: drop the close handler first */
		p->ctl = mem_deref(p->ctl);
	}
	return err ? 1 : 0;
}


int proc_hello(struct proc *p, struct chan *ch, uint64_t acked)
{
	struct m_hello m = {p->id, (uint32_t)getpid(), p->boot, acked};
	struct fbuf fb = {0};

	return chan_send_msg(ch, &fb, msg_enc_hello(&fb, &m));
}
