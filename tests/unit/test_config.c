/* Config loader: defaults, a full file, every error class with its exact
 * "FILE:LINE: " message, value syntax, hostile input and print round trips.
 * Fixtures live in tests/config/; run from the repository root. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "unit.h"

#define FIX "tests/config/"

static char tmpdir[] = "/tmp/vigil-test-config-XXXXXX";

/* Writes text to a fresh file in tmpdir; returns a static path. */
static const char *write_tmp(const char *name, const void *text, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fwrite(text, 1, len, f);
	fclose(f);
	return path;
}

static const char *write_tmps(const char *name, const char *text)
{
	return write_tmp(name, text, strlen(text));
}

/* The printed config as a heap string the caller frees. */
static char *print_str(const struct vigil_config *cfg)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	config__print(cfg, f);
	fclose(f);
	return s;
}

static bool is_zeroed(const struct vigil_config *cfg)
{
	static const struct vigil_config zero;

	return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

/* Loads a file that must be refused; checks rc and the whole message. */
static void expect_error(const char *path, int want_rc, const char *want_msg)
{
	struct vigil_config cfg = { 0 };
	char err[512];
	int rc;

	/* Loading over a filled config must free it (ASan sees leaks). */
	CHECK_INT(config__defaults(&cfg), 0);
	rc = config__load(&cfg, path, err, sizeof(err));
	CHECK_INT(rc, want_rc);
	CHECK_STR(err, want_msg);
	CHECK(is_zeroed(&cfg));
	config__free(&cfg);
	config__free(&cfg);
}

/* Loads "section:\n  key: value\n" from a temp file. */
static int load_one(struct vigil_config *cfg, const char *section, const char *key,
		    const char *value, char *err, size_t errlen)
{
	char text[512];
	const char *path;

	snprintf(text, sizeof(text), "%s:\n  %s: %s\n", section, key, value);
	path = write_tmps("one.yaml", text);
	if (!path)
		return -EIO;
	return config__load(cfg, path, err, errlen);
}

static void test_defaults(void)
{
	struct vigil_config cfg = { 0 };

	CHECK_INT(config__defaults(&cfg), 0);
	CHECK_STR(cfg.device_id, "");
	CHECK_STR(cfg.org_id, "default");
	CHECK_INT(cfg.log_level, LOG_LEVEL_INFO);
	CHECK_INT(cfg.source, SOURCE_AUTO);
	CHECK_STR(cfg.user_data, "NONE");
	CHECK(cfg.ev_process && cfg.ev_thread && cfg.ev_fork_without_exec);
	CHECK(!cfg.env_capture);
	CHECK_INT(cfg.max_processes, 32768);
	CHECK_INT(cfg.max_args_bytes, 4096);
	CHECK_INT(cfg.max_env_bytes, 4096);
	CHECK_INT(cfg.max_path_bytes, 4096);
	CHECK(cfg.hash_enabled);
	CHECK_INT(cfg.hash_max_file_bytes, 256ull << 20);
	CHECK_INT(cfg.hash_inline_max_bytes, 4ull << 20);
	CHECK_INT(cfg.hash_cache_entries, 8192);
	CHECK_INT(cfg.exclude_process_names.count, 0);
	CHECK_INT(cfg.exclude_process_paths.count, 0);
	CHECK_INT(cfg.secret_env_patterns.count, 11);
	CHECK_STR(cfg.secret_env_patterns.items[0], "*TOKEN*");
	CHECK_STR(cfg.secret_env_patterns.items[10], "*API_KEY*");
	CHECK(cfg.out_stdout);
	CHECK_STR(cfg.log_folder, "");
	CHECK_INT(cfg.log_threshold_bytes, 64ull << 20);
	CHECK_INT(cfg.log_max_files, 10);
	CHECK_INT(cfg.ringbuf_bytes, 16u << 20);
	CHECK_INT(cfg.wakeup_bytes, 256u << 10);
	CHECK_INT(cfg.poll_interval_ms, 50);
	CHECK_INT(cfg.stats_interval_ms, 1000);
	config__free(&cfg);
	CHECK(cfg.org_id == NULL && cfg.secret_env_patterns.count == 0);
	config__free(&cfg);
	config__free(NULL);
}

/* Files that must give exactly the defaults. */
static void test_default_files(void)
{
	static const char *const files[] = {
		"etc/vigil.yaml", FIX "empty.yaml", FIX "comments_only.yaml",
	};
	struct vigil_config def, cfg = { 0 };
	char err[512], *want, *got;

	CHECK_INT(config__defaults(&def), 0);
	want = print_str(&def);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int rc = config__load(&cfg, files[i], err, sizeof(err));

		CHECK_INT(rc, 0);
		if (rc) {
			fprintf(stderr, "  %s\n", err);
			continue;
		}
		got = print_str(&cfg);
		CHECK_STR(got, want);
		free(got);
		config__free(&cfg);
	}
	free(want);
	config__free(&def);

	/* "section:" with nothing under it keeps that section's defaults. */
	CHECK_INT(config__load(&cfg, FIX "null_sections.yaml", err, sizeof(err)), 0);
	CHECK_INT(cfg.max_processes, 64);
	CHECK(cfg.ev_process);
	CHECK_STR(cfg.org_id, "default");
	config__free(&cfg);
}

static void test_full(void)
{
	struct vigil_config cfg = { 0 };
	char err[512];
	int rc;

	/* Loading over a loaded config replaces it without leaking. */
	CHECK_INT(config__load(&cfg, "etc/vigil.yaml", err, sizeof(err)), 0);
	rc = config__load(&cfg, FIX "full.yaml", err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_STR(cfg.device_id, "host-01_a");
	CHECK_STR(cfg.org_id, "acme");
	CHECK_INT(cfg.log_level, LOG_LEVEL_DEBUG);
	CHECK_INT(cfg.source, SOURCE_PROC);
	CHECK_STR(cfg.user_data, "team: \"blue\" \\ ops");
	CHECK(cfg.ev_process);
	CHECK(!cfg.ev_thread);
	CHECK(!cfg.ev_fork_without_exec);
	CHECK(cfg.env_capture);
	CHECK_INT(cfg.max_processes, 1024);
	CHECK_INT(cfg.max_args_bytes, 8192);
	CHECK_INT(cfg.max_env_bytes, 2048);
	CHECK_INT(cfg.max_path_bytes, 1024);
	CHECK(!cfg.hash_enabled);
	CHECK_INT(cfg.hash_max_file_bytes, 1ull << 30);
	CHECK_INT(cfg.hash_inline_max_bytes, 512 << 10);
	CHECK_INT(cfg.hash_cache_entries, 100);
	CHECK_INT(cfg.exclude_process_names.count, 2);
	CHECK_STR(cfg.exclude_process_names.items[0], "sshd");
	CHECK_STR(cfg.exclude_process_names.items[1], "cron");
	CHECK_INT(cfg.exclude_process_paths.count, 2);
	CHECK_STR(cfg.exclude_process_paths.items[0], "/usr/sbin/*");
	CHECK_STR(cfg.exclude_process_paths.items[1], "/opt/app/bin/worker");
	/* A list in the file replaces the default list, it does not extend it. */
	CHECK_INT(cfg.secret_env_patterns.count, 1);
	CHECK_STR(cfg.secret_env_patterns.items[0], "*PASS*");
	CHECK(!cfg.out_stdout);
	CHECK_STR(cfg.log_folder, "/var/log/vigil");
	CHECK_INT(cfg.log_threshold_bytes, 10 << 20);
	CHECK_INT(cfg.log_max_files, 3);
	CHECK_INT(cfg.ringbuf_bytes, 32 << 20);
	CHECK_INT(cfg.wakeup_bytes, 1 << 20);
	CHECK_INT(cfg.poll_interval_ms, 1000);
	CHECK_INT(cfg.stats_interval_ms, 2000);
	config__free(&cfg);

	/* An anchor and its alias: shared nodes, not an expansion. */
	CHECK_INT(config__load(&cfg, FIX "aliases.yaml", err, sizeof(err)), 0);
	CHECK_INT(cfg.exclude_process_paths.count, 2);
	CHECK_STR(cfg.exclude_process_paths.items[1], "cron");
	config__free(&cfg);
}

static void test_errors(void)
{
	expect_error(FIX "bad_int.yaml", -EINVAL,
		     FIX "bad_int.yaml:7: limits.max_processes: expected an integer between 64 "
			 "and 4194304, got \"lots\"");
	expect_error(FIX "bad_range.yaml", -EINVAL,
		     FIX "bad_range.yaml:2: limits.max_processes: expected an integer between 64 "
			 "and 4194304, got \"63\"");
	expect_error(FIX "bad_unknown_key.yaml", -EINVAL,
		     FIX "bad_unknown_key.yaml:3: agent.sourse: unknown key (known: device_id, "
			 "org_id, log_level, source, user_data)");
	expect_error(FIX "bad_unknown_section.yaml", -EINVAL,
		     FIX "bad_unknown_section.yaml:4: agnet: unknown section (known: agent, "
			 "events, limits, hashing, exclusions, redaction, output, ebpf, ship, collector)");
	expect_error(FIX "bad_type_mapping.yaml", -EINVAL,
		     FIX "bad_type_mapping.yaml:3: output.log_folder: expected a string, got a "
			 "mapping");
	expect_error(FIX "bad_section_type.yaml", -EINVAL,
		     FIX "bad_section_type.yaml:1: agent: expected a mapping of options, got a "
			 "scalar");
	expect_error(FIX "bad_list_item.yaml", -EINVAL,
		     FIX "bad_list_item.yaml:4: exclusions.process_names[1]: expected a string, "
			 "got a mapping");
	expect_error(FIX "bad_list_scalar.yaml", -EINVAL,
		     FIX "bad_list_scalar.yaml:2: exclusions.process_paths: expected a list, got "
			 "a scalar");
	expect_error(FIX "bad_null_list.yaml", -EINVAL,
		     FIX "bad_null_list.yaml:2: redaction.secret_env_patterns: expected a list, "
			 "got nothing (write [] for an empty list)");
	expect_error(FIX "bad_list_too_long.yaml", -EINVAL,
		     FIX "bad_list_too_long.yaml:68: exclusions.process_names: more than 64 "
			 "entries");
	expect_error(FIX "bad_duplicate.yaml", -EINVAL,
		     FIX "bad_duplicate.yaml:4: ebpf.ringbuf_bytes: duplicate key (first at line "
			 "2)");
	expect_error(FIX "bad_duplicate_section.yaml", -EINVAL,
		     FIX "bad_duplicate_section.yaml:5: events: duplicate section (first at line "
			 "1)");
	expect_error(FIX "bad_syntax.yaml", -EINVAL,
		     FIX "bad_syntax.yaml:4: YAML syntax error: did not find expected ',' or ']' "
			 "while parsing a flow sequence (line 3 column 11)");
	expect_error(FIX "bad_syntax_indent.yaml", -EINVAL,
		     FIX "bad_syntax_indent.yaml:3: YAML syntax error: did not find expected key "
			 "while parsing a block mapping (line 1 column 1)");
	expect_error(FIX "bad_utf8.yaml", -EINVAL,
		     FIX "bad_utf8.yaml:3: YAML syntax error: invalid leading UTF-8 octet (byte "
			 "offset 36)");
	expect_error(FIX "bad_toplevel.yaml", -EINVAL,
		     FIX "bad_toplevel.yaml:2: the top level must be a mapping of sections "
			 "(agent:, events:, ...), got a list");
	expect_error(FIX "bad_toplevel_scalar.yaml", -EINVAL,
		     FIX "bad_toplevel_scalar.yaml:1: the top level must be a mapping of sections "
			 "(agent:, events:, ...), got a scalar");
	expect_error(FIX "bad_two_docs.yaml", -EINVAL,
		     FIX "bad_two_docs.yaml:3: only one YAML document is allowed in a config "
			 "file");
	expect_error(FIX "bad_key_type.yaml", -EINVAL,
		     FIX "bad_key_type.yaml:2: agent: keys must be plain strings, got a list");
	expect_error(FIX "bad_pow2.yaml", -EINVAL,
		     FIX "bad_pow2.yaml:2: ebpf.ringbuf_bytes: expected a power of two between "
			 "256 KiB and 1 GiB (bytes, or with a K/M/G suffix), got \"3MiB\"");
	expect_error(FIX "bad_wakeup.yaml", -EINVAL,
		     FIX "bad_wakeup.yaml:5: ebpf.wakeup_bytes: must be smaller than "
			 "ebpf.ringbuf_bytes (256 KiB), got 256 KiB");
	expect_error(FIX "bad_wakeup_default.yaml", -EINVAL,
		     FIX "bad_wakeup_default.yaml:2: ebpf.ringbuf_bytes: must be larger than "
			 "ebpf.wakeup_bytes (256 KiB, the default), got 256 KiB");
	expect_error(FIX "bad_inline.yaml", -EINVAL,
		     FIX "bad_inline.yaml:3: hashing.inline_max_bytes: must not exceed "
			 "hashing.max_file_bytes (1 MiB), got 2 MiB");
	expect_error(FIX "bad_inline_default.yaml", -EINVAL,
		     FIX "bad_inline_default.yaml:2: hashing.max_file_bytes: must not be below "
			 "hashing.inline_max_bytes (4 MiB, the default), got 1 MiB");
	expect_error(FIX "bad_bool.yaml", -EINVAL,
		     FIX "bad_bool.yaml:2: events.process: expected true/false, yes/no or on/off, "
			 "got \"maybe\"");
	expect_error(FIX "bad_level.yaml", -EINVAL,
		     FIX "bad_level.yaml:2: agent.log_level: expected one of error, warn, info, "
			 "debug, got \"verbose\"");
	expect_error(FIX "bad_comm.yaml", -EINVAL,
		     FIX "bad_comm.yaml:2: exclusions.process_names[1]: \"systemd-journald\" is "
			 "longer than 15 bytes; the kernel truncates process names (comm) to 15, so "
			 "it would never match");
	expect_error(FIX "bad_device_id.yaml", -EINVAL,
		     FIX "bad_device_id.yaml:2: agent.device_id: only letters, digits, '-' and '_' "
			 "are allowed, got \"host.example.com\"");
	expect_error(FIX "bad_control.yaml", -EINVAL,
		     FIX "bad_control.yaml:2: agent.user_data: contains a control character");

	expect_error(FIX "does_not_exist.yaml", -ENOENT,
		     FIX "does_not_exist.yaml: cannot open the config file: No such file or "
			 "directory");
	expect_error(FIX, -EINVAL, FIX ": not a regular file");
}

/* Hostile or odd input built on the fly. */
static void test_hostile(void)
{
	struct vigil_config cfg = { 0 };
	char err[512], *big, text[4096];
	const char *path;
	size_t n;

	/* Over the 1 MiB cap: refused before parsing. */
	n = (1u << 20) + 10;
	big = malloc(n);
	CHECK(big != NULL);
	if (big) {
		memset(big, '#', n);
		path = write_tmp("big.yaml", big, n);
		CHECK_INT(config__load(&cfg, path, err, sizeof(err)), -EFBIG);
		CHECK(strstr(err, "big.yaml: larger than 1048576 bytes") != NULL);
		free(big);
	}

	/* A NUL smuggled in through a double-quoted escape. */
	path = write_tmps("nul.yaml", "agent:\n  user_data: \"a\\0b\"\n");
	CHECK_INT(config__load(&cfg, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "nul.yaml:2: agent.user_data: contains a control character") != NULL);

	/* Control characters in a key are not echoed raw. */
	path = write_tmps("ctlkey.yaml", "agent:\n  \"de\\evice\": 1\n");
	CHECK_INT(config__load(&cfg, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "ctlkey.yaml:2: agent.de?vice: unknown key") != NULL);

	/* A very long bad value is cut in the message. */
	memset(text, 0, sizeof(text));
	strcpy(text, "limits:\n  max_processes: ");
	memset(text + strlen(text), 'x', 2000);
	strcat(text, "\n");
	path = write_tmps("long.yaml", text);
	CHECK_INT(config__load(&cfg, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "got \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"") != NULL);
	CHECK(strlen(err) < 200);

	/* Nesting where a scalar belongs. */
	path = write_tmps("nest.yaml", "agent:\n  org_id:\n    - [[[[[1]]]]]\n");
	CHECK_INT(config__load(&cfg, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "nest.yaml:2: agent.org_id: expected a string, got a list") != NULL);

	/* Exactly CONFIG_MAX_LIST entries is fine. */
	n = (size_t)snprintf(text, sizeof(text), "exclusions:\n  process_names:\n");
	for (int i = 0; i < CONFIG_MAX_LIST; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "    - p%d\n", i);
	path = write_tmps("max.yaml", text);
	CHECK_INT(config__load(&cfg, path, err, sizeof(err)), 0);
	CHECK_INT(cfg.exclude_process_names.count, CONFIG_MAX_LIST);
	CHECK_STR(cfg.exclude_process_names.items[CONFIG_MAX_LIST - 1], "p63");
	config__free(&cfg);

	/* An empty list removes the default redaction patterns on purpose. */
	CHECK_INT(load_one(&cfg, "redaction", "secret_env_patterns", "[]", err, sizeof(err)), 0);
	CHECK_INT(cfg.secret_env_patterns.count, 0);
	config__free(&cfg);
	CHECK_INT(load_one(&cfg, "exclusions", "process_paths", "[\"\"]", err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, ":2: exclusions.process_paths[0]: must not be empty") != NULL);
	CHECK_INT(load_one(&cfg, "exclusions", "process_paths", "[~]", err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, ":2: exclusions.process_paths[0]: expected a string, got nothing") !=
	      NULL);

	/* Strings: null means "", but org_id may not be empty; other scalars are text. */
	CHECK_INT(load_one(&cfg, "agent", "device_id", "~", err, sizeof(err)), 0);
	CHECK_STR(cfg.device_id, "");
	config__free(&cfg);
	CHECK_INT(load_one(&cfg, "agent", "org_id", "", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, ":2: agent.org_id: must not be empty") != NULL);
	CHECK_INT(load_one(&cfg, "agent", "user_data", "yes", err, sizeof(err)), 0);
	CHECK_STR(cfg.user_data, "yes");
	config__free(&cfg);
	CHECK_INT(load_one(&cfg, "limits", "max_processes", "", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, ":2: limits.max_processes: expected an integer between 64 and 4194304, "
			  "got nothing") != NULL);

	/* A tiny error buffer is still terminated and never overrun. */
	{
		char small[8];

		memset(small, 'z', sizeof(small));
		CHECK_INT(config__load(&cfg, FIX "bad_int.yaml", small, sizeof(small)), -EINVAL);
		CHECK_INT(strlen(small), sizeof(small) - 1);
	}
}

static void test_values(void)
{
	static const struct {
		const char *section, *key, *value;
		int rc;
		uint64_t want;
	} cases[] = {
		{ "limits", "max_args_bytes", "4096", 0, 4096 },
		{ "limits", "max_args_bytes", "4K", 0, 4096 },
		{ "limits", "max_args_bytes", "4k", 0, 4096 },
		{ "limits", "max_args_bytes", "4KiB", 0, 4096 },
		{ "limits", "max_args_bytes", "4 KiB", 0, 4096 },
		{ "limits", "max_args_bytes", "\"8K\"", 0, 8192 },
		{ "limits", "max_args_bytes", "32K", 0, 32768 },
		{ "limits", "max_args_bytes", "33K", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "255", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "4KB", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "4 K B", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "-4096", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "0x1000", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "4.5K", -EINVAL, 0 },
		{ "limits", "max_args_bytes", "K", -EINVAL, 0 },
		{ "output", "log_threshold_bytes", "16G", 0, 16ull << 30 },
		{ "output", "log_threshold_bytes", "16GiB", 0, 16ull << 30 },
		{ "output", "log_threshold_bytes", "1M", 0, 1 << 20 },
		{ "output", "log_threshold_bytes", "17G", -EINVAL, 0 },
		{ "output", "log_threshold_bytes", "99999999999999999999", -EINVAL, 0 },
		{ "output", "log_threshold_bytes", "18446744073709551615G", -EINVAL, 0 },
		{ "hashing", "max_file_bytes", "64G", 0, 64ull << 30 },
		{ "ebpf", "ringbuf_bytes", "1G", 0, 1u << 30 },
		{ "ebpf", "ringbuf_bytes", "524288", 0, 524288 },
		{ "ebpf", "ringbuf_bytes", "2G", -EINVAL, 0 },
		{ "ebpf", "ringbuf_bytes", "128K", -EINVAL, 0 },
		{ "ebpf", "ringbuf_bytes", "48M", -EINVAL, 0 },
		{ "ebpf", "poll_interval_ms", "250", 0, 250 },
		{ "ebpf", "poll_interval_ms", "250ms", 0, 250 },
		{ "ebpf", "poll_interval_ms", "250 ms", 0, 250 },
		{ "ebpf", "poll_interval_ms", "1s", 0, 1000 },
		{ "ebpf", "poll_interval_ms", "2s", -EINVAL, 0 },
		{ "ebpf", "poll_interval_ms", "0", -EINVAL, 0 },
		{ "ebpf", "poll_interval_ms", "1m", -EINVAL, 0 },
		{ "ebpf", "stats_interval_ms", "600s", 0, 600000 },
		{ "ebpf", "stats_interval_ms", "99999999999999999s", -EINVAL, 0 },
		{ "limits", "max_processes", "4194304", 0, 4194304 },
		{ "limits", "max_processes", "4194305", -EINVAL, 0 },
		{ "limits", "max_processes", "64K", -EINVAL, 0 },
		{ "limits", "max_processes", "1e3", -EINVAL, 0 },
		{ "limits", "max_processes", "+100", -EINVAL, 0 },
		{ "output", "log_max_files", "1000", 0, 1000 },
		{ "output", "log_max_files", "0", -EINVAL, 0 },
		{ "events", "thread", "true", 0, 1 },
		{ "events", "thread", "True", 0, 1 },
		{ "events", "thread", "yes", 0, 1 },
		{ "events", "thread", "on", 0, 1 },
		{ "events", "thread", "false", 0, 0 },
		{ "events", "thread", "NO", 0, 0 },
		{ "events", "thread", "off", 0, 0 },
		{ "events", "thread", "1", -EINVAL, 0 },
		{ "events", "thread", "y", -EINVAL, 0 },
		{ "agent", "source", "ebpf", 0, SOURCE_EBPF },
		{ "agent", "source", "proc", 0, SOURCE_PROC },
		{ "agent", "source", "auto", 0, SOURCE_AUTO },
		{ "agent", "source", "EBPF", -EINVAL, 0 },
		{ "agent", "log_level", "warn", 0, LOG_LEVEL_WARN },
		{ "agent", "log_level", "error", 0, LOG_LEVEL_ERROR },
	};
	struct vigil_config cfg = { 0 };
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = load_one(&cfg, cases[i].section, cases[i].key, cases[i].value, err,
				  sizeof(err));
		uint64_t got = 0;

		if (rc != cases[i].rc)
			fprintf(stderr, "  case %s.%s: %s -> %d (%s)\n", cases[i].section,
				cases[i].key, cases[i].value, rc, rc ? err : "ok");
		CHECK_INT(rc, cases[i].rc);
		if (rc) {
			CHECK(strstr(err, "one.yaml:2: ") != NULL);
			continue;
		}
		if (!strcmp(cases[i].key, "max_args_bytes"))
			got = cfg.max_args_bytes;
		else if (!strcmp(cases[i].key, "log_threshold_bytes"))
			got = cfg.log_threshold_bytes;
		else if (!strcmp(cases[i].key, "max_file_bytes"))
			got = cfg.hash_max_file_bytes;
		else if (!strcmp(cases[i].key, "ringbuf_bytes"))
			got = cfg.ringbuf_bytes;
		else if (!strcmp(cases[i].key, "poll_interval_ms"))
			got = cfg.poll_interval_ms;
		else if (!strcmp(cases[i].key, "stats_interval_ms"))
			got = cfg.stats_interval_ms;
		else if (!strcmp(cases[i].key, "max_processes"))
			got = cfg.max_processes;
		else if (!strcmp(cases[i].key, "log_max_files"))
			got = cfg.log_max_files;
		else if (!strcmp(cases[i].key, "thread"))
			got = cfg.ev_thread;
		else if (!strcmp(cases[i].key, "source"))
			got = cfg.source;
		else if (!strcmp(cases[i].key, "log_level"))
			got = (uint64_t)cfg.log_level;
		CHECK_INT(got, cases[i].want);
		config__free(&cfg);
	}
}

/* print -> load -> print must give the same text and the same values. */
static void round_trip(const struct vigil_config *cfg, const char *what)
{
	struct vigil_config back = { 0 };
	char err[512], *first, *second;
	const char *path;
	int rc;

	first = print_str(cfg);
	CHECK(first != NULL);
	if (!first)
		return;
	path = write_tmps("round.yaml", first);
	rc = config__load(&back, path, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n%s", what, err, first);
		free(first);
		return;
	}
	second = print_str(&back);
	CHECK_STR(second, first);
	CHECK_STR(back.user_data, cfg->user_data);
	CHECK_STR(back.log_folder, cfg->log_folder);
	CHECK_INT(back.exclude_process_paths.count, cfg->exclude_process_paths.count);
	for (unsigned i = 0; i < back.exclude_process_paths.count; i++)
		CHECK_STR(back.exclude_process_paths.items[i], cfg->exclude_process_paths.items[i]);
	CHECK_INT(back.hash_max_file_bytes, cfg->hash_max_file_bytes);
	CHECK_INT(back.ringbuf_bytes, cfg->ringbuf_bytes);
	free(first);
	free(second);
	config__free(&back);
}

static void test_round_trip(void)
{
	static const char *const tricky[] = {
		"yes", "null", "~", "- x", "# not a comment", "a: b", "\"quoted\"", "back\\slash",
		"[x]", "{x}", "&anchor", "*alias", "%tag", "  spaces  ", "caf\xc3\xa9", "'single'",
	};
	struct vigil_config cfg = { 0 };
	char err[512];

	CHECK_INT(config__defaults(&cfg), 0);
	round_trip(&cfg, "defaults");
	config__free(&cfg);

	CHECK_INT(config__load(&cfg, FIX "full.yaml", err, sizeof(err)), 0);
	round_trip(&cfg, "full.yaml");

	/* Values that would change meaning if printed unquoted. */
	free(cfg.user_data);
	cfg.user_data = strdup("it's: \"all\" \\ # [here] {x} & * ! | > %");
	free(cfg.log_folder);
	cfg.log_folder = strdup("/var/log/vigil events #1");
	for (unsigned i = 0; i < cfg.exclude_process_paths.count; i++)
		free(cfg.exclude_process_paths.items[i]);
	cfg.exclude_process_paths.count = 0;
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++)
		cfg.exclude_process_paths.items[cfg.exclude_process_paths.count++] =
			strdup(tricky[i]);
	/* Sizes that are not whole KiB print as plain numbers. */
	cfg.hash_max_file_bytes = 5000;
	cfg.hash_inline_max_bytes = 4097;
	cfg.ringbuf_bytes = 1u << 30;
	round_trip(&cfg, "tricky");
	config__free(&cfg);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_default_files();
	test_full();
	test_errors();
	test_hostile();
	test_values();
	test_round_trip();

	/* Best effort: the temp files have fixed names. */
	{
		static const char *const names[] = {
			"big.yaml", "nul.yaml", "ctlkey.yaml", "long.yaml", "nest.yaml",
			"max.yaml", "one.yaml", "round.yaml",
		};
		char path[256];

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
			unlink(path);
		}
		rmdir(tmpdir);
	}
	return unit_report("test_config");
}
