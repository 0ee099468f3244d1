/* Memory records → pipeline (memory.c). */
#ifndef VIGIL_MEMORY_REC_H
#define VIGIL_MEMORY_REC_H

#include <stddef.h>

struct pipeline;

/* Validates one VG_REC_MEM record and reports it; -EBADMSG otherwise. */
int memory_rec__handle(struct pipeline *pl, const void *data, size_t size);

#endif
