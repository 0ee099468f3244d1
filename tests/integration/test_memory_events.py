"""Memory and library events end to end (eBPF): a program the test builds
dlopens a library the test builds (Library Loaded with path and sha256, once),
maps RWX anonymous memory twice (New Executable Anonymous Memory Mapped; the
second one suppressed by the per-process rate limit and counted), adds exec
to a writable mapping (Executable Permissions Added) and removes it, removes
exec from part of an RWX mapping and from the library's code page
(Executable Permissions Removed, three times), creates a memfd and
execs from it (Memory File Created, Fileless Execution)."""
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, DEFAULT_CONFIG, finish, guarded, main_wrapper,  # noqa: E402
                           name, proc)

HERE = os.path.dirname(os.path.abspath(__file__))


def build(tmp):
    lib = os.path.join(tmp, "libvigiltest.so")
    src = os.path.join(tmp, "lib.c")
    with open(src, "w") as f:
        f.write("int vigil_test_fn(void) { return 42; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, src], check=True)
    prog = os.path.join(tmp, "memwork")
    subprocess.run(["gcc", "-O1", "-o", prog, os.path.join(HERE, "progs", "memwork.c"), "-ldl"],
                   check=True)
    return lib, prog


def md(e):
    return e["activity_data"].get("memory_details") or {}


def scenario(c, interval, title):
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="vigil-it-mem-"))
    lib, prog = build(tmp)
    cfg = DEFAULT_CONFIG + "limits:\n  memory_event_interval_ms: %s\n" % interval
    with Agent("memory-" + title, config=cfg) as agent:
        r = subprocess.run([prog, lib], capture_output=True, timeout=20)
        c.eq(r.returncode, 0, "%s: the workload ran (stderr %r)" % (title, r.stderr[-200:]))
        out = (r.stdout.decode().split() + ["0", "0", "0"])[:3]
        child, half, code = int(out[0]), int(out[1]), int(out[2])
        agent.wait_for(lambda e: name(e) == "Fileless Execution", timeout=10)
    agent.check_output(c)
    pid = [e for e in agent.events if name(e) == "Process Created" and
           proc(e).get("process_executable_path") == prog]
    if not c.check(pid, "%s: the workload's exec is reported" % title):
        return
    pid = proc(pid[0])["process_id"]
    mine = [e for e in agent.events if proc(e).get("process_id") == pid]

    libs = [e for e in mine if name(e) == "Library Loaded" and
            e["activity_data"]["library_details"]["library_path"] == lib]
    c.eq(len(libs), 1, "%s: the dlopen'd library is one Library Loaded" % title, mine)
    if libs:
        d = libs[0]["activity_data"]["library_details"]
        want = hashlib.sha256(open(lib, "rb").read()).hexdigest()
        c.eq(d["library_hash_sha256"], want, "%s: library sha256 == sha256sum" % title, libs)
        c.eq(d["library_language"], "native", "%s: library language" % title, libs)
        c.eq(d["library_size_bytes"], os.path.getsize(lib), "%s: library size" % title, libs)
    libc = [e for e in mine if name(e) == "Library Loaded" and
            "libc.so" in e["activity_data"]["library_details"]["library_path"]]
    c.eq(len(libc), 1, "%s: libc, mapped by ld.so several times, is one event" % title, mine)
    if libc:
        d = libc[0]["activity_data"]["library_details"]
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libc6"],
                             capture_output=True, text=True).stdout
        c.eq((d["library_package"], d["library_package_version"]), ("libc6", ver),
             "%s: libc's Debian package and version" % title, libc)
    if libs:
        c.eq(libs[0]["activity_data"]["library_details"]["library_package"], None,
             "%s: a library no package owns has no package" % title, libs)

    anon = [e for e in mine if name(e) == "New Executable Anonymous Memory Mapped"]
    if interval == 0:
        c.eq(len(anon), 2, "%s: both RWX mappings reported with no rate limit" % title, mine)
    else:
        c.eq(len(anon), 1, "%s: the second RWX mapping within the interval is "
             "suppressed" % title, mine)
    if anon:
        d = md(anon[0])
        c.eq(d["memory_protection"], ["PROT_READ", "PROT_WRITE", "PROT_EXEC"],
             "%s: protection" % title, anon)
        c.eq((d["memory_writable_and_executable"], d["memory_anonymous"], d["memory_length"]),
             (True, True, 4096), "%s: W+X, anonymous, length" % title, anon)
    mp = [e for e in mine if name(e) == "Executable Permissions Added"]
    c.eq(len(mp), 1, "%s: mprotect adding exec is reported" % title, mine)
    if mp:
        c.eq((md(mp[0])["memory_operation"], md(mp[0])["memory_anonymous"]), ("mprotect", True),
             "%s: mprotect on anonymous memory" % title, mp)
    rm = [e for e in mine if name(e) == "Executable Permissions Removed"]
    if interval != 0:
        c.eq(len(rm), 1, "%s: the first exec removal is reported, the others are within "
             "the interval" % title, mine)
    else:
        c.eq(len(rm), 3, "%s: exec removed three times, three events" % title, mine)
    if rm and mp:
        c.eq(md(rm[0])["memory_address"], md(mp[0])["memory_address"],
             "%s: removed from the region that got it" % title, rm + mp)
        c.eq(md(rm[0])["memory_protection"], ["PROT_READ"], "%s: new protection" % title, rm)
    if interval == 0 and len(rm) == 3:
        def addr(e):
            return int(md(e)["memory_address"], 16)
        c.eq((addr(rm[1]), md(rm[1])["memory_anonymous"], md(rm[1])["memory_protection"]),
             (half, True, ["PROT_READ", "PROT_WRITE"]),
             "%s: the half carved out of the RWX mapping" % title, rm)
        c.eq((addr(rm[2]), md(rm[2])["memory_anonymous"], md(rm[2]).get("memory_file_path")),
             (code, False, lib), "%s: the library's code page, with its file" % title, rm)
    mf = [e for e in mine if name(e) == "Memory File Created"]
    c.check(mf and md(mf[0])["memory_memfd_name"] == "vigil-fileless",
            "%s: memfd_create with its name" % title, mine)
    fl = [e for e in agent.events if name(e) == "Fileless Execution" and
          proc(e).get("process_id") == child]
    c.eq(len(fl), 1, "%s: exec of a memfd is Fileless Execution" % title,
         [e for e in agent.events if proc(e).get("process_id") == child])
    if fl:
        c.check(proc(fl[0]).get("process_executable_path", "").startswith("/memfd:vigil-fileless"),
                "%s: its executable path names the memfd (%r)" % (
                    title, proc(fl[0]).get("process_executable_path")), fl)
        c.eq(fl[0]["message_header"]["severity"], "HIGH", "%s: fileless is HIGH" % title, fl)
    subprocess.run(["rm", "-rf", tmp])


def main():
    checkers = []
    for interval, title in ((60000, "rate limited"), (0, "unlimited")):
        c = Checker("memory events, " + title)
        guarded(c, scenario, c, interval, title)
        checkers.append(c)
    return finish(checkers)


if __name__ == "__main__":
    main_wrapper(main)
