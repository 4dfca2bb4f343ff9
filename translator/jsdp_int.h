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

#endif
