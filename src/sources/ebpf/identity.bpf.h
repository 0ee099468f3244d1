/* Identity change handlers (setuid family, capset), tail-called on sys_exit
 * like the file handlers. At exit the credentials are the new ones; the old
 * ones are what user space's process table held. */
#ifndef VIGIL_IDENTITY_BPF_H
#define VIGIL_IDENTITY_BPF_H

#include "sources/ebpf/identity.h"

/* kernel_cap_t is one u64 "val" since v6.3 and two u32 "cap[]", low word
 * first, before: on a little-endian machine the same 8 bytes either way, so
 * they are read as bytes rather than through a field that one of the two
 * layouts lacks. */
_Static_assert(sizeof(kernel_cap_t) == 8, "kernel_cap_t is 64 bits in both layouts");
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vg_caps assumes the little-endian layout of kernel_cap_t before v6.3"
#endif
static __always_inline __u64 vg_caps(kernel_cap_t c)
{
	__u64 v;

	__builtin_memcpy(&v, &c, sizeof(v));
	return v;
}

static __always_inline int vg_ident_emit(__u16 op, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vg_config *cfg = get_config();
	const struct cred *cred;
	struct vg_ident r = {};

	if (!cfg || !(cfg->types & VG_TYPE_IDENTITY) || excluded_task(task))
		return 0;
	cred = task->real_cred;
	r.hdr.type = VG_REC_IDENTITY;
	r.hdr.size = sizeof(r);
	r.hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r.hdr.pid = task->tgid;
	r.hdr.tid = task->pid;
	r.op = op;
	r.ret = (__s32)ret;
	r.req[0] = (__u32)VG_ARG0(regs);
	r.req[1] = (__u32)VG_ARG1(regs);
	r.req[2] = (__u32)VG_ARG2(regs);
	r.uid = cred->uid.val;
	r.euid = cred->euid.val;
	r.suid = cred->suid.val;
	r.fsuid = cred->fsuid.val;
	r.gid = cred->gid.val;
	r.egid = cred->egid.val;
	r.sgid = cred->sgid.val;
	r.fsgid = cred->fsgid.val;
	r.cap_effective = vg_caps(cred->cap_effective);
	r.cap_permitted = vg_caps(cred->cap_permitted);
	r.cap_inheritable = vg_caps(cred->cap_inheritable);
	emit(cfg, &r, sizeof(r));
	return 0;
}

#define VG_IDENT_HANDLER(name, op)                                                     \
	SEC("tp_btf/sys_exit")                                                         \
	int BPF_PROG(vg_exit_##name, struct pt_regs *regs, long ret)                   \
	{                                                                              \
		return vg_ident_emit(op, regs, ret);                                   \
	}

VG_IDENT_HANDLER(setuid, VG_IOP_SETUID)
VG_IDENT_HANDLER(setgid, VG_IOP_SETGID)
VG_IDENT_HANDLER(setreuid, VG_IOP_SETREUID)
VG_IDENT_HANDLER(setregid, VG_IOP_SETREGID)
VG_IDENT_HANDLER(setresuid, VG_IOP_SETRESUID)
VG_IDENT_HANDLER(setresgid, VG_IOP_SETRESGID)
VG_IDENT_HANDLER(setfsuid, VG_IOP_SETFSUID)
VG_IDENT_HANDLER(setfsgid, VG_IOP_SETFSGID)
VG_IDENT_HANDLER(capset, VG_IOP_CAPSET)

#endif
