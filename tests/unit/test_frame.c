/* Frame codec: header layout and parsing, truncation at every byte,
 * oversize lengths, wrong versions, and the typed field getters (wrong tag,
 * short field, leftovers, embedded NUL, sticky errors). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <re.h>
#include "frame.h"
#include "msg.h"

#define SNOW "Busy Here \xe2\x98\x83"


/* A frame with one field of each kind: u64 7, u32 486, str SNOW. */
static void build(struct fbuf *fb)
{
	frame_begin(fb, MSG_OUT_DONE, 42);
	frame_put_u64(fb, 7);
	frame_put_u32(fb, 486);
	frame_put_cstr(fb, SNOW);
	assert_int_equal(frame_finish(fb), 0);
}


/* A heap copy of exactly n bytes, so that ASan sees any overread. */
static uint8_t *copy(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, b, n);
	return c;
}


static void put_len(uint8_t *h, uint32_t l)
{
	h[4] = l >> 24;
	h[5] = l >> 16;
	h[6] = l >> 8;
	h[7] = l;
}


static void test_header_layout(void **state)
{
	/* header: ver 7, type 9, len 32, seq 42; then u64 7, u32 486 and the
	 * string's tag and length (13) */
	static const uint8_t want[] = {0, 7, 0, 9,  0, 0,    0, 32, 0, 0, 0, 0,
				       0, 0, 0, 42, 2, 0,    0, 0,  0, 0, 0, 0,
				       7, 1, 0, 0,  1, 0xe6, 3, 0,  0, 0, 13};
	struct fbuf fb = {0};

	assert_int_equal(FRAME_VERSION, 7);
	assert_int_equal(MSG_OUT_DONE, 9);
	assert_int_equal(FT_U64, 2);
	assert_int_equal(FT_U32, 1);
	assert_int_equal(FT_STR, 3);
	assert_int_equal(strlen(SNOW), 13);
	build(&fb);
	assert_int_equal(fb.len, sizeof(want) + sizeof(SNOW) - 1);
	assert_memory_equal(fb.b, want, sizeof(want));
	assert_memory_equal(fb.b + sizeof(want), SNOW, sizeof(SNOW) - 1);
	fbuf_reset(&fb);
	assert_null(fb.b);
	assert_int_equal(fb.len, 0);
}


static void test_roundtrip(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	const char *s;
	size_t n, used = 0;

	build(&fb);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(used, fb.len);
	assert_int_equal(fr.ver, FRAME_VERSION);
	assert_int_equal(fr.type, MSG_OUT_DONE);
	assert_int_equal(fr.len, fb.len - FRAME_HDR_SIZE);
	assert_int_equal(fr.seq, 42);
	assert_ptr_equal(fr.p, fb.b + FRAME_HDR_SIZE);
	assert_int_equal(frame_get_u64(&fr), 7);
	assert_int_equal(frame_get_u32(&fr), 486);
	frame_get_str(&fr, &s, &n);
	assert_int_equal(n, strlen(SNOW));
	assert_memory_equal(s, SNOW, n);
	assert_ptr_equal(s, fb.b + fb.len - n); /* points into the buffer */
	assert_int_equal(fr.err, 0);
	assert_int_equal(frame_end(&fr), 0);
	fbuf_reset(&fb);
}


static void test_full_width_values(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;
	char *s;

	frame_begin(&fb, 0xfedc, UINT64_MAX - 1);
	frame_put_u32(&fb, UINT32_MAX);
	frame_put_u64(&fb, 0x0123456789abcdefULL);
	frame_put_cstr(&fb, NULL); /* written as "" */
	frame_put_str(&fb, "", 0);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	/* the type is not checked here: the channel does that */
	assert_int_equal(fr.type, 0xfedc);
	assert_true(fr.seq == UINT64_MAX - 1);
	assert_true(frame_get_u32(&fr) == UINT32_MAX);
	assert_true(frame_get_u64(&fr) == 0x0123456789abcdefULL);
	s = frame_get_strdup(&fr);
	assert_non_null(s);
	assert_string_equal(s, "");
	mem_deref(s);
	s = frame_get_strdup(&fr);
	assert_non_null(s);
	assert_string_equal(s, "");
	mem_deref(s);
	assert_int_equal(frame_end(&fr), 0);
	fbuf_reset(&fb);
}


static void test_truncation_every_byte(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used = 12345;

	build(&fb);
	for (size_t i = 0; i < fb.len; i++) {
		uint8_t *c = copy(fb.b, i);
		assert_int_equal(frame_parse(c, i, &fr, &used), EAGAIN);
		assert_int_equal(used, 12345); /* untouched */
		free(c);
	}
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
		uint8_t *c = copy(fb.b, FRAME_HDR_SIZE + l);
		char *s;

		put_len(c, l);
		assert_int_equal(frame_parse(c, FRAME_HDR_SIZE + l, &fr, &used),
				 0);
		assert_int_equal(used, FRAME_HDR_SIZE + l);
		(void)frame_get_u64(&fr);
		(void)frame_get_u32(&fr);
		s = frame_get_strdup(&fr);
		assert_null(s);
		assert_int_equal(fr.err, EBADMSG);
		assert_int_equal(frame_end(&fr), EBADMSG);
		free(c);
	}
	fbuf_reset(&fb);
}


static void test_oversize(void **state)
{
	uint8_t h[FRAME_HDR_SIZE] = {FRAME_VERSION >> 8, FRAME_VERSION & 0xff,
				     MSG_ACK >> 8, MSG_ACK & 0xff};
	struct frame fr;
	size_t used;

	/* FRAME_MAX + 1 is refused from the header alone */
	put_len(h, FRAME_MAX + 1);
	assert_int_equal(frame_parse(h, sizeof(h), &fr, &used), EMSGSIZE);
	put_len(h, UINT32_MAX);
	assert_int_equal(frame_parse(h, sizeof(h), &fr, &used), EMSGSIZE);
	/* FRAME_MAX itself is fine: only more bytes are needed */
	put_len(h, FRAME_MAX);
	assert_int_equal(frame_parse(h, sizeof(h), &fr, &used), EAGAIN);
}


static void test_max_payload(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	char *big = calloc(1, FRAME_MAX + 1);
	const char *s;
	size_t n, used;

	assert_non_null(big);
	/* a string field of FRAME_MAX - 5 bytes: the payload is FRAME_MAX */
	frame_begin(&fb, MSG_XMPP_IN, 0);
	frame_put_str(&fb, big, FRAME_MAX - 5);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(fb.len, FRAME_HDR_SIZE + FRAME_MAX);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	frame_get_str(&fr, &s, &n);
	assert_int_equal(n, FRAME_MAX - 5);
	assert_int_equal(frame_end(&fr), 0);

	/* one more byte: refused when the frame is finished */
	frame_begin(&fb, MSG_XMPP_IN, 0);
	frame_put_str(&fb, big, FRAME_MAX - 4);
	assert_int_equal(frame_finish(&fb), EMSGSIZE);
	assert_int_equal(fb.err, EMSGSIZE);

	/* a string over FRAME_MAX: refused when it is put, sticky */
	frame_begin(&fb, MSG_XMPP_IN, 0);
	assert_int_equal(fb.err, 0); /* frame_begin resets the error */
	frame_put_str(&fb, big, FRAME_MAX + 1);
	assert_int_equal(fb.err, EMSGSIZE);
	frame_put_u32(&fb, 1);
	assert_int_equal(fb.err, EMSGSIZE);
	assert_int_equal(frame_finish(&fb), EMSGSIZE);
	fbuf_reset(&fb);
	free(big);
}


static void test_finish_without_begin(void **state)
{
	struct fbuf fb = {0};

	assert_int_equal(frame_finish(&fb), EINVAL);
	fbuf_reset(&fb);
}


static void test_wrong_version(void **state)
{
	static const uint16_t bad[] = {0, FRAME_VERSION - 1, FRAME_VERSION + 1,
				       0x0100 | FRAME_VERSION, 0xffff};
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	build(&fb);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fb.b[0] = bad[i] >> 8;
		fb.b[1] = bad[i] & 0xff;
		memset(&fr, 0, sizeof(fr));
		used = 12345;
		assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), EPROTO);
		assert_int_equal(fr.ver, bad[i]);
		assert_int_equal(used, 12345);
		/* the header alone is enough to refuse it */
		assert_int_equal(frame_parse(fb.b, FRAME_HDR_SIZE, &fr, &used),
				 EPROTO);
		assert_int_equal(fr.ver, bad[i]);
	}
	/* the version is checked before the length */
	put_len(fb.b, FRAME_MAX + 1);
	assert_int_equal(frame_parse(fb.b, FRAME_HDR_SIZE, &fr, &used), EPROTO);
	fbuf_reset(&fb);
}


static void test_leftovers(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	build(&fb);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(frame_end(&fr), EBADMSG); /* nothing read */
	(void)frame_get_u64(&fr);
	(void)frame_get_u32(&fr);
	assert_int_equal(fr.err, 0);
	assert_int_equal(frame_end(&fr), EBADMSG); /* one field left */

	/* one raw byte after the last field */
	frame_begin(&fb, MSG_ACK, 0);
	frame_put_u64(&fb, 1);
	frame_put_raw(&fb, "", 1);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(frame_get_u64(&fr), 1);
	assert_int_equal(fr.err, 0);
	assert_int_equal(frame_end(&fr), EBADMSG);
	fbuf_reset(&fb);
}


static void test_wrong_tag(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	const char *s;
	size_t n, used;

	build(&fb); /* u64, u32, str */

	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(frame_get_u32(&fr), 0); /* but it is a u64 */
	assert_int_equal(fr.err, EBADMSG);
	assert_int_equal(frame_end(&fr), EBADMSG);

	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	frame_get_str(&fr, &s, &n); /* a u64 */
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	assert_int_equal(frame_end(&fr), EBADMSG);

	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	(void)frame_get_u64(&fr);
	assert_int_equal(frame_get_u64(&fr), 0); /* a u32 */
	assert_int_equal(frame_end(&fr), EBADMSG);

	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	(void)frame_get_u64(&fr);
	(void)frame_get_u32(&fr);
	assert_int_equal(frame_get_u32(&fr), 0); /* a str */
	assert_int_equal(frame_end(&fr), EBADMSG);

	/* an unknown tag byte */
	fb.b[FRAME_HDR_SIZE] = 0x7f;
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(frame_get_u64(&fr), 0);
	assert_int_equal(frame_end(&fr), EBADMSG);
	fbuf_reset(&fb);
}


static void test_sticky_error(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	/* u32 1, u64 2: read as u64 first, then the right getters */
	frame_begin(&fb, MSG_HELLO, 0);
	frame_put_u32(&fb, 1);
	frame_put_u64(&fb, 2);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	(void)frame_get_u64(&fr);
	assert_int_equal(fr.err, EBADMSG);
	assert_int_equal(frame_get_u32(&fr), 0); /* would be 1 */
	assert_int_equal(frame_get_u64(&fr), 0);
	assert_int_equal(fr.pos, 0);
	assert_int_equal(frame_end(&fr), EBADMSG);
	fbuf_reset(&fb);
}


static void test_short_field(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	const char *s;
	size_t n, used;

	/* a string whose length says more than the payload has */
	frame_begin(&fb, MSG_XMPP_IN, 0);
	frame_put_str(&fb, "abcd", 4);
	assert_int_equal(frame_finish(&fb), 0);
	fb.b[FRAME_HDR_SIZE + 4] = 5;
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	frame_get_str(&fr, &s, &n);
	assert_int_equal(fr.err, EBADMSG);
	assert_int_equal(n, 0);
	assert_string_equal(s, "");
	assert_int_equal(frame_end(&fr), EBADMSG);

	/* a length near 2^32 must not wrap the bounds check */
	fb.b[FRAME_HDR_SIZE + 1] = 0xff;
	fb.b[FRAME_HDR_SIZE + 2] = 0xff;
	fb.b[FRAME_HDR_SIZE + 3] = 0xff;
	fb.b[FRAME_HDR_SIZE + 4] = 0xff;
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	frame_get_str(&fr, &s, &n);
	assert_int_equal(fr.err, EBADMSG);
	assert_int_equal(n, 0);
	assert_int_equal(frame_end(&fr), EBADMSG);

	/* u32 and u64 values cut short: the tag is there, the bytes not */
	frame_begin(&fb, MSG_ACK, 0);
	frame_put_u64(&fb, 1);
	assert_int_equal(frame_finish(&fb), 0);
	for (uint32_t l = 1; l < 9; l++) {
		uint8_t *c = copy(fb.b, FRAME_HDR_SIZE + l);
		put_len(c, l);
		assert_int_equal(frame_parse(c, FRAME_HDR_SIZE + l, &fr, &used),
				 0);
		assert_int_equal(frame_get_u64(&fr), 0);
		assert_int_equal(frame_end(&fr), EBADMSG);
		free(c);
	}
	frame_begin(&fb, MSG_XMPP_LINK, 0);
	frame_put_u32(&fb, 1);
	assert_int_equal(frame_finish(&fb), 0);
	for (uint32_t l = 1; l < 5; l++) {
		uint8_t *c = copy(fb.b, FRAME_HDR_SIZE + l);
		put_len(c, l);
		assert_int_equal(frame_parse(c, FRAME_HDR_SIZE + l, &fr, &used),
				 0);
		assert_int_equal(frame_get_u32(&fr), 0);
		assert_int_equal(frame_end(&fr), EBADMSG);
		free(c);
	}
	fbuf_reset(&fb);
}


static void test_embedded_nul(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	const char *s;
	size_t n, used;

	frame_begin(&fb, MSG_XMPP_IN, 0);
	frame_put_str(&fb, "a\0b", 3);
	assert_int_equal(frame_finish(&fb), 0);

	/* frame_get_str gives the bytes as they are */
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	frame_get_str(&fr, &s, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "a\0b", 3);
	assert_int_equal(frame_end(&fr), 0);

	/* frame_get_strdup refuses them */
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_null(frame_get_strdup(&fr));
	assert_int_equal(fr.err, EBADMSG);
	assert_int_equal(frame_end(&fr), EBADMSG);

	/* also a NUL as the last byte */
	frame_begin(&fb, MSG_XMPP_IN, 0);
	frame_put_str(&fb, "ab\0", 3);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_null(frame_get_strdup(&fr));
	assert_int_equal(frame_end(&fr), EBADMSG);
	fbuf_reset(&fb);
}


static void test_strdup(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;
	char *s;

	frame_begin(&fb, MSG_XMPP_IN, 0);
	frame_put_cstr(&fb, SNOW);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	s = frame_get_strdup(&fr);
	assert_non_null(s);
	assert_string_equal(s, SNOW);
	assert_ptr_not_equal(s, fb.b + FRAME_HDR_SIZE + 5); /* a copy */
	assert_int_equal(frame_end(&fr), 0);
	mem_deref(s);
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
	assert_int_equal(fr.type, MSG_OUT_DONE);
	assert_int_equal(frame_parse(buf + used, b.len, &fr, &used), 0);
	assert_int_equal(used, FRAME_HDR_SIZE);
	assert_int_equal(fr.type, MSG_ACK);
	assert_int_equal(fr.seq, 9);
	assert_int_equal(fr.len, 0);
	assert_int_equal(frame_end(&fr), 0);
	fbuf_reset(&a);
	fbuf_reset(&b);
}


static void test_begin_resets(void **state)
{
	struct fbuf fb = {0};
	struct frame fr;
	size_t used;

	build(&fb);
	frame_begin(&fb, MSG_ACK, 1);
	frame_put_u64(&fb, 5);
	assert_int_equal(frame_finish(&fb), 0);
	assert_int_equal(fb.len, FRAME_HDR_SIZE + 9);
	assert_int_equal(frame_parse(fb.b, fb.len, &fr, &used), 0);
	assert_int_equal(fr.type, MSG_ACK);
	assert_int_equal(fr.len, 9);
	assert_int_equal(frame_get_u64(&fr), 5);
	assert_int_equal(frame_end(&fr), 0);
	fbuf_reset(&fb);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_full_width_values),
		cmocka_unit_test(test_truncation_every_byte),
		cmocka_unit_test(test_payload_truncation),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_max_payload),
		cmocka_unit_test(test_finish_without_begin),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_leftovers),
		cmocka_unit_test(test_wrong_tag),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_short_field),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_strdup),
		cmocka_unit_test(test_two_frames_in_one_buffer),
		cmocka_unit_test(test_begin_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
