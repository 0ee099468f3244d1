/* The agent's on-disk spool: sealed batches waiting for the collector's ACK.
 *
 * One file per batch, "<seq, 20 digits>.vgs", written to a temporary name,
 * fsync'ed, renamed and the directory fsync'ed before spool__put() returns,
 * so a crash leaves either the whole record or none; leftover temporaries
 * are removed by spool__open(), which also rebuilds the index from the
 * directory (survives restarts). A record is
 *
 *	header (SPOOL_HEADER_LEN bytes, big-endian):
 *	  0 magic "VGS1" | 4 u16 version (1) | 6 u16 header length (40) |
 *	  8 u32 key_id | 12 u64 seq | 20 u32 event_count | 24 nonce[12] |
 *	  36 u32 ciphertext length
 *	ciphertext | GCM tag[16]
 *
 * encrypted with AES-256-GCM under HKDF-SHA256(device key for key_id,
 * salt = the device_id string, info = "vigil spool v1"), a random 96-bit nonce
 * per record and the whole header as AAD. The spool derives a key for every
 * key_id the device holds, so records written before a rotation still
 * decrypt; new records use the current key.
 *
 * Bounded: at most max_bytes of records (file sizes) and max_records files;
 * a put that does not fit drops the oldest pending records first and says
 * exactly how many batches and events went. No file bigger than
 * max_record_bytes is ever read. A record that fails to parse or to
 * authenticate is deleted and counted as corrupt, never returned.
 *
 * Thread-safe: one mutex guards the index; encryption, decryption and file
 * I/O of one record happen outside it, so a put's fsync does not stall the
 * shipper's next/ack. */
#ifndef VIGIL_SPOOL_H
#define VIGIL_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "ship/device.h"

#define SPOOL_HEADER_LEN 40
#define SPOOL_TAG_LEN 16
#define SPOOL_OVERHEAD (SPOOL_HEADER_LEN + SPOOL_TAG_LEN)
#define SPOOL_MAX_EVENTS 1000000u	/* per record, as for a batch */
#define SPOOL_DEFAULT_MAX_RECORD ((16u << 20) + SPOOL_OVERHEAD)
#define SPOOL_MAX_RECORD_LIMIT (1u << 30)
#define SPOOL_DEFAULT_MAX_RECORDS 65536u
#define SPOOL_MAX_RECORDS_LIMIT (1u << 24)

struct spool_config {
	const char *dir;		/* created 0700 if missing */
	const struct device *dev;	/* device_id and keys; copied (derived) at open */
	uint64_t max_bytes;		/* total size of the record files */
	uint32_t max_records;		/* 0: SPOOL_DEFAULT_MAX_RECORDS */
	uint32_t max_record_bytes;	/* one whole record file; 0: SPOOL_DEFAULT_MAX_RECORD */
};

struct spool_dropped {
	uint64_t batches, events;
};

struct spool_stats {
	uint64_t pending_batches, pending_bytes, pending_events;
	uint64_t highest_seq;		/* highest seq put or found on disk, 0: none */
	uint64_t dropped_batches, dropped_events;	/* since open, to stay within bounds */
	uint64_t corrupt_records, corrupt_events;	/* since open; events as declared */
	uint64_t tmp_removed;		/* leftover temporaries removed by spool__open */
};

struct spool;

/* Opens or creates the spool directory and indexes the records in it (a record whose
 * header does not parse is deleted and counted corrupt; records beyond max_records or
 * max_bytes are dropped, oldest first, and counted). */
int spool__open(struct spool **out, const struct spool_config *cfg, char *err, size_t errlen);
void spool__close(struct spool *sp);
/* Replaces the keys after a device rotation (same device_id): new puts use dev's current
 * key, records under any key_id dev still holds keep decrypting. */
int spool__rekey(struct spool *sp, const struct device *dev, char *err, size_t errlen);
/* Encrypts data[0..len) (a sealed batch of event_count events) as record seq and stores it
 * durably. Makes room first by deleting the oldest pending records not in flight (see
 * spool__next); *dropped (may be NULL) gets what was deleted for this put (also when the
 * put then fails). -E2BIG: the record would exceed max_bytes or max_record_bytes (nothing
 * is dropped); -ENOBUFS: no room even so (the rest is in flight); -EEXIST: seq is already
 * spooled; -EINVAL: seq 0 or event_count over SPOOL_MAX_EVENTS. */
int spool__put(struct spool *sp, uint64_t seq, uint32_t event_count, const void *data,
	       size_t len, struct spool_dropped *dropped);
/* The oldest pending record with seq > after_seq, decrypted into out (reset first; its
 * cap must hold the batch, else -E2BIG and the record stays). Returns 1 with *seq and
 * *event_count set, 0 when there is none, or a negative errno. Corrupt records met on
 * the way are deleted, counted and skipped. The record stays pending until acked, and is
 * in flight until then or spool__release: a full spool does not drop it, so a batch the
 * collector may be storing is never also counted as lost. */
int spool__next(struct spool *sp, uint64_t after_seq, struct buf *out, uint64_t *seq,
		uint32_t *event_count);
/* Deletes record seq (the collector stored it). 0 or -ENOENT if it is not pending. */
int spool__ack(struct spool *sp, uint64_t seq);
/* No record is in flight any more (the connection that carried them is gone). */
void spool__release(struct spool *sp);
void spool__stats(struct spool *sp, struct spool_stats *st);

#endif
