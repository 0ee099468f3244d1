#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ship/durable.h"

#define TMP_MARK ".tmp-"
#define TMP_HEX 16
/* '.' + name + ".tmp-" + 16 hex must fit NAME_MAX */
#define TMP_EXTRA (1 + sizeof(TMP_MARK) - 1 + TMP_HEX)

static int write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n) {
		w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* rename(2) that refuses to replace; link+unlink where the filesystem lacks
 * RENAME_NOREPLACE, which is just as atomic for a file nobody else knows yet. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	unlinkat(dirfd, from, 0);
	return 0;
}

int durable_write_at(int dirfd, const char *name, const char *label, const void *p, size_t n,
		     unsigned flags, char *err, size_t errlen)
{
	char tmp[NAME_MAX + 1];
	uint64_t rnd;
	int fd = -1, ret, i;
	const char *step;

	if (!label)
		label = name;
	if (!*name || strchr(name, '/') || strlen(name) + TMP_EXTRA > NAME_MAX) {
		snprintf(err, errlen, "%s: invalid file name for an atomic write", label);
		return -EINVAL;
	}
	for (i = 0; i < 8; i++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			ret = -errno;
			snprintf(err, errlen, "%s: getrandom: %s", label, strerror(errno));
			return ret;
		}
		snprintf(tmp, sizeof(tmp), ".%s" TMP_MARK "%016" PRIx64, name, rnd);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot create a temporary file: %s", label,
			 strerror(errno));
		return ret;
	}
	step = "write";
	ret = write_full(fd, p, n);
	if (!ret) {
		step = "fsync";
		ret = fsync(fd) < 0 ? -errno : 0;
	}
	if (close(fd) < 0 && !ret) {
		step = "close";
		ret = -errno;
	}
	if (ret)
		goto fail;
	step = "rename";
	if (flags & DURABLE_NOREPLACE)
		ret = rename_noreplace(dirfd, tmp, name);
	else
		ret = renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
	if (ret == -EEXIST) {
		unlinkat(dirfd, tmp, 0);
		snprintf(err, errlen, "%s: already exists", label);
		return ret;
	}
	if (ret)
		goto fail;
	/* The rename is only durable once the directory is. */
	if (!(flags & DURABLE_NO_DIRSYNC) && fsync(dirfd) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: fsync of the directory: %s", label, strerror(errno));
		return ret;
	}
	return 0;
fail:
	unlinkat(dirfd, tmp, 0);
	snprintf(err, errlen, "%s: %s: %s", label, step, strerror(-ret));
	return ret;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool durable_is_tmp_name(const char *name)
{
	size_t n = strlen(name), m = sizeof(TMP_MARK) - 1;

	if (n < TMP_EXTRA + 1 || name[0] != '.')
		return false;
	return memcmp(name + n - TMP_HEX - m, TMP_MARK, m) == 0 &&
	       is_hex(name + n - TMP_HEX, TMP_HEX);
}

int durable_remove_tmps(int dirfd, const char *for_name)
{
	struct dirent *de;
	size_t fl = for_name ? strlen(for_name) : 0;
	int fd, removed = 0;
	DIR *d;

	/* A fresh open file description: readdir must not move dirfd's offset. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!durable_is_tmp_name(de->d_name))
			continue;
		if (for_name && (strlen(de->d_name) != fl + TMP_EXTRA ||
				 memcmp(de->d_name + 1, for_name, fl) != 0))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int durable_open_parent(const char *path, int *dirfd, const char **base)
{
	const char *slash;
	char *dir;
	int fd;

	if (!path || !*path || path[strlen(path) - 1] == '/')
		return -EINVAL;
	slash = strrchr(path, '/');
	if (!slash) {
		dir = strdup(".");
		*base = path;
	} else {
		dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
		*base = slash + 1;
	}
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	*dirfd = fd;
	return 0;
}
