// SPDX-License-Identifier: MIT
/*
 * connloop: the network-telemetry benchmark's workload. A loopback TCP server
 * thread accepts, reads the client's 16 bytes to end of stream and closes;
 * the main thread, N times, one after the other: socket, connect to it, write
 * 16 bytes, close, staying at most CONNLOOP_WINDOW connections ahead of the
 * server. The clock stops when the server has closed its N-th
 * connection. A watcher sees per iteration a connect, an accept and two TCP
 * connections (client and server side) created and terminated.
 *
 * usage: connloop MARKER   (N from BENCH_CONNECT_OPS, default 5000)
 *   MARKER is not used; it is in argv so that watchers that report the
 *   command line can be matched to this run.
 *
 * stdout, one line: "wall_ns=<ns> cpu_ns=<ns> ops=<n> failed=<n> pid=<pid>
 * port=<server port>"; cpu_ns is this process's user+system time over the
 * loop, both threads. Exit status 0 when every connection went through, 1 when
 * some failed, 2 on a usage or setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNLOOP_DEFAULT_N 5000
#define CONNLOOP_MAX_N 1000000L
#define CONNLOOP_BACKLOG 1024
/* The client stays at most this many connections ahead of the server. Free
 * running, a client that got the CPU while the server did not would fill the
 * accept queue, have a SYN dropped and wait out TCP's 1 s initial
 * retransmission timeout: the loop's time would measure that luck (it
 * happened with no agent at all on a busy machine), not the cost of
 * watching connections. */
#define CONNLOOP_WINDOW 64

struct server {
	int lfd;
	long n;		/* connections to serve */
	long served;	/* accepted, read and closed */
	long failed;
	pthread_mutex_t lock;	/* guards done */
	pthread_cond_t progress;
	long done;		/* served + failed, for the client's window */
};

static void server_progress(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	s->done = s->served + s->failed;
	pthread_cond_signal(&s->progress);
	pthread_mutex_unlock(&s->lock);
}

/* Blocks while the client is CONNLOOP_WINDOW connections ahead. */
static void client_wait_window(struct server *s, long issued)
{
	pthread_mutex_lock(&s->lock);
	while (issued - s->done >= CONNLOOP_WINDOW)
		pthread_cond_wait(&s->progress, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static long count_from_env(const char *name, long def, long max)
{
	const char *s = getenv(name);
	char *end;
	long n;

	if (!s || !*s)
		return def;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n < 1 || n > max)
		return -1;
	return n;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	char buf[64];

	while (s->served + s->failed < s->n) {
		ssize_t r;
		int fd = accept(s->lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "connloop: accept: %s\n", strerror(errno));
			s->failed = s->n - s->served;
			server_progress(s);
			break;
		}
		/* to end of stream: the client's close, so the server closes second */
		do {
			r = read(fd, buf, sizeof(buf));
		} while (r > 0 || (r < 0 && errno == EINTR));
		if (r < 0)
			s->failed++;
		else
			s->served++;
		close(fd);
		server_progress(s);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char payload[16] = "vigilbench-data\n";
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	struct server s = { .lfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER,
			    .progress = PTHREAD_COND_INITIALIZER };
	long i, failed = 0;
	uint64_t t0, t1, c0, c1;
	pthread_t tid;
	int one = 1, err;

	if (argc != 2) {
		fprintf(stderr, "usage: connloop MARKER   (N from BENCH_CONNECT_OPS)\n");
		return 2;
	}
	(void)argv;
	s.n = count_from_env("BENCH_CONNECT_OPS", CONNLOOP_DEFAULT_N, CONNLOOP_MAX_N);
	if (s.n < 0) {
		fprintf(stderr, "connloop: BENCH_CONNECT_OPS must be an integer in 1..%ld\n",
			CONNLOOP_MAX_N);
		return 2;
	}
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s.lfd < 0 || setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(s.lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(s.lfd, CONNLOOP_BACKLOG) != 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&addr, &alen) != 0) {
		fprintf(stderr, "connloop: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		return 2;
	}
	err = pthread_create(&tid, NULL, serve, &s);
	if (err) {
		fprintf(stderr, "connloop: cannot start the server thread: %s\n", strerror(err));
		return 2;
	}

	c0 = self_cpu_ns();
	t0 = now_ns();
	for (i = 0; i < s.n; i++) {
		int fd;

		client_wait_window(&s, i - failed);	/* a failed connect never reaches the server */
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "connloop: socket: %s\n", strerror(errno));
			break;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			if (failed++ == 0)
				fprintf(stderr, "connloop: connect: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		if (write(fd, payload, sizeof(payload)) != (ssize_t)sizeof(payload))
			failed++;
		close(fd);
	}
	if (i < s.n || failed) {
		/* the server waits for connections that will never come */
		fprintf(stderr, "connloop: %ld of %ld connections failed\n", s.n - i + failed, s.n);
		printf("wall_ns=0 cpu_ns=0 ops=%ld failed=%ld pid=%d port=%u\n", s.n,
		       s.n - i + failed, (int)getpid(), ntohs(addr.sin_port));
		return 1;
	}
	pthread_join(tid, NULL);
	t1 = now_ns();
	c1 = self_cpu_ns();
	close(s.lfd);

	printf("wall_ns=%llu cpu_ns=%llu ops=%ld failed=%ld pid=%d port=%u\n",
	       (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0), s.n, s.failed,
	       (int)getpid(), ntohs(addr.sin_port));
	return s.failed ? 1 : 0;
}
