/* uid/gid -> names, resolved the way the process itself would: from the
 * passwd and group files under the process's own root, so a container's
 * users come from the container's /etc/passwd. The files are parsed here,
 * never through getpwuid(3): NSS would consult the agent's root and may
 * block on the network.
 *
 * One table per mount namespace (keyed by proc_info.mntns), at most
 * max_namespaces of them besides the agent's own, least recently used
 * evicted. A table is re-checked (stat) at most once per recheck interval
 * and re-parsed when a file's inode, size or mtime changed. Each table holds
 * at most USERS_MAX_ENTRIES entries of at most PROC_NAME_LEN bytes per file,
 * so memory stays below about (max_namespaces + 1) * 2 * USERS_MAX_ENTRIES *
 * (2 * PROC_NAME_LEN + 12) bytes (the name pool grows by doubling), plus one
 * file of at most USERS_MAX_FILE_BYTES while it is parsed.
 *
 * Not thread-safe: one users object belongs to the event loop thread. */
#ifndef VIGIL_USERS_H
#define VIGIL_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "model/proc.h"

#define USERS_MAX_LINE 4096			/* longer lines are skipped */
#define USERS_MAX_ENTRIES 100000		/* per file; further entries dropped */
#define USERS_MAX_FILE_BYTES (16u << 20)	/* larger files are refused */
#define USERS_RECHECK_MS 1000			/* default stat interval per namespace */
#define USERS_MAX_NAMESPACES 4096		/* upper limit for max_namespaces */

struct users;

struct users_stats {
	uint64_t loads;			/* files parsed (first load or change) */
	uint64_t malformed_lines;	/* too few fields, empty name, bad id */
	uint64_t long_lines;		/* over USERS_MAX_LINE, skipped */
	uint64_t entries_dropped;	/* over USERS_MAX_ENTRIES */
	uint64_t files_refused;		/* too big, not a regular file, unreadable */
	uint64_t fallbacks;		/* resolved from the host files: root gone */
	uint64_t evictions;		/* namespaces dropped for a new one */
	unsigned namespaces;		/* cached now, the agent's own excluded */
};

/* max_namespaces: 1..USERS_MAX_NAMESPACES tables besides the agent's own.
 * Returns NULL with err filled on a bad argument or out of memory. Reads
 * nothing yet: files are loaded on first use. */
struct users *users__new(unsigned max_namespaces, char *err, size_t errlen);
void users__free(struct users *u);

/* Fills p->user, group, euser, egroup from p->uid, gid, euid, egid and
 * p->login_user from p->auid; a name is "" when unknown, login_user "" when
 * auid is PROC_ID_UNSET. Names longer than PROC_NAME_LEN - 1 bytes are
 * truncated. The table is the one of p->mntns (found from /proc/p->pid/ns/mnt
 * when mntns is 0): the agent's own namespace reads /etc; another reads
 * /proc/p->pid/root/etc with symlinks resolved inside that root, after
 * checking that p->pid still lives in that namespace. When the process is
 * gone and its namespace is not cached yet, the host's table answers for
 * this call only (counted in fallbacks). Never blocks on a FIFO or device
 * planted in place of a file: only regular files are opened. */
void users__resolve(struct users *u, struct proc_info *p);

/* Test and tooling seam: binds mntns to these two files instead of the
 * process's root (mntns 0 or the agent's own namespace: replaces the host
 * files, /etc/passwd and /etc/group). The files are loaded now and re-checked
 * like any other; a missing file is an empty table, not an error. Returns 0,
 * -EINVAL (NULL path) or -ENOMEM. */
int users__load_files(struct users *u, uint32_t mntns, const char *passwd_path,
		      const char *group_path);

/* Interval between stat checks of one namespace's files, default
 * USERS_RECHECK_MS; 0 checks on every call. */
void users__set_recheck_ms(struct users *u, uint32_t ms);

void users__stats(const struct users *u, struct users_stats *st);

#endif
