/* The fixture dpkg tree lives in tests/fixtures/dpkg/root; run from the
 * repository root. Trees that a test modifies are copies under /tmp. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "enrich/packages.h"
#include "unit.h"

#define FIX "tests/fixtures/dpkg/root"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static int owner(struct packages *p, const char *path, const char **name, const char **ver)
{
	*name = NULL;
	*ver = NULL;
	return packages__owner(p, path, name, ver);
}

/* Checks that path is owned by want_name at want_ver. */
#define CHECK_OWNER(p, path, want_name, want_ver)                                        \
	do {                                                                              \
		const char *n_, *v_;                                                      \
		int r_ = owner(p, path, &n_, &v_);                                        \
		CHECK_INT(r_, 0);                                                         \
		if (r_ == 0) {                                                            \
			CHECK_STR(n_, want_name);                                         \
			CHECK_STR(v_, want_ver);                                          \
		} else {                                                                  \
			fprintf(stderr, "  path: %s\n", path);                            \
		}                                                                         \
	} while (0)

#define CHECK_NOOWNER(p, path)                                                            \
	do {                                                                              \
		const char *n_, *v_;                                                      \
		int r_ = owner(p, path, &n_, &v_);                                        \
		CHECK_INT(r_, -ENOENT);                                                   \
		if (r_ != -ENOENT)                                                        \
			fprintf(stderr, "  path: %s owned by %s %s\n", path,              \
				n_ ? n_ : "?", v_ ? v_ : "?");                            \
	} while (0)

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

static void make_tmp(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/vigil-packages-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
}

static void rm_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

static void mkdirs(const char *root, const char *rel)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
	CHECK_INT(system(cmd), 0);
}

static void test_fixture(void)
{
	struct packages_stats st;
	struct packages *p;
	char err[256] = "", long_path[6000];
	const char *n, *v;

	p = packages__new(FIX, err, sizeof(err));
	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	/* nothing read before the first lookup */
	packages__stats(p, &st);
	CHECK_INT(st.packages, 0);
	CHECK_INT(st.load_ns, 0);

	/* multi-arch: both .list files carry ":arch", versions from their stanza */
	CHECK_OWNER(p, "/lib/x86_64-linux-gnu/libc.so.6", "libc6", "2.36-9+deb12u4");
	CHECK_OWNER(p, "/lib/i386-linux-gnu/libc.so.6", "libc6", "2.36-9+deb12u4");
	CHECK_OWNER(p, "/usr/share/doc/libc6", "libc6", "2.36-9+deb12u4");
	/* shared path: the first .list in byte order ("coreutils" < "libc6:amd64") */
	CHECK_OWNER(p, "/usr", "coreutils", "9.1-1");

	/* merged /usr, both directions and every pair */
	CHECK_OWNER(p, "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc6", "2.36-9+deb12u4");
	CHECK_OWNER(p, "/usr/lib64/ld-linux-x86-64.so.2", "libc6", "2.36-9+deb12u4");
	CHECK_OWNER(p, "/lib64/ld-other.so", "usrmerged", "1:2.0~rc1-3+b1");
	CHECK_OWNER(p, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", "usrmerged", "1:2.0~rc1-3+b1");
	CHECK_OWNER(p, "/sbin/bar", "usrmerged", "1:2.0~rc1-3+b1");
	CHECK_OWNER(p, "/usr/sbin/bar", "usrmerged", "1:2.0~rc1-3+b1");
	CHECK_OWNER(p, "/bin/cat", "coreutils", "9.1-1");
	CHECK_OWNER(p, "/usr/bin/cat", "coreutils", "9.1-1");
	/* the alternate is only tried across a whole directory component */
	CHECK_NOOWNER(p, "/usr/lib64x/ld-other.so");
	CHECK_NOOWNER(p, "/usr/libfoo/x86_64-linux-gnu/libc.so.6");
	CHECK_NOOWNER(p, "/usr/lib/i386-linux-gnu/libc.so.6x");

	/* near misses */
	CHECK_NOOWNER(p, "/lib/x86_64-linux-gnu/libc.so");
	CHECK_NOOWNER(p, "/lib/x86_64-linux-gnu/libc.so.6/");
	CHECK_NOOWNER(p, "/lib/x86_64-linux-gnu/libc.so.66");
	CHECK_NOOWNER(p, "/nonexistent");
	CHECK_NOOWNER(p, "/");
	CHECK_NOOWNER(p, "/.");
	CHECK_NOOWNER(p, "");
	CHECK_NOOWNER(p, "lib/x86_64-linux-gnu/libc.so.6");

	/* status: continuation lines that look like fields are ignored */
	CHECK_OWNER(p, "/usr/bin/tr.coreutils", "coreutils", "9.1-1");
	CHECK_OWNER(p, "/usr/bin/noversion", "noversion", "");
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.0");
	CHECK_OWNER(p, "/etc/removed.conf", "removed", "3.0");
	CHECK_OWNER(p, "/etc/purged.conf", "purged", "");
	CHECK_OWNER(p, "/usr/bin/longdesc", "longdesc", "1.2");
	CHECK_OWNER(p, "/usr/bin/nostanza", "nostanza", "");
	CHECK_OWNER(p, "/usr/bin/badversion", "badversion", "");

	/* diversions: the diverter keeps the path, the others move aside;
	 * true whichever .list is read first (coreutils before zz-tr) */
	CHECK_OWNER(p, "/usr/bin/tr", "zz-tr", "0.1");
	CHECK_OWNER(p, "/usr/bin/tool", "divertpkg", "0.9");
	CHECK_OWNER(p, "/usr/bin/tool.distrib", "tool", "5.0");
	CHECK_OWNER(p, "/usr/share/man/man1/tool.1.gz", "tool", "5.0");
	CHECK_NOOWNER(p, "/etc/local.conf");	/* --local: the admin's file */
	CHECK_OWNER(p, "/etc/local.conf.orig", "basepkg", "13");
	CHECK_NOOWNER(p, "/x");

	/* a huge line is skipped, the lines around it are not; so is junk */
	CHECK_OWNER(p, "/usr/bin/beforehuge", "huge", "7");
	CHECK_OWNER(p, "/usr/bin/afterhuge", "huge", "7");
	CHECK_OWNER(p, "/usr/bin/nonewline", "huge", "7");
	CHECK_OWNER(p, "/usr/bin/afterjunk", "junk", "8");
	CHECK_NOOWNER(p, "/usr/bin/junk");
	long_path[0] = '/';
	memset(long_path + 1, 'a', 5000);
	long_path[5001] = '\0';
	CHECK_NOOWNER(p, long_path);

	/* .list files that name no package, or are no file */
	CHECK_NOOWNER(p, "/usr/bin/badname");
	CHECK_NOOWNER(p, "/usr/bin/emptyname");
	CHECK_NOOWNER(p, "/usr/bin/dotlist");
	CHECK_NOOWNER(p, "/usr/bin/noarch");

	CHECK_INT(packages__owner(NULL, "/usr", &n, &v), -EINVAL);
	CHECK_INT(packages__owner(p, NULL, &n, &v), -EINVAL);
	CHECK_INT(packages__owner(p, "/usr", NULL, &v), -EINVAL);
	CHECK_INT(packages__owner(p, "/usr", &n, NULL), -EINVAL);

	packages__stats(p, &st);
	CHECK_INT(st.packages, 17);
	CHECK_INT(st.diversions, 3);
	CHECK_INT(st.long_lines, 2);	/* status Description, huge.list */
	/* status 7 (a repeated Version field, a line without a colon, a stanza
	 * without Package, a duplicate stanza, a bad name whose stanza is then
	 * nameless, a version with blanks), diversions 2, .list names 4, junk 7 */
	CHECK_INT(st.bad_lines, 20);
	CHECK_INT(st.load_errors, 0);
	CHECK_INT(st.reloads, 0);
	CHECK(st.load_ns > 0);
	CHECK(st.files_indexed >= 30 && st.files_indexed <= 45);
	CHECK(st.memory_bytes > 0);
	CHECK(st.hits > 0 && st.hits < st.lookups);
	CHECK_INT(st.alt_hits, 6);
	CHECK_STR(packages__last_error(p), "");
	packages__free(p);
	packages__free(NULL);
}

static void set_mtime(const char *path, time_t sec)
{
	struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

	CHECK_INT(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_reload(void)
{
	char dir[64], path[320], status[256], cmd[512];
	struct packages_stats st;
	struct packages *p;
	const char *n, *v;
	struct stat sb;
	char *buf;
	size_t len;
	FILE *f;

	make_tmp(dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd), "cp -a " FIX "/. '%s'", dir);
	CHECK_INT(system(cmd), 0);
	snprintf(status, sizeof(status), "%s/var/lib/dpkg/status", dir);
	p = packages__new(dir, NULL, 0);
	CHECK(p != NULL);
	if (!p)
		goto out;
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.0");
	CHECK_NOOWNER(p, "/usr/bin/newpkg");
	CHECK_INT(owner(p, "/usr/bin/dup", &n, &v), 0);

	/* an upgrade: dup 1.0 -> 1.1 and a new package */
	f = fopen(status, "r");
	CHECK(f != NULL);
	if (!f)
		goto out;
	buf = calloc(1, 1 << 20);
	len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	f = fopen(status, "w");
	CHECK(f != NULL);
	if (f) {
		char *d = strstr(buf, "Package: dup\nStatus: install ok installed\n"
				      "Architecture: amd64\nVersion: 1.0");

		CHECK(d != NULL);
		if (d)
			d[strlen("Package: dup\nStatus: install ok installed\n"
				 "Architecture: amd64\nVersion: 1.")] = '1';
		fwrite(buf, 1, len, f);
		fputs("\nPackage: newpkg\nStatus: install ok installed\nVersion: 0.0.1\n", f);
		fclose(f);
	}
	free(buf);
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/newpkg.list", dir);
	write_str(path, "/usr/bin/newpkg\n");
	CHECK_INT(stat(status, &sb), 0);
	set_mtime(status, sb.st_mtime + 5);

	/* within the 10 s throttle: the old index answers */
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.0");
	CHECK_NOOWNER(p, "/usr/bin/newpkg");
	packages__stats(p, &st);
	CHECK_INT(st.reloads, 0);

	packages__set_recheck_ms(p, 0);
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.1");
	CHECK_OWNER(p, "/usr/bin/newpkg", "newpkg", "0.0.1");
	CHECK_OWNER(p, "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc6", "2.36-9+deb12u4");
	packages__stats(p, &st);
	CHECK_INT(st.reloads, 1);
	CHECK_INT(st.packages, 18);
	/* unchanged status: no reload */
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.1");
	packages__stats(p, &st);
	CHECK_INT(st.reloads, 1);

	/* only the mtime moves (same size, same inode): still a reload */
	CHECK_INT(stat(status, &sb), 0);
	set_mtime(status, sb.st_mtime + 5);
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.1");
	packages__stats(p, &st);
	CHECK_INT(st.reloads, 2);

	/* a status that cannot be read: the old index stays, one error */
	snprintf(path, sizeof(path), "%s.saved", status);
	CHECK_INT(rename(status, path), 0);
	CHECK_INT(mkfifo(status, 0600), 0);
	CHECK_OWNER(p, "/usr/bin/newpkg", "newpkg", "0.0.1");
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.1");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 1);
	CHECK_INT(st.reloads, 2);
	CHECK(strstr(packages__last_error(p), "not a regular file") != NULL);
	CHECK(strstr(packages__last_error(p), dir) != NULL);
	CHECK_INT(unlink(status), 0);
	CHECK_INT(rename(path, status), 0);
	CHECK_OWNER(p, "/usr/bin/dup", "dup", "1.1");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 1);
	CHECK_INT(st.reloads, 3);
	CHECK_STR(packages__last_error(p), "");

	/* dpkg removed: an empty index, not an error */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/var/lib/dpkg'", dir);
	CHECK_INT(system(cmd), 0);
	CHECK_NOOWNER(p, "/usr/bin/dup");
	packages__stats(p, &st);
	CHECK_INT(st.packages, 0);
	CHECK_INT(st.load_errors, 1);
out:
	packages__free(p);
	rm_tree(dir);
}

/* Symlinks inside a container's root resolve inside it, never to the host's
 * files; a .list symlink is not followed at all. */
static void test_root_confinement(void)
{
	char dir[64], path[256];
	struct packages *p;

	make_tmp(dir, sizeof(dir));
	mkdirs(dir, "var/lib/dpkg/info-real");
	mkdirs(dir, "etc");
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info", dir);
	CHECK_INT(symlink("/var/lib/dpkg/info-real", path), 0);
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/status", dir);
	CHECK_INT(symlink("../../../../../../../etc/status-inside", path), 0);
	snprintf(path, sizeof(path), "%s/etc/status-inside", dir);
	write_str(path, "Package: foo\nStatus: install ok installed\nVersion: 9\n");
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info-real/foo.list", dir);
	write_str(path, "/opt/foo\n");
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info-real/libc6:amd64.list", dir);
	CHECK_INT(symlink("/var/lib/dpkg/info/libc6:amd64.list", path), 0);

	p = packages__new(dir, NULL, 0);
	CHECK(p != NULL);
	CHECK_OWNER(p, "/opt/foo", "foo", "9");
	CHECK_NOOWNER(p, "/lib/x86_64-linux-gnu/libc.so.6");
	CHECK_NOOWNER(p, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	CHECK_NOOWNER(p, "/usr/bin/ls");
	packages__free(p);
	rm_tree(dir);
}

static void test_no_dpkg(void)
{
	struct packages_stats st;
	char dir[64], err[256] = "";
	struct packages *p;

	make_tmp(dir, sizeof(dir));
	p = packages__new(dir, err, sizeof(err));
	CHECK(p != NULL);
	CHECK_NOOWNER(p, "/usr/bin/ls");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 0);
	CHECK_INT(st.packages, 0);
	CHECK_INT(st.lookups, 1);
	packages__free(p);
	rm_tree(dir);

	/* a root that does not exist (the process is gone) */
	p = packages__new("/nonexistent/proc/1/root", err, sizeof(err));
	CHECK(p != NULL);
	CHECK_NOOWNER(p, "/usr/bin/ls");
	CHECK_NOOWNER(p, "/usr/bin/ls");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 1);
	CHECK(strstr(packages__last_error(p), "/nonexistent/proc/1/root") != NULL);
	packages__free(p);

	CHECK(packages__new(NULL, err, sizeof(err)) == NULL);
	CHECK(strlen(err) > 0);
	CHECK(packages__new("", NULL, 0) == NULL);
	CHECK_STR(packages__last_error(NULL), "");
	packages__set_recheck_ms(NULL, 0);
	packages__stats(NULL, &st);
	CHECK_INT(st.lookups, 0);
}

/* Sparse files: the caps refuse on size before reading anything. */
static void test_caps(void)
{
	struct packages_stats st;
	char dir[64], path[256];
	struct packages *p;
	int fd;

	make_tmp(dir, sizeof(dir));
	mkdirs(dir, "var/lib/dpkg/info");
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/a.list", dir);
	write_str(path, "/usr/bin/a\n");
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/big.list", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_INT(ftruncate(fd, PACKAGES_MAX_LIST_BYTES), 0);
	close(fd);

	p = packages__new(dir, NULL, 0);
	CHECK_NOOWNER(p, "/usr/bin/a");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 1);
	CHECK_INT(st.packages, 0);
	CHECK(strstr(packages__last_error(p), "refused") != NULL);
	packages__free(p);

	/* just under the cap together: loaded (the sparse file is one long line) */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_INT(ftruncate(fd, PACKAGES_MAX_LIST_BYTES - 11), 0);
	close(fd);
	p = packages__new(dir, NULL, 0);
	CHECK_OWNER(p, "/usr/bin/a", "a", "");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 0);
	CHECK_INT(st.packages, 2);
	CHECK_INT(st.long_lines, 1);
	CHECK(st.memory_bytes < (1u << 20));	/* the arena gave its slack back */
	packages__free(p);

	snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/big.list", dir);
	CHECK_INT(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/status", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_INT(ftruncate(fd, (off_t)PACKAGES_MAX_STATUS_BYTES + 1), 0);
	close(fd);
	p = packages__new(dir, NULL, 0);
	CHECK_NOOWNER(p, "/usr/bin/a");
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 1);
	CHECK(strstr(packages__last_error(p), "status") != NULL);
	packages__free(p);
	rm_tree(dir);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

/* Bytes biased towards the characters the parsers look for. */
static void junk_file(const char *path, size_t max)
{
	static const char alphabet[] = "/\n\n::  \t.aZ0\r\0\xff";
	static const char *words[] = { "Package: ", "Version: ", "Status: install ok installed",
				       "Architecture: ", "/usr/lib/", "/lib/", "\n\n", ":amd64" };
	size_t n = rnd() % max, i = 0, w;
	char *buf = malloc(n + 64);

	while (i < n) {
		if (rnd() % 8 == 0) {
			w = rnd() % (sizeof(words) / sizeof(words[0]));
			memcpy(buf + i, words[w], strlen(words[w]));
			i += strlen(words[w]);
		} else if (rnd() % 2) {
			buf[i++] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		} else {
			buf[i++] = (char)rnd();
		}
	}
	write_file(path, buf, i);
	free(buf);
}

static void test_hostile(void)
{
	static const char *lists[] = { "a.list", "b:amd64.list", "c:i386.list", "a:b:c.list" };
	struct packages_stats st;
	char dir[64], path[256];
	struct packages *p;
	const char *n, *v;
	int it, i, r;

	make_tmp(dir, sizeof(dir));
	mkdirs(dir, "var/lib/dpkg/info");
	for (it = 0; it < 300; it++) {
		snprintf(path, sizeof(path), "%s/var/lib/dpkg/status", dir);
		junk_file(path, 3000);
		snprintf(path, sizeof(path), "%s/var/lib/dpkg/diversions", dir);
		junk_file(path, 300);
		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/%s", dir, lists[i]);
			junk_file(path, 2000);
		}
		p = packages__new(dir, NULL, 0);
		CHECK(p != NULL);
		if (!p)
			break;
		r = packages__owner(p, "/usr/lib/x", &n, &v);
		CHECK(r == 0 || r == -ENOENT);
		if (r == 0)
			CHECK(n[0] != '\0' && strlen(v) <= 255);
		r = packages__owner(p, "/lib/", &n, &v);
		CHECK(r == 0 || r == -ENOENT);
		packages__stats(p, &st);
		CHECK_INT(st.load_errors, 0);
		packages__free(p);
	}
	rm_tree(dir);
}

/* The path of the C library as the kernel reports it for this process. */
static int libc_path(char *out, size_t len)
{
	char line[4096], *slash;
	FILE *f = fopen("/proc/self/maps", "r");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		slash = strchr(line, '/');
		if (!slash)
			continue;
		slash[strcspn(slash, "\n")] = '\0';
		if (strstr(slash, "/libc.so.6") && strlen(slash) < len) {
			strcpy(out, slash);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_host(void)
{
	char path[4096], want[256] = "";
	struct packages_stats st;
	struct packages *p;
	const char *n, *v;
	FILE *f;
	int r;

	if (access("/var/lib/dpkg/status", R_OK) != 0) {
		printf("test_host: no dpkg database on this host, skipped\n");
		return;
	}
	CHECK_INT(libc_path(path, sizeof(path)), 0);
	f = popen("dpkg-query -W -f='${Version}' libc6 2>/dev/null", "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fgets(want, sizeof(want), f) != NULL);
		pclose(f);
	}
	p = packages__new("/", NULL, 0);
	r = owner(p, path, &n, &v);
	CHECK_INT(r, 0);
	if (r == 0) {
		CHECK(strcmp(n, "libc6") == 0 || strncmp(n, "libc6:", 6) == 0);
		CHECK_STR(v, want);
	}
	packages__stats(p, &st);
	CHECK_INT(st.load_errors, 0);
	CHECK(st.files_indexed > 1000);
	CHECK(st.load_ns < (SANITIZED ? 3000000000ull : 1000000000ull));
	printf("test_host: %s -> %s %s; %llu paths, %llu packages, %llu diversions, "
	       "load %.1f ms, %.2f MiB\n",
	       path, r ? "?" : n, r ? "?" : v, (unsigned long long)st.files_indexed,
	       (unsigned long long)st.packages, (unsigned long long)st.diversions,
	       st.load_ns / 1e6, st.memory_bytes / 1048576.0);
	packages__free(p);
}

/* 300,000 paths of 60-70 bytes in 1000 packages: the top of the size range
 * of a Debian host. Load time and memory, self-reported and per malloc. */
static void test_scale(void)
{
	enum { PKGS = 1000, PER = 300 };
	char dir[64], path[256], line[256];
	struct packages_stats st;
	struct mallinfo2 m0, m1;
	struct packages *p;
	size_t heap = 0;
	int i, j;
	FILE *f;

	make_tmp(dir, sizeof(dir));
	mkdirs(dir, "var/lib/dpkg/info");
	snprintf(path, sizeof(path), "%s/var/lib/dpkg/status", dir);
	f = fopen(path, "w");
	for (i = 0; f && i < PKGS; i++)
		fprintf(f, "Package: pkg%04d\nStatus: install ok installed\nVersion: %d.0-1\n"
			   "Description: x\n long text\n\n", i, i);
	if (f)
		fclose(f);
	for (i = 0; i < PKGS; i++) {
		snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/pkg%04d.list", dir, i);
		f = fopen(path, "w");
		CHECK(f != NULL);
		if (!f)
			break;
		for (j = 0; j < PER; j++) {
			snprintf(line, sizeof(line),
				 "/usr/share/pkg%04d/dir%02d/some-module-name-%05d"
				 ".cpython-311.pyc\n",
				 i, j % 20, j);
			fputs(line, f);
		}
		fclose(f);
	}
	p = packages__new(dir, NULL, 0);
	m0 = mallinfo2();
	CHECK_OWNER(p, "/usr/share/pkg0999/dir19/some-module-name-00299.cpython-311.pyc", "pkg0999",
		    "999.0-1");
	m1 = mallinfo2();
	if (!SANITIZED)
		heap = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);
	packages__stats(p, &st);
	CHECK_INT(st.files_indexed, PKGS * PER);
	CHECK_INT(st.packages, PKGS);
	CHECK(st.load_ns < (SANITIZED ? 3000000000ull : 1000000000ull));
	CHECK(st.memory_bytes < 30u << 20);
	if (!SANITIZED)
		CHECK(heap < 30u << 20);
	CHECK_OWNER(p, "/usr/share/pkg0000/dir00/some-module-name-00000.cpython-311.pyc",
		    "pkg0000", "0.0-1");
	CHECK_NOOWNER(p, "/usr/share/pkg0000/dir00/some-module-name-00300.cpython-311.pyc");
	printf("test_scale: %llu paths in %llu packages: load %.1f ms, index %.2f MiB, "
	       "heap growth %.2f MiB%s\n",
	       (unsigned long long)st.files_indexed, (unsigned long long)st.packages,
	       st.load_ns / 1e6, st.memory_bytes / 1048576.0, heap / 1048576.0,
	       SANITIZED ? " (not measured under ASan)" : "");
	packages__free(p);
	rm_tree(dir);
}

int main(void)
{
	test_fixture();
	test_reload();
	test_root_confinement();
	test_no_dpkg();
	test_caps();
	test_hostile();
	test_host();
	test_scale();
	return unit_report("test_packages");
}
