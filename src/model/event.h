/* The one event model every source produces and every writer reads.
 * Event type numbers are explicit and never reused; a field is only ever
 * appended; an incompatible change is a new type (docs/schema.md). */
#ifndef VIGIL_EVENT_H
#define VIGIL_EVENT_H

#include <stdint.h>

#include "model/file_op.h"
#include "model/identity_op.h"
#include "model/mem_op.h"
#include "model/net_op.h"
#include "model/proc.h"

#define VIGIL_SCHEMA_VERSION "1.2.0"

enum msg_type {
	MSG_EVENT = 0,
	MSG_ALERT = 1,
	MSG_SYSTEM_ACTIVITY = 2,
};

enum severity {
	SEV_INFO = 0,
	SEV_WARNING,
	SEV_ERROR,
	SEV_MEDIUM,
	SEV_HIGH,
	SEV_CRITICAL,
};

enum event_type {
	EVT_PROCESS_CREATED = 1,
	EVT_PROCESS_TERMINATED = 2,
	EVT_THREAD_CREATED = 3,
	EVT_THREAD_TERMINATED = 4,

	EVT_FILE_OPENED = 10,
	EVT_FILE_CREATED = 11,
	EVT_FILE_DELETED = 12,
	EVT_FILE_RENAMED = 13,
	EVT_FILE_TRUNCATED = 14,
	EVT_FILE_PERMISSIONS_CHANGED = 15,
	EVT_FILE_OWNER_CHANGED = 16,
	EVT_FILE_LINK_CREATED = 17,
	EVT_FILE_SYMLINK_CREATED = 18,
	EVT_DIRECTORY_CREATED = 19,
	EVT_DIRECTORY_DELETED = 20,
	EVT_FILE_CONTENT_CHANGED = 21,

	EVT_IDENTITY_CHANGED = 30,
	EVT_IDENTITY_CHANGE_FAILED = 31,

	EVT_NET_BIND = 40,
	EVT_NET_LISTEN = 41,
	EVT_NET_CONNECT = 42,
	EVT_NET_ACCEPT = 43,
	EVT_NET_CONNECTION_CREATED = 44,
	EVT_NET_CONNECTION_TERMINATED = 45,
	EVT_NET_TCP_STATE_CHANGE = 46,

	EVT_DNS_QUERY = 50,
	EVT_DNS_ANSWER = 51,

	EVT_MEM_EXEC_ANON_MAPPED = 60,
	EVT_MEM_EXEC_PERMISSION_ADDED = 61,
	EVT_MEM_MEMFD_CREATED = 62,
	EVT_MEM_FILELESS_EXEC = 63,
	EVT_MEM_EXEC_PERMISSION_REMOVED = 64,

	EVT_LIBRARY_LOADED = 70,

	SYS_SERVICE_INIT_STARTED = 1000,
	SYS_SERVICE_INIT_SUCCESSFUL = 1001,
	SYS_SERVICE_INIT_FAILED = 1002,
	SYS_SOURCE_SELECTED = 1003,
	SYS_SERVICE_SHUTDOWN = 1004,
	SYS_EVENTS_DROPPED = 1005,
	SYS_PROCESS_LIMIT_REACHED = 1006,
	SYS_FEATURE_DEGRADED = 1007,
	SYS_CONFIG_RELOADED = 1008,
	SYS_COLLECTOR_CONNECTED = 1009,
	SYS_COLLECTOR_DISCONNECTED = 1010,
};

struct event_type_info {
	enum event_type type;
	const char *name;	/* activity_data.name, e.g. "Process Created" */
	const char *family;	/* "process", "thread", "system" */
	enum msg_type msg_type;
	enum severity severity;
	const char *details_key;	/* "process_details", "thread_details", ... */
};

/* NULL for an unknown type. */
const struct event_type_info *event_type__info(enum event_type type);
const struct event_type_info *event_type__all(unsigned *count);
const char *msg_type_name(enum msg_type t);
const char *severity_name(enum severity s);

/* Extra key/value details of a SYSTEM_ACTIVITY message (source name, drop
 * counts, reasons). Keys are static strings; string values are borrowed. */
struct event_kv {
	const char *key;
	const char *str;	/* string value, or NULL for a number */
	int64_t num;
};

#define EVENT_MAX_KV 12

struct event {
	enum event_type type;
	uint64_t time_ns;		/* CLOCK_REALTIME ns when it happened */
	const struct proc_info *proc;	/* borrowed; NULL for system activity */
	const struct proc_info *parent;	/* borrowed; NULL when unknown */

	/* Process/Thread Terminated */
	int exit_code;			/* exit status (0-255) when no signal */
	int exit_signal;		/* terminating signal, 0 if none */
	int core_dumped;
	/* Thread Created/Terminated */
	uint32_t thread_id;
	uint64_t thread_self_exec_id;

	/* File events */
	const struct file_op *file;
	/* Identity events */
	const struct identity_op *identity;
	/* Memory and library events */
	const struct mem_op *mem;
	const struct library_op *library;
	/* Network and DNS events */
	const struct net_op *net;
	const struct dns_op *dns;

	/* System activity: a human sentence plus details. */
	const char *message;
	struct event_kv kv[EVENT_MAX_KV];
	unsigned nkv;
};

/* Adds a detail to a system activity event; silently ignores overflow of
 * EVENT_MAX_KV, which is a programming error caught by tests. */
void event__kv_str(struct event *ev, const char *key, const char *val);
void event__kv_num(struct event *ev, const char *key, int64_t val);

#endif
