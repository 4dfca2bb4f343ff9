/**
 * @file tr_sip_out.c  Every SIP header the gateway writes is written here:
 *                     requests in a dialog (from the call record), the SIP
 *                     MESSAGE of a chat, and responses. The sip-front adds
 *                     only what its transport decides: the request line,
 *                     Via and Content-Length (and libre copies Via, From,
 *                     To, Call-ID and CSeq into a response).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "phonerec.h"
#include "regrec.h"
#include "translator.h"
#include "util.h"

#define ALLOW                                                                  \
	"Allow: INVITE, ACK, CANCEL, BYE, INFO, UPDATE, MESSAGE, OPTIONS, "    \
	"REFER, SUBSCRIBE, NOTIFY, PUBLISH\r\n"
#define UA "User-Agent: xsgw\r\n"


char *tr_sip_token(const char *prefix)
{
	char *s = NULL;

	re_sdprintf(&s, "%s%016llx", prefix, (unsigned long long)random_u64());
	return s;
}


static int contact_hdr(struct translator *tr, struct mbuf *mb)
{
	const struct xsgw_config *cfg = tr->proc.cfg;

	return mbuf_printf(mb, "Contact: <sip:xsgw@%s:%u%s>\r\n",
			   cfg->sip.local_host, cfg->sip.listen.port,
			   cfg->sip.transport == SIP_TP_TCP ? ";transport=tcp"
							    : "");
}


/* The route set of a dialog from Record-Route (UAS: as is; UAC: reversed). */
char *tr_sip_route_set(const struct sip_msg *msg, bool reverse)
{
	char *rs = NULL, *t;
	struct le *le;

	str_dup(&rs, "");
	for (le = list_head(&msg->hdrl); le && rs; le = le->next) {
		const struct sip_hdr *h = le->data;
		struct pl v = h->val, one;
		if (h->id != SIP_HDR_RECORD_ROUTE)
			continue;
		/* one header may hold several comma-separated routes */
		while (v.l) {
			size_t n = 0;
			bool inq = false;
			while (n < v.l && (inq || v.p[n] != ',')) {
				if (v.p[n] == '<' || v.p[n] == '>')
					inq = v.p[n] == '<';
				n++;
			}
			one.p = v.p;
			one.l = n;
			while (one.l && (*one.p == ' ' || *one.p == '\t'))
				one.p++, one.l--;
			while (one.l && (one.p[one.l - 1] == ' ' ||
					 one.p[one.l - 1] == '\t'))
				one.l--;
			t = NULL;
			if (!addr_sip_clean(&one)) {
				log_warn("Record-Route entry with control "
					 "bytes or spaces dropped");
				goto next;
			}
			if (reverse)
				re_sdprintf(&t, "%r\n%s", &one, rs);
			else
				re_sdprintf(&t, "%s%r\n", rs, &one);
			mem_deref(rs);
			rs = t;
			if (!rs)
				break;
		next:
			v.p += n < v.l ? n + 1 : n;
			v.l -= n < v.l ? n + 1 : n;
		}
	}
	return rs;
}


/* First line of a route set ("" if none). */
static void first_route(const char *routes, char *out, size_t sz)
{
	size_t n = routes ? strcspn(routes, "\n") : 0;

	if (n >= sz)
		n = 0;
	memcpy(out, routes ? routes : "", n);
	out[n] = 0;
}


/* A Route header per line of a route set (NULL or "": none). */
static int route_hdrs(struct mbuf *mb, const char *routes)
{
	char *rs = NULL, *save = NULL, *line;
	int err = 0;

	if (!routes || !*routes)
		return 0;
	if (str_dup(&rs, routes))
		return ENOMEM;
	for (line = strtok_r(rs, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save))
		err = mbuf_printf(mb, "Route: %s\r\n", line);
	mem_deref(rs);
	return err;
}


uint64_t tr_sip_request(struct translator *tr, struct tr_owner owner,
			struct callrec *r, const char *method, uint32_t cseq,
			const char *branch, const char *ctype,
			const struct tr_sip_why *why, const char *extra,
			const char *body)
{
	struct mbuf *mb = mbuf_alloc(1024);
	struct m_sip_out_request m = {0};
	char *br = NULL, dst[512];
	const bool cancel = !strcmp(method, "CANCEL");
	const bool ack = !strcmp(method, "ACK");
	const bool invite = !strcmp(method, "INVITE");
	const char *ruri =
		cancel || !r->target || !*r->target ? r->inv_ruri : r->target;
	uint64_t out = 0;
	int err;

	if (!mb)
		return 0;
	if (!cseq)
		cseq = ++r->lcseq;
	if (!branch)
		branch = br = tr_sip_token("z9hG4bK");
	err = mbuf_printf(mb,
			  "Max-Forwards: 70\r\n"
			  "From: %s;tag=%s\r\nTo: %s%s%s\r\n"
			  "Call-ID: %s\r\nCSeq: %u %s\r\n",
			  r->luri, r->ltag, r->ruri,
			  r->rtag && *r->rtag && !cancel ? ";tag=" : "",
			  r->rtag && !cancel ? r->rtag : "", r->callid, cseq,
			  method);
	/* RFC 3428: a MESSAGE carries no Contact */
	if (!cancel && !ack && strcmp(method, "MESSAGE"))
		err |= contact_hdr(tr, mb);
	err |= route_hdrs(mb, r->routes);
	if (invite)
		err |= mbuf_write_str(mb, "Recv-Info: trickle-ice\r\n");
	if (invite || !strcmp(method, "BYE"))
		err |= mbuf_write_str(mb, ALLOW);
	err |= mbuf_write_str(mb, UA);
	if (extra)
		err |= mbuf_write_str(mb, extra);
	if (body && *body)
		err |= mbuf_printf(mb, "Content-Type: %s\r\n", ctype);
	if (body && *body && ctype &&
	    !strcmp(ctype, "application/trickle-ice-sdpfrag"))
		err |= mbuf_write_str(mb, "Info-Package: trickle-ice\r\n");
	if (why) /* RFC 3326 */
		err |= mbuf_printf(mb, "Reason: SIP;cause=%u;text=\"%s\"\r\n",
				   why->cause, why->text);
	first_route(cancel ? "" : r->routes, dst, sizeof(dst));
	if (!*dst && r->dir == CD_S2X && !cancel)
		snprintf(dst, sizeof(dst), "%s", ruri);
	/* through a linked account: its proxy, until the dialog has a
	 * route set or a remote target (the CANCEL follows the INVITE) */
	if (!*dst && r->hop && *r->hop && (cancel || !r->target || !*r->target))
		snprintf(dst, sizeof(dst), "%s", r->hop);
	if (!err) {
		pl_set_str(&m.method, method);
		pl_set_str(&m.ruri, ruri ? ruri : "");
		pl_set_str(&m.dst, dst);
		pl_set_str(&m.branch, branch);
		m.hdrs.p = (const char *)mb->buf;
		m.hdrs.l = mb->end;
		pl_set_str(&m.body, body ? body : "");
		out = tr_out_sip_request(tr, owner, &m);
	}
	mem_deref(mb);
	mem_deref(br);
	return out;
}


/* What a method's body may be (Accept of a 415, and of OPTIONS). */
static const char *accept_of(const struct pl *method)
{
	if (!pl_strcmp(method, "MESSAGE"))
		return "text/plain";
	if (!pl_strcmp(method, "INFO"))
		return "application/dtmf-relay, "
		       "application/trickle-ice-sdpfrag";
	return "application/sdp, text/plain";
}


uint64_t tr_sip_respond(struct translator *tr, struct tr_owner owner,
			const struct tr_sip_reply *rp)
{
	struct mbuf *mb = mbuf_alloc(256);
	struct m_sip_out_response m = {0};
	struct pl method = PL_INIT;
	uint64_t out = 0;
	int err = mb ? 0 : ENOMEM;

	(void)re_regex(rp->raw.p, rp->raw.l, "[^ ]+", &method);

	/* RFC 6086: Recv-Info belongs to an INVITE dialog's answers */
	if (!err && rp->contact)
		err = contact_hdr(tr, mb);
	if (!err && rp->contact && !pl_strcmp(&method, "INVITE"))
		err = mbuf_write_str(mb, "Recv-Info: trickle-ice\r\n");
	if (!err && ((rp->scode >= 200 && rp->scode < 300) || rp->scode == 405))
		err = mbuf_write_str(mb, ALLOW);
	if (!err && (rp->scode == 415 || (rp->scode >= 200 && rp->scode < 300 &&
					  !pl_strcmp(&method, "OPTIONS"))))
		err = mbuf_printf(mb, "Accept: %s\r\n", accept_of(&method));
	if (!err && rp->retry_after)
		err = mbuf_printf(mb, "Retry-After: %u\r\n", rp->retry_after);
	if (!err && rp->extra)
		err = mbuf_write_str(mb, rp->extra);
	if (!err && rp->body && *rp->body)
		err = mbuf_printf(mb, "Content-Type: %s\r\n",
				  rp->ctype ? rp->ctype : "application/sdp");
	if (!err) {
		m.tx = rp->tx;
		pl_set_str(&m.src, rp->src ? rp->src : "");
		m.raw = rp->raw;
		m.totag = rp->totag;
		m.scode = rp->scode;
		pl_set_str(&m.reason, rp->reason);
		m.hdrs.p = (const char *)mb->buf;
		m.hdrs.l = mb->end;
		pl_set_str(&m.body, rp->body ? rp->body : "");
		out = tr_out_sip_response(tr, owner, &m);
	}
	mem_deref(mb);
	return out;
}


uint64_t tr_sip_message(struct translator *tr, uint64_t msg,
			const struct tr_sip_page *pg)
{
	struct m_sip_out_request m = {.flags = SIPF_PAGE};
	char *hdrs = NULL;
	uint64_t out = 0;
	int err;

	err = re_sdprintf(&hdrs,
			  "Max-Forwards: 70\r\n"
			  "From: <%s>;tag=%s\r\n"
			  "To: <%s>\r\n"
			  "Call-ID: %s\r\n"
			  "CSeq: %u MESSAGE\r\n" UA "%sContent-Type: %s\r\n",
			  pg->from, pg->ftag, pg->to, pg->callid, pg->cseq,
			  pg->auth ? pg->auth : "", pg->ctype);
	if (!err) {
		pl_set_str(&m.method, "MESSAGE");
		pl_set_str(&m.ruri, pg->ruri);
		pl_set_str(&m.branch, pg->branch);
		pl_set_str(&m.dst, pg->dst ? pg->dst : "");
		pl_set_str(&m.hdrs, hdrs);
		pl_set_str(&m.body, pg->body ? pg->body : "");
		out = tr_out_sip_request(tr, (struct tr_owner){OWN_MSG, msg},
					 &m);
	}
	mem_deref(hdrs);
	return out;
}


char *tr_sip_register_uri(const char *aor)
{
	struct uri u;
	struct pl pl;
	char *s = NULL;

	pl_set_str(&pl, aor);
	if (uri_decode(&u, &pl) || !u.host.l)
		return NULL;
	if (u.port)
		(void)re_sdprintf(&s, "sip:%r:%u", &u.host, u.port);
	else
		(void)re_sdprintf(&s, "sip:%r", &u.host);
	return s;
}


/* RFC 3261 10.2: To and From are the AOR, one Call-ID and increasing
 * CSeqs per registrar, our Contact with the account's token as its user
 * part (what an incoming request to the binding is found by). */
uint64_t tr_sip_register(struct translator *tr, uint64_t id,
			 const struct regrec *r, uint32_t expires,
			 const char *auth)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	struct m_sip_out_request m = {.flags = SIPF_PAGE};
	struct mbuf *mb = mbuf_alloc(1024);
	char *ruri = tr_sip_register_uri(r->aor), *br = tr_sip_token("z9hG4bK");
	char *dst = NULL;
	const bool tcp = strstr(r->proxy, "transport=tcp") ||
			 (!*r->proxy && cfg->sip.transport == SIP_TP_TCP);
	uint64_t out = 0;
	int err = !mb || !ruri || !br;

	if (!err && *r->display)
		err = mbuf_printf(mb, "From: \"%s\" <%s>;tag=%s\r\n",
				  r->display, r->aor, r->ftag);
	else if (!err)
		err = mbuf_printf(mb, "From: <%s>;tag=%s\r\n", r->aor, r->ftag);
	if (!err)
		err = mbuf_printf(mb,
				  "Max-Forwards: 70\r\n"
				  "To: <%s>\r\nCall-ID: %s\r\n"
				  "CSeq: %u REGISTER\r\n"
				  "Contact: <sip:%s@%s:%u%s>\r\n"
				  "Expires: %u\r\n"
				  "Supported: path\r\n" ALLOW UA "%s",
				  r->aor, r->callid, r->cseq, r->contact,
				  cfg->sip.local_host, cfg->sip.listen.port,
				  tcp ? ";transport=tcp" : "", expires,
				  auth ? auth : "");
	if (!err && *r->proxy)
		err = re_sdprintf(&dst, "sip:%s;lr", r->proxy);
	if (!err) {
		pl_set_str(&m.method, "REGISTER");
		pl_set_str(&m.ruri, ruri);
		pl_set_str(&m.dst, dst ? dst : "");
		pl_set_str(&m.branch, br);
		m.hdrs.p = (const char *)mb->buf;
		m.hdrs.l = mb->end;
		pl_set_str(&m.body, "");
		out = tr_out_sip_request(tr, (struct tr_owner){OWN_REG, id},
					 &m);
	}
	mem_deref(mb);
	mem_deref(ruri);
	mem_deref(br);
	mem_deref(dst);
	return out;
}


/* RFC 6665: a SUBSCRIBE of ours at the presence server, in its dialog
 * once there is one (the record's tags, target and route set). */
uint64_t tr_sip_subscribe(struct translator *tr, uint64_t id,
			  const struct subrec *r, uint32_t expires)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	struct m_sip_out_request m = {.flags = SIPF_PAGE};
	struct mbuf *mb = mbuf_alloc(1024);
	const bool reg = !strcmp(r->event, "reg");
	const char *ruri = r->rtarget && *r->rtarget ? r->rtarget : r->target;
	char *br = tr_sip_token("z9hG4bK"), dst[512] = "", from[600];
	uint64_t out = 0;
	int err = !mb || !br;

	/* a watcher's own address (presence), else the gateway's */
	if (r->from && *r->from)
		snprintf(from, sizeof(from), "%s", r->from);
	else
		snprintf(from, sizeof(from), "sip:xsgw@%s:%u",
			 cfg->sip.local_host, cfg->sip.listen.port);
	if (!err)
		err = mbuf_printf(mb,
				  "Max-Forwards: 70\r\n"
				  "From: <%s>;tag=%s\r\n"
				  "To: <%s>%s%s\r\nCall-ID: %s\r\n"
				  "CSeq: %u SUBSCRIBE\r\n"
				  "Event: %s\r\nAccept: %s\r\nExpires: %u\r\n",
				  from, r->ltag, r->target,
				  r->rtag && *r->rtag ? ";tag=" : "",
				  r->rtag ? r->rtag : "", r->callid, r->lcseq,
				  r->event,
				  reg ? "application/reginfo+xml"
				  : !strcmp(r->event, "presence")
					  ? "application/pidf+xml"
					  : "application/dialog-info+xml",
				  expires);
	if (!err)
		err = contact_hdr(tr, mb);
	if (!err)
		err = route_hdrs(mb, r->routes);
	if (!err)
		err = mbuf_write_str(mb, UA);
	first_route(r->routes, dst, sizeof(dst));
	if (!*dst && r->rtarget && *r->rtarget)
		snprintf(dst, sizeof(dst), "%s", r->rtarget);
	else if (!*dst && cfg->presence.server.port)
		snprintf(dst, sizeof(dst),
			 strchr(cfg->presence.server.host, ':')
				 ? "sip:[%s]:%u;lr"
				 : "sip:%s:%u;lr",
			 cfg->presence.server.host, cfg->presence.server.port);
	if (!err) {
		pl_set_str(&m.method, "SUBSCRIBE");
		pl_set_str(&m.ruri, ruri);
		pl_set_str(&m.dst, dst);
		pl_set_str(&m.branch, br);
		m.hdrs.p = (const char *)mb->buf;
		m.hdrs.l = mb->end;
		pl_set_str(&m.body, "");
		out = tr_out_sip_request(tr, (struct tr_owner){OWN_SUB, id},
					 &m);
	}
	mem_deref(mb);
	mem_deref(br);
	return out;
}
