"""File events end to end (eBPF): a child process creates, writes, renames,
truncates, chmods, chowns, links, symlinks and deletes files under a temp dir,
opens a missing file and one relative to a directory fd; every operation must
be reported with absolute paths, flags, mode, result and errno."""
import errno
import re
import shutil
import os
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, finish, guarded, main_wrapper, name, proc)  # noqa: E402

CHILD = r'''
import os, sys
os.chdir(sys.argv[1])
os.mkdir("sub")
fd = os.open("new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
os.write(fd, b"hello")
os.close(fd)
os.rename("new.txt", "sub/../sub/renamed.txt")
os.truncate("sub/renamed.txt", 3)
os.chmod("sub/renamed.txt", 0o600)
os.chown("sub/renamed.txt", 65534, 65534)
os.link("sub/renamed.txt", "hard.txt")
os.symlink("target text", "sub/sym")
try:
    os.open("missing-" + sys.argv[2], os.O_RDONLY)
except FileNotFoundError:
    pass
dfd = os.open("sub", os.O_RDONLY | os.O_DIRECTORY)
fd = os.open("rel.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=dfd)
os.close(fd)
os.unlink("rel.txt", dir_fd=dfd)
os.close(dfd)
os.unlink("hard.txt")
os.unlink("sub/sym")
os.unlink("sub/renamed.txt")
os.rmdir("sub")
'''


def file_events(agent, pid):
    return [e for e in agent.events if (proc(e) or {}).get("process_id") == pid and
            e["activity_data"].get("family") == "file"]


def fd_(e):
    return e["activity_data"]["file_details"]


def scenario(c):
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="vigil-it-files-"))
    marker = uuid.uuid4().hex
    with Agent("files") as agent:
        p = subprocess.Popen([sys.executable, "-c", CHILD, tmp, marker])
        c.eq(p.wait(timeout=20), 0, "the workload ran")
        agent.wait_for(lambda e: name(e) == "Directory Deleted" and
                       fd_(e).get("file_path") == tmp + "/sub", timeout=10)
    os.rmdir(tmp)
    agent.check_output(c)
    evs = file_events(agent, p.pid)

    def one(ev_name, path, what):
        got = [e for e in evs if name(e) == ev_name and fd_(e).get("file_path") == path]
        c.check(len(got) >= 1, "%s: %s %s" % (what, ev_name, path), evs)
        return got[0] if got else None

    e = one("File Created", tmp + "/new.txt", "O_CREAT|O_EXCL open")
    if e:
        f = fd_(e)
        c.eq(f["file_operation"], "openat", "created: syscall", [e])
        c.eq(f["file_result"], "success", "created: result", [e])
        c.check(isinstance(f["file_descriptor"], int) and f["file_descriptor"] >= 0,
                "created: the fd is reported", [e])
        for flag in ("O_WRONLY", "O_CREAT", "O_EXCL", "O_CLOEXEC"):
            c.check(flag in f["file_open_flag_names"], "created: %s in the flags" % flag, [e])
        c.eq(f["file_mode"], "0640", "created: mode", [e])
        c.eq(f["file_opened_for_write"], True, "created: opened for write", [e])
        c.check(f["file_inode"] and f["file_device"], "created: inode and device", [e])
        c.eq(proc(e).get("process_executable_path"), os.path.realpath(sys.executable),
             "created: the process block names the workload", [e])
    e = one("File Renamed", tmp + "/new.txt", "rename")
    if e:
        c.eq(fd_(e)["file_new_path"], tmp + "/sub/renamed.txt",
             "rename: new path absolute, '..' resolved", [e])
    e = one("File Truncated", tmp + "/sub/renamed.txt", "truncate")
    if e:
        c.eq(fd_(e)["file_truncate_length"], 3, "truncate: length", [e])
    e = one("File Permissions Changed", tmp + "/sub/renamed.txt", "chmod")
    if e:
        c.eq(fd_(e)["file_mode"], "0600", "chmod: mode", [e])
    e = one("File Owner Changed", tmp + "/sub/renamed.txt", "chown")
    if e:
        c.eq((fd_(e)["file_owner_uid"], fd_(e)["file_owner_gid"]), (65534, 65534),
             "chown: new owner", [e])
    e = one("File Link Created", tmp + "/sub/renamed.txt", "link")
    if e:
        c.eq(fd_(e)["file_new_path"], tmp + "/hard.txt", "link: new name", [e])
    e = one("File Symlink Created", tmp + "/sub/sym", "symlink")
    if e:
        c.eq(fd_(e)["file_symlink_target"], "target text", "symlink: target text kept", [e])
    e = one("File Opened", tmp + "/missing-" + marker, "failed open")
    if e:
        f = fd_(e)
        c.eq((f["file_result"], f["file_errno"], f["file_error_name"]),
             ("failure", errno.ENOENT, "ENOENT"), "failed open: errno", [e])
        c.eq(f["file_descriptor"], None, "failed open: no fd", [e])
        c.eq(f["file_open_flag_names"], ["O_RDONLY", "O_CLOEXEC"], "failed open: flags", [e])
    e = one("File Created", tmp + "/sub/rel.txt", "open relative to a directory fd")
    one("File Deleted", tmp + "/sub/rel.txt", "unlink relative to a directory fd")
    one("File Deleted", tmp + "/hard.txt", "unlink")
    one("File Deleted", tmp + "/sub/sym", "unlink of the symlink")
    one("Directory Created", tmp + "/sub", "mkdir")
    one("Directory Deleted", tmp + "/sub", "rmdir")
    ordered = [name(e) for e in evs if tmp in (fd_(e).get("file_path") or "")]
    c.check(ordered.index("File Created") < ordered.index("File Renamed") <
            ordered.index("Directory Deleted") if all(n in ordered for n in (
                "File Created", "File Renamed", "Directory Deleted")) else False,
            "events come in the order the operations ran: %s" % ordered)
    agent_own = [e for e in agent.events if e["activity_data"].get("family") == "file" and
                 proc(e).get("process_id") == agent.pid]
    c.eq(agent_own, [], "the agent's own file activity is not reported")


def disabled(c):
    cfg = "output:\n  stdout: true\nevents:\n  file: false\n"
    tmp = tempfile.mkdtemp(prefix="vigil-it-files-off-")
    with Agent("files-off", config=cfg) as agent:
        open(os.path.join(tmp, "x"), "w").close()
        os.unlink(os.path.join(tmp, "x"))
        agent.wait_for(lambda e: False, timeout=0.5)
    os.rmdir(tmp)
    agent.check_output(c)
    c.eq([e for e in agent.events if e["activity_data"].get("family") == "file"], [],
         "events.file: false turns file events off")


WATCH = r'''
import os, sys
d = sys.argv[1]
with open(os.path.join(d, "watched.conf"), "w") as f:
    f.write("new content\n")
with open(os.path.join(d, "excluded", "noise.log"), "w") as f:
    f.write("x")
with open(os.path.join(d, "excluded", "noise.log")) as f:
    f.read()
with open(os.path.join(d, "noise.skip"), "w") as f:
    f.write("x")
open(os.path.join(d, "mod.zip"), "rb").read()
open(os.path.join(d, "mod.zip"), "rb").read()
'''


def watch_and_exclude(c):
    """events.watch_paths: a write-opened file closed -> content change with
    the new sha256; exclusions.paths: nothing below it is reported (a literal
    directory is dropped in the kernel, which the agent's log counts; a glob
    in user space); a .zip read by python is a python dependency (once), a
    .jar read by java a java one, the same files read by cat nothing."""
    import hashlib
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="vigil-it-watch-"))
    os.mkdir(os.path.join(tmp, "excluded"))
    for n in ("lib.jar", "mod.zip"):
        with open(os.path.join(tmp, n), "wb") as f:
            f.write(b"PK\x03\x04 not really a zip")
    with open(os.path.join(tmp, "tool.py"), "w") as f:
        f.write("print('hi')\n")
    # an interpreter named java (a copy of python: there is no JVM here)
    java = os.path.join(tmp, "java")
    shutil.copy(sys.executable, java)
    cfg = ("output:\n  stdout: true\nevents:\n  watch_paths: [\"%s\"]\n"
           "exclusions:\n  paths: [\"%s/excluded\", \"%s/*.skip\"]\n" % (tmp, tmp, tmp))
    with Agent("files-watch", config=cfg) as agent:
        p = subprocess.Popen([sys.executable, "-c", WATCH, tmp])
        c.eq(p.wait(timeout=20), 0, "the workload ran")
        j = subprocess.Popen([java, "-c", "import sys; open(sys.argv[1], 'rb').read()",
                              os.path.join(tmp, "lib.jar")])
        c.eq(j.wait(timeout=20), 0, "the java workload ran")
        cat = subprocess.Popen(["cat", os.path.join(tmp, "tool.py"), os.path.join(tmp, "lib.jar")],
                               stdout=subprocess.DEVNULL)
        c.eq(cat.wait(timeout=20), 0, "cat ran")
        agent.wait_for(lambda e: name(e) == "File Descriptor File Content Change", timeout=10)
        agent.wait_for(lambda e: name(e) == "Process Terminated" and
                       proc(e).get("process_id") == cat.pid, timeout=10)
    agent.check_output(c)
    mine = [e for e in agent.events if proc(e).get("process_id") == p.pid]
    cc = [e for e in mine if name(e) == "File Descriptor File Content Change"]
    c.eq(len(cc), 1, "one content change for the watched file", mine)
    if cc:
        f = fd_(cc[0])
        c.eq(f["file_path"], tmp + "/watched.conf", "content change: path", cc)
        c.eq(f["file_hash_sha256"], hashlib.sha256(b"new content\n").hexdigest(),
             "content change: sha256 of the new content", cc)
        c.eq(f["file_size_bytes"], 12, "content change: size", cc)
        c.eq(cc[0]["message_header"]["severity"], "MEDIUM", "content change: MEDIUM", cc)
    ex = [e for e in mine if e["activity_data"]["family"] == "file" and
          ("excluded" in (fd_(e).get("file_path") or "") or
           (fd_(e).get("file_path") or "").endswith(".skip"))]
    c.eq(ex, [], "exclusions.paths: nothing below the excluded directory or matching "
         "the glob is reported")
    m = re.search(r"(\d+) file events on excluded paths were dropped in the kernel",
                  agent.stderr_text())
    c.check(m is not None and int(m.group(1)) >= 2,
            "the literal exclusion was applied in the kernel (both opens below it)",
            expected=">= 2 dropped in the kernel", actual=agent.stderr_text()[-600:])
    def deps(pid, path):
        return [e for e in agent.events if name(e) == "Library Loaded" and
                proc(e).get("process_id") == pid and
                e["activity_data"]["library_details"]["library_path"] == path]
    zips = deps(p.pid, tmp + "/mod.zip")
    c.eq(len(zips), 1, "a .zip opened twice by python is one python dependency", mine)
    if zips:
        c.eq(zips[0]["activity_data"]["library_details"]["library_language"], "python",
             "the .zip's language, from the interpreter", zips)
    jars = deps(j.pid, tmp + "/lib.jar")
    c.eq(len(jars), 1, "a .jar opened by java is one java dependency",
         [e for e in agent.events if proc(e).get("process_id") == j.pid])
    if jars:
        c.eq(jars[0]["activity_data"]["library_details"]["library_language"], "java",
             "the .jar's language", jars)
    c.eq(deps(cat.pid, tmp + "/tool.py") + deps(cat.pid, tmp + "/lib.jar"), [],
         "a .py and a .jar read by cat are not dependencies")
    subprocess.run(["rm", "-rf", tmp])


def main():
    checkers = []
    for title, fn in (("file events", scenario), ("file events off", disabled),
                      ("watch, exclude, dependencies", watch_and_exclude)):
        c = Checker(title)
        guarded(c, fn, c)
        checkers.append(c)
    return finish(checkers)


if __name__ == "__main__":
    main_wrapper(main)
