/**
 * @file tr_regrec.c  Registration records: load/save, their keys, and a
 *                    linked account as calls and messages use it (its
 *                    AOR, next hop and credentials).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "keys.h"
#include "log.h"
#include "regrec.h"
#include "translator.h"
#include "util.h"


int tr_regrec_load(struct translator *tr, uint64_t id, struct regrec *r)
{
	const void *v;
	size_t vl;

	if (tr_rec_get(tr, DB_REG, id, &v, &vl))
		return ENOENT;
	if (regrec_decode(r, v, vl)) {
		log_warn("registration %llu: undecodable record",
			 (unsigned long long)id);
		return EBADMSG;
	}
	return 0;
}


void tr_regrec_save(struct translator *tr, uint64_t id, struct regrec *r)
{
	struct fbuf fb = {0};

	r->updated = wall_ms();
	tr_rec_put(tr, DB_REG, id, &fb, regrec_encode(&fb, r));
}


uint64_t tr_regrec_key_get(struct translator *tr, enum regkey_kind kind,
			   const char *v)
{
	uint8_t k[KEY_MAX];
	const void *val;
	size_t kl = key_regkey(k, sizeof(k), kind, v), vl;

	if (!kl || store_get(tr_txn(tr), DB_REGKEY, k, kl, &val, &vl) ||
	    vl != 8)
		return 0;
	return be64_get(val);
}


void tr_regrec_key_put(struct translator *tr, enum regkey_kind kind,
		       const char *v, uint64_t id)
{
	uint8_t k[KEY_MAX], b[8];
	size_t kl = key_regkey(k, sizeof(k), kind, v);

	be64_put(b, id);
	if (kl)
		store_put(tr_txn(tr), DB_REGKEY, k, kl, b, sizeof(b));
}


void tr_regrec_key_del(struct translator *tr, enum regkey_kind kind,
		       const char *v)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_regkey(k, sizeof(k), kind, v);

	if (kl)
		(void)store_del(tr_txn(tr), DB_REGKEY, k, kl);
}


int tr_account_of_jid(struct translator *tr, const char *bare, struct regrec *r,
		      uint64_t *id)
{
	uint64_t i = tr_regrec_key_get(tr, RK_JID, bare);

	if (!i || tr_regrec_load(tr, i, r))
		return ENOENT;
	if (r->state == RS_UNLINKING || r->state == RS_LINKING) {
		/* not (yet, or any more) the user's: calls go as before */
		regrec_reset(r);
		return ENOENT;
	}
	if (id)
		*id = i;
	return 0;
}


uint64_t tr_account_jid_of_contact(struct translator *tr, const struct pl *user,
				   char *jid, size_t sz)
{
	struct regrec r;
	char u[64];
	uint64_t id;

	if (!user->l || user->l >= sizeof(u))
		return 0;
	pl_strcpy(user, u, sizeof(u));
	id = tr_regrec_key_get(tr, RK_CONTACT, u);
	if (!id || tr_regrec_load(tr, id, &r))
		return 0;
	str_ncpy(jid, r.jid, sz);
	regrec_reset(&r);
	return id;
}


char *tr_account_next_hop(const struct regrec *r)
{
	char *s = NULL;

	if (*r->proxy)
		(void)re_sdprintf(&s, "sip:%s;lr", r->proxy);
	return s;
}


int tr_account_credentials(const struct regrec *r, struct mbuf *mb,
			   const struct sip_msg *resp, const char *method,
			   const char *uri, bool *stale)
{
	struct tr_cred cred = {r->auth_user, r->password, r->ha1};
	char user[128];
	struct uri u;
	struct pl pl;

	if (!*r->auth_user) {
		pl_set_str(&pl, r->aor);
		if (uri_decode(&u, &pl) || u.user.l >= sizeof(user))
			return EINVAL;
		pl_strcpy(&u.user, user, sizeof(user));
		cred.user = user;
	}
	return tr_digest_answer(mb, resp, &cred, method, uri, stale);
}


int tr_account_target(const struct regrec *r, const char *uri, char *out,
		      size_t sz)
{
	struct uri a, t;
	struct pl pa, pt;

	pl_set_str(&pa, r->aor);
	pl_set_str(&pt, uri);
	if (uri_decode(&a, &pa) || uri_decode(&t, &pt))
		return EINVAL;
	if (a.port)
		return re_snprintf(out, sz, "sip:%r@%r:%u%r", &t.user, &a.host,
				   a.port, &t.params) < 0
			       ? ENAMETOOLONG
			       : 0;
	return re_snprintf(out, sz, "sip:%r@%r%r", &t.user, &a.host,
			   &t.params) < 0
		       ? ENAMETOOLONG
		       : 0;
}
