/* A growable byte buffer with a hard cap fixed at creation (curl's dynbuf):
 * growing past the cap is an ordinary error (-E2BIG), never unbounded. */
#ifndef VIGIL_BUF_H
#define VIGIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *data;	/* always NUL-terminated when non-NULL */
	size_t len;
	size_t alloc;
	size_t cap;	/* most bytes data may ever hold, excluding the NUL */
	bool toobig;	/* an append was refused; sticky until buf__reset */
};

void buf__init(struct buf *b, size_t cap);
void buf__free(struct buf *b);
void buf__reset(struct buf *b);
int buf__add_slow(struct buf *b, const void *p, size_t n);
/* Append; on -E2BIG nothing is appended and toobig is set. Inline for the
 * common case (the room is there): the JSON writer appends ~150 pieces per
 * event. */
static inline int buf__add(struct buf *b, const void *p, size_t n)
{
	if (n < b->alloc - b->len && n <= b->cap - b->len) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf__add_slow(b, p, n);
}
int buf__addc(struct buf *b, char c);
int buf__adds(struct buf *b, const char *s);
int buf__addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
