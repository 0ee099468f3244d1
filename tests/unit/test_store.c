/* The SQLite store: every family routed to its typed table with the right
 * column values; batch idempotency (duplicate, replay conflict, stale, gap);
 * duplicate message ids; malformed and hostile lines (skipped and counted,
 * the rest of the batch kept); retention with second-long TTLs and a fake
 * clock (raw deleted, typed archived to zstd then deleted, the archive read
 * back and compared, a torn archive tail cut, expired days removed, bounded
 * chunks); archive_dir and config validation; reopening. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "collector/routes.h"
#include "collector/store.h"
#include "model/fields.h"
#include "store_events.h"
#include "unit.h"

static char dir[64], dbpath[128], archdir[128];
static char err[512];
static sqlite3 *peek;	/* a second connection to look at the rows */

static long long q_int(const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(peek, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "q_int: %s: %s\n", sql, sqlite3_errmsg(peek));
		return -2;
	}
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -3 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char q_buf[8192];

/* After the file was replaced. */
static void repeek(void)
{
	sqlite3_close(peek);
	peek = NULL;
	if (sqlite3_open_v2(dbpath, &peek, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    store_sqlite__add_functions(peek, NULL, 0))
		fprintf(stderr, "cannot open %s\n", dbpath);
}

static const char *q_text(const char *sql, const char *arg)
{
	sqlite3_stmt *st;

	snprintf(q_buf, sizeof(q_buf), "(no row)");
	if (sqlite3_prepare_v2(peek, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(q_buf, sizeof(q_buf), "(error: %s)", sqlite3_errmsg(peek));
		return q_buf;
	}
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(q_buf, sizeof(q_buf), "%s",
			 sqlite3_column_type(st, 0) == SQLITE_NULL ? "(null)" :
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return q_buf;
}

static struct store *open_store(uint64_t raw, uint64_t typed, uint64_t arch, uint32_t chunk,
				uint32_t max_chunks)
{
	struct store_config cfg = {
		.path = dbpath, .archive_dir = archdir, .raw_ttl_s = raw, .typed_ttl_s = typed,
		.archive_ttl_s = arch, .retention_chunk = chunk, .retention_max_chunks = max_chunks,
	};
	struct store *st = NULL;
	int ret = store__open(&st, &cfg, err, sizeof(err));

	if (ret)
		fprintf(stderr, "store__open: %s\n", err);
	CHECK_INT(ret, 0);
	return st;
}

static int insert(struct store *st, const char *device, uint64_t seq, unsigned sha,
		  const struct buf *b, struct store_result *res)
{
	struct batch_meta m;
	uint8_t h[32];

	ev_meta(&m, device, seq, ev_count_lines(b), 1000);
	ev_sha(h, sha);
	return store__insert_batch(st, &m, h, b->data, b->len, res, err, sizeof(err));
}

/* One event of every family, plus lines that are not events. */
static void every_family(struct buf *b, uint64_t t)
{
	struct ev_proc curl = { "curl", "/usr/bin/curl", "curl -fsS https://example.com",
				"alice", "4f3c2b1a0e9d", 48211, 1337, 1000 };

	ev_line(b, "web-01", "EVENT", "INFO", 1, t, "Process Created", 1, "process", NULL, &curl);
	ev_line(b, "web-01", "EVENT", "INFO", 2, t + 1, "Process Terminated", 2, "process",
		EV_EXIT, &curl);
	ev_line(b, "web-01", "EVENT", "INFO", 3, t + 2, "Thread Created", 3, "thread", EV_THREAD,
		&curl);
	ev_line(b, "web-01", "EVENT", "INFO", 4, t + 3, "File Renamed", 13, "file", EV_FILE_RENAME,
		&ev_bash);
	ev_line(b, "web-01", "EVENT", "INFO", 5, t + 4, "Network Connect", 42, "network",
		EV_NET_CONNECT, &curl);
	ev_line(b, "web-01", "EVENT", "INFO", 6, t + 5, "DNS Answer", 51, "dns", EV_DNS_ANSWER,
		&curl);
	ev_line(b, "web-01", "EVENT", "INFO", 7, t + 6, "Identity Changed", 30, "identity",
		EV_IDENTITY, &ev_bash);
	ev_line(b, "web-01", "EVENT", "INFO", 8, t + 7, "Library Loaded", 70, "library",
		EV_LIBRARY, &curl);
	ev_line(b, "web-01", "EVENT", "MEDIUM", 9, t + 8,
		"New Executable Anonymous Memory Mapped", 60, "memory", EV_MEMORY, &curl);
	ev_line(b, "web-01", "SYSTEM_ACTIVITY", "WARNING", 10, t + 9, "Events Dropped", 1005,
		"system", EV_SYSTEM, NULL);
	ev_line(b, "web-01", "ALERT", "HIGH", 11, t + 10, "Reverse Shell", 5000, "process", NULL,
		&curl);
	ev_line(b, "web-01", "EVENT", "INFO", 12, t + 11, "File Opened", 10, "file", EV_FILE_OPEN,
		&ev_bash);
}

static void test_every_family(struct store *st)
{
	struct buf b;
	struct store_result r;

	buf__init(&b, 1 << 20);
	every_family(&b, EV_T0);
	/* Not events: not JSON, no message id, time as a string, a line
	 * cut in half. */
	buf__adds(&b, "{not json\n");
	buf__adds(&b, "{\"message_header\":{\"occurred_message_time_ns\":1},"
		  "\"activity_data\":{\"name\":\"x\",\"family\":\"file\"}}\n");
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"m\",\"occurred_message_time_ns\":"
		  "\"soon\"},\"activity_data\":{\"name\":\"x\",\"family\":\"file\"}}\n");
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"half\",\"occurred_mess\n");
	/* A family from a newer agent: kept raw, no typed table. */
	ev_line(&b, "web-01", "EVENT", "INFO", 13, EV_T0, "Kernel Module Loaded", 80, "module",
		"\"module_details\":{\"module_name\":\"nf_tables\"}", &ev_bash);
	/* The same message id twice in one batch: one row. */
	ev_line(&b, "web-01", "EVENT", "INFO", 12, EV_T0 + 11, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);

	CHECK_INT(insert(st, "0a1b", 1, 1, &b, &r), 0);
	CHECK_INT(r.status, STORE_STORED);
	CHECK_INT(r.events_stored, 13);
	CHECK_INT(r.events_malformed, 4);
	CHECK_INT(r.events_duplicate, 1);
	CHECK_INT(r.events_untyped, 1);
	CHECK_INT(r.gap, 0);
	CHECK_INT(r.last_seq, 1);

	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 13);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events WHERE family = 'module'", NULL), 1);
	/* The raw row is the line, byte for byte. */
	{
		const char *first = b.data, *nl = strchr(first, '\n');
		char *line = strndup(first, (size_t)(nl - first));

		CHECK_STR(q_text("SELECT json FROM raw_events WHERE message_id = "
				 "'5c1d2e3f-4a5b-8c6d-8000-000000000001'", NULL), line);
		free(line);
	}
	CHECK_STR(q_text("SELECT device_id || ' ' || seq || ' ' || name || ' ' || message_type "
			 "|| ' ' || severity || ' ' || host FROM raw_events WHERE family = 'system'",
			 NULL), "0a1b 1 Events Dropped SYSTEM_ACTIVITY WARNING web-01");

	/* process */
	CHECK_INT(q_int("SELECT count(*) FROM process_events", NULL), 2);
	CHECK_STR(q_text("SELECT process_name || '|' || pid || '|' || ppid || '|' || exe || '|' || "
			 "cmdline || '|' || uid || '|' || user || '|' || container_id || '|' || "
			 "exec_id || '|' || parent_name || '|' || parent_pid || '|' || "
			 "creation_type || '|' || args FROM process_events WHERE name = "
			 "'Process Created'", NULL),
		  "curl|48211|1337|/usr/bin/curl|curl -fsS https://example.com|1000|alice|"
		  "4f3c2b1a0e9d|bc53-247af3205d3|bash|1337|exec|[\"curl -fsS https://example.com\"]");
	CHECK_STR(q_text("SELECT coalesce(exit_code, 'null') || ' ' || exit_signal || ' ' || "
			 "exit_signal_name || ' ' || core_dumped FROM process_events WHERE name = "
			 "'Process Terminated'", NULL), "null 9 SIGKILL 0");
	CHECK_INT(q_int("SELECT time_ns FROM process_events WHERE name = 'Process Terminated'",
			NULL), (long long)(EV_T0 + 1));
	CHECK_STR(q_text("SELECT device_id || ' ' || host FROM process_events LIMIT 1", NULL),
		  "0a1b web-01");
	/* thread */
	CHECK_STR(q_text("SELECT thread_id || ' ' || thread_self_exec_id || ' ' || "
			 "coalesce(exit_state, 'null') FROM thread_events", NULL), "13457 2 null");
	/* file */
	CHECK_INT(q_int("SELECT count(*) FROM file_events", NULL), 2);
	CHECK_STR(q_text("SELECT operation || ' ' || path || ' ' || new_path || ' ' || result || "
			 "' ' || inode || ' ' || device || ' ' || syscall_flags || ' ' || "
			 "process_name || ' ' || pid FROM file_events WHERE name = 'File Renamed'",
			 NULL),
		  "renameat2 /etc/passwd.tmp /etc/passwd success 10953085 254:0 0 bash 1337");
	CHECK_STR(q_text("SELECT path FROM file_events WHERE name = 'File Opened'", NULL),
		  "/tmp/x\"y\n.txt");
	CHECK_STR(q_text("SELECT errno || ' ' || error_name || ' ' || open_flags || ' ' || "
			 "open_flag_names || ' ' || opened_for_write || ' ' || mode FROM file_events "
			 "WHERE name = 'File Opened'", NULL),
		  "13 EACCES 688322 [\"O_RDWR\",\"O_CREAT\"] 1 0600");
	CHECK_INT(q_int("SELECT count(*) FROM file_events WHERE new_path IS NULL AND "
			"name = 'File Opened'", NULL), 1);
	/* network */
	CHECK_STR(q_text("SELECT operation || ' ' || socket_family || ' ' || protocol || ' ' || "
			 "local_address || ':' || local_port || ' ' || remote_address || ':' || "
			 "remote_port || ' ' || socket_id FROM network_events", NULL),
		  "connect AF_INET tcp 10.0.0.5:41234 93.184.216.34:443 c475a1f1a60ca639");
	/* dns */
	CHECK_STR(q_text("SELECT query_name || ' ' || query_type || ' ' || response_code || ' ' || "
			 "resolver_address || ':' || resolver_port || ' ' || answer_count || ' ' || "
			 "transaction_id FROM dns_events", NULL),
		  "example.com A NOERROR 10.255.255.53:53 1 26559");
	CHECK_STR(q_text("SELECT json_extract(answers, '$[0].data') FROM dns_events", NULL),
		  "93.184.216.34");
	/* identity */
	CHECK_STR(q_text("SELECT operation || ' ' || kind || ' ' || from_real || '/' || "
			 "from_effective || ' -> ' || to_real || '/' || to_effective || ' ' || "
			 "requested || ' ' || coalesce(capabilities, 'null') FROM identity_events",
			 NULL), "setuid user 1000/1000 -> 0/0 [0] null");
	/* library */
	CHECK_STR(q_text("SELECT path || ' ' || sha256 || ' ' || package || ' ' || "
			 "package_version || ' ' || size_bytes || ' ' || mapped_address FROM "
			 "library_events", NULL),
		  "/usr/lib/x86_64-linux-gnu/libselinux.so.1 "
		  "0207e4908ea384e186c75925b0e56996a3eccecd48c99252aeb757d0d3451c93 libselinux1 "
		  "3.4-1+b6 174312 0x7f138b244000");
	/* memory */
	CHECK_STR(q_text("SELECT operation || ' ' || address || ' ' || length || ' ' || "
			 "protection || ' ' || writable_and_executable || ' ' || anonymous || ' ' || "
			 "severity || ' ' || severity_rank FROM memory_events", NULL),
		  "mmap 0x7eff30fbc000 4096 [\"PROT_READ\",\"PROT_WRITE\",\"PROT_EXEC\"] 1 1 "
		  "MEDIUM 3");
	/* system */
	CHECK_STR(q_text("SELECT message || ' ' || json_extract(details, '$.count') FROM "
			 "system_activity", NULL), "1520 events dropped: ring buffer full 1520");
	/* alert: by message_type, whatever the family */
	CHECK_STR(q_text("SELECT name || ' ' || family || ' ' || severity_rank || ' ' || "
			 "process_name || ' ' || event_type_id FROM alert_events", NULL),
		  "Reverse Shell process 5 curl 5000");
	CHECK_INT(q_int("SELECT count(*) FROM process_events WHERE name = 'Reverse Shell'",
			NULL), 0);
	/* Bookkeeping. */
	CHECK_INT(q_int("SELECT count FROM type_stats WHERE family = 'file' AND "
			"name = 'File Opened'", NULL), 1);
	CHECK_INT(q_int("SELECT count FROM rejections WHERE reason = 'malformed_event'", NULL), 4);
	CHECK_INT(q_int("SELECT malformed_events FROM devices WHERE device_id = '0a1b'", NULL), 4);
	CHECK_INT(q_int("SELECT events_stored FROM batches WHERE device_id = '0a1b' AND seq = 1",
			NULL), 13);
	CHECK_INT(q_int("SELECT wire_bytes FROM batches WHERE seq = 1", NULL),
		  BATCH_HEADER_LEN + 1000 + BATCH_HMAC_LEN);
	buf__free(&b);
}

static void test_idempotency(struct store *st)
{
	struct buf b, b2;
	struct store_result r;
	uint64_t last = 99;
	long long raw = q_int("SELECT count(*) FROM raw_events", NULL);
	long long files = q_int("SELECT count(*) FROM file_events", NULL);

	buf__init(&b, 1 << 20);
	every_family(&b, EV_T0);
	/* Resent after a lost ACK: the same bytes. */
	CHECK_INT(insert(st, "0a1b", 1, 1, &b, &r), 0);
	CHECK_INT(r.status, STORE_DUPLICATE);
	CHECK_INT(r.events_stored, 0);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), raw);
	CHECK_INT(q_int("SELECT count(*) FROM file_events", NULL), files);
	CHECK_INT(q_int("SELECT duplicates FROM devices WHERE device_id = '0a1b'", NULL), 1);
	/* Another batch under a stored seq. */
	CHECK_INT(insert(st, "0a1b", 1, 2, &b, &r), 0);
	CHECK_INT(r.status, STORE_REPLAY_CONFLICT);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), raw);
	CHECK_INT(q_int("SELECT count FROM rejections WHERE reason = 'replay_conflict'", NULL), 1);
	CHECK_STR(store_status_name(r.status), "replay_conflict");

	/* seq 5 after 1: stored, 3 seqs possibly lost. */
	buf__init(&b2, 1 << 20);
	ev_line(&b2, "web-01", "EVENT", "INFO", 100, EV_T0 + 100, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);
	CHECK_INT(insert(st, "0a1b", 5, 5, &b2, &r), 0);
	CHECK_INT(r.status, STORE_STORED);
	CHECK_INT(r.gap, 3);
	CHECK_INT(r.last_seq, 5);
	CHECK_INT(q_int("SELECT gaps FROM devices WHERE device_id = '0a1b'", NULL), 1);
	CHECK_INT(q_int("SELECT lost_seqs FROM devices WHERE device_id = '0a1b'", NULL), 3);
	/* seq 3 now: below last, never stored: stale (counted as replay). */
	buf__reset(&b2);
	ev_line(&b2, "web-01", "EVENT", "INFO", 101, EV_T0 + 101, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);
	CHECK_INT(insert(st, "0a1b", 3, 3, &b2, &r), 0);
	CHECK_INT(r.status, STORE_STALE);
	CHECK_INT(r.last_seq, 5);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events WHERE message_id LIKE '%65'", NULL), 0);
	CHECK_INT(q_int("SELECT count FROM rejections WHERE reason = 'replay'", NULL), 1);
	CHECK_INT(store__last_seq(st, "0a1b", &last, err, sizeof(err)), 0);
	CHECK_INT(last, 5);
	CHECK_INT(store__last_seq(st, "ffff", &last, err, sizeof(err)), 0);
	CHECK_INT(last, 0);

	/* A later batch repeating a stored event id: no second row anywhere. */
	buf__reset(&b2);
	ev_line(&b2, "web-01", "EVENT", "INFO", 100, EV_T0 + 100, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);
	ev_line(&b2, "web-01", "EVENT", "INFO", 102, EV_T0 + 102, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);
	CHECK_INT(insert(st, "0a1b", 6, 6, &b2, &r), 0);
	CHECK_INT(r.events_stored, 1);
	CHECK_INT(r.events_duplicate, 1);
	CHECK_INT(q_int("SELECT count(*) FROM file_events WHERE message_id = "
			"'5c1d2e3f-4a5b-8c6d-8000-000000000064'", NULL), 1);
	/* The same ids from another device are that device's own events. */
	CHECK_INT(insert(st, "0c0d", 1, 7, &b2, &r), 0);
	CHECK_INT(r.events_stored, 2);
	CHECK_INT(q_int("SELECT count(*) FROM file_events WHERE message_id = "
			"'5c1d2e3f-4a5b-8c6d-8000-000000000064'", NULL), 2);

	/* Out-of-range metadata. */
	{
		struct batch_meta m;
		uint8_t h[32] = { 0 };

		ev_meta(&m, "0a1b", 0, 1, 10);
		CHECK_INT(store__insert_batch(st, &m, h, b2.data, b2.len, &r, err, sizeof(err)),
			  -EINVAL);
		ev_meta(&m, "0A1B", 9, 1, 10);
		CHECK_INT(store__insert_batch(st, &m, h, b2.data, b2.len, &r, err, sizeof(err)),
			  -EINVAL);
		CHECK(strstr(err, "hex") != NULL);
		ev_meta(&m, "0a1b", (uint64_t)INT64_MAX + 1, 1, 10);
		CHECK_INT(store__insert_batch(st, &m, h, b2.data, b2.len, &r, err, sizeof(err)),
			  -EINVAL);
		ev_meta(&m, "", 9, 1, 10);
		CHECK_INT(store__insert_batch(st, &m, h, b2.data, b2.len, &r, err, sizeof(err)),
			  -EINVAL);
	}
	buf__free(&b);
	buf__free(&b2);
}

static void test_hostile_lines(struct store *st)
{
	struct buf b;
	struct store_result r;
	long long raw = q_int("SELECT count(*) FROM raw_events", NULL);
	char id[200];

	buf__init(&b, 1 << 22);
	/* Nested past SQLite's JSON depth limit. */
	buf__adds(&b, "{\"a\":");
	for (int i = 0; i < 3000; i++)
		buf__addc(&b, '[');
	for (int i = 0; i < 3000; i++)
		buf__addc(&b, ']');
	buf__adds(&b, "}\n");
	/* A message id longer than any real one. */
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	buf__addf(&b, "{\"message_header\":{\"message_id\":\"%s\",\"occurred_message_time_ns\":1},"
		  "\"activity_data\":{\"name\":\"x\",\"family\":\"file\"}}\n", id);
	/* A family that looks like SQL: a raw row, no table, nothing run. */
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"sql-1\",\"occurred_message_time_ns\":"
		  "5},\"activity_data\":{\"name\":\"x\",\"family\":\"x'); DROP TABLE "
		  "file_events;--\"}}\n");
	/* A family longer than any real one is not an event. */
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"sql-2\",\"occurred_message_time_ns\":"
		  "5},\"activity_data\":{\"name\":\"x\",\"family\":\"file'); DROP TABLE "
		  "file_events; --\"}}\n");
	/* A fake family key inside a string before the real one. */
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"fake-1\",\"user_data\":"
		  "\"\\\"family\\\":\\\"dns\\\"\",\"occurred_message_time_ns\":6},"
		  "\"activity_data\":{\"name\":\"File Deleted\",\"family\":\"file\","
		  "\"file_details\":{\"file_path\":\"/tmp/z\"}}}\n");
	/* The first "family" key is not activity_data's: the guess is wrong,
	 * the parse decides. */
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"fake-2\",\"family\":\"dns\","
		  "\"occurred_message_time_ns\":7},\"activity_data\":{\"name\":\"File Deleted\","
		  "\"family\":\"file\",\"file_details\":{\"file_path\":\"/tmp/w\"}}}\n");
	/* Wrong types where columns expect others are kept as given. */
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"types-1\",\"occurred_message_time_ns\":"
		  "8},\"activity_data\":{\"name\":\"File Deleted\",\"family\":\"file\","
		  "\"file_details\":{\"file_path\":[1,2],\"file_inode\":\"x\","
		  "\"file_open_flag_names\":\"not a list\"}}}\n");
	/* No trailing newline on the last line. */
	buf__adds(&b, "{\"message_header\":{\"message_id\":\"last\",\"occurred_message_time_ns\":9},"
		  "\"activity_data\":{\"name\":\"Thread Created\",\"family\":\"thread\"}}");

	CHECK_INT(insert(st, "0e0f", 1, 11, &b, &r), 0);
	CHECK_INT(r.status, STORE_STORED);
	CHECK_INT(r.events_malformed, 3);
	CHECK_INT(r.events_stored, 5);
	CHECK_INT(r.events_untyped, 1);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), raw + 5);
	CHECK_INT(q_int("SELECT count(*) FROM sqlite_schema WHERE name = 'file_events'", NULL), 1);
	CHECK_STR(q_text("SELECT path FROM file_events WHERE message_id = 'fake-1'", NULL), "/tmp/z");
	CHECK_STR(q_text("SELECT path FROM file_events WHERE message_id = 'fake-2'", NULL), "/tmp/w");
	CHECK_INT(q_int("SELECT count(*) FROM dns_events WHERE message_id LIKE 'fake%'", NULL), 0);
	CHECK_STR(q_text("SELECT path || ' ' || inode || ' ' || open_flag_names FROM file_events "
			 "WHERE message_id = 'types-1'", NULL), "[1,2] x \"not a list\"");
	CHECK_INT(q_int("SELECT count(*) FROM thread_events WHERE message_id = 'last'", NULL), 1);
	buf__free(&b);
}

static void test_rejection_counters(struct store *st)
{
	char many[16];

	store__count_rejection(st, "bad_hmac", 2);
	store__count_rejection(st, "bad_hmac", 1);
	store__count_rejection(st, "a_reason_that_is_much_longer_than_thirty_two_bytes", 1);
	/* Not persisted until a transaction runs. */
	CHECK_INT(q_int("SELECT count(*) FROM rejections WHERE reason = 'bad_hmac'", NULL), 0);
	CHECK_INT(store__flush(st, err, sizeof(err)), 0);
	CHECK_INT(q_int("SELECT count FROM rejections WHERE reason = 'bad_hmac'", NULL), 3);
	CHECK_INT(q_int("SELECT count FROM rejections WHERE reason = "
			"'a_reason_that_is_much_longer_tha'", NULL), 1);
	/* More distinct reasons than the cap: the rest count as "other". */
	for (int i = 0; i < STORE_MAX_REASONS + 5; i++) {
		snprintf(many, sizeof(many), "r%d", i);
		store__count_rejection(st, many, 1);
	}
	CHECK_INT(store__flush(st, err, sizeof(err)), 0);
	CHECK_INT(q_int("SELECT count FROM rejections WHERE reason = 'other'", NULL), 5);
	CHECK_INT(q_int("SELECT count(*) FROM rejections WHERE reason GLOB 'r[0-9]*'", NULL),
		  STORE_MAX_REASONS);
}

/* Every frame of a .zst file, decompressed; NULL if any frame is bad. */
static char *read_zst(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *in = NULL, *out = NULL;
	long n;
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib;
	ZSTD_outBuffer ob;
	size_t cap = 1 << 24, rc = 1;

	*len = 0;
	if (!f || !d)
		goto fail;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	in = malloc((size_t)n + 1);
	out = malloc(cap + 1);
	if (!in || !out || fread(in, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	ib = (ZSTD_inBuffer){ in, (size_t)n, 0 };
	ob = (ZSTD_outBuffer){ out, cap, 0 };
	while (ib.pos < ib.size && ob.pos < ob.size) {
		rc = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(rc))
			goto fail;
	}
	if (rc != 0)	/* the last frame is incomplete */
		goto fail;
	out[ob.pos] = 0;
	*len = ob.pos;
	fclose(f);
	free(in);
	ZSTD_freeDCtx(d);
	return out;
fail:
	if (f)
		fclose(f);
	free(in);
	free(out);
	ZSTD_freeDCtx(d);
	return NULL;
}

static unsigned count_char(const char *s, char c)
{
	unsigned n = 0;

	for (; s && *s; s++)
		n += *s == c;
	return n;
}

static void test_retention(void)
{
	struct store *st;
	struct store_retention rep;
	struct store_result r;
	struct buf b;
	char path[256], *text;
	size_t len;
	int fd, calls;
	struct stat sb;

	unlink(dbpath);
	/* raw 10 s, typed 20 s, archive 30 s; 3 rows per transaction. */
	st = open_store(10, 20, 30, 3, 0);
	if (!st)
		return;
	repeek();
	buf__init(&b, 1 << 20);
	every_family(&b, EV_T0);				/* day 1: 12 events */
	ev_line(&b, "web-01", "EVENT", "INFO", 50, EV_T0 + EV_DAY_NS, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);			/* day 2 */
	CHECK_INT(insert(st, "0a1b", 1, 1, &b, &r), 0);
	CHECK_INT(r.events_stored, 13);

	/* 15 s later: raw rows of day 1 are past 10 s; typed rows are not. */
	CHECK_INT(store__retention(st, EV_T0 + 15 * 1000000000ull, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.raw_deleted, 12);
	CHECK_INT(rep.typed_deleted, 0);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 1);
	CHECK_INT(q_int("SELECT count(*) FROM file_events", NULL), 3);

	/* 25 s: typed rows of day 1 go to the archive, then away. */
	CHECK_INT(store__retention(st, EV_T0 + 25 * 1000000000ull, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.typed_archived, 12);
	CHECK_INT(rep.typed_deleted, 12);
	CHECK_INT(rep.archive_days_removed, 0);
	CHECK_INT(q_int("SELECT count(*) FROM file_events", NULL), 1);
	CHECK_INT(q_int("SELECT count(*) FROM process_events", NULL), 0);
	snprintf(path, sizeof(path), "%s/2025-01-10/file_events.jsonl.zst", archdir);
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0600);
	text = read_zst(path, &len);
	CHECK(text != NULL);
	CHECK_INT(count_char(text, '\n'), 2);
	CHECK(text && strstr(text, "\"message_id\":\"5c1d2e3f-4a5b-8c6d-8000-000000000004\"") != NULL);
	CHECK(text && strstr(text, "\"new_path\":\"/etc/passwd\"") != NULL);
	CHECK(text && strstr(text, "\"path\":\"/tmp/x\\\"y\\n.txt\"") != NULL);
	/* JSON columns stay JSON in the archive, not strings. */
	CHECK(text && strstr(text, "\"open_flag_names\":[\"O_RDWR\",\"O_CREAT\"]") != NULL);
	CHECK(text && strstr(text, "\"time_ns\":1736510400000000003") != NULL);
	free(text);
	snprintf(path, sizeof(path), "%s/2025-01-10/dns_events.jsonl.zst", archdir);
	text = read_zst(path, &len);
	CHECK(text && strstr(text, "\"answers\":[{\"name\":\"example.com\"") != NULL);
	free(text);
	snprintf(path, sizeof(path), "%s/2025-01-10/alert_events.jsonl.zst", archdir);
	text = read_zst(path, &len);
	CHECK(text && strstr(text, "\"name\":\"Reverse Shell\"") != NULL);
	free(text);

	/* A crash after an append but before its rows were deleted leaves
	 * bytes past the committed length: the next append cuts them. */
	snprintf(path, sizeof(path), "%s/2025-01-10/file_events.jsonl.zst", archdir);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "torn frame", 10), 10);
	close(fd);
	buf__reset(&b);
	ev_line(&b, "web-01", "EVENT", "INFO", 60, EV_T0 + 60, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);	/* a late event of day 1 */
	CHECK_INT(insert(st, "0a1b", 2, 2, &b, &r), 0);
	CHECK_INT(store__retention(st, EV_T0 + 100 * 1000000000ull, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.typed_archived, 1);
	text = read_zst(path, &len);
	CHECK(text != NULL);
	CHECK_INT(count_char(text, '\n'), 3);
	CHECK(text && strstr(text, "8000-00000000003c") != NULL);
	free(text);

	/* A day later: day 2 archived; day 1's directory is past the archive
	 * TTL (its end + 30 s) and removed with its files. */
	CHECK_INT(store__retention(st, EV_T0 + EV_DAY_NS + 25 * 1000000000ull, &rep, err,
				   sizeof(err)), 0);
	CHECK_INT(rep.typed_archived, 1);
	CHECK_INT(rep.archive_days_removed, 1);
	snprintf(path, sizeof(path), "%s/2025-01-10", archdir);
	CHECK(stat(path, &sb) < 0 && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/2025-01-11/file_events.jsonl.zst", archdir);
	text = read_zst(path, &len);
	CHECK_INT(count_char(text, '\n'), 1);
	free(text);
	CHECK_INT(q_int("SELECT count(*) FROM archive_files WHERE path LIKE '2025-01-10/%'", NULL),
		  0);
	CHECK_INT(q_int("SELECT count(*) FROM file_events", NULL), 0);
	/* Names that are not days are left alone. */
	snprintf(path, sizeof(path), "%s/notes", archdir);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/2025-02-30", archdir);
	CHECK_INT(mkdir(path, 0700), 0);
	CHECK_INT(store__retention(st, EV_T0 + 400 * EV_DAY_NS, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.archive_days_removed, 1);
	CHECK_INT(stat(path, &sb), 0);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/notes", archdir);
	CHECK_INT(stat(path, &sb), 0);
	rmdir(path);
	store__close(st);

	/* Bounded work per call: 2 transactions of 3 rows, then "more". */
	unlink(dbpath);
	st = open_store(10, 20, 30, 3, 2);
	if (!st) {
		buf__free(&b);
		return;
	}
	repeek();
	buf__reset(&b);
	every_family(&b, EV_T0);
	CHECK_INT(insert(st, "0a1b", 1, 1, &b, &r), 0);
	CHECK_INT(store__retention(st, EV_T0 + 15 * 1000000000ull, &rep, err, sizeof(err)), 0);
	CHECK(rep.more);
	CHECK_INT(rep.raw_deleted, 6);
	for (calls = 0; rep.more && calls < 100; calls++)
		CHECK_INT(store__retention(st, EV_T0 + 15 * 1000000000ull, &rep, err, sizeof(err)),
			  0);
	CHECK(!rep.more);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 0);
	/* Batch keys expire with the raw TTL, by the time received. */
	CHECK_INT(q_int("SELECT count(*) FROM batches", NULL), 1);
	CHECK_INT(store__retention(st, (uint64_t)time(NULL) * 1000000000ull + 3600ull * 1000000000ull,
				   &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.batches_deleted, 1);
	CHECK_INT(q_int("SELECT count(*) FROM batches", NULL), 0);
	store__close(st);
	/* No archive: typed rows past their TTL are deleted. */
	unlink(dbpath);
	{
		struct store_config cfg = { .path = dbpath, .raw_ttl_s = 10, .typed_ttl_s = 20 };

		CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), 0);
		if (st) {
			CHECK_INT(insert(st, "0a1b", 1, 1, &b, &r), 0);
			CHECK_INT(store__retention(st, EV_T0 + 25 * 1000000000ull, &rep, err,
						   sizeof(err)), 0);
			CHECK_INT(rep.typed_deleted, 12);
			CHECK_INT(rep.typed_archived, 0);
			store__close(st);
		}
	}
	buf__free(&b);
}

static void test_config(void)
{
	struct store *st = NULL;
	struct store_config cfg = { .path = dbpath };
	char path[256], link[256];

	cfg.backend = "postgres";
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "postgres") != NULL);
	cfg.backend = NULL;
	cfg.path = ":memory:";
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), -EINVAL);
	cfg.path = dbpath;
	cfg.archive_dir = archdir;
	cfg.typed_ttl_s = 100;
	cfg.archive_ttl_s = 50;
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "archive_ttl_s") != NULL);
	cfg.archive_ttl_s = 0;
	cfg.typed_ttl_s = 0;
	/* archive_dir: writable by others, a symlink. */
	snprintf(path, sizeof(path), "%s/open", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	chmod(path, 0777);
	cfg.archive_dir = path;
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "writable") != NULL);
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK_INT(symlink(archdir, link), 0);
	cfg.archive_dir = link;
	CHECK(store__open(&st, &cfg, err, sizeof(err)) < 0);
	CHECK(st == NULL);
	/* A missing archive_dir is created 0700. */
	snprintf(path, sizeof(path), "%s/new-archive", dir);
	cfg.archive_dir = path;
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), 0);
	store__close(st);
	{
		struct stat sb;

		CHECK_INT(stat(path, &sb), 0);
		CHECK_INT(sb.st_mode & 0777, 0700);
		CHECK_INT(stat(dbpath, &sb), 0);
		CHECK_INT(sb.st_mode & 0777, 0600);
	}
	/* Read-only: the file must exist and be a store. */
	cfg.archive_dir = NULL;
	cfg.read_only = true;
	snprintf(path, sizeof(path), "%s/absent.db", dir);
	cfg.path = path;
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), -ENOENT);
	snprintf(path, sizeof(path), "%s/empty.db", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "not a vigil store") != NULL);
	store__close(NULL);
}

/* The process columns name fields of the one process-field table. */
static void test_proc_cols_match_fields(void)
{
	for (unsigned i = 0; i < ROUTE_PROC_COLS; i++) {
		const char *p = strrchr(route_proc_cols[i].path, '.');

		CHECK(p && proc_field__find(p + 1) != NULL);
	}
}

static void test_reopen(void)
{
	struct store *st = open_store(0, 0, 0, 0, 0);
	struct store_result r;
	struct buf b;
	uint64_t last = 0;

	if (!st)
		return;
	buf__init(&b, 1 << 20);
	ev_line(&b, "web-01", "EVENT", "INFO", 1, EV_T0, "File Opened", 10, "file", EV_FILE_OPEN,
		&ev_bash);
	CHECK_INT(insert(st, "0a1b", 7, 7, &b, &r), 0);
	store__close(st);
	/* Indexes of older versions: ones no longer wanted (schema 3's
	 * process name index among them), one defined differently (schema 3's
	 * time index); reopening drops the first and remakes the second. */
	{
		sqlite3 *rw = NULL;

		CHECK_INT(sqlite3_open(dbpath, &rw), SQLITE_OK);
		CHECK_INT(sqlite3_exec(rw, "CREATE INDEX file_events_user ON file_events(user);"
				       "CREATE INDEX file_events_pid ON file_events(pid);"
				       "CREATE INDEX file_events_process_name ON "
				       "file_events(process_name, time_ns);"
				       "DROP INDEX file_events_time;"
				       "CREATE INDEX file_events_time ON file_events(time_ns);"
				       "PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(rw);
	}
	st = open_store(0, 0, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(q_int("SELECT count(*) FROM sqlite_schema WHERE name = 'file_events_user'", NULL),
		  0);
	CHECK_INT(q_int("SELECT count(*) FROM sqlite_schema WHERE name = 'file_events_pid'", NULL),
		  0);
	CHECK_INT(q_int("SELECT count(*) FROM sqlite_schema WHERE name = "
			"'file_events_process_name'", NULL), 0);
	CHECK_STR(q_text("SELECT sql FROM sqlite_schema WHERE name = 'file_events_time'", NULL),
		  "CREATE INDEX file_events_time ON file_events(time_ns, id, process_name, pid)");
	CHECK_STR(q_text("SELECT sql FROM sqlite_schema WHERE name = 'system_activity_time'",
			 NULL),
		  "CREATE INDEX system_activity_time ON system_activity(time_ns)");
	CHECK_INT(q_int("PRAGMA user_version", NULL), 4);
	CHECK_INT(store__last_seq(st, "0a1b", &last, err, sizeof(err)), 0);
	CHECK_INT(last, 7);
	CHECK_INT(insert(st, "0a1b", 7, 7, &b, &r), 0);
	CHECK_INT(r.status, STORE_DUPLICATE);
	store__close(st);
	buf__free(&b);
}

int main(void)
{
	struct store *st;

	snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/events.db", dir);
	snprintf(archdir, sizeof(archdir), "%s/archive", dir);

	st = open_store(0, 0, 0, 0, 0);
	if (st && sqlite3_open_v2(dbpath, &peek, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    store_sqlite__add_functions(peek, NULL, 0) == 0) {
		test_every_family(st);
		test_idempotency(st);
		test_hostile_lines(st);
		test_rejection_counters(st);
		store__close(st);
		test_reopen();
		test_retention();
		test_config();
		test_proc_cols_match_fields();
	}
	sqlite3_close(peek);
	if (!unit_failed) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	} else {
		fprintf(stderr, "files kept in %s\n", dir);
	}
	return unit_report("test_store");
}
