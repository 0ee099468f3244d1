/* Sinks: the rotating file sink (sizes, counts, names, no line split, no
 * line lost, resume after restart, hostile folders) and the stdout sink
 * (partial writes, EAGAIN, EPIPE without dying), all in a temp dir and on
 * pipes dup'ed over fd 1. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/sink.h"
#include "unit.h"

static char tmpdir[] = "/tmp/vigil-test-sink-XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_in(const char *dir, const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* Whole file as a heap string (NUL-terminated), or NULL if missing. */
static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *data;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	fstat(fd, &st);
	data = malloc((size_t)st.st_size + 1);
	n = read(fd, data, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(data);
		return NULL;
	}
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

static void spit(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		fchmod(fd, mode);
		close(fd);
	}
}

/* A recognisable JSON line of exactly len bytes (len >= 32) carrying seq. */
static size_t make_line(char *out, uint32_t seq, size_t len)
{
	int n = snprintf(out, len, "{\"seq\":%08u,\"pad\":\"", seq);

	memset(out + n, 'x', len - (size_t)n - 3);
	memcpy(out + len - 3, "\"}\n", 3);
	out[len] = '\0';
	return len;
}

/* Deterministic line lengths between 32 and 231 bytes. */
static size_t line_len(uint32_t seq)
{
	return 32 + (seq * 7919u) % 200;
}

struct scan {
	uint32_t files;		/* base + rotated files present */
	uint64_t lines;
	uint32_t first_seq, last_seq;
	bool ok;		/* every line whole, seqs consecutive oldest to newest */
	bool over;		/* a file with more than one line exceeds the threshold */
	bool early;		/* a rotated file had room for the next file's first line */
	bool beyond;		/* a rotated file numbered above max_files exists */
};

/* Reads the files oldest first (.max_files ... .1, base) and checks them. */
static struct scan scan_dir(const char *dir, uint64_t threshold, uint32_t max_files)
{
	struct scan sc = { .ok = true };
	uint64_t prev_size = 0;
	bool have_prev = false, have_seq = false;
	char name[64];

	for (uint32_t k = max_files + 5; k >= max_files + 1; k--) {
		snprintf(name, sizeof(name), SINK_FILE_NAME ".%u", k);
		if (access(path_in(dir, name), F_OK) == 0)
			sc.beyond = true;
	}
	for (int k = (int)max_files; k >= 0; k--) {
		size_t len = 0, nlines = 0;
		char *data, *p, *nl;

		if (k)
			snprintf(name, sizeof(name), SINK_FILE_NAME ".%d", k);
		else
			snprintf(name, sizeof(name), SINK_FILE_NAME);
		data = slurp(path_in(dir, name), &len);
		if (!data)
			continue;
		sc.files++;
		if (len && data[len - 1] != '\n')
			sc.ok = false;
		for (p = data; p < data + len; p = nl + 1) {
			unsigned seq;

			nl = memchr(p, '\n', (size_t)(data + len - p));
			if (!nl)
				break;
			if (sscanf(p, "{\"seq\":%8u,", &seq) != 1 || nl[-1] != '}' ||
			    (size_t)(nl - p + 1) != line_len(seq)) {
				sc.ok = false;
				continue;
			}
			if (have_prev && nlines == 0 && prev_size + line_len(seq) <= threshold)
				sc.early = true;
			if (have_seq && seq != sc.last_seq + 1)
				sc.ok = false;
			if (!have_seq)
				sc.first_seq = seq;
			have_seq = true;
			sc.last_seq = seq;
			nlines++;
		}
		if (nlines > 1 && len > threshold)
			sc.over = true;
		sc.lines += nlines;
		prev_size = len;
		have_prev = true;
		free(data);
	}
	return sc;
}

static void write_lines(struct sink *s, uint32_t from, uint32_t to)
{
	char line[512];

	for (uint32_t seq = from; seq < to; seq++) {
		size_t n = make_line(line, seq, line_len(seq));

		CHECK_INT(sink__write(s, line, n), 0);
		if (seq % 13 == 0)
			CHECK_INT(sink__flush(s), 0);
	}
}

static void test_rotation_keep_all(void)
{
	char dir[256], err[256];
	struct sink s;
	struct scan sc;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/all/nested/deep", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 1000, 1000, err, sizeof(err)), 0);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(path_in(dir, SINK_FILE_NAME), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_STR(s.ops->name, "file");
	write_lines(&s, 0, 500);
	sink__close(&s);
	CHECK_INT(s.written, 500);
	CHECK_INT(s.errors, 0);

	sc = scan_dir(dir, 1000, 1000);
	CHECK(sc.ok);
	CHECK(!sc.over);
	CHECK(!sc.early);
	CHECK_INT(sc.lines, 500);
	CHECK_INT(sc.first_seq, 0);
	CHECK_INT(sc.last_seq, 499);
	/* ~65 KiB of lines in files of at most 1000 bytes. */
	CHECK(sc.files >= 66 && sc.files < 100);
	CHECK(stat(path_in(dir, SINK_FILE_NAME ".1"), &st) == 0 && (st.st_mode & 0777) == 0600);
}

static void test_rotation_max_files(void)
{
	char dir[256], err[256];
	struct sink s;
	struct scan sc;

	snprintf(dir, sizeof(dir), "%s/three", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 1000, 3, err, sizeof(err)), 0);
	write_lines(&s, 0, 500);
	CHECK_INT(sink__flush(&s), 0);

	sc = scan_dir(dir, 1000, 3);
	CHECK(sc.ok);
	CHECK(!sc.over);
	CHECK(!sc.early);
	CHECK(!sc.beyond);
	CHECK_INT(sc.files, 4);
	CHECK_INT(sc.last_seq, 499);
	/* Only whole files were deleted: what is left ends at the last line. */
	CHECK_INT(sc.lines, 500 - sc.first_seq);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".4"), F_OK) != 0);
	sink__close(&s);
	CHECK_INT(s.written, 500);
	CHECK_INT(s.errors, 0);

	/* Restart with fewer files: the extra rotated ones go at once. */
	CHECK_INT(sink_file__open(&s, dir, 1000, 1, err, sizeof(err)), 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".1"), F_OK) == 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".2"), F_OK) != 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".3"), F_OK) != 0);
	sink__close(&s);
}

static void test_resume(void)
{
	char dir[256], err[256], line[512], *data;
	struct sink s;
	size_t len = 0;

	snprintf(dir, sizeof(dir), "%s/resume", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 1000, 5, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 6; i++)
		CHECK_INT(sink__write(&s, line, make_line(line, i, 100)), 0);
	sink__close(&s);

	/* 600 bytes on disk: 300 more fit, the 200 after that do not. */
	CHECK_INT(sink_file__open(&s, dir, 1000, 5, err, sizeof(err)), 0);
	CHECK_INT(sink__write(&s, line, make_line(line, 6, 300)), 0);
	CHECK_INT(sink__flush(&s), 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".1"), F_OK) != 0);
	CHECK_INT(sink__write(&s, line, make_line(line, 7, 200)), 0);
	CHECK_INT(sink__flush(&s), 0);
	data = slurp(path_in(dir, SINK_FILE_NAME ".1"), &len);
	CHECK_INT(len, 900);
	free(data);
	data = slurp(path_in(dir, SINK_FILE_NAME), &len);
	CHECK_INT(len, 200);
	CHECK(data && strncmp(data, "{\"seq\":00000007,", 16) == 0);
	free(data);
	sink__close(&s);
}

static void test_torn_and_mode(void)
{
	char dir[256], err[256], line[512], want[600], *data;
	struct sink s;
	struct stat st;
	size_t len = 0, n;

	snprintf(dir, sizeof(dir), "%s/torn", tmpdir);
	mkdir(dir, 0755);
	spit(path_in(dir, SINK_FILE_NAME), "{\"half\":", 0644);
	CHECK_INT(sink_file__open(&s, dir, 1 << 20, 2, err, sizeof(err)), 0);
	/* An existing folder keeps its mode; the file does not. */
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0755);
	CHECK(stat(path_in(dir, SINK_FILE_NAME), &st) == 0 && (st.st_mode & 0777) == 0600);
	n = make_line(line, 1, 64);
	CHECK_INT(sink__write(&s, line, n), 0);
	sink__close(&s);
	snprintf(want, sizeof(want), "{\"half\":\n%s", line);
	data = slurp(path_in(dir, SINK_FILE_NAME), &len);
	CHECK_STR(data, want);
	free(data);
}

static void test_big_lines(void)
{
	char dir[256], err[256], small[128], *big, *data;
	struct sink s;
	size_t len = 0, n;

	snprintf(dir, sizeof(dir), "%s/big", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 100, 5, err, sizeof(err)), 0);
	CHECK_INT(sink__write(&s, small, make_line(small, 1, 50)), 0);
	big = malloc(300 << 10);
	n = make_line(big, 2, 300);
	CHECK_INT(sink__write(&s, big, n), 0);
	CHECK_INT(sink__write(&s, small, make_line(small, 3, 50)), 0);
	sink__close(&s);
	/* A line over the threshold gets a file of its own, whole. */
	data = slurp(path_in(dir, SINK_FILE_NAME ".2"), &len);
	CHECK_INT(len, 50);
	free(data);
	data = slurp(path_in(dir, SINK_FILE_NAME ".1"), &len);
	CHECK_INT(len, 300);
	CHECK(data && strncmp(data, "{\"seq\":00000002,", 16) == 0);
	free(data);
	data = slurp(path_in(dir, SINK_FILE_NAME), &len);
	CHECK_INT(len, 50);
	free(data);
	CHECK_INT(s.written, 3);

	/* Larger than the write buffer: still one intact line. */
	snprintf(dir, sizeof(dir), "%s/huge", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 1 << 20, 5, err, sizeof(err)), 0);
	CHECK_INT(sink__write(&s, small, make_line(small, 1, 40)), 0);
	n = make_line(big, 2, (200 << 10) + 7);
	CHECK_INT(sink__write(&s, big, n), 0);
	CHECK_INT(sink__write(&s, small, make_line(small, 3, 40)), 0);
	sink__close(&s);
	data = slurp(path_in(dir, SINK_FILE_NAME), &len);
	CHECK_INT(len, 40 + n + 40);
	CHECK(data && memcmp(data + 40, big, n) == 0);
	CHECK(data && strncmp(data + 40 + n, "{\"seq\":00000003,", 16) == 0);
	free(data);
	CHECK_INT(s.written, 3);
	free(big);
}

static void test_bad_args(void)
{
	char dir[256], err[256] = "";
	struct sink s;

	snprintf(dir, sizeof(dir), "%s/args", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 0, 5, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "threshold") != NULL);
	CHECK_INT(sink_file__open(&s, dir, 100, 0, err, sizeof(err)), -EINVAL);
	CHECK_INT(sink_file__open(&s, dir, 100, 1001, err, sizeof(err)), -EINVAL);
	CHECK_INT(sink_file__open(&s, "", 100, 1, err, sizeof(err)), -EINVAL);
	CHECK(s.ops == NULL && s.priv == NULL);
	sink__close(&s);
	sink__close(NULL);

	/* The folder is a file. */
	spit(dir, "x", 0600);
	CHECK_INT(sink_file__open(&s, dir, 100, 1, err, sizeof(err)), -ENOTDIR);
	CHECK(strstr(err, "cannot open log folder") != NULL);
	/* A parent is a file. */
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/below");
	CHECK_INT(sink_file__open(&s, dir, 100, 1, err, sizeof(err)), -ENOTDIR);
	CHECK(strstr(err, "cannot create log folder") != NULL);

	/* The event file is a symlink (someone redirecting our writes). */
	snprintf(dir, sizeof(dir), "%s/link", tmpdir);
	mkdir(dir, 0700);
	CHECK(symlink("/etc/passwd", path_in(dir, SINK_FILE_NAME)) == 0);
	CHECK_INT(sink_file__open(&s, dir, 100, 1, err, sizeof(err)), -ELOOP);
	CHECK(strstr(err, "symbolic link") != NULL);

	/* The event file is a directory. */
	snprintf(dir, sizeof(dir), "%s/isdir", tmpdir);
	mkdir(dir, 0700);
	mkdir(path_in(dir, SINK_FILE_NAME), 0700);
	CHECK(sink_file__open(&s, dir, 100, 1, err, sizeof(err)) < 0);

	/* Lines must end with a newline; refused lines are counted. */
	snprintf(dir, sizeof(dir), "%s/nonl", tmpdir);
	CHECK_INT(sink_file__open(&s, dir, 100, 1, err, sizeof(err)), 0);
	CHECK_INT(sink__write(&s, "{}", 2), -EINVAL);
	CHECK_INT(sink__write(&s, "", 0), -EINVAL);
	CHECK_INT(s.errors, 2);
	sink__close(&s);
	sink__close(&s);
	CHECK_INT(s.ops->write(&s, "{}\n", 3), -EBADF);
	CHECK_INT(sink__flush(&s), -EBADF);
}

static void test_prune_and_rotate_failure(void)
{
	char dir[256], err[256], line[128], name[64], *data;
	struct sink s;
	size_t len = 0;

	snprintf(dir, sizeof(dir), "%s/prune", tmpdir);
	mkdir(dir, 0700);
	for (int k = 1; k <= 7; k++) {
		snprintf(name, sizeof(name), SINK_FILE_NAME ".%d", k);
		spit(path_in(dir, name), "{}\n", 0600);
	}
	spit(path_in(dir, SINK_FILE_NAME ".bak"), "keep\n", 0600);
	spit(path_in(dir, SINK_FILE_NAME ".05"), "keep\n", 0600);
	spit(path_in(dir, "other.json.9"), "keep\n", 0600);
	CHECK_INT(sink_file__open(&s, dir, 100, 3, err, sizeof(err)), 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".3"), F_OK) == 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".4"), F_OK) != 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".7"), F_OK) != 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".bak"), F_OK) == 0);
	CHECK(access(path_in(dir, SINK_FILE_NAME ".05"), F_OK) == 0);
	CHECK(access(path_in(dir, "other.json.9"), F_OK) == 0);
	sink__close(&s);

	/* .1 cannot be replaced (a non-empty directory): rotation fails, is
	 * counted, and the lines still land in the current file. */
	snprintf(dir, sizeof(dir), "%s/stuck", tmpdir);
	mkdir(dir, 0700);
	mkdir(path_in(dir, SINK_FILE_NAME ".1"), 0700);
	snprintf(name, sizeof(name), SINK_FILE_NAME ".1/x");
	spit(path_in(dir, name), "x", 0600);
	CHECK_INT(sink_file__open(&s, dir, 100, 1, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 3; i++)
		CHECK_INT(sink__write(&s, line, make_line(line, i, 60)), 0);
	sink__close(&s);
	CHECK_INT(s.written, 3);
	CHECK_INT(s.errors, 2);
	data = slurp(path_in(dir, SINK_FILE_NAME), &len);
	CHECK_INT(len, 180);
	free(data);
}

/* ---- stdout ---- */

static int saved_stdout = -1;

static void stdout_to_pipe(int p[2])
{
	fflush(stdout);
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
}

static void stdout_restore(void)
{
	dup2(saved_stdout, STDOUT_FILENO);
}

static size_t drain(int fd, char *out, size_t cap, size_t have)
{
	ssize_t n;

	while (have < cap && (n = read(fd, out + have, cap - have)) > 0)
		have += (size_t)n;
	return have;
}

static void test_stdout_basic(void)
{
	char err[256], got[256];
	struct sink s;
	int p[2];
	size_t have;

	stdout_to_pipe(p);
	CHECK_INT(sink_stdout__open(&s, err, sizeof(err)), 0);
	CHECK_STR(s.ops->name, "stdout");
	CHECK_INT(sink__write(&s, "{\"a\":1}\n", 8), 0);
	CHECK_INT(sink__write(&s, "{\"b\":2}\n", 8), 0);
	CHECK_INT(sink__write(&s, "{\"c\":3}", 7), -EINVAL);
	/* Buffered until flushed. */
	CHECK_INT(drain(p[0], got, sizeof(got), 0), 0);
	CHECK_INT(sink__flush(&s), 0);
	have = drain(p[0], got, sizeof(got) - 1, 0);
	got[have] = '\0';
	CHECK_STR(got, "{\"a\":1}\n{\"b\":2}\n");
	CHECK_INT(s.written, 2);
	CHECK_INT(s.errors, 1);
	/* close flushes what is queued. */
	CHECK_INT(sink__write(&s, "{\"d\":4}\n", 8), 0);
	sink__close(&s);
	have = drain(p[0], got, sizeof(got) - 1, 0);
	got[have] = '\0';
	CHECK_STR(got, "{\"d\":4}\n");
	CHECK_INT(s.written, 3);
	sink__close(&s);
	stdout_restore();
	close(p[0]);
}

/* A reader that does not keep up: nothing blocks, nothing is split, every
 * line is either delivered or counted as dropped. */
static void test_stdout_slow_reader(void)
{
	char err[256], line[1000];
	const size_t out_cap = 8u << 20;
	char *out = malloc(out_cap);
	struct sink s;
	uint64_t accepted = 0, refused = 0, lines = 0;
	size_t have = 0;
	bool bad = false;
	int p[2], rc = 0;

	stdout_to_pipe(p);
	fcntl(STDOUT_FILENO, F_SETFL, O_NONBLOCK);
	CHECK_INT(sink_stdout__open(&s, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 20000 && refused < 10; i++) {
		rc = sink__write(&s, line, make_line(line, i, sizeof(line) - 1));
		if (rc == 0)
			accepted++;
		else
			refused++;
	}
	CHECK_INT(rc, -ENOBUFS);
	CHECK_INT(refused, 10);
	CHECK(accepted > 1000);
	CHECK_INT(sink__flush(&s), -EAGAIN);
	for (int tries = 0; tries < 100000; tries++) {
		have = drain(p[0], out, out_cap, have);
		if (sink__flush(&s) == 0)
			break;
	}
	have = drain(p[0], out, out_cap, have);
	for (size_t off = 0; off < have;) {
		char *nl = memchr(out + off, '\n', have - off);
		unsigned seq;

		if (!nl || (size_t)(nl - (out + off)) != sizeof(line) - 2 ||
		    sscanf(out + off, "{\"seq\":%8u,", &seq) != 1 || seq != lines) {
			bad = true;
			break;
		}
		lines++;
		off = (size_t)(nl - out) + 1;
	}
	CHECK(!bad);
	CHECK_INT(lines, accepted);
	CHECK_INT(s.written, accepted);
	CHECK_INT(s.errors, refused);
	sink__close(&s);
	stdout_restore();
	close(p[0]);
	free(out);
}

/* The reader went away: no SIGPIPE (default disposition here, so it would
 * kill the test), lines counted as lost from then on. */
static void test_stdout_epipe(void)
{
	char err[256];
	struct sink s;
	sigset_t pending;
	int p[2];

	signal(SIGPIPE, SIG_DFL);
	stdout_to_pipe(p);
	CHECK_INT(sink_stdout__open(&s, err, sizeof(err)), 0);
	close(p[0]);
	CHECK_INT(sink__write(&s, "{\"a\":1}\n", 8), 0);
	CHECK_INT(sink__write(&s, "{\"b\":2}\n", 8), 0);
	CHECK_INT(sink__flush(&s), -EPIPE);
	CHECK_INT(s.errors, 2);
	CHECK_INT(sink__write(&s, "{\"c\":3}\n", 8), -EPIPE);
	CHECK_INT(s.errors, 3);
	CHECK_INT(s.written, 0);
	sigemptyset(&pending);
	sigpending(&pending);
	CHECK(!sigismember(&pending, SIGPIPE));
	sink__close(&s);
	stdout_restore();

	/* fd 1 closed altogether. */
	fflush(stdout);
	close(STDOUT_FILENO);
	CHECK_INT(sink_stdout__open(&s, err, sizeof(err)), -EBADF);
	CHECK(strstr(err, "standard output is not open") != NULL);
	stdout_restore();
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	saved_stdout = dup(STDOUT_FILENO);
	test_rotation_keep_all();
	test_rotation_max_files();
	test_resume();
	test_torn_and_mode();
	test_big_lines();
	test_bad_args();
	test_prune_and_rotate_failure();
	test_stdout_basic();
	test_stdout_slow_reader();
	test_stdout_epipe();
	rm_rf(tmpdir);
	return unit_report("test_sink_file");
}
