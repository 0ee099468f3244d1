/* storebench: inserts N synthetic events of mixed families (agent-shaped JSON,
 * 1-5 KB, family mix close to a busy host's: mostly file opens and library
 * loads) in batches of 1000 into a fresh SQLite store, and prints events/s
 * (time spent storing only, commits, WAL syncs and checkpoints
 * included, until the last batch is on disk), JSON MB/s and the database
 * bytes per event. The CPU time of the whole process in that time is
 * printed too: above 100% of the wall time when the store's threads (WAL
 * syncs, checkpoints) ran beside the inserts; below, the rest is waiting for
 * the disk, which a shared disk makes noisy.
 *
 *	storebench [events [db_path]]	(default 200000, /tmp/storebench.db)
 *
 * Each batch is compressed as the agent does (zstd -3, not timed) and stored
 * with store__insert_batch_body, as the collector does; STOREBENCH_TEXT=1
 * stores the lines' text instead (store__insert_batch, the old path).
 *
 * Built and run by "make bench" (the pipeline workload); by hand:
 *	gcc -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -I.output/gen bench/storebench.c \
 *	    .output/std/libvigil.a -lzstd -lsqlite3 -lssl -lcrypto -lxxhash -lz -lpthread \
 *	    -o .output/std/storebench */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "collector/store.h"
#include "lib/buf.h"

#define BATCH 1000u

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(next() % n);
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const words[] = { "usr", "lib", "share", "python3", "dist-packages", "etc",
				      "var", "cache", "node_modules", "x86_64-linux-gnu", "site",
				      "home", "alice", "build", "src", "include", "config" };

static void add_path(struct buf *b, unsigned parts)
{
	for (unsigned i = 0; i < parts; i++)
		buf__addf(b, "/%s", words[pick(sizeof(words) / sizeof(words[0]))]);
	buf__addf(b, "/f%u.so", pick(100000));
}

static void add_proc(struct buf *b, unsigned pid, unsigned cmd_words)
{
	buf__addf(b, "{\"process_name\":\"python3\",\"process_id\":%u,\"process_thread_id\":%u,"
		  "\"process_parent_process_id\":%u,\"process_executable_path\":"
		  "\"/usr/bin/python3.11\",\"process_command_line\":\"python3", pid, pid, pid - 1);
	for (unsigned i = 0; i < cmd_words; i++)
		buf__addf(b, " --%s=%u", words[pick(sizeof(words) / sizeof(words[0]))], pick(9999));
	buf__adds(b, "\",\"process_command_line_arguments\":[\"python3\"");
	for (unsigned i = 0; i < cmd_words; i++)
		buf__addf(b, ",\"--opt%u\"", i);
	buf__addf(b, "],\"process_args_truncated\":false,\"process_current_working_directory\":"
		  "\"/home/alice/build\",\"process_real_user_id\":1000,\"process_real_user_name\":"
		  "\"alice\",\"process_real_group_id\":1000,\"process_real_group_name\":\"alice\","
		  "\"process_effective_user_id\":1000,\"process_effective_user_name\":\"alice\","
		  "\"process_effective_group_id\":1000,\"process_effective_group_name\":\"alice\","
		  "\"process_login_user_id\":1000,\"process_login_user_name\":\"alice\","
		  "\"process_creation_time_iso_8601_ns\":\"2025-11-22T00:30:00.000000000+00:00\","
		  "\"process_creation_time_ns\":2400000000000,\"process_exec_id\":\"%x-22ecb350240\","
		  "\"process_self_exec_id\":1,\"process_pid_namespace\":4026531836,"
		  "\"process_mount_points_namespace\":4026531841,\"process_network_namespace\":"
		  "4026531840,\"process_cgroup\":\"/user.slice/user-1000.slice/session-3.scope\","
		  "\"process_container_id\":null,\"process_container_runtime\":null,"
		  "\"process_hash_sha256\":\"4b0a3e1c9d4f1e0b7a8c2d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192\","
		  "\"process_hash_sha1\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c\","
		  "\"process_hash_md5\":\"9e107d9d372bb6826bd81d3542a419d6\",\"process_hash_status\":"
		  "\"ok\",\"process_file_size_bytes\":6831736,\"process_creation_type\":\"exec\"}", pid);
}

static void add_event(struct buf *b, uint64_t id, uint64_t t)
{
	unsigned r = pick(100), pid = 1000 + pick(30000);
	const char *name, *family;

	if (r < 55) {
		name = "File Opened";
		family = "file";
	} else if (r < 70) {
		name = "Library Loaded";
		family = "library";
	} else if (r < 80) {
		name = r & 1 ? "Process Created" : "Process Terminated";
		family = "process";
	} else if (r < 88) {
		name = "Network Connect";
		family = "network";
	} else if (r < 93) {
		name = "DNS Query";
		family = "dns";
	} else if (r < 96) {
		name = "Thread Created";
		family = "thread";
	} else if (r < 98) {
		name = "Executable Permissions Added";
		family = "memory";
	} else {
		name = "Identity Changed";
		family = "identity";
	}
	buf__addf(b, "{\"message_header\":{\"vendor_name\":\"Vigil\",\"product_name\":"
		  "\"vigil-agent\",\"product_version\":\"0.1.0\",\"message_type\":\"EVENT\","
		  "\"severity\":\"INFO\",\"schema_version\":\"1.1.0\",\"message_id\":"
		  "\"9ead2f63-1af5-819f-8000-%012llx\",\"occurred_message_time_iso_8601_ns\":"
		  "\"2025-11-22T03:06:49.523302073+00:00\",\"occurred_message_time_ns\":%llu,"
		  "\"message_timezone\":\"UTC\",\"user_data\":\"NONE\",\"host_information\":{"
		  "\"hostname\":\"web-%02u\",\"device_id\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
		  "\"org_id\":\"default\",\"machine_id\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
		  "\"boot_uuid\":\"d69d8b2d-ecd7-4c13-94f2-73704f6ded1a\",\"os_name\":"
		  "\"Debian GNU/Linux 12 (bookworm)\",\"os_version\":\"Linux 6.1.0-28-amd64\","
		  "\"agent_instance_id\":\"9ead2f631af5819f\"}},\"activity_data\":{\"name\":\"%s\","
		  "\"event_type_id\":1,\"family\":\"%s\"", (unsigned long long)id,
		  (unsigned long long)t, pick(4), name, family);
	if (!strcmp(family, "file")) {
		buf__adds(b, ",\"file_details\":{\"file_operation\":\"openat\",\"file_path\":\"");
		add_path(b, 2 + pick(8));
		buf__adds(b, "\",\"file_new_path\":null,\"file_symlink_target\":null,"
			  "\"file_path_truncated\":false,\"file_result\":\"success\",\"file_errno\":null,"
			  "\"file_error_name\":null,\"file_descriptor\":5,\"file_open_flags\":524288,"
			  "\"file_open_flag_names\":[\"O_RDONLY\",\"O_CLOEXEC\"],"
			  "\"file_opened_for_write\":false,\"file_created\":false,\"file_mode\":null,"
			  "\"file_owner_uid\":null,\"file_owner_gid\":null,\"file_truncate_length\":null,"
			  "\"file_syscall_flags\":null,\"file_inode\":10953085,\"file_device\":\"254:0\","
			  "\"file_hash_status\":null,\"file_hash_sha256\":null,\"file_hash_sha1\":null,"
			  "\"file_hash_md5\":null,\"file_size_bytes\":null}");
	} else if (!strcmp(family, "library")) {
		buf__adds(b, ",\"library_details\":{\"library_path\":\"");
		add_path(b, 2 + pick(5));
		buf__adds(b, "\",\"library_language\":\"native\",\"library_hash_sha256\":"
			  "\"0207e4908ea384e186c75925b0e56996a3eccecd48c99252aeb757d0d3451c93\","
			  "\"library_hash_status\":\"ok\",\"library_size_bytes\":174312,"
			  "\"library_inode\":333397,\"library_device\":\"254:0\","
			  "\"library_mapped_address\":\"0x7f138b244000\",\"library_package\":"
			  "\"libselinux1\",\"library_package_version\":\"3.4-1+b6\"}");
	} else if (!strcmp(family, "network")) {
		buf__addf(b, ",\"network_details\":{\"network_operation\":\"connect\","
			  "\"network_result\":\"success\",\"network_errno\":null,"
			  "\"network_error_name\":null,\"network_file_descriptor\":3,"
			  "\"network_family\":\"AF_INET\",\"network_socket_type\":\"stream\","
			  "\"network_protocol\":\"tcp\",\"network_local_address\":\"10.0.0.5\","
			  "\"network_local_port\":%u,\"network_local_abstract\":null,"
			  "\"network_remote_address\":\"93.184.%u.%u\",\"network_remote_port\":443,"
			  "\"network_remote_abstract\":null,\"network_listen_backlog\":null,"
			  "\"network_socket_id\":\"c475a1f1a60ca639\",\"network_direction\":null,"
			  "\"tcp_connection_state\":null,\"tcp_previous_state\":null,"
			  "\"tcp_bytes_in\":null,\"tcp_bytes_out\":null,\"tcp_segments_in\":null,"
			  "\"tcp_segments_out\":null,\"tcp_data_segments_in\":null,"
			  "\"tcp_data_segments_out\":null,\"tcp_average_bytes_in\":null,"
			  "\"tcp_average_bytes_out\":null,"
			  "\"tcp_connection_creation_time_iso_8601_ns\":null,"
			  "\"tcp_connection_creation_time_ns\":null,"
			  "\"tcp_connection_termination_time_iso_8601_ns\":null,"
			  "\"tcp_connection_overall_duration_ns\":null}", 30000 + pick(30000),
			  pick(256), pick(256));
	} else if (!strcmp(family, "dns")) {
		buf__addf(b, ",\"dns_details\":{\"dns_operation\":\"sendto\",\"dns_protocol\":\"udp\","
			  "\"dns_resolver_address\":\"10.255.255.53\",\"dns_resolver_port\":53,"
			  "\"dns_socket_id\":\"4624d74a2f3131f3\",\"dns_transaction_id\":%u,"
			  "\"dns_opcode\":0,\"dns_is_response\":false,\"dns_truncated\":false,"
			  "\"dns_response_code\":null,\"dns_question_count\":1,\"dns_answer_count\":0,"
			  "\"dns_query_names\":[\"h%u.example.com\"],\"dns_questions\":[{\"name\":"
			  "\"h%u.example.com\",\"type\":\"AAAA\",\"class\":1}],\"dns_answers\":[],"
			  "\"dns_payload_bytes\":29,\"dns_payload_truncated\":false,"
			  "\"dns_parse_error\":null}", pick(65536), pid, pid);
	} else if (!strcmp(family, "thread")) {
		buf__addf(b, ",\"thread_details\":{\"thread_id\":%u,\"thread_self_exec_id\":2}", pid + 1);
	} else if (!strcmp(family, "memory")) {
		buf__adds(b, ",\"memory_details\":{\"memory_operation\":\"mprotect\","
			  "\"memory_result\":\"success\",\"memory_errno\":null,\"memory_error_name\":null,"
			  "\"memory_address\":\"0x7eff30fbc000\",\"memory_length\":4096,"
			  "\"memory_protection\":[\"PROT_READ\",\"PROT_EXEC\"],"
			  "\"memory_writable_and_executable\":false,\"memory_anonymous\":true,"
			  "\"memory_file_path\":null,\"memory_memfd_name\":null,\"memory_fd\":null,"
			  "\"memory_suppressed_count\":0}");
	} else if (!strcmp(family, "identity")) {
		buf__adds(b, ",\"identity_details\":{\"identity_operation\":\"setgid\","
			  "\"identity_kind\":\"group\",\"identity_result\":\"success\","
			  "\"identity_errno\":null,\"identity_error_name\":null,"
			  "\"identity_requested\":[65534],\"identity_from\":{\"real\":0,"
			  "\"effective\":0,\"saved\":null,\"fs\":null},\"identity_to\":{\"real\":65534,"
			  "\"effective\":65534,\"saved\":65534,\"fs\":65534},"
			  "\"identity_capabilities\":null}");
	} else if (!strcmp(name, "Process Terminated")) {
		buf__adds(b, ",\"exit_details\":{\"exit_code\":0,\"exit_signal\":null,"
			  "\"exit_signal_name\":null,\"core_dumped\":false}");
	}
	/* Two process blocks of 0.6-2.3 KB each: events of 1-5 KB. */
	buf__adds(b, ",\"process_details\":");
	add_proc(b, pid, pick(30));
	buf__adds(b, ",\"parent_process_details\":");
	add_proc(b, pid - 1, pick(10));
	buf__adds(b, "}}\n");
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	const char *path = argc > 2 ? argv[2] : "/tmp/storebench.db";
	struct store_config cfg = { .path = path };
	struct store *st;
	struct store_result res;
	struct batch_meta meta;
	struct buf b;
	char err[512], wal[512], shm[512];
	uint8_t sha[32] = { 0 };
	double spent = 0, cpu = 0, t, c, gen_wall = 0, gen_cpu = 0, t0, c0;
	uint64_t ticket = 0;
	uint64_t json = 0, stored = 0, tns = 1763780809523302073ull;
	long long db;
	bool text;
	void *z = NULL;
	size_t zcap = 0, zn = 0;
	int ret;

	if (n == 0 || n > 100000000) {
		fprintf(stderr, "usage: storebench [events (1..1e8) [db_path]]\n");
		return 2;
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	unlink(path);
	unlink(wal);
	unlink(shm);
	ret = store__open(&st, &cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "storebench: %s\n", err);
		return 1;
	}
	buf__init(&b, 64u << 20);
	text = getenv("STOREBENCH_TEXT") && strcmp(getenv("STOREBENCH_TEXT"), "1") == 0;
	/* Timed: the whole loop but making the batches (this thread's time
	 * in it), so the store's own threads count wherever they run. */
	t0 = clock_s(CLOCK_MONOTONIC);
	c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	for (unsigned long done = 0, seq = 1; done < n; seq++) {
		unsigned k = n - done < BATCH ? (unsigned)(n - done) : BATCH;

		t = clock_s(CLOCK_MONOTONIC);
		c = clock_s(CLOCK_THREAD_CPUTIME_ID);
		buf__reset(&b);
		for (unsigned i = 0; i < k; i++)
			add_event(&b, done + i, tns += 1000);
		memset(&meta, 0, sizeof(meta));
		snprintf(meta.device_id, sizeof(meta.device_id), "3d1219c7c4c5404aaa1f6d2a48adfda4");
		snprintf(meta.org_id, sizeof(meta.org_id), "default");
		meta.seq = seq;
		meta.event_count = k;
		meta.raw_len = (uint32_t)b.len;
		meta.body_len = (uint32_t)(b.len / 9);	/* zstd -3 on agent output: ~9x */
		if (!text) {
			if (zcap < ZSTD_compressBound(b.len)) {
				zcap = ZSTD_compressBound(b.len);
				free(z);
				z = malloc(zcap);
				if (!z)
					return 1;
			}
			zn = ZSTD_compress(z, zcap, b.data, b.len, 3);
			if (ZSTD_isError(zn))
				return 1;
			meta.body_len = (uint32_t)zn;
			meta.flags = BATCH_FLAG_ZSTD;
		}
		memcpy(sha, &seq, sizeof(seq));
		gen_wall += clock_s(CLOCK_MONOTONIC) - t;
		gen_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c;
		if (text)
			ret = store__insert_batch(st, &meta, sha, b.data, b.len, &res, err,
						  sizeof(err));
		else
			ret = store__insert_batch_body(st, &meta, sha, b.data, b.len, z, zn, &res,
						       err, sizeof(err));
		ticket = res.ticket;
		if (ret || res.status != STORE_STORED) {
			fprintf(stderr, "storebench: batch %lu: %s\n", seq, ret ? err : "not stored");
			return 1;
		}
		json += b.len;
		stored += res.events_stored;
		done += k;
	}
	/* As the collector's last ACK: the last batch on disk. */
	if (store__wait_durable(st, ticket, -1)) {
		fprintf(stderr, "storebench: the store's sync failed\n");
		return 1;
	}
	spent = clock_s(CLOCK_MONOTONIC) - t0 - gen_wall;
	cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0 - gen_cpu;
	store__close(st);
	db = file_size(path) + file_size(wal);
	printf("storebench: %llu events, %.0f bytes of JSON each, batches of %u, %s\n",
	       (unsigned long long)stored, (double)json / (double)stored, BATCH,
	       text ? "lines as text" : "zstd bodies");
	printf("insert: %.0f events/s, %.1f MB/s of JSON (%.2f s)\n", (double)stored / spent,
	       (double)json / spent / 1e6, spent);
	printf("cpu: %.2f us per event (%.0f events/s of CPU time), %.0f%% of the wall time\n",
	       cpu * 1e6 / (double)stored, (double)stored / cpu, cpu * 100 / spent);
	printf("database: %.0f bytes per event (%.2f x the JSON)\n", (double)db / (double)stored,
	       (double)db / (double)json);
	buf__free(&b);
	free(z);
	return 0;
}
