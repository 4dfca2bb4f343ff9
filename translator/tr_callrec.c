/**
 * @file tr_callrec.c  Call records in the store: load and save, the keys
 *                     that find a call, its history, its deadline, and
 *                     forgetting it.
 *
 * Keys (database callkey, built by keys.h):
 *   CK_SID     owner NUL sid        the XMPP user's handle: only the owner
 *                                   acts on a session
 *   CK_DIALOG  Call-ID NUL ltag     requests and responses in our dialog
 *                                   (and, during a transfer, in the new
 *                                   one: both keys name the call)
 *   CK_REMOTE  Call-ID NUL rtag     S2X: INVITE retransmissions, CANCEL
 * Call-ID alone is never a key: a hairpin call has the same Call-ID once
 * as UAC and once as UAS.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "translator.h"
#include "util.h"

enum { HISTORY_MAX = 4096 };


int tr_callrec_load(struct translator *tr, uint64_t id, struct callrec *r)
{
	const void *v;
	size_t vl;
	int err = tr_rec_get(tr, DB_CALL, id, &v, &vl);

	if (err)
		return err;
	err = callrec_decode(r, v, vl);
	if (err)
		log_error("call %llu: undecodable record",
			  (unsigned long long)id);
	return err;
}


void tr_callrec_save(struct translator *tr, uint64_t id, struct callrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_CALL, id, &fb, callrec_encode(&fb, r));
}


void tr_callrec_key_put(struct translator *tr, enum callkey_kind kind,
			const char *a, const char *b, uint64_t id)
{
	uint8_t k[KEY_MAX], v[8];
	size_t kl = key_callkey(k, sizeof(k), kind, a, b);

	key_id(v, id);
	if (kl)
		store_put(tr_txn(tr), DB_CALLKEY, k, kl, v, 8);
}


void tr_callrec_key_del(struct translator *tr, enum callkey_kind kind,
			const char *a, const char *b)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_callkey(k, sizeof(k), kind, a, b);

	if (kl)
		(void)store_del(tr_txn(tr), DB_CALLKEY, k, kl);
}


uint64_t tr_callrec_key_get(struct translator *tr, enum callkey_kind kind,
			    const char *a, const char *b)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_callkey(k, sizeof(k), kind, a, b), vl;
	const void *v;

	if (!kl || store_get(tr_txn(tr), DB_CALLKEY, k, kl, &v, &vl) || vl != 8)
		return 0;
	return key_id_parse(v);
}


uint64_t tr_callrec_key_get_pl(struct translator *tr, enum callkey_kind kind,
			       const struct pl *a, const struct pl *b)
{
	char *as = NULL, *bs = NULL;
	uint64_t id = 0;

	/* the whole values, whatever their length: the key digests them
	 * as it did when the call was stored */
	if (!re_sdprintf(&as, "%b", a->p, a->l) &&
	    !re_sdprintf(&bs, "%b", b->p, b->l))
		id = tr_callrec_key_get(tr, kind, as, bs);
	mem_deref(as);
	mem_deref(bs);
	return id;
}


struct with {
	struct translator *tr;
	uint8_t prefix[KEY_MAX];
	size_t pl;
	const char *gwjid;
	uint64_t reg; /* 0: any */
	uint64_t id, updated;
};


static bool with_visit(const void *k, size_t kl, const void *v, size_t vl,
		       void *arg)
{
	struct with *w = arg;
	struct callrec r = {0};
	uint64_t id;

	if (kl < w->pl || memcmp(k, w->prefix, w->pl))
		return false;
	if (vl != 8)
		return true;
	id = key_id_parse(v);
	if (!tr_callrec_load(w->tr, id, &r) && r.state == CS_ACTIVE &&
	    (!w->gwjid || (r.gwjid && !strcasecmp(r.gwjid, w->gwjid))) &&
	    (!w->reg || r.reg == w->reg) && r.updated >= w->updated) {
		w->id = id;
		w->updated = r.updated;
	}
	callrec_reset(&r);
	return true;
}


uint64_t tr_callrec_active_with(struct translator *tr, const char *owner,
				const char *gwjid)
{
	return tr_callrec_active_via(tr, owner, gwjid, 0);
}


uint64_t tr_callrec_active_via(struct translator *tr, const char *owner,
			       const char *gwjid, uint64_t reg)
{
	struct with w = {.tr = tr, .gwjid = gwjid, .reg = reg};

	/* the owner's calls, by the prefix of their CK_SID keys */
	w.pl = key_callkey(w.prefix, sizeof(w.prefix), CK_SID, owner, "");
	if (w.pl)
		store_scan(tr_txn(tr), DB_CALLKEY, w.prefix, w.pl, with_visit,
			   &w);
	return w.id;
}


void tr_callrec_event(struct callrec *r, const char *fmt, ...)
{
	char line[256], *h = NULL;
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%llu ",
		     (unsigned long long)wall_ms());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r->history && strlen(r->history) + strlen(line) + 2 > HISTORY_MAX)
		return; /* the first events are the telling ones */
	if (re_sdprintf(&h, "%s%s\n", r->history ? r->history : "", line))
		return;
	mem_deref(r->history);
	r->history = h;
}


void tr_callrec_deadline(struct translator *tr, uint64_t id, struct callrec *r,
			 uint64_t when)
{
	if (r->deadline)
		tr_deadline_del(tr, r->deadline, OWN_CALL, id);
	r->deadline = when;
	if (when)
		tr_deadline(tr, when, OWN_CALL, id);
}


void tr_callrec_drop(struct translator *tr, uint64_t id, struct callrec *r,
		     const char *why)
{
	log_info("call %llu (%s, sid %s, Call-ID %s) ended: %s",
		 (unsigned long long)id,
		 r->dir == CD_X2S ? "xmpp->sip" : "sip->xmpp", r->sid,
		 r->callid, why);
	tr_callrec_deadline(tr, id, r, 0);
	/* our INVITE is owed to nobody now: a sip-front that restarts must
	 * not ring the callee again (F8) */
	if (r->inv_out) {
		struct tr_owner o;
		(void)tr_out_take(tr, PROC_SIP_FRONT, r->inv_out, true, &o);
	}
	/* likewise a transfer's INVITE, and its dialog */
	if (r->xfer && r->xfer_out) {
		struct tr_owner o;
		(void)tr_out_take(tr, PROC_SIP_FRONT, r->xfer_out, true, &o);
	}
	if (r->xfer && r->xfer_callid)
		tr_callrec_key_del(tr, CK_DIALOG, r->xfer_callid, r->xfer_ltag);
	tr_callrec_key_del(tr, CK_SID, r->owner, r->sid);
	tr_callrec_key_del(tr, CK_DIALOG, r->callid, r->ltag);
	if (r->dir == CD_S2X)
		tr_callrec_key_del(tr, CK_REMOTE, r->callid, r->rtag);
	tr_rec_del(tr, DB_CALL, id);
	store_count(tr_txn(tr), "calls.ended", 1);
}


int tr_callrec_set(char **dst, const char *s)
{
	char *d = NULL;
	int err = str_dup(&d, s ? s : "");

	if (err)
		return err;
	mem_deref(*dst);
	*dst = d;
	return 0;
}


int tr_callrec_set_pl(char **dst, const struct pl *pl)
{
	char *d = NULL;
	int err = pl_strdup(&d, pl);

	if (err)
		return err;
	mem_deref(*dst);
	*dst = d;
	return 0;
}
