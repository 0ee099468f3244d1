"""Container ids from cgroups, end to end, on both sources: a process moved
into a cgroup laid out the way a container runtime lays it out is reported
with that container's id and runtime; near misses are not containers.

The test makes the cgroups itself (cgroup v2, and the v1 memory hierarchy on
hybrid hosts), moves a shell into one, lets it exec, and removes them."""
import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, finish, guarded, main_wrapper, name,  # noqa: E402
                           proc)


def mounts():
    v2 = v1mem = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            fstype, opts = parts[sep + 1], parts[sep + 3] if len(parts) > sep + 3 else ""
            if fstype == "cgroup2" and v2 is None:
                v2 = parts[4]
            elif fstype == "cgroup" and "memory" in opts.split(","):
                v1mem = parts[4]
    return v2, v1mem


def at_v2_root():
    with open("/proc/self/cgroup") as f:
        return any(l.strip() == "0::/" for l in f)


def make_cases():
    v2, v1mem = mounts()
    cases = []
    if v2:
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        cases.append(("v2 systemd docker", v2, "vigil-it.slice/docker-%s.scope" % cid, cid,
                      "docker"))
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        cases.append(("v2 kubepods containerd", v2,
                      "vigil-it-kubepods.slice/kubepods-pod%s.slice/cri-containerd-%s.scope"
                      % (uuid.uuid4().hex[:8], cid), cid, "containerd"))
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        cases.append(("v2 podman nested", v2, "vigil-it.slice/libpod-%s.scope/container" % cid,
                      cid, "podman"))
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        cases.append(("v2 conmon is not a container", v2,
                      "vigil-it.slice/crio-conmon-%s.scope" % cid, None, None))
    if v1mem and at_v2_root():
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        cases.append(("v1 memory cgroupfs docker (hybrid host)", v1mem,
                      "docker/%s" % cid, cid, "docker"))
    return cases


def run_in_cgroup(root, rel, marker):
    path = os.path.join(root, rel)
    os.makedirs(path, exist_ok=True)
    # The pause before the exec lets the proc source read the shell's own
    # command line (with the marker): it reads /proc after the connector's
    # exec event, and an exec at once replaced it with sleep's in time only
    # now and then (seen under ASan).
    script = 'echo $$ > "%s/cgroup.procs" && /bin/sleep 0.1 && exec /bin/sleep 0.3' % path
    subprocess.run(["/bin/sh", "-c", script + " #" + marker], check=True, timeout=10)
    return path


def cleanup(root, rel):
    parts = rel.split("/")
    for i in range(len(parts), 0, -1):
        try:
            os.rmdir(os.path.join(root, *parts[:i]))
        except OSError:
            pass


def scenario(c, source):
    cases = make_cases()
    c.check(cases, "this host has a cgroup hierarchy to test with")
    done = []
    try:
        with Agent("containers-%s" % source, source=source) as agent:
            for title, root, rel, cid, runtime in cases:
                marker = "vigil-ctr-" + uuid.uuid4().hex
                done.append((title, root, rel, cid, runtime, marker))
                run_in_cgroup(root, rel, marker)
                # the sleep that the shell exec'd (same pid) carries its cgroup
            agent.wait_for(lambda e: False, timeout=1.0)
    finally:
        for _, root, rel, _, _, _ in done:
            cleanup(root, rel)
    agent.check_output(c)
    for title, root, rel, cid, runtime, marker in done:
        shells = [e for e in agent.events if name(e) == "Process Created" and
                  any(marker in a for a in (proc(e) or {}).get(
                      "process_command_line_arguments") or [])]
        if not c.check(shells, "%s: the shell's exec is reported" % title):
            continue
        pid = proc(shells[0])["process_id"]
        sleeps = [e for e in agent.events if name(e) == "Process Created" and
                  proc(e)["process_id"] == pid and proc(e).get("process_name") == "sleep"]
        if not c.check(sleeps, "%s: the exec of sleep inside the cgroup is reported" % title,
                       shells):
            continue
        p = proc(sleeps[0])
        c.eq(p.get("process_container_id"), cid, "%s: process_container_id" % title, sleeps)
        c.eq(p.get("process_container_runtime"), runtime, "%s: process_container_runtime"
             % title, sleeps)
        c.check(rel.split("/")[-1] in (p.get("process_cgroup") or ""),
                "%s: process_cgroup names the cgroup (%r)" % (title, p.get("process_cgroup")),
                sleeps)


def main():
    checkers = []
    for source in ("ebpf", "proc"):
        c = Checker("containers, %s" % source)
        guarded(c, scenario, c, source)
        checkers.append(c)
    return finish(checkers)


if __name__ == "__main__":
    main_wrapper(main)
