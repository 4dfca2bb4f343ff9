/**
 * @file resolv.h  What both fronts need to turn a host name into an
 *                 address without blocking their loop: the hosts file
 *                 (read again when it changes) and a DNS client asking the
 *                 configured servers (sip.dns_servers, else those of
 *                 /etc/resolv.conf).
 *
 * The queries themselves are the caller's (SRV for SIP, A/AAAA for the
 * XMPP server): this module holds no answers.
 */
#ifndef XSGW_RESOLV_H
#define XSGW_RESOLV_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"

struct resolv;
struct dnsc;
struct dnsrr;
struct list;
struct sa;

/**
 * Read the hosts file and set up the DNS client. No server at all, or a
 * kernel without IPv6 (libre's client needs an IPv6 socket), is not an
 * error: names then resolve from the hosts file only (logged once).
 * @param who  whose log lines these are ("dns", "xmpp dns")
 * @return 0 or ENOMEM
 */
int resolv_alloc(struct resolv **rp, const struct xsgw_config *cfg,
		 const char *who);

/**
 * The name's address in the hosts file (the first line naming it wins;
 * port 0). The file is read again when its mtime changed, looked at once
 * a second at most. @return true if found
 */
bool resolv_hosts_find(struct resolv *r, const char *name, struct sa *sa);

/** The DNS client, or NULL when there is none (hosts file only). Owned
 * by r: valid until r is released. */
struct dnsc *resolv_dnsc(const struct resolv *r);

/** resolv.conf's domain (its "domain" or first "search" entry), "" when
 * there is none: a name without a dot is asked with it first. */
const char *resolv_domain(const struct resolv *r);

/** The first record of type in l (of name, unless NULL), or NULL. */
const struct dnsrr *resolv_rr_find(struct list *l, uint16_t type,
				   const char *name);

/** sa: an A or AAAA record's address, with port. */
void resolv_sa_of_rr(struct sa *sa, const struct dnsrr *rr, uint16_t port);

/** The hosts file's path, for log lines. */
extern const char resolv_hosts_path[];

#endif
