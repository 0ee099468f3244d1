"""Runs `vigil agent` for the integration tests and checks what it printed.

Used by tests/integration/test_*.py, which run under Debian's /usr/bin/python3
(standard library + python3-jsonschema) as root, from the repository root.

    with Agent("process", source="proc") as agent:   # started, initialised
        pid = ...run a workload...
        agent.wait_for(lambda ev: is_exit_of(ev, pid))
    # leaving the block: SIGTERM, exit 0 and "Service Gracefully Shutdown"
    # checked, every line validated against docs/event.schema.json
    agent.events_for_pid(pid)

Everything is bounded in time and the agent is killed on every way out, so a
failing test never leaves an agent (and its BPF programs) behind.
"""
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

try:
    import jsonschema
    from jsonschema.exceptions import best_match
except ImportError:
    sys.stderr.write("python3-jsonschema is missing: apt-get install python3-jsonschema, "
                     "and run the tests with /usr/bin/python3\n")
    sys.exit(2)

REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCHEMA_PATH = os.path.join(REPO, "docs", "event.schema.json")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
MAX_SCHEMA_ERRORS = 10


class TestFailure(Exception):
    """A check that makes going on pointless (the agent did not start...)."""


def vigil_bin():
    path = os.environ.get("VIGIL_BIN", ".output/std/vigil")
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    if not os.access(path, os.X_OK):
        raise TestFailure("agent binary %s not found or not executable (make all; or set "
                          "VIGIL_BIN)" % path)
    return path


def require_root():
    if os.geteuid() != 0:
        raise TestFailure("integration tests load BPF programs and open the process "
                          "connector: run them as root")


class EventValidator:
    """Validates events against docs/event.schema.json, exactly as the whole
    schema would, but 10-50x faster on real output: the process blocks (most
    of the work, and highly repetitive: every child of make carries the same
    parent block) are validated once per distinct content against the
    schema's own $defs/process_details, and the rest of the event against
    the schema with that definition reduced to "an object"."""

    BLOCKS = ("process_details", "parent_process_details")

    def __init__(self):
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        if "process_details" not in schema.get("$defs", {}):
            self.outer, self.block = cls(schema), None
            return
        outer = copy.deepcopy(schema)
        outer["$defs"]["process_details"] = {"type": "object"}
        block = {k: v for k, v in schema.items() if k.startswith("$") and k != "$id"}
        block["$ref"] = "#/$defs/process_details"
        self.outer, self.block = cls(outer), cls(block)
        self.cache = {}

    def first_error(self, ev):
        """None, or (json path, message) of the most relevant error."""
        err = best_match(self.outer.iter_errors(ev))
        if err is not None:
            return "/" + "/".join(str(p) for p in err.absolute_path), err.message
        ad = ev.get("activity_data")
        if self.block is None or not isinstance(ad, dict):
            return None
        for key in self.BLOCKS:
            obj = ad.get(key)
            if not isinstance(obj, dict):
                continue
            k = json.dumps(obj, sort_keys=True)
            if k not in self.cache:
                e = best_match(self.block.iter_errors(obj))
                self.cache[k] = None if e is None else (
                    "/".join(str(p) for p in e.absolute_path), e.message)
            if self.cache[k] is not None:
                path, msg = self.cache[k]
                return "/activity_data/%s/%s" % (key, path), msg
        return None


def _reject_constant(name):
    raise ValueError("non-standard JSON constant " + name)


def parse_line(raw):
    """bytes (one line, newline included or not) -> dict; raises ValueError
    for anything that is not strict UTF-8 holding one JSON object."""
    text = raw.decode("utf-8")  # strict: the agent must never emit invalid UTF-8
    if text.endswith("\n"):
        text = text[:-1]
    obj = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(obj, dict):
        raise ValueError("line is JSON but not an object")
    return obj


# ---- event accessors -----------------------------------------------------

def name(ev):
    return ev.get("activity_data", {}).get("name")


def proc(ev):
    return ev.get("activity_data", {}).get("process_details") or {}


def parent(ev):
    return ev.get("activity_data", {}).get("parent_process_details") or {}


def exit_details(ev):
    return ev.get("activity_data", {}).get("exit_details") or {}


def thread(ev):
    return ev.get("activity_data", {}).get("thread_details") or {}


def system(ev):
    return ev.get("activity_data", {}).get("system_details") or {}


def pid_of(ev):
    return proc(ev).get("process_id")


def summary(ev):
    """One line per event for failure messages: what a human needs to see."""
    ad = ev.get("activity_data", {})
    p = proc(ev)
    parts = [repr(ad.get("name"))]
    if p:
        parts.append("pid=%s tid=%s ppid=%s type=%s" % (
            p.get("process_id"), p.get("process_thread_id"),
            p.get("process_parent_process_id"), p.get("process_creation_type")))
        parts.append("exe=%r args=%r cwd=%r uid=%r(%r)" % (
            p.get("process_executable_path"), p.get("process_command_line_arguments"),
            p.get("process_current_working_directory"), p.get("process_real_user_id"),
            p.get("process_real_user_name")))
        pp = parent(ev)
        if pp:
            parts.append("parent=%s:%r" % (pp.get("process_id"),
                                           pp.get("process_executable_path")))
        else:
            parts.append("parent=null")
    if ad.get("thread_details"):
        parts.append("thread=%r" % ad["thread_details"])
    if ad.get("exit_details"):
        parts.append("exit=%r" % ad["exit_details"])
    if ad.get("system_details"):
        parts.append("system=%r" % ad["system_details"])
    return " ".join(parts)


# ---- checks ----------------------------------------------------------------

class Checker:
    """Collects failed expectations so one run reports all of them, each with
    the events the agent emitted for the pids involved."""

    def __init__(self, title):
        self.title = title
        self.failures = []
        self.passed = 0
        self.notes = []
        self.known_count = 0

    def check(self, cond, what, events=None, expected=None, actual=None):
        if cond:
            self.passed += 1
            return True
        lines = ["FAIL [%s] %s" % (self.title, what)]
        if expected is not None or actual is not None:
            lines.append("    expected: %r" % (expected,))
            lines.append("    actual:   %r" % (actual,))
        if events is not None:
            if events:
                lines.append("    events seen for this process (%d):" % len(events))
                lines.extend("      " + summary(e) for e in events[:20])
                if len(events) > 20:
                    lines.append("      ... %d more" % (len(events) - 20))
            else:
                lines.append("    no event seen for this process")
        self.failures.append("\n".join(lines))
        return False

    def eq(self, actual, expected, what, events=None):
        return self.check(actual == expected, what, events, expected=expected, actual=actual)

    def note(self, text):
        self.notes.append(text)

    def known(self, cond, what, events=None, expected=None, actual=None, bug=False):
        """A check that fails because of a known, reported agent bug (bug=True)
        or a documented limitation of a source: printed as KNOWN BUG / KNOWN
        LIMITATION and counted apart, not as a failure unless
        VIGIL_STRICT_KNOWN=1 (to see whether it was fixed)."""
        if cond or os.environ.get("VIGIL_STRICT_KNOWN") == "1":
            return self.check(cond, what, events, expected, actual)
        self.known_count += 1
        text = "KNOWN %s: %s" % ("BUG" if bug else "LIMITATION", what)
        if expected is not None or actual is not None:
            text += "\n    expected: %r\n    actual:   %r" % (expected, actual)
        if events:
            text += "\n" + "\n".join("      " + summary(e) for e in events[:6])
        if text not in self.notes:
            self.notes.append(text)
        return False

    def fail(self, what, events=None):
        return self.check(False, what, events)


# Every Agent's temp dir, so that finish() leaves none behind on a passing run
# (tests do not all call Agent.cleanup; the host is left as it was found).
_agent_tmpdirs = []


def finish(checkers):
    """Prints the verdict of every checker, removes the agents' temp dirs
    unless something failed or VIGIL_KEEP_TMP=1 (then says they are kept);
    returns the process exit code."""
    failed = 0
    for c in checkers:
        for n in c.notes:
            print("note [%s] %s" % (c.title, n))
        for f in c.failures:
            print(f)
        failed += len(c.failures)
        known = ""
        if c.known_count:
            known = (", %d KNOWN (agent bugs or source limits, listed above; "
                     "VIGIL_STRICT_KNOWN=1 fails on them)" % c.known_count)
        print("[%s] %d checks passed, %d failed%s" % (c.title, c.passed, len(c.failures), known))
    left = [d for d in _agent_tmpdirs if os.path.isdir(d)]
    if left and (failed or os.environ.get("VIGIL_KEEP_TMP") == "1"):
        print("agents' output kept: %s" % " ".join(left))
    else:
        for d in left:
            shutil.rmtree(d, ignore_errors=True)
    sys.stdout.flush()
    return 1 if failed else 0


# ---- the agent -------------------------------------------------------------

DEFAULT_CONFIG = """\
agent:
  log_level: info
output:
  stdout: true
  log_folder: ""
"""


class Agent:
    """One `vigil agent` run. Construct, then use as a context manager (or
    call start()/stop() in try/finally). After stop(), .events holds every
    parsed line and .schema_errors / .line_errors whatever was wrong."""

    def __init__(self, label, source=None, config=DEFAULT_CONFIG, extra_args=()):
        self.label = label
        self.source = source
        self.config = config
        self.extra_args = list(extra_args)
        self.tmp = tempfile.mkdtemp(prefix="vigil-it-%s-" % label)
        _agent_tmpdirs.append(self.tmp)
        self.config_path = os.path.join(self.tmp, "vigil.yaml")
        self.stdout_path = os.path.join(self.tmp, "stdout.jsonl")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.proc = None
        self.pid = None
        self.returncode = None
        self._lines = []		# raw bytes lines, in order
        self._cond = threading.Condition()
        self._eof = False
        self._reader = None
        self._parsed = []		# (index, event or None) for lines parsed so far
        self.events = []
        self.line_errors = []		# "line N: problem"
        self.schema_errors = []
        self.keep = os.environ.get("VIGIL_KEEP_TMP") == "1"

    # -- start/stop --

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, etype, evalue, tb):
        if etype is None:
            self.stop()
        else:
            self.kill()
        return False

    def start(self):
        require_root()
        binary = vigil_bin()
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config)
        argv = [binary, "agent", "--config", self.config_path]
        if self.source:
            argv += ["--source", self.source]
        argv += self.extra_args
        self.stderr_file = open(self.stderr_path, "wb")
        # Own process group, so that kill() also ends anything the agent
        # started (helpers holding its stdout open).
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, cwd=REPO, close_fds=True,
                                     start_new_session=True)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name="vigil-stdout", daemon=True)
        self._reader.start()
        ev = self.wait_for(lambda e: name(e) == "Service Initialization Successful",
                           timeout=START_TIMEOUT, what="Service Initialization Successful")
        if ev is None:
            rc = self.proc.poll()
            self.kill()
            raise TestFailure("[%s] agent did not report \"Service Initialization "
                              "Successful\" (%s)\n--- agent stderr:\n%s\n"
                              "--- agent stdout (last lines):\n%s" % (
                                  self.label,
                                  "it exited with %s" % rc if rc is not None else
                                  "still running after %.0f s" % START_TIMEOUT,
                                  self.stderr_text(), self.stdout_tail()))

    def _read(self):
        out = open(self.stdout_path, "wb")
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                out.write(raw)
                out.flush()
                with self._cond:
                    self._lines.append(raw)
                    self._cond.notify_all()
        finally:
            out.close()
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def stop(self):
        """SIGTERM, wait, then validate. Raises TestFailure when the agent does
        not stop cleanly; schema problems are left in .schema_errors."""
        try:
            if self.proc.poll() is not None:
                raise TestFailure("[%s] agent exited on its own with %s before the test "
                                  "stopped it\n--- agent stderr:\n%s" % (
                                      self.label, self.proc.returncode, self.stderr_text()))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise TestFailure("[%s] agent did not exit within %.0f s of SIGTERM\n"
                                  "--- agent stderr:\n%s" % (self.label, STOP_TIMEOUT,
                                                             self.stderr_text()))
            self._reader.join(timeout=STOP_TIMEOUT)
            if self._reader.is_alive():
                raise TestFailure("[%s] agent stdout still open %.0f s after it exited "
                                  "(a child holding it?)" % (self.label, STOP_TIMEOUT))
            self._parse_all()
            if self.returncode != 0:
                raise TestFailure("[%s] agent exited with %s after SIGTERM, expected 0\n"
                                  "--- agent stderr:\n%s" % (self.label, self.returncode,
                                                             self.stderr_text()))
            names = [name(e) for e in self.events]
            if "Service Gracefully Shutdown" not in names:
                raise TestFailure("[%s] no \"Service Gracefully Shutdown\" event after "
                                  "SIGTERM; last events:\n%s\n--- agent stderr:\n%s" % (
                                      self.label,
                                      "\n".join("  " + summary(e) for e in self.events[-5:]),
                                      self.stderr_text()))
            if names[-1] != "Service Gracefully Shutdown":
                raise TestFailure("[%s] events after \"Service Gracefully Shutdown\": %s" % (
                    self.label, names[names.index("Service Gracefully Shutdown") + 1:]))
        finally:
            self.kill()

    def kill(self):
        """Never leaves the agent (or anything in its process group) running;
        safe to call more than once."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)	# the group this harness created
        except (ProcessLookupError, PermissionError):
            pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        # Closing the pipe under a reader blocked in readline() would block
        # too; a reader still alive is a daemon thread and dies with us.
        if self.proc.stdout and (self._reader is None or not self._reader.is_alive()):
            self.proc.stdout.close()
        if getattr(self, "stderr_file", None):
            self.stderr_file.close()
            self.stderr_file = None

    def cleanup(self, c=None):
        """Removes the temp dir (config, stdout, stderr) unless checker c saw
        failures or VIGIL_KEEP_TMP=1: then says where it is."""
        if self.keep or (c is not None and c.failures):
            if c is not None:
                c.note("agent output kept: %s (stdout.jsonl, stderr.log, vigil.yaml)" %
                       self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- output --

    def stderr_text(self, limit=6000):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except OSError as e:
            return "(cannot read %s: %s)" % (self.stderr_path, e)
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...\n" + text[-limit:]

    def stdout_tail(self, n=10):
        with self._cond:
            lines = self._lines[-n:]
        return "".join(l.decode("utf-8", "replace") for l in lines) or "(nothing)"

    def _parsed_upto(self):
        """Parses the lines that arrived since the last call; returns the events
        parsed so far (unparseable lines are skipped here and reported by
        _parse_all)."""
        with self._cond:
            new = self._lines[len(self._parsed):]
        for raw in new:
            try:
                self._parsed.append(parse_line(raw))
            except (ValueError, UnicodeDecodeError):
                self._parsed.append(None)
        return self._parsed

    def wait_for(self, pred, timeout=10.0, what=None):
        """Waits until an event satisfies pred; returns it, or None after
        timeout or when the agent's stdout closed."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            parsed = self._parsed_upto()
            for ev in parsed[checked:]:
                if ev is not None and pred(ev):
                    return ev
            checked = len(parsed)
            with self._cond:
                if len(self._lines) > checked:
                    continue
                if self._eof:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.2))

    def wait_all(self, preds, timeout=10.0):
        """Waits until every predicate matched some event (or timeout); returns
        True when all did."""
        deadline = time.monotonic() + timeout
        for pred in preds:
            if self.wait_for(pred, timeout=max(0.0, deadline - time.monotonic())) is None:
                return False
        return True

    def snapshot(self):
        """Events parsed so far (while the agent runs)."""
        return [e for e in self._parsed_upto() if e is not None]

    def _parse_all(self):
        validator = EventValidator()
        self.events = []
        self.line_errors = []
        self.schema_errors = []
        with self._cond:
            lines = list(self._lines)
        for i, raw in enumerate(lines, 1):
            if not raw.endswith(b"\n"):
                self.line_errors.append("line %d: not terminated by a newline: %r" %
                                        (i, raw[:200]))
            try:
                ev = parse_line(raw)
            except (ValueError, UnicodeDecodeError) as e:
                self.line_errors.append("line %d: not one strict-UTF-8 JSON object (%s): %r" %
                                        (i, e, raw[:300]))
                continue
            self.events.append(ev)
            err = validator.first_error(ev)
            if err is not None and len(self.schema_errors) < MAX_SCHEMA_ERRORS:
                self.schema_errors.append("line %d: %s: %s\n      event: %s" % (
                    i, err[0], err[1][:400], summary(ev)))
        if not self.events:
            self.line_errors.append("the agent wrote no event at all")

    def check_output(self, c):
        """Records line and schema problems in checker c."""
        c.check(not self.line_errors, "every stdout line is one strict-UTF-8 JSON "
                "object ending in a newline:\n    %s" % (
                    "\n    ".join(self.line_errors[:MAX_SCHEMA_ERRORS])))
        c.check(not self.schema_errors, "every event validates against %s "
                "(first errors):\n    %s" % (os.path.relpath(SCHEMA_PATH, REPO),
                                             "\n    ".join(self.schema_errors)))
        c.note("%d events from the agent, every line checked against the schema" %
               len(self.events))

    # -- queries (after stop(), or on snapshot() while running) --

    def events_for_pid(self, pid, events=None):
        evs = self.events if events is None else events
        return [e for e in evs if pid_of(e) == pid]

    def find(self, pred, events=None):
        evs = self.events if events is None else events
        return [e for e in evs if pred(e)]

    def named(self, pid, ev_name):
        return [e for e in self.events_for_pid(pid) if name(e) == ev_name]


def is_event(ev_name, pid):
    return lambda e: name(e) == ev_name and pid_of(e) == pid


def guarded(c, fn, *args):
    """Runs fn(*args); a TestFailure (the agent did not start or stop
    cleanly) becomes a failed check of c, so the next session still runs."""
    try:
        fn(*args)
    except TestFailure as e:
        c.fail(str(e))


def main_wrapper(fn):
    """Runs fn() -> exit code; a TestFailure or any exception is a failure
    with a clear message, never a silent pass."""
    try:
        rc = fn()
    except TestFailure as e:
        print("FAIL %s" % e)
        rc = 1
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL unexpected exception in the test itself")
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
