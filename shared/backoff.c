/**
 * @file backoff.c  Backoff delay and death tally.
 */
#include "backoff.h"


uint32_t backoff_delay(uint32_t first, uint32_t max, unsigned n, uint32_t rnd)
{
	uint64_t d = first;

	for (unsigned i = 0; i < n && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* jitter: d * (0.5 + 0.5 * rnd / 2^32) */
	d = d / 2 + ((d / 2) * (uint64_t)rnd >> 32);
	return d ? (uint32_t)d : 1;
}


unsigned tally_add(struct tally *t, uint64_t now_ms, uint64_t window_ms)
{
	const unsigned cap = sizeof(t->at) / sizeof(t->at[0]);
	unsigned cnt = 0;

	t->at[t->head] = now_ms;
	t->head = (t->head + 1) % cap;
	if (t->n < cap)
		t->n++;
	for (unsigned i = 0; i < t->n; i++)
		if (now_ms - t->at[i] < window_ms)
			cnt++;
	return cnt;
}
