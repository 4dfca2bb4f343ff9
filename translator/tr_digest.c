/**
 * @file tr_digest.c  Digest credentials for a challenged request (RFC 3261
 *                    22, RFC 2617 with qop=auth, RFC 8760 SHA-256).
 *
 * libre parses the challenges (httpauth_digest_challenge_decode) and
 * hashes MD5; libre 1.1.0's own sip_auth cannot take a stored HA1 nor
 * SHA-256, so the response is composed here from those pieces, with
 * libcrypto's SHA-256. The nonce is never reused: each challenge is
 * answered once (nc=00000001), so nothing of it needs to outlive a
 * restart.
 */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include <re.h>
#include "translator.h"
#include "util.h"

enum alg { ALG_NONE = 0, ALG_MD5 = 1, ALG_SHA256 = 2 };
enum { HEX_MAX = 65, CHALL_MAX = 8 };

/* hex of the algorithm's hash of the printf'd text */
static int hash_hex(enum alg a, char out[HEX_MAX], const char *fmt, ...)
{
	uint8_t md[32];
	unsigned n = 0;
	char *s = NULL;
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = re_vsdprintf(&s, fmt, ap);
	va_end(ap);
	if (err)
		return err;
	if (a == ALG_MD5) {
		md5((const uint8_t *)s, strlen(s), md);
		n = 16;
	} else if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL)) {
		err = ENOMEM;
	}
	mem_deref(s);
	if (err)
		return err;
	for (unsigned i = 0; i < n; i++)
		(void)re_snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * n] = 0;
	return 0;
}


static enum alg alg_of(const struct pl *a)
{
	if (!pl_isset(a) || !pl_strcasecmp(a, "MD5"))
		return ALG_MD5;
	if (!pl_strcasecmp(a, "SHA-256"))
		return ALG_SHA256;
	return ALG_NONE; /* MD5-sess, SHA-512-256, ...: not offered by us */
}


/* Does a qop list offer "auth"? */
static bool qop_auth(const struct pl *qop)
{
	struct pl q = *qop, tok;

	while (!re_regex(q.p, q.l, "[^ ,\t]+", &tok)) {
		if (!pl_strcasecmp(&tok, "auth"))
			return true;
		pl_advance(&q, tok.p + tok.l - q.p);
	}
	return false;
}


/* A challenge value we copy into a quoted header value: printable ASCII
 * without quote or backslash (RFC 7616 3.4; anything else would break
 * the header or inject another). */
static bool quotable(const struct pl *v)
{
	for (size_t i = 0; i < v->l; i++)
		if (v->p[i] < 0x20 || v->p[i] > 0x7e || v->p[i] == '"' ||
		    v->p[i] == '\\')
			return false;
	return true;
}


struct chall {
	enum sip_hdrid hdr;
	struct httpauth_digest_chall ch;
	enum alg alg;
};

struct pick {
	const struct tr_cred *cred;
	struct chall c[CHALL_MAX];
	unsigned n;
	bool bad;
};


/* Keep the best answerable challenge per (header, realm): SHA-256 over
 * MD5 when the password is known (RFC 8760 2.4); a stored HA1 is MD5. */
static bool chall_handler(const struct sip_hdr *hdr, const struct sip_msg *msg,
			  void *arg)
{
	struct pick *p = arg;
	struct chall c = {.hdr = hdr->id};
	unsigned i;
	(void)msg;

	if (httpauth_digest_challenge_decode(&c.ch, &hdr->val) ||
	    !quotable(&c.ch.realm) || !quotable(&c.ch.nonce) ||
	    !quotable(&c.ch.opaque) || !quotable(&c.ch.algorithm)) {
		p->bad = true;
		return false;
	}
	c.alg = alg_of(&c.ch.algorithm);
	/* qop offered without "auth" (only auth-int): not answerable */
	if (pl_isset(&c.ch.qop) && !qop_auth(&c.ch.qop))
		c.alg = ALG_NONE;
	if (c.alg == ALG_SHA256 && !*p->cred->password)
		c.alg = ALG_NONE;
	if (c.alg == ALG_NONE)
		return false;
	for (i = 0; i < p->n; i++)
		if (p->c[i].hdr == c.hdr &&
		    !pl_cmp(&p->c[i].ch.realm, &c.ch.realm))
			break;
	if (i < p->n) {
		if (c.alg > p->c[i].alg)
			p->c[i] = c;
	} else if (p->n < CHALL_MAX) {
		p->c[p->n++] = c;
	}
	return false;
}


static int answer(struct mbuf *mb, const struct chall *c,
		  const struct tr_cred *cred, const char *method,
		  const char *uri)
{
	const bool qop = pl_isset(&c->ch.qop) && qop_auth(&c->ch.qop);
	char ha1[HEX_MAX], ha2[HEX_MAX], resp[HEX_MAX], cnonce[17];
	int err;

	(void)re_snprintf(cnonce, sizeof(cnonce), "%016llx",
			  (unsigned long long)random_u64());
	if (*cred->password)
		err = hash_hex(c->alg, ha1, "%s:%r:%s", cred->user,
			       &c->ch.realm, cred->password);
	else
		err = re_snprintf(ha1, sizeof(ha1), "%s", cred->ha1) < 0;
	err |= hash_hex(c->alg, ha2, "%s:%s", method, uri);
	if (err)
		return ENOMEM;
	if (qop)
		err = hash_hex(c->alg, resp, "%s:%r:00000001:%s:auth:%s", ha1,
			       &c->ch.nonce, cnonce, ha2);
	else
		err = hash_hex(c->alg, resp, "%s:%r:%s", ha1, &c->ch.nonce,
			       ha2);
	if (err)
		return err;
	err = mbuf_printf(mb,
			  "%s: Digest username=\"%s\", realm=\"%r\", "
			  "nonce=\"%r\", uri=\"%s\", response=\"%s\", "
			  "algorithm=%s",
			  c->hdr == SIP_HDR_PROXY_AUTHENTICATE
				  ? "Proxy-Authorization"
				  : "Authorization",
			  cred->user, &c->ch.realm, &c->ch.nonce, uri, resp,
			  c->alg == ALG_SHA256 ? "SHA-256" : "MD5");
	if (pl_isset(&c->ch.opaque))
		err |= mbuf_printf(mb, ", opaque=\"%r\"", &c->ch.opaque);
	if (qop)
		err |= mbuf_printf(mb, ", qop=auth, nc=00000001, cnonce=\"%s\"",
				   cnonce);
	err |= mbuf_write_str(mb, "\r\n");
	return err;
}


int tr_digest_answer(struct mbuf *mb, const struct sip_msg *resp,
		     const struct tr_cred *cred, const char *method,
		     const char *uri, bool *stale)
{
	struct pick p = {.cred = cred};
	int err = 0;

	*stale = false;
	if (!*cred->password && strlen(cred->ha1) != 32)
		return EAUTH;
	sip_msg_hdr_apply(resp, true, SIP_HDR_WWW_AUTHENTICATE, chall_handler,
			  &p);
	sip_msg_hdr_apply(resp, true, SIP_HDR_PROXY_AUTHENTICATE, chall_handler,
			  &p);
	if (!p.n)
		return p.bad ? EBADMSG : EAUTH;
	*stale = true;
	for (unsigned i = 0; i < p.n && !err; i++) {
		if (!pl_isset(&p.c[i].ch.stale) ||
		    pl_strcasecmp(&p.c[i].ch.stale, "true"))
			*stale = false;
		err = answer(mb, &p.c[i], cred, method, uri);
	}
	return err;
}
