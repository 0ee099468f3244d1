/* The SQLite store (store.h), one file in WAL mode.
 *
 * Durability: every commit's WAL frames are fsynced before its batch is
 * ACKed (the agent then deletes its spooled copy), as synchronous=FULL
 * would do, but on store_wal's thread: the writer commits with NORMAL and
 * goes on with the next batch while the sync runs (store_result.ticket,
 * store__durable). One fsync per commit (a batch, about 1000 events), not
 * per event. store_wal's other thread copies the WAL into the database
 * every STORE_WAL_CHECKPOINT_STEP frames; the writer's wal hook still runs
 * a checkpoint at STORE_WAL_CHECKPOINT_PAGES, after which SQLite starts
 * the WAL over, cut back to journal_size_limit. Measured with pipebench's
 * collector side (60k events of its reference mix, 2-core VM): 60-69k
 * events/s wall with FULL and checkpoints in the writer, 108-113k this way.
 *
 * Parsing: collector/event_json.c, one pass over the line that fills every
 * column of every route (the table is known once the line is walked). It
 * replaced SQLite's JSON1 (one json_extract() per column), which a benchmark
 * showed was the bottleneck: see event_json.h for the numbers. The values
 * bound are the ones json_extract() (and "->" for JSON columns) returned, so
 * the rows are the same (tests/unit/test_event_json.c checks it).
 *
 * Idempotency: (device_id, seq) is the batches key; (message_id, device_id)
 * is unique in raw_events, and an event whose raw row already exists gets no
 * typed row either, so duplicates inside accepted batches are dropped for as
 * long as the raw row lives (raw_ttl_s). The key includes the device so one
 * device cannot suppress another's events by sending their ids. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "collector/block_cache.h"
#include "collector/event_json.h"
#include "collector/routes.h"
#include "collector/store.h"
#include "collector/store_wal.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "ship/blocks.h"

/* Tuning, measured with bench/storebench.c (100k events of 4.5 KB, batches
 * of 1000, on the 2-core test VM; CPU per event on tmpfs | events/s on disk):
 *  - page_size 16 KiB: a raw row (1-5 KB of JSON) stays on its leaf page.
 *    8 KiB: 27.4 vs 22.2 us and 43% more file (a 4.5 KB row fills a page
 *    alone or spills); 32 KiB: 20.6 us and 6% less file, but the same
 *    events/s on disk, and every page a random key (pid) dirties is written
 *    whole to the WAL; 64 KiB: 22.6 us.
 *  - wal_autocheckpoint 4096 pages (64 MiB): 1024 and 16384 were slower,
 *    no checkpoint at all only 10% faster (and an unbounded WAL).
 *  - synchronous: see Durability above. On the VM of these first
 *    measurements NORMAL alone was only 5% faster than FULL; on a later
 *    2-core VM the fsync wait was ~3 us per event of wall time, hence the
 *    sync on store_wal's thread.
 *  - cache_size 8 MiB (was 64): inserts only touch the rightmost pages of
 *    the tables and of the time-ordered indexes, ~150 pages, and sort
 *    nothing. A bigger cache kept growing into fresh memory for its first
 *    64 MiB of pages, page faults that cost pipebench's collector side
 *    (a fresh database) 12.4 -> 9.2 us of CPU per event with 4 MiB; once
 *    full (storebench, 300k events) 64 MiB was still 6% slower than 4.
 *    256 MiB, mmap_size 1 GiB, temp_store MEMORY made no difference.
 * What an insert costs is the bytes it writes, twice (WAL, checkpoint):
 * ~6.2 KB per event, 4.6 KB of it the raw JSON. Hence raw bodies: a batch
 * stored with store__insert_batch_body keeps the agent's zstd body once
 * (~0.5 KB per event) and its raw rows only where their line is in it:
 * 1.1 KB per event in the file, 29-33k -> 52-60k events/s on disk, CPU
 * 24-27 -> 14-17 us per event (storebench, 100k events). Reading a line
 * back decompresses its batch (vigil_raw_json, a small cache per
 * connection); raw_events.json is a VIRTUAL generated column over it, so
 * "SELECT json FROM raw_events" reads as before on the store's connections
 * and anything else can count or filter rows by the head columns.
 * Typed rows go STORE_MULTI_ROWS to an INSERT: 6.6% fewer instructions per
 * event in store__insert_batch_body (callgrind, 20k events: 99.3k -> 92.8k);
 * raw rows stay one per INSERT (OR IGNORE: which of a group were duplicates
 * decides which typed rows follow).
 * Those typed INSERTs are OR FAIL: as plain INSERTs (ABORT) of several rows
 * each opened a statement journal, and every page a statement touched was
 * copied into it first (64 KiB in memory, then a temp file): 12.0 KB written
 * per event for 0.83 KB stored; OR FAIL: 2.6 KB (WAL and checkpoint), and
 * store__insert_batch_body 10.2-12.0 -> 7.7-8.3 us CPU per event (60k
 * events of pipebench's reference mix, batches of 4 MiB, on disk);
 * pipebench's collector side 84k -> 117k events/s/core (wall 73k -> 97k).
 * What is left is mostly the pages a commit writes: every b-tree a batch
 * touches costs its last leaf and its parent, 16 KiB each, per commit
 * (~50 pages, 1.5 ms of CPU per commit: a batch of 0.5 MiB costs 14.6 us
 * per event, one of 4 MiB 6.8). Hence no index per process name (see
 * table_indexes). With that and OR FAIL, pipebench's collector side went
 * from 101-103k to 129-131k events/s/core (wall 89k -> 111-114k; both
 * binaries in the same run, 3 rounds each).
 * Tried and not kept (harness over pipebench's corpus, steady state):
 *  - devices as integers in raw and typed rows instead of their 32 hex
 *    digits: 12% fewer bytes in the file, no CPU difference measurable;
 *    and vigil_raw_json reads by the text id;
 *  - raw rows 16 to an INSERT: with a UNIQUE index SQLite opens a
 *    statement journal for a multi-row INSERT whatever its conflict
 *    clause (OR IGNORE, OR FAIL), 2.4 -> 7.2 KB written per event;
 *  - page_size 8 KiB now that rows are small: same CPU (7.4 vs 7.5 us),
 *    7% fewer bytes written;
 *  - no raw_events_time index: no difference measurable (retention needs
 *    it). Without the UNIQUE index raw rows would be 0.8 us cheaper. */
#define STORE_PAGE_SIZE 16384
#define STORE_WAL_CHECKPOINT_PAGES 4096		/* 64 MiB of WAL */
#define STORE_WAL_LIMIT_BYTES (64 << 20)
#define STORE_CACHE_KIB 8192
/* WAL frames between two checkpoints of store_wal's thread (16 MiB) */
#define STORE_WAL_CHECKPOINT_STEP 1024
#define STORE_BLOCK_CACHE_BYTES (32u << 20)	/* stored blocks, per connection */
#define STORE_BUSY_MS 5000
/* 2: fewer indexes, (column, time_ns); 3: raw_batches; 4: process name and
 * pid in the time index (create_indexes makes it and drops the old ones) */
#define STORE_SCHEMA_VERSION 4
#define STORE_MESSAGE_ID_MAX 64
#define STORE_FAMILY_MAX 32
#define STORE_NAME_MAX 128
#define STORE_MAX_TYPES 64		/* distinct (family, name) per batch in type_stats */
#define STORE_ARCHIVE_BUF (256u << 20)	/* archive text per zstd frame, at most */
#define STORE_ARCHIVE_LEVEL 3
#define NS_PER_S 1000000000ull
#define STORE_MULTI_ROWS 16		/* typed rows per INSERT */
#define STORE_ARENA_MAX (256u << 20)	/* decoded values of waiting typed rows */

struct sq_table {
	const struct route_table *rt;
	sqlite3_stmt *insert;
	sqlite3_stmt *archive;	/* id, time_ns, json_object(row) older than ?1 */
	sqlite3_stmt *del;	/* by id */
	unsigned path0;		/* event_json path of rt->cols[0] */
	/* Typed rows wait here until STORE_MULTI_ROWS of them go in one
	 * INSERT (insert_n); a batch's last ones go one by one. */
	sqlite3_stmt *insert_n;
	unsigned nparams, npending;
	struct event_json_sql *vals;	/* STORE_MULTI_ROWS x nparams */
};

/* event_json paths: route_head_cols, route_proc_cols, then each table's. */
#define PATH_HEAD 0u
#define PATH_PROC ((unsigned)ROUTE_H_MAX)

struct type_agg {
	char family[STORE_FAMILY_MAX];
	char name[STORE_NAME_MAX];
	size_t family_len, name_len;
	uint64_t count, bytes;
};

struct sq {
	sqlite3 *db;
	sqlite3 *ro;		/* read-only connection for queries and SQL */
	int archive_fd;		/* -1: no archive */
	struct sq_table *tables;
	unsigned ntables;
	struct event_json *ej;
	char *scratch;		/* values decoded from a line; as long as the longest line */
	size_t scratch_cap;
	/* Texts of waiting typed rows that are not in the batch's lines (a
	 * decoded value, a head copy): their offsets here, until the batch
	 * ends. */
	struct buf arena;
	sqlite3_stmt *batch_get, *batch_put, *dev_get, *dev_put, *raw_put, *type_put, *rej_put;
	sqlite3_stmt *arch_len_get, *arch_len_put, *arch_forget;
	sqlite3_stmt *raw_expire, *batch_expire, *body_put, *body_expire, *body_keep;
	struct store_wal *wal;		/* syncs and checkpoints; NULL read-only */
	uint64_t ticket;		/* commits so far on q->db */
	int wal_frames;			/* the WAL's size after the last one */
	uint64_t writer_checkpoints;	/* run by wal_hook */
	struct raw_cache *ro_cache;	/* vigil_raw_json's on q->ro */
	struct raw_cache *rw_cache;	/* and on q->db */
	int64_t max_time_ns;		/* of the rows the batch being stored added */
	struct type_agg agg[STORE_MAX_TYPES + 1];	/* the last one is "(other)" */
	unsigned nagg;
	ZSTD_CCtx *zc;
	struct buf arch;	/* one archive frame's lines */
	int64_t *ids;		/* retention_chunk ids of archived rows */
	void *zbuf;
	size_t zcap;
};

static const char *const status_names[STORE_STATUS_MAX] = {
	[STORE_STORED] = "stored",
	[STORE_DUPLICATE] = "duplicate",
	[STORE_REPLAY_CONFLICT] = "replay_conflict",
	[STORE_STALE] = "replay",	/* the name the collector ACKs it with */
};

const char *store_status_name(enum store_status s)
{
	return (unsigned)s < STORE_STATUS_MAX ? status_names[s] : "unknown";
}

static int sq_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int sq_fail(sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "store: %s: %s", what, db ? sqlite3_errmsg(db) :
			 sqlite3_errstr(rc));
	return sq_errno(rc);
}

static uint64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int64_t clamp_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(db, rc, "preparing a statement", err, errlen);
	return 0;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(db, rc, sql, err, errlen);
	return 0;
}

/* Steps a statement that returns no row and resets it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(db, rc, what, err, errlen);
	return 0;
}

static const char *col_decl(enum route_type t)
{
	return t == ROUTE_INT ? "INTEGER" : t == ROUTE_TEXT ? "TEXT" : "JSON_TEXT";
}

/* The statements of one typed table, built from its route. */
static int table_sql(const struct route_table *rt, struct buf *create, struct buf *insert,
		     struct buf *archive)
{
	const struct route_column *groups[2] = { route_proc_cols, rt->cols };
	unsigned counts[2] = { rt->process ? ROUTE_PROC_COLS : 0, rt->ncols };
	unsigned nparams = ROUTE_COMMON_COLS - 1;
	int ret = 0;

	ret |= buf__addf(create, "CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY KEY, "
			 "time_ns INTEGER NOT NULL, host TEXT, device_id TEXT NOT NULL, "
			 "message_id TEXT NOT NULL, name TEXT, severity TEXT, "
			 "severity_rank INTEGER", rt->table);
	/* OR FAIL, not the default ABORT: an INSERT of several rows that may
	 * abort half-way (NOT NULL) makes SQLite open a statement journal and
	 * copy every page the statement touches first (16 KiB each) into it, to
	 * undo the statement alone. We never keep half a batch (any error rolls
	 * the whole transaction back), so FAIL's "keep the rows before the
	 * failing one" costs nothing, and saves that copy: see the tuning
	 * notes at the top. */
	ret |= buf__addf(insert, "INSERT OR FAIL INTO %s (time_ns, host, device_id, message_id, "
			 "name, severity, severity_rank", rt->table);
	ret |= buf__adds(archive, "SELECT id, time_ns, json_object('time_ns', time_ns, "
			 "'host', host, 'device_id', device_id, 'message_id', message_id, "
			 "'name', name, 'severity', severity");
	for (unsigned g = 0; g < 2; g++) {
		for (unsigned i = 0; i < counts[g]; i++) {
			const struct route_column *c = &groups[g][i];

			/* Names are ours, but they go into SQL text: refuse a
			 * quote rather than trust every future edit of routes.c. */
			if (strpbrk(c->name, "\"'"))
				return -EINVAL;
			ret |= buf__addf(create, ", %s %s", c->name, col_decl(c->type));
			ret |= buf__addf(insert, ", %s", c->name);
			if (c->type == ROUTE_JSON)
				ret |= buf__addf(archive, ", '%s', json(%s)", c->name, c->name);
			else
				ret |= buf__addf(archive, ", '%s', %s", c->name, c->name);
			nparams++;
		}
	}
	ret |= buf__adds(create, ")");
	ret |= buf__adds(insert, ") VALUES (?");
	for (unsigned i = 1; i < nparams; i++)
		ret |= buf__adds(insert, ", ?");
	ret |= buf__adds(insert, ")");
	ret |= buf__addf(archive, ") FROM %s WHERE time_ns < ?1 ORDER BY time_ns LIMIT ?2",
			 rt->table);
	return ret ? -EINVAL : 0;
}

/* Columns appended to routes.c since the table was created. */
static int add_missing_columns(sqlite3 *db, const struct route_table *rt, char *err,
			       size_t errlen)
{
	const struct route_column *groups[2] = { route_proc_cols, rt->cols };
	unsigned counts[2] = { rt->process ? ROUTE_PROC_COLS : 0, rt->ncols };
	char sql[256];
	sqlite3_stmt *st = NULL;
	int ret;

	snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?1",
		 rt->table);
	ret = prep(db, sql, &st, err, errlen);
	if (ret)
		return ret;
	for (unsigned g = 0; g < 2 && !ret; g++) {
		for (unsigned i = 0; i < counts[g] && !ret; i++) {
			const struct route_column *c = &groups[g][i];
			int rc;

			sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_ROW)
				continue;
			if (rc != SQLITE_DONE) {
				ret = sq_fail(db, rc, "reading the table's columns", err, errlen);
				break;
			}
			snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", rt->table,
				 c->name, col_decl(c->type));
			ret = exec(db, sql, err, errlen);
		}
	}
	sqlite3_finalize(st);
	return ret;
}

/* The indexes of a typed table. Each one costs every insert, so only those a
 * query filter uses, as test_query checks with EXPLAIN QUERY PLAN:
 *  - time: (time_ns, id, then the ROUTE_INDEX columns: process name, pid)
 *    for ORDER BY time_ns DESC, id DESC LIMIT of every query, --since/--until
 *    and retention. --process-name and --pid walk it newest first and test
 *    the column in the index entry (SQLite seeks the row only for a match):
 *    a name that is not there costs a walk of the index, ~40 ns an entry
 *    (0.21 s for 5M rows; 0.32 s for a scan of the table);
 *  - host, time: --host, already in time order; a batch is from one host,
 *    so it appends in one place.
 * The process name had an index of its own, (process_name, time_ns), until
 * schema 4: a batch appends to it in as many places as it has names (~40
 * per table here), and each of those leaf pages is written whole (16 KiB)
 * to the WAL at every commit, and again at the checkpoint. Steady state
 * (the last 100k of 200k events, pipebench's reference mix with times that
 * keep increasing, batches of 4 MiB): 8.6-9.2 -> 6.6-7.0 us of CPU per event
 * in store__insert_batch_body and 3.9 -> 2.4 KB written per event; with
 * batches of 0.5 MiB (a quieter host) 16.8 -> 14.6 us and 13.0 -> 6.6 KB.
 * Not indexed, because no query can use an index for them: user (real OR
 * login user), path (a substring or glob over several columns), addresses
 * (local OR remote), alert severity (the planner scans by time: alerts are
 * few); the plain SQL of "vigil query --sql" scans for those. Nor pid on
 * its own: pids are random, so an index took a page write per event
 * (22.7-24.4k events/s with it, 26.7-32.9k without; storebench, 300k
 * events on disk). */
struct index_def {
	char name[64];
	char sql[256];
};

#define STORE_MAX_INDEXES 16
#define STORE_MAX_OLD_INDEXES 64

static void index_add(struct index_def *d, unsigned *n, const struct route_table *rt,
		      const char *suffix, const char *cols)
{
	struct index_def *x = &d[*n];
	char name[sizeof(x->name)];
	int a, b;

	if (*n == STORE_MAX_INDEXES)
		return;
	a = snprintf(name, sizeof(name), "%s_%s", rt->table, suffix);
	b = snprintf(x->sql, sizeof(x->sql), "CREATE INDEX %s ON %s(%s)", name, rt->table, cols);
	/* Our names, far shorter: a cut one would be dropped and made again. */
	if (a < 0 || (size_t)a >= sizeof(name) || b < 0 || (size_t)b >= sizeof(x->sql))
		return;
	memcpy(x->name, name, sizeof(name));
	(*n)++;
}

static unsigned table_indexes(const struct route_table *rt, struct index_def *d)
{
	const struct route_column *groups[2] = { route_proc_cols, rt->cols };
	unsigned counts[2] = { rt->process ? ROUTE_PROC_COLS : 0, rt->ncols }, n = 0;
	char cols[128];
	size_t len = (size_t)snprintf(cols, sizeof(cols), "time_ns");

	for (unsigned g = 0; g < 2; g++) {
		for (unsigned i = 0; i < counts[g]; i++) {
			if (!(groups[g][i].flags & ROUTE_INDEX))
				continue;
			/* id first: the rows in (time_ns, id) order, as queries
			 * sort them; the columns after it only for filtering. */
			if (len == strlen("time_ns"))
				len += (size_t)snprintf(cols + len, sizeof(cols) - len, ", id");
			if (len < sizeof(cols))
				len += (size_t)snprintf(cols + len, sizeof(cols) - len, ", %s",
							groups[g][i].name);
		}
	}
	/* Our names, far shorter: a cut list would be an index no query
	 * expects, so none rather than that (test_query sees it). */
	if (len < sizeof(cols))
		index_add(d, &n, rt, "time", cols);
	index_add(d, &n, rt, "host", "host, time_ns");
	return n;
}

/* Creates the table's indexes and drops the ones an older version made that
 * are no longer wanted or are defined differently (SQLite keeps the CREATE
 * text without IF NOT EXISTS, which is what we compare). */
static int create_indexes(sqlite3 *db, const struct route_table *rt, char *err, size_t errlen)
{
	struct index_def want[STORE_MAX_INDEXES];
	char old[STORE_MAX_OLD_INDEXES][64], sql[128];
	bool have[STORE_MAX_INDEXES] = { false };
	unsigned n = table_indexes(rt, want), nold = 0;
	sqlite3_stmt *st = NULL;
	int rc, ret;

	ret = prep(db, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND "
		   "tbl_name = ?1 AND sql IS NOT NULL", &st, err, errlen);
	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, rt->table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *def = (const char *)sqlite3_column_text(st, 1);
		bool keep = false;

		for (unsigned i = 0; i < n && name && def; i++) {
			if (strcmp(name, want[i].name) == 0 && strcmp(def, want[i].sql) == 0)
				keep = have[i] = true;
		}
		if (keep)
			continue;
		if (nold == STORE_MAX_OLD_INDEXES || !name || strlen(name) >= sizeof(old[0])) {
			sqlite3_finalize(st);
			return err_fail(-EINVAL, err, errlen, "store: table %s has an index this "
					"version cannot drop", rt->table);
		}
		snprintf(old[nold++], sizeof(old[0]), "%s", name);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sq_fail(db, rc, "reading the indexes", err, errlen);
	for (unsigned i = 0; i < nold && !ret; i++) {
		if (strchr(old[i], '"'))
			return err_fail(-EINVAL, err, errlen, "store: index name %s holds a quote",
					old[i]);
		snprintf(sql, sizeof(sql), "DROP INDEX \"%s\"", old[i]);
		ret = exec(db, sql, err, errlen);
	}
	for (unsigned i = 0; i < n && !ret; i++)
		if (!have[i])
			ret = exec(db, want[i].sql, err, errlen);
	return ret;
}

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS batches ("
	" device_id TEXT NOT NULL, seq INTEGER NOT NULL, sha256 BLOB NOT NULL,"
	" key_id INTEGER, created_ns INTEGER, received_ns INTEGER NOT NULL,"
	" event_count INTEGER NOT NULL, events_stored INTEGER NOT NULL,"
	" events_malformed INTEGER NOT NULL, raw_bytes INTEGER NOT NULL,"
	" wire_bytes INTEGER NOT NULL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS batches_received ON batches(received_ns);"
	"CREATE TABLE IF NOT EXISTS devices ("
	" device_id TEXT PRIMARY KEY, org_id TEXT, last_seq INTEGER NOT NULL,"
	" first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,"
	" batches INTEGER NOT NULL, events INTEGER NOT NULL, raw_bytes INTEGER NOT NULL,"
	" wire_bytes INTEGER NOT NULL, gaps INTEGER NOT NULL, lost_seqs INTEGER NOT NULL,"
	" duplicates INTEGER NOT NULL, stale INTEGER NOT NULL,"
	" replay_conflicts INTEGER NOT NULL, malformed_events INTEGER NOT NULL) WITHOUT ROWID;"
	/* A row's line: line_text, or line_len bytes at line_off of its
	 * batch's body in raw_batches. json reads either (a generated column,
	 * so count(*) and the head columns need no vigil_raw_json).
	 * The key of the duplicate check is (message_id, device_id), in that
	 * order: the ids of one device share their first 32 bytes, so SQLite's
	 * comparisons on (device_id, message_id) went past them every time,
	 * and (message_id, ...) differ in the first column, where its string
	 * fast path decides: 2.6% fewer instructions per event in
	 * store__insert_batch_body (callgrind, 20k events: 68.6k -> 66.8k).
	 * The same pairs are unique either way; files made before schema 4
	 * keep (device_id, message_id). */
	"CREATE TABLE IF NOT EXISTS raw_events ("
	" id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	" message_id TEXT NOT NULL, time_ns INTEGER NOT NULL, family TEXT, name TEXT,"
	" message_type TEXT, severity TEXT, host TEXT, line_text TEXT, line_off INTEGER,"
	" line_len INTEGER, json TEXT GENERATED ALWAYS AS (coalesce(line_text,"
	" vigil_raw_json(device_id, seq, line_off, line_len))) VIRTUAL,"
	" UNIQUE (message_id, device_id));"
	"CREATE INDEX IF NOT EXISTS raw_events_time ON raw_events(time_ns);"
	/* Bodies as the agent sent them (flags: 1 zstd, 2 shared blocks, as in
	 * the batch header; 0: the lines); kept
	 * until the newest of their rows expires (max_time_ns). */
	"CREATE TABLE IF NOT EXISTS raw_batches ("
	" id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	" flags INTEGER NOT NULL, raw_len INTEGER NOT NULL, max_time_ns INTEGER NOT NULL,"
	" body BLOB NOT NULL, UNIQUE (device_id, seq));"
	"CREATE INDEX IF NOT EXISTS raw_batches_time ON raw_batches(max_time_ns);"
	"CREATE TABLE IF NOT EXISTS rejections ("
	" reason TEXT PRIMARY KEY, count INTEGER NOT NULL, last_ns INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS type_stats ("
	" family TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL, PRIMARY KEY (family, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS archive_files ("
	" path TEXT PRIMARY KEY, committed_len INTEGER NOT NULL) WITHOUT ROWID;";

static int create_schema(struct sq *q, char *err, size_t errlen)
{
	struct buf create, insert, archive;
	unsigned n;
	const struct route_table *rts = route_tables(&n);
	bool migrate;
	int ret;

	ret = exec(q->db, "BEGIN IMMEDIATE", err, errlen);
	if (ret)
		return ret;
	/* Schema 2's raw_events (json a stored column): its rows move to the
	 * new table as line_text. */
	migrate = sqlite3_table_column_metadata(q->db, NULL, "raw_events", "id", NULL, NULL,
						NULL, NULL, NULL) == SQLITE_OK &&
		  sqlite3_table_column_metadata(q->db, NULL, "raw_events", "line_off", NULL,
						NULL, NULL, NULL, NULL) != SQLITE_OK;
	if (migrate)
		ret = exec(q->db, "DROP INDEX IF EXISTS raw_events_time;"
			   "ALTER TABLE raw_events RENAME TO raw_events_v2", err, errlen);
	ret = ret ?: exec(q->db, schema_sql, err, errlen);
	if (migrate)
		ret = ret ?: exec(q->db, "INSERT INTO raw_events (id, device_id, seq, message_id,"
				  " time_ns, family, name, message_type, severity, host, line_text)"
				  " SELECT id, device_id, seq, message_id, time_ns, family, name,"
				  " message_type, severity, host, json FROM raw_events_v2;"
				  " DROP TABLE raw_events_v2", err, errlen);
	buf__init(&create, 1 << 16);
	buf__init(&insert, 1 << 16);
	buf__init(&archive, 1 << 16);
	for (unsigned i = 0; i < n && !ret; i++) {
		buf__reset(&create);
		buf__reset(&insert);
		buf__reset(&archive);
		ret = table_sql(&rts[i], &create, &insert, &archive);
		if (ret) {
			err_fail(ret, err, errlen, "store: table %s: a column name holds a quote",
				 rts[i].table);
			break;
		}
		ret = exec(q->db, create.data, err, errlen);
		ret = ret ?: add_missing_columns(q->db, &rts[i], err, errlen);
		ret = ret ?: create_indexes(q->db, &rts[i], err, errlen);
	}
	buf__free(&create);
	buf__free(&insert);
	buf__free(&archive);
	if (!ret) {
		char v[64];

		snprintf(v, sizeof(v), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
		ret = exec(q->db, v, err, errlen);
	}
	if (ret) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return ret;
	}
	return exec(q->db, "COMMIT", err, errlen);
}

/* The scanner's paths: route_head_cols, route_proc_cols, then every table's
 * own columns (sq_table.path0). */
static int prepare_paths(struct sq *q, char *err, size_t errlen)
{
	unsigned n = PATH_PROC + ROUTE_PROC_COLS, k = 0;
	const char **paths;
	int ret;

	for (unsigned i = 0; i < q->ntables; i++)
		n += q->tables[i].rt->ncols;
	paths = calloc(n, sizeof(*paths));
	if (!paths)
		return err_fail(-ENOMEM, err, errlen, "store: out of memory");
	for (unsigned i = 0; i < ROUTE_H_MAX; i++)
		paths[k++] = route_head_cols[i].path;
	for (unsigned i = 0; i < ROUTE_PROC_COLS; i++)
		paths[k++] = route_proc_cols[i].path;
	for (unsigned i = 0; i < q->ntables; i++) {
		q->tables[i].path0 = k;
		for (unsigned c = 0; c < q->tables[i].rt->ncols; c++)
			paths[k++] = q->tables[i].rt->cols[c].path;
	}
	ret = event_json__new(&q->ej, paths, n, err, errlen);
	free(paths);
	return ret;
}

static int prepare_tables(struct sq *q, char *err, size_t errlen)
{
	struct buf create, insert, archive;
	unsigned n;
	const struct route_table *rts = route_tables(&n);
	int ret = 0;

	q->tables = calloc(n, sizeof(*q->tables));
	if (!q->tables)
		return err_fail(-ENOMEM, err, errlen, "store: out of memory");
	q->ntables = n;
	buf__init(&create, 1 << 16);
	buf__init(&insert, 1 << 16);
	buf__init(&archive, 1 << 16);
	for (unsigned i = 0; i < n && !ret; i++) {
		struct sq_table *t = &q->tables[i];
		char sql[128];

		t->rt = &rts[i];
		buf__reset(&create);
		buf__reset(&insert);
		buf__reset(&archive);
		ret = table_sql(&rts[i], &create, &insert, &archive);
		ret = ret ?: prep(q->db, insert.data, &t->insert, err, errlen);
		ret = ret ?: prep(q->db, archive.data, &t->archive, err, errlen);
		if (!ret) {
			const char *v = strstr(insert.data, ") VALUES (");
			char *values = v ? strdup(v + 9) : NULL;	/* "(?, ..., ?)" */

			t->nparams = (unsigned)sqlite3_bind_parameter_count(t->insert);
			for (unsigned r = 1; r < STORE_MULTI_ROWS && values; r++)
				ret |= buf__addf(&insert, ",%s", values);
			if (ret || !values)
				ret = err_fail(-ENOMEM, err, errlen, "store: out of memory");
			free(values);
			ret = ret ?: prep(q->db, insert.data, &t->insert_n, err, errlen);
			t->vals = calloc((size_t)STORE_MULTI_ROWS * t->nparams, sizeof(*t->vals));
			if (!ret && !t->vals)
				ret = err_fail(-ENOMEM, err, errlen, "store: out of memory");
		}
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?1", rts[i].table);
		ret = ret ?: prep(q->db, sql, &t->del, err, errlen);
	}
	buf__free(&create);
	buf__free(&insert);
	buf__free(&archive);
	return ret ?: prepare_paths(q, err, errlen);
}

static int prepare_common(struct sq *q, char *err, size_t errlen)
{
	static const struct {
		size_t off;
		const char *sql;
	} s[] = {
		{ offsetof(struct sq, batch_get),
		  "SELECT sha256 FROM batches WHERE device_id = ?1 AND seq = ?2" },
		{ offsetof(struct sq, batch_put),
		  "INSERT INTO batches (device_id, seq, sha256, key_id, created_ns, received_ns,"
		  " event_count, events_stored, events_malformed, raw_bytes, wire_bytes)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)" },
		{ offsetof(struct sq, dev_get),
		  "SELECT last_seq FROM devices WHERE device_id = ?1" },
		{ offsetof(struct sq, dev_put),
		  "INSERT INTO devices (device_id, org_id, last_seq, first_seen_ns, last_seen_ns,"
		  " batches, events, raw_bytes, wire_bytes, gaps, lost_seqs, duplicates, stale,"
		  " replay_conflicts, malformed_events)"
		  " VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
		  " ON CONFLICT (device_id) DO UPDATE SET org_id = excluded.org_id,"
		  " last_seq = max(last_seq, excluded.last_seq),"
		  " last_seen_ns = excluded.last_seen_ns,"
		  " batches = batches + excluded.batches, events = events + excluded.events,"
		  " raw_bytes = raw_bytes + excluded.raw_bytes,"
		  " wire_bytes = wire_bytes + excluded.wire_bytes, gaps = gaps + excluded.gaps,"
		  " lost_seqs = lost_seqs + excluded.lost_seqs,"
		  " duplicates = duplicates + excluded.duplicates, stale = stale + excluded.stale,"
		  " replay_conflicts = replay_conflicts + excluded.replay_conflicts,"
		  " malformed_events = malformed_events + excluded.malformed_events" },
		{ offsetof(struct sq, raw_put),
		  "INSERT OR IGNORE INTO raw_events (device_id, seq, message_id, time_ns, family,"
		  " name, message_type, severity, host, line_text, line_off, line_len)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)" },
		{ offsetof(struct sq, body_put),
		  "INSERT INTO raw_batches (device_id, seq, flags, raw_len, max_time_ns, body)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
		{ offsetof(struct sq, body_keep),
		  "UPDATE raw_batches SET max_time_ns = ?3"
		  " WHERE device_id = ?1 AND seq = ?2 AND max_time_ns < ?3" },
		{ offsetof(struct sq, body_expire),
		  "DELETE FROM raw_batches WHERE id IN"
		  " (SELECT id FROM raw_batches WHERE max_time_ns < ?1 LIMIT ?2)" },
		{ offsetof(struct sq, type_put),
		  "INSERT INTO type_stats (family, name, count, bytes) VALUES (?1, ?2, ?3, ?4)"
		  " ON CONFLICT (family, name) DO UPDATE SET count = count + excluded.count,"
		  " bytes = bytes + excluded.bytes" },
		{ offsetof(struct sq, rej_put),
		  "INSERT INTO rejections (reason, count, last_ns) VALUES (?1, ?2, ?3)"
		  " ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count,"
		  " last_ns = excluded.last_ns" },
		{ offsetof(struct sq, arch_len_get),
		  "SELECT committed_len FROM archive_files WHERE path = ?1" },
		{ offsetof(struct sq, arch_len_put),
		  "INSERT INTO archive_files (path, committed_len) VALUES (?1, ?2)"
		  " ON CONFLICT (path) DO UPDATE SET committed_len = excluded.committed_len" },
		{ offsetof(struct sq, arch_forget),
		  "DELETE FROM archive_files WHERE path > ?1 || '/' AND path < ?1 || '0'" },
		{ offsetof(struct sq, raw_expire),
		  "DELETE FROM raw_events WHERE id IN"
		  " (SELECT id FROM raw_events WHERE time_ns < ?1 LIMIT ?2)" },
		{ offsetof(struct sq, batch_expire),
		  "DELETE FROM batches WHERE (device_id, seq) IN (SELECT device_id, seq"
		  " FROM batches WHERE received_ns < ?1 LIMIT ?2)" },
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		int ret = prep(q->db, s[i].sql, (sqlite3_stmt **)((char *)q + s[i].off), err,
			       errlen);

		if (ret)
			return ret;
	}
	return 0;
}

/* The store file holds every event: created 0600, and an existing one
 * keeps no wider mode (SQLite gives the WAL the database file's mode). */
static int prepare_file(const char *path, bool read_only, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(path, (read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_NOFOLLOW | O_CLOEXEC |
		  O_NOCTTY, 0600);
	if (fd < 0)
		return err_fail(-errno, err, errlen, "store: %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = err_fail(-errno, err, errlen, "store: %s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		ret = err_fail(-EINVAL, err, errlen, "store: %s: not a regular file", path);
	} else if (!read_only && (st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0) {
		ret = err_fail(-errno, err, errlen, "store: %s: chmod: %s", path, strerror(errno));
	}
	close(fd);
	return ret;
}

/* archive_dir: created 0700 when missing; refused when it is a symlink, not
 * ours, or writable by others (they could swap day directories under us). */
static int open_archive_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_fail(-errno, err, errlen, "store: archive_dir %s: %s", path,
				strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_fail(-errno, err, errlen, "store: archive_dir %s: %s", path,
				errno == ELOOP || errno == ENOTDIR ?
				"not a directory (or a symlink)" : strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return err_fail(-e, err, errlen, "store: archive_dir %s: %s", path, strerror(e));
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return err_fail(-EPERM, err, errlen, "store: archive_dir %s: must be owned by "
				"uid %u and not writable by group or others", path,
				(unsigned)geteuid());
	}
	return fd;
}

/* ---- raw bodies: vigil_raw_json(device_id, seq, offset, length) ---- */

struct raw_body {
	char device_id[BATCH_DEVICE_ID_MAX + 1];
	int64_t seq;
	char *data;		/* NULL: a free slot */
	size_t len;
	uint64_t used;		/* LRU tick */
};

/* What block_cache's loads read through: a connection and a context. */
struct blocks_loader {
	sqlite3 *db;
	ZSTD_DCtx *dctx;
};

/* One per connection (the function's user data), freed when it closes. */
struct raw_cache {
	struct raw_body e[STORE_RAW_CACHE_ENTRIES];
	uint64_t tick, bytes, decompressions, evictions;
	ZSTD_DCtx *dctx;
	struct block_cache *blocks;	/* remote references met in bodies read */
	struct blocks_loader loader;
	/* Set while the writer inserts raw rows: SQLite computes every
	 * generated column of a new row, VIRTUAL ones too, and drops the
	 * value; reading the body (not stored yet) for it would be waste. */
	bool inserting;
};

static void raw_cache_free(void *p)
{
	struct raw_cache *c = p;

	if (!c)
		return;
	for (unsigned i = 0; i < STORE_RAW_CACHE_ENTRIES; i++)
		free(c->e[i].data);
	block_cache__free(c->blocks);
	ZSTD_freeDCtx(c->dctx);
	free(c);
}

static void raw_cache_drop(struct raw_cache *c, struct raw_body *b)
{
	c->bytes -= b->len;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	c->evictions++;
}

/* The body of (device_id, seq) as sent, decompressed (shared blocks not
 * expanded) into a new buffer: *out, *n, *flags. Returns NULL, or the
 * reason it failed; *missing tells "no such batch" from the rest. */
static const char *raw_body_load(ZSTD_DCtx *dctx, sqlite3 *db, const char *device_id,
				 int64_t seq, char **out, size_t *n, int64_t *flags_out,
				 bool *missing)
{
	sqlite3_stmt *s;
	const char *why = NULL;
	int rc;

	*out = NULL;
	*missing = false;
	rc = sqlite3_prepare_v2(db, "SELECT body, flags, raw_len FROM raw_batches"
				" WHERE device_id = ?1 AND seq = ?2", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return "vigil_raw_json: cannot read raw_batches";
	sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const void *body = sqlite3_column_blob(s, 0);
		size_t blen = (size_t)sqlite3_column_bytes(s, 0);
		int64_t flags = sqlite3_column_int64(s, 1), raw_len = sqlite3_column_int64(s, 2);
		char *p = NULL;

		if (raw_len <= 0 || raw_len > STORE_RAW_BODY_MAX ||
		    (flags & ~(int64_t)(BATCH_FLAG_ZSTD | BATCH_FLAG_BLOCKS)) != 0)
			why = "vigil_raw_json: the stored batch has a bad length or flags";
		else if (!(p = malloc((size_t)raw_len)))
			why = "vigil_raw_json: out of memory";
		else if (flags & 1) {
			size_t r = ZSTD_decompressDCtx(dctx, p, (size_t)raw_len, body, blen);

			if (ZSTD_isError(r) || r != (size_t)raw_len)
				why = "vigil_raw_json: the stored batch body does not decompress";
		} else if (blen != (size_t)raw_len) {
			why = "vigil_raw_json: the stored batch body is not raw_len bytes";
		} else {
			memcpy(p, body, blen);
		}
		if (why) {
			free(p);
		} else {
			*out = p;
			*n = (size_t)raw_len;
			*flags_out = flags;
		}
	} else if (rc == SQLITE_DONE) {
		why = "vigil_raw_json: no stored batch for this row";
		*missing = true;
	} else {
		why = "vigil_raw_json: cannot read raw_batches";
	}
	sqlite3_finalize(s);
	return why;
}

/* block_cache_load_fn over a connection (struct blocks_loader). */
static int load_blocks_body(void *ctx, const char *device_id, uint64_t seq, char **body,
			    size_t *len)
{
	struct blocks_loader *l = ctx;
	int64_t flags;
	bool missing;

	if (seq > INT64_MAX)
		return -ENOENT;
	if (raw_body_load(l->dctx, l->db, device_id, (int64_t)seq, body, len, &flags, &missing))
		return missing ? -ENOENT : -EIO;
	return 0;
}

/* c's block cache, reading through db (made on first use); NULL: no memory. */
static struct block_cache *raw_cache_blocks(struct raw_cache *c, sqlite3 *db)
{
	c->loader.db = db;
	c->loader.dctx = c->dctx;
	if (!c->blocks &&
	    block_cache__new(&c->blocks, STORE_BLOCK_CACHE_BYTES, load_blocks_body, &c->loader))
		return NULL;
	return c->blocks;
}

/* The body of (device_id, seq) as batch_open gave its lines (shared blocks
 * expanded, remote ones through c's block cache) into a new buffer: *out,
 * *n. Returns NULL, or the reason it failed (an SQL error message). */
static const char *raw_load(struct raw_cache *c, sqlite3 *db, const char *device_id,
			    int64_t seq, char **out, size_t *n)
{
	const char *why;
	int64_t flags = 0;
	bool missing;
	char *p;

	*out = NULL;
	why = raw_body_load(c->dctx, db, device_id, seq, &p, n, &flags, &missing);
	if (why)
		return why;
	if (flags & BATCH_FLAG_BLOCKS) {
		/* Offsets are into the lines as batch_open expanded them. */
		struct blocks_resolver res;
		struct buf x;

		if (!raw_cache_blocks(c, db)) {
			free(p);
			return "vigil_raw_json: out of memory";
		}
		block_cache__resolver(c->blocks, device_id, (uint64_t)seq, &res, NULL, 0);
		buf__init(&x, STORE_RAW_BODY_MAX);
		if (blocks_expand(p, *n, BLOCKS_ANY_EVENTS, STORE_RAW_BODY_MAX, &x, &res, NULL,
				  0)) {
			buf__free(&x);
			free(p);
			return "vigil_raw_json: the stored batch body does not expand";
		}
		free(p);
		p = x.data;
		*n = x.len;
	}
	*out = p;
	return NULL;
}

static void raw_json_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct raw_cache *c = sqlite3_user_data(ctx);
	const char *dev = (const char *)sqlite3_value_text(argv[0]);
	int64_t seq = sqlite3_value_int64(argv[1]), off = sqlite3_value_int64(argv[2]);
	int64_t len = sqlite3_value_int64(argv[3]);
	struct raw_body *b = NULL, *lru = NULL;
	const char *why;
	char *data;
	size_t n;

	(void)argc;
	if (c->inserting)
		return;
	for (int i = 0; i < 4; i++)
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
			return;	/* NULL in, NULL out (a row stored as text) */
	if (!dev || strlen(dev) > BATCH_DEVICE_ID_MAX || off < 0 || len < 0 ||
	    off > STORE_RAW_BODY_MAX || len > STORE_RAW_BODY_MAX) {
		sqlite3_result_error(ctx, "vigil_raw_json: argument out of range", -1);
		return;
	}
	for (unsigned i = 0; i < STORE_RAW_CACHE_ENTRIES; i++) {
		struct raw_body *e = &c->e[i];

		if (e->data && e->seq == seq && strcmp(e->device_id, dev) == 0) {
			b = e;
			break;
		}
		if (!lru || !e->data || (lru->data && e->used < lru->used))
			lru = e;
	}
	if (!b) {
		why = raw_load(c, sqlite3_context_db_handle(ctx), dev, seq, &data, &n);
		if (why) {
			sqlite3_result_error(ctx, why, -1);
			return;
		}
		c->decompressions++;
		if (lru->data)
			raw_cache_drop(c, lru);
		for (unsigned i = 0; i < STORE_RAW_CACHE_ENTRIES &&
		     c->bytes + n > STORE_RAW_CACHE_BYTES; i++)
			if (c->e[i].data)
				raw_cache_drop(c, &c->e[i]);
		b = lru;
		snprintf(b->device_id, sizeof(b->device_id), "%s", dev);
		b->seq = seq;
		b->data = data;
		b->len = n;
		c->bytes += n;
	}
	b->used = ++c->tick;
	if ((uint64_t)off + (uint64_t)len > b->len) {
		sqlite3_result_error(ctx, "vigil_raw_json: the line is outside its batch", -1);
		return;
	}
	sqlite3_result_text64(ctx, b->data + off, (sqlite3_uint64)len, SQLITE_TRANSIENT,
			      SQLITE_UTF8);
}

static int add_functions(sqlite3 *db, struct raw_cache **out, char *err, size_t errlen)
{
	struct raw_cache *c = calloc(1, sizeof(*c));
	int rc;

	if (out)
		*out = NULL;
	if (!c || !(c->dctx = ZSTD_createDCtx())) {
		raw_cache_free(c);
		return err_fail(-ENOMEM, err, errlen, "store: out of memory");
	}
	/* DETERMINISTIC: a generated column may use it (a stored body never
	 * changes); INNOCUOUS: it works with trusted_schema off. On failure
	 * SQLite calls raw_cache_free itself. */
	rc = sqlite3_create_function_v2(db, "vigil_raw_json", 4, SQLITE_UTF8 |
					SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, c, raw_json_fn,
					NULL, NULL, raw_cache_free);
	if (rc != SQLITE_OK)
		return sq_fail(db, rc, "registering vigil_raw_json", err, errlen);
	if (out)
		*out = c;
	return 0;
}

int store_sqlite__add_functions(sqlite3 *db, char *err, size_t errlen)
{
	return add_functions(db, NULL, err, errlen);
}

static int open_ro(struct store *st, char *err, size_t errlen)
{
	struct sq *q = st->priv;
	int rc;

	if (q->ro)
		return 0;
	rc = sqlite3_open_v2(st->cfg.path, &q->ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_fail(q->ro, rc, "opening a read-only connection", err, errlen);
		sqlite3_close(q->ro);
		q->ro = NULL;
		return rc;
	}
	sqlite3_busy_timeout(q->ro, STORE_BUSY_MS);
	rc = add_functions(q->ro, &q->ro_cache, err, errlen);
	return rc ?: exec(q->ro, "PRAGMA query_only = 1", err, errlen);
}

static void sq_close(struct store *st)
{
	struct sq *q = st->priv;

	if (!q)
		return;
	for (unsigned i = 0; q->tables && i < q->ntables; i++) {
		sqlite3_finalize(q->tables[i].insert);
		sqlite3_finalize(q->tables[i].insert_n);
		free(q->tables[i].vals);
		sqlite3_finalize(q->tables[i].archive);
		sqlite3_finalize(q->tables[i].del);
	}
	free(q->tables);
	event_json__free(q->ej);
	free(q->scratch);
	buf__free(&q->arena);
	sqlite3_stmt *all[] = { q->batch_get, q->batch_put, q->dev_get,
				q->dev_put, q->raw_put, q->type_put, q->rej_put, q->arch_len_get,
				q->arch_len_put, q->arch_forget, q->raw_expire, q->batch_expire,
				q->body_put, q->body_expire, q->body_keep };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	/* Syncs what was committed; its connection closes first, so that
	 * closing q->db (the last one) checkpoints and removes the WAL. */
	store_wal__stop(q->wal);
	if (q->ro && q->ro != q->db)
		sqlite3_close(q->ro);
	sqlite3_close(q->db);
	if (q->archive_fd >= 0)
		close(q->archive_fd);
	ZSTD_freeCCtx(q->zc);
	buf__free(&q->arch);
	free(q->ids);
	free(q->zbuf);
	free(q);
	st->priv = NULL;
}

/* SQLite's wal hook, after each commit of the writer: the WAL's size for
 * store_wal's checkpointer, and what the autocheckpoint it replaces did: a
 * PASSIVE checkpoint once the WAL holds STORE_WAL_CHECKPOINT_PAGES, after
 * which the next transaction starts the WAL over. The checkpointer has
 * copied all but its last step by then. */
static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct sq *q = ctx;

	q->wal_frames = frames;
	if (frames >= STORE_WAL_CHECKPOINT_PAGES) {
		q->writer_checkpoints++;
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
}

static int sq_open(struct store *st, char *err, size_t errlen)
{
	const struct store_config *cfg = &st->cfg;
	struct sq *q;
	char pragmas[256];
	int rc, ret;

	if (!cfg->path || !*cfg->path || strcmp(cfg->path, ":memory:") == 0)
		return err_fail(-EINVAL, err, errlen, "store: path: a database file is needed");
	q = calloc(1, sizeof(*q));
	if (!q)
		return err_fail(-ENOMEM, err, errlen, "store: out of memory");
	q->archive_fd = -1;
	st->priv = q;
	buf__init(&q->arch, STORE_ARCHIVE_BUF);
	buf__init(&q->arena, STORE_ARENA_MAX);
	ret = prepare_file(cfg->path, cfg->read_only, err, errlen);
	if (ret)
		goto fail;
	/* NOMUTEX: a store is used by one thread at a time (store.h); the
	 * connection mutex every bind, step and column call takes was 3% of
	 * an insert's instructions (callgrind, storebench). */
	rc = sqlite3_open_v2(cfg->path, &q->db, (cfg->read_only ? SQLITE_OPEN_READONLY :
			     SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		ret = sq_fail(q->db, rc, cfg->path, err, errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, STORE_BUSY_MS);
	ret = add_functions(q->db, &q->rw_cache, err, errlen);
	if (ret)
		goto fail;
	q->ro_cache = q->rw_cache;
	if (cfg->read_only) {
		q->ro = q->db;
		ret = exec(q->db, "PRAGMA query_only = 1", err, errlen);
		if (!ret && sqlite3_table_column_metadata(q->db, NULL, "raw_events", NULL, NULL,
							  NULL, NULL, NULL, NULL) != SQLITE_OK)
			ret = err_fail(-ENOENT, err, errlen, "store: %s: not a vigil store (no "
				       "raw_events table)", cfg->path);
		if (ret)
			goto fail;
		return 0;
	}
	/* page_size only takes effect on a new file, before WAL is on. */
	snprintf(pragmas, sizeof(pragmas), "PRAGMA page_size = %d; PRAGMA journal_mode = WAL; "
		 "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = %d; "
		 "PRAGMA cache_size = -%d", STORE_PAGE_SIZE, STORE_WAL_LIMIT_BYTES,
		 STORE_CACHE_KIB);
	ret = exec(q->db, pragmas, err, errlen);
	ret = ret ?: create_schema(q, err, errlen);
	ret = ret ?: prepare_tables(q, err, errlen);
	ret = ret ?: prepare_common(q, err, errlen);
	/* From here commits are synced by store_wal's thread (the schema was
	 * with FULL), and checkpoints are wal_hook's and that thread's. */
	ret = ret ?: exec(q->db, "PRAGMA synchronous = NORMAL", err, errlen);
	if (ret)
		goto fail;
	sqlite3_wal_hook(q->db, wal_hook, q);
	ret = store_wal__start(&q->wal, cfg->path, STORE_WAL_CHECKPOINT_STEP, err, errlen);
	if (ret)
		goto fail;
	q->ids = calloc(cfg->retention_chunk, sizeof(*q->ids));
	q->zc = ZSTD_createCCtx();
	if (!q->ids || !q->zc ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(q->zc, ZSTD_c_compressionLevel,
						 STORE_ARCHIVE_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(q->zc, ZSTD_c_checksumFlag, 1))) {
		ret = err_fail(-ENOMEM, err, errlen, "store: out of memory");
		goto fail;
	}
	if (cfg->archive_dir) {
		ret = open_archive_dir(cfg->archive_dir, err, errlen);
		if (ret < 0)
			goto fail;
		q->archive_fd = ret;
		ret = 0;
	}
	return 0;
fail:
	sq_close(st);
	return ret;
}

static int put_rejection(struct sq *q, const char *reason, uint64_t n, uint64_t now_ns,
			 char *err, size_t errlen)
{
	if (!n)
		return 0;
	sqlite3_bind_text(q->rej_put, 1, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q->rej_put, 2, clamp_i64(n));
	sqlite3_bind_int64(q->rej_put, 3, clamp_i64(now_ns));
	return step_done(q->db, q->rej_put, "counting rejections", err, errlen);
}

/* Pending rejection counters, inside the caller's transaction; cleared by
 * the caller once it committed. */
static int put_rejections(struct store *st, uint64_t now_ns, char *err, size_t errlen)
{
	struct sq *q = st->priv;
	int ret = 0;

	for (unsigned i = 0; i < st->npending && !ret; i++)
		ret = put_rejection(q, st->pending[i].reason, st->pending[i].count, now_ns, err,
				    errlen);
	return ret ?: put_rejection(q, "other", st->rejections_dropped, now_ns, err, errlen);
}

static void clear_rejections(struct store *st)
{
	st->npending = 0;
	st->rejections_dropped = 0;
}

/* Commits the writer's transaction; it is durable once store_wal says
 * q->ticket is. */
static int commit(struct sq *q, char *err, size_t errlen)
{
	int rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		int ret = sq_fail(q->db, rc, "commit", err, errlen);

		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return ret;
	}
	q->ticket++;
	if (q->wal)
		store_wal__committed(q->wal, q->ticket, q->wal_frames);
	return 0;
}

/* After a failed sync nothing more is acknowledged: refuse the batch. */
static int wal_ok(struct sq *q, char *err, size_t errlen)
{
	char msg[STORE_WAL_ERR_MAX];
	int e = q->wal ? store_wal__error(q->wal, msg, sizeof(msg)) : 0;

	if (e)
		return err_fail(e, err, errlen, "%s; batches are refused until the collector is "
				"restarted", msg);
	return 0;
}

static void rollback(struct sq *q)
{
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_flush(struct store *st, char *err, size_t errlen)
{
	struct sq *q = st->priv;
	int ret;

	if (!st->npending && !st->rejections_dropped)
		return 0;
	if (st->cfg.read_only)
		return err_fail(-EROFS, err, errlen, "store: opened read-only");
	ret = exec(q->db, "BEGIN IMMEDIATE", err, errlen);
	if (ret)
		return ret;
	ret = put_rejections(st, now_realtime_ns(), err, errlen);
	ret = ret ?: commit(q, err, errlen);
	if (ret) {
		rollback(q);
		return ret;
	}
	clear_rejections(st);
	return 0;
}

static const struct sq_table *table_of(const struct sq *q, const struct route_table *rt)
{
	for (unsigned i = 0; rt && i < q->ntables; i++)
		if (q->tables[i].rt == rt)
			return &q->tables[i];
	return NULL;
}

static void agg_add(struct sq *q, const char *family, size_t flen, const char *name,
		    size_t nlen, size_t bytes)
{
	struct type_agg *a = NULL;

	for (unsigned i = 0; i < q->nagg; i++) {
		if (q->agg[i].family_len == flen && q->agg[i].name_len == nlen &&
		    memcmp(q->agg[i].family, family, flen) == 0 &&
		    memcmp(q->agg[i].name, name, nlen) == 0) {
			a = &q->agg[i];
			break;
		}
	}
	if (!a) {
		if (q->nagg < STORE_MAX_TYPES) {
			a = &q->agg[q->nagg++];
			memcpy(a->family, family, flen);
			memcpy(a->name, name, nlen);
			a->family_len = flen;
			a->name_len = nlen;
		} else {
			a = &q->agg[STORE_MAX_TYPES];
			memcpy(a->family, "(other)", 7);
			memcpy(a->name, "(other)", 7);
			a->family_len = a->name_len = 7;
		}
		a->count = a->bytes = 0;
	}
	a->count++;
	a->bytes += bytes;
}

/* A column of the line being stored: what json_extract() gave for route
 * columns of type INT and TEXT, and nullif(line -> path, 'null') for JSON
 * columns, as the store did before event_json: the rows must not change. A
 * text may be in q->scratch, which the next call reuses. */
static void col_value(struct sq *q, const char *line, unsigned path, enum route_type how,
		      struct event_json_sql *o)
{
	const struct event_json_value *v = event_json__value(q->ej, path);

	if (how == ROUTE_JSON)
		event_json_arrow(line, v, q->scratch, o);
	else
		event_json_extract(line, v, q->scratch, o);
}

/* Binds o to parameter i of st. The line stays put until the statement is
 * stepped; the scratch does not. */
static void bind_value(const struct sq *q, sqlite3_stmt *st, int i,
		       const struct event_json_sql *o)
{
	switch (o->type) {
	case EVENT_JSON_SQL_INT:
		sqlite3_bind_int64(st, i, o->i);
		break;
	case EVENT_JSON_SQL_REAL:
		sqlite3_bind_double(st, i, o->d);
		break;
	case EVENT_JSON_SQL_TEXT:
		sqlite3_bind_text64(st, i, o->s, o->n, o->s >= q->scratch &&
				    o->s < q->scratch + q->scratch_cap ? SQLITE_TRANSIENT :
				    SQLITE_STATIC, SQLITE_UTF8);
		break;
	default:
		sqlite3_bind_null(st, i);
	}
}

static void bind_col(struct sq *q, sqlite3_stmt *st, int i, const char *line, unsigned path,
		     enum route_type how)
{
	struct event_json_sql v;

	col_value(q, line, path, how, &v);
	bind_value(q, st, i, &v);
}

/* A head text column that must be there: TEXT of 1..max bytes, copied to buf
 * (max bytes) so that later columns may reuse the scratch. */
static bool head_text(struct sq *q, const char *line, enum route_head h, char *buf, size_t max,
		      size_t *len)
{
	struct event_json_sql v;

	col_value(q, line, PATH_HEAD + h, route_head_cols[h].type, &v);
	if (v.type != EVENT_JSON_SQL_TEXT || v.n == 0 || v.n > max)
		return false;
	memcpy(buf, v.s, v.n);
	*len = v.n;
	return true;
}

/* The scratch holds any value of a line: unescaping and dropping whitespace
 * never lengthen a value, and a number gets its NUL. */
static int scratch_for(struct sq *q, size_t n, char *err, size_t errlen)
{
	char *p;

	if (q->scratch && q->scratch_cap >= n + 1)
		return 0;
	p = realloc(q->scratch, n + 1);
	if (!p)
		return err_fail(-ENOMEM, err, errlen, "store: out of memory for a %zu-byte event",
				n);
	q->scratch = p;
	q->scratch_cap = n + 1;
	return 0;
}

/* A waiting typed row's text that is not in the batch's lines (scratch, a
 * head copy on the stack) moves to the arena; s = NULL, i = its offset
 * there (the arena may move as it grows). Returns 0 or -E2BIG. */
static int keep(struct sq *q, struct event_json_sql *o, const char *line, size_t n)
{
	if (o->type != EVENT_JSON_SQL_TEXT || (o->s >= line && o->s + o->n <= line + n))
		return 0;
	o->i = (int64_t)q->arena.len;
	if (buf__add(&q->arena, o->s, o->n))
		return -E2BIG;
	o->s = NULL;
	return 0;
}

static void bind_kept(const struct sq *q, sqlite3_stmt *st, int i, const struct event_json_sql *o)
{
	if (o->type == EVENT_JSON_SQL_TEXT)
		sqlite3_bind_text64(st, i, o->s ? o->s : q->arena.data + o->i, o->n, SQLITE_STATIC,
				    SQLITE_UTF8);
	else
		bind_value(q, st, i, o);
}

/* The waiting rows of t: STORE_MULTI_ROWS in one statement, fewer one by
 * one. */
static int typed_flush(struct sq *q, struct sq_table *t, char *err, size_t errlen)
{
	bool multi = t->npending == STORE_MULTI_ROWS;
	unsigned rows = multi ? 1 : t->npending, per = multi ? t->npending * t->nparams :
			t->nparams;
	sqlite3_stmt *s = multi ? t->insert_n : t->insert;
	int ret = 0;

	for (unsigned r = 0; r < rows && !ret; r++) {
		const struct event_json_sql *v = t->vals + (size_t)r * t->nparams;

		for (unsigned i = 0; i < per; i++)
			bind_kept(q, s, (int)i + 1, &v[i]);
		ret = step_done(q->db, s, "inserting typed events", err, errlen);
	}
	t->npending = 0;
	return ret;
}

/* Every waiting typed row, at the end of a batch's lines; discard: the
 * batch failed, forget them. */
static int typed_flush_all(struct sq *q, bool discard, char *err, size_t errlen)
{
	int ret = 0;

	for (unsigned i = 0; i < q->ntables; i++)
		if (q->tables[i].npending && !ret && !discard)
			ret = typed_flush(q, &q->tables[i], err, errlen);
		else
			q->tables[i].npending = 0;
	buf__reset(&q->arena);
	return ret;
}

/* One event line: its raw row, then its typed row unless the raw row was a
 * duplicate. off >= 0: the raw row points at the line in the batch's stored
 * body (off bytes in) instead of holding its text. Returns 0 (stored,
 * duplicate or malformed: counted in res), or a negative errno that aborts
 * the batch. */
static int store_line(struct sq *q, const struct batch_meta *meta, const char *line, size_t n,
		      int64_t off, struct store_result *res, char *err, size_t errlen)
{
	char message_id[STORE_MESSAGE_ID_MAX], family[STORE_FAMILY_MAX], name[STORE_NAME_MAX];
	size_t mid_len, fam_len, name_len;
	struct event_json_sql time, mtype, sev, *v;
	struct sq_table *t;
	int ret, k, rank;
	bool alert;

	if (n > INT_MAX || event_json__scan(q->ej, line, n)) {
		res->events_malformed++;	/* not JSON, too big, too deep */
		return 0;
	}
	ret = scratch_for(q, n, err, errlen);
	if (ret)
		return ret;
	col_value(q, line, PATH_HEAD + ROUTE_H_TIME_NS, ROUTE_INT, &time);
	if (time.type != EVENT_JSON_SQL_INT ||
	    !head_text(q, line, ROUTE_H_MESSAGE_ID, message_id, sizeof(message_id), &mid_len) ||
	    !head_text(q, line, ROUTE_H_FAMILY, family, sizeof(family), &fam_len) ||
	    !head_text(q, line, ROUTE_H_NAME, name, sizeof(name), &name_len)) {
		res->events_malformed++;
		return 0;
	}

	sqlite3_bind_text(q->raw_put, 1, meta->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->raw_put, 2, (int64_t)meta->seq);
	sqlite3_bind_text64(q->raw_put, 3, message_id, mid_len, SQLITE_STATIC, SQLITE_UTF8);
	sqlite3_bind_int64(q->raw_put, 4, time.i);
	sqlite3_bind_text64(q->raw_put, 5, family, fam_len, SQLITE_STATIC, SQLITE_UTF8);
	sqlite3_bind_text64(q->raw_put, 6, name, name_len, SQLITE_STATIC, SQLITE_UTF8);
	col_value(q, line, PATH_HEAD + ROUTE_H_MESSAGE_TYPE, ROUTE_TEXT, &mtype);
	alert = mtype.type == EVENT_JSON_SQL_TEXT && mtype.n == 5 &&
		memcmp(mtype.s, "ALERT", 5) == 0;
	bind_value(q, q->raw_put, 7, &mtype);
	col_value(q, line, PATH_HEAD + ROUTE_H_SEVERITY, ROUTE_TEXT, &sev);
	rank = sev.type == EVENT_JSON_SQL_TEXT ? route_severity_rank(sev.s, sev.n) : 0;
	bind_value(q, q->raw_put, 8, &sev);
	bind_col(q, q->raw_put, 9, line, PATH_HEAD + ROUTE_H_HOST, ROUTE_TEXT);
	if (off >= 0) {
		sqlite3_bind_null(q->raw_put, 10);
		sqlite3_bind_int64(q->raw_put, 11, off);
		sqlite3_bind_int64(q->raw_put, 12, (int64_t)n);
	} else {
		sqlite3_bind_text64(q->raw_put, 10, line, n, SQLITE_STATIC, SQLITE_UTF8);
		sqlite3_bind_null(q->raw_put, 11);
		sqlite3_bind_null(q->raw_put, 12);
	}
	ret = step_done(q->db, q->raw_put, "inserting a raw event", err, errlen);
	if (ret)
		return ret;
	if (sqlite3_changes(q->db) == 0) {
		res->events_duplicate++;
		return 0;
	}
	res->events_stored++;
	if (time.i > q->max_time_ns)
		q->max_time_ns = time.i;
	agg_add(q, family, fam_len, name, name_len, n + 1);
	t = (struct sq_table *)table_of(q, route_find(family, fam_len, alert ? "ALERT" : NULL, alert ? 5 : 0));
	if (!t) {
		res->events_untyped++;
		return 0;
	}

	v = t->vals + (size_t)t->npending * t->nparams;
	v[0] = (struct event_json_sql){ .type = EVENT_JSON_SQL_INT, .i = time.i };
	col_value(q, line, PATH_HEAD + ROUTE_H_HOST, ROUTE_TEXT, &v[1]);
	v[2] = (struct event_json_sql){ .type = EVENT_JSON_SQL_TEXT, .s = meta->device_id,
					.n = strlen(meta->device_id) };
	v[3] = (struct event_json_sql){ .type = EVENT_JSON_SQL_TEXT, .s = message_id,
					.n = mid_len };
	v[4] = (struct event_json_sql){ .type = EVENT_JSON_SQL_TEXT, .s = name, .n = name_len };
	col_value(q, line, PATH_HEAD + ROUTE_H_SEVERITY, ROUTE_TEXT, &v[5]);
	v[6] = (struct event_json_sql){ .type = EVENT_JSON_SQL_INT, .i = rank };
	ret = keep(q, &v[1], line, n) ?: keep(q, &v[3], line, n) ?: keep(q, &v[4], line, n) ?:
	      keep(q, &v[5], line, n);
	k = ROUTE_COMMON_COLS - 1;
	for (unsigned c = 0; !ret && t->rt->process && c < ROUTE_PROC_COLS; c++) {
		col_value(q, line, PATH_PROC + c, route_proc_cols[c].type, &v[k]);
		ret = keep(q, &v[k++], line, n);
	}
	for (unsigned c = 0; !ret && c < t->rt->ncols; c++) {
		col_value(q, line, t->path0 + c, t->rt->cols[c].type, &v[k]);
		ret = keep(q, &v[k++], line, n);
	}
	if (ret)
		return err_fail(ret, err, errlen, "store: more than %u bytes of decoded values "
				"in one batch", STORE_ARENA_MAX);
	if (++t->npending == STORE_MULTI_ROWS)
		return typed_flush(q, t, err, errlen);
	return 0;
}

static int meta_check(const struct batch_meta *meta, char *err, size_t errlen)
{
	size_t n = strnlen(meta->device_id, sizeof(meta->device_id));

	if (n == 0 || n > BATCH_DEVICE_ID_MAX || strspn(meta->device_id, "0123456789abcdef") != n)
		return err_fail(-EINVAL, err, errlen, "store: batch device id is not 1..%d "
				"lowercase hex digits", BATCH_DEVICE_ID_MAX);
	if (strnlen(meta->org_id, sizeof(meta->org_id)) > BATCH_ORG_ID_MAX)
		return err_fail(-EINVAL, err, errlen, "store: batch org id is not terminated");
	if (meta->seq == 0 || meta->seq > (uint64_t)INT64_MAX)
		return err_fail(-EINVAL, err, errlen, "store: batch seq %llu is out of range "
				"(1..2^63-1)", (unsigned long long)meta->seq);
	return 0;
}

/* The devices row: counters added, last_seq raised to seq (0 leaves it). */
static int put_device(struct sq *q, const struct batch_meta *meta, uint64_t seq, uint64_t now_ns,
		      const int64_t c[10], char *err, size_t errlen)
{
	sqlite3_bind_text(q->dev_put, 1, meta->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q->dev_put, 2, meta->org_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->dev_put, 3, (int64_t)seq);
	sqlite3_bind_int64(q->dev_put, 4, clamp_i64(now_ns));
	for (int i = 0; i < 10; i++)
		sqlite3_bind_int64(q->dev_put, 5 + i, c[i]);
	return step_done(q->db, q->dev_put, "updating the device", err, errlen);
}

enum { DEV_BATCHES, DEV_EVENTS, DEV_RAW, DEV_WIRE, DEV_GAPS, DEV_LOST, DEV_DUP, DEV_STALE,
       DEV_CONFLICT, DEV_MALFORMED };

static void pending_add(struct store *st, const char *reason, uint64_t n)
{
	unsigned i;

	if (!n)
		return;
	for (i = 0; i < st->npending; i++) {
		if (strncmp(st->pending[i].reason, reason, STORE_REASON_MAX) == 0) {
			st->pending[i].count += n;
			return;
		}
	}
	if (st->npending == STORE_MAX_REASONS) {
		st->rejections_dropped += n;
		return;
	}
	snprintf(st->pending[i].reason, sizeof(st->pending[i].reason), "%s", reason);
	st->pending[i].count = n;
	st->npending++;
}

static int sq_insert_batch(struct store *st, const struct batch_meta *meta,
			   const uint8_t batch_sha256[32], const char *lines, size_t len,
			   const void *body, size_t body_len, const uint64_t *ref_seqs,
			   uint32_t nref, struct store_result *res, char *err, size_t errlen)
{
	struct sq *q = st->priv;
	uint64_t now_ns = now_realtime_ns(), last = 0;
	int64_t c[10] = { 0 };
	int rc, ret;

	memset(res, 0, sizeof(*res));
	if (st->cfg.read_only)
		return err_fail(-EROFS, err, errlen, "store: opened read-only");
	ret = wal_ok(q, err, errlen);
	ret = ret ?: meta_check(meta, err, errlen);
	if (ret)
		return ret;
	/* With shared blocks, lines are the body expanded (longer than
	 * raw_len); raw_load expands it the same way to find them again. */
	if (body && (body_len != meta->body_len ||
		     len > STORE_RAW_BODY_MAX || body_len > STORE_RAW_BODY_MAX ||
		     (meta->flags & ~(BATCH_FLAG_ZSTD | BATCH_FLAG_BLOCKS)) ||
		     (!(meta->flags & BATCH_FLAG_BLOCKS) && len != meta->raw_len) ||
		     (!(meta->flags & BATCH_FLAG_ZSTD) && body_len != meta->raw_len)))
		return err_fail(-EINVAL, err, errlen, "store: batch body of %zu bytes (%zu "
				"uncompressed, flags %#x) does not match its header (%u, %u)",
				body_len, len, meta->flags, meta->body_len, meta->raw_len);
	ret = exec(q->db, "BEGIN IMMEDIATE", err, errlen);
	if (ret)
		return ret;

	sqlite3_bind_text(q->batch_get, 1, meta->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->batch_get, 2, (int64_t)meta->seq);
	rc = sqlite3_step(q->batch_get);
	if (rc == SQLITE_ROW) {
		bool same = sqlite3_column_bytes(q->batch_get, 0) == 32 &&
			    memcmp(sqlite3_column_blob(q->batch_get, 0), batch_sha256, 32) == 0;

		res->status = same ? STORE_DUPLICATE : STORE_REPLAY_CONFLICT;
	} else if (rc != SQLITE_DONE) {
		ret = sq_fail(q->db, rc, "looking up the batch", err, errlen);
	}
	sqlite3_reset(q->batch_get);
	if (ret)
		goto fail;

	sqlite3_bind_text(q->dev_get, 1, meta->device_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q->dev_get);
	if (rc == SQLITE_ROW)
		last = (uint64_t)sqlite3_column_int64(q->dev_get, 0);
	else if (rc != SQLITE_DONE)
		ret = sq_fail(q->db, rc, "looking up the device", err, errlen);
	sqlite3_reset(q->dev_get);
	if (ret)
		goto fail;

	if (res->status == STORE_STORED && meta->seq <= last)
		res->status = STORE_STALE;
	res->last_seq = last;
	if (res->status != STORE_STORED) {
		c[DEV_DUP] = res->status == STORE_DUPLICATE;
		c[DEV_STALE] = res->status == STORE_STALE;
		c[DEV_CONFLICT] = res->status == STORE_REPLAY_CONFLICT;
		if (res->status != STORE_DUPLICATE)
			ret = put_rejection(q, store_status_name(res->status), 1, now_ns, err,
					    errlen);
		ret = ret ?: put_device(q, meta, 0, now_ns, c, err, errlen);
		goto finish;
	}

	res->gap = meta->seq - last - 1;
	q->nagg = 0;
	q->max_time_ns = INT64_MIN;
	q->rw_cache->inserting = true;
	for (size_t off = 0; off < len && !ret;) {
		const char *nl = memchr(lines + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (lines + off)) : len - off;

		if (n)
			ret = store_line(q, meta, lines + off, n, body ? (int64_t)off : -1, res,
					 err, errlen);
		off += n + 1;
	}
	q->rw_cache->inserting = false;
	if (ret)
		typed_flush_all(q, true, NULL, 0);
	else
		ret = typed_flush_all(q, false, err, errlen);
	if (ret)
		goto fail;
	/* The body only when a row points into it. */
	if (body && res->events_stored) {
		sqlite3_bind_text(q->body_put, 1, meta->device_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q->body_put, 2, (int64_t)meta->seq);
		sqlite3_bind_int(q->body_put, 3,
				 (int)(meta->flags & (BATCH_FLAG_ZSTD | BATCH_FLAG_BLOCKS)));
		sqlite3_bind_int64(q->body_put, 4, (int64_t)meta->raw_len);
		sqlite3_bind_int64(q->body_put, 5, q->max_time_ns);
		sqlite3_bind_blob64(q->body_put, 6, body, body_len, SQLITE_STATIC);
		ret = step_done(q->db, q->body_put, "storing the batch body", err, errlen);
		/* The batches whose blocks it refers to live as long as it. */
		for (uint32_t i = 0; i < nref && !ret; i++) {
			if (ref_seqs[i] > INT64_MAX)
				continue;
			sqlite3_bind_text(q->body_keep, 1, meta->device_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q->body_keep, 2, (int64_t)ref_seqs[i]);
			sqlite3_bind_int64(q->body_keep, 3, q->max_time_ns);
			ret = step_done(q->db, q->body_keep, "keeping the batches it refers to",
					err, errlen);
		}
		if (ret)
			goto fail;
	}
	for (unsigned i = 0; i < q->nagg + (q->agg[STORE_MAX_TYPES].count ? 1 : 0) && !ret; i++) {
		const struct type_agg *a = &q->agg[i < q->nagg ? i : STORE_MAX_TYPES];

		sqlite3_bind_text64(q->type_put, 1, a->family, a->family_len, SQLITE_STATIC,
				    SQLITE_UTF8);
		sqlite3_bind_text64(q->type_put, 2, a->name, a->name_len, SQLITE_STATIC,
				    SQLITE_UTF8);
		sqlite3_bind_int64(q->type_put, 3, (int64_t)a->count);
		sqlite3_bind_int64(q->type_put, 4, (int64_t)a->bytes);
		ret = step_done(q->db, q->type_put, "counting event types", err, errlen);
	}
	q->agg[STORE_MAX_TYPES].count = 0;
	if (ret)
		goto fail;

	sqlite3_bind_text(q->batch_put, 1, meta->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->batch_put, 2, (int64_t)meta->seq);
	sqlite3_bind_blob(q->batch_put, 3, batch_sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int64(q->batch_put, 4, meta->key_id);
	sqlite3_bind_int64(q->batch_put, 5, clamp_i64(meta->created_ns));
	sqlite3_bind_int64(q->batch_put, 6, clamp_i64(now_ns));
	sqlite3_bind_int64(q->batch_put, 7, meta->event_count);
	sqlite3_bind_int64(q->batch_put, 8, res->events_stored);
	sqlite3_bind_int64(q->batch_put, 9, res->events_malformed);
	sqlite3_bind_int64(q->batch_put, 10, (int64_t)len);
	sqlite3_bind_int64(q->batch_put, 11,
			   (int64_t)BATCH_HEADER_LEN + meta->body_len + BATCH_HMAC_LEN);
	ret = step_done(q->db, q->batch_put, "recording the batch", err, errlen);
	if (ret)
		goto fail;

	c[DEV_BATCHES] = 1;
	c[DEV_EVENTS] = res->events_stored;
	c[DEV_RAW] = (int64_t)len;
	c[DEV_WIRE] = (int64_t)BATCH_HEADER_LEN + meta->body_len + BATCH_HMAC_LEN;
	c[DEV_GAPS] = res->gap ? 1 : 0;
	c[DEV_LOST] = clamp_i64(res->gap);
	c[DEV_MALFORMED] = res->events_malformed;
	ret = put_rejection(q, "malformed_event", res->events_malformed, now_ns, err, errlen);
	ret = ret ?: put_device(q, meta, meta->seq, now_ns, c, err, errlen);
	if (ret)
		goto fail;
	res->last_seq = meta->seq;
finish:
	ret = ret ?: put_rejections(st, now_ns, err, errlen);
	ret = ret ?: commit(q, err, errlen);
	if (ret)
		goto fail;
	clear_rejections(st);
	res->ticket = q->ticket;
	return 0;
fail:
	rollback(q);
	memset(res, 0, sizeof(*res));
	return ret;
}

static int sq_last_seq(struct store *st, const char *device_id, uint64_t *seq, char *err,
		       size_t errlen)
{
	struct sq *q = st->priv;
	sqlite3_stmt *s;
	int rc, ret = 0;

	*seq = 0;
	rc = sqlite3_prepare_v2(q->db, "SELECT last_seq FROM devices WHERE device_id = ?1", -1,
				&s, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(q->db, rc, "looking up the device", err, errlen);
	sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*seq = (uint64_t)sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		ret = sq_fail(q->db, rc, "looking up the device", err, errlen);
	sqlite3_finalize(s);
	return ret;
}

/* ---- retention ---- */

static void utc_day(int64_t time_ns, char day[16])
{
	time_t t = time_ns < 0 ? 0 : (time_t)(time_ns / (int64_t)NS_PER_S);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(day, 16, "%Y-%m-%d", &tm))
		snprintf(day, 16, "1970-01-01");
}

static int write_all_at(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;

	while (n) {
		ssize_t w = pwrite(fd, c, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Appends q->arch (lines of one table and day) as one zstd frame to
 * archive_dir/day/<table>.jsonl.zst, inside the caller's transaction.
 * archive_files holds each file's committed length, updated in that same
 * transaction: bytes past it were written by an attempt whose deletions
 * did not commit (a crash, a failed commit), so they are cut before the
 * append. The rows are therefore in the archive exactly once, and never
 * deleted before their frame is fsynced. */
static int archive_append(struct store *st, const char *table, const char *day, char *err,
			  size_t errlen)
{
	struct sq *q = st->priv;
	char rel[128], name[96];
	struct stat sb;
	int64_t committed = 0;
	int dayfd = -1, fd = -1, rc, ret = 0;
	bool created_day = false, created_file = false;
	size_t zn;

	if (!q->arch.len)
		return 0;
	snprintf(name, sizeof(name), "%s.jsonl.zst", table);
	snprintf(rel, sizeof(rel), "%s/%s", day, name);
	if (mkdirat(q->archive_fd, day, 0700) == 0)
		created_day = true;
	else if (errno != EEXIST)
		return err_fail(-errno, err, errlen, "store: archive %s: %s", day, strerror(errno));
	dayfd = openat(q->archive_fd, day, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dayfd < 0)
		return err_fail(-errno, err, errlen, "store: archive %s: %s", day, strerror(errno));
	fd = openat(dayfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(dayfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
			    O_NOCTTY, 0600);
		created_file = fd >= 0;
	}
	if (fd < 0 || fstat(fd, &sb) < 0) {
		ret = err_fail(-errno, err, errlen, "store: archive %s: %s", rel, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = err_fail(-EINVAL, err, errlen, "store: archive %s: not a regular file", rel);
		goto out;
	}
	sqlite3_bind_text(q->arch_len_get, 1, rel, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q->arch_len_get);
	if (rc == SQLITE_ROW)
		committed = sqlite3_column_int64(q->arch_len_get, 0);
	sqlite3_reset(q->arch_len_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = sq_fail(q->db, rc, "reading the archive length", err, errlen);
		goto out;
	}
	/* Shorter than committed: cut or replaced behind our back; append to
	 * what is there rather than leave a hole. */
	if (sb.st_size < committed)
		committed = sb.st_size;
	if (sb.st_size > committed && ftruncate(fd, committed) < 0) {
		ret = err_fail(-errno, err, errlen, "store: archive %s: truncate: %s", rel,
			       strerror(errno));
		goto out;
	}

	zn = ZSTD_compressBound(q->arch.len);
	if (zn > q->zcap) {
		void *nb = realloc(q->zbuf, zn);

		if (!nb) {
			ret = err_fail(-ENOMEM, err, errlen, "store: out of memory");
			goto out;
		}
		q->zbuf = nb;
		q->zcap = zn;
	}
	zn = ZSTD_compress2(q->zc, q->zbuf, q->zcap, q->arch.data, q->arch.len);
	if (ZSTD_isError(zn)) {
		ret = err_fail(-EIO, err, errlen, "store: archive %s: zstd: %s", rel,
			       ZSTD_getErrorName(zn));
		goto out;
	}
	ret = write_all_at(fd, q->zbuf, zn, (off_t)committed);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	/* A new name must survive a crash too, or the rows deleted below would
	 * be in a file no directory lists. */
	if (!ret && created_file && fsync(dayfd) < 0)
		ret = -errno;
	if (!ret && created_day && fsync(q->archive_fd) < 0)
		ret = -errno;
	if (ret) {
		err_fail(ret, err, errlen, "store: archive %s: %s", rel, strerror(-ret));
		goto out;
	}
	sqlite3_bind_text(q->arch_len_put, 1, rel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q->arch_len_put, 2, committed + (int64_t)zn);
	ret = step_done(q->db, q->arch_len_put, "recording the archive length", err, errlen);
out:
	buf__reset(&q->arch);
	if (fd >= 0)
		close(fd);
	close(dayfd);
	return ret;
}

/* One transaction: up to chunk rows of t older than cutoff archived (when
 * there is an archive) and deleted. *n = rows done. */
static int archive_chunk(struct store *st, struct sq_table *t, int64_t cutoff, uint32_t chunk,
			 uint64_t *n, char *err, size_t errlen)
{
	struct sq *q = st->priv;
	char day[16] = "", rday[16];
	uint32_t k = 0;
	int rc, ret;

	*n = 0;
	ret = exec(q->db, "BEGIN IMMEDIATE", err, errlen);
	if (ret)
		return ret;
	sqlite3_bind_int64(t->archive, 1, cutoff);
	sqlite3_bind_int64(t->archive, 2, chunk);
	buf__reset(&q->arch);
	while ((rc = sqlite3_step(t->archive)) == SQLITE_ROW) {
		q->ids[k++] = sqlite3_column_int64(t->archive, 0);
		if (q->archive_fd < 0)
			continue;
		utc_day(sqlite3_column_int64(t->archive, 1), rday);
		const char *js = (const char *)sqlite3_column_text(t->archive, 2);
		size_t jn = (size_t)sqlite3_column_bytes(t->archive, 2);

		if (strcmp(rday, day) != 0 || q->arch.len + jn + 1 > q->arch.cap) {
			ret = archive_append(st, t->rt->table, day, err, errlen);
			if (ret)
				break;
			memcpy(day, rday, sizeof(day));
		}
		if (buf__add(&q->arch, js, jn) || buf__addc(&q->arch, '\n')) {
			ret = err_fail(-E2BIG, err, errlen, "store: archive: a row of %s is larger "
				       "than %u bytes", t->rt->table, STORE_ARCHIVE_BUF);
			break;
		}
	}
	if (!ret && rc != SQLITE_DONE)
		ret = sq_fail(q->db, rc, "reading rows to archive", err, errlen);
	sqlite3_reset(t->archive);
	if (!ret && q->archive_fd >= 0)
		ret = archive_append(st, t->rt->table, day, err, errlen);
	for (uint32_t i = 0; i < k && !ret; i++) {
		sqlite3_bind_int64(t->del, 1, q->ids[i]);
		ret = step_done(q->db, t->del, "deleting archived rows", err, errlen);
	}
	ret = ret ?: commit(q, err, errlen);
	if (ret) {
		buf__reset(&q->arch);
		rollback(q);
		return ret;
	}
	*n = k;
	return 0;
}

/* DELETE ... LIMIT chunk in one transaction; *n = rows deleted. */
static int expire_chunk(struct sq *q, sqlite3_stmt *s, int64_t cutoff, uint32_t chunk,
			uint64_t *n, char *err, size_t errlen)
{
	int ret = exec(q->db, "BEGIN IMMEDIATE", err, errlen);

	*n = 0;
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, cutoff);
	sqlite3_bind_int64(s, 2, chunk);
	ret = step_done(q->db, s, "deleting expired rows", err, errlen);
	if (!ret)
		*n = (uint64_t)sqlite3_changes64(q->db);
	ret = ret ?: commit(q, err, errlen);
	if (ret) {
		rollback(q);
		*n = 0;
	}
	return ret;
}

static bool parse_day(const char *s, time_t *t)
{
	struct tm tm = { 0 };
	char back[16];

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm);
	if (*t == (time_t)-1)
		return false;
	/* Only names this code writes: 2024-02-30 or " 2024-1-1" are not days. */
	utc_day((int64_t)*t * (int64_t)NS_PER_S, back);
	return strcmp(back, s) == 0;
}

/* Removes a day directory's files (only what is directly in it) and the
 * directory; its archive_files rows go too. */
static int remove_day(struct store *st, const char *day, char *err, size_t errlen)
{
	struct sq *q = st->priv;
	struct dirent *e;
	DIR *d;
	int fd, ret = 0;

	fd = openat(q->archive_fd, day, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_fail(-errno, err, errlen, "store: archive %s: %s", day, strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_fail(-errno, err, errlen, "store: archive %s: %s", day, strerror(errno));
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			ret = err_fail(-errno, err, errlen, "store: archive %s/%s: %s", day,
				       e->d_name, strerror(errno));
			break;
		}
	}
	closedir(d);
	if (!ret && unlinkat(q->archive_fd, day, AT_REMOVEDIR) < 0)
		ret = err_fail(-errno, err, errlen, "store: archive %s: %s", day, strerror(errno));
	if (ret)
		return ret;
	ret = exec(q->db, "BEGIN IMMEDIATE", err, errlen);
	if (ret)
		return ret;
	sqlite3_bind_text(q->arch_forget, 1, day, -1, SQLITE_TRANSIENT);
	ret = step_done(q->db, q->arch_forget, "forgetting archive files", err, errlen);
	ret = ret ?: commit(q, err, errlen);
	if (ret)
		rollback(q);
	return ret;
}

static int expire_archive(struct store *st, uint64_t now_ns, uint32_t *removed, char *err,
			  size_t errlen)
{
	struct sq *q = st->priv;
	uint64_t ttl_ns = st->cfg.archive_ttl_s * NS_PER_S;
	struct dirent *e;
	DIR *d;
	int fd, ret = 0;

	fd = openat(q->archive_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_fail(-errno, err, errlen, "store: archive_dir: %s", strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_fail(-errno, err, errlen, "store: archive_dir: %s", strerror(errno));
	}
	while (!ret && (e = readdir(d))) {
		time_t t;

		if (!parse_day(e->d_name, &t) || t < 0)
			continue;
		/* The whole day is past the TTL: its last instant is older. */
		if ((uint64_t)(t + 86400) * NS_PER_S + ttl_ns > now_ns)
			continue;
		ret = remove_day(st, e->d_name, err, errlen);
		if (!ret)
			(*removed)++;
	}
	closedir(d);
	return ret;
}

static int64_t cutoff_of(uint64_t now_ns, uint64_t ttl_s)
{
	uint64_t ttl_ns = ttl_s > UINT64_MAX / NS_PER_S ? UINT64_MAX : ttl_s * NS_PER_S;

	return now_ns > ttl_ns ? clamp_i64(now_ns - ttl_ns) : 0;
}

static int sq_retention(struct store *st, uint64_t now_ns, struct store_retention *rep,
			char *err, size_t errlen)
{
	struct sq *q = st->priv;
	const struct store_config *cfg = &st->cfg;
	uint32_t chunk = cfg->retention_chunk, budget = cfg->retention_max_chunks;
	uint32_t used = 0;
	uint64_t n;
	int ret = 0;

	memset(rep, 0, sizeof(*rep));
	if (cfg->read_only)
		return err_fail(-EROFS, err, errlen, "store: opened read-only");
#define SPEND() (budget && ++used >= budget)
	do {
		ret = expire_chunk(q, q->raw_expire, cutoff_of(now_ns, cfg->raw_ttl_s), chunk, &n,
				   err, errlen);
		rep->raw_deleted += n;
		if (!ret && n == chunk && SPEND())
			goto more;
	} while (!ret && n == chunk);
	/* Batch keys live as long as raw rows: the window in which a resent
	 * batch is a DUPLICATE (later: seq <= last_seq, STALE). */
	while (!ret) {
		ret = expire_chunk(q, q->batch_expire, cutoff_of(now_ns, cfg->raw_ttl_s), chunk,
				   &n, err, errlen);
		rep->batches_deleted += n;
		if (ret || n < chunk)
			break;
		if (SPEND())
			goto more;
	}
	/* A body goes with the newest of its rows: none is left after it. */
	while (!ret) {
		ret = expire_chunk(q, q->body_expire, cutoff_of(now_ns, cfg->raw_ttl_s), chunk,
				   &n, err, errlen);
		rep->raw_batches_deleted += n;
		/* A batch gone is no longer there to refer to: a reference to it
		 * must not be resolved from what was cached before. */
		if (n && q->rw_cache->blocks)
			block_cache__clear(q->rw_cache->blocks);
		if (ret || n < chunk)
			break;
		if (SPEND())
			goto more;
	}
	for (unsigned i = 0; i < q->ntables && !ret; i++) {
		do {
			ret = archive_chunk(st, &q->tables[i], cutoff_of(now_ns, cfg->typed_ttl_s),
					    chunk, &n, err, errlen);
			rep->typed_deleted += n;
			if (q->archive_fd >= 0)
				rep->typed_archived += n;
			if (!ret && n == chunk && SPEND())
				goto more;
		} while (!ret && n == chunk);
	}
	if (!ret && q->archive_fd >= 0)
		ret = expire_archive(st, now_ns, &rep->archive_days_removed, err, errlen);
	return ret ?: sq_flush(st, err, errlen);
more:
	rep->more = true;
	return sq_flush(st, err, errlen);
#undef SPEND
}

static int sq_query(struct store *st, const struct query_filter *f, enum query_format fmt,
		    FILE *out, char *err, size_t errlen)
{
	int ret = open_ro(st, err, errlen);

	return ret ?: query_sqlite_events(((struct sq *)st->priv)->ro, f, fmt, out, err, errlen);
}

static int sq_sql(struct store *st, const char *sql, enum query_format fmt, uint32_t max_rows,
		  FILE *out, char *err, size_t errlen)
{
	int ret = open_ro(st, err, errlen);

	return ret ?: query_sqlite_sql(((struct sq *)st->priv)->ro, sql, fmt, max_rows, out, err,
				       errlen);
}

static int sq_stats(struct store *st, enum query_format fmt, FILE *out, char *err,
		    size_t errlen)
{
	int ret = open_ro(st, err, errlen);

	return ret ?: query_sqlite_stats(((struct sq *)st->priv)->ro, fmt, out, err, errlen);
}

static int sq_explain(struct store *st, const struct query_filter *f, FILE *out, char *err,
		      size_t errlen)
{
	int ret = open_ro(st, err, errlen);

	return ret ?: query_sqlite_explain(((struct sq *)st->priv)->ro, f, out, err, errlen);
}

static int no_blocks(void *ctx, uint64_t seq, uint32_t k, const char **p, size_t *n)
{
	(void)ctx, (void)seq, (void)k, (void)p, (void)n;
	return -ENOMEM;
}

static void sq_resolver(struct store *st, const char *device_id, uint64_t seq,
			struct blocks_resolver *res, uint64_t *seen, uint32_t seen_max)
{
	struct sq *q = st->priv;
	struct block_cache *bc = raw_cache_blocks(q->rw_cache, q->db);

	if (!bc) {
		/* no cache: a remote reference fails the batch, not judged
		 * (the agent sends it again) */
		memset(res, 0, sizeof(*res));
		res->get = no_blocks;
		return;
	}
	block_cache__resolver(bc, device_id, seq, res, seen, seen_max);
}

static void sq_forget_blocks(struct store *st, const char *device_id, uint64_t seq)
{
	struct sq *q = st->priv;

	if (q->rw_cache->blocks)
		block_cache__forget(q->rw_cache->blocks, device_id, seq);
}

static uint64_t sq_durable(struct store *st)
{
	const struct sq *q = st->priv;

	return q->wal ? store_wal__durable(q->wal) : q->ticket;
}

static int sq_durable_fd(struct store *st)
{
	const struct sq *q = st->priv;

	return q->wal ? store_wal__fd(q->wal) : -1;
}

static int sq_wait_durable(struct store *st, uint64_t ticket, int timeout_ms)
{
	struct sq *q = st->priv;

	return q->wal ? store_wal__wait(q->wal, ticket, timeout_ms) : 0;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.durable = sq_durable,
	.durable_fd = sq_durable_fd,
	.wait_durable = sq_wait_durable,
	.open = sq_open,
	.close = sq_close,
	.insert_batch = sq_insert_batch,
	.resolver = sq_resolver,
	.forget_blocks = sq_forget_blocks,
	.last_seq = sq_last_seq,
	.retention = sq_retention,
	.flush = sq_flush,
	.query = sq_query,
	.sql = sq_sql,
	.stats = sq_stats,
	.explain = sq_explain,
};

/* ---- the backend-independent entry points ---- */

static const struct store_ops *const store_backends[] = { &sqlite_ops };

static void free_cfg(struct store_config *c)
{
	free((char *)c->backend);
	free((char *)c->path);
	free((char *)c->archive_dir);
}

int store__open(struct store **out, const struct store_config *cfg, char *err, size_t errlen)
{
	const char *backend = cfg->backend ? cfg->backend : "sqlite";
	struct store *st;
	int ret;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return err_fail(-ENOMEM, err, errlen, "store: out of memory");
	for (size_t i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++)
		if (strcmp(store_backends[i]->name, backend) == 0)
			st->ops = store_backends[i];
	if (!st->ops) {
		free(st);
		return err_fail(-EINVAL, err, errlen, "store: backend \"%s\" is not built in",
				backend);
	}
	st->cfg = *cfg;
	st->cfg.backend = strdup(backend);
	st->cfg.path = cfg->path ? strdup(cfg->path) : NULL;
	st->cfg.archive_dir = cfg->archive_dir ? strdup(cfg->archive_dir) : NULL;
	if (!st->cfg.backend || (cfg->path && !st->cfg.path) ||
	    (cfg->archive_dir && !st->cfg.archive_dir)) {
		ret = err_fail(-ENOMEM, err, errlen, "store: out of memory");
		goto fail;
	}
	if (!st->cfg.raw_ttl_s)
		st->cfg.raw_ttl_s = STORE_RAW_TTL_S;
	if (!st->cfg.typed_ttl_s)
		st->cfg.typed_ttl_s = STORE_TYPED_TTL_S;
	if (!st->cfg.archive_ttl_s)
		st->cfg.archive_ttl_s = STORE_ARCHIVE_TTL_S;
	if (!st->cfg.retention_chunk)
		st->cfg.retention_chunk = STORE_RETENTION_CHUNK;
	if (st->cfg.retention_chunk > 1000000) {
		ret = err_fail(-EINVAL, err, errlen, "store: retention_chunk %u is over 1000000",
			       st->cfg.retention_chunk);
		goto fail;
	}
	if (st->cfg.archive_dir && st->cfg.archive_ttl_s < st->cfg.typed_ttl_s) {
		ret = err_fail(-EINVAL, err, errlen, "store: archive_ttl_s (%llu) is shorter than "
			       "typed_ttl_s (%llu): rows would be archived into expired days",
			       (unsigned long long)st->cfg.archive_ttl_s,
			       (unsigned long long)st->cfg.typed_ttl_s);
		goto fail;
	}
	ret = st->ops->open(st, err, errlen);
	if (ret)
		goto fail;
	*out = st;
	return 0;
fail:
	free_cfg(&st->cfg);
	free(st);
	return ret;
}

void store__close(struct store *st)
{
	char err[256];

	if (!st)
		return;
	if (!st->cfg.read_only)
		st->ops->flush(st, err, sizeof(err));
	st->ops->close(st);
	free_cfg(&st->cfg);
	free(st);
}

int store__insert_batch(struct store *st, const struct batch_meta *meta,
			const uint8_t batch_sha256[32], const char *lines, size_t len,
			struct store_result *res, char *err, size_t errlen)
{
	return st->ops->insert_batch(st, meta, batch_sha256, lines, len, NULL, 0, NULL, 0, res,
				     err, errlen);
}

int store__insert_batch_body(struct store *st, const struct batch_meta *meta,
			     const uint8_t batch_sha256[32], const char *lines, size_t len,
			     const void *body, size_t body_len, struct store_result *res,
			     char *err, size_t errlen)
{
	return store__insert_batch_refs(st, meta, batch_sha256, lines, len, body, body_len, NULL,
					0, res, err, errlen);
}

int store__insert_batch_refs(struct store *st, const struct batch_meta *meta,
			     const uint8_t batch_sha256[32], const char *lines, size_t len,
			     const void *body, size_t body_len, const uint64_t *ref_seqs,
			     uint32_t nref, struct store_result *res, char *err, size_t errlen)
{
	if (!body) {
		memset(res, 0, sizeof(*res));
		return err_fail(-EINVAL, err, errlen, "store: no batch body");
	}
	return st->ops->insert_batch(st, meta, batch_sha256, lines, len, body, body_len,
				     ref_seqs, nref, res, err, errlen);
}

void store__resolver(struct store *st, const char *device_id, uint64_t seq,
		     struct blocks_resolver *res, uint64_t *seen, uint32_t seen_max)
{
	st->ops->resolver(st, device_id, seq, res, seen, seen_max);
}

void store__forget_blocks(struct store *st, const char *device_id, uint64_t seq)
{
	st->ops->forget_blocks(st, device_id, seq);
}

uint64_t store__durable(struct store *st)
{
	return st->ops->durable(st);
}

int store__durable_fd(struct store *st)
{
	return st->ops->durable_fd(st);
}

int store__wait_durable(struct store *st, uint64_t ticket, int timeout_ms)
{
	return st->ops->wait_durable(st, ticket, timeout_ms);
}

int store__wal_stats(struct store *st, struct store_wal_stats *out, uint64_t *writer_checkpoints)
{
	const struct sq *q = st->priv;

	memset(out, 0, sizeof(*out));
	*writer_checkpoints = q ? q->writer_checkpoints : 0;
	if (!q || !q->wal)
		return -ENOENT;
	store_wal__stats(q->wal, out);
	return 0;
}

int store__raw_cache_stats(struct store *st, struct store_raw_cache_stats *out)
{
	const struct sq *q = st->priv;
	const struct raw_cache *c = q ? q->ro_cache : NULL;

	memset(out, 0, sizeof(*out));
	if (!c)
		return 0;
	out->decompressions = c->decompressions;
	out->evictions = c->evictions;
	out->bytes = c->bytes;
	for (unsigned i = 0; i < STORE_RAW_CACHE_ENTRIES; i++)
		out->entries += c->e[i].data != NULL;
	return 0;
}

int store__last_seq(struct store *st, const char *device_id, uint64_t *seq, char *err,
		    size_t errlen)
{
	return st->ops->last_seq(st, device_id, seq, err, errlen);
}

int store__retention(struct store *st, uint64_t now_ns, struct store_retention *rep, char *err,
		     size_t errlen)
{
	struct store_retention tmp;

	return st->ops->retention(st, now_ns, rep ? rep : &tmp, err, errlen);
}

void store__count_rejection(struct store *st, const char *reason, uint64_t n)
{
	pending_add(st, reason && *reason ? reason : "unknown", n);
}

int store__flush(struct store *st, char *err, size_t errlen)
{
	return st->ops->flush(st, err, errlen);
}

int store__query(struct store *st, const struct query_filter *f, enum query_format fmt,
		 FILE *out, char *err, size_t errlen)
{
	return st->ops->query(st, f, fmt, out, err, errlen);
}

int store__sql(struct store *st, const char *sql, enum query_format fmt, uint32_t max_rows,
	       FILE *out, char *err, size_t errlen)
{
	return st->ops->sql(st, sql, fmt, max_rows, out, err, errlen);
}

int store__stats(struct store *st, enum query_format fmt, FILE *out, char *err, size_t errlen)
{
	return st->ops->stats(st, fmt, out, err, errlen);
}

int store__explain(struct store *st, const struct query_filter *f, FILE *out, char *err,
		   size_t errlen)
{
	return st->ops->explain(st, f, out, err, errlen);
}
