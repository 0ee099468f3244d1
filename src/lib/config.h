/* The agent's configuration: every option with a default, loaded from YAML.
 * A bad file is refused whole with "FILE:LINE: what is wrong"; nothing starts
 * half-configured and a bad reload keeps the old config. */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_LIST 64	/* entries in any list option */

enum source_choice {
	SOURCE_AUTO = 0,	/* eBPF, else process connector */
	SOURCE_EBPF,
	SOURCE_PROC,		/* process connector + /proc */
};

struct str_list {
	char *items[CONFIG_MAX_LIST];
	unsigned count;
};

struct vigil_config {
	/* agent: */
	char *device_id;	/* "" -> /etc/machine-id */
	char *org_id;		/* default "default" */
	int log_level;		/* enum log_level; default info */
	enum source_choice source;	/* default auto */
	char *user_data;	/* message_header.user_data, default "NONE" */

	/* events: per-type toggles */
	bool ev_process;	/* Process Created/Terminated, default true */
	bool ev_thread;		/* Thread Created/Terminated, default true */
	bool ev_fork_without_exec;	/* Process Created for fork-only children, default true */
	bool env_capture;	/* environment on process start, default false */
	bool ev_file;		/* file operations (open, create, rename, ...), default true */
	bool ev_identity;	/* setuid family and capset, default true */
	bool ev_memory;		/* executable anonymous memory, exec permission, memfd, default true */
	bool ev_library;	/* shared libraries loaded, one per (process, library), default true */
	bool ev_network;	/* bind/listen/connect/accept, TCP created/terminated, default true */
	bool ev_tcp_state_changes;	/* every TCP state transition, default false */
	bool ev_dns;		/* DNS queries and answers (port 53), default true */
	uint32_t memory_event_interval_ms;	/* per process and kind, default 60000 (0..3600000; 0 = all) */

	/* limits: */
	uint32_t max_processes;	/* process table entries, default 32768 (64..4194304) */
	uint32_t max_args_bytes;	/* argv bytes captured, default 4096 (256..32768) */
	uint32_t max_env_bytes;	/* envp bytes captured, default 4096 (256..32768) */
	uint32_t max_path_bytes;	/* exe/cwd length, default 4096 (64..4096) */

	/* hashing: */
	bool hash_enabled;	/* default true */
	uint64_t hash_max_file_bytes;	/* larger files skipped, default 256 MiB */
	uint64_t hash_inline_max_bytes;	/* <= hashed on the event path, default 4 MiB */
	uint32_t hash_cache_entries;	/* default 8192 */

	/* exclusions: */
	struct str_list exclude_process_names;	/* comm, exact */
	struct str_list exclude_process_paths;	/* exe, glob(3) pattern */
	struct str_list exclude_paths;	/* file events on these paths (fnmatch, leading dir) */
	struct str_list watch_paths;	/* content change on close-after-write, default /etc, ~/.ssh */

	/* redaction: */
	struct str_list secret_env_patterns;	/* fnmatch, case-insensitive on the name */

	/* output: */
	bool out_stdout;	/* default true */
	char *log_folder;	/* "" -> no file sink */
	uint64_t log_threshold_bytes;	/* rotate at, default 64 MiB (4 KiB..16 GiB) */
	uint32_t log_max_files;	/* rotated files kept, default 10 (1..1000) */

	/* ebpf: */
	uint32_t ringbuf_bytes;	/* power of two, default 16 MiB (256 KiB..1 GiB) */
	uint32_t wakeup_bytes;	/* wake user space when this much is queued, default 256 KiB */
	uint32_t poll_interval_ms;	/* drain at least this often, default 50 (1..1000) */
	uint32_t stats_interval_ms;	/* drop counters checked, default 1000 */
};

/* Fills every field with its default. Returns 0 or -ENOMEM. */
int config__defaults(struct vigil_config *cfg);
/* Loads path over the defaults. On error returns a negative errno (-EINVAL
 * for bad content), writes "path:line: what is wrong" into err, and leaves
 * cfg freed (config__free is still safe). */
int config__load(struct vigil_config *cfg, const char *path, char *err, size_t errlen);
/* Writes the effective config as YAML that config__load accepts. */
void config__print(const struct vigil_config *cfg, FILE *out);
void config__free(struct vigil_config *cfg);

#endif
