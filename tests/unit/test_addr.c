/* Addressing (SPEC §5), XEP-0106, RFC 7247 error mapping, UTF-8 checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "addr.h"
#include "xmpp_util.h"
#include "util.h"

static struct xsgw_config cfg;
static char *domains[] = {"localhost", "example.net"};
static struct cfg_phone phones[] = {{"2000006168", "+919177074440"}};
static char *allowed[] = {"example.org"}, *any[] = {"*"};


static int setup(void **state)
{
	cfg.xmpp.component = "sip.localhost";
	cfg.xmpp.domains = domains;
	cfg.xmpp.ndomains = 2;
	cfg.sip.domain = "localhost";
	cfg.sip.phones = phones;
	cfg.sip.nphones = 1;
	return 0;
}


static void test_gwnode_to_sip(void **state)
{
	char u[256];

	assert_int_equal(addr_gwnode_to_sip(&cfg, "+15551234", u, sizeof(u)),
			 0);
	assert_string_equal(u, "sip:+15551234@localhost;user=phone");
	assert_int_equal(addr_gwnode_to_sip(&cfg, "bob", u, sizeof(u)), 0);
	assert_string_equal(u, "sip:bob@localhost");
	/* F9: with no proxy a user names only hosts the operator allowed */
	assert_int_equal(
		addr_gwnode_to_sip(&cfg, "bob\\40example.org", u, sizeof(u)),
		EPERM);
	assert_int_equal(addr_gwnode_to_sip(&cfg, "x\\40127.0.0.1\\3a6379", u,
					    sizeof(u)),
			 EPERM);
	assert_int_equal(
		addr_gwnode_to_sip(&cfg, "bob\\40LOCALHOST", u, sizeof(u)), 0);
	cfg.sip.allowed_domains = allowed;
	cfg.sip.nallowed = 1;
	assert_int_equal(
		addr_gwnode_to_sip(&cfg, "bob\\40example.org", u, sizeof(u)),
		0);
	assert_string_equal(u, "sip:bob@example.org");
	assert_int_equal(addr_gwnode_to_sip(&cfg, "x\\40127.0.0.1\\3a6379", u,
					    sizeof(u)),
			 EPERM);
	cfg.sip.allowed_domains = any;
	assert_int_equal(addr_gwnode_to_sip(&cfg, "x\\40127.0.0.1\\3a6379", u,
					    sizeof(u)),
			 0);
	cfg.sip.nallowed = 0;
	/* with a proxy, the proxy decides */
	cfg.sip.proxy.port = 5060;
	assert_int_equal(
		addr_gwnode_to_sip(&cfg, "bob\\40example.org", u, sizeof(u)),
		0);
	cfg.sip.proxy.port = 0;
	assert_int_equal(addr_gwnode_to_sip(&cfg, "john\\20doe", u, sizeof(u)),
			 0);
	assert_string_equal(u, "sip:john%20doe@localhost");
	assert_int_equal(addr_gwnode_to_sip(&cfg, "", u, sizeof(u)), EINVAL);
	assert_int_equal(
		addr_gwnode_to_sip(&cfg, "\\40example.org", u, sizeof(u)),
		EINVAL);
	assert_int_equal(addr_gwnode_to_sip(&cfg, "a\\40b c", u, sizeof(u)),
			 EINVAL);
	assert_int_equal(addr_gwnode_to_sip(&cfg, "bob", u, 8), ENAMETOOLONG);
}


static void test_user_to_sip(void **state)
{
	char u[256];

	assert_int_equal(
		addr_user_to_sip(&cfg, "alice@localhost", u, sizeof(u)), 0);
	assert_string_equal(u, "sip:alice@localhost");
	assert_int_equal(
		addr_user_to_sip(&cfg, "2000006168@localhost", u, sizeof(u)),
		0);
	assert_string_equal(u, "sip:+919177074440@localhost;user=phone");
	assert_int_equal(addr_user_to_sip(&cfg, "eve@evil.org", u, sizeof(u)),
			 EPERM);
	assert_int_equal(addr_user_to_sip(&cfg, "localhost", u, sizeof(u)),
			 EINVAL);
}


static void test_sip_to_gwjid(void **state)
{
	char j[256];

	assert_int_equal(
		addr_sip_to_gwjid(&cfg, "bob", "localhost", j, sizeof(j)), 0);
	assert_string_equal(j, "bob@sip.localhost");
	assert_int_equal(
		addr_sip_to_gwjid(&cfg, "bob", "example.org", j, sizeof(j)), 0);
	assert_string_equal(j, "bob\\40example.org@sip.localhost");
	assert_int_equal(
		addr_sip_to_gwjid(&cfg, "+15551234", "localhost", j, sizeof(j)),
		0);
	assert_string_equal(j, "+15551234@sip.localhost");
	assert_int_equal(addr_sip_to_gwjid(&cfg, "john%20doe", "localhost", j,
					   sizeof(j)),
			 0);
	assert_string_equal(j, "john\\20doe@sip.localhost");
	assert_int_equal(addr_sip_to_gwjid(&cfg, "", "localhost", j, sizeof(j)),
			 EINVAL);
}


static void test_sip_to_user(void **state)
{
	char j[256];

	assert_int_equal(
		addr_sip_to_user(&cfg, "alice", "localhost", j, sizeof(j)), 0);
	assert_string_equal(j, "alice@localhost");
	assert_int_equal(
		addr_sip_to_user(&cfg, "carol", "example.net", j, sizeof(j)),
		0);
	assert_string_equal(j, "carol@example.net");
	assert_int_equal(addr_sip_to_user(&cfg, "+919177074440", "anywhere", j,
					  sizeof(j)),
			 0);
	assert_string_equal(j, "2000006168@localhost");
	assert_int_equal(
		addr_sip_to_user(&cfg, "alice", "other.org", j, sizeof(j)),
		ENOENT);
	assert_int_equal(
		addr_sip_to_user(&cfg, "a%40b", "localhost", j, sizeof(j)),
		EINVAL);
}


/* XMPP localparts are case-insensitive (RFC 7622): a SIP user part in
 * any case reaches the user as the server stores her, lower case; other
 * UTF-8 passes as it is; a gateway JID keeps the SIP user's case. */
static void test_sip_to_user_case(void **state)
{
	static const struct {
		const char *user, *host, *want;
	} cases[] = {
		{"Alice", "localhost", "alice@localhost"},
		{"ALICE", "LocalHost", "alice@localhost"},
		{"%41lice", "localhost", "alice@localhost"},
		{"Carol.X-9", "EXAMPLE.NET", "carol.x-9@example.net"},
		/* non-ASCII: no Unicode case mapping, the bytes as they are */
		{"%C3%89Lo%C3%AFse", "localhost",
		 "\xc3\x89lo\xc3\xafse@localhost"},
	};
	char j[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(addr_sip_to_user(&cfg, cases[i].user,
						  cases[i].host, j, sizeof(j)),
				 0);
		assert_string_equal(j, cases[i].want);
	}
	/* a mapped number's user comes out folded too */
	phones[0].username = "Dora";
	assert_int_equal(addr_sip_to_user(&cfg, "+919177074440", "anywhere", j,
					  sizeof(j)),
			 0);
	phones[0].username = "2000006168";
	assert_string_equal(j, "dora@localhost");
	/* the gateway JID of a SIP user is not folded */
	assert_int_equal(
		addr_sip_to_gwjid(&cfg, "Bob", "localhost", j, sizeof(j)), 0);
	assert_string_equal(j, "Bob@sip.localhost");
	/* too long after folding is still refused */
	assert_int_equal(addr_sip_to_user(&cfg, "Alice", "localhost", j, 15),
			 ENAMETOOLONG);
}


static void test_escape_roundtrip(void **state)
{
	const char *raw = "d'artagnan <x@y>/\"&: \\5c";
	char e[256], u[256];

	assert_int_equal(addr_jid_escape(raw, e, sizeof(e)), 0);
	assert_null(strpbrk(e, " \"&'/:<>@"));
	assert_int_equal(addr_jid_unescape(e, u, sizeof(u)), 0);
	assert_string_equal(u, raw);
	/* a backslash that starts no escape sequence stays as it is */
	assert_int_equal(addr_jid_escape("a\\b", e, sizeof(e)), 0);
	assert_string_equal(e, "a\\b");
}


static void test_error_mapping(void **state)
{
	const char *reason;

	assert_string_equal(addr_sip_to_xmpp_error(404), "item-not-found");
	assert_string_equal(addr_sip_to_xmpp_error(486),
			    "recipient-unavailable");
	assert_string_equal(addr_sip_to_xmpp_error(408),
			    "remote-server-timeout");
	assert_string_equal(addr_sip_to_xmpp_error(302), "redirect");
	assert_string_equal(addr_sip_to_xmpp_error(599),
			    "internal-server-error");
	assert_string_equal(addr_sip_to_xmpp_error(499), "bad-request");
	assert_int_equal(addr_xmpp_error_to_sip("service-unavailable", &reason),
			 503);
	assert_string_equal(reason, "Service Unavailable");
	assert_int_equal(addr_xmpp_error_to_sip("item-not-found", &reason),
			 404);
	assert_int_equal(addr_xmpp_error_to_sip("nonsense", &reason), 400);
}


/* RFC 6120 8.3.3: each condition's error type, as its section gives it */
static void test_error_types(void **state)
{
	static const char *const t[][2] = {
		{"bad-request", "modify"},
		{"conflict", "cancel"},
		{"feature-not-implemented", "cancel"},
		{"forbidden", "auth"},
		{"gone", "cancel"},
		{"internal-server-error", "cancel"},
		{"item-not-found", "cancel"},
		{"jid-malformed", "modify"},
		{"not-acceptable", "modify"},
		{"not-allowed", "cancel"},
		{"not-authorized", "auth"},
		{"policy-violation", "modify"},
		{"recipient-unavailable", "wait"},
		{"redirect", "modify"},
		{"registration-required", "auth"},
		{"remote-server-not-found", "cancel"},
		{"remote-server-timeout", "wait"},
		{"resource-constraint", "wait"},
		{"service-unavailable", "cancel"},
		{"subscription-required", "auth"},
		{"undefined-condition", "cancel"},
		{"unexpected-request", "wait"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(xu_error_type(t[i][0]), t[i][1]);
}


static void test_utf8(void **state)
{
	static const char ok[] = "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\n";

	assert_true(utf8_xml_valid(ok, sizeof(ok) - 1));
	assert_false(utf8_xml_valid("\xc3", 1));             /* truncated */
	assert_false(utf8_xml_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(utf8_xml_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(utf8_xml_valid("a\x01", 2));            /* control */
	assert_false(utf8_xml_valid("a\0b", 3));             /* NUL */
	assert_false(utf8_xml_valid("\xef\xbf\xbe", 3));     /* U+FFFE */
	assert_false(utf8_xml_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(utf8_xml_valid("\xff", 1));
}


/* DNS host names (RFC 1035 2.3.1, RFC 1123 2.1) as next hops take them. */
static void test_host_name(void **state)
{
	char l63[64], l64[65], n253[254], n254[255];
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{"example.org", true}, {"Kamailio-1.example.org", true},
		{"3com.com", true},    {"localhost", true},
		{"a.b1", true},        {"example.org.", true},
		{"", false},           {".", false},
		{"a..b", false},       {".a", false},
		{"-a.org", false},     {"a-.org", false},
		{"a.-b", false},       {"exa_mple.org", false},
		{"a b", false},        {"10.0.0.256", false},
		{"1.2.3", false},      {"123", false},
		{"a.org..", false},    {"[a.org]", false},
		{"a.org:5060", false}, {"\xc3\xa9.org", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(addr_host_name_ok(cases[i].s) == cases[i].ok);
	memset(l63, 'a', 63);
	l63[63] = 0;
	memset(l64, 'a', 64);
	l64[64] = 0;
	assert_true(addr_host_name_ok(l63));
	assert_false(addr_host_name_ok(l64));
	/* 253 bytes in all (63.63.63.61), then 254 (63.63.63.62) */
	snprintf(n253, sizeof(n253), "%s.%s.%s.%.61s", l63, l63, l63, l63);
	assert_int_equal(strlen(n253), 253);
	assert_true(addr_host_name_ok(n253));
	snprintf(n254, sizeof(n254), "%s.%s.%s.%.62s", l63, l63, l63, l63);
	assert_int_equal(strlen(n254), 254);
	assert_false(addr_host_name_ok(n254));
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gwnode_to_sip),
		cmocka_unit_test(test_user_to_sip),
		cmocka_unit_test(test_sip_to_gwjid),
		cmocka_unit_test(test_sip_to_user),
		cmocka_unit_test(test_sip_to_user_case),
		cmocka_unit_test(test_escape_roundtrip),
		cmocka_unit_test(test_error_mapping),
		cmocka_unit_test(test_error_types),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_host_name),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
