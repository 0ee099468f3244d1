/* Records the process BPF program (process.bpf.c) sends to its loader
 * (process.c) through the ring buffer. Fixed-width fields, the common header
 * first, explicit padding and size asserts, so both sides cannot drift. */
#ifndef VIGIL_EBPF_PROCESS_H
#define VIGIL_EBPF_PROCESS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VG_COMM_LEN 16
#define VG_PATH_MAX 4096	/* one path, power of two (verifier masks) */
#define VG_ARGS_MAX 32768	/* argv or envp cap, power of two */
#define VG_CGROUP_MAX 512	/* last cgroup path components */
#define VG_PATH_DEPTH 64	/* path components walked before "truncated" */
#define VG_CGROUP_DEPTH 4

enum vg_rec_type {
	VG_REC_EXEC = 1,
	VG_REC_FORK = 2,
	VG_REC_EXIT = 3,
	VG_REC_EXEC_EXCLUDED = 4,	/* header only: exec of an excluded name */
};

/* Record flags. */
#define VG_F_ARGS_TRUNC (1u << 0)
#define VG_F_ENV_TRUNC (1u << 1)
#define VG_F_EXE_TRUNC (1u << 2)
#define VG_F_CWD_TRUNC (1u << 3)
#define VG_F_ARGS_FAULT (1u << 4)	/* argv pages not readable at exec */
#define VG_F_THREAD (1u << 5)		/* fork: CLONE_THREAD */
#define VG_F_GROUP_DEAD (1u << 6)	/* exit: last thread of the group */

struct vg_rec_hdr {
	__u16 type;
	__u16 flags;
	__u32 size;		/* whole record, bytes */
	__u64 time_boot_ns;
	__u32 pid;		/* tgid */
	__u32 tid;
};
_Static_assert(sizeof(struct vg_rec_hdr) == 24, "vg_rec_hdr layout");

/* What every task record knows about the task itself. */
struct vg_task {
	__u32 ppid;
	__u32 uid, gid, euid, egid;
	__u32 auid;
	__u32 pidns, mntns, netns;
	__u32 pad;
	__u64 start_boot_ns;
	__u64 self_exec_id;
	__u64 cgroup_id;
	char comm[VG_COMM_LEN];
};
_Static_assert(sizeof(struct vg_task) == 80, "vg_task layout");

/* Exec: fixed part, then exe, cwd, args, env, cgroup strings back to back
 * (lengths below; exe/cwd/cgroup include their NUL, args/env are raw). */
struct vg_exec {
	struct vg_rec_hdr hdr;
	struct vg_task task;
	__u64 exe_ino;
	__u32 exe_dev;		/* kernel s_dev: major << 20 | minor */
	__u16 exe_len, cwd_len;
	__u32 args_len, env_len;
	__u32 args_full_len;	/* arg_end - arg_start before truncation */
	__u16 cgroup_len;
	__u16 pad;
	__u32 old_tid;		/* exec from a non-leader thread: its old id */
	__u32 pad2;
	__u64 exe_size;		/* inode of the executed file at exec: */
	__s64 exe_mtime_ns;	/* lets the hash cache answer without */
	__s64 exe_ctime_ns;	/* opening the file */
};
_Static_assert(sizeof(struct vg_exec) == 168, "vg_exec layout");

#define VG_EXEC_DATA_MAX (2 * VG_PATH_MAX + 2 * VG_ARGS_MAX + VG_CGROUP_MAX)

struct vg_fork {
	struct vg_rec_hdr hdr;	/* pid/tid: the child */
	struct vg_task task;	/* the child */
};
_Static_assert(sizeof(struct vg_fork) == 104, "vg_fork layout");

struct vg_exit {
	struct vg_rec_hdr hdr;
	__u32 exit_code;	/* task->exit_code: wait status */
	__u32 pad;
};
_Static_assert(sizeof(struct vg_exit) == 32, "vg_exit layout");

/* Tunables user space writes into the config map (one entry, key 0). */
#define VG_TYPE_EXEC (1u << 0)
#define VG_TYPE_FORK (1u << 1)
#define VG_TYPE_EXIT (1u << 2)
#define VG_TYPE_THREAD (1u << 3)

struct vg_config {
	__u32 types;		/* VG_TYPE_* enabled */
	__u32 args_max;		/* <= VG_ARGS_MAX */
	__u32 env_max;		/* 0: env capture off */
	__u32 wakeup_bytes;	/* force a wake-up once this much is queued */
	__u32 path_excl;	/* entries in excluded_paths (file.bpf.h); 0: skip the lookup */
	__u32 pad;
};

/* Per-CPU counters, index = reason. Losses are reported by user space. */
enum vg_counter {
	VG_CNT_EMITTED = 0,
	VG_CNT_RB_FULL,		/* loss: ring buffer full */
	VG_CNT_FILTERED,	/* excluded in kernel, by config */
	VG_CNT_ARGS_FAULT,	/* argv unreadable: event sent without args */
	VG_CNT_PATH_TRUNC,	/* path deeper than VG_PATH_DEPTH */
	VG_CNT_NO_SCRATCH,	/* loss: per-CPU scratch unavailable */
	VG_CNT_PATH_EXCLUDED,	/* a file event on an excluded path, dropped by config */
	VG_CNT_MAX,
};

#endif
