#!/usr/bin/python3
"""End-to-end: `vigil agent --config BAD` refuses bad files, --print-config
round-trips.

For each bad file: exit code 2, stderr names "FILE:LINE:" with the line of
the offending key or value (the errors are placed after valid lines so that
"line 1" cannot pass by accident), the offending key is named, nothing is
written on stdout (no event: nothing started) and the agent exits at once.

--print-config: the printed config loads back and prints identically, for the
defaults, for etc/vigil.yaml and for a file that changes many options
(including a user_data string full of YAML-special characters); a changed
option shows up in the printed output.

SIGHUP (as root, with the running agent): a bad file is refused with
FILE:LINE on stderr and the running config kept; a good one applies at once
(a newly excluded process name is no longer reported). Exits 0 when every
check passes.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vigil_harness as vh  # noqa: E402

TIMEOUT = 10

# (label, file content, expected line, a word stderr must contain)
BAD = [
    ("unknown key", "# vigil\nagent:\n  log_level: info\n  org_id: \"acme\"\n"
     "  bogus_option: 1\noutput:\n  stdout: true\n", 5, "bogus_option"),
    ("unknown section", "agent:\n  log_level: info\n\nnot_a_section:\n  x: 1\n", 4,
     "not_a_section"),
    ("wrong type: word for a bool", "agent:\n  log_level: info\nevents:\n  process: true\n"
     "  thread: maybe\n", 5, "thread"),
    ("wrong type: list for a number", "limits:\n  max_args_bytes: 4KiB\n"
     "  max_processes: [1, 2]\n", 3, "max_processes"),
    ("wrong type: word for a number", "# a\n# b\nlimits:\n  max_processes: lots\n", 4,
     "max_processes"),
    ("out of range: below the minimum", "agent:\n  source: auto\nlimits:\n"
     "  max_processes: 63\n", 4, "max_processes"),
    ("out of range: above the maximum", "ebpf:\n  ringbuf_bytes: 16MiB\n"
     "  poll_interval_ms: 1001\n", 3, "poll_interval_ms"),
    ("out of range: not a power of two", "ebpf:\n  poll_interval_ms: 50\n"
     "  ringbuf_bytes: 3MiB\n", 3, "ringbuf_bytes"),
    ("bad enum value", "agent:\n  org_id: \"x\"\n  source: kernel-module\n", 3, "source"),
    ("YAML syntax: tab indentation", "agent:\n  log_level: info\noutput:\n\tstdout: true\n", 4,
     "YAML"),
    ("YAML syntax: unclosed flow list", "agent:\n  log_level: info\nexclusions:\n"
     "  process_names: [a, b\noutput:\n  stdout: true\n", None, "YAML"),
    ("YAML syntax: mapping in a scalar", "agent:\n  log_level: info\n"
     "  source: auto: ebpf\n", 3, "YAML"),
]


def run(argv, timeout=TIMEOUT):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, cwd=vh.REPO)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def check_bad(c, binary, tmp):
    for i, (label, text, line, word) in enumerate(BAD):
        path = os.path.join(tmp, "bad_%02d.yaml" % i)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        what = "bad config (%s): %s" % (label, path)
        try:
            rc, out, err = run([binary, "agent", "--config", path])
        except subprocess.TimeoutExpired:
            c.fail("%s: the agent did not exit within %d s (it must refuse the file at "
                   "once)" % (what, TIMEOUT))
            continue
        c.eq(rc, 2, what + ": exit code")
        c.eq(out, b"", what + ": nothing on stdout (no event, nothing started)")
        if line is not None:
            want = "%s:%d:" % (path, line)
            c.check(want in err, what + ": stderr names FILE:LINE", expected=want,
                    actual=err.strip())
        else:
            # libyaml reports an unclosed flow collection where it gives up;
            # any line from the opening bracket on is right.
            ok = any("%s:%d:" % (path, n) in err for n in range(4, 7))
            c.check(ok, what + ": stderr names FILE:LINE with a line in 4..6",
                    expected="%s:4..6:" % path, actual=err.strip())
        c.check(word in err, what + ": stderr says what is wrong", expected="mentions " + word,
                actual=err.strip())
        c.check(err.count("\n") <= 3, what + ": one short message, not a dump",
                actual=err.strip())

    # A file that does not exist or is not a regular file is refused too.
    for label, path in (("missing file", os.path.join(tmp, "does-not-exist.yaml")),
                        ("a directory", tmp)):
        rc, out, err = run([binary, "agent", "--config", path])
        c.eq(rc, 2, "config %s: exit code" % label)
        c.eq(out, b"", "config %s: nothing on stdout" % label)
        c.check(path in err, "config %s: stderr names the file" % label, expected=path,
                actual=err.strip())


CUSTOM = """\
agent:
  device_id: "host-42"
  org_id: "acme_corp"
  log_level: debug
  source: proc
  user_data: 'it''s "quoted" # not a comment: x \\ back \u00e9t\u00e9 [a, b] {c: d}'
events:
  thread: false
  environment: true
limits:
  max_processes: 100
  max_args_bytes: 8KiB
hashing:
  enabled: false
  max_file_bytes: 1GiB
exclusions:
  process_names: ["cron", "my proc"]
  process_paths: ["/usr/lib/*/helper*", "/opt/a b/*"]
redaction:
  secret_env_patterns: ["*TOKEN*"]
output:
  stdout: true
  log_threshold_bytes: 1MiB
  log_max_files: 3
ebpf:
  ringbuf_bytes: 1MiB
  wakeup_bytes: 64KiB
  poll_interval_ms: 20
"""


def check_print(c, binary, tmp):
    custom = os.path.join(tmp, "custom.yaml")
    with open(custom, "w", encoding="utf-8") as f:
        f.write(CUSTOM)
    rc, defaults_out, err = run([binary, "agent", "--print-config"])
    c.eq(rc, 0, "--print-config without a file: exit code (stderr: %s)" % err.strip())
    printed = {}
    for label, args in (("defaults", []),
                        ("etc/vigil.yaml", ["--config", os.path.join(vh.REPO, "etc",
                                                                     "vigil.yaml")]),
                        ("custom", ["--config", custom])):
        rc, out1, err = run([binary, "agent"] + args + ["--print-config"])
        if not c.eq(rc, 0, "--print-config (%s): exit code; stderr: %s" % (label,
                                                                          err.strip())):
            continue
        c.check(out1.strip() != b"", "--print-config (%s) prints something" % label)
        path = os.path.join(tmp, "printed-%s.yaml" % label.replace("/", "_"))
        with open(path, "wb") as f:
            f.write(out1)
        rc, out2, err = run([binary, "agent", "--config", path, "--print-config"])
        c.eq(rc, 0, "printed config (%s) loads back: exit code; stderr: %s" % (label,
                                                                              err.strip()))
        c.check(out1 == out2, "printed config (%s) loads back and prints identically" % label,
                expected=out1.decode("utf-8", "replace"),
                actual=out2.decode("utf-8", "replace"))
        printed[label] = out1
    if "defaults" in printed and "etc/vigil.yaml" in printed:
        c.check(printed["defaults"] == printed["etc/vigil.yaml"],
                "etc/vigil.yaml shows the defaults, so it prints like no file at all",
                expected=printed["defaults"].decode("utf-8", "replace"),
                actual=printed["etc/vigil.yaml"].decode("utf-8", "replace"))
    if "custom" in printed:
        text = printed["custom"].decode("utf-8", "replace")
        c.check(printed["custom"] != printed.get("defaults"),
                "a changed config prints differently from the defaults", actual=text)
        for needle in ("host-42", "acme_corp", "my proc", "/opt/a b/*", "debug"):
            c.check(needle in text, "printed custom config mentions %r" % needle, actual=text)
    # --source on the command line overrides the file and shows in the print.
    rc, out_src, _ = run([binary, "agent", "--config", custom, "--source", "ebpf",
                          "--print-config"])
    c.check(rc == 0 and out_src != printed.get("custom"),
            "--source ebpf changes the printed config", actual=out_src.decode("utf-8",
                                                                            "replace"))
    rc, out, err = run([binary, "agent", "--source", "nonsense", "--print-config"])
    c.eq(rc, 2, "--source nonsense: exit code")
    c.eq(out, b"", "--source nonsense: nothing on stdout")


def run_exe(exe, argv0):
    p = subprocess.Popen([argv0, "0.2"], executable=exe, stdin=subprocess.DEVNULL)
    p.wait(timeout=TIMEOUT)
    return p.pid


def check_reload(c, tmp, source):
    """SIGHUP: a bad file is refused and the running config kept (the agent
    goes on, nothing excluded); a good one applies at once (the newly
    excluded process name is no longer reported, others still are)."""
    comm = "vgx" + uuid.uuid4().hex[:10]
    exe = os.path.join(tmp, comm)
    shutil.copyfile("/bin/sleep", exe)
    os.chmod(exe, 0o755)
    control = os.path.join(tmp, "vgctl")
    shutil.copyfile("/bin/sleep", control)
    os.chmod(control, 0o755)
    agent = vh.Agent("reload-" + source, source=source)
    try:
        agent.start()
        before = run_exe(exe, comm)
        agent.wait_for(vh.is_event("Process Terminated", before), TIMEOUT)

        with open(agent.config_path, "w") as f:
            f.write("agent:\n  log_level: info\nexclusions:\n  process_names: [%s\n" % comm)
        agent.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while "reload" not in agent.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        err = agent.stderr_text()
        c.check("%s:" % agent.config_path in err and "reload" in err,
                "bad config on SIGHUP: the agent logs that it keeps the running config, "
                "naming FILE:LINE", expected="a line with 'reload' and %s:LINE" %
                agent.config_path, actual=err.strip()[-800:])
        c.check(agent.proc.poll() is None, "bad config on SIGHUP: the agent keeps running",
                actual="exited with %s" % agent.proc.returncode)
        after_bad = run_exe(exe, comm)
        agent.wait_for(vh.is_event("Process Terminated", after_bad), TIMEOUT)

        with open(agent.config_path, "w") as f:
            f.write("agent:\n  log_level: info\nexclusions:\n  process_names: [%s]\n" % comm)
        agent.proc.send_signal(signal.SIGHUP)
        reloaded = agent.wait_for(lambda e: vh.name(e) == "Configuration Reloaded", TIMEOUT)
        c.check(reloaded is not None, "good config on SIGHUP: \"Configuration Reloaded\"",
                agent.snapshot()[-5:])
        excluded = run_exe(exe, comm)
        ctl = run_exe(control, "vgctl")
        c.check(agent.wait_for(vh.is_event("Process Terminated", ctl), TIMEOUT) is not None,
                "after the reload, a process that is not excluded is still reported",
                agent.snapshot()[-5:])
        agent.stop()
    finally:
        agent.kill()
    agent.check_output(c)
    names = [vh.name(e) for e in agent.events]
    c.eq(names.count("Configuration Reloaded"), 1,
         "exactly one \"Configuration Reloaded\" (the bad file did not reload)")
    for pid, label in ((before, "before any reload"), (after_bad, "after the refused reload")):
        # process events only: the program's own file, library and
        # network events are other families' business
        c.eq([vh.name(e) for e in agent.events_for_pid(pid)
              if e["activity_data"].get("family") == "process"],
             ["Process Created", "Process Terminated"],
             "%s is reported %s" % (comm, label), agent.events_for_pid(pid))
    leaked = [vh.summary(e) for e in agent.events_for_pid(excluded)]
    what = ("%s is not reported once exclusions.process_names lists it (not even as a fork "
            "of its parent)" % comm)
    # eBPF filters the exec of an excluded name in the kernel and sends a
    # header-only record so the child's held-back fork is cancelled.
    c.eq(leaked, [], what)
    agent.cleanup(c)


def main():
    binary = vh.vigil_bin()
    c = vh.Checker("config errors")
    checkers = [c]
    tmp = tempfile.mkdtemp(prefix="vigil-it-config-")
    try:
        check_bad(c, binary, tmp)
        check_print(c, binary, tmp)
        vh.require_root()
        for source in ("ebpf", "proc"):
            r = vh.Checker("SIGHUP reload, %s source" % source)
            vh.guarded(r, check_reload, r, tmp, source)
            checkers.append(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return vh.finish(checkers)


if __name__ == "__main__":
    vh.main_wrapper(main)
