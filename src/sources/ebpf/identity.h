/* Identity change records (identity.bpf.h → identity.c). */
#ifndef VIGIL_EBPF_IDENTITY_H
#define VIGIL_EBPF_IDENTITY_H

#include "sources/ebpf/process.h"

#define VG_REC_IDENTITY 17
#define VG_TYPE_IDENTITY (1u << 5)

enum vg_ident_op {
	VG_IOP_SETUID = 1,
	VG_IOP_SETGID,
	VG_IOP_SETREUID,
	VG_IOP_SETREGID,
	VG_IOP_SETRESUID,
	VG_IOP_SETRESGID,
	VG_IOP_SETFSUID,
	VG_IOP_SETFSGID,
	VG_IOP_CAPSET,
	VG_IOP_MAX,
};

struct vg_ident {
	struct vg_rec_hdr hdr;
	__u16 op;		/* enum vg_ident_op */
	__u16 pad;
	__s32 ret;		/* 0 or -errno; setfs*: the previous fs id */
	__u32 req[3];		/* the ids asked for, as passed ((u32)-1: keep) */
	__u32 uid, euid, suid, fsuid;	/* credentials after the call */
	__u32 gid, egid, sgid, fsgid;
	__u32 pad2;
	__u64 cap_effective, cap_permitted, cap_inheritable;
};
_Static_assert(sizeof(struct vg_ident) == 104, "vg_ident layout");

#endif
