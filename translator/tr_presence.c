/**
 * @file tr_presence.c  Presence of local users: which resources are online
 *                      (they are rung for a call), and subscriptions from
 *                      the served domains, which the gateway approves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "presrec.h"
#include "translator.h"
#include "util.h"
#include "xmpp_util.h"


bool tr_presence_served(const struct xsgw_config *cfg, const char *bare)
{
	const char *at = strchr(bare, '@');

	for (size_t i = 0; at && i < cfg->xmpp.ndomains; i++)
		if (!strcasecmp(at + 1, cfg->xmpp.domains[i]))
			return true;
	return false;
}


void tr_presence_in(struct translator *tr, xmpp_stanza_t *st)
{
	const char *from = xu_attr(st, "from"), *type = xu_attr(st, "type");
	const char *slash = strchr(from, '/');
	struct presrec pr = {.seen_ms = wall_ms()};
	struct fbuf fb = {0};
	uint8_t k[KEY_MAX];
	char bare[512];
	xmpp_stanza_t *p;
	size_t kl;

	xu_bare(from, bare, sizeof(bare));
	if (!tr_presence_served(tr->proc.cfg, bare))
		return;
	if (!strcmp(type, "subscribe")) {
		/* §6.0: approve subscriptions from the served domains */
		tr_xmpp_subscribed(tr, xu_attr(st, "to"), bare);
		return;
	}
	if (!slash || (*type && strcmp(type, "unavailable")))
		return;
	kl = key_presence(k, sizeof(k), bare, slash + 1);
	if (!kl)
		return; /* a JID too long to be a key: never rung */
	if (!strcmp(type, "unavailable")) {
		(void)store_del(tr_txn(tr), DB_PRESENCE, k, kl);
		return;
	}
	p = xmpp_stanza_get_child_by_name(st, "priority");
	if (p) {
		char *t = xmpp_stanza_get_text(p);
		pr.priority = t ? atoi(t) : 0;
		if (t)
			xmpp_free(tr->xctx, t);
	}
	/* what SIP watchers are told (tr_watch.c) */
	p = xmpp_stanza_get_child_by_name(st, "show");
	if (p) {
		char *t = xmpp_stanza_get_text(p);
		presrec_set_show(&pr, t);
		if (t)
			xmpp_free(tr->xctx, t);
	}
	p = xmpp_stanza_get_child_by_name(st, "status");
	if (p) {
		char *t = xmpp_stanza_get_text(p);
		presrec_set_status(&pr, t);
		if (t)
			xmpp_free(tr->xctx, t);
	}
	if (!presrec_encode(&fb, &pr))
		store_put(tr_txn(tr), DB_PRESENCE, k, kl, fb.b, fb.len);
	fbuf_reset(&fb);
}


struct online {
	uint8_t prefix[KEY_MAX];
	size_t pl;
	char *list; /* full JIDs, one per line */
	unsigned n;
};


static bool online_visit(const void *k, size_t kl, const void *v, size_t vl,
			 void *arg)
{
	struct online *c = arg;
	struct presrec pr;
	struct pl bare, res;
	char *l = NULL;

	if (kl < c->pl || memcmp(k, c->prefix, c->pl) ||
	    key_presence_parse(k, kl, &bare, &res))
		return false;
	if (presrec_decode(&pr, v, vl) || pr.priority < 0)
		return true; /* RFC 6121 §4.7.2.3: never for routing */
	if (re_sdprintf(&l, "%s%r/%r\n", c->list ? c->list : "", &bare, &res))
		return false;
	mem_deref(c->list);
	c->list = l;
	c->n++;
	return true;
}


unsigned tr_presence_online(struct translator *tr, const char *bare,
			    char **list)
{
	struct online c = {0};

	*list = NULL;
	c.pl = key_presence_prefix(c.prefix, sizeof(c.prefix), bare);
	if (!c.pl)
		return 0;
	store_scan(tr_txn(tr), DB_PRESENCE, c.prefix, c.pl, online_visit, &c);
	*list = c.list;
	return c.n;
}


void tr_presence_forget(struct translator *tr, const char *full)
{
	const char *slash = strchr(full, '/');
	uint8_t k[KEY_MAX];
	char bare[512];
	size_t kl;

	if (!slash)
		return;
	xu_bare(full, bare, sizeof(bare));
	kl = key_presence(k, sizeof(k), bare, slash + 1);
	if (kl && !store_del(tr_txn(tr), DB_PRESENCE, k, kl))
		log_info("%s is gone (its server said so): forgotten", full);
}
