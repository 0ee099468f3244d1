/* File operation handlers, tail-called by syscalls.bpf.c on sys_exit.
 * Everything is read at syscall exit, where the registers still hold the
 * arguments and the return value is known: one hook per syscall instead of
 * an entry/exit pair with per-thread state. */
#ifndef VIGIL_FILE_BPF_H
#define VIGIL_FILE_BPF_H

#include "sources/ebpf/file.h"

/* f_mode bit the VFS sets when open created the file (include/linux/fs.h;
 * a #define, so not in BTF). */
#define VG_FMODE_CREATED 0x100000
#define VG_AT_FDCWD -100
#define VG_AT_REMOVEDIR 0x200

#define VG_FD_MASK_PATH2 (2 * VG_PATH_MAX - 1)
#define VG_FD_MASK_BASE (4 * VG_PATH_MAX - 1)
#define VG_FILE_SCRATCH_DATA (5 * VG_PATH_MAX)

/* fds opened for writing on regular files, so their close can be reported
 * (content may have changed). Key: tgid << 32 | fd. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} write_fds SEC(".maps");

#define VG_S_IFMT 0170000
#define VG_S_IFREG 0100000

struct vg_file_scratch {
	struct vg_file rec;
	char data[VG_FILE_SCRATCH_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_file_scratch);
} file_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * VG_EXCL_PATTERNS);
	__type(key, struct vg_path_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} excluded_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_path_key);
} path_key_scratch SEC(".maps");

/* path: len bytes including the NUL. Only for kernel-resolved paths: a name
 * as the process passed it ("/tmp/../etc/shadow") is not what it names. */
static __always_inline bool vg_path_excluded(const char *path, __u32 len)
{
	struct vg_path_key *k;
	__u32 zero = 0;

	k = bpf_map_lookup_elem(&path_key_scratch, &zero);
	if (!k)
		return false;
	if (len > VG_EXCL_PATH_LEN)
		len = VG_EXCL_PATH_LEN;
	if (bpf_probe_read_kernel(k->data, VG_EXCL_PATH_LEN, path))
		return false;
	k->prefixlen = len * 8;
	return bpf_map_lookup_elem(&excluded_paths, k) != NULL;
}

/* What a handler extracted from the registers. */
struct vg_file_args {
	__u16 op;
	int fd;			/* fd-based op (fchmod...): the file; else -1 */
	int dfd, dfd2;		/* dirfds of path and path2 */
	const char *path, *path2;	/* user pointers, NULL when none */
	__u64 flags;
	__u32 mode, uid, gid;
	__s64 length;
	bool open;		/* ret is an fd of the opened file */
};

static __always_inline struct file *vg_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file **arr;
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	arr = fdt->fd;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd & 0xfffff]);
	return f;
}

static __always_inline __u32 vg_file_path(struct file *f, char *dst, bool *trunc)
{
	return vg_read_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), dst,
			    trunc);
}

/* The directory a relative name is resolved against: the cwd or dirfd. */
static __always_inline __u32 vg_base_dir(struct task_struct *task, int dfd, char *dst, bool *trunc)
{
	struct file *f;

	if (dfd == VG_AT_FDCWD)
		return vg_read_path(BPF_CORE_READ(task, fs, pwd.dentry),
				    BPF_CORE_READ(task, fs, pwd.mnt), dst, trunc);
	f = vg_fd_file(task, dfd);
	return f ? vg_file_path(f, dst, trunc) : 0;
}

/* A user-supplied name; returns its length with NUL, 0 when unreadable. */
static __always_inline __u32 vg_user_path(const char *p, char *dst, __u16 *flags)
{
	long n;

	if (!p)
		return 0;
	n = bpf_probe_read_user_str(dst, VG_PATH_MAX, p);
	if (n <= 0) {
		*flags |= VG_FF_FAULT;
		return 0;
	}
	return (__u32)n;
}

static __always_inline int vg_file_emit(const struct vg_file_args *a, struct pt_regs *regs,
					long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vg_config *cfg = get_config();
	struct vg_file_scratch *s;
	struct vg_file *r;
	struct file *f = NULL;
	__u32 zero = 0, off, n;
	bool trunc = false;

	if (!cfg || !(cfg->types & VG_TYPE_FILE) || excluded_task(task))
		return 0;
	s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!s) {
		count(VG_CNT_NO_SCRATCH);
		return 0;
	}
	r = &s->rec;
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.type = VG_REC_FILE;
	r->hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r->hdr.pid = task->tgid;
	r->hdr.tid = task->pid;
	r->op = a->op;
	r->syscall = (__u16)VG_SYSCALL_NR(regs);
	r->ret = (__s32)ret;
	r->flags = a->flags;
	r->mode = a->mode;
	r->uid = a->uid;
	r->gid = a->gid;
	r->length = a->length;

	/* path: the opened or fd-named file, resolved; else the user's name */
	if (a->open && ret >= 0)
		f = vg_fd_file(task, (int)ret);
	else if (a->fd >= 0)
		f = vg_fd_file(task, a->fd);
	n = 0;
	if (f) {
		n = vg_file_path(f, &s->data[0], &trunc);
		if (n && !trunc && cfg->path_excl && !a->path2 &&
		    vg_path_excluded(&s->data[0], n)) {
			count(VG_CNT_PATH_EXCLUDED);
			return 0;
		}
		r->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
		r->ino = BPF_CORE_READ(f, f_inode, i_ino);
		if (a->open && (BPF_CORE_READ(f, f_mode) & VG_FMODE_CREATED))
			r->hdr.flags |= VG_FF_CREATED;
		if (a->open && (a->flags & 3) &&
		    (BPF_CORE_READ(f, f_inode, i_mode) & VG_S_IFMT) == VG_S_IFREG) {
			__u64 key = ((__u64)task->tgid << 32) | (__u32)ret;
			__u8 one = 1;

			bpf_map_update_elem(&write_fds, &key, &one, BPF_ANY);
		}
		if (n)
			r->path_kind = VG_PATH_RESOLVED;
	}
	if (!n && a->path) {
		n = vg_user_path(a->path, &s->data[0], &r->hdr.flags);
		if (n)
			r->path_kind = VG_PATH_USER;
	}
	if (trunc)
		r->hdr.flags |= VG_FF_PATH_TRUNC;
	r->path_len = n;
	off = n;

	n = vg_user_path(a->path2, &s->data[off & VG_FD_MASK_PATH2], &r->hdr.flags);
	if (n)
		r->path2_kind = VG_PATH_USER;
	r->path2_len = n;
	off += n;

	/* bases, only for relative user names (a symlink's target is text) */
	if (r->path_kind == VG_PATH_USER && a->op != VG_FOP_SYMLINK && s->data[0] != '/') {
		trunc = false;
		n = vg_base_dir(task, a->dfd, &s->data[off & VG_FD_MASK_BASE], &trunc);
		if (trunc)
			r->hdr.flags |= VG_FF_BASE_TRUNC;
		r->base_len = n;
		off += n;
	}
	if (r->path2_kind == VG_PATH_USER && s->data[r->path_len & VG_FD_MASK_PATH2] != '/') {
		trunc = false;
		n = vg_base_dir(task, a->dfd2, &s->data[off & VG_FD_MASK_BASE], &trunc);
		if (trunc)
			r->hdr.flags |= VG_FF_BASE_TRUNC;
		r->base2_len = n;
		off += n;
	}
	off = vg_clamp(off, VG_FILE_SCRATCH_DATA - 1) & (8 * VG_PATH_MAX - 1);
	r->hdr.size = sizeof(*r) + off;
	emit(cfg, s, sizeof(*r) + off);
	return 0;
}

/* Each handler states only what differs from the defaults set first. */
#pragma clang diagnostic ignored "-Winitializer-overrides"

#define VG_FILE_HANDLER(name, ...)                                                     \
	SEC("tp_btf/sys_exit")                                                         \
	int BPF_PROG(vg_exit_##name, struct pt_regs *regs, long ret)                   \
	{                                                                              \
		struct vg_file_args a = { .fd = -1, .dfd = VG_AT_FDCWD,                \
					  .dfd2 = VG_AT_FDCWD, .uid = 0xffffffff,      \
					  .gid = 0xffffffff, __VA_ARGS__ };            \
		return vg_file_emit(&a, regs, ret);                                    \
	}

#define A0 ((long)VG_ARG0(regs))
#define A1 ((long)VG_ARG1(regs))
#define A2 ((long)VG_ARG2(regs))
#define A3 ((long)VG_ARG3(regs))
#define A4 ((long)VG_ARG4(regs))

VG_FILE_HANDLER(open, .op = VG_FOP_OPEN, .open = true, .path = (const char *)A0, .flags = (__u32)A1,
		.mode = (__u32)A2)
VG_FILE_HANDLER(creat, .op = VG_FOP_OPEN, .open = true, .path = (const char *)A0,
		.flags = 01 | 0100 | 01000 /* O_WRONLY|O_CREAT|O_TRUNC */, .mode = (__u32)A1)
VG_FILE_HANDLER(openat, .op = VG_FOP_OPEN, .open = true, .dfd = (int)A0,
		.path = (const char *)A1, .flags = (__u32)A2, .mode = (__u32)A3)
VG_FILE_HANDLER(unlink, .op = VG_FOP_UNLINK, .path = (const char *)A0)
VG_FILE_HANDLER(unlinkat, .op = ((int)A2 & VG_AT_REMOVEDIR) ? VG_FOP_RMDIR : VG_FOP_UNLINK,
		.dfd = (int)A0, .path = (const char *)A1, .flags = (__u32)A2)
VG_FILE_HANDLER(rmdir, .op = VG_FOP_RMDIR, .path = (const char *)A0)
VG_FILE_HANDLER(mkdir, .op = VG_FOP_MKDIR, .path = (const char *)A0, .mode = (__u32)A1)
VG_FILE_HANDLER(mkdirat, .op = VG_FOP_MKDIR, .dfd = (int)A0, .path = (const char *)A1,
		.mode = (__u32)A2)
VG_FILE_HANDLER(rename, .op = VG_FOP_RENAME, .path = (const char *)A0, .path2 = (const char *)A1)
VG_FILE_HANDLER(renameat, .op = VG_FOP_RENAME, .dfd = (int)A0, .path = (const char *)A1,
		.dfd2 = (int)A2, .path2 = (const char *)A3)
VG_FILE_HANDLER(renameat2, .op = VG_FOP_RENAME, .dfd = (int)A0, .path = (const char *)A1,
		.dfd2 = (int)A2, .path2 = (const char *)A3, .flags = (__u32)A4)
VG_FILE_HANDLER(truncate, .op = VG_FOP_TRUNCATE, .path = (const char *)A0, .length = A1)
VG_FILE_HANDLER(ftruncate, .op = VG_FOP_TRUNCATE, .fd = (int)A0, .length = A1)
VG_FILE_HANDLER(chmod, .op = VG_FOP_CHMOD, .path = (const char *)A0, .mode = (__u32)A1)
VG_FILE_HANDLER(fchmod, .op = VG_FOP_CHMOD, .fd = (int)A0, .mode = (__u32)A1)
VG_FILE_HANDLER(fchmodat, .op = VG_FOP_CHMOD, .dfd = (int)A0, .path = (const char *)A1,
		.mode = (__u32)A2)
VG_FILE_HANDLER(chown, .op = VG_FOP_CHOWN, .path = (const char *)A0, .uid = (__u32)A1,
		.gid = (__u32)A2)
VG_FILE_HANDLER(lchown, .op = VG_FOP_CHOWN, .path = (const char *)A0, .uid = (__u32)A1,
		.gid = (__u32)A2)
VG_FILE_HANDLER(fchown, .op = VG_FOP_CHOWN, .fd = (int)A0, .uid = (__u32)A1, .gid = (__u32)A2)
VG_FILE_HANDLER(fchownat, .op = VG_FOP_CHOWN, .dfd = (int)A0, .path = (const char *)A1,
		.uid = (__u32)A2, .gid = (__u32)A3, .flags = (__u32)A4)
VG_FILE_HANDLER(link, .op = VG_FOP_LINK, .path = (const char *)A0, .path2 = (const char *)A1)
VG_FILE_HANDLER(linkat, .op = VG_FOP_LINK, .dfd = (int)A0, .path = (const char *)A1,
		.dfd2 = (int)A2, .path2 = (const char *)A3, .flags = (__u32)A4)
/* symlink: path is the target text (never resolved), path2 the new link */
VG_FILE_HANDLER(symlink, .op = VG_FOP_SYMLINK, .path = (const char *)A0,
		.path2 = (const char *)A1)
VG_FILE_HANDLER(symlinkat, .op = VG_FOP_SYMLINK, .path = (const char *)A0, .dfd2 = (int)A1,
		.path2 = (const char *)A2)

/* close of an fd opened for writing: a header-sized record; user space knows
 * the path from the open. */
SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_close, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 key = ((__u64)task->tgid << 32) | (__u32)VG_ARG0(regs);
	struct vg_config *cfg;
	struct vg_file r = {};

	if (ret != 0 || !bpf_map_lookup_elem(&write_fds, &key))
		return 0;
	bpf_map_delete_elem(&write_fds, &key);
	cfg = get_config();
	if (!cfg || !(cfg->types & VG_TYPE_FILE))
		return 0;
	r.hdr.type = VG_REC_FILE;
	r.hdr.size = sizeof(r);
	r.hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r.hdr.pid = task->tgid;
	r.hdr.tid = task->pid;
	r.op = VG_FOP_CLOSE_WRITTEN;
	r.syscall = (__u16)VG_SYSCALL_NR(regs);
	r.flags = (__u32)VG_ARG0(regs);
	emit(cfg, &r, sizeof(r));
	return 0;
}

/* openat2 passes flags and mode in a struct open_how */
SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_openat2, struct pt_regs *regs, long ret)
{
	struct open_how how = {};
	struct vg_file_args a = { .op = VG_FOP_OPEN, .open = true, .fd = -1, .dfd2 = VG_AT_FDCWD,
				  .uid = 0xffffffff, .gid = 0xffffffff };

	a.dfd = (int)A0;
	a.path = (const char *)A1;
	bpf_probe_read_user(&how, sizeof(how), (void *)A2);
	a.flags = how.flags;
	a.mode = (__u32)how.mode;
	return vg_file_emit(&a, regs, ret);
}

#endif
