/**
 * @file fuzz_xsasl.c  libFuzzer target for the client sessions' SASL
 *                     (xmpp-front/xsasl.c): what a server sends.
 *
 * The input is a server-first message, a NUL, and a server-final message
 * (both raw: the harness writes them as base64, as in <challenge/> and
 * <success/>); the input as it is is also given as base64 text. Besides
 * "no crash": a client-final message is only ever made for a nonce that
 * extends ours, it is "c=biws,r=<that nonce>,p=<28 base64 characters>",
 * and a server-final message is never accepted without the right
 * signature (the password here is random per run, unknown to the input).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "xsasl.h"
#include "fuzz_check.h"

#define CNONCE "fyko+d2lbbFgONRv9qkxdawL"


static void b64(const uint8_t *p, size_t l, char *out, size_t n)
{
	size_t ol = n - 1;

	if (base64_encode(p, l, out, &ol))
		ol = 0;
	out[ol] = '\0';
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[8192], out[4096], txt[4096], raw[3000];
	const uint8_t *nul = memchr(data, 0, size);
	size_t l1 = nul ? (size_t)(nul - data) : size;
	struct xsasl_scram sc;
	size_t tl = sizeof(txt) - 1;

	if (size > 2000)
		return 0;
	if (xsasl_scram_first(&sc, "user", CNONCE, out, sizeof(out)))
		abort();
	b64(data, l1, in, sizeof(in));
	if (!xsasl_scram_final(&sc, "pencil-x", in, out, sizeof(out))) {
		const char *p;
		CHECK(!base64_decode(out, strlen(out), (uint8_t *)txt, &tl));
		txt[tl] = '\0';
		CHECK(!strncmp(txt, "c=biws,r=" CNONCE, 9 + strlen(CNONCE)));
		p = strstr(txt, ",p=");
		CHECK(p && strlen(p + 3) == 28);
		/* the input's nonce, longer than ours */
		CHECK((size_t)(p - txt) > 9 + strlen(CNONCE));
		if (nul) {
			b64(nul + 1, size - l1 - 1, in, sizeof(in));
			/* the right signature needs the password: a
			 * collision in 160 bits is not expected */
			CHECK(xsasl_scram_verify(&sc, in) != 0);
		}
	}
	/* the input as text where base64 is expected */
	memcpy(raw, data, size);
	raw[size] = '\0';
	if (xsasl_scram_first(&sc, "user", CNONCE, out, sizeof(out)))
		abort();
	CHECK(xsasl_scram_verify(&sc, raw) == EBADMSG); /* out of order */
	if (!xsasl_scram_final(&sc, "pencil-x", raw, out, sizeof(out)))
		CHECK(xsasl_scram_verify(&sc, raw) != 0);
	return 0;
}
