/* Batcher (batcher.h). Two slots: lines go to the current one; a line that
 * does not fit goes to the other (the carry) and marks the batch full; take
 * hands out the current slot and makes the other current. The taken bytes
 * are left in place, so they stay valid until the next call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "ship/batch.h"
#include "ship/batcher.h"

#define SLOT_MIN_ALLOC (64u << 10)

struct slot {
	char *data;
	size_t len, alloc;
	uint32_t lines;
	uint64_t first_ms;	/* when its first line was added */
};

struct batcher {
	struct slot slots[2];
	unsigned cur;
	size_t max_bytes;
	uint32_t max_lines;
	uint32_t interval_ms;
	struct batcher_stats st;
};

int batcher__new(struct batcher **out, size_t max_bytes, uint32_t max_lines,
		 uint32_t interval_ms)
{
	struct batcher *b;

	*out = NULL;
	if (max_bytes < 2 || max_bytes > BATCH_MAX_RAW_BYTES || max_lines < 1 ||
	    max_lines > BATCH_MAX_EVENTS || interval_ms < 1)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->max_bytes = max_bytes;
	b->max_lines = max_lines;
	b->interval_ms = interval_ms;
	*out = b;
	return 0;
}

void batcher__free(struct batcher *b)
{
	if (!b)
		return;
	free(b->slots[0].data);
	free(b->slots[1].data);
	free(b);
}

static struct slot *cur(const struct batcher *b)
{
	return (struct slot *)&b->slots[b->cur];
}

static struct slot *other(const struct batcher *b)
{
	return (struct slot *)&b->slots[b->cur ^ 1];
}

static bool is_full(const struct batcher *b)
{
	const struct slot *s = cur(b);

	/* The smallest line is 2 bytes ("x\n"). */
	return other(b)->lines > 0 || s->lines >= b->max_lines || b->max_bytes - s->len < 2;
}

/* Appends within max_bytes (the caller checked); grows by doubling. */
static int slot_add(struct batcher *b, struct slot *s, const char *line, size_t len,
		    uint64_t now_ms)
{
	size_t need = s->len + len, nalloc;
	char *p;

	if (need > s->alloc) {
		nalloc = s->alloc ? s->alloc : SLOT_MIN_ALLOC;
		while (nalloc < need)
			nalloc *= 2;
		if (nalloc > b->max_bytes)
			nalloc = b->max_bytes;
		p = realloc(s->data, nalloc);
		if (!p)
			return -ENOMEM;
		s->data = p;
		s->alloc = nalloc;
	}
	memcpy(s->data + s->len, line, len);
	s->len += len;
	if (s->lines++ == 0)
		s->first_ms = now_ms;
	b->st.lines++;
	return 0;
}

int batcher__add(struct batcher *b, const char *line, size_t len, uint64_t now_ms, char *err,
		 size_t errlen)
{
	struct slot *s = cur(b);
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (len < 2 || line[len - 1] != '\n' || memchr(line, '\n', len - 1)) {
		b->st.invalid++;
		err_set(err, errlen,
			"batcher: a %zu-byte line is empty, not '\\n'-terminated or holds several lines; dropped",
			len);
		return -EINVAL;
	}
	if (len > b->max_bytes) {
		b->st.too_big++;
		err_set(err, errlen,
			"batcher: a %zu-byte line is bigger than the %zu-byte batch limit; dropped",
			len, b->max_bytes);
		return -E2BIG;
	}
	if (other(b)->lines > 0) {
		b->st.busy++;
		err_set(err, errlen,
			"batcher: a full batch and the line after it wait to be taken; line dropped");
		return -ENOSPC;
	}
	if (s->lines >= b->max_lines || len > b->max_bytes - s->len) {
		/* The line starts the next batch, in the other slot: free, as
		 * what it held was taken before this call. A caller that takes
		 * on every 1 never sees -ENOSPC, even when the carried line
		 * fills a batch on its own. */
		s = other(b);
		s->len = 0;
		s->lines = 0;
	}
	ret = slot_add(b, s, line, len, now_ms);
	if (ret) {
		err_set(err, errlen, "batcher: out of memory for a %zu-byte line", len);
		return ret;
	}
	return is_full(b) ? 1 : 0;
}

bool batcher__due(const struct batcher *b, uint64_t now_ms)
{
	const struct slot *s = cur(b);

	if (s->lines == 0)
		return false;
	return is_full(b) || now_ms >= s->first_ms + b->interval_ms;
}

uint32_t batcher__count(const struct batcher *b)
{
	return cur(b)->lines;
}

uint64_t batcher__deadline(const struct batcher *b)
{
	const struct slot *s = cur(b);

	if (s->lines == 0)
		return UINT64_MAX;
	if (is_full(b))
		return s->first_ms;
	return s->first_ms + b->interval_ms;
}

const char *batcher__take(struct batcher *b, size_t *len, uint32_t *count)
{
	struct slot *s = cur(b);
	const char *p;

	*len = 0;
	*count = 0;
	if (s->lines == 0)
		return NULL;
	p = s->data;
	*len = s->len;
	*count = s->lines;
	/* The bytes stay in place for the caller; only the counts reset. */
	s->len = 0;
	s->lines = 0;
	b->cur ^= 1;
	b->st.batches++;
	return p;
}

void batcher__stats(const struct batcher *b, struct batcher_stats *st)
{
	*st = b->st;
}
