/* The config loader: one table of options drives defaults, parsing, checks
 * and printing, so an option is added in one line. The YAML is read with
 * libyaml's document loader, which keeps aliases as shared node ids rather
 * than expanding them, so memory stays bounded by the (capped) file size. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "lib/config.h"
#include "lib/log.h"

/* A config is a page of text; anything bigger is a mistake or an attack. */
#define CONFIG_MAX_FILE_BYTES (1u << 20)

#define KIB (1024ull)
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

enum opt_type {
	OPT_STRING,	/* char *, max = length cap */
	OPT_BOOL,	/* bool */
	OPT_COUNT,	/* uint32_t/uint64_t, plain integer */
	OPT_SIZE,	/* uint32_t/uint64_t, bytes with optional K/M/G suffix */
	OPT_MS,		/* uint32_t, milliseconds, "250ms" or "2s" */
	OPT_LEVEL,	/* int, enum log_level */
	OPT_SOURCE,	/* enum source_choice */
	OPT_LIST,	/* struct str_list, max = item length cap */
};

#define OF_NONEMPTY 0x1u	/* "" refused */
#define OF_IDENT 0x2u		/* letters, digits, '-', '_' only: used in subjects and paths */
#define OF_POW2 0x4u		/* power of two */
#define OF_COMM 0x8u		/* list items are comm names (at most 15 bytes) */

struct opt {
	const char *section;
	const char *key;
	enum opt_type type;
	size_t off;
	size_t width;
	uint64_t min, max;	/* range; for strings and list items max is the length cap */
	uint64_t def;		/* numbers, bools, enums */
	const char *def_str;	/* strings */
	unsigned flags;
};

#define FIELD(f) offsetof(struct vigil_config, f), sizeof(((struct vigil_config *)0)->f)

static const struct opt opts[] = {
	{ "agent", "device_id", OPT_STRING, FIELD(device_id), 0, 64, 0, "", OF_IDENT },
	{ "agent", "org_id", OPT_STRING, FIELD(org_id), 0, 64, 0, "default",
	  OF_IDENT | OF_NONEMPTY },
	{ "agent", "log_level", OPT_LEVEL, FIELD(log_level), 0, 0, LOG_LEVEL_INFO, NULL, 0 },
	{ "agent", "source", OPT_SOURCE, FIELD(source), 0, 0, SOURCE_AUTO, NULL, 0 },
	{ "agent", "user_data", OPT_STRING, FIELD(user_data), 0, 1024, 0, "NONE", 0 },

	{ "events", "process", OPT_BOOL, FIELD(ev_process), 0, 1, 1, NULL, 0 },
	{ "events", "thread", OPT_BOOL, FIELD(ev_thread), 0, 1, 1, NULL, 0 },
	{ "events", "fork_without_exec", OPT_BOOL, FIELD(ev_fork_without_exec), 0, 1, 1, NULL, 0 },
	{ "events", "environment", OPT_BOOL, FIELD(env_capture), 0, 1, 0, NULL, 0 },
	{ "events", "file", OPT_BOOL, FIELD(ev_file), 0, 1, 1, NULL, 0 },
	{ "events", "identity", OPT_BOOL, FIELD(ev_identity), 0, 1, 1, NULL, 0 },
	{ "events", "memory", OPT_BOOL, FIELD(ev_memory), 0, 1, 1, NULL, 0 },
	{ "events", "library", OPT_BOOL, FIELD(ev_library), 0, 1, 1, NULL, 0 },
	{ "events", "network", OPT_BOOL, FIELD(ev_network), 0, 1, 1, NULL, 0 },
	{ "events", "tcp_state_changes", OPT_BOOL, FIELD(ev_tcp_state_changes), 0, 1, 0, NULL, 0 },
	{ "events", "dns", OPT_BOOL, FIELD(ev_dns), 0, 1, 1, NULL, 0 },
	{ "events", "watch_paths", OPT_LIST, FIELD(watch_paths), 0, 4096, 0, NULL, OF_NONEMPTY },

	{ "limits", "max_processes", OPT_COUNT, FIELD(max_processes), 64, 4194304, 32768, NULL, 0 },
	{ "limits", "max_args_bytes", OPT_SIZE, FIELD(max_args_bytes), 256, 32 * KIB, 4 * KIB,
	  NULL, 0 },
	{ "limits", "max_env_bytes", OPT_SIZE, FIELD(max_env_bytes), 256, 32 * KIB, 4 * KIB,
	  NULL, 0 },
	{ "limits", "max_path_bytes", OPT_SIZE, FIELD(max_path_bytes), 64, 4 * KIB, 4 * KIB,
	  NULL, 0 },
	{ "limits", "memory_event_interval_ms", OPT_MS, FIELD(memory_event_interval_ms), 0, 3600000,
	  60000, NULL, 0 },

	{ "hashing", "enabled", OPT_BOOL, FIELD(hash_enabled), 0, 1, 1, NULL, 0 },
	{ "hashing", "max_file_bytes", OPT_SIZE, FIELD(hash_max_file_bytes), 4 * KIB, 64 * GIB,
	  256 * MIB, NULL, 0 },
	{ "hashing", "inline_max_bytes", OPT_SIZE, FIELD(hash_inline_max_bytes), 0, 1 * GIB,
	  4 * MIB, NULL, 0 },
	{ "hashing", "cache_entries", OPT_COUNT, FIELD(hash_cache_entries), 64, 1048576, 8192,
	  NULL, 0 },

	{ "exclusions", "process_names", OPT_LIST, FIELD(exclude_process_names), 0, 15, 0, NULL,
	  OF_NONEMPTY | OF_COMM },
	{ "exclusions", "process_paths", OPT_LIST, FIELD(exclude_process_paths), 0, 4096, 0, NULL,
	  OF_NONEMPTY },
	{ "exclusions", "paths", OPT_LIST, FIELD(exclude_paths), 0, 4096, 0, NULL, OF_NONEMPTY },

	{ "redaction", "secret_env_patterns", OPT_LIST, FIELD(secret_env_patterns), 0, 255, 0,
	  NULL, OF_NONEMPTY },

	{ "output", "stdout", OPT_BOOL, FIELD(out_stdout), 0, 1, 1, NULL, 0 },
	{ "output", "log_folder", OPT_STRING, FIELD(log_folder), 0, 4000, 0, "", 0 },
	{ "output", "log_threshold_bytes", OPT_SIZE, FIELD(log_threshold_bytes), 4 * KIB,
	  16 * GIB, 64 * MIB, NULL, 0 },
	{ "output", "log_max_files", OPT_COUNT, FIELD(log_max_files), 1, 1000, 10, NULL, 0 },

	{ "ebpf", "ringbuf_bytes", OPT_SIZE, FIELD(ringbuf_bytes), 256 * KIB, 1 * GIB, 16 * MIB,
	  NULL, OF_POW2 },
	{ "ebpf", "wakeup_bytes", OPT_SIZE, FIELD(wakeup_bytes), 4 * KIB, 512 * MIB, 256 * KIB,
	  NULL, 0 },
	{ "ebpf", "poll_interval_ms", OPT_MS, FIELD(poll_interval_ms), 1, 1000, 50, NULL, 0 },
	{ "ebpf", "stats_interval_ms", OPT_MS, FIELD(stats_interval_ms), 100, 600000, 1000, NULL,
	  0 },

	{ "ship", "enabled", OPT_BOOL, FIELD(ship_enabled), 0, 1, 0, NULL, 0 },
	{ "ship", "collector", OPT_STRING, FIELD(ship_collector), 0, 300, 0, "127.0.0.1:7443",
	  OF_NONEMPTY },
	{ "ship", "server_name", OPT_STRING, FIELD(ship_server_name), 0, 255, 0, "localhost",
	  OF_NONEMPTY },
	{ "ship", "ca_file", OPT_STRING, FIELD(ship_ca_file), 0, 4000, 0, "", 0 },
	{ "ship", "pin_sha256", OPT_STRING, FIELD(ship_pin_sha256), 0, 64, 0, "", 0 },
	{ "ship", "device_file", OPT_STRING, FIELD(ship_device_file), 0, 4000, 0,
	  "/var/lib/vigil/device.key", OF_NONEMPTY },
	{ "ship", "seq_file", OPT_STRING, FIELD(ship_seq_file), 0, 4000, 0, "/var/lib/vigil/seq",
	  OF_NONEMPTY },
	{ "ship", "spool_dir", OPT_STRING, FIELD(ship_spool_dir), 0, 4000, 0,
	  "/var/lib/vigil/spool", OF_NONEMPTY },
	{ "ship", "spool_max_bytes", OPT_SIZE, FIELD(ship_spool_max_bytes), 1 * MIB, 1024 * GIB,
	  256 * MIB, NULL, 0 },
	{ "ship", "batch_interval_ms", OPT_MS, FIELD(ship_batch_interval_ms), 10, 60000, 1000, NULL,
	  0 },
	{ "ship", "batch_max_bytes", OPT_SIZE, FIELD(ship_batch_max_bytes), 64 * KIB, 64 * MIB,
	  4 * MIB, NULL, 0 },
	{ "ship", "zstd_level", OPT_COUNT, FIELD(ship_zstd_level), 1, 19, 1, NULL, 0 },
	{ "ship", "remote_blocks_max_bytes", OPT_SIZE, FIELD(ship_remote_blocks_max_bytes), 0,
	  1 * GIB, 16 * MIB, NULL, 0 },

	{ "collector", "listen", OPT_STRING, FIELD(col_listen), 0, 300, 0, "127.0.0.1:7443",
	  OF_NONEMPTY },
	{ "collector", "cert_file", OPT_STRING, FIELD(col_cert_file), 0, 4000, 0,
	  "/var/lib/vigil/pki/server.pem", OF_NONEMPTY },
	{ "collector", "key_file", OPT_STRING, FIELD(col_key_file), 0, 4000, 0,
	  "/var/lib/vigil/pki/server.key", OF_NONEMPTY },
	{ "collector", "keystore_dir", OPT_STRING, FIELD(col_keystore_dir), 0, 4000, 0,
	  "/var/lib/vigil/keystore", OF_NONEMPTY },
	{ "collector", "database", OPT_STRING, FIELD(col_database), 0, 4000, 0,
	  "/var/lib/vigil/vigil.db", OF_NONEMPTY },
	{ "collector", "archive_dir", OPT_STRING, FIELD(col_archive_dir), 0, 4000, 0,
	  "/var/lib/vigil/archive", OF_NONEMPTY },
	{ "collector", "raw_ttl_seconds", OPT_COUNT, FIELD(col_raw_ttl_s), 1, 3650u * 86400, 86400,
	  NULL, 0 },
	{ "collector", "typed_ttl_seconds", OPT_COUNT, FIELD(col_typed_ttl_s), 1, 3650u * 86400,
	  90 * 86400, NULL, 0 },
	{ "collector", "archive_ttl_seconds", OPT_COUNT, FIELD(col_archive_ttl_s), 1,
	  3650u * 86400, 365 * 86400, NULL, 0 },
	{ "collector", "retention_interval_ms", OPT_MS, FIELD(col_retention_interval_ms), 100,
	  3600000, 60000, NULL, 0 },
	{ "collector", "max_connections", OPT_COUNT, FIELD(col_max_connections), 1, 65536, 1024,
	  NULL, 0 },
	{ "collector", "max_frame_bytes", OPT_SIZE, FIELD(col_max_frame_bytes), 64 * KIB,
	  64 * MIB, 16 * MIB + 1, NULL, 0 },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const sections[] = {
	"agent", "events", "limits", "hashing", "exclusions", "redaction", "output", "ebpf", "ship",
	"collector",
};

#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static const char *const default_watch_paths[] = {
	"/etc", "/root/.ssh", "/home/*/.ssh", "/usr/bin", "/usr/sbin", "/usr/lib", "/boot",
};

static const char *const default_secret_patterns[] = {
	"*TOKEN*", "*SECRET*", "*PASSWORD*", "*PASSWD*", "*KEY*", "*CREDENTIAL*",
	"*AUTH*", "*PRIVATE*", "*SESSION*", "*COOKIE*", "*API_KEY*",
};

static const char *const source_names[] = {
	[SOURCE_AUTO] = "auto",
	[SOURCE_EBPF] = "ebpf",
	[SOURCE_PROC] = "proc",
};

/* log.h owns the level names; this is the order they are tried in. */
static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static void *field(struct vigil_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static const void *cfield(const struct vigil_config *cfg, const struct opt *o)
{
	return (const char *)cfg + o->off;
}

static uint64_t get_num(const struct vigil_config *cfg, const struct opt *o)
{
	const void *p = cfield(cfg, o);

	switch (o->type) {
	case OPT_BOOL:
		return *(const bool *)p;
	case OPT_LEVEL:
		return (uint64_t)*(const int *)p;
	case OPT_SOURCE:
		return (uint64_t)*(const enum source_choice *)p;
	default:
		return o->width == sizeof(uint64_t) ? *(const uint64_t *)p : *(const uint32_t *)p;
	}
}

static void set_num(struct vigil_config *cfg, const struct opt *o, uint64_t v)
{
	void *p = field(cfg, o);

	switch (o->type) {
	case OPT_BOOL:
		*(bool *)p = v != 0;
		break;
	case OPT_LEVEL:
		*(int *)p = (int)v;
		break;
	case OPT_SOURCE:
		*(enum source_choice *)p = (enum source_choice)v;
		break;
	default:
		if (o->width == sizeof(uint64_t))
			*(uint64_t *)p = v;
		else
			*(uint32_t *)p = (uint32_t)v;
		break;
	}
}

static void list_free(struct str_list *l)
{
	for (unsigned i = 0; i < l->count && i < CONFIG_MAX_LIST; i++) {
		free(l->items[i]);
		l->items[i] = NULL;
	}
	l->count = 0;
}

void config__free(struct vigil_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_STRING) {
			char **s = field(cfg, o);

			free(*s);
			*s = NULL;
		} else if (o->type == OPT_LIST) {
			list_free(field(cfg, o));
		}
	}
}

int config__defaults(struct vigil_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_STRING) {
			char **s = field(cfg, o);

			*s = strdup(o->def_str);
			if (!*s)
				goto nomem;
		} else if (o->type != OPT_LIST) {
			set_num(cfg, o, o->def);
		}
	}
	for (size_t i = 0; i < sizeof(default_secret_patterns) / sizeof(char *); i++) {
		struct str_list *l = &cfg->secret_env_patterns;

		l->items[l->count] = strdup(default_secret_patterns[i]);
		if (!l->items[l->count])
			goto nomem;
		l->count++;
	}
	for (size_t i = 0; i < sizeof(default_watch_paths) / sizeof(char *); i++) {
		struct str_list *l = &cfg->watch_paths;

		l->items[l->count] = strdup(default_watch_paths[i]);
		if (!l->items[l->count])
			goto nomem;
		l->count++;
	}
	return 0;
nomem:
	config__free(cfg);
	return -ENOMEM;
}

/* ---- value parsing ---- */

/* Digits only: no sign, no hex, no spaces. */
static int parse_uint(const char *s, size_t len, size_t *used, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
		i++;
	}
	if (i == 0)
		return -EINVAL;
	*used = i;
	*out = v;
	return 0;
}

static size_t skip_spaces(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

static bool suffix_is(const char *s, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(s, want, len) == 0;
}

static int parse_size(const char *s, size_t len, uint64_t *out)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} suffixes[] = {
		{ "", 1 },	  { "K", KIB }, { "KiB", KIB }, { "M", MIB },
		{ "MiB", MIB }, { "G", GIB }, { "GiB", GIB },
	};
	uint64_t v;
	size_t i;
	int err;

	err = parse_uint(s, len, &i, &v);
	if (err)
		return err;
	if (i < len)
		i = skip_spaces(s, len, i);
	for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
		if (!suffix_is(s + i, len - i, suffixes[k].name))
			continue;
		if (k == 0 && i != len)
			continue;
		if (v > UINT64_MAX / suffixes[k].mult)
			return -ERANGE;
		*out = v * suffixes[k].mult;
		return 0;
	}
	return -EINVAL;
}

static int parse_ms(const char *s, size_t len, uint64_t *out)
{
	uint64_t v;
	size_t i;
	int err;

	err = parse_uint(s, len, &i, &v);
	if (err)
		return err;
	i = skip_spaces(s, len, i);
	if (i == len || suffix_is(s + i, len - i, "ms")) {
		*out = v;
		return 0;
	}
	if (suffix_is(s + i, len - i, "s")) {
		if (v > UINT64_MAX / 1000)
			return -ERANGE;
		*out = v * 1000;
		return 0;
	}
	return -EINVAL;
}

static int parse_bool(const char *s, size_t len, uint64_t *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < 3; i++) {
		if (suffix_is(s, len, yes[i])) {
			*out = 1;
			return 0;
		}
		if (suffix_is(s, len, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_name(const char *s, size_t len, const char *const *names, size_t n,
		      uint64_t *out)
{
	for (size_t i = 0; i < n; i++) {
		if (len == strlen(names[i]) && memcmp(s, names[i], len) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* "16 MiB" when exact, else the plain number. */
static void fmt_size(uint64_t v, const char *sep, char *buf, size_t len)
{
	if (v && v % GIB == 0)
		snprintf(buf, len, "%llu%sGiB", (unsigned long long)(v / GIB), sep);
	else if (v && v % MIB == 0)
		snprintf(buf, len, "%llu%sMiB", (unsigned long long)(v / MIB), sep);
	else if (v && v % KIB == 0)
		snprintf(buf, len, "%llu%sKiB", (unsigned long long)(v / KIB), sep);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* ---- the parse context and error reporting ---- */

struct ctx {
	const char *path;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct vigil_config *cfg;
	size_t lines[N_OPTS];	/* line each option was set at, 0 = not in the file */
	size_t section_lines[N_SECTIONS];
};

static size_t line_of(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, size_t line,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, c->errlen, "%s:%zu: ", c->path, line);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Quotable excerpt of outside text for an error message: at most 40 bytes,
 * control characters shown as '?', cut on a UTF-8 boundary. */
static const char *show(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t cap = buflen - 4, n = len < cap ? len : cap;
	size_t i;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (n < len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

#define SHOW_LEN 48

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

/* A plain empty, "~" or "null" scalar: YAML's null. Quoted text never is. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = sval(n);
	size_t len = slen(n);

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
			     !memcmp(s, "NULL", 4)));
}

static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

static bool is_ident(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* Checks one string value (or list item) against o's rules; what names the
 * value in the message ("agent.org_id", "exclusions.process_names[2]"). */
static int check_string(struct ctx *c, const struct opt *o, const char *what,
			const yaml_node_t *n)
{
	char buf[SHOW_LEN];
	const char *s = sval(n);
	size_t len = slen(n);

	if (len == 0 && (o->flags & OF_NONEMPTY))
		return fail(c, line_of(n), "%s: must not be empty", what);
	if (len > o->max) {
		if (o->flags & OF_COMM)
			return fail(c, line_of(n),
				    "%s: \"%s\" is longer than 15 bytes; the kernel truncates "
				    "process names (comm) to 15, so it would never match",
				    what, show(s, len, buf, sizeof(buf)));
		return fail(c, line_of(n), "%s: longer than %llu bytes", what,
			    (unsigned long long)o->max);
	}
	if (has_control(s, len) || memchr(s, '\0', len))
		return fail(c, line_of(n), "%s: contains a control character", what);
	if ((o->flags & OF_IDENT) && !is_ident(s, len))
		return fail(c, line_of(n),
			    "%s: only letters, digits, '-' and '_' are allowed, got \"%s\"", what,
			    show(s, len, buf, sizeof(buf)));
	return 0;
}

static int set_list(struct ctx *c, const struct opt *o, const char *what, size_t key_line,
		    const yaml_node_t *v)
{
	struct str_list *l = field(c->cfg, o);
	char item_what[160];
	unsigned n = 0;
	int err;

	if (v->type != YAML_SEQUENCE_NODE) {
		if (is_null(v))
			return fail(c, line_of(v),
				    "%s: expected a list, got nothing (write [] for an empty list)",
				    what);
		return fail(c, key_line, "%s: expected a list, got %s", what, kind(v));
	}
	/* The file's list replaces the default one entirely. */
	list_free(l);
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, n++) {
		const yaml_node_t *item = yaml_document_get_node(c->doc, *it);

		snprintf(item_what, sizeof(item_what), "%s[%u]", what, n);
		if (!item)
			return fail(c, line_of(v), "%s: missing node", item_what);
		if (n >= CONFIG_MAX_LIST)
			return fail(c, line_of(item), "%s: more than %d entries", what,
				    CONFIG_MAX_LIST);
		if (item->type != YAML_SCALAR_NODE)
			return fail(c, line_of(item), "%s: expected a string, got %s", item_what,
				    kind(item));
		if (is_null(item))
			return fail(c, line_of(item), "%s: expected a string, got nothing",
				    item_what);
		err = check_string(c, o, item_what, item);
		if (err)
			return err;
		l->items[l->count] = strndup(sval(item), slen(item));
		if (!l->items[l->count])
			return -ENOMEM;
		l->count++;
	}
	return 0;
}

static int range_msg(const struct opt *o, char *buf, size_t len)
{
	char lo[32], hi[32];

	switch (o->type) {
	case OPT_COUNT:
		return snprintf(buf, len, "an integer between %llu and %llu",
				(unsigned long long)o->min, (unsigned long long)o->max);
	case OPT_SIZE:
		fmt_size(o->min, " ", lo, sizeof(lo));
		fmt_size(o->max, " ", hi, sizeof(hi));
		return snprintf(buf, len, "a %s between %s and %s (bytes, or with a K/M/G suffix)",
				(o->flags & OF_POW2) ? "power of two" : "size", lo, hi);
	case OPT_MS:
		return snprintf(buf, len, "a duration between %llu and %llu ms (e.g. 250ms, 2s)",
				(unsigned long long)o->min, (unsigned long long)o->max);
	case OPT_BOOL:
		return snprintf(buf, len, "true/false, yes/no or on/off");
	case OPT_LEVEL:
		return snprintf(buf, len, "one of error, warn, info, debug");
	case OPT_SOURCE:
		return snprintf(buf, len, "one of auto, ebpf, proc");
	default:
		return snprintf(buf, len, "a string");
	}
}

static int set_value(struct ctx *c, const struct opt *o, const char *what, size_t key_line,
		     const yaml_node_t *v)
{
	char expect[192], buf[SHOW_LEN];
	uint64_t num = 0;
	int err = -EINVAL;

	if (o->type == OPT_LIST)
		return set_list(c, o, what, key_line, v);
	range_msg(o, expect, sizeof(expect));
	/* A block collection starts on the line after its key; point at the key. */
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, key_line, "%s: expected %s, got %s", what, expect, kind(v));

	if (o->type == OPT_STRING) {
		char **s = field(c->cfg, o);
		const char *text = is_null(v) ? "" : sval(v);
		size_t len = is_null(v) ? 0 : slen(v);

		if (is_null(v) && (o->flags & OF_NONEMPTY))
			return fail(c, line_of(v), "%s: must not be empty", what);
		if (!is_null(v)) {
			err = check_string(c, o, what, v);
			if (err)
				return err;
		}
		free(*s);
		*s = strndup(text, len);
		return *s ? 0 : -ENOMEM;
	}

	if (is_null(v))
		return fail(c, line_of(v), "%s: expected %s, got nothing", what, expect);
	switch (o->type) {
	case OPT_BOOL:
		err = parse_bool(sval(v), slen(v), &num);
		break;
	case OPT_COUNT: {
		size_t used = 0;

		err = parse_uint(sval(v), slen(v), &used, &num);
		if (!err && used != slen(v))
			err = -EINVAL;
		break;
	}
	case OPT_SIZE:
		err = parse_size(sval(v), slen(v), &num);
		break;
	case OPT_MS:
		err = parse_ms(sval(v), slen(v), &num);
		break;
	case OPT_LEVEL:
		err = parse_name(sval(v), slen(v), level_names, 4, &num);
		break;
	case OPT_SOURCE:
		err = parse_name(sval(v), slen(v), source_names, 3, &num);
		break;
	default:
		break;
	}
	if (!err && (o->type == OPT_COUNT || o->type == OPT_SIZE || o->type == OPT_MS) &&
	    (num < o->min || num > o->max))
		err = -ERANGE;
	if (!err && (o->flags & OF_POW2) && (num & (num - 1)))
		err = -EINVAL;
	if (err)
		return fail(c, line_of(v), "%s: expected %s, got \"%s\"", what, expect,
			    show(sval(v), slen(v), buf, sizeof(buf)));
	set_num(c->cfg, o, num);
	return 0;
}

static void known_keys(const char *section, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_OPTS && used < len; i++) {
		if (strcmp(opts[i].section, section) != 0)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
					 opts[i].key);
	}
}

static int key_text(struct ctx *c, const yaml_node_t *k, const char *where, char *buf,
		    size_t len)
{
	if (k->type != YAML_SCALAR_NODE)
		return fail(c, line_of(k), "%s: keys must be plain strings, got %s", where,
			    kind(k));
	show(sval(k), slen(k), buf, len);
	return 0;
}

static int parse_section(struct ctx *c, size_t sec, const yaml_node_t *m)
{
	const char *name = sections[sec];
	char key[SHOW_LEN], what[128], known[256];
	int err;

	if (m->type != YAML_MAPPING_NODE) {
		if (is_null(m))
			return 0;
		return fail(c, c->section_lines[sec], "%s: expected a mapping of options, got %s",
			    name, kind(m));
	}
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		size_t i;

		if (!k || !v)
			return fail(c, line_of(m), "%s: incomplete mapping", name);
		err = key_text(c, k, name, key, sizeof(key));
		if (err)
			return err;
		for (i = 0; i < N_OPTS; i++)
			if (!strcmp(opts[i].section, name) &&
			    strlen(opts[i].key) == slen(k) && !memcmp(opts[i].key, sval(k), slen(k)))
				break;
		snprintf(what, sizeof(what), "%s.%s", name, key);
		if (i == N_OPTS) {
			known_keys(name, known, sizeof(known));
			return fail(c, line_of(k), "%s: unknown key (known: %s)", what, known);
		}
		if (c->lines[i])
			return fail(c, line_of(k), "%s: duplicate key (first at line %zu)", what,
				    c->lines[i]);
		c->lines[i] = line_of(k);
		err = set_value(c, &opts[i], what, c->lines[i], v);
		if (err)
			return err;
	}
	return 0;
}

static const struct opt *find_opt(const char *section, const char *key, size_t *idx)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		if (!strcmp(opts[i].section, section) && !strcmp(opts[i].key, key)) {
			*idx = i;
			return &opts[i];
		}
	}
	return NULL;
}

/* Options that constrain each other; the line reported is where the later
 * of the pair was set, which is where the user is most likely to look. */
static int cross_check(struct ctx *c)
{
	const struct vigil_config *cfg = c->cfg;
	char a[32], b[32];
	size_t ia = 0, ib = 0;

	if (cfg->wakeup_bytes >= cfg->ringbuf_bytes) {
		find_opt("ebpf", "wakeup_bytes", &ia);
		find_opt("ebpf", "ringbuf_bytes", &ib);
		fmt_size(cfg->wakeup_bytes, " ", a, sizeof(a));
		fmt_size(cfg->ringbuf_bytes, " ", b, sizeof(b));
		if (!c->lines[ia])
			return fail(c, c->lines[ib],
				    "ebpf.ringbuf_bytes: must be larger than ebpf.wakeup_bytes (%s, "
				    "the default), got %s",
				    a, b);
		return fail(c, c->lines[ia],
			    "ebpf.wakeup_bytes: must be smaller than ebpf.ringbuf_bytes (%s), "
			    "got %s",
			    b, a);
	}
	if (cfg->hash_inline_max_bytes > cfg->hash_max_file_bytes) {
		find_opt("hashing", "inline_max_bytes", &ia);
		find_opt("hashing", "max_file_bytes", &ib);
		fmt_size(cfg->hash_inline_max_bytes, " ", a, sizeof(a));
		fmt_size(cfg->hash_max_file_bytes, " ", b, sizeof(b));
		if (!c->lines[ia])
			return fail(c, c->lines[ib],
				    "hashing.max_file_bytes: must not be below "
				    "hashing.inline_max_bytes (%s, the default), got %s",
				    a, b);
		return fail(c, c->lines[ia],
			    "hashing.inline_max_bytes: must not exceed hashing.max_file_bytes "
			    "(%s), got %s",
			    b, a);
	}
	return 0;
}

static int parse_root(struct ctx *c, const yaml_node_t *root)
{
	char key[SHOW_LEN], known[256];
	size_t used = 0;
	int err;

	if (root->type != YAML_MAPPING_NODE) {
		if (is_null(root))
			return 0;
		return fail(c, line_of(root),
			    "the top level must be a mapping of sections (agent:, events:, ...), "
			    "got %s",
			    kind(root));
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		size_t s;

		if (!k || !v)
			return fail(c, line_of(root), "incomplete mapping");
		err = key_text(c, k, "top level", key, sizeof(key));
		if (err)
			return err;
		for (s = 0; s < N_SECTIONS; s++)
			if (strlen(sections[s]) == slen(k) && !memcmp(sections[s], sval(k), slen(k)))
				break;
		if (s == N_SECTIONS) {
			used = 0;
			for (size_t i = 0; i < N_SECTIONS; i++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
							 i ? ", " : "", sections[i]);
			return fail(c, line_of(k), "%s: unknown section (known: %s)", key, known);
		}
		if (c->section_lines[s])
			return fail(c, line_of(k), "%s: duplicate section (first at line %zu)", key,
				    c->section_lines[s]);
		c->section_lines[s] = line_of(k);
		err = parse_section(c, s, v);
		if (err)
			return err;
	}
	return cross_check(c);
}

/* libyaml reports reader errors (bad encoding) as a byte offset only. */
static size_t offset_line(const char *data, size_t len, size_t off)
{
	size_t line = 1;

	for (size_t i = 0; i < off && i < len; i++)
		if (data[i] == '\n')
			line++;
	return line;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *parser, const char *data, size_t len)
{
	size_t line;

	if (parser->error == YAML_MEMORY_ERROR) {
		snprintf(c->err, c->errlen, "%s: out of memory while parsing", c->path);
		return -ENOMEM;
	}
	if (parser->error == YAML_READER_ERROR) {
		line = offset_line(data, len, parser->problem_offset);
		return fail(c, line, "YAML syntax error: %s (byte offset %zu)",
			    parser->problem ? parser->problem : "unreadable input",
			    parser->problem_offset);
	}
	line = parser->problem_mark.line + 1;
	if (parser->context)
		return fail(c, line, "YAML syntax error: %s %s (line %zu column %zu)",
			    parser->problem ? parser->problem : "unknown problem",
			    parser->context, parser->context_mark.line + 1,
			    parser->context_mark.column + 1);
	return fail(c, line, "YAML syntax error: %s (column %zu)",
		    parser->problem ? parser->problem : "unknown problem",
		    parser->problem_mark.column + 1);
}

/* Reads the whole file into a NUL-terminated heap buffer the caller frees. */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open the config file: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	data = malloc(CONFIG_MAX_FILE_BYTES + 1);
	if (!data) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		n = read(fd, data + len, CONFIG_MAX_FILE_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_FILE_BYTES) {
			ret = -EFBIG;
			snprintf(err, errlen, "%s: larger than %u bytes; not a config file", path,
				 CONFIG_MAX_FILE_BYTES);
			goto out;
		}
	}
	data[len] = '\0';
	*out = data;
	*outlen = len;
	data = NULL;
out:
	free(data);
	close(fd);
	return ret;
}

/* cfg must be zeroed or hold a config (from config__defaults or an earlier
 * load): its contents are freed and replaced by the defaults overlaid with
 * the file, so "defaults, then load" leaks nothing. On error cfg is left
 * zeroed. On success the caller owns cfg and releases it with config__free(). */
int config__load(struct vigil_config *cfg, const char *path, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, next;
	struct vigil_config tmp;
	struct ctx c;
	const yaml_node_t *root;
	char *data = NULL;
	size_t len = 0;
	bool have_doc = false;
	int ret;

	config__free(cfg);
	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	ret = read_file(path, &data, &len, err, errlen);
	if (ret)
		return ret;
	ret = config__defaults(&tmp);
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", path);
		free(data);
		return ret;
	}
	memset(&c, 0, sizeof(c));
	c.path = path;
	c.err = err;
	c.errlen = errlen;
	c.doc = &doc;
	c.cfg = &tmp;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -ENOMEM;
		goto out_cfg;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = yaml_fail(&c, &parser, data, len);
		goto out_parser;
	}
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	if (root) {
		ret = parse_root(&c, root);
		if (ret)
			goto out_parser;
		/* A second document would be silently ignored otherwise. */
		if (!yaml_parser_load(&parser, &next)) {
			ret = yaml_fail(&c, &parser, data, len);
			goto out_parser;
		}
		if (yaml_document_get_root_node(&next)) {
			ret = fail(&c, next.start_mark.line + 1,
				   "only one YAML document is allowed in a config file");
			yaml_document_delete(&next);
			goto out_parser;
		}
		yaml_document_delete(&next);
	}
	*cfg = tmp;
	ret = 0;
out_parser:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
out_cfg:
	if (ret)
		config__free(&tmp);
	free(data);
	return ret;
}

/* ---- printing ---- */

static void print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void config__print(const struct vigil_config *cfg, FILE *out)
{
	const char *section = NULL;
	char buf[32];

	fprintf(out, "# vigil effective configuration\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		uint64_t v = 0;

		if (!section || strcmp(section, o->section) != 0) {
			section = o->section;
			fprintf(out, "%s:\n", section);
		}
		fprintf(out, "  %s:", o->key);
		if (o->type != OPT_LIST)
			fputc(' ', out);
		if (o->type != OPT_STRING && o->type != OPT_LIST)
			v = get_num(cfg, o);
		switch (o->type) {
		case OPT_STRING:
			print_quoted(out, *(char *const *)cfield(cfg, o));
			break;
		case OPT_BOOL:
			fputs(v ? "true" : "false", out);
			break;
		case OPT_COUNT:
		case OPT_MS:
			fprintf(out, "%llu", (unsigned long long)v);
			break;
		case OPT_SIZE:
			fmt_size(v, "", buf, sizeof(buf));
			fputs(buf, out);
			break;
		case OPT_LEVEL:
			fputs(v < 4 ? level_names[v] : "info", out);
			break;
		case OPT_SOURCE:
			fputs(v < 3 ? source_names[v] : "auto", out);
			break;
		case OPT_LIST: {
			const struct str_list *l = cfield(cfg, o);

			if (!l->count) {
				fputs(" []", out);
				break;
			}
			for (unsigned k = 0; k < l->count && k < CONFIG_MAX_LIST; k++) {
				fputs("\n    - ", out);
				print_quoted(out, l->items[k]);
			}
			break;
		}
		}
		fputc('\n', out);
	}
}
