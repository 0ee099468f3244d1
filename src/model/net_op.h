/* One socket operation or TCP connection step (the network block), and one
 * DNS message (the dns block), as every source reports them. Strings are
 * borrowed for the duration of the pipeline call. */
#ifndef VIGIL_NET_OP_H
#define VIGIL_NET_OP_H

#include <stdbool.h>
#include <stdint.h>

struct dns_message;	/* enrich/dns.h */

enum net_op_kind {
	NET_OP_BIND = 1,
	NET_OP_LISTEN,
	NET_OP_CONNECT,
	NET_OP_ACCEPT,
	NET_OP_TCP_CREATED,	/* reached ESTABLISHED */
	NET_OP_TCP_TERMINATED,	/* an established connection closed */
	NET_OP_TCP_STATE,	/* any TCP state transition */
};

/* Longest address text: an IPv6 address ("ffff:...:255.255.255.255", 45)
 * or an AF_UNIX name of 108 bytes with every byte escaped as \xHH, plus '@'. */
#define NET_ADDR_TEXT_MAX (1 + 108 * 4 + 1)

struct net_op {
	enum net_op_kind kind;
	const char *syscall;	/* "connect", "accept4", ...; NULL for TCP lifecycle */
	int64_t ret;		/* 0, fd, or -errno */
	int fd;			/* the socket's fd (accept: the new one), -1 unknown */
	const char *family;	/* "AF_INET", "AF_INET6", "AF_UNIX", ...; NULL unknown */
	const char *socket_type;	/* "stream", "dgram", ...; NULL unknown */
	const char *protocol;	/* "tcp", "udp", ...; NULL unknown or none */
	const char *local_address;	/* IP text, or the unix name; NULL unknown */
	const char *remote_address;
	bool has_local_port, has_remote_port;
	uint16_t local_port, remote_port;
	/* AF_UNIX: the name is abstract, written "@name" with bytes outside
	 * 0x21..0x7e and the backslash as \xHH */
	bool local_abstract, remote_abstract;
	bool has_backlog;
	uint32_t backlog;	/* listen */
	uint64_t socket_id;	/* stable for the socket's life, 0 unknown */

	/* TCP lifecycle */
	const char *tcp_old_state, *tcp_new_state;	/* "SYN_SENT", ...; NULL n/a */
	const char *direction;	/* "outbound", "inbound"; NULL unknown */
	bool has_tcp_stats;
	uint64_t bytes_in, bytes_out;
	uint32_t segs_in, segs_out;
	uint32_t data_segs_in, data_segs_out;
	uint64_t created_real_ns;	/* reached ESTABLISHED, Unix ns; 0 unknown */
	bool has_duration;
	uint64_t duration_ns;		/* Terminated: created -> closed */
};

struct dns_op {
	bool answer;		/* received from port 53 (DNS Answer); else sent (DNS Query) */
	const char *syscall;
	const char *protocol;	/* "udp", "tcp" */
	const char *resolver_address;	/* NULL unknown */
	bool has_resolver_port;
	uint16_t resolver_port;
	uint64_t socket_id;
	uint32_t payload_bytes;	/* bytes the syscall moved */
	bool payload_truncated;	/* only the first bytes were captured */
	bool header_valid;	/* msg holds at least the header */
	const struct dns_message *msg;	/* parsed (possibly partly: see parse_error) */
	const char *parse_error;	/* NULL when the whole message parsed */
};

#endif
