/*
 * Unit tests: the NOTIFY bodies of the presence server as the phone state
 * machine reads them (translator/tr_pidf.c), and the phone and
 * subscription record codecs (shared/phonerec.c). Documents as Kamailio's
 * presence_reginfo / presence_dialoginfo write them, and malformed ones.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include <strophe.h>
#include "phonerec.h"
#include "store.h"
#include "translator.h"

static struct translator tr;


static int setup(void **state)
{
	tr.xctx = xmpp_ctx_new(NULL, NULL);
	return tr.xctx ? 0 : -1;
}


static int teardown(void **state)
{
	xmpp_ctx_free(tr.xctx);
	return 0;
}


#define REGINFO(reg_state, contacts)                                           \
	"<?xml version=\"1.0\"?>\n"                                            \
	"<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"1\" "     \
	"state=\"full\"><registration aor=\"sip:alice@127.0.0.1\" "            \
	"id=\"r1\" state=\"" reg_state "\">" contacts                          \
	"</registration></reginfo>"

static void test_reginfo(void **state)
{
	struct tr_reginfo ri;

	assert_int_equal(
		tr_pidf_reginfo(&tr,
				REGINFO("active",
					"<contact id=\"c1\" state=\"active\" "
					"event=\"registered\" expires=\"60\">"
					"<uri>sip:alice@127.0.0.1:5080</uri></"
					"contact>"),
				&ri),
		0);
	assert_true(ri.full);
	assert_int_equal(ri.active, 1);
	assert_false(ri.refreshed);

	assert_int_equal(
		tr_pidf_reginfo(&tr,
				REGINFO("active",
					"<contact id=\"c1\" state=\"active\" "
					"event=\"refreshed\"><uri>sip:a@b</uri>"
					"</contact>"),
				&ri),
		0);
	assert_true(ri.refreshed);

	/* de-registered: the contact and the registration terminated */
	assert_int_equal(
		tr_pidf_reginfo(
			&tr,
			REGINFO("terminated",
				"<contact id=\"c1\" state=\"terminated\" "
				"event=\"unregistered\"><uri>sip:a@b</uri>"
				"</contact>"),
			&ri),
		0);
	assert_int_equal(ri.active, 0);

	/* the first NOTIFY of a subscription: nobody registered yet */
	assert_int_equal(tr_pidf_reginfo(&tr, REGINFO("init", ""), &ri), 0);
	assert_int_equal(ri.active, 0);

	/* an active registration without contact elements */
	assert_int_equal(tr_pidf_reginfo(&tr, REGINFO("active", ""), &ri), 0);
	assert_int_equal(ri.active, 1);
}


static void test_reginfo_refused(void **state)
{
	static const char *bad[] = {
		"",
		"not xml",
		"<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\">",
		"<reginfo xmlns=\"urn:example\"><registration "
		"state=\"active\"/>"
		"</reginfo>",
		"<reginfo><registration state=\"active\"/></reginfo>",
		"<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\"/>",
		"<?xml version=\"1.0\"?>",
	};
	struct tr_reginfo ri;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tr_pidf_reginfo(&tr, bad[i], &ri), EBADMSG);
}


#define DIALOGINFO(dialogs)                                                    \
	"<?xml version=\"1.0\"?>\n"                                            \
	"<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" "           \
	"version=\"2\" state=\"full\" entity=\"sip:alice@127.0.0.1\">" dialogs \
	"</dialog-info>"

static void test_dialoginfo(void **state)
{
	struct tr_dialoginfo di;

	assert_int_equal(
		tr_pidf_dialoginfo(&tr,
				   DIALOGINFO("<dialog id=\"d1\" direction="
					      "\"recipient\"><state>confirmed"
					      "</state></dialog>"),
				   &di),
		0);
	assert_int_equal(di.dialogs, 1);
	assert_int_equal(di.confirmed, 1);

	/* Kamailio writes "Trying" with a capital T; early is no call */
	assert_int_equal(
		tr_pidf_dialoginfo(
			&tr,
			DIALOGINFO("<dialog id=\"d1\"><state>Trying"
				   "</state></dialog><dialog id=\"d2\">"
				   "<state>early</state></dialog>"),
			&di),
		0);
	assert_int_equal(di.dialogs, 2);
	assert_int_equal(di.confirmed, 0);

	assert_int_equal(
		tr_pidf_dialoginfo(&tr,
				   DIALOGINFO("<dialog id=\"d1\"><state>"
					      "CONFIRMED</state></dialog>"),
				   &di),
		0);
	assert_int_equal(di.confirmed, 1);

	assert_int_equal(
		tr_pidf_dialoginfo(&tr,
				   DIALOGINFO("<dialog id=\"d1\"><state>"
					      "terminated</state></dialog>"),
				   &di),
		0);
	assert_int_equal(di.confirmed, 0);
	assert_int_equal(di.terminated, 1);

	assert_int_equal(tr_pidf_dialoginfo(&tr, DIALOGINFO(""), &di), 0);
	assert_int_equal(di.dialogs, 0);

	assert_int_equal(
		tr_pidf_dialoginfo(&tr,
				   "<dialog-info xmlns=\"urn:wrong\"><dialog>"
				   "<state>confirmed</state></dialog>"
				   "</dialog-info>",
				   &di),
		EBADMSG);
	assert_int_equal(tr_pidf_dialoginfo(&tr, "<dialog-info", &di), EBADMSG);
}


/* What Kamailio 5.6's presence_reginfo / presence_dialoginfo really sent
 * (tests/peers/samples, recorded by tests/peers/test_peers_presence.sh). */
static char *sample(const char *name)
{
	char path[256], *buf = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "tests/peers/samples/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}


static void test_kamailio_samples(void **state)
{
	static const struct {
		const char *file;
		int active, refreshed; /* reginfo */
	} reg[] = {
		{"reginfo_created.xml", 1, 0},
		{"reginfo_refreshed.xml", 1, 1},
		{"reginfo_two_contacts.xml", 1, -1},
		{"reginfo_unregistered_one_of_two.xml", 1, -1},
		{"reginfo_unregistered.xml", 0, 0},
		{"reginfo_expired.xml", 0, 0},
	};
	static const struct {
		const char *file;
		unsigned confirmed;
	} dlg[] = {
		{"dialoginfo_caller_Trying.xml", 0},
		{"dialoginfo_caller_early.xml", 0},
		{"dialoginfo_caller_confirmed.xml", 1},
		{"dialoginfo_caller_terminated.xml", 0},
		{"dialoginfo_callee_early.xml", 0},
		{"dialoginfo_callee_confirmed.xml", 1},
		{"dialoginfo_callee_terminated.xml", 0},
	};
	struct tr_reginfo ri;
	struct tr_dialoginfo di;

	for (size_t i = 0; i < sizeof(reg) / sizeof(reg[0]); i++) {
		char *b = sample(reg[i].file);
		assert_int_equal(tr_pidf_reginfo(&tr, b, &ri), 0);
		assert_int_equal(ri.active > 0, reg[i].active);
		if (reg[i].refreshed >= 0)
			assert_int_equal(ri.refreshed, reg[i].refreshed);
		free(b);
	}
	for (size_t i = 0; i < sizeof(dlg) / sizeof(dlg[0]); i++) {
		char *b = sample(dlg[i].file);
		assert_int_equal(tr_pidf_dialoginfo(&tr, b, &di), 0);
		assert_true(di.full);
		assert_int_equal(di.confirmed, dlg[i].confirmed);
		free(b);
	}
}


static void test_phonerec_round_trip(void **state)
{
	struct phonerec r = {0}, d;
	struct subrec s = {0}, e;
	struct fbuf fb = {0};

	r.state = PH_STILL_ONTHEPHONE;
	r.created = 1;
	r.deadline = 77;
	str_dup(&r.aor, "sip:alice@127.0.0.1");
	str_dup(&r.jid, "alice@localhost");
	str_dup(&r.res, "sip-phone");
	str_dup(&r.gwjid, "alice\\40127.0.0.1@sip.localhost");
	str_dup(&r.source, "dialog");
	r.shown = PS_DND;
	assert_int_equal(phonerec_encode(&fb, &r), 0);
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), 0);
	assert_int_equal(d.state, PH_STILL_ONTHEPHONE);
	assert_string_equal(d.gwjid, r.gwjid);
	assert_int_equal(d.deadline, 77);
	assert_string_equal(d.pub_etag, "");
	phonerec_reset(&d);
	/* version 2's publication; a version 1 record has none */
	str_dup(&r.pub_etag, "e1234");
	r.pub_until = 99;
	fbuf_reset(&fb);
	assert_int_equal(phonerec_encode(&fb, &r), 0);
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), 0);
	assert_string_equal(d.pub_etag, "e1234");
	assert_int_equal(d.pub_until, 99);
	phonerec_reset(&d);
	/* version 3's client session state; older records have none */
	str_dup(&r.cs_smid, "sm-1");
	r.cs_h = 5;
	r.cs_k = 3;
	str_dup(&r.cs_xml, "<presence/>");
	fbuf_reset(&fb);
	assert_int_equal(phonerec_encode(&fb, &r), 0);
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), 0);
	assert_string_equal(d.cs_smid, "sm-1");
	assert_int_equal(d.cs_h, 5);
	assert_int_equal(d.cs_k, 3);
	assert_string_equal(d.cs_xml, "<presence/>");
	phonerec_reset(&d);
	fb.b[0] = 2;
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), EBADMSG);
	assert_int_equal(
		phonerec_decode(&d, fb.b, fb.len - (5 + 4 + 5 + 5 + 5 + 11)),
		0);
	assert_string_equal(d.pub_etag, "e1234");
	assert_null(d.cs_smid);
	assert_int_equal(d.cs_k, 0);
	phonerec_reset(&d);
	fb.b[0] = 1;
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), EBADMSG);
	assert_int_equal(phonerec_decode(&d, fb.b,
					 fb.len - (5 + 4 + 5 + 5 + 5 + 11) -
						 (5 + 5 + 9 + 5)),
			 0);
	assert_null(d.pub_etag);
	assert_int_equal(d.pub_until, 0);
	assert_int_equal(d.state, PH_STILL_ONTHEPHONE);
	phonerec_reset(&d);
	fb.b[0] = PHONEREC_VERSION;
	/* every truncation refused, and a byte more */
	for (size_t n = 0; n < fb.len; n++)
		assert_int_equal(phonerec_decode(&d, fb.b, n), EBADMSG);
	frame_put_raw(&fb, "", 1);
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), EBADMSG);
	fb.len--;
	fb.b[1 + 3] = PH_STATE_MAX; /* the state (first field, u32 BE) */
	assert_int_equal(phonerec_decode(&d, fb.b, fb.len), EBADMSG);
	phonerec_reset(&r);

	s.state = SB_ACTIVE;
	s.phone = 9;
	str_dup(&s.event, "dialog");
	str_dup(&s.target, "sip:alice@127.0.0.1");
	str_dup(&s.callid, "xsgw-sub-1");
	str_dup(&s.ltag, "t1");
	s.lcseq = 3;
	assert_int_equal(subrec_encode(&fb, &s), 0);
	assert_int_equal(subrec_decode(&e, fb.b, fb.len), 0);
	assert_int_equal(e.phone, 9);
	assert_int_equal(e.lcseq, 3);
	assert_string_equal(e.event, "dialog");
	subrec_reset(&e);
	for (size_t n = 0; n < fb.len; n++)
		assert_int_equal(subrec_decode(&e, fb.b, n), EBADMSG);
	fb.b[0] = SUBREC_VERSION + 1;
	assert_int_equal(subrec_decode(&e, fb.b, fb.len), EBADMSG);
	subrec_reset(&s);
	fbuf_reset(&fb);
}


/* ---- PIDF (RFC 3863, RPID) as XMPP presence (RFC 7248) ------------- */

#define PIDF_HEAD                                                              \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                         \
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "                     \
	"xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "                 \
	"xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" "                     \
	"entity=\"sip:carol@127.0.0.1\">"

static void test_pidf_presence(void **state)
{
	struct tr_pidf p;

	/* the samples a SIPp publisher sends */
	assert_int_equal(
		tr_pidf_presence(&tr,
				 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				 "<presence xmlns=\"urn:ietf:params:xml:ns:"
				 "pidf\" entity=\"sip:carol@127.0.0.1\">\n"
				 "<tuple id=\"sipp1\">\n<status><basic>open"
				 "</basic></status>\n<contact>sip:carol@"
				 "127.0.0.1</contact>\n<note>Phone online"
				 "</note>\n</tuple>\n</presence>\n",
				 &p),
		0);
	assert_true(p.open);
	assert_string_equal(p.show, "");
	assert_string_equal(p.status, "Phone online");

	/* RPID in the person (RFC 4479) and in the tuple's status */
	assert_int_equal(
		tr_pidf_presence(
			&tr,
			PIDF_HEAD
			"<tuple id=\"t\"><status><basic>open</basic>"
			"</status></tuple><dm:person id=\"p\">"
			"<rpid:activities><rpid:on-the-phone/>"
			"</rpid:activities><dm:note> Talking </dm:note>"
			"</dm:person></presence>",
			&p),
		0);
	assert_true(p.open);
	assert_string_equal(p.show, "dnd");
	assert_string_equal(p.status, "Talking");
	assert_int_equal(
		tr_pidf_presence(
			&tr,
			PIDF_HEAD
			"<tuple id=\"t\"><status><basic>open</basic>"
			"<rpid:activities><rpid:away/></rpid:activities>"
			"</status></tuple></presence>",
			&p),
		0);
	assert_string_equal(p.show, "away");
	/* several: the least available wins */
	assert_int_equal(
		tr_pidf_presence(
			&tr,
			PIDF_HEAD
			"<tuple id=\"t\"><status><basic>open</basic>"
			"</status></tuple><dm:person id=\"p\">"
			"<rpid:activities><rpid:away/><rpid:busy/>"
			"<rpid:vacation/></rpid:activities></dm:person>"
			"</presence>",
			&p),
		0);
	assert_string_equal(p.show, "dnd");
	/* an activity of another namespace is not RPID's */
	assert_int_equal(
		tr_pidf_presence(
			&tr,
			PIDF_HEAD
			"<tuple id=\"t\"><status><basic>open</basic>"
			"</status></tuple><x:activities xmlns:x=\"urn:x\">"
			"<x:busy/></x:activities></presence>",
			&p),
		0);
	assert_string_equal(p.show, "");
	/* closed: unavailable whatever it does; one open tuple of two is
	 * enough */
	assert_int_equal(
		tr_pidf_presence(&tr,
				 PIDF_HEAD
				 "<tuple id=\"t\"><status><basic>closed"
				 "</basic></status></tuple><dm:person id=\"p\">"
				 "<rpid:activities><rpid:on-the-phone/>"
				 "</rpid:activities></dm:person></presence>",
				 &p),
		0);
	assert_false(p.open);
	assert_string_equal(p.show, "");
	assert_int_equal(
		tr_pidf_presence(&tr,
				 PIDF_HEAD
				 "<tuple id=\"a\"><status><basic>closed"
				 "</basic></status></tuple><tuple id=\"b\">"
				 "<status><basic>open</basic></status></tuple>"
				 "</presence>",
				 &p),
		0);
	assert_true(p.open);
	/* no tuple at all: nothing is open */
	assert_int_equal(tr_pidf_presence(&tr, PIDF_HEAD "</presence>", &p), 0);
	assert_false(p.open);
}


static void test_pidf_presence_refused(void **state)
{
	struct tr_pidf p;
	char *big;
	const size_t n = 40000;

	/* malformed, another root, another namespace, not XML */
	assert_int_equal(tr_pidf_presence(&tr, PIDF_HEAD "<tuple>", &p),
			 EBADMSG);
	assert_int_equal(
		tr_pidf_presence(&tr,
				 "<presence xmlns=\"jabber:client\"><show>dnd"
				 "</show></presence>",
				 &p),
		EBADMSG);
	assert_int_equal(
		tr_pidf_presence(
			&tr, "<reginfo xmlns=\"urn:ietf:params:xml:ns:pidf\"/>",
			&p),
		EBADMSG);
	assert_int_equal(tr_pidf_presence(&tr, "open", &p), EBADMSG);
	assert_int_equal(tr_pidf_presence(&tr, "", &p), EBADMSG);
	assert_false(p.open);
	/* a huge document is not read */
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, PIDF_HEAD, strlen(PIDF_HEAD));
	strcpy(big + n - 12, "</presence>");
	assert_int_equal(tr_pidf_presence(&tr, big, &p), EMSGSIZE);
	free(big);
}


/* A long note is cut at a character boundary. */
static void test_pidf_presence_long_note(void **state)
{
	struct tr_pidf p;
	char doc[4096];
	size_t n = 0;

	n += (size_t)snprintf(doc, sizeof(doc),
			      PIDF_HEAD "<tuple id=\"t\"><status><basic>open"
					"</basic></status><note>");
	for (int i = 0; i < 600; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\xc3\xa9");
	snprintf(doc + n, sizeof(doc) - n, "</note></tuple></presence>");
	assert_int_equal(tr_pidf_presence(&tr, doc, &p), 0);
	assert_true(strlen(p.status) < sizeof(p.status));
	assert_int_equal(strlen(p.status) % 2, 0);
}


/* subrec version 2 keeps the presence fields; a version 1 record (reg,
 * dialog, before watchers) is read with them empty. */
static void test_subrec_presence_and_upgrade(void **state)
{
	struct subrec s = {0}, e;
	struct fbuf fb = {0};
	uint8_t v1[512];
	size_t v1l;

	s.state = SB_ENDING;
	str_dup(&s.event, "presence");
	str_dup(&s.target, "sip:carol@127.0.0.1:5070");
	str_dup(&s.callid, "xsgw-sub-2");
	str_dup(&s.ltag, "t2");
	str_dup(&s.gwjid, "carol@sip.localhost");
	str_dup(&s.watchers, "heidi@localhost\nivan@localhost\n");
	s.authorized = 1;
	s.open = SO_OPEN;
	str_dup(&s.show, "dnd");
	str_dup(&s.status, "Talking");
	assert_int_equal(subrec_encode(&fb, &s), 0);
	assert_int_equal(fb.b[0], SUBREC_VERSION);
	assert_int_equal(subrec_decode(&e, fb.b, fb.len), 0);
	assert_int_equal(e.state, SB_ENDING);
	assert_string_equal(e.watchers, s.watchers);
	assert_string_equal(e.gwjid, s.gwjid);
	assert_string_equal(e.show, "dnd");
	assert_string_equal(e.status, "Talking");
	assert_int_equal(e.open, SO_OPEN);
	assert_int_equal(e.authorized, 1);
	subrec_reset(&e);
	for (size_t n = 0; n < fb.len; n++)
		assert_int_equal(subrec_decode(&e, fb.b, n), EBADMSG);
	/* version 2 as schema 5 wrote it: no From at the end (this one has
	 * none: an empty string, tag and length, last) */
	assert_null(s.from);
	assert_true(fb.len > 5);
	assert_memory_equal(fb.b + fb.len - 5, "\x03\0\0\0\0", 5);
	fb.b[0] = 2;
	assert_int_equal(subrec_decode(&e, fb.b, fb.len - 5), 0);
	assert_null(e.from);
	assert_string_equal(e.status, "Talking");
	subrec_reset(&e);
	assert_int_equal(subrec_decode(&e, fb.b, fb.len), EBADMSG);
	subrec_reset(&s);

	/* version 1 as schema 4 wrote it: its twenty fields */
	rec_begin(&fb, 1);
	frame_put_u32(&fb, SB_ACTIVE);
	frame_put_u64(&fb, 1);
	frame_put_u64(&fb, 2);
	frame_put_u64(&fb, 3);
	frame_put_u64(&fb, 7);
	frame_put_cstr(&fb, "reg");
	frame_put_cstr(&fb, "sip:alice@127.0.0.1");
	frame_put_cstr(&fb, "xsgw-sub-1");
	frame_put_cstr(&fb, "lt");
	frame_put_cstr(&fb, "rt");
	frame_put_cstr(&fb, "sip:127.0.0.1:5170");
	frame_put_cstr(&fb, "");
	frame_put_u32(&fb, 4);
	frame_put_u32(&fb, 5);
	frame_put_u64(&fb, 0);
	frame_put_u32(&fb, 3600);
	frame_put_u32(&fb, 0);
	frame_put_u32(&fb, 200);
	frame_put_cstr(&fb, "OK");
	frame_put_u32(&fb, 9);
	assert_int_equal(fb.err, 0);
	assert_true(fb.len < sizeof(v1));
	memcpy(v1, fb.b, fb.len);
	v1l = fb.len;
	assert_int_equal(subrec_decode(&e, v1, v1l), 0);
	assert_int_equal(e.state, SB_ACTIVE);
	assert_int_equal(e.phone, 7);
	assert_string_equal(e.event, "reg");
	assert_string_equal(e.rtag, "rt");
	assert_int_equal(e.lcseq, 4);
	assert_int_equal(e.version, 9);
	assert_null(e.watchers);
	assert_int_equal(e.open, SO_UNKNOWN);
	/* written back as version 2, it reads the same */
	assert_int_equal(subrec_encode(&fb, &e), 0);
	assert_int_equal(fb.b[0], SUBREC_VERSION);
	subrec_reset(&e);
	assert_int_equal(subrec_decode(&e, fb.b, fb.len), 0);
	assert_string_equal(e.target, "sip:alice@127.0.0.1");
	assert_int_equal(e.version, 9);
	subrec_reset(&e);
	/* a version 1 record with a byte more, or cut, is refused */
	for (size_t n = 0; n < v1l; n++)
		assert_int_equal(subrec_decode(&e, v1, n), EBADMSG);
	v1[v1l] = 0;
	assert_int_equal(subrec_decode(&e, v1, v1l + 1), EBADMSG);
	fbuf_reset(&fb);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reginfo),
		cmocka_unit_test(test_reginfo_refused),
		cmocka_unit_test(test_dialoginfo),
		cmocka_unit_test(test_kamailio_samples),
		cmocka_unit_test(test_phonerec_round_trip),
		cmocka_unit_test(test_pidf_presence),
		cmocka_unit_test(test_pidf_presence_refused),
		cmocka_unit_test(test_pidf_presence_long_note),
		cmocka_unit_test(test_subrec_presence_and_upgrade),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
