/**
 * @file tr_pidf.c  The event bodies a presence server NOTIFYs, read into
 *                  what a phone's state machine needs: RFC 3680 reginfo
 *                  (is the AOR registered?) and RFC 4235 dialog-info (is
 *                  it in a confirmed call?), and RFC 3863 PIDF (with
 *                  RFC 4480 RPID activities) as XMPP presence, mapped as
 *                  RFC 7248 says. Malformed or foreign documents are
 *                  refused (EBADMSG), never half-applied.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "translator.h"
#include "xparse.h"
#include "xmpp_util.h"

#define NS_REGINFO "urn:ietf:params:xml:ns:reginfo"
#define NS_DIALOG  "urn:ietf:params:xml:ns:dialog-info"
#define NS_PIDF    "urn:ietf:params:xml:ns:pidf"
#define NS_RPID    "urn:ietf:params:xml:ns:pidf:rpid"

/* a presence document larger than this is not read (a PIDF of a few
 * tuples is a few hundred bytes) */
enum { PIDF_MAX = 32768 };


static xmpp_stanza_t *parse(struct translator *tr, const char *body,
			    const char *root, const char *ns)
{
	xmpp_stanza_t *d;
	const char *n;

	/* one element is parsed: an XML declaration is skipped */
	body += strspn(body, " \t\r\n");
	if (!strncmp(body, "<?xml", 5)) {
		const char *e = strstr(body, "?>");
		body = e ? e + 2 : body;
	}
	d = xparse_stanza(tr->xctx, body, strlen(body));
	if (!d)
		return NULL;
	n = xmpp_stanza_get_name(d);
	if (!n || strcmp(n, root) || !xmpp_stanza_get_ns(d) ||
	    strcmp(xmpp_stanza_get_ns(d), ns)) {
		xmpp_stanza_release(d);
		return NULL;
	}
	return d;
}


static bool named(xmpp_stanza_t *c, const char *name)
{
	const char *n = xmpp_stanza_get_name(c);

	return n && xmpp_stanza_is_tag(c) && !strcmp(n, name);
}


int tr_pidf_reginfo(struct translator *tr, const char *body,
		    struct tr_reginfo *ri)
{
	xmpp_stanza_t *d = parse(tr, body, "reginfo", NS_REGINFO), *g, *c;
	unsigned regs = 0;

	memset(ri, 0, sizeof(*ri));
	if (!d)
		return EBADMSG;
	ri->full = !strcmp(xu_attr(d, "state"), "full");
	for (g = xmpp_stanza_get_children(d); g; g = xmpp_stanza_get_next(g)) {
		if (!named(g, "registration"))
			continue;
		regs++;
		for (c = xmpp_stanza_get_children(g); c;
		     c = xmpp_stanza_get_next(c)) {
			const char *ev = xu_attr(c, "event");
			if (!named(c, "contact"))
				continue;
			if (!strcasecmp(xu_attr(c, "state"), "active")) {
				ri->active++;
				if (!strcasecmp(ev, "refreshed") ||
				    !strcasecmp(ev, "shortened"))
					ri->refreshed = true;
			}
		}
		/* the registration's own state says it whole (RFC 3680
		 * 5.3.1): active while any contact is */
		if (!strcasecmp(xu_attr(g, "state"), "active") && !ri->active)
			ri->active = 1;
	}
	xmpp_stanza_release(d);
	(void)regs;
	return 0;
}


int tr_pidf_dialoginfo(struct translator *tr, const char *body,
		       struct tr_dialoginfo *di)
{
	xmpp_stanza_t *d = parse(tr, body, "dialog-info", NS_DIALOG), *g, *s;

	memset(di, 0, sizeof(*di));
	if (!d)
		return EBADMSG;
	di->full = !strcmp(xu_attr(d, "state"), "full");
	for (g = xmpp_stanza_get_children(d); g; g = xmpp_stanza_get_next(g)) {
		char *t;
		if (!named(g, "dialog"))
			continue;
		di->dialogs++;
		s = xmpp_stanza_get_child_by_name(g, "state");
		t = s ? xmpp_stanza_get_text(s) : NULL;
		/* Kamailio writes "Trying" with a capital T: compare as
		 * RFC 4235's tokens, case-insensitively */
		if (t && !strcasecmp(t, "confirmed"))
			di->confirmed++;
		else if (t && !strcasecmp(t, "terminated"))
			di->terminated++;
		if (t)
			xmpp_free(tr->xctx, t);
	}
	xmpp_stanza_release(d);
	return 0;
}


/* RFC 4480 activities as an XMPP <show/> (RFC 7248: busy is dnd;
 * away and the activities of someone gone a while map to away or xa).
 * Rank: when several are given, the least available wins. */
static const struct {
	const char *activity;
	const char *show;
	int rank;
} activities[] = {
	{"busy", "dnd", 3},         {"on-the-phone", "dnd", 3},
	{"meeting", "dnd", 3},      {"performance", "dnd", 3},
	{"presentation", "dnd", 3}, {"worship", "dnd", 3},
	{"vacation", "xa", 2},      {"holiday", "xa", 2},
	{"sleeping", "xa", 2},      {"permanent-absence", "xa", 2},
	{"away", "away", 1},        {"appointment", "away", 1},
	{"meal", "away", 1},        {"breakfast", "away", 1},
	{"dinner", "away", 1},      {"in-transit", "away", 1},
	{"travel", "away", 1},      {"shopping", "away", 1},
	{"steering", "away", 1},
};


static bool in_ns(xmpp_stanza_t *c, const char *name, const char *ns)
{
	const char *n = xmpp_stanza_get_ns(c);

	return named(c, name) && n && !strcmp(n, ns);
}


/* The text of a <note/> into out (trimmed, cut at a UTF-8 boundary). */
static void note_text(struct translator *tr, xmpp_stanza_t *c, char *out,
		      size_t sz)
{
	char *t = xmpp_stanza_get_text(c);
	size_t b, n;

	if (!t)
		return;
	b = strspn(t, " \t\r\n");
	n = strlen(t + b);
	if (n >= sz) { /* cut at a character's start */
		n = sz - 1;
		while (n && ((unsigned char)t[b + n] & 0xc0) == 0x80)
			n--;
	}
	while (n && strchr(" \t\r\n", t[b + n - 1]))
		n--;
	memcpy(out, t + b, n);
	out[n] = 0;
	xmpp_free(tr->xctx, t);
}


/* Walk the document: tuples' basic, RPID activities, the first note. */
static void pidf_walk(struct translator *tr, xmpp_stanza_t *e,
		      struct tr_pidf *p, int *rank, unsigned depth)
{
	xmpp_stanza_t *c;

	if (depth > 8)
		return; /* PIDF nests four deep; nothing of ours below */
	for (c = xmpp_stanza_get_children(e); c; c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c))
			continue;
		if (named(c, "basic") && in_ns(e, "status", NS_PIDF)) {
			char *t = xmpp_stanza_get_text(c);
			if (t && !strcmp(t, "open"))
				p->open = true;
			if (t)
				xmpp_free(tr->xctx, t);
		} else if (named(c, "note") && !*p->status) {
			note_text(tr, c, p->status, sizeof(p->status));
		} else if (in_ns(e, "activities", NS_RPID)) {
			const char *n = xmpp_stanza_get_name(c);
			for (size_t i = 0;
			     i < sizeof(activities) / sizeof(activities[0]);
			     i++)
				if (!strcmp(n, activities[i].activity) &&
				    activities[i].rank > *rank) {
					*rank = activities[i].rank;
					snprintf(p->show, sizeof(p->show), "%s",
						 activities[i].show);
				}
		}
		pidf_walk(tr, c, p, rank, depth + 1);
	}
}


int tr_pidf_presence(struct translator *tr, const char *body, struct tr_pidf *p)
{
	xmpp_stanza_t *d;
	int rank = 0;

	memset(p, 0, sizeof(*p));
	if (strlen(body) > PIDF_MAX)
		return EMSGSIZE;
	d = parse(tr, body, "presence", NS_PIDF);
	if (!d)
		return EBADMSG;
	pidf_walk(tr, d, p, &rank, 0);
	xmpp_stanza_release(d);
	/* RFC 7248: a closed presentity is unavailable, whatever it
	 * is doing */
	if (!p->open)
		p->show[0] = 0;
	return 0;
}
