/**
 * @file fuzz_pidf.c  libFuzzer target for the presence bodies a presence
 *                    server or a SIP watcher's server sends
 *                    (translator/tr_pidf.c): RFC 3680 reginfo, RFC 4235
 *                    dialog-info, RFC 3863 PIDF with RPID.
 *
 * The input is the body (as a NOTIFY or PUBLISH carries it), read by all
 * three decoders. Besides "no crash": a PIDF read gives a show XMPP knows
 * ("", away, xa, dnd; none when closed) and a status that is NUL-ended,
 * XML-safe UTF-8; and written back as PIDF (tr_pidf_out, what the gateway
 * sends its SIP watchers) it reads the same: open, the show (xa is written
 * as away, RFC 7248), an open presence's status.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include <strophe.h>
#include "translator.h"
#include "util.h"
#include "fuzz_check.h"


static struct translator tr;


static bool show_known(const char *s)
{
	return !strcmp(s, "") || !strcmp(s, "away") || !strcmp(s, "xa") ||
	       !strcmp(s, "dnd");
}


static void pidf_round_trip(const struct tr_pidf *p)
{
	struct tr_pres_view v = {p->open, p->show, p->status};
	struct tr_pidf q;
	char *body = NULL;

	CHECK(!tr_pidf_out(&body, "sip:fz@example.net", &v));
	CHECK(!tr_pidf_presence(&tr, body, &q));
	CHECK(q.open == p->open);
	CHECK(!strcmp(q.show, strcmp(p->show, "xa") ? p->show : "away"));
	if (p->open && p->status[0]) /* closed: no note is written */
		CHECK(!strcmp(q.status, p->status));
	mem_deref(body);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr_reginfo ri;
	struct tr_dialoginfo di;
	struct tr_pidf p;
	char *body;

	if (!tr.xctx)
		tr.xctx = xmpp_ctx_new(NULL, NULL);
	body = malloc(size + 1);
	CHECK(body);
	memcpy(body, data, size);
	body[size] = '\0';
	(void)tr_pidf_reginfo(&tr, body, &ri);
	if (!tr_pidf_dialoginfo(&tr, body, &di))
		CHECK(di.confirmed + di.terminated <= di.dialogs);
	if (!tr_pidf_presence(&tr, body, &p)) {
		CHECK(show_known(p.show));
		CHECK(p.open || !p.show[0]);
		CHECK(memchr(p.status, 0, sizeof(p.status)));
		CHECK(utf8_xml_valid(p.status, strlen(p.status)));
		pidf_round_trip(&p);
	}
	free(body);
	return 0;
}
