/* Shared blocks (ship/blocks.h): what the collector expands is byte for byte
 * what the agent's lines were (random lines over a pool of blocks, through
 * the encoder alone, through the batcher with its carries and caps, and
 * through batch_seal/batch_open); each distinct block is defined once per
 * batch; bad spans stay inline; a failed append leaves body and table as
 * they were; and the decoder refuses every malformed body (undefined,
 * non-canonical or unterminated references, empty lines, wrong counts,
 * expansion past the limit) without touching its output. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "ship/batch.h"
#include "ship/batcher.h"
#include "ship/blocks.h"
#include "ship/blocks_known.h"
#include "unit.h"

#define POOL 40
#define BLOCK_MAX 600

static char err[256];
static char pool[POOL][BLOCK_MAX];
static size_t pool_len[POOL];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Blocks shaped like the agent's: JSON objects with strings that hold
 * braces, escaped quotes and the reserved text (escaped, as in a string). */
static void make_pool(void)
{
	for (int i = 0; i < POOL; i++) {
		int n = snprintf(pool[i], BLOCK_MAX,
				 "{\"pid\":%d,\"cmd\":\"sh -c \\\"{\\\"@\\\":%d}\\\" }{\",\"user\":{\"uid\":%d}",
				 1000 + i, i, i % 3);

		while (n < 64 + (i * 13) % 400) {
			pool[i][n] = (char)('a' + (n + i) % 26);
			n++;
		}
		pool[i][n++] = '}';
		pool[i][n] = '\0';
		pool_len[i] = (size_t)n;
	}
	pool[7][0] = 'x';	/* not every span is an object; the bytes are what matter */
	pool_len[9] = 5;	/* under BLOCKS_MAX_SPANS: stays inline */
	pool[9][5] = '\0';
}

/* An event line with 0..2 blocks from the pool; spans in bl. */
static size_t make_line(char *line, size_t cap, struct line_blocks *bl, int k)
{
	size_t n = 0;
	int nb = (int)rnd(3);

	memset(bl, 0, sizeof(*bl));
	n += (size_t)snprintf(line + n, cap - n, "{\"message_header\":{\"id\":%d},\"activity_data\":{",
			      k);
	for (int i = 0; i < nb; i++) {
		int b = (int)rnd(POOL);

		n += (size_t)snprintf(line + n, cap - n, "%s\"%s\":", i ? "," : "",
				      i ? "parent_process_details" : "process_details");
		bl->off[bl->n] = (uint32_t)n;
		bl->len[bl->n++] = (uint32_t)pool_len[b];
		memcpy(line + n, pool[b], pool_len[b]);
		n += pool_len[b];
	}
	n += (size_t)snprintf(line + n, cap - n, "%s\"file_details\":{\"path\":\"/tmp/%u\"}}}\n",
			      nb ? "," : "", rnd(1000));
	return n;
}

static void test_round_trip(void)
{
	struct blocks_enc *e;
	struct blocks_enc_stats st;
	struct buf body, want, got;
	char line[4096];
	int lines = 0;

	CHECK_INT(blocks_enc__new(&e), 0);
	buf__init(&body, 1u << 24);
	buf__init(&want, 1u << 24);
	buf__init(&got, 1u << 24);
	for (int k = 0; k < 3000; k++) {
		struct line_blocks bl;
		size_t n = make_line(line, sizeof(line), &bl, k);

		CHECK(blocks_line_ok(line, n));
		CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
		buf__add(&want, line, n);
		lines++;
		if (rnd(500) == 0 || k == 2999) {
			buf__reset(&got);
			CHECK_INT(blocks_expand(body.data, body.len, (uint32_t)lines, 1u << 24, &got,
						NULL, err, sizeof(err)), 0);
			CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
			/* a definition per distinct usable block, never more */
			CHECK(blocks_enc__count(e) <= POOL - 1);
			buf__reset(&body);
			buf__reset(&want);
			blocks_enc__reset(e);
			lines = 0;
		}
	}
	blocks_enc__stats(e, &st);
	CHECK(st.shared > st.defined * 5);
	CHECK(st.inline_spans > 0);	/* pool[9] is too short */
	CHECK(st.bytes_out * 2 < st.bytes_in);
	buf__free(&body);
	buf__free(&want);
	buf__free(&got);
	blocks_enc__free(e);
}

static void test_spans_and_reserved(void)
{
	struct blocks_enc *e;
	struct buf body, got;
	char line[2048];
	struct line_blocks bl = { 0 };
	size_t n;

	CHECK_INT(blocks_enc__new(&e), 0);
	buf__init(&body, 1 << 20);
	buf__init(&got, 1 << 20);
	n = (size_t)snprintf(line, sizeof(line), "{\"a\":%s,\"b\":%s}\n", pool[0], pool[1]);
	/* overlapping, backwards, running into the '\n': all left inline */
	bl = (struct line_blocks){ .off = { 5, 6 }, .len = { (uint32_t)pool_len[0], 70 }, .n = 2 };
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
	bl = (struct line_blocks){ .off = { (uint32_t)(n - 65), 5 }, .len = { 65, 10 }, .n = 2 };
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
	bl = (struct line_blocks){ .off = { 5 }, .len = { (uint32_t)pool_len[0] }, .n = 7 };
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);	/* n capped at 2 */
	CHECK_INT(blocks_enc__count(e), 1);
	CHECK_INT(blocks_expand(body.data, body.len, 3, 1 << 20, &got, NULL, err, sizeof(err)), 0);
	CHECK(got.len == 3 * n && memcmp(got.data, line, n) == 0 &&
	      memcmp(got.data + 2 * n, line, n) == 0);

	/* the encoder refuses what the collector would misread, where it is
	 * copied as it is; inside a shared block it is only data */
	buf__reset(&body);
	blocks_enc__reset(e);
	n = (size_t)snprintf(line, sizeof(line), "{\"a\":%s,\"b\":{\"@\":0}}\n", pool[0]);
	bl = (struct line_blocks){ .off = { 5 }, .len = { (uint32_t)pool_len[0] }, .n = 1 };
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), -EINVAL);
	CHECK_INT(body.len, 0);
	CHECK_INT(blocks_enc__count(e), 0);
	CHECK_INT(blocks_enc__add(e, &body, "@{}\n", 4, NULL), -EINVAL);
	n = (size_t)snprintf(line, sizeof(line), "{\"a\":{\"@\":0,\"pad\":\"%070d\"}}\n", 0);
	bl = (struct line_blocks){ .off = { 5 }, .len = { (uint32_t)(n - 7) }, .n = 1 };
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
	CHECK_INT(blocks_enc__count(e), 1);
	buf__reset(&got);
	CHECK_INT(blocks_expand(body.data, body.len, 1, 1 << 20, &got, NULL, err, sizeof(err)), 0);
	CHECK(got.len == n && memcmp(got.data, line, n) == 0);

	/* reserved: '@' first, {"@": anywhere; '@' elsewhere and escaped is fine */
	CHECK(!blocks_line_ok("@x\n", 3));
	CHECK(!blocks_line_ok("{\"a\":{\"@\":1}}\n", 14));
	CHECK(!blocks_line_ok("{\"@\":\n", 7));
	CHECK(blocks_line_ok("{\"@\"\n", 6));
	CHECK(blocks_line_ok("{\"u\":\"a@b\",\"@x\":\"{\\\"@\\\":1}\"}\n", 29));
	CHECK(blocks_line_ok("@\n" + 1, 1));
	buf__free(&body);
	buf__free(&got);
	blocks_enc__free(e);
}

static void test_undo(void)
{
	struct blocks_enc *e;
	struct buf body;
	char line[2048];
	struct line_blocks bl = { 0 };
	size_t n, before;

	CHECK_INT(blocks_enc__new(&e), 0);
	n = (size_t)snprintf(line, sizeof(line), "{\"a\":%s,\"b\":%s}\n", pool[2], pool[3]);
	bl = (struct line_blocks){ .off = { 5, (uint32_t)(5 + pool_len[2] + 5) },
				   .len = { (uint32_t)pool_len[2], (uint32_t)pool_len[3] }, .n = 2 };
	/* room for the definitions but not the line */
	buf__init(&body, pool_len[2] + pool_len[3] + 4 + 10);
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), -E2BIG);
	CHECK_INT(body.len, 0);
	CHECK_INT(blocks_enc__count(e), 0);
	buf__free(&body);
	buf__init(&body, 1 << 16);
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
	before = body.len;
	CHECK_INT(blocks_enc__count(e), 2);
	CHECK(before <= n + BLOCKS_LINE_SLACK);
	/* the second time: references only */
	CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
	CHECK(body.len - before < n - pool_len[2] - pool_len[3] + 2 * 8);
	CHECK(memmem(body.data + before, body.len - before, "{\"@\":0}", 7) != NULL);
	CHECK(memmem(body.data + before, body.len - before, "{\"@\":1}", 7) != NULL);
	buf__free(&body);
	blocks_enc__free(e);
}

static void test_many_blocks(void)
{
	struct blocks_enc *e;
	struct blocks_enc_stats st;
	struct buf body, got;
	char line[256];
	const uint32_t n_lines = BLOCKS_MAX_PER_BATCH + 100;

	CHECK_INT(blocks_enc__new(&e), 0);
	buf__init(&body, 1u << 26);
	buf__init(&got, 1u << 26);
	for (uint32_t i = 0; i < n_lines; i++) {
		int n = snprintf(line, sizeof(line), "{\"p\":{\"pid\":%010u,\"pad\":\"%050d\"}}\n", i, 0);
		struct line_blocks bl = { .off = { 5 }, .len = { (uint32_t)n - 7 }, .n = 1 };

		if (blocks_enc__add(e, &body, line, (size_t)n, &bl))
			break;
	}
	blocks_enc__stats(e, &st);
	CHECK_INT(blocks_enc__count(e), BLOCKS_MAX_PER_BATCH);
	CHECK_INT(st.inline_spans, 100);
	CHECK(memmem(body.data, body.len, "{\"@\":65535}", 11) != NULL);
	CHECK_INT(blocks_expand(body.data, body.len, n_lines, 1u << 26, &got, NULL, err, sizeof(err)), 0);
	CHECK_INT(got.len, (size_t)n_lines * (size_t)snprintf(line, sizeof(line),
			  "{\"p\":{\"pid\":%010u,\"pad\":\"%050d\"}}\n", 0u, 0));
	buf__free(&body);
	buf__free(&got);
	blocks_enc__free(e);
}

static int stored_get_eio(void *ctx, uint64_t seq, uint32_t k, const char **p, size_t *n)
{
	(void)ctx, (void)seq, (void)k, (void)p, (void)n;
	return -EIO;
}

/* The collector's side of remote references in these tests: the bodies of
 * the batches "stored" so far, by seq; get finds the k-th definition. */
#define STORED_MAX 64
static struct buf stored[STORED_MAX + 1];
static unsigned gets;

static int stored_get(void *ctx, uint64_t seq, uint32_t k, const char **p, size_t *n)
{
	(void)ctx;
	gets++;
	if (!seq || seq > STORED_MAX || !stored[seq].data)
		return -ENOENT;
	for (const char *s = stored[seq].data, *end = s + stored[seq].len; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (*s == '@' && k-- == 0) {
			*p = s + 1;
			*n = (size_t)(nl - s - 1);
			return 0;
		}
		s = nl + 1;
	}
	return -ENOENT;
}

/* Batches 1..N through the encoder with a known table: a block becomes a
 * remote reference only after its batch was confirmed (stored), never
 * before; every body expands back to its lines through the stored ones;
 * an unknown batch or block expands to the unresolved marker, counted;
 * seen gets the batches referred to. */
static void test_remote(void)
{
	struct blocks_known *kn;
	struct blocks_known_stats ks;
	struct blocks_enc *e;
	struct blocks_enc_stats st;
	struct blocks_resolver res;
	struct buf body, want, got;
	uint64_t seen[64];
	char line[4096];

	CHECK_INT(blocks_known__new(&kn, 1000, 1 << 20), 0);
	CHECK_INT(blocks_enc__new(&e), 0);
	blocks_enc__use_known(e, kn);
	buf__init(&body, 1u << 24);
	buf__init(&want, 1u << 24);
	buf__init(&got, 1u << 24);
	for (uint64_t seq = 1; seq <= 12; seq++) {
		uint32_t lines = 0;

		buf__reset(&body);
		buf__reset(&want);
		blocks_enc__reset(e);
		for (int k = 0; k < 200; k++) {
			struct line_blocks bl;
			size_t n = make_line(line, sizeof(line), &bl, k);

			CHECK_INT(blocks_enc__add(e, &body, line, n, &bl), 0);
			buf__add(&want, line, n);
			lines++;
		}
		/* batch 1 has no earlier batch; batch 2 neither: 1 is not
		 * confirmed until after 2 is sealed (an ACK that comes late) */
		if (seq <= 2)
			CHECK(!memmem(body.data, body.len, "{\"@\":1.", 7));
		/* by then every pool block is in a stored batch: none defined */
		if (seq >= 4)
			CHECK_INT(blocks_enc__count(e), 0);
		memset(seen, 0xff, sizeof(seen));
		memset(&res, 0, sizeof(res));
		res.get = stored_get;
		res.seen = seen;
		res.seen_max = 64;
		memset(seen, 0, sizeof(seen));
		buf__reset(&got);
		CHECK_INT(blocks_expand(body.data, body.len, lines, 1u << 24, &got, &res, err,
					sizeof(err)), 0);
		CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
		CHECK_INT(res.unresolved, 0);
		for (unsigned i = 0; i < 64; i++)
			CHECK(seen[i] < seq);	/* only stored batches, 0 for free slots */
		if (seq >= 4)
			CHECK(res.remote > 0 && res.seen_count > 0);
		/* without a resolver, a remote reference is malformed */
		if (res.remote) {
			buf__reset(&got);
			CHECK_INT(blocks_expand(body.data, body.len, lines, 1u << 24, &got, NULL,
						err, sizeof(err)), -EBADMSG);
			CHECK(strstr(err, "remote") != NULL);
			CHECK_INT(got.len, 0);
		}
		/* "stored": sealed, staged, and its ACK arrives one batch late */
		buf__init(&stored[seq], 1u << 24);
		buf__add(&stored[seq], body.data, body.len);
		CHECK_INT(blocks_known__stage(kn, seq, body.data, body.len), 0);
		if (seq >= 2)
			blocks_known__confirm(kn, seq - 1);
	}
	blocks_enc__stats(e, &st);
	CHECK(st.remote > 0);
	blocks_known__stats(kn, &ks);
	CHECK(ks.hits > 0 && ks.confirmed > 0 && ks.entries <= POOL);

	/* A batch the collector does not have: the unresolved marker, counted,
	 * and the same bytes every time (a stored row is found again at its
	 * offset when read back). */
	buf__free(&stored[5]);
	memset(&res, 0, sizeof(res));
	res.get = stored_get;
	{
		const char *b = "{\"a\":{\"@\":5.0},\"b\":{\"@\":3.65535}}\n";
		const char *w = "{\"a\":{\"unresolved_block\":\"5.0\"},"
				"\"b\":{\"unresolved_block\":\"3.65535\"}}\n";

		buf__reset(&got);
		CHECK_INT(blocks_expand(b, strlen(b), 1, 1 << 20, &got, &res, err, sizeof(err)), 0);
		CHECK_STR(got.data, w);
		CHECK_INT(res.unresolved, 2);
		CHECK_INT(res.remote, 2);
	}
	/* Malformed remote references: refused whatever the resolver says. */
	{
		static const char *const bad[] = {
			"{\"@\":0.1}\n", "{\"@\":01.1}\n", "{\"@\":1.01}\n", "{\"@\":1.}\n",
			"{\"@\":.1}\n", "{\"@\":1.65536}\n", "{\"@\":1.2.3}\n",
			"{\"@\":12345678901234567890.1}\n", "{\"@\":1.1\n", "{\"@\":1 .1}\n",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			gets = 0;
			buf__reset(&got);
			CHECK_INT(blocks_expand(bad[i], strlen(bad[i]), 1, 1 << 20, &got, &res, err,
						sizeof(err)), -EBADMSG);
			CHECK_INT(gets, 0);
			CHECK_INT(got.len, 0);
		}
	}
	/* A resolver that cannot tell fails the expansion with its errno. */
	{
		const char *b = "{\"@\":1.0}\n";

		memset(&res, 0, sizeof(res));
		res.get = stored_get_eio;
		buf__reset(&got);
		CHECK_INT(blocks_expand(b, strlen(b), 1, 1 << 20, &got, &res, err, sizeof(err)), -EIO);
		CHECK_INT(got.len, 0);
	}
	for (unsigned i = 0; i <= STORED_MAX; i++)
		buf__free(&stored[i]);
	buf__free(&body);
	buf__free(&want);
	buf__free(&got);
	blocks_enc__free(e);
	blocks_known__free(kn);
}

/* The known table stays within its bounds, least recently used out first,
 * and only confirmed blocks are found. */
static void test_known_bounds(void)
{
	struct blocks_known *kn;
	struct blocks_known_stats ks;
	char body[64 * 32];
	uint64_t seq;
	uint32_t k;
	size_t n = 0;

	CHECK_INT(blocks_known__new(&kn, 8, 1 << 20), 0);
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "@block-%02d-%s\nevent\n", i,
				      "................................");
	CHECK_INT(blocks_known__stage(kn, 7, body, n), 0);
	blocks_known__stats(kn, &ks);
	CHECK_INT(ks.entries, 8);
	CHECK_INT(ks.evicted, 12);
	CHECK(!blocks_known__find(kn, "block-19-................................", 41, &seq, &k));
	blocks_known__confirm(kn, 7);
	CHECK(blocks_known__find(kn, "block-19-................................", 41, &seq, &k));
	CHECK_INT(seq, 7);
	CHECK_INT(k, 19);
	CHECK(!blocks_known__find(kn, "block-11-................................", 41, &seq, &k));
	CHECK(blocks_known__find(kn, "block-12-................................", 41, &seq, &k));
	CHECK_INT(k, 12);
	/* by bytes: 100 bytes hold two of them */
	blocks_known__free(kn);
	CHECK_INT(blocks_known__new(&kn, 8, 100), 0);
	CHECK_INT(blocks_known__stage(kn, 9, body, n), 0);
	blocks_known__stats(kn, &ks);
	CHECK_INT(ks.entries, 2);
	CHECK(ks.bytes <= 100);
	blocks_known__clear(kn);
	blocks_known__stats(kn, &ks);
	CHECK_INT(ks.entries, 0);
	CHECK_INT(ks.bytes, 0);
	CHECK(!blocks_known__find(kn, "block-19-................................", 41, &seq, &k));
	CHECK_INT(blocks_known__stage(kn, 10, body, n), 0);	/* usable again after */
	blocks_known__confirm(kn, 10);
	CHECK(blocks_known__find(kn, "block-19-................................", 41, &seq, &k));
	blocks_known__free(kn);
	CHECK_INT(blocks_known__new(&kn, 0, 100), -EINVAL);
}

static int expand_str(const char *body, uint32_t events, size_t max_out, struct buf *out)
{
	return blocks_expand(body, strlen(body), events, max_out, out, NULL, err, sizeof(err));
}

static void test_expand_refuses(void)
{
	static const struct {
		const char *body;
		uint32_t events;
		int ret;
	} cases[] = {
		{ "@{\"x\":1}\n{\"p\":{\"@\":0}}\n", 1, 0 },
		{ "@{\"x\":1}\n{\"p\":{\"@\":1}}\n", 1, -EBADMSG },	/* undefined */
		{ "{\"p\":{\"@\":0}}\n@{\"x\":1}\n", 1, -EBADMSG },	/* defined below */
		{ "@{\"x\":1}\n{\"p\":{\"@\":00}}\n", 1, -EBADMSG },	/* leading zero */
		{ "@{\"x\":1}\n{\"p\":{\"@\":-0}}\n", 1, -EBADMSG },
		{ "@{\"x\":1}\n{\"p\":{\"@\":0 }}\n", 1, -EBADMSG },
		{ "@{\"x\":1}\n{\"p\":{\"@\":}}\n", 1, -EBADMSG },
		{ "@{\"x\":1}\n{\"p\":{\"@\":000000}}\n", 1, -EBADMSG },
		{ "@{\"x\":1}\n{\"p\":{\"@\":0\n", 1, -EBADMSG },	/* cut at the line end */
		{ "@{\"x\":1}\n{\"p\":{\"@\":9999999999}}\n", 1, -EBADMSG },
		{ "@\n{}\n", 1, -EBADMSG },				/* empty definition */
		{ "@{}\n\n{}\n", 1, -EBADMSG },				/* empty line */
		{ "@{}\n{}", 1, -EBADMSG },				/* unterminated */
		{ "@{}\n{}\n{}\n", 1, -EBADMSG },			/* more events */
		{ "@{}\n{}\n", 2, -EBADMSG },				/* fewer */
		{ "@{}\n", 0, 0 },
		{ "@{}\n{}\n{}\n", BLOCKS_ANY_EVENTS, 0 },
	};
	struct buf out;

	buf__init(&out, 1 << 20);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		buf__reset(&out);
		buf__add(&out, "keep", 4);
		ret = expand_str(cases[i].body, cases[i].events, 1 << 20, &out);
		if (ret != cases[i].ret)
			fprintf(stderr, "case %zu: %s -> %d (%s)\n", i, cases[i].body, ret, err);
		CHECK_INT(ret, cases[i].ret);
		if (ret)
			CHECK(out.len == 4 && memcmp(out.data, "keep", 4) == 0 && err[0]);
	}
	buf__reset(&out);
	CHECK_INT(expand_str("@{\"x\":1}\n{\"p\":{\"@\":0}}\n", 1, 1 << 20, &out), 0);
	CHECK_STR(out.data, "{\"p\":{\"x\":1}}\n");
	buf__free(&out);
}

/* A reference multiplies bytes: the expansion is held to max_out, and an
 * output buffer's cap is an error of its own. */
static void test_expand_bomb(void)
{
	struct buf body, out;
	char block[1024];

	memset(block, 'b', sizeof(block));
	buf__init(&body, 1 << 24);
	buf__add(&body, "@", 1);
	buf__add(&body, block, sizeof(block));
	buf__add(&body, "\n", 1);
	for (int i = 0; i < 1000; i++)
		buf__add(&body, "{\"@\":0}", 7);
	buf__add(&body, "\n", 1);
	buf__init(&out, 1 << 24);
	CHECK_INT(blocks_expand(body.data, body.len, 1, 100000, &out, NULL, err, sizeof(err)), -EMSGSIZE);
	CHECK_INT(out.len, 0);
	CHECK_INT(blocks_expand(body.data, body.len, 1, 2000000, &out, NULL, err, sizeof(err)), 0);
	CHECK_INT(out.len, 1024001);
	buf__free(&out);
	buf__init(&out, 100000);
	CHECK_INT(blocks_expand(body.data, body.len, 1, 2000000, &out, NULL, err, sizeof(err)), -E2BIG);
	CHECK_INT(out.len, 0);
	buf__free(&out);
	buf__free(&body);
}

/* The batcher with shared blocks: batches within max_bytes both as sent and
 * as expanded, the carried line starts the next batch's table, every line
 * comes back in order through seal and open. */
static void test_batcher_and_batch(void)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	struct batcher *b;
	struct batcher_stats bst;
	struct buf want, got, sealed;
	char line[4096];
	size_t max = 200000, len;
	uint64_t sent = 0, back = 0;
	uint32_t count, seq = 0;

	CHECK_INT(batcher__new(&b, max, 1000, 1000), 0);
	CHECK_INT(batcher__share_blocks(b), 0);
	CHECK_INT(batcher__flags(b), BATCH_FLAG_BLOCKS);
	buf__init(&want, 1 << 24);
	buf__init(&got, 1 << 24);
	buf__init(&sealed, BATCH_MAX_BATCH_BYTES);
	CHECK_INT(batcher__add(b, "@x\n", 3, 0, err, sizeof(err)), -EINVAL);
	for (int k = 0; k < 5000; k++) {
		struct line_blocks bl;
		size_t n = make_line(line, sizeof(line), &bl, k);
		int rc = batcher__add_blocks(b, line, n, &bl, (uint64_t)k, err, sizeof(err));

		CHECK(rc == 0 || rc == 1);
		buf__add(&want, line, n);
		sent += n;
		if (rc == 1 || k == 4999) {
			for (int t = 0; t < 2 && batcher__count(b); t++) {
				struct batch_meta m = { .device_id = "ab", .key_id = 1,
							.created_ns = 1 };
				const char *p = batcher__take(b, &len, &count);
				enum batch_error why;

				CHECK(len <= max);
				m.seq = ++seq;
				m.flags = batcher__flags(b);
				buf__reset(&sealed);
				CHECK_INT(batch_seal(&m, p, len, key, 1, &sealed, err, sizeof(err)), 0);
				CHECK_INT(m.event_count, count);
				CHECK_INT(m.flags, BATCH_FLAG_ZSTD | BATCH_FLAG_BLOCKS);
				CHECK_INT(batch_parse((uint8_t *)sealed.data, sealed.len, NULL, &m, &why,
						      err, sizeof(err)), 0);
				len = got.len;
				CHECK_INT(batch_open((uint8_t *)sealed.data, sealed.len, &m, NULL, &got,
						     &why, err, sizeof(err)), 0);
				CHECK(got.len - len <= max);	/* expanded within the cap too */
				back += got.len - len;
				if (k == 4999 && !batcher__count(b))
					break;
			}
		}
	}
	CHECK_INT(back, sent);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	batcher__stats(b, &bst);
	CHECK(bst.body_bytes * 2 < bst.plain_bytes);
	CHECK_INT(bst.plain_bytes, sent);
	buf__free(&want);
	buf__free(&got);
	buf__free(&sealed);
	batcher__free(b);
}

/* A body whose references are bad is refused by batch_open as
 * event_count, even with a valid HMAC and events hash. */
static void test_open_refuses(void)
{
	static const uint8_t key[32] = { 9 };
	struct batch_meta m = { .device_id = "ab", .key_id = 1, .seq = 1, .created_ns = 1,
				.flags = BATCH_FLAG_BLOCKS };
	const char *body = "@{\"x\":1}\n{\"p\":{\"@\":3}}\n";
	struct buf sealed, got;
	enum batch_error why;

	buf__init(&sealed, 1 << 20);
	buf__init(&got, 1 << 20);
	CHECK_INT(batch_seal(&m, body, strlen(body), key, 1, &sealed, err, sizeof(err)), 0);
	CHECK_INT(m.event_count, 1);
	CHECK_INT(batch_open((uint8_t *)sealed.data, sealed.len, &m, NULL, &got, &why, err,
			     sizeof(err)), -EBADMSG);
	CHECK_INT(why, BATCH_EVENT_COUNT);
	CHECK_INT(got.len, 0);
	/* without the flag the same body is plain lines: "@..." is an event */
	m.flags = BATCH_FLAG_ZSTD;
	buf__reset(&sealed);
	CHECK_INT(batch_seal(&m, body, strlen(body), key, 1, &sealed, err, sizeof(err)), 0);
	CHECK_INT(m.event_count, 2);
	CHECK_INT(m.flags, BATCH_FLAG_ZSTD);
	buf__free(&sealed);
	buf__free(&got);
}

int main(void)
{
	make_pool();
	test_round_trip();
	test_spans_and_reserved();
	test_undo();
	test_many_blocks();
	test_expand_refuses();
	test_expand_bomb();
	test_batcher_and_batch();
	test_open_refuses();
	test_remote();
	test_known_bounds();
	return unit_report("blocks");
}
