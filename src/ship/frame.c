/* Frame codec (frame.h). The reader's buffer holds [off, len): bytes fed but
 * not yet returned; a returned payload stays where it is until the next call
 * moves the remaining bytes to the front. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ship/frame.h"

/* After a frame this big has been consumed and nothing is pending, the
 * buffer is given back, so an idle connection does not pin a large batch. */
#define READER_KEEP (1u << 20)

struct frame_reader {
	uint8_t *buf;
	size_t alloc, len, off;
	size_t max_frame;
	size_t cap;		/* most bytes buf may ever hold */
	int failed;		/* sticky negative errno */
};

static bool type_known(uint8_t t)
{
	return t >= FRAME_HELLO && t <= FRAME_ERROR;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int frame_reader__new(struct frame_reader **out, size_t max_frame)
{
	struct frame_reader *r;

	*out = NULL;
	if (max_frame < 1 || max_frame > UINT32_MAX ||
	    max_frame > SIZE_MAX - 4 - FRAME_FEED_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->max_frame = max_frame;
	r->cap = 4 + max_frame + FRAME_FEED_MAX;
	*out = r;
	return 0;
}

void frame_reader__free(struct frame_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

size_t frame_reader__pending(const struct frame_reader *r)
{
	return r->len - r->off;
}

int frame_reader__feed(struct frame_reader *r, const void *p, size_t n)
{
	size_t need, nalloc;
	uint8_t *nb;

	if (r->failed)
		return r->failed;
	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len == 0 && r->alloc > READER_KEEP) {
		free(r->buf);
		r->buf = NULL;
		r->alloc = 0;
	}
	if (n == 0)
		return 0;
	if (n > r->cap - r->len)
		return -ENOBUFS;
	need = r->len + n;
	if (need > r->alloc) {
		/* Grow with the bytes that arrived, not with the length the
		 * peer announced: a peer that announces 16 MiB and sends
		 * ten bytes costs ten bytes. */
		nalloc = r->alloc ? r->alloc : 4096;
		while (nalloc < need)
			nalloc = nalloc > r->cap / 2 ? r->cap : nalloc * 2;
		nb = realloc(r->buf, nalloc);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->alloc = nalloc;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

int frame_reader__next(struct frame_reader *r, uint8_t *type, const uint8_t **payload,
		       size_t *len)
{
	size_t avail = r->len - r->off;
	const uint8_t *h;
	uint32_t flen;

	if (r->failed)
		return r->failed;
	if (avail < 4)
		return 0;
	h = r->buf + r->off;
	flen = get32(h);
	if (flen > r->max_frame)
		return r->failed = -EMSGSIZE;
	if (flen == 0)
		return r->failed = -EBADMSG;
	if (avail < 5)
		return 0;
	if (!type_known(h[4]))
		return r->failed = -EBADMSG;
	if (avail - 4 < flen)
		return 0;
	*type = h[4];
	*payload = h + FRAME_HEADER_LEN;
	*len = flen - 1;
	r->off += 4 + (size_t)flen;
	return 1;
}

int frame_append(struct buf *out, uint8_t type, const void *payload, size_t len)
{
	uint8_t h[FRAME_HEADER_LEN];
	size_t start = out->len;
	int err;

	if (!type_known(type) || len > UINT32_MAX - 1)
		return -EINVAL;
	if (out->cap < out->len || out->cap - out->len < FRAME_HEADER_LEN ||
	    out->cap - out->len - FRAME_HEADER_LEN < len) {
		out->toobig = true;
		return -E2BIG;
	}
	put32(h, (uint32_t)(len + 1));
	h[4] = type;
	err = buf__add(out, h, sizeof(h));
	if (!err && len)
		err = buf__add(out, payload, len);
	if (err) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return err;
}

static bool device_id_ok(const char *s, size_t n)
{
	if (n < 1 || n > FRAME_DEVICE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int frame_hello_append(struct buf *out, const char *device_id)
{
	uint8_t p[3 + FRAME_DEVICE_ID_MAX];
	size_t n = strnlen(device_id, FRAME_DEVICE_ID_MAX + 1);

	if (!device_id_ok(device_id, n))
		return -EINVAL;
	put16(p, FRAME_PROTOCOL_VERSION);
	p[2] = (uint8_t)n;
	memcpy(p + 3, device_id, n);
	return frame_append(out, FRAME_HELLO, p, 3 + n);
}

int frame_hello_decode(const uint8_t *p, size_t n, struct frame_hello *h)
{
	size_t idlen;

	memset(h, 0, sizeof(*h));
	if (n < 2)
		return -EBADMSG;
	h->version = get16(p);
	if (h->version != FRAME_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	if (n < 3)
		return -EBADMSG;
	idlen = p[2];
	if (n != 3 + idlen || !device_id_ok((const char *)p + 3, idlen))
		return -EBADMSG;
	memcpy(h->device_id, p + 3, idlen);
	return 0;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

int frame_ack_append(struct buf *out, const struct frame_ack *a)
{
	uint8_t p[FRAME_ACK_LEN];

	if (a->status > FRAME_ACK_REJECTED)
		return -EINVAL;
	put64(p, a->seq);
	p[8] = a->status;
	put16(p + 9, a->reason);
	return frame_append(out, FRAME_ACK, p, sizeof(p));
}

int frame_ack_decode(const uint8_t *p, size_t n, struct frame_ack *a)
{
	memset(a, 0, sizeof(*a));
	if (n != FRAME_ACK_LEN || p[8] > FRAME_ACK_REJECTED)
		return -EBADMSG;
	a->seq = (uint64_t)get32(p) << 32 | get32(p + 4);
	a->status = p[8];
	a->reason = get16(p + 9);
	return 0;
}

int frame_error_append(struct buf *out, uint16_t code, const char *text)
{
	uint8_t p[4 + FRAME_ERROR_TEXT_MAX];
	size_t n = text ? strnlen(text, FRAME_ERROR_TEXT_MAX) : 0;

	put16(p, code);
	put16(p + 2, (uint16_t)n);
	if (n)
		memcpy(p + 4, text, n);
	return frame_append(out, FRAME_ERROR, p, 4 + n);
}

int frame_error_decode(const uint8_t *p, size_t n, uint16_t *code, char *text,
		       size_t textsize)
{
	size_t tlen, copy;

	*code = 0;
	if (text && textsize)
		text[0] = '\0';
	if (n < 4)
		return -EBADMSG;
	tlen = get16(p + 2);
	if (tlen > FRAME_ERROR_TEXT_MAX || n != 4 + tlen)
		return -EBADMSG;
	*code = get16(p);
	if (!text || !textsize)
		return 0;
	copy = tlen < textsize - 1 ? tlen : textsize - 1;
	for (size_t i = 0; i < copy; i++)
		text[i] = p[4 + i] >= 0x20 && p[4 + i] <= 0x7e ? (char)p[4 + i] : '?';
	text[copy] = '\0';
	return 0;
}
