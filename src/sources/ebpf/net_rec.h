/* Network and DNS records → pipeline (net.c), and the pure helpers that
 * turn their binary fields into text. */
#ifndef VIGIL_NET_REC_H
#define VIGIL_NET_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pipeline;

/* Validates one VG_REC_NET record and reports it; -EBADMSG when its size or
 * a length field is wrong. */
int net_rec__handle(struct pipeline *pl, const void *data, size_t size);
/* Validates one VG_REC_DNS record, parses its payload (enrich/dns.h) and
 * reports it; -EBADMSG when the record's lengths do not add up. A payload
 * that is not DNS is still reported, with the parser's reason. */
int dns_rec__handle(struct pipeline *pl, const void *data, size_t size);

/* addr (network order, IPv4 in the first 4 bytes) as text into out:
 * "127.0.0.1", "::1", "::ffff:10.0.0.1". -EAFNOSUPPORT for another family,
 * -ENOSPC when out is too small (46 bytes always suffice). */
int net_rec__format_ip(uint16_t family, const uint8_t addr[16], char *out, size_t outlen);

/* An AF_UNIX sun_path of len bytes as the kernel holds it, as text into out.
 * A path name ends at its first NUL; an abstract name (first byte NUL) is
 * "@" + the other len - 1 bytes, every byte outside 0x21..0x7e and '\\'
 * written \xHH (so NULs and newlines inside the name survive, and the text
 * is unambiguous). Sets *abstract. Returns the text length, 0 for an
 * unnamed socket (out ""), -ENOSPC when out is too small
 * (NET_ADDR_TEXT_MAX always suffices for len <= 108). */
int net_rec__format_unix(const char *path, size_t len, char *out, size_t outlen, bool *abstract);

/* Static names, NULL when unknown (the JSON says null). */
const char *net_rec__family_name(uint16_t family);	/* "AF_INET", ... */
const char *net_rec__socket_type_name(uint16_t type);	/* "stream", "dgram", ... */
const char *net_rec__protocol_name(uint16_t family, uint16_t protocol);	/* "tcp", ... */
const char *net_rec__tcp_state_name(uint8_t state);	/* "ESTABLISHED", ... */

/* A kernel object address → an id for the output: stable for the agent's
 * life, and not the address (which would help an attacker defeat KASLR).
 * 0 stays 0 (unknown). */
uint64_t net_rec__socket_id(uint64_t kernel_addr);

#endif
