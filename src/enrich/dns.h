/* DNS message parsing for the dns event: the payload a process sent to port 53
 * (a query) or received from it (a reply), as the eBPF source captured it.
 *
 * The input is hostile: any process can write any bytes to port 53, and a
 * reply comes from whoever answers. So the parser checks every length against
 * the buffer, follows compression pointers only backwards and at most
 * DNS_MAX_JUMPS times per name, never allocates and does bounded work: at most
 * 127 labels and DNS_MAX_JUMPS pointers per name, at most two names per record,
 * and a question takes at least 5 bytes of input, an answer 11.
 *
 * What is parsed: the header, every question and every answer record. The
 * authority and additional sections (EDNS OPT included) are not read at all:
 * the event reports what was asked and what came back, and skipping them means
 * a capture cut short after the answers still parses.
 *
 * Names are in RFC 4343 presentation form, without the trailing dot, the root
 * as ".", and with the case the sender used (resolvers may randomize it, the
 * "0x20" trick: compare case-insensitively). Label bytes outside 0x21..0x7e become
 * \DDD (decimal), and the bytes special in presentation form, . \ " ( ) ; @ $,
 * are written as \c. A wire name of at most 255 octets can still need up to
 * 1012 characters this way; one that does not fit in DNS_NAME_MAX characters
 * is cut on the left and starts with "..." (which no real presentation name
 * does), so the rightmost labels, the registered domain that rules match on,
 * always survive. */
#ifndef VIGIL_DNS_H
#define VIGIL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MAX_QUESTIONS 8
#define DNS_MAX_ANSWERS 32
#define DNS_NAME_MAX 255	/* presentation form, without the trailing dot */
#define DNS_MAX_JUMPS 64	/* compression pointers followed per name */
#define DNS_NAME_CUT "..."	/* prefix of a name cut to fit DNS_NAME_MAX */
#define DNS_TYPE_NAME_LEN 10	/* tmp bytes dns__type_name needs: "TYPE65535" */

#define DNS_TYPE_A 1
#define DNS_TYPE_NS 2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_PTR 12
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28

struct dns_question {
	char name[DNS_NAME_MAX + 1];
	uint16_t qtype, qclass;
};

struct dns_answer {
	char name[DNS_NAME_MAX + 1];
	uint16_t type, class;
	uint32_t ttl;
	/* A/AAAA: the address as text; CNAME/PTR/NS: a name (as above); MX:
	 * "pref name"; TXT: the first character-string, bytes outside
	 * 0x20..0x7e as \DDD and " \ as \c, cut at DNS_NAME_MAX characters;
	 * any other type: empty. */
	char data[DNS_NAME_MAX + 1];
	uint16_t data_len;	/* rdlength, for every type */
};

struct dns_message {
	uint16_t id;
	bool response;
	uint8_t opcode, rcode;
	bool truncated;		/* TC bit: the sender cut the message short */
	unsigned qdcount, ancount;	/* as parsed (<= the caps) */
	unsigned qd_total, an_total;	/* as the header claims */
	struct dns_question q[DNS_MAX_QUESTIONS];
	struct dns_answer an[DNS_MAX_ANSWERS];
};

/* Parses one DNS message from [buf, buf+len): a UDP payload, or with tcp a
 * TCP segment that starts with the 2-byte length prefix. The prefix must not
 * claim more bytes than follow (-EMSGSIZE) nor fewer than a header
 * (-EBADMSG); bytes after the framed message are ignored: glibc writes its A
 * and AAAA queries in one segment, and the caller finds the next one at
 * 2 + the prefix.
 *
 * Questions and answers past DNS_MAX_QUESTIONS/DNS_MAX_ANSWERS are read and
 * checked but not stored. A record that is malformed rejects the whole
 * message, including an A or AAAA whose rdlength is not 4 or 16 and a
 * CNAME/PTR/NS/MX whose name does not fill its rdata exactly: no resolver
 * would use such an answer, and guessing where it ends would report data that
 * was never there.
 *
 * Returns 0, or a negative errno with one sentence in err (NULL allowed) that
 * names the part, the offset in buf and what was wrong:
 *   -EMSGSIZE     the input ends inside the message (a short capture, or a
 *                 header count or rdlength larger than the data)
 *   -EBADMSG      malformed: reserved label type (length byte 64..191),
 *                 forward compression pointer or one past the end, A/AAAA of
 *                 the wrong size, rdata that does not match its type
 *   -ELOOP        a compression pointer into the name being read, or more
 *                 than DNS_MAX_JUMPS pointers in one name
 *   -ENAMETOOLONG a name longer than 255 octets in wire form
 *   -EINVAL       out NULL, or buf NULL with len > 0
 * On error, *out still holds the header and the records parsed before the
 * fault (qdcount/ancount say how many), so a caller can report the question
 * of a reply whose answers are broken. out is caller-owned and overwritten;
 * every string in it is NUL-terminated. */
int dns__parse(const uint8_t *buf, size_t len, bool tcp, struct dns_message *out, char *err,
	       size_t errlen);

/* "A", "AAAA", "HTTPS", ... from a static table, or "TYPE%u" written to tmp
 * (which needs DNS_TYPE_NAME_LEN bytes; "TYPE?" if tmp is too small). */
const char *dns__type_name(uint16_t type, char *tmp, size_t tmplen);

/* "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", ... (a static string): the
 * unassigned header values 12..15 as "RCODE12".."RCODE15", the extended
 * codes 16..23 by name, anything larger "UNKNOWN". */
const char *dns__rcode_name(uint8_t rcode);

#endif
