/**
 * @file rerand.c  libre's randomness, from the kernel a block at a time.
 *
 * libre 1.1.0 draws every random value through OpenSSL's DRBG (RAND_bytes:
 * a locked cipher re-keying per call), and sip_msg_decode draws two for
 * each message it decodes (the tag of a reply it might send). That was 15 %
 * of the sip-front's CPU per call and 5 % of the translator's (perf, issue
 * 13). The programs that link libre define its two primitives here, over
 * random_u64()'s getrandom(2) pool, and export them (Makefile:
 * LIBRE_RAND); the dynamic linker then binds libre's own calls to them
 * (rand_u16, rand_u64, rand_str and rand_char reach these through libre's
 * PLT; scripts/check-symbols.sh checks that it still does). Same source of
 * entropy as the gateway's own unguessable ids; no value is handed out
 * twice; a forked child never reuses its parent's (util.c).
 */
#include <string.h>
#include <sys/random.h>
#include "util.h"

uint32_t rand_u32(void);
void rand_bytes(uint8_t *p, size_t size);


/** 32 random bits (libre's contract: any value, 0 included). */
uint32_t rand_u32(void)
{
	return (uint32_t)random_u64();
}


/** size random bytes at p. Large requests go to the kernel directly. */
void rand_bytes(uint8_t *p, size_t size)
{
	if (!p)
		return;
	if (size > 256) {
		ssize_t n;
		while (size && (n = getrandom(p, size, 0)) > 0) {
			p += n;
			size -= (size_t)n;
		}
		if (!size)
			return;
	}
	while (size) {
		uint64_t v = random_u64();
		size_t k = size < sizeof(v) ? size : sizeof(v);
		memcpy(p, &v, k);
		p += k;
		size -= k;
	}
}
