#!/usr/bin/env python3
"""Summarise bench/run.sh rounds: a table per workload, the issues' targets, the rounds.

usage: report.py ROUNDS.tsv NOTES.txt "MODE..." "WORKLOAD..."

ROUNDS.tsv, one line per round, workload and mode, tab-separated:
  round workload mode wall_ns ops expected captured cpu_ns ticks wl_cpu_ns extra
wall_ns is "FAILED" when the mode could not run that round (extra then holds
why=...). ops: operations the workload issued; expected: the events a watcher
that misses nothing reports for them; captured: the events it reported. cpu_ns
is the watcher's run time (schedstat) over the workload and its drain; ticks the
same from utime+stime (USER_HZ), kept as a coarse cross check; wl_cpu_ns the
workload's own user+system time. extra: key=value words (vigil: kern_ns and
kern_runs of its BPF programs, win_events and win_bytes written by the agent
while the workload ran; auditd: kauditd_cpu_ns, kernel_lost; per-call counts).

Exit status 1 when none or vigil did not complete a single round of some
workload (no measurement of the thing under test), else 0: auditd and bpftrace
are baselines, and the targets are informational.
"""
import os
import statistics
import sys

TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")

WORKLOAD_TITLE = {
    "exec": "Process telemetry: fork+exec of /bin/true",
    "file": "File loop: open(O_CREAT)+write 16 B+close, rename, unlink",
    "connect": "Connect loop: loopback TCP connect+write 16 B+close, accept+read+close",
}
# What "captured" counts, per workload and mode.
CAPTURED_WHAT = {
    "exec": "vigil: Process Created of the marker; auditd: EXECVE records; bpftrace: exec "
            "lines of the workload's pids",
    "file": "vigil: File Created + Renamed + Deleted naming the loop's files (3/op); "
            "auditd: openat/rename/unlink events with a PATH of them; bpftrace: the same calls",
    "connect": "vigil: Network Connect + Accept + Connection Created and Terminated on both "
               "ends, by the server port (6/op); auditd: connect/accept SYSCALL records of the "
               "loop's pid; bpftrace: connect/accept exits of its pid (2/op)",
}
# The issues' targets for vigil: max ratio to no agent (None: see the exec rules).
TARGET_RATIO = {"file": 1.5, "connect": 1.3}
TARGET_EXEC_SLOWDOWN = 0.05
TARGET_EXEC_CPU_US = 20.0
# Per-call counts that must each reach ops (x2 for TCP lifecycle, both ends).
LOSS_FIELDS = {
    "exec": [("terminated", 1)],
    "file": [("created", 1), ("renamed", 1), ("deleted", 1)],
    "connect": [("connect", 1), ("accept", 1), ("created", 2), ("terminated", 2)],
}


def parse(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 11:
                continue
            row = {"round": int(p[0]), "workload": p[1], "mode": p[2],
                   "failed": p[3] == "FAILED", "ops": int(p[4]), "extra": {}}
            for kv in p[10].split():
                k, _, v = kv.partition("=")
                row["extra"][k] = v
            if not row["failed"]:
                row["wall_ns"] = int(p[3])
                row["expected"] = int(p[5])
                row["captured"] = int(p[6])
                row["cpu_ns"] = int(p[7])
                row["ticks"] = int(p[8])
                row["wl_cpu_ns"] = int(p[9])
            rows.append(row)
    return rows


def xint(row, key, default=0):
    try:
        return int(row["extra"].get(key, default))
    except ValueError:
        return default


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def events_seen(row):
    """Events the watcher produced for this run: vigil's window (every event it
    wrote while the workload ran, whoever caused it), else the captured ones."""
    w = xint(row, "win_events", -1)
    return w if row["mode"] == "vigil" and w > 0 else row["captured"]


def summarise(rows, modes):
    ok = {m: [r for r in rows if r["mode"] == m and not r["failed"]] for m in modes}
    none_wall = {r["round"]: r["wall_ns"] for r in ok.get("none", [])}
    base = med(none_wall.values())
    base_cpu = med(r["wl_cpu_ns"] for r in ok.get("none", []))
    out = {}
    for m in modes:
        rs = ok[m]
        if not rs:
            why = [r["extra"].get("why", "") for r in rows if r["mode"] == m]
            out[m] = {"why": why[-1].replace("_", " ") if why else "not run"}
            continue
        wall = med(r["wall_ns"] for r in rs)
        paired = [r["wall_ns"] / none_wall[r["round"]] for r in rs if r["round"] in none_wall]
        worst = min(rs, key=lambda r: r["captured"] / max(r["expected"], 1))
        s = {
            "runs": len(rs),
            "wall": wall,
            "ratio": wall / base if base else None,
            "paired": med(paired),
            "cpu_ratio": med(r["wl_cpu_ns"] for r in rs) / base_cpu if base_cpu else None,
            "spread": (max(r["wall_ns"] for r in rs) - min(r["wall_ns"] for r in rs)) / wall,
            "captured": worst["captured"], "expected": worst["expected"],
            "ops_per_s": med(r["ops"] / (r["wall_ns"] / 1e9) for r in rs),
        }
        if m != "none":
            s["cpu_us_op"] = med(r["cpu_ns"] / 1e3 / r["ops"] for r in rs)
            s["tick_us_op"] = med(r["ticks"] * TICK_NS / 1e3 / r["ops"] for r in rs)
            s["cpu_ns_ev"] = med(r["cpu_ns"] / events_seen(r) if events_seen(r) else None
                                 for r in rs)
        if m == "vigil":
            s["kern_ns_op"] = med(xint(r, "kern_ns") / r["ops"] if "kern_ns" in r["extra"]
                                  else None for r in rs)
            s["kern_ns_ev"] = med(xint(r, "kern_ns") / events_seen(r)
                                  if "kern_ns" in r["extra"] and events_seen(r) else None
                                  for r in rs)
            s["bytes_ev"] = med(xint(r, "win_bytes") / xint(r, "win_events")
                                if xint(r, "win_events") > 0 else None for r in rs)
            s["ev_op"] = med(events_seen(r) / r["ops"] for r in rs)
            s["misses"] = max(xint(r, "kern_misses") for r in rs)
            s["loss"] = {k: min(xint(r, k, -1) for r in rs) for k, _ in
                         LOSS_FIELDS.get(rs[0]["workload"], [])}
        if m == "auditd":
            s["kauditd_ns_ev"] = med(xint(r, "kauditd_cpu_ns") / r["captured"]
                                     if r["captured"] else None for r in rs)
            s["kauditd_us_op"] = med(xint(r, "kauditd_cpu_ns") / 1e3 / r["ops"] for r in rs)
            s["lost"] = max(xint(r, "kernel_lost") for r in rs)
        out[m] = s
    return out


def table(workload, rows, modes, out):
    rs = [r for r in rows if r["workload"] == workload]
    summary = summarise(rs, modes)
    ops = rs[0]["ops"] if rs else 0
    rounds = len({r["round"] for r in rs})
    out.append("%s, %d per run, %d rounds, modes interleaved" % (
        WORKLOAD_TITLE[workload], ops, rounds))
    hdr = "%-9s %5s %11s %6s %6s %6s %6s %9s %19s %9s %9s %9s" % (
        "mode", "runs", "wall median", "spread", "ratio", "paired", "wl cpu", "ops/s",
        "captured/expected", "us/op", "ns/event", "kernel")
    out.append(hdr)
    out.append("-" * len(hdr))
    for m in modes:
        s = summary[m]
        if "why" in s:
            out.append("%-9s %5s not run: %s" % (m, "0", s["why"]))
            continue
        cap = "-" if m == "none" else "%d/%d" % (s["captured"], s["expected"])
        kern = "-"
        if m == "vigil" and s.get("kern_ns_ev") is not None:
            kern = "%.0f ns/ev" % s["kern_ns_ev"]
        elif m == "auditd" and s.get("kauditd_ns_ev") is not None:
            kern = "%.0f kaud" % s["kauditd_ns_ev"]
        out.append("%-9s %2d/%-2d %9.3f s %5.1f%% %6s %6s %6s %9.0f %19s %9s %9s %9s" % (
            m, s["runs"], len([r for r in rs if r["mode"] == m]), s["wall"] / 1e9,
            s["spread"] * 100, fmt(s["ratio"], "%.2f"), fmt(s["paired"], "%.2f"),
            fmt(s["cpu_ratio"], "%.2f"), s["ops_per_s"], cap, fmt(s.get("cpu_us_op")),
            fmt(s.get("cpu_ns_ev"), "%.0f"), kern))
    out.append("  captured: worst round; %s." % CAPTURED_WHAT[workload])
    v = summary.get("vigil")
    if v and "why" not in v:
        out.append("  vigil: %.2f events/op written (every event while the loop ran, whoever "
                   "caused it), %s bytes of JSON each; BPF programs %s ns/op, %s ns/event "
                   "(kernel.bpf_stats_enabled run time); %d runs skipped by the kernel as "
                   "recursion (worst round)." % (
                       v["ev_op"], fmt(v["bytes_ev"], "%.0f"), fmt(v["kern_ns_op"], "%.0f"),
                       fmt(v["kern_ns_ev"], "%.0f"), v["misses"]))
    a = summary.get("auditd")
    if a and "why" not in a:
        out.append("  auditd: us/op and ns/event are the daemon; the kernel's kauditd thread "
                   "used a further %.1f us/op (%s ns/event); kernel lost %d (worst round)." % (
                       a["kauditd_us_op"], fmt(a["kauditd_ns_ev"], "%.0f"), a["lost"]))
    out.append("")
    return summary


def verdict(ok):
    return "PASS" if ok else "FAIL"


def targets(workload, s, out):
    v = s.get("vigil")
    if v is None or "why" in v:
        out.append("  %-8s vigil did not run: no verdict" % workload)
        return
    base = s.get("none")
    if v["ratio"] is None:
        out.append("  %-8s no 'none' baseline: no slowdown verdict" % workload)
    elif workload == "exec":
        slow = v["ratio"] - 1
        out.append("  exec     slowdown <= 5 %%:        %+6.1f %% (paired %+.1f %%, workload cpu "
                   "%+.1f %%, none's spread %.0f %%)   %s" % (
                       slow * 100, (v["paired"] - 1) * 100, (v["cpu_ratio"] - 1) * 100,
                       base["spread"] * 100, verdict(slow <= TARGET_EXEC_SLOWDOWN)))
        out.append("  exec     agent CPU <= 20 us/exec:  %6.1f us/exec   %s" % (
            v["cpu_us_op"], verdict(v["cpu_us_op"] <= TARGET_EXEC_CPU_US)))
    else:
        t = TARGET_RATIO[workload]
        out.append("  %-8s wall <= %.1fx no agent:      %5.2fx (paired %.2fx, workload cpu "
                   "%.2fx, none's spread %.0f %%)   %s" % (
                       workload, t, v["ratio"], v["paired"], v["cpu_ratio"],
                       base["spread"] * 100, verdict(v["ratio"] <= t)))
    ops = [r for r in s["_rows"] if r["mode"] == "vigil" and not r["failed"]][0]["ops"]
    parts, ok = [], v["captured"] == v["expected"]
    if workload == "exec":
        parts.append("Created %d/%d" % (v["captured"], v["expected"]))
    for k, mult in LOSS_FIELDS[workload]:
        got = v["loss"].get(k, -1)
        parts.append("%s %s/%d" % (k, got if got >= 0 else "?", ops * mult))
        ok = ok and got == ops * mult
    out.append("  %-8s every event captured:  %s (worst round)   %s" % (
        workload, ", ".join(parts), verdict(ok)))


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    rows = parse(sys.argv[1])
    notes = open(sys.argv[2], encoding="utf-8").read().splitlines()
    modes = sys.argv[3].split()
    workloads = sys.argv[4].split()
    out = ["Vigil telemetry benchmark", ""]
    summaries = {}
    for w in workloads:
        summaries[w] = table(w, rows, modes, out)
        summaries[w]["_rows"] = [r for r in rows if r["workload"] == w]
    out.append("spread: (slowest - fastest round) / median, the noise here. ratio: median wall "
               "/ none's median wall; paired: median over rounds of wall / that round's none "
               "wall; wl cpu: the workload's own user+system time / none's (in-kernel probe "
               "cost, less disturbed by other load than wall time).")
    out.append("us/op and ns/event: the watcher's run time (all threads, schedstat) from just "
               "before the workload until it is idle again, per operation and per event it "
               "produced; kernel: vigil's BPF program run time per event (auditd: kauditd's "
               "CPU per event). BPF run time is system-wide: it includes every other "
               "process's syscalls in the window, so per-op figures are upper bounds. "
               "Ticks (utime+stime, %.0f ms resolution) are in the rounds." % (TICK_NS / 1e6))
    out.append("")
    out.append("Targets (issues 2 and 3), vigil:")
    for w in workloads:
        targets(w, summaries[w], out)
    out.append("")
    out.append("Rounds:")
    for r in rows:
        extra = " ".join("%s=%s" % kv for kv in r["extra"].items())
        if r["failed"]:
            out.append("  %d %-7s %-9s FAILED  %s" % (r["round"], r["workload"], r["mode"], extra))
            continue
        out.append("  %d %-7s %-9s wall %.3f s  wl cpu %.3f s  captured %d/%d  cpu %.1f us/op "
                   "(%d ticks)  %s" % (
                       r["round"], r["workload"], r["mode"], r["wall_ns"] / 1e9,
                       r["wl_cpu_ns"] / 1e9, r["captured"], r["expected"],
                       r["cpu_ns"] / 1e3 / r["ops"], r["ticks"], extra))
    if notes:
        out.append("")
        out.append("Notes:")
        out.extend("  " + line for line in notes)
    print("\n".join(out))
    bad = any("why" in summaries[w].get(m, {"why": 1}) for w in workloads
              for m in ("none", "vigil") if m in modes)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
