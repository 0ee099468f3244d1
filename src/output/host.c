#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "model/event.h"
#include "output/host.h"

#define HOST_FILE_MAX 16384	/* os-release and friends are a few hundred bytes */

/* Reads at most HOST_FILE_MAX - 1 bytes of a small file into out.
 * Returns bytes read or a negative errno. */
static ssize_t read_small(const char *path, char *out, size_t outlen)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)total < outlen - 1) {
		n = read(fd, out + total, outlen - 1 - (size_t)total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	out[total] = '\0';
	return total;
}

/* The first line of a file, trimmed; NULL when missing or empty. */
static char *read_line(const char *path)
{
	char text[512];
	size_t n;

	if (read_small(path, text, sizeof(text)) <= 0)
		return NULL;
	n = strcspn(text, "\r\n");
	while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	text[n] = '\0';
	return n ? strdup(text) : NULL;
}

int host__os_release_pretty(const char *text, char *out, size_t outlen)
{
	static const char key[] = "PRETTY_NAME=";
	const char *line = text, *p, *end;
	size_t o = 0;
	char q;

	while (line && *line) {
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if ((size_t)(end - line) >= sizeof(key) - 1 &&
		    memcmp(line, key, sizeof(key) - 1) == 0)
			break;
		line = *end ? end + 1 : NULL;
	}
	if (!line || !*line)
		return -ENOENT;
	p = line + sizeof(key) - 1;
	q = (*p == '"' || *p == '\'') ? *p++ : '\0';
	for (; p < end; p++) {
		char c = *p;

		if (q && c == q) {
			q = '\0';
			break;
		}
		if (q == '"' && c == '\\' && p + 1 < end && strchr("\"\\$`", p[1]))
			c = *++p;
		if (o + 1 >= outlen)
			return -E2BIG;
		out[o++] = c;
	}
	if (q)
		return -EINVAL;	/* unterminated quote */
	while (o && (out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\r'))
		o--;
	out[o] = '\0';
	return 0;
}

static char *os_name(void)
{
	static const char *const paths[] = { "/etc/os-release", "/usr/lib/os-release" };
	char text[HOST_FILE_MAX], name[256];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (read_small(paths[i], text, sizeof(text)) < 0)
			continue;
		if (host__os_release_pretty(text, name, sizeof(name)) == 0 && name[0])
			return strdup(name);
		return NULL;
	}
	return NULL;
}

static int64_t measure_boot_to_real(void)
{
	struct timespec real, boot;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return ((int64_t)real.tv_sec - boot.tv_sec) * 1000000000LL +
	       ((int64_t)real.tv_nsec - boot.tv_nsec);
}

static int dup_opt(char **dst, const char *s, const char *what, char *err, size_t errlen)
{
	*dst = NULL;
	if (!s || !*s)
		return 0;
	if (strlen(s) > OUTPUT_ID_MAX) {
		snprintf(err, errlen, "%s is longer than %d bytes", what, OUTPUT_ID_MAX);
		return -EINVAL;
	}
	*dst = strdup(s);
	if (!*dst) {
		snprintf(err, errlen, "out of memory copying %s", what);
		return -ENOMEM;
	}
	return 0;
}

int output_ctx__init(struct output_ctx *c, const char *device_id, const char *org_id,
		     const char *user_data, char *err, size_t errlen)
{
	char hostname[256];
	struct utsname un;
	struct tm tm;
	time_t now;
	uint64_t rnd;
	ssize_t n;
	int ret;

	memset(c, 0, sizeof(*c));
	c->vendor_name = "Vigil";
	c->product_name = "vigil-agent";
	c->product_version = VIGIL_VERSION;
	c->schema_version = VIGIL_SCHEMA_VERSION;

	c->machine_id = read_line("/etc/machine-id");
	if (!c->machine_id)
		c->machine_id = read_line("/var/lib/dbus/machine-id");
	if (device_id && *device_id) {
		ret = dup_opt(&c->device_id, device_id, "device_id", err, errlen);
		if (ret)
			goto fail;
	} else if (c->machine_id) {
		c->device_id = strdup(c->machine_id);
		if (!c->device_id) {
			snprintf(err, errlen, "out of memory copying the machine id");
			ret = -ENOMEM;
			goto fail;
		}
	} else {
		snprintf(err, errlen,
			 "no device_id configured and neither /etc/machine-id nor "
			 "/var/lib/dbus/machine-id is readable");
		ret = -ENOENT;
		goto fail;
	}
	ret = dup_opt(&c->org_id, org_id, "org_id", err, errlen);
	if (!ret)
		ret = dup_opt(&c->user_data, user_data, "user_data", err, errlen);
	if (ret)
		goto fail;

	do {
		n = getrandom(&rnd, sizeof(rnd), 0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rnd)) {
		ret = n < 0 ? -errno : -EIO;
		snprintf(err, errlen, "getrandom for the agent instance id failed: %s",
			 strerror(-ret));
		goto fail;
	}
	c->instance_id = (rnd & ~(uint64_t)0xf000) | 0x8000;
	snprintf(c->instance_hex, sizeof(c->instance_hex), "%016" PRIx64, c->instance_id);

	/* Missing host facts are reported as null, not refused: a container
	 * may lack /proc/sys/kernel/random or os-release. */
	if (gethostname(hostname, sizeof(hostname)) == 0) {
		hostname[sizeof(hostname) - 1] = '\0';
		if (hostname[0])
			c->hostname = strdup(hostname);
	}
	c->boot_uuid = read_line("/proc/sys/kernel/random/boot_id");
	c->os_name = os_name();
	if (uname(&un) == 0 && asprintf(&c->os_version, "Linux %s", un.release) < 0)
		c->os_version = NULL;
	tzset();
	now = time(NULL);
	if (localtime_r(&now, &tm) && tm.tm_zone && tm.tm_zone[0])
		c->timezone = strdup(tm.tm_zone);
	else
		c->timezone = strdup("UTC");
	c->boot_to_real_ns = measure_boot_to_real();
	return 0;
fail:
	output_ctx__free(c);
	return ret;
}

void output_ctx__free(struct output_ctx *c)
{
	if (!c)
		return;
	free(c->hostname);
	free(c->device_id);
	free(c->org_id);
	free(c->user_data);
	free(c->machine_id);
	free(c->boot_uuid);
	free(c->os_name);
	free(c->json_head);
	free(c->json_tail);
	c->json_head = c->json_tail = NULL;
	free(c->os_version);
	free(c->timezone);
	c->hostname = c->device_id = c->org_id = c->user_data = c->machine_id = NULL;
	c->boot_uuid = c->os_name = c->os_version = c->timezone = NULL;
}

void output_ctx__set_clock(struct output_ctx *c, int64_t boot_to_real_offset_ns)
{
	c->boot_to_real_ns = boot_to_real_offset_ns;
}

void output_ctx__next_message_id(struct output_ctx *c, char *out)
{
	uint64_t n = __atomic_fetch_add(&c->msg_counter, 1, __ATOMIC_RELAXED);
	uint64_t lo = (n & (uint64_t)0x3fffffffffffffff) | (uint64_t)1 << 63;
	uint64_t hi = c->instance_id;

	static const char hex[] = "0123456789abcdef";
	/* hex digit positions of hi and lo in iiiiiiii-iiii-8iii-vccc-cccccccccccc;
	 * printf showed in profiles at one id per event */
	static const unsigned char pos[32] = {
		0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17,
		19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
	};

	for (int i = 0; i < 16; i++) {
		out[pos[i]] = hex[(hi >> (60 - 4 * i)) & 0xf];
		out[pos[16 + i]] = hex[(lo >> (60 - 4 * i)) & 0xf];
	}
	out[8] = out[13] = out[18] = out[23] = '-';
	out[OUTPUT_MSG_ID_LEN] = '\0';
}
