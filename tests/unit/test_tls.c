/* The local PKI (files, modes, extensions, idempotence, renewal, refusal of
 * loose key files) and TLS 1.3 over loopback between tls__connect and a
 * one-shot server thread: CA and IP/DNS name checks, pins, a wrong CA, a
 * pinned key that differs, TLS 1.2 in either direction, timeouts. Every
 * wait is bounded: a bug fails a check instead of hanging. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ship/pki.h"
#include "ship/tls.h"
#include "unit.h"

static char root[32], dir_a[64], dir_b[64], dir_ed[64];
static char err[512];

static void path(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static unsigned mode_of(const char *dir, const char *name)
{
	char p[256];
	struct stat st;

	path(p, sizeof(p), dir, name);
	if (stat(p, &st) < 0)
		return 0;
	return (unsigned)(st.st_mode & 07777);
}

static X509 *read_cert(const char *dir, const char *name)
{
	char p[256];
	X509 *x = NULL;
	FILE *f;

	path(p, sizeof(p), dir, name);
	f = fopen(p, "r");
	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static bool read_all(const char *dir, const char *name, char *out, size_t cap)
{
	char p[256];
	size_t n;
	FILE *f;

	path(p, sizeof(p), dir, name);
	f = fopen(p, "r");
	if (!f)
		return false;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
	return n > 0;
}

/* The pin computed another way: from the private key file. */
static bool pin_from_key(const char *dir, char out[TLS_PIN_HEX_LEN + 1])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	EVP_PKEY *k;
	char p[256];
	FILE *f;
	int len, i;

	path(p, sizeof(p), dir, "server.key");
	f = fopen(p, "r");
	if (!f)
		return false;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		return false;
	len = i2d_PUBKEY(k, &der);
	EVP_PKEY_free(k);
	if (len <= 0)
		return false;
	EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	return mdlen == 32;
}

static void test_pki(void)
{
	struct pki_result r;
	char pem1[8192], pem2[8192], key1[4096], key2[4096], pin1[65], pin2[65], p[256];
	X509 *ca, *srv;
	int rc;

	rc = pki__make_local(dir_a, NULL, &r, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "pki: %s\n", err);
	CHECK(r.ca_created && r.server_created && r.server_key_created);
	CHECK_INT(mode_of(dir_a, "ca.key"), 0600);
	CHECK_INT(mode_of(dir_a, "server.key"), 0600);
	CHECK_INT(mode_of(dir_a, "ca.pem"), 0644);
	CHECK_INT(mode_of(dir_a, "server.pem"), 0644);

	ca = read_cert(dir_a, "ca.pem");
	srv = read_cert(dir_a, "server.pem");
	CHECK(ca && srv);
	if (ca && srv) {
		const ASN1_INTEGER *s1 = X509_get0_serialNumber(ca);
		const ASN1_INTEGER *s2 = X509_get0_serialNumber(srv);
		time_t in_two_years = time(NULL) + 2 * 365 * 86400;

		CHECK(X509_check_ca(ca) >= 1);
		CHECK_INT(X509_check_ca(srv), 0);
		CHECK_INT(X509_check_purpose(srv, X509_PURPOSE_SSL_SERVER, 0), 1);
		CHECK_INT(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
		CHECK_INT(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
		CHECK_INT(X509_check_ip_asc(srv, "::1", 0), 1);
		CHECK(X509_check_host(srv, "example.com", 0, 0, NULL) != 1);
		CHECK(X509_check_ip_asc(srv, "10.0.0.1", 0) != 1);
		CHECK(X509_get_key_usage(srv) & KU_DIGITAL_SIGNATURE);
		CHECK(!(X509_get_key_usage(srv) & KU_KEY_CERT_SIGN));
		CHECK(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
		CHECK_INT(X509_verify(srv, X509_get0_pubkey(ca)), 1);
		CHECK(ASN1_INTEGER_cmp(s1, s2) != 0);
		CHECK(s1->length >= 16 && !(s1->type & V_ASN1_NEG));
		CHECK(X509_cmp_time(X509_get0_notAfter(srv), &in_two_years) > 0);
		CHECK_INT(X509_get_version(srv), X509_VERSION_3);
	}
	X509_free(ca);
	X509_free(srv);

	/* Idempotent: nothing rewritten. */
	CHECK(read_all(dir_a, "server.pem", pem1, sizeof(pem1)));
	CHECK(read_all(dir_a, "server.key", key1, sizeof(key1)));
	rc = pki__make_local(dir_a, NULL, &r, err, sizeof(err));
	CHECK_INT(rc, 0);
	CHECK(!r.ca_created && !r.server_created && !r.server_key_created);
	CHECK(read_all(dir_a, "server.pem", pem2, sizeof(pem2)));
	CHECK_STR(pem1, pem2);

	/* The pin printed for enrollment is the SPKI hash of the key. */
	path(p, sizeof(p), dir_a, "missing.pem");
	CHECK(tls__spki_pin_file(p, pin1, err, sizeof(err)) < 0);
	CHECK(strstr(err, "missing.pem") != NULL);
	path(p, sizeof(p), dir_a, "server.pem");
	CHECK_INT(tls__spki_pin_file(p, pin1, err, sizeof(err)), 0);
	CHECK(pin_from_key(dir_a, pin2));
	CHECK_STR(pin1, pin2);
	CHECK_INT(strlen(pin1), TLS_PIN_HEX_LEN);

	/* A lost certificate is reissued for the same key: pins survive. */
	unlink(p);
	rc = pki__make_local(dir_a, NULL, &r, err, sizeof(err));
	CHECK_INT(rc, 0);
	CHECK(!r.ca_created && r.server_created && !r.server_key_created);
	CHECK_INT(tls__spki_pin_file(p, pin2, err, sizeof(err)), 0);
	CHECK_STR(pin1, pin2);
	CHECK(read_all(dir_a, "server.key", key2, sizeof(key2)));
	CHECK_STR(key1, key2);

	/* A garbled certificate is reissued too. */
	{
		FILE *f = fopen(p, "w");

		if (f) {
			fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n", f);
			fclose(f);
		}
		rc = pki__make_local(dir_a, NULL, &r, err, sizeof(err));
		CHECK_INT(rc, 0);
		CHECK(r.server_created && !r.ca_created);
		srv = read_cert(dir_a, "server.pem");
		CHECK(srv != NULL);
		X509_free(srv);
	}

	/* A key file others can read is refused, not silently replaced. */
	path(p, sizeof(p), dir_a, "ca.key");
	chmod(p, 0644);
	err[0] = '\0';
	rc = pki__make_local(dir_a, NULL, &r, err, sizeof(err));
	CHECK_INT(rc, -EPERM);
	CHECK(strstr(err, "ca.key") != NULL);
	CHECK(!r.ca_created && !r.server_created);
	chmod(p, 0600);

	/* A certificate from another CA is not accepted as ours. */
	rc = pki__make_local(dir_b, NULL, &r, err, sizeof(err));
	CHECK_INT(rc, 0);
	{
		char from[256], to[256];

		path(from, sizeof(from), dir_b, "server.pem");
		path(to, sizeof(to), dir_a, "server.pem");
		CHECK(read_all(dir_b, "server.pem", pem1, sizeof(pem1)));
		FILE *f = fopen(to, "w");

		if (f) {
			fputs(pem1, f);
			fclose(f);
		}
		rc = pki__make_local(dir_a, NULL, &r, err, sizeof(err));
		CHECK_INT(rc, 0);
		CHECK(r.server_created && !r.ca_created);
		CHECK_INT(tls__spki_pin_file(to, pin2, err, sizeof(err)), 0);
		CHECK_STR(pin1, pin2);	/* dir_a's key again, not dir_b's */
		(void)from;
	}

	/* Ed25519 keys, and an extra name. */
	{
		struct pki_opts o = { .key_type = PKI_KEY_ED25519,
				      .extra_san = "DNS:collector.test" };

		rc = pki__make_local(dir_ed, &o, &r, err, sizeof(err));
		CHECK_INT(rc, 0);
		if (rc)
			fprintf(stderr, "pki ed25519: %s\n", err);
		srv = read_cert(dir_ed, "server.pem");
		CHECK(srv && EVP_PKEY_is_a(X509_get0_pubkey(srv), "ED25519"));
		CHECK(srv && X509_check_host(srv, "collector.test", 0, 0, NULL) == 1);
		X509_free(srv);
		rc = pki__make_local(dir_ed, &o, &r, err, sizeof(err));
		CHECK(rc == 0 && !r.server_created);
		o.extra_san = "DNS:other.test";		/* a name it lacks: reissued */
		rc = pki__make_local(dir_ed, &o, &r, err, sizeof(err));
		CHECK(rc == 0 && r.server_created && !r.server_key_created);
	}

	/* Bad options. */
	{
		struct pki_opts o = { .server_days = 10 };

		CHECK_INT(pki__make_local(dir_a, &o, NULL, err, sizeof(err)), -EINVAL);
		CHECK_INT(pki__make_local("", NULL, NULL, err, sizeof(err)), -EINVAL);
		CHECK(pki__make_local("/nonexistent-dir/x", NULL, NULL, err, sizeof(err)) < 0);
	}
}

/* A one-connection TLS server on a thread. */
struct peer {
	int lfd;
	SSL_CTX *ctx;
	bool handshake_ok;
	int version;
	char reason[256];
	bool echoed;
	bool never_handshake;	/* accept TCP only and sit there */
	pthread_t th;
};

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&a, &sl)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct pollfd pf = { .fd = p->lfd, .events = POLLIN };
	struct timeval tv = { .tv_sec = 5 };
	char buf[64];
	SSL *ssl;
	int fd, n;

	if (poll(&pf, 1, 5000) != 1)
		return NULL;
	fd = accept(p->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (p->never_handshake) {
		poll(&pf, 0, 1500);
		close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ssl = SSL_new(p->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		p->handshake_ok = true;
		p->version = SSL_version(ssl);
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n > 0 && SSL_write(ssl, buf, n) == n)
			p->echoed = true;
		SSL_shutdown(ssl);
	} else {
		unsigned long e = ERR_get_error();

		ERR_error_string_n(e, p->reason, sizeof(p->reason));
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

static uint16_t peer_start(struct peer *p, SSL_CTX *ctx, bool never_handshake)
{
	uint16_t port = 0;

	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	p->never_handshake = never_handshake;
	p->lfd = listen_loopback(&port);
	if (p->lfd < 0 || pthread_create(&p->th, NULL, peer_main, p)) {
		fprintf(stderr, "cannot start the test server\n");
		exit(2);
	}
	return port;
}

static void peer_join(struct peer *p)
{
	pthread_join(p->th, NULL);
	close(p->lfd);
}

/* Connects with cli to a fresh one-shot server using srv_ctx; on success
 * sends "ping" and expects it back. Returns tls__connect's result. */
static int try_connect(SSL_CTX *srv_ctx, SSL_CTX *cli, const char *name, struct peer *p)
{
	uint16_t port = peer_start(p, srv_ctx, false);
	SSL *ssl = NULL;
	char buf[16];
	int fd = -1, rc;

	err[0] = '\0';
	rc = tls__connect(cli, "127.0.0.1", port, name, 3000, &ssl, &fd, err, sizeof(err));
	if (rc == 0) {
		long n;

		CHECK_INT(SSL_version(ssl), TLS1_3_VERSION);
		CHECK_INT(tls__write_all(ssl, fd, "ping", 4, 3000, err, sizeof(err)), 0);
		n = tls__read(ssl, fd, buf, sizeof(buf), 3000, err, sizeof(err));
		CHECK_INT(n, 4);
		CHECK(n == 4 && memcmp(buf, "ping", 4) == 0);
		/* The server closes after the echo: a clean EOF. */
		CHECK_INT(tls__read(ssl, fd, buf, sizeof(buf), 3000, err, sizeof(err)), 0);
		tls__close(ssl, fd);
	}
	peer_join(p);
	return rc;
}

static void test_handshakes(void)
{
	char ca_a[256], ca_b[256], cert[256], key[256], pin_a[65], pin_b[65];
	SSL_CTX *srv_a, *srv_ed, *cli;
	struct peer p;
	int rc;

	path(ca_a, sizeof(ca_a), dir_a, "ca.pem");
	path(ca_b, sizeof(ca_b), dir_b, "ca.pem");
	path(cert, sizeof(cert), dir_a, "server.pem");
	path(key, sizeof(key), dir_a, "server.key");
	CHECK_INT(tls__spki_pin_file(cert, pin_a, err, sizeof(err)), 0);
	{
		char cb[256];

		path(cb, sizeof(cb), dir_b, "server.pem");
		CHECK_INT(tls__spki_pin_file(cb, pin_b, err, sizeof(err)), 0);
	}
	srv_a = tls__server_ctx(cert, key, err, sizeof(err));
	CHECK(srv_a != NULL);
	if (!srv_a) {
		fprintf(stderr, "server ctx: %s\n", err);
		return;
	}

	/* CA, by DNS name and by IP address. */
	cli = tls__client_ctx(ca_a, NULL, err, sizeof(err));
	CHECK(cli != NULL);
	rc = try_connect(srv_a, cli, "localhost", &p);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "connect: %s\n", err);
	CHECK(p.handshake_ok && p.echoed && p.version == TLS1_3_VERSION);
	CHECK_INT(try_connect(srv_a, cli, NULL, &p), 0);	/* host 127.0.0.1 is the name */
	CHECK(p.handshake_ok);

	/* A name the certificate does not carry. */
	rc = try_connect(srv_a, cli, "collector.example", &p);
	CHECK_INT(rc, -EPERM);
	CHECK(strstr(err, "hostname mismatch") != NULL);
	CHECK(!p.handshake_ok);
	rc = try_connect(srv_a, cli, "10.1.2.3", &p);
	CHECK_INT(rc, -EPERM);
	CHECK(strstr(err, "IP address mismatch") != NULL);
	SSL_CTX_free(cli);

	/* The wrong CA: both sides fail the handshake. */
	cli = tls__client_ctx(ca_b, NULL, err, sizeof(err));
	rc = try_connect(srv_a, cli, "localhost", &p);
	CHECK_INT(rc, -EPERM);
	CHECK(strstr(err, "collector certificate refused") != NULL);
	CHECK(strstr(err, "local issuer") != NULL);
	CHECK(!p.handshake_ok);
	CHECK(strstr(p.reason, "unknown ca") != NULL);
	SSL_CTX_free(cli);

	/* Pin only: the right key passes without CA or name... */
	cli = tls__client_ctx(NULL, pin_a, err, sizeof(err));
	CHECK(cli != NULL);
	CHECK_INT(try_connect(srv_a, cli, NULL, &p), 0);
	CHECK(p.handshake_ok && p.echoed);
	CHECK_INT(try_connect(srv_a, cli, "any.name.at.all", &p), 0);
	SSL_CTX_free(cli);
	/* ...in either case of hex... */
	{
		char upper[65];
		size_t i;

		for (i = 0; i < sizeof(upper); i++)
			upper[i] = (char)(pin_a[i] >= 'a' && pin_a[i] <= 'f' ? pin_a[i] - 32
								     : pin_a[i]);
		cli = tls__client_ctx(NULL, upper, err, sizeof(err));
		CHECK(cli != NULL);
		CHECK_INT(try_connect(srv_a, cli, NULL, &p), 0);
		SSL_CTX_free(cli);
	}
	/* ...and any other key is refused, even one a trusted CA signed. */
	cli = tls__client_ctx(NULL, pin_b, err, sizeof(err));
	rc = try_connect(srv_a, cli, NULL, &p);
	CHECK_INT(rc, -EPERM);
	CHECK(strstr(err, "collector certificate does not match the pinned key") != NULL);
	CHECK(!p.handshake_ok);
	SSL_CTX_free(cli);
	/* A pin one bit off. */
	{
		char off[65];

		memcpy(off, pin_a, sizeof(off));
		off[63] = off[63] == '0' ? '1' : '0';
		cli = tls__client_ctx(NULL, off, err, sizeof(err));
		CHECK_INT(try_connect(srv_a, cli, NULL, &p), -EPERM);
		SSL_CTX_free(cli);
	}

	/* CA and pin: both must hold. */
	cli = tls__client_ctx(ca_a, pin_a, err, sizeof(err));
	CHECK_INT(try_connect(srv_a, cli, "localhost", &p), 0);
	CHECK_INT(try_connect(srv_a, cli, "wrong.example", &p), -EPERM);
	SSL_CTX_free(cli);
	cli = tls__client_ctx(ca_a, pin_b, err, sizeof(err));
	CHECK_INT(try_connect(srv_a, cli, "localhost", &p), -EPERM);
	CHECK(strstr(err, "pinned key") != NULL);
	SSL_CTX_free(cli);

	/* A CA-verified session needs a name (tls__client_session). */
	cli = tls__client_ctx(ca_a, NULL, err, sizeof(err));
	CHECK(tls__client_session(cli, 0, NULL, err, sizeof(err)) == NULL);
	CHECK_INT(errno, EINVAL);
	SSL_CTX_free(cli);

	/* A TLS 1.2-only client is refused by our server... */
	{
		SSL_CTX *old = SSL_CTX_new(TLS_client_method());
		uint16_t port = peer_start(&p, srv_a, false);
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					 .sin_port = htons(port) };
		struct timeval tv = { .tv_sec = 5 };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		SSL *ssl;

		SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION);
		SSL_CTX_set_verify(old, SSL_VERIFY_NONE, NULL);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		CHECK_INT(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		ssl = SSL_new(old);
		SSL_set_fd(ssl, fd);
		CHECK(SSL_connect(ssl) != 1);
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		peer_join(&p);
		CHECK(!p.handshake_ok);
		CHECK(strstr(p.reason, "unsupported protocol") != NULL);
		SSL_CTX_free(old);
	}
	/* ...and our client refuses a TLS 1.2-only server. */
	{
		SSL_CTX *old = SSL_CTX_new(TLS_server_method());

		SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION);
		SSL_CTX_use_certificate_chain_file(old, cert);
		SSL_CTX_use_PrivateKey_file(old, key, SSL_FILETYPE_PEM);
		cli = tls__client_ctx(ca_a, NULL, err, sizeof(err));
		rc = try_connect(old, cli, "localhost", &p);
		CHECK_INT(rc, -EPROTO);
		CHECK(strstr(err, "TLS handshake failed") != NULL);
		CHECK(!p.handshake_ok);
		SSL_CTX_free(cli);
		SSL_CTX_free(old);
	}

	/* Ed25519 certificates work end to end. */
	{
		char ced[256], ked[256], caed[256];

		path(ced, sizeof(ced), dir_ed, "server.pem");
		path(ked, sizeof(ked), dir_ed, "server.key");
		path(caed, sizeof(caed), dir_ed, "ca.pem");
		srv_ed = tls__server_ctx(ced, ked, err, sizeof(err));
		CHECK(srv_ed != NULL);
		cli = tls__client_ctx(caed, NULL, err, sizeof(err));
		if (srv_ed && cli) {
			CHECK_INT(try_connect(srv_ed, cli, "other.test", &p), 0);
			CHECK_INT(try_connect(srv_ed, cli, "::1", &p), 0);	/* IP SAN, v6 */
		}
		SSL_CTX_free(cli);
		SSL_CTX_free(srv_ed);
	}

	/* A server that accepts TCP and never answers: the handshake times out. */
	{
		uint16_t port = peer_start(&p, srv_a, true);
		struct timespec t0, t1;
		SSL *ssl = NULL;
		int fd = -1;
		long ms;

		cli = tls__client_ctx(ca_a, NULL, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = tls__connect(cli, "127.0.0.1", port, "localhost", 300, &ssl, &fd, err,
				  sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		CHECK_INT(rc, -ETIMEDOUT);
		CHECK(strstr(err, "timed out") != NULL);
		CHECK(ms >= 250 && ms < 1500);
		CHECK(ssl == NULL && fd == -1);
		peer_join(&p);
		SSL_CTX_free(cli);
	}

	/* Nobody listening. */
	{
		uint16_t port;
		int lfd = listen_loopback(&port);
		SSL *ssl = NULL;
		int fd = -1;

		close(lfd);
		cli = tls__client_ctx(ca_a, NULL, err, sizeof(err));
		rc = tls__connect(cli, "127.0.0.1", port, "localhost", 1000, &ssl, &fd, err,
				  sizeof(err));
		CHECK_INT(rc, -ECONNREFUSED);
		SSL_CTX_free(cli);
	}
	SSL_CTX_free(srv_a);
}

static void test_contexts(void)
{
	char cert[256], key[256];
	SSL_CTX *ctx;

	path(cert, sizeof(cert), dir_a, "server.pem");
	path(key, sizeof(key), dir_a, "server.key");

	errno = 0;
	CHECK(tls__client_ctx(NULL, NULL, err, sizeof(err)) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK(tls__client_ctx(NULL, "abc", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "64 hex digits") != NULL);
	CHECK(tls__client_ctx(NULL,
			      "zz00000000000000000000000000000000000000000000000000000000000000",
			      err, sizeof(err)) == NULL);
	CHECK(tls__client_ctx("/nonexistent/ca.pem", NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);

	ctx = tls__server_ctx(cert, key, err, sizeof(err));
	CHECK(ctx != NULL);
	if (ctx) {
		CHECK_INT(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
		CHECK_INT(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
		SSL_CTX_free(ctx);
	}
	ctx = tls__client_ctx(NULL,
			      "00000000000000000000000000000000000000000000000000000000000000ff",
			      err, sizeof(err));
	CHECK(ctx != NULL);
	if (ctx) {
		CHECK_INT(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
		CHECK_INT(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
		SSL_CTX_free(ctx);
	}

	/* A key file others can read, a key of another certificate. */
	chmod(key, 0640);
	errno = 0;
	CHECK(tls__server_ctx(cert, key, err, sizeof(err)) == NULL);
	CHECK_INT(errno, EPERM);
	CHECK(strstr(err, "chmod 600") != NULL);
	chmod(key, 0600);
	{
		char kb[256];

		path(kb, sizeof(kb), dir_b, "server.key");
		CHECK(tls__server_ctx(cert, kb, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "does not match the certificate") != NULL);
	}
	CHECK(tls__server_ctx("/nonexistent.pem", key, err, sizeof(err)) == NULL);
}

static void test_hostport(void)
{
	char host[64];
	uint16_t port = 0;

	CHECK_INT(tls__split_hostport("127.0.0.1:7443", host, sizeof(host), &port, err,
				      sizeof(err)), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_INT(port, 7443);
	CHECK_INT(tls__split_hostport("[::1]:0", host, sizeof(host), &port, err, sizeof(err)), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 0);
	CHECK_INT(tls__split_hostport("collector.example:65535", host, sizeof(host), &port, err,
				      sizeof(err)), 0);
	CHECK_STR(host, "collector.example");
	CHECK_INT(port, 65535);
	CHECK_INT(tls__split_hostport("*:9", host, sizeof(host), &port, err, sizeof(err)), 0);
	CHECK_STR(host, "");
	CHECK_INT(tls__split_hostport(":9", host, sizeof(host), &port, err, sizeof(err)), 0);
	CHECK_STR(host, "");
	CHECK_INT(tls__split_hostport("::1:7443", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "brackets") != NULL);
	CHECK_INT(tls__split_hostport("host", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("host:", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("host:65536", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("host:-1", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("host:12x", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("[::1]7443", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("[::1:7443", host, sizeof(host), &port, err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(tls__split_hostport("averyveryverylongname:1", host, 8, &port, err, sizeof(err)),
		  -EINVAL);
}

int main(void)
{
	char cmd[256];

	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof(root), "/tmp/vigil-tls-XXXXXX");
	if (!mkdtemp(root))
		return 2;
	/* dir_a is created by pki__make_local itself (0700). */
	snprintf(dir_a, sizeof(dir_a), "%s/a", root);
	snprintf(dir_b, sizeof(dir_b), "%s/b", root);
	snprintf(dir_ed, sizeof(dir_ed), "%s/ed", root);

	test_pki();
	CHECK_INT(mode_of(dir_a, "") & 0777, 0700);
	test_contexts();
	test_hostport();
	test_handshakes();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return unit_report("test_tls");
}
