/* The one sentence library code hands back instead of printing: written into
 * a caller-owned buffer, at the place that knows why something failed. */
#ifndef VIGIL_ERR_H
#define VIGIL_ERR_H

#include <stddef.h>

/* Formats into err; a NULL err or a zero errlen writes nothing. */
void err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* err_set, then returns code: `return err_fail(-EINVAL, err, errlen, "...")`. */
int err_fail(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
