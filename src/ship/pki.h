/* A local PKI for one collector: a CA and a server certificate it signs, so
 * `make run`, the tests and a first deployment get real verified TLS without
 * anyone typing openssl commands.
 *
 * dir holds (created 0700 if missing):
 *   ca.pem       the CA certificate: agents verify against it (0644)
 *   ca.key       its private key (0600)
 *   server.pem   the collector's certificate: DNS localhost, IP 127.0.0.1 and
 *                ::1, plus opts->extra_san (0644)
 *   server.key   its private key (0600)
 *
 * Idempotent: files that are there and valid are kept. A CA that is missing,
 * unreadable, not a CA, not matching its key or expiring within
 * PKI_RENEW_DAYS is made anew together with the server certificate; a server
 * certificate that does not verify against the CA, lacks a required name,
 * does not match its key or expires within PKI_RENEW_DAYS is reissued (its
 * key kept when valid, so pins survive a renewal). A key file that group or
 * others may access is refused (EPERM): it may have leaked, and silently
 * replacing or tightening it would hide that. Files are written to a
 * temporary name, fsynced and renamed, so a crash leaves the old file or the
 * new one, never half of one. */
#ifndef VIGIL_PKI_H
#define VIGIL_PKI_H

#include <stdbool.h>
#include <stddef.h>

#define PKI_CA_DAYS 3650
#define PKI_SERVER_DAYS 825
#define PKI_RENEW_DAYS 30

enum pki_key_type {
	PKI_KEY_EC_P256 = 0,	/* the default: every TLS 1.3 stack verifies it */
	PKI_KEY_ED25519,
};

struct pki_opts {
	enum pki_key_type key_type;	/* for keys made now; kept keys stay as they are */
	unsigned ca_days;		/* 0: PKI_CA_DAYS */
	unsigned server_days;		/* 0: PKI_SERVER_DAYS */
	/* "DNS:collector.example,IP:10.0.0.5" (subjectAltName syntax), added
	 * to the server certificate; NULL for none. */
	const char *extra_san;
};

/* What pki__make_local did, for the caller to log. */
struct pki_result {
	bool ca_created;
	bool server_created;	/* certificate (re)issued */
	bool server_key_created;
};

/* opts and result may be NULL (defaults / not interested). Returns 0 or a
 * negative errno with one sentence in err (OpenSSL's reason included). */
int pki__make_local(const char *dir, const struct pki_opts *opts, struct pki_result *result,
		    char *err, size_t errlen);

#endif
