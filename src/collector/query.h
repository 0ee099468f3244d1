/* Reading the store: event queries with filters, read-only SQL and the
 * stats table, written to a FILE* as an aligned table or as JSON lines.
 * Library code: "vigil query" and "vigil stats" parse their options into a
 * struct query_filter and call store__query / store__sql / store__stats,
 * which land here for SQLite.
 *
 * Every value from the user is bound as a statement parameter, never pasted
 * into SQL; the SQL text only ever contains names from collector/routes.c.
 * Table output replaces control bytes with '?' (a stored path may hold
 * terminal escapes) and cuts cells at QUERY_CELL_MAX characters; JSON output
 * is complete and always valid JSON (columns declared JSON_TEXT, which hold
 * JSON, are embedded as JSON, invalid UTF-8 becomes U+FFFD). */
#ifndef VIGIL_QUERY_H
#define VIGIL_QUERY_H

#include <stdint.h>
#include <stdio.h>

#define QUERY_DEFAULT_LIMIT 100u
#define QUERY_MAX_LIMIT 1000000u
#define QUERY_CELL_MAX 80u		/* characters of a cell in table output */
#define QUERY_TABLE_BLOCK 1000u		/* rows buffered to size the columns */
#define QUERY_SQL_TIMEOUT_MS 60000u	/* a raw SQL statement is stopped after this */

enum query_format {
	QUERY_TABLE,	/* aligned columns with a header line */
	QUERY_JSON,	/* one JSON object per row, one per line */
};

struct query_filter {
	const char *host;		/* exact hostname */
	uint64_t since_ns, until_ns;	/* event time in [since, until); 0: open */
	/* A family ("file") or table name ("file_events", "alert"). NULL: every
	 * typed table, shown with their common columns and a summary. */
	const char *type;
	const char *name;		/* exact event name ("File Renamed") */
	const char *process_name;	/* exact comm */
	int64_t pid;			/* < 0: any */
	const char *user;		/* exact user name: real or login user */
	/* Matched against the table's path columns (file path/new path/symlink
	 * target, executable, library, mapped file): a shell glob when it has
	 * * ? or [, otherwise a substring. Tables without such columns drop out. */
	const char *path;
	/* The address columns (local/remote address, DNS resolver): exact, or a
	 * glob as for path; DNS answers as a substring. */
	const char *address;
	const char *min_severity;	/* "MEDIUM": that severity or worse */
	uint32_t limit;			/* newest rows kept; 0: QUERY_DEFAULT_LIMIT */
};

struct sqlite3;
struct sqlite3_stmt;

/* The SQLite implementations behind store__query/sql/stats; db is a
 * read-only connection. */
int query_sqlite_events(struct sqlite3 *db, const struct query_filter *f, enum query_format fmt,
			FILE *out, char *err, size_t errlen);
/* The plan SQLite chose for the statement query_sqlite_events would run:
 * one line per step of EXPLAIN QUERY PLAN ("SEARCH file_events USING
 * INDEX ..."), for tests and for "vigil query --explain". */
int query_sqlite_explain(struct sqlite3 *db, const struct query_filter *f, FILE *out, char *err,
			 size_t errlen);
/* Refuses anything but one statement that only reads (authorizer: SELECT,
 * reads, functions and a few schema pragmas), whatever the connection. */
int query_sqlite_sql(struct sqlite3 *db, const char *sql, enum query_format fmt,
		     uint32_t max_rows, FILE *out, char *err, size_t errlen);
int query_sqlite_stats(struct sqlite3 *db, enum query_format fmt, FILE *out, char *err,
		       size_t errlen);

/* Steps st to the end (or max_rows rows) and writes the rows; the
 * statement is reset, not finalized. Returns the number of rows or a
 * negative errno. */
int query_print_rows(struct sqlite3_stmt *st, enum query_format fmt, uint32_t max_rows,
		     FILE *out, char *err, size_t errlen);

/* "2024-05-01T10:00:00.123456789Z" style UTC time of ns, into buf (>= 32). */
void query_format_time(uint64_t ns, char *buf, size_t len);

#endif
