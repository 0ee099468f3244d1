/* The shipper end to end in one process: a real local PKI, the collector's
 * frame server (collector/server.h) on 127.0.0.1 driven by a thread, and an
 * on_batch that verifies each sealed batch (structure, HMAC with the device
 * key) and answers as the test says: STORED, DUPLICATE, REJECTED, or a
 * failure (the server sends ERROR and closes).
 *
 * Checked: the ingress bound and its drop counting; stop seals what is
 * buffered (nothing accepted is lost) and the seq store and spool survive a
 * restart; delivery with verified batches and increasing seqs; a rejected
 * batch is counted under its reason and skipped; a failing collector makes
 * the agent reconnect and resend the unacknowledged batches, and so does an
 * ACK that does not come in time; a collector that goes away and comes
 * back on the same port gets everything; an idle close is quiet; a full
 * spool drops exactly what it reports; a collector whose certificate does
 * not match the pin gets nothing, nor one that refuses the device (a failed
 * attempt, never a session). After every
 * scenario the books balance: lines in = acked + rejected + spooled +
 * dropped. Every wait is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/server.h"
#include "lib/log.h"
#include "ship/batch.h"
#include "ship/blocks.h"
#include "ship/device.h"
#include "ship/pki.h"
#include "ship/shipper.h"
#include "ship/spool.h"
#include "ship/tls.h"
#include "unit.h"

#define MAX_SEQ 4096

enum mode { M_STORE, M_DUPLICATE, M_REJECT_NEXT, M_FAIL_NEXT, M_STALL_NEXT, M_NOTE_NEXT };

static char root[64], ca_file[160], pin[TLS_PIN_HEX_LEN + 1];
static struct device *dev;
static SSL_CTX *sctx;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* --- the collector ------------------------------------------------------ */

struct collector {
	pthread_mutex_t lock;
	struct server *srv;
	pthread_t th;
	uint16_t port;
	enum mode mode;
	uint16_t reject_reason;
	/* what arrived */
	unsigned batches, bad, hellos;
	uint32_t seen[MAX_SEQ];		/* times each seq arrived */
	uint32_t events[MAX_SEQ];	/* event_count of each seq */
	uint64_t stored_events;		/* of batches acked STORED/DUPLICATE, once per seq */
	bool stored[MAX_SEQ];
	bool remote[MAX_SEQ];		/* the batch refers to blocks of earlier ones */
	uint64_t rejected_seq, failed_seq, stalled_seq, noted_seq;
	uint64_t max_seq;
	bool order_ok;			/* seqs on one connection strictly increase */
	uint64_t conn_last_seq;
	uint64_t conn_id;
};

static struct collector col = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int on_hello(void *ctx, const struct server_conn_info *ci, const char *device_id)
{
	struct collector *c = ctx;

	pthread_mutex_lock(&c->lock);
	c->hellos++;
	pthread_mutex_unlock(&c->lock);
	(void)ci;
	return strcmp(device_id, dev->device_id) ? -EACCES : 0;
}

static int on_batch(void *ctx, const struct server_conn_info *ci, const uint8_t *p, size_t len,
		    struct frame_ack *ack, uint64_t *ticket)
{
	struct collector *c = ctx;
	struct batch_meta meta;
	enum batch_error why;
	uint8_t key[DEVICE_KEY_LEN];
	char err[256];
	int rc = 0;

	(void)ticket;	/* stored at once: nothing to wait for */

	pthread_mutex_lock(&c->lock);
	c->batches++;
	if (batch_parse(p, len, NULL, &meta, &why, err, sizeof(err)) ||
	    device__key(dev, meta.key_id, key) || batch_verify_hmac(p, len, key) ||
	    strcmp(meta.device_id, dev->device_id) || strcmp(meta.org_id, dev->org_id) ||
	    meta.seq >= MAX_SEQ) {
		c->bad++;
		ack->seq = meta.seq;
		ack->status = FRAME_ACK_REJECTED;
		ack->reason = BATCH_MALFORMED;
		goto out;
	}
	if (ci->id != c->conn_id) {
		c->conn_id = ci->id;
		c->conn_last_seq = 0;
	}
	if (meta.seq <= c->conn_last_seq)
		c->order_ok = false;
	c->conn_last_seq = meta.seq;
	c->seen[meta.seq]++;
	c->events[meta.seq] = meta.event_count;
	{
		/* without a resolver, a remote reference is refused as such */
		struct buf out;
		enum batch_error w;
		char e[256];

		buf__init(&out, 1u << 24);
		if (batch_open(p, len, &meta, NULL, &out, &w, e, sizeof(e)) == -EBADMSG &&
		    strstr(e, "remote"))
			c->remote[meta.seq] = true;
		buf__free(&out);
	}
	if (meta.seq > c->max_seq)
		c->max_seq = meta.seq;
	ack->seq = meta.seq;
	switch (c->mode) {
	case M_STALL_NEXT:
		/* An ACK that comes too late: the agent gives up on the
		 * connection and sends the batch again on a new one. */
		c->mode = M_STORE;
		c->stalled_seq = meta.seq;
		pthread_mutex_unlock(&c->lock);
		sleep_ms(1200);
		pthread_mutex_lock(&c->lock);
		ack->status = FRAME_ACK_STORED;
		break;
	case M_FAIL_NEXT:
		c->mode = M_STORE;
		c->failed_seq = meta.seq;
		rc = -EIO;	/* the server sends ERROR batch_failed and closes */
		goto out;
	case M_REJECT_NEXT:
		c->mode = M_STORE;
		c->rejected_seq = meta.seq;
		ack->status = FRAME_ACK_REJECTED;
		ack->reason = c->reject_reason;
		goto out;
	case M_DUPLICATE:
		ack->status = FRAME_ACK_DUPLICATE;
		break;
	case M_NOTE_NEXT:
		c->mode = M_STORE;
		c->noted_seq = meta.seq;
		ack->status = FRAME_ACK_STORED;
		ack->reason = FRAME_ACK_NOTE_BLOCKS_UNKNOWN;
		break;
	case M_STORE:
		ack->status = FRAME_ACK_STORED;
		break;
	}
	if (!c->stored[meta.seq]) {
		c->stored[meta.seq] = true;
		c->stored_events += meta.event_count;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void *server_main(void *arg)
{
	struct server *srv = arg;

	while (server__run_once(srv, 50) != -ESHUTDOWN)
		;
	return NULL;
}

/* port 0: any. Returns 0 when listening. */
static int collector_start(uint16_t port, unsigned idle_ms)
{
	char listen[64], err[512];
	struct server_config cfg = {
		.listen = listen,
		.tls = sctx,
		.cb = { .ctx = &col, .on_hello = on_hello, .on_batch = on_batch },
		.idle_timeout_ms = idle_ms,
	};
	int rc;

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	rc = server__new(&col.srv, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "collector: %s\n", err);
		return rc;
	}
	col.port = server__port(col.srv);
	pthread_create(&col.th, NULL, server_main, col.srv);
	return 0;
}

static void collector_stop(void)
{
	if (!col.srv)
		return;
	server__stop(col.srv);
	pthread_join(col.th, NULL);
	server__free(col.srv);
	col.srv = NULL;
}

static void collector_reset(void)
{
	pthread_mutex_lock(&col.lock);
	col.mode = M_STORE;
	col.batches = col.bad = col.hellos = 0;
	memset(col.seen, 0, sizeof(col.seen));
	memset(col.events, 0, sizeof(col.events));
	memset(col.stored, 0, sizeof(col.stored));
	memset(col.remote, 0, sizeof(col.remote));
	col.noted_seq = 0;
	col.stored_events = 0;
	col.rejected_seq = col.failed_seq = col.stalled_seq = col.max_seq = 0;
	col.order_ok = true;
	col.conn_last_seq = col.conn_id = 0;
	pthread_mutex_unlock(&col.lock);
}

/* --- the agent side ------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A port nothing listens on. */
static uint16_t dead_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &l))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

struct agent_opts {
	const char *name;		/* state directory under root */
	uint16_t port;
	size_t ingress;
	uint32_t batch_max;
	uint32_t interval_ms;
	uint64_t spool_max;
	const char *pin;		/* NULL: CA */
	const struct device *dev;	/* NULL: the enrolled one */
	uint32_t io_timeout_ms;
	uint64_t remote_bytes;		/* ship.remote_blocks_max_bytes; 0: off */
};

static struct shipper *agent_new(const struct agent_opts *o)
{
	char collector[64], seq[160], spool[160], err[512];
	struct shipper_config cfg = {
		.dev = o->dev ? o->dev : dev,
		.collector = collector,
		.server_name = "localhost",
		.ca_file = o->pin ? NULL : ca_file,
		.pin_sha256 = o->pin,
		.seq_file = seq,
		.spool_dir = spool,
		.spool_max_bytes = o->spool_max ? o->spool_max : 64u << 20,
		.batch_interval_ms = o->interval_ms ? o->interval_ms : 20,
		.batch_max_bytes = o->batch_max ? o->batch_max : 64u << 10,
		.zstd_level = 1,
		.ingress_max_bytes = o->ingress,
		.window = 4,
		.connect_timeout_ms = 2000,
		.io_timeout_ms = o->io_timeout_ms ? o->io_timeout_ms : 3000,
		.backoff_base_ms = 20,
		.backoff_cap_ms = 200,
		.remote_blocks_max_bytes = o->remote_bytes,
	};
	struct shipper *sh = NULL;
	int rc;

	snprintf(collector, sizeof(collector), "127.0.0.1:%u", o->port);
	snprintf(seq, sizeof(seq), "%s/%s/state/seq", root, o->name);
	snprintf(spool, sizeof(spool), "%s/%s/spool", root, o->name);
	rc = shipper__new(&sh, &cfg, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "shipper__new: %s\n", err);
	return sh;
}

static int agent_start(struct shipper *sh)
{
	char err[256];
	int rc = shipper__start(sh, err, sizeof(err));

	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "shipper__start: %s\n", err);
	return rc;
}

/* A JSON-ish line of exactly len bytes (newline included), numbered. */
static size_t make_line(char *out, size_t len, unsigned n, bool noisy)
{
	int k = snprintf(out, len, "{\"n\":%u,\"pad\":\"", n);
	size_t i = (size_t)k;
	uint32_t x = n * 2654435761u + 1;

	for (; i < len - 3; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		out[i] = noisy ? (char)('a' + x % 26) : 'x';
	}
	out[i++] = '"';
	out[i++] = '}';
	out[i++] = '\n';
	return i;
}

static unsigned add_lines(struct shipper *sh, unsigned first, unsigned n, size_t len, bool noisy)
{
	char line[4096];
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t l = make_line(line, len, first + i, noisy);

		if (shipper__add_line(sh, line, l) == 0)
			ok++;
	}
	return ok;
}

static struct shipper_stats stats(struct shipper *sh)
{
	struct shipper_stats st;

	shipper__stats(sh, &st);
	return st;
}

/* Waits until every accepted line is acked or rejected. */
static bool wait_delivered(struct shipper *sh, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		struct shipper_stats st = stats(sh);

		if (st.events_sealed == st.lines_in && st.spool_pending_batches == 0)
			return true;
		sleep_ms(10);
	}
	return false;
}

/* No silent loss: every accepted line is accounted for exactly once (after
 * stop, when nothing is in the ingress or the batcher). */
static void check_books(struct shipper *sh, uint64_t spooled_before, const char *what)
{
	struct shipper_stats st = stats(sh);
	uint64_t in = st.lines_in + spooled_before;
	uint64_t out = st.acked_events + st.rejected_events + st.spool_pending_events +
		       st.spool_dropped_events + st.seal_failed_events + st.spool_corrupt_events;

	if (out != in)
		fprintf(stderr, "%s: lines in %llu, acked %llu rejected %llu pending %llu dropped "
			"%llu failed %llu corrupt %llu\n", what, (unsigned long long)in,
			(unsigned long long)st.acked_events, (unsigned long long)st.rejected_events,
			(unsigned long long)st.spool_pending_events,
			(unsigned long long)st.spool_dropped_events,
			(unsigned long long)st.seal_failed_events,
			(unsigned long long)st.spool_corrupt_events);
	CHECK_INT(out, in);
}

/* --- scenarios ------------------------------------------------------------- */

static void test_reasons(void)
{
	CHECK_STR(shipper_reject_reason(BATCH_BAD_HMAC), "collector_rejected:bad_hmac");
	CHECK_STR(shipper_reject_reason(BATCH_TOO_BIG), "collector_rejected:too_big");
	CHECK_STR(shipper_reject_reason(SHIPPER_REASONS - 1), "collector_rejected:unknown");
	CHECK_STR(shipper_reject_reason(65535), "collector_rejected:unknown");
	CHECK_STR(shipper_reject_reason(SHIPPER_REASONS - 2), "collector_rejected:unknown");
}

static void test_bad_config(void)
{
	struct shipper_config cfg = {
		.dev = dev, .collector = "127.0.0.1", .ca_file = ca_file, .seq_file = "/tmp/x",
		.spool_dir = "/tmp/y", .spool_max_bytes = 1 << 20, .batch_interval_ms = 10,
		.batch_max_bytes = 65536, .zstd_level = 1,
	};
	struct shipper *sh = (struct shipper *)1;
	char err[512];

	CHECK_INT(shipper__new(&sh, &cfg, err, sizeof(err)), -EINVAL);	/* no port */
	CHECK(sh == NULL);
	CHECK(strstr(err, "port") != NULL);
	cfg.collector = "127.0.0.1:7443";
	cfg.ca_file = NULL;
	CHECK_INT(shipper__new(&sh, &cfg, err, sizeof(err)), -EINVAL);	/* nothing to verify with */
	CHECK(strstr(err, "ca_file") != NULL);
	cfg.ca_file = "/nonexistent/ca.pem";
	CHECK(shipper__new(&sh, &cfg, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
	cfg.ca_file = ca_file;
	cfg.pin_sha256 = "zz";
	CHECK(shipper__new(&sh, &cfg, err, sizeof(err)) < 0);
	shipper__free(NULL);
}

/* The ingress holds what it may, refuses the rest and counts it; stop seals
 * everything accepted into the spool, and a new shipper on the same state
 * continues the seqs and finds the spooled batches. */
static void test_ingress_and_stop(void)
{
	struct agent_opts o = { .name = "ingress", .port = dead_port(), .ingress = 8192,
				.batch_max = 2048, .interval_ms = 10000 };
	struct shipper *sh = agent_new(&o);
	struct shipper_stats st;
	char big[4096];
	unsigned ok;

	if (!sh)
		return;
	/* Not started: nothing drains, the 4 KiB half (and room for one line's
	 * overhead, so a batch_max line fits) fills: 33 lines of 100 bytes. */
	ok = add_lines(sh, 0, 100, 100, false);
	CHECK_INT(ok, (4096 + SHIPPER_INGRESS_LINE_OVERHEAD) / (100 + SHIPPER_INGRESS_LINE_OVERHEAD));
	st = stats(sh);
	CHECK_INT(st.lines_in, ok);
	CHECK_INT(st.ingress_dropped, 100 - ok);
	CHECK_INT(shipper__add_line(sh, "x", 1), -EINVAL);
	CHECK_INT(shipper__add_line(sh, "no newline", 10), -EINVAL);
	make_line(big, 2100, 1, false);
	CHECK_INT(shipper__add_line(sh, big, 2100), -E2BIG);
	CHECK_INT(stats(sh).too_big, 1);

	if (agent_start(sh)) {
		shipper__free(sh);
		return;
	}
	/* The interval is 10 s: only stop (or a full batch) seals. */
	ok += add_lines(sh, 100, 20, 100, false);
	CHECK_INT(shipper__stop(sh, 500), 0);
	st = stats(sh);
	CHECK_INT(st.lines_in, ok);
	CHECK_INT(st.events_sealed, ok);
	CHECK_INT(st.spool_pending_events, ok);
	CHECK(st.batches_sealed >= 2);	/* 2 KiB batches */
	CHECK(!st.connected);
	CHECK(st.connect_failures >= 1);
	CHECK(strstr(st.last_error, "refused") != NULL);
	check_books(sh, 0, "ingress");
	CHECK_INT(shipper__add_line(sh, "late\n", 5), -ESHUTDOWN);
	CHECK_INT(shipper__stop(sh, 0), 0);	/* idempotent */
	uint64_t batches = st.batches_sealed;
	shipper__free(sh);

	/* Restart on the same state: the spool is there, seqs continue. */
	sh = agent_new(&o);
	if (!sh)
		return;
	st = stats(sh);
	CHECK_INT(st.spool_pending_batches, batches);
	CHECK_INT(st.spool_pending_events, ok);
	collector_reset();
	o.port = col.port;
	o.interval_ms = 20;
	shipper__free(sh);
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	add_lines(sh, 200, 10, 100, false);
	CHECK(wait_delivered(sh, 8000));
	st = stats(sh);
	CHECK_INT(st.acked_events, ok + 10);
	pthread_mutex_lock(&col.lock);
	CHECK_INT(col.stored_events, ok + 10);
	for (uint64_t s = 1; s <= batches; s++)
		CHECK(col.stored[s]);		/* the spooled batches, by their old seqs */
	CHECK(col.max_seq > batches);		/* new ones after them, never reused */
	CHECK(col.order_ok);
	CHECK_INT(col.bad, 0);
	pthread_mutex_unlock(&col.lock);
	shipper__stop(sh, 1000);
	check_books(sh, ok, "ingress restart");
out:
	shipper__free(sh);
}

/* Delivery, DUPLICATE, a REJECTED batch, a failing collector (ERROR +
 * close: reconnect, resend), a collector that restarts on its port, an idle
 * close. */
/* n lines whose process block (a span, as the JSON writer marks it) is the
 * same in all. */
static void add_block_lines(struct shipper *sh, unsigned first, unsigned n)
{
	static const char blk[] = "{\"process_name\":\"sshd\",\"process_id\":700,"
				  "\"process_command_line\":\"/usr/sbin/sshd -D\"}";

	for (unsigned i = 0; i < n; i++) {
		char line[512];
		struct line_blocks bl = { .n = 1 };
		int head = snprintf(line, sizeof(line),
				    "{\"message_header\":{\"n\":%u},\"process_details\":", first + i);
		int len = snprintf(line + head, sizeof(line) - (size_t)head, "%s}\n", blk);

		bl.off[0] = (uint32_t)head;
		bl.len[0] = (uint32_t)(sizeof(blk) - 1);
		CHECK_INT(shipper__add_line_blocks(sh, line, (size_t)(head + len), &bl), 0);
	}
}

/* Remote references: once a batch is stored its blocks are referred to; an
 * ACK noting unknown blocks makes the agent send them again. */
static void test_remote_note(void)
{
	struct agent_opts o = { .name = "remote", .port = col.port, .remote_bytes = 1u << 20 };
	struct shipper *sh;
	struct shipper_stats st;
	uint64_t first, noted;

	collector_reset();
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	add_block_lines(sh, 0, 5);
	CHECK(wait_delivered(sh, 5000));
	add_block_lines(sh, 5, 5);
	CHECK(wait_delivered(sh, 5000));
	pthread_mutex_lock(&col.lock);
	first = col.max_seq;
	CHECK(first >= 2);
	CHECK(!col.remote[1]);
	CHECK(col.remote[first]);	/* stored blocks are referred to */
	col.mode = M_NOTE_NEXT;
	pthread_mutex_unlock(&col.lock);
	add_block_lines(sh, 10, 5);	/* its ACK notes unknown blocks */
	CHECK(wait_delivered(sh, 5000));
	add_block_lines(sh, 15, 5);	/* defines the block again */
	CHECK(wait_delivered(sh, 5000));
	add_block_lines(sh, 20, 5);	/* and refers to it once that is stored */
	CHECK(wait_delivered(sh, 5000));
	pthread_mutex_lock(&col.lock);
	noted = col.noted_seq;
	CHECK(noted > first);
	CHECK(col.max_seq >= noted + 2);
	CHECK(!col.remote[noted + 1]);
	CHECK(col.remote[col.max_seq]);
	pthread_mutex_unlock(&col.lock);
	st = stats(sh);
	CHECK_INT(st.acked_events, 25);
	CHECK(st.remote_blocks >= 2);
out:
	shipper__free(sh);
}

static void test_delivery(void)
{
	struct agent_opts o = { .name = "deliver", .port = col.port };
	struct shipper *sh;
	struct shipper_stats st;
	unsigned n = 0;
	uint64_t seq;

	collector_reset();
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	for (int i = 0; i < 10; i++) {
		n += add_lines(sh, n, 50, 300, true);
		sleep_ms(5);
	}
	CHECK_INT(n, 500);
	CHECK(wait_delivered(sh, 8000));
	st = stats(sh);
	CHECK_INT(st.acked_events, 500);
	CHECK(st.connected);
	CHECK_INT(st.connects, 1);
	CHECK_INT(st.disconnects, 0);
	CHECK(st.batches_sealed >= 2);
	pthread_mutex_lock(&col.lock);
	CHECK_INT(col.stored_events, 500);
	CHECK_INT(col.bad, 0);
	CHECK(col.order_ok);
	CHECK_INT(col.hellos, 1);
	pthread_mutex_unlock(&col.lock);

	/* DUPLICATE counts as delivered. */
	pthread_mutex_lock(&col.lock);
	col.mode = M_DUPLICATE;
	pthread_mutex_unlock(&col.lock);
	n += add_lines(sh, n, 10, 300, true);
	CHECK(wait_delivered(sh, 5000));
	st = stats(sh);
	CHECK(st.duplicate_batches >= 1);
	CHECK_INT(st.acked_events, n);

	/* REJECTED: counted under its reason, deleted, the next batches go on. */
	pthread_mutex_lock(&col.lock);
	col.mode = M_REJECT_NEXT;
	col.reject_reason = BATCH_BAD_HMAC;
	pthread_mutex_unlock(&col.lock);
	n += add_lines(sh, n, 10, 300, true);
	sleep_ms(100);
	n += add_lines(sh, n, 10, 300, true);
	CHECK(wait_delivered(sh, 5000));
	st = stats(sh);
	pthread_mutex_lock(&col.lock);
	seq = col.rejected_seq;
	CHECK(seq != 0);
	CHECK_INT(st.rejected_batches, 1);
	CHECK_INT(st.rejected_events, seq < MAX_SEQ ? col.events[seq] : 0);
	CHECK_INT(st.rejected_events_by_reason[BATCH_BAD_HMAC], st.rejected_events);
	CHECK_INT(st.acked_events + st.rejected_events, n);
	CHECK_INT(col.seen[seq], 1);	/* never sent again */
	pthread_mutex_unlock(&col.lock);
	CHECK_INT(st.disconnects, 0);

	/* A failing collector: ERROR + close; the agent reconnects and sends
	 * the batch again, the collector is idempotent. */
	pthread_mutex_lock(&col.lock);
	col.mode = M_FAIL_NEXT;
	pthread_mutex_unlock(&col.lock);
	n += add_lines(sh, n, 30, 300, true);
	CHECK(wait_delivered(sh, 8000));
	st = stats(sh);
	pthread_mutex_lock(&col.lock);
	seq = col.failed_seq;
	CHECK(seq != 0);
	CHECK(seq < MAX_SEQ && col.seen[seq] >= 2 && col.stored[seq]);
	CHECK(col.order_ok);
	pthread_mutex_unlock(&col.lock);
	CHECK_INT(st.disconnects, 1);
	CHECK(st.connects >= 2);
	CHECK(strstr(st.last_error, "batch_failed") != NULL);
	CHECK_INT(st.acked_events + st.rejected_events, n);

	/* The collector goes away; batches wait in the spool; it comes back on
	 * the same port and gets all of them. */
	collector_stop();
	n += add_lines(sh, n, 40, 300, true);
	sleep_ms(300);
	st = stats(sh);
	CHECK(!st.connected);
	CHECK(st.spool_pending_events > 0);
	CHECK_INT(st.acked_events + st.rejected_events + st.spool_pending_events, n);
	CHECK_INT(collector_start(o.port, 400), 0);
	CHECK(wait_delivered(sh, 8000));
	st = stats(sh);
	CHECK(st.connected);
	CHECK_INT(st.disconnects, 2);
	CHECK_INT(st.acked_events + st.rejected_events, n);

	/* An idle connection closed by the collector (idle timeout 400 ms) is
	 * not a disconnection; the next batch reconnects quietly. */
	uint64_t connects = st.connects, hellos;

	pthread_mutex_lock(&col.lock);
	hellos = col.hellos;
	pthread_mutex_unlock(&col.lock);
	sleep_ms(900);
	n += add_lines(sh, n, 5, 300, true);
	CHECK(wait_delivered(sh, 5000));
	st = stats(sh);
	CHECK(st.connected);
	CHECK_INT(st.disconnects, 2);
	CHECK_INT(st.connects, connects);
	pthread_mutex_lock(&col.lock);
	CHECK_INT(col.hellos, hellos + 1);	/* it did reconnect */
	pthread_mutex_unlock(&col.lock);

	CHECK_INT(shipper__stop(sh, 1000), 0);
	check_books(sh, 0, "delivery");
	st = stats(sh);
	CHECK_INT(st.spool_pending_batches, 0);
out:
	shipper__free(sh);
	collector_stop();
	collector_start(0, 0);
}

/* Collector unreachable, a 256 KiB spool, incompressible lines: the spool
 * drops its oldest batches and the counts add up exactly. */
static void test_spool_full(void)
{
	struct agent_opts o = { .name = "full", .port = dead_port(), .batch_max = 32768,
				.spool_max = 256u << 10, .interval_ms = 10 };
	struct shipper *sh = agent_new(&o);
	struct shipper_stats st;
	unsigned n = 0;

	if (!sh || agent_start(sh))
		goto out;
	/* 1.6 MB, about 1 MB sealed: four times the spool */
	for (int i = 0; i < 400 && n < 1600; i++) {
		n += add_lines(sh, n, 20, 1000, true);
		sleep_ms(3);
	}
	CHECK_INT(shipper__stop(sh, 200), 0);
	st = stats(sh);
	if (!st.spool_dropped_batches)
		fprintf(stderr, "spool full: %u lines in, %llu ingress drops, %llu batches\n", n,
			(unsigned long long)st.ingress_dropped,
			(unsigned long long)st.batches_sealed);
	CHECK(n > 1000);
	CHECK_INT(st.lines_in, n);
	CHECK(st.spool_dropped_batches > 0);
	CHECK(st.spool_dropped_events > 0);
	CHECK(st.spool_pending_events > 0);
	CHECK_INT(st.spool_pending_events + st.spool_dropped_events, n);
	check_books(sh, 0, "spool full");
out:
	shipper__free(sh);
}

/* The collector's certificate does not match the pin: no session, nothing
 * delivered, the reason is in last_error. */
static void test_wrong_pin(void)
{
	struct agent_opts o = { .name = "pin", .port = col.port,
				.pin = "0000000000000000000000000000000000000000000000000000000000000000" };
	struct shipper *sh;
	struct shipper_stats st;

	collector_reset();
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	add_lines(sh, 0, 20, 200, false);
	sleep_ms(400);
	st = stats(sh);
	CHECK(!st.connected);
	CHECK_INT(st.connects, 0);
	CHECK(st.connect_failures >= 1);
	CHECK(strstr(st.last_error, "pin") != NULL);
	pthread_mutex_lock(&col.lock);
	CHECK_INT(col.batches, 0);
	CHECK_INT(col.hellos, 0);
	pthread_mutex_unlock(&col.lock);
	shipper__stop(sh, 100);
	check_books(sh, 0, "pin");
	shipper__free(sh);

	/* The right pin works. */
	o.pin = pin;
	o.name = "pin-ok";
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	add_lines(sh, 0, 20, 200, false);
	CHECK(wait_delivered(sh, 5000));
	CHECK_INT(stats(sh).acked_events, 20);
out:
	shipper__free(sh);
}

/* A device the collector does not know: its HELLO is refused at once. That
 * is a failure to connect, never a session (no Collector Connected and
 * Disconnected flapping), and nothing is delivered. */
static void test_unknown_device(void)
{
	struct agent_opts o = { .name = "stranger", .port = col.port };
	struct device *stranger = NULL;
	struct shipper *sh = NULL;
	struct shipper_stats st;
	char path[160], err[256];

	snprintf(path, sizeof(path), "%s/stranger.key", root);
	CHECK_INT(device__create(path, "acme", &stranger, err, sizeof(err)), 0);
	if (!stranger)
		return;
	o.dev = stranger;
	collector_reset();
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	add_lines(sh, 0, 20, 200, false);
	sleep_ms(1200);
	st = stats(sh);
	CHECK(!st.connected);
	CHECK_INT(st.connects, 0);
	CHECK_INT(st.disconnects, 0);
	CHECK(st.connect_failures >= 2);	/* retried with backoff */
	CHECK(strstr(st.last_error, "hello_refused") != NULL);
	CHECK_INT(st.acked_events, 0);
	pthread_mutex_lock(&col.lock);
	CHECK_INT(col.batches, 0);
	CHECK(col.hellos >= 2);
	pthread_mutex_unlock(&col.lock);
	shipper__stop(sh, 100);
	check_books(sh, 0, "stranger");
out:
	shipper__free(sh);
	device__free(stranger);
}

/* No ACK within io_timeout_ms: the connection is dropped, the batch sent
 * again on a new one and stored once. */
static void test_ack_timeout(void)
{
	struct agent_opts o = { .name = "stall", .port = col.port, .io_timeout_ms = 400 };
	struct shipper *sh;
	struct shipper_stats st;
	uint64_t seq;

	collector_reset();
	sh = agent_new(&o);
	if (!sh || agent_start(sh))
		goto out;
	add_lines(sh, 0, 10, 200, false);
	CHECK(wait_delivered(sh, 5000));
	pthread_mutex_lock(&col.lock);
	col.mode = M_STALL_NEXT;
	pthread_mutex_unlock(&col.lock);
	add_lines(sh, 10, 10, 200, false);
	CHECK(wait_delivered(sh, 8000));
	st = stats(sh);
	CHECK_INT(st.acked_events, 20);
	CHECK_INT(st.disconnects, 1);
	CHECK(strstr(st.last_error, "no ACK") != NULL);
	pthread_mutex_lock(&col.lock);
	seq = col.stalled_seq;
	CHECK(seq != 0 && seq < MAX_SEQ && col.seen[seq] >= 2);
	CHECK_INT(col.stored_events, 20);
	pthread_mutex_unlock(&col.lock);
	shipper__stop(sh, 500);
	check_books(sh, 0, "stall");
out:
	shipper__free(sh);
}

int main(void)
{
	char dir[128], cert[160], key[160], devpath[160], err[512], cmd[200];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_shipper", LOG_LEVEL_ERROR);
	snprintf(root, sizeof(root), "/tmp/vigil-shipper-XXXXXX");
	if (!mkdtemp(root))
		return 2;
	snprintf(dir, sizeof(dir), "%s/pki", root);
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
	snprintf(devpath, sizeof(devpath), "%s/device.key", root);
	rc = pki__make_local(dir, NULL, NULL, err, sizeof(err));
	if (!rc)
		rc = tls__spki_pin_file(cert, pin, err, sizeof(err));
	if (!rc && !(sctx = tls__server_ctx(cert, key, err, sizeof(err))))
		rc = -1;
	if (!rc)
		rc = device__create(devpath, "acme", &dev, err, sizeof(err));
	if (!rc)
		rc = collector_start(0, 0);
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "setup: %s\n", err);
		return unit_report("test_shipper");
	}
	test_reasons();
	test_bad_config();
	test_ingress_and_stop();
	test_delivery();
	test_remote_note();
	test_spool_full();
	test_wrong_pin();
	test_unknown_device();
	test_ack_timeout();

	collector_stop();
	SSL_CTX_free(sctx);
	device__free(dev);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return unit_report("test_shipper");
}
