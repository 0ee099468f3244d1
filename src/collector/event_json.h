/* A single-pass extractor for the collector: one walk over an event line
 * (one JSON object) that validates all of it and records where the values
 * of a fixed set of paths ("$.a.b[0].c") are, without allocating.
 *
 * Why not SQLite's JSON1, a library made for this: it was the bottleneck of
 * the store. json_extract() looks its parse up in a cache by comparing the
 * whole line and walks its path from the root on every call, ~45 calls per
 * event: a JSON1 SELECT of file_events' 44 columns took 48 us per 4.5 KB
 * event, this scanner 2.4-3.9 us (45k instructions). The store went from 56
 * to 32 us of CPU per event (bench/storebench.c, 100k events, 2-core VM).
 *
 * What it returns is what json_extract() and "->" in SQLite 3.40 return for
 * the same paths (tests/unit/test_event_json.c compares them):
 *  - a key matches a path step by its bytes as written (no unescaping:
 *    "fam\u0069ly" is not "family"), and the first of duplicate keys is the
 *    one that counts (a later duplicate and everything under it is ignored);
 *  - "[N]" steps into element N of an array;
 *  - an integer that does not fit in 64 bits is a REAL, as in JSON1.
 * Where it is stricter, the line is rejected (not an event), never read
 * differently:
 *  - strings must be valid UTF-8 (RFC 3629) and every \u escape a scalar
 *    value (no lone surrogates); the agent writes nothing else;
 *  - nesting deeper than EVENT_JSON_MAX_DEPTH, a line longer than
 *    EVENT_JSON_MAX_LEN, a NUL byte, anything after the object;
 *  - the line must be one JSON object.
 * And where JSON1 mis-reads, event_json does not:
 *  - "\u0000" in a string decodes to a NUL byte (JSON1 cuts the string
 *    there: a name could hide behind it);
 *  - an array or object where a key belongs is an error (JSON1 takes one
 *    whose last value is a string for a key and reads the rest askew). */
#ifndef VIGIL_EVENT_JSON_H
#define VIGIL_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>

#define EVENT_JSON_MAX_DEPTH 64
#define EVENT_JSON_MAX_LEN (16u << 20)	/* bytes of one line; the agent's are < 64 KiB */
#define EVENT_JSON_MAX_PATHS 4096

enum event_json_type {
	EVENT_JSON_MISSING = 0,	/* the path is not in the line */
	EVENT_JSON_NULL,
	EVENT_JSON_FALSE,
	EVENT_JSON_TRUE,
	EVENT_JSON_INT,		/* fits in int64: .i */
	EVENT_JSON_REAL,	/* has a fraction or exponent, or an integer past int64 */
	EVENT_JSON_STRING,
	EVENT_JSON_ARRAY,
	EVENT_JSON_OBJECT,
};

#define EVENT_JSON_ESCAPED 0x1u	/* a string with backslash escapes */
#define EVENT_JSON_SPACED 0x2u	/* an array or object with whitespace between its tokens */

struct event_json_value {
	uint32_t off, len;	/* the value's bytes in the line; a string's without quotes */
	uint8_t type;		/* enum event_json_type */
	uint8_t flags;
	int64_t i;		/* EVENT_JSON_INT */
};

struct event_json;

/* Compiles npaths paths ("$", then ".key" and "[N]" steps; a key is any
 * bytes but '.', '[', '"' and '\\'). The paths are copied. Returns 0,
 * -EINVAL (err says which path is bad) or -ENOMEM. */
int event_json__new(struct event_json **out, const char *const *paths, unsigned npaths,
		    char *err, size_t errlen);
void event_json__free(struct event_json *ej);

/* Walks line (len bytes, no terminator needed). 0: the values of the paths
 * are valid until the next scan; -EBADMSG: not one well-formed JSON object
 * within the limits above (event_json__error says why); -E2BIG: longer than
 * EVENT_JSON_MAX_LEN. */
int event_json__scan(struct event_json *ej, const char *line, size_t len);

/* The value of path i (as given to event_json__new) in the last scan. */
const struct event_json_value *event_json__value(const struct event_json *ej, unsigned i);

/* Why the last scan failed: "byte 17: invalid UTF-8". Static or owned by ej. */
const char *event_json__error(const struct event_json *ej);

/* A string value's text, unescaped, written to out (room for v->len bytes
 * at least: unescaping never lengthens). Returns its length. Only for
 * STRING values of the line v was scanned from. */
size_t event_json_unescape(const char *line, const struct event_json_value *v, char *out);

/* The JSON text of a value as JSON1 renders it ("->"): strings with their
 * quotes and escapes as written, numbers as written, arrays and objects
 * without whitespace between tokens. Points into line when that is the text
 * already, else into out (room for v->len bytes); *n = its length. NULL for
 * MISSING. */
const char *event_json_text(const char *line, const struct event_json_value *v, char *out,
			    size_t *n);

/* A value as SQL sees it. */
enum event_json_sql_type {
	EVENT_JSON_SQL_NULL,
	EVENT_JSON_SQL_INT,
	EVENT_JSON_SQL_REAL,
	EVENT_JSON_SQL_TEXT,
};

struct event_json_sql {
	int type;		/* enum event_json_sql_type */
	int64_t i;
	double d;
	const char *s;		/* TEXT: in the line or in the caller's scratch */
	size_t n;
};

/* What SQLite's json_extract(line, path) returns for the value: NULL for a
 * missing value or null, 1/0 for true/false, INT, REAL, a string's text
 * unescaped, an array's or object's JSON text. scratch: room for v->len + 1
 * bytes; o->s may point into it until the next call. */
void event_json_extract(const char *line, const struct event_json_value *v, char *scratch,
			struct event_json_sql *o);
/* What nullif(line -> path, 'null') returns: NULL for missing or null, else
 * the JSON text (event_json_text). */
void event_json_arrow(const char *line, const struct event_json_value *v, char *scratch,
		      struct event_json_sql *o);

#endif
