/* Event lines shaped like the agent's (docs/schema.md, key order included)
 * for the store and query tests, and a batch_meta to store them under. */
#ifndef VIGIL_TEST_STORE_EVENTS_H
#define VIGIL_TEST_STORE_EVENTS_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "ship/batch.h"

/* 2025-01-10T12:00:00Z */
#define EV_T0 1736510400000000000ull
#define EV_DAY_NS 86400000000000ull

struct ev_proc {
	const char *name, *exe, *cmdline, *user, *container;
	unsigned pid, ppid, uid;
};

static const struct ev_proc ev_bash = { "bash", "/usr/bin/bash", "-bash", "alice", NULL,
					1337, 1290, 1000 };

static inline void ev_proc_block(struct buf *b, const struct ev_proc *p)
{
	buf__addf(b, "{\"process_name\":\"%s\",\"process_id\":%u,\"process_thread_id\":%u,"
		  "\"process_parent_process_id\":%u,\"process_executable_path\":\"%s\","
		  "\"process_command_line\":\"%s\",\"process_command_line_arguments\":[\"%s\"],"
		  "\"process_args_truncated\":false,\"process_current_working_directory\":\"/home/%s\","
		  "\"process_real_user_id\":%u,\"process_real_user_name\":\"%s\","
		  "\"process_real_group_id\":%u,\"process_real_group_name\":\"%s\","
		  "\"process_effective_user_id\":%u,\"process_effective_user_name\":\"%s\","
		  "\"process_effective_group_id\":%u,\"process_effective_group_name\":\"%s\","
		  "\"process_login_user_id\":%u,\"process_login_user_name\":\"%s\","
		  "\"process_creation_time_iso_8601_ns\":\"2025-01-10T11:59:00.000000000+00:00\","
		  "\"process_creation_time_ns\":2506905100000,\"process_exec_id\":\"%x-247af3205d3\","
		  "\"process_self_exec_id\":2,\"process_pid_namespace\":4026531836,"
		  "\"process_mount_points_namespace\":4026531841,"
		  "\"process_network_namespace\":4026531840,"
		  "\"process_cgroup\":\"/user.slice/user-%u.slice/session-3.scope\","
		  "\"process_container_id\":%s%s%s,\"process_container_runtime\":null,"
		  "\"process_hash_sha256\":null,\"process_hash_sha1\":null,\"process_hash_md5\":null,"
		  "\"process_hash_status\":\"pending\",\"process_file_size_bytes\":1265648,"
		  "\"process_creation_type\":\"exec\"}",
		  p->name, p->pid, p->pid, p->ppid, p->exe, p->cmdline, p->cmdline, p->user, p->uid,
		  p->user, p->uid, p->user, p->uid, p->user, p->uid, p->user, p->uid, p->user,
		  p->pid, p->uid, p->container ? "\"" : "", p->container ? p->container : "null",
		  p->container ? "\"" : "");
}

/* Appends one '\n'-terminated event. details: the text after "family":"..."
 * up to the process blocks, e.g. "\"file_details\":{...}" (NULL: none);
 * proc NULL: no process blocks (system activity). */
static inline void ev_line(struct buf *b, const char *host, const char *mtype, const char *severity,
		    unsigned long long msg, uint64_t time_ns, const char *name, unsigned type_id,
		    const char *family, const char *details, const struct ev_proc *proc)
{
	buf__addf(b, "{\"message_header\":{\"vendor_name\":\"Vigil\",\"product_name\":"
		  "\"vigil-agent\",\"product_version\":\"0.1.0\",\"message_type\":\"%s\","
		  "\"severity\":\"%s\",\"schema_version\":\"1.1.0\","
		  "\"message_id\":\"5c1d2e3f-4a5b-8c6d-8000-%012llx\","
		  "\"occurred_message_time_iso_8601_ns\":\"2025-01-10T12:00:00.000000000+00:00\","
		  "\"occurred_message_time_ns\":%llu,\"message_timezone\":\"UTC\","
		  "\"user_data\":\"NONE\",\"host_information\":{\"hostname\":\"%s\","
		  "\"device_id\":\"web-01\",\"org_id\":\"acme\","
		  "\"machine_id\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
		  "\"boot_uuid\":\"6f0c3e0a-8f4e-4d0b-9d51-2f6b1a7c9e11\","
		  "\"os_name\":\"Debian GNU/Linux 12 (bookworm)\","
		  "\"os_version\":\"Linux 6.1.0-28-amd64\",\"agent_instance_id\":\"5c1d2e3f4a5b8c6d\"}},"
		  "\"activity_data\":{\"name\":\"%s\",\"event_type_id\":%u,\"family\":\"%s\"",
		  mtype, severity, msg, (unsigned long long)time_ns, host, name, type_id, family);
	if (details)
		buf__addf(b, ",%s", details);
	if (proc) {
		struct ev_proc parent = { "bash", "/usr/bin/bash", "-bash", proc->user, NULL,
					  proc->ppid, 1, proc->uid };

		buf__adds(b, ",\"process_details\":");
		ev_proc_block(b, proc);
		buf__adds(b, ",\"parent_process_details\":");
		ev_proc_block(b, &parent);
	}
	buf__adds(b, "}}\n");
}

#define EV_FILE_RENAME                                                                      \
	"\"file_details\":{\"file_operation\":\"renameat2\",\"file_path\":\"/etc/passwd.tmp\"," \
	"\"file_new_path\":\"/etc/passwd\",\"file_symlink_target\":null,"                    \
	"\"file_path_truncated\":false,\"file_result\":\"success\",\"file_errno\":null,"      \
	"\"file_error_name\":null,\"file_descriptor\":null,\"file_open_flags\":null,"         \
	"\"file_open_flag_names\":null,\"file_opened_for_write\":null,\"file_created\":null,"  \
	"\"file_mode\":null,\"file_owner_uid\":null,\"file_owner_gid\":null,"                 \
	"\"file_truncate_length\":null,\"file_syscall_flags\":0,\"file_inode\":10953085,"     \
	"\"file_device\":\"254:0\",\"file_hash_status\":null,\"file_hash_sha256\":null,"       \
	"\"file_hash_sha1\":null,\"file_hash_md5\":null,\"file_size_bytes\":null}"

#define EV_FILE_OPEN                                                                        \
	"\"file_details\":{\"file_operation\":\"openat\",\"file_path\":\"/tmp/x\\\"y\\n.txt\"," \
	"\"file_new_path\":null,\"file_symlink_target\":null,"                               \
	"\"file_path_truncated\":false,\"file_result\":\"failure\",\"file_errno\":13,"        \
	"\"file_error_name\":\"EACCES\",\"file_descriptor\":null,\"file_open_flags\":688322," \
	"\"file_open_flag_names\":[\"O_RDWR\",\"O_CREAT\"],\"file_opened_for_write\":true,"   \
	"\"file_created\":false,\"file_mode\":\"0600\",\"file_owner_uid\":null,"             \
	"\"file_owner_gid\":null,\"file_truncate_length\":null,\"file_syscall_flags\":null,"  \
	"\"file_inode\":null,\"file_device\":null,\"file_hash_status\":null,"                 \
	"\"file_hash_sha256\":null,\"file_hash_sha1\":null,\"file_hash_md5\":null,"           \
	"\"file_size_bytes\":null}"

#define EV_NET_CONNECT                                                                      \
	"\"network_details\":{\"network_operation\":\"connect\",\"network_result\":\"success\"," \
	"\"network_errno\":null,\"network_error_name\":null,\"network_file_descriptor\":3,"     \
	"\"network_family\":\"AF_INET\",\"network_socket_type\":\"stream\","                  \
	"\"network_protocol\":\"tcp\",\"network_local_address\":\"10.0.0.5\","               \
	"\"network_local_port\":41234,\"network_local_abstract\":null,"                       \
	"\"network_remote_address\":\"93.184.216.34\",\"network_remote_port\":443,"            \
	"\"network_remote_abstract\":null,\"network_listen_backlog\":null,"                   \
	"\"network_socket_id\":\"c475a1f1a60ca639\",\"network_direction\":null,"              \
	"\"tcp_connection_state\":null,\"tcp_previous_state\":null,\"tcp_bytes_in\":null,"    \
	"\"tcp_bytes_out\":null,\"tcp_segments_in\":null,\"tcp_segments_out\":null,"          \
	"\"tcp_data_segments_in\":null,\"tcp_data_segments_out\":null,"                       \
	"\"tcp_average_bytes_in\":null,\"tcp_average_bytes_out\":null,"                       \
	"\"tcp_connection_creation_time_iso_8601_ns\":null,"                                  \
	"\"tcp_connection_creation_time_ns\":null,"                                           \
	"\"tcp_connection_termination_time_iso_8601_ns\":null,"                               \
	"\"tcp_connection_overall_duration_ns\":null}"

#define EV_DNS_ANSWER                                                                       \
	"\"dns_details\":{\"dns_operation\":\"recvfrom\",\"dns_protocol\":\"udp\","            \
	"\"dns_resolver_address\":\"10.255.255.53\",\"dns_resolver_port\":53,"               \
	"\"dns_socket_id\":\"4624d74a2f3131f3\",\"dns_transaction_id\":26559,\"dns_opcode\":0," \
	"\"dns_is_response\":true,\"dns_truncated\":false,\"dns_response_code\":\"NOERROR\","  \
	"\"dns_question_count\":1,\"dns_answer_count\":1,"                                    \
	"\"dns_query_names\":[\"example.com\"],"                                              \
	"\"dns_questions\":[{\"name\":\"example.com\",\"type\":\"A\",\"class\":1}],"           \
	"\"dns_answers\":[{\"name\":\"example.com\",\"type\":\"A\",\"class\":1,\"ttl\":300,"  \
	"\"data\":\"93.184.216.34\"}],\"dns_payload_bytes\":45,\"dns_payload_truncated\":false," \
	"\"dns_parse_error\":null}"

#define EV_IDENTITY                                                                         \
	"\"identity_details\":{\"identity_operation\":\"setuid\",\"identity_kind\":\"user\","  \
	"\"identity_result\":\"success\",\"identity_errno\":null,\"identity_error_name\":null," \
	"\"identity_requested\":[0],\"identity_from\":{\"real\":1000,\"effective\":1000,"      \
	"\"saved\":1000,\"fs\":1000},\"identity_to\":{\"real\":0,\"effective\":0,\"saved\":0," \
	"\"fs\":0},\"identity_capabilities\":null}"

#define EV_LIBRARY                                                                          \
	"\"library_details\":{\"library_path\":\"/usr/lib/x86_64-linux-gnu/libselinux.so.1\"," \
	"\"library_language\":\"native\",\"library_hash_sha256\":"                            \
	"\"0207e4908ea384e186c75925b0e56996a3eccecd48c99252aeb757d0d3451c93\","                \
	"\"library_hash_status\":\"ok\",\"library_size_bytes\":174312,\"library_inode\":333397," \
	"\"library_device\":\"254:0\",\"library_mapped_address\":\"0x7f138b244000\","          \
	"\"library_package\":\"libselinux1\",\"library_package_version\":\"3.4-1+b6\"}"

#define EV_MEMORY                                                                           \
	"\"memory_details\":{\"memory_operation\":\"mmap\",\"memory_result\":\"success\","     \
	"\"memory_errno\":null,\"memory_error_name\":null,\"memory_address\":\"0x7eff30fbc000\"," \
	"\"memory_length\":4096,\"memory_protection\":[\"PROT_READ\",\"PROT_WRITE\","          \
	"\"PROT_EXEC\"],\"memory_writable_and_executable\":true,\"memory_anonymous\":true,"    \
	"\"memory_file_path\":null,\"memory_memfd_name\":null,\"memory_fd\":null,"             \
	"\"memory_suppressed_count\":0}"

#define EV_THREAD "\"thread_details\":{\"thread_id\":13457,\"thread_self_exec_id\":2}"
#define EV_EXIT                                                                             \
	"\"exit_details\":{\"exit_code\":null,\"exit_signal\":9,\"exit_signal_name\":"         \
	"\"SIGKILL\",\"core_dumped\":false}"
#define EV_SYSTEM "\"system_details\":{\"message\":\"1520 events dropped: ring buffer full\"," \
	"\"source\":\"ebpf\",\"count\":1520}"

static inline void ev_meta(struct batch_meta *m, const char *device, uint64_t seq, uint32_t events,
		    uint32_t body_len)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->device_id, sizeof(m->device_id), "%s", device);
	snprintf(m->org_id, sizeof(m->org_id), "acme");
	m->key_id = 1;
	m->seq = seq;
	m->created_ns = EV_T0;
	m->event_count = events;
	m->body_len = body_len;
	m->flags = BATCH_FLAG_ZSTD;
}

static inline void ev_sha(uint8_t sha[32], unsigned v)
{
	memset(sha, 0, 32);
	sha[0] = (uint8_t)v;
	sha[31] = (uint8_t)(v >> 8);
}

static inline unsigned ev_count_lines(const struct buf *b)
{
	unsigned n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

#endif
