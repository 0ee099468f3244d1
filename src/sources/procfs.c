/* /proc reader and process connector wire format; see procfs.h. Kept free of
 * pipeline calls so tests and the snapshot scanner link it alone. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/magic.h>
#include <linux/netlink.h>

#include "lib/err.h"
#include "sources/procfs.h"

#define STAT_BUF 4096		/* stat is ~300 bytes plus a 64-byte escaped comm */
#define STATUS_BUF 4096		/* Tgid/Uid/Gid sit in the first ~10 lines */
#define CGROUP_BUF 8192		/* v1 hosts list ~13 hierarchies */
#define SMALL_BUF 64		/* loginuid, ns links */
#define PATH_CAP 4096		/* PATH_MAX: readlink of exe/cwd never exceeds it */

/* A process that is gone makes /proc answer ENOENT (lookup on a dead pid)
 * or ESRCH (read from a task that exited). */
static bool gone_errno(int e)
{
	return e == ENOENT || e == ESRCH;
}

/* Reads at most cap bytes of dirfd/name into buf; *more tells whether the
 * file had more. O_NONBLOCK so a FIFO planted in a fake tree cannot hang us.
 * Returns 0 or a negative errno. */
static int read_at(int dirfd, const char *name, char *buf, size_t cap, size_t *len, bool *more)
{
	size_t got = 0;
	int fd, ret = 0;

	*len = 0;
	if (more)
		*more = false;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (got < cap) {
		ssize_t r = read(fd, buf + got, cap - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (r == 0)
			goto out;
		got += (size_t)r;
	}
	if (more) {
		char c;
		ssize_t r;

		do {
			r = read(fd, &c, 1);
		} while (r < 0 && errno == EINTR);
		*more = r > 0;
	}
out:
	*len = got;
	close(fd);
	return ret;
}

/* Reads a small text file as a NUL-terminated string. */
static int read_str_at(int dirfd, const char *name, char *buf, size_t size, bool *more)
{
	size_t len;
	int ret = read_at(dirfd, name, buf, size - 1, &len, more);

	buf[ret ? 0 : len] = '\0';
	return ret;
}

static int parse_u64(const char *s, const char **end, uint64_t *v)
{
	uint64_t x = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -ERANGE;
		x = x * 10 + d;
	}
	*v = x;
	if (end)
		*end = p;
	return 0;
}

static int parse_u32(const char *s, const char **end, uint32_t *v)
{
	uint64_t x;
	int ret = parse_u64(s, end, &x);

	if (ret)
		return ret;
	if (x > UINT32_MAX)
		return -ERANGE;
	*v = (uint32_t)x;
	return 0;
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
	static long hz;

	if (hz <= 0)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	/* split so ticks * 1e9 cannot overflow */
	return ticks / (uint64_t)hz * 1000000000ull +
	       ticks % (uint64_t)hz * 1000000000ull / (uint64_t)hz;
}

struct stat_fields {
	char state;
	uint32_t pid, ppid;
	uint64_t starttime;
};

/* /proc/PID/stat: "pid (comm) state ppid ... starttime(22) ...". comm may
 * hold anything but NUL, including ')' and spaces, so it runs from the first
 * '(' to the last ')': the numeric fields after it cannot contain ')'. */
static int parse_stat(char *buf, size_t len, struct stat_fields *f, char *comm, size_t commlen)
{
	char *open, *close, *p;
	const char *end;
	uint64_t v;
	unsigned field;
	size_t n;

	buf[len] = '\0';
	if (parse_u32(buf, &end, &f->pid) || *end != ' ' || end[1] != '(')
		return -EBADMSG;
	open = (char *)end + 1;
	close = memrchr(open, ')', len - (size_t)(open - buf));
	if (!close || close[1] != ' ')
		return -EBADMSG;
	n = (size_t)(close - open - 1);
	if (comm) {
		if (n >= commlen)
			n = commlen - 1;
		memcpy(comm, open + 1, n);
		comm[n] = '\0';
	}
	p = close + 2;
	if (!*p || p[1] != ' ')
		return -EBADMSG;
	f->state = *p;
	p += 2;
	/* p is at field 4 (ppid); starttime is field 22 */
	for (field = 4; field <= 22; field++) {
		/* fields 5..21 hold signed values (tty, nice, priority) */
		if (*p == '-' && field != 4 && field != 22)
			p++;
		if (parse_u64(p, &end, &v))
			return -EBADMSG;
		if (field == 4) {
			if (v > UINT32_MAX)
				return -EBADMSG;
			f->ppid = (uint32_t)v;
		} else if (field == 22) {
			f->starttime = v;
			break;
		}
		if (*end != ' ')
			return -EBADMSG;
		p = (char *)end + 1;
	}
	return 0;
}

static int read_stat(int dirfd, struct stat_fields *f, char *comm, size_t commlen)
{
	char buf[STAT_BUF + 1];
	size_t len;
	int ret;

	ret = read_at(dirfd, "stat", buf, STAT_BUF, &len, NULL);
	if (ret)
		return ret;
	if (len == 0)
		return -ESRCH;	/* read raced with the task being released */
	return parse_stat(buf, len, f, comm, commlen);
}

/* "Uid:\treal\teffective\tsaved\tfs" and "Tgid:\tN". Only whole lines from
 * their start are considered; the kernel escapes newlines in Name:. */
static void parse_status(char *buf, struct proc_info *p, uint32_t *tgid)
{
	char *line = buf;

	while (line && *line) {
		char *nl = strchr(line, '\n');
		const char *s, *end;
		uint32_t a, b;

		if (nl)
			*nl = '\0';
		if (!strncmp(line, "Tgid:", 5)) {
			s = line + 5 + strspn(line + 5, " \t");
			if (!parse_u32(s, NULL, &a))
				*tgid = a;
		} else if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4)) {
			s = line + 4 + strspn(line + 4, " \t");
			if (!parse_u32(s, &end, &a)) {
				s = end + strspn(end, " \t");
				if (!parse_u32(s, NULL, &b)) {
					if (line[0] == 'U') {
						p->uid = a;
						p->euid = b;
					} else {
						p->gid = a;
						p->egid = b;
					}
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* Stores readlink(dirfd/name) cut to cap bytes. Unreadable links (kernel
 * threads have no exe, EACCES for other users' processes) leave *field NULL
 * and are not an error; only -ENOMEM is. */
static int readlink_field(int dirfd, const char *name, uint32_t cap, char **field)
{
	char buf[PATH_CAP + 1];
	ssize_t n;

	if (cap == 0)
		return 0;
	if (cap > PATH_CAP)
		cap = PATH_CAP;
	n = readlinkat(dirfd, name, buf, sizeof(buf));
	if (n <= 0)
		return 0;
	if ((size_t)n > cap)
		n = cap;
	return proc_info__set_str(field, buf, (size_t)n);
}

/* Reads a NUL-separated vector (cmdline, environ) bounded by cap. Empty
 * (kernel thread, zombie) leaves *out NULL. The buffer is shrunk to fit and
 * NUL-terminated at [*outlen]. */
static int read_vector(int dirfd, const char *name, uint32_t cap, char **out, uint32_t *outlen,
		       bool *truncated)
{
	char *buf, *shrunk;
	size_t len;
	bool more;
	int ret;

	if (cap == 0)
		return 0;
	buf = malloc((size_t)cap + 1);
	if (!buf)
		return -ENOMEM;
	ret = read_at(dirfd, name, buf, cap, &len, &more);
	if (ret || len == 0) {
		free(buf);
		return 0;	/* unreadable or empty: unknown, not an error */
	}
	buf[len] = '\0';
	shrunk = realloc(buf, len + 1);
	*out = shrunk ? shrunk : buf;
	*outlen = (uint32_t)len;
	*truncated = more;
	return 0;
}

/* ns links read "pid:[4026531836]"; a fake tree may hold anything, and a
 * failed readlink falls back to the inode of the ns file itself. */
static uint32_t read_ns(int dirfd, const char *name)
{
	char buf[SMALL_BUF];
	const char *s, *end;
	struct stat st;
	uint32_t v;
	ssize_t n;

	n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		s = strchr(buf, '[');
		if (s && !parse_u32(s + 1, &end, &v) && *end == ']')
			return v;
		return 0;
	}
	if (!fstatat(dirfd, name, &st, 0) && st.st_ino <= UINT32_MAX)
		return (uint32_t)st.st_ino;
	return 0;
}

/* The cgroup v2 id is the inode of the cgroup's directory in cgroup2fs, the
 * value bpf_get_current_cgroup_id() returns, so both sources agree. Only
 * meaningful against the real /proc. */
static uint64_t cgroup_v2_id(const char *path)
{
	char full[PATH_CAP + 32];
	struct statfs sfs;
	struct stat st;

	if (statfs("/sys/fs/cgroup", &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC)
		return 0;
	if ((size_t)snprintf(full, sizeof(full), "/sys/fs/cgroup%s", path) >= sizeof(full))
		return 0;
	if (stat(full, &st))
		return 0;
	return st.st_ino;
}

/* "hierarchy:controllers:path" lines; "0::/path" is the v2 one. A line cut
 * by the read bound is ignored. */
static int read_cgroup(int dirfd, const struct procfs_opts *o, struct proc_info *p)
{
	char buf[CGROUP_BUF + 1];
	const char *v1 = NULL, *v2 = NULL, *use;
	char *line = buf;
	size_t len, n;
	bool more;
	int ret;

	if (read_at(dirfd, "cgroup", buf, CGROUP_BUF, &len, &more) || len == 0)
		return 0;
	buf[len] = '\0';
	while (line < buf + len) {
		char *nl = strchr(line, '\n');
		char *c1, *c2;

		if (!nl)
			break;	/* no newline: cut by the bound, or not /proc */
		*nl = '\0';
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2) {
			if (!strncmp(line, "0::", 3) && !v2)
				v2 = c2 + 1;
			else if (!v1 || !memcmp(c1, ":memory:", 8))
				v1 = c2 + 1;
		}
		line = nl + 1;
	}
	/* As the eBPF source does: at the v2 root of a hybrid host, containers
	 * are in the v1 controllers; the memory controller's path names them. */
	use = v2 && (strcmp(v2, "/") || !v1) ? v2 : v1;
	if (!use || !*use)
		return 0;
	n = strlen(use);
	if (o->max_path_bytes && n > o->max_path_bytes)
		n = o->max_path_bytes;
	ret = proc_info__set_str(&p->cgroup, use, n);
	if (!ret && use == v2 && !strcmp(o->proc_root, "/proc"))
		p->cgroup_id = cgroup_v2_id(p->cgroup);
	return ret;
}

int procfs__read(uint32_t pid, struct proc_info *out, const struct procfs_opts *o, char *err,
		 size_t errlen)
{
	char path[PATH_CAP], small[SMALL_BUF], status[STATUS_BUF];
	struct stat_fields sf, again;
	uint32_t tgid = 0, v;
	struct stat st;
	int dirfd, ret;

	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(path, sizeof(path), "%s/%u", o->proc_root, pid) >= sizeof(path)) {
		err_set(err, errlen, "procfs: proc root '%s' is too long", o->proc_root);
		return -ENAMETOOLONG;
	}
	/* Everything below is read relative to this fd: it pins the struct pid,
	 * so a recycled pid number can never mix another process in. */
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = gone_errno(errno) ? -ESRCH : -errno;
		err_set(err, errlen, "procfs: cannot open %s: %s", path, strerror(-ret));
		return ret;
	}

	ret = read_stat(dirfd, &sf, out->comm, sizeof(out->comm));
	if (ret) {
		if (gone_errno(-ret))
			ret = -ESRCH;
		if (ret == -EBADMSG)
			err_set(err, errlen,
				"procfs: %s/stat: not 'pid (comm) state ppid ... starttime'", path);
		else
			err_set(err, errlen, "procfs: cannot read %s/stat: %s", path,
				strerror(-ret));
		goto fail;
	}
	out->pid = pid;
	out->tid = pid;
	out->ppid = sf.ppid;
	out->start_boot_ns = ticks_to_ns(sf.starttime);
	out->exec_boot_ns = out->start_boot_ns;
	out->origin = PROC_ORIGIN_SNAPSHOT;

	out->uid = out->euid = out->gid = out->egid = PROC_ID_UNSET;
	if (!read_str_at(dirfd, "status", status, sizeof(status), NULL))
		parse_status(status, out, &tgid);
	if (tgid && tgid != pid)
		out->pid = tgid;	/* asked for a thread */

	out->auid = PROC_ID_UNSET;	/* no audit: the file does not exist */
	if (!read_str_at(dirfd, "loginuid", small, sizeof(small), NULL) &&
	    !parse_u32(small, NULL, &v))
		out->auid = v;

	ret = readlink_field(dirfd, "exe", o->max_path_bytes, &out->exe);
	if (ret)
		goto nomem;
	if (out->exe && !fstatat(dirfd, "exe", &st, 0)) {
		/* glibc dev_t -> the kernel's MKDEV(); may still differ from
		 * s_dev on overlayfs/btrfs, whose stat reports another dev */
		out->exe_dev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev);
		out->exe_ino = st.st_ino;
	}
	ret = readlink_field(dirfd, "cwd", o->max_path_bytes, &out->cwd);
	if (ret)
		goto nomem;
	ret = read_vector(dirfd, "cmdline", o->max_args_bytes, &out->args, &out->args_len,
			  &out->args_truncated);
	if (ret)
		goto nomem;
	if (o->want_env) {
		ret = read_vector(dirfd, "environ", o->max_env_bytes, &out->env, &out->env_len,
				  &out->env_truncated);
		if (ret)
			goto nomem;
	}
	out->pidns = read_ns(dirfd, "ns/pid");
	out->mntns = read_ns(dirfd, "ns/mnt");
	out->netns = read_ns(dirfd, "ns/net");
	ret = read_cgroup(dirfd, o, out);
	if (ret)
		goto nomem;

	/* Dying during the reads leaves some fields empty (exe, cwd, cmdline
	 * go first): refuse the half-read block. A process that was already a
	 * zombie is reported as it is. */
	ret = read_stat(dirfd, &again, NULL, 0);
	if (ret || again.starttime != sf.starttime ||
	    (strchr("ZXx", again.state) && !strchr("ZXx", sf.state))) {
		ret = -ESRCH;
		err_set(err, errlen, "procfs: process %u exited while being read", pid);
		goto fail;
	}
	close(dirfd);
	return 0;

nomem:
	err_set(err, errlen, "procfs: out of memory reading %s", path);
fail:
	close(dirfd);
	proc_info__clear(out);
	return ret;
}

/* A pid directory name: digits only, no leading zero, fits in 32 bits. */
static bool pid_name(const char *s, uint32_t *pid)
{
	const char *end;

	if (s[0] == '0' || parse_u32(s, &end, pid) || *end || !*pid)
		return false;
	return true;
}

int procfs__scan(const char *proc_root, int (*cb)(uint32_t pid, void *arg), void *arg)
{
	struct dirent *de;
	uint32_t pid;
	DIR *d;
	int ret = 0;

	d = opendir(proc_root);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = errno ? -errno : 0;
			break;
		}
		if (!pid_name(de->d_name, &pid))
			continue;
		ret = cb(pid, arg);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

int procfs__list_threads(const char *proc_root, uint32_t pid, uint32_t *tids, unsigned max,
			 unsigned *n)
{
	char path[PATH_CAP];
	struct dirent *de;
	uint32_t tid;
	DIR *d;
	int ret = 0;

	*n = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%u/task", proc_root, pid) >= sizeof(path))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return gone_errno(errno) ? -ESRCH : -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = errno ? -errno : 0;
			break;
		}
		if (!pid_name(de->d_name, &tid))
			continue;
		if (*n == max) {
			ret = -ENOSPC;
			break;
		}
		tids[(*n)++] = tid;
	}
	closedir(d);
	return ret;
}

/* Bytes of event_data each event needs; 0 for events we do not know (newer
 * kernels), which are skipped rather than called malformed. exit and
 * coredump grew parent fields later: only the original part is required. */
static size_t event_data_need(uint32_t what)
{
	struct proc_event *e = NULL;

	switch (what) {
	case PROC_EVENT_NONE: return sizeof(e->event_data.ack);
	case PROC_EVENT_FORK: return sizeof(e->event_data.fork);
	case PROC_EVENT_EXEC: return sizeof(e->event_data.exec);
	case PROC_EVENT_UID:
	case PROC_EVENT_GID: return sizeof(e->event_data.id);
	case PROC_EVENT_SID: return sizeof(e->event_data.sid);
	case PROC_EVENT_PTRACE: return sizeof(e->event_data.ptrace);
	case PROC_EVENT_COMM: return sizeof(e->event_data.comm);
	case PROC_EVENT_COREDUMP: return 2 * sizeof(__kernel_pid_t);
	case PROC_EVENT_EXIT: return offsetof(struct exit_proc_event, parent_pid);
	}
	return 0;
}

/* One connector payload (cn_msg + data, plen bytes). Returns 1 when an
 * event was produced, 0 when skipped, -EBADMSG when malformed. */
static int decode_cn(const uint8_t *p, size_t plen, struct pc_event *ev)
{
	const size_t hdr = offsetof(struct proc_event, event_data);
	struct proc_event pe;
	struct cn_msg cn;
	size_t need;

	if (plen < sizeof(cn))
		return -EBADMSG;
	memcpy(&cn, p, sizeof(cn));
	if (cn.len > plen - sizeof(cn))
		return -EBADMSG;
	if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
		return 0;
	if (cn.len < hdr)
		return -EBADMSG;
	/* copy out: the payload sits at an arbitrary alignment */
	memset(&pe, 0, sizeof(pe));
	memcpy(&pe, p + sizeof(cn), cn.len < sizeof(pe) ? cn.len : sizeof(pe));
	need = event_data_need(pe.what);
	if (!need && pe.what != PROC_EVENT_NONE)
		return 0;
	if (cn.len - hdr < need)
		return -EBADMSG;

	memset(ev, 0, sizeof(*ev));
	ev->what = pe.what;
	ev->cpu = pe.cpu;
	ev->mono_ns = pe.timestamp_ns;
	ev->seq = cn.seq;
	ev->ack = cn.ack;
	switch (pe.what) {
	case PROC_EVENT_NONE:
		ev->err = pe.event_data.ack.err;
		break;
	case PROC_EVENT_FORK:
		ev->ptid = (uint32_t)pe.event_data.fork.parent_pid;
		ev->ppid = (uint32_t)pe.event_data.fork.parent_tgid;
		ev->tid = (uint32_t)pe.event_data.fork.child_pid;
		ev->pid = (uint32_t)pe.event_data.fork.child_tgid;
		break;
	case PROC_EVENT_UID:
	case PROC_EVENT_GID:
		ev->tid = (uint32_t)pe.event_data.id.process_pid;
		ev->pid = (uint32_t)pe.event_data.id.process_tgid;
		ev->rid = pe.event_data.id.r.ruid;
		ev->eid = pe.event_data.id.e.euid;
		break;
	case PROC_EVENT_EXIT:
		ev->tid = (uint32_t)pe.event_data.exit.process_pid;
		ev->pid = (uint32_t)pe.event_data.exit.process_tgid;
		ev->exit_code = pe.event_data.exit.exit_code;
		ev->exit_signal = pe.event_data.exit.exit_signal;
		if (cn.len - hdr >= sizeof(pe.event_data.exit)) {
			ev->ptid = (uint32_t)pe.event_data.exit.parent_pid;
			ev->ppid = (uint32_t)pe.event_data.exit.parent_tgid;
		}
		break;
	default:
		/* exec, sid, ptrace, comm, coredump all start with pid, tgid */
		ev->tid = (uint32_t)pe.event_data.exec.process_pid;
		ev->pid = (uint32_t)pe.event_data.exec.process_tgid;
		break;
	}
	return 1;
}

int proc_connector__decode(const void *buf, size_t len, struct pc_event *out, unsigned max,
			   unsigned *n)
{
	const uint8_t *p = buf;
	size_t off = 0;
	int ret = 0;

	*n = 0;
	while (off < len) {
		struct nlmsghdr nh;
		size_t step;
		int r;

		if (len - off < sizeof(nh))
			return -EBADMSG;	/* a partial header: nothing left to frame */
		memcpy(&nh, p + off, sizeof(nh));
		if (nh.nlmsg_len < NLMSG_HDRLEN || nh.nlmsg_len > len - off)
			return -EBADMSG;
		step = NLMSG_ALIGN(nh.nlmsg_len);
		if (step > len - off)
			step = len - off;	/* the last message needs no padding */
		if (nh.nlmsg_type == NLMSG_DONE) {
			struct pc_event ev;

			r = decode_cn(p + off + NLMSG_HDRLEN, nh.nlmsg_len - NLMSG_HDRLEN, &ev);
			if (r < 0) {
				ret = r;
			} else if (r > 0) {
				if (*n < max)
					out[(*n)++] = ev;
				else if (!ret)
					ret = -ENOSPC;
			}
		}
		/* NOOP, ERROR (acks of requests we never make) and non-connector
		 * types carry no proc event */
		off += step;
	}
	return ret;
}

int proc_connector__ctl(int fd, bool listen, uint32_t cookie)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint8_t msg[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(uint32_t))];
	struct nlmsghdr nh = {
		.nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(uint32_t)),
		.nlmsg_type = NLMSG_DONE,
	};
	struct cn_msg cn = {
		.id = { .idx = CN_IDX_PROC, .val = CN_VAL_PROC },
		.seq = cookie,
		.ack = cookie,
		.len = sizeof(uint32_t),
	};
	/* the four-byte form: kernels with event filters (6.6+) treat it as
	 * "all events" */
	uint32_t op = listen ? PROC_CN_MCAST_LISTEN : PROC_CN_MCAST_IGNORE;
	ssize_t r;

	memset(msg, 0, sizeof(msg));
	memcpy(msg, &nh, sizeof(nh));
	memcpy(msg + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(msg + NLMSG_HDRLEN + sizeof(cn), &op, sizeof(op));
	do {
		r = sendto(fd, msg, nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == nh.nlmsg_len ? 0 : -EIO;
}

int proc_connector__open_socket(int rcvbuf, uint32_t cookie, char *err, size_t errlen)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	int fd, ret;

	fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (fd < 0) {
		ret = -errno;
		err_set(err, errlen, "proc_connector: cannot create a NETLINK_CONNECTOR socket: %s",
			strerror(-ret));
		return ret;
	}
	/* bursts (fork storms) must fit: FORCE lifts the rmem_max cap for root */
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0) {
		ret = -errno;
		err_set(err, errlen, "proc_connector: cannot set a %d-byte receive buffer: %s",
			rcvbuf, strerror(-ret));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		err_set(err, errlen,
			"proc_connector: cannot join the CN_IDX_PROC group: %s%s", strerror(-ret),
			ret == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		goto fail;
	}
	ret = proc_connector__ctl(fd, true, cookie);
	if (ret) {
		err_set(err, errlen, "proc_connector: cannot send PROC_CN_MCAST_LISTEN: %s",
			strerror(-ret));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}
