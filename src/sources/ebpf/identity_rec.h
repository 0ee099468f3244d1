/* Identity records → pipeline (identity.c). */
#ifndef VIGIL_IDENTITY_REC_H
#define VIGIL_IDENTITY_REC_H

#include <stddef.h>

struct pipeline;

/* Validates one VG_REC_IDENTITY record and reports it; -EBADMSG otherwise. */
int identity_rec__handle(struct pipeline *pl, const void *data, size_t size);

#endif
