/* The translator under libFuzzer: see tr_harness.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <re.h>
#include "callrec.h"
#include "config.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "regrec.h"
#include "store.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"
#include "tr_harness.h"

/* On stdout: make fuzz runs with -close_fd_mask=2 (the translator's log) */
#define CHECK(c, ...)                                                          \
	do {                                                                   \
		if (!(c)) {                                                    \
			printf("tr_harness: " __VA_ARGS__);                    \
			printf("\n");                                          \
			fflush(stdout);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

#define ALICE_RES "alice@localhost/res"
#define DAVE_RES  "dave@localhost/res" /* has a linked account (R) */
#define BOB_GW    "bob@sip.localhost"
#define BOB_URI   "sip:bob@127.0.0.1:5070"
#define PEER_SRC  "udp 127.0.0.1:5070"

#define PHONE_SDP                                                              \
	"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"                       \
	"c=IN IP4 127.0.0.1\r\nt=0 0\r\n"                                      \
	"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"              \
	"a=rtpmap:101 telephone-event/8000\r\n"
#define RTP_PCMU                                                               \
	"<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>"       \
	"<payload-type id='0' name='PCMU' clockrate='8000'/></description>"
#define ICE_OPEN(u)                                                            \
	"<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "             \
	"ufrag='" u "' pwd='" u u u u u u "'>"
#define CAND(port)                                                             \
	"<candidate foundation='1' component='1' protocol='udp' "              \
	"priority='2130706431' ip='127.0.0.1' port='" port "' type='host' "    \
	"generation='0' id='c" port "'/>"

/* int __real_store_commit(): the real one, for the baseline */
int __real_store_commit(struct store_txn *t);
int __wrap_store_commit(struct store_txn *t);

static struct translator tr;
static char dir[64];
static int xfd = -1, sfd = -1; /* the fronts' ends */
static bool real_commit;       /* baseline: commit for real */
static bool ready;


int __wrap_store_commit(struct store_txn *t)
{
	if (real_commit)
		return __real_store_commit(t);
	store_abort(t); /* every iteration starts from the baseline */
	return 0;
}


/* ---- placeholders ------------------------------------------------- */

struct subst {
	char name[24];
	char *value;
};
static struct subst subst[192];
static unsigned nsubst;


static void subst_set(char call, const char *name, const char *value)
{
	struct subst *s;

	CHECK(nsubst < sizeof(subst) / sizeof(subst[0]), "too many");
	s = &subst[nsubst++];
	snprintf(s->name, sizeof(s->name), "%c.%s", call, name);
	CHECK(!str_dup(&s->value, value ? value : ""), "ENOMEM");
}


static void subst_u64(char call, const char *name, uint64_t v)
{
	char b[32];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	subst_set(call, name, b);
}


/* Forget the placeholders of X (to learn them again). */
static void subst_drop(char x)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsubst; i++) {
		if (subst[i].name[0] == x)
			subst[i].value = mem_deref(subst[i].value);
		else
			subst[n++] = subst[i];
	}
	nsubst = n;
}


static const char *subst_get(const char *p, size_t l)
{
	for (unsigned i = 0; i < nsubst; i++)
		if (strlen(subst[i].name) == l && !memcmp(subst[i].name, p, l))
			return subst[i].value;
	return NULL;
}


/* data with every known @X.name@ replaced, into mb (pos 0, end = len) */
static void substitute(struct mbuf *mb, const uint8_t *data, size_t size)
{
	size_t i = 0;

	mbuf_rewind(mb);
	while (i < size) {
		const uint8_t *at = memchr(data + i, '@', size - i), *end;
		const char *v = NULL;

		if (!at) {
			(void)mbuf_write_mem(mb, data + i, size - i);
			break;
		}
		(void)mbuf_write_mem(mb, data + i, (size_t)(at - data) - i);
		i = (size_t)(at - data);
		end = memchr(at + 1, '@', size - i - 1);
		if (end && end - at <= 24)
			v = subst_get((const char *)at + 1,
				      (size_t)(end - at) - 1);
		if (v) {
			(void)mbuf_write_str(mb, v);
			i = (size_t)(end - data) + 1;
		} else {
			(void)mbuf_write_u8(mb, '@');
			i++;
		}
	}
	mb->pos = 0;
}


/* ---- what tr_commit sent to the fronts ----------------------------- */

/* What the baseline keeps of the frames of its last commit. */
struct seen {
	uint16_t type;
	uint64_t out;
	char method[16];  /* SIP request */
	unsigned scode;   /* SIP response */
	char branch[80];  /* SIP request */
	char name[16];    /* stanza */
	char id[80];      /* stanza id */
	char content[40]; /* stanza: first <content/> name of a <jingle/> */
	char action[40];  /* stanza: jingle action */
	char to[80];      /* stanza */
	char from[80];    /* stanza */
};
static struct seen seen[32];
static unsigned nseen;
static bool keep;   /* the baseline: keep what is seen */
static bool dump;   /* TRH_DUMP=1: print every frame to a front */
static bool strict; /* no bare CR or folded break either (not TRH_LAX=1) */


static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-.!%*_+`'~", c);
}


/* A line break a peer's value may bring along: a bare CR, or a folded
 * one (CRLF or LF followed by SP or HT, RFC 3261 7.3.1 LWS), which libre
 * keeps inside a header value. Neither starts a line of its own for a
 * SIP parser (a folded break is joined back; a start line holding one is
 * refused by the sip-front when it decodes the request it built), so
 * TRH_LAX=1 lets them through; by default they are reported too (the
 * translator keeps them out since 5e22953). */
static bool lax_break(const char *p, size_t i, size_t l)
{
	if (strict)
		return false;
	if (p[i] == '\r')
		return i + 1 < l && p[i + 1] == '\n' ? lax_break(p, i + 1, l)
						     : true;
	return i + 1 < l && (p[i + 1] == ' ' || p[i + 1] == '\t');
}


/* One line of text: no NUL, no line break (but lax_break's where lax). */
static bool one_line(const struct pl *pl, bool lax)
{
	for (size_t i = 0; i < pl->l; i++) {
		if (!pl->p[i])
			return false;
		if ((pl->p[i] == '\r' || pl->p[i] == '\n') &&
		    !(lax && lax_break(pl->p, i, pl->l)))
			return false;
	}
	return true;
}


/* Headers: "Name: value" lines, each ending in CRLF, nothing else (a
 * value may hold lax_break's breaks). */
static void check_hdrs(const struct pl *h, const char *what)
{
	size_t i = 0;

	while (i < h->l) {
		size_t n = 0, j;

		while (i + n < h->l && is_token_char(h->p[i + n]))
			n++;
		CHECK(n > 0 && i + n < h->l && h->p[i + n] == ':',
		      "%s: not a header at %zu: %.*s", what, i, (int)h->l,
		      h->p);
		for (j = i + n; j < h->l; j++) {
			const char c = h->p[j];
			CHECK(c, "%s: NUL in a header: %.*s", what, (int)h->l,
			      h->p);
			if (c == '\r' && j + 1 < h->l && h->p[j + 1] == '\n')
				continue; /* judged at the LF */
			if ((c == '\r' || c == '\n') &&
			    lax_break(h->p, j, h->l))
				continue;
			if (c == '\r')
				CHECK(0, "%s: a bare CR in a header: %.*s",
				      what, (int)h->l, h->p);
			if (c == '\n')
				break;
		}
		CHECK(j < h->l && j > i + n && h->p[j - 1] == '\r',
		      "%s: a header not ending in CRLF: %.*s", what, (int)h->l,
		      h->p);
		i = j + 1;
	}
}


static void check_sip_request(const struct m_sip_out_request *m)
{
	CHECK(m->out, "a request without out id");
	CHECK(m->method.l, "a request without method");
	for (size_t i = 0; i < m->method.l; i++)
		CHECK(is_token_char(m->method.p[i]), "method %.*s",
		      (int)m->method.l, m->method.p);
	/* one line; whether it is a URI the sip-front checks (it decodes
	 * the request it built and reports 500 if it cannot) */
	CHECK(m->ruri.l && one_line(&m->ruri, true), "request URI %.*s",
	      (int)m->ruri.l, m->ruri.p);
	CHECK(one_line(&m->dst, true), "dst %.*s", (int)m->dst.l, m->dst.p);
	CHECK(one_line(&m->branch, false) &&
		      !memchr(m->branch.p, ' ', m->branch.l),
	      "branch %.*s", (int)m->branch.l, m->branch.p);
	check_hdrs(&m->hdrs, "request");
}


static void check_sip_response(const struct m_sip_out_response *m)
{
	CHECK(m->out, "a response without out id");
	CHECK(m->scode >= 100 && m->scode <= 699, "status %u", m->scode);
	/* the sip-front writes it as it is: never a break */
	CHECK(one_line(&m->reason, false), "reason %.*s", (int)m->reason.l,
	      m->reason.p);
	check_hdrs(&m->hdrs, "response");
}


static xmpp_stanza_t *check_stanza(const struct m_xmpp_out *m)
{
	xmpp_stanza_t *st;
	char *xml = NULL;

	CHECK(m->out, "a stanza without out id");
	CHECK(!pl_strdup(&xml, &m->xml), "ENOMEM");
	CHECK(strlen(xml) == m->xml.l, "NUL in a stanza: %s", xml);
	st = xmpp_stanza_new_from_string(tr.xctx, xml);
	CHECK(st, "a stanza that is not XML: %s", xml);
	mem_deref(xml);
	return st;
}


static void keep_stanza(struct seen *s, xmpp_stanza_t *st)
{
	xmpp_stanza_t *j = xmpp_stanza_get_child_by_name(st, "jingle"), *c;

	snprintf(s->name, sizeof(s->name), "%s", xmpp_stanza_get_name(st));
	snprintf(s->id, sizeof(s->id), "%s", xu_attr(st, "id"));
	snprintf(s->to, sizeof(s->to), "%s", xu_attr(st, "to"));
	snprintf(s->from, sizeof(s->from), "%s", xu_attr(st, "from"));
	if (!j)
		return;
	snprintf(s->action, sizeof(s->action), "%s", xu_attr(j, "action"));
	c = xmpp_stanza_get_child_by_name(j, "content");
	if (c)
		snprintf(s->content, sizeof(s->content), "%s",
			 xu_attr(c, "name"));
}


static void one_frame(int fd, struct frame *fr)
{
	struct m_sip_out_request rq;
	struct m_sip_out_response rs;
	struct m_xmpp_out xo;
	struct seen *s = NULL;

	if (keep) {
		CHECK(nseen < sizeof(seen) / sizeof(seen[0]), "too many");
		s = &seen[nseen++];
		memset(s, 0, sizeof(*s));
		s->type = fr->type;
	}
	switch (fr->type) {
	case MSG_SIP_OUT_REQUEST:
		CHECK(fd == sfd, "a SIP request to the xmpp-front");
		CHECK(!msg_dec_sip_out_request(fr, &rq), "undecodable");
		check_sip_request(&rq);
		if (dump && !keep)
			re_fprintf(stderr, "sip> %r %r (out %llu)\n%r\n%r\n",
				   &rq.method, &rq.ruri,
				   (unsigned long long)rq.out, &rq.hdrs,
				   &rq.body);
		if (s) {
			s->out = rq.out;
			pl_strcpy(&rq.method, s->method, sizeof(s->method));
			pl_strcpy(&rq.branch, s->branch, sizeof(s->branch));
		}
		break;
	case MSG_SIP_OUT_RESPONSE:
		CHECK(fd == sfd, "a SIP response to the xmpp-front");
		CHECK(!msg_dec_sip_out_response(fr, &rs), "undecodable");
		check_sip_response(&rs);
		if (dump && !keep)
			re_fprintf(stderr, "sip> %u %r (out %llu)\n%r\n%r\n",
				   rs.scode, &rs.reason,
				   (unsigned long long)rs.out, &rs.hdrs,
				   &rs.body);
		if (s) {
			s->out = rs.out;
			s->scode = rs.scode;
		}
		break;
	case MSG_XMPP_OUT: {
		xmpp_stanza_t *st;
		CHECK(fd == xfd, "a stanza to the sip-front");
		CHECK(!msg_dec_xmpp_out(fr, &xo), "undecodable");
		st = check_stanza(&xo);
		if (dump && !keep)
			re_fprintf(stderr, "xmpp> %r\n", &xo.xml);
		if (s) {
			s->out = xo.out;
			keep_stanza(s, st);
		}
		xmpp_stanza_release(st);
		break;
	}
	case MSG_CLIENT_OUT: {
		struct m_client_out co;
		struct m_xmpp_out as = {0};
		xmpp_stanza_t *st;
		CHECK(fd == xfd, "a client presence to the sip-front");
		CHECK(!msg_dec_client_out(fr, &co), "undecodable");
		CHECK(!pl_strcmp(&co.jid, "alice@localhost/desk"),
		      "a client presence for %.*s", (int)co.jid.l, co.jid.p);
		as.out = co.out;
		as.xml = co.xml;
		st = check_stanza(&as);
		CHECK(!strcmp(xmpp_stanza_get_name(st), "presence") &&
			      !*xu_attr(st, "to") && !*xu_attr(st, "from"),
		      "a client stanza that is no plain presence");
		if (s)
			s->out = co.out;
		xmpp_stanza_release(st);
		break;
	}
	default:
		CHECK(0, "frame %s to a front", msg_type_name(fr->type));
	}
}


/* Read what a front received, check every frame. */
static void drain(int fd)
{
	static uint8_t *in;
	static size_t cap;
	size_t len = 0, off = 0, used;
	struct frame fr;
	ssize_t r;

	for (;;) {
		if (cap - len < 65536) {
			uint8_t *b = realloc(in, cap + 65536);
			CHECK(b, "ENOMEM");
			in = b;
			cap += 65536;
		}
		r = recv(fd, in + len, cap - len, MSG_DONTWAIT);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	while (off < len) {
		CHECK(!frame_parse(in + off, len - off, &fr, &used),
		      "an unparsable frame to a front");
		one_frame(fd, &fr);
		off += used;
	}
}


/* The end of a loop turn: commit (aborted but for the baseline), then
 * check what the fronts were sent. */
static void commit(void)
{
	nseen = 0;
	tr_commit(&tr);
	CHECK(!tr.txn, "a transaction left open");
	CHECK(tr.sip.ch && tr.xmpp.ch, "tr_commit closed a front");
	CHECK(!chan_queued(tr.sip.ch) && !chan_queued(tr.xmpp.ch),
	      "frames left queued");
	drain(sfd);
	drain(xfd);
}


/* ---- the events --------------------------------------------------- */

static void ev_xmpp_in(const char *xml, size_t len)
{
	struct m_xmpp_in m;

	m.xml.p = xml;
	m.xml.l = len;
	tr_from_xmpp(&tr, &m);
}


static void ev_sip_request(uint64_t tx, const char *src, const char *raw,
			   size_t len)
{
	struct m_sip_in_request m = {.tx = tx};

	pl_set_str(&m.src, src);
	m.raw.p = raw;
	m.raw.l = len;
	tr_from_sip_request(&tr, &m);
}


static void ev_sip_response(uint64_t out, unsigned scode, const char *reason,
			    size_t rlen, const char *raw, size_t len)
{
	struct m_sip_in_response m = {.out = out, .scode = scode};

	m.reason.p = reason;
	m.reason.l = rlen;
	m.raw.p = raw;
	m.raw.l = len;
	tr_from_sip_response(&tr, &m);
}


/* The clock a week ahead: every deadline runs (translator.c's sweep). */
static void expire(void)
{
	struct tr_due due[64];
	unsigned n = tr_deadline_take(&tr, wall_ms() + 7ULL * 24 * 3600 * 1000,
				      due, 64);

	for (unsigned i = 0; i < n; i++)
		tr_owner_expired(&tr, due[i].kind, due[i].id);
}


static bool meta(struct pl *ev, const char *name, struct pl *val)
{
	size_t n = strlen(name);
	const char *nl;

	if (ev->l < n || memcmp(ev->p, name, n))
		return false;
	nl = memchr(ev->p, '\n', ev->l);
	val->p = ev->p + n;
	val->l = (nl ? (size_t)(nl - ev->p) : ev->l) - n;
	while (val->l && (val->p[0] == ' '))
		pl_advance(val, 1);
	while (val->l && (val->p[val->l - 1] == '\r'))
		val->l--;
	pl_advance(ev, nl ? (size_t)(nl - ev->p) + 1 : ev->l);
	return true;
}


static uint64_t num(const struct pl *v)
{
	uint64_t n = 0;

	for (size_t i = 0; i < v->l && v->p[i] >= '0' && v->p[i] <= '9'; i++)
		n = n * 10 + (uint64_t)(v->p[i] - '0');
	return n;
}


static void sip_event(struct pl ev, unsigned idx)
{
	static const char pfx[] = "SIP/2.0 ";
	uint64_t out = strtoull(subst_get("A.out", 5), NULL, 10);
	uint64_t tx = 100 + idx;
	char src[80];
	struct pl v;
	bool fail = false;
	unsigned scode = 0;

	snprintf(src, sizeof(src), "%s", PEER_SRC);
	while (ev.l && ev.p[0] == '#') {
		if (meta(&ev, "#out", &v))
			out = num(&v);
		else if (meta(&ev, "#tx", &v))
			tx = num(&v);
		else if (meta(&ev, "#src", &v))
			pl_strcpy(&v, src, sizeof(src));
		else if (meta(&ev, "#fail", &v)) {
			fail = true;
			scode = (unsigned)num(&v);
		} else if (meta(&ev, "#expire", &v))
			expire();
		else
			break;
	}
	if (fail) {
		ev_sip_response(out, scode, "local failure", 13, "", 0);
	} else if (ev.l >= sizeof(pfx) - 1 &&
		   !memcmp(ev.p, pfx, sizeof(pfx) - 1)) {
		/* the status and phrase the sip-front read */
		struct pl st = ev, reason;
		const char *nl;
		pl_advance(&st, sizeof(pfx) - 1);
		for (size_t i = 0;
		     i < 3 && i < st.l && st.p[i] >= '0' && st.p[i] <= '9'; i++)
			scode = scode * 10 + (unsigned)(st.p[i] - '0');
		reason = st;
		pl_advance(&reason, st.l < 4 ? st.l : 4);
		nl = memchr(reason.p, '\r', reason.l);
		if (nl)
			reason.l = (size_t)(nl - reason.p);
		ev_sip_response(out, scode, reason.p, reason.l, ev.p, ev.l);
	} else if (ev.l) {
		ev_sip_request(tx, src, ev.p, ev.l);
	}
}


static void xmpp_event(struct pl ev)
{
	struct pl v;

	while (ev.l && ev.p[0] == '#') {
		if (meta(&ev, "#expire", &v))
			expire();
		else
			break;
	}
	if (ev.l)
		ev_xmpp_in(ev.p, ev.l);
}


void trh_run(const uint8_t *data, size_t size, enum trh_kind kind)
{
	static struct mbuf *mb;
	struct pl all, ev;
	unsigned n = 0;

	trh_init();
	if (!mb)
		mb = mbuf_alloc(65536);
	substitute(mb, data, size);
	all.p = (const char *)mb->buf;
	all.l = mb->end;
	while (n < TRH_MAX_EVENTS) {
		const char *sep = NULL;
		size_t sl = strlen(TRH_SEP);

		ev = all;
		for (size_t i = 0; i + sl <= all.l; i++)
			if (!memcmp(all.p + i, TRH_SEP, sl)) {
				sep = all.p + i;
				break;
			}
		if (sep)
			ev.l = (size_t)(sep - all.p);
		if (kind == TRH_SIP)
			sip_event(ev, n);
		else
			xmpp_event(ev);
		n++;
		if (!sep)
			break;
		pl_advance(&all, ev.l + sl);
	}
	commit();
}


/* ---- the baseline ------------------------------------------------- */

static void xin(const char *fmt, ...)
{
	char *xml = NULL;
	va_list ap;

	va_start(ap, fmt);
	CHECK(vasprintf(&xml, fmt, ap) > 0, "ENOMEM");
	va_end(ap);
	ev_xmpp_in(xml, strlen(xml));
	free(xml);
	commit();
}


static void sip_in_fmt(uint64_t tx, const char *fmt, ...)
{
	char *raw = NULL;
	va_list ap;

	va_start(ap, fmt);
	CHECK(vasprintf(&raw, fmt, ap) > 0, "ENOMEM");
	va_end(ap);
	ev_sip_request(tx, PEER_SRC, raw, strlen(raw));
	free(raw);
	commit();
}


static void sresp(uint64_t out, unsigned scode, const char *reason,
		  const char *fmt, ...)
{
	char *raw = NULL;
	va_list ap;

	va_start(ap, fmt);
	CHECK(vasprintf(&raw, fmt, ap) > 0, "ENOMEM");
	va_end(ap);
	ev_sip_response(out, scode, reason, strlen(reason), raw, strlen(raw));
	free(raw);
	commit();
}


static const struct seen *find(uint16_t type, const char *what)
{
	for (unsigned i = 0; i < nseen; i++) {
		const struct seen *s = &seen[i];
		if (s->type != type)
			continue;
		if (type == MSG_SIP_OUT_REQUEST && strcmp(s->method, what))
			continue;
		if (type == MSG_XMPP_OUT && strcmp(s->name, what) &&
		    strcmp(s->action, what))
			continue;
		return s;
	}
	CHECK(0, "baseline: no %s", what);
	return NULL;
}


/* The placeholders of call X from its record. */
static uint64_t learn(char x, enum callkey_kind kind, const char *a,
		      const char *b)
{
	struct callrec r;
	uint64_t id = tr_callrec_key_get(&tr, kind, a, b);
	char iqid[64];

	CHECK(id, "baseline: no call %c", x);
	memset(&r, 0, sizeof(r));
	CHECK(!tr_callrec_load(&tr, id, &r), "baseline: call %c", x);
	subst_u64(x, "id", id);
	subst_set(x, "ltag", r.ltag);
	subst_set(x, "rtag", r.rtag);
	subst_set(x, "callid", r.callid);
	subst_set(x, "sid", r.sid);
	subst_set(x, "branch", r.inv_branch);
	subst_u64(x, "out", r.inv_out);
	subst_set(x, "iqid", xu_id(iqid, sizeof(iqid), XU_ID_CALL, id));
	subst_u64(x, "state", r.state);
	callrec_reset(&r);
	store_abort(tr.txn);
	tr.txn = NULL;
	return id;
}


static void x2s_initiate_from(const char *from, const char *sid,
			      const char *cands)
{
	xin("<iq type='set' id='ini-%s' from='%s' to='" BOB_GW
	    "'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' "
	    "sid='%s' initiator='%s'>"
	    "<content creator='initiator' name='audio' senders='both'>" RTP_PCMU
		    ICE_OPEN("aaaa") "%s</transport></content></jingle></iq>",
	    sid, from, sid, from, cands);
}


static void x2s_initiate(const char *sid, const char *cands)
{
	x2s_initiate_from(ALICE_RES, sid, cands);
}


static void s2x_invite(uint64_t tx, const char *user, const char *callid,
		       const char *rtag)
{
	sip_in_fmt(tx,
		   "INVITE sip:%s@localhost SIP/2.0\r\n"
		   "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%s\r\n"
		   "Max-Forwards: 70\r\n"
		   "From: <" BOB_URI ">;tag=%s\r\n"
		   "To: <sip:%s@localhost>\r\n"
		   "Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
		   "Contact: <" BOB_URI ">\r\n"
		   "Content-Type: application/sdp\r\n"
		   "Content-Length: %zu\r\n\r\n" PHONE_SDP,
		   user, rtag, rtag, user, callid, strlen(PHONE_SDP));
}


/* ---- the baseline's SIP accounts ---------------------------------- */

#define REG_Q            "<query xmlns='jabber:iq:register'>"
#define XFIELD(var, val) "<field var='" var "'><value>" val "</value></field>"
#define XFORM(fields)                                                          \
	"<x xmlns='jabber:x:data' type='submit'>" XFIELD(                      \
		"FORM_TYPE", "jabber:iq:register") fields "</x>"
#define HA1 "0123456789ABCDEF0123456789abcdef" /* lower-cased when set */

/* The placeholders of registration X (of user bare) from its record;
 * what its REGISTER in flight was sent with, if one was just seen. */
static uint64_t learn_reg(char x, const char *bare, unsigned state)
{
	struct regrec r;
	uint64_t id = tr_regrec_key_get(&tr, RK_JID, bare);
	unsigned i;

	CHECK(id, "baseline: no registration %c", x);
	memset(&r, 0, sizeof(r));
	CHECK(!tr_regrec_load(&tr, id, &r), "baseline: registration %c", x);
	CHECK(r.state == state, "baseline: registration %c in state %u, not %u",
	      x, r.state, state);
	subst_u64(x, "id", id);
	subst_set(x, "callid", r.callid);
	subst_set(x, "ftag", r.ftag);
	subst_set(x, "contact", r.contact);
	subst_set(x, "aor", r.aor);
	subst_u64(x, "cseq", r.cseq);
	subst_u64(x, "out", r.out);
	subst_u64(x, "state", r.state);
	for (i = 0; i < nseen; i++)
		if (seen[i].type == MSG_SIP_OUT_REQUEST &&
		    !strcmp(seen[i].method, "REGISTER") && seen[i].out == r.out)
			break;
	subst_set(x, "branch", i < nseen ? seen[i].branch : "");
	regrec_reset(&r);
	store_abort(tr.txn);
	tr.txn = NULL;
	return id;
}


/* A registration's record, for what the baseline drives by hand. */
static void reg_load(uint64_t id, struct regrec *r)
{
	memset(r, 0, sizeof(*r));
	CHECK(!tr_regrec_load(&tr, id, r), "baseline: registration %llu",
	      (unsigned long long)id);
}


/* A jabber:iq:register set from user (local part) with query's
 * children; its REGISTER out. @return the registration id */
static uint64_t reg_set(const char *user, const char *fields)
{
	char bare[64];
	uint64_t id;

	xin("<iq type='set' id='reg-%s' from='%s@localhost/res' "
	    "to='sip.localhost'>" REG_Q "%s</query></iq>",
	    user, user, fields);
	find(MSG_SIP_OUT_REQUEST, "REGISTER");
	snprintf(bare, sizeof(bare), "%s@localhost", user);
	id = tr_regrec_key_get(&tr, RK_JID, bare);
	CHECK(id, "baseline: %s not linking", bare);
	store_abort(tr.txn);
	tr.txn = NULL;
	return id;
}


/* The registrar's answer to registration id's REGISTER in flight: a
 * response with status line and these headers (To, From, Call-ID and
 * CSeq from the record). */
static void reg_answer(uint64_t id, unsigned scode, const char *reason,
		       const char *hdrs)
{
	struct regrec r;
	uint64_t out;

	reg_load(id, &r);
	out = r.out;
	CHECK(out, "baseline: registration %llu has no REGISTER in flight",
	      (unsigned long long)id);
	store_abort(tr.txn);
	tr.txn = NULL;
	sresp(out, scode, reason,
	      "SIP/2.0 %u %s\r\n"
	      "Via: SIP/2.0/UDP 127.0.0.1:5600;branch=z9hG4bKfzreg\r\n"
	      "From: <%s>;tag=%s\r\nTo: <%s>;tag=fz-reg\r\n"
	      "Call-ID: %s\r\nCSeq: %u REGISTER\r\n%s"
	      "Content-Length: 0\r\n\r\n",
	      scode, reason, r.aor, r.ftag, r.aor, r.callid, r.cseq, hdrs);
	regrec_reset(&r);
}


/* A 2xx binding our Contact for 600 s, with a Service-Route. */
static void reg_ok(uint64_t id)
{
	struct regrec r;
	char hdrs[256];

	reg_load(id, &r);
	snprintf(hdrs, sizeof(hdrs),
		 "Contact: <sip:%s@127.0.0.1:5600>;expires=600\r\n"
		 "Service-Route: <sip:sr1.example.net;lr>\r\n"
		 "Service-Route: <sip:sr2.example.net;lr>\r\n",
		 r.contact);
	regrec_reset(&r);
	store_abort(tr.txn);
	tr.txn = NULL;
	reg_answer(id, 200, "OK", hdrs);
}


/* Registration id's deadline (refresh or retry) as the sweep runs it:
 * taken from the store, then its owner's handler. */
static void reg_due(uint64_t id)
{
	struct regrec r;

	reg_load(id, &r);
	CHECK(r.deadline, "baseline: registration %llu without deadline",
	      (unsigned long long)id);
	tr_deadline_del(&tr, r.deadline, OWN_REG, id);
	regrec_reset(&r);
	tr_owner_expired(&tr, OWN_REG, id);
	commit();
}


/* One account in every registration state, and calls and chats through
 * a linked one (dave's, R). */
static void accounts(void)
{
	uint64_t id;

	/* L: linking, the IQ owed; a password, no proxy (the AOR's host) */
	id = reg_set("rl", "<username>sip:rl@127.0.0.1:5070</username>"
			   "<password>pw-l</password>");
	learn_reg('L', "rl@localhost", RS_LINKING);

	/* K: linking, challenged once (its REGISTER with credentials in
	 * flight); an HA1, a proxy, an auth user */
	id = reg_set("rk", XFORM(XFIELD("username", "rk@127.0.0.1") XFIELD(
				   "ha1", HA1) XFIELD("auth_user", "rk-auth")
					 XFIELD("proxy", "127.0.0.1:5080")));
	reg_answer(id, 401, "Unauthorized",
		   "WWW-Authenticate: Digest realm=\"fz\", "
		   "nonce=\"n1\", qop=\"auth\", algorithm=MD5\r\n");
	find(MSG_SIP_OUT_REQUEST, "REGISTER");
	learn_reg('K', "rk@localhost", RS_LINKING);

	/* R: registered (dave's account, which his calls and chats go
	 * through): a password, a proxy over UDP, a display name, a
	 * Service-Route; challenged by a proxy first */
	id = reg_set(
		"dave",
		XFORM(XFIELD("username", "sip:dave@127.0.0.1:5070")
			      XFIELD("password", "pw-r") XFIELD(
				      "proxy", "127.0.0.1:5080;transport=udp")
				      XFIELD("display_name", "Dave")
					      XFIELD("expires", "600")));
	reg_answer(id, 407, "Proxy Authentication Required",
		   "Proxy-Authenticate: Digest realm=\"fz\", nonce=\"n2\", "
		   "algorithm=SHA-256, qop=\"auth\", opaque=\"o\"\r\n"
		   "Proxy-Authenticate: Digest realm=\"fz\", nonce=\"n2\", "
		   "algorithm=MD5, qop=\"auth\", opaque=\"o\"\r\n");
	reg_ok(id);
	learn_reg('R', "dave@localhost", RS_REGISTERED);

	/* S: refreshing (the refresh REGISTER in flight); an HA1, no
	 * proxy */
	id = reg_set("rs", XFORM(XFIELD("username", "sip:rs@127.0.0.1:5070")
					 XFIELD("ha1", HA1)));
	reg_ok(id);
	reg_due(id);
	find(MSG_SIP_OUT_REQUEST, "REGISTER");
	learn_reg('S', "rs@localhost", RS_REFRESHING);

	/* Q: failed (a refresh answered 503; the retry deadline); a
	 * password, a proxy over TCP */
	id = reg_set("rq",
		     XFORM(XFIELD("username", "sip:rq@127.0.0.1:5070") XFIELD(
			     "password", "pw-q")
				   XFIELD("proxy", "127.0.0.1;transport=tcp")));
	reg_ok(id);
	reg_due(id);
	reg_answer(id, 503, "Service Unavailable", "Retry-After: 60\r\n");
	learn_reg('Q', "rq@localhost", RS_FAILED);

	/* U: unlinking (the Expires: 0 REGISTER in flight); legacy fields */
	id = reg_set("ru", "<username>ru@127.0.0.1:5070</username>"
			   "<password>pw-u</password>");
	reg_ok(id);
	xin("<iq type='set' id='unreg-ru' from='ru@localhost/res' "
	    "to='sip.localhost'>" REG_Q "<remove/></query></iq>");
	find(MSG_SIP_OUT_REQUEST, "REGISTER");
	learn_reg('U', "ru@localhost", RS_UNLINKING);

	/* dave online; H: his call through the account, calling */
	xin("<presence from='" DAVE_RES "' to='sip.localhost'/>");
	x2s_initiate_from(DAVE_RES, "fzH", CAND("40006"));
	find(MSG_SIP_OUT_REQUEST, "INVITE");
	learn('H', CK_SID, "dave@localhost", "fzH");
	CHECK(strcmp(subst_get("H.out", 5), "0"), "baseline: H's INVITE");

	/* J: another, challenged once (its INVITE with credentials in
	 * flight) */
	x2s_initiate_from(DAVE_RES, "fzJ", CAND("40008"));
	learn('J', CK_SID, "dave@localhost", "fzJ");
	sresp(strtoull(subst_get("J.out", 5), NULL, 10), 401, "Unauthorized",
	      "SIP/2.0 401 Unauthorized\r\n"
	      "Via: SIP/2.0/UDP 127.0.0.1:5600;branch=%s\r\n"
	      "From: <sip:dave@127.0.0.1:5070>;tag=%s\r\n"
	      "To: <sip:bob@127.0.0.1:5070>;tag=fz-rtag-j\r\n"
	      "Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
	      "WWW-Authenticate: Digest realm=\"fz\", nonce=\"n3\", "
	      "qop=\"auth\"\r\n"
	      "Content-Length: 0\r\n\r\n",
	      subst_get("J.branch", 8), subst_get("J.ltag", 6),
	      subst_get("J.callid", 8));
	find(MSG_SIP_OUT_REQUEST, "INVITE");
	subst_drop('J'); /* J again: its new INVITE */
	learn('J', CK_SID, "dave@localhost", "fzJ");

	/* P: his chat through the account, a MESSAGE out */
	xin("<message type='chat' id='fzp' from='" DAVE_RES "' to='" BOB_GW
	    "'><body>hi</body></message>");
	subst_u64('P', "out", find(MSG_SIP_OUT_REQUEST, "MESSAGE")->out);

	/* O: another, challenged once (sent again with credentials) */
	xin("<message type='chat' id='fzo' from='" DAVE_RES "' to='" BOB_GW
	    "'><body>ho</body></message>");
	id = find(MSG_SIP_OUT_REQUEST, "MESSAGE")->out;
	sresp(id, 407, "Proxy Authentication Required",
	      "SIP/2.0 407 Proxy Authentication Required\r\n"
	      "Via: SIP/2.0/UDP 127.0.0.1:5600;branch=z9hG4bKfzo\r\n"
	      "From: <sip:dave@127.0.0.1:5070>;tag=fz-o\r\n"
	      "To: <sip:bob@127.0.0.1:5070>;tag=fz-rtag-o\r\n"
	      "Call-ID: fzO\r\nCSeq: 1 MESSAGE\r\n"
	      "Proxy-Authenticate: Digest realm=\"fz\", nonce=\"n4\"\r\n"
	      "Content-Length: 0\r\n\r\n");
	subst_u64('O', "out", find(MSG_SIP_OUT_REQUEST, "MESSAGE")->out);
}


static void baseline(void)
{
	const struct seen *inv, *ini;
	char ltag[64], branch[80];
	uint64_t out;

	keep = true;
	xin("<presence from='" ALICE_RES "' to='sip.localhost'/>");

	/* A: calling */
	x2s_initiate("fzA", CAND("40000"));
	find(MSG_SIP_OUT_REQUEST, "INVITE");
	learn('A', CK_SID, "alice@localhost", "fzA");

	/* B: active (200 with SDP and a route set, ACKed) */
	x2s_initiate("fzB", CAND("40002"));
	inv = find(MSG_SIP_OUT_REQUEST, "INVITE");
	out = inv->out;
	snprintf(branch, sizeof(branch), "%s", inv->branch);
	learn('B', CK_SID, "alice@localhost", "fzB");
	snprintf(ltag, sizeof(ltag), "%s", subst_get("B.ltag", 6));
	sresp(out, 200, "OK",
	      "SIP/2.0 200 OK\r\n"
	      "Via: SIP/2.0/UDP 127.0.0.1:5600;branch=%s\r\n"
	      "From: <sip:alice@localhost>;tag=%s\r\n"
	      "To: <" BOB_URI ">;tag=fz-rtag-b\r\n"
	      "Call-ID: fzB\r\nCSeq: 1 INVITE\r\n"
	      "Contact: <sip:peer@127.0.0.1:5070>\r\n"
	      "Record-Route: <sip:p2.example.net;lr>, "
	      "<sip:p1.example.net;lr>\r\n"
	      "Content-Type: application/sdp\r\n"
	      "Content-Length: %zu\r\n\r\n" PHONE_SDP,
	      branch, ltag, strlen(PHONE_SDP));
	find(MSG_SIP_OUT_REQUEST, "ACK");
	while (nsubst) { /* B again, with its remote tag */
		nsubst--;
		subst[nsubst].value = mem_deref(subst[nsubst].value);
	}
	learn('A', CK_SID, "alice@localhost", "fzA");
	learn('B', CK_SID, "alice@localhost", "fzB");
	CHECK(!strcmp(subst_get("B.state", 7), "3"), "baseline: B active");

	/* C: S2X ringing */
	s2x_invite(7001, "alice", "fzC@127.0.0.1", "fz-rtag-c");
	find(MSG_XMPP_OUT, "session-initiate");
	learn('C', CK_REMOTE, "fzC@127.0.0.1", "fz-rtag-c");

	/* D: S2X active */
	s2x_invite(7002, "alice", "fzD@127.0.0.1", "fz-rtag-d");
	ini = find(MSG_XMPP_OUT, "session-initiate");
	learn('D', CK_REMOTE, "fzD@127.0.0.1", "fz-rtag-d");
	xin("<iq type='set' id='acc-d' from='" ALICE_RES "' to='%s'>"
	    "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' "
	    "sid='%s' responder='" ALICE_RES "'>"
	    "<content creator='initiator' name='%s' senders='both'>" RTP_PCMU
		    ICE_OPEN("bbbb") CAND("41000") "</transport></content>"
						   "</jingle></iq>",
	    ini->from, subst_get("D.sid", 5), ini->content);
	find(MSG_SIP_OUT_RESPONSE, "200");

	/* E: waiting for candidates */
	x2s_initiate("fzE", "");
	learn('E', CK_SID, "alice@localhost", "fzE");

	/* F: proposed to carol, who is not online */
	s2x_invite(7003, "carol", "fzF@127.0.0.1", "fz-rtag-f");
	learn('F', CK_REMOTE, "fzF@127.0.0.1", "fz-rtag-f");

	/* G: cancelling */
	x2s_initiate("fzG", CAND("40004"));
	learn('G', CK_SID, "alice@localhost", "fzG");
	xin("<iq type='set' id='term-g' from='" ALICE_RES "' to='" BOB_GW
	    "'><jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' "
	    "sid='fzG'><reason><success/></reason></jingle></iq>");
	find(MSG_SIP_OUT_REQUEST, "CANCEL");

	/* M: a chat out as a MESSAGE */
	xin("<message type='chat' id='fzm' from='" ALICE_RES "' to='" BOB_GW
	    "'><body>hi</body><request xmlns='urn:xmpp:receipts'/>"
	    "</message>");
	subst_u64('M', "out", find(MSG_SIP_OUT_REQUEST, "MESSAGE")->out);

	/* N: a MESSAGE in as a chat */
	sip_in_fmt(7004,
		   "MESSAGE sip:alice@localhost SIP/2.0\r\n"
		   "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-fzn\r\n"
		   "Max-Forwards: 70\r\n"
		   "From: <" BOB_URI ">;tag=fz-rtag-n\r\n"
		   "To: <sip:alice@localhost>\r\n"
		   "Call-ID: fzN@127.0.0.1\r\nCSeq: 1 MESSAGE\r\n"
		   "Content-Type: text/plain\r\n"
		   "Content-Length: 5\r\n\r\nhello");
	subst_set('N', "xid", find(MSG_XMPP_OUT, "message")->id);

	accounts();

	/* presence: a configured phone (sip:bob@127.0.0.1; PUBLISH and its
	 * subscriptions' NOTIFYs reach it) and a SIP watcher of alice,
	 * pending (her approval not yet given) */
	CHECK(tr_phone_ensure(&tr, &tr.proc.cfg->presence.phones[0]),
	      "baseline: the phone");
	sip_in_fmt(9101,
		   "SUBSCRIBE sip:alice@localhost SIP/2.0\r\n"
		   "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-fzw\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:carol@127.0.0.1:5070>"
		   ";tag=fzw\r\nTo: <sip:alice@localhost>\r\n"
		   "Call-ID: fzW\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n"
		   "Expires: 600\r\nContact: <sip:carol@127.0.0.1:5070>\r\n"
		   "Content-Length: 0\r\n\r\n");
	keep = false;
}


static void cleanup(void)
{
	char cmd[128];

	if (!ready)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd)) {
		/* nothing to do about it at exit */
	}
}


static int chan_frame(struct chan *ch, struct frame *fr, void *arg)
{
	return EPROTO; /* the fronts never write here */
}


static void front(struct tr_peer *p, enum proc_id id, int *mine)
{
	int sv[2], big = 4 << 20;

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	p->id = id;
	CHECK(!chan_alloc(&p->ch, sv[0], proc_name(id), chan_frame, NULL, NULL,
			  NULL),
	      "chan_alloc");
	*mine = sv[1];
}


void trh_init(void)
{
	struct xsgw_config *cfg = NULL;
	char path[128], eb[256];
	const char *lv = getenv("TRH_LOG");
	FILE *f;

	if (ready)
		return;
	dump = getenv("TRH_DUMP") != NULL;
	strict = getenv("TRH_LAX") == NULL;
	log_setup(lv ? LOG_DEBUG : LOG_ERROR, 0);
	xmpp_initialize();
	CHECK(!libre_init(), "libre_init");
	strcpy(dir, "/tmp/xsgw-fuzz-XXXXXX");
	CHECK(mkdtemp(dir), "mkdtemp");
	ready = true;
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/xsgw.yaml", dir);
	f = fopen(path, "w");
	CHECK(f, "%s", path);
	fprintf(f,
		"xmpp: {component: sip.localhost, host: 127.0.0.1, "
		"port: 5347, secret: s3cret, domains: [localhost]}\n"
		"sip: {listen: \"127.0.0.1:5600\", proxy: \"\", "
		"domain: \"127.0.0.1:5070\", message_timeout_ms: 4000, "
		"ring_timeout_ms: 60000, call_idle_timeout_s: 3600, "
		"propose_timeout_ms: 1000, candidate_wait_ms: 300}\n"
		"presence: {server: \"127.0.0.1:5070\", phones: [{sip: "
		"\"sip:bob@127.0.0.1\", jid: \"alice@localhost\", "
		"resource: desk, password: pw-desk}], "
		"client_server: \"127.0.0.1:5222\"}\n"
		"store: {path: %s/store, map_size: 64MiB}\n"
		"runtime: {dir: %s/run}\n"
		"log: {level: error}\n",
		dir, dir);
	fclose(f);
	CHECK(!config_load(&cfg, path, eb, sizeof(eb)), "config: %s", eb);
	log_setup(lv ? LOG_DEBUG : LOG_ERROR, 0);
	memset(&tr, 0, sizeof(tr));
	tr.proc.id = PROC_TRANSLATOR;
	tr.proc.cfg = cfg;
	list_init(&tr.after);
	tr.lfd = -1;
	CHECK(!store_open(&tr.store, cfg->store.path, cfg->store.map_size, 0),
	      "store_open");
	tr.xctx = xmpp_ctx_new(NULL, NULL);
	CHECK(tr.xctx, "xmpp_ctx_new");
	real_commit = true;
	CHECK(!tr_upgrade(&tr), "tr_upgrade");
	front(&tr.xmpp, PROC_XMPP_FRONT, &xfd);
	front(&tr.sip, PROC_SIP_FRONT, &sfd);
	baseline();
	real_commit = false;
	if (dump)
		for (unsigned i = 0; i < nsubst; i++)
			fprintf(stderr, "@%s@ = %s\n", subst[i].name,
				subst[i].value);
}
