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

	/* ship: the agent's side of the pipeline to a collector */
	bool ship_enabled;	/* default false */
	char *ship_collector;	/* "host:port", default "127.0.0.1:7443" */
	char *ship_server_name;	/* name checked in the collector's certificate, default "localhost" */
	char *ship_ca_file;	/* CA the collector's certificate must chain to; "" none */
	char *ship_pin_sha256;	/* sha256 of the collector's public key (hex); "" none */
	char *ship_device_file;	/* device id + keys (vigil enroll), default /var/lib/vigil/device.key */
	char *ship_seq_file;	/* batch sequence numbers, default /var/lib/vigil/seq */
	char *ship_spool_dir;	/* encrypted batches awaiting the ack, default /var/lib/vigil/spool */
	uint64_t ship_spool_max_bytes;	/* default 256 MiB (1 MiB..1 TiB) */
	uint32_t ship_batch_interval_ms;	/* default 1000 (10..60000) */
	uint32_t ship_batch_max_bytes;	/* uncompressed, default 4 MiB (64 KiB..64 MiB) */
	uint32_t ship_zstd_level;	/* default 1 (1..19) */
	uint64_t ship_remote_blocks_max_bytes;	/* blocks_known.h; 0: off; default 16 MiB */

	/* collector: vigil collector */
	char *col_listen;	/* "host:port", default "127.0.0.1:7443" */
	char *col_cert_file;	/* default /var/lib/vigil/pki/server.pem */
	char *col_key_file;	/* default /var/lib/vigil/pki/server.key */
	char *col_keystore_dir;	/* enrolled devices' keys, default /var/lib/vigil/keystore */
	char *col_database;	/* SQLite file, default /var/lib/vigil/vigil.db */
	char *col_archive_dir;	/* cold archive, default /var/lib/vigil/archive */
	uint32_t col_raw_ttl_s;	/* raw table, default 86400 (1 day) */
	uint32_t col_typed_ttl_s;	/* typed tables, default 7776000 (90 days) */
	uint32_t col_archive_ttl_s;	/* archive files, default 31536000 (365 days) */
	uint32_t col_retention_interval_ms;	/* retention pass, default 60000 */
	uint32_t col_max_connections;	/* default 1024 */
	uint32_t col_max_frame_bytes;	/* default 16 MiB + 1 */
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
