/**
 * @file test_xparse.c  xparse_stanza builds the tree libstrophe's own
 *                      parser builds (compared as text), one parser serves
 *                      any number of stanzas, good or bad, and what is not
 *                      exactly one well-formed element is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include "xparse.h"

static xmpp_ctx_t *ctx;

static const char *const good[] = {
	"<iq xmlns='jabber:component:accept' type='set' id='a1' "
	"from='alice@localhost/r' to='bob@sip.localhost'>"
	"<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' "
	"sid='s1' initiator='alice@localhost/r'><content creator='initiator' "
	"name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' "
	"media='audio'><payload-type id='0' name='PCMU' clockrate='8000'/>"
	"</description><transport "
	"xmlns='urn:xmpp:jingle:transports:raw-udp:1'><candidate "
	"id='c1' ip='127.0.0.1' port='4000' component='1' generation='0'/>"
	"</transport></content></jingle></iq>",
	"<message xmlns='jabber:client' type='chat' id='m1' to='b@x'>"
	"<body>hello &amp; &lt;world&gt; \xc3\xa9\n second line</body>"
	"<request xmlns='urn:xmpp:receipts'/></message>",
	"<message><body>a<![CDATA[<b>]]>c</body></message>",
	"<presence xmlns:x='urn:x' x:attr='v'><x:show>dnd</x:show>"
	"<status>mixed <b>inline</b> text</status></presence>",
	"<presence/>",
	"  <iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>\n",
	"<?xml version='1.0' encoding='UTF-8'?><presence "
	"xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'><tuple "
	"id='t'><status><basic>open</basic></status></tuple></presence>",
};

static const char *const bad[] = {
	"",
	"   ",
	"<iq>",
	"<iq></message>",
	"<a/><b/>",
	"<a/>trailing",
	"text only",
	"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
	"<a>&undefined;</a>",
	"<a b='1' b='2'/>",
	"<p:a/>",
	"<a>\xff</a>",
};


static int setup(void **state)
{
	(void)state;
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	return ctx ? 0 : -1;
}


static int teardown(void **state)
{
	(void)state;
	xparse_close();
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return 0;
}


static char *text_of(xmpp_stanza_t *st)
{
	char *buf = NULL;
	size_t len = 0;

	assert_non_null(st);
	assert_int_equal(xmpp_stanza_to_text(st, &buf, &len), 0);
	return buf;
}


/* libstrophe parses one element only: skip an XML declaration for it */
static const char *decl_skipped(const char *s)
{
	const char *e;

	s += strspn(s, " \t\r\n");
	if (strncmp(s, "<?xml", 5))
		return s;
	e = strstr(s, "?>");
	return e ? e + 2 : s;
}


static void test_same_tree_as_libstrophe(void **state)
{
	(void)state;
	for (unsigned round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			xmpp_stanza_t *a =
				xparse_stanza(ctx, good[i], strlen(good[i]));
			xmpp_stanza_t *b = xmpp_stanza_new_from_string(
				ctx, decl_skipped(good[i]));
			char *ta = text_of(a), *tb = text_of(b);

			assert_string_equal(ta, tb);
			xmpp_free(ctx, ta);
			xmpp_free(ctx, tb);
			xmpp_stanza_release(a);
			xmpp_stanza_release(b);
		}
	}
}


static void test_shape(void **state)
{
	const char *s = good[0];
	xmpp_stanza_t *st = xparse_stanza(ctx, s, strlen(s));
	xmpp_stanza_t *j, *c;

	(void)state;
	assert_non_null(st);
	assert_string_equal(xmpp_stanza_get_name(st), "iq");
	assert_string_equal(xmpp_stanza_get_ns(st), "jabber:component:accept");
	assert_string_equal(xmpp_stanza_get_attribute(st, "to"),
			    "bob@sip.localhost");
	j = xmpp_stanza_get_child_by_name(st, "jingle");
	assert_non_null(j);
	assert_string_equal(xmpp_stanza_get_ns(j), "urn:xmpp:jingle:1");
	c = xmpp_stanza_get_child_by_name(j, "content");
	assert_non_null(c);
	/* inherited namespaces are set on every element, as libstrophe does */
	assert_string_equal(xmpp_stanza_get_ns(c), "urn:xmpp:jingle:1");
	xmpp_stanza_release(st);

	/* not NUL-terminated: only len bytes are read */
	st = xparse_stanza(ctx, "<presence/>garbage", 11);
	assert_non_null(st);
	assert_string_equal(xmpp_stanza_get_name(st), "presence");
	xmpp_stanza_release(st);

	/* adjacent character data is one text child */
	s = good[2];
	st = xparse_stanza(ctx, s, strlen(s));
	assert_non_null(st);
	{
		char *t = xmpp_stanza_get_text(
			xmpp_stanza_get_child_by_name(st, "body"));
		assert_string_equal(t, "a<b>c");
		xmpp_free(ctx, t);
	}
	xmpp_stanza_release(st);
}


static void test_refused_and_parser_reusable(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *g = good[i % (sizeof(good) / sizeof(good[0]))];
		xmpp_stanza_t *st;

		assert_null(xparse_stanza(ctx, bad[i], strlen(bad[i])));
		/* the next parse starts clean */
		st = xparse_stanza(ctx, g, strlen(g));
		assert_non_null(st);
		xmpp_stanza_release(st);
	}
	assert_null(xparse_stanza(ctx, NULL, 0));
	assert_null(xparse_stanza(NULL, good[4], strlen(good[4])));
}


static void test_depth_limit(void **state)
{
	enum { N = 300 };
	char *s = malloc(N * 7 + 1), *p = s;
	xmpp_stanza_t *st;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < N; i++)
		p += sprintf(p, "<a>");
	for (int i = 0; i < N; i++)
		p += sprintf(p, "</a>");
	assert_null(xparse_stanza(ctx, s, strlen(s)));
	/* 200 deep is fine */
	p = s;
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "<a>");
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "</a>");
	st = xparse_stanza(ctx, s, strlen(s));
	assert_non_null(st);
	xmpp_stanza_release(st);
	free(s);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_tree_as_libstrophe),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_refused_and_parser_reusable),
		cmocka_unit_test(test_depth_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
