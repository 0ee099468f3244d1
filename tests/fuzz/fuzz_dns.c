// sources: src/enrich/dns.c
/* libFuzzer target for dns__parse. Each input is parsed as a UDP payload, as
 * a TCP segment, and framed behind a length prefix, which must give the same
 * result as the UDP parse. On every return: a documented code, an error
 * sentence exactly when it failed, counts within the caps, and every stored
 * string terminated within its array and in valid presentation form.
 * abort() on anything else, so libFuzzer keeps the input. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_message msg_a, msg_b;

static void need(int cond)
{
	if (!cond)
		abort();
}

static void check_terminated(const char *s)
{
	need(memchr(s, '\0', DNS_NAME_MAX + 1) != NULL);
}

static int is_special(char c)
{
	return c && strchr(".\\\"();@$", c) != NULL;
}

/* Presentation form: optional cut marker, then non-empty labels of at most
 * 63 octets separated by '.', each octet plain, \c (c special) or \DDD. */
static void check_name(const char *s)
{
	unsigned octets = 0;

	check_terminated(s);
	if (strcmp(s, ".") == 0)
		return;
	if (strncmp(s, DNS_NAME_CUT, sizeof(DNS_NAME_CUT) - 1) == 0)
		s += sizeof(DNS_NAME_CUT) - 1;
	need(*s != '\0');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '.') {
			need(octets > 0);
			octets = 0;
			continue;
		}
		if (c == '\\') {
			if (s[1] >= '0' && s[1] <= '9') {
				need(s[2] >= '0' && s[2] <= '9' && s[3] >= '0' && s[3] <= '9');
				need((s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') <= 255);
				s += 3;
			} else {
				need(is_special(s[1]));
				s++;
			}
		} else {
			need(c >= 0x21 && c <= 0x7e && !is_special((char)c));
		}
		need(++octets <= 63);
	}
	need(octets > 0);
}

static void check_text(const char *s)
{
	check_terminated(s);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\') {
			if (s[1] == '"' || s[1] == '\\')
				s++;
			else {
				need(s[1] >= '0' && s[1] <= '2' && s[2] >= '0' && s[2] <= '9' &&
				     s[3] >= '0' && s[3] <= '9');
				s += 3;
			}
		} else {
			need(c >= 0x20 && c <= 0x7e && c != '"');
		}
	}
}

static void check_answer(const struct dns_answer *a)
{
	char tmp[DNS_TYPE_NAME_LEN];
	unsigned char addr[16];
	const char *sp;

	check_name(a->name);
	need(dns__type_name(a->type, tmp, sizeof(tmp))[0] != '\0');
	check_terminated(a->data);
	switch (a->type) {
	case DNS_TYPE_A:
		need(a->data_len == 4 && inet_pton(AF_INET, a->data, addr) == 1);
		break;
	case DNS_TYPE_AAAA:
		need(a->data_len == 16 && inet_pton(AF_INET6, a->data, addr) == 1);
		break;
	case DNS_TYPE_CNAME:
	case DNS_TYPE_PTR:
	case DNS_TYPE_NS:
		check_name(a->data);
		break;
	case DNS_TYPE_MX:
		sp = strchr(a->data, ' ');
		need(sp && sp > a->data && sp - a->data <= 5);
		need(strspn(a->data, "0123456789") == (size_t)(sp - a->data));
		check_name(sp + 1);
		break;
	case DNS_TYPE_TXT:
		check_text(a->data);
		break;
	default:
		need(a->data[0] == '\0');
	}
}

static int run(const uint8_t *buf, size_t len, bool tcp, struct dns_message *m)
{
	char err[256];
	unsigned i;
	int rc;

	memset(err, 'x', sizeof(err));
	rc = dns__parse(buf, len, tcp, m, err, sizeof(err));
	need(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == 0)
		need(err[0] == '\0');
	else
		need((rc == -EMSGSIZE || rc == -EBADMSG || rc == -ELOOP || rc == -ENAMETOOLONG) &&
		     strncmp(err, "dns: ", 5) == 0 && strstr(err, " at offset ") != NULL);
	need(m->qdcount <= DNS_MAX_QUESTIONS && m->ancount <= DNS_MAX_ANSWERS);
	need(m->qdcount <= m->qd_total && m->ancount <= m->an_total);
	need(m->qd_total <= 65535 && m->an_total <= 65535);
	need(m->opcode <= 15 && m->rcode <= 15 && dns__rcode_name(m->rcode)[0] != 'U');
	if (rc == 0) {
		need(m->qdcount == (m->qd_total < DNS_MAX_QUESTIONS ? m->qd_total :
				    DNS_MAX_QUESTIONS));
		need(m->ancount == (m->an_total < DNS_MAX_ANSWERS ? m->an_total :
				    DNS_MAX_ANSWERS));
	}
	for (i = 0; i < DNS_MAX_QUESTIONS; i++) {
		if (i < m->qdcount)
			check_name(m->q[i].name);
		else
			need(m->q[i].name[0] == '\0');
	}
	for (i = 0; i < DNS_MAX_ANSWERS; i++) {
		if (i < m->ancount)
			check_answer(&m->an[i]);
		else
			need(m->an[i].name[0] == '\0' && m->an[i].data[0] == '\0');
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *framed;
	int rc;

	run(data, size, true, &msg_b);
	rc = run(data, size, false, &msg_a);

	if (size > 65535)
		return 0;
	framed = malloc(size + 2);
	if (!framed)
		return 0;
	framed[0] = (uint8_t)(size >> 8);
	framed[1] = (uint8_t)size;
	memcpy(framed + 2, data, size);
	/* A message shorter than a header is -EBADMSG behind a prefix but
	 * -EMSGSIZE bare; past the header the two must agree exactly. */
	if (size >= 12) {
		need(run(framed, size + 2, true, &msg_b) == rc);
		need(memcmp(&msg_a, &msg_b, sizeof(msg_a)) == 0);
	} else {
		need(run(framed, size + 2, true, &msg_b) == -EBADMSG);
	}
	free(framed);
	return 0;
}
