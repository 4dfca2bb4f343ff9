/**
 * @file tr_sipaddr.c  SIP addresses: whom a request from SIP is for, and
 *                      the SIP URI a gateway JID stands for.
 *
 * A request is for the XMPP user its Request-URI names (SPEC 5), or for
 * the user whose linked account's binding it reaches (SPEC 6.2). A proxy
 * or PBX that routes by rewriting the Request-URI's host to the gateway's
 * own address (Kamailio's rewritehostport, an Asterisk trunk) leaves the
 * user only in To: then To names the user.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <re.h>
#include "addr.h"
#include "translator.h"


int tr_sipaddr_parts(const struct uri *u, char *user, size_t us, char *host,
		     size_t hs)
{
	if (pl_strcasecmp(&u->scheme, "sip") &&
	    pl_strcasecmp(&u->scheme, "sips"))
		return EPROTONOSUPPORT;
	if (!u->user.l || u->user.l >= us || !u->host.l || u->host.l >= hs)
		return EINVAL;
	pl_strcpy(&u->user, user, us);
	pl_strcpy(&u->host, host, hs);
	return 0;
}


int tr_sipaddr_recipient(struct translator *tr, const struct sip_msg *msg,
			 char *jid, size_t sz, uint64_t *regp)
{
	const struct xsgw_config *cfg = tr->proc.cfg;
	char user[256], host[256];
	int err;

	if (regp)
		*regp = 0;
	err = tr_sipaddr_parts(&msg->uri, user, sizeof(user), host,
			       sizeof(host));
	if (err)
		return err;
	if (regp) {
		*regp = tr_account_jid_of_contact(tr, &msg->uri.user, jid, sz);
		if (*regp)
			return 0;
	}
	err = addr_sip_to_user(cfg, user, host, jid, sz);
	if (err != ENOENT || (strcasecmp(host, cfg->sip.local_host) &&
			      strcasecmp(host, cfg->sip.listen.host)))
		return err;
	err = tr_sipaddr_parts(&msg->to.uri, user, sizeof(user), host,
			       sizeof(host));
	return err ? ENOENT : addr_sip_to_user(cfg, user, host, jid, sz);
}


unsigned tr_sipaddr_refusal(int err, const char **reason)
{
	if (err == EPROTONOSUPPORT) {
		*reason = "Unsupported URI Scheme";
		return 416;
	}
	*reason = err == ENOENT ? "Unknown Domain" : "Not Found";
	return 404;
}


int tr_sipaddr_of_gwjid(const struct xsgw_config *cfg, const char *jid,
			bool proxied, char *uri, size_t sz)
{
	char node[512];
	const char *at = strchr(jid, '@');
	size_t n;

	if (!at || strncasecmp(at + 1, cfg->xmpp.component,
			       strlen(cfg->xmpp.component)))
		return EINVAL;
	n = (size_t)(at - jid);
	if (!n || n >= sizeof(node))
		return EINVAL;
	memcpy(node, jid, n);
	node[n] = 0;
	return proxied ? addr_gwnode_to_sip_proxied(cfg, node, uri, sz)
		       : addr_gwnode_to_sip(cfg, node, uri, sz);
}
