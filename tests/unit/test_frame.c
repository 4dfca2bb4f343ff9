/* Frame codec: round trips, truncation at every byte, oversize lengths,
 * unknown types, bad versions, wrong field tags and leftover bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include "frame.h"


static void build(struct fbuf *fb)
{
	frame_begin(fb, MSG_SIP_RESULT, 42);
	frame_put_u64(fb, 7);
	frame_put_u32(fb, 486);
	frame_put_cstr(fb, "Busy Here \xe2\x98\x83");
	assert_int_equal(frame_finish(fb), 0);
}


static void test_roundtrip(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	const char *s;
	size_t n, used;

	build(&fb);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(used, fb.len);
	assert_int_equal(fr.type, MSG_SIP_RESULT);
	assert_int_equal(fr.seq, 42);
	assert_int_equal(frame_get_u64(&fr), 7);
	assert_int_equal(frame_get_u32(&fr), 486);
	frame_get_str(&fr, &s, &n);
	assert_int_equal(n, strlen("Busy Here \xe2\x98\x83"));
	assert_memory_equal(s, "Busy Here \xe2\x98\x83", n);
	assert_int_equal(frame_end(&fr), 0);
	fbuf_reset(&fb);
}


static void test_truncation_every_byte(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	build(&fb);
	for (size_t i = 0; i < fb.len; i++)
		assert_int_equal(frame_parse(fb.b, i, &fr, &used), EAGAIN);
	fbuf_reset(&fb);
}


static void test_payload_truncation(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	/* a header that claims fewer payload bytes than the fields need */
	build(&fb);
	for (uint32_t l = 0; l < fb.len - FRAME_HDR_SIZE; l++) {
		fb.b[4] = l >> 24, fb.b[5] = l >> 16, fb.b[6] = l >> 8,
		fb.b[7] = l;
		assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
		(void)frame_get_u64(&fr);
		(void)frame_get_u32(&fr);
		char *s = frame_get_strdup(&fr);
		assert_int_equal(frame_end(&fr), EBADMSG);
		assert_null(s);
	}
	fbuf_reset(&fb);
}


static void test_oversize(void **state)
{
	uint8_t h[FRAME_HDR_SIZE] = {0,    FRAME_VERSION, 0x02, 0x04,
				     0x00, 0x01,          0x00, 0x01};
	struct frame fr;
	size_t used;

	/* 65537 > FRAME_MAX: refused from the header alone */
	assert_int_equal(frame_parse(h, sizeof(h), &fr, &used), EMSGSIZE);
	h[4] = 0xff, h[5] = 0xff, h[6] = 0xff, h[7] = 0xff;
	assert_int_equal(frame_parse(h, sizeof(h), &fr, &used), EMSGSIZE);
}


static void test_unknown_type_and_version(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	build(&fb);
	fb.b[2] = 0x7f;
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), EBADMSG);
	build(&fb);
	fb.b[1] = FRAME_VERSION + 1;
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), EPROTO);
	fbuf_reset(&fb);
}


static void test_leftover_and_wrong_tag(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	build(&fb);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	(void)frame_get_u64(&fr);
	assert_int_equal(frame_end(&fr), EBADMSG); /* fields left */

	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	(void)frame_get_u32(&fr); /* but it is a u64 */
	assert_int_equal(frame_end(&fr), EBADMSG);
	fbuf_reset(&fb);
}


static void test_embedded_nul(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	frame_begin(&fb, MSG_XMPP_LINK, 0);
	frame_put_str(&fb, "a\0b", 3);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_null(frame_get_strdup(&fr));
	assert_int_equal(frame_end(&fr), EBADMSG);
	fbuf_reset(&fb);
}


static void test_too_large_to_build(void **state)
{
	struct fbuf fb = {0};
	static char big[FRAME_MAX];

	frame_begin(&fb, MSG_XMPP_LINK, 0);
	frame_put_str(&fb, big, sizeof(big));
	assert_int_equal(frame_finish(&fb), EMSGSIZE);
	fbuf_reset(&fb);
}


static void test_two_frames_in_one_buffer(void **state)
{
	struct fbuf a = {0}, b = {0};
	uint8_t buf[512];
	struct frame fr;
	size_t used;

	build(&a);
	frame_begin(&b, MSG_ACK, 9);
	assert_int_equal(frame_finish(&b), 0);
	memcpy(buf, a.b, a.len);
	memcpy(buf + a.len, b.b, b.len);
	assert_int_equal(frame_parse(buf, a.len + b.len, &fr, &used), 0);
	assert_int_equal(used, a.len);
	assert_int_equal(frame_parse(buf + used, b.len, &fr, &used), 0);
	assert_int_equal(fr.type, MSG_ACK);
	assert_int_equal(fr.seq, 9);
	assert_int_equal(frame_end(&fr), 0);
	fbuf_reset(&a);
	fbuf_reset(&b);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncation_every_byte),
		cmocka_unit_test(test_payload_truncation),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_unknown_type_and_version),
		cmocka_unit_test(test_leftover_and_wrong_tag),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_too_large_to_build),
		cmocka_unit_test(test_two_frames_in_one_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
