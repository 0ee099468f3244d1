/* Maps and helpers every Vigil BPF object shares. Each object declares the
 * same maps; the loader makes the later objects reuse the first object's
 * (bpf_map__reuse_fd), so there is one ring buffer (one reader, one order of
 * records across families), one config, one set of exclusions and counters. */
#ifndef VIGIL_MAPS_BPF_H
#define VIGIL_MAPS_BPF_H

#include "sources/ebpf/common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* user space sets the configured size */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_config);
} vg_config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} excluded_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[VG_COMM_LEN]);
	__type(value, __u8);
} excluded_comms SEC(".maps");

static __always_inline void count(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &reason);

	if (c)
		*c += 1;
}

static __always_inline struct vg_config *get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_config_map, &zero);
}

/* The agent's own pid: nothing of it is ever sent. */
static __always_inline bool excluded_pid(__u32 tgid)
{
	if (bpf_map_lookup_elem(&excluded_pids, &tgid)) {
		count(VG_CNT_FILTERED);
		return true;
	}
	return false;
}

/* Excluded by name. Process forks and group exits are still sent (they are
 * small, and keep user space's process table right); exec records and
 * thread events are not. */
static __always_inline bool excluded_comm(const char *comm)
{
	if (bpf_map_lookup_elem(&excluded_comms, comm)) {
		count(VG_CNT_FILTERED);
		return true;
	}
	return false;
}

/* Syscall families: the agent's own pid and excluded names are dropped in
 * the kernel, before any path or address is read. */
static __always_inline bool excluded_task(struct task_struct *task)
{
	char comm[VG_COMM_LEN];

	if (excluded_pid(task->tgid))
		return true;
	__builtin_memcpy(comm, task->comm, sizeof(comm));
	return excluded_comm(comm);
}

/* Batched wake-ups: waking user space costs tens of microseconds, so only
 * wake it when enough is queued; the loader drains on a timer otherwise. */
static __always_inline __u64 wakeup_flag(const struct vg_config *cfg)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void emit(const struct vg_config *cfg, void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&events, rec, size, wakeup_flag(cfg)))
		count(VG_CNT_RB_FULL);
	else
		count(VG_CNT_EMITTED);
}

#endif
