/**
 * @file tr_owner.c  Outcomes and expiries go to the owner's handler by the
 *                   owner's kind, through one table: nothing is routed by
 *                   probing which record an id might belong to.
 */
#include <re.h>
#include "log.h"
#include "translator.h"

static const struct {
	const char *name;
	void (*outcome)(struct translator *tr, uint64_t id,
			const struct tr_outcome *oc);
	void (*expired)(struct translator *tr, uint64_t id);
	bool (*wants)(struct translator *tr, uint64_t id);
} owners[OWN_COUNT] = {
	[OWN_NONE] = {"none", NULL, NULL, NULL},
	[OWN_MSG] = {"msg", tr_msg_outcome, tr_msg_expired, tr_msg_wants},
	/* a call's last stanzas and requests are staged as it is dropped:
	 * they are owed after it; its INVITE goes with it (tr_callrec_drop) */
	[OWN_CALL] = {"call", tr_call_outcome, tr_call_expired, NULL},
	/* a REGISTER is owed only while its account exists */
	[OWN_REG] = {"reg", tr_reg_outcome, tr_reg_expired, tr_reg_wants},
	[OWN_PHONE] = {"phone", NULL, tr_phone_expired, NULL},
	/* a SUBSCRIBE is owed only while its subscription exists */
	[OWN_SUB] = {"sub", tr_sub_outcome, tr_sub_expired, tr_sub_wants},
	/* a NOTIFY is owed only while its watcher exists */
	[OWN_WATCH] = {"watch", tr_watch_outcome, tr_watch_expired,
		       tr_watch_wants},
};


bool tr_owner_wants(struct translator *tr, struct tr_owner owner)
{
	if (owner.kind < OWN_COUNT && owners[owner.kind].wants)
		return owners[owner.kind].wants(tr, owner.id);
	return true; /* fire and forget: a reply is always owed */
}


void tr_owner_outcome(struct translator *tr, struct tr_owner owner,
		      const struct tr_outcome *oc)
{
	if (owner.kind < OWN_COUNT && owners[owner.kind].outcome)
		owners[owner.kind].outcome(tr, owner.id, oc);
}


void tr_owner_expired(struct translator *tr, enum owner_kind kind, uint64_t id)
{
	if (kind < OWN_COUNT && owners[kind].expired)
		owners[kind].expired(tr, id);
	else
		log_warn("deadline of an unknown owner (kind %u, id %llu)",
			 kind, (unsigned long long)id);
}


void tr_owner_done(struct translator *tr, enum proc_id front,
		   const struct m_out_done *m)
{
	struct tr_outcome oc = {.response = false};
	struct tr_owner owner;
	char reason[128];

	if (tr_out_take(tr, front, m->out, true, &owner))
		return; /* done already (a replayed report) */
	pl_strcpy(&m->reason, reason, sizeof(reason));
	oc.out = m->out;
	oc.scode = m->scode;
	oc.reason = reason;
	tr_owner_outcome(tr, owner, &oc);
}
