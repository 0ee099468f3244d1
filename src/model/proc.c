#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/proc.h"

const char *hash_status_name(enum hash_status s)
{
	switch (s) {
	case HASH_NONE: return "disabled";
	case HASH_OK: return "ok";
	case HASH_PENDING: return "pending";
	case HASH_SKIPPED_SIZE: return "skipped_size";
	case HASH_UNAVAILABLE: return "unavailable";
	case HASH_ERROR: return "error";
	}
	return "error";
}

const char *proc_origin_name(enum proc_origin o)
{
	switch (o) {
	case PROC_ORIGIN_EXEC: return "exec";
	case PROC_ORIGIN_FORK: return "fork";
	case PROC_ORIGIN_SNAPSHOT: return "snapshot";
	case PROC_ORIGIN_UNKNOWN: break;
	}
	return "unknown";
}

void proc_info__clear(struct proc_info *p)
{
	if (!p)
		return;
	free(p->exe);
	free(p->cwd);
	free(p->args);
	free(p->env);
	free(p->cgroup);
	free(p->json_block);
	memset(p, 0, sizeof(*p));
}

static int dup_bytes(char **dst, const char *src, size_t len)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = malloc(len + 1);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, len);
	(*dst)[len] = '\0';
	return 0;
}

int proc_info__copy(struct proc_info *dst, const struct proc_info *src)
{
	*dst = *src;
	dst->exe = dst->cwd = dst->args = dst->env = dst->cgroup = dst->json_block = NULL;
	dst->json_block_len = 0;
	if (dup_bytes(&dst->exe, src->exe, src->exe ? strlen(src->exe) : 0) ||
	    dup_bytes(&dst->cwd, src->cwd, src->cwd ? strlen(src->cwd) : 0) ||
	    dup_bytes(&dst->args, src->args, src->args_len) ||
	    dup_bytes(&dst->env, src->env, src->env_len) ||
	    dup_bytes(&dst->cgroup, src->cgroup, src->cgroup ? strlen(src->cgroup) : 0)) {
		proc_info__clear(dst);
		return -ENOMEM;
	}
	return 0;
}

int proc_info__set_str(char **field, const char *s, size_t len)
{
	char *n;

	if (dup_bytes(&n, s, len))
		return -ENOMEM;
	free(*field);
	*field = n;
	return 0;
}

void proc_info__touch(struct proc_info *p)
{
	free(p->json_block);
	p->json_block = NULL;
	p->json_block_len = 0;
}

void proc_info__exec_id(const struct proc_info *p, char *out, size_t outlen)
{
	snprintf(out, outlen, "%" PRIx32 "-%" PRIx64, p->pid,
		 p->exec_boot_ns ? p->exec_boot_ns : p->start_boot_ns);
}
