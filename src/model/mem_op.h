/* One memory operation: an executable mapping (anonymous, or a file: how
 * shared libraries arrive), exec permission added, a memfd created. */
#ifndef VIGIL_MEM_OP_H
#define VIGIL_MEM_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "model/proc.h"

enum mem_op_kind {
	MEM_OP_MMAP_EXEC = 1,
	MEM_OP_MPROTECT_EXEC,
	MEM_OP_MEMFD,
	MEM_OP_MPROTECT_NOEXEC,	/* exec removed from a region that had it */
};

struct mem_op {
	enum mem_op_kind kind;
	const char *syscall;
	int64_t ret;
	uint64_t addr, len;
	uint32_t prot, flags;	/* PROT_*; MAP_* or MFD_* */
	int32_t fd;
	bool anonymous;
	bool writable;		/* W and X together */
	const char *path;	/* the mapped file, or the memfd's name */
	bool path_truncated;
	uint32_t dev;		/* kernel encoding */
	uint64_t ino, size;
	int64_t mtime_ns, ctime_ns;
	uint32_t suppressed;	/* repeats not reported since the last event (pipeline) */
};

/* A shared library or other dependency a process loaded. */
struct library_op {
	const char *path;
	const char *language;	/* "native" (ELF), "java", "python" */
	uint64_t addr;		/* where it was first mapped, 0 unknown */
	uint32_t dev;
	uint64_t ino;
	struct proc_hashes hash;
	const char *package, *package_version;	/* NULL when unknown */
};

#endif
