/* File operation records, sent by the file handlers (file.bpf.h, in the
 * syscalls.bpf.c object) to their translator (file.c). Layout rules as in
 * process.h: fixed-width fields, the common header first, size asserts. */
#ifndef VIGIL_EBPF_FILE_H
#define VIGIL_EBPF_FILE_H

#include "sources/ebpf/process.h"

#define VG_REC_FILE 16

/* What the syscall did; numbers are part of the record format. */
enum vg_file_op {
	VG_FOP_OPEN = 1,	/* open, openat, openat2, creat */
	VG_FOP_UNLINK,		/* unlink, unlinkat */
	VG_FOP_RMDIR,		/* rmdir, unlinkat(AT_REMOVEDIR) */
	VG_FOP_RENAME,		/* rename, renameat, renameat2 */
	VG_FOP_TRUNCATE,	/* truncate, ftruncate */
	VG_FOP_CHMOD,		/* chmod, fchmod, fchmodat, fchmodat2 */
	VG_FOP_CHOWN,		/* chown, lchown, fchown, fchownat */
	VG_FOP_LINK,		/* link, linkat */
	VG_FOP_SYMLINK,		/* symlink, symlinkat */
	VG_FOP_MKDIR,		/* mkdir, mkdirat */
	VG_FOP_CLOSE_WRITTEN,	/* close of an fd opened for writing; flags = the fd */
	VG_FOP_MAX,
};

/* How a path in the record is to be read. */
enum vg_path_kind {
	VG_PATH_NONE = 0,
	VG_PATH_RESOLVED = 1,	/* absolute, from the kernel's dentries (an opened file) */
	VG_PATH_USER = 2,	/* as the process passed it; absolute, or relative to base */
};

/* Record flags (hdr.flags). */
#define VG_FF_PATH_TRUNC (1u << 0)
#define VG_FF_PATH2_TRUNC (1u << 1)
#define VG_FF_BASE_TRUNC (1u << 2)
#define VG_FF_CREATED (1u << 3)		/* open created the file (FMODE_CREATED) */
#define VG_FF_FAULT (1u << 4)		/* a user string could not be read */

struct vg_file {
	struct vg_rec_hdr hdr;
	__u16 op;		/* enum vg_file_op */
	__u16 syscall;		/* the syscall number (this architecture's) */
	__s32 ret;		/* return value: fd, 0 or -errno */
	__u64 flags;		/* open flags, renameat2/linkat/unlinkat flags */
	__u32 mode;		/* open/chmod/mkdir mode */
	__u32 uid, gid;		/* chown target ids ((u32)-1: unchanged) */
	__u32 dev;		/* the file's device (kernel encoding), 0 unknown */
	__u64 ino;		/* the file's inode, 0 unknown */
	__s64 length;		/* truncate length */
	__u8 path_kind, path2_kind;	/* enum vg_path_kind */
	__u16 path_len;		/* bytes incl. NUL, 0 none */
	__u16 path2_len;	/* rename/link: the new name; symlink: the link */
	__u16 base_len;		/* directory a relative USER path is relative to */
	__u16 base2_len;	/* same for path2 */
	__u16 pad[3];
	/* then: path, path2, base, base2, back to back */
};
_Static_assert(sizeof(struct vg_file) == 88, "vg_file layout");

#define VG_FILE_DATA_MAX (4 * VG_PATH_MAX)

#define VG_TYPE_FILE (1u << 4)

/* exclusions.paths in the kernel: the literal patterns (no glob characters)
 * as an LPM trie over the first VG_EXCL_PATH_LEN bytes of a path the kernel
 * resolved. A pattern P is two entries, "P\0" (the path itself) and "P/"
 * (everything below it): what fnmatch(P, path, FNM_LEADING_DIR) matches. */
#define VG_EXCL_PATH_LEN 256
#define VG_EXCL_PATTERNS 256
struct vg_path_key {
	__u32 prefixlen;	/* bits */
	char data[VG_EXCL_PATH_LEN];
};

#endif
