/**
 * @file xsgwctl.c  The operator CLI. Asks the supervisor (control.sock)
 *                  for status and restarts; reads the store read-only for
 *                  everything else, so those commands work while the
 *                  gateway is down.
 *
 * Exit status: 0 success, 1 error, 2 not found / not running, 78 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <re.h>
#include "config.h"
#include "frame.h"
#include "msg.h"
#include "callrec.h"
#include "keys.h"
#include "msgrec.h"
#include "phonerec.h"
#include "presrec.h"
#include "regrec.h"
#include "store.h"
#include "util.h"
#include "watchrec.h"

static struct xsgw_config *cfg;
static bool json;


/*
 * Human output shows strings SIP and XMPP peers chose (Call-IDs, JIDs,
 * URIs, SDPs, reason phrases): escaped (str_printable), so that none can
 * act on the operator's terminal. JSON output is escaped by its encoder.
 * Rotating buffers, so that one printf may take several.
 */
static const char *safe(const char *s)
{
	static char bufs[8][16384];
	static unsigned i;

	i = (i + 1) % 8;
	if (!s)
		return "";
	return str_printable(bufs[i], sizeof(bufs[i]), s, strlen(s), 0);
}


/* A multi-line value (an SDP): its lines kept, everything else escaped. */
static void put_lines(const char *s)
{
	size_t n = strlen(s), sz = 4 * n + 1;
	char *b = malloc(sz);

	if (!b)
		return;
	puts(str_printable(b, sz, s, n, STR_LINES));
	free(b);
}


__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
		"usage: xsgwctl [-c CONFIG] COMMAND\n"
		"  status [--json]      supervisor and workers\n"
		"  restart WORKER       xmpp-front, sip-front or translator\n"
		"  stats [--json]       counters and store size\n"
		"  messages [--json] [--all]  queued and in-flight messages\n"
		"  sessions [--json]          live calls\n"
		"  presence [--json]          XMPP resources known online\n"
		"  registrations [--json]     linked SIP accounts\n"
		"  end ID                     end a call on both sides, or\n"
		"                             unlink a SIP account\n"
		"  show ID [--json]           one call or SIP account in full\n"
		"  dump                 the whole store as JSON lines\n"
		"CONFIG defaults to $XSGW_CONFIG, then /etc/xsgw/xsgw.yaml\n");
	exit(EXIT_CONFIG);
}


/* One request to the supervisor; calls fn for every reply frame. */
static int ctl_call(struct fbuf *req, void (*fn)(struct frame *, void *),
		    void *arg)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {5, 0};
	uint8_t buf[FRAME_HDR_SIZE + FRAME_MAX + 1];
	size_t have = 0, used;
	struct frame fr;
	int fd, err = 0;

	if (path_join(sun.sun_path, sizeof(sun.sun_path), cfg->runtime.dir,
		      "control.sock"))
		return ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, req->b, req->len) != (ssize_t)req->len) {
		err = errno ? errno : EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0) {
			err = n == 0 ? EPIPE : errno;
			goto out;
		}
		have += (size_t)n;
		while (!(err = frame_parse(buf, have, &fr, &used))) {
			if (fr.type == MSG_CTL_END) {
				fn(&fr, arg);
				goto out;
			}
			fn(&fr, arg);
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (err != EAGAIN)
			goto out;
		err = 0;
	}
out:
	close(fd);
	return err;
}


struct status_ctx {
	struct odict *arr;
	unsigned n;
	uint32_t err;
	char text[256];
	unsigned restarts;
};


static void status_frame(struct frame *fr, void *arg)
{
	struct status_ctx *c = arg;
	char name[64], last[128], key[16];
	uint32_t pid, ready, restarts;
	uint64_t up;
	struct odict *o;
	struct m_ctl_worker w;
	struct m_ctl_end e;

	if (fr->type == MSG_CTL_END) {
		if (!msg_dec_ctl_end(fr, &e)) {
			c->err = e.err;
			pl_strcpy(&e.text, c->text, sizeof(c->text));
		}
		return;
	}
	if (fr->type != MSG_CTL_WORKER || msg_dec_ctl_worker(fr, &w))
		return;
	pl_strcpy(&w.name, name, sizeof(name));
	pl_strcpy(&w.last_exit, last, sizeof(last));
	pid = w.pid;
	ready = w.ready;
	up = w.started_ms;
	restarts = w.restarts;
	c->restarts += restarts;
	if (json && c->arr && !odict_alloc(&o, 8)) {
		odict_entry_add(o, "name", ODICT_STRING, name);
		odict_entry_add(o, "pid", ODICT_INT, (int64_t)pid);
		odict_entry_add(o, "state", ODICT_STRING,
				!pid    ? "down"
				: ready ? "ready"
					: "starting");
		odict_entry_add(o, "uptime_ms", ODICT_INT, (int64_t)up);
		odict_entry_add(o, "restarts", ODICT_INT, (int64_t)restarts);
		odict_entry_add(o, "last_exit", ODICT_STRING, last);
		snprintf(key, sizeof(key), "%u", c->n);
		odict_entry_add(c->arr, key, ODICT_OBJECT, o);
		mem_deref(o);
	} else if (!json && c->arr) {
		printf("%-11s %-8u %-9s %9.1fs %8u  %s\n", name, pid,
		       !pid    ? "down"
		       : ready ? "ready"
			       : "starting",
		       up / 1000.0, restarts, *last ? safe(last) : "-");
	}
	c->n++;
}


static int cmd_status(void)
{
	struct status_ctx c = {0};
	struct fbuf fb = {0};
	struct odict *top = NULL;
	int err;

	if (json) {
		odict_alloc(&top, 8);
		odict_alloc(&c.arr, 8);
	} else {
		odict_alloc(&c.arr, 8); /* marks "print" */
		printf("%-11s %-8s %-9s %10s %8s  %s\n", "WORKER", "PID",
		       "STATE", "UPTIME", "RESTARTS", "LAST EXIT");
	}
	err = msg_enc_empty(&fb, MSG_CTL_STATUS);
	if (!err)
		err = ctl_call(&fb, status_frame, &c);
	fbuf_reset(&fb);
	if (err) {
		fprintf(stderr, "xsgwctl: supervisor not reachable at %s: %s\n",
			cfg->runtime.dir, strerror(err));
		mem_deref(c.arr);
		mem_deref(top);
		return 2;
	}
	if (json) {
		odict_entry_add(top, "workers", ODICT_ARRAY, c.arr);
		re_printf("%H\n", json_encode_odict, top);
	}
	mem_deref(c.arr);
	mem_deref(top);
	return 0;
}


static int cmd_restart(const char *worker)
{
	struct status_ctx c = {0};
	struct m_ctl_restart m;
	struct fbuf fb = {0};
	int err;

	pl_set_str(&m.worker, worker);
	err = msg_enc_ctl_restart(&fb, &m);
	if (!err)
		err = ctl_call(&fb, status_frame, &c);
	fbuf_reset(&fb);
	if (err) {
		fprintf(stderr, "xsgwctl: supervisor not reachable: %s\n",
			strerror(err));
		return 2;
	}
	printf("%s: %s\n", safe(worker), safe(c.text));
	return c.err ? 1 : 0;
}


/* Open the store read-only with a read transaction.
 * @return 0, or the exit status: 2 no store yet, 1 another error */
static int open_read(struct store **s, struct store_txn **t)
{
	int err = store_open(s, cfg->store.path, cfg->store.map_size,
			     STORE_RDONLY);

	if (!err) {
		err = store_begin(*s, t, false);
		if (err)
			store_close(*s);
	}
	if (err)
		fprintf(stderr, "xsgwctl: store %s: %s\n", cfg->store.path,
			err == ENOENT ? "no store yet" : strerror(err));
	return !err ? 0 : err == ENOENT ? 2 : 1;
}


static void msg_to_odict(struct odict *o, uint64_t id, const struct msgrec *r)
{
	odict_entry_add(o, "id", ODICT_INT, (int64_t)id);
	odict_entry_add(o, "kind", ODICT_STRING,
			r->kind <= MK_RECEIPT ? msgrec_kind_name[r->kind]
					      : "?");
	odict_entry_add(o, "state", ODICT_STRING,
			r->state == MS_PENDING ? "pending" : "done");
	odict_entry_add(o, "created_ms", ODICT_INT, (int64_t)r->created);
	odict_entry_add(o, "updated_ms", ODICT_INT, (int64_t)r->updated);
	odict_entry_add(o, "xmpp_from", ODICT_STRING, r->xfrom ? r->xfrom : "");
	odict_entry_add(o, "xmpp_to", ODICT_STRING, r->xto ? r->xto : "");
	odict_entry_add(o, "xmpp_id", ODICT_STRING, r->xid ? r->xid : "");
	odict_entry_add(o, "sip_from", ODICT_STRING, r->sfrom ? r->sfrom : "");
	odict_entry_add(o, "sip_to", ODICT_STRING, r->sto ? r->sto : "");
	odict_entry_add(o, "call_id", ODICT_STRING, r->callid ? r->callid : "");
	odict_entry_add(o, "sip_status", ODICT_INT, (int64_t)r->scode);
	odict_entry_add(o, "error", ODICT_STRING, r->econd ? r->econd : "");
	odict_entry_add(o, "bytes", ODICT_INT,
			(int64_t)(r->body ? strlen(r->body) : 0));
}


struct list_ctx {
	struct odict *arr;
	bool all;
	unsigned n;
	bool count_only;
};


static bool messages_visit(const void *k, size_t kl, const void *v, size_t vl,
			   void *arg)
{
	struct list_ctx *c = arg;
	struct msgrec r;
	uint64_t id;

	if (kl != 8 || msgrec_decode(&r, v, vl, NULL))
		return true;
	id = be64_get(k);
	if (c->all || r.state == MS_PENDING) {
		if (c->count_only)
			;
		else if (json) {
			struct odict *o;
			char key[16];
			if (!odict_alloc(&o, 32)) {
				msg_to_odict(o, id, &r);
				snprintf(key, sizeof(key), "%u", c->n);
				odict_entry_add(c->arr, key, ODICT_OBJECT, o);
				mem_deref(o);
			}
		} else {
			printf("%-8llu %-10s %-7s %-40s -> %s\n",
			       (unsigned long long)id,
			       msgrec_kind_name[r.kind <= MK_RECEIPT ? r.kind
								     : 0],
			       r.state == MS_PENDING ? "pending" : "done",
			       safe(r.kind == MK_CHAT_S2X ? r.sfrom : r.xfrom),
			       safe(r.kind == MK_CHAT_X2S ||
						    r.kind == MK_SNOTICE
					    ? r.ruri
					    : r.xto));
		}
		c->n++;
	}
	msgrec_reset(&r);
	return true;
}


/*
 * List one database: a header line (human) or {"key": [...]} (--json);
 * visit adds one row per record to c->arr or prints it.
 */
static int list_db(enum store_db db, store_visit_h *visit, bool all,
		   const char *key, const char *header)
{
	struct list_ctx c = {NULL, all, 0, false};
	struct store *s;
	struct store_txn *t;
	int err;

	if ((err = open_read(&s, &t)))
		return err;
	if (json)
		odict_alloc(&c.arr, 32);
	else
		fputs(header, stdout);
	store_scan(t, db, NULL, 0, visit, &c);
	store_abort(t);
	store_close(s);
	if (json) {
		struct odict *top;
		odict_alloc(&top, 4);
		odict_entry_add(top, key, ODICT_ARRAY, c.arr);
		re_printf("%H\n", json_encode_odict, top);
		mem_deref(top);
		mem_deref(c.arr);
	}
	return 0;
}


static int cmd_messages(bool all)
{
	char h[160];

	snprintf(h, sizeof(h), "%-8s %-10s %-7s %-40s    %s\n", "ID", "KIND",
		 "STATE", "FROM", "TO");
	return list_db(DB_MSG, messages_visit, all, "messages", h);
}


static void call_to_odict(struct odict *o, uint64_t id, const struct callrec *r,
			  bool full)
{
	const uint64_t now = wall_ms();
	const struct {
		const char *k;
		const char *v;
	} strs[] = {
		{"sid", r->sid},          {"call_id", r->callid},
		{"owner", r->owner},      {"user", r->ufull},
		{"peer", r->gwjid},       {"local_uri", r->luri},
		{"remote_uri", r->ruri},  {"local_tag", r->ltag},
		{"remote_tag", r->rtag},  {"remote_target", r->target},
		{"route_set", r->routes}, {"local_sdp", r->lsdp},
		{"remote_sdp", r->rsdp},  {"history", r->history},
	};

	odict_entry_add(o, "id", ODICT_INT, (int64_t)id);
	odict_entry_add(o, "kind", ODICT_STRING,
			r->dir == CD_X2S ? "call-x2s" : "call-s2x");
	odict_entry_add(o, "state", ODICT_STRING,
			r->state < CS_STATE_MAX ? callrec_state_name[r->state]
						: "?");
	odict_entry_add(o, "age_ms", ODICT_INT,
			(int64_t)(now > r->created ? now - r->created : 0));
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!full && i >= 5)
			break;
		odict_entry_add(o, strs[i].k, ODICT_STRING,
				strs[i].v ? strs[i].v : "");
	}
	if (full) {
		odict_entry_add(o, "local_cseq", ODICT_INT, (int64_t)r->lcseq);
		odict_entry_add(o, "remote_cseq", ODICT_INT, (int64_t)r->rcseq);
		odict_entry_add(o, "invite_cseq", ODICT_INT,
				(int64_t)r->inv_cseq);
		/* its next timer (idle, ring, transfer or re-INVITE retry) */
		odict_entry_add(o, "deadline_ms", ODICT_INT,
				(int64_t)r->deadline);
		odict_entry_add(o, "reinvite_retry_ms", ODICT_INT,
				(int64_t)r->reinv_retry_at);
		/* who holds the call: the XMPP user, the SIP peer */
		odict_entry_add(o, "held_by_user", ODICT_BOOL,
				(bool)r->local_hold);
		odict_entry_add(o, "held_by_peer", ODICT_BOOL,
				(bool)r->on_hold);
	}
}


static bool sessions_visit(const void *k, size_t kl, const void *v, size_t vl,
			   void *arg)
{
	struct list_ctx *c = arg;
	struct callrec r;
	uint64_t id;

	if (kl != 8 || callrec_decode(&r, v, vl))
		return true;
	id = be64_get(k);
	if (json) {
		struct odict *o;
		char key[16];
		if (!odict_alloc(&o, 32)) {
			call_to_odict(o, id, &r, false);
			snprintf(key, sizeof(key), "%u", c->n);
			odict_entry_add(c->arr, key, ODICT_OBJECT, o);
			mem_deref(o);
		}
	} else {
		printf("%-8llu %-8s %-10s %-24s %-24s %-28s %s\n",
		       (unsigned long long)id, r.dir == CD_X2S ? "x2s" : "s2x",
		       r.state < CS_STATE_MAX ? callrec_state_name[r.state]
					      : "?",
		       safe(r.sid), safe(r.callid), safe(r.owner),
		       safe(r.gwjid));
	}
	c->n++;
	callrec_reset(&r);
	return true;
}


static int cmd_sessions(void)
{
	char h[160];

	snprintf(h, sizeof(h), "%-8s %-8s %-10s %-24s %-24s %-28s %s\n", "ID",
		 "KIND", "STATE", "SID", "CALL-ID", "USER", "PEER");
	return list_db(DB_CALL, sessions_visit, true, "sessions", h);
}


/* Where the account's REGISTERs go: its proxy, sip.proxy, the AOR's host
 * (as tr_reg routes them). */
static void reg_registrar(char *b, size_t sz, const struct regrec *r)
{
	const struct cfg_hostport *hp = &cfg->sip.proxy;
	struct uri u;
	struct pl pl;

	if (r->proxy && *r->proxy) {
		snprintf(b, sz, "%s", r->proxy);
		return;
	}
	if (hp->port) {
		snprintf(b, sz, strchr(hp->host, ':') ? "[%s]:%u" : "%s:%u",
			 hp->host, hp->port);
		return;
	}
	pl_set_str(&pl, r->aor);
	if (uri_decode(&u, &pl))
		snprintf(b, sz, "?");
	else if (u.port)
		re_snprintf(b, sz, "%r:%u", &u.host, u.port);
	else
		re_snprintf(b, sz, "%r", &u.host);
}


/* Seconds the binding still lasts (0: not bound). */
static uint64_t reg_expires_in(const struct regrec *r, uint64_t now)
{
	return r->reg_until > now ? (r->reg_until - now) / 1000 : 0;
}


/*
 * A registration record without its secrets: the password and the HA1
 * are never printed, only which of them is stored.
 */
static void reg_to_odict(struct odict *o, uint64_t id, const struct regrec *r,
			 bool full)
{
	static const char *const iq_name[] = {"none", "set", "remove"};
	const uint64_t now = wall_ms();
	char registrar[300];
	const struct {
		const char *k;
		const char *v;
	} strs[] = {
		{"auth_user", r->auth_user},
		{"proxy", r->proxy},
		{"display_name", r->display},
		{"call_id", r->callid},
		{"from_tag", r->ftag},
		{"contact_user", r->contact},
		{"iq_id", r->iq_id},
		{"iq_from", r->iq_from},
		{"service_route", r->routes},
		{"history", r->history},
		{"srtp", regrec_srtp_name[r->srtp]},
	};

	reg_registrar(registrar, sizeof(registrar), r);
	odict_entry_add(o, "id", ODICT_INT, (int64_t)id);
	odict_entry_add(o, "jid", ODICT_STRING, r->jid ? r->jid : "");
	odict_entry_add(o, "aor", ODICT_STRING, r->aor ? r->aor : "");
	odict_entry_add(o, "registrar", ODICT_STRING, registrar);
	odict_entry_add(o, "state", ODICT_STRING,
			r->state < RS_STATE_MAX ? regrec_state_name[r->state]
						: "?");
	odict_entry_add(o, "expires_in", ODICT_INT,
			(int64_t)reg_expires_in(r, now));
	odict_entry_add(o, "last_code", ODICT_INT, (int64_t)r->last_code);
	odict_entry_add(o, "last_reason", ODICT_STRING,
			r->last_reason ? r->last_reason : "");
	odict_entry_add(o, "failures", ODICT_INT, (int64_t)r->failures);
	odict_entry_add(o, "updated_ms", ODICT_INT, (int64_t)r->updated);
	if (!full)
		return;
	odict_entry_add(o, "kind", ODICT_STRING, "registration");
	odict_entry_add(o, "credentials", ODICT_STRING,
			r->password && *r->password ? "password"
			: r->ha1 && *r->ha1         ? "ha1"
						    : "none");
	odict_entry_add(o, "created_ms", ODICT_INT, (int64_t)r->created);
	odict_entry_add(o, "deadline_ms", ODICT_INT, (int64_t)r->deadline);
	odict_entry_add(o, "reg_until_ms", ODICT_INT, (int64_t)r->reg_until);
	odict_entry_add(o, "expires", ODICT_INT, (int64_t)r->expires);
	odict_entry_add(o, "granted", ODICT_INT, (int64_t)r->granted);
	odict_entry_add(o, "cseq", ODICT_INT, (int64_t)r->cseq);
	odict_entry_add(o, "out", ODICT_INT, (int64_t)r->out);
	odict_entry_add(o, "out_expires", ODICT_INT, (int64_t)r->out_expires);
	odict_entry_add(o, "authed", ODICT_INT, (int64_t)r->authed);
	odict_entry_add(o, "iq_kind", ODICT_STRING,
			r->iq_kind <= RIQ_REMOVE ? iq_name[r->iq_kind] : "?");
	odict_entry_add(o, "told", ODICT_INT, (int64_t)r->told);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		odict_entry_add(o, strs[i].k, ODICT_STRING,
				strs[i].v ? strs[i].v : "");
}


static bool registrations_visit(const void *k, size_t kl, const void *v,
				size_t vl, void *arg)
{
	struct list_ctx *c = arg;
	const uint64_t now = wall_ms();
	char registrar[300], last[160], exp[24];
	struct regrec r;
	uint64_t id;

	if (kl != 8 || regrec_decode(&r, v, vl))
		return true;
	id = be64_get(k);
	if (json) {
		struct odict *o;
		if (!odict_alloc(&o, 32)) {
			reg_to_odict(o, id, &r, false);
			re_printf("%s%H", c->n ? ",\n" : "", json_encode_odict,
				  o);
			mem_deref(o);
		}
	} else {
		reg_registrar(registrar, sizeof(registrar), &r);
		if (r.last_code)
			snprintf(last, sizeof(last), "%u %s", r.last_code,
				 r.last_reason ? r.last_reason : "");
		else
			snprintf(last, sizeof(last), "-");
		if (reg_expires_in(&r, now))
			snprintf(exp, sizeof(exp), "%llu",
				 (unsigned long long)reg_expires_in(&r, now));
		else
			snprintf(exp, sizeof(exp), "-");
		printf("%-8llu %-24s %-28s %-30s %-10s %7s %5u %7llus  %s\n",
		       (unsigned long long)id, safe(r.jid), safe(r.aor),
		       safe(registrar), regrec_state_name[r.state], exp,
		       r.failures,
		       (unsigned long long)(now > r.updated
						    ? (now - r.updated) / 1000
						    : 0),
		       safe(last));
	}
	c->n++;
	regrec_reset(&r);
	return true;
}


/* JSON: one array of objects (as tests and scripts read it). */
static int cmd_registrations(void)
{
	struct list_ctx c = {NULL, true, 0, false};
	struct store *s;
	struct store_txn *t;
	int err;

	if ((err = open_read(&s, &t)))
		return err;
	if (json)
		fputs("[", stdout);
	else
		printf("%-8s %-24s %-28s %-30s %-10s %7s %5s %8s  %s\n", "ID",
		       "JID", "AOR", "REGISTRAR", "STATE", "EXPIRES", "FAILS",
		       "UPDATED", "LAST ANSWER");
	fflush(stdout);
	store_scan(t, DB_REG, NULL, 0, registrations_visit, &c);
	store_abort(t);
	store_close(s);
	if (json)
		re_printf("]\n");
	return 0;
}


/* One record in full: JSON, or one "key value" line per field. */
static void print_record(const struct odict *o)
{
	if (json) {
		re_printf("%H\n", json_encode_odict, o);
		return;
	}
	for (struct le *le = list_head(&o->lst); le; le = le->next) {
		const struct odict_entry *e = le->data;
		if (e->type == ODICT_INT)
			printf("%-14s %lld\n", e->key, (long long)e->u.integer);
		else if (e->type == ODICT_BOOL)
			printf("%-14s %s\n", e->key,
			       e->u.boolean ? "yes" : "no");
		else if (e->type != ODICT_STRING)
			continue; /* (no record has more) */
		else if (strchr(e->u.str, '\n')) {
			printf("%s:\n", safe(e->key));
			put_lines(e->u.str);
		} else
			printf("%-14s %s\n", safe(e->key), safe(e->u.str));
	}
}


static int cmd_show(const char *arg)
{
	struct store *s;
	struct store_txn *t;
	struct callrec r;
	struct regrec rr;
	struct odict *o;
	uint8_t k[8];
	const void *v;
	size_t vl;
	char *end;
	unsigned long long id = strtoull(arg, &end, 10);
	int err, rerr = ENOENT;

	if (*end || !*arg) {
		fprintf(stderr, "xsgwctl: show: '%s' is not a session id\n",
			arg);
		return 2;
	}
	if ((err = open_read(&s, &t)))
		return err;
	be64_put(k, id);
	err = store_get(t, DB_CALL, k, 8, &v, &vl);
	if (!err)
		err = callrec_decode(&r, v, vl);
	if (err) { /* ids are never reused: a call's or an account's */
		rerr = store_get(t, DB_REG, k, 8, &v, &vl);
		if (!rerr)
			rerr = regrec_decode(&rr, v, vl);
	}
	store_abort(t);
	store_close(s);
	if (err && rerr) {
		fprintf(stderr,
			"xsgwctl: show: no session or registration "
			"%llu\n",
			id);
		return 1;
	}
	if (odict_alloc(&o, 32)) {
		if (err)
			regrec_reset(&rr);
		else
			callrec_reset(&r);
		return 1;
	}
	if (err) {
		reg_to_odict(o, id, &rr, true);
		regrec_reset(&rr);
	} else {
		call_to_odict(o, id, &r, true);
		callrec_reset(&r);
	}
	print_record(o);
	mem_deref(o);
	return 0;
}


static bool presence_visit(const void *k, size_t kl, const void *v, size_t vl,
			   void *arg)
{
	struct list_ctx *c = arg;
	struct pl bare, res;
	struct presrec pr;
	char jid[1024];

	if (key_presence_parse(k, kl, &bare, &res) ||
	    presrec_decode(&pr, v, vl) || bare.l + res.l + 2 > sizeof(jid))
		return true;
	re_snprintf(jid, sizeof(jid), "%r/%r", &bare, &res);
	if (json) {
		struct odict *o;
		char idx[16];
		if (!odict_alloc(&o, 8)) {
			odict_entry_add(o, "jid", ODICT_STRING, jid);
			odict_entry_add(o, "priority", ODICT_INT,
					(int64_t)pr.priority);
			odict_entry_add(o, "seen_ms", ODICT_INT,
					(int64_t)pr.seen_ms);
			snprintf(idx, sizeof(idx), "%u", c->n);
			odict_entry_add(c->arr, idx, ODICT_OBJECT, o);
			mem_deref(o);
		}
	} else
		printf("%-48s %d\n", safe(jid), pr.priority);
	c->n++;
	return true;
}


/* A phone of presence.phones: its state name, last event and source. */
static bool phone_visit(const void *k, size_t kl, const void *v, size_t vl,
			void *arg)
{
	struct list_ctx *c = arg;
	struct phonerec r;
	char idx[16];

	if (kl != 8 || phonerec_decode(&r, v, vl))
		return true;
	if (json) {
		struct odict *o;
		if (!odict_alloc(&o, 16)) {
			odict_entry_add(o, "id", ODICT_INT,
					(int64_t)be64_get(k));
			odict_entry_add(o, "aor", ODICT_STRING, r.aor);
			odict_entry_add(o, "jid", ODICT_STRING, r.jid);
			odict_entry_add(o, "gateway_jid", ODICT_STRING,
					r.gwjid);
			odict_entry_add(o, "state", ODICT_STRING,
					phonerec_state_name[r.state]);
			odict_entry_add(o, "last_event_ms", ODICT_INT,
					(int64_t)r.last_event);
			odict_entry_add(o, "source", ODICT_STRING,
					r.source ? r.source : "");
			/* the id itself resumes the session: not shown */
			odict_entry_add(o, "client_session_resumable",
					ODICT_BOOL,
					(bool)(r.cs_smid && *r.cs_smid));
			snprintf(idx, sizeof(idx), "%u", c->n);
			odict_entry_add(c->arr, idx, ODICT_OBJECT, o);
			mem_deref(o);
		}
	} else
		printf("phone %-32s %-18s %-10s %6llus ago  %s\n", safe(r.aor),
		       phonerec_state_name[r.state], safe(r.source),
		       (unsigned long long)(r.last_event && wall_ms() >
								    r.last_event
						    ? (wall_ms() -
						       r.last_event) /
							      1000
						    : 0),
		       safe(r.gwjid));
	c->n++;
	phonerec_reset(&r);
	return true;
}


/* A presence subscription's XMPP side: its gateway JID, watchers and the
 * presence last seen. */
static void sub_presence_odict(struct odict *o, const struct subrec *r)
{
	static const char *open[] = {"unknown", "open", "closed"};
	struct odict *arr;
	char *w = NULL, *save = NULL, *one, idx[16];
	unsigned n = 0;

	odict_entry_add(o, "gateway_jid", ODICT_STRING,
			r->gwjid ? r->gwjid : "");
	odict_entry_add(o, "authorized", ODICT_BOOL, (bool)r->authorized);
	odict_entry_add(o, "basic", ODICT_STRING,
			open[r->open <= SO_CLOSED ? r->open : 0]);
	odict_entry_add(o, "show", ODICT_STRING, r->show ? r->show : "");
	odict_entry_add(o, "status", ODICT_STRING, r->status ? r->status : "");
	if (odict_alloc(&arr, 8))
		return;
	if (!str_dup(&w, r->watchers ? r->watchers : ""))
		for (one = strtok_r(w, "\n", &save); one;
		     one = strtok_r(NULL, "\n", &save)) {
			snprintf(idx, sizeof(idx), "%u", n++);
			odict_entry_add(arr, idx, ODICT_STRING, one);
		}
	mem_deref(w);
	odict_entry_add(o, "watchers", ODICT_ARRAY, arr);
	mem_deref(arr);
}


/* One of the gateway's subscriptions at the presence server. */
static bool sub_visit(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	struct list_ctx *c = arg;
	struct subrec r;
	const uint64_t now = wall_ms();
	char idx[16];

	if (kl != 8 || subrec_decode(&r, v, vl))
		return true;
	if (json) {
		struct odict *o;
		if (!odict_alloc(&o, 16)) {
			odict_entry_add(o, "id", ODICT_INT,
					(int64_t)be64_get(k));
			odict_entry_add(o, "event", ODICT_STRING, r.event);
			odict_entry_add(o, "target", ODICT_STRING, r.target);
			odict_entry_add(o, "state", ODICT_STRING,
					subrec_state_name[r.state]);
			odict_entry_add(
				o, "expires_in", ODICT_INT,
				(int64_t)(r.deadline > now
						  ? (r.deadline - now) / 1000
						  : 0));
			odict_entry_add(o, "last_code", ODICT_INT,
					(int64_t)r.last_code);
			odict_entry_add(o, "failures", ODICT_INT,
					(int64_t)r.failures);
			if (!strcmp(r.event, "presence"))
				sub_presence_odict(o, &r);
			snprintf(idx, sizeof(idx), "%u", c->n);
			odict_entry_add(c->arr, idx, ODICT_OBJECT, o);
			mem_deref(o);
		}
	} else {
		printf("subscription %-8s %-32s %-11s %u  expires in %llus",
		       safe(r.event), safe(r.target),
		       subrec_state_name[r.state], r.last_code,
		       (unsigned long long)(r.deadline > now
						    ? (r.deadline - now) / 1000
						    : 0));
		if (r.watchers && *r.watchers) {
			char *w = NULL, *save = NULL, *one;
			if (!str_dup(&w, r.watchers))
				for (one = strtok_r(w, "\n", &save); one;
				     one = strtok_r(NULL, "\n", &save))
					printf("  %s", safe(one));
			mem_deref(w);
		}
		printf("\n");
	}
	c->n++;
	subrec_reset(&r);
	return true;
}


/* A SIP watcher of a served user (we notify it). */
static bool watch_visit(const void *k, size_t kl, const void *v, size_t vl,
			void *arg)
{
	struct list_ctx *c = arg;
	struct watchrec r;
	const uint64_t now = wall_ms();
	uint64_t in;
	char idx[16];

	if (kl != 8 || watchrec_decode(&r, v, vl))
		return true;
	in = r.expires_at > now ? (r.expires_at - now) / 1000 : 0;
	if (json) {
		struct odict *o;
		if (!odict_alloc(&o, 16)) {
			odict_entry_add(o, "id", ODICT_INT,
					(int64_t)be64_get(k));
			odict_entry_add(o, "watcher", ODICT_STRING,
					r.aor ? r.aor : "");
			odict_entry_add(o, "user", ODICT_STRING, r.user);
			odict_entry_add(o, "gateway_jid", ODICT_STRING,
					r.gwjid);
			odict_entry_add(o, "state", ODICT_STRING,
					watchrec_state_name[r.state]);
			odict_entry_add(
				o, "expires_in", ODICT_INT,
				(int64_t)(r.state == WS_TERMINATED ? 0 : in));
			odict_entry_add(o, "notified", ODICT_STRING,
					r.nbasic == WB_OPEN     ? "open"
					: r.nbasic == WB_CLOSED ? "closed"
								: "");
			odict_entry_add(o, "notifies", ODICT_INT,
					(int64_t)r.lcseq);
			snprintf(idx, sizeof(idx), "%u", c->n);
			odict_entry_add(c->arr, idx, ODICT_OBJECT, o);
			mem_deref(o);
		}
	} else
		printf("watcher %-32s of %-24s %-10s expires in %llus\n",
		       safe(r.aor), safe(r.user), watchrec_state_name[r.state],
		       (unsigned long long)(r.state == WS_TERMINATED ? 0 : in));
	c->n++;
	watchrec_reset(&r);
	return true;
}


static int cmd_presence(void)
{
	static const struct {
		enum store_db db;
		store_visit_h *visit;
		const char *key;
	} parts[] = {{DB_PRESENCE, presence_visit, "presence"},
		     {DB_PHONE, phone_visit, "phones"},
		     {DB_SUB, sub_visit, "subscriptions"},
		     {DB_WATCH, watch_visit, "watchers"}};
	struct odict *top = NULL;
	struct store *s;
	struct store_txn *t;
	int err;

	if ((err = open_read(&s, &t)))
		return err;
	if (json)
		odict_alloc(&top, 8);
	else
		printf("%-48s %s\n", "ONLINE RESOURCE", "PRIORITY");
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct list_ctx c = {NULL, true, 0, false};
		if (json)
			odict_alloc(&c.arr, 32);
		store_scan(t, parts[i].db, NULL, 0, parts[i].visit, &c);
		if (json) {
			odict_entry_add(top, parts[i].key, ODICT_ARRAY, c.arr);
			mem_deref(c.arr);
		}
	}
	store_abort(t);
	store_close(s);
	if (json) {
		re_printf("%H\n", json_encode_odict, top);
		mem_deref(top);
	}
	return 0;
}


/* A call or a registration (ids are never reused). */
static bool rec_exists(uint64_t id)
{
	struct store *s;
	struct store_txn *t;
	const void *v;
	size_t vl;
	uint8_t k[8];
	bool found;

	if (open_read(&s, &t))
		return false;
	be64_put(k, id);
	found = !store_get(t, DB_CALL, k, 8, &v, &vl) ||
		!store_get(t, DB_REG, k, 8, &v, &vl);
	store_abort(t);
	store_close(s);
	return found;
}


/* Ask the translator (through the supervisor) to end a call on both sides,
 * or to un-REGISTER and forget a SIP account, then watch the store until
 * the record is gone. */
static int cmd_end(const char *arg)
{
	struct status_ctx c = {0};
	struct fbuf fb = {0};
	char *end;
	unsigned long long id = strtoull(arg, &end, 10);
	int err;

	if (*end || !*arg) {
		fprintf(stderr, "xsgwctl: end: '%s' is not a session id\n",
			arg);
		return 2;
	}
	if (!rec_exists(id)) {
		fprintf(stderr,
			"xsgwctl: end: no session or registration %llu\n", id);
		return 1;
	}
	err = msg_enc_id(&fb, MSG_CTL_CALL_END, &(struct m_id){id});
	if (!err)
		err = ctl_call(&fb, status_frame, &c);
	fbuf_reset(&fb);
	if (err) {
		fprintf(stderr, "xsgwctl: supervisor not reachable: %s\n",
			strerror(err));
		return 2;
	}
	if (c.err) {
		fprintf(stderr, "xsgwctl: end: %s\n", safe(c.text));
		return 1;
	}
	for (int i = 0; i < 100 && rec_exists(id); i++)
		usleep(50000); /* a CLI may wait; the daemons never do */
	if (rec_exists(id)) {
		printf("%llu: ending (the far side has not answered yet)\n",
		       id);
		return 0;
	}
	printf("%llu: ended\n", id);
	return 0;
}


static bool count_visit(const void *k, size_t kl, const void *v, size_t vl,
			void *arg)
{
	++*(uint64_t *)arg;
	return true;
}


static bool stats_visit(const void *k, size_t kl, const void *v, size_t vl,
			void *arg)
{
	struct odict *o = arg;
	char name[128];

	if (vl != 8 || kl >= sizeof(name))
		return true;
	memcpy(name, k, kl);
	name[kl] = 0;
	if (json)
		odict_entry_add(o, name, ODICT_INT, (int64_t)be64_get(v));
	else
		printf("%-28s %llu\n", safe(name),
		       (unsigned long long)be64_get(v));
	return true;
}


static int cmd_stats(void)
{
	struct status_ctx sc = {0};
	struct list_ctx lc = {NULL, false, 0, false};
	struct fbuf fb = {0};
	struct store *s;
	struct store_txn *t;
	struct odict *o = NULL;
	uint64_t map, used, calls = 0, in_use, max;
	int err;

	if ((err = open_read(&s, &t)))
		return err;
	err = msg_enc_empty(&fb, MSG_CTL_STATUS);
	if (!err)
		err = ctl_call(&fb, status_frame, &sc);
	fbuf_reset(&fb);
	store_size(s, &map, &used);
	store_fill(t, &in_use, &max);
	if (json)
		odict_alloc(&o, 32);
	store_scan(t, DB_STATS, NULL, 0, stats_visit, o);
	lc.count_only = true;
	store_scan(t, DB_MSG, NULL, 0, messages_visit, &lc);
	store_scan(t, DB_CALL, NULL, 0, count_visit, &calls);
	store_abort(t);
	store_close(s);
	if (json) {
		odict_entry_add(o, "messages.pending", ODICT_INT,
				(int64_t)lc.n);
		odict_entry_add(o, "calls.active", ODICT_INT, (int64_t)calls);
		odict_entry_add(o, "store.map_bytes", ODICT_INT, (int64_t)map);
		odict_entry_add(o, "store.used_bytes", ODICT_INT,
				(int64_t)used);
		odict_entry_add(o, "store.max_bytes", ODICT_INT, (int64_t)max);
		odict_entry_add(o, "store.in_use_bytes", ODICT_INT,
				(int64_t)in_use);
		odict_entry_add(o, "store.fill_percent", ODICT_INT,
				(int64_t)(max ? in_use * 100 / max : 0));
		if (!err)
			odict_entry_add(o, "workers.restarts", ODICT_INT,
					(int64_t)sc.restarts);
		re_printf("%H\n", json_encode_odict, o);
		mem_deref(o);
	} else {
		printf("%-28s %u\n", "messages.pending", lc.n);
		printf("%-28s %llu\n", "calls.active",
		       (unsigned long long)calls);
		printf("%-28s %llu\n", "store.map_bytes",
		       (unsigned long long)map);
		printf("%-28s %llu\n", "store.used_bytes",
		       (unsigned long long)used);
		printf("%-28s %llu\n", "store.max_bytes",
		       (unsigned long long)max);
		printf("%-28s %llu\n", "store.in_use_bytes",
		       (unsigned long long)in_use);
		/* new work is refused above STORE_HIGH_WATER (80) percent */
		printf("%-28s %llu\n", "store.fill_percent",
		       (unsigned long long)(max ? in_use * 100 / max : 0));
		if (!err)
			printf("%-28s %u\n", "workers.restarts", sc.restarts);
		else
			printf("%-28s %s\n", "workers.restarts",
			       "(supervisor not running)");
	}
	return 0;
}


struct dump_ctx {
	enum store_db db;
};


static bool dump_visit(const void *k, size_t kl, const void *v, size_t vl,
		       void *arg)
{
	struct dump_ctx *c = arg;
	struct odict *o;
	char *hex;

	if (odict_alloc(&o, 32))
		return false;
	odict_entry_add(o, "db", ODICT_STRING, store_db_name(c->db));
	hex = mem_alloc(kl * 2 + 1, NULL);
	for (size_t i = 0; hex && i < kl; i++)
		sprintf(hex + 2 * i, "%02x", ((const uint8_t *)k)[i]);
	if (hex) {
		hex[kl * 2] = 0;
		odict_entry_add(o, "key_hex", ODICT_STRING, hex);
	}
	mem_deref(hex);
	if (c->db == DB_MSG && kl == 8) {
		struct msgrec r;
		if (!msgrec_decode(&r, v, vl, NULL)) {
			struct odict *m;
			if (!odict_alloc(&m, 32)) {
				msg_to_odict(m, be64_get(k), &r);
				odict_entry_add(o, "value", ODICT_OBJECT, m);
				mem_deref(m);
			}
			msgrec_reset(&r);
		}
	} else if (c->db == DB_REG && kl == 8) {
		/* never the raw value: it holds the password and the HA1 */
		struct regrec r;
		if (!regrec_decode(&r, v, vl)) {
			struct odict *m;
			if (!odict_alloc(&m, 32)) {
				reg_to_odict(m, be64_get(k), &r, true);
				odict_entry_add(o, "value", ODICT_OBJECT, m);
				mem_deref(m);
			}
			regrec_reset(&r);
		} else {
			odict_entry_add(o, "value_bytes", ODICT_INT,
					(int64_t)vl);
		}
	} else if (vl == 8) {
		odict_entry_add(o, "value", ODICT_INT, (int64_t)be64_get(v));
	} else {
		odict_entry_add(o, "value_bytes", ODICT_INT, (int64_t)vl);
	}
	if (c->db == DB_MSGKEY || c->db == DB_STATS || c->db == DB_META ||
	    c->db == DB_REGKEY) {
		char *ks = mem_alloc(kl + 1, NULL);
		if (ks) {
			memcpy(ks, k, kl);
			ks[kl] = 0;
			odict_entry_add(o, "key", ODICT_STRING, ks);
			mem_deref(ks);
		}
	}
	re_printf("%H\n", json_encode_odict, o);
	mem_deref(o);
	return true;
}


static int cmd_dump(void)
{
	struct store *s;
	struct store_txn *t;
	int err;

	if ((err = open_read(&s, &t)))
		return err;
	for (int db = 0; db < DB_COUNT; db++) {
		struct dump_ctx c = {db};
		store_scan(t, db, NULL, 0, dump_visit, &c);
	}
	store_abort(t);
	store_close(s);
	return 0;
}


int main(int argc, char **argv)
{
	const char *file = getenv("XSGW_CONFIG"), *cmd;
	bool all = false;
	char eb[512];
	int i = 1, rc;

	if (!file)
		file = "/etc/xsgw/xsgw.yaml";
	if (argc > 2 && !strcmp(argv[1], "-c")) {
		file = argv[2];
		i = 3;
	}
	if (i >= argc)
		usage();
	cmd = argv[i++];
	for (int j = i; j < argc; j++) {
		if (!strcmp(argv[j], "--json"))
			json = true;
		else if (!strcmp(argv[j], "--all"))
			all = true;
	}
	if (config_load(&cfg, file, eb, sizeof(eb))) {
		fprintf(stderr, "xsgwctl: config: %s\n", eb);
		return EXIT_CONFIG;
	}
	if (!strcmp(cmd, "status"))
		rc = cmd_status();
	else if (!strcmp(cmd, "restart") && i < argc)
		rc = cmd_restart(argv[i]);
	else if (!strcmp(cmd, "stats"))
		rc = cmd_stats();
	else if (!strcmp(cmd, "messages"))
		rc = cmd_messages(all);
	else if (!strcmp(cmd, "sessions"))
		rc = cmd_sessions();
	else if (!strcmp(cmd, "presence"))
		rc = cmd_presence();
	else if (!strcmp(cmd, "registrations"))
		rc = cmd_registrations();
	else if (!strcmp(cmd, "end") && i < argc)
		rc = cmd_end(argv[i]);
	else if (!strcmp(cmd, "show") && i < argc)
		rc = cmd_show(argv[i]);
	else if (!strcmp(cmd, "dump"))
		rc = cmd_dump();
	else
		usage();
	config_free(cfg);
	return rc;
}
