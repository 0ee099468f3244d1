/* The collector's event store: one ops table per backend (libscap's engines),
 * so PostgreSQL can follow SQLite by adding one file and one line in
 * store_backends[] (store_sqlite.c holds the table for now).
 *
 * What a backend keeps (docs: schema of store_sqlite.c):
 *  - batches: (device_id, seq) -> sha256 of the sealed batch, events, wire
 *    bytes, time received: what makes a re-sent batch a DUPLICATE instead of
 *    new rows, and a different batch under a stored seq a REPLAY_CONFLICT.
 *  - devices: last seq, first/last seen and counters (gaps = possible loss).
 *  - raw_events: every event's head columns and JSON line, for raw_ttl_s.
 *    A batch stored with its body (store__insert_batch_body) keeps the body
 *    once, as the agent sent it (raw_batches); its rows hold where their
 *    line is in it, and their json column reads it back (SQLite: the
 *    function vigil_raw_json, on every connection the store opens).
 *  - typed tables (collector/routes.h): the fields as columns, for
 *    typed_ttl_s; then appended to archive_dir/YYYY-MM-DD/<table>.jsonl.zst
 *    before they are deleted; archive days older than archive_ttl_s removed.
 *  - rejections: persisted counters by reason, for "vigil stats".
 *
 * A store is used by one thread at a time. */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/query.h"
#include "ship/batch.h"

#define STORE_RAW_TTL_S (24u * 3600u)
#define STORE_TYPED_TTL_S (90u * 24u * 3600u)
#define STORE_ARCHIVE_TTL_S (365u * 24u * 3600u)
#define STORE_RETENTION_CHUNK 10000u
#define STORE_REASON_MAX 32	/* bytes of a rejection reason kept */

struct store_config {
	const char *backend;		/* "sqlite" (NULL: sqlite) */
	const char *path;		/* the database file */
	/* Where typed rows go before deletion: an existing directory, not a
	 * symlink, owned by this user and not writable by group or others.
	 * NULL: typed rows past typed_ttl_s are deleted without an archive. */
	const char *archive_dir;
	uint64_t raw_ttl_s, typed_ttl_s, archive_ttl_s;	/* 0: the defaults above */
	uint32_t retention_chunk;	/* rows per retention transaction; 0: default */
	/* Retention transactions per store__retention() call, so that a call
	 * on a large backlog returns and lets inserts in; 0: unlimited. */
	uint32_t retention_max_chunks;
	bool read_only;			/* query and stats only; the file must exist */
};

enum store_status {
	STORE_STORED = 0,	/* the batch's events are stored */
	STORE_DUPLICATE,	/* this exact batch was stored before: nothing done, ACK it */
	STORE_REPLAY_CONFLICT,	/* a different batch is stored under this seq: rejected */
	STORE_STALE,		/* seq <= the device's last seq and not stored: rejected */
	STORE_STATUS_MAX
};

/* "stored", "duplicate", "replay_conflict", "replay" (STORE_STALE: the
 * collector's ACK reason for it, so counters and agents' logs agree). */
const char *store_status_name(enum store_status s);

struct store_result {
	enum store_status status;
	uint64_t last_seq;		/* the device's last seq after the call */
	uint64_t gap;			/* seqs skipped before this batch (possible loss) */
	uint32_t events_stored;		/* new raw rows */
	uint32_t events_duplicate;	/* message_id already stored for this device */
	uint32_t events_malformed;	/* not JSON, or without message_id/time/family/name */
	uint32_t events_untyped;	/* stored raw only: no typed table for the family */
	/* The batch (and what was decided about it) is on disk once
	 * store__durable() >= ticket: acknowledge it then, not before. */
	uint64_t ticket;
};

struct store_retention {
	uint64_t raw_deleted;
	uint64_t typed_archived;	/* rows written to the archive (then deleted) */
	uint64_t typed_deleted;
	uint64_t batches_deleted;
	uint64_t raw_batches_deleted;	/* stored bodies whose every row expired */
	uint32_t archive_days_removed;
	bool more;			/* stopped at retention_max_chunks: call again */
};

struct store;
struct blocks_resolver;

struct store_ops {
	const char *name;
	int (*open)(struct store *st, char *err, size_t errlen);
	void (*close)(struct store *st);
	/* body NULL: the lines are stored as text */
	int (*insert_batch)(struct store *st, const struct batch_meta *meta,
			    const uint8_t batch_sha256[32], const char *lines, size_t len,
			    const void *body, size_t body_len, const uint64_t *ref_seqs,
			    uint32_t nref, struct store_result *res, char *err, size_t errlen);
	void (*resolver)(struct store *st, const char *device_id, uint64_t seq,
			 struct blocks_resolver *res, uint64_t *seen, uint32_t seen_max);
	void (*forget_blocks)(struct store *st, const char *device_id, uint64_t seq);
	int (*last_seq)(struct store *st, const char *device_id, uint64_t *seq, char *err,
			size_t errlen);
	int (*retention)(struct store *st, uint64_t now_ns, struct store_retention *rep,
			 char *err, size_t errlen);
	int (*flush)(struct store *st, char *err, size_t errlen);
	int (*query)(struct store *st, const struct query_filter *f, enum query_format fmt,
		     FILE *out, char *err, size_t errlen);
	int (*sql)(struct store *st, const char *sql, enum query_format fmt, uint32_t max_rows,
		   FILE *out, char *err, size_t errlen);
	int (*stats)(struct store *st, enum query_format fmt, FILE *out, char *err,
		     size_t errlen);
	int (*explain)(struct store *st, const struct query_filter *f, FILE *out, char *err,
		       size_t errlen);
	uint64_t (*durable)(struct store *st);
	int (*durable_fd)(struct store *st);
	int (*wait_durable)(struct store *st, uint64_t ticket, int timeout_ms);
};

struct store_rejection {
	char reason[STORE_REASON_MAX + 1];
	uint64_t count;
};

#define STORE_MAX_REASONS 64

struct store {
	const struct store_ops *ops;
	struct store_config cfg;	/* strings owned (copied at open) */
	/* Rejections counted since the last write: persisted with the next
	 * transaction (a batch, retention or store__flush), so a flood of bad
	 * frames costs no fsync each. */
	struct store_rejection pending[STORE_MAX_REASONS];
	unsigned npending;
	uint64_t rejections_dropped;	/* reasons past STORE_MAX_REASONS */
	void *priv;			/* the backend's */
};

/* Opens (creating it unless read_only) the store cfg describes; cfg's
 * strings are copied. *out is freed with store__close. Returns 0, -EINVAL
 * (bad config: err says which field), -ENOENT, -EACCES, -EIO... */
int store__open(struct store **out, const struct store_config *cfg, char *err, size_t errlen);
/* Writes pending rejection counters and closes. Accepts NULL. */
void store__close(struct store *st);

/* Stores one verified batch in one transaction, committed when it returns 0
 * (later calls and other connections see it) and durable on disk once
 * store__durable(st) >= res->ticket, which is when its ACK may go out (the
 * SQLite store syncs on a thread of its own, store_wal.h, so the caller
 * goes on with the next batch meanwhile). meta is the batch's authenticated header
 * (batch_parse + batch_verify_hmac), batch_sha256 the sha256 of the whole
 * sealed batch as received, lines the '\n'-terminated events batch_open gave.
 * res->status says what was decided; STALE and REPLAY_CONFLICT are counted
 * as rejections here (the caller does not count them again). A line that is
 * not an event (not JSON, or no message_id, time, family or name) is skipped
 * and counted (res->events_malformed and the "malformed_event" rejection):
 * the batch is authentic, so the rest of it is kept and the batch ACKed.
 * Returns 0, -EINVAL (meta out of range: empty device id, seq 0 or above
 * INT64_MAX), or a negative errno when nothing could be written (-ENOSPC,
 * -EBUSY, -EIO): then nothing of the batch is stored and it must not be
 * ACKed. */
int store__insert_batch(struct store *st, const struct batch_meta *meta,
			const uint8_t batch_sha256[32], const char *lines, size_t len,
			struct store_result *res, char *err, size_t errlen);
/* store__insert_batch, keeping the batch's body (the bytes after its header,
 * meta->body_len of them, zstd when meta->flags has BATCH_FLAG_ZSTD, else
 * the lines as they are) once instead of each line's text: lines must be
 * exactly what batch_open gave for it (len == meta->raw_len), so an event's
 * line is found again at its offset. Copies body; the caller keeps it.
 * Same returns as store__insert_batch; -EINVAL when the lengths disagree. */
int store__insert_batch_body(struct store *st, const struct batch_meta *meta,
			     const uint8_t batch_sha256[32], const char *lines, size_t len,
			     const void *body, size_t body_len, struct store_result *res,
			     char *err, size_t errlen);
/* The same for a body whose remote block references (blocks.h) point into
 * the device's batches ref_seqs[0..nref): each is kept at least as long as
 * this one, so its rows can always be read back whole. */
int store__insert_batch_refs(struct store *st, const struct batch_meta *meta,
			     const uint8_t batch_sha256[32], const char *lines, size_t len,
			     const void *body, size_t body_len, const uint64_t *ref_seqs,
			     uint32_t nref, struct store_result *res, char *err, size_t errlen);
/* A resolver (blocks.h) of device_id's remote block references against the
 * batches stored, for batch_open_resolve of its batch seq; seen (may be
 * NULL) collects the batches referred to, for store__insert_batch_refs.
 * Valid until the next call on st. The store keeps the definitions of the
 * batch being opened for the next ones: if it is then not stored,
 * store__forget_blocks(device_id, seq). */
void store__resolver(struct store *st, const char *device_id, uint64_t seq,
		     struct blocks_resolver *res, uint64_t *seen, uint32_t seen_max);
void store__forget_blocks(struct store *st, const char *device_id, uint64_t seq);
/* Durability of committed batches (store_result.ticket). store__durable:
 * every ticket up to it is on disk. store__durable_fd: readable when that
 * may have advanced (an eventfd: read it to clear), for an epoll loop; -1
 * when the backend has none (its tickets are durable when the call that
 * made them returns). store__wait_durable: 0 once ticket is durable,
 * -ETIMEDOUT after timeout_ms (< 0: no limit), or the sync's failure
 * (-EIO...), after which the store refuses every batch. */
uint64_t store__durable(struct store *st);
int store__durable_fd(struct store *st);
int store__wait_durable(struct store *st, uint64_t ticket, int timeout_ms);
/* The SQLite store's WAL syncs and checkpoints (store_wal.h), and the
 * checkpoints its writer ran itself; -ENOENT (zeros) when it has none. */
struct store_wal_stats;
int store__wal_stats(struct store *st, struct store_wal_stats *out,
		     uint64_t *writer_checkpoints);
/* The highest seq stored for device_id; 0 when the device has none. */
int store__last_seq(struct store *st, const char *device_id, uint64_t *seq, char *err,
		    size_t errlen);
/* Applies the TTLs as of now_ns (CLOCK_REALTIME ns; tests pass a fake one) in
 * transactions of retention_chunk rows. Event rows age by their event time,
 * batches by the time received. rep may be NULL. */
int store__retention(struct store *st, uint64_t now_ns, struct store_retention *rep, char *err,
		     size_t errlen);
/* Counts n rejections of reason (cut to STORE_REASON_MAX bytes), in memory
 * until the next transaction or store__flush. Never fails: a reason past
 * STORE_MAX_REASONS distinct ones is counted in rejections_dropped (and
 * persisted as "other"). */
void store__count_rejection(struct store *st, const char *reason, uint64_t n);
/* Persists the pending rejection counters now. */
int store__flush(struct store *st, char *err, size_t errlen);

/* Events matching f, newest limit of them in time order, to out. */
int store__query(struct store *st, const struct query_filter *f, enum query_format fmt,
		 FILE *out, char *err, size_t errlen);
/* One read-only SQL statement (the backend refuses writes), at most max_rows
 * rows (0: QUERY_DEFAULT_LIMIT). */
int store__sql(struct store *st, const char *sql, enum query_format fmt, uint32_t max_rows,
	       FILE *out, char *err, size_t errlen);
/* Per event type (family, name): count, average and total JSON size; wire
 * bytes per event; batches, gaps and rejections. */
int store__stats(struct store *st, enum query_format fmt, FILE *out, char *err, size_t errlen);
/* How the backend would run store__query(f): one line per step of its plan
 * (which index serves which filter), for "vigil query --explain". */
int store__explain(struct store *st, const struct query_filter *f, FILE *out, char *err,
		   size_t errlen);

/* The raw-body reader of the SQLite backend (what raw_events.json needs),
 * for a connection the store did not open (tests, tools): registers
 * vigil_raw_json(device_id, seq, offset, length) on db. It decompresses a
 * body at most STORE_RAW_BODY_MAX bytes long and keeps the last
 * STORE_RAW_CACHE_ENTRIES of them (STORE_RAW_CACHE_BYTES at most), so a
 * query over one batch's rows decompresses it once. A body that does not
 * decompress to its raw_len, or an offset outside it, is an SQL error for
 * that row. Returns 0 or a negative errno. */
#define STORE_RAW_BODY_MAX (64u << 20)
#define STORE_RAW_CACHE_ENTRIES 4u
#define STORE_RAW_CACHE_BYTES (96u << 20)
struct sqlite3;
int store_sqlite__add_functions(struct sqlite3 *db, char *err, size_t errlen);

struct store_raw_cache_stats {
	uint64_t decompressions;	/* bodies decompressed (cache misses) */
	uint64_t evictions;
	uint32_t entries;		/* bodies held now */
	uint64_t bytes;			/* their decompressed bytes */
};
/* The reader's counters on the store's read-only connection (the one
 * store__query and store__sql use); zeros before its first query. */
int store__raw_cache_stats(struct store *st, struct store_raw_cache_stats *out);

#endif
