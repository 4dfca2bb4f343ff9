/**
 * @file tr_out.c  The one outbox: everything a front owes (stanzas to
 *                 write, SIP requests to send, responses to give) is kept
 *                 in the store until the front reports it done, so that a
 *                 front killed before acting gets it again when it
 *                 reconnects; the same entry names its owner, whose handler
 *                 gets the outcome.
 *
 * An entry is keyed front||id (a front's entries are one prefix, oldest
 * first) and holds the frame's payload without a header (outrec.h); replay
 * rebuilds the frame at the current FRAME_VERSION. Fronts treat a second
 * copy of an id they have done, or are doing, as a no-op.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "outrec.h"
#include "translator.h"


/* Keep fb (a whole frame whose out id is id) and stage it. */
static uint64_t out_put(struct translator *tr, enum proc_id front,
			struct tr_owner owner, uint64_t id, struct fbuf *fb,
			int encode_err)
{
	struct outrec r = {owner.kind, owner.id, 0, NULL, 0};
	uint8_t k[KEY_OUTBOX_LEN];
	struct fbuf rec = {0};

	if (encode_err) {
		log_error("%s %llu: dropping an outgoing %s: %s",
			  owner.kind == OWN_CALL  ? "call"
			  : owner.kind == OWN_MSG ? "msg"
						  : "out",
			  (unsigned long long)owner.id, proc_name(front),
			  strerror(encode_err));
		fbuf_reset(fb);
		return 0;
	}
	r.type = (uint16_t)(fb->b[2] << 8 | fb->b[3]);
	r.payload = msg_payload(fb);
	r.len = msg_payload_len(fb);
	key_outbox(k, front, id);
	if (!outrec_encode(&rec, &r))
		store_put(tr_txn(tr), DB_OUTBOX, k, sizeof(k), rec.b, rec.len);
	fbuf_reset(&rec);
	tr_after_commit(tr, front, fb);
	return id;
}


uint64_t tr_out_xmpp(struct translator *tr, struct tr_owner owner,
		     const char *xml, size_t len)
{
	struct m_xmpp_out m = {store_next_id(tr_txn(tr)), {xml, len}};
	struct fbuf fb = {0};

	return out_put(tr, PROC_XMPP_FRONT, owner, m.out, &fb,
		       msg_enc_xmpp_out(&fb, &m));
}


uint64_t tr_out_client(struct translator *tr, struct tr_owner owner,
		       const char *jid, const char *xml, size_t len)
{
	struct m_client_out m = {store_next_id(tr_txn(tr)), {0}, {xml, len}};
	struct fbuf fb = {0};

	pl_set_str(&m.jid, jid);
	return out_put(tr, PROC_XMPP_FRONT, owner, m.out, &fb,
		       msg_enc_client_out(&fb, &m));
}


uint64_t tr_out_sip_request(struct translator *tr, struct tr_owner owner,
			    struct m_sip_out_request *m)
{
	struct fbuf fb = {0};

	m->out = store_next_id(tr_txn(tr));
	return out_put(tr, PROC_SIP_FRONT, owner, m->out, &fb,
		       msg_enc_sip_out_request(&fb, m));
}


uint64_t tr_out_sip_response(struct translator *tr, struct tr_owner owner,
			     struct m_sip_out_response *m)
{
	struct fbuf fb = {0};

	m->out = store_next_id(tr_txn(tr));
	return out_put(tr, PROC_SIP_FRONT, owner, m->out, &fb,
		       msg_enc_sip_out_response(&fb, m));
}


int tr_out_take(struct translator *tr, enum proc_id front, uint64_t out,
		bool remove, struct tr_owner *owner)
{
	uint8_t k[KEY_OUTBOX_LEN];
	struct outrec r;
	const void *v;
	size_t vl;

	key_outbox(k, front, out);
	if (!out || store_get(tr_txn(tr), DB_OUTBOX, k, sizeof(k), &v, &vl))
		return ENOENT;
	if (outrec_decode(&r, v, vl)) {
		log_error("outbox %llu: undecodable entry dropped",
			  (unsigned long long)out);
		r.owner_kind = OWN_NONE;
		remove = true;
	}
	owner->kind = r.owner_kind < OWN_COUNT ? r.owner_kind : OWN_NONE;
	owner->id = r.owner;
	if (remove)
		(void)store_del(tr_txn(tr), DB_OUTBOX, k, sizeof(k));
	return 0;
}


struct replay {
	struct translator *tr;
	enum proc_id front;
	tr_out_wanted_h *wanted;
	uint8_t prefix[4];
	unsigned n;
	struct mbuf *stale; /* keys of entries nobody wants any more */
};


static bool replay_visit(const void *k, size_t kl, const void *v, size_t vl,
			 void *arg)
{
	struct replay *c = arg;
	struct fbuf fb = {0};
	struct outrec r;
	uint32_t front;
	uint64_t id;

	if (key_outbox_parse(k, kl, &front, &id) || front != c->front)
		return false; /* past the prefix */
	if (outrec_decode(&r, v, vl) || !msg_type_name(r.type) ||
	    msg_rebuild(&fb, r.type, r.payload, r.len)) {
		log_error("outbox %llu: unusable entry skipped",
			  (unsigned long long)id);
		fbuf_reset(&fb);
		return true;
	}
	/* a response is always owed (someone waits for it); a request or a
	 * stanza only while its owner wants it */
	if (c->wanted && r.type != MSG_SIP_OUT_RESPONSE &&
	    !c->wanted(c->tr,
		       (struct tr_owner){r.owner_kind < OWN_COUNT ? r.owner_kind
								  : OWN_NONE,
					 r.owner})) {
		fbuf_reset(&fb);
		(void)mbuf_write_mem(c->stale, k, kl);
		return true;
	}
	tr_after_commit(c->tr, c->front, &fb);
	c->n++;
	return true;
}


void tr_out_replay(struct translator *tr, enum proc_id front,
		   tr_out_wanted_h *wanted)
{
	struct replay c = {tr, front, wanted, {0}, 0, mbuf_alloc(64)};
	size_t dropped;

	if (!c.stale)
		return;
	key_outbox_prefix(c.prefix, front);
	store_scan(tr_txn(tr), DB_OUTBOX, c.prefix, sizeof(c.prefix),
		   replay_visit, &c);
	dropped = c.stale->end / KEY_OUTBOX_LEN;
	for (size_t i = 0; i < dropped; i++)
		(void)store_del(tr_txn(tr), DB_OUTBOX,
				c.stale->buf + i * KEY_OUTBOX_LEN,
				KEY_OUTBOX_LEN);
	mem_deref(c.stale);
	if (c.n || dropped)
		log_info("re-sending %u outbox frame(s) to %s (%zu no longer "
			 "wanted, dropped)",
			 c.n, proc_name(front), dropped);
}
