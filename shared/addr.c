/**
 * @file addr.c  Addressing rules (SPEC §5).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"

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
		int esc = strchr(esc_chars, *in) || (*in == '\\' && is_escape_seq(in));
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
		}
		else
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
		}
		else
			out[o++] = *in;
	}
	out[o] = 0;
	return o ? 0 : EINVAL;
}


static int is_phone(const char *s)
{
	return s[0] == '+' && s[1] && strspn(s + 1, "0123456789") == strlen(s + 1);
}


static int fmt(char *out, size_t sz, const char *f, const char *a,
	       const char *b, const char *c)
{
	int n = snprintf(out, sz, f, a, b, c);

	return n < 0 || (size_t)n >= sz ? ENAMETOOLONG : 0;
}


int addr_gwnode_to_sip(const struct xsgw_config *cfg, const char *node,
		       char *uri, size_t sz)
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
		    strspn(at + 1, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:") !=
			    hl)
			return EINVAL;
		memcpy(host, at + 1, hl + 1);
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


static int served_domain(const struct xsgw_config *cfg, const char *d)
{
	for (size_t i = 0; i < cfg->xmpp.ndomains; i++)
		if (!strcasecmp(cfg->xmpp.domains[i], d))
			return 1;
	return 0;
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
	}
	else
		strcpy(full, raw);
	err = addr_jid_escape(full, node, sizeof(node));
	return err ? err : fmt(jid, sz, "%s@%s%s", node, cfg->xmpp.component, "");
}


int addr_sip_to_user(const struct xsgw_config *cfg, const char *user,
		     const char *host, char *jid, size_t sz)
{
	char raw[512];
	int err;

	err = sip_user_unescape(user, raw, sizeof(raw));
	if (err)
		return err;
	for (size_t i = 0; i < cfg->sip.nphones; i++) {
		if (!strcmp(cfg->sip.phones[i].phone, raw))
			return fmt(jid, sz, "%s@%s%s",
				   cfg->sip.phones[i].username,
				   cfg->xmpp.domains[0], "");
	}
	if (!served_domain(cfg, host))
		return ENOENT;
	/* an XMPP localpart cannot carry these (RFC 7622) */
	if (strpbrk(raw, esc_chars))
		return EINVAL;
	return fmt(jid, sz, "%s@%s%s", raw, host, "");
}
