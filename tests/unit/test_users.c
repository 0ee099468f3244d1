/* Fixtures live in tests/fixtures/enrich/; run from the repository root.
 * Files that must change or be huge are written to a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enrich/users.h"
#include "unit.h"

#define FIX "tests/fixtures/enrich/"
#define DEAD_PID 0x7ffffff0u

static char tmpdir[] = "/tmp/vigil-users-XXXXXX";
static uint32_t self_mntns;

static char *tpath(const char *name)
{
	static char p[8][256];
	static int k;
	char *o = p[k++ & 7];

	snprintf(o, sizeof(p[0]), "%s/%s", tmpdir, name);
	return o;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static struct proc_info proc(uint32_t pid, uint32_t mntns, uint32_t uid, uint32_t gid)
{
	struct proc_info p;

	memset(&p, 0, sizeof(p));
	p.pid = pid;
	p.mntns = mntns;
	p.uid = p.euid = uid;
	p.gid = p.egid = gid;
	p.auid = PROC_ID_UNSET;
	strcpy(p.user, "stale");
	strcpy(p.group, "stale");
	strcpy(p.euser, "stale");
	strcpy(p.egroup, "stale");
	strcpy(p.login_user, "stale");
	return p;
}

static struct users_stats stats(struct users *u)
{
	struct users_stats st;

	users__stats(u, &st);
	return st;
}

static void test_new(void)
{
	char err[128] = "";
	struct users *u;

	CHECK(users__new(0, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "max_namespaces 0") != NULL);
	err[0] = '\0';
	CHECK(users__new(USERS_MAX_NAMESPACES + 1, err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
	u = users__new(USERS_MAX_NAMESPACES, err, sizeof(err));
	CHECK(u != NULL);
	users__free(u);
	users__free(NULL);
	CHECK_INT(users__load_files(NULL, 1, "a", "b"), -EINVAL);
}

static void test_normal(void)
{
	char err[128];
	struct users *u = users__new(8, err, sizeof(err));
	struct proc_info p;

	CHECK(u != NULL);
	if (!u)
		return;
	CHECK_INT(users__load_files(u, 0, FIX "passwd", FIX "group"), 0);
	CHECK_INT(stats(u).loads, 2);

	p = proc((uint32_t)getpid(), self_mntns, 1000, 1000);
	users__resolve(u, &p);
	CHECK_STR(p.user, "alice");
	CHECK_STR(p.euser, "alice");
	CHECK_STR(p.group, "alice");
	CHECK_STR(p.egroup, "alice");
	CHECK_STR(p.login_user, "");	/* auid unset */

	p = proc((uint32_t)getpid(), self_mntns, 0, 0);
	p.euid = 33;
	p.egid = 27;
	p.gid = 100;
	p.auid = 1001;
	users__resolve(u, &p);
	CHECK_STR(p.user, "root");
	CHECK_STR(p.euser, "www-data");
	CHECK_STR(p.group, "users");
	CHECK_STR(p.egroup, "sudo");
	CHECK_STR(p.login_user, "bob");

	/* unknown ids: empty, not stale and not a number */
	p = proc((uint32_t)getpid(), self_mntns, 4242, 4242);
	p.auid = 4243;
	users__resolve(u, &p);
	CHECK_STR(p.user, "");
	CHECK_STR(p.group, "");
	CHECK_STR(p.login_user, "");

	/* mntns unknown (0): found from /proc/PID/ns/mnt, ours -> host files */
	p = proc((uint32_t)getpid(), 0, 65534, 65534);
	users__resolve(u, &p);
	CHECK_STR(p.user, "nobody");
	CHECK_STR(p.group, "nogroup");
	CHECK_INT(stats(u).namespaces, 0);
	CHECK_INT(stats(u).fallbacks, 0);

	/* mntns unknown and process gone: host files, counted */
	p = proc(DEAD_PID, 0, 1, 1);
	users__resolve(u, &p);
	CHECK_STR(p.user, "daemon");
	CHECK_INT(stats(u).fallbacks, 1);

	/* loaded once, not at every resolve */
	CHECK_INT(stats(u).loads, 2);
	CHECK_INT(stats(u).malformed_lines, 0);

	/* NULL object: names cleared, no crash */
	p = proc(1, 1, 0, 0);
	users__resolve(NULL, &p);
	CHECK_STR(p.user, "");
	CHECK_STR(p.login_user, "");
	users__resolve(u, NULL);
	users__free(u);
}

static void test_malformed(void)
{
	char err[128];
	struct users *u = users__new(8, err, sizeof(err));
	struct proc_info p;
	struct users_stats st;

	CHECK(u != NULL);
	if (!u)
		return;
	CHECK_INT(users__load_files(u, 1001, FIX "passwd_malformed", FIX "group_malformed"), 0);
	st = stats(u);
	CHECK_INT(st.loads, 2);
	CHECK_INT(st.malformed_lines, 11 + 1);
	CHECK_INT(st.namespaces, 1);

#define UID_IS(uid, name)                              \
	do {                                           \
		p = proc(DEAD_PID, 1001, (uid), 0);    \
		users__resolve(u, &p);                 \
		CHECK_STR(p.user, (name));             \
	} while (0)

	UID_IS(0, "root");
	UID_IS(2000, "first");	/* duplicate uid: the first line wins, like getpwuid */
	UID_IS(4294967294u, "maxid");
	UID_IS(4294967295u, "");	/* (uid_t)-1 is never an id */
	UID_IS(5, "");
	UID_IS(3000, "shortline");
	UID_IS(3001, "crlf");	/* no "\r" in the name */
	UID_IS(3002, "this_name_is_much_longer_than_sixty_three_bytes_which_is_the_li");
	UID_IS(3003, "");
	UID_IS(42, "leadingzero");
	UID_IS(3004, "after");	/* last line without newline */
	UID_IS(7, "");
	UID_IS(1, "");	/* only the bound files: nothing from the host */
	/* the truncated name fills the field exactly */
	p = proc(DEAD_PID, 1001, 3002, 10);
	users__resolve(u, &p);
	CHECK_INT(strlen(p.user), PROC_NAME_LEN - 1);
	CHECK_STR(p.group, "wheel");	/* duplicate gid: first wins */
	p = proc(DEAD_PID, 1001, 0, 11);
	users__resolve(u, &p);
	CHECK_STR(p.group, "lastgroup");
	CHECK_INT(stats(u).fallbacks, 0);
#undef UID_IS
	users__free(u);
}

static void test_missing_and_refused(void)
{
	char err[128];
	struct users *u = users__new(8, err, sizeof(err));
	struct proc_info p;
	struct users_stats st;

	CHECK(u != NULL);
	if (!u)
		return;
	users__set_recheck_ms(u, 0);
	CHECK_INT(users__load_files(u, 1002, FIX "no_such_passwd", "/nonexistent/dir/group"), 0);
	p = proc(DEAD_PID, 1002, 0, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "");
	CHECK_STR(p.group, "");
	st = stats(u);
	CHECK_INT(st.loads, 0);
	CHECK_INT(st.files_refused, 0);

	/* a FIFO must not block and is refused; counted once, not per check */
	CHECK_INT(mkfifo(tpath("fifo"), 0600), 0);
	/* a directory is refused too */
	CHECK_INT(users__load_files(u, 1003, tpath("fifo"), tmpdir), 0);
	p = proc(DEAD_PID, 1003, 0, 0);
	users__resolve(u, &p);
	users__resolve(u, &p);
	CHECK_STR(p.user, "");
	CHECK_INT(stats(u).files_refused, 2);

	/* over 16 MiB: refused without reading (sparse file) */
	{
		int fd = open(tpath("huge"), O_CREAT | O_WRONLY | O_TRUNC, 0600);

		CHECK(fd >= 0);
		CHECK_INT(write(fd, "root:x:0:0::/:/bin/sh\n", 22), 22);
		CHECK_INT(ftruncate(fd, (off_t)USERS_MAX_FILE_BYTES + 1), 0);
		close(fd);
	}
	CHECK_INT(users__load_files(u, 1004, tpath("huge"), FIX "group"), 0);
	p = proc(DEAD_PID, 1004, 0, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "");
	CHECK_STR(p.group, "root");
	CHECK_INT(stats(u).files_refused, 3);
	/* exactly at the limit is read (the NUL padding is one long line) */
	CHECK_INT(truncate(tpath("huge"), (off_t)USERS_MAX_FILE_BYTES), 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "root");
	CHECK_INT(stats(u).files_refused, 3);
	users__free(u);
}

static void test_bounds(void)
{
	char err[128];
	struct users *u = users__new(8, err, sizeof(err));
	struct proc_info p;
	FILE *f;
	unsigned i;

	CHECK(u != NULL);
	if (!u)
		return;
	/* a line over 4 KiB is skipped, the lines around it are kept */
	f = fopen(tpath("long"), "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "before:x:10:10::/:/bin/sh\nlong:x:11:11:");
	for (i = 0; i < USERS_MAX_LINE; i++)
		fputc('g', f);
	fprintf(f, ":/:/bin/sh\nafter:x:12:12::/:/bin/sh\n");
	/* exactly 4096 bytes is still a line */
	fprintf(f, "edge:x:13:13:");
	for (i = 0; i < USERS_MAX_LINE - 13 - 10; i++)
		fputc('h', f);
	fprintf(f, ":/:/bin/sh\n");
	fclose(f);
	CHECK_INT(users__load_files(u, 2001, tpath("long"), FIX "group"), 0);
	CHECK_INT(stats(u).long_lines, 1);
	p = proc(DEAD_PID, 2001, 10, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "before");
	p.uid = 11;
	users__resolve(u, &p);
	CHECK_STR(p.user, "");
	p.uid = 12;
	users__resolve(u, &p);
	CHECK_STR(p.user, "after");
	p.uid = 13;
	users__resolve(u, &p);
	CHECK_STR(p.user, "edge");

	/* more than USERS_MAX_ENTRIES entries: the rest dropped, counted */
	f = fopen(tpath("many"), "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (i = 0; i < USERS_MAX_ENTRIES + 5; i++)
		fprintf(f, "u%u:x:%u:0::/:/bin/sh\n", i, 100000 + i);
	fclose(f);
	CHECK_INT(users__load_files(u, 2002, tpath("many"), FIX "group"), 0);
	CHECK_INT(stats(u).entries_dropped, 5);
	p = proc(DEAD_PID, 2002, 100000, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "u0");
	p.uid = 100000 + USERS_MAX_ENTRIES - 1;
	users__resolve(u, &p);
	CHECK_STR(p.user, "u99999");
	p.uid = 100000 + USERS_MAX_ENTRIES;
	users__resolve(u, &p);
	CHECK_STR(p.user, "");

	/* binary garbage */
	{
		char junk[8192];
		int fd;

		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (char)((i * 7919u) >> 3);
		fd = open(tpath("junk"), O_CREAT | O_WRONLY | O_TRUNC, 0600);
		CHECK_INT(write(fd, junk, sizeof(junk)), (long long)sizeof(junk));
		close(fd);
	}
	CHECK_INT(users__load_files(u, 2003, tpath("junk"), tpath("junk")), 0);
	p = proc(DEAD_PID, 2003, 0, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "");
	users__free(u);
}

static void test_changes(void)
{
	char err[128];
	struct users *u = users__new(8, err, sizeof(err));
	struct proc_info p;

	CHECK(u != NULL);
	if (!u)
		return;
	write_file(tpath("cpasswd"), "old:x:500:500::/:/bin/sh\n");
	write_file(tpath("cgroup"), "oldg:x:500:\n");
	CHECK_INT(users__load_files(u, 3001, tpath("cpasswd"), tpath("cgroup")), 0);
	p = proc(DEAD_PID, 3001, 500, 500);
	users__resolve(u, &p);
	CHECK_STR(p.user, "old");
	CHECK_STR(p.group, "oldg");

	/* within the recheck interval the change is not seen yet */
	write_file(tpath("cpasswd"), "newer:x:500:500::/:/bin/sh\n");
	users__resolve(u, &p);
	CHECK_STR(p.user, "old");
	CHECK_INT(stats(u).loads, 2);

	users__set_recheck_ms(u, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "newer");
	CHECK_STR(p.group, "oldg");	/* unchanged file not re-parsed */
	CHECK_INT(stats(u).loads, 3);
	users__resolve(u, &p);
	CHECK_INT(stats(u).loads, 3);

	/* same size, replaced by rename: the inode tells */
	write_file(tpath("cpasswd.tmp"), "other:x:500:500::/:/bin/sh\n");
	CHECK_INT(rename(tpath("cpasswd.tmp"), tpath("cpasswd")), 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "other");

	/* removed: the names go away; back: they return */
	CHECK_INT(unlink(tpath("cgroup")), 0);
	users__resolve(u, &p);
	CHECK_STR(p.group, "");
	write_file(tpath("cgroup"), "back:x:500:\n");
	users__resolve(u, &p);
	CHECK_STR(p.group, "back");
	CHECK_INT(stats(u).files_refused, 0);
	users__free(u);
}

static void test_lru_and_fallback(void)
{
	char err[128];
	struct users *u = users__new(2, err, sizeof(err));
	struct proc_info p;

	CHECK(u != NULL);
	if (!u)
		return;
	write_file(tpath("pa"), "usera:x:1:1::/:/bin/sh\n");
	write_file(tpath("pb"), "userb:x:1:1::/:/bin/sh\n");
	write_file(tpath("pc"), "userc:x:1:1::/:/bin/sh\n");
	write_file(tpath("ph"), "hostuser:x:1:1::/:/bin/sh\n");
	CHECK_INT(users__load_files(u, 0, tpath("ph"), FIX "group"), 0);
	CHECK_INT(users__load_files(u, 4001, tpath("pa"), FIX "group"), 0);
	CHECK_INT(users__load_files(u, 4002, tpath("pb"), FIX "group"), 0);
	CHECK_INT(stats(u).namespaces, 2);

	p = proc(DEAD_PID, 4001, 1, 1);
	users__resolve(u, &p);	/* 4001 is now more recent than 4002 */
	CHECK_STR(p.user, "usera");
	CHECK_INT(users__load_files(u, 4003, tpath("pc"), FIX "group"), 0);
	CHECK_INT(stats(u).evictions, 1);
	CHECK_INT(stats(u).namespaces, 2);

	p = proc(DEAD_PID, 4001, 1, 1);
	users__resolve(u, &p);
	CHECK_STR(p.user, "usera");
	p = proc(DEAD_PID, 4003, 1, 1);
	users__resolve(u, &p);
	CHECK_STR(p.user, "userc");

	/* 4002 was evicted and its process is gone: the host answers, and the
	 * answer is not cached as 4002's table */
	p = proc(DEAD_PID, 4002, 1, 1);
	users__resolve(u, &p);
	CHECK_STR(p.user, "hostuser");
	CHECK_STR(p.group, "daemon");
	CHECK_INT(stats(u).fallbacks, 1);
	CHECK_INT(stats(u).namespaces, 2);
	CHECK_INT(stats(u).evictions, 1);

	/* a live pid that is not in the claimed namespace (pid reused): host */
	p = proc((uint32_t)getpid(), 4999, 1, 1);
	users__resolve(u, &p);
	CHECK_STR(p.user, "hostuser");
	CHECK_INT(stats(u).fallbacks, 2);
	CHECK_INT(stats(u).namespaces, 2);
	users__free(u);
}

/* A real process in its own mount namespace, chrooted into a directory
 * whose etc/passwd is an absolute symlink and whose etc/group is a FIFO:
 * the symlink must resolve inside that root and the FIFO must not block.
 * Needs CAP_SYS_ADMIN; skipped without it. */
static void test_proc_root(void)
{
	char err[128], c = 0, root[256], path[64];
	int up[2], down[2];
	struct users *u;
	struct proc_info p;
	struct stat sb;
	pid_t pid;

	snprintf(root, sizeof(root), "%s", tpath("root"));
	CHECK_INT(mkdir(root, 0755), 0);
	CHECK_INT(mkdir(tpath("root/etc"), 0755), 0);
	write_file(tpath("root/etc/real_passwd"),
		   "root:x:0:0::/:/bin/sh\ncuser:x:777:777::/:/bin/sh\n");
	CHECK_INT(symlink("/etc/real_passwd", tpath("root/etc/passwd")), 0);
	CHECK_INT(mkfifo(tpath("root/etc/group"), 0600), 0);

	CHECK_INT(pipe(up), 0);
	CHECK_INT(pipe(down), 0);
	pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		if (unshare(CLONE_NEWNS) != 0 || chroot(root) != 0 || chdir("/") != 0)
			c = 'E';
		else
			c = 'K';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	close(up[1]);
	close(down[0]);
	CHECK_INT(read(up[0], &c, 1), 1);
	if (c != 'K') {
		printf("users: skipping the mount-namespace test (needs CAP_SYS_ADMIN)\n");
		close(down[1]);
		waitpid(pid, NULL, 0);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	CHECK_INT(stat(path, &sb), 0);
	CHECK((uint32_t)sb.st_ino != self_mntns);

	u = users__new(4, err, sizeof(err));
	CHECK(u != NULL);
	if (!u)
		return;
	CHECK_INT(users__load_files(u, 0, FIX "passwd", FIX "group"), 0);
	p = proc((uint32_t)pid, (uint32_t)sb.st_ino, 777, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "cuser");	/* the container's file, not the host's */
	CHECK_STR(p.group, "");	/* the FIFO: refused, no block */
	CHECK_INT(stats(u).files_refused, 1);
	CHECK_INT(stats(u).namespaces, 1);
	CHECK_INT(stats(u).fallbacks, 0);
	p.uid = 1000;
	users__resolve(u, &p);
	CHECK_STR(p.user, "");	/* host's alice is not the container's */

	/* mntns 0: found from the pid */
	p = proc((uint32_t)pid, 0, 777, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "cuser");
	CHECK_INT(stats(u).namespaces, 1);

	/* the process exits: its cached table still answers */
	close(down[1]);
	waitpid(pid, NULL, 0);
	users__set_recheck_ms(u, 0);
	p = proc((uint32_t)pid, (uint32_t)sb.st_ino, 777, 0);
	users__resolve(u, &p);
	CHECK_STR(p.user, "cuser");
	CHECK_INT(stats(u).fallbacks, 0);
	users__free(u);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	struct stat sb;

	CHECK(mkdtemp(tmpdir) != NULL);
	CHECK_INT(stat("/proc/self/ns/mnt", &sb), 0);
	self_mntns = (uint32_t)sb.st_ino;

	test_new();
	test_normal();
	test_malformed();
	test_missing_and_refused();
	test_bounds();
	test_changes();
	test_lru_and_fallback();
	test_proc_root();

	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return unit_report("users");
}
