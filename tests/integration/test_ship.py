"""The agent's signed pipeline end to end: `vigil pki`, `vigil enroll` with a
temporary config, the real `vigil agent` with ship.enabled, the real
`vigil collector` on 127.0.0.1, and what the collector stored read back with
`vigil query --sql`.

- delivery: a marked process reaches the collector; every stored event
  carries the enrolled device id; the agent says Collector Connected.
- a collector with another PKI: refused by pin and by CA, nothing delivered,
  the agent's log says why.
- SIGKILL mid-stream (the collector stopped with SIGSTOP, so batches are in
  flight and spooled): after a restart every spooled batch reaches the
  collector, new batches get higher seqs (never reused: no replay
  rejections), nothing is rejected.
- a 1 MiB spool with the collector down: Events Dropped spool_full, and the
  counts are exact: lines the agent wrote = events the collector got from
  that run + events reported dropped."""
import base64
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, TestFailure, finish, guarded, main_wrapper,  # noqa: E402
                           name, proc, system, vigil_bin)

COLLECTOR_START = 10.0
DROP_REASONS_SHIP = ("ship_ingress_full", "ship_event_too_large", "ship_seal_failed",
                     "spool_full", "spool_corrupt")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(argv, check=True):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if check and r.returncode != 0:
        raise TestFailure("%s exited %d\n%s%s" % (" ".join(argv), r.returncode,
                                                 r.stdout.decode(errors="replace"),
                                                 r.stderr.decode(errors="replace")))
    return r


class Site:
    """One temporary world: PKI, device, keystore, database, spool."""

    def __init__(self, label):
        self.tmp = tempfile.mkdtemp(prefix="vigil-ship-%s-" % label)
        self.port = free_port()
        self.config = os.path.join(self.tmp, "vigil.yaml")
        self.state = os.path.join(self.tmp, "state")
        self.collector = None
        self.col_log = os.path.join(self.tmp, "collector.log")

    def pki(self, sub="pki"):
        d = os.path.join(self.tmp, sub)
        out = run([vigil_bin(), "pki", "--dir", d]).stdout.decode()
        pin = re.search(r"^pin_sha256: ([0-9a-f]{64})$", out, re.M)
        if not pin:
            raise TestFailure("vigil pki printed no pin:\n" + out)
        return d, pin.group(1)

    def write_config(self, agent_pki, col_pki, pin=None, ca=True, extra=""):
        ship = ["  enabled: true",
                "  collector: \"127.0.0.1:%d\"" % self.port,
                "  server_name: localhost",
                "  device_file: %s/device.key" % self.state,
                "  seq_file: %s/seq" % self.state,
                "  spool_dir: %s/spool" % self.state,
                "  batch_interval_ms: 100"]
        if ca:
            ship.append("  ca_file: %s/ca.pem" % agent_pki)
        if pin:
            ship.append("  pin_sha256: \"%s\"" % pin)
        text = ("agent:\n  log_level: info\noutput:\n  stdout: true\n  log_folder: \"\"\n"
                "hashing:\n  enabled: false\n"
                # Process events only: the host's other activity (builds)
                # would otherwise be most of what is shipped and checked.
                "events:\n  thread: false\n  file: false\n  identity: false\n"
                "  memory: false\n  library: false\n  network: false\n  dns: false\n"
                "ship:\n" + "\n".join(ship) + "\n" + extra +
                "collector:\n"
                "  listen: \"127.0.0.1:%d\"\n"
                "  cert_file: %s/server.pem\n"
                "  key_file: %s/server.key\n"
                "  keystore_dir: %s/keystore\n"
                "  database: %s/vigil.db\n"
                "  archive_dir: %s/archive\n" % (self.port, col_pki, col_pki, self.tmp, self.tmp,
                                                 self.tmp))
        with open(self.config, "w") as f:
            f.write(text)
        return text

    def enroll(self):
        out = run([vigil_bin(), "enroll", "--config", self.config]).stdout.decode()
        m = re.search(r"^device ([0-9a-f]{32}) enrolled", out, re.M)
        if not m:
            raise TestFailure("vigil enroll printed no device id:\n" + out)
        return m.group(1), out

    def start_collector(self):
        self.col_out = open(self.col_log, "ab")
        self.collector = subprocess.Popen([vigil_bin(), "collector", "--config", self.config],
                                          stdin=subprocess.DEVNULL, stdout=self.col_out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + COLLECTOR_START
        while time.monotonic() < deadline:
            if self.collector.poll() is not None:
                raise TestFailure("vigil collector exited with %s:\n%s" % (
                    self.collector.returncode, self.collector_log()))
            # Not a probe connection: the collector would count it as a
            # failed handshake.
            if "listening on" in self.collector_log():
                return
            time.sleep(0.05)
        raise TestFailure("vigil collector not listening after %.0f s:\n%s" % (
            COLLECTOR_START, self.collector_log()))

    def stop_collector(self):
        if self.collector is None:
            return
        if self.collector.poll() is None:
            os.kill(self.collector.pid, signal.SIGCONT)
            self.collector.send_signal(signal.SIGTERM)
            try:
                self.collector.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.collector.kill()
                self.collector.wait(timeout=10)
        self.collector = None
        self.col_out.close()

    def collector_log(self):
        try:
            with open(self.col_log, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def sql(self, query):
        out = run([vigil_bin(), "query", "--config", self.config, "--json", "--limit",
                   "1000000", "--sql", query]).stdout.decode()
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def batches(self):
        """{seq: event_count} the collector stored."""
        if not os.path.exists(os.path.join(self.tmp, "vigil.db")):
            return {}
        return {r["seq"]: r["event_count"] for r in
                self.sql("SELECT seq, event_count FROM batches")}

    def stats(self):
        out = run([vigil_bin(), "stats", "--config", self.config, "--json"]).stdout.decode()
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def rejections(self):
        """Rejection reasons counted by the collector, and its replay counters."""
        rows = self.stats()
        out = [(r.get("reason"), r.get("count")) for r in rows if r.get("kind") == "rejection"]
        for r in rows:
            if r.get("kind") == "wire":
                for k in ("stale_batches", "replay_conflicts"):
                    if r.get(k):
                        out.append((k, r[k]))
        return out

    def spooled(self):
        return sorted(int(os.path.basename(p)[:-4]) for p in
                      glob.glob(os.path.join(self.state, "spool", "*.vgs")))

    def last_seq(self):
        """The seq file's last seq: the larger of its two slots
        ("<20 digits> <crc32>\n" at 0 and 4096; src/ship/seq_store.c)."""
        try:
            with open(os.path.join(self.state, "seq"), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return 0
        slots = [int(m.group(1)) for m in
                 re.finditer(rb"(\d{20}) [0-9a-f]{8}\n", data)
                 if zlib.crc32(m.group(1)) == int(m.group(0)[21:29], 16)]
        return max(slots) if slots else int(data.strip() or b"0")

    def cleanup(self, c):
        self.stop_collector()
        if os.environ.get("VIGIL_KEEP_TMP") == "1" or c.failures:
            c.note("ship test files kept: %s" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)


def agent_for(site, label):
    with open(site.config) as f:
        cfg = f.read()
    return Agent(label, config=cfg)


def args_of(ev):
    return (proc(ev) or {}).get("process_command_line_arguments") or []


def drops(events, stderr_text=""):
    """{reason: events} from Events Dropped messages, plus the losses the
    agent could only log at shutdown."""
    out = {}
    for e in events:
        if name(e) == "Events Dropped":
            d = system(e)
            out[d.get("reason")] = out.get(d.get("reason"), 0) + d.get("dropped", 0)
    for m in re.finditer(r"Events Dropped at shutdown: (\d+) events lost \(([a-z_:]+)\)",
                         stderr_text):
        out[m.group(2)] = out.get(m.group(2), 0) + int(m.group(1))
    return out


def wait_until(pred, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def delivery(c):
    site = Site("deliver")
    try:
        pki, _ = site.pki()
        site.write_config(pki, pki)
        device_id, out = site.enroll()
        c.check(os.stat(os.path.join(site.state, "device.key")).st_mode & 0o777 == 0o600,
                "the device file is 0600")
        c.check(os.stat(os.path.join(site.tmp, "keystore", device_id + ".key")).st_mode & 0o777
                == 0o600, "the keystore record is 0600")
        c.check("key=" not in out and not re.search(r"[0-9a-f]{64}", out),
                "enroll prints the device id, never a key: %r" % out)
        again = run([vigil_bin(), "enroll", "--config", site.config]).stdout.decode()
        c.check(device_id in again and "kept" in again,
                "enrolling again keeps the identity: %r" % again)
        site.start_collector()
        marker = "vigil-ship-" + uuid.uuid4().hex
        with agent_for(site, "ship-deliver") as agent:
            ok = agent.wait_for(lambda e: name(e) == "Collector Connected", timeout=10)
            c.check(ok is not None, "the agent reports Collector Connected")
            subprocess.run(["/bin/true", marker], check=True)
            agent.wait_for(lambda e: name(e) == "Process Terminated" and marker in args_of(e),
                           timeout=5)
        agent.check_output(c)
        c.check(all(e["message_header"]["host_information"]["device_id"] == device_id
                    for e in agent.events),
                "every event header carries the enrolled device id %s" % device_id)
        stored = site.sql("SELECT json FROM raw_events")
        lines = [json.loads(r["json"]) for r in stored]
        c.check(any(marker in args_of(e) and name(e) == "Process Created" for e in lines),
                "the marked process reached the collector (%d events stored)" % len(lines))
        c.eq(len(lines), len(agent.events), "every event the agent wrote was stored (graceful "
             "stop delivers what is buffered)")
        c.check(all(e["message_header"]["host_information"]["device_id"] == device_id
                    for e in lines), "what the collector stored carries the device id")
        c.eq(site.rejections(), [], "the collector rejected nothing")
        agent.cleanup(c)
    finally:
        site.cleanup(c)


def wrong_collector(c):
    """The collector's certificate is from another PKI: refused by pin and by
    CA; nothing delivered; the log says why."""
    site = Site("wrongcert")
    try:
        good, good_pin = site.pki("pki")
        other, _ = site.pki("other")
        site.write_config(good, other)
        site.enroll()
        for how, kwargs, expect in (
                ("pin", {"pin": good_pin, "ca": False}, "does not match the pinned key"),
                ("ca", {"ca": True}, "collector certificate")):
            site.write_config(good, other, **kwargs)
            site.start_collector()
            with agent_for(site, "ship-wrong-" + how) as agent:
                ok = wait_until(lambda: expect in agent.stderr_text(), 8)
            agent.check_output(c)
            err = agent.stderr_text()
            c.check(ok, "[%s] the agent logs why it refused the collector (%r)" % (how, expect))
            c.check("cannot connect to collector" in err,
                    "[%s] the log names the collector: %s" % (how, err[-600:]))
            c.check(not any(name(e) == "Collector Connected" for e in agent.events),
                    "[%s] no Collector Connected" % how)
            c.eq(site.batches(), {}, "[%s] nothing delivered" % how)
            c.check(len(site.spooled()) > 0, "[%s] the batches wait in the spool" % how)
            site.stop_collector()
            agent.cleanup(c)
            shutil.rmtree(os.path.join(site.state, "spool"), ignore_errors=True)
            try:
                os.unlink(os.path.join(site.state, "seq"))
            except FileNotFoundError:
                pass
    finally:
        site.cleanup(c)


def sigkill_resend(c):
    site = Site("kill")
    try:
        pki, _ = site.pki()
        site.write_config(pki, pki)
        site.enroll()
        site.start_collector()
        agent = agent_for(site, "ship-kill-1")
        try:
            agent.start()
            agent.wait_for(lambda e: name(e) == "Collector Connected", timeout=10)
            for _ in range(30):
                subprocess.run(["/bin/true"], check=True)
            wait_until(lambda: len(site.batches()) > 0, 5)
            # No more ACKs: batches go out and stay in flight / in the spool.
            os.kill(site.collector.pid, signal.SIGSTOP)
            deadline = time.monotonic() + 8
            while len(site.spooled()) < 4 and time.monotonic() < deadline:
                for _ in range(20):
                    subprocess.run(["/bin/true"], check=True)
                time.sleep(0.15)
        finally:
            agent.kill()
        spooled = site.spooled()
        s1 = site.last_seq()
        c.check(len(spooled) >= 4, "batches were spooled when the agent was killed (%d)"
                % len(spooled))
        os.kill(site.collector.pid, signal.SIGCONT)
        before = site.batches()
        with agent_for(site, "ship-kill-2") as agent2:
            ok = wait_until(lambda: all(s in site.batches() for s in spooled) and
                            max(site.batches() or [0]) > s1, 10)
        got = site.batches()
        c.check(ok, "after the restart every spooled batch reached the collector "
                "(spooled %s, stored %s)" % (spooled, sorted(got)))
        new = [s for s in got if s not in before and s not in spooled]
        c.check(new and min(new) > s1, "new batches have seqs above %d, never reused: %s"
                % (s1, sorted(new)[:10]))
        c.eq(site.spooled(), [], "the spool is empty after delivery")
        # The kill may cut a frame short (counted "truncated", at most once);
        # nothing else may be rejected.
        rejected = site.rejections()
        c.check(sum(n for r, n in rejected if r == "truncated") <= 1,
                "at most one frame cut short by the kill (%s)" % rejected)
        c.eq([r for r in rejected if r[0] != "truncated"], [],
             "the collector rejected nothing else (no replay: seqs never reused)")
        agent2.check_output(c)
        agent2.cleanup(c)
        agent.cleanup(c)
    finally:
        site.cleanup(c)


def spool_bounded(c):
    """Collector down, 1 MiB spool: the oldest batches are dropped and
    reported with exact counts."""
    site = Site("full")
    try:
        pki, _ = site.pki()
        site.write_config(pki, pki, extra="  spool_max_bytes: 1MiB\n  batch_max_bytes: 64KiB\n")
        site.enroll()
        with agent_for(site, "ship-full-1") as agent:
            # Random arguments compress badly: a few hundred execs fill 1 MiB.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for _ in range(50):
                    subprocess.run(["/bin/true", base64.b64encode(os.urandom(2400)).decode()],
                                   check=True)
                if any(name(e) == "Events Dropped" and system(e).get("reason") == "spool_full"
                       for e in agent.snapshot()):
                    break
        agent.check_output(c)
        lost = drops(agent.events, agent.stderr_text())
        written = len(agent.events)
        s1 = site.last_seq()
        c.check(lost.get("spool_full", 0) > 0, "Events Dropped with reason spool_full "
                "(reasons: %s)" % lost)
        spool_bytes = sum(os.path.getsize(p) for p in
                          glob.glob(os.path.join(site.state, "spool", "*.vgs")))
        c.check(0 < spool_bytes <= 1 << 20, "the spool stays within 1 MiB (%d bytes)"
                % spool_bytes)
        agent.cleanup(c)

        site.start_collector()
        with agent_for(site, "ship-full-2") as agent2:
            wait_until(lambda: not [s for s in site.spooled() if s <= s1], 15)
        delivered = sum(n for s, n in site.batches().items() if s <= s1)
        ship_lost = sum(v for k, v in lost.items()
                        if k in DROP_REASONS_SHIP or (k or "").startswith("collector_rejected:"))
        c.eq(delivered + ship_lost, written,
             "exact accounting: events delivered from the first run (%d) + reported lost by "
             "the shipper (%s) = lines the agent wrote" % (delivered, lost))
        agent2.check_output(c)
        agent2.cleanup(c)
    finally:
        site.cleanup(c)


def main():
    start = time.monotonic()
    c = Checker("ship")
    for fn in (delivery, wrong_collector, sigkill_resend, spool_bounded):
        t = time.monotonic()
        guarded(c, fn, c)
        c.note("%s: %.1f s" % (fn.__name__, time.monotonic() - t))
    c.note("took %.1f s" % (time.monotonic() - start))
    return finish([c])


if __name__ == "__main__":
    main_wrapper(main)
