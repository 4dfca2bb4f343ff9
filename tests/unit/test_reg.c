/* SIP accounts for XMPP users (SPEC 6.2), the parts without peers:
 *   regrec     the registration record: round trip of every field,
 *              refusal of truncated records, other versions, bad states
 *              and bytes left over;
 *   regkey     key_regkey: kinds, empty and over-long values;
 *   digest     tr_digest_answer on 401/407 responses decoded by libre:
 *              each response recomputed here independently with
 *              libcrypto from RFC 2617 3.2.2 / RFC 7616 3.4.1 (RFC 2617
 *              3.5's and RFC 7616 3.9.1's examples check that
 *              recomputation), and checked by libre's
 *              httpauth_digest_response_auth;
 *   form       tr_reg_form_parse: the legacy fields, the XEP-0004 form,
 *              normalisation and every refusal.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <re.h>
#include <strophe.h>
#include "frame.h"
#include "keys.h"
#include "regrec.h"
#include "store.h"
#include "translator.h"
#include "xmpp_util.h"

static xmpp_ctx_t *ctx;

/* RFC 2617 3.5 */
#define MUF_USER   "Mufasa"
#define MUF_REALM  "testrealm@host.com"
#define MUF_PASS   "Circle Of Life"
#define MUF_NONCE  "dcd98b7102dd2f0e8b11d0f600bfb0c093"
#define MUF_OPAQUE "5ccc069c403ebaf9f0171e9517f40e41"
#define MUF_URI    "/dir/index.html"
/* MD5("Mufasa:testrealm@host.com:Circle Of Life") */
#define MUF_HA1 "939e7578ed9e3c518a452acee763bce9"

/* A heap copy of exactly n bytes, so that ASan sees any overread. */
static uint8_t *copy(const void *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, b, n);
	return c;
}

/* ---- regrec ---------------------------------------------------------- */

static char *dup(const char *s)
{
	char *d = NULL;

	assert_int_equal(str_dup(&d, s), 0);
	return d;
}


/* Every field set, each to a value of its own. */
static void regrec_full(struct regrec *r)
{
	memset(r, 0, sizeof(*r));
	r->state = RS_REFRESHING;
	r->created = 0x0102030405060708ULL;
	r->updated = 1700000000001ULL;
	r->deadline = 1700000000002ULL;
	r->jid = dup("alice@localhost");
	r->aor = dup("sip:alice@127.0.0.1:5070");
	r->auth_user = dup("alice-auth");
	r->password = dup("s3cret pw");
	r->ha1 = dup(MUF_HA1);
	r->proxy = dup("127.0.0.1:5070;transport=tcp");
	r->display = dup("Alice A.");
	r->expires = 3600;
	r->granted = 1800;
	r->reg_until = 1700000001800ULL;
	r->callid = dup("cid-1@xsgw");
	r->ftag = dup("ftag1");
	r->contact = dup("r-0123abcd");
	r->cseq = 0xfffffffeU;
	r->out = 0xffffffffffffff01ULL;
	r->out_expires = 1800;
	r->authed = 1;
	r->last_code = 401;
	r->last_reason = dup("Unauthorized \xe2\x98\x83");
	r->failures = 7;
	r->iq_kind = RIQ_REMOVE;
	r->iq_id = dup("iq-9");
	r->iq_from = dup("alice@localhost/res");
	r->routes = dup("<sip:p1@127.0.0.1;lr>\n<sip:p2@127.0.0.1;lr>\n");
	r->told = 2;
	r->history = dup("1700000000000 linked\n1700000000001 REGISTER\n");
	r->srtp = RSRTP_MANDATORY;
}


static void encode(struct fbuf *fb, const struct regrec *r)
{
	memset(fb, 0, sizeof(*fb));
	assert_int_equal(regrec_encode(fb, r), 0);
	assert_true(fb->len > 1);
	assert_int_equal(fb->b[0], REGREC_VERSION);
}


static void assert_regrec_empty(const struct regrec *r)
{
	static const struct regrec zero;

	assert_memory_equal(r, &zero, sizeof(zero));
}


static void test_regrec_round_trip(void **state)
{
	struct regrec a, b;
	struct fbuf fb;
	uint8_t *v;

	regrec_full(&a);
	encode(&fb, &a);
	v = copy(fb.b, fb.len);
	assert_int_equal(regrec_decode(&b, v, fb.len), 0);
	free(v);
	assert_int_equal(b.state, a.state);
	assert_true(b.created == a.created && b.updated == a.updated &&
		    b.deadline == a.deadline && b.reg_until == a.reg_until &&
		    b.out == a.out);
	assert_int_equal(b.expires, a.expires);
	assert_int_equal(b.granted, a.granted);
	assert_int_equal(b.cseq, a.cseq);
	assert_int_equal(b.out_expires, a.out_expires);
	assert_int_equal(b.authed, a.authed);
	assert_int_equal(b.last_code, a.last_code);
	assert_int_equal(b.failures, a.failures);
	assert_int_equal(b.iq_kind, a.iq_kind);
	assert_int_equal(b.told, a.told);
	assert_int_equal(b.srtp, RSRTP_MANDATORY);
	assert_string_equal(b.jid, a.jid);
	assert_string_equal(b.aor, a.aor);
	assert_string_equal(b.auth_user, a.auth_user);
	assert_string_equal(b.password, a.password);
	assert_string_equal(b.ha1, a.ha1);
	assert_string_equal(b.proxy, a.proxy);
	assert_string_equal(b.display, a.display);
	assert_string_equal(b.callid, a.callid);
	assert_string_equal(b.ftag, a.ftag);
	assert_string_equal(b.contact, a.contact);
	assert_string_equal(b.last_reason, a.last_reason);
	assert_string_equal(b.iq_id, a.iq_id);
	assert_string_equal(b.iq_from, a.iq_from);
	assert_string_equal(b.routes, a.routes);
	assert_string_equal(b.history, a.history);

	/* encoding what was decoded gives the same bytes */
	{
		struct fbuf fb2;
		encode(&fb2, &b);
		assert_int_equal(fb2.len, fb.len);
		assert_memory_equal(fb2.b, fb.b, fb.len);
		fbuf_reset(&fb2);
	}
	regrec_reset(&b);
	assert_regrec_empty(&b);

	/* unset strings are stored as "" */
	regrec_reset(&a);
	a.state = RS_LINKING;
	a.jid = dup("bob@localhost");
	a.aor = dup("sip:bob@127.0.0.1");
	fbuf_reset(&fb);
	encode(&fb, &a);
	assert_int_equal(regrec_decode(&b, fb.b, fb.len), 0);
	assert_string_equal(b.password, "");
	assert_string_equal(b.history, "");
	assert_int_equal(b.state, RS_LINKING);
	regrec_reset(&b);
	regrec_reset(&a);
	fbuf_reset(&fb);
}


static void test_regrec_truncated(void **state)
{
	struct regrec a, b;
	struct fbuf fb;

	regrec_full(&a);
	encode(&fb, &a);
	for (size_t n = 0; n < fb.len; n++) {
		uint8_t *v = copy(fb.b, n);
		assert_int_equal(regrec_decode(&b, v, n), EBADMSG);
		assert_regrec_empty(&b);
		free(v);
	}
	assert_int_equal(regrec_decode(&b, NULL, 0), EBADMSG);
	regrec_reset(&a);
	fbuf_reset(&fb);
}


static void test_regrec_versions_states_leftover(void **state)
{
	static const uint32_t bad_states[] = {0, RS_STATE_MAX, 0xffffffffU};
	struct regrec a, b;
	struct fbuf fb;
	uint8_t *v;

	regrec_full(&a);
	encode(&fb, &a);
	for (unsigned ver = 0; ver < 256; ver++) {
		if (ver == REGREC_VERSION)
			continue;
		v = copy(fb.b, fb.len);
		v[0] = (uint8_t)ver;
		assert_int_equal(regrec_decode(&b, v, fb.len), EBADMSG);
		assert_regrec_empty(&b);
		free(v);
	}

	/* a byte, then a whole field, after the last field */
	v = malloc(fb.len + 5);
	assert_non_null(v);
	memcpy(v, fb.b, fb.len);
	v[fb.len] = 0;
	assert_int_equal(regrec_decode(&b, v, fb.len + 1), EBADMSG);
	assert_regrec_empty(&b);
	free(v);
	{
		struct fbuf fb2 = {0};
		assert_int_equal(regrec_encode(&fb2, &a), 0);
		frame_put_u32(&fb2, 1);
		assert_int_equal(fb2.err, 0);
		assert_int_equal(regrec_decode(&b, fb2.b, fb2.len), EBADMSG);
		assert_regrec_empty(&b);
		fbuf_reset(&fb2);
	}
	fbuf_reset(&fb);

	/* states outside the enum */
	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]);
	     i++) {
		a.state = bad_states[i];
		encode(&fb, &a);
		assert_int_equal(regrec_decode(&b, fb.b, fb.len), EBADMSG);
		assert_regrec_empty(&b);
		fbuf_reset(&fb);
	}
	for (uint32_t s = RS_LINKING; s < RS_STATE_MAX; s++) {
		a.state = s;
		encode(&fb, &a);
		assert_int_equal(regrec_decode(&b, fb.b, fb.len), 0);
		assert_int_equal(b.state, s);
		assert_non_null(regrec_state_name[s]);
		regrec_reset(&b);
		fbuf_reset(&fb);
	}
	assert_string_equal(regrec_state_name[RS_REGISTERED], "registered");

	/* an SDES policy outside the enum */
	a.state = RS_REGISTERED;
	a.srtp = RSRTP_MANDATORY + 1;
	encode(&fb, &a);
	assert_int_equal(regrec_decode(&b, fb.b, fb.len), EBADMSG);
	assert_regrec_empty(&b);
	fbuf_reset(&fb);

	/* version 1 (before srtp): read with the session's policy; with
	 * version 2's field it has a leftover */
	a.srtp = RSRTP_SESSION;
	encode(&fb, &a);
	fb.b[0] = 1;
	assert_int_equal(regrec_decode(&b, fb.b, fb.len), EBADMSG);
	/* srtp, prev (""), queued, prev_out */
	assert_int_equal(regrec_decode(&b, fb.b, fb.len - 24), 0);
	assert_int_equal(b.srtp, RSRTP_SESSION);
	assert_string_equal(b.history, a.history);
	assert_string_equal(regrec_srtp_name[b.srtp], "session");
	regrec_reset(&b);
	fbuf_reset(&fb);
	regrec_reset(&a);
}


/* The working account kept across a re-set: everything but its history,
 * and not its own prev; a damaged prev is refused. */
static void test_regrec_prev(void **state)
{
	struct regrec a, p;

	regrec_full(&a);
	assert_int_equal(regrec_prev_get(&a, &p), ENOENT);
	assert_int_equal(regrec_prev_keep(&a), 0);
	assert_int_equal(strspn(a.prev, "0123456789abcdef"), strlen(a.prev));
	assert_int_equal(regrec_prev_keep(&a), 0); /* not nested */
	mem_deref(a.password);
	a.password = dup("new-secret");
	assert_int_equal(regrec_prev_get(&a, &p), 0);
	assert_string_equal(p.password, "s3cret pw");
	assert_string_equal(p.aor, a.aor);
	assert_string_equal(p.callid, a.callid);
	assert_int_equal(p.cseq, a.cseq);
	assert_int_equal(p.srtp, RSRTP_MANDATORY);
	assert_string_equal(p.history, "");
	assert_string_equal(p.prev, "");
	regrec_reset(&p);
	a.prev[3] = 'x';
	assert_int_equal(regrec_prev_get(&a, &p), EBADMSG);
	a.prev[3] = 0;
	assert_int_equal(regrec_prev_get(&a, &p), EBADMSG);
	regrec_reset(&p);
	regrec_reset(&a);
}

/* ---- key_regkey ------------------------------------------------------ */

static void test_key_regkey(void **state)
{
	uint8_t k[KEY_MAX + 64];
	char big[KEY_MAX + 2];
	size_t n;

	n = key_regkey(k, sizeof(k), RK_JID, "alice@localhost");
	assert_int_equal(n, 1 + strlen("alice@localhost"));
	assert_int_equal(k[0], 'j');
	assert_memory_equal(k + 1, "alice@localhost", n - 1);
	n = key_regkey(k, sizeof(k), RK_CONTACT, "r-0123");
	assert_int_equal(n, 7);
	assert_int_equal(k[0], 'c');
	assert_memory_equal(k + 1, "r-0123", 6);

	/* the kinds keep the two namespaces apart */
	{
		uint8_t k2[64];
		size_t n2 = key_regkey(k2, sizeof(k2), RK_JID, "r-0123");
		assert_int_equal(n2, n);
		assert_memory_not_equal(k, k2, n);
	}

	assert_int_equal(key_regkey(k, sizeof(k), RK_JID, ""), 0);
	assert_int_equal(key_regkey(k, sizeof(k), RK_JID, NULL), 0);
	/* the caller's buffer */
	assert_int_equal(key_regkey(k, 4, RK_JID, "abcd"), 0);
	assert_int_equal(key_regkey(k, 5, RK_JID, "abcd"), 5);

	/* LMDB's limit: kind + KEY_MAX - 1 bytes, not one more */
	memset(big, 'a', sizeof(big));
	big[KEY_MAX - 1] = 0;
	assert_int_equal(key_regkey(k, sizeof(k), RK_JID, big), KEY_MAX);
	big[KEY_MAX - 1] = 'a';
	big[KEY_MAX] = 0;
	assert_int_equal(key_regkey(k, sizeof(k), RK_JID, big), 0);
	big[KEY_MAX + 1] = 0;
	assert_int_equal(key_regkey(k, sizeof(k), RK_CONTACT, big), 0);
}

/* ---- digest ---------------------------------------------------------- */

/* Lowercase hex of md over the printf'd text (independent of tr_digest). */
static void hexhash(const EVP_MD *md, char out[65], const char *fmt, ...)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char text[1024];
	va_list ap;
	int l;

	va_start(ap, fmt);
	l = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_true(l > 0 && (size_t)l < sizeof(text));
	assert_int_equal(EVP_Digest(text, (size_t)l, d, &n, md, NULL), 1);
	assert_true(n * 2 < 65);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	out[2 * n] = 0;
}


/* RFC 2617 3.2.2.1 / RFC 7616 3.4.1: request-digest; qop NULL: RFC 2069's
 * form. ha1 NULL: from user, realm and password. */
static void expect_response(const EVP_MD *md, char out[65], const char *ha1,
			    const char *user, const char *realm,
			    const char *pass, const char *method,
			    const char *uri, const char *nonce, const char *nc,
			    const char *cnonce, const char *qop)
{
	char h1[65], h2[65];

	if (ha1)
		snprintf(h1, sizeof(h1), "%s", ha1);
	else
		hexhash(md, h1, "%s:%s:%s", user, realm, pass);
	hexhash(md, h2, "%s:%s", method, uri);
	if (qop)
		hexhash(md, out, "%s:%s:%s:%s:%s:%s", h1, nonce, nc, cnonce,
			qop, h2);
	else
		hexhash(md, out, "%s:%s:%s", h1, nonce, h2);
}


/* The recomputation against the RFCs' own examples. */
static void test_digest_rfc_examples(void **state)
{
	char r[65];

	hexhash(EVP_md5(), r, "%s:%s:%s", MUF_USER, MUF_REALM, MUF_PASS);
	assert_string_equal(r, MUF_HA1);
	expect_response(EVP_md5(), r, NULL, MUF_USER, MUF_REALM, MUF_PASS,
			"GET", MUF_URI, MUF_NONCE, "00000001", "0a4f113b",
			"auth");
	assert_string_equal(r, "6629fae49393a05397450978507c4ef1");
	/* RFC 7616 3.9.1 */
	expect_response(EVP_sha256(), r, NULL, "Mufasa",
			"http-auth@example.org", "Circle of Life", "GET",
			MUF_URI, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			"00000001",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth");
	assert_string_equal(r, "753927fa0e85d155564e2e272a28d180"
			       "2ca10daf4496794697cf8db5856cb6c1");
	expect_response(EVP_md5(), r, NULL, "Mufasa", "http-auth@example.org",
			"Circle of Life", "GET", MUF_URI,
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			"00000001",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth");
	assert_string_equal(r, "8ca523f5e9506fed4657c9700eebdbec");
}


/* A response as libre decodes it from the wire. */
static struct sip_msg *response(const char *status, const char *auth_hdrs)
{
	struct sip_msg *msg = NULL;
	struct mbuf *mb = mbuf_alloc(1024);

	assert_non_null(mb);
	assert_int_equal(
		mbuf_printf(
			mb,
			"SIP/2.0 %s\r\n"
			"Via: SIP/2.0/UDP 127.0.0.1:5600;branch=z9hG4bKr1\r\n"
			"From: <sip:alice@127.0.0.1>;tag=f1\r\n"
			"To: <sip:alice@127.0.0.1>;tag=t1\r\n"
			"Call-ID: reg-1@127.0.0.1\r\n"
			"CSeq: 1 REGISTER\r\n"
			"%s"
			"Content-Length: 0\r\n\r\n",
			status, auth_hdrs),
		0);
	mb->pos = 0;
	assert_int_equal(sip_msg_decode(&msg, mb), 0);
	mem_deref(mb);
	return msg;
}


#define MUF_CHALL(hdr, extra)                                                  \
	hdr ": Digest realm=\"" MUF_REALM "\", " extra "nonce=\"" MUF_NONCE    \
	    "\", opaque=\"" MUF_OPAQUE "\"\r\n"

/* What tr_digest_answer wrote: "Name: value" lines. */
struct answer {
	char text[4096];
	char *line[8];
	unsigned n;
};


static int answer_of(struct answer *a, const char *status, const char *chall,
		     const struct tr_cred *cred, const char *method,
		     const char *uri, bool *stale)
{
	struct sip_msg *msg = response(status, chall);
	struct mbuf *mb = mbuf_alloc(512);
	char *p, *save = NULL;
	int err;

	assert_non_null(mb);
	memset(a, 0, sizeof(*a));
	*stale = !*stale; /* set whatever the outcome */
	err = tr_digest_answer(mb, msg, cred, method, uri, stale);
	assert_true(mb->end < sizeof(a->text));
	memcpy(a->text, mb->buf, mb->end);
	a->text[mb->end] = 0;
	if (!err) {
		assert_true(mb->end > 2);
		assert_memory_equal(a->text + mb->end - 2, "\r\n", 2);
	}
	for (p = strtok_r(a->text, "\r\n", &save); p && a->n < 8;
	     p = strtok_r(NULL, "\r\n", &save))
		a->line[a->n++] = p;
	mem_deref(mb);
	mem_deref(msg);
	return err;
}


/* The value of line i, whose header must be name. */
static struct pl value_of(const struct answer *a, unsigned i, const char *name)
{
	const size_t nl = strlen(name);
	struct pl v;

	assert_true(i < a->n);
	assert_memory_equal(a->line[i], name, nl);
	assert_memory_equal(a->line[i] + nl, ": ", 2);
	pl_set_str(&v, a->line[i] + nl + 2);
	return v;
}


/* A parameter of a credentials value ("" if absent), without quotes:
 * " name=" or ",name=" up to the next comma. */
static void param(const struct pl *v, const char *name, char *out, size_t sz)
{
	char line[4096], *p = line, *e;
	const size_t nl = strlen(name);

	assert_true(v->l < sizeof(line));
	pl_strcpy(v, line, sizeof(line));
	out[0] = 0;
	for (; (p = strstr(p, name)); p += nl)
		if (p > line && (p[-1] == ' ' || p[-1] == ',') && p[nl] == '=')
			break;
	if (!p)
		return;
	p += nl + 1;
	e = p + strcspn(p, ",");
	if (e - p >= 2 && *p == '"' && e[-1] == '"') {
		p++;
		e--;
	}
	assert_true((size_t)(e - p) < sz);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = 0;
}


static void assert_pl_str(const struct pl *p, const char *s)
{
	assert_int_equal(p->l, strlen(s));
	assert_memory_equal(p->p, s, p->l);
}


static void hex_to_bin(uint8_t *b, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
}


/* Parse the header, recompute the response, let libre check it (MD5). */
static void check_answer(const struct pl *v, const EVP_MD *md,
			 const struct tr_cred *cred, const char *realm,
			 const char *pass, const char *method, const char *uri,
			 const char *nonce, bool qop)
{
	struct httpauth_digest_resp resp;
	char exp[65], alg[32], cnonce[128], nc[16];
	struct pl meth;

	assert_true(v->l > 7 && !memcmp(v->p, "Digest ", 7));
	assert_int_equal(httpauth_digest_response_decode(&resp, v), 0);
	assert_pl_str(&resp.username, cred->user);
	assert_pl_str(&resp.realm, realm);
	assert_pl_str(&resp.nonce, nonce);
	assert_pl_str(&resp.uri, uri);
	param(v, "algorithm", alg, sizeof(alg));
	assert_string_equal(alg, md == EVP_md5() ? "MD5" : "SHA-256");
	param(v, "cnonce", cnonce, sizeof(cnonce));
	param(v, "nc", nc, sizeof(nc));
	if (qop) {
		assert_pl_str(&resp.qop, "auth");
		assert_pl_str(&resp.nc, "00000001");
		assert_string_equal(nc, "00000001");
		assert_pl_str(&resp.cnonce, cnonce);
		assert_true(strlen(cnonce) >= 8);
	} else {
		assert_false(pl_isset(&resp.qop));
		assert_string_equal(cnonce, "");
		assert_string_equal(nc, "");
	}
	expect_response(md, exp, *cred->password ? NULL : cred->ha1, cred->user,
			realm, pass, method, uri, nonce,
			qop ? "00000001" : NULL, qop ? cnonce : NULL,
			qop ? "auth" : NULL);
	assert_pl_str(&resp.response, exp);

	if (md == EVP_md5()) {
		uint8_t ha1[16];
		char h[65];
		hexhash(EVP_md5(), h, "%s:%s:%s", cred->user, realm, pass);
		hex_to_bin(ha1, h, 16);
		pl_set_str(&meth, method);
		assert_int_equal(
			httpauth_digest_response_auth(&resp, &meth, ha1), 0);
		ha1[0] ^= 1;
		assert_int_equal(
			httpauth_digest_response_auth(&resp, &meth, ha1),
			EAUTH);
	}
}


/* (a) one MD5 challenge, qop="auth,auth-int", opaque: RFC 2617 3.5 */
static void test_digest_md5_qop_opaque(void **state)
{
	const struct tr_cred pw = {MUF_USER, MUF_PASS, ""};
	const struct tr_cred h1 = {MUF_USER, "", MUF_HA1};
	const struct tr_cred *creds[] = {&pw, &h1};
	struct answer a;
	char opaque[64], c1[64] = "";
	bool stale = false;

	for (unsigned i = 0; i < 2; i++) {
		struct pl v;
		assert_int_equal(answer_of(&a, "401 Unauthorized",
					   MUF_CHALL("WWW-Authenticate",
						     "qop=\"auth,auth-int\", "),
					   creds[i], "GET", MUF_URI, &stale),
				 0);
		assert_false(stale);
		assert_int_equal(a.n, 1);
		v = value_of(&a, 0, "Authorization");
		check_answer(&v, EVP_md5(), creds[i], MUF_REALM, MUF_PASS,
			     "GET", MUF_URI, MUF_NONCE, true);
		param(&v, "opaque", opaque, sizeof(opaque));
		assert_string_equal(opaque, MUF_OPAQUE);
		/* a fresh cnonce each time */
		if (i) {
			char c2[64];
			param(&v, "cnonce", c2, sizeof(c2));
			assert_string_not_equal(c1, c2);
		} else {
			param(&v, "cnonce", c1, sizeof(c1));
		}
	}

	/* a REGISTER, as tr_reg asks */
	assert_int_equal(answer_of(&a, "401 Unauthorized",
				   MUF_CHALL("WWW-Authenticate",
					     "qop=\"auth-int,auth\", "),
				   &pw, "REGISTER", "sip:127.0.0.1", &stale),
			 0);
	{
		struct pl v = value_of(&a, 0, "Authorization");
		check_answer(&v, EVP_md5(), &pw, MUF_REALM, MUF_PASS,
			     "REGISTER", "sip:127.0.0.1", MUF_NONCE, true);
	}
}


/* (b) no qop: RFC 2069's response, no cnonce nor nc */
static void test_digest_md5_no_qop(void **state)
{
	const struct tr_cred pw = {MUF_USER, MUF_PASS, ""};
	const struct tr_cred h1 = {MUF_USER, "", MUF_HA1};
	struct answer a;
	bool stale = true;
	struct pl v;

	assert_int_equal(
		answer_of(&a, "401 Unauthorized",
			  MUF_CHALL("WWW-Authenticate", "algorithm=MD5, "), &pw,
			  "REGISTER", "sip:127.0.0.1", &stale),
		0);
	assert_false(stale);
	assert_int_equal(a.n, 1);
	v = value_of(&a, 0, "Authorization");
	check_answer(&v, EVP_md5(), &pw, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, false);
	assert_null(strstr(a.line[0], "qop"));

	assert_int_equal(answer_of(&a, "401 Unauthorized",
				   MUF_CHALL("WWW-Authenticate", ""), &h1,
				   "REGISTER", "sip:127.0.0.1", &stale),
			 0);
	v = value_of(&a, 0, "Authorization");
	check_answer(&v, EVP_md5(), &h1, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, false);
}


/* (c) SHA-256 and MD5 in one realm: SHA-256 with the password, MD5 with
 * only the HA1 (RFC 8760 2.4), whichever comes first */
static void test_digest_sha256_over_md5(void **state)
{
	static const char *const both[] = {
		MUF_CHALL("WWW-Authenticate",
			  "algorithm=SHA-256, qop=\"auth\", ")
			MUF_CHALL("WWW-Authenticate",
				  "algorithm=MD5, qop=\"auth\", "),
		MUF_CHALL("WWW-Authenticate", "algorithm=MD5, qop=\"auth\", ")
			MUF_CHALL("WWW-Authenticate",
				  "algorithm=SHA-256, qop=\"auth\", "),
		MUF_CHALL("WWW-Authenticate", "qop=\"auth\", ")
			MUF_CHALL("WWW-Authenticate",
				  "algorithm=sha-256, qop=\"auth\", "),
	};
	const struct tr_cred pw = {MUF_USER, MUF_PASS, ""};
	const struct tr_cred h1 = {MUF_USER, "", MUF_HA1};
	struct answer a;
	bool stale = false;
	struct pl v;

	for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
		assert_int_equal(answer_of(&a, "401 Unauthorized", both[i], &pw,
					   "REGISTER", "sip:127.0.0.1", &stale),
				 0);
		assert_int_equal(a.n, 1);
		v = value_of(&a, 0, "Authorization");
		check_answer(&v, EVP_sha256(), &pw, MUF_REALM, MUF_PASS,
			     "REGISTER", "sip:127.0.0.1", MUF_NONCE, true);

		assert_int_equal(answer_of(&a, "401 Unauthorized", both[i], &h1,
					   "REGISTER", "sip:127.0.0.1", &stale),
				 0);
		assert_int_equal(a.n, 1);
		v = value_of(&a, 0, "Authorization");
		check_answer(&v, EVP_md5(), &h1, MUF_REALM, MUF_PASS,
			     "REGISTER", "sip:127.0.0.1", MUF_NONCE, true);
	}

	/* two realms: one answer each */
	assert_int_equal(
		answer_of(&a, "401 Unauthorized",
			  MUF_CHALL("WWW-Authenticate",
				    "algorithm=SHA-256, ") "WWW-Authenticate: "
							   "Digest "
							   "realm=\"other\", "
							   "nonce=\"n2\"\r\n",
			  &pw, "REGISTER", "sip:127.0.0.1", &stale),
		0);
	assert_int_equal(a.n, 2);
	v = value_of(&a, 0, "Authorization");
	check_answer(&v, EVP_sha256(), &pw, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, false);
	v = value_of(&a, 1, "Authorization");
	check_answer(&v, EVP_md5(), &pw, "other", MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", "n2", false);
}


/* (d) a proxy's challenge: Proxy-Authorization */
static void test_digest_proxy_407(void **state)
{
	const struct tr_cred pw = {MUF_USER, MUF_PASS, ""};
	struct answer a;
	bool stale = false;
	struct pl v;

	assert_int_equal(
		answer_of(&a, "407 Proxy Authentication Required",
			  MUF_CHALL("Proxy-Authenticate", "qop=\"auth\", "),
			  &pw, "REGISTER", "sip:127.0.0.1", &stale),
		0);
	assert_int_equal(a.n, 1);
	v = value_of(&a, 0, "Proxy-Authorization");
	check_answer(&v, EVP_md5(), &pw, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, true);

	/* a registrar's and a proxy's challenge in one response */
	assert_int_equal(
		answer_of(&a, "407 Proxy Authentication Required",
			  MUF_CHALL("Proxy-Authenticate", "qop=\"auth\", ")
				  MUF_CHALL("WWW-Authenticate",
					    "algorithm=SHA-256, "),
			  &pw, "REGISTER", "sip:127.0.0.1", &stale),
		0);
	assert_int_equal(a.n, 2);
	v = value_of(&a, 0, "Authorization");
	check_answer(&v, EVP_sha256(), &pw, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, false);
	v = value_of(&a, 1, "Proxy-Authorization");
	check_answer(&v, EVP_md5(), &pw, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, true);
}


/* (e) nothing we can answer */
static void test_digest_unanswerable(void **state)
{
	const struct tr_cred pw = {MUF_USER, MUF_PASS, ""};
	const struct tr_cred h1 = {MUF_USER, "", MUF_HA1};
	const struct tr_cred none = {MUF_USER, "", ""};
	const struct tr_cred short_h1 = {MUF_USER, "", "939e7578"};
	struct answer a;
	bool stale = false;

	assert_int_equal(
		answer_of(&a, "401 Unauthorized",
			  MUF_CHALL("WWW-Authenticate", "algorithm=MD5-sess, "),
			  &pw, "REGISTER", "sip:127.0.0.1", &stale),
		EAUTH);
	assert_int_equal(a.n, 0);
	assert_false(stale);
	assert_int_equal(
		answer_of(
			&a, "401 Unauthorized",
			MUF_CHALL("WWW-Authenticate", "algorithm=SHA-512-256, ")
				MUF_CHALL("WWW-Authenticate",
					  "algorithm=\"AKAv1-MD5\", "),
			&pw, "REGISTER", "sip:127.0.0.1", &stale),
		EAUTH);
	assert_int_equal(a.n, 0);
	/* SHA-256 cannot use an MD5 HA1 */
	assert_int_equal(
		answer_of(&a, "401 Unauthorized",
			  MUF_CHALL("WWW-Authenticate", "algorithm=SHA-256, "),
			  &h1, "REGISTER", "sip:127.0.0.1", &stale),
		EAUTH);
	/* no challenge at all; no credentials */
	assert_int_equal(answer_of(&a, "401 Unauthorized", "", &pw, "REGISTER",
				   "sip:127.0.0.1", &stale),
			 EAUTH);
	assert_int_equal(answer_of(&a, "401 Unauthorized",
				   MUF_CHALL("WWW-Authenticate", ""), &none,
				   "REGISTER", "sip:127.0.0.1", &stale),
			 EAUTH);
	assert_int_equal(answer_of(&a, "401 Unauthorized",
				   MUF_CHALL("WWW-Authenticate", ""), &short_h1,
				   "REGISTER", "sip:127.0.0.1", &stale),
			 EAUTH);
	assert_int_equal(a.n, 0);
}


/* (f) stale=true: set only when every challenge answered says so */
static void test_digest_stale(void **state)
{
	const struct tr_cred pw = {MUF_USER, MUF_PASS, ""};
	struct answer a;
	bool stale = false;
	struct pl v;

	assert_int_equal(answer_of(&a, "401 Unauthorized",
				   MUF_CHALL("WWW-Authenticate",
					     "stale=true, qop=\"auth\", "),
				   &pw, "REGISTER", "sip:127.0.0.1", &stale),
			 0);
	assert_true(stale);
	v = value_of(&a, 0, "Authorization");
	check_answer(&v, EVP_md5(), &pw, MUF_REALM, MUF_PASS, "REGISTER",
		     "sip:127.0.0.1", MUF_NONCE, true);
	assert_int_equal(
		answer_of(&a, "401 Unauthorized",
			  MUF_CHALL("WWW-Authenticate", "stale=TRUE, "), &pw,
			  "REGISTER", "sip:127.0.0.1", &stale),
		0);
	assert_true(stale);
	assert_int_equal(
		answer_of(&a, "401 Unauthorized",
			  MUF_CHALL("WWW-Authenticate", "stale=false, "), &pw,
			  "REGISTER", "sip:127.0.0.1", &stale),
		0);
	assert_false(stale);
	assert_int_equal(answer_of(&a, "407 Proxy Authentication Required",
				   MUF_CHALL("WWW-Authenticate", "stale=true, ")
					   MUF_CHALL("Proxy-Authenticate", ""),
				   &pw, "REGISTER", "sip:127.0.0.1", &stale),
			 0);
	assert_false(stale);
	assert_int_equal(a.n, 2);
}

/* ---- the form -------------------------------------------------------- */

static xmpp_stanza_t *stanza(const char *xml)
{
	xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);

	assert_non_null(st);
	return st;
}


static int parse(const char *xml, struct reg_form *f, char *why, size_t wsz)
{
	xmpp_stanza_t *q = stanza(xml);
	int err;

	why[0] = 0;
	err = tr_reg_form_parse(q, f, why, wsz);
	xmpp_stanza_release(q);
	return err;
}

#define Q_OPEN "<query xmlns='" NS_REGISTER "'>"
#define LEGACY(user, pass)                                                     \
	Q_OPEN "<username>" user "</username><password>" pass                  \
	       "</password></query>"
#define X_OPEN                                                                 \
	Q_OPEN "<x xmlns='" NS_XDATA "' type='submit'>"                        \
	       "<field var='FORM_TYPE' type='hidden'><value>" NS_REGISTER      \
	       "</value></field>"
#define FIELD(var, val) "<field var='" var "'><value>" val "</value></field>"
#define X_CLOSE         "</x></query>"


static void test_form_legacy(void **state)
{
	struct reg_form f;
	char why[160];

	assert_int_equal(parse(LEGACY("alice@127.0.0.1", "pw &amp; more"), &f,
			       why, sizeof(why)),
			 0);
	assert_string_equal(f.aor, "sip:alice@127.0.0.1");
	assert_string_equal(f.password, "pw & more");
	assert_string_equal(f.ha1, "");
	assert_string_equal(f.auth_user, "");
	assert_string_equal(f.proxy, "");
	assert_string_equal(f.display, "");
	assert_int_equal(f.expires, 3600);
	reg_form_reset(&f);
	assert_null(f.aor);

	assert_int_equal(parse(LEGACY("sip:bob@example.org:5070", "x"), &f, why,
			       sizeof(why)),
			 0);
	assert_string_equal(f.aor, "sip:bob@example.org:5070");
	reg_form_reset(&f);
	assert_int_equal(
		parse(LEGACY("SIP:bob@example.org", "x"), &f, why, sizeof(why)),
		0);
	assert_int_equal(strncasecmp(f.aor, "sip:bob@example.org", 19), 0);
	reg_form_reset(&f);

	/* a form that is not a submission is not read */
	assert_int_equal(parse(Q_OPEN
			       "<username>carol@127.0.0.1</username>"
			       "<password>p</password>"
			       "<x xmlns='" NS_XDATA "' type='form'>" FIELD(
				       "username", "dave@127.0.0.1") X_CLOSE,
			       &f, why, sizeof(why)),
			 0);
	assert_string_equal(f.aor, "sip:carol@127.0.0.1");
	reg_form_reset(&f);
}


static void test_form_xdata_every_field(void **state)
{
	struct reg_form f;
	char why[160];

	assert_int_equal(
		parse(X_OPEN FIELD("username", "sip:alice@example.org")
			      FIELD("password", "Circle Of Life") FIELD("ha1",
									MUF_HA1)
				      FIELD("auth_user", "alice-auth") FIELD(
					      "proxy", "127.0.0.1:5070;"
						       "transport=tcp")
					      FIELD("display_name", "Alice A. "
								    "Liddell")
						      FIELD("expires", "604800")
							      X_CLOSE,
		      &f, why, sizeof(why)),
		0);
	assert_string_equal(why, "");
	assert_string_equal(f.aor, "sip:alice@example.org");
	assert_string_equal(f.password, "Circle Of Life");
	assert_string_equal(f.ha1, MUF_HA1);
	assert_string_equal(f.auth_user, "alice-auth");
	assert_string_equal(f.proxy, "127.0.0.1:5070;transport=tcp");
	assert_string_equal(f.display, "Alice A. Liddell");
	assert_int_equal(f.expires, 604800);
	reg_form_reset(&f);

	/* user@host, an HA1 alone, a proxy without port nor transport */
	assert_int_equal(
		parse(X_OPEN FIELD("username", "bob@127.0.0.1")
			      FIELD("ha1", MUF_HA1) FIELD("proxy", "127.0.0.1")
				      FIELD("expires", "1") X_CLOSE,
		      &f, why, sizeof(why)),
		0);
	assert_string_equal(f.aor, "sip:bob@127.0.0.1");
	assert_string_equal(f.password, "");
	assert_string_equal(f.ha1, MUF_HA1);
	assert_string_equal(f.proxy, "127.0.0.1:5060;transport=udp");
	assert_int_equal(f.expires, 1);
	reg_form_reset(&f);

	/* a proxy named by DNS: without a port the sip-front asks SRV */
	static const struct {
		const char *in, *out;
	} named[] = {
		{"sip.example.org", "sip.example.org;transport=udp"},
		{"Sip.Example.org:5070;transport=tcp",
		 "Sip.Example.org:5070;transport=tcp"},
		{"localhost", "localhost;transport=udp"},
		{"[::1]:5062", "[::1]:5062;transport=udp"},
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		char xml[512];

		snprintf(xml, sizeof(xml),
			 X_OPEN FIELD("username", "bob@example.org")
				 FIELD("password", "p") FIELD("proxy", "%s")
					 X_CLOSE,
			 named[i].in);
		assert_int_equal(parse(xml, &f, why, sizeof(why)), 0);
		assert_string_equal(f.proxy, named[i].out);
		reg_form_reset(&f);
	}

	assert_int_equal(parse(X_OPEN FIELD("username", "bob@127.0.0.1") FIELD(
				       "password", "p")
				       FIELD("proxy", "127.0.0.1:5070") X_CLOSE,
			       &f, why, sizeof(why)),
			 0);
	assert_string_equal(f.proxy, "127.0.0.1:5070;transport=udp");
	assert_int_equal(f.expires, 3600);
	reg_form_reset(&f);
}


/* Each refused with EINVAL and a reason; nothing left allocated. */
static void expect_refused(const char *xml, const char *why_part)
{
	struct reg_form f;
	char why[160];

	assert_int_equal(parse(xml, &f, why, sizeof(why)), EINVAL);
	if (!strstr(why, why_part))
		fail_msg("%s: why '%s' lacks '%s'", xml, why, why_part);
	assert_null(f.aor);
	assert_null(f.password);
	assert_null(f.proxy);
}


static void test_form_refused(void **state)
{
	static const struct {
		const char *xml, *why;
	} cases[] = {
		{LEGACY("", "pw"), "username"},
		{Q_OPEN "<password>pw</password></query>", "username"},
		{LEGACY("sips:alice@127.0.0.1", "pw"), "sips"},
		{LEGACY("SIPS:alice@127.0.0.1", "pw"), "sips"},
		{LEGACY("sip:alice@127.0.0.1;transport=tcp", "pw"),
		 "SIP address"},
		{LEGACY("alice@127.0.0.1;lr", "pw"), "SIP address"},
		{LEGACY("sip:alice@127.0.0.1?subject=x", "pw"), "SIP address"},
		{LEGACY("sip:alice:secret@127.0.0.1", "pw"), "SIP address"},
		{LEGACY("sip:ali ce@127.0.0.1", "pw"), "SIP address"},
		{LEGACY("sip:alice@127.0 .0.1", "pw"), "SIP address"},
		{LEGACY(" sip:alice@127.0.0.1", "pw"), "SIP address"},
		{LEGACY("alice", "pw"), "SIP address"},
		{LEGACY("sip:127.0.0.1", "pw"), "SIP address"},
		{LEGACY("alice@127.0.0.1", ""), "password or an ha1"},
		{Q_OPEN "<username>alice@127.0.0.1</username></query>",
		 "password or an ha1"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD(
			 "ha1", "939e7578ed9e3c518a452acee763bce") X_CLOSE,
		 "ha1"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD(
			 "ha1", "939e7578ed9e3c518a452acee763bce9a") X_CLOSE,
		 "ha1"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD(
			 "ha1", "939e7578ed9e3c518a452acee763bcez") X_CLOSE,
		 "ha1"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("expires", "0") X_CLOSE,
		 "expires"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("expires", "-1") X_CLOSE,
		 "expires"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("expires", "abc") X_CLOSE,
		 "expires"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("expires", "60s") X_CLOSE,
		 "expires"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("expires", "604801") X_CLOSE,
		 "expires"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("expires", "18446744073709551617") X_CLOSE,
		 "expires"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "exa_mple.org") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "-example.org:5060") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "example..org") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "example.org:0") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "example.org:5060:1") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "127.0.0.1:5061;transport=tls") X_CLOSE,
		 "tls"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "127.0.0.1;transport=udp;lr") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("proxy", "127.0.0.1;lr") X_CLOSE,
		 "DNS name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("display_name", "Al \"the\" ice") X_CLOSE,
		 "display_name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("display_name", "Al\\") X_CLOSE,
		 "display_name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("display_name", "Al&#10;Via: x") X_CLOSE,
		 "display_name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("display_name", "Al&#9;ice") X_CLOSE,
		 "display_name"},
		{X_OPEN FIELD("username", "a@127.0.0.1") FIELD("password", "p")
			 FIELD("auth_user", "a\"b") X_CLOSE,
		 "auth_user"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(cases[i].xml, cases[i].why);
}


/* 300-character values, in each field */
static void test_form_oversize(void **state)
{
	static const char *const fields[] = {"username", "password",
					     "ha1",      "auth_user",
					     "proxy",    "display_name"};
	char big[301], xml[2048];

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		memset(big, i == 4 ? '1' : 'a', 300);
		big[300] = 0;
		if (i == 0)
			memcpy(big + 280, "@127.0.0.1", 10);
		snprintf(xml, sizeof(xml),
			 X_OPEN "%s%s" FIELD("%s", "%s") X_CLOSE,
			 i == 0 ? "" : FIELD("username", "a@127.0.0.1"),
			 i == 1 ? "" : FIELD("password", "p"), fields[i], big);
		expect_refused(xml, "");
	}
	/* what fits is taken */
	{
		struct reg_form f;
		char why[160];
		memset(big, 'a', 256);
		big[256] = 0;
		snprintf(xml, sizeof(xml),
			 X_OPEN FIELD("username", "a@127.0.0.1")
				 FIELD("password", "%s")
					 FIELD("display_name", "%s") X_CLOSE,
			 big, big);
		assert_int_equal(parse(xml, &f, why, sizeof(why)), 0);
		assert_int_equal(strlen(f.password), 256);
		assert_int_equal(strlen(f.display), 256);
		reg_form_reset(&f);
	}
}


static int group_setup(void **state)
{
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	return ctx ? libre_init() : -1;
}


static int group_teardown(void **state)
{
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	libre_close();
	return 0;
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regrec_round_trip),
		cmocka_unit_test(test_regrec_truncated),
		cmocka_unit_test(test_regrec_versions_states_leftover),
		cmocka_unit_test(test_regrec_prev),
		cmocka_unit_test(test_key_regkey),
		cmocka_unit_test(test_digest_rfc_examples),
		cmocka_unit_test(test_digest_md5_qop_opaque),
		cmocka_unit_test(test_digest_md5_no_qop),
		cmocka_unit_test(test_digest_sha256_over_md5),
		cmocka_unit_test(test_digest_proxy_407),
		cmocka_unit_test(test_digest_unanswerable),
		cmocka_unit_test(test_digest_stale),
		cmocka_unit_test(test_form_legacy),
		cmocka_unit_test(test_form_xdata_every_field),
		cmocka_unit_test(test_form_refused),
		cmocka_unit_test(test_form_oversize),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
