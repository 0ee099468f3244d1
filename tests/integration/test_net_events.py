"""Network and DNS events end to end (eBPF).

A child process runs, on loopback only: a TCP client and server over IPv4
(bind, listen, connect, accept, data both ways, close) and over IPv6 ::1; a
non-blocking connect (EINPROGRESS); a connect to a closed port
(ECONNREFUSED); a connection the server never accepts (its owner stays
unknown); AF_UNIX sockets with a path and with an abstract name. Every step
must be reported with family, type, addresses and ports, and the TCP
lifecycle with the exact payload byte counts.

DNS runs in a new network and mount namespace (its own loopback, where port
53 is always free and nothing outside is reachable), with a tiny resolver the
test starts there: queries by sendto/recvfrom, sendmsg/recvmsg and over TCP,
glibc's resolver (getent, which sends A and AAAA in one sendmmsg) through a
bind-mounted resolv.conf, and a hostile payload (a compression loop) that
must be reported with the parser's reason, not crash anything."""
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, finish, guarded, main_wrapper, name, proc)  # noqa: E402

TCP_WORK = r'''
import errno, json, os, socket, sys, time
marker = sys.argv[1]
out = {}

def pair(family, host, up, down):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(7)
    port = srv.getsockname()[1]
    c = socket.socket(family, socket.SOCK_STREAM)
    c.connect((host, port))
    s, _ = srv.accept()
    c.sendall(b"u" * up)
    got = 0
    while got < up:
        got += len(s.recv(65536))
    s.sendall(b"d" * down)
    got = 0
    while got < down:
        got += len(c.recv(65536))
    cport = c.getsockname()[1]
    c.close()
    s.recv(1)          # the client's FIN
    s.close()
    srv.close()
    return port, cport

out["v4_port"], out["v4_cport"] = pair(socket.AF_INET, "127.0.0.1", 100000, 3333)
out["v6_port"], out["v6_cport"] = pair(socket.AF_INET6, "::1", 777, 12345)

# a closed port: bind to learn a free one, close, connect
t = socket.socket(); t.bind(("127.0.0.1", 0)); closed = t.getsockname()[1]; t.close()
c = socket.socket()
out["refused_errno"] = c.connect_ex(("127.0.0.1", closed))
out["refused_port"] = closed
c.close()

# non-blocking connect
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
out["nb_port"] = srv.getsockname()[1]
c = socket.socket(); c.setblocking(False)
out["nb_errno"] = c.connect_ex(("127.0.0.1", out["nb_port"]))
s, _ = srv.accept()
s.close(); c.close(); srv.close()

# a connection nobody accepts: established in softirq, owner never known
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
out["orphan_port"] = srv.getsockname()[1]
c = socket.create_connection(("127.0.0.1", out["orphan_port"]))
time.sleep(0.05)
c.close()
time.sleep(0.05)
srv.close()

# AF_UNIX: a path, and an abstract name with a newline in it
path = os.path.join(sys.argv[2], "s.sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind(path); srv.listen(3)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(path)
s, _ = srv.accept(); s.close(); c.close(); srv.close(); os.unlink(path)
abstract = b"\0vigil-" + marker.encode() + b"\n"
a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a.bind(abstract); a.close()
out["unix_path"] = path
print(json.dumps(out), flush=True)
'''

# Runs inside `unshare --net --mount`: a resolver on 127.0.0.1:53 (UDP and
# TCP) and the clients. Prints what it did as JSON.
DNS_WORK = r'''
import json, os, socket, struct, subprocess, sys, threading
marker, tmp = sys.argv[1], sys.argv[2]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

def qname(b, off):
    labels = []
    while b[off]:
        labels.append(b[off + 1:off + 1 + b[off]]); off += 1 + b[off]
    return b".".join(labels), off + 1

def answer(q):
    tid = struct.unpack(">H", q[:2])[0]
    _, off = qname(q, 12)
    qtype = struct.unpack(">H", q[off:off + 2])[0]
    question = q[12:off + 4]
    rdata = {1: bytes([10, 1, 2, 3]), 28: socket.inet_pton(socket.AF_INET6, "fd00::53")}.get(qtype)
    an = b""
    if rdata:
        an = b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 300, len(rdata)) + rdata
    return struct.pack(">HHHHHH", tid, 0x8180, 1, 1 if an else 0, 0, 0) + question + an

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 53))
tcp = socket.socket(); tcp.bind(("127.0.0.1", 53)); tcp.listen(4)

def serve_udp():
    while True:
        q, a = udp.recvfrom(4096)
        try:
            udp.sendto(answer(q), a)
        except Exception:
            pass

def serve_tcp():
    while True:
        s, _ = tcp.accept()
        data = s.recv(4096)
        r = answer(data[2:])
        s.sendall(struct.pack(">H", len(r)) + r)
        s.close()

for f in (serve_udp, serve_tcp):
    threading.Thread(target=f, daemon=True).start()

def query(name, qtype, tid):
    q = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        q += bytes([len(l)]) + l.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)

c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(5)
c.sendto(query("a-%s.vigil.test" % marker, 1, 0x1111), ("127.0.0.1", 53))
c.recvfrom(4096)
c.sendmsg([query("m-%s.vigil.test" % marker, 28, 0x2222)], [], 0, ("127.0.0.1", 53))
c.recvmsg(4096)
# hostile: the question name is a pointer to itself
c.sendto(struct.pack(">HHHHHH", 0x3333, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
         ("127.0.0.1", 53))
c.close()

t = socket.create_connection(("127.0.0.1", 53), timeout=5)
q = query("t-%s.vigil.test" % marker, 1, 0x4444)
t.sendall(struct.pack(">H", len(q)) + q)
t.recv(4096)
t.close()

import ctypes, select
def wait_readable(s):
    if not select.select([s], [], [], 5)[0]:
        raise SystemExit("no answer within 5 s")

# Go's resolver: write and read on a connected UDP socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(("127.0.0.1", 53))
os.write(u.fileno(), query("w-%s.vigil.test" % marker, 1, 0x5555))
wait_readable(u)
os.read(u.fileno(), 4096)
u.close()

# recvmmsg (libc through ctypes: Python has no wrapper)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
libc = ctypes.CDLL(None, use_errno=True)
m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
m.sendto(query("r-%s.vigil.test" % marker, 1, 0x6666), ("127.0.0.1", 53))
wait_readable(m)
buf = ctypes.create_string_buffer(4096)
name = ctypes.create_string_buffer(16)
iov = iovec(ctypes.cast(buf, ctypes.c_void_p), 4096)
vec = (mmsghdr * 1)()
vec[0].hdr.name = ctypes.cast(name, ctypes.c_void_p)
vec[0].hdr.namelen = 16
vec[0].hdr.iov = ctypes.pointer(iov)
vec[0].hdr.iovlen = 1
if libc.recvmmsg(m.fileno(), vec, 1, 0, None) != 1:
    raise SystemExit("recvmmsg failed: errno %d" % ctypes.get_errno())
m.close()

# glibc over TCP: the length and the query in one writev; the answer's
# length read on its own, then the answer (here with readv)
v = socket.create_connection(("127.0.0.1", 53), timeout=5)
q = query("v-%s.vigil.test" % marker, 1, 0x7777)
os.writev(v.fileno(), [struct.pack(">H", len(q)), q])
wait_readable(v)
n = struct.unpack(">H", os.read(v.fileno(), 2))[0]
ans = bytearray(n)
got = 0
while got < n:
    wait_readable(v)
    got += os.readv(v.fileno(), [memoryview(ans)[got:]])
v.close()

# glibc's own resolver: A and AAAA in parallel, one sendmmsg
conf = os.path.join(tmp, "resolv.conf")
with open(conf, "w") as f:
    f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
subprocess.run(["mount", "--bind", conf, "/etc/resolv.conf"], check=True)
g = subprocess.run(["getent", "ahosts", "g-%s.vigil.test" % marker], capture_output=True,
                   text=True, timeout=10)
print(json.dumps({"getent_pid": None, "getent_rc": g.returncode, "getent_out": g.stdout}),
      flush=True)
'''


def nd(e):
    return e["activity_data"].get("network_details") or {}


def dd(e):
    return e["activity_data"].get("dns_details") or {}


def family_events(agent, family):
    return [e for e in agent.events if e["activity_data"].get("family") == family]


def scenario_tcp(c):
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="vigil-it-net-"))
    marker = uuid.uuid4().hex[:12]
    with Agent("net") as agent:
        p = subprocess.Popen([sys.executable, "-c", TCP_WORK, marker, tmp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = p.communicate(timeout=60)
        c.eq(p.returncode, 0, "the workload ran: %s" % stderr[-2000:])
        out = json.loads(stdout) if p.returncode == 0 else {}
        agent.wait_for(lambda e: name(e) == "Network Bind" and
                       nd(e).get("network_local_abstract") is True, timeout=10)
        # the orphan's end comes when the listener closes: after the workload
        agent.wait_for(lambda e: name(e) == "Network Connection Terminated" and
                       nd(e).get("network_local_port") == out.get("orphan_port"), timeout=5)
    shutil.rmtree(tmp, ignore_errors=True)
    agent.check_output(c)
    if not out:
        return
    net = family_events(agent, "network")
    mine = [e for e in net if proc(e).get("process_id") == p.pid]

    def one(ev_name, pred, what):
        got = [e for e in mine if name(e) == ev_name and pred(nd(e))]
        c.check(len(got) == 1, "%s: one %s (got %d)" % (what, ev_name, len(got)), mine)
        return nd(got[0]) if got else None

    def conn_checks(tag, family, host, port, cport, up, down):
        b = one("Network Bind", lambda d: d["network_local_port"] == port, tag + " bind")
        if b:
            c.eq((b["network_family"], b["network_socket_type"], b["network_protocol"],
                  b["network_local_address"], b["network_result"], b["network_errno"]),
                 (family, "stream", "tcp", host, "success", None), tag + " bind: fields")
            c.check(isinstance(b["network_file_descriptor"], int), tag + " bind: the fd")
        ls = one("Network Listen", lambda d: d["network_local_port"] == port, tag + " listen")
        if ls:
            c.eq(ls["network_listen_backlog"], 7, tag + " listen: backlog")
        co = one("Network Connect", lambda d: d["network_remote_port"] == port, tag + " connect")
        if co:
            c.eq((co["network_remote_address"], co["network_local_address"],
                  co["network_local_port"], co["network_result"]),
                 (host, host, cport, "success"), tag + " connect: both ends")
        ac = one("Network Accept", lambda d: d["network_local_port"] == port, tag + " accept")
        if ac:
            c.eq((ac["network_local_address"], ac["network_remote_address"],
                  ac["network_remote_port"], ac["network_operation"]),
                 (host, host, cport, "accept4"), tag + " accept: the peer from the socket")
        for direction, local, remote, bin_, bout, sock in (
                ("outbound", cport, port, down, up, co), ("inbound", port, cport, up, down, ac)):
            def match(d, local=local, remote=remote):
                return d["network_local_port"] == local and d["network_remote_port"] == remote
            cr = one("Network Connection Created", match, "%s %s" % (tag, direction))
            te = one("Network Connection Terminated", match, "%s %s" % (tag, direction))
            if cr:
                c.eq((cr["network_direction"], cr["tcp_connection_state"], cr["network_family"]),
                     (direction, "ESTABLISHED", family), "%s %s created" % (tag, direction))
                if sock:
                    c.eq(cr["network_socket_id"], sock["network_socket_id"],
                         "%s %s: created has the socket id of connect/accept" % (tag, direction))
            if te:
                c.eq((te["tcp_bytes_in"], te["tcp_bytes_out"]), (bin_, bout),
                     "%s %s terminated: payload bytes in/out exact" % (tag, direction))
                c.eq(te["network_direction"], direction, "%s %s: direction" % (tag, direction))
                c.check(te["tcp_segments_in"] > 0 and te["tcp_segments_out"] > 0,
                        "%s %s: segments counted" % (tag, direction))
                c.check(te["tcp_connection_overall_duration_ns"] and
                        te["tcp_connection_overall_duration_ns"] > 0,
                        "%s %s: duration" % (tag, direction))
                c.check(te["tcp_connection_creation_time_iso_8601_ns"] is not None and
                        te["tcp_connection_termination_time_iso_8601_ns"] is not None,
                        "%s %s: creation and termination times" % (tag, direction))
                c.check(te["tcp_average_bytes_in"] is not None,
                        "%s %s: average segment size" % (tag, direction))
                if cr:
                    c.eq(te["tcp_connection_creation_time_ns"],
                         cr["tcp_connection_creation_time_ns"],
                         "%s %s: the same creation time in both" % (tag, direction))

    conn_checks("ipv4", "AF_INET", "127.0.0.1", out["v4_port"], out["v4_cport"], 100000, 3333)
    conn_checks("ipv6", "AF_INET6", "::1", out["v6_port"], out["v6_cport"], 777, 12345)

    c.eq(out["refused_errno"], errno.ECONNREFUSED, "the closed port refused")
    rf = one("Network Connect", lambda d: d["network_remote_port"] == out["refused_port"],
             "refused connect")
    if rf:
        c.eq((rf["network_result"], rf["network_errno"], rf["network_error_name"]),
             ("failure", errno.ECONNREFUSED, "ECONNREFUSED"), "refused connect: errno")
        c.eq([e for e in net if name(e) == "Network Connection Created" and
              nd(e)["network_remote_port"] == out["refused_port"]], [],
             "a refused connect creates no connection")
    nb = one("Network Connect", lambda d: d["network_remote_port"] == out["nb_port"],
             "non-blocking connect")
    if nb:
        c.eq(out["nb_errno"], errno.EINPROGRESS, "the non-blocking connect was in progress")
        c.eq((nb["network_result"], nb["network_errno"], nb["network_error_name"]),
             ("in_progress", errno.EINPROGRESS, "EINPROGRESS"), "non-blocking connect: result")
    # the orphan: created and ended with an unknown owner
    orphan = [e for e in net if nd(e).get("network_local_port") == out["orphan_port"] and
              name(e) in ("Network Connection Created", "Network Connection Terminated")]
    c.eq(sorted(name(e) for e in orphan),
         ["Network Connection Created", "Network Connection Terminated"],
         "a connection never accepted is still created and terminated", orphan)
    for e in orphan:
        c.eq(proc(e).get("process_id"), 0, "nobody accepted it: the owner is unknown", [e])
        c.eq(nd(e)["network_direction"], "inbound", "the orphan is inbound", [e])

    ub = one("Network Bind", lambda d: d["network_local_address"] == out["unix_path"],
             "unix bind")
    if ub:
        c.eq((ub["network_family"], ub["network_local_abstract"], ub["network_local_port"]),
             ("AF_UNIX", False, None), "unix bind: a path, no port")
    one("Network Listen", lambda d: d["network_local_address"] == out["unix_path"],
        "unix listen")
    uc = one("Network Connect", lambda d: d["network_remote_address"] == out["unix_path"],
             "unix connect")
    if uc:
        c.eq(uc["network_result"], "success", "unix connect: success")
    ua = one("Network Accept", lambda d: d["network_local_address"] == out["unix_path"],
             "unix accept")
    if ua:
        c.eq(ua["network_family"], "AF_UNIX", "unix accept: family")
    want = "@vigil-%s\\x0a" % marker
    ab = one("Network Bind", lambda d: d["network_local_address"] == want, "abstract bind")
    if ab:
        c.eq((ab["network_local_abstract"], ab["network_socket_type"]), (True, "dgram"),
             "abstract bind: flagged, datagram")
    c.eq([e for e in net if name(e) == "TCP Network Connection State Change"], [],
         "state changes are off by default")
    c.eq([e for e in net if proc(e).get("process_id") == agent.pid], [],
         "the agent's own sockets are not reported")


def scenario_dns(c):
    if not shutil.which("unshare") or not shutil.which("ip"):
        c.fail("unshare(1) and ip(8) are needed for the DNS test's private loopback")
        return
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="vigil-it-dns-"))
    marker = uuid.uuid4().hex[:12]
    with Agent("dns") as agent:
        p = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private",
                            sys.executable, "-c", DNS_WORK, marker, tmp],
                           capture_output=True, text=True, timeout=60)
        c.eq(p.returncode, 0, "the DNS workload ran: %s" % p.stderr[-2000:])
        agent.wait_for(lambda e: name(e) == "DNS Answer" and
                       ("g-%s.vigil.test" % marker) in dd(e).get("dns_query_names", []) and
                       any(a["type"] == "AAAA" for a in dd(e).get("dns_answers", [])),
                       timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)
    agent.check_output(c)
    evs = [e for e in family_events(agent, "dns") if marker in json.dumps(dd(e)) or
           dd(e).get("dns_transaction_id") == 0x3333]
    out = json.loads(p.stdout) if p.returncode == 0 else {}

    def find(ev_name, qname, qtype=None):
        return [e for e in evs if name(e) == ev_name and qname in dd(e)["dns_query_names"] and
                (qtype is None or dd(e)["dns_questions"][0]["type"] == qtype)]

    for qn, qtype, op_q, op_a, proto, tid in (
            ("a-%s.vigil.test" % marker, "A", "sendto", "recvfrom", "udp", 0x1111),
            ("m-%s.vigil.test" % marker, "AAAA", "sendmsg", "recvmsg", "udp", 0x2222),
            ("t-%s.vigil.test" % marker, "A", "sendto", "recvfrom", "tcp", 0x4444),
            ("w-%s.vigil.test" % marker, "A", "write", "read", "udp", 0x5555),
            ("r-%s.vigil.test" % marker, "A", "sendto", "recvmmsg", "udp", 0x6666),
            ("v-%s.vigil.test" % marker, "A", "writev", "readv", "tcp", 0x7777)):
        q = find("DNS Query", qn)
        c.eq(len(q), 1, "%s/%s: one DNS Query for %s" % (op_q, proto, qn), evs)
        if q:
            d = dd(q[0])
            c.eq((d["dns_operation"], d["dns_protocol"], d["dns_resolver_address"],
                  d["dns_resolver_port"], d["dns_transaction_id"], d["dns_is_response"],
                  d["dns_questions"][0]["type"], d["dns_parse_error"]),
                 (op_q, proto, "127.0.0.1", 53, tid, False, qtype, None),
                 "%s: query fields" % qn, q)
            c.eq(proc(q[0]).get("process_name"), "python3", "%s: the process block" % qn, q)
        a = find("DNS Answer", qn)
        c.eq(len(a), 1, "%s/%s: one DNS Answer for %s" % (op_a, proto, qn), evs)
        if a:
            d = dd(a[0])
            want = "10.1.2.3" if qtype == "A" else "fd00::53"
            c.eq((d["dns_operation"], d["dns_response_code"], d["dns_transaction_id"],
                  [(x["type"], x["data"], x["ttl"]) for x in d["dns_answers"]]),
                 (op_a, "NOERROR", tid, [(qtype, want, 300)]), "%s: answer fields" % qn, a)
            if q:
                c.eq(d["dns_socket_id"], dd(q[0])["dns_socket_id"],
                     "%s: the answer came to the socket that asked" % qn)

    gq = "g-%s.vigil.test" % marker
    c.eq(out.get("getent_rc"), 0, "getent resolved through the test resolver: %r" % out)
    for qtype, want in (("A", "10.1.2.3"), ("AAAA", "fd00::53")):
        q = find("DNS Query", gq, qtype)
        c.eq(len(q), 1, "glibc: one %s query" % qtype, evs)
        if q:
            c.eq((dd(q[0])["dns_operation"], proc(q[0]).get("process_name")),
                 ("sendmmsg", "getent"), "glibc's %s query came by sendmmsg" % qtype, q)
        a = find("DNS Answer", gq, qtype)
        c.eq(len(a), 1, "glibc: one %s answer" % qtype, evs)
        if a:
            c.eq([x["data"] for x in dd(a[0])["dns_answers"]], [want],
                 "glibc: the %s answer's address" % qtype, a)
    bad = [e for e in evs if dd(e).get("dns_transaction_id") == 0x3333]
    c.eq(len(bad), 1, "the hostile payload is one DNS Query", evs)
    if bad:
        d = dd(bad[0])
        c.check(d["dns_parse_error"] and "pointer" in d["dns_parse_error"],
                "the hostile payload's reason is reported: %r" % d["dns_parse_error"], bad)
        c.eq(d["dns_query_names"], [], "no name invented for the hostile payload", bad)


def scenario_toggles(c):
    cfg = ("output:\n  stdout: true\nevents:\n  network: true\n  tcp_state_changes: true\n")
    with Agent("net-states", config=cfg) as agent:
        p = subprocess.Popen([sys.executable, "-c", (
            "import socket\n"
            "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(1)\n"
            "c=socket.create_connection(s.getsockname()); a,_=s.accept()\n"
            "c.close(); a.close(); s.close()\n")])
        c.eq(p.wait(timeout=30), 0, "the state workload ran")
        agent.wait_for(lambda e: name(e) == "TCP Network Connection State Change" and
                       nd(e)["tcp_previous_state"] == "LISTEN" and
                       nd(e)["tcp_connection_state"] == "CLOSE", timeout=10)
    agent.check_output(c)
    states = [(nd(e)["tcp_previous_state"], nd(e)["tcp_connection_state"])
              for e in family_events(agent, "network")
              if name(e) == "TCP Network Connection State Change" and
              proc(e).get("process_id") in (p.pid, 0)]
    for t in (("CLOSE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("SYN_RECV", "ESTABLISHED"),
              ("CLOSE", "LISTEN"), ("LISTEN", "CLOSE")):
        c.check(t in states, "tcp_state_changes: %s -> %s reported" % t,
                expected=t, actual=states)

    cfg = "output:\n  stdout: true\nevents:\n  network: false\n  dns: false\n"
    with Agent("net-off", config=cfg) as agent:
        subprocess.run([sys.executable, "-c", (
            "import socket\n"
            "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(1)\n"
            "c=socket.create_connection(s.getsockname()); a,_=s.accept()\n"
            "u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "u.sendto(b'\\x00'*12, ('127.0.0.1', 53))\n"
            "c.close(); a.close(); s.close()\n")], timeout=30)
        agent.wait_for(lambda e: False, timeout=0.5)
    agent.check_output(c)
    c.eq([name(e) for e in agent.events if e["activity_data"].get("family") in
          ("network", "dns")], [], "events.network: false and events.dns: false turn them off")


def main():
    checkers = []
    for title, fn in (("network events", scenario_tcp), ("dns events", scenario_dns),
                      ("network toggles", scenario_toggles)):
        c = Checker(title)
        guarded(c, fn, c)
        checkers.append(c)
    return finish(checkers)


if __name__ == "__main__":
    main_wrapper(main)
