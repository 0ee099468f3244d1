/* The pipeline: process table, enrichment, controls, serialization, sinks. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ship/blocks.h"
#include "agent/pipeline.h"
#include "enrich/container.h"
#include "enrich/hash.h"
#include "enrich/packages.h"
#include "enrich/redact.h"
#include "enrich/users.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "model/proc_table.h"
#include "output/host.h"
#include "output/json.h"
#include "output/sink.h"
#include "sources/procfs.h"

#define LINE_CAP (1u << 20)		/* one serialized event */
#define EXIT_GRACE_NS (5ull * 1000000000)	/* exited entries stay as parents */
/* A fork is reported as "Process Created (fork)" only when no exec follows
 * within this window: fork+exec is one process start, not two. */
#define FORK_EXEC_WINDOW_NS (100ull * 1000000)
#define MAX_PENDING_FORKS 65536
#define MAX_DROP_REASONS 48	/* the sources', the sinks' and the shipper's reasons */
#define LIMIT_REPORT_NS (60ull * 1000000000)

struct drop_counter {
	const char *reason;
	uint64_t unreported;
	uint64_t total;
};

struct pending_fork {
	uint32_t pid;
	uint64_t start_boot_ns;	/* identifies this incarnation of pid */
	uint64_t deadline;
};

struct pipeline {
	const struct vigil_config *cfg;
	struct output_ctx *octx;
	struct sink **sinks;
	unsigned nsinks;
	struct proc_table *procs;
	struct hasher *hasher;
	struct users *users;
	struct buf line;
	struct buf block;	/* scratch for cache_block */
	struct watch_fd *watch_fds;	/* WATCH_FDS_MAX slots */
	struct packages *pkgs;		/* the host's dpkg database, NULL if unusable */
	uint32_t self_mntns;
	uint32_t nwatch_fds;
	uint32_t self_pid;

	struct pending_fork *pending;	/* FIFO ring, deadlines ascending */
	uint32_t pend_head, pend_count;

	struct drop_counter drops[MAX_DROP_REASONS];
	unsigned ndrops;
	uint64_t last_drop_report_ns;

	uint64_t limit_unreported;
	uint64_t limit_last_report_ns;
	uint64_t events_written;
};

uint64_t pipeline__now_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t boot_to_real_offset(void)
{
	struct timespec r, b;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b);
	return ((int64_t)r.tv_sec - (int64_t)b.tv_sec) * 1000000000ll +
	       ((int64_t)r.tv_nsec - (int64_t)b.tv_nsec);
}

uint64_t pipeline__boot_to_real(const struct pipeline *pl, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + pl->octx->boot_to_real_ns);
}

static void emit(struct pipeline *pl, struct event *ev)
{
	struct line_blocks bl;
	int err;

	buf__reset(&pl->line);
	err = json__write_event_blocks(&pl->line, ev, pl->octx, &bl);
	if (err) {
		pipeline__count_drop(pl, err == -E2BIG ? "event_too_large" : "serialize_error", 1);
		return;
	}
	for (unsigned i = 0; i < pl->nsinks; i++) {
		struct sink *s = pl->sinks[i];

		if (s->ops->write_blocks)
			s->ops->write_blocks(s, pl->line.data, pl->line.len, &bl);
		else
			s->ops->write(s, pl->line.data, pl->line.len);
	}
	pl->events_written++;
}

void pipeline__system(struct pipeline *pl, struct event *ev)
{
	const struct event_type_info *ti = event_type__info(ev->type);

	if (!ev->time_ns)
		ev->time_ns = pipeline__boot_to_real(pl, pipeline__now_boot_ns());
	if (ti && ti->severity == SEV_INFO)
		log_info("%s: %s", ti->name, ev->message ? ev->message : "");
	else
		log_warnx("%s: %s", ti ? ti->name : "?", ev->message ? ev->message : "");
	emit(pl, ev);
}

void pipeline__count_drop(struct pipeline *pl, const char *reason, uint64_t n)
{
	unsigned i;

	for (i = 0; i < pl->ndrops; i++)
		if (strcmp(pl->drops[i].reason, reason) == 0)
			break;
	if (i == pl->ndrops) {
		if (pl->ndrops == MAX_DROP_REASONS)
			i = MAX_DROP_REASONS - 1;	/* lumped with the last reason */
		else
			pl->drops[pl->ndrops++].reason = reason;
	}
	pl->drops[i].unreported += n;
	pl->drops[i].total += n;
}

static void report_drops(struct pipeline *pl)
{
	for (unsigned i = 0; i < pl->ndrops; i++) {
		struct drop_counter *d = &pl->drops[i];
		struct event ev = { .type = SYS_EVENTS_DROPPED };
		char msg[160];

		if (!d->unreported)
			continue;
		snprintf(msg, sizeof(msg), "%llu events lost (%s), %llu since start",
			 (unsigned long long)d->unreported, d->reason, (unsigned long long)d->total);
		ev.message = msg;
		event__kv_str(&ev, "reason", d->reason);
		event__kv_num(&ev, "dropped", (int64_t)d->unreported);
		event__kv_num(&ev, "dropped_total", (int64_t)d->total);
		d->unreported = 0;
		pipeline__system(pl, &ev);
	}
}

static void note_limit(struct pipeline *pl)
{
	pl->limit_unreported++;
}

static void report_limit(struct pipeline *pl, uint64_t now)
{
	struct event ev = { .type = SYS_PROCESS_LIMIT_REACHED };
	char msg[160];

	if (!pl->limit_unreported ||
	    (pl->limit_last_report_ns && now - pl->limit_last_report_ns < LIMIT_REPORT_NS))
		return;
	snprintf(msg, sizeof(msg),
		 "process table full (limits.max_processes=%u): %llu processes not tracked",
		 pl->cfg->max_processes, (unsigned long long)pl->limit_unreported);
	ev.message = msg;
	event__kv_num(&ev, "max_processes", pl->cfg->max_processes);
	event__kv_num(&ev, "untracked", (int64_t)pl->limit_unreported);
	pl->limit_unreported = 0;
	pl->limit_last_report_ns = now;
	pipeline__system(pl, &ev);
}

static bool is_excluded(const struct pipeline *pl, const struct proc_info *p)
{
	const struct vigil_config *c = pl->cfg;

	if (p->pid == pl->self_pid)
		return true;
	for (unsigned i = 0; i < c->exclude_process_names.count; i++)
		if (strncmp(p->comm, c->exclude_process_names.items[i], PROC_COMM_LEN - 1) == 0)
			return true;
	if (p->exe)
		for (unsigned i = 0; i < c->exclude_process_paths.count; i++)
			if (fnmatch(c->exclude_process_paths.items[i], p->exe, 0) == 0)
				return true;
	return false;
}

/* Enrichment of a freshly exec'd (or snapshotted) process. */
static void enrich(struct pipeline *pl, struct proc_info *p)
{
	const char *runtime = NULL;

	if (p->cgroup && container__parse_cgroup(p->cgroup, p->container_id, &runtime) == 1)
		p->container_runtime = runtime;
	users__resolve(pl->users, p);
	if (p->env) {
		char *red = NULL;
		uint32_t rlen = 0;

		if (redact__env(p->env, p->env_len, &pl->cfg->secret_env_patterns, &red, &rlen) >= 0) {
			free(p->env);
			p->env = red;
			p->env_len = rlen;
		} else {
			/* Never ship an environment we could not redact. */
			free(p->env);
			p->env = NULL;
			p->env_len = 0;
		}
	}
	if (p->args) {
		char *red = NULL;
		uint32_t rlen = 0;

		if (redact__args(p->args, p->args_len, &pl->cfg->secret_env_patterns, &red,
				 &rlen) >= 0) {
			free(p->args);
			p->args = red;
			p->args_len = rlen;
		}
	}
	if (pl->hasher)
		hasher__lookup(pl->hasher, p, &p->hash);
	else
		p->hash.status = HASH_NONE;
}

/* Serializes a table entry's block once; later events copy it. */
static void cache_block(struct pipeline *pl, struct proc_info *p)
{
	if (p->json_block)
		return;
	buf__reset(&pl->block);
	if (json__write_proc(&pl->block, p, pl->octx->boot_to_real_ns))
		return;	/* written in full by the event itself, where it counts */
	p->json_block = malloc(pl->block.len);
	if (!p->json_block)
		return;
	memcpy(p->json_block, pl->block.data, pl->block.len);
	p->json_block_len = (uint32_t)pl->block.len;
}

/* A large executable is hashed by the worker; the next event that shows the
 * process picks up the result from the hasher's cache. */
static void refresh_hash(struct pipeline *pl, struct proc_info *p)
{
	if (pl->hasher && p->hash.status == HASH_PENDING) {
		hasher__lookup(pl->hasher, p, &p->hash);
		if (p->hash.status != HASH_PENDING)
			proc_info__touch(p);
	}
}

static const struct proc_info *parent_of(struct pipeline *pl, const struct proc_info *p)
{
	struct proc_entry *pe = p->ppid ? proc_table__lookup(pl->procs, p->ppid) : NULL;

	if (!pe)
		return NULL;
	refresh_hash(pl, &pe->info);
	cache_block(pl, &pe->info);
	return &pe->info;
}

/* The process block of an event: the table entry, made ready for output, or
 * for a process the table does not know, its ids alone with everything else
 * unknown (never uid 0: that would claim root). */
static struct proc_info *event_proc(struct pipeline *pl, struct proc_entry *e, uint32_t pid,
				   uint32_t tid, struct proc_info *unknown)
{
	if (e) {
		refresh_hash(pl, &e->info);
		cache_block(pl, &e->info);
		return &e->info;
	}
	*unknown = (struct proc_info){ .pid = pid, .tid = tid };
	unknown->uid = unknown->gid = unknown->euid = unknown->egid = PROC_ID_UNSET;
	unknown->auid = PROC_ID_UNSET;
	return unknown;
}

static void emit_process_created(struct pipeline *pl, const struct proc_info *p, uint64_t boot_ns)
{
	struct event ev = {
		.type = EVT_PROCESS_CREATED,
		.time_ns = pipeline__boot_to_real(pl, boot_ns),
		.proc = p,
		.parent = parent_of(pl, p),
	};

	emit(pl, &ev);
}

static void emit_pending_fork(struct pipeline *pl, struct proc_entry *e)
{
	e->fork_pending = false;
	cache_block(pl, &e->info);
	if (pl->cfg->ev_process && pl->cfg->ev_fork_without_exec && !e->excluded)
		emit_process_created(pl, &e->info, e->fork_time_boot_ns);
}

static void queue_pending_fork(struct pipeline *pl, struct proc_entry *e, uint64_t now)
{
	struct pending_fork *pf;

	if (pl->pend_count == MAX_PENDING_FORKS) {
		emit_pending_fork(pl, e);
		return;
	}
	pf = &pl->pending[(pl->pend_head + pl->pend_count) % MAX_PENDING_FORKS];
	pf->pid = e->info.pid;
	pf->start_boot_ns = e->info.start_boot_ns;
	pf->deadline = now + FORK_EXEC_WINDOW_NS;
	pl->pend_count++;
	e->fork_pending = true;
	e->fork_time_boot_ns = now;
}

/* Emits the held-back forks whose window passed (all of them when all). */
static void flush_pending_forks(struct pipeline *pl, uint64_t now, bool all)
{
	while (pl->pend_count) {
		struct pending_fork *pf = &pl->pending[pl->pend_head];
		struct proc_entry *e;

		if (!all && pf->deadline > now)
			break;
		e = proc_table__lookup(pl->procs, pf->pid);
		if (e && e->fork_pending && e->info.start_boot_ns == pf->start_boot_ns)
			emit_pending_fork(pl, e);
		pl->pend_head = (pl->pend_head + 1) % MAX_PENDING_FORKS;
		pl->pend_count--;
	}
}

static void check_fileless(struct pipeline *pl, struct proc_entry *e, uint64_t time_boot_ns);

void pipeline__on_exec(struct pipeline *pl, struct proc_info *info, uint64_t time_boot_ns)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, info->pid);
	struct proc_info local;
	int err;

	if (e) {
		/* What this source could not see survives from before the exec. */
		if (!info->ppid)
			info->ppid = e->info.ppid;
		if (!info->start_boot_ns)
			info->start_boot_ns = e->info.start_boot_ns;
		/* The process connector reports PROC_ID_UNSET when /proc was gone
		 * before it looked. exec keeps the real and login ids; the effective
		 * ones (setuid binaries) and the image (comm, cwd, exe) stay
		 * unknown rather than borrowed from the old image. */
		if (info->uid == PROC_ID_UNSET)
			info->uid = e->info.uid;
		if (info->gid == PROC_ID_UNSET)
			info->gid = e->info.gid;
		if (info->auid == PROC_ID_UNSET)
			info->auid = e->info.auid;
		if (e->fork_pending)
			e->fork_pending = false;	/* fork+exec: one start */
	}
	if (!info->tid)
		info->tid = info->pid;
	enrich(pl, info);
	bool excluded = is_excluded(pl, info);

	local = *info;
	e = proc_table__insert(pl->procs, info, &err);
	if (!e) {
		if (err == -ENOSPC)
			note_limit(pl);
		else
			pipeline__count_drop(pl, "out_of_memory", 1);
		/* Still report the exec from the copy we hold. */
		if (!excluded && pl->cfg->ev_process)
			emit_process_created(pl, &local, time_boot_ns);
		proc_info__clear(info);
		return;
	}
	e->excluded = excluded;
	if (!excluded && pl->cfg->ev_process) {
		cache_block(pl, &e->info);
		emit_process_created(pl, &e->info, time_boot_ns);
	}
	if (!excluded)
		check_fileless(pl, e, time_boot_ns);
}

void pipeline__on_exec_excluded(struct pipeline *pl, uint32_t pid)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, pid);
	struct proc_info p = { .pid = pid, .tid = pid };
	int err;

	if (!e) {
		e = proc_table__insert(pl->procs, &p, &err);
		if (!e)
			return;
	}
	/* Its held-back fork was the start of an excluded program: never sent. */
	e->fork_pending = false;
	e->excluded = true;
}

static void inherit_from_parent(struct proc_info *child, const struct proc_info *parent)
{
	struct proc_info tmp;

	if (proc_info__copy(&tmp, parent))
		return;
	/* Take the parent's image (exe, args, cwd, hashes, cgroup, names) and
	 * keep what the kernel told us about the child itself. */
	tmp.pid = child->pid;
	tmp.tid = child->tid;
	tmp.ppid = child->ppid;
	if (child->comm[0])
		memcpy(tmp.comm, child->comm, sizeof(tmp.comm));
	/* Credentials are copied at fork; PROC_ID_UNSET means the source could
	 * not read them, so the parent's stand. */
	if (child->uid != PROC_ID_UNSET)
		tmp.uid = child->uid;
	if (child->gid != PROC_ID_UNSET)
		tmp.gid = child->gid;
	if (child->euid != PROC_ID_UNSET)
		tmp.euid = child->euid;
	if (child->egid != PROC_ID_UNSET)
		tmp.egid = child->egid;
	if (child->auid != PROC_ID_UNSET)
		tmp.auid = child->auid;
	tmp.start_boot_ns = child->start_boot_ns;
	tmp.exec_boot_ns = child->exec_boot_ns ? child->exec_boot_ns : child->start_boot_ns;
	tmp.self_exec_id = child->self_exec_id;
	if (child->pidns)
		tmp.pidns = child->pidns, tmp.mntns = child->mntns, tmp.netns = child->netns;
	if (child->cgroup_id)
		tmp.cgroup_id = child->cgroup_id;
	tmp.origin = PROC_ORIGIN_FORK;
	proc_info__clear(child);
	*child = tmp;
}

void pipeline__on_fork(struct pipeline *pl, struct proc_info *child, bool is_thread,
		       uint64_t time_boot_ns)
{
	struct proc_entry *e;
	int err;

	if (is_thread) {
		e = proc_table__lookup(pl->procs, child->pid);
		if (e) {
			e->threads++;
			refresh_hash(pl, &e->info);
			cache_block(pl, &e->info);
		}
		if (pl->cfg->ev_thread && !(e && e->excluded) && child->pid != pl->self_pid) {
			struct event ev = {
				.type = EVT_THREAD_CREATED,
				.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
				.proc = e ? &e->info : child,
				.thread_id = child->tid,
				.thread_self_exec_id = child->self_exec_id,
			};

			ev.parent = parent_of(pl, ev.proc);
			emit(pl, &ev);
		}
		return;
	}
	struct proc_entry *pe = proc_table__lookup(pl->procs, child->ppid);
	bool parent_excluded = false;

	if (pe) {
		parent_excluded = pe->excluded && pe->info.pid == pl->self_pid;
		inherit_from_parent(child, &pe->info);
	} else {
		enrich(pl, child);
	}
	if (!child->tid)
		child->tid = child->pid;
	bool excluded = parent_excluded || is_excluded(pl, child);

	e = proc_table__insert(pl->procs, child, &err);
	if (!e) {
		if (err == -ENOSPC)
			note_limit(pl);
		proc_info__clear(child);
		return;
	}
	e->excluded = excluded;
	queue_pending_fork(pl, e, time_boot_ns);
}

static void split_status(uint32_t status, struct event *ev)
{
	int sig = status & 0x7f;

	if (sig) {
		ev->exit_signal = sig;
		ev->core_dumped = (status & 0x80) != 0;
		ev->exit_code = 128 + sig;	/* what a shell would report */
	} else {
		ev->exit_code = (status >> 8) & 0xff;
	}
}

void pipeline__on_exit(struct pipeline *pl, uint32_t pid, uint32_t tid, bool group_dead,
		       uint32_t exit_status, uint64_t time_boot_ns)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, pid);
	struct proc_info unknown;
	const struct proc_info *p = event_proc(pl, e, pid, tid, &unknown);
	bool excluded = e ? e->excluded : pid == pl->self_pid;

	/* A source that cannot tell the group's end exactly (the process
	 * connector) may report it again with a later thread's exit. */
	bool already_ended = e && e->exited;

	if (e && e->fork_pending)
		emit_pending_fork(pl, e);
	if ((tid != pid || !group_dead) && pl->cfg->ev_thread && !excluded) {
		struct event ev = {
			.type = EVT_THREAD_TERMINATED,
			.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
			.proc = p,
			.parent = parent_of(pl, p),
			.thread_id = tid,
			.thread_self_exec_id = p->self_exec_id,
		};

		split_status(exit_status, &ev);
		emit(pl, &ev);
	}
	if (!group_dead || already_ended)
		return;
	if (pl->cfg->ev_process && !excluded) {
		struct event ev = {
			.type = EVT_PROCESS_TERMINATED,
			.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
			.proc = p,
			.parent = parent_of(pl, p),
		};

		split_status(exit_status, &ev);
		emit(pl, &ev);
	}
	if (e)
		proc_table__mark_exited(pl->procs, e, time_boot_ns);
}

static enum event_type file_event_type(const struct file_op *op)
{
	switch (op->kind) {
	case FILE_OP_OPEN: return op->created ? EVT_FILE_CREATED : EVT_FILE_OPENED;
	case FILE_OP_UNLINK: return EVT_FILE_DELETED;
	case FILE_OP_RMDIR: return EVT_DIRECTORY_DELETED;
	case FILE_OP_RENAME: return EVT_FILE_RENAMED;
	case FILE_OP_TRUNCATE: return EVT_FILE_TRUNCATED;
	case FILE_OP_CHMOD: return EVT_FILE_PERMISSIONS_CHANGED;
	case FILE_OP_CHOWN: return EVT_FILE_OWNER_CHANGED;
	case FILE_OP_LINK: return EVT_FILE_LINK_CREATED;
	case FILE_OP_SYMLINK: return EVT_FILE_SYMLINK_CREATED;
	case FILE_OP_MKDIR: return EVT_DIRECTORY_CREATED;
	case FILE_OP_CLOSE_WRITTEN: return EVT_FILE_CONTENT_CHANGED;
	}
	return EVT_FILE_OPENED;
}

/* (pid, fd) of files under watch_paths opened for writing → their path, so
 * the close can name the file and hash it. Bounded; a full table drops the
 * watch (counted) rather than growing. */
#define WATCH_FDS_MAX 16384

struct watch_fd {
	uint64_t key;		/* pid << 32 | fd; 0 = free */
	char *path;
};

static uint64_t watch_key(uint32_t pid, uint32_t fd)
{
	return ((uint64_t)pid << 32) | fd | (1ull << 63);	/* never 0 */
}

static struct watch_fd *watch_slot(struct pipeline *pl, uint64_t key, bool insert)
{
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 50) & (WATCH_FDS_MAX - 1);

	for (uint32_t n = 0; n < WATCH_FDS_MAX; n++, i = (i + 1) & (WATCH_FDS_MAX - 1)) {
		if (pl->watch_fds[i].key == key)
			return &pl->watch_fds[i];
		if (!pl->watch_fds[i].key)
			return insert ? &pl->watch_fds[i] : NULL;
	}
	return NULL;
}

static void watch_remove(struct pipeline *pl, struct watch_fd *w)
{
	/* backward-shift deletion keeps linear probing chains intact */
	uint32_t i = (uint32_t)(w - pl->watch_fds), j = i;

	free(w->path);
	w->path = NULL;
	w->key = 0;
	for (;;) {
		uint32_t home;

		j = (j + 1) & (WATCH_FDS_MAX - 1);
		if (!pl->watch_fds[j].key)
			break;
		home = (uint32_t)((pl->watch_fds[j].key * 0x9e3779b97f4a7c15ull) >> 50) &
		       (WATCH_FDS_MAX - 1);
		if (((j - home) & (WATCH_FDS_MAX - 1)) >= ((j - i) & (WATCH_FDS_MAX - 1))) {
			pl->watch_fds[i] = pl->watch_fds[j];
			pl->watch_fds[j].key = 0;
			pl->watch_fds[j].path = NULL;
			i = j;
		}
	}
	pl->nwatch_fds--;
}

static bool path_matches(const struct str_list *l, const char *path)
{
	for (unsigned i = 0; path && i < l->count; i++)
		if (fnmatch(l->items[i], path, FNM_LEADING_DIR) == 0)
			return true;
	return false;
}

static void watch_open(struct pipeline *pl, uint32_t pid, const struct file_op *op)
{
	struct watch_fd *w;
	uint64_t key;

	if (op->kind != FILE_OP_OPEN || op->ret < 0 || !(op->flags & 3) || !op->path ||
	    !path_matches(&pl->cfg->watch_paths, op->path))
		return;
	key = watch_key(pid, (uint32_t)op->ret);
	w = pl->nwatch_fds < WATCH_FDS_MAX * 3 / 4 ? watch_slot(pl, key, true) : NULL;
	if (!w) {
		pipeline__count_drop(pl, "content_watch_table_full", 1);
		return;
	}
	if (w->key != key)
		pl->nwatch_fds++;
	free(w->path);
	w->key = key;
	w->path = strdup(op->path);
}

static void emit_library(struct pipeline *pl, struct proc_entry *e, struct proc_info *p,
			 const struct mem_op *op, const char *language, uint64_t time_boot_ns);

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/* The language of the code an interpreter opened, or NULL when the process
 * is not an interpreter (by its executable's name: python, python3.11, java)
 * or the file is not code it loads: an editor opening a .py loads nothing. */
static const char *dependency_language(const char *path, const struct proc_info *p)
{
	static const char *const java[] = { ".jar", ".war", ".ear", ".class", ".zip" };
	static const char *const python[] = { ".py", ".pyc", ".pyz", ".whl", ".egg", ".zip" };
	const char *exe = p->exe ? strrchr(p->exe, '/') : NULL;
	size_t n = strlen(path);

	exe = exe ? exe + 1 : p->comm;
	if (strncmp(exe, "python", 6) == 0) {
		for (size_t i = 0; i < sizeof(python) / sizeof(python[0]); i++)
			if (has_suffix(path, n, python[i]))
				return "python";
	} else if (strcmp(exe, "java") == 0) {
		for (size_t i = 0; i < sizeof(java) / sizeof(java[0]); i++)
			if (has_suffix(path, n, java[i]))
				return "java";
	}
	return NULL;
}

/* Code an interpreter opened (.jar, .py, .pyc, .zip ...): a dependency,
 * like a shared object. */
static void dependency_open(struct pipeline *pl, struct proc_entry *e, const struct file_op *op,
			    uint64_t time_boot_ns)
{
	const char *lang;
	struct mem_op m = { 0 };

	if (!e || !pl->cfg->ev_library || op->kind != FILE_OP_OPEN || op->ret < 0 || !op->path ||
	    !op->ino)
		return;
	lang = dependency_language(op->path, &e->info);
	if (!lang)
		return;
	m.kind = MEM_OP_MMAP_EXEC;
	m.path = op->path;
	m.dev = op->dev;
	m.ino = op->ino;
	emit_library(pl, e, &e->info, &m, lang, time_boot_ns);
}

void pipeline__on_file(struct pipeline *pl, uint32_t pid, uint32_t tid, const struct file_op *op,
		       uint64_t time_boot_ns)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, pid);
	struct proc_info unknown;
	struct event ev = {
		.type = file_event_type(op),
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.file = op,
	};

	struct file_op closed;
	struct proc_hashes hash;
	struct watch_fd *w = NULL;

	if (pid == pl->self_pid || (e && e->excluded))
		return;
	if (op->kind == FILE_OP_CLOSE_WRITTEN) {
		w = watch_slot(pl, watch_key(pid, (uint32_t)op->flags), false);
		if (!w)
			return;	/* not under watch_paths */
		closed = *op;
		closed.path = w->path;
		ev.file = &closed;
	} else {
		watch_open(pl, pid, op);
		dependency_open(pl, e, op, time_boot_ns);
	}
	if (!pl->cfg->ev_file || path_matches(&pl->cfg->exclude_paths, ev.file->path) ||
	    path_matches(&pl->cfg->exclude_paths, ev.file->path2))
		goto out;
	if (w) {
		/* hashed only when the event is going out */
		memset(&hash, 0, sizeof(hash));
		if (pl->hasher)
			hasher__lookup_path(pl->hasher, w->path, &hash);
		closed.hash = &hash;
	}
	ev.proc = event_proc(pl, e, pid, tid, &unknown);
	ev.parent = parent_of(pl, ev.proc);
	emit(pl, &ev);
out:
	if (w)
		watch_remove(pl, w);
}

void pipeline__on_identity(struct pipeline *pl, uint32_t pid, uint32_t tid,
			   struct identity_op *op, uint64_t time_boot_ns)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, pid);
	struct proc_info unknown;
	struct event ev = {
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.identity = op,
	};
	bool changed = true;

	if (pid == pl->self_pid || (e && e->excluded))
		return;
	if (e && op->kind == IDENTITY_USER) {
		op->from.real = e->info.uid;
		op->from.effective = e->info.euid;
		changed = op->from.real != op->to.real || op->from.effective != op->to.effective;
	} else if (e && op->kind == IDENTITY_GROUP) {
		op->from.real = e->info.gid;
		op->from.effective = e->info.egid;
		changed = op->from.real != op->to.real || op->from.effective != op->to.effective;
	}
	/* saved and fs ids are not tracked: a change of only those still counts */
	if (op->from.fs != PROC_ID_UNSET && op->from.fs != op->to.fs)
		changed = true;
	if (op->kind == IDENTITY_CAPABILITIES)
		changed = true;
	if (op->ret == 0 && !changed)
		return;
	if (e && op->ret == 0) {
		if (op->kind == IDENTITY_USER) {
			e->info.uid = op->to.real;
			e->info.euid = op->to.effective;
		} else if (op->kind == IDENTITY_GROUP) {
			e->info.gid = op->to.real;
			e->info.egid = op->to.effective;
		}
		users__resolve(pl->users, &e->info);
		proc_info__touch(&e->info);
	}
	if (!pl->cfg->ev_identity)
		return;
	ev.type = op->ret == 0 ? EVT_IDENTITY_CHANGED : EVT_IDENTITY_CHANGE_FAILED;
	ev.proc = event_proc(pl, e, pid, tid, &unknown);
	ev.parent = parent_of(pl, ev.proc);
	emit(pl, &ev);
}

#define LIBS_PER_PROCESS_MAX 4096

/* Whether this image already reported the library; records it if not.
 * Past the cap every library counts as new (reported again, never lost). */
static bool library_seen(struct proc_entry *e, uint32_t dev, uint64_t ino)
{
	uint64_t key = ((uint64_t)dev << 40) ^ ino;

	for (uint32_t i = 0; i < e->nlibs; i++)
		if (e->libs[i] == key)
			return true;
	if (e->nlibs == e->libs_cap) {
		uint32_t cap = e->libs_cap ? e->libs_cap * 2 : 16;
		uint64_t *n;

		if (cap > LIBS_PER_PROCESS_MAX)
			return false;
		n = realloc(e->libs, cap * sizeof(*n));
		if (!n)
			return false;
		e->libs = n;
		e->libs_cap = cap;
	}
	e->libs[e->nlibs++] = key;
	return false;
}

static void emit_library(struct pipeline *pl, struct proc_entry *e, struct proc_info *p,
			 const struct mem_op *op, const char *language, uint64_t time_boot_ns)
{
	struct library_op lib = {
		.path = op->path,
		.language = language,
		.addr = op->ret >= 0 ? (uint64_t)op->ret : 0,
		.dev = op->dev,
		.ino = op->ino,
	};
	struct event ev = {
		.type = EVT_LIBRARY_LOADED,
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.library = &lib,
		.proc = p,
	};

	if (op->ret < 0 || !op->ino || (e && library_seen(e, op->dev, op->ino)))
		return;
	if (pl->hasher) {
		/* the file version the kernel mapped answers from the cache */
		struct proc_info f = {
			.pid = p->pid,
			.mntns = p->mntns,
			.exe = (char *)op->path,
			.exe_dev = op->dev,
			.exe_ino = op->ino,
			.exe_size = op->size,
			.exe_mtime_ns = op->mtime_ns,
			.exe_ctime_ns = op->ctime_ns,
			.exe_stat_known = true,
		};

		hasher__lookup(pl->hasher, &f, &lib.hash);
	}
	/* Package owner: the host's dpkg database answers for processes in the
	 * agent's mount namespace; a container's files are its own image's. */
	char pkg[128], ver[128];
	const char *pn, *pv;

	if (pl->pkgs && p->mntns && p->mntns == pl->self_mntns && op->path &&
	    packages__owner(pl->pkgs, op->path, &pn, &pv) == 0) {
		/* copied: the next lookup may reload and free them */
		snprintf(pkg, sizeof(pkg), "%s", pn);
		snprintf(ver, sizeof(ver), "%s", pv);
		lib.package = pkg;
		lib.package_version = ver[0] ? ver : NULL;
	}
	ev.parent = parent_of(pl, p);
	emit(pl, &ev);
}

/* At most one event per process and kind per interval; the next one says
 * how many were suppressed. */
static bool memory_rate_ok(struct pipeline *pl, struct proc_entry *e, unsigned kind,
			   uint64_t now, uint32_t *suppressed)
{
	uint64_t iv = (uint64_t)pl->cfg->memory_event_interval_ms * 1000000;

	if (!e || kind >= 4 || !iv)
		return true;
	if (e->mem_last_ns[kind] && now - e->mem_last_ns[kind] < iv) {
		e->mem_suppressed[kind]++;
		return false;
	}
	*suppressed = e->mem_suppressed[kind];
	e->mem_suppressed[kind] = 0;
	e->mem_last_ns[kind] = now;
	return true;
}

void pipeline__on_memory(struct pipeline *pl, uint32_t pid, uint32_t tid, struct mem_op *op,
			 uint64_t time_boot_ns)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, pid);
	struct proc_info unknown, *p;
	struct event ev = {
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.mem = op,
	};
	unsigned kind;

	if (pid == pl->self_pid || (e && e->excluded))
		return;
	p = event_proc(pl, e, pid, tid, &unknown);
	if (op->kind == MEM_OP_MMAP_EXEC && !op->anonymous) {
		if (pl->cfg->ev_library)
			emit_library(pl, e, p, op, "native", time_boot_ns);
		return;
	}
	if (!pl->cfg->ev_memory)
		return;
	switch (op->kind) {
	case MEM_OP_MMAP_EXEC: ev.type = EVT_MEM_EXEC_ANON_MAPPED; kind = 0; break;
	case MEM_OP_MPROTECT_EXEC: ev.type = EVT_MEM_EXEC_PERMISSION_ADDED; kind = 1; break;
	case MEM_OP_MEMFD: ev.type = EVT_MEM_MEMFD_CREATED; kind = 2; break;
	case MEM_OP_MPROTECT_NOEXEC: ev.type = EVT_MEM_EXEC_PERMISSION_REMOVED; kind = 3; break;
	default: return;
	}
	if (!memory_rate_ok(pl, e, kind, time_boot_ns, &op->suppressed))
		return;
	ev.proc = p;
	ev.parent = parent_of(pl, p);
	emit(pl, &ev);
}

static enum event_type net_event_type(const struct net_op *op)
{
	switch (op->kind) {
	case NET_OP_BIND: return EVT_NET_BIND;
	case NET_OP_LISTEN: return EVT_NET_LISTEN;
	case NET_OP_CONNECT: return EVT_NET_CONNECT;
	case NET_OP_ACCEPT: return EVT_NET_ACCEPT;
	case NET_OP_TCP_CREATED: return EVT_NET_CONNECTION_CREATED;
	case NET_OP_TCP_TERMINATED: return EVT_NET_CONNECTION_TERMINATED;
	case NET_OP_TCP_STATE: return EVT_NET_TCP_STATE_CHANGE;
	}
	return EVT_NET_CONNECT;
}

/* The process block of a network or DNS event. A connection's owner may be
 * unknown (pid 0) or gone from the table: its ids are then unknown, not
 * root's. Returns NULL when the process is excluded. */
static const struct proc_info *net_proc(struct pipeline *pl, uint32_t pid, uint32_t tid,
					struct proc_info *unknown)
{
	struct proc_entry *e = pid ? proc_table__lookup(pl->procs, pid) : NULL;

	if ((pid && pid == pl->self_pid) || (e && e->excluded))
		return NULL;
	return event_proc(pl, e, pid, tid, unknown);
}

void pipeline__on_net(struct pipeline *pl, uint32_t pid, uint32_t tid, const struct net_op *op,
		      uint64_t time_boot_ns)
{
	struct proc_info unknown;
	struct event ev = {
		.type = net_event_type(op),
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.net = op,
	};

	if (!pl->cfg->ev_network ||
	    (op->kind == NET_OP_TCP_STATE && !pl->cfg->ev_tcp_state_changes))
		return;
	ev.proc = net_proc(pl, pid, tid, &unknown);
	if (!ev.proc)
		return;
	ev.parent = parent_of(pl, ev.proc);
	emit(pl, &ev);
}

void pipeline__on_dns(struct pipeline *pl, uint32_t pid, uint32_t tid, const struct dns_op *op,
		      uint64_t time_boot_ns)
{
	struct proc_info unknown;
	struct event ev = {
		.type = op->answer ? EVT_DNS_ANSWER : EVT_DNS_QUERY,
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.dns = op,
	};

	if (!pl->cfg->ev_dns)
		return;
	ev.proc = net_proc(pl, pid, tid, &unknown);
	if (!ev.proc)
		return;
	ev.parent = parent_of(pl, ev.proc);
	emit(pl, &ev);
}

/* An exec of a memfd: a program that never touched the filesystem. */
static void check_fileless(struct pipeline *pl, struct proc_entry *e, uint64_t time_boot_ns)
{
	struct mem_op op = {
		.kind = MEM_OP_MEMFD,
		.syscall = "execve",
		.anonymous = true,
		.fd = -1,
		.path = e->info.exe,
	};
	struct event ev = {
		.type = EVT_MEM_FILELESS_EXEC,
		.time_ns = pipeline__boot_to_real(pl, time_boot_ns),
		.mem = &op,
		.proc = &e->info,
	};

	if (!pl->cfg->ev_memory || !e->info.exe || strncmp(e->info.exe, "/memfd:", 7))
		return;
	ev.parent = parent_of(pl, &e->info);
	emit(pl, &ev);
}

void pipeline__on_creds(struct pipeline *pl, uint32_t pid, uint32_t uid, uint32_t euid,
			uint32_t gid, uint32_t egid)
{
	struct proc_entry *e = proc_table__lookup(pl->procs, pid);

	if (!e)
		return;
	/* PROC_ID_UNSET means "unchanged" (the connector reports uid and gid
	 * changes separately). */
	if (uid != PROC_ID_UNSET)
		e->info.uid = uid;
	if (euid != PROC_ID_UNSET)
		e->info.euid = euid;
	if (gid != PROC_ID_UNSET)
		e->info.gid = gid;
	if (egid != PROC_ID_UNSET)
		e->info.egid = egid;
	users__resolve(pl->users, &e->info);
	proc_info__touch(&e->info);
}

struct pipeline *pipeline__new(const struct vigil_config *cfg, struct output_ctx *octx,
			       struct sink **sinks, unsigned nsinks, char *err, size_t errlen)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	if (!pl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pl->cfg = cfg;
	pl->octx = octx;
	pl->sinks = sinks;
	pl->nsinks = nsinks;
	pl->self_pid = (uint32_t)getpid();
	buf__init(&pl->line, LINE_CAP);
	buf__init(&pl->block, LINE_CAP);
	output_ctx__set_clock(octx, boot_to_real_offset());
	pl->procs = proc_table__new(cfg->max_processes);
	pl->pending = calloc(MAX_PENDING_FORKS, sizeof(*pl->pending));
	pl->watch_fds = calloc(WATCH_FDS_MAX, sizeof(*pl->watch_fds));
	if (!pl->procs || !pl->pending || !pl->watch_fds) {
		snprintf(err, errlen, "out of memory for the process table");
		goto fail;
	}
	pl->users = users__new(64, err, errlen);
	if (!pl->users)
		goto fail;
	{
		struct stat st;
		char perr[256];

		if (stat("/proc/self/ns/mnt", &st) == 0)
			pl->self_mntns = (uint32_t)st.st_ino;
		pl->pkgs = packages__new("/", perr, sizeof(perr));
		if (!pl->pkgs)
			log_warnx("library package owners unavailable: %s", perr);
	}
	return pl;
fail:
	pipeline__free(pl);
	return NULL;
}

int pipeline__start_workers(struct pipeline *pl, char *err, size_t errlen)
{
	const struct vigil_config *cfg = pl->cfg;
	struct hasher_opts ho = {
		.max_file_bytes = cfg->hash_max_file_bytes,
		.inline_max_bytes = cfg->hash_inline_max_bytes,
		.cache_entries = cfg->hash_cache_entries,
		.queue_max = 256,
	};

	if (!cfg->hash_enabled || pl->hasher)
		return 0;
	pl->hasher = hasher__new(&ho, err, errlen);
	return pl->hasher ? 0 : -EINVAL;
}

void pipeline__free(struct pipeline *pl)
{
	if (!pl)
		return;
	hasher__free(pl->hasher);
	packages__free(pl->pkgs);
	users__free(pl->users);
	proc_table__free(pl->procs);
	free(pl->pending);
	if (pl->watch_fds)
		for (uint32_t i = 0; i < WATCH_FDS_MAX; i++)
			free(pl->watch_fds[i].path);
	free(pl->watch_fds);
	buf__free(&pl->line);
	buf__free(&pl->block);
	free(pl);
}

void pipeline__set_config(struct pipeline *pl, const struct vigil_config *cfg)
{
	pl->cfg = cfg;
}

struct seed_ctx {
	struct pipeline *pl;
	struct procfs_opts opts;
	unsigned seeded, failed;
};

static int seed_one(uint32_t pid, void *arg)
{
	struct seed_ctx *sc = arg;
	struct pipeline *pl = sc->pl;
	struct proc_info p = { 0 };
	char err[256];
	int ret;

	if (procfs__read(pid, &p, &sc->opts, err, sizeof(err))) {
		sc->failed++;
		return 0;
	}
	enrich(pl, &p);
	bool excluded = is_excluded(pl, &p);
	struct proc_entry *e = proc_table__insert(pl->procs, &p, &ret);

	if (!e) {
		proc_info__clear(&p);
		if (ret == -ENOSPC)
			note_limit(pl);
		return 0;
	}
	e->excluded = excluded;
	sc->seeded++;
	return 0;
}

int pipeline__seed(struct pipeline *pl, const char *proc_root)
{
	struct seed_ctx sc = {
		.pl = pl,
		.opts = {
			.proc_root = proc_root,
			.max_args_bytes = pl->cfg->max_args_bytes,
			.max_env_bytes = pl->cfg->max_env_bytes,
			.max_path_bytes = pl->cfg->max_path_bytes,
			.want_env = false,
		},
	};
	int ret = procfs__scan(proc_root, seed_one, &sc);

	log_info("process table seeded from %s: %u processes (%u vanished while read)", proc_root,
		 sc.seeded, sc.failed);
	if (pl->pkgs) {
		/* pay for reading the dpkg database now, not on the first library */
		const char *n, *v;

		packages__owner(pl->pkgs, "/bin/sh", &n, &v);
	}
	return ret;
}

void pipeline__tick(struct pipeline *pl)
{
	uint64_t now = pipeline__now_boot_ns();

	output_ctx__set_clock(pl->octx, boot_to_real_offset());
	flush_pending_forks(pl, now, false);
	proc_table__expire(pl->procs, now, EXIT_GRACE_NS);
	if (now - pl->last_drop_report_ns >= (uint64_t)pl->cfg->stats_interval_ms * 1000000) {
		report_drops(pl);
		pl->last_drop_report_ns = now;
	}
	report_limit(pl, now);
	pipeline__flush(pl);
}

void pipeline__flush(struct pipeline *pl)
{
	for (unsigned i = 0; i < pl->nsinks; i++)
		if (pl->sinks[i]->ops->flush)
			pl->sinks[i]->ops->flush(pl->sinks[i]);
}

void pipeline__drain(struct pipeline *pl)
{
	flush_pending_forks(pl, 0, true);
	report_drops(pl);
	pl->limit_last_report_ns = 0;
	report_limit(pl, pipeline__now_boot_ns());
	pipeline__flush(pl);
}

void pipeline__stats(const struct pipeline *pl, struct pipeline_stats *out)
{
	out->events_written = pl->events_written;
	out->drops_total = 0;
	for (unsigned i = 0; i < pl->ndrops; i++)
		out->drops_total += pl->drops[i].total;
	out->processes = proc_table__count(pl->procs);
}
