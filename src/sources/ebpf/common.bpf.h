/* Helpers shared by Vigil's BPF programs: bounds the verifier can follow,
 * the loss counters, and a d_path() stand-in (bpf_d_path is not allowed in
 * tracepoint programs). */
#ifndef VIGIL_COMMON_BPF_H
#define VIGIL_COMMON_BPF_H

#include "vmlinux.h"
#include "sources/ebpf/process.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Clang may fold a clamp into a form the verifier cannot follow; the empty
 * asm makes the clamped value opaque so the bound check stays in place. */
#define vg_barrier_var(v) asm volatile("" : "+r"(v))

static __always_inline __u32 vg_clamp(__u32 v, __u32 max)
{
	if (v > max)
		v = max;
	vg_barrier_var(v);
	return v;
}

/* kernfs_node.parent became __parent in v6.15 (commit 633488947ef6,
 * "kernfs: Use RCU to access kernfs_node::parent"). */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *vg_kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* inode timestamps: i_mtime/i_ctime timespec64 until v6.6, __i_mtime/__i_ctime
 * until v6.11 (commit 3aa63a569c64, "fs: switch timespec64 fields in inode to
 * discrete integers"), then i_{m,c}time_sec + _nsec. */
struct inode___pre611 {
	struct timespec64 __i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___pre66 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

#define VG_NSEC_MASK ((1u << 30) - 1)

static __always_inline void vg_inode_times(struct inode *ino, __s64 *mtime_ns, __s64 *ctime_ns)
{
	if (bpf_core_field_exists(ino->i_mtime_sec)) {
		/* Multigrain timestamps (v6.13) keep a "queried" flag in bit 31
		 * of i_ctime_nsec; nanoseconds fit in 30 bits. */
		*mtime_ns = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ll +
			    (BPF_CORE_READ(ino, i_mtime_nsec) & VG_NSEC_MASK);
		*ctime_ns = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ll +
			    (BPF_CORE_READ(ino, i_ctime_nsec) & VG_NSEC_MASK);
	} else if (bpf_core_field_exists(((struct inode___pre611 *)ino)->__i_mtime)) {
		struct inode___pre611 *i = (void *)ino;

		*mtime_ns = BPF_CORE_READ(i, __i_mtime.tv_sec) * 1000000000ll +
			    BPF_CORE_READ(i, __i_mtime.tv_nsec);
		*ctime_ns = BPF_CORE_READ(i, __i_ctime.tv_sec) * 1000000000ll +
			    BPF_CORE_READ(i, __i_ctime.tv_nsec);
	} else {
		struct inode___pre66 *i = (void *)ino;

		*mtime_ns = BPF_CORE_READ(i, i_mtime.tv_sec) * 1000000000ll +
			    BPF_CORE_READ(i, i_mtime.tv_nsec);
		*ctime_ns = BPF_CORE_READ(i, i_ctime.tv_sec) * 1000000000ll +
			    BPF_CORE_READ(i, i_ctime.tv_nsec);
	}
}

#define VG_PATH_SCRATCH (2 * VG_PATH_MAX + 256)

struct vg_path_scratch {
	char buf[VG_PATH_SCRATCH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_path_scratch);
} vg_path_scratch SEC(".maps");

struct vg_path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 off;		/* components written to scratch[off, VG_PATH_MAX) */
	bool complete;		/* reached the namespace root */
};

/* One path component per call. bpf_loop() verifies this body once instead of
 * once per unrolled iteration; a plain 64-step loop over dentries exceeds the
 * verifier's 1M-instruction budget. Returns 1 to stop. */
static long vg_path_step(__u32 i, void *ctx)
{
	struct vg_path_walk *w = ctx;
	struct vg_path_scratch *s;
	/* Locals, not w->x inside BPF_CORE_READ: the walk state is our own
	 * type and must not get CO-RE relocations. */
	struct dentry *dentry = w->dentry, *mnt_root, *parent;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct qstr name;
	__u32 zero = 0, len, off;
	bool pseudo = false;

	s = bpf_map_lookup_elem(&vg_path_scratch, &zero);
	if (!s)
		return 1;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	/* A pseudo file (memfd, anon inodes) is a disconnected dentry, its own
	 * parent but not a mount root: its name is the whole path, as d_path()
	 * prints "/memfd:name". */
	if (dentry == parent && dentry != mnt_root)
		pseudo = true;
	else if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry == mnt_root && mnt != mnt_parent) {
			/* Cross to the mount this one is mounted on. */
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = mnt_parent;
			w->vfsmnt = __builtin_preserve_access_index(&mnt_parent->mnt);
			return 0;
		}
		w->complete = true;
		return 1;
	}
	name = BPF_CORE_READ(dentry, d_name);
	len = vg_clamp(name.len, 255) & 255;
	off = w->off;
	if (off <= len + 1 || off > VG_PATH_MAX)
		return 1;
	off -= len;
	bpf_probe_read_kernel(&s->buf[off & (2 * VG_PATH_MAX - 1)], len, name.name);
	off -= 1;
	s->buf[off & (2 * VG_PATH_MAX - 1)] = '/';
	w->off = off;
	w->dentry = parent;
	if (pseudo) {
		w->complete = true;
		return 1;
	}
	return 0;
}

/* Writes the absolute path of (dentry, vfsmnt) — as seen from the root of
 * the task's mount namespace — NUL-terminated into dst (VG_PATH_MAX bytes).
 * Returns the length including the NUL, 0 on failure; sets *truncated when
 * the path had more than VG_PATH_DEPTH components or did not fit. */
static __always_inline __u32 vg_read_path(struct dentry *dentry, struct vfsmount *vfsmnt, char *dst,
					  bool *truncated)
{
	struct vg_path_walk w = {
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.off = VG_PATH_MAX,
	};
	struct vg_path_scratch *s;
	__u32 zero = 0, total, off;

	s = bpf_map_lookup_elem(&vg_path_scratch, &zero);
	if (!s || !dentry)
		return 0;
	bpf_loop(VG_PATH_DEPTH, vg_path_step, &w, 0);
	if (!w.complete)
		*truncated = true;
	off = w.off;
	if (off >= VG_PATH_MAX || off == 0) {
		/* The root itself. */
		dst[0] = '/';
		dst[1] = '\0';
		return 2;
	}
	total = vg_clamp(VG_PATH_MAX - off, VG_PATH_MAX - 1) & (VG_PATH_MAX - 1);
	bpf_probe_read_kernel(dst, total, &s->buf[off & (2 * VG_PATH_MAX - 1)]);
	dst[total & (VG_PATH_MAX - 1)] = '\0';
	return total + 1;
}

#endif
