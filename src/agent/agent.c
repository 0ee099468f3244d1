/* The agent daemon: config, sinks, source selection, the one epoll loop
 * (source fd, drain timer, signals), SIGHUP reload and graceful shutdown. */
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
#include "sources/source.h"

#define MAX_SINKS 4

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
	return 0;
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

	ret = output_ctx__init(&a.octx, a.cfg.device_id, a.cfg.org_id, a.cfg.user_data, err,
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
	pipeline__drain(a.pl);
	if (rc == 0)
		system_event(&a, SYS_SERVICE_SHUTDOWN, "agent stopped on signal; all queued "
						       "events written");
out_pl:
	pipeline__free(a.pl);
out_sinks:
	close_sinks(&a);
	output_ctx__free(&a.octx);
out_cfg:
	if (a.epfd >= 0)
		close(a.epfd);
	if (a.tfd >= 0)
		close(a.tfd);
	if (a.sfd >= 0)
		close(a.sfd);
	config__free(&a.cfg);
	return rc;
}
