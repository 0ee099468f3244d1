/* Raw rows that point into their batch's stored body (store__insert_batch_body):
 * every stored line reads back through raw_events.json byte for byte as the
 * agent sealed it (zstd bodies from batch_seal, and uncompressed ones), through
 * store__sql and a connection of our own; a corrupted body or an offset outside
 * it is an SQL error for its rows only; the reader's cache stays within its
 * bound and decompresses a batch once per run of its rows; bodies expire with
 * the newest of their rows; a schema-2 store's raw rows are migrated. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/store.h"
#include "ship/batch.h"
#include "store_events.h"
#include "ship/blocks.h"
#include "ship/blocks_known.h"
#include "unit.h"

#define DEV "0a1b"

static char dir[64], dbpath[128];
static char err[512];
static const uint8_t key[32] = { 7 };
static uint64_t step = 1;	/* ns between the events put_batch makes */

static void fresh(void)
{
	char p[160];

	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
}

static struct store *open_store(void)
{
	struct store_config cfg = { .path = dbpath, .raw_ttl_s = 10, .typed_ttl_s = 20 };
	struct store *st = NULL;
	int ret = store__open(&st, &cfg, err, sizeof(err));

	if (ret)
		fprintf(stderr, "store__open: %s\n", err);
	CHECK_INT(ret, 0);
	return st;
}

static sqlite3 *peek_open(bool rw)
{
	sqlite3 *db = NULL;

	CHECK_INT(sqlite3_open_v2(dbpath, &db, rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
				  NULL), SQLITE_OK);
	CHECK_INT(store_sqlite__add_functions(db, err, sizeof(err)), 0);
	return db;
}

/* A batch of k events (message ids from msg0, times from t) plus a line
 * that is not an event, sealed by the agent's code (zstd) or, plain, sent as
 * an uncompressed body; stored as the collector stores it. */
static int put_batch(struct store *st, uint64_t seq, unsigned long long msg0, unsigned k,
		     uint64_t t, bool plain, struct buf *lines, struct store_result *res)
{
	struct batch_meta m;
	struct buf sealed;
	uint8_t sha[32];
	int ret;

	buf__reset(lines);
	for (unsigned i = 0; i < k; i++) {
		ev_line(lines, i % 2 ? "web-01" : "db-02", "EVENT", "INFO", msg0 + i, t + i * step,
			"File Opened", 10, "file", EV_FILE_OPEN, &ev_bash);
		if (i == 1)
			buf__add(lines, "not json at all\n", 16);
	}
	ev_sha(sha, (unsigned)seq);
	if (plain) {
		ev_meta(&m, DEV, seq, ev_count_lines(lines), (uint32_t)lines->len);
		m.flags = 0;
		m.raw_len = (uint32_t)lines->len;
		return store__insert_batch_body(st, &m, sha, lines->data, lines->len, lines->data,
						lines->len, res, err, sizeof(err));
	}
	buf__init(&sealed, 64u << 20);
	ev_meta(&m, DEV, seq, ev_count_lines(lines), 0);
	ret = batch_seal(&m, lines->data, lines->len, key, 3, &sealed, err, sizeof(err));
	CHECK_INT(ret, 0);
	if (!ret)
		ret = store__insert_batch_body(st, &m, sha, lines->data, lines->len,
					       sealed.data + BATCH_HEADER_LEN, m.body_len, res, err,
					       sizeof(err));
	buf__free(&sealed);
	return ret;
}

/* The same events sealed as the shipper seals them, each distinct process
 * block once (ship/blocks.h): the store keeps the body with references and
 * finds every line again, whole, by expanding it. */
static const struct ev_proc ev_curl = { "curl", "/usr/bin/curl", "curl -s http://x/{\\\"@\\\":0}",
					"alice", NULL, 4242, 1337, 1000 };

static int put_batch_known(struct store *st, uint64_t seq, unsigned long long msg0, unsigned k,
			   uint64_t t, struct blocks_known *kn, struct buf *lines,
			   struct store_result *res);

static int put_batch_blocks(struct store *st, uint64_t seq, unsigned long long msg0, unsigned k,
			    uint64_t t, struct buf *lines, struct store_result *res)
{
	return put_batch_known(st, seq, msg0, k, t, NULL, lines, res);
}

/* With kn, blocks the collector stored are remote references (blocks_known.h):
 * opened through the store's resolver and stored with the batches they
 * point into, as the collector does; then staged and confirmed, as the
 * shipper does on the ACK. */
static int put_batch_known(struct store *st, uint64_t seq, unsigned long long msg0, unsigned k,
			   uint64_t t, struct blocks_known *kn, struct buf *lines,
			   struct store_result *res)
{
	struct blocks_resolver rr;
	uint64_t refs[64];
	uint32_t nrefs = 0;
	struct blocks_enc *enc;
	struct batch_meta m;
	struct buf sealed, body, opened;
	enum batch_error why;
	uint8_t sha[32];
	int ret;

	buf__reset(lines);
	buf__init(&body, 64u << 20);
	CHECK_INT(blocks_enc__new(&enc), 0);
	blocks_enc__use_known(enc, kn);
	for (unsigned i = 0; i < k; i++) {
		size_t at = lines->len;
		struct line_blocks bl = { .n = 2 };
		const char *p, *q;

		ev_line(lines, "web-01", "EVENT", "INFO", msg0 + i, t + i * step, "File Opened", 10,
			"file", EV_FILE_OPEN, i % 3 ? &ev_bash : &ev_curl);
		p = strstr(lines->data + at, "\"process_details\":") + 18;
		q = strstr(p, ",\"parent_process_details\":");
		bl.off[0] = (uint32_t)(p - lines->data - at);
		bl.len[0] = (uint32_t)(q - p);
		bl.off[1] = (uint32_t)(q + 26 - lines->data - at);
		bl.len[1] = (uint32_t)(lines->len - 3 - at - bl.off[1]);
		CHECK(blocks_line_ok(lines->data + at, lines->len - at));
		CHECK_INT(blocks_enc__add(enc, &body, lines->data + at, lines->len - at, &bl), 0);
	}
	if (!kn) {
		CHECK_INT(blocks_enc__count(enc), 4);	/* bash, curl and their two parents */
		CHECK(body.len * 2 < lines->len);
	}
	ev_sha(sha, (unsigned)seq);
	buf__init(&sealed, 64u << 20);
	buf__init(&opened, 64u << 20);
	ev_meta(&m, DEV, seq, k, 0);
	m.flags = BATCH_FLAG_BLOCKS;
	ret = batch_seal(&m, body.data, body.len, key, 3, &sealed, err, sizeof(err));
	CHECK_INT(ret, 0);
	store__resolver(st, DEV, seq, &rr, refs, 64);
	if (!ret)
		ret = batch_open_resolve((uint8_t *)sealed.data, sealed.len, &m, NULL, &rr,
					 &opened, &why, err, sizeof(err));
	CHECK_INT(ret, 0);
	if (kn && rr.unresolved == 0)
		CHECK(opened.len == lines->len &&
		      memcmp(opened.data, lines->data, lines->len) == 0);
	for (unsigned i = 0; i < 64; i++)
		if (refs[i])
			refs[nrefs++] = refs[i];
	if (!ret && rr.unresolved) {
		/* stored as its lines, which read back the same whatever is
		 * stored later (the collector puts the batch's definitions
		 * before them too: test_collector.py) */
		m.flags = 0;
		m.raw_len = m.body_len = (uint32_t)opened.len;
		ret = store__insert_batch_body(st, &m, sha, opened.data, opened.len, opened.data,
					       opened.len, res, err, sizeof(err));
	} else if (!ret) {
		ret = store__insert_batch_refs(st, &m, sha, opened.data, opened.len,
					       sealed.data + BATCH_HEADER_LEN, m.body_len, refs,
					       nrefs, res, err, sizeof(err));
	}
	if (!ret && kn) {
		CHECK_INT(blocks_known__stage(kn, seq, body.data, body.len), 0);
		blocks_known__confirm(kn, seq);
	}
	if (kn)
		buf__reset(lines), buf__add(lines, opened.data, opened.len);
	buf__free(&sealed);
	buf__free(&opened);
	buf__free(&body);
	blocks_enc__free(enc);
	return ret;
}

/* Every raw row of seq: its json is the line at (line_off, line_len) of what
 * was sent, a whole line, and the rows cover every event line. */
static void check_lines(sqlite3 *db, uint64_t seq, const struct buf *lines, unsigned want)
{
	sqlite3_stmt *s;
	unsigned rows = 0, same = 0, text = 0;

	CHECK_INT(sqlite3_prepare_v2(db, "SELECT line_off, line_len, json, line_text IS NULL"
				     " FROM raw_events WHERE device_id = ?1 AND seq = ?2"
				     " ORDER BY line_off", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, DEV, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)seq);
	while (sqlite3_step(s) == SQLITE_ROW && rows < 10000) {
		size_t off = (size_t)sqlite3_column_int64(s, 0), n = (size_t)sqlite3_column_int64(s, 1);
		const char *js = (const char *)sqlite3_column_text(s, 2);

		rows++;
		text += sqlite3_column_int(s, 3) == 0;
		if (js && off + n < lines->len && (size_t)sqlite3_column_bytes(s, 2) == n &&
		    memcmp(js, lines->data + off, n) == 0 && lines->data[off + n] == '\n' &&
		    (off == 0 || lines->data[off - 1] == '\n'))
			same++;
	}
	sqlite3_finalize(s);
	CHECK_INT(rows, want);
	CHECK_INT(same, want);
	CHECK_INT(text, 0);
}

static void test_read_back(void)
{
	struct store *st = open_store();
	struct store_result r;
	struct buf lines;
	sqlite3 *db;
	FILE *out;
	char *text = NULL;
	size_t tlen = 0;

	if (!st)
		return;
	buf__init(&lines, 16u << 20);
	CHECK_INT(put_batch(st, 1, 100, 50, EV_T0, false, &lines, &r), 0);
	CHECK_INT(r.status, STORE_STORED);
	CHECK_INT(r.events_stored, 50);
	CHECK_INT(r.events_malformed, 1);
	db = peek_open(false);
	check_lines(db, 1, &lines, 50);
	CHECK_INT(put_batch(st, 2, 200, 7, EV_T0, true, &lines, &r), 0);
	CHECK_INT(r.events_stored, 7);
	check_lines(db, 2, &lines, 7);
	/* Typed rows (16 to an INSERT, the last ones one by one): one per raw
	 * row, with its values. */
	{
		sqlite3_stmt *s;

		CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*), sum(f.time_ns = r.time_ns AND"
					     " f.host = r.host AND f.name = r.name AND f.severity ="
					     " r.severity AND f.process_name = 'bash' AND f.pid ="
					     " 1337) FROM file_events f JOIN raw_events r USING"
					     " (device_id, message_id)", -1, &s, NULL), SQLITE_OK);
		CHECK_INT(sqlite3_step(s), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(s, 0), 57);
		CHECK_INT(sqlite3_column_int(s, 1), 57);
		sqlite3_finalize(s);
	}
	/* A re-sent batch: a duplicate, nothing stored twice. */
	CHECK_INT(put_batch(st, 2, 200, 7, EV_T0, true, &lines, &r), 0);
	CHECK_INT(r.status, STORE_DUPLICATE);
	/* Events all already stored: their rows point into batch 2, and a body
	 * no row points into is not kept. */
	CHECK_INT(put_batch(st, 3, 200, 7, EV_T0, false, &lines, &r), 0);
	CHECK_INT(r.events_duplicate, 7);
	{
		sqlite3_stmt *s;

		CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM raw_batches", -1, &s, NULL),
			  SQLITE_OK);
		CHECK_INT(sqlite3_step(s), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(s, 0), 2);
		sqlite3_finalize(s);
	}
	/* The body and lines must agree with the header. */
	{
		struct batch_meta m;
		uint8_t sha[32] = { 9 };

		ev_meta(&m, DEV, 9, 1, (uint32_t)lines.len);
		m.flags = 0;
		m.raw_len = (uint32_t)lines.len + 1;
		CHECK_INT(store__insert_batch_body(st, &m, sha, lines.data, lines.len, lines.data,
						   lines.len, &r, err, sizeof(err)), -EINVAL);
		m.raw_len = (uint32_t)lines.len;
		m.body_len = (uint32_t)lines.len - 1;
		CHECK_INT(store__insert_batch_body(st, &m, sha, lines.data, lines.len, lines.data,
						   lines.len - 1, &r, err, sizeof(err)), -EINVAL);
		CHECK_INT(store__insert_batch_body(st, &m, sha, lines.data, lines.len, NULL, 0, &r,
						   err, sizeof(err)), -EINVAL);
	}
	/* Through the store's own read-only connection (vigil query --sql). */
	out = open_memstream(&text, &tlen);
	CHECK(out != NULL);
	if (out) {
		CHECK_INT(store__sql(st, "SELECT json FROM raw_events WHERE seq = 2 AND "
				     "message_id LIKE '%0c8'", QUERY_JSON, 0, out, err,
				     sizeof(err)), 0);
		fclose(out);
		CHECK(text && strstr(text, "5c1d2e3f-4a5b-8c6d-8000-0000000000c8") != NULL);
		free(text);
	}
	CHECK_INT(put_batch_blocks(st, 4, 5000, 40, EV_T0, &lines, &r), 0);
	CHECK_INT(r.status, STORE_STORED);
	CHECK_INT(r.events_stored, 40);
	check_lines(db, 4, &lines, 40);
	{
		sqlite3_stmt *s;

		CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*), sum(f.process_name = 'curl'),"
					     " sum(f.parent_name = 'bash') FROM file_events f JOIN"
					     " raw_events r USING (device_id, message_id) WHERE"
					     " r.seq = 4", -1, &s, NULL), SQLITE_OK);
		CHECK_INT(sqlite3_step(s), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(s, 0), 40);
		CHECK_INT(sqlite3_column_int(s, 1), 14);
		CHECK_INT(sqlite3_column_int(s, 2), 40);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	store__close(st);
	buf__free(&lines);
}

/* One row of a corrupted body fails; the other batch's rows still read. */
static int json_of(sqlite3 *db, uint64_t seq)
{
	sqlite3_stmt *s;
	int rc, n = 0;

	if (sqlite3_prepare_v2(db, "SELECT json FROM raw_events WHERE seq = ?1", -1, &s, NULL))
		return -1;
	sqlite3_bind_int64(s, 1, (int64_t)seq);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < 10000)
		n++;
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : -rc;
}

static void test_corrupt(void)
{
	static const char *const hits[] = {
		/* truncated zstd */
		"UPDATE raw_batches SET body = substr(body, 1, length(body) - 9) WHERE seq = 1",
		/* not zstd at all */
		"UPDATE raw_batches SET body = x'28b52ffd0102030405' WHERE seq = 1",
		/* raw_len larger than the body decompresses to, and past the bound */
		"UPDATE raw_batches SET raw_len = raw_len + 1 WHERE seq = 1",
		"UPDATE raw_batches SET raw_len = 1 << 40 WHERE seq = 1",
		/* unknown flags; an uncompressed body of the wrong length */
		"UPDATE raw_batches SET flags = 6 WHERE seq = 1",
		"UPDATE raw_batches SET flags = 0 WHERE seq = 1",
		/* lines outside their (shorter) body */
		"UPDATE raw_batches SET flags = 0, raw_len = 10, body = x'41424344454647484950'"
		" WHERE seq = 1",
		/* no body at all */
		"DELETE FROM raw_batches WHERE seq = 1",
	};
	sqlite3 *rw;

	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
		struct store *st;
		struct store_result r;
		struct buf lines;
		FILE *out;
		char *text = NULL;
		size_t tlen = 0;

		fresh();
		st = open_store();
		if (!st)
			return;
		buf__init(&lines, 16u << 20);
		CHECK_INT(put_batch(st, 1, 100, 20, EV_T0, false, &lines, &r), 0);
		CHECK_INT(put_batch(st, 2, 300, 20, EV_T0, false, &lines, &r), 0);
		rw = peek_open(true);
		CHECK_INT(sqlite3_exec(rw, hits[i], NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(rw);
		rw = peek_open(false);
		CHECK_INT(json_of(rw, 1), -SQLITE_ERROR);
		CHECK_INT(json_of(rw, 2), 20);
		check_lines(rw, 2, &lines, 20);
		if (i == 0) {
			/* Hostile arguments, straight to the function. */
			static const char *const args[] = {
				"'" DEV "', 2, line_off + 100000000, line_len",
				"'" DEV "', 2, line_off, -5",
				"'" DEV "', 2, 9223372036854775807, line_len",
				"'" DEV "', 2, -1, line_len",
				"'" DEV "', 2, line_off, 9223372036854775807",
				"'" DEV "', 2, 4611686018427387904, 4611686018427387904",
				"'" DEV "', 2, line_off, line_len + 1000000",
				"'../x', 2, line_off, line_len",
				"'" DEV "', 77, line_off, line_len",
			};

			for (size_t a = 0; a < sizeof(args) / sizeof(args[0]); a++) {
				char sql[256];
				sqlite3_stmt *s;

				snprintf(sql, sizeof(sql), "SELECT vigil_raw_json(%s) FROM"
					 " raw_events WHERE seq = 2", args[a]);
				CHECK_INT(sqlite3_prepare_v2(rw, sql, -1, &s, NULL), SQLITE_OK);
				CHECK_INT(sqlite3_step(s), SQLITE_ERROR);
				sqlite3_finalize(s);
			}
		}
		sqlite3_close(rw);
		/* store__sql: an error in err, no crash; the good batch still reads */
		out = open_memstream(&text, &tlen);
		if (out) {
			CHECK(store__sql(st, "SELECT json FROM raw_events WHERE seq = 1", QUERY_JSON,
					 0, out, err, sizeof(err)) < 0);
			CHECK(strstr(err, "vigil_raw_json") != NULL);
			CHECK_INT(store__sql(st, "SELECT json FROM raw_events WHERE seq = 2",
					     QUERY_JSON, 0, out, err, sizeof(err)), 0);
			fclose(out);
			free(text);
		}
		store__close(st);
		buf__free(&lines);
	}
}

static void test_cache_bound(void)
{
	struct store_raw_cache_stats cs;
	struct store *st;
	struct store_result r;
	struct buf lines;
	FILE *out;
	char *text = NULL;
	size_t tlen = 0, raw[7] = { 0 };

	fresh();
	st = open_store();
	if (!st)
		return;
	buf__init(&lines, 16u << 20);
	for (unsigned b = 1; b <= 6; b++) {
		CHECK_INT(put_batch(st, b, 1000ull * b, 10, EV_T0, b == 4, &lines, &r), 0);
		raw[b] = lines.len;
	}
	CHECK_INT(store__raw_cache_stats(st, &cs), 0);
	CHECK_INT(cs.decompressions, 0);
	out = open_memstream(&text, &tlen);
	if (!out)
		return;
	/* In batch order: one decompression per batch, the last four kept. */
	CHECK_INT(store__sql(st, "SELECT json FROM raw_events ORDER BY seq, line_off", QUERY_JSON,
			     1000, out, err, sizeof(err)), 0);
	CHECK_INT(store__raw_cache_stats(st, &cs), 0);
	CHECK_INT(cs.decompressions, 6);
	CHECK_INT(cs.entries, STORE_RAW_CACHE_ENTRIES);
	CHECK_INT(cs.evictions, 2);
	CHECK_INT(cs.bytes, raw[3] + raw[4] + raw[5] + raw[6]);
	/* Batches 5 and 6 are still held: no decompression. */
	CHECK_INT(store__sql(st, "SELECT json FROM raw_events WHERE seq >= 5", QUERY_JSON, 1000,
			     out, err, sizeof(err)), 0);
	CHECK_INT(store__raw_cache_stats(st, &cs), 0);
	CHECK_INT(cs.decompressions, 6);
	/* Rows of six batches interleaved: it thrashes, within its bound. */
	CHECK_INT(store__sql(st, "SELECT vigil_raw_json(device_id, seq, line_off, line_len) AS j"
			     " FROM (SELECT * FROM raw_events ORDER BY line_off, seq LIMIT 1000)",
			     QUERY_JSON, 1000, out, err, sizeof(err)), 0);
	CHECK_INT(store__raw_cache_stats(st, &cs), 0);
	CHECK(cs.decompressions > 12);
	CHECK(cs.entries <= STORE_RAW_CACHE_ENTRIES);
	CHECK(cs.bytes <= STORE_RAW_CACHE_BYTES);
	fclose(out);
	free(text);
	store__close(st);
	buf__free(&lines);
}

/* raw_ttl_s 10: a body goes when its newest row does, not before. */
static void test_retention(void)
{
	struct store_retention rep;
	struct store *st;
	struct store_result r;
	struct buf lines;
	sqlite3 *db;

	fresh();
	st = open_store();
	if (!st)
		return;
	buf__init(&lines, 16u << 20);
	CHECK_INT(put_batch(st, 1, 100, 5, EV_T0, false, &lines, &r), 0);
	/* Rows 5 s apart in one batch: one expires with batch 1, one later. */
	step = 5000000000ull;
	CHECK_INT(put_batch(st, 2, 200, 2, EV_T0 + 3, false, &lines, &r), 0);
	step = 1;
	db = peek_open(false);
	CHECK_INT(store__retention(st, EV_T0 + 10000000000ull + 10, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.raw_deleted, 6);
	CHECK_INT(rep.raw_batches_deleted, 1);
	CHECK_INT(json_of(db, 2), 1);
	check_lines(db, 2, &lines, 1);
	CHECK_INT(store__retention(st, EV_T0 + 15000000000ull + 10, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.raw_deleted, 1);
	CHECK_INT(rep.raw_batches_deleted, 1);
	CHECK_INT(json_of(db, 2), 0);
	sqlite3_close(db);
	store__close(st);
	buf__free(&lines);
}

/* Remote block references: batch 2 points into batch 1's blocks; its rows
 * read back whole on the store's connection and on a new one; batch 1's
 * body outlives its own rows for as long as batch 2's; a reference to a
 * batch the store does not have is stored as the unresolved marker and
 * reads back the same. */
static void test_remote_blocks(void)
{
	struct blocks_known *kn;
	struct store_retention rep;
	struct store *st;
	struct store_result r;
	struct buf lines1, lines2;
	sqlite3 *db;

	fresh();
	st = open_store();
	if (!st)
		return;
	CHECK_INT(blocks_known__new(&kn, 100, 1 << 20), 0);
	buf__init(&lines1, 16u << 20);
	buf__init(&lines2, 16u << 20);
	CHECK_INT(put_batch_known(st, 1, 100, 9, EV_T0, kn, &lines1, &r), 0);
	CHECK_INT(r.events_stored, 9);
	/* 8 s later: every block is in batch 1 */
	CHECK_INT(put_batch_known(st, 2, 200, 9, EV_T0 + 8000000000ull, kn, &lines2, &r), 0);
	CHECK_INT(r.events_stored, 9);
	db = peek_open(false);
	check_lines(db, 1, &lines1, 9);
	check_lines(db, 2, &lines2, 9);
	{
		sqlite3_stmt *s;

		CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM raw_events WHERE seq = 2 AND"
					     " json LIKE '%\"process_name\":\"curl\"%'", -1, &s,
					     NULL), SQLITE_OK);
		CHECK_INT(sqlite3_step(s), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(s, 0), 3);
		sqlite3_finalize(s);
	}
	/* batch 1's rows expire (TTL 10 s), its body stays for batch 2's */
	CHECK_INT(store__retention(st, EV_T0 + 10000000000ull + 100, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.raw_deleted, 9);
	CHECK_INT(rep.raw_batches_deleted, 0);
	sqlite3_close(db);
	db = peek_open(false);
	check_lines(db, 2, &lines2, 9);
	CHECK_INT(store__retention(st, EV_T0 + 18000000000ull + 100, &rep, err, sizeof(err)), 0);
	CHECK_INT(rep.raw_deleted, 9);
	CHECK_INT(rep.raw_batches_deleted, 2);
	/* The store lost what the agent knows: the unresolved marker. */
	CHECK_INT(put_batch_known(st, 3, 300, 4, EV_T0 + 20000000000ull, kn, &lines2, &r), 0);
	CHECK_INT(r.events_stored, 4);
	CHECK(strstr(lines2.data, "{\"unresolved_block\":\"1.") != NULL);
	check_lines(db, 3, &lines2, 4);
	sqlite3_close(db);
	store__close(st);
	blocks_known__free(kn);
	buf__free(&lines1);
	buf__free(&lines2);
}

/* A schema-2 store (json a stored column of raw_events) reopened: its rows
 * keep their json; new batches point into bodies. */
static void test_migrate(void)
{
	struct store *st;
	struct store_result r;
	struct buf lines;
	struct batch_meta m;
	uint8_t sha[32];
	sqlite3 *db;

	fresh();
	st = open_store();
	if (!st)
		return;
	buf__init(&lines, 16u << 20);
	ev_line(&lines, "web-01", "EVENT", "INFO", 1, EV_T0, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);
	ev_meta(&m, DEV, 1, 1, 100);
	ev_sha(sha, 1);
	CHECK_INT(store__insert_batch(st, &m, sha, lines.data, lines.len, &r, err, sizeof(err)),
		  0);
	store__close(st);
	db = peek_open(true);
	CHECK_INT(sqlite3_exec(db, "ALTER TABLE raw_events RENAME TO x;"
			       "CREATE TABLE raw_events (id INTEGER PRIMARY KEY,"
			       " device_id TEXT NOT NULL, seq INTEGER NOT NULL,"
			       " message_id TEXT NOT NULL, time_ns INTEGER NOT NULL, family TEXT,"
			       " name TEXT, message_type TEXT, severity TEXT, host TEXT,"
			       " json TEXT NOT NULL, UNIQUE (device_id, message_id));"
			       "INSERT INTO raw_events SELECT id, device_id, seq, message_id,"
			       " time_ns, family, name, message_type, severity, host, json FROM x;"
			       "DROP TABLE x; DROP TABLE raw_batches;"
			       "CREATE INDEX raw_events_time ON raw_events(time_ns);"
			       "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = open_store();
	if (!st)
		return;
	db = peek_open(false);
	{
		sqlite3_stmt *s;

		CHECK_INT(sqlite3_prepare_v2(db, "SELECT json, line_text IS NOT NULL, (SELECT"
					     " count(*) FROM sqlite_schema WHERE name ="
					     " 'raw_events_time') FROM raw_events", -1, &s, NULL),
			  SQLITE_OK);
		CHECK_INT(sqlite3_step(s), SQLITE_ROW);
		CHECK_INT(sqlite3_column_bytes(s, 0), (int)lines.len - 1);
		CHECK(memcmp(sqlite3_column_text(s, 0), lines.data, lines.len - 1) == 0);
		CHECK_INT(sqlite3_column_int(s, 1), 1);
		CHECK_INT(sqlite3_column_int(s, 2), 1);
		sqlite3_finalize(s);
	}
	CHECK_INT(put_batch(st, 2, 500, 3, EV_T0, false, &lines, &r), 0);
	check_lines(db, 2, &lines, 3);
	sqlite3_close(db);
	store__close(st);
	buf__free(&lines);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_store_raw.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/events.db", dir);
	test_read_back();
	test_corrupt();
	test_cache_bound();
	test_retention();
	test_remote_blocks();
	test_migrate();
	if (!unit_failed) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	} else {
		fprintf(stderr, "files kept in %s\n", dir);
	}
	return unit_report("test_store_raw");
}
