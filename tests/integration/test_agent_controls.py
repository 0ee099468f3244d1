"""Controls and no-silent-loss guarantees of `vigil agent`, end to end:
ring-buffer loss reported with counts, the process-table limit, environment
capture with secrets redacted, command-line redaction, exclusions (in kernel
and by path), the rotating file sink, and SIGHUP reload (bad file keeps the
running config, good file applies)."""
import glob
import json
import os
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, DEFAULT_CONFIG, finish, guarded, main_wrapper,  # noqa: E402
                           name, proc, system)


def args_of(ev):
    p = proc(ev) or {}
    return p.get("process_command_line_arguments") or []


def created_with(marker, events):
    return [e for e in events if name(e) == "Process Created" and marker in args_of(e)]


def ringbuf_loss(c):
    """A tiny ring buffer drained once a second, flooded with 30 KiB argv
    execs: records are lost in the kernel, and every loss is counted and
    reported; created + dropped accounts for every exec."""
    cfg = DEFAULT_CONFIG + """\
limits:
  max_args_bytes: 32KiB
events:
  thread: false
ebpf:
  ringbuf_bytes: 256KiB
  wakeup_bytes: 240KiB
  poll_interval_ms: 1000
  stats_interval_ms: 100
hashing:
  enabled: false
"""
    marker = "vigil-loss-" + uuid.uuid4().hex
    n = 300
    big = "x" * 30000
    with Agent("ringbuf-loss", config=cfg) as agent:
        for _ in range(n):
            subprocess.run(["/bin/true", marker, big], check=True)
        agent.wait_for(lambda e: name(e) == "Events Dropped", timeout=8)
        time.sleep(1.5)
    agent.check_output(c)
    created = created_with(marker, agent.events)
    drops = [e for e in agent.events if name(e) == "Events Dropped"]
    reasons = {(system(e) or {}).get("reason") for e in drops}
    dropped = sum((system(e) or {}).get("dropped", 0) for e in drops)
    c.check(len(created) < n, "the flood overflowed the 256 KiB ring buffer (created %d of %d)"
            % (len(created), n))
    c.check("ringbuf_full" in reasons, "an Events Dropped message with reason ringbuf_full "
            "(reasons seen: %s)" % sorted(r for r in reasons if r))
    c.check(dropped > 0, "the dropped count is reported (%d)" % dropped)
    c.check(len(created) + dropped >= n, "no silent loss: created %d + dropped %d >= %d execs"
            % (len(created), dropped, n))
    for e in drops:
        d = system(e) or {}
        c.check(e["message_header"]["message_type"] == "SYSTEM_ACTIVITY" and
                isinstance(d.get("dropped_total"), int) and d["dropped_total"] >= d["dropped"],
                "Events Dropped carries dropped and dropped_total", [e])


def process_limit(c):
    cfg = DEFAULT_CONFIG + "limits:\n  max_processes: 64\n"
    with Agent("limit", config=cfg) as agent:
        ok = agent.wait_for(lambda e: name(e) == "Process Limit Reached", timeout=5)
    agent.check_output(c)
    c.check(ok is not None, "a host with more than 64 processes reports Process Limit Reached")
    if ok:
        d = system(ok) or {}
        c.eq(d.get("max_processes"), 64, "the limit is named in the message")
        c.check(d.get("untracked", 0) > 0, "the number of untracked processes is reported", [ok])


def environment_and_redaction(c):
    cfg = DEFAULT_CONFIG + "events:\n  environment: true\n"
    marker = "vigil-env-" + uuid.uuid4().hex
    env = {"PATH": "/usr/bin:/bin", "FOO_PLAIN": "visible-" + marker,
           "MY_SECRET_TOKEN": "hunter2-" + marker, "DB_PASSWORD": "hunter3-" + marker}
    with Agent("env", config=cfg) as agent:
        subprocess.run(["/bin/sh", "-c", "sleep 0.2", marker, "--password=hunter4-" + marker,
                        "https://bob:hunter5-%s@example.invalid/x" % marker], env=env, check=True)
        agent.wait_for(lambda e: name(e) == "Process Terminated" and marker in args_of(e),
                       timeout=5)
    agent.check_output(c)
    evs = created_with(marker, agent.events)
    c.check(len(evs) == 1, "one Process Created for the sh with the marker", evs)
    if evs:
        p = proc(evs[0])
        envd = p.get("process_environment") or {}
        c.eq(envd.get("FOO_PLAIN"), "visible-" + marker, "a plain variable is kept", evs)
        c.eq(envd.get("MY_SECRET_TOKEN"), "[REDACTED]", "*TOKEN* value redacted", evs)
        c.eq(envd.get("DB_PASSWORD"), "[REDACTED]", "*PASSWORD* value redacted", evs)
        c.check("--password=[REDACTED]" in args_of(evs[0]), "--password=... redacted in argv",
                evs)
        c.check("https://bob:[REDACTED]@example.invalid/x" in args_of(evs[0]),
                "URL password redacted in argv", evs)
    raw = open(agent.stdout_path, "rb").read() if os.path.exists(agent.stdout_path) else b""
    raw = b"".join(agent._lines)
    for secret in ("hunter2-", "hunter3-", "hunter4-", "hunter5-"):
        c.check((secret + marker).encode() not in raw, "secret %s never appears in the output"
                % secret)


def exclusions(c):
    cfg = DEFAULT_CONFIG + """\
exclusions:
  process_names: [sleep]
  process_paths: ["/usr/bin/ech*"]
"""
    marker = "vigil-excl-" + uuid.uuid4().hex
    with Agent("exclusions", config=cfg) as agent:
        subprocess.run(["/bin/sleep", "0.05", marker], stderr=subprocess.DEVNULL)
        subprocess.run(["/usr/bin/echo", marker], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["/bin/true", marker], check=True)
        agent.wait_for(lambda e: name(e) == "Process Terminated" and marker in args_of(e) and
                       (proc(e) or {}).get("process_name") == "true", timeout=5)
    agent.check_output(c)
    names = {(proc(e) or {}).get("process_name") for e in agent.events if marker in args_of(e)}
    c.check("true" in names, "a process that is not excluded is reported (%s)" % sorted(names))
    c.check("sleep" not in names, "process_names [sleep] excludes sleep (filtered in kernel)")
    c.check("echo" not in names, "process_paths /usr/bin/ech* excludes echo")


def file_sink(c):
    folder_cfg = "/tmp/vigil-it-sink-" + uuid.uuid4().hex
    cfg = """\
output:
  stdout: true
  log_folder: "%s"
  log_threshold_bytes: 256KiB
  log_max_files: 1000
""" % folder_cfg
    try:
        with Agent("file-sink", config=cfg) as agent:
            marker = "vigil-sink-" + uuid.uuid4().hex
            for _ in range(300):
                subprocess.run(["/bin/true", marker], check=True)
            agent.wait_for(lambda e: False, timeout=0.5)
        agent.check_output(c)
        files = sorted(glob.glob(os.path.join(folder_cfg, "vigil-events.json*")))
        c.check(len(files) > 2, "the event file rotated at 256 KiB (%d files)" % len(files))
        total = 0
        for f in files:
            st = os.stat(f)
            c.check(st.st_size <= 256 * 1024, "%s is within the threshold (%d bytes)"
                    % (os.path.basename(f), st.st_size))
            c.eq(st.st_mode & 0o777, 0o600, "%s has mode 0600" % os.path.basename(f))
            with open(f, "rb") as fh:
                for line in fh:
                    json.loads(line)
                    total += 1
        c.eq(total, len(agent.events), "every event on stdout is also in the files, whole")
    finally:
        subprocess.run(["rm", "-rf", folder_cfg])


def sighup_reload(c):
    with Agent("reload") as agent:
        with open(agent.config_path, "w") as f:
            f.write("agent:\n  sourse: auto\n")
        os.kill(agent.pid, signal.SIGHUP)
        time.sleep(0.5)
        c.check(agent.proc.poll() is None, "a bad config on SIGHUP does not stop the agent")
        c.check(not any(name(e) == "Configuration Reloaded" for e in agent.snapshot()),
                "a bad config on SIGHUP is not applied")
        with open(agent.config_path, "w") as f:
            f.write(DEFAULT_CONFIG + "exclusions:\n  process_names: [sleep]\n")
        os.kill(agent.pid, signal.SIGHUP)
        ok = agent.wait_for(lambda e: name(e) == "Configuration Reloaded", timeout=5)
        c.check(ok is not None, "a good config on SIGHUP is applied (Configuration Reloaded)")
        marker = "vigil-hup-" + uuid.uuid4().hex
        subprocess.run(["/bin/sleep", "0.05", marker], stderr=subprocess.DEVNULL)
        subprocess.run(["/bin/true", marker], check=True)
        agent.wait_for(lambda e: name(e) == "Process Terminated" and marker in args_of(e) and
                       (proc(e) or {}).get("process_name") == "true", timeout=5)
    agent.check_output(c)
    names = {(proc(e) or {}).get("process_name") for e in agent.events if marker in args_of(e)}
    c.check("sleep" not in names and "true" in names,
            "the reloaded exclusion applies at once (%s)" % sorted(names))
    c.check("reload refused" in agent.stderr_text(), "the refused reload is logged with why")


def init_failed(c):
    """Without privileges neither source can start: the agent says so in a
    "Service Initialization Failed" message with the reason, and exits 1."""
    from vigil_harness import vigil_bin
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", os.path.realpath(vigil_bin()),
                        "agent", "--source", "ebpf"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30, cwd="/")
    c.eq(r.returncode, 1, "an agent that cannot load eBPF exits 1")
    evs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    names = [name(e) for e in evs]
    c.check("Service Initialization Started" in names, "Started is reported (%s)" % names)
    failed = [e for e in evs if name(e) == "Service Initialization Failed"]
    c.check(len(failed) == 1, "Service Initialization Failed is reported once (%s)" % names)
    if failed:
        msg = (system(failed[0]) or {}).get("message", "")
        c.check("eBPF" in msg and ("ermission" in msg or "not permitted" in msg),
                "the failure says what failed and why: %r" % msg)
        c.eq(failed[0]["message_header"]["severity"], "ERROR", "severity ERROR")
    c.check("Service Initialization Successful" not in names, "nothing claims success")


def main():
    checkers = []
    for title, fn in (("ringbuf loss", ringbuf_loss), ("process limit", process_limit),
                      ("environment+redaction", environment_and_redaction),
                      ("exclusions", exclusions), ("file sink", file_sink),
                      ("SIGHUP reload", sighup_reload), ("init failed", init_failed)):
        c = Checker(title)
        guarded(c, fn, c)
        checkers.append(c)
    return finish(checkers)


if __name__ == "__main__":
    main_wrapper(main)
