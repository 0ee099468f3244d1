/* event_json against SQLite's JSON1, which the store used before: for every
 * route path (and a few more) and every line, json_extract() and
 * nullif(line -> path, 'null') must give what event_json_extract() and
 * event_json_arrow() give, type and bytes. Lines: every family of
 * store_events.h, a real agent capture (tests/fixtures/collector/
 * capture.jsonl.zst, run from the repository root), edge cases of numbers,
 * escapes, whitespace, duplicate keys and wrong types, and bounded random
 * mutations of those. Lines JSON1 rejects must be rejected; lines only
 * event_json rejects must be of the stricter kinds event_json.h lists
 * (invalid UTF-8, lone surrogates, depth, NUL bytes, not an object). Then
 * the limits, path compilation and error messages. */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "collector/event_json.h"
#include "collector/routes.h"
#include "store_events.h"
#include "unit.h"

#define CAPTURE "tests/fixtures/collector/capture.jsonl.zst"
#define MAX_PATHS 512
#define MUTATIONS 3000

/* Beyond the routes: the root, a whole block, an index past the first. */
static const char *const extra_paths[] = {
	"$", "$.message_header", "$.activity_data.dns_details.dns_answers[0].data",
	"$.activity_data.dns_details.dns_questions[1]", "$.a", "$.a.b", "$.a[0]", "$.a[1]",
	"$.a[0].b", "$.a.b.c", "$.k", "$.n", "$.s", "$.x",
};

static const char *paths[MAX_PATHS];
static unsigned npaths;
static struct event_json *ej;
static sqlite3 *db;
static sqlite3_stmt *valid_st, *all_st;
static char *scratch;
static unsigned compared, lines_same, lines_stricter;

static void build_paths(void)
{
	unsigned nt;
	const struct route_table *t = route_tables(&nt);

	for (unsigned i = 0; i < ROUTE_H_MAX; i++)
		paths[npaths++] = route_head_cols[i].path;
	for (unsigned i = 0; i < ROUTE_PROC_COLS; i++)
		paths[npaths++] = route_proc_cols[i].path;
	for (unsigned i = 0; i < nt; i++)
		for (unsigned c = 0; c < t[i].ncols && npaths < MAX_PATHS; c++)
			paths[npaths++] = t[i].cols[c].path;
	for (unsigned i = 0; i < sizeof(extra_paths) / sizeof(extra_paths[0]); i++)
		paths[npaths++] = extra_paths[i];
}

/* One statement: json_extract and -> of every path, as the old store did. */
static int prepare_json1(void)
{
	struct buf b;
	int rc;

	buf__init(&b, 1 << 20);
	buf__adds(&b, "SELECT 0");
	for (unsigned i = 0; i < npaths; i++)
		buf__addf(&b, ", json_extract(?1, '%s'), nullif(?1 -> '%s', 'null')", paths[i],
			  paths[i]);
	rc = sqlite3_prepare_v2(db, b.data, -1, &all_st, NULL);
	buf__free(&b);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT json_valid(?1)", -1, &valid_st, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
	return rc;
}

static int json1_valid(const char *line, size_t n)
{
	int v;

	sqlite3_bind_text64(valid_st, 1, line, n, SQLITE_STATIC, SQLITE_UTF8);
	v = sqlite3_step(valid_st) == SQLITE_ROW ? sqlite3_column_int(valid_st, 0) : -1;
	sqlite3_reset(valid_st);
	return v;
}

static const char *sql_type_name(int t)
{
	static const char *const n[] = { "?", "INTEGER", "FLOAT", "TEXT", "BLOB", "NULL" };

	return t >= 1 && t <= 5 ? n[t] : n[0];
}

/* Column col of all_st against o; reports the first difference. */
static int same_value(const struct event_json_sql *o, int col, const char *what,
		      unsigned path, const char *line)
{
	static const int map[] = { [EVENT_JSON_SQL_NULL] = SQLITE_NULL,
				   [EVENT_JSON_SQL_INT] = SQLITE_INTEGER,
				   [EVENT_JSON_SQL_REAL] = SQLITE_FLOAT,
				   [EVENT_JSON_SQL_TEXT] = SQLITE_TEXT };
	int t = sqlite3_column_type(all_st, col);
	int ok = t == map[o->type];

	if (ok && t == SQLITE_INTEGER)
		ok = sqlite3_column_int64(all_st, col) == o->i;
	if (ok && t == SQLITE_FLOAT) {
		double d = sqlite3_column_double(all_st, col);

		ok = memcmp(&d, &o->d, sizeof(d)) == 0 || (isnan(d) && isnan(o->d));
	}
	if (ok && t == SQLITE_TEXT)
		ok = (size_t)sqlite3_column_bytes(all_st, col) == o->n &&
		     memcmp(sqlite3_column_text(all_st, col), o->s, o->n) == 0;
	if (!ok)
		fprintf(stderr, "%s(%s): JSON1 %s '%s', event_json type %d '%.*s'\n"
			"  line: %.300s\n",
			what, paths[path], sql_type_name(t),
			t == SQLITE_NULL ? "" : (const char *)sqlite3_column_text(all_st, col),
			o->type, o->type == EVENT_JSON_SQL_TEXT ? (int)o->n : 0,
			o->type == EVENT_JSON_SQL_TEXT ? o->s : "", line);
	return ok;
}

/* Every path of line: event_json against JSON1. Returns 1 when both read
 * it the same, 0 when only event_json rejected it (*why), -1 on a
 * difference (reported). */
static int compare_line(const char *line, size_t n, const char **why)
{
	int mine = event_json__scan(ej, line, n), valid = json1_valid(line, n), ok = 1;

	*why = event_json__error(ej);
	if (mine && !valid)
		return 1;	/* both reject */
	if (!mine && valid != 1) {
		fprintf(stderr, "event_json accepts what JSON1 rejects: %.300s\n", line);
		return -1;
	}
	if (mine)
		return 0;
	sqlite3_bind_text64(all_st, 1, line, n, SQLITE_STATIC, SQLITE_UTF8);
	if (sqlite3_step(all_st) != SQLITE_ROW) {
		fprintf(stderr, "JSON1 step: %s\n", sqlite3_errmsg(db));
		sqlite3_reset(all_st);
		return -1;
	}
	for (unsigned i = 0; i < npaths && ok; i++) {
		const struct event_json_value *v = event_json__value(ej, i);
		struct event_json_sql o;

		event_json_extract(line, v, scratch, &o);
		ok = same_value(&o, 1 + 2 * (int)i, "json_extract", i, line);
		event_json_arrow(line, v, scratch, &o);
		ok = ok && same_value(&o, 2 + 2 * (int)i, "->", i, line);
		compared += 2;
	}
	sqlite3_reset(all_st);
	return ok ? 1 : -1;
}

/* The kinds of line only event_json rejects (event_json.h). */
static int stricter_kind(const char *why)
{
	static const char *const kinds[] = { "invalid UTF-8", "surrogate", "nested too deep",
					     "a NUL byte", "not a JSON object", "as a key" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strstr(why, kinds[i]))
			return 1;
	return 0;
}

static void expect_same(const char *line)
{
	const char *why;
	int r = compare_line(line, strlen(line), &why);

	if (r == 0)
		fprintf(stderr, "event_json rejects (%s) what JSON1 accepts: %.300s\n", why, line);
	CHECK_INT(r, 1);
	lines_same++;
}

static void expect_stricter(const char *line, size_t n)
{
	const char *why = "";
	int r = compare_line(line, n, &why);

	CHECK_INT(r, 0);
	CHECK(stricter_kind(why));
	lines_stricter++;
}

#define STRICTER(lit) expect_stricter(lit, sizeof(lit) - 1)

static void expect_both_reject(const char *line)
{
	CHECK(event_json__scan(ej, line, strlen(line)) == -EBADMSG);
	CHECK_INT(json1_valid(line, strlen(line)), 0);
}

static void every_line(const struct buf *b, void (*fn)(const char *, size_t, void *), void *arg)
{
	for (size_t off = 0; off < b->len;) {
		const char *nl = memchr(b->data + off, '\n', b->len - off);
		size_t n = nl ? (size_t)(nl - (b->data + off)) : b->len - off;

		fn(b->data + off, n, arg);
		off += n + 1;
	}
}

static void same_fn(const char *line, size_t n, void *arg)
{
	char *copy = strndup(line, n);

	(void)arg;
	if (copy)
		expect_same(copy);
	free(copy);
}

static void sample_events(struct buf *b)
{
	struct ev_proc curl = { "curl", "/usr/bin/curl", "curl -fsS https://example.com",
				"alice", "4f3c2b1a0e9d", 48211, 1337, 1000 };
	uint64_t t = EV_T0;

	ev_line(b, "web-01", "EVENT", "INFO", 1, t, "Process Created", 1, "process", NULL, &curl);
	ev_line(b, "web-01", "EVENT", "INFO", 2, t, "Process Terminated", 2, "process", EV_EXIT,
		&curl);
	ev_line(b, "web-01", "EVENT", "INFO", 3, t, "Thread Created", 3, "thread", EV_THREAD,
		&curl);
	ev_line(b, "web-01", "EVENT", "INFO", 4, t, "File Renamed", 13, "file", EV_FILE_RENAME,
		&ev_bash);
	ev_line(b, "web-01", "EVENT", "INFO", 5, t, "File Opened", 10, "file", EV_FILE_OPEN,
		&ev_bash);
	ev_line(b, "web-01", "EVENT", "INFO", 6, t, "Network Connect", 42, "network",
		EV_NET_CONNECT, &curl);
	ev_line(b, "web-01", "EVENT", "INFO", 7, t, "DNS Answer", 51, "dns", EV_DNS_ANSWER, &curl);
	ev_line(b, "web-01", "EVENT", "INFO", 8, t, "Identity Changed", 30, "identity",
		EV_IDENTITY, &ev_bash);
	ev_line(b, "web-01", "EVENT", "INFO", 9, t, "Library Loaded", 70, "library", EV_LIBRARY,
		&curl);
	ev_line(b, "web-01", "EVENT", "MEDIUM", 10, t, "New Executable Anonymous Memory Mapped",
		60, "memory", EV_MEMORY, &curl);
	ev_line(b, "web-01", "SYSTEM_ACTIVITY", "WARNING", 11, t, "Events Dropped", 1005,
		"system", EV_SYSTEM, NULL);
	ev_line(b, "web-01", "ALERT", "HIGH", 12, t, "Reverse Shell", 5000, "process", NULL,
		&curl);
}

/* Every family of store_events.h, then the capture. */
static void test_events(struct buf *lines)
{
	FILE *f = fopen(CAPTURE, "rb");
	char *z = NULL, *raw = NULL;
	long zn = 0;
	unsigned long long rn;
	unsigned before = lines_same;

	sample_events(lines);
	every_line(lines, same_fn, NULL);
	CHECK_INT(lines_same - before, 12);

	CHECK(f != NULL);
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	zn = ftell(f);
	rewind(f);
	z = malloc((size_t)zn);
	if (z && fread(z, 1, (size_t)zn, f) == (size_t)zn) {
		rn = ZSTD_getFrameContentSize(z, (size_t)zn);
		CHECK(rn != ZSTD_CONTENTSIZE_ERROR && rn != ZSTD_CONTENTSIZE_UNKNOWN &&
		      rn < (64u << 20));
		raw = rn < (64u << 20) ? malloc(rn + 1) : NULL;
		if (raw && ZSTD_decompress(raw, rn, z, (size_t)zn) == rn) {
			struct buf cap = { .data = raw, .len = rn, .cap = rn };

			before = lines_same;
			every_line(&cap, same_fn, NULL);
			/* Every family the agent writes, more than a hundred lines. */
			CHECK(lines_same - before > 100);
			buf__add(lines, raw, rn);
		} else {
			CHECK(!"capture decompresses");
		}
	}
	free(raw);
	free(z);
	fclose(f);
}

static void test_edge_cases(void)
{
	static const char *const same[] = {
		/* numbers */
		"{\"k\":0,\"n\":-0,\"s\":1.5,\"x\":-1.5e-3}",
		"{\"k\":1e2,\"n\":1E+2,\"s\":0.1,\"x\":123e-2}",
		"{\"k\":9223372036854775807,\"n\":-9223372036854775808}",
		"{\"k\":9223372036854775808,\"n\":-9223372036854775809}",
		"{\"k\":123456789012345678901234567890,\"n\":1e400,\"s\":-1e400,\"x\":1e-400}",
		"{\"k\":0.30000000000000004,\"n\":2.2250738585072014e-308,\"s\":4.9e-324}",
		"{\"k\":17976931348623157e292,\"n\":1.7976931348623158e308}",
		/* strings */
		"{\"k\":\"\",\"n\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\","
		"\"s\":\"\\u00e9\\u20AC\"}",
		"{\"k\":\"\\ud83d\\ude00\",\"n\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
		"{\"k\":\"\\u001f\\u007f\\u0080\\uffff\\uFFFD\",\"x\":\"\x7f\"}",
		/* whitespace: JSON texts come back without it */
		" {\t\"a\" : [ 1 , { \"b\" : \"x y\" } , [ ] , { } ] ,\r\n\"k\" : true } ",
		"{\"a\":{ \"b\" : { \"c\" : \" \\\" \" } },\"k\":[\"a , b\",\"\\\\\"]}",
		/* duplicate keys: the first counts, at every level */
		"{\"a\":{\"b\":1},\"a\":{\"b\":2}}",
		"{\"a\":{\"c\":1},\"a\":{\"b\":2}}",
		"{\"a\":{\"b\":1,\"b\":2,\"b\":{\"c\":3}},\"k\":1,\"k\":\"x\"}",
		"{\"a\":[\"x\",\"y\"],\"a\":[\"z\"]}",
		/* keys match as written */
		"{\"fam\\u0069ly\":\"x\",\"k\":1,\"\\u006b\":2,\"\":3,\"a\":{\"\":{}}}",
		"{\"activity_data\":{\"fam\\u0069ly\":\"file\",\"family\":\"dns\"}}",
		/* wrong types where the routes expect others */
		"{\"a\":\"str\",\"k\":{\"x\":[1,{\"y\":null}]},\"n\":[],\"s\":{}}",
		"{\"a\":[{\"b\":1},2],\"k\":false,\"n\":null,\"s\":true,\"x\":[null]}",
		"{\"message_header\":{\"message_id\":{\"a\":1},\"occurred_message_time_ns\":true,"
		"\"severity\":[\"HIGH\"],\"host_information\":\"web\"},\"activity_data\":[]}",
		"{\"activity_data\":{\"dns_details\":{\"dns_query_names\":[[\"a\"],2],"
		"\"dns_questions\":[{\"type\":{\"t\":1}},{\"type\":\"A\"}],\"dns_answers\":"
		"[{\"data\":\"1.2.3.4\"}]},\"process_details\":{\"process_id\":\"12\","
		"\"process_name\":17,\"process_real_user_id\":1.0}}}",
		"{\"activity_data\":{\"file_details\":{\"file_path\":[1,2],\"file_inode\":\"x\","
		"\"file_open_flag_names\":\"not a list\",\"file_errno\":\"13\"}}}",
		"{}",
		"{\"a\":{}}",
		"{\"a\":[]}",
	};
	static const char *const both_reject[] = {
		"", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}",
		"{\"a\":[1,]}", "{\"a\":[,1]}", "{a:1}", "{'a':1}", "{\"a\":01}", "{\"a\":-01}",
		"{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e+}",
		"{\"a\":1.e5}", "{\"a\":0x10}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}",
		"{\"a\":nulll}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"\\u12g4\"}", "{\"a\":\"\t\"}", "{\"a\":\"\x01\"}", "{\"a\":1}x",
		"{\"a\":1}{}", "{\"a\":1}}", "{\"a\":[1}", "{\"a\":{]}", "{\"a\":NaN}",
		"{\"a\":Infinity}", "{\"a\":'x'}", "{\"a\":1,\"b\"}", "{\"a\" 1}",
	};

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		expect_same(same[i]);
	for (size_t i = 0; i < sizeof(both_reject) / sizeof(both_reject[0]); i++)
		expect_both_reject(both_reject[i]);

	/* Only event_json rejects these. */
	STRICTER("{\"a\":\"\xff\"}");
	STRICTER("{\"a\":\"\xc0\x80\"}");		/* overlong NUL */
	STRICTER("{\"a\":\"\xe0\x80\xaf\"}");	/* overlong '/' */
	STRICTER("{\"a\":\"\xed\xa0\x80\"}");	/* a surrogate as UTF-8 */
	STRICTER("{\"a\":\"\xf4\x90\x80\x80\"}");	/* past U+10FFFF */
	STRICTER("{\"a\":\"\xe2\x82\"}");		/* cut short */
	STRICTER("{\"a\":\"\x80\"}");
	STRICTER("{\"\xfe\":1}");			/* in a key */
	STRICTER("{\"a\":\"\\ud800\"}");
	STRICTER("{\"a\":\"\\udc00\"}");
	STRICTER("{\"a\":\"\\ud800\\u0041\"}");
	STRICTER("{\"a\":\"\\ud800x\"}");
	STRICTER("{\"a\":\"\\uDBFF\\uDBFF\"}");
	STRICTER("{\"a\":1}\0junk");		/* JSON1 stops at the NUL */
	STRICTER("[1]");
	STRICTER("\"x\"");
	STRICTER("12");
	/* JSON1 3.40 takes a container whose last value is a string for a key. */
	STRICTER("{\"a\":{\"b\":1,{\"c\":\"x\"}:3}}");
	STRICTER("{[\"x\"]:1}");
}

/* A NUL escape: JSON1 cuts the string there, event_json keeps the byte. */
static void test_nul_escape(void)
{
	static const char line[] = "{\"k\":\"evil\\u0000.example.com\",\"n\":\"\\u0000\"}";
	const char *p[] = { "$.k", "$.n" };
	struct event_json *e = NULL;
	struct event_json_sql o;
	char buf[64];

	CHECK_INT(event_json__new(&e, p, 2, NULL, 0), 0);
	if (!e)
		return;
	CHECK_INT(event_json__scan(e, line, sizeof(line) - 1), 0);
	event_json_extract(line, event_json__value(e, 0), buf, &o);
	CHECK_INT(o.type, EVENT_JSON_SQL_TEXT);
	CHECK_INT(o.n, 17);
	CHECK(o.n == 17 && memcmp(o.s, "evil\0.example.com", 17) == 0);
	event_json_extract(line, event_json__value(e, 1), buf, &o);
	CHECK(o.n == 1 && o.s[0] == 0);
	event_json_arrow(line, event_json__value(e, 0), buf, &o);
	CHECK(o.n == 24 && memcmp(o.s, "\"evil\\u0000.example.com\"", 24) == 0);
	event_json__free(e);
}

/* Random damage to real lines: whatever event_json accepts, JSON1 accepts
 * and reads the same; whatever only event_json rejects is a stricter kind. */
static void test_mutations(const struct buf *lines)
{
	static const char specials[] = "\"\\{}[],: \t0-e.\x80\xc3\xff\x00ntfu";
	const char *starts[256];
	unsigned nstarts = 0, diffs = 0, accepted = 0;
	uint64_t r = 0x9e3779b97f4a7c15ull;
	char *line = malloc(1 << 16);

	for (size_t off = 0; off < lines->len && nstarts < 256;) {
		const char *nl = memchr(lines->data + off, '\n', lines->len - off);

		if (!nl)
			break;
		if ((size_t)(nl - (lines->data + off)) < (1 << 15))
			starts[nstarts++] = lines->data + off;
		off = (size_t)(nl - lines->data) + 1;
	}
	CHECK(nstarts > 0 && line);
	for (unsigned m = 0; m < MUTATIONS && nstarts && line; m++) {
		const char *src = starts[m % nstarts], *why;
		size_t n = (size_t)((const char *)memchr(src, '\n', 1 << 15) - src);
		unsigned edits = 1 + (unsigned)(r % 3);

		memcpy(line, src, n);
		for (unsigned e = 0; e < edits; e++) {
			size_t at;

			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			at = (size_t)(r % (n ? n : 1));
			switch ((r >> 32) % 3) {
			case 0:	/* replace */
				line[at] = specials[(r >> 40) % (sizeof(specials) - 1)];
				break;
			case 1:	/* delete */
				if (n) {
					memmove(line + at, line + at + 1, n - at - 1);
					n--;
				}
				break;
			default:	/* insert */
				memmove(line + at + 1, line + at, n - at);
				line[at] = specials[(r >> 40) % (sizeof(specials) - 1)];
				n++;
			}
		}
		switch (compare_line(line, n, &why)) {
		case 1:
			accepted += event_json__scan(ej, line, n) == 0;
			break;
		case 0:
			if (!stricter_kind(why)) {
				fprintf(stderr, "event_json rejects (%s) what JSON1 accepts: "
					"%.*s\n", why, (int)(n < 300 ? n : 300), line);
				diffs++;
			}
			break;
		default:
			diffs++;
		}
	}
	CHECK_INT(diffs, 0);
	/* Some edits leave valid JSON (inside strings): they were compared. */
	CHECK(accepted > MUTATIONS / 20);
	free(line);
}

static void test_limits(void)
{
	struct buf b;
	struct event_json *e = NULL;
	const char *p[] = { "$.a" };
	char *big;

	/* Depth: EVENT_JSON_MAX_DEPTH levels are fine, one more is not. */
	buf__init(&b, 1 << 16);
	buf__adds(&b, "{\"a\":");
	for (int i = 1; i < EVENT_JSON_MAX_DEPTH; i++)
		buf__addc(&b, '[');
	for (int i = 1; i < EVENT_JSON_MAX_DEPTH; i++)
		buf__addc(&b, ']');
	buf__addc(&b, '}');
	CHECK_INT(event_json__scan(ej, b.data, b.len), 0);
	buf__reset(&b);
	buf__adds(&b, "{\"a\":");
	for (int i = 0; i < EVENT_JSON_MAX_DEPTH; i++)
		buf__addc(&b, '[');
	for (int i = 0; i < EVENT_JSON_MAX_DEPTH; i++)
		buf__addc(&b, ']');
	buf__addc(&b, '}');
	CHECK_INT(event_json__scan(ej, b.data, b.len), -EBADMSG);
	CHECK(strstr(event_json__error(ej), "nested too deep") != NULL);
	/* Far deeper than JSON1's limit: no recursion, no trouble. */
	buf__reset(&b);
	buf__adds(&b, "{\"a\":");
	for (int i = 0; i < 30000; i++)
		buf__addc(&b, '{');
	CHECK_INT(event_json__scan(ej, b.data, b.len), -EBADMSG);
	buf__free(&b);

	/* Length: one byte over the cap is refused before it is read. */
	big = malloc(EVENT_JSON_MAX_LEN + 1);
	CHECK(big != NULL);
	if (big) {
		memset(big, ' ', EVENT_JSON_MAX_LEN + 1);
		big[0] = '{';
		big[EVENT_JSON_MAX_LEN - 1] = '}';
		CHECK_INT(event_json__scan(ej, big, EVENT_JSON_MAX_LEN), 0);
		CHECK_INT(event_json__scan(ej, big, EVENT_JSON_MAX_LEN + 1), -E2BIG);
		free(big);
	}

	/* A line cut anywhere is never accepted. */
	{
		static const char ok[] = "{\"a\":[1,\"x\\u00e9\",{\"b\":null}],\"c\":-1.5e3}";

		CHECK_INT(event_json__scan(ej, ok, sizeof(ok) - 1), 0);
		for (size_t n = 0; n < sizeof(ok) - 1; n++)
			CHECK_INT(event_json__scan(ej, ok, n), -EBADMSG);
	}

	/* Many members of a path-less object: the scan keeps no state per member. */
	buf__init(&b, 1 << 22);
	buf__adds(&b, "{\"z\":{");
	for (int i = 0; i < 100000; i++)
		buf__addf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
	buf__adds(&b, "},\"a\":7}");
	CHECK_INT(event_json__new(&e, p, 1, NULL, 0), 0);
	if (e) {
		CHECK_INT(event_json__scan(e, b.data, b.len), 0);
		CHECK_INT(event_json__value(e, 0)->type, EVENT_JSON_INT);
		CHECK_INT(event_json__value(e, 0)->i, 7);
		/* A value stays the last scan's only. */
		CHECK_INT(event_json__scan(e, "{\"b\":1}", 7), 0);
		CHECK_INT(event_json__value(e, 0)->type, EVENT_JSON_MISSING);
		CHECK_INT(event_json__value(e, 5)->type, EVENT_JSON_MISSING);
		event_json__free(e);
	}
	buf__free(&b);
}

static void test_paths(void)
{
	static const char *const bad[] = { "", "a.b", "$a", "$..a", "$.a.", "$[", "$[]",
					   "$[x]", "$[1", "$[1000001]", "$.a\"b", "$.a\\b",
					   "$.a[0]b", "$[12345678]" };
	struct event_json *e = NULL;
	char err[256];
	const char *p[2] = { NULL, "$.b" };
	const char **many;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p[0] = bad[i];
		err[0] = 0;
		CHECK_INT(event_json__new(&e, p, 2, err, sizeof(err)), -EINVAL);
		CHECK(e == NULL);
		CHECK(strstr(err, "path 0") != NULL);
	}
	p[0] = NULL;
	CHECK_INT(event_json__new(&e, p, 2, err, sizeof(err)), -EINVAL);
	many = calloc(EVENT_JSON_MAX_PATHS + 1, sizeof(*many));
	if (many) {
		for (unsigned i = 0; i <= EVENT_JSON_MAX_PATHS; i++)
			many[i] = "$.a";
		CHECK_INT(event_json__new(&e, many, EVENT_JSON_MAX_PATHS + 1, err, sizeof(err)),
			  -EINVAL);
		/* The same path twice: both get the value. */
		CHECK_INT(event_json__new(&e, many, 2, err, sizeof(err)), 0);
		if (e) {
			CHECK_INT(event_json__scan(e, "{\"a\":3}", 7), 0);
			CHECK_INT(event_json__value(e, 1)->i, 3);
			CHECK_INT(event_json__value(e, 0)->i, 3);
		}
		event_json__free(e);
		free(many);
	}
	/* No paths at all: still a validator. */
	CHECK_INT(event_json__new(&e, NULL, 0, err, sizeof(err)), 0);
	if (e) {
		CHECK_INT(event_json__scan(e, "{\"a\":[1,2]}", 11), 0);
		CHECK_INT(event_json__scan(e, "{\"a\":[1,2}", 10), -EBADMSG);
	}
	event_json__free(e);
	event_json__free(NULL);
}

static void test_errors(void)
{
	static const struct {
		const char *line, *msg;
	} c[] = {
		{ "{\"a\":\"\xff\"}", "byte 6: invalid UTF-8" },
		{ "{\"a\":1,}", "byte 7: expected a key" },
		{ "{\"a\":1", "byte 6: cut short" },
		{ "{\"a\":01}", "byte 5: a number with a leading zero" },
		{ "{\"a\":\"\\q\"}", "byte 6: a bad escape" },
		{ "{\"a\":1} x", "byte 8: bytes after the object" },
		{ "[]", "byte 0: not a JSON object" },
		{ "{\"a\":[1 2]}", "byte 8: expected ',' or ']'" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		CHECK_INT(event_json__scan(ej, c[i].line, strlen(c[i].line)), -EBADMSG);
		CHECK(strstr(event_json__error(ej), c[i].msg) != NULL);
		if (!strstr(event_json__error(ej), c[i].msg))
			fprintf(stderr, "  got \"%s\", want \"%s\"\n", event_json__error(ej),
				c[i].msg);
	}
}

int main(void)
{
	struct buf lines;
	char err[256];

	build_paths();
	scratch = malloc(EVENT_JSON_MAX_LEN + 1);
	if (!scratch || sqlite3_open(":memory:", &db) != SQLITE_OK || prepare_json1() != SQLITE_OK)
		return 1;
	CHECK_INT(event_json__new(&ej, paths, npaths, err, sizeof(err)), 0);
	if (!ej) {
		fprintf(stderr, "%s\n", err);
		return unit_report("test_event_json");
	}
	buf__init(&lines, 64u << 20);
	test_events(&lines);
	test_edge_cases();
	test_nul_escape();
	test_mutations(&lines);
	test_limits();
	test_paths();
	test_errors();
	printf("test_event_json: %u lines read alike, %u rejected only by event_json, "
	       "%u values compared\n", lines_same, lines_stricter, compared);
	buf__free(&lines);
	event_json__free(ej);
	sqlite3_finalize(valid_st);
	sqlite3_finalize(all_st);
	sqlite3_close(db);
	free(scratch);
	return unit_report("test_event_json");
}
