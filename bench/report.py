#!/usr/bin/env python3
"""Summarise bench/run.sh rounds: one table, the issue's targets, the raw rounds.

usage: report.py ROUNDS.tsv NOTES.txt MODE...

ROUNDS.tsv, one line per round and mode, tab-separated:
  round mode wall_ns issued captured cpu_ns ticks wl_cpu_ns extra
wall_ns is "FAILED" when the mode could not run that round. cpu_ns is the
watcher's run time (schedstat) over the workload and its drain; ticks the same
from utime+stime (USER_HZ), kept as a coarse cross check; wl_cpu_ns the workload's own user+system time.

Exit status 1 when a mode did not complete a single round, else 0: the targets
are informational.
"""
import os
import statistics
import sys

TARGET_SLOWDOWN = 0.05
TARGET_CPU_US = 20.0
TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def parse(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 9:
                continue
            row = {"round": int(p[0]), "mode": p[1], "failed": p[2] == "FAILED",
                   "issued": int(p[3]), "extra": {}}
            if not row["failed"]:
                row["wall_ns"] = int(p[2])
                row["captured"] = int(p[4])
                row["cpu_ns"] = int(p[5])
                row["ticks"] = int(p[6])
                row["wl_cpu_ns"] = int(p[7])
                for kv in p[8].split():
                    k, _, v = kv.partition("=")
                    row["extra"][k] = v
            rows.append(row)
    return rows


def fmt_us(v):
    return "-" if v is None else "%.1f" % v


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    rows = parse(sys.argv[1])
    notes = open(sys.argv[2], encoding="utf-8").read().splitlines()
    modes = sys.argv[3:]
    ok = {m: [r for r in rows if r["mode"] == m and not r["failed"]] for m in modes}
    tried = {m: len([r for r in rows if r["mode"] == m]) for m in modes}
    none_wall = {r["round"]: r["wall_ns"] for r in ok.get("none", [])}
    base = statistics.median(none_wall.values()) if none_wall else None
    none_cpu = [r["wl_cpu_ns"] for r in ok.get("none", [])]
    base_cpu = statistics.median(none_cpu) if none_cpu else None

    summary = {}
    for m in modes:
        rs = ok[m]
        if not rs:
            summary[m] = None
            continue
        wall = statistics.median(r["wall_ns"] for r in rs)
        paired = [r["wall_ns"] / none_wall[r["round"]] for r in rs if r["round"] in none_wall]
        worst = min(rs, key=lambda r: r["captured"] / r["issued"])
        s = {
            "wall": wall,
            "ratio": wall / base if base else None,
            "cpu_ratio": statistics.median(r["wl_cpu_ns"] for r in rs) / base_cpu
            if base_cpu else None,
            "spread": (max(r["wall_ns"] for r in rs) - min(r["wall_ns"] for r in rs)) / wall,
            "paired": statistics.median(paired) if paired else None,
            "captured": worst["captured"], "issued": worst["issued"],
            "cpu_us": None if m == "none" else
            statistics.median(r["cpu_ns"] / 1e3 / r["issued"] for r in rs),
            "tick_us": None if m == "none" else
            statistics.median(r["ticks"] * TICK_NS / 1e3 / r["issued"] for r in rs),
        }
        if m == "vigil":
            terms = [int(r["extra"].get("terminated", -1)) for r in rs]
            s["terminated"] = min(terms)
        if m == "auditd":
            s["kauditd_us"] = statistics.median(
                int(r["extra"].get("kauditd_cpu_ns", 0)) / 1e3 / r["issued"] for r in rs)
        summary[m] = s

    out = []
    n = rows[0]["issued"] if rows else 0
    rounds = max((r["round"] for r in rows), default=0)
    out.append("Vigil process-telemetry benchmark: fork+exec of /bin/true, %d per run, "
               "%d rounds, modes interleaved" % (n, rounds))
    out.append("")
    hdr = "%-9s %5s %12s %7s %6s %6s %6s %15s %11s %7s" % (
        "mode", "runs", "wall median", "spread", "ratio", "paired", "wl cpu", "captured (min)",
        "cpu us/exec", "(ticks)")
    out.append(hdr)
    out.append("-" * len(hdr))
    for m in modes:
        s = summary[m]
        if s is None:
            out.append("%-9s %2d/%-2d %12s" % (m, 0, tried[m], "FAILED"))
            continue
        cap = "-" if m == "none" else "%d/%d" % (s["captured"], s["issued"])
        out.append("%-9s %2d/%-2d %10.3f s %6.1f%% %6s %6s %6s %15s %11s %7s" % (
            m, len(ok[m]), tried[m], s["wall"] / 1e9, s["spread"] * 100,
            "-" if s["ratio"] is None else "%.3f" % s["ratio"],
            "-" if s["paired"] is None else "%.3f" % s["paired"],
            "-" if s["cpu_ratio"] is None else "%.3f" % s["cpu_ratio"],
            cap, fmt_us(s["cpu_us"]), fmt_us(s["tick_us"])))
    out.append("")
    out.append("spread: (slowest - fastest round) / median: the noise on this machine.")
    out.append("ratio: median wall / none's median wall; paired: median over rounds of "
               "wall / that round's none wall;"
               " wl cpu: median of the workload's own user+system time / none's"
               " (in-kernel probe cost, less disturbed by other load than wall time).")
    out.append("captured: the round with the fewest events of its marker (vigil: Process "
               "Created; auditd: EXECVE records; bpftrace: exec lines of the workload's pids).")
    out.append("cpu: the watcher's run time (all threads, /proc/PID/task/*/schedstat) from "
               "just before the workload until it is idle again, / execs; (ticks): the same "
               "from utime+stime, %.0f ms resolution." % (TICK_NS / 1e6))
    if summary.get("auditd"):
        out.append("auditd cpu is the daemon only; the kernel's kauditd thread used a "
                   "further %.1f us/exec (median)." % summary["auditd"]["kauditd_us"])
    out.append("")

    out.append("Targets (issue), vigil:")
    v = summary.get("vigil")
    if v is None:
        out.append("  vigil did not run: no verdict")
    else:
        if v["ratio"] is None:
            out.append("  workload slowdown <= 5 %%: no 'none' baseline       -")
        else:
            slow = v["ratio"] - 1
            out.append("  workload slowdown <= 5 %%:   %+6.1f %% (paired %+.1f %%, workload cpu "
                       "%+.1f %%, none's spread %.0f %%)   %s" % (
                slow * 100, (v["paired"] - 1) * 100, (v["cpu_ratio"] - 1) * 100,
                summary["none"]["spread"] * 100,
                "PASS" if slow <= TARGET_SLOWDOWN else "FAIL"))
        out.append("  agent CPU <= 20 us/exec:     %6.1f us/exec            %s" % (
            v["cpu_us"], "PASS" if v["cpu_us"] <= TARGET_CPU_US else "FAIL"))
        lost_ok = v["captured"] == v["issued"] and v["terminated"] == v["issued"]
        out.append("  zero events lost:            Created %d/%d, Terminated %d/%d "
                   "(worst round)   %s" % (v["captured"], v["issued"], v["terminated"],
                                           v["issued"], "PASS" if lost_ok else "FAIL"))
    out.append("")

    out.append("Rounds:")
    for r in rows:
        if r["failed"]:
            out.append("  %d %-9s FAILED" % (r["round"], r["mode"]))
            continue
        extra = " ".join("%s=%s" % kv for kv in r["extra"].items())
        out.append("  %d %-9s wall %.3f s  wl cpu %.3f s  captured %d/%d  cpu %.1f us/exec "
                   "(%d ticks)  %s" % (
            r["round"], r["mode"], r["wall_ns"] / 1e9, r["wl_cpu_ns"] / 1e9,
            r["captured"], r["issued"],
            r["cpu_ns"] / 1e3 / r["issued"], r["ticks"], extra))
    if notes:
        out.append("")
        out.append("Notes:")
        out.extend("  " + line for line in notes)
    print("\n".join(out))
    return 1 if any(summary[m] is None for m in modes) else 0


if __name__ == "__main__":
    sys.exit(main())
