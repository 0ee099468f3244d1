/* The frame reader fed a known stream split at every byte boundary, one byte
 * at a time and all at once; lengths over the limit (refused as soon as the 4
 * length bytes are in), zero lengths, unknown types, sticky failure; and the
 * HELLO, ACK and ERROR payload codecs against exact bytes and hostile
 * lengths. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "ship/batch.h"
#include "ship/frame.h"
#include "unit.h"

_Static_assert(FRAME_MAX_DEFAULT == BATCH_MAX_BATCH_BYTES + 1,
	       "a BATCH frame must hold the largest sealed batch");

struct got {
	uint8_t type;
	size_t len;
	uint8_t first, last;
};

/* Drains r into g (at most max frames); returns the last next() result. */
static int drain(struct frame_reader *r, struct got *g, size_t max, size_t *ng)
{
	const uint8_t *p;
	uint8_t type;
	size_t len;
	int rc;

	while ((rc = frame_reader__next(r, &type, &p, &len)) == 1) {
		if (*ng < max) {
			g[*ng].type = type;
			g[*ng].len = len;
			g[*ng].first = len ? p[0] : 0;
			g[*ng].last = len ? p[len - 1] : 0;
		}
		(*ng)++;
	}
	return rc;
}

/* HELLO, a 1000-byte BATCH, an empty BATCH, ACK, ERROR. */
static void make_stream(struct buf *s, struct got *want, size_t *nwant)
{
	static uint8_t payload[1000];
	struct frame_ack a = { .seq = 77, .status = FRAME_ACK_STORED, .reason = 0 };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 + 1);
	buf__init(s, 1 << 20);
	CHECK_INT(frame_hello_append(s, "00ff"), 0);
	want[n++] = (struct got){ FRAME_HELLO, 7, 0x00, 'f' };
	CHECK_INT(frame_append(s, FRAME_BATCH, payload, sizeof(payload)), 0);
	want[n++] = (struct got){ FRAME_BATCH, 1000, payload[0], payload[999] };
	CHECK_INT(frame_append(s, FRAME_BATCH, NULL, 0), 0);
	want[n++] = (struct got){ FRAME_BATCH, 0, 0, 0 };
	CHECK_INT(frame_ack_append(s, &a), 0);
	want[n++] = (struct got){ FRAME_ACK, 11, 0, 0 };
	CHECK_INT(frame_error_append(s, 9, "bye"), 0);
	want[n++] = (struct got){ FRAME_ERROR, 7, 0, 'e' };
	*nwant = n;
}

static int same(const struct got *a, const struct got *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].type != b[i].type || a[i].len != b[i].len || a[i].first != b[i].first ||
		    a[i].last != b[i].last)
			return 0;
	return 1;
}

static void test_splits(void)
{
	struct got want[8], g[8];
	struct frame_reader *r;
	struct buf s;
	size_t nwant, ng, k, bad = 0;

	make_stream(&s, want, &nwant);
	CHECK_INT(s.len, (4 + 1 + 7) + (5 + 1000) + 5 + (5 + 11) + (5 + 7));
	/* Exact bytes of the first frame: len 8, type 1, version 1, id. */
	CHECK(memcmp(s.data, "\0\0\0\x08\x01\0\x01\x04" "00ff", 12) == 0);

	for (k = 0; k <= s.len; k++) {
		int rc1, rc2;

		ng = 0;
		CHECK_INT(frame_reader__new(&r, 4096), 0);
		rc1 = frame_reader__feed(r, s.data, k);
		rc1 |= drain(r, g, 8, &ng);
		rc2 = frame_reader__feed(r, s.data + k, s.len - k);
		rc2 |= drain(r, g, 8, &ng);
		if (rc1 || rc2 || ng != nwant || !same(g, want, nwant) ||
		    frame_reader__pending(r) != 0)
			bad++;
		frame_reader__free(r);
	}
	CHECK_INT(bad, 0);

	/* One byte at a time; and the whole stream three times in one feed. */
	ng = 0;
	CHECK_INT(frame_reader__new(&r, 4096), 0);
	for (k = 0; k < s.len; k++) {
		CHECK_INT(frame_reader__feed(r, s.data + k, 1), 0);
		if (drain(r, g, 8, &ng) != 0)
			bad++;
		if (k + 1 < s.len)
			CHECK(frame_reader__pending(r) > 0 || ng > 0);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(ng, nwant);
	CHECK(same(g, want, nwant));
	frame_reader__free(r);

	{
		struct buf three;
		struct got g3[16];

		buf__init(&three, 1 << 20);
		for (int i = 0; i < 3; i++)
			buf__add(&three, s.data, s.len);
		ng = 0;
		CHECK_INT(frame_reader__new(&r, 4096), 0);
		CHECK_INT(frame_reader__feed(r, three.data, three.len), 0);
		CHECK_INT(drain(r, g3, 16, &ng), 0);
		CHECK_INT(ng, 3 * nwant);
		CHECK(same(g3 + 2 * nwant, want, nwant));
		frame_reader__free(r);
		buf__free(&three);
	}
	buf__free(&s);
}

static int next_rc(struct frame_reader *r)
{
	const uint8_t *p;
	uint8_t type;
	size_t len;

	return frame_reader__next(r, &type, &p, &len);
}

static void test_hostile_headers(void)
{
	static const struct {
		uint8_t b[5];
		size_t n;	/* bytes fed */
		int rc;
	} cases[] = {
		{ { 0, 0, 0x10, 0x01, 2 }, 4, -EMSGSIZE },	/* 4097 > 4096, type not yet in */
		{ { 0xff, 0xff, 0xff, 0xff, 2 }, 4, -EMSGSIZE },
		{ { 0x80, 0, 0, 0, 2 }, 5, -EMSGSIZE },
		{ { 0, 0, 0, 0, 2 }, 4, -EBADMSG },		/* zero length */
		{ { 0, 0, 0, 1, 0 }, 5, -EBADMSG },		/* type 0 */
		{ { 0, 0, 0x10, 0, 5 }, 5, -EBADMSG },		/* type 5, payload not yet in */
		{ { 0, 0, 0, 9, 0xff }, 5, -EBADMSG },
		{ { 0, 0, 0x10, 0, 2 }, 4, 0 },			/* exactly the limit: wait */
		{ { 0, 0, 0, 1, 3 }, 3, 0 },
	};
	struct frame_reader *r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(frame_reader__new(&r, 4096), 0);
		CHECK_INT(frame_reader__feed(r, cases[i].b, cases[i].n), 0);
		CHECK_INT(next_rc(r), cases[i].rc);
		if (cases[i].rc) {
			/* Failed for good: more bytes and more calls change nothing. */
			CHECK_INT(next_rc(r), cases[i].rc);
			CHECK_INT(frame_reader__feed(r, "\0\0\0\x01\x02", 5), cases[i].rc);
			CHECK_INT(next_rc(r), cases[i].rc);
		}
		frame_reader__free(r);
	}

	/* The smallest frame: length 1, type only. */
	CHECK_INT(frame_reader__new(&r, 1), 0);
	CHECK_INT(frame_reader__feed(r, "\0\0\0\x01\x03", 5), 0);
	{
		const uint8_t *p;
		uint8_t type;
		size_t len = 99;

		CHECK_INT(frame_reader__next(r, &type, &p, &len), 1);
		CHECK_INT(type, FRAME_ACK);
		CHECK_INT(len, 0);
		CHECK_INT(frame_reader__next(r, &type, &p, &len), 0);
	}
	CHECK_INT(frame_reader__feed(r, "\0\0\0\x02\x03", 5), 0);
	CHECK_INT(next_rc(r), -EMSGSIZE);
	frame_reader__free(r);

	CHECK_INT(frame_reader__new(&r, 0), -EINVAL);
	CHECK(r == NULL);
	CHECK_INT(frame_reader__new(&r, (size_t)UINT32_MAX + 1), -EINVAL);
	frame_reader__free(NULL);
}

/* A frame at the limit fed in 64 KiB pieces; a feed that cannot fit is
 * refused without being taken, and the reader goes on. */
static void test_big_and_nobufs(void)
{
	const size_t max = 1 << 20;
	struct frame_reader *r;
	struct buf s;
	uint8_t *payload = malloc(max - 1);
	const uint8_t *p;
	uint8_t type;
	size_t len, off;
	int rc = 0;

	for (size_t i = 0; i < max - 1; i++)
		payload[i] = (uint8_t)(i >> 8);
	buf__init(&s, 4u << 20);
	CHECK_INT(frame_append(&s, FRAME_BATCH, payload, max - 1), 0);
	CHECK_INT(frame_append(&s, FRAME_ACK, "x", 1), 0);
	CHECK_INT(frame_reader__new(&r, max), 0);
	for (off = 0; off < s.len && rc == 0; off += FRAME_FEED_MAX) {
		size_t n = s.len - off < FRAME_FEED_MAX ? s.len - off : FRAME_FEED_MAX;

		CHECK_INT(frame_reader__feed(r, s.data + off, n), 0);
		rc = frame_reader__next(r, &type, &p, &len);
	}
	CHECK_INT(rc, 1);
	CHECK(type == FRAME_BATCH && len == max - 1 && memcmp(p, payload, len) == 0);
	CHECK_INT(frame_reader__next(r, &type, &p, &len), 1);
	CHECK(type == FRAME_ACK && len == 1 && p[0] == 'x');
	CHECK_INT(frame_reader__pending(r), 0);
	frame_reader__free(r);

	/* Max 16: the buffer holds at most 4 + 16 + FRAME_FEED_MAX bytes. */
	buf__reset(&s);
	while (s.len < 2 * FRAME_FEED_MAX)
		frame_append(&s, FRAME_ACK, "0123456789", 10);
	CHECK_INT(frame_reader__new(&r, 16), 0);
	CHECK_INT(frame_reader__feed(r, s.data, 4 + 16 + FRAME_FEED_MAX + 1), -ENOBUFS);
	CHECK_INT(frame_reader__pending(r), 0);
	CHECK_INT(frame_reader__feed(r, s.data, 3), 0);	/* a partial header pending */
	CHECK_INT(frame_reader__feed(r, s.data + 3, FRAME_FEED_MAX), 0);
	CHECK_INT(frame_reader__feed(r, s.data + 3 + FRAME_FEED_MAX, 32), -ENOBUFS);
	{
		size_t ng = 0;
		struct got g[1];

		CHECK_INT(drain(r, g, 1, &ng), 0);
		CHECK_INT(ng, (3 + FRAME_FEED_MAX) / 15);
		CHECK_INT(frame_reader__feed(r, s.data + 3 + FRAME_FEED_MAX, 32), 0);
	}
	frame_reader__free(r);
	buf__free(&s);
	free(payload);
}

/* Random bytes: every frame returned respects the limit and a known type,
 * and the reader ends failed or waiting, never past its input. */
static void test_random(void)
{
	uint32_t x = 0x9e3779b9;
	unsigned bad = 0;

	for (int round = 0; round < 2000; round++) {
		struct frame_reader *r;
		uint8_t in[256];
		size_t n = (size_t)(round % 200) + 1, total = 0;
		const uint8_t *p;
		uint8_t type;
		size_t len;
		int rc;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* Small lengths often enough to see whole frames. */
			in[i] = (uint8_t)(i % 5 < 3 && (x & 3) ? 0 : x >> 8);
		}
		frame_reader__new(&r, 64);
		frame_reader__feed(r, in, n);
		while ((rc = frame_reader__next(r, &type, &p, &len)) == 1) {
			total += 5 + len;
			if (len + 1 > 64 || type < 1 || type > 4 || (len && !p))
				bad++;
		}
		if (!(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG) || total > n)
			bad++;
		frame_reader__free(r);
	}
	CHECK_INT(bad, 0);
}

static void test_append(void)
{
	struct buf b;

	buf__init(&b, 10);
	CHECK_INT(frame_append(&b, 0, "x", 1), -EINVAL);
	CHECK_INT(frame_append(&b, 5, "x", 1), -EINVAL);
	CHECK_INT(frame_append(&b, FRAME_BATCH, "0123456789", 6), -E2BIG);
	CHECK_INT(b.len, 0);
	CHECK(b.toobig);
	CHECK_INT(frame_append(&b, FRAME_BATCH, "012345", 5), 0);
	CHECK_INT(b.len, 10);
	CHECK(memcmp(b.data, "\0\0\0\x06\x02" "01234", 10) == 0);
	CHECK_INT(frame_append(&b, FRAME_ACK, NULL, 0), -E2BIG);
	CHECK_INT(b.len, 10);
	buf__free(&b);
}

static void test_hello(void)
{
	struct frame_hello h;
	struct buf b;
	uint8_t p[64];
	const char *id32 = "0123456789abcdef0123456789abcdef";

	buf__init(&b, 1024);
	CHECK_INT(frame_hello_append(&b, id32), 0);
	CHECK_INT(b.len, 5 + 3 + 32);
	CHECK_INT(frame_hello_decode((uint8_t *)b.data + 5, b.len - 5, &h), 0);
	CHECK_INT(h.version, FRAME_PROTOCOL_VERSION);
	CHECK_STR(h.device_id, id32);
	CHECK_INT(frame_hello_decode((uint8_t *)b.data + 5, b.len - 6, &h), -EBADMSG);
	CHECK_STR(h.device_id, "");
	CHECK_INT(frame_hello_decode((uint8_t *)b.data + 5, 0, &h), -EBADMSG);
	CHECK_INT(frame_hello_decode((uint8_t *)b.data + 5, 2, &h), -EBADMSG);
	memcpy(p, b.data + 5, b.len - 5);
	p[b.len - 5] = 'a';
	CHECK_INT(frame_hello_decode(p, b.len - 4, &h), -EBADMSG);	/* one byte more */
	p[1] = 2;
	CHECK_INT(frame_hello_decode(p, b.len - 5, &h), -EPROTONOSUPPORT);
	CHECK_INT(h.version, 2);

	/* id len 0, 33, a bad character */
	memcpy(p, "\0\x01\0", 3);
	CHECK_INT(frame_hello_decode(p, 3, &h), -EBADMSG);
	p[2] = 33;
	memset(p + 3, 'a', 33);
	CHECK_INT(frame_hello_decode(p, 36, &h), -EBADMSG);
	p[2] = 2;
	memcpy(p + 3, "aG", 2);
	CHECK_INT(frame_hello_decode(p, 5, &h), -EBADMSG);
	memcpy(p + 3, "a\0", 2);
	CHECK_INT(frame_hello_decode(p, 5, &h), -EBADMSG);
	memcpy(p + 3, "a9", 2);
	CHECK_INT(frame_hello_decode(p, 5, &h), 0);
	CHECK_STR(h.device_id, "a9");

	buf__reset(&b);
	CHECK_INT(frame_hello_append(&b, ""), -EINVAL);
	CHECK_INT(frame_hello_append(&b, "ABCD"), -EINVAL);
	CHECK_INT(frame_hello_append(&b, "0123456789abcdef0123456789abcdef0"), -EINVAL);
	CHECK_INT(b.len, 0);
	buf__free(&b);
}

static void test_ack(void)
{
	struct frame_ack a = { .seq = 0x0102030405060708ull, .status = FRAME_ACK_REJECTED,
			       .reason = 0xabcd }, d;
	struct buf b;
	uint8_t p[16];

	buf__init(&b, 1024);
	CHECK_INT(frame_ack_append(&b, &a), 0);
	CHECK_INT(b.len, 5 + FRAME_ACK_LEN);
	CHECK(memcmp(b.data, "\0\0\0\x0c\x03\x01\x02\x03\x04\x05\x06\x07\x08\x02\xab\xcd", 16) ==
	      0);
	CHECK_INT(frame_ack_decode((uint8_t *)b.data + 5, FRAME_ACK_LEN, &d), 0);
	CHECK(d.seq == a.seq && d.status == a.status && d.reason == a.reason);
	memcpy(p, b.data + 5, FRAME_ACK_LEN);
	CHECK_INT(frame_ack_decode(p, FRAME_ACK_LEN - 1, &d), -EBADMSG);
	CHECK_INT(frame_ack_decode(p, FRAME_ACK_LEN + 1, &d), -EBADMSG);
	CHECK_INT(frame_ack_decode(p, 0, &d), -EBADMSG);
	p[8] = 3;
	CHECK_INT(frame_ack_decode(p, FRAME_ACK_LEN, &d), -EBADMSG);
	CHECK(d.seq == 0);
	a.status = 3;
	buf__reset(&b);
	CHECK_INT(frame_ack_append(&b, &a), -EINVAL);
	CHECK_INT(b.len, 0);
	buf__free(&b);
}

static void test_error(void)
{
	struct buf b;
	uint16_t code;
	char text[8], big[FRAME_ERROR_TEXT_MAX + 10];
	uint8_t p[4 + FRAME_ERROR_TEXT_MAX + 2];

	buf__init(&b, 1 << 16);
	CHECK_INT(frame_error_append(&b, 0x0102, "bad\x1b[31m"), 0);
	CHECK(memcmp(b.data, "\0\0\0\x0d\x04\x01\x02\0\x08" "bad", 12) == 0);
	CHECK_INT(frame_error_decode((uint8_t *)b.data + 5, b.len - 5, &code, text, sizeof(text)),
		  0);
	CHECK_INT(code, 0x0102);
	CHECK_STR(text, "bad?[31");	/* ESC replaced, cut to fit */
	CHECK_INT(frame_error_decode((uint8_t *)b.data + 5, b.len - 6, &code, text, sizeof(text)),
		  -EBADMSG);
	CHECK_INT(frame_error_decode((uint8_t *)b.data + 5, 3, &code, text, sizeof(text)),
		  -EBADMSG);

	/* Longer text is cut at FRAME_ERROR_TEXT_MAX when sent ... */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf__reset(&b);
	CHECK_INT(frame_error_append(&b, 1, big), 0);
	CHECK_INT(b.len, 5 + 4 + FRAME_ERROR_TEXT_MAX);
	/* ... and refused when received. */
	memset(p, 'y', sizeof(p));
	p[0] = 0;
	p[1] = 1;
	p[2] = (FRAME_ERROR_TEXT_MAX + 1) >> 8;
	p[3] = (FRAME_ERROR_TEXT_MAX + 1) & 0xff;
	CHECK_INT(frame_error_decode(p, 4 + FRAME_ERROR_TEXT_MAX + 1, &code, text, sizeof(text)),
		  -EBADMSG);
	CHECK_INT(frame_error_append(&b, 2, NULL), 0);
	buf__free(&b);
}

int main(void)
{
	test_splits();
	test_hostile_headers();
	test_big_and_nobufs();
	test_random();
	test_append();
	test_hello();
	test_ack();
	test_error();
	return unit_report("frame");
}
