/* The collector's single-pass event scanner (event_json.h).
 *
 * The paths form a trie; a line is walked once with an explicit stack (no
 * recursion, depth capped) and at each object member of a node that is on
 * some path, the key is looked up in one hash table keyed by (parent node,
 * key bytes). Members of nodes that are on no path are still validated but
 * never looked up. Strings are scanned 8 bytes at a time for the bytes that
 * need a closer look ('"', '\\', control bytes, non-ASCII). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "collector/event_json.h"
#include "lib/err.h"
#include "lib/utf8.h"

#define EJ_PATH_MAX 1024	/* bytes of one path */
#define EJ_INDEX_MAX 1000000u	/* largest [N] */
#define EJ_NONE (-1)

#define EJ_N_SLOT 0x1u		/* a path ends here */
#define EJ_N_KEYS 0x2u		/* has key children */
#define EJ_N_INDEXES 0x4u	/* has [N] children */

struct ej_node {
	uint32_t parent;
	int32_t index;		/* [N] child: N; key child: EJ_NONE */
	uint32_t key_off, key_len;
	uint32_t flags;
	uint64_t w0, w1;	/* the key's first and last 8 bytes (key_words) */
};

struct ej_frame {
	int32_t node;		/* EJ_NONE: on no path */
	uint32_t start;		/* offset of the '{' or '[' */
	uint32_t count;		/* members or elements so far */
	uint32_t ws;		/* whitespace bytes seen before the opening */
	bool array;
};

struct event_json {
	struct ej_node *nodes;
	uint32_t nnodes;
	char *keys;
	uint32_t *table;	/* node + 1; 0: empty */
	uint32_t mask;
	uint32_t *path_node;
	unsigned npaths;
	/* The last scan: vals[n] holds node n's value when seen[n] == gen. */
	struct event_json_value *vals;
	uint32_t *seen;
	uint32_t gen;
	struct ej_frame stack[EVENT_JSON_MAX_DEPTH];
	char error[96];
};

static const struct event_json_value missing;

/* ---- paths ---- */

/* A key's first 8 bytes (zero-padded) and last 8: with its length, all
 * of a key of up to 16 bytes, so most keys compare in two words. */
static inline void key_words(const unsigned char *k, size_t n, uint64_t *a, uint64_t *b)
{
	*a = *b = 0;
	if (n >= 8) {
		memcpy(a, k, 8);
		memcpy(b, k + n - 8, 8);
	} else {
		memcpy(a, k, n);
	}
}

static inline uint64_t key_word(uint64_t a, uint64_t b, size_t n)
{
	return a ^ (b * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)n << 56);
}

static uint32_t hash_of(uint32_t parent, uint64_t w)
{
	uint64_t h = (w ^ ((uint64_t)parent * 0xc2b2ae3d27d4eb4full)) * 0xff51afd7ed558ccdull;

	return (uint32_t)(h ^ (h >> 29) ^ (h >> 47));
}

static uint32_t hash_node(const struct event_json *ej, const struct ej_node *n)
{
	(void)ej;
	if (n->index != EJ_NONE)
		return hash_of(n->parent, ~(uint64_t)(uint32_t)n->index);
	return hash_of(n->parent, key_word(n->w0, n->w1, n->key_len));
}

/* The child of parent by key k (n bytes) or EJ_NONE. */
static inline int32_t lookup_key(const struct event_json *ej, uint32_t parent,
				 const unsigned char *k, size_t n)
{
	uint64_t a, b;
	uint32_t h, e;

	key_words(k, n, &a, &b);
	h = hash_of(parent, key_word(a, b, n)) & ej->mask;
	while ((e = ej->table[h])) {
		const struct ej_node *c = &ej->nodes[e - 1];

		if (c->w0 == a && c->w1 == b && c->key_len == n && c->parent == parent &&
		    c->index == EJ_NONE &&
		    (n <= 16 || memcmp(ej->keys + c->key_off + 8, k + 8, n - 16) == 0))
			return (int32_t)(e - 1);
		h = (h + 1) & ej->mask;
	}
	return EJ_NONE;
}

static int32_t lookup_index(const struct event_json *ej, uint32_t parent, uint32_t index)
{
	uint32_t h, e;

	if (index > EJ_INDEX_MAX)
		return EJ_NONE;
	h = hash_of(parent, ~(uint64_t)index) & ej->mask;
	while ((e = ej->table[h])) {
		const struct ej_node *c = &ej->nodes[e - 1];

		if (c->parent == parent && c->index == (int32_t)index)
			return (int32_t)(e - 1);
		h = (h + 1) & ej->mask;
	}
	return EJ_NONE;
}

/* While building: linear, the trie is small. */
static int32_t child_of(struct event_json *ej, uint32_t parent, int32_t index, const char *k,
			uint32_t n)
{
	for (uint32_t i = 1; i < ej->nnodes; i++) {
		const struct ej_node *c = &ej->nodes[i];

		if (c->parent != parent || c->index != index)
			continue;
		if (index != EJ_NONE ||
		    (c->key_len == n && memcmp(ej->keys + c->key_off, k, n) == 0))
			return (int32_t)i;
	}
	return EJ_NONE;
}

static int32_t add_child(struct event_json *ej, uint32_t parent, int32_t index, const char *k,
			 uint32_t n, uint32_t *key_used)
{
	int32_t c = child_of(ej, parent, index, k, n);
	struct ej_node *node;

	if (c != EJ_NONE)
		return c;
	node = &ej->nodes[ej->nnodes];
	node->parent = parent;
	node->index = index;
	node->key_off = *key_used;
	node->key_len = n;
	node->flags = 0;
	if (n) {
		memcpy(ej->keys + *key_used, k, n);
		key_words((const unsigned char *)k, n, &node->w0, &node->w1);
	}
	*key_used += n;
	ej->nodes[parent].flags |= index == EJ_NONE ? EJ_N_KEYS : EJ_N_INDEXES;
	return (int32_t)ej->nnodes++;
}

static int add_path(struct event_json *ej, unsigned i, const char *path, uint32_t *key_used,
		    char *err, size_t errlen)
{
	uint32_t node = 0;
	size_t pos = 1;

	if (path[0] != '$')
		return err_fail(-EINVAL, err, errlen, "event_json: path %u (%s) does not start "
				"with '$'", i, path);
	while (path[pos]) {
		if (path[pos] == '.') {
			size_t k = ++pos;

			while (path[pos] && !strchr(".[\"\\", path[pos]))
				pos++;
			if (pos == k || path[pos] == '"' || path[pos] == '\\')
				return err_fail(-EINVAL, err, errlen, "event_json: path %u (%s): "
						"bad key at byte %zu", i, path, k);
			node = (uint32_t)add_child(ej, node, EJ_NONE, path + k, (uint32_t)(pos - k),
						   key_used);
		} else if (path[pos] == '[') {
			uint32_t idx = 0;
			size_t d = ++pos;

			while (path[pos] >= '0' && path[pos] <= '9' && pos - d < 7)
				idx = idx * 10 + (uint32_t)(path[pos++] - '0');
			if (pos == d || path[pos] != ']' || idx > EJ_INDEX_MAX)
				return err_fail(-EINVAL, err, errlen, "event_json: path %u (%s): "
						"bad index at byte %zu", i, path, d);
			pos++;
			node = (uint32_t)add_child(ej, node, (int32_t)idx, NULL, 0, key_used);
		} else {
			return err_fail(-EINVAL, err, errlen, "event_json: path %u (%s): expected "
					"'.' or '[' at byte %zu", i, path, pos);
		}
	}
	ej->nodes[node].flags |= EJ_N_SLOT;
	ej->path_node[i] = node;
	return 0;
}

int event_json__new(struct event_json **out, const char *const *paths, unsigned npaths,
		    char *err, size_t errlen)
{
	struct event_json *ej;
	size_t steps = 1, chars = 0;
	uint32_t key_used = 0, size = 16;
	int ret = 0;

	*out = NULL;
	if (npaths > EVENT_JSON_MAX_PATHS)
		return err_fail(-EINVAL, err, errlen, "event_json: %u paths, at most %u", npaths,
				EVENT_JSON_MAX_PATHS);
	for (unsigned i = 0; i < npaths; i++) {
		size_t n = paths[i] ? strnlen(paths[i], EJ_PATH_MAX + 1) : 0;

		if (!paths[i] || n > EJ_PATH_MAX)
			return err_fail(-EINVAL, err, errlen, "event_json: path %u is %s", i,
					paths[i] ? "too long" : "NULL");
		chars += n;
		for (size_t k = 0; k < n; k++)
			steps += paths[i][k] == '.' || paths[i][k] == '[';
	}
	ej = calloc(1, sizeof(*ej));
	if (!ej)
		return err_fail(-ENOMEM, err, errlen, "event_json: out of memory");
	ej->nodes = calloc(steps, sizeof(*ej->nodes));
	ej->keys = malloc(chars + 1);
	ej->path_node = calloc(npaths ? npaths : 1, sizeof(*ej->path_node));
	if (!ej->nodes || !ej->keys || !ej->path_node) {
		ret = err_fail(-ENOMEM, err, errlen, "event_json: out of memory");
		goto fail;
	}
	ej->npaths = npaths;
	ej->nnodes = 1;
	ej->nodes[0].index = EJ_NONE;
	for (unsigned i = 0; i < npaths && !ret; i++)
		ret = add_path(ej, i, paths[i], &key_used, err, errlen);
	if (ret)
		goto fail;
	while (size < 2 * ej->nnodes)
		size *= 2;
	ej->mask = size - 1;
	ej->table = calloc(size, sizeof(*ej->table));
	ej->vals = calloc(ej->nnodes, sizeof(*ej->vals));
	ej->seen = calloc(ej->nnodes, sizeof(*ej->seen));
	if (!ej->table || !ej->vals || !ej->seen) {
		ret = err_fail(-ENOMEM, err, errlen, "event_json: out of memory");
		goto fail;
	}
	for (uint32_t i = 1; i < ej->nnodes; i++) {
		uint32_t h = hash_node(ej, &ej->nodes[i]) & ej->mask;

		while (ej->table[h])
			h = (h + 1) & ej->mask;
		ej->table[h] = i + 1;
	}
	*out = ej;
	return 0;
fail:
	event_json__free(ej);
	return ret;
}

void event_json__free(struct event_json *ej)
{
	if (!ej)
		return;
	free(ej->nodes);
	free(ej->keys);
	free(ej->table);
	free(ej->path_node);
	free(ej->vals);
	free(ej->seen);
	free(ej);
}

const struct event_json_value *event_json__value(const struct event_json *ej, unsigned i)
{
	uint32_t n;

	if (i >= ej->npaths)
		return &missing;
	n = ej->path_node[i];
	return ej->seen[n] == ej->gen ? &ej->vals[n] : &missing;
}

const char *event_json__error(const struct event_json *ej)
{
	return ej->error[0] ? ej->error : "no error";
}

/* ---- scanning ---- */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* The high bit of each of the 8 bytes that is '"', '\\', below 0x20 or
 * above 0x7f. A borrow can also mark a byte after a marked one, never one
 * before: on a little-endian machine the lowest mark is the first such byte. */
static inline uint64_t special8(const unsigned char *p)
{
	uint64_t v, q, b;

	memcpy(&v, p, 8);
	q = v ^ (ONES * '"');
	b = v ^ (ONES * '\\');
	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((v - ONES * 0x20) & ~v) | v) & HIGHS;
}

/* The first byte from p on that special8 marks, or end - end % 8 bytes
 * short of it: the caller looks at the rest one byte at a time. */
static inline const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	/* 16 bytes a step: a signed compare below 0x20 also takes 0x80-0xff. */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
			_mm_cmplt_epi8(v, space)));

		if (m)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	while (end - p >= 8) {
		uint64_t m = special8(p);

		if (m) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return p + (__builtin_ctzll(m) >> 3);
#else
			return p;
#endif
		}
		p += 8;
	}
	return p;
}

static int bad(struct event_json *ej, const unsigned char *s, const unsigned char *p,
	       const char *why)
{
	snprintf(ej->error, sizeof(ej->error), "byte %zu: %s", (size_t)(p - s), why);
	return -EBADMSG;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The 4 hex digits at p as a number, or -1. */
static long hex4(const unsigned char *p, const unsigned char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(p[i]);

		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* p is just past the opening quote. Returns just past the closing quote,
 * or NULL (ej->error set). */
static const unsigned char *scan_string(struct event_json *ej, const unsigned char *s,
					const unsigned char *p, const unsigned char *end,
					uint8_t *flags)
{
	for (;;) {
		unsigned char c;
		size_t n;
		long cp, lo;

		p = skip_plain(p, end);
		if (p == end) {
			bad(ej, s, p, "a string is cut short");
			return NULL;
		}
		c = *p;
		if (c == '"')
			return p + 1;
		if (c >= 0x20 && c < 0x80 && c != '\\') {
			p++;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq_len(p, (size_t)(end - p));
			if (!n) {
				bad(ej, s, p, "invalid UTF-8 in a string");
				return NULL;
			}
			p += n;
			continue;
		}
		if (c < 0x20) {
			bad(ej, s, p, "a control byte in a string");
			return NULL;
		}
		/* A backslash. */
		*flags |= EVENT_JSON_ESCAPED;
		if (end - p < 2) {
			bad(ej, s, p, "a string is cut short");
			return NULL;
		}
		c = p[1];
		if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
		    c == 'r' || c == 't') {
			p += 2;
			continue;
		}
		if (c != 'u' || (cp = hex4(p + 2, end)) < 0) {
			bad(ej, s, p, "a bad escape in a string");
			return NULL;
		}
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			bad(ej, s, p, "a lone low surrogate escape");
			return NULL;
		}
		p += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    (lo = hex4(p + 2, end)) < 0xdc00 || lo > 0xdfff) {
				bad(ej, s, p, "a high surrogate escape without its low half");
				return NULL;
			}
			p += 6;
		}
	}
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end,
					   uint32_t *ws)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
		p++;
		(*ws)++;
	}
	return p;
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 number at p. Returns the end or NULL; *v gets its type and, for
 * an integer that fits, its value (as JSON1: a wider one is REAL). */
static const unsigned char *scan_number(struct event_json *ej, const unsigned char *s,
					const unsigned char *p, const unsigned char *end,
					struct event_json_value *v)
{
	const unsigned char *start = p;
	bool neg = false, real = false, over = false;
	uint64_t mag = 0;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (p == end || !is_digit(*p)) {
		bad(ej, s, start, "not a value");
		return NULL;
	}
	if (*p == '0') {
		p++;
		if (p < end && is_digit(*p)) {
			bad(ej, s, start, "a number with a leading zero");
			return NULL;
		}
	} else {
		while (p < end && is_digit(*p)) {
			unsigned d = (unsigned)(*p++ - '0');

			if (mag > (UINT64_MAX - d) / 10)
				over = true;
			else
				mag = mag * 10 + d;
		}
	}
	if (p < end && *p == '.') {
		real = true;
		if (++p == end || !is_digit(*p)) {
			bad(ej, s, start, "a number without digits after '.'");
			return NULL;
		}
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p)) {
			bad(ej, s, start, "a number without exponent digits");
			return NULL;
		}
		while (p < end && is_digit(*p))
			p++;
	}
	if (!real && !over && !neg && mag <= (uint64_t)INT64_MAX) {
		v->type = EVENT_JSON_INT;
		v->i = (int64_t)mag;
	} else if (!real && !over && neg && mag <= (uint64_t)INT64_MAX + 1) {
		v->type = EVENT_JSON_INT;
		v->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		v->type = EVENT_JSON_REAL;
		v->i = 0;
	}
	return p;
}

static bool literal(const unsigned char *p, const unsigned char *end, const char *word,
		    size_t n)
{
	return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

int event_json__scan(struct event_json *ej, const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line, *p = s, *end = s + len;
	struct event_json_value tmp, *v;
	struct ej_frame *f;
	unsigned depth = 0;
	uint32_t ws = 0;
	int32_t child;

	ej->error[0] = 0;
	if (len > EVENT_JSON_MAX_LEN) {
		snprintf(ej->error, sizeof(ej->error), "%zu bytes, more than %u", len,
			 EVENT_JSON_MAX_LEN);
		return -E2BIG;
	}
	if (++ej->gen == 0) {	/* wrapped: forget every old mark */
		memset(ej->seen, 0, ej->nnodes * sizeof(*ej->seen));
		ej->gen = 1;
	}
	p = skip_ws(p, end, &ws);
	if (p == end || *p != '{')
		return bad(ej, s, p, "not a JSON object");
	child = 0;
	ej->seen[0] = ej->gen;
	goto open;

member:	/* just after '{', '[' or ',' */
	f = &ej->stack[depth - 1];
	p = skip_ws(p, end, &ws);
	if (p == end)
		return bad(ej, s, p, "cut short");
	if (f->array) {
		if (*p == ']' && f->count == 0)
			goto close;
		child = f->node != EJ_NONE && (ej->nodes[f->node].flags & EJ_N_INDEXES) ?
			lookup_index(ej, (uint32_t)f->node, f->count) : EJ_NONE;
	} else {
		const unsigned char *k;
		uint8_t kflags = 0;

		if (*p == '}' && f->count == 0)
			goto close;
		if (*p != '"')
			return bad(ej, s, p, *p == '{' || *p == '[' ? "an array or object as a key" :
				   "expected a key");
		k = p + 1;
		p = scan_string(ej, s, k, end, &kflags);
		if (!p)
			return -EBADMSG;
		child = f->node != EJ_NONE && (ej->nodes[f->node].flags & EJ_N_KEYS) ?
			lookup_key(ej, (uint32_t)f->node, k, (size_t)(p - 1 - k)) : EJ_NONE;
		p = skip_ws(p, end, &ws);
		if (p == end || *p != ':')
			return bad(ej, s, p, "expected ':'");
		p = skip_ws(p + 1, end, &ws);
		if (p == end)
			return bad(ej, s, p, "cut short");
	}
	if (f->count++ == UINT32_MAX - 1)
		return bad(ej, s, p, "too many members");
	if (child != EJ_NONE) {
		/* Only the first of duplicate keys counts, as in JSON1. */
		if (ej->seen[child] == ej->gen)
			child = EJ_NONE;
		else
			ej->seen[child] = ej->gen;
	}
	v = child != EJ_NONE && (ej->nodes[child].flags & EJ_N_SLOT) ? &ej->vals[child] : &tmp;
	switch (*p) {
	case '{':
	case '[':
open:
		if (depth == EVENT_JSON_MAX_DEPTH)
			return bad(ej, s, p, "nested too deep");
		f = &ej->stack[depth++];
		f->node = child;
		f->start = (uint32_t)(p - s);
		f->count = 0;
		f->ws = ws;
		f->array = *p == '[';
		p++;
		goto member;
	case '"': {
		const unsigned char *q = p + 1;

		v->flags = 0;
		p = scan_string(ej, s, q, end, &v->flags);
		if (!p)
			return -EBADMSG;
		v->type = EVENT_JSON_STRING;
		v->off = (uint32_t)(q - s);
		v->len = (uint32_t)(p - 1 - q);
		break;
	}
	case 't':
	case 'f':
	case 'n':
		if (literal(p, end, "true", 4)) {
			v->type = EVENT_JSON_TRUE;
			v->len = 4;
		} else if (literal(p, end, "false", 5)) {
			v->type = EVENT_JSON_FALSE;
			v->len = 5;
		} else if (literal(p, end, "null", 4)) {
			v->type = EVENT_JSON_NULL;
			v->len = 4;
		} else {
			return bad(ej, s, p, "not a value");
		}
		v->off = (uint32_t)(p - s);
		v->flags = 0;
		p += v->len;
		break;
	default: {
		const unsigned char *q = p;

		p = scan_number(ej, s, p, end, v);
		if (!p)
			return -EBADMSG;
		v->off = (uint32_t)(q - s);
		v->len = (uint32_t)(p - q);
		v->flags = 0;
	}
	}

after:	/* just after a value */
	f = &ej->stack[depth - 1];
	p = skip_ws(p, end, &ws);
	if (p == end)
		return bad(ej, s, p, "cut short");
	if (*p == ',') {
		p++;
		goto member;
	}
	if (*p != (f->array ? ']' : '}'))
		return bad(ej, s, p, f->array ? "expected ',' or ']'" : "expected ',' or '}'");
close:
	f = &ej->stack[depth - 1];
	if (f->node != EJ_NONE && (ej->nodes[f->node].flags & EJ_N_SLOT)) {
		v = &ej->vals[f->node];
		v->type = f->array ? EVENT_JSON_ARRAY : EVENT_JSON_OBJECT;
		v->off = f->start;
		v->len = (uint32_t)(p + 1 - s) - f->start;
		v->flags = ws != f->ws ? EVENT_JSON_SPACED : 0;
	}
	depth--;
	p++;
	if (depth)
		goto after;
	p = skip_ws(p, end, &ws);
	if (p != end)
		return bad(ej, s, p, p[0] ? "bytes after the object" : "a NUL byte");
	return 0;
}

/* ---- values ---- */

static size_t put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The scan checked every escape, so this only decodes. */
size_t event_json_unescape(const char *line, const struct event_json_value *v, char *out)
{
	const unsigned char *p = (const unsigned char *)line + v->off, *end = p + v->len;
	size_t o = 0;

	if (!(v->flags & EVENT_JSON_ESCAPED)) {
		memcpy(out, p, v->len);
		return v->len;
	}
	while (p < end) {
		const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
		unsigned long cp;

		if (!bs)
			bs = end;
		memcpy(out + o, p, (size_t)(bs - p));
		o += (size_t)(bs - p);
		p = bs;
		if (p == end)
			break;
		switch (p[1]) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			cp = (unsigned long)hex4(p + 2, end);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     ((unsigned long)hex4(p + 8, end) - 0xdc00);
				p += 6;
			}
			o += put_utf8(out + o, cp);
			p += 4;
			break;
		default: out[o++] = (char)p[1];	/* " \ / */
		}
		p += 2;
	}
	return o;
}

const char *event_json_text(const char *line, const struct event_json_value *v, char *out,
			    size_t *n)
{
	const char *p = line + v->off, *end = p + v->len;
	size_t o = 0;

	switch (v->type) {
	case EVENT_JSON_MISSING:
		*n = 0;
		return NULL;
	case EVENT_JSON_STRING:
		*n = v->len + 2;
		return p - 1;
	case EVENT_JSON_ARRAY:
	case EVENT_JSON_OBJECT:
		if (v->flags & EVENT_JSON_SPACED)
			break;
		/* fall through */
	default:
		*n = v->len;
		return p;
	}
	/* Whitespace between tokens dropped, strings copied as they are. */
	while (p < end) {
		char c = *p++;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		out[o++] = c;
		if (c != '"')
			continue;
		while (p < end) {
			c = *p++;
			out[o++] = c;
			if (c == '\\')
				out[o++] = *p++;
			else if (c == '"')
				break;
		}
	}
	*n = o;
	return out;
}

void event_json_arrow(const char *line, const struct event_json_value *v, char *scratch,
		      struct event_json_sql *o)
{
	if (v->type == EVENT_JSON_MISSING || v->type == EVENT_JSON_NULL) {
		o->type = EVENT_JSON_SQL_NULL;
		return;
	}
	o->type = EVENT_JSON_SQL_TEXT;
	o->s = event_json_text(line, v, scratch, &o->n);
}

void event_json_extract(const char *line, const struct event_json_value *v, char *scratch,
			struct event_json_sql *o)
{
	switch (v->type) {
	case EVENT_JSON_MISSING:
	case EVENT_JSON_NULL:
		o->type = EVENT_JSON_SQL_NULL;
		break;
	case EVENT_JSON_TRUE:
	case EVENT_JSON_FALSE:
		o->type = EVENT_JSON_SQL_INT;
		o->i = v->type == EVENT_JSON_TRUE;
		break;
	case EVENT_JSON_INT:
		o->type = EVENT_JSON_SQL_INT;
		o->i = v->i;
		break;
	case EVENT_JSON_REAL:
		/* Also an integer past int64, as JSON1 returns it. strtod
		 * needs the terminator. */
		memcpy(scratch, line + v->off, v->len);
		scratch[v->len] = 0;
		o->type = EVENT_JSON_SQL_REAL;
		o->d = strtod(scratch, NULL);
		break;
	case EVENT_JSON_STRING:
		o->type = EVENT_JSON_SQL_TEXT;
		if (v->flags & EVENT_JSON_ESCAPED) {
			o->n = event_json_unescape(line, v, scratch);
			o->s = scratch;
		} else {
			o->s = line + v->off;
			o->n = v->len;
		}
		break;
	default:	/* an array or object: its JSON text */
		o->type = EVENT_JSON_SQL_TEXT;
		o->s = event_json_text(line, v, scratch, &o->n);
	}
}
