#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship/durable.h"
#include "ship/seq_store.h"

/* "18446744073709551615\n" is 21 bytes. */
#define SEQ_FILE_MAX 21

struct seq_store {
	int dirfd;
	char *path;
	const char *base;	/* points into path */
	uint64_t last;
};

/* "<1..UINT64_MAX, no leading zero>\n" exactly. */
static int parse(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n < 2 || p[n - 1] != '\n' || p[0] == '0')
		return -EBADMSG;
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int load(struct seq_store *s, char *err, size_t errlen)
{
	char text[SEQ_FILE_MAX + 1];
	size_t n = 0;
	int fd, ret = 0;

	fd = openat(s->dirfd, s->base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		s->last = 0;
		return 0;
	}
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "seq store %s: %s", s->path, strerror(errno));
		return ret;
	}
	while (n < sizeof(text)) {
		ssize_t r = read(fd, text + n, sizeof(text) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(err, errlen, "seq store %s: %s", s->path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!ret && (n > SEQ_FILE_MAX || parse(text, n, &s->last))) {
		snprintf(err, errlen,
			 "seq store %s: corrupt (%s); refusing to restart the batch sequence at 1, "
			 "which the collector would reject as replays: restore the file with the "
			 "last seq the collector stored for this device, or re-enroll the device",
			 s->path, n == 0 ? "empty" : "not a decimal number and a newline");
		ret = -EBADMSG;
	}
	return ret;
}

int seq_store__open(const char *path, struct seq_store **out, char *err, size_t errlen)
{
	struct seq_store *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		snprintf(err, errlen, "seq store: out of memory");
		return -ENOMEM;
	}
	ret = durable_open_parent(s->path, &s->dirfd, &s->base);
	if (ret) {
		snprintf(err, errlen, "seq store %s: cannot open its directory: %s", path,
			 strerror(-ret));
		s->dirfd = -1;
		goto fail;
	}
	durable_remove_tmps(s->dirfd, s->base);
	ret = load(s, err, errlen);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	seq_store__close(s);
	return ret;
}

int seq_store__next(struct seq_store *s, uint64_t *seq, char *err, size_t errlen)
{
	char text[SEQ_FILE_MAX + 1];
	int n, ret;

	if (s->last == UINT64_MAX) {
		snprintf(err, errlen, "seq store %s: the sequence is exhausted", s->path);
		return -EOVERFLOW;
	}
	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", s->last + 1);
	ret = durable_write_at(s->dirfd, s->base, s->path, text, (size_t)n, 0, err, errlen);
	if (ret)
		return ret;
	*seq = ++s->last;
	return 0;
}

uint64_t seq_store__last(const struct seq_store *s)
{
	return s->last;
}

void seq_store__close(struct seq_store *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->path);
	free(s);
}
