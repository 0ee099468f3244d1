/* Queries over a store filled with known events: every filter (host, time
 * range, type, name, process, pid, user, path substring and glob, address,
 * minimum severity, limit), the table output (aligned, control bytes
 * replaced) and the JSON output (valid JSON per line, JSON columns
 * embedded), the stats numbers, and raw SQL that must not write. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/store.h"
#include "store_events.h"
#include "unit.h"

static char dir[64], dbpath[128];
static char err[512];
static char *out;
static size_t outlen;

static FILE *capture(void)
{
	free(out);
	out = NULL;
	outlen = 0;
	return open_memstream(&out, &outlen);
}

static unsigned lines_of(const char *s)
{
	unsigned n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* Events matching f, as JSON lines in out; the number of lines or -errno. */
static int run(struct store *st, const struct query_filter *f, enum query_format fmt)
{
	FILE *o = capture();
	int ret = store__query(st, f, fmt, o, err, sizeof(err));

	fclose(o);
	return ret < 0 ? ret : (int)lines_of(out);
}

static struct query_filter any(void)
{
	struct query_filter f = { .pid = -1 };

	return f;
}

/* Every output line is valid JSON, checked by SQLite's own json_valid. */
static bool all_json(const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	bool ok = true;
	const char *p = text;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		return false;
	sqlite3_prepare_v2(db, "SELECT json_valid(?1) AND json_type(?1) = 'object'", -1, &st, NULL);
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		sqlite3_bind_text(st, 1, p, (int)n, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_int(st, 0)) {
			fprintf(stderr, "not JSON: %.*s\n", (int)n, p);
			ok = false;
		}
		sqlite3_reset(st);
		p += n + (nl ? 1 : 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

static void fill(struct store *st)
{
	struct ev_proc curl = { "curl", "/usr/bin/curl", "curl -fsS https://example.com", "alice",
				NULL, 48211, 1337, 1000 };
	struct ev_proc sshd = { "sshd", "/usr/sbin/sshd", "sshd: bob [priv]", "bob", NULL, 700, 1,
				0 };
	struct ev_proc evil = { "ev\\u001b[31mil", "/tmp/.x/ev\\u001b[2Jil", "evil", "mallory", NULL,
				666, 1, 1001 };
	struct batch_meta m;
	struct store_result r;
	uint8_t h[32];
	struct buf b;
	buf__init(&b, 1 << 20);
	/* host web-01: t0 .. t0+4 s */
	ev_line(&b, "web-01", "EVENT", "INFO", 1, EV_T0, "Process Created", 1, "process", NULL,
		&curl);
	ev_line(&b, "web-01", "EVENT", "INFO", 2, EV_T0 + 1000000000ull, "File Renamed", 13,
		"file", EV_FILE_RENAME, &ev_bash);
	ev_line(&b, "web-01", "EVENT", "INFO", 3, EV_T0 + 2000000000ull, "Network Connect", 42,
		"network", EV_NET_CONNECT, &curl);
	ev_line(&b, "web-01", "EVENT", "INFO", 4, EV_T0 + 3000000000ull, "DNS Answer", 51, "dns",
		EV_DNS_ANSWER, &curl);
	ev_line(&b, "web-01", "EVENT", "INFO", 5, EV_T0 + 4000000000ull, "Library Loaded", 70,
		"library", EV_LIBRARY, &curl);
	/* host db-01: t0+5 .. t0+9 s */
	ev_line(&b, "db-01", "EVENT", "INFO", 6, EV_T0 + 5000000000ull, "Identity Changed", 30,
		"identity", EV_IDENTITY, &sshd);
	ev_line(&b, "db-01", "EVENT", "MEDIUM", 7, EV_T0 + 6000000000ull,
		"New Executable Anonymous Memory Mapped", 60, "memory", EV_MEMORY, &sshd);
	ev_line(&b, "db-01", "ALERT", "HIGH", 8, EV_T0 + 7000000000ull, "Reverse Shell", 5000,
		"process", NULL, &evil);
	ev_line(&b, "db-01", "SYSTEM_ACTIVITY", "WARNING", 9, EV_T0 + 8000000000ull,
		"Events Dropped", 1005, "system", EV_SYSTEM, NULL);
	ev_line(&b, "db-01", "EVENT", "INFO", 10, EV_T0 + 9000000000ull, "File Opened", 10, "file",
		EV_FILE_OPEN, &evil);
	ev_meta(&m, "0a1b", 1, ev_count_lines(&b), 2000);
	ev_sha(h, 1);
	CHECK_INT(store__insert_batch(st, &m, h, b.data, b.len, &r, err, sizeof(err)), 0);
	CHECK_INT(r.events_stored, 10);
	buf__free(&b);
}

static void test_filters(struct store *st)
{
	struct query_filter f = any();

	CHECK_INT(run(st, &f, QUERY_JSON), 10);
	CHECK(all_json(out));
	/* Oldest first, whatever the table. */
	{
		static const char first[] = "{\"time_ns\":1736510400000000000,\"type\":\"process\",";

		CHECK(out && strncmp(out, first, sizeof(first) - 1) == 0);
	}

	f.host = "db-01";
	CHECK_INT(run(st, &f, QUERY_JSON), 5);
	f.host = "nope";
	CHECK_INT(run(st, &f, QUERY_JSON), 0);

	f = any();
	f.since_ns = EV_T0 + 2000000000ull;
	f.until_ns = EV_T0 + 5000000000ull;	/* [2 s, 5 s) */
	CHECK_INT(run(st, &f, QUERY_JSON), 3);
	CHECK(out && strstr(out, "\"type\":\"network\"") && strstr(out, "\"type\":\"library\"") &&
	      !strstr(out, "\"type\":\"identity\""));

	f = any();
	f.type = "file";
	CHECK_INT(run(st, &f, QUERY_JSON), 2);
	CHECK(all_json(out));
	/* One table: every column, JSON columns as JSON. */
	CHECK(out && strstr(out, "\"open_flag_names\":[\"O_RDWR\",\"O_CREAT\"]"));
	CHECK(out && strstr(out, "\"new_path\":\"/etc/passwd\""));
	CHECK(out && strstr(out, "\"path\":\"/tmp/x\\\"y\\n.txt\""));
	f.type = "file_events";
	CHECK_INT(run(st, &f, QUERY_JSON), 2);
	f.type = "alert";
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	CHECK(out && strstr(out, "\"name\":\"Reverse Shell\"") && strstr(out, "\"details\":{"));
	f.type = "bogus";
	CHECK_INT(run(st, &f, QUERY_JSON), -EINVAL);
	CHECK(strstr(err, "one of: process") != NULL);

	f = any();
	f.name = "DNS Answer";
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	f = any();
	f.process_name = "curl";
	CHECK_INT(run(st, &f, QUERY_JSON), 4);
	f.process_name = "curl' OR '1'='1";
	CHECK_INT(run(st, &f, QUERY_JSON), 0);
	f = any();
	f.pid = 700;
	CHECK_INT(run(st, &f, QUERY_JSON), 2);
	f.pid = 0;
	CHECK_INT(run(st, &f, QUERY_JSON), 0);
	f = any();
	f.user = "bob";
	CHECK_INT(run(st, &f, QUERY_JSON), 2);
	/* Process filters leave out tables without a process. */
	f.type = "system";
	CHECK_INT(run(st, &f, QUERY_JSON), -EINVAL);

	f = any();
	f.path = "passwd";			/* substring: rename's new path */
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	f.path = "/tmp/*";			/* glob */
	CHECK_INT(run(st, &f, QUERY_JSON), 1);	/* the open; not the alert's executable */
	f.path = "*libselinux*";
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	f.path = "/usr/bin/curl";		/* process events: the executable */
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	CHECK(out && strstr(out, "\"name\":\"Process Created\""));
	f.path = "%";				/* LIKE wildcards mean nothing here */
	CHECK_INT(run(st, &f, QUERY_JSON), 0);

	f = any();
	f.address = "93.184.216.34";		/* remote address and DNS answer */
	CHECK_INT(run(st, &f, QUERY_JSON), 2);
	f.address = "10.0.*";
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	f.address = "10.255.255.53";		/* the resolver */
	CHECK_INT(run(st, &f, QUERY_JSON), 1);

	f = any();
	f.min_severity = "MEDIUM";
	CHECK_INT(run(st, &f, QUERY_JSON), 2);
	f.min_severity = "HIGH";
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	f.min_severity = "WARNING";
	CHECK_INT(run(st, &f, QUERY_JSON), 3);
	f.min_severity = "SEVERE";
	CHECK_INT(run(st, &f, QUERY_JSON), -EINVAL);

	/* The newest N, in time order. */
	f = any();
	f.limit = 3;
	CHECK_INT(run(st, &f, QUERY_JSON), 3);
	CHECK(out && strstr(out, "\"name\":\"Reverse Shell\"") &&
	      strstr(out, "\"name\":\"File Opened\"") && !strstr(out, "Identity"));
	CHECK(out && strstr(out, "Reverse Shell") < strstr(out, "File Opened"));
	f.type = "file";
	f.limit = 1;
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
	CHECK(out && strstr(out, "\"name\":\"File Opened\""));
	f.limit = QUERY_MAX_LIMIT + 1;
	CHECK_INT(run(st, &f, QUERY_JSON), -EINVAL);

	/* Combined. */
	f = any();
	f.host = "db-01";
	f.type = "file";
	f.user = "mallory";
	f.path = "/tmp/*";
	CHECK_INT(run(st, &f, QUERY_JSON), 1);
}

static void test_table(struct store *st)
{
	struct query_filter f = any();
	char *l1, *l2;

	f.type = "network";
	CHECK_INT(run(st, &f, QUERY_TABLE), 2);	/* header + 1 row */
	CHECK(out && strncmp(out, "time", 4) == 0);
	CHECK(out && strstr(out, "2025-01-10T12:00:02.000000000Z"));
	CHECK(out && strstr(out, "10.0.0.5:41234 -> 93.184.216.34:443"));
	/* Aligned: "host" starts where the host value starts. */
	l1 = out;
	l2 = out ? strchr(out, '\n') + 1 : NULL;
	CHECK(l2 && strstr(l1, "host") - l1 == strstr(l2, "web-01") - l2);
	CHECK(l2 && strstr(l1, "summary") - l1 == strstr(l2, "10.0.0.5") - l2);

	/* Every type: no escape byte of a hostile name reaches the terminal. */
	f = any();
	CHECK_INT(run(st, &f, QUERY_TABLE), 11);
	CHECK(out && !strchr(out, '\x1b'));
	CHECK(out && strstr(out, "ev?[31mil"));
	CHECK(out && strstr(out, "/tmp/x\"y?.txt"));
	CHECK(out && strstr(out, "1520 events dropped"));
	/* Nothing matches: the header alone. */
	f.host = "nope";
	CHECK_INT(run(st, &f, QUERY_TABLE), 1);
}

static void test_stats(struct store *st)
{
	FILE *o;
	struct buf b;
	size_t file_bytes = 0;
	char want[128];
	struct batch_meta m;
	struct store_result r;
	uint8_t h[32];

	/* A second batch of two File Opened events of known size. */
	buf__init(&b, 1 << 20);
	ev_line(&b, "web-01", "EVENT", "INFO", 20, EV_T0 + 20000000000ull, "File Opened", 10,
		"file", EV_FILE_OPEN, &ev_bash);
	ev_line(&b, "web-01", "EVENT", "INFO", 21, EV_T0 + 21000000000ull, "File Opened", 10,
		"file", EV_FILE_OPEN, &ev_bash);
	ev_meta(&m, "0a1b", 2, 2, 501);
	ev_sha(h, 2);
	CHECK_INT(store__insert_batch(st, &m, h, b.data, b.len, &r, err, sizeof(err)), 0);
	store__count_rejection(st, "bad_hmac", 4);
	CHECK_INT(store__flush(st, err, sizeof(err)), 0);
	/* Earlier: one File Opened line of the same length (evil's process
	 * block differs from bash's, so measure it from the raw table). */
	{
		sqlite3 *db;
		sqlite3_stmt *s;

		sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL);
		store_sqlite__add_functions(db, NULL, 0);
		sqlite3_prepare_v2(db, "SELECT sum(length(json) + 1) FROM raw_events WHERE "
				   "name = 'File Opened'", -1, &s, NULL);
		if (sqlite3_step(s) == SQLITE_ROW)
			file_bytes = (size_t)sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		sqlite3_close(db);
	}

	o = capture();
	CHECK_INT(store__stats(st, QUERY_JSON, o, err, sizeof(err)), 0);
	fclose(o);
	CHECK(all_json(out));
	snprintf(want, sizeof(want), "{\"kind\":\"type\",\"family\":\"file\",\"name\":\"File Opened\","
		 "\"count\":3,\"average_size\":%zu,\"total_size\":%zu}", (file_bytes + 1) / 3,
		 file_bytes);
	CHECK(out && strstr(out, want));
	if (out && !strstr(out, want))
		fprintf(stderr, "want %s in:\n%s", want, out);
	CHECK(out && strstr(out, "{\"kind\":\"total\",\"family\":null,\"name\":null,\"count\":12,"));
	/* 12 events in 2 batches of (176 + body + 32) bytes. */
	snprintf(want, sizeof(want), "\"wire_bytes\":%d,", 2 * (176 + 32) + 2000 + 501);
	CHECK(out && strstr(out, want));
	CHECK(out && strstr(out, "\"wire_bytes_per_event\":243.1,"));	/* 2917 / 12 */
	CHECK(out && strstr(out, "{\"kind\":\"rejection\",\"reason\":\"bad_hmac\",\"count\":4}"));

	o = capture();
	CHECK_INT(store__stats(st, QUERY_TABLE, o, err, sizeof(err)), 0);
	fclose(o);
	CHECK(out && strstr(out, "Event count and size summary"));
	CHECK(out && strstr(out, "File Opened"));
	CHECK(out && strstr(out, "Rejections"));
	CHECK(out && strstr(out, "bad_hmac"));
	buf__free(&b);
}

static int sql(struct store *st, const char *q, enum query_format fmt, uint32_t max)
{
	FILE *o = capture();
	int ret = store__sql(st, q, fmt, max, o, err, sizeof(err));

	fclose(o);
	return ret;
}

static void test_sql(struct store *st)
{
	CHECK_INT(sql(st, "SELECT count(*) AS n FROM raw_events", QUERY_JSON, 0), 0);
	CHECK_STR(out, "{\"n\":12}\n");
	CHECK_INT(sql(st, "SELECT name, pid FROM process_events UNION ALL SELECT name, pid FROM "
		      "alert_events ORDER BY 1", QUERY_TABLE, 0), 0);
	CHECK_INT(lines_of(out), 3);
	CHECK_INT(sql(st, "SELECT * FROM pragma_table_info('file_events')", QUERY_JSON, 0), 0);
	CHECK(lines_of(out) > 30);
	CHECK_INT(sql(st, "SELECT value FROM json_each('[1,2,3,4,5]')", QUERY_JSON, 2), 0);
	CHECK_INT(lines_of(out), 2);
	CHECK_INT(sql(st, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
		      "WHERE x < 10) SELECT x FROM c", QUERY_JSON, 0), 0);
	CHECK_INT(lines_of(out), 10);
	CHECK_INT(sql(st, "SELECT x'00ff' AS b, 1.5 AS f, NULL AS n, 'a\tb' AS t", QUERY_JSON, 0),
		  0);
	CHECK_STR(out, "{\"b\":\"00ff\",\"f\":1.5,\"n\":null,\"t\":\"a\\tb\"}\n");

	/* Nothing that writes, attaches or changes settings. */
	static const char *const refused[] = {
		"DELETE FROM raw_events",
		"UPDATE devices SET last_seq = 0",
		"INSERT INTO rejections VALUES ('x', 1, 1)",
		"DROP TABLE file_events",
		"CREATE TABLE t (x)",
		"CREATE TEMP TABLE t (x)",
		"ATTACH DATABASE '/tmp/vigil-attack.db' AS a",
		"PRAGMA journal_mode = DELETE",
		"PRAGMA query_only = 0",
		"PRAGMA writable_schema = 1",
		"VACUUM",
		"BEGIN",
		"SELECT 1; DELETE FROM raw_events",
		"REPLACE INTO rejections VALUES ('x', 1, 1)",
		"WITH x AS (SELECT 1) DELETE FROM raw_events",
		"SELECT load_extension('/tmp/x.so')",
		"",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int ret = sql(st, refused[i], QUERY_JSON, 0);

		CHECK(ret < 0);
		if (ret >= 0)
			fprintf(stderr, "not refused: %s\n", refused[i]);
	}
	CHECK_INT(sql(st, "SELECT count(*) AS n FROM raw_events", QUERY_JSON, 0), 0);
	CHECK_STR(out, "{\"n\":12}\n");
	CHECK(access("/tmp/vigil-attack.db", F_OK) != 0);
	/* A syntax error says so. */
	CHECK_INT(sql(st, "SELEC 1", QUERY_JSON, 0), -EINVAL);
	CHECK(strstr(err, "syntax") != NULL);
}

/* A second process's view: "vigil query" opens the file read-only. */
static void test_read_only(void)
{
	struct store_config cfg = { .path = dbpath, .read_only = true };
	struct store *ro = NULL;
	struct store_result r;
	struct batch_meta m;
	uint8_t h[32] = { 0 };
	struct query_filter f = any();

	CHECK_INT(store__open(&ro, &cfg, err, sizeof(err)), 0);
	if (!ro)
		return;
	CHECK_INT(run(ro, &f, QUERY_JSON), 12);
	ev_meta(&m, "0a1b", 9, 1, 1);
	CHECK_INT(store__insert_batch(ro, &m, h, "{}\n", 3, &r, err, sizeof(err)), -EROFS);
	CHECK_INT(store__retention(ro, EV_T0, NULL, err, sizeof(err)), -EROFS);
	CHECK(sql(ro, "DELETE FROM raw_events", QUERY_JSON, 0) < 0);
	store__close(ro);
}

/* The plan of f's query, one step per line, in out. */
static int plan(struct store *st, const struct query_filter *f)
{
	FILE *o = capture();
	int ret = store__explain(st, f, o, err, sizeof(err));

	fclose(o);
	return ret;
}

static unsigned count_of(const char *s, const char *what)
{
	unsigned n = 0;

	for (const char *p = s; p && (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Every index the store makes is one a query uses (store_sqlite.c keeps no
 * other: each costs every insert), and it serves the filter and the time
 * order at once: no temporary sort inside a table's subquery. */
static void test_plans(struct store *st)
{
	struct query_filter f = any();
	unsigned tables = 10, proc_tables = 9, sorts;

	/* No filter: every table newest first by its time index. */
	CHECK_INT(plan(st, &f), 0);
	CHECK_INT(count_of(out, "USING INDEX "), tables);
	CHECK_INT(count_of(out, "_time\n"), tables);
	sorts = count_of(out, "TEMP B-TREE");	/* of the outer ORDER BYs */
	f.type = "file";
	CHECK_INT(plan(st, &f), 0);
	CHECK(strstr(out, "SCAN file_events USING INDEX file_events_time\n") != NULL);
	CHECK_INT(count_of(out, "TEMP B-TREE"), 1);	/* the outer ORDER BY only */
	/* --since, --until: a range of the time index. */
	f.since_ns = EV_T0;
	f.until_ns = EV_T0 + 1;
	CHECK_INT(plan(st, &f), 0);
	CHECK(strstr(out, "SEARCH file_events USING INDEX file_events_time (time_ns>? AND "
		     "time_ns<?)") != NULL);
	/* --host: (host, time_ns). */
	f = any();
	f.host = "web-01";
	CHECK_INT(plan(st, &f), 0);
	CHECK_INT(count_of(out, "_host (host=?)"), tables);
	CHECK(strstr(out, "SEARCH file_events USING INDEX file_events_host (host=?)\nSCAN") !=
	      NULL);
	/* --process-name and --pid have no index of their own (a page
	 * written per name, or per event, at every commit): they are in the
	 * time index, which the query walks newest first, in order. */
	f = any();
	f.process_name = "curl";
	CHECK_INT(plan(st, &f), 0);
	CHECK_INT(count_of(out, "_time\n"), proc_tables);
	CHECK_INT(count_of(out, "TEMP B-TREE"), sorts);
	f = any();
	f.pid = 1337;
	CHECK_INT(plan(st, &f), 0);
	CHECK_INT(count_of(out, "_time\n"), proc_tables);
	CHECK_INT(count_of(out, "TEMP B-TREE"), sorts);
	f.type = "network";
	f.host = "web-01";
	CHECK_INT(plan(st, &f), 0);
	CHECK(strstr(out, "SEARCH network_events USING INDEX network_events_host (host=?)") !=
	      NULL);
	/* Filters no index can serve walk the time index backwards and stop
	 * at the limit: user (real OR login), path (substring or glob over
	 * several columns), address (local OR remote), name, severity. */
	f = any();
	f.user = "alice";
	f.path = "/etc";
	f.address = "10.0.0.5";
	f.name = "Network Connect";
	f.min_severity = "INFO";
	f.type = "network";
	f.path = NULL;
	CHECK_INT(plan(st, &f), 0);
	CHECK(strstr(out, "SCAN network_events USING INDEX network_events_time\n") != NULL);
	/* The store has no index beyond those. */
	{
		FILE *o = capture();

		CHECK_INT(store__sql(st, "SELECT name FROM sqlite_schema WHERE type = 'index' AND "
				     "sql IS NOT NULL AND (tbl_name LIKE '%_events' OR "
				     "tbl_name = 'system_activity') ORDER BY name", QUERY_TABLE,
				     1000, o, err, sizeof(err)), 0);
		fclose(o);
		/* A header, time and host, raw_events_time. */
		CHECK_INT(lines_of(out), 1 + 2 * tables + 1);
		CHECK(strstr(out, "_pid") == NULL);
		CHECK(strstr(out, "_process_name") == NULL);
		CHECK(strstr(out, "file_events_path") == NULL);
		CHECK(strstr(out, "_user") == NULL);
		CHECK(strstr(out, "raw_events_time") != NULL);
	}
	f = any();
	f.type = "nope";
	CHECK_INT(plan(st, &f), -EINVAL);
}

int main(void)
{
	struct store_config cfg = { 0 };
	struct store *st = NULL;

	snprintf(dir, sizeof(dir), "/tmp/test_query.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/events.db", dir);
	cfg.path = dbpath;
	CHECK_INT(store__open(&st, &cfg, err, sizeof(err)), 0);
	if (st) {
		fill(st);
		test_filters(st);
		test_table(st);
		test_stats(st);
		test_sql(st);
		test_plans(st);
		test_read_only();
		store__close(st);
	}
	free(out);
	unlink(dbpath);
	{
		char p[160];

		snprintf(p, sizeof(p), "%s-wal", dbpath);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", dbpath);
		unlink(p);
	}
	rmdir(dir);
	return unit_report("test_query");
}
