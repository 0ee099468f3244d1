/* The blocks the collector already holds (agent side): what lets a batch
 * point at a process block an earlier batch defined instead of defining it
 * again (blocks.h, remote references).
 *
 * A batch carries each distinct block once, but a process's block is the
 * same in every batch for as long as the process lives: a long-running
 * service's file events, a library load, the exit of a process started
 * minutes ago all paid for a definition (~1.2 KB of JSON, ~100 B on the
 * wire) in every batch they appeared in. Once the collector has stored the
 * batch that defined a block, a later batch can say {"@":S.K} (block K of
 * batch S) instead.
 *
 * Safety: a block becomes usable only when the batch that defined it was
 * acknowledged as stored (or as a duplicate of one stored), never on being
 * sent: a batch lost from a full spool or rejected takes no other batch's
 * context with it. The collector keeps a batch whose blocks are referred
 * to for as long as the referring batches are kept (docs/pipeline.md).
 *
 * Bounded: max_entries blocks and max_bytes of block text, least recently
 * used out first. Thread-safe (one mutex): the sealer stages and looks up,
 * the sender confirms. */
#ifndef VIGIL_BLOCKS_KNOWN_H
#define VIGIL_BLOCKS_KNOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCKS_KNOWN_DEFAULT_ENTRIES 16384u
#define BLOCKS_KNOWN_DEFAULT_BYTES (16u << 20)

struct blocks_known;

struct blocks_known_stats {
	uint64_t entries, bytes;	/* now */
	uint64_t confirmed;		/* now: usable */
	uint64_t staged, evicted;	/* since open */
	uint64_t hits;			/* lookups answered */
};

/* max_entries >= 1, max_bytes >= 1. 0, -EINVAL or -ENOMEM. */
int blocks_known__new(struct blocks_known **out, uint32_t max_entries, uint64_t max_bytes);
void blocks_known__free(struct blocks_known *kn);

/* The definitions of sealed batch seq (its body: the lines as encoded, '@'
 * lines defining blocks 0, 1, ...), remembered but not yet usable. A block
 * already usable stays as it is. -ENOMEM: the rest of the body is skipped
 * (those blocks are simply defined again later). */
int blocks_known__stage(struct blocks_known *kn, uint64_t seq, const char *body, size_t len);
/* The collector stored batch seq: its staged blocks become usable. */
void blocks_known__confirm(struct blocks_known *kn, uint64_t seq);
/* A usable block equal to (p, n): true with *seq and *k of the batch and
 * definition that hold it. */
bool blocks_known__find(struct blocks_known *kn, const char *p, size_t n, uint64_t *seq,
			uint32_t *k);
void blocks_known__stats(struct blocks_known *kn, struct blocks_known_stats *st);
/* Forgets every block (the collector did not have some it should have). */
void blocks_known__clear(struct blocks_known *kn);

#endif
