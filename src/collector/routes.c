/* The typed tables of the collector (see routes.h). Column paths follow
 * docs/schema.md; a path that is missing from an event gives NULL, so an
 * event of an older schema still stores. */
#include <string.h>

#include "collector/routes.h"

#define AD "$.activity_data."
#define PD AD "process_details."
#define PPD AD "parent_process_details."

const struct route_column route_head_cols[ROUTE_H_MAX] = {
	[ROUTE_H_MESSAGE_ID] = { "message_id", "$.message_header.message_id", ROUTE_TEXT, 0 },
	[ROUTE_H_TIME_NS] = { "time_ns", "$.message_header.occurred_message_time_ns", ROUTE_INT,
			      0 },
	[ROUTE_H_FAMILY] = { "family", AD "family", ROUTE_TEXT, 0 },
	[ROUTE_H_NAME] = { "name", AD "name", ROUTE_TEXT, 0 },
	[ROUTE_H_MESSAGE_TYPE] = { "message_type", "$.message_header.message_type", ROUTE_TEXT, 0 },
	[ROUTE_H_SEVERITY] = { "severity", "$.message_header.severity", ROUTE_TEXT, 0 },
	[ROUTE_H_HOST] = { "host", "$.message_header.host_information.hostname", ROUTE_TEXT, 0 },
};

const struct route_column route_proc_cols[ROUTE_PROC_COLS] = {
	{ "process_name", PD "process_name", ROUTE_TEXT, ROUTE_INDEX },
	{ "pid", PD "process_id", ROUTE_INT, ROUTE_INDEX },
	{ "ppid", PD "process_parent_process_id", ROUTE_INT, 0 },
	{ "exe", PD "process_executable_path", ROUTE_TEXT, ROUTE_PATH },
	{ "cmdline", PD "process_command_line", ROUTE_TEXT, 0 },
	{ "uid", PD "process_real_user_id", ROUTE_INT, 0 },
	{ "user", PD "process_real_user_name", ROUTE_TEXT, ROUTE_USER },
	{ "euid", PD "process_effective_user_id", ROUTE_INT, 0 },
	{ "login_user", PD "process_login_user_name", ROUTE_TEXT, ROUTE_USER },
	{ "container_id", PD "process_container_id", ROUTE_TEXT, 0 },
	{ "exec_id", PD "process_exec_id", ROUTE_TEXT, 0 },
	{ "parent_name", PPD "process_name", ROUTE_TEXT, 0 },
	{ "parent_pid", PPD "process_id", ROUTE_INT, 0 },
	{ "parent_exec_id", PPD "process_exec_id", ROUTE_TEXT, 0 },
};

#define P AD "process_details."
#define EX AD "exit_details."
static const struct route_column process_cols[] = {
	{ "creation_type", P "process_creation_type", ROUTE_TEXT, 0 },
	{ "cwd", P "process_current_working_directory", ROUTE_TEXT, 0 },
	{ "args", P "process_command_line_arguments", ROUTE_JSON, 0 },
	{ "args_truncated", P "process_args_truncated", ROUTE_INT, 0 },
	{ "gid", P "process_real_group_id", ROUTE_INT, 0 },
	{ "egid", P "process_effective_group_id", ROUTE_INT, 0 },
	{ "sha256", P "process_hash_sha256", ROUTE_TEXT, 0 },
	{ "hash_status", P "process_hash_status", ROUTE_TEXT, 0 },
	{ "file_size_bytes", P "process_file_size_bytes", ROUTE_INT, 0 },
	{ "cgroup", P "process_cgroup", ROUTE_TEXT, 0 },
	{ "container_runtime", P "process_container_runtime", ROUTE_TEXT, 0 },
	{ "pid_namespace", P "process_pid_namespace", ROUTE_INT, 0 },
	{ "parent_exe", PPD "process_executable_path", ROUTE_TEXT, 0 },
	{ "parent_cmdline", PPD "process_command_line", ROUTE_TEXT, 0 },
	{ "exit_code", EX "exit_code", ROUTE_INT, 0 },
	{ "exit_signal", EX "exit_signal", ROUTE_INT, 0 },
	{ "exit_signal_name", EX "exit_signal_name", ROUTE_TEXT, 0 },
	{ "core_dumped", EX "core_dumped", ROUTE_INT, 0 },
};

#define T AD "thread_details."
static const struct route_column thread_cols[] = {
	{ "thread_id", T "thread_id", ROUTE_INT, 0 },
	{ "thread_self_exec_id", T "thread_self_exec_id", ROUTE_INT, 0 },
	{ "exit_state", T "thread_exit_state", ROUTE_TEXT, 0 },
};

#define F AD "file_details.file_"
static const struct route_column file_cols[] = {
	{ "operation", F "operation", ROUTE_TEXT, 0 },
	{ "path", F "path", ROUTE_TEXT, ROUTE_PATH },
	{ "new_path", F "new_path", ROUTE_TEXT, ROUTE_PATH },
	{ "symlink_target", F "symlink_target", ROUTE_TEXT, ROUTE_PATH },
	{ "path_truncated", F "path_truncated", ROUTE_INT, 0 },
	{ "result", F "result", ROUTE_TEXT, 0 },
	{ "errno", F "errno", ROUTE_INT, 0 },
	{ "error_name", F "error_name", ROUTE_TEXT, 0 },
	{ "fd", F "descriptor", ROUTE_INT, 0 },
	{ "open_flags", F "open_flags", ROUTE_INT, 0 },
	{ "open_flag_names", F "open_flag_names", ROUTE_JSON, 0 },
	{ "opened_for_write", F "opened_for_write", ROUTE_INT, 0 },
	{ "created", F "created", ROUTE_INT, 0 },
	{ "mode", F "mode", ROUTE_TEXT, 0 },
	{ "owner_uid", F "owner_uid", ROUTE_INT, 0 },
	{ "owner_gid", F "owner_gid", ROUTE_INT, 0 },
	{ "truncate_length", F "truncate_length", ROUTE_INT, 0 },
	{ "syscall_flags", F "syscall_flags", ROUTE_INT, 0 },
	{ "inode", F "inode", ROUTE_INT, 0 },
	{ "device", F "device", ROUTE_TEXT, 0 },
	{ "hash_status", F "hash_status", ROUTE_TEXT, 0 },
	{ "sha256", F "hash_sha256", ROUTE_TEXT, 0 },
	{ "size_bytes", F "size_bytes", ROUTE_INT, 0 },
};

#define N AD "network_details."
static const struct route_column network_cols[] = {
	{ "operation", N "network_operation", ROUTE_TEXT, 0 },
	{ "result", N "network_result", ROUTE_TEXT, 0 },
	{ "errno", N "network_errno", ROUTE_INT, 0 },
	{ "error_name", N "network_error_name", ROUTE_TEXT, 0 },
	{ "fd", N "network_file_descriptor", ROUTE_INT, 0 },
	{ "socket_family", N "network_family", ROUTE_TEXT, 0 },
	{ "socket_type", N "network_socket_type", ROUTE_TEXT, 0 },
	{ "protocol", N "network_protocol", ROUTE_TEXT, 0 },
	{ "local_address", N "network_local_address", ROUTE_TEXT, ROUTE_ADDR },
	{ "local_port", N "network_local_port", ROUTE_INT, 0 },
	{ "remote_address", N "network_remote_address", ROUTE_TEXT, ROUTE_ADDR },
	{ "remote_port", N "network_remote_port", ROUTE_INT, 0 },
	{ "listen_backlog", N "network_listen_backlog", ROUTE_INT, 0 },
	{ "socket_id", N "network_socket_id", ROUTE_TEXT, 0 },
	{ "direction", N "network_direction", ROUTE_TEXT, 0 },
	{ "tcp_state", N "tcp_connection_state", ROUTE_TEXT, 0 },
	{ "tcp_previous_state", N "tcp_previous_state", ROUTE_TEXT, 0 },
	{ "bytes_in", N "tcp_bytes_in", ROUTE_INT, 0 },
	{ "bytes_out", N "tcp_bytes_out", ROUTE_INT, 0 },
	{ "segments_in", N "tcp_segments_in", ROUTE_INT, 0 },
	{ "segments_out", N "tcp_segments_out", ROUTE_INT, 0 },
	{ "duration_ns", N "tcp_connection_overall_duration_ns", ROUTE_INT, 0 },
};

#define D AD "dns_details.dns_"
static const struct route_column dns_cols[] = {
	{ "operation", D "operation", ROUTE_TEXT, 0 },
	{ "protocol", D "protocol", ROUTE_TEXT, 0 },
	{ "resolver_address", D "resolver_address", ROUTE_TEXT, ROUTE_ADDR },
	{ "resolver_port", D "resolver_port", ROUTE_INT, 0 },
	{ "socket_id", D "socket_id", ROUTE_TEXT, 0 },
	{ "transaction_id", D "transaction_id", ROUTE_INT, 0 },
	{ "is_response", D "is_response", ROUTE_INT, 0 },
	{ "response_code", D "response_code", ROUTE_TEXT, 0 },
	{ "query_name", D "query_names[0]", ROUTE_TEXT, 0 },
	{ "query_type", D "questions[0].type", ROUTE_TEXT, 0 },
	{ "query_names", D "query_names", ROUTE_JSON, 0 },
	{ "questions", D "questions", ROUTE_JSON, 0 },
	{ "answer_count", D "answer_count", ROUTE_INT, 0 },
	{ "answers", D "answers", ROUTE_JSON, ROUTE_ADDR },
	{ "payload_bytes", D "payload_bytes", ROUTE_INT, 0 },
	{ "parse_error", D "parse_error", ROUTE_TEXT, 0 },
};

#define I AD "identity_details.identity_"
static const struct route_column identity_cols[] = {
	{ "operation", I "operation", ROUTE_TEXT, 0 },
	{ "kind", I "kind", ROUTE_TEXT, 0 },
	{ "result", I "result", ROUTE_TEXT, 0 },
	{ "errno", I "errno", ROUTE_INT, 0 },
	{ "error_name", I "error_name", ROUTE_TEXT, 0 },
	{ "requested", I "requested", ROUTE_JSON, 0 },
	{ "from_real", I "from.real", ROUTE_INT, 0 },
	{ "from_effective", I "from.effective", ROUTE_INT, 0 },
	{ "from_saved", I "from.saved", ROUTE_INT, 0 },
	{ "from_fs", I "from.fs", ROUTE_INT, 0 },
	{ "to_real", I "to.real", ROUTE_INT, 0 },
	{ "to_effective", I "to.effective", ROUTE_INT, 0 },
	{ "to_saved", I "to.saved", ROUTE_INT, 0 },
	{ "to_fs", I "to.fs", ROUTE_INT, 0 },
	{ "capabilities", I "capabilities", ROUTE_JSON, 0 },
};

#define L AD "library_details.library_"
static const struct route_column library_cols[] = {
	{ "path", L "path", ROUTE_TEXT, ROUTE_PATH },
	{ "language", L "language", ROUTE_TEXT, 0 },
	{ "sha256", L "hash_sha256", ROUTE_TEXT, 0 },
	{ "hash_status", L "hash_status", ROUTE_TEXT, 0 },
	{ "size_bytes", L "size_bytes", ROUTE_INT, 0 },
	{ "inode", L "inode", ROUTE_INT, 0 },
	{ "device", L "device", ROUTE_TEXT, 0 },
	{ "mapped_address", L "mapped_address", ROUTE_TEXT, 0 },
	{ "package", L "package", ROUTE_TEXT, 0 },
	{ "package_version", L "package_version", ROUTE_TEXT, 0 },
};

#define M AD "memory_details.memory_"
static const struct route_column memory_cols[] = {
	{ "operation", M "operation", ROUTE_TEXT, 0 },
	{ "result", M "result", ROUTE_TEXT, 0 },
	{ "errno", M "errno", ROUTE_INT, 0 },
	{ "error_name", M "error_name", ROUTE_TEXT, 0 },
	{ "address", M "address", ROUTE_TEXT, 0 },
	{ "length", M "length", ROUTE_INT, 0 },
	{ "protection", M "protection", ROUTE_JSON, 0 },
	{ "writable_and_executable", M "writable_and_executable", ROUTE_INT, 0 },
	{ "anonymous", M "anonymous", ROUTE_INT, 0 },
	{ "file_path", M "file_path", ROUTE_TEXT, ROUTE_PATH },
	{ "memfd_name", M "memfd_name", ROUTE_TEXT, 0 },
	{ "fd", M "fd", ROUTE_INT, 0 },
	{ "suppressed_count", M "suppressed_count", ROUTE_INT, 0 },
};

static const struct route_column system_cols[] = {
	{ "message", AD "system_details.message", ROUTE_TEXT, 0 },
	{ "details", AD "system_details", ROUTE_JSON, 0 },
};

/* Alerts have no fixed detail block yet: the whole activity keeps them. */
static const struct route_column alert_cols[] = {
	{ "family", AD "family", ROUTE_TEXT, 0 },
	{ "event_type_id", AD "event_type_id", ROUTE_INT, 0 },
	{ "details", "$.activity_data", ROUTE_JSON, 0 },
};

#define COLS(a) a, sizeof(a) / sizeof(a[0])

static const struct route_table tables[] = {
	{ "process_events", "process", true, COLS(process_cols), "cmdline" },
	{ "thread_events", "thread", true, COLS(thread_cols),
	  "'tid ' || thread_id || coalesce(' ' || exit_state, '')" },
	{ "file_events", "file", true, COLS(file_cols),
	  "coalesce(path, '?') || coalesce(' -> ' || new_path, '')"
	  " || coalesce(' -> ' || symlink_target, '') || coalesce(' ' || error_name, '')" },
	{ "network_events", "network", true, COLS(network_cols),
	  "coalesce(local_address || coalesce(':' || local_port, ''), '-') || ' -> '"
	  " || coalesce(remote_address || coalesce(':' || remote_port, ''), '-')"
	  " || coalesce(' ' || tcp_state, '') || coalesce(' ' || error_name, '')" },
	{ "dns_events", "dns", true, COLS(dns_cols),
	  "coalesce(query_name, '?') || coalesce(' ' || query_type, '')"
	  " || coalesce(' ' || response_code, '')" },
	{ "identity_events", "identity", true, COLS(identity_cols),
	  "kind || ' ' || coalesce(from_effective, '?') || ' -> ' || coalesce(to_effective, '?')"
	  " || coalesce(' ' || error_name, '')" },
	{ "library_events", "library", true, COLS(library_cols),
	  "coalesce(path, '?') || coalesce(' ' || package, '')" },
	{ "memory_events", "memory", true, COLS(memory_cols),
	  "coalesce(address, '') || coalesce(' ' || file_path, '')"
	  " || coalesce(' memfd:' || memfd_name, '')" },
	{ "system_activity", "system", false, COLS(system_cols), "message" },
	{ "alert_events", NULL, true, COLS(alert_cols), "name" },
};

#define NTABLES (sizeof(tables) / sizeof(tables[0]))

const struct route_table *route_tables(unsigned *count)
{
	*count = NTABLES;
	return tables;
}

static bool eq(const char *s, size_t len, const char *lit)
{
	return s && strlen(lit) == len && memcmp(s, lit, len) == 0;
}

const struct route_table *route_find(const char *family, size_t family_len,
				     const char *message_type, size_t message_type_len)
{
	if (eq(message_type, message_type_len, "ALERT"))
		return &tables[NTABLES - 1];
	for (unsigned i = 0; i < NTABLES; i++)
		if (tables[i].family && eq(family, family_len, tables[i].family))
			return &tables[i];
	return NULL;
}

const struct route_table *route_by_name(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "alert") == 0)
		return &tables[NTABLES - 1];
	for (unsigned i = 0; i < NTABLES; i++)
		if (strcmp(name, tables[i].table) == 0 ||
		    (tables[i].family && strcmp(name, tables[i].family) == 0))
			return &tables[i];
	return NULL;
}

int route_severity_rank(const char *s, size_t len)
{
	static const char *const names[] = { "INFO", "WARNING", "MEDIUM", "ERROR", "HIGH",
					     "CRITICAL" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (eq(s, len, names[i]))
			return (int)i + 1;
	return 0;
}
