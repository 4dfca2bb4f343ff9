/**
 * @file fuzz_xparse.c  libFuzzer target for xparse_stanza (shared/xparse.c),
 *                      the translator's stanza and stored-XML parser.
 *
 * Besides "no crash, no leak": the one parser is used for every input, so
 * a bad input must leave it able to parse the next one (a known stanza is
 * parsed after each); and where libstrophe's own parser reads the same
 * input as one element (no NUL, no XML or DOCTYPE declaration), both build
 * the same tree (compared as text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include "xparse.h"
#include "fuzz_check.h"


static const char known[] = "<iq type='get' id='x'><ping "
			    "xmlns='urn:xmpp:ping'/></iq>";


static char *text_of(xmpp_ctx_t *ctx, xmpp_stanza_t *st)
{
	char *buf = NULL;
	size_t len = 0;

	CHECK(!xmpp_stanza_to_text(st, &buf, &len));
	return buf;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static xmpp_ctx_t *ctx;
	xmpp_stanza_t *a, *b;
	char *s;

	if (!ctx) {
		xmpp_initialize();
		ctx = xmpp_ctx_new(NULL, NULL);
		CHECK(ctx);
	}
	a = xparse_stanza(ctx, (const char *)data, size);
	s = malloc(size + 1);
	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	if (a && strlen(s) == size && !strstr(s, "<?xml") && !strstr(s, "<!")) {
		b = xmpp_stanza_new_from_string(ctx, s);
		if (b) {
			char *ta = text_of(ctx, a), *tb = text_of(ctx, b);
			CHECK(!strcmp(ta, tb));
			xmpp_free(ctx, ta);
			xmpp_free(ctx, tb);
			xmpp_stanza_release(b);
		}
	}
	free(s);
	if (a)
		xmpp_stanza_release(a);
	a = xparse_stanza(ctx, known, strlen(known));
	CHECK(a);
	xmpp_stanza_release(a);
	return 0;
}
