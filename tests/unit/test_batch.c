/* batch_seal/parse/verify_hmac/open: round trips, and hostile batches: every
 * single-bit flip, every truncation, wrong keys, oversized declared lengths,
 * bodies re-signed with a stale events hash or a wrong count, and a zstd bomb
 * that must be refused without allocating what it claims. Hostile batches are
 * built here from the byte layout in docs/pipeline.md, independently of
 * batch.c's encoder, and parsed from exactly sized heap copies so the ASan
 * build catches a read past the end. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "lib/buf.h"
#include "ship/batch.h"
#include "unit.h"

static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[32] = "0123456789abcdef0123456789abcdeF";
static char err[512];

static void meta_init(struct batch_meta *m, uint64_t seq)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->device_id, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
	strcpy(m->org_id, "Acme Corp / lab-7");
	m->key_id = 3;
	m->seq = seq;
	m->created_ns = 1732240000123456789ull;
}

/* n JSON-ish lines of about size bytes each. */
static void make_lines(struct buf *b, unsigned n, unsigned size)
{
	for (unsigned i = 0; i < n; i++) {
		size_t start = b->len;

		buf__addf(b, "{\"type\":\"process_exec\",\"seq\":%u,\"pid\":%u,\"comm\":\"bash\","
			     "\"args\":\"", i, 1000 + i * 7);
		while (b->len - start + 3 < size)
			buf__addc(b, (char)('a' + (b->len * 31 + i) % 26));
		buf__adds(b, "\"}\n");
	}
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (n)
		memcpy(q, p, n);
	return q;
}

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

/* A batch from the documented layout, signed with k; *n its size. */
static void sha(const void *p, size_t n, uint8_t md[32])
{
	EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
}

/* When set, build() writes this events hash instead of the body's own: a
 * stale hash. */
static const uint8_t *stale_hash;

static uint8_t *build(const struct batch_meta *m, const void *body, size_t body_len,
		      const uint8_t *k, size_t *n)
{
	size_t dlen = strlen(m->device_id), olen = strlen(m->org_id), maclen = 0;
	uint8_t *p;

	*n = 176 + body_len + 32;
	p = calloc(1, *n);
	memcpy(p, "VGB1", 4);
	put16(p + 4, 1);
	put16(p + 6, 176);
	put32(p + 8, m->flags);
	put32(p + 12, m->key_id);
	put64(p + 16, m->seq);
	put64(p + 24, m->created_ns);
	put32(p + 32, m->event_count);
	put32(p + 36, m->raw_len);
	put32(p + 40, (uint32_t)body_len);
	p[44] = (uint8_t)dlen;
	p[45] = (uint8_t)olen;
	memcpy(p + 48, m->device_id, dlen);
	memcpy(p + 80, m->org_id, olen);
	if (body_len)
		memcpy(p + 176, body, body_len);
	/* the events hash is over the body as sent */
	if (stale_hash)
		memcpy(p + 144, stale_hash, 32);
	else
		sha(p + 176, body_len, p + 144);
	EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k, 32, p, 176 + body_len, p + *n - 32, 32,
		  &maclen);
	return p;
}


/* Runs the collector's three steps; returns the reason (BATCH_OK when all
 * passed) and leaves the lines in out. */
static enum batch_error verify_all(const uint8_t *p, size_t n, const struct batch_limits *lim,
				   const uint8_t *k, struct buf *out, int *rc)
{
	struct batch_meta m;
	enum batch_error why = BATCH_ERROR_MAX;

	*rc = batch_parse(p, n, lim, &m, &why, err, sizeof(err));
	if (*rc)
		return why;
	if (why != BATCH_OK)
		return BATCH_ERROR_MAX;
	*rc = batch_verify_hmac(p, n, k);
	if (*rc)
		return BATCH_BAD_HMAC;
	*rc = batch_open(p, n, &m, lim, out, &why, err, sizeof(err));
	return why;
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* A zstd body of `real` zero bytes, streamed so the test never holds them;
 * with pledge the frame header declares that size. */
static size_t bomb_body(uint8_t *dst, size_t cap, size_t real, int pledge)
{
	static const uint8_t zeros[1 << 16];
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_outBuffer o = { dst, cap, 0 };
	size_t left = real, r;

	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
	if (pledge)
		ZSTD_CCtx_setPledgedSrcSize(c, real);
	while (left) {
		size_t chunk = left < sizeof(zeros) ? left : sizeof(zeros);
		ZSTD_inBuffer in = { zeros, chunk, 0 };

		ZSTD_compressStream2(c, &o, &in, ZSTD_e_continue);
		left -= chunk;
	}
	do {
		ZSTD_inBuffer in = { NULL, 0, 0 };

		r = ZSTD_compressStream2(c, &o, &in, ZSTD_e_end);
	} while (r && !ZSTD_isError(r) && o.pos < cap);
	ZSTD_freeCCtx(c);
	return o.pos;
}

/* First, while the peak RSS is still low: a body that declares 4 KiB of
 * lines but inflates to 128 MiB must fail without the RSS growing by more
 * than a few MiB (a decoder trusting the frame would write 128 MiB). */
static void test_bomb(void)
{
	static uint8_t body[1 << 20];
	struct batch_meta m;
	struct buf out;
	const size_t real = 128u << 20;
	int rc;

	for (int pledge = 0; pledge <= 1; pledge++) {
		size_t blen = bomb_body(body, sizeof(body), real, pledge), n;
		uint8_t *p;
		long before;

		CHECK(blen > 0 && blen < sizeof(body) / 2);
		meta_init(&m, 1);
		m.flags = BATCH_FLAG_ZSTD;
		m.raw_len = 4096;
		m.event_count = 1;
		p = build(&m, body, blen, key, &n);
		buf__init(&out, 256u << 20);
		before = maxrss_kb();
		CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_DECOMPRESS);
		CHECK_INT(rc, -EBADMSG);
		CHECK_INT(out.len, 0);
		CHECK(maxrss_kb() - before < 16 * 1024);
		/* The same body declaring more than the limit stops at parse. */
		free(p);
		m.raw_len = (uint32_t)BATCH_MAX_RAW_BYTES + 1;
		p = build(&m, body, blen, key, &n);
		CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_TOO_BIG);
		CHECK_INT(rc, -EMSGSIZE);
		free(p);
		buf__free(&out);
	}
}

static void test_names(void)
{
	CHECK_STR(batch_error_name(BATCH_OK), "ok");
	CHECK_STR(batch_error_name(BATCH_MALFORMED), "malformed");
	CHECK_STR(batch_error_name(BATCH_BAD_HMAC), "bad_hmac");
	CHECK_STR(batch_error_name(BATCH_DECOMPRESS), "decompress");
	CHECK_STR(batch_error_name(BATCH_EVENTS_HASH), "events_hash");
	CHECK_STR(batch_error_name(BATCH_EVENT_COUNT), "event_count");
	CHECK_STR(batch_error_name(BATCH_TOO_BIG), "too_big");
	CHECK_STR(batch_error_name(BATCH_ERROR_MAX), "unknown");
	CHECK_STR(batch_error_name((enum batch_error)-1), "unknown");
}

static void test_round_trip(void)
{
	struct batch_meta m, pm;
	struct buf lines, sealed, out;
	enum batch_error why;
	uint8_t *p, md[32];
	int level, rc;

	for (level = 1; level <= 3; level += 2) {
		buf__init(&lines, 8u << 20);
		buf__init(&sealed, 16u << 20);
		buf__init(&out, 8u << 20);
		make_lines(&lines, 1000, 1500);
		meta_init(&m, 42);
		rc = batch_seal(&m, lines.data, lines.len, key, level, &sealed, err, sizeof(err));
		CHECK_INT(rc, 0);
		CHECK_STR(err, "");
		CHECK_INT(m.event_count, 1000);
		CHECK_INT(m.raw_len, lines.len);
		CHECK_INT(m.flags, BATCH_FLAG_ZSTD);
		CHECK_INT(sealed.len, 176 + m.body_len + 32);
		CHECK(m.body_len < lines.len / 3);	/* JSON compresses */
		sha(sealed.data + 176, m.body_len, md);	/* the body as sent */
		CHECK(memcmp(md, m.events_sha256, 32) == 0);

		p = dup_bytes(sealed.data, sealed.len);
		why = BATCH_ERROR_MAX;
		CHECK_INT(batch_parse(p, sealed.len, NULL, &pm, &why, err, sizeof(err)), 0);
		CHECK_INT(why, BATCH_OK);
		CHECK_STR(pm.device_id, m.device_id);
		CHECK_STR(pm.org_id, m.org_id);
		CHECK_INT(pm.key_id, 3);
		CHECK(pm.seq == 42 && pm.created_ns == m.created_ns);
		CHECK(pm.event_count == 1000 && pm.raw_len == m.raw_len &&
		      pm.body_len == m.body_len && pm.flags == BATCH_FLAG_ZSTD);
		CHECK(memcmp(pm.events_sha256, m.events_sha256, 32) == 0);
		CHECK_INT(batch_verify_hmac(p, sealed.len, key), 0);
		CHECK_INT(batch_verify_hmac(p, sealed.len, key2), -EBADMSG);
		CHECK_INT(batch_open(p, sealed.len, &pm, NULL, &out, &why, err, sizeof(err)), 0);
		CHECK_INT(why, BATCH_OK);
		CHECK(out.len == lines.len && memcmp(out.data, lines.data, lines.len) == 0);
		free(p);
		buf__free(&lines);
		buf__free(&sealed);
		buf__free(&out);
	}

	/* Two batches in one buffer: each seal covers only its own bytes. */
	buf__init(&sealed, 1 << 20);
	buf__init(&out, 1 << 20);
	meta_init(&m, 1);
	CHECK_INT(batch_seal(&m, "{\"a\":1}\n", 8, key, 1, &sealed, err, sizeof(err)), 0);
	{
		size_t first = sealed.len;

		meta_init(&m, 2);
		strcpy(m.org_id, "");
		CHECK_INT(batch_seal(&m, "{\"b\":2}\n{\"c\":3}\n", 16, key, 1, &sealed, err,
				     sizeof(err)), 0);
		p = dup_bytes(sealed.data + first, sealed.len - first);
		CHECK_INT(verify_all(p, sealed.len - first, NULL, key, &out, &rc), BATCH_OK);
		CHECK_INT(rc, 0);
		CHECK_STR(out.data, "{\"b\":2}\n{\"c\":3}\n");
		free(p);
		buf__reset(&out);
		p = dup_bytes(sealed.data, first);
		CHECK_INT(verify_all(p, first, NULL, key, &out, &rc), BATCH_OK);
		CHECK_STR(out.data, "{\"a\":1}\n");
		free(p);
	}
	buf__free(&sealed);
	buf__free(&out);
}

/* An uncompressed body (flags 0) is valid when body_len == raw_len. */
static void test_stored(void)
{
	const char *l = "{\"x\":1}\n{\"y\":2}\n";
	struct batch_meta m;
	struct buf out;
	uint8_t *p;
	size_t n;
	int rc;

	buf__init(&out, 1 << 20);
	meta_init(&m, 7);
	m.flags = 0;
	m.event_count = 2;
	m.raw_len = (uint32_t)strlen(l);
	sha(l, m.raw_len, m.events_sha256);
	p = build(&m, l, m.raw_len, key, &n);
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_OK);
	CHECK_STR(out.data, l);
	free(p);
	m.raw_len++;	/* stored body shorter than raw_len */
	p = build(&m, l, m.raw_len - 1, key, &n);
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_MALFORMED);
	/* Open checks it too, whatever meta it is handed: no read past p. */
	{
		struct batch_meta pm = m;
		enum batch_error why;

		pm.body_len = m.raw_len - 1;
		buf__reset(&out);
		CHECK_INT(batch_open(p, n, &pm, NULL, &out, &why, err, sizeof(err)), -EBADMSG);
		CHECK_INT(why, BATCH_MALFORMED);
		CHECK_INT(out.len, 0);
	}
	free(p);
	buf__free(&out);
}

/* Every single-bit flip anywhere, and every truncation, is refused. */
static void test_flips_and_truncation(void)
{
	struct batch_meta m, pm;
	struct buf lines, sealed;
	enum batch_error why;
	unsigned flips = 0, caught = 0, by_parse = 0;
	uint8_t *p;
	size_t n, i;

	buf__init(&lines, 1 << 20);
	buf__init(&sealed, 1 << 20);
	make_lines(&lines, 3, 120);
	meta_init(&m, 9);
	CHECK_INT(batch_seal(&m, lines.data, lines.len, key, 3, &sealed, err, sizeof(err)), 0);
	n = sealed.len;
	p = malloc(n);
	for (i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(p, sealed.data, n);
			p[i] ^= (uint8_t)(1u << bit);
			flips++;
			if (batch_parse(p, n, NULL, &pm, &why, err, sizeof(err)) != 0) {
				caught++;
				by_parse++;
				CHECK(why == BATCH_MALFORMED || why == BATCH_TOO_BIG);
				CHECK(strncmp(err, "batch: ", 7) == 0);
			} else if (batch_verify_hmac(p, n, key) != 0) {
				caught++;
			}
		}
	}
	CHECK_INT(caught, flips);
	CHECK(by_parse > 0 && by_parse < flips);
	free(p);

	for (i = 0; i < n; i++) {
		p = dup_bytes(sealed.data, i);
		CHECK_INT(batch_parse(p, i, NULL, &pm, &why, err, sizeof(err)), -EBADMSG);
		CHECK_INT(why, BATCH_MALFORMED);
		CHECK_INT(batch_verify_hmac(p, i, key), -EBADMSG);
		free(p);
	}
	/* One byte too many. */
	p = calloc(1, n + 1);
	memcpy(p, sealed.data, n);
	CHECK_INT(batch_parse(p, n + 1, NULL, &pm, &why, err, sizeof(err)), -EBADMSG);
	CHECK_INT(batch_verify_hmac(p, n + 1, key), -EBADMSG);
	free(p);
	buf__free(&lines);
	buf__free(&sealed);
}

/* A body changed and re-signed (someone holding the key, or a bug) but with
 * the header's stale events hash; and counts that do not match the lines. */
static void test_hash_and_count(void)
{
	const char *l = "{\"user\":\"alice\"}\n{\"user\":\"bob\"}\n";
	char changed[64];
	uint8_t body[256];
	struct batch_meta m;
	struct buf out;
	uint8_t *p;
	size_t n, blen;
	int rc;

	buf__init(&out, 1 << 20);
	meta_init(&m, 5);
	m.flags = BATCH_FLAG_ZSTD;
	m.event_count = 2;
	m.raw_len = (uint32_t)strlen(l);
	sha(l, m.raw_len, m.events_sha256);
	strcpy(changed, l);
	changed[10] = 'A';	/* alice -> Alice */
	/* re-signed (HMAC right) but the events hash is the original body's */
	blen = ZSTD_compress(body, sizeof(body), l, m.raw_len, 3);
	sha(body, blen, m.events_sha256);
	stale_hash = m.events_sha256;
	blen = ZSTD_compress(body, sizeof(body), changed, m.raw_len, 3);
	p = build(&m, body, blen, key, &n);
	stale_hash = NULL;
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_EVENTS_HASH);
	CHECK_INT(rc, -EBADMSG);
	CHECK_INT(out.len, 0);
	free(p);

	blen = ZSTD_compress(body, sizeof(body), l, m.raw_len, 3);
	p = build(&m, body, blen, key, &n);
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_OK);
	free(p);
	buf__reset(&out);
	for (uint32_t c = 1; c <= 3; c += 2) {	/* 1 and 3 where there are 2 */
		m.event_count = c;
		p = build(&m, body, blen, key, &n);
		CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_EVENT_COUNT);
		CHECK_INT(out.len, 0);
		free(p);
	}

	/* Hash right, but not clean lines: unterminated, then an empty one. */
	{
		static const char *bad[] = { "{\"a\":1}\n{\"b\"", "{\"a\":1}\n\n{\"b\":1}\n" };
		static const uint32_t counts[] = { 2, 3 };

		for (int i = 0; i < 2; i++) {
			m.event_count = counts[i];
			m.raw_len = (uint32_t)strlen(bad[i]);
			sha(bad[i], m.raw_len, m.events_sha256);
			blen = ZSTD_compress(body, sizeof(body), bad[i], m.raw_len, 1);
			p = build(&m, body, blen, key, &n);
			CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_EVENT_COUNT);
			free(p);
		}
	}

	/* A body that decompresses to fewer bytes than raw_len; one that is
	 * not zstd at all; zstd followed by garbage. */
	m.event_count = 2;
	m.raw_len = (uint32_t)strlen(l) + 10;
	sha(l, strlen(l), m.events_sha256);
	blen = ZSTD_compress(body, sizeof(body), l, strlen(l), 3);
	p = build(&m, body, blen, key, &n);
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_DECOMPRESS);
	free(p);
	m.raw_len = (uint32_t)strlen(l);
	p = build(&m, l, strlen(l), key, &n);	/* flag says zstd, body is plain */
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_DECOMPRESS);
	free(p);
	body[blen] = 0x55;
	p = build(&m, body, blen + 1, key, &n);
	CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_DECOMPRESS);
	free(p);
	CHECK_INT(out.len, 0);
	buf__free(&out);
}

/* Header fields out of range, each checked by parse before any key. */
static void test_header_fields(void)
{
	const char *l = "{\"a\":1}\n";
	struct batch_limits lim = batch_default_limits;
	struct batch_meta m, base, pm;
	enum batch_error why;
	uint8_t body[64], *p;
	size_t n, blen;

	meta_init(&base, 1);
	base.flags = BATCH_FLAG_ZSTD;
	base.event_count = 1;
	base.raw_len = 8;
	sha(l, 8, base.events_sha256);
	blen = ZSTD_compress(body, sizeof(body), l, 8, 1);

#define EXPECT(mutate, rc_want, why_want)                                                  \
	do {                                                                               \
		m = base;                                                                  \
		p = build(&m, body, blen, key, &n);                                        \
		mutate;                                                                    \
		why = BATCH_ERROR_MAX;                                                     \
		CHECK_INT(batch_parse(p, n, &lim, &pm, &why, err, sizeof(err)), rc_want); \
		CHECK_INT(why, why_want);                                                  \
		free(p);                                                                   \
	} while (0)

	EXPECT((void)0, 0, BATCH_OK);
	EXPECT(p[0] = 'X', -EBADMSG, BATCH_MALFORMED);
	EXPECT(put16(p + 4, 2), -EBADMSG, BATCH_MALFORMED);	/* version */
	EXPECT(put16(p + 6, 177), -EBADMSG, BATCH_MALFORMED);	/* header length */
	EXPECT(put32(p + 8, 0x5), -EBADMSG, BATCH_MALFORMED);	/* unknown flag */
	EXPECT(put32(p + 8, 0x3), 0, BATCH_OK);			/* zstd + shared blocks */
	EXPECT(put64(p + 16, 0), -EBADMSG, BATCH_MALFORMED);	/* seq 0 */
	EXPECT(put32(p + 32, 0), -EBADMSG, BATCH_MALFORMED);	/* no events */
	EXPECT(put32(p + 36, 0), -EBADMSG, BATCH_MALFORMED);	/* no bytes */
	EXPECT(put32(p + 32, 5), -EBADMSG, BATCH_MALFORMED);	/* 5 lines in 8 bytes */
	EXPECT(put32(p + 40, 0xffffffffu), -EBADMSG, BATCH_MALFORMED);
	EXPECT(put32(p + 40, (uint32_t)blen + 1), -EBADMSG, BATCH_MALFORMED);
	EXPECT(put32(p + 40, (uint32_t)blen - 1), -EBADMSG, BATCH_MALFORMED);
	EXPECT(put16(p + 46, 1), -EBADMSG, BATCH_MALFORMED);	/* reserved */
	EXPECT(p[44] = 0, -EBADMSG, BATCH_MALFORMED);		/* empty device id */
	EXPECT(p[44] = 33, -EBADMSG, BATCH_MALFORMED);		/* device id too long */
	EXPECT(p[44] = 31, -EBADMSG, BATCH_MALFORMED);		/* padding not zero */
	EXPECT(p[50] = 'A', -EBADMSG, BATCH_MALFORMED);		/* uppercase hex */
	EXPECT(p[45] = 65, -EBADMSG, BATCH_MALFORMED);		/* org id too long */
	EXPECT(p[81] = '\n', -EBADMSG, BATCH_MALFORMED);	/* org id control char */
	EXPECT(p[45] = 0, -EBADMSG, BATCH_MALFORMED);		/* org padding not zero */
	EXPECT(put32(p + 36, (uint32_t)BATCH_MAX_RAW_BYTES + 1), -EMSGSIZE, BATCH_TOO_BIG);
	EXPECT(put32(p + 36, 0xffffffffu), -EMSGSIZE, BATCH_TOO_BIG);
	EXPECT(put32(p + 32, BATCH_MAX_EVENTS + 1); put32(p + 36, 8u << 20), -EMSGSIZE,
	       BATCH_TOO_BIG);
	lim.max_batch_bytes = 176 + 32 + blen - 1;
	EXPECT((void)0, -EMSGSIZE, BATCH_TOO_BIG);
	lim = batch_default_limits;
	lim.max_raw_bytes = 7;
	EXPECT((void)0, -EMSGSIZE, BATCH_TOO_BIG);
	lim = batch_default_limits;
	lim.max_events = 0;
	EXPECT((void)0, -EMSGSIZE, BATCH_TOO_BIG);
#undef EXPECT

	/* batch_open re-checks what it is given against p and lim. */
	{
		struct buf out;
		int rc;

		buf__init(&out, 1 << 20);
		m = base;
		p = build(&m, body, blen, key, &n);
		CHECK_INT(batch_parse(p, n, NULL, &pm, &why, err, sizeof(err)), 0);
		pm.body_len++;
		CHECK_INT(batch_open(p, n, &pm, NULL, &out, &why, err, sizeof(err)), -EBADMSG);
		CHECK_INT(why, BATCH_MALFORMED);
		pm.body_len--;
		lim = batch_default_limits;
		lim.max_raw_bytes = 4;
		CHECK_INT(batch_open(p, n, &pm, &lim, &out, &why, err, sizeof(err)), -EMSGSIZE);
		CHECK_INT(why, BATCH_TOO_BIG);
		buf__free(&out);
		buf__init(&out, 7);	/* one byte short */
		CHECK_INT(batch_open(p, n, &pm, NULL, &out, &why, err, sizeof(err)), -E2BIG);
		CHECK_INT(why, BATCH_TOO_BIG);
		CHECK_INT(out.len, 0);
		buf__free(&out);
		buf__init(&out, 8);
		CHECK_INT(verify_all(p, n, NULL, key, &out, &rc), BATCH_OK);
		CHECK_STR(out.data, l);
		buf__free(&out);
		free(p);
	}
}

/* What batch_seal refuses, and that a refusal appends nothing. */
static void test_seal_refusals(void)
{
	struct batch_meta m;
	struct buf out;
	char big[40];

	buf__init(&out, 1 << 20);
	buf__adds(&out, "keep");
#define REFUSE(setup, l_, n_, rc_want)                                                 \
	do {                                                                               \
		meta_init(&m, 1);                                                          \
		setup;                                                                     \
		CHECK_INT(batch_seal(&m, l_, n_, key, 1, &out, err, sizeof(err)), rc_want);   \
		CHECK(strncmp(err, "batch: ", 7) == 0);                                    \
		CHECK_INT(out.len, 4);                                                     \
	} while (0)

	REFUSE((void)0, "", 0, -EINVAL);			/* empty batch */
	REFUSE((void)0, NULL, 0, -EINVAL);
	REFUSE((void)0, "\n", 1, -EINVAL);			/* empty line */
	REFUSE((void)0, "{}\n\n{}\n", 7, -EINVAL);
	REFUSE((void)0, "{}\n{}", 5, -EINVAL);			/* unterminated */
	REFUSE(m.device_id[0] = '\0', "{}\n", 3, -EINVAL);
	REFUSE(m.device_id[0] = 'A', "{}\n", 3, -EINVAL);
	REFUSE(m.device_id[3] = '-', "{}\n", 3, -EINVAL);
	REFUSE(memset(m.device_id, 'a', sizeof(m.device_id)), "{}\n", 3, -EINVAL);
	REFUSE(m.org_id[2] = '\t', "{}\n", 3, -EINVAL);
	REFUSE(m.org_id[2] = (char)0xc3, "{}\n", 3, -EINVAL);
	REFUSE(memset(m.org_id, 'o', sizeof(m.org_id)), "{}\n", 3, -EINVAL);
	REFUSE(m.seq = 0, "{}\n", 3, -EINVAL);
#undef REFUSE
	CHECK_STR(out.data, "keep");

	/* No room in out: nothing appended, -E2BIG. */
	buf__free(&out);
	buf__init(&out, 176 + 32 + 5);
	meta_init(&m, 1);
	memset(big, 'z', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	CHECK_INT(batch_seal(&m, big, sizeof(big), key, 1, &out, err, sizeof(err)), -E2BIG);
	CHECK_INT(out.len, 0);
	CHECK(out.toobig);
	buf__free(&out);
}

int main(void)
{
	test_bomb();
	test_names();
	test_round_trip();
	test_stored();
	test_flips_and_truncation();
	test_hash_and_count();
	test_header_fields();
	test_seal_refusals();
	batch_thread_free();
	return unit_report("batch");
}
