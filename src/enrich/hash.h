/* Executable hashing for the process block: sha256, sha1 and md5 of a file in
 * one read pass (OpenSSL EVP), behind a bounded LRU cache keyed by the file's
 * identity and version (dev, ino, size, mtime, ctime), so an unchanged binary
 * is read once and a modified one is hashed again.
 *
 * Small files are hashed on the caller's thread; larger ones go to one worker
 * thread so a big binary never stalls the event loop. hasher__lookup and
 * hasher__lookup_path must be called from one thread at a time (the event
 * loop): they share one set of digest contexts. */
#ifndef VIGIL_HASH_H
#define VIGIL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/proc.h"

/* A field left 0 takes the default shown. */
struct hasher_opts {
	uint64_t max_file_bytes;	/* larger files: HASH_SKIPPED_SIZE; 256 MiB */
	uint64_t inline_max_bytes;	/* <= hashed by the caller; 4 MiB */
	uint32_t cache_entries;		/* LRU entries, 8192 (max 4194304) */
	uint32_t queue_max;		/* pending worker jobs, 256 (max 65536) */
};

/* Counters since hasher__new, except pending, which is a gauge. */
struct hasher_stats {
	uint64_t hits;		/* lookups answered from the cache (OK or SKIPPED_SIZE) */
	uint64_t misses;	/* identified files not in the cache */
	uint64_t hashed_inline;	/* files hashed on the caller's thread */
	uint64_t hashed_worker;	/* files hashed by the worker */
	uint64_t pending;	/* worker jobs queued or being hashed now */
	uint64_t skipped_size;	/* lookups answered HASH_SKIPPED_SIZE */
	uint64_t unavailable;	/* lookups answered HASH_UNAVAILABLE (not queue_full),
				 * plus worker jobs whose file changed while read */
	uint64_t errors;	/* open-for-read or read failures, caller or worker */
	uint64_t queue_full;	/* lookups refused because the queue was full;
				 * answered HASH_UNAVAILABLE */
	uint64_t evictions;	/* cache entries dropped to make room */
};

struct hasher;

/* o may be NULL (all defaults). Starts the worker thread. Returns NULL with
 * errno set and one sentence in err on failure (bad option, no memory,
 * OpenSSL lacks a digest, thread creation failed). */
struct hasher *hasher__new(const struct hasher_opts *o, char *err, size_t errlen);
/* Stops and joins the worker; queued jobs are abandoned and their fds closed,
 * a job being hashed is cut short. Accepts NULL. */
void hasher__free(struct hasher *h);

/* Fills out for the executable of p: uses p->pid, p->exe, p->exe_dev,
 * p->exe_ino, p->mntns. Never blocks on a large file: files <=
 * inline_max_bytes are hashed here, larger ones (<= max_file_bytes) are
 * queued to the worker and reported HASH_PENDING; later lookups of the same
 * file get the result. Larger than max_file_bytes -> HASH_SKIPPED_SIZE.
 * File gone / not the executed one / queue full -> HASH_UNAVAILABLE; read
 * error -> HASH_ERROR. out->size is st_size whenever the file was identified.
 *
 * The file is looked for, in order, at (a) /proc/<pid>/exe, (b) p->exe inside
 * /proc/<pid>/root, (c) p->exe in the agent's root when p->mntns is the
 * agent's mount namespace or 0; each candidate must be a regular file whose
 * (st_dev, st_ino) equal p->exe_dev (kernel encoding, see hash_kdev_to_dev)
 * and p->exe_ino when those are non-zero. */
void hasher__lookup(struct hasher *h, const struct proc_info *p, struct proc_hashes *out);
/* Hash an explicit path (symlinks followed), same cache and same rules for
 * size, queueing and non-regular files. */
void hasher__lookup_path(struct hasher *h, const char *path, struct proc_hashes *out);
void hasher__stats(const struct hasher *h, struct hasher_stats *out);
/* Blocks until the worker queue is empty and no job is being hashed. */
void hasher__drain(struct hasher *h);

/* The kernel's internal dev_t (s_dev: major << 20 | minor, as BPF reads it
 * from a super_block) converted to user space's dev_t (what stat returns). */
dev_t hash_kdev_to_dev(uint64_t kdev);

#endif
