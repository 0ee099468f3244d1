/* Network and DNS record translation (sources/ebpf/net.c): address and name
 * formatting, record validation, and whole records through a real pipeline
 * into JSON lines that the schema validator must accept, including
 * hostile records and payloads. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/pipeline.h"
#include "lib/config.h"
#include "model/net_op.h"
#include "output/host.h"
#include "output/sink.h"
#include "sources/ebpf/net.h"
#include "sources/ebpf/net_rec.h"
#include "unit.h"

static const char *srcdir = ".";

/* ---- a sink that keeps the lines ---- */

static FILE *captured;
static unsigned captured_lines;
static char last_line[1 << 16];

static int cap_write(struct sink *s, const char *line, size_t len)
{
	(void)s;
	fwrite(line, 1, len, captured);
	captured_lines++;
	if (len >= sizeof(last_line))
		len = sizeof(last_line) - 1;
	memcpy(last_line, line, len);
	last_line[len] = '\0';
	return 0;
}

static const struct sink_ops cap_ops = { .name = "capture", .write = cap_write };

/* ---- pure helpers ---- */

static void test_format_ip(void)
{
	uint8_t a[16] = { 0 };
	char out[64];

	inet_pton(AF_INET, "127.0.0.1", a);
	CHECK_INT(net_rec__format_ip(AF_INET, a, out, sizeof(out)), 0);
	CHECK_STR(out, "127.0.0.1");
	inet_pton(AF_INET6, "::1", a);
	CHECK_INT(net_rec__format_ip(AF_INET6, a, out, sizeof(out)), 0);
	CHECK_STR(out, "::1");
	inet_pton(AF_INET6, "::ffff:10.0.0.1", a);
	CHECK_INT(net_rec__format_ip(AF_INET6, a, out, sizeof(out)), 0);
	CHECK_STR(out, "::ffff:10.0.0.1");
	memset(a, 0xff, sizeof(a));
	CHECK_INT(net_rec__format_ip(AF_INET6, a, out, sizeof(out)), 0);
	CHECK_STR(out, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	CHECK_INT(net_rec__format_ip(AF_INET6, a, out, 39), -ENOSPC);	/* no room for the NUL */
	CHECK_INT(net_rec__format_ip(AF_INET6, a, out, 40), 0);
	CHECK_INT(net_rec__format_ip(AF_UNIX, a, out, sizeof(out)), -EAFNOSUPPORT);
	CHECK_INT(net_rec__format_ip(0, a, out, sizeof(out)), -EAFNOSUPPORT);
	/* IPv4 is formatted by hand: every octet value in every position
	 * agrees with inet_ntop */
	for (unsigned v = 0; v < 256; v++) {
		char want[INET_ADDRSTRLEN];

		a[0] = (uint8_t)v;
		a[1] = (uint8_t)(255 - v);
		a[2] = (uint8_t)(v * 7);
		a[3] = (uint8_t)(v / 3);
		inet_ntop(AF_INET, a, want, sizeof(want));
		CHECK_INT(net_rec__format_ip(AF_INET, a, out, sizeof(out)), 0);
		CHECK_STR(out, want);
	}
	memset(a, 0xff, 4);
	CHECK_INT(net_rec__format_ip(AF_INET, a, out, 15), -ENOSPC);	/* 255.255.255.255 + NUL */
	CHECK_INT(net_rec__format_ip(AF_INET, a, out, 16), 0);
}

static void test_format_unix(void)
{
	char path[VG_UNIX_PATH_MAX], out[NET_ADDR_TEXT_MAX];
	bool abs = true;

	/* a path, NUL-padded as the kernel keeps it */
	memset(path, 0, sizeof(path));
	strcpy(path, "/run/x.sock");
	CHECK_INT(net_rec__format_unix(path, sizeof(path), out, sizeof(out), &abs), 11);
	CHECK_STR(out, "/run/x.sock");
	CHECK(!abs);
	/* a path that fills sun_path without a NUL ends at the length */
	memset(path, 'p', sizeof(path));
	CHECK_INT(net_rec__format_unix(path, sizeof(path), out, sizeof(out), &abs),
		  VG_UNIX_PATH_MAX);
	CHECK_INT(strlen(out), VG_UNIX_PATH_MAX);
	CHECK_INT(net_rec__format_unix(path, sizeof(path), out, VG_UNIX_PATH_MAX, &abs), -ENOSPC);
	/* unnamed */
	CHECK_INT(net_rec__format_unix(path, 0, out, sizeof(out), &abs), 0);
	CHECK_STR(out, "");
	CHECK(!abs);
	/* abstract: NULs, newline, backslash, space and high bytes escaped */
	memcpy(path, "\0ab\n\\ c\0\xff", 9);
	CHECK_INT(net_rec__format_unix(path, 9, out, sizeof(out), &abs), 1 + 2 + 4 + 4 + 4 + 1 + 4 + 4);
	CHECK_STR(out, "@ab\\x0a\\x5c\\x20c\\x00\\xff");
	CHECK(abs);
	/* the empty abstract name */
	CHECK_INT(net_rec__format_unix(path, 1, out, sizeof(out), &abs), 1);
	CHECK_STR(out, "@");
	/* the worst case fits the documented size exactly */
	memset(path, 0, sizeof(path));
	memset(path + 1, 0xfe, sizeof(path) - 1);
	CHECK_INT(net_rec__format_unix(path, sizeof(path), out, sizeof(out), &abs),
		  1 + 4 * (VG_UNIX_PATH_MAX - 1));
	CHECK_INT(net_rec__format_unix(path, sizeof(path), out, 4 * (VG_UNIX_PATH_MAX - 1) + 1, &abs),
		  -ENOSPC);
	CHECK_INT(net_rec__format_unix(path, sizeof(path), out, 0, &abs), -ENOSPC);
}

static void test_names(void)
{
	CHECK_STR(net_rec__family_name(AF_INET), "AF_INET");
	CHECK_STR(net_rec__family_name(AF_INET6), "AF_INET6");
	CHECK_STR(net_rec__family_name(AF_UNIX), "AF_UNIX");
	CHECK(net_rec__family_name(999) == NULL);
	CHECK_STR(net_rec__socket_type_name(SOCK_STREAM), "stream");
	CHECK_STR(net_rec__socket_type_name(SOCK_DGRAM | SOCK_NONBLOCK), "dgram");
	CHECK(net_rec__socket_type_name(0) == NULL);
	CHECK(net_rec__socket_type_name(15) == NULL);
	CHECK_STR(net_rec__protocol_name(AF_INET6, IPPROTO_TCP), "tcp");
	CHECK_STR(net_rec__protocol_name(AF_INET, IPPROTO_UDP), "udp");
	CHECK(net_rec__protocol_name(AF_UNIX, 0) == NULL);
	CHECK(net_rec__protocol_name(AF_INET, 0) == NULL);
	CHECK_STR(net_rec__tcp_state_name(1), "ESTABLISHED");
	CHECK_STR(net_rec__tcp_state_name(7), "CLOSE");
	CHECK_STR(net_rec__tcp_state_name(13), "BOUND_INACTIVE");
	CHECK(net_rec__tcp_state_name(0) == NULL);
	CHECK(net_rec__tcp_state_name(14) == NULL);
	CHECK(net_rec__tcp_state_name(255) == NULL);
}

static void test_socket_id(void)
{
	uint64_t a = net_rec__socket_id(0xffff888012345600ull);

	CHECK_INT(net_rec__socket_id(0), 0);
	CHECK(a != 0);
	CHECK(a != 0xffff888012345600ull);
	CHECK(a == net_rec__socket_id(0xffff888012345600ull));
	CHECK(a != net_rec__socket_id(0xffff888012345640ull));
	/* neighbours do not differ in a pattern that gives the address away */
	CHECK((a ^ net_rec__socket_id(0xffff888012345640ull)) != 0x40);
}

/* ---- records through the pipeline ---- */

static struct vg_net net_rec(uint16_t op, int32_t ret)
{
	struct vg_net r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = VG_REC_NET;
	r.hdr.size = sizeof(r);
	r.hdr.time_boot_ns = 5000000000ull;
	r.hdr.pid = 424242;
	r.hdr.tid = 424243;
	static const unsigned nr[VG_NOP_MAX] = {
		[VG_NOP_BIND] = SYS_bind, [VG_NOP_LISTEN] = SYS_listen,
		[VG_NOP_CONNECT] = SYS_connect, [VG_NOP_ACCEPT] = SYS_accept4,
	};

	r.op = op;
	r.syscall = op < VG_NOP_MAX ? (uint16_t)nr[op] : 0;
	r.ret = ret;
	r.fd = 3;
	r.new_state = 1;
	r.sock_id = 0xffff888000001000ull;
	return r;
}

static int net_line(struct pipeline *pl, const struct vg_net *r, const char *needle)
{
	unsigned before = captured_lines;
	int rc = net_rec__handle(pl, r, sizeof(*r));

	if (rc)
		return rc;
	if (captured_lines != before + 1)
		return -ENOENT;
	if (needle && !strstr(last_line, needle)) {
		fprintf(stderr, "missing %s in %s", needle, last_line);
		return -ENOMSG;
	}
	return 0;
}

static void test_net_records(struct pipeline *pl)
{
	struct vg_net r;
	unsigned before;

	/* validation: nothing reaches the pipeline */
	before = captured_lines;
	r = net_rec(VG_NOP_CONNECT, 0);
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r) - 1), -EBADMSG);
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r) + 8), -EBADMSG);
	r.op = 0;
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	r.op = VG_NOP_MAX;
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	r = net_rec(VG_NOP_CONNECT, 0);
	r.syscall = SYS_bind;	/* a syscall that does not connect */
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	r = net_rec(VG_NOP_ACCEPT, 0);
	r.syscall = SYS_accept;
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), 0);	/* accept and accept4 both */
	before++;
	r = net_rec(VG_NOP_CONNECT, -4096);	/* not an errno */
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	r = net_rec(VG_NOP_TCP_CREATED, 0);
	r.new_state = 0;	/* a lifecycle step to no state */
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	r.new_state = 14;
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	/* the short form has no room for names */
	r = net_rec(VG_NOP_BIND, 0);
	r.lpath_len = 1;
	CHECK_INT(net_rec__handle(pl, &r, VG_NET_HEAD), -EBADMSG);
	r.lpath_len = 0;
	CHECK_INT(net_rec__handle(pl, &r, VG_NET_HEAD + 1), -EBADMSG);
	CHECK_INT(net_rec__handle(pl, &r, VG_NET_HEAD - 1), -EBADMSG);
	r = net_rec(VG_NOP_BIND, 0);
	r.lpath_len = VG_UNIX_PATH_MAX + 1;
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	r = net_rec(VG_NOP_BIND, 0);
	r.rpath_len = 0xffff;
	CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), -EBADMSG);
	CHECK_INT(captured_lines, before);

	/* a non-blocking connect */
	r = net_rec(VG_NOP_CONNECT, -EINPROGRESS);
	r.family = AF_INET;
	r.type = SOCK_STREAM;
	r.protocol = IPPROTO_TCP;
	r.hdr.flags = VG_NF_REMOTE | VG_NF_LOCAL;
	inet_pton(AF_INET, "10.0.0.1", r.raddr);
	r.rport = 443;
	inet_pton(AF_INET, "10.0.0.2", r.laddr);
	r.lport = 50000;
	CHECK_INT(net_line(pl, &r, "\"network_result\":\"in_progress\",\"network_errno\":115,"
			   "\"network_error_name\":\"EINPROGRESS\""), 0);
	CHECK(strstr(last_line, "\"name\":\"Network Connect\"") != NULL);
	CHECK(strstr(last_line, "\"network_remote_address\":\"10.0.0.1\","
				"\"network_remote_port\":443") != NULL);
	CHECK(strstr(last_line, "\"network_local_address\":\"10.0.0.2\","
				"\"network_local_port\":50000") != NULL);
	/* the unknown process is not root */
	CHECK(strstr(last_line, "\"process_id\":424242") != NULL);
	CHECK(strstr(last_line, "\"process_real_user_id\":null") != NULL);
	/* flags off: the addresses are not invented */
	r.hdr.flags = 0;
	CHECK_INT(net_line(pl, &r, "\"network_remote_address\":null,\"network_remote_port\":null"),
		  0);

	/* a failed bind of a unix path; its family alone says AF_UNIX */
	r = net_rec(VG_NOP_BIND, -EADDRINUSE);
	r.family = AF_UNIX;
	r.type = SOCK_STREAM;
	memcpy(r.lpath, "/run/a.sock", 11);
	r.lpath_len = 11;	/* no NUL: still cut at the length */
	CHECK_INT(net_line(pl, &r, "\"network_local_address\":\"/run/a.sock\","
			   "\"network_local_port\":null,\"network_local_abstract\":false"), 0);
	CHECK(strstr(last_line, "\"network_protocol\":null") != NULL);
	CHECK(strstr(last_line, "\"network_error_name\":\"EADDRINUSE\"") != NULL);

	/* accept of an abstract listener by an unnamed peer */
	r = net_rec(VG_NOP_ACCEPT, 5);
	r.family = AF_UNIX;
	r.type = SOCK_SEQPACKET;
	memcpy(r.lpath, "\0x\"y", 4);
	r.lpath_len = 4;
	CHECK_INT(net_line(pl, &r, "\"network_local_address\":\"@x\\\"y\","), 0);
	CHECK(strstr(last_line, "\"network_local_abstract\":true") != NULL);
	CHECK(strstr(last_line, "\"network_remote_address\":null") != NULL);
	CHECK(strstr(last_line, "\"network_socket_type\":\"seqpacket\"") != NULL);

	/* listen: the backlog; the short form (no names) */
	r = net_rec(VG_NOP_LISTEN, 0);
	r.family = AF_INET6;
	r.backlog = 4096;
	CHECK_INT(net_line(pl, &r, "\"network_listen_backlog\":4096"), 0);
	before = captured_lines;
	memset(r.lpath, 'x', sizeof(r.lpath));	/* beyond the record: never read */
	r.family = AF_UNIX;
	CHECK_INT(net_rec__handle(pl, &r, VG_NET_HEAD), 0);
	CHECK_INT(captured_lines, before + 1);
	CHECK(strstr(last_line, "\"network_local_address\":null") != NULL);

	/* a connection's end: duration from its start, averages per data segment */
	r = net_rec(VG_NOP_TCP_TERMINATED, 0);
	r.family = AF_INET6;
	r.type = SOCK_STREAM;
	r.protocol = IPPROTO_TCP;
	r.hdr.flags = VG_NF_LOCAL | VG_NF_REMOTE | VG_NF_TCP_STATS | VG_NF_START |
		      VG_NF_DIRECTION | VG_NF_PASSIVE;
	r.old_state = 9;
	r.new_state = 7;
	r.start_ns = 4000000000ull;
	r.bytes_in = 1000;
	r.bytes_out = 10;
	r.segs_in = 9;
	r.segs_out = 7;
	r.data_segs_in = 4;
	r.data_segs_out = 0;
	inet_pton(AF_INET6, "::1", r.laddr);
	inet_pton(AF_INET6, "::1", r.raddr);
	CHECK_INT(net_line(pl, &r, "\"tcp_connection_overall_duration_ns\":1000000000}"), 0);
	CHECK(strstr(last_line, "\"network_direction\":\"inbound\"") != NULL);
	CHECK(strstr(last_line, "\"tcp_connection_state\":\"CLOSE\",\"tcp_previous_state\":"
				"\"LAST_ACK\"") != NULL);
	CHECK(strstr(last_line, "\"tcp_average_bytes_in\":250,\"tcp_average_bytes_out\":null") !=
	      NULL);
	CHECK(strstr(last_line, "\"network_operation\":\"tcp_state_change\",\"network_result\":"
				"null") != NULL);
	CHECK(strstr(last_line, "\"name\":\"Network Connection Terminated\"") != NULL);
	/* a start after the end (a hostile or broken record): no duration */
	r.start_ns = 6000000000ull;
	CHECK_INT(net_line(pl, &r, "\"tcp_connection_overall_duration_ns\":null}"), 0);
	/* unknown owner (softirq, never accepted): pid 0 */
	r.hdr.pid = r.hdr.tid = 0;
	r.hdr.flags &= ~VG_NF_DIRECTION;
	CHECK_INT(net_line(pl, &r, "\"network_direction\":null"), 0);
	CHECK(strstr(last_line, "\"process_id\":0,") != NULL);
	CHECK(strstr(last_line, "\"parent_process_details\":null") != NULL);
	/* a state outside the table: the step before it */
	r.old_state = 200;
	CHECK_INT(net_line(pl, &r, "\"tcp_previous_state\":null"), 0);
	/* every op, every byte pattern: must never fail to serialize */
	for (unsigned i = 0; i < 2000; i++) {
		uint8_t *p = (uint8_t *)&r;

		for (size_t k = 0; k < sizeof(r); k++)
			p[k] = (uint8_t)rand();
		r.hdr.type = VG_REC_NET;
		r.hdr.size = sizeof(r);
		/* every op but the state change, which is off by default */
		r.op = (uint16_t)(1 + i % VG_NOP_TCP_TERMINATED);
		r.syscall = net_rec(r.op, 0).syscall;
		r.new_state = (uint8_t)(1 + r.new_state % 13);
		if (r.ret < -4095)
			r.ret = -(r.ret & 4095);
		r.lpath_len %= VG_UNIX_PATH_MAX + 1;
		r.rpath_len %= VG_UNIX_PATH_MAX + 1;
		if (i % 3 == 0)
			r.family = AF_UNIX;
		r.hdr.pid = 424242;
		r.hdr.time_boot_ns %= 1ull << 60;
		r.start_ns %= 1ull << 60;
		CHECK_INT(net_line(pl, &r, NULL), 0);
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A query for www.example.com, type A: 33 bytes. */
static size_t make_query(uint8_t *p, uint16_t id)
{
	static const uint8_t q[] = { 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
				     3, 'c', 'o', 'm', 0, 0, 1, 0, 1 };

	memset(p, 0, 12);
	put16(p, id);
	put16(p + 2, 0x0100);
	put16(p + 4, 1);
	memcpy(p + 12, q, sizeof(q));
	return 12 + sizeof(q);
}

struct dns_rec_buf {
	struct vg_dns r;
	uint8_t data[VG_DNS_MAX + 64];
};

static int dns_line(struct pipeline *pl, struct dns_rec_buf *b, size_t len, const char *needle)
{
	unsigned before = captured_lines;
	int rc;

	b->r.hdr.type = VG_REC_DNS;
	b->r.hdr.size = (uint32_t)(sizeof(b->r) + len);
	b->r.len = (uint32_t)len;
	if (!b->r.full_len)
		b->r.full_len = (uint32_t)len;
	rc = dns_rec__handle(pl, b, sizeof(b->r) + len);
	if (rc)
		return rc;
	if (captured_lines != before + 1)
		return -ENOENT;
	if (needle && !strstr(last_line, needle)) {
		fprintf(stderr, "missing %s in %s", needle, last_line);
		return -ENOMSG;
	}
	return 0;
}

static void dns_init(struct dns_rec_buf *b, uint16_t flags)
{
	memset(b, 0, sizeof(*b));
	b->r.hdr.pid = 424242;
	b->r.hdr.tid = 424242;
	b->r.hdr.time_boot_ns = 7000000000ull;
	b->r.hdr.flags = flags | VG_DF_REMOTE;
	b->r.syscall = flags & VG_DF_ANSWER ? SYS_recvfrom : SYS_sendto;
	b->r.family = AF_INET;
	inet_pton(AF_INET, "127.0.0.53", b->r.raddr);
	b->r.rport = 53;
	b->r.sock_id = 0xffff888000002000ull;
}

static void test_dns_records(struct pipeline *pl)
{
	static struct dns_rec_buf b;
	unsigned before;
	size_t n;

	/* validation */
	before = captured_lines;
	dns_init(&b, 0);
	n = make_query(b.data, 0x1234);
	b.r.len = (uint32_t)n;
	b.r.full_len = (uint32_t)n;
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) - 1), -EBADMSG);
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) + n - 1), -EBADMSG);	/* len disagrees */
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) + n + 1), -EBADMSG);
	b.r.full_len = (uint32_t)n - 1;	/* captured more than was sent */
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) + n), -EBADMSG);
	b.r.len = VG_DNS_MAX + 1;
	b.r.full_len = VG_DNS_MAX + 1;
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) + VG_DNS_MAX + 1), -EBADMSG);
	b.r.len = (uint32_t)n;
	b.r.full_len = (uint32_t)n;
	b.r.syscall = SYS_bind;	/* not one that moves a payload */
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) + n), -EBADMSG);
	CHECK_INT(captured_lines, before);

	/* a UDP query */
	dns_init(&b, 0);
	n = make_query(b.data, 0x1234);
	CHECK_INT(dns_line(pl, &b, n, "\"dns_query_names\":[\"www.example.com\"],\"dns_questions\":"
				      "[{\"name\":\"www.example.com\",\"type\":\"A\",\"class\":1}]"),
		  0);
	CHECK(strstr(last_line, "\"name\":\"DNS Query\"") != NULL);
	CHECK(strstr(last_line, "\"dns_transaction_id\":4660") != NULL);
	CHECK(strstr(last_line, "\"dns_resolver_address\":\"127.0.0.53\",\"dns_resolver_port\":53") !=
	      NULL);
	CHECK(strstr(last_line, "\"dns_response_code\":null") != NULL);
	CHECK(strstr(last_line, "\"dns_protocol\":\"udp\"") != NULL);
	CHECK(strstr(last_line, "\"dns_parse_error\":null") != NULL);

	/* an answer: A record, compressed name */
	dns_init(&b, VG_DF_ANSWER);
	n = make_query(b.data, 0x1234);
	put16(b.data + 2, 0x8183);	/* NXDOMAIN, but with an answer anyway */
	put16(b.data + 6, 1);
	{
		static const uint8_t an[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 1 };

		memcpy(b.data + n, an, sizeof(an));
		n += sizeof(an);
	}
	CHECK_INT(dns_line(pl, &b, n, "\"dns_answers\":[{\"name\":\"www.example.com\",\"type\":\"A\","
				      "\"class\":1,\"ttl\":256,\"data\":\"192.0.2.1\"}]"), 0);
	CHECK(strstr(last_line, "\"name\":\"DNS Answer\"") != NULL);
	CHECK(strstr(last_line, "\"dns_response_code\":\"NXDOMAIN\"") != NULL);

	/* TCP: framed */
	dns_init(&b, VG_DF_STREAM);
	n = make_query(b.data + 2, 0x77);
	put16(b.data, (uint16_t)n);
	CHECK_INT(dns_line(pl, &b, n + 2, "\"dns_transaction_id\":119"), 0);
	CHECK(strstr(last_line, "\"dns_protocol\":\"tcp\"") != NULL);
	CHECK(strstr(last_line, "\"dns_parse_error\":null") != NULL);
	/* TCP: the length prefix written alone is not a message */
	before = captured_lines;
	dns_init(&b, VG_DF_STREAM);
	put16(b.data, 33);
	b.r.full_len = 2;
	b.r.hdr.type = VG_REC_DNS;
	b.r.hdr.size = sizeof(b.r) + 2;
	b.r.len = 2;
	CHECK_INT(dns_rec__handle(pl, &b, sizeof(b.r) + 2), 0);
	CHECK_INT(captured_lines, before);
	/* TCP: the message written after its prefix, without one */
	dns_init(&b, VG_DF_STREAM);
	n = make_query(b.data, 0x88);
	CHECK_INT(dns_line(pl, &b, n, "\"dns_transaction_id\":136"), 0);
	CHECK(strstr(last_line, "\"dns_query_names\":[\"www.example.com\"]") != NULL);
	/* TCP: framed, but only the start captured */
	dns_init(&b, VG_DF_STREAM);
	n = make_query(b.data + 2, 0x99);
	put16(b.data, 3000);
	b.r.full_len = 3002;
	CHECK_INT(dns_line(pl, &b, 20, "\"dns_payload_bytes\":3002,\"dns_payload_truncated\":true"),
		  0);
	CHECK(strstr(last_line, "\"dns_transaction_id\":153") != NULL);
	CHECK(strstr(last_line, "\"dns_parse_error\":null") == NULL);

	/* shorter than a header: nothing from the header is claimed */
	dns_init(&b, 0);
	memset(b.data, 0xab, 5);
	CHECK_INT(dns_line(pl, &b, 5, "\"dns_transaction_id\":null,\"dns_opcode\":null"), 0);
	CHECK(strstr(last_line, "\"dns_parse_error\":\"") != NULL);
	/* an empty payload */
	dns_init(&b, 0);
	b.r.full_len = 0;
	CHECK_INT(dns_line(pl, &b, 0, "\"dns_payload_bytes\":0"), 0);
	/* a compression loop: the header is kept, the reason given */
	dns_init(&b, 0);
	n = make_query(b.data, 0x4242);
	b.data[12] = 0xc0;
	b.data[13] = 12;
	CHECK_INT(dns_line(pl, &b, 18, "\"dns_transaction_id\":16962"), 0);
	CHECK(strstr(last_line, "\"dns_query_names\":[]") != NULL);
	CHECK(strstr(last_line, "\"dns_parse_error\":\"") != NULL);
	/* no resolver address known */
	dns_init(&b, 0);
	b.r.hdr.flags = 0;
	n = make_query(b.data, 1);
	CHECK_INT(dns_line(pl, &b, n, "\"dns_resolver_address\":null,\"dns_resolver_port\":null"), 0);

	/* random and mutated payloads, any flags: never a failure to report */
	for (unsigned i = 0; i < 5000; i++) {
		size_t len = (size_t)rand() % (VG_DNS_MAX + 1);

		dns_init(&b, (uint16_t)(rand() & 0xf));
		if (i % 2) {
			n = make_query(b.data, (uint16_t)i);
			put16(b.data + 4, (uint16_t)rand());
			put16(b.data + 6, (uint16_t)rand());
			for (unsigned k = 0; k < 4; k++)
				b.data[(size_t)rand() % (n + 16)] = (uint8_t)rand();
			len = n + (size_t)rand() % 16;
		} else {
			for (size_t k = 0; k < len; k++)
				b.data[k] = (uint8_t)rand();
		}
		b.r.full_len = (uint32_t)(len + (size_t)(rand() % 3));
		before = captured_lines;
		CHECK(dns_line(pl, &b, len, NULL) == 0 ||
		      ((b.r.hdr.flags & VG_DF_STREAM) && b.r.full_len <= 2 &&
		       captured_lines == before));
	}
}

static int validate(const char *path)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 %s/tests/tools/validate_events.py %s/docs/event.schema.json "
		 "'%s' > '%s.out' 2>&1", srcdir, srcdir, path, path);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

int main(void)
{
	char tmpl[] = "/tmp/vigil-test-net-XXXXXX", path[64], outp[80], err[256];
	struct vigil_config cfg;
	struct output_ctx octx;
	struct sink sk = { .ops = &cap_ops };
	struct sink *sinks[1] = { &sk };
	struct pipeline *pl;
	int fd;

	if (getenv("VIGIL_SRCDIR"))
		srcdir = getenv("VIGIL_SRCDIR");
	srand(1);
	test_format_ip();
	test_format_unix();
	test_names();
	test_socket_id();

	fd = mkstemp(tmpl);
	CHECK(fd >= 0);
	if (fd < 0)
		return unit_report("test_net");
	captured = fdopen(fd, "w");
	snprintf(path, sizeof(path), "%s", tmpl);
	CHECK_INT(config__defaults(&cfg), 0);
	CHECK_INT(output_ctx__init(&octx, "dev", "org", NULL, err, sizeof(err)), 0);
	pl = pipeline__new(&cfg, &octx, sinks, 1, err, sizeof(err));
	CHECK(pl != NULL);
	if (pl) {
		test_net_records(pl);
		test_dns_records(pl);
		/* toggles */
		cfg.ev_network = false;
		cfg.ev_dns = false;
		{
			struct vg_net r = net_rec(VG_NOP_BIND, 0);
			unsigned before = captured_lines;
			static struct dns_rec_buf b;

			CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), 0);
			dns_init(&b, 0);
			CHECK_INT(dns_line(pl, &b, make_query(b.data, 1), NULL), -ENOENT);
			CHECK_INT(captured_lines, before);
		}
		cfg.ev_network = true;
		cfg.ev_tcp_state_changes = false;
		{
			struct vg_net r = net_rec(VG_NOP_TCP_STATE, 0);
			unsigned before = captured_lines;

			CHECK_INT(net_rec__handle(pl, &r, sizeof(r)), 0);
			CHECK_INT(captured_lines, before);
			cfg.ev_tcp_state_changes = true;
			CHECK_INT(net_line(pl, &r, "\"name\":\"TCP Network Connection State Change\""),
				  0);
		}
	}
	fclose(captured);
	/* every line written, hostile ones included, is a valid event */
	CHECK(captured_lines > 7000);
	CHECK_INT(validate(path), 0);
	snprintf(outp, sizeof(outp), "%s.out", path);
	if (unit_failed == 0) {
		unlink(path);
		unlink(outp);
	} else {
		fprintf(stderr, "events kept in %s (validator output: %s)\n", path, outp);
	}
	pipeline__free(pl);
	output_ctx__free(&octx);
	config__free(&cfg);
	return unit_report("test_net");
}
