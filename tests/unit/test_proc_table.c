/* The process table: bounded, replaces on pid reuse, evicts exited entries
 * first when full, expires exited entries after the grace period. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/proc_table.h"
#include "unit.h"

static struct proc_info mk(uint32_t pid, const char *exe)
{
	struct proc_info p = { .pid = pid, .tid = pid, .ppid = 1 };

	if (exe)
		proc_info__set_str(&p.exe, exe, strlen(exe));
	return p;
}

static void test_insert_lookup_replace(void)
{
	struct proc_table *t = proc_table__new(64);
	struct proc_info p = mk(100, "/bin/a");
	struct proc_entry *e;
	int err = 1;

	e = proc_table__insert(t, &p, &err);
	CHECK(e != NULL);
	CHECK_INT(err, 0);
	CHECK(p.exe == NULL);	/* ownership moved */
	CHECK(proc_table__lookup(t, 100) == e);
	CHECK_STR(e->info.exe, "/bin/a");
	CHECK(proc_table__lookup(t, 101) == NULL);

	/* pid reuse replaces the entry in place, and clears its state */
	e->exited = false;
	e->excluded = true;
	p = mk(100, "/bin/b");
	struct proc_entry *e2 = proc_table__insert(t, &p, &err);

	CHECK(e2 == e);
	CHECK_STR(e2->info.exe, "/bin/b");
	CHECK(!e2->excluded);
	CHECK_INT(proc_table__count(t), 1);
	proc_table__free(t);
}

static void test_full_evicts_exited_first(void)
{
	struct proc_table *t = proc_table__new(64);
	struct proc_info p;
	int err;

	for (uint32_t pid = 1; pid <= 64; pid++) {
		p = mk(pid, "/bin/x");
		CHECK(proc_table__insert(t, &p, &err) != NULL);
	}
	CHECK_INT(proc_table__count(t), 64);
	p = mk(1000, "/bin/full");
	CHECK(proc_table__insert(t, &p, &err) == NULL);
	CHECK_INT(err, -ENOSPC);
	CHECK_STR(p.exe, "/bin/full");	/* untouched on failure */
	proc_info__clear(&p);

	/* exit two; the oldest exited goes first */
	proc_table__mark_exited(t, proc_table__lookup(t, 10), 100);
	proc_table__mark_exited(t, proc_table__lookup(t, 20), 200);
	p = mk(1001, "/bin/new");
	CHECK(proc_table__insert(t, &p, &err) != NULL);
	CHECK(proc_table__lookup(t, 10) == NULL);
	CHECK(proc_table__lookup(t, 20) != NULL);
	CHECK(proc_table__lookup(t, 1001) != NULL);
	CHECK_INT(proc_table__count(t), 64);
	proc_table__free(t);
}

static void test_expire(void)
{
	struct proc_table *t = proc_table__new(64);
	struct proc_info p;
	int err;

	for (uint32_t pid = 1; pid <= 5; pid++) {
		p = mk(pid, NULL);
		proc_table__insert(t, &p, &err);
	}
	proc_table__mark_exited(t, proc_table__lookup(t, 1), 1000);
	proc_table__mark_exited(t, proc_table__lookup(t, 2), 2000);
	proc_table__mark_exited(t, proc_table__lookup(t, 2), 9000);	/* no double insert */
	proc_table__expire(t, 2500, 1000);
	CHECK(proc_table__lookup(t, 1) == NULL);
	CHECK(proc_table__lookup(t, 2) != NULL);
	proc_table__expire(t, 3000, 1000);
	CHECK(proc_table__lookup(t, 2) == NULL);
	CHECK_INT(proc_table__count(t), 3);

	/* a pid reused after exit leaves the exited list */
	proc_table__mark_exited(t, proc_table__lookup(t, 3), 100);
	p = mk(3, "/bin/again");
	proc_table__insert(t, &p, &err);
	proc_table__expire(t, 1000000, 1);
	CHECK(proc_table__lookup(t, 3) != NULL);
	CHECK(!proc_table__lookup(t, 3)->exited);
	proc_table__free(t);
}

static void count_cb(struct proc_entry *e, void *arg)
{
	(void)e;
	(*(unsigned *)arg)++;
}

static void test_many_and_foreach(void)
{
	struct proc_table *t = proc_table__new(100000);
	unsigned n = 0;
	int err;

	for (uint32_t pid = 1; pid <= 100000; pid++) {
		struct proc_info p = mk(pid * 7919u, NULL);

		if (!proc_table__insert(t, &p, &err))
			break;
	}
	CHECK_INT(proc_table__count(t), 100000);
	proc_table__foreach(t, count_cb, &n);
	CHECK_INT(n, 100000);
	CHECK(proc_table__lookup(t, 5000 * 7919u) != NULL);
	proc_table__free(t);
	proc_table__free(NULL);
}

int main(void)
{
	test_insert_lookup_replace();
	test_full_evicts_exited_first();
	test_expire();
	test_many_and_foreach();
	return unit_report("proc_table");
}
