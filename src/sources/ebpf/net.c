/* Translates network and DNS records (net.h) into pipeline calls: binary
 * addresses to text, kernel numbers to names, DNS payloads through the
 * parser. Every length in a record is checked before it is used. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>

#include "agent/pipeline.h"
#include "enrich/dns.h"
#include "model/net_op.h"
#include "sources/ebpf/net.h"
#include "sources/ebpf/net_rec.h"

static const char *syscall_name(unsigned nr)
{
	switch (nr) {
#define N(x) case SYS_##x: return #x;
	N(bind) N(listen) N(connect) N(accept) N(accept4) N(sendto) N(sendmsg) N(sendmmsg)
	N(recvfrom) N(recvmsg) N(recvmmsg) N(write) N(writev) N(read) N(readv)
#undef N
	}
	return NULL;
}

/* The record's syscall must be one that does its op: anything else is a
 * record we cannot trust. */
static bool syscall_matches(uint16_t op, unsigned nr)
{
	switch (op) {
	case VG_NOP_BIND: return nr == SYS_bind;
	case VG_NOP_LISTEN: return nr == SYS_listen;
	case VG_NOP_CONNECT: return nr == SYS_connect;
	case VG_NOP_ACCEPT: return nr == SYS_accept || nr == SYS_accept4;
	}
	return true;	/* TCP lifecycle: no syscall */
}

int net_rec__format_ip(uint16_t family, const uint8_t addr[16], char *out, size_t outlen)
{
	char tmp[INET6_ADDRSTRLEN];
	size_t n;

	if (family == AF_INET) {
		/* glibc's inet_ntop formats IPv4 with sprintf: two per network
		 * event showed in profiles */
		size_t o = 0;

		for (int i = 0; i < 4; i++) {
			unsigned v = addr[i];

			if (i)
				tmp[o++] = '.';
			if (v >= 100)
				tmp[o++] = (char)('0' + v / 100);
			if (v >= 10)
				tmp[o++] = (char)('0' + v / 10 % 10);
			tmp[o++] = (char)('0' + v % 10);
		}
		tmp[o] = '\0';
	} else if (family != AF_INET6) {
		return -EAFNOSUPPORT;
	} else if (!inet_ntop(family, addr, tmp, sizeof(tmp))) {
		return -EAFNOSUPPORT;
	}
	n = strlen(tmp);
	if (n + 1 > outlen)
		return -ENOSPC;
	memcpy(out, tmp, n + 1);
	return 0;
}

int net_rec__format_unix(const char *path, size_t len, char *out, size_t outlen, bool *abstract)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	*abstract = false;
	if (outlen == 0)
		return -ENOSPC;
	out[0] = '\0';
	if (len == 0)
		return 0;
	if (path[0] != '\0') {
		size_t n = strnlen(path, len);

		if (n + 1 > outlen)
			return -ENOSPC;
		memcpy(out, path, n);
		out[n] = '\0';
		return (int)n;
	}
	*abstract = true;
	out[o++] = '@';
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c > 0x20 && c < 0x7f && c != '\\') {
			if (o + 2 > outlen)
				return -ENOSPC;
			out[o++] = (char)c;
		} else {
			if (o + 5 > outlen)
				return -ENOSPC;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o + 1 > outlen)
		return -ENOSPC;
	out[o] = '\0';
	return (int)o;
}

const char *net_rec__family_name(uint16_t family)
{
	switch (family) {
	case AF_UNSPEC: return "AF_UNSPEC";
	case AF_UNIX: return "AF_UNIX";
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_NETLINK: return "AF_NETLINK";
	case AF_PACKET: return "AF_PACKET";
	case AF_VSOCK: return "AF_VSOCK";
	case AF_BLUETOOTH: return "AF_BLUETOOTH";
	case AF_ALG: return "AF_ALG";
	case AF_XDP: return "AF_XDP";
	}
	return NULL;
}

const char *net_rec__socket_type_name(uint16_t type)
{
	/* the kernel keeps SOCK_NONBLOCK/SOCK_CLOEXEC out of sock->type, but
	 * a source may pass the socket() argument: mask them */
	switch (type & 0xf) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "dgram";
	case SOCK_RAW: return "raw";
	case SOCK_RDM: return "rdm";
	case SOCK_SEQPACKET: return "seqpacket";
	case SOCK_DCCP: return "dccp";
	case SOCK_PACKET: return "packet";
	}
	return NULL;
}

const char *net_rec__protocol_name(uint16_t family, uint16_t protocol)
{
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	switch (protocol) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_UDPLITE: return "udplite";
	case IPPROTO_MPTCP: return "mptcp";
	case IPPROTO_RAW: return "raw";
	}
	return NULL;
}

const char *net_rec__tcp_state_name(uint8_t state)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT",	 [3] = "SYN_RECV",   [4] = "FIN_WAIT1",
		[5] = "FIN_WAIT2",   [6] = "TIME_WAIT",	 [7] = "CLOSE",	     [8] = "CLOSE_WAIT",
		[9] = "LAST_ACK",    [10] = "LISTEN",	 [11] = "CLOSING",   [12] = "NEW_SYN_RECV",
		[13] = "BOUND_INACTIVE",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : NULL;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t net_rec__socket_id(uint64_t kernel_addr)
{
	static uint64_t key[2];
	static int have_key;

	if (!kernel_addr)
		return 0;
	if (!have_key) {
		if (getrandom(key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key)) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			key[0] = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
			key[1] = mix64(key[0] ^ (uint64_t)(uintptr_t)&ts);
		}
		have_key = 1;
	}
	/* keyed, and the multiplications keep address differences from
	 * showing through; never 0 */
	return mix64(mix64(kernel_addr ^ key[0]) ^ key[1]) | 1;
}

struct addr_text {
	char local[NET_ADDR_TEXT_MAX];
	char remote[NET_ADDR_TEXT_MAX];
};

static void fill_addresses(const struct vg_net *r, struct net_op *op, struct addr_text *t)
{
	if (r->family == AF_UNIX) {
		if (net_rec__format_unix(r->lpath, r->lpath_len, t->local, sizeof(t->local),
					 &op->local_abstract) > 0)
			op->local_address = t->local;
		if (net_rec__format_unix(r->rpath, r->rpath_len, t->remote, sizeof(t->remote),
					 &op->remote_abstract) > 0)
			op->remote_address = t->remote;
		return;
	}
	if ((r->hdr.flags & VG_NF_LOCAL) &&
	    net_rec__format_ip(r->family, r->laddr, t->local, sizeof(t->local)) == 0) {
		op->local_address = t->local;
		op->has_local_port = true;
		op->local_port = r->lport;
	}
	if ((r->hdr.flags & VG_NF_REMOTE) &&
	    net_rec__format_ip(r->family, r->raddr, t->remote, sizeof(t->remote)) == 0) {
		op->remote_address = t->remote;
		op->has_remote_port = true;
		op->remote_port = r->rport;
	}
}

int net_rec__handle(struct pipeline *pl, const void *data, size_t size)
{
	struct vg_net rec;
	const struct vg_net *r = &rec;
	struct net_op op = { 0 };
	struct addr_text t;
	bool lifecycle;

	/* a record without unix names ends before them */
	if (size != sizeof(rec) && size != VG_NET_HEAD)
		return -EBADMSG;
	memcpy(&rec, data, size);
	if (size == VG_NET_HEAD) {
		if (rec.lpath_len || rec.rpath_len)
			return -EBADMSG;
		memset(rec.lpath, 0, sizeof(rec.lpath) + sizeof(rec.rpath));
	}
	if (r->op == 0 || r->op >= VG_NOP_MAX ||
	    r->lpath_len > VG_UNIX_PATH_MAX || r->rpath_len > VG_UNIX_PATH_MAX ||
	    !syscall_matches(r->op, r->syscall) || r->ret < -4095)
		return -EBADMSG;	/* a syscall fails with -1..-4095 (MAX_ERRNO) */
	lifecycle = r->op >= VG_NOP_TCP_CREATED;
	if (lifecycle && !net_rec__tcp_state_name(r->new_state))
		return -EBADMSG;
	op.kind = (enum net_op_kind)r->op;	/* the numbers match by design */
	op.syscall = lifecycle ? NULL : syscall_name(r->syscall);
	op.ret = r->ret;
	op.fd = r->fd >= 0 ? r->fd : -1;
	op.family = net_rec__family_name(r->family);
	op.socket_type = net_rec__socket_type_name(r->type);
	op.protocol = net_rec__protocol_name(r->family, r->protocol);
	fill_addresses(r, &op, &t);
	if (r->op == VG_NOP_LISTEN) {
		op.has_backlog = true;
		op.backlog = r->backlog;
	}
	op.socket_id = net_rec__socket_id(r->sock_id);
	if (lifecycle) {
		op.tcp_old_state = net_rec__tcp_state_name(r->old_state);
		op.tcp_new_state = net_rec__tcp_state_name(r->new_state);
		if (r->hdr.flags & VG_NF_DIRECTION)
			op.direction = (r->hdr.flags & VG_NF_PASSIVE) ? "inbound" : "outbound";
	}
	if (r->hdr.flags & VG_NF_TCP_STATS) {
		op.has_tcp_stats = true;
		op.bytes_in = r->bytes_in;
		op.bytes_out = r->bytes_out;
		op.segs_in = r->segs_in;
		op.segs_out = r->segs_out;
		op.data_segs_in = r->data_segs_in;
		op.data_segs_out = r->data_segs_out;
	}
	if ((r->hdr.flags & VG_NF_START) && r->start_ns) {
		op.created_real_ns = pipeline__boot_to_real(pl, r->start_ns);
		if (r->op == VG_NOP_TCP_TERMINATED && r->hdr.time_boot_ns >= r->start_ns) {
			op.has_duration = true;
			op.duration_ns = r->hdr.time_boot_ns - r->start_ns;
		}
	}
	pipeline__on_net(pl, r->hdr.pid, r->hdr.tid, &op, r->hdr.time_boot_ns);
	return 0;
}

/* The syscalls the DNS handlers capture, each in its direction. */
static bool dns_syscall(unsigned nr, bool answer)
{
	switch (nr) {
	case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg: case SYS_write: case SYS_writev:
		return !answer;
	case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg: case SYS_read: case SYS_readv:
		return answer;
	}
	return false;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int dns_rec__handle(struct pipeline *pl, const void *data, size_t size)
{
	const struct vg_dns *r = data;
	const uint8_t *payload = (const uint8_t *)(r + 1);
	/* ~20 KiB: not on the stack; the event loop is single-threaded */
	static struct dns_message msg;
	struct dns_op op = { 0 };
	char resolver[NET_ADDR_TEXT_MAX], why[256];
	size_t len;
	bool stream, framed = false;
	int rc;

	if (size < sizeof(*r) || r->len > VG_DNS_MAX || size != sizeof(*r) + r->len ||
	    r->len > r->full_len ||
	    !dns_syscall(r->syscall, r->hdr.flags & VG_DF_ANSWER))
		return -EBADMSG;
	len = r->len;
	stream = r->hdr.flags & VG_DF_STREAM;
	if (stream) {
		/* A TCP sender may write the 2-byte length alone, then the
		 * message: the prefix alone is not a message, and a message
		 * without one parses as it is. */
		if (r->full_len <= 2)
			return 0;
		framed = len >= 2 && get16(payload) >= 12 && get16(payload) <= r->full_len - 2;
	}
	if (framed && get16(payload) > len - 2) {
		/* framed, but only the start was captured: parse what is here */
		rc = dns__parse(payload + 2, len - 2, false, &msg, why, sizeof(why));
		op.header_valid = len - 2 >= 12;
	} else {
		rc = dns__parse(payload, len, framed, &msg, why, sizeof(why));
		op.header_valid = framed ? true : len >= 12;
	}
	if (rc == -EINVAL)
		op.header_valid = false;
	op.answer = r->hdr.flags & VG_DF_ANSWER;
	op.syscall = syscall_name(r->syscall);
	op.protocol = stream ? "tcp" : "udp";
	if ((r->hdr.flags & VG_DF_REMOTE) &&
	    net_rec__format_ip(r->family, r->raddr, resolver, sizeof(resolver)) == 0) {
		op.resolver_address = resolver;
		op.has_resolver_port = true;
		op.resolver_port = r->rport;
	}
	op.socket_id = net_rec__socket_id(r->sock_id);
	op.payload_bytes = r->full_len;
	op.payload_truncated = r->len < r->full_len;
	op.msg = &msg;
	op.parse_error = rc ? why : NULL;
	if (rc && !why[0])
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	pipeline__on_dns(pl, r->hdr.pid, r->hdr.tid, &op, r->hdr.time_boot_ns);
	return 0;
}
