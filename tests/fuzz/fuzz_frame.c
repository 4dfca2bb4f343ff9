/* libFuzzer: the frame parser and every message decoder (msg.h), every
 * store record decoder (regrec too) and every key parser, on the same
 * bytes; key_regkey, which has no parser, builds keys from them; an outbox
 * record's payload is also rebuilt into a frame and decoded (replay).
 *
 * Besides "no crash", what is accepted must re-encode to the same bytes:
 * a decoded message to the same payload, a record of the current version
 * to the same record, a parsed key to the same key. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "callrec.h"
#include "frame.h"
#include "keys.h"
#include "msg.h"
#include "msgrec.h"
#include "outrec.h"
#include "phonerec.h"
#include "presrec.h"
#include "regrec.h"
#include "rxrec.h"
#include "watchrec.h"
#include "fuzz_check.h"


/* fb must hold the frame fr was parsed from, apart from seq */
static void same_frame(struct fbuf *fb, int err, const struct frame *fr)
{
	CHECK(!err);
	CHECK(fb->len == FRAME_HDR_SIZE + (size_t)fr->len);
	CHECK(((uint16_t)(fb->b[2] << 8 | fb->b[3])) == fr->type);
	CHECK(!memcmp(fb->b + FRAME_HDR_SIZE, fr->p, fr->len));
}


/* Decode fr with the decoder of its type; re-encode what is accepted. */
static void decode_msg(struct frame *fr)
{
	struct fbuf fb = {0};
	union {
		struct m_hello hello;
		struct m_ping ping;
		struct m_ack ack;
		struct m_id id;
		struct m_out_done out_done;
		struct m_fd_store fd_store;
		struct m_xmpp_link xmpp_link;
		struct m_xmpp_in xmpp_in;
		struct m_xmpp_out xmpp_out;
		struct m_client_up client_up;
		struct m_client_out client_out;
		struct m_client_sm client_sm;
		struct m_sip_in_request sip_in_request;
		struct m_sip_in_response sip_in_response;
		struct m_sip_out_request sip_out_request;
		struct m_sip_out_response sip_out_response;
		struct m_ctl_worker ctl_worker;
		struct m_ctl_restart ctl_restart;
		struct m_ctl_end ctl_end;
	} m;

	memset(&m, 0, sizeof(m));
	switch ((enum msg_type)fr->type) {
#define ONE(T, name)                                                           \
	case T:                                                                \
		if (!msg_dec_##name(fr, &m.name))                              \
			same_frame(&fb, msg_enc_##name(&fb, &m.name), fr);     \
		break
#define TYPED(T, name)                                                         \
	case T:                                                                \
		if (!msg_dec_##name(fr, &m.name))                              \
			same_frame(&fb, msg_enc_##name(&fb, T, &m.name), fr);  \
		break
#define EMPTY(T)                                                               \
	case T:                                                                \
		if (!msg_dec_empty(fr))                                        \
			same_frame(&fb, msg_enc_empty(&fb, T), fr);            \
		break
		ONE(MSG_HELLO, hello);
		EMPTY(MSG_READY);
		TYPED(MSG_PING, ping);
		TYPED(MSG_PONG, ping);
		EMPTY(MSG_SHUTDOWN);
		EMPTY(MSG_RELOAD);
		ONE(MSG_ACK, ack);
		TYPED(MSG_CALL_END, id);
		ONE(MSG_OUT_DONE, out_done);
		EMPTY(MSG_RESTART);
		ONE(MSG_FD_STORE, fd_store);
		ONE(MSG_XMPP_LINK, xmpp_link);
		ONE(MSG_XMPP_IN, xmpp_in);
		ONE(MSG_XMPP_OUT, xmpp_out);
		ONE(MSG_CLIENT_UP, client_up);
		ONE(MSG_CLIENT_OUT, client_out);
		TYPED(MSG_CLIENT_SM, client_sm);
		TYPED(MSG_CLIENT_STATE, client_sm);
		ONE(MSG_SIP_IN_REQUEST, sip_in_request);
		ONE(MSG_SIP_IN_RESPONSE, sip_in_response);
		ONE(MSG_SIP_OUT_REQUEST, sip_out_request);
		ONE(MSG_SIP_OUT_RESPONSE, sip_out_response);
		EMPTY(MSG_CTL_STATUS);
		ONE(MSG_CTL_WORKER, ctl_worker);
		ONE(MSG_CTL_RESTART, ctl_restart);
		ONE(MSG_CTL_END, ctl_end);
		TYPED(MSG_CTL_CALL_END, id);
#undef ONE
#undef TYPED
#undef EMPTY
	default:
		CHECK(!msg_type_name(fr->type)); /* a type without decoder */
		break;
	}
	fbuf_reset(&fb);
}


/* The generic getters, in some order given by the payload itself. */
static void getters(struct frame *fr)
{
	for (int i = 0; i < 12 && !fr->err; i++) {
		char *s = frame_get_strdup(fr);
		mem_deref(s);
		(void)frame_get_u32(fr);
		(void)frame_get_u64(fr);
	}
	(void)frame_end(fr);
}


static void frames(const uint8_t *data, size_t size)
{
	struct frame fr, copy;
	size_t used, off = 0;

	while (off < size && !frame_parse(data + off, size - off, &fr, &used)) {
		CHECK(used >= FRAME_HDR_SIZE && used <= size - off);
		CHECK(fr.ver == FRAME_VERSION && fr.len <= FRAME_MAX);
		copy = fr;
		if (msg_type_name(fr.type))
			decode_msg(&fr);
		getters(&copy);
		off += used;
	}
}


/* tr_out_replay: the stored payload rebuilt as a frame at this version,
 * parsed and decoded as the front will. */
static void replay(const struct outrec *o)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	if (msg_type_name(o->type) &&
	    !msg_rebuild(&fb, o->type, o->payload, o->len)) {
		CHECK(!frame_parse(fb.b, fb.len, &fr, &used));
		CHECK(used == fb.len && fr.type == o->type && fr.len == o->len);
		decode_msg(&fr);
	}
	fbuf_reset(&fb);
}


static bool same(const struct fbuf *fb, const uint8_t *data, size_t size)
{
	return fb->len == size && !memcmp(fb->b, data, size);
}


/* phonerec, subrec, watchrec: what decodes is of a version they read, in
 * a state, with its required fields; the current version re-encodes
 * byte for byte (an older one is written as the current). */
static void presence_records(const uint8_t *data, size_t size)
{
	struct fbuf fb = {0};
	struct phonerec ph;
	struct subrec sb;
	struct watchrec w;

	if (!phonerec_decode(&ph, data, size)) {
		CHECK(data[0] >= 1 && data[0] <= PHONEREC_VERSION);
		CHECK(ph.state && ph.state < PH_STATE_MAX && ph.aor && ph.jid &&
		      ph.gwjid);
		if (data[0] == PHONEREC_VERSION)
			CHECK(!phonerec_encode(&fb, &ph) &&
			      same(&fb, data, size));
		phonerec_reset(&ph);
	} else {
		CHECK(!ph.aor && !ph.jid && !ph.state);
	}
	if (!subrec_decode(&sb, data, size)) {
		CHECK(data[0] >= 1 && data[0] <= SUBREC_VERSION);
		CHECK(sb.state && sb.state < SB_STATE_MAX && sb.event &&
		      sb.target && sb.callid && sb.ltag);
		if (data[0] == SUBREC_VERSION)
			CHECK(!subrec_encode(&fb, &sb) &&
			      same(&fb, data, size));
		subrec_reset(&sb);
	} else {
		CHECK(!sb.event && !sb.target && !sb.state);
	}
	if (!watchrec_decode(&w, data, size)) {
		CHECK(data[0] == WATCHREC_VERSION);
		CHECK(!watchrec_encode(&fb, &w) && same(&fb, data, size));
		watchrec_reset(&w);
	}
	fbuf_reset(&fb);
}


static void records(const uint8_t *data, size_t size)
{
	struct msgrec_v1_txn old;
	struct fbuf fb = {0};
	struct msgrec r;
	struct callrec c;
	struct outrec o;
	struct presrec p;
	struct rxrec x;
	struct regrec g;
	int err;

	err = msgrec_decode(&r, data, size, NULL);
	if (!err) {
		if (data[0] == MSGREC_VERSION)
			CHECK(!msgrec_encode(&fb, &r) && same(&fb, data, size));
		msgrec_reset(&r);
	}
	if (!msgrec_decode(&r, data, size, &old)) {
		CHECK(!err);
		CHECK(data[0] == 1 || (!old.ftag && !old.branch));
		msgrec_reset(&r);
		mem_deref(old.ftag);
		mem_deref(old.branch);
	} else {
		CHECK(err);
	}
	if (!callrec_decode(&c, data, size)) {
		CHECK(c.state < CS_STATE_MAX);
		if (data[0] == CALLREC_VERSION)
			CHECK(!callrec_encode(&fb, &c) &&
			      same(&fb, data, size));
		callrec_reset(&c);
	}
	if (!outrec_decode(&o, data, size)) {
		CHECK(!o.len ||
		      (o.payload > data && o.payload + o.len <= data + size));
		CHECK(!outrec_encode(&fb, &o) && same(&fb, data, size));
		replay(&o);
	}
	/* (an older version is read, and written as this one) */
	if (!presrec_decode(&p, data, size) && size != 12 &&
	    data[0] == PRESREC_VERSION)
		CHECK(!presrec_encode(&fb, &p) && same(&fb, data, size));
	if (!rxrec_decode(&x, data, size) && size != 16 &&
	    data[0] == RXREC_VERSION)
		CHECK(!rxrec_encode(&fb, &x) && same(&fb, data, size));
	/* whatever decodes is of version 1 (read, written as this one) or
	 * REGREC_VERSION, in a state, with a JID and an AOR */
	if (!regrec_decode(&g, data, size)) {
		CHECK(data[0] == REGREC_VERSION || data[0] == 1);
		CHECK(g.state && g.state < RS_STATE_MAX && g.jid && g.aor);
		if (data[0] == REGREC_VERSION)
			CHECK(!regrec_encode(&fb, &g) && same(&fb, data, size));
		regrec_reset(&g);
	} else {
		CHECK(!g.jid && !g.aor && !g.history && !g.state);
	}
	presence_records(data, size);
	fbuf_reset(&fb);
}


static bool plain(const struct pl *part)
{
	return part->l <= 128 && !memchr(part->p, 0, part->l) &&
	       !(part->l && part->p[0] == 0x01);
}


/* regkey has a builder only: kind (first byte) and value (the rest, up
 * to a NUL) into buffers of several sizes (the second byte picks one
 * more); the key is 0 (empty value, or too long for the buffer or LMDB)
 * or kind + the whole value. */
static void regkeys(const uint8_t *data, size_t size)
{
	uint8_t k[KEY_MAX + 64];
	char *v;
	size_t n, kl;
	const size_t szs[] = {
		0,           1,       2,         64,
		KEY_MAX - 1, KEY_MAX, sizeof(k), size > 1 ? data[1] * 2u : 3};

	if (!size)
		return;
	v = malloc(size);
	CHECK(v);
	memcpy(v, data + 1, size - 1);
	v[size - 1] = 0;
	n = strlen(v);
	for (size_t i = 0; i < sizeof(szs) / sizeof(szs[0]); i++) {
		const size_t sz = szs[i] < sizeof(k) ? szs[i] : sizeof(k);

		memset(k, 0xa5, sizeof(k));
		kl = key_regkey(k, sz, (enum regkey_kind)data[0], v);
		if (!n || 1 + n > sz || 1 + n > KEY_MAX) {
			CHECK(kl == 0);
			continue;
		}
		CHECK(kl == 1 + n && kl <= KEY_MAX && kl <= sz);
		CHECK(k[0] == data[0] && !memcmp(k + 1, v, n));
		CHECK(!memchr(k + 1, 0, n));
		/* nothing written past the key */
		for (size_t j = kl; j < sizeof(k); j++)
			CHECK(k[j] == 0xa5);
	}
	/* no value at all */
	CHECK(!key_regkey(k, sizeof(k), RK_JID, NULL));
	CHECK(!key_regkey(k, sizeof(k), RK_CONTACT, ""));
	free(v);
}


static void keys(const uint8_t *data, size_t size)
{
	uint8_t k[KEY_MAX + 1];
	enum callkey_kind kind;
	enum owner_kind okind;
	struct pl a, b;
	uint64_t when, id;
	uint32_t front;

	if (size >= 8) {
		key_id(k, key_id_parse(data));
		CHECK(!memcmp(k, data, 8));
	}
	if (!key_callkey_parse(data, size, &kind, &a, &b)) {
		CHECK(a.l + b.l + 2 == size && !memchr(a.p, 0, a.l));
		/* rebuilt from C strings when both parts are kept as they
		 * are (keys.c: at most 128 bytes, no NUL, not starting with
		 * the digest mark 0x01; other parts are digested) */
		if (plain(&a) && plain(&b)) {
			char *as = NULL, *bs = NULL;
			CHECK(!pl_strdup(&as, &a) && !pl_strdup(&bs, &b));
			CHECK(key_callkey(k, sizeof(k), kind, as, bs) == size);
			CHECK(!memcmp(k, data, size));
			mem_deref(as);
			mem_deref(bs);
		}
	}
	if (!key_presence_parse(data, size, &a, &b))
		CHECK(a.l + b.l + 1 == size && !memchr(a.p, 0, a.l));
	if (!key_deadline_parse(data, size, &when, &okind, &id)) {
		CHECK(okind < OWN_COUNT);
		key_deadline(k, when, okind, id);
		CHECK(size == KEY_DEADLINE_LEN && !memcmp(k, data, size));
	}
	if (!key_outbox_parse(data, size, &front, &id)) {
		key_outbox(k, front, id);
		CHECK(size == KEY_OUTBOX_LEN && !memcmp(k, data, size));
	}
	regkeys(data, size);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	frames(data, size);
	records(data, size);
	keys(data, size);
	return 0;
}
