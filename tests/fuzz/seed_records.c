/**
 * @file seed_records.c  Seeds for fuzz_frame: one record of each presence
 *                       kind (phonerec, subrec, watchrec) as their encoders
 *                       write them, into the directory given (scripts/
 *                       fuzz.sh). Hand-built bytes would drift from the
 *                       codecs.
 */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "phonerec.h"
#include "watchrec.h"

static int put(const char *dir, const char *name, struct fbuf *fb, int err)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (err || !(f = fopen(path, "wb")))
		return 1;
	fwrite(fb->b, 1, fb->len, f);
	fclose(f);
	fbuf_reset(fb);
	return 0;
}


int main(int argc, char **argv)
{
	char aor[] = "sip:bob@127.0.0.1", jid[] = "alice@localhost",
	     res[] = "desk", gw[] = "bob\\40127.0.0.1@sip.localhost",
	     src[] = "publish", hist[] = "1 online (publish)\n", et[] = "e1",
	     ev[] = "presence", cid[] = "c1", lt[] = "l1", rt[] = "r1",
	     routes[] = "<sip:p;lr>\n", ws[] = "heidi@localhost\n",
	     show[] = "dnd", st[] = "Busy", from[] = "sip:heidi@localhost",
	     ent[] = "sip:alice@localhost", luri[] = "<sip:alice@localhost>",
	     ruri[] = "<sip:w@x>", rtg[] = "sip:w@127.0.0.1:5090", ev2[] = "",
	     reason[] = "";
	struct phonerec p = {.state = PH_ONTHEPHONE,
			     .created = 1,
			     .updated = 2,
			     .deadline = 3,
			     .aor = aor,
			     .jid = jid,
			     .res = res,
			     .gwjid = gw,
			     .last_event = 4,
			     .source = src,
			     .shown = 2,
			     .asked = 1,
			     .history = hist,
			     .pub_etag = et,
			     .pub_until = 5};
	struct subrec s = {.state = SB_ACTIVE,
			   .created = 1,
			   .event = ev,
			   .target = aor,
			   .callid = cid,
			   .ltag = lt,
			   .rtag = rt,
			   .rtarget = rtg,
			   .routes = routes,
			   .lcseq = 2,
			   .gwjid = gw,
			   .watchers = ws,
			   .authorized = 1,
			   .open = 1,
			   .show = show,
			   .status = st,
			   .from = from};
	struct watchrec w = {.state = WS_ACTIVE,
			     .created = 1,
			     .expires = 600,
			     .user = jid,
			     .entity = ent,
			     .aor = aor,
			     .gwjid = gw,
			     .callid = cid,
			     .ltag = lt,
			     .rtag = rt,
			     .luri = luri,
			     .ruri = ruri,
			     .rtarget = rtg,
			     .routes = routes,
			     .evid = ev2,
			     .nshow = show,
			     .nnote = st,
			     .reason = reason,
			     .history = hist};
	struct fbuf fb = {0};

	if (argc != 2)
		return 2;
	return put(argv[1], "phonerec", &fb, phonerec_encode(&fb, &p)) |
	       put(argv[1], "subrec", &fb, subrec_encode(&fb, &s)) |
	       put(argv[1], "watchrec", &fb, watchrec_encode(&fb, &w));
}
