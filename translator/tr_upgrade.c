/**
 * @file tr_upgrade.c  Store migrations, run by the translator (the only
 *                     writer) before it serves anything: a release opens
 *                     the store of the previous one with its calls and
 *                     messages in flight and continues them.
 *
 * Schema 1 -> 2 (bb80ea4 -> the one outbox), in one transaction:
 *   deadline  when||id             -> when||kind||id (kind from the record)
 *   outbox    id -> {front, frame at FRAME_VERSION 2}
 *                                  -> front||id -> {owner, type, payload};
 *             the owner of our INVITE and of our 2xx comes from the old
 *             "o" index; headers the old fronts added (Max-Forwards,
 *             User-Agent, a response's Content-Type) are added to the
 *             payload now that the translator writes them; a MESSAGE's
 *             final reply (no request kept) is dropped: the sender's
 *             retransmission is answered from the message's dedup key
 *   callkey   "o" outbox-id keys   -> removed
 *   msg       v1 -> v2; a PENDING message, which schema 1 re-sent from its
 *             record, gets its outbox entry (the same SIP transaction)
 *   call      v5 -> v6 (callrec_decode upgrades)
 *   presence  raw {prio, seen}     -> presrec
 *
 * Schema 2 -> 3: long call keys re-keyed by their digest.
 * Schema 3 -> 4: the reg and regkey databases (store_open creates them).
 * Schema 4 -> 5: presence records v1 -> v2 (show and status, empty until
 *   the user's next presence); the watch and watchkey databases (created
 *   empty by store_open).
 * Schema 5 -> 6: presence subscriptions keyed per watcher (presentities).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "msgrec.h"
#include "outrec.h"
#include "phonerec.h"
#include "presrec.h"
#include "translator.h"

/* schema 1's frame types of outbox entries */
enum {
	V1_SIP_OUT_REPLY = 0x0202,
	V1_XMPP_OUT_STANZA = 0x0106,
	V1_SIP_OUT_REQUEST = 0x0207,
	V1_SIP_OUT_RESPONSE = 0x0208,
	V1_HDR = 16,
};

/* Entries of one database, copied out (a scan cannot write). */
struct kv {
	struct le le;
	uint8_t *k, *v;
	size_t kl, vl;
};

struct upgrade {
	struct translator *tr;
	struct list kvs;
	unsigned n[6];
};


static void kv_destructor(void *arg)
{
	struct kv *e = arg;

	list_unlink(&e->le);
	mem_deref(e->k);
	mem_deref(e->v);
}


static bool collect_visit(const void *k, size_t kl, const void *v, size_t vl,
			  void *arg)
{
	struct list *l = arg;
	struct kv *e = mem_zalloc(sizeof(*e), kv_destructor);

	if (!e)
		return false;
	e->k = mem_alloc(kl + 1, NULL);
	e->v = mem_alloc(vl + 1, NULL);
	if (!e->k || !e->v) {
		mem_deref(e);
		return false;
	}
	memcpy(e->k, k, kl);
	memcpy(e->v, v, vl);
	e->kl = kl;
	e->vl = vl;
	list_append(l, &e->le, e);
	return true;
}


static void collect(struct upgrade *u, enum store_db db)
{
	list_flush(&u->kvs);
	store_scan(tr_txn(u->tr), db, NULL, 0, collect_visit, &u->kvs);
}


static enum owner_kind kind_of(struct translator *tr, uint64_t id)
{
	const void *v;
	size_t vl;

	if (!tr_rec_get(tr, DB_MSG, id, &v, &vl))
		return OWN_MSG;
	if (!tr_rec_get(tr, DB_CALL, id, &v, &vl))
		return OWN_CALL;
	return OWN_NONE;
}


static void deadlines(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_DEADLINE);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		uint64_t when, id;
		enum owner_kind kind;

		if (e->kl != 16)
			continue;
		when = be64_get(e->k);
		id = be64_get(e->k + 8);
		kind = kind_of(u->tr, id);
		store_del(tr_txn(u->tr), DB_DEADLINE, e->k, e->kl);
		if (kind != OWN_NONE)
			tr_deadline(u->tr, when, kind, id);
		u->n[0]++;
	}
}


/* The call whose INVITE or 2xx an old outbox entry was ("o" index). */
static uint64_t o_index(struct translator *tr, uint64_t out)
{
	uint8_t k[9] = {'o'};
	const void *v;
	size_t vl;

	be64_put(k + 1, out);
	if (store_get(tr_txn(tr), DB_CALLKEY, k, sizeof(k), &v, &vl) || vl != 8)
		return 0;
	return be64_get(v);
}


/* One schema 1 outbox frame as this release's payload. */
static int outbox_frame(struct upgrade *u, uint64_t id, uint32_t front,
			const uint8_t *f, size_t fl)
{
	struct frame fr = {0};
	struct fbuf fb = {0}, rec = {0};
	struct tr_owner owner = {OWN_NONE, 0};
	struct mbuf *hdrs = mbuf_alloc(512);
	struct outrec r;
	uint8_t k[KEY_OUTBOX_LEN];
	uint16_t type;
	int err = 0;

	if (fl < V1_HDR || !hdrs) {
		mem_deref(hdrs);
		return EBADMSG;
	}
	type = (uint16_t)(f[2] << 8 | f[3]);
	fr.p = f + V1_HDR;
	fr.len = (uint32_t)(fl - V1_HDR);
	if (o_index(u->tr, id)) {
		owner.kind = OWN_CALL;
		owner.id = o_index(u->tr, id);
	}
	if (type == V1_XMPP_OUT_STANZA) {
		struct m_xmpp_out m = {.out = id};
		frame_get_str(&fr, &m.xml.p, &m.xml.l);
		err = frame_end(&fr) ? EBADMSG : msg_enc_xmpp_out(&fb, &m);
	} else if (type == V1_SIP_OUT_REQUEST) {
		struct m_sip_out_request m = {.out = id};
		struct pl h;
		frame_get_str(&fr, &m.method.p, &m.method.l);
		frame_get_str(&fr, &m.ruri.p, &m.ruri.l);
		frame_get_str(&fr, &m.dst.p, &m.dst.l);
		frame_get_str(&fr, &m.branch.p, &m.branch.l);
		frame_get_str(&fr, &h.p, &h.l);
		frame_get_str(&fr, &m.body.p, &m.body.l);
		err = frame_end(&fr) ? EBADMSG : 0;
		/* schema 1's front wrote these two */
		err |= mbuf_printf(hdrs,
				   "Max-Forwards: 70\r\n%rUser-Agent: "
				   "xsgw\r\n",
				   &h);
		m.hdrs.p = (const char *)hdrs->buf;
		m.hdrs.l = hdrs->end;
		if (!err)
			err = msg_enc_sip_out_request(&fb, &m);
	} else if (type == V1_SIP_OUT_RESPONSE) {
		struct m_sip_out_response m = {.out = id};
		struct pl h;
		m.tx = frame_get_u64(&fr);
		frame_get_str(&fr, &m.src.p, &m.src.l);
		frame_get_str(&fr, &m.raw.p, &m.raw.l);
		m.totag = frame_get_u64(&fr);
		m.scode = frame_get_u32(&fr);
		frame_get_str(&fr, &m.reason.p, &m.reason.l);
		frame_get_str(&fr, &h.p, &h.l);
		frame_get_str(&fr, &m.body.p, &m.body.l);
		err = frame_end(&fr) ? EBADMSG : 0;
		/* schema 1's front wrote the Content-Type of an SDP body */
		err |= mbuf_printf(
			hdrs, "%r%s", &h,
			m.body.l ? "Content-Type: application/sdp\r\n" : "");
		m.hdrs.p = (const char *)hdrs->buf;
		m.hdrs.l = hdrs->end;
		if (!err)
			err = msg_enc_sip_out_response(&fb, &m);
	} else {
		/* V1_SIP_OUT_REPLY and anything else: nothing to rebuild */
		err = ENOENT;
	}
	if (!err) {
		r.owner_kind = owner.kind;
		r.owner = owner.id;
		r.type = (uint16_t)(fb.b[2] << 8 | fb.b[3]);
		r.payload = msg_payload(&fb);
		r.len = msg_payload_len(&fb);
		key_outbox(k, front, id);
		err = outrec_encode(&rec, &r);
		if (!err)
			store_put(tr_txn(u->tr), DB_OUTBOX, k, sizeof(k), rec.b,
				  rec.len);
	}
	fbuf_reset(&fb);
	fbuf_reset(&rec);
	mem_deref(hdrs);
	return err;
}


static void outbox(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_OUTBOX);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		struct frame fr;
		const char *f;
		size_t fl;
		uint32_t front;
		uint64_t id;

		if (e->kl != 8 || rec_open(&fr, e->v, e->vl) != 1)
			continue; /* this schema's already */
		id = be64_get(e->k);
		front = frame_get_u32(&fr);
		frame_get_str(&fr, &f, &fl);
		store_del(tr_txn(u->tr), DB_OUTBOX, e->k, e->kl);
		if (frame_end(&fr) ||
		    outbox_frame(u, id, front, (const uint8_t *)f, fl))
			log_info("upgrade: outbox %llu not carried over",
				 (unsigned long long)id);
		else
			u->n[1]++;
	}
	/* the "o" index is gone: owners are in the entries */
	collect(u, DB_CALLKEY);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		if (e->kl == 9 && e->k[0] == 'o')
			store_del(tr_txn(u->tr), DB_CALLKEY, e->k, e->kl);
	}
}


/* A pending v1 message was re-sent from its record: give it its outbox
 * entry, with the same SIP transaction (a retransmission). */
static void pending_v1(struct upgrade *u, uint64_t id, const struct msgrec *r,
		       const struct msgrec_v1_txn *t)
{
	struct tr_sip_page pg = {.ruri = r->ruri,
				 .from = r->sfrom,
				 .to = r->sto,
				 .callid = r->callid,
				 .ftag = t->ftag,
				 .branch = t->branch,
				 .cseq = t->cseq,
				 .ctype = r->ctype,
				 .body = r->body};

	switch (r->kind) {
	case MK_CHAT_X2S:
	case MK_SNOTICE:
		(void)tr_sip_message(u->tr, id, &pg);
		break;
	case MK_CHAT_S2X:
		tr_xmpp_chat(u->tr, id, r->xfrom, r->xto, r->xid, r->body);
		break;
	case MK_XERR:
		tr_xmpp_msg_error(u->tr, id, r->xfrom, r->xto, r->xid, r->econd,
				  r->etext, r->body);
		break;
	case MK_RECEIPT:
		tr_xmpp_receipt(u->tr, id, r->xfrom, r->xto, r->xid);
		break;
	}
}


static void messages(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_MSG);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		struct msgrec_v1_txn t;
		struct msgrec r;
		struct fbuf fb = {0};
		uint64_t id = be64_get(e->k);

		if (e->kl != 8 || !e->vl || e->v[0] != 1 ||
		    msgrec_decode(&r, e->v, e->vl, &t))
			continue;
		if (r.state == MS_PENDING)
			pending_v1(u, id, &r, &t);
		tr_rec_put(u->tr, DB_MSG, id, &fb, msgrec_encode(&fb, &r));
		msgrec_reset(&r);
		mem_deref(t.ftag);
		mem_deref(t.branch);
		u->n[2]++;
	}
}


static void calls(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_CALL);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		struct callrec r;
		struct fbuf fb = {0};

		if (e->kl != 8 || !e->vl || e->v[0] == CALLREC_VERSION ||
		    callrec_decode(&r, e->v, e->vl))
			continue;
		tr_rec_put(u->tr, DB_CALL, be64_get(e->k), &fb,
			   callrec_encode(&fb, &r));
		callrec_reset(&r);
		u->n[3]++;
	}
}


/* Schema 1's raw values and v1 records as this version's. */
static void presence(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_PRESENCE);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		struct presrec pr;
		struct fbuf fb = {0};

		if ((e->vl != 12 && e->vl && e->v[0] == PRESREC_VERSION) ||
		    presrec_decode(&pr, e->v, e->vl))
			continue;
		if (!presrec_encode(&fb, &pr))
			store_put(tr_txn(u->tr), DB_PRESENCE, e->k, e->kl, fb.b,
				  fb.len);
		fbuf_reset(&fb);
		u->n[4]++;
	}
}


/* Schema 3: callkey parts over 128 bytes are keyed by their digest
 * (keys.c); an older store kept them as they were, and lookups would no
 * longer find them. (msgkey entries live 5 minutes: left as they are.) */
static void callkeys(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_CALLKEY);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		enum callkey_kind kind;
		struct pl a, b;
		char *as = NULL, *bs = NULL;
		uint8_t k[KEY_MAX];
		size_t kl;

		if (key_callkey_parse(e->k, e->kl, &kind, &a, &b) ||
		    re_sdprintf(&as, "%b", a.p, a.l) ||
		    re_sdprintf(&bs, "%b", b.p, b.l))
			goto next;
		kl = key_callkey(k, sizeof(k), kind, as, bs);
		if (kl && (kl != e->kl || memcmp(k, e->k, kl))) {
			store_put(tr_txn(u->tr), DB_CALLKEY, k, kl, e->v,
				  e->vl);
			(void)store_del(tr_txn(u->tr), DB_CALLKEY, e->k, e->kl);
			u->n[5]++;
		}
	next:
		mem_deref(as);
		mem_deref(bs);
	}
}


/* Schema 6: a presence subscription is keyed per watcher ("e" URI SP
 * JID); a schema 5 one, shared by the watchers of a URI, gets a key for
 * each of them (it goes on, From the gateway, until it ends). */
static void presentities(struct upgrade *u)
{
	struct le *le;

	collect(u, DB_REGKEY);
	LIST_FOREACH(&u->kvs, le)
	{
		struct kv *e = le->data;
		struct subrec r;
		const void *v;
		const char *l;
		char uri[KEY_MAX], w[512], k[KEY_MAX];
		size_t vl;

		if (e->kl < 2 || e->k[0] != RK_PRESENTITY || e->vl != 8 ||
		    memchr(e->k + 1, ' ', e->kl - 1))
			continue;
		memcpy(uri, e->k + 1, e->kl - 1);
		uri[e->kl - 1] = 0;
		if (!tr_rec_get(u->tr, DB_SUB, be64_get(e->v), &v, &vl) &&
		    !subrec_decode(&r, v, vl)) {
			l = r.watchers;
			while (l && *l) {
				size_t n = strcspn(l, "\n");
				snprintf(w, sizeof(w), "%.*s", (int)n, l);
				l += n + (l[n] == '\n');
				if (key_presentity(k, sizeof(k), uri, w))
					tr_regrec_key_put(u->tr, RK_PRESENTITY,
							  k, be64_get(e->v));
			}
			subrec_reset(&r);
		}
		(void)store_del(tr_txn(u->tr), DB_REGKEY, e->k, e->kl);
		u->n[5]++;
	}
}


int tr_upgrade(struct translator *tr)
{
	struct upgrade u = {.tr = tr};
	uint32_t from = store_schema(tr->store);
	int err;

	if (from == STORE_SCHEMA)
		return 0;
	if (from < 1 || from > 5) {
		log_error("store: no migration from schema %u", from);
		return EPROTO;
	}
	log_info("store: migrating schema %u to %u", from, STORE_SCHEMA);
	if (from == 1) {
		deadlines(&u); /* before messages and calls: kinds from
				  records */
		outbox(&u);
		messages(&u);
		calls(&u);
	}
	if (from < 3)
		callkeys(&u);
	if (from < 5)
		presence(&u);
	if (from < 6)
		presentities(&u);
	/* 3 -> 4: reg and regkey, created empty by store_open */
	list_flush(&u.kvs);
	store_set_schema(tr_txn(tr), STORE_SCHEMA);
	err = store_commit(tr->txn);
	tr->txn = NULL;
	list_flush(&tr->after); /* sent on the fronts' HELLO, from the outbox */
	if (err) {
		log_error("store: migration failed: %s", strerror(err));
		return err;
	}
	log_info("store: schema %u (%u deadlines, %u outbox entries, %u "
		 "messages, %u calls, %u presences, %u call and presence "
		 "keys carried over)",
		 STORE_SCHEMA, u.n[0], u.n[1], u.n[2], u.n[3], u.n[4], u.n[5]);
	return 0;
}
