"""The pipeline under faults, end to end: the real agent (every event family
on), `vigil collector`, SQLite read back with `vigil query --sql`.

- exactly once: every event the agent wrote is stored once (the same set of
  message ids, no id twice), and the typed tables hold the workload's
  process, file and network rows with the right fields.
- kill -9: 20 cycles of start, workload, SIGKILL at a random moment, the
  collector frozen (SIGSTOP) for a random part of the run so that batches
  are in flight and unacknowledged when the agent dies. Every batch seen in
  the spool after a kill reaches the collector, seqs keep
  increasing across restarts (the seq file never goes back, the collector
  rejects nothing as a replay), no event is stored twice.
- collector down under load (60 s; 15 s under the sanitizers, where the
  same code runs 5x slower): every event the agent wrote while it was down
  is stored after it returns; the agent said Collector Disconnected.
- key rotation (`vigil enroll --rotate`) with batches signed and encrypted
  under the old key still in the spool: they are decrypted and accepted
  (key 1), the new ones are signed with key 2, nothing is lost or rejected.
- a flipped bit in a spooled record: AES-GCM refuses it, the agent reports
  Events Dropped (spool_corrupt), the other records are delivered, and
  delivered + reported lost = written, exactly."""
import glob
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Checker, finish, guarded, main_wrapper, name, proc,  # noqa: E402
                           system, vigil_bin)
from test_ship import DROP_REASONS_SHIP, Site, agent_for, drops, wait_until  # noqa: E402

SAN = "/san/" in os.environ.get("VIGIL_BIN", "")
OUTAGE_S = 15 if SAN else 60
KILL_CYCLES = 20

# Site's config turns every family but process off (short runs); these tests
# want what an installation ships: the default families.
EVENTS_OFF = ("events:\n  thread: false\n  file: false\n  identity: false\n"
              "  memory: false\n  library: false\n  network: false\n  dns: false\n")


def all_families(site, pki):
    text = site.write_config(pki, pki)
    assert EVENTS_OFF in text
    text = text.replace(EVENTS_OFF, "events:\n  thread: true\n")
    with open(site.config, "w") as f:
        f.write(text)


class Workload:
    """Execs, file operations and loopback TCP in a loop on a thread, until
    stopped; everything marked so the tests can find it."""

    def __init__(self, tmp, marker, pause=0.01):
        self.pause = pause
        self.dir = os.path.join(tmp, "work")
        os.makedirs(self.dir, exist_ok=True)
        self.marker = marker
        self.stop_ev = threading.Event()
        self.thread = None
        self.rounds = 0
        self.port = None

    def one(self):
        subprocess.run(["/bin/true", self.marker], check=True)
        path = os.path.join(self.dir, "%s-%d" % (self.marker, self.rounds))
        with open(path, "w") as f:
            f.write("x" * 64)
        os.rename(path, path + ".r")
        os.unlink(path + ".r")
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.port = srv.getsockname()[1]
        cli = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn, _ = srv.accept()
        cli.sendall(b"hello")
        conn.recv(16)
        cli.close()
        conn.close()
        srv.close()
        self.rounds += 1

    def _run(self):
        while not self.stop_ev.is_set():
            self.one()
            time.sleep(self.pause)

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(timeout=10)
        return False


def stored_ids(site):
    return [r["message_id"] for r in site.sql("SELECT message_id FROM raw_events")]


def check_exact(c, site, written_ids, what):
    ids = stored_ids(site)
    c.eq(len(ids), len(set(ids)), "%s: no event stored twice" % what)
    missing = set(written_ids) - set(ids)
    extra = set(ids) - set(written_ids)
    c.check(not missing, "%s: every event the agent wrote is stored (%d of %d missing, "
            "e.g. %s)" % (what, len(missing), len(written_ids), sorted(missing)[:3]))
    c.check(not extra, "%s: nothing stored that the agent did not write (%d extra)"
            % (what, len(extra)))


def exactly_once(c):
    site = Site("once")
    try:
        pki, _ = site.pki()
        all_families(site, pki)
        site.enroll()
        site.start_collector()
        marker = "vigil-once-" + uuid.uuid4().hex[:12]
        with agent_for(site, "faults-once") as agent:
            agent.wait_for(lambda e: name(e) == "Collector Connected", timeout=10)
            w = Workload(site.tmp, marker)
            for _ in range(5):
                w.one()
            # Batches after the first ones refer to process blocks the
            # collector stored (remote references): a few more seconds of
            # the same processes (the agent's, this test's) make them.
            for _ in range(3):
                time.sleep(1.2)
                w.one()
            agent.wait_for(lambda e: name(e) == "Network Connection Terminated" and
                           (e["activity_data"].get("network_details") or {}).get(
                               "network_local_port") == w.port, timeout=10)
        agent.check_output(c)
        c.check(len(agent.events) > 50, "the agent wrote events (%d)" % len(agent.events))
        check_exact(c, site, [e["message_header"]["message_id"] for e in agent.events],
                    "exactly once")
        c.eq(site.rejections(), [], "exactly once: the collector rejected nothing")
        # Batches carry each process block once (ship/blocks.h); what the
        # collector stores and gives back is still each event whole.
        stored = {r["message_id"]: json.loads(r["json"])
                  for r in site.sql("SELECT message_id, json FROM raw_events")}
        same = [e for e in agent.events if stored.get(e["message_header"]["message_id"]) == e]
        c.eq(len(same), len(agent.events),
             "exactly once: every stored event is the one the agent wrote, whole")
        shared = site.sql("SELECT count(*) AS n FROM raw_batches WHERE flags & 2")
        c.check(shared and shared[0]["n"] > 0,
                "exactly once: the batches were sent with shared blocks (%s)" % shared)
        with open(agent.stderr_path, "rb") as f:
            m = re.search(rb"(\d+) process blocks referred to in batches the collector stored",
                          f.read())
        c.check(m and int(m.group(1)) > 0,
                "exactly once: later batches referred to blocks the collector stored "
                "instead of sending them again (%s)" % (m.group(0) if m else "no count logged"))
        c.eq(site.rejections(), [], "exactly once: no reference left unresolved")

        created = [e for e in agent.events if name(e) == "Process Created" and
                   marker in (proc(e).get("process_command_line_arguments") or [])]
        rows = site.sql("SELECT message_id, pid, exe, cmdline, user, parent_pid "
                        "FROM process_events WHERE name = 'Process Created' AND cmdline LIKE "
                        "'%%%s%%'" % marker)
        c.eq(len(rows), len(created), "typed: one process row per marked exec (%d)"
             % len(created))
        if rows and created:
            want = {e["message_header"]["message_id"]: e for e in created}
            r = rows[0]
            p = proc(want.get(r["message_id"], created[0]))
            c.eq((r["pid"], r["exe"], r["user"], r["parent_pid"]),
                 (p["process_id"], "/usr/bin/true", "root", p["process_parent_process_id"]),
                 "typed: the process row's columns")
        frows = site.sql("SELECT operation, path, new_path FROM file_events WHERE name = "
                         "'File Renamed' AND path LIKE '%%%s%%'" % marker)
        c.eq(len(frows), 8, "typed: eight File Renamed rows for the workload")
        if frows:
            c.check(frows[0]["new_path"] == frows[0]["path"] + ".r",
                    "typed: the rename's new path (%r)" % frows[0])
        nrows = site.sql("SELECT remote_port, bytes_out FROM network_events WHERE name = "
                         "'Network Connection Terminated' AND remote_port = %d" % w.port)
        c.check(len(nrows) == 1 and nrows[0].get("bytes_out") == 5,
                "typed: the last connection's client side, 5 bytes out (%r)" % nrows)
        agent.cleanup(c)
    finally:
        site.cleanup(c)


def kill_cycles(c):
    site = Site("kill9")
    rnd = random.Random(os.environ.get("VIGIL_SEED") or time.time())
    try:
        pki, _ = site.pki()
        all_families(site, pki)
        site.enroll()
        site.start_collector()
        marker = "vigil-kill9-" + uuid.uuid4().hex[:12]
        spooled_after_kill = set()
        seqs = []
        killed_at = []
        for i in range(KILL_CYCLES):
            agent = agent_for(site, "faults-kill-%d" % i)
            try:
                agent.start()
                with Workload(site.tmp, marker):
                    t1, t2 = rnd.uniform(0.1, 0.8), rnd.uniform(0.2, 0.8)
                    killed_at.append(round(t1 + t2, 2))
                    time.sleep(t1)
                    os.kill(site.collector.pid, signal.SIGSTOP)
                    time.sleep(t2)
                    agent.kill()
            finally:
                agent.kill()
                os.kill(site.collector.pid, signal.SIGCONT)
            spooled_after_kill.update(site.spooled())
            seqs.append(site.last_seq())
            agent.cleanup(c)
        c.note("kill -9 after %s s; seq file after each kill: %s" % (killed_at, seqs))
        c.check(all(b >= a for a, b in zip(seqs, seqs[1:])) and seqs[-1] > seqs[0],
                "the seq file only grows across the %d kills: %s" % (KILL_CYCLES, seqs))
        # One more run, stopped gracefully: it delivers what the kills left.
        with agent_for(site, "faults-kill-final") as agent:
            ok = wait_until(lambda: not site.spooled(), 30)
        agent.cleanup(c)
        c.check(ok, "the final run emptied the spool (left: %s)" % site.spooled())
        got = site.batches()
        missing = sorted(s for s in spooled_after_kill if s not in got)
        c.check(not missing, "every batch seen in the spool after a kill was stored "
                "(%d spooled, missing %s)" % (len(spooled_after_kill), missing[:10]))
        c.check(len(spooled_after_kill) >= KILL_CYCLES,
                "kills left batches in the spool to resend (%d)" % len(spooled_after_kill))
        ids = stored_ids(site)
        c.eq(len(ids), len(set(ids)), "kill -9: no event stored twice (%d stored)" % len(ids))
        # A kill in the middle of a write leaves the collector a frame cut short:
        # that is "truncated" (the peer closed mid-frame), at most once per kill.
        # Anything else (replay, seq reuse, a bad HMAC) would be the agent's fault.
        rejected = site.rejections()
        cut = sum(n for r, n in rejected if r == "truncated")
        c.check(cut <= KILL_CYCLES, "kill -9: at most one frame cut short per kill (%d)" % cut)
        c.eq([r for r in rejected if r[0] != "truncated"], [],
             "kill -9: nothing else rejected (no seq reused, no replay)")
    finally:
        site.cleanup(c)


def collector_outage(c):
    site = Site("outage")
    try:
        pki, _ = site.pki()
        all_families(site, pki)
        site.enroll()
        site.start_collector()
        marker = "vigil-outage-" + uuid.uuid4().hex[:12]
        with agent_for(site, "faults-outage") as agent:
            agent.wait_for(lambda e: name(e) == "Collector Connected", timeout=10)
            # ~60 events a round, 4 rounds a second: the agent's event
            # rate on a busy server, and what the schema check of every
            # line can take in the time the suite has
            with Workload(site.tmp, marker, pause=0.25) as w:
                time.sleep(1)
                site.stop_collector()
                down = time.monotonic()
                time.sleep(OUTAGE_S)
                rounds_down = w.rounds
                spooled = len(site.spooled())
                site.start_collector()
                c.note("collector down %.0f s: %d workload rounds, %d batches spooled"
                       % (time.monotonic() - down, rounds_down, spooled))
                time.sleep(1)
            ok = wait_until(lambda: not site.spooled(), 60)
            c.check(ok, "the spool drained after the collector returned (left %d)"
                    % len(site.spooled()))
        agent.check_output(c)
        c.check(spooled > 0, "batches waited in the spool while the collector was down")
        c.check(any(name(e) == "Collector Disconnected" for e in agent.events),
                "the agent said Collector Disconnected")
        c.check(sum(1 for e in agent.events if name(e) == "Collector Connected") >= 2,
                "and Collector Connected again")
        lost = drops(agent.events, agent.stderr_text())
        c.eq(lost, {}, "nothing dropped during the outage")
        check_exact(c, site, [e["message_header"]["message_id"] for e in agent.events],
                    "outage")
        agent.cleanup(c)
    finally:
        site.cleanup(c)


def key_rotation(c):
    site = Site("rotate")
    try:
        pki, _ = site.pki()
        site.write_config(pki, pki)
        site.enroll()
        marker = "vigil-rotate-" + uuid.uuid4().hex[:12]
        with agent_for(site, "faults-rotate-1") as agent:	# no collector yet
            with Workload(site.tmp, marker):
                wait_until(lambda: len(site.spooled()) >= 3, 20)
        agent.check_output(c)
        spooled = site.spooled()
        c.check(len(spooled) >= 3, "batches under key 1 wait in the spool (%d)" % len(spooled))
        out = subprocess.run([vigil_bin(), "enroll", "--config", site.config, "--rotate"],
                             capture_output=True, text=True, timeout=30)
        c.eq(out.returncode, 0, "vigil enroll --rotate: %s%s" % (out.stdout, out.stderr))
        site.start_collector()
        with agent_for(site, "faults-rotate-2") as agent2:
            with Workload(site.tmp, marker):
                ok = wait_until(lambda: not site.spooled() and
                                any(s > max(spooled) for s in site.batches()), 20)
        agent2.check_output(c)
        c.check(ok, "the spool drained after the rotation (left %s)" % site.spooled())
        keys = {r["seq"]: r["key_id"] for r in site.sql("SELECT seq, key_id FROM batches")}
        c.check(all(keys.get(s) == 1 for s in spooled),
                "the batches spooled before the rotation were stored, signed with key 1 (%s)"
                % {s: keys.get(s) for s in spooled})
        newer = [k for s, k in keys.items() if s > max(spooled)]
        c.check(newer and all(k == 2 for k in newer),
                "batches made after the rotation are signed with key 2 (%s)" % sorted(set(newer)))
        c.eq(site.rejections(), [], "rotation: nothing rejected")
        c.eq(drops(agent2.events, agent2.stderr_text()), {}, "rotation: nothing dropped")
        check_exact(c, site, [e["message_header"]["message_id"] for e in
                              agent.events + agent2.events], "rotation")
        agent.cleanup(c)
        agent2.cleanup(c)
    finally:
        site.cleanup(c)


SPOOL_HEADER = 40	# src/ship/spool.h SPOOL_HEADER_LEN: the record header, then ciphertext and tag


def spool_tamper(c):
    site = Site("tamper")
    try:
        pki, _ = site.pki()
        all_families(site, pki)
        site.enroll()
        marker = "vigil-tamper-" + uuid.uuid4().hex[:12]
        # No collector: everything stays in the spool.
        with agent_for(site, "faults-tamper-1") as agent:
            with Workload(site.tmp, marker):
                wait_until(lambda: len(site.spooled()) >= 4, 20)
        agent.check_output(c)
        written = len(agent.events)
        records = sorted(glob.glob(os.path.join(site.state, "spool", "*.vgs")))
        c.check(len(records) >= 4, "records in the spool (%d)" % len(records))
        victim = records[len(records) // 2]
        size = os.path.getsize(victim)
        with open(victim, "r+b") as f:
            off = SPOOL_HEADER + (size - SPOOL_HEADER) // 2
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0x10]))
        agent.cleanup(c)

        site.start_collector()
        with agent_for(site, "faults-tamper-2") as agent2:
            ok = wait_until(lambda: not site.spooled(), 20)
            agent2.wait_for(lambda e: name(e) == "Events Dropped" and
                            system(e).get("reason") == "spool_corrupt", timeout=5)
        agent2.check_output(c)
        c.check(ok, "the other records were delivered (left: %s)" % site.spooled())
        lost = drops(agent2.events, agent2.stderr_text())
        c.check(lost.get("spool_corrupt", 0) > 0,
                "Events Dropped reason spool_corrupt (%s)" % lost)
        first_run = [s for s in site.batches()]
        delivered = sum(n for s, n in site.batches().items())
        # the second run's own events are delivered too: count them apart
        second = len(agent2.events)
        ship_lost = sum(v for k, v in lost.items()
                        if k in DROP_REASONS_SHIP or (k or "").startswith("collector_rejected:"))
        c.eq(delivered + ship_lost, written + second,
             "exact accounting: delivered (%d, %d batches) + spool_corrupt (%d) = written by "
             "both runs (%d + %d)" % (delivered, len(first_run), ship_lost, written, second))
        c.check(re.search(r"spool", agent2.stderr_text()) is not None,
                "the agent's log names the spool")
        agent2.cleanup(c)
    finally:
        site.cleanup(c)


def main():
    checkers = []
    for title, fn in (("exactly once", exactly_once), ("kill -9 x%d" % KILL_CYCLES, kill_cycles),
                      ("collector down %d s" % OUTAGE_S, collector_outage),
                      ("key rotation", key_rotation), ("spool tamper", spool_tamper)):
        c = Checker("faults: " + title)
        t = time.monotonic()
        guarded(c, fn, c)
        c.note("took %.1f s" % (time.monotonic() - t))
        checkers.append(c)
    return finish(checkers)


if __name__ == "__main__":
    main_wrapper(main)
