/**
 * @file util.c  Small helpers shared by every process.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "util.h"


const char *proc_name(enum proc_id id)
{
	static const char *names[] = {"supervisor", "translator", "xmpp-front",
				      "sip-front", "xsgwctl"};

	return (unsigned)id < sizeof(names) / sizeof(names[0]) ? names[id]
							       : "?";
}


uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


/* Kernel randomness (getrandom), fetched a block at a time: one syscall per
 * 512 values instead of one per value. A forked child must not hand out
 * the parent's unused values: fork empties the child's block. */
static uint64_t pool[512];
static size_t left;


static void pool_forget(void)
{
	left = 0;
}


uint64_t random_u64(void)
{
	static bool atfork;
	uint64_t v = 0;

	if (!atfork) {
		atfork = !pthread_atfork(NULL, NULL, pool_forget);
		left = 0;
	}
	while (!v) {
		if (!left) {
			if (getrandom(pool, sizeof(pool), 0) == sizeof(pool))
				left = sizeof(pool) / sizeof(pool[0]);
			else
				return ((uint64_t)time(NULL) ^
					((uint64_t)clock() << 32)) |
				       1;
		}
		v = pool[--left];
		pool[left] = 0; /* a value is handed out once */
	}
	return v;
}


int mkdir_p(const char *path, unsigned mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return errno;
	return 0;
}


int mkdir_safe(const char *path, unsigned forbid, const char **why)
{
	struct stat st;
	const char *r;
	int err;

	err = mkdir_p(path, 0700);
	if (!err && lstat(path, &st) < 0)
		err = errno;
	if (err) {
		r = strerror(err);
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		err = ELOOP;
		r = "is a symbolic link (name the directory itself)";
	} else if (!S_ISDIR(st.st_mode)) {
		err = ENOTDIR;
		r = "not a directory";
	} else if (st.st_uid != geteuid()) {
		err = EPERM;
		r = "owned by another user (chown it to the service's user)";
	} else if (st.st_mode & forbid & 022) {
		err = EPERM;
		r = "group or others may write to it (chmod go-w)";
	} else if (st.st_mode & forbid) {
		err = EPERM;
		r = "group or others may use it (chmod 0700)";
	} else {
		return 0;
	}
out:
	if (why)
		*why = r;
	return err;
}


int path_join(char *buf, size_t sz, const char *dir, const char *name)
{
	int n = snprintf(buf, sz, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= sz ? ENAMETOOLONG : 0;
}


int utf8_xml_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		uint32_t c = s[i];
		size_t len, k;

		if (c < 0x80)
			len = 1;
		else if ((c & 0xe0) == 0xc0)
			len = 2, c &= 0x1f;
		else if ((c & 0xf0) == 0xe0)
			len = 3, c &= 0x0f;
		else if ((c & 0xf8) == 0xf0)
			len = 4, c &= 0x07;
		else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
		    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
			return 0; /* overlong or out of range */
		if ((c < 0x20 && c != 0x9 && c != 0xa && c != 0xd) ||
		    (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
			return 0;
		i += len;
	}
	return 1;
}


size_t utf8_printable(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c = s[0];
	size_t len, k;

	if (c < 0x80)
		return c >= 0x20 && c != 0x7f;
	if ((c & 0xe0) == 0xc0)
		len = 2, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		len = 3, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		len = 4, c &= 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[k] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0; /* overlong, out of range, a surrogate */
	if (c < 0xa0 || c == 0x2028 || c == 0x2029 ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
		return 0;
	return len;
}


char *str_printable(char *buf, size_t sz, const char *s, size_t n, int flags)
{
	size_t o = 0, i = 0, len;

	if (!sz)
		return buf;
	while (i < n) {
		const unsigned char c = (unsigned char)s[i];
		char e[5];
		size_t el;

		if (flags & STR_LINES &&
		    (c == '\n' ||
		     (c == '\r' && i + 1 < n && s[i + 1] == '\n'))) {
			i += c == '\r' ? 2 : 1;
			memcpy(e, "\n", 1);
			el = 1;
		} else if ((len = utf8_printable(s + i, n - i))) {
			if (o + len >= sz)
				break;
			memcpy(buf + o, s + i, len);
			o += len;
			i += len;
			continue;
		} else {
			i++;
			if (c == '\t' || c == '\n' || c == '\r') {
				e[0] = '\\';
				e[1] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
				el = 2;
			} else {
				snprintf(e, sizeof(e), "\\x%02x", c);
				el = 4;
			}
		}
		if (o + el >= sz)
			break;
		memcpy(buf + o, e, el);
		o += el;
	}
	buf[o] = '\0';
	return buf;
}
