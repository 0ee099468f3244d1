/* vigil query, vigil stats, vigil pki (see cli.h). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collector/cli.h"
#include "collector/query.h"
#include "collector/store.h"
#include "lib/config.h"
#include "ship/pki.h"
#include "ship/tls.h"

#define NS 1000000000ull

/* Exactly n digits at *p. */
static bool digits(const char **p, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		*v = *v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	return true;
}

static int parse_relative(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	uint64_t total = 0;
	bool any = false;

	while (*s) {
		uint64_t n = 0, unit;
		bool num = false;

		while (isdigit((unsigned char)*s)) {
			if (n > UINT32_MAX)
				return -EINVAL;
			n = n * 10 + (uint64_t)(*s++ - '0');
			num = true;
		}
		switch (*s) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -EINVAL;
		}
		if (!num)
			return -EINVAL;
		s++;
		total += n * unit;	/* n < 2^32, unit < 2^20: no overflow per step */
		if (total > now_ns / NS)
			return -EINVAL;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*out_ns = now_ns - total * NS;
	return 0;
}

int cli_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0, zh = 0, zm = 0;
	uint64_t frac = 0, scale = NS;
	long long off = 0;
	struct tm tm = { 0 }, chk;
	const char *p = s;
	time_t t;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*out_ns = now_ns;
		return 0;
	}
	if (!(isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	      isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-'))
		return parse_relative(s, now_ns, out_ns);
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -EINVAL;
				for (; isdigit((unsigned char)*p); p++) {
					if (scale > 1) {
						scale /= 10;
						frac += (uint64_t)(*p - '0') * scale;
					}
				}
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;

		if (!digits(&p, 2, &zh))
			return -EINVAL;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && !digits(&p, 2, &zm))
			return -EINVAL;
		if (zh > 23 || zm > 59)
			return -EINVAL;
		off = sign * ((long long)zh * 3600 + (long long)zm * 60);
	}
	if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 59)
		return -EINVAL;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)sec;
	t = timegm(&tm);
	/* timegm normalises 2025-02-30 to March 2nd: refuse what did not round-trip. */
	if (t == (time_t)-1 || !gmtime_r(&t, &chk) || chk.tm_mday != (int)d ||
	    chk.tm_mon != (int)mo - 1)
		return -EINVAL;
	if ((long long)t - off < 0)
		return -EINVAL;
	*out_ns = (uint64_t)((long long)t - off) * NS + frac;
	return 0;
}

static uint64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Opens the store read-only: --db PATH, else the config's collector.database.
 * Returns 0, 1 (failed, said why) or 2 (usage). */
static int open_store(const char *cmd, const char *config_path, const char *db_path,
		      struct store **st)
{
	struct vigil_config cfg;
	struct store_config scfg = { .read_only = true };
	struct stat sb;
	char err[512];
	int ret;

	if (config__defaults(&cfg)) {
		fprintf(stderr, "vigil %s: out of memory\n", cmd);
		return 1;
	}
	if (config_path && config__load(&cfg, config_path, err, sizeof(err))) {
		fprintf(stderr, "vigil %s: %s\n", cmd, err);
		config__free(&cfg);
		return 2;
	}
	scfg.path = db_path ? db_path : cfg.col_database;
	if (stat(scfg.path, &sb) < 0) {
		fprintf(stderr, "vigil %s: no database at %s: %s (is `vigil collector` running "
			"with this config? or give --db PATH / --config FILE)\n", cmd, scfg.path,
			strerror(errno));
		config__free(&cfg);
		return 1;
	}
	ret = store__open(st, &scfg, err, sizeof(err));
	config__free(&cfg);
	if (ret) {
		fprintf(stderr, "vigil %s: %s\n", cmd, err);
		return 1;
	}
	return 0;
}

static void query_usage(FILE *out)
{
	fprintf(out,
		"usage: vigil query [--config FILE | --db PATH] [filters] [--json] [--limit N]\n"
		"       vigil query [--config FILE | --db PATH] [--json] [--limit N]\n"
		"                   --sql 'SELECT ...'\n"
		"  Events the collector stored, oldest first (the newest --limit of them).\n"
		"  --config FILE     read collector.database from this config\n"
		"  --db PATH         the SQLite database (default /var/lib/vigil/vigil.db)\n"
		"  --host NAME       events from this host name\n"
		"  --since T         events at or after T: ISO 8601 (2025-01-10T12:00:00Z;\n"
		"                    no zone means UTC) or a time back from now (90s, 10m,\n"
		"                    2h, 7d, 1w)\n"
		"  --until T         events before T (same forms)\n"
		"  --type FAMILY     process, thread, file, network, dns, identity, library,\n"
		"                    memory, system or alert (all columns of that table)\n"
		"  --name EVENT      exact event name (\"File Renamed\")\n"
		"  --process NAME    exact process name (comm)\n"
		"  --pid N           process id\n"
		"  --user NAME       real or login user name\n"
		"  --path GLOB       file, executable, library or mapped path (glob, or\n"
		"                    substring)\n"
		"  --address ADDR    local/remote/resolver address or DNS answer (exact or glob)\n"
		"  --severity MIN    INFO, WARNING, MEDIUM, ERROR, HIGH or CRITICAL and worse\n"
		"  --limit N         newest N rows (default %u, at most %u)\n"
		"  --json            one JSON object per line instead of a table\n"
		"  --sql 'SELECT...' one read-only SQL statement (no other filters)\n",
		QUERY_DEFAULT_LIMIT, QUERY_MAX_LIMIT);
}

enum {
	O_CONFIG = 256, O_DB, O_HOST, O_SINCE, O_UNTIL, O_TYPE, O_NAME, O_PROCESS, O_PID,
	O_USER, O_PATH, O_ADDRESS, O_SEVERITY, O_LIMIT, O_JSON, O_SQL, O_HELP, O_DIR, O_SAN,
	O_KEYTYPE,
};

int query_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "db", required_argument, NULL, O_DB },
		{ "host", required_argument, NULL, O_HOST },
		{ "since", required_argument, NULL, O_SINCE },
		{ "until", required_argument, NULL, O_UNTIL },
		{ "type", required_argument, NULL, O_TYPE },
		{ "name", required_argument, NULL, O_NAME },
		{ "process", required_argument, NULL, O_PROCESS },
		{ "pid", required_argument, NULL, O_PID },
		{ "user", required_argument, NULL, O_USER },
		{ "path", required_argument, NULL, O_PATH },
		{ "address", required_argument, NULL, O_ADDRESS },
		{ "severity", required_argument, NULL, O_SEVERITY },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "json", no_argument, NULL, O_JSON },
		{ "sql", required_argument, NULL, O_SQL },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct query_filter f = { .pid = -1 };
	const char *config_path = NULL, *db_path = NULL, *sql = NULL;
	enum query_format fmt = QUERY_TABLE;
	uint64_t now = now_realtime_ns(), v;
	char severity[16], err[1024];
	struct store *st = NULL;
	bool filters = false;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c >= O_HOST && c <= O_SEVERITY)
			filters = true;
		switch (c) {
		case O_CONFIG: config_path = optarg; break;
		case O_DB: db_path = optarg; break;
		case O_HOST: f.host = optarg; break;
		case O_SINCE:
		case O_UNTIL:
			if (cli_parse_time(optarg, now, &v)) {
				fprintf(stderr, "vigil query: --%s: \"%s\" is not a time (ISO "
					"8601 like 2025-01-10T12:00:00Z, or 10m, 2h, 7d back "
					"from now)\n", c == O_SINCE ? "since" : "until", optarg);
				return 2;
			}
			if (c == O_SINCE)
				f.since_ns = v ? v : 1;
			else
				f.until_ns = v ? v : 1;
			break;
		case O_TYPE: f.type = optarg; break;
		case O_NAME: f.name = optarg; break;
		case O_PROCESS: f.process_name = optarg; break;
		case O_PID:
			if (parse_u64(optarg, INT32_MAX, &v)) {
				fprintf(stderr, "vigil query: --pid: expected a process id, "
					"got \"%s\"\n", optarg);
				return 2;
			}
			f.pid = (int64_t)v;
			break;
		case O_USER: f.user = optarg; break;
		case O_PATH: f.path = optarg; break;
		case O_ADDRESS: f.address = optarg; break;
		case O_SEVERITY:
			snprintf(severity, sizeof(severity), "%s", optarg);
			for (char *q = severity; *q; q++)
				*q = (char)toupper((unsigned char)*q);
			f.min_severity = severity;
			break;
		case O_LIMIT:
			if (parse_u64(optarg, QUERY_MAX_LIMIT, &v) || v == 0) {
				fprintf(stderr, "vigil query: --limit: expected 1..%u, "
					"got \"%s\"\n", QUERY_MAX_LIMIT, optarg);
				return 2;
			}
			f.limit = (uint32_t)v;
			break;
		case O_JSON: fmt = QUERY_JSON; break;
		case O_SQL: sql = optarg; break;
		case 'h':
		case O_HELP: query_usage(stdout); return 0;
		default: query_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigil query: unexpected argument '%s'\n", argv[optind]);
		query_usage(stderr);
		return 2;
	}
	if (config_path && db_path) {
		fprintf(stderr, "vigil query: give --config or --db, not both\n");
		return 2;
	}
	if (sql && filters) {
		fprintf(stderr,
			"vigil query: --sql takes no filters (put them in the WHERE clause)\n");
		return 2;
	}
	if (f.since_ns && f.until_ns && f.since_ns >= f.until_ns) {
		fprintf(stderr, "vigil query: --since must be before --until\n");
		return 2;
	}
	ret = open_store("query", config_path, db_path, &st);
	if (ret)
		return ret;
	if (sql)
		ret = store__sql(st, sql, fmt, f.limit, stdout, err, sizeof(err));
	else
		ret = store__query(st, &f, fmt, stdout, err, sizeof(err));
	if (fflush(stdout) && !ret)
		ret = -errno;
	store__close(st);
	if (ret) {
		fprintf(stderr, "vigil query: %s\n", err[0] ? err : strerror(-ret));
		/* A filter the query refused (unknown type, severity) is a usage error. */
		return ret == -EINVAL && !sql ? 2 : 1;
	}
	return 0;
}

static void stats_usage(FILE *out)
{
	fprintf(out,
		"usage: vigil stats [--config FILE | --db PATH] [--json]\n"
		"  Per event type: count, average and total JSON size; wire bytes per event;\n"
		"  batches, sequence gaps and rejections by reason.\n");
}

int stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "db", required_argument, NULL, O_DB },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *db_path = NULL;
	enum query_format fmt = QUERY_TABLE;
	struct store *st = NULL;
	char err[1024];
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: config_path = optarg; break;
		case O_DB: db_path = optarg; break;
		case O_JSON: fmt = QUERY_JSON; break;
		case 'h':
		case O_HELP: stats_usage(stdout); return 0;
		default: stats_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigil stats: unexpected argument '%s'\n", argv[optind]);
		stats_usage(stderr);
		return 2;
	}
	if (config_path && db_path) {
		fprintf(stderr, "vigil stats: give --config or --db, not both\n");
		return 2;
	}
	ret = open_store("stats", config_path, db_path, &st);
	if (ret)
		return ret;
	err[0] = '\0';
	ret = store__stats(st, fmt, stdout, err, sizeof(err));
	if (fflush(stdout) && !ret)
		ret = -errno;
	store__close(st);
	if (ret) {
		fprintf(stderr, "vigil stats: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}

static void pki_usage(FILE *out)
{
	fprintf(out,
		"usage: vigil pki [--config FILE | --dir DIR] [--san SANS]\n"
		"                 [--key-type ec|ed25519]\n"
		"  Makes (or checks and keeps) a local CA and a collector certificate for\n"
		"  localhost, 127.0.0.1 and ::1, and prints the files and the pin agents use.\n"
		"  --dir DIR         where the files go (default: the directory of the\n"
		"                    config's collector.cert_file, /var/lib/vigil/pki)\n"
		"  --san SANS        more names, e.g. DNS:collector.example,IP:10.0.0.5\n"
		"  --key-type TYPE   ec (P-256, default) or ed25519, for keys made now\n");
}

int pki_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "dir", required_argument, NULL, O_DIR },
		{ "san", required_argument, NULL, O_SAN },
		{ "key-type", required_argument, NULL, O_KEYTYPE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *dir = NULL;
	struct pki_opts po = { .key_type = PKI_KEY_EC_P256 };
	struct pki_result res;
	struct vigil_config cfg;
	char err[1024], path[PATH_MAX + 16], pin[TLS_PIN_HEX_LEN + 1], *slash;
	char dirbuf[PATH_MAX];
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: config_path = optarg; break;
		case O_DIR: dir = optarg; break;
		case O_SAN: po.extra_san = optarg; break;
		case O_KEYTYPE:
			if (strcmp(optarg, "ec") == 0 || strcmp(optarg, "p256") == 0) {
				po.key_type = PKI_KEY_EC_P256;
			} else if (strcmp(optarg, "ed25519") == 0) {
				po.key_type = PKI_KEY_ED25519;
			} else {
				fprintf(stderr, "vigil pki: --key-type: expected ec or "
					"ed25519, got \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h':
		case O_HELP: pki_usage(stdout); return 0;
		default: pki_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigil pki: unexpected argument '%s'\n", argv[optind]);
		pki_usage(stderr);
		return 2;
	}
	if (config_path && dir) {
		fprintf(stderr, "vigil pki: give --config or --dir, not both\n");
		return 2;
	}
	if (!dir) {
		if (config__defaults(&cfg)) {
			fprintf(stderr, "vigil pki: out of memory\n");
			return 1;
		}
		if (config_path && config__load(&cfg, config_path, err, sizeof(err))) {
			fprintf(stderr, "vigil pki: %s\n", err);
			config__free(&cfg);
			return 2;
		}
		snprintf(dirbuf, sizeof(dirbuf), "%s", cfg.col_cert_file);
		config__free(&cfg);
		slash = strrchr(dirbuf, '/');
		if (slash == dirbuf)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			snprintf(dirbuf, sizeof(dirbuf), ".");
		dir = dirbuf;
	}
	ret = pki__make_local(dir, &po, &res, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "vigil pki: %s\n", err);
		return 1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/server.pem", dir) >= sizeof(path)) {
		fprintf(stderr, "vigil pki: --dir: path too long\n");
		return 2;
	}
	ret = tls__spki_pin_file(path, pin, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "vigil pki: %s\n", err);
		return 1;
	}
	fprintf(stderr, "vigil pki: %s: CA %s, server certificate %s%s\n", dir,
		res.ca_created ? "created" : "kept", res.server_created ? "issued" : "kept",
		res.server_key_created ? " (new key: agents must take the new pin)" : "");
	/* Names as in the config, so the lines can be pasted into vigil.yaml. */
	printf("ca_file: %s/ca.pem\n", dir);
	printf("cert_file: %s/server.pem\n", dir);
	printf("key_file: %s/server.key\n", dir);
	printf("pin_sha256: %s\n", pin);
	return fflush(stdout) ? 1 : 0;
}
