/**
 * @file log.h  One log for every process: text or JSON lines on stderr,
 *              each tagged with the process name and pid. Formats are
 *              libre's (re_printf): %r for a struct pl, %J for a struct sa.
 */
#ifndef XSGW_LOG_H
#define XSGW_LOG_H

#include <stdarg.h>

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

/** Log at error level and exit(code). Start-up failures only. */
void fatal(int code, const char *fmt, ...) __attribute__((noreturn));

/** @return true if lines at lvl are emitted. */
int log_enabled(enum log_level lvl);

#endif
