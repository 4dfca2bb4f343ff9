/* libFuzzer: XML stanzas in the translator. Every event of the input
 * (tr_harness.h) is the stanza of a MSG_XMPP_IN (tr_from_xmpp: presence,
 * messages and XEP-0184/0353, Jingle IQs and their SDP conversion, replies
 * to our IQs, disco#info, ping, jabber:iq:register and presence to the
 * component for SIP accounts), against a store holding a call in every
 * state, messages in flight and a SIP account in every registration
 * state; what the translator stages for the fronts must be well-formed
 * (decodable frames, one-line SIP headers, parsable stanzas). */
#include <stddef.h>
#include <stdint.h>
#include "tr_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	trh_run(data, size, TRH_XMPP);
	return 0;
}
