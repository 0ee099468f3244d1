#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "ship/tls.h"

/* What a client context checks, hung on the SSL_CTX (ex_data) so it is freed
 * with it. */
struct tls_verify {
	bool ca;
	bool pinned;
	uint8_t pin[32];
};

static int verify_idx = -1;
static pthread_once_t verify_once = PTHREAD_ONCE_INIT;

static void verify_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void verify_index_init(void)
{
	verify_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, verify_free);
}

static const struct tls_verify *ctx_verify(const SSL_CTX *ctx)
{
	if (verify_idx < 0)
		return NULL;
	return SSL_CTX_get_ex_data(ctx, verify_idx);
}

const char *tls__ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e || !buf || len < 2)
		return "no OpenSSL reason";
	ERR_error_string_n(e, buf, len);
	return buf;
}

/* "<what>: <OpenSSL reason>", emptying the error queue. */
static void ossl_err(char *err, size_t errlen, const char *what)
{
	char reason[256];

	err_set(err, errlen, "%s: %s", what, tls__ossl_reason(reason, sizeof(reason)));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_pin(const char *hex, uint8_t out[32])
{
	size_t i;

	if (strlen(hex) != TLS_PIN_HEX_LEN)
		return -EINVAL;
	for (i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int spki_sha256(X509 *cert, uint8_t md[32])
{
	X509_PUBKEY *pub = cert ? X509_get_X509_PUBKEY(cert) : NULL;
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int len, ok;

	if (!pub)
		return -EINVAL;
	len = i2d_X509_PUBKEY(pub, &der);
	if (len <= 0)
		return -EINVAL;
	ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok && mdlen == 32 ? 0 : -EIO;
}

int tls__spki_pin(X509 *cert, char out[TLS_PIN_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t md[32];
	int rc = spki_sha256(cert, md);
	size_t i;

	if (rc)
		return rc;
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0xf];
	}
	out[TLS_PIN_HEX_LEN] = '\0';
	return 0;
}

int tls__spki_pin_file(const char *cert_file, char out[TLS_PIN_HEX_LEN + 1], char *err,
		       size_t errlen)
{
	BIO *bio = BIO_new_file(cert_file, "r");
	X509 *cert = NULL;
	char what[512];
	int rc;

	if (!bio) {
		snprintf(what, sizeof(what), "tls: cannot open %s", cert_file);
		ossl_err(err, errlen, what);
		return -ENOENT;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!cert) {
		snprintf(what, sizeof(what), "tls: %s holds no PEM certificate", cert_file);
		ossl_err(err, errlen, what);
		return -EBADMSG;
	}
	rc = tls__spki_pin(cert, out);
	if (rc)
		err_set(err, errlen, "tls: %s: cannot encode the certificate's public key",
			cert_file);
	X509_free(cert);
	return rc;
}

static bool pin_matches(const struct tls_verify *v, X509 *cert)
{
	uint8_t md[32];

	if (spki_sha256(cert, md))
		return false;
	/* The pin is not secret, but the habit costs nothing. */
	return CRYPTO_memcmp(md, v->pin, 32) == 0;
}

/* Replaces X509_verify_cert for client contexts (SSL_CTX_set_cert_verify_
 * callback), so pin-only mode needs no CA and still refuses any other key. */
static int cert_verify(X509_STORE_CTX *xs, void *arg)
{
	const struct tls_verify *v = arg;

	if (v->pinned && !pin_matches(v, X509_STORE_CTX_get0_cert(xs))) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (v->ca)
		return X509_verify_cert(xs);
	return 1;
}

static SSL_CTX *ctx_fail(SSL_CTX *ctx, int code)
{
	SSL_CTX_free(ctx);
	errno = code;
	return NULL;
}

static SSL_CTX *new_ctx(const SSL_METHOD *method, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (!ctx) {
		ossl_err(err, errlen, "tls: cannot create a context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		ossl_err(err, errlen, "tls: cannot restrict the context to TLS 1.3");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Partial writes + moving buffer: callers retry from their own growing
	 * buffers. Released buffers: many idle agents should cost little. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	return ctx;
}

SSL_CTX *tls__client_ctx(const char *ca_file, const char *pin_sha256_hex, char *err,
			 size_t errlen)
{
	struct tls_verify *v;
	SSL_CTX *ctx;
	char what[512];

	ERR_clear_error();
	if ((!ca_file || !*ca_file) && (!pin_sha256_hex || !*pin_sha256_hex)) {
		err_set(err, errlen,
			"tls: the collector cannot be authenticated: give a CA file, a pinned key or both");
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&verify_once, verify_index_init);
	if (verify_idx < 0) {
		ossl_err(err, errlen, "tls: cannot register the verification data");
		errno = ENOMEM;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		err_set(err, errlen, "tls: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (pin_sha256_hex && *pin_sha256_hex) {
		if (parse_pin(pin_sha256_hex, v->pin)) {
			err_set(err, errlen,
				"tls: the pinned key must be 64 hex digits (the SHA-256 of the collector's SubjectPublicKeyInfo), got \"%.80s\"",
				pin_sha256_hex);
			free(v);
			errno = EINVAL;
			return NULL;
		}
		v->pinned = true;
	}
	ctx = new_ctx(TLS_client_method(), err, errlen);
	if (!ctx) {
		free(v);
		errno = ENOMEM;
		return NULL;
	}
	if (!SSL_CTX_set_ex_data(ctx, verify_idx, v)) {
		free(v);
		ossl_err(err, errlen, "tls: cannot attach the verification data");
		return ctx_fail(ctx, ENOMEM);
	}
	if (ca_file && *ca_file) {
		v->ca = true;
		if (!SSL_CTX_load_verify_file(ctx, ca_file)) {
			snprintf(what, sizeof(what), "tls: cannot load the CA file %s", ca_file);
			ossl_err(err, errlen, what);
			return ctx_fail(ctx, ENOENT);
		}
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, cert_verify, v);
	return ctx;
}

SSL_CTX *tls__server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	struct stat st;
	SSL_CTX *ctx;
	char what[512];

	ERR_clear_error();
	if (!cert_file || !key_file) {
		err_set(err, errlen, "tls: the server needs a certificate and a key file");
		errno = EINVAL;
		return NULL;
	}
	if (stat(key_file, &st) < 0) {
		err_set(err, errlen, "tls: cannot read the key file %s: %s", key_file,
			strerror(errno));
		return NULL;
	}
	if (st.st_mode & 077) {
		err_set(err, errlen,
			"tls: the key file %s is accessible to group or others (mode %04o): chmod 600 it",
			key_file, (unsigned)(st.st_mode & 07777));
		errno = EPERM;
		return NULL;
	}
	ctx = new_ctx(TLS_server_method(), err, errlen);
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(what, sizeof(what), "tls: cannot load the certificate %s", cert_file);
		ossl_err(err, errlen, what);
		return ctx_fail(ctx, ENOENT);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(what, sizeof(what),
				 "tls: the key %s does not match the certificate %s", key_file,
				 cert_file);
		else
			snprintf(what, sizeof(what), "tls: cannot load the private key %s",
				 key_file);
		ossl_err(err, errlen, what);
		return ctx_fail(ctx, ENOENT);
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "tls: the key %s does not match the certificate %s",
			 key_file, cert_file);
		ossl_err(err, errlen, what);
		return ctx_fail(ctx, EINVAL);
	}
	/* Agents reconnect rarely; resumption state would only be more to keep. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static bool is_ip_literal(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

SSL *tls__client_session(SSL_CTX *ctx, int fd, const char *server_name, char *err,
			 size_t errlen)
{
	const struct tls_verify *v = ctx_verify(ctx);
	bool named = server_name && *server_name;
	SSL *ssl;

	ERR_clear_error();
	if (!v) {
		err_set(err, errlen, "tls: not a client context from tls__client_ctx");
		errno = EINVAL;
		return NULL;
	}
	if (v->ca && !named) {
		err_set(err, errlen,
			"tls: verifying against a CA needs the collector's name to check");
		errno = EINVAL;
		return NULL;
	}
	ssl = SSL_new(ctx);
	if (!ssl) {
		ossl_err(err, errlen, "tls: cannot create a session");
		errno = ENOMEM;
		return NULL;
	}
	if (!SSL_set_fd(ssl, fd)) {
		ossl_err(err, errlen, "tls: cannot attach the socket");
		goto fail;
	}
	if (named && is_ip_literal(server_name)) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name)) {
			ossl_err(err, errlen, "tls: cannot set the address to verify");
			goto fail;
		}
	} else if (named) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!SSL_set1_host(ssl, server_name) ||
		    !SSL_set_tlsext_host_name(ssl, server_name)) {
			ossl_err(err, errlen, "tls: cannot set the name to verify");
			goto fail;
		}
	}
	return ssl;
fail:
	SSL_free(ssl);
	errno = EINVAL;
	return NULL;
}

static uint64_t deadline_after(int timeout_ms)
{
	return mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
}

/* 0 when fd is ready for events, -ETIMEDOUT at the deadline, or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = mono_ms();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* One TLS I/O step's outcome: 1 done, 0 wait (events set), <0 failure. */
static int io_step(SSL *ssl, int ret, short *events)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -EPIPE;
	case SSL_ERROR_SYSCALL:
		return errno ? -errno : -EPIPE;
	default:
		return -EIO;
	}
}

static int tcp_connect(const struct addrinfo *ai, uint64_t deadline, int *out)
{
	socklen_t sl = sizeof(int);
	int fd, rc, soerr = 0, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto fail;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
			rc = -errno;
			goto fail;
		}
		if (soerr) {
			rc = -soerr;
			goto fail;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

/* The pin again, on whatever certificate the session ended up with. */
static int check_peer_pin(SSL *ssl)
{
	const struct tls_verify *v = ctx_verify(SSL_get_SSL_CTX(ssl));

	if (!v || !v->pinned)
		return 0;
	return pin_matches(v, SSL_get0_peer_certificate(ssl)) ? 0 : -EPERM;
}

static int handshake(SSL *ssl, int fd, const char *where, uint64_t deadline, char *err,
		     size_t errlen)
{
	char reason[256];
	long vr;
	int rc;

	for (;;) {
		short ev = 0;

		ERR_clear_error();
		errno = 0;
		rc = SSL_connect(ssl);
		if (rc == 1)
			break;
		rc = io_step(ssl, rc, &ev);
		if (rc == 0) {
			rc = wait_fd(fd, ev, deadline);
			if (rc == -ETIMEDOUT) {
				err_set(err, errlen, "tls: %s: the TLS handshake timed out", where);
				return rc;
			}
			if (rc)
				return rc;
			continue;
		}
		vr = SSL_get_verify_result(ssl);
		if (vr == X509_V_ERR_APPLICATION_VERIFICATION) {
			ERR_clear_error();
			err_set(err, errlen,
				"tls: %s: collector certificate does not match the pinned key",
				where);
			return -EPERM;
		}
		if (vr != X509_V_OK) {
			ERR_clear_error();
			err_set(err, errlen, "tls: %s: collector certificate refused: %s", where,
				X509_verify_cert_error_string(vr));
			return -EPERM;
		}
		if (rc == -EPIPE || (rc != -EIO && !ERR_peek_error())) {
			ERR_clear_error();
			err_set(err, errlen,
				"tls: %s: the collector closed the connection during the TLS handshake",
				where);
			return -EPROTO;
		}
		err_set(err, errlen, "tls: %s: TLS handshake failed: %s", where,
			tls__ossl_reason(reason, sizeof(reason)));
		return -EPROTO;
	}
	if (SSL_version(ssl) != TLS1_3_VERSION) {
		err_set(err, errlen, "tls: %s: the collector negotiated %s, not TLS 1.3", where,
			SSL_get_version(ssl));
		return -EPROTO;
	}
	if (check_peer_pin(ssl)) {
		err_set(err, errlen, "tls: %s: collector certificate does not match the pinned key",
			where);
		return -EPERM;
	}
	return 0;
}

int tls__connect(SSL_CTX *ctx, const char *host, uint16_t port, const char *server_name,
		 int timeout_ms, SSL **ssl_out, int *fd_out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	uint64_t deadline = deadline_after(timeout_ms);
	struct addrinfo *res = NULL, *ai;
	char portstr[8], where[300];
	int rc = -EHOSTUNREACH, fd = -1, gai;
	SSL *ssl;

	*ssl_out = NULL;
	*fd_out = -1;
	if (!ctx || !host || !*host) {
		err_set(err, errlen, "tls: connect needs a context and a host");
		return -EINVAL;
	}
	snprintf(where, sizeof(where), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	snprintf(portstr, sizeof(portstr), "%u", port);
	gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai) {
		err_set(err, errlen, "tls: cannot resolve %s: %s", host, gai_strerror(gai));
		return gai == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		rc = tcp_connect(ai, deadline, &fd);
		if (!rc || rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (rc) {
		err_set(err, errlen, "tls: cannot connect to %s: %s", where,
			rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
		return rc;
	}
	ssl = tls__client_session(ctx, fd, server_name ? server_name : host, err, errlen);
	if (!ssl) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = handshake(ssl, fd, where, deadline, err, errlen);
	if (rc) {
		tls__close(ssl, fd);
		return rc;
	}
	*ssl_out = ssl;
	*fd_out = fd;
	return 0;
}

int tls__write_all(SSL *ssl, int fd, const void *p, size_t n, int timeout_ms, char *err,
		   size_t errlen)
{
	uint64_t deadline = deadline_after(timeout_ms);
	const char *c = p;
	char reason[256];
	size_t off = 0;

	while (off < n) {
		size_t w = 0;
		short ev = 0;
		int rc;

		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(ssl, c + off, n - off, &w)) {
			off += w;
			continue;
		}
		rc = io_step(ssl, 0, &ev);
		if (rc == 0) {
			rc = wait_fd(fd, ev, deadline);
			if (rc == -ETIMEDOUT)
				err_set(err, errlen, "tls: write timed out after %zu of %zu bytes",
					off, n);
			else if (rc)
				err_set(err, errlen, "tls: poll: %s", strerror(-rc));
			if (rc)
				return rc;
			continue;
		}
		if (rc == -EIO) {
			err_set(err, errlen, "tls: write failed: %s",
				tls__ossl_reason(reason, sizeof(reason)));
			return -EIO;
		}
		ERR_clear_error();
		err_set(err, errlen, "tls: write failed: the peer closed the connection (%s)",
			strerror(-rc));
		return -EPIPE;
	}
	return 0;
}

long tls__read(SSL *ssl, int fd, void *buf, size_t cap, int timeout_ms, char *err,
	       size_t errlen)
{
	uint64_t deadline = deadline_after(timeout_ms);
	char reason[256];

	if (!cap)
		return -EINVAL;
	for (;;) {
		size_t got = 0;
		short ev = 0;
		int rc;

		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(ssl, buf, cap, &got))
			return (long)got;
		rc = io_step(ssl, 0, &ev);
		if (rc == 0) {
			rc = wait_fd(fd, ev, deadline);
			if (rc == -ETIMEDOUT)
				err_set(err, errlen, "tls: read timed out");
			else if (rc)
				err_set(err, errlen, "tls: poll: %s", strerror(-rc));
			if (rc)
				return rc;
			continue;
		}
		if (rc == -EIO && ERR_GET_REASON(ERR_peek_error()) ==
					  SSL_R_UNEXPECTED_EOF_WHILE_READING)
			rc = -EPIPE;
		if (rc == -EIO) {
			err_set(err, errlen, "tls: read failed: %s",
				tls__ossl_reason(reason, sizeof(reason)));
			return -EIO;
		}
		ERR_clear_error();
		if (rc == -EPIPE)
			return 0;
		err_set(err, errlen, "tls: read failed: %s", strerror(-rc));
		return rc;
	}
}

void tls__close(SSL *ssl, int fd)
{
	if (ssl) {
		/* Best effort on a non-blocking socket: no waiting for the reply. */
		if (SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
		ERR_clear_error();
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
}

int tls__split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, char *err,
			size_t errlen)
{
	const char *h = s, *colon;
	size_t hl;
	char *end;
	unsigned long p;

	if (!s || !host || !hostlen) {
		err_set(err, errlen, "tls: no address given");
		return -EINVAL;
	}
	if (*s == '[') {
		const char *close_br = strchr(s, ']');

		if (!close_br || close_br[1] != ':') {
			err_set(err, errlen, "tls: \"%.100s\": expected [address]:port", s);
			return -EINVAL;
		}
		h = s + 1;
		hl = (size_t)(close_br - h);
		colon = close_br + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			err_set(err, errlen, "tls: \"%.100s\": expected host:port", s);
			return -EINVAL;
		}
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl)) {
			err_set(err, errlen,
				"tls: \"%.100s\": an IPv6 address needs brackets, as in [::1]:7443",
				s);
			return -EINVAL;
		}
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p > 65535 || colon[1] == '-' || colon[1] == '+') {
		err_set(err, errlen, "tls: \"%.100s\": the port must be a number from 0 to 65535",
			s);
		return -EINVAL;
	}
	if (hl == 1 && *h == '*')
		hl = 0;
	if (hl >= hostlen) {
		err_set(err, errlen, "tls: \"%.100s\": the host name is too long", s);
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}
