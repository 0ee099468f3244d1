"""The collector end to end: the real `vigil collector` on 127.0.0.1 with a
temporary PKI (vigil pki), keystore and SQLite database, driven by
progs/batchsend.c (built here against libvigil.a), which seals batches with
a real device key and sends them over TLS 1.3, and by Python's ssl module.

Good batches, an identical re-delivery (DUPLICATE), a gap, a replay (older
seq), the same seq with other events, a forged HMAC, a flipped body bit, a
stale events hash under a recomputed HMAC, a truncated batch, an unknown
key_id, an unknown device, a device mismatch, an oversized frame length, a
truncated frame, plain TCP and a TLS 1.2-only client: each bad input is
refused with its reason, counted in `vigil stats`, and the collector goes on
serving a good agent. Every event of the good batches is stored exactly once
(`vigil query --json`, `--sql` and the typed tables read directly), --print
shows each once. Then retention with TTLs of seconds moves rows raw -> typed
-> archive (zstd JSON lines) -> deleted."""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (REPO, Checker, TestFailure, finish, guarded,  # noqa: E402
                           main_wrapper, vigil_bin)

HERE = os.path.dirname(os.path.abspath(__file__))
LDLIBS = ["-lbpf", "-lelf", "-lz", "-lyaml", "-lssl", "-lcrypto", "-lzstd", "-lsqlite3", "-lxxhash",
          "-lcap", "-lpthread"]
NS = 1000000000

# ACK status and reasons (docs/pipeline.md)
STORED, DUPLICATE, REJECTED = 0, 1, 2
R_MALFORMED, R_BAD_HMAC, R_EVENTS_HASH = 1, 2, 4
R_UNKNOWN_DEVICE, R_UNKNOWN_KEY, R_DEVICE_MISMATCH, R_REPLAY, R_REPLAY_CONFLICT = 7, 8, 9, 10, 11
# ERROR frame codes (enum server_reason)
E_FRAME_TOO_BIG, E_HELLO_REFUSED = 6, 9


def build_tool(tmp):
    build = os.environ.get("VIGIL_BUILD") or ("san" if "/san/" in vigil_bin() else "std")
    lib = os.path.join(REPO, ".output", build, "libvigil.a")
    if not os.path.exists(lib):
        raise TestFailure("%s missing: make %s" % (lib, ".output/%s/libvigil.a" % build))
    flags = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"] if build == "san" else []
    out = os.path.join(tmp, "batchsend")
    subprocess.run(["gcc", "-std=gnu11", "-O1", "-g", "-D_GNU_SOURCE",
                    "-I" + os.path.join(REPO, "src")] + flags
                   + ["-o", out, os.path.join(HERE, "progs", "batchsend.c"), lib] + LDLIBS,
                   check=True)
    return out


def tool_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


# ---- events shaped like the agent's (docs/schema.md) ----------------------

def proc_block(name, pid, exe, user="alice", uid=1000):
    return {"process_name": name, "process_id": pid, "process_thread_id": pid,
            "process_parent_process_id": 1, "process_executable_path": exe,
            "process_command_line": exe + " --x", "process_command_line_arguments": [exe, "--x"],
            "process_real_user_id": uid, "process_real_user_name": user,
            "process_effective_user_id": uid, "process_login_user_name": user,
            "process_exec_id": "%x-1" % pid}


def event(i, t_ns, host="web-01"):
    """Event i (message id unique per i), cycling through five families."""
    kind = i % 5
    pid = 4000 + i
    ad = {"event_type_id": 0}
    if kind == 0:
        ad.update(name="Process Created", family="process")
        ad["process_details"] = proc_block("proc%d" % i, pid, "/usr/bin/tool%d" % i)
    elif kind == 1:
        ad.update(name="File Renamed", family="file")
        ad["file_details"] = {"file_operation": "renameat2", "file_path": "/etc/f%d.tmp" % i,
                              "file_new_path": "/etc/f%d" % i, "file_result": "success"}
        ad["process_details"] = proc_block("mv", pid, "/usr/bin/mv")
    elif kind == 2:
        ad.update(name="Network Connect", family="network")
        ad["network_details"] = {"network_operation": "connect", "network_result": "success",
                                 "network_protocol": "tcp", "network_local_address": "10.0.0.5",
                                 "network_local_port": 40000 + i,
                                 "network_remote_address": "192.0.2.%d" % (i % 250 + 1),
                                 "network_remote_port": 443}
        ad["process_details"] = proc_block("curl", pid, "/usr/bin/curl")
    elif kind == 3:
        ad.update(name="DNS Query", family="dns")
        ad["dns_details"] = {"dns_operation": "sendto", "dns_protocol": "udp",
                             "dns_resolver_address": "10.255.255.53", "dns_resolver_port": 53,
                             "dns_is_response": False, "dns_query_names": ["h%d.example" % i],
                             "dns_questions": [{"name": "h%d.example" % i, "type": "A",
                                                "class": 1}]}
        ad["process_details"] = proc_block("curl", pid, "/usr/bin/curl")
    else:
        ad.update(name="Fileless Execution", family="memory")
        ad["memory_details"] = {"memory_operation": "execveat", "memory_result": "success",
                                "memory_memfd_name": "m%d" % i}
        ad["process_details"] = proc_block("memfd%d" % i, pid, "/memfd:m%d" % i)
    severity = "HIGH" if kind == 4 else "INFO"
    hdr = {"vendor_name": "Vigil", "product_name": "vigil-agent", "product_version": "0.1.0",
           "message_type": "EVENT", "severity": severity, "schema_version": "1.1.0",
           "message_id": "5c1d2e3f-4a5b-8c6d-8000-%012x" % i,
           "occurred_message_time_iso_8601_ns": "-", "occurred_message_time_ns": t_ns,
           "host_information": {"hostname": host, "device_id": "web-01"}}
    return {"message_header": hdr, "activity_data": ad}


def write_events(path, events):
    with open(path, "w", encoding="utf-8") as f:
        for ev in events:
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")


# ---- the collector --------------------------------------------------------

class Collector:
    def __init__(self, root, pki, extra=""):
        self.root = root
        self.db = os.path.join(root, "vigil.db")
        self.archive = os.path.join(root, "archive")
        self.keystore = os.path.join(root, "keystore")
        self.config = os.path.join(root, "collector.yaml")
        os.makedirs(root, mode=0o700)
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("agent:\n  log_level: info\ncollector:\n"
                    "  listen: \"127.0.0.1:0\"\n"
                    "  cert_file: \"%s/server.pem\"\n  key_file: \"%s/server.key\"\n"
                    "  keystore_dir: \"%s\"\n  database: \"%s\"\n  archive_dir: \"%s\"\n%s"
                    % (pki, pki, self.keystore, self.db, self.archive, extra))
        os.makedirs(self.keystore, mode=0o700, exist_ok=True)
        self.out, self.err = [], []
        self.proc = None
        self.port = None

    def _read(self, stream, sink):
        for raw in iter(stream.readline, b""):
            sink.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def start(self):
        self.proc = subprocess.Popen([vigil_bin(), "collector", "--config", self.config, "--print"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()
        deadline = time.time() + 15
        while time.time() < deadline and self.proc.poll() is None:
            for line in list(self.err):
                m = re.search(r"listening on \S+ \(port (\d+)\)", line)
                if m:
                    self.port = int(m.group(1))
                    return
            time.sleep(0.05)
        self.kill()
        raise TestFailure("collector did not start:\n" + "\n".join(self.err))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        time.sleep(0.1)  # let the readers drain
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def vigil(*args, check_rc=None):
    p = subprocess.run([vigil_bin()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Agent:
    """batchsend runs: one connection each."""

    def __init__(self, tool, ca, events_path):
        self.tool, self.ca, self.events = tool, ca, events_path

    def send(self, port, devfile, ops, hello=None):
        argv = [self.tool, "send", "127.0.0.1:%d" % port, self.ca, devfile, self.events]
        if hello:
            argv += ["--hello", hello]
        p = subprocess.run(argv + ops, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30, env=tool_env())
        res = json_lines(p.stdout.decode())
        if p.returncode != 0:
            raise TestFailure("batchsend %s failed (%d): %s %s" % (ops, p.returncode, res,
                                                                  p.stderr.decode()))
        return res


def db_rows(path, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---- the checks -----------------------------------------------------------

def pipeline(c, tool, tmp, pki):
    col = Collector(os.path.join(tmp, "main"), pki)
    dev = os.path.join(tmp, "device.key")
    stranger = os.path.join(tmp, "stranger.key")
    dev_id = subprocess.run([tool, "mkdev", dev, "acme"], check=True, stdout=subprocess.PIPE,
                            env=tool_env()).stdout.decode().strip()
    subprocess.run([tool, "mkdev", stranger, "acme"], check=True, stdout=subprocess.DEVNULL,
                   env=tool_env())
    subprocess.run([tool, "enroll", dev, col.keystore], check=True, env=tool_env())

    now = time.time_ns()
    events = [event(i, now - (100 - i) * NS) for i in range(100)]
    events_path = os.path.join(tmp, "events.jsonl")
    write_events(events_path, events)
    agent = Agent(tool, os.path.join(pki, "ca.pem"), events_path)
    good = []  # indexes of events that must be stored

    def expect(res, what, status, reason=0, seq=None):
        ok = (len(res) == 1 and res[0].get("result") == "ack" and res[0]["status"] == status
              and res[0]["reason"] == reason and (seq is None or res[0]["seq"] == seq))
        c.check(ok, what, expected={"status": status, "reason": reason, "seq": seq}, actual=res)

    next_seq = [5]

    def good_client(after):
        """A good agent after a bad input: a new batch is stored."""
        seq = next_seq[0]
        first = 40 + (seq - 5) * 3
        res = agent.send(col.port, dev, ["batch:%d:%d:3" % (seq, first)])
        expect(res, "good batch seq %d after %s is stored" % (seq, after), STORED, seq=seq)
        if res and res[0].get("status") == STORED:
            good.extend(range(first, first + 3))
        next_seq[0] += 1
        c.check(col.alive(), "collector still running after " + after)

    col.start()
    try:
        res = agent.send(col.port, dev, ["batch:1:0:10", "batch:2:10:10", "again", "batch:4:20:5"])
        c.eq(len(res), 4, "four answers on the first connection", )
        if len(res) == 4:
            expect(res[0:1], "seq 1 stored", STORED, seq=1)
            expect(res[1:2], "seq 2 stored", STORED, seq=2)
            expect(res[2:3], "seq 2 re-delivered: duplicate", DUPLICATE, seq=2)
            expect(res[3:4], "seq 4 (after a gap) stored", STORED, seq=4)
        good.extend(range(0, 25))

        # an identical re-delivery on a new connection is a duplicate too
        res = agent.send(col.port, dev, ["batch:1:0:10", "batch:3:25:5", "batch:2:30:5"])
        expect(res[0:1], "seq 1 again on a new connection: duplicate", DUPLICATE, seq=1)
        expect(res[1:2], "seq 3 after 4: replay", REJECTED, R_REPLAY, seq=3)
        expect(res[2:3], "seq 2 with other events: replay_conflict", REJECTED, R_REPLAY_CONFLICT,
               seq=2)
        good_client("replays")

        res = agent.send(col.port, dev, ["batch:50:0:5:forge", "batch:50:0:5:flip",
                                         "batch:50:0:5:stalehash", "batch:50:0:5:truncate",
                                         "batch:50:0:5:keyid"])
        c.eq(len(res), 5, "a rejected batch leaves the connection open (5 answers)", )
        for i, (what, reason) in enumerate((("forged HMAC", R_BAD_HMAC),
                                            ("flipped body bit", R_BAD_HMAC),
                                            ("stale events hash, HMAC recomputed", R_EVENTS_HASH),
                                            ("truncated batch", R_MALFORMED),
                                            ("unknown key_id", R_UNKNOWN_KEY))):
            expect(res[i:i + 1], what + " rejected", REJECTED, reason, seq=50)
        good_client("damaged batches")

        res = agent.send(col.port, stranger, ["batch:1:0:5"])
        c.check(len(res) == 1 and res[0].get("result") == "error"
                and res[0].get("code") == E_HELLO_REFUSED,
                "unknown device: HELLO refused with ERROR", expected="error %d" % E_HELLO_REFUSED,
                actual=res)
        good_client("an unknown device")

        res = agent.send(col.port, stranger, ["batch:1:0:5"], hello=dev_id)
        expect(res, "batch of another device after our HELLO: device_mismatch", REJECTED,
               R_DEVICE_MISMATCH, seq=1)
        good_client("a device mismatch")

        res = agent.send(col.port, dev, ["frame-oversize"])
        c.check(len(res) == 1 and res[0].get("result") == "error"
                and res[0].get("code") == E_FRAME_TOO_BIG,
                "frame length 2^31: ERROR frame_too_big", actual=res)
        good_client("an oversized frame")

        res = agent.send(col.port, dev, ["frame-truncated"])
        c.eq(res, [{"op": "frame-truncated", "result": "sent"}], "truncated frame sent")
        good_client("a truncated frame")

        with socket.create_connection(("127.0.0.1", col.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
        c.check(not data.startswith(b"HTTP"), "plain TCP gets no HTTP answer", actual=data[:40])
        good_client("plain TCP")

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(pki, "ca.pem"))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        refused = False
        with socket.create_connection(("127.0.0.1", col.port), timeout=5) as s:
            try:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                    t.sendall(b"\0\0\0\1\1")
                    refused = t.recv(10) == b""
            except (ssl.SSLError, ConnectionError, OSError):
                refused = True
        c.check(refused, "TLS 1.2-only client refused")
        good_client("a TLS 1.2 client")

        time.sleep(1.5)  # server-side refusals are flushed to the store within 1 s
        rc, out, err = vigil("stats", "--db", col.db, "--json")
        c.eq(rc, 0, "vigil stats runs while the collector runs", )
    finally:
        rc = col.stop()
    c.eq(rc, 0, "collector exits 0 on SIGTERM")
    if os.environ.get("VIGIL_TEST_VERBOSE") == "1":
        print("--- collector stderr\n" + "\n".join(col.err))
        print("--- collector stdout\n" + "\n".join(col.out))
    c.check(any("collector: stopping" in line for line in col.err), "collector logged its stop")

    # every good event exactly once
    want = sorted(events[i]["message_header"]["message_id"] for i in good)
    rc, out, err = vigil("query", "--db", col.db, "--json", "--limit", "100000")
    c.eq(rc, 0, "vigil query --json exit code", )
    got = sorted(r.get("message_id") for r in json_lines(out)) if rc == 0 else []
    c.eq(got, want, "vigil query --json: every good event exactly once")
    rc, out, err = vigil("query", "--db", col.db, "--json", "--sql",
                         "SELECT message_id, count(*) AS n FROM raw_events GROUP BY message_id")
    rows = json_lines(out) if rc == 0 else []
    c.eq(sorted(r["message_id"] for r in rows), want, "raw_events (--sql): the good events")
    c.check(all(r["n"] == 1 for r in rows), "raw_events: each once")

    # typed rows carry the fields
    files = db_rows(col.db, "SELECT path, new_path, process_name, pid FROM file_events")
    c.eq(sorted(files), sorted(("/etc/f%d.tmp" % i, "/etc/f%d" % i, "mv", 4000 + i)
                               for i in good if i % 5 == 1), "file_events rows")
    nets = db_rows(col.db, "SELECT remote_address, remote_port, local_port FROM network_events")
    c.eq(sorted(nets), sorted(("192.0.2.%d" % (i % 250 + 1), 443, 40000 + i)
                              for i in good if i % 5 == 2), "network_events rows")
    dns = db_rows(col.db, "SELECT query_name, query_type FROM dns_events")
    c.eq(sorted(dns), sorted(("h%d.example" % i, "A") for i in good if i % 5 == 3),
         "dns_events rows")
    procs = db_rows(col.db, "SELECT process_name, pid, exe, user FROM process_events")
    c.eq(sorted(procs), sorted(("proc%d" % i, 4000 + i, "/usr/bin/tool%d" % i, "alice")
                               for i in good if i % 5 == 0), "process_events rows")
    devs = db_rows(col.db, "SELECT device_id, last_seq, gaps FROM devices")
    c.eq(devs, [(dev_id, next_seq[0] - 1, 1)], "devices: last seq and one gap")

    # the query filters, as a user types them
    rc, out, _ = vigil("query", "--db", col.db, "--json", "--type", "file", "--path", "/etc/f1*")
    c.eq(sorted(r["path"] for r in json_lines(out)) if rc == 0 else rc,
         sorted("/etc/f%d.tmp" % i for i in good if i % 5 == 1 and str(i).startswith("1")),
         "query --type file --path '/etc/f1*'")
    rc, out, _ = vigil("query", "--db", col.db, "--json", "--severity", "high", "--since", "1h")
    c.eq(len(json_lines(out)) if rc == 0 else rc, len([i for i in good if i % 5 == 4]),
         "query --severity high --since 1h: the Fileless Execution events")
    rc, out, _ = vigil("query", "--db", col.db, "--json", "--until", "2000-01-01")
    c.eq((rc, out), (0, ""), "query --until 2000-01-01: nothing")
    rc, out, _ = vigil("query", "--db", col.db, "--pid", str(4000 + good[0]), "--json")
    c.eq([r["pid"] for r in json_lines(out)] if rc == 0 else rc, [4000 + good[0]], "query --pid")

    # rejections counted, by reason
    rc, out, err = vigil("stats", "--db", col.db, "--json")
    c.eq(rc, 0, "vigil stats --json exit code")
    rej = {r["reason"]: r["count"] for r in json_lines(out) if r.get("kind") == "rejection"}
    for reason, n in (("bad_hmac", 2), ("events_hash", 1), ("malformed", 1), ("unknown_key", 1),
                      ("unknown_device", 1), ("device_mismatch", 1), ("replay", 1),
                      ("replay_conflict", 1), ("frame_too_big", 1), ("truncated", 1),
                      ("not_tls", 1), ("tls_version", 1)):
        c.eq(rej.get(reason), n, "vigil stats: rejection %s counted" % reason)
    types = {(r["family"], r["name"]): r for r in json_lines(out) if r.get("kind") == "type"}
    c.eq(types.get(("file", "File Renamed"), {}).get("count"),
         len([i for i in good if i % 5 == 1]), "vigil stats: File Renamed count")
    wire = [r for r in json_lines(out) if r.get("kind") == "wire"]
    c.check(wire and wire[0]["events"] == len(good) and wire[0]["wire_bytes_per_event"] > 0,
            "vigil stats: wire bytes per event", actual=wire)
    rc, out, _ = vigil("stats", "--db", col.db)
    c.check(rc == 0 and "Event count and size summary" in out and "Rejections" in out,
            "vigil stats table", actual=out[:300])

    # --print: one line per stored event, alerts marked
    printed = [line for line in col.out if line.strip()]
    c.eq(len(printed), len(good), "--print: one line per stored event", )
    mark = [line for line in printed if line.startswith("!! ")]
    c.eq(len(mark), len([i for i in good if i % 5 == 4]), "--print: HIGH events marked !!")
    c.check(any("File Renamed mv[4001] /etc/f1.tmp -> /etc/f1" in line for line in printed),
            "--print: file line with the paths", actual=printed[:3])
    c.check(any("connect tcp 10.0.0.5:40002 -> 192.0.2.3:443" in line for line in printed),
            "--print: network line with addresses")

    # the rejection log: device and reason, once per connection, no key
    with open(dev) as f:
        key = re.search(r"^key=([0-9a-f]{64})", f.read(), re.M).group(1)
    log = "\n".join(col.err)
    c.check(key not in log, "the device key is never logged")
    c.check(re.search(r"device %s: batch seq 50 rejected: bad_hmac" % dev_id, log) is not None,
            "rejection logged with device and reason", actual=log[-2000:])
    c.eq(len(re.findall(r"batch seq 50 rejected", log)), 1,
         "five rejections on one connection: logged once")

    # usage and missing database
    rc, _, err = vigil("query", "--db", os.path.join(tmp, "nope.db"))
    c.check(rc == 1 and "no database" in err, "query on a missing database: clear error",
            actual=(rc, err))
    rc, _, err = vigil("query", "--since", "yesterday-ish", "--db", col.db)
    c.eq(rc, 2, "query --since garbage: usage error")
    rc, _, err = vigil("query", "--db", col.db, "--type", "nosuch")
    c.eq(rc, 2, "query --type nosuch: usage error")
    rc, _, err = vigil("query", "--db", col.db, "--sql", "DELETE FROM raw_events")
    c.check(rc == 1 and db_rows(col.db, "SELECT count(*) FROM raw_events")[0][0] == len(good),
            "query --sql refuses a write", actual=(rc, err))
    rc, _, err = vigil("stats", "--bogus")
    c.eq(rc, 2, "stats --bogus: usage error")


def retention(c, tool, tmp, pki):
    col = Collector(os.path.join(tmp, "ret"), pki,
                    "  raw_ttl_seconds: 2\n  typed_ttl_seconds: 4\n  archive_ttl_seconds: 4\n"
                    "  retention_interval_ms: 200\n")
    dev = os.path.join(tmp, "ret-device.key")
    subprocess.run([tool, "mkdev", dev, "acme"], check=True, stdout=subprocess.DEVNULL,
                   env=tool_env())
    subprocess.run([tool, "enroll", dev, col.keystore], check=True, env=tool_env())
    now = time.time_ns()
    old = now - 3 * 86400 * NS
    events = ([event(i, now) for i in range(10)] + [event(100 + i, old) for i in range(10)])
    path = os.path.join(tmp, "ret-events.jsonl")
    write_events(path, events)
    agent = Agent(tool, os.path.join(pki, "ca.pem"), path)
    fresh = tuple(events[i]["message_header"]["message_id"] for i in range(10))
    marks = ",".join("?" * len(fresh))
    day = time.strftime("%Y-%m-%d", time.gmtime(now / NS))
    old_day = time.strftime("%Y-%m-%d", time.gmtime(old / NS))

    def count(table):
        return db_rows(col.db, "SELECT count(*) FROM %s WHERE message_id IN (%s)" % (table, marks),
                       fresh)[0][0]

    def typed():
        return sum(count(t) for t in ("process_events", "file_events", "network_events",
                                      "dns_events", "memory_events"))

    col.start()
    try:
        res = agent.send(col.port, dev, ["batch:1:0:10", "batch:2:10:10"])
        c.check([r.get("status") for r in res] == [STORED, STORED], "retention batches stored",
                actual=res)
        c.eq((count("raw_events"), typed()), (10, 10), "fresh events: raw and typed rows")
        seen_typed_only = seen_archive = False
        deadline = time.time() + 12
        while time.time() < deadline:
            raw, ty = count("raw_events"), typed()
            if raw == 0 and ty == 10:
                seen_typed_only = True
            if raw == 0 and ty == 0:
                break
            time.sleep(0.1)
        c.check(seen_typed_only, "after raw_ttl (2 s) only the typed rows are left")
        c.eq((count("raw_events"), typed()), (0, 0), "after typed_ttl (4 s) no rows are left")
        arch = os.path.join(col.archive, day)
        files = sorted(os.listdir(arch)) if os.path.isdir(arch) else []
        c.check("file_events.jsonl.zst" in files and "process_events.jsonl.zst" in files,
                "typed rows archived to %s/<table>.jsonl.zst" % day, actual=files)
        if shutil.which("zstd") and files:
            ids = set()
            for name in files:
                p = subprocess.run(["zstd", "-dc", os.path.join(arch, name)],
                                   stdout=subprocess.PIPE, check=False)
                ids |= set(re.findall(r"5c1d2e3f-4a5b-8c6d-8000-[0-9a-f]{12}", p.stdout.decode()))
            seen_archive = set(fresh) <= ids
            c.check(seen_archive, "the archive holds every fresh event", actual=sorted(ids))
        c.check(not os.path.exists(os.path.join(col.archive, old_day)),
                "an archive day older than archive_ttl is removed (%s)" % old_day)
        c.eq(db_rows(col.db, "SELECT count(*) FROM raw_events")[0][0], 0,
             "the 3-day-old events are gone too")
        c.check(any("archive day(s) removed" in line and not
                    re.search(r"\b0 archive day", line) for line in col.err),
                "retention logged a removed archive day", actual=[l for l in col.err
                                                                   if "retention" in l])
    finally:
        rc = col.stop()
    c.eq(rc, 0, "retention collector exits 0")


def remote_blocks(c, tool, tmp, pki):
    """Batches that point at blocks of batches stored before ({"@":S.K},
    ship/blocks_known.h): each stored event is whole; a reference to a
    batch never stored is the unresolved marker, counted, and that batch's
    own blocks can still be referred to."""
    col = Collector(os.path.join(tmp, "remote"), pki)
    dev = os.path.join(tmp, "remote.key")
    subprocess.run([tool, "mkdev", dev, "acme"], check=True, stdout=subprocess.DEVNULL,
                   env=tool_env())
    subprocess.run([tool, "enroll", dev, col.keystore], check=True, env=tool_env())
    now = time.time_ns()
    blk_a = proc_block("sshd", 700, "/usr/sbin/sshd", user="root", uid=0)
    blk_b = proc_block("bash", 701, "/usr/bin/bash")
    evs = [event(1 + 5 * i, now - (50 - i) * NS) for i in range(6)]  # File Renamed, by "mv"
    want = []
    lines = []

    def ev_line(k, ref):
        e = json.loads(json.dumps(evs[k]))
        e["activity_data"]["process_details"] = "@REF@"
        text = json.dumps(e, separators=(",", ":")).replace('"@REF@"', ref)
        return e, text

    def put(k, ref, blk):
        e, text = ev_line(k, ref)
        e["activity_data"]["process_details"] = blk
        want.append(e)
        lines.append(text)

    d = lambda blk: "@" + json.dumps(blk, separators=(",", ":"))  # noqa: E731
    # batch 1: defines A, one event uses it
    lines.append(d(blk_a))
    put(0, '{"@":0}', blk_a)
    # batch 2: A from batch 1, a batch never stored (99), and B defined here
    lines.append(d(blk_b))
    put(1, '{"@":1.0}', blk_a)
    put(2, '{"@":99.0}', {"unresolved_block": "99.0"})
    put(3, '{"@":0}', blk_b)
    # batch 3: B from batch 2 (stored as its lines, its blocks still there), A from 1
    put(4, '{"@":2.0}', blk_b)
    put(5, '{"@":1.0}', blk_a)
    path = os.path.join(tmp, "remote.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    agent = Agent(tool, os.path.join(pki, "ca.pem"), path)
    col.start()
    try:
        res = agent.send(col.port, dev, ["batch:1:0:2:blocks", "batch:2:2:4:blocks",
                                         "batch:3:6:2:blocks"])
        # batch 2's ACK says some of its blocks were unknown (reason 1)
        c.check([(r.get("seq"), r.get("status"), r.get("reason")) for r in res] ==
                [(1, STORED, 0), (2, STORED, 1), (3, STORED, 0)],
                "remote blocks: three batches stored, the second noted", actual=res)
        c.check(col.alive(), "remote blocks: collector still running")
    finally:
        col.stop()
    rc, out, err = vigil("query", "--db", col.db, "--json", "--sql",
                         "SELECT json FROM raw_events ORDER BY id")
    c.eq(rc, 0, "remote blocks: vigil query --sql reads the raw rows (%s)" % err.strip())
    rows = [json.loads(r["json"]) for r in json_lines(out)]
    c.eq(len(rows), len(want), "remote blocks: every event stored")
    for i, (got, exp) in enumerate(zip(rows, want)):
        c.eq(got["activity_data"]["process_details"], exp["activity_data"]["process_details"],
             "remote blocks: event %d's process block" % i)
        c.eq(got, exp, "remote blocks: event %d whole" % i)
    rej = dict(db_rows(col.db, "SELECT reason, count FROM rejections"))
    c.check(rej.get("unresolved_block") == 1, "remote blocks: the unknown one counted",
            actual=rej)
    typed = db_rows(col.db, "SELECT process_name FROM file_events ORDER BY id")
    c.eq([t[0] for t in typed], ["sshd", "sshd", None, "bash", "bash", "sshd"],
         "remote blocks: typed rows have the process the reference names")


def main():
    c = Checker("collector pipeline")
    r = Checker("collector retention")
    b = Checker("collector remote blocks")
    tmp = tempfile.mkdtemp(prefix="vigil-collector-")
    try:
        tool = build_tool(tmp)
        pki = os.path.join(tmp, "pki")
        rc, out, err = vigil("pki", "--dir", pki)
        c.eq(rc, 0, "vigil pki exit code")
        pin = re.search(r"^pin_sha256: ([0-9a-f]{64})$", out, re.M)
        c.check(pin is not None, "vigil pki prints the pin", actual=out)
        for name in ("ca.pem", "server.pem", "server.key", "ca.key"):
            c.check(os.path.exists(os.path.join(pki, name)), "vigil pki made " + name)
        rc2, out2, _ = vigil("pki", "--dir", pki)
        c.check(rc2 == 0 and out2 == out, "vigil pki again: same files, same pin")
        pipeline(c, tool, tmp, pki)
        retention(r, tool, tmp, pki)
        guarded(b, remote_blocks, b, tool, tmp, pki)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish([c, r, b])


if __name__ == "__main__":
    main_wrapper(main)
