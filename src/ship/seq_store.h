/* The agent's batch sequence counter, persisted so a seq is never reused after
 * a restart or a crash: the collector rejects seq <= the last it stored as a
 * replay, so reuse would lose batches, and a counter silently restarted at 1
 * would lose every batch until it caught up. Hence seq_store__next() returns
 * a seq only once it is durable, and a file that cannot be read back is an
 * error, never a fresh start.
 *
 * The file holds the last seq handed out in two checksummed slots written
 * alternately in place (seq_store.c says why); the older one-line format
 * "<decimal>\n" is still read. A missing file means no seq was ever handed
 * out. Not thread-safe: one owner (the batcher). */
#ifndef VIGIL_SEQ_STORE_H
#define VIGIL_SEQ_STORE_H

#include <stddef.h>
#include <stdint.h>

struct seq_store;

/* Opens (does not create) path; removes temporaries a crash left beside it. -EBADMSG
 * with a message saying what to do when the file is corrupt. */
int seq_store__open(const char *path, struct seq_store **out, char *err, size_t errlen);
/* *seq = last + 1, after it is on disk (its slot written and fdatasync'd; the
 * first time, the whole file through temp, fsync, rename, fsync of the
 * directory). The first seq is 1. On failure nothing is handed out and the
 * next call retries. */
int seq_store__next(struct seq_store *s, uint64_t *seq, char *err, size_t errlen);
/* The last seq handed out (0: none yet). */
uint64_t seq_store__last(const struct seq_store *s);
void seq_store__close(struct seq_store *s);

#endif
