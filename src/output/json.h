/* The JSON writer: one event -> one line of the envelope documented in
 * docs/schema.md and checked by docs/event.schema.json. Everything written is
 * valid UTF-8 JSON whatever bytes the kernel handed us. */
#ifndef VIGIL_JSON_H
#define VIGIL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "model/event.h"
#include "output/host.h"

struct line_blocks;

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+00:00" and its NUL. */
#define JSON_TIME_LEN 36

/* Appends s[0..len) as a quoted JSON string: '"' and '\\' escaped, control
 * bytes as \b \f \n \r \t or \u00XX, DEL and valid UTF-8 passed through,
 * and every byte that is not part of a well-formed UTF-8 sequence
 * (overlongs, UTF-16 surrogates, truncated sequences, stray continuation
 * bytes, 0xF5..0xFF, code points above U+10FFFF) replaced by U+FFFD.
 * NUL bytes inside len are written as \u0000. s NULL writes null.
 * Returns 0, -E2BIG (cap) or -ENOMEM; on error b is as it was before. */
int json__escape(struct buf *b, const char *s, size_t len);

/* Formats CLOCK_REALTIME ns as ISO 8601 in UTC with nanoseconds into out
 * (JSON_TIME_LEN bytes). Returns 0, or -ERANGE past year 9999. */
int json__format_time(char *out, size_t outlen, uint64_t real_ns);

/* "SIGKILL" for 9 (SIGRTMIN+n for real-time signals), NULL when unknown. */
const char *json__signal_name(int sig, char *tmp, size_t tmplen);

/* Appends one event as one line ending in "\n" to out. Takes the next message
 * id from ctx; otherwise the output depends only on ev and ctx. Borrowed
 * pointers in ev are only read. Returns 0, -EINVAL for an event type that
 * is not in the event table or a process/thread event without a process,
 * -E2BIG when out's cap would be exceeded (the caller counts a drop), or
 * -ENOMEM; on error out is left exactly as it was (length and toobig). */
/* Appends one process block ({...}, or null for NULL); uses p->json_block
 * when set. Errors as json__write_event. */
int json__write_proc(struct buf *out, const struct proc_info *p, int64_t boot_to_real_ns);

int json__write_event(struct buf *out, const struct event *ev, struct output_ctx *ctx);
/* The same, and where in the line its blocks are, for the shipper's shared
 * blocks (ship/blocks.h): the header's host_information object, then the
 * process_details and parent_process_details values when the event has
 * them. */
int json__write_event_blocks(struct buf *out, const struct event *ev, struct output_ctx *ctx,
			     struct line_blocks *bl);

#endif
