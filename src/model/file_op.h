/* One file operation as every source reports it (the file block of a file
 * event). Strings are borrowed for the duration of the pipeline call. */
#ifndef VIGIL_FILE_OP_H
#define VIGIL_FILE_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "model/proc.h"

enum file_op_kind {
	FILE_OP_OPEN = 1,
	FILE_OP_UNLINK,
	FILE_OP_RMDIR,
	FILE_OP_RENAME,
	FILE_OP_TRUNCATE,
	FILE_OP_CHMOD,
	FILE_OP_CHOWN,
	FILE_OP_LINK,
	FILE_OP_SYMLINK,
	FILE_OP_MKDIR,
	FILE_OP_CLOSE_WRITTEN,	/* fd (in flags) opened for writing was closed */
};

struct file_op {
	enum file_op_kind kind;
	const char *syscall;	/* "openat", "renameat2", ... */
	int64_t ret;		/* fd, 0, or -errno */
	uint64_t flags;		/* open flags; renameat2/linkat/unlinkat/fchownat flags */
	bool has_mode;
	uint32_t mode;
	uint32_t uid, gid;	/* chown: new owner, 0xffffffff = unchanged */
	bool has_length;
	int64_t length;		/* truncate */
	uint32_t dev;		/* kernel encoding, 0 unknown */
	uint64_t ino;		/* 0 unknown */
	bool created;		/* open created the file */
	const char *path;	/* absolute when resolved; the target text for symlink */
	const char *path2;	/* rename/link: new name; symlink: the link's path */
	bool path_truncated;
	/* content change: the file's hashes after the close (pipeline) */
	const struct proc_hashes *hash;
};

#endif
