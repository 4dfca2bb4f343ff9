/*
 * loadc: the C load client of `make bench` (issue 13). Plain sockets and a
 * tiny XMPP c2s client (stream, SASL PLAIN, bind, session; no TLS: the
 * bench Prosody allows plaintext auth on loopback), one epoll loop.
 *
 *   loadc [options]
 *     -H HOST -P PORT     c2s address               [127.0.0.1 5222]
 *     -d DOMAIN           users' domain             [localhost]
 *     -u PREFIX -n N      users PREFIX0..PREFIX(N-1) [lc 4]
 *     -s PASSWORD         every user's password     [pass]
 *     -t JID              the callee / chat peer    [bob@sip.localhost]
 *     -m call|msg|hold    what one operation is     [call]
 *     -r RATE -D SECONDS  open loop: RATE ops/s for SECONDS
 *     -c COUNT            closed loop instead: COUNT ops one at a time
 *     -W WINDOW           at most WINDOW ops unfinished (further sends wait
 *                         and are counted as "window_waits")   [2000]
 *     -T SECONDS          an op unfinished this long after the last send
 *                         is a timeout                          [10]
 *     -g TAG              prefix of sids and ids (unique per run) [pid+time]
 *     -v                  one line per op on stderr: tag seq and the
 *                         CLOCK_REALTIME (as strace -ttt) of send, first
 *                         answer, completion
 *     -q                  TCP_QUICKACK after every read (an experiment)
 *
 * call: iq set <jingle action='session-initiate'> (raw-udp, PCMU) to JID;
 *       latency = until the peer's session-accept arrives (answered with a
 *       result, then session-terminate; the op ends at its result).
 *       "ack" = until the session-initiate's IQ result.
 * hold: a call left up: done at its session-accept, never terminated.
 *       Once all are done the JSON is printed and loadc stays, answering
 *       IQs, until its stdin closes (the bench measures the held calls).
 * msg:  <message type='chat'> with an XEP-0184 request to JID; latency =
 *       until the <received/> receipt (the gateway sends it on the SIP
 *       200: a chat -> MESSAGE -> 200 -> receipt round trip).
 * Prints one JSON object on stdout.
 */
#include "xscan.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

enum { ST_UNSENT, ST_SENT, ST_ACCEPTED, ST_DONE, ST_FAILED };

struct op {
	double t0, t_ack, t_done, t_end;
	unsigned char st;
};

struct conn {
	int fd;
	struct buf in, out;
	char jid[256];
	int hdr_seen;
};

static const char *host = "127.0.0.1", *domain = "localhost", *prefix = "lc",
		  *pass = "pass", *target = "bob@sip.localhost", *mode = "call";
static int port = 5222, nusers = 4, verbose, quickack;
static double rate, duration, timeout_s = 10;
static long count, window = 2000;
static char tag[64];
static struct conn *conns;
static struct op *ops;
static long nops, n_sent, n_finished, n_failed, window_waits, n_errors_seen;
static int is_call, is_hold;
static double rt_off; /* CLOCK_REALTIME - CLOCK_MONOTONIC */

static const char OFFER[] =
	"<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' "
	"senders='both'><description xmlns='urn:xmpp:jingle:apps:rtp:1' "
	"media='audio'><payload-type id='0' name='PCMU' clockrate='8000'/>"
	"</description><transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>"
	"<candidate id='r1' component='1' generation='0' ip='127.0.0.1' "
	"port='41000'/></transport></content>";

static void die(const char *what)
{
	fprintf(stderr, "loadc: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- login (blocking, SO_RCVTIMEO) ---- */

/* Next top-level element of c's stream, copied and NUL-terminated (valid
 * until the next call) and dropped from c->in; the stream header is
 * skipped. */
static char *read_elem(struct conn *c, size_t *used)
{
	char tmp[16384];

	for (;;) {
		size_t s;
		long e;

		if (!c->hdr_seen) {
			char *h = c->in.p ? strstr(c->in.p, "<stream:stream") : NULL;
			long te = h ? tag_end(h, strlen(h)) : -1;
			if (te >= 0) {
				buf_drop(&c->in, (size_t)(h - c->in.p) + (size_t)te + 1);
				c->hdr_seen = 1;
			}
		}
		if (c->hdr_seen && c->in.len &&
		    (e = next_element(c->in.p, c->in.len, &s)) != 0) {
			if (e < 0) {
				fprintf(stderr, "loadc: stream closed at login\n");
				exit(1);
			}
			static struct buf el;
			el.len = 0;
			buf_add(&el, c->in.p + s, (size_t)e - s);
			buf_drop(&c->in, (size_t)e);
			*used = 0;
			return el.p;
		}
		ssize_t n = read(c->fd, tmp, sizeof(tmp));
		if (n <= 0) {
			fprintf(stderr, "loadc: login read: %s\n",
				n ? strerror(errno) : "EOF");
			exit(1);
		}
		buf_add(&c->in, tmp, (size_t)n);
	}
}

/* Wait for an element starting with want; others (features...) skipped
 * unless they start with fail_on. */
static void expect(struct conn *c, const char *want, const char *what)
{
	for (;;) {
		size_t used;
		char *st = read_elem(c, &used);
		int ok = !strncmp(st, want, strlen(want));
		int bad = !strncmp(st, "<failure", 8) || strstr(st, "type='error'") ||
			  !strncmp(st, "<stream:error", 13);
		if (bad) {
			fprintf(stderr, "loadc: %s failed: %.300s\n", what, st);
			exit(1);
		}
		(void)used;
		if (ok)
			return;
	}
}

static void send_str(struct conn *c, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(c->fd, s + off, n - off);
		if (w < 0)
			die("write");
		off += (size_t)w;
	}
}

static void login(struct conn *c, int i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {10, 0};
	char user[128], auth[512], b[700], s[2048];
	int one = 1;
	size_t al;

	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	snprintf(user, sizeof(user), "%s%d", prefix, i);
	snprintf(s, sizeof(s),
		 "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
		 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
		 domain);
	send_str(c, s);
	expect(c, "<stream:features", "features");
	al = (size_t)snprintf(auth, sizeof(auth), "%c%s%c%s", 0, user, 0, pass);
	b64((unsigned char *)auth, al, b);
	snprintf(s, sizeof(s),
		 "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
		 b);
	send_str(c, s);
	expect(c, "<success", "SASL PLAIN");
	c->hdr_seen = 0;
	c->in.len = 0;
	snprintf(s, sizeof(s),
		 "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
		 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
		 domain);
	send_str(c, s);
	expect(c, "<stream:features", "features 2");
	send_str(c, "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:"
		    "xmpp-bind'><resource>load</resource></bind></iq>");
	for (;;) {
		size_t used;
		char *st = read_elem(c, &used);
		if (!strncmp(st, "<iq", 3)) {
			char *j = strstr(st, "<jid>"), *je = j ? strstr(j, "</jid>") : NULL;
			if (!j || !je) {
				fprintf(stderr, "loadc: bind: %.300s\n", st);
				exit(1);
			}
			snprintf(c->jid, sizeof(c->jid), "%.*s", (int)(je - j - 5), j + 5);
			break;
		}
		(void)used;
	}
	send_str(c, "<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:"
		    "ns:xmpp-session'/></iq>");
	expect(c, "<iq", "session");
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

/* ---- the run ---- */

static long seq_of(const char *id)
{
	size_t tl = strlen(tag);
	char *end;
	long s;

	if (strncmp(id, tag, tl) || id[tl] != '-')
		return -1;
	s = strtol(id + tl + 1, &end, 10);
	if (*end || s < 0 || s >= nops)
		return -1;
	return s;
}

static void finish(long s, int ok)
{
	struct op *o = &ops[s];

	if (o->st == ST_DONE || o->st == ST_FAILED)
		return;
	o->st = ok ? ST_DONE : ST_FAILED;
	o->t_end = now_s();
	n_finished++;
	if (!ok)
		n_failed++;
}

static void send_op(long s)
{
	struct conn *c = &conns[s % nusers];
	struct op *o = &ops[s];

	o->t0 = now_s();
	o->st = ST_SENT;
	n_sent++;
	if (is_call)
		buf_printf(&c->out,
			   "<iq type='set' to='%s' id='i%s-%ld'><jingle xmlns='urn:xmpp:"
			   "jingle:1' action='session-initiate' initiator='%s' "
			   "sid='%s-%ld'>%s</jingle></iq>",
			   target, tag, s, c->jid, tag, s, OFFER);
	else
		buf_printf(&c->out,
			   "<message type='chat' to='%s' id='m%s-%ld'><body>load %ld"
			   "</body><request xmlns='urn:xmpp:receipts'/></message>",
			   target, tag, s, s);
}

static void on_stanza(struct conn *c, const char *st)
{
	char type[32], id[256], from[512], act[64], sid[256];
	long s;

	if (!attr(st, "type", type, sizeof(type)))
		type[0] = 0;
	if (!attr(st, "id", id, sizeof(id)))
		id[0] = 0;
	if (!attr(st, "from", from, sizeof(from)))
		from[0] = 0;
	if (!strncmp(st, "<iq", 3)) {
		if (!strcmp(type, "result") || !strcmp(type, "error")) {
			if ((id[0] != 'i' && id[0] != 't') || (s = seq_of(id + 1)) < 0)
				return;
			if (!strcmp(type, "error")) {
				n_errors_seen++;
				if (n_errors_seen <= 3)
					fprintf(stderr, "loadc: error: %.400s\n", st);
				finish(s, 0);
			} else if (id[0] == 'i') {
				if (!ops[s].t_ack)
					ops[s].t_ack = now_s();
			} else {
				finish(s, ops[s].st == ST_ACCEPTED);
			}
			return;
		}
		buf_printf(&c->out, "<iq type='result' to='%s' id='%s'/>", from, id);
		if (!child_attr(st, "jingle", "action", act, sizeof(act)) ||
		    !child_attr(st, "jingle", "sid", sid, sizeof(sid)) ||
		    (s = seq_of(sid)) < 0)
			return;
		if (!strcmp(act, "session-accept") && ops[s].st == ST_SENT &&
		    is_hold) {
			ops[s].t_done = now_s();
			finish(s, 1);
		} else if (!strcmp(act, "session-accept") && ops[s].st == ST_SENT) {
			ops[s].t_done = now_s();
			ops[s].st = ST_ACCEPTED;
			buf_printf(&c->out,
				   "<iq type='set' to='%s' id='t%s-%ld'><jingle xmlns='urn:"
				   "xmpp:jingle:1' action='session-terminate' sid='%s'>"
				   "<reason><success/></reason></jingle></iq>",
				   from, tag, s, sid);
		} else if (!strcmp(act, "session-terminate")) {
			finish(s, 0);
		}
	} else if (!strncmp(st, "<message", 8)) {
		if (!strcmp(type, "error")) {
			if (id[0] == 'm' && (s = seq_of(id + 1)) >= 0) {
				n_errors_seen++;
				if (n_errors_seen <= 3)
					fprintf(stderr, "loadc: error: %.400s\n", st);
				finish(s, 0);
			}
			return;
		}
		if (child_attr(st, "received", "id", id, sizeof(id)) && id[0] == 'm' &&
		    (s = seq_of(id + 1)) >= 0 && ops[s].st == ST_SENT) {
			ops[s].t_done = now_s();
			finish(s, 1);
		}
	} else if (!strncmp(st, "<stream:error", 13)) {
		fprintf(stderr, "loadc: %.400s\n", st);
		exit(1);
	}
}

static void on_readable(struct conn *c)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = read(c->fd, tmp, sizeof(tmp));
		size_t off = 0, s;
		long e;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			fprintf(stderr, "loadc: %s: connection lost\n", c->jid);
			exit(1);
		}
		if (quickack) {
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		}
		buf_add(&c->in, tmp, (size_t)n);
		while ((e = next_element(c->in.p + off, c->in.len - off, &s)) > 0) {
			char *st = c->in.p + off + s, save = c->in.p[off + (size_t)e];
			c->in.p[off + (size_t)e] = 0;
			on_stanza(c, st);
			c->in.p[off + (size_t)e] = save;
			off += (size_t)e;
		}
		buf_drop(&c->in, off);
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p)
{
	long k;

	if (!n)
		return -1;
	k = lround(p / 100.0 * (double)(n - 1));
	return v[k < 0 ? 0 : k >= n ? n - 1 : k] * 1000.0;
}

static void print_lat(const char *name, double *v, long n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	printf("\"%s\": {\"n\": %ld, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
	       "\"max\": %.3f}",
	       name, n, pct(v, n, 50), pct(v, n, 90), pct(v, n, 99),
	       n ? v[n - 1] * 1000.0 : -1.0);
}

int main(int argc, char **argv)
{
	struct timespec rt, mt;
	struct rusage ru0, ru1;
	double t_start, t_last_send = 0, t_end;
	int ep, opt;
	long next = 0;

	while ((opt = getopt(argc, argv, "H:P:d:u:n:s:t:m:r:D:c:W:T:g:vq")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'P': port = atoi(optarg); break;
		case 'd': domain = optarg; break;
		case 'u': prefix = optarg; break;
		case 'n': nusers = atoi(optarg); break;
		case 's': pass = optarg; break;
		case 't': target = optarg; break;
		case 'm': mode = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'D': duration = atof(optarg); break;
		case 'c': count = atol(optarg); break;
		case 'W': window = atol(optarg); break;
		case 'T': timeout_s = atof(optarg); break;
		case 'g': snprintf(tag, sizeof(tag), "%s", optarg); break;
		case 'v': verbose = 1; break;
		case 'q': quickack = 1; break;
		default:
			fprintf(stderr, "usage: see the comment at the top of loadc.c\n");
			return 2;
		}
	}
	is_hold = !strcmp(mode, "hold");
	is_call = is_hold || !strcmp(mode, "call");
	if (!is_call && strcmp(mode, "msg")) {
		fprintf(stderr, "loadc: -m call|msg|hold\n");
		return 2;
	}
	if (!tag[0])
		snprintf(tag, sizeof(tag), "L%dx%ld", (int)getpid(), (long)time(NULL));
	nops = count > 0 ? count : (long)ceil(rate * duration);
	if (nops <= 0 || nusers <= 0) {
		fprintf(stderr, "loadc: give -c COUNT or -r RATE -D SECONDS\n");
		return 2;
	}
	ops = calloc((size_t)nops, sizeof(*ops));
	conns = calloc((size_t)nusers, sizeof(*conns));
	if (!ops || !conns)
		die("calloc");
	ep = epoll_create1(0);
	for (int i = 0; i < nusers; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		login(&conns[i], i);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev))
			die("epoll_ctl");
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	rt_off = (double)(rt.tv_sec - mt.tv_sec) + (rt.tv_nsec - mt.tv_nsec) / 1e9;
	getrusage(RUSAGE_SELF, &ru0);
	t_start = now_s();
	t_end = 0;
	while (n_finished < nops) {
		struct epoll_event evs[64];
		double t = now_s(), wait_s = 0.05;
		int n;

		/* send what is due */
		if (count > 0) {
			if (next < nops && n_sent == n_finished) {
				send_op(next++);
				t_last_send = t;
			}
		} else {
			while (next < nops && t_start + (double)next / rate <= t) {
				if (n_sent - n_finished >= window) {
					window_waits++;
					break;
				}
				send_op(next++);
				t_last_send = t;
			}
			if (next < nops) {
				double d = t_start + (double)next / rate - t;
				wait_s = d < 0 ? 0.001 : d;
			}
		}
		for (int i = 0; i < nusers; i++)
			if (conns[i].out.len && buf_flush(conns[i].fd, &conns[i].out))
				die("write");
		if (next >= nops) {
			if (!t_end)
				t_end = t_last_send + timeout_s;
			if (t > t_end)
				break;
		}
		n = epoll_wait(ep, evs, 64, (int)ceil(wait_s * 1000.0));
		for (int i = 0; i < n; i++)
			on_readable(&conns[evs[i].data.u32]);
		for (int i = 0; i < nusers; i++)
			if (conns[i].out.len && buf_flush(conns[i].fd, &conns[i].out))
				die("write");
	}
	getrusage(RUSAGE_SELF, &ru1);
	{
		double *lat = malloc(sizeof(double) * (size_t)nops);
		double *ack = malloc(sizeof(double) * (size_t)nops);
		double *full = malloc(sizeof(double) * (size_t)nops);
		long nl = 0, na = 0, nf = 0, ok = 0, timeouts = 0;
		double first = 0, last = 0, cpu;

		for (long s = 0; s < nops; s++) {
			struct op *o = &ops[s];
			if (o->st == ST_DONE) {
				ok++;
				lat[nl++] = o->t_done - o->t0;
				if (o->t_end > last)
					last = o->t_end;
				if (is_call)
					full[nf++] = o->t_end - o->t0;
			} else if (o->st != ST_FAILED && o->st != ST_UNSENT) {
				timeouts++;
			}
			if (o->t_ack)
				ack[na++] = o->t_ack - o->t0;
			if (verbose && o->st != ST_UNSENT)
				fprintf(stderr, "op %s-%ld st=%d t0=%.6f ack=%.6f done=%.6f end=%.6f\n",
					tag, s, o->st, o->t0 + rt_off,
					o->t_ack ? o->t_ack + rt_off : 0,
					o->t_done ? o->t_done + rt_off : 0,
					o->t_end ? o->t_end + rt_off : 0);
		}
		first = t_start;
		cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		      (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
		      (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		      (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
		printf("{\"mode\": \"%s\", \"target\": \"%s\", \"tag\": \"%s\", "
		       "\"users\": %d, \"rate\": %.1f, \"duration_s\": %.1f, "
		       "\"closed_loop_count\": %ld, \"ops\": %ld, \"sent\": %ld, "
		       "\"ok\": %ld, \"failed\": %ld, \"timeouts\": %ld, "
		       "\"window\": %ld, \"window_waits\": %ld, "
		       "\"achieved_per_s\": %.1f, \"loadc_cpu_s\": %.3f, ",
		       mode, target, tag, nusers, rate, duration, count, nops, n_sent,
		       ok, n_failed, timeouts, window, window_waits,
		       last > first ? (double)ok / (last - first) : 0.0, cpu);
		print_lat(is_call ? "setup_ms" : "receipt_ms", lat, nl);
		printf(", ");
		print_lat(is_call ? "initiate_result_ms" : "unused_ms", ack, na);
		if (is_call && !is_hold) {
			printf(", ");
			print_lat("setup_and_terminate_ms", full, nf);
		}
		printf("}\n");
		fflush(stdout);
	}
	if (is_hold) { /* the calls stay up until stdin closes */
		struct epoll_event in = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
		char b[64];

		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in))
			die("epoll_ctl stdin");
		for (;;) {
			struct epoll_event evs[64];
			int n = epoll_wait(ep, evs, 64, 1000);

			for (int i = 0; i < n; i++) {
				if (evs[i].data.u32 == UINT32_MAX) {
					if (read(0, b, sizeof(b)) <= 0)
						return 0;
					continue;
				}
				on_readable(&conns[evs[i].data.u32]);
			}
			for (int i = 0; i < nusers; i++)
				if (conns[i].out.len &&
				    buf_flush(conns[i].fd, &conns[i].out))
					die("write");
		}
	}
	return n_failed || n_finished < nops ? 3 : 0;
}
