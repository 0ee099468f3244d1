/* Shared blocks in a batch body (BATCH_FLAG_BLOCKS).
 *
 * Every event carries its process and parent process blocks in full
 * (DESIGN): two thirds of a 3-4.7 KB line, and within a batch the same few
 * blocks again and again. Compressing them again and again was most of what
 * sealing cost (zstd over 3 KB lines: ~2 us of the agent's ~3 us per event),
 * so a batch carries each distinct block once and the events that use it
 * point at it. The collector puts the blocks back before anything reads the
 * lines (blocks_expand, inside batch_open), so what it stores and answers is
 * byte for byte what the agent wrote. A block is defined in the batch that
 * first uses it; a later batch may point at it there once the collector has
 * stored that batch (blocks_known.h), never before: a batch lost or
 * rejected never takes another's process context with it.
 *
 * The body's lines with BATCH_FLAG_BLOCKS, each ending in '\n':
 *	'@' block	defines block k: the k-th such line (k = 0, 1, ...)
 *	event		any other line; each {"@":k} in it stands for block k's
 *			bytes (k decimal, no leading zeros, defined above it),
 *			each {"@":S.K} for block K of the same device's batch S
 *			(a remote reference: S >= 1, both without leading zeros)
 * {"@": cannot occur inside a JSON string (its quotes would be escaped), so
 * references are found without parsing JSON; the key "@" is reserved, and
 * an event line may not start with '@'. event_count counts event lines. */
#ifndef VIGIL_BLOCKS_H
#define VIGIL_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define BLOCKS_MAX_SPANS 3		/* per line: host, process and parent blocks */
#define BLOCKS_MIN_LEN 64		/* shorter spans stay inline: a definition and a
					 * reference would cost about as much */
#define BLOCKS_MAX_PER_BATCH 65536u	/* more distinct blocks stay inline */
/* The most encoding can add to a line: its definitions' '@' and '\n', and
 * references of at most 11 bytes ({"@":65535}) in place of the spans. */
#define BLOCKS_LINE_SLACK 48u

/* Where a line's shareable blocks are: n spans, in order, not overlapping,
 * inside the line before its '\n'. The JSON writer fills it
 * (json__write_event_blocks: the header's host_information, the process
 * and parent blocks); a span the encoder cannot use is left inline. */
struct line_blocks {
	uint32_t off[BLOCKS_MAX_SPANS];
	uint32_t len[BLOCKS_MAX_SPANS];
	unsigned n;
};

struct blocks_enc_stats {
	uint64_t lines, spans;		/* lines added, spans offered */
	uint64_t defined, shared;	/* spans sent as a definition, as a reference */
	uint64_t remote;		/* spans sent as a reference to an earlier batch */
	uint64_t inline_spans;		/* left in the line: too short, bad span, table full */
	uint64_t bytes_in, bytes_out;	/* lines as given, as encoded */
	uint64_t refused;		/* lines that start with '@' or hold {"@": */
};

/* One batch's table of blocks (the batcher keeps one per slot). */
struct blocks_enc;
struct blocks_known;

/* A random seed for the hash of a table of blocks (owner: the table, mixed
 * in when getrandom has nothing), so that nobody can craft blocks that
 * collide in it. */
uint64_t blocks_hash_seed(const void *owner);

/* 0 or -ENOMEM. The table's hash is seeded at random, so nobody can craft
 * blocks that collide (a collision only costs a comparison: every match is
 * checked byte for byte). */
int blocks_enc__new(struct blocks_enc **out);
void blocks_enc__free(struct blocks_enc *e);
/* From now on a block the collector holds (kn, shared by both slots and
 * the shipper; NULL: none) becomes a remote reference instead of a
 * definition. */
void blocks_enc__use_known(struct blocks_enc *e, struct blocks_known *kn);
/* Forgets the batch's blocks: the next line starts a new body. */
void blocks_enc__reset(struct blocks_enc *e);
/* Appends one line (len bytes, '\n' included) to out, the body being built
 * since the last reset: each usable span of bl (may be NULL) becomes a
 * reference, preceded by its definition line the first time the body holds
 * it. Appends at most len + BLOCKS_LINE_SLACK bytes. A line that starts
 * with '@' or holds {"@": where it is copied as it is would be misread by
 * the collector: -EINVAL (the JSON writer never makes one). On error
 * (-EINVAL, -E2BIG: out's cap, -ENOMEM) nothing is appended and the table
 * is as it was. */
int blocks_enc__add(struct blocks_enc *e, struct buf *out, const char *line, size_t len,
		    const struct line_blocks *bl);
/* Blocks defined in the body since the last reset. */
uint32_t blocks_enc__count(const struct blocks_enc *e);
void blocks_enc__stats(const struct blocks_enc *e, struct blocks_enc_stats *st);

/* Whether line (len bytes, '\n' included) holds nothing the collector could
 * misread, wherever its blocks end up: it does not start with '@' and holds
 * no {"@":. */
bool blocks_line_ok(const char *line, size_t len);

/* The collector's side: body (n bytes, the decompressed lines of a batch
 * with BATCH_FLAG_BLOCKS) -> its event lines with every reference replaced,
 * appended to out. There must be exactly events event lines, every line
 * non-empty and '\n'-terminated, every reference well-formed and defined
 * above it, at most BLOCKS_MAX_PER_BATCH definitions, and the expanded
 * lines at most max_out bytes (references multiply bytes: a batch may not
 * grow past the limit it would have had without them). Nothing is allocated
 * from what the body claims beyond one table of BLOCKS_MAX_PER_BATCH.
 * Returns 0; -EBADMSG (a malformed line, reference or count, err says
 * which and where); -EMSGSIZE (over max_out); -E2BIG (out's cap); -ENOMEM.
 * On error out is as it was. */
#define BLOCKS_ANY_EVENTS UINT32_MAX	/* events: a body checked before, any count */

/* Where remote references ({"@":S.K}) are looked up: the collector's store.
 * get: block k of batch seq of the device being expanded -> *p, *n (valid
 * until the next get), 0; -ENOENT when there is no such batch or block;
 * another negative errno when it could not tell (the expansion fails with
 * it). An unknown block expands to {"unresolved_block":"S.K"}, counted in
 * unresolved: the event keeps its other fields (the collector can have lost
 * a batch the agent saw stored: a database restored or wiped). seen: a set
 * of seen_max slots (a power of two, zeroed; 0 marks a free one) that gets
 * each distinct seq referred to while seen_count <= seen_max / 2; seen_count
 * counts them all: the store keeps those batches as long as this one. */
#define BLOCKS_UNRESOLVED_HEAD "{\"unresolved_block\":\""
struct blocks_resolver {
	int (*get)(void *ctx, uint64_t seq, uint32_t k, const char **p, size_t *n);
	/* May be NULL: the body just expanded (its definitions), which later
	 * batches may refer to once it is stored. */
	void (*learn)(void *learn_ctx, const char *body, size_t n);
	void *ctx, *learn_ctx;
	uint64_t *seen;
	uint32_t seen_max, seen_count;
	uint64_t remote, unresolved;	/* references met, of which unknown */
};

/* The next block definition of a body blocks_expand took, at or after *at
 * (before end): *def its text after the '@', *n bytes; *at moves past its
 * line. false when there is none left. */
bool blocks_next_def(const char **at, const char *end, const char **def, size_t *n);

/* The distinct seqs res->seen collected, moved to its first slots (the set
 * is spent, as a list for store__insert_batch_refs); returns how many. */
uint32_t blocks_resolver_seen_list(struct blocks_resolver *res);

/* res NULL: a remote reference is malformed (-EBADMSG). */
int blocks_expand(const char *body, size_t n, uint32_t events, size_t max_out, struct buf *out,
		  struct blocks_resolver *res, char *err, size_t errlen);

#endif
