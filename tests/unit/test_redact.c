#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/redact.h"
#include "unit.h"

static struct str_list pats;	/* the defaults */
static struct str_list none;	/* empty list */

static void make_lists(void)
{
	unsigned i;

	for (i = 0; redact_default_patterns[i] && i < CONFIG_MAX_LIST; i++)
		pats.items[i] = (char *)redact_default_patterns[i];
	pats.count = i;
	none.count = 0;
}

/* Renders NULs as '|' so a failure shows where entries split. */
static const char *show(const char *p, size_t n)
{
	static char s[4][512];
	static int k;
	char *o = s[k++ & 3];
	size_t i;

	for (i = 0; i < n && i < 511; i++)
		o[i] = p[i] ? p[i] : '|';
	o[i] = '\0';
	return o;
}

#define L(s) s, sizeof(s) - 1

static void check_env(int line, const char *in, size_t inlen, const struct str_list *p,
		      const char *want, size_t wantlen, int want_count)
{
	char *out = NULL;
	uint32_t outlen = 0;
	int r = redact__env(in, inlen, p, &out, &outlen);

	if (r != want_count || outlen != wantlen || !out || memcmp(out, want, wantlen) != 0)
		fprintf(stderr, "line %d: got %d \"%s\", want %d \"%s\"\n", line, r,
			out ? show(out, outlen) : "(null)", want_count, show(want, wantlen));
	CHECK_INT(r, want_count);
	CHECK_INT(outlen, wantlen);
	CHECK(out && memcmp(out, want, wantlen) == 0);
	CHECK(out && out[outlen] == '\0');
	free(out);
}

static void check_args(int line, const char *in, size_t inlen, const struct str_list *p,
		       const char *want, size_t wantlen, int want_count)
{
	char *out = NULL;
	uint32_t outlen = 0;
	int r = redact__args(in, (uint32_t)inlen, p, &out, &outlen);

	if (r != want_count || outlen != wantlen || !out || memcmp(out, want, wantlen) != 0)
		fprintf(stderr, "line %d: got %d \"%s\", want %d \"%s\"\n", line, r,
			out ? show(out, outlen) : "(null)", want_count, show(want, wantlen));
	CHECK_INT(r, want_count);
	CHECK_INT(outlen, wantlen);
	CHECK(out && memcmp(out, want, wantlen) == 0);
	CHECK(out && out[outlen] == '\0');
	free(out);
}

#define ENV(in, p, want, n) check_env(__LINE__, L(in), p, L(want), n)
#define ARGS(in, p, want, n) check_args(__LINE__, L(in), p, L(want), n)

static void test_name(void)
{
	struct str_list one = { .items = { "*PASS*" }, .count = 1 };
	struct str_list nulls = { .items = { NULL, "db_*" }, .count = 2 };
	char *big;

	CHECK(redact__name_is_secret(L("DB_PASSWORD"), &pats));
	CHECK(redact__name_is_secret(L("db_password"), &pats));
	CHECK(redact__name_is_secret(L("Github_Token"), &pats));
	CHECK(redact__name_is_secret(L("AWS_SECRET_ACCESS_KEY"), &pats));
	CHECK(redact__name_is_secret(L("MYSQL_PWD"), &pats));
	CHECK(!redact__name_is_secret(L("PWD"), &pats));
	CHECK(!redact__name_is_secret(L("PATH"), &pats));
	CHECK(!redact__name_is_secret(L("HOME"), &pats));
	CHECK(!redact__name_is_secret(L("api-key"), &pats));	/* env names: as written */
	CHECK(!redact__name_is_secret("", 0, &pats));
	CHECK(!redact__name_is_secret(NULL, 0, &pats));
	CHECK(!redact__name_is_secret(L("PASSWORD"), &none));
	CHECK(!redact__name_is_secret(L("PASSWORD"), NULL));
	/* the name is [name, name+len), not up to a NUL */
	CHECK(redact__name_is_secret("PASSWORD=x", 8, &one));
	CHECK(!redact__name_is_secret("PASSWORD=x", 3, &one));
	/* NULL items are skipped */
	CHECK(redact__name_is_secret(L("db_x"), &nulls));
	CHECK(!redact__name_is_secret(L("x"), &nulls));

	/* a name past the stack buffer */
	big = malloc(100000);
	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'A', 100000);
	memcpy(big + 50000, "TOKEN", 5);
	CHECK(redact__name_is_secret(big, 100000, &pats));
	memset(big + 50000, 'A', 5);
	CHECK(!redact__name_is_secret(big, 100000, &pats));
	free(big);
}

static void test_env(void)
{
	ENV("PATH=/bin\0DB_PASSWORD=hunter2\0HOME=/root\0", &pats,
	    "PATH=/bin\0DB_PASSWORD=[REDACTED]\0HOME=/root\0", 1);
	/* last entry without NUL stays without NUL */
	ENV("A=1\0api_key=abc", &pats, "A=1\0api_key=[REDACTED]", 1);
	/* entries without '=', empty entries, empty names, empty values */
	ENV("NOEQUALS\0\0=value\0TOKEN=\0X=\0", &pats,
	    "NOEQUALS\0\0=value\0TOKEN=[REDACTED]\0X=\0", 1);
	/* only the name decides, and only up to the first '=' */
	ENV("X=PASSWORD=1\0SECRET_A=b=c\0", &pats, "X=PASSWORD=1\0SECRET_A=[REDACTED]\0", 1);
	/* case-insensitive */
	ENV("github_token=ghp_x\0", &pats, "github_token=[REDACTED]\0", 1);
	/* nothing to do */
	ENV("PASSWORD=x\0", &none, "PASSWORD=x\0", 0);
	ENV("", &pats, "", 0);
	ENV("\0\0\0", &pats, "\0\0\0", 0);
	ENV("=\0", &pats, "=\0", 0);
	/* a name truncated by the capture limit is kept */
	ENV("A=1\0PASSWO", &pats, "A=1\0PASSWO", 0);
	/* shortest input that grows the most: 3 bytes -> 13 */
	{
		struct str_list all = { .items = { "*" }, .count = 1 };

		ENV("a=\0a=\0", &all, "a=[REDACTED]\0a=[REDACTED]\0", 2);
	}
}

static void test_env_errors(void)
{
	char *out = (char *)1;
	uint32_t outlen = 7;
	char *big;
	size_t n = 1 << 20, i;
	int r;

	CHECK_INT(redact__env(NULL, 5, &pats, &out, &outlen), -EINVAL);
	CHECK(out == NULL);
	CHECK_INT(outlen, 0);
	CHECK_INT(redact__env("A=1", 3, &pats, NULL, &outlen), -EINVAL);
	CHECK_INT(redact__env("A=1", 3, &pats, &out, NULL), -EINVAL);
	r = redact__env(NULL, 0, &pats, &out, &outlen);
	CHECK_INT(r, 0);
	CHECK(out != NULL && outlen == 0 && out[0] == '\0');
	free(out);

	/* 1 MiB: one huge secret value, then many small secret entries */
	big = malloc(n);
	CHECK(big != NULL);
	if (!big)
		return;
	memcpy(big, "SECRET=", 7);
	memset(big + 7, 'v', n - 7);
	r = redact__env(big, n, &pats, &out, &outlen);
	CHECK_INT(r, 1);
	CHECK_INT(outlen, 7 + 10);
	CHECK(out && memcmp(out, "SECRET=[REDACTED]", 17) == 0);
	free(out);
	for (i = 0; i + 8 <= n; i += 8)
		memcpy(big + i, "TOKEN=x", 8);
	r = redact__env(big, n, &pats, &out, &outlen);
	CHECK_INT(r, (int)(n / 8));
	CHECK_INT(outlen, (n / 8) * 17);
	free(out);
	free(big);
}

static void test_args(void)
{
	/* --flag=value */
	ARGS("mysql\0--password=hunter2\0db\0", &pats, "mysql\0--password=[REDACTED]\0db\0", 1);
	ARGS("x\0-password=hunter2\0", &pats, "x\0-password=[REDACTED]\0", 1);
	/* --flag value, with dashes read as underscores */
	ARGS("cli\0--api-key\0abc123\0--verbose\0", &pats,
	     "cli\0--api-key\0[REDACTED]\0--verbose\0", 1);
	ARGS("cli\0--API-KEY\0abc\0", &pats, "cli\0--API-KEY\0[REDACTED]\0", 1);
	/* the next argument is a flag: not consumed (docker login --password-stdin -u me) */
	ARGS("docker\0login\0--password-stdin\0-u\0me\0", &pats,
	     "docker\0login\0--password-stdin\0-u\0me\0", 0);
	ARGS("x\0--token\0--other\0v\0", &pats, "x\0--token\0--other\0v\0", 0);
	/* a value that merely starts with '-' followed by a non-letter is a value */
	ARGS("x\0--token\0-9x\0", &pats, "x\0--token\0[REDACTED]\0", 1);
	/* secret flag last, or followed by an empty argument */
	ARGS("x\0--password\0", &pats, "x\0--password\0", 0);
	ARGS("x\0--password", &pats, "x\0--password", 0);
	ARGS("x\0--password\0\0y\0", &pats, "x\0--password\0\0y\0", 0);
	/* env-style arguments (env, docker run -e, helm --set) */
	ARGS("env\0PASSWORD=xyz\0cmd\0", &pats, "env\0PASSWORD=[REDACTED]\0cmd\0", 1);
	ARGS("docker\0run\0-e\0DB_PASSWORD=xyz\0img\0", &pats,
	     "docker\0run\0-e\0DB_PASSWORD=[REDACTED]\0img\0", 1);
	ARGS("helm\0--set\0db.password=xyz\0", &pats, "helm\0--set\0db.password=[REDACTED]\0", 1);
	ARGS("helm\0--set=db.password=xyz\0", &pats, "helm\0--set=db.password=[REDACTED]\0", 1);
	ARGS("x\0NAME=value\0=secret\0", &pats, "x\0NAME=value\0=secret\0", 0);
	/* shell -c strings */
	ARGS("sh\0-c\0export PASSWORD=x; run\0", &pats,
	     "sh\0-c\0export PASSWORD=[REDACTED]\0", 1);
	/* URL credentials */
	ARGS("psql\0postgres://admin:s3cret@db:5432/app\0", &pats,
	     "psql\0postgres://admin:[REDACTED]@db:5432/app\0", 1);
	ARGS("redis-cli\0-u\0redis://:pw@host\0", &none,
	     "redis-cli\0-u\0redis://:[REDACTED]@host\0", 1);
	ARGS("git\0clone\0https://user:p@ss@github.com/o/r\0", &none,
	     "git\0clone\0https://user:[REDACTED]@github.com/o/r\0", 1);
	ARGS("x\0--db=mysql://u:p@h/d\0", &pats, "x\0--db=mysql://u:[REDACTED]@h/d\0", 1);
	ARGS("sh\0-c\0curl http://a:b@x/ 'ftp://c:d@y' z\0", &none,
	     "sh\0-c\0curl http://a:[REDACTED]@x/ 'ftp://c:[REDACTED]@y' z\0", 2);
	/* a token in the query, and the URL password before it */
	ARGS("curl\0https://u:pw@h/?token=abc\0", &pats,
	     "curl\0https://u:[REDACTED]@h/?token=[REDACTED]\0", 2);
	/* not credentials: no password, no '@', '@' after the authority, no scheme */
	ARGS("ssh\0ssh://git@github.com\0", &none, "ssh\0ssh://git@github.com\0", 0);
	ARGS("x\0http://host:8080/path\0", &none, "x\0http://host:8080/path\0", 0);
	ARGS("x\0http://host/a:b@c\0", &none, "x\0http://host/a:b@c\0", 0);
	ARGS("x\0://u:p@h\0", &none, "x\0://u:p@h\0", 0);
	ARGS("x\0http://\0https:///a:b@c\0a://\0", &none, "x\0http://\0https:///a:b@c\0a://\0", 0);
	/* headers */
	ARGS("curl\0-H\0Authorization: Bearer abc.def\0", &none,
	     "curl\0-H\0Authorization: [REDACTED]\0", 1);
	ARGS("curl\0--header=X-Api-Key: abc\0", &pats, "curl\0--header=X-Api-Key: [REDACTED]\0", 1);
	ARGS("curl\0-H\0Accept: text/html\0-H\0cookie:a=b\0", &none,
	     "curl\0-H\0Accept: text/html\0-H\0cookie:[REDACTED]\0", 1);
	ARGS("x\0Authorization:\0Authorization:  \0", &none,
	     "x\0Authorization:\0Authorization:  \0", 0);
	/* empty pattern list: only URLs */
	ARGS("x\0--password=a\0PASSWORD=b\0", &none, "x\0--password=a\0PASSWORD=b\0", 0);
	ARGS("x\0--password=a\0", NULL, "x\0--password=a\0", 0);
	/* degenerate arguments */
	ARGS("", &pats, "", 0);
	ARGS("\0\0", &pats, "\0\0", 0);
	ARGS("-\0--\0---\0-=\0--=\0--=x\0=\0", &pats, "-\0--\0---\0-=\0--=\0--=x\0=\0", 0);
	ARGS("\xff\xfe=\x01\0", &pats, "\xff\xfe=\x01\0", 0);
}

static void test_args_hostile(void)
{
	struct str_list all = { .items = { "*" }, .count = 1 };
	char *out = NULL, *big;
	uint32_t outlen;
	size_t n = 1 << 20, i;
	int r;

	CHECK_INT(redact__args(NULL, 1, &pats, &out, &outlen), -EINVAL);
	CHECK_INT(redact__args("x", 1, &pats, NULL, &outlen), -EINVAL);

	big = malloc(n);
	CHECK(big != NULL);
	if (!big)
		return;
	/* worst growth: every argument "a=" under a match-all pattern */
	for (i = 0; i + 3 <= n; i += 3)
		memcpy(big + i, "a=", 3);
	r = redact__args(big, (uint32_t)(n / 3 * 3), &all, &out, &outlen);
	CHECK_INT(r, (int)(n / 3));
	CHECK_INT(outlen, (n / 3) * 13);
	free(out);

	/* a flood of "://" and '@' with no structure */
	for (i = 0; i < n; i++)
		big[i] = "a://:@/"[i % 7];
	r = redact__args(big, (uint32_t)n, &none, &out, &outlen);
	CHECK(r > 0);
	CHECK(out != NULL && outlen > n);
	free(out);
	for (i = 0; i < n; i++)
		big[i] = "://@:"[i % 5];
	r = redact__args(big, (uint32_t)n, &none, &out, &outlen);
	CHECK(r >= 0);
	free(out);

	/* one huge argument with a secret name and no terminator */
	memcpy(big, "--client-secret=", 16);
	memset(big + 16, 'z', n - 16);
	r = redact__args(big, (uint32_t)n, &pats, &out, &outlen);
	CHECK_INT(r, 1);
	CHECK_INT(outlen, 16 + 10);
	free(out);
	free(big);
}

int main(void)
{
	make_lists();
	test_name();
	test_env();
	test_env_errors();
	test_args();
	test_args_hostile();
	return unit_report("redact");
}
