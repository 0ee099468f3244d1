/* Memory records (memory.bpf.h → memory.c): executable mappings, which are
 * also how shared libraries arrive, exec permission changes, memfd files. */
#ifndef VIGIL_EBPF_MEMORY_H
#define VIGIL_EBPF_MEMORY_H

#include "sources/ebpf/process.h"

#define VG_REC_MEM 20
#define VG_TYPE_MEMORY (1u << 8)

enum vg_mem_op {
	VG_MOP_MMAP_EXEC = 1,	/* mmap with PROT_EXEC: anonymous or a file */
	VG_MOP_MPROTECT_EXEC,	/* mprotect adding PROT_EXEC */
	VG_MOP_MEMFD,		/* memfd_create */
	VG_MOP_MPROTECT_NOEXEC,	/* mprotect removing exec from a region we saw get it */
	VG_MOP_MAX,
};

#define VG_MF_ANON (1u << 0)		/* no file behind the mapping */
#define VG_MF_PATH_TRUNC (1u << 1)
#define VG_MF_WRITABLE (1u << 2)	/* the mapping is also writable (W+X) */

struct vg_mem {
	struct vg_rec_hdr hdr;
	__u16 op;		/* enum vg_mem_op */
	__u16 path_len;		/* file path (mmap/mprotect) or memfd name, with NUL */
	__s32 fd;		/* mmap's fd, memfd's new fd */
	__s64 ret;		/* address, 0, fd, or -errno */
	__u64 addr, len;
	__u32 prot, mflags;	/* PROT_*, MAP_* / MFD_* */
	__u64 ino;		/* the mapped file: identity and version at the call */
	__u32 dev;
	__u32 pad;
	__u64 size;
	__s64 mtime_ns, ctime_ns;
	/* then the path */
};
_Static_assert(sizeof(struct vg_mem) == 104, "vg_mem layout");

#endif
