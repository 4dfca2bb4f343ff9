/* libFuzzer: the frame decoder and the message and call record decoders. */
#include <stddef.h>
#include <stdint.h>
#include <re.h>
#include "callrec.h"
#include "frame.h"
#include "msgrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame fr;
	struct msgrec r;
	struct callrec c;
	size_t used, off = 0;

	while (off < size && !frame_parse(data + off, size - off, &fr, &used)) {
		for (int i = 0; i < 12 && !fr.err; i++) {
			char *s = frame_get_strdup(&fr);
			mem_deref(s);
			(void)frame_get_u32(&fr);
			(void)frame_get_u64(&fr);
		}
		(void)frame_end(&fr);
		off += used;
	}
	if (!msgrec_decode(&r, data, size))
		msgrec_reset(&r);
	if (!callrec_decode(&c, data, size))
		callrec_reset(&c);
	return 0;
}
