/* The collector's blocks, as the agent knows them (blocks_known.h): entries
 * in an array, a linear-probing index of seeded XXH3 -> entry (deleted by
 * backward shift, so no tombstones), and a least-recently-used list. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ship/blocks.h"
#include "ship/blocks_known.h"

#define NIL UINT32_MAX

struct entry {
	uint64_t hash;
	uint64_t seq;		/* 0: free */
	uint32_t k, len;
	/* Unconfirmed, defined again in a later batch: that one too, as an
	 * ACK may be on its way for each (the first's never comes if it was
	 * rejected or dropped). */
	uint64_t seq2;
	uint32_t k2;
	char *text;
	uint32_t prev, next;	/* LRU: head is the most recent */
	bool confirmed;
};

struct blocks_known {
	pthread_mutex_t lock;
	struct entry *e;
	uint32_t max_entries, count;
	uint32_t *index;	/* entry + 1; 0: empty */
	uint32_t index_mask;
	uint32_t free_head;	/* free entries chained through next */
	uint32_t head, tail;
	uint64_t bytes, max_bytes, seed;
	struct blocks_known_stats st;
};

int blocks_known__new(struct blocks_known **out, uint32_t max_entries, uint64_t max_bytes)
{
	struct blocks_known *kn;
	uint32_t cap = 2;

	*out = NULL;
	if (!max_entries || !max_bytes || max_entries > (1u << 28))
		return -EINVAL;
	while (cap < 2 * max_entries)
		cap *= 2;
	kn = calloc(1, sizeof(*kn));
	if (!kn)
		return -ENOMEM;
	kn->e = calloc(max_entries, sizeof(*kn->e));
	kn->index = calloc(cap, sizeof(*kn->index));
	if (!kn->e || !kn->index) {
		free(kn->e);
		free(kn->index);
		free(kn);
		return -ENOMEM;
	}
	pthread_mutex_init(&kn->lock, NULL);
	kn->max_entries = max_entries;
	kn->max_bytes = max_bytes;
	kn->index_mask = cap - 1;
	for (uint32_t i = 0; i < max_entries; i++)
		kn->e[i].next = i + 1 < max_entries ? i + 1 : NIL;
	kn->free_head = 0;
	kn->head = kn->tail = NIL;
	kn->seed = blocks_hash_seed(kn);
	*out = kn;
	return 0;
}

void blocks_known__free(struct blocks_known *kn)
{
	if (!kn)
		return;
	for (uint32_t i = 0; i < kn->max_entries; i++)
		free(kn->e[i].text);
	free(kn->e);
	free(kn->index);
	pthread_mutex_destroy(&kn->lock);
	free(kn);
}

static void lru_unlink(struct blocks_known *kn, uint32_t i)
{
	struct entry *x = &kn->e[i];

	if (x->prev != NIL)
		kn->e[x->prev].next = x->next;
	else
		kn->head = x->next;
	if (x->next != NIL)
		kn->e[x->next].prev = x->prev;
	else
		kn->tail = x->prev;
}

static void lru_push(struct blocks_known *kn, uint32_t i)
{
	struct entry *x = &kn->e[i];

	x->prev = NIL;
	x->next = kn->head;
	if (kn->head != NIL)
		kn->e[kn->head].prev = i;
	kn->head = i;
	if (kn->tail == NIL)
		kn->tail = i;
}

/* The index slot of (p, n), or of the empty slot where it would go. */
static uint32_t slot_of(const struct blocks_known *kn, const char *p, size_t n, uint64_t h,
			bool *found)
{
	uint32_t j = (uint32_t)h & kn->index_mask;

	*found = false;
	for (;; j = (j + 1) & kn->index_mask) {
		const struct entry *x;

		if (!kn->index[j])
			return j;
		x = &kn->e[kn->index[j] - 1];
		if (x->hash == h && x->len == n && memcmp(x->text, p, n) == 0) {
			*found = true;
			return j;
		}
	}
}

/* Removes index slot j, shifting back the entries of its probe run. */
static void index_delete(struct blocks_known *kn, uint32_t j)
{
	uint32_t i = j;

	kn->index[j] = 0;
	for (;;) {
		uint32_t home;

		i = (i + 1) & kn->index_mask;
		if (!kn->index[i])
			return;
		home = (uint32_t)kn->e[kn->index[i] - 1].hash & kn->index_mask;
		/* Move it to the hole unless its home lies cyclically in (j, i]. */
		if (j <= i ? (home <= j || home > i) : (home <= j && home > i)) {
			kn->index[j] = kn->index[i];
			kn->index[i] = 0;
			j = i;
		}
	}
}

static void evict_tail(struct blocks_known *kn)
{
	uint32_t i = kn->tail;
	struct entry *x = &kn->e[i];
	bool found;
	uint32_t j = slot_of(kn, x->text, x->len, x->hash, &found);

	if (found)
		index_delete(kn, j);
	lru_unlink(kn, i);
	if (x->confirmed)
		kn->st.confirmed--;
	kn->bytes -= x->len;
	kn->count--;
	kn->st.evicted++;
	free(x->text);
	memset(x, 0, sizeof(*x));
	x->next = kn->free_head;
	kn->free_head = i;
}

static int stage_one(struct blocks_known *kn, uint64_t seq, uint32_t k, const char *p, size_t n)
{
	uint64_t h = XXH3_64bits_withSeed(p, n, kn->seed);
	struct entry *x;
	uint32_t j, i;
	bool found;
	char *text;

	if (n > kn->max_bytes || n > UINT32_MAX)
		return 0;
	j = slot_of(kn, p, n, h, &found);
	if (found) {
		i = kn->index[j] - 1;
		x = &kn->e[i];
		if (!x->confirmed && seq != x->seq) {
			x->seq2 = seq;
			x->k2 = k;
		}
		lru_unlink(kn, i);
		lru_push(kn, i);
		return 0;
	}
	text = malloc(n);
	if (!text)
		return -ENOMEM;
	memcpy(text, p, n);
	while (kn->count && (kn->count == kn->max_entries || kn->bytes + n > kn->max_bytes))
		evict_tail(kn);
	/* Eviction shifted the index: find the empty slot again. */
	j = slot_of(kn, p, n, h, &found);
	i = kn->free_head;
	x = &kn->e[i];
	kn->free_head = x->next;
	*x = (struct entry){ .hash = h, .seq = seq, .k = k, .len = (uint32_t)n, .text = text };
	kn->index[j] = i + 1;
	lru_push(kn, i);
	kn->count++;
	kn->bytes += n;
	kn->st.staged++;
	return 0;
}

int blocks_known__stage(struct blocks_known *kn, uint64_t seq, const char *body, size_t len)
{
	const char *at = body, *def;
	uint32_t k = 0;
	size_t n;
	int ret = 0;

	if (!seq)
		return -EINVAL;
	pthread_mutex_lock(&kn->lock);
	while (!ret && blocks_next_def(&at, body + len, &def, &n))
		ret = stage_one(kn, seq, k++, def, n);
	pthread_mutex_unlock(&kn->lock);
	return ret;
}

void blocks_known__confirm(struct blocks_known *kn, uint64_t seq)
{
	pthread_mutex_lock(&kn->lock);
	for (uint32_t i = kn->head; i != NIL; i = kn->e[i].next) {
		struct entry *x = &kn->e[i];

		if (x->confirmed || (x->seq != seq && x->seq2 != seq))
			continue;
		if (x->seq2 == seq) {
			x->seq = seq;
			x->k = x->k2;
		}
		x->seq2 = 0;
		x->confirmed = true;
		kn->st.confirmed++;
	}
	pthread_mutex_unlock(&kn->lock);
}

bool blocks_known__find(struct blocks_known *kn, const char *p, size_t n, uint64_t *seq,
			uint32_t *k)
{
	uint64_t h = XXH3_64bits_withSeed(p, n, kn->seed);
	bool found;
	uint32_t j;

	pthread_mutex_lock(&kn->lock);
	j = slot_of(kn, p, n, h, &found);
	if (found) {
		uint32_t i = kn->index[j] - 1;
		struct entry *x = &kn->e[i];

		found = x->confirmed;
		if (found) {
			*seq = x->seq;
			*k = x->k;
			kn->st.hits++;
			lru_unlink(kn, i);
			lru_push(kn, i);
		}
	}
	pthread_mutex_unlock(&kn->lock);
	return found;
}

void blocks_known__clear(struct blocks_known *kn)
{
	pthread_mutex_lock(&kn->lock);
	while (kn->count)
		evict_tail(kn);
	pthread_mutex_unlock(&kn->lock);
}

void blocks_known__stats(struct blocks_known *kn, struct blocks_known_stats *st)
{
	pthread_mutex_lock(&kn->lock);
	*st = kn->st;
	st->entries = kn->count;
	st->bytes = kn->bytes;
	pthread_mutex_unlock(&kn->lock);
}
