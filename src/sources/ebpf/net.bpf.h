/* Network and DNS programs of the syscalls.bpf.c object.
 *
 * Socket operations (bind, listen, connect, accept) are tail-called on
 * sys_exit like the file handlers: the registers still hold the arguments,
 * the result is known, and the socket itself (fd -> file -> socket -> sock)
 * says what the kernel made of the request (the port bind picked, the
 * source address connect chose, the peer of an accepted connection).
 *
 * TCP lifecycle comes from the inet_sock_set_state BTF tracepoint. Passive
 * connections change state in softirq context, where the current task is
 * whoever was interrupted, so the owner is remembered per socket in an LRU
 * map: set by connect (SYN_SENT runs inside connect()) and by accept; a
 * connection established before anyone accepted it is reported when it is
 * accepted, or at its end with an unknown owner.
 *
 * DNS: payloads sent to port 53 (sendto, sendmsg, the first two messages of
 * sendmmsg, which glibc uses for its parallel A/AAAA queries, and write and
 * writev on a connected socket) and received from it (recvfrom, recvmsg,
 * recvmmsg, read, readv), captured up to VG_DNS_MAX bytes and parsed in user
 * space. */
#ifndef VIGIL_NET_BPF_H
#define VIGIL_NET_BPF_H

#include "sources/ebpf/file.bpf.h"	/* vg_fd_file */
#include "sources/ebpf/net.h"
#include <bpf/bpf_endian.h>

#define VG_AF_UNIX 1
#define VG_AF_INET 2
#define VG_AF_INET6 10
#define VG_S_IFMT 0170000
#define VG_S_IFSOCK 0140000
#define VG_SOCK_STREAM 1
#define VG_IPPROTO_TCP 6
#define VG_SUN_PATH_OFF 2	/* offsetof(struct sockaddr_un, sun_path) */
#define VG_UNIX_MASK (VG_UNIX_PATH_BUF - 1)
#define VG_TCP_CONNS 65536

/* TCP states (include/net/tcp_states.h): part of the kernel ABI. */
#define VG_TCP_ESTABLISHED 1
#define VG_TCP_SYN_SENT 2
#define VG_TCP_SYN_RECV 3
#define VG_TCP_FIN_WAIT1 4
#define VG_TCP_FIN_WAIT2 5
#define VG_TCP_CLOSE 7
#define VG_TCP_CLOSE_WAIT 8
#define VG_TCP_LAST_ACK 9
#define VG_TCP_LISTEN 10
#define VG_TCP_CLOSING 11

_Static_assert(VG_UNIX_PATH_MAX <= VG_UNIX_MASK + 1, "unix path mask");

/* One scratch record per CPU for the syscall handlers and two for the
 * tracepoint (one per program, see vg_tcp_state_nested): a state change in
 * softirq may interrupt a handler between filling its record and sending it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_net);
} net_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct vg_net);
} tcp_scratch SEC(".maps");

/* Set while vg_tcp_state runs on this CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tcp_busy SEC(".maps");

struct vg_dns_scratch {
	struct vg_dns rec;
	char data[2 * VG_DNS_MAX];	/* offsets masked to VG_DNS_MAX - 1, lengths to VG_DNS_MAX */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_dns_scratch);
} dns_scratch SEC(".maps");

#define VG_TC_REPORTED (1u << 0)	/* Connection Created was sent */
#define VG_TC_PASSIVE (1u << 1)
#define VG_TC_NODIR (1u << 2)	/* a listener: no direction */

/* What a TCP socket's later state changes need to know. */
struct vg_tcp_conn {
	__u64 start_ns;		/* reached ESTABLISHED; 0 not yet */
	__u32 pid, tid;		/* owner; 0 not known yet */
	__u32 flags;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VG_TCP_CONNS);
	__type(key, __u64);	/* struct sock address */
	__type(value, struct vg_tcp_conn);
} vg_tcp_conns SEC(".maps");

/* The sockaddr layouts of the user ABI (not kernel-internal: no CO-RE).
 * Padded to a power of two so a masked read length stays inside it. */
struct vg_user_sockaddr {
	__u16 family;
	__u16 port;		/* network order */
	union {
		__u8 v4[4];
		struct {
			__u32 flowinfo;
			__u8 v6[16];
		};
	};
	__u8 pad[8];
};

#define VG_SOCKADDR_IN6_LEN 28	/* the most of a sockaddr the inet families use */
_Static_assert(sizeof(struct vg_user_sockaddr) == 32, "vg_user_sockaddr layout");

struct vg_user_msghdr {
	void *name;
	__u32 namelen;
	__u32 pad;
	struct vg_iovec *iov;
	__u64 iovlen;
	void *control;
	__u64 controllen;
	__u32 flags;
	__u32 pad2;
};

struct vg_iovec {
	void *base;
	__u64 len;
};

#define VG_MMSGHDR_SIZE 64	/* struct mmsghdr: msghdr + msg_len, padded */

/* A kernel pointer we got as a number (read from an array) as a typed,
 * read-only pointer: the verifier then allows plain loads through it, each
 * fault-checked like a probe read but without a helper call. The send and
 * receive handlers run on every send and receive of the host and walk
 * fd -> file -> socket -> sock before they know whether port 53 is involved;
 * this walk cost four helper calls (~40% of their time). The kfunc is inlined
 * by the verifier (v6.2+). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define vg_cast(type, p) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))

static __always_inline struct socket *vg_fd_socket(struct task_struct *task, int fd, bool verify)
{
	struct file *f = vg_fd_file(task, fd);

	if (!f)
		return NULL;
	f = vg_cast(struct file, f);
	/* A syscall that failed may have been given any fd: only a socket
	 * inode's private_data is a struct socket. */
	if (verify && (f->f_inode->i_mode & VG_S_IFMT) != VG_S_IFSOCK)
		return NULL;
	return vg_cast(struct socket, f->private_data);
}

/* Local and remote address of an inet socket; false for other families. */
static __always_inline bool vg_sk_inet(struct sock *sk, __u16 family, __u8 *laddr, __u16 *lport,
				       __u8 *raddr, __u16 *rport)
{
	struct sock_common *skc = &vg_cast(struct sock, sk)->__sk_common;

	if (family == VG_AF_INET) {
		__u32 s = skc->skc_rcv_saddr, d = skc->skc_daddr;

		__builtin_memcpy(laddr, &s, 4);
		__builtin_memcpy(raddr, &d, 4);
	} else if (family == VG_AF_INET6) {
		struct in6_addr s = skc->skc_v6_rcv_saddr, d = skc->skc_v6_daddr;

		__builtin_memcpy(laddr, &s, 16);
		__builtin_memcpy(raddr, &d, 16);
	} else {
		return false;
	}
	*lport = skc->skc_num;
	*rport = bpf_ntohs(skc->skc_dport);
	return true;
}

/* The name an AF_UNIX socket is bound to, as the kernel keeps it (after
 * autobind too); returns the sun_path bytes copied, 0 when unbound. */
static __always_inline __u16 vg_unix_name(struct sock *sk, char *dst)
{
	struct unix_address *ua;
	int len;

	if (!sk)
		return 0;
	ua = BPF_CORE_READ((struct unix_sock *)sk, addr);
	if (!ua)
		return 0;
	len = BPF_CORE_READ(ua, len) - VG_SUN_PATH_OFF;
	if (len <= 0)
		return 0;
	if (len > VG_UNIX_PATH_MAX)
		len = VG_UNIX_PATH_MAX;
	vg_barrier_var(len);
	if (bpf_core_read(dst, len & VG_UNIX_MASK, &ua->name[0].sun_path))
		return 0;
	return (__u16)len;
}

/* The address the process passed (bind: where to bind, connect: where to). */
static __always_inline void vg_user_addr(struct vg_net *r, const void *uaddr, __u32 addrlen,
					 bool local)
{
	struct vg_user_sockaddr sa = {};
	__u32 n = addrlen > VG_SOCKADDR_IN6_LEN ? VG_SOCKADDR_IN6_LEN : addrlen;

	if (!uaddr || addrlen < 2)
		return;
	vg_barrier_var(n);
	if (bpf_probe_read_user(&sa, n & (sizeof(sa) - 1), uaddr)) {
		r->hdr.flags |= VG_NF_FAULT;
		return;
	}
	r->family = sa.family;
	if (sa.family == VG_AF_INET && addrlen >= 8) {
		__builtin_memcpy(local ? r->laddr : r->raddr, sa.v4, 4);
	} else if (sa.family == VG_AF_INET6 && addrlen >= 24) {
		__builtin_memcpy(local ? r->laddr : r->raddr, sa.v6, 16);
	} else if (sa.family == VG_AF_UNIX) {
		__u32 plen = addrlen - VG_SUN_PATH_OFF;

		if (plen > VG_UNIX_PATH_MAX)
			plen = VG_UNIX_PATH_MAX;
		vg_barrier_var(plen);
		plen &= VG_UNIX_MASK;
		if (plen && !bpf_probe_read_user(local ? r->lpath : r->rpath, plen,
						 (const char *)uaddr + VG_SUN_PATH_OFF)) {
			if (local)
				r->lpath_len = plen;
			else
				r->rpath_len = plen;
		}
		return;
	} else {
		return;
	}
	if (local) {
		r->lport = bpf_ntohs(sa.port);
		r->hdr.flags |= VG_NF_LOCAL;
	} else {
		r->rport = bpf_ntohs(sa.port);
		r->hdr.flags |= VG_NF_REMOTE;
	}
}

static __always_inline struct vg_net *vg_net_rec(void *map, __u32 pid, __u32 tid, __u16 op)
{
	struct vg_net *r;
	__u32 zero = 0;

	r = bpf_map_lookup_elem(map, &zero);
	if (!r) {
		count(VG_CNT_NO_SCRATCH);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.type = VG_REC_NET;
	r->hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r->hdr.pid = pid;
	r->hdr.tid = tid;
	r->op = op;
	r->fd = -1;
	return r;
}

/* Fills a lifecycle record from the socket: addresses and the counters of
 * struct tcp_sock, as payload bytes. bytes_received also counts the peer's
 * FIN (one sequence number; tcp_fin() sets SOCK_DONE), and bytes_acked the
 * SYN and FIN, so bytes out are what was sent minus what was sent again. */
static __always_inline void vg_tcp_fill(struct vg_net *r, struct sock *sk, __u64 start_ns)
{
	struct tcp_sock *tp = vg_cast(struct tcp_sock, sk);
	int done = bpf_core_enum_value(enum sock_flags, SOCK_DONE);
	__u64 in, sent, retrans;

	r->family = tp->inet_conn.icsk_inet.sk.__sk_common.skc_family;
	r->type = VG_SOCK_STREAM;
	r->protocol = VG_IPPROTO_TCP;
	r->sock_id = (__u64)sk;
	if (vg_sk_inet(sk, r->family, r->laddr, &r->lport, r->raddr, &r->rport))
		r->hdr.flags |= VG_NF_LOCAL | VG_NF_REMOTE;
	/* skc_num is 0 once CLOSE released the port; inet_sport keeps it */
	r->lport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	in = tp->bytes_received;
	if (in && (tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags & (1ull << (done & 63))))
		in--;
	r->bytes_in = in;
	sent = tp->bytes_sent;
	retrans = tp->bytes_retrans;
	r->bytes_out = sent > retrans ? sent - retrans : 0;
	r->segs_in = tp->segs_in;
	r->segs_out = tp->segs_out;
	r->data_segs_in = tp->data_segs_in;
	r->data_segs_out = tp->data_segs_out;
	r->hdr.flags |= VG_NF_TCP_STATS;
	if (start_ns) {
		r->start_ns = start_ns;
		r->hdr.flags |= VG_NF_START;
	}
}

/* Sends a lifecycle record through r (a scratch record the caller owns). */
static __always_inline void vg_tcp_emit(struct vg_config *cfg, struct vg_net *r, struct sock *sk,
					__u16 op, const struct vg_tcp_conn *c, int oldstate,
					int newstate, __u64 time_ns)
{
	__u32 pid = c ? c->pid : 0;

	if (pid && excluded_pid(pid))
		return;
	__builtin_memset(r, 0, VG_NET_HEAD);
	r->hdr.type = VG_REC_NET;
	r->hdr.size = VG_NET_HEAD;
	r->hdr.time_boot_ns = time_ns;
	r->hdr.pid = pid;
	r->hdr.tid = c ? c->tid : 0;
	r->op = op;
	r->fd = -1;
	r->old_state = (__u8)oldstate;
	r->new_state = (__u8)newstate;
	if (c && !(c->flags & VG_TC_NODIR)) {
		r->hdr.flags |= VG_NF_DIRECTION;
		if (c->flags & VG_TC_PASSIVE)
			r->hdr.flags |= VG_NF_PASSIVE;
	}
	vg_tcp_fill(r, sk, c ? c->start_ns : 0);
	emit(cfg, r, VG_NET_HEAD);
}

/* accept: the new connection now has an owner. If it was established
 * before (the usual case), its Created event was held for this. */
static __always_inline void vg_tcp_accepted(struct vg_config *cfg, struct vg_net *r,
					    struct sock *sk, __u32 pid, __u32 tid)
{
	__u64 key = (__u64)sk;
	struct vg_tcp_conn *c = bpf_map_lookup_elem(&vg_tcp_conns, &key);

	if (!c) {
		/* accept won the race with the state change on another CPU */
		struct vg_tcp_conn n = { .pid = pid, .tid = tid, .flags = VG_TC_PASSIVE };

		bpf_map_update_elem(&vg_tcp_conns, &key, &n, BPF_NOEXIST);
		return;
	}
	c->pid = pid;
	c->tid = tid;
	c->flags |= VG_TC_PASSIVE;
	if (c->start_ns && !(c->flags & VG_TC_REPORTED)) {
		c->flags |= VG_TC_REPORTED;
		vg_tcp_emit(cfg, r, sk, VG_NOP_TCP_CREATED, c, VG_TCP_SYN_RECV, VG_TCP_ESTABLISHED,
			    c->start_ns);
	}
}

static __always_inline int vg_net_sys(struct pt_regs *regs, long ret, __u16 op, int fd,
				      const void *uaddr, __u32 addrlen, __u32 backlog)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vg_config *cfg = get_config();
	struct socket *sock;
	struct sock *sk = NULL;
	struct vg_net *r;
	__u32 pid = task->tgid;

	if (!cfg || !(cfg->types & VG_TYPE_NET) || excluded_pid(pid))
		return 0;
	r = vg_net_rec(&net_scratch, pid, task->pid, op);
	if (!r)
		return 0;
	r->syscall = (__u16)VG_SYSCALL_NR(regs);
	r->ret = (__s32)ret;
	r->backlog = backlog;
	if (op == VG_NOP_ACCEPT) {
		if (ret < 0)
			return 0;	/* EAGAIN on every poll of a non-blocking listener */
		fd = (int)ret;
	}
	r->fd = fd;
	vg_user_addr(r, uaddr, addrlen, op == VG_NOP_BIND);

	sock = vg_fd_socket(task, fd, op != VG_NOP_ACCEPT);
	if (sock) {
		sk = BPF_CORE_READ(sock, sk);
		r->type = BPF_CORE_READ(sock, type);
	}
	if (sk) {
		__u8 laddr[16] = {}, raddr[16] = {};
		__u16 lport = 0, rport = 0;
		bool ok = ret == 0 || op == VG_NOP_ACCEPT;

		r->sock_id = (__u64)sk;
		r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
		r->protocol = BPF_CORE_READ(sk, sk_protocol);
		if (vg_sk_inet(sk, r->family, laddr, &lport, raddr, &rport)) {
			/* the socket's own side once the kernel chose it; the
			 * peer the process asked for stays as asked, except
			 * for accept, where only the socket knows it */
			if ((ok || op == VG_NOP_CONNECT) && lport) {
				__builtin_memcpy(r->laddr, laddr, 16);
				r->lport = lport;
				r->hdr.flags |= VG_NF_LOCAL;
			}
			if (op == VG_NOP_ACCEPT) {
				__builtin_memcpy(r->raddr, raddr, 16);
				r->rport = rport;
				r->hdr.flags |= VG_NF_REMOTE;
			}
		} else if (r->family == VG_AF_UNIX) {
			if (ok || op == VG_NOP_CONNECT) {
				__u16 n = vg_unix_name(sk, r->lpath);

				if (n)
					r->lpath_len = n;
			}
			if (op == VG_NOP_ACCEPT)
				r->rpath_len = vg_unix_name(BPF_CORE_READ((struct unix_sock *)sk, peer),
							    r->rpath);
		}
	}
	if (r->lpath_len || r->rpath_len) {
		r->hdr.size = sizeof(*r);
		emit(cfg, r, sizeof(*r));
	} else {
		r->hdr.size = VG_NET_HEAD;
		emit(cfg, r, VG_NET_HEAD);
	}
	if (op == VG_NOP_ACCEPT && sk && r->protocol == VG_IPPROTO_TCP)
		vg_tcp_accepted(cfg, r, sk, pid, task->pid);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_bind, struct pt_regs *regs, long ret)
{
	return vg_net_sys(regs, ret, VG_NOP_BIND, (int)VG_ARG0(regs), (const void *)VG_ARG1(regs),
			  (__u32)VG_ARG2(regs), 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_connect, struct pt_regs *regs, long ret)
{
	return vg_net_sys(regs, ret, VG_NOP_CONNECT, (int)VG_ARG0(regs),
			  (const void *)VG_ARG1(regs), (__u32)VG_ARG2(regs), 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_listen, struct pt_regs *regs, long ret)
{
	return vg_net_sys(regs, ret, VG_NOP_LISTEN, (int)VG_ARG0(regs), NULL, 0,
			  (__u32)VG_ARG1(regs));
}

/* accept and accept4: the new socket answers everything */
SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_accept, struct pt_regs *regs, long ret)
{
	return vg_net_sys(regs, ret, VG_NOP_ACCEPT, -1, NULL, 0, 0);
}

static __always_inline int vg_tcp_state_change(struct sock *sk, int oldstate, int newstate,
					       __u32 slot)
{
	struct vg_config *cfg = get_config();
	struct vg_tcp_conn *c, n = {};
	struct vg_net *r;
	__u64 key = (__u64)sk, now;

	if (!cfg || !(cfg->types & VG_TYPE_NET) || !bpf_skc_to_tcp_sock(sk))
		return 0;
	if (newstate != VG_TCP_SYN_SENT && newstate != VG_TCP_ESTABLISHED &&
	    newstate != VG_TCP_CLOSE && !(cfg->types & VG_TYPE_TCP_STATE))
		return 0;
	r = bpf_map_lookup_elem(&tcp_scratch, &slot);
	if (!r) {
		count(VG_CNT_NO_SCRATCH);
		return 0;
	}
	now = bpf_ktime_get_boot_ns();
	c = bpf_map_lookup_elem(&vg_tcp_conns, &key);
	if (newstate == VG_TCP_SYN_SENT) {
		/* inside connect(): the current task owns the socket */
		__u64 id = bpf_get_current_pid_tgid();

		n.pid = id >> 32;
		n.tid = (__u32)id;
		bpf_map_update_elem(&vg_tcp_conns, &key, &n, BPF_ANY);
		c = bpf_map_lookup_elem(&vg_tcp_conns, &key);
	} else if (newstate == VG_TCP_ESTABLISHED) {
		if (!c) {
			n.flags = oldstate == VG_TCP_SYN_SENT ? 0 : VG_TC_PASSIVE;
			bpf_map_update_elem(&vg_tcp_conns, &key, &n, BPF_NOEXIST);
			c = bpf_map_lookup_elem(&vg_tcp_conns, &key);
		}
		if (c) {
			c->start_ns = now;
			/* an accepted connection waits for its owner */
			if (oldstate == VG_TCP_SYN_SENT || c->pid) {
				c->flags |= VG_TC_REPORTED;
				vg_tcp_emit(cfg, r, sk, VG_NOP_TCP_CREATED, c, oldstate, newstate,
					    now);
			}
		}
	} else if (newstate == VG_TCP_CLOSE) {
		if (c && c->start_ns) {
			if (!(c->flags & VG_TC_REPORTED))
				vg_tcp_emit(cfg, r, sk, VG_NOP_TCP_CREATED, c, VG_TCP_SYN_RECV,
					    VG_TCP_ESTABLISHED, c->start_ns);
			vg_tcp_emit(cfg, r, sk, VG_NOP_TCP_TERMINATED, c, oldstate, newstate, now);
		} else if (!c && (oldstate == VG_TCP_ESTABLISHED || oldstate == VG_TCP_FIN_WAIT1 ||
				  oldstate == VG_TCP_FIN_WAIT2 || oldstate == VG_TCP_CLOSE_WAIT ||
				  oldstate == VG_TCP_LAST_ACK || oldstate == VG_TCP_CLOSING)) {
			/* established before the agent started (or evicted) */
			vg_tcp_emit(cfg, r, sk, VG_NOP_TCP_TERMINATED, NULL, oldstate, newstate, now);
		}
	}
	if (cfg->types & VG_TYPE_TCP_STATE) {
		/* listen() and the close of a listener run in the owner's
		 * context; other untracked transitions have no known owner */
		if (!c && (newstate == VG_TCP_LISTEN ||
			   (oldstate == VG_TCP_LISTEN && newstate == VG_TCP_CLOSE))) {
			__u64 id = bpf_get_current_pid_tgid();

			n.pid = id >> 32;
			n.tid = (__u32)id;
			n.flags = VG_TC_NODIR;
			n.start_ns = 0;
			c = &n;
		}
		vg_tcp_emit(cfg, r, sk, VG_NOP_TCP_STATE, c, oldstate, newstate, now);
	}
	if (newstate == VG_TCP_CLOSE)
		bpf_map_delete_elem(&vg_tcp_conns, &key);
	return 0;
}

/* The kernel runs a tracing program at most once per CPU at a time: a state
 * change in a softirq that interrupts vg_tcp_state (the client's SYN_SENT in
 * connect() while loopback delivers the server's side, say) would be skipped
 * and counted as a recursion miss. So a second program on the same
 * tracepoint takes the change when, and only when, vg_tcp_state is busy on
 * this CPU: whichever of the two the kernel calls first, every change is
 * handled once. Only a third level of nesting is still missed (and counted). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(vg_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0, *busy = bpf_map_lookup_elem(&tcp_busy, &zero);

	if (!busy)
		return 0;
	*busy = 1;
	vg_tcp_state_change(sk, oldstate, newstate, 0);
	*busy = 0;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(vg_tcp_state_nested, struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0, *busy = bpf_map_lookup_elem(&tcp_busy, &zero);

	if (!busy || !*busy)
		return 0;
	return vg_tcp_state_change(sk, oldstate, newstate, 1);
}

/* ---- DNS ---- */

/* Copies up to n user bytes to data[off...], within VG_DNS_MAX; returns the
 * bytes copied. */
static __always_inline __u32 vg_dns_copy(char *data, __u32 off, const void *src, __u64 n)
{
	__u32 len;

	if (off >= VG_DNS_MAX || !src)
		return 0;
	len = n > VG_DNS_MAX - off ? VG_DNS_MAX - off : (__u32)n;
	vg_barrier_var(len);
	len &= 2 * VG_DNS_MAX - 1;
	if (len > VG_DNS_MAX)
		return 0;
	if (bpf_probe_read_user(&data[off & (VG_DNS_MAX - 1)], len, src))
		return 0;
	return len;
}

/* Is this socket operation talking to port 53? The address the process
 * passed (sendto's destination, recvfrom's source, filled in by the kernel
 * at exit) answers; without one, the connected socket's peer. Cheap on the
 * common path: one small user read, or the fd walk. */
struct vg_dns_peer {
	struct sock *sk;
	struct vg_user_sockaddr sa;
	bool have_sa;
};

static __always_inline bool vg_dns_port(struct task_struct *task, int fd, const void *uaddr,
					__u32 addrlen, struct vg_dns_peer *p)
{
	struct socket *sock;
	struct sock *sk;

	/* locals, not p->x, inside BPF_CORE_READ: p is our own type and must
	 * not get CO-RE relocations */
	if (uaddr && addrlen >= 8) {
		__u32 n = addrlen > VG_SOCKADDR_IN6_LEN ? VG_SOCKADDR_IN6_LEN : addrlen;

		vg_barrier_var(n);
		if (bpf_probe_read_user(&p->sa, n & (sizeof(p->sa) - 1), uaddr))
			return false;
		if (p->sa.family != VG_AF_INET && p->sa.family != VG_AF_INET6)
			return false;
		if (p->sa.port != bpf_htons(VG_DNS_PORT))
			return false;
		p->have_sa = true;
		sock = vg_fd_socket(task, fd, false);
		p->sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
		return true;
	}
	sock = vg_fd_socket(task, fd, false);
	if (!sock)
		return false;
	sk = sock->sk;
	p->sk = sk;
	if (!sk)
		return false;
	return sk->__sk_common.skc_dport == bpf_htons(VG_DNS_PORT);
}

static __always_inline struct vg_dns_scratch *vg_dns_rec(struct task_struct *task,
							 struct pt_regs *regs, __u32 full_len,
							 bool answer, const struct vg_dns_peer *p)
{
	struct vg_dns_scratch *s;
	struct vg_dns *r;
	struct sock *sk = p->sk;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!s) {
		count(VG_CNT_NO_SCRATCH);
		return NULL;
	}
	r = &s->rec;
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.type = VG_REC_DNS;
	r->hdr.flags = answer ? VG_DF_ANSWER : 0;
	r->hdr.time_boot_ns = bpf_ktime_get_boot_ns();
	r->hdr.pid = task->tgid;
	r->hdr.tid = task->pid;
	r->syscall = (__u16)VG_SYSCALL_NR(regs);
	r->full_len = full_len;
	if (sk) {
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

		r->sock_id = (__u64)sk;
		if (BPF_CORE_READ(sk, sk_type) == VG_SOCK_STREAM)
			r->hdr.flags |= VG_DF_STREAM;
		if (vg_sk_inet(sk, family, r->laddr, &r->lport, r->raddr, &r->rport)) {
			r->family = family;
			r->hdr.flags |= VG_DF_LOCAL | VG_DF_REMOTE;
		}
	}
	if (p->have_sa) {
		r->family = p->sa.family;
		r->rport = bpf_ntohs(p->sa.port);
		__builtin_memset(r->raddr, 0, sizeof(r->raddr));
		if (p->sa.family == VG_AF_INET)
			__builtin_memcpy(r->raddr, p->sa.v4, 4);
		else
			__builtin_memcpy(r->raddr, p->sa.v6, 16);
		r->hdr.flags |= VG_DF_REMOTE;
	}
	return s;
}

static __always_inline void vg_dns_send(struct vg_config *cfg, struct vg_dns_scratch *s, __u32 len)
{
	len = vg_clamp(len, VG_DNS_MAX) & (2 * VG_DNS_MAX - 1);
	s->rec.len = len;
	s->rec.hdr.size = sizeof(s->rec) + len;
	emit(cfg, s, sizeof(s->rec) + len);
}

/* Gathers the first two iovecs (glibc's TCP queries are length + message). */
static __always_inline __u32 vg_dns_iov(struct vg_dns_scratch *s, const struct vg_iovec *iov,
					__u64 iovlen, __u64 total)
{
	__u32 off = 0;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		struct vg_iovec v;
		__u32 n;

		if ((__u64)i >= iovlen || off >= total)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		if (v.len > total - off)
			v.len = total - off;
		n = vg_dns_copy(s->data, off, v.base, v.len);
		off += n;
		if (n < v.len)
			break;
	}
	return off;
}

/* One sendmsg/recvmsg message header: port check, capture, send. */
static __always_inline void vg_dns_msg(struct task_struct *task, struct pt_regs *regs,
				       struct vg_config *cfg, int fd, const void *umsg,
				       __u32 bytes, bool answer)
{
	struct vg_user_msghdr m;
	struct vg_dns_peer p = {};
	struct vg_dns_scratch *s;

	if (bpf_probe_read_user(&m, sizeof(m), umsg))
		return;
	if (!vg_dns_port(task, fd, m.namelen ? m.name : NULL, m.namelen, &p))
		return;
	if (excluded_task(task))
		return;
	s = vg_dns_rec(task, regs, bytes, answer, &p);
	if (!s)
		return;
	vg_dns_send(cfg, s, vg_dns_iov(s, m.iov, m.iovlen, bytes));
}

static __always_inline struct vg_config *vg_dns_enabled(long ret)
{
	struct vg_config *cfg;

	if (ret <= 0)
		return NULL;
	cfg = get_config();
	if (!cfg || !(cfg->types & VG_TYPE_DNS))
		return NULL;
	return cfg;
}

/* sendto(fd, buf, len, flags, dest, addrlen) and recvfrom(fd, buf, len,
 * flags, src, *addrlen): at exit src holds the sender and *addrlen its size
 * (0 on a TCP socket, which never fills it in). */
static __always_inline int vg_dns_xfer(struct pt_regs *regs, long ret, bool answer)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vg_config *cfg = vg_dns_enabled(ret);
	struct vg_dns_peer p = {};
	struct vg_dns_scratch *s;
	const void *uaddr = (const void *)VG_ARG4(regs);
	__u32 addrlen = 0;

	if (!cfg)
		return 0;
	if (!answer)
		addrlen = (__u32)VG_ARG5(regs);
	else if (uaddr && VG_ARG5(regs))
		bpf_probe_read_user(&addrlen, sizeof(addrlen), (void *)VG_ARG5(regs));
	if (!vg_dns_port(task, (int)VG_ARG0(regs), addrlen ? uaddr : NULL, addrlen, &p))
		return 0;
	if (excluded_task(task))
		return 0;
	s = vg_dns_rec(task, regs, (__u32)ret, answer, &p);
	if (!s)
		return 0;
	vg_dns_send(cfg, s, vg_dns_copy(s->data, 0, (const void *)VG_ARG1(regs), (__u64)ret));
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_sendto, struct pt_regs *regs, long ret)
{
	return vg_dns_xfer(regs, ret, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_recvfrom, struct pt_regs *regs, long ret)
{
	return vg_dns_xfer(regs, ret, true);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_sendmsg, struct pt_regs *regs, long ret)
{
	struct vg_config *cfg = vg_dns_enabled(ret);

	if (cfg)
		vg_dns_msg(bpf_get_current_task_btf(), regs, cfg, (int)VG_ARG0(regs),
			   (const void *)VG_ARG1(regs), (__u32)ret, false);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_recvmsg, struct pt_regs *regs, long ret)
{
	struct vg_config *cfg = vg_dns_enabled(ret);

	if (cfg)
		vg_dns_msg(bpf_get_current_task_btf(), regs, cfg, (int)VG_ARG0(regs),
			   (const void *)VG_ARG1(regs), (__u32)ret, true);
	return 0;
}

/* sendmmsg and recvmmsg return the number of messages; each mmsghdr says
 * how many bytes of its message went out or came in. glibc sends its A and
 * AAAA queries as one call of two messages. */
static __always_inline int vg_dns_mmsg(struct pt_regs *regs, long ret, bool answer)
{
	struct vg_config *cfg = vg_dns_enabled(ret);
	struct task_struct *task;
	const char *vec = (const char *)VG_ARG1(regs);

	if (!cfg)
		return 0;
	task = bpf_get_current_task_btf();
#pragma unroll
	for (int i = 0; i < 2; i++) {
		__u32 bytes = 0;

		if (i >= ret)
			break;
		if (bpf_probe_read_user(&bytes, sizeof(bytes),
					vec + i * VG_MMSGHDR_SIZE + sizeof(struct vg_user_msghdr)))
			break;
		vg_dns_msg(task, regs, cfg, (int)VG_ARG0(regs), vec + i * VG_MMSGHDR_SIZE, bytes,
			   answer);
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_sendmmsg, struct pt_regs *regs, long ret)
{
	return vg_dns_mmsg(regs, ret, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_recvmmsg, struct pt_regs *regs, long ret)
{
	return vg_dns_mmsg(regs, ret, true);
}


/* write/read/writev/readv on a socket connected to port 53: Go's resolver
 * writes its UDP queries on a connected socket and reads the answers, glibc
 * sends its TCP queries with writev and reads the length and the answer with
 * read. Every read and write of the host comes through here, so the fd is
 * checked to be such a socket first, in a few loads, before anything else. */
static __always_inline int vg_dns_rw(struct pt_regs *regs, long ret, bool answer, bool vec)
{
	struct vg_config *cfg = vg_dns_enabled(ret);
	struct task_struct *task;
	struct vg_dns_peer p = {};
	struct vg_dns_scratch *s;
	struct socket *sock;
	__u32 n;

	if (!cfg)
		return 0;
	task = bpf_get_current_task_btf();
	sock = vg_fd_socket(task, (int)VG_ARG0(regs), true);
	if (!sock)
		return 0;
	p.sk = sock->sk;
	if (!p.sk || p.sk->__sk_common.skc_dport != bpf_htons(VG_DNS_PORT))
		return 0;
	if (excluded_task(task))
		return 0;
	s = vg_dns_rec(task, regs, (__u32)ret, answer, &p);
	if (!s)
		return 0;
	if (vec)
		n = vg_dns_iov(s, (const struct vg_iovec *)VG_ARG1(regs), VG_ARG2(regs), (__u64)ret);
	else
		n = vg_dns_copy(s->data, 0, (const void *)VG_ARG1(regs), (__u64)ret);
	vg_dns_send(cfg, s, n);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_write, struct pt_regs *regs, long ret)
{
	return vg_dns_rw(regs, ret, false, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_read, struct pt_regs *regs, long ret)
{
	return vg_dns_rw(regs, ret, true, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_writev, struct pt_regs *regs, long ret)
{
	return vg_dns_rw(regs, ret, false, true);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_exit_readv, struct pt_regs *regs, long ret)
{
	return vg_dns_rw(regs, ret, true, true);
}

#endif
