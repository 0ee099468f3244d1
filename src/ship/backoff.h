/* Capped exponential backoff with full jitter (the "Full Jitter" of AWS's
 * "Exponential Backoff and Jitter"): the n-th delay after a failure is drawn
 * uniformly from [0, min(cap, base * 2^n)]. Spreading reconnects over the
 * whole window keeps a fleet of agents from stampeding a collector that just
 * came back, which equal or decorrelated steps do less well.
 *
 * Not thread-safe: one struct per retrying loop, embedded by value. */
#ifndef VIGIL_BACKOFF_H
#define VIGIL_BACKOFF_H

#include <stdint.h>

/* Returns 64 random bits. Tests inject a fixed sequence. */
typedef uint64_t (*backoff_rand_fn)(void *arg);

struct backoff {
	uint32_t base_ms;
	uint32_t cap_ms;
	uint32_t attempt;	/* failures since the last reset; stops growing at the cap */
	backoff_rand_fn rand;
	void *rand_arg;
	uint64_t state;		/* xorshift64* state, the generator when rand is NULL */
};

/* base_ms 0 is taken as 1, cap_ms below base_ms as base_ms. rand NULL: a
 * generator seeded from getrandom(2) (no cryptographic need here, only
 * agents that do not share a sequence). */
void backoff__init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms, backoff_rand_fn rand,
		   void *rand_arg);
/* The delay before the next attempt, in ms; counts one more failure. */
uint32_t backoff__next(struct backoff *b);
/* After a success: the next failure starts again from base_ms. */
void backoff__reset(struct backoff *b);

#endif
