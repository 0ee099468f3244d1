// SPDX-License-Identifier: GPL-2.0
/* Process and thread lifecycle from the scheduler's BTF tracepoints:
 * sched_process_exec (argv, exe, cwd from the new image), sched_process_fork
 * (processes and threads) and sched_process_exit. BTF tracepoints (tp_btf)
 * need no tracefs and no kprobes, which these hosts do not offer. */
#include "sources/ebpf/common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#include "sources/ebpf/maps.bpf.h"

/* Offsets of the strings inside an exec record are masked to these powers of
 * two so the verifier can bound every write (see the layout in process.h). */
#define VG_OFF_CWD_MASK (2 * VG_PATH_MAX - 1)
#define VG_OFF_ARGS_MASK (4 * VG_PATH_MAX - 1)
#define VG_OFF_ENV_MASK (65536 - 1)
#define VG_OFF_CG_MASK (131072 - 1)
#define VG_EXEC_SCRATCH_DATA (131072 + VG_CGROUP_MAX)
#define VG_EXEC_SCRATCH_DATA_MASK (262144 - 1)

_Static_assert(2 * VG_PATH_MAX <= 4 * VG_PATH_MAX, "cwd offset mask");
_Static_assert(2 * VG_PATH_MAX + VG_ARGS_MAX <= 65536, "env offset mask");
_Static_assert(2 * VG_PATH_MAX + 2 * VG_ARGS_MAX <= 131072, "cgroup offset mask");

struct vg_exec_scratch {
	struct vg_exec rec;
	char data[VG_EXEC_SCRATCH_DATA];
};

/* An exec record is too big for a per-CPU array value (32 KiB cap): a plain
 * array with one slot per CPU, indexed by the current CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);	/* user space sets the number of CPUs */
	__type(key, __u32);
	__type(value, struct vg_exec_scratch);
} exec_scratch SEC(".maps");

/* task comes from a BTF tracepoint argument: a trusted pointer the programs
 * may dereference directly. Direct loads are plain (fault-checked) memory
 * reads; BPF_CORE_READ would be one helper call per hop, and this runs on
 * every fork and exec of the host. */
static __always_inline void fill_task(struct vg_task *t, struct task_struct *task)
{
	struct pid *tpid = task->thread_pid;
	unsigned int level = tpid->level;
	const struct cred *cred = task->real_cred;
	struct nsproxy *ns = task->nsproxy;

	t->ppid = task->real_parent->tgid;
	t->uid = cred->uid.val;
	t->gid = cred->gid.val;
	t->euid = cred->euid.val;
	t->egid = cred->egid.val;
	if (bpf_core_field_exists(task->loginuid))
		t->auid = task->loginuid.val;
	else
		t->auid = 0xffffffff;
	/* a variable index into a BTF object needs the helper */
	struct upid upid = {};

	bpf_probe_read_kernel(&upid, sizeof(upid), &tpid->numbers[level & 31]);
	t->pidns = BPF_CORE_READ(upid.ns, ns.inum);
	if (ns) {
		t->mntns = ns->mnt_ns->ns.inum;
		t->netns = ns->net_ns->ns.inum;
	}
	t->start_boot_ns = task->start_boottime;
	t->self_exec_id = task->self_exec_id;
	t->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	__builtin_memcpy(t->comm, task->comm, sizeof(t->comm));
}

/* Reads argv or envp of the new image: [start, end) of the user stack. */
static __always_inline __u32 read_strings(char *dst, __u64 start, __u64 end, __u32 max, __u16 *flags,
					  __u16 trunc_flag, bool *fault)
{
	__u64 full = end > start ? end - start : 0;
	__u32 len = full > max ? max : (__u32)full;

	if (full > max)
		*flags |= trunc_flag;
	/* The mask is what the verifier tracks; the clamp keeps it lossless. */
	len = vg_clamp(len, VG_ARGS_MAX - 1) & (VG_ARGS_MAX - 1);
	if (len == 0)
		return 0;
	if (bpf_probe_read_user(dst, len, (void *)start)) {
		*fault = true;
		return 0;
	}
	return len;
}

/* Last VG_CGROUP_DEPTH components of the task's cgroup v2 path, leaf first,
 * each NUL-terminated: enough to recognise every container runtime layout. */
static __always_inline __u32 read_cgroup(char *dst, struct task_struct *task)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	__u32 off = 0;
	int i;

	/* At the root of the v2 hierarchy on a hybrid host, runtimes that
	 * manage v1 controllers put containers in those: use the memory
	 * controller's cgroup instead (its id is an enum, relocated by CO-RE). */
	if (kn && !vg_kn_parent(kn) &&
	    bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct cgroup_subsys_state *css = BPF_CORE_READ(task, cgroups, subsys[id & 15]);
		struct kernfs_node *v1 = css ? BPF_CORE_READ(css, cgroup, kn) : NULL;

		if (v1)
			kn = v1;
	}

	for (i = 0; i < VG_CGROUP_DEPTH; i++) {
		const char *name;
		long n;

		if (!kn)
			break;
		name = BPF_CORE_READ(kn, name);
		n = bpf_probe_read_kernel_str(&dst[off & (VG_CGROUP_MAX - 1)], VG_CGROUP_MAX / VG_CGROUP_DEPTH,
					      name);
		if (n <= 0)
			break;
		off += n;
		kn = vg_kn_parent(kn);
	}
	return off;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vg_config *cfg = get_config();
	struct vg_exec_scratch *s;
	struct vg_exec *r;
	struct file *file;
	struct mm_struct *mm;
	__u32 cpu = bpf_get_smp_processor_id(), off, n;
	bool trunc = false, fault = false;
	char comm[VG_COMM_LEN] = {};

	if (!cfg || !(cfg->types & VG_TYPE_EXEC))
		return 0;
	if (excluded_pid(p->tgid))
		return 0;
	__builtin_memcpy(comm, p->comm, sizeof(comm));
	if (excluded_comm(comm)) {
		struct vg_rec_hdr h = {
			.type = VG_REC_EXEC_EXCLUDED,
			.size = sizeof(h),
			.time_boot_ns = bpf_ktime_get_boot_ns(),
			.pid = p->tgid,
			.tid = p->pid,
		};

		emit(cfg, &h, sizeof(h));
		return 0;
	}
	s = bpf_map_lookup_elem(&exec_scratch, &cpu);
	if (!s) {
		count(VG_CNT_NO_SCRATCH);
		return 0;
	}
	r = &s->rec;
	r->hdr.type = VG_REC_EXEC;
	r->hdr.flags = 0;
	r->hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r->hdr.pid = p->tgid;
	r->hdr.tid = p->pid;
	r->old_tid = old_pid;
	fill_task(&r->task, p);

	file = BPF_CORE_READ(bprm, file);
	r->exe_ino = BPF_CORE_READ(file, f_inode, i_ino);
	r->exe_dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	r->exe_size = BPF_CORE_READ(file, f_inode, i_size);
	vg_inode_times(BPF_CORE_READ(file, f_inode), &r->exe_mtime_ns, &r->exe_ctime_ns);
	n = vg_read_path(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), &s->data[0],
			 &trunc);
	if (trunc)
		r->hdr.flags |= VG_F_EXE_TRUNC;
	r->exe_len = n;
	off = n;

	trunc = false;
	n = vg_read_path(BPF_CORE_READ(p, fs, pwd.dentry), BPF_CORE_READ(p, fs, pwd.mnt),
			 &s->data[off & VG_OFF_CWD_MASK], &trunc);
	if (trunc)
		r->hdr.flags |= VG_F_CWD_TRUNC;
	r->cwd_len = n;
	off += n;

	mm = BPF_CORE_READ(p, mm);
	r->args_full_len = BPF_CORE_READ(mm, arg_end) - BPF_CORE_READ(mm, arg_start);
	n = read_strings(&s->data[off & VG_OFF_ARGS_MASK], BPF_CORE_READ(mm, arg_start),
			 BPF_CORE_READ(mm, arg_end), cfg->args_max, &r->hdr.flags, VG_F_ARGS_TRUNC, &fault);
	if (fault) {
		r->hdr.flags |= VG_F_ARGS_FAULT;
		count(VG_CNT_ARGS_FAULT);
	}
	r->args_len = n;
	off += n;

	n = 0;
	if (cfg->env_max) {
		fault = false;
		n = read_strings(&s->data[off & VG_OFF_ENV_MASK], BPF_CORE_READ(mm, env_start),
				 BPF_CORE_READ(mm, env_end), cfg->env_max, &r->hdr.flags, VG_F_ENV_TRUNC,
				 &fault);
	}
	r->env_len = n;
	off += n;

	n = read_cgroup(&s->data[off & VG_OFF_CG_MASK], p);
	r->cgroup_len = n;
	off += n;

	off = vg_clamp(off, VG_EXEC_SCRATCH_DATA - 1) & (VG_EXEC_SCRATCH_DATA_MASK);
	r->hdr.size = sizeof(*r) + off;
	emit(cfg, s, sizeof(*r) + off);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vg_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vg_config *cfg = get_config();
	struct vg_fork r = {};
	bool thread = child->pid != child->tgid;

	if (!cfg || !(cfg->types & (thread ? VG_TYPE_THREAD : VG_TYPE_FORK)))
		return 0;
	if (excluded_pid(child->tgid))
		return 0;
	fill_task(&r.task, child);
	if (thread && excluded_comm(r.task.comm))
		return 0;
	r.hdr.type = VG_REC_FORK;
	r.hdr.flags = thread ? VG_F_THREAD : 0;
	r.hdr.size = sizeof(r);
	r.hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r.hdr.pid = child->tgid;
	r.hdr.tid = child->pid;
	emit(cfg, &r, sizeof(r));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vg_process_exit, struct task_struct *p)
{
	struct vg_config *cfg = get_config();
	struct vg_exit r = {};
	char comm[VG_COMM_LEN] = {};
	bool group_dead;

	if (!cfg)
		return 0;
	/* signal->live reaches 0 in do_exit() before this tracepoint for the
	 * group's last thread (the tracepoint's own group_dead argument only
	 * exists since v6.16). */
	group_dead = p->signal->live.counter == 0;
	if (group_dead ? !(cfg->types & VG_TYPE_EXIT) : !(cfg->types & VG_TYPE_THREAD))
		return 0;
	if (excluded_pid(p->tgid))
		return 0;
	__builtin_memcpy(comm, p->comm, sizeof(comm));
	if (!group_dead && excluded_comm(comm))
		return 0;
	r.hdr.type = VG_REC_EXIT;
	r.hdr.flags = group_dead ? VG_F_GROUP_DEAD : 0;
	r.hdr.size = sizeof(r);
	r.hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r.hdr.pid = p->tgid;
	r.hdr.tid = p->pid;
	r.exit_code = p->exit_code;
	emit(cfg, &r, sizeof(r));
	return 0;
}
