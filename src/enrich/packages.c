#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "enrich/packages.h"
#include "lib/clock.h"
#include "lib/err.h"

#define MAX_TOKEN 255		/* package name, architecture, version */
#define SLOT_EMPTY UINT32_MAX
#define OFF_DIV 0x80000000u	/* slot path lives in the diversions buffer */
#define MIN_SLOTS 4096u

static const char STATUS_PATH[] = "var/lib/dpkg/status";
static const char INFO_PATH[] = "var/lib/dpkg/info";
static const char DIVERSIONS_PATH[] = "var/lib/dpkg/diversions";

/* The path is found by hash first; off is into the arena, or (OFF_DIV set)
 * into the diversions buffer for a path that exists only as a divert-to. */
struct slot {
	uint32_t hash;
	uint32_t off;
	uint32_t pkg;	/* SLOT_EMPTY: free slot */
};

struct pkg_ent {
	uint32_t name;		/* in pool */
	uint32_t version;	/* in pool */
};

/* One immutable snapshot of the database; a reload builds a new one. */
struct index {
	char *arena;		/* unique paths, NUL-terminated */
	size_t arena_len;
	size_t arena_cap;
	struct slot *slots;
	uint32_t mask;		/* slot count - 1 */
	uint32_t used;
	struct pkg_ent *pkgs;
	uint32_t npkgs;
	uint32_t pkgs_cap;
	char *pool;		/* names and versions, NUL-terminated */
	size_t pool_len;
	size_t pool_cap;
	char *div_buf;		/* the diversions file, fields NUL-terminated */
	size_t div_len;
	uint64_t diversions;
};

/* What the status file was at the last load attempt. */
struct stamp {
	int err;		/* 0, or why it could not be stat'ed */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct packages {
	char *root;
	uint64_t key[2];	/* hash key: paths come from containers */
	uint32_t recheck_ms;
	bool attempted;
	uint64_t checked_ms;
	struct stamp stamp;
	struct index idx;
	struct packages_stats st;
	char last_err[256];
};

/* Status stanza while loading; strings point into the status buffer. */
struct stanza {
	const char *name;
	const char *arch;	/* "" when absent */
	const char *version;	/* NULL when absent or not installed */
	uint32_t seq;
};

struct diversion {
	uint32_t hash;
	uint32_t from, to, by;	/* in div_buf */
};

/* Load-time state: the index being built and the tables only loading needs. */
struct builder {
	struct packages *p;
	struct index idx;
	struct stanza *stanzas;
	uint32_t nstanzas;
	struct diversion *divs;
	uint32_t ndivs;
	uint32_t *div_slots;	/* index into divs + 1; 0 = free */
	uint32_t div_mask;
	uint64_t long_lines, bad_lines;
	size_t list_bytes;
	char *err;
	size_t errlen;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* SipHash-1-3, keyed per object: a container could otherwise fill its .list
 * files with paths chosen to collide and turn loading quadratic. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                    \
	do {                                                                        \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);            \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                               \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                               \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);            \
	} while (0)

static uint32_t hash_path(const uint64_t key[2], const char *s, size_t len)
{
	const unsigned char *in = (const unsigned char *)s;
	uint64_t v0 = 0x736f6d6570736575ull ^ key[0], v1 = 0x646f72616e646f6dull ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ key[0], v3 = 0x7465646279746573ull ^ key[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, end = len & ~(size_t)7;

	for (i = 0; i < end; i += 8) {
		memcpy(&m, in + i, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[end + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	b = v0 ^ v1 ^ v2 ^ v3;
	return (uint32_t)(b ^ (b >> 32));
}

/* A package name, architecture or version: printable ASCII without blanks,
 * as dpkg allows, so nothing odd reaches an event. */
static bool valid_token(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MAX_TOKEN)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	}
	return true;
}

static void index_free(struct index *x)
{
	free(x->arena);
	free(x->slots);
	free(x->pkgs);
	free(x->pool);
	free(x->div_buf);
	memset(x, 0, sizeof(*x));
}

static uint64_t index_memory(const struct index *x)
{
	return x->arena_cap + (x->slots ? ((uint64_t)x->mask + 1) * sizeof(struct slot) : 0) +
	       (uint64_t)x->pkgs_cap * sizeof(struct pkg_ent) + x->pool_cap + x->div_len;
}

static const char *slot_path(const struct index *x, const struct slot *s)
{
	return s->off & OFF_DIV ? x->div_buf + (s->off & ~OFF_DIV) : x->arena + s->off;
}

/* The slot holding path, or the free slot where it belongs. */
static struct slot *index_probe(const struct index *x, const char *path, size_t len, uint32_t h)
{
	uint32_t i = h & x->mask;
	struct slot *s;

	for (;; i = (i + 1) & x->mask) {
		s = &x->slots[i];
		if (s->pkg == SLOT_EMPTY)
			return s;
		/* strncmp stops at the stored path's NUL, so it never reads past it */
		if (s->hash == h && strncmp(slot_path(x, s), path, len) == 0 &&
		    slot_path(x, s)[len] == '\0')
			return s;
	}
}

static int index_grow(struct index *x)
{
	uint32_t n = x->slots ? (x->mask + 1) * 2 : MIN_SLOTS, i, j;
	struct slot *ns = malloc((size_t)n * sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	memset(ns, 0xff, (size_t)n * sizeof(*ns));
	for (i = 0; x->slots && i <= x->mask; i++) {
		if (x->slots[i].pkg == SLOT_EMPTY)
			continue;
		for (j = x->slots[i].hash & (n - 1); ns[j].pkg != SLOT_EMPTY; j = (j + 1) & (n - 1))
			;
		ns[j] = x->slots[i];
	}
	free(x->slots);
	x->slots = ns;
	x->mask = n - 1;
	return 0;
}

/* Ensures one more path fits under a load factor of 0.7. */
static int index_reserve(struct builder *b)
{
	struct index *x = &b->idx;

	if (x->used >= PACKAGES_MAX_PATHS) {
		err_set(b->err, b->errlen, "more than %u unique paths in the .list files; refused",
			PACKAGES_MAX_PATHS);
		return -E2BIG;
	}
	if (!x->slots || (uint64_t)(x->used + 1) * 10 > (uint64_t)(x->mask + 1) * 7)
		return index_grow(x);
	return 0;
}

static int pool_add(struct index *x, const char *s, size_t n, uint32_t *off)
{
	size_t ncap;
	char *np;

	if (x->pool_len + n + 1 > x->pool_cap) {
		ncap = x->pool_cap ? x->pool_cap * 2 : 4096;
		while (ncap < x->pool_len + n + 1)
			ncap *= 2;
		if (ncap > UINT32_MAX)
			return -E2BIG;
		np = realloc(x->pool, ncap);
		if (!np)
			return -ENOMEM;
		x->pool = np;
		x->pool_cap = ncap;
	}
	memcpy(x->pool + x->pool_len, s, n);
	x->pool[x->pool_len + n] = '\0';
	*off = (uint32_t)x->pool_len;
	x->pool_len += n + 1;
	return 0;
}

/* --- reading files inside the root --- */

/* An O_PATH descriptor of ROOT/path with symlinks resolved inside ROOT, as
 * they resolve for the processes that live there. */
static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	/* before 5.6: refuse symlinks in the last component rather than follow
	 * them out of the root */
	if (fd < 0 && errno == ENOSYS)
		fd = openat(rootfd, path, flags | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* Opens for reading what an O_PATH fd names, only once fstat said it is a
 * regular file: opening a FIFO blocks and opening a device has side effects. */
static int reopen_regular(int pfd, struct stat *sb)
{
	char path[64];
	int fd;

	if (fstat(pfd, sb) < 0)
		return -errno;
	if (!S_ISREG(sb->st_mode))
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* Reads at most want bytes into buf; fewer when the file shrank. */
static int read_full(int fd, char *buf, size_t want, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < want) {
		r = read(fd, buf + *got, want - *got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/* Reads ROOT/path whole into a malloc'd NUL-terminated buffer. A missing
 * file is *buf = NULL and 0. */
static int read_small(struct builder *b, int rootfd, const char *path, size_t cap, char **buf,
		      size_t *len)
{
	struct stat sb;
	int pfd, fd, ret;

	*buf = NULL;
	*len = 0;
	pfd = open_in_root(rootfd, path, O_PATH);
	if (pfd == -ENOENT)
		return 0;
	if (pfd < 0) {
		err_set(b->err, b->errlen, "%s/%s: %s", b->p->root, path, strerror(-pfd));
		return pfd;
	}
	fd = reopen_regular(pfd, &sb);
	close(pfd);
	if (fd < 0) {
		err_set(b->err, b->errlen, "%s/%s: %s", b->p->root, path,
			fd == -EINVAL ? "not a regular file" : strerror(-fd));
		return fd;
	}
	if ((uint64_t)sb.st_size > cap) {
		err_set(b->err, b->errlen, "%s/%s: %lld bytes, more than the %zu allowed; refused",
			b->p->root, path, (long long)sb.st_size, cap);
		close(fd);
		return -E2BIG;
	}
	*buf = malloc((size_t)sb.st_size + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	ret = read_full(fd, *buf, (size_t)sb.st_size, len);
	close(fd);
	if (ret < 0) {
		err_set(b->err, b->errlen, "%s/%s: read: %s", b->p->root, path, strerror(-ret));
		free(*buf);
		*buf = NULL;
		return ret;
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* Next line of buf[*pos..len): *line and *n (without '\n'); false at end. */
static bool next_line(char *buf, size_t len, size_t *pos, char **line, size_t *n)
{
	char *nl;

	if (*pos >= len)
		return false;
	*line = buf + *pos;
	nl = memchr(*line, '\n', len - *pos);
	*n = nl ? (size_t)(nl - *line) : len - *pos;
	*pos += *n + (nl ? 1 : 0);
	return true;
}

/* --- status --- */

static int stanza_cmp(const void *a, const void *b)
{
	const struct stanza *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	c = strcmp(x->arch, y->arch);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A field value: leading and trailing blanks dropped, NUL-terminated in
 * place (the byte after a line is its '\n' or the buffer's NUL). */
static char *field_value(char *v, size_t n, size_t *vn)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	v[n] = '\0';
	*vn = n;
	return v;
}

/* The state word of "Status: want flag state": files are on disk in every
 * state but not-installed (config-files keeps the conffiles). */
static bool status_has_files(const char *v)
{
	const char *s = strrchr(v, ' ');

	return s && strcmp(s + 1, "not-installed") != 0;
}

static int stanza_end(struct builder *b, struct stanza *cur, bool fields, const char *status,
		      uint32_t *cap)
{
	struct stanza *ns;

	if (!cur->name) {
		if (fields)
			b->bad_lines++;	/* a stanza without Package */
		goto reset;
	}
	if (!status || !status_has_files(status))
		cur->version = NULL;
	if (b->nstanzas >= PACKAGES_MAX_PACKAGES) {
		b->bad_lines++;
		goto reset;
	}
	if (b->nstanzas == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		ns = realloc(b->stanzas, (size_t)*cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		b->stanzas = ns;
	}
	cur->seq = b->nstanzas;
	b->stanzas[b->nstanzas++] = *cur;
reset:
	memset(cur, 0, sizeof(*cur));
	cur->arch = "";
	return 0;
}

/* Parses the status buffer (kept: the stanzas point into it). Only -ENOMEM
 * fails; broken stanzas and fields are counted and skipped. */
static int parse_status(struct builder *b, char *buf, size_t len)
{
	struct stanza cur = { .arch = "" };
	const char *status = NULL;
	bool fields = false;
	size_t pos = 0, n, vn, kn;
	uint32_t cap = 0, i;
	char *line, *colon, *v;
	int ret;

	while (next_line(buf, len, &pos, &line, &n)) {
		if (n > PACKAGES_MAX_LINE) {
			b->long_lines++;
			continue;
		}
		if (n == 0 || (n == 1 && line[0] == '\r')) {
			ret = stanza_end(b, &cur, fields, status, &cap);
			if (ret)
				return ret;
			status = NULL;
			fields = false;
			continue;
		}
		if (line[0] == ' ' || line[0] == '\t')
			continue;	/* continuation of a multi-line field */
		colon = memchr(line, ':', n);
		if (!colon || colon == line) {
			b->bad_lines++;
			continue;
		}
		fields = true;
		kn = (size_t)(colon - line);
		v = field_value(colon + 1, n - kn - 1, &vn);
		if (kn == 7 && strncasecmp(line, "Package", kn) == 0) {
			if (cur.name || !valid_token(v, vn) || memchr(v, ':', vn)) {
				b->bad_lines++;
				continue;
			}
			cur.name = v;
		} else if (kn == 7 && strncasecmp(line, "Version", kn) == 0) {
			if (valid_token(v, vn) && !cur.version)
				cur.version = v;
			else
				b->bad_lines++;
		} else if (kn == 12 && strncasecmp(line, "Architecture", kn) == 0) {
			if (valid_token(v, vn))
				cur.arch = v;
			else
				b->bad_lines++;
		} else if (kn == 6 && strncasecmp(line, "Status", kn) == 0) {
			status = v;
		}
	}
	ret = stanza_end(b, &cur, fields, status, &cap);
	if (ret)
		return ret;
	if (b->nstanzas > 1)
		qsort(b->stanzas, b->nstanzas, sizeof(*b->stanzas), stanza_cmp);
	for (i = 1; i < b->nstanzas; i++) {
		if (!strcmp(b->stanzas[i].name, b->stanzas[i - 1].name) &&
		    !strcmp(b->stanzas[i].arch, b->stanzas[i - 1].arch))
			b->bad_lines++;	/* duplicate Package: the first one counts */
	}
	return 0;
}

/* The version of package name (bare, nlen bytes) for architecture arch (NULL
 * when the .list name has none: any architecture), or "". */
static const char *stanza_version(const struct builder *b, const char *name, size_t nlen,
				  const char *arch)
{
	uint32_t lo = 0, hi = b->nstanzas, mid;
	const struct stanza *s;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		s = &b->stanzas[mid];
		c = strncmp(s->name, name, nlen);
		if (c == 0 && s->name[nlen])
			c = 1;
		if (c == 0 && arch)
			c = strcmp(s->arch, arch);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* the first stanza with a version wins: dpkg reads them in file order */
	for (; lo < b->nstanzas; lo++) {
		s = &b->stanzas[lo];
		if (strncmp(s->name, name, nlen) || s->name[nlen] ||
		    (arch && strcmp(s->arch, arch)))
			break;
		if (s->version)
			return s->version;
	}
	return "";
}

/* --- diversions --- */

static const struct diversion *div_find(const struct builder *b, const char *path, size_t n,
					uint32_t h)
{
	const struct diversion *d;
	uint32_t i, v;

	if (!b->ndivs)
		return NULL;
	for (i = h & b->div_mask; (v = b->div_slots[i]) != 0; i = (i + 1) & b->div_mask) {
		d = &b->divs[v - 1];
		if (d->hash == h && strncmp(b->idx.div_buf + d->from, path, n) == 0 &&
		    b->idx.div_buf[d->from + n] == '\0')
			return d;
	}
	return NULL;
}

/* The diversions file: three lines per diversion, the diverted path, the
 * divert-to path and the diverting package (":" for a local diversion). */
static int parse_diversions(struct builder *b)
{
	char *buf = b->idx.div_buf, *l[3];
	size_t len = b->idx.div_len, pos = 0, n[3], count = 0, i, slots;
	struct diversion *d;
	uint32_t j, h;
	bool ok;

	for (i = 0, slots = 0; i < len; i++)
		slots += buf[i] == '\n';
	b->divs = calloc(slots / 3 + 1, sizeof(*b->divs));
	if (!b->divs)
		return -ENOMEM;
	while (next_line(buf, len, &pos, &l[0], &n[0])) {
		if (!next_line(buf, len, &pos, &l[1], &n[1]) ||
		    !next_line(buf, len, &pos, &l[2], &n[2])) {
			b->bad_lines++;	/* truncated last entry */
			break;
		}
		ok = true;
		for (i = 0; i < 3; i++) {
			if (n[i] > PACKAGES_MAX_LINE) {
				b->long_lines++;
				ok = false;
			} else if (n[i] == 0 || memchr(l[i], '\0', n[i]) ||
				   (i < 2 && l[i][0] != '/')) {
				b->bad_lines++;
				ok = false;
			}
		}
		if (!ok)
			continue;
		for (i = 0; i < 3; i++)
			l[i][n[i]] = '\0';
		d = &b->divs[count];
		d->from = (uint32_t)(l[0] - buf);
		d->to = (uint32_t)(l[1] - buf);
		d->by = (uint32_t)(l[2] - buf);
		d->hash = hash_path(b->p->key, l[0], n[0]);
		count++;
	}
	if (!count)
		return 0;
	for (slots = 16; slots < count * 2; slots *= 2)
		;
	b->div_slots = calloc(slots, sizeof(*b->div_slots));
	if (!b->div_slots)
		return -ENOMEM;
	b->div_mask = (uint32_t)slots - 1;
	for (i = 0; i < count; i++) {
		d = &b->divs[i];
		h = d->hash;
		if (div_find(b, buf + d->from, strlen(buf + d->from), h)) {
			b->bad_lines++;	/* diverted twice: dpkg keeps one */
			continue;
		}
		for (j = h & b->div_mask; b->div_slots[j]; j = (j + 1) & b->div_mask)
			;
		b->div_slots[j] = (uint32_t)i + 1;
		b->ndivs++;
	}
	b->idx.diversions = b->ndivs;
	return 0;
}

/* Whether the diverting package by is package bare (blen bytes); "pkg:arch"
 * in the diversions file names the same package. */
static bool div_by(const char *by, const char *bare, size_t blen)
{
	size_t n = strcspn(by, ":");

	return n == blen && memcmp(by, bare, blen) == 0;
}

/* --- .list files --- */

/* Indexes the lines of one .list file, which sits at arena[start..start+len).
 * Each new path is moved down to the end of the arena's unique paths (never
 * past the line being read, so nothing unread is overwritten). */
static int parse_list(struct builder *b, size_t start, size_t len, uint32_t pkg, const char *bare,
		      size_t blen)
{
	struct index *x = &b->idx;
	const struct diversion *d;
	size_t pos = start, n;
	struct slot *s;
	char *line;
	uint32_t h;
	int ret;

	while (next_line(x->arena, start + len, &pos, &line, &n)) {
		if (n > PACKAGES_MAX_LINE) {
			b->long_lines++;
			continue;
		}
		if (n == 0 || line[0] != '/' || memchr(line, '\0', n)) {
			b->bad_lines++;
			continue;
		}
		if (n == 2 && line[1] == '.')
			continue;	/* dpkg's entry for the root directory */
		ret = index_reserve(b);
		if (ret)
			return ret;
		h = hash_path(b->p->key, line, n);
		d = div_find(b, line, n, h);
		if (d && !div_by(x->div_buf + d->by, bare, blen)) {
			/* another package's file, moved aside by the diversion */
			n = strlen(x->div_buf + d->to);
			h = hash_path(b->p->key, x->div_buf + d->to, n);
			s = index_probe(x, x->div_buf + d->to, n, h);
			if (s->pkg == SLOT_EMPTY) {
				*s = (struct slot){ .hash = h, .off = d->to | OFF_DIV, .pkg = pkg };
				x->used++;
			}
			continue;
		}
		s = index_probe(x, line, n, h);
		if (s->pkg != SLOT_EMPTY)
			continue;	/* first package wins */
		memmove(x->arena + x->arena_len, line, n);
		x->arena[x->arena_len + n] = '\0';
		*s = (struct slot){ .hash = h, .off = (uint32_t)x->arena_len, .pkg = pkg };
		x->arena_len += n + 1;
		x->used++;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ".list" file names of the info directory, sorted, so that which
 * package wins a shared path does not depend on readdir order. */
static int list_names(struct builder *b, int dirfd, char ***out, uint32_t *count)
{
	char **names = NULL, **nn;
	uint32_t n = 0, cap = 0, i;
	struct dirent *de;
	size_t len;
	DIR *dir;
	int fd, ret = 0;

	*out = NULL;
	*count = 0;
	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((de = readdir(dir))) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".list"))
			continue;
		if (n >= PACKAGES_MAX_PACKAGES) {
			err_set(b->err, b->errlen, "%s/%s: more than %u .list files; refused",
				b->p->root, INFO_PATH, PACKAGES_MAX_PACKAGES);
			ret = -E2BIG;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			nn = realloc(names, (size_t)cap * sizeof(*nn));
			if (!nn) {
				ret = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			ret = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
out:
	closedir(dir);
	if (ret) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return ret;
	}
	*out = names;
	*count = n;
	return 0;
}

static int arena_reserve(struct index *x, size_t need)
{
	size_t ncap;
	char *na;

	if (need <= x->arena_cap)
		return 0;
	ncap = x->arena_cap ? x->arena_cap * 2 : 1u << 20;
	if (ncap > (size_t)PACKAGES_MAX_LIST_BYTES + 1)
		ncap = (size_t)PACKAGES_MAX_LIST_BYTES + 1;
	if (ncap < need)
		ncap = need;
	na = realloc(x->arena, ncap);
	if (!na)
		return -ENOMEM;
	x->arena = na;
	x->arena_cap = ncap;
	return 0;
}

/* Adds one .list file: its package entry and its paths. Files that are not
 * regular or whose name is no package name are skipped and counted. */
static int load_list(struct builder *b, int dirfd, const char *fname)
{
	struct index *x = &b->idx;
	size_t base = strlen(fname) - 5, blen, got;
	const char *colon, *arch = NULL, *ver;
	char archbuf[MAX_TOKEN + 1];
	struct pkg_ent *np;
	uint32_t pkg, ncap;
	struct stat sb;
	int pfd, fd, ret;

	colon = memchr(fname, ':', base);
	blen = colon ? (size_t)(colon - fname) : base;
	if (!valid_token(fname, base) || blen == 0 ||
	    (colon && (colon + 1 == fname + base || memchr(colon + 1, ':', base - blen - 1)))) {
		b->bad_lines++;
		return 0;
	}
	if (colon) {
		memcpy(archbuf, colon + 1, base - blen - 1);
		archbuf[base - blen - 1] = '\0';
		arch = archbuf;
	}

	pfd = openat(dirfd, fname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0) {
		b->bad_lines++;	/* gone since readdir */
		return 0;
	}
	fd = reopen_regular(pfd, &sb);
	close(pfd);
	if (fd < 0) {
		b->bad_lines++;
		return 0;
	}
	if ((uint64_t)sb.st_size > PACKAGES_MAX_LIST_BYTES - b->list_bytes) {
		err_set(b->err, b->errlen, "%s/%s: .list files exceed %u bytes in total; refused",
			b->p->root, INFO_PATH, PACKAGES_MAX_LIST_BYTES);
		close(fd);
		return -E2BIG;
	}
	b->list_bytes += (size_t)sb.st_size;
	ret = arena_reserve(x, x->arena_len + (size_t)sb.st_size + 1);
	if (!ret)
		ret = read_full(fd, x->arena + x->arena_len, (size_t)sb.st_size, &got);
	close(fd);
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		b->bad_lines++;
		return 0;
	}

	if (x->npkgs == x->pkgs_cap) {
		ncap = x->pkgs_cap ? x->pkgs_cap * 2 : 256;
		np = realloc(x->pkgs, (size_t)ncap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		x->pkgs = np;
		x->pkgs_cap = ncap;
	}
	pkg = x->npkgs;
	ver = stanza_version(b, fname, blen, arch);
	ret = pool_add(x, fname, blen, &x->pkgs[pkg].name);
	if (!ret)
		ret = pool_add(x, ver, strlen(ver), &x->pkgs[pkg].version);
	if (ret)
		return ret;
	x->npkgs++;
	return parse_list(b, x->arena_len, got, pkg, fname, blen);
}

static int load_lists(struct builder *b, int rootfd)
{
	char **names = NULL;
	uint32_t n = 0, i;
	int dirfd, ret;
	char *na;

	dirfd = open_in_root(rootfd, INFO_PATH, O_RDONLY | O_DIRECTORY);
	if (dirfd == -ENOENT)
		return 0;	/* no dpkg here: an empty index */
	if (dirfd < 0) {
		err_set(b->err, b->errlen, "%s/%s: %s", b->p->root, INFO_PATH, strerror(-dirfd));
		return dirfd;
	}
	ret = list_names(b, dirfd, &names, &n);
	for (i = 0; !ret && i < n; i++)
		ret = load_list(b, dirfd, names[i]);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(dirfd);
	if (ret) {
		if (ret == -ENOMEM)
			err_set(b->err, b->errlen, "%s/%s: out of memory", b->p->root, INFO_PATH);
		return ret;
	}
	/* give back the slack of doubling and of the last file read */
	if (b->idx.arena_cap > b->idx.arena_len) {
		na = realloc(b->idx.arena, b->idx.arena_len ? b->idx.arena_len : 1);
		if (na) {
			b->idx.arena = na;
			b->idx.arena_cap = b->idx.arena_len ? b->idx.arena_len : 1;
		}
	}
	return 0;
}

static void stamp_read(int rootfd, struct stamp *s)
{
	struct stat sb;
	int fd;

	memset(s, 0, sizeof(*s));
	fd = open_in_root(rootfd, STATUS_PATH, O_PATH);
	if (fd < 0) {
		s->err = -fd;
		return;
	}
	if (fstat(fd, &sb) < 0) {
		s->err = errno;
	} else {
		s->dev = sb.st_dev;
		s->ino = sb.st_ino;
		s->size = sb.st_size;
		s->mtime = sb.st_mtim;
	}
	close(fd);
}

static bool stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int open_root(struct packages *p, char *err, size_t errlen)
{
	int fd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		fd = -errno;
		err_set(err, errlen, "%s: cannot open the root: %s", p->root, strerror(-fd));
	}
	return fd;
}

/* Builds a new index under the root whose fd is given; on success it
 * replaces the current one. */
static int load(struct packages *p, int rootfd)
{
	struct builder b = { .p = p, .err = p->last_err, .errlen = sizeof(p->last_err) };
	char *status = NULL;
	size_t status_len;
	int ret;

	p->last_err[0] = '\0';
	ret = read_small(&b, rootfd, STATUS_PATH, PACKAGES_MAX_STATUS_BYTES, &status, &status_len);
	if (!ret && status)
		ret = parse_status(&b, status, status_len);
	if (!ret)
		ret = read_small(&b, rootfd, DIVERSIONS_PATH, PACKAGES_MAX_DIVERSION_BYTES,
				 &b.idx.div_buf, &b.idx.div_len);
	if (!ret && b.idx.div_buf)
		ret = parse_diversions(&b);
	if (!ret)
		ret = load_lists(&b, rootfd);
	if (ret == -ENOMEM && !p->last_err[0])
		err_set(p->last_err, sizeof(p->last_err), "%s: out of memory loading dpkg data",
			p->root);
	free(status);
	free(b.stanzas);
	free(b.divs);
	free(b.div_slots);
	p->st.long_lines += b.long_lines;
	p->st.bad_lines += b.bad_lines;
	if (ret) {
		index_free(&b.idx);
		return ret;
	}
	index_free(&p->idx);
	p->idx = b.idx;
	return 0;
}

/* Loads on first use and reloads when the status file changed, checking at
 * most once per recheck interval. A failed attempt is not repeated until the
 * status file changes again, so a refused database costs one stat per
 * interval, not one load. */
static void maybe_load(struct packages *p)
{
	struct stamp s;
	uint64_t now = mono_ms(), t0;
	int rootfd, ret;

	if (p->attempted && now - p->checked_ms < p->recheck_ms)
		return;
	p->checked_ms = now;
	rootfd = open_root(p, p->attempted ? NULL : p->last_err, sizeof(p->last_err));
	if (rootfd < 0) {
		/* the process behind /proc/PID/root may be gone: keep what we have */
		if (!p->attempted)
			p->st.load_errors++;
		p->attempted = true;
		return;
	}
	stamp_read(rootfd, &s);
	if (p->attempted && stamp_eq(&s, &p->stamp)) {
		close(rootfd);
		return;
	}
	t0 = now_ns();
	ret = load(p, rootfd);
	close(rootfd);
	p->st.load_ns = now_ns() - t0;
	if (ret)
		p->st.load_errors++;
	else if (p->attempted)
		p->st.reloads++;
	p->stamp = s;
	p->attempted = true;
}

struct packages *packages__new(const char *root, char *err, size_t errlen)
{
	struct packages *p;

	if (!root || !root[0]) {
		err_set(err, errlen, "packages: the root directory is empty");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->root = strdup(root);
	if (!p || !p->root) {
		free(p);
		err_set(err, errlen, "packages: out of memory");
		return NULL;
	}
	if (getrandom(p->key, sizeof(p->key), GRND_NONBLOCK) != sizeof(p->key)) {
		/* weaker, but only flooding a table depends on it */
		p->key[0] = now_ns() ^ ((uint64_t)getpid() << 32);
		p->key[1] = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull;
	}
	p->recheck_ms = PACKAGES_RECHECK_MS;
	return p;
}

void packages__free(struct packages *p)
{
	if (!p)
		return;
	index_free(&p->idx);
	free(p->root);
	free(p);
}

static const struct {
	const char *usr;
	const char *root;
} usrmerge[] = {
	{ "/usr/lib/", "/lib/" },     { "/usr/bin/", "/bin/" },	    { "/usr/sbin/", "/sbin/" },
	{ "/usr/lib64/", "/lib64/" }, { "/usr/lib32/", "/lib32/" }, { "/usr/libx32/", "/libx32/" },
};

/* The other spelling of path across the merged-/usr symlinks, into alt
 * (PACKAGES_MAX_LINE + 16 bytes), or false when path has none. */
static bool usrmerge_alt(const char *path, size_t len, char *alt, size_t *alen)
{
	const char *from, *to;
	size_t i, fl, tl;

	for (i = 0; i < sizeof(usrmerge) / sizeof(usrmerge[0]); i++) {
		from = usrmerge[i].usr;
		to = usrmerge[i].root;
		if (strncmp(path, from, strlen(from)) != 0) {
			from = usrmerge[i].root;
			to = usrmerge[i].usr;
			if (strncmp(path, from, strlen(from)) != 0)
				continue;
		}
		fl = strlen(from);
		tl = strlen(to);
		memcpy(alt, to, tl);
		memcpy(alt + tl, path + fl, len - fl + 1);
		*alen = len - fl + tl;
		return true;
	}
	return false;
}

static const struct slot *lookup(const struct packages *p, const char *path, size_t len)
{
	const struct slot *s;

	if (!p->idx.slots)
		return NULL;
	s = index_probe(&p->idx, path, len, hash_path(p->key, path, len));
	return s->pkg == SLOT_EMPTY ? NULL : s;
}

int packages__owner(struct packages *p, const char *path, const char **name,
		    const char **version)
{
	char alt[PACKAGES_MAX_LINE + 16];
	const struct slot *s;
	size_t len, alen;

	if (!p || !path || !name || !version)
		return -EINVAL;
	p->st.lookups++;
	maybe_load(p);
	len = strnlen(path, PACKAGES_MAX_LINE + 1);
	if (path[0] != '/' || len > PACKAGES_MAX_LINE)
		return -ENOENT;	/* nothing longer was indexed */
	s = lookup(p, path, len);
	if (!s && usrmerge_alt(path, len, alt, &alen)) {
		s = alen <= PACKAGES_MAX_LINE ? lookup(p, alt, alen) : NULL;
		if (s)
			p->st.alt_hits++;
	}
	if (!s)
		return -ENOENT;
	p->st.hits++;
	*name = p->idx.pool + p->idx.pkgs[s->pkg].name;
	*version = p->idx.pool + p->idx.pkgs[s->pkg].version;
	return 0;
}

const char *packages__last_error(const struct packages *p)
{
	return p ? p->last_err : "";
}

void packages__set_recheck_ms(struct packages *p, uint32_t ms)
{
	if (p)
		p->recheck_ms = ms;
}

void packages__stats(const struct packages *p, struct packages_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	*out = p->st;
	out->files_indexed = p->idx.used;
	out->packages = p->idx.npkgs;
	out->diversions = p->idx.diversions;
	out->memory_bytes = index_memory(&p->idx);
}
