/**
 * @file xmpp_link.c  The front's own answers on the stream.
 */
#include <stddef.h>
#include <string.h>
#include "xmpp_front.h"
#include "xmpp_util.h"


xmpp_stanza_t *xmpp_link_refusal(xmpp_ctx_t *ctx, xmpp_stanza_t *st,
				 const char *cond, const char *text)
{
	const char *name = xmpp_stanza_get_name(st);
	const char *type = xu_attr(st, "type");
	xmpp_stanza_t *r;

	if (!name || !strcmp(type, "error") || !strcmp(type, "result"))
		return NULL;
	if (!strcmp(name, "presence") && strcmp(type, "subscribe") &&
	    strcmp(type, "probe"))
		return NULL;
	if (strcmp(name, "message") && strcmp(name, "iq") &&
	    strcmp(name, "presence"))
		return NULL;
	r = xu_error_reply(ctx, st, cond, text);
	if (r)
		xmpp_stanza_del_attribute(r, "lang");
	return r;
}
