#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "collector/server.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "ship/tls.h"

#define READ_CHUNK 16384	/* a whole TLS record: nothing left buffered inside OpenSSL */
/* Bytes per connection per wakeup, so one fast agent cannot starve the rest. */
#define READ_BUDGET (1u << 20)
#define ACCEPT_BUDGET 64
#define MAX_EVENTS 64
#define ACCEPT_PAUSE_MS 100	/* after EMFILE: let connections close before trying again */
#define LOG_WINDOW_MS 10000
#define LOG_PER_WINDOW 20	/* lines per reason per window */

_Static_assert(READ_CHUNK <= FRAME_FEED_MAX, "one read must always fit the frame reader");

enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING };

/* Connections in one state share a timeout, so a list kept in order of
 * last activity is also in deadline order: touch = move to the tail, the
 * next deadline is the head's. */
struct conn_list {
	struct conn *head, *tail;
};

struct conn {
	struct conn *prev, *next;
	enum conn_state state;
	int fd;
	SSL *ssl;
	struct server_conn_info info;
	uint64_t deadline;
	uint32_t events;	/* registered with epoll */
	bool hello;
	bool ready;		/* OpenSSL holds decrypted bytes epoll cannot see */
	bool paused;		/* replies are not being read: stop reading requests */
	bool read_wants_write, write_wants_read;
	bool hs_wants_write;
	bool lingering;		/* closing: our side is shut, draining the peer's */
	struct frame_reader *fr;	/* from the end of the handshake */
	struct buf wbuf;	/* ACK/ERROR bytes from woff on are still to send */
	size_t woff;
	/* ACKs of batches not on disk yet, oldest at held_first: they go to
	 * wbuf in order as cb.durable() passes their tickets. */
	struct held_ack {
		uint64_t ticket;
		struct frame_ack ack;
	} held[SERVER_HELD_MAX];
	unsigned held_first, nheld;
	/* The header of the frame streaming in, tracked until the first HELLO
	 * header so a pre-HELLO frame is judged from its first 5 bytes. */
	uint8_t hdr[FRAME_HEADER_LEN];
	uint8_t hdr_have;
	uint64_t body_left;
	bool hello_seen;
};

struct log_gate {
	uint64_t window_start;
	unsigned lines;
	uint64_t suppressed;
};

struct server {
	int epfd, lfd, wakefd, durable_fd;
	uint16_t port;
	SSL_CTX *tls;
	struct server_callbacks cb;
	unsigned max_conns, hs_timeout, idle_timeout;
	size_t max_frame, max_wbuf;
	struct conn_list lists[3];	/* by enum conn_state */
	unsigned nready;
	uint64_t next_id;
	uint64_t accept_resume;		/* 0, or when to listen again after EMFILE */
	int stop;			/* set by server__stop, read with atomics */
	bool stopped;
	struct server_stats st;
	struct log_gate gates[SERVER_R_MAX];
	uint8_t rbuf[READ_CHUNK];
};

static const char *const reason_names[SERVER_R_MAX] = {
	[SERVER_R_NOT_TLS] = "not_tls",
	[SERVER_R_TLS_VERSION] = "tls_version",
	[SERVER_R_HANDSHAKE] = "handshake_failed",
	[SERVER_R_HANDSHAKE_TIMEOUT] = "handshake_timeout",
	[SERVER_R_IDLE_TIMEOUT] = "idle_timeout",
	[SERVER_R_FRAME_TOO_BIG] = "frame_too_big",
	[SERVER_R_BAD_FRAME] = "bad_frame",
	[SERVER_R_BAD_HELLO] = "bad_hello",
	[SERVER_R_HELLO_REFUSED] = "hello_refused",
	[SERVER_R_BATCH_BEFORE_HELLO] = "batch_before_hello",
	[SERVER_R_UNEXPECTED_FRAME] = "unexpected_frame",
	[SERVER_R_BATCH_FAILED] = "batch_failed",
	[SERVER_R_TRUNCATED] = "truncated",
	[SERVER_R_PEER_ERROR] = "peer_error",
	[SERVER_R_TOO_MANY_CONNS] = "too_many_connections",
	[SERVER_R_IO] = "io_error",
};

const char *server__reason_name(enum server_reason r)
{
	if ((unsigned)r >= SERVER_R_MAX || !reason_names[r])
		return "unknown";
	return reason_names[r];
}

static void list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct conn_list *l, struct conn *c)
{
	c->prev = l->tail;
	c->next = NULL;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static unsigned state_timeout(const struct server *srv, enum conn_state s)
{
	switch (s) {
	case CONN_HANDSHAKE:
		return srv->hs_timeout;
	case CONN_OPEN:
		return srv->idle_timeout;
	default:
		return SERVER_CLOSE_GRACE_MS;
	}
}

/* Restarts the connection's timeout: activity, or a change of state. */
static void touch(struct server *srv, struct conn *c, enum conn_state s)
{
	list_remove(&srv->lists[c->state], c);
	c->state = s;
	c->deadline = mono_ms() + state_timeout(srv, s);
	list_append(&srv->lists[s], c);
}

static const char *who(const struct conn *c, char *b, size_t n)
{
	if (c->info.device_id[0])
		snprintf(b, n, "%s (device %s)", c->info.peer, c->info.device_id);
	else
		snprintf(b, n, "%s", c->info.peer);
	return b;
}

/* One log line per event, at most LOG_PER_WINDOW per reason per window; the
 * rest are counted and reported when the window turns. */
static void note(struct server *srv, enum server_reason r, const struct conn *c, const char *fmt,
		 ...) __attribute__((format(printf, 4, 5)));

static void note(struct server *srv, enum server_reason r, const struct conn *c, const char *fmt,
		 ...)
{
	struct log_gate *g = &srv->gates[r];
	uint64_t now = mono_ms();
	char msg[512], w[160];
	va_list ap;

	if (now - g->window_start >= LOG_WINDOW_MS) {
		if (g->suppressed)
			log_warnx("collector: %llu more %s connection(s) not logged",
				  (unsigned long long)g->suppressed, server__reason_name(r));
		g->window_start = now;
		g->lines = 0;
		g->suppressed = 0;
	}
	if (g->lines >= LOG_PER_WINDOW) {
		g->suppressed++;
		return;
	}
	g->lines++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c)
		who(c, w, sizeof(w));
	if (r == SERVER_R_IDLE_TIMEOUT)
		log_info("collector: %s%s%s; closing", c ? w : "", c ? ": " : "", msg);
	else
		log_warnx("collector: %s%s%s (%s); closing", c ? w : "", c ? ": " : "", msg,
			  server__reason_name(r));
}

static void set_events(struct server *srv, struct conn *c)
{
	uint32_t ev = 0;
	bool pending = c->woff < c->wbuf.len;
	struct epoll_event e;

	switch (c->state) {
	case CONN_HANDSHAKE:
		ev = c->hs_wants_write ? EPOLLOUT : EPOLLIN;
		break;
	case CONN_OPEN:
		if (!c->paused || c->write_wants_read)
			ev |= EPOLLIN;
		if ((pending && !c->write_wants_read) || c->read_wants_write)
			ev |= EPOLLOUT;
		break;
	case CONN_CLOSING:
		ev = c->lingering || c->write_wants_read ? EPOLLIN : EPOLLOUT;
		break;
	}
	if (ev == c->events)
		return;
	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void conn_destroy(struct server *srv, struct conn *c)
{
	list_remove(&srv->lists[c->state], c);
	if (c->ready)
		srv->nready--;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->lingering) {
		SSL_free(c->ssl);	/* close_notify went out already */
		close(c->fd);
	} else {
		tls__close(c->ssl, c->fd);
	}
	frame_reader__free(c->fr);
	buf__free(&c->wbuf);
	srv->st.acks_unsent += c->nheld;
	free(c);
	srv->st.open--;
	srv->st.closed++;
}

static bool flush(struct server *srv, struct conn *c);

/* After the last reply: close_notify and FIN, then drop what the peer still
 * sends until it closes or SERVER_CLOSE_GRACE_MS pass. Closing with its
 * bytes unread would send a RST, which can destroy the ERROR frame before
 * the agent reads it. */
static void conn_linger(struct server *srv, struct conn *c)
{
	ERR_clear_error();
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	set_events(srv, c);
}

/* false when the peer is done and the connection was destroyed. */
static bool linger_read(struct server *srv, struct conn *c)
{
	char b[4096];
	int i;

	for (i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		conn_destroy(srv, c);
		return false;
	}
	return true;
}

/* Counts and logs reason r, sends ERROR when a session can carry it
 * (send_error), and closes: at once, or after the ERROR is flushed (at most
 * SERVER_CLOSE_GRACE_MS). The connection must not be used after this. */
static void conn_fail(struct server *srv, struct conn *c, enum server_reason r, bool send_error,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void conn_fail(struct server *srv, struct conn *c, enum server_reason r, bool send_error,
		      const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->st.rejected[r]++;
	note(srv, r, c, "%s", msg);
	if (!send_error || c->state != CONN_OPEN ||
	    frame_error_append(&c->wbuf, (uint16_t)r, msg) < 0) {
		conn_destroy(srv, c);
		return;
	}
	c->paused = true;
	if (c->ready) {
		c->ready = false;
		srv->nready--;
	}
	touch(srv, c, CONN_CLOSING);
	if (flush(srv, c)) {
		if (c->woff >= c->wbuf.len)
			conn_linger(srv, c);
		else
			set_events(srv, c);
	}
}

/* "<OpenSSL reason>" for logs, emptying the error queue. */
static const char *ossl_reason(char *b, size_t n)
{
	return tls__ossl_reason(b, n);
}

/* Writes queued replies. false when the connection was closed. */
static bool flush(struct server *srv, struct conn *c)
{
	char reason[256];

	while (c->woff < c->wbuf.len) {
		size_t w = 0;
		int e;

		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(c->ssl, c->wbuf.data + c->woff, c->wbuf.len - c->woff, &w)) {
			c->woff += w;
			srv->st.bytes_out += w;
			c->write_wants_read = false;
			if (c->state != CONN_CLOSING)
				touch(srv, c, c->state);
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_WRITE) {
			c->write_wants_read = false;
			return true;
		}
		if (e == SSL_ERROR_WANT_READ) {
			c->write_wants_read = true;
			return true;
		}
		if (c->state == CONN_CLOSING) {
			ERR_clear_error();
			conn_destroy(srv, c);	/* already counted */
		} else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
			ERR_clear_error();
			conn_fail(srv, c, SERVER_R_IO, false, "write failed: %s",
				  errno ? strerror(errno) : "connection closed");
		} else {
			conn_fail(srv, c, SERVER_R_IO, false, "write failed: %s",
				  ossl_reason(reason, sizeof(reason)));
		}
		return false;
	}
	buf__reset(&c->wbuf);
	c->woff = 0;
	return true;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Follows frame headers in the stream until the first HELLO header, judging
 * each frame before it from its header alone: a BATCH is refused before its
 * body arrives, and nothing bigger than an ERROR frame is buffered for a
 * connection that has not said who it is. Malformed headers are left to the
 * frame reader, which reports them the same way for every connection. */
static bool prehello_check(struct server *srv, struct conn *c, const uint8_t *p, size_t n)
{
	while (n && !c->hello_seen) {
		uint32_t flen;

		if (c->body_left) {
			size_t k = c->body_left < n ? (size_t)c->body_left : n;

			c->body_left -= k;
			p += k;
			n -= k;
			continue;
		}
		c->hdr[c->hdr_have++] = *p++;
		n--;
		if (c->hdr_have < FRAME_HEADER_LEN)
			continue;
		c->hdr_have = 0;
		flen = get32(c->hdr);
		if (flen == 0 || flen > srv->max_frame || c->hdr[4] < FRAME_HELLO ||
		    c->hdr[4] > FRAME_ERROR)
			return true;	/* the reader fails it */
		if (c->hdr[4] == FRAME_HELLO) {
			c->hello_seen = true;
			return true;
		}
		if (c->hdr[4] == FRAME_BATCH) {
			conn_fail(srv, c, SERVER_R_BATCH_BEFORE_HELLO, true,
				  "a BATCH frame before HELLO");
			return false;
		}
		if (flen > SERVER_PREHELLO_FRAME_MAX) {
			conn_fail(srv, c, SERVER_R_FRAME_TOO_BIG, true,
				  "a %u-byte frame before HELLO (at most %u allowed)", flen,
				  (unsigned)SERVER_PREHELLO_FRAME_MAX);
			return false;
		}
		c->body_left = flen - 1;
	}
	return true;
}

/* Room in wbuf for one more ACK. */
static bool ack_room(const struct server *srv, const struct conn *c)
{
	return c->wbuf.len - c->woff + FRAME_HEADER_LEN + FRAME_ACK_LEN <= srv->max_wbuf;
}

/* Room for one more reply, held or not (the largest is an ACK; an ERROR
 * goes out on its own at close and may use what is left). */
static bool reply_room(const struct server *srv, const struct conn *c)
{
	return c->nheld < SERVER_HELD_MAX && ack_room(srv, c);
}

/* The highest ticket on disk; every one without cb.durable. */
static uint64_t durable_now(struct server *srv)
{
	return srv->cb.durable ? srv->cb.durable(srv->cb.ctx) : UINT64_MAX;
}

/* Moves the held ACKs whose batches are on disk to wbuf, in order, as far
 * as wbuf has room. false when one could not be queued (closed). */
static bool release_held(struct server *srv, struct conn *c)
{
	uint64_t durable;

	if (!c->nheld)
		return true;
	durable = durable_now(srv);
	while (c->nheld && c->held[c->held_first].ticket <= durable && ack_room(srv, c)) {
		const struct frame_ack *ack = &c->held[c->held_first].ack;
		int rc = frame_ack_append(&c->wbuf, ack);

		if (rc) {
			conn_fail(srv, c, SERVER_R_BATCH_FAILED, false,
				  "cannot queue the ACK (status %u): %s", ack->status,
				  strerror(-rc));
			return false;
		}
		srv->st.acks++;
		c->held_first = (c->held_first + 1) % SERVER_HELD_MAX;
		c->nheld--;
	}
	return true;
}

static bool on_frame(struct server *srv, struct conn *c, uint8_t type, const uint8_t *p,
		     size_t len)
{
	struct frame_hello h;
	struct frame_ack ack;
	uint64_t ticket;
	char text[FRAME_ERROR_TEXT_MAX + 1];
	uint16_t code;
	int rc;

	switch (type) {
	case FRAME_HELLO:
		if (c->hello) {
			conn_fail(srv, c, SERVER_R_UNEXPECTED_FRAME, true, "a second HELLO");
			return false;
		}
		rc = frame_hello_decode(p, len, &h);
		if (rc == -EPROTONOSUPPORT) {
			conn_fail(srv, c, SERVER_R_BAD_HELLO, true,
				  "HELLO with protocol version %u; this collector speaks %u",
				  h.version, FRAME_PROTOCOL_VERSION);
			return false;
		}
		if (rc) {
			conn_fail(srv, c, SERVER_R_BAD_HELLO, true,
				  "malformed HELLO (%zu bytes)", len);
			return false;
		}
		rc = srv->cb.on_hello ? srv->cb.on_hello(srv->cb.ctx, &c->info, h.device_id) : 0;
		if (rc < 0) {
			conn_fail(srv, c, SERVER_R_HELLO_REFUSED, true, "device %s refused: %s",
				  h.device_id, strerror(-rc));
			return false;
		}
		memcpy(c->info.device_id, h.device_id, sizeof(c->info.device_id));
		c->hello = true;
		c->hello_seen = true;
		srv->st.hellos++;
		log_debug("collector: %s: HELLO from device %s", c->info.peer, h.device_id);
		return true;
	case FRAME_BATCH:
		if (!c->hello) {
			conn_fail(srv, c, SERVER_R_BATCH_BEFORE_HELLO, true,
				  "a BATCH frame before HELLO");
			return false;
		}
		srv->st.batches++;
		memset(&ack, 0, sizeof(ack));
		ticket = 0;
		rc = srv->cb.on_batch ? srv->cb.on_batch(srv->cb.ctx, &c->info, p, len, &ack,
							 &ticket)
				      : -ENOSYS;
		if (rc < 0) {
			conn_fail(srv, c, SERVER_R_BATCH_FAILED, true,
				  "the collector could not process a batch: %s", strerror(-rc));
			return false;
		}
		/* Every ACK goes through the held queue (reply_room kept a
		 * slot free), so one whose batch is on disk but that follows
		 * one that is not waits behind it. */
		if (c->nheld || ticket > durable_now(srv))
			srv->st.acks_held++;
		c->held[(c->held_first + c->nheld) % SERVER_HELD_MAX] =
			(struct held_ack){ .ticket = ticket, .ack = ack };
		c->nheld++;
		return release_held(srv, c);
	case FRAME_ERROR:
		if (frame_error_decode(p, len, &code, text, sizeof(text)) < 0) {
			code = 0;
			snprintf(text, sizeof(text), "(malformed ERROR frame)");
		}
		conn_fail(srv, c, SERVER_R_PEER_ERROR, false, "the agent sent ERROR %u: %s", code,
			  text);
		return false;
	case FRAME_ACK:
		conn_fail(srv, c, SERVER_R_UNEXPECTED_FRAME, true, "an ACK frame from an agent");
		return false;
	default:
		conn_fail(srv, c, SERVER_R_BAD_FRAME, true, "frame type %u", type);
		return false;
	}
}

/* Handles the complete frames the reader holds. false when closed. */
static bool drain_frames(struct server *srv, struct conn *c)
{
	for (;;) {
		const uint8_t *p;
		uint8_t type;
		size_t len;
		int rc;

		if (!reply_room(srv, c)) {
			if (!c->paused)
				srv->st.paused++;
			c->paused = true;
			return true;
		}
		rc = frame_reader__next(c->fr, &type, &p, &len);
		if (rc == 0) {
			c->paused = false;
			return true;
		}
		if (rc == -EMSGSIZE) {
			conn_fail(srv, c, SERVER_R_FRAME_TOO_BIG, true,
				  "a frame over the %zu-byte limit", srv->max_frame);
			return false;
		}
		if (rc == -EBADMSG) {
			conn_fail(srv, c, SERVER_R_BAD_FRAME, true,
				  "a frame of length 0 or of unknown type");
			return false;
		}
		if (rc < 0) {
			conn_fail(srv, c, SERVER_R_IO, false, "frame reader: %s", strerror(-rc));
			return false;
		}
		if (!on_frame(srv, c, type, p, len))
			return false;
	}
}

static void set_ready(struct server *srv, struct conn *c, bool ready)
{
	if (c->ready == ready)
		return;
	c->ready = ready;
	if (ready)
		srv->nready++;
	else
		srv->nready--;
}

/* The peer ended the stream (close_notify or EOF). */
static void conn_eof(struct server *srv, struct conn *c)
{
	size_t pending = frame_reader__pending(c->fr);

	if (pending) {
		conn_fail(srv, c, SERVER_R_TRUNCATED, false,
			  "closed in the middle of a frame (%zu bytes of it received)", pending);
		return;
	}
	log_debug("collector: %s: closed by the peer", c->info.peer);
	conn_destroy(srv, c);
}

/* Reads and handles frames until OpenSSL wants more from the socket, the
 * budget is spent or replies back up. false when closed. */
static bool conn_read(struct server *srv, struct conn *c)
{
	size_t budget = READ_BUDGET;
	char reason[256];

	set_ready(srv, c, false);
	while (!c->paused) {
		size_t got = 0;
		int e, rc;

		if (!budget) {
			set_ready(srv, c, SSL_has_pending(c->ssl));
			return true;
		}
		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(c->ssl, srv->rbuf, sizeof(srv->rbuf), &got)) {
			budget = got > budget ? 0 : budget - got;
			srv->st.bytes_in += got;
			c->read_wants_write = false;
			touch(srv, c, CONN_OPEN);
			if (!c->hello_seen && !prehello_check(srv, c, srv->rbuf, got))
				return false;
			rc = frame_reader__feed(c->fr, srv->rbuf, got);
			if (rc) {
				conn_fail(srv, c, SERVER_R_IO, false, "frame reader: %s",
					  strerror(-rc));
				return false;
			}
			if (!drain_frames(srv, c))
				return false;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		switch (e) {
		case SSL_ERROR_WANT_READ:
			c->read_wants_write = false;
			return true;
		case SSL_ERROR_WANT_WRITE:
			c->read_wants_write = true;
			return true;
		case SSL_ERROR_ZERO_RETURN:
			conn_eof(srv, c);
			return false;
		case SSL_ERROR_SYSCALL:
			if (!errno) {
				conn_eof(srv, c);
				return false;
			}
			conn_fail(srv, c, SERVER_R_IO, false, "read failed: %s", strerror(errno));
			return false;
		default:
			if (ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
				ERR_clear_error();
				conn_eof(srv, c);
				return false;
			}
			conn_fail(srv, c, SERVER_R_IO, false, "TLS error: %s",
				  ossl_reason(reason, sizeof(reason)));
			return false;
		}
	}
	return true;
}

/* Sorts a failed SSL_accept into not TLS / too old a TLS / the rest. */
static enum server_reason handshake_reason(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return SERVER_R_HANDSHAKE;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_WRONG_SSL_VERSION:
		return SERVER_R_TLS_VERSION;
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_LENGTH_TOO_SHORT:
	case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
		return SERVER_R_NOT_TLS;
	default:
		return SERVER_R_HANDSHAKE;
	}
}

static bool conn_open(struct server *srv, struct conn *c);

static bool conn_handshake(struct server *srv, struct conn *c)
{
	char reason[256];
	unsigned long e;
	int rc, se;

	ERR_clear_error();
	errno = 0;
	rc = SSL_accept(c->ssl);
	if (rc == 1) {
		rc = frame_reader__new(&c->fr, srv->max_frame);
		if (rc) {
			conn_fail(srv, c, SERVER_R_IO, false, "frame reader: %s", strerror(-rc));
			return false;
		}
		srv->st.handshakes++;
		touch(srv, c, CONN_OPEN);
		log_debug("collector: %s: TLS 1.3 session (%s)", c->info.peer,
			  SSL_get_cipher_name(c->ssl));
		/* The HELLO may have come in the same flight as the Finished. */
		return conn_open(srv, c);
	}
	se = SSL_get_error(c->ssl, rc);
	if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
		c->hs_wants_write = se == SSL_ERROR_WANT_WRITE;
		set_events(srv, c);
		return true;
	}
	e = ERR_peek_error();
	if (!e) {
		conn_fail(srv, c, SERVER_R_HANDSHAKE, false, "closed during the TLS handshake%s%s",
			  errno ? ": " : "", errno ? strerror(errno) : "");
		return false;
	}
	if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		conn_fail(srv, c, SERVER_R_HANDSHAKE, false, "closed during the TLS handshake");
		return false;
	}
	conn_fail(srv, c, handshake_reason(e), false, "TLS handshake failed: %s",
		  ossl_reason(reason, sizeof(reason)));
	return false;
}

/* Everything an open connection may need: send, read, send what reading
 * produced, and again when the replies drained while we were at it (no
 * epoll event would come for that: we do not poll a paused connection for
 * input, nor an empty buffer for output). false when closed. */
static bool conn_open(struct server *srv, struct conn *c)
{
	int round;

	set_ready(srv, c, false);
	for (round = 0; round < 4; round++) {
		if (!release_held(srv, c) || !flush(srv, c))
			return false;
		if (c->paused) {
			if (!reply_room(srv, c))
				break;	/* EPOLLOUT resumes us */
			if (!drain_frames(srv, c))
				return false;
			if (c->paused)
				continue;
		}
		if (!conn_read(srv, c))
			return false;
		if (!c->paused)
			break;	/* the socket is dry, or the budget spent */
	}
	if (!release_held(srv, c) || !flush(srv, c))
		return false;
	if (c->paused && reply_room(srv, c))
		set_ready(srv, c, true);	/* rounds spent: next run_once */
	set_events(srv, c);
	return true;
}

static void conn_service(struct server *srv, struct conn *c, uint32_t ev)
{
	bool alive;

	switch (c->state) {
	case CONN_HANDSHAKE:
		alive = conn_handshake(srv, c);
		break;
	case CONN_OPEN:
		alive = conn_open(srv, c);
		break;
	default:
		if (c->lingering) {
			alive = linger_read(srv, c);
			break;
		}
		alive = flush(srv, c);
		if (alive && c->woff >= c->wbuf.len)
			conn_linger(srv, c);
		else if (alive)
			set_events(srv, c);
		break;
	}
	/* A hung-up socket that nothing above closed (we were not reading it)
	 * would wake every epoll_wait: close it. */
	if (alive && (ev & (EPOLLERR | EPOLLHUP))) {
		if (c->state == CONN_CLOSING)
			conn_destroy(srv, c);
		else
			conn_fail(srv, c, SERVER_R_IO, false, "connection reset");
	}
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, n, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(out, n, "%s:%u", a, ntohs(s6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			snprintf(out, n, "[%s]:%u", a, ntohs(s6->sin6_port));
		}
	} else {
		snprintf(out, n, "?");
	}
}

static void listen_events(struct server *srv, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = &srv->lfd };

	epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &e);
}

static void accept_one(struct server *srv, int fd, const struct sockaddr_storage *ss)
{
	struct epoll_event e;
	struct conn *c;
	char reason[256];
	int one = 1;

	srv->st.accepted++;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		srv->st.rejected[SERVER_R_IO]++;
		note(srv, SERVER_R_IO, NULL, "out of memory for a connection");
		return;
	}
	c->fd = fd;
	c->info.id = ++srv->next_id;
	format_peer(ss, c->info.peer, sizeof(c->info.peer));
	buf__init(&c->wbuf, srv->max_wbuf);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = CONN_HANDSHAKE;
	c->deadline = mono_ms() + srv->hs_timeout;
	list_append(&srv->lists[CONN_HANDSHAKE], c);
	srv->st.open++;
	ERR_clear_error();
	c->ssl = SSL_new(srv->tls);
	if (!c->ssl || !SSL_set_fd(c->ssl, fd)) {
		conn_fail(srv, c, SERVER_R_IO, false, "cannot start a TLS session: %s",
			  ossl_reason(reason, sizeof(reason)));
		return;
	}
	SSL_set_accept_state(c->ssl);
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	e.events = EPOLLIN;
	e.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		conn_fail(srv, c, SERVER_R_IO, false, "epoll: %s", strerror(errno));
		return;
	}
	c->events = EPOLLIN;
}

static void accept_all(struct server *srv)
{
	int i;

	for (i = 0; i < ACCEPT_BUDGET; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(srv->lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and friends: the pending connection stays in
			 * the backlog and would wake us at once; pause. */
			log_warn("collector: accept");
			listen_events(srv, 0);
			srv->accept_resume = mono_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		if (srv->st.open >= srv->max_conns) {
			char peer[64];

			srv->st.accepted++;
			srv->st.closed++;
			srv->st.rejected[SERVER_R_TOO_MANY_CONNS]++;
			format_peer(&ss, peer, sizeof(peer));
			note(srv, SERVER_R_TOO_MANY_CONNS, NULL, "%s: %u connections already open",
			     peer, srv->max_conns);
			close(fd);
			continue;
		}
		accept_one(srv, fd, &ss);
	}
}

static void expire(struct server *srv, uint64_t now)
{
	struct conn *c;

	while ((c = srv->lists[CONN_HANDSHAKE].head) && c->deadline <= now)
		conn_fail(srv, c, SERVER_R_HANDSHAKE_TIMEOUT, false,
			  "no TLS handshake within %u ms", srv->hs_timeout);
	while ((c = srv->lists[CONN_OPEN].head) && c->deadline <= now)
		conn_fail(srv, c, SERVER_R_IDLE_TIMEOUT, true,
			  "nothing received or sent for %u ms", srv->idle_timeout);
	while ((c = srv->lists[CONN_CLOSING].head) && c->deadline <= now)
		conn_destroy(srv, c);
}

static int wait_ms(const struct server *srv, int timeout_ms, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	int s;

	if (srv->nready)
		return 0;
	for (s = 0; s < 3; s++)
		if (srv->lists[s].head && srv->lists[s].head->deadline < next)
			next = srv->lists[s].head->deadline;
	if (srv->accept_resume && srv->accept_resume < next)
		next = srv->accept_resume;
	if (next == UINT64_MAX)
		return timeout_ms;
	next = next <= now ? 0 : next - now;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < next)
		return timeout_ms;
	return next > INT32_MAX ? INT32_MAX : (int)next;
}

static void close_all(struct server *srv)
{
	int s;

	for (s = 0; s < 3; s++)
		while (srv->lists[s].head)
			conn_destroy(srv, srv->lists[s].head);
	if (srv->lfd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->lfd, NULL);
		close(srv->lfd);
		srv->lfd = -1;
	}
}

/* One turn of conn_open for each open connection that is ready (OpenSSL
 * holds bytes for it, or its rounds ran out), or, held_acks, that has ACKs
 * waiting for the disk (conn_open sends those now on disk, and reads on if
 * it had stopped). */
static void open_turns(struct server *srv, bool held_acks)
{
	struct conn *c, *next, *last = srv->lists[CONN_OPEN].tail;

	/* conn_open() moves c to the tail or frees it: stop at the old tail
	 * so each connection gets one turn per call. */
	for (c = srv->lists[CONN_OPEN].head; c; c = next) {
		bool end = c == last;

		next = c->next;
		if (held_acks ? c->nheld != 0 : c->ready)
			conn_open(srv, c);
		if (end)
			break;
	}
}

int server__run_once(struct server *srv, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now;
	int n, i;

	if (srv->stopped)
		return -ESHUTDOWN;
	if (__atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE))
		goto stop;
	n = epoll_wait(srv->epfd, evs, MAX_EVENTS, wait_ms(srv, timeout_ms, mono_ms()));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &srv->lfd) {
			accept_all(srv);
		} else if (p == &srv->wakefd) {
			uint64_t v;

			if (read(srv->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("collector: eventfd");
		} else if (p == &srv->durable_fd) {
			uint64_t v;

			if (read(srv->durable_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("collector: durability eventfd");
			open_turns(srv, true);
		} else {
			conn_service(srv, p, evs[i].events);
		}
	}
	if (srv->nready)
		open_turns(srv, false);
	now = mono_ms();
	expire(srv, now);
	if (srv->accept_resume && now >= srv->accept_resume) {
		srv->accept_resume = 0;
		listen_events(srv, EPOLLIN);
	}
	if (!__atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE))
		return 0;
stop:
	close_all(srv);
	srv->stopped = true;
	return -ESHUTDOWN;
}

void server__stop(struct server *srv)
{
	uint64_t one = 1;
	ssize_t w;

	__atomic_store_n(&srv->stop, 1, __ATOMIC_RELEASE);
	w = write(srv->wakefd, &one, sizeof(one));
	(void)w;
}

/* host "" listens on every address: IPv6 dual-stack, or IPv4 where the
 * kernel has no IPv6. */
static int open_listener(struct server *srv, const char *host, uint16_t port, const char *spec,
			 char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8];
	int fd = -1, one = 1, zero = 0, rc = 0, gai;
	bool any = !*host;

	snprintf(portstr, sizeof(portstr), "%u", port);
	gai = getaddrinfo(any ? "::" : host, portstr, &hints, &res);
	if (gai && any)
		gai = getaddrinfo("0.0.0.0", portstr, &hints, &res);
	if (gai)
		return err_fail(-EADDRNOTAVAIL, err, errlen, "collector: cannot resolve %s: %s", spec,
			    gai_strerror(gai));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 && any && ai->ai_family == AF_INET6)
			break;	/* no IPv6 here: fall back to IPv4 below */
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof(int));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && any && !rc) {
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };

		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) || listen(fd, 511)) {
				rc = -errno;
				close(fd);
				fd = -1;
			}
		} else {
			rc = -errno;
		}
	}
	if (fd < 0)
		return err_fail(rc ? rc : -EADDRNOTAVAIL, err, errlen,
			    "collector: cannot listen on %s: %s", spec,
			    strerror(rc ? -rc : EADDRNOTAVAIL));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	srv->lfd = fd;
	return 0;
}

int server__new(struct server **out, const struct server_config *cfg, char *err, size_t errlen)
{
	struct epoll_event e;
	struct server *srv;
	char host[256];
	uint16_t port;
	int rc;

	*out = NULL;
	if (!cfg || !cfg->tls || !cfg->listen)
		return err_fail(-EINVAL, err, errlen,
			    "collector: the server needs a listen address and a TLS context");
	rc = tls__split_hostport(cfg->listen, host, sizeof(host), &port, err, errlen);
	if (rc)
		return rc;
	if (cfg->max_frame && (cfg->max_frame < SERVER_PREHELLO_FRAME_MAX ||
			       cfg->max_frame > UINT32_MAX))
		return err_fail(-EINVAL, err, errlen,
			    "collector: max_frame %zu is out of range (%u..%u)", cfg->max_frame,
			    (unsigned)SERVER_PREHELLO_FRAME_MAX, UINT32_MAX);
	if (cfg->max_wbuf && cfg->max_wbuf < FRAME_HEADER_LEN + 4 + FRAME_ERROR_TEXT_MAX)
		return err_fail(-EINVAL, err, errlen,
			    "collector: max_wbuf %zu cannot hold one ERROR frame (%u bytes)",
			    cfg->max_wbuf, (unsigned)(FRAME_HEADER_LEN + 4 + FRAME_ERROR_TEXT_MAX));
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return err_fail(-ENOMEM, err, errlen, "collector: out of memory");
	srv->lfd = srv->wakefd = srv->durable_fd = -1;
	srv->tls = cfg->tls;
	srv->cb = cfg->cb;
	srv->max_conns = cfg->max_conns ? cfg->max_conns : SERVER_MAX_CONNS_DEFAULT;
	srv->max_frame = cfg->max_frame ? cfg->max_frame : FRAME_MAX_DEFAULT;
	srv->hs_timeout = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms
						    : SERVER_HANDSHAKE_TIMEOUT_MS_DEFAULT;
	srv->idle_timeout = cfg->idle_timeout_ms ? cfg->idle_timeout_ms
						 : SERVER_IDLE_TIMEOUT_MS_DEFAULT;
	srv->max_wbuf = cfg->max_wbuf ? cfg->max_wbuf : SERVER_MAX_WBUF_DEFAULT;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		rc = err_fail(-errno, err, errlen, "collector: epoll: %s", strerror(errno));
		goto fail;
	}
	srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->wakefd < 0) {
		rc = err_fail(-errno, err, errlen, "collector: eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = open_listener(srv, host, port, cfg->listen, err, errlen);
	if (rc)
		goto fail;
	e.events = EPOLLIN;
	e.data.ptr = &srv->lfd;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &e) < 0) {
		rc = err_fail(-errno, err, errlen, "collector: epoll: %s", strerror(errno));
		goto fail;
	}
	e.events = EPOLLIN;
	e.data.ptr = &srv->wakefd;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wakefd, &e) < 0) {
		rc = err_fail(-errno, err, errlen, "collector: epoll: %s", strerror(errno));
		goto fail;
	}
	if (cfg->cb.durable) {
		/* borrowed: the store owns it */
		srv->durable_fd = cfg->durable_fd;
		e.events = EPOLLIN;
		e.data.ptr = &srv->durable_fd;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->durable_fd, &e) < 0) {
			rc = err_fail(-errno, err, errlen, "collector: epoll of the store's eventfd: "
				      "%s", strerror(errno));
			goto fail;
		}
	}
	*out = srv;
	return 0;
fail:
	server__free(srv);
	return rc;
}

void server__free(struct server *srv)
{
	if (!srv)
		return;
	close_all(srv);
	if (srv->wakefd >= 0)
		close(srv->wakefd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}

uint16_t server__port(const struct server *srv)
{
	return srv->port;
}

void server__stats(const struct server *srv, struct server_stats *out)
{
	*out = srv->st;
}
