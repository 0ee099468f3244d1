/* Durability and checkpoints of the SQLite store's WAL, off the writer's
 * thread.
 *
 * Why threads (STYLE: only where a measurement shows the need): with
 * synchronous=FULL every commit waits for an fsync of the WAL, and every
 * 4096 pages of WAL the committing call copies them into the database file
 * and fsyncs that. On the 2-core test VM, pipebench's collector side spent
 * ~3 us per event of wall time waiting in those fsyncs and ~25% of its wall
 * time in checkpoints: 65-70k events/s against 115-122k with neither
 * (synchronous=NORMAL, no checkpoint) in the same runs.
 *
 * So the writer commits with synchronous=NORMAL (the WAL is written, not
 * synced) and hands each commit's number (a ticket) to this module:
 *  - a syncer thread fdatasync()s the WAL file and then publishes the
 *    ticket as durable (store_wal__durable, and an eventfd for epoll loops).
 *    A batch is acknowledged only once its ticket is durable, so an ACK
 *    still means "on disk", as with FULL; the writer goes on with the next
 *    batch meanwhile. fsync works on the file, not the descriptor, so our
 *    own descriptor of the -wal file flushes what SQLite wrote through its
 *    own. A frame the sync finds already checkpointed is in the database
 *    file, which SQLite synced before it could reuse the WAL (checkpoints
 *    still sync with NORMAL).
 *  - a checkpointer thread, with a connection of its own, copies WAL frames
 *    into the database (PASSIVE: it never waits for the writer or readers)
 *    every ckpt_step frames, so the checkpoint the writer still runs when
 *    the WAL reaches its limit (after which SQLite starts the WAL over) has
 *    little left to copy.
 *
 * A failed fdatasync is final (the kernel may have dropped the dirty pages:
 * retrying would report durability that is not there): the durable ticket
 * stops, store_wal__error says why, and the store refuses new batches until
 * it is opened again (SQLite recovers from the WAL on disk). */
#ifndef VIGIL_STORE_WAL_H
#define VIGIL_STORE_WAL_H

#include <stddef.h>
#include <stdint.h>

#define STORE_WAL_ERR_MAX 256

struct store_wal_stats {
	uint64_t syncs;			/* fdatasync calls on the WAL */
	uint64_t sync_ns;		/* wall time in them */
	uint64_t checkpoints;		/* the checkpointer's passive checkpoints */
	uint64_t checkpoint_ns;
	uint64_t checkpoint_busy;	/* found another checkpoint running */
	uint64_t checkpoint_failed;	/* other errors (retried at the next step) */
	uint64_t reopened;		/* the -wal file was replaced under us */
};

struct store_wal;

/* Starts both threads for the WAL-mode database at db_path (which the
 * caller's writer connection has open). ckpt_step: frames of WAL between
 * two background checkpoints. 0 or a negative errno with err. */
int store_wal__start(struct store_wal **out, const char *db_path, uint32_t ckpt_step, char *err,
		     size_t errlen);
/* After the writer's commit number ticket (increasing from 1), with
 * wal_frames the WAL's size in frames after it (SQLite's wal hook). Does
 * not block. */
void store_wal__committed(struct store_wal *w, uint64_t ticket, int wal_frames);
/* The highest ticket known to be on disk. Any thread. */
uint64_t store_wal__durable(const struct store_wal *w);
/* Readable (eventfd counter) each time store_wal__durable advanced; read it
 * to clear. */
int store_wal__fd(const struct store_wal *w);
/* Waits until ticket is durable: 0, -ETIMEDOUT after timeout_ms (< 0:
 * forever), or the sync failure (-EIO...). */
int store_wal__wait(struct store_wal *w, uint64_t ticket, int timeout_ms);
/* 0, or the negative errno of the sync that failed, with its text in msg. */
int store_wal__error(struct store_wal *w, char *msg, size_t len);
void store_wal__stats(struct store_wal *w, struct store_wal_stats *out);
/* Makes everything committed so far durable, stops the threads and frees.
 * Returns 0 or the sync failure. NULL allowed. */
int store_wal__stop(struct store_wal *w);

#endif
