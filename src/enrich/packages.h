/* File path -> owning Debian package and version, from the dpkg database
 * under a filesystem root: ROOT/var/lib/dpkg/info/<pkg>[:<arch>].list (the
 * files of each package), ROOT/var/lib/dpkg/status (versions) and
 * ROOT/var/lib/dpkg/diversions. Every file is read with symlinks resolved
 * inside ROOT (openat2 RESOLVE_IN_ROOT), and only regular files are opened,
 * because a container's root is written by whoever runs in the container.
 *
 * The index is built on the first lookup and rebuilt when the status file's
 * mtime, size or inode changed; that is checked (one stat) at most once per
 * recheck interval, on lookup. dpkg rewrites status whenever it installs,
 * removes or upgrades anything, so status alone tells when the .list files
 * changed. A rebuild that fails keeps the previous index and is not retried
 * until status changes again.
 *
 * Ownership follows dpkg: a package owns the paths its .list names, and a
 * diversion (dpkg-divert) moves every other package's file from the diverted
 * path to the divert-to path, so the file found at the divert-to path belongs
 * to the diverted package and the one at the diverted path to the diverting
 * package (to nobody for a --local diversion). A path listed by several
 * packages (directories, mostly) belongs to the first .list in byte order of
 * file names. Packages whose .list exists but which have no status stanza,
 * no Version field or the not-installed state are reported with version "".
 * Names are bare package names: "libc6", never "libc6:amd64" (Multi-Arch:
 * same packages carry the same version on every architecture).
 *
 * Memory: the unique paths, NUL-terminated, in one arena (sized exactly
 * once loaded), plus a 12-byte hash slot per path at a load factor between
 * 0.35 and 0.7, plus names and versions. Bounds: .list files of more than
 * PACKAGES_MAX_LIST_BYTES in total, more than PACKAGES_MAX_PACKAGES .list
 * files, a status file over PACKAGES_MAX_STATUS_BYTES or a diversions file
 * over PACKAGES_MAX_DIVERSION_BYTES, or more than PACKAGES_MAX_PATHS unique
 * paths refuse the load; lines longer than PACKAGES_MAX_LINE are skipped and
 * counted. Measured on Debian 12: the host's 130,085 paths (817 packages)
 * load in 40-160 ms into 10.9 MiB; 300,000 paths of ~63 bytes in 1,000
 * packages in 90-220 ms into 24.3 MiB (2 busy cores). The worst a hostile root can
 * force is about 64 MiB of arena plus 24 MiB of slots, held beside the old
 * index while a reload is built.
 *
 * Not thread-safe: one packages object belongs to one thread. */
#ifndef VIGIL_PACKAGES_H
#define VIGIL_PACKAGES_H

#include <stddef.h>
#include <stdint.h>

#define PACKAGES_MAX_LINE 4096			/* longer lines are skipped */
#define PACKAGES_MAX_LIST_BYTES (64u << 20)	/* all .list files together */
#define PACKAGES_MAX_PACKAGES 200000u		/* .list files, status stanzas */
#define PACKAGES_MAX_PATHS (1u << 20)		/* unique paths: 3x a large desktop */
#define PACKAGES_MAX_STATUS_BYTES (64u << 20)
#define PACKAGES_MAX_DIVERSION_BYTES (4u << 20)
#define PACKAGES_RECHECK_MS 10000		/* default status stat interval */

struct packages;

struct packages_stats {
	uint64_t files_indexed;	/* unique paths in the current index */
	uint64_t packages;	/* .list files in the current index */
	uint64_t lookups;	/* packages__owner calls */
	uint64_t hits;		/* of which found an owner */
	uint64_t reloads;	/* successful rebuilds after the first load */
	uint64_t load_errors;	/* loads refused or failed; the old index stays */
	uint64_t load_ns;	/* duration of the last load attempt */
	/* appended beyond the agreed contract: */
	uint64_t alt_hits;	/* hits found under the merged-/usr spelling */
	uint64_t long_lines;	/* lines over PACKAGES_MAX_LINE, skipped */
	uint64_t bad_lines;	/* relative paths, NUL bytes, broken stanzas */
	uint64_t diversions;	/* diversions applied in the current index */
	uint64_t memory_bytes;	/* held by the current index */
};

/* root: the filesystem root whose dpkg database is read ("/" for the host;
 * for a container, "/proc/<pid>/root"); copied. Nothing is read until the
 * first lookup. Returns NULL with err filled on a bad argument or out of
 * memory. */
struct packages *packages__new(const char *root, char *err, size_t errlen);
void packages__free(struct packages *p);

/* The owning package of an absolute path and its version ("" when dpkg does
 * not know it), or -ENOENT (not owned, no dpkg database, relative path), or
 * -EINVAL (NULL argument). A miss is retried under the merged-/usr spelling
 * (/usr/lib <-> /lib, /usr/bin <-> /bin, /usr/sbin <-> /sbin, /usr/lib64 <->
 * /lib64, /usr/lib32 <-> /lib32, /usr/libx32 <-> /libx32): dpkg records the
 * path the package shipped, the kernel reports the path it resolved. May
 * (re)load the database first. *name and *version are owned by p and valid
 * until packages__free or the next packages__owner call that reloads: copy
 * them before calling again. */
int packages__owner(struct packages *p, const char *path, const char **name,
		    const char **version);

/* Why the last load failed, "" when it did not. Owned by p. */
const char *packages__last_error(const struct packages *p);

/* Interval between stat checks of the status file, default
 * PACKAGES_RECHECK_MS; 0 checks on every lookup. */
void packages__set_recheck_ms(struct packages *p, uint32_t ms);

void packages__stats(const struct packages *p, struct packages_stats *out);

#endif
