/* The one table of process-block fields (Falco's g_event_info style). The
 * JSON writer walks it to write "process_details" and
 * "parent_process_details"; the collector derives its columns and the rule
 * engine its field lookup from it. Adding a process field means one line in
 * fields.c (appended, never reordered: docs/schema.md) and one property in
 * docs/event.schema.json, which the unit tests check against each other. */
#ifndef VIGIL_FIELDS_H
#define VIGIL_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "model/proc.h"

/* How a field is stored in struct proc_info and how "unknown" looks. */
enum field_kind {
	FIELD_U32,		/* uint32_t, always known */
	FIELD_U32_ID,		/* uint32_t uid/gid; PROC_ID_UNSET -> null */
	FIELD_U32_NZ,		/* uint32_t; 0 (unknown) -> null: namespace inodes */
	FIELD_U64,		/* uint64_t, always known */
	FIELD_U64_NZ,		/* uint64_t; 0 (unknown) -> null */
	FIELD_BOOL,		/* bool */
	FIELD_STR,		/* char *, owned; NULL -> null */
	FIELD_CHARS,		/* char[size]; "" -> null */
	FIELD_CONST_STR,	/* const char * (static); NULL -> null */
	FIELD_CMDLINE,		/* NUL-separated char * + uint32_t len_offset -> one string */
	FIELD_ARGS,		/* NUL-separated char * + len -> array of strings; NULL -> null */
	FIELD_ENV,		/* NUL-separated NAME=value + len -> object; NULL -> absent */
	FIELD_BOOT_TIME,	/* uint64_t CLOCK_BOOTTIME ns -> realtime ISO 8601; 0 -> null */
	FIELD_HASH,		/* char[size] hex digest; null unless hash.status == HASH_OK */
	FIELD_HASH_STATUS,	/* enum hash_status -> its name */
	FIELD_ORIGIN,		/* enum proc_origin -> its name */
	FIELD_EXEC_ID,		/* computed by proc_info__exec_id, whole block */
};

/* The value a consumer sees (JSON type in brackets). */
enum field_type {
	FIELD_TYPE_UINT,	/* [integer] */
	FIELD_TYPE_BOOL,	/* [boolean] */
	FIELD_TYPE_STRING,	/* [string] */
	FIELD_TYPE_TIME,	/* [string] ISO 8601 ns, UTC; realtime ns for the rule engine */
	FIELD_TYPE_STRING_LIST,	/* [array of strings] */
	FIELD_TYPE_STRING_MAP,	/* [object of strings] */
};

struct field_desc {
	const char *name;	/* JSON key, same in process and parent blocks */
	enum field_kind kind;
	size_t offset;		/* of the member in struct proc_info */
	size_t size;		/* sizeof the member (bounds CHARS/HASH reads) */
	size_t len_offset;	/* CMDLINE/ARGS/ENV: the uint32_t byte count */
	enum field_type type;
	int nullable;		/* the value may be JSON null */
	const char *doc;	/* one line for docs/schema.md */
};

/* What field__get found. Strings point into the proc_info or into tmp, so a
 * value lives no longer than either. */
enum field_vtag {
	FV_ABSENT,	/* the key is left out (process_environment when off) */
	FV_NULL,	/* unknown */
	FV_UINT,	/* u */
	FV_BOOL,	/* u is 0 or 1 */
	FV_STR,		/* s, len: bytes, not necessarily valid UTF-8 */
	FV_TIME,	/* u: CLOCK_REALTIME ns */
	FV_CMDLINE,	/* s, len: NUL-separated argv, to be shown joined by spaces */
	FV_LIST,	/* s, len: NUL-separated strings (last may lack its NUL) */
	FV_ENV,		/* s, len: NUL-separated NAME=value entries */
};

struct field_value {
	enum field_vtag tag;
	uint64_t u;
	const char *s;
	size_t len;
	char tmp[48];	/* storage for computed strings (exec id) */
};

/* The table and its length; order is the output order. */
const struct field_desc *proc_fields(unsigned *count);
/* NULL when no field has that name. */
const struct field_desc *proc_field__find(const char *name);

/* Reads field f of p into v. boot_to_real_ns converts CLOCK_BOOTTIME to
 * CLOCK_REALTIME for FIELD_BOOT_TIME (a time that would fall before the
 * epoch is null). Never fails: anything unknown is FV_NULL/FV_ABSENT. */
void field__get(const struct field_desc *f, const struct proc_info *p, int64_t boot_to_real_ns,
		struct field_value *v);

/* Iterates a NUL-separated list of len bytes: returns 1 and sets *item and
 * *item_len to the next element, 0 at the end. *pos starts at 0. A final
 * element without its NUL counts (truncated capture); nothing after the
 * last NUL does not. */
int field__list_next(const char *s, size_t len, size_t *pos, const char **item,
		     size_t *item_len);

#endif
