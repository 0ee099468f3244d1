/* `vigil collector` (see collector.h): the decisions on HELLO and BATCH, the
 * human `--print` lines, and the daemon around them (config, store,
 * keystore, TLS server, retention, signals). One thread: the server's epoll
 * loop runs the callbacks, retention runs between two turns of it; the
 * store syncs what it committed on a thread of its own (store_wal.h), and
 * the server sends each ACK once its batch is on disk. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "collector/collector.h"
#include "collector/routes.h"
#include "collector/store.h"
#include "collector/store_wal.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/log.h"
#include "ship/batch.h"
#include "ship/blocks.h"
#include "ship/blocks_known.h"
#include "ship/tls.h"

/* After a batch bigger than this, the lines buffer is given back. */
#define LINES_KEEP_BYTES (8u << 20)
/* Slots of the set of batches one batch's remote blocks are in (half usable):
 * an agent remembers BLOCKS_KNOWN_DEFAULT_ENTRIES blocks, so at most that
 * many batches. 256 KiB, cleared for every batch (~15 us). */
#define COLLECTOR_REFS_MAX (2 * BLOCKS_KNOWN_DEFAULT_ENTRIES)
/* Rejection log lines per window, whatever the number of connections. */
#define REJECT_LOG_WINDOW_MS 60000u
#define REJECT_LOG_PER_WINDOW 20u
/* Pending rejection counters are written at least this often. */
#define FLUSH_INTERVAL_MS 1000u
#define PRINT_DETAIL_MAX 240	/* characters of the detail part of a --print line */

static const char *const reason_names[COLLECTOR_R_MAX - COLLECTOR_R_UNKNOWN_DEVICE] = {
	[COLLECTOR_R_UNKNOWN_DEVICE - COLLECTOR_R_UNKNOWN_DEVICE] = "unknown_device",
	[COLLECTOR_R_UNKNOWN_KEY - COLLECTOR_R_UNKNOWN_DEVICE] = "unknown_key",
	[COLLECTOR_R_DEVICE_MISMATCH - COLLECTOR_R_UNKNOWN_DEVICE] = "device_mismatch",
	[COLLECTOR_R_REPLAY - COLLECTOR_R_UNKNOWN_DEVICE] = "replay",
	[COLLECTOR_R_REPLAY_CONFLICT - COLLECTOR_R_UNKNOWN_DEVICE] = "replay_conflict",
	[COLLECTOR_R_INTERNAL - COLLECTOR_R_UNKNOWN_DEVICE] = "internal",
};

const char *collector_reason_name(unsigned reason)
{
	if (reason < BATCH_ERROR_MAX)
		return batch_error_name((enum batch_error)reason);
	if (reason >= COLLECTOR_R_UNKNOWN_DEVICE && reason < COLLECTOR_R_MAX)
		return reason_names[reason - COLLECTOR_R_UNKNOWN_DEVICE];
	return "unknown";
}

/* The --print extraction: one statement over the event's JSON (SQLite's
 * json1, which the store uses too), so no second JSON parser lives here. */
enum pcol {
	PC_TIME, PC_HOST, PC_SEVERITY, PC_MTYPE, PC_NAME, PC_FAMILY, PC_PNAME, PC_PID,
	PC_CMDLINE, PC_EXE, PC_EXIT_CODE, PC_EXIT_SIGNAL, PC_TID,
	PC_F_PATH, PC_F_NEW, PC_F_TARGET, PC_F_RESULT, PC_F_ERROR,
	PC_N_OP, PC_N_PROTO, PC_N_LADDR, PC_N_LPORT, PC_N_RADDR, PC_N_RPORT, PC_N_RESULT,
	PC_N_ERROR,
	PC_D_RESPONSE, PC_D_QNAME, PC_D_QTYPE, PC_D_RCODE, PC_D_ANSWERS,
	PC_I_OP, PC_I_KIND, PC_I_FROM_R, PC_I_FROM_E, PC_I_TO_R, PC_I_TO_E, PC_I_RESULT,
	PC_I_ERROR,
	PC_L_PATH,
	PC_M_OP, PC_M_ADDR, PC_M_LEN, PC_M_PROT, PC_M_MEMFD, PC_M_FILE, PC_M_RESULT, PC_M_ERROR,
	PC_S_MESSAGE,
	PC_MAX
};

#define AD "$.activity_data."
static const char *const pcol_expr[PC_MAX] = {
	[PC_TIME] = "'$.message_header.occurred_message_time_ns'",
	[PC_HOST] = "'$.message_header.host_information.hostname'",
	[PC_SEVERITY] = "'$.message_header.severity'",
	[PC_MTYPE] = "'$.message_header.message_type'",
	[PC_NAME] = "'" AD "name'",
	[PC_FAMILY] = "'" AD "family'",
	[PC_PNAME] = "'" AD "process_details.process_name'",
	[PC_PID] = "'" AD "process_details.process_id'",
	[PC_CMDLINE] = "'" AD "process_details.process_command_line'",
	[PC_EXE] = "'" AD "process_details.process_executable_path'",
	[PC_EXIT_CODE] = "'" AD "exit_details.exit_code'",
	[PC_EXIT_SIGNAL] = "'" AD "exit_details.exit_signal_name'",
	[PC_TID] = "'" AD "thread_details.thread_id'",
	[PC_F_PATH] = "'" AD "file_details.file_path'",
	[PC_F_NEW] = "'" AD "file_details.file_new_path'",
	[PC_F_TARGET] = "'" AD "file_details.file_symlink_target'",
	[PC_F_RESULT] = "'" AD "file_details.file_result'",
	[PC_F_ERROR] = "'" AD "file_details.file_error_name'",
	[PC_N_OP] = "'" AD "network_details.network_operation'",
	[PC_N_PROTO] = "'" AD "network_details.network_protocol'",
	[PC_N_LADDR] = "'" AD "network_details.network_local_address'",
	[PC_N_LPORT] = "'" AD "network_details.network_local_port'",
	[PC_N_RADDR] = "'" AD "network_details.network_remote_address'",
	[PC_N_RPORT] = "'" AD "network_details.network_remote_port'",
	[PC_N_RESULT] = "'" AD "network_details.network_result'",
	[PC_N_ERROR] = "'" AD "network_details.network_error_name'",
	[PC_D_RESPONSE] = "'" AD "dns_details.dns_is_response'",
	[PC_D_QNAME] = "'" AD "dns_details.dns_query_names[0]'",
	[PC_D_QTYPE] = "'" AD "dns_details.dns_questions[0].type'",
	[PC_D_RCODE] = "'" AD "dns_details.dns_response_code'",
	[PC_D_ANSWERS] = NULL,	/* a subquery, below */
	[PC_I_OP] = "'" AD "identity_details.identity_operation'",
	[PC_I_KIND] = "'" AD "identity_details.identity_kind'",
	[PC_I_FROM_R] = "'" AD "identity_details.identity_from.real'",
	[PC_I_FROM_E] = "'" AD "identity_details.identity_from.effective'",
	[PC_I_TO_R] = "'" AD "identity_details.identity_to.real'",
	[PC_I_TO_E] = "'" AD "identity_details.identity_to.effective'",
	[PC_I_RESULT] = "'" AD "identity_details.identity_result'",
	[PC_I_ERROR] = "'" AD "identity_details.identity_error_name'",
	[PC_L_PATH] = "'" AD "library_details.library_path'",
	[PC_M_OP] = "'" AD "memory_details.memory_operation'",
	[PC_M_ADDR] = "'" AD "memory_details.memory_address'",
	[PC_M_LEN] = "'" AD "memory_details.memory_length'",
	[PC_M_PROT] = NULL,	/* a subquery, below */
	[PC_M_MEMFD] = "'" AD "memory_details.memory_memfd_name'",
	[PC_M_FILE] = "'" AD "memory_details.memory_file_path'",
	[PC_M_RESULT] = "'" AD "memory_details.memory_result'",
	[PC_M_ERROR] = "'" AD "memory_details.memory_error_name'",
	[PC_S_MESSAGE] = "'" AD "system_details.message'",
};

struct collector {
	struct store *st;
	struct keystore *ks;
	struct batch_limits lim;
	struct buf lines;		/* batch_open's output, capped at lim.max_raw_bytes */
	uint64_t refs[COLLECTOR_REFS_MAX];	/* batches a batch's remote blocks are in */
	/* The batch's block definitions, for storing it as its lines when
	 * some of its remote blocks are unknown (the store's learn under it;
	 * copied only then). */
	const struct blocks_resolver *opening;
	struct buf defs;
	bool defs_ok;
	void (*store_learn)(void *ctx, const char *body, size_t n);
	void *store_learn_ctx;
	FILE *print;
	bool print_color;		/* print goes to a terminal */
	sqlite3 *pdb;			/* in-memory, for the --print extraction */
	sqlite3_stmt *pst;
	/* Connections whose rejection was logged (ids are never reused). */
	uint64_t logged[COLLECTOR_LOGGED_CONNS];
	unsigned logged_next;
	uint64_t log_window, log_suppressed;
	unsigned log_lines;
	/* Since start, for the exit log line. */
	uint64_t batches, events, duplicates, rejected, failed;
};

static int print_prepare(struct collector *c)
{
	struct buf sql;
	int ret = -ENOMEM;

	if (sqlite3_open_v2(":memory:", &c->pdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY,
			    NULL) != SQLITE_OK)
		return -ENOMEM;
	buf__init(&sql, 16384);
	buf__adds(&sql, "SELECT ");
	for (unsigned i = 0; i < PC_MAX; i++) {
		if (i)
			buf__adds(&sql, ", ");
		if (i == PC_D_ANSWERS)
			buf__adds(&sql, "(SELECT group_concat(json_extract(value, '$.data'), ' ')"
					" FROM json_each(?1, '" AD "dns_details.dns_answers'))");
		else if (i == PC_M_PROT)
			buf__adds(&sql, "(SELECT group_concat(value, '|') FROM json_each(?1, '"
					AD "memory_details.memory_protection'))");
		else
			buf__addf(&sql, "json_extract(?1, %s)", pcol_expr[i]);
	}
	if (!sql.toobig && sqlite3_prepare_v3(c->pdb, sql.data, -1, SQLITE_PREPARE_PERSISTENT,
					       &c->pst, NULL) == SQLITE_OK)
		ret = 0;
	buf__free(&sql);
	return ret;
}

int collector__new(struct collector **out, struct store *st, struct keystore *ks,
		   const struct batch_limits *lim, FILE *print)
{
	struct collector *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->st = st;
	c->ks = ks;
	c->lim = lim ? *lim : batch_default_limits;
	buf__init(&c->lines, c->lim.max_raw_bytes);
	buf__init(&c->defs, 2 * (size_t)c->lim.max_raw_bytes);
	c->print = print;
	c->print_color = print && isatty(fileno(print));
	if (print_prepare(c)) {
		collector__free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->pst);
	sqlite3_close(c->pdb);
	buf__free(&c->lines);
	buf__free(&c->defs);
	free(c);
}

/* ---- decisions ---- */

/* Logs a rejection: the first one of each connection, at most
 * REJECT_LOG_PER_WINDOW a minute in all. */
static void reject_log(struct collector *c, const struct server_conn_info *ci, uint64_t seq,
		       const char *reason, const char *detail)
{
	uint64_t now = mono_ms();

	for (unsigned i = 0; i < COLLECTOR_LOGGED_CONNS; i++)
		if (c->logged[i] == ci->id)
			return;
	c->logged[c->logged_next] = ci->id;
	c->logged_next = (c->logged_next + 1) % COLLECTOR_LOGGED_CONNS;
	if (now - c->log_window >= REJECT_LOG_WINDOW_MS) {
		if (c->log_suppressed)
			log_warnx("collector: %" PRIu64 " more connection(s) with rejected batches "
				  "not logged", c->log_suppressed);
		c->log_window = now;
		c->log_lines = 0;
		c->log_suppressed = 0;
	}
	if (c->log_lines >= REJECT_LOG_PER_WINDOW) {
		c->log_suppressed++;
		return;
	}
	c->log_lines++;
	if (!detail)
		detail = "";
	log_warnx("collector: %s device %s: batch seq %" PRIu64 " rejected: %s%s%s%s "
		  "(only the first on a connection is logged)",
		  ci->peer, ci->device_id[0] ? ci->device_id : "-", seq, reason,
		  *detail ? " (" : "", detail, *detail ? ")" : "");
}

static int reject(struct collector *c, const struct server_conn_info *ci, struct frame_ack *ack,
		  uint64_t seq, unsigned reason, bool counted, const char *detail)
{
	const char *name = collector_reason_name(reason);

	if (!counted)
		store__count_rejection(c->st, name, 1);
	c->rejected++;
	reject_log(c, ci, seq, name, detail);
	ack->seq = seq;
	ack->status = FRAME_ACK_REJECTED;
	ack->reason = (uint16_t)reason;
	return 0;
}

/* The seq a header claims, for the ACK of a batch rejected before it was
 * authenticated (the agent matches ACKs to batches by seq). */
static uint64_t claimed_seq(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	if (n < 24 || memcmp(p, BATCH_MAGIC, 4) != 0)
		return 0;
	for (int i = 16; i < 24; i++)
		v = v << 8 | p[i];
	return v;
}

int collector__handle_hello(void *ctx, const struct server_conn_info *ci, const char *device_id)
{
	struct collector *c = ctx;
	uint8_t key[DEVICE_KEY_LEN];
	char err[512];
	int ret;

	/* key_id 0 is never valid: -ENOKEY says the device is there, -ENOENT that
	 * it is not; no key is copied either way. */
	ret = keystore__lookup(c->ks, device_id, 0, key, err, sizeof(err));
	OPENSSL_cleanse(key, sizeof(key));
	if (ret == -ENOKEY || ret == 0)
		return 0;
	if (ret == -ENOENT || ret == -EINVAL) {
		/* The server logs the refusal (rate-limited) with the device id. */
		store__count_rejection(c->st, collector_reason_name(COLLECTOR_R_UNKNOWN_DEVICE), 1);
		c->rejected++;
		return -ENOKEY;
	}
	log_warnx("collector: %s device %s: keystore: %s", ci->peer, device_id, err);
	return ret;
}

/* The store's learn, and a copy of the definitions (res_blocks.learn). */
static void learn_defs(void *ctx, const char *body, size_t n)
{
	struct collector *c = ctx;
	size_t len;

	if (c->store_learn)
		c->store_learn(c->store_learn_ctx, body, n);
	if (!c->opening->unresolved)	/* called once the whole body is expanded */
		return;
	for (const char *at = body, *def; c->defs_ok && blocks_next_def(&at, body + n, &def, &len);)
		if (buf__add(&c->defs, def - 1, len + 2))	/* the '@' line, '\n' included */
			c->defs_ok = false;
}

uint64_t collector__durable(void *ctx)
{
	struct collector *c = ctx;

	return store__durable(c->st);
}

int collector__handle_batch(void *ctx, const struct server_conn_info *ci, const uint8_t *p,
			    size_t n, struct frame_ack *ack, uint64_t *ticket)
{
	struct collector *c = ctx;
	uint8_t key[DEVICE_KEY_LEN], sha[32];
	struct store_result res;
	struct blocks_resolver res_blocks;
	uint32_t nrefs;
	struct batch_meta meta;
	enum batch_error why = BATCH_OK;
	char err[512];
	int ret;

	memset(ack, 0, sizeof(*ack));
	*ticket = 0;
	err[0] = '\0';
	ret = batch_parse(p, n, &c->lim, &meta, &why, err, sizeof(err));
	if (ret)
		return reject(c, ci, ack, claimed_seq(p, n), why ? why : BATCH_MALFORMED, false,
			      err);
	if (strcmp(meta.device_id, ci->device_id) != 0) {
		snprintf(err, sizeof(err), "the batch is from device %s", meta.device_id);
		return reject(c, ci, ack, meta.seq, COLLECTOR_R_DEVICE_MISMATCH, false, err);
	}
	ret = keystore__lookup(c->ks, meta.device_id, meta.key_id, key, err, sizeof(err));
	if (ret == -ENOENT || ret == -ENOKEY) {
		OPENSSL_cleanse(key, sizeof(key));
		return reject(c, ci, ack, meta.seq,
			      ret == -ENOENT ? COLLECTOR_R_UNKNOWN_DEVICE : COLLECTOR_R_UNKNOWN_KEY,
			      false, err);
	}
	if (ret) {
		OPENSSL_cleanse(key, sizeof(key));
		log_warnx("collector: %s device %s: batch seq %" PRIu64 " not judged: %s", ci->peer,
			  ci->device_id, meta.seq, err);
		store__count_rejection(c->st, collector_reason_name(COLLECTOR_R_INTERNAL), 1);
		c->failed++;
		return ret;
	}
	ret = batch_verify_hmac(p, n, key);
	OPENSSL_cleanse(key, sizeof(key));
	if (ret) {
		snprintf(err, sizeof(err), "key_id %" PRIu32, meta.key_id);
		return reject(c, ci, ack, meta.seq, BATCH_BAD_HMAC, false, err);
	}

	buf__reset(&c->lines);
	store__resolver(c->st, meta.device_id, meta.seq, &res_blocks, c->refs,
			COLLECTOR_REFS_MAX);
	c->store_learn = res_blocks.learn;
	c->store_learn_ctx = res_blocks.learn_ctx;
	res_blocks.learn = learn_defs;
	res_blocks.learn_ctx = c;
	c->opening = &res_blocks;
	buf__reset(&c->defs);
	c->defs_ok = true;
	ret = batch_open_resolve(p, n, &meta, &c->lim, &res_blocks, &c->lines, &why, err,
				 sizeof(err));
	if (ret && why == BATCH_OK) {
		log_warnx("collector: %s device %s: batch seq %" PRIu64 " not judged: %s", ci->peer,
			  ci->device_id, meta.seq, err);
		store__count_rejection(c->st, collector_reason_name(COLLECTOR_R_INTERNAL), 1);
		c->failed++;
		goto out;
	}
	if (ret) {
		ret = reject(c, ci, ack, meta.seq, why, false, err);
		goto out;
	}

	if (!EVP_Digest(p, n, sha, NULL, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		c->failed++;
		goto out;
	}
	if (res_blocks.seen_count > COLLECTOR_REFS_MAX / 2) {
		/* Not all kept alive with it: refused rather than stored with
		 * rows that could not be read back once those batches expire
		 * (an agent remembers fewer: blocks_known.h). */
		snprintf(err, sizeof(err), "remote blocks from %u batches (at most %u)",
			 res_blocks.seen_count, COLLECTOR_REFS_MAX / 2);
		ret = reject(c, ci, ack, meta.seq, BATCH_EVENT_COUNT, false, err);
		goto out;
	}
	nrefs = blocks_resolver_seen_list(&res_blocks);
	if (res_blocks.unresolved) {
		struct batch_meta lm = meta;

		log_warnx("collector: device %s: batch seq %" PRIu64 ": %" PRIu64 " of %" PRIu64
			  " references to blocks of earlier batches name none stored; those "
			  "events are stored with {\"unresolved_block\":...} in their place "
			  "(counted as unresolved_block)", meta.device_id, meta.seq,
			  res_blocks.unresolved, res_blocks.remote);
		store__count_rejection(c->st, "unresolved_block", res_blocks.unresolved);
		/* The lines as they are after the batch's own definitions, not
		 * the body: read back, they give the same bytes whatever is
		 * stored by then, and its blocks can still be referred to. */
		if (!c->defs_ok || buf__add(&c->defs, c->lines.data, c->lines.len) ||
		    c->defs.len > UINT32_MAX) {
			ret = -ENOMEM;
			snprintf(err, sizeof(err), "no memory for the lines of a batch with "
				 "unknown blocks");
			goto stored;
		}
		lm.flags = BATCH_FLAG_BLOCKS;
		lm.raw_len = lm.body_len = (uint32_t)c->defs.len;
		ret = store__insert_batch_body(c->st, &lm, sha, c->lines.data, c->lines.len,
					       c->defs.data, c->defs.len, &res, err, sizeof(err));
		goto stored;
	}
	/* The body as sent is stored once, each raw row pointing into it. */
	ret = store__insert_batch_refs(c->st, &meta, sha, c->lines.data, c->lines.len,
				       p + BATCH_HEADER_LEN, meta.body_len, c->refs, nrefs, &res,
				       err, sizeof(err));
stored:
	/* Its definitions are kept for the next batches only if it is. */
	if (ret || res.status != STORE_STORED || !res.events_stored)
		store__forget_blocks(c->st, meta.device_id, meta.seq);
	if (ret) {
		log_warnx("collector: %s device %s: batch seq %" PRIu64 " not stored: %s", ci->peer,
			  ci->device_id, meta.seq, err);
		store__count_rejection(c->st, collector_reason_name(COLLECTOR_R_INTERNAL), 1);
		c->failed++;
		goto out;
	}
	ack->seq = meta.seq;
	/* The ACK waits for this commit, which follows every earlier one:
	 * a DUPLICATE's first copy may have been committed a moment ago. */
	if (res.status == STORE_STORED || res.status == STORE_DUPLICATE)
		*ticket = res.ticket;
	switch (res.status) {
	case STORE_STORED:
		ack->status = FRAME_ACK_STORED;
		if (res_blocks.unresolved)
			ack->reason = FRAME_ACK_NOTE_BLOCKS_UNKNOWN;
		c->batches++;
		c->events += res.events_stored;
		if (res.gap)
			log_warnx("collector: device %s: %" PRIu64 " batch(es) missing before seq "
				  "%" PRIu64 " (possible loss, counted)", meta.device_id, res.gap,
				  meta.seq);
		if (res.events_malformed)
			log_warnx("collector: device %s: batch seq %" PRIu64 ": %" PRIu32
				  " line(s) not events, skipped and counted", meta.device_id,
				  meta.seq, res.events_malformed);
		if (c->print) {
			const char *s = c->lines.data;

			for (size_t off = 0; off < c->lines.len;) {
				const char *nl = memchr(s + off, '\n', c->lines.len - off);
				size_t len = nl ? (size_t)(nl - (s + off)) : c->lines.len - off;

				collector__print_event(c, s + off, len, c->print);
				off += len + 1;
			}
			fflush(c->print);
		}
		break;
	case STORE_DUPLICATE:
		ack->status = FRAME_ACK_DUPLICATE;
		c->duplicates++;
		log_debug("collector: device %s: batch seq %" PRIu64 " delivered again (duplicate)",
			  meta.device_id, meta.seq);
		break;
	case STORE_STALE:
		snprintf(err, sizeof(err), "last stored seq is %" PRIu64, res.last_seq);
		ret = reject(c, ci, ack, meta.seq, COLLECTOR_R_REPLAY, true, err);
		break;
	case STORE_REPLAY_CONFLICT:
	default:
		ret = reject(c, ci, ack, meta.seq, COLLECTOR_R_REPLAY_CONFLICT, true,
			     "a different batch is stored under this seq");
		break;
	}
out:
	if (c->lines.alloc > LINES_KEEP_BYTES)
		buf__free(&c->lines);
	else
		buf__reset(&c->lines);
	if (c->defs.alloc > LINES_KEEP_BYTES)
		buf__free(&c->defs);
	return ret;
}

/* ---- --print ---- */

/* Text of column i, or NULL. */
static const char *col(struct collector *c, int i)
{
	return sqlite3_column_type(c->pst, i) == SQLITE_NULL ?
		       NULL : (const char *)sqlite3_column_text(c->pst, i);
}

/* Appends s with control bytes (C0, DEL, and C1 as UTF-8) replaced by '?',
 * so a hostile path cannot drive the terminal. */
static void put_clean(struct buf *b, const char *s)
{
	for (const unsigned char *q = (const unsigned char *)s; q && *q; q++) {
		if (*q < 0x20 || *q == 0x7f) {
			buf__addc(b, '?');
		} else if (*q == 0xc2 && q[1] >= 0x80 && q[1] <= 0x9f) {
			buf__addc(b, '?');
			q++;
		} else {
			buf__addc(b, (char)*q);
		}
	}
}

/* " text" when the column has a value. */
static void put_opt(struct buf *b, const char *prefix, const char *s)
{
	if (!s || !*s)
		return;
	buf__adds(b, prefix);
	put_clean(b, s);
}

static void put_endpoint(struct buf *b, const char *addr, const char *port)
{
	if (!addr || !*addr)
		return;
	if (strchr(addr, ':')) {
		buf__addc(b, '[');
		put_clean(b, addr);
		buf__addc(b, ']');
	} else {
		put_clean(b, addr);
	}
	if (port && strcmp(port, "0") != 0)
		buf__addf(b, ":%s", port);
}

static void put_failure(struct buf *b, const char *result, const char *error)
{
	if (result && strcmp(result, "failure") == 0)
		buf__addf(b, " (failed%s%s)", error ? ": " : "", error ? error : "");
}

static void detail(struct collector *c, struct buf *d)
{
	const char *family = col(c, PC_FAMILY), *name = col(c, PC_NAME);

	if (!family)
		return;
	if (strcmp(family, "process") == 0) {
		if (name && strcmp(name, "Process Terminated") == 0) {
			if (col(c, PC_EXIT_SIGNAL))
				put_opt(d, "killed by ", col(c, PC_EXIT_SIGNAL));
			else
				put_opt(d, "exit ", col(c, PC_EXIT_CODE));
		} else {
			put_opt(d, "", col(c, PC_CMDLINE) ? col(c, PC_CMDLINE) : col(c, PC_EXE));
		}
	} else if (strcmp(family, "thread") == 0) {
		put_opt(d, "tid ", col(c, PC_TID));
	} else if (strcmp(family, "file") == 0) {
		put_opt(d, "", col(c, PC_F_PATH));
		put_opt(d, " -> ", col(c, PC_F_NEW));
		put_opt(d, " => ", col(c, PC_F_TARGET));
		put_failure(d, col(c, PC_F_RESULT), col(c, PC_F_ERROR));
	} else if (strcmp(family, "network") == 0) {
		put_opt(d, "", col(c, PC_N_OP));
		put_opt(d, " ", col(c, PC_N_PROTO));
		if (col(c, PC_N_LADDR)) {
			buf__addc(d, ' ');
			put_endpoint(d, col(c, PC_N_LADDR), col(c, PC_N_LPORT));
		}
		if (col(c, PC_N_RADDR)) {
			buf__adds(d, " -> ");
			put_endpoint(d, col(c, PC_N_RADDR), col(c, PC_N_RPORT));
		}
		put_failure(d, col(c, PC_N_RESULT), col(c, PC_N_ERROR));
	} else if (strcmp(family, "dns") == 0) {
		bool resp = col(c, PC_D_RESPONSE) && strcmp(col(c, PC_D_RESPONSE), "1") == 0;

		put_opt(d, "", col(c, PC_D_QNAME));
		put_opt(d, " ", col(c, PC_D_QTYPE));
		if (resp) {
			put_opt(d, " ", col(c, PC_D_RCODE));
			put_opt(d, " -> ", col(c, PC_D_ANSWERS));
		}
	} else if (strcmp(family, "identity") == 0) {
		put_opt(d, "", col(c, PC_I_OP));
		put_opt(d, " ", col(c, PC_I_KIND));
		if (col(c, PC_I_FROM_R) || col(c, PC_I_TO_R))
			buf__addf(d, " real/effective %s/%s -> %s/%s",
				  col(c, PC_I_FROM_R) ?: "-", col(c, PC_I_FROM_E) ?: "-",
				  col(c, PC_I_TO_R) ?: "-", col(c, PC_I_TO_E) ?: "-");
		put_failure(d, col(c, PC_I_RESULT), col(c, PC_I_ERROR));
	} else if (strcmp(family, "library") == 0) {
		put_opt(d, "", col(c, PC_L_PATH));
	} else if (strcmp(family, "memory") == 0) {
		put_opt(d, "", col(c, PC_M_OP));
		put_opt(d, " ", col(c, PC_M_ADDR));
		put_opt(d, " len ", col(c, PC_M_LEN));
		put_opt(d, " ", col(c, PC_M_PROT));
		put_opt(d, " memfd ", col(c, PC_M_MEMFD));
		put_opt(d, " ", col(c, PC_M_FILE));
		put_failure(d, col(c, PC_M_RESULT), col(c, PC_M_ERROR));
	} else if (strcmp(family, "system") == 0) {
		put_opt(d, "", col(c, PC_S_MESSAGE));
	}
}

int collector__print_event(struct collector *c, const char *line, size_t len, FILE *out)
{
	char tbuf[64] = "-";
	const char *sev, *mtype;
	struct buf l, d;
	bool hot;
	int ret = 0;

	if (!len || len > INT32_MAX)
		return 0;
	sqlite3_bind_text(c->pst, 1, line, (int)len, SQLITE_STATIC);
	if (sqlite3_step(c->pst) != SQLITE_ROW) {
		/* Not JSON: the store skipped and counted it already. */
		sqlite3_reset(c->pst);
		sqlite3_clear_bindings(c->pst);
		return 0;
	}
	buf__init(&l, 4096);
	buf__init(&d, 4096);
	sev = col(c, PC_SEVERITY);
	mtype = col(c, PC_MTYPE);
	hot = (mtype && strcmp(mtype, "ALERT") == 0) ||
	      (sev && route_severity_rank(sev, strlen(sev)) >= route_severity_rank("MEDIUM", 6));
	if (sqlite3_column_type(c->pst, PC_TIME) == SQLITE_INTEGER) {
		uint64_t ns = (uint64_t)sqlite3_column_int64(c->pst, PC_TIME);
		time_t t = (time_t)(ns / 1000000000u);
		struct tm tm;
		char day[32];

		if (gmtime_r(&t, &tm) && strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
			snprintf(tbuf, sizeof(tbuf), "%s.%03uZ", day,
				 (unsigned)(ns % 1000000000u / 1000000u));
	}
	if (hot && c->print_color && out == c->print)
		buf__adds(&l, "\033[1;31m");
	buf__adds(&l, hot ? "!! " : "   ");
	buf__addf(&l, "%s ", tbuf);
	put_clean(&l, col(c, PC_HOST) ? col(c, PC_HOST) : "-");
	buf__addf(&l, " %-8s ", sev ? sev : "-");
	if (mtype && strcmp(mtype, "ALERT") == 0)
		buf__adds(&l, "ALERT ");
	put_clean(&l, col(c, PC_NAME) ? col(c, PC_NAME) : "?");
	if (col(c, PC_PNAME) || col(c, PC_PID)) {
		buf__addc(&l, ' ');
		put_clean(&l, col(c, PC_PNAME) ? col(c, PC_PNAME) : "?");
		buf__addf(&l, "[%s]", col(c, PC_PID) ? col(c, PC_PID) : "?");
	}
	detail(c, &d);
	if (d.len) {
		if (d.len > PRINT_DETAIL_MAX) {
			/* Cut on a UTF-8 boundary. */
			size_t n = PRINT_DETAIL_MAX;

			while (n > 0 && ((unsigned char)d.data[n] & 0xc0) == 0x80)
				n--;
			d.data[n] = '\0';
			d.len = n;
			buf__adds(&d, "...");
		}
		buf__addc(&l, ' ');
		buf__add(&l, d.data, d.len);
	}
	if (hot && c->print_color && out == c->print)
		buf__adds(&l, "\033[0m");
	if (l.toobig || !l.data) {
		ret = l.data ? 0 : -ENOMEM;
	} else {
		fprintf(out, "%s\n", l.data);
	}
	buf__free(&l);
	buf__free(&d);
	sqlite3_reset(c->pst);
	sqlite3_clear_bindings(c->pst);
	return ret;
}

/* ---- the daemon ---- */

static struct server *volatile g_srv;
static atomic_int g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, 1);
	if (g_srv)
		server__stop(g_srv);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vigil collector [--config FILE] [--print] [--log-level LEVEL]\n"
		"  Receives signed batches from agents over TLS 1.3 (collector: section of the\n"
		"  config) and stores them in SQLite; SIGTERM or SIGINT stops it.\n"
		"  --config FILE      YAML config (default: built-in defaults)\n"
		"  --print            one line per stored event on stdout\n"
		"  --log-level LEVEL  error, warn, info or debug (default: agent.log_level)\n");
}

/* Creates dir (0700) when it is missing; its parent must exist. */
static int ensure_dir(const char *what, const char *dir)
{
	if (mkdir(dir, 0700) == 0) {
		log_info("collector: created %s %s", what, dir);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	log_warn("collector: cannot create %s %s", what, dir);
	return -errno;
}

/* Server-side refusals (not TLS, TLS 1.2, bad frames...) go to the store's
 * rejection counters too, so `vigil stats` shows every refusal in one
 * place. HELLO_REFUSED and BATCH_FAILED are counted by the callbacks under
 * a more precise name; idle timeouts, resets and the agent's own ERROR are
 * not refusals. */
static void count_server_rejections(struct server *srv, struct store *st,
				    uint64_t seen[SERVER_R_MAX])
{
	struct server_stats s;

	server__stats(srv, &s);
	for (unsigned r = 1; r < SERVER_R_MAX; r++) {
		uint64_t d = s.rejected[r] - seen[r];

		seen[r] = s.rejected[r];
		if (!d || r == SERVER_R_HELLO_REFUSED || r == SERVER_R_BATCH_FAILED ||
		    r == SERVER_R_IDLE_TIMEOUT || r == SERVER_R_PEER_ERROR || r == SERVER_R_IO)
			continue;
		store__count_rejection(st, server__reason_name((enum server_reason)r), d);
	}
}

static void run_retention(struct store *st, bool *more)
{
	struct store_retention rep;
	struct timespec ts;
	char err[512];

	clock_gettime(CLOCK_REALTIME, &ts);
	*more = false;
	if (store__retention(st, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, &rep,
			     err, sizeof(err))) {
		log_warnx("collector: retention: %s", err);
		return;
	}
	*more = rep.more;
	if (rep.raw_deleted || rep.typed_archived || rep.typed_deleted || rep.batches_deleted ||
	    rep.archive_days_removed)
		log_info("collector: retention: %" PRIu64 " raw rows deleted, %" PRIu64
			 " typed rows archived, %" PRIu64 " deleted, %" PRIu64
			 " batch records deleted, %" PRIu32 " archive day(s) removed%s",
			 rep.raw_deleted, rep.typed_archived, rep.typed_deleted,
			 rep.batches_deleted, rep.archive_days_removed, rep.more ? " (more)" : "");
}

/* How the ACKs waited for the disk, at shutdown. */
static void log_wal(struct server *srv, struct store *st)
{
	struct store_wal_stats ws;
	struct server_stats ss;
	uint64_t writer;

	if (store__wal_stats(st, &ws, &writer))
		return;
	server__stats(srv, &ss);
	log_info("collector: store: %" PRIu64 " WAL syncs (%.1f ms on average), %" PRIu64
		 " background checkpoints (%" PRIu64 " found one running, %" PRIu64 " failed), %"
		 PRIu64 " by the writer; %" PRIu64 " ACKs waited for their sync, %" PRIu64
		 " not sent (their connection closed first)", ws.syncs,
		 ws.syncs ? (double)ws.sync_ns / (double)ws.syncs / 1e6 : 0.0, ws.checkpoints,
		 ws.checkpoint_busy, ws.checkpoint_failed, writer, ss.acks_held, ss.acks_unsent);
}

int collector_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "print", no_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *level_opt = NULL;
	struct vigil_config cfg;
	struct store *st = NULL;
	struct keystore *ks = NULL;
	struct server *srv = NULL;
	struct collector *col = NULL;
	SSL_CTX *tls = NULL;
	uint64_t seen[SERVER_R_MAX] = { 0 }, next_retention, next_flush;
	struct sigaction sa;
	struct batch_limits lim = batch_default_limits;
	bool print = false, more = false;
	char err[512];
	int c, ret, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:pl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'p': print = true; break;
		case 'l': level_opt = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigil collector: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config__defaults(&cfg)) {
		fprintf(stderr, "vigil: out of memory\n");
		return 1;
	}
	if (config_path && config__load(&cfg, config_path, err, sizeof(err))) {
		fprintf(stderr, "vigil: %s\n", err);
		config__free(&cfg);
		return 2;
	}
	if (level_opt) {
		int l = log_level_parse(level_opt);

		if (l < 0) {
			fprintf(stderr,
				"vigil: --log-level: expected error, warn, info or debug\n");
			config__free(&cfg);
			return 2;
		}
		cfg.log_level = l;
	}
	log_init("vigil", (enum log_level)cfg.log_level);
	signal(SIGPIPE, SIG_IGN);

	if (cfg.col_max_frame_bytes - 1 < lim.max_batch_bytes)
		lim.max_batch_bytes = cfg.col_max_frame_bytes - 1;
	/* The store makes archive_dir itself (and checks who owns it). */
	if (ensure_dir("keystore", cfg.col_keystore_dir))
		goto out;
	ret = keystore__open(cfg.col_keystore_dir, 0, &ks, err, sizeof(err));
	if (ret) {
		log_warnx("collector: %s", err);
		goto out;
	}
	{
		struct store_config scfg = {
			.path = cfg.col_database,
			.archive_dir = cfg.col_archive_dir,
			.raw_ttl_s = cfg.col_raw_ttl_s,
			.typed_ttl_s = cfg.col_typed_ttl_s,
			.archive_ttl_s = cfg.col_archive_ttl_s,
			/* a large backlog is worked off between turns of the loop */
			.retention_max_chunks = 4,
		};

		ret = store__open(&st, &scfg, err, sizeof(err));
		if (ret) {
			log_warnx("collector: %s", err);
			goto out;
		}
	}
	tls = tls__server_ctx(cfg.col_cert_file, cfg.col_key_file, err, sizeof(err));
	if (!tls) {
		log_warnx("collector: %s (make them with: vigil pki --dir DIR)", err);
		goto out;
	}
	if (collector__new(&col, st, ks, &lim, print ? stdout : NULL)) {
		log_warnx("collector: out of memory");
		goto out;
	}
	{
		struct server_config scfg = {
			.listen = cfg.col_listen,
			.tls = tls,
			.cb = { .ctx = col, .on_hello = collector__handle_hello,
				.on_batch = collector__handle_batch },
			.max_conns = cfg.col_max_connections,
			.max_frame = cfg.col_max_frame_bytes,
			.durable_fd = store__durable_fd(st),
		};

		/* ACKs wait for the store's syncs (none: durable at commit) */
		if (scfg.durable_fd >= 0)
			scfg.cb.durable = collector__durable;

		ret = server__new(&srv, &scfg, err, sizeof(err));
		if (ret) {
			log_warnx("collector: %s", err);
			goto out;
		}
	}
	g_srv = srv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_info("collector: listening on %s (port %u), database %s, keystore %s",
		 cfg.col_listen, server__port(srv), cfg.col_database, cfg.col_keystore_dir);

	next_retention = mono_ms();
	next_flush = mono_ms() + FLUSH_INTERVAL_MS;
	rc = 0;
	while (!atomic_load(&g_stop)) {
		uint64_t now = mono_ms();
		int timeout = more ? 0 : next_retention > now ? (int)(next_retention - now) : 0;

		if (timeout > (int)FLUSH_INTERVAL_MS)
			timeout = FLUSH_INTERVAL_MS;
		ret = server__run_once(srv, timeout);
		if (ret == -ESHUTDOWN)
			break;
		if (ret < 0) {
			log_warnx("collector: event loop: %s", strerror(-ret));
			rc = 1;
			break;
		}
		count_server_rejections(srv, st, seen);
		now = mono_ms();
		if (more || now >= next_retention) {
			run_retention(st, &more);
			next_retention = now + cfg.col_retention_interval_ms;
		}
		if (st->npending && now >= next_flush) {
			if (store__flush(st, err, sizeof(err)))
				log_warnx("collector: %s", err);
			next_flush = now + FLUSH_INTERVAL_MS;
		}
	}
	count_server_rejections(srv, st, seen);
	log_info("collector: stopping: %" PRIu64 " batches stored (%" PRIu64 " events), %" PRIu64
		 " duplicates, %" PRIu64 " rejected, %" PRIu64 " not judged",
		 col->batches, col->events, col->duplicates, col->rejected, col->failed);
	log_wal(srv, st);
out:
	g_srv = NULL;
	server__free(srv);
	if (st && store__flush(st, err, sizeof(err)))
		log_warnx("collector: %s", err);
	store__close(st);
	collector__free(col);
	keystore__close(ks);
	SSL_CTX_free(tls);
	config__free(&cfg);
	batch_thread_free();
	return rc;
}
