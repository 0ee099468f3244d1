// sources: src/collector/event_json.c src/collector/routes.c src/lib/err.c
// libs: -lsqlite3
/* libFuzzer target for event_json, the collector's event scanner, checked
 * against SQLite's JSON1 (what the store used before it). Each input is one
 * line, scanned with every route path of the store plus a few more. On
 * every return: a documented code and a reason on failure; on success every
 * value inside the line, decoded strings no longer than their source, and
 * JSON1 must accept the line and give the same json_extract() and "->" value
 * for every path (a string with a \u0000 escape excepted: JSON1 cuts it
 * there, event_json keeps the byte). A line only event_json rejects must be
 * one of the stricter kinds event_json.h lists. abort() on anything else,
 * so libFuzzer keeps the input. */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/event_json.h"
#include "collector/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATHS 512

static const char *const extra[] = { "$", "$.a", "$.a.b", "$.a[0]", "$.a[1].b", "$.b[2]",
				     "$.message_header", "$.x.y.z" };
static const char *paths[MAX_PATHS];
static unsigned npaths;
static struct event_json *ej;
static sqlite3 *db;
static sqlite3_stmt *valid_st, *all_st;
static char *scratch;
static size_t scratch_cap;

static void need(int cond)
{
	if (!cond)
		abort();
}

static void setup(void)
{
	unsigned nt;
	const struct route_table *t = route_tables(&nt);
	char *sql;
	size_t len = 0, cap = 1 << 20;

	for (unsigned i = 0; i < ROUTE_H_MAX; i++)
		paths[npaths++] = route_head_cols[i].path;
	for (unsigned i = 0; i < ROUTE_PROC_COLS; i++)
		paths[npaths++] = route_proc_cols[i].path;
	for (unsigned i = 0; i < nt; i++)
		for (unsigned c = 0; c < t[i].ncols && npaths < MAX_PATHS - 16; c++)
			paths[npaths++] = t[i].cols[c].path;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		paths[npaths++] = extra[i];
	need(event_json__new(&ej, paths, npaths, NULL, 0) == 0);
	need(sqlite3_open(":memory:", &db) == SQLITE_OK);
	sql = malloc(cap);
	need(sql != NULL);
	len += (size_t)snprintf(sql, cap, "SELECT 0");
	for (unsigned i = 0; i < npaths; i++)
		len += (size_t)snprintf(sql + len, cap - len,
					", json_extract(?1, '%s'), nullif(?1 -> '%s', 'null')",
					paths[i], paths[i]);
	need(len < cap);
	need(sqlite3_prepare_v2(db, sql, -1, &all_st, NULL) == SQLITE_OK);
	need(sqlite3_prepare_v2(db, "SELECT json_valid(?1)", -1, &valid_st, NULL) == SQLITE_OK);
	free(sql);
}

static int stricter_kind(const char *why)
{
	return strstr(why, "invalid UTF-8") || strstr(why, "surrogate") ||
	       strstr(why, "nested too deep") || strstr(why, "a NUL byte") ||
	       strstr(why, "not a JSON object") || strstr(why, "as a key");
}

static void same(const struct event_json_sql *o, int col)
{
	int t = sqlite3_column_type(all_st, col);

	switch (o->type) {
	case EVENT_JSON_SQL_NULL:
		need(t == SQLITE_NULL);
		break;
	case EVENT_JSON_SQL_INT:
		need(t == SQLITE_INTEGER && sqlite3_column_int64(all_st, col) == o->i);
		break;
	case EVENT_JSON_SQL_REAL: {
		double d = sqlite3_column_double(all_st, col);

		need(t == SQLITE_FLOAT);
		need(memcmp(&d, &o->d, sizeof(d)) == 0 || (isnan(d) && isnan(o->d)));
		break;
	}
	case EVENT_JSON_SQL_TEXT:
		need(t == SQLITE_TEXT && (size_t)sqlite3_column_bytes(all_st, col) == o->n &&
		     memcmp(sqlite3_column_text(all_st, col), o->s, o->n) == 0);
		break;
	default:
		need(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	int ret, valid;
	int nul_escape;

	if (!ej)
		setup();
	if (size + 1 > scratch_cap) {
		free(scratch);
		scratch_cap = size + 1;
		scratch = malloc(scratch_cap);
		need(scratch != NULL);
	}
	ret = event_json__scan(ej, line, size);
	need(ret == 0 || ret == -EBADMSG || ret == -E2BIG);
	need((ret == 0) == (strcmp(event_json__error(ej), "no error") == 0));

	sqlite3_bind_text64(valid_st, 1, line, size, SQLITE_STATIC, SQLITE_UTF8);
	need(sqlite3_step(valid_st) == SQLITE_ROW);
	valid = sqlite3_column_int(valid_st, 0);
	sqlite3_reset(valid_st);
	if (ret) {
		/* JSON1 reads up to a NUL byte only: such lines are not comparable. */
		if (valid && !memchr(data, 0, size))
			need(stricter_kind(event_json__error(ej)));
		return 0;
	}
	need(valid == 1);
	nul_escape = size >= 6 && memmem(data, size, "\\u0000", 6) != NULL;

	sqlite3_bind_text64(all_st, 1, line, size, SQLITE_STATIC, SQLITE_UTF8);
	need(sqlite3_step(all_st) == SQLITE_ROW);
	for (unsigned i = 0; i < npaths; i++) {
		const struct event_json_value *v = event_json__value(ej, i);
		struct event_json_sql o;

		need(v->type <= EVENT_JSON_OBJECT);
		if (v->type != EVENT_JSON_MISSING)
			need(v->off <= size && v->len <= size - v->off);
		event_json_extract(line, v, scratch, &o);
		if (o.type == EVENT_JSON_SQL_TEXT)
			need(o.n <= v->len);
		if (!nul_escape)
			same(&o, 1 + 2 * (int)i);
		event_json_arrow(line, v, scratch, &o);
		if (o.type == EVENT_JSON_SQL_TEXT)
			need(o.n <= (size_t)v->len + 2);
		same(&o, 2 + 2 * (int)i);
	}
	sqlite3_reset(all_st);
	return 0;
}
