/* libFuzzer: SIP in the translator. Every event of the input (tr_harness.h)
 * is the raw bytes of a MSG_SIP_IN_REQUEST (tr_from_sip_request), or of a
 * MSG_SIP_IN_RESPONSE (tr_from_sip_response) when it starts with
 * "SIP/2.0 ", against a store holding a call in every state, messages
 * in flight and SIP accounts in every registration state (REGISTERs in
 * flight: 401/407/423/2xx reach tr_reg and tr_digest); what the translator
 * stages for the fronts must be well-formed (decodable frames, one-line
 * headers, parsable stanzas). */
#include <stddef.h>
#include <stdint.h>
#include "tr_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	trh_run(data, size, TRH_SIP);
	return 0;
}
