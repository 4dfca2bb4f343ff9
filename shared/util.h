/**
 * @file util.h  Small helpers shared by every process.
 */
#ifndef XSGW_UTIL_H
#define XSGW_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** Process ids, also the index of each worker in the supervisor's table. */
enum proc_id {
	PROC_SUPERVISOR = 0,
	PROC_TRANSLATOR = 1,
	PROC_XMPP_FRONT = 2,
	PROC_SIP_FRONT = 3,
	PROC_CTL = 4,
};

/** Exit status meaning "bad configuration, do not restart" (EX_CONFIG). */
#define EXIT_CONFIG 78

const char *proc_name(enum proc_id id);

/** Monotonic milliseconds. */
uint64_t now_ms(void);
/** Wall-clock milliseconds since the epoch. */
uint64_t wall_ms(void);
/** 64 random bits from the kernel (never 0). */
uint64_t random_u64(void);
/** mkdir -p with the given mode. @return 0 or errno */
int mkdir_p(const char *path, unsigned mode);

/**
 * mkdir -p path (0700), then make sure nobody else can change what is in
 * it, whoever created it: a directory, not a symbolic link, owned by the
 * effective uid, with none of the permission bits in forbid (022: no group
 * or other write, e.g. store.path; 077: owner only, e.g. runtime.dir).
 * @param why  on failure, a reason for the operator (static string)
 * @return 0, mkdir's or lstat's errno, ENOTDIR, ELOOP (a symbolic link) or
 *         EPERM (owner or mode)
 */
int mkdir_safe(const char *path, unsigned forbid, const char **why);
/** snprintf into buf; @return 0 or ENAMETOOLONG if truncated */
int path_join(char *buf, size_t sz, const char *dir, const char *name);


/**
 * True if s[0..n) is UTF-8 made only of characters XML 1.0 allows
 * (no NUL, no C0 controls other than TAB/LF/CR, no surrogates, no
 * U+FFFE/U+FFFF, no overlong forms).
 */
int utf8_xml_valid(const char *s, size_t n);

/**
 * The length of the printable character at s (n > 0 bytes left), or 0 if
 * its first byte must be escaped before it reaches a terminal or a text
 * log: C0 controls (ESC included), DEL, C1 controls, line and paragraph
 * separators, bidirectional embeddings, overrides and isolates, bytes
 * that do not start a valid UTF-8 character.
 */
size_t utf8_printable(const char *s, size_t n);

/** Flags of str_printable(). */
enum { STR_LINES = 1 /**< keep line breaks (LF, CRLF) as LF */ };

/**
 * s[0..n) for a terminal or a text log, into buf (NUL-terminated;
 * truncated to sz, never inside an escape): printable UTF-8 as it is,
 * TAB, LF and CR as \t \n \r, every other byte that utf8_printable()
 * refuses as \xNN.
 * @return buf
 */
char *str_printable(char *buf, size_t sz, const char *s, size_t n, int flags);
#endif
