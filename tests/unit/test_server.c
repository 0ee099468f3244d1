/* The collector's TLS frame server on 127.0.0.1:0, driven by server__run_once
 * on the main thread while clients run on threads: concurrent agents get
 * their ACKs in order; an agent that does not read its ACKs is paused, not
 * buffered for; and every kind of hostile or broken client (plain TCP
 * garbage, TLS 1.2, a stalled handshake, truncated, oversized and unknown
 * frames, BATCH before HELLO, bad and refused HELLOs, an ACK or ERROR from
 * the agent, a failing callback, an idle agent, one connection too many) is
 * counted under its own reason, gets an ERROR frame where a session exists,
 * is closed, and the server goes on serving a good agent afterwards.
 *
 * Clients record what they saw; the main thread checks it after joining, so
 * the check counters are never shared between threads. Every wait is
 * bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "collector/server.h"
#include "lib/log.h"
#include "ship/frame.h"
#include "ship/pki.h"
#include "ship/tls.h"
#include "unit.h"

#define MAX_FRAME (64u << 10)
#define HS_TIMEOUT_MS 500
#define IDLE_TIMEOUT_MS 1500
#define GOOD_CLIENTS 8
#define GOOD_BATCHES 20
#define REFUSED_DEVICE "dead"

static char root[32];
static char ca_file[128];
static uint16_t port;
static const char *agent_host = "127.0.0.1";
static SSL_CTX *cli_ctx;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- the collector side: callbacks ------------------------------------ */

struct collector {
	unsigned hellos, batches;
	char last_peer[64];
};

static int on_hello(void *ctx, const struct server_conn_info *ci, const char *device_id)
{
	struct collector *col = ctx;

	(void)ci;
	if (!strcmp(device_id, REFUSED_DEVICE))
		return -EACCES;
	col->hellos++;
	snprintf(col->last_peer, sizeof(col->last_peer), "%s", ci->peer);
	return 0;
}

/* Test batches: u64 seq | filler. "FAIL" makes the callback fail; a seq
 * with the top bit set is acked as rejected. */
static int on_batch(void *ctx, const struct server_conn_info *ci, const uint8_t *p, size_t len,
		    struct frame_ack *ack, uint64_t *ticket)
{
	struct collector *col = ctx;
	uint64_t seq = 0;
	size_t i;

	if (!ci->device_id[0])
		return -EFAULT;	/* the server must not call us before HELLO */
	if (len >= 4 && !memcmp(p, "FAIL", 4))
		return -EIO;
	if (len < 8)
		return -EBADMSG;
	for (i = 0; i < 8; i++)
		seq = seq << 8 | p[i];
	col->batches++;
	ack->seq = seq;
	ack->status = seq >> 63 ? FRAME_ACK_REJECTED : FRAME_ACK_STORED;
	ack->reason = seq >> 63 ? 7 : 0;
	/* test_held_acks' server: batch seq is on disk once durable_now is */
	*ticket = seq >> 63 ? 0 : seq;
	return 0;
}

/* The store's side of test_held_acks: what is on disk, and its eventfd. */
static uint64_t durable_now;
static int durable_efd = -1;

static uint64_t durable(void *ctx)
{
	(void)ctx;
	return __atomic_load_n(&durable_now, __ATOMIC_ACQUIRE);
}

static void make_durable(uint64_t t)
{
	__atomic_store_n(&durable_now, t, __ATOMIC_RELEASE);
	eventfd_write(durable_efd, 1);
}

/* --- the agent side: helpers ------------------------------------------ */

struct agent {
	SSL *ssl;
	int fd;
	struct frame_reader *fr;
	struct buf out;
};

static int agent_connect(struct agent *a)
{
	char err[256];
	int rc;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	buf__init(&a->out, 4u << 20);
	if (frame_reader__new(&a->fr, MAX_FRAME))
		return -ENOMEM;
	rc = tls__connect(cli_ctx, agent_host, port, "localhost", 3000, &a->ssl, &a->fd, err,
			  sizeof(err));
	if (rc)
		fprintf(stderr, "agent: %s\n", err);
	return rc;
}

static void agent_close(struct agent *a)
{
	tls__close(a->ssl, a->fd);
	frame_reader__free(a->fr);
	buf__free(&a->out);
	a->ssl = NULL;
	a->fd = -1;
}

/* Sends what is in a->out. */
static int agent_flush(struct agent *a)
{
	char err[256];
	int rc = tls__write_all(a->ssl, a->fd, a->out.data, a->out.len, 3000, err, sizeof(err));

	buf__reset(&a->out);
	return rc;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int queue_batch(struct agent *a, uint64_t seq, size_t len)
{
	uint8_t *body;
	int rc;

	if (len < 8)
		len = 8;
	body = malloc(len);
	if (!body)
		return -ENOMEM;
	put_be(body, seq, 8);
	memset(body + 8, 'x', len - 8);
	rc = frame_append(&a->out, FRAME_BATCH, body, len);
	free(body);
	return rc;
}

/* 1 and the frame (payload copied to pl, at most plcap) / 0 at EOF / < 0. */
static int agent_frame(struct agent *a, uint8_t *type, uint8_t *pl, size_t plcap, size_t *len,
		       int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	char buf[4096], err[256];

	for (;;) {
		const uint8_t *p;
		int rc = frame_reader__next(a->fr, type, &p, len);
		uint64_t now;
		long n;

		if (rc < 0)
			return rc;
		if (rc == 1) {
			memcpy(pl, p, *len < plcap ? *len : plcap);
			return 1;
		}
		now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		n = tls__read(a->ssl, a->fd, buf, sizeof(buf), (int)(deadline - now), err,
			      sizeof(err));
		if (n <= 0)
			return (int)n;
		rc = frame_reader__feed(a->fr, buf, (size_t)n);
		if (rc)
			return rc;
	}
}

/* What a client saw: the ERROR frame, if one came, and whether the server
 * then closed the connection. */
struct seen {
	int rc;			/* connect / send result */
	bool got_error;
	uint16_t code;
	char text[256];
	bool closed;		/* EOF (or reset) after it */
	bool extra;		/* any other frame */
};

static void expect_close(struct agent *a, struct seen *s)
{
	uint8_t type, pl[1100];
	size_t len;
	int rc, i;

	for (i = 0; i < 4; i++) {
		rc = agent_frame(a, &type, pl, sizeof(pl), &len, 3000);
		if (rc == 1 && type == FRAME_ERROR && !s->got_error) {
			s->got_error = true;
			frame_error_decode(pl, len, &s->code, s->text, sizeof(s->text));
			continue;
		}
		if (rc == 1) {
			s->extra = true;
			continue;
		}
		/* EOF, or a reset when our unread bytes were still in its buffer. */
		s->closed = rc == 0 || rc == -EIO || rc == -ECONNRESET || rc == -EPIPE;
		return;
	}
}

/* --- scenarios (each runs on its own thread) --------------------------- */

struct scenario {
	void (*fn)(struct scenario *);
	struct seen seen;
	int done;
	/* good agents */
	uint64_t first_seq;
	int acks, in_order, bad_acks, rejected_acks;
	size_t batches;
};

static void *scenario_main(void *arg)
{
	struct scenario *sc = arg;

	sc->fn(sc);
	__atomic_store_n(&sc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* HELLO, then GOOD_BATCHES batches of growing size (the larger ones span
 * several TLS records), pipelined, then every ACK in order. */
static void good_agent(struct scenario *sc)
{
	struct agent a;
	uint8_t type, pl[64];
	size_t len, i, n = sc->batches ? sc->batches : GOOD_BATCHES;
	char id[16];

	snprintf(id, sizeof(id), "%llx", (unsigned long long)(sc->first_seq >> 8));
	sc->seen.rc = agent_connect(&a);
	if (sc->seen.rc)
		goto out;
	frame_hello_append(&a.out, id);
	for (i = 0; i < n; i++)
		queue_batch(&a, sc->first_seq + i, 8 + i * 2500);
	sc->seen.rc = agent_flush(&a);
	for (i = 0; i < n && !sc->seen.rc; i++) {
		struct frame_ack ack;
		int rc = agent_frame(&a, &type, pl, sizeof(pl), &len, 5000);

		if (rc != 1 || type != FRAME_ACK || frame_ack_decode(pl, len, &ack)) {
			sc->bad_acks++;
			break;
		}
		sc->acks++;
		if (ack.seq == sc->first_seq + i && ack.status == FRAME_ACK_STORED)
			sc->in_order++;
	}
out:
	agent_close(&a);
}

/* Sends many tiny batches without reading until the server stops reading
 * (our write times out), then reads; repeats until all are acked. */
static void slow_reader(struct scenario *sc)
{
	const size_t total = 40000;
	uint8_t type, pl[64], frame[FRAME_HEADER_LEN + 8];
	struct agent a;
	size_t sent = 0, len;
	uint64_t deadline = now_ms() + 15000;

	sc->seen.rc = agent_connect(&a);
	if (sc->seen.rc)
		goto out;
	frame_hello_append(&a.out, "5104");
	if ((sc->seen.rc = agent_flush(&a)))
		goto out;
	frame[0] = 0, frame[1] = 0, frame[2] = 0, frame[3] = 9, frame[4] = FRAME_BATCH;
	while ((size_t)sc->acks < total && now_ms() < deadline) {
		/* Write until the connection pushes back. */
		while (sent < total) {
			size_t w = 0;

			put_be(frame + 5, sent + 1, 8);
			ERR_clear_error();
			if (SSL_write_ex(a.ssl, frame, sizeof(frame), &w)) {
				sent++;
				continue;
			}
			if (SSL_get_error(a.ssl, 0) != SSL_ERROR_WANT_WRITE) {
				sc->seen.rc = -EIO;
				goto out;
			}
			/* OpenSSL wants the same bytes again: wait a little
			 * for room, and if none comes, read instead. */
			struct pollfd pf = { .fd = a.fd, .events = POLLOUT };

			if (poll(&pf, 1, 100) == 1)
				continue;
			break;
		}
		/* Read what is there. */
		for (;;) {
			struct frame_ack ack;
			int rc = agent_frame(&a, &type, pl, sizeof(pl), &len,
					     sent < total ? 50 : 3000);

			if (rc == -ETIMEDOUT)
				break;
			if (rc != 1 || type != FRAME_ACK || frame_ack_decode(pl, len, &ack)) {
				sc->bad_acks++;
				goto out;
			}
			sc->acks++;
			if (ack.seq == (uint64_t)sc->acks)
				sc->in_order++;
			if ((size_t)sc->acks == total)
				break;
		}
	}
out:
	agent_close(&a);
}

static int raw_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 3 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits (bounded by SO_RCVTIMEO) for the server to close a raw socket. */
static bool raw_closed(int fd)
{
	char b[512];
	int i;

	for (i = 0; i < 16; i++) {
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;	/* timed out */
	}
	return false;
}

static void plain_garbage(struct scenario *sc)
{
	static const char junk[] = "hello there, this is not TLS at all\r\n";
	int fd = raw_connect();

	sc->seen.rc = fd < 0 ? -1 : 0;
	if (fd < 0)
		return;
	if (send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL) < 0)
		sc->seen.rc = -errno;
	sc->seen.closed = raw_closed(fd);
	close(fd);
}

static void plain_http(struct scenario *sc)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int fd = raw_connect();

	sc->seen.rc = fd < 0 ? -1 : 0;
	if (fd < 0)
		return;
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0)
		sc->seen.rc = -errno;
	sc->seen.closed = raw_closed(fd);
	close(fd);
}

/* Connects and sends nothing, then half a ClientHello: the handshake never
 * completes; the server must give up at its timeout. */
static void stalled_handshake(struct scenario *sc)
{
	static const uint8_t partial[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01 };
	int fd = raw_connect();
	uint64_t t0 = now_ms();

	sc->seen.rc = fd < 0 ? -1 : 0;
	if (fd < 0)
		return;
	if (send(fd, partial, sizeof(partial), MSG_NOSIGNAL) < 0)
		sc->seen.rc = -errno;
	sc->seen.closed = raw_closed(fd);
	sc->acks = (int)(now_ms() - t0);	/* how long the server waited */
	close(fd);
}

static void tls12_client(struct scenario *sc)
{
	SSL_CTX *old = SSL_CTX_new(TLS_client_method());
	int fd = raw_connect();
	SSL *ssl;

	sc->seen.rc = fd < 0 ? -1 : 0;
	if (fd < 0 || !old)
		goto out;
	SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION);
	SSL_CTX_set_verify(old, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(old);
	SSL_set_fd(ssl, fd);
	sc->seen.closed = SSL_connect(ssl) != 1;	/* refused */
	ERR_clear_error();
	SSL_free(ssl);
out:
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(old);
}

/* HELLO (unless skip_hello), then raw bytes; expect ERROR + close. */
static void send_then_expect_close(struct scenario *sc, bool hello, const void *p, size_t n,
				   bool close_after)
{
	struct agent a;

	sc->seen.rc = agent_connect(&a);
	if (sc->seen.rc)
		goto out;
	if (hello)
		frame_hello_append(&a.out, "abc123");
	if (p && (sc->seen.rc = buf__add(&a.out, p, n)))
		goto out;
	sc->seen.rc = agent_flush(&a);
	if (close_after)
		goto out;
	if (!sc->seen.rc)
		expect_close(&a, &sc->seen);
out:
	agent_close(&a);
}

/* The header over the limit, and then the body anyway: the server refuses
 * at the header, and still reads (and drops) what follows until the agent
 * has had its ERROR, rather than resetting the connection under it. */
static void oversized(struct scenario *sc)
{
	size_t n = FRAME_HEADER_LEN + (2u << 20);
	uint8_t *f = calloc(1, n);

	if (!f) {
		sc->seen.rc = -ENOMEM;
		return;
	}
	put_be(f, MAX_FRAME + 1, 4);
	f[4] = FRAME_BATCH;
	send_then_expect_close(sc, true, f, n, false);
	free(f);
}

static void huge_length(struct scenario *sc)
{
	uint8_t h[FRAME_HEADER_LEN] = { 0xff, 0xff, 0xff, 0xff, FRAME_BATCH };

	send_then_expect_close(sc, true, h, sizeof(h), false);
}

static void big_before_hello(struct scenario *sc)
{
	uint8_t h[FRAME_HEADER_LEN] = { 0 };

	put_be(h, 5000, 4);
	h[4] = FRAME_ERROR;
	send_then_expect_close(sc, false, h, sizeof(h), false);
}

static void unknown_type(struct scenario *sc)
{
	uint8_t f[FRAME_HEADER_LEN + 3] = { 0, 0, 0, 4, 9, 'a', 'b', 'c' };

	send_then_expect_close(sc, true, f, sizeof(f), false);
}

static void zero_length(struct scenario *sc)
{
	uint8_t f[FRAME_HEADER_LEN] = { 0, 0, 0, 0, FRAME_BATCH };

	send_then_expect_close(sc, true, f, sizeof(f), false);
}

static void batch_before_hello(struct scenario *sc)
{
	uint8_t f[FRAME_HEADER_LEN + 8] = { 0, 0, 0, 9, FRAME_BATCH, 0, 0, 0, 0, 0, 0, 0, 1 };

	send_then_expect_close(sc, false, f, sizeof(f), false);
}

/* A BATCH header before HELLO announcing a large body: refused from the
 * header, without waiting for (or buffering) the body. */
static void batch_header_before_hello(struct scenario *sc)
{
	uint8_t h[FRAME_HEADER_LEN] = { 0 };

	put_be(h, MAX_FRAME, 4);
	h[4] = FRAME_BATCH;
	send_then_expect_close(sc, false, h, sizeof(h), false);
}

static void truncated(struct scenario *sc)
{
	uint8_t f[FRAME_HEADER_LEN + 100] = { 0 };

	put_be(f, 1000, 4);
	f[4] = FRAME_BATCH;
	send_then_expect_close(sc, true, f, sizeof(f), true);
}

static void bad_version_hello(struct scenario *sc)
{
	uint8_t f[FRAME_HEADER_LEN + 5] = { 0, 0, 0, 6, FRAME_HELLO, 0, 2, 2, 'a', 'b' };

	send_then_expect_close(sc, false, f, sizeof(f), false);
}

static void malformed_hello(struct scenario *sc)
{
	/* id length 9, two id bytes */
	uint8_t f[FRAME_HEADER_LEN + 5] = { 0, 0, 0, 6, FRAME_HELLO, 0, 1, 9, 'a', 'b' };

	send_then_expect_close(sc, false, f, sizeof(f), false);
}

static void refused_hello(struct scenario *sc)
{
	struct buf b;

	buf__init(&b, 256);
	frame_hello_append(&b, REFUSED_DEVICE);
	send_then_expect_close(sc, false, b.data, b.len, false);
	buf__free(&b);
}

static void second_hello(struct scenario *sc)
{
	struct buf b;

	buf__init(&b, 256);
	frame_hello_append(&b, "abc");
	send_then_expect_close(sc, true, b.data, b.len, false);
	buf__free(&b);
}

static void ack_from_agent(struct scenario *sc)
{
	struct frame_ack ack = { .seq = 1 };
	struct buf b;

	buf__init(&b, 256);
	frame_ack_append(&b, &ack);
	send_then_expect_close(sc, true, b.data, b.len, false);
	buf__free(&b);
}

static void error_from_agent(struct scenario *sc)
{
	struct buf b;

	buf__init(&b, 256);
	frame_error_append(&b, 3, "agent shutting down");
	send_then_expect_close(sc, true, b.data, b.len, false);
	buf__free(&b);
}

static void failing_batch(struct scenario *sc)
{
	struct buf b;

	buf__init(&b, 256);
	frame_append(&b, FRAME_BATCH, "FAIL....", 8);
	send_then_expect_close(sc, true, b.data, b.len, false);
	buf__free(&b);
}

/* A rejected batch is an ACK, not an error: the connection stays. */
static void rejected_batch(struct scenario *sc)
{
	struct agent a;
	uint8_t type, pl[64];
	size_t len;
	struct frame_ack ack;

	sc->seen.rc = agent_connect(&a);
	if (sc->seen.rc)
		goto out;
	frame_hello_append(&a.out, "abc");
	queue_batch(&a, 1ull << 63 | 5, 16);
	queue_batch(&a, 6, 16);
	sc->seen.rc = agent_flush(&a);
	while (!sc->seen.rc && agent_frame(&a, &type, pl, sizeof(pl), &len, 3000) == 1) {
		if (type != FRAME_ACK || frame_ack_decode(pl, len, &ack)) {
			sc->bad_acks++;
			break;
		}
		sc->acks++;
		if (ack.status == FRAME_ACK_REJECTED && ack.reason == 7)
			sc->rejected_acks++;
		if (sc->acks == 2)
			break;
	}
out:
	agent_close(&a);
}

static void idle_agent(struct scenario *sc)
{
	uint64_t t0 = now_ms();

	send_then_expect_close(sc, true, NULL, 0, false);
	sc->acks = (int)(now_ms() - t0);
}

/* --- the driver ------------------------------------------------------- */

static struct server *srv;

/* Runs the server until every scenario is done and every connection is
 * closed, or limit_ms passes. */
static bool drive(struct scenario *scs, int n, int limit_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)limit_ms;
	pthread_t th[GOOD_CLIENTS + 1];
	int i;

	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, scenario_main, &scs[i]);
	for (;;) {
		struct server_stats st;
		bool done = true;

		server__run_once(srv, 10);
		for (i = 0; i < n; i++)
			done = done && __atomic_load_n(&scs[i].done, __ATOMIC_ACQUIRE);
		server__stats(srv, &st);
		if (done && st.open == 0)
			break;
		if (now_ms() > deadline) {
			fprintf(stderr, "drive: timed out (%llu open)\n",
				(unsigned long long)st.open);
			/* Close everything so the clients see EOF and end. */
			server__stop(srv);
			server__run_once(srv, 0);
			for (i = 0; i < n; i++)
				pthread_join(th[i], NULL);
			return false;
		}
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return true;
}

static struct server_stats before;

/* An agent on a server whose batches reach the disk when it says so: no ACK
 * before its batch is durable, ACKs in order, a rejection queued behind an
 * ACK that waits, and the ACKs still waiting when the agent leaves are
 * counted. sc->acks: ACKs seen at the right moments; bad_acks otherwise. */
static void held_agent(struct scenario *sc)
{
	struct agent a;
	uint8_t type, pl[64];
	struct frame_ack ack;
	size_t len;
	uint64_t want[] = { 1, 2, 3, 1ull << 63 | 4, 5 };
	int i, rc;

	sc->seen.rc = agent_connect(&a);
	if (sc->seen.rc)
		goto out;
	frame_hello_append(&a.out, "4e1d");
	for (i = 0; i < 5; i++)
		queue_batch(&a, want[i], 64);
	if ((sc->seen.rc = agent_flush(&a)))
		goto out;
	/* Nothing is on disk: nothing comes. */
	if (agent_frame(&a, &type, pl, sizeof(pl), &len, 300) != -ETIMEDOUT)
		sc->bad_acks++;
	/* 1 and 2 come, then 3 waits, and so does the rejection of 4 behind
	 * it; then both come, and 5 waits. */
	for (int step = 0; step < 2; step++) {
		make_durable(step ? 3 : 2);
		for (i = step ? 2 : 0; i < (step ? 4 : 2); i++) {
			rc = agent_frame(&a, &type, pl, sizeof(pl), &len, 3000);
			if (rc == 1 && type == FRAME_ACK && !frame_ack_decode(pl, len, &ack) &&
			    ack.seq == want[i] &&
			    ack.status == (want[i] >> 63 ? FRAME_ACK_REJECTED : FRAME_ACK_STORED))
				sc->acks++;
			else
				sc->bad_acks++;
		}
		if (agent_frame(&a, &type, pl, sizeof(pl), &len, 300) != -ETIMEDOUT)
			sc->bad_acks++;
	}
	/* 5 never reaches the disk before we go: its ACK is not sent. */
out:
	agent_close(&a);
}

static void test_held_acks(SSL_CTX *sctx)
{
	struct collector col = { 0 };
	struct server_config cfg = {
		.listen = "127.0.0.1:0", .tls = sctx,
		.cb = { .ctx = &col, .on_hello = on_hello, .on_batch = on_batch,
			.durable = durable },
	};
	struct server *saved = srv;
	struct scenario sc = { .fn = held_agent };
	struct server_stats st;
	uint16_t saved_port = port;
	char err[256];

	durable_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(durable_efd >= 0);
	cfg.durable_fd = durable_efd;
	durable_now = 0;
	CHECK_INT(server__new(&srv, &cfg, err, sizeof(err)), 0);
	if (!srv) {
		srv = saved;
		return;
	}
	port = server__port(srv);
	CHECK(drive(&sc, 1, 8000));
	server__stats(srv, &st);
	CHECK_INT(sc.seen.rc, 0);
	CHECK_INT(sc.acks, 4);
	CHECK_INT(sc.bad_acks, 0);
	CHECK_INT(st.batches, 5);
	CHECK_INT(st.acks, 4);
	CHECK_INT(st.acks_held, 5);
	CHECK_INT(st.acks_unsent, 1);
	for (int i = 1; i < SERVER_R_MAX; i++)
		CHECK_INT(st.rejected[i], 0);
	server__free(srv);
	close(durable_efd);
	srv = saved;
	port = saved_port;
}

/* Runs one bad client and checks that exactly reason r was counted once. */
static void one_bad(const char *name, void (*fn)(struct scenario *), enum server_reason r,
		    bool want_error, struct scenario *out)
{
	struct scenario sc = { .fn = fn };
	struct server_stats st;
	uint64_t sum = 0;
	int i;

	server__stats(srv, &before);
	CHECK(drive(&sc, 1, 8000));
	server__stats(srv, &st);
	for (i = 1; i < SERVER_R_MAX; i++)
		sum += st.rejected[i] - before.rejected[i];
	if (st.rejected[r] - before.rejected[r] != 1 || sum != 1)
		fprintf(stderr, "%s: expected one %s, got %llu (%llu rejections in all)\n", name,
			server__reason_name(r),
			(unsigned long long)(st.rejected[r] - before.rejected[r]),
			(unsigned long long)sum);
	CHECK_INT(st.rejected[r] - before.rejected[r], 1);
	CHECK_INT(sum, 1);
	CHECK_INT(sc.seen.rc, 0);
	CHECK_INT(st.open, 0);
	if (want_error) {
		if (!sc.seen.got_error || sc.seen.code != r)
			fprintf(stderr, "%s: ERROR frame %d code %u\n", name, sc.seen.got_error,
				sc.seen.code);
		CHECK(sc.seen.got_error);
		CHECK_INT(sc.seen.code, r);
		CHECK(sc.seen.text[0] != '\0');
		CHECK(sc.seen.closed);
		CHECK(!sc.seen.extra);
	}
	if (out)
		*out = sc;
}

static void good_round(const char *what)
{
	struct scenario g[GOOD_CLIENTS];
	struct server_stats st;
	int i;

	memset(g, 0, sizeof(g));
	server__stats(srv, &before);
	for (i = 0; i < GOOD_CLIENTS; i++) {
		g[i].fn = good_agent;
		g[i].first_seq = (uint64_t)(i + 1) << 8 | 1;
	}
	CHECK(drive(g, GOOD_CLIENTS, 10000));
	server__stats(srv, &st);
	for (i = 0; i < GOOD_CLIENTS; i++) {
		if (g[i].seen.rc || g[i].in_order != GOOD_BATCHES)
			fprintf(stderr, "%s: agent %d: rc %d, %d acks, %d in order\n", what, i,
				g[i].seen.rc, g[i].acks, g[i].in_order);
		CHECK_INT(g[i].seen.rc, 0);
		CHECK_INT(g[i].acks, GOOD_BATCHES);
		CHECK_INT(g[i].in_order, GOOD_BATCHES);
		CHECK_INT(g[i].bad_acks, 0);
	}
	CHECK_INT(st.handshakes - before.handshakes, GOOD_CLIENTS);
	CHECK_INT(st.hellos - before.hellos, GOOD_CLIENTS);
	CHECK_INT(st.batches - before.batches, GOOD_CLIENTS * GOOD_BATCHES);
	CHECK_INT(st.acks - before.acks, GOOD_CLIENTS * GOOD_BATCHES);
	for (i = 1; i < SERVER_R_MAX; i++)
		CHECK_INT(st.rejected[i] - before.rejected[i], 0);
}

static void test_too_many(SSL_CTX *sctx)
{
	struct server_config cfg = {
		.listen = "127.0.0.1:0", .tls = sctx, .max_conns = 1,
		.handshake_timeout_ms = 2000,
	};
	struct server *small;
	struct server_stats st;
	char err[256], b;
	int fd1, fd2, i;
	uint16_t saved = port;

	CHECK_INT(server__new(&small, &cfg, err, sizeof(err)), 0);
	if (!small)
		return;
	port = server__port(small);
	fd1 = raw_connect();
	for (i = 0; i < 20; i++)
		server__run_once(small, 10);
	fd2 = raw_connect();
	for (i = 0; i < 20; i++)
		server__run_once(small, 10);
	server__stats(small, &st);
	CHECK_INT(st.rejected[SERVER_R_TOO_MANY_CONNS], 1);
	CHECK_INT(st.open, 1);
	CHECK_INT(st.accepted, 2);
	/* The second was closed at once; the first is still waiting. */
	CHECK(fd2 >= 0 && (recv(fd2, &b, 1, 0) == 0 || errno == ECONNRESET));
	CHECK(fd1 >= 0 && recv(fd1, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	close(fd1);
	close(fd2);
	/* Stop closes what is left and says so from then on. */
	server__stop(small);
	CHECK_INT(server__run_once(small, 1000), -ESHUTDOWN);
	CHECK_INT(server__run_once(small, 1000), -ESHUTDOWN);
	server__stats(small, &st);
	CHECK_INT(st.open, 0);
	server__free(small);
	port = saved;
}

/* One good agent through a server listening on spec, connecting to host;
 * the peer address as the callbacks saw it goes to peer. */
static void listen_on(SSL_CTX *sctx, const char *spec, const char *host, char *peer,
		      size_t peerlen)
{
	struct collector col = { 0 };
	struct server_config cfg = {
		.listen = spec, .tls = sctx,
		.cb = { .ctx = &col, .on_hello = on_hello, .on_batch = on_batch },
	};
	struct server *saved = srv;
	struct scenario sc = { .fn = good_agent, .first_seq = 0x100, .batches = 2 };
	uint16_t saved_port = port;
	char err[256];

	peer[0] = '\0';
	if (server__new(&srv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "skipped %s: %s\n", spec, err);
		srv = saved;
		return;
	}
	port = server__port(srv);
	agent_host = host;
	CHECK(drive(&sc, 1, 5000));
	CHECK_INT(sc.seen.rc, 0);
	CHECK_INT(sc.in_order, 2);
	snprintf(peer, peerlen, "%s", col.last_peer);
	server__free(srv);
	srv = saved;
	port = saved_port;
	agent_host = "127.0.0.1";
}

static void test_families(SSL_CTX *sctx)
{
	char peer[64];

	/* Every address, dual-stack: an IPv4 agent shows as IPv4. */
	listen_on(sctx, "*:0", "127.0.0.1", peer, sizeof(peer));
	CHECK(!strncmp(peer, "127.0.0.1:", 10));
	listen_on(sctx, "[::1]:0", "::1", peer, sizeof(peer));
	if (peer[0])
		CHECK(!strncmp(peer, "[::1]:", 6));
	listen_on(sctx, "localhost:0", "localhost", peer, sizeof(peer));
	CHECK(peer[0] != '\0');
}

static void test_config(SSL_CTX *sctx)
{
	struct server_config cfg = { .listen = "127.0.0.1:0", .tls = sctx };
	struct server *s = NULL;
	char err[256];

	cfg.listen = "127.0.0.1";
	CHECK_INT(server__new(&s, &cfg, err, sizeof(err)), -EINVAL);
	cfg.listen = "127.0.0.1:0";
	cfg.max_frame = 10;
	CHECK_INT(server__new(&s, &cfg, err, sizeof(err)), -EINVAL);
	cfg.max_frame = 0;
	cfg.max_wbuf = 100;
	CHECK_INT(server__new(&s, &cfg, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "ERROR frame") != NULL);
	cfg.max_wbuf = 0;
	cfg.tls = NULL;
	CHECK_INT(server__new(&s, &cfg, err, sizeof(err)), -EINVAL);
	cfg.tls = sctx;
	cfg.listen = "192.0.2.1:0";	/* not ours: bind fails */
	CHECK(server__new(&s, &cfg, err, sizeof(err)) < 0);
	CHECK(s == NULL);
	CHECK(strstr(err, "192.0.2.1") != NULL);
	CHECK_STR(server__reason_name(SERVER_R_NOT_TLS), "not_tls");
	CHECK_STR(server__reason_name(SERVER_R_MAX), "unknown");
	CHECK_STR(server__reason_name(0), "unknown");
	server__free(NULL);
}

int main(void)
{
	struct collector col = { 0 };
	struct server_config cfg = {
		.listen = "127.0.0.1:0",
		.cb = { .ctx = &col, .on_hello = on_hello, .on_batch = on_batch },
		.max_frame = MAX_FRAME,
		.handshake_timeout_ms = HS_TIMEOUT_MS,
		.idle_timeout_ms = IDLE_TIMEOUT_MS,
		.max_wbuf = 2048,
	};
	char dir[64], cert[128], key[128], err[512], cmd[128];
	struct server_stats st;
	struct scenario sc;
	SSL_CTX *sctx;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_server", LOG_LEVEL_WARN);
	snprintf(root, sizeof(root), "/tmp/vigil-srv-XXXXXX");
	if (!mkdtemp(root))
		return 2;
	snprintf(dir, sizeof(dir), "%s/pki", root);
	rc = pki__make_local(dir, NULL, NULL, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
	sctx = tls__server_ctx(cert, key, err, sizeof(err));
	cli_ctx = tls__client_ctx(ca_file, NULL, err, sizeof(err));
	if (!sctx || !cli_ctx) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	test_config(sctx);
	test_held_acks(sctx);

	cfg.tls = sctx;
	rc = server__new(&srv, &cfg, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return unit_report("test_server");
	}
	port = server__port(srv);
	CHECK(port != 0);

	good_round("first round");

	one_bad("plain garbage", plain_garbage, SERVER_R_NOT_TLS, false, &sc);
	CHECK(sc.seen.closed);
	one_bad("plain http", plain_http, SERVER_R_NOT_TLS, false, &sc);
	CHECK(sc.seen.closed);
	one_bad("tls 1.2", tls12_client, SERVER_R_TLS_VERSION, false, &sc);
	CHECK(sc.seen.closed);
	one_bad("stalled handshake", stalled_handshake, SERVER_R_HANDSHAKE_TIMEOUT, false, &sc);
	CHECK(sc.seen.closed);
	CHECK(sc.acks >= HS_TIMEOUT_MS - 50 && sc.acks < HS_TIMEOUT_MS + 1500);
	one_bad("oversized", oversized, SERVER_R_FRAME_TOO_BIG, true, NULL);
	one_bad("huge length", huge_length, SERVER_R_FRAME_TOO_BIG, true, NULL);
	one_bad("big before hello", big_before_hello, SERVER_R_FRAME_TOO_BIG, true, NULL);
	one_bad("unknown type", unknown_type, SERVER_R_BAD_FRAME, true, NULL);
	one_bad("zero length", zero_length, SERVER_R_BAD_FRAME, true, NULL);
	one_bad("batch before hello", batch_before_hello, SERVER_R_BATCH_BEFORE_HELLO, true, NULL);
	one_bad("batch header before hello", batch_header_before_hello,
		SERVER_R_BATCH_BEFORE_HELLO, true, NULL);
	one_bad("truncated", truncated, SERVER_R_TRUNCATED, false, NULL);
	one_bad("bad version hello", bad_version_hello, SERVER_R_BAD_HELLO, true, NULL);
	one_bad("malformed hello", malformed_hello, SERVER_R_BAD_HELLO, true, NULL);
	one_bad("refused hello", refused_hello, SERVER_R_HELLO_REFUSED, true, NULL);
	one_bad("second hello", second_hello, SERVER_R_UNEXPECTED_FRAME, true, NULL);
	one_bad("ack from agent", ack_from_agent, SERVER_R_UNEXPECTED_FRAME, true, NULL);
	one_bad("error from agent", error_from_agent, SERVER_R_PEER_ERROR, false, &sc);
	CHECK(!sc.seen.got_error && sc.seen.closed);
	one_bad("failing batch", failing_batch, SERVER_R_BATCH_FAILED, true, NULL);
	one_bad("idle agent", idle_agent, SERVER_R_IDLE_TIMEOUT, true, &sc);
	CHECK(sc.acks >= IDLE_TIMEOUT_MS - 50 && sc.acks < IDLE_TIMEOUT_MS + 2000);

	/* A rejected batch is answered, and the connection lives on. */
	memset(&sc, 0, sizeof(sc));
	sc.fn = rejected_batch;
	server__stats(srv, &before);
	CHECK(drive(&sc, 1, 5000));
	CHECK_INT(sc.acks, 2);
	CHECK_INT(sc.rejected_acks, 1);
	server__stats(srv, &st);
	CHECK_INT(st.rejected[SERVER_R_BATCH_FAILED] - before.rejected[SERVER_R_BATCH_FAILED], 0);

	/* An agent that does not read its ACKs is paused, and loses nothing. */
	memset(&sc, 0, sizeof(sc));
	sc.fn = slow_reader;
	server__stats(srv, &before);
	CHECK(drive(&sc, 1, 20000));
	server__stats(srv, &st);
	if (sc.acks != 40000)
		fprintf(stderr, "slow reader: rc %d, %d acks, %d in order, %d bad\n", sc.seen.rc,
			sc.acks, sc.in_order, sc.bad_acks);
	CHECK_INT(sc.seen.rc, 0);
	CHECK_INT(sc.acks, 40000);
	CHECK_INT(sc.in_order, 40000);
	/* The ACKs outgrew the socket buffers and max_wbuf: reading stopped. */
	CHECK(st.paused > before.paused);

	/* After all that, agents are served as before. */
	good_round("after the hostile clients");
	server__stats(srv, &st);
	CHECK_INT(st.open, 0);
	CHECK(st.bytes_in > 0 && st.bytes_out > 0);
	CHECK_INT(st.closed, st.accepted);

	test_too_many(sctx);
	test_families(sctx);

	server__stop(srv);
	CHECK_INT(server__run_once(srv, 1000), -ESHUTDOWN);
	server__free(srv);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cli_ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return unit_report("test_server");
}
