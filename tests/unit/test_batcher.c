/* The batcher: full at max_bytes and max_lines with the line that does not
 * fit carried into the next batch (no loss, no batch over the cap), due
 * interval_ms after its first line, refusals counted (a line bigger than a
 * batch, malformed lines, adding while full), and a long random run in which
 * every line comes out once, in order, in batches within the caps. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ship/batcher.h"
#include "unit.h"

static char err[256];

static void test_create(void)
{
	struct batcher *b = (struct batcher *)1;

	CHECK_INT(batcher__new(&b, 1, 10, 1000), -EINVAL);
	CHECK(b == NULL);
	CHECK_INT(batcher__new(&b, 100, 0, 1000), -EINVAL);
	CHECK_INT(batcher__new(&b, 100, 10, 0), -EINVAL);
	CHECK_INT(batcher__new(&b, (64u << 20) + 1, 10, 1000), -EINVAL);
	CHECK_INT(batcher__new(&b, 100, 1000001, 1000), -EINVAL);
	batcher__free(NULL);
}

static void test_bytes_and_carry(void)
{
	struct batcher *b;
	struct batcher_stats st;
	const char *p;
	size_t len;
	uint32_t count;

	CHECK_INT(batcher__new(&b, 20, 100, 1000), 0);
	CHECK(batcher__take(b, &len, &count) == NULL);
	CHECK(len == 0 && count == 0);
	CHECK(batcher__deadline(b) == UINT64_MAX);
	CHECK_INT(batcher__add(b, "aaaaaaa\n", 8, 10, err, sizeof(err)), 0);
	CHECK_INT(batcher__add(b, "bbbbbbb\n", 8, 11, err, sizeof(err)), 0);
	CHECK_INT(batcher__count(b), 2);
	CHECK(!batcher__due(b, 11));
	/* 16 + 8 > 20: full, and the line waits for the next batch. */
	CHECK_INT(batcher__add(b, "ccccccc\n", 8, 12, err, sizeof(err)), 1);
	CHECK(batcher__due(b, 12));
	CHECK_INT(batcher__add(b, "d\n", 2, 13, err, sizeof(err)), -ENOSPC);
	CHECK(strstr(err, "wait to be taken") != NULL);
	p = batcher__take(b, &len, &count);
	CHECK(p && len == 16 && count == 2 && memcmp(p, "aaaaaaa\nbbbbbbb\n", 16) == 0);
	CHECK_INT(batcher__count(b), 1);
	CHECK(!batcher__due(b, 12));
	CHECK(batcher__due(b, 12 + 1000));	/* its first line came at 12 */
	CHECK(batcher__deadline(b) == 1012);
	/* Exactly max_bytes is full too. */
	CHECK_INT(batcher__add(b, "eeeeeeeeeee\n", 12, 14, err, sizeof(err)), 1);
	p = batcher__take(b, &len, &count);
	CHECK(p && len == 20 && count == 2 && memcmp(p, "ccccccc\neeeeeeeeeee\n", 20) == 0);
	CHECK(batcher__take(b, &len, &count) == NULL);
	CHECK(!batcher__due(b, 100000));

	/* Exactly max_bytes in one line is fine; one more byte is refused. */
	CHECK_INT(batcher__add(b, "0123456789012345678\n", 20, 20, err, sizeof(err)), 1);
	CHECK_INT(batcher__add(b, "01234567890123456789\n", 21, 20, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "21-byte line") && strstr(err, "20-byte"));
	p = batcher__take(b, &len, &count);
	CHECK(p && len == 20 && count == 1);

	CHECK_INT(batcher__add(b, "", 0, 30, err, sizeof(err)), -EINVAL);
	CHECK_INT(batcher__add(b, "\n", 1, 30, err, sizeof(err)), -EINVAL);
	CHECK_INT(batcher__add(b, "abc", 3, 30, err, sizeof(err)), -EINVAL);
	CHECK_INT(batcher__add(b, "a\nb\n", 4, 30, err, sizeof(err)), -EINVAL);
	CHECK_INT(batcher__count(b), 0);
	batcher__stats(b, &st);
	CHECK_INT(st.lines, 5);
	CHECK_INT(st.batches, 3);
	CHECK_INT(st.too_big, 1);
	CHECK_INT(st.invalid, 4);
	CHECK_INT(st.busy, 1);
	batcher__free(b);
}

static void test_lines_and_interval(void)
{
	struct batcher *b;
	size_t len;
	uint32_t count;

	CHECK_INT(batcher__new(&b, 1 << 20, 3, 500), 0);
	CHECK(!batcher__due(b, 0));
	CHECK_INT(batcher__add(b, "x\n", 2, 1000, err, sizeof(err)), 0);
	CHECK(!batcher__due(b, 1499));
	CHECK(batcher__due(b, 1500));
	CHECK(batcher__deadline(b) == 1500);
	CHECK_INT(batcher__add(b, "y\n", 2, 1400, err, sizeof(err)), 0);
	CHECK(batcher__due(b, 1500));	/* measured from the first line */
	CHECK_INT(batcher__add(b, "z\n", 2, 1401, err, sizeof(err)), 1);	/* 3 lines */
	CHECK(batcher__due(b, 1401));
	CHECK(memcmp(batcher__take(b, &len, &count), "x\ny\nz\n", 6) == 0);
	CHECK(len == 6 && count == 3);
	batcher__free(b);

	/* One line per batch. */
	CHECK_INT(batcher__new(&b, 100, 1, 500), 0);
	CHECK_INT(batcher__add(b, "x\n", 2, 0, err, sizeof(err)), 1);
	CHECK_INT(batcher__add(b, "y\n", 2, 0, err, sizeof(err)), 1);	/* carried */
	CHECK_INT(batcher__add(b, "z\n", 2, 0, err, sizeof(err)), -ENOSPC);
	CHECK(memcmp(batcher__take(b, &len, &count), "x\n", 2) == 0 && count == 1);
	CHECK(batcher__due(b, 0));
	CHECK(memcmp(batcher__take(b, &len, &count), "y\n", 2) == 0 && count == 1);
	CHECK_INT(batcher__add(b, "z\n", 2, 0, err, sizeof(err)), 1);
	batcher__free(b);

	/* A carried line that fills a batch alone: the next line is carried
	 * in turn, not refused. */
	CHECK_INT(batcher__new(&b, 10, 100, 500), 0);
	CHECK_INT(batcher__add(b, "ab\n", 3, 0, err, sizeof(err)), 0);
	CHECK_INT(batcher__add(b, "123456789\n", 10, 0, err, sizeof(err)), 1);
	CHECK(batcher__take(b, &len, &count) && len == 3);
	CHECK_INT(batcher__add(b, "cd\n", 3, 0, err, sizeof(err)), 1);
	CHECK(batcher__take(b, &len, &count) && len == 10);
	CHECK(batcher__take(b, &len, &count) && len == 3);
	batcher__free(b);
}

/* Random line sizes: every accepted line comes out once, in order. */
static void test_random_run(void)
{
	const size_t max_bytes = 4096;
	struct batcher *b;
	uint32_t x = 12345, next_in = 0, next_out = 0, count;
	unsigned bad = 0;
	char line[5000];
	size_t len;

	CHECK_INT(batcher__new(&b, max_bytes, 50, 1000), 0);
	for (int i = 0; i < 20000; i++) {
		size_t n, pad;
		int rc;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pad = x % 8 == 0 ? x % 4500 : x % 300;
		n = (size_t)snprintf(line, sizeof(line), "%u:", next_in);
		memset(line + n, 'p', pad);
		n += pad;
		line[n++] = '\n';
		rc = batcher__add(b, line, n, (uint64_t)i, err, sizeof(err));
		if (rc == -E2BIG) {
			if (n <= max_bytes)
				bad++;
			continue;
		}
		if (rc < 0 || n > max_bytes) {
			bad++;
			continue;
		}
		next_in++;
		if (rc == 1 || batcher__due(b, (uint64_t)i)) {
			const char *p = batcher__take(b, &len, &count);
			const char *s = p, *end = p + len;

			if (!p || len > max_bytes || count > 50 || count == 0)
				bad++;
			for (uint32_t k = 0; p && k < count; k++) {
				const char *nl = memchr(s, '\n', (size_t)(end - s));

				if (!nl || strtoul(s, NULL, 10) != next_out++)
					bad++;
				s = nl ? nl + 1 : end;
			}
			if (s != end)
				bad++;
		}
	}
	{
		const char *p = batcher__take(b, &len, &count);

		if (p)
			next_out += count;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(next_out, next_in);
	CHECK(next_in > 15000);
	batcher__free(b);
}

int main(void)
{
	test_create();
	test_bytes_and_carry();
	test_lines_and_interval();
	test_random_run();
	return unit_report("batcher");
}
