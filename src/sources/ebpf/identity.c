/* Translates identity records (identity.h) into pipeline identity changes. */
#include <errno.h>
#include <string.h>

#include "agent/pipeline.h"
#include "model/proc.h"
#include "sources/ebpf/identity.h"
#include "sources/ebpf/identity_rec.h"

static const struct {
	const char *name;
	enum identity_kind kind;
	unsigned nreq;
} ops[VG_IOP_MAX] = {
	[VG_IOP_SETUID] = { "setuid", IDENTITY_USER, 1 },
	[VG_IOP_SETGID] = { "setgid", IDENTITY_GROUP, 1 },
	[VG_IOP_SETREUID] = { "setreuid", IDENTITY_USER, 2 },
	[VG_IOP_SETREGID] = { "setregid", IDENTITY_GROUP, 2 },
	[VG_IOP_SETRESUID] = { "setresuid", IDENTITY_USER, 3 },
	[VG_IOP_SETRESGID] = { "setresgid", IDENTITY_GROUP, 3 },
	[VG_IOP_SETFSUID] = { "setfsuid", IDENTITY_USER, 1 },
	[VG_IOP_SETFSGID] = { "setfsgid", IDENTITY_GROUP, 1 },
	[VG_IOP_CAPSET] = { "capset", IDENTITY_CAPABILITIES, 0 },
};

int identity_rec__handle(struct pipeline *pl, const void *data, size_t size)
{
	const struct vg_ident *r = data;
	struct identity_op op = { 0 };

	if (size != sizeof(*r) || r->op == 0 || r->op >= VG_IOP_MAX)
		return -EBADMSG;
	op.kind = ops[r->op].kind;
	op.syscall = ops[r->op].name;
	op.nrequested = ops[r->op].nreq;
	memcpy(op.requested, r->req, sizeof(op.requested));
	/* setfs*id return the previous fs id, not an error */
	op.ret = (r->op == VG_IOP_SETFSUID || r->op == VG_IOP_SETFSGID) ? 0 : r->ret;
	op.from.real = op.from.effective = op.from.saved = op.from.fs = PROC_ID_UNSET;
	if (op.kind == IDENTITY_GROUP) {
		op.to = (struct identity_ids){ r->gid, r->egid, r->sgid, r->fsgid };
		if (r->op == VG_IOP_SETFSGID)
			op.from.fs = (uint32_t)r->ret;
	} else {
		op.to = (struct identity_ids){ r->uid, r->euid, r->suid, r->fsuid };
		if (r->op == VG_IOP_SETFSUID)
			op.from.fs = (uint32_t)r->ret;
	}
	op.cap_effective = r->cap_effective;
	op.cap_permitted = r->cap_permitted;
	op.cap_inheritable = r->cap_inheritable;
	pipeline__on_identity(pl, r->hdr.pid, r->hdr.tid, &op, r->hdr.time_boot_ns);
	return 0;
}
