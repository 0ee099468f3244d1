/* A source turns one kind of kernel signal into pipeline calls. Sources are
 * small ops tables (libscap's engines): adding one touches one new file and
 * one line in sources/registry.c. */
#ifndef VIGIL_SOURCE_H
#define VIGIL_SOURCE_H

#include <stddef.h>

#include "lib/config.h"

struct pipeline;
struct source;

struct source_ops {
	const char *name;	/* "ebpf", "proc_connector" */
	/* Sets up; on failure returns a negative errno, writes why into err
	 * (one sentence, no trailing newline) and leaves nothing behind. */
	int (*open)(struct source *src, const struct vigil_config *cfg, struct pipeline *pl,
		    char *err, size_t errlen);
	/* The fd the event loop waits on for readiness. */
	int (*fd)(const struct source *src);
	/* Drains whatever is ready, without blocking. Returns events handled or
	 * a negative errno on a fatal source error. */
	int (*dispatch)(struct source *src);
	/* Called every poll_interval_ms: drains batched data and reports
	 * counters. May be NULL. */
	int (*tick)(struct source *src);
	/* Applies a reloaded config (toggles, limits, exclusions). May be NULL. */
	int (*reconfigure)(struct source *src, const struct vigil_config *cfg);
	/* Flushes what was already read, detaches, frees; accepts a closed source. */
	void (*close)(struct source *src);
};

struct source {
	const struct source_ops *ops;
	void *priv;
};

extern const struct source_ops source_ebpf_ops;
extern const struct source_ops source_proc_connector_ops;

#endif
