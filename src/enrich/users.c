#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "enrich/users.h"
#include "lib/clock.h"

enum { F_PASSWD = 0, F_GROUP = 1, F_COUNT };

static const char *const host_paths[F_COUNT] = { "/etc/passwd", "/etc/group" };
static const char *const root_rel_paths[F_COUNT] = { "etc/passwd", "etc/group" };

struct id_name {
	uint32_t id;
	uint32_t seq;	/* line order, so the first of duplicate ids wins */
	uint32_t off;	/* name in the pool */
};

/* Sorted by id, duplicates removed. */
struct id_table {
	struct id_name *v;
	uint32_t n;
	char *pool;
};

/* What a file was when last parsed; a change of any field means re-parse. */
struct file_stamp {
	bool present;
	bool refused;	/* could not be opened although it exists */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct ns_entry {
	uint32_t mntns;
	bool used;
	uint64_t last_use;	/* users.tick when last resolved, for LRU */
	uint64_t checked_ms;
	bool checked;
	/* Fixed files (the host's, or bound by users__load_files); NULL means
	 * etc/passwd and etc/group under /proc/PID/root. Owned. */
	char *paths[F_COUNT];
	struct file_stamp stamp[F_COUNT];
	struct id_table tab[F_COUNT];
};

struct users {
	unsigned max_ns;
	uint32_t self_mntns;	/* 0 when /proc/self/ns/mnt could not be read */
	uint32_t recheck_ms;
	uint64_t tick;
	struct ns_entry host;
	struct ns_entry *ns;	/* max_ns slots */
	struct users_stats st;
};

static void table_free(struct id_table *t)
{
	free(t->v);
	free(t->pool);
	memset(t, 0, sizeof(*t));
}

static void entry_clear(struct ns_entry *e)
{
	int i;

	for (i = 0; i < F_COUNT; i++) {
		free(e->paths[i]);
		table_free(&e->tab[i]);
	}
	memset(e, 0, sizeof(*e));
}

static int entry_set_paths(struct ns_entry *e, const char *passwd, const char *group)
{
	char *p = strdup(passwd), *g = strdup(group);

	if (!p || !g) {
		free(p);
		free(g);
		return -ENOMEM;
	}
	free(e->paths[F_PASSWD]);
	free(e->paths[F_GROUP]);
	e->paths[F_PASSWD] = p;
	e->paths[F_GROUP] = g;
	return 0;
}

static int cmp_id_name(const void *a, const void *b)
{
	const struct id_name *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Decimal id of 1..10 digits below 2^32 - 1 ((uid_t)-1 is never an id). */
static bool parse_id(const char *s, size_t n, uint32_t *id)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

static bool valid_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	}
	return true;
}

/* Parses "name:x:id:..." lines (passwd and group share the first three
 * fields) into t. Only -ENOMEM fails; bad lines are counted and skipped. */
static int parse_table(const char *buf, size_t len, struct id_table *t, struct users_stats *st)
{
	struct id_table nt = { 0 };
	size_t cap = 0, pool_len = 0, pool_cap = 0, pos = 0, n, nlen;
	const char *line, *nl, *c1, *c2, *c3;
	uint32_t seq = 0, id, i, j;

	while (pos < len) {
		line = buf + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		if (n > USERS_MAX_LINE) {
			st->long_lines++;
			continue;
		}
		/* blank, comment and NIS compat ("+user", "-@netgroup") lines are
		 * legitimate and resolve nothing here */
		if (n == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		c1 = memchr(line, ':', n);
		c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
		if (!c2) {
			st->malformed_lines++;
			continue;
		}
		c3 = memchr(c2 + 1, ':', n - (size_t)(c2 + 1 - line));
		if (!c3)
			c3 = line + n;
		nlen = (size_t)(c1 - line);
		if (!valid_name(line, nlen) || !parse_id(c2 + 1, (size_t)(c3 - c2 - 1), &id)) {
			st->malformed_lines++;
			continue;
		}
		if (nt.n >= USERS_MAX_ENTRIES) {
			st->entries_dropped++;
			continue;
		}
		if (nlen > PROC_NAME_LEN - 1)
			nlen = PROC_NAME_LEN - 1;
		if (nt.n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct id_name *v;

			if (ncap > USERS_MAX_ENTRIES)
				ncap = USERS_MAX_ENTRIES;
			v = realloc(nt.v, ncap * sizeof(*v));
			if (!v)
				goto nomem;
			nt.v = v;
			cap = ncap;
		}
		if (pool_len + nlen + 1 > pool_cap) {
			size_t ncap = pool_cap ? pool_cap * 2 : 1024;
			char *p;

			while (ncap < pool_len + nlen + 1)
				ncap *= 2;
			p = realloc(nt.pool, ncap);
			if (!p)
				goto nomem;
			nt.pool = p;
			pool_cap = ncap;
		}
		memcpy(nt.pool + pool_len, line, nlen);
		nt.pool[pool_len + nlen] = '\0';
		nt.v[nt.n].id = id;
		nt.v[nt.n].seq = seq++;
		nt.v[nt.n].off = (uint32_t)pool_len;
		nt.n++;
		pool_len += nlen + 1;
	}
	if (nt.n) {
		qsort(nt.v, nt.n, sizeof(*nt.v), cmp_id_name);
		for (i = 1, j = 1; i < nt.n; i++) {
			if (nt.v[i].id != nt.v[j - 1].id)
				nt.v[j++] = nt.v[i];
		}
		nt.n = j;
	}
	table_free(t);
	*t = nt;
	return 0;
nomem:
	table_free(&nt);
	return -ENOMEM;
}

static const char *table_lookup(const struct id_table *t, uint32_t id)
{
	uint32_t lo = 0, hi = t->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->v[mid].id == id)
			return t->pool + t->v[mid].off;
		if (t->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An O_PATH descriptor, so nothing is opened for real before its type is
 * known: opening a FIFO would block and opening some devices has side
 * effects. Under a process's root (rootfd >= 0), symlinks resolve inside
 * that root, as they do for the process. Returns the fd (sb filled) or a
 * negative errno. */
static int open_path(int rootfd, const char *path, struct stat *sb)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd, err;

	if (rootfd >= 0) {
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		/* before 5.6: refuse symlinks rather than follow them outside */
		if (fd < 0 && errno == ENOSYS)
			fd = openat(rootfd, path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	} else {
		fd = open(path, O_PATH | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, sb) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Reads the whole file behind an O_PATH fd of size bytes into a malloc'd
 * buffer; *len may come out shorter if the file shrank meanwhile. */
static int read_opath(int pfd, size_t size, char **out, size_t *len)
{
	char path[64];
	char *buf;
	size_t got = 0;
	ssize_t r;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	buf = malloc(size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < size) {
		r = read(fd, buf + got, size - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = got;
	return 0;
}

static bool stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->present == b->present && a->refused == b->refused && a->dev == b->dev &&
	       a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Brings one file of e up to date. rootfd >= 0: path is relative to that
 * root; otherwise it is e->paths[f]. A file that is missing, refused or
 * unreadable leaves an empty table; a refusal is counted once per change of
 * the file, not at every check. */
static void refresh_file(struct users *u, struct ns_entry *e, int f, int rootfd)
{
	struct file_stamp ns = { 0 };
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	int fd, err;

	fd = open_path(rootfd, rootfd >= 0 ? root_rel_paths[f] : e->paths[f], &sb);
	if (fd < 0) {
		ns.refused = fd != -ENOENT && fd != -ENOTDIR;
		if (!stamp_equal(&ns, &e->stamp[f]) && ns.refused)
			u->st.files_refused++;
		e->stamp[f] = ns;
		table_free(&e->tab[f]);
		return;
	}
	ns.present = true;
	ns.dev = sb.st_dev;
	ns.ino = sb.st_ino;
	ns.size = sb.st_size;
	ns.mtime = sb.st_mtim;
	if (stamp_equal(&ns, &e->stamp[f])) {
		close(fd);
		return;
	}
	e->stamp[f] = ns;
	table_free(&e->tab[f]);
	if (!S_ISREG(sb.st_mode) || sb.st_size < 0 ||
	    (uint64_t)sb.st_size > USERS_MAX_FILE_BYTES) {
		u->st.files_refused++;
		close(fd);
		return;
	}
	err = read_opath(fd, (size_t)sb.st_size, &buf, &len);
	close(fd);
	if (!err) {
		err = parse_table(buf, len, &e->tab[f], &u->st);
		free(buf);
	}
	if (err == -ENOMEM)
		memset(&e->stamp[f], 0, sizeof(e->stamp[f]));	/* retry at the next check */
	else if (err)
		u->st.files_refused++;
	else
		u->st.loads++;
}

static void refresh(struct users *u, struct ns_entry *e, int rootfd, uint64_t now)
{
	int f;

	for (f = 0; f < F_COUNT; f++)
		refresh_file(u, e, f, rootfd);
	e->checked = true;
	e->checked_ms = now;
}

static bool due(const struct users *u, const struct ns_entry *e, uint64_t now)
{
	return !e->checked || now - e->checked_ms >= u->recheck_ms;
}

/* Opens /proc/PID/root after checking that PID lives in mount namespace
 * *mntns (or, when *mntns is 0, reports which one it lives in). Both go
 * through one /proc/PID descriptor, so a pid reused meanwhile fails instead
 * of answering for another process. Returns an O_PATH fd or a negative errno. */
static int open_proc_root(uint32_t pid, uint32_t *mntns)
{
	char path[32];
	struct stat sb;
	int pfd, rfd;

	if (pid == 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%u", pid);
	pfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstatat(pfd, "ns/mnt", &sb, 0) < 0) {
		rfd = -errno;
		close(pfd);
		return rfd;
	}
	if (*mntns && (uint32_t)sb.st_ino != *mntns) {
		close(pfd);
		return -ESRCH;
	}
	*mntns = (uint32_t)sb.st_ino;
	rfd = openat(pfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		rfd = -errno;
	close(pfd);
	return rfd;
}

static struct ns_entry *find_ns(struct users *u, uint32_t mntns)
{
	unsigned i;

	for (i = 0; i < u->max_ns; i++) {
		if (u->ns[i].used && u->ns[i].mntns == mntns)
			return &u->ns[i];
	}
	return NULL;
}

/* A free slot, or the least recently used one emptied. */
static struct ns_entry *alloc_ns(struct users *u, uint32_t mntns)
{
	struct ns_entry *e = NULL;
	unsigned i;

	for (i = 0; i < u->max_ns; i++) {
		if (!u->ns[i].used) {
			e = &u->ns[i];
			break;
		}
		if (!e || u->ns[i].last_use < e->last_use)
			e = &u->ns[i];
	}
	if (e->used) {
		u->st.evictions++;
		u->st.namespaces--;
	}
	entry_clear(e);
	e->used = true;
	e->mntns = mntns;
	e->last_use = ++u->tick;
	u->st.namespaces++;
	return e;
}

static void release_ns(struct users *u, struct ns_entry *e)
{
	entry_clear(e);
	u->st.namespaces--;
}

static struct ns_entry *host_entry(struct users *u, uint64_t now)
{
	if (due(u, &u->host, now))
		refresh(u, &u->host, -1, now);
	return &u->host;
}

static struct ns_entry *fallback(struct users *u, uint64_t now)
{
	u->st.fallbacks++;
	return host_entry(u, now);
}

static struct ns_entry *table_for(struct users *u, const struct proc_info *p)
{
	uint64_t now = mono_ms();
	uint32_t mntns = p->mntns;
	struct ns_entry *e;
	int rootfd = -1;

	if (mntns == 0) {
		rootfd = open_proc_root(p->pid, &mntns);
		if (rootfd < 0)
			return fallback(u, now);
	}
	if (mntns == u->self_mntns) {
		if (rootfd >= 0)
			close(rootfd);
		return host_entry(u, now);
	}
	e = find_ns(u, mntns);
	if (e) {
		e->last_use = ++u->tick;
		if (!due(u, e, now))
			goto out;
		if (e->paths[F_PASSWD]) {
			refresh(u, e, -1, now);
			goto out;
		}
		if (rootfd < 0)
			rootfd = open_proc_root(p->pid, &mntns);
		if (rootfd >= 0)
			refresh(u, e, rootfd, now);
		else
			e->checked_ms = now;	/* gone: keep the table, retry later */
		goto out;
	}
	if (rootfd < 0)
		rootfd = open_proc_root(p->pid, &mntns);
	if (rootfd < 0)
		return fallback(u, now);
	e = alloc_ns(u, mntns);
	refresh(u, e, rootfd, now);
out:
	if (rootfd >= 0)
		close(rootfd);
	return e;
}

static void set_name(char dst[PROC_NAME_LEN], const struct id_table *t, uint32_t id)
{
	const char *n = table_lookup(t, id);

	if (!n) {
		dst[0] = '\0';
		return;
	}
	/* pool names are at most PROC_NAME_LEN - 1 bytes */
	snprintf(dst, PROC_NAME_LEN, "%s", n);
}

void users__resolve(struct users *u, struct proc_info *p)
{
	struct ns_entry *e;

	if (!p)
		return;
	if (!u) {
		p->user[0] = p->group[0] = p->euser[0] = p->egroup[0] = p->login_user[0] = '\0';
		return;
	}
	e = table_for(u, p);
	set_name(p->user, &e->tab[F_PASSWD], p->uid);
	set_name(p->euser, &e->tab[F_PASSWD], p->euid);
	set_name(p->group, &e->tab[F_GROUP], p->gid);
	set_name(p->egroup, &e->tab[F_GROUP], p->egid);
	if (p->auid == PROC_ID_UNSET)
		p->login_user[0] = '\0';
	else
		set_name(p->login_user, &e->tab[F_PASSWD], p->auid);
}

int users__load_files(struct users *u, uint32_t mntns, const char *passwd_path,
		      const char *group_path)
{
	struct ns_entry *e;
	int err;

	if (!u || !passwd_path || !group_path)
		return -EINVAL;
	if (mntns == 0 || mntns == u->self_mntns) {
		e = &u->host;
		err = entry_set_paths(e, passwd_path, group_path);
		if (err)
			return err;
	} else {
		e = find_ns(u, mntns);
		if (!e)
			e = alloc_ns(u, mntns);
		err = entry_set_paths(e, passwd_path, group_path);
		if (err) {
			release_ns(u, e);
			return err;
		}
	}
	refresh(u, e, -1, mono_ms());
	return 0;
}

struct users *users__new(unsigned max_namespaces, char *err, size_t errlen)
{
	struct users *u;
	struct stat sb;

	if (max_namespaces < 1 || max_namespaces > USERS_MAX_NAMESPACES) {
		snprintf(err, errlen, "users: max_namespaces %u is outside 1..%u", max_namespaces,
			 USERS_MAX_NAMESPACES);
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (u)
		u->ns = calloc(max_namespaces, sizeof(*u->ns));
	if (!u || !u->ns || entry_set_paths(&u->host, host_paths[F_PASSWD], host_paths[F_GROUP])) {
		snprintf(err, errlen, "users: out of memory for %u namespace tables",
			 max_namespaces);
		users__free(u);
		return NULL;
	}
	u->max_ns = max_namespaces;
	u->recheck_ms = USERS_RECHECK_MS;
	/* Without /proc/self/ns/mnt every namespace, ours included, is read
	 * through /proc/PID/root, which is still correct. */
	if (stat("/proc/self/ns/mnt", &sb) == 0)
		u->self_mntns = (uint32_t)sb.st_ino;
	return u;
}

void users__free(struct users *u)
{
	unsigned i;

	if (!u)
		return;
	if (u->ns) {
		for (i = 0; i < u->max_ns; i++)
			entry_clear(&u->ns[i]);
	}
	entry_clear(&u->host);
	free(u->ns);
	free(u);
}

void users__set_recheck_ms(struct users *u, uint32_t ms)
{
	if (u)
		u->recheck_ms = ms;
}

void users__stats(const struct users *u, struct users_stats *st)
{
	if (!u) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = u->st;
}
