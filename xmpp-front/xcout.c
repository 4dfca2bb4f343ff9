/**
 * @file xcout.c  What a client session sends and what the store keeps of
 *                its stream (xcout.h).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include <strophe.h>
#include "log.h"
#include "msg.h"
#include "util.h"
#include "xcout.h"

enum { REKEEP_MS = 2000 };

/** A stanza held while a number is being kept. */
struct held {
	struct le le;
	char *xml;
};

static struct {
	xclient_keep_h *keeph;
} xo;


void xcout_init(xclient_keep_h *keeph)
{
	xo.keeph = keeph;
}


/* <a h='h_kept'/>: what the server is told was handled is never more
 * than the store keeps (a resumption after a kill -9 says no less). */
static void send_a(struct xsess *s)
{
	char a[64];

	re_snprintf(a, sizeof(a), "<a xmlns='%s' h='%u'/>", NS_SM, s->h_kept);
	xmpp_send_raw(s->conn, a, strlen(a));
	s->owe_a = false;
}


static bool unavailable(const char *xml)
{
	return strstr(xml, "type=\"unavailable\"") ||
	       strstr(xml, "type='unavailable'");
}


/* ---- what the store keeps ---- */

static void rekeep_handler(void *arg);

/* Ask the translator to keep the session's state (h_in, kxml numbered
 * k); it confirms with MSG_CLIENT_STATE (xcout_confirmed). Asked again
 * every REKEEP_MS until confirmed. */
void xcout_keep(struct xsess *s)
{
	struct m_client_sm m;

	memset(&m, 0, sizeof(m));
	pl_set_str(&m.jid, s->jid);
	pl_set_str(&m.smid, s->smid ? s->smid : "");
	m.h = s->h_in;
	m.k = s->k;
	pl_set_str(&m.xml, s->kxml ? s->kxml : "");
	if (xo.keeph(&m))
		log_warn("client session %s: cannot keep its stream state; "
			 "asking again",
			 s->jid);
	s->keeping = true;
	s->keep_h = s->h_in;
	tmr_start(&s->rekeep, REKEEP_MS, rekeep_handler, s);
}


static void rekeep_handler(void *arg)
{
	struct xsess *s = arg;

	if (s->keeping || s->wait_k)
		xcout_keep(s);
}


/* Number kxml (NULL: none) as the next stanza and hold every counted
 * stanza until the store has it (a presence goes out then if unsent). */
void xcout_number(struct xsess *s, char *kxml, bool unsent)
{
	mem_deref(s->kxml);
	s->kxml = mem_ref(kxml);
	s->k = kxml ? s->out_nr + 1 : 0;
	s->unsent = unsent;
	s->wait_k = true;
	xcout_keep(s);
}


/* The presence numbered k is lost with its connection: the number is
 * void (K_VOID: "unknown", kxml kept), stored before anything counted
 * goes out. */
void xcout_void(struct xsess *s)
{
	s->k = K_VOID;
	s->unsent = false;
	s->wait_k = true;
	xcout_keep(s);
}


/* ---- what goes out ---- */

/* Write a stanza (counted when stream management is on), or hold it
 * while a number is being kept (xcout_number). */
void xcout_send(struct xsess *s, const char *xml)
{
	struct held *h;

	if (s->wait_k) {
		h = mem_zalloc(sizeof(*h), NULL);
		if (h && !str_dup(&h->xml, xml))
			list_append(&s->held, &h->le, h);
		else
			mem_deref(h);
		return;
	}
	xmpp_send_raw(s->conn, xml, strlen(xml));
	if (s->sm)
		s->out_nr++;
}


void xcout_send_stanza(struct xsess *s, xmpp_stanza_t *st)
{
	char *text = NULL;
	size_t len;

	if (!xmpp_stanza_to_text(st, &text, &len)) {
		xcout_send(s, text);
		xmpp_free(xmpp_conn_get_context(s->conn), text);
	}
}


/* The oldest stanza held, taken off the list (the caller derefs it), or
 * NULL. */
static char *held_take(struct xsess *s)
{
	struct le *le = list_head(&s->held);
	struct held *h;
	char *xml;

	if (!le)
		return NULL;
	h = le->data;
	list_unlink(le);
	xml = h->xml;
	mem_deref(h);
	return xml;
}


void xcout_drop(struct xsess *s)
{
	char *xml;

	while ((xml = held_take(s)))
		mem_deref(xml);
}


/* Write what the session should show, unless it is out already. A new
 * session shows nothing yet: an unavailable is not sent. With stream
 * management the presence's number is kept first (xcout_confirmed sends
 * it). */
void xcout_show(struct xsess *s)
{
	if (s->phase != XS_UP || !s->want || s->wait_k ||
	    (s->sent && !strcmp(s->sent, s->want)))
		return;
	if (!s->sent && s->fresh && unavailable(s->want)) {
		s->sent = mem_ref(s->want);
		return;
	}
	if (s->sm && s->smid && *s->smid) {
		xcout_number(s, s->want, true);
		return;
	}
	xcout_send(s, s->want);
	mem_deref(s->sent);
	s->sent = mem_ref(s->want);
}


static bool same(const struct pl *pl, const char *str)
{
	return !pl_strcmp(pl, str ? str : "");
}


/* The store has m (MSG_CLIENT_STATE: the answer to a MSG_CLIENT_SM or
 * a MSG_CLIENT_UP). What it confirms of this session's stream is acted
 * on: an <a/> owed, a presence numbered.
 * @return true if something was written (the caller pumps) */
bool xcout_confirmed(struct xsess *s, const struct m_client_sm *m)
{
	bool wrote = false;
	char *xml;

	if (!s->smid || !*s->smid || !same(&m->smid, s->smid))
		return false;
	if (m->h > s->h_kept && m->h <= s->h_in) {
		s->h_kept = m->h;
		if (s->owe_a && s->sm && s->phase == XS_UP) {
			send_a(s);
			wrote = true;
		}
	}
	if (s->keeping && m->h == s->keep_h)
		s->keeping = false;
	if (!s->wait_k || m->k != s->k || !same(&m->xml, s->kxml))
		goto out;
	s->wait_k = false;
	if (s->phase != XS_UP)
		goto out; /* a resumption decides (sm_handler) */
	if (s->unsent && s->kxml) {
		xcout_send(s, s->kxml);
		mem_deref(s->sent);
		s->sent = mem_ref(s->kxml);
	}
	s->unsent = false;
	while ((xml = held_take(s))) {
		xcout_send(s, xml);
		mem_deref(xml);
	}
	xcout_show(s);
	wrote = true;
out:
	if (!s->keeping && !s->wait_k)
		tmr_cancel(&s->rekeep);
	return wrote;
}


/* A stanza handled: counted for the server's acks. */
void xcout_handled(struct xsess *s)
{
	if (s->sm)
		s->h_in++;
}


/* <r/>: the server asks how many stanzas were handled: answered with
 * what the store keeps, at once or once it keeps h_in. */
void xcout_r(struct xsess *s)
{
	if (!s->sm)
		return;
	if (s->h_kept == s->h_in) {
		send_a(s);
		return;
	}
	s->owe_a = true;
	if (!s->keeping || s->keep_h != s->h_in)
		xcout_keep(s);
}
