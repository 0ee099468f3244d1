/* Network and DNS records, sent by the socket handlers and the TCP state
 * tracepoint (net.bpf.h, in the syscalls.bpf.c object) to their translator
 * (net.c). Layout rules as in process.h: fixed-width fields, the common
 * header first, explicit padding, size asserts. */
#ifndef VIGIL_EBPF_NET_H
#define VIGIL_EBPF_NET_H

#include "sources/ebpf/process.h"

#define VG_REC_NET 18
#define VG_REC_DNS 19

#define VG_TYPE_NET (1u << 6)	/* bind/listen/connect/accept, TCP created/terminated */
#define VG_TYPE_DNS (1u << 7)	/* payloads sent to / received from port 53 */
/* Every TCP state transition (off by default). A high bit: the low ones are
 * handed out to event families in order, this is a sub-toggle of NET. */
#define VG_TYPE_TCP_STATE (1u << 16)

#define VG_UNIX_PATH_MAX 108	/* sizeof(sockaddr_un.sun_path) */
#define VG_UNIX_PATH_BUF 128	/* room in a record: a power of two the verifier can mask to */
#define VG_DNS_MAX 1024		/* payload bytes captured, power of two (verifier masks) */
#define VG_DNS_PORT 53

/* What happened; numbers are part of the record format. */
enum vg_net_op {
	VG_NOP_BIND = 1,
	VG_NOP_LISTEN,
	VG_NOP_CONNECT,
	VG_NOP_ACCEPT,		/* accept, accept4: the new socket */
	VG_NOP_TCP_CREATED,	/* reached ESTABLISHED */
	VG_NOP_TCP_TERMINATED,	/* an established connection reached CLOSE */
	VG_NOP_TCP_STATE,	/* any transition (VG_TYPE_TCP_STATE) */
	VG_NOP_MAX,
};

/* Record flags (hdr.flags). */
#define VG_NF_LOCAL (1u << 0)		/* laddr/lport valid */
#define VG_NF_REMOTE (1u << 1)		/* raddr/rport valid */
#define VG_NF_PASSIVE (1u << 2)		/* TCP: accepted (inbound), else connected */
#define VG_NF_TCP_STATS (1u << 3)	/* bytes/segments valid */
#define VG_NF_START (1u << 4)		/* start_ns valid */
#define VG_NF_FAULT (1u << 5)		/* a user sockaddr could not be read */
#define VG_NF_DIRECTION (1u << 6)	/* VG_NF_PASSIVE is meaningful */

/* One socket operation or TCP lifecycle step. Addresses are in network
 * byte order (IPv4 in the first 4 bytes), ports in host order. AF_UNIX
 * names are the sun_path bytes as the kernel holds them: an abstract name
 * starts with a NUL and may contain anything, so it comes with its length. */
struct vg_net {
	struct vg_rec_hdr hdr;	/* pid 0: owner unknown (softirq, before the agent) */
	__u16 op;		/* enum vg_net_op */
	__u16 syscall;		/* this architecture's number; 0 for TCP lifecycle */
	__s32 ret;		/* syscall return: 0, fd, or -errno */
	__u16 family;		/* AF_* */
	__u16 type;		/* SOCK_STREAM, SOCK_DGRAM, ... (0 unknown) */
	__u16 protocol;		/* IPPROTO_* (0 unknown) */
	__u8 old_state;		/* TCP states (include/net/tcp_states.h) */
	__u8 new_state;
	__u16 lport, rport;
	__s32 fd;		/* the socket's fd (accept: the new one), -1 none */
	__u32 backlog;		/* listen */
	__u16 lpath_len;	/* AF_UNIX name bytes in lpath/rpath, 0 none */
	__u16 rpath_len;
	__u8 laddr[16];
	__u8 raddr[16];
	__u64 sock_id;		/* the kernel's struct sock address (hashed before output) */
	__u64 start_ns;		/* TCP: when it reached ESTABLISHED (boot ns) */
	__u64 bytes_in;		/* TCP payload bytes received (bytes_received) */
	__u64 bytes_out;	/* TCP payload bytes acknowledged by the peer (bytes_acked) */
	__u32 segs_in, segs_out;
	__u32 data_segs_in, data_segs_out;
	/* AF_UNIX names: only a record that has one carries them; the others
	 * end here, at VG_NET_HEAD bytes (TCP lifecycle records are 1/3 the
	 * size, and there are several per connection) */
	char lpath[VG_UNIX_PATH_BUF];
	char rpath[VG_UNIX_PATH_BUF];
};
_Static_assert(sizeof(struct vg_net) == 392, "vg_net layout");
#define VG_NET_HEAD __builtin_offsetof(struct vg_net, lpath)
_Static_assert(VG_NET_HEAD == 136, "vg_net head");

/* DNS message direction (hdr.flags). */
#define VG_DF_ANSWER (1u << 0)		/* received from port 53; else sent to it */
#define VG_DF_REMOTE (1u << 1)		/* raddr/rport valid */
#define VG_DF_LOCAL (1u << 2)		/* laddr/lport valid */
#define VG_DF_STREAM (1u << 3)		/* TCP: the payload has the 2-byte length prefix */

/* A payload sent to or received from port 53: the fixed part, then len
 * bytes of it (the first ones; full_len says how many the syscall moved). */
struct vg_dns {
	struct vg_rec_hdr hdr;
	__u16 syscall;
	__u16 family;		/* the resolver's AF_INET/AF_INET6 */
	__u16 rport, lport;	/* host order */
	__u32 len;		/* payload bytes that follow */
	__u32 full_len;		/* bytes the syscall sent or received */
	__u8 raddr[16];		/* the resolver */
	__u8 laddr[16];
	__u64 sock_id;
	/* then: len payload bytes */
};
_Static_assert(sizeof(struct vg_dns) == 80, "vg_dns layout");

#endif
