/**
 * @file addr.c  Addressing rules (SPEC §5).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "addr.h"
#include "util.h"

static const char esc_chars[] = " \"&'/:<>@";


static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}


/* True if s starts with one of XEP-0106's escape sequences. */
static int is_escape_seq(const char *s)
{
	int h, l;

	if (s[0] != '\\' || (h = hexval(s[1])) < 0 || (l = hexval(s[2])) < 0)
		return 0;
	return (h << 4 | l) == '\\' || strchr(esc_chars, h << 4 | l);
}


int addr_jid_escape(const char *in, char *out, size_t sz)
{
	size_t o = 0;

	if (!*in)
		return EINVAL;
	for (; *in; in++) {
		int esc = strchr(esc_chars, *in) ||
			  (*in == '\\' && is_escape_seq(in));
		if (o + (esc ? 3 : 1) >= sz)
			return ENAMETOOLONG;
		if (esc)
			o += (size_t)snprintf(out + o, sz - o, "\\%02x",
					      (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = 0;
	return 0;
}


int addr_jid_unescape(const char *in, char *out, size_t sz)
{
	size_t o = 0;

	for (; *in; in++) {
		if (o + 1 >= sz)
			return ENAMETOOLONG;
		if (is_escape_seq(in)) {
			out[o++] = (char)(hexval(in[1]) << 4 | hexval(in[2]));
			in += 2;
		} else
			out[o++] = *in;
	}
	out[o] = 0;
	return 0;
}


/* RFC 3261 user: unreserved / escaped / user-unreserved */
static int sip_user_char(unsigned char c)
{
	return isalnum(c) || strchr("-_.!~*'()&=+$,;?/", c);
}


static int sip_user_escape(const char *in, size_t n, char *out, size_t sz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int ok = sip_user_char(c);
		if (o + (ok ? 1 : 3) >= sz)
			return ENAMETOOLONG;
		if (ok)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sz - o, "%%%02X", c);
	}
	out[o] = 0;
	return 0;
}


static int sip_user_unescape(const char *in, char *out, size_t sz)
{
	size_t o = 0;

	for (; *in; in++) {
		if (o + 1 >= sz)
			return ENAMETOOLONG;
		if (*in == '%' && hexval(in[1]) >= 0 && hexval(in[2]) >= 0) {
			out[o++] = (char)(hexval(in[1]) << 4 | hexval(in[2]));
			in += 2;
		} else
			out[o++] = *in;
	}
	out[o] = 0;
	/* an address part becomes XML text: no controls, valid UTF-8 */
	if (!utf8_xml_valid(out, o) || strpbrk(out, "\t\r\n"))
		return EINVAL;
	return o ? 0 : EINVAL;
}


static int is_phone(const char *s)
{
	return s[0] == '+' && s[1] &&
	       strspn(s + 1, "0123456789") == strlen(s + 1);
}


static int fmt(char *out, size_t sz, const char *f, const char *a,
	       const char *b, const char *c)
{
	int n = snprintf(out, sz, f, a, b, c);

	return n < 0 || (size_t)n >= sz ? ENAMETOOLONG : 0;
}


/* F9: with a proxy, the proxy decides where requests go; without one
 * the Request-URI's host does, so a user may name only sip.domain or a
 * host the operator allowed (sip.allowed_domains) — never any host:port
 * on the gateway's network. */
static bool host_allowed(const struct xsgw_config *cfg, const char *host)
{
	if (cfg->sip.proxy.port || !strcasecmp(host, cfg->sip.domain))
		return true;
	for (size_t i = 0; i < cfg->sip.nallowed; i++)
		if (!strcmp(cfg->sip.allowed_domains[i], "*") ||
		    !strcasecmp(cfg->sip.allowed_domains[i], host))
			return true;
	return false;
}


bool addr_sip_host_allowed(const struct xsgw_config *cfg, const char *host)
{
	return host_allowed(cfg, host);
}


static int gwnode_to_sip(const struct xsgw_config *cfg, const char *node,
			 bool proxied, char *uri, size_t sz)
{
	char raw[512], user[1024], host[256];
	const char *at;
	int err;

	if (!node || !*node)
		return EINVAL;
	err = addr_jid_unescape(node, raw, sizeof(raw));
	if (err)
		return err;
	at = strrchr(raw, '@');
	if (at) {
		size_t hl = strlen(at + 1);
		if (at == raw || !hl || hl >= sizeof(host) ||
		    strspn(at + 1,
			   "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:") != hl)
			return EINVAL;
		memcpy(host, at + 1, hl + 1);
		if (!proxied && !host_allowed(cfg, host))
			return EPERM;
		err = sip_user_escape(raw, (size_t)(at - raw), user,
				      sizeof(user));
		return err ? err : fmt(uri, sz, "sip:%s@%s%s", user, host, "");
	}
	err = sip_user_escape(raw, strlen(raw), user, sizeof(user));
	if (err)
		return err;
	return fmt(uri, sz, "sip:%s@%s%s", user, cfg->sip.domain,
		   is_phone(raw) ? ";user=phone" : "");
}


int addr_gwnode_to_sip(const struct xsgw_config *cfg, const char *node,
		       char *uri, size_t sz)
{
	return gwnode_to_sip(cfg, node, false, uri, sz);
}


int addr_gwnode_to_sip_proxied(const struct xsgw_config *cfg, const char *node,
			       char *uri, size_t sz)
{
	return gwnode_to_sip(cfg, node, true, uri, sz);
}


/* The configured spelling of d if it is one of xmpp.domains, else NULL. */
static const char *served_domain(const struct xsgw_config *cfg, const char *d)
{
	for (size_t i = 0; i < cfg->xmpp.ndomains; i++)
		if (!strcasecmp(cfg->xmpp.domains[i], d))
			return cfg->xmpp.domains[i];
	return NULL;
}


/* ASCII lower case in place; other bytes (UTF-8) stay as they are. */
static void ascii_fold(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}


int addr_user_to_sip(const struct xsgw_config *cfg, const char *bare_jid,
		     char *uri, size_t sz)
{
	char node[512], user[1024];
	const char *at = strchr(bare_jid, '@');
	size_t nl;
	int err;

	if (!at || at == bare_jid || strchr(bare_jid, '/'))
		return EINVAL;
	if (!served_domain(cfg, at + 1))
		return EPERM;
	nl = (size_t)(at - bare_jid);
	if (nl >= sizeof(node))
		return ENAMETOOLONG;
	memcpy(node, bare_jid, nl);
	node[nl] = 0;
	for (size_t i = 0; i < cfg->sip.nphones; i++) {
		if (!strcmp(cfg->sip.phones[i].username, node))
			return fmt(uri, sz, "sip:%s@%s%s",
				   cfg->sip.phones[i].phone, cfg->sip.domain,
				   is_phone(cfg->sip.phones[i].phone)
					   ? ";user=phone"
					   : "");
	}
	err = sip_user_escape(node, nl, user, sizeof(user));
	return err ? err : fmt(uri, sz, "sip:%s@%s%s", user, at + 1, "");
}


int addr_sip_to_gwjid(const struct xsgw_config *cfg, const char *user,
		      const char *host, char *jid, size_t sz)
{
	char raw[512], full[800], node[1600];
	int err;

	err = sip_user_unescape(user, raw, sizeof(raw));
	if (err)
		return err;
	if (strcasecmp(host, cfg->sip.domain)) {
		if (fmt(full, sizeof(full), "%s@%s%s", raw, host, ""))
			return ENAMETOOLONG;
	} else
		strcpy(full, raw);
	err = addr_jid_escape(full, node, sizeof(node));
	return err ? err
		   : fmt(jid, sz, "%s@%s%s", node, cfg->xmpp.component, "");
}


int addr_sip_to_user(const struct xsgw_config *cfg, const char *user,
		     const char *host, char *jid, size_t sz)
{
	const char *node = NULL, *dom = cfg->xmpp.domains[0];
	char raw[512];
	int err;

	err = sip_user_unescape(user, raw, sizeof(raw));
	if (err)
		goto out;
	for (size_t i = 0; i < cfg->sip.nphones && !node; i++)
		if (!strcmp(cfg->sip.phones[i].phone, raw))
			node = cfg->sip.phones[i].username;
	if (!node) {
		dom = served_domain(cfg, host);
		if (!dom) {
			err = ENOENT;
			goto out;
		}
		/* an XMPP localpart cannot carry these (RFC 7622) */
		if (strpbrk(raw, esc_chars)) {
			err = EINVAL;
			goto out;
		}
		node = raw;
	}
	err = fmt(jid, sz, "%s@%s%s", node, dom, "");
	if (!err)
		ascii_fold(jid);
out:
	return err;
}


static const struct {
	unsigned code;
	const char *cond;
} sip2x[] = {
	{400, "bad-request"},
	{401, "not-authorized"},
	{402, "bad-request"},
	{403, "forbidden"},
	{404, "item-not-found"},
	{405, "feature-not-implemented"},
	{406, "not-acceptable"},
	{407, "not-authorized"},
	{408, "remote-server-timeout"},
	{410, "gone"},
	{413, "policy-violation"},
	{414, "jid-malformed"},
	{415, "not-acceptable"},
	{416, "bad-request"},
	{420, "feature-not-implemented"},
	{421, "bad-request"},
	{423, "resource-constraint"},
	{430, "recipient-unavailable"},
	{433, "policy-violation"},
	{439, "feature-not-implemented"},
	{440, "policy-violation"},
	{480, "recipient-unavailable"},
	{481, "item-not-found"},
	{482, "not-acceptable"},
	{483, "not-acceptable"},
	{484, "item-not-found"},
	{485, "item-not-found"},
	{486, "recipient-unavailable"},
	{487, "service-unavailable"},
	{488, "not-acceptable"},
	{491, "unexpected-request"},
	{493, "service-unavailable"},
	{500, "internal-server-error"},
	{501, "feature-not-implemented"},
	{502, "remote-server-not-found"},
	{503, "service-unavailable"},
	{504, "remote-server-timeout"},
	{505, "not-acceptable"},
	{513, "policy-violation"},
	{600, "service-unavailable"},
	{603, "service-unavailable"},
	{604, "item-not-found"},
	{606, "not-acceptable"},
};


const char *addr_sip_to_xmpp_error(unsigned scode)
{
	for (size_t i = 0; i < sizeof(sip2x) / sizeof(sip2x[0]); i++)
		if (sip2x[i].code == scode)
			return sip2x[i].cond;
	if (scode >= 300 && scode < 400)
		return "redirect";
	if (scode >= 500 && scode < 600)
		return "internal-server-error";
	if (scode >= 600)
		return "service-unavailable";
	return "bad-request";
}


static const struct {
	const char *cond;
	unsigned code;
	const char *reason;
} x2sip[] = {
	{"bad-request", 400, "Bad Request"},
	{"conflict", 400, "Bad Request"},
	{"feature-not-implemented", 405, "Method Not Allowed"},
	{"forbidden", 403, "Forbidden"},
	{"gone", 410, "Gone"},
	{"internal-server-error", 500, "Server Internal Error"},
	{"item-not-found", 404, "Not Found"},
	{"jid-malformed", 484, "Address Incomplete"},
	{"not-acceptable", 406, "Not Acceptable"},
	{"not-allowed", 405, "Method Not Allowed"},
	{"not-authorized", 401, "Unauthorized"},
	{"policy-violation", 403, "Forbidden"},
	{"recipient-unavailable", 480, "Temporarily Unavailable"},
	{"redirect", 302, "Moved Temporarily"},
	{"registration-required", 400, "Bad Request"},
	{"remote-server-not-found", 404, "Not Found"},
	{"remote-server-timeout", 408, "Request Timeout"},
	{"resource-constraint", 500, "Server Internal Error"},
	{"service-unavailable", 503, "Service Unavailable"},
	{"subscription-required", 400, "Bad Request"},
	{"undefined-condition", 400, "Bad Request"},
	{"unexpected-request", 491, "Request Pending"},
};


unsigned addr_xmpp_error_to_sip(const char *cond, const char **reason)
{
	for (size_t i = 0; i < sizeof(x2sip) / sizeof(x2sip[0]); i++) {
		if (!strcmp(x2sip[i].cond, cond)) {
			*reason = x2sip[i].reason;
			return x2sip[i].code;
		}
	}
	*reason = "Bad Request";
	return 400;
}


bool addr_sip_clean(const struct pl *v)
{
	bool in_uri = false;

	for (size_t i = 0; i < v->l; i++) {
		uint8_t c = (uint8_t)v->p[i];
		if (c < 0x20 || c == 0x7f || (in_uri && c == ' '))
			return false;
		if (c == '<' || c == '>')
			in_uri = c == '<';
	}
	return v->l > 0;
}


bool addr_host_name_ok(const char *s)
{
	size_t len = strlen(s), lab = 0;

	if (len && s[len - 1] == '.')
		len--;
	if (!len || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!lab || s[i - 1] == '-')
				return false;
			lab = 0;
		} else if (isalnum((unsigned char)s[i]) ||
			   (s[i] == '-' && lab)) {
			if (++lab > 63)
				return false;
		} else {
			return false;
		}
	}
	if (!lab || s[len - 1] == '-')
		return false;
	/* RFC 1123 2.1: the top label is not all digits (a mistyped
	 * address is no name) */
	for (size_t i = len - lab; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return true;
	return false;
}
