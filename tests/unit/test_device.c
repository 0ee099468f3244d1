/* Device identity files and the keystore: round trip, file modes, the strict
 * parser (each malformed line is reported with its number), rotation and the
 * previous keys it keeps, keystore lookups that notice files changed by
 * another process, and hostile device ids that must never reach the file
 * system. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship/device.h"
#include "unit.h"

static char dir[64], err[512];

static char *path_of(const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void write_file(const char *path, const char *text, size_t n, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		perror(path);
	fchmod(fd, mode);
	close(fd);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define GOOD_HEAD "format=1\ndevice_id=0123456789abcdef\norg_id=acme corp\n"

/* Loads text as a device file; returns the error code and leaves the message in err. */
static int load_text(const char *text)
{
	struct device *d = NULL;
	int ret;

	write_file(path_of("bad"), text, strlen(text), 0600);
	err[0] = '\0';
	ret = device__load(path_of("bad"), &d, err, sizeof(err));
	CHECK((ret == 0) == (d != NULL));
	device__free(d);
	return ret;
}

static void expect_err(const char *text, const char *want_suffix)
{
	char want[512];
	int ret = load_text(text);

	snprintf(want, sizeof(want), "%s%s", path_of("bad"), want_suffix);
	CHECK_INT(ret, -EBADMSG);
	CHECK_STR(err, want);
	/* Key material never reaches an error message. */
	CHECK(!strstr(err, "00112233") && !strstr(err, "ffeeddcc"));
}

static void test_round_trip(void)
{
	struct device *a = NULL, *b = NULL;
	uint8_t k[DEVICE_KEY_LEN];

	CHECK_INT(device__create(path_of("dev"), "acme corp", &a, err, sizeof(err)), 0);
	CHECK(a != NULL);
	if (!a)
		return;
	CHECK_INT(mode_of(path_of("dev")), 0600);
	CHECK_INT(strlen(a->device_id), 32);
	CHECK(device_id_valid(a->device_id));
	CHECK_STR(a->org_id, "acme corp");
	CHECK_INT(a->cur.key_id, 1);
	CHECK_INT(a->n_prev, 0);
	CHECK_INT(device__load(path_of("dev"), &b, err, sizeof(err)), 0);
	CHECK(b && memcmp(a, b, sizeof(*a)) == 0);
	CHECK_INT(device__key(b, 1, k), 0);
	CHECK(memcmp(k, a->cur.key, DEVICE_KEY_LEN) == 0);
	CHECK_INT(device__key(b, 2, k), -ENOENT);
	CHECK_INT(device__key(b, 0, k), -ENOENT);
	device__free(b);

	/* Never replaces an identity. */
	CHECK_INT(device__create(path_of("dev"), "acme", &b, err, sizeof(err)), -EEXIST);
	CHECK(b == NULL);
	CHECK_INT(device__load(path_of("dev"), &b, err, sizeof(err)), 0);
	CHECK(b && memcmp(a, b, sizeof(*a)) == 0);
	device__free(b);

	/* Two identities differ. */
	CHECK_INT(device__create(path_of("dev2"), "acme", &b, err, sizeof(err)), 0);
	CHECK(b && strcmp(a->device_id, b->device_id) && memcmp(a->cur.key, b->cur.key, 32));
	device__free(b);

	CHECK_INT(device__create(path_of("dev3"), "", NULL, err, sizeof(err)), -EINVAL);
	CHECK_INT(device__create(path_of("dev3"), "tab\there", NULL, err, sizeof(err)), -EINVAL);
	CHECK_INT(device__create(path_of("nodir/dev"), "acme", NULL, err, sizeof(err)), -ENOENT);
	CHECK(access(path_of("dev3"), F_OK) != 0);
	device__free(a);
	device__free(NULL);
}

static void test_modes(void)
{
	struct device *d = NULL;
	char want[512];

	CHECK_INT(device__create(path_of("m"), "acme", NULL, err, sizeof(err)), 0);
	chmod(path_of("m"), 0644);
	CHECK_INT(device__load(path_of("m"), &d, err, sizeof(err)), -EPERM);
	CHECK(d == NULL);
	snprintf(want, sizeof(want),
		 "%s: mode 0644 gives group or others access to secret keys; chmod 600 it",
		 path_of("m"));
	CHECK_STR(err, want);
	chmod(path_of("m"), 0620);
	CHECK_INT(device__load(path_of("m"), &d, err, sizeof(err)), -EPERM);
	chmod(path_of("m"), 0604);
	CHECK_INT(device__rotate(path_of("m"), NULL, err, sizeof(err)), -EPERM);
	chmod(path_of("m"), 0400);
	CHECK_INT(device__load(path_of("m"), &d, err, sizeof(err)), 0);
	device__free(d);

	/* A symlink is not followed, a directory is not a device file. */
	symlink(path_of("m"), path_of("link"));
	CHECK_INT(device__load(path_of("link"), &d, err, sizeof(err)), -ELOOP);
	mkdir(path_of("adir"), 0700);
	CHECK(device__load(path_of("adir"), &d, err, sizeof(err)) < 0);
	CHECK_INT(device__load(path_of("missing"), &d, err, sizeof(err)), -ENOENT);
}

static void test_malformed(void)
{
	char big[DEVICE_FILE_MAX + 100];

	CHECK_INT(load_text(GOOD_HEAD "key_id=3\nkey=" KEY1 "\nprevious_key=2:" KEY2 "\n"), 0);
	CHECK_INT(load_text("# comment\n\n" GOOD_HEAD "key_id=3\nkey=" KEY1), 0);

	expect_err(GOOD_HEAD "key_id 3\n", ":4: expected key=value");
	expect_err(GOOD_HEAD "colour=blue\n", ":4: unknown key 'colour'");
	expect_err(GOOD_HEAD "Key\x01=1\n", ":4: unknown key");
	expect_err(GOOD_HEAD " key_id=3\n", ":4: unknown key");
	expect_err("format=2\n", ":1: unsupported format (this build reads format=1)");
	expect_err("format=1\nformat=1\n", ":2: format repeats line 1");
	expect_err("format=1\ndevice_id=0123ABCD\n",
		   ":2: device_id must be 1 to 32 lowercase hex digits");
	expect_err("format=1\ndevice_id=\n", ":2: device_id must be 1 to 32 lowercase hex digits");
	expect_err("format=1\ndevice_id=0123456789abcdef0123456789abcdef0\n",
		   ":2: device_id must be 1 to 32 lowercase hex digits");
	expect_err("format=1\ndevice_id=../../etc\n",
		   ":2: device_id must be 1 to 32 lowercase hex digits");
	expect_err("format=1\norg_id=a\tb\n", ":2: org_id must be 1 to 64 printable ASCII bytes");
	expect_err("format=1\norg_id=\n", ":2: org_id must be 1 to 64 printable ASCII bytes");
	expect_err(GOOD_HEAD "key_id=0\n",
		   ":4: key_id must be a decimal number from 1 to 4294967295");
	expect_err(GOOD_HEAD "key_id=07\n",
		   ":4: key_id must be a decimal number from 1 to 4294967295");
	expect_err(GOOD_HEAD "key_id=4294967296\n",
		   ":4: key_id must be a decimal number from 1 to 4294967295");
	expect_err(GOOD_HEAD "key_id=-1\n",
		   ":4: key_id must be a decimal number from 1 to 4294967295");
	expect_err(GOOD_HEAD "key_id=1\nkey=" KEY1 "0\n", ":5: key must be 64 lowercase hex digits");
	expect_err(GOOD_HEAD "key_id=1\nkey=" KEY1 "\r\n",
		   ":5: key must be 64 lowercase hex digits");
	expect_err(GOOD_HEAD "key=00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
		   ":4: key must be 64 lowercase hex digits");
	expect_err(GOOD_HEAD "key_id=1\n", ": missing key");
	expect_err("format=1\ndevice_id=ab\nkey_id=1\nkey=" KEY1 "\n", ": missing org_id");
	expect_err("device_id=ab\n", ": missing format");
	expect_err(GOOD_HEAD "key_id=3\nkey=" KEY1 "\nprevious_key=3:" KEY2 "\n",
		   ":6: previous key_id 3 is not older than the current key_id 3");
	expect_err(GOOD_HEAD "key_id=9\nkey=" KEY1 "\nprevious_key=2:" KEY2 "\nprevious_key=2:"
		   KEY1 "\n", ":7: previous key_id 2 repeats line 6");
	expect_err(GOOD_HEAD "previous_key=2\n",
		   ":4: previous_key must be <key id>:<64 hex digits> with a key id of 1 to "
		   "4294967295");
	expect_err(GOOD_HEAD "previous_key=0:" KEY2 "\n",
		   ":4: previous_key must be <key id>:<64 hex digits> with a key id of 1 to "
		   "4294967295");
	expect_err(GOOD_HEAD "previous_key=2:" KEY2 "ff\n",
		   ":4: previous key must be 64 lowercase hex digits");
	expect_err(GOOD_HEAD "key_id=9\nkey=" KEY1 "\nprevious_key=1:" KEY2 "\nprevious_key=2:" KEY2
		   "\nprevious_key=3:" KEY2 "\nprevious_key=4:" KEY2 "\nprevious_key=5:" KEY2 "\n",
		   ":10: more than 4 previous keys");

	{
		static const char nul[] = "format=1\ndevice_id=ab\0cd\n";

		write_file(path_of("bad"), nul, sizeof(nul) - 1, 0600);
		CHECK_INT(device__load(path_of("bad"), &(struct device *){ NULL }, err,
				       sizeof(err)), -EBADMSG);
		CHECK(strstr(err, ":2: NUL byte in line") != NULL);
	}
	memset(big, '#', sizeof(big));
	write_file(path_of("bad"), big, sizeof(big), 0600);
	CHECK_INT(device__load(path_of("bad"), &(struct device *){ NULL }, err, sizeof(err)),
		  -EFBIG);
	CHECK(strstr(err, "larger than 4096 bytes") != NULL);
}

static void test_rotate(void)
{
	struct device *a = NULL, *b = NULL, *c = NULL;
	uint8_t k[DEVICE_KEY_LEN];

	CHECK_INT(device__create(path_of("rot"), "acme", &a, err, sizeof(err)), 0);
	CHECK_INT(device__rotate(path_of("rot"), &b, err, sizeof(err)), 0);
	if (!a || !b)
		return;
	CHECK_INT(mode_of(path_of("rot")), 0600);
	CHECK_STR(b->device_id, a->device_id);
	CHECK_STR(b->org_id, a->org_id);
	CHECK_INT(b->cur.key_id, 2);
	CHECK(memcmp(b->cur.key, a->cur.key, DEVICE_KEY_LEN) != 0);
	CHECK_INT(b->n_prev, 1);
	CHECK_INT(device__key(b, 1, k), 0);
	CHECK(memcmp(k, a->cur.key, DEVICE_KEY_LEN) == 0);
	CHECK_INT(device__load(path_of("rot"), &c, err, sizeof(err)), 0);
	CHECK(c && memcmp(b, c, sizeof(*b)) == 0);
	device__free(c);

	/* Five more: key 1 falls off, keys 3..6 stay, newest first. */
	for (int i = 0; i < 5; i++)
		CHECK_INT(device__rotate(path_of("rot"), NULL, err, sizeof(err)), 0);
	CHECK_INT(device__load(path_of("rot"), &c, err, sizeof(err)), 0);
	if (c) {
		CHECK_INT(c->cur.key_id, 7);
		CHECK_INT(c->n_prev, 4);
		CHECK_INT(c->prev[0].key_id, 6);
		CHECK_INT(c->prev[3].key_id, 3);
		CHECK_INT(device__key(c, 1, k), -ENOENT);
		CHECK_INT(device__key(c, 2, k), -ENOENT);
		CHECK_INT(device__key(c, 3, k), 0);
		CHECK_INT(device__key(c, 7, k), 0);
	}
	device__free(c);

	/* key_id cannot wrap around. */
	write_file(path_of("max"), GOOD_HEAD "key_id=4294967295\nkey=" KEY1 "\n",
		   strlen(GOOD_HEAD "key_id=4294967295\nkey=" KEY1 "\n"), 0600);
	CHECK_INT(device__rotate(path_of("max"), NULL, err, sizeof(err)), -EOVERFLOW);
	CHECK_INT(device__rotate(path_of("missing"), NULL, err, sizeof(err)), -ENOENT);
	device__free(a);
	device__free(b);
}

static void test_keystore(void)
{
	struct keystore *ks = NULL;
	struct device *a = NULL, *a2 = NULL, *a3 = NULL, *b = NULL;
	uint8_t k[DEVICE_KEY_LEN];
	char ksdir[256], kpath[320], text[8192];
	static const char *const hostile[] = {
		"../x", "..", ".", "", "a/b", "ABCDEF", "0123456789abcdef0123456789abcdef0",
		"ab\n", "ab cd", "/etc/passwd", "g",
	};
	FILE *f;
	size_t n;

	snprintf(ksdir, sizeof(ksdir), "%s/keys", dir);
	mkdir(ksdir, 0700);
	CHECK_INT(keystore__open(path_of("nonexistent"), 0, &ks, err, sizeof(err)), -ENOENT);
	CHECK_INT(keystore__open(ksdir, 2, &ks, err, sizeof(err)), 0);
	if (!ks)
		return;
	CHECK_INT(device__create(path_of("ka"), "acme", &a, err, sizeof(err)), 0);
	CHECK_INT(device__create(path_of("kb"), "acme", &b, err, sizeof(err)), 0);
	if (!a || !b)
		goto out;

	CHECK_INT(keystore__lookup(ks, a->device_id, 1, k, err, sizeof(err)), -ENOENT);
	CHECK_INT(keystore__add(ks, a, err, sizeof(err)), 0);
	snprintf(kpath, sizeof(kpath), "%s/%s.key", ksdir, a->device_id);
	CHECK_INT(mode_of(kpath), 0600);
	CHECK_INT(keystore__lookup(ks, a->device_id, 1, k, err, sizeof(err)), 0);
	CHECK(memcmp(k, a->cur.key, DEVICE_KEY_LEN) == 0);
	CHECK_INT(keystore__lookup(ks, a->device_id, 2, k, err, sizeof(err)), -ENOKEY);

	/* Rotation reported by the agent: both keys valid. */
	CHECK_INT(device__rotate(path_of("ka"), &a2, err, sizeof(err)), 0);
	CHECK_INT(keystore__add(ks, a2, err, sizeof(err)), 0);
	CHECK_INT(keystore__lookup(ks, a->device_id, 2, k, err, sizeof(err)), 0);
	CHECK(a2 && memcmp(k, a2->cur.key, DEVICE_KEY_LEN) == 0);
	CHECK_INT(keystore__lookup(ks, a->device_id, 1, k, err, sizeof(err)), 0);
	CHECK(memcmp(k, a->cur.key, DEVICE_KEY_LEN) == 0);
	/* An older identity does not replace a newer one. */
	CHECK_INT(keystore__add(ks, a, err, sizeof(err)), -ESTALE);
	CHECK_INT(keystore__lookup(ks, a->device_id, 2, k, err, sizeof(err)), 0);

	/* Another process rotates the file in place: seen at the next lookup. */
	CHECK_INT(device__rotate(kpath, &a3, err, sizeof(err)), 0);
	CHECK_INT(keystore__lookup(ks, a->device_id, 3, k, err, sizeof(err)), 0);
	CHECK(a3 && memcmp(k, a3->cur.key, DEVICE_KEY_LEN) == 0);
	/* ... or rewrites it through the same inode (the old content, smaller). */
	f = fopen(path_of("ka"), "r");
	n = f ? fread(text, 1, sizeof(text), f) : 0;
	if (f)
		fclose(f);
	f = fopen(kpath, "w");
	if (f) {
		fwrite(text, 1, n, f);
		fclose(f);
	}
	CHECK_INT(keystore__lookup(ks, a->device_id, 3, k, err, sizeof(err)), -ENOKEY);
	CHECK_INT(keystore__lookup(ks, a->device_id, 2, k, err, sizeof(err)), 0);

	/* New device: more devices than the cache holds, each still found. */
	CHECK_INT(keystore__add(ks, b, err, sizeof(err)), 0);
	for (int i = 0; i < 6; i++) {
		const struct device *d = i % 2 ? b : a2;

		CHECK_INT(keystore__lookup(ks, d->device_id, d->cur.key_id, k, err, sizeof(err)),
			  0);
		CHECK(memcmp(k, d->cur.key, DEVICE_KEY_LEN) == 0);
	}
	{
		struct device *c = NULL;

		CHECK_INT(device__create(path_of("kc"), "acme", &c, err, sizeof(err)), 0);
		if (c) {
			CHECK_INT(keystore__add(ks, c, err, sizeof(err)), 0);
			CHECK_INT(keystore__lookup(ks, c->device_id, 1, k, err, sizeof(err)), 0);
			CHECK_INT(keystore__lookup(ks, b->device_id, 1, k, err, sizeof(err)), 0);
			CHECK_INT(keystore__lookup(ks, a->device_id, 2, k, err, sizeof(err)), 0);
		}
		device__free(c);
	}

	/* A removed file is forgotten, not served from the cache. */
	snprintf(kpath, sizeof(kpath), "%s/%s.key", ksdir, b->device_id);
	unlink(kpath);
	CHECK_INT(keystore__lookup(ks, b->device_id, 1, k, err, sizeof(err)), -ENOENT);

	/* Too open a key file is refused. */
	CHECK_INT(keystore__add(ks, b, err, sizeof(err)), 0);
	chmod(kpath, 0644);
	CHECK_INT(keystore__lookup(ks, b->device_id, 1, k, err, sizeof(err)), -EPERM);
	chmod(kpath, 0600);
	CHECK_INT(keystore__lookup(ks, b->device_id, 1, k, err, sizeof(err)), 0);

	/* A file named for one device holding another is refused. */
	snprintf(kpath, sizeof(kpath), "%s/abcdef.key", ksdir);
	f = fopen(path_of("kb"), "r");
	n = f ? fread(text, 1, sizeof(text), f) : 0;
	if (f)
		fclose(f);
	write_file(kpath, text, n, 0600);
	CHECK_INT(keystore__lookup(ks, "abcdef", 1, k, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "holds device_id") != NULL);
	/* A symlinked key file is not followed. */
	snprintf(kpath, sizeof(kpath), "%s/abcd.key", ksdir);
	symlink(path_of("kb"), kpath);
	CHECK(keystore__lookup(ks, "abcd", 1, k, err, sizeof(err)) < 0);

	/* Hostile ids never reach the file system; "../x.key" would exist. */
	write_file(path_of("x.key"), text, n, 0600);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		CHECK(!device_id_valid(hostile[i]));
		CHECK_INT(keystore__lookup(ks, hostile[i], 1, k, err, sizeof(err)), -EINVAL);
	}
	CHECK(!device_id_valid(NULL));
	{
		struct device evil = *b;

		strcpy(evil.device_id, "../x");
		CHECK_INT(keystore__add(ks, &evil, err, sizeof(err)), -EINVAL);
		evil = *b;
		evil.cur.key_id = 0;
		CHECK_INT(keystore__add(ks, &evil, err, sizeof(err)), -EINVAL);
	}
out:
	keystore__close(ks);
	keystore__close(NULL);
	device__free(a);
	device__free(a2);
	device__free(a3);
	device__free(b);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/vigil-test-device-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_round_trip();
	test_modes();
	test_malformed();
	test_rotate();
	test_keystore();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return unit_report("device");
}
