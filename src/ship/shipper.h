/* The agent's side of the pipeline to a collector, on two threads of its own
 * so the event loop never waits for a disk or a network and never pays for
 * compression:
 *
 *   event loop --shipper__add_line()--> ingress (memcpy, bounded)
 *   sealer thread: ingress -> batcher -> seq (durable) -> batch_seal -> spool__put
 *   sender thread: spool__next -> TLS 1.3 -> BATCH frames, a window in flight;
 *                  ACK STORED/DUPLICATE or REJECTED -> spool__ack
 *
 * Nothing is lost silently. A full ingress drops the line and counts it; a
 * full spool drops its oldest batches and counts them (batches and events,
 * exactly as the spool reports them); a batch the collector rejects can never
 * succeed, so it is counted by reason and deleted from the spool. A broken
 * connection (I/O error, ERROR frame, no ACK in time) is closed and retried
 * with capped exponential backoff and jitter, resending from the oldest
 * unacknowledged batch: the collector is idempotent.
 *
 * Accounting: a batch the spool drops to make room while it is in flight and
 * that the collector then stores is counted both as dropped and as acked
 * (the spool cannot pin records; the window is small, so this is rare and
 * errs on the side of reporting a loss).
 *
 * The shipper logs (log.h) what goes wrong on its threads, once per distinct
 * error: it is daemon code, like the event loop, and only it knows the seq
 * and the reason. */
#ifndef VIGIL_SHIPPER_H
#define VIGIL_SHIPPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ship/device.h"

struct line_blocks;

#define SHIPPER_WINDOW_DEFAULT 8		/* batches in flight */
#define SHIPPER_WINDOW_MAX 64
#define SHIPPER_CONNECT_TIMEOUT_MS_DEFAULT 5000	/* TCP + TLS handshake */
#define SHIPPER_IO_TIMEOUT_MS_DEFAULT 30000	/* a write, or waiting for an ACK */
#define SHIPPER_BACKOFF_BASE_MS_DEFAULT 250
#define SHIPPER_BACKOFF_CAP_MS_DEFAULT 30000
/* Rejection reasons counted apart (ACK reason codes 0 .. SHIPPER_REASONS - 2);
 * higher codes share the last slot, "collector_rejected:unknown". */
#define SHIPPER_REASONS 32
#define SHIPPER_ERROR_MAX 256

struct shipper_config {
	const struct device *dev;	/* copied: id, org, keys (wiped at free) */
	const char *collector;		/* "host:port" or "[v6]:port" */
	const char *server_name;	/* name the certificate must carry; NULL/"": the host */
	const char *ca_file;		/* either or both of ca_file, pin_sha256 (tls.h) */
	const char *pin_sha256;
	const char *seq_file;		/* parent directory created 0700 if missing */
	const char *spool_dir;		/* created 0700 (with parents) if missing */
	uint64_t spool_max_bytes;
	uint32_t batch_interval_ms;	/* >= 1 */
	uint32_t batch_max_bytes;	/* uncompressed; a longer line is dropped (too_big) */
	int zstd_level;
	/* Blocks the collector stored, remembered to be referred to by later
	 * batches (blocks_known.h): at most this many bytes of them; 0: every
	 * batch defines the blocks it uses. */
	uint64_t remote_blocks_max_bytes;
	/* Lines waiting for the sealer: at most this many bytes are held (the
	 * event loop's half and the sealer's half of a double buffer, each
	 * ingress_max_bytes / 2). 0: 2 * batch_max_bytes. */
	size_t ingress_max_bytes;
	uint32_t window;		/* 0: SHIPPER_WINDOW_DEFAULT, at most SHIPPER_WINDOW_MAX */
	uint32_t connect_timeout_ms;	/* 0: the defaults above */
	uint32_t io_timeout_ms;
	uint32_t backoff_base_ms;
	uint32_t backoff_cap_ms;
};

/* Cumulative since shipper__new. */
struct shipper_stats {
	uint64_t lines_in;		/* accepted by shipper__add_line */
	uint64_t ingress_dropped;	/* lines refused: the ingress was full */
	uint64_t too_big;		/* lines refused: longer than batch_max_bytes */
	uint64_t batches_sealed, events_sealed;		/* and spooled */
	uint64_t remote_blocks;		/* blocks sent as references to stored batches */
	uint64_t seal_failed_batches, seal_failed_events;	/* seq store, seal or spool write */
	uint64_t spool_dropped_batches, spool_dropped_events;	/* to stay within spool_max_bytes */
	uint64_t spool_corrupt_records, spool_corrupt_events;
	uint64_t rejected_batches, rejected_events;		/* all reasons */
	uint64_t rejected_events_by_reason[SHIPPER_REASONS];	/* by ACK reason code */
	uint64_t acked_batches, acked_events;	/* STORED or DUPLICATE */
	uint64_t duplicate_batches;		/* of which DUPLICATE */
	/* A session counts once it is proven: an ACK came, or the collector
	 * kept it open 500 ms after HELLO (a refused device is answered with
	 * ERROR at once: that is a failed attempt, not a session). */
	uint64_t connects;		/* sessions proven after being down */
	uint64_t disconnects;		/* proven sessions lost (not quiet idle closes) */
	uint64_t connect_failures;	/* attempts that failed before being proven */
	uint64_t spool_pending_batches, spool_pending_events;	/* now */
	bool connected;			/* a session is up (or idle-closed and not yet needed) */
	char last_error[SHIPPER_ERROR_MAX];	/* the last failure, "" if none */
};

struct shipper;

/* Opens everything that can fail for a reason the operator must fix, so the
 * agent refuses to start rather than run without shipping: the TLS context
 * (CA file, pin), the collector address, the seq store and the spool (its
 * directory is scanned: batches left by an earlier run are sent first).
 * Starts no thread. cfg's strings need not outlive the call. */
int shipper__new(struct shipper **out, const struct shipper_config *cfg, char *err,
		 size_t errlen);
/* Starts the sealer and sender threads (they block every signal). Call it
 * after privileges are dropped: threads keep the credentials they start
 * with. Sets SIGPIPE to SIG_IGN (OpenSSL writes with write(2)). */
int shipper__start(struct shipper *sh, char *err, size_t errlen);
/* One '\n'-terminated line (len includes the newline), copied. Never blocks
 * on anything but a short mutex. 0; -ENOBUFS (ingress full, counted);
 * -E2BIG (longer than batch_max_bytes, counted); -EINVAL (empty or not
 * newline-terminated); -ESHUTDOWN (after shipper__stop, not counted: the
 * caller closes its sink). Thread-safe. */
/* What each line costs in the ingress beyond its bytes (where its blocks
 * are); ingress_max_bytes counts it. */
#define SHIPPER_INGRESS_LINE_OVERHEAD 32
int shipper__add_line(struct shipper *sh, const char *line, size_t len);
/* The same, with where the line's process blocks are (ship/blocks.h; NULL:
 * none): each batch then carries every distinct block once. */
int shipper__add_line_blocks(struct shipper *sh, const char *line, size_t len,
			     const struct line_blocks *bl);
/* A consistent copy of the counters. Thread-safe. */
void shipper__stats(struct shipper *sh, struct shipper_stats *out);
/* Seals everything buffered into the spool (nothing accepted is lost by a
 * graceful stop), then gives the sender up to timeout_ms to deliver what is
 * pending if it is connected, then stops and joins both threads. What is
 * not delivered stays in the spool for the next start. 0, or -ETIMEDOUT when
 * the sender had to be cut off with batches in flight. Idempotent. */
int shipper__stop(struct shipper *sh, int timeout_ms);
/* Stops (timeout 0) if running, then frees. NULL allowed. */
void shipper__free(struct shipper *sh);

/* "collector_rejected:<name>" for an ACK reason code: a static string, fit
 * as a drop reason (pipeline__count_drop keeps the pointer). Codes without a
 * name give "collector_rejected:unknown". */
const char *shipper_reject_reason(unsigned code);

/* mkdir -p: creates the missing directories of path with mode; existing
 * ones are left as they are (an administrator may have chosen them). 0 or
 * a negative errno with err naming the directory. */
int shipper_mkdirs(const char *path, mode_t mode, char *err, size_t errlen);
/* shipper_mkdirs(0700) for the directory that holds the file path. */
int shipper_mkparent(const char *path, char *err, size_t errlen);

#endif
