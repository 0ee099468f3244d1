/* The blocks stored batches define, for remote references (blocks.h,
 * {"@":S.K}: block K of the same device's batch S). A miss loads batch S's
 * body through the store (load: its lines as sent, decompressed, blocks not
 * expanded) and keeps its definitions; bounded by bytes, least recently used
 * out first. One cache per SQLite connection: not thread-safe. */
#ifndef VIGIL_BLOCK_CACHE_H
#define VIGIL_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ship/blocks.h"

/* Batch seq of device_id -> *body (malloc'd, the caller's to free), *len:
 * 0; -ENOENT: no such batch; another negative errno: could not tell. */
typedef int (*block_cache_load_fn)(void *ctx, const char *device_id, uint64_t seq, char **body,
				   size_t *len);

struct block_cache;

int block_cache__new(struct block_cache **out, size_t max_bytes, block_cache_load_fn load,
		     void *load_ctx);
void block_cache__free(struct block_cache *bc);

/* A resolver (blocks.h) for device_id's batches through bc; seen (may be
 * NULL) gets the distinct batches referred to, up to seen_max. device_id
 * must outlive the resolver's use. seq not 0: the batch being opened, whose
 * definitions the cache keeps as it expands (saves loading it again when
 * the next batches refer to it); block_cache__forget it if it is then not
 * stored. */
void block_cache__resolver(struct block_cache *bc, const char *device_id, uint64_t seq,
			   struct blocks_resolver *res, uint64_t *seen, uint32_t seen_max);
void block_cache__forget(struct block_cache *bc, const char *device_id, uint64_t seq);

/* Forgets every batch (the store deleted some). */
void block_cache__clear(struct block_cache *bc);

struct block_cache_stats {
	uint64_t loads, hits, evictions, bytes;
};
void block_cache__stats(const struct block_cache *bc, struct block_cache_stats *st);

#endif
