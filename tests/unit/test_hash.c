/* Executable hashing: digests against known vectors, the cache and its
 * invalidation, inline vs worker, size limits, hostile paths, and how the
 * executable of a process is found and verified. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "enrich/hash.h"
#include "unit.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_SHA1 "da39a3ee5e6b4b0d3255bfef95601890afd80709"
#define EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"
#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_SHA1 "a9993e364706816aba3e25717850c26c9cd0d89d"
#define ABC_MD5 "900150983cd24fb0d6963f7d28e17f72"
/* (1 MiB + 1) bytes, byte i = (i * 31 + 7) & 0xff; from sha256sum/sha1sum/md5sum. */
#define BIG_LEN ((1u << 20) + 1)
#define BIG_SHA256 "0d09f3eabb5c78e5d435c41e3b3755f1c4d038657f739d0be0083c24e71235df"
#define BIG_SHA1 "b6fa3ae086b93b36da9300c318b2ba057f755525"
#define BIG_MD5 "b68260e9a33f6d74165da80734481246"
/* 64 MiB of zeros (a sparse file). */
#define ZERO64_LEN (64u << 20)
#define ZERO64_SHA256 "3b6a07d0d404fab4e23b6d34bc6696a6a312dd92821332385e5af7c01c421351"
#define ZERO64_SHA1 "44fac4bedde4df04b9572ac665d3ac2c5cd00c7d"
#define ZERO64_MD5 "7f614da9329cd3aebf59b91aadc30bf0"

static char dir[64];

static const char *tpath(const char *name)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *p = bufs[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void write_big(const char *path)
{
	unsigned char *b = malloc(BIG_LEN);

	for (size_t i = 0; i < BIG_LEN; i++)
		b[i] = (unsigned char)((i * 31 + 7) & 0xff);
	write_file(path, b, BIG_LEN);
	free(b);
}

static void write_sparse(const char *path, off_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0 && ftruncate(fd, len) == 0);
	if (fd >= 0)
		close(fd);
}

static void set_mtime(const char *path, time_t sec)
{
	struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static uint64_t kdev_of(dev_t d)
{
	return ((uint64_t)major(d) << 20) | minor(d);
}

static struct hasher *new_hasher(uint64_t max, uint64_t inl, uint32_t cache, uint32_t queue)
{
	struct hasher_opts o = { .max_file_bytes = max, .inline_max_bytes = inl,
				 .cache_entries = cache, .queue_max = queue };
	char err[256] = "";
	struct hasher *h = hasher__new(&o, err, sizeof(err));

	if (!h)
		fprintf(stderr, "hasher__new: %s\n", err);
	CHECK(h != NULL);
	return h;
}

static void check_digests(const struct proc_hashes *r, const char *s256, const char *s1,
			  const char *m5)
{
	CHECK_STR(hash_status_name(r->status), "ok");
	CHECK_STR(r->sha256, s256);
	CHECK_STR(r->sha1, s1);
	CHECK_STR(r->md5, m5);
}

static void test_kdev(void)
{
	struct stat st;
	dev_t d = hash_kdev_to_dev((8ull << 20) | 1);

	CHECK_INT(major(d), 8);
	CHECK_INT(minor(d), 1);
	CHECK(d == makedev(8, 1));
	/* Minor above 255 and major above 255: glibc splits both across bits. */
	d = hash_kdev_to_dev((259ull << 20) | 0x12345);
	CHECK_INT(major(d), 259);
	CHECK_INT(minor(d), 0x12345);
	CHECK(d != (dev_t)((259ull << 20) | 0x12345));
	CHECK(hash_kdev_to_dev(0) == makedev(0, 0));
	CHECK(stat(dir, &st) == 0);
	CHECK(hash_kdev_to_dev(kdev_of(st.st_dev)) == st.st_dev);
}

static void test_bad_opts(void)
{
	struct hasher_opts o = { .cache_entries = (1u << 22) + 1 };
	char err[256] = "";
	struct hasher *h;

	errno = 0;
	h = hasher__new(&o, err, sizeof(err));
	CHECK(h == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(strstr(err, "cache_entries") != NULL);
	o.cache_entries = 0;
	o.queue_max = (1u << 16) + 1;
	err[0] = '\0';
	h = hasher__new(&o, err, sizeof(err));
	CHECK(h == NULL);
	CHECK(strstr(err, "queue_max") != NULL);
	hasher__free(NULL);
	/* NULL options: all defaults. */
	h = hasher__new(NULL, err, sizeof(err));
	CHECK(h != NULL);
	hasher__free(h);
}

static void test_vectors_and_cache(void)
{
	struct hasher *h = new_hasher(0, 0, 0, 0);
	struct hasher_stats s;
	struct proc_hashes r;

	if (!h)
		return;
	write_file(tpath("empty"), "", 0);
	write_file(tpath("abc"), "abc", 3);
	write_big(tpath("big"));

	hasher__lookup_path(h, tpath("empty"), &r);
	check_digests(&r, EMPTY_SHA256, EMPTY_SHA1, EMPTY_MD5);
	CHECK_INT(r.size, 0);
	hasher__lookup_path(h, tpath("abc"), &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	CHECK_INT(r.size, 3);
	hasher__lookup_path(h, tpath("big"), &r);	/* < 4 MiB default: inline */
	check_digests(&r, BIG_SHA256, BIG_SHA1, BIG_MD5);
	CHECK_INT(r.size, BIG_LEN);

	hasher__stats(h, &s);
	CHECK_INT(s.misses, 3);
	CHECK_INT(s.hits, 0);
	CHECK_INT(s.hashed_inline, 3);
	CHECK_INT(s.hashed_worker, 0);

	/* Unchanged file: answered from the cache, not hashed again. */
	hasher__lookup_path(h, tpath("abc"), &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	hasher__lookup_path(h, tpath("big"), &r);
	check_digests(&r, BIG_SHA256, BIG_SHA1, BIG_MD5);
	hasher__stats(h, &s);
	CHECK_INT(s.hits, 2);
	CHECK_INT(s.hashed_inline, 3);

	/* New content and size: hashed again. */
	write_file(tpath("abc"), "abcd", 4);
	hasher__lookup_path(h, tpath("abc"), &r);
	check_digests(&r, "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589",
		      "81fe8bfe87576c3ecb22426f8e57847382917acf",
		      "e2fc714c4727ee9395f324cd2e7f331f");
	CHECK_INT(r.size, 4);
	/* Same size, only the mtime differs: must not be served the old entry. */
	write_file(tpath("abc"), "abc", 3);
	set_mtime(tpath("abc"), 1000000000);
	hasher__lookup_path(h, tpath("abc"), &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	set_mtime(tpath("abc"), 1000000001);
	hasher__lookup_path(h, tpath("abc"), &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	hasher__stats(h, &s);
	CHECK_INT(s.hashed_inline, 6);
	CHECK_INT(s.misses, 6);
	CHECK_INT(s.hits, 2);
	/* Same size, content changed, mtime put back to the exact old value (as
	 * an attacker hiding a patch would): the ctime still gives it away. */
	{
		struct stat before;
		struct timespec ts[2];

		CHECK(stat(tpath("abc"), &before) == 0);
		ts[0] = before.st_atim;
		ts[1] = before.st_mtim;
		usleep(10000);	/* let the clock move past before's ctime */
		write_file(tpath("abc"), "xyz", 3);
		CHECK(utimensat(AT_FDCWD, tpath("abc"), ts, 0) == 0);
		hasher__lookup_path(h, tpath("abc"), &r);
		check_digests(&r,
			      "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282",
			      "66b27417d37e024c46526c2f6d358a754fc552f3",
			      "d16fb36f0911f878998c136191af705e");
		hasher__stats(h, &s);
		CHECK_INT(s.hashed_inline, 7);
		CHECK_INT(s.hits, 2);
	}

	/* A symlink is followed to its target (same cache entry). */
	CHECK(symlink(tpath("big"), tpath("biglink")) == 0);
	hasher__lookup_path(h, tpath("biglink"), &r);
	check_digests(&r, BIG_SHA256, BIG_SHA1, BIG_MD5);
	hasher__stats(h, &s);
	CHECK_INT(s.hits, 3);
	CHECK_INT(s.errors, 0);
	CHECK_INT(s.unavailable, 0);
	hasher__free(h);
}

static void test_lru(void)
{
	struct hasher *h = new_hasher(0, 0, 2, 0);
	struct hasher_stats s;
	struct proc_hashes r;

	if (!h)
		return;
	write_file(tpath("la"), "a", 1);
	write_file(tpath("lb"), "b", 1);
	write_file(tpath("lc"), "c", 1);
	hasher__lookup_path(h, tpath("la"), &r);
	hasher__lookup_path(h, tpath("lb"), &r);
	hasher__lookup_path(h, tpath("la"), &r);	/* hit: a is now most recent */
	hasher__lookup_path(h, tpath("lc"), &r);	/* evicts b */
	hasher__stats(h, &s);
	CHECK_INT(s.hits, 1);
	CHECK_INT(s.evictions, 1);
	hasher__lookup_path(h, tpath("la"), &r);	/* still cached */
	hasher__stats(h, &s);
	CHECK_INT(s.hits, 2);
	hasher__lookup_path(h, tpath("lb"), &r);	/* miss, evicts c */
	CHECK_STR(r.sha256, "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d");
	hasher__stats(h, &s);
	CHECK_INT(s.hits, 2);
	CHECK_INT(s.misses, 4);
	CHECK_INT(s.evictions, 2);
	hasher__lookup_path(h, tpath("la"), &r);
	hasher__lookup_path(h, tpath("lb"), &r);
	hasher__lookup_path(h, tpath("lc"), &r);	/* evicted */
	hasher__stats(h, &s);
	CHECK_INT(s.hits, 4);
	CHECK_INT(s.misses, 5);
	CHECK_INT(s.evictions, 3);
	hasher__free(h);
}

static void test_sizes(void)
{
	struct hasher *h = new_hasher(100, 10, 0, 0);
	char data[101];
	struct hasher_stats s;
	struct proc_hashes r;

	if (!h)
		return;
	memset(data, 'x', sizeof(data));
	write_file(tpath("s101"), data, 101);
	write_file(tpath("s100"), data, 100);
	write_file(tpath("s10"), data, 10);

	hasher__lookup_path(h, tpath("s101"), &r);
	CHECK_STR(hash_status_name(r.status), "skipped_size");
	CHECK_INT(r.size, 101);
	CHECK_STR(r.sha256, "");
	CHECK_STR(r.md5, "");
	hasher__lookup_path(h, tpath("s101"), &r);	/* cached as skipped */
	CHECK_STR(hash_status_name(r.status), "skipped_size");
	CHECK_INT(r.size, 101);
	hasher__stats(h, &s);
	CHECK_INT(s.skipped_size, 2);
	CHECK_INT(s.hits, 1);
	CHECK_INT(s.misses, 1);

	/* Exactly inline_max: inline. Exactly max_file_bytes: hashed, by the worker. */
	hasher__lookup_path(h, tpath("s10"), &r);
	CHECK_STR(hash_status_name(r.status), "ok");
	CHECK_STR(r.sha256, "fc11d6f28e59d3cc33c0b14ceb644bf0902ebd63d61218dffe9e7dac7c254542");
	hasher__lookup_path(h, tpath("s100"), &r);
	CHECK_STR(hash_status_name(r.status), "pending");
	CHECK_INT(r.size, 100);
	hasher__drain(h);
	hasher__lookup_path(h, tpath("s100"), &r);
	CHECK_STR(hash_status_name(r.status), "ok");
	hasher__stats(h, &s);
	CHECK_INT(s.hashed_inline, 1);
	CHECK_INT(s.hashed_worker, 1);
	hasher__free(h);
}

static void test_worker(void)
{
	struct hasher *h = new_hasher(0, 1024, 0, 0);
	struct hasher_stats s;
	uint64_t hits;
	struct proc_hashes r;

	if (!h)
		return;
	write_big(tpath("wbig"));
	hasher__lookup_path(h, tpath("wbig"), &r);
	CHECK_STR(hash_status_name(r.status), "pending");
	CHECK_INT(r.size, BIG_LEN);
	CHECK_STR(r.sha256, "");
	/* Asked again before it is done: no second job. */
	hasher__lookup_path(h, tpath("wbig"), &r);
	CHECK(r.status == HASH_PENDING || r.status == HASH_OK);
	hasher__stats(h, &s);
	CHECK(s.pending <= 1);
	hasher__drain(h);
	hasher__stats(h, &s);
	CHECK_INT(s.pending, 0);
	CHECK_INT(s.hashed_worker, 1);
	CHECK_INT(s.hashed_inline, 0);
	hasher__lookup_path(h, tpath("wbig"), &r);
	check_digests(&r, BIG_SHA256, BIG_SHA1, BIG_MD5);
	CHECK_INT(r.size, BIG_LEN);
	hasher__stats(h, &s);
	CHECK_INT(s.hashed_worker, 1);

	/* The job hashes the file that was identified, even when its path now
	 * leads elsewhere. (The directory is renamed, not the file: replacing the
	 * file itself changes the old inode's link count and so its ctime, which
	 * the worker rightly treats as "changed while read".) */
	CHECK(mkdir(tpath("sub"), 0755) == 0);
	write_sparse(tpath("sub/z"), ZERO64_LEN);
	hasher__lookup_path(h, tpath("sub/z"), &r);
	CHECK_STR(hash_status_name(r.status), "pending");
	CHECK(rename(tpath("sub"), tpath("sub.old")) == 0);
	CHECK(mkdir(tpath("sub"), 0755) == 0);
	write_file(tpath("sub/z"), "abc", 3);
	hasher__drain(h);
	hasher__stats(h, &s);
	CHECK_INT(s.hashed_worker, 2);
	hits = s.hits;
	hasher__lookup_path(h, tpath("sub/z"), &r);	/* the new small file */
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	hasher__lookup_path(h, tpath("sub.old/z"), &r);	/* the old one, from the cache */
	check_digests(&r, ZERO64_SHA256, ZERO64_SHA1, ZERO64_MD5);
	hasher__stats(h, &s);
	CHECK_INT(s.hits, hits + 1);	/* the new file was a miss */
	CHECK(unlink(tpath("sub/z")) == 0 && rmdir(tpath("sub")) == 0);
	CHECK(unlink(tpath("sub.old/z")) == 0 && rmdir(tpath("sub.old")) == 0);

	/* Modified while the worker reads it: result discarded, not cached. */
	write_sparse(tpath("zmod"), ZERO64_LEN);
	hasher__lookup_path(h, tpath("zmod"), &r);
	CHECK_STR(hash_status_name(r.status), "pending");
	set_mtime(tpath("zmod"), 1234567890);
	hasher__drain(h);
	hasher__stats(h, &s);
	CHECK_INT(s.hashed_worker, 2);
	CHECK_INT(s.unavailable, 1);
	hasher__lookup_path(h, tpath("zmod"), &r);	/* new version: queued again */
	CHECK_STR(hash_status_name(r.status), "pending");
	hasher__drain(h);
	hasher__lookup_path(h, tpath("zmod"), &r);
	check_digests(&r, ZERO64_SHA256, ZERO64_SHA1, ZERO64_MD5);
	CHECK_INT(r.size, ZERO64_LEN);
	hasher__free(h);
}

static void test_queue_full(void)
{
	struct hasher *h = new_hasher(0, 1024, 0, 1);
	struct hasher_stats s;
	struct proc_hashes r1, r2, r3;

	if (!h)
		return;
	write_sparse(tpath("q1"), ZERO64_LEN);
	write_sparse(tpath("q2"), ZERO64_LEN);
	write_sparse(tpath("q3"), ZERO64_LEN);
	/* q1 keeps the worker busy far longer than the next two lookups take:
	 * with a queue of one, q3 at least cannot be queued. */
	hasher__lookup_path(h, tpath("q1"), &r1);
	hasher__lookup_path(h, tpath("q2"), &r2);
	hasher__lookup_path(h, tpath("q3"), &r3);
	CHECK_STR(hash_status_name(r1.status), "pending");
	CHECK(r2.status == HASH_PENDING || r2.status == HASH_UNAVAILABLE);
	CHECK_STR(hash_status_name(r3.status), "unavailable");
	CHECK_INT(r3.size, ZERO64_LEN);
	hasher__stats(h, &s);
	CHECK(s.queue_full >= 1 && s.queue_full <= 2);
	CHECK_INT(s.unavailable, 0);
	hasher__drain(h);
	hasher__lookup_path(h, tpath("q1"), &r1);
	check_digests(&r1, ZERO64_SHA256, ZERO64_SHA1, ZERO64_MD5);
	hasher__free(h);
}

static void test_free_while_busy(void)
{
	struct hasher *h = new_hasher(0, 1024, 0, 4);
	struct timespec t0, t1;
	struct proc_hashes r;
	int fds = count_fds();
	double ms;

	if (!h)
		return;
	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		write_sparse(tpath(name), 4 * (off_t)ZERO64_LEN);
		hasher__lookup_path(h, tpath(name), &r);
		CHECK_STR(hash_status_name(r.status), "pending");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	hasher__free(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* Four 256 MiB files would take seconds; free cuts the job short. */
	CHECK(ms < 500);
	CHECK_INT(count_fds(), fds);
}

static void test_not_regular(void)
{
	struct hasher *h = new_hasher(0, 0, 0, 0);
	struct hasher_stats s;
	struct proc_hashes r;
	char *longp;

	if (!h)
		return;
	CHECK(mkfifo(tpath("fifo"), 0600) == 0);
	hasher__lookup_path(h, tpath("fifo"), &r);	/* must not hang (alarm in main) */
	CHECK_STR(hash_status_name(r.status), "unavailable");
	CHECK_INT(r.size, 0);
	hasher__lookup_path(h, dir, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	hasher__lookup_path(h, "/dev/null", &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	hasher__lookup_path(h, tpath("missing"), &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	hasher__lookup_path(h, "", &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	hasher__lookup_path(h, NULL, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	CHECK(symlink(tpath("nowhere"), tpath("dangling")) == 0);
	hasher__lookup_path(h, tpath("dangling"), &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	longp = malloc(3 * PATH_MAX);
	memset(longp, 'a', 3 * PATH_MAX - 1);
	longp[0] = '/';
	longp[3 * PATH_MAX - 1] = '\0';
	hasher__lookup_path(h, longp, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	free(longp);
	hasher__stats(h, &s);
	CHECK_INT(s.unavailable, 8);
	CHECK_INT(s.misses, 0);
	hasher__free(h);
}

/* sha256 of a whole file, computed independently of the hasher. */
static void sha256_file(const char *path, char out[65])
{
	unsigned char md[32];
	unsigned char *data = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			data = realloc(data, cap);
		}
		n = read(fd, data + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL))
		for (int i = 0; i < 32; i++)
			sprintf(out + 2 * i, "%02x", md[i]);
	free(data);
}

static void test_proc_exe(void)
{
	struct hasher *h = new_hasher(0, 64ull << 20, 0, 0);
	struct proc_info p;
	struct proc_hashes r;
	struct hasher_stats s;
	struct stat st;
	char self[PATH_MAX], want[65];
	uint64_t mntns;
	pid_t child, dead;

	if (!h)
		return;
	CHECK(realpath("/proc/self/exe", self) != NULL);
	CHECK(stat(self, &st) == 0);
	sha256_file(self, want);

	/* (a) /proc/<pid>/exe of a live process, identity verified. */
	memset(&p, 0, sizeof(p));
	p.pid = (uint32_t)getpid();
	p.exe = self;
	p.exe_dev = kdev_of(st.st_dev);
	p.exe_ino = st.st_ino;
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "ok");
	CHECK_STR(r.sha256, want);
	CHECK_INT(r.size, st.st_size);
	/* Identity unknown (audit source): accepted as is. */
	p.exe_dev = p.exe_ino = 0;
	hasher__lookup(h, &p, &r);
	CHECK_STR(r.sha256, want);

	/* Not the executed file: wrong inode, or wrong device, anywhere. */
	p.exe_dev = kdev_of(st.st_dev);
	p.exe_ino = st.st_ino + 1;
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	CHECK_INT(r.size, 0);
	CHECK_STR(r.sha256, "");
	p.exe_ino = st.st_ino;
	p.exe_dev = kdev_of(st.st_dev) + 1;
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	/* st_dev in glibc's encoding where the kernel's is expected must not match
	 * unless both encodings agree (major and minor < 256 on both sides). */
	p.exe_dev = st.st_dev;
	hasher__lookup(h, &p, &r);
	CHECK(r.status == (kdev_of(st.st_dev) == (uint64_t)st.st_dev ? HASH_OK : HASH_UNAVAILABLE));

	write_file(tpath("pexe"), "abc", 3);
	CHECK(stat(tpath("pexe"), &st) == 0);
	{
		struct stat ns;

		mntns = stat("/proc/self/ns/mnt", &ns) == 0 ? ns.st_ino : 0;
	}
	CHECK(mntns != 0);

	/* (b): the live process's exe is not our file, but p->exe inside its root
	 * is; a foreign mount namespace rules out (c). */
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	CHECK(child > 0);
	memset(&p, 0, sizeof(p));
	p.pid = (uint32_t)child;
	p.exe = (char *)tpath("pexe");
	p.exe_dev = kdev_of(st.st_dev);
	p.exe_ino = st.st_ino;
	p.mntns = (uint32_t)mntns + 1;
	hasher__lookup(h, &p, &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	CHECK_INT(r.size, 3);
	/* A relative exe cannot be resolved anywhere. */
	p.exe = (char *)"pexe";
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	/* A path past PATH_MAX inside the root fails cleanly. */
	{
		char *longp = malloc(2 * PATH_MAX);

		memset(longp, 'b', 2 * PATH_MAX - 1);
		longp[0] = '/';
		longp[2 * PATH_MAX - 1] = '\0';
		p.exe = longp;
		hasher__lookup(h, &p, &r);
		CHECK_STR(hash_status_name(r.status), "unavailable");
		free(longp);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	/* (c): the process is gone; the path in our own root is used only when
	 * it shares our mount namespace (or that is unknown). */
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	memset(&p, 0, sizeof(p));
	p.pid = (uint32_t)dead;
	p.exe = (char *)tpath("pexe");
	p.exe_dev = kdev_of(st.st_dev);
	p.exe_ino = st.st_ino;
	p.mntns = (uint32_t)mntns;
	hasher__lookup(h, &p, &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	p.mntns = 0;
	hasher__lookup(h, &p, &r);
	check_digests(&r, ABC_SHA256, ABC_SHA1, ABC_MD5);
	p.mntns = (uint32_t)mntns + 1;
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	p.mntns = 0;
	p.exe_ino = st.st_ino + 1;
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	/* Replaced since the exec: same path, other inode. */
	p.exe_ino = st.st_ino;
	write_file(tpath("pexe.new"), "abc", 3);
	CHECK(rename(tpath("pexe.new"), tpath("pexe")) == 0);
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	/* Nothing to go on at all. */
	memset(&p, 0, sizeof(p));
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");

	hasher__stats(h, &s);
	CHECK_INT(s.errors, 0);
	hasher__free(h);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n;

	CHECK(in >= 0 && out >= 0);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)n) == n);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

/* The executable was deleted after the exec (a dropper cleaning up): only
 * /proc/<pid>/exe still reaches it, and it must be hashed from there. */
static void test_deleted_exe(void)
{
	struct hasher *h = new_hasher(0, 0, 0, 0);
	char link[PATH_MAX], want[65], exe[PATH_MAX];
	struct proc_info p;
	struct proc_hashes r;
	struct stat st;
	pid_t child;
	ssize_t n = -1;

	if (!h)
		return;
	snprintf(exe, sizeof(exe), "%s", tpath("dropped"));
	copy_file("/usr/bin/sleep", exe);
	sha256_file(exe, want);
	CHECK(stat(exe, &st) == 0);
	child = fork();
	if (child == 0) {
		execl(exe, "dropped", "30", (char *)NULL);
		_exit(127);
	}
	CHECK(child > 0);
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)child);
	for (int i = 0; i < 400; i++) {	/* wait for the exec, at most 2 s */
		char got[PATH_MAX];

		n = readlink(link, got, sizeof(got) - 1);
		if (n > 0 && (got[n] = '\0', strcmp(got, exe) == 0))
			break;
		n = -1;
		usleep(5000);
	}
	CHECK(n > 0);
	CHECK(unlink(exe) == 0);
	memset(&p, 0, sizeof(p));
	p.pid = (uint32_t)child;
	p.exe = exe;
	p.exe_dev = kdev_of(st.st_dev);
	p.exe_ino = st.st_ino;
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "ok");
	CHECK_STR(r.sha256, want);
	CHECK_INT(r.size, st.st_size);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* Gone and deleted: nothing left to hash. */
	hasher__lookup(h, &p, &r);
	CHECK_STR(hash_status_name(r.status), "unavailable");
	hasher__free(h);
}

static void cleanup_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(tpath(e->d_name));
	closedir(d);
	rmdir(dir);
}

/* The identity the kernel reports at exec answers from the cache without
 * opening anything: the file may be gone by then (pid dead, path removed). */
static void test_identity_fast_path(void)
{
	struct hasher *h = new_hasher(0, 0, 64, 4);
	const char *path = tpath("ident");
	struct proc_info p = { 0 };
	struct proc_hashes r;
	struct hasher_stats st;
	struct stat sb;

	write_file(path, "abc", 3);
	hasher__lookup_path(h, path, &r);
	CHECK_INT(r.status, HASH_OK);
	CHECK(stat(path, &sb) == 0);
	unlink(path);

	p.pid = 0x7ffffff0;	/* no such process */
	p.exe = (char *)path;	/* no such file any more */
	p.exe_dev = kdev_of(sb.st_dev);
	p.exe_ino = sb.st_ino;
	p.exe_size = (uint64_t)sb.st_size;
	p.exe_mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	p.exe_ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
	p.exe_stat_known = true;
	hasher__lookup(h, &p, &r);
	CHECK_INT(r.status, HASH_OK);
	CHECK_STR(r.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_INT(r.size, 3);
	hasher__stats(h, &st);
	CHECK_INT(st.hits, 1);

	/* another version of the file (ctime moved): the cache must not answer */
	p.exe_ctime_ns += 1;
	hasher__lookup(h, &p, &r);
	CHECK_INT(r.status, HASH_UNAVAILABLE);
	/* not known: the slow path, which finds nothing here */
	p.exe_ctime_ns -= 1;
	p.exe_stat_known = false;
	hasher__lookup(h, &p, &r);
	CHECK_INT(r.status, HASH_UNAVAILABLE);
	hasher__free(h);
}

int main(void)
{
	int fds;

	alarm(120);	/* a hang (FIFO, lost wakeup) fails the test instead of blocking */
	snprintf(dir, sizeof(dir), "/tmp/vigil-hash-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	fds = count_fds();
	test_kdev();
	test_bad_opts();
	test_vectors_and_cache();
	test_lru();
	test_sizes();
	test_worker();
	test_queue_full();
	test_free_while_busy();
	test_not_regular();
	test_proc_exe();
	test_deleted_exe();
	test_identity_fast_path();
	CHECK_INT(count_fds(), fds);	/* no fd leaked anywhere */
	cleanup_dir();
	return unit_report("test_hash");
}
