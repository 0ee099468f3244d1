/* The pipeline between the sources and the sinks: it owns the process table,
 * runs the enrichers, applies the controls, serializes and writes. Sources
 * only report what happened, in source-neutral terms, through these calls.
 * Everything runs on the agent's one event loop thread. */
#ifndef VIGIL_PIPELINE_H
#define VIGIL_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/event.h"
#include "model/proc.h"

struct pipeline;

/* A process (thread group) replaced its image. info holds what the source
 * knows; the pipeline takes ownership of its heap strings and zeroes *info.
 * Fields a source cannot know are left 0/NULL and filled from the table. */
void pipeline__on_exec(struct pipeline *pl, struct proc_info *info, uint64_t time_boot_ns);

/* A process exec'd a program excluded by name (filtered in the kernel, so
 * nothing else is known): none of its events are reported. */
void pipeline__on_exec_excluded(struct pipeline *pl, uint32_t pid);

/* A task was created. For a new process (is_thread false) child holds what
 * the source knows (at least pid, ppid, start_boot_ns); everything missing
 * is inherited from the parent's entry. For a thread, child->pid is the
 * group and child->tid the new thread. Ownership as for on_exec. */
void pipeline__on_fork(struct pipeline *pl, struct proc_info *child, bool is_thread,
		       uint64_t time_boot_ns);

/* A task exited. group_dead: it was the last thread, the process is gone.
 * exit_status is the kernel's wait status (code << 8 | signal | 0x80 core). */
void pipeline__on_exit(struct pipeline *pl, uint32_t pid, uint32_t tid, bool group_dead,
		       uint32_t exit_status, uint64_t time_boot_ns);

/* A file operation by task tid of process pid. */
void pipeline__on_file(struct pipeline *pl, uint32_t pid, uint32_t tid, const struct file_op *op,
		       uint64_t time_boot_ns);

/* An identity change attempt by task tid. The pipeline fills op->from from
 * its table, updates the table, and reports changes and failures (a call
 * that changed nothing, e.g. glibc repeating setuid on every thread, is not
 * an identity change). */
void pipeline__on_identity(struct pipeline *pl, uint32_t pid, uint32_t tid,
			   struct identity_op *op, uint64_t time_boot_ns);

/* A memory operation by task tid: executable mappings (libraries when a
 * file is mapped), exec permission added, memfd created. */
void pipeline__on_memory(struct pipeline *pl, uint32_t pid, uint32_t tid, struct mem_op *op,
			 uint64_t time_boot_ns);

/* A socket operation or TCP connection step. pid 0: the owner is not known
 * (a connection that changed state in softirq context and was never
 * accepted, or that predates the agent); the event says "unknown process". */
void pipeline__on_net(struct pipeline *pl, uint32_t pid, uint32_t tid, const struct net_op *op,
		      uint64_t time_boot_ns);

/* A DNS message sent to or received from port 53 by task tid. */
void pipeline__on_dns(struct pipeline *pl, uint32_t pid, uint32_t tid, const struct dns_op *op,
		      uint64_t time_boot_ns);

/* A process changed credentials (process connector uid/gid events). */
void pipeline__on_creds(struct pipeline *pl, uint32_t pid, uint32_t uid, uint32_t euid,
			uint32_t gid, uint32_t egid);

/* n events lost at the source for reason (static string, e.g.
 * "ringbuf_full"); reported in an "Events Dropped" SYSTEM_ACTIVITY. */
void pipeline__count_drop(struct pipeline *pl, const char *reason, uint64_t n);

/* Emits a SYSTEM_ACTIVITY message (also logged). */
void pipeline__system(struct pipeline *pl, struct event *ev);

/* Converts a CLOCK_BOOTTIME timestamp to CLOCK_REALTIME ns. */
uint64_t pipeline__boot_to_real(const struct pipeline *pl, uint64_t boot_ns);

#endif

/* ---- used by the agent's main loop ---- */
struct output_ctx;
struct sink;
struct vigil_config;

struct pipeline_stats {
	uint64_t events_written;	/* lines handed to the sinks */
	uint64_t drops_total;		/* every counted loss, all reasons */
	uint32_t processes;		/* process table entries */
};

/* Borrowed for the pipeline's life: cfg (until pipeline__set_config), octx,
 * sinks. Returns NULL and fills err on failure. */
struct pipeline *pipeline__new(const struct vigil_config *cfg, struct output_ctx *octx,
			       struct sink **sinks, unsigned nsinks, char *err, size_t errlen);
void pipeline__free(struct pipeline *pl);
/* Starts the worker threads (the hasher). Separate from pipeline__new so the
 * agent can drop privileges first: threads keep the credentials they were
 * started with. */
int pipeline__start_workers(struct pipeline *pl, char *err, size_t errlen);
void pipeline__set_config(struct pipeline *pl, const struct vigil_config *cfg);
/* Fills the process table from /proc (no events): the processes that were
 * running before the agent, so the first events already have parents. */
int pipeline__seed(struct pipeline *pl, const char *proc_root);
/* Periodic work: held-back fork events, table expiry, drop reports, flush. */
void pipeline__tick(struct pipeline *pl);
void pipeline__flush(struct pipeline *pl);
/* Emits everything held back (shutdown). */
void pipeline__drain(struct pipeline *pl);
void pipeline__stats(const struct pipeline *pl, struct pipeline_stats *out);
uint64_t pipeline__now_boot_ns(void);
