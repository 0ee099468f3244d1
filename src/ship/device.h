/* Device identity and keys (agent side) and the collector's keystore.
 *
 * A device file is text, one key=value per line, '#' comments and blank lines
 * allowed, every other line strict (unknown or repeated keys are errors):
 *
 *	format=1
 *	device_id=<1..32 lowercase hex>
 *	org_id=<1..64 printable ASCII>
 *	key_id=<current key id, decimal, >= 1>
 *	key=<64 lowercase hex: the current 32-byte key>
 *	previous_key=<key id>:<64 hex>		(0 to DEVICE_MAX_PREV_KEYS lines, newest first)
 *
 * Previous keys are kept so spool records and batches sealed before a
 * rotation still decrypt and verify. The file holds secrets: it is written
 * 0600 (temp + fsync + rename) and refused when group or others have any
 * access to it. The collector's keystore is a directory of the same files,
 * one "<device_id>.key" per device. Key bytes never appear in error
 * messages, and are wiped (OPENSSL_cleanse) when a struct device is freed. */
#ifndef VIGIL_DEVICE_H
#define VIGIL_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVICE_ID_MAX 32	/* hex chars */
#define DEVICE_ORG_MAX 64	/* bytes */
#define DEVICE_KEY_LEN 32
#define DEVICE_MAX_PREV_KEYS 4
#define DEVICE_FILE_MAX 4096	/* bigger device files are refused unread */
#define KEYSTORE_DEFAULT_CACHE 4096

struct device_key {
	uint32_t key_id;
	uint8_t key[DEVICE_KEY_LEN];
};

struct device {
	char device_id[DEVICE_ID_MAX + 1];
	char org_id[DEVICE_ORG_MAX + 1];
	struct device_key cur;				/* signs new batches */
	uint32_t n_prev;
	struct device_key prev[DEVICE_MAX_PREV_KEYS];	/* newest first, ids < cur.key_id */
};

/* 1..32 chars of [0-9a-f]: safe as a file name and in SQL/JSON unquoted. */
bool device_id_valid(const char *id);
/* 1..64 bytes of printable ASCII (0x20..0x7e). */
bool device_org_valid(const char *org);

/* New identity: random device_id (16 bytes, 32 hex) and key_id 1 with a random key,
 * written to path (0600). Refuses (-EEXIST) to replace an existing file, so an identity
 * is never lost by re-running enrollment. *out (may be NULL) receives the device; the
 * caller frees it with device__free(). */
int device__create(const char *path, const char *org_id, struct device **out, char *err,
		   size_t errlen);
/* Reads and validates path. Errors name the line: "path:3: key must be 64 lowercase hex
 * digits". -EPERM when group or others have access to the file. */
int device__load(const char *path, struct device **out, char *err, size_t errlen);
/* New key: key_id = old + 1 with a random key; the old current key becomes the newest
 * previous key and the oldest beyond DEVICE_MAX_PREV_KEYS is forgotten. The file is
 * replaced atomically; *out (may be NULL) receives the rotated device. */
int device__rotate(const char *path, struct device **out, char *err, size_t errlen);
/* Copies the key for key_id (current or previous) to out. 0 or -ENOENT. */
int device__key(const struct device *dev, uint32_t key_id, uint8_t out[DEVICE_KEY_LEN]);
void device__free(struct device *dev);

/* Collector keystore: a directory of "<device_id>.key" device files. Lookups stat
 * the file each time and reparse it when its inode, size, mtime or ctime changed,
 * so an enrollment or rotation done by another process is seen at once; parsed
 * files are cached (at most max_cached devices, least recently used evicted).
 * Thread-safe. */
struct keystore;

/* max_cached 0: KEYSTORE_DEFAULT_CACHE. dir must exist. */
int keystore__open(const char *dir, size_t max_cached, struct keystore **out, char *err,
		   size_t errlen);
void keystore__close(struct keystore *ks);
/* The key for (device_id, key_id). 0; -EINVAL: device_id is not a valid id (no file
 * is touched); -ENOENT: no such device; -ENOKEY: the device has no such key_id;
 * another negative errno when the device's file is unreadable or malformed
 * (-EPERM: too open, -EBADMSG: malformed). */
int keystore__lookup(struct keystore *ks, const char *device_id, uint32_t key_id,
		     uint8_t key_out[DEVICE_KEY_LEN], char *err, size_t errlen);
/* Writes dev as "<device_id>.key" (enrollment, or a rotation the agent reported).
 * Refuses (-ESTALE) to replace a file whose current key_id is newer than dev's. */
int keystore__add(struct keystore *ks, const struct device *dev, char *err, size_t errlen);

#endif
