// sources: src/ship/batch.c src/ship/blocks.c src/ship/blocks_known.c src/ship/frame.c src/lib/buf.c src/lib/err.c
// libs: -lzstd -lcrypto -lxxhash -lpthread
/* libFuzzer target for the collector's input path. The first byte picks a
 * mode, the rest is the input:
 *   0  a byte stream for the frame reader, fed in pieces whose size the
 *      second byte picks; each BATCH payload goes through mode 1, HELLO, ACK
 *      and ERROR payloads through their decoders;
 *   1  a sealed batch: batch_parse, batch_verify_hmac with a fixed key, and
 *      batch_open_resolve whenever parse accepted it (open must be safe on
 *      anything parse accepts, signed or not; remote blocks come from a
 *      resolver that knows some, not others, and fails for one);
 *   2  the same after fixing up body_len and the events hash to fit and
 *      re-signing with the fixed key, so the fuzzer gets past the HMAC and
 *      the events hash into zstd and the line count;
 *   3  lines to seal: batch_seal must accept exactly the valid line sets,
 *      and what it seals must parse, verify and open back to the input;
 *   4  lines through the shared-blocks encoder, spans picked by each line's
 *      first bytes: it refuses only lines the collector could misread, and
 *      what it accepts expands back byte for byte (the collector's side of
 *      blocks on hostile bodies is mode 2 with BATCH_FLAG_BLOCKS set).
 * abort() on any broken invariant, so libFuzzer keeps the input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "ship/batch.h"
#include "ship/blocks.h"
#include "ship/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz";
static const struct batch_limits lim = {
	.max_batch_bytes = 1 << 20,
	.max_raw_bytes = 4 << 20,
	.max_events = 100000,
};

static void need(int cond)
{
	if (!cond)
		abort();
}

static void check_err(int rc, const char *err, size_t errsize)
{
	need(memchr(err, '\0', errsize) != NULL);
	if (rc == 0)
		need(err[0] == '\0');
	else if (rc != -ENOMEM)
		need(strncmp(err, "batch: ", 7) == 0 || strncmp(err, "blocks: ", 8) == 0);
}

static size_t count_nl(const char *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += p[i] == '\n';
	return c;
}

/* Remote blocks ({"@":S.K}) as a store would answer: batch S % 4 == 0 is
 * unknown, S == 7 cannot be read, the rest hold K % 3 + 1 blocks. */
static int fuzz_get(void *ctx, uint64_t seq, uint32_t k, const char **p, size_t *n)
{
	static const char *const blocks[] = { "{\"pid\":1}", "{\"pid\":2,\"name\":\"x\"}", "" };

	(void)ctx;
	if (seq == 7)
		return -EIO;
	if (seq % 4 == 0 || k > seq % 3)
		return -ENOENT;
	*p = blocks[k % 3];
	*n = strlen(*p);
	return 0;
}

/* Returns 0 when all three steps passed. */
static int verify_batch(const uint8_t *p, size_t n)
{
	struct batch_meta m;
	enum batch_error why = BATCH_ERROR_MAX;
	char err[256];
	struct blocks_resolver res;
	struct buf out;
	uint8_t md[32];
	int rc, hmac;

	memset(err, 'x', sizeof(err));
	rc = batch_parse(p, n, &lim, &m, &why, err, sizeof(err));
	check_err(rc, err, sizeof(err));
	if (rc) {
		need((rc == -EBADMSG && why == BATCH_MALFORMED) ||
		     (rc == -EMSGSIZE && why == BATCH_TOO_BIG));
		return rc;
	}
	need(why == BATCH_OK);
	need(n == BATCH_HEADER_LEN + (size_t)m.body_len + BATCH_HMAC_LEN && n <= lim.max_batch_bytes);
	need(m.raw_len >= 2 && m.raw_len <= lim.max_raw_bytes);
	need(m.event_count >= 1 && m.event_count <= lim.max_events &&
	     m.event_count <= m.raw_len / 2);
	need(m.seq >= 1 && (m.flags & ~BATCH_FLAGS_KNOWN) == 0);
	need(strlen(m.device_id) >= 1 && strspn(m.device_id, "0123456789abcdef") ==
					   strlen(m.device_id));
	for (const char *s = m.org_id; *s; s++)
		need(*s >= 0x20 && *s <= 0x7e);

	hmac = batch_verify_hmac(p, n, key);
	need(hmac == 0 || hmac == -EBADMSG);

	buf__init(&out, lim.max_raw_bytes);
	memset(err, 'x', sizeof(err));
	{
		uint64_t seen[16];

		memset(&res, 0, sizeof(res));
		memset(seen, 0, sizeof(seen));
		res.get = fuzz_get;
		res.seen = seen;
		res.seen_max = 16;
		rc = batch_open_resolve(p, n, &m, &lim, &res, &out, &why, err, sizeof(err));
		need(res.unresolved <= res.remote && res.seen_count <= res.remote);
		for (unsigned i = 0; i < 16; i++)
			need(seen[i] == 0 || seen[i] % 4 != 0 || res.unresolved > 0);
	}
	check_err(rc, err, sizeof(err));
	if (rc == 0) {
		/* shared blocks expand the body; plain lines are the body */
		need(why == BATCH_OK && out.len <= lim.max_raw_bytes &&
		     ((m.flags & BATCH_FLAG_BLOCKS) || out.len == m.raw_len));
		need(out.data[out.len - 1] == '\n' && count_nl(out.data, out.len) == m.event_count);
		need(memmem(out.data, out.len, "\n\n", 2) == NULL && out.data[0] != '\n');
		/* the events hash is over the body as sent */
		EVP_Digest(p + BATCH_HEADER_LEN, m.body_len, md, NULL, EVP_sha256(), NULL);
		need(memcmp(md, m.events_sha256, 32) == 0);
	} else {
		need(out.len == 0);
		need(rc == -ENOMEM || (rc == -EIO && why == BATCH_OK && res.remote > 0) ||
		     ((m.flags & BATCH_FLAG_BLOCKS) && (rc == -EMSGSIZE || rc == -E2BIG) &&
		      why == BATCH_TOO_BIG) ||
		     (rc == -EBADMSG &&
		      (why == BATCH_DECOMPRESS || why == BATCH_EVENTS_HASH ||
		       why == BATCH_EVENT_COUNT || why == BATCH_MALFORMED)));
	}
	buf__free(&out);
	return rc ? rc : hmac;
}

static void frames(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = { 1, 16, 4096, 1 << 20 };
	struct frame_reader *r;
	size_t piece, max, off = 0, taken = 0;
	const uint8_t *p;
	uint8_t type;
	size_t len;
	int rc = 0, drc;

	if (size < 1)
		return;
	piece = 1 + data[0] % 97;
	max = maxes[data[0] >> 6];
	need(frame_reader__new(&r, max) == 0);
	data++;
	size--;
	while (off < size && rc == 0) {
		size_t n = size - off < piece ? size - off : piece;

		rc = frame_reader__feed(r, data + off, n);
		need(rc == 0);
		off += n;
		while ((rc = frame_reader__next(r, &type, &p, &len)) == 1) {
			struct frame_hello h;
			struct frame_ack a;
			uint16_t code;
			char text[64];

			need(type >= FRAME_HELLO && type <= FRAME_ERROR);
			need(len + 1 <= max);
			taken += FRAME_HEADER_LEN + len;
			need(taken <= off);
			switch (type) {
			case FRAME_HELLO:
				drc = frame_hello_decode(p, len, &h);
				need(drc == 0 || drc == -EBADMSG || drc == -EPROTONOSUPPORT);
				if (drc == 0)
					need(len == 3 + strlen(h.device_id));
				break;
			case FRAME_ACK:
				drc = frame_ack_decode(p, len, &a);
				need(drc == 0 ? len == FRAME_ACK_LEN && a.status <= 2 : drc == -EBADMSG);
				break;
			case FRAME_ERROR:
				drc = frame_error_decode(p, len, &code, text, sizeof(text));
				need(drc == 0 || drc == -EBADMSG);
				need(memchr(text, '\0', sizeof(text)) != NULL);
				break;
			default:
				verify_batch(p, len);
			}
		}
		need(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
		need(taken + frame_reader__pending(r) == off || rc != 0);
	}
	frame_reader__free(r);
}

static void reseal(const uint8_t *data, size_t size)
{
	uint8_t *p;
	size_t maclen = 0, body;

	if (size < BATCH_HEADER_LEN + BATCH_HMAC_LEN || size > lim.max_batch_bytes)
		return;
	p = malloc(size);
	need(p != NULL);
	memcpy(p, data, size);
	body = size - BATCH_HEADER_LEN - BATCH_HMAC_LEN;
	p[40] = (uint8_t)(body >> 24);
	p[41] = (uint8_t)(body >> 16);
	p[42] = (uint8_t)(body >> 8);
	p[43] = (uint8_t)body;
	/* the events hash too (it is over the body), so zstd is reached */
	EVP_Digest(p + BATCH_HEADER_LEN, body, p + 144, NULL, EVP_sha256(), NULL);
	need(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, p, size - 32, p + size - 32,
		       32, &maclen) != NULL);
	/* Parse may still refuse the header; past it the HMAC must hold. */
	{
		struct batch_meta m;
		enum batch_error why;

		if (batch_parse(p, size, &lim, &m, &why, NULL, 0) == 0)
			need(batch_verify_hmac(p, size, key) == 0);
	}
	verify_batch(p, size);
	free(p);
}

static int valid_lines(const uint8_t *p, size_t n)
{
	if (n == 0 || p[n - 1] != '\n' || p[0] == '\n')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\n')
			return 0;
	return 1;
}

static void seal(const uint8_t *data, size_t size)
{
	struct batch_meta m;
	struct buf out, lines;
	char err[256];
	uint8_t *copy;
	int rc;

	memset(&m, 0, sizeof(m));
	strcpy(m.device_id, "f00d");
	strcpy(m.org_id, "fuzz org");
	m.seq = 1;
	m.key_id = 2;
	buf__init(&out, lim.max_batch_bytes);
	copy = malloc(size ? size : 1);
	need(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	rc = batch_seal(&m, (const char *)copy, size, key, 1, &out, err, sizeof(err));
	check_err(rc, err, sizeof(err));
	need(rc == 0 ? valid_lines(data, size) : rc == -EINVAL && !valid_lines(data, size));
	if (rc == 0) {
		struct batch_meta pm;
		enum batch_error why;

		need(out.len == BATCH_HEADER_LEN + (size_t)m.body_len + BATCH_HMAC_LEN);
		need(m.raw_len == size && m.event_count == count_nl((const char *)data, size));
		need(batch_parse((uint8_t *)out.data, out.len, &lim, &pm, &why, NULL, 0) == 0);
		need(pm.seq == 1 && pm.key_id == 2 && strcmp(pm.device_id, "f00d") == 0);
		need(verify_batch((uint8_t *)out.data, out.len) == 0);
		buf__init(&lines, lim.max_raw_bytes);
		need(batch_open((uint8_t *)out.data, out.len, &pm, &lim, &lines, &why, NULL, 0) ==
		     0);
		need(lines.len == size && memcmp(lines.data, data, size) == 0);
		buf__free(&lines);
	}
	free(copy);
	buf__free(&out);
}

static void blocks(const uint8_t *data, size_t size)
{
	struct blocks_enc *e;
	struct buf body, want, got;
	const char *p = (const char *)data, *end = p + size;
	uint32_t accepted = 0;
	char err[256];

	need(blocks_enc__new(&e) == 0);
	buf__init(&body, 1 << 22);
	buf__init(&want, 1 << 22);
	buf__init(&got, 1 << 22);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : 0;
		struct line_blocks bl = { 0 };
		int rc;

		if (!nl)
			break;
		if (len < 2) {	/* the batcher refuses empty lines before encoding */
			p = nl + 1;
			continue;
		}
		/* spans from the line's first bytes: n, then (start, length) pairs
		 * scaled to the line, short ones included (they stay inline) */
		bl.n = len > 1 ? (unsigned char)p[0] % (BLOCKS_MAX_SPANS + 2) : 0;
		for (unsigned i = 0; i < bl.n && i < BLOCKS_MAX_SPANS; i++) {
			unsigned char a = len > 2 + 2 * i ? (unsigned char)p[1 + 2 * i] : 0;
			unsigned char b = len > 3 + 2 * i ? (unsigned char)p[2 + 2 * i] : 0;

			bl.off[i] = (uint32_t)(a * len / 256);
			bl.len[i] = (uint32_t)(b * len / 128);
		}
		rc = blocks_enc__add(e, &body, p, len, &bl);
		if (rc == 0) {
			need(buf__add(&want, p, len) == 0);
			accepted++;
		} else {
			need(rc == -EINVAL && !blocks_line_ok(p, len));
		}
		p = nl + 1;
	}
	if (accepted) {
		need(blocks_expand(body.data, body.len, accepted, 1 << 22, &got, NULL,
				   err, sizeof(err)) == 0);
		need(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	}
	buf__free(&body);
	buf__free(&want);
	buf__free(&got);
	blocks_enc__free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1)
		return 0;
	/* Exactly sized heap copies, so ASan sees any read past the end. */
	copy = malloc(size - 1 ? size - 1 : 1);
	need(copy != NULL);
	if (size > 1)
		memcpy(copy, data + 1, size - 1);
	switch (data[0] & 7) {
	case 0:
		frames(copy, size - 1);
		break;
	case 1:
		verify_batch(copy, size - 1);
		break;
	case 2:
		reseal(copy, size - 1);
		break;
	case 4:
		blocks(copy, size - 1);
		break;
	default:
		seal(copy, size - 1);
	}
	free(copy);
	return 0;
}
