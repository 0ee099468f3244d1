// SPDX-License-Identifier: GPL-2.0
/* Syscall families (file operations now; network, identity and memory next)
 * from one BTF tracepoint, sys_exit, dispatched by syscall number through a
 * tail-call table that user space fills with the handlers it wants. One hook
 * for all families keeps the cost per syscall of the host to one program run
 * and, for syscalls nobody handles, one failed tail call. */
#include "sources/ebpf/maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#if defined(__TARGET_ARCH_x86)
#define VG_SYSCALL_NR(r) ((r)->orig_ax)
#define VG_ARG0(r) ((r)->di)
#define VG_ARG1(r) ((r)->si)
#define VG_ARG2(r) ((r)->dx)
#define VG_ARG3(r) ((r)->r10)
#define VG_ARG4(r) ((r)->r8)
#define VG_ARG5(r) ((r)->r9)
#elif defined(__TARGET_ARCH_arm64)
/* x0 holds the return value at exit; the first argument survives in orig_x0 */
#define VG_SYSCALL_NR(r) ((r)->syscallno)
#define VG_ARG0(r) ((r)->orig_x0)
#define VG_ARG1(r) ((r)->regs[1])
#define VG_ARG2(r) ((r)->regs[2])
#define VG_ARG3(r) ((r)->regs[3])
#define VG_ARG4(r) ((r)->regs[4])
#define VG_ARG5(r) ((r)->regs[5])
#else
#error "syscall argument registers not defined for this architecture"
#endif

#define VG_MAX_SYSCALLS 512

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, VG_MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u32);
} vg_exit_progs SEC(".maps");

#include "sources/ebpf/file.bpf.h"
#include "sources/ebpf/identity.bpf.h"
#include "sources/ebpf/memory.bpf.h"
#include "sources/ebpf/net.bpf.h"

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = VG_SYSCALL_NR(regs);

	if (nr >= 0 && nr < VG_MAX_SYSCALLS)
		bpf_tail_call(ctx, &vg_exit_progs, (__u32)nr);
	return 0;
}
