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
	phonerec_reset(&d);
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


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reginfo),
		cmocka_unit_test(test_reginfo_refused),
		cmocka_unit_test(test_dialoginfo),
		cmocka_unit_test(test_kamailio_samples),
		cmocka_unit_test(test_phonerec_round_trip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
