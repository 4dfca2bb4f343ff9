/**
 * @file jsdp_jingle.c  Jingle <content/>/<group/> <-> struct jsdp (jsdp.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "jsdp.h"
#include "jsdp_int.h"

#define NS_RTP      "urn:xmpp:jingle:apps:rtp:1"
#define NS_RTCP_FB  "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
#define NS_HDREXT   "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
#define NS_SSMA     "urn:xmpp:jingle:apps:rtp:ssma:0"
#define NS_GROUPING "urn:xmpp:jingle:apps:grouping:0"
#define NS_ICE      "urn:xmpp:jingle:transports:ice-udp:1"
#define NS_RAW      "urn:xmpp:jingle:transports:raw-udp:1"
#define NS_DTLS     "urn:xmpp:jingle:apps:dtls:0"

static const char *senders_names[] = {"both", "initiator", "responder", "none"};


const char *jsdp_senders_name(enum jsdp_senders s)
{
	return (unsigned)s < 4 ? senders_names[s] : "both";
}


int jsdp_senders_parse(const char *s)
{
	if (!s)
		return JSDP_BOTH;
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, senders_names[i]))
			return i;
	return -1;
}


/* Decoding */

struct dec {
	char *eb;
	size_t sz;
	bool creator_optional; /**< source-*: jingle.js writes none */
};


/* fmt has one %s for what: a value of the stanza, quoted as printable
 * ASCII (the reason goes into an IQ error and may go into a SIP reason) */
static int bad(struct dec *d, int err, const char *fmt, const char *what)
{
	char q[48];
	size_t i;

	for (i = 0; what && what[i] && i < sizeof(q) - 1; i++)
		q[i] = what[i] > 0x20 && what[i] < 0x7f ? what[i] : '?';
	q[i] = 0;
	if (d->eb && d->sz)
		re_snprintf(d->eb, d->sz, fmt, q);
	return err;
}


/* Is v one of the NULL-terminated names? */
static bool one_of(const struct pl *v, const char *const *names)
{
	for (; *names; names++)
		if (!pl_strcasecmp(v, *names))
			return true;
	return false;
}


static bool is(xmpp_stanza_t *st, const char *name, const char *ns)
{
	const char *n = xmpp_stanza_get_name(st);
	const char *s = xmpp_stanza_get_ns(st);

	return n && !strcmp(n, name) && (!ns || (s && !strcmp(s, ns)));
}


static void attr_pl(xmpp_stanza_t *st, const char *name, struct pl *out)
{
	const char *v = xmpp_stanza_get_attribute(st, name);

	if (v)
		pl_set_str(out, v);
	else
		*out = pl_null;
}


/* Optional unsigned attribute.
 * @return false if present and not a number (an empty value is none) */
static bool attr_u32(xmpp_stanza_t *st, const char *name, uint64_t max,
		     uint32_t *out, bool *present)
{
	const char *s = xmpp_stanza_get_attribute(st, name);
	struct pl v;

	if (present)
		*present = s != NULL;
	if (!s)
		return true;
	pl_set_str(&v, s);
	return jsdp_num(&v, max, out);
}


static int dec_params(struct dec *d, xmpp_stanza_t *parent,
		      struct jsdp_param *par, unsigned max, unsigned *n)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(parent); c;
	     c = xmpp_stanza_get_next(c)) {
		if (!is(c, "parameter", NULL))
			continue;
		if (*n >= max)
			return bad(d, EOVERFLOW, "too many <parameter/>%s",
				   NULL);
		attr_pl(c, "name", &par[*n].name);
		attr_pl(c, "value", &par[*n].value);
		if (!pl_isset(&par[*n].name) && !pl_isset(&par[*n].value))
			return bad(d, EBADMSG, "empty <parameter/>%s", NULL);
		(*n)++;
	}
	return 0;
}


static int dec_fb(struct dec *d, xmpp_stanza_t *c, struct jsdp_fb *fb,
		  unsigned *n)
{
	if (*n >= JSDP_MAX_FB)
		return bad(d, EOVERFLOW, "too many <rtcp-fb/>%s", NULL);
	attr_pl(c, "type", &fb[*n].type);
	attr_pl(c, "subtype", &fb[*n].subtype);
	if (!pl_isset(&fb[*n].type))
		return bad(d, EBADMSG, "<rtcp-fb/> without type%s", NULL);
	(*n)++;
	return 0;
}


static int dec_payload(struct dec *d, struct jsdp_content *ct, xmpp_stanza_t *p)
{
	struct jsdp_payload *pt;
	int err;

	if (ct->npt >= JSDP_MAX_PAYLOADS)
		return bad(d, EOVERFLOW, "too many <payload-type/>%s", NULL);
	pt = &ct->pt[ct->npt];
	memset(pt, 0, sizeof(*pt));
	if (!xmpp_stanza_get_attribute(p, "id") ||
	    !attr_u32(p, "id", 127, &pt->id, NULL) ||
	    !attr_u32(p, "clockrate", UINT32_MAX, &pt->clock, NULL) ||
	    !attr_u32(p, "channels", 255, &pt->channels, NULL) ||
	    !attr_u32(p, "ptime", 100000, &pt->ptime, NULL) ||
	    !attr_u32(p, "maxptime", 100000, &pt->maxptime, NULL))
		return bad(d, EBADMSG, "bad <payload-type/> in content '%s'",
			   xmpp_stanza_get_attribute(p, "id"));
	attr_pl(p, "name", &pt->name);
	/* RFC 3551 6: a dynamic type means nothing without its rtpmap */
	if (pt->id >= 96 && (!pl_isset(&pt->name) || !pt->clock))
		return bad(d, EBADMSG,
			   "<payload-type/> %s needs name and clockrate",
			   xmpp_stanza_get_attribute(p, "id"));
	for (unsigned i = 0; i < ct->npt; i++)
		if (ct->pt[i].id == pt->id)
			return bad(d, EBADMSG, "payload type %s twice",
				   xmpp_stanza_get_attribute(p, "id"));
	err = dec_params(d, p, pt->par, JSDP_MAX_PARAMS, &pt->npar);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(p); c && !err;
	     c = xmpp_stanza_get_next(c))
		if (is(c, "rtcp-fb", NS_RTCP_FB))
			err = dec_fb(d, c, pt->fb, &pt->nfb);
	if (!err)
		ct->npt++;
	return err;
}


static int dec_source(struct dec *d, struct jsdp_content *ct, xmpp_stanza_t *s)
{
	struct jsdp_source *src;
	int err;

	if (ct->nsrc >= JSDP_MAX_SOURCES)
		return bad(d, EOVERFLOW, "too many <source/>%s", NULL);
	src = &ct->src[ct->nsrc];
	memset(src, 0, sizeof(*src));
	if (!xmpp_stanza_get_attribute(s, "ssrc") ||
	    !attr_u32(s, "ssrc", UINT32_MAX, &src->ssrc, NULL))
		return bad(d, EBADMSG, "<source/> without a valid ssrc%s",
			   NULL);
	ct->nsrc++;
	err = dec_params(d, s, src->par, JSDP_MAX_SRC_PARAMS, &src->npar);
	for (unsigned i = 0; i < src->npar && !err; i++)
		if (!pl_isset(&src->par[i].name))
			err = bad(d, EBADMSG,
				  "<source/> <parameter/> without "
				  "name%s",
				  NULL);
	return err;
}


static int dec_ssrc_group(struct dec *d, struct jsdp_content *ct,
			  xmpp_stanza_t *g)
{
	struct jsdp_ssrc_group *sg;

	if (ct->nsgrp >= JSDP_MAX_SSRC_GROUPS)
		return bad(d, EOVERFLOW, "too many <ssrc-group/>%s", NULL);
	sg = &ct->sgrp[ct->nsgrp];
	memset(sg, 0, sizeof(*sg));
	attr_pl(g, "semantics", &sg->semantics);
	if (!pl_isset(&sg->semantics))
		return bad(d, EBADMSG, "<ssrc-group/> without semantics%s",
			   NULL);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(g); c;
	     c = xmpp_stanza_get_next(c)) {
		if (!is(c, "source", NULL))
			continue;
		if (sg->n >= JSDP_MAX_GROUP_SSRCS)
			return bad(d, EOVERFLOW, "too many ssrcs in a group%s",
				   NULL);
		if (!xmpp_stanza_get_attribute(c, "ssrc") ||
		    !attr_u32(c, "ssrc", UINT32_MAX, &sg->ssrc[sg->n++], NULL))
			return bad(d, EBADMSG, "bad ssrc in <ssrc-group/>%s",
				   NULL);
	}
	ct->nsgrp++;
	return 0;
}


static int dec_description(struct dec *d, struct jsdp_content *ct,
			   xmpp_stanza_t *desc)
{
	int err = 0;

	attr_pl(desc, "media", &ct->media);
	if (!pl_isset(&ct->media))
		return bad(d, EBADMSG, "<description/> without media%s", NULL);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(desc); c && !err;
	     c = xmpp_stanza_get_next(c)) {
		if (is(c, "payload-type", NULL)) {
			err = dec_payload(d, ct, c);
		} else if (is(c, "rtcp-fb", NS_RTCP_FB)) {
			err = dec_fb(d, c, ct->fb_all, &ct->nfb_all);
		} else if (is(c, "rtp-hdrext", NS_HDREXT)) {
			struct jsdp_hdrext *x;
			int s = jsdp_senders_parse(
				xmpp_stanza_get_attribute(c, "senders"));
			if (ct->next >= JSDP_MAX_HDREXT)
				return bad(d, EOVERFLOW,
					   "too many <rtp-hdrext/>%s", NULL);
			x = &ct->ext[ct->next];
			attr_pl(c, "uri", &x->uri);
			if (s < 0 || !pl_isset(&x->uri) ||
			    !xmpp_stanza_get_attribute(c, "id") ||
			    !attr_u32(c, "id", 255, &x->id, NULL) || !x->id)
				return bad(d, EBADMSG, "bad <rtp-hdrext/>%s",
					   NULL);
			x->senders = (enum jsdp_senders)s;
			ct->next++;
		} else if (is(c, "extmap-allow-mixed", NS_HDREXT)) {
			ct->extmap_allow_mixed = true;
		} else if (is(c, "rtcp-mux", NULL)) {
			ct->rtcp_mux = true;
		} else if (is(c, "source", NS_SSMA)) {
			err = dec_source(d, ct, c);
		} else if (is(c, "ssrc-group", NS_SSMA)) {
			err = dec_ssrc_group(d, ct, c);
		} else if (is(c, "encryption", NULL)) {
			const char *req =
				xmpp_stanza_get_attribute(c, "required");
			ct->crypto_required = req && (!strcmp(req, "true") ||
						      !strcmp(req, "1"));
			for (xmpp_stanza_t *k = xmpp_stanza_get_children(c); k;
			     k = xmpp_stanza_get_next(k)) {
				struct jsdp_crypto *cr;
				uint32_t tag;
				if (!is(k, "crypto", NULL))
					continue;
				if (ct->ncrypto >= JSDP_MAX_CRYPTO)
					return bad(d, EOVERFLOW,
						   "too many <crypto/>%s",
						   NULL);
				cr = &ct->crypto[ct->ncrypto];
				attr_pl(k, "tag", &cr->tag);
				attr_pl(k, "crypto-suite", &cr->suite);
				attr_pl(k, "key-params", &cr->key_params);
				attr_pl(k, "session-params",
					&cr->session_params);
				if (!jsdp_num(&cr->tag, 999999999, &tag) ||
				    !pl_isset(&cr->suite) ||
				    !pl_isset(&cr->key_params))
					return bad(d, EBADMSG,
						   "bad <crypto/>%s", NULL);
				ct->ncrypto++;
			}
		}
	}
	return err;
}


static int dec_cand(struct dec *d, struct jsdp_content *ct, xmpp_stanza_t *c,
		    bool raw)
{
	/* XEP-0176 and RFC 6544: what an SDP a=candidate can say */
	static const char *const protocols[] = {"udp", "tcp", NULL};
	static const char *const types[] = {"host", "srflx", "prflx", "relay",
					    NULL};
	static const char *const tcptypes[] = {"active", "passive", "so", NULL};
	struct jsdp_cand *k;
	bool has;

	if (ct->ncand >= JSDP_MAX_CANDS)
		return bad(d, EOVERFLOW, "too many <candidate/>%s", NULL);
	k = &ct->cand[ct->ncand];
	memset(k, 0, sizeof(*k));
	attr_pl(c, "foundation", &k->foundation);
	attr_pl(c, "protocol", &k->protocol);
	attr_pl(c, "ip", &k->ip);
	attr_pl(c, "type", &k->type);
	attr_pl(c, "rel-addr", &k->rel_addr);
	attr_pl(c, "tcptype", &k->tcptype);
	attr_pl(c, "id", &k->id);
	if (!xmpp_stanza_get_attribute(c, "component") ||
	    !attr_u32(c, "component", 256, &k->component, NULL) ||
	    !k->component || !xmpp_stanza_get_attribute(c, "port") ||
	    !attr_u32(c, "port", 65535, &k->port, NULL) || !pl_isset(&k->ip))
		return bad(d, EBADMSG,
			   "<candidate/> needs component, ip, port%s", NULL);
	if (!attr_u32(c, "rel-port", 65535, &k->rel_port, &k->has_rel_port) ||
	    !attr_u32(c, "generation", UINT32_MAX, &k->generation,
		      &k->has_generation) ||
	    !attr_u32(c, "network", UINT32_MAX, &k->network, &k->has_network) ||
	    !attr_u32(c, "priority", UINT32_MAX, &k->priority, &has))
		return bad(d, EBADMSG, "bad number in <candidate/>%s", NULL);
	if (!raw && (!has || !pl_isset(&k->foundation) ||
		     !pl_isset(&k->protocol) || !pl_isset(&k->type)))
		return bad(d, EBADMSG,
			   "ICE <candidate/> needs foundation, priority, "
			   "protocol and type%s",
			   NULL);
	if (!raw &&
	    (!one_of(&k->protocol, protocols) || !one_of(&k->type, types) ||
	     (pl_isset(&k->tcptype) && !one_of(&k->tcptype, tcptypes))))
		return bad(d, EBADMSG,
			   "ICE <candidate/> of unknown protocol, type or "
			   "tcptype%s",
			   NULL);
	if (raw) {
		if (k->component == 1) {
			ct->addr = k->ip;
			ct->port = k->port;
		} else if (k->component == 2) {
			ct->rtcp_port = k->port;
		}
	}
	ct->ncand++;
	return 0;
}


static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* XML whitespace around a text (a fingerprint written on its own line) */
static void trim_space(struct pl *p)
{
	while (p->l && xml_space(*p->p))
		pl_advance(p, 1);
	while (p->l && xml_space(p->p[p->l - 1]))
		p->l--;
}


static int dec_transport(struct dec *d, struct jsdp_content *ct,
			 xmpp_stanza_t *tr)
{
	/* RFC 4145 4 (XEP-0320) */
	static const char *const setups[] = {"actpass", "active", "passive",
					     "holdconn", NULL};
	bool raw = is(tr, "transport", NS_RAW);
	int err = 0;

	if (!raw && !is(tr, "transport", NS_ICE))
		return bad(d, EBADMSG, "unsupported transport '%s'",
			   xmpp_stanza_get_ns(tr));
	ct->tr = raw ? JSDP_TR_RAW : JSDP_TR_ICE;
	attr_pl(tr, "ufrag", &ct->ufrag);
	attr_pl(tr, "pwd", &ct->pwd);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(tr); c && !err;
	     c = xmpp_stanza_get_next(c)) {
		if (is(c, "candidate", NULL)) {
			err = dec_cand(d, ct, c, raw);
		} else if (is(c, "fingerprint", NS_DTLS)) {
			xmpp_stanza_t *t = xmpp_stanza_get_children(c);
			const char *txt = t && xmpp_stanza_is_text(t)
						  ? xmpp_stanza_get_text_ptr(t)
						  : NULL;
			attr_pl(c, "hash", &ct->fp_hash);
			attr_pl(c, "setup", &ct->fp_setup);
			if (!txt || !pl_isset(&ct->fp_hash))
				return bad(d, EBADMSG,
					   "<fingerprint/> needs hash and "
					   "value%s",
					   NULL);
			pl_set_str(&ct->fp_value, txt);
			trim_space(&ct->fp_value);
			if (pl_isset(&ct->fp_setup) &&
			    !one_of(&ct->fp_setup, setups))
				return bad(
					d, EBADMSG,
					"<fingerprint/> of unknown setup "
					"'%s'",
					xmpp_stanza_get_attribute(c, "setup"));
		}
	}
	if (raw)
		ct->ncand = 0; /* Raw UDP lives in addr/port */
	return err;
}


static int dec_content(struct dec *d, struct jsdp *m, xmpp_stanza_t *st)
{
	struct jsdp_content *ct;
	const char *creator = xmpp_stanza_get_attribute(st, "creator");
	int senders =
		jsdp_senders_parse(xmpp_stanza_get_attribute(st, "senders"));
	xmpp_stanza_t *desc = NULL, *tr = NULL;
	int err = 0;

	if (m->n >= JSDP_MAX_CONTENTS)
		return bad(d, EOVERFLOW, "too many <content/>%s", NULL);
	ct = &m->c[m->n];
	memset(ct, 0, sizeof(*ct));
	attr_pl(st, "name", &ct->name);
	if (!pl_isset(&ct->name))
		return bad(d, EBADMSG, "<content/> without name%s", NULL);
	for (unsigned i = 0; i < m->n; i++)
		if (!pl_cmp(&m->c[i].name, &ct->name))
			return bad(d, EBADMSG, "content '%s' twice",
				   xmpp_stanza_get_attribute(st, "name"));
	if (senders < 0)
		return bad(d, EBADMSG, "bad senders '%s'",
			   xmpp_stanza_get_attribute(st, "senders"));
	if (!creator && !d->creator_optional)
		return bad(d, EBADMSG, "<content/> without creator%s", NULL);
	if (!creator)
		creator = "initiator";
	if (strcmp(creator, "initiator") && strcmp(creator, "responder"))
		return bad(d, EBADMSG, "bad creator '%s'", creator);
	ct->creator_responder = !strcmp(creator, "responder");
	ct->senders = (enum jsdp_senders)senders;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c;
	     c = xmpp_stanza_get_next(c)) {
		xmpp_stanza_t **one = is(c, "description", NULL) ? &desc
				      : is(c, "transport", NULL) ? &tr
								 : NULL;
		if (one && *one)
			return bad(d, EBADMSG, "<content/> with two <%s/>",
				   xmpp_stanza_get_name(c));
		if (one)
			*one = c;
	}
	if (!desc && !tr)
		return bad(d, EBADMSG,
			   "<content/> without <description/> and "
			   "<transport/>%s",
			   NULL);
	m->n++;
	if (desc && is(desc, "description", NS_RTP)) {
		err = dec_description(d, ct, desc);
	} else if (!desc) {
		/* transport-info and the like: a transport, no media */
	} else {
		/* not RTP (e.g. a data channel): refused, port 0 in SDP */
		ct->rejected = true;
		pl_set_str(&ct->media, "application");
	}
	if (!err && tr && !ct->rejected)
		err = dec_transport(d, ct, tr);
	return err;
}


static bool content_named(const struct jsdp *m, const struct pl *name)
{
	for (unsigned i = 0; i < m->n; i++)
		if (!pl_cmp(&m->c[i].name, name))
			return true;
	return false;
}


int jsdp_jingle_decode(struct jsdp *m, xmpp_stanza_t *jingle, char *eb,
		       size_t sz)
{
	const char *action = xmpp_stanza_get_attribute(jingle, "action");
	struct dec d = {eb, sz, action && !strncmp(action, "source-", 7)};
	int err = 0;

	jsdp_clear(m);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(jingle); c && !err;
	     c = xmpp_stanza_get_next(c)) {
		if (is(c, "content", NULL)) {
			err = dec_content(&d, m, c);
		} else if (is(c, "group", NS_GROUPING)) {
			struct jsdp_group *g;
			if (m->ngrp >= JSDP_MAX_GROUPS)
				return bad(&d, EOVERFLOW, "too many <group/>%s",
					   NULL);
			g = &m->grp[m->ngrp];
			memset(g, 0, sizeof(*g));
			attr_pl(c, "semantics", &g->semantics);
			if (!pl_isset(&g->semantics))
				return bad(&d, EBADMSG,
					   "<group/> without semantics%s",
					   NULL);
			for (xmpp_stanza_t *n = xmpp_stanza_get_children(c); n;
			     n = xmpp_stanza_get_next(n)) {
				if (!is(n, "content", NULL))
					continue;
				if (g->n >= JSDP_MAX_GROUP_NAMES)
					return bad(
						&d, EOVERFLOW,
						"too many names in a group%s",
						NULL);
				attr_pl(n, "name", &g->name[g->n]);
				if (!pl_isset(&g->name[g->n++]))
					return bad(&d, EBADMSG,
						   "<group/> member without "
						   "name%s",
						   NULL);
			}
			m->ngrp++;
		}
	}
	for (unsigned i = 0; i < m->ngrp && !err; i++)
		for (unsigned k = 0; k < m->grp[i].n && !err; k++)
			if (!content_named(m, &m->grp[i].name[k]))
				err = bad(&d, EBADMSG,
					  "<group/> names no <content/>%s",
					  NULL);
	if (!err)
		err = jsdp_check(m, "<content/>", eb, sz);
	return err;
}


/* Encoding */

struct enc {
	xmpp_ctx_t *ctx;
	int err;
};


static xmpp_stanza_t *el(struct enc *e, xmpp_stanza_t *parent, const char *name,
			 const char *ns)
{
	xmpp_stanza_t *c = xmpp_stanza_new(e->ctx);

	if (!c) {
		e->err = ENOMEM;
		return NULL;
	}
	xmpp_stanza_set_name(c, name);
	if (ns)
		xmpp_stanza_set_ns(c, ns);
	xmpp_stanza_add_child(parent, c);
	xmpp_stanza_release(c); /* the parent holds it */
	return c;
}


static void set(struct enc *e, xmpp_stanza_t *st, const char *name,
		const struct pl *v)
{
	char *s;

	if (!st || !pl_isset(v))
		return;
	if (pl_strdup(&s, v)) {
		e->err = ENOMEM;
		return;
	}
	if (xmpp_stanza_set_attribute(st, name, s))
		e->err = ENOMEM;
	mem_deref(s);
}


static void set_str(struct enc *e, xmpp_stanza_t *st, const char *name,
		    const char *v)
{
	if (st && xmpp_stanza_set_attribute(st, name, v))
		e->err = ENOMEM;
}


static void set_u32(struct enc *e, xmpp_stanza_t *st, const char *name,
		    uint32_t v)
{
	char b[16];

	snprintf(b, sizeof(b), "%u", v);
	set_str(e, st, name, b);
}


static void enc_params(struct enc *e, xmpp_stanza_t *parent,
		       const struct jsdp_param *par, unsigned n, const char *ns)
{
	for (unsigned i = 0; i < n; i++) {
		xmpp_stanza_t *p = el(e, parent, "parameter", ns);
		set(e, p, "name", &par[i].name);
		set(e, p, "value", &par[i].value);
	}
}


static void enc_fb(struct enc *e, xmpp_stanza_t *parent,
		   const struct jsdp_fb *fb, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		xmpp_stanza_t *f = el(e, parent, "rtcp-fb", NS_RTCP_FB);
		set(e, f, "type", &fb[i].type);
		set(e, f, "subtype", &fb[i].subtype);
	}
}


static void enc_description(struct enc *e, xmpp_stanza_t *content,
			    const struct jsdp_content *c)
{
	xmpp_stanza_t *d = el(e, content, "description", NS_RTP);

	if (!d)
		return;
	set(e, d, "media", &c->media);
	for (unsigned i = 0; i < c->npt; i++) {
		const struct jsdp_payload *p = &c->pt[i];
		xmpp_stanza_t *pt = el(e, d, "payload-type", NULL);
		set_u32(e, pt, "id", p->id);
		set(e, pt, "name", &p->name);
		if (p->clock)
			set_u32(e, pt, "clockrate", p->clock);
		if (p->channels)
			set_u32(e, pt, "channels", p->channels);
		if (p->ptime)
			set_u32(e, pt, "ptime", p->ptime);
		if (p->maxptime)
			set_u32(e, pt, "maxptime", p->maxptime);
		enc_params(e, pt, p->par, p->npar, NULL);
		enc_fb(e, pt, p->fb, p->nfb);
	}
	enc_fb(e, d, c->fb_all, c->nfb_all);
	for (unsigned i = 0; i < c->next; i++) {
		xmpp_stanza_t *x = el(e, d, "rtp-hdrext", NS_HDREXT);
		set_u32(e, x, "id", c->ext[i].id);
		set(e, x, "uri", &c->ext[i].uri);
		if (c->ext[i].senders != JSDP_BOTH)
			set_str(e, x, "senders",
				jsdp_senders_name(c->ext[i].senders));
	}
	if (c->extmap_allow_mixed)
		el(e, d, "extmap-allow-mixed", NS_HDREXT);
	if (c->rtcp_mux)
		el(e, d, "rtcp-mux", NULL);
	if (c->ncrypto) {
		xmpp_stanza_t *en = el(e, d, "encryption", NULL);
		if (c->crypto_required)
			set_str(e, en, "required", "1");
		for (unsigned i = 0; en && i < c->ncrypto; i++) {
			xmpp_stanza_t *k = el(e, en, "crypto", NULL);
			set(e, k, "crypto-suite", &c->crypto[i].suite);
			set(e, k, "key-params", &c->crypto[i].key_params);
			set(e, k, "session-params",
			    &c->crypto[i].session_params);
			set(e, k, "tag", &c->crypto[i].tag);
		}
	}
	for (unsigned i = 0; i < c->nsrc; i++) {
		xmpp_stanza_t *s = el(e, d, "source", NS_SSMA);
		set_u32(e, s, "ssrc", c->src[i].ssrc);
		enc_params(e, s, c->src[i].par, c->src[i].npar, NULL);
	}
	for (unsigned i = 0; i < c->nsgrp; i++) {
		xmpp_stanza_t *g = el(e, d, "ssrc-group", NS_SSMA);
		set(e, g, "semantics", &c->sgrp[i].semantics);
		for (unsigned j = 0; g && j < c->sgrp[i].n; j++)
			set_u32(e, el(e, g, "source", NULL), "ssrc",
				c->sgrp[i].ssrc[j]);
	}
}


/* RFC 8445 5.1.2.1 for a host candidate (type preference 126). */
static uint32_t host_priority(uint32_t component)
{
	return (126u << 24) | (65535u << 8) | (256u - component);
}


static void enc_cand_id(char *b, size_t sz, const struct jsdp_content *c,
			unsigned i)
{
	re_snprintf(b, sz, "%r-%u", &c->name, i);
}


static void enc_transport(struct enc *e, xmpp_stanza_t *content,
			  const struct jsdp_content *c,
			  const struct jsdp_jingle_opts *o)
{
	xmpp_stanza_t *t, *k;
	char id[64];

	if (c->tr == JSDP_TR_NONE && !pl_isset(&c->fp_hash))
		return;
	if (c->tr == JSDP_TR_RAW && o->raw_udp) {
		/* XEP-0177: the address the phone sends and receives on */
		t = el(e, content, "transport", NS_RAW);
		for (uint32_t comp = 1; t && comp <= 2; comp++) {
			uint32_t port = comp == 1 ? c->port : c->rtcp_port;
			if (comp == 2 && (c->rtcp_mux || !port))
				continue;
			k = el(e, t, "candidate", NULL);
			set_u32(e, k, "component", comp);
			set_str(e, k, "generation", "0");
			enc_cand_id(id, sizeof(id), c, comp - 1);
			set_str(e, k, "id", id);
			set(e, k, "ip", &c->addr);
			set_u32(e, k, "port", port);
		}
		return;
	}
	t = el(e, content, "transport", NS_ICE);
	if (!t)
		return;
	set(e, t, "ufrag", &c->ufrag);
	set(e, t, "pwd", &c->pwd);
	if (pl_isset(&c->fp_hash)) {
		xmpp_stanza_t *f = el(e, t, "fingerprint", NS_DTLS);
		xmpp_stanza_t *txt = xmpp_stanza_new(e->ctx);
		char *v = NULL;
		set(e, f, "hash", &c->fp_hash);
		set(e, f, "setup", &c->fp_setup);
		if (!txt || pl_strdup(&v, &c->fp_value)) {
			e->err = ENOMEM;
		} else {
			xmpp_stanza_set_text(txt, v);
			if (f)
				xmpp_stanza_add_child(f, txt);
		}
		if (txt)
			xmpp_stanza_release(txt);
		mem_deref(v);
	}
	if (c->tr == JSDP_TR_RAW) {
		/* a phone without ICE, as ICE host candidates */
		for (uint32_t comp = 1; comp <= 2; comp++) {
			uint32_t port = comp == 1 ? c->port : c->rtcp_port;
			if (comp == 2 && (c->rtcp_mux || !port))
				continue;
			k = el(e, t, "candidate", NULL);
			set_u32(e, k, "component", comp);
			set_str(e, k, "foundation", "1");
			set_str(e, k, "generation", "0");
			enc_cand_id(id, sizeof(id), c, comp - 1);
			set_str(e, k, "id", id);
			set(e, k, "ip", &c->addr);
			set_str(e, k, "network", "0");
			set_u32(e, k, "port", port);
			set_u32(e, k, "priority", host_priority(comp));
			set_str(e, k, "protocol", "udp");
			set_str(e, k, "type", "host");
		}
		return;
	}
	for (unsigned i = 0; i < c->ncand; i++) {
		const struct jsdp_cand *ca = &c->cand[i];
		char proto[16];
		k = el(e, t, "candidate", NULL);
		set_u32(e, k, "component", ca->component);
		set(e, k, "foundation", &ca->foundation);
		set_u32(e, k, "generation",
			ca->has_generation ? ca->generation : 0);
		if (pl_isset(&ca->id)) {
			set(e, k, "id", &ca->id);
		} else {
			enc_cand_id(id, sizeof(id), c, i);
			set_str(e, k, "id", id);
		}
		set(e, k, "ip", &ca->ip);
		set_u32(e, k, "network", ca->has_network ? ca->network : 0);
		set_u32(e, k, "port", ca->port);
		set_u32(e, k, "priority", ca->priority);
		/* XEP-0176: lower case; SDP writers often send "UDP" */
		re_snprintf(proto, sizeof(proto), "%r", &ca->protocol);
		for (char *p = proto; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		set_str(e, k, "protocol", proto);
		set(e, k, "type", &ca->type);
		set(e, k, "rel-addr", &ca->rel_addr);
		if (ca->has_rel_port)
			set_u32(e, k, "rel-port", ca->rel_port);
		set(e, k, "tcptype", &ca->tcptype);
	}
}


static bool is_content(const struct jsdp *m, const struct pl *name)
{
	for (unsigned i = 0; i < m->n; i++)
		if (!m->c[i].rejected && !pl_cmp(&m->c[i].name, name))
			return true;
	return false;
}


int jsdp_jingle_encode(xmpp_stanza_t *jingle, const struct jsdp *m,
		       const struct jsdp_jingle_opts *o)
{
	struct enc e = {xmpp_stanza_get_context(jingle), 0};

	for (unsigned i = 0; i < m->n && !e.err; i++) {
		const struct jsdp_content *c = &m->c[i];
		xmpp_stanza_t *ct;
		if (c->rejected)
			continue;
		ct = el(&e, jingle, "content", NULL);
		if (!ct)
			break;
		set_str(&e, ct, "creator",
			c->creator_responder ? "responder" : "initiator");
		set(&e, ct, "name", &c->name);
		set_str(&e, ct, "senders", jsdp_senders_name(c->senders));
		enc_description(&e, ct, c);
		enc_transport(&e, ct, c, o);
	}
	for (unsigned i = 0; i < m->ngrp && !e.err; i++) {
		xmpp_stanza_t *g = el(&e, jingle, "group", NS_GROUPING);
		set(&e, g, "semantics", &m->grp[i].semantics);
		for (unsigned j = 0; g && j < m->grp[i].n; j++) {
			/* a refused stream is no content on the Jingle side */
			if (!is_content(m, &m->grp[i].name[j]))
				continue;
			set(&e, el(&e, g, "content", NULL), "name",
			    &m->grp[i].name[j]);
		}
	}
	return e.err;
}
