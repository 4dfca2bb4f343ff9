/**
 * @file test_util.c  Small shared helpers with a security contract:
 *   xmlcheck   what the xmpp-front refuses to write to the XMPP server;
 *   mkdir_safe which directories the gateway refuses to start with;
 *   str_printable, and the text and JSON log: peer bytes never reach a
 *   terminal as controls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"
#include "util.h"
#include "xmlcheck.h"

static int check(const char *s)
{
	return xmlcheck_stanza(s, strlen(s), 64, NULL);
}


/* What libstrophe writes for the stanzas the translator builds. */
static void test_xmlcheck_accepts_stanzas(void **state)
{
	static const char *const ok[] = {
		"<a/>",
		"<message to=\"a@b\" type=\"chat\"><body>hi &amp; &lt;b&gt; "
		"&quot;q&quot; &apos;</body></message>",
		"<iq type='set' id=\"x\"><jingle xmlns=\"urn:xmpp:jingle:1\" "
		"sid=\"s\"><content name=\"a\"/></jingle></iq>",
		"<message xml:lang=\"en\" xmlns:x=\"urn:x\"><body>\xc3\xa9 "
		"\xe2\x98\x83 \xf0\x9f\x98\x80 \t\r\n &#233;&#x1F600;"
		"</body></message>",
		"<a b = \"1\"\n c='2' ></a >",
		"<a>]]</a>",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *why = "unset";
		int err = xmlcheck_stanza(ok[i], strlen(ok[i]), 64, &why);
		if (err)
			fail_msg("refused %s: %s", ok[i], why);
	}
}


/* Bytes a server would close the stream on. */
static void test_xmlcheck_refuses_what_a_server_would_not_parse(void **state)
{
	static const struct {
		const char *xml;
		int err;
	} bad[] = {
		/* characters */
		{"<message><body>a\x01z</body></message>", EILSEQ},
		{"<message from=\"\x1b[31m@x\"/>", EILSEQ},
		{"<m>\xff</m>", EILSEQ},
		{"<m>\xc0\xaf</m>", EILSEQ},     /* overlong '/' */
		{"<m>\xed\xa0\x80</m>", EILSEQ}, /* a surrogate */
		{"<m>\xef\xbf\xbe</m>", EILSEQ}, /* U+FFFE */
		{"<m>\xe2\x98</m>", EILSEQ},     /* cut short */
		{"<m>&#1;</m>", EBADMSG},        /* a reference to a control */
		{"<m a=\"&#x0;\"/>", EBADMSG},
		{"<m>&#xD800;</m>", EBADMSG},
		{"<m>&#99999999;</m>", EBADMSG},
		{"<m>&#;</m>", EBADMSG},
		{"<m>&nbsp;</m>", EBADMSG},
		{"<m>a & b</m>", EBADMSG},
		{"<m>]]></m>", EBADMSG},
		/* structure */
		{"", EBADMSG},
		{"text", EBADMSG},
		{" <a/>", EBADMSG},
		{"<a/> ", EBADMSG},
		{"<a/><b/>", EBADMSG},
		{"<a>", EBADMSG},
		{"<a></b>", EBADMSG},
		{"<a><b></a></b>", EBADMSG},
		{"<ab></a>", EBADMSG},
		{"<a></ab>", EBADMSG},
		{"</a>", EBADMSG},
		{"<a b=\"1\" b=\"2\"/>", EBADMSG},
		{"<a b=1/>", EBADMSG},
		{"<a b/>", EBADMSG},
		{"<a b=\"1\"c=\"2\"/>", EBADMSG},
		{"<a b=\"<\"/>", EBADMSG},
		{"<a b=\"1'/>", EBADMSG},
		{"<a/ >", EBADMSG},
		{"<1a/>", EBADMSG},
		{"<x:a/>", EBADMSG},
		{"<a x:b=\"1\"/>", EBADMSG},
		{"<a><!-- c --></a>", EBADMSG},
		{"<a><?pi x?></a>", EBADMSG},
		{"<a><![CDATA[x]]></a>", EBADMSG},
		{"<!DOCTYPE a><a/>", EBADMSG},
		{"<?xml version='1.0'?><a/>", EBADMSG},
		{"<a>x</a", EBADMSG},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		int err = xmlcheck_stanza(bad[i].xml, strlen(bad[i].xml), 64,
					  &why);
		if (err != bad[i].err || !why)
			fail_msg("%s: got %d (%s), want %d", bad[i].xml, err,
				 why ? why : "no reason", bad[i].err);
	}
	/* a NUL inside the length is a character like any other */
	assert_int_equal(xmlcheck_stanza("<a>\0</a>", 8, 64, NULL), EILSEQ);
	assert_int_equal(xmlcheck_stanza(NULL, 0, 64, NULL), EILSEQ);
}


static char *nested(unsigned depth)
{
	char *s = malloc(depth * 7 + 1), *p = s;

	assert_non_null(s);
	for (unsigned i = 0; i < depth; i++)
		p += sprintf(p, "<a>");
	for (unsigned i = 0; i < depth; i++)
		p += sprintf(p, "</a>");
	return s;
}


static void test_xmlcheck_depth_limit(void **state)
{
	char *s = nested(64);

	assert_int_equal(check(s), 0);
	free(s);
	s = nested(65);
	assert_int_equal(check(s), E2BIG);
	free(s);
	/* what crashes libstrophe's serializer: refused, no recursion */
	s = nested(200000);
	assert_int_equal(xmlcheck_stanza(s, strlen(s), 100000, NULL), E2BIG);
	free(s);
	assert_int_equal(xmlcheck_stanza("<a><b/></a>", 11, 1, NULL), E2BIG);
	assert_int_equal(xmlcheck_stanza("<a><b/></a>", 11, 2, NULL), 0);
}


static char tmpdir[64];


static const char *at(const char *name)
{
	static char p[4][160];
	static unsigned i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", tmpdir, name);
	return p[i];
}


static int safe(const char *name, unsigned forbid, const char **why)
{
	*why = NULL;
	return mkdir_safe(at(name), forbid, why);
}


static void test_mkdir_safe(void **state)
{
	const char *why;
	struct stat st;

	strcpy(tmpdir, "/tmp/xsgw-util-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));

	/* created: 0700, then accepted as it is */
	assert_int_equal(safe("new/run", 077, &why), 0);
	assert_int_equal(lstat(at("new/run"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(safe("new/run", 077, &why), 0);

	/* pre-existing, readable by others: a store may be, a runtime not */
	assert_int_equal(mkdir(at("r755"), 0755), 0);
	assert_int_equal(chmod(at("r755"), 0755), 0);
	assert_int_equal(safe("r755", 022, &why), 0);
	assert_int_equal(safe("r755", 077, &why), EPERM);
	assert_non_null(strstr(why, "0700"));

	/* writable by others: refused for both */
	assert_int_equal(mkdir(at("w777"), 0777), 0);
	assert_int_equal(chmod(at("w777"), 0777), 0);
	assert_int_equal(safe("w777", 022, &why), EPERM);
	assert_non_null(strstr(why, "write"));
	assert_int_equal(safe("w777", 077, &why), EPERM);
	assert_int_equal(chmod(at("w777"), 0720), 0);
	assert_int_equal(safe("w777", 022, &why), EPERM);

	/* a symbolic link, even to a good directory */
	assert_int_equal(symlink(at("new/run"), at("link")), 0);
	assert_int_equal(safe("link", 077, &why), ELOOP);
	assert_non_null(strstr(why, "symbolic link"));

	/* a file */
	fclose(fopen(at("file"), "w"));
	assert_int_equal(safe("file", 077, &why), ENOTDIR);
	assert_int_equal(safe("file/sub", 077, &why), ENOTDIR);
	assert_non_null(why);

	/* another user's */
	if (geteuid() == 0) {
		assert_int_equal(mkdir(at("other"), 0700), 0);
		assert_int_equal(chown(at("other"), 65534, 65534), 0);
		assert_int_equal(safe("other", 077, &why), EPERM);
		assert_non_null(strstr(why, "another user"));
	} else {
		print_message("not root: the owner check is not exercised\n");
	}
	assert_int_equal(mkdir_safe("", 077, &why), EINVAL);
	assert_int_equal(mkdir_safe("", 077, NULL), EINVAL);

	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		assert_int_equal(system(cmd), 0);
	}
}


static const char *P(const char *s, size_t n, int flags)
{
	static char buf[256];

	return str_printable(buf, sizeof(buf), s, n, flags);
}

#define PS(s) P(s, sizeof(s) - 1, 0)


static void test_str_printable(void **state)
{
	char small[8];

	/* printable ASCII and UTF-8 pass byte for byte; backslash too */
	assert_string_equal(PS("sip:bob@x.org;tag=1"), "sip:bob@x.org;tag=1");
	assert_string_equal(PS("bob\\40example.org@sip.localhost"),
			    "bob\\40example.org@sip.localhost");
	assert_string_equal(PS("Gr\xc3\xbc\xc3\x9f\xe2\x98\x83 "
			       "\xf0\x9f\x98\x80 \xc2\xa0"),
			    "Gr\xc3\xbc\xc3\x9f\xe2\x98\x83 "
			    "\xf0\x9f\x98\x80 \xc2\xa0");
	/* terminal controls: ESC, BEL, BS, DEL, NUL, TAB/LF/CR */
	assert_string_equal(PS("a\x1b[2Jb\x07\x08\x7f"),
			    "a\\x1b[2Jb\\x07\\x08\\x7f");
	assert_string_equal(PS("a\0b"), "a\\x00b");
	assert_string_equal(PS("a\tb\nc\rd"), "a\\tb\\nc\\rd");
	/* C1 (U+009B is CSI), separators, bidi overrides and isolates */
	assert_string_equal(PS("\xc2\x9b"), "\\xc2\\x9b");
	assert_string_equal(PS("\xe2\x80\xa8"), "\\xe2\\x80\\xa8");
	assert_string_equal(PS("x\xe2\x80\xaey"), "x\\xe2\\x80\\xaey");
	assert_string_equal(PS("\xe2\x81\xa6"), "\\xe2\\x81\\xa6");
	/* not UTF-8: a stray byte, overlong, surrogate, cut short */
	assert_string_equal(PS("\xff\xc0\xafz"), "\\xff\\xc0\\xafz");
	assert_string_equal(PS("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	assert_string_equal(PS("ok\xe2\x98"), "ok\\xe2\\x98");
	/* lines kept (LF, CRLF), a lone CR still escaped */
	assert_string_equal(P("v=0\r\ns=\x1b\r\nx\ry\n", 14, STR_LINES),
			    "v=0\ns=\\x1b\nx\\ry\n");
	/* truncated, never inside an escape or a character */
	assert_string_equal(
		str_printable(small, sizeof(small), "abcdef\x1b", 7, 0),
		"abcdef");
	assert_string_equal(
		str_printable(small, sizeof(small), "abc\x1bz", 5, 0),
		"abc\\x1b");
	assert_string_equal(
		str_printable(small, sizeof(small), "abcde\xe2\x98\x83", 8, 0),
		"abcde");
	assert_string_equal(str_printable(small, 1, "abc", 3, 0), "");
	assert_int_equal(utf8_printable("\xe2\x98\x83", 3), 3);
	assert_int_equal(utf8_printable("\xe2\x98\x83", 2), 0);
	assert_int_equal(utf8_printable("\x1b", 1), 0);
}


/* What one log line looks like on stderr. */
static char *log_capture(int json, const char *arg)
{
	static char out[1024];
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	assert_true(dup2(fileno(f), 2) >= 0);
	log_setup(LOG_INFO, json);
	log_info("from %s!", arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}


static void test_log_lines_escape_peer_bytes(void **state)
{
	const char *peer = "a\x1b]0;owned\x07"
			   "b\nfake line\xc2\x9b\xff";
	char *line = log_capture(0, peer);

	assert_non_null(strstr(line, " info: from a\\x1b]0;owned\\x07b"
				     "\\nfake line\\xc2\\x9b\\xff!\n"));
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	for (const char *p = line; *p; p++)
		assert_true(*p == '\n' || (unsigned char)*p >= 0x20);
	line = log_capture(1, peer);
	assert_non_null(strstr(line, "\"msg\":\"from a\\u001b]0;owned\\u0007b"
				     "\\u000afake line\\\\xc2\\\\x9b"
				     "\\\\xff!\"}\n"));
	log_setup(LOG_ERROR, 0);
}


/* A call site's budget: LOG_LIMIT_PER_S lines in a second, the rest
 * counted, the count handed to the first line of a later second. */
static void test_log_limit_per_site_and_second(void **state)
{
	struct log_limit ll = {0}, other = {0};
	unsigned left_out, passed = 0;

	for (unsigned i = 0; i < 3 * LOG_LIMIT_PER_S; i++) {
		if (log_limit_pass(&ll, 5000 + i, &left_out)) {
			passed++;
			assert_int_equal(left_out, 0);
		}
	}
	assert_int_equal(passed, LOG_LIMIT_PER_S);
	/* another site is not held by this one */
	assert_true(log_limit_pass(&other, 5999, &left_out));
	assert_false(log_limit_pass(&ll, 5999, &left_out));
	/* the next second: one line, after it the 2 * PER_S + 1 left out */
	assert_true(log_limit_pass(&ll, 6000, &left_out));
	assert_int_equal(left_out, 2 * LOG_LIMIT_PER_S + 1);
	assert_true(log_limit_pass(&ll, 6001, &left_out));
	assert_int_equal(left_out, 0);
	/* a quiet site after a long pause: nothing owed */
	assert_true(log_limit_pass(&other, 99000, &left_out));
	assert_int_equal(left_out, 0);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xmlcheck_accepts_stanzas),
		cmocka_unit_test(
			test_xmlcheck_refuses_what_a_server_would_not_parse),
		cmocka_unit_test(test_xmlcheck_depth_limit),
		cmocka_unit_test(test_mkdir_safe),
		cmocka_unit_test(test_str_printable),
		cmocka_unit_test(test_log_lines_escape_peer_bytes),
		cmocka_unit_test(test_log_limit_per_site_and_second),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
