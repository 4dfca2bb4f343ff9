/**
 * @file xmpp_link.c  libstrophe quirks, kept in one place.
 */
#include <stddef.h>
#include "xmpp_front.h"


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
