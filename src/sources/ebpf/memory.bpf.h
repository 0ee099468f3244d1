/* Memory handlers, tail-called on sys_exit: executable mappings (shared
 * libraries arrive this way: ld.so maps them PROT_EXEC), exec permission
 * added by mprotect, memfd_create. Non-executable mappings return at once. */
#ifndef VIGIL_MEMORY_BPF_H
#define VIGIL_MEMORY_BPF_H

#include "sources/ebpf/memory.h"

#define VG_PROT_WRITE 0x2
#define VG_PROT_EXEC 0x4
#define VG_MAP_ANONYMOUS 0x20
#define VG_VM_WRITE 0x2

struct vg_mem_scratch {
	struct vg_mem rec;
	char path[VG_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_mem_scratch);
} mem_scratch SEC(".maps");

/* Regions that became executable (exec mmap of memory or a file, mprotect
 * adding exec), by (tgid, start address). The protection before an mprotect
 * is not visible at its exit, so exec removed is known two ways: the call
 * starts one of these regions, or it split a mapping whose neighbour on
 * either side is still executable (vg_split_from_exec). */
struct vg_exec_region {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vg_exec_region);
	__type(value, __u64);	/* length */
} exec_regions SEC(".maps");

static __always_inline struct vg_mem_scratch *vg_mem_begin(struct task_struct *task,
							    struct vg_config **cfgp, __u16 op,
							    long ret)
{
	struct vg_config *cfg = get_config();
	struct vg_mem_scratch *s;
	__u32 zero = 0;

	if (!cfg || !(cfg->types & VG_TYPE_MEMORY) || excluded_task(task))
		return NULL;
	s = bpf_map_lookup_elem(&mem_scratch, &zero);
	if (!s) {
		count(VG_CNT_NO_SCRATCH);
		return NULL;
	}
	__builtin_memset(&s->rec, 0, sizeof(s->rec));
	s->rec.hdr.type = VG_REC_MEM;
	s->rec.hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	s->rec.hdr.pid = task->tgid;
	s->rec.hdr.tid = task->pid;
	s->rec.op = op;
	s->rec.ret = ret;
	*cfgp = cfg;
	return s;
}

static __always_inline void vg_mem_file(struct vg_mem_scratch *s, struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	bool trunc = false;

	s->rec.ino = BPF_CORE_READ(ino, i_ino);
	s->rec.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	s->rec.size = BPF_CORE_READ(ino, i_size);
	vg_inode_times(ino, &s->rec.mtime_ns, &s->rec.ctime_ns);
	s->rec.path_len = vg_file_path(f, s->path, &trunc);
	if (trunc)
		s->rec.hdr.flags |= VG_MF_PATH_TRUNC;
}

static __always_inline void vg_mem_send(struct vg_config *cfg, struct vg_mem_scratch *s)
{
	__u32 n = vg_clamp(s->rec.path_len, VG_PATH_MAX - 1) & (VG_PATH_MAX - 1);

	s->rec.path_len = n;
	s->rec.hdr.size = sizeof(s->rec) + n;
	emit(cfg, s, sizeof(s->rec) + n);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_mmap, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 prot = (__u32)VG_ARG2(regs), flags = (__u32)VG_ARG3(regs);
	struct vg_mem_scratch *s;
	struct vg_config *cfg;
	struct file *f = NULL;

	if (!(prot & VG_PROT_EXEC))
		return 0;
	s = vg_mem_begin(task, &cfg, VG_MOP_MMAP_EXEC, ret);
	if (!s)
		return 0;
	s->rec.addr = ret < 0 ? VG_ARG0(regs) : (__u64)ret;
	s->rec.len = VG_ARG1(regs);
	s->rec.prot = prot;
	s->rec.mflags = flags;
	s->rec.fd = (int)VG_ARG4(regs);
	if (!(flags & VG_MAP_ANONYMOUS))
		f = vg_fd_file(task, s->rec.fd);
	if (f)
		vg_mem_file(s, f);
	else
		s->rec.hdr.flags |= VG_MF_ANON;
	if (ret >= 0) {
		struct vg_exec_region k = { .tgid = task->tgid, .addr = (__u64)ret };
		__u64 len = s->rec.len;

		bpf_map_update_elem(&exec_regions, &k, &len, BPF_ANY);
	}
	if (prot & VG_PROT_WRITE)
		s->rec.hdr.flags |= VG_MF_WRITABLE;
	vg_mem_send(cfg, s);
	return 0;
}

#define VG_VM_EXEC 0x4
#define VG_PAGE_SHIFT 12

struct vg_vma_found {
	struct file *file;
	__u64 vm_flags;
	__u64 start, end, pgoff;
};

static long vg_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vg_vma_found *v = data;

	v->file = vma->vm_file;
	v->vm_flags = vma->vm_flags;
	v->start = vma->vm_start;
	v->end = vma->vm_end;
	v->pgoff = vma->vm_pgoff;
	return 0;
}

/* a, then b, back to back in memory and in the file (or both anonymous):
 * the two halves of one mapping that an mprotect split. */
static __always_inline bool vg_vma_halves(const struct vg_vma_found *a, const struct vg_vma_found *b)
{
	return a->end == b->start && a->file == b->file &&
	       a->pgoff + ((a->end - a->start) >> VG_PAGE_SHIFT) == b->pgoff;
}

/* mprotect without exec at addr succeeded: was it carved out of an
 * executable mapping? Then a neighbour is still executable and continues it
 * (ld.so's RELRO and guard pages border mappings that were never
 * executable, or were never one mapping with them). */
static __always_inline bool vg_split_from_exec(struct task_struct *task, __u64 addr)
{
	struct vg_vma_found cur = {}, nb = {};

	if (bpf_find_vma(task, addr, vg_vma_cb, &cur, 0) || (cur.vm_flags & VG_VM_EXEC))
		return false;
	if (cur.start == addr && addr &&
	    bpf_find_vma(task, addr - 1, vg_vma_cb, &nb, 0) == 0 && (nb.vm_flags & VG_VM_EXEC) &&
	    vg_vma_halves(&nb, &cur))
		return true;
	__builtin_memset(&nb, 0, sizeof(nb));
	return bpf_find_vma(task, cur.end, vg_vma_cb, &nb, 0) == 0 &&
	       (nb.vm_flags & VG_VM_EXEC) && vg_vma_halves(&cur, &nb);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_mprotect, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 prot = (__u32)VG_ARG2(regs);
	struct vg_exec_region k = { .tgid = task->tgid, .addr = VG_ARG0(regs) };
	struct vg_vma_found v = {};
	struct vg_mem_scratch *s;
	struct vg_config *cfg;

	if (!(prot & VG_PROT_EXEC)) {
		if (ret != 0)
			return 0;
		if (bpf_map_lookup_elem(&exec_regions, &k))
			bpf_map_delete_elem(&exec_regions, &k);
		else if (!vg_split_from_exec(task, k.addr))
			return 0;
		s = vg_mem_begin(task, &cfg, VG_MOP_MPROTECT_NOEXEC, ret);
		if (!s)
			return 0;
		s->rec.addr = k.addr;
		s->rec.len = VG_ARG1(regs);
		s->rec.prot = prot;
		if (bpf_find_vma(task, s->rec.addr, vg_vma_cb, &v, 0) == 0 && v.file)
			vg_mem_file(s, v.file);
		else
			s->rec.hdr.flags |= VG_MF_ANON;
		vg_mem_send(cfg, s);
		return 0;
	}
	if (ret == 0) {
		__u64 len = VG_ARG1(regs);

		bpf_map_update_elem(&exec_regions, &k, &len, BPF_ANY);
	}
	s = vg_mem_begin(task, &cfg, VG_MOP_MPROTECT_EXEC, ret);
	if (!s)
		return 0;
	s->rec.addr = VG_ARG0(regs);
	s->rec.len = VG_ARG1(regs);
	s->rec.prot = prot;
	/* Which mapping: a file's (a loader or JIT) or anonymous memory. */
	if (bpf_find_vma(task, s->rec.addr, vg_vma_cb, &v, 0) == 0 && v.file)
		vg_mem_file(s, v.file);
	else
		s->rec.hdr.flags |= VG_MF_ANON;
	if (prot & VG_PROT_WRITE)
		s->rec.hdr.flags |= VG_MF_WRITABLE;
	vg_mem_send(cfg, s);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_memfd_create, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vg_mem_scratch *s;
	struct vg_config *cfg;
	long n;

	s = vg_mem_begin(task, &cfg, VG_MOP_MEMFD, ret);
	if (!s)
		return 0;
	s->rec.fd = (int)ret;
	s->rec.mflags = (__u32)VG_ARG1(regs);
	s->rec.hdr.flags |= VG_MF_ANON;
	n = bpf_probe_read_user_str(s->path, 256, (const char *)VG_ARG0(regs));
	s->rec.path_len = n > 0 ? (__u16)n : 0;
	vg_mem_send(cfg, s);
	return 0;
}

#endif
