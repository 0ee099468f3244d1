/* The seq store: monotonic across reopen, durable file content, leftover
 * temporaries removed, the end of the range, and every kind of corrupt file
 * refused with a message (never a silent restart at 1). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship/seq_store.h"
#include "unit.h"

static char dir[64], path[128], err[512];

static void write_file(const char *p, const char *text, size_t n)
{
	FILE *f = fopen(p, "w");

	if (!f || fwrite(text, 1, n, f) != n)
		perror(p);
	if (f)
		fclose(f);
}

/* The slots' first 30 bytes each, side by side in out (40 apart). */
static void read_slots(char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	memset(out, 0, cap);
	if (!f)
		return;
	if (fread(out, 1, 30, f) != 30 || fseek(f, 4096, SEEK_SET) ||
	    fread(out + 40, 1, 30, f) != 30)
		out[0] = '\0';
	fclose(f);
}

static long file_size(void)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

static void test_monotonic(void)
{
	struct seq_store *s = NULL;
	uint64_t seq = 0, prev = 0;
	char text[160];

	CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	CHECK_INT(seq_store__last(s), 0);
	CHECK(access(path, F_OK) != 0);	/* nothing written until a seq is handed out */
	for (int i = 0; i < 5; i++) {
		CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), 0);
		CHECK_INT(seq, prev + 1);
		prev = seq;
	}
	CHECK_INT(seq, 5);
	/* two slots in different 4 KiB blocks, 5 in slot 1, 4 in slot 0 */
	read_slots(text, sizeof(text));
	CHECK(strncmp(text, "00000000000000000004 ", 21) == 0);
	CHECK(strncmp(text + 40, "00000000000000000005 ", 21) == 0);
	CHECK_INT(file_size(), 4096 + 30);
	seq_store__close(s);
	seq_store__close(NULL);

	/* A write torn by a crash fails its checksum: the other slot says 4,
	 * and 5 is handed out again (it was not, if the write was torn). */
	{
		FILE *f = fopen(path, "r+");

		if (f) {
			fseek(f, 4096 + 19, SEEK_SET);
			fputc('9', f);
			fclose(f);
		}
		CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), 0);
		if (s) {
			CHECK_INT(seq_store__last(s), 4);
			CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), 0);
			CHECK_INT(seq, 5);
			seq_store__close(s);
		}
		f = fopen(path, "r+");
		if (f) {	/* both slots broken: corrupt, never a restart at 1 */
			fseek(f, 3, SEEK_SET);
			fputc('x', f);
			fseek(f, 4096 + 25, SEEK_SET);
			fputc('g', f);
			fclose(f);
		}
		CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), -EBADMSG);
		CHECK(strstr(err, "no slot passes its checksum") != NULL);
		unlink(path);
		CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), 0);
		for (int i = 0; s && i < 5; i++)
			CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), 0);
		seq_store__close(s);
	}

	/* A crash between create and rename left a temporary; open removes it. */
	snprintf(text, sizeof(text), "%s/.seq.tmp-0123456789abcdef", dir);
	write_file(text, "9\n", 2);
	CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), 0);
	CHECK(access(text, F_OK) != 0);
	if (!s)
		return;
	CHECK_INT(seq_store__last(s), 5);
	CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), 0);
	CHECK_INT(seq, 6);
	seq_store__close(s);
	CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), 0);
	CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), 0);
	CHECK_INT(seq, 7);
	seq_store__close(s);
}

static void test_end_of_range(void)
{
	struct seq_store *s = NULL;
	uint64_t seq = 0;

	write_file(path, "18446744073709551614\n", 21);
	CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), 0);
	CHECK(seq == UINT64_MAX);
	seq = 0;
	CHECK_INT(seq_store__next(s, &seq, err, sizeof(err)), -EOVERFLOW);
	CHECK(seq == 0);
	CHECK(strstr(err, "exhausted") != NULL);
	seq_store__close(s);
}

static void expect_corrupt(const char *text, size_t n, const char *why)
{
	struct seq_store *s = (struct seq_store *)1;
	char want[512];

	write_file(path, text, n);
	CHECK_INT(seq_store__open(path, &s, err, sizeof(err)), -EBADMSG);
	CHECK(s == NULL);
	snprintf(want, sizeof(want),
		 "seq store %s: corrupt (%s); refusing to restart the batch sequence at 1, "
		 "which the collector would reject as replays: restore the file with the "
		 "last seq the collector stored for this device, or re-enroll the device",
		 path, why);
	CHECK_STR(err, want);
}

static void test_corrupt(void)
{
	static const char *const bad[] = {
		"abc\n", "0\n", "12", "\n", "01\n", "1\n2\n", "-1\n", "+1\n", " 1\n", "1 \n",
		"18446744073709551616\n", "99999999999999999999\n", "1\r\n", "0x10\n",
	};
	static const char nul[] = "1\0\n";
	struct seq_store *s = NULL;
	char sub[160];

	expect_corrupt("", 0, "empty");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_corrupt(bad[i], strlen(bad[i]), "not a decimal number and a newline");
	expect_corrupt(nul, sizeof(nul) - 1, "not a decimal number and a newline");
	expect_corrupt("123456789012345678901\n", 22, "neither format's length");

	/* Not a regular readable file, or no directory: an error too, never seq 1. */
	unlink(path);
	mkdir(path, 0700);
	CHECK(seq_store__open(path, &s, err, sizeof(err)) < 0);
	CHECK(s == NULL);
	rmdir(path);
	snprintf(sub, sizeof(sub), "%s/missing/seq", dir);
	CHECK_INT(seq_store__open(sub, &s, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "cannot open its directory") != NULL);
	CHECK_INT(seq_store__open("", &s, err, sizeof(err)), -EINVAL);
	snprintf(sub, sizeof(sub), "%s/", dir);
	CHECK_INT(seq_store__open(sub, &s, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/vigil-test-seq-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/seq", dir);
	test_monotonic();
	test_end_of_range();
	test_corrupt();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return unit_report("seq_store");
}
