/**
 * @file xmpp_link.c  libstrophe quirks, kept in one place.
 */
#include <stddef.h>
#include <string.h>
#include "xmpp_front.h"
#include "xmpp_util.h"


static int veto_socket(xmpp_conn_t *conn, void *sock)
{
	(void)conn;
	(void)sock;
	return -1;
}


static void ignore_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err,
			xmpp_stream_error_t *se, void *arg)
{
	(void)conn, (void)ev, (void)err, (void)se, (void)arg;
}


void xmpp_link_prime(xmpp_conn_t *conn)
{
	xmpp_conn_set_sockopt_callback(conn, veto_socket);
	(void)xmpp_connect_client(conn, "127.0.0.1", 1, ignore_conn, NULL);
	xmpp_conn_set_sockopt_callback(conn, NULL);
}


bool xmpp_link_depth_ok(xmpp_stanza_t *st, unsigned max)
{
	xmpp_stanza_t *path[XMPP_LINK_DEPTH_MAX]; /* ancestors of n */
	xmpp_stanza_t *n;
	unsigned d = 0;

	if (max > XMPP_LINK_DEPTH_MAX)
		max = XMPP_LINK_DEPTH_MAX;
	if (!st || !max)
		return false;
	path[0] = st;
	n = xmpp_stanza_get_children(st);
	for (;;) {
		while (!n) { /* path[d]'s children are done: its sibling */
			if (!d)
				return true;
			n = xmpp_stanza_get_next(path[d--]);
		}
		if (!xmpp_stanza_is_tag(n)) {
			n = xmpp_stanza_get_next(n);
			continue;
		}
		if (d + 2 > max) /* n is at depth d + 2 */
			return false;
		path[++d] = n;
		n = xmpp_stanza_get_children(n);
	}
}


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
