#include <stdbool.h>
#include <string.h>

#include "model/fields.h"

#define M(member) offsetof(struct proc_info, member), sizeof(((struct proc_info *)0)->member)
#define NOLEN 0

/* Output order. Append only: a field's name and meaning never change once
 * released (docs/schema.md, "Versioning"). */
static const struct field_desc fields[] = {
	{ "process_name", FIELD_CHARS, M(comm), NOLEN, FIELD_TYPE_STRING, 1,
	  "Command name (comm, at most 15 bytes)." },
	{ "process_id", FIELD_U32, M(pid), NOLEN, FIELD_TYPE_UINT, 0,
	  "Process id (thread group id)." },
	{ "process_thread_id", FIELD_U32, M(tid), NOLEN, FIELD_TYPE_UINT, 0,
	  "Id of the thread that caused the event." },
	{ "process_parent_process_id", FIELD_U32, M(ppid), NOLEN, FIELD_TYPE_UINT, 0,
	  "Real parent's process id (0 for the kernel's own tasks)." },
	{ "process_executable_path", FIELD_STR, M(exe), NOLEN, FIELD_TYPE_STRING, 1,
	  "Absolute path of the executable." },
	{ "process_command_line", FIELD_CMDLINE, M(args), offsetof(struct proc_info, args_len),
	  FIELD_TYPE_STRING, 1, "Arguments joined by single spaces (not shell-quoted)." },
	{ "process_command_line_arguments", FIELD_ARGS, M(args),
	  offsetof(struct proc_info, args_len), FIELD_TYPE_STRING_LIST, 1,
	  "argv, one string per argument, argv[0] first." },
	{ "process_args_truncated", FIELD_BOOL, M(args_truncated), NOLEN, FIELD_TYPE_BOOL, 0,
	  "The arguments were cut at limits.max_args_bytes." },
	{ "process_current_working_directory", FIELD_STR, M(cwd), NOLEN, FIELD_TYPE_STRING, 1,
	  "Working directory." },
	{ "process_real_user_id", FIELD_U32_ID, M(uid), NOLEN, FIELD_TYPE_UINT, 1,
	  "Real user id." },
	{ "process_real_user_name", FIELD_CHARS, M(user), NOLEN, FIELD_TYPE_STRING, 1,
	  "Name of the real user id." },
	{ "process_real_group_id", FIELD_U32_ID, M(gid), NOLEN, FIELD_TYPE_UINT, 1,
	  "Real group id." },
	{ "process_real_group_name", FIELD_CHARS, M(group), NOLEN, FIELD_TYPE_STRING, 1,
	  "Name of the real group id." },
	{ "process_effective_user_id", FIELD_U32_ID, M(euid), NOLEN, FIELD_TYPE_UINT, 1,
	  "Effective user id." },
	{ "process_effective_user_name", FIELD_CHARS, M(euser), NOLEN, FIELD_TYPE_STRING, 1,
	  "Name of the effective user id." },
	{ "process_effective_group_id", FIELD_U32_ID, M(egid), NOLEN, FIELD_TYPE_UINT, 1,
	  "Effective group id." },
	{ "process_effective_group_name", FIELD_CHARS, M(egroup), NOLEN, FIELD_TYPE_STRING, 1,
	  "Name of the effective group id." },
	{ "process_login_user_id", FIELD_U32_ID, M(auid), NOLEN, FIELD_TYPE_UINT, 1,
	  "Login (audit) user id; null when never set." },
	{ "process_login_user_name", FIELD_CHARS, M(login_user), NOLEN, FIELD_TYPE_STRING, 1,
	  "Name of the login user id." },
	{ "process_creation_time_iso_8601_ns", FIELD_BOOT_TIME, M(start_boot_ns), NOLEN,
	  FIELD_TYPE_TIME, 1, "Process start, UTC, nanoseconds." },
	{ "process_creation_time_ns", FIELD_U64_NZ, M(start_boot_ns), NOLEN, FIELD_TYPE_UINT, 1,
	  "Process start in CLOCK_BOOTTIME ns (the kernel's own value)." },
	{ "process_exec_id", FIELD_EXEC_ID, 0, 0, NOLEN, FIELD_TYPE_STRING, 0,
	  "Unique per exec on this boot: \"<pid hex>-<exec boot ns hex>\"." },
	{ "process_self_exec_id", FIELD_U64, M(self_exec_id), NOLEN, FIELD_TYPE_UINT, 0,
	  "Kernel's self_exec_id, incremented on every exec." },
	{ "process_pid_namespace", FIELD_U32_NZ, M(pidns), NOLEN, FIELD_TYPE_UINT, 1,
	  "PID namespace inode number." },
	{ "process_mount_points_namespace", FIELD_U32_NZ, M(mntns), NOLEN, FIELD_TYPE_UINT, 1,
	  "Mount namespace inode number." },
	{ "process_network_namespace", FIELD_U32_NZ, M(netns), NOLEN, FIELD_TYPE_UINT, 1,
	  "Network namespace inode number." },
	{ "process_cgroup", FIELD_STR, M(cgroup), NOLEN, FIELD_TYPE_STRING, 1,
	  "cgroup v2 path." },
	{ "process_container_id", FIELD_CHARS, M(container_id), NOLEN, FIELD_TYPE_STRING, 1,
	  "Container id; null outside containers." },
	{ "process_container_runtime", FIELD_CONST_STR, M(container_runtime), NOLEN,
	  FIELD_TYPE_STRING, 1, "Container runtime (docker, containerd, cri-o, podman...)." },
	{ "process_hash_sha256", FIELD_HASH, M(hash.sha256), NOLEN, FIELD_TYPE_STRING, 1,
	  "SHA-256 of the executable, lower-case hex; null unless hash status is ok." },
	{ "process_hash_sha1", FIELD_HASH, M(hash.sha1), NOLEN, FIELD_TYPE_STRING, 1,
	  "SHA-1 of the executable; null unless hash status is ok." },
	{ "process_hash_md5", FIELD_HASH, M(hash.md5), NOLEN, FIELD_TYPE_STRING, 1,
	  "MD5 of the executable; null unless hash status is ok." },
	{ "process_hash_status", FIELD_HASH_STATUS, M(hash.status), NOLEN, FIELD_TYPE_STRING, 0,
	  "disabled, ok, pending, skipped_size, unavailable or error." },
	{ "process_file_size_bytes", FIELD_U64_NZ, M(hash.size), NOLEN, FIELD_TYPE_UINT, 1,
	  "Size of the executable in bytes." },
	{ "process_creation_type", FIELD_ORIGIN, M(origin), NOLEN, FIELD_TYPE_STRING, 0,
	  "exec, fork, snapshot (running at agent start) or unknown." },
	{ "process_environment", FIELD_ENV, M(env), offsetof(struct proc_info, env_len),
	  FIELD_TYPE_STRING_MAP, 0,
	  "Environment (secrets redacted); present only when env capture is on." },
};

const struct field_desc *proc_fields(unsigned *count)
{
	*count = sizeof(fields) / sizeof(fields[0]);
	return fields;
}

const struct field_desc *proc_field__find(const char *name)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

int field__list_next(const char *s, size_t len, size_t *pos, const char **item,
		     size_t *item_len)
{
	const char *nul;
	size_t p = *pos;

	if (!s || p >= len)
		return 0;
	nul = memchr(s + p, '\0', len - p);
	*item = s + p;
	*item_len = nul ? (size_t)(nul - (s + p)) : len - p;
	*pos = p + *item_len + 1;
	return 1;
}

static bool has_non_nul(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i])
			return true;
	return false;
}

void field__get(const struct field_desc *f, const struct proc_info *p, int64_t boot_to_real_ns,
		struct field_value *v)
{
	const char *base = (const char *)p + f->offset;
	uint32_t u32, len = 0;
	uint64_t u64;
	const char *s;

	memset(v, 0, offsetof(struct field_value, tmp));
	v->tmp[0] = '\0';
	v->tag = FV_NULL;
	if (f->len_offset)
		memcpy(&len, (const char *)p + f->len_offset, sizeof(len));

	switch (f->kind) {
	case FIELD_U32:
	case FIELD_U32_ID:
	case FIELD_U32_NZ:
		memcpy(&u32, base, sizeof(u32));
		if ((f->kind == FIELD_U32_ID && u32 == PROC_ID_UNSET) ||
		    (f->kind == FIELD_U32_NZ && u32 == 0))
			return;
		v->tag = FV_UINT;
		v->u = u32;
		return;
	case FIELD_U64:
	case FIELD_U64_NZ:
		memcpy(&u64, base, sizeof(u64));
		if (f->kind == FIELD_U64_NZ && u64 == 0)
			return;
		v->tag = FV_UINT;
		v->u = u64;
		return;
	case FIELD_BOOL:
		v->tag = FV_BOOL;
		v->u = *(const bool *)base ? 1 : 0;
		return;
	case FIELD_STR:
	case FIELD_CONST_STR:
		memcpy(&s, base, sizeof(s));
		if (!s || !*s)
			return;
		v->tag = FV_STR;
		v->s = s;
		v->len = strlen(s);
		return;
	case FIELD_HASH:
		if (p->hash.status != HASH_OK)
			return;
		/* fallthrough */
	case FIELD_CHARS:
		v->len = strnlen(base, f->size);
		if (!v->len)
			return;
		v->tag = FV_STR;
		v->s = base;
		return;
	case FIELD_CMDLINE:
	case FIELD_ARGS:
	case FIELD_ENV:
		memcpy(&s, base, sizeof(s));
		if (!s) {
			v->tag = f->kind == FIELD_ENV ? FV_ABSENT : FV_NULL;
			return;
		}
		/* Joining nothing but empty arguments would give "", and an
		 * unknown or empty string is always null. */
		if (f->kind == FIELD_CMDLINE && !has_non_nul(s, len))
			return;
		v->tag = f->kind == FIELD_CMDLINE ? FV_CMDLINE :
			 f->kind == FIELD_ARGS ? FV_LIST : FV_ENV;
		v->s = s;
		v->len = len;
		return;
	case FIELD_BOOT_TIME:
		memcpy(&u64, base, sizeof(u64));
		/* Boot ns fit in int64 for 292 years of uptime; anything larger is
		 * garbage from the source and better shown as unknown. */
		if (u64 == 0 || u64 > INT64_MAX ||
		    (boot_to_real_ns < 0 && (int64_t)u64 < -boot_to_real_ns) ||
		    (boot_to_real_ns > 0 && (int64_t)u64 > INT64_MAX - boot_to_real_ns))
			return;
		v->tag = FV_TIME;
		v->u = (uint64_t)((int64_t)u64 + boot_to_real_ns);
		return;
	case FIELD_HASH_STATUS:
		v->tag = FV_STR;
		v->s = hash_status_name(p->hash.status);
		v->len = strlen(v->s);
		return;
	case FIELD_ORIGIN:
		v->tag = FV_STR;
		v->s = proc_origin_name(p->origin);
		v->len = strlen(v->s);
		return;
	case FIELD_EXEC_ID:
		proc_info__exec_id(p, v->tmp, sizeof(v->tmp));
		v->tag = FV_STR;
		v->s = v->tmp;
		v->len = strlen(v->tmp);
		return;
	}
}
