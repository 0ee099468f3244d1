/* The rotating file sink. Rotation is decided per line, before the line is
 * written, from the bytes already in the file plus those queued, so a line
 * is never split across two files and no file outgrows the threshold unless
 * a single line does. All names are resolved against a directory fd opened
 * once, so a later chdir or a renamed parent path cannot redirect writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/sink.h"

/* Lines are batched into one write(2); a bigger line is written on its own. */
#define FILE_BUF_BYTES (64u << 10)

struct file_priv {
	int dirfd;
	int fd;			/* -1 after a failed reopen; retried on the next line */
	uint64_t threshold;
	uint32_t max_files;
	uint64_t size;		/* bytes in the current file */
	char *buf;		/* FILE_BUF_BYTES, lines not yet written */
	size_t len;
	uint64_t lines;		/* lines in buf */
	uint32_t highest;	/* highest rotated index that may exist */
};

static void rotated_name(char *out, size_t len, uint32_t i)
{
	snprintf(out, len, "%s.%u", SINK_FILE_NAME, i);
}

/* Writes all of [p, p+n) at the end of the file. On failure the file is cut
 * back to where it was, so a partial write never leaves half a line. */
static int write_all(struct file_priv *f, const char *p, size_t n)
{
	size_t done = 0;
	ssize_t w;
	int err;

	while (done < n) {
		w = write(f->fd, p + done, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		err = w < 0 ? -errno : -EIO;
		if (done && ftruncate(f->fd, (off_t)f->size) < 0)
			f->size += done;	/* the torn bytes stay; account them */
		return err;
	}
	f->size += n;
	return 0;
}

static int flush_buf(struct sink *s, struct file_priv *f)
{
	int err;

	if (!f->len)
		return 0;
	if (f->fd < 0) {
		err = -EBADF;
	} else {
		err = write_all(f, f->buf, f->len);
	}
	if (err)
		s->errors += f->lines;
	else
		s->written += f->lines;
	f->len = 0;
	f->lines = 0;
	return err;
}

/* Opens (or creates) the current file for appending and accounts its size.
 * A file cut mid-line by a crash gets a newline first, so the next line
 * starts clean; the torn line stays as it is. */
static int open_current(struct file_priv *f)
{
	struct stat st;
	char last;
	int fd, err;

	fd = openat(f->dirfd, SINK_FILE_NAME,
		    O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto fail;
	}
	/* Events are sensitive; an existing file keeps no wider mode. */
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		err = -errno;
		goto fail;
	}
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	if (f->size && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
		err = write_all(f, "\n", 1);
		if (err) {
			f->fd = -1;
			goto fail;
		}
	}
	return 0;
fail:
	close(fd);
	return err;
}

/* vigil-events.json -> .1 -> .2 ... ; the file that would become
 * .max_files+1 is deleted. Any failure leaves the current file open (or
 * reopened) for appending, so a failed rotation loses no line. */
static int rotate(struct file_priv *f)
{
	char from[64], to[64];
	int err = 0, err2;

	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	rotated_name(to, sizeof(to), f->max_files);
	if (unlinkat(f->dirfd, to, 0) < 0 && errno != ENOENT) {
		err = -errno;
		goto reopen;
	}
	/* Only indexes that can exist are shifted: a rotation costs what is on
	 * disk, not max_files renames. */
	for (uint32_t i = f->highest < f->max_files ? f->highest : f->max_files - 1; i >= 1; i--) {
		rotated_name(from, sizeof(from), i);
		rotated_name(to, sizeof(to), i + 1);
		if (renameat(f->dirfd, from, f->dirfd, to) < 0 && errno != ENOENT) {
			err = -errno;
			goto reopen;
		}
	}
	rotated_name(to, sizeof(to), 1);
	if (renameat(f->dirfd, SINK_FILE_NAME, f->dirfd, to) < 0 && errno != ENOENT)
		err = -errno;
	else if (f->highest < f->max_files)
		f->highest++;
reopen:
	err2 = open_current(f);
	return err ? err : err2;
}

static int file_write(struct sink *s, const char *line, size_t len)
{
	struct file_priv *f = s->priv;
	int err;

	if (!f)
		return -EBADF;
	if (len == 0 || line[len - 1] != '\n') {
		s->errors++;
		return -EINVAL;
	}
	if (f->size + f->len > 0 && f->size + f->len + len > f->threshold) {
		flush_buf(s, f);
		/* A failed rotation is counted; the line still goes to the
		 * current file, which then runs over the threshold. */
		if (rotate(f))
			s->errors++;
	}
	if (f->fd < 0 && (err = open_current(f)) < 0) {
		s->errors++;
		return err;
	}
	if (len > FILE_BUF_BYTES) {
		flush_buf(s, f);
		err = write_all(f, line, len);
		if (err) {
			s->errors++;
			return err;
		}
		s->written++;
		return 0;
	}
	if (f->len + len > FILE_BUF_BYTES)
		flush_buf(s, f);
	memcpy(f->buf + f->len, line, len);
	f->len += len;
	f->lines++;
	return 0;
}

static int file_flush(struct sink *s)
{
	struct file_priv *f = s->priv;

	if (!f)
		return -EBADF;
	return flush_buf(s, f);
}

static void file_close(struct sink *s)
{
	struct file_priv *f = s->priv;

	if (!f)
		return;
	flush_buf(s, f);
	if (f->fd >= 0)
		close(f->fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->buf);
	free(f);
	s->priv = NULL;
}

static const struct sink_ops file_ops = {
	.name = "file",
	.write = file_write,
	.flush = file_flush,
	.close = file_close,
};

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Deletes rotated files numbered above max_files, left by a run with a
 * larger max_files, so the limit holds from the start. */
static uint32_t prune(int dirfd, uint32_t max_files)
{
	uint32_t highest = 0;
	size_t base = strlen(SINK_FILE_NAME);
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return max_files;	/* unknown: shift them all */
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return max_files;
	}
	while ((de = readdir(d)) != NULL) {
		const char *num = de->d_name + base + 1;
		char *end;
		unsigned long n;

		if (strncmp(de->d_name, SINK_FILE_NAME, base) != 0 || de->d_name[base] != '.' ||
		    *num < '1' || *num > '9')
			continue;
		errno = 0;
		n = strtoul(num, &end, 10);
		if (*end || errno)
			continue;
		if (n <= max_files) {
			if (n > highest)
				highest = (uint32_t)n;
			continue;
		}
		unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
	return highest;
}

int sink_file__open(struct sink *s, const char *folder, uint64_t threshold_bytes,
		    uint32_t max_files, char *err, size_t errlen)
{
	struct file_priv *f = NULL;
	int ret;

	memset(s, 0, sizeof(*s));
	if (!folder || !folder[0]) {
		snprintf(err, errlen, "file sink: no log folder given");
		return -EINVAL;
	}
	if (threshold_bytes == 0 || max_files == 0 || max_files > SINK_FILE_MAX_FILES) {
		snprintf(err, errlen,
			 "file sink: threshold must be at least 1 byte and max files 1..%u, "
			 "got %llu and %u",
			 SINK_FILE_MAX_FILES, (unsigned long long)threshold_bytes, max_files);
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->buf = malloc(FILE_BUF_BYTES))) {
		snprintf(err, errlen, "file sink: out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	f->dirfd = -1;
	f->fd = -1;
	f->threshold = threshold_bytes;
	f->max_files = max_files;
	ret = mkdir_p(folder);
	if (ret) {
		snprintf(err, errlen, "file sink: cannot create log folder %s: %s", folder,
			 strerror(-ret));
		goto fail;
	}
	f->dirfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "file sink: cannot open log folder %s: %s", folder,
			 strerror(errno));
		goto fail;
	}
	f->highest = prune(f->dirfd, max_files);
	ret = open_current(f);
	if (ret) {
		snprintf(err, errlen, "file sink: cannot open %s/%s for appending: %s", folder,
			 SINK_FILE_NAME,
			 ret == -EINVAL	  ? "not a regular file"
			 : ret == -ELOOP ? "it is a symbolic link"
					  : strerror(-ret));
		goto fail;
	}
	s->ops = &file_ops;
	s->priv = f;
	return 0;
fail:
	if (f) {
		if (f->dirfd >= 0)
			close(f->dirfd);
		free(f->buf);
		free(f);
	}
	return ret;
}
