/**
 * @file config.c  YAML config loader: load the document, then walk a static
 *                 table of keys. Unknown keys, wrong types and bad values are
 *                 errors carrying file:line:col and the key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <yaml.h>
#include "addr.h"
#include "config.h"

typedef const char *(parse_fn)(yaml_document_t *doc, yaml_node_t *n, void *dst);

struct key {
	const char *path;
	parse_fn *fn;
	size_t off;
	int required;
};

#define OFF(f) offsetof(struct xsgw_config, f)


static const char *scalar(yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
					   : NULL;
}


static const char *p_str(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (!s)
		return "expected a string";
	if (!(*(char **)dst = strdup(s)))
		return "out of memory";
	return NULL;
}


static const char *p_nonempty(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (!s || !*s)
		return "expected a non-empty string";
	return p_str(d, n, dst);
}


static const char *uint_of(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return "expected a number";
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || *end)
		return "expected a number";
	if (*v > max)
		return "number out of range";
	return NULL;
}


static const char *p_u32(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	uint64_t v;
	const char *e = uint_of(scalar(n), UINT32_MAX, &v);

	if (!e)
		*(uint32_t *)dst = (uint32_t)v;
	return e;
}


static const char *p_sync(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && !strcmp(s, "commit"))
		*(int *)dst = 0;
	else if (s && !strcmp(s, "periodic"))
		*(int *)dst = 1;
	else
		return "expected commit or periodic";
	return NULL;
}


static const char *p_sync_ms(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	uint64_t v;
	const char *e = uint_of(scalar(n), 60000, &v);

	if (!e && v < 10)
		e = "must be 10-60000";
	if (!e)
		*(uint32_t *)dst = (uint32_t)v;
	return e;
}


/* A CPU list as taskset -c and cpusets write it ("1", "0-3,6"); every CPU
 * must exist here (the supervisor applies it at start, sched_setaffinity). */
static const char *p_cpus(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	static const char syntax[] = "expected a CPU list such as 1 or 0-3,6";
	static char why[96];
	struct cfg_cpus *c = dst;
	cpu_set_t *set = &c->set;
	const char *s = scalar(n);
	long have = get_nprocs_conf();
	unsigned long a, b;
	char *end;

	if (!s || !*s)
		return syntax;
	CPU_ZERO(set);
	while (*s) {
		if (*s < '0' || *s > '9')
			return syntax;
		errno = 0;
		a = b = strtoul(s, &end, 10);
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return syntax;
			b = strtoul(s, &end, 10);
		}
		if (errno || b >= CPU_SETSIZE)
			return "a CPU number too large";
		if (a > b)
			return "a range must go up (0-3, not 3-0)";
		if (b >= (unsigned long)have) {
			snprintf(why, sizeof(why),
				 "CPU %lu does not exist (this machine has "
				 "0-%ld)",
				 b, have - 1);
			return why;
		}
		for (unsigned long i = a; i <= b; i++)
			CPU_SET(i, set);
		s = end;
		if (*s == ',' && s[1])
			s++;
		else if (*s)
			return syntax;
	}
	c->on = 1;
	return NULL;
}


/* at least 32 s, SIP's Timer F with the default T1 (finish() checks it
 * against sip.t1_ms): a MESSAGE's retransmissions must find its record */
static const char *p_retain(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	uint64_t v;
	const char *e = uint_of(scalar(n), 7 * 86400, &v);

	if (!e && v < 32)
		e = "must be 32-604800";
	if (!e)
		*(uint32_t *)dst = (uint32_t)v;
	return e;
}


/* RFC 3261 T1 in ms: 10 .. 10000 (a timer of 0 would spin the loop) */
static const char *p_t1(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	uint64_t v;
	const char *e = uint_of(scalar(n), 10000, &v);

	if (!e && v < 10)
		e = "must be 10-10000";
	if (!e)
		*(uint32_t *)dst = (uint32_t)v;
	return e;
}


static const char *p_port(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	uint64_t v;
	const char *e = uint_of(scalar(n), 65535, &v);

	if (!e && v == 0)
		e = "port must be 1-65535";
	if (!e)
		*(uint16_t *)dst = (uint16_t)v;
	return e;
}


static const char *hostport(const char *s, struct cfg_hostport *hp)
{
	const char *colon, *h = s;
	size_t hl;
	uint64_t port;
	char pbuf[8];

	if (!s || !*s)
		return "expected host:port";
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return "expected [ipv6]:port";
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return "expected host:port";
		hl = (size_t)(colon - s);
	}
	if (!hl || hl >= sizeof(hp->host) || strlen(colon + 1) >= sizeof(pbuf))
		return "expected host:port";
	if (uint_of(colon + 1, 65535, &port) || !port)
		return "port must be 1-65535";
	memcpy(hp->host, h, hl);
	hp->host[hl] = 0;
	hp->port = (uint16_t)port;
	return NULL;
}


/* The listen address must be numeric: it is bound, not resolved. */
static const char *p_listen(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct cfg_hostport *hp = dst;
	unsigned char buf[16];
	const char *e = hostport(scalar(n), hp);

	if (e)
		return e;
	if (inet_pton(AF_INET, hp->host, buf) != 1 &&
	    inet_pton(AF_INET6, hp->host, buf) != 1)
		return "expected a numeric IP address:port";
	return NULL;
}


/* An address written in SDP (o=, c=): a numeric IPv4 or IPv6 address. */
static const char *p_ipaddr(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);
	unsigned char buf[16];

	if (!s || (inet_pton(AF_INET, s, buf) != 1 &&
		   inet_pton(AF_INET6, s, buf) != 1))
		return "expected a numeric IP address";
	return p_str(d, n, dst);
}


/* xmpp.host: a numeric IPv4 or IPv6 address, or a DNS name (the
 * xmpp-front resolves it without blocking: hosts file, A, AAAA). */
static const char *p_host(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && addr_host_name_ok(s))
		return p_str(d, n, dst);
	return p_ipaddr(d, n, dst) ? "expected a numeric IP address or a DNS "
				     "name"
				   : NULL;
}


/* A next hop: host:port, the host a numeric address or a DNS name (the
 * sip-front resolves it, RFC 3263 A/AAAA). "" = none. */
static const char *p_opt_nexthop(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct cfg_hostport *hp = dst;
	const char *s = scalar(n), *e;
	unsigned char buf[16];

	if (s && !*s) {
		memset(dst, 0, sizeof(struct cfg_hostport));
		return NULL;
	}
	e = hostport(s, hp);
	if (e)
		return e;
	/* "[...]" is an IPv6 address, anything else IPv4 or a name */
	if (*s == '[' ? inet_pton(AF_INET6, hp->host, buf) != 1
		      : inet_pton(AF_INET, hp->host, buf) != 1 &&
				!addr_host_name_ok(hp->host))
		return "expected host:port, the host a numeric address or a "
		       "DNS name";
	return NULL;
}


static const char *p_opt_hostport(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && !*s) {
		memset(dst, 0, sizeof(struct cfg_hostport));
		return NULL;
	}
	return p_listen(d, n, dst);
}


static const char *p_size(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);
	uint64_t v, mul = 1;
	char num[32], *end;
	size_t i = 0;

	if (!s)
		return "expected a size such as 256MiB";
	while (s[i] >= '0' && s[i] <= '9' && i < sizeof(num) - 1) {
		num[i] = s[i];
		i++;
	}
	num[i] = 0;
	if (!i)
		return "expected a size such as 256MiB";
	v = strtoull(num, &end, 10);
	if (!strcmp(s + i, "") || !strcmp(s + i, "B"))
		mul = 1;
	else if (!strcmp(s + i, "KiB"))
		mul = 1ULL << 10;
	else if (!strcmp(s + i, "MiB"))
		mul = 1ULL << 20;
	else if (!strcmp(s + i, "GiB"))
		mul = 1ULL << 30;
	else
		return "unit must be B, KiB, MiB or GiB";
	if (v > (1ULL << 44) / mul || v * mul < (1ULL << 20))
		return "size must be between 1MiB and 16TiB";
	*(uint64_t *)dst = v * mul;
	return NULL;
}


static const char *p_transport(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && !strcmp(s, "udp"))
		*(enum sip_tp *)dst = SIP_TP_UDP;
	else if (s && !strcmp(s, "tcp"))
		*(enum sip_tp *)dst = SIP_TP_TCP;
	else if (s && !strcmp(s, "tls"))
		return "tls is not supported yet (use udp or tcp)";
	else
		return "expected udp, tcp or tls";
	return NULL;
}


static const char *p_client_tls(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && !strcmp(s, "required"))
		*(int *)dst = 1;
	else if (s && !strcmp(s, "optional"))
		*(int *)dst = 0;
	else
		return "expected required or optional";
	return NULL;
}


static const char *p_phone_transport(yaml_document_t *d, yaml_node_t *n,
				     void *dst)
{
	const char *s = scalar(n);

	if (s && !strcmp(s, "ice"))
		*(int *)dst = 0;
	else if (s && !strcmp(s, "raw-udp"))
		*(int *)dst = 1;
	else
		return "expected ice or raw-udp";
	return NULL;
}


static const char *p_level(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	static const char *lv[] = {"error", "warn", "info", "debug"};
	const char *s = scalar(n);

	for (int i = 0; s && i < 4; i++) {
		if (!strcmp(s, lv[i])) {
			*(int *)dst = i;
			return NULL;
		}
	}
	return "expected error, warn, info or debug";
}


static const char *p_format(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && !strcmp(s, "text"))
		*(int *)dst = 0;
	else if (s && !strcmp(s, "json"))
		*(int *)dst = 1;
	else
		return "expected text or json";
	return NULL;
}


static const char *p_bool(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	const char *s = scalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
		*(int *)dst = 1;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
		*(int *)dst = 0;
	else
		return "expected true or false";
	return NULL;
}


static const char *p_ms_pair(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	uint32_t *v = dst;
	yaml_node_item_t *it;
	const char *e;
	int i = 0;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top - n->data.sequence.items.start != 2)
		return "expected [first, max] in milliseconds";
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		e = p_u32(d, yaml_document_get_node(d, *it), &v[i]);
		if (e)
			return e;
	}
	if (!v[0] || v[0] > v[1])
		return "expected 0 < first <= max";
	return NULL;
}


/* A list of non-empty strings into *v (calloc'ed), *cnt set. */
static const char *strlist(yaml_document_t *d, yaml_node_t *n, char ***v,
			   size_t *cnt, const char *what)
{
	yaml_node_item_t *it;
	size_t max;

	if (n->type != YAML_SEQUENCE_NODE)
		return what;
	max = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	*v = calloc(max ? max : 1, sizeof(char *));
	if (!*v)
		return "out of memory";
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const char *e = p_nonempty(d, yaml_document_get_node(d, *it),
					   &(*v)[*cnt]);
		if (e)
			return e;
		(*cnt)++;
	}
	return NULL;
}


static const char *p_domains(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct xsgw_config *c = (void *)((char *)dst - OFF(xmpp.domains));
	const char *e = strlist(d, n, &c->xmpp.domains, &c->xmpp.ndomains,
				"expected a list of domains");

	return e                  ? e
	       : c->xmpp.ndomains ? NULL
				  : "at least one domain is required";
}


static const char *p_allowed(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct xsgw_config *c =
		(void *)((char *)dst - OFF(sip.allowed_domains));

	return strlist(d, n, &c->sip.allowed_domains, &c->sip.nallowed,
		       "expected a list of hosts");
}


/* The array for a list's entries, zeroed (one at least, so an empty list
 * is not NULL). @return NULL, what if n is not a list, or out of memory */
static const char *seq_alloc(yaml_node_t *n, size_t size, void **arrp,
			     const char *what)
{
	size_t cnt;

	if (n->type != YAML_SEQUENCE_NODE)
		return what;
	cnt = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	*arrp = calloc(cnt ? cnt : 1, size);
	return *arrp ? NULL : "out of memory";
}


/* sip.dns_servers: numeric "address" (port 53) or "address:port". */
static const char *p_dns_servers(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct xsgw_config *c = (void *)((char *)dst - OFF(sip.dns_servers));
	yaml_node_item_t *it;
	const char *e;

	e = seq_alloc(n, sizeof(struct cfg_hostport),
		      (void **)&c->sip.dns_servers,
		      "expected a list of DNS server addresses");
	if (e)
		return e;
	c->sip.ndns_servers = 0;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		struct cfg_hostport *hp =
			&c->sip.dns_servers[c->sip.ndns_servers];
		const char *s = scalar(yaml_document_get_node(d, *it));
		unsigned char buf[16];

		if (s && strlen(s) < sizeof(hp->host) &&
		    (inet_pton(AF_INET, s, buf) == 1 ||
		     inet_pton(AF_INET6, s, buf) == 1)) {
			strcpy(hp->host, s);
			hp->port = 53;
		} else if (p_listen(d, yaml_document_get_node(d, *it), hp)) {
			return "expected a numeric DNS server address, "
			       "address:port or [address]:port";
		}
		c->sip.ndns_servers++;
	}
	return NULL;
}


static const char *p_trusted(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct xsgw_config *c = (void *)((char *)dst - OFF(sip.trusted));
	yaml_node_item_t *it;
	const char *e;

	e = seq_alloc(n, sizeof(struct cfg_net), (void **)&c->sip.trusted,
		      "expected a list of address/prefix");
	if (e)
		return e;
	c->sip.ntrusted = 0;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		struct cfg_net *net = &c->sip.trusted[c->sip.ntrusted];
		const char *s = scalar(yaml_document_get_node(d, *it));
		char buf[64], *slash;
		uint64_t pfx;

		if (!s || strlen(s) >= sizeof(buf))
			return "expected address/prefix, e.g. 127.0.0.1/32";
		strcpy(buf, s);
		slash = strchr(buf, '/');
		if (slash)
			*slash++ = 0;
		if (inet_pton(AF_INET, buf, net->addr) == 1)
			net->v6 = 0;
		else if (inet_pton(AF_INET6, buf, net->addr) == 1)
			net->v6 = 1;
		else
			return "expected address/prefix, e.g. 127.0.0.1/32";
		if (slash) {
			if (uint_of(slash, net->v6 ? 128 : 32, &pfx))
				return "bad prefix length";
			net->prefix = (unsigned)pfx;
		} else
			net->prefix = net->v6 ? 128 : 32;
		c->sip.ntrusted++;
	}
	return NULL;
}


static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *p;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(yaml_document_get_node(d, p->key));
		if (k && !strcmp(k, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}


static const char *p_phones(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct xsgw_config *c = (void *)((char *)dst - OFF(sip.phones));
	yaml_node_item_t *it;
	const char *e;

	e = seq_alloc(n, sizeof(struct cfg_phone), (void **)&c->sip.phones,
		      "expected a list of {username, phone}");
	if (e)
		return e;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *m = yaml_document_get_node(d, *it), *u, *ph;
		struct cfg_phone *p = &c->sip.phones[c->sip.nphones];

		if (m->type != YAML_MAPPING_NODE ||
		    m->data.mapping.pairs.top - m->data.mapping.pairs.start !=
			    2 ||
		    !(u = map_get(d, m, "username")) ||
		    !(ph = map_get(d, m, "phone")))
			return "each entry must be {username: U, phone: P}";
		if ((e = p_nonempty(d, u, &p->username)) ||
		    (e = p_nonempty(d, ph, &p->phone)))
			return e;
		c->sip.nphones++;
		if (strspn(p->phone, "+0123456789") != strlen(p->phone))
			return "phone must be digits with an optional leading "
			       "+";
	}
	return NULL;
}


static const char *p_presphones(yaml_document_t *d, yaml_node_t *n, void *dst)
{
	struct xsgw_config *c = (void *)((char *)dst - OFF(presence.phones));
	yaml_node_item_t *it;
	const char *e;

	e = seq_alloc(n, sizeof(struct cfg_presphone),
		      (void **)&c->presence.phones,
		      "expected a list of {sip, jid, resource[, password]}");
	if (e)
		return e;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *m = yaml_document_get_node(d, *it), *v;
		struct cfg_presphone *p =
			&c->presence.phones[c->presence.nphones];
		size_t want = 3;

		if (m->type != YAML_MAPPING_NODE)
			return "each entry must be {sip, jid, resource"
			       "[, password]}";
		c->presence.nphones++;
		if (!(v = map_get(d, m, "sip")) ||
		    (e = p_nonempty(d, v, &p->sip)))
			return "each entry needs sip: \"sip:user@host\"";
		if (strncmp(p->sip, "sip:", 4) || !strchr(p->sip, '@'))
			return "sip must be a SIP URI sip:user@host";
		if (!(v = map_get(d, m, "jid")) ||
		    (e = p_nonempty(d, v, &p->jid)))
			return "each entry needs jid: user@domain";
		if (!strchr(p->jid, '@') || strchr(p->jid, '/'))
			return "jid must be a bare JID user@domain";
		if (!(v = map_get(d, m, "resource")) ||
		    (e = p_nonempty(d, v, &p->resource)))
			return "each entry needs resource: NAME";
		if ((v = map_get(d, m, "password"))) {
			if ((e = p_nonempty(d, v, &p->password)))
				return "password must be a non-empty string";
			want++;
			/* the client session's full JID travels in frames
			 * and is compared whole */
			if (strlen(p->jid) + 1 + strlen(p->resource) > 500)
				return "jid/resource is too long for a client "
				       "session (500 bytes)";
			for (size_t j = 0; j + 1 < c->presence.nphones; j++) {
				const struct cfg_presphone *o =
					&c->presence.phones[j];
				if (o->password && !strcmp(o->jid, p->jid) &&
				    !strcmp(o->resource, p->resource))
					return "two entries with a password "
					       "sign in as the same "
					       "jid/resource";
			}
		}
		if ((size_t)(m->data.mapping.pairs.top -
			     m->data.mapping.pairs.start) != want)
			return "each entry must be {sip, jid, resource"
			       "[, password]}";
	}
	return NULL;
}


static const struct key keys[] = {
	{"xmpp.component", p_nonempty, OFF(xmpp.component), 1},
	{"xmpp.host", p_host, OFF(xmpp.host), 0},
	{"xmpp.port", p_port, OFF(xmpp.port), 0},
	{"xmpp.secret", p_nonempty, OFF(xmpp.secret), 1},
	{"xmpp.domains", p_domains, OFF(xmpp.domains), 1},
	{"xmpp.reconnect_backoff_ms", p_ms_pair, OFF(xmpp.reconnect_ms), 0},
	{"sip.listen", p_listen, OFF(sip.listen), 1},
	{"sip.transport", p_transport, OFF(sip.transport), 0},
	{"sip.proxy", p_opt_nexthop, OFF(sip.proxy), 0},
	{"sip.dns_servers", p_dns_servers, OFF(sip.dns_servers), 0},
	{"sip.local_host", p_nonempty, OFF(sip.local_host), 0},
	{"sip.sdp_origin", p_ipaddr, OFF(sip.sdp_origin), 0},
	{"sip.domain", p_nonempty, OFF(sip.domain), 1},
	{"sip.trusted", p_trusted, OFF(sip.trusted), 0},
	{"sip.allowed_domains", p_allowed, OFF(sip.allowed_domains), 0},
	{"sip.username_to_phone", p_phones, OFF(sip.phones), 0},
	{"sip.message_timeout_ms", p_u32, OFF(sip.message_timeout_ms), 0},
	{"sip.t1_ms", p_t1, OFF(sip.t1_ms), 0},
	{"sip.ring_timeout_ms", p_u32, OFF(sip.ring_timeout_ms), 0},
	{"sip.propose_timeout_ms", p_u32, OFF(sip.propose_timeout_ms), 0},
	{"sip.candidate_wait_ms", p_u32, OFF(sip.candidate_wait_ms), 0},
	{"sip.call_idle_timeout_s", p_u32, OFF(sip.call_idle_timeout_s), 0},
	{"sip.request_wait_ms", p_u32, OFF(sip.request_wait_ms), 0},
	{"sip.phone_transport", p_phone_transport, OFF(sip.phone_raw_udp), 0},
	{"store.path", p_nonempty, OFF(store.path), 1},
	{"store.map_size", p_size, OFF(store.map_size), 0},
	{"store.sync", p_sync, OFF(store.sync_periodic), 0},
	{"store.sync_interval_ms", p_sync_ms, OFF(store.sync_interval_ms), 0},
	{"store.message_retain_s", p_retain, OFF(store.message_retain_s), 0},
	{"runtime.dir", p_nonempty, OFF(runtime.dir), 1},
	{"sip.register_retry_ms", p_ms_pair, OFF(sip.register_retry_ms), 0},
	{"supervisor.restart_backoff_ms", p_ms_pair,
	 OFF(supervisor.restart_backoff_ms), 0},
	{"supervisor.heartbeat_ms", p_u32, OFF(supervisor.heartbeat_ms), 0},
	{"supervisor.max_deaths", p_u32, OFF(supervisor.max_deaths), 0},
	{"supervisor.death_window_s", p_u32, OFF(supervisor.death_window_s), 0},
	{"supervisor.ready_timeout_ms", p_u32, OFF(supervisor.ready_timeout_ms),
	 0},
	{"supervisor.shutdown_grace_ms", p_u32,
	 OFF(supervisor.shutdown_grace_ms), 0},
	{"supervisor.cpus", p_cpus, OFF(supervisor.cpus), 0},
	{"presence.server", p_opt_nexthop, OFF(presence.server), 0},
	{"presence.phones", p_presphones, OFF(presence.phones), 0},
	{"presence.keepalive_max_s", p_u32, OFF(presence.keepalive_max_s), 0},
	{"presence.subscribe_expires_s", p_u32,
	 OFF(presence.subscribe_expires_s), 0},
	{"presence.client_server", p_opt_hostport, OFF(presence.client_server),
	 0},
	{"presence.client_tls", p_client_tls, OFF(presence.client_tls), 0},
	{"msrp.listen", p_listen, OFF(msrp.listen), 0},
	{"msrp.session_timeout_s", p_u32, OFF(msrp.session_timeout_s), 0},
	{"msrp.message_timeout_s", p_u32, OFF(msrp.message_timeout_s), 0},
	{"msrp.cleanup_interval_s", p_u32, OFF(msrp.cleanup_interval_s), 0},
	{"log.level", p_level, OFF(log.level), 0},
	{"log.format", p_format, OFF(log.json), 0},
	{"log.bodies", p_bool, OFF(log.bodies), 0},
};


static void set_defaults(struct xsgw_config *c)
{
	c->xmpp.port = 5347;
	c->xmpp.reconnect_ms[0] = 100;
	c->xmpp.reconnect_ms[1] = 5000;
	c->sip.transport = SIP_TP_UDP;
	c->sip.message_timeout_ms = 32000;
	c->sip.ring_timeout_ms = 60000;
	c->sip.request_wait_ms = 30000;
	c->sip.t1_ms = 500;
	c->sip.propose_timeout_ms = 5000;
	c->sip.candidate_wait_ms = 1000;
	c->sip.call_idle_timeout_s = 4 * 3600;
	c->store.map_size = 256ULL << 20;
	c->store.sync_interval_ms = 1000;
	c->store.message_retain_s = 300;
	c->sip.register_retry_ms[0] = 30000;
	c->sip.register_retry_ms[1] = 1800000;
	c->supervisor.restart_backoff_ms[0] = 50;
	c->supervisor.restart_backoff_ms[1] = 5000;
	c->supervisor.heartbeat_ms = 1000;
	c->supervisor.max_deaths = 10;
	c->supervisor.death_window_s = 60;
	c->supervisor.ready_timeout_ms = 10000;
	c->supervisor.shutdown_grace_ms = 5000;
	c->presence.keepalive_max_s = 3600; /* perl-bosh max_inactivity */
	c->presence.subscribe_expires_s = 3600;
	c->presence.client_tls = 1;
	c->msrp.session_timeout_s = 43200; /* OpenSIPS msrp_gateway's */
	c->msrp.message_timeout_s = 7200;
	c->msrp.cleanup_interval_s = 60;
	c->log.level = 2;
}


static int fail(char *eb, size_t sz, const char *file, yaml_node_t *n,
		const char *key, const char *why)
{
	snprintf(eb, sz, "%s:%zu:%zu: %s: %s", file,
		 n ? n->start_mark.line + 1 : 0,
		 n ? n->start_mark.column + 1 : 0, key, why);
	return EINVAL;
}


static int walk(struct xsgw_config *c, yaml_document_t *d, char *eb, size_t sz)
{
	yaml_node_t *root = yaml_document_get_root_node(d);
	unsigned char seen[sizeof(keys) / sizeof(keys[0])] = {0};
	yaml_node_pair_t *sp, *kp;
	char path[128];

	if (!root)
		return fail(eb, sz, c->file, NULL, "(document)", "empty file");
	if (root->type != YAML_MAPPING_NODE)
		return fail(eb, sz, c->file, root, "(document)",
			    "expected a mapping of sections");

	for (sp = root->data.mapping.pairs.start;
	     sp < root->data.mapping.pairs.top; sp++) {
		yaml_node_t *sk = yaml_document_get_node(d, sp->key);
		yaml_node_t *sv = yaml_document_get_node(d, sp->value);
		const char *sname = scalar(sk);
		size_t sl;
		int known = 0;

		if (!sname)
			return fail(eb, sz, c->file, sk, "(section)",
				    "expected a section name");
		sl = strlen(sname);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known |= !strncmp(keys[i].path, sname, sl) &&
				 keys[i].path[sl] == '.';
		if (!known)
			return fail(eb, sz, c->file, sk, sname,
				    "unknown section");
		if (sv->type != YAML_MAPPING_NODE)
			return fail(eb, sz, c->file, sv, sname,
				    "expected a mapping");
		for (kp = sv->data.mapping.pairs.start;
		     kp < sv->data.mapping.pairs.top; kp++) {
			yaml_node_t *kk = yaml_document_get_node(d, kp->key);
			yaml_node_t *kv = yaml_document_get_node(d, kp->value);
			const char *kname = scalar(kk), *why;
			size_t i;

			snprintf(path, sizeof(path), "%s.%s", sname,
				 kname ? kname : "?");
			for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (!strcmp(keys[i].path, path))
					break;
			if (!kname || i == sizeof(keys) / sizeof(keys[0]))
				return fail(eb, sz, c->file, kk, path,
					    "unknown key");
			if (seen[i])
				return fail(eb, sz, c->file, kk, path,
					    "duplicate key");
			seen[i] = 1;
			why = keys[i].fn(d, kv, (char *)c + keys[i].off);
			if (why)
				return fail(eb, sz, c->file, kv, path, why);
		}
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].required && !seen[i])
			return fail(eb, sz, c->file, root, keys[i].path,
				    "required key is missing");
	return 0;
}


/* Defaults that depend on other keys. */
static int finish(struct xsgw_config *c, char *eb, size_t sz)
{
	if (!c->xmpp.host && !(c->xmpp.host = strdup("127.0.0.1")))
		return ENOMEM;
	if (!c->sip.local_host &&
	    !(c->sip.local_host = strdup(c->sip.listen.host)))
		return ENOMEM;
	if (!c->sip.sdp_origin &&
	    !(c->sip.sdp_origin = strdup(c->sip.local_host)))
		return ENOMEM;
	for (size_t i = 0; i < c->presence.nphones; i++) {
		/* a name would be looked up inside the event loop */
		if (c->presence.phones[i].password &&
		    !c->presence.client_server.port) {
			snprintf(eb, sz,
				 "%s: presence.client_server: required when a "
				 "phone has a password (the numeric host:port "
				 "of the XMPP server's client port)",
				 c->file);
			return EINVAL;
		}
	}
	/* Timer F (64 * T1): a MESSAGE retransmitted until then must still
	 * find its record, or it is delivered twice */
	if (1000ULL * c->store.message_retain_s < 64ULL * c->sip.t1_ms) {
		snprintf(eb, sz,
			 "%s: store.message_retain_s: %u s is shorter than "
			 "Timer F (64 x sip.t1_ms = %u s)",
			 c->file, c->store.message_retain_s,
			 (64 * c->sip.t1_ms + 999) / 1000);
		return EINVAL;
	}
	if (!c->sip.trusted) {
		c->sip.trusted = calloc(2, sizeof(struct cfg_net));
		if (!c->sip.trusted)
			return ENOMEM;
		/* default: loopback only */
		c->sip.trusted[0].addr[0] = 127;
		c->sip.trusted[0].prefix = 8;
		c->sip.trusted[1].v6 = 1;
		c->sip.trusted[1].addr[15] = 1;
		c->sip.trusted[1].prefix = 128;
		c->sip.ntrusted = 2;
	}
	return 0;
}


int config_load(struct xsgw_config **cfgp, const char *path, char *eb,
		size_t sz)
{
	struct xsgw_config *c;
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *f;
	int err;

	f = fopen(path, "rb");
	if (!f) {
		err = errno;
		snprintf(eb, sz, "%s: %s", path, strerror(err));
		return err;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->file = strdup(path))) {
		fclose(f);
		free(c);
		return ENOMEM;
	}
	set_defaults(c);
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(eb, sz, "%s:%zu:%zu: (syntax): %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "YAML error");
		yaml_parser_delete(&parser);
		fclose(f);
		config_free(c);
		return EINVAL;
	}
	err = walk(c, &doc, eb, sz);
	if (!err)
		err = finish(c, eb, sz);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (err)
		config_free(c);
	else
		*cfgp = c;
	return err;
}


void config_free(struct xsgw_config *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->xmpp.component);
	free(c->xmpp.host);
	free(c->xmpp.secret);
	for (size_t i = 0; i < c->xmpp.ndomains; i++)
		free(c->xmpp.domains[i]);
	free(c->xmpp.domains);
	free(c->sip.local_host);
	free(c->sip.sdp_origin);
	free(c->sip.domain);
	free(c->sip.trusted);
	free(c->sip.dns_servers);
	for (size_t i = 0; i < c->sip.nallowed; i++)
		free(c->sip.allowed_domains[i]);
	free(c->sip.allowed_domains);
	for (size_t i = 0; i < c->sip.nphones; i++) {
		free(c->sip.phones[i].username);
		free(c->sip.phones[i].phone);
	}
	free(c->sip.phones);
	for (size_t i = 0; i < c->presence.nphones; i++) {
		free(c->presence.phones[i].sip);
		free(c->presence.phones[i].jid);
		free(c->presence.phones[i].resource);
		free(c->presence.phones[i].password);
	}
	free(c->presence.phones);
	free(c->store.path);
	free(c->runtime.dir);
	free(c);
}
