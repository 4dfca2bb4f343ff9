/**
 * @file xsasl.c  PLAIN and SCRAM-SHA-1 (xsasl.h). The password is used as
 *                given (no SASLprep: the same bytes the server stored for
 *                an ASCII password).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <re.h>
#include "xsasl.h"

enum { ITER_MAX = 100000, KEY = 20 };


/* base64 of (p, l) into out (size n), NUL-terminated. */
static int b64_out(const void *p, size_t l, char *out, size_t n)
{
	size_t ol = n - 1;

	if (n < 1 || (l + 2) / 3 * 4 > ol)
		return EOVERFLOW;
	if (base64_encode(p, l, out, &ol))
		return EOVERFLOW;
	out[ol] = '\0';
	return 0;
}


/* The text of a base64 input (NUL-terminated into out, size n). */
static int b64_in(const char *in, char *out, size_t n)
{
	size_t il = strlen(in), ol = n - 1;

	if (il / 4 * 3 > ol || base64_decode(in, il, (uint8_t *)out, &ol))
		return EBADMSG;
	out[ol] = '\0';
	return strlen(out) == ol ? 0 : EBADMSG;
}


int xsasl_plain(const char *user, const char *pass, char *out, size_t n)
{
	char raw[XSASL_MAX];
	size_t ul = strlen(user), pl = strlen(pass);
	int err;

	if (ul + pl + 2 > sizeof(raw))
		return EOVERFLOW;
	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, pass, pl);
	err = b64_out(raw, ul + pl + 2, out, n);
	OPENSSL_cleanse(raw, sizeof(raw));
	return err;
}


int xsasl_scram_first(struct xsasl_scram *sc, const char *user,
		      const char *cnonce, char *out, size_t n)
{
	char name[XSASL_MAX / 2], msg[XSASL_MAX];
	size_t j = 0;
	int l;

	memset(sc, 0, sizeof(*sc));
	if (strlen(cnonce) > XSASL_NONCE || strchr(cnonce, ','))
		return EINVAL;
	/* saslname: ',' -> =2C, '=' -> =3D */
	for (const char *c = user; *c; c++) {
		const char *e = *c == ',' ? "=2C" : *c == '=' ? "=3D" : NULL;
		size_t el = e ? 3 : 1;

		if (j + el >= sizeof(name))
			return EOVERFLOW;
		memcpy(name + j, e ? e : c, el);
		j += el;
	}
	name[j] = '\0';
	strcpy(sc->cnonce, cnonce);
	sc->step = 1;
	l = snprintf(sc->first_bare, sizeof(sc->first_bare), "n=%s,r=%s", name,
		     cnonce);
	if (l < 0 || (size_t)l >= sizeof(sc->first_bare))
		return EOVERFLOW;
	l = snprintf(msg, sizeof(msg), "n,,%s", sc->first_bare);
	if (l < 0 || (size_t)l >= sizeof(msg))
		return EOVERFLOW;
	return b64_out(msg, (size_t)l, out, n);
}


/* The value of attribute a ("r", "s", "i") in a SCRAM message: the text
 * after "a=" up to the next ',' (into v, size n). */
static int attr(const char *msg, char a, char *v, size_t n)
{
	for (const char *p = msg; p; p = strchr(p, ',')) {
		size_t l;

		if (*p == ',')
			p++;
		if (p[0] != a || p[1] != '=')
			continue;
		p += 2;
		l = strcspn(p, ",");
		if (l >= n)
			return EBADMSG;
		memcpy(v, p, l);
		v[l] = '\0';
		return 0;
	}
	return EBADMSG;
}


int xsasl_scram_final(struct xsasl_scram *sc, const char *pass, const char *in,
		      char *out, size_t n)
{
	char first[XSASL_MAX], nonce[XSASL_MAX / 2], salt64[XSASL_MAX / 2],
		iter[16], without[XSASL_MAX], final[XSASL_MAX], p64[64];
	uint8_t salt[XSASL_MAX / 2], salted[KEY], ckey[KEY], stored[KEY],
		csig[KEY], proof[KEY];
	size_t sl = sizeof(salt);
	unsigned int ml = KEY;
	char *end;
	long it;
	int l, err = EBADMSG;

	if (sc->step != 1 || b64_in(in, first, sizeof(first)) ||
	    first[0] == 'm' || attr(first, 'r', nonce, sizeof(nonce)) ||
	    attr(first, 's', salt64, sizeof(salt64)) ||
	    attr(first, 'i', iter, sizeof(iter)) ||
	    strncmp(nonce, sc->cnonce, strlen(sc->cnonce)) ||
	    strlen(nonce) == strlen(sc->cnonce) ||
	    base64_decode(salt64, strlen(salt64), salt, &sl) || !sl)
		return EBADMSG;
	it = strtol(iter, &end, 10);
	if (*end || it < 1 || it > ITER_MAX)
		return EBADMSG;
	l = snprintf(without, sizeof(without), "c=biws,r=%s", nonce);
	if (l < 0 || (size_t)l >= sizeof(without))
		return EOVERFLOW;
	l = snprintf(sc->auth_msg, sizeof(sc->auth_msg), "%s,%s,%s",
		     sc->first_bare, first, without);
	if (l < 0 || (size_t)l >= sizeof(sc->auth_msg))
		return EOVERFLOW;
	if (!PKCS5_PBKDF2_HMAC_SHA1(pass, (int)strlen(pass), salt, (int)sl,
				    (int)it, KEY, salted) ||
	    !HMAC(EVP_sha1(), salted, KEY, (const uint8_t *)"Client Key", 10,
		  ckey, &ml) ||
	    !SHA1(ckey, KEY, stored) ||
	    !HMAC(EVP_sha1(), stored, KEY, (const uint8_t *)sc->auth_msg,
		  (size_t)l, csig, &ml) ||
	    !HMAC(EVP_sha1(), salted, KEY, (const uint8_t *)"Server Key", 10,
		  sc->server_key, &ml))
		goto out;
	for (int i = 0; i < KEY; i++)
		proof[i] = ckey[i] ^ csig[i];
	if ((err = b64_out(proof, KEY, p64, sizeof(p64))))
		goto out;
	l = snprintf(final, sizeof(final), "%s,p=%s", without, p64);
	err = l < 0 || (size_t)l >= sizeof(final)
		      ? EOVERFLOW
		      : b64_out(final, (size_t)l, out, n);
	if (!err)
		sc->step = 2;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return err;
}


int xsasl_scram_verify(struct xsasl_scram *sc, const char *in)
{
	char fin[XSASL_MAX], v64[64];
	uint8_t sig[48], want[KEY];
	size_t vl = sizeof(sig);
	unsigned int ml = KEY;

	if (sc->step != 2 || b64_in(in, fin, sizeof(fin)) ||
	    attr(fin, 'v', v64, sizeof(v64)) ||
	    base64_decode(v64, strlen(v64), sig, &vl) || vl != KEY ||
	    !HMAC(EVP_sha1(), sc->server_key, KEY,
		  (const uint8_t *)sc->auth_msg, strlen(sc->auth_msg), want,
		  &ml))
		return EBADMSG;
	if (CRYPTO_memcmp(sig, want, KEY))
		return EBADMSG;
	sc->step = 3;
	return 0;
}
