/* Restart policy functions: capped jittered backoff, death tally. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "backoff.h"


static void test_delay(void **state)
{
	for (unsigned n = 0; n < 40; n++) {
		uint64_t full = 50ULL << (n < 20 ? n : 20);
		if (full > 5000)
			full = 5000;
		/* jitter keeps it within [full/2, full] */
		assert_true(backoff_delay(50, 5000, n, 0) >= full / 2);
		assert_true(backoff_delay(50, 5000, n, 0xffffffffu) <= full);
		assert_true(backoff_delay(50, 5000, n, 0x80000000u) >=
			    full / 2);
	}
	assert_int_equal(backoff_delay(1, 1, 1000, 0), 1);
}


static void test_tally(void **state)
{
	struct tally t = {0};

	assert_int_equal(tally_add(&t, 1000, 60000), 1);
	assert_int_equal(tally_add(&t, 2000, 60000), 2);
	assert_int_equal(tally_add(&t, 70000, 60000), 1); /* old ones left */
	for (int i = 0; i < 100; i++)
		tally_add(&t, 80000 + i, 60000);
	/* the ring holds 64: still counts what it holds */
	assert_int_equal(tally_add(&t, 80200, 60000), 64);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_tally),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
