/* Sealed batches: what the agent spools and ships, and what the collector
 * verifies before it stores anything. A batch is
 *
 *	header (BATCH_HEADER_LEN bytes) | body (body_len bytes) | HMAC-SHA256 (32 bytes)
 *
 * all integers big-endian; docs/pipeline.md gives the header byte by byte.
 * The HMAC, keyed with the device key named by key_id, covers the header and
 * the body, so every field the collector acts on is authenticated. The body
 * is one or more zstd frames (BATCH_FLAG_ZSTD) or, without that flag, the
 * lines as they are.
 *
 * The collector's order is fixed by what each step may trust:
 * batch_parse (structure only, no key: it yields device_id and key_id for the
 * keystore lookup) -> batch_verify_hmac -> batch_open (decompress into at most
 * raw_len bytes, events hash, line count). Nothing past batch_parse runs on
 * bytes whose HMAC has not been checked.
 *
 * Every function here is thread-safe. Each thread that seals or opens keeps
 * one zstd context and scratch buffers, freed when the thread exits or by
 * batch_thread_free(). */
#ifndef VIGIL_BATCH_H
#define VIGIL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define BATCH_FORMAT_VERSION 1
#define BATCH_FLAG_ZSTD 0x1u
#define BATCH_FLAG_BLOCKS 0x2u	/* the lines share process blocks (ship/blocks.h) */
#define BATCH_FLAGS_KNOWN (BATCH_FLAG_ZSTD | BATCH_FLAG_BLOCKS)

#define BATCH_MAGIC "VGB1"
#define BATCH_HEADER_LEN 176
#define BATCH_HMAC_LEN 32
#define BATCH_KEY_LEN 32
#define BATCH_DEVICE_ID_MAX 32	/* [0-9a-f], at least 1 */
#define BATCH_ORG_ID_MAX 64	/* printable ASCII 0x20..0x7e, may be empty */

/* Defaults, and the most batch_seal() produces. */
#define BATCH_MAX_BATCH_BYTES (16u << 20)	/* sealed: header + body + HMAC */
#define BATCH_MAX_RAW_BYTES (64u << 20)		/* uncompressed lines */
#define BATCH_MAX_EVENTS 1000000u

struct batch_meta {
	char device_id[BATCH_DEVICE_ID_MAX + 1];	/* NUL-terminated, lowercase hex, 1..32 chars */
	char org_id[BATCH_ORG_ID_MAX + 1];
	uint32_t key_id;		/* which device key signed it (rotation) */
	uint64_t seq;			/* per device, strictly increasing, starts at 1 */
	uint64_t created_ns;		/* CLOCK_REALTIME ns */
	uint32_t event_count;		/* number of \n-terminated event lines */
	uint32_t raw_len;		/* uncompressed bytes */
	uint32_t body_len;		/* bytes of the body as sent */
	uint32_t flags;
	uint8_t events_sha256[32];	/* sha256 of the body as sent (the events, compressed) */
};

struct batch_limits {
	size_t max_batch_bytes, max_raw_bytes;
	uint32_t max_events;
};

/* BATCH_MAX_*; a NULL limits pointer means these. */
extern const struct batch_limits batch_default_limits;

enum batch_error {	/* negative returns are -errno; these reasons are for counters */
	BATCH_OK = 0,
	BATCH_MALFORMED,	/* structure: magic, version, lengths, ids, flags */
	BATCH_BAD_HMAC,
	BATCH_DECOMPRESS,	/* the body is not zstd, or does not give exactly raw_len bytes */
	BATCH_EVENTS_HASH,	/* the body does not hash to events_sha256 */
	BATCH_EVENT_COUNT,	/* not exactly event_count non-empty \n-terminated lines */
	BATCH_TOO_BIG,		/* a length over the limits */
	BATCH_ERROR_MAX
};

/* "ok", "malformed", "bad_hmac", "decompress", "events_hash", "event_count",
 * "too_big"; "unknown" for anything else. */
const char *batch_error_name(enum batch_error e);

/* Seals lines [lines, lines+len): one or more non-empty lines, each ending in
 * '\n', at most BATCH_MAX_EVENTS of them and BATCH_MAX_RAW_BYTES in all.
 * in: meta->device_id, org_id, key_id, seq (>= 1), created_ns, and in flags
 * BATCH_FLAG_BLOCKS when the lines are a body with shared blocks (its '@'
 * lines are not counted as events; other flags are ignored); out: the rest.
 * Appends the sealed batch (header | body | hmac) to out, or nothing on error.
 * zstd_level is zstd's (1 fast .. 19; 3 its default).
 * Returns 0, -EINVAL (bad meta or lines), -EMSGSIZE (the sealed batch would
 * exceed BATCH_MAX_BATCH_BYTES), -E2BIG (out has no room), -ENOMEM or -EIO
 * (zstd/OpenSSL failed). */
int batch_seal(struct batch_meta *meta, const char *lines, size_t len, const uint8_t key[32],
	       int zstd_level, struct buf *out, char *err, size_t errlen);

/* Structure only (no key): magic, version, header length, flags, ids, seq,
 * counts within lim, and header + body_len + HMAC == n exactly. Fills meta.
 * Returns 0, -EBADMSG (*why = BATCH_MALFORMED) or -EMSGSIZE
 * (*why = BATCH_TOO_BIG). */
int batch_parse(const uint8_t *p, size_t n, const struct batch_limits *lim,
		struct batch_meta *meta, enum batch_error *why, char *err, size_t errlen);

/* Constant-time HMAC check over header|body against the last 32 bytes.
 * 0 or -EBADMSG (also when n cannot hold a header and an HMAC). */
int batch_verify_hmac(const uint8_t *p, size_t n, const uint8_t key[32]);

/* Only after batch_parse() and batch_verify_hmac() on the same bytes:
 * decompresses the body into at most meta->raw_len bytes (never more is
 * allocated, whatever the zstd frame claims), checks the events hash and that
 * the result is exactly meta->event_count non-empty '\n'-terminated lines,
 * then appends the lines to out (nothing on error). With BATCH_FLAG_BLOCKS
 * the lines are expanded first (blocks_expand: every reference replaced by
 * its block, at most lim->max_raw_bytes in all); a malformed definition or
 * reference is BATCH_EVENT_COUNT (the lines are not what the header says).
 * Returns 0 or -EBADMSG with *why = BATCH_MALFORMED (meta does not match p),
 * BATCH_DECOMPRESS, BATCH_EVENTS_HASH or BATCH_EVENT_COUNT; -EMSGSIZE
 * (BATCH_TOO_BIG: over lim); -E2BIG (BATCH_TOO_BIG: out has no room);
 * -ENOMEM (*why = BATCH_OK: not the batch's fault, try again later). */
int batch_open(const uint8_t *p, size_t n, const struct batch_meta *meta,
	       const struct batch_limits *lim, struct buf *out, enum batch_error *why,
	       char *err, size_t errlen);
/* The same, remote block references looked up through res (blocks.h; NULL:
 * one is malformed). A failed lookup that is not -ENOENT fails the open with
 * its errno and *why = BATCH_OK (not the batch's fault). */
struct blocks_resolver;
int batch_open_resolve(const uint8_t *p, size_t n, const struct batch_meta *meta,
		       const struct batch_limits *lim, struct blocks_resolver *res,
		       struct buf *out, enum batch_error *why, char *err, size_t errlen);

/* Frees this thread's zstd contexts and scratch buffers now rather than at
 * thread exit; the next seal or open makes new ones. */
void batch_thread_free(void);

#endif
