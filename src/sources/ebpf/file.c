/* Translates file records (file.h) into pipeline file operations: names
 * made absolute against the directory the kernel resolved, lexically. */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

#include "agent/pipeline.h"
#include "sources/ebpf/file.h"
#include "sources/ebpf/file_rec.h"

static const char *syscall_name(unsigned nr)
{
	switch (nr) {
#define N(x) case SYS_##x: return #x;
#ifdef SYS_open
	N(open) N(creat) N(unlink) N(rmdir) N(mkdir) N(rename) N(chmod) N(chown) N(lchown)
	N(link) N(symlink)
#endif
	N(openat) N(openat2) N(unlinkat) N(mkdirat) N(renameat) N(renameat2) N(truncate)
	N(ftruncate) N(fchmod) N(fchmodat) N(fchown) N(fchownat) N(linkat) N(symlinkat) N(close)
#undef N
	}
	return "unknown";
}

int file_rec__exclusion_keys(const char *pattern, struct vg_path_key keys[2])
{
	size_t len = strlen(pattern);

	/* fnmatch specials; a pattern with none is the path itself */
	if (len == 0 || len + 1 > VG_EXCL_PATH_LEN || strpbrk(pattern, "*?[\\"))
		return 0;
	for (int i = 0; i < 2; i++) {
		memset(&keys[i], 0, sizeof(keys[i]));
		memcpy(keys[i].data, pattern, len);
		keys[i].data[len] = i == 0 ? '\0' : '/';
		keys[i].prefixlen = (uint32_t)(len + 1) * 8;
	}
	return 2;
}

/* Appends name to the absolute directory base in out, resolving "." and ".."
 * lexically (symlinks are the kernel's business: an opened file's path comes
 * resolved). out has room for PATH_MAX-ish; returns -ENAMETOOLONG. */
int file_rec__join(const char *base, const char *name, char *out, size_t outlen)
{
	size_t len = 0;
	const char *parts[2] = { name[0] == '/' ? "" : base, name };

	if (outlen < 2)
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (int p = 0; p < 2; p++) {
		const char *s = parts[p];

		while (*s) {
			const char *e;
			size_t n;

			while (*s == '/')
				s++;
			if (!*s)
				break;
			e = strchr(s, '/');
			n = e ? (size_t)(e - s) : strlen(s);
			if (n == 1 && s[0] == '.') {
				/* nothing */
			} else if (n == 2 && s[0] == '.' && s[1] == '.') {
				while (len > 0 && out[len - 1] != '/')
					len--;
				if (len > 0)
					len--;	/* the slash */
				out[len] = '\0';
			} else {
				if (len + 1 + n + 1 > outlen)
					return -ENAMETOOLONG;
				out[len++] = '/';
				memcpy(out + len, s, n);
				len += n;
				out[len] = '\0';
			}
			s += n;
		}
	}
	if (len == 0) {
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

static const char *take(const char **d, size_t *left, uint32_t len)
{
	const char *s = *d;

	if (len == 0)
		return NULL;
	if (len > *left)
		return NULL;
	*d += len;
	*left -= len;
	/* the kernel NUL-terminates; a record that does not is cut here */
	return memchr(s, '\0', len) ? s : NULL;
}

int file_rec__handle(struct pipeline *pl, const void *data, size_t size)
{
	const struct vg_file *r = data;
	const char *d = (const char *)(r + 1);
	size_t left = size - sizeof(*r);
	const char *path, *path2, *base, *base2;
	static char abs1[2 * VG_PATH_MAX + 2], abs2[2 * VG_PATH_MAX + 2];
	struct file_op op = { 0 };

	if (size < sizeof(*r) || r->op == 0 || r->op >= VG_FOP_MAX)
		return -EBADMSG;
	if ((uint64_t)r->path_len + r->path2_len + r->base_len + r->base2_len > left)
		return -EBADMSG;
	path = take(&d, &left, r->path_len);
	path2 = take(&d, &left, r->path2_len);
	base = take(&d, &left, r->base_len);
	base2 = take(&d, &left, r->base2_len);
	if ((r->path_len && !path) || (r->path2_len && !path2) || (r->base_len && !base) ||
	    (r->base2_len && !base2))
		return -EBADMSG;

	op.kind = (enum file_op_kind)r->op;	/* the numbers match by design */
	op.syscall = syscall_name(r->syscall);
	op.ret = r->ret;
	op.flags = r->flags;
	op.uid = r->uid;
	op.gid = r->gid;
	op.dev = r->dev;
	op.ino = r->ino;
	op.created = r->hdr.flags & VG_FF_CREATED;
	op.path_truncated = r->hdr.flags & (VG_FF_PATH_TRUNC | VG_FF_PATH2_TRUNC | VG_FF_BASE_TRUNC);
	switch (op.kind) {
	case FILE_OP_OPEN:
		op.has_mode = (r->flags & 0100) || (r->flags & 020000000);	/* O_CREAT, O_TMPFILE */
		break;
	case FILE_OP_CHMOD:
	case FILE_OP_MKDIR:
		op.has_mode = true;
		break;
	case FILE_OP_TRUNCATE:
		op.has_length = true;
		break;
	default:
		break;
	}
	op.mode = r->mode;
	op.length = r->length;

	op.path = path;
	if (path && r->path_kind == VG_PATH_USER && op.kind != FILE_OP_SYMLINK && path[0] != '/' &&
	    base && file_rec__join(base, path, abs1, sizeof(abs1)) == 0)
		op.path = abs1;
	op.path2 = path2;
	if (path2 && path2[0] != '/' && base2 && file_rec__join(base2, path2, abs2, sizeof(abs2)) == 0)
		op.path2 = abs2;
	pipeline__on_file(pl, r->hdr.pid, r->hdr.tid, &op, r->hdr.time_boot_ns);
	return 0;
}
