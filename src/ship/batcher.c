/* Batcher (batcher.h). Two slots: lines go to the current one; a line that
 * does not fit goes to the other (the carry) and marks the batch full; take
 * hands out the current slot and makes the other current. The taken bytes
 * are left in place, so they stay valid until the next call. With shared
 * blocks each slot's body is encoded as lines arrive (blocks.h), with a
 * table of its own, so the carried line starts the next body's table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "ship/batch.h"
#include "ship/batcher.h"
#include "ship/blocks.h"

struct slot {
	struct buf body;	/* what is sealed: the lines, or with blocks their encoding */
	size_t plain;		/* the lines' own bytes (what the collector expands to) */
	uint32_t lines;
	uint64_t first_ms;	/* when its first line was added */
	struct blocks_enc *enc;	/* with shared blocks, this body's table */
};

struct batcher {
	struct slot slots[2];
	unsigned cur;
	size_t max_bytes;
	uint32_t max_lines;
	uint32_t interval_ms;
	bool share;
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
	buf__init(&b->slots[0].body, max_bytes);
	buf__init(&b->slots[1].body, max_bytes);
	*out = b;
	return 0;
}

int batcher__share_blocks(struct batcher *b)
{
	int ret;

	if (b->share)
		return 0;
	if (b->st.lines)
		return -EBUSY;
	ret = blocks_enc__new(&b->slots[0].enc);
	if (!ret)
		ret = blocks_enc__new(&b->slots[1].enc);
	if (ret) {
		blocks_enc__free(b->slots[0].enc);
		b->slots[0].enc = NULL;
		return ret;
	}
	b->share = true;
	return 0;
}

void batcher__use_known(struct batcher *b, struct blocks_known *kn)
{
	for (unsigned i = 0; i < 2; i++)
		if (b->slots[i].enc)
			blocks_enc__use_known(b->slots[i].enc, kn);
}

void batcher__free(struct batcher *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < 2; i++) {
		buf__free(&b->slots[i].body);
		blocks_enc__free(b->slots[i].enc);
	}
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

static void slot_clear(struct slot *s)
{
	s->body.len = 0;
	s->plain = 0;
	s->lines = 0;
	if (s->enc)
		blocks_enc__reset(s->enc);
}

static bool is_full(const struct batcher *b)
{
	const struct slot *s = cur(b);

	/* The smallest line is 2 bytes ("x\n"). */
	return other(b)->lines > 0 || s->lines >= b->max_lines || b->max_bytes - s->plain < 2 ||
	       b->max_bytes - s->body.len < 2;
}

/* Room for a line of len bytes that encodes to at most enc bytes. */
static bool fits(const struct batcher *b, const struct slot *s, size_t len, size_t enc)
{
	return s->lines < b->max_lines && len <= b->max_bytes - s->plain &&
	       enc <= b->max_bytes - s->body.len;
}

int batcher__add(struct batcher *b, const char *line, size_t len, uint64_t now_ms, char *err,
		 size_t errlen)
{
	return batcher__add_blocks(b, line, len, NULL, now_ms, err, errlen);
}

int batcher__add_blocks(struct batcher *b, const char *line, size_t len,
			const struct line_blocks *bl, uint64_t now_ms, char *err, size_t errlen)
{
	struct slot *s = cur(b);
	size_t enc;
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
	if (!b->share || !bl || !bl->n)
		bl = NULL;
	enc = len + (bl ? BLOCKS_LINE_SLACK : 0);
	if (!s->lines) {
		slot_clear(s);	/* what take handed out from it is done with */
	} else if (!fits(b, s, len, enc)) {
		/* The line starts the next batch, in the other slot: free, as
		 * what it held was taken before this call. A caller that takes
		 * on every 1 never sees -ENOSPC, even when the carried line
		 * fills a batch on its own. */
		s = other(b);
		slot_clear(s);
	}
	if (bl && !fits(b, s, len, enc))
		bl = NULL;	/* a line near max_bytes alone: sent whole */
	if (b->share)
		ret = blocks_enc__add(s->enc, &s->body, line, len, bl);
	else
		ret = buf__add(&s->body, line, len);
	if (ret == -EINVAL) {
		/* The JSON writer never makes one: '@' starts a definition and
		 * {"@": outside a string is a reference (blocks.h). */
		b->st.invalid++;
		err_set(err, errlen,
			"batcher: a %zu-byte line starts with '@' or holds {\"@\": (reserved for "
			"shared blocks); dropped", len);
		return -EINVAL;
	}
	if (ret) {
		err_set(err, errlen, "batcher: out of memory for a %zu-byte line", len);
		return -ENOMEM;
	}
	s->plain += len;
	if (s->lines++ == 0)
		s->first_ms = now_ms;
	b->st.lines++;
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

	*len = 0;
	*count = 0;
	if (s->lines == 0)
		return NULL;
	*len = s->body.len;
	*count = s->lines;
	b->st.batches++;
	b->st.plain_bytes += s->plain;
	b->st.body_bytes += s->body.len;
	/* The bytes stay in place for the caller: the slot is cleared (its
	 * length and table) only when a line next goes into it. */
	s->lines = 0;
	b->cur ^= 1;
	return s->body.data;
}

uint32_t batcher__flags(const struct batcher *b)
{
	return b->share ? BATCH_FLAG_BLOCKS : 0;
}

void batcher__stats(const struct batcher *b, struct batcher_stats *st)
{
	*st = b->st;
}
