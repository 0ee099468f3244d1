/* Container identity from a process's cgroup: every OCI runtime names the
 * cgroup of a container after its 64-hex id, with a runtime-specific prefix
 * under the systemd driver ("docker-<id>.scope", "cri-containerd-<id>.scope",
 * "crio-<id>.scope", "libpod-<id>.scope") or a bare id under the cgroupfs
 * driver ("/docker/<id>", "/kubepods/.../pod<uid>/<id>"). Nothing here asks a
 * runtime daemon: it must work for every runtime and never block. */
#ifndef VIGIL_CONTAINER_H
#define VIGIL_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "model/proc.h"

/* Size cap on /proc/PID/cgroup; a longer file is read up to this much. */
#define CONTAINER_CGROUP_FILE_MAX (64 * 1024)

/* Finds the container id in a cgroup v2 path ("/system.slice/docker-<id>.scope")
 * or in just its leaf name ("docker-<id>.scope", what the eBPF source sees).
 * Components are scanned from the leaf up, so sub-cgroups below the container
 * ("/docker/<id>/init.scope", podman's "libpod-<id>.scope/container") resolve
 * to the innermost container. The id must be exactly 64 lowercase hex chars;
 * podman's and CRI-O's "*-conmon-<id>.scope" monitors are not containers.
 *
 * Returns 1 and fills id (NUL-terminated) and *runtime with a static string
 * ("docker", "containerd", "cri-o", "podman", or "kubernetes" when only the
 * kubepods layout says so) — *runtime is NULL when a bare 64-hex component
 * under an unknown parent names a container but not its runtime. Returns 0
 * (id "" and *runtime NULL) when cgroup is NULL or names no container.
 * Reads only up to cgroup's NUL; any input is safe. runtime may be NULL. */
int container__parse_cgroup(const char *cgroup, char id[PROC_CONTAINER_ID_LEN + 1],
			    const char **runtime);

/* Same as container__parse_cgroup over the text of a /proc/PID/cgroup file
 * ("hierarchy:controllers:path" lines, len bytes, need not be NUL-terminated).
 * The cgroup v2 line ("0::path") is tried first, then the v1 lines in order
 * (hybrid hosts keep containers in v1 hierarchies). A " (deleted)" suffix is
 * ignored. If cgroup_path_out is not NULL it receives a malloc'd copy (caller
 * frees) of the path that identified the container, else of the v2 path,
 * else of the first v1 path, else NULL. Returns 1, 0, or -ENOMEM (nothing
 * allocated). */
int container__parse_proc_cgroup(const char *text, size_t len,
				 char id[PROC_CONTAINER_ID_LEN + 1], const char **runtime,
				 char **cgroup_path_out);

/* container__parse_proc_cgroup on /proc/PID/cgroup (at most
 * CONTAINER_CGROUP_FILE_MAX bytes). Returns 1, 0, or a negative errno when
 * the file cannot be read (-ENOENT/-ESRCH: the process is gone); on error id
 * is "", *runtime NULL and *cgroup_path_out NULL. */
int container__from_pid(uint32_t pid, char id[PROC_CONTAINER_ID_LEN + 1], const char **runtime,
			char **cgroup_path_out);

#endif
