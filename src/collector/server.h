/* The collector's network side: one epoll loop (Redis's ae.c shape) that
 * accepts TCP connections, runs non-blocking TLS 1.3 handshakes, splits each
 * stream into frames (ship/frame.h) and hands HELLO and BATCH frames to the
 * caller's callbacks, writing back the ACK the BATCH callback filled, once
 * the batch is on disk (durable below).
 *
 * One thread: the caller drives it with server__run_once() and does its own
 * periodic work (retention, signals) between calls. The callbacks run on that
 * thread and block it while they run (a batch insert is one SQLite
 * transaction); that is the design until a measurement says otherwise.
 *
 * Every connection that breaks the protocol is closed, never the server: the
 * reason is counted (server__stats), logged once (rate-limited per reason so
 * a flood cannot flood the log), and, where a TLS session exists to carry it,
 * an ERROR frame (code = enum server_reason, text = what was wrong) is sent
 * before the close.
 *
 * Limits, all fixed at creation: connections, frame size, bytes of ACK/ERROR
 * waiting for a slow reader (the server stops reading from a connection
 * whose replies are not being read, rather than buffering more), handshake
 * and idle timeouts. Before its HELLO a connection may send no frame larger
 * than an ERROR frame, and a BATCH is refused from its header, so anonymous
 * connections cost a few KiB each. After HELLO a connection buffers up to
 * max_frame (the largest sealed batch): the worst case is max_conns *
 * max_frame bytes, so size max_conns to the memory at hand.
 *
 * The process must ignore SIGPIPE (see ship/tls.h). */
#ifndef VIGIL_SERVER_H
#define VIGIL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ship/frame.h"

#define SERVER_MAX_CONNS_DEFAULT 1024
#define SERVER_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
#define SERVER_IDLE_TIMEOUT_MS_DEFAULT 300000
#define SERVER_MAX_WBUF_DEFAULT (64u << 10)
#define SERVER_CLOSE_GRACE_MS 1000	/* for a last ERROR frame to reach the agent */
/* ACKs per connection waiting for durability; more batches are not read
 * until they drain. An agent keeps at most SHIPPER_WINDOW_MAX in flight. */
#define SERVER_HELD_MAX 64
/* Largest frame (type + payload) accepted before HELLO: an ERROR frame. */
#define SERVER_PREHELLO_FRAME_MAX (1 + 4 + FRAME_ERROR_TEXT_MAX)

/* Why a connection was closed by the server (or refused); also the code of
 * the ERROR frame sent for it. Numbers are part of the protocol: append only. */
enum server_reason {
	SERVER_R_NOT_TLS = 1,		/* the first bytes were not a TLS ClientHello */
	SERVER_R_TLS_VERSION,		/* the client offered nothing as new as TLS 1.3 */
	SERVER_R_HANDSHAKE,		/* any other handshake failure (cert alert, EOF...) */
	SERVER_R_HANDSHAKE_TIMEOUT,
	SERVER_R_IDLE_TIMEOUT,		/* nothing read or written for idle_timeout_ms */
	SERVER_R_FRAME_TOO_BIG,		/* over max_frame, or over the pre-HELLO limit */
	SERVER_R_BAD_FRAME,		/* zero length or unknown frame type */
	SERVER_R_BAD_HELLO,		/* malformed HELLO or unsupported protocol version */
	SERVER_R_HELLO_REFUSED,		/* on_hello said no (unknown device, ...) */
	SERVER_R_BATCH_BEFORE_HELLO,
	SERVER_R_UNEXPECTED_FRAME,	/* a second HELLO, an ACK from an agent */
	SERVER_R_BATCH_FAILED,		/* on_batch failed: the agent keeps the batch */
	SERVER_R_TRUNCATED,		/* the peer closed in the middle of a frame */
	SERVER_R_PEER_ERROR,		/* the agent sent ERROR */
	SERVER_R_TOO_MANY_CONNS,	/* closed at accept: max_conns reached */
	SERVER_R_IO,			/* reset, TLS record error, out of memory */
	SERVER_R_MAX
};

/* What the callbacks know about a connection. Valid during the call only. */
struct server_conn_info {
	uint64_t id;			/* per server, from 1, never reused */
	char peer[64];			/* "192.0.2.1:40312", "[2001:db8::1]:40312" */
	char device_id[FRAME_DEVICE_ID_MAX + 1];	/* "" until HELLO was accepted */
};

struct server_callbacks {
	void *ctx;
	/* device_id is well-formed ([0-9a-f], 1..32). 0 accepts it; a negative
	 * errno refuses it (HELLO_REFUSED: ERROR + close). */
	int (*on_hello)(void *ctx, const struct server_conn_info *ci, const char *device_id);
	/* payload is the BATCH frame's payload (a sealed batch, not yet parsed
	 * or verified), valid during the call. Fill ack (it starts zeroed) and
	 * return 0: the server sends it once durable() reaches *ticket (it
	 * starts 0: at once), and keeps every reply of the connection in order
	 * behind it. A negative errno means the batch could not be judged (the
	 * store is down...): BATCH_FAILED, ERROR + close, so the agent keeps it
	 * in its spool and retries. */
	int (*on_batch)(void *ctx, const struct server_conn_info *ci, const uint8_t *payload,
			size_t len, struct frame_ack *ack, uint64_t *ticket);
	/* The highest ticket on disk (store__durable); NULL: every ticket is.
	 * The server calls it when durable_fd turns readable. */
	uint64_t (*durable)(void *ctx);
};

struct server_config {
	/* "host:port" or "[v6]:port"; "*:port" or ":port" for every address
	 * (IPv6 dual-stack when available). Port 0 picks a free one
	 * (server__port). */
	const char *listen;
	SSL_CTX *tls;			/* tls__server_ctx(); borrowed, outlives the server */
	struct server_callbacks cb;
	unsigned max_conns;		/* 0: SERVER_MAX_CONNS_DEFAULT */
	size_t max_frame;		/* 0: FRAME_MAX_DEFAULT */
	unsigned handshake_timeout_ms;	/* 0: SERVER_HANDSHAKE_TIMEOUT_MS_DEFAULT */
	unsigned idle_timeout_ms;	/* 0: SERVER_IDLE_TIMEOUT_MS_DEFAULT */
	size_t max_wbuf;		/* 0: SERVER_MAX_WBUF_DEFAULT; at least one ERROR frame */
	/* With cb.durable: an eventfd that turns readable when durable() may
	 * have advanced (store__durable_fd); the server reads it. */
	int durable_fd;
};

struct server_stats {
	uint64_t accepted;		/* TCP connections accepted, refused ones included */
	uint64_t handshakes;		/* TLS 1.3 sessions established */
	uint64_t hellos;		/* HELLOs accepted */
	uint64_t batches;		/* BATCH frames handed to on_batch */
	uint64_t acks;			/* ACK frames queued */
	uint64_t acks_held;		/* ACKs that waited for their batch to reach the disk */
	uint64_t acks_unsent;		/* still waiting when their connection closed */
	uint64_t closed;		/* connections closed, for any reason or none */
	uint64_t paused;		/* reading stopped: the agent was not reading its ACKs */
	uint64_t bytes_in, bytes_out;	/* TLS plaintext */
	uint64_t open;			/* connections open now */
	uint64_t rejected[SERVER_R_MAX];	/* by enum server_reason; [0] unused */
};

struct server;

/* Binds and listens. cfg is copied (cfg->listen need not outlive the call).
 * 0 or a negative errno with err. */
int server__new(struct server **out, const struct server_config *cfg, char *err, size_t errlen);
/* Closes every connection and the listener. NULL allowed. */
void server__free(struct server *srv);
/* The bound port (the one picked when the config said 0). */
uint16_t server__port(const struct server *srv);
/* Waits up to timeout_ms (-1: until something happens; a timer of the
 * server's own always ends the wait in time) and handles what is ready:
 * accepts, handshakes, frames, callbacks, timeouts. 0 normally;
 * -ESHUTDOWN once server__stop was called (connections and listener are
 * closed by then); another negative errno if epoll itself failed. */
int server__run_once(struct server *srv, int timeout_ms);
/* Makes the current or next server__run_once stop. Async-signal-safe and
 * callable from any thread. */
void server__stop(struct server *srv);
void server__stats(const struct server *srv, struct server_stats *out);
/* "not_tls", "tls_version", ... ; "unknown" outside the enum. */
const char *server__reason_name(enum server_reason r);

#endif
