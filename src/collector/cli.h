/* The collector's command-line tools: thin wrappers that parse options into
 * the library calls of collector/store.h, collector/query.h and ship/pki.h.
 *
 *	vigil query [--config FILE | --db PATH] [filters] [--json] [--sql 'SELECT ...']
 *	vigil stats [--config FILE | --db PATH] [--json]
 *	vigil pki [--config FILE | --dir DIR] [--san SANS] [--key-type ec|ed25519]
 *
 * Exit codes: 0 done, 1 failed (the database is missing, a query failed),
 * 2 usage error (unknown option, bad value). */
#ifndef VIGIL_COLLECTOR_CLI_H
#define VIGIL_COLLECTOR_CLI_H

#include <stdint.h>

/* --since/--until values: "now"; a duration back from now_ns ("90s", "10m",
 * "2h", "7d", "1w", "1h30m"); or ISO 8601 "2025-01-10", "2025-01-10T12:00",
 * "2025-01-10 12:00:05.25", with "Z" or "+02:00"/"-0530" (no zone: UTC).
 * 0 with *out_ns (ns since the epoch), or -EINVAL. */
int cli_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns);

int query_main(int argc, char **argv);
int stats_main(int argc, char **argv);
int pki_main(int argc, char **argv);

#endif
