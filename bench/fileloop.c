// SPDX-License-Identifier: MIT
/*
 * fileloop: the file-telemetry benchmark's workload. In DIR, N times: create
 * DIR/PREFIX-<i> (open O_CREAT|O_WRONLY|O_EXCL), write 16 bytes, close, rename
 * it to DIR/PREFIX-<i>.r, unlink that; as fast as it can, one after the other.
 * A watcher sees per iteration a create (openat), a rename and an unlink, each
 * naming PREFIX-<i>; write and close are the operations a watcher should not
 * have to report (the file is not a watched path).
 *
 * usage: fileloop DIR PREFIX   (N from BENCH_FILE_OPS, default 20000)
 *   DIR must exist and should be empty; paths are absolute so that every
 *   watcher reports the same names.
 *
 * stdout, one line: "wall_ns=<ns> cpu_ns=<ns> ops=<n> failed=<n> pid=<pid>";
 * cpu_ns is this process's user+system time over the loop (in-kernel probes
 * run on it). ops counts iterations. Exit status 0 when every iteration
 * succeeded, 1 when some failed, 2 on a usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FILELOOP_DEFAULT_N 20000
#define FILELOOP_MAX_N 10000000L
#define FILELOOP_MAX_PATH 3000	/* DIR + '/' + PREFIX, before the suffixes */

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

int main(int argc, char **argv)
{
	static const char payload[16] = "vigilbench-data\n";
	char path[FILELOOP_MAX_PATH + 32], renamed[FILELOOP_MAX_PATH + 32];
	long n, i, failed = 0;
	uint64_t t0, t1, c0, c1;
	int base;

	if (argc != 3) {
		fprintf(stderr, "usage: fileloop DIR PREFIX   (N from BENCH_FILE_OPS)\n");
		return 2;
	}
	if (argv[1][0] != '/' || strlen(argv[1]) + 1 + strlen(argv[2]) > FILELOOP_MAX_PATH ||
	    !argv[2][0] || strchr(argv[2], '/')) {
		fprintf(stderr, "fileloop: DIR must be absolute, PREFIX a non-empty name, "
			"together at most %d bytes\n", FILELOOP_MAX_PATH);
		return 2;
	}
	n = count_from_env("BENCH_FILE_OPS", FILELOOP_DEFAULT_N, FILELOOP_MAX_N);
	if (n < 0) {
		fprintf(stderr, "fileloop: BENCH_FILE_OPS must be an integer in 1..%ld\n",
			FILELOOP_MAX_N);
		return 2;
	}
	base = snprintf(path, sizeof(path), "%s/%s-", argv[1], argv[2]);

	c0 = self_cpu_ns();
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		int len = base + snprintf(path + base, sizeof(path) - (size_t)base, "%ld", i);
		int fd;

		memcpy(renamed, path, (size_t)len);
		memcpy(renamed + len, ".r", 3);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (failed++ == 0)
				fprintf(stderr, "fileloop: %s: %s\n", path, strerror(errno));
			continue;
		}
		if (write(fd, payload, sizeof(payload)) != (ssize_t)sizeof(payload))
			failed++;
		if (close(fd) != 0)
			failed++;
		if (rename(path, renamed) != 0) {
			if (failed++ == 0)
				fprintf(stderr, "fileloop: rename %s: %s\n", path, strerror(errno));
			unlink(path);
			continue;
		}
		if (unlink(renamed) != 0 && failed++ == 0)
			fprintf(stderr, "fileloop: unlink %s: %s\n", renamed, strerror(errno));
	}
	t1 = now_ns();
	c1 = self_cpu_ns();

	printf("wall_ns=%llu cpu_ns=%llu ops=%ld failed=%ld pid=%d\n",
	       (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0), n, failed,
	       (int)getpid());
	return failed ? 1 : 0;
}
