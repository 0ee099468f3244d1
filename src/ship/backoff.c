#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ship/backoff.h"

static uint64_t xorshift64s(struct backoff *b)
{
	uint64_t x = b->state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void backoff__init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms, backoff_rand_fn rand,
		   void *rand_arg)
{
	b->base_ms = base_ms ? base_ms : 1;
	b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
	b->attempt = 0;
	b->rand = rand;
	b->rand_arg = rand_arg;
	b->state = 0;
	if (rand)
		return;
	if (getrandom(&b->state, sizeof(b->state), GRND_NONBLOCK) != sizeof(b->state)) {
		struct timespec ts;

		/* Early boot without entropy: distinct per agent is enough. */
		clock_gettime(CLOCK_REALTIME, &ts);
		b->state = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^
			   (uint64_t)getpid() << 40;
	}
	if (!b->state)
		b->state = 0x9e3779b97f4a7c15ull;	/* 0 is xorshift's fixed point */
}

uint32_t backoff__next(struct backoff *b)
{
	uint64_t ceiling = b->base_ms;
	uint32_t i;

	for (i = 0; i < b->attempt && ceiling < b->cap_ms; i++)
		ceiling <<= 1;
	if (ceiling > b->cap_ms)
		ceiling = b->cap_ms;
	else
		b->attempt++;	/* not past the cap: no overflow, however long it fails */
	/* The modulo bias of 64 random bits over a 32-bit range is < 2^-32. */
	return (uint32_t)((b->rand ? b->rand(b->rand_arg) : xorshift64s(b)) % (ceiling + 1));
}

void backoff__reset(struct backoff *b)
{
	b->attempt = 0;
}
