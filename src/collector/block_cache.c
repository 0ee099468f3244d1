/* Stored batches' block definitions (block_cache.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/block_cache.h"
#include "ship/batch.h"

#define CACHE_BATCHES 64

struct cached {
	char device_id[BATCH_DEVICE_ID_MAX + 1];
	uint64_t seq;		/* 0: empty */
	char *text;		/* the definitions, one after another */
	uint32_t *off, *len;
	uint32_t ndefs;
	size_t bytes;
	uint64_t used;
};

struct block_cache {
	struct cached e[CACHE_BATCHES];
	size_t bytes, max_bytes;
	uint64_t tick;
	block_cache_load_fn load;
	void *load_ctx;
	const char *device_id;	/* the resolver's */
	uint64_t learn_seq;	/* and the batch it opens */
	struct cached *mru;
	struct block_cache_stats st;
};

int block_cache__new(struct block_cache **out, size_t max_bytes, block_cache_load_fn load,
		     void *load_ctx)
{
	struct block_cache *bc = calloc(1, sizeof(*bc));

	*out = NULL;
	if (!bc)
		return -ENOMEM;
	bc->max_bytes = max_bytes;
	bc->load = load;
	bc->load_ctx = load_ctx;
	*out = bc;
	return 0;
}

static void empty(struct cached *c)
{
	free(c->text);
	free(c->off);
	free(c->len);
	memset(c, 0, sizeof(*c));
}

static void drop(struct block_cache *bc, struct cached *c)
{
	if (bc->mru == c)
		bc->mru = NULL;
	bc->bytes -= c->bytes;
	bc->st.evictions++;
	empty(c);
}

void block_cache__clear(struct block_cache *bc)
{
	for (unsigned i = 0; i < CACHE_BATCHES; i++)
		if (bc->e[i].seq)
			drop(bc, &bc->e[i]);
}

void block_cache__free(struct block_cache *bc)
{
	if (!bc)
		return;
	block_cache__clear(bc);
	free(bc);
}

/* The definitions of body (n bytes) into c. 0 or -ENOMEM. */
static int index_defs(struct cached *c, const char *body, size_t n)
{
	const char *p = body, *def;
	uint32_t ndefs = 0;
	size_t text = 0, at = 0, len;

	while (ndefs < BLOCKS_MAX_PER_BATCH && blocks_next_def(&p, body + n, &def, &len)) {
		ndefs++;
		text += len;
	}
	c->text = malloc(text ? text : 1);
	c->off = malloc((ndefs ? ndefs : 1) * sizeof(*c->off));
	c->len = malloc((ndefs ? ndefs : 1) * sizeof(*c->len));
	if (!c->text || !c->off || !c->len)
		return -ENOMEM;
	for (p = body; c->ndefs < ndefs && blocks_next_def(&p, body + n, &def, &len);) {
		memcpy(c->text + at, def, len);
		c->off[c->ndefs] = (uint32_t)at;
		c->len[c->ndefs++] = (uint32_t)len;
		at += len;
	}
	c->bytes = text + 2 * ndefs * sizeof(uint32_t) + sizeof(*c);
	return 0;
}

static struct cached *find(struct block_cache *bc, const char *device_id, uint64_t seq)
{
	struct cached *m = bc->mru;

	if (m && m->seq == seq && strcmp(m->device_id, device_id) == 0)
		return m;
	for (unsigned i = 0; i < CACHE_BATCHES; i++) {
		struct cached *e = &bc->e[i];

		if (e->seq == seq && strcmp(e->device_id, device_id) == 0)
			return bc->mru = e;
	}
	return NULL;
}

/* The least recently used entry but except; NULL when there is none. */
static struct cached *oldest(struct block_cache *bc, const struct cached *except)
{
	struct cached *lru = NULL;

	for (unsigned i = 0; i < CACHE_BATCHES; i++) {
		struct cached *e = &bc->e[i];

		if (e->seq && e != except && (!lru || e->used < lru->used))
			lru = e;
	}
	return lru;
}

/* A free entry, or the least recently used one emptied. */
static struct cached *take_slot(struct block_cache *bc)
{
	struct cached *lru;

	for (unsigned i = 0; i < CACHE_BATCHES; i++)
		if (!bc->e[i].seq)
			return &bc->e[i];
	lru = oldest(bc, NULL);
	drop(bc, lru);
	return lru;
}

/* Keeps body's definitions as batch seq's. 0 or -ENOMEM (nothing kept). */
static int keep(struct block_cache *bc, const char *device_id, uint64_t seq, const char *body,
		size_t len, struct cached **out)
{
	struct cached *c = take_slot(bc), *e;
	int ret = index_defs(c, body, len);

	if (ret) {
		empty(c);
		return ret;
	}
	snprintf(c->device_id, sizeof(c->device_id), "%s", device_id);
	c->seq = seq;
	c->used = ++bc->tick;
	bc->bytes += c->bytes;
	/* over the bound: the oldest others go (this one stays) */
	while (bc->bytes > bc->max_bytes && (e = oldest(bc, c)))
		drop(bc, e);
	*out = bc->mru = c;
	return 0;
}

static int get(void *ctx, uint64_t seq, uint32_t k, const char **p, size_t *n)
{
	struct block_cache *bc = ctx;
	struct cached *c = find(bc, bc->device_id, seq);
	char *body = NULL;
	size_t len = 0;
	int ret;

	if (c) {
		bc->st.hits++;
	} else {
		if (strlen(bc->device_id) > BATCH_DEVICE_ID_MAX)
			return -ENOENT;
		ret = bc->load(bc->load_ctx, bc->device_id, seq, &body, &len);
		if (ret)
			return ret;
		bc->st.loads++;
		ret = keep(bc, bc->device_id, seq, body, len, &c);
		free(body);
		if (ret)
			return ret;
	}
	c->used = ++bc->tick;
	if (k >= c->ndefs)
		return -ENOENT;
	*p = c->text + c->off[k];
	*n = c->len[k];
	return 0;
}

static void learn(void *ctx, const char *body, size_t n)
{
	struct block_cache *bc = ctx;
	struct cached *c;

	if (!bc->learn_seq || strlen(bc->device_id) > BATCH_DEVICE_ID_MAX)
		return;
	block_cache__forget(bc, bc->device_id, bc->learn_seq);
	(void)keep(bc, bc->device_id, bc->learn_seq, body, n, &c);
}

void block_cache__forget(struct block_cache *bc, const char *device_id, uint64_t seq)
{
	struct cached *c = find(bc, device_id, seq);

	if (c)
		drop(bc, c);
}

void block_cache__resolver(struct block_cache *bc, const char *device_id, uint64_t seq,
			   struct blocks_resolver *res, uint64_t *seen, uint32_t seen_max)
{
	memset(res, 0, sizeof(*res));
	bc->device_id = device_id;
	bc->learn_seq = seq;
	res->get = get;
	res->learn = seq ? learn : NULL;
	res->learn_ctx = bc;
	res->ctx = bc;
	res->seen = seen;
	res->seen_max = seen ? seen_max : 0;
	if (seen)
		memset(seen, 0, (size_t)seen_max * sizeof(*seen));
}

void block_cache__stats(const struct block_cache *bc, struct block_cache_stats *st)
{
	*st = bc->st;
	st->bytes = bc->bytes;
}
