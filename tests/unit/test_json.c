/* JSON writer, field table and output context. Events are also written to a
 * file and checked by the schema validator (tests/tools/validate_events.py
 * with docs/event.schema.json), which must accept them and must reject
 * deliberately broken ones. Run from the repository root, or set
 * VIGIL_SRCDIR. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enrich/dns.h"
#include "lib/buf.h"
#include "model/event.h"
#include "model/fields.h"
#include "model/proc.h"
#include "output/host.h"
#include "output/json.h"
#include "ship/blocks.h"
#include "unit.h"

static const char *srcdir = ".";
static char tmpdir[] = "/tmp/vigil-test-json-XXXXXX";

/* ---- escaping ---- */

static char *esc(const char *s, size_t len)
{
	static char out[512];
	struct buf b;

	buf__init(&b, 4096);
	if (json__escape(&b, s, len))
		snprintf(out, sizeof(out), "<error>");
	else
		snprintf(out, sizeof(out), "%s", b.data);
	buf__free(&b);
	return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)
#define FFFD "\xef\xbf\xbd"

static void test_escape(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
#define C(in, want) { in, sizeof(in) - 1, want }
		C("", "\"\""),
		C("plain /path", "\"plain /path\""),
		C("\"", "\"\\\"\""),
		C("\\", "\"\\\\\""),
		C("a\"b\\c", "\"a\\\"b\\\\c\""),
		C("\x7f", "\"\x7f\""),				/* DEL as is */
		C("/tmp/evil\n\"name", "\"/tmp/evil\\n\\\"name\""),
		C("a\0b", "\"a\\u0000b\""),
		/* valid UTF-8 of every length, at the edges of each range */
		C("\xc2\x80", "\"\xc2\x80\""),			/* U+0080 */
		C("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\""),
		C("\xdf\xbf", "\"\xdf\xbf\""),			/* U+07FF */
		C("\xe0\xa0\x80", "\"\xe0\xa0\x80\""),		/* U+0800 */
		C("\xe2\x82\xac", "\"\xe2\x82\xac\""),		/* euro */
		C("\xed\x9f\xbf", "\"\xed\x9f\xbf\""),		/* U+D7FF */
		C("\xee\x80\x80", "\"\xee\x80\x80\""),		/* U+E000 */
		C("\xef\xbf\xbf", "\"\xef\xbf\xbf\""),		/* U+FFFF */
		C("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""),	/* U+10000 */
		C("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""),	/* emoji */
		C("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),	/* U+10FFFF */
		/* overlongs */
		C("\xc0\xaf", "\"" FFFD FFFD "\""),
		C("\xc1\xbf", "\"" FFFD FFFD "\""),
		C("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\""),
		C("\xe0\x9f\xbf", "\"" FFFD FFFD FFFD "\""),
		C("\xf0\x80\x80\xaf", "\"" FFFD FFFD FFFD FFFD "\""),
		C("\xf0\x8f\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\""),
		/* UTF-16 surrogates encoded in UTF-8 */
		C("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""),
		C("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\""),
		C("\xed\xa0\xbd\xed\xb8\x80", "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\""),
		/* truncated sequences, at the end and before other bytes */
		C("\xc3", "\"" FFFD "\""),
		C("\xe2\x82", "\"" FFFD FFFD "\""),
		C("\xe2\x82" "A", "\"" FFFD FFFD "A\""),
		C("\xf0\x9f\x98", "\"" FFFD FFFD FFFD "\""),
		C("\xf0\x9f\x98\"", "\"" FFFD FFFD FFFD "\\\"\""),
		C("x\xc3\n", "\"x" FFFD "\\n\""),
		/* stray continuation bytes */
		C("\x80", "\"" FFFD "\""),
		C("a\xbf" "b", "\"a" FFFD "b\""),
		/* bytes that never appear in UTF-8, and code points past U+10FFFF */
		C("\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""),
		C("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""),
		C("\xf8\x88\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD FFFD "\""),
		C("\xfe\xff", "\"" FFFD FFFD "\""),
		/* a valid sequence right after a bad byte survives */
		C("\xff\xc3\xa9", "\"" FFFD "\xc3\xa9\""),
#undef C
	};
	char in[2], want[16];
	struct buf b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(esc(cases[i].in, cases[i].len), cases[i].want);

	/* every control byte */
	for (int c = 0; c < 0x20; c++) {
		in[0] = (char)c;
		switch (c) {
		case '\b': snprintf(want, sizeof(want), "\"\\b\""); break;
		case '\f': snprintf(want, sizeof(want), "\"\\f\""); break;
		case '\n': snprintf(want, sizeof(want), "\"\\n\""); break;
		case '\r': snprintf(want, sizeof(want), "\"\\r\""); break;
		case '\t': snprintf(want, sizeof(want), "\"\\t\""); break;
		default: snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		}
		CHECK_STR(esc(in, 1), want);
	}
	/* every printable ASCII byte but " and \ is copied */
	for (int c = 0x20; c < 0x7f; c++) {
		if (c == '"' || c == '\\')
			continue;
		in[0] = (char)c;
		snprintf(want, sizeof(want), "\"%c\"", c);
		CHECK_STR(esc(in, 1), want);
	}
	/* every byte 0x80..0xff alone is invalid */
	for (int c = 0x80; c <= 0xff; c++) {
		in[0] = (char)c;
		CHECK_STR(esc(in, 1), "\"" FFFD "\"");
	}

	/* NULL is null */
	buf__init(&b, 64);
	CHECK_INT(json__escape(&b, NULL, 0), 0);
	CHECK_STR(b.data, "null");
	buf__free(&b);

	/* -E2BIG leaves the buffer as it was, even half way through */
	for (size_t cap = 0; cap < 12; cap++) {
		buf__init(&b, cap);
		if (cap >= 2)
			buf__add(&b, "ab", 2);
		CHECK_INT(json__escape(&b, "x\n\xff" "yz", 5), -E2BIG);
		CHECK_INT(b.len, cap >= 2 ? 2 : 0);
		CHECK(!b.toobig);
		CHECK(!b.data || strcmp(b.data, cap >= 2 ? "ab" : "") == 0);
		buf__free(&b);
	}
	buf__init(&b, 14);
	CHECK_INT(json__escape(&b, "x\n\xff" "yz", 5), 0);
	CHECK_STR(b.data, "\"x\\n" FFFD "yz\"");
	buf__free(&b);
}

/* ---- time and signals ---- */

static void test_time(void)
{
	char t[JSON_TIME_LEN], tmp[24];

	CHECK_INT(json__format_time(t, sizeof(t), 0), 0);
	CHECK_STR(t, "1970-01-01T00:00:00.000000000+00:00");
	CHECK_INT(strlen(t), JSON_TIME_LEN - 1);
	CHECK_INT(json__format_time(t, sizeof(t), 1709210096ULL * 1000000000 + 5), 0);
	CHECK_STR(t, "2024-02-29T12:34:56.000000005+00:00");
	CHECK_INT(json__format_time(t, sizeof(t), 951782400ULL * 1000000000 + 120000000), 0);
	CHECK_STR(t, "2000-02-29T00:00:00.120000000+00:00");
	CHECK_INT(json__format_time(t, sizeof(t), 946684799ULL * 1000000000 + 999999999), 0);
	CHECK_STR(t, "1999-12-31T23:59:59.999999999+00:00");
	CHECK_INT(json__format_time(t, sizeof(t), UINT64_MAX), 0);
	CHECK_STR(t, "2554-07-21T23:34:33.709551615+00:00");
	CHECK_INT(json__format_time(t, JSON_TIME_LEN - 1, 0), -E2BIG);

	CHECK_STR(json__signal_name(SIGKILL, tmp, sizeof(tmp)), "SIGKILL");
	CHECK_STR(json__signal_name(SIGSEGV, tmp, sizeof(tmp)), "SIGSEGV");
	CHECK_STR(json__signal_name(SIGHUP, tmp, sizeof(tmp)), "SIGHUP");
	CHECK_STR(json__signal_name(SIGRTMIN, tmp, sizeof(tmp)), "SIGRTMIN");
	CHECK_STR(json__signal_name(SIGRTMIN + 3, tmp, sizeof(tmp)), "SIGRTMIN+3");
	CHECK(json__signal_name(0, tmp, sizeof(tmp)) == NULL);
	CHECK(json__signal_name(-1, tmp, sizeof(tmp)) == NULL);
	CHECK(json__signal_name(200, tmp, sizeof(tmp)) == NULL);
}

/* ---- fields ---- */

static const char args_curl[] = "curl\0-s\0http://example.test/a b\0";
static const char env_curl[] = "PATH=/usr/bin:/bin\0HOME=/root\0EMPTY=\0NOEQ\0\0A=b=c\0";

static void set_str(char **f, const char *s, size_t len)
{
	CHECK_INT(proc_info__set_str(f, s, len), 0);
}

static void make_proc(struct proc_info *p, uint32_t pid)
{
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->tid = pid + 1;
	p->ppid = 1;
	snprintf(p->comm, sizeof(p->comm), "curl");
	set_str(&p->exe, "/usr/bin/curl", 13);
	set_str(&p->cwd, "/root", 5);
	set_str(&p->args, args_curl, sizeof(args_curl) - 1);
	p->args_len = sizeof(args_curl) - 1;
	p->uid = p->euid = 0;
	p->gid = p->egid = 0;
	p->auid = 1000;
	snprintf(p->user, sizeof(p->user), "root");
	snprintf(p->group, sizeof(p->group), "root");
	snprintf(p->euser, sizeof(p->euser), "root");
	snprintf(p->egroup, sizeof(p->egroup), "root");
	snprintf(p->login_user, sizeof(p->login_user), "alice");
	p->start_boot_ns = 5000000000ULL;
	p->exec_boot_ns = 5000000123ULL;
	p->self_exec_id = 7;
	p->pidns = 4026531836u;
	p->mntns = 4026531841u;
	p->netns = 4026531840u;
	p->cgroup_id = 99;
	set_str(&p->cgroup, "/system.slice/ssh.service", 25);
	p->hash.status = HASH_OK;
	p->hash.size = 12345;
	memset(p->hash.sha256, 'a', 64);
	memset(p->hash.sha1, 'b', 40);
	memset(p->hash.md5, 'c', 32);
	p->origin = PROC_ORIGIN_EXEC;
}

static void list_items(const char *s, size_t len, char *out, size_t outlen)
{
	const char *item;
	size_t pos = 0, n, o = 0;

	out[0] = '\0';
	while (field__list_next(s, len, &pos, &item, &n))
		o += (size_t)snprintf(out + o, outlen - o, "[%.*s]", (int)n, item);
}

static void test_fields(void)
{
	const struct field_desc *f;
	struct field_value v;
	struct proc_info p;
	unsigned count;
	char items[64];

	f = proc_fields(&count);
	CHECK(count >= 36);
	for (unsigned i = 0; i < count; i++) {
		CHECK(proc_field__find(f[i].name) == &f[i]);
		CHECK(strncmp(f[i].name, "process_", 8) == 0);
		CHECK(f[i].doc && f[i].doc[0]);
	}
	CHECK(proc_field__find("process_nmae") == NULL);
	CHECK(proc_field__find("") == NULL);

	list_items("a\0b\0", 4, items, sizeof(items));
	CHECK_STR(items, "[a][b]");
	list_items("a\0b", 3, items, sizeof(items));
	CHECK_STR(items, "[a][b]");
	list_items("a\0\0", 3, items, sizeof(items));
	CHECK_STR(items, "[a][]");
	list_items("\0", 1, items, sizeof(items));
	CHECK_STR(items, "[]");
	list_items("", 0, items, sizeof(items));
	CHECK_STR(items, "");
	list_items(NULL, 5, items, sizeof(items));
	CHECK_STR(items, "");

	make_proc(&p, 4242);
	field__get(proc_field__find("process_id"), &p, 0, &v);
	CHECK(v.tag == FV_UINT && v.u == 4242);
	field__get(proc_field__find("process_login_user_id"), &p, 0, &v);
	CHECK(v.tag == FV_UINT && v.u == 1000);
	p.auid = PROC_ID_UNSET;
	field__get(proc_field__find("process_login_user_id"), &p, 0, &v);
	CHECK(v.tag == FV_NULL);
	field__get(proc_field__find("process_real_user_id"), &p, 0, &v);
	CHECK(v.tag == FV_UINT && v.u == 0);	/* root is 0, not unknown */
	field__get(proc_field__find("process_creation_time_iso_8601_ns"), &p, 1000, &v);
	CHECK(v.tag == FV_TIME && v.u == 5000001000ULL);
	field__get(proc_field__find("process_creation_time_iso_8601_ns"), &p, -6000000000LL, &v);
	CHECK(v.tag == FV_NULL);	/* before the epoch */
	field__get(proc_field__find("process_creation_time_ns"), &p, 1000, &v);
	CHECK(v.tag == FV_UINT && v.u == 5000000000ULL);
	field__get(proc_field__find("process_exec_id"), &p, 0, &v);
	CHECK(v.tag == FV_STR && v.len == strlen("1092-12a05f27b"));
	CHECK(v.tag == FV_STR && memcmp(v.s, "1092-12a05f27b", v.len) == 0);
	field__get(proc_field__find("process_hash_sha256"), &p, 0, &v);
	CHECK(v.tag == FV_STR && v.len == 64);
	p.hash.status = HASH_PENDING;
	field__get(proc_field__find("process_hash_sha256"), &p, 0, &v);
	CHECK(v.tag == FV_NULL);
	field__get(proc_field__find("process_hash_status"), &p, 0, &v);
	CHECK(v.tag == FV_STR && strcmp(v.s, "pending") == 0);
	field__get(proc_field__find("process_container_id"), &p, 0, &v);
	CHECK(v.tag == FV_NULL);
	field__get(proc_field__find("process_environment"), &p, 0, &v);
	CHECK(v.tag == FV_ABSENT);
	field__get(proc_field__find("process_pid_namespace"), &p, 0, &v);
	CHECK(v.tag == FV_UINT && v.u == 4026531836u);
	p.pidns = 0;
	field__get(proc_field__find("process_pid_namespace"), &p, 0, &v);
	CHECK(v.tag == FV_NULL);
	/* comm filling its array without a NUL is read within bounds */
	memset(p.comm, 'z', sizeof(p.comm));
	field__get(proc_field__find("process_name"), &p, 0, &v);
	CHECK(v.tag == FV_STR && v.len == PROC_COMM_LEN);
	/* empty strings are unknown */
	set_str(&p.exe, "", 0);
	field__get(proc_field__find("process_executable_path"), &p, 0, &v);
	CHECK(v.tag == FV_NULL);
	set_str(&p.args, "\0\0", 2);
	p.args_len = 2;
	field__get(proc_field__find("process_command_line"), &p, 0, &v);
	CHECK(v.tag == FV_NULL);
	field__get(proc_field__find("process_command_line_arguments"), &p, 0, &v);
	CHECK(v.tag == FV_LIST && v.len == 2);
	proc_info__clear(&p);
}

/* ---- output context ---- */

static void fixed_ctx(struct output_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->vendor_name = "Vigil";
	c->product_name = "vigil-agent";
	c->product_version = "9.9.9";
	c->schema_version = VIGIL_SCHEMA_VERSION;
	c->hostname = strdup("host-1");
	c->device_id = strdup("dev-1");
	c->org_id = strdup("org-1");
	c->user_data = strdup("NONE");
	c->machine_id = strdup("3d1219c7c4c5404aaa1f6d2a48adfda4");
	c->boot_uuid = strdup("0b5c2d4e-1111-4222-8333-444455556666");
	c->os_name = strdup("Debian GNU/Linux 12 (bookworm)");
	c->os_version = strdup("Linux 6.1.0-test");
	c->timezone = strdup("UTC");
	c->instance_id = 0x0123456789ab8defULL;
	snprintf(c->instance_hex, sizeof(c->instance_hex), "%016" PRIx64, c->instance_id);
	c->boot_to_real_ns = 1700000000LL * 1000000000LL;
}

static void test_host(void)
{
	struct output_ctx c;
	char err[256], id[OUTPUT_MSG_ID_LEN + 1], id2[OUTPUT_MSG_ID_LEN + 1], name[64];
	char longid[OUTPUT_ID_MAX + 2];
	int64_t now_off;

	err[0] = '\0';
	CHECK_INT(output_ctx__init(&c, NULL, "org", "ud", err, sizeof(err)), 0);
	CHECK_STR(c.vendor_name, "Vigil");
	CHECK_STR(c.product_name, "vigil-agent");
	CHECK_STR(c.product_version, VIGIL_VERSION);
	CHECK_STR(c.schema_version, VIGIL_SCHEMA_VERSION);
	CHECK(c.device_id != NULL);
	if (access("/etc/machine-id", R_OK) == 0) {
		CHECK(c.machine_id && strlen(c.machine_id) == 32);
		CHECK_STR(c.device_id, c.machine_id);
	}
	if (access("/proc/sys/kernel/random/boot_id", R_OK) == 0)
		CHECK(c.boot_uuid && strlen(c.boot_uuid) == 36);
	CHECK(c.os_version && strncmp(c.os_version, "Linux ", 6) == 0);
	CHECK(c.timezone && c.timezone[0]);
	CHECK(c.hostname && c.hostname[0]);
	CHECK_STR(c.org_id, "org");
	CHECK_STR(c.user_data, "ud");
	CHECK_INT((c.instance_id >> 12) & 0xf, 8);
	CHECK_INT(strlen(c.instance_hex), 16);
	/* boot->real offset is "now - uptime": positive and before now */
	now_off = c.boot_to_real_ns;
	CHECK(now_off > 0 && now_off < (int64_t)time(NULL) * 1000000000LL);
	output_ctx__set_clock(&c, 42);
	CHECK_INT(c.boot_to_real_ns, 42);

	output_ctx__next_message_id(&c, id);
	output_ctx__next_message_id(&c, id2);
	CHECK_INT(strlen(id), OUTPUT_MSG_ID_LEN);
	CHECK(strcmp(id, id2) != 0);
	CHECK(strncmp(id, c.instance_hex, 8) == 0);
	CHECK(id[14] == '8' && id[19] == '8');
	CHECK_STR(id + 24, "000000000000");
	CHECK_STR(id2 + 24, "000000000001");
	output_ctx__free(&c);
	output_ctx__free(&c);	/* twice is fine */
	output_ctx__free(NULL);

	CHECK_INT(output_ctx__init(&c, "my-device", NULL, NULL, err, sizeof(err)), 0);
	CHECK_STR(c.device_id, "my-device");
	CHECK(c.org_id == NULL && c.user_data == NULL);
	output_ctx__free(&c);

	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	err[0] = '\0';
	CHECK_INT(output_ctx__init(&c, longid, NULL, NULL, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "device_id") != NULL);
	CHECK(c.device_id == NULL);
	CHECK_INT(output_ctx__init(&c, "d", "o", longid, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "user_data") != NULL);

	CHECK_INT(host__os_release_pretty("NAME=x\n"
					  "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
					  name, sizeof(name)), 0);
	CHECK_STR(name, "Debian GNU/Linux 12 (bookworm)");
	CHECK_INT(host__os_release_pretty("PRETTY_NAME='Alpine Linux v3.19'", name, sizeof(name)),
		  0);
	CHECK_STR(name, "Alpine Linux v3.19");
	CHECK_INT(host__os_release_pretty("PRETTY_NAME=Plain\n", name, sizeof(name)), 0);
	CHECK_STR(name, "Plain");
	CHECK_INT(host__os_release_pretty("PRETTY_NAME=\"say \\\"hi\\\" \\\\o/\"\n", name,
					  sizeof(name)), 0);
	CHECK_STR(name, "say \"hi\" \\o/");
	CHECK_INT(host__os_release_pretty("X_PRETTY_NAME=\"no\"\nNAME=x\n", name, sizeof(name)),
		  -ENOENT);
	CHECK_INT(host__os_release_pretty("", name, sizeof(name)), -ENOENT);
	CHECK_INT(host__os_release_pretty("PRETTY_NAME=\"open\nNAME=x\n", name, sizeof(name)),
		  -EINVAL);
	CHECK_INT(host__os_release_pretty("PRETTY_NAME=0123456789", name, 5), -E2BIG);
}

/* ---- whole events ---- */

static const char golden_created[] =
	"{\"message_header\":{\"vendor_name\":\"Vigil\",\"product_name\":\"vigil-agent\","
	"\"product_version\":\"9.9.9\",\"message_type\":\"EVENT\",\"severity\":\"INFO\","
	"\"schema_version\":\"" VIGIL_SCHEMA_VERSION "\","
	"\"message_id\":\"01234567-89ab-8def-8000-000000000000\","
	"\"occurred_message_time_iso_8601_ns\":\"2023-11-14T22:13:25.000000500+00:00\","
	"\"occurred_message_time_ns\":1700000005000000500,\"message_timezone\":\"UTC\","
	"\"user_data\":\"NONE\",\"host_information\":{\"hostname\":\"host-1\","
	"\"device_id\":\"dev-1\",\"org_id\":\"org-1\","
	"\"machine_id\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
	"\"boot_uuid\":\"0b5c2d4e-1111-4222-8333-444455556666\","
	"\"os_name\":\"Debian GNU/Linux 12 (bookworm)\",\"os_version\":\"Linux 6.1.0-test\","
	"\"agent_instance_id\":\"0123456789ab8def\"}},"
	"\"activity_data\":{\"name\":\"Process Created\",\"event_type_id\":1,"
	"\"family\":\"process\",\"process_details\":{\"process_name\":\"curl\","
	"\"process_id\":4242,\"process_thread_id\":4243,\"process_parent_process_id\":1,"
	"\"process_executable_path\":\"/usr/bin/curl\","
	"\"process_command_line\":\"curl -s http://example.test/a b\","
	"\"process_command_line_arguments\":[\"curl\",\"-s\",\"http://example.test/a b\"],"
	"\"process_args_truncated\":false,\"process_current_working_directory\":\"/root\","
	"\"process_real_user_id\":0,\"process_real_user_name\":\"root\","
	"\"process_real_group_id\":0,\"process_real_group_name\":\"root\","
	"\"process_effective_user_id\":0,\"process_effective_user_name\":\"root\","
	"\"process_effective_group_id\":0,\"process_effective_group_name\":\"root\","
	"\"process_login_user_id\":1000,\"process_login_user_name\":\"alice\","
	"\"process_creation_time_iso_8601_ns\":\"2023-11-14T22:13:25.000000000+00:00\","
	"\"process_creation_time_ns\":5000000000,\"process_exec_id\":\"1092-12a05f27b\","
	"\"process_self_exec_id\":7,\"process_pid_namespace\":4026531836,"
	"\"process_mount_points_namespace\":4026531841,"
	"\"process_network_namespace\":4026531840,"
	"\"process_cgroup\":\"/system.slice/ssh.service\",\"process_container_id\":null,"
	"\"process_container_runtime\":null,"
	"\"process_hash_sha256\":"
	"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	"\"process_hash_sha1\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
	"\"process_hash_md5\":\"cccccccccccccccccccccccccccccccc\","
	"\"process_hash_status\":\"ok\",\"process_file_size_bytes\":12345,"
	"\"process_creation_type\":\"exec\","
	"\"process_environment\":{\"PATH\":\"/usr/bin:/bin\",\"HOME\":\"/root\",\"EMPTY\":\"\","
	"\"NOEQ\":null,\"A\":\"b=c\"}},"
	"\"parent_process_details\":null}}\n";

/* Blanks the message id so two lines can be compared. */
static void blank_id(char *line)
{
	char *p = strstr(line, "\"message_id\":\"");

	if (p)
		memset(p + 14, '0', OUTPUT_MSG_ID_LEN);
}

static FILE *open_out(const char *name, char *path, size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	return f;
}

static int write_line(FILE *f, const struct event *ev, struct output_ctx *ctx)
{
	struct buf b;
	int err;

	buf__init(&b, 1 << 20);
	err = json__write_event(&b, ev, ctx);
	if (!err && f)
		fwrite(b.data, 1, b.len, f);
	buf__free(&b);
	return err;
}

/* Exit status of the validator on path; its output goes to path.out. */
static int validate(const char *path)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 %s/tests/tools/validate_events.py %s/docs/event.schema.json "
		 "'%s' > '%s.out' 2>&1", srcdir, srcdir, path, path);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

static int file_contains(const char *path, const char *needle)
{
	char text[8192];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return strstr(text, needle) != NULL;
}

static void print_file(const char *path)
{
	char text[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	fprintf(stderr, "%s", text);
}

static void check_valid(const char *path, int nevents)
{
	char out[600], want[64];

	snprintf(out, sizeof(out), "%s.out", path);
	snprintf(want, sizeof(want), "%d events valid", nevents);
	CHECK_INT(validate(path), 0);
	if (!file_contains(out, want)) {
		unit_failed++;
		fprintf(stderr, "validator did not say \"%s\" for %s:\n", want, path);
		print_file(out);
	} else {
		unit_passed++;
	}
}

static void test_golden(void)
{
	struct output_ctx ctx;
	struct proc_info p;
	struct event ev;
	struct buf b;

	fixed_ctx(&ctx);
	make_proc(&p, 4242);
	set_str(&p.env, env_curl, sizeof(env_curl) - 1);
	p.env_len = sizeof(env_curl) - 1;

	memset(&ev, 0, sizeof(ev));
	ev.type = EVT_PROCESS_CREATED;
	ev.time_ns = 1700000005000000500ULL;
	ev.proc = &p;
	buf__init(&b, 1 << 16);
	CHECK_INT(json__write_event(&b, &ev, &ctx), 0);
	CHECK_STR(b.data, golden_created);

	/* deterministic but for the message id, which is unique */
	{
		char *first = strdup(b.data);

		buf__reset(&b);
		CHECK_INT(json__write_event(&b, &ev, &ctx), 0);
		CHECK(strcmp(first, b.data) != 0);
		CHECK(strstr(b.data, "01234567-89ab-8def-8000-000000000001") != NULL);
		blank_id(first);
		blank_id(b.data);
		CHECK_STR(b.data, first);
		free(first);
	}

	/* where the shared blocks are (ship/blocks.h): exactly the
	 * host_information object and the process and parent values, whole
	 * JSON objects, also when the line is appended after another */
	{
		static const char *const keys[3] = { "\"host_information\":",
						     "\"process_details\":",
						     "\"parent_process_details\":" };
		struct line_blocks bl;
		size_t at = b.len;

		CHECK_INT(json__write_event_blocks(&b, &ev, &ctx, &bl), 0);
		CHECK_INT(bl.n, 3);
		for (unsigned i = 0; i < bl.n && i < 3; i++) {
			const char *v = strstr(b.data + at, keys[i]);

			CHECK(v && (size_t)(v + strlen(keys[i]) - b.data - at) == bl.off[i]);
			if (i < 2)
				CHECK(b.data[at + bl.off[i]] == '{' &&
				      b.data[at + bl.off[i] + bl.len[i] - 1] == '}');
			else	/* this process's parent is not known: null, too short to share */
				CHECK(bl.len[i] == 4 && !memcmp(b.data + at + bl.off[i], "null", 4));
			CHECK(b.data[at + bl.off[i] + bl.len[i]] == (i == 1 ? ',' : '}'));
		}
		CHECK(bl.len[0] > 100 && bl.len[1] > 500);
		CHECK(blocks_line_ok(b.data + at, b.len - at));
		b.len = at;
		b.data[at] = '\0';
		ev.type = SYS_EVENTS_DROPPED;	/* no process: the host block only */
		ev.proc = NULL;
		ev.message = "x";
		CHECK_INT(json__write_event_blocks(&b, &ev, &ctx, &bl), 0);
		CHECK_INT(bl.n, 1);
		b.len = at;
		b.data[at] = '\0';
		ev.type = EVT_PROCESS_CREATED;
		ev.proc = &p;
		ev.message = NULL;
	}

	/* appends: two events, two lines */
	CHECK_INT(json__write_event(&b, &ev, &ctx), 0);
	CHECK(strchr(b.data, '\n') == b.data + b.len / 2 - 1);
	CHECK(b.data[b.len - 1] == '\n');

	/* -E2BIG at every cap below the line's length leaves the buffer alone */
	{
		size_t full = strlen(golden_created), bad = 0;

		for (size_t cap = 0; cap < full; cap++) {
			struct buf small;

			buf__init(&small, cap);
			if (json__write_event(&small, &ev, &ctx) != -E2BIG || small.len ||
			    small.toobig || (small.data && small.data[0]))
				bad++;
			buf__free(&small);
		}
		CHECK_INT(bad, 0);
		buf__reset(&b);
		b.cap = full;
		CHECK_INT(json__write_event(&b, &ev, &ctx), 0);
		CHECK_INT(b.len, full);
		/* a line that does not fit after earlier lines keeps them intact */
		buf__reset(&b);
		b.cap = full + 8;
		buf__adds(&b, "previous\n");
		CHECK_INT(json__write_event(&b, &ev, &ctx), -E2BIG);
		CHECK_STR(b.data, "previous\n");
		CHECK(!b.toobig);
		b.cap = 1 << 16;
	}

	/* unknown types and process events without a process are refused */
	buf__reset(&b);
	ev.type = (enum event_type)777;
	CHECK_INT(json__write_event(&b, &ev, &ctx), -EINVAL);
	ev.type = EVT_PROCESS_TERMINATED;
	ev.proc = NULL;
	CHECK_INT(json__write_event(&b, &ev, &ctx), -EINVAL);
	ev.type = EVT_THREAD_CREATED;
	CHECK_INT(json__write_event(&b, &ev, &ctx), -EINVAL);
	CHECK_INT(b.len, 0);

	buf__free(&b);
	proc_info__clear(&p);
	output_ctx__free(&ctx);
}

/* One event of each kind the brief names, plus one of every type in the
 * event table, all of which must validate. Returns events written. */
static int write_catalogue(FILE *f, struct output_ctx *ctx, struct proc_info *p,
			   struct proc_info *parent)
{
	const struct event_type_info *all;
	struct event ev;
	unsigned count;
	int n = 0;
	struct buf b;

	memset(&ev, 0, sizeof(ev));
	ev.time_ns = 1763771506905224659ULL;
	ev.proc = p;
	ev.parent = parent;

	ev.type = EVT_PROCESS_CREATED;
	n += write_line(f, &ev, ctx) == 0;

	/* terminated by exit code, by signal, by signal with a core */
	ev.type = EVT_PROCESS_TERMINATED;
	ev.exit_code = 3;
	buf__init(&b, 1 << 20);
	CHECK_INT(json__write_event(&b, &ev, ctx), 0);
	CHECK(strstr(b.data, "\"exit_details\":{\"exit_code\":3,\"exit_signal\":null,"
			     "\"exit_signal_name\":null,\"core_dumped\":false}") != NULL);
	fwrite(b.data, 1, b.len, f);
	n++;
	buf__reset(&b);
	ev.exit_code = 0;
	ev.exit_signal = SIGKILL;
	CHECK_INT(json__write_event(&b, &ev, ctx), 0);
	CHECK(strstr(b.data, "\"exit_details\":{\"exit_code\":null,\"exit_signal\":9,"
			     "\"exit_signal_name\":\"SIGKILL\",\"core_dumped\":false}") != NULL);
	fwrite(b.data, 1, b.len, f);
	n++;
	buf__reset(&b);
	ev.exit_signal = SIGSEGV;
	ev.core_dumped = 1;
	CHECK_INT(json__write_event(&b, &ev, ctx), 0);
	CHECK(strstr(b.data, "\"exit_signal_name\":\"SIGSEGV\",\"core_dumped\":true}") != NULL);
	fwrite(b.data, 1, b.len, f);
	n++;
	ev.exit_signal = 0;
	ev.core_dumped = 0;

	/* threads */
	buf__reset(&b);
	ev.type = EVT_THREAD_CREATED;
	ev.thread_id = p->pid + 7;
	ev.thread_self_exec_id = 7;
	CHECK_INT(json__write_event(&b, &ev, ctx), 0);
	CHECK(strstr(b.data, "\"thread_details\":{\"thread_id\":") != NULL);
	CHECK(strstr(b.data, "thread_exit_state") == NULL);
	fwrite(b.data, 1, b.len, f);
	n++;
	buf__reset(&b);
	ev.type = EVT_THREAD_TERMINATED;
	CHECK_INT(json__write_event(&b, &ev, ctx), 0);
	CHECK(strstr(b.data, ",\"thread_exit_state\":\"exited\"}") != NULL);
	fwrite(b.data, 1, b.len, f);
	n++;

	/* system activity with string and number details */
	buf__reset(&b);
	memset(&ev, 0, sizeof(ev));
	ev.time_ns = 1763771506905224659ULL;
	ev.type = SYS_EVENTS_DROPPED;
	ev.message = "3 events dropped: \"ringbuf\" full";
	event__kv_str(&ev, "reason", "ringbuf_full");
	event__kv_num(&ev, "count", 3);
	event__kv_num(&ev, "negative", -5);
	CHECK_INT(json__write_event(&b, &ev, ctx), 0);
	CHECK(strstr(b.data, "\"system_details\":{\"message\":\"3 events dropped: "
			     "\\\"ringbuf\\\" full\",\"reason\":\"ringbuf_full\",\"count\":3,"
			     "\"negative\":-5}}}\n") != NULL);
	CHECK(strstr(b.data, "\"message_type\":\"SYSTEM_ACTIVITY\","
			     "\"severity\":\"WARNING\"") != NULL);
	CHECK(strstr(b.data, "process_details") == NULL);
	fwrite(b.data, 1, b.len, f);
	n++;
	buf__free(&b);

	/* every type in the event table */
	all = event_type__all(&count);
	for (unsigned i = 0; i < count; i++) {
		/* file events: success and failure in turn, every field set */
		static const struct file_op fops[2] = {
			{ .kind = FILE_OP_OPEN, .syscall = "openat", .ret = 3,
			  .flags = 01 | 0100 | 01000 | 02000000, .has_mode = true, .mode = 0644,
			  .uid = 0xffffffff, .gid = 0xffffffff, .dev = (254u << 20) | 1,
			  .ino = 42, .created = true, .path = "/tmp/a \"b\"\n" },
			{ .kind = FILE_OP_RENAME, .syscall = "renameat2", .ret = -13, .flags = 1,
			  .uid = 0xffffffff, .gid = 0xffffffff, .path = "/etc/shadow",
			  .path2 = "/tmp/x" },
		};

		static const struct identity_op iops[2] = {
			{ .kind = IDENTITY_USER, .syscall = "setresuid", .ret = 0,
			  .requested = { 0, 0xffffffff, 0 }, .nrequested = 3,
			  .from = { 1000, 1000, 0xffffffff, 0xffffffff }, .to = { 0, 0, 0, 0 } },
			{ .kind = IDENTITY_CAPABILITIES, .syscall = "capset", .ret = -1,
			  .cap_effective = 0x1ffffffffffULL },
		};

		static const struct mem_op mops[2] = {
			{ .kind = MEM_OP_MMAP_EXEC, .syscall = "mmap", .ret = 0x7f0000000000,
			  .addr = 0x7f0000000000, .len = 4096, .prot = 7, .anonymous = true,
			  .writable = true, .suppressed = 3 },
			{ .kind = MEM_OP_MEMFD, .syscall = "memfd_create", .ret = 5, .fd = 5,
			  .anonymous = true, .path = "payload" },
		};
		static const struct library_op lops[2] = {
			{ .path = "/usr/lib/x86_64-linux-gnu/libc.so.6", .language = "native",
			  .addr = 0x7f0000001000, .dev = (254u << 20), .ino = 7,
			  .hash = { .status = HASH_OK, .size = 10,
				    .sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" } },
			{ .path = "/opt/app.jar", .language = "java",
			  .hash = { .status = HASH_PENDING } },
		};

		/* network: a lifecycle step with every field, and a unix bind */
		static const struct net_op nops[2] = {
			{ .kind = NET_OP_TCP_TERMINATED, .fd = -1, .family = "AF_INET6",
			  .socket_type = "stream", .protocol = "tcp", .local_address = "::1",
			  .has_local_port = true, .local_port = 40000,
			  .remote_address = "::ffff:10.0.0.1", .has_remote_port = true,
			  .remote_port = 443, .socket_id = 0x0123456789abcdefULL,
			  .tcp_old_state = "FIN_WAIT2", .tcp_new_state = "CLOSE",
			  .direction = "outbound", .has_tcp_stats = true, .bytes_in = 1000,
			  .bytes_out = 20, .segs_in = 5, .segs_out = 4, .data_segs_in = 2,
			  .data_segs_out = 1, .created_real_ns = 1763771506905224659ULL,
			  .has_duration = true, .duration_ns = 12345 },
			{ .kind = NET_OP_CONNECT, .syscall = "connect", .ret = -111, .fd = 4,
			  .family = "AF_UNIX", .socket_type = "stream",
			  .remote_address = "@abs\\x00\\x0a\"q", .remote_abstract = true },
		};
		static struct dns_message dmsg = {
			.id = 0xbeef, .response = true, .qdcount = 1, .ancount = 1,
			.qd_total = 1, .an_total = 1,
			.q = { { .name = "example.com", .qtype = 28, .qclass = 1 } },
			.an = { { .name = "example.com", .type = 28, .class = 1, .ttl = 60,
				  .data = "2001:db8::1", .data_len = 16 } },
		};
		static const struct dns_op dops[2] = {
			{ .answer = true, .syscall = "recvfrom", .protocol = "udp",
			  .resolver_address = "127.0.0.53", .has_resolver_port = true,
			  .resolver_port = 53, .socket_id = 7, .payload_bytes = 61,
			  .header_valid = true, .msg = &dmsg },
			{ .syscall = "sendto", .protocol = "tcp", .payload_bytes = 3,
			  .msg = &dmsg, .parse_error = "header: the message is 3 bytes" },
		};

		memset(&ev, 0, sizeof(ev));
		ev.net = &nops[i % 2];
		ev.dns = &dops[i % 2];
		ev.file = &fops[i % 2];
		ev.identity = &iops[i % 2];
		ev.mem = &mops[i % 2];
		ev.library = &lops[i % 2];
		ev.type = all[i].type;
		ev.time_ns = 1763771506905224659ULL + i;
		ev.proc = strcmp(all[i].family, "system") ? p : NULL;
		ev.parent = parent;
		ev.message = i % 2 ? "something happened" : NULL;
		ev.thread_id = 1;
		CHECK_INT(write_line(f, &ev, ctx), 0);
		n++;
	}
	return n;
}

/* Bytes no kernel should hand us, but a hostile process can. */
static void make_hostile(struct proc_info *p, unsigned seed)
{
	static const char exe[] = "/tmp/\x01\x1f\x7f\xff\xfe\xc0\xaf\xed\xa0\x80\xf0\x9f\x98"
				  "\"\\\n\r\t\b\f/evil";
	static const char args[] = "sh\0-c\0echo \"$(id)\"\\\n\xe2\x82\0\x80\0\0";
	static const char env[] = "\xff=\xfe\0LD_PRELOAD=/tmp/\n.so\0=\0\"k\\\"=\"v\0\x1b[31m=red";
	char rnd[256];

	make_proc(p, 31337 + seed);
	set_str(&p->exe, exe, sizeof(exe) - 1);
	set_str(&p->cwd, "\n\n\n", 3);
	set_str(&p->args, args, sizeof(args) - 1);
	p->args_len = sizeof(args) - 1;
	p->args_truncated = true;
	set_str(&p->env, env, sizeof(env) - 1);	/* last entry lacks its NUL */
	p->env_len = sizeof(env) - 1;
	memset(p->comm, 0xff, sizeof(p->comm));	/* no NUL at all */
	memset(p->user, '"', sizeof(p->user));
	memset(p->login_user, 0x80, sizeof(p->login_user));
	memset(p->container_id, 0xc3, sizeof(p->container_id));
	p->container_runtime = "run\x01time";
	p->hash.status = HASH_ERROR;
	p->uid = p->gid = p->euid = p->egid = p->auid = PROC_ID_UNSET;
	p->start_boot_ns = UINT64_MAX;	/* garbage time: null, not a crash */
	p->origin = PROC_ORIGIN_SNAPSHOT;

	/* random bytes in the strings a process controls */
	srand(seed);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (char)(rand() & 0xff);
	if (seed) {
		set_str(&p->cwd, rnd, strnlen(rnd, sizeof(rnd)));
		set_str(&p->args, rnd, sizeof(rnd));
		p->args_len = sizeof(rnd);
		set_str(&p->env, rnd + 7, sizeof(rnd) - 7);
		p->env_len = sizeof(rnd) - 7;
		memcpy(p->comm, rnd, sizeof(p->comm));
	}
}

static void test_events_validate(void)
{
	struct output_ctx ctx;
	struct proc_info p, parent, hostile;
	char path[512], err[256];
	int n = 0;
	FILE *f;

	CHECK_INT(output_ctx__init(&ctx, NULL, "org-1", "NONE", err, sizeof(err)), 0);
	make_proc(&p, 4242);
	make_proc(&parent, 1);
	parent.ppid = 0;
	snprintf(parent.comm, sizeof(parent.comm), "systemd");
	set_str(&parent.exe, "/usr/lib/systemd/systemd", 24);
	parent.hash.status = HASH_SKIPPED_SIZE;
	parent.origin = PROC_ORIGIN_SNAPSHOT;
	snprintf(parent.container_id, sizeof(parent.container_id), "%064d", 7);
	parent.container_runtime = "docker";

	f = open_out("events.jsonl", path, sizeof(path));
	if (!f)
		return;
	n += write_catalogue(f, &ctx, &p, &parent);
	/* with the environment, and with an unknown parent */
	set_str(&p.env, env_curl, sizeof(env_curl) - 1);
	p.env_len = sizeof(env_curl) - 1;
	n += write_catalogue(f, &ctx, &p, NULL);
	/* hostile blocks as process and as parent */
	for (unsigned seed = 0; seed < 50; seed++) {
		make_hostile(&hostile, seed);
		n += write_catalogue(f, &ctx, &hostile, seed % 2 ? &parent : &hostile);
		proc_info__clear(&hostile);
	}
	fclose(f);
	CHECK(n > 1000);
	check_valid(path, n);

	proc_info__clear(&p);
	proc_info__clear(&parent);
	output_ctx__free(&ctx);
}

/* A real line, with one thing broken, must fail validation for that reason. */
static void test_schema_rejects(void)
{
	static const struct {
		const char *name, *from, *to, *why;
	} muts[] = {
		{ "typo", "\"process_name\":", "\"process_nmae\":", "process_nmae" },
		{ "extra_header", "\"user_data\":", "\"usr_data\":\"x\",\"user_data\":",
		  "usr_data" },
		{ "no_vendor", "\"vendor_name\":\"Vigil\",", "", "vendor_name" },
		{ "pid_string", "\"process_id\":4242", "\"process_id\":\"4242\"", "process_id" },
		{ "bad_severity", "\"severity\":\"INFO\"", "\"severity\":\"LOW\"", "severity" },
		{ "wrong_severity", "\"severity\":\"INFO\"", "\"severity\":\"HIGH\"", "severity" },
		{ "empty_exe", "\"/usr/bin/curl\"", "\"\"", "process_executable_path" },
		{ "type_id", "\"event_type_id\":2", "\"event_type_id\":1", "event_type_id" },
		{ "no_exit", ",\"exit_details\"", ",\"xexit_details\"", "exit_details" },
		{ "bad_time", ".905224659+00:00\",\"occurred", ".9052+00:00\",\"occurred",
		  "occurred_message_time_iso_8601_ns" },
		{ "hash_not_ok", "\"process_hash_status\":\"ok\"",
		  "\"process_hash_status\":\"pending\"", "process_hash_" },
		{ "signal_and_code", "\"exit_code\":3,\"exit_signal\":null",
		  "\"exit_code\":3,\"exit_signal\":9", "exit_details" },
		{ "neg_uid", "\"process_real_user_id\":0", "\"process_real_user_id\":-1",
		  "process_real_user_id" },
		{ "uid_too_big", "\"process_real_user_id\":0",
		  "\"process_real_user_id\":4294967296", "process_real_user_id" },
	};
	struct output_ctx ctx;
	struct proc_info p;
	struct event ev;
	struct buf b;
	char err[256], path[512], out[600];

	CHECK_INT(output_ctx__init(&ctx, "dev", NULL, NULL, err, sizeof(err)), 0);
	make_proc(&p, 4242);
	memset(&ev, 0, sizeof(ev));
	ev.type = EVT_PROCESS_TERMINATED;
	ev.time_ns = 1763771506905224659ULL;
	ev.proc = &p;
	ev.exit_code = 3;
	buf__init(&b, 1 << 16);
	CHECK_INT(json__write_event(&b, &ev, &ctx), 0);

	for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
		char name[64], *line, *at;
		FILE *f;

		at = strstr(b.data, muts[i].from);
		CHECK(at != NULL);
		if (!at)
			continue;
		snprintf(name, sizeof(name), "bad_%s.jsonl", muts[i].name);
		f = open_out(name, path, sizeof(path));
		if (!f)
			continue;
		line = b.data;
		fprintf(f, "%.*s%s%s", (int)(at - line), line, muts[i].to,
			at + strlen(muts[i].from));
		fclose(f);
		snprintf(out, sizeof(out), "%s.out", path);
		CHECK_INT(validate(path), 1);
		if (file_contains(out, ":1: ") && file_contains(out, muts[i].why)) {
			unit_passed++;
		} else {
			unit_failed++;
			fprintf(stderr, "%s: validator output does not name \"%s\":\n", name,
				muts[i].why);
			print_file(out);
		}
	}

	/* invalid UTF-8 and broken JSON are caught before the schema */
	{
		FILE *f = open_out("bad_bytes.jsonl", path, sizeof(path));

		if (f) {
			fwrite(b.data, 1, b.len, f);
			fputs("{\"message_header\":\"\xff\"}\n{not json\n", f);
			fclose(f);
			snprintf(out, sizeof(out), "%s.out", path);
			CHECK_INT(validate(path), 1);
			CHECK(file_contains(out, ":2: invalid UTF-8"));
			CHECK(file_contains(out, ":3: not JSON"));
		}
		f = open_out("empty.jsonl", path, sizeof(path));
		if (f) {
			fclose(f);
			CHECK_INT(validate(path), 1);
		}
	}
	buf__free(&b);
	proc_info__clear(&p);
	output_ctx__free(&ctx);
}

/* Every field in the table is in the schema, and only those: the golden
 * event carries every field non-null, and the schema requires all of them
 * (additionalProperties false catches the reverse). */
static void test_schema_matches_table(void)
{
	const struct field_desc *f;
	unsigned count;
	char path[600], text[1 << 16];
	size_t n;
	FILE *in;

	snprintf(path, sizeof(path), "%s/docs/event.schema.json", srcdir);
	in = fopen(path, "r");
	CHECK(in != NULL);
	if (!in)
		return;
	n = fread(text, 1, sizeof(text) - 1, in);
	fclose(in);
	text[n] = '\0';
	f = proc_fields(&count);
	for (unsigned i = 0; i < count; i++) {
		char key[96];

		snprintf(key, sizeof(key), "\"%s\": {", f[i].name);
		if (strstr(text, key)) {
			unit_passed++;
		} else {
			unit_failed++;
			fprintf(stderr, "field %s is not in %s\n", f[i].name, path);
		}
	}
	{
		const struct event_type_info *all = event_type__all(&count);

		for (unsigned i = 0; i < count; i++) {
			char key[96];

			snprintf(key, sizeof(key), "\"const\": \"%s\"", all[i].name);
			CHECK(strstr(text, key) != NULL);
		}
	}
}

static void cleanup(void)
{
	char cmd[128];

	if (getenv("VIGIL_KEEP_TMP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
	char schema[600];

	if (getenv("VIGIL_SRCDIR"))
		srcdir = getenv("VIGIL_SRCDIR");
	snprintf(schema, sizeof(schema), "%s/docs/event.schema.json", srcdir);
	CHECK(access(schema, R_OK) == 0);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_escape();
	test_time();
	test_fields();
	test_host();
	test_golden();
	test_events_validate();
	test_schema_rejects();
	test_schema_matches_table();
	cleanup();
	return unit_report("test_json");
}
