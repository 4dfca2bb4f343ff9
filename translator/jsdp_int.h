/**
 * @file jsdp_int.h  Helpers shared by the two halves of jsdp.
 */
#ifndef XSGW_JSDP_INT_H
#define XSGW_JSDP_INT_H

#include "jsdp.h"

bool jsdp_tok(struct pl *rest, struct pl *tok);
bool jsdp_num(const struct pl *p, uint64_t max, uint32_t *out);
void jsdp_trim(struct pl *p);
/** An SDP direction relative to its author (JSDP_INITIATOR = "author
 *  sends") made absolute. */
enum jsdp_senders jsdp_dir_to_senders(int dir, bool author_is_initiator);
/**
 * Every string of a decoded model is one the other side can carry: tokens
 * (names, ICE credentials, candidate fields, fingerprints, ...) are
 * printable ASCII without space; texts (parameter values, rtcp-fb
 * subtypes, source parameter values, SDES session parameters) are UTF-8
 * without control characters. Both decoders end with it: a value from
 * Jingle adds no line to the SDP (audit F13), a value from SDP makes no
 * XML the server refuses.
 * @param what  how eb names a content ("m-line", "<content/>")
 * @return 0 or EBADMSG (eb says which content and field, not the value)
 */
int jsdp_check(const struct jsdp *m, const char *what, char *eb, size_t ebsz);

#endif
