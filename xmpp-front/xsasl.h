/**
 * @file xsasl.h  SASL for the phones' client sessions (RFC 6120 6): PLAIN
 *                (RFC 4616) and SCRAM-SHA-1 (RFC 5802, no channel
 *                binding). Pure functions over strings: no I/O, no state
 *                beyond struct xsasl_scram.
 *
 * Every output is the base64 text that goes into <auth/> or <response/>;
 * every input is the base64 text of a <challenge/> or <success/>.
 * The password stays in the caller's memory; nothing here logs.
 */
#ifndef XSGW_XSASL_H
#define XSGW_XSASL_H

#include <stddef.h>
#include <stdint.h>

enum { XSASL_NONCE = 24, XSASL_MAX = 1024 };

/** One SCRAM exchange. */
struct xsasl_scram {
	int step; /**< 1: client-first made, 2: client-final, 3: verified */
	char cnonce[XSASL_NONCE + 1];
	char first_bare[XSASL_MAX]; /**< client-first-message-bare */
	uint8_t server_key[20];     /**< to check the server's signature */
	char auth_msg[3 * XSASL_MAX];
};

/**
 * PLAIN's initial response: base64("" NUL user NUL password).
 * @return 0, or EOVERFLOW if it does not fit out (size n)
 */
int xsasl_plain(const char *user, const char *pass, char *out, size_t n);

/**
 * SCRAM-SHA-1's client-first message for user, with cnonce (printable, no
 * ',': the caller's random; kept in sc).
 * @return 0, EINVAL (a user with ',' or '=' is escaped; NUL-free only),
 *         EOVERFLOW
 */
int xsasl_scram_first(struct xsasl_scram *sc, const char *user,
		      const char *cnonce, char *out, size_t n);

/**
 * The client-final message for the server-first message (base64 in),
 * once, after xsasl_scram_first.
 * @return 0, EBADMSG (not a server-first message, a nonce not extending
 *         ours, an iteration count out of 1..100000 (more would stall the
 *         loop), out of order), EOVERFLOW
 */
int xsasl_scram_final(struct xsasl_scram *sc, const char *pass, const char *in,
		      char *out, size_t n);

/**
 * Check the server-final message (base64 of "v=..."; in the <success/>
 * or in a last <challenge/>), once the client-final was made.
 * @return 0 if the server proved it knows the password, else EBADMSG
 */
int xsasl_scram_verify(struct xsasl_scram *sc, const char *in);

#endif
