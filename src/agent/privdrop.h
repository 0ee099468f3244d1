/* Shrinks the agent's privileges once the kernel-facing setup is done. */
#ifndef VIGIL_PRIVDROP_H
#define VIGIL_PRIVDROP_H

#include <stddef.h>

/* Keeps only what reading other processes' /proc entries and writing the
 * log folder need (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE),
 * empties the bounding set of everything else and sets no_new_privs.
 * Affects the calling thread and threads created after it: call before any
 * worker thread starts. Returns 0 or a negative errno with err filled. */
int privdrop__apply(char *err, size_t errlen);

#endif
