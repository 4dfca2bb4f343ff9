/**
 * @file backoff.h  Restart and reconnect policy: capped, jittered
 *                  exponential delay and a death tally. Pure functions.
 */
#ifndef XSGW_BACKOFF_H
#define XSGW_BACKOFF_H

#include <stdint.h>

/**
 * Delay before attempt n (0 = first retry):
 * min(max, first * 2^n) scaled by a jitter factor in [0.5, 1.0].
 * @param rnd  a random 32-bit value (the jitter source)
 */
uint32_t backoff_delay(uint32_t first, uint32_t max, unsigned n, uint32_t rnd);

/** Deaths inside a sliding window (s6-permafailon). */
struct tally {
	uint64_t at[64]; /**< ring of death times, ms */
	unsigned n;      /**< entries used */
	unsigned head;
};

/**
 * Record a death at now_ms.
 * @return the number of deaths within the last window_ms, this one included
 */
unsigned tally_add(struct tally *t, uint64_t now_ms, uint64_t window_ms);

#endif
