/* One identity change (setuid family, capset): the identity block. */
#ifndef VIGIL_IDENTITY_OP_H
#define VIGIL_IDENTITY_OP_H

#include <stdbool.h>
#include <stdint.h>

enum identity_kind {
	IDENTITY_USER = 1,	/* setuid, setreuid, setresuid, setfsuid */
	IDENTITY_GROUP,		/* the gid counterparts */
	IDENTITY_CAPABILITIES,	/* capset */
};

struct identity_ids {
	uint32_t real, effective, saved, fs;	/* PROC_ID_UNSET: unknown */
};

struct identity_op {
	enum identity_kind kind;
	const char *syscall;
	int64_t ret;		/* 0 or -errno (setfs*: never fails visibly) */
	uint32_t requested[3];	/* as passed; 0xffffffff = keep */
	unsigned nrequested;
	struct identity_ids from, to;
	uint64_t cap_effective, cap_permitted, cap_inheritable;	/* capset: after */
};

#endif
