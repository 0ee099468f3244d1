/* Sealing and opening batches (batch.h; the layout is in docs/pipeline.md).
 * Parsing trusts nothing: every length is checked against the limits and the
 * bytes actually there before it is used, and decompression writes into a
 * buffer of the declared raw_len, never one sized from what the zstd frame
 * says about itself. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "lib/err.h"
#include "ship/batch.h"
#include "ship/blocks.h"

/* Header field offsets; docs/pipeline.md has the same table. */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_HEADER_LEN 6
#define OFF_FLAGS 8
#define OFF_KEY_ID 12
#define OFF_SEQ 16
#define OFF_CREATED 24
#define OFF_EVENT_COUNT 32
#define OFF_RAW_LEN 36
#define OFF_BODY_LEN 40
#define OFF_DEVICE_LEN 44
#define OFF_ORG_LEN 45
#define OFF_RESERVED 46
#define OFF_DEVICE_ID 48
#define OFF_ORG_ID (OFF_DEVICE_ID + BATCH_DEVICE_ID_MAX)
#define OFF_SHA256 (OFF_ORG_ID + BATCH_ORG_ID_MAX)
_Static_assert(OFF_SHA256 + 32 == BATCH_HEADER_LEN, "header layout");

/* A thread's scratch buffers above this are freed after use, so a rare big
 * batch does not pin its memory for the life of the thread. */
#define SCRATCH_KEEP (4u << 20)

const struct batch_limits batch_default_limits = {
	.max_batch_bytes = BATCH_MAX_BATCH_BYTES,
	.max_raw_bytes = BATCH_MAX_RAW_BYTES,
	.max_events = BATCH_MAX_EVENTS,
};

static const char *const error_names[BATCH_ERROR_MAX] = {
	[BATCH_OK] = "ok",
	[BATCH_MALFORMED] = "malformed",
	[BATCH_BAD_HMAC] = "bad_hmac",
	[BATCH_DECOMPRESS] = "decompress",
	[BATCH_EVENTS_HASH] = "events_hash",
	[BATCH_EVENT_COUNT] = "event_count",
	[BATCH_TOO_BIG] = "too_big",
};

const char *batch_error_name(enum batch_error e)
{
	if ((unsigned)e >= BATCH_ERROR_MAX)
		return "unknown";
	return error_names[e];
}

static void clear_err(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

/* ---- per-thread zstd contexts and scratch ---- */

struct batch_tls {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *scratch;	/* compressed body on seal, lines on open */
	size_t scratch_alloc;
};

static __thread struct batch_tls *tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_key_err;

static void tls_destroy(void *p)
{
	struct batch_tls *t = p;

	if (!t)
		return;
	ZSTD_freeCCtx(t->cctx);
	ZSTD_freeDCtx(t->dctx);
	free(t->scratch);
	free(t);
}

static void tls_key_init(void)
{
	tls_key_err = pthread_key_create(&tls_key, tls_destroy);
}

static struct batch_tls *tls_get(void)
{
	struct batch_tls *t;

	if (tls)
		return tls;
	pthread_once(&tls_once, tls_key_init);
	if (tls_key_err)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (pthread_setspecific(tls_key, t)) {
		free(t);
		return NULL;
	}
	tls = t;
	return t;
}

void batch_thread_free(void)
{
	if (!tls)
		return;
	pthread_setspecific(tls_key, NULL);
	tls_destroy(tls);
	tls = NULL;
}

static uint8_t *scratch_get(struct batch_tls *t, size_t n)
{
	uint8_t *p;

	if (n <= t->scratch_alloc)
		return t->scratch;
	/* No realloc: the old contents are never needed, so do not copy them. */
	free(t->scratch);
	t->scratch_alloc = 0;
	t->scratch = p = malloc(n ? n : 1);
	if (p)
		t->scratch_alloc = n;
	return p;
}

static void scratch_trim(struct batch_tls *t)
{
	if (t->scratch_alloc > SCRATCH_KEEP) {
		free(t->scratch);
		t->scratch = NULL;
		t->scratch_alloc = 0;
	}
}

/* ---- big-endian fields ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- field rules shared by seal and parse ---- */

static bool device_id_ok(const char *s, size_t n)
{
	if (n < 1 || n > BATCH_DEVICE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool org_id_ok(const char *s, size_t n)
{
	if (n > BATCH_ORG_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Counts lines; -1 if [p, p+n) is not one or more non-empty '\n'-terminated
 * lines (*bad_at: offset of the first offence) or has more than max. */
/* Lines, or with skip_defs the lines that do not start with '@' (a body
 * with shared blocks: those are definitions). */
static long count_lines(const char *p, size_t n, uint32_t max, bool skip_defs, size_t *bad_at)
{
	const char *s = p, *end = p + n, *nl;
	long count = 0;

	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl || nl == s || (uint64_t)count >= max) {
			*bad_at = (size_t)(s - p);
			return -1;
		}
		if (!skip_defs || *s != '@')
			count++;
		s = nl + 1;
	}
	if (count == 0)
		*bad_at = 0;
	return count ? count : -1;
}

static int sha256(const void *p, size_t n, uint8_t md[32])
{
	unsigned int mdlen = 0;

	if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	return 0;
}

static int hmac_sha256(const uint8_t key[32], const uint8_t *p, size_t n, uint8_t mac[32])
{
	size_t maclen = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, BATCH_KEY_LEN, p, n, mac, 32,
		       &maclen) ||
	    maclen != 32)
		return -EIO;
	return 0;
}

/* ---- seal ---- */

static void encode_header(const struct batch_meta *m, uint8_t h[BATCH_HEADER_LEN])
{
	size_t dlen = strlen(m->device_id), olen = strlen(m->org_id);

	memset(h, 0, BATCH_HEADER_LEN);
	memcpy(h + OFF_MAGIC, BATCH_MAGIC, 4);
	put16(h + OFF_VERSION, BATCH_FORMAT_VERSION);
	put16(h + OFF_HEADER_LEN, BATCH_HEADER_LEN);
	put32(h + OFF_FLAGS, m->flags);
	put32(h + OFF_KEY_ID, m->key_id);
	put64(h + OFF_SEQ, m->seq);
	put64(h + OFF_CREATED, m->created_ns);
	put32(h + OFF_EVENT_COUNT, m->event_count);
	put32(h + OFF_RAW_LEN, m->raw_len);
	put32(h + OFF_BODY_LEN, m->body_len);
	h[OFF_DEVICE_LEN] = (uint8_t)dlen;
	h[OFF_ORG_LEN] = (uint8_t)olen;
	memcpy(h + OFF_DEVICE_ID, m->device_id, dlen);
	memcpy(h + OFF_ORG_ID, m->org_id, olen);
	memcpy(h + OFF_SHA256, m->events_sha256, 32);
}

int batch_seal(struct batch_meta *meta, const char *lines, size_t len, const uint8_t key[32],
	       int zstd_level, struct buf *out, char *err, size_t errlen)
{
	uint8_t header[BATCH_HEADER_LEN], mac[BATCH_HMAC_LEN];
	struct batch_tls *t;
	size_t bound, clen, total, start = out->len, bad_at = 0;
	uint32_t blocks;
	uint8_t *body;
	long count;
	int ret;

	clear_err(err, errlen);
	if (!memchr(meta->device_id, '\0', sizeof(meta->device_id)) ||
	    !device_id_ok(meta->device_id, strlen(meta->device_id))) {
		err_set(err, errlen, "batch: device id is not 1 to %d lowercase hex digits",
			BATCH_DEVICE_ID_MAX);
		return -EINVAL;
	}
	if (!memchr(meta->org_id, '\0', sizeof(meta->org_id)) ||
	    !org_id_ok(meta->org_id, strlen(meta->org_id))) {
		err_set(err, errlen, "batch: org id is not at most %d printable ASCII characters",
			BATCH_ORG_ID_MAX);
		return -EINVAL;
	}
	if (meta->seq == 0) {
		err_set(err, errlen, "batch: seq 0 is not valid (sequences start at 1)");
		return -EINVAL;
	}
	if (len > BATCH_MAX_RAW_BYTES) {
		err_set(err, errlen, "batch: %zu bytes of lines exceed the %u-byte batch limit",
			len, BATCH_MAX_RAW_BYTES);
		return -EINVAL;
	}
	blocks = meta->flags & BATCH_FLAG_BLOCKS;	/* the rest is an output */
	count = count_lines(lines, len, BATCH_MAX_EVENTS, blocks, &bad_at);
	if (count < 0) {
		if (len == 0)
			err_set(err, errlen, "batch: no lines to seal (an empty batch is not sent)");
		else
			err_set(err, errlen,
				"batch: line at offset %zu is empty, unterminated or past the %u-line limit",
				bad_at, BATCH_MAX_EVENTS);
		return -EINVAL;
	}

	t = tls_get();
	if (!t) {
		err_set(err, errlen, "batch: out of memory for the compression context");
		return -ENOMEM;
	}
	if (!t->cctx && !(t->cctx = ZSTD_createCCtx())) {
		err_set(err, errlen, "batch: out of memory for the compression context");
		return -ENOMEM;
	}
	bound = ZSTD_compressBound(len);
	body = scratch_get(t, bound);
	if (!body) {
		err_set(err, errlen, "batch: out of memory for a %zu-byte compressed body", bound);
		return -ENOMEM;
	}
	clen = ZSTD_compressCCtx(t->cctx, body, bound, lines, len, zstd_level);
	if (ZSTD_isError(clen)) {
		err_set(err, errlen, "batch: zstd level %d: %s", zstd_level,
			ZSTD_getErrorName(clen));
		ret = -EIO;
		goto out;
	}
	total = BATCH_HEADER_LEN + clen + BATCH_HMAC_LEN;
	if (total > BATCH_MAX_BATCH_BYTES) {
		err_set(err, errlen,
			"batch: %ld lines seal to %zu bytes, over the %u-byte limit; cut smaller batches",
			count, total, BATCH_MAX_BATCH_BYTES);
		ret = -EMSGSIZE;
		goto out;
	}
	if (out->cap < out->len || out->cap - out->len < total) {
		out->toobig = true;
		err_set(err, errlen, "batch: no room for a %zu-byte sealed batch in the output",
			total);
		ret = -E2BIG;
		goto out;
	}

	meta->event_count = (uint32_t)count;
	meta->raw_len = (uint32_t)len;
	meta->body_len = (uint32_t)clen;
	meta->flags = BATCH_FLAG_ZSTD | blocks;
	/* The events hash covers the events as sent (the compressed body):
	 * what is added, removed or altered in transit changes it just the
	 * same, at a tenth of the bytes (sha256 of the lines was 1.6 of the
	 * 4.4 µs seal cost per 3 KB event; bench/pipebench.c). */
	ret = sha256(body, clen, meta->events_sha256);
	if (ret) {
		err_set(err, errlen, "batch: sha256 of the body failed");
		goto out;
	}
	encode_header(meta, header);
	ret = buf__add(out, header, sizeof(header));
	if (!ret)
		ret = buf__add(out, body, clen);
	if (!ret) {
		ret = hmac_sha256(key, (const uint8_t *)out->data + start,
				  BATCH_HEADER_LEN + clen, mac);
		if (ret)
			err_set(err, errlen, "batch: HMAC-SHA256 failed");
	} else {
		err_set(err, errlen, "batch: out of memory appending a %zu-byte batch", total);
	}
	if (!ret) {
		ret = buf__add(out, mac, sizeof(mac));
		if (ret)
			err_set(err, errlen, "batch: out of memory appending a %zu-byte batch",
				total);
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	if (ret) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
out:
	scratch_trim(t);
	return ret;
}

/* ---- parse ---- */

#define MALFORMED(...)                                                                     \
	do {                                                                               \
		*why = BATCH_MALFORMED;                                                    \
		err_set(err, errlen, "batch: " __VA_ARGS__);                               \
		return -EBADMSG;                                                           \
	} while (0)

#define TOO_BIG(...)                                                                       \
	do {                                                                               \
		*why = BATCH_TOO_BIG;                                                      \
		err_set(err, errlen, "batch: " __VA_ARGS__);                               \
		return -EMSGSIZE;                                                          \
	} while (0)

int batch_parse(const uint8_t *p, size_t n, const struct batch_limits *lim,
		struct batch_meta *meta, enum batch_error *why, char *err, size_t errlen)
{
	enum batch_error why_local;
	unsigned dlen, olen;
	uint32_t body_len;

	if (!why)
		why = &why_local;
	*why = BATCH_OK;
	clear_err(err, errlen);
	memset(meta, 0, sizeof(*meta));
	if (!lim)
		lim = &batch_default_limits;

	if (n > lim->max_batch_bytes)
		TOO_BIG("%zu bytes, over the %zu-byte limit", n, lim->max_batch_bytes);
	if (n < BATCH_HEADER_LEN + BATCH_HMAC_LEN)
		MALFORMED("%zu bytes, shorter than a header and an HMAC (%d)", n,
			  BATCH_HEADER_LEN + BATCH_HMAC_LEN);
	if (memcmp(p + OFF_MAGIC, BATCH_MAGIC, 4) != 0)
		MALFORMED("no \"" BATCH_MAGIC "\" magic at offset 0");
	if (get16(p + OFF_VERSION) != BATCH_FORMAT_VERSION)
		MALFORMED("format version %u, this build reads %d", get16(p + OFF_VERSION),
			  BATCH_FORMAT_VERSION);
	if (get16(p + OFF_HEADER_LEN) != BATCH_HEADER_LEN)
		MALFORMED("header length %u, version %d has %d", get16(p + OFF_HEADER_LEN),
			  BATCH_FORMAT_VERSION, BATCH_HEADER_LEN);

	meta->flags = get32(p + OFF_FLAGS);
	meta->key_id = get32(p + OFF_KEY_ID);
	meta->seq = get64(p + OFF_SEQ);
	meta->created_ns = get64(p + OFF_CREATED);
	meta->event_count = get32(p + OFF_EVENT_COUNT);
	meta->raw_len = get32(p + OFF_RAW_LEN);
	meta->body_len = body_len = get32(p + OFF_BODY_LEN);
	memcpy(meta->events_sha256, p + OFF_SHA256, 32);

	if (meta->flags & ~BATCH_FLAGS_KNOWN)
		MALFORMED("unknown flags 0x%x", meta->flags & ~BATCH_FLAGS_KNOWN);
	if (body_len != n - BATCH_HEADER_LEN - BATCH_HMAC_LEN)
		MALFORMED("body length %u, but %zu bytes follow the header before the HMAC",
			  body_len, n - BATCH_HEADER_LEN - BATCH_HMAC_LEN);
	if (get16(p + OFF_RESERVED) != 0)
		MALFORMED("reserved bytes at offset %d are not zero", OFF_RESERVED);

	dlen = p[OFF_DEVICE_LEN];
	if (!device_id_ok((const char *)p + OFF_DEVICE_ID, dlen) ||
	    !all_zero(p + OFF_DEVICE_ID + dlen, BATCH_DEVICE_ID_MAX - dlen))
		MALFORMED("device id (length %u) is not 1 to %d lowercase hex digits, zero-padded",
			  dlen, BATCH_DEVICE_ID_MAX);
	memcpy(meta->device_id, p + OFF_DEVICE_ID, dlen);
	olen = p[OFF_ORG_LEN];
	if (!org_id_ok((const char *)p + OFF_ORG_ID, olen) ||
	    !all_zero(p + OFF_ORG_ID + olen, BATCH_ORG_ID_MAX - olen))
		MALFORMED("org id (length %u) is not at most %d printable characters, zero-padded",
			  olen, BATCH_ORG_ID_MAX);
	memcpy(meta->org_id, p + OFF_ORG_ID, olen);

	if (meta->seq == 0)
		MALFORMED("seq 0 (sequences start at 1)");
	if (meta->event_count == 0 || meta->raw_len == 0)
		MALFORMED("empty batch (%u events, %u bytes)", meta->event_count, meta->raw_len);
	if (meta->raw_len > lim->max_raw_bytes)
		TOO_BIG("%u uncompressed bytes, over the %zu-byte limit", meta->raw_len,
			lim->max_raw_bytes);
	if (meta->event_count > lim->max_events)
		TOO_BIG("%u events, over the %u-event limit", meta->event_count,
			lim->max_events);
	/* A line is at least one byte and its '\n'. */
	if (meta->event_count > meta->raw_len / 2)
		MALFORMED("%u events cannot fit in %u bytes", meta->event_count, meta->raw_len);
	if (!(meta->flags & BATCH_FLAG_ZSTD) && body_len != meta->raw_len)
		MALFORMED("uncompressed body of %u bytes, but raw length %u", body_len,
			  meta->raw_len);
	return 0;
}

int batch_verify_hmac(const uint8_t *p, size_t n, const uint8_t key[32])
{
	uint8_t mac[BATCH_HMAC_LEN];
	int ok;

	if (n < BATCH_HEADER_LEN + BATCH_HMAC_LEN)
		return -EBADMSG;
	if (hmac_sha256(key, p, n - BATCH_HMAC_LEN, mac))
		return -EBADMSG;
	ok = CRYPTO_memcmp(mac, p + n - BATCH_HMAC_LEN, BATCH_HMAC_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? 0 : -EBADMSG;
}

/* ---- open ---- */

int batch_open(const uint8_t *p, size_t n, const struct batch_meta *meta,
	       const struct batch_limits *lim, struct buf *out, enum batch_error *why,
	       char *err, size_t errlen)
{
	return batch_open_resolve(p, n, meta, lim, NULL, out, why, err, errlen);
}

int batch_open_resolve(const uint8_t *p, size_t n, const struct batch_meta *meta,
		       const struct batch_limits *lim, struct blocks_resolver *res,
		       struct buf *out, enum batch_error *why, char *err, size_t errlen)
{
	enum batch_error why_local;
	const uint8_t *body = p + BATCH_HEADER_LEN;
	const uint8_t *lines;
	struct batch_tls *t = NULL;
	uint8_t md[32];
	size_t got, bad_at = 0;
	long count;
	int ret = 0;

	if (!why)
		why = &why_local;
	*why = BATCH_OK;
	clear_err(err, errlen);
	if (!lim)
		lim = &batch_default_limits;
	if (n < BATCH_HEADER_LEN + BATCH_HMAC_LEN ||
	    meta->body_len != n - BATCH_HEADER_LEN - BATCH_HMAC_LEN)
		MALFORMED("%zu bytes do not hold a %u-byte body; parse the batch first", n,
			  meta->body_len);
	if (meta->raw_len > lim->max_raw_bytes || meta->event_count > lim->max_events)
		TOO_BIG("%u events in %u bytes, over the limits", meta->event_count,
			meta->raw_len);
	if (meta->raw_len == 0 || meta->event_count == 0)
		MALFORMED("empty batch (%u events, %u bytes)", meta->event_count, meta->raw_len);
	if (!(meta->flags & BATCH_FLAG_ZSTD) && meta->body_len != meta->raw_len)
		MALFORMED("uncompressed body of %u bytes, but raw length %u", meta->body_len,
			  meta->raw_len);
	if (out->cap < out->len || out->cap - out->len < meta->raw_len) {
		out->toobig = true;
		*why = BATCH_TOO_BIG;
		err_set(err, errlen, "batch: no room for %u bytes of lines in the output",
			meta->raw_len);
		return -E2BIG;
	}

	/* before decompressing: a body that is not what was signed for is
	 * never expanded */
	if (sha256(body, meta->body_len, md)) {
		err_set(err, errlen, "batch: sha256 of the body failed");
		return -ENOMEM;
	}
	if (CRYPTO_memcmp(md, meta->events_sha256, 32) != 0) {
		*why = BATCH_EVENTS_HASH;
		err_set(err, errlen, "batch: the body does not match the events sha256 in the header");
		return -EBADMSG;
	}

	if (meta->flags & BATCH_FLAG_ZSTD) {
		uint8_t *dst;

		t = tls_get();
		if (!t || (!t->dctx && !(t->dctx = ZSTD_createDCtx()))) {
			err_set(err, errlen, "batch: out of memory for the decompression context");
			return -ENOMEM;
		}
		dst = scratch_get(t, meta->raw_len);
		if (!dst) {
			err_set(err, errlen, "batch: out of memory for %u bytes of lines",
				meta->raw_len);
			return -ENOMEM;
		}
		/* The output capacity is the declared raw_len: a frame that
		 * would give more fails with dstSize_tooSmall, whatever its
		 * own content size says, and none is allocated for it. */
		got = ZSTD_decompressDCtx(t->dctx, dst, meta->raw_len, body, meta->body_len);
		if (ZSTD_isError(got) || got != meta->raw_len) {
			*why = BATCH_DECOMPRESS;
			if (ZSTD_isError(got))
				err_set(err, errlen, "batch: body does not decompress to %u bytes: %s",
					meta->raw_len, ZSTD_getErrorName(got));
			else
				err_set(err, errlen,
					"batch: body decompresses to %zu bytes, header says %u",
					got, meta->raw_len);
			ret = -EBADMSG;
			goto out;
		}
		lines = dst;
	} else {
		lines = body;
	}

	if (meta->flags & BATCH_FLAG_BLOCKS) {
		ret = blocks_expand((const char *)lines, meta->raw_len, meta->event_count,
				    lim->max_raw_bytes, out, res, err, errlen);
		if (ret == -EBADMSG)
			*why = BATCH_EVENT_COUNT;
		else if (ret == -EMSGSIZE || ret == -E2BIG)
			*why = BATCH_TOO_BIG;
		goto out;
	}
	count = count_lines((const char *)lines, meta->raw_len, meta->event_count, false, &bad_at);
	if (count < 0 || (uint64_t)count != meta->event_count) {
		*why = BATCH_EVENT_COUNT;
		if (count < 0)
			err_set(err, errlen,
				"batch: line at offset %zu is empty, unterminated or past the %u declared",
				bad_at, meta->event_count);
		else
			err_set(err, errlen, "batch: %ld lines, header says %u", count,
				meta->event_count);
		ret = -EBADMSG;
		goto out;
	}
	ret = buf__add(out, lines, meta->raw_len);
	if (ret) {
		err_set(err, errlen, "batch: out of memory appending %u bytes of lines",
			meta->raw_len);
		if (ret == -E2BIG)
			*why = BATCH_TOO_BIG;
	}
out:
	if (t)
		scratch_trim(t);
	return ret;
}
