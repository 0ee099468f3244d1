#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ship/blocks.h"
#include "enrich/dns.h"
#include "lib/utf8.h"
#include "model/fields.h"
#include "output/json.h"

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

static void buf_restore(struct buf *b, size_t len, bool toobig)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
	b->toobig = toobig;
}

/* The inside of a JSON string, without quotes. Runs of bytes that need no
 * escaping are appended in one go. */
/* 1 for bytes that go out as they are: printable ASCII but '"' and '\\'.
 * Escaping is the hottest loop of the agent (a process event is ~3 KiB of
 * JSON), so the common byte costs one table load. */
static const unsigned char json_plain[256] = {
	[0x20 ... 0x21] = 1,	/* '"' is 0x22 */
	[0x23 ... 0x5b] = 1,	/* '\\' is 0x5c */
	[0x5d ... 0x7f] = 1,
};

static int escape_body(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
	char esc[8];
	int err;

	while (p < end) {
		unsigned char c = *p;
		const char *rep;
		size_t n;

		if (json_plain[c]) {
			p++;
			while (p < end && json_plain[*p])
				p++;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq_len(p, (size_t)(end - p));
			if (n) {
				p += n;
				continue;
			}
		}
		err = buf__add(b, run, (size_t)(p - run));
		if (err)
			return err;
		switch (c) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				rep = esc;
			} else {
				rep = replacement;
			}
		}
		err = buf__adds(b, rep);
		if (err)
			return err;
		run = ++p;
	}
	return buf__add(b, run, (size_t)(p - run));
}

int json__escape(struct buf *b, const char *s, size_t len)
{
	size_t start = b->len;
	bool toobig = b->toobig;
	int err;

	if (!s)
		return buf__add(b, "null", 4);
	err = buf__addc(b, '"');
	if (!err)
		err = escape_body(b, s, len);
	if (!err)
		err = buf__addc(b, '"');
	if (err)
		buf_restore(b, start, toobig);
	return err;
}

int json__format_time(char *out, size_t outlen, uint64_t real_ns)
{
	/* gmtime_r + printf per event showed in profiles; events of the same
	 * second share the calendar part. */
	static __thread time_t cached_sec = -1;
	static __thread char cached[64];	/* "YYYY-MM-DDTHH:MM:SS" */
	time_t sec = (time_t)(real_ns / 1000000000u);
	unsigned ns = (unsigned)(real_ns % 1000000000u);

	if (outlen < JSON_TIME_LEN)
		return -E2BIG;
	if (sec != cached_sec) {
		struct tm tm;

		if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 > 9999)
			return -ERANGE;
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		cached_sec = sec;
	}
	memcpy(out, cached, 19);
	out[19] = '.';
	for (int i = 28; i >= 20; i--) {
		out[i] = (char)('0' + ns % 10);
		ns /= 10;
	}
	memcpy(out + 29, "+00:00", 7);
	return 0;
}

const char *json__signal_name(int sig, char *tmp, size_t tmplen)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(tmp, tmplen, "SIG%s", abbrev);
	else if (sig == SIGRTMIN)
		snprintf(tmp, tmplen, "SIGRTMIN");
	else if (sig > SIGRTMIN && sig <= SIGRTMAX)
		snprintf(tmp, tmplen, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		return NULL;
	return tmp;
}

/* The writer keeps the first error and turns every later call into a no-op,
 * so the envelope code reads as the envelope. */
struct jw {
	struct buf *b;
	int err;
};

/* The small writers are inlined so that the length of a literal key or
 * value is a constant at the call site. */
#define JW_INLINE static inline __attribute__((always_inline))

JW_INLINE void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (!w->err)
		w->err = buf__add(w->b, s, n);
}

JW_INLINE void jw_lit(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}

/* n lowercase hex digits of v, most significant first */
static void hex_digits(char *out, uint64_t v, int n)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = n - 1; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 0xf];
}

static void jw_str(struct jw *w, const char *s)
{
	if (!w->err)
		w->err = json__escape(w->b, s, s ? strlen(s) : 0);
}

/* Decimal digits without printf: numbers are a third of an event's members. */
static void jw_uint(struct jw *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jw_raw(w, d + i, sizeof(d) - i);
}

static void jw_int(struct jw *w, int64_t v)
{
	if (v < 0) {
		jw_raw(w, "-", 1);
		jw_uint(w, (uint64_t)0 - (uint64_t)v);
	} else {
		jw_uint(w, (uint64_t)v);
	}
}

/* Starts a member: comma unless it is the first of its object. */
/* Keys are this program's own identifiers (field table, envelope names):
 * plain ASCII that needs no escaping (test_json checks every field name). */
JW_INLINE void jw_key(struct jw *w, int *n, const char *key)
{
	char tmp[128];
	size_t len = strlen(key), o = 0;

	if (len > sizeof(tmp) - 4) {
		if ((*n)++)
			jw_raw(w, ",", 1);
		jw_str(w, key);
		jw_raw(w, ":", 1);
		return;
	}
	if ((*n)++)
		tmp[o++] = ',';
	tmp[o++] = '"';
	memcpy(tmp + o, key, len);
	o += len;
	tmp[o++] = '"';
	tmp[o++] = ':';
	jw_raw(w, tmp, o);
}

/* A member that is a number when present and null otherwise. */
JW_INLINE void jw_uint_if(struct jw *w, int *n, const char *key, bool present, uint64_t v)
{
	jw_key(w, n, key);
	if (present)
		jw_uint(w, v);
	else
		jw_lit(w, "null");
}

JW_INLINE void jw_int_if(struct jw *w, int *n, const char *key, bool present, int64_t v)
{
	jw_key(w, n, key);
	if (present)
		jw_int(w, v);
	else
		jw_lit(w, "null");
}

/* errno and its name for a failed call (ret = -errno), nulls otherwise. */
static void jw_errno(struct jw *w, int *n, const char *errno_key, const char *name_key,
		     bool failed, int64_t ret)
{
	jw_int_if(w, n, errno_key, failed, -ret);
	jw_key(w, n, name_key);
	if (failed)
		jw_str(w, strerrorname_np((int)-ret));
	else
		jw_lit(w, "null");
}

/* A device in the kernel's encoding as "major:minor", null when unknown. */
static void jw_dev(struct jw *w, int *n, const char *key, uint32_t dev)
{
	char tmp[24];

	jw_key(w, n, key);
	if (dev) {
		snprintf(tmp, sizeof(tmp), "%u:%u", dev >> 20, dev & 0xfffff);
		jw_str(w, tmp);
	} else {
		jw_lit(w, "null");
	}
}

static void jw_time(struct jw *w, uint64_t real_ns)
{
	char t[JSON_TIME_LEN];

	if (json__format_time(t, sizeof(t), real_ns))
		jw_lit(w, "null");
	else
		jw_str(w, t);
}

/* argv two ways: as a JSON array of strings (array), or as one
 * string with the arguments joined by spaces. */
static void jw_args(struct jw *w, const struct field_value *v, bool array)
{
	const char *item;
	size_t pos = 0, n, i = 0;

	jw_raw(w, array ? "[" : "\"", 1);
	while (field__list_next(v->s, v->len, &pos, &item, &n)) {
		if (i++)
			jw_raw(w, array ? "," : " ", 1);
		if (!w->err)
			w->err = array ? json__escape(w->b, item, n) : escape_body(w->b, item, n);
	}
	jw_raw(w, array ? "]" : "\"", 1);
}

/* NAME=value entries become members; an entry without '=' has a null value
 * and empty entries are skipped. Duplicate names are kept in order, as the
 * process saw them. */
static void jw_env(struct jw *w, const struct field_value *v)
{
	const char *item, *eq;
	size_t pos = 0, n;
	int members = 0;

	jw_raw(w, "{", 1);
	while (field__list_next(v->s, v->len, &pos, &item, &n)) {
		if (!n)
			continue;
		if (members++)
			jw_raw(w, ",", 1);
		eq = memchr(item, '=', n);
		if (!w->err)
			w->err = json__escape(w->b, item, eq ? (size_t)(eq - item) : n);
		jw_raw(w, ":", 1);
		if (!eq)
			jw_lit(w, "null");
		else if (!w->err)
			w->err = json__escape(w->b, eq + 1, n - (size_t)(eq - item) - 1);
	}
	jw_raw(w, "}", 1);
}

static void jw_proc(struct jw *w, const struct proc_info *p, int64_t boot_to_real_ns)
{
	const struct field_desc *fields;
	struct field_value v;
	unsigned count;
	int n = 0;

	if (!p) {
		jw_lit(w, "null");
		return;
	}
	if (p->json_block) {
		jw_raw(w, p->json_block, p->json_block_len);
		return;
	}
	fields = proc_fields(&count);
	jw_raw(w, "{", 1);
	for (unsigned i = 0; i < count; i++) {
		field__get(&fields[i], p, boot_to_real_ns, &v);
		if (v.tag == FV_ABSENT)
			continue;
		jw_key(w, &n, fields[i].name);
		switch (v.tag) {
		case FV_ABSENT:
		case FV_NULL: jw_lit(w, "null"); break;
		case FV_UINT: jw_uint(w, v.u); break;
		case FV_BOOL: jw_lit(w, v.u ? "true" : "false"); break;
		case FV_STR:
			if (!w->err)
				w->err = json__escape(w->b, v.s, v.len);
			break;
		case FV_TIME: jw_time(w, v.u); break;
		case FV_CMDLINE: jw_args(w, &v, false); break;
		case FV_LIST: jw_args(w, &v, true); break;
		case FV_ENV: jw_env(w, &v); break;
		}
	}
	jw_raw(w, "}", 1);
}

/* The members of the header that are the same in every message of this
 * agent, rendered once: ctx->json_head opens the header object, json_tail
 * closes it. 0 or -ENOMEM. */
static int render_constant_header(struct output_ctx *ctx)
{
	struct buf b;
	struct jw w = { .b = &b };
	int n = 0, h = 0;

	buf__init(&b, 64 * 1024);
	jw_raw(&w, "{", 1);
	jw_key(&w, &n, "vendor_name");
	jw_str(&w, ctx->vendor_name);
	jw_key(&w, &n, "product_name");
	jw_str(&w, ctx->product_name);
	jw_key(&w, &n, "product_version");
	jw_str(&w, ctx->product_version);
	if (w.err)
		goto fail;
	ctx->json_head = b.data;
	ctx->json_head_len = b.len;
	buf__init(&b, 64 * 1024);
	jw_key(&w, &n, "message_timezone");
	jw_str(&w, ctx->timezone);
	jw_key(&w, &n, "user_data");
	jw_str(&w, ctx->user_data);
	jw_key(&w, &n, "host_information");
	ctx->json_host_off = b.len;
	jw_raw(&w, "{", 1);
	jw_key(&w, &h, "hostname");
	jw_str(&w, ctx->hostname);
	jw_key(&w, &h, "device_id");
	jw_str(&w, ctx->device_id);
	jw_key(&w, &h, "org_id");
	jw_str(&w, ctx->org_id);
	jw_key(&w, &h, "machine_id");
	jw_str(&w, ctx->machine_id);
	jw_key(&w, &h, "boot_uuid");
	jw_str(&w, ctx->boot_uuid);
	jw_key(&w, &h, "os_name");
	jw_str(&w, ctx->os_name);
	jw_key(&w, &h, "os_version");
	jw_str(&w, ctx->os_version);
	jw_key(&w, &h, "agent_instance_id");
	jw_str(&w, ctx->instance_hex);
	jw_raw(&w, "}}", 2);
	if (w.err) {
		free(ctx->json_head);
		ctx->json_head = NULL;
		goto fail;
	}
	ctx->json_tail = b.data;
	ctx->json_tail_len = b.len;
	ctx->json_host_len = b.len - 1 - ctx->json_host_off;	/* the last '}' closes the header */
	return 0;
fail:
	buf__free(&b);
	return -ENOMEM;
}

static void jw_header(struct jw *w, const struct event *ev, const struct event_type_info *ti,
		      struct output_ctx *ctx)
{
	char id[OUTPUT_MSG_ID_LEN + 1];
	int n = 0;

	if (!ctx->json_head && render_constant_header(ctx)) {
		w->err = -ENOMEM;
		return;
	}
	output_ctx__next_message_id(ctx, id);
	jw_raw(w, ctx->json_head, ctx->json_head_len);
	n = 3;
	jw_key(w, &n, "message_type");
	jw_str(w, msg_type_name(ti->msg_type));
	jw_key(w, &n, "severity");
	jw_str(w, severity_name(ti->severity));
	jw_key(w, &n, "schema_version");
	jw_str(w, ctx->schema_version);
	jw_key(w, &n, "message_id");
	jw_str(w, id);
	jw_key(w, &n, "occurred_message_time_iso_8601_ns");
	jw_time(w, ev->time_ns);
	jw_key(w, &n, "occurred_message_time_ns");
	jw_uint(w, ev->time_ns);
	jw_raw(w, ctx->json_tail, ctx->json_tail_len);
}

static void jw_exit(struct jw *w, const struct event *ev)
{
	char tmp[24];
	const char *sig = ev->exit_signal > 0 ?
			  json__signal_name(ev->exit_signal, tmp, sizeof(tmp)) : NULL;
	int n = 0;

	jw_raw(w, "{", 1);
	jw_key(w, &n, "exit_code");
	if (ev->exit_signal > 0)
		jw_lit(w, "null");	/* killed: there is no exit code */
	else
		jw_int(w, ev->exit_code);
	jw_int_if(w, &n, "exit_signal", ev->exit_signal > 0, ev->exit_signal);
	jw_key(w, &n, "exit_signal_name");
	jw_str(w, sig);
	jw_key(w, &n, "core_dumped");
	jw_lit(w, ev->core_dumped ? "true" : "false");
	jw_raw(w, "}", 1);
}

static void jw_system(struct jw *w, const struct event *ev)
{
	unsigned nkv = ev->nkv < EVENT_MAX_KV ? ev->nkv : EVENT_MAX_KV;
	int n = 0;

	jw_raw(w, "{", 1);
	jw_key(w, &n, "message");
	jw_str(w, ev->message);
	for (unsigned i = 0; i < nkv; i++) {
		const struct event_kv *kv = &ev->kv[i];

		if (!kv->key)
			continue;
		jw_key(w, &n, kv->key);
		if (kv->str)
			jw_str(w, kv->str);
		else
			jw_int(w, kv->num);
	}
	jw_raw(w, "}", 1);
}

/* Open flag names (x86/arm64 generic values, as in asm-generic/fcntl.h). */
static const struct {
	uint64_t bit;
	const char *name;
} open_flag_names[] = {
	{ 0100, "O_CREAT" },	{ 0200, "O_EXCL" },	  { 0400, "O_NOCTTY" },
	{ 01000, "O_TRUNC" },	{ 02000, "O_APPEND" },	  { 04000, "O_NONBLOCK" },
	{ 010000, "O_DSYNC" },	{ 020000, "O_ASYNC" },	  { 040000, "O_DIRECT" },
	{ 0200000, "O_DIRECTORY" }, { 0400000, "O_NOFOLLOW" }, { 01000000, "O_NOATIME" },
	{ 02000000, "O_CLOEXEC" }, { 04000000, "O_SYNC" }, { 010000000, "O_PATH" },
	{ 020000000, "O_TMPFILE" },
};

static void jw_open_flags(struct jw *w, uint64_t flags)
{
	static const char *const acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };

	jw_raw(w, "[", 1);
	jw_str(w, acc[flags & 3]);
	for (size_t i = 0; i < sizeof(open_flag_names) / sizeof(open_flag_names[0]); i++) {
		/* O_TMPFILE includes O_DIRECTORY; O_SYNC includes O_DSYNC */
		if ((flags & open_flag_names[i].bit) == open_flag_names[i].bit) {
			jw_raw(w, ",", 1);
			jw_str(w, open_flag_names[i].name);
		}
	}
	jw_raw(w, "]", 1);
}

JW_INLINE void jw_opt_str(struct jw *w, int *n, const char *key, const char *val)
{
	jw_key(w, n, key);
	jw_str(w, val);
}

static void jw_file(struct jw *w, const struct file_op *f)
{
	char tmp[32];
	int n = 0;
	bool ok = f->ret >= 0;

	jw_raw(w, "{", 1);
	jw_opt_str(w, &n, "file_operation", f->syscall);
	if (f->kind == FILE_OP_SYMLINK) {
		jw_opt_str(w, &n, "file_path", f->path2);
		jw_opt_str(w, &n, "file_new_path", NULL);
		jw_opt_str(w, &n, "file_symlink_target", f->path);
	} else {
		jw_opt_str(w, &n, "file_path", f->path);
		jw_opt_str(w, &n, "file_new_path", f->path2);
		jw_opt_str(w, &n, "file_symlink_target", NULL);
	}
	jw_key(w, &n, "file_path_truncated");
	jw_lit(w, f->path_truncated ? "true" : "false");
	jw_opt_str(w, &n, "file_result", ok ? "success" : "failure");
	jw_errno(w, &n, "file_errno", "file_error_name", !ok, f->ret);
	jw_key(w, &n, "file_descriptor");
	if (f->kind == FILE_OP_OPEN && ok)
		jw_int(w, f->ret);
	else if (f->kind == FILE_OP_CLOSE_WRITTEN)
		jw_uint(w, f->flags);
	else
		jw_lit(w, "null");
	jw_key(w, &n, "file_open_flags");
	if (f->kind == FILE_OP_OPEN) {
		jw_uint(w, f->flags);
		jw_key(w, &n, "file_open_flag_names");
		jw_open_flags(w, f->flags);
		jw_key(w, &n, "file_opened_for_write");
		jw_lit(w, (f->flags & 3) ? "true" : "false");
		jw_key(w, &n, "file_created");
		jw_lit(w, f->created ? "true" : "false");
	} else {
		jw_lit(w, "null");
		jw_key(w, &n, "file_open_flag_names");
		jw_lit(w, "null");
		jw_key(w, &n, "file_opened_for_write");
		jw_lit(w, "null");
		jw_key(w, &n, "file_created");
		jw_lit(w, "null");
	}
	jw_key(w, &n, "file_mode");
	if (f->has_mode) {
		snprintf(tmp, sizeof(tmp), "%04o", f->mode & 07777);
		jw_str(w, tmp);
	} else {
		jw_lit(w, "null");
	}
	jw_uint_if(w, &n, "file_owner_uid", f->kind == FILE_OP_CHOWN && f->uid != 0xffffffffu,
		   f->uid);
	jw_uint_if(w, &n, "file_owner_gid", f->kind == FILE_OP_CHOWN && f->gid != 0xffffffffu,
		   f->gid);
	jw_int_if(w, &n, "file_truncate_length", f->has_length, f->length);
	jw_uint_if(w, &n, "file_syscall_flags",
		   f->kind != FILE_OP_OPEN && f->kind != FILE_OP_CLOSE_WRITTEN && f->flags, f->flags);
	jw_uint_if(w, &n, "file_inode", f->ino, f->ino);
	jw_dev(w, &n, "file_device", f->dev);
	/* content change: the file after the close */
	bool hashed = f->hash && f->hash->status == HASH_OK;

	jw_opt_str(w, &n, "file_hash_status", f->hash ? hash_status_name(f->hash->status) : NULL);
	jw_opt_str(w, &n, "file_hash_sha256", hashed ? f->hash->sha256 : NULL);
	jw_opt_str(w, &n, "file_hash_sha1", hashed ? f->hash->sha1 : NULL);
	jw_opt_str(w, &n, "file_hash_md5", hashed ? f->hash->md5 : NULL);
	jw_uint_if(w, &n, "file_size_bytes", f->hash && f->hash->size, f->hash ? f->hash->size : 0);
	jw_raw(w, "}", 1);
}

JW_INLINE void jw_id_or_null(struct jw *w, int *n, const char *key, uint32_t id)
{
	jw_key(w, n, key);
	if (id == 0xffffffffu)
		jw_lit(w, "null");
	else
		jw_uint(w, id);
}

static void jw_ids(struct jw *w, const struct identity_ids *ids)
{
	int n = 0;

	jw_raw(w, "{", 1);
	jw_id_or_null(w, &n, "real", ids->real);
	jw_id_or_null(w, &n, "effective", ids->effective);
	jw_id_or_null(w, &n, "saved", ids->saved);
	jw_id_or_null(w, &n, "fs", ids->fs);
	jw_raw(w, "}", 1);
}

static void jw_hex64(struct jw *w, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "0x%016llx", (unsigned long long)v);
	jw_str(w, tmp);
}

static void jw_identity(struct jw *w, const struct identity_op *op)
{
	static const char *const kinds[] = { "?", "user", "group", "capabilities" };
	bool caps = op->kind == IDENTITY_CAPABILITIES;
	int n = 0;

	jw_raw(w, "{", 1);
	jw_opt_str(w, &n, "identity_operation", op->syscall);
	jw_opt_str(w, &n, "identity_kind", kinds[op->kind <= IDENTITY_CAPABILITIES ? op->kind : 0]);
	jw_opt_str(w, &n, "identity_result", op->ret == 0 ? "success" : "failure");
	jw_errno(w, &n, "identity_errno", "identity_error_name", op->ret != 0, op->ret);
	jw_key(w, &n, "identity_requested");
	jw_raw(w, "[", 1);
	for (unsigned i = 0; i < op->nrequested && i < 3; i++) {
		if (i)
			jw_raw(w, ",", 1);
		if (op->requested[i] == 0xffffffffu)
			jw_lit(w, "null");
		else
			jw_uint(w, op->requested[i]);
	}
	jw_raw(w, "]", 1);
	jw_key(w, &n, "identity_from");
	if (caps)
		jw_lit(w, "null");
	else
		jw_ids(w, &op->from);
	jw_key(w, &n, "identity_to");
	if (caps)
		jw_lit(w, "null");
	else
		jw_ids(w, &op->to);
	jw_key(w, &n, "identity_capabilities");
	if (caps) {
		int c = 0;

		jw_raw(w, "{", 1);
		jw_key(w, &c, "effective");
		jw_hex64(w, op->cap_effective);
		jw_key(w, &c, "permitted");
		jw_hex64(w, op->cap_permitted);
		jw_key(w, &c, "inheritable");
		jw_hex64(w, op->cap_inheritable);
		jw_raw(w, "}", 1);
	} else {
		jw_lit(w, "null");
	}
	jw_raw(w, "}", 1);
}

static void jw_prot(struct jw *w, uint32_t prot)
{
	static const char *const names[] = { "PROT_READ", "PROT_WRITE", "PROT_EXEC" };
	int k = 0;

	jw_raw(w, "[", 1);
	for (unsigned i = 0; i < 3; i++) {
		if (!(prot & (1u << i)))
			continue;
		if (k++)
			jw_raw(w, ",", 1);
		jw_str(w, names[i]);
	}
	jw_raw(w, "]", 1);
}

static void jw_memory(struct jw *w, const struct mem_op *m)
{
	char tmp[32];
	int n = 0;
	bool ok = m->ret >= 0;
	bool memfd = m->kind == MEM_OP_MEMFD;

	jw_raw(w, "{", 1);
	jw_opt_str(w, &n, "memory_operation", m->syscall);
	jw_opt_str(w, &n, "memory_result", ok ? "success" : "failure");
	jw_errno(w, &n, "memory_errno", "memory_error_name", !ok, m->ret);
	jw_key(w, &n, "memory_address");
	if (memfd) {
		jw_lit(w, "null");
	} else {
		snprintf(tmp, sizeof(tmp), "0x%llx", (unsigned long long)m->addr);
		jw_str(w, tmp);
	}
	jw_key(w, &n, "memory_length");
	if (memfd)
		jw_lit(w, "null");
	else
		jw_uint(w, m->len);
	jw_key(w, &n, "memory_protection");
	if (memfd)
		jw_lit(w, "null");
	else
		jw_prot(w, m->prot);
	jw_key(w, &n, "memory_writable_and_executable");
	jw_lit(w, !memfd && m->writable ? "true" : "false");
	jw_key(w, &n, "memory_anonymous");
	jw_lit(w, m->anonymous ? "true" : "false");
	jw_opt_str(w, &n, "memory_file_path", memfd ? NULL : m->path);
	jw_opt_str(w, &n, "memory_memfd_name", memfd ? m->path : NULL);
	jw_int_if(w, &n, "memory_fd", memfd && ok && m->fd >= 0, m->fd);
	jw_key(w, &n, "memory_suppressed_count");
	jw_uint(w, m->suppressed);
	jw_raw(w, "}", 1);
}

static void jw_library(struct jw *w, const struct library_op *l)
{
	char tmp[32];
	int n = 0;
	bool ok = l->hash.status == HASH_OK;

	jw_raw(w, "{", 1);
	jw_opt_str(w, &n, "library_path", l->path);
	jw_opt_str(w, &n, "library_language", l->language);
	jw_opt_str(w, &n, "library_hash_sha256", ok ? l->hash.sha256 : NULL);
	jw_opt_str(w, &n, "library_hash_status", hash_status_name(l->hash.status));
	jw_uint_if(w, &n, "library_size_bytes", l->hash.size, l->hash.size);
	jw_uint_if(w, &n, "library_inode", l->ino, l->ino);
	jw_dev(w, &n, "library_device", l->dev);
	jw_key(w, &n, "library_mapped_address");
	if (l->addr) {
		snprintf(tmp, sizeof(tmp), "0x%llx", (unsigned long long)l->addr);
		jw_str(w, tmp);
	} else {
		jw_lit(w, "null");
	}
	jw_opt_str(w, &n, "library_package", l->package);
	jw_opt_str(w, &n, "library_package_version", l->package_version);
	jw_raw(w, "}", 1);
}

JW_INLINE void jw_bool_or_null(struct jw *w, int *n, const char *key, bool has, bool v)
{
	jw_key(w, n, key);
	jw_lit(w, !has ? "null" : v ? "true" : "false");
}

static void jw_id_hex(struct jw *w, int *n, const char *key, uint64_t id)
{
	char tmp[24];

	jw_key(w, n, key);
	if (!id) {
		jw_lit(w, "null");
		return;
	}
	tmp[0] = '"';
	hex_digits(tmp + 1, id, 16);
	tmp[17] = '"';
	jw_raw(w, tmp, 18);
}

static void jw_time_or_null(struct jw *w, int *n, const char *key, uint64_t real_ns)
{
	jw_key(w, n, key);
	if (real_ns)
		jw_time(w, real_ns);
	else
		jw_lit(w, "null");
}

static void jw_network(struct jw *w, const struct event *ev)
{
	const struct net_op *op = ev->net;
	bool lifecycle = op->kind >= NET_OP_TCP_CREATED;
	bool is_unix = op->family && strcmp(op->family, "AF_UNIX") == 0;
	bool stats = op->has_tcp_stats;
	int n = 0;

	jw_raw(w, "{", 1);
	jw_opt_str(w, &n, "network_operation", lifecycle ? "tcp_state_change" : op->syscall);
	jw_key(w, &n, "network_result");
	if (lifecycle)
		jw_lit(w, "null");
	else
		jw_str(w, op->ret >= 0 ? "success" : op->ret == -EINPROGRESS ? "in_progress"
									: "failure");
	jw_errno(w, &n, "network_errno", "network_error_name", !lifecycle && op->ret < 0, op->ret);
	jw_uint_if(w, &n, "network_file_descriptor", op->fd >= 0, (uint64_t)op->fd);
	jw_opt_str(w, &n, "network_family", op->family);
	jw_opt_str(w, &n, "network_socket_type", op->socket_type);
	jw_opt_str(w, &n, "network_protocol", op->protocol);
	jw_opt_str(w, &n, "network_local_address", op->local_address);
	jw_uint_if(w, &n, "network_local_port", op->has_local_port, op->local_port);
	jw_bool_or_null(w, &n, "network_local_abstract", is_unix && op->local_address,
			op->local_abstract);
	jw_opt_str(w, &n, "network_remote_address", op->remote_address);
	jw_uint_if(w, &n, "network_remote_port", op->has_remote_port, op->remote_port);
	jw_bool_or_null(w, &n, "network_remote_abstract", is_unix && op->remote_address,
			op->remote_abstract);
	jw_uint_if(w, &n, "network_listen_backlog", op->has_backlog, op->backlog);
	jw_id_hex(w, &n, "network_socket_id", op->socket_id);
	jw_opt_str(w, &n, "network_direction", op->direction);
	jw_opt_str(w, &n, "tcp_connection_state", op->tcp_new_state);
	jw_opt_str(w, &n, "tcp_previous_state", op->tcp_old_state);
	jw_uint_if(w, &n, "tcp_bytes_in", stats, op->bytes_in);
	jw_uint_if(w, &n, "tcp_bytes_out", stats, op->bytes_out);
	jw_uint_if(w, &n, "tcp_segments_in", stats, op->segs_in);
	jw_uint_if(w, &n, "tcp_segments_out", stats, op->segs_out);
	jw_uint_if(w, &n, "tcp_data_segments_in", stats, op->data_segs_in);
	jw_uint_if(w, &n, "tcp_data_segments_out", stats, op->data_segs_out);
	/* payload bytes per data-carrying segment (pure ACKs would drag the
	 * average towards 0 and say nothing about the traffic) */
	jw_uint_if(w, &n, "tcp_average_bytes_in", stats && op->data_segs_in,
			op->data_segs_in ? op->bytes_in / op->data_segs_in : 0);
	jw_uint_if(w, &n, "tcp_average_bytes_out", stats && op->data_segs_out,
			op->data_segs_out ? op->bytes_out / op->data_segs_out : 0);
	jw_time_or_null(w, &n, "tcp_connection_creation_time_iso_8601_ns", op->created_real_ns);
	jw_uint_if(w, &n, "tcp_connection_creation_time_ns", op->created_real_ns != 0,
			op->created_real_ns);
	jw_time_or_null(w, &n, "tcp_connection_termination_time_iso_8601_ns",
			op->kind == NET_OP_TCP_TERMINATED ? ev->time_ns : 0);
	jw_uint_if(w, &n, "tcp_connection_overall_duration_ns", op->has_duration,
			op->duration_ns);
	jw_raw(w, "}", 1);
}

static void jw_dns(struct jw *w, const struct dns_op *op)
{
	const struct dns_message *m = op->msg;
	bool hdr = op->header_valid && m;
	char tmp[DNS_TYPE_NAME_LEN];
	unsigned nq = hdr ? m->qdcount : 0, na = hdr && op->answer ? m->ancount : 0;
	int n = 0;

	if (nq > DNS_MAX_QUESTIONS)
		nq = DNS_MAX_QUESTIONS;
	if (na > DNS_MAX_ANSWERS)
		na = DNS_MAX_ANSWERS;
	jw_raw(w, "{", 1);
	jw_opt_str(w, &n, "dns_operation", op->syscall);
	jw_opt_str(w, &n, "dns_protocol", op->protocol);
	jw_opt_str(w, &n, "dns_resolver_address", op->resolver_address);
	jw_uint_if(w, &n, "dns_resolver_port", op->has_resolver_port, op->resolver_port);
	jw_id_hex(w, &n, "dns_socket_id", op->socket_id);
	jw_uint_if(w, &n, "dns_transaction_id", hdr, hdr ? m->id : 0);
	jw_uint_if(w, &n, "dns_opcode", hdr, hdr ? m->opcode : 0);
	jw_bool_or_null(w, &n, "dns_is_response", hdr, hdr && m->response);
	jw_bool_or_null(w, &n, "dns_truncated", hdr, hdr && m->truncated);
	jw_opt_str(w, &n, "dns_response_code",
		   hdr && op->answer ? dns__rcode_name(m->rcode) : NULL);
	jw_uint_if(w, &n, "dns_question_count", hdr, hdr ? m->qd_total : 0);
	jw_uint_if(w, &n, "dns_answer_count", hdr, hdr ? m->an_total : 0);
	jw_key(w, &n, "dns_query_names");
	jw_raw(w, "[", 1);
	for (unsigned i = 0; i < nq; i++) {
		if (i)
			jw_raw(w, ",", 1);
		jw_str(w, m->q[i].name);
	}
	jw_raw(w, "]", 1);
	jw_key(w, &n, "dns_questions");
	jw_raw(w, "[", 1);
	for (unsigned i = 0; i < nq; i++) {
		int q = 0;

		jw_raw(w, i ? ",{" : "{", i ? 2 : 1);
		jw_opt_str(w, &q, "name", m->q[i].name);
		jw_opt_str(w, &q, "type", dns__type_name(m->q[i].qtype, tmp, sizeof(tmp)));
		jw_key(w, &q, "class");
		jw_uint(w, m->q[i].qclass);
		jw_raw(w, "}", 1);
	}
	jw_raw(w, "]", 1);
	jw_key(w, &n, "dns_answers");
	jw_raw(w, "[", 1);
	for (unsigned i = 0; i < na; i++) {
		const struct dns_answer *a = &m->an[i];
		int q = 0;

		jw_raw(w, i ? ",{" : "{", i ? 2 : 1);
		jw_opt_str(w, &q, "name", a->name);
		jw_opt_str(w, &q, "type", dns__type_name(a->type, tmp, sizeof(tmp)));
		jw_key(w, &q, "class");
		jw_uint(w, a->class);
		jw_key(w, &q, "ttl");
		jw_uint(w, a->ttl);
		jw_opt_str(w, &q, "data", a->data[0] ? a->data : NULL);
		jw_raw(w, "}", 1);
	}
	jw_raw(w, "]", 1);
	jw_key(w, &n, "dns_payload_bytes");
	jw_uint(w, op->payload_bytes);
	jw_key(w, &n, "dns_payload_truncated");
	jw_lit(w, op->payload_truncated ? "true" : "false");
	jw_opt_str(w, &n, "dns_parse_error", op->parse_error);
	jw_raw(w, "}", 1);
}

/* Records a block's place in the line for the shipper, which sends each
 * distinct block once per batch (ship/blocks.h). */
static void block_span(struct line_blocks *bl, size_t off, size_t len)
{
	if (bl && bl->n < BLOCKS_MAX_SPANS && off <= UINT32_MAX && len <= UINT32_MAX) {
		bl->off[bl->n] = (uint32_t)off;
		bl->len[bl->n++] = (uint32_t)len;
	}
}

int json__write_proc(struct buf *out, const struct proc_info *p, int64_t boot_to_real_ns)
{
	size_t start = out->len;
	bool toobig = out->toobig;
	struct jw w = { .b = out };

	jw_proc(&w, p, boot_to_real_ns);
	if (w.err)
		buf_restore(out, start, toobig);
	return w.err;
}

int json__write_event(struct buf *out, const struct event *ev, struct output_ctx *ctx)
{
	return json__write_event_blocks(out, ev, ctx, NULL);
}

int json__write_event_blocks(struct buf *out, const struct event *ev, struct output_ctx *ctx,
			     struct line_blocks *bl)
{
	const struct event_type_info *ti = event_type__info(ev->type);
	size_t start = out->len;
	bool toobig = out->toobig;
	struct jw w = { .b = out, .err = 0 };
	bool is_process, is_thread;
	int n = 0;

	if (bl)
		bl->n = 0;
	if (!ti)
		return -EINVAL;
	is_process = strcmp(ti->family, "process") == 0;
	is_thread = strcmp(ti->family, "thread") == 0;
	if ((is_process || is_thread) && !ev->proc)
		return -EINVAL;
	if (strcmp(ti->family, "file") == 0 && (!ev->file || !ev->proc))
		return -EINVAL;
	if (strcmp(ti->family, "identity") == 0 && (!ev->identity || !ev->proc))
		return -EINVAL;
	if (strcmp(ti->family, "memory") == 0 && (!ev->mem || !ev->proc))
		return -EINVAL;
	if (strcmp(ti->family, "library") == 0 && (!ev->library || !ev->proc))
		return -EINVAL;
	if (strcmp(ti->family, "network") == 0 && (!ev->net || !ev->proc))
		return -EINVAL;
	if (strcmp(ti->family, "dns") == 0 && (!ev->dns || !ev->proc))
		return -EINVAL;

	jw_raw(&w, "{\"message_header\":", 18);
	jw_header(&w, ev, ti, ctx);
	if (!w.err)	/* the same for every line of this agent: shared first */
		block_span(bl, out->len - start - ctx->json_tail_len + ctx->json_host_off,
			   ctx->json_host_len);
	jw_raw(&w, ",\"activity_data\":{", 18);
	jw_key(&w, &n, "name");
	jw_str(&w, ti->name);
	jw_key(&w, &n, "event_type_id");
	jw_uint(&w, (uint64_t)ti->type);
	jw_key(&w, &n, "family");
	jw_str(&w, ti->family);

	if (is_thread) {
		int t = 0;

		jw_key(&w, &n, "thread_details");
		jw_raw(&w, "{", 1);
		jw_key(&w, &t, "thread_id");
		jw_uint(&w, ev->thread_id);
		jw_key(&w, &t, "thread_self_exec_id");
		jw_uint(&w, ev->thread_self_exec_id);
		if (ev->type == EVT_THREAD_TERMINATED) {
			jw_key(&w, &t, "thread_exit_state");
			jw_str(&w, "exited");
		}
		jw_raw(&w, "}", 1);
	}
	if (strcmp(ti->family, "system") == 0) {
		jw_key(&w, &n, "system_details");
		jw_system(&w, ev);
	} else if (ev->proc) {
		/* Families without a writer of their own still say who did it. */
		size_t at;

		jw_key(&w, &n, "process_details");
		at = out->len;
		jw_proc(&w, ev->proc, ctx->boot_to_real_ns);
		block_span(bl, at - start, out->len - at);
		jw_key(&w, &n, "parent_process_details");
		at = out->len;
		jw_proc(&w, ev->parent, ctx->boot_to_real_ns);
		block_span(bl, at - start, out->len - at);
	}
	if (ev->type == EVT_PROCESS_TERMINATED) {
		jw_key(&w, &n, "exit_details");
		jw_exit(&w, ev);
	}
	if (strcmp(ti->family, "file") == 0) {
		jw_key(&w, &n, "file_details");
		jw_file(&w, ev->file);
	} else if (strcmp(ti->family, "identity") == 0) {
		jw_key(&w, &n, "identity_details");
		jw_identity(&w, ev->identity);
	} else if (strcmp(ti->family, "memory") == 0) {
		jw_key(&w, &n, "memory_details");
		jw_memory(&w, ev->mem);
	} else if (strcmp(ti->family, "library") == 0) {
		jw_key(&w, &n, "library_details");
		jw_library(&w, ev->library);
	} else if (strcmp(ti->family, "network") == 0) {
		jw_key(&w, &n, "network_details");
		jw_network(&w, ev);
	} else if (strcmp(ti->family, "dns") == 0) {
		jw_key(&w, &n, "dns_details");
		jw_dns(&w, ev->dns);
	}
	jw_raw(&w, "}}\n", 3);
	if (w.err)
		buf_restore(out, start, toobig);
	return w.err;
}
