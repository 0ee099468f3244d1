#!/usr/bin/python3
"""End-to-end: hostile bytes in executable names, paths, argv and cwd.

Runs copies of sleep whose file names, directories and argv[0] contain
quotes, backslashes, control bytes (\\x01, \\x1b, \\t, \\n) and invalid UTF-8,
and a /bin/sh whose further arguments do, under both sources (eBPF and the
process connector). Every line the agent writes must be strict UTF-8, one
JSON object, and valid against docs/event.schema.json; the event of each
process is found by pid and its strings must equal the original bytes with
each invalid UTF-8 byte replaced by U+FFFD and control characters escaped
(so that they decode back to themselves).

The invalid sequences used here are ones where "one U+FFFD per invalid byte"
and Python's "one U+FFFD per maximal subpart" agree (lone continuation
bytes, \\xff, \\xfe, \\xf5, overlong \\xc0\\xaf, the surrogate \\xed\\xa0\\x80,
a lead byte followed by ASCII), so the expectation does not depend on which
of the two conforming replacement policies the agent uses.
Exits 0 when every check passes.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vigil_harness as vh  # noqa: E402
from vigil_harness import name, proc  # noqa: E402

WAIT = 10.0
SLEEP_EXE = os.path.realpath("/bin/sleep")
SH_EXE = os.path.realpath("/bin/sh")

# File names (no "/" and no NUL: the kernel would refuse them). Each one is
# also argv[0], so it shows up in the arguments as well.
NAMES = [
    b'q"uo\'te "double" \'single\'',
    b"back\\slash\\\\two \\u0041 \\n",
    b"ctl\x01one\x1b[31mesc\ttab\rcr\nnl\x7fdel",
    b"bad\xff\xfeutf8\x80cont\xc3(lead\xf5x",
    b"ov\xc0\xaferlong \xed\xa0\x80surrogate",
    b"ok \xc3\xa9t\xc3\xa9 \xe2\x82\xac ab \xf0\x9f\x98\x80 emoji",
]
# Extra arguments for sh -c 'sleep 0.3; :' $0 $1...: the same hostile set
# and a few JSON-breaking sequences.
SH_ARGS = [b'"}]},{"injected":1', b"\\", b"\x1b]0;title\x07", b"tab\there", b"\xff",
           b"", b"  spaces  "]
DIR_NAME = b"cwd \x01\xff \"q\" \\b"


def text(b):
    """What the agent must show for the bytes b."""
    return b.decode("utf-8", "replace")


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def comm_of(basename):
    # The kernel keeps the first 15 bytes of the file name as comm.
    return basename[:15]


class Case:
    def __init__(self, exe, argv, cwd, sha, truncated=False):
        self.exe, self.argv, self.cwd, self.sha = exe, argv, cwd, sha
        self.truncated = truncated
        self.p = None
        self.pid = None


def check_truncated(c, what, p, argv, evs):
    """argv over limits.max_args_bytes: flagged, a prefix of the real argv
    (the last argument possibly cut, a cut character shown as U+FFFD), and
    no more than the limit."""
    got = p.get("process_command_line_arguments") or []
    c.eq(p.get("process_args_truncated"), True, what + ": process_args_truncated", evs)
    # a U+FFFD at the end stands for one byte of a cut character
    nbytes = sum(len(a.encode("utf-8")) + 1 for a in got) - 1
    if got:
        nbytes -= 2 * (len(got[-1]) - len(got[-1].rstrip("\ufffd")))
    c.check(0 < len(got) < len(argv) and nbytes <= 4096,
            what + ": truncated argv has fewer arguments and at most 4096 bytes", evs,
            expected="< %d arguments, <= 4096 bytes" % len(argv),
            actual="%d arguments, %d bytes" % (len(got), nbytes))
    if not got:
        return
    c.eq(got[:-1], [text(a) for a in argv[:len(got) - 1]],
         what + ": all arguments but the last are complete", evs)
    last, full = got[-1].rstrip("\ufffd"), text(argv[len(got) - 1])
    c.check(full.startswith(last), what + ": the last argument is a prefix of the real one",
            evs, expected="a prefix of %r" % full, actual=got[-1])


def run_source(label, source, strict):
    c = vh.Checker(label)
    vh.guarded(c, session, c, label, source, strict)
    return c


def session(c, label, source, strict):
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-it-hostile-"))
    bbase = os.fsencode(base)
    uniq = uuid.uuid4().hex.encode()
    cases = []
    cwd = os.path.join(bbase, DIR_NAME)
    os.mkdir(cwd)
    sleep_sha = sha256_file(SLEEP_EXE)
    for i, n in enumerate(NAMES):
        # sanity: comm must not cut a multi-byte sequence in two, or the
        # expectation would depend on the replacement policy
        assert text(comm_of(n)) == text(n)[:len(text(comm_of(n)))], n
        d = os.path.join(bbase, b"d%d " % i + n)
        os.mkdir(d)
        exe = os.path.join(d, n)
        shutil.copyfile(SLEEP_EXE, exe)
        os.chmod(exe, 0o755)
        cases.append(Case(exe, [n + b" " + uniq, b"0.3"], cwd, sleep_sha))
    cases.append(Case(os.fsencode(SH_EXE),
                      [b"/bin/sh", b"-c", b"sleep 0.3; :", uniq + b"\x01\xff"] + SH_ARGS, cwd,
                      sha256_file(SH_EXE)))
    # argv far over limits.max_args_bytes (4 KiB), in two-byte characters so
    # that the cut may fall inside one: still valid UTF-8, flagged truncated.
    long_args = [b"%04d" % i + "\u00e9".encode() * 48 + b"." for i in range(100)]
    cases.append(Case(os.fsencode(SH_EXE), [b"/bin/sh", b"-c", b"sleep 0.3; :", uniq] +
                      long_args, cwd, sha256_file(SH_EXE), truncated=True))
    agent = vh.Agent(source, source=source)
    try:
        agent.start()
        for k in cases:
            k.p = subprocess.Popen(k.argv, executable=k.exe, cwd=k.cwd,
                                   stdin=subprocess.DEVNULL)
            k.pid = k.p.pid
        for k in cases:
            k.p.wait(timeout=WAIT)
        agent.wait_all([vh.is_event("Process Terminated", k.pid) for k in cases], WAIT)
        agent.stop()
    finally:
        for k in cases:
            if k.p is not None and k.p.poll() is None:
                k.p.kill()
                k.p.wait(timeout=WAIT)
        agent.kill()
        shutil.rmtree(base, ignore_errors=True)

    agent.check_output(c)
    for k in cases:
        evs = agent.events_for_pid(k.pid)
        c.eq(k.p.returncode, 0, "workload %r exit status (sanity)" % k.exe)
        created = [e for e in evs if name(e) == "Process Created"]
        if not c.check(len(created) == 1, "exactly one Process Created for pid %s (%r)" %
                       (k.pid, k.exe), evs):
            continue
        p = proc(created[0])
        what = "pid %s %r" % (k.pid, k.exe)
        c.eq(p.get("process_executable_path"), text(k.exe), what + ": process_executable_path",
             evs)
        if k.truncated:
            check_truncated(c, what, p, k.argv, evs)
        else:
            c.eq(p.get("process_command_line_arguments"), [text(a) for a in k.argv],
                 what + ": process_command_line_arguments", evs)
            c.eq(p.get("process_command_line"), " ".join(text(a) for a in k.argv),
                 what + ": process_command_line", evs)
            c.eq(p.get("process_args_truncated"), False, what + ": process_args_truncated", evs)
        c.eq(p.get("process_current_working_directory"), text(k.cwd),
             what + ": process_current_working_directory", evs)
        c.eq(p.get("process_hash_sha256"), k.sha, what + ": process_hash_sha256", evs)
        if strict:
            c.eq(p.get("process_name"), text(comm_of(os.path.basename(k.exe))),
                 what + ": process_name (comm, 15 bytes of the file name)", evs)
        term = [e for e in evs if name(e) == "Process Terminated"]
        if c.check(len(term) == 1, what + ": exactly one Process Terminated", evs):
            c.eq(proc(term[0]).get("process_executable_path"), text(k.exe),
                 what + ": Process Terminated: process_executable_path", evs)
    agent.cleanup(c)


def main():
    vh.require_root()
    vh.vigil_bin()
    return vh.finish([run_source("hostile names, ebpf", "ebpf", True),
                      run_source("hostile names, process connector", "proc", False)])


if __name__ == "__main__":
    vh.main_wrapper(main)
