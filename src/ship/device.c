/* Device identity files and the collector keystore; see device.h for the
 * format. Parsing reads the whole file (at most DEVICE_FILE_MAX bytes) into a
 * stack buffer that is wiped before returning, since it holds key hex. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ship/device.h"
#include "ship/durable.h"

#define DEVICE_FORMAT "1"
#define KEY_SUFFIX ".key"

bool device_id_valid(const char *id)
{
	size_t n = 0;

	if (!id)
		return false;
	for (; id[n]; n++) {
		if (n >= DEVICE_ID_MAX)
			return false;
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
			return false;
	}
	return n > 0;
}

bool device_org_valid(const char *org)
{
	size_t n = 0;

	if (!org)
		return false;
	for (; org[n]; n++) {
		if (n >= DEVICE_ORG_MAX || org[n] < 0x20 || org[n] > 0x7e)
			return false;
	}
	return n > 0;
}

static void hex_encode(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2*n lowercase hex chars. */
static bool hex_decode(uint8_t *out, const char *s, size_t slen, size_t n)
{
	if (slen != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Decimal 1..UINT32_MAX, no sign, no leading zero. */
static bool parse_key_id(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int random_key(struct device_key *k, uint32_t key_id, char *err, size_t errlen)
{
	k->key_id = key_id;
	if (RAND_bytes(k->key, sizeof(k->key)) != 1) {
		snprintf(err, errlen, "device: the random generator failed to make a key");
		return -EIO;
	}
	return 0;
}

enum field { F_FORMAT, F_DEVICE_ID, F_ORG_ID, F_KEY_ID, F_KEY, F_MAX };
static const char *const field_names[F_MAX] = { "format", "device_id", "org_id", "key_id",
						"key" };

/* Parses text[0..n) (one device file) into dev. label names the file in errors. */
static int parse(const char *label, const char *text, size_t n, struct device *dev, char *err,
		 size_t errlen)
{
	unsigned seen[F_MAX] = { 0 }, prev_line[DEVICE_MAX_PREV_KEYS];
	const char *p = text, *end = text + n;
	unsigned line = 0;

	memset(dev, 0, sizeof(*dev));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *eq, *v;
		size_t klen, vlen;
		int f;

		line++;
		if (memchr(p, '\0', (size_t)(eol - p))) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", label, line);
			return -EBADMSG;
		}
		if (eol == p || *p == '#')
			goto next;
		eq = memchr(p, '=', (size_t)(eol - p));
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected key=value", label, line);
			return -EBADMSG;
		}
		klen = (size_t)(eq - p);
		v = eq + 1;
		vlen = (size_t)(eol - v);
		if (klen == strlen("previous_key") && !memcmp(p, "previous_key", klen)) {
			struct device_key *k;
			const char *colon = memchr(v, ':', vlen);

			if (dev->n_prev >= DEVICE_MAX_PREV_KEYS) {
				snprintf(err, errlen, "%s:%u: more than %d previous keys", label,
					 line, DEVICE_MAX_PREV_KEYS);
				return -EBADMSG;
			}
			k = &dev->prev[dev->n_prev];
			if (!colon || !parse_key_id(v, (size_t)(colon - v), &k->key_id)) {
				snprintf(err, errlen,
					 "%s:%u: previous_key must be <key id>:<64 hex digits>"
					 " with a key id of 1 to 4294967295", label, line);
				return -EBADMSG;
			}
			if (!hex_decode(k->key, colon + 1, (size_t)(eol - colon - 1),
					DEVICE_KEY_LEN)) {
				snprintf(err, errlen,
					 "%s:%u: previous key must be 64 lowercase hex digits",
					 label, line);
				return -EBADMSG;
			}
			for (uint32_t i = 0; i < dev->n_prev; i++) {
				if (dev->prev[i].key_id == k->key_id) {
					snprintf(err, errlen,
						 "%s:%u: previous key_id %" PRIu32
						 " repeats line %u", label, line, k->key_id,
						 prev_line[i]);
					return -EBADMSG;
				}
			}
			prev_line[dev->n_prev++] = line;
			goto next;
		}
		for (f = 0; f < F_MAX; f++)
			if (klen == strlen(field_names[f]) && !memcmp(p, field_names[f], klen))
				break;
		if (f == F_MAX) {
			bool plain = klen > 0 && klen <= 32;

			for (size_t i = 0; plain && i < klen; i++)
				plain = (p[i] >= 'a' && p[i] <= 'z') || p[i] == '_';
			if (plain)
				snprintf(err, errlen, "%s:%u: unknown key '%.*s'", label, line,
					 (int)klen, p);
			else
				snprintf(err, errlen, "%s:%u: unknown key", label, line);
			return -EBADMSG;
		}
		if (seen[f]) {
			snprintf(err, errlen, "%s:%u: %s repeats line %u", label, line,
				 field_names[f], seen[f]);
			return -EBADMSG;
		}
		seen[f] = line;
		switch (f) {
		case F_FORMAT:
			if (vlen != strlen(DEVICE_FORMAT) || memcmp(v, DEVICE_FORMAT, vlen)) {
				snprintf(err, errlen, "%s:%u: unsupported format (this build reads "
					 "format=" DEVICE_FORMAT ")", label, line);
				return -EBADMSG;
			}
			break;
		case F_DEVICE_ID:
			if (vlen > DEVICE_ID_MAX)
				vlen = 0;
			memcpy(dev->device_id, v, vlen);
			dev->device_id[vlen] = '\0';
			if (!device_id_valid(dev->device_id)) {
				snprintf(err, errlen,
					 "%s:%u: device_id must be 1 to %d lowercase hex digits",
					 label, line, DEVICE_ID_MAX);
				return -EBADMSG;
			}
			break;
		case F_ORG_ID:
			if (vlen > DEVICE_ORG_MAX)
				vlen = 0;
			memcpy(dev->org_id, v, vlen);
			dev->org_id[vlen] = '\0';
			if (!device_org_valid(dev->org_id)) {
				snprintf(err, errlen,
					 "%s:%u: org_id must be 1 to %d printable ASCII bytes",
					 label, line, DEVICE_ORG_MAX);
				return -EBADMSG;
			}
			break;
		case F_KEY_ID:
			if (!parse_key_id(v, vlen, &dev->cur.key_id)) {
				snprintf(err, errlen,
					 "%s:%u: key_id must be a decimal number from 1 to "
					 "4294967295", label, line);
				return -EBADMSG;
			}
			break;
		case F_KEY:
			if (!hex_decode(dev->cur.key, v, vlen, DEVICE_KEY_LEN)) {
				snprintf(err, errlen, "%s:%u: key must be 64 lowercase hex digits",
					 label, line);
				return -EBADMSG;
			}
			break;
		}
next:
		p = nl ? nl + 1 : end;
	}
	for (int f = 0; f < F_MAX; f++) {
		if (!seen[f]) {
			snprintf(err, errlen, "%s: missing %s", label, field_names[f]);
			return -EBADMSG;
		}
	}
	for (uint32_t i = 0; i < dev->n_prev; i++) {
		if (dev->prev[i].key_id >= dev->cur.key_id) {
			snprintf(err, errlen,
				 "%s:%u: previous key_id %" PRIu32
				 " is not older than the current key_id %" PRIu32, label,
				 prev_line[i], dev->prev[i].key_id, dev->cur.key_id);
			return -EBADMSG;
		}
	}
	return 0;
}

/* Loads dirfd/name into dev; *st (may be NULL) gets the stat of the file read. */
static int load_at(int dirfd, const char *name, const char *label, struct device *dev,
		   struct stat *st_out, char *err, size_t errlen)
{
	char text[DEVICE_FILE_MAX + 1];
	struct stat st;
	size_t n = 0;
	int fd, ret;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", label, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", label, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", label);
		ret = -EINVAL;
		goto out;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "%s: mode %04o gives group or others access to secret keys; "
			 "chmod 600 it", label, (unsigned)(st.st_mode & 07777));
		ret = -EPERM;
		goto out;
	}
	if (st.st_size > DEVICE_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", label, DEVICE_FILE_MAX);
		ret = -EFBIG;
		goto out;
	}
	/* Read one byte past the limit: the file may have grown since fstat. */
	while (n < sizeof(text)) {
		ssize_t r = read(fd, text + n, sizeof(text) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", label, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > DEVICE_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", label, DEVICE_FILE_MAX);
		ret = -EFBIG;
		goto out;
	}
	ret = parse(label, text, n, dev, err, errlen);
	if (!ret && st_out)
		*st_out = st;
out:
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	if (ret)
		OPENSSL_cleanse(dev, sizeof(*dev));
	return ret;
}

static int save_at(int dirfd, const char *name, const char *label, const struct device *dev,
		   unsigned flags, char *err, size_t errlen)
{
	char text[DEVICE_FILE_MAX], hex[2 * DEVICE_KEY_LEN + 1];
	size_t n;
	int ret;

	hex_encode(hex, dev->cur.key, DEVICE_KEY_LEN);
	n = (size_t)snprintf(text, sizeof(text),
			     "# Vigil device identity. Secret: keep this file mode 0600.\n"
			     "format=" DEVICE_FORMAT "\ndevice_id=%s\norg_id=%s\n"
			     "key_id=%" PRIu32 "\nkey=%s\n",
			     dev->device_id, dev->org_id, dev->cur.key_id, hex);
	for (uint32_t i = 0; i < dev->n_prev && i < DEVICE_MAX_PREV_KEYS; i++) {
		hex_encode(hex, dev->prev[i].key, DEVICE_KEY_LEN);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "previous_key=%" PRIu32 ":%s\n",
				      dev->prev[i].key_id, hex);
	}
	ret = durable_write_at(dirfd, name, label, text, n, flags, err, errlen);
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(hex, sizeof(hex));
	return ret;
}

/* Refuses what save_at would write but load_at would not read back. */
static int check_device(const struct device *dev, char *err, size_t errlen)
{
	if (!device_id_valid(dev->device_id) || !device_org_valid(dev->org_id) ||
	    !dev->cur.key_id || dev->n_prev > DEVICE_MAX_PREV_KEYS) {
		snprintf(err, errlen, "device: invalid identity (device_id, org_id or key ids)");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < dev->n_prev; i++) {
		if (dev->prev[i].key_id == 0 || dev->prev[i].key_id >= dev->cur.key_id) {
			snprintf(err, errlen, "device %s: previous key_id %" PRIu32
				 " is not older than the current one", dev->device_id,
				 dev->prev[i].key_id);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (dev->prev[j].key_id == dev->prev[i].key_id) {
				snprintf(err, errlen, "device %s: previous key_id %" PRIu32
					 " repeats", dev->device_id, dev->prev[i].key_id);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int save_path(const char *path, const struct device *dev, unsigned flags, char *err,
		     size_t errlen)
{
	const char *base;
	int dirfd, ret;

	ret = durable_open_parent(path, &dirfd, &base);
	if (ret) {
		snprintf(err, errlen, "%s: cannot open its directory: %s", path, strerror(-ret));
		return ret;
	}
	durable_remove_tmps(dirfd, base);
	ret = save_at(dirfd, base, path, dev, flags, err, errlen);
	close(dirfd);
	return ret;
}

static int give(struct device *dev, struct device **out)
{
	struct device *d;

	if (!out)
		return 0;
	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	memcpy(d, dev, sizeof(*d));
	*out = d;
	return 0;
}

int device__create(const char *path, const char *org_id, struct device **out, char *err,
		   size_t errlen)
{
	struct device dev;
	uint8_t id[DEVICE_ID_MAX / 2];
	int ret;

	if (out)
		*out = NULL;
	if (!device_org_valid(org_id)) {
		snprintf(err, errlen, "device: org id must be 1 to %d printable ASCII bytes",
			 DEVICE_ORG_MAX);
		return -EINVAL;
	}
	memset(&dev, 0, sizeof(dev));
	if (RAND_bytes(id, sizeof(id)) != 1) {
		snprintf(err, errlen, "device: the random generator failed to make a device id");
		return -EIO;
	}
	hex_encode(dev.device_id, id, sizeof(id));
	strcpy(dev.org_id, org_id);
	ret = random_key(&dev.cur, 1, err, errlen);
	if (!ret)
		ret = save_path(path, &dev, DURABLE_NOREPLACE, err, errlen);
	if (!ret && (ret = give(&dev, out)))
		snprintf(err, errlen, "device: out of memory");
	OPENSSL_cleanse(&dev, sizeof(dev));
	return ret;
}

int device__load(const char *path, struct device **out, char *err, size_t errlen)
{
	struct device dev;
	int ret;

	*out = NULL;
	ret = load_at(AT_FDCWD, path, path, &dev, NULL, err, errlen);
	if (!ret && (ret = give(&dev, out)))
		snprintf(err, errlen, "device: out of memory");
	OPENSSL_cleanse(&dev, sizeof(dev));
	return ret;
}

int device__rotate(const char *path, struct device **out, char *err, size_t errlen)
{
	struct device dev;
	int ret;

	if (out)
		*out = NULL;
	ret = load_at(AT_FDCWD, path, path, &dev, NULL, err, errlen);
	if (ret)
		return ret;
	if (dev.cur.key_id == UINT32_MAX) {
		snprintf(err, errlen, "%s: key_id cannot grow past 4294967295", path);
		ret = -EOVERFLOW;
		goto out;
	}
	memmove(&dev.prev[1], &dev.prev[0], sizeof(dev.prev[0]) * (DEVICE_MAX_PREV_KEYS - 1));
	dev.prev[0] = dev.cur;
	if (dev.n_prev < DEVICE_MAX_PREV_KEYS)
		dev.n_prev++;
	ret = random_key(&dev.cur, dev.prev[0].key_id + 1, err, errlen);
	if (!ret)
		ret = save_path(path, &dev, 0, err, errlen);
	if (!ret && (ret = give(&dev, out)))
		snprintf(err, errlen, "device: out of memory");
out:
	OPENSSL_cleanse(&dev, sizeof(dev));
	return ret;
}

int device__key(const struct device *dev, uint32_t key_id, uint8_t out[DEVICE_KEY_LEN])
{
	if (key_id && dev->cur.key_id == key_id) {
		memcpy(out, dev->cur.key, DEVICE_KEY_LEN);
		return 0;
	}
	for (uint32_t i = 0; key_id && i < dev->n_prev && i < DEVICE_MAX_PREV_KEYS; i++) {
		if (dev->prev[i].key_id == key_id) {
			memcpy(out, dev->prev[i].key, DEVICE_KEY_LEN);
			return 0;
		}
	}
	return -ENOENT;
}

void device__free(struct device *dev)
{
	if (!dev)
		return;
	OPENSSL_cleanse(dev, sizeof(*dev));
	free(dev);
}

/* Keystore: a hash of cached device files with an LRU list; entries are
 * allocated up to cap and then recycled from the LRU tail. */
struct ks_entry {
	struct device dev;
	dev_t st_dev;
	ino_t st_ino;
	off_t st_size;
	struct timespec st_mtim, st_ctim;
	struct ks_entry *hnext, *lprev, *lnext;
};

struct keystore {
	pthread_mutex_t lock;
	int dirfd;
	char *dir;
	size_t cap, n, nbuckets;
	struct ks_entry **buckets;
	struct ks_entry *lru_head, *lru_tail;	/* head: most recently used */
};

static size_t ks_hash(const struct keystore *ks, const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h & (ks->nbuckets - 1);
}

static struct ks_entry *ks_find(struct keystore *ks, const char *id)
{
	struct ks_entry *e = ks->buckets[ks_hash(ks, id)];

	while (e && strcmp(e->dev.device_id, id))
		e = e->hnext;
	return e;
}

static void lru_unlink(struct keystore *ks, struct ks_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		ks->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		ks->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push(struct keystore *ks, struct ks_entry *e)
{
	e->lprev = NULL;
	e->lnext = ks->lru_head;
	if (ks->lru_head)
		ks->lru_head->lprev = e;
	ks->lru_head = e;
	if (!ks->lru_tail)
		ks->lru_tail = e;
}

/* Unhooks e from the hash and the LRU list; the memory stays with the caller. */
static void ks_detach(struct keystore *ks, struct ks_entry *e)
{
	struct ks_entry **pp = &ks->buckets[ks_hash(ks, e->dev.device_id)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(ks, e);
	OPENSSL_cleanse(&e->dev, sizeof(e->dev));
}

static void ks_drop(struct keystore *ks, struct ks_entry *e)
{
	ks_detach(ks, e);
	free(e);
	ks->n--;
}

int keystore__open(const char *dir, size_t max_cached, struct keystore **out, char *err,
		   size_t errlen)
{
	struct keystore *ks;
	int ret;

	*out = NULL;
	if (!max_cached)
		max_cached = KEYSTORE_DEFAULT_CACHE;
	if (max_cached > (1u << 24)) {
		snprintf(err, errlen, "keystore: cache of %zu devices is too large", max_cached);
		return -EINVAL;
	}
	ks = calloc(1, sizeof(*ks));
	if (!ks)
		goto nomem;
	ks->dirfd = -1;
	ks->cap = max_cached;
	for (ks->nbuckets = 16; ks->nbuckets < 2 * max_cached; ks->nbuckets *= 2)
		;
	ks->buckets = calloc(ks->nbuckets, sizeof(*ks->buckets));
	ks->dir = strdup(dir);
	if (!ks->buckets || !ks->dir)
		goto nomem;
	ks->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->dirfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "keystore %s: %s", dir, strerror(errno));
		keystore__close(ks);
		return ret;
	}
	pthread_mutex_init(&ks->lock, NULL);
	*out = ks;
	return 0;
nomem:
	snprintf(err, errlen, "keystore: out of memory");
	if (ks) {
		free(ks->buckets);
		free(ks->dir);
		free(ks);
	}
	return -ENOMEM;
}

void keystore__close(struct keystore *ks)
{
	if (!ks)
		return;
	while (ks->lru_head)
		ks_drop(ks, ks->lru_head);
	if (ks->dirfd >= 0) {
		close(ks->dirfd);
		pthread_mutex_destroy(&ks->lock);
	}
	free(ks->buckets);
	free(ks->dir);
	free(ks);
}

static bool same_file(const struct ks_entry *e, const struct stat *st)
{
	return e->st_dev == st->st_dev && e->st_ino == st->st_ino && e->st_size == st->st_size &&
	       e->st_mtim.tv_sec == st->st_mtim.tv_sec &&
	       e->st_mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       e->st_ctim.tv_sec == st->st_ctim.tv_sec &&
	       e->st_ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* Under ks->lock: the cached entry for id, (re)loaded if its file changed. */
static int ks_get(struct keystore *ks, const char *id, struct ks_entry **out, char *err,
		  size_t errlen)
{
	char name[DEVICE_ID_MAX + sizeof(KEY_SUFFIX)], label[4096];
	struct ks_entry *e = ks_find(ks, id);
	struct device dev;
	struct stat st;
	int ret;

	snprintf(name, sizeof(name), "%s" KEY_SUFFIX, id);
	snprintf(label, sizeof(label), "%s/%s", ks->dir, name);
	if (fstatat(ks->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		if (e)
			ks_drop(ks, e);
		if (ret == -ENOENT)
			snprintf(err, errlen, "keystore: unknown device %s", id);
		else
			snprintf(err, errlen, "%s: %s", label, strerror(-ret));
		return ret;
	}
	if (e && same_file(e, &st)) {
		*out = e;
		return 0;
	}
	if (e)
		ks_drop(ks, e);
	ret = load_at(ks->dirfd, name, label, &dev, &st, err, errlen);
	if (ret)
		return ret;
	if (strcmp(dev.device_id, id)) {
		snprintf(err, errlen, "%s: holds device_id %s, not %s", label, dev.device_id, id);
		OPENSSL_cleanse(&dev, sizeof(dev));
		return -EBADMSG;
	}
	if (ks->n >= ks->cap) {
		e = ks->lru_tail;
		ks_detach(ks, e);
	} else {
		e = calloc(1, sizeof(*e));
		if (!e) {
			OPENSSL_cleanse(&dev, sizeof(dev));
			snprintf(err, errlen, "keystore: out of memory");
			return -ENOMEM;
		}
		ks->n++;
	}
	e->dev = dev;
	OPENSSL_cleanse(&dev, sizeof(dev));
	e->st_dev = st.st_dev;
	e->st_ino = st.st_ino;
	e->st_size = st.st_size;
	e->st_mtim = st.st_mtim;
	e->st_ctim = st.st_ctim;
	{
		size_t h = ks_hash(ks, id);

		e->hnext = ks->buckets[h];
		ks->buckets[h] = e;
	}
	lru_push(ks, e);
	*out = e;
	return 0;
}

int keystore__lookup(struct keystore *ks, const char *device_id, uint32_t key_id,
		     uint8_t key_out[DEVICE_KEY_LEN], char *err, size_t errlen)
{
	struct ks_entry *e;
	int ret;

	if (!device_id_valid(device_id)) {
		snprintf(err, errlen, "keystore: invalid device id");
		return -EINVAL;
	}
	pthread_mutex_lock(&ks->lock);
	ret = ks_get(ks, device_id, &e, err, errlen);
	if (ret)
		goto out;
	lru_unlink(ks, e);
	lru_push(ks, e);
	if (device__key(&e->dev, key_id, key_out)) {
		snprintf(err, errlen, "keystore: device %s has no key_id %" PRIu32, device_id,
			 key_id);
		ret = -ENOKEY;
	}
out:
	pthread_mutex_unlock(&ks->lock);
	return ret;
}

int keystore__add(struct keystore *ks, const struct device *dev, char *err, size_t errlen)
{
	char name[DEVICE_ID_MAX + sizeof(KEY_SUFFIX)], label[4096], scratch[256];
	struct ks_entry *e;
	int ret;

	ret = check_device(dev, err, errlen);
	if (ret)
		return ret;
	snprintf(name, sizeof(name), "%s" KEY_SUFFIX, dev->device_id);
	snprintf(label, sizeof(label), "%s/%s", ks->dir, name);
	pthread_mutex_lock(&ks->lock);
	/* A malformed or unreadable old file is simply replaced: enrollment repairs it. */
	if (ks_get(ks, dev->device_id, &e, scratch, sizeof(scratch)) == 0 &&
	    e->dev.cur.key_id > dev->cur.key_id) {
		snprintf(err, errlen,
			 "keystore: device %s already has key_id %" PRIu32 ", newer than %" PRIu32,
			 dev->device_id, e->dev.cur.key_id, dev->cur.key_id);
		ret = -ESTALE;
		goto out;
	}
	durable_remove_tmps(ks->dirfd, name);
	ret = save_at(ks->dirfd, name, label, dev, 0, err, errlen);
	e = ks_find(ks, dev->device_id);
	if (e)
		ks_drop(ks, e);
out:
	pthread_mutex_unlock(&ks->lock);
	return ret;
}
