/* File record helpers: absolute names from a base and a relative name, and
 * the kernel form of path exclusions (which must match exactly what the
 * user-space fnmatch(FNM_LEADING_DIR) filter matches for literal patterns). */
#include <errno.h>
#include <fnmatch.h>
#include <linux/types.h>
#include <stdint.h>

#include "sources/ebpf/file.h"
#include "sources/ebpf/file_rec.h"
#include "unit.h"

static void test_join(void)
{
	char out[64];

	CHECK_INT(file_rec__join("/home/u", "a.txt", out, sizeof(out)), 0);
	CHECK_STR(out, "/home/u/a.txt");
	CHECK_INT(file_rec__join("/home/u", "/etc/passwd", out, sizeof(out)), 0);
	CHECK_STR(out, "/etc/passwd");
	CHECK_INT(file_rec__join("/home/u", "../../../../etc//./shadow", out, sizeof(out)), 0);
	CHECK_STR(out, "/etc/shadow");
	CHECK_INT(file_rec__join("/", ".", out, sizeof(out)), 0);
	CHECK_STR(out, "/");
	CHECK_INT(file_rec__join("/a", "..", out, sizeof(out)), 0);
	CHECK_STR(out, "/");
	CHECK_INT(file_rec__join("/a", "bbbbbbbb", out, 8), -ENAMETOOLONG);
	CHECK_INT(file_rec__join("/a", "b", out, 1), -ENAMETOOLONG);
}

/* What the kernel's longest-prefix match says for path: any key whose first
 * prefixlen/8 bytes are a prefix of the path and its NUL. */
static int kernel_excludes(const struct vg_path_key *keys, int n, const char *path)
{
	size_t len = strlen(path) + 1;

	if (len > VG_EXCL_PATH_LEN)
		len = VG_EXCL_PATH_LEN;
	for (int i = 0; i < n; i++) {
		size_t k = keys[i].prefixlen / 8;

		if (k <= len && memcmp(keys[i].data, path, k) == 0)
			return 1;
	}
	return 0;
}

static void test_exclusion_keys(void)
{
	static const char *const patterns[] = { "/var/log", "/var/log/", "/", "/tmp/x y" };
	static const char *const paths[] = {
		"/var/log", "/var/log/syslog", "/var/log/a/b", "/var/logx", "/var/lo", "/var",
		"/", "/etc/passwd", "/var/log//x", "/tmp/x y", "/tmp/x y/z", "/tmp/x yz", "//x",
	};
	struct vg_path_key keys[2];
	char big[VG_EXCL_PATH_LEN + 8];

	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		CHECK_INT(file_rec__exclusion_keys(patterns[p], keys), 2);
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			int want = fnmatch(patterns[p], paths[i], FNM_LEADING_DIR) == 0;

			if (kernel_excludes(keys, 2, paths[i]) != want)
				fprintf(stderr, "pattern %s path %s: fnmatch says %d\n", patterns[p],
					paths[i], want);
			CHECK_INT(kernel_excludes(keys, 2, paths[i]), want);
		}
	}
	CHECK_INT(file_rec__exclusion_keys("/var/log", keys), 2);
	CHECK_INT(keys[0].prefixlen, 9 * 8);
	CHECK(memcmp(keys[0].data, "/var/log\0", 9) == 0);
	CHECK(memcmp(keys[1].data, "/var/log/", 9) == 0);
	/* globs and escapes stay in user space */
	CHECK_INT(file_rec__exclusion_keys("/var/*.log", keys), 0);
	CHECK_INT(file_rec__exclusion_keys("/var/lo?", keys), 0);
	CHECK_INT(file_rec__exclusion_keys("/var/[a]", keys), 0);
	CHECK_INT(file_rec__exclusion_keys("/var/\\*", keys), 0);
	CHECK_INT(file_rec__exclusion_keys("", keys), 0);
	/* longest that fits: the pattern and its '/' or NUL */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[VG_EXCL_PATH_LEN - 1] = '\0';
	CHECK_INT(file_rec__exclusion_keys(big, keys), 2);
	big[VG_EXCL_PATH_LEN - 1] = 'a';
	big[VG_EXCL_PATH_LEN] = '\0';
	CHECK_INT(file_rec__exclusion_keys(big, keys), 0);
}

int main(void)
{
	test_join();
	test_exclusion_keys();
	return unit_report("test_file_rec");
}
