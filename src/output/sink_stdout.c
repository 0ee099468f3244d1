/* The stdout sink: lines queue in a capped buffer and go out in as few
 * write(2)s as possible. It never blocks the event loop while running: a
 * slow reader leaves lines queued, a full queue drops new lines (counted).
 * Only close() waits, briefly, so lines queued at shutdown are not lost. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output/sink.h"

#define STDOUT_BUF_INIT (64u << 10)
/* Room for many serialized events while a reader catches up; a line larger
 * than this is dropped rather than split. */
#define STDOUT_BUF_CAP (4u << 20)
/* Start writing once this much is queued, without waiting for flush. */
#define STDOUT_FLUSH_AT (64u << 10)
#define STDOUT_CLOSE_WAIT_MS 1000

struct stdout_priv {
	int fd;
	char *buf;
	size_t alloc;
	size_t off, len;	/* queued bytes are buf[off, len) */
	uint64_t lines;		/* lines queued, including one partly written */
	bool broken;		/* the reader went away (EPIPE): every line is lost */
};

/* write(2) that cannot raise SIGPIPE, without touching the process-wide
 * disposition (the daemon owns that): block SIGPIPE in this thread, and if
 * the write raised it, consume it before unblocking. */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n)
{
	static const struct timespec zero;
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t ret;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
		return write(fd, p, n);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	ret = write(fd, p, n);
	saved = errno;
	if (ret < 0 && saved == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return ret;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	const char *end = p + n;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

static void drop_queued(struct sink *s, struct stdout_priv *p)
{
	s->errors += p->lines;
	p->lines = 0;
	p->off = p->len = 0;
}

static int stdout_flush(struct sink *s)
{
	struct stdout_priv *p = s->priv;
	ssize_t n;

	if (!p)
		return -EBADF;
	while (p->off < p->len) {
		n = write_nosigpipe(p->fd, p->buf + p->off, p->len - p->off);
		if (n > 0) {
			uint64_t done = count_lines(p->buf + p->off, (size_t)n);

			s->written += done;
			p->lines -= done;
			p->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0 && errno == EPIPE)
			p->broken = true;
		n = n < 0 ? -errno : -EIO;
		drop_queued(s, p);
		return (int)n;
	}
	p->off = p->len = 0;
	return 0;
}

/* Makes room for n more bytes at the end, within STDOUT_BUF_CAP. */
static int reserve(struct stdout_priv *p, size_t n)
{
	size_t need, nalloc;
	char *nbuf;

	if (p->off && p->len + n > p->alloc) {
		memmove(p->buf, p->buf + p->off, p->len - p->off);
		p->len -= p->off;
		p->off = 0;
	}
	if (n > STDOUT_BUF_CAP - p->len)
		return -ENOBUFS;
	need = p->len + n;
	if (need <= p->alloc)
		return 0;
	nalloc = p->alloc;
	while (nalloc < need)
		nalloc *= 2;
	if (nalloc > STDOUT_BUF_CAP)
		nalloc = STDOUT_BUF_CAP;
	nbuf = realloc(p->buf, nalloc);
	if (!nbuf)
		return -ENOMEM;
	p->buf = nbuf;
	p->alloc = nalloc;
	return 0;
}

static int stdout_write(struct sink *s, const char *line, size_t len)
{
	struct stdout_priv *p = s->priv;
	int err;

	if (!p)
		return -EBADF;
	if (len == 0 || line[len - 1] != '\n') {
		s->errors++;
		return -EINVAL;
	}
	if (p->broken) {
		s->errors++;
		return -EPIPE;
	}
	err = reserve(p, len);
	if (err == -ENOBUFS) {
		/* Full: give the reader one more chance, then drop this line. */
		stdout_flush(s);
		err = p->broken ? -EPIPE : reserve(p, len);
	}
	if (err) {
		s->errors++;
		return err;
	}
	memcpy(p->buf + p->len, line, len);
	p->len += len;
	p->lines++;
	if (p->len - p->off >= STDOUT_FLUSH_AT)
		stdout_flush(s);
	return 0;
}

static void stdout_close(struct sink *s)
{
	struct stdout_priv *p = s->priv;
	struct timespec start, now;
	struct pollfd pfd;
	long left;

	if (!p)
		return;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (stdout_flush(s) == -EAGAIN) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = STDOUT_CLOSE_WAIT_MS - ((now.tv_sec - start.tv_sec) * 1000 +
					       (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		pfd.fd = p->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
	drop_queued(s, p);
	free(p->buf);
	free(p);
	s->priv = NULL;
}

static const struct sink_ops stdout_ops = {
	.name = "stdout",
	.write = stdout_write,
	.flush = stdout_flush,
	.close = stdout_close,
};

int sink_stdout__open(struct sink *s, char *err, size_t errlen)
{
	struct stdout_priv *p;

	memset(s, 0, sizeof(*s));
	if (fcntl(STDOUT_FILENO, F_GETFL) < 0) {
		snprintf(err, errlen, "stdout sink: standard output is not open: %s",
			 strerror(errno));
		return -EBADF;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->buf = malloc(STDOUT_BUF_INIT))) {
		free(p);
		snprintf(err, errlen, "stdout sink: out of memory");
		return -ENOMEM;
	}
	p->fd = STDOUT_FILENO;
	p->alloc = STDOUT_BUF_INIT;
	s->ops = &stdout_ops;
	s->priv = p;
	return 0;
}
