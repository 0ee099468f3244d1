/* File records → pipeline (file.c). */
#ifndef VIGIL_FILE_REC_H
#define VIGIL_FILE_REC_H

#include <stddef.h>

struct pipeline;

/* Validates one VG_REC_FILE record and reports it; -EBADMSG when a length
 * does not add up or a string is not terminated. */
int file_rec__handle(struct pipeline *pl, const void *data, size_t size);
/* base (absolute) + name → absolute, "." and ".." resolved lexically. */
int file_rec__join(const char *base, const char *name, char *out, size_t outlen);

struct vg_path_key;
/* The kernel's form of one exclusions.paths pattern (file.h): fills keys[0]
 * and keys[1] and returns 2 for a literal pattern that fits, 0 for one the
 * kernel cannot take (glob characters, too long, empty): user space
 * filters those alone. */
int file_rec__exclusion_keys(const char *pattern, struct vg_path_key keys[2]);

#endif
