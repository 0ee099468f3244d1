#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enrich/redact.h"
#include "lib/buf.h"

const char *const redact_default_patterns[] = {
	"*PASSWORD*", "*PASSWD*",     "*PASSPHRASE*", "*SECRET*",     "*TOKEN*",
	"*API_KEY*",  "*APIKEY*",     "*ACCESS_KEY*", "*PRIVATE_KEY*", "*CREDENTIAL*",
	"*_PWD",      "*SESSION_KEY*", NULL,
};

#define MARK_LEN (sizeof(REDACT_MARK) - 1)

/* Matches a NUL-terminated copy of the name; short names stay on the stack.
 * dash_as_underscore also tries the name with '-' read as '_'. */
static bool match_name(const char *name, size_t n, const struct str_list *patterns,
		       bool dash_as_underscore)
{
	char small[256], *s;
	bool hit = false, has_dash = false;
	unsigned i, count;
	size_t k;

	if (!patterns || !patterns->count || !name || n == 0)
		return false;
	if (n < sizeof(small)) {
		s = small;
	} else {
		s = malloc(n + 1);
		if (!s)
			return true;
	}
	memcpy(s, name, n);
	s[n] = '\0';
	count = patterns->count < CONFIG_MAX_LIST ? patterns->count : CONFIG_MAX_LIST;
	for (i = 0; i < count && !hit; i++) {
		if (patterns->items[i] && fnmatch(patterns->items[i], s, FNM_CASEFOLD) == 0)
			hit = true;
	}
	if (!hit && dash_as_underscore) {
		for (k = 0; k < n; k++) {
			if (s[k] == '-') {
				s[k] = '_';
				has_dash = true;
			}
		}
		for (i = 0; i < count && has_dash && !hit; i++) {
			if (patterns->items[i] && fnmatch(patterns->items[i], s, FNM_CASEFOLD) == 0)
				hit = true;
		}
	}
	if (s != small)
		free(s);
	return hit;
}

bool redact__name_is_secret(const char *name, size_t namelen, const struct str_list *patterns)
{
	return match_name(name, namelen, patterns, false);
}

/* The output under construction; the first error sticks. */
struct out {
	struct buf b;
	int err;
	int redacted;
};

static void out_add(struct out *o, const char *p, size_t n)
{
	if (!o->err)
		o->err = buf__add(&o->b, p, n);
}

static void out_mark(struct out *o)
{
	out_add(o, REDACT_MARK, MARK_LEN);
	o->redacted++;
}

/* Every rule replaces at least an empty value and its separator ("a=\0",
 * three bytes) by REDACT_MARK, so the output is below 5x the input; the cap
 * only ever bites when the result would not fit the uint32_t length. */
static int out_init(struct out *o, size_t len)
{
	size_t cap = UINT32_MAX;

	if (len < (UINT32_MAX - 64) / 5)
		cap = len * 5 + 64;
	buf__init(&o->b, cap);
	o->err = 0;
	o->redacted = 0;
	out_add(o, "", 0);	/* so an empty result is still a buffer */
	return o->err;
}

static int out_finish(struct out *o, char **out, uint32_t *outlen)
{
	if (o->err) {
		buf__free(&o->b);
		return o->err;
	}
	*out = o->b.data;
	*outlen = (uint32_t)o->b.len;
	return o->redacted;
}

static bool is_scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '.' || c == '-';
}

static bool ends_authority(char c)
{
	return c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' ||
	       c == '\r' || c == '"' || c == '\'' || c == '\0';
}

/* Copies [a, a+n) replacing the password of every "scheme://user:pass@host"
 * in it. The userinfo ends at the last '@' of the authority, as RFC 3986
 * parsers read it, so an unencoded '@' in a password is still covered. */
static void add_url_redacted(struct out *o, const char *a, size_t n)
{
	size_t i = 0, copied = 0, auth, end, at, colon, k;

	while (n >= 3 && i + 3 <= n) {
		const char *sep = memmem(a + i, n - i, "://", 3);

		if (!sep)
			break;
		i = (size_t)(sep - a);
		auth = i + 3;
		if (i == 0 || !is_scheme_char(a[i - 1])) {
			i = auth;
			continue;
		}
		for (end = auth; end < n && !ends_authority(a[end]); end++)
			;
		at = n;
		for (k = auth; k < end; k++) {
			if (a[k] == '@')
				at = k;
		}
		colon = n;
		for (k = auth; at != n && k < at; k++) {
			if (a[k] == ':') {
				colon = k;
				break;
			}
		}
		if (colon != n) {
			out_add(o, a + copied, colon + 1 - copied);
			out_mark(o);
			copied = at;
		}
		i = end > auth ? end : auth;
	}
	out_add(o, a + copied, n - copied);
}

static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static bool header_is_secret(const char *name, size_t n, const struct str_list *patterns)
{
	static const char *const always[] = { "authorization", "proxy-authorization", "cookie",
					      "set-cookie" };
	size_t i;

	for (i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
		if (n == strlen(always[i]) && strncasecmp(name, always[i], n) == 0)
			return true;
	}
	return match_name(name, n, patterns, true);
}

/* "NAME=value", then "Name: value", then URLs; redactions are counted in o. */
static void redact_plain(struct out *o, const char *a, size_t n, const struct str_list *patterns)
{
	const char *eq = memchr(a, '=', n), *colon;
	size_t nl, v;

	if (eq && eq > a && match_name(a, (size_t)(eq - a), patterns, false)) {
		add_url_redacted(o, a, (size_t)(eq - a));
		out_add(o, "=", 1);
		out_mark(o);
		return;
	}
	colon = memchr(a, ':', n);
	if (colon && colon > a) {
		nl = (size_t)(colon - a);
		for (v = 0; v < nl && is_token_char(a[v]); v++)
			;
		if (v == nl && nl + 1 < n && a[nl + 1] != '/' &&
		    header_is_secret(a, nl, patterns)) {
			for (v = nl + 1; v < n && (a[v] == ' ' || a[v] == '\t'); v++)
				;
			if (v < n) {
				out_add(o, a, v);
				out_mark(o);
				return;
			}
		}
	}
	add_url_redacted(o, a, n);
}

static bool looks_like_flag(const char *a, size_t n)
{
	if (n < 2 || a[0] != '-')
		return false;
	return a[1] == '-' || (a[1] >= 'a' && a[1] <= 'z') || (a[1] >= 'A' && a[1] <= 'Z');
}

/* One argv element; sets *redact_next when it is a secret flag whose value
 * is the next element. */
static void redact_arg(struct out *o, const char *a, size_t n, const struct str_list *patterns,
		       bool *redact_next)
{
	const char *name, *eq;
	size_t dashes = 0;

	if (n >= 2 && a[0] == '-') {
		dashes = a[1] == '-' ? 2 : 1;
		name = a + dashes;
		eq = memchr(name, '=', n - dashes);
		if (eq) {
			out_add(o, a, (size_t)(eq + 1 - a));
			if (match_name(name, (size_t)(eq - name), patterns, true))
				out_mark(o);
			else
				redact_plain(o, eq + 1, n - (size_t)(eq + 1 - a), patterns);
			return;
		}
		if (match_name(name, n - dashes, patterns, true))
			*redact_next = true;
		add_url_redacted(o, a, n);
		return;
	}
	redact_plain(o, a, n, patterns);
}

/* Splits [in, in+len) into NUL-terminated entries, hands each to fn with a
 * state flag carried from one entry to the next, and keeps the NULs. */
static int walk(const char *in, size_t len, const struct str_list *patterns, char **out,
		uint32_t *outlen,
		void (*fn)(struct out *o, const char *e, size_t n, const struct str_list *patterns,
			   bool *state))
{
	struct out o;
	const char *e, *nul;
	size_t pos = 0, n;
	bool state = false;
	int err;

	if (!out || !outlen)
		return -EINVAL;
	*out = NULL;
	*outlen = 0;
	if (!in && len)
		return -EINVAL;
	err = out_init(&o, len);
	if (err) {
		buf__free(&o.b);
		return err;
	}
	while (pos < len && !o.err) {
		e = in + pos;
		nul = memchr(e, '\0', len - pos);
		n = nul ? (size_t)(nul - e) : len - pos;
		fn(&o, e, n, patterns, &state);
		if (nul)
			out_add(&o, "", 1);
		pos += n + (nul ? 1 : 0);
	}
	return out_finish(&o, out, outlen);
}

static void env_entry(struct out *o, const char *e, size_t n, const struct str_list *patterns,
		      bool *state)
{
	const char *eq = memchr(e, '=', n);

	(void)state;
	if (eq && redact__name_is_secret(e, (size_t)(eq - e), patterns)) {
		out_add(o, e, (size_t)(eq + 1 - e));
		out_mark(o);
		return;
	}
	out_add(o, e, n);
}

int redact__env(const char *env, size_t len, const struct str_list *patterns, char **out,
		uint32_t *outlen)
{
	return walk(env, len, patterns, out, outlen, env_entry);
}

static void args_entry(struct out *o, const char *a, size_t n, const struct str_list *patterns,
		       bool *redact_next)
{
	if (*redact_next) {
		*redact_next = false;
		if (n == 0)
			return;
		if (!looks_like_flag(a, n)) {
			out_mark(o);
			return;
		}
	}
	redact_arg(o, a, n, patterns, redact_next);
}

int redact__args(const char *args, uint32_t len, const struct str_list *patterns, char **out,
		 uint32_t *outlen)
{
	return walk(args, len, patterns, out, outlen, args_entry);
}
