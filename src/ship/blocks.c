/* Shared blocks in a batch body (blocks.h). The encoder keeps, per batch, an
 * open-addressing table of the blocks the body defines: seeded XXH3 of the
 * block -> where its definition is in the body. A hit is confirmed with
 * memcmp against that definition, so a hash collision can only cost a
 * comparison, never a wrong reference. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#include "lib/err.h"
#include "ship/blocks.h"
#include "ship/blocks_known.h"

#define REF_HEAD "{\"@\":"
#define REF_HEAD_LEN 5
#define REF_MAX_DIGITS 5	/* BLOCKS_MAX_PER_BATCH - 1 = 65535 */
#define SEQ_MAX_DIGITS 19	/* below 10^19: fits in 64 bits */
#define REF_REMOTE UINT32_MAX	/* slot id: an alias of a block of an earlier batch */
#define TABLE_MIN 256u
#define MAX_PROBES 16u		/* past this a block stays inline: bounded work per span */

_Static_assert(BLOCKS_MAX_PER_BATCH - 1 <= 99999, "references have at most 5 digits");
_Static_assert(BLOCKS_LINE_SLACK >= BLOCKS_MAX_SPANS * (2 + REF_HEAD_LEN + REF_MAX_DIGITS + 1),
	       "slack covers the definitions' framing and the references");

struct slot {
	uint64_t hash;
	uint32_t off, len;	/* the block's bytes in the body (after its '@'), or in
				 * the aliases when rseq is set */
	uint32_t id;		/* 0: empty; else block number + 1, or REF_REMOTE */
	uint32_t rk;		/* REF_REMOTE: block rk of batch rseq */
	uint64_t rseq;
};

struct blocks_enc {
	struct slot *tab;
	uint32_t cap;		/* power of two */
	uint32_t used;		/* blocks defined since the reset */
	uint32_t slots;		/* taken: definitions and aliases */
	uint64_t seed;
	struct blocks_known *known;
	/* Copies of the remote blocks this batch used: later uses in the
	 * batch find them here (a lookup in the known table hashes the whole
	 * block and takes its lock), and a copy, since the table may drop its
	 * own before this table is reset. */
	struct buf alias;
	struct blocks_enc_stats st;
};

uint64_t blocks_hash_seed(const void *owner)
{
	uint64_t seed;

	/* Not a secret worth failing for: without getrandom the seed is the
	 * owner's address mixed, still unknown to a process outside. */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)(uintptr_t)owner ^ XXH3_64bits(&owner, sizeof(owner));
	return seed;
}

int blocks_enc__new(struct blocks_enc **out)
{
	struct blocks_enc *e;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->tab = calloc(TABLE_MIN, sizeof(*e->tab));
	if (!e->tab) {
		free(e);
		return -ENOMEM;
	}
	e->cap = TABLE_MIN;
	buf__init(&e->alias, (size_t)1 << 30);
	e->seed = blocks_hash_seed(e);
	*out = e;
	return 0;
}

void blocks_enc__free(struct blocks_enc *e)
{
	if (!e)
		return;
	free(e->tab);
	buf__free(&e->alias);
	free(e);
}

void blocks_enc__use_known(struct blocks_enc *e, struct blocks_known *kn)
{
	e->known = kn;
}

void blocks_enc__reset(struct blocks_enc *e)
{
	if (e->slots)
		memset(e->tab, 0, (size_t)e->cap * sizeof(*e->tab));
	e->used = 0;
	e->slots = 0;
	buf__reset(&e->alias);
}

uint32_t blocks_enc__count(const struct blocks_enc *e)
{
	return e->used;
}

void blocks_enc__stats(const struct blocks_enc *e, struct blocks_enc_stats *st)
{
	*st = e->st;
}

/* Doubles the table (load <= 1/2). -ENOMEM leaves it as it was. */
static int grow(struct blocks_enc *e)
{
	uint32_t ncap = e->cap * 2, mask = ncap - 1;
	struct slot *nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->cap; i++) {
		uint32_t j;

		if (!e->tab[i].id)
			continue;
		for (j = (uint32_t)e->tab[i].hash & mask; nt[j].id; j = (j + 1) & mask)
			;
		nt[j] = e->tab[i];
	}
	free(e->tab);
	e->tab = nt;
	e->cap = ncap;
	return 0;
}

/* The slot holding block (p, n) in this body, or the empty slot where it
 * would go (*found false), or NULL when MAX_PROBES slots hold other blocks. */
static struct slot *lookup(struct blocks_enc *e, const struct buf *body, const char *p, uint32_t n,
			   uint64_t h, bool *found)
{
	uint32_t mask = e->cap - 1, i = (uint32_t)h & mask;

	*found = false;
	for (unsigned probe = 0; probe < MAX_PROBES; probe++, i = (i + 1) & mask) {
		struct slot *s = &e->tab[i];

		if (!s->id)
			return s;
		if (s->hash == h && s->len == n &&
		    memcmp((s->rseq ? e->alias.data : body->data) + s->off, p, n) == 0) {
			*found = true;
			return s;
		}
	}
	return NULL;
}

/* The first {"@": in [p, p + n), or NULL. '@' is rare in JSON, so memchr
 * for it (vectorised) and a look around beat memmem's general search by
 * ~10x on 3 KB lines: this runs on every line, on both sides. */
static const char *find_ref(const char *p, size_t n)
{
	const char *end = p + n, *at = p + 2;

	if (n < REF_HEAD_LEN)
		return NULL;
	while (at + 3 <= end && (at = memchr(at, '@', (size_t)(end - at) - 2))) {
		if (at[-2] == '{' && at[-1] == '"' && at[1] == '"' && at[2] == ':')
			return at - 2;
		at++;
	}
	return NULL;
}

/* Which slot a block starts probing at. Only its length and its ends are
 * hashed: a process block's ends hold its name, ids and exec id, and every
 * match is confirmed with memcmp anyway, so blocks that differ only in the
 * middle (the same process after a chdir) just probe one slot further.
 * Hashing whole 1.6 KB blocks was 40 % of the encoder's time. */
static uint64_t block_hash(const struct blocks_enc *e, const char *p, uint32_t n)
{
	if (n <= 128)
		return XXH3_64bits_withSeed(p, n, e->seed);
	return XXH3_64bits_withSeed(p, 64, e->seed ^ n) ^
	       (XXH3_64bits_withSeed(p + n - 64, 64, e->seed) * 0x9e3779b97f4a7c15ull);
}

static size_t put_digits(char *dst, uint64_t v)
{
	char digits[20];
	size_t nd = 0, n = 0;

	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (nd)
		dst[n++] = digits[--nd];
	return n;
}

/* {"@":k}, or {"@":seq.k} when seq is not 0. */
static size_t ref_write(char *dst, uint64_t seq, uint32_t k)
{
	size_t n = REF_HEAD_LEN;

	memcpy(dst, REF_HEAD, REF_HEAD_LEN);
	if (seq) {
		n += put_digits(dst + n, seq);
		dst[n++] = '.';
	}
	n += put_digits(dst + n, k);
	dst[n++] = '}';
	return n;
}

#define REF_BUF (REF_HEAD_LEN + SEQ_MAX_DIGITS + 1 + REF_MAX_DIGITS + 1)

static bool span_ok(const struct line_blocks *bl, unsigned i, size_t from, size_t len)
{
	return bl->len[i] >= BLOCKS_MIN_LEN && bl->off[i] >= from &&
	       (size_t)bl->off[i] + bl->len[i] < len;	/* the '\n' stays outside */
}

int blocks_enc__add(struct blocks_enc *e, struct buf *out, const char *line, size_t len,
		    const struct line_blocks *bl)
{
	struct slot *added[BLOCKS_MAX_SPANS];
	uint32_t ref[BLOCKS_MAX_SPANS] = { 0 };	/* block number + 1; 0: inline */
	uint64_t rseq[BLOCKS_MAX_SPANS] = { 0 };	/* the earlier batch ref is in; 0: this */
	size_t start = out->len, from = 0, alias_start = e->alias.len;
	bool toobig = out->toobig;
	unsigned nspans = bl ? (bl->n < BLOCKS_MAX_SPANS ? bl->n : BLOCKS_MAX_SPANS) : 0;
	unsigned nadded = 0;
	int ret = 0;

	if (len && line[0] == '@')
		return -EINVAL;
	e->st.lines++;
	e->st.bytes_in += len;
	/* Definitions first: an event line only refers to blocks above it. */
	for (unsigned i = 0; i < nspans; i++) {
		const char *p = line + bl->off[i];
		uint32_t n = bl->len[i];
		struct slot *s;
		uint64_t h;
		uint32_t k;
		bool found;

		e->st.spans++;
		ref[i] = 0;
		if (!span_ok(bl, i, from, len)) {
			e->st.inline_spans++;
			continue;
		}
		from = (size_t)bl->off[i] + n;
		h = block_hash(e, p, n);
		s = lookup(e, out, p, n, h, &found);
		if (found && s->rseq) {
			ref[i] = s->rk + 1;
			rseq[i] = s->rseq;
			e->st.remote++;
			continue;
		}
		if (found) {
			ref[i] = s->id;
			e->st.shared++;
			continue;
		}
		/* Looked up once per batch and block: its later uses in this
		 * batch find the alias (or, without room for one, come here). */
		if (e->known && blocks_known__find(e->known, p, n, &rseq[i], &k)) {
			ref[i] = k + 1;
			e->st.remote++;
			if (s && e->alias.len <= UINT32_MAX - n && !buf__add(&e->alias, p, n)) {
				*s = (struct slot){ .hash = h, .off = (uint32_t)(e->alias.len - n),
						    .len = n, .id = REF_REMOTE, .rk = k,
						    .rseq = rseq[i] };
				added[nadded++] = s;
				e->slots++;
			}
			continue;
		}
		if (!s || e->used >= BLOCKS_MAX_PER_BATCH) {
			e->st.inline_spans++;
			continue;
		}
		ret = buf__add(out, "@", 1) ?: buf__add(out, p, n) ?: buf__add(out, "\n", 1);
		if (ret)
			goto undo;
		*s = (struct slot){ .hash = h, .off = (uint32_t)(out->len - 1 - n), .len = n,
				    .id = ++e->used };
		added[nadded++] = s;
		e->slots++;
		ref[i] = s->id;
		e->st.defined++;
	}
	/* What is copied as it is must hold no reference: the collector
	 * would expand it. The shared spans go into definitions, which it
	 * copies whole, and a reference put next to copied bytes cannot
	 * form a false one with them (a reference starts with its own {"). */
	from = 0;
	for (unsigned i = 0; i <= nspans; i++) {
		size_t to = i < nspans ? bl->off[i] : len;

		if (i < nspans && !ref[i])
			continue;
		if (find_ref(line + from, to - from)) {
			ret = -EINVAL;
			goto undo;
		}
		if (i < nspans)
			from = (size_t)bl->off[i] + bl->len[i];
	}
	/* The line, each shared span replaced by its reference. */
	from = 0;
	for (unsigned i = 0; i < nspans; i++) {
		char r[REF_BUF];

		if (!ref[i])
			continue;
		ret = buf__add(out, line + from, bl->off[i] - from) ?:
		      buf__add(out, r, ref_write(r, rseq[i], ref[i] - 1));
		if (ret)
			goto undo;
		from = (size_t)bl->off[i] + bl->len[i];
	}
	ret = buf__add(out, line + from, len - from);
	if (ret)
		goto undo;
	/* Keep the load at most 1/2 for short probes; a failed grow only
	 * means longer ones (and, past MAX_PROBES, inline blocks). */
	if (e->slots * 2 > e->cap && e->cap < 4 * BLOCKS_MAX_PER_BATCH)
		(void)grow(e);
	e->st.bytes_out += out->len - start;
	return 0;
undo:
	/* A slot taken here was empty before, so no older block's probe
	 * passes through it: emptying them (last first) restores the table. */
	while (nadded) {
		struct slot *x = added[--nadded];

		if (x->id != REF_REMOTE) {
			e->used--;
			e->st.defined--;
		}
		*x = (struct slot){ 0 };
		e->slots--;
	}
	e->alias.len = alias_start;
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	out->toobig = toobig || ret == -E2BIG;
	for (unsigned i = 0; i < nspans; i++)
		if (rseq[i])
			e->st.remote--;
	if (ret == -EINVAL) {
		e->st.lines--;
		e->st.bytes_in -= len;
		e->st.refused++;
	}
	return ret;
}

bool blocks_line_ok(const char *line, size_t len)
{
	return !(len && line[0] == '@') && !find_ref(line, len);
}

/* ---- collector side ----------------------------------------------------- */

struct def {
	uint32_t off, len;
};

/* Canonical decimal digits at *q (at most max, no leading zero): the
 * value, with *q moved past them; -1 when there are none or too many. */
static int64_t digits_parse(const char **q, const char *end, unsigned max)
{
	const char *d = *q, *x = d;
	uint64_t v = 0;

	while (x < end && (unsigned)(x - d) <= max && *x >= '0' && *x <= '9')
		v = v * 10 + (uint64_t)(*x++ - '0');
	if (x == d || (unsigned)(x - d) > max || (*d == '0' && x - d > 1))
		return -1;
	*q = x;
	return (int64_t)v;
}

/* A reference at p (REF_HEAD already matched): {"@":k} -> 0, {"@":S.K} ->
 * 1 (*seq = S >= 1), with *k and its length; -1 when malformed. */
static int ref_parse(const char *p, const char *end, size_t *reflen, uint64_t *seq, uint32_t *k)
{
	const char *q = p + REF_HEAD_LEN;
	int64_t a = digits_parse(&q, end, SEQ_MAX_DIGITS), b = -1;
	int remote = 0;

	if (a < 0 || q >= end)
		return -1;
	if (*q == '.') {
		q++;
		b = digits_parse(&q, end, REF_MAX_DIGITS);
		if (a == 0 || b < 0 || q >= end)
			return -1;
		remote = 1;
	} else if (a >= BLOCKS_MAX_PER_BATCH) {
		return -1;
	}
	if (*q != '}' || (remote && b >= BLOCKS_MAX_PER_BATCH))
		return -1;
	*seq = remote ? (uint64_t)a : 0;
	*k = (uint32_t)(remote ? b : a);
	*reflen = (size_t)(q + 1 - p);
	return remote;
}

/* res->seen is a set: seen_max slots (a power of two, zeroed), filled at
 * most half so probes stay short; past that only seen_count grows. */
static void seen_add(struct blocks_resolver *res, uint64_t seq)
{
	uint32_t mask = res->seen_max - 1, i;

	if (!res->seen_max)
		return;
	for (i = (uint32_t)((seq * 0x9e3779b97f4a7c15ull) >> 32) & mask; res->seen[i];
	     i = (i + 1) & mask)
		if (res->seen[i] == seq)
			return;
	if (res->seen_count < res->seen_max / 2)
		res->seen[i] = seq;
	res->seen_count++;
}

bool blocks_next_def(const char **at, const char *end, const char **def, size_t *n)
{
	for (const char *s = *at; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (!nl)
			break;
		if (*s == '@') {
			*def = s + 1;
			*n = (size_t)(nl - s - 1);
			*at = nl + 1;
			return true;
		}
		s = nl + 1;
	}
	*at = end;
	return false;
}

uint32_t blocks_resolver_seen_list(struct blocks_resolver *res)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < res->seen_max && res->seen_count; i++)
		if (res->seen[i])
			res->seen[n++] = res->seen[i];
	return n;
}

int blocks_expand(const char *body, size_t n, uint32_t events, size_t max_out, struct buf *out,
		  struct blocks_resolver *res, char *err, size_t errlen)
{
	const char *s = body, *end = body + n;
	size_t start = out->len, grown = 0;
	bool toobig = out->toobig;
	struct def *defs = NULL;
	uint32_t ndefs = 0, alloc = 0, seen = 0;
	int ret = 0;

#define FAIL(code, ...) do { err_set(err, errlen, __VA_ARGS__); ret = (code); goto out; } while (0)
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *p;
		size_t at = (size_t)(s - body);

		if (!nl || nl == s)
			FAIL(-EBADMSG, "blocks: line at offset %zu is empty or unterminated", at);
		if (*s == '@') {
			if (nl - s < 2)
				FAIL(-EBADMSG, "blocks: empty block definition at offset %zu", at);
			if (ndefs == BLOCKS_MAX_PER_BATCH)
				FAIL(-EBADMSG, "blocks: more than %u block definitions",
				     BLOCKS_MAX_PER_BATCH);
			if (ndefs == alloc) {
				uint32_t na = alloc ? alloc * 2 : 64;
				struct def *nd = realloc(defs, (size_t)na * sizeof(*nd));

				if (!nd)
					FAIL(-ENOMEM, "blocks: out of memory for %u definitions", na);
				defs = nd;
				alloc = na;
			}
			defs[ndefs++] = (struct def){ .off = (uint32_t)(at + 1),
						      .len = (uint32_t)(nl - s - 1) };
			s = nl + 1;
			continue;
		}
		if (events != BLOCKS_ANY_EVENTS && seen++ == events)
			FAIL(-EBADMSG, "blocks: more than the %u event lines declared", events);
		p = s;
		for (;;) {
			const char *r = find_ref(p, (size_t)(nl - p));
			size_t piece = (size_t)((r ? r : nl + 1) - p), reflen = 0, blen;
			const char *bp;
			char unres[sizeof(BLOCKS_UNRESOLVED_HEAD) + REF_BUF];
			uint64_t seq = 0;
			uint32_t k = 0;
			int kind;

			if (piece > max_out - grown)
				FAIL(-EMSGSIZE, "blocks: the lines expand past %zu bytes", max_out);
			ret = buf__add(out, p, piece);
			if (ret)
				FAIL(ret, "blocks: no room for the expanded lines");
			grown += piece;
			if (!r)
				break;
			kind = ref_parse(r, nl, &reflen, &seq, &k);
			if (kind < 0 || (kind == 0 && k >= ndefs) || (kind == 1 && !res))
				FAIL(-EBADMSG, "blocks: %s reference at offset %zu",
				     kind < 0 ? "a malformed" : kind ? "a remote" : "an undefined",
				     (size_t)(r - body));
			if (kind == 0) {
				bp = body + defs[k].off;
				blen = defs[k].len;
			} else {
				int grc = res->get(res->ctx, seq, k, &bp, &blen);

				res->remote++;
				seen_add(res, seq);
				if (grc == -ENOENT) {
					/* deterministic: read back, it expands the same */
					size_t u = sizeof(BLOCKS_UNRESOLVED_HEAD) - 1;

					memcpy(unres, BLOCKS_UNRESOLVED_HEAD, u);
					u += put_digits(unres + u, seq);
					unres[u++] = '.';
					u += put_digits(unres + u, k);
					unres[u++] = '"';
					unres[u++] = '}';
					bp = unres;
					blen = u;
					res->unresolved++;
				} else if (grc) {
					FAIL(grc, "blocks: block %u of batch %llu could not be read",
					     k, (unsigned long long)seq);
				}
			}
			if (blen > max_out - grown)
				FAIL(-EMSGSIZE, "blocks: the lines expand past %zu bytes", max_out);
			ret = buf__add(out, bp, blen);
			if (ret)
				FAIL(ret, "blocks: no room for the expanded lines");
			grown += blen;
			p = r + reflen;
		}
		s = nl + 1;
	}
	if (events != BLOCKS_ANY_EVENTS && seen != events)
		FAIL(-EBADMSG, "blocks: %u event lines, the header says %u", seen, events);
	if (res && res->learn && ndefs)
		res->learn(res->learn_ctx, body, n);
#undef FAIL
out:
	free(defs);
	if (ret) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		out->toobig = toobig || ret == -E2BIG;
	}
	return ret;
}
