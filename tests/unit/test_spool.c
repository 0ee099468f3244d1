/* The encrypted spool: round trip, nothing in clear on disk, restart, ack,
 * the byte and record bounds with exact drop counts, tampering with every part
 * of a record (each must be counted corrupt and skipped, the next records
 * still delivered), truncation, oversized files, rotation, wrong keys,
 * leftover temporaries, and a two-thread smoke test (one putter, one
 * reader/acker). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ship/spool.h"
#include "unit.h"

static char dir[64], spdir[128], err[512];
static struct device *dev;
static struct buf out;

#define MARK "SECRET-EVENT-LINE"

static struct spool *open_spool(uint64_t max_bytes, uint32_t max_records,
				uint32_t max_record_bytes, const struct device *d)
{
	struct spool_config cfg = {
		.dir = spdir,
		.dev = d,
		.max_bytes = max_bytes,
		.max_records = max_records,
		.max_record_bytes = max_record_bytes,
	};
	struct spool *sp = NULL;
	int ret = spool__open(&sp, &cfg, err, sizeof(err));

	CHECK_INT(ret, 0);
	if (ret)
		fprintf(stderr, "spool__open: %s\n", err);
	return sp;
}

static void wipe_spool(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spdir);
	if (system(cmd) != 0)
		fprintf(stderr, "rm %s failed\n", spdir);
}

/* Batch seq's bytes: len bytes derived from seq, starting with MARK. */
static void fill(uint8_t *p, size_t len, uint64_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i * 7);
	memcpy(p, MARK, len < sizeof(MARK) - 1 ? len : sizeof(MARK) - 1);
}

static int put(struct spool *sp, uint64_t seq, uint32_t events, size_t len,
	       struct spool_dropped *d)
{
	uint8_t *p = malloc(len ? len : 1);
	int ret;

	fill(p, len, seq);
	ret = spool__put(sp, seq, events, p, len, d);
	free(p);
	return ret;
}

/* next(after) must return seq with the bytes put() made for it. */
static void expect_next(struct spool *sp, uint64_t after, uint64_t want_seq, uint32_t want_events,
			size_t want_len)
{
	uint64_t seq = 0;
	uint32_t events = 0;
	uint8_t *p = malloc(want_len ? want_len : 1);

	CHECK_INT(spool__next(sp, after, &out, &seq, &events), 1);
	CHECK_INT(seq, want_seq);
	CHECK_INT(events, want_events);
	CHECK_INT(out.len, want_len);
	fill(p, want_len, want_seq);
	CHECK(out.len == want_len && memcmp(out.data, p, want_len) == 0);
	free(p);
}

static void expect_none(struct spool *sp, uint64_t after)
{
	uint64_t seq = 0;
	uint32_t events = 0;

	CHECK_INT(spool__next(sp, after, &out, &seq, &events), 0);
}

static void rec_path(char *p, size_t n, uint64_t seq)
{
	snprintf(p, n, "%s/%020llu.vgs", spdir, (unsigned long long)seq);
}

static long file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void flip_bit(uint64_t seq, long off)
{
	char p[256];
	uint8_t c;
	int fd;

	rec_path(p, sizeof(p), seq);
	fd = open(p, O_RDWR);
	if (off < 0)
		off += file_size(p);
	if (fd < 0 || pread(fd, &c, 1, off) != 1)
		perror(p);
	c ^= 0x10;
	if (pwrite(fd, &c, 1, off) != 1)
		perror(p);
	close(fd);
}

static bool file_contains(const char *p, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

	if (f)
		fclose(f);
	return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void test_round_trip(void)
{
	struct spool_stats st;
	struct spool *sp;
	char p[256];
	struct stat sb;

	wipe_spool();
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp)
		return;
	CHECK(stat(spdir, &sb) == 0 && (sb.st_mode & 07777) == 0700);
	CHECK_INT(put(sp, 1, 10, 1000, NULL), 0);
	CHECK_INT(put(sp, 2, 1, 0, NULL), 0);	/* empty payload is still a record */
	CHECK_INT(put(sp, 3, 1000, 5000, NULL), 0);
	CHECK_INT(put(sp, 3, 1000, 5000, NULL), -EEXIST);
	CHECK_INT(put(sp, 0, 1, 10, NULL), -EINVAL);
	CHECK_INT(put(sp, 9, SPOOL_MAX_EVENTS + 1, 10, NULL), -EINVAL);
	rec_path(p, sizeof(p), 1);
	CHECK_INT(file_size(p), 1000 + SPOOL_OVERHEAD);
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0600);
	CHECK(!file_contains(p, MARK));
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 3);
	CHECK_INT(st.pending_events, 1011);
	CHECK_INT(st.pending_bytes, 6000 + 3 * SPOOL_OVERHEAD);
	CHECK_INT(st.highest_seq, 3);

	expect_next(sp, 0, 1, 10, 1000);
	expect_next(sp, 0, 1, 10, 1000);	/* not consumed until acked */
	expect_next(sp, 1, 2, 1, 0);
	expect_next(sp, 2, 3, 1000, 5000);
	expect_none(sp, 3);

	/* A buffer too small for the batch: an error, and the record stays. */
	{
		struct buf small;
		uint64_t seq;
		uint32_t ev;

		buf__init(&small, 100);
		CHECK_INT(spool__next(sp, 0, &small, &seq, &ev), -E2BIG);
		buf__free(&small);
		spool__stats(sp, &st);
		CHECK_INT(st.pending_batches, 3);
		CHECK_INT(st.corrupt_records, 0);
	}

	CHECK_INT(spool__ack(sp, 1), 0);
	CHECK(access(p, F_OK) != 0);
	CHECK_INT(spool__ack(sp, 1), -ENOENT);
	CHECK_INT(spool__ack(sp, 77), -ENOENT);
	expect_next(sp, 0, 2, 1, 0);
	spool__close(sp);

	/* Restart: the two pending records come back, in order. */
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp)
		return;
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 2);
	CHECK_INT(st.pending_events, 1001);
	CHECK_INT(st.pending_bytes, 5000 + 2 * SPOOL_OVERHEAD);
	CHECK_INT(st.highest_seq, 3);
	CHECK_INT(st.corrupt_records, 0);
	expect_next(sp, 0, 2, 1, 0);
	expect_next(sp, 2, 3, 1000, 5000);
	CHECK_INT(spool__ack(sp, 3), 0);
	CHECK_INT(spool__ack(sp, 2), 0);
	expect_none(sp, 0);
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 0);
	CHECK_INT(st.pending_bytes, 0);
	CHECK_INT(st.pending_events, 0);
	spool__close(sp);
	spool__close(NULL);
}

/* A new spool with room for n records of 1000 bytes, holding batches 1..n
 * (batch s with s * events_per_seq events), nothing dropped; NULL if it did
 * not open. */
static struct spool *full_spool(uint64_t n, uint32_t events_per_seq)
{
	struct spool_dropped d;
	struct spool *sp;

	wipe_spool();
	sp = open_spool(n * (1000 + SPOOL_OVERHEAD), 0, 0, dev);
	for (uint64_t s = 1; sp && s <= n; s++) {
		CHECK_INT(put(sp, s, (uint32_t)s * events_per_seq, 1000, &d), 0);
		CHECK_INT(d.batches, 0);
	}
	return sp;
}

static void test_bounds(void)
{
	const uint64_t rec = 1000 + SPOOL_OVERHEAD;
	struct spool_dropped d;
	struct spool_stats st;
	struct spool *sp = full_spool(5, 10);

	if (!sp)
		return;
	/* Full: each put drops exactly the oldest. */
	CHECK_INT(put(sp, 6, 60, 1000, &d), 0);
	CHECK_INT(d.batches, 1);
	CHECK_INT(d.events, 10);
	/* A bigger one drops two (3 * 1000 + overhead needs the room of 3 records). */
	CHECK_INT(put(sp, 7, 70, 2 * 1000 + SPOOL_OVERHEAD, &d), 0);
	CHECK_INT(d.batches, 2);
	CHECK_INT(d.events, 20 + 30);
	spool__stats(sp, &st);
	CHECK_INT(st.dropped_batches, 3);
	CHECK_INT(st.dropped_events, 60);
	CHECK_INT(st.pending_batches, 4);
	CHECK_INT(st.pending_events, 40 + 50 + 60 + 70);
	CHECK(st.pending_bytes <= 5 * rec);
	expect_next(sp, 0, 4, 40, 1000);
	spool__release(sp);	/* not being delivered: droppable again */

	/* Bigger than the whole spool: refused, nothing dropped. */
	CHECK_INT(put(sp, 8, 1, 5 * rec - SPOOL_OVERHEAD + 1, &d), -E2BIG);
	CHECK_INT(d.batches, 0);
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 4);
	/* Exactly the whole spool: everything else goes. */
	CHECK_INT(put(sp, 8, 80, 5 * rec - SPOOL_OVERHEAD, &d), 0);
	CHECK_INT(d.batches, 4);
	CHECK_INT(d.events, 220);
	expect_next(sp, 0, 8, 80, 5 * rec - SPOOL_OVERHEAD);
	spool__close(sp);

	/* The record count bound, and the record size limit. */
	wipe_spool();
	sp = open_spool(1 << 20, 3, 4096, dev);
	if (!sp)
		return;
	for (uint64_t s = 1; s <= 5; s++)
		CHECK_INT(put(sp, s, 1, 100, &d), 0);
	CHECK_INT(put(sp, 6, 1, 4096 - SPOOL_OVERHEAD, NULL), 0);
	CHECK_INT(put(sp, 7, 1, 4096 - SPOOL_OVERHEAD + 1, &d), -E2BIG);
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 3);
	CHECK_INT(st.dropped_batches, 3);
	expect_next(sp, 0, 4, 1, 100);
	spool__close(sp);

	/* Reopened with smaller bounds: the oldest go, counted. */
	sp = open_spool(4096 + 100 + SPOOL_OVERHEAD, 0, 4096, dev);
	if (!sp)
		return;
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 2);
	CHECK_INT(st.dropped_batches, 1);
	CHECK_INT(st.dropped_events, 1);
	expect_next(sp, 0, 5, 1, 100);
	expect_next(sp, 5, 6, 1, 4096 - SPOOL_OVERHEAD);
	spool__close(sp);
	wipe_spool();
	sp = open_spool(1 << 20, 0, 0, dev);
	for (uint64_t s = 1; sp && s <= 10; s++)
		CHECK_INT(put(sp, s, (uint32_t)s, 10, NULL), 0);
	spool__close(sp);
	sp = open_spool(1 << 20, 4, 0, dev);
	if (!sp)
		return;
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 4);
	CHECK_INT(st.dropped_batches, 6);
	CHECK_INT(st.dropped_events, 21);
	expect_next(sp, 0, 7, 7, 10);
	spool__close(sp);
}

/* A record handed out by next is being delivered: a full spool drops the
 * oldest of the others, and its ACK still finds it (counted as lost and then
 * acknowledged as stored, a batch was counted twice). */
static void test_in_flight(void)
{
	struct spool_dropped d;
	struct spool_stats st;
	struct spool *sp = full_spool(3, 1);

	if (!sp)
		return;
	expect_next(sp, 0, 1, 1, 1000);		/* 1 and 2 in flight */
	expect_next(sp, 1, 2, 2, 1000);
	CHECK_INT(put(sp, 4, 4, 1000, &d), 0);	/* drops 3, not 1 */
	CHECK_INT(d.batches, 1);
	CHECK_INT(d.events, 3);
	CHECK_INT(put(sp, 5, 5, 1000, &d), 0);	/* 4 is not in flight: it goes */
	CHECK_INT(d.batches, 1);
	CHECK_INT(d.events, 4);
	/* Everything left is in flight: the new batch has no room, nothing goes. */
	expect_next(sp, 2, 5, 5, 1000);
	CHECK_INT(put(sp, 6, 6, 1000, &d), -ENOBUFS);
	CHECK_INT(d.batches, 0);
	CHECK_INT(spool__ack(sp, 1), 0);	/* the ACK finds its record */
	CHECK_INT(spool__ack(sp, 2), 0);
	spool__stats(sp, &st);
	CHECK_INT(st.dropped_batches, 2);
	CHECK_INT(st.dropped_events, 7);
	CHECK_INT(st.pending_batches, 1);
	/* The connection went: its batches may be dropped again, oldest first. */
	CHECK_INT(put(sp, 6, 6, 1000, NULL), 0);
	CHECK_INT(put(sp, 7, 7, 1000, NULL), 0);
	spool__release(sp);
	CHECK_INT(put(sp, 8, 8, 1000, &d), 0);
	CHECK_INT(d.batches, 1);
	CHECK_INT(d.events, 5);
	expect_next(sp, 0, 6, 6, 1000);
	spool__close(sp);
}

/* Three records; damage the second with fn; the first and third still come out. */
/* Put and next know the true event count (22); found at open, a record is counted with
 * what its header declares (open_events: 0 when the header is unreadable). */
static void tamper_case(const char *what, void (*fn)(void), bool at_open, uint32_t open_events)
{
	struct spool_stats st;
	struct spool *sp;
	char p[256];

	wipe_spool();
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp)
		return;
	CHECK_INT(put(sp, 1, 11, 300, NULL), 0);
	CHECK_INT(put(sp, 2, 22, 300, NULL), 0);
	CHECK_INT(put(sp, 3, 33, 300, NULL), 0);
	if (at_open) {
		spool__close(sp);
		fn();
		sp = open_spool(1 << 20, 0, 0, dev);
		if (!sp)
			return;
	} else {
		fn();
	}
	expect_next(sp, 0, 1, 11, 300);
	expect_next(sp, 1, 3, 33, 300);
	spool__stats(sp, &st);
	CHECK_INT(st.corrupt_records, 1);
	CHECK_INT(st.corrupt_events, at_open ? open_events : 22);
	CHECK_INT(st.pending_batches, 2);
	CHECK_INT(st.pending_events, 44);
	rec_path(p, sizeof(p), 2);
	CHECK(access(p, F_OK) != 0);
	if (st.corrupt_records != 1 || st.corrupt_events != (at_open ? open_events : 22))
		fprintf(stderr, "  (case: %s%s)\n", what, at_open ? ", at open" : "");
	spool__close(sp);
}

static void t_ciphertext(void) { flip_bit(2, SPOOL_HEADER_LEN + 100); }
static void t_tag(void) { flip_bit(2, -1); }
static void t_nonce(void) { flip_bit(2, 24); }
static void t_events(void) { flip_bit(2, 23); }
static void t_key_id(void) { flip_bit(2, 11); }
static void t_seq(void) { flip_bit(2, 19); }
static void t_len(void) { flip_bit(2, 39); }
static void t_magic(void) { flip_bit(2, 0); }
static void t_version(void) { flip_bit(2, 5); }

static void t_truncate(long n)
{
	char p[256];

	rec_path(p, sizeof(p), 2);
	if (truncate(p, n) < 0)
		perror(p);
}

static void t_trunc_tag(void) { t_truncate(300 + SPOOL_OVERHEAD - 1); }
static void t_trunc_hdr(void) { t_truncate(30); }
static void t_trunc_zero(void) { t_truncate(0); }

static void t_grow(void)
{
	char p[256];
	int fd;

	rec_path(p, sizeof(p), 2);
	fd = open(p, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "x", 1) != 1)
		perror(p);
	close(fd);
}

/* Record 3's file renamed over record 2: authentic, but not record 2. */
static void t_swap(void)
{
	char a[256], b[256], c[300];

	rec_path(a, sizeof(a), 2);
	rec_path(b, sizeof(b), 3);
	snprintf(c, sizeof(c), "%s.copy", b);
	link(b, c);
	rename(c, a);
}

static void t_symlink(void)
{
	char a[256], b[256];

	rec_path(a, sizeof(a), 2);
	rec_path(b, sizeof(b), 3);
	unlink(a);
	symlink(b, a);
}

static void test_tamper(void)
{
	static const struct {
		const char *what;
		void (*fn)(void);
		uint32_t open_events;
	} cases[] = {
		{ "ciphertext", t_ciphertext, 22 }, { "tag", t_tag, 22 }, { "nonce", t_nonce, 22 },
		{ "event count", t_events, 22 ^ 0x10 }, { "key id", t_key_id, 22 },
		{ "seq", t_seq, 22 }, { "ciphertext length", t_len, 22 }, { "magic", t_magic, 0 },
		{ "version", t_version, 0 }, { "truncated tag", t_trunc_tag, 22 },
		{ "truncated header", t_trunc_hdr, 0 }, { "empty", t_trunc_zero, 0 },
		{ "grown", t_grow, 22 }, { "swapped", t_swap, 33 }, { "symlink", t_symlink, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tamper_case(cases[i].what, cases[i].fn, false, 0);
		tamper_case(cases[i].what, cases[i].fn, true, cases[i].open_events);
	}
}

static void test_oversized_and_temp(void)
{
	struct spool_stats st;
	struct spool *sp;
	char p[256], tmp[256], foreign[256];
	FILE *f;

	wipe_spool();
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp)
		return;
	CHECK_INT(put(sp, 1, 5, 100, NULL), 0);
	CHECK_INT(put(sp, 2, 6, 3000, NULL), 0);
	spool__close(sp);
	/* A crash mid-put leaves a temporary; a foreign file is left alone. */
	snprintf(tmp, sizeof(tmp), "%s/.00000000000000000003.vgs.tmp-0123456789abcdef", spdir);
	snprintf(foreign, sizeof(foreign), "%s/README", spdir);
	f = fopen(tmp, "w");
	if (f)
		fclose(f);
	f = fopen(foreign, "w");
	if (f)
		fclose(f);
	/* Record 2 is now over the limit: never read, dropped as corrupt. */
	sp = open_spool(1 << 20, 0, 1024, dev);
	if (!sp)
		return;
	CHECK(access(tmp, F_OK) != 0);
	CHECK(access(foreign, F_OK) == 0);
	rec_path(p, sizeof(p), 2);
	CHECK(access(p, F_OK) != 0);
	spool__stats(sp, &st);
	CHECK_INT(st.tmp_removed, 1);
	CHECK_INT(st.corrupt_records, 1);
	CHECK_INT(st.corrupt_events, 6);
	CHECK_INT(st.pending_batches, 1);
	expect_next(sp, 0, 1, 5, 100);
	expect_none(sp, 1);
	spool__close(sp);
}

static void test_rotation_and_keys(void)
{
	char devpath[128], p[256];
	struct device *d2 = NULL, *other = NULL, wrong;
	struct spool_stats st;
	struct spool *sp;
	uint8_t hdr[SPOOL_HEADER_LEN];
	FILE *f;

	snprintf(devpath, sizeof(devpath), "%s/dev", dir);
	wipe_spool();
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp)
		return;
	CHECK_INT(put(sp, 1, 1, 200, NULL), 0);
	CHECK_INT(device__rotate(devpath, &d2, err, sizeof(err)), 0);
	if (!d2)
		goto out;
	CHECK_INT(spool__rekey(sp, d2, err, sizeof(err)), 0);
	CHECK_INT(put(sp, 2, 2, 200, NULL), 0);
	rec_path(p, sizeof(p), 2);
	f = fopen(p, "r");
	CHECK(f && fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr));
	if (f)
		fclose(f);
	CHECK(memcmp(hdr, "VGS1", 4) == 0);
	CHECK_INT(hdr[11], 2);	/* key_id, big-endian */
	expect_next(sp, 0, 1, 1, 200);
	expect_next(sp, 1, 2, 2, 200);
	spool__close(sp);

	/* Fresh start with the rotated device: key 1's record still decrypts. */
	sp = open_spool(1 << 20, 0, 0, d2);
	if (!sp)
		goto out;
	expect_next(sp, 0, 1, 1, 200);
	expect_next(sp, 1, 2, 2, 200);
	spool__close(sp);

	/* The old device does not know key 2: that record is lost as corrupt. */
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp)
		goto out;
	expect_next(sp, 0, 1, 1, 200);
	expect_none(sp, 1);
	spool__stats(sp, &st);
	CHECK_INT(st.corrupt_records, 1);
	CHECK_INT(st.corrupt_events, 2);
	CHECK_INT(put(sp, 3, 3, 200, NULL), 0);
	spool__close(sp);

	/* Same key id, wrong key. */
	wrong = *dev;
	wrong.cur.key[0] ^= 1;
	sp = open_spool(1 << 20, 0, 0, &wrong);
	if (!sp)
		goto out;
	expect_none(sp, 0);
	spool__stats(sp, &st);
	CHECK_INT(st.corrupt_records, 2);
	CHECK_INT(st.pending_batches, 0);
	spool__close(sp);

	/* Another device's keys (the salt differs too); rekey refuses another device. */
	CHECK_INT(device__create(p, "acme", &other, err, sizeof(err)), 0);
	sp = open_spool(1 << 20, 0, 0, dev);
	if (!sp || !other)
		goto out;
	CHECK_INT(spool__rekey(sp, other, err, sizeof(err)), -EINVAL);
	CHECK_INT(put(sp, 4, 4, 200, NULL), 0);
	spool__close(sp);
	sp = open_spool(1 << 20, 0, 0, other);
	if (!sp)
		goto out;
	expect_none(sp, 0);
	spool__stats(sp, &st);
	CHECK_INT(st.corrupt_records, 1);
	spool__close(sp);
out:
	unlink(p);
	device__free(d2);
	device__free(other);
}

#define THREAD_RECORDS 120

static void *putter(void *arg)
{
	struct spool *sp = arg;

	for (uint64_t s = 1; s <= THREAD_RECORDS; s++)
		if (put(sp, s, (uint32_t)s, 1000 + (size_t)s * 13, NULL))
			break;
	return NULL;
}

static void test_threads(void)
{
	struct timespec start, now;
	struct spool_stats st;
	struct spool *sp;
	pthread_t t;
	uint64_t last = 0, got = 0, seq;
	uint32_t ev;
	bool ordered = true, intact = true;

	wipe_spool();
	sp = open_spool(64 << 20, 0, 0, dev);
	if (!sp)
		return;
	if (pthread_create(&t, NULL, putter, sp)) {
		spool__close(sp);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* Bounded: at most 20 s, and a few million polls. */
	for (long i = 0; got < THREAD_RECORDS && i < 5000000; i++) {
		int r = spool__next(sp, last, &out, &seq, &ev);

		if (r == 1) {
			uint8_t want[1000 + THREAD_RECORDS * 13];

			fill(want, 1000 + (size_t)seq * 13, seq);
			ordered &= seq == last + 1 && ev == seq;
			intact &= out.len == 1000 + seq * 13 && !memcmp(out.data, want, out.len);
			ordered &= spool__ack(sp, seq) == 0;
			last = seq;
			got++;
			continue;
		}
		if (r < 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 20)
			break;
		usleep(100);
	}
	pthread_join(t, NULL);
	CHECK_INT(got, THREAD_RECORDS);
	CHECK(ordered);
	CHECK(intact);
	spool__stats(sp, &st);
	CHECK_INT(st.pending_batches, 0);
	CHECK_INT(st.corrupt_records, 0);
	CHECK_INT(st.dropped_batches, 0);
	spool__close(sp);
}

static void test_bad_config(void)
{
	struct spool_config cfg = { .dir = spdir, .dev = dev, .max_bytes = 1 << 20 };
	struct spool *sp = (struct spool *)1;

	cfg.max_record_bytes = SPOOL_OVERHEAD;
	CHECK_INT(spool__open(&sp, &cfg, err, sizeof(err)), -EINVAL);
	CHECK(sp == NULL);
	cfg.max_record_bytes = 0;
	cfg.max_bytes = 0;
	CHECK_INT(spool__open(&sp, &cfg, err, sizeof(err)), -EINVAL);
	cfg.max_bytes = 1 << 20;
	cfg.max_records = SPOOL_MAX_RECORDS_LIMIT + 1;
	CHECK_INT(spool__open(&sp, &cfg, err, sizeof(err)), -EINVAL);
	cfg.max_records = 0;
	cfg.dir = "/nonexistent/parent/spool";
	CHECK_INT(spool__open(&sp, &cfg, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/nonexistent/parent/spool") != NULL);
}

int main(void)
{
	char cmd[128], devpath[128];

	snprintf(dir, sizeof(dir), "/tmp/vigil-test-spool-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(spdir, sizeof(spdir), "%s/spool", dir);
	snprintf(devpath, sizeof(devpath), "%s/dev", dir);
	buf__init(&out, 32 << 20);
	CHECK_INT(device__create(devpath, "acme", &dev, err, sizeof(err)), 0);
	if (dev) {
		test_round_trip();
		test_bounds();
		test_in_flight();
		test_tamper();
		test_oversized_and_temp();
		test_rotation_and_keys();
		test_threads();
		test_bad_config();
	}
	device__free(dev);
	buf__free(&out);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return unit_report("spool");
}
