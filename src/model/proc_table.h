/* The process table: what the agent knows about every live process, keyed by
 * pid, so events carry the parent's block. Bounded at creation; exited
 * entries linger for a grace period (late events may still name them as a
 * parent) and are the first to go when the table is full. */
#ifndef VIGIL_PROC_TABLE_H
#define VIGIL_PROC_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/proc.h"

struct proc_entry {
	struct proc_info info;
	bool exited;
	bool excluded;		/* matched an exclusion: none of its events are sent */
	bool fork_pending;	/* Process Created (fork) held back awaiting an exec */
	uint64_t fork_time_boot_ns;
	uint64_t exit_boot_ns;
	uint32_t threads;	/* live threads created since we knew it */
	/* Libraries reported for this image: (dev, ino) keys, owned, bounded;
	 * reset on exec. */
	uint64_t *libs;
	uint32_t nlibs, libs_cap;
	/* Memory events rate limit, per kind: last report and repeats since. */
	uint64_t mem_last_ns[4];
	uint32_t mem_suppressed[4];
	/* private */
	struct proc_entry *hnext;
	struct proc_entry *xprev, *xnext;	/* exited FIFO */
};

struct proc_table;

struct proc_table *proc_table__new(uint32_t max_entries);
void proc_table__free(struct proc_table *t);
struct proc_entry *proc_table__lookup(struct proc_table *t, uint32_t pid);
/* Inserts (or replaces the entry of the same pid) taking ownership of the
 * strings of *info, which is zeroed. Returns the entry, or NULL with *info
 * untouched when the table is full of live processes (-ENOSPC) or on -ENOMEM. */
struct proc_entry *proc_table__insert(struct proc_table *t, struct proc_info *info, int *err);
void proc_table__mark_exited(struct proc_table *t, struct proc_entry *e, uint64_t now_boot_ns);
/* Drops exited entries older than grace_ns. */
void proc_table__expire(struct proc_table *t, uint64_t now_boot_ns, uint64_t grace_ns);
uint32_t proc_table__count(const struct proc_table *t);
/* Calls cb for every entry (no insert/remove from cb). */
void proc_table__foreach(struct proc_table *t, void (*cb)(struct proc_entry *e, void *arg), void *arg);

#endif
