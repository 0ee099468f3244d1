// SPDX-License-Identifier: MIT
/*
 * batchbench: what batch_seal costs per event on one core (zstd + sha256 +
 * HMAC-SHA256 + copies), at zstd levels 1 and 3, and what batch_open costs
 * the collector (HMAC check + bounded decompress + sha256 + line count).
 *
 * usage: batchbench [FILE.jsonl]
 *   Without a file: synthetic events of about 1.5 KB shaped like Vigil's
 *   (the same envelope keys, sequential message ids and times, pids, paths
 *   from a pool, random hashes). With a file: its lines, cycled.
 *   BENCH_LINES (1000) lines per batch, BENCH_BATCHES (200) batches per level,
 *   BENCH_LEVELS ("1 3") zstd levels (negative: zstd's fast levels).
 *
 * build: make .output/std/libvigil.a && gcc -O2 -std=gnu11 -D_GNU_SOURCE -Isrc \
 *   bench/batchbench.c .output/std/libvigil.a -lzstd -lcrypto -lpthread \
 *   -o .output/bench/batchbench
 *
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other load
 * on a shared machine shows less than in wall time. One line per level:
 * "level=1 events_per_s=... ns_per_event=... ratio=... open_events_per_s=...".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "lib/buf.h"
#include "ship/batch.h"

#define VARIANTS 8	/* distinct batch inputs, so no run sees the same bytes twice in a row */

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void hex(struct buf *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		buf__addc(b, "0123456789abcdef"[next_rand() & 15]);
}

/* One synthetic event of about 1.5 KB. */
static void synth_event(struct buf *b, uint64_t i)
{
	static const char *const exes[] = { "/usr/bin/bash", "/usr/bin/curl", "/usr/sbin/sshd",
					    "/usr/bin/python3.11", "/usr/lib/systemd/systemd-journald",
					    "/usr/bin/git", "/usr/bin/containerd-shim-runc-v2" };
	static const char *const files[] = { "/etc/passwd", "/var/log/syslog", "/home/alice/.ssh/known_hosts",
					     "/var/lib/dpkg/status", "/tmp/build-", "/proc/self/maps" };
	uint64_t t = 1763780000000000000ull + i * 1234567ull;
	unsigned pid = 1000 + (unsigned)(next_rand() % 60000);
	const char *exe = exes[next_rand() % 7];

	buf__addf(b, "{\"message_header\":{\"vendor_name\":\"Vigil\",\"product_name\":\"vigil-agent\","
		     "\"product_version\":\"0.1.0\",\"message_type\":\"EVENT\",\"severity\":\"INFO\","
		     "\"schema_version\":\"1.1.0\",\"message_id\":\"9ead2f63-1af5-819f-8000-%012llx\","
		     "\"occurred_message_time_iso_8601_ns\":\"2025-11-22T03:%02llu:%02llu.%09llu+00:00\","
		     "\"occurred_message_time_ns\":%llu,\"message_timezone\":\"UTC\",\"user_data\":\"NONE\","
		     "\"host_information\":{\"hostname\":\"web-07\",\"device_id\":\"0a1b2c3d4e5f6071\","
		     "\"org_id\":\"acme\","
		     "\"os_name\":\"Debian GNU/Linux 12 (bookworm)\",\"os_version\":\"Linux 6.1.0-28-amd64\"}},",
		  (unsigned long long)i, (unsigned long long)(t / 60000000000ull % 60),
		  (unsigned long long)(t / 1000000000ull % 60), (unsigned long long)(t % 1000000000ull),
		  (unsigned long long)t);
	buf__addf(b, "\"activity_data\":{\"name\":\"File Opened\",\"event_type_id\":20,\"family\":\"file\","
		     "\"file_details\":{\"file_path\":\"%s%llu\",\"file_operation\":\"open\",\"file_flags\":%llu,"
		     "\"file_inode\":%llu,\"file_size_bytes\":%llu},",
		  files[next_rand() % 6], (unsigned long long)(next_rand() % 1000),
		  (unsigned long long)(next_rand() % 4096), (unsigned long long)(next_rand() % 10000000),
		  (unsigned long long)(next_rand() % 100000));
	buf__addf(b, "\"process_details\":{\"process_name\":\"%s\",\"process_id\":%u,\"process_thread_id\":%u,"
		     "\"process_parent_process_id\":%u,\"process_executable_path\":\"%s\","
		     "\"process_command_line\":\"%s --job %llu\",\"process_current_working_directory\":\"/srv/app\","
		     "\"process_real_user_id\":1000,\"process_real_user_name\":\"alice\","
		     "\"process_creation_time_ns\":%llu,\"process_exec_id\":\"%u-%llx\","
		     "\"process_pid_namespace\":4026531836,\"process_cgroup\":\"/system.slice/app.service\","
		     "\"process_container_id\":null,\"process_hash_sha256\":\"",
		  strrchr(exe, '/') + 1, pid, pid, pid - 7, exe, exe,
		  (unsigned long long)(next_rand() % 100000), (unsigned long long)(next_rand() % 100000000000ull),
		  pid, (unsigned long long)(next_rand() % 0xffffffffffull));
	hex(b, 64);
	buf__adds(b, "\",\"process_hash_status\":\"ok\"},\"parent_process_details\":{"
		     "\"process_name\":\"systemd\",\"process_id\":1,\"process_executable_path\":\"/usr/lib/systemd/systemd\","
		     "\"process_command_line\":\"/sbin/init\"}}}\n");
}

/* Lines from a file, one per element, kept in one buffer. */
static int load_file(const char *path, struct buf *all, size_t **offs, size_t *nlines)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	ssize_t got;

	if (!f)
		return -errno;
	*offs = NULL;
	while ((got = getline(&line, &cap, f)) > 0) {
		if (line[got - 1] != '\n' || got < 2)
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			*offs = realloc(*offs, (alloc + 1) * sizeof(**offs));
		}
		(*offs)[n++] = all->len;
		if (buf__add(all, line, (size_t)got))
			break;
	}
	if (*offs)
		(*offs)[n] = all->len;
	free(line);
	fclose(f);
	*nlines = n;
	return n ? 0 : -ENODATA;
}

int main(int argc, char **argv)
{
	unsigned lines_per = getenv("BENCH_LINES") ? (unsigned)atoi(getenv("BENCH_LINES")) : 1000;
	unsigned batches = getenv("BENCH_BATCHES") ? (unsigned)atoi(getenv("BENCH_BATCHES")) : 200;
	static const uint8_t key[32] = "bench-key-bench-key-bench-key-bk";
	int levels[8], nlevels = 0;
	const char *lv = getenv("BENCH_LEVELS") ? getenv("BENCH_LEVELS") : "1 3";
	struct buf in[VARIANTS], sealed, out, file;
	size_t *offs = NULL, nfile = 0, cursor = 0;
	char err[256];
	uint64_t seq = 1;

	for (char *end; *lv && nlevels < 8; lv = end) {
		levels[nlevels] = (int)strtol(lv, &end, 10);
		if (end == lv)
			break;
		nlevels++;
	}
	if (lines_per < 1 || batches < 1 || nlevels < 1)
		return 2;
	buf__init(&file, 1u << 30);
	if (argc > 1 && load_file(argv[1], &file, &offs, &nfile)) {
		fprintf(stderr, "batchbench: cannot read lines from %s\n", argv[1]);
		return 2;
	}
	for (int v = 0; v < VARIANTS; v++) {
		buf__init(&in[v], BATCH_MAX_RAW_BYTES);
		for (unsigned i = 0; i < lines_per; i++) {
			if (nfile) {
				buf__add(&in[v], file.data + offs[cursor], offs[cursor + 1] - offs[cursor]);
				cursor = (cursor + 1) % nfile;
			} else {
				synth_event(&in[v], (uint64_t)v * lines_per + i);
			}
		}
	}
	printf("input: %s, %u lines per batch, %.0f bytes per line\n", nfile ? argv[1] : "synthetic",
	       lines_per, (double)in[0].len / lines_per);
	buf__init(&sealed, BATCH_MAX_BATCH_BYTES);
	buf__init(&out, BATCH_MAX_RAW_BYTES);

	/* The parts on their own, per event, for the breakdown. */
	{
		uint8_t md[32];
		size_t maclen;
		uint64_t t0 = cpu_ns();

		for (unsigned b = 0; b < batches; b++)
			EVP_Digest(in[b % VARIANTS].data, in[b % VARIANTS].len, md, NULL, EVP_sha256(), NULL);
		uint64_t t1 = cpu_ns();
		for (unsigned b = 0; b < batches; b++)
			EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32,
				  (uint8_t *)in[b % VARIANTS].data, in[b % VARIANTS].len / 5, md, 32, &maclen);
		uint64_t t2 = cpu_ns();

		printf("sha256 of the lines: %.0f ns/event; HMAC over a 1/5-size body: %.0f ns/event\n",
		       (double)(t1 - t0) / batches / lines_per, (double)(t2 - t1) / batches / lines_per);
	}

	for (int l = 0; l < nlevels; l++) {
		uint64_t raw = 0, body = 0, t0, seal_ns, open_ns, zstd_ns;
		struct batch_meta m, pm;
		enum batch_error why;

		/* zstd alone, same context reuse as batch_seal. */
		{
			ZSTD_CCtx *c = ZSTD_createCCtx();
			size_t cap = ZSTD_compressBound(in[0].len * 2);
			void *dst = malloc(cap);

			t0 = cpu_ns();
			for (unsigned b = 0; b < batches; b++)
				ZSTD_compressCCtx(c, dst, cap, in[b % VARIANTS].data, in[b % VARIANTS].len,
						  levels[l]);
			zstd_ns = cpu_ns() - t0;
			free(dst);
			ZSTD_freeCCtx(c);
		}

		t0 = cpu_ns();
		for (unsigned b = 0; b < batches; b++) {
			memset(&m, 0, sizeof(m));
			strcpy(m.device_id, "0a1b2c3d4e5f6071");
			strcpy(m.org_id, "acme");
			m.seq = seq++;
			m.created_ns = 1;
			buf__reset(&sealed);
			if (batch_seal(&m, in[b % VARIANTS].data, in[b % VARIANTS].len, key, levels[l], &sealed,
				       err, sizeof(err))) {
				fprintf(stderr, "batchbench: %s\n", err);
				return 1;
			}
			raw += m.raw_len;
			body += sealed.len;
		}
		seal_ns = cpu_ns() - t0;

		/* The collector's side on the last sealed batch, repeated. */
		t0 = cpu_ns();
		for (unsigned b = 0; b < batches; b++) {
			buf__reset(&out);
			if (batch_parse((uint8_t *)sealed.data, sealed.len, NULL, &pm, &why, err, sizeof(err)) ||
			    batch_verify_hmac((uint8_t *)sealed.data, sealed.len, key) ||
			    batch_open((uint8_t *)sealed.data, sealed.len, &pm, NULL, &out, &why, err,
				       sizeof(err))) {
				fprintf(stderr, "batchbench: open: %s\n", err);
				return 1;
			}
		}
		open_ns = cpu_ns() - t0;

		printf("level=%d events_per_s=%.0f ns_per_event=%.0f MB_per_s=%.0f ratio=%.2f "
		       "zstd_only_ns_per_event=%.0f open_events_per_s=%.0f open_ns_per_event=%.0f\n",
		       levels[l], (double)batches * lines_per * 1e9 / seal_ns,
		       (double)seal_ns / batches / lines_per, (double)raw * 1e3 / seal_ns,
		       (double)raw / body, (double)zstd_ns / batches / lines_per,
		       (double)batches * lines_per * 1e9 / open_ns, (double)open_ns / batches / lines_per);
	}
	for (int v = 0; v < VARIANTS; v++)
		buf__free(&in[v]);
	buf__free(&sealed);
	buf__free(&out);
	buf__free(&file);
	free(offs);
	batch_thread_free();
	return 0;
}
