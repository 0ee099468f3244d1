#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ship/pki.h"

#define PEM_FILE_MAX (64u << 10)	/* far above any certificate or key we write */
#define BASE_SAN "DNS:localhost,IP:127.0.0.1,IP:::1"

struct pki {
	int dirfd;
	const char *dir;
	enum pki_key_type key_type;
	unsigned ca_days, server_days;
	const char *extra_san;
	char *err;
	size_t errlen;
};

static int fail(struct pki *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct pki *p, int code, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* fail() with OpenSSL's reason appended, emptying the error queue. */
static int ossl_fail(struct pki *p, int code, const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[256] = "no OpenSSL reason";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	return fail(p, code, "pki: %s: %s: %s", p->dir, what, reason);
}

/* Reads name (at most PEM_FILE_MAX bytes) into a secure-heap-or-cleansed
 * buffer the caller frees with OPENSSL_clear_free(*out, *len). With key set,
 * refuses a file group or others may access. -ENOENT when absent. */
static int read_file(struct pki *p, const char *name, bool key, char **out, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *b;
	int fd, rc = 0;

	fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return fail(p, -errno, "pki: cannot open %s/%s: %s", p->dir, name,
			    strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		rc = fail(p, -errno, "pki: cannot stat %s/%s: %s", p->dir, name, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(p, -EINVAL, "pki: %s/%s is not a regular file", p->dir, name);
		goto out;
	}
	if (key && (st.st_mode & 077)) {
		rc = fail(p, -EPERM,
			  "pki: the key file %s/%s is accessible to group or others (mode %04o); it may have leaked: remove it to make a new one",
			  p->dir, name, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((size_t)st.st_size > PEM_FILE_MAX) {
		rc = fail(p, -EFBIG, "pki: %s/%s is %lld bytes, over the %u-byte limit", p->dir,
			  name, (long long)st.st_size, PEM_FILE_MAX);
		goto out;
	}
	b = OPENSSL_malloc(PEM_FILE_MAX);
	if (!b) {
		rc = fail(p, -ENOMEM, "pki: out of memory");
		goto out;
	}
	while (got < PEM_FILE_MAX) {
		ssize_t r = read(fd, b + got, PEM_FILE_MAX - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = fail(p, -errno, "pki: cannot read %s/%s: %s", p->dir, name,
				  strerror(errno));
			OPENSSL_clear_free(b, PEM_FILE_MAX);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*out = b;
	*len = got;
out:
	close(fd);
	return rc;
}

static void free_file(char *b)
{
	if (b)
		OPENSSL_clear_free(b, PEM_FILE_MAX);
}

/* The PEM object in file name, parsed by parse; NULL when absent or
 * unparsable (to be made anew); *rc < 0 for errors that must stop us (a key
 * with loose permissions, I/O). secret: a key file (mode checked). */
static void *load_pem(struct pki *p, const char *name, bool secret, void *(*parse)(BIO *),
		      int *rc)
{
	void *obj = NULL;
	char *b = NULL;
	size_t len = 0;
	BIO *bio;

	*rc = read_file(p, name, secret, &b, &len);
	if (*rc == -ENOENT || *rc == -EFBIG || *rc == -EINVAL)
		*rc = 0;
	if (*rc || !b)
		return NULL;
	bio = BIO_new_mem_buf(b, (int)len);
	if (bio)
		obj = parse(bio);
	BIO_free(bio);
	free_file(b);
	ERR_clear_error();
	return obj;
}

static void *parse_cert(BIO *bio)
{
	return PEM_read_bio_X509(bio, NULL, NULL, NULL);
}

static void *parse_key(BIO *bio)
{
	return PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
}

static X509 *load_cert(struct pki *p, const char *name, int *rc)
{
	return load_pem(p, name, false, parse_cert, rc);
}

static EVP_PKEY *load_key(struct pki *p, const char *name, int *rc)
{
	return load_pem(p, name, true, parse_key, rc);
}

static int write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replaces name with [b, b+n) atomically and durably. */
static int write_file(struct pki *p, const char *name, const char *b, size_t n, mode_t mode)
{
	char tmp[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	unlinkat(p->dirfd, tmp, 0);	/* a leftover of a crash */
	fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return fail(p, -errno, "pki: cannot create %s/%s: %s", p->dir, tmp,
			    strerror(errno));
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	else if (!(rc = write_all(fd, b, n)) && fsync(fd) < 0)
		rc = -errno;
	if (rc) {
		close(fd);
		unlinkat(p->dirfd, tmp, 0);
		return fail(p, rc, "pki: cannot write %s/%s: %s", p->dir, tmp, strerror(-rc));
	}
	if (close(fd) < 0 || renameat(p->dirfd, tmp, p->dirfd, name) < 0) {
		rc = -errno;
		unlinkat(p->dirfd, tmp, 0);
		return fail(p, rc, "pki: cannot put %s/%s in place: %s", p->dir, name,
			    strerror(-rc));
	}
	if (fsync(p->dirfd) < 0)
		return fail(p, -errno, "pki: cannot sync %s: %s", p->dir, strerror(errno));
	return 0;
}

/* PEM through a secure-memory BIO, which is cleansed when freed. */
static int save_key(struct pki *p, const char *name, EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long n;
	int rc;

	if (!bio || !PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		return ossl_fail(p, -ENOMEM, "cannot encode a private key");
	}
	n = BIO_get_mem_data(bio, &data);
	rc = n > 0 ? write_file(p, name, data, (size_t)n, 0600) : -EIO;
	BIO_free(bio);
	return rc;
}

static int save_cert(struct pki *p, const char *name, X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc;

	if (!bio || !PEM_write_bio_X509(bio, x)) {
		BIO_free(bio);
		return ossl_fail(p, -ENOMEM, "cannot encode a certificate");
	}
	n = BIO_get_mem_data(bio, &data);
	rc = n > 0 ? write_file(p, name, data, (size_t)n, 0644) : -EIO;
	BIO_free(bio);
	return rc;
}

static EVP_PKEY *gen_key(struct pki *p)
{
	EVP_PKEY *k;

	if (p->key_type == PKI_KEY_ED25519)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k)
		ossl_fail(p, -ENOMEM, "cannot generate a key");
	return k;
}

static int add_ext(struct pki *p, X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
	char what[128];
	int ok;

	if (!ext) {
		snprintf(what, sizeof(what), "cannot make the %s extension \"%.60s\"",
			 OBJ_nid2sn(nid), value);
		return ossl_fail(p, -EINVAL, what);
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : ossl_fail(p, -ENOMEM, "cannot add an extension");
}

static int random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);	/* positive, full 16 bytes */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : -ENOMEM;
}

/* A certificate for key, signed by issuer_key: self-signed CA when issuer is
 * NULL, else a server certificate with san. */
static X509 *make_cert(struct pki *p, EVP_PKEY *key, const char *cn, X509 *issuer,
		       EVP_PKEY *issuer_key, const char *san)
{
	unsigned days = issuer ? p->server_days : p->ca_days;
	X509_NAME *name = X509_NAME_new();
	X509 *x = X509_new();
	const EVP_MD *md;
	X509V3_CTX v3;

	if (!x || !name) {
		ossl_fail(p, -ENOMEM, "cannot make a certificate");
		goto fail;
	}
	if (!X509_set_version(x, X509_VERSION_3) || random_serial(x) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||	/* clock skew */
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Vigil",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_set_pubkey(x, key)) {
		ossl_fail(p, -ENOMEM, "cannot fill in a certificate");
		goto fail;
	}
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!issuer) {
		if (add_ext(p, x, &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    add_ext(p, x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(p, x, &v3, NID_subject_key_identifier, "hash"))
			goto fail;
	} else {
		if (add_ext(p, x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(p, x, &v3, NID_key_usage, "critical,digitalSignature") ||
		    add_ext(p, x, &v3, NID_ext_key_usage, "serverAuth") ||
		    add_ext(p, x, &v3, NID_subject_alt_name, san) ||
		    add_ext(p, x, &v3, NID_subject_key_identifier, "hash") ||
		    add_ext(p, x, &v3, NID_authority_key_identifier, "keyid:always"))
			goto fail;
	}
	/* EdDSA signs the message itself: no separate digest. */
	md = EVP_PKEY_is_a(issuer_key, "ED25519") ? NULL : EVP_sha256();
	if (X509_sign(x, issuer_key, md) <= 0) {
		ossl_fail(p, -EIO, "cannot sign a certificate");
		goto fail;
	}
	X509_NAME_free(name);
	return x;
fail:
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

static time_t renew_time(void)
{
	return time(NULL) + (time_t)PKI_RENEW_DAYS * 86400;
}

static bool ca_valid(X509 *ca, EVP_PKEY *key)
{
	time_t t = renew_time();
	bool ok = ca && key && X509_check_private_key(ca, key) == 1 && X509_check_ca(ca) >= 1 &&
		  X509_verify(ca, X509_get0_pubkey(ca)) == 1 &&
		  X509_cmp_time(X509_get0_notAfter(ca), &t) > 0;

	ERR_clear_error();
	return ok;
}

/* Each comma-separated DNS:/IP: entry of san is named by x. */
static bool names_present(X509 *x, const char *san)
{
	char item[256];
	const char *s = san;

	while (s && *s) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *v = item;

		if (n >= sizeof(item))
			return false;
		memcpy(item, s, n);
		item[n] = '\0';
		while (*v == ' ')
			v++;
		if (!strncmp(v, "DNS:", 4)) {
			if (X509_check_host(x, v + 4, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1)
				return false;
		} else if (!strncmp(v, "IP:", 3)) {
			if (X509_check_ip_asc(x, v + 3, 0) != 1)
				return false;
		} else {
			return false;	/* cannot check it: reissue to be sure */
		}
		s = comma ? comma + 1 : NULL;
	}
	return true;
}

static bool server_valid(struct pki *p, X509 *ca, X509 *srv, EVP_PKEY *key)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *xs = NULL;
	X509_VERIFY_PARAM *param;
	bool ok = false;

	if (!srv || !key || X509_check_private_key(srv, key) != 1 ||
	    !names_present(srv, BASE_SAN) || (p->extra_san && !names_present(srv, p->extra_san)))
		goto out;
	store = X509_STORE_new();
	xs = X509_STORE_CTX_new();
	if (!store || !xs || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(xs, store, srv, NULL))
		goto out;
	param = X509_STORE_CTX_get0_param(xs);
	X509_VERIFY_PARAM_set_time(param, renew_time());
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(xs) == 1;
out:
	X509_STORE_CTX_free(xs);
	X509_STORE_free(store);
	ERR_clear_error();
	return ok;
}

static int make(struct pki *p, struct pki_result *res)
{
	X509 *ca = NULL, *srv = NULL;
	EVP_PKEY *ca_key = NULL, *srv_key = NULL;
	char san[1024];
	int rc;

	ca = load_cert(p, "ca.pem", &rc);
	if (rc)
		goto out;
	ca_key = load_key(p, "ca.key", &rc);
	if (rc)
		goto out;
	srv_key = load_key(p, "server.key", &rc);
	if (rc)
		goto out;
	srv = load_cert(p, "server.pem", &rc);
	if (rc)
		goto out;

	if (!ca_valid(ca, ca_key)) {
		X509_free(ca);
		EVP_PKEY_free(ca_key);
		ca = NULL;
		if (!(ca_key = gen_key(p)) ||
		    !(ca = make_cert(p, ca_key, "Vigil local CA", NULL, ca_key, NULL))) {
			rc = -EIO;
			goto out;
		}
		/* Key first: a crash in between leaves a CA that fails ca_valid
		 * and is made again, never a certificate without its key. */
		if ((rc = save_key(p, "ca.key", ca_key)) || (rc = save_cert(p, "ca.pem", ca)))
			goto out;
		res->ca_created = true;
	}
	if (!res->ca_created && server_valid(p, ca, srv, srv_key))
		goto out;
	if (!srv_key) {
		if (!(srv_key = gen_key(p))) {
			rc = -EIO;
			goto out;
		}
		if ((rc = save_key(p, "server.key", srv_key)))
			goto out;
		res->server_key_created = true;
	}
	if (p->extra_san && *p->extra_san)
		snprintf(san, sizeof(san), "%s,%s", BASE_SAN, p->extra_san);
	else
		snprintf(san, sizeof(san), "%s", BASE_SAN);
	X509_free(srv);
	srv = make_cert(p, srv_key, "localhost", ca, ca_key, san);
	if (!srv) {
		rc = -EIO;
		goto out;
	}
	if ((rc = save_cert(p, "server.pem", srv)))
		goto out;
	res->server_created = true;
out:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	return rc;
}

int pki__make_local(const char *dir, const struct pki_opts *opts, struct pki_result *result,
		    char *err, size_t errlen)
{
	struct pki_result scratch;
	struct pki p = {
		.dir = dir,
		.key_type = opts ? opts->key_type : PKI_KEY_EC_P256,
		.ca_days = opts && opts->ca_days ? opts->ca_days : PKI_CA_DAYS,
		.server_days = opts && opts->server_days ? opts->server_days : PKI_SERVER_DAYS,
		.extra_san = opts && opts->extra_san && *opts->extra_san ? opts->extra_san : NULL,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	if (!result)
		result = &scratch;
	memset(result, 0, sizeof(*result));
	if (!dir || !*dir)
		return fail(&p, -EINVAL, "pki: no directory given");
	if (p.key_type != PKI_KEY_EC_P256 && p.key_type != PKI_KEY_ED25519)
		return fail(&p, -EINVAL, "pki: unknown key type %d", (int)p.key_type);
	if (p.ca_days > 36500 || p.server_days > 36500)
		return fail(&p, -EINVAL, "pki: validity over 100 years");
	if (p.ca_days <= PKI_RENEW_DAYS || p.server_days <= PKI_RENEW_DAYS)
		return fail(&p, -EINVAL,
			    "pki: validity must exceed the %d-day renewal margin, or every run would renew",
			    PKI_RENEW_DAYS);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(&p, -errno, "pki: cannot create %s: %s", dir, strerror(errno));
	p.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.dirfd < 0)
		return fail(&p, -errno, "pki: cannot open %s: %s", dir, strerror(errno));
	ERR_clear_error();
	rc = make(&p, result);
	close(p.dirfd);
	return rc;
}
