/**
 * @file tr_media.c  Media of calls: SDP <-> Jingle through the jsdp model,
 *                   answers to re-offers, hold, trickle ICE fragments.
 *                   Pure functions of a record and a stanza or SDP; nothing
 *                   here writes the store or sends.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "jsdp.h"
#include "jsdp_int.h"
#include "log.h"
#include "translator.h"
#include "xparse.h"
#include "util.h"
#include "xmpp_util.h"


int tr_media_stanza_text(struct translator *tr, xmpp_stanza_t *st, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK)
		return ENOMEM;
	mem_deref(*out);
	*out = NULL;
	err = re_sdprintf(out, "%b", buf, len);
	xmpp_free(tr->xctx, buf);
	return err;
}


static int sdp_print(struct translator *tr, struct callrec *r,
		     const struct jsdp *m, bool author_is_initiator,
		     const struct jsdp *offer, const char *action, char **sdp)
{
	struct mbuf *mb = mbuf_alloc(2048);
	struct jsdp_sdp_opts o = {0};
	int err;

	if (!mb)
		return ENOMEM;
	if (!r->sdp_id)
		r->sdp_id = random_u64() >> 2;
	o.author_is_initiator = author_is_initiator;
	o.origin = tr->proc.cfg->sip.sdp_origin;
	o.sess_id = r->sdp_id;
	o.sess_version = ++r->sdp_ver;
	o.action = action;
	o.offer = offer;
	err = jsdp_sdp_encode(mb, m, &o);
	if (!err) {
		mb->pos = 0;
		err = mbuf_strdup(mb, sdp, mb->end);
	}
	mem_deref(mb);
	return err;
}


/* At least one content that is not refused and has a codec. */
static bool usable(const struct jsdp *m)
{
	for (unsigned i = 0; i < m->n; i++)
		if (!m->c[i].rejected && m->c[i].npt)
			return true;
	return false;
}


/* Media to offer or answer: a usable content, and no content without a
 * <description/> (its m-line would have no media and no format). */
static int media_check(const struct jsdp *m, char *eb, size_t ebsz)
{
	for (unsigned i = 0; i < m->n; i++) {
		if (!pl_isset(&m->c[i].media)) {
			re_snprintf(eb, ebsz,
				    "<content/> %u without <description/>",
				    i + 1);
			return EPROTO;
		}
	}
	if (!usable(m)) {
		snprintf(eb, ebsz, "no content with a description");
		return EPROTO;
	}
	return 0;
}


/* A linked account's SDES policy (SPEC 6.2; Janus's srtp setting) on
 * what we offer or answer: mandatory -> keys in every stream, on RTP/SAVP;
 * optional -> our offer's keys on RTP/AVP (best effort). */
static int srtp_policy(struct jsdp *m, uint32_t srtp, bool offering, char *eb,
		       size_t ebsz)
{
	for (unsigned i = 0; i < m->n; i++) {
		struct jsdp_content *ct = &m->c[i];
		if (ct->rejected)
			continue;
		if (srtp == RSRTP_MANDATORY && !ct->ncrypto) {
			re_snprintf(eb, ebsz,
				    "the SIP account requires SRTP: no "
				    "<crypto/> in <content/> %u",
				    i + 1);
			return EPERM;
		}
		if (srtp == RSRTP_MANDATORY)
			ct->crypto_required = true;
		else if (srtp == RSRTP_OPTIONAL && offering)
			ct->crypto_required = false;
	}
	return 0;
}


bool tr_media_sdp_secure(const char *sdp)
{
	struct jsdp *m = jsdp_alloc();
	struct pl pl;
	char eb[8];
	bool ok;

	pl_set_str(&pl, sdp ? sdp : "");
	ok = m && !jsdp_sdp_decode(m, &pl, true, eb, sizeof(eb)) && m->n;
	for (unsigned i = 0; ok && i < m->n; i++)
		ok = m->c[i].rejected || m->c[i].crypto_required;
	mem_deref(m);
	return ok;
}


int tr_media_sdp_of_jingle(struct translator *tr, struct callrec *r,
			   xmpp_stanza_t *j, bool author_is_initiator,
			   const char *offer_sdp, const char *action,
			   char **sdp, char *eb, size_t ebsz)
{
	struct jsdp *m = jsdp_alloc(), *offer = NULL;
	struct pl opl;
	int err;

	if (!m) {
		err = ENOMEM;
		goto out;
	}
	err = jsdp_jingle_decode(m, j, eb, ebsz);
	if (err)
		goto out;
	/* an offer or answer must carry media (source-* need not) */
	err = action ? 0 : media_check(m, eb, ebsz);
	if (!err && !action && r->srtp)
		err = srtp_policy(m, r->srtp, !offer_sdp || !*offer_sdp, eb,
				  ebsz);
	if (err)
		goto out;
	if (offer_sdp && *offer_sdp) {
		offer = jsdp_alloc();
		pl_set_str(&opl, offer_sdp);
		err = offer ? jsdp_sdp_decode(offer, &opl, !author_is_initiator,
					      eb, ebsz)
			    : ENOMEM;
		if (err)
			goto out;
	}
	err = sdp_print(tr, r, m, author_is_initiator, offer, action, sdp);
	if (err)
		snprintf(eb, ebsz, "no usable content");
out:
	mem_deref(m);
	mem_deref(offer);
	return err;
}


/* SDP -> contents of j; media: the SDP must carry media the gateway can
 * (an RTP stream with a port and a codec), else EPROTO and j is left
 * as it was: no session-initiate or session-accept without content. */
static int jingle_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			 const char *sdp, bool author_is_initiator, bool media,
			 struct pl *action, char *eb, size_t ebsz)
{
	struct jsdp *m = jsdp_alloc();
	struct jsdp_jingle_opts o = {.raw_udp =
					     tr->proc.cfg->sip.phone_raw_udp};
	struct pl pl;
	int err;

	if (!m)
		return ENOMEM;
	pl_set_str(&pl, sdp ? sdp : "");
	err = jsdp_sdp_decode(m, &pl, author_is_initiator, eb, ebsz);
	if (!err && media && !usable(m)) {
		snprintf(eb, ebsz,
			 "no media the gateway can carry: RTP with "
			 "a port and a codec");
		err = EPROTO;
	}
	if (!err)
		err = jsdp_jingle_encode(j, m, &o);
	if (!err && action)
		*action = m->action; /* points into sdp, the caller's */
	mem_deref(m);
	return err;
}


/* An offer or answer: refused (EPROTO, eb) without media to carry. */
int tr_media_jingle_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			   const char *sdp, bool author_is_initiator,
			   struct pl *action, char *eb, size_t ebsz)
{
	return jingle_of_sdp(tr, j, sdp, author_is_initiator, true, action, eb,
			     ebsz);
}


int tr_media_transports_of_sdp(struct translator *tr, xmpp_stanza_t *j,
			       const char *sdp, bool author_is_initiator,
			       char *eb, size_t ebsz)
{
	xmpp_stanza_t *tmp = xu_elem(tr->xctx, NULL, "jingle", NS_JINGLE);
	xmpp_stanza_t *c, *t, *nc;
	int err = jingle_of_sdp(tr, tmp, sdp, author_is_initiator, false, NULL,
				eb, ebsz);

	for (c = xmpp_stanza_get_children(tmp); c && !err;
	     c = xmpp_stanza_get_next(c)) {
		if (strcmp(xmpp_stanza_get_name(c), "content"))
			continue;
		nc = xu_elem(tr->xctx, j, "content", NULL);
		xmpp_stanza_set_attribute(nc, "creator", xu_attr(c, "creator"));
		xmpp_stanza_set_attribute(nc, "name", xu_attr(c, "name"));
		t = xmpp_stanza_get_child_by_name(c, "transport");
		if (t) {
			t = xmpp_stanza_copy(t);
			xmpp_stanza_add_child(nc, t);
			xmpp_stanza_release(t);
		}
	}
	xmpp_stanza_release(tmp);
	return err;
}


int tr_media_hold_sdp(struct translator *tr, struct callrec *r, bool hold,
		      char **sdp)
{
	struct jsdp *m = jsdp_alloc();
	const bool we_init = r->dir == CD_X2S;
	char eb[160];
	struct pl pl;
	int err;

	pl_set_str(&pl, r->lsdp ? r->lsdp : "");
	err = m ? jsdp_sdp_decode(m, &pl, we_init, eb, sizeof(eb)) : ENOMEM;
	if (!err) {
		for (unsigned i = 0; i < m->n; i++)
			m->c[i].senders = !hold     ? JSDP_BOTH
					  : we_init ? JSDP_INITIATOR
						    : JSDP_RESPONDER;
		err = sdp_print(tr, r, m, we_init, NULL, NULL, sdp);
	}
	mem_deref(m);
	return err;
}


bool tr_media_sdp_holds(const struct callrec *r, const char *sdp)
{
	struct jsdp *m = jsdp_alloc();
	const bool we_init = r->dir == CD_X2S;
	const enum jsdp_senders ours =
		we_init ? JSDP_INITIATOR : JSDP_RESPONDER;
	unsigned live = 0, held = 0;
	char eb[80];
	struct pl pl;

	pl_set_str(&pl, sdp ? sdp : "");
	if (m && !jsdp_sdp_decode(m, &pl, we_init, eb, sizeof(eb)))
		for (unsigned i = 0; i < m->n; i++) {
			if (m->c[i].rejected)
				continue;
			live++;
			held += m->c[i].senders == ours ||
				m->c[i].senders == JSDP_NONE;
		}
	mem_deref(m);
	return live && held == live;
}


static bool payload_same(const struct jsdp_payload *a,
			 const struct jsdp_payload *b)
{
	if (pl_isset(&a->name) && pl_isset(&b->name))
		return !pl_casecmp(&a->name, &b->name) && a->clock == b->clock;
	return a->id == b->id && a->id < 96; /* static types */
}


/*
 * The answer model to a re-offer from our current media (RFC 3264 §6): per
 * offered stream the first unused local stream of the same media, under
 * the offer's name, with the codecs both have (the offer's payload
 * numbers) and the offer's direction mirrored; no common codec refuses the
 * stream.
 */
static void answer_model(struct jsdp *am, const struct jsdp *lm,
			 const struct jsdp *om)
{
	bool used[JSDP_MAX_CONTENTS] = {false};

	jsdp_clear(am);
	for (unsigned i = 0; i < om->n; i++) {
		const struct jsdp_content *oc = &om->c[i];
		struct jsdp_content *c = &am->c[am->n];
		unsigned k;

		for (k = 0; k < lm->n; k++)
			if (!used[k] && !lm->c[k].rejected &&
			    !pl_casecmp(&lm->c[k].media, &oc->media))
				break;
		if (k == lm->n || oc->rejected)
			continue; /* refused: port 0 in the answer */
		used[k] = true;
		*c = lm->c[k];
		c->name = oc->name;
		c->senders = oc->senders;
		c->npt = 0;
		for (unsigned a = 0; a < oc->npt; a++)
			for (unsigned b = 0; b < lm->c[k].npt; b++)
				if (payload_same(&oc->pt[a], &lm->c[k].pt[b])) {
					c->pt[c->npt] = lm->c[k].pt[b];
					c->pt[c->npt++].id = oc->pt[a].id;
					break;
				}
		if (c->npt)
			am->n++;
	}
	memcpy(am->grp, om->grp, sizeof(am->grp));
	am->ngrp = om->ngrp;
}


int tr_media_reoffer_answer(struct translator *tr, struct callrec *r,
			    const char *offer, char **answer, struct pl *action,
			    bool *held, char *eb, size_t ebsz)
{
	struct jsdp *om = jsdp_alloc(), *lm = jsdp_alloc(), *am = jsdp_alloc();
	const bool we_init = r->dir == CD_X2S;
	struct pl opl, lpl;
	int err = 0;

	*held = true;
	if (!om || !lm || !am) {
		err = ENOMEM;
		goto out;
	}
	pl_set_str(&opl, offer);
	pl_set_str(&lpl, r->lsdp ? r->lsdp : "");
	err = jsdp_sdp_decode(om, &opl, !we_init, eb, ebsz);
	if (!err)
		err = jsdp_sdp_decode(lm, &lpl, we_init, eb, ebsz);
	if (err) {
		err = EPROTO;
		goto out;
	}
	/* answer with our media, following the offer's directions; while
	 * the user holds the call only we may send (RFC 3264 8.4: an
	 * offer's sendrecv answered sendonly, its sendonly inactive) */
	answer_model(am, lm, om);
	if (r->local_hold) {
		const enum jsdp_senders ours =
			we_init ? JSDP_INITIATOR : JSDP_RESPONDER;

		for (unsigned i = 0; i < am->n; i++)
			am->c[i].senders =
				am->c[i].senders == JSDP_BOTH ||
						am->c[i].senders == ours
					? ours
					: JSDP_NONE;
	}
	if (!am->n) {
		snprintf(eb, ebsz, "no common codec");
		err = EPROTO;
		goto out;
	}
	for (unsigned i = 0; i < om->n; i++)
		if (om->c[i].senders == JSDP_BOTH && !om->c[i].rejected)
			*held = false;
	if (sdp_print(tr, r, am, we_init, om, NULL, answer)) {
		snprintf(eb, ebsz, "no common media");
		err = EPROTO;
		goto out;
	}
	*action = om->action; /* points into offer, the caller's */
out:
	mem_deref(om);
	mem_deref(lm);
	mem_deref(am);
	return err;
}


/* The media and proto of transport-only contents, from our SDP by name
 * (the model's strings then point into lsdp, which the caller keeps). */
static int frag_media(struct jsdp *m, const char *lsdp)
{
	struct jsdp *l = jsdp_alloc();
	struct pl pl;
	char eb[80];

	if (!l)
		return ENOMEM;
	pl_set_str(&pl, lsdp ? lsdp : "");
	if (!jsdp_sdp_decode(l, &pl, true, eb, sizeof(eb))) {
		for (unsigned i = 0; i < m->n; i++)
			for (unsigned k = 0; k < l->n; k++)
				if (!pl_cmp(&m->c[i].name, &l->c[k].name)) {
					m->c[i].media = l->c[k].media;
					m->c[i].proto = l->c[k].proto;
				}
	}
	mem_deref(l);
	return 0;
}


int tr_media_frag_of_jingle(struct translator *tr, const struct callrec *r,
			    xmpp_stanza_t *j, char **frag, char *eb,
			    size_t ebsz)
{
	struct jsdp *m = jsdp_alloc();
	struct mbuf *mb = mbuf_alloc(512);
	int err = m && mb ? 0 : ENOMEM;

	if (!err)
		err = jsdp_jingle_decode(m, j, eb, ebsz);
	if (!err)
		err = frag_media(m, r->lsdp);
	if (!err)
		err = jsdp_frag_encode(mb, m);
	if (!err) {
		mb->pos = 0;
		err = mbuf_strdup(mb, frag, mb->end);
	}
	mem_deref(m);
	mem_deref(mb);
	return err;
}


static xmpp_stanza_t *ice_transport(xmpp_stanza_t *content)
{
	return xmpp_stanza_get_child_by_name_and_ns(content, "transport",
						    NS_ICE);
}


bool tr_media_trickle_pending(xmpp_stanza_t *j)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(j); c;
	     c = xmpp_stanza_get_next(c)) {
		xmpp_stanza_t *t;
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "content"))
			continue;
		t = ice_transport(c);
		if (t && !xmpp_stanza_get_child_by_name(t, "candidate"))
			return true;
	}
	return false;
}


/* @return 0; ENOENT (a content the offer has not), EBADMSG or EOVERFLOW
 * (the candidates are malformed or too many): *init_xml is unchanged */
int tr_media_merge_candidates(struct translator *tr, char **init_xml,
			      xmpp_stanza_t *ti)
{
	xmpp_stanza_t *init =
		xparse_stanza(tr->xctx, *init_xml ? *init_xml : "",
			      *init_xml ? strlen(*init_xml) : 0);
	int err = 0;

	if (!init)
		return EBADMSG;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(ti); c;
	     c = xmpp_stanza_get_next(c)) {
		xmpp_stanza_t *t = xmpp_stanza_is_tag(c) ? ice_transport(c)
							 : NULL,
			      *ic, *it;
		if (!t)
			continue;
		for (ic = xmpp_stanza_get_children(init); ic;
		     ic = xmpp_stanza_get_next(ic))
			if (xmpp_stanza_is_tag(ic) &&
			    !strcmp(xu_attr(ic, "name"), xu_attr(c, "name")))
				break;
		it = ic ? ice_transport(ic) : NULL;
		if (!it) {
			err = ENOENT;
			break;
		}
		for (xmpp_stanza_t *k = xmpp_stanza_get_children(t); k;
		     k = xmpp_stanza_get_next(k)) {
			xmpp_stanza_t *cp;
			if (!xmpp_stanza_is_tag(k) ||
			    strcmp(xmpp_stanza_get_name(k), "candidate"))
				continue;
			cp = xmpp_stanza_copy(k);
			xmpp_stanza_add_child(it, cp);
			xmpp_stanza_release(cp);
		}
	}
	if (!err) {
		/* the merged offer must still convert when the INVITE goes */
		struct jsdp *m = jsdp_alloc();
		char eb[8];
		err = m ? jsdp_jingle_decode(m, init, eb, sizeof(eb)) : ENOMEM;
		mem_deref(m);
	}
	if (!err)
		err = tr_media_stanza_text(tr, init, init_xml);
	xmpp_stanza_release(init);
	return err;
}


/* Our current SDP, decoded from our perspective (the call's side). */
static int current_sdp(const struct callrec *r, struct jsdp *m, char *eb,
		       size_t ebsz)
{
	struct pl pl;

	pl_set_str(&pl, r->lsdp ? r->lsdp : "");
	return jsdp_sdp_decode(m, &pl, r->dir == CD_X2S, eb, ebsz);
}


static struct jsdp_content *content_named(struct jsdp *m, const char *name)
{
	for (unsigned i = 0; name && i < m->n; i++)
		if (!pl_strcmp(&m->c[i].name, name))
			return &m->c[i];
	return NULL;
}


int tr_media_senders_sdp(struct translator *tr, struct callrec *r,
			 xmpp_stanza_t *j, char **sdp, char *eb, size_t ebsz)
{
	struct jsdp *m = jsdp_alloc();
	unsigned n = 0;
	int err = m ? current_sdp(r, m, eb, ebsz) : ENOMEM;

	for (xmpp_stanza_t *x = j ? xmpp_stanza_get_children(j) : NULL;
	     x && !err; x = xmpp_stanza_get_next(x)) {
		const char *name = xmpp_stanza_get_name(x);
		struct jsdp_content *ct;
		int s;

		if (!xmpp_stanza_is_tag(x) || !name || strcmp(name, "content"))
			continue;
		ct = content_named(m, xmpp_stanza_get_attribute(x, "name"));
		s = jsdp_senders_parse(xmpp_stanza_get_attribute(x, "senders"));
		if (!ct || ct->rejected || s < 0) {
			snprintf(eb, ebsz,
				 ct ? "<content/> with an unknown senders"
				    : "no such <content/> in the session");
			err = EPROTO;
			break;
		}
		ct->senders = (enum jsdp_senders)s;
		n++;
	}
	if (!err && !n) {
		snprintf(eb, ebsz, "content-modify without a <content/>");
		err = EPROTO;
	}
	if (!err)
		err = sdp_print(tr, r, m, r->dir == CD_X2S, NULL, NULL, sdp);
	mem_deref(m);
	return err;
}


int tr_media_restart_sdp(struct translator *tr, struct callrec *r,
			 xmpp_stanza_t *j, char **sdp, char *eb, size_t ebsz)
{
	struct jsdp *m = jsdp_alloc(), *t = jsdp_alloc();
	bool restart = false;
	int err = m && t ? current_sdp(r, m, eb, ebsz) : ENOMEM;

	if (!err)
		err = jsdp_jingle_decode(t, j, eb, ebsz);
	for (unsigned i = 0; !err && i < t->n; i++) {
		const struct jsdp_content *tc = &t->c[i];
		struct jsdp_content *ct = NULL;

		for (unsigned k = 0; k < m->n && !ct; k++)
			if (!pl_cmp(&m->c[k].name, &tc->name))
				ct = &m->c[k];
		if (!ct || !pl_isset(&tc->ufrag) || !pl_isset(&tc->pwd) ||
		    !pl_cmp(&tc->ufrag, &ct->ufrag))
			continue;
		/* RFC 8839 4.4.1.1.1: new credentials, new candidates */
		ct->ufrag = tc->ufrag;
		ct->pwd = tc->pwd;
		ct->ncand = tc->ncand;
		memcpy(ct->cand, tc->cand, sizeof(ct->cand));
		restart = true;
	}
	if (!err && !restart)
		err = ENOENT;
	if (!err)
		err = sdp_print(tr, r, m, r->dir == CD_X2S, NULL, NULL, sdp);
	mem_deref(m);
	mem_deref(t);
	return err;
}


bool tr_media_ice_restarted(const char *before, const char *after)
{
	struct jsdp *a = jsdp_alloc(), *b = jsdp_alloc();
	struct pl pa, pb;
	char eb[8];
	bool changed = false;

	pl_set_str(&pa, before ? before : "");
	pl_set_str(&pb, after ? after : "");
	if (a && b && !jsdp_sdp_decode(a, &pa, true, eb, sizeof(eb)) &&
	    !jsdp_sdp_decode(b, &pb, true, eb, sizeof(eb)))
		for (unsigned i = 0; i < a->n && i < b->n; i++)
			changed |= pl_isset(&b->c[i].ufrag) &&
				   pl_cmp(&a->c[i].ufrag, &b->c[i].ufrag);
	mem_deref(a);
	mem_deref(b);
	return changed;
}
