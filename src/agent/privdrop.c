#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "agent/privdrop.h"

static const cap_value_t keep[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE };

static int kept(cap_value_t c)
{
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (keep[i] == c)
			return 1;
	return 0;
}

int privdrop__apply(char *err, size_t errlen)
{
	cap_t caps;
	int ret = 0;

	/* CAP_SETPCAP is needed to shrink the bounding set, so that goes
	 * first, while we still hold it. */
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		if (kept(c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL) {
			ret = -errno;
			snprintf(err, errlen, "dropping capability %d from the bounding set: %s", c,
				 strerror(errno));
			return ret;
		}
	}
	caps = cap_init();
	if (!caps) {
		snprintf(err, errlen, "cap_init: %s", strerror(errno));
		return -ENOMEM;
	}
	if (cap_set_flag(caps, CAP_PERMITTED, sizeof(keep) / sizeof(keep[0]), keep, CAP_SET) ||
	    cap_set_flag(caps, CAP_EFFECTIVE, sizeof(keep) / sizeof(keep[0]), keep, CAP_SET) ||
	    cap_set_proc(caps)) {
		ret = -errno;
		snprintf(err, errlen, "setting capabilities: %s", strerror(errno));
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		ret = -errno;
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	}
out:
	cap_free(caps);
	return ret;
}
