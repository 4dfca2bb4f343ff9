/**
 * @file tr_call_util.c  What the call actions share: answering the event's
 *                       request or the pending INVITE, requests in the
 *                       dialog, the dialog learnt from a message, the
 *                       devices rung.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "addr.h"
#include "log.h"
#include "tr_call_act.h"
#include "util.h"
#include "xmpp_util.h"


void call_iq_ok(struct call_ctx *c)
{
	tr_xmpp_iq_answer(c->tr, c->e->iq, NULL, NULL);
}


void call_iq_err(struct call_ctx *c, const char *cond, const char *text)
{
	tr_xmpp_iq_answer(c->tr, c->e->iq, cond, text);
}


/* Answer the request of the event (not the pending INVITE). */
void call_reply(struct call_ctx *c, unsigned scode, const char *reason,
		bool contact, const char *body)
{
	call_reply_extra(c, scode, reason, contact, body, NULL);
}


void call_reply_extra(struct call_ctx *c, unsigned scode, const char *reason,
		      bool contact, const char *body, const char *extra)
{
	const struct call_ev *e = c->e;
	struct tr_sip_reply rp = {.tx = e->tx,
				  .src = e->src,
				  .raw = e->raw,
				  .scode = scode,
				  .reason = reason,
				  .contact = contact,
				  .body = body,
				  .extra = extra};

	if (scode >= 300)
		LOG_LIMITED(LOG_INFO, "%r %r from %s: %u %s", &e->msg->met,
			    &e->msg->callid, e->src, scode, reason);
	if (!e->tx && !pl_strcmp(&e->msg->met, "CANCEL"))
		return; /* libre has answered it */
	(void)tr_sip_respond(c->tr, (struct tr_owner){OWN_NONE, 0}, &rp);
}


/* Our To-tag as libre takes it (S2X: ltag is 16 hex digits). */
uint64_t call_totag_of(const struct callrec *r)
{
	return strtoull(r->ltag ? r->ltag : "0", NULL, 16);
}


/* Answer the pending INVITE of an S2X call. */
uint64_t call_invite_reply(struct call_ctx *c, unsigned scode,
			   const char *reason, const char *body)
{
	struct callrec *r = c->r;
	struct tr_sip_reply rp = {.tx = r->inv_tx,
				  .src = r->inv_src,
				  .totag = call_totag_of(r),
				  .scode = scode,
				  .reason = reason,
				  .contact = scode < 300,
				  .body = body};

	pl_set_str(&rp.raw, r->inv_raw ? r->inv_raw : "");
	r->last_scode = scode;
	tr_callrec_event(r, "sent %u %s", scode, reason);
	return tr_sip_respond(c->tr, OWN_C(c), &rp);
}


uint64_t call_sip_req(struct call_ctx *c, const char *method, uint32_t cseq,
		      const char *branch, const char *ctype,
		      const struct tr_sip_why *why, const char *body)
{
	return tr_sip_request(c->tr, OWN_C(c), c->r, method, cseq, branch,
			      ctype, why, NULL, body);
}


bool call_reinvite_busy(struct call_ctx *c)
{
	if (!c->r->reinv_out)
		return false;
	call_iq_err(c, "unexpected-request",
		    "a re-INVITE is in progress; try again");
	return true;
}


void call_reinvite(struct call_ctx *c, char *sdp, bool session)
{
	struct callrec *r = c->r;

	call_reinvite_forget(c); /* a newer offer supersedes a retry */
	tr_callrec_set(&r->reinv_sdp, sdp);
	r->reinv_session = session;
	r->reinv_out = call_sip_req(c, "INVITE", 0, NULL, "application/sdp",
				    NULL, sdp);
	r->reinv_prev = mem_deref(r->reinv_prev);
	if (session) {
		r->reinv_prev = r->lsdp;
		r->lsdp = sdp;
	} else {
		mem_deref(sdp);
	}
}


void call_bye(struct call_ctx *c, const struct tr_sip_why *why)
{
	if (c->r->xfer == CX_ORPHANED)
		return; /* the transferor ended this dialog already */
	call_sip_req(c, "BYE", 0, NULL, NULL, why, NULL);
	tr_callrec_event(c->r, "BYE sent");
}


void call_cancel(struct call_ctx *c)
{
	call_sip_req(c, "CANCEL", c->r->inv_cseq, c->r->inv_branch, NULL, NULL,
		     NULL);
	tr_callrec_deadline(c->tr, c->id, c->r, wall_ms() + CANCEL_WAIT_MS);
}


void call_terminate(struct call_ctx *c, const char *reason)
{
	tr_xmpp_terminate(c->tr, c->id, c->r, reason, 0, NULL);
}


uint32_t call_reinvite_later(struct call_ctx *c)
{
	struct callrec *r = c->r;
	/* in units of 10 ms: 2.1-4 s for the Call-ID's owner (we sent the
	 * dialog's INVITE: an X2S call, or any since a transfer moved it
	 * into ours), else 0-2 s */
	const bool owner = r->dir == CD_X2S || r->xfer_moved;
	const uint32_t wait = owner ? 2100 + 10 * (rand_u32() % 191)
				    : 10 * (rand_u32() % 201);

	r->reinv_retry_at = wall_ms() + wait;
	call_idle_deadline(c);
	return wait;
}


void call_reinvite_forget(struct call_ctx *c)
{
	struct callrec *r = c->r;
	const bool waiting = r->reinv_retry_at;

	r->reinv_out = 0;
	r->reinv_prev = mem_deref(r->reinv_prev);
	r->reinv_sdp = mem_deref(r->reinv_sdp);
	r->reinv_session = 0;
	r->reinv_retry_at = 0;
	r->reinv_tries = 0;
	if (waiting)
		call_idle_deadline(c);
}


void call_idle_deadline(struct call_ctx *c)
{
	const struct callrec *r = c->r;
	uint64_t when =
		wall_ms() + call_cfg_of(c)->sip.call_idle_timeout_s * 1000ULL;

	/* a transfer under way gives up sooner: its ring timeout */
	if (r->xfer && r->xfer_until && r->xfer_until < when)
		when = r->xfer_until;
	/* our re-INVITE that met 491 goes again */
	if (r->reinv_retry_at && r->reinv_retry_at < when)
		when = r->reinv_retry_at;
	tr_callrec_deadline(c->tr, c->id, c->r, when);
}


char *call_body_of(const struct sip_msg *msg)
{
	char *b = NULL;

	/* read as a C string: a NUL would cut it short unseen (requests
	 * with one are refused in tr_from_sip.c; a response's is unusable) */
	if (memchr(mbuf_buf(msg->mb), 0, mbuf_get_left(msg->mb)))
		return NULL;
	re_sdprintf(&b, "%b", mbuf_buf(msg->mb), mbuf_get_left(msg->mb));
	return b;
}


void call_dialog_learn(struct callrec *r, const struct sip_msg *msg, bool uac)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr a;

	if (h && !sip_addr_decode(&a, &h->val)) {
		if (addr_sip_clean(&a.auri))
			tr_callrec_set_pl(&r->target, &a.auri);
		else
			log_warn("Contact with control bytes or spaces "
				 "ignored: the remote target stays");
	}
	if (uac) {
		mem_deref(r->routes);
		r->routes = tr_sip_route_set(msg, true);
		tr_callrec_set_pl(&r->rtag, &msg->to.tag);
	}
}


/* Remove one resource from the rung list. @return resources left */
unsigned call_rung_remove(struct callrec *r, const char *who)
{
	char *out = NULL, *rung = NULL, *save = NULL, *to;
	unsigned n = 0;

	if (str_dup(&rung, r->rung ? r->rung : ""))
		return 1;
	str_dup(&out, "");
	for (to = strtok_r(rung, "\n", &save); to && out;
	     to = strtok_r(NULL, "\n", &save)) {
		char *t = NULL;
		if (!strcmp(to, who))
			continue;
		re_sdprintf(&t, "%s%s\n", out, to);
		mem_deref(out);
		out = t;
		n++;
	}
	mem_deref(rung);
	if (out) {
		mem_deref(r->rung);
		r->rung = out;
	}
	return n;
}


bool call_rung_has(const struct callrec *r, const char *who)
{
	const char *p = r->rung ? r->rung : "";
	size_t n = strlen(who);

	for (; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0))
		if (!strncmp(p, who, n) && (p[n] == '\n' || !p[n]))
			return true;
	return false;
}


/* The trickle candidates kept for the dialog, once there is one. */
void call_frag_flush(struct call_ctx *c)
{
	struct callrec *r = c->r;

	if (!r->pend_frag || !*r->pend_frag || !r->rtag || !*r->rtag)
		return;
	call_sip_req(c, "INFO", 0, NULL, "application/trickle-ice-sdpfrag",
		     NULL, r->pend_frag);
	r->pend_frag = mem_deref(r->pend_frag);
}


/* Send our INVITE with the SDP in lsdp; the call rings from now on. */
void call_invite_send(struct call_ctx *c)
{
	struct callrec *r = c->r;

	r->inv_out = call_sip_req(c, "INVITE", r->inv_cseq, r->inv_branch,
				  "application/sdp", NULL, r->lsdp);
	tr_callrec_deadline(c->tr, c->id, r,
			    wall_ms() + call_cfg_of(c)->sip.ring_timeout_ms);
}


/* RFC 3261 22.2: our INVITE again, with the account's credentials for
 * its 401/407: next CSeq, new branch, same Call-ID and tags. Once: a
 * second challenge (not stale) is the credentials refused. */
bool call_invite_authenticate(struct call_ctx *c)
{
	struct callrec *r = c->r;
	struct mbuf *mb = NULL;
	struct regrec a;
	char *auth = NULL, *br = NULL;
	bool stale = false, sent = false;

	if (!r->reg || tr_regrec_load(c->tr, r->reg, &a))
		return false;
	mb = mbuf_alloc(512);
	if (mb && c->e->msg &&
	    !tr_account_credentials(&a, mb, c->e->msg, "INVITE", r->inv_ruri,
				    &stale) &&
	    (!r->authed || (stale && r->authed < 2)) &&
	    !re_sdprintf(&auth, "%b", mb->buf, mb->end) &&
	    (br = tr_sip_token("z9hG4bK"))) {
		mem_deref(r->inv_branch);
		r->inv_branch = br;
		r->inv_cseq = ++r->lcseq;
		r->authed++;
		r->inv_out = tr_sip_request(
			c->tr, OWN_C(c), r, "INVITE", r->inv_cseq,
			r->inv_branch, "application/sdp", NULL, auth, r->lsdp);
		tr_callrec_event(r, "INVITE again with credentials (CSeq %u)",
				 r->inv_cseq);
		sent = true;
	}
	regrec_reset(&a);
	mem_deref(mb);
	mem_deref(auth);
	return sent;
}


void call_ack_2xx(struct call_ctx *c, uint32_t cseq)
{
	call_sip_req(c, "ACK", cseq, NULL, NULL, NULL, NULL);
}


static size_t ws(const char *p)
{
	return strspn(p, " \t");
}


bool call_ctype_ok(const char *ct)
{
	static const char tok[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789-.!%*_+`'~";
	size_t n = strlen(ct), t;
	const char *p;

	if (!n || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ct[i] < 0x20 || ct[i] > 0x7e)
			return false;
	/* RFC 3261 20.15, 25.1: type "/" subtype *(";" token "="
	 * (token / quoted-string)), with optional whitespace around */
	t = strspn(ct, tok);
	if (!t || ct[t] != '/' || !strspn(ct + t + 1, tok))
		return false;
	p = ct + t + 1 + strspn(ct + t + 1, tok);
	for (;;) {
		p += ws(p);
		if (!*p)
			return true;
		if (*p++ != ';')
			return false;
		p += ws(p);
		if (!(t = strspn(p, tok)))
			return false;
		p += t;
		p += ws(p);
		if (*p++ != '=')
			return false;
		p += ws(p);
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p++ != '"')
				return false;
		} else if (!(t = strspn(p, tok)))
			return false;
		else
			p += t;
	}
}


int call_text_check(const char *s, size_t n)
{
	size_t l = 0;

	if (!utf8_xml_valid(s, n))
		return EILSEQ;
	/* as libstrophe escapes text: & < > " ' */
	for (size_t i = 0; i < n; i++)
		l += s[i] == '&'                   ? 5
		     : s[i] == '<' || s[i] == '>'  ? 4
		     : s[i] == '"' || s[i] == '\'' ? 6
						   : 1;
	return l > CALL_BODY_MAX ? EMSGSIZE : 0;
}


const char *call_phrase_of(unsigned scode)
{
	static const struct {
		unsigned code;
		const char *phrase;
	} map[] = {
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{402, "Payment Required"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{406, "Not Acceptable"},
		{407, "Proxy Authentication Required"},
		{408, "Request Timeout"},
		{410, "Gone"},
		{413, "Request Entity Too Large"},
		{414, "Request-URI Too Long"},
		{415, "Unsupported Media Type"},
		{416, "Unsupported URI Scheme"},
		{420, "Bad Extension"},
		{421, "Extension Required"},
		{423, "Interval Too Brief"},
		{480, "Temporarily Unavailable"},
		{481, "Call/Transaction Does Not Exist"},
		{482, "Loop Detected"},
		{483, "Too Many Hops"},
		{484, "Address Incomplete"},
		{485, "Ambiguous"},
		{486, "Busy Here"},
		{487, "Request Terminated"},
		{488, "Not Acceptable Here"},
		{491, "Request Pending"},
		{493, "Undecipherable"},
		{500, "Server Internal Error"},
		{501, "Not Implemented"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Server Time-out"},
		{505, "Version Not Supported"},
		{513, "Message Too Large"},
		{600, "Busy Everywhere"},
		{603, "Decline"},
		{604, "Does Not Exist Anywhere"},
		{606, "Not Acceptable"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].code == scode)
			return map[i].phrase;
	return NULL;
}


int call_refer_uri(const struct pl *v, char *uri, size_t sz)
{
	struct pl u = *v;
	struct uri d;

	while (u.l && (*u.p == ' ' || *u.p == '\t'))
		u.p++, u.l--;
	while (u.l && (u.p[u.l - 1] == ' ' || u.p[u.l - 1] == '\t'))
		u.l--;
	if (!u.l || !addr_sip_clean(&u))
		return EINVAL;
	/* a name-addr: the URI between < and > (a display name before) */
	if (memchr(u.p, '<', u.l)) {
		const char *lt = memchr(u.p, '<', u.l);
		const char *gt = memchr(lt, '>', u.l - (size_t)(lt - u.p));
		if (!gt)
			return EINVAL;
		u.p = lt + 1;
		u.l = (size_t)(gt - lt - 1);
	} else {
		/* an addr-spec: its parameters are the header's (RFC 3261
		 * 20.10), not the URI's */
		const char *semi = memchr(u.p, ';', u.l);
		if (semi)
			u.l = (size_t)(semi - u.p);
	}
	if (!u.l || memchr(u.p, ' ', u.l))
		return EINVAL;
	if (u.l < 4 || (strncasecmp(u.p, "sip:", 4) &&
			(u.l < 5 || strncasecmp(u.p, "sips:", 5))))
		return memchr(u.p, ':', u.l) ? EPROTONOSUPPORT : EINVAL;
	if (memchr(u.p, '?', u.l))
		return ENOTSUP;
	if (uri_decode(&d, &u) || !d.host.l)
		return EINVAL;
	for (size_t i = 0; i < d.host.l; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:",
			    d.host.p[i]))
			return EINVAL;
	if (u.l >= sz)
		return ENAMETOOLONG;
	memcpy(uri, u.p, u.l);
	uri[u.l] = 0;
	return 0;
}
