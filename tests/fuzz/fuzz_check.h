/**
 * @file fuzz_check.h  What every libFuzzer target here shares: its entry
 *                     point's prototype and CHECK, an invariant that
 *                     aborts (libFuzzer reports the input) when it fails.
 */
#ifndef XSGW_FUZZ_CHECK_H
#define XSGW_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#endif
