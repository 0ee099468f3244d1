/* `vigil collector`: the receiving end of the signed pipeline. The server
 * (collector/server.h) hands it HELLO and BATCH frames; this file decides
 * what each one gets:
 *
 *	HELLO	the device must be enrolled (a file in the keystore)
 *	BATCH	batch_parse -> the batch's device is the HELLO's -> keystore
 *		(device, key_id) -> batch_verify_hmac -> batch_open -> the store
 *		decides stored / duplicate / stale / replay_conflict in the same
 *		transaction that stores the events -> ACK
 *
 * Every rejection is counted by reason in the store (so `vigil stats` shows
 * it) and logged once per connection, with the device and the reason, never
 * with key material. A batch that cannot be judged (storage or keystore
 * failure, out of memory) gets no ACK: the connection is closed with ERROR
 * and the agent keeps the batch in its spool and sends it again later. */
#ifndef VIGIL_COLLECTOR_H
#define VIGIL_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/server.h"
#include "collector/store.h"
#include "ship/batch.h"
#include "ship/device.h"
#include "ship/frame.h"

/* ACK reasons the collector adds after enum batch_error (0..6). Numbers are
 * part of the protocol (docs/pipeline.md; the agent's shipper names them
 * too): append only. */
enum collector_reason {
	COLLECTOR_R_UNKNOWN_DEVICE = 7,	/* no keystore file for the batch's device */
	COLLECTOR_R_UNKNOWN_KEY,	/* the device has no such key_id */
	COLLECTOR_R_DEVICE_MISMATCH,	/* batch device != HELLO device */
	COLLECTOR_R_REPLAY,		/* seq <= last stored, not an identical re-delivery
					 * (STORE_STALE; the store counts it) */
	COLLECTOR_R_REPLAY_CONFLICT,	/* another batch is stored under this seq */
	COLLECTOR_R_INTERNAL,		/* never in an ACK: the batch could not be judged,
					 * ERROR + close, the agent retries */
	COLLECTOR_R_MAX
};

_Static_assert((int)BATCH_ERROR_MAX <= (int)COLLECTOR_R_UNKNOWN_DEVICE,
	       "batch errors and collector reasons share the ACK reason numbers");

/* The name of an ACK reason: batch_error_name() for 0..BATCH_ERROR_MAX-1,
 * "unknown_device", "unknown_key", "device_mismatch", "replay",
 * "replay_conflict", "internal"; "unknown" otherwise. The rejection
 * counters in the store use the same names (replay and replay_conflict
 * are counted by the store itself). */
const char *collector_reason_name(unsigned reason);

/* Connections whose first rejection is remembered (so it is logged once). */
#define COLLECTOR_LOGGED_CONNS 256

struct collector;

/* st and ks are borrowed and must outlive c. lim NULL: batch_default_limits.
 * print: where `--print` writes one line per stored event (flushed per
 * batch), or NULL. 0 or -ENOMEM. */
int collector__new(struct collector **out, struct store *st, struct keystore *ks,
		   const struct batch_limits *lim, FILE *print);
void collector__free(struct collector *c);

/* server_callbacks.on_hello (ctx = c): 0 when device_id is enrolled;
 * -ENOKEY when it is not (counted as unknown_device); another negative
 * errno when the keystore cannot tell (its file is unreadable or malformed:
 * logged). */
int collector__handle_hello(void *c, const struct server_conn_info *ci, const char *device_id);

/* server_callbacks.on_batch (ctx = c): judges one sealed batch received on
 * a connection whose HELLO named ci->device_id and fills ack (seq: the
 * batch's seq, as its header claims when the batch is rejected before it is
 * authenticated). Returns 0 with ack STORED (the events are committed to the
 * store, and on disk once collector__durable reaches *ticket), DUPLICATE
 * (this exact batch was stored before; *ticket covers its first copy too)
 * or REJECTED (reason = enum batch_error or enum collector_reason; *ticket
 * 0); or a negative errno when the batch could not be judged (nothing
 * stored, no ACK). */
int collector__handle_batch(void *c, const struct server_conn_info *ci, const uint8_t *p,
			    size_t n, struct frame_ack *ack, uint64_t *ticket);
/* server_callbacks.durable (ctx = c): store__durable of the collector's
 * store. */
uint64_t collector__durable(void *c);

/* Writes one human line for an event line (lines from `--print`): time,
 * host, severity, name, process[pid] and the detail that matters (path,
 * address:port, query name, uid from -> to ...), "!!" in front of alerts and
 * severities from MEDIUM up. Control bytes become '?'. A line that is not
 * an event is skipped. 0, or -ENOMEM. */
int collector__print_event(struct collector *c, const char *line, size_t len, FILE *out);

/* `vigil collector --config FILE [--print]`. */
int collector_main(int argc, char **argv);

#endif
