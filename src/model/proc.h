/* The process block: everything Vigil knows about one process (thread group),
 * filled by whichever source saw it and completed by the enrichers. Every
 * process event carries one for the process and one for its parent. */
#ifndef VIGIL_PROC_H
#define VIGIL_PROC_H

#include <stdbool.h>
#include <stdint.h>

#define PROC_COMM_LEN 16
#define PROC_NAME_LEN 64	/* user/group names */
#define PROC_CONTAINER_ID_LEN 64
#define PROC_ID_UNSET 0xffffffffu	/* e.g. login uid never set */

enum hash_status {
	HASH_NONE = 0,		/* hashing disabled */
	HASH_OK,		/* sha256/sha1/md5 valid */
	HASH_PENDING,		/* large file queued to the hash worker */
	HASH_SKIPPED_SIZE,	/* larger than hashing.max_file_bytes */
	HASH_UNAVAILABLE,	/* file gone or not the one that was executed */
	HASH_ERROR,		/* read error */
};
const char *hash_status_name(enum hash_status s);

struct proc_hashes {
	enum hash_status status;
	uint64_t size;		/* bytes of the executable; 0 when unknown */
	char sha256[65];
	char sha1[41];
	char md5[33];
};

/* How the process came to be, as reported on Process Created. */
enum proc_origin {
	PROC_ORIGIN_UNKNOWN = 0,
	PROC_ORIGIN_EXEC,	/* execve/execveat */
	PROC_ORIGIN_FORK,	/* fork/vfork/clone without CLONE_THREAD, no exec yet */
	PROC_ORIGIN_SNAPSHOT,	/* already running when the agent started (/proc) */
};
const char *proc_origin_name(enum proc_origin o);

struct proc_info {
	uint32_t pid;		/* thread group id */
	uint32_t tid;		/* thread that caused the event */
	uint32_t ppid;		/* real parent's tgid */
	char comm[PROC_COMM_LEN];
	/* Owned heap strings; NULL when unknown. */
	char *exe;
	char *cwd;
	char *args;		/* argv as NUL-separated strings, args_len bytes */
	uint32_t args_len;
	bool args_truncated;
	char *env;		/* envp, NUL-separated, already redacted; NULL if off */
	uint32_t env_len;
	bool env_truncated;

	uint32_t uid, gid, euid, egid;
	uint32_t auid;		/* login uid, PROC_ID_UNSET when never set */
	char user[PROC_NAME_LEN], group[PROC_NAME_LEN];
	char euser[PROC_NAME_LEN], egroup[PROC_NAME_LEN];
	char login_user[PROC_NAME_LEN];

	uint64_t start_boot_ns;	/* process start, CLOCK_BOOTTIME ns */
	uint64_t exec_boot_ns;	/* last exec (or start when it never exec'd) */
	uint64_t self_exec_id;	/* kernel's counter, incremented on exec */
	uint32_t pidns, mntns, netns;	/* namespace inode numbers, 0 unknown */
	uint64_t cgroup_id;
	char *cgroup;		/* cgroup v2 path or leaf name, owned; NULL unknown */
	char container_id[PROC_CONTAINER_ID_LEN + 1];	/* "" outside containers */
	const char *container_runtime;	/* static string or NULL */

	uint64_t exe_dev, exe_ino;	/* identity of the executed file, 0 unknown */
	struct proc_hashes hash;
	enum proc_origin origin;
	/* Version of the executed file as the kernel saw it at exec, so the
	 * hasher can answer from its cache without opening anything. */
	bool exe_stat_known;
	uint64_t exe_size;
	int64_t exe_mtime_ns, exe_ctime_ns;
	/* The block serialized as JSON, owned; NULL when not cached. A process
	 * appears in many events (its own, and as every child's parent), and
	 * serializing was most of the agent's time per exec. Whoever changes a
	 * field of a cached block calls proc_info__touch(). */
	char *json_block;
	uint32_t json_block_len;
};

/* Frees the owned strings and zeroes the block; accepts NULL. */
void proc_info__clear(struct proc_info *p);
/* Deep copy; -ENOMEM leaves dst cleared. */
int proc_info__copy(struct proc_info *dst, const struct proc_info *src);
/* Replace an owned string with a copy of [s, s+len) (NUL-terminated). */
int proc_info__set_str(char **field, const char *s, size_t len);
/* Drops the cached JSON block after a field changed. */
void proc_info__touch(struct proc_info *p);
/* Unique per exec on this boot: "<pid hex>-<exec_boot_ns hex>". */
void proc_info__exec_id(const struct proc_info *p, char *out, size_t outlen);

#endif
