/* The collector's decisions (collector__handle_hello/handle_batch) on real
 * sealed batches against a real SQLite store and keystore: stored,
 * duplicate, and every rejection — forged HMAC, flipped body bit, unknown
 * device, unknown key_id, device mismatch, replay (older seq), same seq with
 * other bytes, a stale events hash under a recomputed HMAC, truncated and
 * empty batches, oversized length fields — each with its ACK reason and its
 * counter; a storage failure gives no ACK. Then the --print lines (fields,
 * "!!" on MEDIUM and up, control bytes) and the --since/--until parser. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "collector/cli.h"
#include "collector/collector.h"
#include "lib/log.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "store_events.h"
#pragma GCC diagnostic pop
#include "unit.h"

static char dir[64], dbpath[128], ksdir[128], devpath[128], dev2path[128];
static char err[512];
static struct store *st;
static struct keystore *ks;
static struct collector *col;
static struct device *dev, *other;	/* other: not in the keystore */
static sqlite3 *peek;

static long long q_int(const char *sql, const char *arg)
{
	sqlite3_stmt *s;
	long long v = -1;

	if (sqlite3_prepare_v2(peek, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "q_int: %s: %s\n", sql, sqlite3_errmsg(peek));
		return -2;
	}
	if (arg)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		v = 0;
	sqlite3_finalize(s);
	return v;
}

static long long rejections(const char *reason)
{
	CHECK_INT(store__flush(st, err, sizeof(err)), 0);
	return q_int("SELECT count FROM rejections WHERE reason = ?1", reason);
}

/* n events of one batch; msg numbers make message ids unique per batch. */
static void lines(struct buf *b, unsigned first_msg, unsigned n)
{
	buf__reset(b);
	for (unsigned i = 0; i < n; i++)
		ev_line(b, "web-01", "EVENT", "INFO", first_msg + i, EV_T0 + i, "File Renamed", 13,
			"file", EV_FILE_RENAME, &ev_bash);
}

/* Seals b's lines as device_id/key_id/seq with key into out. */
static void seal(struct buf *out, const char *device_id, uint32_t key_id, const uint8_t *key,
		 uint64_t seq, const struct buf *b)
{
	struct batch_meta m = { .key_id = key_id, .seq = seq, .created_ns = EV_T0 };

	snprintf(m.device_id, sizeof(m.device_id), "%s", device_id);
	snprintf(m.org_id, sizeof(m.org_id), "acme");
	buf__init(out, BATCH_MAX_BATCH_BYTES);
	CHECK_INT(batch_seal(&m, b->data, b->len, key, 3, out, err, sizeof(err)), 0);
}

static void resign(struct buf *sealed, const uint8_t *key)
{
	size_t mac_len = 0;
	size_t n = sealed->len - BATCH_HMAC_LEN;

	CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, DEVICE_KEY_LEN,
			(const uint8_t *)sealed->data, n, (uint8_t *)sealed->data + n,
			BATCH_HMAC_LEN, &mac_len) != NULL);
	CHECK_INT(mac_len, BATCH_HMAC_LEN);
}

static void put32(struct buf *b, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b->data[off + i] = (char)(v >> (24 - 8 * i));
}

static struct frame_ack ack;
static uint64_t ticket;	/* the last handle()'s */

static int handle(const char *hello_device, uint64_t conn, const struct buf *b)
{
	struct server_conn_info ci = { .id = conn };

	snprintf(ci.peer, sizeof(ci.peer), "127.0.0.1:%llu", (unsigned long long)conn);
	snprintf(ci.device_id, sizeof(ci.device_id), "%s", hello_device);
	memset(&ack, 0xa5, sizeof(ack));
	ticket = UINT64_MAX;
	return collector__handle_batch(col, &ci, (const uint8_t *)b->data, b->len, &ack, &ticket);
}

static void expect_reject(const char *what, unsigned reason, uint64_t seq)
{
	if (ack.status != FRAME_ACK_REJECTED || ack.reason != reason)
		fprintf(stderr, "%s: status %u reason %u (%s), want rejected %u (%s)\n", what,
			ack.status, ack.reason, collector_reason_name(ack.reason), reason,
			collector_reason_name(reason));
	CHECK_INT(ack.status, FRAME_ACK_REJECTED);
	CHECK_INT(ack.reason, reason);
	CHECK_INT(ack.seq, seq);
	CHECK_INT(ticket, 0);	/* a rejection waits for nothing */
}

static void setup(void)
{
	struct store_config cfg = { .path = dbpath };

	snprintf(dir, sizeof(dir), "/tmp/vigil-test-collector-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(dbpath, sizeof(dbpath), "%s/vigil.db", dir);
	snprintf(ksdir, sizeof(ksdir), "%s/keystore", dir);
	snprintf(devpath, sizeof(devpath), "%s/device.key", dir);
	snprintf(dev2path, sizeof(dev2path), "%s/other.key", dir);
	mkdir(ksdir, 0700);
	CHECK_INT(device__create(devpath, "acme", &dev, err, sizeof(err)), 0);
	CHECK_INT(device__create(dev2path, "acme", &other, err, sizeof(err)), 0);
	CHECK_INT(keystore__open(ksdir, 0, &ks, err, sizeof(err)), 0);
	CHECK_INT(keystore__add(ks, dev, err, sizeof(err)), 0);
	if (store__open(&st, &cfg, err, sizeof(err))) {
		fprintf(stderr, "store__open: %s\n", err);
		exit(1);
	}
	CHECK_INT(collector__new(&col, st, ks, NULL, NULL), 0);
	if (sqlite3_open_v2(dbpath, &peek, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		exit(1);
}

static void test_reasons(void)
{
	CHECK_STR(collector_reason_name(BATCH_OK), "ok");
	CHECK_STR(collector_reason_name(BATCH_BAD_HMAC), "bad_hmac");
	CHECK_STR(collector_reason_name(7), "unknown_device");
	CHECK_STR(collector_reason_name(COLLECTOR_R_UNKNOWN_KEY), "unknown_key");
	CHECK_STR(collector_reason_name(COLLECTOR_R_DEVICE_MISMATCH), "device_mismatch");
	CHECK_STR(collector_reason_name(COLLECTOR_R_REPLAY), "replay");
	CHECK_STR(collector_reason_name(COLLECTOR_R_REPLAY_CONFLICT), "replay_conflict");
	CHECK_STR(collector_reason_name(COLLECTOR_R_INTERNAL), "internal");
	CHECK_STR(collector_reason_name(COLLECTOR_R_MAX), "unknown");
	CHECK_STR(collector_reason_name(65535), "unknown");
}

static void test_hello(void)
{
	struct server_conn_info ci = { .id = 1, .peer = "127.0.0.1:1" };

	CHECK_INT(collector__handle_hello(col, &ci, dev->device_id), 0);
	CHECK_INT(collector__handle_hello(col, &ci, other->device_id), -ENOKEY);
	CHECK_INT(collector__handle_hello(col, &ci, "0123"), -ENOKEY);
	CHECK_INT(rejections("unknown_device"), 2);
}

static void test_batches(void)
{
	const char *id = dev->device_id;
	const uint8_t *key = dev->cur.key;
	struct buf l, b1, b1x, b3, b2, x;
	uint64_t conn = 100, prev;

	buf__init(&l, 1 << 20);

	/* stored, then the same bytes again: duplicate, nothing added */
	lines(&l, 0, 5);
	seal(&b1, id, dev->cur.key_id, key, 1, &l);
	CHECK_INT(handle(id, conn, &b1), 0);
	CHECK_INT(ack.status, FRAME_ACK_STORED);
	CHECK_INT(ack.seq, 1);
	CHECK_INT(ack.reason, 0);
	/* The ACK may go once the store has synced the commit. */
	CHECK(ticket > 0 && ticket != UINT64_MAX);
	CHECK_INT(store__wait_durable(st, ticket, 5000), 0);
	CHECK(collector__durable(col) >= ticket);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 5);
	CHECK_INT(q_int("SELECT count(*) FROM file_events WHERE device_id = ?1", id), 5);
	prev = ticket;
	CHECK_INT(handle(id, conn, &b1), 0);
	CHECK_INT(ack.status, FRAME_ACK_DUPLICATE);
	CHECK_INT(ack.seq, 1);
	CHECK(ticket >= prev && ticket != UINT64_MAX);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 5);

	/* seq 1 again with other events: replay_conflict (counted by the store) */
	lines(&l, 100, 2);
	seal(&b1x, id, dev->cur.key_id, key, 1, &l);
	CHECK_INT(handle(id, ++conn, &b1x), 0);
	expect_reject("replay conflict", COLLECTOR_R_REPLAY_CONFLICT, 1);
	CHECK_INT(rejections("replay_conflict"), 1);

	/* seq 3 after 1: stored, a gap of one counted */
	lines(&l, 200, 3);
	seal(&b3, id, dev->cur.key_id, key, 3, &l);
	CHECK_INT(handle(id, ++conn, &b3), 0);
	CHECK_INT(ack.status, FRAME_ACK_STORED);
	CHECK_INT(q_int("SELECT gaps FROM devices WHERE device_id = ?1", id), 1);
	CHECK_INT(q_int("SELECT lost_seqs FROM devices WHERE device_id = ?1", id), 1);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 8);

	/* seq 2 now is older than the last stored: a replay */
	lines(&l, 300, 1);
	seal(&b2, id, dev->cur.key_id, key, 2, &l);
	CHECK_INT(handle(id, ++conn, &b2), 0);
	expect_reject("replay", COLLECTOR_R_REPLAY, 2);
	CHECK_INT(rejections("replay"), 1);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 8);

	/* forged HMAC (last byte), then a flipped body bit */
	lines(&l, 400, 2);
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	x.data[x.len - 1] ^= 1;
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("forged hmac", BATCH_BAD_HMAC, 4);
	x.data[x.len - 1] ^= 1;
	x.data[BATCH_HEADER_LEN + 3] ^= 0x10;
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("bit flip", BATCH_BAD_HMAC, 4);
	/* signed with another device's key under our id */
	buf__free(&x);
	seal(&x, id, dev->cur.key_id, other->cur.key, 4, &l);
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("wrong key", BATCH_BAD_HMAC, 4);
	CHECK_INT(rejections("bad_hmac"), 3);
	buf__free(&x);

	/* an unknown key_id of a known device */
	seal(&x, id, dev->cur.key_id + 4, key, 4, &l);
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("unknown key", COLLECTOR_R_UNKNOWN_KEY, 4);
	CHECK_INT(rejections("unknown_key"), 1);
	buf__free(&x);

	/* a device the keystore does not know (HELLO accepted by a test shortcut) */
	seal(&x, other->device_id, other->cur.key_id, other->cur.key, 1, &l);
	CHECK_INT(handle(other->device_id, ++conn, &x), 0);
	expect_reject("unknown device", COLLECTOR_R_UNKNOWN_DEVICE, 1);
	CHECK_INT(rejections("unknown_device"), 3);
	/* ... and the same batch on a connection whose HELLO named us */
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("device mismatch", COLLECTOR_R_DEVICE_MISMATCH, 1);
	CHECK_INT(rejections("device_mismatch"), 1);
	buf__free(&x);

	/* a stale events hash under a valid HMAC: only batch_open sees it */
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	x.data[144] ^= 0xff;
	resign(&x, key);
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("events hash", BATCH_EVENTS_HASH, 4);
	CHECK_INT(rejections("events_hash"), 1);

	/* truncated, empty */
	x.len--;
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("truncated", BATCH_MALFORMED, 4);
	x.len = 100;
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("truncated header", BATCH_MALFORMED, 4);	/* the seq it claims */
	x.len = 0;
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("empty", BATCH_MALFORMED, 0);
	buf__free(&x);

	/* oversized length fields, re-signed so only the limits can refuse them */
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	put32(&x, 36, 0xffffffffu);	/* raw_len */
	resign(&x, key);
	CHECK_INT(handle(id, ++conn, &x), 0);
	CHECK_INT(ack.status, FRAME_ACK_REJECTED);
	CHECK(ack.reason == BATCH_TOO_BIG || ack.reason == BATCH_MALFORMED);
	buf__free(&x);
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	put32(&x, 32, 0xffffffffu);	/* event_count */
	resign(&x, key);
	CHECK_INT(handle(id, ++conn, &x), 0);
	CHECK_INT(ack.status, FRAME_ACK_REJECTED);
	CHECK(ack.reason == BATCH_TOO_BIG || ack.reason == BATCH_MALFORMED);
	buf__free(&x);
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	put32(&x, 40, 0x7fffffffu);	/* body_len past the end */
	resign(&x, key);
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("body_len", BATCH_MALFORMED, 4);
	buf__free(&x);
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	put32(&x, 32, 3);	/* event_count 3, the lines are 2 */
	resign(&x, key);
	CHECK_INT(handle(id, ++conn, &x), 0);
	expect_reject("event_count", BATCH_EVENT_COUNT, 4);
	CHECK(rejections("too_big") + rejections("malformed") >= 5);

	/* nothing of the rejected batches was stored; the next good one is */
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 8);
	buf__free(&x);
	seal(&x, id, dev->cur.key_id, key, 4, &l);
	CHECK_INT(handle(id, ++conn, &x), 0);
	CHECK_INT(ack.status, FRAME_ACK_STORED);
	CHECK_INT(q_int("SELECT count(*) FROM raw_events", NULL), 10);
	CHECK_INT(q_int("SELECT last_seq FROM devices WHERE device_id = ?1", id), 4);

	buf__free(&x);
	buf__free(&b1);
	buf__free(&b1x);
	buf__free(&b2);
	buf__free(&b3);
	buf__free(&l);
}

/* A store that cannot write: no ACK, a negative errno, counted "internal". */
static void test_store_failure(void)
{
	struct store_config cfg = { .path = dbpath, .read_only = true };
	struct store *ro = NULL;
	struct collector *c2 = NULL;
	struct server_conn_info ci = { .id = 999, .peer = "127.0.0.1:9" };
	struct buf l, x;
	int ret;

	CHECK_INT(store__open(&ro, &cfg, err, sizeof(err)), 0);
	CHECK_INT(collector__new(&c2, ro, ks, NULL, NULL), 0);
	snprintf(ci.device_id, sizeof(ci.device_id), "%s", dev->device_id);
	buf__init(&l, 1 << 20);
	lines(&l, 500, 2);
	seal(&x, dev->device_id, dev->cur.key_id, dev->cur.key, 5, &l);
	memset(&ack, 0, sizeof(ack));
	ret = collector__handle_batch(c2, &ci, (const uint8_t *)x.data, x.len, &ack, &ticket);
	CHECK(ret < 0);
	CHECK_INT(ack.status, 0);
	CHECK_INT(q_int("SELECT last_seq FROM devices WHERE device_id = ?1", dev->device_id), 4);
	/* the read-only store kept the counter in memory */
	CHECK_INT(ro->npending, 1);
	CHECK_STR(ro->pending[0].reason, "internal");
	/* the agent retries later, against a working store: stored */
	CHECK_INT(handle(dev->device_id, 1000, &x), 0);
	CHECK_INT(ack.status, FRAME_ACK_STORED);
	ro->npending = 0;
	collector__free(c2);
	store__close(ro);
	buf__free(&x);
	buf__free(&l);
}

static const char *print_one(const struct buf *b)
{
	static char out[4096];
	FILE *f = fmemopen(out, sizeof(out), "w");

	out[0] = '\0';
	if (!f)
		return "(fmemopen failed)";
	CHECK_INT(collector__print_event(col, b->data, b->len ? b->len - 1 : 0, f), 0);
	fclose(f);
	return out;
}

static void test_print(void)
{
	struct ev_proc curl = { "curl", "/usr/bin/curl", "curl -fsS https://example.com", "alice",
				NULL, 48211, 1337, 1000 };
	struct buf b;
	const char *o;

	buf__init(&b, 1 << 16);
	ev_line(&b, "web-01", "EVENT", "INFO", 1, EV_T0, "File Renamed", 13, "file",
		EV_FILE_RENAME, &ev_bash);
	o = print_one(&b);
	CHECK_STR(o, "   2025-01-10T12:00:00.000Z web-01 INFO     File Renamed bash[1337] "
		     "/etc/passwd.tmp -> /etc/passwd\n");

	buf__reset(&b);
	ev_line(&b, "web-01", "EVENT", "INFO", 2, EV_T0, "Network Connect", 42, "network",
		EV_NET_CONNECT, &curl);
	CHECK(strstr(print_one(&b), "Network Connect curl[48211] connect tcp 10.0.0.5:41234 -> "
		     "93.184.216.34:443\n") != NULL);

	buf__reset(&b);
	ev_line(&b, "web-01", "EVENT", "INFO", 3, EV_T0, "DNS Answer", 51, "dns", EV_DNS_ANSWER,
		&curl);
	CHECK(strstr(print_one(&b), "DNS Answer curl[48211] example.com A NOERROR -> "
		     "93.184.216.34\n") != NULL);

	buf__reset(&b);
	ev_line(&b, "web-01", "EVENT", "MEDIUM", 4, EV_T0, "New Executable Anonymous Memory Mapped",
		60, "memory", EV_MEMORY, &curl);
	o = print_one(&b);
	CHECK(strncmp(o, "!! ", 3) == 0);
	CHECK(strstr(o, "mmap 0x7eff30fbc000 len 4096 PROT_READ|PROT_WRITE|PROT_EXEC") != NULL);

	buf__reset(&b);
	ev_line(&b, "web-01", "EVENT", "INFO", 5, EV_T0, "Identity Changed", 30, "identity",
		EV_IDENTITY, &ev_bash);
	CHECK(strstr(print_one(&b), "setuid user real/effective 1000/1000 -> 0/0\n") != NULL);

	buf__reset(&b);
	ev_line(&b, "web-01", "SYSTEM_ACTIVITY", "WARNING", 6, EV_T0, "Events Dropped", 1005,
		"system", EV_SYSTEM, NULL);
	o = print_one(&b);
	CHECK(strncmp(o, "   ", 3) == 0);
	CHECK(strstr(o, "Events Dropped 1520 events dropped: ring buffer full\n") != NULL);

	buf__reset(&b);
	ev_line(&b, "web-01", "ALERT", "HIGH", 7, EV_T0, "Reverse Shell", 2000, "alert", NULL,
		&ev_bash);
	o = print_one(&b);
	CHECK(strncmp(o, "!! ", 3) == 0);
	CHECK(strstr(o, "ALERT Reverse Shell bash[1337]") != NULL);

	/* a path with a newline and a quote; a host with an escape sequence */
	buf__reset(&b);
	ev_line(&b, "evil\\u001b[2Jhost", "EVENT", "INFO", 8, EV_T0, "File Opened", 10, "file",
		EV_FILE_OPEN, &ev_bash);
	o = print_one(&b);
	CHECK(strchr(o, '\033') == NULL);
	CHECK(strstr(o, "evil?[2Jhost") != NULL);
	CHECK(strstr(o, "/tmp/x\"y?.txt (failed: EACCES)\n") != NULL);
	CHECK_INT(strchr(o, '\n') - o, (long long)strlen(o) - 1);

	/* not JSON: nothing printed */
	buf__reset(&b);
	buf__adds(&b, "{\"message_header\": nope\n");
	CHECK_STR(print_one(&b), "");
	buf__free(&b);
}

static void test_time(void)
{
	const uint64_t now = 1736510400ull * 1000000000ull;	/* 2025-01-10T12:00:00Z */
	uint64_t t = 0;

	CHECK_INT(cli_parse_time("now", now, &t), 0);
	CHECK(t == now);
	CHECK_INT(cli_parse_time("10m", now, &t), 0);
	CHECK(t == now - 600ull * 1000000000ull);
	CHECK_INT(cli_parse_time("1h30m", now, &t), 0);
	CHECK(t == now - 5400ull * 1000000000ull);
	CHECK_INT(cli_parse_time("2d", now, &t), 0);
	CHECK(t == now - 2ull * 86400 * 1000000000ull);
	CHECK_INT(cli_parse_time("1w", now, &t), 0);
	CHECK_INT(cli_parse_time("2025-01-10T12:00:00Z", now, &t), 0);
	CHECK(t == now);
	CHECK_INT(cli_parse_time("2025-01-10 12:00:00", now, &t), 0);
	CHECK(t == now);
	CHECK_INT(cli_parse_time("2025-01-10T14:00:00+02:00", now, &t), 0);
	CHECK(t == now);
	CHECK_INT(cli_parse_time("2025-01-10T06:30-0530", now, &t), 0);
	CHECK(t == now);
	CHECK_INT(cli_parse_time("2025-01-10T12:00:00.25Z", now, &t), 0);
	CHECK(t == now + 250000000ull);
	CHECK_INT(cli_parse_time("2025-01-10", now, &t), 0);
	CHECK(t == now - 12ull * 3600 * 1000000000ull);
	CHECK_INT(cli_parse_time("2024-02-29", now, &t), 0);
	CHECK_INT(cli_parse_time("2025-02-29", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("2025-13-01", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("2025-01-10T24:00", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("2025-01-10T12:00:00Zjunk", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("2025-1-10", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("10", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("m", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("10x", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("-10m", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("99999999999999999999s", now, &t), -EINVAL);
	CHECK_INT(cli_parse_time("100000w", now, &t), -EINVAL);	/* before 1970 */
}

int main(void)
{
	char cmd[128];

	log_init("test_collector", LOG_LEVEL_ERROR);
	setup();
	test_reasons();
	test_hello();
	test_batches();
	test_store_failure();
	test_print();
	test_time();

	collector__free(col);
	store__close(st);
	keystore__close(ks);
	device__free(dev);
	device__free(other);
	sqlite3_close(peek);
	batch_thread_free();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return unit_report("test_collector");
}
