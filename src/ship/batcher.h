/* Cuts the event stream into batches: a batch is full at max_bytes or
 * max_lines, and due interval_ms after its first line arrived. Pure logic:
 * the caller passes the time in (monotonic ms) and seals what it takes.
 * Not thread-safe: one owner (the batcher thread). */
#ifndef VIGIL_BATCHER_H
#define VIGIL_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct line_blocks;

struct batcher;

struct batcher_stats {
	uint64_t lines;		/* accepted */
	uint64_t batches;	/* taken */
	uint64_t too_big;	/* refused: one line over max_bytes */
	uint64_t invalid;	/* refused: empty or not '\n'-terminated */
	uint64_t busy;		/* refused: added while full, before take */
	uint64_t plain_bytes;	/* taken: the lines' own bytes */
	uint64_t body_bytes;	/* taken: as encoded (= plain_bytes without shared blocks) */
};

/* max_bytes: 2 .. BATCH_MAX_RAW_BYTES; max_lines: 1 .. BATCH_MAX_EVENTS;
 * interval_ms >= 1. Memory: at most 2 * max_bytes, grown as lines arrive.
 * 0, -EINVAL or -ENOMEM. */
int batcher__new(struct batcher **out, size_t max_bytes, uint32_t max_lines,
		 uint32_t interval_ms);
void batcher__free(struct batcher *b);
/* From now on each batch carries every distinct process/parent block once
 * (blocks.h): lines added with batcher__add_blocks have their spans replaced
 * by references, and lines that could be mistaken for a definition or a
 * reference are refused. Call before the first line. 0, -EBUSY, -ENOMEM. */
int batcher__share_blocks(struct batcher *b);
/* With shared blocks: blocks the collector holds (kn, NULL: none) become
 * references to the batch that defined them (blocks_known.h). */
struct blocks_known;
void batcher__use_known(struct batcher *b, struct blocks_known *kn);

/* Adds one line (its bytes up to and including the '\n'). Returns 0 (room
 * left), 1 (full: take now), or a refusal, counted in the stats, with err
 * saying why: -E2BIG (the line alone is bigger than max_bytes: it can never
 * be sent as it is), -EINVAL (empty, not '\n'-terminated, or several lines),
 * -ENOSPC (a full batch and the line after it are both waiting: take first),
 * -ENOMEM.
 * A line that does not fit the current batch still returns 1: it is kept and
 * starts the next batch, so a batch never exceeds max_bytes and no line is
 * lost. A caller that takes whenever add returns 1 never gets -ENOSPC. */
int batcher__add(struct batcher *b, const char *line, size_t len, uint64_t now_ms, char *err,
		 size_t errlen);
/* The same, with where the line's blocks are (NULL: none). max_bytes bounds
 * both the lines' own bytes and the encoded body. With shared blocks, a line
 * that starts with '@' or holds {"@": is refused with -EINVAL. */
int batcher__add_blocks(struct batcher *b, const char *line, size_t len,
			const struct line_blocks *bl, uint64_t now_ms, char *err, size_t errlen);
/* True when full, or when the oldest line has waited interval_ms. */
bool batcher__due(const struct batcher *b, uint64_t now_ms);
/* Lines in the current batch (0: nothing to take). */
uint32_t batcher__count(const struct batcher *b);
/* When batcher__due() will be true (the oldest line's time + interval_ms),
 * UINT64_MAX when empty: for the caller's poll timeout. */
uint64_t batcher__deadline(const struct batcher *b);
/* Hands out the current batch and starts the next one: *lines (owned by b,
 * valid until the next call on b), *len bytes, *count lines. NULL when empty. */
const char *batcher__take(struct batcher *b, size_t *len, uint32_t *count);
/* The batch flags the taken bodies need: BATCH_FLAG_BLOCKS with shared
 * blocks, else 0 (batch_seal adds the compression flag). */
uint32_t batcher__flags(const struct batcher *b);
void batcher__stats(const struct batcher *b, struct batcher_stats *st);

#endif
