/**
 * @file tr_pidf_out.c  PIDF bodies the gateway writes (RFC 3863), for the
 *                      NOTIFYs to SIP watchers of served users (tr_watch.c):
 *                      XMPP presence mapped as RFC 7248 says (basic
 *                      open/closed by availability, <show/> as RPID
 *                      activities (RFC 4480), <status/> as <note/>). Every
 *                      text is XML-escaped here.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "translator.h"


/* Text or an attribute value, escaped (the five XML entities). */
static int esc(struct mbuf *mb, const char *s)
{
	int err = 0;

	for (; s && *s && !err; s++) {
		switch (*s) {
		case '&':
			err = mbuf_write_str(mb, "&amp;");
			break;
		case '<':
			err = mbuf_write_str(mb, "&lt;");
			break;
		case '>':
			err = mbuf_write_str(mb, "&gt;");
			break;
		case '"':
			err = mbuf_write_str(mb, "&quot;");
			break;
		case '\'':
			err = mbuf_write_str(mb, "&apos;");
			break;
		case '\r': /* a parser would read a raw CR as LF */
			err = mbuf_write_str(mb, "&#13;");
			break;
		default:
			err = mbuf_write_u8(mb, (uint8_t)*s);
			break;
		}
	}
	return err;
}


/* RPID activity of an XMPP <show/>, and the note when there is no text. */
static void show_map(const char *show, const char **act, const char **note)
{
	*act = NULL;
	*note = NULL;
	if (!show)
		return;
	if (!strcmp(show, "away")) {
		*act = "away";
		*note = "Away";
	} else if (!strcmp(show, "xa")) {
		*act = "away";
		*note = "Extended away";
	} else if (!strcmp(show, "dnd")) {
		*act = "busy";
		*note = "Do not disturb";
	}
}


int tr_pidf_out(char **body, const char *entity, const struct tr_pres_view *v)
{
	struct mbuf *mb = mbuf_alloc(1024);
	const char *act, *dflt, *note;
	int err;

	*body = NULL;
	if (!mb)
		return ENOMEM;
	show_map(v->open ? v->show : NULL, &act, &dflt);
	note = v->open && v->note && *v->note ? v->note : dflt;
	err = mbuf_write_str(
		mb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
		    "xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "
		    "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" "
		    "entity=\"");
	err |= esc(mb, entity);
	err |= mbuf_printf(mb,
			   "\">\r\n<tuple id=\"xmpp\"><status><basic>%s"
			   "</basic></status>",
			   v->open ? "open" : "closed");
	if (note) {
		err |= mbuf_write_str(mb, "<note>");
		err |= esc(mb, note);
		err |= mbuf_write_str(mb, "</note>");
	}
	err |= mbuf_write_str(mb, "</tuple>\r\n");
	if (act)
		err |= mbuf_printf(mb,
				   "<dm:person id=\"p\"><rpid:activities>"
				   "<rpid:%s/></rpid:activities></dm:person>"
				   "\r\n",
				   act);
	err |= mbuf_write_str(mb, "</presence>\r\n");
	if (!err)
		err = re_sdprintf(body, "%b", mb->buf, mb->end);
	mem_deref(mb);
	return err ? ENOMEM : 0;
}
