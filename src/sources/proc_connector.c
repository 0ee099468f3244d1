/* The process connector source: fork/exec/exit/uid/gid from the kernel's
 * netlink CN_IDX_PROC group, completed from /proc. The cheap fallback when
 * BPF is not allowed. Its limits, compared with the eBPF source:
 *  - events carry only ids; everything else is read from /proc afterwards,
 *    so a process that exits first is reported with ids alone;
 *  - an exit is reported per thread; whether the group died is read from
 *    /proc at that moment (see group_dead()), which a process that exits
 *    right after an exec from a thread can still race;
 *  - on overrun the kernel only says that something was lost, not how much. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/netlink.h>

#include "agent/pipeline.h"
#include "sources/procfs.h"
#include "sources/source.h"

#define PC_RCVBUF (8 << 20)		/* socket buffer: absorbs fork storms */
#define PC_RECV_BYTES 8192		/* one datagram is ~80 bytes; more is suspicious */
#define PC_MAX_EVENTS 128		/* events decoded from one datagram */
/* Datagrams per dispatch: a fork storm must not starve the event loop; the
 * rest is read on the next readiness or tick. */
#define PC_MAX_DGRAMS 4096

struct pc_state {
	int fd;
	struct pipeline *pl;
	uint32_t cookie;		/* of our LISTEN, to recognise its ack */
	int64_t mono_to_boot;		/* CLOCK_BOOTTIME - CLOCK_MONOTONIC, ns */
	struct procfs_opts popts;
	uint8_t buf[PC_RECV_BYTES] __attribute__((aligned(8)));
	struct pc_event evs[PC_MAX_EVENTS];
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The offset grows across a suspend; refreshing it per dispatch keeps it
 * right for everything but events queued across the suspend itself. */
static void refresh_offset(struct pc_state *st)
{
	st->mono_to_boot = clock_ns(CLOCK_BOOTTIME) - clock_ns(CLOCK_MONOTONIC);
}

static uint64_t to_boot(const struct pc_state *st, uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + st->mono_to_boot);
}

/* Ids of a task /proc no longer shows: PROC_ID_UNSET, as procfs__read uses
 * for what it cannot read; 0 would claim root. */
static void unknown_ids(struct proc_info *p)
{
	p->uid = p->euid = p->gid = p->egid = PROC_ID_UNSET;
	p->auid = PROC_ID_UNSET;
}

static void on_fork(struct pc_state *st, const struct pc_event *ev)
{
	bool is_thread = ev->pid != ev->tid;
	uint64_t t = to_boot(st, ev->mono_ns);
	struct proc_info child = { 0 };

	if (!is_thread && !procfs__read(ev->pid, &child, &st->popts, NULL, 0)) {
		/* The child may already have exec'd: its image (comm, exe, args,
		 * cwd, env) read now could be the new program's. Leave those
		 * empty so the pipeline inherits the parent's, which is what a
		 * fork copies; the exec event reports the new image. */
		free(child.exe);
		free(child.cwd);
		free(child.args);
		free(child.env);
		child.exe = child.cwd = child.args = child.env = NULL;
		child.args_len = child.env_len = 0;
		child.args_truncated = child.env_truncated = false;
		child.comm[0] = '\0';
		child.exe_dev = child.exe_ino = 0;
	} else {
		proc_info__clear(&child);
		unknown_ids(&child);
		child.start_boot_ns = t;
		child.exec_boot_ns = t;
	}
	child.pid = ev->pid;
	child.tid = ev->tid;
	child.ppid = ev->ppid;
	child.origin = PROC_ORIGIN_FORK;
	pipeline__on_fork(st->pl, &child, is_thread, t);
	proc_info__clear(&child);	/* in case the pipeline did not take it */
}

static void on_exec(struct pc_state *st, const struct pc_event *ev)
{
	uint64_t t = to_boot(st, ev->mono_ns);
	struct proc_info info = { 0 };

	if (procfs__read(ev->pid, &info, &st->popts, NULL, 0)) {
		/* Already gone: report the exec with what the event says; comm
		 * "" and exe NULL let the pipeline fill from its table. */
		proc_info__clear(&info);
		unknown_ids(&info);
		info.pid = ev->pid;
	}
	/* env, when captured, is raw here: the pipeline redacts it */
	info.tid = ev->tid;
	info.exec_boot_ns = t;
	info.origin = PROC_ORIGIN_EXEC;
	pipeline__on_exec(st->pl, &info, t);
	proc_info__clear(&info);
}

/* Whether a task of the group is still live: running and not in do_exit().
 * Reads state (field 3) and flags (field 9, PF_EXITING) of a task's stat. */
static bool task_live(const char *path)
{
	char buf[512];
	unsigned long flags = 0;
	char state = 0;
	const char *rp;
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	return state != 'Z' && state != 'X' && !(flags & 0x4 /* PF_EXITING */);
}

/* The connector reports each task's exit but not whether the thread group
 * died with it, and a pid lives on after an exec from another thread (which
 * takes over the leader's pid) or a leader's pthread_exit(). The group is
 * dead when /proc shows no live task left in it. Every thread's exit asks,
 * so whichever exits last reports the group; the pipeline ignores a second
 * report for an already exited process. */
static bool group_dead(const struct pc_state *st, uint32_t pid)
{
	char path[96];
	struct dirent *de;
	bool live = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%u/task", st->popts.proc_root, pid);
	d = opendir(path);
	if (!d)
		return true;
	while (!live && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || strlen(de->d_name) > 10)
			continue;
		snprintf(path, sizeof(path), "%s/%u/task/%s/stat", st->popts.proc_root, pid,
			 de->d_name);
		live = task_live(path);
	}
	closedir(d);
	return !live;
}

/* Returns 1 when the event was handed to the pipeline, 0 when ignored, or
 * a negative errno when the kernel refused our LISTEN. */
static int handle(struct pc_state *st, const struct pc_event *ev)
{
	switch (ev->what) {
	case PROC_EVENT_FORK:
		on_fork(st, ev);
		return 1;
	case PROC_EVENT_EXEC:
		on_exec(st, ev);
		return 1;
	case PROC_EVENT_EXIT:
		/* exit_code is task->exit_code, already a wait status */
		pipeline__on_exit(st->pl, ev->pid, ev->tid, group_dead(st, ev->pid),
				  ev->exit_code, to_boot(st, ev->mono_ns));
		return 1;
	/* The event carries only the real and effective id of one kind;
	 * pipeline__on_creds treats PROC_ID_UNSET as "unchanged". */
	case PROC_EVENT_UID:
		pipeline__on_creds(st->pl, ev->pid, ev->rid, ev->eid, PROC_ID_UNSET,
				   PROC_ID_UNSET);
		return 1;
	case PROC_EVENT_GID:
		pipeline__on_creds(st->pl, ev->pid, PROC_ID_UNSET, PROC_ID_UNSET, ev->rid,
				   ev->eid);
		return 1;
	case PROC_EVENT_NONE:
		/* an ack; other listeners' acks reach us too, hence the cookie */
		if (ev->ack == st->cookie + 1 && ev->err)
			return -(int)ev->err;
		return 0;
	default:
		/* COMM, PTRACE, SID, COREDUMP: not reported yet */
		return 0;
	}
}

static void pc_close(struct source *src)
{
	struct pc_state *st = src ? src->priv : NULL;

	if (!st)
		return;
	if (st->fd >= 0) {
		/* lets the kernel stop building events when no one listens */
		proc_connector__ctl(st->fd, false, st->cookie);
		close(st->fd);
	}
	free(st);
	src->priv = NULL;
}

static int pc_open(struct source *src, const struct vigil_config *cfg, struct pipeline *pl,
		   char *err, size_t errlen)
{
	struct pc_state *st;
	int ret;

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "proc_connector: out of memory");
		return -ENOMEM;
	}
	st->fd = -1;
	st->pl = pl;
	st->popts.proc_root = "/proc";
	st->popts.max_args_bytes = cfg->max_args_bytes;
	st->popts.max_env_bytes = cfg->max_env_bytes;
	st->popts.max_path_bytes = cfg->max_path_bytes;
	st->popts.want_env = cfg->env_capture;
	/* distinct per run so another agent's ack is not taken for ours; never
	 * 0 (other tools' acks read 1) nor UINT32_MAX (+ 1 wraps to 0) */
	st->cookie = ((uint32_t)getpid() << 16 ^ (uint32_t)clock_ns(CLOCK_MONOTONIC)) | 2;
	if (st->cookie == UINT32_MAX)
		st->cookie--;
	refresh_offset(st);
	ret = proc_connector__open_socket(PC_RCVBUF, st->cookie, err, errlen);
	if (ret < 0) {
		free(st);
		return ret;
	}
	st->fd = ret;
	src->priv = st;
	return 0;
}

static int pc_fd(const struct source *src)
{
	const struct pc_state *st = src->priv;

	return st ? st->fd : -1;
}

static int pc_dispatch(struct source *src)
{
	struct pc_state *st = src->priv;
	int handled = 0;
	unsigned d, i, n;

	if (!st)
		return -EBADF;
	refresh_offset(st);
	for (d = 0; d < PC_MAX_DGRAMS; d++) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = st->buf, .iov_len = sizeof(st->buf) };
		struct msghdr msg = {
			.msg_name = &from,
			.msg_namelen = sizeof(from),
			.msg_iov = &iov,
			.msg_iovlen = 1,
		};
		ssize_t r;
		int ret;

		r = recvmsg(st->fd, &msg, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				/* The socket buffer overflowed and the kernel
				 * dropped messages; it does not say how many, so
				 * this counts one overrun, not one event. */
				pipeline__count_drop(st->pl, "netlink_overrun", 1);
				continue;
			}
			return -errno;
		}
		/* Only the kernel (port 0) speaks for the connector: any local
		 * process can unicast to our port id. */
		if (msg.msg_namelen < sizeof(from) || from.nl_family != AF_NETLINK ||
		    from.nl_pid != 0) {
			pipeline__count_drop(st->pl, "proc_connector_spoofed", 1);
			continue;
		}
		if (msg.msg_flags & MSG_TRUNC) {
			pipeline__count_drop(st->pl, "proc_connector_truncated", 1);
			continue;
		}
		ret = proc_connector__decode(st->buf, (size_t)r, st->evs, PC_MAX_EVENTS, &n);
		if (ret == -EBADMSG)
			pipeline__count_drop(st->pl, "proc_connector_malformed", 1);
		else if (ret == -ENOSPC)
			pipeline__count_drop(st->pl, "proc_connector_too_many", 1);
		for (i = 0; i < n; i++) {
			ret = handle(st, &st->evs[i]);
			if (ret < 0)
				return ret;
			handled += ret;
		}
	}
	return handled;
}

/* The tick drains too, so a burst capped by PC_MAX_DGRAMS never waits on a
 * readiness notification an edge-triggered loop would not repeat. */
static int pc_tick(struct source *src)
{
	int ret = pc_dispatch(src);

	return ret < 0 ? ret : 0;
}

const struct source_ops source_proc_connector_ops = {
	.name = "proc_connector",
	.open = pc_open,
	.fd = pc_fd,
	.dispatch = pc_dispatch,
	.tick = pc_tick,
	.close = pc_close,
};
