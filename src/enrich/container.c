#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enrich/container.h"

/* Systemd-driver scope names: "<prefix><id>.scope"; the cgroupfs drivers of
 * podman and CRI-O use "<prefix><id>" without the suffix. The conmon
 * monitors ("libpod-conmon-<id>.scope", "crio-conmon-<id>.scope") never match
 * because "conmon-<id>" is not 64 hex chars. */
static const struct {
	const char *prefix;
	const char *runtime;
} scope_prefixes[] = {
	{ "docker-", "docker" },
	{ "cri-containerd-", "containerd" },
	{ "crio-", "cri-o" },
	{ "libpod-", "podman" },
	{ "nerdctl-", "containerd" },
};

/* kubelet with the systemd driver on some cgroup v1 hosts leaves the raw
 * cgroupsPath "<slice>:<runtime>:<id>" as the leaf name. */
static const struct {
	const char *tag;
	const char *runtime;
} colon_tags[] = {
	{ ":cri-containerd:", "containerd" },
	{ ":crio:", "cri-o" },
	{ ":docker:", "docker" },
};

static bool is_hex64(const char *s, size_t n)
{
	size_t i;

	if (n != PROC_CONTAINER_ID_LEN)
		return false;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && memcmp(s, prefix, pl) == 0;
}

static bool equals(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* Matches one path component [c, c+n). On success *idp points at the 64 id
 * chars and *runtime is the runtime the name itself tells, or NULL for a bare
 * id whose runtime only the parents can tell. */
static bool match_component(const char *c, size_t n, const char **idp, const char **runtime)
{
	const size_t idl = PROC_CONTAINER_ID_LEN;
	size_t i, pl, tl, rest;
	const char *r, *tail;

	if (is_hex64(c, n)) {
		*idp = c;
		*runtime = NULL;
		return true;
	}
	for (i = 0; i < sizeof(scope_prefixes) / sizeof(scope_prefixes[0]); i++) {
		if (!has_prefix(c, n, scope_prefixes[i].prefix))
			continue;
		pl = strlen(scope_prefixes[i].prefix);
		r = c + pl;
		rest = n - pl;
		if (rest == idl + 6 && memcmp(r + idl, ".scope", 6) == 0)
			rest = idl;
		if (is_hex64(r, rest)) {
			*idp = r;
			*runtime = scope_prefixes[i].runtime;
			return true;
		}
	}
	if (n <= idl || !is_hex64(c + n - idl, idl))
		return false;
	tail = c + n - idl;
	for (i = 0; i < sizeof(colon_tags) / sizeof(colon_tags[0]); i++) {
		tl = strlen(colon_tags[i].tag);
		if (n - idl >= tl && memcmp(tail - tl, colon_tags[i].tag, tl) == 0) {
			*idp = tail;
			*runtime = colon_tags[i].runtime;
			return true;
		}
	}
	return false;
}

/* The runtime of a bare-id container, from the components above it in
 * [s, s+end): "/docker/<id>", GitHub's "/actions_job/<id>" and ECS's
 * "/ecs/<task>/<id>" are docker; anything under "kubepods*" is Kubernetes
 * with an unknown CRI runtime. */
static const char *runtime_from_parents(const char *s, size_t end)
{
	size_t pos = end, cend, cstart;
	bool immediate = true;

	while (pos > 0) {
		cend = pos;
		while (cend > 0 && s[cend - 1] == '/')
			cend--;
		if (cend == 0)
			break;
		cstart = cend;
		while (cstart > 0 && s[cstart - 1] != '/')
			cstart--;
		if (immediate && (equals(s + cstart, cend - cstart, "docker") ||
				  equals(s + cstart, cend - cstart, "actions_job")))
			return "docker";
		if (has_prefix(s + cstart, cend - cstart, "kubepods"))
			return "kubernetes";
		if (equals(s + cstart, cend - cstart, "ecs"))
			return "docker";
		immediate = false;
		pos = cstart;
	}
	return NULL;
}

static int parse_n(const char *s, size_t n, char id[PROC_CONTAINER_ID_LEN + 1],
		   const char **runtime)
{
	size_t cend = n, cstart;
	const char *idp, *rt;

	id[0] = '\0';
	if (runtime)
		*runtime = NULL;
	while (cend > 0) {
		while (cend > 0 && s[cend - 1] == '/')
			cend--;
		if (cend == 0)
			break;
		cstart = cend;
		while (cstart > 0 && s[cstart - 1] != '/')
			cstart--;
		if (match_component(s + cstart, cend - cstart, &idp, &rt)) {
			memcpy(id, idp, PROC_CONTAINER_ID_LEN);
			id[PROC_CONTAINER_ID_LEN] = '\0';
			if (!rt)
				rt = runtime_from_parents(s, cstart);
			if (runtime)
				*runtime = rt;
			return 1;
		}
		cend = cstart;
	}
	return 0;
}

int container__parse_cgroup(const char *cgroup, char id[PROC_CONTAINER_ID_LEN + 1],
			    const char **runtime)
{
	if (!cgroup) {
		id[0] = '\0';
		if (runtime)
			*runtime = NULL;
		return 0;
	}
	return parse_n(cgroup, strlen(cgroup), id, runtime);
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int container__parse_proc_cgroup(const char *text, size_t len,
				 char id[PROC_CONTAINER_ID_LEN + 1], const char **runtime,
				 char **cgroup_path_out)
{
	static const char deleted[] = " (deleted)";
	const size_t dl = sizeof(deleted) - 1;
	const char *v2 = NULL, *v1_first = NULL, *hit = NULL;
	size_t v2_len = 0, v1_first_len = 0, hit_len = 0;
	const char *line, *eol, *c1, *c2, *path, *end = text + len, *rt = NULL;
	char tmp_id[PROC_CONTAINER_ID_LEN + 1];
	size_t plen;
	int pass, ret = 0;
	bool is_v2;

	id[0] = '\0';
	if (runtime)
		*runtime = NULL;
	if (cgroup_path_out)
		*cgroup_path_out = NULL;
	if (!text)
		return 0;

	/* Pass 0 finds the v2 line and the first v1 line; pass 1 tries the v1
	 * lines only when the v2 path names no container. */
	for (pass = 0; pass < 2 && !hit; pass++) {
		for (line = text; line < end; line = eol + 1) {
			eol = memchr(line, '\n', (size_t)(end - line));
			if (!eol)
				eol = end;
			c1 = memchr(line, ':', (size_t)(eol - line));
			if (!c1)
				continue;
			c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
			if (!c2)
				continue;
			path = c2 + 1;
			plen = (size_t)(eol - path);
			if (plen >= dl && memcmp(path + plen - dl, deleted, dl) == 0)
				plen -= dl;
			is_v2 = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;

			if (pass == 0) {
				if (is_v2 && !v2) {
					v2 = path;
					v2_len = plen;
				} else if (!is_v2 && !v1_first) {
					v1_first = path;
					v1_first_len = plen;
				}
				continue;
			}
			if (is_v2)
				continue;
			if (parse_n(path, plen, tmp_id, &rt) == 1) {
				hit = path;
				hit_len = plen;
				break;
			}
		}
		if (pass == 0 && v2 && parse_n(v2, v2_len, tmp_id, &rt) == 1) {
			hit = v2;
			hit_len = v2_len;
		}
	}

	if (hit) {
		ret = 1;
	} else if (v2) {
		hit = v2;
		hit_len = v2_len;
	} else if (v1_first) {
		hit = v1_first;
		hit_len = v1_first_len;
	}
	if (cgroup_path_out && hit) {
		*cgroup_path_out = dup_n(hit, hit_len);
		if (!*cgroup_path_out)
			return -ENOMEM;
	}
	if (ret == 1) {
		memcpy(id, tmp_id, sizeof(tmp_id));
		if (runtime)
			*runtime = rt;
	}
	return ret;
}

int container__from_pid(uint32_t pid, char id[PROC_CONTAINER_ID_LEN + 1], const char **runtime,
			char **cgroup_path_out)
{
	char path[64];
	char *text;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	id[0] = '\0';
	if (runtime)
		*runtime = NULL;
	if (cgroup_path_out)
		*cgroup_path_out = NULL;
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	text = malloc(CONTAINER_CGROUP_FILE_MAX);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (len < CONTAINER_CGROUP_FILE_MAX) {
		n = read(fd, text + len, CONTAINER_CGROUP_FILE_MAX - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			close(fd);
			free(text);
			return ret;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ret = container__parse_proc_cgroup(text, len, id, runtime, cgroup_path_out);
	free(text);
	return ret;
}
