/**
 * @file log.h  One log for every process: text or JSON lines on stderr,
 *              each tagged with the process name and pid. Formats are
 *              libre's (re_printf): %r for a struct pl, %J for a struct sa.
 */
#ifndef XSGW_LOG_H
#define XSGW_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/**
 * Set the process name shown on every line.
 * @param name  static string, e.g. "translator"
 */
void log_procinit(const char *name);

/**
 * Set level and format.
 * @param level  lines above this level are dropped
 * @param json   true for one JSON object per line
 */
void log_setup(enum log_level level, int json);

/** Route libre's dbg output into this log. */
void log_libre_attach(void);

void log_error(const char *fmt, ...);
void log_warn(const char *fmt, ...);
void log_info(const char *fmt, ...);
void log_debug(const char *fmt, ...);
void log_vlog(enum log_level lvl, const char *fmt, va_list ap);

/** A call site's budget for lines a peer can cause (a flood of bad input
 *  must not fill the disk): zero-initialised, one per site (LOG_LIMITED). */
struct log_limit {
	uint64_t win;      /**< the second counted (monotonic ms / 1000) */
	unsigned n;        /**< lines emitted in it */
	unsigned left_out; /**< lines dropped since the last emitted */
};

enum { LOG_LIMIT_PER_S = 10 };

/**
 * Count a line against ll at time now_ms (monotonic). @return true if it
 * may go (at most LOG_LIMIT_PER_S a second); then *left_outp is how many
 * were dropped before it (the caller says so), else 0.
 */
bool log_limit_pass(struct log_limit *ll, uint64_t now_ms, unsigned *left_outp);

/** log_vlog within ll's budget: a line after dropped ones first says how
 *  many were left out. */
void log_limited(struct log_limit *ll, enum log_level lvl, const char *fmt,
		 ...);

/** A line a peer can cause, at most LOG_LIMIT_PER_S a second from this
 *  call site. */
#define LOG_LIMITED(lvl, ...)                                                  \
	do {                                                                   \
		static struct log_limit ll_;                                   \
		log_limited(&ll_, (lvl), __VA_ARGS__);                         \
	} while (0)

/** Log at error level and exit(code). Start-up failures only. */
void fatal(int code, const char *fmt, ...) __attribute__((noreturn));

/** @return true if lines at lvl are emitted. */
int log_enabled(enum log_level lvl);

#endif
