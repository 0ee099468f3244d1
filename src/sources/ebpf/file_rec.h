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

#endif
