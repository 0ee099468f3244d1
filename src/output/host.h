/* What every message header says about the agent and the host it runs on,
 * gathered once at start (the hostname is not refreshed until restart), plus
 * the message-id generator.
 *
 * Message ids are RFC 9562 version-8 (custom) UUIDs built from two 64-bit
 * halves: the agent instance id (64 random bits from getrandom at init, with
 * the 4 version bits forced to 8) and a per-instance message counter (with
 * the 2 variant bits forced to 10):
 *   iiiiiiii-iiii-8iii-vccc-cccccccccccc
 * The first three groups are agent_instance_id; the last two are the
 * counter (62 bits, never wraps in practice). Ids are unique per message
 * within an instance and, with 60 random bits per instance, across agents and
 * restarts. Serialisation takes the next counter value even when the line is
 * then refused (-E2BIG), so a gap in the counter of one instance means that
 * many messages were dropped at serialisation. */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.0.0-dev"
#endif

#define OUTPUT_ID_MAX 256	/* longest device_id/org_id/user_data accepted */
#define OUTPUT_MSG_ID_LEN 36	/* a UUID, without its NUL */

struct output_ctx {
	const char *vendor_name;	/* "Vigil" */
	const char *product_name;	/* "vigil-agent" */
	const char *product_version;	/* VIGIL_VERSION */
	const char *schema_version;	/* VIGIL_SCHEMA_VERSION */
	/* Owned heap strings; NULL when unknown (written as JSON null). */
	char *hostname;
	char *device_id;	/* never NULL after init */
	char *org_id;
	char *user_data;
	char *machine_id;	/* /etc/machine-id */
	char *boot_uuid;	/* /proc/sys/kernel/random/boot_id */
	char *os_name;		/* os-release PRETTY_NAME */
	char *os_version;	/* "Linux <uname release>" */
	char *timezone;		/* host zone abbreviation; timestamps are UTC anyway */
	uint64_t instance_id;	/* with the UUID version bits set */
	char instance_hex[17];	/* agent_instance_id as written */
	uint64_t msg_counter;	/* next message number; atomically incremented */
	int64_t boot_to_real_ns;	/* CLOCK_REALTIME - CLOCK_BOOTTIME */
	/* The header members that never change, rendered once by the JSON
	 * writer on first use (owned; freed with the context). */
	char *json_head;	/* {"vendor_name":…,"product_version":… */
	size_t json_head_len;
	char *json_tail;	/* ,"message_timezone":…,"host_information":{…}} */
	size_t json_tail_len;
	size_t json_host_off, json_host_len;	/* host_information's {…} in json_tail */
};

/* Gathers the host facts. device_id NULL or "" means the machine id. Fails
 * (negative errno, one sentence in err, c left freed) when there is no
 * device id at all, an id is longer than OUTPUT_ID_MAX, or getrandom fails.
 * The clock offset is measured now; output_ctx__set_clock overrides it. */
int output_ctx__init(struct output_ctx *c, const char *device_id, const char *org_id,
		     const char *user_data, char *err, size_t errlen);
/* Frees the owned strings; accepts NULL and a freed context. */
void output_ctx__free(struct output_ctx *c);
/* Sets the CLOCK_BOOTTIME -> CLOCK_REALTIME offset used for creation times,
 * so that they agree with the pipeline's own conversion. */
void output_ctx__set_clock(struct output_ctx *c, int64_t boot_to_real_offset_ns);
/* Writes the next message id (OUTPUT_MSG_ID_LEN chars + NUL) into out,
 * which must hold OUTPUT_MSG_ID_LEN + 1 bytes. Thread-safe. */
void output_ctx__next_message_id(struct output_ctx *c, char *out);

/* PRETTY_NAME from the text of an os-release(5) file, unquoted (shell-style
 * "..." or '...', backslash escapes inside double quotes). Returns 0, or
 * -ENOENT when absent, -EINVAL when malformed, -E2BIG when longer than out. */
int host__os_release_pretty(const char *text, char *out, size_t outlen);

#endif
