/* Executable hashing: one read pass feeding sha256, sha1 and md5, a bounded
 * LRU cache keyed by file version, and a worker thread for large files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "enrich/hash.h"

#define HASH_DEF_MAX_FILE (256ull << 20)
#define HASH_DEF_INLINE_MAX (4ull << 20)
#define HASH_DEF_CACHE 8192u
#define HASH_DEF_QUEUE 256u
#define HASH_MAX_CACHE (1u << 22)
#define HASH_MAX_QUEUE (1u << 16)
#define HASH_READ_BUF (128u << 10)
#define NIL UINT32_MAX

#define SHA256_LEN 32
#define SHA1_LEN 20
#define MD5_LEN 16

/* Identity and version of one file: a change of content almost always moves
 * size or mtime, and anything that rewrites the inode moves ctime. */
struct file_key {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

struct digests {
	unsigned char sha256[SHA256_LEN], sha1[SHA1_LEN], md5[MD5_LEN];
};

struct cache_entry {
	struct file_key key;
	struct digests d;
	uint32_t hnext;		/* bucket chain */
	uint32_t prev, next;	/* LRU list, head = most recent */
	enum hash_status status;	/* HASH_OK or HASH_SKIPPED_SIZE */
};

struct job {
	int fd;			/* owned: readable fd of exactly the identified file */
	struct file_key key;
};

/* One per thread that hashes: the contexts are reused across files. */
struct digester {
	EVP_MD_CTX *c256, *c1, *c5;
	unsigned char *buf;
};

struct hasher {
	struct hasher_opts o;
	const EVP_MD *md256, *md1, *md5;	/* fetched once: no per-file lookup */
	EVP_MD *fetched[3];
	uint64_t self_mntns;

	struct digester fg, bg;	/* caller's thread, worker thread */

	pthread_mutex_t mu;	/* guards everything below */
	pthread_cond_t work_cv;	/* a job was queued or stop was set */
	pthread_cond_t idle_cv;	/* the worker finished a job */

	struct cache_entry *ents;
	uint32_t *buckets;
	uint32_t nbuckets;	/* power of two */
	uint32_t nused;
	uint32_t lru_head, lru_tail;

	struct job *jobs;	/* ring of o.queue_max */
	uint32_t qhead, qcount;
	bool busy;		/* the worker holds busy_key */
	struct file_key busy_key;

	struct hasher_stats st;

	atomic_bool stop;
	bool thread_started;
	pthread_t thread;
};

dev_t hash_kdev_to_dev(uint64_t kdev)
{
	return makedev((unsigned int)(kdev >> 20), (unsigned int)(kdev & 0xfffff));
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *detail)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, detail);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void key_from_stat(struct file_key *k, const struct stat *st)
{
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = (uint64_t)st->st_size;
	k->mtime_ns = ts_ns(&st->st_mtim);
	k->ctime_ns = ts_ns(&st->st_ctim);
}

static bool key_eq(const struct file_key *a, const struct file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint32_t key_bucket(const struct hasher *h, const struct file_key *k)
{
	uint64_t x = mix64(k->dev ^ mix64(k->ino ^ mix64(k->size ^ mix64((uint64_t)k->mtime_ns ^
					mix64((uint64_t)k->ctime_ns)))));

	return (uint32_t)x & (h->nbuckets - 1);
}

static void hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void fill_ok(struct proc_hashes *out, const struct digests *d)
{
	out->status = HASH_OK;
	hex(out->sha256, d->sha256, SHA256_LEN);
	hex(out->sha1, d->sha1, SHA1_LEN);
	hex(out->md5, d->md5, MD5_LEN);
}

/* ---- cache (caller holds mu) ---- */

static void lru_unlink(struct hasher *h, uint32_t i)
{
	struct cache_entry *e = &h->ents[i];

	if (e->prev != NIL)
		h->ents[e->prev].next = e->next;
	else
		h->lru_head = e->next;
	if (e->next != NIL)
		h->ents[e->next].prev = e->prev;
	else
		h->lru_tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_push_head(struct hasher *h, uint32_t i)
{
	struct cache_entry *e = &h->ents[i];

	e->prev = NIL;
	e->next = h->lru_head;
	if (h->lru_head != NIL)
		h->ents[h->lru_head].prev = i;
	h->lru_head = i;
	if (h->lru_tail == NIL)
		h->lru_tail = i;
}

static struct cache_entry *cache_find(struct hasher *h, const struct file_key *k)
{
	for (uint32_t i = h->buckets[key_bucket(h, k)]; i != NIL; i = h->ents[i].hnext) {
		if (key_eq(&h->ents[i].key, k)) {
			lru_unlink(h, i);
			lru_push_head(h, i);
			return &h->ents[i];
		}
	}
	return NULL;
}

static void bucket_remove(struct hasher *h, uint32_t i)
{
	uint32_t *pp = &h->buckets[key_bucket(h, &h->ents[i].key)];

	while (*pp != NIL) {
		if (*pp == i) {
			*pp = h->ents[i].hnext;
			return;
		}
		pp = &h->ents[*pp].hnext;
	}
}

static void cache_put(struct hasher *h, const struct file_key *k, enum hash_status status,
		      const struct digests *d)
{
	struct cache_entry *e = cache_find(h, k);
	uint32_t i, b;

	if (!e) {
		if (h->nused < h->o.cache_entries) {
			i = h->nused++;
		} else {
			i = h->lru_tail;
			bucket_remove(h, i);
			lru_unlink(h, i);
			h->st.evictions++;
		}
		e = &h->ents[i];
		e->key = *k;
		b = key_bucket(h, k);
		e->hnext = h->buckets[b];
		h->buckets[b] = i;
		lru_push_head(h, i);
	}
	e->status = status;
	if (d)
		e->d = *d;
	else
		memset(&e->d, 0, sizeof(e->d));
}

/* ---- hashing ---- */

static int digester_init(struct digester *g, char *err, size_t errlen)
{
	g->c256 = EVP_MD_CTX_new();
	g->c1 = EVP_MD_CTX_new();
	g->c5 = EVP_MD_CTX_new();
	g->buf = malloc(HASH_READ_BUF);
	if (!g->c256 || !g->c1 || !g->c5 || !g->buf) {
		set_err(err, errlen, "hash: %s", "out of memory for digest contexts");
		return -ENOMEM;
	}
	return 0;
}

static void digester_free(struct digester *g)
{
	EVP_MD_CTX_free(g->c256);
	EVP_MD_CTX_free(g->c1);
	EVP_MD_CTX_free(g->c5);
	free(g->buf);
}

/* Hashes fd, which must hold the file described by k, from offset 0. Returns
 * 0, -EIO (read or digest failure), -ESTALE (the file is not what k says: it
 * changed while being read) or -ECANCELED (stop was set). Never reads more
 * than k->size + 1 bytes, so a file that lies about its size cannot keep us. */
static int hash_fd(const struct hasher *h, struct digester *g, int fd, const struct file_key *k,
		   const atomic_bool *stop, struct digests *d)
{
	uint64_t off = 0, want = k->size + 1;
	struct file_key now;
	struct stat st;
	ssize_t n;

	if (!EVP_DigestInit_ex(g->c256, h->md256, NULL) ||
	    !EVP_DigestInit_ex(g->c1, h->md1, NULL) || !EVP_DigestInit_ex(g->c5, h->md5, NULL))
		return -EIO;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (off < want) {
		size_t chunk = want - off < HASH_READ_BUF ? (size_t)(want - off) : HASH_READ_BUF;

		if (stop && atomic_load_explicit(stop, memory_order_relaxed))
			return -ECANCELED;
		n = pread(fd, g->buf, chunk, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(g->c256, g->buf, (size_t)n) ||
		    !EVP_DigestUpdate(g->c1, g->buf, (size_t)n) ||
		    !EVP_DigestUpdate(g->c5, g->buf, (size_t)n))
			return -EIO;
		off += (uint64_t)n;
	}
	if (off != k->size || fstat(fd, &st) < 0)
		return -ESTALE;
	key_from_stat(&now, &st);
	if (!key_eq(&now, k))
		return -ESTALE;
	if (!EVP_DigestFinal_ex(g->c256, d->sha256, NULL) ||
	    !EVP_DigestFinal_ex(g->c1, d->sha1, NULL) || !EVP_DigestFinal_ex(g->c5, d->md5, NULL))
		return -EIO;
	return 0;
}

/* ---- worker ----
 * The thread exists because hashing a large binary (hundreds of MiB, several
 * hundred ms) on the event loop would stall every source behind it. It only
 * touches shared state under mu; the caller never waits for it except in
 * hasher__drain. */

static void *worker_main(void *arg)
{
	struct hasher *h = arg;
	struct digests d;
	struct job j;
	int rc;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->qcount && !atomic_load(&h->stop))
			pthread_cond_wait(&h->work_cv, &h->mu);
		if (atomic_load(&h->stop))
			break;
		j = h->jobs[h->qhead];
		h->qhead = (h->qhead + 1) % h->o.queue_max;
		h->qcount--;
		h->busy = true;
		h->busy_key = j.key;
		pthread_mutex_unlock(&h->mu);

		rc = hash_fd(h, &h->bg, j.fd, &j.key, &h->stop, &d);
		close(j.fd);

		pthread_mutex_lock(&h->mu);
		if (rc == 0) {
			cache_put(h, &j.key, HASH_OK, &d);
			h->st.hashed_worker++;
		} else if (rc == -ESTALE) {
			h->st.unavailable++;
		} else if (rc == -EIO) {
			h->st.errors++;
		}
		h->busy = false;
		pthread_cond_broadcast(&h->idle_cv);
	}
	h->busy = false;
	pthread_cond_broadcast(&h->idle_cv);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Caller holds mu. */
static bool job_pending(const struct hasher *h, const struct file_key *k)
{
	if (h->busy && key_eq(&h->busy_key, k))
		return true;
	for (uint32_t n = 0; n < h->qcount; n++)
		if (key_eq(&h->jobs[(h->qhead + n) % h->o.queue_max].key, k))
			return true;
	return false;
}

/* ---- opening ---- */

/* O_PATH first: it opens nothing (no FIFO wait, no device open side effect
 * such as arming a watchdog) and lets fstat decide; only a regular file is
 * then reopened for reading through its /proc/self/fd magic link, which
 * reaches the same inode even if the path has since been replaced. */
static int reopen_read(int pathfd)
{
	char p[64];
	int fd;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", pathfd);
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOATIME);
	if (fd < 0 && errno == EPERM)	/* O_NOATIME needs ownership or CAP_FOWNER */
		fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	return fd;
}

/* Accepts pathfd when it is a regular file matching the known identity;
 * otherwise closes it. Returns pathfd or -1. */
static int check_candidate(int pathfd, const struct proc_info *p, struct stat *st)
{
	if (pathfd < 0)
		return -1;
	if (fstat(pathfd, st) < 0 || !S_ISREG(st->st_mode) ||
	    (p && p->exe_ino && (uint64_t)st->st_ino != p->exe_ino) ||
	    (p && p->exe_dev && st->st_dev != hash_kdev_to_dev(p->exe_dev))) {
		close(pathfd);
		return -1;
	}
	return pathfd;
}

/* p->exe resolved inside the process's root, so a container's absolute
 * symlinks and ".." stay in the container. */
static int open_in_proc_root(uint32_t pid, const char *exe)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char p[PATH_MAX];
	int root, fd;

	snprintf(p, sizeof(p), "/proc/%u/root", pid);
	root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, root, exe, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		/* Before Linux 5.6: the dev/ino check is the only guard. */
		if ((size_t)snprintf(p, sizeof(p), "/proc/%u/root%s", pid, exe) < sizeof(p))
			fd = open(p, O_PATH | O_CLOEXEC);
	}
	close(root);
	return fd;
}

static int find_exe(const struct hasher *h, const struct proc_info *p, struct stat *st)
{
	char path[64];
	bool have_path = p->exe && p->exe[0] == '/';
	int fd;

	if (p->pid) {
		snprintf(path, sizeof(path), "/proc/%u/exe", p->pid);
		fd = check_candidate(open(path, O_PATH | O_CLOEXEC), p, st);
		if (fd >= 0)
			return fd;
		if (have_path) {
			fd = check_candidate(open_in_proc_root(p->pid, p->exe), p, st);
			if (fd >= 0)
				return fd;
		}
	}
	if (have_path && (p->mntns == 0 || p->mntns == h->self_mntns))
		return check_candidate(open(p->exe, O_PATH | O_CLOEXEC), p, st);
	return -1;
}

/* ---- lookup ---- */

/* Consumes pathfd, an O_PATH fd of the regular file described by st. */
static void hash_identified(struct hasher *h, int pathfd, const struct stat *st,
			    struct proc_hashes *out)
{
	struct cache_entry *e;
	struct file_key k;
	struct digests d;
	int fd, rc;

	key_from_stat(&k, st);
	out->size = k.size;

	pthread_mutex_lock(&h->mu);
	e = cache_find(h, &k);
	if (e) {
		h->st.hits++;
		if (e->status == HASH_OK) {
			fill_ok(out, &e->d);
		} else {
			out->status = e->status;
			h->st.skipped_size++;
		}
		goto out_unlock;
	}
	h->st.misses++;
	if (k.size > h->o.max_file_bytes) {
		cache_put(h, &k, HASH_SKIPPED_SIZE, NULL);
		h->st.skipped_size++;
		out->status = HASH_SKIPPED_SIZE;
		goto out_unlock;
	}
	if (k.size > h->o.inline_max_bytes) {
		if (job_pending(h, &k)) {
			out->status = HASH_PENDING;
		} else if (h->qcount >= h->o.queue_max) {
			h->st.queue_full++;
			out->status = HASH_UNAVAILABLE;
		} else if ((fd = reopen_read(pathfd)) < 0) {
			h->st.errors++;
			out->status = HASH_ERROR;
		} else {
			struct job *j = &h->jobs[(h->qhead + h->qcount) % h->o.queue_max];

			j->fd = fd;
			j->key = k;
			h->qcount++;
			pthread_cond_signal(&h->work_cv);
			out->status = HASH_PENDING;
		}
		goto out_unlock;
	}
	pthread_mutex_unlock(&h->mu);

	/* Inline: the file is small, hash it without holding the lock. */
	fd = reopen_read(pathfd);
	rc = fd < 0 ? -EIO : hash_fd(h, &h->fg, fd, &k, NULL, &d);
	if (fd >= 0)
		close(fd);
	close(pathfd);

	pthread_mutex_lock(&h->mu);
	if (rc == 0) {
		cache_put(h, &k, HASH_OK, &d);
		h->st.hashed_inline++;
		fill_ok(out, &d);
	} else if (rc == -ESTALE) {
		h->st.unavailable++;
		out->status = HASH_UNAVAILABLE;
	} else {
		h->st.errors++;
		out->status = HASH_ERROR;
	}
	pthread_mutex_unlock(&h->mu);
	return;

out_unlock:
	pthread_mutex_unlock(&h->mu);
	close(pathfd);
}

static void unavailable(struct hasher *h, struct proc_hashes *out)
{
	out->status = HASH_UNAVAILABLE;
	pthread_mutex_lock(&h->mu);
	h->st.unavailable++;
	pthread_mutex_unlock(&h->mu);
}

/* The cache answers for a file the kernel already identified (device, inode,
 * size, mtime, ctime at exec) without a syscall: opening /proc/PID/exe was
 * 40% of the agent's time per exec in profiles. A miss, or a filesystem
 * whose reported device differs from stat's (overlayfs, btrfs), just takes
 * the slow path. */
static bool lookup_by_identity(struct hasher *h, const struct proc_info *p,
			       struct proc_hashes *out)
{
	struct file_key k = {
		.dev = hash_kdev_to_dev(p->exe_dev),
		.ino = p->exe_ino,
		.size = p->exe_size,
		.mtime_ns = p->exe_mtime_ns,
		.ctime_ns = p->exe_ctime_ns,
	};
	struct cache_entry *e;
	bool hit = false;

	if (!p->exe_stat_known || !p->exe_ino)
		return false;
	pthread_mutex_lock(&h->mu);
	e = cache_find(h, &k);
	if (e) {
		hit = true;
		h->st.hits++;
		out->size = k.size;
		if (e->status == HASH_OK) {
			fill_ok(out, &e->d);
		} else {
			out->status = e->status;
			h->st.skipped_size++;
		}
	}
	pthread_mutex_unlock(&h->mu);
	return hit;
}

void hasher__lookup(struct hasher *h, const struct proc_info *p, struct proc_hashes *out)
{
	struct stat st;
	int fd;

	memset(out, 0, sizeof(*out));
	if (lookup_by_identity(h, p, out))
		return;
	fd = find_exe(h, p, &st);
	if (fd < 0) {
		unavailable(h, out);
		return;
	}
	hash_identified(h, fd, &st, out);
}

void hasher__lookup_path(struct hasher *h, const char *path, struct proc_hashes *out)
{
	struct stat st;
	int fd;

	memset(out, 0, sizeof(*out));
	if (!path || !path[0]) {
		unavailable(h, out);
		return;
	}
	fd = check_candidate(open(path, O_PATH | O_CLOEXEC), NULL, &st);
	if (fd < 0) {
		unavailable(h, out);
		return;
	}
	hash_identified(h, fd, &st, out);
}

void hasher__stats(const struct hasher *h, struct hasher_stats *out)
{
	struct hasher *m = (struct hasher *)h;	/* the lock is not part of the value */

	pthread_mutex_lock(&m->mu);
	*out = h->st;
	out->pending = h->qcount + (h->busy ? 1 : 0);
	pthread_mutex_unlock(&m->mu);
}

void hasher__drain(struct hasher *h)
{
	pthread_mutex_lock(&h->mu);
	while ((h->qcount || h->busy) && h->thread_started)
		pthread_cond_wait(&h->idle_cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

/* ---- life cycle ---- */

static uint64_t self_mntns(void)
{
	struct stat st;

	return stat("/proc/self/ns/mnt", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

struct hasher *hasher__new(const struct hasher_opts *o, char *err, size_t errlen)
{
	static const char *const names[3] = { "SHA256", "SHA1", "MD5" };
	sigset_t all, old;
	struct hasher *h;
	int rc = -ENOMEM;

	h = calloc(1, sizeof(*h));
	if (!h) {
		set_err(err, errlen, "hash: %s", "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (o)
		h->o = *o;
	if (!h->o.max_file_bytes)
		h->o.max_file_bytes = HASH_DEF_MAX_FILE;
	if (!h->o.inline_max_bytes)
		h->o.inline_max_bytes = HASH_DEF_INLINE_MAX;
	if (!h->o.cache_entries)
		h->o.cache_entries = HASH_DEF_CACHE;
	if (!h->o.queue_max)
		h->o.queue_max = HASH_DEF_QUEUE;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->work_cv, NULL);
	pthread_cond_init(&h->idle_cv, NULL);
	atomic_init(&h->stop, false);
	h->lru_head = h->lru_tail = NIL;

	if (h->o.cache_entries > HASH_MAX_CACHE) {
		set_err(err, errlen, "hash: cache_entries %s", "exceeds 4194304");
		rc = -EINVAL;
		goto fail;
	}
	if (h->o.queue_max > HASH_MAX_QUEUE) {
		set_err(err, errlen, "hash: queue_max %s", "exceeds 65536");
		rc = -EINVAL;
		goto fail;
	}

	for (int i = 0; i < 3; i++) {
		h->fetched[i] = EVP_MD_fetch(NULL, names[i], NULL);
		if (!h->fetched[i]) {
			set_err(err, errlen,
				"hash: OpenSSL provides no %s digest (FIPS-only provider?)",
				names[i]);
			rc = -ENOTSUP;
			goto fail;
		}
	}
	h->md256 = h->fetched[0];
	h->md1 = h->fetched[1];
	h->md5 = h->fetched[2];

	h->nbuckets = 1;
	while (h->nbuckets < h->o.cache_entries)
		h->nbuckets <<= 1;
	h->ents = calloc(h->o.cache_entries, sizeof(*h->ents));
	h->buckets = malloc(h->nbuckets * sizeof(*h->buckets));
	h->jobs = calloc(h->o.queue_max, sizeof(*h->jobs));
	if (!h->ents || !h->buckets || !h->jobs) {
		set_err(err, errlen, "hash: %s", "out of memory for the cache and queue");
		goto fail;
	}
	memset(h->buckets, 0xff, h->nbuckets * sizeof(*h->buckets));	/* all NIL */
	if ((rc = digester_init(&h->fg, err, errlen)) || (rc = digester_init(&h->bg, err, errlen)))
		goto fail;
	h->self_mntns = self_mntns();

	/* The worker takes no signals: the daemon handles them on its loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&h->thread, NULL, worker_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		set_err(err, errlen, "hash: cannot start the worker thread: %s", strerror(-rc));
		goto fail;
	}
	pthread_setname_np(h->thread, "vigil-hash");
	h->thread_started = true;
	return h;

fail:
	hasher__free(h);
	errno = -rc;
	return NULL;
}

void hasher__free(struct hasher *h)
{
	if (!h)
		return;
	if (h->thread_started) {
		pthread_mutex_lock(&h->mu);
		atomic_store(&h->stop, true);
		pthread_cond_broadcast(&h->work_cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	for (uint32_t n = 0; h->jobs && n < h->qcount; n++)
		close(h->jobs[(h->qhead + n) % h->o.queue_max].fd);
	digester_free(&h->fg);
	digester_free(&h->bg);
	for (int i = 0; i < 3; i++)
		EVP_MD_free(h->fetched[i]);
	free(h->ents);
	free(h->buckets);
	free(h->jobs);
	pthread_cond_destroy(&h->idle_cv);
	pthread_cond_destroy(&h->work_cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
