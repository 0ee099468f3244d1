// SPDX-License-Identifier: MIT
/*
 * forkexec: the process-telemetry benchmark's workload. Forks and execs
 * "/bin/true PREFIX-<i>" N times, one after the other (each child is waited
 * for), as fast as it can, and prints the wall time of the loop.
 *
 * usage: forkexec PREFIX [PIDFILE]
 *   N comes from BENCH_EXECS (default 3000). Every argv is built before the
 *   clock starts so the timed loop is fork, execve, waitpid and nothing else.
 *   PIDFILE, when given, receives the children's pids one per line, written
 *   after the clock stops: a tracer that reports pids but not arguments
 *   (bpftrace's filename probe) is matched against it.
 *
 * stdout, one line: "wall_ns=<ns> cpu_ns=<ns> execs=<n> failed=<n>"; cpu_ns is
 * the user+system time of this process and its children over the loop, which
 * includes what in-kernel probes cost the exec path and is less disturbed by
 * other load on the machine than the wall time. Exit status 0 when
 * every child exited 0, 1 when some failed, 2 on a usage or setup error.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORKEXEC_DEFAULT_N 3000
#define FORKEXEC_MAX_N 10000000L
#define FORKEXEC_MAX_PREFIX 200
#define FORKEXEC_TRUE "/bin/true"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rusage_ns(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static long execs_from_env(void)
{
	const char *s = getenv("BENCH_EXECS");
	char *end;
	long n;

	if (!s || !*s)
		return FORKEXEC_DEFAULT_N;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n < 1 || n > FORKEXEC_MAX_N)
		return -1;
	return n;
}

int main(int argc, char **argv)
{
	extern char **environ;
	const char *prefix, *pidfile;
	size_t slot, plen;
	char *markers = NULL;
	pid_t *pids = NULL;
	long n, i, failed = 0;
	uint64_t t0, t1, c0, c1;
	int ret = 2;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: forkexec PREFIX [PIDFILE]   (N from BENCH_EXECS)\n");
		return 2;
	}
	prefix = argv[1];
	pidfile = argc == 3 ? argv[2] : NULL;
	plen = strlen(prefix);
	if (plen == 0 || plen > FORKEXEC_MAX_PREFIX) {
		fprintf(stderr, "forkexec: PREFIX must be 1..%d bytes\n", FORKEXEC_MAX_PREFIX);
		return 2;
	}
	n = execs_from_env();
	if (n < 0) {
		fprintf(stderr, "forkexec: BENCH_EXECS must be an integer in 1..%ld\n",
			FORKEXEC_MAX_N);
		return 2;
	}
	/* PREFIX, '-', up to 8 digits of i, NUL */
	slot = plen + 1 + 8 + 1;
	markers = calloc((size_t)n, slot);
	pids = calloc((size_t)n, sizeof(*pids));
	if (!markers || !pids) {
		fprintf(stderr, "forkexec: cannot allocate argv for %ld execs\n", n);
		goto out;
	}
	for (i = 0; i < n; i++)
		snprintf(markers + (size_t)i * slot, slot, "%s-%ld", prefix, i);

	c0 = rusage_ns(RUSAGE_SELF) + rusage_ns(RUSAGE_CHILDREN);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		char *cargv[] = { FORKEXEC_TRUE, markers + (size_t)i * slot, NULL };
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "forkexec: fork %ld: %s\n", i, strerror(errno));
			goto out;
		}
		if (pid == 0) {
			execve(FORKEXEC_TRUE, cargv, environ);
			_exit(127);
		}
		pids[i] = pid;
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				fprintf(stderr, "forkexec: waitpid %d: %s\n", (int)pid,
					strerror(errno));
				goto out;
			}
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	t1 = now_ns();
	c1 = rusage_ns(RUSAGE_SELF) + rusage_ns(RUSAGE_CHILDREN);

	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f) {
			fprintf(stderr, "forkexec: %s: %s\n", pidfile, strerror(errno));
			goto out;
		}
		for (i = 0; i < n; i++)
			fprintf(f, "%d\n", (int)pids[i]);
		if (fclose(f) != 0) {
			fprintf(stderr, "forkexec: %s: write failed\n", pidfile);
			goto out;
		}
	}
	printf("wall_ns=%llu cpu_ns=%llu execs=%ld failed=%ld\n", (unsigned long long)(t1 - t0),
	       (unsigned long long)(c1 - c0), n, failed);
	ret = failed ? 1 : 0;
out:
	free(markers);
	free(pids);
	return ret;
}
