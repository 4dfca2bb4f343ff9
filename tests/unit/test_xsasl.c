/* SASL for the client sessions (xmpp-front/xsasl.c): PLAIN (RFC 4616),
 * SCRAM-SHA-1 against RFC 5802's example exchange, and what a server's
 * wrong or hostile answer gets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include "xsasl.h"

/* RFC 5802 section 5 */
#define CNONCE "fyko+d2lbbFgONRv9qkxdawL"
#define SFIRST                                                                 \
	"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"     \
	"i=4096"
#define CFINAL                                                                 \
	"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"                 \
	"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define SFINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="


static const char *b64(const char *s, char *out, size_t n)
{
	size_t l = n - 1;

	assert_int_equal(base64_encode((const uint8_t *)s, strlen(s), out, &l),
			 0);
	out[l] = '\0';
	return out;
}


static const char *unb64(const char *s, char *out, size_t n)
{
	size_t l = n - 1;

	assert_int_equal(base64_decode(s, strlen(s), (uint8_t *)out, &l), 0);
	out[l] = '\0';
	return out;
}


static void test_plain(void **state)
{
	char out[64], raw[64];
	size_t l = sizeof(raw);

	assert_int_equal(xsasl_plain("erin", "erinpass", out, sizeof(out)), 0);
	assert_int_equal(base64_decode(out, strlen(out), (uint8_t *)raw, &l),
			 0);
	assert_int_equal(l, 14);
	assert_memory_equal(raw, "\0erin\0erinpass", 14);
	assert_int_equal(xsasl_plain("erin", "erinpass", out, 8), EOVERFLOW);
}


static void test_scram_rfc5802(void **state)
{
	struct xsasl_scram sc;
	char out[512], in[512], txt[512];

	assert_int_equal(
		xsasl_scram_first(&sc, "user", CNONCE, out, sizeof(out)), 0);
	assert_string_equal(unb64(out, txt, sizeof(txt)),
			    "n,,n=user,r=" CNONCE);
	/* a server-final before the exchange: refused (a server that skips
	 * the challenge proves nothing) */
	assert_int_equal(xsasl_scram_verify(&sc, b64(SFINAL, in, sizeof(in))),
			 EBADMSG);
	assert_int_equal(xsasl_scram_final(&sc, "pencil",
					   b64(SFIRST, in, sizeof(in)), out,
					   sizeof(out)),
			 0);
	assert_string_equal(unb64(out, txt, sizeof(txt)), CFINAL);
	/* a second server-first: out of order */
	assert_int_equal(xsasl_scram_final(&sc, "pencil",
					   b64(SFIRST, in, sizeof(in)), out,
					   sizeof(out)),
			 EBADMSG);
	/* a server that does not know the password */
	assert_int_equal(xsasl_scram_verify(&sc, b64("v=rmF9pqV8S7suAoZWja4dJ"
						     "RkFsKQ0",
						     in, sizeof(in))),
			 EBADMSG);
	assert_int_equal(
		xsasl_scram_verify(&sc, b64("e=other-error", in, sizeof(in))),
		EBADMSG);
	assert_int_equal(xsasl_scram_verify(&sc, ""), EBADMSG);
}


static void test_scram_user_escaped(void **state)
{
	struct xsasl_scram sc;
	char out[512], txt[512];

	assert_int_equal(
		xsasl_scram_first(&sc, "a,b=c", "n0nce", out, sizeof(out)), 0);
	assert_string_equal(unb64(out, txt, sizeof(txt)),
			    "n,,n=a=2Cb=3Dc,r=n0nce");
	assert_int_equal(
		xsasl_scram_first(&sc, "user", "no,nce", out, sizeof(out)),
		EINVAL);
}


static void test_scram_bad_server_first(void **state)
{
	static const char *bad[] = {
		/* a nonce that does not extend ours, or only repeats it */
		"r=xxxx,s=QSXCR+Q6sek8bf92,i=4096",
		"r=" CNONCE ",s=QSXCR+Q6sek8bf92,i=4096",
		/* no salt, no count, counts out of range, junk */
		"r=" CNONCE "abc,i=4096",
		"r=" CNONCE "abc,s=QSXCR+Q6sek8bf92",
		"r=" CNONCE "abc,s=QSXCR+Q6sek8bf92,i=0",
		"r=" CNONCE "abc,s=QSXCR+Q6sek8bf92,i=100001",
		"r=" CNONCE "abc,s=QSXCR+Q6sek8bf92,i=12x",
		"r=" CNONCE "abc,s=!!!,i=4096",
		/* a mandatory extension */
		"m=ext,r=" CNONCE "abc,s=QSXCR+Q6sek8bf92,i=4096",
		"",
	};
	struct xsasl_scram sc;
	char out[512], in[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(xsasl_scram_first(&sc, "user", CNONCE, out,
						   sizeof(out)),
				 0);
		assert_int_equal(xsasl_scram_final(&sc, "pencil",
						   b64(bad[i], in, sizeof(in)),
						   out, sizeof(out)),
				 EBADMSG);
	}
	/* not base64 at all */
	assert_int_equal(
		xsasl_scram_final(&sc, "pencil", "%%%%", out, sizeof(out)),
		EBADMSG);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_scram_rfc5802),
		cmocka_unit_test(test_scram_user_escaped),
		cmocka_unit_test(test_scram_bad_server_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
