/* Message codecs (msg.h), every type: round trip, truncation at every byte,
 * trailing fields, wrong field tags, the decoders' semantic checks, names,
 * rebuilding from a stored payload and the size limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include "frame.h"
#include "msg.h"

/* a string literal as a pl, NULs included */
#define PLB(s)                                                                 \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}
#define PL_NONE                                                                \
	{                                                                      \
		NULL, 0                                                        \
	}
#define BIN "\0\x01\xff\r\n\xe2\x98\x83\0"


/* The samples: every field non-trivial, empty and binary strings; fields
 * of one kind in a struct differ, so that a swap is seen. */
static const struct m_hello s_hello = {.proc = 2,
				       .pid = 0xdeadbeef,
				       .boot = 0xfedcba9876543210ULL,
				       .acked = UINT64_MAX};
static const struct m_ping s_ping = {.nonce = 0x8000000000000001ULL};
static const struct m_ack s_ack = {.seq = 0x0102030405060708ULL};
static const struct m_id s_id = {.id = UINT64_MAX - 1};
static const struct m_out_done s_out_done = {
	.out = 0x1122334455667788ULL,
	.scode = 486,
	.reason = PLB("Busy Here \xe2\x98\x83")};
static const struct m_xmpp_link s_xmpp_link = {.up = 0x80000001,
					       .stream = 0xfedcba9876543210ULL};
static const struct m_fd_store s_fd_store = {.nfds = FD_STORE_MAX};
static const struct m_xmpp_in s_xmpp_in = {
	.stream = 0xfedcba9876543210ULL,
	.end = 0x8000000000000002ULL,
	.xml = PLB("<message to='a@b'>" BIN "</message>")};
static const struct m_xmpp_out s_xmpp_out = {.out = 0x100000000ULL,
					     .xml = PLB("")};
static const struct m_client_up s_client_up = {
	.jid = PLB("alice@localhost/desk")};
static const struct m_client_out s_client_out = {
	.out = 0x8000000000000001ULL,
	.jid = PLB("alice@localhost/desk"),
	.xml = PLB("<presence><show>dnd</show></presence>" BIN)};
static const struct m_client_sm s_client_sm = {
	.jid = PLB("alice@localhost/desk"),
	.smid = PLB("a1b2-c3"),
	.h = 0xfffffffeu,
	.k = 7,
	.xml = PLB("<presence><show>dnd</show></presence>" BIN)};
static const struct m_sip_in_request s_sip_in_request = {
	.tx = 0xabcdef0123ULL,
	.src = PLB("udp 127.0.0.1:5060"),
	.raw = PLB("MESSAGE sip:a@b SIP/2.0\r\n\r\n" BIN),
	.deadline_ms = 0x0123456789abcdefULL};
static const struct m_sip_in_response s_sip_in_response = {
	.out = 77,
	.scode = 699,
	.reason = PL_NONE,
	.raw = PLB("SIP/2.0 699 X\r\n\r\n" BIN)};
static const struct m_sip_out_request s_sip_out_request = {
	.out = 0x0102030405060708ULL,
	.flags = SIPF_PAGE | 0x80000000u,
	.method = PLB("MESSAGE"),
	.ruri = PLB("sip:bob@example.org"),
	.dst = PL_NONE,
	.branch = PLB("z9hG4bK776asdhds"),
	.hdrs = PLB("From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"),
	.body = PLB(BIN)};
static const struct m_sip_out_response s_sip_out_response = {
	.out = 0x55,
	.tx = 0x66,
	.src = PLB("tcp [::1]:5061"),
	.raw = PLB("INVITE sip:a@b SIP/2.0\r\n\r\n" BIN),
	.totag = 0xfeedfacecafebeefULL,
	.scode = 100,
	.reason = PLB("Trying"),
	.hdrs = PLB(""),
	.body = PLB(BIN)};
static const struct m_ctl_worker s_ctl_worker = {.name = PLB("sip-front"),
						 .pid = 4242,
						 .ready = 1,
						 .started_ms = 1700000000123ULL,
						 .restarts = 0xfffffffe,
						 .last_exit = PL_NONE};
static const struct m_ctl_restart s_ctl_restart = {.worker = PLB("translator")};
static const struct m_ctl_end s_ctl_end = {.err = ENOENT,
					   .text = PLB("no such\0worker")};


/* With XSGW_TEST_VERBOSE set, name the case a loop is at (to tell which
 * one an assertion failed in). */
static void trace(const char *name, int round)
{
	if (!getenv("XSGW_TEST_VERBOSE"))
		return;
	if (round < 0)
		print_message("%s\n", name);
	else
		print_message("%s round %d\n", name, round);
}


/* the buffer decoded strings must point into */
static const struct fbuf *cur;


static void check_pl(const struct pl *got, const struct pl *want)
{
	assert_int_equal(got->l, want->l);
	if (!want->l)
		return;
	assert_memory_equal(got->p, want->p, want->l);
	assert_true((const uint8_t *)got->p >= cur->b + FRAME_HDR_SIZE);
	assert_true((const uint8_t *)got->p + got->l <= cur->b + cur->len);
}


/* One wrapper per codec: encode sample, decode into a struct and compare. */
typedef int(enc_h)(struct fbuf *fb, uint16_t type, const void *m);
typedef int(dec_h)(struct frame *fr, void *m);
typedef void(cmp_h)(const void *got, const void *want);

#define CODEC(name)                                                            \
	static int enc_##name(struct fbuf *fb, uint16_t type, const void *m)   \
	{                                                                      \
		return msg_enc_##name(fb, m);                                  \
	}                                                                      \
	static int dec_##name(struct frame *fr, void *m)                       \
	{                                                                      \
		return msg_dec_##name(fr, m);                                  \
	}

CODEC(hello)
CODEC(ack)
CODEC(out_done)
CODEC(xmpp_link)
CODEC(fd_store)
CODEC(xmpp_in)
CODEC(xmpp_out)
CODEC(client_up)
CODEC(client_out)
CODEC(sip_in_request)
CODEC(sip_in_response)
CODEC(sip_out_request)
CODEC(sip_out_response)
CODEC(ctl_worker)
CODEC(ctl_restart)
CODEC(ctl_end)

/* the payloads shared by two types: the encoder takes the type */
#define CODEC_T(name)                                                          \
	static int enc_##name(struct fbuf *fb, uint16_t type, const void *m)   \
	{                                                                      \
		return msg_enc_##name(fb, type, m);                            \
	}                                                                      \
	static int dec_##name(struct frame *fr, void *m)                       \
	{                                                                      \
		return msg_dec_##name(fr, m);                                  \
	}

CODEC_T(ping)
CODEC_T(id)
CODEC_T(client_sm)

static int enc_empty(struct fbuf *fb, uint16_t type, const void *m)
{
	return msg_enc_empty(fb, type);
}

static int dec_empty(struct frame *fr, void *m)
{
	return msg_dec_empty(fr);
}


static void cmp_empty(const void *got, const void *want)
{
}

static void cmp_hello(const void *g, const void *w)
{
	const struct m_hello *a = g, *b = w;
	assert_int_equal(a->proc, b->proc);
	assert_int_equal(a->pid, b->pid);
	assert_true(a->boot == b->boot);
	assert_true(a->acked == b->acked);
}

static void cmp_ping(const void *g, const void *w)
{
	const struct m_ping *a = g, *b = w;
	assert_true(a->nonce == b->nonce);
}

static void cmp_ack(const void *g, const void *w)
{
	const struct m_ack *a = g, *b = w;
	assert_true(a->seq == b->seq);
}

static void cmp_id(const void *g, const void *w)
{
	const struct m_id *a = g, *b = w;
	assert_true(a->id == b->id);
}

static void cmp_out_done(const void *g, const void *w)
{
	const struct m_out_done *a = g, *b = w;
	assert_true(a->out == b->out);
	assert_int_equal(a->scode, b->scode);
	check_pl(&a->reason, &b->reason);
}

static void cmp_xmpp_link(const void *g, const void *w)
{
	const struct m_xmpp_link *a = g, *b = w;
	assert_int_equal(a->up, b->up);
	assert_true(a->stream == b->stream);
}

static void cmp_fd_store(const void *g, const void *w)
{
	const struct m_fd_store *a = g, *b = w;
	assert_int_equal(a->nfds, b->nfds);
}

static void cmp_xmpp_in(const void *g, const void *w)
{
	const struct m_xmpp_in *a = g, *b = w;
	assert_true(a->stream == b->stream);
	assert_true(a->end == b->end);
	check_pl(&a->xml, &b->xml);
}

static void cmp_xmpp_out(const void *g, const void *w)
{
	const struct m_xmpp_out *a = g, *b = w;
	assert_true(a->out == b->out);
	check_pl(&a->xml, &b->xml);
}

static void cmp_client_up(const void *g, const void *w)
{
	const struct m_client_up *a = g, *b = w;
	check_pl(&a->jid, &b->jid);
}

static void cmp_client_sm(const void *g, const void *w)
{
	const struct m_client_sm *a = g, *b = w;
	check_pl(&a->jid, &b->jid);
	check_pl(&a->smid, &b->smid);
	assert_true(a->h == b->h && a->k == b->k);
	check_pl(&a->xml, &b->xml);
}

static void cmp_client_out(const void *g, const void *w)
{
	const struct m_client_out *a = g, *b = w;
	assert_true(a->out == b->out);
	check_pl(&a->jid, &b->jid);
	check_pl(&a->xml, &b->xml);
}

static void cmp_sip_in_request(const void *g, const void *w)
{
	const struct m_sip_in_request *a = g, *b = w;
	assert_true(a->tx == b->tx);
	check_pl(&a->src, &b->src);
	check_pl(&a->raw, &b->raw);
	assert_true(a->deadline_ms == b->deadline_ms);
}

static void cmp_sip_in_response(const void *g, const void *w)
{
	const struct m_sip_in_response *a = g, *b = w;
	assert_true(a->out == b->out);
	assert_int_equal(a->scode, b->scode);
	check_pl(&a->reason, &b->reason);
	check_pl(&a->raw, &b->raw);
}

static void cmp_sip_out_request(const void *g, const void *w)
{
	const struct m_sip_out_request *a = g, *b = w;
	assert_true(a->out == b->out);
	assert_int_equal(a->flags, b->flags);
	check_pl(&a->method, &b->method);
	check_pl(&a->ruri, &b->ruri);
	check_pl(&a->dst, &b->dst);
	check_pl(&a->branch, &b->branch);
	check_pl(&a->hdrs, &b->hdrs);
	check_pl(&a->body, &b->body);
}

static void cmp_sip_out_response(const void *g, const void *w)
{
	const struct m_sip_out_response *a = g, *b = w;
	assert_true(a->out == b->out);
	assert_true(a->tx == b->tx);
	check_pl(&a->src, &b->src);
	check_pl(&a->raw, &b->raw);
	assert_true(a->totag == b->totag);
	assert_int_equal(a->scode, b->scode);
	check_pl(&a->reason, &b->reason);
	check_pl(&a->hdrs, &b->hdrs);
	check_pl(&a->body, &b->body);
}

static void cmp_ctl_worker(const void *g, const void *w)
{
	const struct m_ctl_worker *a = g, *b = w;
	check_pl(&a->name, &b->name);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->ready, b->ready);
	assert_true(a->started_ms == b->started_ms);
	assert_int_equal(a->restarts, b->restarts);
	check_pl(&a->last_exit, &b->last_exit);
}

static void cmp_ctl_restart(const void *g, const void *w)
{
	const struct m_ctl_restart *a = g, *b = w;
	check_pl(&a->worker, &b->worker);
}

static void cmp_ctl_end(const void *g, const void *w)
{
	const struct m_ctl_end *a = g, *b = w;
	assert_int_equal(a->err, b->err);
	check_pl(&a->text, &b->text);
}


static const struct mcase {
	uint16_t type;
	const char *name;
	enc_h *enc;
	dec_h *dec;
	cmp_h *cmp;
	const void *sample;
	size_t size;
	ssize_t big; /**< offset of a string field to make big; -1: none */
} cases[] = {
#define C(t, codec, s)                                                         \
	{                                                                      \
		t, #t, enc_##codec, dec_##codec, cmp_##codec, s, sizeof(*s),   \
			-1                                                     \
	}
#define S(t, codec, s, field)                                                  \
	{                                                                      \
		t, #t, enc_##codec, dec_##codec, cmp_##codec, s, sizeof(*s),   \
			offsetof(struct m_##codec, field)                      \
	}
#define E(t)                                                                   \
	{                                                                      \
		t, #t, enc_empty, dec_empty, cmp_empty, NULL, 0, -1            \
	}
	C(MSG_HELLO, hello, &s_hello),
	E(MSG_READY),
	C(MSG_PING, ping, &s_ping),
	C(MSG_PONG, ping, &s_ping),
	E(MSG_SHUTDOWN),
	E(MSG_RELOAD),
	E(MSG_RESTART),
	C(MSG_FD_STORE, fd_store, &s_fd_store),
	C(MSG_ACK, ack, &s_ack),
	C(MSG_CALL_END, id, &s_id),
	S(MSG_OUT_DONE, out_done, &s_out_done, reason),
	C(MSG_XMPP_LINK, xmpp_link, &s_xmpp_link),
	S(MSG_XMPP_IN, xmpp_in, &s_xmpp_in, xml),
	S(MSG_XMPP_OUT, xmpp_out, &s_xmpp_out, xml),
	S(MSG_CLIENT_UP, client_up, &s_client_up, jid),
	S(MSG_CLIENT_OUT, client_out, &s_client_out, xml),
	S(MSG_CLIENT_SM, client_sm, &s_client_sm, xml),
	S(MSG_CLIENT_STATE, client_sm, &s_client_sm, xml),
	S(MSG_SIP_IN_REQUEST, sip_in_request, &s_sip_in_request, raw),
	S(MSG_SIP_IN_RESPONSE, sip_in_response, &s_sip_in_response, raw),
	S(MSG_SIP_OUT_REQUEST, sip_out_request, &s_sip_out_request, body),
	S(MSG_SIP_OUT_RESPONSE, sip_out_response, &s_sip_out_response, body),
	E(MSG_CTL_STATUS),
	S(MSG_CTL_WORKER, ctl_worker, &s_ctl_worker, last_exit),
	S(MSG_CTL_RESTART, ctl_restart, &s_ctl_restart, worker),
	S(MSG_CTL_END, ctl_end, &s_ctl_end, text),
	C(MSG_CTL_CALL_END, id, &s_id),
#undef C
#undef S
#undef E
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* room for any decoded struct */
union any {
	struct m_hello a;
	struct m_ping b;
	struct m_ack c;
	struct m_id d;
	struct m_out_done e;
	struct m_xmpp_link f;
	struct m_xmpp_in g;
	struct m_xmpp_out h;
	struct m_sip_in_request i;
	struct m_sip_in_response j;
	struct m_sip_out_request k;
	struct m_sip_out_response l;
	struct m_ctl_worker m;
	struct m_ctl_restart n;
	struct m_ctl_end o;
	struct m_fd_store p;
	struct m_client_up q;
	struct m_client_out r;
	struct m_client_sm s;
};


static void encode(const struct mcase *c, struct fbuf *fb)
{
	assert_int_equal(c->enc(fb, c->type, c->sample), 0);
	assert_int_equal(fb->err, 0);
	assert_true(fb->len >= FRAME_HDR_SIZE);
}


/* Parse a heap copy of exactly n bytes of b (ASan sees any overread) and
 * decode it with c's decoder. @return frame_parse's error or the decoder's */
static int parse_dec(const struct mcase *c, const uint8_t *b, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct frame fr;
	union any m;
	size_t used;
	int err;

	assert_non_null(copy);
	memcpy(copy, b, n);
	err = frame_parse(copy, n, &fr, &used);
	if (!err) {
		assert_int_equal(used, n);
		assert_int_equal(fr.type, c->type);
		err = c->dec(&fr, &m);
	}
	free(copy);
	return err;
}


static void set_len(uint8_t *h, uint32_t l)
{
	h[4] = l >> 24;
	h[5] = l >> 16;
	h[6] = l >> 8;
	h[7] = l;
}


static void test_roundtrip(void **state)
{
	struct fbuf fb = {0};

	for (size_t i = 0; i < NCASES; i++) {
		const struct mcase *c = &cases[i];
		static const uint8_t zero[8];
		struct frame fr;
		union any m;
		size_t used;

		trace(c->name, -1);
		encode(c, &fb);
		cur = &fb;
		assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
		assert_int_equal(used, fb.len);
		assert_int_equal(fr.ver, FRAME_VERSION);
		assert_int_equal(fr.type, c->type);
		assert_true(fr.seq == 0);
		assert_memory_equal(fb.b + 8, zero, 8);
		memset(&m, 0xa5, sizeof(m)); /* every field must be written */
		assert_int_equal(c->dec(&fr, &m), 0);
		c->cmp(&m, c->sample);
		assert_int_equal(fr.pos, fr.len);
		if (!c->sample)
			assert_int_equal(fr.len, 0);
		else
			assert_true(fr.len > 0);
	}
	fbuf_reset(&fb);
}


/* An empty string is written the same from a NULL pl and from "", and is
 * read back empty. */
static void test_empty_strings(void **state)
{
	struct m_sip_out_response m = s_sip_out_response, d;
	struct fbuf a = {0}, b = {0};
	struct frame fr;
	size_t used;

	m.src = (struct pl)PL_NONE;
	m.reason = (struct pl)PL_NONE;
	m.hdrs = (struct pl)PL_NONE;
	m.body = (struct pl)PL_NONE;
	assert_int_equal(msg_enc_sip_out_response(&a, &m), 0);
	m.src = (struct pl)PLB("");
	m.reason = (struct pl)PLB("");
	m.hdrs = (struct pl)PLB("");
	m.body = (struct pl)PLB("");
	assert_int_equal(msg_enc_sip_out_response(&b, &m), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.b, b.b, a.len);

	cur = &a;
	assert_int_equal(frame_parse(a.b, a.len, &fr, &used), 0);
	memset(&d, 0xa5, sizeof(d));
	assert_int_equal(msg_dec_sip_out_response(&fr, &d), 0);
	cmp_sip_out_response(&d, &m);
	fbuf_reset(&a);
	fbuf_reset(&b);
}


static void test_truncation(void **state)
{
	struct fbuf fb = {0};

	for (size_t i = 0; i < NCASES; i++) {
		const struct mcase *c = &cases[i];
		size_t plen;

		trace(c->name, -1);
		encode(c, &fb);
		plen = fb.len - FRAME_HDR_SIZE;
		/* the stream cut short: more bytes are needed */
		for (size_t n = 0; n < fb.len; n++)
			assert_int_equal(parse_dec(c, fb.b, n), EAGAIN);
		/* the header says fewer bytes: the payload is bad */
		for (uint32_t l = 0; l < plen; l++) {
			uint8_t *t = malloc(FRAME_HDR_SIZE + l);
			assert_non_null(t);
			memcpy(t, fb.b, FRAME_HDR_SIZE + l);
			set_len(t, l);
			assert_int_equal(parse_dec(c, t, FRAME_HDR_SIZE + l),
					 EBADMSG);
			free(t);
		}
		/* and the whole frame is still good */
		assert_int_equal(parse_dec(c, fb.b, fb.len), 0);
	}
	fbuf_reset(&fb);
}


static void test_trailing(void **state)
{
	struct fbuf fb = {0};

	for (size_t i = 0; i < NCASES; i++) {
		const struct mcase *c = &cases[i];

		trace(c->name, -1);
		for (int extra = 0; extra < 7; extra++) {
			static const uint8_t bytes[] = {0, FT_U32, FT_U64,
							FT_STR};
			encode(c, &fb);
			switch (extra) {
			case 0:
				frame_put_u32(&fb, 0);
				break;
			case 1:
				frame_put_u64(&fb, 1);
				break;
			case 2:
				frame_put_str(&fb, "", 0);
				break;
			default:
				frame_put_raw(&fb, &bytes[extra - 3], 1);
				break;
			}
			assert_int_equal(frame_finish(&fb), 0);
			assert_int_equal(parse_dec(c, fb.b, fb.len), EBADMSG);
		}
	}
	fbuf_reset(&fb);
}


/* The offsets of the field tags in a payload (written by frame_put_*). */
static size_t field_tags(const uint8_t *p, size_t len, size_t *off, size_t max)
{
	size_t pos = 0, n = 0;

	while (pos < len) {
		assert_true(n < max);
		off[n++] = pos;
		switch (p[pos]) {
		case FT_U32:
			pos += 5;
			break;
		case FT_U64:
			pos += 9;
			break;
		case FT_STR:
			assert_true(pos + 5 <= len);
			pos += 5 + ((size_t)p[pos + 1] << 24 |
				    (size_t)p[pos + 2] << 16 |
				    (size_t)p[pos + 3] << 8 | p[pos + 4]);
			break;
		default:
			fail_msg("bad tag %u at %zu", p[pos], pos);
		}
	}
	assert_int_equal(pos, len);
	return n;
}


static void test_wrong_tag(void **state)
{
	static const uint8_t tags[] = {0, FT_U32, FT_U64, FT_STR, 4, 0xff};
	struct fbuf fb = {0};
	size_t total = 0;

	for (size_t i = 0; i < NCASES; i++) {
		const struct mcase *c = &cases[i];
		size_t off[16], n;

		trace(c->name, -1);
		encode(c, &fb);
		n = field_tags(msg_payload(&fb), msg_payload_len(&fb), off, 16);
		if (c->sample)
			assert_true(n > 0);
		for (size_t f = 0; f < n; f++) {
			uint8_t *tag = fb.b + FRAME_HDR_SIZE + off[f];
			uint8_t orig = *tag;

			for (size_t t = 0; t < sizeof(tags); t++) {
				if (tags[t] == orig)
					continue;
				*tag = tags[t];
				assert_int_equal(parse_dec(c, fb.b, fb.len),
						 EBADMSG);
				total++;
			}
			*tag = orig;
		}
		assert_int_equal(parse_dec(c, fb.b, fb.len), 0);
	}
	assert_true(total > 100);
	fbuf_reset(&fb);
}


static int dec_frame(struct fbuf *fb, dec_h *dec, void *m)
{
	struct frame fr;
	size_t used;

	assert_int_equal(fb->err, 0);
	assert_int_equal(frame_parse(fb->b, fb->len, &fr, &used), 0);
	return dec(&fr, m);
}


static void test_sip_in_response_scode(void **state)
{
	static const struct {
		uint32_t scode;
		int err;
	} v[] = {{0, EBADMSG},   {1, EBADMSG},   {99, EBADMSG},
		 {100, 0},       {200, 0},       {699, 0},
		 {700, EBADMSG}, {999, EBADMSG}, {UINT32_MAX, EBADMSG}};
	struct m_sip_in_response m = s_sip_in_response, d;
	struct fbuf fb = {0};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		m.scode = v[i].scode;
		assert_int_equal(msg_enc_sip_in_response(&fb, &m), 0);
		assert_int_equal(dec_frame(&fb, dec_sip_in_response, &d),
				 v[i].err);
		if (!v[i].err)
			assert_int_equal(d.scode, v[i].scode);
	}
	/* empty raw is a local failure: fine */
	m.scode = 408;
	m.raw = (struct pl)PL_NONE;
	assert_int_equal(msg_enc_sip_in_response(&fb, &m), 0);
	assert_int_equal(dec_frame(&fb, dec_sip_in_response, &d), 0);
	assert_int_equal(d.raw.l, 0);
	fbuf_reset(&fb);
}


static void test_sip_out_request_checks(void **state)
{
	struct m_sip_out_request m, d;
	struct fbuf fb = {0};

	for (int i = 0; i < 6; i++) {
		int want = i < 3 ? EBADMSG : 0;

		m = s_sip_out_request;
		switch (i) {
		case 0:
			m.method = (struct pl)PL_NONE;
			break;
		case 1:
			m.ruri = (struct pl)PLB("");
			break;
		case 2:
			m.branch = (struct pl)PL_NONE;
			break;
		/* the others may be empty */
		case 3:
			m.dst = (struct pl)PL_NONE;
			break;
		case 4:
			m.hdrs = (struct pl)PL_NONE;
			break;
		case 5:
			m.body = (struct pl)PL_NONE;
			m.flags = 0;
			break;
		}
		assert_int_equal(msg_enc_sip_out_request(&fb, &m), 0);
		assert_int_equal(dec_frame(&fb, dec_sip_out_request, &d), want);
	}
	fbuf_reset(&fb);
}


static void test_sip_out_response_checks(void **state)
{
	static const struct {
		uint32_t scode;
		bool raw;
		int err;
	} v[] = {{0, true, EBADMSG},
		 {99, true, EBADMSG},
		 {100, true, 0},
		 {180, true, 0},
		 {699, true, 0},
		 {700, true, EBADMSG},
		 {UINT32_MAX, true, EBADMSG},
		 {200, false, EBADMSG},
		 {486, false, EBADMSG}};
	struct m_sip_out_response m = s_sip_out_response, d;
	struct fbuf fb = {0};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		m.scode = v[i].scode;
		m.raw = v[i].raw ? s_sip_out_response.raw : (struct pl)PL_NONE;
		assert_int_equal(msg_enc_sip_out_response(&fb, &m), 0);
		assert_int_equal(dec_frame(&fb, dec_sip_out_response, &d),
				 v[i].err);
		if (!v[i].err)
			assert_int_equal(d.scode, v[i].scode);
	}
	fbuf_reset(&fb);
}


static void test_type_names(void **state)
{
	static const uint16_t unknown[] = {
		0x0000, 0x000c, 0x00ff, 0x0100, 0x0108, 0x0200, 0x0205,
		0x0300, 0x0306, 0x0401, 0x1001, 0x8001, 0xffff};
	size_t known = 0;

	for (size_t i = 0; i < NCASES; i++) {
		const char *n = msg_type_name(cases[i].type);
		assert_non_null(n);
		assert_string_equal(n, cases[i].name);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(msg_type_name(unknown[i]));
	/* no type the table above misses */
	for (uint32_t t = 0; t <= 0xffff; t++) {
		bool found = false;
		if (!msg_type_name((uint16_t)t))
			continue;
		known++;
		for (size_t i = 0; i < NCASES; i++)
			found |= cases[i].type == t;
		assert_true(found);
	}
	assert_int_equal(known, NCASES);
}


static void test_rebuild(void **state)
{
	struct fbuf fb = {0}, rb = {0};

	for (size_t i = 0; i < NCASES; i++) {
		const struct mcase *c = &cases[i];
		uint8_t *payload;
		size_t len;

		trace(c->name, -1);
		encode(c, &fb);
		len = msg_payload_len(&fb);
		assert_int_equal(len, fb.len - FRAME_HDR_SIZE);
		assert_ptr_equal(msg_payload(&fb), fb.b + FRAME_HDR_SIZE);
		/* as the outbox keeps it: a copy of the payload alone */
		payload = malloc(len ? len : 1);
		assert_non_null(payload);
		memcpy(payload, msg_payload(&fb), len);
		memset(&rb, 0, sizeof(rb));
		assert_int_equal(msg_rebuild(&rb, c->type, payload, len), 0);
		assert_int_equal(rb.len, fb.len);
		assert_memory_equal(rb.b, fb.b, fb.len);
		free(payload);
		fbuf_reset(&rb);
	}
	fbuf_reset(&fb);
}


static void test_rebuild_too_big(void **state)
{
	struct fbuf fb = {0};
	uint8_t *big = calloc(1, FRAME_MAX + 1);

	assert_non_null(big);
	assert_int_equal(msg_rebuild(&fb, MSG_XMPP_IN, big, FRAME_MAX), 0);
	assert_int_equal(fb.len, FRAME_HDR_SIZE + FRAME_MAX);
	assert_int_equal(msg_rebuild(&fb, MSG_XMPP_IN, big, FRAME_MAX + 1),
			 EMSGSIZE);
	assert_null(fb.b);
	assert_int_equal(fb.len, 0);
	fbuf_reset(&fb);
	free(big);
}


/* Encode case c's sample with its big string field set to len bytes. */
static int enc_big(const struct mcase *c, struct fbuf *fb, const char *big,
		   size_t len)
{
	union any m;

	assert_true(c->size <= sizeof(m));
	memcpy(&m, c->sample, c->size);
	*(struct pl *)((char *)&m + c->big) = (struct pl){big, len};
	return c->enc(fb, c->type, &m);
}


/* Every encoder with a string field: a payload of FRAME_MAX is fine, one
 * byte more is EMSGSIZE (and fb is left empty), as is a string over
 * FRAME_MAX by itself. */
static void test_too_big(void **state)
{
	char *big = calloc(1, 2 * FRAME_MAX);
	struct fbuf fb = {0};
	size_t n = 0;

	assert_non_null(big);
	memset(big, 'x', 2 * FRAME_MAX);
	for (size_t i = 0; i < NCASES; i++) {
		const struct mcase *c = &cases[i];
		size_t fixed;

		if (c->big < 0)
			continue;
		trace(c->name, -1);
		n++;
		/* the payload without the string's bytes */
		assert_int_equal(enc_big(c, &fb, big, 0), 0);
		fixed = msg_payload_len(&fb);

		assert_int_equal(enc_big(c, &fb, big, FRAME_MAX - fixed), 0);
		assert_int_equal(fb.len, FRAME_HDR_SIZE + FRAME_MAX);
		assert_int_equal(parse_dec(c, fb.b, fb.len), 0);

		assert_int_equal(enc_big(c, &fb, big, FRAME_MAX - fixed + 1),
				 EMSGSIZE);
		assert_null(fb.b); /* nothing usable */
		assert_int_equal(fb.len, 0);
		assert_int_equal(enc_big(c, &fb, big, FRAME_MAX + 1), EMSGSIZE);
		assert_null(fb.b);
		assert_int_equal(enc_big(c, &fb, big, 2 * FRAME_MAX), EMSGSIZE);
		assert_null(fb.b);
	}
	assert_int_equal(n, 14);

	/* two strings that fit alone but not together */
	{
		struct m_sip_in_request m = s_sip_in_request;
		m.src = (struct pl){big, FRAME_MAX / 2};
		m.raw = (struct pl){big, FRAME_MAX / 2};
		assert_int_equal(msg_enc_sip_in_request(&fb, &m), EMSGSIZE);
		assert_null(fb.b);
		m.raw.l = FRAME_MAX / 4;
		assert_int_equal(msg_enc_sip_in_request(&fb, &m), 0);
	}
	fbuf_reset(&fb);
	free(big);
}


/* The field tags of case c's payload, as a string. */
static void signature(const struct mcase *c, char *sig, size_t sz)
{
	struct fbuf fb = {0};
	size_t off[16], n;

	encode(c, &fb);
	n = field_tags(msg_payload(&fb), msg_payload_len(&fb), off, 16);
	assert_true(n < sz);
	for (size_t f = 0; f < n; f++)
		sig[f] = (char)('0' + fb.b[FRAME_HDR_SIZE + off[f]]);
	sig[n] = 0;
	fbuf_reset(&fb);
}


/* A frame decoded with another decoder is refused unless both payloads
 * have the same fields (the one-u64 ones: ping, ack, id; the one-u32
 * ones: xmpp_link, fd_store, whose count is range-checked). */
static void test_cross_decode(void **state)
{
	struct fbuf fb = {0};
	size_t refused = 0, same = 0;

	for (size_t i = 0; i < NCASES; i++) {
		char si[17];

		signature(&cases[i], si, sizeof(si));
		encode(&cases[i], &fb);
		for (size_t j = 0; j < NCASES; j++) {
			struct frame fr;
			union any m;
			char sj[17];
			size_t used;
			int err;

			signature(&cases[j], sj, sizeof(sj));
			assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used),
					 0);
			err = cases[j].dec(&fr, &m);
			if (!strcmp(si, sj) && cases[j].type == MSG_FD_STORE &&
			    cases[i].type != MSG_FD_STORE) {
				/* same fields, but nfds is range-checked */
				assert_int_equal(err, EBADMSG);
				refused++;
			} else if (!strcmp(si, sj)) {
				assert_int_equal(err, 0);
				same++;
			} else {
				assert_int_equal(err, EBADMSG);
				refused++;
			}
		}
	}
	/* empty 5x5, one u64 5x5, one string 2x2 (ctl_restart,
	 * client_up), client_sm 2x2 (CLIENT_SM, CLIENT_STATE), the other 13
	 * alone */
	assert_int_equal(NCASES, 5 + 5 + 2 + 2 + 13);
	assert_int_equal(same, 25 + 25 + 4 + 4 + 13);
	assert_int_equal(refused, NCASES * NCASES - same);
	fbuf_reset(&fb);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty_strings),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_wrong_tag),
		cmocka_unit_test(test_sip_in_response_scode),
		cmocka_unit_test(test_sip_out_request_checks),
		cmocka_unit_test(test_sip_out_response_checks),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_rebuild),
		cmocka_unit_test(test_rebuild_too_big),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_cross_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
