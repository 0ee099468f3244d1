/* Routing of stored events to typed tables: which table an event lands in
 * (by activity_data.family, or the alert table for message_type ALERT) and
 * which JSON fields become which columns. The table below is the one place
 * that names the collector's columns: the CREATE TABLE and CREATE INDEX
 * statements, the per-table extraction and insert statements, the archive
 * rows and the query filters are all generated from it, so adding a column is
 * one line in routes.c (appended: existing databases get it by ALTER TABLE).
 *
 * Every typed table starts with the same columns (ROUTE_COMMON_COLS):
 *	id, time_ns, host, device_id, message_id, name, severity, severity_rank
 * then, for tables of events that carry a process block, ROUTE_PROC_COLS
 * process columns, then the family's own. device_id is the id the batch was
 * authenticated with (HMAC), not the one inside the event. */
#ifndef VIGIL_ROUTES_H
#define VIGIL_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

enum route_type {
	ROUTE_INT,	/* JSON number or boolean (0/1) */
	ROUTE_TEXT,	/* JSON string */
	ROUTE_JSON,	/* JSON array or object, stored as its compact JSON text */
};

/* Column flags. */
/* In the table's time index, (time_ns, id, then these columns): a query
 * filter that matches the column with '=' is tested in the index entry as
 * the query walks it newest first, and only matching rows are read. Not an
 * index of its own: one keyed by the column is appended to in as many places
 * as a batch has values, each a page written per commit (store_sqlite.c has
 * the numbers). */
#define ROUTE_INDEX 0x1u
#define ROUTE_PATH 0x2u		/* matched by the query path filter */
#define ROUTE_ADDR 0x4u		/* matched by the query address filter */
#define ROUTE_USER 0x8u		/* matched by the query user filter */

struct route_column {
	const char *name;	/* SQL column name */
	const char *path;	/* SQLite JSON path into the whole event */
	enum route_type type;
	unsigned flags;
};

struct route_table {
	const char *table;	/* SQL table name */
	const char *family;	/* activity_data.family routed here; NULL: the alert table */
	bool process;		/* has the process columns */
	const struct route_column *cols;	/* the family's own columns */
	unsigned ncols;
	/* SQL expression over the table's columns: one line saying what the
	 * event was about, for the table output of "vigil query". */
	const char *summary;
};

/* Fields every stored event must have; the raw table's columns. Indexes
 * into the extraction statement's result. */
enum route_head {
	ROUTE_H_MESSAGE_ID,
	ROUTE_H_TIME_NS,
	ROUTE_H_FAMILY,
	ROUTE_H_NAME,
	ROUTE_H_MESSAGE_TYPE,
	ROUTE_H_SEVERITY,
	ROUTE_H_HOST,
	ROUTE_H_MAX
};

extern const struct route_column route_head_cols[ROUTE_H_MAX];
#define ROUTE_PROC_COLS 14
extern const struct route_column route_proc_cols[ROUTE_PROC_COLS];
#define ROUTE_COMMON_COLS 8	/* id .. severity_rank */

/* The typed tables; route_tables()[i] for i < route_ntables(). */
const struct route_table *route_tables(unsigned *count);
/* The table for an event's family and message_type, or NULL (stored raw only). */
const struct route_table *route_find(const char *family, size_t family_len,
				     const char *message_type, size_t message_type_len);
/* By SQL table name or family name ("file" or "file_events"); NULL if none. */
const struct route_table *route_by_name(const char *name);

/* INFO 1, WARNING 2, MEDIUM 3, ERROR 4, HIGH 5, CRITICAL 6; 0 for anything
 * else. ERROR (a failed service step) ranks above MEDIUM and below HIGH so
 * that "at least HIGH" means alerts that need someone now. */
int route_severity_rank(const char *s, size_t len);

#endif
