/* vigil: one binary, one subcommand per job (agent now; collector, query,
 * stats, enroll as they land), so a host installs a single file. */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "collector/cli.h"
#include "collector/collector.h"
#include "ship/enroll.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: vigil <command> [options]\n"
		     "commands:\n"
		     "  agent     collect events on this host (vigil agent --help)\n"
		     "  collector receive agents' signed batches into SQLite (--help)\n"
		     "  query     events the collector stored (vigil query --help)\n"
		     "  stats     event counts and sizes, wire bytes, rejections\n"
		     "  pki       make a local CA and collector certificate, print the pin\n"
		     "  enroll    create this host's device identity, register it (--help)\n"
		     "  version   print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "agent") == 0)
		return agent_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "collector") == 0)
		return collector_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "query") == 0)
		return query_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "stats") == 0)
		return stats_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "pki") == 0)
		return pki_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "enroll") == 0)
		return enroll_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("vigil %s\n", VIGIL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "vigil: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
