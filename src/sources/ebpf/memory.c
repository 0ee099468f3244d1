/* Translates memory records (memory.h) into pipeline memory operations. */
#include <errno.h>
#include <string.h>

#include "agent/pipeline.h"
#include "sources/ebpf/memory.h"
#include "sources/ebpf/memory_rec.h"

int memory_rec__handle(struct pipeline *pl, const void *data, size_t size)
{
	static const char *const names[VG_MOP_MAX] = {
		[VG_MOP_MMAP_EXEC] = "mmap",
		[VG_MOP_MPROTECT_EXEC] = "mprotect",
		[VG_MOP_MEMFD] = "memfd_create",
		[VG_MOP_MPROTECT_NOEXEC] = "mprotect",
	};
	const struct vg_mem *r = data;
	const char *path = (const char *)(r + 1);
	struct mem_op op = { 0 };

	if (size < sizeof(*r) || r->op == 0 || r->op >= VG_MOP_MAX ||
	    sizeof(*r) + r->path_len > size || r->path_len > VG_PATH_MAX)
		return -EBADMSG;
	if (r->path_len && !memchr(path, '\0', r->path_len))
		return -EBADMSG;
	op.kind = (enum mem_op_kind)r->op;	/* numbers match by design */
	op.syscall = names[r->op];
	op.ret = r->ret;
	op.addr = r->addr;
	op.len = r->len;
	op.prot = r->prot;
	op.flags = r->mflags;
	op.fd = r->fd;
	op.anonymous = r->hdr.flags & VG_MF_ANON;
	op.writable = r->hdr.flags & VG_MF_WRITABLE;
	op.path = r->path_len ? path : NULL;
	op.path_truncated = r->hdr.flags & VG_MF_PATH_TRUNC;
	op.dev = r->dev;
	op.ino = r->ino;
	op.size = r->size;
	op.mtime_ns = r->mtime_ns;
	op.ctime_ns = r->ctime_ns;
	pipeline__on_memory(pl, r->hdr.pid, r->hdr.tid, &op, r->hdr.time_boot_ns);
	return 0;
}
