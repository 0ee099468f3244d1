#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/proc_table.h"

struct proc_table {
	struct proc_entry **buckets;
	uint32_t nbuckets;	/* power of two */
	uint32_t count, max;
	struct proc_entry *xhead, *xtail;	/* exited, oldest first */
};

static uint32_t bucket_of(const struct proc_table *t, uint32_t pid)
{
	return (pid * 2654435761u) & (t->nbuckets - 1);
}

struct proc_table *proc_table__new(uint32_t max_entries)
{
	struct proc_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max_entries;
	t->nbuckets = 64;
	while (t->nbuckets < max_entries && t->nbuckets < (1u << 22))
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	return t;
}

static void entry_free(struct proc_entry *e)
{
	proc_info__clear(&e->info);
	free(e->libs);
	free(e);
}

void proc_table__free(struct proc_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct proc_entry *e = t->buckets[i], *n;

		for (; e; e = n) {
			n = e->hnext;
			entry_free(e);
		}
	}
	free(t->buckets);
	free(t);
}

struct proc_entry *proc_table__lookup(struct proc_table *t, uint32_t pid)
{
	struct proc_entry *e = t->buckets[bucket_of(t, pid)];

	while (e && e->info.pid != pid)
		e = e->hnext;
	return e;
}

static void xlist_unlink(struct proc_table *t, struct proc_entry *e)
{
	if (!e->exited)
		return;
	if (e->xprev)
		e->xprev->xnext = e->xnext;
	else
		t->xhead = e->xnext;
	if (e->xnext)
		e->xnext->xprev = e->xprev;
	else
		t->xtail = e->xprev;
	e->xprev = e->xnext = NULL;
}

static void remove_entry(struct proc_table *t, struct proc_entry *e)
{
	struct proc_entry **pp = &t->buckets[bucket_of(t, e->info.pid)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	xlist_unlink(t, e);
	t->count--;
	entry_free(e);
}

struct proc_entry *proc_table__insert(struct proc_table *t, struct proc_info *info, int *err)
{
	struct proc_entry *e = proc_table__lookup(t, info->pid);

	if (e) {
		xlist_unlink(t, e);
		proc_info__clear(&e->info);
		free(e->libs);
		memset(e, 0, offsetof(struct proc_entry, hnext));
		e->xprev = e->xnext = NULL;
	} else {
		if (t->count >= t->max) {
			if (!t->xhead) {
				*err = -ENOSPC;
				return NULL;
			}
			remove_entry(t, t->xhead);
		}
		e = calloc(1, sizeof(*e));
		if (!e) {
			*err = -ENOMEM;
			return NULL;
		}
		uint32_t b = bucket_of(t, info->pid);

		e->hnext = t->buckets[b];
		t->buckets[b] = e;
		t->count++;
	}
	e->info = *info;
	memset(info, 0, sizeof(*info));
	*err = 0;
	return e;
}

void proc_table__mark_exited(struct proc_table *t, struct proc_entry *e, uint64_t now_boot_ns)
{
	if (e->exited)
		return;
	e->exited = true;
	e->exit_boot_ns = now_boot_ns;
	e->xnext = NULL;
	e->xprev = t->xtail;
	if (t->xtail)
		t->xtail->xnext = e;
	else
		t->xhead = e;
	t->xtail = e;
}

void proc_table__expire(struct proc_table *t, uint64_t now_boot_ns, uint64_t grace_ns)
{
	while (t->xhead && t->xhead->exit_boot_ns + grace_ns <= now_boot_ns)
		remove_entry(t, t->xhead);
}

uint32_t proc_table__count(const struct proc_table *t)
{
	return t->count;
}

void proc_table__foreach(struct proc_table *t, void (*cb)(struct proc_entry *e, void *arg), void *arg)
{
	for (uint32_t i = 0; i < t->nbuckets; i++)
		for (struct proc_entry *e = t->buckets[i]; e; e = e->hnext)
			cb(e, arg);
}
