/* The encrypted on-disk spool; the format and the contract are in spool.h.
 *
 * The index is a ring of (seq, file size, events) sorted by seq, with room for
 * max_records entries allocated at open: puts append at the tail, acks and
 * drops take from the head, so the common operations are O(1) and a lookup
 * is a binary search. A put reserves its bytes under the lock, then encrypts
 * and writes outside it, then inserts; next reads and decrypts outside the
 * lock and re-checks the index before counting a record corrupt, so a record
 * acked or dropped meanwhile is not miscounted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "ship/durable.h"
#include "ship/spool.h"

#define SPOOL_MAGIC "VGS1"
#define SPOOL_VERSION 1
#define SPOOL_NONCE_LEN 12
#define SPOOL_KEY_LEN 32
#define SPOOL_HKDF_INFO "vigil spool v1"
#define SPOOL_SUFFIX ".vgs"
#define SPOOL_NAME_DIGITS 20
#define SPOOL_NAME_LEN (SPOOL_NAME_DIGITS + sizeof(SPOOL_SUFFIX) - 1)

struct spool_rec {
	uint64_t seq;
	uint64_t size;		/* bytes of the record file */
	uint32_t events;
	bool in_flight;		/* handed out by spool__next, not acked or released */
};

struct spool_key {
	uint32_t key_id;
	uint8_t key[SPOOL_KEY_LEN];	/* derived: HKDF(device key) */
};

struct spool {
	pthread_mutex_t lock;
	int dirfd;
	EVP_CIPHER *aes;
	char device_id[DEVICE_ID_MAX + 1];
	struct spool_key keys[1 + DEVICE_MAX_PREV_KEYS];	/* keys[0] is current */
	uint32_t n_keys;
	uint64_t max_bytes;
	uint32_t max_records, max_record_bytes;
	struct spool_rec *ring;		/* max_records entries */
	uint32_t head, count;
	uint64_t reserved_bytes;	/* of puts between reserve and insert */
	uint32_t reserved_records;
	struct spool_stats st;
};

struct rec_hdr {
	uint32_t key_id;
	uint64_t seq;
	uint32_t events;
	uint8_t nonce[SPOOL_NONCE_LEN];
	uint32_t ct_len;
};

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void hdr_encode(uint8_t out[SPOOL_HEADER_LEN], const struct rec_hdr *h)
{
	memcpy(out, SPOOL_MAGIC, 4);
	put_be16(out + 4, SPOOL_VERSION);
	put_be16(out + 6, SPOOL_HEADER_LEN);
	put_be32(out + 8, h->key_id);
	put_be64(out + 12, h->seq);
	put_be32(out + 20, h->events);
	memcpy(out + 24, h->nonce, SPOOL_NONCE_LEN);
	put_be32(out + 36, h->ct_len);
}

/* Checks the header of the record file name_seq of file_size bytes. *declared gets the
 * event count whenever the header is recognisably ours, even if something else is wrong,
 * so a corrupt record is counted with the events it claimed. 0 or -EBADMSG. */
static int hdr_decode(const uint8_t in[SPOOL_HEADER_LEN], uint64_t name_seq, uint64_t file_size,
		      struct rec_hdr *h, uint32_t *declared)
{
	*declared = 0;
	if (memcmp(in, SPOOL_MAGIC, 4) || get_be16(in + 4) != SPOOL_VERSION ||
	    get_be16(in + 6) != SPOOL_HEADER_LEN)
		return -EBADMSG;
	h->key_id = get_be32(in + 8);
	h->seq = get_be64(in + 12);
	h->events = get_be32(in + 20);
	memcpy(h->nonce, in + 24, SPOOL_NONCE_LEN);
	h->ct_len = get_be32(in + 36);
	if (h->events > SPOOL_MAX_EVENTS)
		return -EBADMSG;
	*declared = h->events;
	if (!h->key_id || h->seq != name_seq || file_size < SPOOL_OVERHEAD ||
	    (uint64_t)h->ct_len != file_size - SPOOL_OVERHEAD)
		return -EBADMSG;
	return 0;
}

static void rec_name(char out[SPOOL_NAME_LEN + 1], uint64_t seq)
{
	snprintf(out, SPOOL_NAME_LEN + 1, "%0*" PRIu64 SPOOL_SUFFIX, SPOOL_NAME_DIGITS, seq);
}

static bool parse_rec_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strlen(name) != SPOOL_NAME_LEN || strcmp(name + SPOOL_NAME_DIGITS, SPOOL_SUFFIX))
		return false;
	for (int i = 0; i < SPOOL_NAME_DIGITS; i++) {
		unsigned d = (unsigned)(name[i] - '0');

		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*seq = v;
	return v != 0;
}

static int derive_key(const uint8_t dk[DEVICE_KEY_LEN], const char *device_id,
		      uint8_t out[SPOOL_KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)dk, DEVICE_KEY_LEN),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)device_id,
						  strlen(device_id)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)SPOOL_HKDF_INFO,
						  sizeof(SPOOL_HKDF_INFO) - 1),
		OSSL_PARAM_construct_end(),
	};
	int ret = ctx && EVP_KDF_derive(ctx, out, SPOOL_KEY_LEN, params) == 1 ? 0 : -EIO;

	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

/* Derives a key per key_id of dev into a scratch array, then swaps it in under the lock
 * (when locked), so a put or next never sees half a key set. */
static int set_keys(struct spool *sp, const struct device *dev, bool locked, char *err,
		    size_t errlen)
{
	struct spool_key keys[1 + DEVICE_MAX_PREV_KEYS];
	uint32_t n = 0;
	int ret = 0;

	if (!device_id_valid(dev->device_id) || !dev->cur.key_id ||
	    dev->n_prev > DEVICE_MAX_PREV_KEYS) {
		snprintf(err, errlen, "spool: invalid device identity");
		return -EINVAL;
	}
	if (sp->device_id[0] && strcmp(sp->device_id, dev->device_id)) {
		snprintf(err, errlen, "spool: device %s is not the spool's device %s",
			 dev->device_id, sp->device_id);
		return -EINVAL;
	}
	for (uint32_t i = 0; !ret && i <= dev->n_prev; i++) {
		const struct device_key *k = i ? &dev->prev[i - 1] : &dev->cur;

		keys[n].key_id = k->key_id;
		ret = derive_key(k->key, dev->device_id, keys[n++].key);
	}
	if (ret) {
		snprintf(err, errlen, "spool: HKDF-SHA256 key derivation failed");
		goto out;
	}
	if (locked)
		pthread_mutex_lock(&sp->lock);
	strcpy(sp->device_id, dev->device_id);
	OPENSSL_cleanse(sp->keys, sizeof(sp->keys));
	memcpy(sp->keys, keys, sizeof(keys[0]) * n);
	sp->n_keys = n;
	if (locked)
		pthread_mutex_unlock(&sp->lock);
out:
	OPENSSL_cleanse(keys, sizeof(keys));
	return ret;
}

/* Under the lock. */
static int find_key(struct spool *sp, uint32_t key_id, uint8_t out[SPOOL_KEY_LEN])
{
	for (uint32_t i = 0; i < sp->n_keys; i++) {
		if (sp->keys[i].key_id == key_id) {
			memcpy(out, sp->keys[i].key, SPOOL_KEY_LEN);
			return 0;
		}
	}
	return -ENOKEY;
}

/* rec = header (nonce filled here) | ciphertext | tag; data may alias nothing in rec. */
static int seal(struct spool *sp, const uint8_t key[SPOOL_KEY_LEN], struct rec_hdr *h,
		const void *data, size_t len, uint8_t *rec)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t *ct = rec + SPOOL_HEADER_LEN;
	int n, fin, ret = -EIO;

	if (RAND_bytes(h->nonce, SPOOL_NONCE_LEN) != 1)
		return -EIO;
	h->ct_len = (uint32_t)len;
	hdr_encode(rec, h);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_EncryptInit_ex2(ctx, sp->aes, key, h->nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, rec, SPOOL_HEADER_LEN) != 1)
		goto out;
	n = 0;
	if (len && EVP_EncryptUpdate(ctx, ct, &n, data, (int)len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 || (size_t)n + (size_t)fin != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SPOOL_TAG_LEN, ct + len) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* Decrypts the record in place (plaintext at rec + SPOOL_HEADER_LEN). 0 or -EBADMSG. */
static int unseal(struct spool *sp, const uint8_t key[SPOOL_KEY_LEN], const struct rec_hdr *h,
		  uint8_t *rec)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t *ct = rec + SPOOL_HEADER_LEN;
	int n, fin, ret = -EBADMSG;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DecryptInit_ex2(ctx, sp->aes, key, h->nonce, NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, rec, SPOOL_HEADER_LEN) != 1)
		goto out;
	n = 0;
	if (h->ct_len && EVP_DecryptUpdate(ctx, ct, &n, ct, (int)h->ct_len) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SPOOL_TAG_LEN,
				ct + h->ct_len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, ct + n, &fin) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

static struct spool_rec *rec_at(struct spool *sp, uint32_t i)
{
	return &sp->ring[(sp->head + i) % sp->max_records];
}

/* First index whose seq is >= seq (upper: > seq). */
static uint32_t search(struct spool *sp, uint64_t seq, bool upper)
{
	uint32_t lo = 0, hi = sp->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint64_t s = rec_at(sp, mid)->seq;

		if (s < seq || (upper && s == seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of seq, or -1. */
static int64_t index_of(struct spool *sp, uint64_t seq)
{
	uint32_t pos = search(sp, seq, false);

	return pos < sp->count && rec_at(sp, pos)->seq == seq ? (int64_t)pos : -1;
}

static void ring_insert(struct spool *sp, const struct spool_rec *r)
{
	uint32_t pos = search(sp, r->seq, false);

	for (uint32_t i = sp->count; i > pos; i--)
		*rec_at(sp, i) = *rec_at(sp, i - 1);
	*rec_at(sp, pos) = *r;
	sp->count++;
	sp->st.pending_batches++;
	sp->st.pending_bytes += r->size;
	sp->st.pending_events += r->events;
	if (r->seq > sp->st.highest_seq)
		sp->st.highest_seq = r->seq;
}

/* Removes index pos and its file. */
static struct spool_rec ring_remove(struct spool *sp, uint32_t pos)
{
	struct spool_rec r = *rec_at(sp, pos);
	char name[SPOOL_NAME_LEN + 1];

	if (pos == 0) {
		sp->head = (sp->head + 1) % sp->max_records;
	} else {
		for (uint32_t i = pos; i + 1 < sp->count; i++)
			*rec_at(sp, i) = *rec_at(sp, i + 1);
	}
	sp->count--;
	sp->st.pending_batches--;
	sp->st.pending_bytes -= r.size;
	sp->st.pending_events -= r.events;
	rec_name(name, r.seq);
	unlinkat(sp->dirfd, name, 0);
	return r;
}

/* Drops the oldest record not in flight: one being delivered is left alone,
 * since its ACK would arrive for a batch already counted as lost (and it
 * is the likeliest of all to be stored). false: every record is in flight. */
static bool drop_oldest(struct spool *sp, struct spool_dropped *d)
{
	struct spool_rec r;
	uint32_t pos = 0;

	while (pos < sp->count && rec_at(sp, pos)->in_flight)
		pos++;
	if (pos == sp->count)
		return false;
	r = ring_remove(sp, pos);
	sp->st.dropped_batches++;
	sp->st.dropped_events += r.events;
	d->batches++;
	d->events += r.events;
	return true;
}

int spool__put(struct spool *sp, uint64_t seq, uint32_t event_count, const void *data,
	       size_t len, struct spool_dropped *dropped)
{
	struct spool_dropped d = { 0, 0 };
	struct rec_hdr h = { .seq = seq, .events = event_count };
	char name[SPOOL_NAME_LEN + 1], scratch[160];
	uint8_t key[SPOOL_KEY_LEN], *rec = NULL;
	uint64_t size;
	int ret;

	if (dropped)
		*dropped = d;
	if (!seq || event_count > SPOOL_MAX_EVENTS || (len && !data))
		return -EINVAL;
	if (len > sp->max_record_bytes - SPOOL_OVERHEAD)
		return -E2BIG;
	size = len + SPOOL_OVERHEAD;
	if (size > sp->max_bytes)
		return -E2BIG;

	pthread_mutex_lock(&sp->lock);
	if (index_of(sp, seq) >= 0) {
		pthread_mutex_unlock(&sp->lock);
		return -EEXIST;
	}
	while (sp->count && (sp->st.pending_bytes + sp->reserved_bytes + size > sp->max_bytes ||
			     sp->count + sp->reserved_records + 1 > sp->max_records))
		if (!drop_oldest(sp, &d))
			break;
	/* Still no room: the rest is in flight, or other puts hold
	 * reservations (this spool expects one putter). */
	if (sp->st.pending_bytes + sp->reserved_bytes + size > sp->max_bytes ||
	    sp->count + sp->reserved_records + 1 > sp->max_records) {
		pthread_mutex_unlock(&sp->lock);
		ret = -ENOBUFS;
		goto out;
	}
	sp->reserved_bytes += size;
	sp->reserved_records++;
	h.key_id = sp->keys[0].key_id;
	memcpy(key, sp->keys[0].key, SPOOL_KEY_LEN);
	pthread_mutex_unlock(&sp->lock);

	rec = malloc(size);
	ret = rec ? seal(sp, key, &h, data, len, rec) : -ENOMEM;
	OPENSSL_cleanse(key, sizeof(key));
	if (!ret) {
		rec_name(name, seq);
		ret = durable_write_at(sp->dirfd, name, NULL, rec, size, DURABLE_NOREPLACE, scratch,
				       sizeof(scratch));
	}

	pthread_mutex_lock(&sp->lock);
	sp->reserved_bytes -= size;
	sp->reserved_records--;
	if (!ret) {
		struct spool_rec r = { .seq = seq, .size = size, .events = event_count };

		ring_insert(sp, &r);
	}
	pthread_mutex_unlock(&sp->lock);
out:
	free(rec);
	if (dropped)
		*dropped = d;
	return ret;
}

/* Reads and decrypts record r. 1: delivered into out; 0: corrupt or gone (the caller
 * settles it against the index); negative errno: the record stays. */
static int read_rec(struct spool *sp, const struct spool_rec *r, struct buf *out,
		    uint32_t *event_count)
{
	char name[SPOOL_NAME_LEN + 1];
	uint8_t key[SPOOL_KEY_LEN], *rec = NULL;
	struct rec_hdr h;
	struct stat st;
	uint32_t declared;
	size_t n = 0;
	int fd, ret;

	rec_name(name, r->seq);
	fd = openat(sp->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -errno : 0;
	ret = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < SPOOL_OVERHEAD ||
	    (uint64_t)st.st_size > sp->max_record_bytes)
		goto out;
	rec = malloc((size_t)st.st_size);
	if (!rec) {
		ret = -ENOMEM;
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t got = pread(fd, rec + n, (size_t)st.st_size - n, (off_t)n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			goto out;	/* shrunk under us, or unreadable: corrupt */
		n += (size_t)got;
	}
	if (hdr_decode(rec, r->seq, n, &h, &declared))
		goto out;
	pthread_mutex_lock(&sp->lock);
	ret = find_key(sp, h.key_id, key);
	pthread_mutex_unlock(&sp->lock);
	if (ret) {
		ret = 0;	/* a key the device no longer holds: never decryptable */
		goto out;
	}
	ret = unseal(sp, key, &h, rec);
	OPENSSL_cleanse(key, sizeof(key));
	if (ret) {
		ret = ret == -EBADMSG ? 0 : ret;
		goto out;
	}
	buf__reset(out);
	ret = buf__add(out, rec + SPOOL_HEADER_LEN, h.ct_len);
	if (ret)
		goto out;
	*event_count = h.events;
	ret = 1;
out:
	free(rec);
	close(fd);
	return ret;
}

int spool__next(struct spool *sp, uint64_t after_seq, struct buf *out, uint64_t *seq,
		uint32_t *event_count)
{
	/* Each round delivers or removes one index entry; the bound only guards against a
	 * putter refilling the spool with corrupt records as fast as they are removed. */
	uint64_t rounds = 2 * (uint64_t)sp->max_records + 16;

	for (uint64_t i = 0; i < rounds; i++) {
		struct spool_rec r;
		uint32_t pos;
		int64_t at;
		int ret;

		pthread_mutex_lock(&sp->lock);
		pos = search(sp, after_seq, true);
		if (pos == sp->count) {
			pthread_mutex_unlock(&sp->lock);
			return 0;
		}
		r = *rec_at(sp, pos);
		pthread_mutex_unlock(&sp->lock);

		ret = read_rec(sp, &r, out, event_count);
		if (ret < 0)
			return ret;
		pthread_mutex_lock(&sp->lock);
		at = index_of(sp, r.seq);
		if (ret == 1) {
			/* Dropped while it was read: not handed out, so no ACK
			 * can come for a batch counted as lost. */
			if (at >= 0)
				rec_at(sp, (uint32_t)at)->in_flight = true;
			pthread_mutex_unlock(&sp->lock);
			if (at < 0)
				continue;
			*seq = r.seq;
			return 1;
		}
		if (at >= 0) {
			struct spool_rec gone = ring_remove(sp, (uint32_t)at);

			sp->st.corrupt_records++;
			sp->st.corrupt_events += gone.events;
		}
		pthread_mutex_unlock(&sp->lock);
	}
	return -EAGAIN;
}

int spool__ack(struct spool *sp, uint64_t seq)
{
	int64_t at;

	pthread_mutex_lock(&sp->lock);
	at = index_of(sp, seq);
	if (at >= 0)
		ring_remove(sp, (uint32_t)at);
	pthread_mutex_unlock(&sp->lock);
	return at >= 0 ? 0 : -ENOENT;
}

void spool__release(struct spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	for (uint32_t i = 0; i < sp->count; i++)
		rec_at(sp, i)->in_flight = false;
	pthread_mutex_unlock(&sp->lock);
}

void spool__stats(struct spool *sp, struct spool_stats *st)
{
	pthread_mutex_lock(&sp->lock);
	*st = sp->st;
	pthread_mutex_unlock(&sp->lock);
}

int spool__rekey(struct spool *sp, const struct device *dev, char *err, size_t errlen)
{
	return set_keys(sp, dev, true, err, errlen);
}

/* Scan: the best max_records candidates (highest seqs) are kept in a min-heap in
 * sp->ring, so a directory holding more files than the cap costs O(n log cap). */
static void heap_sift_down(struct spool_rec *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		struct spool_rec t;

		if (l < n && h[l].seq < h[m].seq)
			m = l;
		if (l + 1 < n && h[l + 1].seq < h[m].seq)
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_push(struct spool_rec *h, uint32_t n, const struct spool_rec *r)
{
	uint32_t i = n;

	h[i] = *r;
	while (i && h[(i - 1) / 2].seq > h[i].seq) {
		struct spool_rec t = h[i];

		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static int cmp_seq(const void *a, const void *b)
{
	const struct spool_rec *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the header of file seq into r. 0 if it is a plausible record; -EBADMSG with
 * r->events = the declared count (0 if unreadable) otherwise. */
static int check_file(struct spool *sp, struct spool_rec *r)
{
	char name[SPOOL_NAME_LEN + 1];
	uint8_t hb[SPOOL_HEADER_LEN];
	struct rec_hdr h;
	struct stat st;
	int fd, ret = -EBADMSG;

	r->events = 0;
	r->size = 0;
	rec_name(name, r->seq);
	fd = openat(sp->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -EBADMSG;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    pread(fd, hb, sizeof(hb), 0) == (ssize_t)sizeof(hb)) {
		ret = hdr_decode(hb, r->seq, (uint64_t)st.st_size, &h, &r->events);
		if (!ret && (uint64_t)st.st_size > sp->max_record_bytes)
			ret = -EBADMSG;
		r->size = (uint64_t)st.st_size;
	}
	close(fd);
	return ret;
}

static void scan_drop(struct spool *sp, struct spool_rec *r)
{
	char name[SPOOL_NAME_LEN + 1];

	check_file(sp, r);
	rec_name(name, r->seq);
	unlinkat(sp->dirfd, name, 0);
	sp->st.dropped_batches++;
	sp->st.dropped_events += r->events;
}

static int scan(struct spool *sp, char *err, size_t errlen)
{
	struct spool_dropped d = { 0, 0 };
	struct dirent *de;
	uint32_t n = 0, kept = 0;
	int fd, ret;
	DIR *dir;

	ret = durable_remove_tmps(sp->dirfd, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "spool: cannot read its directory: %s", strerror(-ret));
		return ret;
	}
	sp->st.tmp_removed = (uint64_t)ret;
	fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "spool: cannot read its directory: %s", strerror(-ret));
		return ret;
	}
	while ((de = readdir(dir))) {
		struct spool_rec r = { 0, 0, 0, false };

		if (!parse_rec_name(de->d_name, &r.seq))
			continue;	/* not ours: left alone */
		if (n < sp->max_records) {
			heap_push(sp->ring, n++, &r);
		} else if (r.seq > sp->ring[0].seq) {
			struct spool_rec victim = sp->ring[0];

			sp->ring[0] = r;
			heap_sift_down(sp->ring, n, 0);
			scan_drop(sp, &victim);
		} else {
			scan_drop(sp, &r);
		}
	}
	closedir(dir);
	qsort(sp->ring, n, sizeof(sp->ring[0]), cmp_seq);
	sp->head = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct spool_rec r = sp->ring[i];

		if (check_file(sp, &r)) {
			char name[SPOOL_NAME_LEN + 1];

			rec_name(name, r.seq);
			unlinkat(sp->dirfd, name, 0);
			sp->st.corrupt_records++;
			sp->st.corrupt_events += r.events;
			continue;
		}
		sp->ring[kept++] = r;
		sp->st.pending_bytes += r.size;
		sp->st.pending_events += r.events;
		if (r.seq > sp->st.highest_seq)
			sp->st.highest_seq = r.seq;
	}
	sp->count = kept;
	sp->st.pending_batches = kept;
	while (sp->count && sp->st.pending_bytes > sp->max_bytes && drop_oldest(sp, &d))
		;
	return 0;
}

int spool__open(struct spool **out, const struct spool_config *cfg, char *err, size_t errlen)
{
	struct spool *sp;
	int ret;

	*out = NULL;
	if (!cfg->dir || !cfg->dev || !cfg->max_bytes) {
		snprintf(err, errlen, "spool: a directory, a device and max_bytes are required");
		return -EINVAL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		snprintf(err, errlen, "spool: out of memory");
		return -ENOMEM;
	}
	sp->dirfd = -1;
	sp->max_bytes = cfg->max_bytes;
	sp->max_records = cfg->max_records ? cfg->max_records : SPOOL_DEFAULT_MAX_RECORDS;
	sp->max_record_bytes = cfg->max_record_bytes ? cfg->max_record_bytes
						     : SPOOL_DEFAULT_MAX_RECORD;
	if (sp->max_records > SPOOL_MAX_RECORDS_LIMIT ||
	    sp->max_record_bytes <= SPOOL_OVERHEAD ||
	    sp->max_record_bytes > SPOOL_MAX_RECORD_LIMIT) {
		snprintf(err, errlen, "spool: max_records must be at most %u and max_record_bytes "
			 "from %u to %u", SPOOL_MAX_RECORDS_LIMIT, SPOOL_OVERHEAD + 1,
			 SPOOL_MAX_RECORD_LIMIT);
		ret = -EINVAL;
		goto fail;
	}
	ret = set_keys(sp, cfg->dev, false, err, errlen);
	if (ret)
		goto fail;
	sp->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	sp->ring = calloc(sp->max_records, sizeof(*sp->ring));
	if (!sp->aes || !sp->ring) {
		snprintf(err, errlen, "spool: %s", sp->ring ? "AES-256-GCM is not available"
							   : "out of memory");
		ret = sp->ring ? -ENOSYS : -ENOMEM;
		goto fail;
	}
	if (mkdir(cfg->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "spool %s: cannot create: %s", cfg->dir, strerror(errno));
		goto fail;
	}
	sp->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "spool %s: %s", cfg->dir, strerror(errno));
		goto fail;
	}
	ret = scan(sp, err, errlen);
	if (ret)
		goto fail;
	pthread_mutex_init(&sp->lock, NULL);
	*out = sp;
	return 0;
fail:
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	EVP_CIPHER_free(sp->aes);
	free(sp->ring);
	OPENSSL_cleanse(sp->keys, sizeof(sp->keys));
	free(sp);
	return ret;
}

void spool__close(struct spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_destroy(&sp->lock);
	close(sp->dirfd);
	EVP_CIPHER_free(sp->aes);
	free(sp->ring);
	OPENSSL_cleanse(sp->keys, sizeof(sp->keys));
	free(sp);
}
