#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enrich/container.h"
#include "unit.h"

#define ID "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "pod8f2c1b3e_4d5a_4b6c_9d7e_1f2a3b4c5d6e"

struct cg_case {
	const char *cgroup;
	int want;
	const char *id;
	const char *runtime;	/* NULL: expect NULL */
};

static const struct cg_case cases[] = {
	/* systemd driver, full paths */
	{ "/system.slice/docker-" ID ".scope", 1, ID, "docker" },
	{ "/system.slice/cri-containerd-" ID ".scope", 1, ID, "containerd" },
	{ "/machine.slice/crio-" ID ".scope", 1, ID, "cri-o" },
	{ "/machine.slice/libpod-" ID ".scope", 1, ID, "podman" },
	{ "/system.slice/nerdctl-" ID ".scope", 1, ID, "containerd" },
	/* leaf names only, as the eBPF source sees them */
	{ "docker-" ID ".scope", 1, ID, "docker" },
	{ "cri-containerd-" ID ".scope", 1, ID, "containerd" },
	{ "crio-" ID ".scope", 1, ID, "cri-o" },
	{ "libpod-" ID ".scope", 1, ID, "podman" },
	{ ID, 1, ID, NULL },
	/* cgroupfs driver */
	{ "/docker/" ID, 1, ID, "docker" },
	{ "/docker/" ID "/", 1, ID, "docker" },
	{ "/kubepods/burstable/" UID "/" ID, 1, ID, "kubernetes" },
	{ "/kubepods/besteffort/" UID "/" ID, 1, ID, "kubernetes" },
	{ "/kubepods/" UID "/" ID, 1, ID, "kubernetes" },
	{ "/kubepods/burstable/" UID "/crio-" ID, 1, ID, "cri-o" },
	{ "/actions_job/" ID, 1, ID, "docker" },
	{ "/ecs/5a0d5ceddf6c44c1928d367a815d890f/" ID, 1, ID, "docker" },
	{ "/libpod_parent/libpod-" ID, 1, ID, "podman" },
	{ "/unknown/parent/" ID, 1, ID, NULL },
	/* kubepods with the systemd driver */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" UID
	  ".slice/cri-containerd-" ID ".scope", 1, ID, "containerd" },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" UID
	  ".slice/crio-" ID ".scope", 1, ID, "cri-o" },
	{ "/kubepods.slice/kubepods-" UID ".slice/docker-" ID ".scope", 1, ID, "docker" },
	{ "/system.slice/containerd.service/kubepods-burstable-" UID
	  ".slice:cri-containerd:" ID, 1, ID, "containerd" },
	{ "/system.slice/crio.service/kubepods-" UID ".slice:crio:" ID, 1, ID, "cri-o" },
	/* sub-cgroups and nesting: the id is in a parent component */
	{ "/machine.slice/libpod-" ID ".scope/container", 1, ID, "podman" },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID
	  ".scope/container", 1, ID, "podman" },
	{ "/docker/" ID "/init.scope", 1, ID, "docker" },
	{ "/system.slice/docker-" ID ".scope/init.scope", 1, ID, "docker" },
	{ "/system.slice/docker-" ID ".scope/system.slice/cron.service", 1, ID, "docker" },
	/* docker in docker: the innermost container wins */
	{ "/docker/" ID "/docker/" ID2, 1, ID2, "docker" },
	/* not containers */
	{ "", 0, "", NULL },
	{ "/", 0, "", NULL },
	{ "//", 0, "", NULL },
	{ "/user.slice/user-1000.slice/session-3.scope", 0, "", NULL },
	{ "/system.slice/docker.service", 0, "", NULL },
	{ "/system.slice/containerd.service", 0, "", NULL },
	{ "/init.scope", 0, "", NULL },
	{ "/kubepods/burstable/" UID, 0, "", NULL },
	{ "/kubepods.slice/kubepods-burstable.slice", 0, "", NULL },
	/* conmon is the monitor, not the container */
	{ "/machine.slice/libpod-conmon-" ID ".scope", 0, "", NULL },
	{ "libpod-conmon-" ID ".scope", 0, "", NULL },
	{ "/machine.slice/crio-conmon-" ID ".scope", 0, "", NULL },
	{ "crio-conmon-" ID ".scope", 0, "", NULL },
	/* near misses on the id */
	{ "/docker/3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708", 0, "", NULL },
	{ "/docker/" ID "0", 0, "", NULL },
	{ "docker-" "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708.scope", 0, "",
	  NULL },
	{ "docker-" ID "0.scope", 0, "", NULL },
	{ "/docker/3F4E5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F7081", 0, "", NULL },
	{ "docker-3F4E5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F7081.scope", 0, "",
	  NULL },
	{ "/docker/3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708g", 0, "", NULL },
	{ "docker-" ID ".scop", 0, "", NULL },
	{ "docker-" ID ".scopex", 0, "", NULL },
	{ "docker-" ID ".service", 0, "", NULL },
	{ "docker" ID ".scope", 0, "", NULL },
	{ "Docker-" ID ".scope", 0, "", NULL },
	{ "docker-", 0, "", NULL },
	{ "docker-.scope", 0, "", NULL },
	{ ".scope", 0, "", NULL },
	{ "x" ID, 0, "", NULL },
	{ ":cri-containerd:", 0, "", NULL },
	{ "slice:unknown:" ID, 0, "", NULL },
	{ ID " ", 0, "", NULL },
};

static void test_table(void)
{
	char id[PROC_CONTAINER_ID_LEN + 1];
	const char *rt;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cg_case *c = &cases[i];
		int r;

		memset(id, 'X', sizeof(id));
		rt = "garbage";
		r = container__parse_cgroup(c->cgroup, id, &rt);
		if (r != c->want)
			fprintf(stderr, "case %zu: %s\n", i, c->cgroup);
		CHECK_INT(r, c->want);
		CHECK_STR(id, c->id);
		if (c->runtime)
			CHECK_STR(rt, c->runtime);
		else
			CHECK(rt == NULL);
	}
}

static void test_null_and_hostile(void)
{
	char id[PROC_CONTAINER_ID_LEN + 1];
	const char *rt = "x";
	char *big;
	size_t n = 1 << 20, i;

	CHECK_INT(container__parse_cgroup(NULL, id, &rt), 0);
	CHECK_STR(id, "");
	CHECK(rt == NULL);
	/* runtime pointer is optional */
	CHECK_INT(container__parse_cgroup("/docker/" ID, id, NULL), 1);
	CHECK_STR(id, ID);

	/* 1 MiB of slashes, of hex, of components */
	big = malloc(n + 1);
	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, '/', n);
	big[n] = '\0';
	CHECK_INT(container__parse_cgroup(big, id, &rt), 0);
	memset(big, 'a', n);
	CHECK_INT(container__parse_cgroup(big, id, &rt), 0);
	for (i = 0; i < n; i++)
		big[i] = (i % 3 == 2) ? '/' : 'k';
	CHECK_INT(container__parse_cgroup(big, id, &rt), 0);
	/* a valid leaf after a huge prefix is still found */
	memset(big, 'a', n);
	memcpy(big + n - 66, "/" ID "/", 66);
	CHECK_INT(container__parse_cgroup(big, id, &rt), 1);
	CHECK_STR(id, ID);
	/* ... and a huge leaf after a valid container is skipped over */
	memcpy(big, "/docker/" ID "/", 73);
	memset(big + 73, 'z', n - 73);
	CHECK_INT(container__parse_cgroup(big, id, &rt), 1);
	CHECK_STR(id, ID);
	CHECK_STR(rt, "docker");
	free(big);

	/* Bytes that are not ASCII or are control characters */
	CHECK_INT(container__parse_cgroup("\xff\xfe/\x01\x02/docker-\n.scope", id, &rt), 0);
}

static void test_proc_cgroup(void)
{
	char id[PROC_CONTAINER_ID_LEN + 1];
	const char *rt;
	char *path = (char *)1;
	const char *t;

	/* pure cgroup v2 */
	t = "0::/system.slice/docker-" ID ".scope\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 1);
	CHECK_STR(id, ID);
	CHECK_STR(rt, "docker");
	CHECK_STR(path, "/system.slice/docker-" ID ".scope");
	free(path);

	/* no trailing newline, " (deleted)" suffix */
	t = "0::/kubepods/besteffort/" UID "/" ID " (deleted)";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 1);
	CHECK_STR(id, ID);
	CHECK_STR(rt, "kubernetes");
	CHECK_STR(path, "/kubepods/besteffort/" UID "/" ID);
	free(path);

	/* host process: not a container, path still reported */
	t = "0::/user.slice/user-1000.slice/session-2.scope\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 0);
	CHECK_STR(id, "");
	CHECK(rt == NULL);
	CHECK_STR(path, "/user.slice/user-1000.slice/session-2.scope");
	free(path);

	/* hybrid: v2 line is "/", the container shows in the v1 lines */
	t = "12:cpuset:/docker/" ID "\n"
	    "11:memory:/docker/" ID "\n"
	    "1:name=systemd:/docker/" ID "\n"
	    "0::/\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 1);
	CHECK_STR(id, ID);
	CHECK_STR(rt, "docker");
	CHECK_STR(path, "/docker/" ID);
	free(path);

	/* v1 only, host process: first v1 path */
	t = "12:cpuset:/\n11:memory:/user.slice\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 0);
	CHECK_STR(path, "/");
	free(path);

	/* v2 wins over v1 */
	t = "1:name=systemd:/docker/" ID2 "\n0::/system.slice/docker-" ID ".scope\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 1);
	CHECK_STR(id, ID);
	free(path);

	/* len is honoured: the id past len is not seen */
	t = "0::/docker/" ID "\n";
	CHECK_INT(container__parse_proc_cgroup(t, 20, id, &rt, &path), 0);
	CHECK_STR(path, "/docker/3f4e5a6b7");
	free(path);

	/* garbage lines, empty text, NULL text, path output optional */
	t = "garbage\n::\n:\n\n0:\nfoo:bar\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, &rt, &path), 0);
	CHECK_STR(path, "");	/* "::" is a v1-looking line with empty path */
	free(path);
	CHECK_INT(container__parse_proc_cgroup("", 0, id, &rt, &path), 0);
	CHECK(path == NULL);
	CHECK_INT(container__parse_proc_cgroup(NULL, 10, id, &rt, &path), 0);
	CHECK(path == NULL);
	t = "0::/docker/" ID "\n";
	CHECK_INT(container__parse_proc_cgroup(t, strlen(t), id, NULL, NULL), 1);
	CHECK_STR(id, ID);
}

static void test_from_pid(void)
{
	char id[PROC_CONTAINER_ID_LEN + 1];
	const char *rt;
	char *path = NULL;
	int r;

	/* our own process: the result depends on where the tests run, but it
	 * must succeed and report a path */
	r = container__from_pid((uint32_t)getpid(), id, &rt, &path);
	CHECK(r == 0 || r == 1);
	CHECK(path != NULL);
	CHECK(r == 0 || strlen(id) == PROC_CONTAINER_ID_LEN);
	free(path);

	path = (char *)1;
	r = container__from_pid(0x7ffffff0u, id, &rt, &path);
	CHECK_INT(r, -ENOENT);
	CHECK(path == NULL);
	CHECK_STR(id, "");
}

int main(void)
{
	test_table();
	test_null_and_hostile();
	test_proc_cgroup();
	test_from_pid();
	return unit_report("container");
}
