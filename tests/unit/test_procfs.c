/* procfs__read against the live /proc (self, a child, a zombie, a reaped
 * pid) and against a fake proc tree with hostile content; the process
 * connector decoder on crafted buffers; and, as root, the real connector
 * reporting fork, exec and exit of a child. Only procfs.o is linked from the
 * library: nothing here needs the pipeline. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "sources/procfs.h"
#include "unit.h"

extern char **environ;

static char tmp_root[64];	/* short: every path built from it fits */

static const struct procfs_opts live_opts = {
	.proc_root = "/proc",
	.max_args_bytes = 4096,
	.max_env_bytes = 4096,
	.max_path_bytes = 4096,
	.want_env = true,
};

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(2);
	}
	if (len && fwrite(data, 1, len, f) != len) {
		perror(path);
		exit(2);
	}
	fclose(f);
}

static void fake_path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", tmp_root, rel);
}

static void fake_mkdir(const char *rel)
{
	char p[PATH_MAX];

	fake_path(p, sizeof(p), rel);
	if (mkdir(p, 0755) && errno != EEXIST) {
		perror(p);
		exit(2);
	}
}

static void fake_file(const char *rel, const char *s)
{
	char p[PATH_MAX];

	fake_path(p, sizeof(p), rel);
	write_file(p, s, strlen(s));
}

static void fake_link(const char *rel, const char *target)
{
	char p[PATH_MAX];

	fake_path(p, sizeof(p), rel);
	if (symlink(target, p)) {
		perror(p);
		exit(2);
	}
}

/* A stat line with the given comm; starttime (field 22) is 12345 ticks. */
static void fake_stat(const char *pid, const char *comm)
{
	char rel[64], line[512];

	snprintf(rel, sizeof(rel), "%s/stat", pid);
	snprintf(line, sizeof(line),
		 "%s (%s) S 77 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 -5 1 0 12345 1000 200\n",
		 pid, comm);
	fake_file(rel, line);
}

static uint64_t ticks_ns(uint64_t ticks)
{
	long hz = sysconf(_SC_CLK_TCK);

	return ticks / (uint64_t)hz * 1000000000ull +
	       ticks % (uint64_t)hz * 1000000000ull / (uint64_t)hz;
}

static void test_self(void)
{
	struct proc_info p;
	char err[256] = "", want[PATH_MAX], cmdline[4096];
	struct stat st;
	ssize_t n;
	int fd;

	CHECK_INT(procfs__read((uint32_t)getpid(), &p, &live_opts, err, sizeof(err)), 0);
	CHECK_INT(p.pid, getpid());
	CHECK_INT(p.tid, getpid());
	CHECK_INT(p.ppid, getppid());
	CHECK_STR(p.comm, "test_procfs");
	CHECK_INT(p.uid, getuid());
	CHECK_INT(p.euid, geteuid());
	CHECK_INT(p.gid, getgid());
	CHECK_INT(p.egid, getegid());
	CHECK_INT(p.origin, PROC_ORIGIN_SNAPSHOT);
	n = readlink("/proc/self/exe", want, sizeof(want) - 1);
	CHECK(n > 0);
	want[n > 0 ? n : 0] = '\0';
	CHECK_STR(p.exe, want);
	CHECK(getcwd(want, sizeof(want)) != NULL);
	CHECK_STR(p.cwd, want);
	/* args are exactly /proc/self/cmdline */
	fd = open("/proc/self/cmdline", O_RDONLY);
	n = read(fd, cmdline, sizeof(cmdline));
	close(fd);
	CHECK_INT(p.args_len, n);
	CHECK(p.args && n > 0 && memcmp(p.args, cmdline, (size_t)n) == 0);
	CHECK(p.args && p.args[p.args_len] == '\0');
	CHECK(!p.args_truncated);
	if (environ && environ[0])
		CHECK(p.env != NULL && p.env_len > 0);
	/* started before now, on the boot clock */
	CHECK(p.start_boot_ns > 0 && p.start_boot_ns <= now_ns(CLOCK_BOOTTIME));
	CHECK(now_ns(CLOCK_BOOTTIME) - p.start_boot_ns < 600ull * 1000000000ull);
	CHECK_INT(p.exec_boot_ns, p.start_boot_ns);
	CHECK(stat("/proc/self/ns/pid", &st) == 0);
	CHECK_INT(p.pidns, st.st_ino);
	CHECK(stat("/proc/self/ns/mnt", &st) == 0);
	CHECK_INT(p.mntns, st.st_ino);
	CHECK(stat("/proc/self/ns/net", &st) == 0);
	CHECK_INT(p.netns, st.st_ino);
	CHECK(stat("/proc/self/exe", &st) == 0);
	CHECK_INT(p.exe_ino, st.st_ino);
	CHECK_INT(p.exe_dev, ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev));
	CHECK(p.cgroup != NULL && p.cgroup[0] == '/');
	{
		char lu[32] = "";
		FILE *f = fopen("/proc/self/loginuid", "r");

		if (f) {
			CHECK(fgets(lu, sizeof(lu), f) != NULL);
			fclose(f);
			CHECK_INT(p.auid, strtoul(lu, NULL, 10));
		} else {
			CHECK_INT(p.auid, PROC_ID_UNSET);
		}
	}
	proc_info__clear(&p);

	/* the bound: 8 bytes of args, flagged */
	struct procfs_opts small = live_opts;

	small.max_args_bytes = 8;
	small.want_env = false;
	CHECK_INT(procfs__read((uint32_t)getpid(), &p, &small, err, sizeof(err)), 0);
	CHECK_INT(p.args_len, 8);
	CHECK(p.args_truncated);
	CHECK(p.args && memcmp(p.args, cmdline, 8) == 0 && p.args[8] == '\0');
	CHECK(p.env == NULL);
	proc_info__clear(&p);
}

static void *idle_thread(void *arg)
{
	int *fds = arg;
	char c;

	if (read(fds[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

static void test_threads(void)
{
	pthread_t th;
	int fds[2];
	uint32_t tids[8];
	unsigned n = 0;
	struct proc_info p;
	char err[256];

	CHECK(pipe(fds) == 0);
	CHECK(pthread_create(&th, NULL, idle_thread, fds) == 0);
	CHECK_INT(procfs__list_threads("/proc", (uint32_t)getpid(), tids, 8, &n), 0);
	CHECK_INT(n, 2);
	CHECK(n >= 1 && (tids[0] == (uint32_t)getpid() || tids[1] == (uint32_t)getpid()));
	/* a thread id reads as its process */
	uint32_t other = tids[0] == (uint32_t)getpid() ? tids[1] : tids[0];

	CHECK_INT(procfs__list_threads("/proc", (uint32_t)getpid(), tids, 1, &n), -ENOSPC);
	CHECK_INT(n, 1);
	CHECK_INT(procfs__read(other, &p, &live_opts, err, sizeof(err)), 0);
	CHECK_INT(p.pid, getpid());
	CHECK_INT(p.tid, other);
	proc_info__clear(&p);
	CHECK(write(fds[1], "x", 1) == 1);
	pthread_join(th, NULL);
	close(fds[0]);
	close(fds[1]);
}

/* A child with spaces and a newline in its args, its own cwd and ids,
 * exec'd (a CLOEXEC pipe tells when) and blocked reading stdin. */
static void test_child(void)
{
	static const char args[] = "/bin/sh\0-c\0read x\0my name\0arg with space\0nl\nx\0";
	static const char env[] = "FOO=bar baz\0SECRET_TOKEN=hunter2\0";
	char dir[128], err[256] = "", exe[PATH_MAX], c;
	int ready[2], in[2], status;
	bool root = geteuid() == 0;
	struct proc_info p;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/dir with space", tmp_root);
	CHECK(mkdir(dir, 0755) == 0);
	CHECK(pipe2(ready, O_CLOEXEC) == 0);
	CHECK(pipe(in) == 0);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "/bin/sh", "-c", "read x", "my name", "arg with space", "nl\nx",
				 NULL };
		char *envp[] = { "FOO=bar baz", "SECRET_TOKEN=hunter2", NULL };

		dup2(in[0], 0);
		close(in[1]);
		if (chdir(dir))
			_exit(120);
		/* real == effective: dash resets euid to uid at start-up; the
		 * fake tree checks which of the Uid: fields is which */
		if (root && (setresgid(23456, 23456, 23456) || setresuid(12345, 12345, 12345)))
			_exit(121);
		execve("/bin/sh", argv, envp);
		_exit(122);
	}
	close(ready[1]);
	close(in[0]);
	CHECK(read(ready[0], &c, 1) == 0);	/* closed by exec */
	close(ready[0]);

	CHECK_INT(procfs__read((uint32_t)pid, &p, &live_opts, err, sizeof(err)), 0);
	CHECK_INT(p.pid, pid);
	CHECK_INT(p.ppid, getpid());
	CHECK_STR(p.comm, "sh");
	CHECK(realpath("/bin/sh", exe) != NULL);
	CHECK_STR(p.exe, exe);
	CHECK_STR(p.cwd, dir);
	CHECK_INT(p.args_len, sizeof(args) - 1);
	CHECK(p.args && memcmp(p.args, args, sizeof(args) - 1) == 0);
	CHECK(!p.args_truncated);
	CHECK_INT(p.env_len, sizeof(env) - 1);
	CHECK(p.env && memcmp(p.env, env, sizeof(env) - 1) == 0);	/* raw, not redacted */
	if (root) {
		CHECK_INT(p.uid, 12345);
		CHECK_INT(p.euid, 12345);
		CHECK_INT(p.gid, 23456);
		CHECK_INT(p.egid, 23456);
	}
	CHECK(p.start_boot_ns <= now_ns(CLOCK_BOOTTIME));
	CHECK(now_ns(CLOCK_BOOTTIME) - p.start_boot_ns < 5ull * 1000000000ull);
	proc_info__clear(&p);

	close(in[1]);	/* read x sees EOF, sh exits */
	CHECK(waitpid(pid, &status, 0) == pid);
	rmdir(dir);
}

static void test_zombie_and_gone(void)
{
	struct proc_info p;
	char err[256] = "";
	pid_t pid;
	int status;

	pid = fork();
	if (pid == 0)
		_exit(3);
	/* zombie until reaped: stat and status remain, the image is gone */
	for (int i = 0; i < 200; i++) {
		char path[64], buf[512] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = '\0';
			fclose(f);
		}
		if (strstr(buf, ") Z "))
			break;
		usleep(5000);
	}
	CHECK_INT(procfs__read((uint32_t)pid, &p, &live_opts, err, sizeof(err)), 0);
	CHECK_INT(p.pid, pid);
	CHECK_INT(p.ppid, getpid());
	CHECK(p.exe == NULL);
	CHECK(p.args == NULL);
	proc_info__clear(&p);

	CHECK(waitpid(pid, &status, 0) == pid);
	memset(&p, 0xa5, sizeof(p));
	err[0] = '\0';
	CHECK_INT(procfs__read((uint32_t)pid, &p, &live_opts, err, sizeof(err)), -ESRCH);
	CHECK(all_zero(&p, sizeof(p)));
	CHECK(err[0] != '\0');
	proc_info__clear(&p);	/* safe on the cleared block */
}

static void test_fake_tree(void)
{
	struct procfs_opts o = {
		.proc_root = tmp_root,
		.max_args_bytes = 256,
		.max_env_bytes = 64,
		.max_path_bytes = 64,
		.want_env = true,
	};
	struct proc_info p;
	char err[256], big[10000], longpath[300], path[PATH_MAX];

	/* 4242: everything present, hostile comm */
	fake_mkdir("4242");
	fake_stat("4242", "a) (b S 1 2) x");
	fake_file("4242/status", "Name:\tevil\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n"
				 "Pid:\t4242\nUid:\t1000\t1001\t1000\t1000\n"
				 "Gid:\t2000\t2001\t2000\t2000\n");
	fake_file("4242/loginuid", "1000");
	fake_link("4242/exe", "/usr/bin/evil (deleted)");
	memset(longpath, 'd', sizeof(longpath));
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	fake_link("4242/cwd", longpath);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i % 10 == 9 ? '\0' : (char)('a' + i % 26);
	fake_path(path, sizeof(path), "4242/cmdline");
	write_file(path, big, sizeof(big));
	fake_path(path, sizeof(path), "4242/environ");
	write_file(path, "A=1\0B=2\0", 8);
	fake_mkdir("4242/ns");
	fake_link("4242/ns/pid", "pid:[4026531836]");
	fake_link("4242/ns/mnt", "mnt:[123]");
	fake_link("4242/ns/net", "net:[abc]");
	fake_file("4242/cgroup", "12:cpu,cpuacct:/v1path\n0::/system.slice/x.service\n3:memory:/m");
	fake_mkdir("4242/task");
	fake_mkdir("4242/task/4242");
	fake_mkdir("4242/task/4250");
	fake_mkdir("4242/task/junk");

	err[0] = '\0';
	CHECK_INT(procfs__read(4242, &p, &o, err, sizeof(err)), 0);
	CHECK_STR(p.comm, "a) (b S 1 2) x");
	CHECK_INT(p.pid, 4242);
	CHECK_INT(p.ppid, 77);
	CHECK_INT(p.start_boot_ns, ticks_ns(12345));
	CHECK_INT(p.uid, 1000);
	CHECK_INT(p.euid, 1001);
	CHECK_INT(p.gid, 2000);
	CHECK_INT(p.egid, 2001);
	CHECK_INT(p.auid, 1000);
	CHECK_STR(p.exe, "/usr/bin/evil (deleted)");
	CHECK_INT(p.exe_dev, 0);	/* the target does not exist */
	CHECK(p.cwd && strlen(p.cwd) == 64 && !strncmp(p.cwd, longpath, 64));
	CHECK_INT(p.args_len, 256);
	CHECK(p.args_truncated);
	CHECK(p.args && memcmp(p.args, big, 256) == 0 && p.args[256] == '\0');
	CHECK_INT(p.env_len, 8);
	CHECK(!p.env_truncated);
	CHECK(p.env && memcmp(p.env, "A=1\0B=2\0", 8) == 0);
	CHECK_INT(p.pidns, 4026531836u);
	CHECK_INT(p.mntns, 123);
	CHECK_INT(p.netns, 0);
	CHECK_STR(p.cgroup, "/system.slice/x.service");
	CHECK_INT(p.cgroup_id, 0);	/* only looked up against the real /proc */
	proc_info__clear(&p);

	uint32_t tids[4];
	unsigned n;

	CHECK_INT(procfs__list_threads(tmp_root, 4242, tids, 4, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(procfs__list_threads(tmp_root, 4242, tids, 1, &n), -ENOSPC);
	CHECK_INT(n, 1);
	CHECK_INT(procfs__list_threads(tmp_root, 999999, tids, 4, &n), -ESRCH);

	/* 4243: only stat; comm with a newline, longer than 15 bytes */
	fake_mkdir("4243");
	fake_stat("4243", "x\ny) (z) 0123456789");
	CHECK_INT(procfs__read(4243, &p, &o, err, sizeof(err)), 0);
	CHECK_STR(p.comm, "x\ny) (z) 012345");
	CHECK_INT(p.uid, PROC_ID_UNSET);
	CHECK_INT(p.euid, PROC_ID_UNSET);
	CHECK_INT(p.gid, PROC_ID_UNSET);
	CHECK_INT(p.auid, PROC_ID_UNSET);
	CHECK(p.exe == NULL && p.cwd == NULL && p.args == NULL && p.env == NULL);
	CHECK(p.cgroup == NULL);
	CHECK_INT(p.pidns, 0);
	proc_info__clear(&p);

	/* 4244: truncated stat */
	fake_mkdir("4244");
	fake_file("4244/stat", "4244 (x) S 1 2 3");
	err[0] = '\0';
	memset(&p, 0x5a, sizeof(p));
	CHECK_INT(procfs__read(4244, &p, &o, err, sizeof(err)), -EBADMSG);
	CHECK(all_zero(&p, sizeof(p)));
	CHECK(strstr(err, "4244/stat") != NULL);

	/* 4245: no ')' at all; 4246: oversized stat; 4247: ppid overflow;
	 * 4248: empty stat; 4249: no stat */
	fake_mkdir("4245");
	fake_file("4245/stat", "4245 (x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n");
	CHECK_INT(procfs__read(4245, &p, &o, err, sizeof(err)), -EBADMSG);
	fake_mkdir("4246");
	memset(big, 'A', sizeof(big));
	memcpy(big, "4246 (", 6);
	{
		static const char tail[] =
			") S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n";

		memcpy(big + sizeof(big) - sizeof(tail), tail, sizeof(tail) - 1);
	}
	fake_path(path, sizeof(path), "4246/stat");
	write_file(path, big, sizeof(big) - 1);
	CHECK_INT(procfs__read(4246, &p, &o, err, sizeof(err)), -EBADMSG);
	fake_mkdir("4247");
	fake_file("4247/stat", "4247 (x) S 99999999999 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0\n");
	CHECK_INT(procfs__read(4247, &p, &o, err, sizeof(err)), -EBADMSG);
	fake_mkdir("4248");
	fake_file("4248/stat", "");
	CHECK_INT(procfs__read(4248, &p, &o, err, sizeof(err)), -ESRCH);
	fake_mkdir("4249");
	CHECK_INT(procfs__read(4249, &p, &o, err, sizeof(err)), -ESRCH);
	CHECK_INT(procfs__read(4999, &p, &o, err, sizeof(err)), -ESRCH);
	CHECK(all_zero(&p, sizeof(p)));

	/* 4251: a thread of 4240 (status Tgid), v1-only cgroup, a FIFO for
	 * cmdline (must not block), garbage loginuid, "Uid:" in the Name line */
	fake_mkdir("4251");
	fake_stat("4251", "thr");
	fake_file("4251/status", "Name:\tUid:\t0\t0\nTgid:\t4240\nUid:\t5\t6\t5\t5\n");
	fake_file("4251/loginuid", "-1");
	fake_file("4251/cgroup", "12:cpu,cpuacct:/v1path\n11:memory:/other\n");
	fake_path(path, sizeof(path), "4251/cmdline");
	CHECK(mkfifo(path, 0600) == 0);
	CHECK_INT(procfs__read(4251, &p, &o, err, sizeof(err)), 0);
	CHECK_INT(p.pid, 4240);
	CHECK_INT(p.tid, 4251);
	CHECK_INT(p.uid, 5);
	CHECK_INT(p.euid, 6);
	CHECK_INT(p.auid, PROC_ID_UNSET);
	CHECK_STR(p.cgroup, "/other");	/* v1 only: the memory controller's path */
	CHECK(p.args == NULL);
	proc_info__clear(&p);

	/* hybrid host: at the v2 root the memory controller's v1 path is used,
	 * anywhere else the v2 path */
	unlink(path);	/* the FIFO cmdline above */
	fake_file("4251/cgroup", "9:pids:/\n4:memory:/docker/abc\n0::/\n");
	CHECK_INT(procfs__read(4251, &p, &o, err, sizeof(err)), 0);
	CHECK_STR(p.cgroup, "/docker/abc");
	proc_info__clear(&p);
	fake_file("4251/cgroup", "4:memory:/docker/abc\n0::/system.slice/x.scope\n");
	CHECK_INT(procfs__read(4251, &p, &o, err, sizeof(err)), 0);
	CHECK_STR(p.cgroup, "/system.slice/x.scope");
	proc_info__clear(&p);
}

struct scan_ctx {
	uint32_t pids[64];
	unsigned n;
	uint32_t stop_at;
	bool saw_self, saw_init;
};

static int scan_cb(uint32_t pid, void *arg)
{
	struct scan_ctx *c = arg;

	if (c->n < 64)
		c->pids[c->n++] = pid;
	if (pid == (uint32_t)getpid())
		c->saw_self = true;
	if (pid == 1)
		c->saw_init = true;
	return c->stop_at && pid == c->stop_at ? 77 : 0;
}

static void test_scan(void)
{
	struct scan_ctx c = { 0 };
	uint64_t sum = 0;

	/* the fake tree: 4242..4251 from above plus junk names */
	fake_mkdir("0012");
	fake_mkdir("12a");
	fake_mkdir("99999999999");
	fake_mkdir("0");
	fake_link("self", "4242");
	CHECK_INT(procfs__scan(tmp_root, scan_cb, &c), 0);
	CHECK_INT(c.n, 9);	/* 4242..4249 and 4251 */
	for (unsigned i = 0; i < c.n; i++)
		sum += c.pids[i];
	CHECK_INT(sum, 4242 + 4243 + 4244 + 4245 + 4246 + 4247 + 4248 + 4249 + 4251);

	memset(&c, 0, sizeof(c));
	c.stop_at = 4246;
	CHECK_INT(procfs__scan(tmp_root, scan_cb, &c), 77);

	memset(&c, 0, sizeof(c));
	CHECK_INT(procfs__scan("/proc", scan_cb, &c), 0);
	CHECK(c.saw_self);
	CHECK(c.saw_init);
	CHECK_INT(procfs__scan("/nonexistent-proc", scan_cb, &c), -ENOENT);
}

/* Builds one connector message at buf+off; returns the bytes it takes
 * (aligned). cnlen/nllen of 0 mean "the right value". */
static size_t put_msg(uint8_t *buf, size_t off, uint16_t type, uint32_t idx, uint32_t what,
		      const void *data, size_t dlen, uint32_t cnlen, uint32_t nllen)
{
	struct nlmsghdr nh = { 0 };
	struct cn_msg cn = { 0 };
	uint8_t hdr[16] = { 0 };
	uint64_t ts = 1000000000ull + what;
	uint32_t cpu = 1;

	cn.id.idx = idx;
	cn.id.val = CN_VAL_PROC;
	cn.seq = 7;
	cn.ack = 8;
	cn.len = (uint16_t)(cnlen ? cnlen : 16 + dlen);
	nh.nlmsg_len = nllen ? nllen : (uint32_t)(NLMSG_HDRLEN + sizeof(cn) + 16 + dlen);
	nh.nlmsg_type = type;
	memcpy(hdr, &what, 4);
	memcpy(hdr + 4, &cpu, 4);
	memcpy(hdr + 8, &ts, 8);
	memcpy(buf + off, &nh, sizeof(nh));
	memcpy(buf + off + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(buf + off + NLMSG_HDRLEN + sizeof(cn), hdr, 16);
	memcpy(buf + off + NLMSG_HDRLEN + sizeof(cn) + 16, data, dlen);
	return NLMSG_ALIGN(NLMSG_HDRLEN + sizeof(cn) + 16 + dlen);
}

static void test_decode(void)
{
	uint8_t raw[4096 + 8] __attribute__((aligned(8)));
	uint8_t *buf = raw + 1;	/* deliberately misaligned */
	struct pc_event ev[8];
	unsigned n = 99;
	size_t len;
	int32_t fork_d[4] = { 10, 11, 20, 20 }, thread_d[4] = { 21, 20, 22, 20 };
	int32_t exec_d[2] = { 30, 30 };
	uint32_t exit_d[6] = { 41, 40, 0x100, 17, 5, 6 }, exit_old[4] = { 40, 40, 9, 17 };
	uint32_t uid_d[4] = { 50, 50, 1000, 0 }, ack_d[1] = { 1 };
	uint8_t odd[9] = { 0 };

	memset(raw, 0, sizeof(raw));
	/* fork, thread, exec, exit, old-size exit, uid, gid, ack in one buffer */
	len = put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_FORK, fork_d, 16, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_FORK, thread_d, 16, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXIT, exit_d, 24, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXIT, exit_old, 16, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_UID, uid_d, 16, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_GID, uid_d, 16, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_NONE, ack_d, 4, 0, 0);
	CHECK_INT(proc_connector__decode(buf, len, ev, 8, &n), 0);
	CHECK_INT(n, 8);
	CHECK_INT(ev[0].what, PROC_EVENT_FORK);
	CHECK_INT(ev[0].pid, 20);
	CHECK_INT(ev[0].tid, 20);
	CHECK_INT(ev[0].ppid, 11);
	CHECK_INT(ev[0].ptid, 10);
	CHECK_INT(ev[0].cpu, 1);
	CHECK_INT(ev[0].mono_ns, 1000000000ull + PROC_EVENT_FORK);
	CHECK_INT(ev[0].seq, 7);
	CHECK_INT(ev[0].ack, 8);
	CHECK_INT(ev[1].pid, 20);	/* a thread: tgid 20, tid 22 */
	CHECK_INT(ev[1].tid, 22);
	CHECK_INT(ev[2].what, PROC_EVENT_EXEC);
	CHECK_INT(ev[2].pid, 30);
	CHECK_INT(ev[3].what, PROC_EVENT_EXIT);
	CHECK_INT(ev[3].pid, 40);
	CHECK_INT(ev[3].tid, 41);
	CHECK_INT(ev[3].exit_code, 0x100);
	CHECK_INT(ev[3].exit_signal, 17);
	CHECK_INT(ev[3].ppid, 6);
	CHECK_INT(ev[3].ptid, 5);
	CHECK_INT(ev[4].exit_code, 9);
	CHECK_INT(ev[4].ppid, 0);	/* kernels before the parent fields */
	CHECK_INT(ev[5].what, PROC_EVENT_UID);
	CHECK_INT(ev[5].rid, 1000);
	CHECK_INT(ev[5].eid, 0);
	CHECK_INT(ev[6].what, PROC_EVENT_GID);
	CHECK_INT(ev[7].what, PROC_EVENT_NONE);
	CHECK_INT(ev[7].err, 1);

	/* more events than room: the first max kept */
	CHECK_INT(proc_connector__decode(buf, len, ev, 3, &n), -ENOSPC);
	CHECK_INT(n, 3);
	CHECK_INT(ev[2].what, PROC_EVENT_EXEC);

	/* a partial header after a good message; a lone partial header */
	len = put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 0);
	CHECK_INT(proc_connector__decode(buf, len + 10, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 1);
	CHECK_INT(proc_connector__decode(buf, 10, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 0);
	CHECK_INT(proc_connector__decode(buf, 0, ev, 8, &n), 0);
	CHECK_INT(n, 0);

	/* nlmsg_len beyond the buffer, below a header, zero (no endless loop) */
	put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 4000);
	CHECK_INT(proc_connector__decode(buf, 60, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 0);
	put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 8);
	CHECK_INT(proc_connector__decode(buf, 60, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 0);
	put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 0);
	memset(buf, 0, 4);
	CHECK_INT(proc_connector__decode(buf, 60, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 0);

	/* cn_msg.len larger than the message: skipped, the next one decoded */
	len = put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 4000, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_FORK, fork_d, 16, 0, 0);
	CHECK_INT(proc_connector__decode(buf, len, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 1);
	CHECK_INT(ev[0].what, PROC_EVENT_FORK);

	/* cn_msg.len shorter than the proc_event header; exit data too short
	 * for its type */
	len = put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 12, 0);
	CHECK_INT(proc_connector__decode(buf, len, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 0);
	len = put_msg(buf, 0, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXIT, exit_d, 8, 0, 0);
	CHECK_INT(proc_connector__decode(buf, len, ev, 8, &n), -EBADMSG);
	CHECK_INT(n, 0);

	/* NLMSG_ERROR and NOOP skipped; a real end-of-dump DONE (4 bytes) is
	 * malformed here; a foreign connector id and an unknown event type are
	 * skipped quietly; an odd-length event is followed at its aligned end */
	len = put_msg(buf, 0, NLMSG_ERROR, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 0);
	len += put_msg(buf, len, NLMSG_NOOP, CN_IDX_PROC, PROC_EVENT_EXEC, exec_d, 8, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, 2, PROC_EVENT_EXEC, exec_d, 8, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, 0x400, exec_d, 8, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_EXEC, odd, 9, 0, 0);
	len += put_msg(buf, len, NLMSG_DONE, CN_IDX_PROC, PROC_EVENT_FORK, fork_d, 16, 0, 0);
	CHECK_INT(proc_connector__decode(buf, len, ev, 8, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(ev[0].what, PROC_EVENT_EXEC);
	CHECK_INT(ev[1].what, PROC_EVENT_FORK);
	{
		struct nlmsghdr nh = { .nlmsg_len = NLMSG_LENGTH(4), .nlmsg_type = NLMSG_DONE };

		memset(buf, 0, 64);
		memcpy(buf, &nh, sizeof(nh));
		CHECK_INT(proc_connector__decode(buf, NLMSG_SPACE(4), ev, 8, &n), -EBADMSG);
		CHECK_INT(n, 0);
	}
}

/* As root: the real connector sees a child fork, exec /bin/true and exit. */
static void test_live_connector(void)
{
	uint8_t buf[8192] __attribute__((aligned(8)));
	struct pc_event ev[64];
	bool ack = false, forked = false, execd = false, exited = false;
	uint32_t cookie = ((uint32_t)getpid() * 2654435761u) | 2;
	uint64_t t0, t1, tf = 0, te = 0, tx = 0, deadline;
	char err[256] = "", c = 'x';
	int fd, go[2], status;
	pid_t pid;

	if (geteuid() != 0) {
		printf("test_procfs: not root, live connector check skipped\n");
		return;
	}
	fd = proc_connector__open_socket(1 << 20, cookie, err, sizeof(err));
	CHECK(fd >= 0);
	if (fd < 0) {
		fprintf(stderr, "open_socket: %s\n", err);
		return;
	}
	CHECK(pipe(go) == 0);
	t0 = now_ns(CLOCK_MONOTONIC);
	pid = fork();
	if (pid == 0) {
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	CHECK(write(go[1], &c, 1) == 1);
	CHECK(waitpid(pid, &status, 0) == pid);
	t1 = now_ns(CLOCK_MONOTONIC);
	deadline = t1 + 2000000000ull;
	while (!(forked && execd && exited) && now_ns(CLOCK_MONOTONIC) < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		unsigned n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			continue;
		proc_connector__decode(buf, (size_t)r, ev, 64, &n);
		for (unsigned i = 0; i < n; i++) {
			const struct pc_event *e = &ev[i];

			if (e->what == PROC_EVENT_NONE && e->ack == cookie + 1) {
				ack = true;
				CHECK_INT(e->err, 0);
			}
			if (e->pid != (uint32_t)pid)
				continue;
			if (e->what == PROC_EVENT_FORK) {
				forked = true;
				tf = e->mono_ns;
				CHECK_INT(e->tid, pid);
				CHECK_INT(e->ppid, getpid());
			} else if (e->what == PROC_EVENT_EXEC) {
				execd = true;
				te = e->mono_ns;
				CHECK_INT(e->tid, pid);
			} else if (e->what == PROC_EVENT_EXIT) {
				exited = true;
				tx = e->mono_ns;
				CHECK_INT(e->tid, pid);
				CHECK_INT(e->exit_code, 0);
				CHECK_INT(e->exit_code, status);
			}
		}
	}
	CHECK(ack);
	CHECK(forked);
	CHECK(execd);
	CHECK(exited);
	/* the timestamps are CLOCK_MONOTONIC */
	CHECK(t0 <= tf && tf <= te && te <= tx && tx <= t1);
	CHECK_INT(proc_connector__ctl(fd, false, cookie), 0);
	close(fd);
	close(go[0]);
	close(go[1]);
}

static void rm_tree(const char *root)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

int main(void)
{
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/test_procfs.XXXXXX");
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return 2;
	}
	test_self();
	test_threads();
	test_child();
	test_zombie_and_gone();
	test_fake_tree();
	test_scan();
	test_decode();
	test_live_connector();
	rm_tree(tmp_root);
	return unit_report("test_procfs");
}
