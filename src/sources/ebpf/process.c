/* Loader and ring-buffer reader of process.bpf.c: the eBPF source. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/pipeline.h"
#include "lib/log.h"
#include "sources/ebpf/process.h"
#include "sources/source.h"

#include "sources/ebpf/file.h"
#include "sources/ebpf/file_rec.h"
#include "sources/ebpf/identity.h"
#include "sources/ebpf/identity_rec.h"
#include "sources/ebpf/memory.h"
#include "sources/ebpf/memory_rec.h"
#include "sources/ebpf/net.h"
#include "sources/ebpf/net_rec.h"

#include "process.skel.h"
#include "syscalls.skel.h"

struct ebpf_source {
	struct process_bpf *skel;
	struct syscalls_bpf *sys;	/* syscall families; NULL when unavailable */
	struct bpf_link *sys_link;
	struct bpf_link *tcp_link;	/* TCP state changes */
	struct bpf_link *tcp_nested_link;	/* the ones that interrupt tcp_link's program */
	struct ring_buffer *rb;
	struct pipeline *pl;
	int ncpus;
	uint64_t reported[VG_CNT_MAX];
	uint64_t bad_records;
	unsigned budget;	/* records left in this dispatch */
	uint64_t recursion_reported;
	unsigned ticks;
};

/* Records handled per dispatch: under a sustained flood the ring never runs
 * empty, and the event loop must still get to signals and timers. The ring's
 * epoll fd is level-triggered, so the loop comes straight back for the rest. */
#define DISPATCH_BUDGET 4096
#define BUDGET_SPENT (-ECANCELED)

/* libbpf prints its reasons; keep the last warning so open() can say why. */
static char libbpf_last_error[256];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	snprintf(libbpf_last_error, sizeof(libbpf_last_error), "%s", line);
	log_debug("libbpf: %s", line);
	return 0;
}

static uint32_t kernel_types(const struct vigil_config *cfg)
{
	uint32_t t = 0;

	/* fork and exit records keep the process table right even when their
	 * events are off, so they follow the process toggle together. */
	if (cfg->ev_process)
		t |= VG_TYPE_EXEC | VG_TYPE_FORK | VG_TYPE_EXIT;
	if (cfg->ev_thread)
		t |= VG_TYPE_THREAD;
	if (cfg->ev_file)
		t |= VG_TYPE_FILE;
	/* identity records also keep the table's credentials right */
	t |= VG_TYPE_IDENTITY;
	if (cfg->ev_memory || cfg->ev_library)
		t |= VG_TYPE_MEMORY;
	if (cfg->ev_network)
		t |= VG_TYPE_NET;
	if (cfg->ev_network && cfg->ev_tcp_state_changes)
		t |= VG_TYPE_TCP_STATE;
	if (cfg->ev_dns)
		t |= VG_TYPE_DNS;
	return t;
}

/* How many kernel entries the literal exclusions.paths patterns make. */
static uint32_t count_path_exclusions(const struct vigil_config *cfg)
{
	struct vg_path_key keys[2];
	uint32_t n = 0;

	for (unsigned i = 0; i < cfg->exclude_paths.count && n < 2 * VG_EXCL_PATTERNS; i++)
		n += (uint32_t)file_rec__exclusion_keys(cfg->exclude_paths.items[i], keys);
	return n;
}

/* Replaces the kernel's path exclusions (the syscalls object's trie) with
 * the literal patterns of cfg; the others are filtered in user space only,
 * as are names the kernel did not resolve. */
static int push_path_exclusions(struct ebpf_source *s, const struct vigil_config *cfg)
{
	struct vg_path_key key, next, keys[2];
	int fd = bpf_map__fd(s->sys->maps.excluded_paths);
	uint32_t n = 0;
	uint8_t one = 1;

	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(fd, &key))
			return -errno;
	}
	for (unsigned i = 0; i < cfg->exclude_paths.count; i++) {
		int k = file_rec__exclusion_keys(cfg->exclude_paths.items[i], keys);

		for (int j = 0; j < k && n < 2 * VG_EXCL_PATTERNS; j++, n++)
			if (bpf_map_update_elem(fd, &keys[j], &one, BPF_ANY))
				return -errno;
	}
	return 0;
}

/* Pushes toggles, limits and exclusions into the kernel maps; also used on
 * SIGHUP. */
static int ebpf_apply_config(struct source *src, const struct vigil_config *cfg)
{
	struct ebpf_source *s = src->priv;
	struct vg_config kc = {
		.types = kernel_types(cfg),
		.args_max = cfg->max_args_bytes > VG_ARGS_MAX ? VG_ARGS_MAX : cfg->max_args_bytes,
		.env_max = cfg->env_capture ? (cfg->max_env_bytes > VG_ARGS_MAX ? VG_ARGS_MAX
										 : cfg->max_env_bytes)
					    : 0,
		.wakeup_bytes = cfg->wakeup_bytes,
		.path_excl = count_path_exclusions(cfg),
	};
	uint32_t zero = 0, self = (uint32_t)getpid();
	uint8_t one = 1;
	char key[VG_COMM_LEN], next[VG_COMM_LEN];
	int cfd = bpf_map__fd(s->skel->maps.excluded_comms);

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.vg_config_map), &zero, &kc, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.excluded_pids), &self, &one, BPF_ANY))
		return -errno;
	if (s->sys) {
		int ret = push_path_exclusions(s, cfg);

		if (ret)
			return ret;
	}
	/* Replace the excluded names: delete all, then add the configured ones. */
	while (bpf_map_get_next_key(cfd, NULL, next) == 0) {
		memcpy(key, next, sizeof(key));
		bpf_map_delete_elem(cfd, key);
	}
	for (unsigned i = 0; i < cfg->exclude_process_names.count; i++) {
		memset(key, 0, sizeof(key));
		strncpy(key, cfg->exclude_process_names.items[i], sizeof(key) - 1);
		if (bpf_map_update_elem(cfd, key, &one, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int copy_str(char **dst, const char *p, uint32_t len)
{
	/* len counts the NUL the kernel wrote; never trust it to be there. */
	if (len == 0)
		return 0;
	return proc_info__set_str(dst, p, strnlen(p, len));
}

/* cgroup components arrive leaf first; rebuild "/a/b/leaf". */
static int copy_cgroup(char **dst, const char *p, uint32_t len)
{
	const char *comp[VG_CGROUP_DEPTH];
	size_t clen[VG_CGROUP_DEPTH];
	unsigned n = 0;
	uint32_t off = 0;
	char path[VG_CGROUP_MAX + VG_CGROUP_DEPTH + 2];
	size_t w = 0;

	while (off < len && n < VG_CGROUP_DEPTH) {
		size_t l = strnlen(p + off, len - off);

		comp[n] = p + off;
		clen[n] = l;
		n++;
		off += l + 1;
	}
	for (int i = (int)n - 1; i >= 0; i--) {
		if (clen[i] == 0)
			continue;	/* the root cgroup's name is empty */
		if (w + clen[i] + 2 > sizeof(path))
			break;
		path[w++] = '/';
		memcpy(path + w, comp[i], clen[i]);
		w += clen[i];
	}
	if (w == 0)
		path[w++] = '/';
	return proc_info__set_str(dst, path, w);
}

static void fill_task(struct proc_info *p, const struct vg_rec_hdr *h, const struct vg_task *t)
{
	p->pid = h->pid;
	p->tid = h->tid;
	p->ppid = t->ppid;
	memcpy(p->comm, t->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
	p->uid = t->uid;
	p->gid = t->gid;
	p->euid = t->euid;
	p->egid = t->egid;
	p->auid = t->auid;
	p->pidns = t->pidns;
	p->mntns = t->mntns;
	p->netns = t->netns;
	p->start_boot_ns = t->start_boot_ns;
	p->self_exec_id = t->self_exec_id;
	p->cgroup_id = t->cgroup_id;
}

static int handle_exec(struct ebpf_source *s, const struct vg_exec *r, size_t size)
{
	const char *d = (const char *)(r + 1);
	uint64_t need = (uint64_t)r->exe_len + r->cwd_len + r->args_len + r->env_len + r->cgroup_len;
	struct proc_info p = { 0 };
	uint32_t off = 0;
	int err = 0;

	if (r->exe_len > VG_PATH_MAX || r->cwd_len > VG_PATH_MAX || r->args_len > VG_ARGS_MAX ||
	    r->env_len > VG_ARGS_MAX || r->cgroup_len > VG_CGROUP_MAX ||
	    sizeof(*r) + need > size)
		return -EBADMSG;
	fill_task(&p, &r->hdr, &r->task);
	p.exec_boot_ns = r->hdr.time_boot_ns;
	p.origin = PROC_ORIGIN_EXEC;
	p.exe_dev = r->exe_dev;
	p.exe_ino = r->exe_ino;
	p.exe_size = r->exe_size;
	p.exe_mtime_ns = r->exe_mtime_ns;
	p.exe_ctime_ns = r->exe_ctime_ns;
	p.exe_stat_known = true;
	err = err ?: copy_str(&p.exe, d + off, r->exe_len);
	off += r->exe_len;
	err = err ?: copy_str(&p.cwd, d + off, r->cwd_len);
	off += r->cwd_len;
	if (r->args_len) {
		uint32_t l = r->args_len;

		/* argv ends with a NUL; drop it so no empty last argument appears. */
		if (d[off + l - 1] == '\0')
			l--;
		err = err ?: proc_info__set_str(&p.args, d + off, l);
		p.args_len = l;
	}
	p.args_truncated = r->hdr.flags & VG_F_ARGS_TRUNC;
	off += r->args_len;
	if (r->env_len) {
		uint32_t l = r->env_len;

		if (d[off + l - 1] == '\0')
			l--;
		err = err ?: proc_info__set_str(&p.env, d + off, l);
		p.env_len = l;
		p.env_truncated = r->hdr.flags & VG_F_ENV_TRUNC;
	}
	off += r->env_len;
	err = err ?: copy_cgroup(&p.cgroup, d + off, r->cgroup_len);
	if (err) {
		proc_info__clear(&p);
		return err;
	}
	/* A non-leader thread that execs takes over the leader's pid; its own
	 * id ends here without an exit of its own. */
	if (r->old_tid && r->old_tid != r->hdr.pid)
		pipeline__on_exit(s->pl, r->hdr.pid, r->old_tid, false, 0, r->hdr.time_boot_ns);
	pipeline__on_exec(s->pl, &p, r->hdr.time_boot_ns);
	proc_info__clear(&p);
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct ebpf_source *s = ctx;
	const struct vg_rec_hdr *h = data;
	int err = 0;

	if (size < sizeof(*h) || h->size != size) {
		err = -EBADMSG;
		goto out;
	}
	switch (h->type) {
	case VG_REC_EXEC:
		if (size < sizeof(struct vg_exec)) {
			err = -EBADMSG;
			break;
		}
		err = handle_exec(s, data, size);
		break;
	case VG_REC_EXEC_EXCLUDED:
		if (size != sizeof(*h)) {
			err = -EBADMSG;
			break;
		}
		pipeline__on_exec_excluded(s->pl, h->pid);
		break;
	case VG_REC_FILE:
		err = file_rec__handle(s->pl, data, size);
		break;
	case VG_REC_IDENTITY:
		err = identity_rec__handle(s->pl, data, size);
		break;
	case VG_REC_MEM:
		err = memory_rec__handle(s->pl, data, size);
		break;
	case VG_REC_NET:
		err = net_rec__handle(s->pl, data, size);
		break;
	case VG_REC_DNS:
		err = dns_rec__handle(s->pl, data, size);
		break;
	case VG_REC_FORK: {
		const struct vg_fork *f = data;
		struct proc_info p = { 0 };

		if (size != sizeof(*f)) {
			err = -EBADMSG;
			break;
		}
		fill_task(&p, h, &f->task);
		p.origin = PROC_ORIGIN_FORK;
		p.exec_boot_ns = p.start_boot_ns;
		pipeline__on_fork(s->pl, &p, h->flags & VG_F_THREAD, h->time_boot_ns);
		proc_info__clear(&p);
		break;
	}
	case VG_REC_EXIT: {
		const struct vg_exit *x = data;

		if (size != sizeof(*x)) {
			err = -EBADMSG;
			break;
		}
		pipeline__on_exit(s->pl, h->pid, h->tid, h->flags & VG_F_GROUP_DEAD, x->exit_code,
				  h->time_boot_ns);
		break;
	}
	default:
		err = -EBADMSG;
	}
out:
	if (err == -EBADMSG) {
		/* A record we cannot trust is dropped and counted, never parsed. */
		s->bad_records++;
		pipeline__count_drop(s->pl, "ebpf_bad_record", 1);
	} else if (err) {
		pipeline__count_drop(s->pl, "out_of_memory", 1);
	}
	/* A negative return makes libbpf stop after this record (consumed). */
	if (s->budget && --s->budget == 0)
		return BUDGET_SPENT;
	return 0;
}

/* The handler of each syscall, by this architecture's numbers. */
static int fill_exit_table(struct ebpf_source *s)
{
	struct syscalls_bpf *k = s->sys;
	const struct {
		long nr;
		struct bpf_program *prog;
	} table[] = {
#ifdef SYS_open
		{ SYS_open, k->progs.vg_exit_open },
		{ SYS_creat, k->progs.vg_exit_creat },
		{ SYS_unlink, k->progs.vg_exit_unlink },
		{ SYS_rmdir, k->progs.vg_exit_rmdir },
		{ SYS_mkdir, k->progs.vg_exit_mkdir },
		{ SYS_rename, k->progs.vg_exit_rename },
		{ SYS_chmod, k->progs.vg_exit_chmod },
		{ SYS_chown, k->progs.vg_exit_chown },
		{ SYS_lchown, k->progs.vg_exit_lchown },
		{ SYS_link, k->progs.vg_exit_link },
		{ SYS_symlink, k->progs.vg_exit_symlink },
#endif
		{ SYS_openat, k->progs.vg_exit_openat },
		{ SYS_openat2, k->progs.vg_exit_openat2 },
		{ SYS_unlinkat, k->progs.vg_exit_unlinkat },
		{ SYS_mkdirat, k->progs.vg_exit_mkdirat },
		{ SYS_renameat, k->progs.vg_exit_renameat },
		{ SYS_renameat2, k->progs.vg_exit_renameat2 },
		{ SYS_truncate, k->progs.vg_exit_truncate },
		{ SYS_ftruncate, k->progs.vg_exit_ftruncate },
		{ SYS_fchmod, k->progs.vg_exit_fchmod },
		{ SYS_fchmodat, k->progs.vg_exit_fchmodat },
		{ SYS_fchown, k->progs.vg_exit_fchown },
		{ SYS_fchownat, k->progs.vg_exit_fchownat },
		{ SYS_linkat, k->progs.vg_exit_linkat },
		{ SYS_symlinkat, k->progs.vg_exit_symlinkat },
		{ SYS_setuid, k->progs.vg_exit_setuid },
		{ SYS_setgid, k->progs.vg_exit_setgid },
		{ SYS_setreuid, k->progs.vg_exit_setreuid },
		{ SYS_setregid, k->progs.vg_exit_setregid },
		{ SYS_setresuid, k->progs.vg_exit_setresuid },
		{ SYS_setresgid, k->progs.vg_exit_setresgid },
		{ SYS_setfsuid, k->progs.vg_exit_setfsuid },
		{ SYS_setfsgid, k->progs.vg_exit_setfsgid },
		{ SYS_capset, k->progs.vg_exit_capset },
		{ SYS_close, k->progs.vg_exit_close },
		{ SYS_mmap, k->progs.vg_exit_mmap },
		{ SYS_mprotect, k->progs.vg_exit_mprotect },
		{ SYS_memfd_create, k->progs.vg_exit_memfd_create },
		{ SYS_bind, k->progs.vg_exit_bind },
		{ SYS_listen, k->progs.vg_exit_listen },
		{ SYS_connect, k->progs.vg_exit_connect },
		{ SYS_accept, k->progs.vg_exit_accept },
		{ SYS_accept4, k->progs.vg_exit_accept },
		{ SYS_sendto, k->progs.vg_exit_sendto },
		{ SYS_sendmsg, k->progs.vg_exit_sendmsg },
		{ SYS_sendmmsg, k->progs.vg_exit_sendmmsg },
		{ SYS_recvfrom, k->progs.vg_exit_recvfrom },
		{ SYS_recvmmsg, k->progs.vg_exit_recvmmsg },
		{ SYS_write, k->progs.vg_exit_write },
		{ SYS_read, k->progs.vg_exit_read },
		{ SYS_writev, k->progs.vg_exit_writev },
		{ SYS_readv, k->progs.vg_exit_readv },
		{ SYS_recvmsg, k->progs.vg_exit_recvmsg },
	};
	int mfd = bpf_map__fd(k->maps.vg_exit_progs);

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint32_t key = (uint32_t)table[i].nr;
		int pfd = bpf_program__fd(table[i].prog);

		if (bpf_map_update_elem(mfd, &key, &pfd, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Loads the syscall families into the same ring buffer, config and counters
 * as the process programs. */
static int open_syscalls(struct ebpf_source *s, const struct vigil_config *cfg, char *err,
			 size_t errlen)
{
	struct bpf_program *prog;
	int ret;

	s->sys = syscalls_bpf__open();
	if (!s->sys) {
		snprintf(err, errlen, "opening the syscalls BPF object failed: %s", libbpf_last_error);
		return -errno ? -errno : -EINVAL;
	}
	if ((ret = bpf_map__reuse_fd(s->sys->maps.events, bpf_map__fd(s->skel->maps.events))) ||
	    (ret = bpf_map__reuse_fd(s->sys->maps.vg_config_map,
				     bpf_map__fd(s->skel->maps.vg_config_map))) ||
	    (ret = bpf_map__reuse_fd(s->sys->maps.counters, bpf_map__fd(s->skel->maps.counters))) ||
	    (ret = bpf_map__reuse_fd(s->sys->maps.excluded_pids,
				     bpf_map__fd(s->skel->maps.excluded_pids))) ||
	    (ret = bpf_map__reuse_fd(s->sys->maps.excluded_comms,
				     bpf_map__fd(s->skel->maps.excluded_comms)))) {
		snprintf(err, errlen, "sharing maps with the syscalls object failed: %s",
			 strerror(-ret));
		return ret;
	}
	/* Handlers run only through the tail-call table. */
	bpf_object__for_each_program(prog, s->sys->obj)
		if (prog != s->sys->progs.vg_sys_exit)
			bpf_program__set_autoattach(prog, false);
	ret = syscalls_bpf__load(s->sys);
	if (ret) {
		snprintf(err, errlen, "loading the syscall programs failed (%s): %s", strerror(-ret),
			 libbpf_last_error);
		return ret;
	}
	ret = fill_exit_table(s);
	if (ret) {
		snprintf(err, errlen, "filling the syscall table failed: %s", strerror(-ret));
		return ret;
	}
	ret = push_path_exclusions(s, cfg);
	if (ret) {
		snprintf(err, errlen, "writing the path exclusions failed: %s", strerror(-ret));
		return ret;
	}
	s->sys_link = bpf_program__attach(s->sys->progs.vg_sys_exit);
	if (!s->sys_link) {
		ret = -errno;
		snprintf(err, errlen, "attaching to sys_exit failed (%s): %s", strerror(-ret),
			 libbpf_last_error);
		return ret;
	}
	s->tcp_link = bpf_program__attach(s->sys->progs.vg_tcp_state);
	if (s->tcp_link)
		s->tcp_nested_link = bpf_program__attach(s->sys->progs.vg_tcp_state_nested);
	if (!s->tcp_link || !s->tcp_nested_link) {
		ret = -errno;
		snprintf(err, errlen, "attaching to inet_sock_set_state failed (%s): %s",
			 strerror(-ret), libbpf_last_error);
		return ret;
	}
	return 0;
}

/* A per-CPU counter (enum vg_counter) summed over the CPUs. */
static int counter_total(const struct ebpf_source *s, uint32_t idx, uint64_t *sum)
{
	uint64_t vals[256];

	*sum = 0;
	if (s->ncpus > 256 || bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.counters), &idx, vals))
		return -EINVAL;
	for (int c = 0; c < s->ncpus; c++)
		*sum += vals[c];
	return 0;
}

static void ebpf_close(struct source *src)
{
	struct ebpf_source *s = src->priv;

	if (!s)
		return;
	if (s->skel) {
		uint64_t n;

		/* the proof that exclusions.paths reached the kernel */
		if (counter_total(s, VG_CNT_PATH_EXCLUDED, &n) == 0 && n)
			log_info("%llu file events on excluded paths were dropped in the kernel",
				 (unsigned long long)n);
	}
	bpf_link__destroy(s->sys_link);
	s->sys_link = NULL;
	bpf_link__destroy(s->tcp_link);
	s->tcp_link = NULL;
	bpf_link__destroy(s->tcp_nested_link);
	s->tcp_nested_link = NULL;
	if (s->skel)
		process_bpf__detach(s->skel);
	/* Programs are detached: what is still queued is all there will be. */
	if (s->rb)
		ring_buffer__consume(s->rb);
	ring_buffer__free(s->rb);
	syscalls_bpf__destroy(s->sys);
	process_bpf__destroy(s->skel);
	free(s);
	src->priv = NULL;
}

static int ebpf_open(struct source *src, const struct vigil_config *cfg, struct pipeline *pl,
		     char *err, size_t errlen)
{
	struct ebpf_source *s;
	int ret;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(err, errlen, "kernel BTF (/sys/kernel/btf/vmlinux) is not available");
		return -ENOENT;
	}
	libbpf_set_print(libbpf_print);
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	src->priv = s;
	s->pl = pl;
	s->ncpus = libbpf_num_possible_cpus();
	s->skel = process_bpf__open();
	if (!s->skel) {
		ret = -errno;
		snprintf(err, errlen, "opening the BPF object failed: %s", libbpf_last_error);
		goto fail;
	}
	if (s->ncpus <= 0)
		s->ncpus = 1;
	bpf_map__set_max_entries(s->skel->maps.events, cfg->ringbuf_bytes);
	bpf_map__set_max_entries(s->skel->maps.exec_scratch, (uint32_t)s->ncpus);
	ret = process_bpf__load(s->skel);
	if (ret) {
		snprintf(err, errlen, "loading the BPF programs failed (%s): %s", strerror(-ret),
			 libbpf_last_error);
		goto fail;
	}
	ret = ebpf_apply_config(src, cfg);
	if (ret) {
		snprintf(err, errlen, "writing the BPF config maps failed: %s", strerror(-ret));
		goto fail;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_record, s, NULL);
	if (!s->rb) {
		ret = -errno;
		snprintf(err, errlen, "creating the ring buffer reader failed: %s", strerror(-ret));
		goto fail;
	}
	ret = process_bpf__attach(s->skel);
	if (ret) {
		snprintf(err, errlen, "attaching to the sched tracepoints failed (%s): %s",
			 strerror(-ret), libbpf_last_error);
		goto fail;
	}
	{
		char why[512];

		if (open_syscalls(s, cfg, why, sizeof(why))) {
			/* Process events still work: say what is missing, go on. */
			struct event ev = { .type = SYS_FEATURE_DEGRADED };
			char msg[700];

			snprintf(msg, sizeof(msg), "file and identity events unavailable: %s", why);
			ev.message = msg;
			event__kv_str(&ev, "feature", "syscall_events");
			event__kv_str(&ev, "reason", why);
			pipeline__system(pl, &ev);
			bpf_link__destroy(s->sys_link);
			s->sys_link = NULL;
			bpf_link__destroy(s->tcp_link);
			s->tcp_link = NULL;
			bpf_link__destroy(s->tcp_nested_link);
			s->tcp_nested_link = NULL;
			syscalls_bpf__destroy(s->sys);
			s->sys = NULL;
		}
	}
	return 0;
fail:
	ebpf_close(src);
	return ret < 0 ? ret : -EINVAL;
}

static int ebpf_fd(const struct source *src)
{
	const struct ebpf_source *s = src->priv;

	return ring_buffer__epoll_fd(s->rb);
}

static int ebpf_dispatch(struct source *src)
{
	struct ebpf_source *s = src->priv;
	int n;

	s->budget = DISPATCH_BUDGET;
	n = ring_buffer__consume(s->rb);
	s->budget = 0;
	return n == BUDGET_SPENT ? DISPATCH_BUDGET : n;
}

/* Sums the per-CPU loss counters and reports what grew since last time. */
static void report_counters(struct ebpf_source *s)
{
	static const struct {
		enum vg_counter idx;
		const char *reason;
	} losses[] = {
		{ VG_CNT_RB_FULL, "ringbuf_full" },
		{ VG_CNT_NO_SCRATCH, "bpf_no_scratch" },
	};
	struct bpf_object *objs[2] = { s->skel->obj, s->sys ? s->sys->obj : NULL };
	struct bpf_program *prog;
	uint64_t recursion = 0;

	/* A program the kernel skipped because it was already running on that
	 * CPU (a tracepoint hit from inside another BPF program, e.g. TCP state
	 * changes in softirq) lost its event without running: the kernel counts
	 * it per program. Read about once a second; it is one syscall a program.
	 * vg_tcp_state's misses are not losses: vg_tcp_state_nested took those
	 * changes, and its own misses are (an upper bound of) the ones lost. */
	if (s->ticks++ % 20 == 0) {
		for (int o = 0; o < 2; o++) {
			if (!objs[o])
				continue;
			bpf_object__for_each_program(prog, objs[o]) {
				struct bpf_prog_info info = { 0 };
				uint32_t len = sizeof(info);
				int pfd = bpf_program__fd(prog);

				if (o == 1 && prog == s->sys->progs.vg_tcp_state)
					continue;
				if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &info, &len) == 0)
					recursion += info.recursion_misses;
			}
		}
		if (recursion > s->recursion_reported) {
			pipeline__count_drop(s->pl, "bpf_recursion_miss",
					     recursion - s->recursion_reported);
			s->recursion_reported = recursion;
		}
	}
	for (size_t i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		uint32_t key = losses[i].idx;
		uint64_t sum;

		if (counter_total(s, key, &sum))
			continue;
		if (sum > s->reported[key]) {
			pipeline__count_drop(s->pl, losses[i].reason, sum - s->reported[key]);
			s->reported[key] = sum;
		}
	}
}

static int ebpf_tick(struct source *src)
{
	struct ebpf_source *s = src->priv;
	int n;

	s->budget = DISPATCH_BUDGET;
	n = ring_buffer__consume(s->rb);
	s->budget = 0;

	report_counters(s);
	return n == BUDGET_SPENT ? DISPATCH_BUDGET : n;
}

const struct source_ops source_ebpf_ops = {
	.name = "ebpf",
	.open = ebpf_open,
	.fd = ebpf_fd,
	.dispatch = ebpf_dispatch,
	.tick = ebpf_tick,
	.reconfigure = ebpf_apply_config,
	.close = ebpf_close,
};
