/* dns__parse on hand-built messages: the common query and reply shapes, TCP
 * framing, and hostile input (compression loops, forward pointers, oversize
 * names and labels, lengths past the end, random and mutated bytes). Every
 * input is parsed from an exactly sized heap copy, so the ASan build catches
 * a read past the end. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/dns.h"
#include "unit.h"

#define QR 0x8000
#define TC 0x0200
#define RD 0x0100
#define RA 0x0080

struct msg {
	uint8_t b[70000];
	size_t n;
};

static struct msg m, m2;
static struct dns_message out;
static char err[256];

static void put8(struct msg *w, unsigned v)
{
	w->b[w->n++] = (uint8_t)v;
}

static void put16(struct msg *w, unsigned v)
{
	put8(w, v >> 8 & 0xff);
	put8(w, v & 0xff);
}

static void put32(struct msg *w, uint32_t v)
{
	put16(w, v >> 16);
	put16(w, v & 0xffff);
}

static void put_bytes(struct msg *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void put_label(struct msg *w, const void *p, size_t n)
{
	put8(w, (unsigned)n);
	put_bytes(w, p, n);
}

/* "www.example.com" as labels; ptr >= 0 ends it with a pointer instead of the
 * root label. Returns the name's offset. */
static size_t put_name_ptr(struct msg *w, const char *dotted, int ptr)
{
	size_t at = w->n;
	const char *s = dotted;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);

		put_label(w, s, n);
		s += n;
		if (*s == '.')
			s++;
	}
	if (ptr >= 0)
		put16(w, 0xc000 | (unsigned)ptr);
	else
		put8(w, 0);
	return at;
}

static size_t put_name(struct msg *w, const char *dotted)
{
	return put_name_ptr(w, dotted, -1);
}

static void header(struct msg *w, unsigned id, unsigned flags, unsigned qd, unsigned an)
{
	w->n = 0;
	put16(w, id);
	put16(w, flags);
	put16(w, qd);
	put16(w, an);
	put16(w, 0);
	put16(w, 0);
}

static void question(struct msg *w, const char *name, unsigned type)
{
	put_name(w, name);
	put16(w, type);
	put16(w, 1);
}

/* The record header after a name; returns the rdlength offset. */
static size_t rr(struct msg *w, unsigned type, uint32_t ttl, unsigned rdlen)
{
	size_t at;

	put16(w, type);
	put16(w, 1);
	put32(w, ttl);
	at = w->n;
	put16(w, rdlen);
	return at;
}

static void set16(struct msg *w, size_t at, unsigned v)
{
	w->b[at] = (uint8_t)(v >> 8);
	w->b[at + 1] = (uint8_t)v;
}

static int parse_raw(const uint8_t *b, size_t n, bool tcp)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, b, n);
	memset(err, 0, sizeof(err));
	rc = dns__parse(copy, n, tcp, &out, err, sizeof(err));
	free(copy);
	return rc;
}

static int parse(const struct msg *w)
{
	return parse_raw(w->b, w->n, false);
}

/* The same message behind a TCP length prefix. */
static int parse_tcp(const struct msg *w)
{
	m2.n = 0;
	put16(&m2, (unsigned)w->n);
	put_bytes(&m2, w->b, w->n);
	return parse_raw(m2.b, m2.n, true);
}

static bool err_has(const char *s)
{
	if (strstr(err, s))
		return true;
	fprintf(stderr, "  err \"%s\" lacks \"%s\"\n", err, s);
	return false;
}

static void test_a_query(void)
{
	header(&m, 0x1234, RD, 1, 0);
	question(&m, "example.com", 1);
	CHECK_INT(parse(&m), 0);
	CHECK_STR(err, "");
	CHECK_INT(out.id, 0x1234);
	CHECK(!out.response);
	CHECK_INT(out.opcode, 0);
	CHECK_INT(out.rcode, 0);
	CHECK(!out.truncated);
	CHECK_INT(out.qdcount, 1);
	CHECK_INT(out.qd_total, 1);
	CHECK_INT(out.ancount, 0);
	CHECK_STR(out.q[0].name, "example.com");
	CHECK_INT(out.q[0].qtype, 1);
	CHECK_INT(out.q[0].qclass, 1);

	/* Trailing dot is never shown; the case is kept as sent. */
	header(&m, 1, RD, 1, 0);
	question(&m, "ExAmPle.COM", 28);
	CHECK_INT(parse(&m), 0);
	CHECK_STR(out.q[0].name, "ExAmPle.COM");

	/* The root, as in a priming query. */
	header(&m, 2, 0, 1, 0);
	question(&m, "", 2);
	CHECK_INT(parse(&m), 0);
	CHECK_STR(out.q[0].name, ".");
	CHECK_INT(out.q[0].qtype, 2);
}

static void test_aaaa(void)
{
	static const uint8_t v6[16] = { 0x26, 0x06, 0x28, 0x00, 0x02, 0x20, 0x00, 0x01,
					0x02, 0x48, 0x18, 0x93, 0x25, 0xc8, 0x19, 0x46 };
	static const uint8_t lo[16] = { [15] = 1 };

	header(&m, 7, QR | RD | RA, 1, 2);
	question(&m, "example.com", 28);
	put16(&m, 0xc00c);
	rr(&m, 28, 3600, 16);
	put_bytes(&m, v6, 16);
	put16(&m, 0xc00c);
	rr(&m, 28, 60, 16);
	put_bytes(&m, lo, 16);
	CHECK_INT(parse(&m), 0);
	CHECK(out.response);
	CHECK_INT(out.ancount, 2);
	CHECK_STR(out.an[0].name, "example.com");
	CHECK_INT(out.an[0].type, 28);
	CHECK_INT(out.an[0].class, 1);
	CHECK_INT(out.an[0].ttl, 3600);
	CHECK_INT(out.an[0].data_len, 16);
	CHECK_STR(out.an[0].data, "2606:2800:220:1:248:1893:25c8:1946");
	CHECK_STR(out.an[1].data, "::1");
}

static void test_mx(void)
{
	size_t mail;

	header(&m, 9, QR | RD | RA, 1, 2);
	question(&m, "example.com", 15);
	put16(&m, 0xc00c);
	rr(&m, 15, 300, 2 + 7);
	put16(&m, 10);
	mail = put_name_ptr(&m, "mail", 12);
	put16(&m, 0xc00c);
	rr(&m, 15, 300, 2 + 2);
	put16(&m, 65535);
	put16(&m, 0xc000 | (unsigned)mail);
	CHECK_INT(parse(&m), 0);
	CHECK_INT(out.ancount, 2);
	CHECK_STR(out.an[0].data, "10 mail.example.com");
	CHECK_INT(out.an[0].data_len, 9);
	CHECK_STR(out.an[1].data, "65535 mail.example.com");

	/* Too short to hold a preference and a name. */
	header(&m, 9, QR, 1, 1);
	question(&m, "example.com", 15);
	put16(&m, 0xc00c);
	rr(&m, 15, 300, 2);
	put16(&m, 10);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("answer 1 rdata at offset 41"));

	/* A broken name inside the rdata. */
	header(&m, 9, QR, 1, 1);
	question(&m, "example.com", 15);
	put16(&m, 0xc00c);
	rr(&m, 15, 300, 4);
	put16(&m, 10);
	put16(&m, 0xc02b);
	CHECK_INT(parse(&m), -ELOOP);
	CHECK(err_has("answer 1 rdata at offset 43: compression pointer to offset 43 loops"));
}

static void test_txt(void)
{
	static const uint8_t odd[] = { 'a', ' ', '"', '\\', 0x00, 0x7f, 0xff, '.' };
	uint8_t many[255];

	header(&m, 3, QR, 1, 1);
	question(&m, "example.com", 16);
	put16(&m, 0xc00c);
	rr(&m, 16, 60, 1 + 11 + 1 + 3);
	put_label(&m, "v=spf1 -all", 11);
	put_label(&m, "two", 3);
	CHECK_INT(parse(&m), 0);
	CHECK_STR(out.an[0].data, "v=spf1 -all");
	CHECK_INT(out.an[0].data_len, 16);

	/* Character-string escaping: space and '.' stay, quotes and controls do not. */
	header(&m, 3, QR, 1, 1);
	question(&m, "example.com", 16);
	put16(&m, 0xc00c);
	rr(&m, 16, 60, 1 + sizeof(odd));
	put_label(&m, odd, sizeof(odd));
	CHECK_INT(parse(&m), 0);
	CHECK_STR(out.an[0].data, "a \\\"\\\\\\000\\127\\255.");

	/* 255 escaped bytes: cut at 63 whole escapes, never inside one. */
	memset(many, 1, sizeof(many));
	header(&m, 3, QR, 1, 1);
	question(&m, "example.com", 16);
	put16(&m, 0xc00c);
	rr(&m, 16, 60, 256);
	put_label(&m, many, sizeof(many));
	CHECK_INT(parse(&m), 0);
	CHECK_INT(strlen(out.an[0].data), 252);
	CHECK_STR(out.an[0].data + 248, "\\001");

	/* Cuts before a two- and a one-character escape. */
	memset(many, 'a', sizeof(many));
	many[254] = '"';
	header(&m, 3, QR, 1, 1);
	question(&m, "example.com", 16);
	put16(&m, 0xc00c);
	rr(&m, 16, 60, 256);
	put_label(&m, many, sizeof(many));
	CHECK_INT(parse(&m), 0);
	CHECK_INT(strlen(out.an[0].data), 254);
	memset(many, '"', 127);
	many[127] = 'a';
	many[128] = 'b';
	header(&m, 3, QR, 1, 1);
	question(&m, "example.com", 16);
	put16(&m, 0xc00c);
	rr(&m, 16, 60, 130);
	put_label(&m, many, 129);
	CHECK_INT(parse(&m), 0);
	CHECK_INT(strlen(out.an[0].data), 255);
	CHECK_STR(out.an[0].data + 252, "\\\"a");

	/* The string claims more than the rdata holds. */
	header(&m, 3, QR, 1, 1);
	question(&m, "example.com", 16);
	put16(&m, 0xc00c);
	rr(&m, 16, 60, 4);
	put_label(&m, "abcd", 4);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("answer 1 rdata at offset 41: TXT string of 4 bytes in 4 bytes of rdata"));
}

/* www.example.com CNAME www.example.com.cdn.example.net CNAME
 * edge.example.net, then two A records, compressed as a real server would. */
static void test_cname_chain(void)
{
	size_t cdn, edge, rdlen_at;

	header(&m, 0xbeef, QR | RD | RA, 1, 4);
	question(&m, "www.example.com", 1);
	put16(&m, 0xc00c);
	rdlen_at = rr(&m, 5, 3600, 0);
	cdn = put_name(&m, "cdn.example.net");
	set16(&m, rdlen_at, (unsigned)(m.n - cdn));
	put16(&m, 0xc000 | (unsigned)cdn);
	rdlen_at = rr(&m, 5, 300, 0);
	edge = m.n;
	put_label(&m, "edge", 4);
	put16(&m, 0xc000 | (unsigned)(cdn + 4));	/* example.net */
	set16(&m, rdlen_at, (unsigned)(m.n - edge));
	put16(&m, 0xc000 | (unsigned)edge);
	rr(&m, 1, 20, 4);
	put_bytes(&m, "\x5d\xb8\xd8\x22", 4);
	put16(&m, 0xc000 | (unsigned)edge);
	rr(&m, 1, 20, 4);
	put_bytes(&m, "\x5d\xb8\xd8\x23", 4);
	/* Authority and additional sections are not read: garbage there is fine. */
	set16(&m, 8, 1);
	set16(&m, 10, 1);
	put_bytes(&m, "\xff\xff\xff", 3);

	CHECK_INT(parse(&m), 0);
	CHECK_STR(err, "");
	CHECK_INT(out.id, 0xbeef);
	CHECK_INT(out.rcode, 0);
	CHECK_INT(out.ancount, 4);
	CHECK_STR(out.q[0].name, "www.example.com");
	CHECK_STR(out.an[0].name, "www.example.com");
	CHECK_INT(out.an[0].type, 5);
	CHECK_STR(out.an[0].data, "cdn.example.net");
	CHECK_STR(out.an[1].name, "cdn.example.net");
	CHECK_STR(out.an[1].data, "edge.example.net");
	CHECK_INT(out.an[1].ttl, 300);
	CHECK_STR(out.an[2].name, "edge.example.net");
	CHECK_INT(out.an[2].type, 1);
	CHECK_STR(out.an[2].data, "93.184.216.34");
	CHECK_STR(out.an[3].data, "93.184.216.35");
	CHECK_INT(out.an[3].data_len, 4);

	/* The same over TCP. */
	CHECK_INT(parse_tcp(&m), 0);
	CHECK_INT(out.ancount, 4);
	CHECK_STR(out.an[3].data, "93.184.216.35");

	/* A CNAME whose rdata is longer than its name, and one shorter. */
	header(&m, 1, QR, 1, 1);
	question(&m, "example.com", 5);
	put16(&m, 0xc00c);
	rr(&m, 5, 1, 2 + 1);
	put16(&m, 0xc00c);
	put8(&m, 0);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("answer 1 rdata at offset 41: the CNAME name takes 2 bytes of the 3"));
	header(&m, 1, QR, 1, 1);
	question(&m, "example.com", 12);
	put16(&m, 0xc00c);
	rr(&m, 12, 1, 1);
	put16(&m, 0xc00c);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("PTR name takes 2 bytes of the 1"));
}

static void test_flags(void)
{
	header(&m, 5, QR | TC | (5u << 11) | 3, 1, 0);
	question(&m, "nope.example", 1);
	CHECK_INT(parse(&m), 0);
	CHECK(out.response);
	CHECK(out.truncated);
	CHECK_INT(out.opcode, 5);
	CHECK_INT(out.rcode, 3);
	CHECK_STR(dns__rcode_name(out.rcode), "NXDOMAIN");
}

static void test_many(void)
{
	unsigned i;
	char name[32];

	header(&m, 1, 0, 3, 0);
	question(&m, "a.example", 1);
	question(&m, "b.example", 28);
	question(&m, "c.example", 65);
	CHECK_INT(parse(&m), 0);
	CHECK_INT(out.qdcount, 3);
	CHECK_STR(out.q[1].name, "b.example");
	CHECK_INT(out.q[1].qtype, 28);
	CHECK_STR(out.q[2].name, "c.example");
	CHECK_INT(out.q[2].qtype, 65);

	/* Past the caps: counted, checked, not stored. */
	header(&m, 1, QR, 10, 40);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "q%u.example", i);
		question(&m, name, 1);
	}
	for (i = 0; i < 40; i++) {
		put16(&m, 0xc00c);
		rr(&m, 1, i, 4);
		put32(&m, 0x0a000000 + i);
	}
	CHECK_INT(parse(&m), 0);
	CHECK_INT(out.qdcount, DNS_MAX_QUESTIONS);
	CHECK_INT(out.qd_total, 10);
	CHECK_INT(out.ancount, DNS_MAX_ANSWERS);
	CHECK_INT(out.an_total, 40);
	CHECK_STR(out.q[7].name, "q7.example");
	CHECK_STR(out.an[31].data, "10.0.0.31");
	CHECK_STR(out.an[31].name, "q0.example");

	/* ... and a broken one past the cap still fails the message: the
	 * 40th answer becomes an AAAA of 4 bytes. */
	set16(&m, m.n - 14, 28);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("answer 40 rdlength"));
	CHECK_INT(out.ancount, DNS_MAX_ANSWERS);
	header(&m, 1, QR, 9, 0);
	for (i = 0; i < 8; i++)
		question(&m, "x.example", 1);
	put8(&m, 0x40);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("question 9 name"));
	CHECK_INT(out.qdcount, 8);
}

static void test_tcp(void)
{
	header(&m, 0x4242, RD, 1, 0);
	question(&m, "example.com", 1);
	CHECK_INT(parse_tcp(&m), 0);
	CHECK_INT(out.id, 0x4242);
	CHECK_STR(out.q[0].name, "example.com");

	/* glibc's A and AAAA in one segment: the first is parsed, the second
	 * starts at 2 + the prefix. */
	m2.n = 0;
	put16(&m2, (unsigned)m.n);
	put_bytes(&m2, m.b, m.n);
	set16(&m, 0, 0x4343);
	set16(&m, m.n - 4, 28);
	put16(&m2, (unsigned)m.n);
	put_bytes(&m2, m.b, m.n);
	CHECK_INT(parse_raw(m2.b, m2.n, true), 0);
	CHECK_INT(out.id, 0x4242);
	CHECK_INT(out.q[0].qtype, 1);
	CHECK_INT(parse_raw(m2.b + 2 + m.n, m2.n - 2 - m.n, true), 0);
	CHECK_INT(out.id, 0x4343);
	CHECK_INT(out.q[0].qtype, 28);

	/* The prefix claims more than follows. */
	m2.n = 0;
	put16(&m2, (unsigned)m.n + 1);
	put_bytes(&m2, m.b, m.n);
	CHECK_INT(parse_raw(m2.b, m2.n, true), -EMSGSIZE);
	CHECK(err_has("TCP length prefix at offset 0: the prefix says 30 bytes but 29 follow"));

	/* Shorter than a header. */
	set16(&m2, 0, 11);
	CHECK_INT(parse_raw(m2.b, m2.n, true), -EBADMSG);
	CHECK(err_has("TCP length prefix at offset 0"));
	CHECK_INT(parse_raw(m2.b, 1, true), -EMSGSIZE);
	CHECK_INT(parse_raw(m2.b, 0, true), -EMSGSIZE);

	/* A UDP payload read as TCP: the id becomes the prefix. */
	CHECK_INT(parse_raw(m.b, m.n, true), -EMSGSIZE);

	/* Offsets in err count from buf, prefix included. */
	header(&m, 1, 0, 1, 0);
	put16(&m, 0xc00c);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -ELOOP);
	CHECK(err_has("question 1 name at offset 12: compression pointer to offset 12 loops"));
	CHECK_INT(parse_tcp(&m), -ELOOP);
	CHECK(err_has("question 1 name at offset 14: compression pointer to offset 14 loops"));
}

static void test_pointers(void)
{
	size_t pool;
	unsigned i, k;

	/* Self-pointer. */
	header(&m, 1, 0, 1, 0);
	put16(&m, 0xc00c);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -ELOOP);
	CHECK(err_has("offset 12"));

	/* A backward pointer to the start of its own name. */
	header(&m, 1, 0, 1, 0);
	put_label(&m, "a", 1);
	put16(&m, 0xc00c);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -ELOOP);
	CHECK(err_has("question 1 name at offset 14: compression pointer to offset 12 loops"));

	/* Two pointers that point at each other, entered through the backward
	 * one: question 1's type field holds a pointer to question 2's name. */
	header(&m, 1, 0, 2, 0);
	put_label(&m, "x", 1);
	put8(&m, 0);
	put16(&m, 0xc013);	/* type, at 15: -> 19 */
	put16(&m, 1);
	put16(&m, 0xc00f);	/* question 2's name, at 19: -> 15 */
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -ELOOP);
	CHECK(err_has("question 2 name at offset 15: compression pointer to offset 19 loops"));
	CHECK_INT(out.qdcount, 1);
	CHECK_STR(out.q[0].name, "x");

	/* ... and entered through the forward one. */
	header(&m, 1, 0, 1, 0);
	put16(&m, 0xc00e);
	put16(&m, 0xc00c);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("question 1 name at offset 12: compression pointer to offset 14 points forward"));

	/* Forward pointer to a real name later on. */
	header(&m, 1, 0, 2, 0);
	put16(&m, 0xc010);
	put32(&m, 0x00010001);
	question(&m, "later.example", 1);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("points forward"));

	/* Past the end, and cut in half by the end. */
	header(&m, 1, 0, 1, 0);
	put16(&m, 0xc0ff);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("question 1 name at offset 12: compression pointer to offset 255, past the end of the 18-byte message"));
	header(&m, 1, 0, 1, 0);
	put_label(&m, "a", 1);
	put8(&m, 0xc0);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("offset 14: compression pointer cut short"));

	/* A pointer chain of DNS_MAX_JUMPS is followed, one more is not: the
	 * pool sits in an unknown-type answer, the chain ends in "a". */
	for (k = DNS_MAX_JUMPS - 1; k <= DNS_MAX_JUMPS; k++) {
		size_t rdlen_at, last;

		header(&m, 1, QR, 1, 2);
		question(&m, "example.com", 1);
		put16(&m, 0xc00c);
		rdlen_at = rr(&m, 99, 1, 0);
		pool = m.n;
		put_label(&m, "a", 1);
		put8(&m, 0);
		last = pool;
		for (i = 0; i < k; i++) {
			size_t at = m.n;

			put16(&m, 0xc000 | (unsigned)last);
			last = at;
		}
		set16(&m, rdlen_at, (unsigned)(m.n - pool));
		put16(&m, 0xc000 | (unsigned)last);
		rr(&m, 1, 1, 4);
		put32(&m, 0x7f000001);
		if (k < DNS_MAX_JUMPS) {
			CHECK_INT(parse(&m), 0);
			CHECK_STR(out.an[1].name, "a");
			CHECK_STR(out.an[0].data, "");
			CHECK_INT(out.an[0].type, 99);
			CHECK_INT(out.an[0].data_len, m.b[rdlen_at + 1]);
		} else {
			CHECK_INT(parse(&m), -ELOOP);
			CHECK(err_has("answer 2 name"));
			CHECK(err_has("more than 64 compression pointers"));
		}
	}
}

static void test_labels(void)
{
	uint8_t l63[63], l61[61];
	size_t at;

	/* Label type bytes 0x40 and 0x80 (lengths 64..191) are not lengths. */
	header(&m, 1, 0, 1, 0);
	put8(&m, 64);
	memset(m.b + m.n, 'a', 64);
	m.n += 64;
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("question 1 name at offset 12: label length byte 0x40"));
	m.b[12] = 0x80;
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("0x80"));
	header(&m, 1, 0, 1, 0);
	put8(&m, 63);
	memset(m.b + m.n, 'a', 63);
	m.n += 63;
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), 0);
	CHECK_INT(strlen(out.q[0].name), 63);

	/* 255 octets in wire form is the most a name may have. */
	memset(l63, 'a', sizeof(l63));
	memset(l61, 'b', sizeof(l61));
	header(&m, 1, 0, 1, 0);
	put_label(&m, l63, 63);
	put_label(&m, l63, 63);
	put_label(&m, l63, 63);
	put_label(&m, l61, 61);
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), 0);
	CHECK_INT(strlen(out.q[0].name), 63 * 3 + 61 + 3);
	m.b[12 + 3 * 64] = 62;
	m.b[12 + 3 * 64 + 62] = 'b';
	CHECK_INT(parse(&m), -ENAMETOOLONG);
	CHECK(err_has("question 1 name at offset 204: the name is longer than 255 octets"));

	/* ... also when compression assembles it. */
	header(&m, 1, QR, 1, 1);
	at = m.n;
	put_label(&m, l63, 63);
	put_label(&m, l63, 63);
	put_label(&m, l63, 63);
	put8(&m, 0);
	put32(&m, 0x00010001);
	put_label(&m, l63, 63);
	put16(&m, 0xc000 | (unsigned)at);
	rr(&m, 1, 1, 4);
	put32(&m, 1);
	CHECK_INT(parse(&m), -ENAMETOOLONG);
	CHECK(err_has("answer 1 name at offset 140: the name is longer"));

	/* A label that runs past the end. */
	header(&m, 1, 0, 1, 0);
	put8(&m, 10);
	put_bytes(&m, "abc", 3);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("question 1 name at offset 12: a 10-octet label runs past the end of the 16-byte message"));
	/* ... and a name with no root label. */
	m.n = 12;
	put_label(&m, "abc", 3);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("offset 16: the name runs past the end"));
}

static void test_escapes(void)
{
	static const uint8_t odd[] = { 'a', '.',  'b', 0,   ' ', 0xff,
				       '\\', '"', '-', '_', '*', 0x7f };
	uint8_t ff[63];
	size_t n;

	header(&m, 1, 0, 1, 0);
	put_label(&m, odd, sizeof(odd));
	put_label(&m, "x(y)", 4);
	put_label(&m, "com", 3);
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), 0);
	CHECK_STR(out.q[0].name, "a\\.b\\000\\032\\255\\\\\\\"-_*\\127.x\\(y\\).com");

	/* A legal name that needs more than 255 characters: cut on the left,
	 * never inside an escape, so the registered domain survives. */
	memset(ff, 0xff, sizeof(ff));
	header(&m, 1, 0, 1, 0);
	put_label(&m, ff, 63);
	put_label(&m, ff, 63);
	put_label(&m, ff, 63);
	put_label(&m, "evil", 4);
	put_label(&m, "com", 3);
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), 0);
	n = strlen(out.q[0].name);
	CHECK_INT(n, 3 + 60 * 4 + 9);
	CHECK(strncmp(out.q[0].name, DNS_NAME_CUT "\\255\\255", 11) == 0);
	CHECK_STR(out.q[0].name + n - 13, "\\255.evil.com");

	/* A cut that falls on a label boundary drops the separator too. */
	header(&m, 1, 0, 1, 0);
	put_label(&m, ff, 63);
	put_label(&m, ff, 63);
	put_label(&m, ff, 62);
	put_label(&m, "ab", 2);
	put8(&m, 0);
	put32(&m, 0x00010001);
	CHECK_INT(parse(&m), 0);
	CHECK_INT(strlen(out.q[0].name), 3 + 62 * 4 + 3);
	CHECK(strncmp(out.q[0].name, "...\\255", 7) == 0);

	/* An MX name shares data with its preference. */
	header(&m, 1, QR, 1, 1);
	question(&m, "example.com", 15);
	put16(&m, 0xc00c);
	rr(&m, 15, 1, 2 + 3 * 64 + 3 + 1);
	put16(&m, 10);
	put_label(&m, ff, 63);
	put_label(&m, ff, 63);
	put_label(&m, ff, 63);
	put_label(&m, "mx", 2);
	put_label(&m, "", 0);
	CHECK_INT(parse(&m), 0);
	n = strlen(out.an[0].data);
	CHECK(n <= DNS_NAME_MAX);
	CHECK(strncmp(out.an[0].data, "10 ...\\255", 10) == 0);
	CHECK_STR(out.an[0].data + n - 7, "\\255.mx");
}

static void test_short(void)
{
	header(&m, 1, 0, 1, 0);
	CHECK_INT(parse_raw(m.b, 5, false), -EMSGSIZE);
	CHECK(err_has("header at offset 0: the message is 5 bytes, shorter than the 12-byte header"));
	CHECK_INT(parse_raw(m.b, 0, false), -EMSGSIZE);
	CHECK(err_has("the message is 0 bytes"));
	CHECK_INT(dns__parse(NULL, 0, false, &out, err, sizeof(err)), -EMSGSIZE);
	CHECK_INT(dns__parse(NULL, 1, false, &out, err, sizeof(err)), -EINVAL);
	CHECK_INT(dns__parse(m.b, 12, false, NULL, err, sizeof(err)), -EINVAL);
	CHECK(err_has("out is NULL"));
	/* err is optional, and a short one is still terminated. */
	CHECK_INT(dns__parse(m.b, 5, false, &out, NULL, 0), -EMSGSIZE);
	memset(err, 'x', sizeof(err));
	CHECK_INT(dns__parse(m.b, 5, false, &out, err, 9), -EMSGSIZE);
	CHECK_STR(err, "dns: hea");

	/* A header that promises 65535 questions over one question's bytes;
	 * the one there is kept. */
	header(&m, 1, 0, 65535, 0);
	question(&m, "example.com", 1);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("question 2 name at offset 29: the name runs past the end"));
	CHECK_INT(out.qd_total, 65535);
	CHECK_INT(out.qdcount, 1);
	CHECK_STR(out.q[0].name, "example.com");

	/* A question without its type and class. */
	header(&m, 1, 0, 1, 0);
	put_name(&m, "example.com");
	put16(&m, 1);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("question 1 type and class at offset 25"));

	/* Answer without its fixed fields, and rdlength past the end. */
	header(&m, 1, QR, 1, 1);
	question(&m, "example.com", 1);
	put16(&m, 0xc00c);
	put16(&m, 1);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("answer 1 type/class/ttl/rdlength at offset 31"));
	m.n -= 2;
	rr(&m, 1, 1, 4);
	put_bytes(&m, "\x01\x02\x03", 3);
	CHECK_INT(parse(&m), -EMSGSIZE);
	CHECK(err_has("answer 1 rdlength at offset 39: rdlength 4 runs past the end of the message (3 bytes left)"));
	CHECK_INT(out.qdcount, 1);
	CHECK_INT(out.ancount, 0);
	CHECK_STR(out.an[0].name, "");
}

static void test_bad_addresses(void)
{
	/* A with rdlength 5 rejects the message; what came before is kept. */
	header(&m, 1, QR, 1, 2);
	question(&m, "example.com", 1);
	put16(&m, 0xc00c);
	rr(&m, 1, 1, 4);
	put32(&m, 0x01020304);
	put16(&m, 0xc00c);
	rr(&m, 1, 1, 5);
	put32(&m, 0x01020304);
	put8(&m, 5);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("answer 2 rdlength at offset 55: an A record of 5 bytes, not 4"));
	CHECK_INT(out.ancount, 1);
	CHECK_STR(out.an[0].data, "1.2.3.4");

	header(&m, 1, QR, 1, 1);
	question(&m, "example.com", 28);
	put16(&m, 0xc00c);
	rr(&m, 28, 1, 4);
	put32(&m, 0x01020304);
	CHECK_INT(parse(&m), -EBADMSG);
	CHECK(err_has("an AAAA record of 4 bytes, not 16"));
}

static void test_names(void)
{
	char tmp[DNS_TYPE_NAME_LEN];
	char small[4];

	CHECK_STR(dns__type_name(1, tmp, sizeof(tmp)), "A");
	CHECK_STR(dns__type_name(28, tmp, sizeof(tmp)), "AAAA");
	CHECK_STR(dns__type_name(65, tmp, sizeof(tmp)), "HTTPS");
	CHECK_STR(dns__type_name(255, tmp, sizeof(tmp)), "ANY");
	CHECK_STR(dns__type_name(65535, tmp, sizeof(tmp)), "TYPE65535");
	CHECK_STR(dns__type_name(1000, tmp, sizeof(tmp)), "TYPE1000");
	CHECK_STR(dns__type_name(1000, small, sizeof(small)), "TYPE?");
	CHECK_STR(dns__type_name(1000, NULL, 0), "TYPE?");
	CHECK_STR(dns__rcode_name(0), "NOERROR");
	CHECK_STR(dns__rcode_name(2), "SERVFAIL");
	CHECK_STR(dns__rcode_name(3), "NXDOMAIN");
	CHECK_STR(dns__rcode_name(5), "REFUSED");
	CHECK_STR(dns__rcode_name(13), "RCODE13");
	CHECK_STR(dns__rcode_name(23), "BADCOOKIE");
	CHECK_STR(dns__rcode_name(24), "UNKNOWN");
	CHECK_STR(dns__rcode_name(255), "UNKNOWN");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static bool name_ok(const char *s)
{
	return memchr(s, '\0', DNS_NAME_MAX + 1) != NULL;
}

/* Any return is fine if it is one of the documented ones, explains itself
 * when it fails and leaves every string terminated within its array. */
static void check_any(const uint8_t *b, size_t n, bool tcp, unsigned *fails, unsigned *oks)
{
	int rc = parse_raw(b, n, tcp);
	bool good = true;
	unsigned i;

	if (rc == 0) {
		++*oks;
		good = !err[0];
	} else {
		++*fails;
		good = (rc == -EMSGSIZE || rc == -EBADMSG || rc == -ELOOP ||
			rc == -ENAMETOOLONG) && strncmp(err, "dns: ", 5) == 0 &&
		       strstr(err, " at offset ") != NULL;
	}
	good = good && out.qdcount <= DNS_MAX_QUESTIONS && out.ancount <= DNS_MAX_ANSWERS &&
	       out.qdcount <= out.qd_total && out.ancount <= out.an_total;
	for (i = 0; good && i < DNS_MAX_QUESTIONS; i++)
		good = name_ok(out.q[i].name);
	for (i = 0; good && i < DNS_MAX_ANSWERS; i++)
		good = name_ok(out.an[i].name) && name_ok(out.an[i].data);
	if (!good)
		fprintf(stderr, "  rc %d err \"%s\" len %zu\n", rc, err, n);
	CHECK(good);
}

static void test_random(void)
{
	static uint8_t big[65536];
	unsigned fails = 0, oks = 0, iter, i;
	size_t len, k;

	for (iter = 0; iter < 64; iter++) {
		for (k = 0; k < sizeof(big); k += 8) {
			uint64_t r = rng();

			memcpy(big + k, &r, 8);
		}
		check_any(big, sizeof(big), false, &fails, &oks);
		check_any(big, sizeof(big), true, &fails, &oks);
		/* Small counts make the parser go deeper than a random header. */
		big[4] = 0;
		big[5] = (uint8_t)(rng() % 4);
		big[6] = 0;
		big[7] = (uint8_t)(rng() % 8);
		for (i = 0; i < 64; i++) {
			len = rng() % 600;
			check_any(big + rng() % 1024, len, i & 1, &fails, &oks);
		}
	}

	/* Mutations of a valid reply (CNAME chain with compression). */
	test_cname_chain();
	memcpy(&m2, &m, sizeof(m));
	for (iter = 0; iter < 20000; iter++) {
		unsigned flips = 1 + (unsigned)(rng() % 4);

		memcpy(m.b, m2.b, m2.n);
		m.n = m2.n;
		for (i = 0; i < flips; i++) {
			size_t at = rng() % m.n;

			switch (rng() % 3) {
			case 0:
				m.b[at] ^= (uint8_t)(1u << (rng() % 8));
				break;
			case 1:
				m.b[at] = (uint8_t)rng();
				break;
			default:
				m.n = at + 1;
				break;
			}
		}
		check_any(m.b, m.n, false, &fails, &oks);
	}
	fprintf(stderr, "  random: %u parsed, %u rejected\n", oks, fails);
	CHECK(fails > 0);
	CHECK(oks > 0);
}

int main(void)
{
	test_a_query();
	test_aaaa();
	test_mx();
	test_txt();
	test_cname_chain();
	test_flags();
	test_many();
	test_tcp();
	test_pointers();
	test_labels();
	test_escapes();
	test_short();
	test_bad_addresses();
	test_names();
	test_random();
	return unit_report("test_dns");
}
