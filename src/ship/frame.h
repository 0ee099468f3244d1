/* Frames on the agent <-> collector stream (inside TLS):
 *
 *	u32 len (of type + payload, >= 1) | u8 type | payload
 *
 * big-endian; docs/pipeline.md has the payloads byte by byte. The reader is
 * incremental (bytes arrive in any split) and checks the length against its
 * limit as soon as the 4 length bytes are in, before it holds more. */
#ifndef VIGIL_FRAME_H
#define VIGIL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum frame_type { FRAME_HELLO = 1, FRAME_BATCH = 2, FRAME_ACK = 3, FRAME_ERROR = 4 };

#define FRAME_HEADER_LEN 5		/* u32 len + u8 type */
/* Default max_frame: the largest sealed batch (BATCH_MAX_BATCH_BYTES) plus
 * its type byte. */
#define FRAME_MAX_DEFAULT ((16u << 20) + 1)
/* Bytes one frame_reader__feed() may always add on top of a pending partial
 * frame: feed at most this much, then call frame_reader__next() until it
 * returns 0, and the reader never refuses bytes. */
#define FRAME_FEED_MAX (64u << 10)

#define FRAME_PROTOCOL_VERSION 1
#define FRAME_DEVICE_ID_MAX 32
#define FRAME_HELLO_MIN_LEN 4		/* u16 version | u8 id len | 1..32 id bytes */
#define FRAME_ACK_LEN 11		/* u64 seq | u8 status | u16 reason */
#define FRAME_ERROR_TEXT_MAX 1024

enum frame_ack_status {
	FRAME_ACK_STORED = 0,
	FRAME_ACK_DUPLICATE = 1,	/* already stored: the agent drops it from the spool */
	FRAME_ACK_REJECTED = 2,		/* reason says why; the agent drops it and counts it */
};

/* The reason of a STORED ACK: 0, or this when some of the batch's remote
 * blocks were unknown to the collector (its database was replaced): the
 * agent forgets the blocks it thought stored and sends them again. */
#define FRAME_ACK_NOTE_BLOCKS_UNKNOWN 1

struct frame_hello {
	uint16_t version;
	char device_id[FRAME_DEVICE_ID_MAX + 1];	/* NUL-terminated, [0-9a-f], 1..32 */
};

struct frame_ack {
	uint64_t seq;
	uint8_t status;		/* enum frame_ack_status */
	uint16_t reason;	/* enum batch_error or a collector reason */
};

struct frame_reader;

/* max_frame: the largest len field accepted (type + payload), >= 1. The
 * reader's buffer grows with the bytes fed, never past
 * 4 + max_frame + FRAME_FEED_MAX. 0, -EINVAL or -ENOMEM. */
int frame_reader__new(struct frame_reader **out, size_t max_frame);
void frame_reader__free(struct frame_reader *r);
/* Copies n bytes in. 0; -ENOBUFS when they do not fit (nothing is taken:
 * drain with frame_reader__next() first); -ENOMEM; or the error the reader
 * failed with. */
int frame_reader__feed(struct frame_reader *r, const void *p, size_t n);
/* 1: a frame (type, payload valid until the next call on r), 0: need more
 * bytes, -EMSGSIZE: length over the limit (before any allocation), -EBADMSG:
 * zero length or unknown type. After an error the reader stays failed. */
int frame_reader__next(struct frame_reader *r, uint8_t *type, const uint8_t **payload,
		       size_t *len);
/* Bytes fed but not yet returned in a frame (a partial frame at a clean
 * close means the peer was cut off). */
size_t frame_reader__pending(const struct frame_reader *r);

/* Appends one whole frame; nothing on error. 0, -EINVAL (unknown type, or
 * len + 1 does not fit in a u32) or -E2BIG (out has no room). */
int frame_append(struct buf *out, uint8_t type, const void *payload, size_t len);

/* HELLO with FRAME_PROTOCOL_VERSION; -EINVAL if device_id is not 1..32 of
 * [0-9a-f]. */
int frame_hello_append(struct buf *out, const char *device_id);
/* Exact length 3 + id len; -EBADMSG on any mismatch or a bad id,
 * -EPROTONOSUPPORT for another protocol version (h->version says which). */
int frame_hello_decode(const uint8_t *p, size_t n, struct frame_hello *h);

/* -EINVAL for an unknown status. */
int frame_ack_append(struct buf *out, const struct frame_ack *a);
/* Exactly FRAME_ACK_LEN bytes and a known status, else -EBADMSG. */
int frame_ack_decode(const uint8_t *p, size_t n, struct frame_ack *a);

/* ERROR: u16 code | u16 text len | text. Text longer than
 * FRAME_ERROR_TEXT_MAX is cut. */
int frame_error_append(struct buf *out, uint16_t code, const char *text);
/* Exact length 4 + text len, text len <= FRAME_ERROR_TEXT_MAX, else
 * -EBADMSG. The text is copied NUL-terminated (cut to textsize - 1) with
 * bytes outside 0x20..0x7e replaced by '?', so it is safe to log. */
int frame_error_decode(const uint8_t *p, size_t n, uint16_t *code, char *text,
		       size_t textsize);

#endif
