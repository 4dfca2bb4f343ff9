/**
 * @file log.c  Logging to stderr (text or JSON lines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <re.h>
#define DEBUG_MODULE "log"
#define DEBUG_LEVEL  5
#include <re_dbg.h>
#include "log.h"
#include "util.h"

static struct {
	const char *name;
	enum log_level level;
	int json;
} lg = {"xsgw", LOG_INFO, 0};

static const char *lvl_name[] = {"error", "warn", "info", "debug"};


void log_procinit(const char *name)
{
	lg.name = name;
}


void log_setup(enum log_level level, int json)
{
	lg.level = level;
	lg.json = json;
}


int log_enabled(enum log_level lvl)
{
	return lvl <= lg.level;
}


/* Peer bytes reach log lines (JIDs, SIP headers, reason phrases): nothing
 * that a terminal would act on, nothing that breaks a line, in either
 * format (see utf8_printable). */
static void json_escape(FILE *f, const char *s)
{
	size_t n = strlen(s), i = 0, len;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if ((len = utf8_printable(s + i, n - i))) {
			fwrite(s + i, 1, len, f);
			i += len;
			continue;
		} else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fprintf(f, "\\\\x%02x", c);
		i++;
	}
}


void log_vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048], esc[4 * sizeof(msg)], ts[80];
	struct timespec now;
	struct tm tm;

	if (lvl > lg.level)
		return;
	re_vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	if (lg.json) {
		fprintf(stderr,
			"{\"ts\":\"%s\",\"proc\":\"%s\",\"pid\":%d,"
			"\"level\":\"%s\",\"msg\":\"",
			ts, lg.name, (int)getpid(), lvl_name[lvl]);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %s[%d] %s: %s\n", ts, lg.name,
			(int)getpid(), lvl_name[lvl],
			str_printable(esc, sizeof(esc), msg, strlen(msg), 0));
	}
	fflush(stderr);
}


static void log_at(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(lvl, fmt, ap);
	va_end(ap);
}


#define LOG_FN(fn, lvl)                                                        \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vlog(lvl, fmt, ap);                                        \
		va_end(ap);                                                    \
	}
LOG_FN(log_error, LOG_ERROR)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)


bool log_limit_pass(struct log_limit *ll, uint64_t now_ms, unsigned *left_outp)
{
	uint64_t win = now_ms / 1000;

	*left_outp = 0;
	if (win != ll->win) {
		ll->win = win;
		ll->n = 0;
	}
	if (ll->n >= LOG_LIMIT_PER_S) {
		if (ll->left_out < UINT32_MAX)
			ll->left_out++;
		return false;
	}
	ll->n++;
	*left_outp = ll->left_out;
	ll->left_out = 0;
	return true;
}


void log_limited(struct log_limit *ll, enum log_level lvl, const char *fmt, ...)
{
	unsigned left_out;
	va_list ap;

	if (lvl > lg.level || !log_limit_pass(ll, now_ms(), &left_out))
		return;
	if (left_out)
		log_at(lvl,
		       "(%u line(s) like the next left out: at most %u a "
		       "second)",
		       left_out, (unsigned)LOG_LIMIT_PER_S);
	va_start(ap, fmt);
	log_vlog(lvl, fmt, ap);
	va_end(ap);
}


void fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}


static void dbg_print_handler(int level, const char *p, size_t len, void *arg)
{
	enum log_level l = level <= DBG_ERR       ? LOG_ERROR
			   : level <= DBG_WARNING ? LOG_WARN
			   : level <= DBG_INFO    ? LOG_INFO
						  : LOG_DEBUG;
	(void)arg;
	while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		--len;
	log_at(l, "libre: %b", p, len);
}


void log_libre_attach(void)
{
	dbg_init(DBG_INFO, DBG_NONE);
	dbg_handler_set(dbg_print_handler, NULL);
}
