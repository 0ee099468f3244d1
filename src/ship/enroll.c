/* vigil enroll (enroll.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "lib/config.h"
#include "lib/err.h"
#include "ship/device.h"
#include "ship/durable.h"
#include "ship/enroll.h"
#include "ship/shipper.h"

enum { O_CONFIG = 256, O_ORG, O_ROTATE, O_KEYSTORE, O_EXPORT, O_HELP };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vigil enroll [--config FILE] [--org ORG] [--rotate]\n"
		"                    [--keystore DIR | --export FILE]\n"
		"  Creates this host's device identity (ship.device_file: id + signing key,\n"
		"  mode 0600) and registers its keys with the collector.\n"
		"  --config FILE     vigil.yaml: ship.device_file, agent.org_id and\n"
		"                    collector.keystore_dir (default: built-in defaults)\n"
		"  --org ORG         the organisation the device belongs to (default agent.org_id)\n"
		"  --rotate          new signing key for the existing identity; the previous\n"
		"                    keys are kept so spooled batches still verify\n"
		"  --keystore DIR    the collector's keystore on this host (default\n"
		"                    collector.keystore_dir)\n"
		"  --export FILE     write the keystore record to FILE instead, to copy to a\n"
		"                    remote collector's keystore_dir as <device_id>.key\n");
}

/* Copies the device file (the keystore record has the same format) to path,
 * 0600, replacing it atomically; read back to prove it parses. */
static int export_record(const char *device_file, const char *path, char *err, size_t errlen)
{
	char data[DEVICE_FILE_MAX + 1];
	struct device *check = NULL;
	const char *base;
	ssize_t n;
	int fd, dirfd, rc;

	fd = open(device_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", device_file, strerror(errno));
		return -errno;
	}
	n = read(fd, data, sizeof(data));
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc || n > DEVICE_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", device_file, rc ? strerror(-rc) : "too big");
		OPENSSL_cleanse(data, sizeof(data));
		return rc ? rc : -EFBIG;
	}
	rc = shipper_mkparent(path, err, errlen);
	if (!rc && (rc = durable_open_parent(path, &dirfd, &base)))
		snprintf(err, errlen, "%s: cannot open its directory: %s", path, strerror(-rc));
	if (rc) {
		OPENSSL_cleanse(data, sizeof(data));
		return rc;
	}
	rc = durable_write_at(dirfd, base, path, data, (size_t)n, 0, err, errlen);
	close(dirfd);
	OPENSSL_cleanse(data, sizeof(data));
	if (!rc)
		rc = device__load(path, &check, err, errlen);
	device__free(check);
	return rc;
}

/* Makes, rotates or (when it exists and no rotation is asked for) keeps the
 * identity at device_file: an identity is never replaced, since the
 * collector knows the device by it and its spooled batches are sealed with
 * its keys. *kept tells the caller which. */
static int do_enroll(const char *device_file, const char *org, bool rotate, bool org_given,
		     struct device **dev, bool *kept, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	*kept = false;
	if (lstat(device_file, &st)) {
		if (errno != ENOENT)
			return err_fail(-errno, err, errlen, "%s: %s", device_file,
					strerror(errno));
		if (rotate)
			return err_fail(-ENOENT, err, errlen, "--rotate: %s does not exist; "
					"enroll first (without --rotate)", device_file);
		if (!device_org_valid(org))
			return err_fail(-EINVAL, err, errlen, "org \"%s\" must be 1 to %d "
					"printable ASCII bytes", org, DEVICE_ORG_MAX);
		rc = shipper_mkparent(device_file, err, errlen);
		return rc ? rc : device__create(device_file, org, dev, err, errlen);
	}
	rc = device__load(device_file, dev, err, errlen);
	if (rc)
		return rc;
	if (org_given && strcmp((*dev)->org_id, org)) {
		rc = err_fail(-EINVAL, err, errlen, "%s holds device %s of org \"%s\"; it "
			      "cannot move to org \"%s\" (that is a new identity: another "
			      "device_file)", device_file, (*dev)->device_id, (*dev)->org_id, org);
		device__free(*dev);
		*dev = NULL;
		return rc;
	}
	if (!rotate) {
		*kept = true;
		return 0;
	}
	device__free(*dev);
	*dev = NULL;
	return device__rotate(device_file, dev, err, errlen);
}

int enroll_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "org", required_argument, NULL, O_ORG },
		{ "rotate", no_argument, NULL, O_ROTATE },
		{ "keystore", required_argument, NULL, O_KEYSTORE },
		{ "export", required_argument, NULL, O_EXPORT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *org = NULL, *keystore_dir = NULL, *export_path = NULL;
	struct vigil_config cfg;
	struct keystore *ks = NULL;
	struct device *dev = NULL;
	bool rotate = false, kept;
	char err[1024];
	int c, rc, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: config_path = optarg; break;
		case O_ORG: org = optarg; break;
		case O_ROTATE: rotate = true; break;
		case O_KEYSTORE: keystore_dir = optarg; break;
		case O_EXPORT: export_path = optarg; break;
		case 'h':
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigil enroll: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (keystore_dir && export_path) {
		fprintf(stderr, "vigil enroll: give --keystore or --export, not both\n");
		return 2;
	}
	if (config__defaults(&cfg)) {
		fprintf(stderr, "vigil enroll: out of memory\n");
		return 1;
	}
	if (config_path && config__load(&cfg, config_path, err, sizeof(err))) {
		fprintf(stderr, "vigil enroll: %s\n", err);
		config__free(&cfg);
		return 2;
	}
	umask(077);
	rc = do_enroll(cfg.ship_device_file, org ? org : cfg.org_id, rotate, org != NULL, &dev,
		       &kept, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vigil enroll: %s\n", err);
		goto out;
	}
	printf("device %s %s: org %s, key %u, %s\n", dev->device_id,
	       kept ? "already enrolled (kept; --rotate makes a new key)" :
	       rotate ? "key rotated" : "enrolled", dev->org_id, dev->cur.key_id,
	       cfg.ship_device_file);
	if (export_path) {
		rc = export_record(cfg.ship_device_file, export_path, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "vigil enroll: export: %s\n", err);
			goto out;
		}
		printf("keystore record written to %s: copy it to the collector's keystore_dir "
		       "as %s.key (mode 0600)\n", export_path, dev->device_id);
	} else {
		if (!keystore_dir)
			keystore_dir = cfg.col_keystore_dir;
		rc = shipper_mkdirs(keystore_dir, 0700, err, sizeof(err));
		if (!rc)
			rc = keystore__open(keystore_dir, 0, &ks, err, sizeof(err));
		if (!rc)
			rc = keystore__add(ks, dev, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "vigil enroll: the identity is in %s, but registering it "
				"with the collector failed: %s (vigil enroll --export FILE writes the "
				"record to copy by hand)\n", cfg.ship_device_file, err);
			goto out;
		}
		printf("registered in the collector keystore %s\n", keystore_dir);
	}
	if (rotate)
		printf("restart the agent to sign with key %u\n", dev->cur.key_id);
	ret = fflush(stdout) ? 1 : 0;
out:
	keystore__close(ks);
	device__free(dev);
	config__free(&cfg);
	return ret;
}
