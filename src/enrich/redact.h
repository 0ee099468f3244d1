/* Secret redaction for environments and command lines: values whose name
 * matches a configured pattern (fnmatch, case-insensitive, on the name only)
 * and passwords in URLs are replaced by "[REDACTED]" before anything leaves
 * the agent. It errs on the side of redacting: a false positive costs a value
 * in an event, a false negative ships a secret. */
#ifndef VIGIL_REDACT_H
#define VIGIL_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"

#define REDACT_MARK "[REDACTED]"

/* A sensible default for secret_env_patterns, NULL-terminated, for the
 * config module to copy; nothing here applies it implicitly. */
extern const char *const redact_default_patterns[];

/* True when [name, name+namelen) (need not be NUL-terminated) matches any of
 * patterns with fnmatch(FNM_CASEFOLD). An empty name or a NULL/empty pattern
 * list never matches. Fails closed: if a long name cannot be copied for
 * matching (out of memory), it counts as secret. */
bool redact__name_is_secret(const char *name, size_t namelen, const struct str_list *patterns);

/* Redacts an environment block: env holds len bytes of NUL-separated
 * "NAME=value" entries (the last one may lack its NUL). Each entry whose NAME
 * matches becomes "NAME=[REDACTED]"; entries without '=' and empty entries
 * are copied unchanged. *out receives a new malloc'd buffer (caller frees)
 * with the same layout — an entry ends with a NUL exactly when it did in env
 * — plus one extra NUL past *outlen so it is always a safe C string.
 * Returns the number of values redacted (>= 0), or -EINVAL (env NULL with
 * len > 0, out/outlen NULL), -E2BIG (result over UINT32_MAX bytes) or
 * -ENOMEM; on error *out is NULL and *outlen 0. */
int redact__env(const char *env, size_t len, const struct str_list *patterns, char **out,
		uint32_t *outlen);

/* Redacts a command line: args holds len bytes of NUL-separated argv
 * strings (the last one may lack its NUL). Produces a new buffer rather than
 * editing in place because "[REDACTED]" can be longer than the secret.
 * Per argument, first rule that applies:
 *   "--name=value" / "-name=value"   value redacted when name matches;
 *                                    otherwise value is checked as below
 *   "--name" / "-name"               when name matches, the next argument is
 *                                    redacted unless it looks like a flag
 *                                    ("-x..." / "--..."), e.g. --password-stdin
 *   "NAME=value"                     value redacted when NAME matches
 *   "Name: value"                    header style (curl -H): value redacted
 *                                    when Name matches or is Authorization,
 *                                    Proxy-Authorization or Cookie
 *   any "scheme://user:pass@host"    every occurrence becomes
 *                                    "scheme://user:[REDACTED]@host"
 * Flag names are matched as written and with '-' read as '_', so a pattern
 * "*API_KEY*" catches --api-key. URL passwords are redacted even with an
 * empty pattern list. Ownership, layout, return values and errors as for
 * redact__env. */
int redact__args(const char *args, uint32_t len, const struct str_list *patterns, char **out,
		 uint32_t *outlen);

#endif
