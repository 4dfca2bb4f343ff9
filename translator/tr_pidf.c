/**
 * @file tr_pidf.c  The event bodies a presence server NOTIFYs, read into
 *                  what a phone's state machine needs: RFC 3680 reginfo
 *                  (is the AOR registered?) and RFC 4235 dialog-info (is
 *                  it in a confirmed call?). Malformed or foreign
 *                  documents are refused (EBADMSG), never half-applied.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "translator.h"
#include "xmpp_util.h"

#define NS_REGINFO "urn:ietf:params:xml:ns:reginfo"
#define NS_DIALOG  "urn:ietf:params:xml:ns:dialog-info"


static xmpp_stanza_t *parse(struct translator *tr, const char *body,
			    const char *root, const char *ns)
{
	xmpp_stanza_t *d;
	const char *n;

	/* libstrophe parses one element: an XML declaration is skipped */
	if (!strncmp(body, "<?xml", 5)) {
		const char *e = strstr(body, "?>");
		body = e ? e + 2 : body;
	}
	d = xmpp_stanza_new_from_string(tr->xctx, body);
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
