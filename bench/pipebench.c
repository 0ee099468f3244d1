/* pipebench: issue 4's pipeline benchmark. Synthetic events shaped like the
 * agent's own output go through the agent side of the pipeline
 *
 *	batcher__add -> seq_store__next -> batch_seal -> spool__put
 *
 * and the collector side
 *
 *	batch_parse -> batch_verify_hmac -> batch_open -> store__insert_batch_refs
 *	-> store__wait_durable (once, for the last batch)
 *
 * on one thread as the collector runs them (the store syncs and checkpoints
 * on threads of its own, store_wal.h: their CPU is counted), against peers
 * run in the same process and the same rounds (these machines are shared
 * and noisy, so only ratios within a run mean much): a plain log shipper
 * (the same lines written to a file, one fsync per batch), zstd alone at the
 * same level, and a bare SQLite insert of the lines (one table, one
 * transaction per batch, WAL + synchronous=FULL: the simple way to make each
 * batch durable before its ACK).
 * It then measures wire bytes per event per event type against the reference
 * size table (/work/shared/seeds: Deepfactor's "Size of events"), the zstd
 * levels, and where the agent's time goes.
 *
 * usage: pipebench [-d DIR] [-n EVENTS] [-c EVENTS] [-r ROUNDS] [-l LEVEL]
 *		    [-b BATCH_BYTES] [-m MIX] [-i FILE] [-s] [-P] [-R] [-o FILE]
 *   -d  where the spool, seq file and databases go (default /var/tmp); use a
 *       real disk, not tmpfs: fsync is part of the cost
 *   -n  agent-side events per path per round (200000)
 *   -c  events through the collector per round (60000: enough WAL for a checkpoint by the
 *       writer and a WAL restart in each round)
 *   -r  rounds; paths interleaved, their order rotating (3)
 *   -l  zstd level of batch_seal (1, ship.zstd_level's default)
 *   -b  batcher max bytes (4194304, ship.batch_max_bytes's default)
 *   -m  event mix of the throughput runs: "reference" (the reference table's
 *       counts), "host" (proportions the agent wrote on a busy VM) or one
 *       type (file, network, listen, proc_start, proc_exit, library,
 *       dependency, memory, heartbeat)
 *   -s  sweep: also batch sizes 1, 4, 16 MiB and level 6
 *   -P  plain batches: no shared process blocks (what sealed batches cost
 *       before ship/blocks.h), to compare
 *   -R  in the wire passes, no remote references (blocks_known.h): every
 *       batch defines the blocks it uses, as with remote_blocks_max_bytes 0
 *   -i FILE  the throughput runs' lines from FILE (agent output, JSON lines,
 *       cycled) instead of the synthetic ones
 *   -o FILE  write the throughput corpus (the MIX's synthetic lines) to FILE
 *       and exit, to look at what is measured
 *
 * build (bench/run.sh's pipeline workload does this):
 *	gcc -O2 -std=gnu11 -D_GNU_SOURCE -I.output/gen -Isrc bench/pipebench.c \
 *	    .output/std/libvigil.a -lssl -lcrypto -lzstd -lsqlite3 -lxxhash -lz -lpthread
 *
 * Synthetic events: the agent's JSON layout key for key (copied from its
 * output), with a pool of processes (executables with fixed hashes, pids,
 * command lines, users, cgroups; busy processes more often; processes
 * replaced as they start and exit), pools of paths, libraries, Python
 * modules, addresses and domains, sequential message ids and increasing
 * times, and random socket ids, descriptors and addresses, so zstd sees
 * about what it sees on a host, not a repeated line. A corpus of lines is
 * generated once and cycled; the 12-digit message id counter is rewritten in
 * place before each line is fed, so every event the collector stores is new.
 * That rewrite (~10 ns/event) is counted in the agent side's time. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zstd.h>

#include "collector/block_cache.h"
#include "collector/store.h"
#include "collector/store_wal.h"
#include "lib/buf.h"
#include "ship/batch.h"
#include "ship/batcher.h"
#include "ship/blocks.h"
#include "ship/blocks_known.h"
#include "ship/device.h"
#include "ship/seq_store.h"
#include "ship/spool.h"

#define MAX_ROUNDS 9

/* As the shipper seals: each distinct process block once per batch
 * (ship/blocks.h). -P turns it off, to compare. */
static bool share_blocks = true;
/* wire passes: blocks of stored batches as remote references (-R: not) */
static bool remote_blocks = true;
#define CORPUS_EVENTS 16384u
#define MAX_CAPTURE_BATCHES 4096u
#define FRAME_HDR 5u		/* u32 len | u8 type */
#define TLS_RECORD 16384u
#define TLS_OVERHEAD 22u	/* TLS 1.3 AES-GCM: 5 header + 1 content type + 16 tag */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("pipebench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- clocks ---- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct stamp {
	uint64_t cpu, wall;
};

struct acc {
	uint64_t cpu, wall;
};

static struct stamp now(void)
{
	struct stamp s = { clock_ns(CLOCK_THREAD_CPUTIME_ID), clock_ns(CLOCK_MONOTONIC) };

	return s;
}

/* Adds the time since *s to a and restarts *s. */
static void lap(struct acc *a, struct stamp *s)
{
	struct stamp t = now();

	a->cpu += t.cpu - s->cpu;
	a->wall += t.wall - s->wall;
	*s = t;
}

static double per_ev(uint64_t ns, uint64_t events)
{
	return events ? (double)ns / (double)events : 0;
}

/* ---- random ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Skewed towards 0: what a few busy processes, hot paths and common
 * libraries do to a stream. */
static unsigned pick_skewed(unsigned n)
{
	return pick(pick(n) + 1);
}

static void rand_hex(char *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[rnd() & 15];
	out[n] = '\0';
}

/* ---- event types and the reference table ---- */

enum ev_type {
	T_FILE, T_NETWORK, T_LISTEN, T_PSTART, T_PEXIT, T_LIBRARY, T_DEPENDENCY, T_MEMORY,
	T_HEARTBEAT, T_MAX
};

/* Reference: "Event count and size summary" of the Deepfactor telemetry page in
 * /work/shared/seeds (a Java app over 30 minutes: 743 events, 659081 bytes).
 * Not modelled, for want of a Vigil counterpart: API (8 events, 739 B) and
 * Host Environment (3, 38060 B). host: per mille of what the agent wrote on
 * this VM during shell, Python and network activity (10 k events). */
static const struct type_info {
	const char *name, *ref_name, *vigil;
	unsigned ref_avg, ref_count, host_permille;
} types[T_MAX] = {
	{ "file", "File", "File Opened/Created/Renamed/...", 1816, 120, 818 },
	{ "network", "Network", "Connect/Accept/Conn/DNS", 2590, 9, 11 },
	{ "listen", "Webapp Register", "Network Listen", 313, 2, 1 },
	{ "proc_start", "Component Start", "Process Created", 4263, 3, 28 },
	{ "proc_exit", "Component Exit", "Process Terminated", 228, 2, 22 },
	{ "library", "Package Info", "Library Loaded (native .so)", 349, 48, 100 },
	{ "dependency", "Dependency Info", "Library Loaded (python .pyc)", 376, 103, 19 },
	{ "memory", "Memory Warning", "memory (exec mappings)", 446, 197, 1 },
	{ "heartbeat", "Heartbeat", "none; SYSTEM_ACTIVITY stands in", 484, 248, 0 },
};

struct mix {
	const char *name;
	unsigned weight[T_MAX];
	unsigned total;
};

static bool mix_by_name(const char *name, struct mix *m)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	for (int t = 0; t < T_MAX; t++) {
		if (!strcmp(name, "reference"))
			m->weight[t] = types[t].ref_count;
		else if (!strcmp(name, "host"))
			m->weight[t] = types[t].host_permille;
		else if (!strcmp(name, types[t].name))
			m->weight[t] = 1;
		m->total += m->weight[t];
	}
	return m->total > 0;
}

/* The reference's average size over the mix's types, weighted by the mix. */
static double mix_ref_avg(const struct mix *m)
{
	double s = 0;

	for (int t = 0; t < T_MAX; t++)
		s += (double)m->weight[t] * types[t].ref_avg;
	return s / m->total;
}

/* ---- generator ---- */

#define NPROC 384
#define NPARENTS 16
#define NHOT 48
#define NPATHS 4096
#define NLIBS 160
#define NPYC 400
#define NREMOTE 256
#define NCLIENT 512

struct exe {
	const char *path;
	char sha256[65], sha1[41], md5[33];
	unsigned size;
};

static const char *const exe_paths[] = {
	"/usr/lib/systemd/systemd", "/usr/bin/bash", "/usr/sbin/sshd", "/usr/sbin/cron",
	"/usr/bin/containerd-shim-runc-v2", "/usr/bin/dockerd", "/usr/sbin/nginx",
	"/usr/lib/postgresql/15/bin/postgres", "/usr/bin/redis-server", "/usr/sbin/rsyslogd",
	"/usr/lib/systemd/systemd-journald", "/usr/bin/python3.11", "/usr/bin/node",
	"/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "/usr/bin/git", "/usr/bin/make",
	"/usr/bin/gcc-12", "/usr/libexec/gcc/x86_64-linux-gnu/12/cc1",
	"/usr/bin/x86_64-linux-gnu-ld.bfd", "/usr/bin/curl", "/usr/bin/apt-get", "/usr/bin/dpkg",
	"/usr/bin/tar", "/usr/bin/gzip", "/usr/bin/ls", "/usr/bin/cat", "/usr/bin/grep",
	"/usr/bin/sed", "/usr/bin/mawk", "/usr/bin/find", "/usr/bin/sort", "/usr/sbin/php-fpm8.2",
	"/usr/bin/perl", "/usr/bin/sudo", "/usr/bin/ps", "/usr/bin/tmux", "/usr/bin/vim.basic",
	"/usr/bin/env", "/usr/bin/sleep", "/usr/bin/id"
};
#define NEXES (sizeof(exe_paths) / sizeof(exe_paths[0]))
static struct exe exes[NEXES];

static const char *const words[] = {
	"app", "api", "worker", "config", "data", "cache", "build", "src", "lib", "include",
	"static", "templates", "migrations", "logs", "tmp", "assets", "models", "views", "tests",
	"vendor", "node_modules", "site-packages", "utils", "core", "main", "server", "client",
	"index", "settings", "report", "backup", "queue", "jobs", "events", "users", "orders",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const char *const exts[] = { ".py", ".js", ".json", ".conf", ".log", ".so", ".h", ".c",
				     ".txt", ".yaml", ".html", ".db", ".sock", "" };

static const struct user {
	unsigned uid;
	const char *name;
} users[] = { { 0, "root" }, { 1000, "alice" }, { 33, "www-data" }, { 106, "postgres" },
	      { 65534, "nobody" }, { 1001, "deploy" } };

static const char *const cwds[] = { "/", "/root", "/home/alice/src/app", "/var/lib/postgresql",
				    "/srv/www", "/home/deploy/releases/20251121", "/tmp",
				    "/var/spool/cron" };

struct proc {
	unsigned pid, ppid, exe;
	uint64_t ctime_wall;
	char json[3072];
	size_t len;
};

struct gen {
	uint64_t t_ns, boot_wall, msg, dropped_total;
	struct proc procs[NPROC];
	char paths[NPATHS][160];
	unsigned inode[NPATHS];
	struct lib {
		char path[160], pkg[48], ver[32], sha256[65];
		unsigned size, inode;
	} libs[NLIBS], pyc[NPYC];
	unsigned remote[NREMOTE], client[NCLIENT];
	char cgroup_docker[96], container_id[65];
	unsigned next_pid;
};

static const char HOST_INFO[] =
	"\"message_timezone\":\"UTC\",\"user_data\":\"NONE\",\"host_information\":{"
	"\"hostname\":\"web-07\",\"device_id\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
	"\"org_id\":\"default\",\"machine_id\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
	"\"boot_uuid\":\"d69d8b2d-ecd7-4c13-94f2-73704f6ded1a\",\"os_name\":"
	"\"Debian GNU/Linux 12 (bookworm)\",\"os_version\":\"Linux 6.1.0-28-amd64\","
	"\"agent_instance_id\":\"d7a692fe20d88b83\"}}";

static void iso_time(char *out, size_t len, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&s, &tm);
	/* tm's fields are in range: 35 bytes ("2026-11-22T03:41:14.232186147+00:00") */
	snprintf(out, len, "%04u-%02u-%02uT%02u:%02u:%02u.%09u+00:00",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
		 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
		 (unsigned)(ns % 1000000000ull));
}

static void ipv4(char *out, size_t len, unsigned a)
{
	snprintf(out, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* A process's JSON block, rendered once per process as the agent's process
 * cache would give the same bytes for every event of that process. */
static void render_proc(struct gen *g, struct proc *p, const char *creation_type)
{
	const struct exe *e = &exes[p->exe];
	const struct user *u = &users[p->exe < 11 ? 0 : pick(sizeof(users) / sizeof(users[0]))];
	const char *name = strrchr(e->path, '/') + 1;
	char cmd[400], argv[600], iso[48];
	size_t cl = 0, al = 0;
	unsigned nargs = pick(6), cg = pick(4);
	bool docker = cg == 3;
	const char *arg0 = p->exe == 11 ? "python3" : e->path;

	cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "%s", arg0);
	al += (size_t)snprintf(argv + al, sizeof(argv) - al, "\"%s\"", arg0);
	for (unsigned i = 0; i < nargs && cl < 300 && al < 450; i++) {
		char arg[96];

		switch (pick(4)) {
		case 0:
			snprintf(arg, sizeof(arg), "-%c", 'a' + pick(26));
			break;
		case 1:
			snprintf(arg, sizeof(arg), "--%s=%u", words[pick(NWORDS)], pick(10000));
			break;
		case 2:
			snprintf(arg, sizeof(arg), "/srv/%s/%s/%s%u%s", words[pick(NWORDS)],
				 words[pick(NWORDS)], words[pick(NWORDS)], pick(100),
				 exts[pick(sizeof(exts) / sizeof(exts[0]))]);
			break;
		default:
			snprintf(arg, sizeof(arg), "%s", words[pick(NWORDS)]);
			break;
		}
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, " %s", arg);
		al += (size_t)snprintf(argv + al, sizeof(argv) - al, ",\"%s\"", arg);
	}
	iso_time(iso, sizeof(iso), p->ctime_wall);
	p->len = (size_t)snprintf(
		p->json, sizeof(p->json),
		"{\"process_name\":\"%s\",\"process_id\":%u,\"process_thread_id\":%u,"
		"\"process_parent_process_id\":%u,\"process_executable_path\":\"%s\","
		"\"process_command_line\":\"%s\",\"process_command_line_arguments\":[%s],"
		"\"process_args_truncated\":false,\"process_current_working_directory\":\"%s\","
		"\"process_real_user_id\":%u,\"process_real_user_name\":\"%s\","
		"\"process_real_group_id\":%u,\"process_real_group_name\":\"%s\","
		"\"process_effective_user_id\":%u,\"process_effective_user_name\":\"%s\","
		"\"process_effective_group_id\":%u,\"process_effective_group_name\":\"%s\","
		"\"process_login_user_id\":%s,\"process_login_user_name\":%s,"
		"\"process_creation_time_iso_8601_ns\":\"%s\","
		"\"process_creation_time_ns\":%" PRIu64 ","
		"\"process_exec_id\":\"%x-%" PRIx64 "\",\"process_self_exec_id\":%u,"
		"\"process_pid_namespace\":%u,\"process_mount_points_namespace\":%u,"
		"\"process_network_namespace\":%u,\"process_cgroup\":\"%s\","
		"\"process_container_id\":%s%s%s,\"process_container_runtime\":%s,"
		"\"process_hash_sha256\":\"%s\",\"process_hash_sha1\":\"%s\",\"process_hash_md5\":"
		"\"%s\","
		"\"process_hash_status\":\"ok\",\"process_file_size_bytes\":%u,"
		"\"process_creation_type\":\"%s\"}",
		name, p->pid, p->pid, p->ppid, e->path, cmd, argv,
		cwds[pick(sizeof(cwds) / sizeof(cwds[0]))],
		u->uid, u->name, u->uid, u->name, u->uid, u->name, u->uid, u->name,
		u->uid >= 1000 && u->uid < 65534 ? "1000" : "null",
		u->uid >= 1000 && u->uid < 65534 ? "\"alice\"" : "null", iso,
		p->ctime_wall - g->boot_wall, p->pid, p->ctime_wall - g->boot_wall, pick(5),
		docker ? 4026532301u : 4026531836u, docker ? 4026532298u : 4026531841u,
		docker ? 4026532304u : 4026531840u,
		cg == 0   ? "/system.slice/app.service"
		: cg == 1 ? "/user.slice/user-1000.slice/session-3.scope"
		: cg == 2 ? "/system.slice/cron.service"
			  : g->cgroup_docker,
		docker ? "\"" : "", docker ? g->container_id : "null", docker ? "\"" : "",
		docker ? "\"docker\"" : "null", e->sha256, e->sha1, e->md5, e->size, creation_type);
	if (p->len >= sizeof(p->json))
		die("process block over %zu bytes", sizeof(p->json));
}

/* A new process in slot i (the old one is gone): a new pid and command. */
static void spawn(struct gen *g, unsigned i, const char *creation_type)
{
	struct proc *p = &g->procs[i];

	p->pid = g->next_pid;
	g->next_pid += 1 + pick(40);
	if (g->next_pid > 4000000)
		g->next_pid = 300;
	p->ppid = i < NPARENTS ? 1 : g->procs[pick(NPARENTS)].pid;
	p->exe = i < NPARENTS ? i % 11 : 11 + pick((unsigned)NEXES - 11);
	p->ctime_wall = g->t_ns - (i < NPARENTS ? 86400000000000ull + rnd() % 1000000000000ull
						: rnd() % 30000000000ull);
	render_proc(g, p, creation_type);
}

static void gen_init(struct gen *g)
{
	static const char *const roots[] = {
		"/etc", "/usr/lib/python3/dist-packages", "/srv/app",
		"/var/lib/postgresql/15/main/base", "/home/alice/src", "/proc/self",
		"/usr/share/zoneinfo", "/var/log", "/tmp", "/usr/include", "/sys/fs/cgroup",
	};
	static const char *const pkgs[] = { "libc6", "libssl3", "zlib1g", "libzstd1", "libsystemd0",
					    "libpq5", "libstdc++6", "libgcc-s1", "libselinux1",
					    "libpcre2-8-0", "libcap2", "liblzma5", "libcrypt1" };

	memset(g, 0, sizeof(*g));
	g->t_ns = 1795318874232186147ull;
	g->boot_wall = g->t_ns - 11686517976480ull;
	g->next_pid = 2000;
	for (size_t i = 0; i < NEXES; i++) {
		exes[i].path = exe_paths[i];
		rand_hex(exes[i].sha256, 64);
		rand_hex(exes[i].sha1, 40);
		rand_hex(exes[i].md5, 32);
		exes[i].size = 20000 + pick(20000000);
	}
	rand_hex(g->container_id, 64);
	snprintf(g->cgroup_docker, sizeof(g->cgroup_docker), "/system.slice/docker-%.64s.scope",
		 g->container_id);
	for (unsigned i = 0; i < NPROC; i++)
		spawn(g, i, "snapshot");
	for (unsigned i = 0; i < NPATHS; i++) {
		size_t n = (size_t)snprintf(g->paths[i], sizeof(g->paths[i]), "%s",
					    roots[pick_skewed(sizeof(roots) / sizeof(roots[0]))]);
		unsigned depth = pick(4);

		for (unsigned d = 0; d < depth; d++)
			n += (size_t)snprintf(g->paths[i] + n, sizeof(g->paths[i]) - n, "/%s",
					      words[pick(NWORDS)]);
		snprintf(g->paths[i] + n, sizeof(g->paths[i]) - n, "/%s%u%s", words[pick(NWORDS)],
			 pick(1000), exts[pick(sizeof(exts) / sizeof(exts[0]))]);
		g->inode[i] = 100000 + pick(20000000);
	}
	for (unsigned i = 0; i < NLIBS; i++) {
		struct lib *l = &g->libs[i];
		const char *pkg = pkgs[pick(sizeof(pkgs) / sizeof(pkgs[0]))];

		snprintf(l->path, sizeof(l->path), "/usr/lib/x86_64-linux-gnu/lib%s%s.so.%u",
			 words[pick(NWORDS)], i < 20 ? "" : words[pick(NWORDS)], pick(8));
		snprintf(l->pkg, sizeof(l->pkg), "%s", pkg);
		snprintf(l->ver, sizeof(l->ver), "%u.%u-%u+deb12u%u", 1 + pick(4), pick(20),
			 pick(9), pick(9));
		rand_hex(l->sha256, 64);
		l->size = 10000 + pick(3000000);
		l->inode = 300000 + pick(100000);
	}
	for (unsigned i = 0; i < NPYC; i++) {
		struct lib *l = &g->pyc[i];

		snprintf(l->path, sizeof(l->path),
			 "/usr/lib/python3/dist-packages/%s/%s/__pycache__/%s.cpython-311.pyc",
			 words[pick(NWORDS)], words[pick(NWORDS)], words[pick(NWORDS)]);
		rand_hex(l->sha256, 64);
		l->size = 500 + pick(60000);
		l->inode = 20000 + pick(100000);
	}
	for (unsigned i = 0; i < NREMOTE; i++)
		g->remote[i] = (unsigned)rnd();
	for (unsigned i = 0; i < NCLIENT; i++)
		g->client[i] = (unsigned)rnd();
}

/* The message header through "family", leaving activity_data open. *idoff
 * gets the offset of the 12-digit id counter from the start of the line. */
static void header(struct gen *g, struct buf *b, size_t line_start, const char *msgtype,
		   const char *severity, const char *name, unsigned type_id, const char *family,
		   size_t *idoff)
{
	char iso[48];

	g->t_ns += 1 + rnd() % 400000;
	iso_time(iso, sizeof(iso), g->t_ns);
	buf__addf(b, "{\"message_header\":{\"vendor_name\":\"Vigil\",\"product_name\":"
	             "\"vigil-agent\","
		  "\"product_version\":\"0.1.0\",\"message_type\":\"%s\",\"severity\":\"%s\","
		  "\"schema_version\":\"1.1.0\",\"message_id\":\"d7a692fe-20d8-8b83-8000-",
		  msgtype, severity);
	*idoff = b->len - line_start;
	buf__addf(b, "%012" PRIx64 "\",\"occurred_message_time_iso_8601_ns\":\"%s\","
		  "\"occurred_message_time_ns\":%" PRIu64 ",%s,\"activity_data\":{\"name\":\"%s\","
		  "\"event_type_id\":%u,\"family\":\"%s\"",
		  g->msg++, iso, g->t_ns, HOST_INFO, name, type_id, family);
}

/* Busy processes are most of the stream. */
static unsigned pick_proc(void)
{
	unsigned r = pick(100);

	if (r < 8)
		return pick(NPARENTS);
	if (r < 58)
		return NPARENTS + pick(NHOT - NPARENTS);
	return NPARENTS + pick(NPROC - NPARENTS);
}

static void proc_blocks(struct gen *g, struct buf *b, unsigned i)
{
	const struct proc *p = &g->procs[i];
	unsigned parent = 0;

	for (unsigned k = 0; k < NPARENTS; k++)
		if (g->procs[k].pid == p->ppid)
			parent = k;
	buf__adds(b, ",\"process_details\":");
	buf__add(b, p->json, p->len);
	buf__adds(b, ",\"parent_process_details\":");
	buf__add(b, g->procs[parent].json, g->procs[parent].len);
}

static const char NET_TAIL_NULL[] =
	"\"tcp_connection_state\":null,\"tcp_previous_state\":null,\"tcp_bytes_in\":null,"
	"\"tcp_bytes_out\":null,\"tcp_segments_in\":null,\"tcp_segments_out\":null,"
	"\"tcp_data_segments_in\":null,\"tcp_data_segments_out\":null,"
	"\"tcp_average_bytes_in\":null,\"tcp_average_bytes_out\":null,"
	"\"tcp_connection_creation_time_iso_8601_ns\":null,"
	"\"tcp_connection_creation_time_ns\":null,"
	"\"tcp_connection_termination_time_iso_8601_ns\":null,"
	"\"tcp_connection_overall_duration_ns\":null}}}\n";

static void net_event(struct gen *g, struct buf *b, size_t start, size_t *idoff)
{
	static const unsigned ports[] = { 443, 443, 443, 80, 5432, 6379, 8080, 9092, 53 };
	unsigned r = pick(100), pi = pick_proc();
	char local[20], remote[20], sock[17], iso[48];

	ipv4(local, sizeof(local), 0x0a000005);
	rand_hex(sock, 16);
	if (r < 10) {	/* DNS */
		static const char *const doms[] = {
			"api.github.com", "deb.debian.org", "example.com",
			"s3.eu-west-1.amazonaws.com", "registry-1.docker.io", "pypi.org",
			"db.internal.acme.net", "sentry.io",
		};
		const char *d = doms[pick(sizeof(doms) / sizeof(doms[0]))];
		bool answer = r >= 5;
		char a1[20], a2[20];

		header(g, b, start, "EVENT", "INFO", answer ? "DNS Answer" : "DNS Query",
		       answer ? 51 : 50, "dns", idoff);
		proc_blocks(g, b, pi);
		ipv4(a1, sizeof(a1), g->remote[pick(NREMOTE)]);
		ipv4(a2, sizeof(a2), g->remote[pick(NREMOTE)]);
		buf__addf(b, ",\"dns_details\":{\"dns_operation\":\"%s\",\"dns_protocol\":\"udp\","
			  "\"dns_resolver_address\":\"10.255.255.53\",\"dns_resolver_port\":53,"
			  "\"dns_socket_id\":\"%s\",\"dns_transaction_id\":%u,\"dns_opcode\":0,"
			  "\"dns_is_response\":%s,\"dns_truncated\":false,\"dns_response_code\":%s,"
			  "\"dns_question_count\":1,\"dns_answer_count\":%u,"
			  "\"dns_query_names\":[\"%s\"],"
			  "\"dns_questions\":[{\"name\":\"%s\",\"type\":\"A\",\"class\":1}],"
			  "\"dns_answers\":[",
			  answer ? "recvfrom" : "sendto", sock, pick(65536),
			  answer ? "true" : "false",
			  answer ? "\"NOERROR\"" : "null", answer ? 2u : 0u, d, d);
		if (answer)
			buf__addf(b, "{\"name\":\"%s\",\"type\":\"A\",\"ttl\":%u,\"data\":\"%s\"},"
				  "{\"name\":\"%s\",\"type\":\"A\",\"ttl\":%u,\"data\":\"%s\"}",
				  d, pick(3600), a1, d, pick(3600), a2);
		buf__addf(b, "],\"dns_payload_bytes\":%u,\"dns_payload_truncated\":false,"
			  "\"dns_parse_error\":null}}}\n", 29 + (answer ? 32 : 0) + pick(20));
		return;
	}
	if (r < 45) {	/* connect */
		bool unix_sock = pick(10) == 0, refused = pick(10) == 0;

		header(g, b, start, "EVENT", "INFO", "Network Connect", 42, "network", idoff);
		proc_blocks(g, b, pi);
		ipv4(remote, sizeof(remote), g->remote[pick_skewed(NREMOTE)]);
		if (unix_sock)
			buf__addf(b, ",\"network_details\":{\"network_operation\":\"connect\","
				  "\"network_result\":\"success\",\"network_errno\":null,"
				  "\"network_error_name\":null,\"network_file_descriptor\":%u,"
				  "\"network_family\":\"AF_UNIX\",\"network_socket_type\":"
				  "\"stream\","
				  "\"network_protocol\":null,\"network_local_address\":null,"
				  "\"network_local_port\":null,\"network_local_abstract\":null,"
				  "\"network_remote_address\":\"/run/%s.sock\","
				  "\"network_remote_port\":null,"
				  "\"network_remote_abstract\":false,"
				  "\"network_listen_backlog\":null,"
				  "\"network_socket_id\":\"%s\",\"network_direction\":null,",
				  3 + pick(40), words[pick(NWORDS)], sock);
		else
			buf__addf(b, ",\"network_details\":{\"network_operation\":\"connect\","
				  "\"network_result\":\"%s\",\"network_errno\":%s,"
				  "\"network_error_name\":%s,"
				  "\"network_file_descriptor\":%u,\"network_family\":\"AF_INET\","
				  "\"network_socket_type\":\"stream\",\"network_protocol\":\"tcp\","
				  "\"network_local_address\":\"%s\",\"network_local_port\":%u,"
				  "\"network_local_abstract\":null,\"network_remote_address\":"
				  "\"%s\","
				  "\"network_remote_port\":%u,\"network_remote_abstract\":null,"
				  "\"network_listen_backlog\":null,\"network_socket_id\":\"%s\","
				  "\"network_direction\":null,",
				  refused ? "failure" : "success", refused ? "111" : "null",
				  refused ? "\"ECONNREFUSED\"" : "null", 3 + pick(40), local,
				  32768 + pick(28000), remote,
				  ports[pick(sizeof(ports) / sizeof(ports[0]))],
				  sock);
		buf__adds(b, NET_TAIL_NULL);
		return;
	}
	if (r < 60) {	/* accept */
		header(g, b, start, "EVENT", "INFO", "Network Accept", 43, "network", idoff);
		proc_blocks(g, b, pi);
		ipv4(remote, sizeof(remote), g->client[pick(NCLIENT)]);
		buf__addf(b, ",\"network_details\":{\"network_operation\":\"accept4\","
			  "\"network_result\":\"success\",\"network_errno\":null,"
			  "\"network_error_name\":null,\"network_file_descriptor\":%u,"
			  "\"network_family\":\"AF_INET\",\"network_socket_type\":\"stream\","
			  "\"network_protocol\":\"tcp\",\"network_local_address\":\"%s\","
			  "\"network_local_port\":%u,\"network_local_abstract\":null,"
			  "\"network_remote_address\":\"%s\",\"network_remote_port\":%u,"
			  "\"network_remote_abstract\":null,\"network_listen_backlog\":null,"
			  "\"network_socket_id\":\"%s\",\"network_direction\":null,",
			  3 + pick(200), local, pick(2) ? 443 : 8080, remote, 1024 + pick(64000),
			  sock);
		buf__adds(b, NET_TAIL_NULL);
		return;
	}
	/* TCP lifecycle: Connection Created / Terminated with the socket's counters */
	{
		bool term = r >= 80, out = pick(2);
		uint64_t created = g->t_ns - rnd() % 5000000000ull;
		unsigned bin = pick(100000), bout = pick(20000);
		unsigned sin = 1 + pick(200), sout = 1 + pick(200);

		header(g, b, start, "EVENT", "INFO",
		       term ? "Network Connection Terminated" : "Network Connection Created",
		       term ? 45 : 44, "network", idoff);
		proc_blocks(g, b, pi);
		ipv4(remote, sizeof(remote),
		     out ? g->remote[pick_skewed(NREMOTE)] : g->client[pick(NCLIENT)]);
		iso_time(iso, sizeof(iso), created);
		buf__addf(b, ",\"network_details\":{\"network_operation\":\"tcp_state_change\","
			  "\"network_result\":null,\"network_errno\":null,"
			  "\"network_error_name\":null,"
			  "\"network_file_descriptor\":null,\"network_family\":\"AF_INET\","
			  "\"network_socket_type\":\"stream\",\"network_protocol\":\"tcp\","
			  "\"network_local_address\":\"%s\",\"network_local_port\":%u,"
			  "\"network_local_abstract\":null,\"network_remote_address\":\"%s\","
			  "\"network_remote_port\":%u,\"network_remote_abstract\":null,"
			  "\"network_listen_backlog\":null,\"network_socket_id\":\"%s\","
			  "\"network_direction\":\"%s\",\"tcp_connection_state\":\"%s\","
			  "\"tcp_previous_state\":\"%s\",\"tcp_bytes_in\":%u,\"tcp_bytes_out\":%u,"
			  "\"tcp_segments_in\":%u,\"tcp_segments_out\":%u,"
			  "\"tcp_data_segments_in\":%u,"
			  "\"tcp_data_segments_out\":%u,\"tcp_average_bytes_in\":%u,"
			  "\"tcp_average_bytes_out\":%u,"
			  "\"tcp_connection_creation_time_iso_8601_ns\":\"%s\","
			  "\"tcp_connection_creation_time_ns\":%" PRIu64 ",",
			  local, out ? 32768 + pick(28000) : 443, remote,
			  out ? 443 : 1024 + pick(64000), sock, out ? "outbound" : "inbound",
			  term ? "CLOSE" : "ESTABLISHED", term ? "FIN_WAIT2" : "SYN_SENT",
			  term ? bin : 0, term ? bout : 0, sin, sout,
			  term ? sin / 2 : 0, term ? sout / 2 : 0, term ? bin / sin : 0,
			  term ? bout / sout : 0, iso, created);
		if (term) {
			iso_time(iso, sizeof(iso), g->t_ns);
			buf__addf(b, "\"tcp_connection_termination_time_iso_8601_ns\":\"%s\","
				  "\"tcp_connection_overall_duration_ns\":%" PRIu64 "}}}\n", iso,
				  g->t_ns - created);
		} else {
			buf__adds(b, "\"tcp_connection_termination_time_iso_8601_ns\":null,"
				  "\"tcp_connection_overall_duration_ns\":null}}}\n");
		}
	}
}

static void file_event(struct gen *g, struct buf *b, size_t start, size_t *idoff)
{
	static const struct {
		unsigned flags;
		const char *names;
		bool write;
	} opens[] = {
		{ 524288, "\"O_RDONLY\",\"O_CLOEXEC\"", false },
		{ 524288, "\"O_RDONLY\",\"O_CLOEXEC\"", false },
		{ 524288, "\"O_RDONLY\",\"O_CLOEXEC\"", false },
		{ 0, "\"O_RDONLY\"", false },
		{ 591872, "\"O_RDONLY\",\"O_NONBLOCK\",\"O_DIRECTORY\",\"O_CLOEXEC\"", false },
		{ 577, "\"O_WRONLY\",\"O_CREAT\",\"O_TRUNC\"", true },
		{ 524290, "\"O_RDWR\",\"O_CLOEXEC\"", true },
	};
	unsigned r = pick(100), pi = pick_proc(), f = pick_skewed(NPATHS);
	const char *name = "File Opened", *op = "openat";
	unsigned id = 10;

	if (r >= 97) {
		name = "File Deleted", op = "unlinkat", id = 12;
	} else if (r >= 94) {
		name = "File Renamed", op = "renameat2", id = 13;
	} else if (r >= 91) {
		name = "File Created", id = 11;
	}
	header(g, b, start, "EVENT", "INFO", name, id, "file", idoff);
	proc_blocks(g, b, pi);
	buf__addf(b, ",\"file_details\":{\"file_operation\":\"%s\",\"file_path\":\"%s\",", op,
		  g->paths[f]);
	if (id == 13)
		buf__addf(b, "\"file_new_path\":\"%s.%u\",", g->paths[f], pick(100000));
	else
		buf__adds(b, "\"file_new_path\":null,");
	buf__adds(b, "\"file_symlink_target\":null,\"file_path_truncated\":false,"
		  "\"file_result\":\"success\",\"file_errno\":null,\"file_error_name\":null,");
	if (id == 10 || id == 11) {
		unsigned o = id == 11 ? 5 : pick(sizeof(opens) / sizeof(opens[0]));

		buf__addf(b, "\"file_descriptor\":%u,\"file_open_flags\":%u,"
		             "\"file_open_flag_names\":"
			  "[%s],\"file_opened_for_write\":%s,\"file_created\":%s,\"file_mode\":%s,"
			  "\"file_owner_uid\":null,\"file_owner_gid\":null,"
			  "\"file_truncate_length\":null,"
			  "\"file_syscall_flags\":null,\"file_inode\":%u,\"file_device\":\"%s\",",
			  3 + pick(60), opens[o].flags, opens[o].names,
			  opens[o].write ? "true" : "false",
			  id == 11 ? "true" : "false", id == 11 ? "\"0644\"" : "null", g->inode[f],
			  g->paths[f][1] == 'p' ? "0:22" : "254:0");
	} else {
		buf__addf(b, "\"file_descriptor\":null,\"file_open_flags\":null,"
			  "\"file_open_flag_names\":null,\"file_opened_for_write\":null,"
			  "\"file_created\":null,\"file_mode\":null,\"file_owner_uid\":null,"
			  "\"file_owner_gid\":null,\"file_truncate_length\":null,"
			  "\"file_syscall_flags\":%s,\"file_inode\":null,\"file_device\":null,",
			  id == 13 ? "1" : "null");
	}
	buf__adds(b, "\"file_hash_status\":null,\"file_hash_sha256\":null,\"file_hash_sha1\":null,"
		  "\"file_hash_md5\":null,\"file_size_bytes\":null}}}\n");
}

static void library_event(struct gen *g, struct buf *b, size_t start, size_t *idoff, bool python)
{
	const struct lib *l = python ? &g->pyc[pick_skewed(NPYC)] : &g->libs[pick_skewed(NLIBS)];

	header(g, b, start, "EVENT", "INFO", "Library Loaded", 70, "library", idoff);
	proc_blocks(g, b, pick_proc());
	buf__addf(b, ",\"library_details\":{\"library_path\":\"%s\",\"library_language\":\"%s\","
		  "\"library_hash_sha256\":\"%s\",\"library_hash_status\":\"ok\","
		  "\"library_size_bytes\":%u,\"library_inode\":%u,\"library_device\":\"254:0\",",
		  l->path, python ? "python" : "native", l->sha256, l->size, l->inode);
	if (python)
		buf__adds(b, "\"library_mapped_address\":null,\"library_package\":null,"
			  "\"library_package_version\":null}}}\n");
	else
		buf__addf(b, "\"library_mapped_address\":\"0x7f%07" PRIx64 "000\","
			  "\"library_package\":"
			  "\"%s\",\"library_package_version\":\"%s\"}}}\n", rnd() % 0xfffffff,
			  l->pkg, l->ver);
}

static void memory_event(struct gen *g, struct buf *b, size_t start, size_t *idoff)
{
	unsigned r = pick(10);
	const char *name = r < 4   ? "New Executable Anonymous Memory Mapped"
			   : r < 8 ? "Executable Permissions Added"
				   : "Executable Permissions Removed";

	header(g, b, start, "EVENT", r < 8 ? "MEDIUM" : "INFO", name, r < 4 ? 60 : r < 8 ? 61 : 64,
	       "memory", idoff);
	proc_blocks(g, b, pick_proc());
	buf__addf(b, ",\"memory_details\":{\"memory_operation\":\"%s\",\"memory_result\":"
	             "\"success\","
		  "\"memory_errno\":null,\"memory_error_name\":null,\"memory_address\":"
		  "\"0x7f%07" PRIx64 "000\",\"memory_length\":%u,\"memory_protection\":[%s],"
		  "\"memory_writable_and_executable\":%s,\"memory_anonymous\":true,"
		  "\"memory_file_path\":null,\"memory_memfd_name\":null,\"memory_fd\":null,"
		  "\"memory_suppressed_count\":%u}}}\n",
		  r < 4 ? "mmap" : "mprotect", rnd() % 0xfffffff, 4096u << pick(8),
		  r < 4 ? "\"PROT_READ\",\"PROT_WRITE\",\"PROT_EXEC\""
		  : r < 8 ? "\"PROT_READ\",\"PROT_EXEC\"" : "\"PROT_READ\"",
		  r < 4 ? "true" : "false", pick(3) ? 0 : pick(50));
}

/* Vigil sends no heartbeat; its periodic agent-status events are
 * SYSTEM_ACTIVITY with counters (Events Dropped), which stand in for it. */
static void heartbeat_event(struct gen *g, struct buf *b, size_t start, size_t *idoff)
{
	static const char *const reasons[] = { "ringbuf_full", "queue_full", "process_table_full",
					       "collector_rejected:bad_hmac", "spool_full" };
	const char *why = reasons[pick(sizeof(reasons) / sizeof(reasons[0]))];
	unsigned n = 1 + pick(5000);

	g->dropped_total += n;
	header(g, b, start, "SYSTEM_ACTIVITY", "WARNING", "Events Dropped", 1005, "system", idoff);
	buf__addf(b, ",\"system_details\":{\"message\":\"%u events lost (%s), %" PRIu64
		  " since start\",\"reason\":\"%s\",\"dropped\":%u,"
		  "\"dropped_total\":%" PRIu64 "}}}\n",
		  n, why, g->dropped_total, why, n, g->dropped_total);
}

static void gen_event(struct gen *g, struct buf *b, enum ev_type t, size_t *idoff)
{
	size_t start = b->len;
	unsigned slot;

	switch (t) {
	case T_FILE:
		file_event(g, b, start, idoff);
		break;
	case T_NETWORK:
		net_event(g, b, start, idoff);
		break;
	case T_LISTEN: {
		char sock[17];

		rand_hex(sock, 16);
		header(g, b, start, "EVENT", "INFO", "Network Listen", 41, "network", idoff);
		proc_blocks(g, b, pick(NHOT));
		buf__addf(b, ",\"network_details\":{\"network_operation\":\"listen\","
			  "\"network_result\":\"success\",\"network_errno\":null,"
			  "\"network_error_name\":null,\"network_file_descriptor\":%u,"
			  "\"network_family\":\"AF_INET\",\"network_socket_type\":\"stream\","
			  "\"network_protocol\":\"tcp\",\"network_local_address\":\"0.0.0.0\","
			  "\"network_local_port\":%u,\"network_local_abstract\":null,"
			  "\"network_remote_address\":null,\"network_remote_port\":null,"
			  "\"network_remote_abstract\":null,\"network_listen_backlog\":%u,"
			  "\"network_socket_id\":\"%s\",\"network_direction\":null,",
			  3 + pick(20), 1024 + pick(60000), pick(2) ? 511 : 4096, sock);
		buf__adds(b, NET_TAIL_NULL);
		break;
	}
	case T_PSTART:
		slot = NPARENTS + pick(NPROC - NPARENTS);
		spawn(g, slot, "exec");
		header(g, b, start, "EVENT", "INFO", "Process Created", 1, "process", idoff);
		proc_blocks(g, b, slot);
		buf__adds(b, "}}\n");
		break;
	case T_PEXIT: {
		static const char *const sigs[] = { "SIGTERM", "SIGKILL", "SIGPIPE", "SIGSEGV" };
		unsigned s = pick(4);
		bool sig = pick(8) == 0;

		slot = NPARENTS + pick(NPROC - NPARENTS);
		header(g, b, start, "EVENT", "INFO", "Process Terminated", 2, "process", idoff);
		proc_blocks(g, b, slot);
		buf__addf(b, ",\"exit_details\":{\"exit_code\":%u,\"exit_signal\":%s%s%s,"
			  "\"exit_signal_name\":%s%s%s,\"core_dumped\":false}}}\n",
			  sig ? 128 + 15 : pick(4) ? 0 : 1 + pick(2), sig ? "\"" : "",
			  sig ? "15" : "null", sig ? "\"" : "", sig ? "\"" : "",
			  sig ? sigs[s] : "null", sig ? "\"" : "");
		spawn(g, slot, "exec");
		break;
	}
	case T_LIBRARY:
	case T_DEPENDENCY:
		library_event(g, b, start, idoff, t == T_DEPENDENCY);
		break;
	case T_MEMORY:
		memory_event(g, b, start, idoff);
		break;
	case T_HEARTBEAT:
	case T_MAX:
		heartbeat_event(g, b, start, idoff);
		break;
	}
}

/* ---- corpus: generated lines, cycled ---- */

/* The end of the JSON value at p (an object or a scalar), or NULL. Setup
 * only: the agent's JSON writer records these places as it writes. */
static const char *json_value_end(const char *p, const char *end)
{
	int depth = 0;
	bool str = false;

	if (p < end && *p != '{')
		return memchr(p, ',', (size_t)(end - p));
	for (; p < end; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				str = false;
		} else if (*p == '"') {
			str = true;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

struct corpus;
static void corpus_spans(struct corpus *c);

struct corpus {
	struct buf data;
	size_t *off;		/* n + 1 line starts */
	uint32_t *idoff;	/* offset of the 12 id digits in line i */
	struct line_blocks *bl;	/* where line i's process blocks are, as json.c says */
	size_t n;
	uint64_t per_type[T_MAX];
};

/* n events of the mix, or at least min_bytes of them (whichever is more), in
 * a deterministic order: a weighted round robin so that every stretch of the
 * corpus has about the mix's proportions. */
static void corpus_build(struct corpus *c, struct gen *g, const struct mix *m, size_t n,
			 size_t min_bytes)
{
	double credit[T_MAX] = { 0 };
	size_t alloc = n + 1;

	memset(c, 0, sizeof(*c));
	buf__init(&c->data, (size_t)1 << 31);
	c->off = malloc(alloc * sizeof(*c->off));
	c->idoff = malloc(alloc * sizeof(*c->idoff));
	if (!c->off || !c->idoff)
		die("out of memory for a corpus");
	while (c->n < n || c->data.len < min_bytes) {
		int best = 0;
		size_t idoff = 0;

		if (c->n + 1 >= alloc) {
			alloc *= 2;
			c->off = realloc(c->off, alloc * sizeof(*c->off));
			c->idoff = realloc(c->idoff, alloc * sizeof(*c->idoff));
			if (!c->off || !c->idoff)
				die("out of memory for a corpus");
		}
		for (int t = 0; t < T_MAX; t++) {
			credit[t] += (double)m->weight[t] / m->total;
			if (credit[t] > credit[best])
				best = t;
		}
		credit[best] -= 1;
		c->off[c->n] = c->data.len;
		gen_event(g, &c->data, (enum ev_type)best, &idoff);
		if (c->data.toobig)
			die("corpus over %zu bytes", c->data.cap);
		c->idoff[c->n] = (uint32_t)idoff;
		c->per_type[best]++;
		c->n++;
	}
	c->off[c->n] = c->data.len;
	corpus_spans(c);
}

static void corpus_free(struct corpus *c)
{
	buf__free(&c->data);
	free(c->off);
	free(c->idoff);
	free(c->bl);
}

/* The reference type of an agent line, by its family and name; -1: none
 * (thread and identity events have no counterpart in the reference). */
static int classify(const char *line, size_t n)
{
	static const struct {
		const char *needle;
		int type;
	} rules[] = {
		{ "\"family\":\"file\"", T_FILE }, { "\"name\":\"Network Listen\"", T_LISTEN },
		{ "\"name\":\"Network Bind\"", T_LISTEN }, { "\"family\":\"network\"", T_NETWORK },
		{ "\"family\":\"dns\"", T_NETWORK }, { "\"name\":\"Process Created\"", T_PSTART },
		{ "\"name\":\"Process Terminated\"", T_PEXIT },
		{ "\"library_language\":\"native\"", T_LIBRARY },
		{ "\"family\":\"library\"", T_DEPENDENCY }, { "\"family\":\"memory\"", T_MEMORY },
		{ "\"family\":\"system\"", T_HEARTBEAT },
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (memmem(line, n, rules[i].needle, strlen(rules[i].needle)))
			return rules[i].type;
	return -1;
}

/* A corpus of an agent output file's lines (at most CORPUS_EVENTS * 4 of
 * them): every line must carry the agent's message id, whose last 12 hex
 * digits are the counter rewritten as the lines are cycled. m gets the
 * lines' types as weights. */
static void corpus_load(struct corpus *c, const char *path, struct mix *m)
{
	static const char key[] = "\"message_id\":\"";
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, alloc = CORPUS_EVENTS * 4 + 1;
	ssize_t got;

	if (!f)
		die("%s: %s", path, strerror(errno));
	memset(c, 0, sizeof(*c));
	memset(m, 0, sizeof(*m));
	m->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	buf__init(&c->data, (size_t)1 << 31);
	c->off = malloc(alloc * sizeof(*c->off));
	c->idoff = malloc(alloc * sizeof(*c->idoff));
	if (!c->off || !c->idoff)
		die("out of memory for a corpus");
	while (c->n + 1 < alloc && (got = getline(&line, &cap, f)) > 0) {
		const char *id = memmem(line, (size_t)got, key, sizeof(key) - 1);
		int t;

		if (got < 2 || line[got - 1] != '\n')
			continue;
		if (!id || (size_t)(line + got - id) < sizeof(key) - 1 + 37 ||
		    id[sizeof(key) - 1 + 36] != '"')
			die("%s:%zu: no agent message id (\"message_id\":\"<36 chars>\")", path,
			    c->n + 1);
		c->off[c->n] = c->data.len;
		c->idoff[c->n] = (uint32_t)(id - line) + sizeof(key) - 1 + 24;
		if (buf__add(&c->data, line, (size_t)got))
			die("%s: over %zu bytes", path, c->data.cap);
		t = classify(line, (size_t)got);
		if (t >= 0) {
			c->per_type[t]++;
			m->weight[t]++;
			m->total++;
		}
		c->n++;
	}
	c->off[c->n] = c->data.len;
	free(line);
	fclose(f);
	if (!c->n)
		die("%s: no lines", path);
	corpus_spans(c);
	if (!m->total)
		die("%s: no line of a type the reference has", path);
}

/* Each line's host, process and parent blocks, found as the shipper is
 * told of them (json__write_event_blocks). */
static void corpus_spans(struct corpus *c)
{
	static const char *const keys[3] = { "\"host_information\":", "\"process_details\":",
					     ",\"parent_process_details\":" };

	c->bl = calloc(c->n + 1, sizeof(*c->bl));
	if (!c->bl)
		die("out of memory for a corpus");
	for (size_t i = 0; i < c->n; i++) {
		const char *line = c->data.data + c->off[i], *end = c->data.data + c->off[i + 1];
		const char *p = line;

		for (int k = 0; k < 3; k++) {
			const char *v = memmem(p, (size_t)(end - p), keys[k], strlen(keys[k])), *e;

			if (!v)
				continue;
			v += strlen(keys[k]);
			e = json_value_end(v, end);
			if (!e)
				die("corpus line %zu: a process block does not end", i);
			c->bl[i].off[c->bl[i].n] = (uint32_t)(v - line);
			c->bl[i].len[c->bl[i].n++] = (uint32_t)(e - v);
			p = e;
		}
	}
}

static uint64_t msg_counter = 1;

/* Line k with a fresh message id; *len its bytes. */
static const char *corpus_line(struct corpus *c, size_t k, size_t *len)
{
	char *line = c->data.data + c->off[k], *d = line + c->idoff[k];
	uint64_t id = msg_counter++;

	for (int i = 11; i >= 0; i--, id >>= 4)
		d[i] = "0123456789abcdef"[id & 15];
	*len = c->off[k + 1] - c->off[k];
	return line;
}

/* Lines [k, k + n) of the corpus are contiguous: no copy needed for the
 * passes that seal fixed chunks. Chunks of at most max_bytes or max_lines. */
static size_t chunk(const struct corpus *c, size_t k, size_t max_bytes, size_t max_lines,
		    const char **p, size_t *len)
{
	size_t e = k;

	while (e < c->n && e - k < max_lines && c->off[e + 1] - c->off[k] <= max_bytes)
		e++;
	*p = c->data.data + c->off[k];
	*len = c->off[e] - c->off[k];
	return e - k;
}

/* ---- results ---- */

enum stage {
	S_SEQ, S_SEAL, S_PUT, S_WRITE, S_FSYNC, S_COMPRESS, S_PARSE, S_OPEN, S_BATCH_SHA,
	S_INSERT, S_MAX
};

struct run {
	uint64_t events, batches, raw, sealed, db_bytes;
	uint64_t written;	/* bytes the process handed to write(2) and pwrite(2) */
	uint64_t syncs, checkpoints, writer_checkpoints;	/* the store's, store_wal.h */
	struct acc total, st[S_MAX];
	bool done;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- environment: a temporary directory with a device, seq file, spool ---- */

struct env {
	char dir[4096], path[4200];
	struct device *dev;
	struct seq_store *seq;
	struct spool *sp;
	struct batcher *b;	/* the shipper's: shared blocks unless -P */
	struct batcher *bp;	/* the peers': plain lines */
	struct blocks_known *kn;	/* the shipper's, every batch acknowledged at once */
	struct buf sealed;
	uint64_t *seqs;
	size_t nseqs, seqs_cap;
	int level;
	/* sealed batches kept for the collector side */
	struct buf capture;
	size_t cap_off[MAX_CAPTURE_BATCHES + 1], ncap;
	uint64_t cap_seq[MAX_CAPTURE_BATCHES];
	uint64_t cap_events, cap_want;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

static void env_path(struct env *e, const char *name)
{
	snprintf(e->path, sizeof(e->path), "%s/%s", e->dir, name);
}

static void env_open(struct env *e, const char *parent, size_t batch_bytes, int level,
		     uint64_t capture_events)
{
	struct spool_config sc = { 0 };
	char err[512];

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s/pipebench.XXXXXX", parent);
	if (!mkdtemp(e->dir))
		die("cannot create a directory in %s: %s", parent, strerror(errno));
	env_path(e, "device.key");
	if (device__create(e->path, "default", &e->dev, err, sizeof(err)))
		die("%s", err);
	env_path(e, "seq");
	if (seq_store__open(e->path, &e->seq, err, sizeof(err)))
		die("%s", err);
	env_path(e, "spool");
	sc.dir = e->path;
	sc.dev = e->dev;
	sc.max_bytes = 8ull << 30;
	if (spool__open(&e->sp, &sc, err, sizeof(err)))
		die("%s", err);
	if (batcher__new(&e->b, batch_bytes, BATCH_MAX_EVENTS, 1000) ||
	    batcher__new(&e->bp, batch_bytes, BATCH_MAX_EVENTS, 1000))
		die("batcher__new(%zu) failed", batch_bytes);
	if (share_blocks && batcher__share_blocks(e->b))
		die("batcher__share_blocks failed");
	if (share_blocks && remote_blocks) {
		if (blocks_known__new(&e->kn, BLOCKS_KNOWN_DEFAULT_ENTRIES,
				      BLOCKS_KNOWN_DEFAULT_BYTES))
			die("out of memory");
		batcher__use_known(e->b, e->kn);
	}
	buf__init(&e->sealed, BATCH_MAX_BATCH_BYTES);
	buf__init(&e->capture, (size_t)1 << 30);
	e->level = level;
	e->cap_want = capture_events;
}

static void env_close(struct env *e)
{
	batcher__free(e->b);
	batcher__free(e->bp);
	blocks_known__free(e->kn);
	spool__close(e->sp);
	seq_store__close(e->seq);
	device__free(e->dev);
	buf__free(&e->sealed);
	buf__free(&e->capture);
	free(e->seqs);
	nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- agent side: the pipeline and its peers ---- */

enum agent_path { A_VIGIL, A_PLAIN, A_ZSTD, A_MAX };
static const char *const agent_path_name[A_MAX] = {
	"vigil: batch+seal+spool", "peer: JSON lines + fsync", "peer: zstd only",
};

struct peer {
	int fd;
	ZSTD_CCtx *cctx;
	void *zdst;
	size_t zcap;
};

static void flush_vigil(struct env *e, struct run *r, bool capture)
{
	struct batch_meta m;
	struct spool_dropped dropped;
	struct stamp s;
	const char *lines;
	size_t len;
	uint32_t count;
	uint64_t seq;
	char err[512];
	int ret;

	lines = batcher__take(e->b, &len, &count);
	if (!lines)
		return;
	s = now();
	if (seq_store__next(e->seq, &seq, err, sizeof(err)))
		die("%s", err);
	lap(&r->st[S_SEQ], &s);
	memset(&m, 0, sizeof(m));
	snprintf(m.device_id, sizeof(m.device_id), "%s", e->dev->device_id);
	snprintf(m.org_id, sizeof(m.org_id), "%s", e->dev->org_id);
	m.key_id = e->dev->cur.key_id;
	m.seq = seq;
	m.created_ns = clock_ns(CLOCK_REALTIME);
	m.flags = batcher__flags(e->b);
	buf__reset(&e->sealed);
	if (batch_seal(&m, lines, len, e->dev->cur.key, e->level, &e->sealed, err, sizeof(err)))
		die("%s", err);
	lap(&r->st[S_SEAL], &s);
	ret = spool__put(e->sp, seq, count, e->sealed.data, e->sealed.len, &dropped);
	if (ret)
		die("spool__put: %s", strerror(-ret));
	if (dropped.batches)
		die("the spool dropped %" PRIu64 " batches", dropped.batches);
	/* the shipper's staging after the put, and its confirmation on the ACK */
	if (e->kn) {
		if (blocks_known__stage(e->kn, seq, lines, len))
			die("out of memory");
		blocks_known__confirm(e->kn, seq);
	}
	lap(&r->st[S_PUT], &s);
	r->events += count;
	r->batches++;
	r->raw += len;
	r->sealed += e->sealed.len;
	if (e->nseqs == e->seqs_cap) {
		e->seqs_cap = e->seqs_cap ? e->seqs_cap * 2 : 1024;
		e->seqs = realloc(e->seqs, e->seqs_cap * sizeof(*e->seqs));
		if (!e->seqs)
			die("out of memory");
	}
	e->seqs[e->nseqs++] = seq;
	if (capture && e->cap_events < e->cap_want && e->ncap < MAX_CAPTURE_BATCHES) {
		if (buf__add(&e->capture, e->sealed.data, e->sealed.len))
			die("out of memory keeping batches for the collector");
		e->cap_seq[e->ncap] = seq;
		e->cap_off[++e->ncap] = e->capture.len;
		e->cap_events += count;
	}
}

static void flush_plain(struct env *e, struct peer *p, struct run *r)
{
	struct stamp s;
	const char *lines;
	size_t len, done = 0;
	uint32_t count;

	lines = batcher__take(e->bp, &len, &count);
	if (!lines)
		return;
	s = now();
	while (done < len) {
		ssize_t n = write(p->fd, lines + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write: %s", strerror(errno));
		done += (size_t)n;
	}
	lap(&r->st[S_WRITE], &s);
	if (fsync(p->fd))
		die("fsync: %s", strerror(errno));
	lap(&r->st[S_FSYNC], &s);
	r->events += count;
	r->batches++;
	r->raw += len;
	r->sealed += len;
}

static void flush_zstd(struct env *e, struct peer *p, struct run *r)
{
	struct stamp s;
	const char *lines;
	size_t len, clen;
	uint32_t count;

	lines = batcher__take(e->bp, &len, &count);
	if (!lines)
		return;
	s = now();
	clen = ZSTD_compressCCtx(p->cctx, p->zdst, p->zcap, lines, len, e->level);
	if (ZSTD_isError(clen))
		die("zstd: %s", ZSTD_getErrorName(clen));
	lap(&r->st[S_COMPRESS], &s);
	r->events += count;
	r->batches++;
	r->raw += len;
	r->sealed += clen;
}

static void agent_round(struct env *e, struct corpus *c, enum agent_path path, uint64_t n,
			struct run *r, bool capture)
{
	struct peer p = { .fd = -1 };
	struct stamp t0;
	char err[512];

	memset(r, 0, sizeof(*r));
	if (path == A_PLAIN) {
		env_path(e, "events.jsonl");
		p.fd = open(e->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (p.fd < 0)
			die("%s: %s", e->path, strerror(errno));
	} else if (path == A_ZSTD) {
		p.cctx = ZSTD_createCCtx();
		p.zcap = ZSTD_compressBound(BATCH_MAX_RAW_BYTES);
		p.zdst = malloc(p.zcap);
		if (!p.cctx || !p.zdst)
			die("out of memory for zstd");
	}
	t0 = now();
	for (uint64_t i = 0; i < n; i++) {
		size_t len, k = (size_t)(i % c->n);
		const char *line = corpus_line(c, k, &len);
		struct batcher *b = path == A_VIGIL ? e->b : e->bp;
		int ret = batcher__add_blocks(b, line, len, &c->bl[k], 0, err, sizeof(err));

		if (ret < 0)
			die("batcher__add: %s", err);
		if (ret == 1 || i + 1 == n) {
			do {
				if (path == A_VIGIL)
					flush_vigil(e, r, capture);
				else if (path == A_PLAIN)
					flush_plain(e, &p, r);
				else
					flush_zstd(e, &p, r);
			} while (i + 1 == n && batcher__count(b));
		}
	}
	lap(&r->total, &t0);
	r->done = true;
	/* what the shipper does after the collector's ACK; not the agent side's cost */
	for (size_t k = 0; k < e->nseqs; k++)
		spool__ack(e->sp, e->seqs[k]);
	e->nseqs = 0;
	if (p.fd >= 0) {
		close(p.fd);
		unlink(e->path);
	}
	ZSTD_freeCCtx(p.cctx);
	free(p.zdst);
}

/* ---- collector side ---- */

enum coll_path { C_VIGIL, C_SQLITE, C_MAX };
static const char *const coll_path_name[C_MAX] = {
	"vigil: parse+verify+open+insert", "peer: bare SQLite insert",
};

static void sqlite_ok(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		die("sqlite %s: %s", what, sqlite3_errmsg(db));
}

/* Removes the database and its WAL and shm files; returns the size of the
 * first two. */
static uint64_t rm_db(const char *path)
{
	char p[4300];
	struct stat st;
	uint64_t size = 0;

	if (stat(path, &st) == 0)
		size += (uint64_t)st.st_size;
	snprintf(p, sizeof(p), "%s-wal", path);
	if (stat(p, &st) == 0)
		size += (uint64_t)st.st_size;
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return size;
}

/* block_cache_load_fn over the captured batches: the peer's remote blocks. */
static int capture_load(void *ctx, const char *device_id, uint64_t seq, char **body, size_t *len)
{
	static const struct batch_limits lim = { BATCH_MAX_BATCH_BYTES, BATCH_MAX_RAW_BYTES,
						 BATCH_MAX_EVENTS };
	struct env *e = ctx;

	(void)device_id;
	for (size_t i = 0; i < e->ncap; i++) {
		const uint8_t *p = (const uint8_t *)e->capture.data + e->cap_off[i];
		struct batch_meta m;
		enum batch_error why;
		size_t got;

		if (e->cap_seq[i] != seq)
			continue;
		if (batch_parse(p, e->cap_off[i + 1] - e->cap_off[i], &lim, &m, &why, NULL, 0) ||
		    !(*body = malloc(m.raw_len)))
			return -EIO;
		got = ZSTD_decompress(*body, m.raw_len, p + BATCH_HEADER_LEN, m.body_len);
		if (ZSTD_isError(got) || got != m.raw_len) {
			free(*body);
			return -EIO;
		}
		*len = got;
		return 0;
	}
	return -ENOENT;
}

/* Bytes this process has passed to write calls (/proc/self/io wchar): what
 * a collector round writes to its WAL and, at checkpoints, to the database;
 * 0 if unreadable. */
static uint64_t wchar_now(void)
{
	char line[128];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/io", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "wchar: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

#define PB_REFS 65536u

static void coll_round(struct env *e, enum coll_path path, int round, struct run *r)
{
	static const struct batch_limits lim = { BATCH_MAX_BATCH_BYTES, BATCH_MAX_RAW_BYTES,
						 BATCH_MAX_EVENTS };
	static uint64_t refs[PB_REFS];
	struct block_cache *cap_blocks = NULL;
	struct blocks_resolver rr;
	uint32_t nrefs;
	struct store *st = NULL;
	struct store_config cfg = { 0 };
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	struct buf lines;
	struct stamp t0, s;
	uint64_t w0, p0, ticket = 0;
	char err[512], name[64];

	memset(r, 0, sizeof(*r));
	buf__init(&lines, BATCH_MAX_RAW_BYTES);
	if (block_cache__new(&cap_blocks, 256u << 20, capture_load, e))
		die("out of memory");
	snprintf(name, sizeof(name), "coll-%d-%d.db", round, (int)path);
	env_path(e, name);
	if (path == C_VIGIL) {
		cfg.path = e->path;
		if (store__open(&st, &cfg, err, sizeof(err)))
			die("%s", err);
	} else {
		sqlite_ok(NULL, sqlite3_open(e->path, &db), "open");
		sqlite_ok(db, sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
					   "PRAGMA synchronous = FULL;"
					   "CREATE TABLE raw (id INTEGER PRIMARY KEY,"
					   " line TEXT NOT NULL)",
					   NULL, NULL, NULL), "schema");
		sqlite_ok(db, sqlite3_prepare_v2(db, "INSERT INTO raw (line) VALUES (?1)", -1, &ins,
						 NULL), "prepare");
	}
	w0 = wchar_now();
	p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now();
	for (size_t k = 0; k < e->ncap; k++) {
		const uint8_t *p = (const uint8_t *)e->capture.data + e->cap_off[k];
		size_t n = e->cap_off[k + 1] - e->cap_off[k];
		struct batch_meta m;
		struct store_result res;
		enum batch_error why;
		uint8_t sha[32];

		s = now();
		buf__reset(&lines);
		if (path == C_SQLITE) {
			struct blocks_resolver cr;

			/* the peer starts from plain lines: decoding is not its cost */
			block_cache__resolver(cap_blocks, e->dev->device_id, 0, &cr, NULL, 0);
			if (batch_parse(p, n, &lim, &m, &why, err, sizeof(err)) ||
			    batch_open_resolve(p, n, &m, &lim, &cr, &lines, &why, err, sizeof(err)))
				die("%s", err);
			s = now();
			sqlite_ok(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
			for (const char *l = lines.data, *end = lines.data + lines.len; l < end;) {
				const char *nl = memchr(l, '\n', (size_t)(end - l));

				sqlite3_bind_text(ins, 1, l, (int)(nl - l), SQLITE_STATIC);
				sqlite_ok(db, sqlite3_step(ins), "insert");
				sqlite3_reset(ins);
				l = nl + 1;
			}
			sqlite_ok(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
			lap(&r->st[S_INSERT], &s);
			r->events += m.event_count;
			r->batches++;
			r->raw += lines.len;
			r->sealed += n;
			continue;
		}
		if (batch_parse(p, n, &lim, &m, &why, err, sizeof(err)))
			die("%s", err);
		if (batch_verify_hmac(p, n, e->dev->cur.key))
			die("batch %" PRIu64 ": bad HMAC", m.seq);
		lap(&r->st[S_PARSE], &s);
		/* As the collector does: remote blocks from the store, the
		 * batches they are in kept as long as this one. */
		store__resolver(st, m.device_id, m.seq, &rr, refs, PB_REFS);
		if (batch_open_resolve(p, n, &m, &lim, &rr, &lines, &why, err, sizeof(err)))
			die("%s", err);
		if (rr.unresolved)
			die("batch %" PRIu64 ": %" PRIu64 " remote blocks not found", m.seq,
			    rr.unresolved);
		nrefs = blocks_resolver_seen_list(&rr);
		lap(&r->st[S_OPEN], &s);
		if (!EVP_Digest(p, n, sha, NULL, EVP_sha256(), NULL))
			die("sha256 failed");
		lap(&r->st[S_BATCH_SHA], &s);
		/* As the collector does: the body as sent is stored once. */
		if (store__insert_batch_refs(st, &m, sha, lines.data, lines.len,
					     p + BATCH_HEADER_LEN, m.body_len, refs, nrefs, &res, err,
					     sizeof(err)))
			die("%s", err);
		lap(&r->st[S_INSERT], &s);
		if (res.status != STORE_STORED || res.events_stored != m.event_count)
			die("batch %" PRIu64 ": %s, %u of %u events stored (%u duplicate, "
			    "%u malformed)",
			    m.seq, store_status_name(res.status), res.events_stored, m.event_count,
			    res.events_duplicate, res.events_malformed);
		ticket = res.ticket;
		r->events += m.event_count;
		r->batches++;
		r->raw += lines.len;
		r->sealed += n;
	}
	/* As the collector's ACKs do: the last batch is on disk. */
	if (path == C_VIGIL && store__wait_durable(st, ticket, -1))
		die("the store's WAL sync failed");
	lap(&r->total, &t0);
	/* The store's own threads (WAL sync, checkpoints) count too. */
	r->total.cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - p0;
	r->written = wchar_now() - w0;
	if (path == C_VIGIL) {
		struct store_wal_stats ws;

		store__wal_stats(st, &ws, &r->writer_checkpoints);
		r->syncs = ws.syncs;
		r->checkpoints = ws.checkpoints;
	}
	r->done = true;
	if (path == C_VIGIL)
		store__close(st);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	r->db_bytes = rm_db(e->path);
	buf__free(&lines);
	block_cache__free(cap_blocks);
}

/* ---- sealing passes: wire size, levels, the seal's split ---- */

/* Bytes on the wire for one sealed batch: a BATCH frame in TLS 1.3 records. */
static double wire_bytes(size_t sealed)
{
	size_t f = sealed + FRAME_HDR;

	return (double)f + (double)((f + TLS_RECORD - 1) / TLS_RECORD) * TLS_OVERHEAD;
}

struct seal_stats {
	uint64_t events, batches, raw, cpu;
	double wire;	/* bytes */
};

static const uint8_t bench_key[32] = "pipebench-key-pipebench-key-pipe";

/* Corpus lines [k, k + got) (at p, len bytes) as the shipper's batcher
 * hands them to batch_seal: with shared blocks, encoded with a table of
 * their own, into tmp; *flags the batch flags for the seal. */
static const char *batch_body(const struct corpus *c, size_t k, size_t got, const char *p,
			      size_t *len, struct blocks_enc *enc, struct buf *tmp, uint32_t *flags)
{
	*flags = 0;
	if (!share_blocks)
		return p;
	blocks_enc__reset(enc);
	buf__reset(tmp);
	for (size_t i = k; i < k + got; i++)
		if (blocks_enc__add(enc, tmp, c->data.data + c->off[i], c->off[i + 1] - c->off[i],
				    &c->bl[i]))
			die("blocks_enc__add failed");
	*flags = BATCH_FLAG_BLOCKS;
	*len = tmp->len;
	return tmp->data;
}

/* Seals the corpus in chunks (at most max_bytes / max_lines), at most
 * max_events events; seal CPU time and wire bytes. */
static void seal_pass_as(const struct corpus *c, size_t max_bytes, size_t max_lines,
			 uint64_t max_events, int level, bool warm, struct seal_stats *ss);

static void seal_pass(const struct corpus *c, size_t max_bytes, size_t max_lines,
		      uint64_t max_events, int level, struct seal_stats *ss)
{
	seal_pass_as(c, max_bytes, max_lines, max_events, level, false, ss);
}

/* warm: every block of the corpus is stored at the collector before the
 * first batch (batch 1, not sealed here), as a long-running agent finds
 * a process's block stored with its Process Created or its first event. */
static void seal_pass_as(const struct corpus *c, size_t max_bytes, size_t max_lines,
			 uint64_t max_events, int level, bool warm, struct seal_stats *ss)
{
	struct blocks_known *kn = NULL;
	struct blocks_enc *enc;
	struct buf out, tmp;
	char err[512];
	uint64_t seq = 1;

	memset(ss, 0, sizeof(*ss));
	buf__init(&out, BATCH_MAX_BATCH_BYTES);
	buf__init(&tmp, BATCH_MAX_RAW_BYTES);
	if (blocks_enc__new(&enc))
		die("out of memory");
	/* As the shipper with ship.remote_blocks_max_bytes at its default,
	 * each batch acknowledged before the next is sealed (an ACK a few
	 * batches late changes only the first few). */
	if (share_blocks && remote_blocks) {
		if (blocks_known__new(&kn, BLOCKS_KNOWN_DEFAULT_ENTRIES, BLOCKS_KNOWN_DEFAULT_BYTES))
			die("out of memory");
		blocks_enc__use_known(enc, kn);
	}
	if (kn && warm) {
		uint32_t defs = 0;

		buf__reset(&tmp);
		for (size_t i = 0; i <= c->n; i++) {
			/* batches of definitions, as the agent would have sent them */
			if (i == c->n || defs + BLOCKS_MAX_SPANS > BLOCKS_MAX_PER_BATCH ||
			    tmp.len + 65536 > tmp.cap) {
				if (blocks_known__stage(kn, seq, tmp.data, tmp.len))
					die("out of memory");
				blocks_known__confirm(kn, seq++);
				buf__reset(&tmp);
				defs = 0;
			}
			for (unsigned j = 0; i < c->n && j < c->bl[i].n; j++, defs++)
				if (buf__add(&tmp, "@", 1) ||
				    buf__add(&tmp, c->data.data + c->off[i] + c->bl[i].off[j],
					     c->bl[i].len[j]) ||
				    buf__add(&tmp, "\n", 1))
					die("out of memory");
		}
	}
	for (size_t k = 0; k < c->n && ss->events < max_events;) {
		struct batch_meta m = { .device_id = "3d1219c7c4c5404aaa1f6d2a48adfda4",
					.org_id = "default", .key_id = 1, .seq = seq++,
					.created_ns = 1 };
		const char *p;
		size_t len, got = chunk(c, k, max_bytes, max_lines, &p, &len);
		uint64_t t;

		if (!got)
			die("a line over %zu bytes", max_bytes);
		/* the corpus's tail is a batch that is not full: not what is measured */
		if (k + got == c->n && ss->batches)
			break;
		buf__reset(&out);
		ss->raw += len;
		t = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		p = batch_body(c, k, got, p, &len, enc, &tmp, &m.flags);
		if (batch_seal(&m, p, len, bench_key, level, &out, err, sizeof(err)))
			die("%s", err);
		ss->cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t;
		ss->events += got;
		ss->batches++;
		ss->wire += wire_bytes(out.len);
		k += got;
		if (kn) {
			if (blocks_known__stage(kn, m.seq, p, len))
				die("out of memory");
			blocks_known__confirm(kn, m.seq);
		}
	}
	buf__free(&out);
	buf__free(&tmp);
	blocks_enc__free(enc);
	blocks_known__free(kn);
}

/* zstd alone on the same chunks: CPU ns per event. */
static double zstd_pass(const struct corpus *c, size_t max_bytes, uint64_t max_events, int level)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(max_bytes);
	void *dst = malloc(cap);
	uint64_t events = 0, cpu = 0;

	if (!z || !dst)
		die("out of memory for zstd");
	for (size_t k = 0; k < c->n && events < max_events;) {
		const char *p;
		size_t len, got = chunk(c, k, max_bytes, SIZE_MAX, &p, &len), clen;
		uint64_t t = clock_ns(CLOCK_THREAD_CPUTIME_ID);

		if (k + got == c->n && events)
			break;
		clen = ZSTD_compressCCtx(z, dst, cap, p, len, level);
		cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t;
		if (ZSTD_isError(clen))
			die("zstd: %s", ZSTD_getErrorName(clen));
		events += got;
		k += got;
	}
	ZSTD_freeCCtx(z);
	free(dst);
	return per_ev(cpu, events);
}

struct split {
	uint64_t events, raw, body;
	uint64_t seal, compress, sha_lines, hmac, encrypt, sha_body, xxh;
};

/* The seal's and the spool's parts on their own, on the same chunks: what
 * batch_seal and spool__put spend inside, which their interfaces do not say. */
static void split_pass(const struct corpus *c, size_t max_bytes, int level, uint64_t max_events,
		       struct split *sp)
{
	struct buf out;
	ZSTD_CCtx *z = ZSTD_createCCtx(), *zx = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(max_bytes) + BATCH_HEADER_LEN;
	uint8_t *dst = malloc(cap), *ct = malloc(cap + 16), md[32], nonce[12] = { 0 };
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	struct blocks_enc *enc;
	struct buf tmp;

	memset(sp, 0, sizeof(*sp));
	if (!z || !zx || !dst || !ct || !aes || blocks_enc__new(&enc))
		die("out of memory for the split pass");
	buf__init(&tmp, BATCH_MAX_RAW_BYTES);
	ZSTD_CCtx_setParameter(zx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(zx, ZSTD_c_checksumFlag, 1);
	buf__init(&out, BATCH_MAX_BATCH_BYTES);
	for (size_t k = 0; k < c->n && sp->events < max_events;) {
		struct batch_meta m = { .device_id = "3d1219c7c4c5404aaa1f6d2a48adfda4",
					.org_id = "default", .key_id = 1, .seq = 1,
					.created_ns = 1 };
		const char *p;
		size_t len, got = chunk(c, k, max_bytes, SIZE_MAX, &p, &len), clen, maclen;
		uint64_t t0, t1;
		EVP_CIPHER_CTX *ctx;
		char err[512];
		int outl;

		if (k + got == c->n && sp->events)
			break;
		buf__reset(&out);
		sp->raw += len;
		/* what the batcher hands over; encoding is the batcher's cost */
		p = batch_body(c, k, got, p, &len, enc, &tmp, &m.flags);
		t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		if (batch_seal(&m, p, len, bench_key, level, &out, err, sizeof(err)))
			die("%s", err);
		t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		sp->seal += t1 - t0;
		t0 = t1;
		clen = ZSTD_compressCCtx(z, dst + BATCH_HEADER_LEN, cap - BATCH_HEADER_LEN, p, len,
					 level);
		if (ZSTD_isError(clen))
			die("zstd: %s", ZSTD_getErrorName(clen));
		t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		sp->compress += t1 - t0;
		EVP_Digest(p, len, md, NULL, EVP_sha256(), NULL);
		t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		sp->sha_lines += t0 - t1;
		memset(dst, 0, BATCH_HEADER_LEN);
		EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, bench_key, 32, dst,
			  BATCH_HEADER_LEN + clen, md, 32, &maclen);
		t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		sp->hmac += t1 - t0;
		/* as spool.c: a context per record, header as AAD, then the tag */
		ctx = EVP_CIPHER_CTX_new();
		if (!ctx || EVP_EncryptInit_ex2(ctx, aes, bench_key, nonce, NULL) != 1 ||
		    EVP_EncryptUpdate(ctx, NULL, &outl, dst, 40) != 1 ||
		    EVP_EncryptUpdate(ctx, ct, &outl, dst, (int)(BATCH_HEADER_LEN + clen + 32)) !=
			    1 ||
		    EVP_EncryptFinal_ex(ctx, ct + outl, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, md) != 1)
			die("AES-GCM failed");
		EVP_CIPHER_CTX_free(ctx);
		t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		sp->encrypt += t0 - t1;
		/* the candidate: the events hash over the compressed body instead */
		EVP_Digest(dst + BATCH_HEADER_LEN, clen, md, NULL, EVP_sha256(), NULL);
		t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		sp->sha_body += t1 - t0;
		/* and zstd's own XXH64 content checksum, verified by the decompressor */
		clen = ZSTD_compress2(zx, ct, cap, p, len);
		if (ZSTD_isError(clen))
			die("zstd: %s", ZSTD_getErrorName(clen));
		sp->xxh += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t1;
		sp->events += got;
		sp->body += clen;
		k += got;
	}
	sp->xxh = sp->xxh > sp->compress ? sp->xxh - sp->compress : 0;
	buf__free(&out);
	buf__free(&tmp);
	blocks_enc__free(enc);
	EVP_CIPHER_free(aes);
	ZSTD_freeCCtx(z);
	ZSTD_freeCCtx(zx);
	free(dst);
	free(ct);
}

/* ---- report ---- */

static const char *verdict(bool ok)
{
	return ok ? "PASS" : "FAIL";
}

/* Median over the rounds of events per CPU second and per wall second, and
 * of ns per event of each stage. */
struct summary {
	int runs;
	double ev_cpu, ev_wall, ns_cpu, ns_wall, ratio_raw;
	double st_cpu[S_MAX], st_wall[S_MAX];
	double ev_per_batch, db_per_ev, raw_per_ev, written_per_ev;
};

static void summarise(struct run *runs, int n, int stride, struct summary *s)
{
	double a[MAX_ROUNDS], b[MAX_ROUNDS], c[MAX_ROUNDS], d[MAX_ROUNDS], x[MAX_ROUNDS],
		bb[MAX_ROUNDS], db[MAX_ROUNDS], rb[MAX_ROUNDS], wr[MAX_ROUNDS];
	int k = 0;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < n; i++) {
		const struct run *r = &runs[i * stride];

		if (!r->done || !r->events)
			continue;
		a[k] = (double)r->events * 1e9 / (double)r->total.cpu;
		b[k] = (double)r->events * 1e9 / (double)r->total.wall;
		c[k] = per_ev(r->total.cpu, r->events);
		d[k] = per_ev(r->total.wall, r->events);
		x[k] = r->sealed ? (double)r->raw / (double)r->sealed : 0;
		bb[k] = (double)r->events / (double)r->batches;
		db[k] = (double)r->db_bytes / (double)r->events;
		rb[k] = (double)r->raw / (double)r->events;
		wr[k] = (double)r->written / (double)r->events;
		k++;
	}
	s->runs = k;
	for (int st = 0; st < S_MAX; st++) {
		double u[MAX_ROUNDS], v[MAX_ROUNDS];
		int m = 0;

		for (int i = 0; i < n; i++) {
			const struct run *r = &runs[i * stride];

			if (!r->done || !r->events)
				continue;
			u[m] = per_ev(r->st[st].cpu, r->events);
			v[m] = per_ev(r->st[st].wall, r->events);
			m++;
		}
		s->st_cpu[st] = median(u, m);
		s->st_wall[st] = median(v, m);
	}
	s->ev_cpu = median(a, k);
	s->ev_wall = median(b, k);
	s->ns_cpu = median(c, k);
	s->ns_wall = median(d, k);
	s->ratio_raw = median(x, k);
	s->ev_per_batch = median(bb, k);
	s->db_per_ev = median(db, k);
	s->raw_per_ev = median(rb, k);
	s->written_per_ev = median(wr, k);
}

/* Median over rounds of (path a's events/s) / (path b's), same round. */
static double paired(struct run *ra, struct run *rb, int n, int stride, bool cpu)
{
	double v[MAX_ROUNDS];
	int k = 0;

	for (int i = 0; i < n; i++) {
		const struct run *a = &ra[i * stride], *b = &rb[i * stride];

		if (!a->done || !b->done || !a->events || !b->events)
			continue;
		v[k++] = cpu ? ((double)a->events / (double)a->total.cpu) /
				       ((double)b->events / (double)b->total.cpu)
			     : ((double)a->events / (double)a->total.wall) /
				       ((double)b->events / (double)b->total.wall);
	}
	return median(v, k);
}

/* ---- main ---- */

struct opts {
	const char *dir, *mix, *dump, *input;
	uint64_t events, coll_events;
	int rounds, level;
	size_t batch_bytes;
	bool sweep;
};

static uint64_t num_arg(const char *s, uint64_t lo, uint64_t hi, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die("%s must be %" PRIu64 "..%" PRIu64 ", not '%s'", what, lo, hi, s);
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: pipebench [-d DIR] [-n EVENTS] [-c EVENTS] [-r ROUNDS] [-l LEVEL] "
		"[-b BATCH_BYTES] [-m reference|host|TYPE] [-i FILE] [-s] [-P] [-R] [-o FILE]\n");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int opt;

	while ((opt = getopt(argc, argv, "d:n:c:r:l:b:m:so:i:PR")) != -1) {
		switch (opt) {
		case 'd': o->dir = optarg; break;
		case 'n': o->events = num_arg(optarg, 1000, 100000000, "-n"); break;
		case 'c': o->coll_events = num_arg(optarg, 1000, 10000000, "-c"); break;
		case 'r': o->rounds = (int)num_arg(optarg, 1, MAX_ROUNDS, "-r"); break;
		case 'l':
			o->level = atoi(optarg);
			if (o->level < ZSTD_minCLevel() || o->level > ZSTD_maxCLevel() ||
			    o->level == 0)
				die("-l must be a zstd level other than 0");
			break;
		case 'b':
			o->batch_bytes = num_arg(optarg, 65536, BATCH_MAX_RAW_BYTES, "-b");
			break;
		case 'm': o->mix = optarg; break;
		case 's': o->sweep = true; break;
		case 'P': share_blocks = false; break;
		case 'R': remote_blocks = false; break;
		case 'o': o->dump = optarg; break;
		case 'i': o->input = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
}

/* A note under a table: "  " then the text, wrapped at 100 columns. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	char text[2048];
	const char *p = text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	while (*p) {
		size_t n = strlen(p), cut = n;

		if (n > 96) {
			for (cut = 96; cut > 0 && p[cut] != ' '; cut--)
				;
			if (!cut)
				cut = 96;
		}
		printf("%s%.*s\n", p == text ? "  " : "    ", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void print_stage(const char *name, double cpu, double wall, double total_cpu)
{
	printf("  %-46s %9.0f %9.0f %7.1f%%\n", name, cpu, wall,
	       total_cpu > 0 ? cpu * 100 / total_cpu : 0);
}

static void rule(int n)
{
	while (n-- > 0)
		putchar('-');
	putchar('\n');
}

static void report_agent(const struct opts *o, const struct corpus *c, struct run agent[][A_MAX],
			 const struct split *sp)
{
	struct summary as[A_MAX];
	const struct summary *v = &as[A_VIGIL];
	double json = (double)c->data.len / (double)c->n;
	double seal = per_ev(sp->seal, sp->events), enc = per_ev(sp->encrypt, sp->events);
	/* the events hash is over the body as sent (batch.c) */
	double parts[3] = { per_ev(sp->compress, sp->events), per_ev(sp->sha_body, sp->events),
			    per_ev(sp->hmac, sp->events) };
	double batcher_cpu, batcher_wall;

	for (int p = 0; p < A_MAX; p++)
		summarise(&agent[0][p], o->rounds, A_MAX, &as[p]);
	printf("\nAgent side, one thread: batcher__add -> seq_store__next -> batch_seal -> "
	       "spool__put, in %s\n", o->dir);
	printf("%-26s %5s %13s %13s %9s %10s %6s %6s %8s %7s %6s\n", "path", "runs",
	       "events/s/core", "events/s wall", "ns/ev cpu", "ns/ev wall", "x cpu", "x wall",
	       "ev/batch", "raw/out", "MB/s");
	rule(120);
	for (int p = 0; p < A_MAX; p++)
		printf("%-26s %2d/%-2d %13.0f %13.0f %9.0f %10.0f %6.2f %6.2f %8.0f %7.1f %6.0f\n",
		       agent_path_name[p], as[p].runs, o->rounds, as[p].ev_cpu, as[p].ev_wall,
		       as[p].ns_cpu, as[p].ns_wall,
		       paired(&agent[0][A_VIGIL], &agent[0][p], o->rounds, A_MAX, true),
		       paired(&agent[0][A_VIGIL], &agent[0][p], o->rounds, A_MAX, false),
		       as[p].ev_per_batch, as[p].ratio_raw, as[p].ev_cpu * json / 1e6);
	note("x cpu, x wall: vigil's events/s over that path's, median of the per-round ratios "
	     "(below 1: vigil is slower). raw/out: JSON bytes per byte written or sealed. MB/s: "
	     "JSON per CPU second. The peers get the same lines in the same batches: the log "
	     "shipper write()s each batch and fsyncs the file; zstd compresses it at level %d.",
	     o->level);

	batcher_cpu = v->ns_cpu - v->st_cpu[S_SEQ] - v->st_cpu[S_SEAL] - v->st_cpu[S_PUT];
	batcher_wall = v->ns_wall - v->st_wall[S_SEQ] - v->st_wall[S_SEAL] - v->st_wall[S_PUT];
	printf("\nWhere vigil's agent side spends its time, ns per event (median round)\n");
	printf("  %-46s %9s %9s %8s\n", "stage", "cpu", "wall", "of cpu");
	print_stage(share_blocks ? "batcher__add/take (shared blocks, copies, id)" :
		    "batcher__add/take (line copies, id rewrite)", batcher_cpu, batcher_wall,
		    v->ns_cpu);
	print_stage("seq_store__next (slot write, fdatasync)", v->st_cpu[S_SEQ],
		    v->st_wall[S_SEQ], v->ns_cpu);
	print_stage("batch_seal", v->st_cpu[S_SEAL], v->st_wall[S_SEAL], v->ns_cpu);
	print_stage("  compress (zstd)", parts[0] * v->st_cpu[S_SEAL] / seal, 0, v->ns_cpu);
	print_stage("  sha256 of the body (the events hash)", parts[1] * v->st_cpu[S_SEAL] / seal,
		    0, v->ns_cpu);
	print_stage("  hmac-sha256 of header + body", parts[2] * v->st_cpu[S_SEAL] / seal, 0,
		    v->ns_cpu);
	print_stage("  other (line count, copies)",
		    (seal - parts[0] - parts[1] - parts[2]) * v->st_cpu[S_SEAL] / seal, 0,
		    v->ns_cpu);
	print_stage("spool__put", v->st_cpu[S_PUT], v->st_wall[S_PUT], v->ns_cpu);
	print_stage("  encrypt (AES-256-GCM)", enc, 0, v->ns_cpu);
	print_stage("  write, fsync, rename, fsync dir", v->st_cpu[S_PUT] - enc,
		    v->st_wall[S_PUT] - enc, v->ns_cpu);
	print_stage("total", v->ns_cpu, v->ns_wall, v->ns_cpu);
	note("batch_seal's parts: its time in the run split in the proportions measured on the "
	     "same batches apart (batch_seal %.0f ns/event there, beside zstd %.0f, sha256 %.0f, "
	     "hmac %.0f on their own); AES-GCM measured apart as spool.c does it. The three syncs "
	     "per batch (the seq file's slot, the spool record and its dir) cost %.0f us of wall time per "
	     "batch of %.0f events.", seal, parts[0], parts[1], parts[2],
	     (v->st_wall[S_SEQ] + v->st_wall[S_PUT] - enc) * v->ev_per_batch / 1e3,
	     v->ev_per_batch);
	note("Events hash, ns/event: sha256 over the compressed body (what batch_seal does) %.0f; "
	     "over the uncompressed lines it was %.0f; zstd's own XXH64 content checksum, checked "
	     "by the decompressor, %.0f.",
	     parts[1], per_ev(sp->sha_lines, sp->events), per_ev(sp->xxh, sp->events));
}

static void report_collector(const struct opts *o, const struct env *e, struct run coll[][C_MAX],
			     struct summary *cs)
{
	const struct summary *v = &cs[C_VIGIL];

	for (int p = 0; p < C_MAX; p++)
		summarise(&coll[0][p], o->rounds, C_MAX, &cs[p]);
	printf("\nCollector side, as the collector's thread runs it: batch_parse + "
	       "batch_verify_hmac -> batch_open\n-> sha256 of the batch -> store__insert_batch_refs "
	       "(SQLite WAL; each commit synced by the store's\nthread, the next batch stored "
	       "meanwhile; timed until the last one is on disk); %" PRIu64 " events\nin %zu "
	       "batches sealed by the agent side, a fresh database per round. CPU: the whole "
	       "process\n(the store's threads too)\n", e->cap_events, e->ncap);
	printf("%-32s %5s %13s %13s %9s %10s %6s %6s %8s %9s %6s\n", "path", "runs",
	       "events/s/core", "events/s wall", "ns/ev cpu", "ns/ev wall", "x cpu", "x wall",
	       "db B/ev", "written/ev", "MB/s");
	rule(127);
	for (int p = 0; p < C_MAX; p++)
		printf("%-32s %2d/%-2d %13.0f %13.0f %9.0f %10.0f %6.2f %6.2f %8.0f %9.0f %6.1f\n",
		       coll_path_name[p], cs[p].runs, o->rounds, cs[p].ev_cpu, cs[p].ev_wall,
		       cs[p].ns_cpu, cs[p].ns_wall,
		       paired(&coll[0][C_VIGIL], &coll[0][p], o->rounds, C_MAX, true),
		       paired(&coll[0][C_VIGIL], &coll[0][p], o->rounds, C_MAX, false),
		       cs[p].db_per_ev, cs[p].written_per_ev, cs[p].ev_wall * cs[p].raw_per_ev / 1e6);
	printf("  %-46s %9s %9s %8s\n", "stage, ns per event", "cpu", "wall", "of cpu");
	print_stage("batch_parse + batch_verify_hmac", v->st_cpu[S_PARSE], v->st_wall[S_PARSE],
		    v->ns_cpu);
	print_stage("batch_open (sha256 of the body, decompress, lines)", v->st_cpu[S_OPEN],
		    v->st_wall[S_OPEN], v->ns_cpu);
	print_stage("sha256 of the sealed batch (duplicate check)", v->st_cpu[S_BATCH_SHA],
		    v->st_wall[S_BATCH_SHA], v->ns_cpu);
	print_stage("store__insert_batch_body", v->st_cpu[S_INSERT], v->st_wall[S_INSERT], v->ns_cpu);
	print_stage("peer: INSERT of each line + COMMIT", cs[C_SQLITE].st_cpu[S_INSERT],
		    cs[C_SQLITE].st_wall[S_INSERT], cs[C_SQLITE].ns_cpu);
	for (int i = 0; i < o->rounds; i++) {
		const struct run *r = &coll[i][C_VIGIL];

		if (!r->done)
			continue;
		printf("  round %d: %" PRIu64 " batches, %" PRIu64 " WAL syncs on the store's thread, "
		       "%" PRIu64 " checkpoints on its other thread, %" PRIu64 " by the writer\n",
		       i + 1, r->batches, r->syncs, r->checkpoints, r->writer_checkpoints);
	}
	note("The peer inserts the plain lines into one table (id INTEGER PRIMARY KEY, line TEXT), "
	     "one transaction per batch, WAL, synchronous=FULL. db B/ev: database + WAL bytes per "
	     "event at the end of the round; written/ev: bytes handed to write calls (WAL frames, "
	     "checkpoints) per event. MB/s: JSON stored per wall second.");
}

/* Wire bytes per event of each type and of the mixes; returns the throughput
 * mix's. */
static double report_wire(const struct opts *o, const struct gen *g, struct corpus *c,
			  const struct mix *mix, double *ref_avg, bool *types_ok)
{
	struct gen *tg = malloc(sizeof(*tg));
	struct seal_stats ss;
	bool all_ok = true, all_cold_ok = true, warm_on = share_blocks && remote_blocks;
	double wire;

	if (!tg)
		die("out of memory");
	printf("\nWire bytes per event: the sealed batch in a BATCH frame (+%u B) in TLS 1.3 "
	       "records (+%u B per 16 KiB),\nbatches of up to %zu bytes, zstd level %d, one "
	       "type per batch; cold: no block stored before (the\nfirst batch defines every "
	       "process block, the next ones refer to it), the worst case; warm: the\nprocesses' "
	       "blocks stored before (with their Process Created or first event), the steady "
	       "state;\na Process Created brings its own process's block, so it is never warm%s\n", FRAME_HDR, TLS_OVERHEAD, o->batch_bytes, o->level,
	       warm_on ? "" : " (-P/-R: none, so warm is cold)");
	printf("%-11s %-32s %-16s %6s %6s %7s %7s %5s %7s %8s %5s\n", "type", "vigil events",
	       "reference type", "ref B", "target", "JSON B", "cold B", "", "warm B", "wire/ref",
	       "");
	rule(120);
	for (int t = 0; t < T_MAX; t++) {
		struct mix tm;
		struct corpus tc;
		double cold, w, target = types[t].ref_avg / 5.0;

		mix_by_name(types[t].name, &tm);
		*tg = *g;
		corpus_build(&tc, tg, &tm, 200, 4 * o->batch_bytes);
		seal_pass(&tc, o->batch_bytes, SIZE_MAX, UINT64_MAX, o->level, &ss);
		cold = ss.wire / (double)ss.events;
		/* A Process Created brings its process's block: never warm. */
		seal_pass_as(&tc, o->batch_bytes, SIZE_MAX, UINT64_MAX, o->level,
			     warm_on && t != T_PSTART, &ss);
		w = ss.wire / (double)ss.events;
		all_ok &= w <= target;
		all_cold_ok &= cold <= target;
		printf("%-11s %-32s %-16s %6u %6.0f %7.0f %7.1f %5s %7.1f %8.3f %5s\n",
		       types[t].name, types[t].vigil, types[t].ref_name, types[t].ref_avg, target,
		       (double)ss.raw / (double)ss.events, cold, verdict(cold <= target), w,
		       w / types[t].ref_avg, verdict(w <= target));
		corpus_free(&tc);
	}
	*ref_avg = mix_ref_avg(mix);
	seal_pass(c, o->batch_bytes, SIZE_MAX, UINT64_MAX, o->level, &ss);
	wire = ss.wire / (double)ss.events;
	printf("%-11.11s %-32s %-16s %6.0f %6.0f %7.0f %7.1f %8.3f %5s\n", mix->name,
	       "the throughput runs' lines", "same types", *ref_avg, *ref_avg / 5,
	       (double)ss.raw / (double)ss.events, wire, wire / *ref_avg,
	       verdict(wire <= *ref_avg / 5));
	if (strcmp(mix->name, "host")) {
		struct mix hm;
		struct corpus hc;
		double hw, hr;

		*tg = *g;
		mix_by_name("host", &hm);
		corpus_build(&hc, tg, &hm, 200, 2 * o->batch_bytes);
		seal_pass(&hc, o->batch_bytes, SIZE_MAX, UINT64_MAX, o->level, &ss);
		hw = ss.wire / (double)ss.events;
		hr = mix_ref_avg(&hm);
		printf("%-11s %-32s %-16s %6.0f %6.0f %7.0f %7.1f %8.3f %5s\n", "host",
		       "the agent's mix on a busy VM", "same types", hr, hr / 5,
		       (double)ss.raw / (double)ss.events, hw, hw / hr, verdict(hw <= hr / 5));
		corpus_free(&hc);
	}
	free(tg);
	*types_ok = all_ok;
	note("Reference: the size table in /work/shared/seeds (Deepfactor: file 1816 B, network "
	     "2590 B, heartbeat 484 B, ...); the mixes' reference is its average over the same "
	     "types, weighted alike. API and Host Environment events have no Vigil counterpart and "
	     "are left out; Vigil sends no heartbeat (its SYSTEM_ACTIVITY events stand in). Every "
	     "type within target: warm %s, cold %s. Every Vigil event carries its process and "
	     "parent blocks (DESIGN); a batch sends each block once (ship/blocks.h), and a block "
	     "the collector already stored as a reference to it (blocks_known.h). Cold, a type "
	     "whose own details are small pays mostly for its processes' blocks: a stream of "
	     "nothing but exits defines every exiting process, whose Process Created a real "
	     "stream sent before.", all_ok ? "yes" : "no", all_cold_ok ? "yes" : "no");
	printf("  %s mix in batches that are not full (a quiet host, where the 1 s interval cuts "
	       "first):\n   ", mix->name);
	for (size_t fill = 1; fill <= 1000; fill *= 10) {
		seal_pass(c, o->batch_bytes, fill, 4000, o->level, &ss);
		printf(" %zu/batch: %.0f B,", fill, ss.wire / (double)ss.events);
	}
	printf(" target %.0f B\n", *ref_avg / 5);
	return wire;
}

static void report_levels(const struct opts *o, struct corpus *c, const struct mix *mix)
{
	static const int levels[] = { 1, -1, 2, 3, 6 };
	int nl = o->sweep ? 5 : 4;
	double ev[5][MAX_ROUNDS], ns[5][MAX_ROUNDS], zns[5][MAX_ROUNDS], x[5][MAX_ROUNDS];
	double wire[5], raw[5];
	struct seal_stats ss;

	printf("\nzstd levels (%s mix, full batches), batch_seal on one thread, CPU time; "
	       "x level 1: events/s over\nlevel 1's in the same round; medians of %d rounds, "
	       "levels interleaved\n", mix->name, o->rounds);
	printf("  %-6s %13s %13s %13s %8s %8s %10s\n", "level", "seal ev/s", "seal ns/ev",
	       "zstd ns/ev", "wire B", "raw/out", "x level 1");
	for (int r = 0; r < o->rounds; r++) {
		for (int i = 0; i < nl; i++) {
			zns[i][r] = zstd_pass(c, o->batch_bytes, 100000, levels[i]);
			seal_pass(c, o->batch_bytes, SIZE_MAX, 100000, levels[i], &ss);
			ev[i][r] = (double)ss.events * 1e9 / (double)ss.cpu;
			ns[i][r] = per_ev(ss.cpu, ss.events);
			x[i][r] = ev[i][r] / ev[0][r];
			wire[i] = ss.wire / (double)ss.events;
			raw[i] = (double)ss.raw / ss.wire;
		}
	}
	for (int i = 0; i < nl; i++)
		printf("  %-6d %13.0f %13.0f %13.0f %8.1f %8.1f %10.2f\n", levels[i],
		       median(ev[i], o->rounds), median(ns[i], o->rounds),
		       median(zns[i], o->rounds), wire[i], raw[i], median(x[i], o->rounds));
	if (!o->sweep)
		return;
	printf("\nbatch size (%s mix, level %d): batch_seal alone\n", mix->name, o->level);
	for (size_t bb = 1u << 20; bb <= 16u << 20; bb *= 4) {
		seal_pass(c, bb, SIZE_MAX, UINT64_MAX, o->level, &ss);
		if (ss.batches < 2) {
			printf("  %5zu KiB: the corpus holds less than two batches\n", bb >> 10);
			continue;
		}
		printf("  %5zu KiB: %8.0f events/s/core, %6.0f ns/event, %6.1f wire B/event, "
		       "%.0f events/batch\n", bb >> 10, (double)ss.events * 1e9 / (double)ss.cpu,
		       per_ev(ss.cpu, ss.events), ss.wire / (double)ss.events,
		       (double)ss.events / (double)ss.batches);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .dir = "/var/tmp", .mix = "reference", .events = 200000,
			  .coll_events = 60000, .rounds = 3, .level = 1,
			  .batch_bytes = 4u << 20 };
	static struct gen g;
	static struct run agent[MAX_ROUNDS][A_MAX], coll[MAX_ROUNDS][C_MAX];
	struct summary as, cs[C_MAX];
	uint64_t t_start = clock_ns(CLOCK_MONOTONIC);
	double ref_avg, wire, x_plain, x_zstd, x_sqlite;
	bool types_ok = false;
	struct corpus c;
	struct split sp;
	struct run scratch;
	struct mix mix;
	struct env e;
	char la[64] = "?";
	FILE *f;

	parse_opts(argc, argv, &o);
	gen_init(&g);
	if (o.input) {
		corpus_load(&c, o.input, &mix);
	} else {
		if (!mix_by_name(o.mix, &mix))
			die("unknown mix '%s'", o.mix);
		corpus_build(&c, &g, &mix, CORPUS_EVENTS, 0);
	}
	if (o.dump) {
		f = fopen(o.dump, "w");
		if (!f || fwrite(c.data.data, 1, c.data.len, f) != c.data.len || fclose(f))
			die("cannot write %s", o.dump);
		return 0;
	}
	env_open(&e, o.dir, o.batch_bytes, o.level, o.coll_events);
	printf("Pipeline throughput (issue 4): %s agent events, %s mix, %zu distinct lines cycled "
	       "(%.0f B of JSON each),\nzstd level %d, batches of up to %zu bytes, %d rounds with "
	       "the paths interleaved\n", o.input ? "recorded" : "synthetic", mix.name, c.n,
	       (double)c.data.len / (double)c.n, o.level, o.batch_bytes, o.rounds);

	/* The collector's input: batches sealed by the same pipeline, untimed. */
	agent_round(&e, &c, A_VIGIL, o.coll_events, &scratch, true);
	for (int r = 0; r < o.rounds; r++) {
		for (int k = 0; k < A_MAX; k++) {
			enum agent_path p = (enum agent_path)((r + k) % A_MAX);
			const struct run *a = &agent[r][p];

			agent_round(&e, &c, p, o.events, &agent[r][p], false);
			fprintf(stderr, "pipebench: round %d %-26s %8.0f events/s/core %8.0f "
				"wall\n",
				r + 1, agent_path_name[p],
				(double)a->events * 1e9 / (double)a->total.cpu,
				(double)a->events * 1e9 / (double)a->total.wall);
		}
		for (int k = 0; k < C_MAX; k++) {
			enum coll_path p = (enum coll_path)((r + k) % C_MAX);
			const struct run *a = &coll[r][p];

			coll_round(&e, p, r, &coll[r][p]);
			fprintf(stderr, "pipebench: round %d %-32s %8.0f events/s/core %8.0f "
				"wall\n",
				r + 1, coll_path_name[p],
				(double)a->events * 1e9 / (double)a->total.cpu,
				(double)a->events * 1e9 / (double)a->total.wall);
		}
	}
	split_pass(&c, o.batch_bytes, o.level, 200000, &sp);
	report_agent(&o, &c, agent, &sp);
	report_collector(&o, &e, coll, cs);
	wire = report_wire(&o, &g, &c, &mix, &ref_avg, &types_ok);
	report_levels(&o, &c, &mix);

	summarise(&agent[0][A_VIGIL], o.rounds, A_MAX, &as);
	x_plain = paired(&agent[0][A_VIGIL], &agent[0][A_PLAIN], o.rounds, A_MAX, true);
	x_zstd = paired(&agent[0][A_VIGIL], &agent[0][A_ZSTD], o.rounds, A_MAX, true);
	x_sqlite = paired(&coll[0][C_VIGIL], &coll[0][C_SQLITE], o.rounds, C_MAX, false);
	printf("\nTargets (issue 4):\n");
	printf("  agent side >= 500000 events/s/core: %7.0f (wall %.0f; x%.2f of JSON+fsync, "
	       "x%.2f of zstd)   %s\n", as.ev_cpu, as.ev_wall, x_plain, x_zstd,
	       verdict(as.ev_cpu >= 500000));
	printf("  collector >= 100000 events/s insert: %7.0f (cpu %.0f; x%.2f of a bare SQLite "
	       "insert)   %s\n", cs[C_VIGIL].ev_wall, cs[C_VIGIL].ev_cpu, x_sqlite,
	       verdict(cs[C_VIGIL].ev_wall >= 100000));
	printf("  wire <= 1/5 of the reference (%s): %.1f B/event, target %.0f/5 = %.0f   %s\n",
	       mix.name, wire, ref_avg, ref_avg / 5, verdict(wire <= ref_avg / 5));
	printf("  wire <= 1/5 of the reference, each type, steady state (warm): %s   %s\n",
	       types_ok ? "all within" : "not all within", verdict(types_ok));
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(la, sizeof(la), f))
			snprintf(la, sizeof(la), "?");
		fclose(f);
	}
	printf("  pipebench ran %.1f s; load average at the end %.14s\n",
	       (double)(clock_ns(CLOCK_MONOTONIC) - t_start) / 1e9, la);
	env_close(&e);
	corpus_free(&c);
	batch_thread_free();
	return 0;
}
