/**
 * @file resolv.c  The hosts file and the DNS client of a front (resolv.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <re.h>
#include "log.h"
#include "resolv.h"

enum {
	HOSTS_MAX = 4096,      /* names read from the hosts file */
	HOSTS_CHECK_MS = 1000, /* its mtime looked at this often */
	SERVERS_MAX = 8,
};

const char resolv_hosts_path[] = "/etc/hosts";

struct hent {
	struct le he;
	char *name;
	struct sa sa;
};

struct resolv {
	struct dnsc *dnsc; /**< NULL: no DNS server known */
	char domain[256];  /**< resolv.conf's search domain, or "" */
	struct hash *hosts;
	struct timespec hosts_mtime;
	uint64_t hosts_checked;
};


static void hent_destructor(void *arg)
{
	mem_deref(((struct hent *)arg)->name);
}


static bool hent_match(struct le *le, void *arg)
{
	return !str_casecmp(((struct hent *)le->data)->name, arg);
}


/* "address name [alias...]", '#' comments; the first address a name has
 * wins (as in the file's order). */
static void hosts_read(struct resolv *r)
{
	char line[1024];
	struct stat st;
	uint32_t n = 0;
	FILE *f;

	hash_flush(r->hosts);
	f = fopen(resolv_hosts_path, "r");
	if (!f)
		return;
	if (!fstat(fileno(f), &st))
		r->hosts_mtime = st.st_mtim;
	while (fgets(line, sizeof(line), f) && n < HOSTS_MAX) {
		char *save = NULL, *tok, *hash = strchr(line, '#');
		struct sa sa;

		if (hash)
			*hash = 0;
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok || sa_set_str(&sa, tok, 0))
			continue;
		while ((tok = strtok_r(NULL, " \t\r\n", &save)) &&
		       n < HOSTS_MAX) {
			struct hent *h;

			if (hash_lookup(r->hosts, hash_joaat_str_ci(tok),
					hent_match, tok))
				continue;
			h = mem_zalloc(sizeof(*h), hent_destructor);
			if (!h || str_dup(&h->name, tok)) {
				mem_deref(h);
				break;
			}
			h->sa = sa;
			hash_append(r->hosts, hash_joaat_str_ci(tok), &h->he,
				    h);
			n++;
		}
	}
	fclose(f);
}


bool resolv_hosts_find(struct resolv *r, const char *name, struct sa *sa)
{
	const uint64_t now = tmr_jiffies();
	struct hent *h;
	struct stat st;

	if (now - r->hosts_checked >= HOSTS_CHECK_MS) {
		r->hosts_checked = now;
		if (!stat(resolv_hosts_path, &st) &&
		    (st.st_mtim.tv_sec != r->hosts_mtime.tv_sec ||
		     st.st_mtim.tv_nsec != r->hosts_mtime.tv_nsec))
			hosts_read(r);
	}
	h = list_ledata(hash_lookup(r->hosts, hash_joaat_str_ci(name),
				    hent_match, (void *)name));
	if (!h)
		return false;
	*sa = h->sa;
	return true;
}


const struct dnsrr *resolv_rr_find(struct list *l, uint16_t type,
				   const char *name)
{
	for (struct le *le = list_head(l); le; le = le->next) {
		const struct dnsrr *rr = le->data;

		if (rr->type == type && (!name || !str_casecmp(rr->name, name)))
			return rr;
	}
	return NULL;
}


void resolv_sa_of_rr(struct sa *sa, const struct dnsrr *rr, uint16_t port)
{
	if (rr->type == DNS_TYPE_A)
		sa_set_in(sa, rr->rdata.a.addr, port);
	else
		sa_set_in6(sa, rr->rdata.aaaa.addr, port);
}


struct dnsc *resolv_dnsc(const struct resolv *r)
{
	return r->dnsc;
}


const char *resolv_domain(const struct resolv *r)
{
	return r->domain;
}


static void resolv_destructor(void *arg)
{
	struct resolv *r = arg;

	hash_flush(r->hosts);
	mem_deref(r->hosts);
	mem_deref(r->dnsc);
}


int resolv_alloc(struct resolv **rp, const struct xsgw_config *cfg,
		 const char *who)
{
	struct sa srvv[SERVERS_MAX], sysv[SERVERS_MAX];
	uint32_t n = 0, nsys = SERVERS_MAX;
	struct resolv *r;
	int err;

	r = mem_zalloc(sizeof(*r), resolv_destructor);
	if (!r)
		return ENOMEM;
	err = hash_alloc(&r->hosts, 256);
	if (err)
		goto out;
	hosts_read(r);
	r->hosts_checked = tmr_jiffies();
	for (size_t i = 0; i < cfg->sip.ndns_servers && n < SERVERS_MAX; i++)
		if (!sa_set_str(&srvv[n], cfg->sip.dns_servers[i].host,
				cfg->sip.dns_servers[i].port))
			n++;
	/* the search domain is the system's even with servers configured */
	if (dns_srv_get(r->domain, sizeof(r->domain), sysv, &nsys)) {
		nsys = 0;
		r->domain[0] = 0;
	}
	if (!cfg->sip.ndns_servers) {
		memcpy(srvv, sysv, sizeof(srvv));
		n = nsys;
	}
	if (n && (err = dnsc_alloc(&r->dnsc, NULL, srvv, n))) {
		/* libre opens an IPv6 socket too: a kernel without IPv6 */
		log_warn("%s: no resolver (%s): host names resolve from %s "
			 "only",
			 who, strerror(err), resolv_hosts_path);
		err = 0;
	} else if (n) {
		log_info("%s: %u server(s), the first %J", who, n, &srvv[0]);
	} else {
		log_warn("%s: no server (sip.dns_servers, /etc/resolv.conf): "
			 "host names resolve from %s only",
			 who, resolv_hosts_path);
	}
out:
	if (err)
		mem_deref(r);
	else
		*rp = r;
	return err;
}
