/* TLS 1.3 for the agent → collector link (OpenSSL 3).
 *
 * Both sides speak TLS 1.3 and nothing else (min = max = TLS1_3_VERSION): no
 * downgrade to negotiate, only AEAD suites, forward secrecy always.
 *
 * The agent authenticates the collector in one of three ways:
 *   CA only    the chain must verify against ca_file (and only ca_file: the
 *              system store is not consulted, a private PKI should not trust
 *              every public CA) and the certificate must name server_name
 *              (DNS name or IP address, see tls__client_session);
 *   pin only   the certificate's SubjectPublicKeyInfo must hash (SHA-256, DER)
 *              to the pin; chain and name are not checked, because the pin
 *              names the one key the agent trusts — any other key is refused;
 *   both       both must pass.
 * The pin is checked in the verification callback, so a mismatch fails the
 * handshake with an alert, and again after the handshake on the session's
 * peer certificate, so no path (resumption included) skips it.
 *
 * Contexts and sessions are OpenSSL objects: free them with SSL_CTX_free /
 * tls__close. Functions that return a pointer return NULL on failure with
 * errno set and one sentence in err (NULL allowed) that carries OpenSSL's
 * reason where there is one.
 *
 * OpenSSL writes to sockets with write(2): a process using this must ignore
 * SIGPIPE (signal(SIGPIPE, SIG_IGN)) or a peer that goes away kills it. */
#ifndef VIGIL_TLS_H
#define VIGIL_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define TLS_PIN_HEX_LEN 64	/* lowercase hex of a SHA-256, without the NUL */

/* ca_file, pin_sha256_hex: either or both (see above); neither is -EINVAL.
 * The pin is 64 hex digits, either case. */
SSL_CTX *tls__client_ctx(const char *ca_file, const char *pin_sha256_hex, char *err,
			 size_t errlen);

/* cert_file: PEM, the server certificate then any intermediates; key_file: PEM
 * private key, refused (EPERM) if group or others may access it. */
SSL_CTX *tls__server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* A client session on connected socket fd (not owned: tls__close closes it).
 * server_name is the name the certificate must carry: an IP literal is
 * checked against the iPAddress SANs, anything else against the DNS names and
 * sent as SNI. Required when the context verifies against a CA (EINVAL
 * otherwise); may be NULL in pin-only mode. */
SSL *tls__client_session(SSL_CTX *ctx, int fd, const char *server_name, char *err,
			 size_t errlen);

/* Resolves host, connects to port and completes the handshake, all within
 * timeout_ms (name resolution aside: getaddrinfo cannot be bounded; give an IP
 * literal where that matters). Every address of host is tried in turn with
 * the time left. server_name NULL means host. On success *ssl and *fd are the
 * caller's (tls__close) and fd stays non-blocking: use tls__write_all /
 * tls__read. Returns 0 or a negative errno: -ETIMEDOUT, -ECONNREFUSED, ...,
 * -EPROTO for a failed handshake, -EPERM when the collector's certificate was
 * refused (err says why: "collector certificate does not match the pinned
 * key", "... hostname mismatch", "... unable to get local issuer
 * certificate"). */
int tls__connect(SSL_CTX *ctx, const char *host, uint16_t port, const char *server_name,
		 int timeout_ms, SSL **ssl, int *fd, char *err, size_t errlen);

/* Writes all n bytes within timeout_ms. 0, -ETIMEDOUT, -EPIPE (peer closed) or
 * -EIO (TLS error, err carries OpenSSL's reason). */
int tls__write_all(SSL *ssl, int fd, const void *p, size_t n, int timeout_ms, char *err,
		   size_t errlen);

/* Reads at most cap bytes, waiting up to timeout_ms for the first one.
 * Returns the count (> 0), 0 when the peer closed the connection, or -ETIMEDOUT
 * / -EIO. */
long tls__read(SSL *ssl, int fd, void *buf, size_t cap, int timeout_ms, char *err,
	       size_t errlen);

/* Sends close_notify without waiting for the peer's (the frames are length
 * delimited, so a truncation is visible without it), frees ssl and closes fd.
 * Either may be NULL / -1. */
void tls__close(SSL *ssl, int fd);

/* SHA-256 of a certificate's SubjectPublicKeyInfo (DER) as lowercase hex,
 * written to out (TLS_PIN_HEX_LEN + 1 bytes). */
int tls__spki_pin(X509 *cert, char out[TLS_PIN_HEX_LEN + 1]);
/* The same for the first certificate of a PEM file: what `vigil enroll` prints
 * for agents to pin. */
int tls__spki_pin_file(const char *cert_file, char out[TLS_PIN_HEX_LEN + 1], char *err,
		       size_t errlen);

/* Splits "host:port" or "[ipv6]:port" (an IPv6 address needs the brackets).
 * host gets the name without brackets; an empty host or "*" gives "" (any
 * address, for a listener). -EINVAL with err when the port is missing, not a
 * number or over 65535, or the host is unbracketed IPv6 or does not fit
 * hostlen. */
int tls__split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, char *err,
			size_t errlen);

/* The oldest error on this thread's OpenSSL error queue as ERR_error_string_n
 * writes it, in buf, or "no OpenSSL reason"; empties the queue. */
const char *tls__ossl_reason(char *buf, size_t len);

#endif
