/* Reading processes out of /proc, and the wire format of the process
 * connector. Both are pure of the pipeline so the snapshot scanner, the
 * process connector and the unit tests can link them alone: nothing here
 * calls pipeline__*(). */
#ifndef VIGIL_PROCFS_H
#define VIGIL_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/proc.h"

struct procfs_opts {
	const char *proc_root;		/* "/proc"; tests point it at a fake tree */
	uint32_t max_args_bytes;	/* cmdline bytes kept; more sets args_truncated */
	uint32_t max_env_bytes;		/* environ bytes kept; more sets env_truncated */
	uint32_t max_path_bytes;	/* exe/cwd/cgroup longer than this are cut */
	bool want_env;			/* read environ (raw: the caller redacts) */
};

/* Fills *out with what /proc says about pid (out is overwritten, not freed:
 * pass a cleared block). On success the caller owns the heap strings
 * (proc_info__clear). Fields /proc cannot give stay 0/NULL; uid/gid/euid/
 * egid and auid are PROC_ID_UNSET when status/loginuid cannot be read.
 *
 * pid may be a thread id: then out->pid is its thread group and out->tid the
 * thread. comm is parsed from the last ')' of stat (comm may hold ") (" and
 * spaces). start_boot_ns is stat's starttime (clock ticks since boot,
 * CLOCK_BOOTTIME) so it has only 1/CLK_TCK resolution; exec_boot_ns is set to
 * the same since /proc does not record the last exec. exe keeps a trailing
 * " (deleted)" verbatim: the executed file was unlinked or replaced, which is
 * worth reporting; exe_ino tells it from a file really named like that.
 * exe_dev uses the kernel's internal encoding, MAJOR << 20 | MINOR, the value
 * a BPF program reads from inode->i_sb->s_dev, not glibc's dev_t.
 * Every read is bounded by opts or by a fixed buffer; strings never exceed
 * their max_*_bytes (plus a NUL).
 *
 * Returns 0; -ESRCH when the process does not exist or vanished during the
 * read (out is then cleared, never half filled); -EBADMSG for a stat that
 * cannot be parsed; -ENOMEM; another negative errno from /proc. err gets one
 * sentence on failure. */
int procfs__read(uint32_t pid, struct proc_info *out, const struct procfs_opts *o, char *err,
		 size_t errlen);

/* Calls cb for every process (numeric entry of proc_root; threads are not
 * listed there). A non-zero return from cb stops the scan and is returned.
 * Returns 0 or a negative errno from opendir/readdir. */
int procfs__scan(const char *proc_root, int (*cb)(uint32_t pid, void *arg), void *arg);

/* Stores up to max thread ids of pid into tids and their number into *n.
 * Returns 0, -ENOSPC when pid has more than max threads (tids holds the
 * first max), -ESRCH when pid is gone, or another negative errno. */
int procfs__list_threads(const char *proc_root, uint32_t pid, uint32_t *tids, unsigned max,
			 unsigned *n);

/* The process connector (NETLINK_CONNECTOR, CN_IDX_PROC), decoded. */

/* One proc event as the kernel sent it; which fields mean something depends
 * on what (the kernel's PROC_EVENT_* value). */
struct pc_event {
	uint32_t what;		/* PROC_EVENT_FORK, _EXEC, _EXIT, _UID, _GID, _NONE, ... */
	uint32_t cpu;
	uint64_t mono_ns;	/* kernel's ktime_get_ns(): CLOCK_MONOTONIC */
	uint32_t seq, ack;	/* cn_msg's; an ack's ack is the request's + 1 */
	uint32_t pid, tid;	/* subject: tgid and pid of the task (child for fork) */
	uint32_t ppid, ptid;	/* fork: parent tgid/pid; exit: parent when sent */
	uint32_t exit_code;	/* exit: wait status (code << 8 | signal | 0x80 core) */
	uint32_t exit_signal;	/* exit: signal sent to the parent (SIGCHLD) */
	uint32_t rid, eid;	/* uid/gid: real and effective id */
	uint32_t err;		/* none (ack): errno of our LISTEN/IGNORE, 0 ok */
};

/* Decodes every proc event in buf (what one recv returned: netlink messages
 * back to back) into out[0..*n). The connector sends its data with
 * nlmsg_type NLMSG_DONE, so DONE carries a payload here; NLMSG_NOOP,
 * NLMSG_ERROR and messages for other connector ids are skipped. Every
 * length is checked before anything is read: nlmsg_len against the buffer,
 * cn_msg.len against nlmsg_len, and against the size the event type needs.
 * Returns 0; -EBADMSG when something was malformed (events decoded before
 * and after a bad message whose frame was intact are still in out; after a
 * bad nlmsghdr the rest of the buffer cannot be framed and is dropped);
 * -ENOSPC when buf held more than max events (the rest are dropped). */
int proc_connector__decode(const void *buf, size_t len, struct pc_event *out, unsigned max,
			   unsigned *n);

/* Opens a NETLINK_CONNECTOR socket (non-blocking, close-on-exec) bound to
 * the CN_IDX_PROC group, with a receive buffer of rcvbuf bytes (forced when
 * root), and sends PROC_CN_MCAST_LISTEN carrying cookie. Returns the fd
 * (caller closes it, after proc_connector__ctl(fd, false, ...)) or a
 * negative errno with err filled. */
int proc_connector__open_socket(int rcvbuf, uint32_t cookie, char *err, size_t errlen);

/* Sends PROC_CN_MCAST_LISTEN (listen true) or PROC_CN_MCAST_IGNORE. The
 * kernel acks with a PROC_EVENT_NONE, err its errno, multicast to every
 * listener. Its cn_msg.ack is ours + 1 and identifies it; its seq does not
 * (kernels since 6.x put their own event counter there). cookie goes in
 * both seq and ack; pick it non-zero and != UINT32_MAX: other tools send
 * ack 0, so their acks read 1. Returns 0 or a negative errno. */
int proc_connector__ctl(int fd, bool listen, uint32_t cookie);

#endif
