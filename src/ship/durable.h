/* Crash-safe replacement of small files for the ship side (device identity,
 * keystore entries, seq store, spool records): the bytes go to a temporary
 * name in the same directory, are fsync'ed, renamed over the final name, and
 * the directory is fsync'ed, so after a crash a reader finds either the old
 * file or the whole new one, never a torn mix. Files are created 0600.
 *
 * Temporary names are ".<name>.tmp-<16 hex>"; a crash between create and
 * rename leaves one behind, which durable_remove_tmps() cleans up. */
#ifndef VIGIL_DURABLE_H
#define VIGIL_DURABLE_H

#include <stdbool.h>
#include <stddef.h>

#define DURABLE_NOREPLACE 0x1u	/* fail with -EEXIST when name already exists */
#define DURABLE_NO_DIRSYNC 0x2u	/* caller fsyncs the directory itself */

/* Writes [p, p+n) as dirfd/name. label names the file in error messages (NULL: name).
 * Returns 0 or a negative errno with err filled; on failure name is unchanged and the
 * temporary file is removed. */
int durable_write_at(int dirfd, const char *name, const char *label, const void *p, size_t n,
		     unsigned flags, char *err, size_t errlen);

/* True for a name durable_write_at() uses as a temporary. */
bool durable_is_tmp_name(const char *name);

/* Removes the leftover temporaries of dirfd/for_name (NULL: of every name).
 * Returns how many were removed, or a negative errno if the directory cannot be read. */
int durable_remove_tmps(int dirfd, const char *for_name);

/* Opens the directory that holds path (O_DIRECTORY) and sets *base to path's last
 * component (pointing into path). -EINVAL for an empty path or one ending in '/'. */
int durable_open_parent(const char *path, int *dirfd, const char **base);

#endif
