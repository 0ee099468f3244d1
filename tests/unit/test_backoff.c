/* Capped exponential backoff with full jitter, driven by an injected random
 * sequence so every delay is known: the ceiling doubles from base to the
 * cap and stays, nothing exceeds it, reset starts over, no overflow after
 * thousands of failures; the default generator covers the window. */
#include <stddef.h>
#include <stdint.h>

#include "ship/backoff.h"
#include "unit.h"

/* Replays a fixed sequence of "random" values. */
struct seq_rand {
	const uint64_t *v;
	size_t n, i;
};

static uint64_t next_rand(void *arg)
{
	struct seq_rand *s = arg;

	return s->v[s->i++ % s->n];
}

static void test_backoff(void)
{
	const uint64_t zeros[] = { 0 };
	struct seq_rand sr;
	struct backoff b;
	uint32_t d;
	int i;

	/* Random 0 gives 0, every time. */
	sr = (struct seq_rand){ zeros, 1, 0 };
	backoff__init(&b, 100, 1000, next_rand, &sr);
	for (i = 0; i < 5; i++)
		CHECK_INT(backoff__next(&b), 0);

	/* The ceiling doubles to the cap and stays there: value = rand % (c+1),
	 * so rand = c gives exactly c. */
	{
		uint64_t v[12];
		uint32_t c = 100;

		for (i = 0; i < 12; i++) {
			v[i] = c;
			c = c * 2 > 1000 ? 1000 : c * 2;
		}
		sr = (struct seq_rand){ v, 12, 0 };
		backoff__init(&b, 100, 1000, next_rand, &sr);
		for (i = 0; i < 12; i++)
			CHECK_INT(backoff__next(&b), v[i]);	/* ceiling >= v[i] */
		for (i = 0; i < 12; i++)
			v[i]++;
		sr = (struct seq_rand){ v, 12, 0 };
		backoff__init(&b, 100, 1000, next_rand, &sr);
		for (i = 0; i < 12; i++)
			CHECK_INT(backoff__next(&b), 0);	/* so ceiling == v[i] - 1 */
		/* One past the ceiling wraps to 0: nothing above the ceiling. */
		v[0] = 1001;
		sr = (struct seq_rand){ v, 1, 0 };
		CHECK_INT(backoff__next(&b), 0);
		/* After a success it starts over at base. */
		backoff__reset(&b);
		v[0] = 100;
		CHECK_INT(backoff__next(&b), 100);
		v[0] = 101;
		CHECK_INT(backoff__next(&b), 101);	/* ceiling 200 now */
	}
	/* Thousands of failures: no overflow, the cap holds. */
	backoff__init(&b, 1, UINT32_MAX, NULL, NULL);
	for (i = 0; i < 5000; i++)
		backoff__next(&b);
	CHECK(b.attempt <= 32);
	/* The default generator spreads values over the window. */
	{
		uint32_t lo = UINT32_MAX, hi = 0;

		backoff__init(&b, 1000, 1000, NULL, NULL);
		for (i = 0; i < 2000; i++) {
			d = backoff__next(&b);
			CHECK(d <= 1000);
			if (d < lo)
				lo = d;
			if (d > hi)
				hi = d;
		}
		CHECK(lo < 50 && hi > 950);
	}
	/* base 0 and cap below base are fixed up. */
	backoff__init(&b, 0, 0, next_rand, &sr);
	CHECK_INT(b.base_ms, 1);
	CHECK_INT(b.cap_ms, 1);
}

int main(void)
{
	test_backoff();
	return unit_report("test_backoff");
}
