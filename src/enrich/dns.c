#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "enrich/dns.h"

#define HDR_LEN 12
#define RR_FIXED_LEN 10	/* type, class, ttl, rdlength after a record's name */
#define WIRE_NAME_MAX 255	/* RFC 1035 2.3.4, length octets and root label included */
#define LABEL_MAX 63

_Static_assert(sizeof(DNS_NAME_CUT) + sizeof("65535 ") < DNS_NAME_MAX,
	       "present_name needs room for the cut marker after an MX preference");

struct parser {
	const uint8_t *msg;	/* the DNS message, after the TCP prefix if any */
	size_t len;
	size_t base;		/* offset of msg in the caller's buf: errors count from buf */
	const char *sec;	/* "question", "answer"; NULL outside the sections */
	unsigned idx;		/* 1-based record number within sec */
	char *err;
	size_t errlen;
};

static int fail(const struct parser *p, int code, size_t off, const char *part, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));

/* off is relative to the message; the sentence names it relative to buf. */
static int fail(const struct parser *p, int code, size_t off, const char *part, const char *fmt,
		...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return code;
	if (p->sec)
		n = snprintf(p->err, p->errlen, "dns: %s %u %s at offset %zu: ", p->sec, p->idx,
			     part, p->base + off);
	else
		n = snprintf(p->err, p->errlen, "dns: %s at offset %zu: ", part, p->base + off);
	if (n < 0 || (size_t)n >= p->errlen)
		return code;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads the name at *pos into wire, uncompressed (length-prefixed labels and
 * the root label, at most WIRE_NAME_MAX octets), and moves *pos past the
 * bytes the name occupies in place: its root label or its first pointer.
 *
 * Loops: a valid pointer targets an earlier name, so it lands before the
 * start of the name being read and before every earlier target of this name.
 * floor is the lowest offset read so far and top the highest; a target in
 * [floor, top] would read this name's bytes again (-ELOOP), one above top is
 * a forward pointer (-EBADMSG). floor strictly decreases with every jump, so
 * even without DNS_MAX_JUMPS the walk would end. */
static int read_name(const struct parser *p, size_t *pos, const char *part,
		     uint8_t wire[WIRE_NAME_MAX], size_t *wlen)
{
	size_t cur = *pos, end = 0, floor = *pos, top = *pos, n = 0;
	unsigned jumps = 0;

	for (;;) {
		uint8_t b;

		if (cur >= p->len)
			return fail(p, -EMSGSIZE, cur, part,
				    "the name runs past the end of the %zu-byte message", p->len);
		b = p->msg[cur];
		if (b == 0) {
			wire[n++] = 0;
			if (!jumps)
				end = cur + 1;
			break;
		}
		if ((b & 0xc0) == 0xc0) {
			size_t t;

			if (cur + 1 >= p->len)
				return fail(p, -EMSGSIZE, cur, part,
					    "compression pointer cut short by the end of the message");
			t = (size_t)(b & 0x3f) << 8 | p->msg[cur + 1];
			if (cur + 1 > top)
				top = cur + 1;
			if (t >= p->len)
				return fail(p, -EBADMSG, cur, part,
					    "compression pointer to offset %zu, past the end of the %zu-byte message",
					    p->base + t, p->len);
			if (t >= floor && t <= top)
				return fail(p, -ELOOP, cur, part,
					    "compression pointer to offset %zu loops back into the name being read",
					    p->base + t);
			if (t > top)
				return fail(p, -EBADMSG, cur, part,
					    "compression pointer to offset %zu points forward",
					    p->base + t);
			if (++jumps > DNS_MAX_JUMPS)
				return fail(p, -ELOOP, cur, part,
					    "more than %d compression pointers in one name",
					    DNS_MAX_JUMPS);
			if (jumps == 1)
				end = cur + 2;
			floor = t;
			cur = t;
			continue;
		}
		if (b > LABEL_MAX)
			return fail(p, -EBADMSG, cur, part,
				    "label length byte 0x%02x: labels are at most 63 octets and label types 01 and 10 are not in use",
				    b);
		/* + 1 for the root label still to come */
		if (n + 1 + b + 1 > WIRE_NAME_MAX)
			return fail(p, -ENAMETOOLONG, cur, part,
				    "the name is longer than %d octets", WIRE_NAME_MAX);
		if (b > p->len - cur - 1)
			return fail(p, -EMSGSIZE, cur, part,
				    "a %u-octet label runs past the end of the %zu-byte message", b,
				    p->len);
		wire[n] = b;
		memcpy(wire + n + 1, p->msg + cur + 1, b);
		n += 1 + (size_t)b;
		cur += 1 + (size_t)b;
		if (cur - 1 > top)
			top = cur - 1;
	}
	*pos = end;
	*wlen = n;
	return 0;
}

/* Writes the presentation form of label byte c to o (if not NULL) and
 * returns its length: \DDD, \c for the specials, or c. */
static size_t name_esc(uint8_t c, char *o)
{
	if (c < 0x21 || c > 0x7e) {
		if (o) {
			o[0] = '\\';
			o[1] = (char)('0' + c / 100);
			o[2] = (char)('0' + c / 10 % 10);
			o[3] = (char)('0' + c % 10);
		}
		return 4;
	}
	switch (c) {
	case '.': case '\\': case '"': case '(': case ')': case ';': case '@': case '$':
		if (o) {
			o[0] = '\\';
			o[1] = (char)c;
		}
		return 2;
	}
	if (o)
		o[0] = (char)c;
	return 1;
}

/* out has room for cap + 1 bytes, cap > sizeof(DNS_NAME_CUT). A name that
 * needs more than cap characters loses whole characters (never half an
 * escape) on the left, and a separator left at the cut, behind DNS_NAME_CUT. */
static void present_name(const uint8_t *w, char *out, size_t cap)
{
	const size_t mark = sizeof(DNS_NAME_CUT) - 1;
	size_t total = 0, skip = 0, dropped = 0, o = 0, i, j;

	if (!w[0]) {
		strcpy(out, ".");
		return;
	}
	for (i = 0; w[i]; i += 1 + (size_t)w[i]) {
		total += i > 0;
		for (j = 1; j <= w[i]; j++)
			total += name_esc(w[i + j], NULL);
	}
	if (total > cap) {
		skip = total - (cap - mark);
		memcpy(out, DNS_NAME_CUT, mark);
		o = mark;
	}
	for (i = 0; w[i]; i += 1 + (size_t)w[i]) {
		if (i > 0) {
			if (dropped < skip)
				dropped++;
			else if (!skip || o > mark)
				out[o++] = '.';
		}
		for (j = 1; j <= w[i]; j++) {
			if (dropped < skip) {
				dropped += name_esc(w[i + j], NULL);
				continue;
			}
			o += name_esc(w[i + j], out + o);
		}
	}
	out[o] = '\0';
}

/* A character-string as RFC 1035 5.1 writes it between quotes: bytes outside
 * 0x20..0x7e as \DDD, " and \ as \c; cut at cap characters, never inside an
 * escape. out has room for cap + 1 bytes. */
static void present_text(const uint8_t *s, size_t n, char *out, size_t cap)
{
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c < 0x20 || c > 0x7e) {
			if (o + 4 > cap)
				break;
			o += name_esc(c, out + o);
		} else if (c == '"' || c == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char)c;
		} else {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static int parse_question(const struct parser *p, size_t *pos, struct dns_question *q)
{
	uint8_t wire[WIRE_NAME_MAX];
	size_t wlen;
	int err;

	err = read_name(p, pos, "name", wire, &wlen);
	if (err)
		return err;
	if (p->len - *pos < 4)
		return fail(p, -EMSGSIZE, *pos, "type and class",
			    "the message ends %zu bytes into the 4", p->len - *pos);
	present_name(wire, q->name, DNS_NAME_MAX);
	q->qtype = get16(p->msg + *pos);
	q->qclass = get16(p->msg + *pos + 2);
	*pos += 4;
	return 0;
}

/* Reads a name that must fill [*at, rdend) exactly. */
static int rdata_name(const struct parser *p, size_t at, size_t rdend, const char *tname,
		      uint8_t wire[WIRE_NAME_MAX])
{
	size_t start = at, wlen;
	int err;

	err = read_name(p, &at, "rdata", wire, &wlen);
	if (err)
		return err;
	if (at != rdend)
		return fail(p, -EBADMSG, start, "rdata",
			    "the %s name takes %zu bytes of the %zu left in the rdata", tname,
			    at - start, rdend - start);
	return 0;
}

static int parse_answer(const struct parser *p, size_t *pos, struct dns_answer *a)
{
	uint8_t wire[WIRE_NAME_MAX];
	size_t wlen, rd, rdend, fixed;
	uint16_t rdlen;
	int err, n;

	err = read_name(p, pos, "name", wire, &wlen);
	if (err)
		return err;
	fixed = *pos;
	if (p->len - fixed < RR_FIXED_LEN)
		return fail(p, -EMSGSIZE, fixed, "type/class/ttl/rdlength",
			    "the message ends %zu bytes into the %d", p->len - fixed, RR_FIXED_LEN);
	present_name(wire, a->name, DNS_NAME_MAX);
	a->type = get16(p->msg + fixed);
	a->class = get16(p->msg + fixed + 2);
	a->ttl = get32(p->msg + fixed + 4);
	rdlen = get16(p->msg + fixed + 8);
	a->data_len = rdlen;
	a->data[0] = '\0';
	rd = fixed + RR_FIXED_LEN;
	if (rdlen > p->len - rd)
		return fail(p, -EMSGSIZE, fixed + 8, "rdlength",
			    "rdlength %u runs past the end of the message (%zu bytes left)", rdlen,
			    p->len - rd);
	rdend = rd + rdlen;

	switch (a->type) {
	case DNS_TYPE_A:
	case DNS_TYPE_AAAA: {
		bool v4 = a->type == DNS_TYPE_A;

		if (rdlen != (v4 ? 4 : 16))
			return fail(p, -EBADMSG, fixed + 8, "rdlength",
				    "%s record of %u bytes, not %d", v4 ? "an A" : "an AAAA", rdlen,
				    v4 ? 4 : 16);
		inet_ntop(v4 ? AF_INET : AF_INET6, p->msg + rd, a->data, sizeof(a->data));
		break;
	}
	case DNS_TYPE_CNAME:
	case DNS_TYPE_PTR:
	case DNS_TYPE_NS:
		err = rdata_name(p, rd, rdend,
				 a->type == DNS_TYPE_CNAME ? "CNAME" :
				 a->type == DNS_TYPE_PTR ? "PTR" : "NS", wire);
		if (err)
			return err;
		present_name(wire, a->data, DNS_NAME_MAX);
		break;
	case DNS_TYPE_MX:
		if (rdlen < 3)
			return fail(p, -EBADMSG, rd, "rdata",
				    "MX rdata of %u bytes cannot hold a preference and a name",
				    rdlen);
		err = rdata_name(p, rd + 2, rdend, "MX", wire);
		if (err)
			return err;
		n = snprintf(a->data, sizeof(a->data), "%u ", get16(p->msg + rd));
		present_name(wire, a->data + n, DNS_NAME_MAX - (size_t)n);
		break;
	case DNS_TYPE_TXT:
		/* An empty TXT rdata is invalid but harmless: data stays empty. */
		if (rdlen > 0) {
			size_t slen = p->msg[rd];

			if (slen > (size_t)rdlen - 1)
				return fail(p, -EBADMSG, rd, "rdata",
					    "TXT string of %zu bytes in %u bytes of rdata", slen,
					    rdlen);
			present_text(p->msg + rd + 1, slen, a->data, DNS_NAME_MAX);
		}
		break;
	}
	*pos = rdend;
	return 0;
}

int dns__parse(const uint8_t *buf, size_t len, bool tcp, struct dns_message *out, char *err,
	       size_t errlen)
{
	struct parser p = { .msg = buf, .len = len, .err = err, .errlen = errlen };
	size_t pos;
	uint16_t flags;
	unsigned i;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!buf && len))
		return fail(&p, -EINVAL, 0, "arguments", "%s is NULL", out ? "buf" : "out");
	memset(out, 0, sizeof(*out));
	if (tcp) {
		size_t n;

		if (len < 2)
			return fail(&p, -EMSGSIZE, 0, "TCP length prefix",
				    "the segment is %zu bytes, the prefix alone needs 2", len);
		n = get16(buf);
		if (n < HDR_LEN)
			return fail(&p, -EBADMSG, 0, "TCP length prefix",
				    "a %zu-byte message cannot hold the %d-byte header", n,
				    HDR_LEN);
		if (n > len - 2)
			return fail(&p, -EMSGSIZE, 0, "TCP length prefix",
				    "the prefix says %zu bytes but %zu follow", n, len - 2);
		p.msg = buf + 2;
		p.len = n;
		p.base = 2;
	}
	if (p.len < HDR_LEN)
		return fail(&p, -EMSGSIZE, 0, "header",
			    "the message is %zu bytes, shorter than the %d-byte header", p.len,
			    HDR_LEN);

	out->id = get16(p.msg);
	flags = get16(p.msg + 2);
	out->response = flags >> 15;
	out->opcode = flags >> 11 & 0xf;
	out->truncated = flags >> 9 & 1;
	out->rcode = flags & 0xf;
	out->qd_total = get16(p.msg + 4);
	out->an_total = get16(p.msg + 6);
	pos = HDR_LEN;

	p.sec = "question";
	for (i = 0; i < out->qd_total; i++) {
		struct dns_question scratch;
		bool keep = i < DNS_MAX_QUESTIONS;

		p.idx = i + 1;
		rc = parse_question(&p, &pos, keep ? &out->q[i] : &scratch);
		if (rc) {
			if (keep)
				memset(&out->q[i], 0, sizeof(out->q[i]));
			return rc;
		}
		if (keep)
			out->qdcount++;
	}
	p.sec = "answer";
	for (i = 0; i < out->an_total; i++) {
		struct dns_answer scratch;
		bool keep = i < DNS_MAX_ANSWERS;

		p.idx = i + 1;
		rc = parse_answer(&p, &pos, keep ? &out->an[i] : &scratch);
		if (rc) {
			if (keep)
				memset(&out->an[i], 0, sizeof(out->an[i]));
			return rc;
		}
		if (keep)
			out->ancount++;
	}
	return 0;
}

const char *dns__type_name(uint16_t type, char *tmp, size_t tmplen)
{
	switch (type) {
	case 1: return "A";
	case 2: return "NS";
	case 5: return "CNAME";
	case 6: return "SOA";
	case 12: return "PTR";
	case 13: return "HINFO";
	case 15: return "MX";
	case 16: return "TXT";
	case 17: return "RP";
	case 18: return "AFSDB";
	case 24: return "SIG";
	case 25: return "KEY";
	case 28: return "AAAA";
	case 29: return "LOC";
	case 33: return "SRV";
	case 35: return "NAPTR";
	case 36: return "KX";
	case 37: return "CERT";
	case 39: return "DNAME";
	case 41: return "OPT";
	case 42: return "APL";
	case 43: return "DS";
	case 44: return "SSHFP";
	case 45: return "IPSECKEY";
	case 46: return "RRSIG";
	case 47: return "NSEC";
	case 48: return "DNSKEY";
	case 49: return "DHCID";
	case 50: return "NSEC3";
	case 51: return "NSEC3PARAM";
	case 52: return "TLSA";
	case 53: return "SMIMEA";
	case 55: return "HIP";
	case 59: return "CDS";
	case 60: return "CDNSKEY";
	case 61: return "OPENPGPKEY";
	case 62: return "CSYNC";
	case 63: return "ZONEMD";
	case 64: return "SVCB";
	case 65: return "HTTPS";
	case 99: return "SPF";
	case 249: return "TKEY";
	case 250: return "TSIG";
	case 251: return "IXFR";
	case 252: return "AXFR";
	case 255: return "ANY";
	case 256: return "URI";
	case 257: return "CAA";
	}
	if (!tmp || tmplen < DNS_TYPE_NAME_LEN)
		return "TYPE?";
	snprintf(tmp, tmplen, "TYPE%u", type);
	return tmp;
}

const char *dns__rcode_name(uint8_t rcode)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI",
		"RCODE12", "RCODE13",  "RCODE14",  "RCODE15",  "BADVERS", "BADKEY",
		"BADTIME", "BADMODE",  "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE",
	};

	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "UNKNOWN";
}
