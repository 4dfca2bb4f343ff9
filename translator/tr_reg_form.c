/**
 * @file tr_reg_form.c  A SIP account as a user submits it by XEP-0077: the
 *                      legacy <username/>/<password/> or the XEP-0004
 *                      form of SPEC 6.2, read and checked here, so that
 *                      only values a SIP header can carry reach tr_reg.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "translator.h"
#include "xmpp_util.h"

enum { FIELD_MAX = 256 };


void reg_form_reset(struct reg_form *f)
{
	mem_deref(f->aor);
	mem_deref(f->password);
	mem_deref(f->ha1);
	mem_deref(f->auth_user);
	mem_deref(f->proxy);
	mem_deref(f->display);
	memset(f, 0, sizeof(*f));
}


/* Text of a child element (a libre string, "" if absent). */
static char *child_text(xmpp_ctx_t *ctx, xmpp_stanza_t *st, const char *name)
{
	xmpp_stanza_t *c = st ? xmpp_stanza_get_child_by_name(st, name) : NULL;
	char *t = c ? xmpp_stanza_get_text(c) : NULL;
	char *s = NULL;

	(void)str_dup(&s, t ? t : "");
	if (t)
		xmpp_free(ctx, t);
	return s;
}


/* The value of a submitted form field (a libre string, or NULL). */
static char *field_value(xmpp_ctx_t *ctx, xmpp_stanza_t *x, const char *var)
{
	for (xmpp_stanza_t *f = x ? xmpp_stanza_get_children(x) : NULL; f;
	     f = xmpp_stanza_get_next(f)) {
		const char *n = xmpp_stanza_get_name(f);
		if (n && !strcmp(n, "field") && !strcmp(xu_attr(f, "var"), var))
			return child_text(ctx, f, "value");
	}
	return NULL;
}


/* Printable ASCII without what would end a quoted string or a header. */
static bool header_safe(const char *s, bool quoted)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    (quoted && (*s == '"' || *s == '\\')))
			return false;
	return true;
}


/* RFC 3261 25.1 user: unreserved, escaped and user-unreserved. */
static bool user_ok(const struct pl *u)
{
	for (size_t i = 0; i < u->l; i++) {
		const char c = u->p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') ||
		      strchr("-_.!~*'()%&=+$,;?/", c)))
			return false;
	}
	return u->l > 0;
}


static bool host_ok(const struct pl *h)
{
	for (size_t i = 0; i < h->l; i++) {
		const char c = h->p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-.:[]", c)))
			return false;
	}
	return h->l > 0;
}


/* The port after the host of "host[:port]" ("[v6]:port"), if any, is
 * 1..65535 (libre keeps 16 bits of whatever it reads). */
static bool port_ok(const char *hp, size_t n)
{
	const char *end = hp + n, *c;
	unsigned long v = 0;

	if (n && hp[0] == '[') {
		const char *rb = memchr(hp, ']', n);
		if (!rb)
			return false;
		c = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		c = memchr(hp, ':', n);
	}
	if (!c)
		return true;
	if (c + 1 == end || end - c > 6)
		return false;
	for (c++; c < end; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	return v >= 1 && v <= 65535;
}


/* "sip:user@host[:port]" or "user@host[:port]" -> the first form. */
static int aor_check(char **aor, char *why, size_t wsz)
{
	struct uri u;
	struct pl pl;
	char *s = NULL;
	int err;

	if (!strncasecmp(*aor, "sips:", 5)) {
		snprintf(why, wsz, "sips: addresses are not supported");
		return EINVAL;
	}
	err = re_sdprintf(&s, "%s%s",
			  strncasecmp(*aor, "sip:", 4) ? "sip:" : "", *aor);
	if (err)
		return err;
	pl_set_str(&pl, s);
	if (strlen(s) > FIELD_MAX || uri_decode(&u, &pl) || !user_ok(&u.user) ||
	    !host_ok(&u.host) || pl_isset(&u.password) || pl_isset(&u.params) ||
	    pl_isset(&u.headers) ||
	    !port_ok(strchr(s, '@') + 1, strlen(strchr(s, '@') + 1))) {
		snprintf(why, wsz,
			 "username must be a SIP address: sip:user@host or "
			 "user@host");
		mem_deref(s);
		return EINVAL;
	}
	mem_deref(*aor);
	*aor = s;
	return 0;
}


/* "host[:port][;transport=udp|tcp]": an IP address (without a port: 5060)
 * or a DNS name (without a port: the sip-front asks SRV, RFC 3263).
 * Normalised to "host[:port];transport=x". */
static int proxy_check(char **proxy, char *why, size_t wsz)
{
	struct pl host, tp = PL("udp"), rest, name, port = PL_INIT;
	char hs[256], *s = NULL;
	struct sa sa;
	int err;

	if (!**proxy)
		return 0;
	if (re_regex(*proxy, strlen(*proxy), "[^;]+[^]*", &host, &rest))
		goto bad;
	if (rest.l && (re_regex(rest.p, rest.l, ";transport=[a-z]+", &tp) ||
		       rest.l != strlen(";transport=") + tp.l))
		goto bad;
	if (pl_strcmp(&tp, "udp") && pl_strcmp(&tp, "tcp")) {
		snprintf(why, wsz,
			 "proxy transport %.*s is not supported (udp, tcp)",
			 (int)(tp.l > 16 ? 16 : tp.l), tp.p);
		return EINVAL;
	}
	if (!port_ok(host.p, host.l) || host.l >= sizeof(hs))
		goto bad;
	pl_strcpy(&host, hs, sizeof(hs));
	if (!sa_decode(&sa, host.p, host.l) || !sa_set_str(&sa, hs, 5060)) {
		err = re_sdprintf(&s, "%J;transport=%r", &sa, &tp);
	} else {
		if (re_regex(host.p, host.l, "[^:]+[:]*[0-9]*", &name, NULL,
			     &port))
			goto bad;
		pl_strcpy(&name, hs, sizeof(hs));
		if (!addr_host_name_ok(hs))
			goto bad;
		err = re_sdprintf(&s, "%s%s%r;transport=%r", hs,
				  port.l ? ":" : "", &port, &tp);
	}
	if (err)
		return err;
	mem_deref(*proxy);
	*proxy = s;
	return 0;
bad:
	snprintf(why, wsz,
		 "proxy must be host[:port][;transport=udp|tcp], the host an "
		 "IP address or a DNS name");
	return EINVAL;
}


int tr_reg_form_parse(xmpp_stanza_t *query, struct reg_form *f, char *why,
		      size_t wsz)
{
	xmpp_ctx_t *ctx = xmpp_stanza_get_context(query);
	xmpp_stanza_t *x =
		xmpp_stanza_get_child_by_name_and_ns(query, "x", NS_XDATA);
	char *exp = NULL, *srtp = NULL;
	int err = 0;

	memset(f, 0, sizeof(*f));
	if (x && strcmp(xu_attr(x, "type"), "submit"))
		x = NULL;
	if (x) {
		f->aor = field_value(ctx, x, "username");
		f->password = field_value(ctx, x, "password");
		f->ha1 = field_value(ctx, x, "ha1");
		f->auth_user = field_value(ctx, x, "auth_user");
		f->proxy = field_value(ctx, x, "proxy");
		f->display = field_value(ctx, x, "display_name");
		exp = field_value(ctx, x, "expires");
		srtp = field_value(ctx, x, "srtp");
	}
	if (!f->aor)
		f->aor = child_text(ctx, query, "username");
	if (!f->password)
		f->password = child_text(ctx, query, "password");
	(void)(!f->ha1 && str_dup(&f->ha1, ""));
	(void)(!f->auth_user && str_dup(&f->auth_user, ""));
	(void)(!f->proxy && str_dup(&f->proxy, ""));
	(void)(!f->display && str_dup(&f->display, ""));
	if (!f->aor || !f->password || !f->ha1 || !f->auth_user || !f->proxy ||
	    !f->display) {
		err = ENOMEM;
		goto out;
	}
	f->expires = 3600;
	if (exp && *exp) {
		char *end;
		unsigned long v = strtoul(exp, &end, 10);
		if (*end || v < 1 || v > 604800 || *exp < '0' || *exp > '9') {
			snprintf(why, wsz, "expires must be 1..604800 seconds");
			err = EINVAL;
			goto out;
		}
		f->expires = (uint32_t)v;
	}
	f->srtp = RSRTP_SESSION;
	while (srtp && *srtp && strcmp(srtp, regrec_srtp_name[f->srtp]) &&
	       f->srtp < RSRTP_MANDATORY)
		f->srtp++;
	if (srtp && *srtp && strcmp(srtp, regrec_srtp_name[f->srtp])) {
		snprintf(why, wsz,
			 "srtp must be session, sdes_optional or "
			 "sdes_mandatory");
		err = EINVAL;
		goto out;
	}
	if (!*f->aor) {
		snprintf(why, wsz, "username (the SIP address) is required");
		err = EINVAL;
		goto out;
	}
	err = aor_check(&f->aor, why, wsz);
	if (err)
		goto out;
	if (!*f->password && !*f->ha1) {
		snprintf(why, wsz, "a password or an ha1 is required");
		err = EINVAL;
		goto out;
	}
	if (strlen(f->password) > FIELD_MAX) {
		snprintf(why, wsz, "password longer than %u bytes", FIELD_MAX);
		err = EINVAL;
		goto out;
	}
	if (*f->ha1 && (strlen(f->ha1) != 32 ||
			strspn(f->ha1, "0123456789abcdefABCDEF") != 32)) {
		snprintf(why, wsz, "ha1 must be 32 hex digits (MD5)");
		err = EINVAL;
		goto out;
	}
	/* RFC 2617 3.2.2.2: the digest hashes lower-case hex */
	for (char *h = f->ha1; *h; h++)
		*h = (char)tolower((unsigned char)*h);
	if (strlen(f->auth_user) > FIELD_MAX ||
	    !header_safe(f->auth_user, true) ||
	    strlen(f->display) > FIELD_MAX || !header_safe(f->display, true)) {
		snprintf(why, wsz,
			 "auth_user and display_name must be printable "
			 "ASCII without quotes");
		err = EINVAL;
		goto out;
	}
	err = proxy_check(&f->proxy, why, wsz);
out:
	mem_deref(exp);
	mem_deref(srtp);
	if (err)
		reg_form_reset(f);
	return err;
}
