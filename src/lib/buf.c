#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

void buf__init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

void buf__free(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
	b->toobig = false;
}

void buf__reset(struct buf *b)
{
	b->len = 0;
	b->toobig = false;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t n)
{
	size_t need, nalloc;
	char *p;

	if (n > b->cap || b->len > b->cap - n) {
		b->toobig = true;
		return -E2BIG;
	}
	need = b->len + n + 1;
	if (need <= b->alloc)
		return 0;
	nalloc = b->alloc ? b->alloc : 256;
	while (nalloc < need)
		nalloc *= 2;
	if (nalloc > b->cap + 1)
		nalloc = b->cap + 1;
	p = realloc(b->data, nalloc);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->alloc = nalloc;
	return 0;
}

int buf__add_slow(struct buf *b, const void *p, size_t n)
{
	int err = buf_reserve(b, n);

	if (err)
		return err;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf__addc(struct buf *b, char c)
{
	return buf__add(b, &c, 1);
}

int buf__adds(struct buf *b, const char *s)
{
	return buf__add(b, s, strlen(s));
}

int buf__addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return buf__add(b, small, (size_t)n);
	err = buf_reserve(b, (size_t)n);
	if (err)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}
