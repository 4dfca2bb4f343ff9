/**
 * @file sf_strans.c  Server transactions: requests waiting for the
 *                     translator's answer, and 2xx responses to INVITE
 *                     retransmitted until their ACK (RFC 3261 13.3.1.4).
 *
 * libre's sip_strans absorbs retransmitted requests and retransmits final
 * responses; this file keeps the libre transaction until the translator
 * answers. After a restart of this front, a response to a request it no
 * longer has is sent from the stored raw request (the translator keeps it)
 * through a new server transaction under the same tx id.
 *
 * Requests from the network start here (sf_strans_request): what must not
 * reach the translator is refused (source not in sip.trusted, ACK too;
 * bytes that are not text; what libre's parser leaves to us, or cannot
 * parse at all: a helper on its UDP socket; an option tag in Require, 420:
 * the gateway supports no extension in a request). A request waits for the
 * translator 30 s; then it is answered 503 unless the translator has
 * acknowledged its frame, whose deadline tells a later translator to drop
 * it.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "util.h"
#include "sip_front.h"

enum {
	STRANS_TIMEOUT_MS = 30000,
	UDP_RXSZ = 65535, /**< RFC 3261 18.1.1: up to 64 KiB over UDP */
};

/** A request waiting for the translator's answer. */
struct strans {
	struct le he;
	uint64_t tx;
	uint64_t seq; /**< its frame to the translator; 0: none (restored) */
	struct sip_strans *st;
	struct sip_msg *msg;
	struct tmr tmr;
	struct sip_front *sf;
};

/** A 2xx to an INVITE, retransmitted until its ACK. */
struct okx {
	struct le he;  /**< in sf->okx */
	struct le ihe; /**< in sf->okx_ids */
	uint64_t out;
	char *callid;
	uint32_t cseq;
	char *ftag, *ttag; /**< the dialog's tags: the ACK must carry them */
	struct mbuf *mb;
	struct sa dst;
	enum sip_transp tp;
	struct tmr retr, timeout;
	uint32_t interval;
	struct sip_front *sf;
};

static sf_strans_cancel_h *cancel_h;


static void strans_destructor(void *arg)
{
	struct strans *s = arg;

	tmr_cancel(&s->tmr);
	hash_unlink(&s->he);
	mem_deref(s->st);
	mem_deref(s->msg);
}


static void okx_destructor(void *arg)
{
	struct okx *o = arg;

	tmr_cancel(&o->retr);
	tmr_cancel(&o->timeout);
	hash_unlink(&o->he);
	hash_unlink(&o->ihe);
	mem_deref(o->callid);
	mem_deref(o->ftag);
	mem_deref(o->ttag);
	mem_deref(o->mb);
}


int sf_strans_init(struct sip_front *sf, sf_strans_cancel_h *cancelh)
{
	int err = hash_alloc(&sf->strans, SF_HASH_BUCKETS);

	if (!err)
		err = hash_alloc(&sf->okx, SF_HASH_BUCKETS);
	if (!err)
		err = hash_alloc(&sf->okx_ids, SF_HASH_BUCKETS);
	cancel_h = cancelh;
	/* tx ids are unique across incarnations: a response the translator
	 * owes a request of a previous one must not reach a request that
	 * took the same number since (random high half, a counter below) */
	sf->next_tx = random_u64() & 0x7fffffff00000000ULL;
	return err;
}


static uint32_t strans_timeout(const struct sip_front *sf)
{
	return sf->strans_timeout_ms ? sf->strans_timeout_ms
				     : STRANS_TIMEOUT_MS;
}


/* A request is answered 503 only if the translator can no longer act on
 * it: its frame was not acknowledged (committed), and a translator that
 * applies it later finds its deadline (a sixth of the wait before this)
 * passed and only answers it 503 too. An acknowledged request is the
 * translator's to answer. */
static void strans_timeout_handler(void *arg)
{
	struct strans *s = arg;

	if (sf_report_acked(s->sf, s->seq)) {
		log_debug("tx %llu: the translator has it; its answer waits",
			  (unsigned long long)s->tx);
		return;
	}
	log_warn("no answer from the translator for tx %llu; 503",
		 (unsigned long long)s->tx);
	sip_treplyf(&s->st, NULL, s->sf->sip, s->msg, false, 503,
		    "Service Unavailable",
		    "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
	mem_deref(s);
}


static bool strans_match(struct le *le, void *arg)
{
	const struct strans *s = le->data;

	return s->tx == *(const uint64_t *)arg;
}


static struct strans *strans_find(struct sip_front *sf, uint64_t tx)
{
	return list_ledata(
		hash_lookup(sf->strans, (uint32_t)tx, strans_match, &tx));
}


/* libre answered a CANCEL for an INVITE we hold: hand the translator the
 * CANCEL it would have had (RFC 3261 9.1: same Call-ID, From, To, CSeq
 * number, Request-URI and top Via as the INVITE). */
static void strans_cancel_handler(void *arg)
{
	struct strans *s = arg;
	const struct sip_msg *inv = s->msg;
	struct sip_msg cancel;
	struct mbuf *mb = mbuf_alloc(512);
	int err;

	if (!mb)
		return;
	err = mbuf_printf(mb,
			  "CANCEL %r SIP/2.0\r\nVia: %r\r\nFrom: %r\r\n"
			  "To: %r\r\nCall-ID: %r\r\nCSeq: %u CANCEL\r\n"
			  "Content-Length: 0\r\n\r\n",
			  &inv->ruri, &sip_msg_hdr(inv, SIP_HDR_VIA)->val,
			  &inv->from.val, &inv->to.val, &inv->callid,
			  inv->cseq.num);
	if (!err && cancel_h) {
		memset(&cancel, 0, sizeof(cancel));
		cancel.mb = mb;
		cancel.src = inv->src;
		cancel.tp = inv->tp;
		cancel_h(&cancel, s->sf);
	}
	mem_deref(mb);
}


static struct strans *strans_make(struct sip_front *sf,
				  const struct sip_msg *msg, uint64_t tx)
{
	struct strans *s = mem_zalloc(sizeof(*s), strans_destructor);
	bool invite = !pl_strcmp(&msg->met, "INVITE");

	if (!s || sip_strans_alloc(&s->st, sf->sip, msg,
				   invite ? strans_cancel_handler : NULL, s))
		return mem_deref(s);
	s->sf = sf;
	s->tx = tx;
	s->msg = mem_ref((void *)msg);
	tmr_init(&s->tmr);
	/* a request the translator has not answered at all by then gets a
	 * 503; an INVITE it answered provisionally waits for the callee */
	tmr_start(&s->tmr, strans_timeout(sf), strans_timeout_handler, s);
	hash_append(sf->strans, (uint32_t)s->tx, &s->he, s);
	return s;
}


uint64_t sf_strans_new(struct sip_front *sf, const struct sip_msg *msg)
{
	struct strans *s = strans_make(sf, msg, sf->next_tx + 1);

	if (!s) {
		sip_replyf(sf->sip, msg, 500, "Server Internal Error",
			   "Content-Length: 0\r\n\r\n");
		return 0;
	}
	return ++sf->next_tx;
}


void sf_strans_refuse(struct sip_front *sf, uint64_t tx, int err)
{
	struct strans *s = strans_find(sf, tx);

	if (!s)
		return;
	LOG_LIMITED(LOG_WARN, "%r from %J: %s", &s->msg->met, &s->msg->src,
		    strerror(err));
	sip_treplyf(&s->st, NULL, sf->sip, s->msg, false,
		    err == EMSGSIZE ? 413 : 500,
		    err == EMSGSIZE ? "Request Entity Too Large"
				    : "Server Internal Error",
		    "Content-Length: 0\r\n\r\n");
	mem_deref(s);
}


/* RFC 3261 17.2.1/13.3.1.4: the ACK of our 2xx is in its dialog (Call-ID,
 * both tags) with the INVITE's CSeq number. */
static bool okx_match(struct le *le, void *arg)
{
	const struct okx *o = le->data;
	const struct sip_msg *msg = arg;

	return o->cseq == msg->cseq.num &&
	       !pl_strcmp(&msg->callid, o->callid) &&
	       !pl_strcmp(&msg->from.tag, o->ftag) &&
	       !pl_strcmp(&msg->to.tag, o->ttag);
}


bool sf_strans_ack(struct sip_front *sf, const struct sip_msg *msg)
{
	struct okx *o = list_ledata(hash_lookup(
		sf->okx, hash_joaat_pl(&msg->callid), okx_match, (void *)msg));

	if (!o)
		return false;
	sf_report_done(sf, o->out, 200, "ACK");
	mem_deref(o);
	return true;
}


static void okx_retr_handler(void *arg)
{
	struct okx *o = arg;

	o->mb->pos = 0;
	(void)sip_send(o->sf->sip, NULL, o->tp, &o->dst, o->mb);
	o->interval = o->interval * 2 > SIP_T2 ? SIP_T2 : o->interval * 2;
	tmr_start(&o->retr, o->interval, okx_retr_handler, o);
}


static void okx_timeout_handler(void *arg)
{
	struct okx *o = arg;

	log_info("out %llu: no ACK for the 2xx", (unsigned long long)o->out);
	sf_report_done(o->sf, o->out, 408, "No ACK");
	mem_deref(o);
}


static bool okx_out_match(struct le *le, void *arg)
{
	return ((struct okx *)le->data)->out == *(const uint64_t *)arg;
}


static int dup_pl(char **dst, const struct pl *pl)
{
	return pl_isset(pl) ? pl_strdup(dst, pl) : str_dup(dst, "");
}


/* Keep retransmitting a 2xx to INVITE until the ACK (Timer G/H analogue,
 * RFC 3261 13.3.1.4); on TCP only the timeout runs. */
static void okx_start(struct sip_front *sf, uint64_t out,
		      const struct sip_msg *req, struct mbuf *mb)
{
	struct sip_msg *resp = NULL;
	struct pl rport;
	struct okx *o;
	int err;

	if (!out ||
	    hash_lookup(sf->okx_ids, (uint32_t)out, okx_out_match, &out))
		return;
	o = mem_zalloc(sizeof(*o), okx_destructor);
	mb->pos = 0; /* the tags as sent (libre may have added the To-tag) */
	err = o ? sip_msg_decode(&resp, mb) : ENOMEM;
	mb->pos = 0;
	if (!err)
		err = pl_strdup(&o->callid, &req->callid);
	if (!err)
		err = dup_pl(&o->ftag, &resp->from.tag);
	if (!err)
		err = dup_pl(&o->ttag, &resp->to.tag);
	mem_deref(resp);
	if (err) {
		mem_deref(o);
		return;
	}
	o->sf = sf;
	o->out = out;
	o->cseq = req->cseq.num;
	o->mb = mem_ref(mb);
	o->tp = req->tp;
	/* where libre sent the first one (RFC 3261 18.2.2 and RFC 3581: the
	 * source port only if the Via asked for rport) */
	sip_reply_addr(&o->dst, req,
		       !msg_param_exists(&req->via.params, "rport", &rport));
	tmr_init(&o->retr);
	tmr_init(&o->timeout);
	hash_append(sf->okx, hash_joaat_pl(&req->callid), &o->he, o);
	hash_append(sf->okx_ids, (uint32_t)out, &o->ihe, o);
	if (o->tp == SIP_TRANSP_UDP) {
		o->interval = T1_OF(sf);
		tmr_start(&o->retr, T1_OF(sf), okx_retr_handler, o);
	}
	tmr_start(&o->timeout, TB_OF(sf), okx_timeout_handler, o);
}


/* The server transaction for tx: the live one, or a new one for the
 * stored request (this front restarted since). NULL if unusable. */
static struct strans *strans_for(struct sip_front *sf,
				 const struct m_sip_out_response *m)
{
	struct strans *sx = strans_find(sf, m->tx);
	struct sip_msg *req = NULL;
	struct mbuf *in;
	int err;

	if (sx || !m->raw.l) /* no raw: e.g. the translator's 503 for a
				request past its deadline, answered here */
		return sx;
	log_debug("out %llu: tx %llu is not live; a transaction for the "
		  "stored request",
		  (unsigned long long)m->out, (unsigned long long)m->tx);
	in = mbuf_alloc(m->raw.l);
	err = in ? mbuf_write_mem(in, (const uint8_t *)m->raw.p, m->raw.l)
		 : ENOMEM;
	if (!err) {
		in->pos = 0;
		err = sip_msg_decode(&req, in);
	}
	if (!err)
		err = sf_src_decode(&m->src, &req->src, &req->tp);
	if (!err) {
		req->dst = sf->laddr;
		sx = strans_make(sf, req, m->tx);
	}
	mem_deref(req);
	mem_deref(in);
	return sx;
}


int sf_strans_respond(struct sip_front *sf, const struct m_sip_out_response *m)
{
	struct sip_strans *st = NULL;
	struct strans *sx;
	struct sip_msg *req = NULL;
	struct mbuf *out = NULL;
	char reason[128];
	bool rr;
	int err;

	if (m->out && (tlink_is_done(sf->tl, m->out) ||
		       hash_lookup(sf->okx_ids, (uint32_t)m->out, okx_out_match,
				   (void *)&m->out)))
		return 0; /* a re-send of what this incarnation did */
	/* a long phrase is the translator's wording, not a broken frame */
	pl_strcpy(&m->reason, reason, sizeof(reason));

	sx = strans_for(sf, m);
	if (!sx && !m->raw.l) {
		log_debug("out %llu: tx %llu is gone; %u not sent",
			  (unsigned long long)m->out, (unsigned long long)m->tx,
			  m->scode);
		sf_report_done(sf, m->out, 500, "Transaction gone");
		return 0;
	}
	if (!sx) {
		log_warn("out %llu: stored request unusable",
			 (unsigned long long)m->out);
		sf_report_done(sf, m->out, 500, "Bad stored request");
		return 0;
	}
	req = mem_ref(sx->msg);
	if (m->scode >= 200) {
		st = sx->st; /* libre's from now (retransmissions) */
		sx->st = NULL;
		mem_deref(sx);
	} else {
		st = sx->st;
		tmr_cancel(&sx->tmr); /* answered: the translator's timers
					 rule */
	}
	/* the dialog's tag, else libre's, random per request (RFC 3261
	 * 19.3: a tag is unique; sip_msg_decode draws one) */
	if (m->totag)
		req->tag = m->totag;
	/* RFC 3261 12.1.1, RFC 6665 4.1.2.1: a response that creates a
	 * dialog (INVITE's, SUBSCRIBE's) copies Record-Route; in a dialog the
	 * UAC ignores it (12.2.1.2). A REFER is only taken in a call's
	 * dialog: its subscription shares that one. */
	rr = m->scode > 100 && m->scode < 300 &&
	     (!pl_strcmp(&req->met, "INVITE") ||
	      !pl_strcmp(&req->met, "SUBSCRIBE"));
	err = sip_treplyf(&st, &out, sf->sip, req, rr, (uint16_t)m->scode,
			  reason, "%rContent-Length: %zu\r\n\r\n%r", &m->hdrs,
			  m->body.l, &m->body);
	if (m->scode < 200 && sx)
		sx->st = st;
	if (err) {
		log_info("out %llu: cannot send %u: %s",
			 (unsigned long long)m->out, m->scode, strerror(err));
		sf_report_done(sf, m->out, 503, "Send failed");
	} else if (m->scode >= 200 && m->scode < 300 &&
		   !pl_strcmp(&req->cseq.met, "INVITE"))
		okx_start(sf, m->out, req, out);
	else
		sf_report_done(sf, m->out, (uint16_t)m->scode, reason);
	mem_deref(req);
	mem_deref(out);
	return 0;
}


/* Requests from the network */


bool sf_strans_trusted(const struct sip_front *sf, const struct sa *src)
{
	const struct xsgw_config *cfg = sf->proc.cfg;

	for (size_t i = 0; i < cfg->sip.ntrusted; i++) {
		const struct cfg_net *n = &cfg->sip.trusted[i];
		const uint8_t *a;
		unsigned bits = n->prefix, len;

		if (n->v6 != (sa_af(src) == AF_INET6))
			continue;
		a = n->v6 ? (const uint8_t *)&src->u.in6.sin6_addr
			  : (const uint8_t *)&src->u.in.sin_addr;
		len = bits / 8;
		if (memcmp(a, n->addr, len))
			continue;
		if (bits % 8 &&
		    (a[len] ^ n->addr[len]) & (0xff << (8 - bits % 8)))
			continue;
		return true;
	}
	return false;
}


static void reply(struct sip_front *sf, const struct sip_msg *msg,
		  uint16_t scode, const char *reason)
{
	sip_replyf(sf->sip, msg, scode, reason, "Content-Length: 0\r\n\r\n");
}


/* RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" /
 * "+" / "`" / "'" / "~") */
static bool is_token(const struct pl *pl)
{
	for (size_t i = 0; i < pl->l; i++) {
		const unsigned char c = (unsigned char)pl->p[i];

		if (c < 0x80 && isalnum(c))
			continue;
		if (!c || !strchr("-.!%*_+`'~", c))
			return false;
	}
	return pl->l > 0;
}


/** The option tags of a request's Require headers. */
struct required {
	struct mbuf *tags; /**< "a, b" */
	int err;           /**< EBADMSG: a value is not an option tag */
};


/* One Require value (libre splits the header's comma-separated list and
 * trims it): an empty one requires nothing. */
static bool require_apply(const struct sip_hdr *hdr, const struct sip_msg *msg,
			  void *arg)
{
	struct required *rq = arg;

	if (!hdr->val.l)
		return false;
	if (!is_token(&hdr->val))
		rq->err = EBADMSG;
	else
		rq->err = mbuf_printf(rq->tags, "%s%r",
				      rq->tags->end ? ", " : "", &hdr->val);
	return rq->err != 0;
}


/* RFC 3261 8.2.2.3: a request (not ACK, not CANCEL) that requires an
 * option tag is answered 420 Bad Extension, the tags as Unsupported, and
 * goes no further: the gateway supports no extension in a request (no
 * 100rel, timer, replaces). A value that is not a token is answered 400;
 * the tags echoed are tokens only.
 * @return true if msg was answered */
static bool require_refused(struct sip_front *sf, const struct sip_msg *msg)
{
	struct required rq = {NULL, 0};
	int err;

	if (!sip_msg_hdr(msg, SIP_HDR_REQUIRE))
		return false;
	rq.tags = mbuf_alloc(64);
	if (!rq.tags) {
		err = ENOMEM;
		goto out;
	}
	(void)sip_msg_hdr_apply(msg, true, SIP_HDR_REQUIRE, require_apply, &rq);
	err = rq.err;
	if (!err && !rq.tags->end) {
		mem_deref(rq.tags);
		return false; /* only empty values */
	}
	if (err)
		goto out;
	LOG_LIMITED(LOG_INFO, "%r from %J: 420, Require %b", &msg->met,
		    &msg->src, rq.tags->buf, min(rq.tags->end, (size_t)128));
	err = sip_replyf(sf->sip, msg, 420, "Bad Extension",
			 "Unsupported: %b\r\nContent-Length: 0\r\n\r\n",
			 rq.tags->buf, rq.tags->end);
out:
	if (err == EBADMSG) {
		LOG_LIMITED(LOG_INFO, "%r from %J: Bad Require", &msg->met,
			    &msg->src);
		reply(sf, msg, 400, "Bad Require");
	} else if (err)
		LOG_LIMITED(LOG_WARN, "%r from %J: 420 not sent: %s", &msg->met,
			    &msg->src, strerror(err));
	mem_deref(rq.tags);
	return true;
}


/* A From/To URI user, percent-decoded, becomes a JID node: no control
 * bytes, valid UTF-8 (RFC 7622), within a JID's 1023 bytes.
 * @return NULL, or why not */
static const char *user_bad(const struct pl *user)
{
	char buf[1024];
	int n;

	if (!user->l)
		return NULL;
	n = re_snprintf(buf, sizeof(buf), "%H", uri_user_unescape, user);
	if (n < 0)
		return "URI User Too Long";
	for (int i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return "Invalid Character In URI";
	return utf8_xml_valid(buf, (size_t)n) ? NULL
					      : "Invalid Character In URI";
}


/* RFC 3261 25.1: a display name not in quotes is tokens and LWS (folded
 * lines too; RFC 4475 3.1.2.15: "Bell, Alexander" unquoted); bytes over
 * 0x7f are let through (phones write UTF-8 names unquoted). */
static bool dname_bad(const struct sip_taddr *a)
{
	const char *p = a->val.p, *lt = a->auri.p - 1;

	if (!a->auri.l || lt < p || *lt != '<')
		return false; /* an addr-spec: no display name */
	while (p < lt && (*p == ' ' || *p == '\t'))
		p++;
	if (p < lt && *p == '"')
		return false; /* quoted: libre reads it */
	for (; p < lt; p++) {
		const unsigned char c = (unsigned char)*p;

		if (c < 0x80 && !isalnum(c) &&
		    (!c || !strchr("-.!%*_+`'~ \t\r\n", c)))
			return true;
	}
	return false;
}


/* Checks libre's parser leaves to us (RFC 4475 torture cases), and bytes
 * the translator must never see: header values end up in XML (display
 * names, users, Call-ID) and in store keys. */
static const char *msg_invalid(const struct sip_msg *msg)
{
	const char *head = (const char *)msg->mb->buf;
	size_t hlen = msg->mb->pos; /* request line and headers */
	const char *bad;
	uint32_t clen;

	if (memchr(head, 0x7f, hlen) || !utf8_xml_valid(head, hlen))
		return "Invalid Character In Header";
	bad = user_bad(&msg->from.uri.user);
	if (!bad)
		bad = user_bad(&msg->to.uri.user);
	if (bad)
		return bad;
	if (dname_bad(&msg->from))
		return "Bad From";
	if (dname_bad(&msg->to))
		return "Bad To";
	/* RFC 4475 3.1.2.14: no whitespace inside <> (libre takes it) */
	if (pl_strchr(&msg->from.auri, ' ') || pl_strchr(&msg->from.auri, '\t'))
		return "Bad From";
	if (pl_strchr(&msg->to.auri, ' ') || pl_strchr(&msg->to.auri, '\t'))
		return "Bad To";
	if (!msg->callid.l)
		return "Missing Call-ID";
	if (!msg->from.tag.l)
		return "Missing From Tag";
	if (!msg->cseq.met.l || pl_cmp(&msg->cseq.met, &msg->met))
		return "CSeq Method Mismatch";
	if (msg->clen.l) {
		if (pl_isset(&msg->clen) &&
		    strspn(msg->clen.p, "0123456789") < msg->clen.l)
			return "Bad Content-Length";
		clen = pl_u32(&msg->clen);
		if (clen != mbuf_get_left(msg->mb))
			return "Content-Length Mismatch";
	}
	if (sip_msg_hdr_count(msg, SIP_HDR_CONTENT_LENGTH) > 1)
		return "Multiple Content-Length";
	return NULL;
}


/* The first header line named name (or its compact form c) of a raw header
 * section, from *rest on: its value in v, *rest moved past it. */
static bool raw_next(struct pl *rest, const char *name, char c, struct pl *v)
{
	struct pl line, n;

	while (rest->l) {
		const char *e = pl_strchr(rest, '\n');

		line.p = rest->p;
		line.l = e ? (size_t)(e - rest->p) : rest->l;
		pl_advance(rest, e ? line.l + 1 : rest->l);
		if (re_regex(line.p, line.l, "[^: \t]+[ \t]*:[ \t]*[^\r]*", &n,
			     NULL, NULL, v))
			continue;
		if (n.p != line.p) /* a name starts the line */
			continue;
		if (!pl_strcasecmp(&n, name) ||
		    (n.l == 1 && (n.p[0] | 0x20) == c))
			return true;
	}
	return false;
}


/* Every header line named name (or c) of a raw header section, or the
 * first one unless all (Via: all). */
static int raw_hdr(struct mbuf *out, const struct pl *head, const char *name,
		   char c, bool all)
{
	struct pl rest = *head, v;
	int err = 0;

	while (!err && raw_next(&rest, name, c, &v)) {
		err = mbuf_printf(out, "%s: %r\r\n", name, &v);
		if (!all)
			break;
	}
	return err;
}


/* A To value with a tag parameter (any case). */
static bool raw_tagged(const struct pl *to)
{
	const char *p = to->p, *end = to->p + to->l;

	/* ";" LWS "tag" LWS "=" (RFC 3261 25.1: SEMI and EQUAL take LWS) */
	while ((p = memchr(p, ';', (size_t)(end - p)))) {
		p++;
		while (p < end && *p && strchr(" \t\r\n", *p))
			p++;
		if (end - p < 3 || strncasecmp(p, "tag", 3))
			continue;
		p += 3;
		while (p < end && *p && strchr(" \t\r\n", *p))
			p++;
		if (p < end && *p == '=')
			return true;
	}
	return false;
}


struct mbuf *sf_strans_raw_answer(const struct pl *head, uint16_t scode,
				  const char *reason)
{
	struct pl first = *head, rest = *head, ver, to;
	struct mbuf *resp = mbuf_alloc(1024);
	const char *end;
	size_t vpos;
	int err;

	if (!resp)
		return NULL;
	end = memchr(head->p, '\r', head->l);
	first.l = end ? (size_t)(end - head->p) : head->l;
	/* re_regex: one pl per [] class, and no anchors */
	if (!scode && !re_regex(first.p, first.l, "SIP/[0-9.]+", &ver) &&
	    pl_strcmp(&ver, "2.0")) {
		scode = 505;
		reason = "Version Not Supported";
	} else if (!scode) {
		scode = 400;
		reason = "Bad Request";
	}
	err = mbuf_printf(resp, "SIP/2.0 %u %s\r\n", scode, reason);
	vpos = resp->end;
	if (!err)
		err = raw_hdr(resp, head, "Via", 'v', true);
	if (!err && resp->end == vpos) /* nowhere to answer (18.2.1) */
		err = EBADMSG;
	if (!err)
		err = raw_hdr(resp, head, "From", 'f', false);
	/* RFC 3261 8.2.6.2: our To tag, if the request has none */
	if (!err && raw_next(&rest, "To", 't', &to))
		err = raw_tagged(&to)
			      ? mbuf_printf(resp, "To: %r\r\n", &to)
			      : mbuf_printf(resp, "To: %r;tag=%016llx\r\n", &to,
					    (unsigned long long)rand_u64());
	if (!err)
		err = raw_hdr(resp, head, "Call-ID", 'i', false);
	if (!err)
		err = raw_hdr(resp, head, "CSeq", '\0', false);
	if (!err)
		err = mbuf_printf(resp, "Content-Length: 0\r\n\r\n");
	if (err)
		return mem_deref(resp);
	resp->pos = 0;
	return resp;
}


/* Where a response to an undecoded request goes (RFC 3261 18.2.2, RFC
 * 3581): the source address; the source port if the top Via asks for
 * rport or cannot be read, else its sent-by port (5060 by default). */
static void raw_reply_addr(struct sa *dst, const struct sa *src,
			   const struct pl *via)
{
	struct pl sentby;
	const char *c;

	*dst = *src;
	if (!via->l || memmem(via->p, via->l, "rport", 5))
		return;
	if (re_regex(via->p, via->l, "/[ \t]*[A-Za-z]+[ \t]+[^;, \t\r]+", NULL,
		     NULL, NULL, &sentby))
		return;
	c = sentby.p[0] == '[' ? pl_strchr(&sentby, ']') : sentby.p;
	c = c ? memchr(c, ':', sentby.l - (size_t)(c - sentby.p)) : NULL;
	if (c) {
		struct pl port = {c + 1, sentby.l - (size_t)(c + 1 - sentby.p)};
		sa_set_port(dst, pl_u32(&port));
	} else
		sa_set_port(dst, 5060);
}


/* libre drops a request it cannot parse, unanswered; RFC 4475 3.1.2 wants
 * 400 (505 for another SIP version). A UDP helper sees each datagram
 * before libre's SIP stack: one that starts like a request and does not
 * decode is answered here, statelessly, from its raw header lines. (TCP:
 * libre closes the connection; nothing of ours is called.) */
static bool undecodable_helper(struct sa *src, struct mbuf *mb, void *arg)
{
	struct sip_front *sf = arg;
	const uint8_t *p = mbuf_buf(mb), *end;
	const size_t pos = mb->pos, left = mbuf_get_left(mb);
	struct sip_msg *msg = NULL;
	struct mbuf *resp;
	struct pl head;
	bool bad;

	if (left < 8 || !isalpha(p[0]) || !memcmp(p, "SIP/", 4) ||
	    !memcmp(p, "ACK ", 4))
		return false; /* not a request (STUN, keepalive, response), or
				 an ACK: never answered (RFC 3261 17.2.3) */
	bad = sip_msg_decode(&msg, mb) != 0;
	mb->pos = pos;
	mem_deref(msg);
	if (!bad)
		return false;
	if (!sf_strans_trusted(sf, src))
		return true;
	end = memmem(p, left, "\r\n\r\n", 4);
	head.p = (const char *)p;
	head.l = end ? (size_t)(end - p) + 2 : left;
	resp = sf_strans_raw_answer(&head, 0, NULL);
	if (resp) {
		struct pl rest = head, via = PL_INIT;
		struct sa dst;

		(void)raw_next(&rest, "Via", 'v', &via);
		raw_reply_addr(&dst, src, &via);
		LOG_LIMITED(LOG_INFO, "undecodable request from %J: %b", src,
			    (const char *)resp->buf + 8, (size_t)3);
		(void)udp_send(sf->us, &dst, resp);
		mem_deref(resp);
	} else /* nowhere to answer (RFC 3261 18.2.1) */
		LOG_LIMITED(LOG_INFO, "undecodable request from %J dropped",
			    src);
	return true;
}


/* Our probe came back: libre's UDP socket reads datagrams up to 64 KiB
 * (its default, 8 KiB, truncates larger ones into "Content-Length
 * Mismatch") and undecodable requests are answered. libre 1.1.0 has no
 * other way to reach the socket of a SIP transport than a message it
 * received on it. */
static void probe_in(struct sip_front *sf, const struct sip_msg *msg)
{
	sf->probe = 0;
	sf->us = mem_ref(msg->sock);
	udp_rxsz_set(sf->us, UDP_RXSZ);
	if (udp_register_helper(&sf->uh, sf->us, 0, NULL, undecodable_helper,
				sf))
		log_warn("undecodable requests go unanswered");
	log_debug("UDP socket: receive size %u", UDP_RXSZ);
}


static bool is_probe(const struct sip_front *sf, const struct sip_msg *msg)
{
	char cid[40];

	if (!sf->probe || msg->tp != SIP_TRANSP_UDP ||
	    sa_port(&msg->src) != sa_port(&sf->laddr))
		return false;
	re_snprintf(cid, sizeof(cid), "xsgw-probe-%016llx",
		    (unsigned long long)sf->probe);
	return !pl_strcmp(&msg->callid, cid);
}


int sf_strans_probe(struct sip_front *sf)
{
	struct mbuf *mb = mbuf_alloc(512);
	struct sa dst = sf->laddr;
	int err;

	if (!mb)
		return ENOMEM;
	if (sa_is_any(&dst)) /* a wildcard listener: to ourselves */
		(void)sa_set_str(&dst,
				 sa_af(&dst) == AF_INET6 ? "::1" : "127.0.0.1",
				 sa_port(&sf->laddr));
	sf->probe = random_u64() | 1;
	err = mbuf_printf(mb,
			  "OPTIONS sip:probe@%J SIP/2.0\r\n"
			  "Via: SIP/2.0/UDP %J;branch=z9hG4bKxsgwprobe%llx\r\n"
			  "Max-Forwards: 0\r\n"
			  "From: <sip:probe@%J>;tag=probe\r\n"
			  "To: <sip:probe@%J>\r\n"
			  "Call-ID: xsgw-probe-%016llx\r\n"
			  "CSeq: 1 OPTIONS\r\n"
			  "Content-Length: 0\r\n\r\n",
			  &dst, &dst, (unsigned long long)sf->probe, &dst, &dst,
			  (unsigned long long)sf->probe);
	if (!err) {
		mb->pos = 0;
		err = sip_send(sf->sip, NULL, SIP_TRANSP_UDP, &dst, mb);
	}
	mem_deref(mb);
	return err;
}


/* A request for the translator, in a server transaction (not ACK). */
static void request_in(struct sip_front *sf, const struct sip_msg *msg)
{
	uint32_t wait = strans_timeout(sf);
	uint64_t tx = 0;
	struct strans *s;
	int err;

	if (pl_strcmp(&msg->met, "ACK")) {
		tx = sf_strans_new(sf, msg);
		if (!tx)
			return;
	}
	err = sf_report_request(sf, msg, tx,
				tx ? wall_ms() + wait - wait / 6 : 0);
	s = tx ? strans_find(sf, tx) : NULL;
	if (err && tx)
		sf_strans_refuse(sf, tx, err);
	else if (s)
		s->seq = sf->nrel;
}


void sf_strans_request(struct sip_front *sf, const struct sip_msg *msg)
{
	const bool ack = !pl_strcmp(&msg->met, "ACK");
	const char *bad;

	if (is_probe(sf, msg)) {
		probe_in(sf, msg);
		return;
	}
	/* an ACK too: it completes a 2xx, and reaches the translator */
	if (!sf_strans_trusted(sf, &msg->src)) {
		LOG_LIMITED(LOG_INFO, "%r from untrusted %J refused", &msg->met,
			    &msg->src);
		if (!ack)
			reply(sf, msg, 403, "Forbidden");
		return;
	}
	bad = msg_invalid(msg);
	if (bad) {
		LOG_LIMITED(LOG_INFO, "%r from %J: %s", &msg->met, &msg->src,
			    bad);
		if (!ack) /* never answered (RFC 3261 17.2.3) */
			reply(sf, msg, 400, bad);
		return;
	}
	if (ack) {
		if (!sf_strans_ack(sf, msg) && msg->to.tag.l)
			request_in(sf, msg);
		return;
	}
	if (pl_strcmp(&msg->met, "CANCEL") && require_refused(sf, msg))
		return;
	if (msg->maxfwd.l && pl_u32(&msg->maxfwd) == 0 &&
	    pl_strcmp(&msg->met, "OPTIONS")) {
		reply(sf, msg, 483, "Too Many Hops");
		return;
	}
	request_in(sf, msg); /* the translator decides, OPTIONS and 405 too */
}


static bool flush_apply(struct le *le, void *arg)
{
	mem_deref(le->data);
	return false;
}


void sf_strans_flush(struct sip_front *sf)
{
	hash_apply(sf->okx, flush_apply, NULL);
	hash_apply(sf->strans, flush_apply, NULL);
	sf->uh = mem_deref(sf->uh);
	sf->us = mem_deref(sf->us);
}
