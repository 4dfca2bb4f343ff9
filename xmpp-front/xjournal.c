/**
 * @file xjournal.c  The component stream's journal in a memfd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "xjournal.h"

#define XJ_MAGIC 0x78736a3100000001ULL /* "xsj1", layout 1 */

/* The memfd's layout; one writer at a time. head and cur_len are
 * published last (release stores): a reader sees a whole entry or none. */
struct xj_map {
	uint64_t magic;
	uint64_t stream;
	uint32_t state;
	uint32_t hdr_len;
	char hdr[XJ_HDR_MAX];
	uint64_t skip;    /* 1 + where an oversize stanza being dropped as it
			     is parsed began; 0: none */
	uint64_t head;    /* entries ever recorded; ring[(head-1) % XJ_RING]
			     is the newest */
	uint64_t cur_len; /* bytes of the newest entry kept in cur; 0: none */
	struct xj_ent ring[XJ_RING];
	char cur[XJ_CUR_MAX];
};

struct xjournal {
	int fd;
	struct xj_map *m;
};


static int map(struct xjournal **jp, int fd)
{
	struct xjournal *j = calloc(1, sizeof(*j));
	void *p;

	if (!j)
		return ENOMEM;
	p = mmap(NULL, sizeof(struct xj_map), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		free(j);
		return errno;
	}
	j->fd = fd;
	j->m = p;
	*jp = j;
	return 0;
}


int xjournal_create(struct xjournal **jp, uint64_t stream)
{
	int fd, err;

	fd = memfd_create("xsgw-xmpp-journal", MFD_CLOEXEC);
	if (fd < 0)
		return errno;
	if (ftruncate(fd, sizeof(struct xj_map))) {
		err = errno;
		goto out;
	}
	err = map(jp, fd);
	if (err)
		goto out;
	(*jp)->m->stream = stream;
	(*jp)->m->state = XJ_HANDSHAKE;
	__atomic_store_n(&(*jp)->m->magic, XJ_MAGIC, __ATOMIC_RELEASE);
	return 0;
out:
	close(fd);
	return err;
}


int xjournal_open(struct xjournal **jp, int fd)
{
	struct stat st;
	int err;

	if (fstat(fd, &st) || st.st_size != (off_t)sizeof(struct xj_map))
		return EINVAL;
	err = map(jp, fd);
	if (err)
		return err;
	if (__atomic_load_n(&(*jp)->m->magic, __ATOMIC_ACQUIRE) != XJ_MAGIC) {
		munmap((*jp)->m, sizeof(struct xj_map));
		free(*jp);
		*jp = NULL;
		return EINVAL;
	}
	return 0;
}


void xjournal_close(struct xjournal *j)
{
	if (!j)
		return;
	munmap(j->m, sizeof(struct xj_map));
	close(j->fd);
	free(j);
}


int xjournal_fd(const struct xjournal *j)
{
	return j->fd;
}


uint64_t xjournal_stream(const struct xjournal *j)
{
	return j->m->stream;
}


enum xj_state xjournal_state(const struct xjournal *j)
{
	return (enum xj_state)__atomic_load_n(&j->m->state, __ATOMIC_ACQUIRE);
}


void xjournal_set_state(struct xjournal *j, enum xj_state st)
{
	__atomic_store_n(&j->m->state, (uint32_t)st, __ATOMIC_RELEASE);
}


int xjournal_set_header(struct xjournal *j, const char *hdr, size_t len)
{
	if (len > XJ_HDR_MAX)
		return EMSGSIZE;
	memcpy(j->m->hdr, hdr, len);
	__atomic_store_n(&j->m->hdr_len, (uint32_t)len, __ATOMIC_RELEASE);
	return 0;
}


const char *xjournal_header(const struct xjournal *j, size_t *lenp)
{
	*lenp = __atomic_load_n(&j->m->hdr_len, __ATOMIC_ACQUIRE);
	return *lenp ? j->m->hdr : NULL;
}


int xjournal_begin(struct xjournal *j, uint64_t id, uint64_t start,
		   const char *xml, size_t len)
{
	struct xj_map *m = j->m;
	uint64_t head = m->head;
	bool keep = len <= XJ_CUR_MAX;

	__atomic_store_n(&m->cur_len, 0, __ATOMIC_RELEASE);
	m->ring[head % XJ_RING] = (struct xj_ent){id, start, len};
	if (keep)
		memcpy(m->cur, xml, len);
	__atomic_store_n(&m->head, head + 1, __ATOMIC_RELEASE);
	if (keep)
		__atomic_store_n(&m->cur_len, len, __ATOMIC_RELEASE);
	return keep ? 0 : EMSGSIZE;
}


uint64_t xjournal_count(const struct xjournal *j)
{
	return j->m->head;
}


bool xjournal_keeps(const struct xjournal *j, uint64_t mark)
{
	uint64_t head = j->m->head;

	/* recover names the newest XJ_RING - 1 entries: after one more
	 * (head + 1 of them) entry mark - 1 must still be one */
	return !mark || mark > head || head - mark <= XJ_RING - 3;
}


bool xjournal_last(const struct xjournal *j, struct xj_ent *e,
		   const char **xmlp)
{
	const struct xj_map *m = j->m;
	uint64_t head = __atomic_load_n(&m->head, __ATOMIC_ACQUIRE);
	uint64_t cl = __atomic_load_n(&m->cur_len, __ATOMIC_ACQUIRE);

	if (!head)
		return false;
	*e = m->ring[(head - 1) % XJ_RING];
	*xmlp = cl && cl == e->len ? m->cur : NULL;
	return true;
}


static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}


void xjournal_set_skip(struct xjournal *j, bool on, uint64_t start)
{
	__atomic_store_n(&j->m->skip, on ? start + 1 : 0, __ATOMIC_RELEASE);
}


bool xjournal_skip(const struct xjournal *j, uint64_t *startp)
{
	uint64_t v = __atomic_load_n(&j->m->skip, __ATOMIC_ACQUIRE);

	*startp = v ? v - 1 : 0;
	return v != 0;
}


int xjournal_recover(struct xjournal *j, uint64_t written, uint64_t *ids,
		     struct xj_found *f)
{
	struct xj_map *m = j->m;
	uint64_t head = __atomic_load_n(&m->head, __ATOMIC_ACQUIRE);
	uint64_t n;
	struct xj_ent last;

	/* entries at or past written never reached the kernel: forget them,
	 * or a later successor would count them written once other stanzas
	 * fill their place */
	while (head && m->ring[(head - 1) % XJ_RING].start >= written)
		head--;
	if (head != m->head) {
		/* cur held the bytes of an entry forgotten */
		__atomic_store_n(&m->cur_len, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&m->head, head, __ATOMIC_RELEASE);
	}
	/* the oldest slot may be half overwritten by a writer that died */
	n = head < XJ_RING - 1 ? head : XJ_RING - 1;
	memset(f, 0, sizeof(*f));
	for (uint64_t i = 0; i < n; i++) {
		const struct xj_ent *e = &m->ring[(head - n + i) % XJ_RING];
		if (e->id && e->start + e->len <= written)
			ids[f->nids++] = e->id;
	}
	qsort(ids, f->nids, sizeof(*ids), u64_cmp);
	/* only the newest can be torn: one stanza is written at a time */
	if (!xjournal_last(j, &last, &f->bytes) || last.start >= written ||
	    written >= last.start + last.len) {
		f->bytes = NULL;
		return 0;
	}
	f->torn = last;
	f->done = (size_t)(written - last.start);
	return f->bytes ? 0 : EMSGSIZE;
}
