/* The agent daemon: config, sinks, source selection, the one epoll loop
 * (source fd, drain timer, signals), SIGHUP reload and graceful shutdown;
 * with ship.enabled, the shipper to the collector and its loss reports. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/pipeline.h"
#include "agent/privdrop.h"
#include "lib/config.h"
#include "lib/log.h"
#include "output/host.h"
#include "output/sink.h"
#include "ship/device.h"
#include "ship/shipper.h"
#include "sources/source.h"

#define MAX_SINKS 4
/* On shutdown, how long the shipper may go on delivering what is spooled. */
#define SHIP_STOP_TIMEOUT_MS 2000

struct agent {
	struct vigil_config cfg;
	const char *config_path;
	struct output_ctx octx;
	struct sink sink_store[MAX_SINKS];
	struct sink *sinks[MAX_SINKS];
	unsigned nsinks;
	struct pipeline *pl;
	struct source src;
	bool src_open;
	int epfd, tfd, sfd;
	struct device *dev;		/* ship.enabled: this host's identity */
	struct shipper *ship;
	struct shipper_stats ship_seen;	/* counters already reported */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vigil agent [--config FILE] [--source auto|ebpf|proc] [--print-config]\n"
		"                   [--log-level error|warn|info|debug]\n"
		"  --config FILE    YAML config (default: built-in defaults)\n"
		"  --source S       override agent.source\n"
		"  --print-config   print the effective config and exit\n");
}

static void system_event(struct agent *a, enum event_type type, const char *msg)
{
	struct event ev = { .type = type, .message = msg };

	pipeline__system(a->pl, &ev);
	pipeline__flush(a->pl);
}

static int open_sinks(struct agent *a, char *err, size_t errlen)
{
	int ret;

	if (a->cfg.out_stdout) {
		ret = sink_stdout__open(&a->sink_store[a->nsinks], err, errlen);
		if (ret)
			return ret;
		a->sinks[a->nsinks] = &a->sink_store[a->nsinks];
		a->nsinks++;
	}
	if (a->cfg.log_folder && a->cfg.log_folder[0]) {
		ret = sink_file__open(&a->sink_store[a->nsinks], a->cfg.log_folder,
				      a->cfg.log_threshold_bytes, a->cfg.log_max_files, err, errlen);
		if (ret)
			return ret;
		a->sinks[a->nsinks] = &a->sink_store[a->nsinks];
		a->nsinks++;
	}
	if (a->ship) {
		ret = sink_ship__open(&a->sink_store[a->nsinks], a->ship, err, errlen);
		if (ret)
			return ret;
		a->sinks[a->nsinks] = &a->sink_store[a->nsinks];
		a->nsinks++;
	}
	return 0;
}

/* ship.enabled: the identity every event header carries (so what the
 * collector stores agrees with the batches' signer) and the shipper, opened
 * now so a bad setting stops the start; its threads start later. */
static int open_ship(struct agent *a)
{
	const struct vigil_config *c = &a->cfg;
	struct shipper_config sc = {
		.collector = c->ship_collector,
		.server_name = c->ship_server_name,
		.ca_file = c->ship_ca_file,
		.pin_sha256 = c->ship_pin_sha256,
		.seq_file = c->ship_seq_file,
		.spool_dir = c->ship_spool_dir,
		.spool_max_bytes = c->ship_spool_max_bytes,
		.batch_interval_ms = c->ship_batch_interval_ms,
		.batch_max_bytes = c->ship_batch_max_bytes,
		.zstd_level = (int)c->ship_zstd_level,
		.remote_blocks_max_bytes = c->ship_remote_blocks_max_bytes,
	};
	char err[1024];
	int ret;

	ret = device__load(c->ship_device_file, &a->dev, err, sizeof(err));
	if (ret == -ENOENT) {
		log_warnx("ship.enabled but there is no device identity at %s: run "
			  "\"vigil enroll%s%s\" first", c->ship_device_file,
			  a->config_path ? " --config " : "", a->config_path ? a->config_path : "");
		return ret;
	}
	if (ret) {
		log_warnx("ship: %s", err);
		return ret;
	}
	if (c->device_id && c->device_id[0] && strcmp(c->device_id, a->dev->device_id))
		log_info("ship: events carry the enrolled device id %s, not agent.device_id %s",
			 a->dev->device_id, c->device_id);
	sc.dev = a->dev;
	ret = shipper__new(&a->ship, &sc, err, sizeof(err));
	if (ret)
		log_warnx("%s", err);
	return ret;
}

static void ship_count(struct agent *a, const char *reason, uint64_t now, uint64_t seen)
{
	if (now > seen)
		pipeline__count_drop(a->pl, reason, now - seen);
}

/* Every loss counter of the shipper becomes drop counts (reported as Events
 * Dropped at the stats interval), and a change of the collector session a
 * Collector Connected / Disconnected message, in the order they happened. */
static void ship_tick(struct agent *a)
{
	struct shipper_stats st, *o = &a->ship_seen;
	uint64_t up, down;
	char msg[SHIPPER_ERROR_MAX + 160];

	if (!a->ship)
		return;
	shipper__stats(a->ship, &st);
	ship_count(a, "ship_ingress_full", st.ingress_dropped, o->ingress_dropped);
	ship_count(a, "ship_event_too_large", st.too_big, o->too_big);
	ship_count(a, "ship_seal_failed", st.seal_failed_events, o->seal_failed_events);
	ship_count(a, "spool_full", st.spool_dropped_events, o->spool_dropped_events);
	ship_count(a, "spool_corrupt", st.spool_corrupt_events, o->spool_corrupt_events);
	for (unsigned i = 0; i < SHIPPER_REASONS; i++)
		ship_count(a, shipper_reject_reason(i), st.rejected_events_by_reason[i],
			   o->rejected_events_by_reason[i]);
	up = st.connects - o->connects;
	down = st.disconnects - o->disconnects;
	/* Sessions alternate, so the current state says which came last. */
	for (int turn = 0; turn < 2; turn++) {
		bool report_up = (turn == 0) != st.connected;

		if (report_up && up) {
			struct event ev = { .type = SYS_COLLECTOR_CONNECTED };

			snprintf(msg, sizeof(msg), "connected to the collector %s over TLS 1.3",
				 a->cfg.ship_collector);
			ev.message = msg;
			event__kv_str(&ev, "collector", a->cfg.ship_collector);
			event__kv_str(&ev, "server_name", a->cfg.ship_server_name);
			pipeline__system(a->pl, &ev);
		} else if (!report_up && down) {
			struct event ev = { .type = SYS_COLLECTOR_DISCONNECTED };

			snprintf(msg, sizeof(msg), "connection to the collector %s lost: %s; "
				 "batches wait in the spool, reconnecting with backoff",
				 a->cfg.ship_collector, st.last_error);
			ev.message = msg;
			event__kv_str(&ev, "collector", a->cfg.ship_collector);
			event__kv_str(&ev, "reason", st.last_error);
			pipeline__system(a->pl, &ev);
		}
	}
	*o = st;
}

/* Stops the shipper after the last line: what it still held is sealed into
 * the spool. Losses in that last seal can no longer be reported as events
 * (nothing follows Service Gracefully Shutdown), so they are logged. */
static void stop_ship(struct agent *a)
{
	struct shipper_stats st, *o = &a->ship_seen;
	static const char fmt[] = "Events Dropped at shutdown: %llu events lost (%s), "
				  "not reported in an event";

	if (!a->ship)
		return;
	if (shipper__stop(a->ship, SHIP_STOP_TIMEOUT_MS) == -ETIMEDOUT)
		log_info("ship: stopped with batches in flight; they stay in the spool %s and "
			 "are sent again at the next start", a->cfg.ship_spool_dir);
	shipper__stats(a->ship, &st);
	if (st.spool_dropped_events > o->spool_dropped_events)
		log_warnx(fmt, (unsigned long long)(st.spool_dropped_events -
						    o->spool_dropped_events), "spool_full");
	if (st.seal_failed_events > o->seal_failed_events)
		log_warnx(fmt, (unsigned long long)(st.seal_failed_events -
						    o->seal_failed_events), "ship_seal_failed");
	log_info("ship: %llu events sent and acknowledged this run, %llu batches (%llu events) "
		 "waiting in the spool; %llu process blocks referred to in batches the collector "
		 "stored rather than sent again", (unsigned long long)st.acked_events,
		 (unsigned long long)st.spool_pending_batches,
		 (unsigned long long)st.spool_pending_events,
		 (unsigned long long)st.remote_blocks);
	*o = st;
}

static void close_sinks(struct agent *a)
{
	for (unsigned i = 0; i < a->nsinks; i++) {
		if (a->sinks[i]->ops->flush)
			a->sinks[i]->ops->flush(a->sinks[i]);
		a->sinks[i]->ops->close(a->sinks[i]);
	}
	a->nsinks = 0;
}

/* Opens the configured source; with "auto", eBPF first and the process
 * connector when eBPF cannot load — said loudly, never silently. */
static int open_source(struct agent *a)
{
	char err[512], msg[768];
	int ret;

	if (a->cfg.source != SOURCE_PROC) {
		a->src.ops = &source_ebpf_ops;
		ret = a->src.ops->open(&a->src, &a->cfg, a->pl, err, sizeof(err));
		if (ret == 0) {
			struct event ev = { .type = SYS_SOURCE_SELECTED };

			snprintf(msg, sizeof(msg), "process events from eBPF (BTF tracepoints "
						   "sched_process_exec/fork/exit, ring buffer)");
			ev.message = msg;
			event__kv_str(&ev, "source", "ebpf");
			event__kv_str(&ev, "reason", a->cfg.source == SOURCE_EBPF ? "configured"
										 : "best available");
			pipeline__system(a->pl, &ev);
			return 0;
		}
		if (a->cfg.source == SOURCE_EBPF) {
			snprintf(msg, sizeof(msg), "eBPF source failed: %s", err);
			system_event(a, SYS_SERVICE_INIT_FAILED, msg);
			return ret;
		}
		struct event ev = { .type = SYS_FEATURE_DEGRADED };

		snprintf(msg, sizeof(msg),
			 "eBPF source unavailable (%s); falling back to the process connector: "
			 "no exec-time argv/cwd for processes that exit at once, no in-kernel "
			 "filtering, no file, network, DNS, identity, library or memory events",
			 err);
		ev.message = msg;
		event__kv_str(&ev, "feature", "ebpf");
		event__kv_str(&ev, "reason", err);
		pipeline__system(a->pl, &ev);
	}
	a->src.ops = &source_proc_connector_ops;
	ret = a->src.ops->open(&a->src, &a->cfg, a->pl, err, sizeof(err));
	if (ret) {
		snprintf(msg, sizeof(msg), "process connector source failed: %s", err);
		system_event(a, SYS_SERVICE_INIT_FAILED, msg);
		return ret;
	}
	struct event ev = { .type = SYS_SOURCE_SELECTED };

	snprintf(msg, sizeof(msg), "process events from the netlink process connector and /proc");
	ev.message = msg;
	event__kv_str(&ev, "source", "proc_connector");
	event__kv_str(&ev, "reason", a->cfg.source == SOURCE_PROC ? "configured" : "fallback");
	pipeline__system(a->pl, &ev);
	if (a->cfg.source == SOURCE_PROC &&
	    (a->cfg.ev_file || a->cfg.ev_identity || a->cfg.ev_memory || a->cfg.ev_library ||
	     a->cfg.ev_network || a->cfg.ev_dns)) {
		/* Chosen, not fallen back to: still say what the config asked for
		 * and this source cannot deliver. */
		struct event d = { .type = SYS_FEATURE_DEGRADED };

		d.message = "the process connector source reports process and thread events "
			    "only: file, network, DNS, identity, library and memory events "
			    "need the eBPF source";
		event__kv_str(&d, "feature", "syscall_events");
		event__kv_str(&d, "reason", "source proc configured");
		pipeline__system(a->pl, &d);
	}
	return 0;
}

static int setup_loop(struct agent *a)
{
	struct itimerspec its = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	a->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->sfd < 0 || a->tfd < 0 || a->epfd < 0)
		return -errno;
	its.it_interval.tv_sec = a->cfg.poll_interval_ms / 1000;
	its.it_interval.tv_nsec = (long)(a->cfg.poll_interval_ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	if (timerfd_settime(a->tfd, 0, &its, NULL))
		return -errno;
	ev.data.fd = a->sfd;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sfd, &ev))
		return -errno;
	ev.data.fd = a->tfd;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->tfd, &ev))
		return -errno;
	return 0;
}

static bool str_changed(const char *x, const char *y)
{
	return strcmp(x ? x : "", y ? y : "") != 0;
}

static bool ship_changed(const struct vigil_config *x, const struct vigil_config *y)
{
	return x->ship_enabled != y->ship_enabled ||
	       str_changed(x->ship_collector, y->ship_collector) ||
	       str_changed(x->ship_server_name, y->ship_server_name) ||
	       str_changed(x->ship_ca_file, y->ship_ca_file) ||
	       str_changed(x->ship_pin_sha256, y->ship_pin_sha256) ||
	       str_changed(x->ship_device_file, y->ship_device_file) ||
	       str_changed(x->ship_seq_file, y->ship_seq_file) ||
	       str_changed(x->ship_spool_dir, y->ship_spool_dir) ||
	       x->ship_spool_max_bytes != y->ship_spool_max_bytes ||
	       x->ship_batch_interval_ms != y->ship_batch_interval_ms ||
	       x->ship_batch_max_bytes != y->ship_batch_max_bytes ||
	       x->ship_zstd_level != y->ship_zstd_level ||
	       x->ship_remote_blocks_max_bytes != y->ship_remote_blocks_max_bytes;
}

static void swap_str(char **x, char **y)
{
	char *t = *x;

	*x = *y;
	*y = t;
}

/* next takes the running ship settings (the shipper keeps the ones it
 * started with), and running gets next's strings to free. */
static void keep_ship(struct vigil_config *next, struct vigil_config *running)
{
	next->ship_enabled = running->ship_enabled;
	swap_str(&next->ship_collector, &running->ship_collector);
	swap_str(&next->ship_server_name, &running->ship_server_name);
	swap_str(&next->ship_ca_file, &running->ship_ca_file);
	swap_str(&next->ship_pin_sha256, &running->ship_pin_sha256);
	swap_str(&next->ship_device_file, &running->ship_device_file);
	swap_str(&next->ship_seq_file, &running->ship_seq_file);
	swap_str(&next->ship_spool_dir, &running->ship_spool_dir);
	next->ship_spool_max_bytes = running->ship_spool_max_bytes;
	next->ship_batch_interval_ms = running->ship_batch_interval_ms;
	next->ship_batch_max_bytes = running->ship_batch_max_bytes;
	next->ship_zstd_level = running->ship_zstd_level;
	next->ship_remote_blocks_max_bytes = running->ship_remote_blocks_max_bytes;
}

static void reload(struct agent *a)
{
	struct vigil_config next;
	char err[512];
	int ret;

	ret = config__defaults(&next);
	if (!ret && a->config_path)
		ret = config__load(&next, a->config_path, err, sizeof(err));
	if (ret) {
		log_warnx("reload refused, keeping the running config: %s",
			  a->config_path ? err : "out of memory");
		config__free(&next);
		return;
	}
	/* Output, source and table sizes need a restart; everything the
	 * pipeline and the kernel filters read applies now. */
	if (a->src.ops->reconfigure && (ret = a->src.ops->reconfigure(&a->src, &next))) {
		log_warnx("reload: kernel filters not updated: %s", strerror(-ret));
		config__free(&next);
		return;
	}
	next.max_processes = a->cfg.max_processes;
	if (ship_changed(&a->cfg, &next)) {
		log_warnx("reload: the ship settings changed; they apply at the next restart "
			  "(the running shipper keeps the ones it started with)");
		keep_ship(&next, &a->cfg);
	}
	pipeline__set_config(a->pl, &next);
	config__free(&a->cfg);
	a->cfg = next;
	pipeline__set_config(a->pl, &a->cfg);
	log_set_level((enum log_level)a->cfg.log_level);
	system_event(a, SYS_CONFIG_RELOADED, "configuration reloaded on SIGHUP");
}

static int run_loop(struct agent *a)
{
	struct epoll_event evs[8];
	int srcfd = a->src.ops->fd(&a->src);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = srcfd };

	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, srcfd, &ev))
		return -errno;
	for (;;) {
		int n = epoll_wait(a->epfd, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == srcfd) {
				int r = a->src.ops->dispatch(&a->src);

				if (r < 0) {
					log_warnx("source %s failed: %s", a->src.ops->name,
						  strerror(-r));
					return r;
				}
			} else if (fd == a->tfd) {
				uint64_t exp;

				if (read(a->tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
					return -errno;
				if (a->src.ops->tick)
					a->src.ops->tick(&a->src);
				ship_tick(a);
				pipeline__tick(a->pl);
			} else if (fd == a->sfd) {
				struct signalfd_siginfo si;

				while (read(a->sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						reload(a);
					else
						return 0;
				}
			}
		}
		pipeline__flush(a->pl);
	}
}

int agent_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "source", required_argument, NULL, 's' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent a = { .epfd = -1, .tfd = -1, .sfd = -1 };
	const char *source_opt = NULL, *level_opt = NULL;
	bool print = false;
	char err[512];
	int c, ret, rc = 1;

	while ((c = getopt_long(argc, argv, "c:s:pl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a.config_path = optarg; break;
		case 's': source_opt = optarg; break;
		case 'p': print = true; break;
		case 'l': level_opt = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config__defaults(&a.cfg)) {
		fprintf(stderr, "vigil: out of memory\n");
		return 1;
	}
	if (a.config_path && config__load(&a.cfg, a.config_path, err, sizeof(err))) {
		fprintf(stderr, "vigil: %s\n", err);
		config__free(&a.cfg);
		return 2;
	}
	if (source_opt) {
		if (strcmp(source_opt, "auto") == 0)
			a.cfg.source = SOURCE_AUTO;
		else if (strcmp(source_opt, "ebpf") == 0)
			a.cfg.source = SOURCE_EBPF;
		else if (strcmp(source_opt, "proc") == 0)
			a.cfg.source = SOURCE_PROC;
		else {
			fprintf(stderr, "vigil: --source: expected auto, ebpf or proc, got \"%s\"\n",
				source_opt);
			config__free(&a.cfg);
			return 2;
		}
	}
	if (level_opt) {
		int l = log_level_parse(level_opt);

		if (l < 0) {
			fprintf(stderr, "vigil: --log-level: expected error, warn, info or debug\n");
			config__free(&a.cfg);
			return 2;
		}
		a.cfg.log_level = l;
	}
	if (print) {
		config__print(&a.cfg, stdout);
		config__free(&a.cfg);
		return 0;
	}
	log_init("vigil", (enum log_level)a.cfg.log_level);

	if (a.cfg.ship_enabled && open_ship(&a))
		goto out_cfg;
	ret = output_ctx__init(&a.octx, a.dev ? a.dev->device_id : a.cfg.device_id,
			       a.dev ? a.dev->org_id : a.cfg.org_id, a.cfg.user_data, err,
			       sizeof(err));
	if (ret) {
		log_warnx("host identity: %s", err);
		goto out_cfg;
	}
	ret = open_sinks(&a, err, sizeof(err));
	if (ret) {
		log_warnx("output: %s", err);
		goto out_sinks;
	}
	a.pl = pipeline__new(&a.cfg, &a.octx, a.sinks, a.nsinks, err, sizeof(err));
	if (!a.pl) {
		log_warnx("pipeline: %s", err);
		goto out_sinks;
	}
	system_event(&a, SYS_SERVICE_INIT_STARTED, "agent starting");
	if (open_source(&a))
		goto out_pl;
	a.src_open = true;
	/* The kernel-facing setup is done: BPF programs are attached and their
	 * maps and ring buffer are open fds. Keep only what reading /proc needs. */
	if (privdrop__apply(err, sizeof(err))) {
		struct event ev = { .type = SYS_FEATURE_DEGRADED };
		char msg[768];

		snprintf(msg, sizeof(msg), "privileges not reduced, running with full root: %s", err);
		ev.message = msg;
		event__kv_str(&ev, "feature", "privilege_drop");
		pipeline__system(a.pl, &ev);
	} else {
		log_info("privileges reduced to CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, "
			 "CAP_DAC_OVERRIDE; no_new_privs set");
	}
	if (pipeline__start_workers(a.pl, err, sizeof(err))) {
		char msg[768];

		snprintf(msg, sizeof(msg), "hash worker: %s", err);
		system_event(&a, SYS_SERVICE_INIT_FAILED, msg);
		goto out_src;
	}
	/* After the drop, as for the hasher: threads keep the credentials they
	 * start with. The spool and seq files stay writable: uid 0 owns them. */
	if (a.ship && shipper__start(a.ship, err, sizeof(err))) {
		system_event(&a, SYS_SERVICE_INIT_FAILED, err);
		goto out_src;
	}
	/* Seed after the source is attached: nothing that starts during the
	 * scan is missed, and the queued records are newer than the scan. */
	pipeline__seed(a.pl, "/proc");
	ret = setup_loop(&a);
	if (ret) {
		snprintf(err, sizeof(err), "event loop setup failed: %s", strerror(-ret));
		system_event(&a, SYS_SERVICE_INIT_FAILED, err);
		goto out_src;
	}
	system_event(&a, SYS_SERVICE_INIT_SUCCESSFUL, "agent running");
	ret = run_loop(&a);
	rc = ret ? 1 : 0;
out_src:
	/* close() detaches and drains what the kernel already queued. */
	a.src.ops->close(&a.src);
	ship_tick(&a);
	pipeline__drain(a.pl);
	if (rc == 0)
		system_event(&a, SYS_SERVICE_SHUTDOWN, "agent stopped on signal; all queued "
						       "events written");
	stop_ship(&a);
out_pl:
	pipeline__free(a.pl);
out_sinks:
	close_sinks(&a);
	output_ctx__free(&a.octx);
out_cfg:
	shipper__free(a.ship);
	device__free(a.dev);
	if (a.epfd >= 0)
		close(a.epfd);
	if (a.tfd >= 0)
		close(a.tfd);
	if (a.sfd >= 0)
		close(a.sfd);
	config__free(&a.cfg);
	return rc;
}
