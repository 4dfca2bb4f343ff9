/**
 * @file addr.h  Addressing (SPEC §5): gateway JIDs <-> SIP URIs, XMPP users
 *               <-> SIP URIs, XEP-0106 escaping. Pure functions.
 */
#ifndef XSGW_ADDR_H
#define XSGW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include "config.h"

struct pl;

/**
 * XEP-0106 escape a string for use as a JID node.
 * @return 0, or ENAMETOOLONG if out is too small, EINVAL for an empty input
 */
int addr_jid_escape(const char *in, char *out, size_t sz);
/** XEP-0106 unescape a JID node. @return 0 or ENAMETOOLONG */
int addr_jid_unescape(const char *in, char *out, size_t sz);

/**
 * The SIP URI for a gateway JID's node (`node@<xmpp.component>`):
 *   "+15551234"           -> sip:+15551234@<sip.domain>;user=phone
 *   "bob"                 -> sip:bob@<sip.domain>
 *   "bob\40example.org"   -> sip:bob@example.org
 * @return 0; EINVAL for an empty or malformed node; ENAMETOOLONG
 */
int addr_gwnode_to_sip(const struct xsgw_config *cfg, const char *node,
		       char *uri, size_t sz);
/** addr_gwnode_to_sip for a request that goes through a proxy of the
 * user's own (a linked account's): any host (its proxy decides, F9). */
int addr_gwnode_to_sip_proxied(const struct xsgw_config *cfg, const char *node,
			       char *uri, size_t sz);

/**
 * A DNS host name (RFC 1035 2.3.1, RFC 1123 2.1): labels of letters, digits
 * and inner hyphens, each 1-63 bytes, 253 in all, one trailing dot allowed.
 */
bool addr_host_name_ok(const char *s);

/**
 * F9: may the gateway send a request to host ("host[:port]" as in a SIP
 * URI) on a user's word (a call, a transfer)? With sip.proxy: yes (the
 * proxy decides); else only sip.domain or one of sip.allowed_domains.
 */
bool addr_sip_host_allowed(const struct xsgw_config *cfg, const char *host);

/**
 * The SIP URI an XMPP user appears as (bare JID "alice@localhost"):
 * sip:alice@localhost, or the mapped phone number on <sip.domain>.
 * @return 0; EPERM if the JID's domain is not one of xmpp.domains;
 *         EINVAL for a malformed JID; ENAMETOOLONG
 */
int addr_user_to_sip(const struct xsgw_config *cfg, const char *bare_jid,
		     char *uri, size_t sz);

/**
 * The gateway JID for a SIP address (a From): user@<sip.domain> becomes
 * user@<component>; any other domain is escaped into the node.
 * @param user  the URI's user part (percent-escapes are decoded here)
 * @return 0; EINVAL for an empty user; ENAMETOOLONG
 */
int addr_sip_to_gwjid(const struct xsgw_config *cfg, const char *user,
		      const char *host, char *jid, size_t sz);

/**
 * The XMPP user a SIP request is for (Request-URI or To): a mapped phone
 * number reaches username@<first xmpp.domain>; user@<one of xmpp.domains>
 * reaches that JID. The JID comes out case-folded as the server stores
 * JIDs (RFC 7622): ASCII letters in lower case, so sip:Alice@LOCALHOST
 * reaches alice@localhost; other UTF-8 passes as it is (like the XEP-0106
 * escaping, which also touches ASCII only). Gateway JIDs (addr_sip_to_gwjid)
 * keep the SIP user's case.
 * @return 0; ENOENT if the host is not one of xmpp.domains; EINVAL;
 *         ENAMETOOLONG
 */
int addr_sip_to_user(const struct xsgw_config *cfg, const char *user,
		     const char *host, char *jid, size_t sz);


/**
 * RFC 7247 §8: the XMPP error condition for a SIP final response code.
 * @return a condition name such as "item-not-found"
 */
const char *addr_sip_to_xmpp_error(unsigned scode);

/**
 * RFC 7247 §8: the SIP response for an XMPP error condition.
 * @param reason  set to the reason phrase
 * @return the status code (400 for an unknown condition)
 */
unsigned addr_xmpp_error_to_sip(const char *cond, const char **reason);
/**
 * A URI or name-addr from a peer that the gateway may write back into a
 * header (Route, Request-URI, From/To of a notice): no control byte at all
 * (a bare CR ends a header for some parsers) and no space inside <>.
 */
bool addr_sip_clean(const struct pl *v);

#endif
