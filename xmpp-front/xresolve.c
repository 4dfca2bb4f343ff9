/**
 * @file xresolve.c  The XMPP server's address without blocking the loop
 *                   (xresolve.h).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "log.h"
#include "resolv.h"
#include "xresolve.h"

enum {
	STAGE_MS = 5000, /* one query (A, AAAA); libre alone retries longer */
	NAME_MAX_LEN = 254,
};

struct xresolve {
	struct resolv *res;  /**< set up at the first name asked */
	struct dns_query *q; /**< libre's, while one is out */
	struct tmr tmr;      /**< bounds q */
	uint16_t type;       /**< DNS_TYPE_A, then DNS_TYPE_AAAA */
	uint16_t port;
	/** the names asked in turn: with the search domain, then as is */
	char names[2][NAME_MAX_LEN + 1];
	unsigned nnames, iname;
	xresolve_h *h;
	void *arg;
};


static void xresolve_destructor(void *arg)
{
	struct xresolve *xr = arg;

	xresolve_cancel(xr);
	mem_deref(xr->res);
}


int xresolve_alloc(struct xresolve **xrp)
{
	struct xresolve *xr = mem_zalloc(sizeof(*xr), xresolve_destructor);

	if (!xr)
		return ENOMEM;
	tmr_init(&xr->tmr);
	*xrp = xr;
	return 0;
}


void xresolve_cancel(struct xresolve *xr)
{
	tmr_cancel(&xr->tmr);
	xr->q = mem_deref(xr->q);
	xr->h = NULL;
}


bool xresolve_busy(const struct xresolve *xr)
{
	return xr->h != NULL;
}


/* The lookup ends: its handler hears err or sa (once). */
static void done(struct xresolve *xr, int err, const struct sa *sa)
{
	xresolve_h *h = xr->h;
	void *arg = xr->arg;

	xresolve_cancel(xr);
	if (h)
		h(err, sa, arg);
}


static int ask(struct xresolve *xr);
static void next_name(struct xresolve *xr);


static void answer_handler(int err, const struct dnshdr *hdr, struct list *ansl,
			   struct list *authl, struct list *addl, void *arg)
{
	struct xresolve *xr = arg;
	const struct dnsrr *rr;
	struct sa sa;
	(void)authl;
	(void)addl;

	xr->q = mem_deref(xr->q);
	if (!err && hdr->rcode != DNS_RCODE_OK &&
	    hdr->rcode != DNS_RCODE_NAME_ERR)
		err = EPROTO;
	if (err && xr->iname + 1 < xr->nnames) {
		next_name(xr); /* the search domain's failed: the name */
		return;
	}
	if (err) {
		done(xr, err, NULL);
		return;
	}
	rr = resolv_rr_find(ansl, xr->type, NULL);
	if (rr) {
		resolv_sa_of_rr(&sa, rr, xr->port);
		done(xr, 0, &sa);
		return;
	}
	/* no address of this type: AAAA next; no such name: the next name */
	if (xr->type == DNS_TYPE_A && hdr->rcode == DNS_RCODE_OK) {
		xr->type = DNS_TYPE_AAAA;
		err = ask(xr);
		if (err)
			done(xr, err, NULL);
		return;
	}
	if (xr->iname + 1 < xr->nnames)
		next_name(xr);
	else
		done(xr, ENOENT, NULL);
}


/* The next name to ask (A first); one that cannot be asked ends it. */
static void next_name(struct xresolve *xr)
{
	int err;

	tmr_cancel(&xr->tmr);
	xr->q = mem_deref(xr->q);
	xr->iname++;
	xr->type = DNS_TYPE_A;
	err = ask(xr);
	if (err)
		done(xr, err, NULL);
}


static void timeout_handler(void *arg)
{
	struct xresolve *xr = arg;

	if (xr->iname + 1 < xr->nnames)
		next_name(xr);
	else
		done(xr, ETIMEDOUT, NULL);
}


static int ask(struct xresolve *xr)
{
	int err = dnsc_query(&xr->q, resolv_dnsc(xr->res), xr->names[xr->iname],
			     xr->type, DNS_CLASS_IN, true, answer_handler, xr);

	if (!err)
		tmr_start(&xr->tmr, STAGE_MS, timeout_handler, xr);
	return err;
}


int xresolve_query(struct xresolve *xr, const struct xsgw_config *cfg,
		   const char *host, uint16_t port, struct sa *sa,
		   xresolve_h *h, void *arg)
{
	const char *domain;
	int err;

	xresolve_cancel(xr);
	if (!sa_set_str(sa, host, port))
		return 0;
	if (!xr->res) {
		err = resolv_alloc(&xr->res, cfg, "xmpp dns");
		if (err)
			return err;
	}
	if (resolv_hosts_find(xr->res, host, sa)) {
		sa_set_port(sa, port);
		return 0;
	}
	if (!resolv_dnsc(xr->res))
		return ENOENT;
	domain = resolv_domain(xr->res);
	xr->nnames = xr->iname = 0;
	/* like the system's resolver (ndots 1): a name without a dot is
	 * asked in the search domain first */
	if (!strchr(host, '.') && *domain &&
	    re_snprintf(xr->names[0], sizeof(xr->names[0]), "%s.%s", host,
			domain) > 0 &&
	    str_len(host) + str_len(domain) < NAME_MAX_LEN)
		xr->nnames++;
	if (str_len(host) > NAME_MAX_LEN)
		return ENAMETOOLONG;
	str_ncpy(xr->names[xr->nnames++], host, sizeof(xr->names[0]));
	xr->type = DNS_TYPE_A;
	xr->port = port;
	err = ask(xr);
	if (err)
		return err;
	xr->h = h;
	xr->arg = arg;
	return EINPROGRESS;
}
