/* SIP watchers of served XMPP users (SPEC 6.3, translator/tr_watch.c), the
 * parts without peers:
 *   watchrec   the record: round trip of every field, truncations, other
 *              versions, bad states;
 *   presrec    v2 (show, status) round trip, v1 read (schema 4 stores),
 *              status cut at a character;
 *   watchkey   key_watchuser: a user's watchers are one prefix, those from
 *              one gateway JID a longer one; long JIDs digested; parse;
 *   pidf       tr_pidf_out: basic, RPID activities, note, escaping;
 *   machine    the translator over a temporary store (as
 *              test_translator.c): one test per row of the table at the
 *              top of tr_watch.c, by the frames the commit wrote to each
 *              front and the records left in the store;
 *   upgrade    schema 4 -> 5: presence records v1 -> v2, then served.
 * XSGW_TEST_DUMP=1 prints every frame the fronts receive.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <re.h>
#include "config.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "presrec.h"
#include "store.h"
#include "translator.h"
#include "util.h"
#include "watchrec.h"
#include "xmpp_util.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum { MAXF = 32 };

#define FRANK    "frank@localhost"
#define FRANK_R  "frank@localhost/pc"
#define BOB_GW   "bob@sip.localhost"
#define PEER_SRC "udp 127.0.0.1:5090"


static uint8_t *copy(const void *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, b, n);
	return c;
}


static char *sdup(const char *s)
{
	char *d = NULL;

	assert_int_equal(str_dup(&d, s), 0);
	return d;
}


/* ---- watchrec ------------------------------------------------------ */

static void watchrec_full(struct watchrec *r)
{
	memset(r, 0, sizeof(*r));
	r->state = WS_ACTIVE;
	r->created = 1700000000001ULL;
	r->updated = 1700000000002ULL;
	r->deadline = UINT64_MAX;
	r->expires_at = 1700000003600ULL;
	r->expires = 3600;
	r->user = sdup(FRANK);
	r->entity = sdup("sip:frank@localhost");
	r->aor = sdup("sip:bob@example.org");
	r->gwjid = sdup(BOB_GW);
	r->callid = sdup("c1@w");
	r->ltag = sdup("00000000000000ff");
	r->rtag = sdup("wt");
	r->luri = sdup("<sip:frank@localhost>");
	r->ruri = sdup("<sip:bob@example.org>");
	r->rtarget = sdup("sip:w@127.0.0.1:5090");
	r->routes = sdup("<sip:p1;lr>\n<sip:p2;lr>\n");
	r->evid = sdup("7");
	r->lcseq = 3;
	r->rcseq = UINT32_MAX;
	r->out = 42;
	r->nbasic = WB_OPEN;
	r->nshow = sdup("away");
	r->nnote = sdup("Lunch");
	r->reason = sdup("");
	r->history = sdup("1 pending -> active\n");
}


static void test_watchrec_round_trip(void **state)
{
	struct watchrec r, d;
	struct fbuf fb = {0};

	watchrec_full(&r);
	assert_int_equal(watchrec_encode(&fb, &r), 0);
	assert_int_equal(fb.b[0], WATCHREC_VERSION);
	assert_int_equal(watchrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.state, r.state);
	assert_true(d.deadline == r.deadline && d.expires_at == r.expires_at);
	assert_int_equal(d.rcseq, UINT32_MAX);
	assert_int_equal(d.lcseq, 3);
	assert_true(d.out == 42);
	assert_string_equal(d.user, r.user);
	assert_string_equal(d.entity, r.entity);
	assert_string_equal(d.gwjid, r.gwjid);
	assert_string_equal(d.routes, r.routes);
	assert_string_equal(d.evid, r.evid);
	assert_string_equal(d.nshow, "away");
	assert_string_equal(d.nnote, "Lunch");
	assert_string_equal(d.history, r.history);
	watchrec_reset(&d);
	/* every truncation, a byte more, other versions, bad states */
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		assert_int_equal(watchrec_decode(&d, c, n), EBADMSG);
		free(c);
	}
	frame_put_raw(&fb, "", 1);
	assert_int_equal(watchrec_decode(&d, fb.b, fb.len), EBADMSG);
	fb.len--;
	fb.b[0] = WATCHREC_VERSION + 1;
	assert_int_equal(watchrec_decode(&d, fb.b, fb.len), EBADMSG);
	for (uint32_t s = 0; s <= WS_STATE_MAX; s += WS_STATE_MAX) {
		r.state = s;
		assert_int_equal(watchrec_encode(&fb, &r), 0);
		assert_int_equal(watchrec_decode(&d, fb.b, fb.len), EBADMSG);
	}
	fbuf_reset(&fb);
	watchrec_reset(&r);
}


/* ---- presrec -------------------------------------------------------- */

static void test_presrec_v2(void **state)
{
	struct presrec p = {.priority = -3, .seen_ms = 77}, d;
	struct fbuf fb = {0};
	char big[PRESREC_STATUS_MAX + 8];

	presrec_set_show(&p, "dnd");
	presrec_set_status(&p, "in a <meeting>");
	assert_int_equal(presrec_encode(&fb, &p), 0);
	assert_int_equal(fb.b[0], 2);
	assert_int_equal(presrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.priority, -3);
	assert_string_equal(d.show, "dnd");
	assert_string_equal(d.status, "in a <meeting>");
	for (size_t n = 13; n < fb.len; n++) {
		uint8_t *c = copy(fb.b, n);
		assert_int_equal(presrec_decode(&d, c, n), EBADMSG);
		free(c);
	}
	/* a v1 record (schema 4): no show, no status */
	fbuf_reset(&fb);
	rec_begin(&fb, 1);
	frame_put_u32(&fb, 5);
	frame_put_u64(&fb, 9);
	assert_int_equal(presrec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.priority, 5);
	assert_string_equal(d.show, "");
	assert_string_equal(d.status, "");
	/* only RFC 6121's shows; a status cut before a character */
	presrec_set_show(&p, "busy");
	assert_string_equal(p.show, "");
	memset(big, 'a', sizeof(big));
	memcpy(big + PRESREC_STATUS_MAX - 1, "\xc3\xa9", 2); /* é across */
	big[sizeof(big) - 1] = 0;
	presrec_set_status(&p, big);
	assert_int_equal(strlen(p.status), PRESREC_STATUS_MAX - 1);
	fbuf_reset(&fb);
}


/* ---- watchkey ------------------------------------------------------- */

static void test_key_watchuser(void **state)
{
	uint8_t k[KEY_MAX], p1[KEY_MAX], p2[KEY_MAX], o[KEY_MAX];
	char longjid[400];
	size_t kl, l1, l2, ol;
	uint64_t id = 0;

	kl = key_watchuser(k, sizeof(k), FRANK, BOB_GW, 0x0102000000000001ULL);
	l1 = key_watchuser_prefix(p1, sizeof(p1), FRANK, NULL);
	l2 = key_watchuser_prefix(p2, sizeof(p2), FRANK, BOB_GW);
	assert_true(kl && l1 && l2 && l1 < l2 && l2 + 8 == kl);
	assert_memory_equal(k, p1, l1);
	assert_memory_equal(k, p2, l2);
	assert_int_equal(key_watchuser_parse(k, kl, &id), 0);
	assert_true(id == 0x0102000000000001ULL);
	/* frank's prefix is not franky's */
	ol = key_watchuser(o, sizeof(o), "franky@localhost", BOB_GW, 1);
	assert_true(ol >= l1 && memcmp(o, p1, l1));
	/* a long JID has a key (digested), the same each time */
	memset(longjid, 'x', sizeof(longjid));
	memcpy(longjid + sizeof(longjid) - 11, "@localhost", 11);
	kl = key_watchuser(k, sizeof(k), longjid, BOB_GW, 9);
	l1 = key_watchuser_prefix(p1, sizeof(p1), longjid, NULL);
	assert_true(kl && kl < 120 && l1 && !memcmp(k, p1, l1));
	assert_int_equal(key_watchuser_parse(k, kl, &id), 0);
	assert_true(id == 9);
	/* not of this kind, truncated */
	assert_int_equal(key_watchuser_parse(k, 11, &id), EBADMSG);
	k[0] = 'x';
	assert_int_equal(key_watchuser_parse(k, kl, &id), EBADMSG);
	assert_int_equal(key_watchuser(k, 10, FRANK, BOB_GW, 1), 0);
}


/* ---- pidf ----------------------------------------------------------- */

static void test_pidf_out(void **state)
{
	static const struct {
		struct tr_pres_view v;
		const char *has[4];
		const char *hasnt;
	} cases[] = {
		{{true, "", ""}, {"<basic>open</basic>"}, "<note>"},
		{{true, "", "a&b<c>\"'"},
		 {"<note>a&amp;b&lt;c&gt;&quot;&apos;</note>"},
		 "rpid:activities"},
		{{true, "away", ""},
		 {"<rpid:away/>", "<note>Away</note>"},
		 NULL},
		{{true, "xa", "fishing"},
		 {"<rpid:away/>", "<note>fishing</note>"},
		 NULL},
		{{true, "dnd", ""},
		 {"<rpid:busy/>", "<note>Do not disturb"},
		 NULL},
		{{true, "chat", ""},
		 {"<basic>open</basic>"},
		 "rpid:activities"},
		{{false, "dnd", "x"}, {"<basic>closed</basic>"}, "<note>"},
	};
	char *b;

	for (size_t i = 0; i < NELEM(cases); i++) {
		assert_int_equal(tr_pidf_out(&b, "sip:f\"@l", &cases[i].v), 0);
		assert_non_null(strstr(b, "entity=\"sip:f&quot;@l\""));
		assert_non_null(
			strstr(b, "xmlns=\"urn:ietf:params:xml:ns:pidf\""));
		for (size_t j = 0; cases[i].has[j]; j++)
			if (!strstr(b, cases[i].has[j]))
				fail_msg("case %zu: %s not in %s", i,
					 cases[i].has[j], b);
		if (cases[i].hasnt && strstr(b, cases[i].hasnt))
			fail_msg("case %zu: %s in %s", i, cases[i].hasnt, b);
		mem_deref(b);
	}
}


/* ---- the machine: the translator over a temporary store ------------- */

static struct translator tr;
static char dir[64];
static int xfd = -1, sfd = -1;

struct staged {
	uint16_t type;
	uint8_t *buf;
	uint64_t out;
	struct m_sip_out_request rq;
	struct m_sip_out_response rs;
	struct m_xmpp_out xo;
};
static struct staged xs[MAXF], ss[MAXF];
static unsigned nx, ns;


static void staged_clear(void)
{
	for (unsigned i = 0; i < nx; i++)
		mem_deref(xs[i].buf);
	for (unsigned i = 0; i < ns; i++)
		mem_deref(ss[i].buf);
	memset(xs, 0, sizeof(xs));
	memset(ss, 0, sizeof(ss));
	nx = ns = 0;
}


static void drain(int fd, struct staged *arr, unsigned *n)
{
	uint8_t *in = mem_alloc(1 << 20, NULL);
	size_t len = 0, off = 0, used;
	struct frame fr;
	ssize_t r;

	assert_non_null(in);
	while ((r = recv(fd, in + len, (1 << 20) - len, MSG_DONTWAIT)) > 0)
		len += (size_t)r;
	while (off < len) {
		struct staged *s;

		assert_int_equal(frame_parse(in + off, len - off, &fr, &used),
				 0);
		assert_true(*n < MAXF);
		s = &arr[(*n)++];
		s->type = fr.type;
		s->buf = mem_alloc(used, NULL);
		assert_non_null(s->buf);
		memcpy(s->buf, in + off, used);
		assert_int_equal(frame_parse(s->buf, used, &fr, &used), 0);
		if (fr.type == MSG_SIP_OUT_REQUEST) {
			assert_int_equal(msg_dec_sip_out_request(&fr, &s->rq),
					 0);
			s->out = s->rq.out;
		} else if (fr.type == MSG_SIP_OUT_RESPONSE) {
			assert_int_equal(msg_dec_sip_out_response(&fr, &s->rs),
					 0);
			s->out = s->rs.out;
		} else if (fr.type == MSG_XMPP_OUT) {
			assert_int_equal(msg_dec_xmpp_out(&fr, &s->xo), 0);
			s->out = s->xo.out;
		} else {
			fail_msg("unexpected frame %u", fr.type);
		}
		off += used;
	}
	mem_deref(in);
}


static void commit(void)
{
	staged_clear();
	tr_commit(&tr);
	drain(sfd, ss, &ns);
	drain(xfd, xs, &nx);
	if (getenv("XSGW_TEST_DUMP")) {
		for (unsigned i = 0; i < ns; i++)
			if (ss[i].type == MSG_SIP_OUT_REQUEST)
				fprintf(stderr, "sip> %.*s\n%.*s%.*s\n",
					(int)ss[i].rq.method.l,
					ss[i].rq.method.p, (int)ss[i].rq.hdrs.l,
					ss[i].rq.hdrs.p, (int)ss[i].rq.body.l,
					ss[i].rq.body.p);
			else
				fprintf(stderr, "sip> %u %.*s\n%.*s\n",
					ss[i].rs.scode, (int)ss[i].rs.reason.l,
					ss[i].rs.reason.p, (int)ss[i].rs.hdrs.l,
					ss[i].rs.hdrs.p);
		for (unsigned i = 0; i < nx; i++)
			fprintf(stderr, "xmpp> %.*s\n", (int)xs[i].xo.xml.l,
				xs[i].xo.xml.p);
	}
}


static int chan_frame(struct chan *ch, struct frame *fr, void *arg)
{
	return EPROTO;
}


static void front(struct tr_peer *p, enum proc_id id, int *mine)
{
	int sv[2], big = 4 << 20;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	p->id = id;
	assert_int_equal(chan_alloc(&p->ch, sv[0], proc_name(id), chan_frame,
				    NULL, NULL, NULL),
			 0);
	*mine = sv[1];
}


static int setup(void **state)
{
	struct xsgw_config *cfg = NULL;
	char path[128], eb[256];
	FILE *f;

	memset(&tr, 0, sizeof(tr));
	strcpy(dir, "/tmp/xsgw-watch-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/xsgw.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"xmpp: {component: sip.localhost, host: 127.0.0.1, "
		"port: 5347, secret: s3cret, domains: [localhost]}\n"
		"sip: {listen: \"127.0.0.1:5600\", proxy: \"\", "
		"domain: \"example.org\", username_to_phone: "
		"[{username: frank, phone: \"+15550001\"}]}\n"
		"presence: {subscribe_expires_s: 600}\n"
		"store: {path: %s/store, map_size: 64MiB}\n"
		"runtime: {dir: %s/run}\n"
		"log: {level: error}\n",
		dir, dir);
	fclose(f);
	if (config_load(&cfg, path, eb, sizeof(eb)))
		fail_msg("config: %s", eb);
	tr.proc.id = PROC_TRANSLATOR;
	tr.proc.cfg = cfg;
	list_init(&tr.after);
	tr.lfd = -1;
	assert_int_equal(
		store_open(&tr.store, cfg->store.path, cfg->store.map_size, 0),
		0);
	tr.xctx = xmpp_ctx_new(NULL, NULL);
	assert_non_null(tr.xctx);
	assert_int_equal(tr_upgrade(&tr), 0);
	front(&tr.xmpp, PROC_XMPP_FRONT, &xfd);
	front(&tr.sip, PROC_SIP_FRONT, &sfd);
	return 0;
}


static int teardown(void **state)
{
	char cmd[128];

	staged_clear();
	tr.xmpp.ch = mem_deref(tr.xmpp.ch);
	tr.sip.ch = mem_deref(tr.sip.ch);
	close(xfd);
	close(sfd);
	if (tr.txn)
		store_abort(tr.txn);
	tr.txn = NULL;
	list_flush(&tr.after);
	store_close(tr.store);
	xmpp_ctx_free(tr.xctx);
	config_free(tr.proc.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}


static void xin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void xin(const char *fmt, ...)
{
	struct m_xmpp_in m;
	char *xml = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&xml, fmt, ap) > 0);
	va_end(ap);
	pl_set_str(&m.xml, xml);
	tr_from_xmpp(&tr, &m);
	free(xml);
	commit();
}


/* A SUBSCRIBE from the watcher: to-tag (NULL: outside the dialog), CSeq,
 * more header lines (Event, Expires, ...). */
/* the watcher's Contact in the SUBSCRIBEs below, and where the NOTIFYs
 * are expected to go */
static const char *contact = "sip:w@127.0.0.1:5090";
static const char *target = "sip:w@127.0.0.1:5090";

static void subscribe(const char *ruri, const char *totag, unsigned cseq,
		      const char *extra)
{
	struct m_sip_in_request m = {.tx = 100 + cseq};
	char raw[2048];

	snprintf(raw, sizeof(raw),
		 "SUBSCRIBE %s SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKw%u\r\n"
		 "From: <sip:bob@example.org>;tag=wt\r\n"
		 "To: <%s>%s%s\r\nCall-ID: c1@w\r\nCSeq: %u SUBSCRIBE\r\n"
		 "Contact: <%s>\r\n"
		 "Record-Route: <sip:p1;lr>\r\n"
		 "%sContent-Length: 0\r\n\r\n",
		 ruri, cseq, ruri, totag ? ";tag=" : "", totag ? totag : "",
		 cseq, contact, extra);
	pl_set_str(&m.src, PEER_SRC);
	pl_set_str(&m.raw, raw);
	tr_from_sip_request(&tr, &m);
	commit();
}


static void out_done(uint64_t out, unsigned scode, const char *reason)
{
	struct m_out_done m = {.out = out, .scode = scode};

	pl_set_str(&m.reason, reason);
	tr_owner_done(&tr, PROC_SIP_FRONT, &m);
	commit();
}


static unsigned expire(void)
{
	struct tr_due due[64];
	unsigned n = tr_deadline_take(&tr, wall_ms() + 7ULL * 24 * 3600 * 1000,
				      due, 64);

	for (unsigned i = 0; i < n; i++)
		tr_owner_expired(&tr, due[i].kind, due[i].id);
	commit();
	return n;
}


static bool pl_has(const struct pl *pl, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; n <= pl->l && i <= pl->l - n; i++)
		if (!memcmp(pl->p + i, s, n))
			return true;
	return false;
}


static void pl_contains(const struct pl *pl, const char *s)
{
	if (!pl_has(pl, s))
		fail_msg("'%s' not in:\n%.*s", s, (int)pl->l,
			 pl->p ? pl->p : "");
}


/* The one response staged, with scode. */
static const struct staged *response(unsigned scode)
{
	for (unsigned i = 0; i < ns; i++)
		if (ss[i].type == MSG_SIP_OUT_RESPONSE) {
			assert_int_equal(ss[i].rs.scode, scode);
			return &ss[i];
		}
	fail_msg("no response %u", scode);
	return NULL;
}


/* The NOTIFY staged (n NOTIFYs in all), whose Subscription-State is
 * state. */
static const struct staged *notify(const char *state)
{
	const struct staged *f = NULL;

	for (unsigned i = 0; i < ns; i++)
		if (ss[i].type == MSG_SIP_OUT_REQUEST) {
			assert_null(f);
			f = &ss[i];
		}
	if (!f)
		fail_msg("no NOTIFY (%s)", state);
	assert_true(pl_has(&f->rq.method, "NOTIFY"));
	pl_contains(&f->rq.hdrs, state);
	pl_contains(&f->rq.hdrs, "Event: presence");
	pl_contains(&f->rq.hdrs, "Call-ID: c1@w");
	pl_contains(&f->rq.hdrs, "To: <sip:bob@example.org>;tag=wt");
	pl_contains(&f->rq.hdrs, "Route: <sip:p1;lr>");
	assert_true(pl_has(&f->rq.ruri, target));
	return f;
}


static unsigned requests(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ns; i++)
		n += ss[i].type == MSG_SIP_OUT_REQUEST;
	return n;
}


/* The watcher's record (the one there is), or state 0. */
static struct watchrec wr;

static bool wr_visit(const void *k, size_t kl, const void *v, size_t vl,
		     void *arg)
{
	assert_int_equal(watchrec_decode(&wr, v, vl), 0);
	*(uint64_t *)arg = be64_get(k);
	return false;
}


static uint64_t watcher(void)
{
	uint64_t id = 0;

	watchrec_reset(&wr);
	store_scan(tr_txn(&tr), DB_WATCH, NULL, 0, wr_visit, &id);
	store_abort(tr.txn);
	tr.txn = NULL;
	return id;
}


static char ltag[32];

/* A new watcher of frank: 202 (Expires capped), NOTIFY pending, frank
 * asked from bob's gateway JID. */
static void pending(void)
{
	char to[64];
	const struct staged *r;

	subscribe("sip:frank@localhost", NULL, 1,
		  "Event: presence;id=7\r\nExpires: 3600\r\n"
		  "Accept: application/pidf+xml\r\n");
	r = response(202);
	pl_contains(&r->rs.hdrs, "Expires: 600\r\n");
	pl_contains(&r->rs.hdrs, "Contact: ");
	{
		char h[2048];
		pl_strcpy(&r->rs.hdrs, h, sizeof(h));
		assert_null(strstr(h, "Recv-Info")); /* INVITE dialogs' */
	}
	assert_true(r->rs.totag != 0);
	snprintf(ltag, sizeof(ltag), "%016llx",
		 (unsigned long long)r->rs.totag);
	notify("Subscription-State: pending;expires=");
	pl_contains(&notify("pending")->rq.hdrs, "Event: presence;id=7\r\n");
	snprintf(to, sizeof(to), "From: <sip:frank@localhost>;tag=%s", ltag);
	pl_contains(&notify("pending")->rq.hdrs, to);
	assert_int_equal(notify("pending")->rq.body.l, 0);
	assert_int_equal(nx, 1);
	pl_contains(&xs[0].xo.xml, "type=\"subscribe\"");
	pl_contains(&xs[0].xo.xml, "from=\"" BOB_GW "\"");
	pl_contains(&xs[0].xo.xml, "to=\"" FRANK "\"");
	assert_true(watcher());
	assert_int_equal(wr.state, WS_PENDING);
}


static void active(void)
{
	pending();
	xin("<presence from='" FRANK_R "' to='sip.localhost'><show>away</show>"
	    "<status>Lunch</status></presence>");
	assert_int_equal(ns, 0); /* pending: told nothing */
	xin("<presence from='" FRANK "' to='" BOB_GW "' type='subscribed'/>");
	pl_contains(&notify("Subscription-State: active;expires=")->rq.body,
		    "<basic>open</basic>");
	pl_contains(&notify("active")->rq.body, "<note>Lunch</note>");
	pl_contains(&notify("active")->rq.body, "<rpid:away/>");
	pl_contains(&notify("active")->rq.hdrs,
		    "Content-Type: application/pidf+xml");
	assert_true(watcher());
	assert_int_equal(wr.state, WS_ACTIVE);
}


static void test_subscribe_pending(void **state)
{
	pending();
	assert_string_equal(wr.user, FRANK);
	assert_string_equal(wr.gwjid, BOB_GW);
	assert_string_equal(wr.aor, "sip:bob@example.org");
	assert_string_equal(wr.routes, "<sip:p1;lr>\n");
	assert_int_equal(wr.expires, 600);
	watchrec_reset(&wr);
}


static void test_approved_then_changes(void **state)
{
	active();
	/* the same presence again (to another gateway JID): nothing */
	xin("<presence from='" FRANK_R
	    "' to='x@sip.localhost'><show>away</show>"
	    "<status>Lunch</status></presence>");
	assert_int_equal(ns, 0);
	xin("<presence from='" FRANK_R "' to='" BOB_GW "'><show>dnd</show>"
	    "</presence>");
	pl_contains(&notify("active")->rq.body, "<rpid:busy/>");
	xin("<presence from='" FRANK_R "' to='" BOB_GW
	    "' type='unavailable'/>");
	pl_contains(&notify("active")->rq.body, "<basic>closed</basic>");
	assert_true(watcher());
	assert_int_equal(wr.nbasic, WB_CLOSED);
	assert_int_equal(wr.lcseq, 4);
	watchrec_reset(&wr);
}


static void test_refused(void **state)
{
	pending();
	xin("<presence from='" FRANK "' to='" BOB_GW "' type='unsubscribed'/>");
	notify("Subscription-State: terminated;reason=rejected\r\n");
	assert_true(watcher());
	assert_int_equal(wr.state, WS_TERMINATED);
	/* the final NOTIFY done: the record and its keys are gone */
	out_done(wr.out, 200, "OK");
	assert_false(watcher());
	subscribe("sip:frank@localhost", ltag, 2, "Event: presence\r\n");
	response(481);
}


static void test_refresh_unsubscribe(void **state)
{
	active();
	/* a target refresh: the NOTIFYs follow the new Contact */
	contact = target = "sip:w2@127.0.0.1:5091";
	subscribe("sip:frank@localhost", ltag, 2,
		  "Event: presence;id=7\r\nExpires: 60\r\n");
	contact = "sip:w@127.0.0.1:5090";
	pl_contains(&response(200)->rs.hdrs, "Expires: 60\r\n");
	pl_contains(&notify("active;expires=")->rq.body, "<basic>open</basic>");
	/* its retransmission (a restarted sip-front): the answer again */
	subscribe("sip:frank@localhost", ltag, 2,
		  "Event: presence;id=7\r\nExpires: 60\r\n");
	response(200);
	assert_int_equal(requests(), 0);
	/* out of order */
	subscribe("sip:frank@localhost", ltag, 1,
		  "Event: presence;id=7\r\nExpires: 60\r\n");
	response(500);
	/* a Contact that cannot be a request target is ignored */
	contact = "sip:w3@127.0.0.1:5090 SIP/2.0\tX";
	subscribe("sip:frank@localhost", ltag, 3,
		  "Event: presence;id=7\r\nExpires: 60\r\n");
	contact = "sip:w@127.0.0.1:5090";
	response(200);
	notify("active;expires="); /* still to w2 (notify() checks) */
	/* the un-SUBSCRIBE is a target refresh too */
	target = "sip:w@127.0.0.1:5090";
	subscribe("sip:frank@localhost", ltag, 4,
		  "Event: presence;id=7\r\nExpires: 0\r\n");
	pl_contains(&response(200)->rs.hdrs, "Expires: 0\r\n");
	pl_contains(&notify("Subscription-State: terminated")->rq.body,
		    "<basic>open</basic>");
	assert_int_equal(nx, 1); /* the user's roster follows */
	pl_contains(&xs[0].xo.xml, "type=\"unsubscribe\"");
	assert_true(watcher());
	assert_int_equal(wr.state, WS_TERMINATED);
	/* no outcome: its deadline forgets it */
	expire();
	assert_false(watcher());
}


static void test_expiry_and_gone(void **state)
{
	active();
	assert_int_equal(expire(), 1);
	notify("Subscription-State: terminated;reason=timeout\r\n");
	assert_true(watcher());
	out_done(wr.out, 408, "Request Timeout");
	assert_false(watcher());
	/* a watcher whose NOTIFY is answered 481 is gone at once */
	active();
	xin("<presence from='" FRANK_R "' to='" BOB_GW "'/>");
	{
		struct m_sip_in_response m = {.out = ss[0].out, .scode = 481};
		pl_set_str(&m.reason, "Call Leg Does Not Exist");
		pl_set_str(&m.raw, "");
		tr_from_sip_response(&tr, &m);
		commit();
	}
	assert_int_equal(ns, 0);
	assert_false(watcher());
	/* 404 ends it too; 491 affects only that NOTIFY (RFC 5057 5.1) */
	for (unsigned code = 404;; code = 491) {
		active();
		xin("<presence from='" FRANK_R "' to='" BOB_GW "'/>");
		{
			struct m_sip_in_response m = {.out = ss[0].out,
						      .scode = code};
			pl_set_str(&m.reason, "X");
			pl_set_str(&m.raw, "");
			tr_from_sip_response(&tr, &m);
			commit();
		}
		assert_int_equal(ns, 0);
		if (code == 491)
			break;
		assert_false(watcher());
	}
	assert_true(watcher());
	watchrec_reset(&wr);
	/* and the next change is NOTIFYed */
	xin("<presence from='" FRANK_R "' to='" BOB_GW
	    "' type='unavailable'/>");
	pl_contains(&notify("active")->rq.body, "<basic>closed</basic>");
}


/* A user's watchers are bounded (each change is told to all in one
 * batch): the one past the bound is refused 503, never left untold. */
static void test_too_many_watchers(void **state)
{
	char raw[1024];

	for (unsigned i = 0; i <= 256; i++) {
		struct m_sip_in_request m = {.tx = 1000 + i};
		snprintf(raw, sizeof(raw),
			 "SUBSCRIBE sip:frank@localhost SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKm%u\r\n"
			 "From: <sip:bob@example.org>;tag=m%u\r\n"
			 "To: <sip:frank@localhost>\r\nCall-ID: m%u@w\r\n"
			 "CSeq: 1 SUBSCRIBE\r\n"
			 "Contact: <sip:w@127.0.0.1:5090>\r\n"
			 "Event: presence\r\nContent-Length: 0\r\n\r\n",
			 i, i, i);
		pl_set_str(&m.src, PEER_SRC);
		pl_set_str(&m.raw, raw);
		tr_from_sip_request(&tr, &m);
		commit();
		if (i < 256)
			response(202);
	}
	pl_contains(&response(503)->rs.hdrs, "Retry-After: ");
	assert_int_equal(requests(), 0);
}


static void test_refused_requests(void **state)
{
	subscribe("sip:frank@localhost", NULL, 1, "Event: dialog\r\n");
	pl_contains(&response(489)->rs.hdrs, "Allow-Events: presence\r\n");
	subscribe("sip:frank@localhost", NULL, 1, "");
	response(489);
	subscribe("sip:frank@localhost", NULL, 1,
		  "Event: presence\r\nExpires: 1x\r\n");
	response(400);
	subscribe("sip:frank@localhost", NULL, 1,
		  "Event: presence\r\nAccept: text/plain\r\n");
	response(406);
	subscribe("sip:frank@elsewhere.example", NULL, 1,
		  "Event: presence\r\n");
	response(404);
	subscribe("sip:frank@localhost", "nosuchtag", 1, "Event: presence\r\n");
	response(481);
	assert_false(watcher());
	/* a fetch: 202 and the end, nobody asked */
	subscribe("sip:+15550001@example.org", NULL, 1,
		  "Event: presence\r\nExpires: 0\r\n");
	response(202);
	notify("Subscription-State: terminated;reason=timeout");
	assert_int_equal(nx, 0);
	/* its retransmission (a restarted sip-front): 202 again, no NOTIFY */
	subscribe("sip:+15550001@example.org", NULL, 1,
		  "Event: presence\r\nExpires: 0\r\n");
	response(202);
	assert_int_equal(requests(), 0);
	/* a later request in that ended dialog: 481 */
	subscribe("sip:+15550001@example.org", NULL, 2,
		  "Event: presence\r\nExpires: 0\r\n");
	response(481);
	assert_true(watcher());
	assert_string_equal(wr.user, FRANK);
	watchrec_reset(&wr);
}


/* Schema 4 -> 5: a v1 presence record (no show, no status) is rewritten
 * as v2, and a watcher approved after the upgrade is told of it. */
static void test_upgrade_4_to_5(void **state)
{
	struct store_txn *t;
	struct fbuf fb = {0};
	uint8_t k[KEY_MAX];
	const void *v;
	size_t kl, vl;
	struct presrec pr;
	const struct xsgw_config *cfg = tr.proc.cfg;

	assert_int_equal(store_begin(tr.store, &t, true), 0);
	store_set_schema(t, 4);
	kl = key_presence(k, sizeof(k), FRANK, "pc");
	rec_begin(&fb, 1);
	frame_put_u32(&fb, 7);
	frame_put_u64(&fb, 99);
	store_put(t, DB_PRESENCE, k, kl, fb.b, fb.len);
	assert_int_equal(store_commit(t), 0);
	fbuf_reset(&fb);
	store_close(tr.store);
	assert_int_equal(
		store_open(&tr.store, cfg->store.path, cfg->store.map_size, 0),
		0);
	assert_int_equal(store_schema(tr.store), 4);
	assert_int_equal(tr_upgrade(&tr), 0);
	assert_int_equal(store_begin(tr.store, &t, false), 0);
	assert_int_equal(store_get(t, DB_META, "schema", 6, &v, &vl), 0);
	assert_int_equal(vl, 4);
	assert_int_equal(be32_get(v), STORE_SCHEMA);
	assert_int_equal(store_get(t, DB_PRESENCE, k, kl, &v, &vl), 0);
	assert_int_equal(((const uint8_t *)v)[0], PRESREC_VERSION);
	assert_int_equal(presrec_decode(&pr, v, vl), 0);
	assert_int_equal(pr.priority, 7);
	assert_true(pr.seen_ms == 99);
	store_abort(t);
	pending();
	xin("<presence from='" FRANK "' to='" BOB_GW "' type='subscribed'/>");
	pl_contains(&notify("active;expires=")->rq.body, "<basic>open</basic>");
	watchrec_reset(&wr);
}


static int group_setup(void **state)
{
	log_setup(getenv("XSGW_TEST_LOG") ? LOG_DEBUG : LOG_ERROR, 0);
	xmpp_initialize();
	return libre_init();
}


static int group_teardown(void **state)
{
	xmpp_shutdown();
	libre_close();
	return 0;
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watchrec_round_trip),
		cmocka_unit_test(test_presrec_v2),
		cmocka_unit_test(test_key_watchuser),
		cmocka_unit_test(test_pidf_out),
		cmocka_unit_test_setup_teardown(test_subscribe_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_approved_then_changes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_unsubscribe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_too_many_watchers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_4_to_5, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
