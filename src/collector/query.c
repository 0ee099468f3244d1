/* Queries over the SQLite store (query.h). The SQL text is assembled only
 * from names in collector/routes.c and fixed fragments; every value the user
 * gave is a named parameter bound after prepare. */
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/query.h"
#include "collector/routes.h"
#include "lib/buf.h"
#include "lib/err.h"

#define SQL_CAP (1u << 20)
#define ISO_SQL "strftime('%Y-%m-%dT%H:%M:%S', time_ns / 1000000000, 'unixepoch')" \
	" || printf('.%09dZ', time_ns % 1000000000)"

static int sq_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_AUTH:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EPERM;
	case SQLITE_INTERRUPT:
		return -ETIMEDOUT;
	case SQLITE_ERROR:
		return -EINVAL;
	default:
		return -EIO;
	}
}

void query_format_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char day[32];

	if (!gmtime_r(&t, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(day, sizeof(day), "?");
	snprintf(buf, len, "%s.%09uZ", day, (unsigned)(ns % 1000000000u));
}

/* ---- output ---- */

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned min;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void json_string(FILE *out, const unsigned char *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t l;

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
			i++;
		} else if (c == '\n') {
			fputs("\\n", out);
			i++;
		} else if (c == '\t') {
			fputs("\\t", out);
			i++;
		} else if (c == '\r') {
			fputs("\\r", out);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
			i++;
		} else if ((l = utf8_len(s + i, n - i))) {
			fwrite(s + i, 1, l, out);
			i += l;
		} else {
			fputs("\xef\xbf\xbd", out);	/* U+FFFD, one per bad byte */
			i++;
		}
	}
	fputc('"', out);
}

static void json_value(FILE *out, sqlite3_stmt *st, int i)
{
	const char *decl;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		fprintf(out, "%lld", (long long)sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, i);

		if (d != d || d > 1.7e308 || d < -1.7e308)
			fputs("null", out);
		else
			fprintf(out, "%.15g", d);
		break;
	}
	case SQLITE_TEXT: {
		const unsigned char *t = sqlite3_column_text(st, i);
		size_t n = (size_t)sqlite3_column_bytes(st, i);

		decl = sqlite3_column_decltype(st, i);
		/* JSON_TEXT columns hold what "->" returned: JSON already. */
		if (decl && strcmp(decl, "JSON_TEXT") == 0 && n && (t[0] == '[' || t[0] == '{'))
			fwrite(t, 1, n, out);
		else
			json_string(out, t, n);
		break;
	}
	case SQLITE_BLOB: {
		const unsigned char *b = sqlite3_column_blob(st, i);
		int n = sqlite3_column_bytes(st, i);

		fputc('"', out);
		for (int k = 0; k < n; k++)
			fprintf(out, "%02x", b[k]);
		fputc('"', out);
		break;
	}
	default:
		fputs("null", out);
	}
}

/* A table cell: control bytes and invalid UTF-8 as '?', at most
 * QUERY_CELL_MAX characters. *width = characters. Owned by the caller. */
static char *cell_text(sqlite3_stmt *st, int i, size_t *width)
{
	const unsigned char *s;
	size_t n, w = 0, o = 0;
	char *out, tmp[64];

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		s = (const unsigned char *)"-";
		n = 1;
		break;
	case SQLITE_BLOB:
		snprintf(tmp, sizeof(tmp), "<%d bytes>", sqlite3_column_bytes(st, i));
		s = (const unsigned char *)tmp;
		n = strlen(tmp);
		break;
	default:
		s = sqlite3_column_text(st, i);
		n = (size_t)sqlite3_column_bytes(st, i);
		if (!s) {
			s = (const unsigned char *)"";
			n = 0;
		}
	}
	out = malloc(QUERY_CELL_MAX * 4 + 4);
	if (!out)
		return NULL;
	for (size_t k = 0; k < n && w < QUERY_CELL_MAX;) {
		size_t l = s[k] >= 0x20 && s[k] != 0x7f ? utf8_len(s + k, n - k) : 0;

		if (w == QUERY_CELL_MAX - 3 && n - k > 3) {
			memcpy(out + o, "...", 3);
			o += 3;
			w += 3;
			break;
		}
		if (l) {
			memcpy(out + o, s + k, l);
			o += l;
			k += l;
		} else {
			out[o++] = '?';
			k++;
		}
		w++;
	}
	out[o] = 0;
	*width = w;
	return out;
}

static void pad(FILE *out, size_t n)
{
	while (n--)
		fputc(' ', out);
}

static bool numeric(sqlite3_stmt *st, int i)
{
	int t = sqlite3_column_type(st, i);

	return t == SQLITE_INTEGER || t == SQLITE_FLOAT;
}

struct table_block {
	int ncol;
	size_t *width;
	char **cells;		/* rows * ncol */
	bool *right;		/* numbers right-aligned */
	size_t rows;
};

static void block_print(struct table_block *b, sqlite3_stmt *st, FILE *out, bool header)
{
	if (header) {
		for (int c = 0; c < b->ncol; c++) {
			const char *name = sqlite3_column_name(st, c);
			size_t w = strlen(name ? name : "");

			if (w > b->width[c])
				b->width[c] = w;
		}
		for (int c = 0; c < b->ncol; c++) {
			const char *name = sqlite3_column_name(st, c);

			if (b->right[c])
				pad(out, b->width[c] - strlen(name ? name : ""));
			fputs(name ? name : "", out);
			if (c + 1 < b->ncol)
				pad(out, (b->right[c] ? 0 :
					  b->width[c] - strlen(name ? name : "")) + 2);
		}
		fputc('\n', out);
	}
	for (size_t r = 0; r < b->rows; r++) {
		for (int c = 0; c < b->ncol; c++) {
			char *s = b->cells[r * (size_t)b->ncol + (size_t)c];
			size_t w = 0;

			for (const unsigned char *p = (const unsigned char *)s; *p; p++)
				w += (*p & 0xc0) != 0x80;
			if (b->right[c])
				pad(out, b->width[c] - w);
			fputs(s, out);
			if (c + 1 < b->ncol)
				pad(out, (b->right[c] ? 0 : b->width[c] - w) + 2);
			free(s);
		}
		fputc('\n', out);
	}
	b->rows = 0;
}

int query_print_rows(struct sqlite3_stmt *st, enum query_format fmt, uint32_t max_rows,
		     FILE *out, char *err, size_t errlen)
{
	int ncol = sqlite3_column_count(st), rc, ret = 0;
	uint32_t rows = 0;
	struct table_block b = { .ncol = ncol };
	bool header = true;

	if (fmt == QUERY_TABLE && ncol > 0) {
		b.width = calloc((size_t)ncol, sizeof(*b.width));
		b.right = calloc((size_t)ncol, sizeof(*b.right));
		b.cells = calloc((size_t)ncol * QUERY_TABLE_BLOCK, sizeof(*b.cells));
		if (!b.width || !b.right || !b.cells) {
			ret = err_fail(-ENOMEM, err, errlen, "query: out of memory");
			goto out;
		}
	}
	while (rows < max_rows && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		if (fmt == QUERY_JSON) {
			fputc('{', out);
			for (int c = 0; c < ncol; c++) {
				const char *name = sqlite3_column_name(st, c);

				if (c)
					fputc(',', out);
				json_string(out, (const unsigned char *)(name ? name : ""),
					    name ? strlen(name) : 0);
				fputc(':', out);
				json_value(out, st, c);
			}
			fputs("}\n", out);
			continue;
		}
		for (int c = 0; c < ncol; c++) {
			size_t w;
			char *s = cell_text(st, c, &w);

			if (!s) {
				ret = err_fail(-ENOMEM, err, errlen, "query: out of memory");
				goto out;
			}
			b.cells[b.rows * (size_t)ncol + (size_t)c] = s;
			if (w > b.width[c])
				b.width[c] = w;
			if (rows == 1)
				b.right[c] = numeric(st, c);
		}
		if (++b.rows == QUERY_TABLE_BLOCK) {
			block_print(&b, st, out, header);
			header = false;
		}
	}
	if (rows < max_rows && rc != SQLITE_DONE) {
		sqlite3 *db = sqlite3_db_handle(st);

		ret = rc == SQLITE_INTERRUPT ?
		      err_fail(-ETIMEDOUT, err, errlen, "query: stopped after %u ms",
			       QUERY_SQL_TIMEOUT_MS) :
		      err_fail(sq_errno(rc), err, errlen, "query: %s", sqlite3_errmsg(db));
	}
	if (fmt == QUERY_TABLE && ncol > 0 && (b.rows || header))
		block_print(&b, st, out, header);
out:
	if (b.cells)
		for (size_t i = 0; i < b.rows * (size_t)ncol; i++)
			free(b.cells[i]);
	free(b.cells);
	free(b.width);
	free(b.right);
	sqlite3_reset(st);
	if (ferror(out) && !ret)
		ret = err_fail(-EIO, err, errlen, "query: writing the output failed");
	return ret ? ret : (int)rows;
}

/* ---- event queries ---- */

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Conditions of f that apply to table rt, appended as " AND ...". Returns
 * false when rt cannot match f (no column for a filter). */
static bool table_where(const struct route_table *rt, const struct query_filter *f,
			struct buf *b)
{
	const struct route_column *groups[2] = { route_proc_cols, rt->cols };
	unsigned counts[2] = { rt->process ? ROUTE_PROC_COLS : 0, rt->ncols };
	unsigned npath = 0, naddr = 0;

	buf__adds(b, " WHERE 1");
	if (f->host)
		buf__adds(b, " AND host = :host");
	if (f->since_ns)
		buf__adds(b, " AND time_ns >= :since");
	if (f->until_ns)
		buf__adds(b, " AND time_ns < :until");
	if (f->name)
		buf__adds(b, " AND name = :name");
	if (f->min_severity)
		buf__adds(b, " AND severity_rank >= :sev");
	if ((f->process_name || f->pid >= 0 || f->user) && !rt->process)
		return false;
	if (f->process_name)
		buf__adds(b, " AND process_name = :pname");
	if (f->pid >= 0)
		buf__adds(b, " AND pid = :pid");
	if (f->user)
		buf__adds(b, " AND (user = :user OR login_user = :user)");
	if (f->path) {
		/* Files, libraries, mapped files; the executable only for process
		 * events: a path filter asks which events touched that path. */
		bool proc = rt->family && strcmp(rt->family, "process") == 0;

		buf__adds(b, " AND (0");
		for (unsigned g = proc ? 0 : 1; g < 2; g++) {
			for (unsigned i = 0; i < counts[g]; i++) {
				if (!(groups[g][i].flags & ROUTE_PATH))
					continue;
				npath++;
				if (has_glob(f->path))
					buf__addf(b, " OR %s GLOB :path", groups[g][i].name);
				else
					buf__addf(b, " OR instr(%s, :path) > 0", groups[g][i].name);
			}
		}
		buf__adds(b, ")");
		if (!npath)
			return false;
	}
	if (f->address) {
		buf__adds(b, " AND (0");
		for (unsigned i = 0; i < rt->ncols; i++) {
			const struct route_column *c = &rt->cols[i];

			if (!(c->flags & ROUTE_ADDR))
				continue;
			naddr++;
			if (c->type == ROUTE_JSON)
				buf__addf(b, " OR instr(%s, :addr) > 0", c->name);
			else if (has_glob(f->address))
				buf__addf(b, " OR %s GLOB :addr", c->name);
			else
				buf__addf(b, " OR %s = :addr", c->name);
		}
		buf__adds(b, ")");
		if (!naddr)
			return false;
	}
	return true;
}

static void bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i && v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void bind_int(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i)
		sqlite3_bind_int64(st, i, v);
}

static int64_t clamp_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void type_names(struct buf *b)
{
	unsigned n;
	const struct route_table *t = route_tables(&n);

	for (unsigned i = 0; i < n; i++)
		buf__addf(b, "%s%s", i ? ", " : "", t[i].family ? t[i].family : "alert");
}

/* The statement of an event query, prepared (EXPLAIN QUERY PLAN first when
 * explain) and bound; *st is the caller's to finalize. */
static int prepare_events(sqlite3 *db, const struct query_filter *f, enum query_format fmt,
			  bool explain, sqlite3_stmt **st, char *err, size_t errlen)
{
	const struct route_table *one = NULL, *rts;
	uint32_t limit = f->limit ? f->limit : QUERY_DEFAULT_LIMIT;
	unsigned n, used = 0;
	int sev = 0, rc, ret;
	struct buf b;

	*st = NULL;
	if (limit > QUERY_MAX_LIMIT)
		return err_fail(-EINVAL, err, errlen, "query: limit %u is over %u", limit,
				QUERY_MAX_LIMIT);
	if (f->min_severity) {
		sev = route_severity_rank(f->min_severity, strlen(f->min_severity));
		if (!sev)
			return err_fail(-EINVAL, err, errlen, "query: unknown severity \"%s\" "
					"(INFO, WARNING, MEDIUM, ERROR, HIGH, CRITICAL)",
					f->min_severity);
	}
	if (f->type) {
		one = route_by_name(f->type);
		if (!one) {
			buf__init(&b, 4096);
			type_names(&b);
			ret = err_fail(-EINVAL, err, errlen, "query: unknown type \"%s\" "
				       "(one of: %s)", f->type, b.data ? b.data : "");
			buf__free(&b);
			return ret;
		}
	}
	rts = route_tables(&n);
	buf__init(&b, SQL_CAP);
	if (explain)
		buf__adds(&b, "EXPLAIN QUERY PLAN ");
	if (one) {
		if (fmt == QUERY_JSON)
			buf__adds(&b, "SELECT *");
		else
			buf__adds(&b, "SELECT " ISO_SQL " AS time, ");
		if (fmt != QUERY_JSON)
			buf__addf(&b, "host, name, severity, %s%s AS summary",
				  one->process ? "process_name, pid, user, " : "", one->summary);
		buf__addf(&b, " FROM (SELECT * FROM %s", one->table);
		if (!table_where(one, f, &b)) {
			buf__free(&b);
			return err_fail(-EINVAL, err, errlen, "query: type %s has no column for "
					"the process, path or address filter given", f->type);
		}
		buf__adds(&b, " ORDER BY time_ns DESC, id DESC LIMIT :limit) ORDER BY time_ns, id");
	} else {
		if (fmt == QUERY_JSON)
			buf__adds(&b, "SELECT time_ns, type, host, device_id, message_id, name, "
				  "severity, process_name, pid, user, summary");
		else
			buf__adds(&b, "SELECT " ISO_SQL " AS time, type, host, name, severity, "
				  "process_name, pid, user, summary");
		buf__adds(&b, " FROM (SELECT * FROM (");
		for (unsigned i = 0; i < n; i++) {
			const struct route_table *rt = &rts[i];
			size_t mark = b.len;

			buf__addf(&b, "%sSELECT * FROM (SELECT time_ns, id, '%s' AS type, host, "
				  "device_id, message_id, name, severity, %s, (%s) AS summary "
				  "FROM %s", used ? " UNION ALL " : "",
				  rt->family ? rt->family : "alert",
				  rt->process ? "process_name, pid, user" :
				  "NULL AS process_name, NULL AS pid, NULL AS user",
				  rt->summary, rt->table);
			if (!table_where(rt, f, &b)) {
				b.len = mark;
				b.data[mark] = 0;
				continue;
			}
			buf__adds(&b, " ORDER BY time_ns DESC, id DESC LIMIT :limit)");
			used++;
		}
		if (!used) {
			buf__free(&b);
			return err_fail(-EINVAL, err, errlen, "query: no event type has columns "
					"for the filters given");
		}
		buf__adds(&b, ") ORDER BY time_ns DESC LIMIT :limit) ORDER BY time_ns");
	}
	if (b.toobig) {
		buf__free(&b);
		return err_fail(-E2BIG, err, errlen, "query: the statement is too long");
	}
	rc = sqlite3_prepare_v2(db, b.data, -1, st, NULL);
	buf__free(&b);
	if (rc != SQLITE_OK)
		return err_fail(sq_errno(rc), err, errlen, "query: %s", sqlite3_errmsg(db));
	bind_text(*st, ":host", f->host);
	bind_int(*st, ":since", clamp_i64(f->since_ns));
	bind_int(*st, ":until", clamp_i64(f->until_ns));
	bind_text(*st, ":name", f->name);
	bind_int(*st, ":sev", sev);
	bind_text(*st, ":pname", f->process_name);
	bind_int(*st, ":pid", f->pid);
	bind_text(*st, ":user", f->user);
	bind_text(*st, ":path", f->path);
	bind_text(*st, ":addr", f->address);
	bind_int(*st, ":limit", limit);
	return 0;
}

int query_sqlite_events(struct sqlite3 *db, const struct query_filter *f, enum query_format fmt,
			FILE *out, char *err, size_t errlen)
{
	uint32_t limit = f->limit ? f->limit : QUERY_DEFAULT_LIMIT;
	sqlite3_stmt *st;
	int ret = prepare_events(db, f, fmt, false, &st, err, errlen);

	if (ret)
		return ret;
	ret = query_print_rows(st, fmt, limit, out, err, errlen);
	sqlite3_finalize(st);
	return ret < 0 ? ret : 0;
}

int query_sqlite_explain(struct sqlite3 *db, const struct query_filter *f, FILE *out, char *err,
			 size_t errlen)
{
	sqlite3_stmt *st;
	int rc, ret = prepare_events(db, f, QUERY_JSON, true, &st, err, errlen);

	if (ret)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(out, "%s\n", (const char *)sqlite3_column_text(st, 3));
	if (rc != SQLITE_DONE)
		ret = err_fail(sq_errno(rc), err, errlen, "query: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ret;
}

/* ---- raw SQL ---- */

static int authorize(void *arg, int action, const char *a1, const char *a2, const char *db,
		     const char *trigger)
{
	static const char *const pragmas[] = { "table_info", "table_xinfo", "table_list",
					       "index_list", "index_info", "index_xinfo" };

	(void)arg;
	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_UPDATE:
		/* Table-valued functions (json_each, pragma_table_info) declare
		 * their virtual table through this; a real update of the schema
		 * table still fails: read-only connection, and the statement is
		 * refused unless sqlite3_stmt_readonly(). */
		return a1 && strcmp(a1, "sqlite_master") == 0 ? SQLITE_OK : SQLITE_DENY;
	case SQLITE_PRAGMA:
		if (a2)		/* a value: it would set something */
			return SQLITE_DENY;
		for (size_t i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++)
			if (a1 && strcmp(a1, pragmas[i]) == 0)
				return SQLITE_OK;
		return SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

static int progress(void *arg)
{
	const struct timespec *deadline = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int query_sqlite_sql(struct sqlite3 *db, const char *sql, enum query_format fmt,
		     uint32_t max_rows, FILE *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL, *next = NULL;
	const char *tail = NULL;
	struct timespec deadline;
	int rc, ret;

	if (!max_rows)
		max_rows = QUERY_DEFAULT_LIMIT;
	if (max_rows > QUERY_MAX_LIMIT)
		return err_fail(-EINVAL, err, errlen, "query: limit %u is over %u", max_rows,
				QUERY_MAX_LIMIT);
	sqlite3_set_authorizer(db, authorize, NULL);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
	if (rc == SQLITE_OK && tail && *tail)
		rc = sqlite3_prepare_v2(db, tail, -1, &next, NULL);
	sqlite3_set_authorizer(db, NULL, NULL);
	if (rc != SQLITE_OK) {
		ret = err_fail(sq_errno(rc), err, errlen, "query: %s%s", sqlite3_errmsg(db),
			       (rc & 0xff) == SQLITE_AUTH ?
			       " (only reading statements are allowed)" : "");
		goto out;
	}
	if (next) {
		ret = err_fail(-EINVAL, err, errlen, "query: one statement at a time");
		goto out;
	}
	if (!st) {
		ret = err_fail(-EINVAL, err, errlen, "query: no statement");
		goto out;
	}
	if (!sqlite3_stmt_readonly(st)) {
		ret = err_fail(-EPERM, err, errlen, "query: only reading statements are allowed");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += QUERY_SQL_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (long)(QUERY_SQL_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	sqlite3_progress_handler(db, 10000, progress, &deadline);
	ret = query_print_rows(st, fmt, max_rows, out, err, errlen);
	sqlite3_progress_handler(db, 0, NULL, NULL);
out:
	sqlite3_finalize(next);
	sqlite3_finalize(st);
	return ret < 0 ? ret : 0;
}

/* ---- stats ---- */

static int print_sql(sqlite3 *db, const char *sql, enum query_format fmt, FILE *out, char *err,
		     size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL), ret;

	if (rc != SQLITE_OK)
		return err_fail(sq_errno(rc), err, errlen, "stats: %s", sqlite3_errmsg(db));
	ret = query_print_rows(st, fmt, QUERY_MAX_LIMIT, out, err, errlen);
	sqlite3_finalize(st);
	return ret < 0 ? ret : 0;
}

int query_sqlite_stats(struct sqlite3 *db, enum query_format fmt, FILE *out, char *err,
		       size_t errlen)
{
	bool json = fmt == QUERY_JSON;
	int ret;

	if (!json)
		fputs("Event count and size summary (bytes of JSON per event)\n", out);
	ret = print_sql(db, json ?
		"SELECT kind, family, name, count, average_size, total_size FROM ("
		"SELECT 0 AS k, 'type' AS kind, family, name, count,"
		" (bytes + count / 2) / count AS average_size, bytes AS total_size"
		" FROM type_stats WHERE count > 0"
		" UNION ALL SELECT 1, 'total', NULL, NULL, sum(count),"
		" (sum(bytes) + sum(count) / 2) / sum(count), sum(bytes) FROM type_stats"
		" HAVING sum(count) > 0) ORDER BY k, family, name" :
		"SELECT family, name, count, average_size, total_size FROM ("
		"SELECT 0 AS k, family, name, count,"
		" (bytes + count / 2) / count AS average_size, bytes AS total_size"
		" FROM type_stats WHERE count > 0"
		" UNION ALL SELECT 1, 'all', '', sum(count),"
		" (sum(bytes) + sum(count) / 2) / sum(count), sum(bytes) FROM type_stats"
		" HAVING sum(count) > 0) ORDER BY k, family, name",
		fmt, out, err, errlen);
	if (ret)
		return ret;
	if (!json)
		fputs("\nWire (sealed batches as received) and devices\n", out);
	ret = print_sql(db, json ?
		"SELECT 'wire' AS kind, count(*) AS devices, total(batches) AS batches,"
		" total(events) AS events, total(wire_bytes) AS wire_bytes,"
		" total(raw_bytes) AS json_bytes,"
		" round(total(wire_bytes) / max(total(events), 1), 1) AS wire_bytes_per_event,"
		" round(total(raw_bytes) / max(total(wire_bytes), 1), 2) AS compression_ratio,"
		" total(gaps) AS gaps, total(lost_seqs) AS seqs_possibly_lost,"
		" total(duplicates) AS duplicate_batches, total(stale) AS stale_batches,"
		" total(replay_conflicts) AS replay_conflicts,"
		" total(malformed_events) AS malformed_events FROM devices" :
		"SELECT count(*) AS devices, CAST(total(batches) AS INTEGER) AS batches,"
		" CAST(total(events) AS INTEGER) AS events,"
		" CAST(total(wire_bytes) AS INTEGER) AS wire_bytes,"
		" round(total(wire_bytes) / max(total(events), 1), 1) AS bytes_per_event,"
		" round(total(raw_bytes) / max(total(wire_bytes), 1), 2) AS json_to_wire,"
		" CAST(total(gaps) AS INTEGER) AS gaps,"
		" CAST(total(lost_seqs) AS INTEGER) AS seqs_lost,"
		" CAST(total(duplicates) AS INTEGER) AS duplicates FROM devices",
		fmt, out, err, errlen);
	if (ret)
		return ret;
	if (!json)
		fputs("\nRejections\n", out);
	return print_sql(db, json ?
		"SELECT 'rejection' AS kind, reason, count FROM rejections"
		" ORDER BY count DESC, reason" :
		"SELECT reason, count FROM rejections ORDER BY count DESC, reason",
		fmt, out, err, errlen);
}
