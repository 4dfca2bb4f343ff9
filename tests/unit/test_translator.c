/* The translator without peers: the brain (build/libtranslator.a, the
 * translator minus its main) is set up as main() does minus the listener,
 * over a temporary store, with each front a socketpair. A test injects what
 * a front would send through the translator's real entry points
 * (tr_from_xmpp, tr_from_sip_request/response, tr_owner_done, deadlines
 * taken past the clock, the operator's CE_OP_END), commits the batch, reads
 * the frames the commit wrote to each front and checks them, and the
 * records and keys in the store.
 *
 *   calls     one test per row of the transition table in tr_call.c, each
 *             (direction, state) reached by a helper that drives a call
 *             there (x2s_calling, x2s_ringing, x2s_active, x2s_cancelling,
 *             x2s_waiting, s2x_ringing, s2x_proposed, s2x_active);
 *   messages  chat <-> MESSAGE, outcomes, receipts, dedup, bounces,
 *             retention;
 *   outbox    replay of what is not done, with the same out ids; an
 *             OUT_DONE for an unknown id.
 *
 * Tests marked "Regression" found a bug when they were written.
 * XSGW_TEST_DUMP=1 prints every frame the fronts receive, XSGW_TEST_LOG=1
 * the translator's log.
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
#include "addr.h"
#include "callrec.h"
#include "config.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "msgrec.h"
#include "outrec.h"
#include "phonerec.h"
#include "store.h"
#include "tr_call_act.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"

enum { MAXF = 32, BIG = 16384 };

#define ALICE      "alice@localhost"
#define ALICE_RES  "alice@localhost/res"
#define ALICE_RES2 "alice@localhost/res2"
#define ALICE_RES3 "alice@localhost/res3"
#define BOB_GW     "bob@sip.localhost"
#define BOB_URI    "sip:bob@127.0.0.1:5070"
/* sip:bob@127.0.0.1:5070 seen from XMPP: 127.0.0.1 is not sip.domain
 * (127.0.0.1:5070), so the host is escaped into the node */
#define BOB_S2X_GW "bob\\40127.0.0.1@sip.localhost"
#define PEER_SRC   "udp 127.0.0.1:5070"
#define PEER_TGT   "sip:peer@127.0.0.1:5070"
#define CONTACT    "<sip:xsgw@127.0.0.1:5600>"

#define PHONE_SDP                                                              \
	"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"                       \
	"c=IN IP4 127.0.0.1\r\nt=0 0\r\n"                                      \
	"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

#define RTP_PCMU                                                               \
	"<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"       \
	"<payload-type id='0' name='PCMU' clockrate='8000'/></description>"
#define ICE_OPEN                                                               \
	"<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "             \
	"ufrag='aaaa' pwd='aaaaaaaaaaaaaaaaaaaaaaaa'>"
#define CAND(id, port)                                                         \
	"<candidate foundation='1' component='1' protocol='udp' "              \
	"priority='2130706431' ip='127.0.0.1' port='" port "' type='host' "    \
	"generation='0' id='" id "'/>"
#define ICE_OPEN_B                                                             \
	"<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "             \
	"ufrag='bbbb' pwd='bbbbbbbbbbbbbbbbbbbbbbbb'>"
#define CAND_40000  CAND("c1", "40000")
#define CAND_40007  CAND("c7", "40007")
#define CAND_40009  CAND("c9", "40009")
#define CAND_41000  CAND("a1", "41000")
#define AUDIO       "<content creator='initiator' name='audio' senders='both'>"
#define VIDEO       "<content creator='initiator' name='video' senders='both'>"
#define END_CONTENT "</transport></content>"
/* alice's offer, her trickled candidates, bob's answer */
#define OFFER         AUDIO RTP_PCMU ICE_OPEN CAND_40000 END_CONTENT
#define TRICKLE_40009 AUDIO ICE_OPEN CAND_40009 END_CONTENT
#define TRICKLE_40007 AUDIO ICE_OPEN CAND_40007 END_CONTENT
#define TRICKLE_VIDEO VIDEO ICE_OPEN CAND_40009 END_CONTENT
#define ANSWER        AUDIO RTP_PCMU ICE_OPEN_B CAND_41000 END_CONTENT
/* XEP-0339: one more source in the audio content */
#define SOURCE_ADD                                                             \
	AUDIO "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>" \
	      "<payload-type id='0' name='PCMU' clockrate='8000'/>"            \
	      "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1111'>"   \
	      "<parameter name='cname' "                                       \
	      "value='c1'/></source></description>" ICE_OPEN CAND_40000        \
		      END_CONTENT
/* bad media: a description without media, a candidate without port */
#define BAD_DESCRIPTION                                                        \
	AUDIO "<description xmlns='urn:xmpp:jingle:apps:rtp:1'/>" ICE_OPEN     \
		CAND_40000 END_CONTENT
#define BAD_CANDIDATE                                                          \
	AUDIO RTP_PCMU ICE_OPEN                                                \
		"<candidate component='1' ip='127.0.0.1'/>" END_CONTENT


/* ---- the translator and its fronts -------------------------------- */

static struct translator tr;
static char dir[64];
static int xfd = -1, sfd = -1; /* the fronts' ends of the socketpairs */

/* Config of a test (prestate); NULL: the defaults below. */
struct opts {
	uint32_t candidate_wait_ms;
	uint32_t propose_timeout_ms;
};
static const struct opts defaults = {300, 1000};
static const struct opts no_propose = {300, 0};


/* One frame the commit wrote to a front. */
struct staged {
	uint16_t type;
	uint8_t *buf; /* the frame: the decoded strings point here */
	size_t len;
	uint64_t out;
	struct m_sip_out_request rq;
	struct m_sip_out_response rs;
	struct m_xmpp_out xo;
	xmpp_stanza_t *st; /* MSG_XMPP_OUT parsed */
};
static struct staged xs[MAXF], ss[MAXF];
static unsigned nx, ns;


static void staged_clear(void)
{
	for (unsigned i = 0; i < nx; i++) {
		if (xs[i].st)
			xmpp_stanza_release(xs[i].st);
		mem_deref(xs[i].buf);
	}
	for (unsigned i = 0; i < ns; i++)
		mem_deref(ss[i].buf);
	memset(xs, 0, sizeof(xs));
	memset(ss, 0, sizeof(ss));
	nx = ns = 0;
}


/* Read everything a front has received and decode it frame by frame. */
static void drain(int fd, struct staged *arr, unsigned *n)
{
	uint8_t *in = NULL;
	size_t len = 0, off = 0, used;
	struct frame fr;
	ssize_t r;

	for (;;) {
		uint8_t *b = in ? mem_realloc(in, len + 65536)
				: mem_alloc(65536, NULL);
		assert_non_null(b);
		in = b;
		r = recv(fd, in + len, 65536, MSG_DONTWAIT);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	while (off < len) {
		struct staged *s;
		char *xml = NULL;

		assert_int_equal(frame_parse(in + off, len - off, &fr, &used),
				 0);
		if (fr.type == MSG_ACK) { /* the fronts never sent anything */
			fail_msg("an ACK to a front that sent no frame");
		}
		assert_true(*n < MAXF);
		s = &arr[(*n)++];
		s->type = fr.type;
		s->len = used;
		s->buf = mem_alloc(used, NULL);
		assert_non_null(s->buf);
		memcpy(s->buf, in + off, used);
		assert_int_equal(frame_parse(s->buf, used, &fr, &used), 0);
		switch (fr.type) {
		case MSG_SIP_OUT_REQUEST:
			assert_int_equal(msg_dec_sip_out_request(&fr, &s->rq),
					 0);
			s->out = s->rq.out;
			break;
		case MSG_SIP_OUT_RESPONSE:
			assert_int_equal(msg_dec_sip_out_response(&fr, &s->rs),
					 0);
			s->out = s->rs.out;
			break;
		case MSG_XMPP_OUT:
			assert_int_equal(msg_dec_xmpp_out(&fr, &s->xo), 0);
			s->out = s->xo.out;
			assert_int_equal(pl_strdup(&xml, &s->xo.xml), 0);
			s->st = xmpp_stanza_new_from_string(tr.xctx, xml);
			if (!s->st)
				fail_msg("unparsable stanza: %s", xml);
			mem_deref(xml);
			break;
		default:
			fail_msg("unexpected frame %s to a front",
				 msg_type_name(fr.type));
		}
		assert_true(s->out != 0);
		off += used;
	}
	mem_deref(in);
}


/* XSGW_TEST_DUMP=1: print what the fronts received. */
static void dump(void)
{
	for (unsigned i = 0; i < ns; i++) {
		const struct staged *f = &ss[i];
		if (f->type == MSG_SIP_OUT_REQUEST)
			fprintf(stderr,
				"sip> %.*s %.*s (out %llu)\n%.*s\n%.*s\n",
				(int)f->rq.method.l, f->rq.method.p,
				(int)f->rq.ruri.l, f->rq.ruri.p,
				(unsigned long long)f->out, (int)f->rq.hdrs.l,
				f->rq.hdrs.p, (int)f->rq.body.l, f->rq.body.p);
		else
			fprintf(stderr,
				"sip> %u %.*s (out %llu, tx "
				"%llu)\n%.*s\n%.*s\n",
				f->rs.scode, (int)f->rs.reason.l,
				f->rs.reason.p, (unsigned long long)f->out,
				(unsigned long long)f->rs.tx, (int)f->rs.hdrs.l,
				f->rs.hdrs.p, (int)f->rs.body.l, f->rs.body.p);
	}
	for (unsigned i = 0; i < nx; i++)
		fprintf(stderr, "xmpp> %.*s\n", (int)xs[i].xo.xml.l,
			xs[i].xo.xml.p);
}


/* End of a batch: commit, then what each front received. */
static void commit(void)
{
	staged_clear();
	tr_commit(&tr);
	assert_null(tr.txn);
	/* everything was written at once: nothing waits for the loop */
	assert_int_equal(chan_queued(tr.sip.ch), 0);
	assert_int_equal(chan_queued(tr.xmpp.ch), 0);
	drain(sfd, ss, &ns);
	drain(xfd, xs, &nx);
	if (getenv("XSGW_TEST_DUMP"))
		dump();
}


/* Drop the read transaction a look into the store opened. */
static void release(void)
{
	assert_true(list_isempty(&tr.after));
	if (tr.txn)
		store_abort(tr.txn);
	tr.txn = NULL;
}


static int chan_frame(struct chan *ch, struct frame *fr, void *arg)
{
	return EPROTO; /* the fronts never write in these tests */
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
	const struct opts *o = *state ? *state : &defaults;
	struct xsgw_config *cfg = NULL;
	char path[128], eb[256];
	FILE *f;

	memset(&tr, 0, sizeof(tr));
	strcpy(dir, "/tmp/xsgw-tr-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/xsgw.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"xmpp: {component: sip.localhost, host: 127.0.0.1, "
		"port: 5347, secret: s3cret, domains: [localhost]}\n"
		"sip: {listen: \"127.0.0.1:5600\", proxy: \"\", "
		"domain: \"127.0.0.1:5070\", message_timeout_ms: 4000, "
		"ring_timeout_ms: 60000, call_idle_timeout_s: 3600, "
		"propose_timeout_ms: %u, candidate_wait_ms: %u}\n"
		"store: {path: %s/store, map_size: 64MiB}\n"
		"runtime: {dir: %s/run}\n"
		"log: {level: error}\n",
		o->propose_timeout_ms, o->candidate_wait_ms, dir, dir);
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


/* ---- what the fronts send ----------------------------------------- */

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


/* A raw SIP message: start line, headers (each ending CRLF), body. */
static void sip_raw(char *buf, size_t sz, const char *start, const char *hdrs,
		    const char *ctype, const char *body)
{
	size_t bl = body ? strlen(body) : 0;
	int n = snprintf(buf, sz, "%s\r\n%s%s%s%sContent-Length: %zu\r\n\r\n%s",
			 start, hdrs, bl ? "Content-Type: " : "",
			 bl ? ctype : "", bl ? "\r\n" : "", bl, bl ? body : "");

	assert_true(n > 0 && (size_t)n < sz);
}


static void sip_in(uint64_t tx, const char *raw)
{
	struct m_sip_in_request m = {.tx = tx};

	pl_set_str(&m.src, PEER_SRC);
	pl_set_str(&m.raw, raw);
	tr_from_sip_request(&tr, &m);
	commit();
}


static void sip_resp_in(uint64_t out, unsigned scode, const char *reason,
			const char *raw)
{
	struct m_sip_in_response m = {.out = out, .scode = scode};

	pl_set_str(&m.reason, reason);
	pl_set_str(&m.raw, raw ? raw : "");
	tr_from_sip_response(&tr, &m);
	commit();
}


static void out_done(enum proc_id front_id, uint64_t out, unsigned scode,
		     const char *reason)
{
	struct m_out_done m = {.out = out, .scode = scode};

	pl_set_str(&m.reason, reason);
	tr_owner_done(&tr, front_id, &m);
	commit();
}


/* The clock past every deadline: the sweep of translator.c. */
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


static void op_end(uint64_t id)
{
	struct call_ev e = {.reason = "ended by the operator (xsgwctl end)"};

	assert_int_equal(tr_call_apply(&tr, id, CE_OP_END, &e), 0);
	commit();
}


/* ---- checking frames ---------------------------------------------- */

static bool pl_eq(const struct pl *pl, const char *s)
{
	size_t n = strlen(s);

	return pl->l == n && (!n || !memcmp(pl->p, s, n));
}


static void pl_is(const struct pl *pl, const char *s)
{
	if (!pl_eq(pl, s))
		fail_msg("'%.*s' is not '%s'", (int)pl->l, pl->p ? pl->p : "",
			 s);
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


/* The value of the n-th (0-based) header called name, into out. */
static bool hdr_nth(const struct pl *hdrs, const char *name, unsigned nth,
		    char *out, size_t sz)
{
	const char *p = hdrs->p, *end = hdrs->p + hdrs->l;
	size_t nl = strlen(name);

	if (!hdrs->l)
		return false;
	/* every header line ends in CRLF */
	assert_true(hdrs->l >= 2 && !memcmp(end - 2, "\r\n", 2));
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t ll = (size_t)(eol - p);
		if (ll > nl && !strncasecmp(p, name, nl) && p[nl] == ':' &&
		    !nth--) {
			const char *v = p + nl + 1;
			size_t vl = ll - nl - 1;
			while (vl && *v == ' ')
				v++, vl--;
			if (vl >= sz)
				vl = sz - 1;
			memcpy(out, v, vl);
			out[vl] = 0;
			return true;
		}
		p = eol + 2;
	}
	return false;
}


static bool hdr(const struct pl *hdrs, const char *name, char *out, size_t sz)
{
	return hdr_nth(hdrs, name, 0, out, sz);
}


static unsigned hdr_count(const struct pl *hdrs, const char *name)
{
	char v[1024];
	unsigned n = 0;

	while (hdr_nth(hdrs, name, n, v, sizeof(v)))
		n++;
	return n;
}


static void hdr_is(const struct pl *hdrs, const char *name, const char *want)
{
	char v[1024];

	if (!hdr(hdrs, name, v, sizeof(v)))
		fail_msg("no %s in:\n%.*s", name, (int)hdrs->l, hdrs->p);
	if (strcmp(v, want))
		fail_msg("%s: '%s', expected '%s'", name, v, want);
	assert_int_equal(hdr_count(hdrs, name), 1);
}


static void hdr_has(const struct pl *hdrs, const char *name, const char *sub)
{
	char v[1024];

	if (!hdr(hdrs, name, v, sizeof(v)))
		fail_msg("no %s in:\n%.*s", name, (int)hdrs->l, hdrs->p);
	if (!strstr(v, sub))
		fail_msg("%s: '%s' lacks '%s'", name, v, sub);
}


static void hdr_none(const struct pl *hdrs, const char *name)
{
	if (hdr_count(hdrs, name))
		fail_msg("unexpected %s in:\n%.*s", name, (int)hdrs->l,
			 hdrs->p);
}


/* The i-th frame to the sip-front: a request of method. */
static struct m_sip_out_request *sreq(unsigned i, const char *method)
{
	if (i >= ns)
		fail_msg("%u frame(s) to the sip-front, no #%u", ns, i);
	if (ss[i].type != MSG_SIP_OUT_REQUEST)
		fail_msg("frame #%u to the sip-front is %s", i,
			 msg_type_name(ss[i].type));
	pl_is(&ss[i].rq.method, method);
	return &ss[i].rq;
}


/* The i-th frame to the sip-front: a response with scode. */
static struct m_sip_out_response *sresp(unsigned i, unsigned scode)
{
	if (i >= ns)
		fail_msg("%u frame(s) to the sip-front, no #%u", ns, i);
	if (ss[i].type != MSG_SIP_OUT_RESPONSE)
		fail_msg("frame #%u to the sip-front is %s", i,
			 msg_type_name(ss[i].type));
	assert_int_equal(ss[i].rs.scode, scode);
	return &ss[i].rs;
}


/* The only response with scode to the sip-front. */
static struct m_sip_out_response *sresp_find(unsigned scode)
{
	struct m_sip_out_response *r = NULL;

	for (unsigned i = 0; i < ns; i++)
		if (ss[i].type == MSG_SIP_OUT_RESPONSE &&
		    ss[i].rs.scode == scode) {
			if (r)
				fail_msg("two %u responses", scode);
			r = &ss[i].rs;
		}
	if (!r)
		fail_msg("no %u response among %u frame(s)", scode, ns);
	return r;
}


static const char *attr(xmpp_stanza_t *st, const char *name)
{
	return xu_attr(st, name);
}


static xmpp_stanza_t *jingle_of(xmpp_stanza_t *iq)
{
	xmpp_stanza_t *j =
		xmpp_stanza_get_child_by_name_and_ns(iq, "jingle", NS_JINGLE);

	assert_non_null(j);
	return j;
}


/* The condition inside <reason/> of a Jingle IQ. */
static const char *reason_of(xmpp_stanza_t *iq)
{
	xmpp_stanza_t *r =
		xmpp_stanza_get_child_by_name(jingle_of(iq), "reason");
	xmpp_stanza_t *c = r ? xu_first_elem(r) : NULL;

	return c ? xmpp_stanza_get_name(c) : "";
}


/* The defined condition of an <error/> (RFC 6120 8.3). */
static const char *error_of(xmpp_stanza_t *st)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");

	for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c;
	     c = xmpp_stanza_get_next(c)) {
		const char *cns = xmpp_stanza_get_ns(c);
		if (xmpp_stanza_is_tag(c) && cns && !strcmp(cns, NS_STANZAS) &&
		    strcmp(xmpp_stanza_get_name(c), "text"))
			return xmpp_stanza_get_name(c);
	}
	return "";
}


/* The only stanza to the xmpp-front matching name/type/id/to (NULL: any). */
static xmpp_stanza_t *xfind(const char *name, const char *type, const char *id,
			    const char *to)
{
	xmpp_stanza_t *r = NULL;

	for (unsigned i = 0; i < nx; i++) {
		xmpp_stanza_t *st = xs[i].st;
		if (strcmp(xmpp_stanza_get_name(st), name) ||
		    (type && strcmp(attr(st, "type"), type)) ||
		    (id && strcmp(attr(st, "id"), id)) ||
		    (to && strcmp(attr(st, "to"), to)))
			continue;
		if (r)
			fail_msg("two <%s type=%s id=%s to=%s/>", name,
				 type ? type : "*", id ? id : "*",
				 to ? to : "*");
		r = st;
	}
	if (!r)
		fail_msg("no <%s type=%s id=%s to=%s/> among %u stanza(s)",
			 name, type ? type : "*", id ? id : "*", to ? to : "*",
			 nx);
	return r;
}


/* The only Jingle IQ of action to `to` (NULL: anyone). */
static xmpp_stanza_t *xjingle(const char *action, const char *to)
{
	xmpp_stanza_t *r = NULL;

	for (unsigned i = 0; i < nx; i++) {
		xmpp_stanza_t *st = xs[i].st, *j;
		if (strcmp(xmpp_stanza_get_name(st), "iq") ||
		    strcmp(attr(st, "type"), "set"))
			continue;
		j = xmpp_stanza_get_child_by_name_and_ns(st, "jingle",
							 NS_JINGLE);
		if (!j || strcmp(attr(j, "action"), action) ||
		    (to && strcmp(attr(st, "to"), to)))
			continue;
		if (r)
			fail_msg("two %s to %s", action, to ? to : "*");
		r = st;
	}
	if (!r)
		fail_msg("no %s to %s among %u stanza(s)", action,
			 to ? to : "*", nx);
	return r;
}


static void expect_iq_result(const char *id, const char *to)
{
	(void)xfind("iq", "result", id, to);
}


static void expect_iq_error(const char *id, const char *to, const char *cond)
{
	assert_string_equal(error_of(xfind("iq", "error", id, to)), cond);
}


static char *text_of(xmpp_stanza_t *st, const char *child, char *buf, size_t sz)
{
	xmpp_stanza_t *c = xmpp_stanza_get_child_by_name(st, child);
	char *t = c ? xmpp_stanza_get_text(c) : NULL;

	snprintf(buf, sz, "%s", t ? t : "");
	if (t)
		xmpp_free(tr.xctx, t);
	return buf;
}


/* ---- checking the store -------------------------------------------- */

static uint64_t key_get(enum callkey_kind kind, const char *a, const char *b)
{
	uint64_t id = tr_callrec_key_get(&tr, kind, a, b);

	release();
	return id;
}


/* The call's record (reset by the caller), or ENOENT. */
static int rec_load(uint64_t id, struct callrec *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = tr_callrec_load(&tr, id, r);
	release();
	return err;
}


/* The call's state, 0 if it is gone. */
static uint32_t state_of(uint64_t id)
{
	struct callrec r;
	uint32_t st = rec_load(id, &r) ? 0 : r.state;

	callrec_reset(&r);
	return st;
}


struct dl_scan {
	enum owner_kind kind;
	uint64_t id, when;
	unsigned n;
};


static bool dl_visit(const void *k, size_t kl, const void *v, size_t vl,
		     void *arg)
{
	struct dl_scan *c = arg;
	enum owner_kind kind;
	uint64_t when, id;

	if (!key_deadline_parse(k, kl, &when, &kind, &id) && kind == c->kind &&
	    id == c->id) {
		c->when = when;
		c->n++;
	}
	return true;
}


/* The deadline of an owner (0: none); there is never more than one. */
static uint64_t deadline_of(enum owner_kind kind, uint64_t id)
{
	struct dl_scan c = {kind, id, 0, 0};

	store_scan(tr_txn(&tr), DB_DEADLINE, NULL, 0, dl_visit, &c);
	release();
	assert_true(c.n <= 1);
	return c.when;
}


/* The owner of a front's outbox entry; false if there is none. */
static bool outbox_owner(enum proc_id f, uint64_t out, struct tr_owner *o)
{
	int err = tr_out_take(&tr, f, out, false, o);

	release();
	return !err;
}


static int msg_load(uint64_t id, struct msgrec *r)
{
	const void *v;
	size_t vl;
	int err;

	memset(r, 0, sizeof(*r));
	err = tr_rec_get(&tr, DB_MSG, id, &v, &vl);
	if (!err)
		assert_int_equal(msgrec_decode(r, v, vl, NULL), 0);
	release();
	return err;
}


/* ---- calls: driving one to a state ------------------------------- */

/* A call as the test's SIP peer and XMPP user see it. */
struct call {
	uint64_t id;
	char sid[80];
	char callid[128];
	char ltag[40], rtag[40]; /* the gateway's tag, the SIP peer's */
	uint32_t cseq;           /* the SIP peer's last CSeq in the dialog */
	char gw[80];             /* the SIP party as a gateway JID */
	char me[80];             /* the XMPP user's full JID in the call */
	/* X2S: our INVITE */
	uint64_t inv_out;
	char inv_branch[80], inv_from[200], inv_to[200];
	/* S2X */
	char content[40]; /* content name of the session-initiate */
	char init_id[80]; /* id of the session-initiate IQ to me */
	uint64_t ok_out;  /* the 200's outbox entry */
};


/* A request the gateway sent, as its peer keeps it to answer. */
struct sent {
	uint64_t out;
	char branch[80], from[200], to[200], callid[128], cseq[40];
};


static void sent_of(const struct m_sip_out_request *rq, struct sent *s)
{
	memset(s, 0, sizeof(*s));
	s->out = rq->out;
	pl_strcpy(&rq->branch, s->branch, sizeof(s->branch));
	assert_true(hdr(&rq->hdrs, "From", s->from, sizeof(s->from)));
	assert_true(hdr(&rq->hdrs, "To", s->to, sizeof(s->to)));
	assert_true(hdr(&rq->hdrs, "Call-ID", s->callid, sizeof(s->callid)));
	assert_true(hdr(&rq->hdrs, "CSeq", s->cseq, sizeof(s->cseq)));
}


/* The SIP peer answers a request of ours (totag added unless To has one
 * or it is NULL); extra headers end in CRLF. */
static void respond(const struct sent *s, unsigned scode, const char *reason,
		    const char *totag, const char *extra, const char *sdp)
{
	char start[64], hdrs[2048], raw[BIG];
	bool tagged = strstr(s->to, ";tag=") != NULL;

	snprintf(start, sizeof(start), "SIP/2.0 %u %s", scode, reason);
	snprintf(hdrs, sizeof(hdrs),
		 "Via: SIP/2.0/UDP 127.0.0.1:5600;branch=%s\r\n"
		 "From: %s\r\nTo: %s%s%s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
		 "%s%s",
		 s->branch, s->from, s->to, !tagged && totag ? ";tag=" : "",
		 !tagged && totag ? totag : "", s->callid, s->cseq,
		 scode > 100 && scode < 300 ? "Contact: <" PEER_TGT ">\r\n"
					    : "",
		 extra ? extra : "");
	sip_raw(raw, sizeof(raw), start, hdrs, "application/sdp", sdp);
	sip_resp_in(s->out, scode, reason, raw);
}


/* The SIP peer's request in the dialog of c (cseq 0: the next one). */
static void dlg_raw(struct call *c, char *raw, size_t sz, const char *method,
		    uint32_t cseq, const char *ctype, const char *body)
{
	char start[128], hdrs[2048];

	if (!cseq)
		cseq = ++c->cseq;
	else if (cseq > c->cseq)
		c->cseq = cseq;
	snprintf(start, sizeof(start), "%s sip:xsgw@127.0.0.1:5600 SIP/2.0",
		 method);
	snprintf(hdrs, sizeof(hdrs),
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%s-%u\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <" BOB_URI ">;tag=%s\r\n"
		 "To: <sip:alice@localhost>;tag=%s\r\n"
		 "Call-ID: %s\r\nCSeq: %u %s\r\n%s",
		 method, cseq, c->rtag, c->ltag, c->callid, cseq, method,
		 !strcmp(method, "INVITE") || !strcmp(method, "UPDATE")
			 ? "Contact: <" PEER_TGT ">\r\n"
			 : "");
	sip_raw(raw, sz, start, hdrs, ctype, body);
}


static void dlg_in(struct call *c, uint64_t tx, const char *method,
		   uint32_t cseq, const char *ctype, const char *body)
{
	char raw[BIG];

	dlg_raw(c, raw, sizeof(raw), method, cseq, ctype, body);
	sip_in(tx, raw);
}


/* A Jingle IQ from the XMPP user of c to the gateway. */
static void jin(struct call *c, const char *type, const char *id,
		const char *action, const char *body)
{
	xin("<iq type='%s' id='%s' from='%s' to='%s'>"
	    "<jingle xmlns='urn:xmpp:jingle:1' action='%s' sid='%s'>%s"
	    "</jingle></iq>",
	    type, id, c->me, c->gw, action, c->sid, body ? body : "");
}


/* The record's dialog identifiers into c. */
static void learn(struct call *c)
{
	struct callrec r;

	assert_int_equal(rec_load(c->id, &r), 0);
	snprintf(c->callid, sizeof(c->callid), "%s", r.callid);
	snprintf(c->ltag, sizeof(c->ltag), "%s", r.ltag);
	snprintf(c->sid, sizeof(c->sid), "%s", r.sid);
	callrec_reset(&r);
}


/* Everything of a call is gone: record, keys, deadline. */
static void assert_gone(const struct call *c)
{
	struct callrec r;

	assert_int_equal(rec_load(c->id, &r), ENOENT);
	assert_int_equal(key_get(CK_SID, ALICE, c->sid), 0);
	assert_int_equal(key_get(CK_DIALOG, c->callid, c->ltag), 0);
	assert_int_equal(key_get(CK_REMOTE, c->callid, c->rtag), 0);
	assert_int_equal(deadline_of(OWN_CALL, c->id), 0);
}


/* alice's session-initiate to bob@sip.localhost */
static void initiate(const char *id, const char *sid, const char *contents)
{
	xin("<iq type='set' id='%s' from='" ALICE_RES "' to='" BOB_GW "'>"
	    "<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' "
	    "sid='%s' initiator='" ALICE_RES "'>%s</jingle></iq>",
	    id, sid, contents);
}


/* X2S: alice@localhost/res calls bob@sip.localhost; cands: the ICE
 * transport's candidates (none: trickled later). */
static void x2s_initiate(struct call *c, const char *cands)
{
	char body[2048];

	memset(c, 0, sizeof(*c));
	strcpy(c->sid, "x2s-sid-1");
	strcpy(c->rtag, "peer-tag-1");
	strcpy(c->me, ALICE_RES);
	strcpy(c->gw, BOB_GW);
	snprintf(body, sizeof(body), AUDIO RTP_PCMU ICE_OPEN "%s" END_CONTENT,
		 cands);
	initiate("ini1", c->sid, body);
	c->id = key_get(CK_SID, ALICE, c->sid);
	assert_true(c->id != 0);
	learn(c);
	/* the sid is a safe SIP word: it is the Call-ID */
	assert_string_equal(c->callid, c->sid);
	assert_int_equal(key_get(CK_DIALOG, c->callid, c->ltag), c->id);
	expect_iq_result("ini1", ALICE_RES);
}


static void x2s_calling(struct call *c)
{
	struct m_sip_out_request *inv;
	struct tr_owner o;
	struct callrec r;
	char from[256];

	x2s_initiate(c, CAND_40000);
	assert_int_equal(nx, 1);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	pl_is(&inv->ruri, BOB_URI);
	pl_is(&inv->dst, ""); /* no route: the proxy or the R-URI */
	assert_int_equal(inv->flags, 0);
	snprintf(from, sizeof(from), "<sip:alice@localhost>;tag=%s", c->ltag);
	hdr_is(&inv->hdrs, "From", from);
	hdr_is(&inv->hdrs, "To", "<" BOB_URI ">");
	hdr_is(&inv->hdrs, "Call-ID", c->callid);
	hdr_is(&inv->hdrs, "CSeq", "1 INVITE");
	hdr_is(&inv->hdrs, "Contact", CONTACT);
	hdr_is(&inv->hdrs, "Max-Forwards", "70");
	hdr_is(&inv->hdrs, "Content-Type", "application/sdp");
	hdr_is(&inv->hdrs, "Recv-Info", "trickle-ice");
	hdr_has(&inv->hdrs, "Allow", "INVITE");
	hdr_none(&inv->hdrs, "Route");
	hdr_none(&inv->hdrs, "Via"); /* the front's */
	pl_contains(&inv->body, "v=0\r\n");
	pl_contains(&inv->body, "m=audio ");
	pl_contains(&inv->body, "a=rtpmap:0 PCMU/8000");
	pl_contains(&inv->body, "127.0.0.1 40000 typ host");
	assert_true(outbox_owner(PROC_SIP_FRONT, inv->out, &o));
	assert_int_equal(o.kind, OWN_CALL);
	assert_true(o.id == c->id);
	assert_int_equal(rec_load(c->id, &r), 0);
	assert_int_equal(r.dir, CD_X2S);
	assert_int_equal(r.state, CS_CALLING);
	assert_true(r.inv_out == inv->out);
	assert_true(pl_eq(&inv->branch, r.inv_branch));
	assert_int_equal(strncmp(r.inv_branch, "z9hG4bK", 7), 0);
	assert_string_equal(r.ufull, ALICE_RES);
	/* the ring timeout */
	assert_true(r.deadline > wall_ms() + 50000);
	assert_true(deadline_of(OWN_CALL, c->id) == r.deadline);
	callrec_reset(&r);
	c->inv_out = inv->out;
	pl_strcpy(&inv->branch, c->inv_branch, sizeof(c->inv_branch));
	assert_true(hdr(&inv->hdrs, "From", c->inv_from, sizeof(c->inv_from)));
	assert_true(hdr(&inv->hdrs, "To", c->inv_to, sizeof(c->inv_to)));
}


/* Our INVITE as the peer answers it. */
static void x2s_inv(const struct call *c, struct sent *s)
{
	memset(s, 0, sizeof(*s));
	s->out = c->inv_out;
	strcpy(s->branch, c->inv_branch);
	strcpy(s->from, c->inv_from);
	strcpy(s->to, c->inv_to);
	strcpy(s->callid, c->callid);
	strcpy(s->cseq, "1 INVITE");
}


static void x2s_respond(struct call *c, unsigned scode, const char *reason,
			const char *extra, const char *sdp)
{
	struct sent s;

	x2s_inv(c, &s);
	respond(&s, scode, reason, c->rtag, extra, sdp);
}


static void x2s_ringing(struct call *c)
{
	xmpp_stanza_t *iq;

	x2s_calling(c);
	x2s_respond(c, 180, "Ringing", NULL, NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	iq = xjingle("session-info", ALICE_RES);
	assert_string_equal(attr(iq, "from"), BOB_GW);
	assert_string_equal(attr(jingle_of(iq), "sid"), c->sid);
	assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
		jingle_of(iq), "ringing", NS_RTP_INFO));
	assert_int_equal(state_of(c->id), CS_RINGING);
}


#define RR "Record-Route: <sip:p2.example.net;lr>, <sip:p1.example.net;lr>\r\n"

/* The answer; the ACK goes through the route set (reversed RR). */
static void x2s_active(struct call *c)
{
	struct m_sip_out_request *ack;
	xmpp_stanza_t *iq, *ct;
	char v[256];

	x2s_calling(c);
	x2s_respond(c, 200, "OK", RR, PHONE_SDP);
	assert_int_equal(ns, 1);
	ack = sreq(0, "ACK");
	pl_is(&ack->ruri, PEER_TGT); /* the remote target */
	pl_is(&ack->dst, "<sip:p1.example.net;lr>");
	hdr_is(&ack->hdrs, "CSeq", "1 ACK");
	hdr_is(&ack->hdrs, "Call-ID", c->callid);
	hdr_is(&ack->hdrs, "From", c->inv_from);
	snprintf(v, sizeof(v), "<" BOB_URI ">;tag=%s", c->rtag);
	hdr_is(&ack->hdrs, "To", v);
	assert_int_equal(hdr_count(&ack->hdrs, "Route"), 2);
	assert_true(hdr_nth(&ack->hdrs, "Route", 0, v, sizeof(v)));
	assert_string_equal(v, "<sip:p1.example.net;lr>");
	assert_true(hdr_nth(&ack->hdrs, "Route", 1, v, sizeof(v)));
	assert_string_equal(v, "<sip:p2.example.net;lr>");
	hdr_none(&ack->hdrs, "Contact");
	assert_false(pl_eq(&ack->branch, c->inv_branch)); /* a new one */
	assert_int_equal(nx, 1);
	iq = xjingle("session-accept", ALICE_RES);
	assert_string_equal(attr(jingle_of(iq), "sid"), c->sid);
	assert_string_equal(attr(jingle_of(iq), "responder"), BOB_GW);
	ct = xmpp_stanza_get_child_by_name(jingle_of(iq), "content");
	assert_non_null(ct);
	assert_non_null(xmpp_stanza_get_child_by_name(ct, "description"));
	assert_non_null(xmpp_stanza_get_child_by_name(ct, "transport"));
	assert_int_equal(state_of(c->id), CS_ACTIVE);
	/* the idle deadline replaces the ring timeout */
	assert_true(deadline_of(OWN_CALL, c->id) > wall_ms() + 3000000);
}


/* The caller hangs up before the answer: CANCEL. */
static void x2s_cancelling(struct call *c)
{
	struct m_sip_out_request *can;

	x2s_calling(c);
	jin(c, "set", "term1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(nx, 1);
	expect_iq_result("term1", ALICE_RES);
	assert_int_equal(ns, 1);
	can = sreq(0, "CANCEL");
	pl_is(&can->ruri, BOB_URI);
	pl_is(&can->branch, c->inv_branch); /* the INVITE's */
	hdr_is(&can->hdrs, "CSeq", "1 CANCEL");
	hdr_is(&can->hdrs, "From", c->inv_from);
	hdr_is(&can->hdrs, "To", c->inv_to); /* no tag */
	hdr_is(&can->hdrs, "Call-ID", c->callid);
	hdr_none(&can->hdrs, "Contact");
	assert_int_equal(state_of(c->id), CS_CANCELLING);
	assert_true(deadline_of(OWN_CALL, c->id) > wall_ms() + 20000);
}


/* A session-initiate without candidates: the INVITE waits. */
static void x2s_waiting(struct call *c)
{
	struct callrec r;

	x2s_initiate(c, "");
	assert_int_equal(nx, 1);
	assert_int_equal(ns, 0);
	assert_int_equal(rec_load(c->id, &r), 0);
	assert_int_equal(r.state, CS_WAITING);
	assert_non_null(strstr(r.init_xml, "session-initiate"));
	assert_true(r.deadline <= wall_ms() + 300);
	assert_true(r.deadline + 1000 > wall_ms());
	callrec_reset(&r);
}


/* S2X: the INVITE the SIP peer sent (method: INVITE or CANCEL). */
static void s2x_raw(const struct call *c, char *raw, size_t sz,
		    const char *method)
{
	char start[128], hdrs[2048];
	const bool inv = !strcmp(method, "INVITE");

	snprintf(start, sizeof(start), "%s sip:alice@localhost SIP/2.0",
		 method);
	snprintf(hdrs, sizeof(hdrs),
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-s2x-inv\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <" BOB_URI ">;tag=%s\r\n"
		 "To: <sip:alice@localhost>\r\n"
		 "Call-ID: %s\r\nCSeq: 1 %s\r\n%s",
		 c->rtag, c->callid, method,
		 inv ? "Contact: <" BOB_URI ">\r\n" : "");
	sip_raw(raw, sz, start, hdrs, "application/sdp",
		inv ? PHONE_SDP : NULL);
}


enum { TX_INV = 7001, TX_AGAIN = 7002, TX_CANCEL = 7003 };

static const char *devices[] = {ALICE_RES, ALICE_RES2};

static void s2x_invite(struct call *c, unsigned ndev)
{
	struct m_sip_out_response *t;
	char raw[BIG];

	memset(c, 0, sizeof(*c));
	strcpy(c->callid, "s2x-call-1@127.0.0.1");
	strcpy(c->rtag, "from-tag-1");
	strcpy(c->gw, BOB_S2X_GW);
	strcpy(c->me, ALICE_RES);
	c->cseq = 1;
	for (unsigned i = 0; i < ndev; i++) {
		xin("<presence from='%s' to='sip.localhost'/>", devices[i]);
		assert_int_equal(nx + ns, 0);
	}
	s2x_raw(c, raw, sizeof(raw), "INVITE");
	sip_in(TX_INV, raw);
	c->id = key_get(CK_REMOTE, c->callid, c->rtag);
	assert_true(c->id != 0);
	learn(c);
	assert_int_equal(key_get(CK_DIALOG, c->callid, c->ltag), c->id);
	assert_int_equal(key_get(CK_SID, ALICE, c->sid), c->id);
	/* 100 Trying to the INVITE's transaction, with our To-tag */
	assert_int_equal(ns, 1);
	t = sresp(0, 100);
	assert_true(t->tx == TX_INV);
	assert_true(t->totag == strtoull(c->ltag, NULL, 16));
	pl_is(&t->src, PEER_SRC);
	pl_is(&t->raw, raw);
}


static void s2x_ringing_n(struct call *c, unsigned ndev)
{
	struct callrec r;

	s2x_invite(c, ndev);
	assert_int_equal(nx, ndev);
	for (unsigned i = 0; i < ndev; i++) {
		xmpp_stanza_t *iq = xjingle("session-initiate", devices[i]);
		xmpp_stanza_t *j = jingle_of(iq), *ct;
		assert_string_equal(attr(iq, "from"), BOB_S2X_GW);
		assert_string_equal(attr(j, "sid"), c->sid);
		assert_string_equal(attr(j, "initiator"), BOB_S2X_GW);
		ct = xmpp_stanza_get_child_by_name(j, "content");
		assert_non_null(ct);
		assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
			ct, "description", NS_RTP));
		assert_non_null(xmpp_stanza_get_child_by_name(ct, "transport"));
		snprintf(c->content, sizeof(c->content), "%s",
			 attr(ct, "name"));
		if (!i)
			snprintf(c->init_id, sizeof(c->init_id), "%s",
				 attr(iq, "id"));
	}
	assert_int_equal(rec_load(c->id, &r), 0);
	assert_int_equal(r.dir, CD_S2X);
	assert_int_equal(r.state, CS_RINGING);
	assert_int_equal(r.last_scode, 100);
	assert_true(r.inv_tx == TX_INV);
	assert_true(r.deadline > wall_ms() + 50000); /* ring timeout */
	callrec_reset(&r);
}


static void s2x_ringing(struct call *c)
{
	s2x_ringing_n(c, 1);
}


/* Nobody seen online: XEP-0353 propose to the bare JID. */
static void s2x_proposed(struct call *c)
{
	xmpp_stanza_t *m, *p;
	struct callrec r;

	s2x_invite(c, 0);
	assert_int_equal(nx, 1);
	m = xfind("message", "chat", NULL, ALICE);
	assert_string_equal(attr(m, "from"), BOB_S2X_GW);
	p = xmpp_stanza_get_child_by_name_and_ns(m, "propose", NS_JMI);
	assert_non_null(p);
	assert_string_equal(attr(p, "id"), c->sid);
	assert_non_null(
		xmpp_stanza_get_child_by_name_and_ns(p, "description", NS_RTP));
	assert_int_equal(rec_load(c->id, &r), 0);
	assert_int_equal(r.state, CS_PROPOSED);
	assert_int_equal(r.jmi, 1);
	/* propose_timeout_ms */
	assert_true(r.deadline <= wall_ms() + 1000);
	assert_true(r.deadline + 5000 > wall_ms());
	callrec_reset(&r);
}


/* The device me answers. */
static void s2x_accept(struct call *c, const char *me)
{
	char body[1024];

	snprintf(c->me, sizeof(c->me), "%s", me);
	snprintf(body, sizeof(body),
		 "<content creator='initiator' name='%s' "
		 "senders='both'>" RTP_PCMU ICE_OPEN_B CAND_41000 END_CONTENT,
		 c->content);
	jin(c, "set", "acc1", "session-accept", body);
}


static void s2x_active(struct call *c)
{
	struct m_sip_out_response *ok;
	struct tr_owner o;
	struct callrec r;

	s2x_ringing(c);
	s2x_accept(c, ALICE_RES);
	assert_int_equal(nx, 1);
	expect_iq_result("acc1", ALICE_RES);
	assert_int_equal(ns, 1);
	ok = sresp(0, 200);
	pl_is(&ok->reason, "OK");
	assert_true(ok->tx == TX_INV);
	assert_true(ok->totag == strtoull(c->ltag, NULL, 16));
	hdr_is(&ok->hdrs, "Contact", CONTACT);
	hdr_is(&ok->hdrs, "Content-Type", "application/sdp");
	hdr_has(&ok->hdrs, "Allow", "BYE");
	pl_contains(&ok->body, "m=audio ");
	pl_contains(&ok->body, "127.0.0.1 41000 typ host");
	pl_contains(&ok->raw, "INVITE sip:alice@localhost SIP/2.0");
	c->ok_out = ok->out;
	assert_true(outbox_owner(PROC_SIP_FRONT, ok->out, &o));
	assert_int_equal(o.kind, OWN_CALL);
	assert_true(o.id == c->id);
	assert_int_equal(rec_load(c->id, &r), 0);
	assert_int_equal(r.state, CS_ACTIVE);
	assert_true(r.inv_out == ok->out);
	assert_string_equal(r.ufull, ALICE_RES);
	assert_true(r.deadline > wall_ms() + 3000000); /* idle */
	callrec_reset(&r);
}


/* ---- X2S (new) and WAITING ----------------------------------------- */

static void test_x2s_new_initiate_invite_calling(void **state)
{
	struct call c;

	x2s_calling(&c);
}


static void test_x2s_new_initiate_trickle_waiting(void **state)
{
	struct call c;

	x2s_waiting(&c);
}


/* candidate_wait_ms 0: the INVITE goes at once, candidates or not */
static const struct opts no_wait = {0, 1000};

static void test_x2s_new_initiate_trickle_no_wait_calling(void **state)
{
	struct call c;

	x2s_initiate(&c, "");
	assert_int_equal(ns, 1);
	sreq(0, "INVITE");
	assert_int_equal(state_of(c.id), CS_CALLING);
}


static void test_x2s_new_initiate_sid_in_use_conflict(void **state)
{
	struct call c;

	x2s_calling(&c);
	initiate("ini2", c.sid, OFFER);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("ini2", ALICE_RES, "conflict");
	assert_int_equal(state_of(c.id), CS_CALLING);
}


static void test_x2s_new_initiate_bad_media_bad_request(void **state)
{
	initiate("ini3", "bad1", BAD_DESCRIPTION);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("ini3", ALICE_RES, "bad-request");
	assert_int_equal(key_get(CK_SID, ALICE, "bad1"), 0);
}


/* Regression (found here, fixed): a content without <description/> (and without
 * transport) is taken: the INVITE carries "m= 9 RTP/AVP", an m-line without
 * media and format (RFC 4566 5.14); the session-initiate is acknowledged.
 * XEP-0166 and XEP-0167 want a description: bad-request, no INVITE. */
static void test_x2s_new_initiate_content_without_description(void **state)
{
	initiate("ini3", "bad1", "<content creator='initiator' name='x'/>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("ini3", ALICE_RES, "bad-request");
	assert_int_equal(key_get(CK_SID, ALICE, "bad1"), 0);
}


static void test_x2s_waiting_transport_adds_candidates(void **state)
{
	struct call c;
	struct callrec r;

	x2s_waiting(&c);
	jin(&c, "set", "ti1", "transport-info", TRICKLE_40009);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("ti1", ALICE_RES);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_WAITING);
	assert_non_null(strstr(r.init_xml, "40009"));
	callrec_reset(&r);
}


static void test_x2s_waiting_transport_unknown_content(void **state)
{
	struct call c;

	x2s_waiting(&c);
	jin(&c, "set", "ti2", "transport-info", TRICKLE_VIDEO);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("ti2", ALICE_RES, "item-not-found");
	assert_int_equal(state_of(c.id), CS_WAITING);
}


static void test_x2s_waiting_expired_invite_calling(void **state)
{
	struct m_sip_out_request *inv;
	struct call c;
	struct callrec r;

	x2s_waiting(&c);
	jin(&c, "set", "ti1", "transport-info", TRICKLE_40009);
	assert_int_equal(expire(), 1);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	pl_is(&inv->ruri, BOB_URI);
	hdr_is(&inv->hdrs, "CSeq", "1 INVITE");
	hdr_is(&inv->hdrs, "Call-ID", c.callid);
	pl_contains(&inv->body, "127.0.0.1 40009 typ host");
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_CALLING);
	assert_true(r.inv_out == inv->out);
	assert_true(r.init_xml == NULL || !*r.init_xml);
	assert_true(r.deadline > wall_ms() + 50000);
	callrec_reset(&r);
}


static void test_x2s_waiting_terminate_gone(void **state)
{
	struct call c;

	x2s_waiting(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_gone(&c);
}


static void test_x2s_waiting_op_end_terminate_gone(void **state)
{
	struct call c;

	x2s_waiting(&c);
	op_end(c.id);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "cancel");
	assert_gone(&c);
}


/* ---- X2S CALLING / RINGING ---------------------------------------- */

static void test_x2s_calling_100_nothing(void **state)
{
	struct call c;

	x2s_calling(&c);
	x2s_respond(&c, 100, "Trying", NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_CALLING);
}


static void test_x2s_calling_180_ringing(void **state)
{
	struct call c;
	struct callrec r;
	struct tr_owner o;

	x2s_ringing(&c);
	/* the dialog is early: the peer's tag and target are known */
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_string_equal(r.rtag, c.rtag);
	assert_string_equal(r.target, PEER_TGT);
	callrec_reset(&r);
	/* a provisional response does not end the INVITE's entry */
	assert_true(outbox_owner(PROC_SIP_FRONT, c.inv_out, &o));
}


static void test_x2s_ringing_183_nothing(void **state)
{
	struct call c;

	x2s_ringing(&c);
	x2s_respond(&c, 183, "Session Progress", NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_x2s_calling_200_active(void **state)
{
	struct call c;
	struct callrec r;
	struct tr_owner o;

	x2s_active(&c);
	assert_false(outbox_owner(PROC_SIP_FRONT, c.inv_out, &o));
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_string_equal(
		r.routes, "<sip:p1.example.net;lr>\n<sip:p2.example.net;lr>\n");
	assert_string_equal(r.rsdp, PHONE_SDP);
	callrec_reset(&r);
}


static void test_x2s_ringing_200_active(void **state)
{
	struct call c;

	x2s_ringing(&c);
	x2s_respond(&c, 200, "OK", NULL, PHONE_SDP);
	assert_int_equal(ns, 1);
	sreq(0, "ACK");
	assert_int_equal(nx, 1);
	xjingle("session-accept", ALICE_RES);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_calling_200_bad_sdp_bye_gone(void **state)
{
	struct call c;

	x2s_calling(&c);
	x2s_respond(&c, 200, "OK", NULL, "garbage");
	assert_int_equal(ns, 2);
	sreq(0, "ACK");
	hdr_has(&sreq(1, "BYE")->hdrs, "Reason", "cause=488");
	assert_int_equal(nx, 1);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "failed-application");
	assert_gone(&c);
}


static void x2s_failure(unsigned scode, const char *phrase, bool ringing,
			const char *reason)
{
	struct call c;
	xmpp_stanza_t *iq;

	if (ringing)
		x2s_ringing(&c);
	else
		x2s_calling(&c);
	x2s_respond(&c, scode, phrase, NULL, NULL);
	assert_int_equal(ns, 0); /* the front ACKs a failure */
	assert_int_equal(nx, 1);
	iq = xjingle("session-terminate", ALICE_RES);
	assert_string_equal(attr(jingle_of(iq), "sid"), c.sid);
	assert_string_equal(reason_of(iq), reason);
	if (!strcmp(reason, "general-error")) {
		xmpp_stanza_t *se = xmpp_stanza_get_child_by_name(
			xmpp_stanza_get_child_by_name(jingle_of(iq), "reason"),
			"sip-error");
		char code[8], t[64];
		assert_non_null(se);
		snprintf(code, sizeof(code), "%u", scode);
		assert_string_equal(attr(se, "code"), code);
		t[0] = 0;
		{
			char *x = xmpp_stanza_get_text(se);
			snprintf(t, sizeof(t), "%s", x ? x : "");
			if (x)
				xmpp_free(tr.xctx, x);
		}
		assert_string_equal(t, phrase);
	}
	assert_gone(&c);
}


static void test_x2s_calling_486_decline_gone(void **state)
{
	x2s_failure(486, "Busy Here", false, "decline");
}


static void test_x2s_calling_603_decline_gone(void **state)
{
	x2s_failure(603, "Decline", false, "decline");
}


static void test_x2s_calling_600_busy_gone(void **state)
{
	x2s_failure(600, "Busy Everywhere", false, "busy");
}


static void test_x2s_calling_404_general_error_gone(void **state)
{
	x2s_failure(404, "Not Found", false, "general-error");
}


static void test_x2s_ringing_486_decline_gone(void **state)
{
	x2s_failure(486, "Busy Here", true, "decline");
}


static void test_x2s_ringing_480_general_error_gone(void **state)
{
	x2s_failure(480, "Temporarily Unavailable", true, "general-error");
}


/* The front's local failure of our INVITE (timeout, no route). */
static void test_x2s_calling_local_failure_gone(void **state)
{
	struct call c;
	xmpp_stanza_t *iq;

	x2s_calling(&c);
	sip_resp_in(c.inv_out, 408, "Request Timeout", NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	iq = xjingle("session-terminate", ALICE_RES);
	assert_string_equal(reason_of(iq), "general-error");
	assert_gone(&c);
}


static void test_x2s_calling_terminate_cancel_cancelling(void **state)
{
	struct call c;

	x2s_cancelling(&c);
}


static void test_x2s_ringing_terminate_cancel_cancelling(void **state)
{
	struct m_sip_out_request *can;
	struct call c;

	x2s_ringing(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_int_equal(ns, 1);
	can = sreq(0, "CANCEL");
	pl_is(&can->branch, c.inv_branch);
	hdr_is(&can->hdrs, "To", "<" BOB_URI ">"); /* as in the INVITE */
	assert_int_equal(state_of(c.id), CS_CANCELLING);
}


static void x2s_end_ringish(bool ringing, bool op)
{
	struct call c;

	if (ringing)
		x2s_ringing(&c);
	else
		x2s_calling(&c);
	if (op)
		op_end(c.id);
	else
		assert_int_equal(expire(), 1);
	assert_int_equal(ns, 1);
	pl_is(&sreq(0, "CANCEL")->branch, c.inv_branch);
	assert_int_equal(nx, 1);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "timeout");
	assert_int_equal(state_of(c.id), CS_CANCELLING);
	/* the wait for the INVITE's final response */
	assert_true(deadline_of(OWN_CALL, c.id) > wall_ms() + 20000);
}


static void test_x2s_calling_expired_cancel_cancelling(void **state)
{
	x2s_end_ringish(false, false);
}


static void test_x2s_calling_op_end_cancel_cancelling(void **state)
{
	x2s_end_ringish(false, true);
}


static void test_x2s_ringing_expired_cancel_cancelling(void **state)
{
	x2s_end_ringish(true, false);
}


static void test_x2s_ringing_op_end_cancel_cancelling(void **state)
{
	x2s_end_ringish(true, true);
}


/* ---- X2S CANCELLING ------------------------------------------------ */

static void test_x2s_cancelling_200_ack_bye_gone(void **state)
{
	struct m_sip_out_request *ack, *bye;
	struct call c;
	char v[256];

	x2s_cancelling(&c);
	x2s_respond(&c, 200, "OK", NULL, PHONE_SDP);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 2);
	ack = sreq(0, "ACK");
	bye = sreq(1, "BYE");
	hdr_is(&ack->hdrs, "CSeq", "1 ACK");
	hdr_is(&bye->hdrs, "CSeq", "2 BYE");
	pl_is(&bye->ruri, PEER_TGT);
	snprintf(v, sizeof(v), "<" BOB_URI ">;tag=%s", c.rtag);
	hdr_is(&bye->hdrs, "To", v);
	hdr_is(&bye->hdrs, "From", c.inv_from);
	hdr_is(&bye->hdrs, "Call-ID", c.callid);
	assert_gone(&c);
}


static void test_x2s_cancelling_487_gone(void **state)
{
	struct call c;

	x2s_cancelling(&c);
	x2s_respond(&c, 487, "Request Terminated", NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_gone(&c);
}


static void test_x2s_cancelling_expired_gone(void **state)
{
	struct call c;

	x2s_cancelling(&c);
	assert_int_equal(expire(), 1);
	assert_int_equal(nx + ns, 0);
	assert_gone(&c);
}


static void test_x2s_cancelling_op_end_gone(void **state)
{
	struct call c;

	x2s_cancelling(&c);
	op_end(c.id);
	assert_int_equal(nx + ns, 0);
	assert_gone(&c);
}


/* default row: a terminate while cancelling is only acknowledged */
static void test_x2s_cancelling_terminate_result_only(void **state)
{
	struct call c;

	x2s_cancelling(&c);
	jin(&c, "set", "t2", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("t2", ALICE_RES);
	assert_int_equal(state_of(c.id), CS_CANCELLING);
}


/* ---- ACTIVE (either direction) -------------------------------------- */

static void test_x2s_active_200_again_ack(void **state)
{
	struct call c;

	x2s_active(&c);
	/* the 200 retransmitted after the transaction: no outbox id, the
	 * dialog finds the call */
	{
		struct sent s;
		x2s_inv(&c, &s);
		s.out = 0;
		respond(&s, 200, "OK", c.rtag, NULL, PHONE_SDP);
	}
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	hdr_is(&sreq(0, "ACK")->hdrs, "CSeq", "1 ACK");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_active_terminate_bye_gone(void **state)
{
	struct m_sip_out_request *bye;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_int_equal(ns, 1);
	bye = sreq(0, "BYE");
	pl_is(&bye->ruri, PEER_TGT);
	pl_is(&bye->dst, "<sip:p1.example.net;lr>");
	hdr_is(&bye->hdrs, "CSeq", "2 BYE");
	assert_int_equal(hdr_count(&bye->hdrs, "Route"), 2);
	hdr_is(&bye->hdrs, "Contact", CONTACT);
	assert_gone(&c);
}


static void test_s2x_active_terminate_bye_gone(void **state)
{
	struct m_sip_out_request *bye;
	struct call c;
	char v[256];

	s2x_active(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_int_equal(ns, 1);
	bye = sreq(0, "BYE");
	pl_is(&bye->ruri, BOB_URI); /* the INVITE's Contact */
	pl_is(&bye->dst, BOB_URI);  /* no route set: the target */
	snprintf(v, sizeof(v), "<sip:alice@localhost>;tag=%s", c.ltag);
	hdr_is(&bye->hdrs, "From", v);
	snprintf(v, sizeof(v), "<" BOB_URI ">;tag=%s", c.rtag);
	hdr_is(&bye->hdrs, "To", v);
	hdr_is(&bye->hdrs, "Call-ID", c.callid);
	hdr_has(&bye->hdrs, "CSeq", " BYE");
	assert_gone(&c);
}


static void active_dtmf(struct call *c)
{
	struct m_sip_out_request *info;

	jin(c, "set", "d1", "session-info",
	    "<dtmf xmlns='urn:xmpp:jingle:dtmf:0' code='5' duration='200'/>");
	assert_int_equal(nx, 1);
	expect_iq_result("d1", c->me);
	assert_int_equal(ns, 1);
	info = sreq(0, "INFO");
	hdr_is(&info->hdrs, "Content-Type", "application/dtmf-relay");
	pl_is(&info->body, "Signal=5\r\nDuration=200\r\n");
	assert_int_equal(state_of(c->id), CS_ACTIVE);
}


static void test_x2s_active_dtmf_info(void **state)
{
	struct call c;

	x2s_active(&c);
	active_dtmf(&c);
}


static void test_s2x_active_dtmf_info(void **state)
{
	struct call c;

	s2x_active(&c);
	active_dtmf(&c);
}


static void test_x2s_active_hold_resume_reinvite(void **state)
{
	struct m_sip_out_request *inv;
	struct sent s;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "h1", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(nx, 1);
	expect_iq_result("h1", ALICE_RES);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	pl_is(&inv->ruri, PEER_TGT);
	hdr_is(&inv->hdrs, "CSeq", "2 INVITE");
	hdr_is(&inv->hdrs, "Content-Type", "application/sdp");
	pl_contains(&inv->body, "a=sendonly");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	sent_of(inv, &s);
	respond(&s, 200, "OK", NULL, NULL, PHONE_SDP "a=recvonly\r\n");

	jin(&c, "set", "h2", "session-info",
	    "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(nx, 1);
	expect_iq_result("h2", ALICE_RES);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	hdr_is(&inv->hdrs, "CSeq", "3 INVITE");
	assert_false(pl_has(&inv->body, "a=sendonly"));
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	sent_of(inv, &s);
	respond(&s, 200, "OK", NULL, NULL, PHONE_SDP);

	/* XEP-0167 7.3: <unhold/> resumes as <active/> does */
	jin(&c, "set", "h3", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	sent_of(sreq(0, "INVITE"), &s);
	respond(&s, 200, "OK", NULL, NULL, PHONE_SDP "a=recvonly\r\n");
	jin(&c, "set", "h4", "session-info",
	    "<unhold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(nx, 1);
	expect_iq_result("h4", ALICE_RES);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	hdr_is(&inv->hdrs, "CSeq", "5 INVITE");
	assert_false(pl_has(&inv->body, "a=sendonly"));
}


/* RFC 3261 14.1/14.2: one INVITE transaction at a time in a dialog.
 * Ours (a hold) awaiting its answer: the peer's re-INVITE gets 491, the
 * user's resume unexpected-request; a 491 to ours leaves our SDP as it
 * was; a 2xx frees the dialog for the next. */
static void test_x2s_active_reinvite_one_at_a_time(void **state)
{
	struct m_sip_out_request *inv;
	struct callrec r;
	char before[4096];
	struct sent s;
	struct call c;

	x2s_active(&c);
	assert_int_equal(rec_load(c.id, &r), 0);
	snprintf(before, sizeof(before), "%s", r.lsdp);
	callrec_reset(&r);
	jin(&c, "set", "h1", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	expect_iq_result("h1", ALICE_RES);
	inv = sreq(0, "INVITE");
	sent_of(inv, &s);
	/* both sides at once: the peer's gets 491 */
	dlg_in(&c, 8101, "INVITE", 0, "application/sdp",
	       PHONE_SDP "a=sendonly\r\n");
	assert_int_equal(ns, 1);
	assert_non_null(sresp(0, 491));
	assert_int_equal(nx, 0);
	/* the user's next one waits for ours */
	jin(&c, "set", "h2", "session-info",
	    "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(ns, 0);
	expect_iq_error("h2", ALICE_RES, "unexpected-request");
	/* 491 to ours: the session stays as it was */
	respond(&s, 491, "Request Pending", NULL, NULL, NULL);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_true(r.reinv_out == 0 && !*r.reinv_prev);
	assert_string_equal(r.lsdp, before);
	assert_int_equal(r.state, CS_ACTIVE);
	callrec_reset(&r);
	/* the next goes, and its 2xx frees the dialog again */
	jin(&c, "set", "h3", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	expect_iq_result("h3", ALICE_RES);
	inv = sreq(0, "INVITE");
	pl_contains(&inv->body, "a=sendonly");
	sent_of(inv, &s);
	respond(&s, 200, "OK", NULL, NULL, PHONE_SDP "a=recvonly\r\n");
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_true(r.reinv_out == 0 && !*r.reinv_prev);
	assert_non_null(strstr(r.lsdp, "a=sendonly"));
	callrec_reset(&r);
	jin(&c, "set", "h4", "session-info",
	    "<active xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	expect_iq_result("h4", ALICE_RES);
	assert_non_null(sreq(0, "INVITE"));
}


/* A 481 to our re-INVITE: the dialog is gone, so is the call. */
static void test_x2s_active_reinvite_481_ends_the_call(void **state)
{
	struct sent s;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "h1", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	sent_of(sreq(0, "INVITE"), &s);
	respond(&s, 481, "Call/Transaction Does Not Exist", NULL, NULL, NULL);
	assert_int_equal(ns, 0); /* no BYE: nobody to end it with */
	assert_int_equal(nx, 1);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "connectivity-error");
	assert_gone(&c);
}


static void s2x_hold(struct call *c, struct sent *s)
{
	struct m_sip_out_request *inv;
	char v[256];

	jin(c, "set", "h1", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(nx, 1);
	expect_iq_result("h1", ALICE_RES);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	pl_is(&inv->ruri, BOB_URI);
	snprintf(v, sizeof(v), "<sip:alice@localhost>;tag=%s", c->ltag);
	hdr_is(&inv->hdrs, "From", v);
	snprintf(v, sizeof(v), "<" BOB_URI ">;tag=%s", c->rtag);
	hdr_is(&inv->hdrs, "To", v);
	hdr_has(&inv->hdrs, "CSeq", " INVITE");
	pl_contains(&inv->body, "a=sendonly");
	sent_of(inv, s);
	assert_int_equal(state_of(c->id), CS_ACTIVE);
}


static void test_s2x_active_hold_reinvite(void **state)
{
	struct call c;
	struct sent s;

	s2x_active(&c);
	s2x_hold(&c, &s);
}


/* Regression (found here, fixed): the 2xx to the gateway's own re-INVITE in an
 * S2X call is not ACKed when the re-INVITE's CSeq equals the caller's INVITE
 * CSeq (both are 1 here: the local CSeq space starts at 0). refine() compares a
 * response's CSeq with inv_cseq, which for S2X is the *remote* INVITE's,
 * and takes it for a response to that INVITE (CE_R_OTHER): no ACK, the
 * callee retransmits the 200 and ends the call (RFC 3261 13.3.1.4). */
static void test_s2x_active_reinvite_ok_ack(void **state)
{
	struct call c;
	struct sent s;
	char v[64];

	s2x_active(&c);
	s2x_hold(&c, &s);
	respond(&s, 200, "OK", NULL, NULL, PHONE_SDP "a=recvonly\r\n");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	snprintf(v, sizeof(v), "%d ACK", atoi(s.cseq));
	hdr_is(&sreq(0, "ACK")->hdrs, "CSeq", v);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_active_source_add_reinvite(void **state)
{
	struct m_sip_out_request *inv;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "s1", "source-add", SOURCE_ADD);
	assert_int_equal(nx, 1);
	expect_iq_result("s1", ALICE_RES);
	assert_int_equal(ns, 1);
	inv = sreq(0, "INVITE");
	hdr_is(&inv->hdrs, "CSeq", "2 INVITE");
	pl_contains(&inv->body, "a=jingle-action:source-add");
	pl_contains(&inv->body, "a=ssrc:1111");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* A re-INVITE from SIP putting us on hold: an answer, and <hold/>. */
static void reinvite_hold(struct call *c)
{
	struct m_sip_out_response *ok;
	struct callrec r;
	xmpp_stanza_t *iq;

	dlg_in(c, 8001, "INVITE", 0, "application/sdp",
	       PHONE_SDP "a=sendonly\r\n");
	assert_int_equal(ns, 1);
	ok = sresp(0, 200);
	assert_true(ok->tx == 8001);
	hdr_is(&ok->hdrs, "Contact", CONTACT);
	hdr_is(&ok->hdrs, "Content-Type", "application/sdp");
	pl_contains(&ok->body, "m=audio ");
	pl_contains(&ok->body, "a=recvonly");
	assert_int_equal(nx, 1);
	iq = xjingle("session-info", c->me);
	assert_string_equal(attr(jingle_of(iq), "sid"), c->sid);
	assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
		jingle_of(iq), "hold", NS_RTP_INFO));
	assert_int_equal(rec_load(c->id, &r), 0);
	assert_int_equal(r.state, CS_ACTIVE);
	assert_int_equal(r.on_hold, 1);
	assert_string_equal(r.rsdp, PHONE_SDP "a=sendonly\r\n");
	callrec_reset(&r);
}


static void test_x2s_active_reinvite_hold(void **state)
{
	struct call c;

	x2s_active(&c);
	reinvite_hold(&c);
}


static void test_s2x_active_reinvite_hold_then_active(void **state)
{
	struct call c;
	xmpp_stanza_t *iq;

	s2x_active(&c);
	reinvite_hold(&c);
	dlg_in(&c, 8002, "INVITE", 0, "application/sdp",
	       PHONE_SDP "a=sendrecv\r\n");
	assert_int_equal(ns, 1);
	pl_contains(&sresp(0, 200)->body, "a=sendrecv");
	assert_int_equal(nx, 1);
	iq = xjingle("session-info", ALICE_RES);
	assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
		jingle_of(iq), "active", NS_RTP_INFO));
}


/* A re-offer that changes nothing of hold: transport-info. */
static void test_s2x_active_reinvite_transport_info(void **state)
{
	struct call c;

	s2x_active(&c);
	dlg_in(&c, 8003, "INVITE", 0, "application/sdp",
	       "v=0\r\no=phone 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
	       "c=IN IP4 127.0.0.2\r\nt=0 0\r\n"
	       "m=audio 30002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(nx, 1);
	xjingle("transport-info", ALICE_RES);
}


/* Regression (found here, fixed): a re-offer without a codec in common is
 * answered 200 with every stream refused (and no c= line, RFC 4566 5.7), the
 * XMPP side gets a transport-info with the codec it never offered, and the
 * call's media is gone. tr_media_reoffer_answer() promises EPROTO then: 488,
 * the session unchanged (RFC 3261 14.2). */
static void test_s2x_active_reinvite_no_common_codec_488(void **state)
{
	struct call c;

	s2x_active(&c);
	dlg_in(&c, 8004, "INVITE", 0, "application/sdp",
	       "v=0\r\no=phone 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
	       "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	       "m=audio 30002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 488);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_active_reinvite_ok_ack(void **state)
{
	struct call c;
	struct sent s;

	x2s_active(&c);
	jin(&c, "set", "h1", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	sent_of(sreq(0, "INVITE"), &s);
	respond(&s, 200, "OK", NULL, NULL, PHONE_SDP "a=recvonly\r\n");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	hdr_is(&sreq(0, "ACK")->hdrs, "CSeq", "2 ACK");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void active_end(struct call *c, bool op)
{
	if (op)
		op_end(c->id);
	else
		assert_int_equal(expire(), 1);
	assert_int_equal(ns, 1);
	sreq(0, "BYE");
	assert_int_equal(nx, 1);
	assert_string_equal(reason_of(xjingle("session-terminate", c->me)),
			    "success");
	assert_gone(c);
}


static void test_x2s_active_expired_bye_gone(void **state)
{
	struct call c;

	x2s_active(&c);
	active_end(&c, false);
}


static void test_x2s_active_op_end_bye_gone(void **state)
{
	struct call c;

	x2s_active(&c);
	active_end(&c, true);
}


static void test_s2x_active_expired_bye_gone(void **state)
{
	struct call c;

	s2x_active(&c);
	/* the 200 was ACKed long ago */
	out_done(PROC_SIP_FRONT, c.ok_out, 200, "OK");
	active_end(&c, false);
}


static void test_s2x_active_op_end_bye_gone(void **state)
{
	struct call c;

	s2x_active(&c);
	active_end(&c, true);
}


static void test_x2s_active_transport_info_trickle(void **state)
{
	struct m_sip_out_request *info;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "ti1", "transport-info", TRICKLE_40007);
	assert_int_equal(nx, 1);
	expect_iq_result("ti1", ALICE_RES);
	assert_int_equal(ns, 1);
	info = sreq(0, "INFO");
	hdr_is(&info->hdrs, "Content-Type", "application/trickle-ice-sdpfrag");
	hdr_is(&info->hdrs, "Info-Package", "trickle-ice");
	pl_contains(&info->body, "127.0.0.1 40007 typ host");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* Before the callee's tag no INFO can go: held, then flushed. */
static void test_x2s_calling_transport_info_held_until_dialog(void **state)
{
	struct call c;
	struct callrec r;

	x2s_calling(&c);
	jin(&c, "set", "ti1", "transport-info", TRICKLE_40007);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("ti1", ALICE_RES);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_CALLING);
	assert_non_null(strstr(r.pend_frag, "40007"));
	callrec_reset(&r);
	x2s_respond(&c, 180, "Ringing", NULL, NULL);
	assert_int_equal(ns, 1);
	pl_contains(&sreq(0, "INFO")->body, "127.0.0.1 40007 typ host");
	assert_int_equal(nx, 1);
	xjingle("session-info", ALICE_RES);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_RINGING);
	assert_true(r.pend_frag == NULL || !*r.pend_frag);
	callrec_reset(&r);
}


/* ---- any state: SIP requests in the dialog ------------------------ */

static void bye_in(struct call *c)
{
	struct m_sip_out_response *ok;
	xmpp_stanza_t *iq;

	dlg_in(c, 8100, "BYE", 0, NULL, NULL);
	assert_int_equal(ns, 1);
	ok = sresp(0, 200);
	assert_true(ok->tx == 8100);
	pl_contains(&ok->raw, "BYE sip:xsgw@127.0.0.1:5600 SIP/2.0");
	assert_int_equal(nx, 1);
	iq = xjingle("session-terminate", c->me);
	assert_string_equal(attr(jingle_of(iq), "sid"), c->sid);
	assert_string_equal(reason_of(iq), "success");
	assert_gone(c);
}


static void test_x2s_active_bye_gone(void **state)
{
	struct call c;

	x2s_active(&c);
	bye_in(&c);
}


static void test_x2s_ringing_bye_gone(void **state)
{
	struct call c;

	x2s_ringing(&c);
	bye_in(&c);
}


static void test_s2x_active_bye_gone(void **state)
{
	struct call c;

	s2x_active(&c);
	bye_in(&c);
}


/* Regression (found here, fixed): a BYE in an early dialog ends the call but
 * leaves the pending INVITE unanswered (RFC 3261 15.1.2: 487 to it). */
static void test_s2x_ringing_bye_answers_invite(void **state)
{
	struct call c;

	s2x_ringing(&c);
	dlg_in(&c, 8100, "BYE", 0, NULL, NULL);
	assert_int_equal(ns, 2);
	assert_true(sresp_find(200)->tx == 8100);
	assert_true(sresp_find(487)->tx == TX_INV);
	assert_gone(&c);
}


static void sip_info_dtmf(struct call *c)
{
	xmpp_stanza_t *iq, *d;

	dlg_in(c, 8200, "INFO", 0, "application/dtmf-relay",
	       "Signal=7\r\nDuration=160\r\n");
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 200)->tx == 8200);
	assert_int_equal(nx, 1);
	iq = xjingle("session-info", c->me);
	d = xmpp_stanza_get_child_by_name_and_ns(jingle_of(iq), "dtmf",
						 NS_DTMF);
	assert_non_null(d);
	assert_string_equal(attr(d, "code"), "7");
}


static void test_x2s_active_sip_info_dtmf(void **state)
{
	struct call c;

	x2s_active(&c);
	sip_info_dtmf(&c);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_s2x_active_sip_info_dtmf(void **state)
{
	struct call c;

	s2x_active(&c);
	sip_info_dtmf(&c);
}


static void test_x2s_active_sip_info_trickle_transport_info(void **state)
{
	struct call c;
	xmpp_stanza_t *iq, *ct;

	x2s_active(&c);
	dlg_in(&c, 8201, "INFO", 0, "application/trickle-ice-sdpfrag",
	       "a=ice-ufrag:pppp\r\na=ice-pwd:pppppppppppppppppppppppp\r\n"
	       "m=audio 9 RTP/AVP 0\r\na=mid:0\r\n"
	       "a=candidate:1 1 UDP 2130706431 127.0.0.1 30000 typ host\r\n");
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(nx, 1);
	iq = xjingle("transport-info", ALICE_RES);
	ct = xmpp_stanza_get_child_by_name(jingle_of(iq), "content");
	assert_non_null(ct);
	assert_non_null(xmpp_stanza_get_child_by_name(
		xmpp_stanza_get_child_by_name(ct, "transport"), "candidate"));
}


/* SPEC 6.2: an INFO with any other payload is a session-info <info/>. */
static void test_x2s_active_sip_info_other_type_session_info(void **state)
{
	xmpp_stanza_t *in;
	struct call c;
	char t[64];

	x2s_active(&c);
	dlg_in(&c, 8202, "INFO", 0, "application/x-private;v=1", "hello <&>");
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(nx, 1);
	in = xmpp_stanza_get_child_by_name_and_ns(
		jingle_of(xjingle("session-info", ALICE_RES)), "info",
		NS_SIP_INFO);
	assert_non_null(in);
	assert_string_equal(attr(in, "content-type"),
			    "application/x-private;v=1");
	assert_string_equal(text_of(jingle_of(xjingle("session-info", NULL)),
				    "info", t, sizeof(t)),
			    "hello <&>");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_active_sip_info_empty_200(void **state)
{
	struct call c;

	x2s_active(&c);
	dlg_in(&c, 8203, "INFO", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 200);
}


/* Regression (found here, fixed): an INFO before the answer (S_INFO is "any
 * state") becomes a session-info addressed to "" (the record's ufull, empty
 * until a device answers): <iq to=''>. Expected: to the devices rung. */
static void test_s2x_ringing_sip_info_dtmf(void **state)
{
	struct call c;

	s2x_ringing(&c);
	dlg_in(&c, 8204, "INFO", 0, "application/dtmf-relay",
	       "Signal=1\r\nDuration=100\r\n");
	assert_int_equal(ns, 1);
	sresp(0, 200);
	for (unsigned i = 0; i < nx; i++)
		assert_string_not_equal(attr(xs[i].st, "to"), "");
	assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
		jingle_of(xjingle("session-info", ALICE_RES)), "dtmf",
		NS_DTMF));
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_x2s_active_options_200(void **state)
{
	struct m_sip_out_response *ok;
	struct call c;

	x2s_active(&c);
	dlg_in(&c, 8300, "OPTIONS", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	ok = sresp(0, 200);
	hdr_has(&ok->hdrs, "Allow", "INVITE");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_s2x_ringing_options_200(void **state)
{
	struct call c;

	s2x_ringing(&c);
	dlg_in(&c, 8301, "OPTIONS", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_x2s_active_other_405(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	x2s_active(&c);
	dlg_in(&c, 8400, "NOTIFY", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 405);
	hdr_has(&r->hdrs, "Allow", "INFO");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_calling_other_405(void **state)
{
	struct call c;

	x2s_calling(&c);
	dlg_in(&c, 8401, "SUBSCRIBE", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 405);
	assert_int_equal(state_of(c.id), CS_CALLING);
}


/* A request in the dialog with a CSeq below the last one: 500. */
static void test_s2x_active_cseq_lower_500(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	s2x_active(&c);
	dlg_in(&c, 8500, "INFO", 5, "application/dtmf-relay",
	       "Signal=1\r\nDuration=100\r\n");
	sresp(0, 200);
	dlg_in(&c, 8501, "BYE", 4, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 500);
	assert_true(r->tx == 8501);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* The INVITE's CSeq is the first remote one: equal passes, lower not. */
static void test_s2x_active_cseq_below_invite_500(void **state)
{
	struct call c;
	char raw[BIG], *p;

	s2x_active(&c);
	dlg_in(&c, 8502, "OPTIONS", 1, NULL, NULL);
	assert_int_equal(ns, 1);
	sresp(0, 200);
	dlg_raw(&c, raw, sizeof(raw), "OPTIONS", 1, NULL, NULL);
	p = strstr(raw, "CSeq: 1 OPTIONS");
	assert_non_null(p);
	p[6] = '0';
	sip_in(8503, raw);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 500)->tx == 8503);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* Regression (found here, fixed): only INFO (and the INVITE) set the remote
 * CSeq; after a re-INVITE with CSeq 10 an INFO with CSeq 5 is accepted (RFC
 * 3261 12.2.2: every request in the dialog sets it, a lower one gets 500). */
static void test_s2x_active_cseq_of_reinvite_remembered(void **state)
{
	struct call c;

	s2x_active(&c);
	dlg_in(&c, 8504, "INVITE", 10, "application/sdp",
	       PHONE_SDP "a=sendrecv\r\n");
	sresp(0, 200);
	dlg_in(&c, 8505, "INFO", 5, "application/dtmf-relay",
	       "Signal=1\r\nDuration=100\r\n");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 500);
}


/* An ACK is never refused for its CSeq. */
static void test_s2x_active_ack_cseq_not_checked(void **state)
{
	struct call c;

	s2x_active(&c);
	dlg_in(&c, 8506, "INFO", 5, "application/dtmf-relay",
	       "Signal=1\r\nDuration=100\r\n");
	dlg_in(&c, 0, "ACK", 1, NULL, NULL);
	assert_int_equal(nx + ns, 0);
	{
		struct callrec r;
		assert_int_equal(rec_load(c.id, &r), 0);
		assert_true(r.inv_out == 0); /* the ACK was applied */
		callrec_reset(&r);
	}
}


/* Activity in ACTIVE pushes the idle deadline. */
static void test_x2s_active_request_pushes_idle_deadline(void **state)
{
	struct call c;
	uint64_t d0;

	x2s_active(&c);
	d0 = deadline_of(OWN_CALL, c.id);
	usleep(20000);
	dlg_in(&c, 8600, "OPTIONS", 0, NULL, NULL);
	assert_true(deadline_of(OWN_CALL, c.id) > d0);
}


static void test_no_dialog_481(void **state)
{
	struct call c;

	x2s_active(&c);
	strcpy(c.ltag, "no-such-tag");
	dlg_in(&c, 8700, "BYE", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 481)->tx == 8700);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* OPTIONS outside a dialog and methods the gateway does not know are the
 * translator's to answer too (every header from tr_sip_out.c). */
static void test_options_and_unknown_method(void **state)
{
	struct m_sip_out_response *r;
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "OPTIONS sip:127.0.0.1:5600 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt1\r\n"
		"From: <sip:bob@127.0.0.1:5070>;tag=o1\r\n"
		"To: <sip:127.0.0.1:5600>\r\nCall-ID: opt-1\r\n"
		"CSeq: 1 OPTIONS\r\n",
		NULL, NULL);
	sip_in(9100, raw);
	assert_int_equal(ns, 1);
	r = sresp(0, 200);
	assert_true(r->tx == 9100);
	hdr_has(&r->hdrs, "Allow", "INVITE");
	hdr_has(&r->hdrs, "Allow", "MESSAGE");
	hdr_has(&r->hdrs, "Accept", "text/plain");

	/* (SUBSCRIBE is known: SIP watchers, test_watch.c) */
	sip_raw(raw, sizeof(raw), "FOO sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsub1\r\n"
		"From: <sip:bob@127.0.0.1:5070>;tag=s1\r\n"
		"To: <sip:alice@localhost>\r\nCall-ID: sub-1\r\n"
		"CSeq: 1 FOO\r\n",
		NULL, NULL);
	sip_in(9101, raw);
	assert_int_equal(ns, 1);
	r = sresp(0, 405);
	assert_true(r->tx == 9101);
	hdr_has(&r->hdrs, "Allow", "OPTIONS");
}


/* ---- S2X (new) ------------------------------------------------------ */

static void test_s2x_new_invite_ringing(void **state)
{
	struct call c;

	s2x_ringing(&c);
}


static void test_s2x_new_invite_two_devices_ringing(void **state)
{
	struct call c;
	struct callrec r;

	s2x_ringing_n(&c, 2);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_string_equal(r.rung, ALICE_RES "\n" ALICE_RES2 "\n");
	callrec_reset(&r);
}


static void test_s2x_new_invite_proposed(void **state)
{
	struct call c;

	s2x_proposed(&c);
}


static void test_s2x_new_invite_nobody_no_propose_480(void **state)
{
	char raw[BIG];
	struct call c = {0};

	strcpy(c.callid, "s2x-call-1@127.0.0.1");
	strcpy(c.rtag, "from-tag-1");
	s2x_raw(&c, raw, sizeof(raw), "INVITE");
	sip_in(TX_INV, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 480)->tx == TX_INV);
	assert_int_equal(key_get(CK_REMOTE, c.callid, c.rtag), 0);
}


static void test_s2x_new_invite_unknown_user_404(void **state)
{
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "INVITE sip:alice@elsewhere.org SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-x\r\n"
		"From: <" BOB_URI
		">;tag=f1\r\nTo: <sip:alice@elsewhere.org>\r\n"
		"Call-ID: nf-1\r\nCSeq: 1 INVITE\r\n"
		"Contact: <" BOB_URI ">\r\n",
		"application/sdp", PHONE_SDP);
	sip_in(TX_INV, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 404);
	assert_int_equal(key_get(CK_REMOTE, "nf-1", "f1"), 0);
}


static void test_s2x_new_invite_without_sdp_488(void **state)
{
	char raw[BIG];

	xin("<presence from='" ALICE_RES "' to='sip.localhost'/>");
	sip_raw(raw, sizeof(raw), "INVITE sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-x\r\n"
		"From: <" BOB_URI ">;tag=f1\r\nTo: <sip:alice@localhost>\r\n"
		"Call-ID: nosdp-1\r\nCSeq: 1 INVITE\r\n"
		"Contact: <" BOB_URI ">\r\n",
		NULL, NULL);
	sip_in(TX_INV, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 488);
	assert_int_equal(key_get(CK_REMOTE, "nosdp-1", "f1"), 0);
}


/* ---- S2X PROPOSED --------------------------------------------------- */

static void jmi_in(struct call *c, const char *from, const char *what)
{
	xin("<message from='%s' to='%s' id='jmi-%s'>"
	    "<%s xmlns='urn:xmpp:jingle-message:0' id='%s'/></message>",
	    from, c->gw, what, what, c->sid);
}


static void test_s2x_proposed_proceed_initiate_ringing(void **state)
{
	struct call c;
	struct callrec r;
	xmpp_stanza_t *iq;

	s2x_proposed(&c);
	jmi_in(&c, ALICE_RES, "proceed");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	iq = xjingle("session-initiate", ALICE_RES);
	assert_string_equal(attr(iq, "from"), BOB_S2X_GW);
	assert_string_equal(attr(jingle_of(iq), "sid"), c.sid);
	assert_non_null(
		xmpp_stanza_get_child_by_name(jingle_of(iq), "content"));
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_RINGING);
	assert_string_equal(r.rung, ALICE_RES "\n");
	assert_true(r.deadline > wall_ms() + 50000); /* ring timeout now */
	callrec_reset(&r);
}


static void test_s2x_proposed_proceed_bare_ignored(void **state)
{
	struct call c;

	s2x_proposed(&c);
	jmi_in(&c, ALICE, "proceed");
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_PROPOSED);
}


static void jmi_ringing(bool proposed)
{
	struct m_sip_out_response *r;
	struct call c;

	if (proposed)
		s2x_proposed(&c);
	else
		s2x_ringing(&c);
	jmi_in(&c, ALICE_RES, "ringing");
	if (!proposed) {
		/* rung by session-initiate, not propose: nothing */
		assert_int_equal(nx + ns, 0);
		return;
	}
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 180);
	pl_is(&r->reason, "Ringing");
	assert_true(r->tx == TX_INV);
	assert_true(r->totag == strtoull(c.ltag, NULL, 16));
	hdr_is(&r->hdrs, "Contact", CONTACT);
	assert_int_equal(state_of(c.id), CS_PROPOSED);
}


static void test_s2x_proposed_jmi_ringing_180(void **state)
{
	jmi_ringing(true);
}


static void test_s2x_ringing_jmi_ringing_without_propose_nothing(void **state)
{
	jmi_ringing(false);
}


static void test_s2x_proposed_jmi_reject_603_gone(void **state)
{
	struct call c;

	s2x_proposed(&c);
	jmi_in(&c, ALICE_RES, "reject");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 603)->tx == TX_INV);
	assert_gone(&c);
}


static void test_s2x_proceeded_jmi_ringing_180(void **state)
{
	struct call c;

	s2x_proposed(&c);
	jmi_in(&c, ALICE_RES, "proceed");
	jmi_in(&c, ALICE_RES, "ringing");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 180)->tx == TX_INV);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_proceeded_jmi_reject_603_gone(void **state)
{
	struct call c;

	s2x_proposed(&c);
	jmi_in(&c, ALICE_RES, "proceed");
	jmi_in(&c, ALICE_RES, "reject");
	assert_int_equal(ns, 1);
	sresp(0, 603);
	assert_gone(&c);
}


static void test_s2x_proposed_terminate_486_gone(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	s2x_proposed(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><decline/></reason>");
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_int_equal(ns, 1);
	r = sresp(0, 486);
	pl_is(&r->reason, "Busy Here");
	assert_true(r->tx == TX_INV);
	assert_gone(&c);
}


static void test_s2x_proposed_invite_again_provisional(void **state)
{
	struct m_sip_out_response *r;
	struct call c;
	char raw[BIG];

	s2x_proposed(&c);
	s2x_raw(&c, raw, sizeof(raw), "INVITE");
	sip_in(TX_AGAIN, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 100);
	assert_true(r->tx == TX_AGAIN);
	assert_int_equal(state_of(c.id), CS_PROPOSED);
}


/* Regression (found here, fixed): the provisional repeated for a retransmitted
 * INVITE is always phrased "Ringing", also as 100 (RFC 3261 21.1.1: 100
 * Trying). */
static void test_s2x_proposed_invite_again_reason_phrase(void **state)
{
	struct call c;
	char raw[BIG];

	s2x_proposed(&c);
	s2x_raw(&c, raw, sizeof(raw), "INVITE");
	sip_in(TX_AGAIN, raw);
	pl_is(&sresp(0, 100)->reason, "Trying");
}


static void cancel_in(struct call *c, uint64_t tx)
{
	char raw[BIG];

	s2x_raw(c, raw, sizeof(raw), "CANCEL");
	sip_in(tx, raw);
}


static void test_s2x_proposed_cancel_487_retract_gone(void **state)
{
	struct call c;
	xmpp_stanza_t *m;

	s2x_proposed(&c);
	cancel_in(&c, TX_CANCEL);
	assert_int_equal(ns, 2);
	assert_true(sresp(0, 200)->tx == TX_CANCEL);
	assert_true(sresp(1, 487)->tx == TX_INV);
	assert_int_equal(nx, 1);
	m = xfind("message", "chat", NULL, ALICE);
	assert_string_equal(
		attr(xmpp_stanza_get_child_by_name_and_ns(m, "retract", NS_JMI),
		     "id"),
		c.sid);
	assert_gone(&c);
}


static void proposed_end(bool op)
{
	struct call c;
	xmpp_stanza_t *m;

	s2x_proposed(&c);
	if (op)
		op_end(c.id);
	else
		assert_int_equal(expire(), 1);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 480)->tx == TX_INV);
	assert_int_equal(nx, 1);
	m = xfind("message", "chat", NULL, ALICE);
	assert_non_null(
		xmpp_stanza_get_child_by_name_and_ns(m, "retract", NS_JMI));
	assert_gone(&c);
}


static void test_s2x_proposed_expired_480_retract_gone(void **state)
{
	proposed_end(false);
}


static void test_s2x_proposed_op_end_480_retract_gone(void **state)
{
	proposed_end(true);
}


/* ---- S2X RINGING ---------------------------------------------------- */

static void test_s2x_ringing_iq_result_180_once(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	s2x_ringing(&c);
	xin("<iq type='result' id='%s' from='" ALICE_RES "' to='%s'/>",
	    c.init_id, c.gw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 180);
	assert_true(r->tx == TX_INV);
	assert_true(r->totag == strtoull(c.ltag, NULL, 16));
	assert_int_equal(state_of(c.id), CS_RINGING);
	/* a second device's result: 180 was sent already */
	xin("<iq type='result' id='%s' from='" ALICE_RES2 "' to='%s'/>",
	    c.init_id, c.gw);
	assert_int_equal(nx + ns, 0);
}


static void test_s2x_ringing_iq_error_last_device_480_gone(void **state)
{
	struct call c;

	s2x_ringing(&c);
	xin("<iq type='error' id='%s' from='" ALICE_RES "' to='%s'>"
	    "<error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	    c.init_id, c.gw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 480)->tx == TX_INV);
	assert_gone(&c);
}


static void test_s2x_ringing_iq_error_one_of_two_stays(void **state)
{
	struct call c;
	struct callrec r;

	s2x_ringing_n(&c, 2);
	xin("<iq type='error' id='%s' from='" ALICE_RES2 "' to='%s'>"
	    "<error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	    c.init_id, c.gw);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_RINGING);
	assert_string_equal(r.rung, ALICE_RES "\n");
	callrec_reset(&r);
}


static void test_s2x_ringing_iq_error_not_rung_nothing(void **state)
{
	struct call c;

	s2x_ringing(&c);
	xin("<iq type='error' id='%s' from='" ALICE_RES3 "' to='%s'>"
	    "<error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	    c.init_id, c.gw);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_ringing_session_info_ringing_180(void **state)
{
	struct call c;

	s2x_ringing(&c);
	jin(&c, "set", "r1", "session-info",
	    "<ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(nx, 1);
	expect_iq_result("r1", ALICE_RES);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 180)->tx == TX_INV);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_ringing_accept_200_active(void **state)
{
	struct call c;

	s2x_active(&c);
}


static void test_s2x_ringing_accept_cancels_other_devices(void **state)
{
	struct call c;
	xmpp_stanza_t *iq;
	struct callrec r;

	s2x_ringing_n(&c, 2);
	s2x_accept(&c, ALICE_RES2);
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(nx, 2);
	expect_iq_result("acc1", ALICE_RES2);
	iq = xjingle("session-terminate", ALICE_RES);
	assert_string_equal(reason_of(iq), "cancel");
	assert_string_equal(attr(jingle_of(iq), "sid"), c.sid);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_ACTIVE);
	assert_string_equal(r.ufull, ALICE_RES2);
	assert_string_equal(r.responder, ALICE_RES2);
	callrec_reset(&r);
}


static void test_s2x_ringing_accept_bad_media_bad_request(void **state)
{
	struct call c;

	s2x_ringing(&c);
	jin(&c, "set", "acc2", "session-accept", BAD_CANDIDATE);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("acc2", ALICE_RES, "bad-request");
	assert_int_equal(state_of(c.id), CS_RINGING);
}


/* Regression (found here, fixed): a session-accept whose only content is not
 * the offered one (no description either) is taken: the caller gets a 200 whose
 * SDP refuses every stream and has no c= line (RFC 4566 5.7), the call is
 * ACTIVE without media. Expected: bad-request, still ringing, no 200. */
static void test_s2x_ringing_accept_no_usable_content(void **state)
{
	struct call c;

	s2x_ringing(&c);
	jin(&c, "set", "acc2", "session-accept",
	    "<content creator='initiator' name='x'/>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("acc2", ALICE_RES, "bad-request");
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_ringing_existing_initiate_again(void **state)
{
	struct call c;
	struct callrec r;
	xmpp_stanza_t *iq;

	s2x_ringing(&c);
	strcpy(c.me, ALICE_RES3);
	jin(&c, "get", "e1", "existing-session-initiate", NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 2);
	expect_iq_result("e1", ALICE_RES3);
	iq = xjingle("session-initiate", ALICE_RES3);
	assert_string_equal(attr(jingle_of(iq), "sid"), c.sid);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_RINGING);
	assert_string_equal(r.rung, ALICE_RES "\n" ALICE_RES3 "\n");
	callrec_reset(&r);
}


static void test_s2x_ringing_terminate_last_device_gone(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	s2x_ringing(&c);
	jin(&c, "set", "t1", "session-terminate", "<reason><busy/></reason>");
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_int_equal(ns, 1);
	r = sresp(0, 486);
	assert_true(r->tx == TX_INV);
	assert_true(r->totag == strtoull(c.ltag, NULL, 16));
	hdr_none(&r->hdrs, "Contact");
	assert_gone(&c);
}


static void test_s2x_ringing_terminate_sip_error_code(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	s2x_ringing(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><general-error/><sip-error code='606'>Not "
	    "\xc3\xa9"
	    "Acceptable</sip-error></reason>");
	assert_int_equal(ns, 1);
	r = sresp(0, 606);
	pl_is(&r->reason, "Not Acceptable");
	assert_gone(&c);
}


static void test_s2x_ringing_terminate_one_of_two_stays(void **state)
{
	struct call c;
	struct callrec r;

	s2x_ringing_n(&c, 2);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><decline/></reason>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("t1", ALICE_RES);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_RINGING);
	assert_string_equal(r.rung, ALICE_RES2 "\n");
	callrec_reset(&r);
}


static void test_s2x_ringing_invite_again_last_provisional(void **state)
{
	struct m_sip_out_response *r;
	struct call c;
	char raw[BIG];

	s2x_ringing(&c);
	xin("<iq type='result' id='%s' from='" ALICE_RES "' to='%s'/>",
	    c.init_id, c.gw);
	sresp(0, 180);
	s2x_raw(&c, raw, sizeof(raw), "INVITE");
	sip_in(TX_AGAIN, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 180);
	pl_is(&r->reason, "Ringing");
	assert_true(r->tx == TX_AGAIN);
	assert_true(r->totag == strtoull(c.ltag, NULL, 16));
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_ringing_cancel_487_terminate_gone(void **state)
{
	struct m_sip_out_response *r;
	struct call c;

	s2x_ringing_n(&c, 2);
	cancel_in(&c, TX_CANCEL);
	assert_int_equal(ns, 2);
	r = sresp(0, 200);
	assert_true(r->tx == TX_CANCEL);
	pl_contains(&r->raw, "CANCEL sip:alice@localhost");
	r = sresp(1, 487);
	assert_true(r->tx == TX_INV);
	pl_contains(&r->raw, "INVITE sip:alice@localhost");
	assert_int_equal(nx, 2);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "decline");
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES2)),
			    "decline");
	assert_gone(&c);
}


/* libre answered the CANCEL itself (no transaction): only the 487. */
static void test_s2x_ringing_cancel_answered_by_front(void **state)
{
	struct call c;

	s2x_ringing(&c);
	cancel_in(&c, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 487)->tx == TX_INV);
	assert_gone(&c);
}


static void ringing_end(bool op)
{
	struct call c;

	s2x_ringing_n(&c, 2);
	if (op)
		op_end(c.id);
	else
		assert_int_equal(expire(), 1);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 480)->tx == TX_INV);
	assert_int_equal(nx, 2);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "timeout");
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES2)),
			    "timeout");
	assert_gone(&c);
}


static void test_s2x_ringing_expired_480_gone(void **state)
{
	ringing_end(false);
}


static void test_s2x_ringing_op_end_480_gone(void **state)
{
	ringing_end(true);
}


/* ---- S2X ACTIVE: the 2xx and its ACK -------------------------------- */

static void test_s2x_active_ack_2xx_done(void **state)
{
	struct call c;
	struct callrec r;
	struct tr_owner o;

	s2x_active(&c);
	dlg_in(&c, 0, "ACK", 1, NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_false(outbox_owner(PROC_SIP_FRONT, c.ok_out, &o));
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_ACTIVE);
	assert_true(r.inv_out == 0);
	callrec_reset(&r);
	/* the front's report of the 200 finds nothing */
	out_done(PROC_SIP_FRONT, c.ok_out, 200, "OK");
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_s2x_active_out_done_acked(void **state)
{
	struct call c;
	struct callrec r;
	struct tr_owner o;

	s2x_active(&c);
	out_done(PROC_SIP_FRONT, c.ok_out, 200, "OK");
	assert_int_equal(nx + ns, 0);
	assert_false(outbox_owner(PROC_SIP_FRONT, c.ok_out, &o));
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_ACTIVE);
	assert_true(r.inv_out == 0);
	callrec_reset(&r);
}


static void test_s2x_active_out_done_no_ack_bye_gone(void **state)
{
	struct call c;

	s2x_active(&c);
	out_done(PROC_SIP_FRONT, c.ok_out, 408, "no ACK");
	assert_int_equal(ns, 1);
	sreq(0, "BYE");
	assert_int_equal(nx, 1);
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "success");
	assert_gone(&c);
}


/* ---- default rows ---------------------------------------------------- */

static void test_x2s_calling_accept_unexpected_request(void **state)
{
	struct call c;

	x2s_calling(&c);
	jin(&c, "set", "a1", "session-accept", ANSWER);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("a1", ALICE_RES, "unexpected-request");
	assert_int_equal(state_of(c.id), CS_CALLING);
}


static void test_s2x_active_accept_unexpected_request(void **state)
{
	struct call c;

	s2x_active(&c);
	s2x_accept(&c, ALICE_RES);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("acc1", ALICE_RES, "unexpected-request");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_ringing_source_unexpected_request(void **state)
{
	struct call c;

	x2s_ringing(&c);
	jin(&c, "set", "s1", "source-add", ANSWER);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("s1", ALICE_RES, "unexpected-request");
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_x2s_active_existing_item_not_found(void **state)
{
	struct call c;

	x2s_active(&c);
	jin(&c, "get", "e1", "existing-session-initiate", NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("e1", ALICE_RES, "item-not-found");
}


static void test_s2x_active_existing_item_not_found(void **state)
{
	struct call c;

	s2x_active(&c);
	jin(&c, "get", "e1", "existing-session-initiate", NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("e1", ALICE_RES, "item-not-found");
}


static void test_x2s_ringing_reinvite_491(void **state)
{
	struct call c;

	x2s_ringing(&c);
	dlg_in(&c, 8800, "INVITE", 0, "application/sdp", PHONE_SDP);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 491)->tx == 8800);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_ringing_update_491(void **state)
{
	struct call c;

	s2x_ringing(&c);
	dlg_in(&c, 8801, "UPDATE", 0, "application/sdp", PHONE_SDP);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 491);
	assert_int_equal(state_of(c.id), CS_RINGING);
}


static void test_s2x_active_cancel_late_200(void **state)
{
	struct call c;

	s2x_active(&c);
	cancel_in(&c, TX_CANCEL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 200)->tx == TX_CANCEL);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* XEP-0166 7.2: a session-info payload unknown by name and namespace:
 * <feature-not-implemented/> + <unsupported-info/>, type modify. */
static void expect_unsupported_info(const char *id)
{
	xmpp_stanza_t *iq = xfind("iq", "error", id, ALICE_RES);
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(iq, "error");

	assert_string_equal(error_of(iq), "feature-not-implemented");
	assert_string_equal(attr(e, "type"), "modify");
	assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
		e, "unsupported-info", NS_JINGLE_ERR));
}


static void test_x2s_calling_session_info_result_only(void **state)
{
	struct call c;

	x2s_calling(&c);
	jin(&c, "set", "i1", "session-info",
	    "<ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("i1", ALICE_RES);
	jin(&c, "set", "i2", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_int_equal(ns, 0);
	expect_iq_result("i2", ALICE_RES);
	jin(&c, "set", "i3", "session-info",
	    "<dtmf xmlns='urn:xmpp:jingle:dtmf:0' code='1'/>");
	assert_int_equal(ns, 0);
	expect_iq_result("i3", ALICE_RES);
	/* an unknown payload: refused in any state (XEP-0166 7.2) */
	jin(&c, "set", "i4", "session-info", "<foo xmlns='urn:example:info'/>");
	assert_int_equal(ns, 0);
	expect_unsupported_info("i4");
	assert_int_equal(state_of(c.id), CS_CALLING);
}


static void test_active_session_info_ping_result_only(void **state)
{
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "p1", "session-info", NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_result("p1", ALICE_RES);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_active_session_info_unknown_payload(void **state)
{
	static const char *unknown[] = {
		"<foo xmlns='urn:example:info'/>",
		"<hold xmlns='urn:example:info'/>",
		"<hold/>",
		"<active xmlns='urn:xmpp:jingle:dtmf:0'/>",
		"<ringing xmlns='urn:xmpp:jingle:apps:rtp:1'/>",
		"<dtmf xmlns='urn:xmpp:jingle:apps:rtp:info:1' code='1'/>",
		"<info content-type='text/plain'>x</info>",
	};
	static const char *ack[] = {"mute", "unmute"};
	char id[16], p[128];
	struct call c;

	x2s_active(&c);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		snprintf(id, sizeof(id), "u%zu", i);
		jin(&c, "set", id, "session-info", unknown[i]);
		assert_int_equal(ns, 0);
		assert_int_equal(nx, 1);
		expect_unsupported_info(id);
	}
	/* XEP-0167 7: only acknowledged */
	for (size_t i = 0; i < sizeof(ack) / sizeof(ack[0]); i++) {
		snprintf(id, sizeof(id), "k%zu", i);
		snprintf(p, sizeof(p),
			 "<%s xmlns='urn:xmpp:jingle:apps:rtp:info:1' "
			 "name='voice'/>",
			 ack[i]);
		jin(&c, "set", id, "session-info", p);
		assert_int_equal(ns, 0);
		assert_int_equal(nx, 1);
		expect_iq_result(id, ALICE_RES);
	}
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_calling_ack_nothing(void **state)
{
	struct call c;

	x2s_calling(&c);
	dlg_in(&c, 0, "ACK", 0, NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_CALLING);
}


static void test_s2x_active_iq_result_nothing(void **state)
{
	struct call c;

	s2x_active(&c);
	xin("<iq type='result' id='%s' from='" ALICE_RES "' to='%s'/>",
	    c.init_id, c.gw);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* a response to a BYE of ours whose call is gone: nothing */
static void test_response_after_gone_nothing(void **state)
{
	struct call c;
	struct sent s;

	x2s_active(&c);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	sent_of(sreq(0, "BYE"), &s);
	respond(&s, 200, "OK", NULL, NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_gone(&c);
}


static void test_other_users_session_item_not_found(void **state)
{
	struct call c;

	x2s_active(&c);
	strcpy(c.me, "mallory@localhost/x");
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	expect_iq_error("t1", "mallory@localhost/x", "item-not-found");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_op_end_unknown_call_enoent(void **state)
{
	struct call_ev e = {.reason = "operator"};

	assert_int_equal(tr_call_apply(&tr, 424242, CE_OP_END, &e), ENOENT);
	commit();
	assert_int_equal(nx + ns, 0);
}


/* ---- messages --------------------------------------------------------- */

/* alice's chat to bob@sip.localhost: one MESSAGE; its owner id */
static uint64_t chat_out(bool receipt, struct sent *s)
{
	struct m_sip_out_request *m;
	struct tr_owner o;
	struct msgrec r;
	char v[256];

	xin("<message type='chat' id='m1' from='" ALICE_RES "' to='" BOB_GW
	    "'><body>hello \xc3\xa9</body>%s</message>",
	    receipt ? "<request xmlns='urn:xmpp:receipts'/>" : "");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	m = sreq(0, "MESSAGE");
	assert_int_equal(m->flags, SIPF_PAGE);
	pl_is(&m->ruri, BOB_URI);
	assert_int_equal(strncmp(m->branch.p, "z9hG4bK", 7), 0);
	hdr_has(&m->hdrs, "From", "<sip:alice@localhost>;tag=");
	hdr_is(&m->hdrs, "To", "<" BOB_URI ">");
	hdr_is(&m->hdrs, "CSeq", "1 MESSAGE");
	hdr_is(&m->hdrs, "Max-Forwards", "70");
	hdr_is(&m->hdrs, "Content-Type", "text/plain;charset=UTF-8");
	assert_true(hdr(&m->hdrs, "Call-ID", v, sizeof(v)));
	assert_non_null(strstr(v, "@xsgw"));
	hdr_none(&m->hdrs, "Contact");
	pl_is(&m->body, "hello \xc3\xa9");
	sent_of(m, s);
	assert_true(outbox_owner(PROC_SIP_FRONT, m->out, &o));
	assert_int_equal(o.kind, OWN_MSG);
	assert_int_equal(msg_load(o.id, &r), 0);
	assert_int_equal(r.kind, MK_CHAT_X2S);
	assert_int_equal(r.state, MS_PENDING);
	assert_int_equal(r.flags, receipt ? 1 : 0);
	assert_string_equal(r.xfrom, ALICE_RES);
	assert_string_equal(r.xto, BOB_GW);
	assert_string_equal(r.xid, "m1");
	assert_string_equal(r.callid, v);
	msgrec_reset(&r);
	return o.id;
}


static void test_msg_chat_to_message(void **state)
{
	struct sent s;

	chat_out(false, &s);
}


static void test_msg_chat_202_done_with_receipt(void **state)
{
	struct sent s;
	struct msgrec r;
	struct tr_owner o;
	xmpp_stanza_t *m, *rc;
	uint64_t id = chat_out(true, &s);

	respond(&s, 202, "Accepted", "uas-tag", NULL, NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	m = xfind("message", NULL, NULL, ALICE_RES);
	assert_string_equal(attr(m, "from"), BOB_GW);
	rc = xmpp_stanza_get_child_by_name_and_ns(m, "received", NS_RECEIPTS);
	assert_non_null(rc);
	assert_string_equal(attr(rc, "id"), "m1");
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_DONE);
	assert_int_equal(r.scode, 202);
	msgrec_reset(&r);
	assert_false(outbox_owner(PROC_SIP_FRONT, s.out, &o));
	assert_true(deadline_of(OWN_MSG, id) > wall_ms());
	/* the receipt is a message record of its own, owning its stanza */
	assert_true(outbox_owner(PROC_XMPP_FRONT, xs[0].out, &o));
	assert_int_equal(o.kind, OWN_MSG);
	assert_int_equal(msg_load(o.id, &r), 0);
	assert_int_equal(r.kind, MK_RECEIPT);
	msgrec_reset(&r);
}


/* A finished message stays store.message_retain_s (the operator's), then
 * its record and dedup key are gone. */
static void test_msg_done_kept_message_retain_s(void **state)
{
	struct sent s;
	struct msgrec r;
	uint32_t keep = tr.proc.cfg->store.message_retain_s;
	uint64_t id, t0;

	((struct xsgw_config *)tr.proc.cfg)->store.message_retain_s = 40;
	id = chat_out(false, &s);
	t0 = wall_ms();
	respond(&s, 200, "OK", "uas-tag", NULL, NULL);
	assert_true(deadline_of(OWN_MSG, id) >= t0 + 40000);
	assert_true(deadline_of(OWN_MSG, id) <= wall_ms() + 40000);
	assert_int_equal(expire(), 1);
	assert_int_equal(msg_load(id, &r), ENOENT);
	((struct xsgw_config *)tr.proc.cfg)->store.message_retain_s = keep;
}


static void test_msg_chat_202_without_receipt_request(void **state)
{
	struct sent s;
	struct msgrec r;
	uint64_t id = chat_out(false, &s);

	respond(&s, 200, "OK", "uas-tag", NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_DONE);
	assert_int_equal(r.scode, 200);
	msgrec_reset(&r);
}


static void test_msg_chat_provisional_ignored(void **state)
{
	struct sent s;
	struct msgrec r;
	struct tr_owner o;
	uint64_t id = chat_out(true, &s);

	respond(&s, 100, "Trying", NULL, NULL, NULL);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_PENDING);
	msgrec_reset(&r);
	assert_true(outbox_owner(PROC_SIP_FRONT, s.out, &o));
}


static void chat_failed(unsigned scode, const char *reason, bool local,
			const char *cond)
{
	struct sent s;
	struct msgrec r;
	xmpp_stanza_t *m;
	char text[128], t[128];
	uint64_t id = chat_out(true, &s);

	if (local)
		sip_resp_in(s.out, scode, reason, NULL);
	else
		respond(&s, scode, reason, "uas-tag", NULL, NULL);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	m = xfind("message", "error", "m1", ALICE_RES);
	assert_string_equal(attr(m, "from"), BOB_GW);
	assert_string_equal(error_of(m), cond);
	snprintf(text, sizeof(text), "SIP %u %s", scode, reason);
	assert_string_equal(text_of(xmpp_stanza_get_child_by_name(m, "error"),
				    "text", t, sizeof(t)),
			    text);
	assert_string_equal(text_of(m, "body", t, sizeof(t)), "hello \xc3\xa9");
	/* no receipt for a failure */
	assert_null(xmpp_stanza_get_child_by_name_and_ns(m, "received",
							 NS_RECEIPTS));
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_DONE);
	assert_int_equal(r.scode, scode);
	msgrec_reset(&r);
}


static void test_msg_chat_404_error_back(void **state)
{
	chat_failed(404, "Not Found", false, "item-not-found");
}


static void test_msg_chat_486_error_back(void **state)
{
	chat_failed(486, "Busy Here", false, "recipient-unavailable");
}


static void test_msg_chat_timeout_error_back(void **state)
{
	chat_failed(408, "Request Timeout", true, "remote-server-timeout");
}


static void test_msg_chat_final_twice_once(void **state)
{
	struct sent s;

	chat_out(true, &s);
	respond(&s, 202, "Accepted", "uas-tag", NULL, NULL);
	assert_int_equal(nx, 1);
	respond(&s, 202, "Accepted", "uas-tag", NULL, NULL);
	assert_int_equal(nx + ns, 0);
}


static void test_msg_groupchat_feature_not_implemented(void **state)
{
	xin("<message type='groupchat' id='g1' from='" ALICE_RES "' to='" BOB_GW
	    "'><body>x</body></message>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	assert_string_equal(
		error_of(xfind("message", "error", "g1", ALICE_RES)),
		"feature-not-implemented");
}


/* RFC 6121 5.2.3: the body in the stanza's default language. */
static void test_msg_chat_body_default_language(void **state)
{
	static const struct {
		const char *lang, *bodies, *want;
	} cases[] = {
		{" xml:lang='en'",
		 "<body xml:lang='de'>Hallo</body>"
		 "<body xml:lang='en'>Hello</body>",
		 "Hello"},
		{" xml:lang='en-US'",
		 "<body xml:lang='de'>Hallo</body>"
		 "<body xml:lang='EN-us'>Hi</body>",
		 "Hi"},
		{"", "<body xml:lang='de'>Hallo</body><body>Hello</body>",
		 "Hello"},
		{" xml:lang='en'",
		 "<body xml:lang='de'>Hallo</body>"
		 "<body xml:lang='fr'>Salut</body>",
		 "Hallo"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		xin("<message type='chat' id='l%zu' from='" ALICE_RES
		    "' to='" BOB_GW "'%s>%s</message>",
		    i, cases[i].lang, cases[i].bodies);
		assert_int_equal(nx, 0);
		assert_int_equal(ns, 1);
		pl_is(&sreq(0, "MESSAGE")->body, cases[i].want);
	}
}


/* SIP cannot carry an end-to-end encrypted message: not-acceptable back,
 * nothing to SIP, no receipt. */
static void test_msg_e2e_encrypted_not_acceptable(void **state)
{
	static const char *enc[] = {
		"<encrypted xmlns='eu.siacs.conversations.axolotl'/>",
		"<encrypted xmlns='urn:xmpp:omemo:2'/>",
		"<openpgp xmlns='urn:xmpp:openpgp:0'>AAAA</openpgp>",
		"<x xmlns='jabber:x:encrypted'>AAAA</x>",
		"<encryption xmlns='urn:xmpp:eme:0' namespace='urn:x:y'/>",
	};
	char id[16], buf[128];
	xmpp_stanza_t *m, *e;

	for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		snprintf(id, sizeof(id), "e%zu", i);
		xin("<message type='chat' id='%s' from='" ALICE_RES
		    "' to='" BOB_GW "'>%s<body>I sent you an encrypted "
		    "message</body><request xmlns='urn:xmpp:receipts'/>"
		    "</message>",
		    id, enc[i]);
		assert_int_equal(ns, 0);
		assert_int_equal(nx, 1);
		m = xfind("message", "error", id, ALICE_RES);
		assert_string_equal(attr(m, "from"), BOB_GW);
		assert_string_equal(error_of(m), "not-acceptable");
		e = xmpp_stanza_get_child_by_name(m, "error");
		assert_string_equal(attr(e, "type"), "modify");
		assert_string_equal(text_of(e, "text", buf, sizeof(buf)),
				    "end-to-end encrypted messages cannot "
				    "reach SIP users");
		assert_null(xmpp_stanza_get_child_by_name(m, "received"));
	}
	/* an element of that name in another namespace is no sign */
	xin("<message type='chat' id='p1' from='" ALICE_RES "' to='" BOB_GW
	    "'><x xmlns='jabber:x:oob'/><body>plain</body></message>");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	pl_is(&sreq(0, "MESSAGE")->body, "plain");
}


static void test_msg_foreign_sender_forbidden(void **state)
{
	xin("<message type='chat' id='f1' from='eve@elsewhere.org/x' "
	    "to='" BOB_GW "'><body>x</body></message>");
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	assert_string_equal(error_of(xfind("message", "error", "f1",
					   "eve@elsewhere.org/x")),
			    "forbidden");
}


static void test_msg_chat_state_only_nothing(void **state)
{
	xin("<message type='chat' id='c1' from='" ALICE_RES "' to='" BOB_GW
	    "'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
	    "</message>");
	assert_int_equal(nx + ns, 0);
}


#define SIP_MESSAGE_HDRS(callid, cseq, ftag)                                   \
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-m-" cseq "\r\n"        \
	"Max-Forwards: 70\r\nFrom: <" BOB_URI ">;tag=" ftag "\r\n"             \
	"To: <sip:alice@localhost>\r\nCall-ID: " callid "\r\n"                 \
	"CSeq: " cseq " MESSAGE\r\n"

/* bob's MESSAGE to alice as the sip-front's frame (raw: its buffer) */
static void message_frame(struct m_sip_in_request *m, char *raw, size_t sz,
			  uint64_t tx, const char *ctype, const char *body)
{
	memset(m, 0, sizeof(*m));
	m->tx = tx;
	sip_raw(raw, sz, "MESSAGE sip:alice@localhost SIP/2.0",
		SIP_MESSAGE_HDRS("msg-1@127.0.0.1", "1", "mt1"), ctype, body);
	pl_set_str(&m->src, PEER_SRC);
	pl_set_str(&m->raw, raw);
}


static void sip_message(uint64_t tx, const char *ctype, const char *body)
{
	struct m_sip_in_request m;
	char raw[BIG];

	message_frame(&m, raw, sizeof(raw), tx, ctype, body);
	tr_from_sip_request(&tr, &m);
	commit();
}


/* bob's MESSAGE to alice: 202 and a chat; the message's id */
static uint64_t message_in(void)
{
	struct m_sip_out_response *ok;
	struct tr_owner o;
	struct msgrec r;
	xmpp_stanza_t *m;
	char t[64], id[40];

	sip_message(9001, "text/plain;charset=UTF-8", "hi \xe2\x82\xac");
	assert_int_equal(ns, 1);
	ok = sresp(0, 202);
	pl_is(&ok->reason, "Accepted");
	assert_true(ok->tx == 9001);
	pl_is(&ok->src, PEER_SRC);
	pl_contains(&ok->raw, "MESSAGE sip:alice@localhost SIP/2.0");
	assert_int_equal(nx, 1);
	m = xfind("message", "chat", NULL, ALICE);
	assert_string_equal(attr(m, "from"), BOB_S2X_GW);
	assert_string_equal(text_of(m, "body", t, sizeof(t)),
			    "hi \xe2\x82\xac");
	assert_true(outbox_owner(PROC_XMPP_FRONT, xs[0].out, &o));
	assert_int_equal(o.kind, OWN_MSG);
	assert_int_equal(msg_load(o.id, &r), 0);
	/* "xsgw-ID-" and 16 random hex digits, kept in the record */
	snprintf(id, sizeof(id), "xsgw-%llu-", (unsigned long long)o.id);
	assert_int_equal(strncmp(attr(m, "id"), id, strlen(id)), 0);
	assert_int_equal(strlen(attr(m, "id")), strlen(id) + 16);
	assert_string_equal(attr(m, "id"), r.xid);
	assert_int_equal(r.kind, MK_CHAT_S2X);
	assert_int_equal(r.state, MS_PENDING);
	assert_string_equal(r.sfrom, BOB_URI);
	assert_string_equal(r.callid, "msg-1@127.0.0.1");
	assert_true(r.dkey && *r.dkey);
	msgrec_reset(&r);
	return o.id;
}


static bool dedup_key(void)
{
	uint8_t k[KEY_MAX];
	struct pl callid, ftag;
	const void *v;
	size_t kl, vl;
	int err;

	pl_set_str(&callid, "msg-1@127.0.0.1");
	pl_set_str(&ftag, "mt1");
	kl = key_msgdedup(k, sizeof(k), &callid, 1, &ftag);
	assert_true(kl > 0);
	err = store_get(tr_txn(&tr), DB_MSGKEY, k, kl, &v, &vl);
	release();
	return !err;
}


static void test_msg_sip_message_to_chat(void **state)
{
	message_in();
	assert_true(dedup_key());
}


static void test_msg_sip_message_retransmission_202_once(void **state)
{
	message_in();
	sip_message(9002, "text/plain;charset=UTF-8", "hi \xe2\x82\xac");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 202)->tx == 9002);
}


static void test_msg_sip_message_bad_type_415(void **state)
{
	struct m_sip_out_response *r;

	sip_message(9003, "text/html", "<b>hi</b>");
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	r = sresp(0, 415);
	hdr_is(&r->hdrs, "Accept", "text/plain");
	assert_false(dedup_key());
}


static void test_msg_sip_message_empty_400(void **state)
{
	sip_message(9004, NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 400);
}


static void test_msg_sip_message_unknown_domain_404(void **state)
{
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@elsewhere.org SIP/2.0",
		SIP_MESSAGE_HDRS("msg-2@127.0.0.1", "1", "mt2"), "text/plain",
		"x");
	sip_in(9005, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	sresp(0, 404);
}


static void test_msg_sip_chat_written_done(void **state)
{
	struct msgrec r;
	struct tr_owner o;
	uint64_t id = message_in(), out = xs[0].out;

	out_done(PROC_XMPP_FRONT, out, 200, "written");
	assert_int_equal(nx + ns, 0);
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_DONE);
	msgrec_reset(&r);
	assert_false(outbox_owner(PROC_XMPP_FRONT, out, &o));
	assert_true(deadline_of(OWN_MSG, id) > wall_ms());
}


/* The error for a message, naming the id that was sent (or, guessed, the
 * message number alone). */
static void bounce_named(uint64_t id, bool guessed)
{
	char mid[64];
	struct msgrec r;

	if (guessed) {
		snprintf(mid, sizeof(mid), "xsgw-%llu", (unsigned long long)id);
	} else {
		assert_int_equal(msg_load(id, &r), 0);
		snprintf(mid, sizeof(mid), "%s", r.xid);
		msgrec_reset(&r);
	}
	xin("<message type='error' id='%s' from='" ALICE "' to='" BOB_S2X_GW
	    "'><body>hi</body><error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>offline</text>"
	    "</error></message>",
	    mid);
}


static void bounce(uint64_t id)
{
	bounce_named(id, false);
}


static void test_msg_sip_chat_bounced_message_back(void **state)
{
	struct m_sip_out_request *m;
	struct msgrec r;
	uint64_t id = message_in();

	out_done(PROC_XMPP_FRONT, xs[0].out, 200, "written");
	bounce(id);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	m = sreq(0, "MESSAGE");
	assert_int_equal(m->flags, SIPF_PAGE);
	pl_is(&m->ruri, BOB_URI);
	hdr_has(&m->hdrs, "From", "<sip:alice@localhost>;tag=");
	hdr_is(&m->hdrs, "To", "<" BOB_URI ">");
	hdr_is(&m->hdrs, "Content-Type", "text/plain;charset=UTF-8");
	pl_is(&m->body, "Message not delivered to alice@localhost: "
			"service-unavailable - offline");
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_DONE);
	assert_string_equal(r.econd, "service-unavailable");
	msgrec_reset(&r);
}


/* never an error for an error: a bounced error message is dropped */
static void test_msg_error_bounced_nothing(void **state)
{
	struct sent s;
	uint64_t err_id;
	struct tr_owner o;

	chat_out(false, &s);
	respond(&s, 404, "Not Found", "uas-tag", NULL, NULL);
	assert_true(outbox_owner(PROC_XMPP_FRONT, xs[0].out, &o));
	err_id = o.id;
	bounce(err_id);
	assert_int_equal(nx + ns, 0);
}


static void test_msg_retention_expiry_forgets(void **state)
{
	struct msgrec r;
	uint64_t id = message_in();

	out_done(PROC_XMPP_FRONT, xs[0].out, 200, "written");
	assert_true(dedup_key());
	assert_int_equal(expire(), 1);
	assert_int_equal(nx + ns, 0);
	assert_int_equal(msg_load(id, &r), ENOENT);
	assert_false(dedup_key());
	assert_int_equal(deadline_of(OWN_MSG, id), 0);
	/* a late retransmission is a new message now */
	sip_message(9006, "text/plain", "hi \xe2\x82\xac");
	assert_int_equal(ns, 1);
	sresp(0, 202);
	assert_int_equal(nx, 1);
}


/* ---- the outbox ------------------------------------------------------- */

struct copy {
	uint16_t type;
	uint64_t out;
	uint8_t *buf;
	size_t len;
};


static void test_replay_restages_pending_with_same_ids(void **state)
{
	struct copy sip[MAXF];
	unsigned nsip = 0;
	struct call c;
	struct sent s;

	/* pending: the 100 of a call, the MESSAGE of a chat; done: the
	 * MESSAGE of another chat */
	s2x_ringing(&c);
	sip[nsip].type = ss[0].type;
	sip[nsip].out = ss[0].out;
	sip[nsip].buf = mem_alloc(ss[0].len, NULL);
	memcpy(sip[nsip].buf, ss[0].buf, ss[0].len);
	sip[nsip++].len = ss[0].len;
	chat_out(false, &s);
	respond(&s, 202, "Accepted", "t", NULL, NULL); /* done */
	chat_out(false, &s);
	sip[nsip].type = ss[0].type;
	sip[nsip].out = ss[0].out;
	sip[nsip].buf = mem_alloc(ss[0].len, NULL);
	memcpy(sip[nsip].buf, ss[0].buf, ss[0].len);
	sip[nsip++].len = ss[0].len;

	tr_out_replay(&tr, PROC_SIP_FRONT, tr_owner_wants);
	commit();
	assert_int_equal(nx, 0);
	assert_int_equal(ns, nsip);
	for (unsigned i = 0; i < nsip; i++) {
		/* oldest first, the same frame byte for byte */
		assert_int_equal(ss[i].type, sip[i].type);
		assert_true(ss[i].out == sip[i].out);
		assert_int_equal(ss[i].len, sip[i].len);
		assert_memory_equal(ss[i].buf, sip[i].buf, sip[i].len);
		mem_deref(sip[i].buf);
	}
	/* the xmpp-front's own: the session-initiate */
	tr_out_replay(&tr, PROC_XMPP_FRONT, tr_owner_wants);
	commit();
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	xjingle("session-initiate", ALICE_RES);
}


static void test_replay_after_done_nothing(void **state)
{
	struct sent s;

	chat_out(false, &s);
	respond(&s, 202, "Accepted", "t", NULL, NULL);
	tr_out_replay(&tr, PROC_SIP_FRONT, tr_owner_wants);
	commit();
	assert_int_equal(nx + ns, 0);
}


static void test_out_done_unknown_id_nothing(void **state)
{
	struct call c;
	struct callrec a, b;

	s2x_active(&c);
	assert_int_equal(rec_load(c.id, &a), 0);
	out_done(PROC_SIP_FRONT, c.ok_out + 1000, 408, "no ACK");
	out_done(PROC_XMPP_FRONT, c.ok_out, 408, "wrong front");
	assert_int_equal(nx + ns, 0);
	assert_int_equal(rec_load(c.id, &b), 0);
	assert_int_equal(b.state, CS_ACTIVE);
	assert_true(b.inv_out == a.inv_out);
	assert_true(b.updated == a.updated);
	callrec_reset(&a);
	callrec_reset(&b);
	/* a replayed report of a done entry: once only */
	out_done(PROC_SIP_FRONT, c.ok_out, 200, "OK");
	out_done(PROC_SIP_FRONT, c.ok_out, 408, "no ACK");
	assert_int_equal(nx + ns, 0);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* F14: only a device we rang acknowledges our session-initiate. */
static void test_s2x_ringing_iq_result_not_rung_nothing(void **state)
{
	struct call c;

	s2x_ringing(&c);
	xin("<iq type='result' id='%s' from='mallory@evil.org/x' to='%s'/>",
	    c.init_id, c.gw);
	xin("<iq type='result' id='%s' from='" ALICE_RES3 "' to='%s'/>",
	    c.init_id, c.gw);
	/* a prefix of a rung JID is not that JID */
	xin("<iq type='result' id='%s' from='alice@localhost/re' to='%s'/>",
	    c.init_id, c.gw);
	assert_int_equal(nx + ns, 0);
	xin("<iq type='result' id='%s' from='" ALICE_RES "' to='%s'/>",
	    c.init_id, c.gw);
	sresp(0, 180);
}


/* F5: a bounce counts only from the recipient, naming the id sent (not a
 * guess of it: the message number alone), and once. */
static void test_msg_bounce_forged_ignored(void **state)
{
	struct msgrec r;
	uint64_t id = message_in();

	out_done(PROC_XMPP_FRONT, xs[0].out, 200, "written");
	assert_int_equal(msg_load(id, &r), 0);
	xin("<message type='error' id='%s' from='mallory@localhost/x' "
	    "to='" BOB_S2X_GW "'><error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>call +1-900 now"
	    "</text></error></message>",
	    r.xid);
	msgrec_reset(&r);
	assert_int_equal(nx + ns, 0);
	bounce_named(id, true);
	assert_int_equal(nx + ns, 0);
	bounce(id);
	assert_int_equal(ns, 1);
	sreq(0, "MESSAGE");
	bounce(id);
	assert_int_equal(nx + ns, 0);
}


/* F7: a request applied after its deadline (the front said 503 to its
 * sender, who retries) is answered 503 and not acted on. */
static void test_request_past_deadline_503(void **state)
{
	struct m_sip_in_request m;
	struct m_sip_out_response *r;
	char raw[BIG];

	message_frame(&m, raw, sizeof(raw), 9540, "text/plain;charset=UTF-8",
		      "late");
	m.deadline_ms = wall_ms() - 1;
	tr_from_sip_request(&tr, &m);
	commit();
	assert_int_equal(nx, 0);
	r = sresp(0, 503);
	hdr_is(&r->hdrs, "Retry-After", "5");
	assert_false(dedup_key());
	/* before its deadline it is applied */
	m.deadline_ms = wall_ms() + 30000;
	tr_from_sip_request(&tr, &m);
	commit();
	assert_int_equal(nx, 1);
	sresp(0, 202);
}


/* F4: above the high-water mark new work is refused (503 Retry-After,
 * resource-constraint) while the rest commits; deleting what filled the
 * store lets new work in again by itself. */
static void test_store_full_refuses_then_recovers(void **state)
{
	static char chunk[1 << 20];
	uint64_t used, max;
	uint8_t k[8];
	unsigned n = 0;
	int err;

	memset(chunk, 'f', sizeof(chunk));
	for (;;) {
		store_fill(tr_txn(&tr), &used, &max);
		if (used * 100 >= max * STORE_HIGH_WATER)
			break;
		key_id(k, 0xf111000000000000ULL + n);
		store_put(tr_txn(&tr), DB_STATS, k, sizeof(k), chunk,
			  sizeof(chunk));
		err = store_commit(tr.txn);
		tr.txn = NULL;
		if (!err)
			n++;
		else
			assert_int_equal(err, EAGAIN); /* the map grew */
	}
	sip_message(9550, "text/plain;charset=UTF-8", "full");
	assert_int_equal(nx, 0);
	hdr_is(&sresp(0, 503)->hdrs, "Retry-After", "30");
	xin("<message type='chat' id='m1' from='" ALICE_RES "' to='" BOB_GW
	    "'><body>full</body></message>");
	assert_int_equal(ns, 0);
	assert_string_equal(
		error_of(xfind("message", "error", "m1", ALICE_RES)),
		"resource-constraint");
	/* space returns */
	for (unsigned i = 0; i < n; i++) {
		key_id(k, 0xf111000000000000ULL + i);
		store_del(tr_txn(&tr), DB_STATS, k, sizeof(k));
	}
	commit();
	sip_message(9551, "text/plain;charset=UTF-8", "room again");
	sresp(0, 202);
	assert_int_equal(nx, 1);
}


/* F4: a message pending too long comes back to its sender as an error,
 * and its delivery is never replayed after that. */
static void test_msg_pending_expires_back_to_sender(void **state)
{
	struct sent s;
	xmpp_stanza_t *m;
	struct m_sip_out_request *rq;

	/* XMPP -> SIP, the sip-front never answers */
	chat_out(false, &s);
	assert_int_equal(expire(), 1);
	m = xfind("message", "error", "m1", ALICE_RES);
	assert_string_equal(error_of(m), "remote-server-timeout");
	tr_out_replay(&tr, PROC_SIP_FRONT, tr_owner_wants);
	commit();
	assert_int_equal(ns, 0);

	/* SIP -> XMPP, the xmpp-front never writes it: bob is told */
	message_in();
	assert_true(expire() >= 1); /* and what the first part left */
	rq = sreq(0, "MESSAGE");
	pl_contains(&rq->body, "remote-server-timeout");
	tr_out_replay(&tr, PROC_XMPP_FRONT, tr_owner_wants);
	commit();
	assert_int_equal(nx, 0);
}


/* F8: the INVITE of a call that ended is never sent again to a sip-front
 * that reconnects (its CANCEL may be: it ends when answered). */
static void test_replay_drops_ended_call_invite(void **state)
{
	struct call c;

	x2s_cancelling(&c);
	assert_int_equal(expire(), 1);
	assert_gone(&c);
	tr_out_replay(&tr, PROC_SIP_FRONT, tr_owner_wants);
	commit();
	for (unsigned i = 0; i < ns; i++)
		assert_false(ss[i].type == MSG_SIP_OUT_REQUEST &&
			     pl_eq(&ss[i].rq.method, "INVITE"));
	sreq(0, "CANCEL");
}


/* The stanzas a call staged as it ended are owed after it: a front that
 * connects only then still gets its session-terminate. */
static void test_replay_after_call_end_keeps_last_stanzas(void **state)
{
	struct call c;

	x2s_active(&c);
	dlg_in(&c, 8800, "BYE", 0, NULL, NULL);
	(void)xjingle("session-terminate", ALICE_RES);
	assert_gone(&c);
	tr_out_replay(&tr, PROC_XMPP_FRONT, tr_owner_wants);
	commit();
	(void)xjingle("session-terminate", ALICE_RES);
}


/* F6: nothing larger than a frame is dropped after it was accepted: an
 * oversize MESSAGE is 413 before its 202, an oversize chat comes back to
 * its sender as policy-violation. */
static void test_msg_oversize_refused_up_front(void **state)
{
	static char body[40001], xml[BIG * 4], raw[BIG * 4];

	memset(body, 'a', sizeof(body) - 1);
	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@localhost SIP/2.0",
		SIP_MESSAGE_HDRS("msg-1@127.0.0.1", "1", "mt1"), "text/plain",
		body);
	sip_in(9560, raw);
	assert_int_equal(nx, 0);
	sresp(0, 413);
	assert_false(dedup_key());
	/* what counts is the escaped size: 10 000 quotes are 60 000 bytes */
	memset(body, '"', 10000);
	body[10000] = 0;
	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@localhost SIP/2.0",
		SIP_MESSAGE_HDRS("msg-1@127.0.0.1", "1", "mt1"), "text/plain",
		body);
	sip_in(9561, raw);
	sresp(0, 413);

	memset(body, 'b', 30000);
	body[30000] = 0;
	snprintf(xml, sizeof(xml),
		 "<message type='chat' id='big' from='" ALICE_RES
		 "' to='" BOB_GW "'><body>%s</body></message>",
		 body);
	xin("%s", xml);
	assert_int_equal(ns, 0);
	assert_string_equal(
		error_of(xfind("message", "error", "big", ALICE_RES)),
		"policy-violation");
}


/* F20: with no proxy, a From in a served XMPP domain is forged: 403. */
static void test_from_in_served_domain_403(void **state)
{
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-f20\r\n"
		"From: <sip:bob@LocalHost>;tag=f20\r\n"
		"To: <sip:alice@localhost>\r\nCall-ID: f20\r\n"
		"CSeq: 1 MESSAGE\r\n",
		"text/plain", "I am bob, trust me");
	sip_in(9570, raw);
	assert_int_equal(nx, 0);
	sresp(0, 403);
	sip_raw(raw, sizeof(raw), "INVITE sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-f21\r\n"
		"From: <sip:bob@localhost>;tag=f21\r\n"
		"To: <sip:alice@localhost>\r\nCall-ID: f21\r\n"
		"CSeq: 1 INVITE\r\nContact: <" PEER_TGT ">\r\n",
		"application/sdp", PHONE_SDP);
	sip_in(9571, raw);
	assert_int_equal(nx, 0);
	sresp(0, 403);
}


/* F21: a resource its server says is not there (a lost unavailable) is
 * forgotten: the next call does not ring it. */
static void test_s2x_iq_error_forgets_dead_resource(void **state)
{
	struct call c;
	char *list = NULL;

	s2x_ringing(&c);
	assert_int_equal(tr_presence_online(&tr, ALICE, &list), 1);
	mem_deref(list);
	release();
	xin("<iq type='error' id='%s' from='" ALICE_RES "' to='%s'>"
	    "<error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	    c.init_id, c.gw);
	assert_true(sresp(0, 480)->tx == TX_INV);
	assert_int_equal(tr_presence_online(&tr, ALICE, &list), 0);
	mem_deref(list);
	release();
}


/* F9: with no proxy, a chat or call to a host the operator did not allow
 * is refused (forbidden) and sends nothing. */
static void test_no_proxy_unlisted_host_forbidden(void **state)
{
	xin("<message type='chat' id='m9' from='" ALICE_RES
	    "' to='x\\40127.0.0.1\\3a6379@sip.localhost'><body>SET x 1"
	    "</body></message>");
	assert_int_equal(ns, 0);
	assert_string_equal(
		error_of(xfind("message", "error", "m9", ALICE_RES)),
		"forbidden");
	xin("<iq type='set' id='i9' from='" ALICE_RES
	    "' to='x\\40127.0.0.1\\3a6379@sip.localhost'><jingle "
	    "xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s9' "
	    "initiator='" ALICE_RES "'>" OFFER "</jingle></iq>");
	assert_int_equal(ns, 0);
	expect_iq_error("i9", ALICE_RES, "forbidden");
}


/* A NUL in a re-INVITE's SDP (read as a C string, it was cut short
 * unseen): 488 at once, the call goes on. */
static void test_reinvite_nul_in_sdp_488(void **state)
{
	struct m_sip_in_request m = {.tx = 9580};
	struct call c;
	char raw[BIG], *p;

	x2s_active(&c);
	dlg_raw(&c, raw, sizeof(raw), "INVITE", 0, "application/sdp",
		PHONE_SDP "a=x:\x01\r\n");
	p = strchr(raw, '\x01');
	assert_non_null(p);
	*p = 0;
	pl_set_str(&m.src, PEER_SRC);
	m.raw.p = raw;
	m.raw.l = strlen(raw) + 1 + strlen(p + 1);
	tr_from_sip_request(&tr, &m);
	commit();
	assert_int_equal(nx, 0);
	pl_contains(&sresp(0, 488)->reason, "NUL");
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* Found by fuzz_tr_sip: a bare CR in a 2xx's Record-Route or Contact was
 * written back into Route headers and the Request-URI. Such an entry is
 * dropped (the route) or ignored (the target stays). */
static void test_x2s_answer_bare_cr_route_and_contact_ignored(void **state)
{
	struct m_sip_out_request *ack;
	struct call c;
	char v[256];

	x2s_calling(&c);
	x2s_respond(&c, 200, "OK",
		    "Record-Route: <sip:p2.example.net;lr>, "
		    "<sip:p1;lr\rVia: SIP/2.0/UDP evil;branch=z9hG4bKx>\r\n",
		    PHONE_SDP);
	ack = sreq(0, "ACK");
	assert_int_equal(hdr_count(&ack->hdrs, "Route"), 1);
	assert_true(hdr_nth(&ack->hdrs, "Route", 0, v, sizeof(v)));
	assert_string_equal(v, "<sip:p2.example.net;lr>");
	for (size_t i = 0; i + 1 < ack->hdrs.l; i++)
		assert_false(ack->hdrs.p[i] == '\r' &&
			     ack->hdrs.p[i + 1] != '\n');
	pl_is(&ack->ruri, PEER_TGT);
}


/* A chat the xmpp-front would not write (OUT_DONE 500) is not delivered:
 * its SIP sender is told, as for a bounce. */
static void test_msg_front_refused_chat_sender_told(void **state)
{
	struct m_sip_out_request *rq;
	struct msgrec r;
	uint64_t id = message_in();

	out_done(PROC_XMPP_FRONT, xs[0].out, 500, "Stanza not well-formed");
	rq = sreq(0, "MESSAGE");
	pl_contains(&rq->body, "internal-server-error");
	assert_int_equal(msg_load(id, &r), 0);
	assert_int_equal(r.state, MS_DONE);
	msgrec_reset(&r);
}


/* Found by fuzz_tr_sip: a bare CR in a MESSAGE's To came back as the From
 * of its bounce notice. A From or To with a control byte is 400. */
static void test_from_to_with_control_bytes_400(void **state)
{
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-cr\r\n"
		"From: <" BOB_URI ">;tag=cr\r\n"
		"To: <sip:alice@localhost\r:5>\r\nCall-ID: cr1\r\n"
		"CSeq: 1 MESSAGE\r\n",
		"text/plain", "hi");
	sip_in(9590, raw);
	assert_int_equal(nx, 0);
	sresp(0, 400);
}


/* Upgrade: a schema 2 store (76ef848) kept a long Call-ID whole in its
 * call key; after the migration to schema 3 the key is the digest one and
 * a lookup with the whole Call-ID finds the call. */
static void test_upgrade_schema2_long_callkey(void **state)
{
	char cid[301];
	uint8_t k[KEY_MAX], v[8];
	size_t kl;

	memset(cid, 'q', sizeof(cid) - 1);
	cid[sizeof(cid) - 1] = 0;
	/* the old layout: kind, Call-ID, NUL, tag, as they are */
	k[0] = CK_DIALOG;
	memcpy(k + 1, cid, 300);
	k[301] = 0;
	memcpy(k + 302, "lt", 2);
	kl = 304;
	key_id(v, 77);
	store_put(tr_txn(&tr), DB_CALLKEY, k, kl, v, 8);
	store_set_schema(tr_txn(&tr), 2);
	assert_int_equal(store_commit(tr.txn), 0);
	tr.txn = NULL;
	store_close(tr.store);
	assert_int_equal(store_open(&tr.store, tr.proc.cfg->store.path,
				    tr.proc.cfg->store.map_size, 0),
			 0);
	assert_int_equal(store_schema(tr.store), 2);
	assert_int_equal(tr_upgrade(&tr), 0);
	assert_true(tr_callrec_key_get(&tr, CK_DIALOG, cid, "lt") == 77);
	release();
}


/* ---- hardening (issue 9) ------------------------------------------- */

/* The fronts reconnect after a failed commit closed their channels. */
static void reconnect(void)
{
	assert_null(tr.sip.ch);
	assert_null(tr.xmpp.ch);
	close(sfd);
	close(xfd);
	front(&tr.sip, PROC_SIP_FRONT, &sfd);
	front(&tr.xmpp, PROC_XMPP_FRONT, &xfd);
}


/* F1: a frame whose effects cannot be stored fails its batch once; on
 * replay it alone is refused (500 to its sender) and the next is applied. */
static void test_poison_frame_refused_once(void **state)
{
	struct frame fr = {.type = MSG_SIP_IN_REQUEST, .seq = 7};
	struct m_sip_in_request m;
	uint8_t big[600];
	char raw[BIG];
	int before;

	tr.sip.boot = 42;
	memset(big, 'k', sizeof(big));
	before = tr_frame_begin(&tr);
	assert_int_equal(before, 0);
	/* the frame's effect: a key LMDB refuses */
	assert_int_not_equal(
		store_put(tr_txn(&tr), DB_META, big, sizeof(big), "", 0), 0);
	tr_frame_end(&tr, &tr.sip, &fr, before);
	assert_true(tr_poisoned(&tr.sip, 7));
	assert_false(tr_poisoned(&tr.sip, 8));
	staged_clear();
	tr_commit(&tr);
	reconnect();

	/* replayed: refused, not applied */
	message_frame(&m, raw, sizeof(raw), 9500, "text/plain;charset=UTF-8",
		      "hi");
	tr_from_sip_refuse(&tr, &m, tr.sip.poison_err);
	commit();
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	assert_true(sresp(0, 500)->tx == 9500);
	assert_false(dedup_key());
	/* the same seq of another incarnation is another frame */
	tr.sip.boot = 43;
	assert_false(tr_poisoned(&tr.sip, 7));
	/* the next frame is applied */
	sip_message(9501, "text/plain;charset=UTF-8", "hi");
	assert_int_equal(nx, 1);
	sresp(0, 202);
}


/* F4: refused because the store is full: 503 with Retry-After, and an
 * XMPP sender gets resource-constraint (never an error to an error). */
static void test_poison_full_store_503(void **state)
{
	struct m_sip_in_request m;
	struct m_xmpp_in x;
	struct m_sip_out_response *r;
	char raw[BIG];

	message_frame(&m, raw, sizeof(raw), 9510, "text/plain;charset=UTF-8",
		      "hi");
	tr_from_sip_refuse(&tr, &m, ENOSPC);
	commit();
	r = sresp(0, 503);
	hdr_is(&r->hdrs, "Retry-After", "30");

	pl_set_str(&x.xml, "<message type='chat' id='m9' from='" ALICE_RES
			   "' to='" BOB_GW "'><body>x</body></message>");
	tr_from_xmpp_refuse(&tr, &x, ENOSPC);
	commit();
	assert_int_equal(ns, 0);
	assert_string_equal(
		error_of(xfind("message", "error", "m9", ALICE_RES)),
		"resource-constraint");
	pl_set_str(&x.xml, "<iq type='get' id='q1' from='" ALICE_RES
			   "' to='sip.localhost'><ping xmlns='urn:xmpp:ping'/>"
			   "</iq>");
	tr_from_xmpp_refuse(&tr, &x, EINVAL);
	commit();
	expect_iq_error("q1", ALICE_RES, "internal-server-error");
	pl_set_str(&x.xml, "<message type='error' id='m9' from='" ALICE_RES
			   "' to='" BOB_GW "'/>");
	tr_from_xmpp_refuse(&tr, &x, ENOSPC);
	commit();
	assert_int_equal(nx, 0);
}


/* F1, F10: a Call-ID far beyond LMDB's key limit is keyed by its digest:
 * the MESSAGE is accepted, its retransmission deduplicated. */
static void test_long_call_id_message(void **state)
{
	char raw[BIG], hdrs[4096], cid[1200];

	memset(cid, 'c', sizeof(cid) - 1);
	cid[sizeof(cid) - 1] = 0;
	snprintf(hdrs, sizeof(hdrs),
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-l\r\n"
		 "From: <" BOB_URI ">;tag=lt\r\nTo: <sip:alice@localhost>\r\n"
		 "Call-ID: %s\r\nCSeq: 1 MESSAGE\r\n",
		 cid);
	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@localhost SIP/2.0", hdrs,
		"text/plain", "long");
	sip_in(9520, raw);
	sresp(0, 202);
	assert_int_equal(nx, 1);
	sip_in(9521, raw);
	sresp(0, 202);
	assert_int_equal(nx, 0);
}


/* F2: a SIP reason phrase with a control byte reaches the XMPP sender
 * replaced, as well-formed XML text (the one check in tr_xmpp_send). */
static void test_xml_text_replaced(void **state)
{
	struct sent s;
	xmpp_stanza_t *m;
	char t[128];

	chat_out(true, &s);
	respond(&s, 404, "No\x01Such \xff User", "uas-tag", NULL, NULL);
	assert_int_equal(nx, 1);
	assert_true(utf8_xml_valid(xs[0].xo.xml.p, xs[0].xo.xml.l));
	m = xfind("message", "error", "m1", ALICE_RES);
	assert_string_equal(text_of(xmpp_stanza_get_child_by_name(m, "error"),
				    "text", t, sizeof(t)),
			    "SIP 404 No\xef\xbf\xbdSuch \xef\xbf\xbd User");
}


/* F2: a From user that XML cannot carry is refused at the edge. */
static void test_from_user_control_400(void **state)
{
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "MESSAGE sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-c1\r\n"
		"From: <sip:%01x@127.0.0.1:5070>;tag=c1\r\n"
		"To: <sip:alice@localhost>\r\nCall-ID: c1\r\n"
		"CSeq: 1 MESSAGE\r\n",
		"text/plain", "hi");
	sip_in(9530, raw);
	assert_int_equal(nx, 0);
	sresp(0, 400);
}


static int group_setup(void **state)
{
	const char *lv = getenv("XSGW_TEST_LOG");

	log_setup(lv ? LOG_DEBUG : LOG_ERROR, 0);
	xmpp_initialize();
	return libre_init();
}


static int group_teardown(void **state)
{
	xmpp_shutdown();
	libre_close();
	return 0;
}


/* ---- in-call features (issue 11, point 5) ------------------------- */

static void test_call_ctype_ok(void **state)
{
	assert_true(call_ctype_ok("text/plain"));
	assert_true(call_ctype_ok("application/x-foo+xml;charset=utf-8"));
	assert_true(call_ctype_ok("application/vnd.a ; x=\"a b\""));
	assert_false(call_ctype_ok(""));
	assert_false(call_ctype_ok("text"));
	assert_false(call_ctype_ok("/plain"));
	assert_false(call_ctype_ok("text/"));
	assert_false(call_ctype_ok("text/plain\r\nX-Evil: 1"));
	assert_false(call_ctype_ok("text/pl\x01"));
	assert_false(call_ctype_ok("text/pl\xc3\xa9"));
	assert_false(call_ctype_ok("te xt/plain"));
	assert_false(call_ctype_ok("text/plain,x"));
	assert_false(call_ctype_ok("text/plain  X-Evil: 1"));
	assert_false(call_ctype_ok("text/plain;charset"));
	assert_false(call_ctype_ok("text/plain;a=\"b"));
	assert_true(call_ctype_ok("text/plain;a=\"b\\\" c\""));
	assert_true(call_ctype_ok("text/plain ; a = b ;c=d "));
}


static void test_call_text_check(void **state)
{
	static char big[CALL_BODY_MAX + 2];

	assert_int_equal(call_text_check("caf\xc3\xa9\r\n\tx", 9), 0);
	assert_int_equal(call_text_check("a\x01", 2), EILSEQ);
	assert_int_equal(call_text_check("\x1b[0m", 4), EILSEQ);
	assert_int_equal(call_text_check("\xff\xfe", 2), EILSEQ);
	assert_int_equal(call_text_check("\xc3", 1), EILSEQ);
	memset(big, 'a', sizeof(big));
	assert_int_equal(call_text_check(big, CALL_BODY_MAX), 0);
	assert_int_equal(call_text_check(big, CALL_BODY_MAX + 1), EMSGSIZE);
	/* escaped: & is five bytes in XML */
	memset(big, '&', CALL_BODY_MAX / 5 + 1);
	assert_int_equal(call_text_check(big, CALL_BODY_MAX / 5 + 1), EMSGSIZE);
}


static void test_call_phrase_of(void **state)
{
	assert_string_equal(call_phrase_of(603), "Decline");
	assert_string_equal(call_phrase_of(486), "Busy Here");
	assert_string_equal(call_phrase_of(480), "Temporarily Unavailable");
	assert_null(call_phrase_of(499));
	assert_null(call_phrase_of(200));
}


static void test_call_refer_uri(void **state)
{
	char u[64];
	struct pl pl;

#define REFER(v, want)                                                         \
	pl_set_str(&pl, v);                                                    \
	assert_int_equal(call_refer_uri(&pl, u, sizeof(u)), want)
	REFER("<sip:carol@example.org>", 0);
	assert_string_equal(u, "sip:carol@example.org");
	REFER(" \"Carol\" <sip:carol@example.org:5070;transport=tcp> ;x=1", 0);
	assert_string_equal(u, "sip:carol@example.org:5070;transport=tcp");
	REFER("sip:carol@example.org;x=1", 0);
	assert_string_equal(u, "sip:carol@example.org");
	REFER("<sips:carol@example.org>", 0);
	REFER("<tel:+15551234>", EPROTONOSUPPORT);
	REFER("<http://example.org/>", EPROTONOSUPPORT);
	REFER("<sip:carol@example.org?Replaces=abc%3Bto-tag%3D1>", ENOTSUP);
	REFER("", EINVAL);
	REFER("<sip:carol@example.org", EINVAL);
	REFER("<sip:carol@exa mple.org>", EINVAL);
	REFER("<sip:carol@example.org\r\nX: 1>", EINVAL);
	REFER("carol", EINVAL);
	REFER("<sip:carol-with-a-long-name-that-does-not-fit@example.org:5060"
	      ";transport=tcp>",
	      ENAMETOOLONG);
	REFER("<sip:carol@>", EINVAL);
	REFER("<sip:carol@a@b>", EINVAL);
#undef REFER
}


/* XMPP -> SIP: <info content-type>BODY</info> -> INFO in the dialog. */
static void test_x2s_active_x_sip_info_info(void **state)
{
	struct m_sip_out_request *info;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "i1", "session-info",
	    "<info xmlns='urn:xmpp:sip:info:0' "
	    "content-type='application/x-private'>a &amp; b\nc</info>");
	expect_iq_result("i1", ALICE_RES);
	assert_int_equal(ns, 1);
	info = sreq(0, "INFO");
	pl_is(&info->ruri, PEER_TGT);
	hdr_is(&info->hdrs, "Content-Type", "application/x-private");
	hdr_is(&info->hdrs, "CSeq", "2 INFO");
	hdr_none(&info->hdrs, "Info-Package");
	pl_is(&info->body, "a & b\nc");
	/* a content-type a header cannot carry, or none */
	jin(&c, "set", "i2", "session-info",
	    "<info xmlns='urn:xmpp:sip:info:0' "
	    "content-type='text/plain&#13;&#10;X-Evil: 1'>x</info>");
	expect_iq_error("i2", ALICE_RES, "bad-request");
	assert_int_equal(ns, 0);
	jin(&c, "set", "i3", "session-info",
	    "<info xmlns='urn:xmpp:sip:info:0'>x</info>");
	expect_iq_error("i3", ALICE_RES, "bad-request");
	assert_int_equal(ns, 0);
	/* another namespace: an unknown payload (XEP-0166 7.2) */
	jin(&c, "set", "i4", "session-info",
	    "<info xmlns='urn:example:other' content-type='text/plain'>x"
	    "</info>");
	expect_iq_error("i4", ALICE_RES, "feature-not-implemented");
	assert_int_equal(ns, 0);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


static void test_x2s_active_x_sip_info_too_large(void **state)
{
	size_t n = CALL_BODY_MAX + 1;
	char *big = malloc(n + 1);
	struct call c;

	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = 0;
	x2s_active(&c);
	jin(&c, "set", "i1", "session-info",
	    "<info xmlns='urn:xmpp:sip:info:0' content-type='text/plain'/>");
	expect_iq_result("i1", ALICE_RES);
	assert_int_equal(ns, 1);
	hdr_none(&sreq(0, "INFO")->hdrs, "Content-Type"); /* no body */
	xin("<iq type='set' id='i2' from='%s' to='%s'><jingle "
	    "xmlns='urn:xmpp:jingle:1' action='session-info' sid='%s'><info "
	    "xmlns='urn:xmpp:sip:info:0' content-type='text/plain'>%s</info>"
	    "</jingle></iq>",
	    c.me, c.gw, c.sid, big);
	expect_iq_error("i2", ALICE_RES, "policy-violation");
	assert_int_equal(ns, 0);
	free(big);
}


static void test_x2s_ringing_x_sip_info_unexpected(void **state)
{
	struct call c;

	x2s_ringing(&c);
	jin(&c, "set", "i1", "session-info",
	    "<info xmlns='urn:xmpp:sip:info:0' content-type='text/plain'>x"
	    "</info>");
	expect_iq_error("i1", ALICE_RES, "unexpected-request");
	assert_int_equal(ns, 0);
}


/* SIP -> XMPP: what XML cannot carry is refused, never cleaned up. */
static void test_x2s_active_sip_info_body_refused(void **state)
{
	size_t n = CALL_BODY_MAX + 1;
	char *big = malloc(n + 1), *raw;
	struct call c;

	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = 0;
	x2s_active(&c);
	dlg_in(&c, 8210, "INFO", 0, "application/octet-stream",
	       "\xff\xfe\x01\x02");
	assert_int_equal(nx, 0);
	pl_is(&sresp(0, 400)->reason, "Body Is Not UTF-8 Text");
	dlg_in(&c, 8211, "INFO", 0, "text/plain", "bell \x07 here");
	assert_int_equal(nx, 0);
	sresp(0, 400);
	raw = malloc(2 * CALL_BODY_MAX);
	assert_non_null(raw);
	dlg_raw(&c, raw, 2 * CALL_BODY_MAX, "INFO", 0, "text/plain", big);
	sip_in(8212, raw);
	free(raw);
	assert_int_equal(nx, 0);
	sresp(0, 413);
	dlg_in(&c, 8213, "INFO", 0, "application/dtmf-relay", "Signal=Z\r\n");
	assert_int_equal(nx, 0);
	sresp(0, 400);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	free(big);
}


static void test_s2x_ringing_sip_info_body_to_devices(void **state)
{
	struct call c;

	s2x_ringing_n(&c, 2);
	dlg_in(&c, 8220, "INFO", 0, "text/plain", "hi");
	sresp(0, 200);
	assert_int_equal(nx, 2);
	for (unsigned i = 0; i < 2; i++)
		assert_non_null(xmpp_stanza_get_child_by_name_and_ns(
			jingle_of(xjingle("session-info", devices[i])), "info",
			NS_SIP_INFO));
}


static void test_s2x_proposed_sip_info_body_480(void **state)
{
	struct call c;

	s2x_proposed(&c);
	dlg_in(&c, 8221, "INFO", 0, "text/plain", "hi");
	assert_int_equal(nx, 0);
	sresp(0, 480);
	assert_int_equal(state_of(c.id), CS_PROPOSED);
}


/* SPEC 6.2: a MESSAGE in the call's dialog is a chat between the two. */
static void test_s2x_active_sip_message_chat(void **state)
{
	xmpp_stanza_t *m;
	struct call c;
	char b[64];

	s2x_active(&c);
	dlg_in(&c, 8230, "MESSAGE", 0, "text/plain;charset=UTF-8",
	       "caf\xc3\xa9?");
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(nx, 1);
	m = xfind("message", "chat", NULL, ALICE_RES);
	assert_string_equal(attr(m, "from"), BOB_S2X_GW);
	assert_string_equal(text_of(m, "body", b, sizeof(b)), "caf\xc3\xa9?");
	dlg_in(&c, 8231, "MESSAGE", 0, "application/im-iscomposing+xml",
	       "<x/>");
	assert_int_equal(nx, 0);
	sresp(0, 415);
	dlg_in(&c, 8232, "MESSAGE", 0, NULL, NULL);
	assert_int_equal(nx, 0);
	sresp(0, 400);
	dlg_in(&c, 8233, "MESSAGE", 0, "text/plain", "\xc3");
	assert_int_equal(nx, 0);
	sresp(0, 400);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* Before an answer nobody is in the call yet: to the bare JID. */
static void test_s2x_ringing_sip_message_chat_bare(void **state)
{
	struct call c;

	s2x_ringing(&c);
	dlg_in(&c, 8234, "MESSAGE", 0, "text/plain", "are you there?");
	sresp(0, 200);
	assert_string_equal(attr(xfind("message", "chat", NULL, ALICE), "from"),
			    BOB_S2X_GW);
}


/* Decline with a chosen code: <decline/><sip-error code/>. */
static void test_s2x_ringing_decline_chosen_code(void **state)
{
	static const struct {
		const char *reason;
		unsigned code;
		const char *phrase;
	} v[] = {
		{"<decline/><sip-error code='603'/>", 603, "Decline"},
		{"<decline/><sip-error code='480'/>", 480,
		 "Temporarily Unavailable"},
		{"<decline/><sip-error xmlns='urn:example:x' code='486'>Not "
		 "now</sip-error>",
		 486, "Not now"},
		{"<decline/><sip-error code='499'/>", 499, "Rejected"},
		/* outside 4xx-6xx, or not a code: the condition's */
		{"<decline/><sip-error code='302'/>", 486, "Busy Here"},
		{"<decline/><sip-error code='6033'/>", 486, "Busy Here"},
		{"<decline/><sip-error code='60'/>", 486, "Busy Here"},
		{"<timeout/><sip-error code='700'/>", 408, "Request Timeout"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct m_sip_out_response *r;
		char body[256];
		struct call c;

		s2x_ringing(&c);
		snprintf(body, sizeof(body), "<reason>%s</reason>",
			 v[i].reason);
		jin(&c, "set", "d1", "session-terminate", body);
		expect_iq_result("d1", ALICE_RES);
		assert_int_equal(ns, 1);
		r = sresp(0, v[i].code);
		pl_is(&r->reason, v[i].phrase);
		assert_gone(&c);
	}
}


#define CAROL_URI "sip:carol@127.0.0.1:5070"
#define CAROL_SDP                                                              \
	"v=0\r\no=carol 7 7 IN IP4 127.0.0.1\r\ns=-\r\n"                       \
	"c=IN IP4 127.0.0.1\r\nt=0 0\r\n"                                      \
	"m=audio 32000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

/* Early media: 183 with SDP -> session-accept; the 200 without SDP only
 * completes the dialog the 183 began. */
static void test_x2s_calling_183_sdp_early_media(void **state)
{
	struct m_sip_out_request *ack;
	xmpp_stanza_t *ct;
	struct callrec r;
	struct call c;
	char v[256];

	x2s_calling(&c);
	x2s_respond(&c, 183, "Session Progress", RR, PHONE_SDP);
	assert_int_equal(ns, 0);
	assert_int_equal(nx, 1);
	ct = xmpp_stanza_get_child_by_name(
		jingle_of(xjingle("session-accept", ALICE_RES)), "content");
	assert_non_null(ct);
	assert_non_null(xmpp_stanza_get_child_by_name(ct, "transport"));
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.state, CS_RINGING);
	assert_int_equal(r.early, 1);
	assert_string_equal(r.rtag, c.rtag);
	assert_string_equal(r.rsdp, PHONE_SDP);
	callrec_reset(&r);
	/* the 183 again (or a 180): nothing more for the user */
	x2s_respond(&c, 183, "Session Progress", RR, PHONE_SDP);
	x2s_respond(&c, 180, "Ringing", RR, NULL);
	assert_int_equal(nx + ns, 0);
	/* the 200 without SDP: ACKed in the 183's dialog, nothing else */
	x2s_respond(&c, 200, "OK", RR, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	ack = sreq(0, "ACK");
	pl_is(&ack->ruri, PEER_TGT);
	hdr_is(&ack->hdrs, "CSeq", "1 ACK");
	snprintf(v, sizeof(v), "<" BOB_URI ">;tag=%s", c.rtag);
	hdr_is(&ack->hdrs, "To", v);
	assert_int_equal(hdr_count(&ack->hdrs, "Route"), 2);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	assert_true(deadline_of(OWN_CALL, c.id) > wall_ms() + 3000000);
	/* the caller hangs up: BYE in that dialog */
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	hdr_is(&sreq(0, "BYE")->hdrs, "CSeq", "2 BYE");
	assert_gone(&c);
}


/* The 200 with the 183's SDP: nothing; with another: transport-info. */
static void test_x2s_early_media_200_sdp(void **state)
{
	struct call c;

	x2s_calling(&c);
	x2s_respond(&c, 183, "Session Progress", NULL, PHONE_SDP);
	assert_int_equal(nx, 1);
	x2s_respond(&c, 200, "OK", NULL, PHONE_SDP);
	assert_int_equal(nx, 0);
	sreq(0, "ACK");
	op_end(c.id);
	assert_gone(&c);

	x2s_calling(&c);
	x2s_respond(&c, 183, "Session Progress", NULL, PHONE_SDP);
	x2s_respond(&c, 200, "OK", NULL, CAROL_SDP);
	sreq(0, "ACK");
	assert_int_equal(nx, 1);
	assert_non_null(xmpp_stanza_get_child_by_name(
		jingle_of(xjingle("transport-info", ALICE_RES)), "content"));
	assert_int_equal(state_of(c.id), CS_ACTIVE);
}


/* RFC 3262: a reliable 183 is PRACKed in its dialog. */
static void test_x2s_calling_183_100rel_prack(void **state)
{
	struct m_sip_out_request *pr;
	struct call c;

	x2s_calling(&c);
	x2s_respond(&c, 183, "Session Progress",
		    "Require: 100rel\r\nRSeq: 4711\r\n", PHONE_SDP);
	assert_int_equal(ns, 1);
	pr = sreq(0, "PRACK");
	pl_is(&pr->ruri, PEER_TGT);
	hdr_is(&pr->hdrs, "RAck", "4711 1 INVITE");
	hdr_is(&pr->hdrs, "CSeq", "2 PRACK");
	assert_int_equal(nx, 1);
	xjingle("session-accept", ALICE_RES);
}


/* RFC 3262 4: a retransmitted reliable 1xx, or one out of order, is not
 * PRACKed again; the next RSeq is (kept across restarts: in the record). */
static void test_x2s_100rel_prack_once(void **state)
{
	struct call c;

	x2s_calling(&c);
	x2s_respond(&c, 183, "Session Progress",
		    "Require: 100rel\r\nRSeq: 4711\r\n", PHONE_SDP);
	hdr_is(&sreq(0, "PRACK")->hdrs, "RAck", "4711 1 INVITE");
	x2s_respond(&c, 183, "Session Progress",
		    "Require: 100rel\r\nRSeq: 4711\r\n", PHONE_SDP);
	assert_int_equal(ns, 0);
	x2s_respond(&c, 180, "Ringing", "Require: 100rel\r\nRSeq: 4713\r\n",
		    NULL);
	assert_int_equal(ns, 0);
	x2s_respond(&c, 180, "Ringing", "Require: 100rel\r\nRSeq: 4712\r\n",
		    NULL);
	hdr_is(&sreq(0, "PRACK")->hdrs, "RAck", "4712 1 INVITE");
	hdr_is(&sreq(0, "PRACK")->hdrs, "CSeq", "3 PRACK");
}


/* The REFER of c's SIP party; returns the INVITE to the target. */
static void refer_in(struct call *c, uint64_t tx, const char *refer_to,
		     struct sent *inv)
{
	char raw[BIG], hdrs[2048], start[128];
	struct m_sip_out_request *rq, *n;
	uint32_t cseq = ++c->cseq;
	struct callrec r;
	bool held;
	char v[300];

	assert_int_equal(rec_load(c->id, &r), 0);
	held = r.local_hold;
	callrec_reset(&r);
	snprintf(start, sizeof(start), "REFER sip:xsgw@127.0.0.1:5600 SIP/2.0");
	snprintf(hdrs, sizeof(hdrs),
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-refer-%u\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <" BOB_URI ">;tag=%s\r\n"
		 "To: <sip:alice@localhost>;tag=%s\r\n"
		 "Call-ID: %s\r\nCSeq: %u REFER\r\n"
		 "Contact: <" PEER_TGT ">\r\nRefer-To: %s\r\n",
		 cseq, c->rtag, c->ltag, c->callid, cseq, refer_to);
	sip_raw(raw, sizeof(raw), start, hdrs, NULL, NULL);
	sip_in(tx, raw);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 3);
	assert_true(sresp(0, 202)->tx == tx);
	n = sreq(1, "NOTIFY");
	hdr_is(&n->hdrs, "Call-ID", c->callid);
	snprintf(v, sizeof(v), "refer;id=%u", cseq);
	hdr_is(&n->hdrs, "Event", v);
	hdr_is(&n->hdrs, "Subscription-State", "active;expires=60");
	hdr_is(&n->hdrs, "Content-Type", "message/sipfrag;version=2.0");
	pl_is(&n->body, "SIP/2.0 100 Trying\r\n");
	rq = sreq(2, "INVITE");
	pl_is(&rq->ruri, CAROL_URI);
	pl_is(&rq->dst, "");
	hdr_is(&rq->hdrs, "To", "<" CAROL_URI ">");
	hdr_is(&rq->hdrs, "CSeq", "1 INVITE");
	hdr_none(&rq->hdrs, "Route");
	assert_true(hdr(&rq->hdrs, "From", v, sizeof(v)));
	assert_non_null(strstr(v, "<sip:alice@localhost>;tag="));
	assert_null(strstr(v, c->ltag)); /* a new dialog */
	assert_true(hdr(&rq->hdrs, "Call-ID", v, sizeof(v)));
	assert_string_not_equal(v, c->callid);
	/* the XMPP party's media, sendrecv; sendonly while the user holds
	 * the call (RFC 3264 8.4) */
	pl_contains(&rq->body, "127.0.0.1 ");
	assert_int_equal(pl_has(&rq->body, "a=sendonly"), held);
	assert_false(pl_has(&rq->body, "a=recvonly"));
	sent_of(rq, inv);
	/* both dialogs find the call */
	assert_int_equal(key_get(CK_DIALOG, c->callid, c->ltag), c->id);
	assert_int_equal(
		key_get(CK_DIALOG, inv->callid, strstr(inv->from, ";tag=") + 5),
		c->id);
}


static void xfer_answered(struct call *c, const struct sent *inv, bool orphaned)
{
	struct m_sip_out_request *ack;
	char oldcid[128], oldtag[40];
	xmpp_stanza_t *ct;
	unsigned k = 0;

	snprintf(oldcid, sizeof(oldcid), "%s", c->callid);
	snprintf(oldtag, sizeof(oldtag), "%s", c->ltag);
	respond(inv, 200, "OK", "carol-tag", NULL, CAROL_SDP);
	if (!orphaned) {
		struct m_sip_out_request *n = sreq(k++, "NOTIFY");
		hdr_is(&n->hdrs, "Call-ID", oldcid);
		hdr_is(&n->hdrs, "Subscription-State",
		       "terminated;reason=noresource");
		pl_is(&n->body, "SIP/2.0 200 OK\r\n");
		hdr_is(&sreq(k++, "BYE")->hdrs, "Call-ID", oldcid);
	}
	ack = sreq(k++, "ACK");
	assert_int_equal(ns, k);
	pl_is(&ack->ruri, PEER_TGT);
	hdr_is(&ack->hdrs, "Call-ID", inv->callid);
	hdr_is(&ack->hdrs, "CSeq", "1 ACK");
	hdr_is(&ack->hdrs, "To", "<" CAROL_URI ">;tag=carol-tag");
	assert_int_equal(nx, 1);
	ct = xmpp_stanza_get_child_by_name(
		jingle_of(xjingle("transport-info", c->me)), "content");
	assert_non_null(ct);
	assert_non_null(xmpp_stanza_get_child_by_name(ct, "transport"));
	/* the new dialog is the call's; the old one's keys are gone */
	learn(c);
	assert_string_equal(c->callid, inv->callid);
	assert_int_equal(key_get(CK_DIALOG, oldcid, oldtag), 0);
	assert_int_equal(key_get(CK_DIALOG, c->callid, c->ltag), c->id);
	assert_int_equal(state_of(c->id), CS_ACTIVE);
	assert_true(deadline_of(OWN_CALL, c->id) > wall_ms() + 3000000);
	snprintf(c->rtag, sizeof(c->rtag), "carol-tag");
	c->cseq = 0;
}


static void test_xfer(bool s2x)
{
	struct callrec r;
	struct sent inv;
	struct call c;

	if (s2x)
		s2x_active(&c);
	else
		x2s_active(&c);
	refer_in(&c, 8300, "<" CAROL_URI ">", &inv);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.xfer, CX_PENDING);
	assert_true(r.xfer_out == inv.out);
	assert_true(r.deadline == r.xfer_until); /* the ring timeout */
	callrec_reset(&r);
	xfer_answered(&c, &inv, false);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_int_equal(r.xfer, CX_NONE);
	assert_null(strstr(r.history, "ended"));
	assert_string_equal(r.rsdp, CAROL_SDP);
	assert_int_equal(r.dir, s2x ? CD_S2X : CD_X2S);
	callrec_reset(&r);
	/* carol hangs up: found by the new dialog */
	dlg_in(&c, 8301, "BYE", 1, NULL, NULL);
	sresp(0, 200);
	xjingle("session-terminate", c.me);
	assert_gone(&c);
}


static void test_x2s_active_refer_transfer(void **state)
{
	test_xfer(false);
}


static void test_s2x_active_refer_transfer(void **state)
{
	test_xfer(true);
}


/* After the transfer the XMPP side hangs up: BYE in the new dialog. */
static void test_xfer_then_user_hangs_up(void **state)
{
	struct m_sip_out_request *bye;
	struct sent inv;
	struct call c;

	s2x_active(&c);
	refer_in(&c, 8310, "\"Carol\" <" CAROL_URI ">", &inv);
	xfer_answered(&c, &inv, false);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	bye = sreq(0, "BYE");
	assert_int_equal(ns, 1);
	pl_is(&bye->ruri, PEER_TGT);
	hdr_is(&bye->hdrs, "Call-ID", inv.callid);
	hdr_is(&bye->hdrs, "CSeq", "2 BYE");
	hdr_is(&bye->hdrs, "To", "<" CAROL_URI ">;tag=carol-tag");
	assert_gone(&c);
}


/* The target refuses: NOTIFY with its status; the old call goes on. */
static void test_xfer_target_busy(void **state)
{
	struct m_sip_out_request *n;
	struct sent inv;
	struct call c;
	char oldcid[128];

	x2s_active(&c);
	refer_in(&c, 8320, "<" CAROL_URI ">", &inv);
	snprintf(oldcid, sizeof(oldcid), "%s", c.callid);
	respond(&inv, 486, "Busy Here", "carol-tag", NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(ns, 1);
	n = sreq(0, "NOTIFY");
	hdr_is(&n->hdrs, "Call-ID", oldcid);
	hdr_is(&n->hdrs, "Subscription-State", "terminated;reason=noresource");
	pl_is(&n->body, "SIP/2.0 486 Busy Here\r\n");
	assert_int_equal(
		key_get(CK_DIALOG, inv.callid, strstr(inv.from, ";tag=") + 5),
		0);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	/* the old call goes on: a REFER again is taken */
	refer_in(&c, 8321, "<" CAROL_URI ">", &inv);
	/* ... and the old dialog's BYE while it is pending: 200, the
	 * transfer goes on; it fails: the session ends */
	dlg_in(&c, 8322, "BYE", 0, NULL, NULL);
	assert_int_equal(ns, 1);
	sresp(0, 200);
	assert_int_equal(nx, 0);
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	assert_int_equal(key_get(CK_DIALOG, c.callid, c.ltag), 0);
	respond(&inv, 603, "Decline", "carol-tag", NULL, NULL);
	assert_int_equal(ns, 0); /* no NOTIFY: that dialog is over */
	assert_string_equal(reason_of(xjingle("session-terminate", ALICE_RES)),
			    "general-error");
	assert_gone(&c);
}


/* The transferor hangs up after the 202; the target answers. */
static void test_xfer_orphaned_answered(void **state)
{
	struct sent inv;
	struct call c;

	x2s_active(&c);
	refer_in(&c, 8330, "<" CAROL_URI ">", &inv);
	dlg_in(&c, 8331, "BYE", 0, NULL, NULL);
	sresp(0, 200);
	xfer_answered(&c, &inv, true);
	/* the user hangs up: BYE to carol only */
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(ns, 1);
	hdr_is(&sreq(0, "BYE")->hdrs, "Call-ID", inv.callid);
	assert_gone(&c);
}


/* No answer within the ring timeout: CANCEL, NOTIFY 408, the call goes
 * on; a second REFER while one is pending: 491. */
static void test_xfer_timeout_cancel(void **state)
{
	struct m_sip_out_request *can;
	struct tr_owner o;
	struct sent inv;
	struct call c;

	s2x_active(&c);
	refer_in(&c, 8340, "<" CAROL_URI ">", &inv);
	dlg_in(&c, 8341, "REFER", 0, NULL, NULL);
	sresp(0, 491);
	assert_int_equal(expire(), 1);
	assert_int_equal(ns, 2);
	can = sreq(0, "CANCEL");
	pl_is(&can->ruri, CAROL_URI);
	pl_is(&can->branch, inv.branch);
	hdr_is(&can->hdrs, "Call-ID", inv.callid);
	hdr_is(&can->hdrs, "CSeq", "1 CANCEL");
	hdr_is(&can->hdrs, "To", "<" CAROL_URI ">");
	pl_is(&sreq(1, "NOTIFY")->body, "SIP/2.0 408 Request Timeout\r\n");
	assert_false(outbox_owner(PROC_SIP_FRONT, inv.out, &o));
	assert_int_equal(state_of(c.id), CS_ACTIVE);
	assert_true(deadline_of(OWN_CALL, c.id) > wall_ms() + 3000000);
}


/* The call ends with the transfer pending: the INVITE is CANCELled. */
static void test_xfer_pending_user_hangs_up(void **state)
{
	struct sent inv;
	struct call c;

	x2s_active(&c);
	refer_in(&c, 8350, "<" CAROL_URI ">", &inv);
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	assert_int_equal(ns, 2);
	hdr_is(&sreq(0, "BYE")->hdrs, "Call-ID", c.callid);
	hdr_is(&sreq(1, "CANCEL")->hdrs, "Call-ID", inv.callid);
	assert_int_equal(
		key_get(CK_DIALOG, inv.callid, strstr(inv.from, ";tag=") + 5),
		0);
	assert_gone(&c);
}


static void test_refer_refused(void **state)
{
	static const struct {
		const char *to;
		unsigned code;
	} v[] = {
		{"<sip:carol@10.9.9.9:5060>", 403}, /* F9: not sip.domain */
		{"<tel:+15551234>", 416},
		{"<" CAROL_URI "?Replaces=a%3Bto-tag%3Db%3Bfrom-tag%3Dc>", 501},
		{"<sip:carol@>", 400},
	};
	char raw[BIG];
	struct call c;

	x2s_active(&c);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char hdrs[512],
			start[] = "REFER sip:xsgw@127.0.0.1:5600 SIP/2.0";
		uint32_t n = ++c.cseq;
		snprintf(
			hdrs, sizeof(hdrs),
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r%u\r\n"
			"From: <" BOB_URI ">;tag=%s\r\n"
			"To: <sip:alice@localhost>;tag=%s\r\n"
			"Call-ID: %s\r\nCSeq: %u REFER\r\nRefer-To: %s\r\n",
			n, c.rtag, c.ltag, c.callid, n, v[i].to);
		sip_raw(raw, sizeof(raw), start, hdrs, NULL, NULL);
		sip_in(8360 + i, raw);
		assert_int_equal(ns, 1);
		sresp(0, v[i].code);
	}
	/* no Refer-To */
	dlg_in(&c, 8370, "REFER", 0, NULL, NULL);
	sresp(0, 400);
	/* not answered yet */
	op_end(c.id);
	x2s_ringing(&c);
	dlg_in(&c, 8371, "REFER", 0, NULL, NULL);
	sresp(0, 403);
}


/* kill -9 after the REFER: a new translator (the store as committed)
 * completes the transfer with the target's answer. */
static void test_xfer_answer_after_restart(void **state)
{
	struct sent inv;
	struct call c;

	x2s_active(&c);
	refer_in(&c, 8380, "<" CAROL_URI ">", &inv);
	/* the store is all there is: reopen it */
	store_close(tr.store);
	assert_int_equal(store_open(&tr.store, tr.proc.cfg->store.path,
				    tr.proc.cfg->store.map_size, 0),
			 0);
	xfer_answered(&c, &inv, false);
}


/* A hold (our re-INVITE) still unanswered when the transfer completes:
 * it was the old dialog's; the new one is free for the next. */
static void test_xfer_answered_with_our_reinvite_pending(void **state)
{
	struct sent inv;
	struct callrec r;
	struct call c;

	x2s_active(&c);
	jin(&c, "set", "h1", "session-info",
	    "<hold xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
	assert_non_null(sreq(0, "INVITE"));
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_true(r.local_hold); /* so the transfer offers sendonly */
	callrec_reset(&r);
	refer_in(&c, 8390, "<" CAROL_URI ">", &inv);
	xfer_answered(&c, &inv, false);
	assert_int_equal(rec_load(c.id, &r), 0);
	assert_true(r.reinv_out == 0 && !*r.reinv_prev);
	callrec_reset(&r);
}


/* ---- SIP accounts and subscriptions: review findings ---------------- */

#define REG_SET                                                                \
	"<iq type='set' id='r1' from='" ALICE_RES "' to='sip.localhost'>"      \
	"<query xmlns='jabber:iq:register'><username>sip:alice@127.0.0.1:5070" \
	"</username><password>pw</password></query></iq>"
#define REG_SET_PROXY                                                          \
	"<iq type='set' id='r2' from='" ALICE_RES "' to='sip.localhost'>"      \
	"<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' "          \
	"type='submit'><field var='username'><value>sip:alice@127.0.0.1:5070"  \
	"</value></field><field var='password'><value>pw</value></field>"      \
	"<field var='proxy'><value>127.0.0.1:5090</value></field></x>"         \
	"</query></iq>"

/* A NOTIFY for a subscription the gateway does not have: 481 (RFC 6665
 * 4.1.3), so that the server stops notifying. */
static void test_notify_unknown_subscription_481(void **state)
{
	char raw[BIG];

	sip_raw(raw, sizeof(raw), "NOTIFY sip:xsgw@127.0.0.1:5600 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-n1\r\n"
		"From: <sip:pres@127.0.0.1:5070>;tag=ft\r\n"
		"To: <sip:xsgw@127.0.0.1:5600>;tag=gone\r\n"
		"Call-ID: nosuchsub\r\nCSeq: 5 NOTIFY\r\nEvent: reg\r\n"
		"Subscription-State: active;expires=60\r\n",
		NULL, NULL);
	sip_in(9001, raw);
	assert_int_equal(ns, 1);
	assert_int_equal(ss[0].rs.scode, 481);
}


/* stale=true is believed once: a registrar that always says it gets no
 * storm of REGISTERs, and the user an answer. */
static void test_register_stale_believed_once(void **state)
{
	struct sent s;
	unsigned i;

	xin(REG_SET);
	sent_of(sreq(0, "REGISTER"), &s);
	for (i = 0; i < 10; i++) {
		respond(&s, 401, "Unauthorized", "rt",
			"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", "
			"qop=\"auth\", stale=true\r\n",
			NULL);
		if (ns != 1 || ss[0].type != MSG_SIP_OUT_REQUEST)
			break;
		sent_of(&ss[0].rq, &s);
	}
	/* the first answer, one stale retry, then refused */
	assert_int_equal(i, 2);
	assert_int_equal(ns, 0);
	assert_true(nx >= 1);
	assert_non_null(
		memmem(xs[0].xo.xml.p, xs[0].xo.xml.l, "not-authorized", 14));
}


/* A next hop as the sip-front reads it (a route may be <name-addr>). */
static bool dst_is(const struct pl *dst, const char *uri)
{
	struct pl d = *dst;

	if (d.l >= 2 && d.p[0] == '<' && d.p[d.l - 1] == '>') {
		d.p++;
		d.l -= 2;
	}
	return !pl_strcmp(&d, uri);
}


/* RFC 3261 10.2: a re-set while the REGISTER of its Call-ID is in flight
 * waits for that one's answer, then goes with the new values. */
static void test_register_reset_queued_while_in_flight(void **state)
{
	struct sent s;
	char v[200];

	xin(REG_SET);
	sent_of(sreq(0, "REGISTER"), &s);
	xin(REG_SET_PROXY);
	assert_int_equal(ns, 0); /* queued; the first IQ: conflict */
	assert_non_null(memmem(xs[0].xo.xml.p, xs[0].xo.xml.l, "conflict", 8));
	respond(&s, 401, "Unauthorized", "rt",
		"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n", NULL);
	assert_int_equal(ns, 1);
	assert_true(hdr(&sreq(0, "REGISTER")->hdrs, "CSeq", v, sizeof(v)));
	assert_string_equal(v, "2 REGISTER");
	/* the queued one, without credentials, to the new proxy */
	assert_false(
		hdr(&sreq(0, "REGISTER")->hdrs, "Authorization", v, sizeof(v)));
	assert_true(dst_is(&sreq(0, "REGISTER")->dst,
			   "sip:127.0.0.1:5090;transport=udp;lr"));
}


/* A Service-Route is preloaded after the account's proxy, which stays the
 * next hop (of the CANCEL too); one with a bare CR is not kept. */
static void test_service_route_after_proxy_and_checked(void **state)
{
	struct sent s;
	struct call c;
	char route[256];

	char contact[160], extra[512];

	xin(REG_SET_PROXY);
	assert_true(hdr(&sreq(0, "REGISTER")->hdrs, "Contact", contact,
			sizeof(contact)));
	sent_of(sreq(0, "REGISTER"), &s);
	snprintf(extra, sizeof(extra),
		 "Contact: %s;expires=3600\r\n"
		 "Service-Route: <sip:orig@scscf.example.com;lr>\r\n"
		 "Service-Route: <sip:10.0.0.9;lr\rX-Evil: 1>\r\n",
		 contact);
	respond(&s, 200, "OK", "rt", extra, NULL);
	x2s_initiate(&c, CAND_40000);
	for (unsigned i = 0; i < ns; i++) {
		const struct m_sip_out_request *rq = &ss[i].rq;
		if (ss[i].type != MSG_SIP_OUT_REQUEST ||
		    pl_strcmp(&rq->method, "INVITE"))
			continue;
		if (!dst_is(&rq->dst, "sip:127.0.0.1:5090;transport=udp;lr"))
			fail_msg("INVITE dst [%.*s] hdrs\n%.*s", (int)rq->dst.l,
				 rq->dst.p, (int)rq->hdrs.l, rq->hdrs.p);
		assert_true(hdr(&rq->hdrs, "Route", route, sizeof(route)));
		assert_string_equal(route,
				    "<sip:127.0.0.1:5090;transport=udp;lr>");
		assert_non_null(memmem(rq->hdrs.p, rq->hdrs.l,
				       "Route: <sip:orig@scscf.example.com;lr>",
				       38));
		assert_null(memmem(rq->hdrs.p, rq->hdrs.l, "X-Evil", 6));
	}
	jin(&c, "set", "t1", "session-terminate",
	    "<reason><success/></reason>");
	for (unsigned i = 0; i < ns; i++)
		if (ss[i].type == MSG_SIP_OUT_REQUEST &&
		    !pl_strcmp(&ss[i].rq.method, "CANCEL"))
			assert_true(
				dst_is(&ss[i].rq.dst,
				       "sip:127.0.0.1:5090;transport=udp;lr"));
}


/* ---- XMPP watchers of a SIP user (tr_sub.c, event presence) -------- */

#define CAROL_GW  "carol@sip.localhost"
#define CAROL_SIP "sip:carol@127.0.0.1:5070"
#define WATCH(type, who)                                                       \
	"<presence type='" type "' from='" who "' to='" CAROL_GW "'/>"
#define PIDF_OF(basic, extra)                                                  \
	"<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:"     \
	"pidf\" xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" "              \
	"entity=\"" CAROL_SIP "\"><tuple id=\"t\"><status><basic>" basic       \
	"</basic>" extra "</status></tuple></presence>"

/* The presence server's NOTIFY in the dialog of our SUBSCRIBE s (its tag
 * "ps"); body NULL: none. */
static void pres_notify(const struct sent *s, uint32_t cseq, const char *state,
			const char *ctype, const char *body)
{
	char hdrs[1024], raw[BIG], from[200];

	/* our From is its To; its From our To, with its tag */
	snprintf(from, sizeof(from), "%s", s->to);
	snprintf(hdrs, sizeof(hdrs),
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-pn%u\r\n"
		 "From: %s;tag=ps\r\nTo: %s\r\nCall-ID: %s\r\n"
		 "CSeq: %u NOTIFY\r\nContact: <" PEER_TGT ">\r\n"
		 "Event: presence\r\nSubscription-State: %s\r\n",
		 cseq, from, s->from, s->callid, cseq, state);
	sip_raw(raw, sizeof(raw), "NOTIFY sip:xsgw@127.0.0.1:5600 SIP/2.0",
		hdrs, ctype ? ctype : "application/pidf+xml", body);
	sip_in(9100 + cseq, raw);
}


/* The presence stanzas to `to` in the last batch, as "type/show". */
static void pres_seen(const char *to, char *out, size_t sz)
{
	char show[16];

	out[0] = 0;
	for (unsigned i = 0; i < nx; i++) {
		xmpp_stanza_t *st = xs[i].st;
		if (strcmp(xmpp_stanza_get_name(st), "presence") ||
		    strcmp(attr(st, "to"), to))
			continue;
		assert_string_equal(attr(st, "from"), CAROL_GW);
		text_of(st, "show", show, sizeof(show));
		snprintf(out + strlen(out), sz - strlen(out), "%s%s%s%s",
			 *out ? " " : "",
			 *attr(st, "type") ? attr(st, "type") : "available",
			 *show ? "/" : "", show);
	}
}


/* heidi subscribes: one SUBSCRIBE (Event presence, Accept PIDF), its 2xx,
 * NOTIFY active: subscribed and the presence seen. */
static void watch_active(struct sent *s, const char *body)
{
	char seen[256];

	xin(WATCH("subscribe", "heidi@localhost"));
	assert_int_equal(ns, 1);
	assert_int_equal(nx, 0);
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Event", "presence");
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Accept", "application/pidf+xml");
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Expires", "3600");
	pl_is(&sreq(0, "SUBSCRIBE")->ruri, CAROL_SIP);
	sent_of(sreq(0, "SUBSCRIBE"), s);
	/* RFC 7248 4: From the watcher's own address */
	assert_non_null(strstr(s->from, "<sip:heidi@localhost>"));
	respond(s, 200, "OK", "ps", "Expires: 3600\r\n", NULL);
	assert_int_equal(ns + nx, 0); /* accepted, not yet authorized */
	pres_notify(s, 1, "active;expires=3600", NULL, body);
	sresp(0, 200);
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, body ? "subscribed available"
				       : "subscribed unavailable");
}


static void test_watch_one_subscription_changes_once(void **state)
{
	struct sent s, u, v;
	char seen[256];

	watch_active(&s, PIDF_OF("open", ""));
	/* the same document again: nothing */
	pres_notify(&s, 2, "active;expires=3500", NULL, PIDF_OF("open", ""));
	sresp(0, 200);
	assert_int_equal(nx, 0);
	pres_notify(&s, 3, "active;expires=3400", NULL,
		    PIDF_OF("open", "<rpid:activities><rpid:on-the-phone/>"
				    "</rpid:activities>"));
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "available/dnd");
	/* a second watcher: its own SUBSCRIBE From its own address (RFC
	 * 7248: the presentity authorizes each watcher), approved on its
	 * own NOTIFY active */
	xin(WATCH("subscribe", "ivan@localhost"));
	assert_int_equal(ns, 1);
	assert_int_equal(nx, 0);
	sent_of(sreq(0, "SUBSCRIBE"), &v);
	assert_non_null(strstr(v.from, "<sip:ivan@localhost>"));
	assert_string_not_equal(v.callid, s.callid);
	respond(&v, 200, "OK", "pv", "Expires: 3600\r\n", NULL);
	assert_int_equal(ns + nx, 0);
	pres_notify(&v, 1, "active;expires=3600", NULL,
		    PIDF_OF("open", "<rpid:activities><rpid:on-the-phone/>"
				    "</rpid:activities>"));
	sresp(0, 200);
	pres_seen("ivan@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "subscribed available/dnd");
	/* a malformed document changes nothing (200: the subscription
	 * lives on) */
	pres_notify(&s, 4, "active;expires=3300", NULL,
		    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><tuple>");
	sresp(0, 200);
	assert_int_equal(nx, 0);
	pres_notify(&s, 5, "active;expires=3300", "application/xpidf+xml",
		    PIDF_OF("closed", ""));
	assert_int_equal(nx, 0);
	/* a probe is answered from the store; a stranger learns nothing */
	xin(WATCH("probe", "heidi@localhost"));
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "available/dnd");
	xin(WATCH("probe", "kate@localhost"));
	pres_seen("kate@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	/* each sees what its own subscription says, once */
	pres_notify(&s, 6, "active;expires=3200", NULL, PIDF_OF("closed", ""));
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	pres_seen("ivan@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "");
	pres_notify(&v, 2, "active;expires=3200", NULL, PIDF_OF("closed", ""));
	pres_seen("ivan@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	/* the refreshes, each in its dialog, before they expire */
	assert_int_equal(expire(), 2);
	assert_int_equal(ns, 2);
	{
		struct sent r[2];
		for (unsigned i = 0; i < 2; i++) {
			hdr_is(&sreq(i, "SUBSCRIBE")->hdrs, "Expires", "3600");
			sent_of(sreq(i, "SUBSCRIBE"), &r[i]);
			assert_non_null(strstr(r[i].to, "carol"));
			assert_non_null(
				strstr(r[i].to, !strcmp(r[i].callid, s.callid)
							? ";tag=ps"
							: ";tag=pv"));
		}
		for (unsigned i = 0; i < 2; i++)
			respond(&r[i], 200, "OK", NULL, "Expires: 3600\r\n",
				NULL);
	}
	/* heidi leaves: her subscription ends (Expires 0, in its dialog),
	 * then the final NOTIFY forgets it */
	xin(WATCH("unsubscribe", "heidi@localhost"));
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Expires", "0");
	sent_of(sreq(0, "SUBSCRIBE"), &u);
	assert_string_equal(u.callid, s.callid);
	respond(&u, 200, "OK", NULL, "Expires: 0\r\n", NULL);
	pres_notify(&s, 7, "terminated;reason=timeout", NULL, NULL);
	sresp(0, 200);
	assert_int_equal(nx, 0);
	assert_int_equal(tr_regrec_key_get(&tr, RK_PRESENTITY,
					   CAROL_SIP " heidi@localhost"),
			 0);
	assert_int_not_equal(tr_regrec_key_get(&tr, RK_PRESENTITY,
					       CAROL_SIP " ivan@localhost"),
			     0);
	/* ivan's goes the same way */
	xin(WATCH("unsubscribe", "ivan@localhost"));
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Expires", "0");
	sent_of(sreq(0, "SUBSCRIBE"), &u);
	assert_string_equal(u.callid, v.callid);
	respond(&u, 200, "OK", NULL, "Expires: 0\r\n", NULL);
	pres_notify(&v, 3, "terminated;reason=timeout", NULL, NULL);
	sresp(0, 200);
	assert_int_equal(tr_regrec_key_get(&tr, RK_PRESENTITY,
					   CAROL_SIP " ivan@localhost"),
			 0);
	release();
	/* and a late NOTIFY is a subscription we do not have */
	pres_notify(&s, 8, "active;expires=10", NULL, NULL);
	sresp(0, 481);
}


/* The presence server refuses, or never answers: the watcher is told. */
static void test_watch_refused_error(void **state)
{
	struct sent s;

	/* F9: a host the gateway may not send to (no proxy here) */
	xin("<presence type='subscribe' from='heidi@localhost' "
	    "to='carol\\40evil.example@sip.localhost'/>");
	assert_int_equal(ns, 0);
	assert_string_equal(
		error_of(xfind("presence", "error", NULL, "heidi@localhost")),
		"forbidden");
	xin("<presence type='subscribe' from='heidi@localhost' "
	    "to='carol\\40@sip.localhost'/>");
	assert_string_equal(
		error_of(xfind("presence", "error", NULL, "heidi@localhost")),
		"jid-malformed");

	xin(WATCH("subscribe", "heidi@localhost"));
	sent_of(sreq(0, "SUBSCRIBE"), &s);
	respond(&s, 403, "Forbidden", "ps", NULL, NULL);
	assert_string_equal(
		error_of(xfind("presence", "error", NULL, "heidi@localhost")),
		"forbidden");
	assert_int_equal(ns, 0);
	assert_int_equal(tr_regrec_key_get(&tr, RK_PRESENTITY,
					   CAROL_SIP " heidi@localhost"),
			 0);
	release();
	assert_int_equal(expire(), 0); /* no retry */

	xin(WATCH("subscribe", "heidi@localhost"));
	sent_of(sreq(0, "SUBSCRIBE"), &s);
	sip_resp_in(s.out, 408, "Request Timeout", NULL);
	assert_string_equal(
		error_of(xfind("presence", "error", NULL, "heidi@localhost")),
		"remote-server-timeout");
}


/* The watcher leaves before the presence server answered: the
 * un-SUBSCRIBE waits for the dialog the answer makes, then goes in it. */
static void test_watch_left_before_the_answer(void **state)
{
	struct sent s, u;
	char seen[256];

	xin(WATCH("subscribe", "heidi@localhost"));
	sent_of(sreq(0, "SUBSCRIBE"), &s);
	xin(WATCH("unsubscribe", "heidi@localhost"));
	assert_int_equal(ns, 0);
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	respond(&s, 200, "OK", "ps", "Expires: 3600\r\n", NULL);
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Expires", "0");
	sent_of(sreq(0, "SUBSCRIBE"), &u);
	assert_string_equal(u.callid, s.callid);
	assert_non_null(strstr(u.to, ";tag=ps"));
	assert_int_equal(nx, 0);
	respond(&u, 200, "OK", NULL, "Expires: 0\r\n", NULL);
	pres_notify(&s, 1, "terminated;reason=timeout", NULL, NULL);
	sresp(0, 200);
	assert_int_equal(nx, 0);
	release();
	pres_notify(&s, 2, "active;expires=10", NULL, NULL);
	sresp(0, 481);
}


/* 423 (RFC 6665 4.1.2.1): asked again at once for its Min-Expires; a
 * second 423 for no more than that is a failure like any other. */
static void test_watch_interval_too_brief(void **state)
{
	struct sent s, u;

	xin(WATCH("subscribe", "heidi@localhost"));
	sent_of(sreq(0, "SUBSCRIBE"), &s);
	respond(&s, 423, "Interval Too Brief", NULL, "Min-Expires: 7200\r\n",
		NULL);
	assert_int_equal(nx, 0);
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Expires", "7200");
	sent_of(sreq(0, "SUBSCRIBE"), &u);
	assert_string_equal(u.callid, s.callid);
	assert_string_not_equal(u.cseq, s.cseq);
	respond(&u, 423, "Interval Too Brief", NULL, "Min-Expires: 7200\r\n",
		NULL);
	assert_int_equal(ns, 0);
	assert_string_equal(
		error_of(xfind("presence", "error", NULL, "heidi@localhost")),
		addr_sip_to_xmpp_error(423));
}


/* Schema 5 kept one presence subscription for all the watchers of a URI,
 * From the gateway: migrated, it has a key per watcher and goes on as it
 * was until its last watcher leaves. */
static void test_watch_shared_record_upgrades(void **state)
{
	const struct xsgw_config *cfg = tr.proc.cfg;
	struct sent s, u;
	struct subrec r;
	struct fbuf fb = {0};
	const void *v;
	size_t vl;
	uint64_t id;
	char seen[256];

	watch_active(&s, NULL);
	id = tr_regrec_key_get(&tr, RK_PRESENTITY,
			       CAROL_SIP " heidi@localhost");
	assert_int_not_equal(id, 0);
	assert_int_equal(tr_rec_get(&tr, DB_SUB, id, &v, &vl), 0);
	assert_int_equal(subrec_decode(&r, v, vl), 0);
	release();
	/* as schema 5 left it: two watchers, no From, keyed by the URI */
	r.watchers = mem_deref(r.watchers);
	r.from = mem_deref(r.from);
	assert_int_equal(
		str_dup(&r.watchers, "heidi@localhost\nivan@localhost\n"), 0);
	tr_rec_put(&tr, DB_SUB, id, &fb, subrec_encode(&fb, &r));
	subrec_reset(&r);
	tr_regrec_key_del(&tr, RK_PRESENTITY, CAROL_SIP " heidi@localhost");
	tr_regrec_key_put(&tr, RK_PRESENTITY, CAROL_SIP, id);
	store_set_schema(tr_txn(&tr), 5);
	commit();
	store_close(tr.store);
	assert_int_equal(
		store_open(&tr.store, cfg->store.path, cfg->store.map_size, 0),
		0);
	assert_int_equal(tr_upgrade(&tr), 0);
	assert_int_equal(tr_regrec_key_get(&tr, RK_PRESENTITY, CAROL_SIP), 0);
	assert_true(tr_regrec_key_get(&tr, RK_PRESENTITY,
				      CAROL_SIP " heidi@localhost") == id);
	assert_true(tr_regrec_key_get(&tr, RK_PRESENTITY,
				      CAROL_SIP " ivan@localhost") == id);
	release();
	/* heidi leaves: ivan still watches it, no SUBSCRIBE */
	xin(WATCH("unsubscribe", "heidi@localhost"));
	assert_int_equal(ns, 0);
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	assert_int_equal(tr_regrec_key_get(&tr, RK_PRESENTITY,
					   CAROL_SIP " heidi@localhost"),
			 0);
	release();
	/* ivan, the last: Expires 0 in the old dialog, From the gateway */
	xin(WATCH("unsubscribe", "ivan@localhost"));
	hdr_is(&sreq(0, "SUBSCRIBE")->hdrs, "Expires", "0");
	sent_of(sreq(0, "SUBSCRIBE"), &u);
	assert_string_equal(u.callid, s.callid);
	assert_non_null(strstr(u.from, "<sip:xsgw@"));
	respond(&u, 200, "OK", NULL, "Expires: 0\r\n", NULL);
}


/* terminated by the server for good: unsubscribed and unavailable; a
 * timeout of an authorized one: subscribed again, nobody told. */
static void test_watch_terminated(void **state)
{
	struct sent s;
	char seen[256];

	watch_active(&s, NULL);
	pres_notify(&s, 2, "terminated;reason=timeout", NULL, NULL);
	assert_int_equal(nx, 0);
	assert_int_equal(expire(), 1);
	sent_of(sreq(0, "SUBSCRIBE"), &s);
	assert_null(strstr(s.to, ";tag="));
	respond(&s, 200, "OK", "ps2", "Expires: 3600\r\n", NULL);
	pres_notify(&s, 1, "active;expires=3600", NULL, NULL);
	assert_int_equal(nx, 0); /* already subscribed, nothing changed */
	pres_notify(&s, 2, "terminated;reason=rejected", NULL, NULL);
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unsubscribed unavailable");
	assert_int_equal(tr_regrec_key_get(&tr, RK_PRESENTITY,
					   CAROL_SIP " heidi@localhost"),
			 0);
	release();
	assert_int_equal(expire(), 0);
}


/* NOTIFY pending: nobody is told anything yet; active later approves. A
 * NOTIFY before the 2xx makes the dialog (RFC 6665 4.1.2.4). */
static void test_watch_pending_then_active(void **state)
{
	struct sent s;
	char seen[256];

	xin(WATCH("subscribe", "heidi@localhost"));
	sent_of(sreq(0, "SUBSCRIBE"), &s);
	pres_notify(&s, 1, "pending;expires=3600", NULL, NULL);
	sresp(0, 200);
	assert_int_equal(nx, 0);
	respond(&s, 202, "Accepted", "ps", "Expires: 3600\r\n", NULL);
	assert_int_equal(ns + nx, 0);
	xin(WATCH("probe", "heidi@localhost"));
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "unavailable");
	pres_notify(&s, 2, "active;expires=3600", NULL,
		    PIDF_OF("open", "<rpid:activities><rpid:away/>"
				    "</rpid:activities>"));
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "subscribed available/away");
	/* a subscribe again (a client's retry): approved again, no
	 * SUBSCRIBE */
	xin(WATCH("subscribe", "heidi@localhost"));
	assert_int_equal(ns, 0);
	pres_seen("heidi@localhost", seen, sizeof(seen));
	assert_string_equal(seen, "subscribed available/away");
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TO(f, o)                                                               \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,           \
						 (void *)&(o))

/* ---- XEP-0115 caps, per-entity disco#info, propose media ------------ */

/* The verification string of the user answer (XEP-0115 5.1, computed
 * independently in Python from the same identity and features). */
static void test_caps_ver_of_user_answer(void **state)
{
	(void)state;
	assert_string_equal(tr_xmpp_caps_ver(), "sGciYOS0bD5KN6vaibIr8IpSY+o=");
}


/* The feature vars of a disco#info result, as "a|b|..." */
static void disco_features(xmpp_stanza_t *iq, char *buf, size_t sz)
{
	xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(iq, "query",
								NS_DISCO_INFO);
	size_t n = 0;

	assert_non_null(q);
	buf[0] = '\0';
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(q); c;
	     c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    !strcmp(xmpp_stanza_get_name(c), "feature"))
			n += (size_t)snprintf(buf + n, sz - n, "%s|",
					      attr(c, "var"));
}


/* XEP-0030 per entity: a SIP user's gateway JID is client/phone (with
 * node caps#ver too); the component keeps its answer; any other node is
 * item-not-found. */
static void test_disco_info_per_entity(void **state)
{
	xmpp_stanza_t *iq, *id;
	char f[2048];

	(void)state;
	xin("<iq type='get' id='d1' from='" ALICE_RES "' to='" BOB_GW "'>"
	    "<query xmlns='" NS_DISCO_INFO "'/></iq>");
	iq = xfind("iq", "result", "d1", ALICE_RES);
	assert_string_equal(attr(iq, "from"), BOB_GW);
	id = xmpp_stanza_get_child_by_name(
		xmpp_stanza_get_child_by_name(iq, "query"), "identity");
	assert_string_equal(attr(id, "category"), "client");
	assert_string_equal(attr(id, "type"), "phone");
	disco_features(iq, f, sizeof(f));
	assert_non_null(strstr(f, "|urn:xmpp:jingle:apps:rtp:audio|"));
	assert_non_null(strstr(f, "|urn:xmpp:jingle-message:0|"));
	assert_null(strstr(f, NS_REGISTER));
	xin("<iq type='get' id='d2' from='" ALICE_RES "' to='" BOB_GW
	    "/x'><query xmlns='" NS_DISCO_INFO "' node='" TR_CAPS_NODE
	    "#%s'/></iq>",
	    tr_xmpp_caps_ver());
	iq = xfind("iq", "result", "d2", ALICE_RES);
	assert_string_equal(
		attr(xmpp_stanza_get_child_by_name(iq, "query"), "node"),
		TR_CAPS_NODE "#sGciYOS0bD5KN6vaibIr8IpSY+o=");
	xin("<iq type='get' id='d3' from='" ALICE_RES "' to='" BOB_GW "'>"
	    "<query xmlns='" NS_DISCO_INFO "' node='" TR_CAPS_NODE
	    "#old'/></iq>");
	expect_iq_error("d3", ALICE_RES, "item-not-found");
	xin("<iq type='get' id='d4' from='" ALICE_RES "' to='sip.localhost'>"
	    "<query xmlns='" NS_DISCO_INFO "' node='x'/></iq>");
	expect_iq_error("d4", ALICE_RES, "item-not-found");
	xin("<iq type='get' id='d5' from='" ALICE_RES "' to='sip.localhost'>"
	    "<query xmlns='" NS_DISCO_INFO "'/></iq>");
	iq = xfind("iq", "result", "d5", ALICE_RES);
	id = xmpp_stanza_get_child_by_name(
		xmpp_stanza_get_child_by_name(iq, "query"), "identity");
	assert_string_equal(attr(id, "category"), "gateway");
	disco_features(iq, f, sizeof(f));
	assert_non_null(strstr(f, "|" NS_REGISTER "|"));
}


/* XEP-0353: an INVITE offering audio and video is proposed with both. */
static void test_s2x_propose_audio_video(void **state)
{
	static const char sdp[] =
		"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
		"c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
		"m=video 30002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
	char raw[BIG], media[64] = "";
	xmpp_stanza_t *p;

	(void)state;
	sip_raw(raw, sizeof(raw), "INVITE sip:alice@localhost SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-av\r\n"
		"Max-Forwards: 70\r\nFrom: <" BOB_URI ">;tag=av1\r\n"
		"To: <sip:alice@localhost>\r\nCall-ID: av-1@127.0.0.1\r\n"
		"CSeq: 1 INVITE\r\nContact: <" BOB_URI ">\r\n",
		"application/sdp", sdp);
	sip_in(TX_INV, raw);
	p = xmpp_stanza_get_child_by_name_and_ns(
		xfind("message", "chat", NULL, ALICE), "propose", NS_JMI);
	assert_non_null(p);
	for (xmpp_stanza_t *d = xmpp_stanza_get_children(p); d;
	     d = xmpp_stanza_get_next(d))
		if (xmpp_stanza_is_tag(d) &&
		    !strcmp(xmpp_stanza_get_name(d), "description") &&
		    !strcmp(xmpp_stanza_get_ns(d), NS_RTP))
			snprintf(media + strlen(media),
				 sizeof(media) - strlen(media), "%s ",
				 attr(d, "media"));
	assert_string_equal(media, "audio video ");
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		T_(test_call_ctype_ok),
		T_(test_call_text_check),
		T_(test_call_phrase_of),
		T_(test_call_refer_uri),
		T_(test_x2s_active_x_sip_info_info),
		T_(test_x2s_active_x_sip_info_too_large),
		T_(test_x2s_ringing_x_sip_info_unexpected),
		T_(test_x2s_active_sip_info_body_refused),
		T_(test_s2x_ringing_sip_info_body_to_devices),
		T_(test_s2x_proposed_sip_info_body_480),
		T_(test_s2x_active_sip_message_chat),
		T_(test_s2x_ringing_sip_message_chat_bare),
		T_(test_s2x_ringing_decline_chosen_code),
		T_(test_x2s_calling_183_sdp_early_media),
		T_(test_x2s_early_media_200_sdp),
		T_(test_x2s_calling_183_100rel_prack),
		T_(test_x2s_100rel_prack_once),
		T_(test_x2s_active_refer_transfer),
		T_(test_s2x_active_refer_transfer),
		T_(test_xfer_then_user_hangs_up),
		T_(test_xfer_target_busy),
		T_(test_xfer_orphaned_answered),
		T_(test_xfer_timeout_cancel),
		T_(test_xfer_pending_user_hangs_up),
		T_(test_refer_refused),
		T_(test_xfer_answer_after_restart),
		T_(test_xfer_answered_with_our_reinvite_pending),
		T_(test_x2s_active_reinvite_one_at_a_time),
		T_(test_x2s_active_reinvite_481_ends_the_call),
		/* X2S (new), WAITING */
		T_(test_x2s_new_initiate_invite_calling),
		T_(test_x2s_new_initiate_trickle_waiting),
		TO(test_x2s_new_initiate_trickle_no_wait_calling, no_wait),
		T_(test_x2s_new_initiate_sid_in_use_conflict),
		T_(test_x2s_new_initiate_bad_media_bad_request),
		T_(test_x2s_new_initiate_content_without_description),
		T_(test_x2s_waiting_transport_adds_candidates),
		T_(test_x2s_waiting_transport_unknown_content),
		T_(test_x2s_waiting_expired_invite_calling),
		T_(test_x2s_waiting_terminate_gone),
		T_(test_x2s_waiting_op_end_terminate_gone),
		/* X2S CALLING, RINGING */
		T_(test_x2s_calling_100_nothing),
		T_(test_x2s_calling_180_ringing),
		T_(test_x2s_ringing_183_nothing),
		T_(test_x2s_calling_200_active),
		T_(test_x2s_ringing_200_active),
		T_(test_x2s_calling_200_bad_sdp_bye_gone),
		T_(test_x2s_calling_486_decline_gone),
		T_(test_x2s_calling_603_decline_gone),
		T_(test_x2s_calling_600_busy_gone),
		T_(test_x2s_calling_404_general_error_gone),
		T_(test_x2s_ringing_486_decline_gone),
		T_(test_x2s_ringing_480_general_error_gone),
		T_(test_x2s_calling_local_failure_gone),
		T_(test_x2s_calling_terminate_cancel_cancelling),
		T_(test_x2s_ringing_terminate_cancel_cancelling),
		T_(test_x2s_calling_expired_cancel_cancelling),
		T_(test_x2s_calling_op_end_cancel_cancelling),
		T_(test_x2s_ringing_expired_cancel_cancelling),
		T_(test_x2s_ringing_op_end_cancel_cancelling),
		/* X2S CANCELLING */
		T_(test_x2s_cancelling_200_ack_bye_gone),
		T_(test_x2s_cancelling_487_gone),
		T_(test_x2s_cancelling_expired_gone),
		T_(test_x2s_cancelling_op_end_gone),
		T_(test_x2s_cancelling_terminate_result_only),
		/* S2X (new) */
		T_(test_s2x_new_invite_ringing),
		T_(test_s2x_new_invite_two_devices_ringing),
		T_(test_s2x_new_invite_proposed),
		TO(test_s2x_new_invite_nobody_no_propose_480, no_propose),
		T_(test_s2x_new_invite_unknown_user_404),
		T_(test_s2x_new_invite_without_sdp_488),
		/* S2X PROPOSED */
		T_(test_s2x_proposed_proceed_initiate_ringing),
		T_(test_s2x_proposed_proceed_bare_ignored),
		T_(test_s2x_proposed_jmi_ringing_180),
		T_(test_s2x_ringing_jmi_ringing_without_propose_nothing),
		T_(test_s2x_proposed_jmi_reject_603_gone),
		T_(test_s2x_proceeded_jmi_ringing_180),
		T_(test_s2x_proceeded_jmi_reject_603_gone),
		T_(test_s2x_proposed_terminate_486_gone),
		T_(test_s2x_proposed_invite_again_provisional),
		T_(test_s2x_proposed_invite_again_reason_phrase),
		T_(test_s2x_proposed_cancel_487_retract_gone),
		T_(test_s2x_proposed_expired_480_retract_gone),
		T_(test_s2x_proposed_op_end_480_retract_gone),
		/* S2X RINGING */
		T_(test_s2x_ringing_iq_result_180_once),
		T_(test_s2x_ringing_iq_error_last_device_480_gone),
		T_(test_s2x_ringing_iq_error_one_of_two_stays),
		T_(test_s2x_ringing_iq_error_not_rung_nothing),
		T_(test_s2x_ringing_session_info_ringing_180),
		T_(test_s2x_ringing_accept_200_active),
		T_(test_s2x_ringing_accept_cancels_other_devices),
		T_(test_s2x_ringing_accept_bad_media_bad_request),
		T_(test_s2x_ringing_accept_no_usable_content),
		T_(test_s2x_ringing_existing_initiate_again),
		T_(test_s2x_ringing_terminate_last_device_gone),
		T_(test_s2x_ringing_terminate_sip_error_code),
		T_(test_s2x_ringing_terminate_one_of_two_stays),
		T_(test_s2x_ringing_invite_again_last_provisional),
		T_(test_s2x_ringing_cancel_487_terminate_gone),
		T_(test_s2x_ringing_cancel_answered_by_front),
		T_(test_s2x_ringing_expired_480_gone),
		T_(test_s2x_ringing_op_end_480_gone),
		/* S2X ACTIVE: the 2xx */
		T_(test_s2x_active_ack_2xx_done),
		T_(test_s2x_active_out_done_acked),
		T_(test_s2x_active_out_done_no_ack_bye_gone),
		/* ACTIVE, either direction */
		T_(test_x2s_active_200_again_ack),
		T_(test_x2s_active_terminate_bye_gone),
		T_(test_s2x_active_terminate_bye_gone),
		T_(test_x2s_active_dtmf_info),
		T_(test_s2x_active_dtmf_info),
		T_(test_x2s_active_hold_resume_reinvite),
		T_(test_s2x_active_hold_reinvite),
		T_(test_s2x_active_reinvite_ok_ack),
		T_(test_x2s_active_source_add_reinvite),
		T_(test_x2s_active_reinvite_hold),
		T_(test_s2x_active_reinvite_hold_then_active),
		T_(test_s2x_active_reinvite_transport_info),
		T_(test_s2x_active_reinvite_no_common_codec_488),
		T_(test_x2s_active_reinvite_ok_ack),
		T_(test_x2s_active_expired_bye_gone),
		T_(test_x2s_active_op_end_bye_gone),
		T_(test_s2x_active_expired_bye_gone),
		T_(test_s2x_active_op_end_bye_gone),
		T_(test_x2s_active_transport_info_trickle),
		T_(test_x2s_calling_transport_info_held_until_dialog),
		/* any state: SIP requests in the dialog */
		T_(test_x2s_active_bye_gone),
		T_(test_x2s_ringing_bye_gone),
		T_(test_s2x_active_bye_gone),
		T_(test_s2x_ringing_bye_answers_invite),
		T_(test_x2s_active_sip_info_dtmf),
		T_(test_s2x_active_sip_info_dtmf),
		T_(test_x2s_active_sip_info_trickle_transport_info),
		T_(test_x2s_active_sip_info_other_type_session_info),
		T_(test_x2s_active_sip_info_empty_200),
		T_(test_s2x_ringing_sip_info_dtmf),
		T_(test_x2s_active_options_200),
		T_(test_s2x_ringing_options_200),
		T_(test_x2s_active_other_405),
		T_(test_x2s_calling_other_405),
		T_(test_s2x_active_cseq_lower_500),
		T_(test_s2x_active_cseq_below_invite_500),
		T_(test_s2x_active_cseq_of_reinvite_remembered),
		T_(test_s2x_active_ack_cseq_not_checked),
		T_(test_x2s_active_request_pushes_idle_deadline),
		T_(test_no_dialog_481),
		T_(test_options_and_unknown_method),
		/* default rows */
		T_(test_x2s_calling_accept_unexpected_request),
		T_(test_s2x_active_accept_unexpected_request),
		T_(test_x2s_ringing_source_unexpected_request),
		T_(test_x2s_active_existing_item_not_found),
		T_(test_s2x_active_existing_item_not_found),
		T_(test_x2s_ringing_reinvite_491),
		T_(test_s2x_ringing_update_491),
		T_(test_s2x_active_cancel_late_200),
		T_(test_x2s_calling_session_info_result_only),
		T_(test_active_session_info_ping_result_only),
		T_(test_active_session_info_unknown_payload),
		T_(test_x2s_calling_ack_nothing),
		T_(test_s2x_active_iq_result_nothing),
		T_(test_response_after_gone_nothing),
		T_(test_other_users_session_item_not_found),
		T_(test_op_end_unknown_call_enoent),
		/* messages */
		T_(test_msg_chat_to_message),
		T_(test_msg_chat_202_done_with_receipt),
		T_(test_msg_done_kept_message_retain_s),
		T_(test_msg_chat_202_without_receipt_request),
		T_(test_msg_chat_provisional_ignored),
		T_(test_msg_chat_404_error_back),
		T_(test_msg_chat_486_error_back),
		T_(test_msg_chat_timeout_error_back),
		T_(test_msg_chat_final_twice_once),
		T_(test_msg_groupchat_feature_not_implemented),
		T_(test_msg_chat_body_default_language),
		T_(test_msg_e2e_encrypted_not_acceptable),
		T_(test_msg_foreign_sender_forbidden),
		T_(test_msg_chat_state_only_nothing),
		T_(test_msg_sip_message_to_chat),
		T_(test_msg_sip_message_retransmission_202_once),
		T_(test_msg_sip_message_bad_type_415),
		T_(test_msg_sip_message_empty_400),
		T_(test_msg_sip_message_unknown_domain_404),
		T_(test_msg_sip_chat_written_done),
		T_(test_msg_sip_chat_bounced_message_back),
		T_(test_msg_error_bounced_nothing),
		T_(test_msg_retention_expiry_forgets),
		/* the outbox */
		T_(test_replay_restages_pending_with_same_ids),
		T_(test_replay_after_done_nothing),
		T_(test_out_done_unknown_id_nothing),
		/* hardening */
		T_(test_poison_frame_refused_once),
		T_(test_poison_full_store_503),
		T_(test_long_call_id_message),
		T_(test_xml_text_replaced),
		T_(test_from_user_control_400),
		T_(test_s2x_ringing_iq_result_not_rung_nothing),
		T_(test_msg_bounce_forged_ignored),
		T_(test_request_past_deadline_503),
		T_(test_store_full_refuses_then_recovers),
		T_(test_msg_pending_expires_back_to_sender),
		T_(test_replay_drops_ended_call_invite),
		T_(test_replay_after_call_end_keeps_last_stanzas),
		T_(test_msg_oversize_refused_up_front),
		T_(test_from_in_served_domain_403),
		T_(test_s2x_iq_error_forgets_dead_resource),
		T_(test_no_proxy_unlisted_host_forbidden),
		T_(test_reinvite_nul_in_sdp_488),
		T_(test_x2s_answer_bare_cr_route_and_contact_ignored),
		T_(test_msg_front_refused_chat_sender_told),
		T_(test_from_to_with_control_bytes_400),
		T_(test_upgrade_schema2_long_callkey),
		T_(test_notify_unknown_subscription_481),
		T_(test_register_stale_believed_once),
		T_(test_service_route_after_proxy_and_checked),
		T_(test_register_reset_queued_while_in_flight),
		T_(test_watch_one_subscription_changes_once),
		T_(test_watch_refused_error),
		T_(test_watch_terminated),
		T_(test_watch_shared_record_upgrades),
		T_(test_watch_interval_too_brief),
		T_(test_watch_left_before_the_answer),
		T_(test_watch_pending_then_active),
		T_(test_caps_ver_of_user_answer),
		T_(test_disco_info_per_entity),
		T_(test_s2x_propose_audio_video),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
