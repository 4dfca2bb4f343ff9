/**
 * @file jsdp_sdp.c  SDP text <-> struct jsdp (see jsdp.h).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "jsdp.h"
#include "jsdp_int.h"

/* RFC 3551 static payload types a phone may send without a=rtpmap. */
static const struct {
	uint32_t id;
	const char *name;
	uint32_t clock, channels;
} static_pt[] = {
	{0, "PCMU", 8000, 0},   {3, "GSM", 8000, 0},    {4, "G723", 8000, 0},
	{5, "DVI4", 8000, 0},   {6, "DVI4", 16000, 0},  {7, "LPC", 8000, 0},
	{8, "PCMA", 8000, 0},   {9, "G722", 8000, 0},   {10, "L16", 44100, 2},
	{11, "L16", 44100, 0},  {12, "QCELP", 8000, 0}, {13, "CN", 8000, 0},
	{14, "MPA", 90000, 0},  {15, "G728", 8000, 0},  {16, "DVI4", 11025, 0},
	{17, "DVI4", 22050, 0}, {18, "G729", 8000, 0},  {25, "CelB", 90000, 0},
	{26, "JPEG", 90000, 0}, {28, "nv", 90000, 0},   {31, "H261", 90000, 0},
	{32, "MPV", 90000, 0},  {33, "MP2T", 90000, 0}, {34, "H263", 90000, 0},
};

/* Session-level values that apply to every m-section lacking its own. */
struct sess_defaults {
	struct pl addr, ufrag, pwd, fp_hash, fp_value, setup;
	int dir; /* -1: none */
	bool extmap_allow_mixed;
};


void jsdp_clear(struct jsdp *m)
{
	m->n = 0;
	m->ngrp = 0;
	memset(m->grp, 0, sizeof(m->grp));
	m->action = pl_null;
}


struct jsdp *jsdp_alloc(void)
{
	struct jsdp *m = mem_alloc(sizeof(struct jsdp), NULL);

	if (m)
		jsdp_clear(m);
	return m;
}


/* Next space-separated token of *rest. @return false at the end */
bool jsdp_tok(struct pl *rest, struct pl *tok)
{
	while (rest->l && (*rest->p == ' ' || *rest->p == '\t'))
		pl_advance(rest, 1);
	if (!rest->l)
		return false;
	tok->p = rest->p;
	tok->l = 0;
	while (rest->l && *rest->p != ' ' && *rest->p != '\t') {
		pl_advance(rest, 1);
		tok->l++;
	}
	return true;
}


/* Strict decimal; @return false unless all digits and <= max */
bool jsdp_num(const struct pl *p, uint64_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!p->l || p->l > 10)
		return false;
	for (size_t i = 0; i < p->l; i++) {
		if (p->p[i] < '0' || p->p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p->p[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}


void jsdp_trim(struct pl *p)
{
	while (p->l && (*p->p == ' ' || *p->p == '\t'))
		pl_advance(p, 1);
	while (p->l && (p->p[p->l - 1] == ' ' || p->p[p->l - 1] == '\t'))
		p->l--;
}


/* Split "head<sep>tail" at the first sep; tail empty when sep is absent. */
static bool split(const struct pl *in, char sep, struct pl *head,
		  struct pl *tail)
{
	const char *c = pl_strchr(in, sep);

	if (!c) {
		*head = *in;
		*tail = pl_null;
		return false;
	}
	head->p = in->p;
	head->l = (size_t)(c - in->p);
	tail->p = c + 1;
	tail->l = in->l - head->l - 1;
	return true;
}


/* sendrecv etc. from the SDP author's point of view -> Jingle senders */
static int dir_parse(const struct pl *a)
{
	if (!pl_strcmp(a, "sendrecv"))
		return JSDP_BOTH;
	if (!pl_strcmp(a, "sendonly"))
		return JSDP_INITIATOR; /* "author sends" */
	if (!pl_strcmp(a, "recvonly"))
		return JSDP_RESPONDER; /* "the other side sends" */
	if (!pl_strcmp(a, "inactive"))
		return JSDP_NONE;
	return -1;
}


/* The author-relative direction above, made absolute. */
enum jsdp_senders jsdp_dir_to_senders(int dir, bool author_is_initiator)
{
	if (author_is_initiator || dir == JSDP_BOTH || dir == JSDP_NONE)
		return (enum jsdp_senders)dir;
	return dir == JSDP_INITIATOR ? JSDP_RESPONDER : JSDP_INITIATOR;
}


static const char *senders_to_dir(enum jsdp_senders s, bool author_is_initiator)
{
	switch (s) {
	case JSDP_INITIATOR:
		return author_is_initiator ? "sendonly" : "recvonly";
	case JSDP_RESPONDER:
		return author_is_initiator ? "recvonly" : "sendonly";
	case JSDP_NONE:
		return "inactive";
	default:
		return "sendrecv";
	}
}


static struct jsdp_payload *pt_find(struct jsdp_content *c, uint32_t id)
{
	for (unsigned i = 0; i < c->npt; i++)
		if (c->pt[i].id == id)
			return &c->pt[i];
	return NULL;
}


static int fail(char *eb, size_t sz, int err, unsigned line, const char *why)
{
	if (eb && sz)
		re_snprintf(eb, sz, "SDP line %u: %s", line, why);
	return err;
}


static bool is_rtp(const struct pl *proto)
{
	for (size_t i = 0; i + 3 <= proto->l; i++)
		if (!memcmp(proto->p + i, "RTP", 3))
			return true;
	return false;
}


/* m=<media> <port>[/<n>] <proto> <fmt>... */
static int media_line(struct jsdp_content *c, struct pl v, char *eb, size_t sz,
		      unsigned ln)
{
	struct pl port, proto, fmt, pn, cnt;

	if (!jsdp_tok(&v, &c->media) || !jsdp_tok(&v, &port) ||
	    !jsdp_tok(&v, &proto))
		return fail(eb, sz, EBADMSG, ln, "m= needs media, port, proto");
	split(&port, '/', &pn, &cnt);
	if (!jsdp_num(&pn, 65535, &c->port))
		return fail(eb, sz, EBADMSG, ln, "bad port in m=");
	c->proto = proto;
	jsdp_trim(&v);
	c->fmts = v;
	if (!v.l)
		return fail(eb, sz, EBADMSG, ln, "m= without formats");
	/* only RTP media become Jingle RTP descriptions */
	if (!c->port || !is_rtp(&proto)) {
		c->rejected = true;
		return 0;
	}
	while (jsdp_tok(&v, &fmt)) {
		uint32_t id;
		if (!jsdp_num(&fmt, 127, &id))
			return fail(eb, sz, EBADMSG, ln,
				    "RTP format is not a payload type");
		if (pt_find(c, id))
			continue;
		if (c->npt >= JSDP_MAX_PAYLOADS)
			return fail(eb, sz, EOVERFLOW, ln,
				    "too many payload types");
		c->pt[c->npt].id = id;
		for (size_t i = 0; i < sizeof(static_pt) / sizeof(static_pt[0]);
		     i++) {
			if (static_pt[i].id == id) {
				pl_set_str(&c->pt[c->npt].name,
					   static_pt[i].name);
				c->pt[c->npt].clock = static_pt[i].clock;
				c->pt[c->npt].channels = static_pt[i].channels;
			}
		}
		c->npt++;
	}
	return 0;
}


/* candidate:<foundation> <component> <transport> <priority> <ip> <port>
 *           typ <type> [key value]... */
static int cand_attr(struct jsdp_content *c, struct pl v, char *eb, size_t sz,
		     unsigned ln)
{
	struct jsdp_cand *k;
	struct pl comp, prio, port, typ, key, val;

	if (c->ncand >= JSDP_MAX_CANDS)
		return fail(eb, sz, EOVERFLOW, ln, "too many candidates");
	k = &c->cand[c->ncand];
	memset(k, 0, sizeof(*k));
	if (!jsdp_tok(&v, &k->foundation) || !jsdp_tok(&v, &comp) ||
	    !jsdp_tok(&v, &k->protocol) || !jsdp_tok(&v, &prio) ||
	    !jsdp_tok(&v, &k->ip) || !jsdp_tok(&v, &port) ||
	    !jsdp_tok(&v, &typ) || pl_strcmp(&typ, "typ") ||
	    !jsdp_tok(&v, &k->type))
		return fail(eb, sz, EBADMSG, ln, "malformed a=candidate");
	if (!jsdp_num(&comp, 256, &k->component) || !k->component ||
	    !jsdp_num(&prio, UINT32_MAX, &k->priority) ||
	    !jsdp_num(&port, 65535, &k->port))
		return fail(eb, sz, EBADMSG, ln, "bad number in a=candidate");
	while (jsdp_tok(&v, &key)) {
		if (!jsdp_tok(&v, &val))
			return fail(eb, sz, EBADMSG, ln,
				    "a=candidate extension without value");
		if (!pl_strcmp(&key, "raddr"))
			k->rel_addr = val;
		else if (!pl_strcmp(&key, "rport"))
			k->has_rel_port = jsdp_num(&val, 65535, &k->rel_port);
		else if (!pl_strcmp(&key, "tcptype"))
			k->tcptype = val;
		else if (!pl_strcmp(&key, "generation"))
			k->has_generation =
				jsdp_num(&val, UINT32_MAX, &k->generation);
		else if (!pl_strcmp(&key, "network-id"))
			k->has_network =
				jsdp_num(&val, UINT32_MAX, &k->network);
		/* others (ufrag, network-cost, ...) carry nothing for Jingle */
	}
	c->ncand++;
	return 0;
}


static int fmtp_attr(struct jsdp_content *c, struct pl v)
{
	struct pl pt, params, one, rest;
	struct jsdp_payload *p;
	uint32_t id;

	if (!jsdp_tok(&v, &pt) || !jsdp_num(&pt, 127, &id))
		return EBADMSG;
	p = pt_find(c, id);
	if (!p)
		return 0; /* RFC 4566: attributes of unlisted formats are void
			   */
	params = v;
	jsdp_trim(&params);
	while (params.l) {
		struct pl name, value;
		split(&params, ';', &one, &rest);
		params = rest;
		jsdp_trim(&one);
		if (!one.l)
			continue;
		if (p->npar >= JSDP_MAX_PARAMS)
			return EOVERFLOW;
		if (split(&one, '=', &name, &value)) {
			jsdp_trim(&name);
			jsdp_trim(&value);
			p->par[p->npar].name = name;
			p->par[p->npar].value = value;
		} else {
			p->par[p->npar].name = pl_null;
			p->par[p->npar].value = one;
		}
		p->npar++;
	}
	return 0;
}


static int fb_add(struct jsdp_fb *fb, unsigned *n, struct pl v)
{
	struct pl type;

	if (!jsdp_tok(&v, &type))
		return EBADMSG;
	if (*n >= JSDP_MAX_FB)
		return EOVERFLOW;
	jsdp_trim(&v);
	fb[*n].type = type;
	fb[*n].subtype = v;
	(*n)++;
	return 0;
}


/* ICE credentials and DTLS, valid at session and media level.
 * @return -1 if name is none of them, else 0 or EBADMSG */
static int sec_attr(const struct pl *name, struct pl v, struct pl *ufrag,
		    struct pl *pwd, struct pl *hash, struct pl *value,
		    struct pl *setup)
{
	struct pl *dst = NULL;

	if (!pl_strcmp(name, "fingerprint"))
		return jsdp_tok(&v, hash) && jsdp_tok(&v, value) ? 0 : EBADMSG;
	if (!pl_strcmp(name, "ice-ufrag"))
		dst = ufrag;
	else if (!pl_strcmp(name, "ice-pwd"))
		dst = pwd;
	else if (!pl_strcmp(name, "setup"))
		dst = setup;
	else
		return -1;
	jsdp_trim(&v);
	*dst = v;
	return 0;
}


static int media_attr(struct jsdp_content *c, const struct pl *name,
		      struct pl v, bool author_is_initiator, char *eb,
		      size_t sz, unsigned ln, int *dir, uint32_t *ptime,
		      uint32_t *maxptime)
{
	struct pl a, b, rest;
	uint32_t id;
	int err = 0;

	if (!pl_strcmp(name, "mid")) {
		jsdp_trim(&v);
		if (!v.l)
			return fail(eb, sz, EBADMSG, ln, "empty a=mid");
		c->name = v;
	} else if (dir_parse(name) >= 0) {
		*dir = dir_parse(name);
	} else if (c->rejected) {
		return 0; /* nothing else of a rejected stream matters */
	} else if (!pl_strcmp(name, "rtpmap")) {
		struct jsdp_payload *p;
		struct pl enc, clock, ch;
		if (!jsdp_tok(&v, &a) || !jsdp_num(&a, 127, &id) ||
		    !jsdp_tok(&v, &b))
			return fail(eb, sz, EBADMSG, ln, "malformed a=rtpmap");
		p = pt_find(c, id);
		if (!p)
			return 0;
		split(&b, '/', &enc, &rest);
		split(&rest, '/', &clock, &ch);
		if (!enc.l || !jsdp_num(&clock, UINT32_MAX, &p->clock) ||
		    (ch.l && !jsdp_num(&ch, 255, &p->channels)))
			return fail(eb, sz, EBADMSG, ln, "malformed a=rtpmap");
		p->name = enc;
		if (!ch.l)
			p->channels = 0;
	} else if (!pl_strcmp(name, "fmtp")) {
		err = fmtp_attr(c, v);
		if (err)
			return fail(eb, sz, err, ln,
				    err == EOVERFLOW
					    ? "too many fmtp parameters"
					    : "malformed a=fmtp");
	} else if (!pl_strcmp(name, "rtcp-fb")) {
		struct jsdp_payload *p;
		if (!jsdp_tok(&v, &a))
			return fail(eb, sz, EBADMSG, ln, "malformed a=rtcp-fb");
		if (!pl_strcmp(&a, "*"))
			err = fb_add(c->fb_all, &c->nfb_all, v);
		else if (!jsdp_num(&a, 127, &id))
			return fail(eb, sz, EBADMSG, ln, "malformed a=rtcp-fb");
		else if ((p = pt_find(c, id)))
			err = fb_add(p->fb, &p->nfb, v);
		if (err)
			return fail(eb, sz, err, ln,
				    err == EOVERFLOW ? "too many a=rtcp-fb"
						     : "malformed a=rtcp-fb");
	} else if (!pl_strcmp(name, "ptime")) {
		jsdp_trim(&v);
		split(&v, '.', &a, &b); /* "20.0" happens */
		if (!jsdp_num(&a, 100000, ptime))
			return fail(eb, sz, EBADMSG, ln, "bad a=ptime");
	} else if (!pl_strcmp(name, "maxptime")) {
		jsdp_trim(&v);
		split(&v, '.', &a, &b);
		if (!jsdp_num(&a, 100000, maxptime))
			return fail(eb, sz, EBADMSG, ln, "bad a=maxptime");
	} else if (!pl_strcmp(name, "extmap")) {
		struct jsdp_hdrext *x;
		struct pl d, idd;
		int dd = JSDP_BOTH;
		if (!jsdp_tok(&v, &idd) || !jsdp_tok(&v, &b))
			return fail(eb, sz, EBADMSG, ln, "malformed a=extmap");
		if (split(&idd, '/', &a, &d) && (dd = dir_parse(&d)) < 0)
			return fail(eb, sz, EBADMSG, ln,
				    "bad direction in a=extmap");
		if (!jsdp_num(&a, 14, &id) || !id) {
			/* two-byte header ids (up to 255) exist too */
			if (!jsdp_num(&a, 255, &id) || !id)
				return fail(eb, sz, EBADMSG, ln,
					    "bad id in a=extmap");
		}
		if (c->next >= JSDP_MAX_HDREXT)
			return fail(eb, sz, EOVERFLOW, ln, "too many a=extmap");
		x = &c->ext[c->next++];
		x->id = id;
		x->uri = b;
		x->senders = jsdp_dir_to_senders(dd, author_is_initiator);
	} else if (!pl_strcmp(name, "extmap-allow-mixed")) {
		c->extmap_allow_mixed = true;
	} else if (!pl_strcmp(name, "rtcp-mux")) {
		c->rtcp_mux = true;
	} else if (!pl_strcmp(name, "rtcp")) {
		if (!jsdp_tok(&v, &a) || !jsdp_num(&a, 65535, &c->rtcp_port))
			return fail(eb, sz, EBADMSG, ln, "bad a=rtcp");
	} else if (!pl_strcmp(name, "ssrc")) {
		struct jsdp_source *s = NULL;
		struct jsdp_param *pp;
		if (!jsdp_tok(&v, &a) || !jsdp_num(&a, UINT32_MAX, &id))
			return fail(eb, sz, EBADMSG, ln, "malformed a=ssrc");
		for (unsigned i = 0; i < c->nsrc; i++)
			if (c->src[i].ssrc == id)
				s = &c->src[i];
		if (!s) {
			if (c->nsrc >= JSDP_MAX_SOURCES)
				return fail(eb, sz, EOVERFLOW, ln,
					    "too many sources");
			s = &c->src[c->nsrc++];
			s->ssrc = id;
		}
		jsdp_trim(&v);
		if (!v.l)
			return 0;
		if (s->npar >= JSDP_MAX_SRC_PARAMS)
			return fail(eb, sz, EOVERFLOW, ln,
				    "too many a=ssrc attributes");
		pp = &s->par[s->npar++];
		split(&v, ':', &pp->name, &pp->value);
	} else if (!pl_strcmp(name, "ssrc-group")) {
		struct jsdp_ssrc_group *g;
		if (c->nsgrp >= JSDP_MAX_SSRC_GROUPS)
			return fail(eb, sz, EOVERFLOW, ln,
				    "too many a=ssrc-group");
		g = &c->sgrp[c->nsgrp];
		memset(g, 0, sizeof(*g));
		if (!jsdp_tok(&v, &g->semantics))
			return fail(eb, sz, EBADMSG, ln,
				    "malformed a=ssrc-group");
		while (jsdp_tok(&v, &a)) {
			if (g->n >= JSDP_MAX_GROUP_SSRCS)
				return fail(eb, sz, EOVERFLOW, ln,
					    "too many ssrcs in a group");
			if (!jsdp_num(&a, UINT32_MAX, &g->ssrc[g->n++]))
				return fail(eb, sz, EBADMSG, ln,
					    "bad ssrc in a=ssrc-group");
		}
		c->nsgrp++;
	} else if (!pl_strcmp(name, "crypto")) {
		struct jsdp_crypto *k;
		if (c->ncrypto >= JSDP_MAX_CRYPTO)
			return fail(eb, sz, EOVERFLOW, ln, "too many a=crypto");
		k = &c->crypto[c->ncrypto];
		memset(k, 0, sizeof(*k));
		if (!jsdp_tok(&v, &k->tag) || !jsdp_tok(&v, &k->suite) ||
		    !jsdp_tok(&v, &k->key_params) ||
		    !jsdp_num(&k->tag, 999999999, &id))
			return fail(eb, sz, EBADMSG, ln, "malformed a=crypto");
		jsdp_trim(&v);
		k->session_params = v;
		c->ncrypto++;
	} else if ((err = sec_attr(name, v, &c->ufrag, &c->pwd, &c->fp_hash,
				   &c->fp_value, &c->fp_setup)) >= 0) {
		return err ? fail(eb, sz, err, ln, "malformed a=fingerprint")
			   : 0;
	} else if (!pl_strcmp(name, "candidate")) {
		return cand_attr(c, v, eb, sz, ln);
	}
	return 0;
}


static int sess_attr(struct jsdp *m, struct sess_defaults *d,
		     const struct pl *name, struct pl v, char *eb, size_t sz,
		     unsigned ln)
{
	struct pl a;
	int err;

	if (dir_parse(name) >= 0) {
		d->dir = dir_parse(name);
	} else if (!pl_strcmp(name, "group")) {
		struct jsdp_group *g;
		if (m->ngrp >= JSDP_MAX_GROUPS)
			return fail(eb, sz, EOVERFLOW, ln, "too many a=group");
		g = &m->grp[m->ngrp];
		memset(g, 0, sizeof(*g));
		if (!jsdp_tok(&v, &g->semantics))
			return fail(eb, sz, EBADMSG, ln, "malformed a=group");
		while (jsdp_tok(&v, &a)) {
			if (g->n >= JSDP_MAX_GROUP_NAMES)
				return fail(eb, sz, EOVERFLOW, ln,
					    "too many names in a=group");
			g->name[g->n++] = a;
		}
		m->ngrp++;
	} else if (!pl_strcmp(name, "jingle-action")) {
		jsdp_trim(&v);
		m->action = v;
	} else if ((err = sec_attr(name, v, &d->ufrag, &d->pwd, &d->fp_hash,
				   &d->fp_value, &d->setup)) >= 0) {
		return err ? fail(eb, sz, err, ln, "malformed a=fingerprint")
			   : 0;
	} else if (!pl_strcmp(name, "extmap-allow-mixed")) {
		d->extmap_allow_mixed = true;
	}
	return 0;
}


/* c=IN IP4|IP6 <addr> */
static int conn_line(struct pl v, struct pl *addr, char *eb, size_t sz,
		     unsigned ln)
{
	struct pl nt, at, a, ttl;

	if (!jsdp_tok(&v, &nt) || !jsdp_tok(&v, &at) || !jsdp_tok(&v, &a) ||
	    pl_strcmp(&nt, "IN") ||
	    (pl_strcmp(&at, "IP4") && pl_strcmp(&at, "IP6")))
		return fail(eb, sz, EBADMSG, ln, "malformed c=");
	split(&a, '/', addr, &ttl); /* multicast TTL is of no use here */
	return 0;
}


/* Close an m-section: session defaults, ptime, transport kind, name. */
static void media_end(struct jsdp *m, struct jsdp_content *c,
		      const struct sess_defaults *d, int dir, uint32_t ptime,
		      uint32_t maxptime, bool author_is_initiator)
{
	if (!pl_isset(&c->addr))
		c->addr = d->addr;
	if (!pl_isset(&c->ufrag))
		c->ufrag = d->ufrag;
	if (!pl_isset(&c->pwd))
		c->pwd = d->pwd;
	if (!pl_isset(&c->fp_hash)) {
		c->fp_hash = d->fp_hash;
		c->fp_value = d->fp_value;
	}
	if (!pl_isset(&c->fp_setup))
		c->fp_setup = d->setup;
	if (d->extmap_allow_mixed)
		c->extmap_allow_mixed = true;
	if (dir < 0)
		dir = d->dir >= 0 ? d->dir : JSDP_BOTH; /* RFC 8866 6.7 */
	c->senders = jsdp_dir_to_senders(dir, author_is_initiator);
	/* SDES (RFC 4568): on an SRTP profile (RTP/SAVP, RTP/SAVPF) the
	 * keys are required; on RTP/AVP they are offered (best effort) */
	c->crypto_required = c->ncrypto && c->proto.l >= 8 &&
			     !strncasecmp(c->proto.p, "RTP/SAVP", 8);
	for (unsigned i = 0; i < c->npt; i++) {
		c->pt[i].ptime = ptime;
		c->pt[i].maxptime = maxptime;
	}
	if (pl_isset(&c->ufrag) || c->ncand) {
		c->tr = JSDP_TR_ICE;
	} else if (c->port && pl_isset(&c->addr)) {
		c->tr = JSDP_TR_RAW;
		/* RFC 3550 11: RTCP on the next port unless told otherwise */
		if (!c->rtcp_mux && !c->rtcp_port && c->port < 65535)
			c->rtcp_port = c->port + 1;
	}
	if (!pl_isset(&c->name))
		c->name = c->media;
	/* names must be unique within the session */
	for (unsigned i = 0; i + 1 < m->n; i++) {
		if (!pl_cmp(&m->c[i].name, &c->name)) {
			re_snprintf(c->namebuf, sizeof(c->namebuf), "%r-%u",
				    &c->media, m->n - 1);
			pl_set_str(&c->name, c->namebuf);
			break;
		}
	}
}


int jsdp_sdp_decode(struct jsdp *m, const struct pl *sdp,
		    bool author_is_initiator, char *eb, size_t sz)
{
	struct sess_defaults d = {.dir = -1};
	struct jsdp_content *c = NULL;
	struct pl rest = *sdp, line, nl;
	uint32_t ptime = 0, maxptime = 0;
	unsigned ln = 0;
	int dir = -1, err;

	jsdp_clear(m);
	while (rest.l) {
		struct pl v, name, val;
		char t;

		split(&rest, '\n', &line, &nl);
		rest = nl;
		ln++;
		if (line.l && line.p[line.l - 1] == '\r')
			line.l--;
		if (!line.l)
			continue; /* a trailing empty line is common */
		if (line.l < 2 || line.p[1] != '=' || line.p[0] < 'a' ||
		    line.p[0] > 'z')
			return fail(eb, sz, EBADMSG, ln, "not <type>=<value>");
		t = line.p[0];
		v.p = line.p + 2;
		v.l = line.l - 2;
		if (ln == 1 && (t != 'v' || pl_strcmp(&v, "0")))
			return fail(eb, sz, EBADMSG, ln, "SDP must start v=0");
		switch (t) {
		case 'm':
			if (c)
				media_end(m, c, &d, dir, ptime, maxptime,
					  author_is_initiator);
			if (m->n >= JSDP_MAX_CONTENTS)
				return fail(eb, sz, EOVERFLOW, ln,
					    "too many m= lines");
			c = &m->c[m->n++];
			memset(c, 0, sizeof(*c));
			dir = -1;
			ptime = maxptime = 0;
			err = media_line(c, v, eb, sz, ln);
			if (err)
				return err;
			break;
		case 'c':
			err = conn_line(v, c ? &c->addr : &d.addr, eb, sz, ln);
			if (err)
				return err;
			break;
		case 'a':
			split(&v, ':', &name, &val);
			err = c ? media_attr(c, &name, val, author_is_initiator,
					     eb, sz, ln, &dir, &ptime,
					     &maxptime)
				: sess_attr(m, &d, &name, val, eb, sz, ln);
			if (err)
				return err;
			break;
		default:
			break; /* o= s= t= b= i= ... carry nothing for Jingle */
		}
	}
	if (!ln)
		return fail(eb, sz, EBADMSG, 0, "empty SDP");
	if (c)
		media_end(m, c, &d, dir, ptime, maxptime, author_is_initiator);
	return jsdp_check(m, "SDP m-line", eb, sz);
}


/* Checking: what both sides can carry (jsdp_check) */

/* Printable ASCII without space: an SDP token, an XML attribute as is. */
static bool token_ok(const struct pl *v)
{
	for (size_t i = 0; i < v->l; i++)
		if ((uint8_t)v->p[i] <= 0x20 || (uint8_t)v->p[i] >= 0x7f)
			return false;
	return true;
}


/* UTF-8 (RFC 3629: no overlong form, no surrogate) of XML 1.0 characters
 * without C0/C1 controls or DEL: it stays on its SDP line and is XML. */
static bool text_ok(const struct pl *v)
{
	const uint8_t *s = (const uint8_t *)v->p;
	size_t i = 0;

	while (i < v->l) {
		uint32_t c = s[i];
		size_t n;

		if (c < 0x80) {
			n = 1;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			c &= 0x07;
		} else {
			return false;
		}
		if (v->l - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
		    (n == 3 && c < 0x800) || (c >= 0xd800 && c <= 0xdfff) ||
		    c == 0xfffe || c == 0xffff || (n == 4 && c < 0x10000) ||
		    c > 0x10ffff)
			return false;
		i += n;
	}
	return true;
}


struct field {
	const struct pl *v;
	bool text; /**< else a token */
	const char *name;
};


/* ci: the content's number from 1, 0 for the session */
static int fields_check(const struct field *f, size_t n, const char *what,
			unsigned ci, char *eb, size_t sz)
{
	const char *why;

	for (size_t i = 0; i < n; i++) {
		if (!pl_isset(f[i].v) ||
		    (f[i].text ? text_ok(f[i].v) : token_ok(f[i].v)))
			continue;
		why = f[i].text ? "control character or invalid UTF-8"
				: "space, control or non-ASCII byte";
		if (eb && sz && ci)
			re_snprintf(eb, sz, "%s %u: %s: %s", what, ci,
				    f[i].name, why);
		else if (eb && sz)
			re_snprintf(eb, sz, "%s: %s", f[i].name, why);
		return EBADMSG;
	}
	return 0;
}


static int payload_check(const struct jsdp_payload *p, const char *what,
			 unsigned ci, char *eb, size_t sz)
{
	const struct field f[] = {{&p->name, false, "payload name"}};
	int err = fields_check(f, 1, what, ci, eb, sz);

	for (unsigned i = 0; i < p->npar && !err; i++) {
		const struct field pf[] = {
			{&p->par[i].name, false, "parameter name"},
			{&p->par[i].value, true, "parameter value"}};
		err = fields_check(pf, 2, what, ci, eb, sz);
	}
	for (unsigned i = 0; i < p->nfb && !err; i++) {
		const struct field ff[] = {
			{&p->fb[i].type, false, "rtcp-fb type"},
			{&p->fb[i].subtype, true, "rtcp-fb subtype"}};
		err = fields_check(ff, 2, what, ci, eb, sz);
	}
	return err;
}


static int cand_check(const struct jsdp_cand *k, const char *what, unsigned ci,
		      char *eb, size_t sz)
{
	const struct field f[] = {
		{&k->foundation, false, "candidate foundation"},
		{&k->protocol, false, "candidate protocol"},
		{&k->ip, false, "candidate ip"},
		{&k->type, false, "candidate type"},
		{&k->rel_addr, false, "candidate rel-addr"},
		{&k->tcptype, false, "candidate tcptype"},
		{&k->id, false, "candidate id"},
	};

	return fields_check(f, sizeof(f) / sizeof(f[0]), what, ci, eb, sz);
}


static int content_check(const struct jsdp_content *c, const char *what,
			 unsigned ci, char *eb, size_t sz)
{
	const struct field f[] = {
		{&c->name, false, "name (mid)"},
		{&c->media, false, "media"},
		{&c->proto, false, "proto"},
		{&c->fmts, true, "formats"},
		{&c->ufrag, false, "ice-ufrag"},
		{&c->pwd, false, "ice-pwd"},
		{&c->fp_hash, false, "fingerprint hash"},
		{&c->fp_value, false, "fingerprint"},
		{&c->fp_setup, false, "setup"},
		{&c->addr, false, "address"},
	};
	int err = fields_check(f, sizeof(f) / sizeof(f[0]), what, ci, eb, sz);

	for (unsigned i = 0; i < c->npt && !err; i++)
		err = payload_check(&c->pt[i], what, ci, eb, sz);
	for (unsigned i = 0; i < c->nfb_all && !err; i++) {
		const struct field ff[] = {
			{&c->fb_all[i].type, false, "rtcp-fb type"},
			{&c->fb_all[i].subtype, true, "rtcp-fb subtype"}};
		err = fields_check(ff, 2, what, ci, eb, sz);
	}
	for (unsigned i = 0; i < c->next && !err; i++) {
		const struct field xf[] = {
			{&c->ext[i].uri, false, "rtp-hdrext uri"}};
		err = fields_check(xf, 1, what, ci, eb, sz);
	}
	for (unsigned i = 0; i < c->nsrc && !err; i++)
		for (unsigned k = 0; k < c->src[i].npar && !err; k++) {
			const struct field sf[] = {
				{&c->src[i].par[k].name, false,
				 "ssrc attribute name"},
				{&c->src[i].par[k].value, true,
				 "ssrc attribute value"}};
			err = fields_check(sf, 2, what, ci, eb, sz);
		}
	for (unsigned i = 0; i < c->nsgrp && !err; i++) {
		const struct field gf[] = {
			{&c->sgrp[i].semantics, false, "ssrc-group semantics"}};
		err = fields_check(gf, 1, what, ci, eb, sz);
	}
	for (unsigned i = 0; i < c->ncrypto && !err; i++) {
		const struct field kf[] = {
			{&c->crypto[i].tag, false, "crypto tag"},
			{&c->crypto[i].suite, false, "crypto suite"},
			{&c->crypto[i].key_params, false, "crypto key-params"},
			{&c->crypto[i].session_params, true,
			 "crypto session-params"}};
		err = fields_check(kf, 4, what, ci, eb, sz);
	}
	for (unsigned i = 0; i < c->ncand && !err; i++)
		err = cand_check(&c->cand[i], what, ci, eb, sz);
	return err;
}


int jsdp_check(const struct jsdp *m, const char *what, char *eb, size_t sz)
{
	const struct field af[] = {{&m->action, false, "jingle-action"}};
	int err = fields_check(af, 1, what, 0, eb, sz);

	for (unsigned i = 0; i < m->n && !err; i++)
		err = content_check(&m->c[i], what, i + 1, eb, sz);
	for (unsigned i = 0; i < m->ngrp && !err; i++) {
		const struct field gf[] = {
			{&m->grp[i].semantics, false, "group semantics"}};
		err = fields_check(gf, 1, what, 0, eb, sz);
		for (unsigned k = 0; k < m->grp[i].n && !err; k++) {
			const struct field nf[] = {
				{&m->grp[i].name[k], false, "group member"}};
			err = fields_check(nf, 1, what, 0, eb, sz);
		}
	}
	return err;
}


/* Encoding */

static const struct jsdp_cand *default_cand(const struct jsdp_content *c,
					    uint32_t component)
{
	static const char *pref[] = {"relay", "srflx", "prflx", "host"};
	const struct jsdp_cand *best = NULL;
	int bestp = 99;

	for (unsigned i = 0; i < c->ncand; i++) {
		const struct jsdp_cand *k = &c->cand[i];
		int p = 4;
		if (k->component != component ||
		    pl_strcasecmp(&k->protocol, "udp"))
			continue;
		for (int j = 0; j < 4; j++)
			if (!pl_strcmp(&k->type, pref[j]))
				p = j;
		if (!best || p < bestp ||
		    (p == bestp && k->priority > best->priority)) {
			best = k;
			bestp = p;
		}
	}
	return best;
}


static int print_cand(struct mbuf *mb, const struct jsdp_cand *k)
{
	int err = mbuf_printf(mb, "a=candidate:%r %u ", &k->foundation,
			      k->component);

	for (size_t i = 0; i < k->protocol.l; i++)
		err |= mbuf_write_u8(
			mb, (uint8_t)(k->protocol.p[i] >= 'A' &&
						      k->protocol.p[i] <= 'Z'
					      ? k->protocol.p[i] + 32
					      : k->protocol.p[i]));
	err |= mbuf_printf(mb, " %u %r %u typ %r", k->priority, &k->ip, k->port,
			   &k->type);
	if (pl_isset(&k->rel_addr))
		err |= mbuf_printf(mb, " raddr %r", &k->rel_addr);
	if (k->has_rel_port)
		err |= mbuf_printf(mb, " rport %u", k->rel_port);
	if (pl_isset(&k->tcptype))
		err |= mbuf_printf(mb, " tcptype %r", &k->tcptype);
	if (k->has_generation)
		err |= mbuf_printf(mb, " generation %u", k->generation);
	if (k->has_network)
		err |= mbuf_printf(mb, " network-id %u", k->network);
	return err | mbuf_write_str(mb, "\r\n");
}


static int print_payload(struct mbuf *mb, const struct jsdp_payload *p)
{
	int err = 0;

	if (pl_isset(&p->name) && p->clock) {
		err |= mbuf_printf(mb, "a=rtpmap:%u %r/%u", p->id, &p->name,
				   p->clock);
		if (p->channels > 1)
			err |= mbuf_printf(mb, "/%u", p->channels);
		err |= mbuf_write_str(mb, "\r\n");
	}
	for (unsigned i = 0; i < p->npar; i++) {
		const struct jsdp_param *q = &p->par[i];
		err |= mbuf_printf(mb, "%s", i ? ";" : "a=fmtp:");
		if (!i)
			err |= mbuf_printf(mb, "%u ", p->id);
		if (pl_isset(&q->name))
			err |= mbuf_printf(mb, "%r=%r", &q->name, &q->value);
		else
			err |= mbuf_printf(mb, "%r", &q->value);
	}
	if (p->npar)
		err |= mbuf_write_str(mb, "\r\n");
	for (unsigned i = 0; i < p->nfb; i++)
		err |= mbuf_printf(mb, "a=rtcp-fb:%u %r%s%r\r\n", p->id,
				   &p->fb[i].type,
				   pl_isset(&p->fb[i].subtype) ? " " : "",
				   &p->fb[i].subtype);
	return err;
}


/* XEP-0167 7: SDES keys that are required make an SRTP profile; keys
 * only offered stay on RTP/AVP with their a=crypto (best-effort SRTP: a
 * phone without SRTP still takes the stream). */
static const char *proto_of(const struct jsdp_content *c)
{
	if (pl_isset(&c->fp_hash))
		return "UDP/TLS/RTP/SAVPF";
	if (c->ncrypto && c->crypto_required)
		return "RTP/SAVP";
	return "RTP/AVP";
}


static int print_content(struct mbuf *mb, const struct jsdp_content *c,
			 const struct jsdp_sdp_opts *o,
			 const struct jsdp_content *oc)
{
	const struct jsdp_cand *k1 = NULL, *k2 = NULL;
	struct pl addr = pl_null;
	uint32_t port = 9, rtcp = 0;
	int err = 0;

	if (c->tr == JSDP_TR_ICE) {
		k1 = default_cand(c, 1);
		k2 = default_cand(c, 2);
		if (k1) {
			addr = k1->ip;
			port = k1->port;
		}
		if (k2 && !c->rtcp_mux)
			rtcp = k2->port;
	} else if (c->tr == JSDP_TR_RAW && c->port) {
		/* (without a candidate: no address yet, not a refused port 0)
		 */
		addr = c->addr;
		port = c->port;
		rtcp = c->rtcp_mux ? 0 : c->rtcp_port;
	}
	if (!pl_isset(&addr))
		pl_set_str(&addr, c->tr == JSDP_TR_ICE ? "0.0.0.0" : o->origin);

	err |= mbuf_printf(mb, "m=%r %u ", &c->media, port);
	if (oc)
		err |= mbuf_printf(mb, "%r", &oc->proto);
	else if (pl_isset(&c->proto))
		err |= mbuf_printf(mb, "%r", &c->proto);
	else
		err |= mbuf_write_str(mb, proto_of(c));
	for (unsigned i = 0; i < c->npt; i++)
		err |= mbuf_printf(mb, " %u", c->pt[i].id);
	err |= mbuf_printf(mb, "\r\nc=IN %s %r\r\n",
			   pl_strchr(&addr, ':') ? "IP6" : "IP4", &addr);
	if (rtcp)
		err |= mbuf_printf(mb, "a=rtcp:%u\r\n", rtcp);
	err |= mbuf_printf(mb, "a=mid:%r\r\na=%s\r\n", &c->name,
			   senders_to_dir(c->senders, o->author_is_initiator));
	if (pl_isset(&c->ufrag))
		err |= mbuf_printf(mb, "a=ice-ufrag:%r\r\n", &c->ufrag);
	if (pl_isset(&c->pwd))
		err |= mbuf_printf(mb, "a=ice-pwd:%r\r\n", &c->pwd);
	if (pl_isset(&c->fp_hash))
		err |= mbuf_printf(mb, "a=fingerprint:%r %r\r\n", &c->fp_hash,
				   &c->fp_value);
	if (pl_isset(&c->fp_setup))
		err |= mbuf_printf(mb, "a=setup:%r\r\n", &c->fp_setup);
	if (c->tr == JSDP_TR_ICE)
		for (unsigned i = 0; i < c->ncand; i++)
			err |= print_cand(mb, &c->cand[i]);
	if (c->rtcp_mux)
		err |= mbuf_write_str(mb, "a=rtcp-mux\r\n");
	for (unsigned i = 0; i < c->next; i++) {
		const struct jsdp_hdrext *x = &c->ext[i];
		err |= mbuf_printf(mb, "a=extmap:%u", x->id);
		if (x->senders != JSDP_BOTH)
			err |= mbuf_printf(
				mb, "/%s",
				senders_to_dir(x->senders,
					       o->author_is_initiator));
		err |= mbuf_printf(mb, " %r\r\n", &x->uri);
	}
	if (c->extmap_allow_mixed)
		err |= mbuf_write_str(mb, "a=extmap-allow-mixed\r\n");
	for (unsigned i = 0; i < c->ncrypto; i++) {
		const struct jsdp_crypto *k = &c->crypto[i];
		err |= mbuf_printf(mb, "a=crypto:%r %r %r%s%r\r\n", &k->tag,
				   &k->suite, &k->key_params,
				   pl_isset(&k->session_params) ? " " : "",
				   &k->session_params);
	}
	for (unsigned i = 0; i < c->npt; i++)
		err |= print_payload(mb, &c->pt[i]);
	for (unsigned i = 0; i < c->nfb_all; i++)
		err |= mbuf_printf(mb, "a=rtcp-fb:* %r%s%r\r\n",
				   &c->fb_all[i].type,
				   pl_isset(&c->fb_all[i].subtype) ? " " : "",
				   &c->fb_all[i].subtype);
	if (c->npt && c->pt[0].ptime)
		err |= mbuf_printf(mb, "a=ptime:%u\r\n", c->pt[0].ptime);
	if (c->npt && c->pt[0].maxptime)
		err |= mbuf_printf(mb, "a=maxptime:%u\r\n", c->pt[0].maxptime);
	for (unsigned i = 0; i < c->nsgrp; i++) {
		err |= mbuf_printf(mb, "a=ssrc-group:%r",
				   &c->sgrp[i].semantics);
		for (unsigned j = 0; j < c->sgrp[i].n; j++)
			err |= mbuf_printf(mb, " %u", c->sgrp[i].ssrc[j]);
		err |= mbuf_write_str(mb, "\r\n");
	}
	for (unsigned i = 0; i < c->nsrc; i++) {
		const struct jsdp_source *s = &c->src[i];
		if (!s->npar)
			err |= mbuf_printf(mb, "a=ssrc:%u\r\n", s->ssrc);
		for (unsigned j = 0; j < s->npar; j++)
			err |= mbuf_printf(mb, "a=ssrc:%u %r%s%r\r\n", s->ssrc,
					   &s->par[j].name,
					   pl_isset(&s->par[j].value) ? ":"
								      : "",
					   &s->par[j].value);
	}
	return err;
}


/* A refused stream in an answer (RFC 3264 6): port 0, the offer's formats. */
static int print_rejected(struct mbuf *mb, const struct jsdp_content *oc)
{
	int err = mbuf_printf(mb, "m=%r 0 %r %r\r\n", &oc->media, &oc->proto,
			      &oc->fmts);

	if (pl_isset(&oc->name) && pl_cmp(&oc->name, &oc->media))
		err |= mbuf_printf(mb, "a=mid:%r\r\n", &oc->name);
	return err;
}


static const struct jsdp_content *by_name(const struct jsdp *m,
					  const struct pl *name)
{
	for (unsigned i = 0; i < m->n; i++)
		if (!pl_cmp(&m->c[i].name, name))
			return &m->c[i];
	return NULL;
}


int jsdp_sdp_encode(struct mbuf *mb, const struct jsdp *m,
		    const struct jsdp_sdp_opts *o)
{
	int err;

	if (!m->n && !(o->offer && o->offer->n))
		return EINVAL;
	err = mbuf_printf(mb,
			  "v=0\r\no=- %llu %llu IN %s %s\r\ns=-\r\nt=0 0\r\n",
			  (unsigned long long)o->sess_id,
			  (unsigned long long)o->sess_version,
			  strchr(o->origin, ':') ? "IP6" : "IP4", o->origin);
	if (o->action)
		err |= mbuf_printf(mb, "a=jingle-action:%s\r\n", o->action);
	for (unsigned i = 0; i < m->ngrp; i++) {
		err |= mbuf_printf(mb, "a=group:%r", &m->grp[i].semantics);
		for (unsigned j = 0; j < m->grp[i].n; j++)
			err |= mbuf_printf(mb, " %r", &m->grp[i].name[j]);
		err |= mbuf_write_str(mb, "\r\n");
	}
	if (!o->offer) {
		for (unsigned i = 0; i < m->n; i++)
			if (!m->c[i].rejected)
				err |= print_content(mb, &m->c[i], o, NULL);
		return err ? ENOMEM : 0;
	}
	/* an answer has the offer's m-lines, in the offer's order */
	for (unsigned i = 0; i < o->offer->n; i++) {
		const struct jsdp_content *oc = &o->offer->c[i];
		const struct jsdp_content *c = by_name(m, &oc->name);
		if (oc->rejected || !c || c->rejected)
			err |= print_rejected(mb, oc);
		else
			err |= print_content(mb, c, o, oc);
	}
	return err ? ENOMEM : 0;
}


int jsdp_frag_encode(struct mbuf *mb, const struct jsdp *m)
{
	static const struct pl audio = PL("audio"), avp = PL("RTP/AVP");
	int err = 0;

	for (unsigned i = 0; i < m->n && !err; i++) {
		const struct jsdp_content *c = &m->c[i];

		err = mbuf_printf(mb, "m=%r 9 %r 0\r\na=mid:%r\r\n",
				  pl_isset(&c->media) ? &c->media : &audio,
				  pl_isset(&c->proto) ? &c->proto : &avp,
				  &c->name);
		if (pl_isset(&c->ufrag))
			err |= mbuf_printf(mb, "a=ice-ufrag:%r\r\n", &c->ufrag);
		if (pl_isset(&c->pwd))
			err |= mbuf_printf(mb, "a=ice-pwd:%r\r\n", &c->pwd);
		for (unsigned k = 0; k < c->ncand && !err; k++)
			err = print_cand(mb, &c->cand[k]);
	}
	return err;
}
