#!/bin/bash
# Telemetry benchmark: what watching costs the watched workload and the watcher,
# for the Vigil agent and for auditd and bpftrace as baselines.
#
# Workloads (C programs under bench/, built into .output/bench/):
#   exec     forkexec: fork+exec "/bin/true <marker>-<i>" N times, waiting for each
#   file     fileloop: in a work dir, N times: create <marker>-<i> (open O_CREAT),
#            write 16 bytes, close, rename it to <marker>-<i>.r, unlink that
#   connect  connloop: loopback TCP; a server thread accepts, reads to end of
#            stream and closes; the client, N times: connect, write 16 bytes, close
#   pipeline pipebench, no watcher and no modes (issue 4): synthetic agent events
#            through the agent side of the pipeline (batcher, seq store,
#            batch_seal, encrypted spool with its fsyncs) and the collector side
#            (parse, HMAC, open, SQLite store) against a plain log shipper
#            (lines + fsync), zstd alone and a bare SQLite insert in the same
#            rounds, and wire bytes per event against the reference size table;
#            its own table, appended to results.txt after the others; 20-60 s.
#            Built against .output/std/libvigil.a; run last, after the agents.
# Modes, interleaved in R rounds (each round runs every mode once, the order
# rotating from round to round, because these machines are noisy); in its turn a
# mode runs every workload, exec first:
#   none      no watcher
#   vigil     exec: an agent with process events + hashing, file events off (the
#             process-telemetry measurement); file and connect: one agent with
#             every family on (the default config). Both: file sink, stdout off.
#   auditd    one auditd -n per round (temporary config and log); exec: an
#             execve rule; file and connect: openat,rename,renameat,renameat2,
#             unlink,unlinkat under the file loop's dir and connect,accept,accept4
#   bpftrace  exec: sched_process_exec; file and connect: one bpftrace on the
#             sys_enter tracepoints of the same file calls (pid and names) and
#             connect / accept exits
# Per round, workload and mode: the loop's wall time and its own CPU time;
# events captured (matched to the workload by marker, pid or port) against the
# events expected; watcher CPU time (sum of /proc/PID/task/*/schedstat run time;
# utime+stime ticks kept as a cross check) from just before the workload until
# the watcher is idle again after it; for vigil also the kernel side, the run
# time of its BPF programs (kernel.bpf_stats_enabled is set while an agent runs,
# then restored). bench/report.py turns the rounds into one table per workload
# with the issues' targets, also written to .output/bench/results.txt.
#
# Environment:
#   BENCH_WORKLOADS="exec file connect pipeline" BENCH_MODES="none vigil auditd bpftrace"
#   BENCH_EXECS=2000 BENCH_FILE_OPS=20000 BENCH_CONNECT_OPS=5000 BENCH_ROUNDS=4
#   BENCH_MAX_SECONDS=280      start no round that would end past this (judged by
#                              the longest round so far)
#   BENCH_FILE_DIR=            where the file loop's directory is made (default:
#                              the work dir under .output/bench; /dev/shm: tmpfs)
#   BENCH_KEEP=1               keep the work dir (event files, logs)
#   BENCH_PERF=1               after the rounds, one more vigil file loop with
#                              perf record on the agent: .output/bench/perf-vigil-file.txt
#   BENCH_VIGIL_HASHING=true   hashing.enabled (both agents)
#   BENCH_VIGIL_FILE=false     events.file of the exec agent (ld.so's opens)
#   BENCH_VIGIL_WAKEUP=        ebpf.wakeup_bytes (default: the agent's)
#   BENCH_VIGIL_POLL_MS=       ebpf.poll_interval_ms (default: the agent's)
#   BENCH_VIGIL_THREADS=       events.thread (default: the agent's)
#   VIGIL=.output/std/vigil
#   BENCH_PIPE_EVENTS=200000   pipeline: agent-side events per path and round
#   BENCH_PIPE_COLLECTOR_EVENTS=60000   pipeline: events through the collector per round (enough
#                              WAL for the writer's checkpoint and a WAL restart in each)
#   BENCH_PIPE_ROUNDS=3        pipeline: rounds (paths interleaved)
#   BENCH_PIPE_ARGS=           more pipebench options (-l LEVEL, -b BATCH_BYTES, -m MIX,
#                              -i FILE, -s: see bench/pipebench.c)
#
# Exit status: 0 unless setup failed, pipebench failed, or none or vigil could not
# complete a single round of some workload; an auditd or bpftrace that cannot run is reported in
# the results, not fatal. Everything started here is stopped, the audit rules
# deleted, the audit state and kernel.bpf_stats_enabled restored and tracefs
# unmounted (when mounted here) by the EXIT trap.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=$ROOT/.output/bench
VIGIL=${VIGIL:-$ROOT/.output/std/vigil}
WORKLOADS=(${BENCH_WORKLOADS:-exec file connect pipeline})
MODES=(${BENCH_MODES:-none vigil auditd bpftrace})
declare -A OPS=([exec]=${BENCH_EXECS:-2000} [file]=${BENCH_FILE_OPS:-20000}
	[connect]=${BENCH_CONNECT_OPS:-5000})
R=${BENCH_ROUNDS:-4}
MAX_SECONDS=${BENCH_MAX_SECONDS:-280}
KEEP=${BENCH_KEEP:-0}
TRACEFS=/sys/kernel/tracing
AUDIT_KEYS=(vigilbench vigilbenchf vigilbenchn)
# bpftrace's str() length: the file loop's two paths of a rename must fit in
# one printf on the 512-byte BPF stack.
BT_STRLEN=160
# Hard cap on any process started here, in case this script is killed with
# SIGKILL and its trap never runs.
HARD_CAP=900

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (BPF, audit, tracefs)"
PIPE_EVENTS=${BENCH_PIPE_EVENTS:-200000}
PIPE_COLL_EVENTS=${BENCH_PIPE_COLLECTOR_EVENTS:-60000}
PIPE_ROUNDS=${BENCH_PIPE_ROUNDS:-3}
for v in "${OPS[@]}" "$R" "$MAX_SECONDS" "$PIPE_EVENTS" "$PIPE_COLL_EVENTS" "$PIPE_ROUNDS"; do
	case $v in '' | *[!0-9]* | 0) die "BENCH_EXECS, BENCH_FILE_OPS, BENCH_CONNECT_OPS," \
		"BENCH_ROUNDS, BENCH_MAX_SECONDS and BENCH_PIPE_* must be positive integers" ;; esac
done
for m in "${MODES[@]}"; do
	case $m in none | vigil | auditd | bpftrace) ;; *) die "unknown mode '$m'" ;; esac
done
# WORKLOADS keeps the watched workloads; the pipeline has no watcher and runs apart.
PIPELINE=0
watched=()
for w in "${WORKLOADS[@]}"; do
	case $w in
	exec | file | connect) watched+=("$w") ;;
	pipeline) PIPELINE=1 ;;
	*) die "unknown workload '$w'" ;;
	esac
done
WORKLOADS=("${watched[@]}")
[ ${#MODES[@]} -ge 1 ] && [ $((${#WORKLOADS[@]} + PIPELINE)) -ge 1 ] ||
	die "no mode or no workload"
for t in gcc python3 timeout; do command -v $t >/dev/null || die "$t not found"; done

has_workload() {
	local w
	for w in "${WORKLOADS[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}
GROUP_B=()	# the workloads watched with every family on, in this order
for w in file connect; do has_workload $w && GROUP_B+=($w); done

RUN_ID=$(date +%H%M%S)$$
mkdir -p "$OUT" || die "cannot create $OUT"
WORK=$(mktemp -d "$OUT/work.XXXXXX") || die "cannot create a work dir in $OUT"
chmod 700 "$WORK"
# the file loop's directory (the audit rule's dir=), removed by the trap
if [ -n "${BENCH_FILE_DIR:-}" ]; then
	FDIR=$(mktemp -d "$BENCH_FILE_DIR/vigilbench.XXXXXX") ||
		die "cannot create a directory in BENCH_FILE_DIR=$BENCH_FILE_DIR"
else
	FDIR=$WORK/f
	mkdir "$FDIR" || die "cannot create $FDIR"
fi
ROUNDS_TSV=$WORK/rounds.tsv
NOTES=$WORK/notes.txt
: >"$NOTES"

# ---- cleanup -------------------------------------------------------------
STARTED=()             # "pid:name" of every watcher started, until it is stopped
AUDIT_RULES_ADDED=0
AUDIT_SAVED=0          # 1: AUDIT_PREV_* hold the state to restore
AUDIT_PREV_ENABLED=0
AUDIT_PREV_BACKLOG=64
TRACEFS_MOUNTED=0
BPF_STATS_PREV=""      # kernel.bpf_stats_enabled before we set it, "" = untouched

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# stop PID SIGNAL TIMEOUT_S: signal, wait for the exit, SIGKILL past the timeout.
stop_pid() {
	local pid=$1 sig=$2 limit=$3 i
	alive "$pid" || return 0
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < limit * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	note "pid $pid ignored SIG$sig for ${limit}s; killing it"
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	return 1
}

forget() {
	local keep=() e
	for e in "${STARTED[@]}"; do [ "${e%%:*}" = "$1" ] || keep+=("$e"); done
	STARTED=("${keep[@]}")
}

stop_forget() { stop_pid "$1" "$2" "$3"; local rc=$?; forget "$1"; return $rc; }

audit_rules_delete() {
	local k
	[ "$AUDIT_RULES_ADDED" = 1 ] || return 0
	for k in "${AUDIT_KEYS[@]}"; do
		auditctl -D -k "$k" >/dev/null 2>&1
	done
	if auditctl -l 2>/dev/null | grep -qE -- "(-k |key=)vigilbench[fn]?\$"; then
		note "could not delete the audit rules (-k vigilbench*); check auditctl -l"
		return 1
	fi
	AUDIT_RULES_ADDED=0
}

audit_restore() {
	audit_rules_delete
	if [ "$AUDIT_SAVED" = 1 ]; then
		auditctl -b "$AUDIT_PREV_BACKLOG" >/dev/null 2>&1
		auditctl -e "$AUDIT_PREV_ENABLED" >/dev/null 2>&1
		AUDIT_SAVED=0
	fi
}

bpf_stats_restore() {
	[ -n "$BPF_STATS_PREV" ] || return 0
	sysctl -qw "kernel.bpf_stats_enabled=$BPF_STATS_PREV" 2>/dev/null ||
		note "could not restore kernel.bpf_stats_enabled=$BPF_STATS_PREV"
	BPF_STATS_PREV=""
}

cleanup() {
	local e
	trap '' INT TERM
	for e in "${STARTED[@]}"; do
		stop_pid "${e%%:*}" TERM 5
	done
	STARTED=()
	audit_restore
	bpf_stats_restore
	if [ "$TRACEFS_MOUNTED" = 1 ]; then
		umount "$TRACEFS" 2>/dev/null || note "could not unmount $TRACEFS"
		TRACEFS_MOUNTED=0
	fi
	wait 2>/dev/null
	[ -n "${BENCH_FILE_DIR:-}" ] && rm -rf "$FDIR"
	if [ "$KEEP" = 1 ]; then
		note "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'note interrupted; exit 130' INT TERM

# ---- helpers -------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# cpu_ns PID...: run time in ns of every thread of these processes, summed.
cpu_ns() {
	local pid total=0 t
	for pid in "$@"; do
		for t in /proc/"$pid"/task/*/schedstat; do
			[ -r "$t" ] || continue
			read -r t _ <"$t" 2>/dev/null || continue
			total=$((total + t))
		done
	done
	echo "$total"
}

# cpu_ticks PID: utime+stime of the process (all threads, live or dead), in ticks.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	set -- $s
	echo $((${12} + ${13}))
}

# wait_quiet MAX_S PID...: until these used < 2 ms of CPU in 250 ms; 1 past MAX_S.
wait_quiet() {
	local max=$1 deadline prev cur
	shift
	deadline=$(($(now_ms) + max * 1000))
	prev=$(cpu_ns "$@")
	while [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.25
		cur=$(cpu_ns "$@")
		[ $((cur - prev)) -lt 2000000 ] && return 0
		prev=$cur
	done
	return 1
}

# wait_for MAX_S CMD...: until CMD succeeds; 1 past MAX_S.
wait_for() {
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	while [ "$(now_ms)" -lt "$deadline" ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# launch NAME LOG CMD...: start CMD under a hard timeout, output to LOG; sets
# LAUNCHED to the pid of CMD itself (the child of timeout), "" on failure.
launch() {
	local name=$1 log=$2 tpid i c
	shift 2
	LAUNCHED=""
	timeout -k 5 "$HARD_CAP" "$@" >"$log" 2>&1 </dev/null &
	tpid=$!
	for ((i = 0; i < 50; i++)); do
		c=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null)
		c=${c%% *}
		if [ -n "$c" ]; then
			LAUNCHED=$c
			STARTED+=("$c:$name")
			return 0
		fi
		alive "$tpid" || break
		sleep 0.1
	done
	note "$name did not start"
	return 1
}

kauditd_pid() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = kauditd ] && { echo "${p#/proc/}"; return; }
	done
}

audit_status() { auditctl -s 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
audit_pid_is() { [ "$(audit_status pid)" = "$1" ]; }

# port_open PORT: TCP sockets from or to PORT that are not in TIME-WAIT (which
# no longer changes state); port_closed PORT: there are none.
port_open() { ss -Htan exclude time-wait "( sport = :$1 or dport = :$1 )" 2>/dev/null; }
port_closed() { [ -z "$(port_open "$1")" ]; }

# Events each workload should produce per operation, by mode (report.py's
# "expected"): vigil exec counts Process Created; vigil file File Created,
# Renamed and Deleted; vigil connect Network Connect, Accept and Connection
# Created and Terminated on both ends; auditd/bpftrace the traced syscalls.
declare -A PER_OP=([exec]=1 [file]=3 [vigil-connect]=6 [connect]=2)
per_op() { echo "${PER_OP[$2-$1]:-${PER_OP[$1]}}"; }

# run_workload WORKLOAD MARKER PID...: runs it; sets WALL_NS, WL_CPU_NS (the
# workload's own CPU time), WL_PID, WL_PORT (connect), and CPU_NS and TICKS of
# the watcher pids given (none: 0) from before the workload until they are idle
# again. Returns 1 if the workload failed.
run_workload() {
	local w=$1 marker=$2 res c0 c1 k0 k1
	shift 2
	WALL_NS=""
	WL_CPU_NS=""
	WL_PID=""
	WL_PORT=""
	CPU_NS=0
	TICKS=0
	c0=$(cpu_ns "$@")
	k0=0
	[ $# -gt 0 ] && k0=$(cpu_ticks "$1")
	case $w in
	exec) res=$(BENCH_EXECS=${OPS[exec]} timeout 300 "$OUT/forkexec" "$marker" \
		"$WORK/$marker.pids") ;;
	file) res=$(BENCH_FILE_OPS=${OPS[file]} timeout 300 "$OUT/fileloop" "$FDIR" "$marker") ;;
	connect) res=$(BENCH_CONNECT_OPS=${OPS[connect]} timeout 300 "$OUT/connloop" "$marker") ;;
	esac || {
		note "$w workload failed: $res"
		[ "$w" = file ] && find "$FDIR" -mindepth 1 -delete 2>/dev/null
		return 1
	}
	[[ $res =~ wall_ns=([0-9]+) ]] && WALL_NS=${BASH_REMATCH[1]}
	[[ $res =~ \ cpu_ns=([0-9]+) ]] && WL_CPU_NS=${BASH_REMATCH[1]}
	[[ $res =~ \ pid=([0-9]+) ]] && WL_PID=${BASH_REMATCH[1]}
	[[ $res =~ \ port=([0-9]+) ]] && WL_PORT=${BASH_REMATCH[1]}
	# the loop ends when the server closed its last connection; a FIN lost and
	# retransmitted closes some later, and the watcher should see that too
	if [ -n "$WL_PORT" ] && ! wait_for 10 port_closed "$WL_PORT"; then
		note "$marker: TCP sockets of port $WL_PORT still open 10 s after the loop"
		echo "$marker: $(port_open "$WL_PORT" | wc -l) TCP sockets of the loop still" \
			"open 10 s after it" >>"$NOTES"
	fi
	if [ $# -gt 0 ]; then
		wait_quiet 30 "$@" || note "$marker: watcher still busy 30 s after the workload"
		c1=$(cpu_ns "$@")
		k1=$(cpu_ticks "$1")
		CPU_NS=$((c1 - c0))
		TICKS=$((k1 - k0))
	fi
	[ -n "$WALL_NS" ] && [ -n "$WL_CPU_NS" ]
}

# Saved run results, for modes that count after their watcher stopped.
declare -A RES
save_run() { # KEY: the run_workload results under KEY
	RES[$1]="$WALL_NS $WL_CPU_NS $CPU_NS $TICKS ${WL_PID:--} ${WL_PORT:--}"
}
load_run() { # KEY: back into the run_workload variables; 1 if KEY never ran
	local v=${RES[$1]:-}
	[ -n "$v" ] || return 1
	set -- $v
	WALL_NS=$1 WL_CPU_NS=$2 CPU_NS=$3 TICKS=$4 WL_PID=${5#-} WL_PORT=${6#-}
}

# count_markers PREFIX < lines: distinct PREFIX-<i> seen.
count_markers() { grep -oE -- "$1-[0-9]+" | sort -u | wc -l; }

# record ROUND WORKLOAD MODE CAPTURED EXTRA...: one line of ROUNDS_TSV from the
# run_workload variables; EXTRA: key=value words.
record() {
	local ops=${OPS[$2]}
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$WALL_NS" "$ops" \
		$((ops * $(per_op "$2" "$3"))) "$4" "$CPU_NS" "$TICKS" "$WL_CPU_NS" "${*:5}" \
		>>"$ROUNDS_TSV"
}
record_failed() { # ROUND WORKLOAD MODE WHY
	printf '%s\t%s\t%s\tFAILED\t%s\t\t\t\t\t\t%s\n' "$1" "$2" "$3" "${OPS[$2]}" \
		"why=${4// /_}" >>"$ROUNDS_TSV"
	echo "round $1 $2 $3 failed: $4" >>"$NOTES"
}

# ---- kernel side of vigil: BPF program run time --------------------------
bpf_stats_on() {
	local cur
	cur=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) || return 1
	[ "$cur" = 1 ] && return 0
	[ -n "$BPF_STATS_PREV" ] || BPF_STATS_PREV=$cur
	sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null
}

# bpf_snapshot FILE: "id name run_time_ns run_cnt recursion_misses" of every vg_*
# program (a miss: the program did not run because it was already running on
# that CPU, e.g. a tracepoint hit from a softirq that interrupted it).
bpf_snapshot() {
	bpftool prog show -j 2>/dev/null | python3 -c '
import json, sys
try:
    progs = json.load(sys.stdin)
except ValueError:
    progs = []
for p in progs:
    if p.get("name", "").startswith("vg_"):
        print(p["id"], p["name"], p.get("run_time_ns", 0), p.get("run_cnt", 0),
              p.get("recursion_misses", 0))
' >"$1" 2>/dev/null
}

# bpf_delta OURS BEFORE AFTER: over the program ids in OURS (loaded by our
# agent), sets KERN_NS and KERN_RUNS to the run time and runs between BEFORE and
# AFTER, KERN_MISSES to the runs the kernel skipped (recursion) and KERN_TOP to
# the four programs that used most of the time.
bpf_delta() {
	local out
	out=$(awk -v ours="$1" -v before="$2" '
		FILENAME == ours { mine[$1] = 1; next }
		FILENAME == before { t0[$1] = $3; c0[$1] = $4; m0[$1] = $5; next }
		($1 in mine) {
			dt = $3 - t0[$1]; dc = $4 - c0[$1]; T += dt; C += dc; M += $5 - m0[$1]
			if (dt > 0) printf "P %d %s %d %d\n", dt, $2, dc, $5 - m0[$1]
		}
		END { printf "T %d %d %d\n", T, C, M }' "$1" "$2" "$3")
	KERN_NS=$(awk '$1 == "T" { print $2 }' <<<"$out")
	KERN_RUNS=$(awk '$1 == "T" { print $3 }' <<<"$out")
	KERN_MISSES=$(awk '$1 == "T" { print $4 }' <<<"$out")
	KERN_TOP=$(awk '$1 == "P"' <<<"$out" | sort -k2,2nr | head -n 4 |
		awk '{ printf "%s%s %.1f ms/%d runs%s", sep, $3, $2 / 1e6, $4,
			$5 ? sprintf(" (%d recursion misses)", $5) : ""; sep = ", " }')
}

# ---- vigil ---------------------------------------------------------------
# vigil_config KIND DIR: KIND exec (process telemetry) or all (every family).
vigil_config() {
	local kind=$1 dir=$2
	{
		echo "agent:"
		echo "  log_level: info"
		echo "events:"
		if [ "$kind" = exec ]; then
			echo "  process: true"
			# the exec workload measures process telemetry; BENCH_VIGIL_FILE=true
			# adds the file events of every exec (ld.so's opens)
			echo "  file: ${BENCH_VIGIL_FILE:-false}"
		fi
		[ -n "${BENCH_VIGIL_THREADS:-}" ] && echo "  thread: $BENCH_VIGIL_THREADS"
		echo "hashing:"
		echo "  enabled: ${BENCH_VIGIL_HASHING:-true}"
		echo "output:"
		echo "  stdout: false"
		echo "  log_folder: \"$dir/events\""
		# ~4.5 KB per event: the file loop alone writes ~300 MB; no rotation
		# (counting still reads every rotated file)
		echo "  log_threshold_bytes: 16GiB"
		if [ -n "${BENCH_VIGIL_WAKEUP:-}${BENCH_VIGIL_POLL_MS:-}" ]; then
			echo "ebpf:"
			[ -n "${BENCH_VIGIL_WAKEUP:-}" ] && echo "  wakeup_bytes: $BENCH_VIGIL_WAKEUP"
			[ -n "${BENCH_VIGIL_POLL_MS:-}" ] && echo "  poll_interval_ms: $BENCH_VIGIL_POLL_MS"
		fi
	} >"$dir/vigil.yaml"
}

# vigil_start KIND DIR: the agent running and idle; sets VIGIL_PID. BPF stats on,
# the vg_* programs that were loaded before it in DIR/bpf.pre.
vigil_start() {
	local kind=$1 dir=$2
	VIGIL_PID=""
	mkdir -p "$dir/events"
	vigil_config "$kind" "$dir"
	bpf_stats_on || note "cannot set kernel.bpf_stats_enabled: no kernel-side numbers"
	bpf_snapshot "$dir/bpf.pre"
	launch vigil "$dir/agent.log" "$VIGIL" agent --config "$dir/vigil.yaml" || return 1
	VIGIL_PID=$LAUNCHED
	if ! wait_for 30 grep -q 'Service Initialization Successful' "$dir/agent.log"; then
		note "vigil did not report running within 30 s:"
		tail -n 5 "$dir/agent.log" >&2
		stop_forget "$VIGIL_PID" TERM 10
		VIGIL_PID=""
		return 1
	fi
	wait_quiet 30 "$VIGIL_PID" || note "vigil still busy 30 s after start (start-up hashing?)"
	# ours: loaded while it started; "pre" becomes everything else, so that an
	# agent another user starts meanwhile is not counted
	bpf_snapshot "$dir/bpf.started"
	awk -v pre="$dir/bpf.pre" 'FILENAME == pre { seen[$1] = 1; next }
		!($1 in seen) { print $1 }' "$dir/bpf.pre" \
		"$dir/bpf.started" >"$dir/bpf.ours"
}

vigil_stop() { # DIR ROUND KIND
	stop_forget "$VIGIL_PID" TERM 30 || note "vigil did not stop"
	VIGIL_PID=""
	bpf_stats_restore
	grep -iE 'drop|lost|limit reached|error|warn' "$1/agent.log" | head -n 5 |
		sed "s/^/round $2 vigil $3: /" >>"$NOTES"
	VIGIL_WARN=$(grep -ciE 'drop|lost|limit reached|error|warn' "$1/agent.log")
}

vigil_events() { cat "$1"/events/vigil-events.json.* "$1"/events/vigil-events.json 2>/dev/null; }
vigil_size() { stat -c %s "$1/events/vigil-events.json" 2>/dev/null || echo 0; }

# vigil_run WORKLOAD MARKER DIR: run_workload with the agent's CPU and the BPF
# run time; sets KERN_*, WIN_EVENTS and WIN_BYTES (every event the agent wrote
# while the workload ran and drained, whoever caused it).
vigil_run() {
	local w=$1 marker=$2 dir=$3 o0 o1 rot0 rot1
	bpf_snapshot "$dir/bpf.$w.0"
	o0=$(vigil_size "$dir")
	rot0=$(ls "$dir/events" | wc -l)
	run_workload "$w" "$marker" "$VIGIL_PID" || return 1
	o1=$(vigil_size "$dir")
	rot1=$(ls "$dir/events" | wc -l)
	bpf_snapshot "$dir/bpf.$w.1"
	bpf_delta "$dir/bpf.ours" "$dir/bpf.$w.0" "$dir/bpf.$w.1"
	WIN_BYTES=$((o1 - o0))
	WIN_EVENTS=-1
	if [ "$rot0" = "$rot1" ] && [ "$o1" -ge "$o0" ]; then
		WIN_EVENTS=$(tail -c "+$((o0 + 1))" "$dir/events/vigil-events.json" |
			head -c "$WIN_BYTES" | wc -l)
	fi
}

group_exec_vigil() {
	local r=$1 marker=$2 dir=$WORK/$2 created terminated
	mkdir -p "$dir"
	vigil_start exec "$dir" || { record_failed "$r" exec vigil "agent did not start"; return; }
	if ! vigil_run exec "$marker" "$dir"; then
		vigil_stop "$dir" "$r" exec
		record_failed "$r" exec vigil "workload failed"
		return
	fi
	save_run x
	local top=$KERN_TOP
	local extra="kern_ns=$KERN_NS kern_runs=$KERN_RUNS kern_misses=$KERN_MISSES"
	extra+=" win_events=$WIN_EVENTS win_bytes=$WIN_BYTES"
	vigil_stop "$dir" "$r" exec
	load_run x
	created=$(vigil_events "$dir" | grep -F '"name":"Process Created"' | count_markers "$marker")
	terminated=$(vigil_events "$dir" | grep -F '"name":"Process Terminated"' |
		count_markers "$marker")
	record "$r" exec vigil "$created" "terminated=$terminated $extra" \
		"agent_log_warnings=$VIGIL_WARN"
	[ -n "$top" ] && echo "round $r exec vigil BPF: $top" >>"$NOTES"
}

# vigil_count_file DIR MARKER: "created renamed deleted other" -- distinct
# iterations with that event naming their file, other: other event names.
vigil_count_file() {
	vigil_events "$1" | grep -F -- "$2-" | grep -oE -- '"name":"[^"]*"|'"$2"'-[0-9]+' |
		awk '/^"name"/ { cur = substr($0, 9, length($0) - 9); next }
			!seen[cur, $0]++ { n[cur]++ }
			END {
				for (k in n) if (k !~ /^File (Created|Renamed|Deleted)$/) o += n[k]
				printf "%d %d %d %d\n", n["File Created"], n["File Renamed"],
					n["File Deleted"], o
			}'
}

# vigil_count_connect DIR PORT: "connect accept created terminated" -- network
# events with the loop's server port as the local or remote port.
vigil_count_connect() {
	vigil_events "$1" | grep -E '"network_(local|remote)_port":'"$2"'[,}]' |
		grep -oE '"name":"Network [^"]*"' |
		awk '{ n[$0]++ }
			END {
				printf "%d %d %d %d\n", n["\"name\":\"Network Connect\""],
					n["\"name\":\"Network Accept\""],
					n["\"name\":\"Network Connection Created\""],
					n["\"name\":\"Network Connection Terminated\""]
			}'
}

group_b_vigil() {
	local r=$1 prefix=$2 dir=$WORK/$2-all w ok=() c
	declare -A extra top
	mkdir -p "$dir"
	if ! vigil_start all "$dir"; then
		for w in "${GROUP_B[@]}"; do record_failed "$r" "$w" vigil "agent did not start"; done
		return
	fi
	for w in "${GROUP_B[@]}"; do
		if vigil_run "$w" "$prefix-$w" "$dir"; then
			save_run "$w"
			ok+=("$w")
			extra[$w]="kern_ns=$KERN_NS kern_runs=$KERN_RUNS kern_misses=$KERN_MISSES"
			extra[$w]+=" win_events=$WIN_EVENTS win_bytes=$WIN_BYTES"
			top[$w]=$KERN_TOP
		else
			record_failed "$r" "$w" vigil "workload failed"
		fi
	done
	vigil_stop "$dir" "$r" all
	for w in "${ok[@]}"; do
		load_run "$w"
		if [ "$w" = file ]; then
			c=($(vigil_count_file "$dir" "$prefix-$w"))
			record "$r" file vigil $((c[0] + c[1] + c[2])) "created=${c[0]}" \
				"renamed=${c[1]} deleted=${c[2]} other_named=${c[3]} ${extra[$w]}" \
				"agent_log_warnings=$VIGIL_WARN"
		else
			c=($(vigil_count_connect "$dir" "$WL_PORT"))
			record "$r" connect vigil $((c[0] + c[1] + c[2] + c[3])) "connect=${c[0]}" \
				"accept=${c[1]} created=${c[2]} terminated=${c[3]} ${extra[$w]}" \
				"agent_log_warnings=$VIGIL_WARN"
		fi
		[ -n "${top[$w]}" ] && echo "round $r $w vigil BPF: ${top[$w]}" >>"$NOTES"
	done
	[ "$KEEP" = 1 ] || rm -rf "$dir/events"
}

mode_vigil() {
	local r=$1 prefix=$2
	has_workload exec && group_exec_vigil "$r" "$prefix-exec"
	[ ${#GROUP_B[@]} -gt 0 ] && group_b_vigil "$r" "$prefix"
}

# ---- none ----------------------------------------------------------------
mode_none() {
	local r=$1 prefix=$2 w
	for w in "${WORKLOADS[@]}"; do
		if run_workload "$w" "$prefix-$w"; then
			record "$r" "$w" none 0 ""
		else
			record_failed "$r" "$w" none "workload failed"
		fi
	done
}

# ---- auditd --------------------------------------------------------------
audit_prepare() { # refuse to fight another audit daemon; save the state
	local pid enabled k
	command -v auditd >/dev/null && command -v auditctl >/dev/null ||
		{ AUDIT_WHY="auditd/auditctl not installed (make bench-deps)"; return 1; }
	pid=$(audit_status pid)
	enabled=$(audit_status enabled)
	[ -n "$enabled" ] || { AUDIT_WHY="auditctl -s failed: no audit support?"; return 1; }
	if [ "${pid:-0}" != 0 ]; then
		AUDIT_WHY="an audit daemon is already registered (pid $pid)"
		return 1
	fi
	if [ "$enabled" = 2 ]; then
		AUDIT_WHY="audit configuration is locked (enabled 2)"
		return 1
	fi
	for k in "${AUDIT_KEYS[@]}"; do
		if auditctl -l 2>/dev/null | grep -qE -- "(-k |key=)$k\$"; then
			note "an audit rule keyed $k already exists (left by an earlier run?): deleting it"
			auditctl -D -k "$k" >/dev/null 2>&1
		fi
	done
	if [ "$AUDIT_SAVED" = 0 ]; then
		AUDIT_PREV_ENABLED=$enabled
		AUDIT_PREV_BACKLOG=$(audit_status backlog_limit)
		AUDIT_SAVED=1
	fi
}

# auditd_start DIR: sets AUD_PID and KAUDITD (kernel thread, may be ""); 1 with
# AUDIT_WHY on failure.
auditd_start() {
	local dir=$1
	AUD_PID=""
	audit_prepare || return 1
	mkdir -p "$dir/conf/plugins.d" "$dir/log"
	chmod 700 "$dir/conf" "$dir/log"
	# Debian's shipped settings (ENRICHED, incremental_async every 50 records),
	# the log in the work dir, no plugins, no disk-space actions.
	cat >"$dir/conf/auditd.conf" <<-EOF
		local_events = yes
		write_logs = yes
		log_file = $dir/log/audit.log
		log_group = root
		log_format = ENRICHED
		flush = INCREMENTAL_ASYNC
		freq = 50
		max_log_file = 4096
		num_logs = 2
		max_log_file_action = IGNORE
		priority_boost = 4
		name_format = NONE
		space_left = 2
		space_left_action = IGNORE
		admin_space_left = 1
		admin_space_left_action = IGNORE
		disk_full_action = IGNORE
		disk_error_action = IGNORE
		q_depth = 2000
		overflow_action = SYSLOG
		max_restarts = 10
		plugin_dir = $dir/conf/plugins.d
		end_of_event_timeout = 2
	EOF
	chmod 600 "$dir/conf/auditd.conf"
	# Debian's audit.rules raises the kernel backlog to 8192; the boot default
	# (64) makes a fast loop wait in the kernel, not what a deployment sees.
	auditctl -b 8192 >/dev/null 2>&1
	launch auditd "$dir/auditd.out" auditd -n -c "$dir/conf" ||
		{ AUDIT_WHY="auditd did not start"; return 1; }
	AUD_PID=$LAUNCHED
	if ! wait_for 15 audit_pid_is "$AUD_PID"; then
		note "auditd did not register with the kernel within 15 s:"
		tail -n 5 "$dir/auditd.out" >&2
		auditd_stop
		AUDIT_WHY="auditd did not register with the kernel"
		return 1
	fi
	KAUDITD=$(kauditd_pid)
	wait_quiet 15 "$AUD_PID" || note "auditd still busy 15 s after start"
}

auditd_stop() {
	audit_rules_delete
	[ -n "$AUD_PID" ] && { stop_forget "$AUD_PID" TERM 15 || note "auditd did not stop"; }
	AUD_PID=""
	auditctl -e "$AUDIT_PREV_ENABLED" >/dev/null 2>&1
}

# auditd_rules WORKLOAD...: add the rules of these workloads (one per workload).
auditd_rules() {
	local w err=$WORK/auditctl.err
	for w in "$@"; do
		AUDIT_RULES_ADDED=1
		case $w in
		exec) auditctl -a always,exit -F arch=b64 -S execve -k vigilbench ;;
		file) auditctl -a always,exit -F arch=b64 \
			-S openat,rename,renameat,renameat2,unlink,unlinkat -F dir="$FDIR" \
			-k vigilbenchf ;;
		connect) auditctl -a always,exit -F arch=b64 -S connect,accept,accept4 \
			-k vigilbenchn ;;
		esac >/dev/null 2>"$err" || { AUDIT_WHY="auditctl -a ($w) failed: $(cat "$err")"; return 1; }
	done
}

# auditd_run WORKLOAD MARKER: run_workload with auditd's and kauditd's CPU;
# saves the results under WORKLOAD with KCPU and LOST.
auditd_run() {
	local w=$1 lost0 lost1 k0=0 k1=0
	wait_quiet 15 "$AUD_PID" ${KAUDITD:+"$KAUDITD"}
	lost0=$(audit_status lost)
	[ -n "$KAUDITD" ] && k0=$(cpu_ns "$KAUDITD")
	run_workload "$w" "$2" "$AUD_PID" ${KAUDITD:+"$KAUDITD"} || return 1
	[ -n "$KAUDITD" ] && k1=$(cpu_ns "$KAUDITD")
	lost1=$(audit_status lost)
	# run_workload summed auditd and kauditd; split kauditd out
	CPU_NS=$((CPU_NS - (k1 - k0)))
	save_run "$w"
	AUD_EXTRA[$w]="kauditd_cpu_ns=$((k1 - k0)) kernel_lost=$((${lost1:-0} - ${lost0:-0}))"
}

# auditd_count_file LOG MARKER: "open rename unlink" -- audit events (serials)
# of those syscalls with a PATH naming one of the loop's files.
auditd_count_file() {
	awk -v m="$2-" '
		/^type=SYSCALL/ && / key="vigilbenchf"/ {
			if (match($0, /audit\([0-9.]+:[0-9]+\)/)) s = substr($0, RSTART, RLENGTH)
			if (match($0, / syscall=[0-9]+/)) sc[s] = substr($0, RSTART + 9, RLENGTH - 9)
			next
		}
		index($0, m) && match($0, /audit\([0-9.]+:[0-9]+\)/) { hit[substr($0, RSTART, RLENGTH)] = 1 }
		END {
			for (s in hit) {
				if (sc[s] == 257) o++
				else if (sc[s] == 82 || sc[s] == 264 || sc[s] == 316) r++
				else if (sc[s] == 87 || sc[s] == 263) u++
			}
			printf "%d %d %d\n", o, r, u
		}' "$1"/log/audit.log* 2>/dev/null
}

# auditd_count_connect LOG PID: "connect accept" -- SYSCALL records of the loop.
auditd_count_connect() {
	awk -v p=" pid=$2 " '
		/^type=SYSCALL/ && / key="vigilbenchn"/ && index($0, p) {
			if (match($0, / syscall=[0-9]+/)) {
				s = substr($0, RSTART + 9, RLENGTH - 9)
				if (s == 42) c++
				else if (s == 43 || s == 288) a++
			}
		}
		END { printf "%d %d\n", c, a }' "$1"/log/audit.log* 2>/dev/null
}

mode_auditd() {
	local r=$1 prefix=$2 dir=$WORK/$2-audit w ran=() c
	declare -A AUD_EXTRA
	AUDIT_WHY=""
	if ! auditd_start "$dir"; then
		for w in "${WORKLOADS[@]}"; do record_failed "$r" "$w" auditd "$AUDIT_WHY"; done
		return
	fi
	if has_workload exec; then
		if auditd_rules exec && auditd_run exec "$prefix-exec"; then
			ran+=(exec)
		else
			record_failed "$r" exec auditd "${AUDIT_WHY:-workload failed}"
		fi
		audit_rules_delete
	fi
	if [ ${#GROUP_B[@]} -gt 0 ]; then
		if auditd_rules "${GROUP_B[@]}"; then
			for w in "${GROUP_B[@]}"; do
				if auditd_run "$w" "$prefix-$w"; then
					ran+=("$w")
				else
					record_failed "$r" "$w" auditd "workload failed"
				fi
			done
		else
			for w in "${GROUP_B[@]}"; do record_failed "$r" "$w" auditd "$AUDIT_WHY"; done
		fi
	fi
	auditd_stop
	for w in "${ran[@]}"; do
		load_run "$w"
		case $w in
		exec) record "$r" exec auditd "$(cat "$dir"/log/audit.log* 2>/dev/null |
			grep '^type=EXECVE' | count_markers "$prefix-exec")" "${AUD_EXTRA[exec]}" ;;
		file)
			c=($(auditd_count_file "$dir" "$prefix-file"))
			record "$r" file auditd $((c[0] + c[1] + c[2])) "open=${c[0]} rename=${c[1]}" \
				"unlink=${c[2]} ${AUD_EXTRA[file]}" ;;
		connect)
			c=($(auditd_count_connect "$dir" "$WL_PID"))
			record "$r" connect auditd $((c[0] + c[1])) "connect=${c[0]} accept=${c[1]}" \
				"${AUD_EXTRA[connect]}" ;;
		esac
	done
	[ "$KEEP" = 1 ] || rm -rf "$dir/log"
}

# ---- bpftrace ------------------------------------------------------------
tracefs_prepare() {
	[ -d "$TRACEFS/events" ] && return 0
	mount -t tracefs nodev "$TRACEFS" 2>/dev/null || return 1
	TRACEFS_MOUNTED=1
}

# The file and connect loops' calls, as auditd's rules name them.
BT_GROUP_B='
tracepoint:syscalls:sys_enter_openat {
	printf("%d openat %s\n", pid, str(args->filename)); }
tracepoint:syscalls:sys_enter_rename, tracepoint:syscalls:sys_enter_renameat,
tracepoint:syscalls:sys_enter_renameat2 {
	printf("%d rename %s %s\n", pid, str(args->oldname), str(args->newname)); }
tracepoint:syscalls:sys_enter_unlink, tracepoint:syscalls:sys_enter_unlinkat {
	printf("%d unlink %s\n", pid, str(args->pathname)); }
tracepoint:syscalls:sys_exit_connect { printf("%d connect %d\n", pid, args->ret); }
tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4 {
	printf("%d accept %d\n", pid, args->ret); }
'
BT_EXEC='tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, str(args->filename)); }'

# bpftrace_start DIR SCRIPT: sets BT_PID, or BT_WHY.
bpftrace_start() {
	local dir=$1
	BT_PID=""
	mkdir -p "$dir"
	BPFTRACE_STRLEN=$BT_STRLEN launch bpftrace "$dir/bpftrace.err" bpftrace \
		-o "$dir/bpftrace.out" -e "$2" || { BT_WHY="bpftrace did not start"; return 1; }
	BT_PID=$LAUNCHED
	if ! wait_for 60 grep -qs '^Attaching' "$dir/bpftrace.out"; then
		note "bpftrace did not attach within 60 s:"
		tail -n 5 "$dir/bpftrace.err" >&2
		stop_forget "$BT_PID" INT 10
		BT_WHY="bpftrace did not attach: $(grep -v RLIMIT_MEMLOCK "$dir/bpftrace.err" | head -n 1)"
		return 1
	fi
	wait_quiet 15 "$BT_PID" || note "bpftrace still busy 15 s after attaching"
}

bpftrace_stop() { # DIR
	stop_forget "$BT_PID" INT 15 || note "bpftrace did not stop"
	BT_LOST=$(grep -ciE 'lost' "$1/bpftrace.out" "$1/bpftrace.err" |
		awk -F: '{ s += $NF } END { print s + 0 }')
}

mode_bpftrace() {
	local r=$1 prefix=$2 dir w ran=() c
	command -v bpftrace >/dev/null || {
		for w in "${WORKLOADS[@]}"; do
			record_failed "$r" "$w" bpftrace "bpftrace not installed (make bench-deps)"
		done
		return
	}
	tracefs_prepare || {
		for w in "${WORKLOADS[@]}"; do
			record_failed "$r" "$w" bpftrace "cannot mount tracefs on $TRACEFS"
		done
		return
	}
	if has_workload exec; then
		dir=$WORK/$prefix-bt-exec
		if ! bpftrace_start "$dir" "$BT_EXEC"; then
			record_failed "$r" exec bpftrace "$BT_WHY"
		elif ! run_workload exec "$prefix-exec" "$BT_PID"; then
			bpftrace_stop "$dir"
			record_failed "$r" exec bpftrace "workload failed"
		else
			bpftrace_stop "$dir"
			c=$(awk 'NR == FNR { want[$1] = 1; next }
				($1 in want) && ($2 == "/bin/true") && !seen[$1]++ { n++ }
				END { print n + 0 }' "$WORK/$prefix-exec.pids" "$dir/bpftrace.out")
			record "$r" exec bpftrace "$c" "lost_lines=$BT_LOST"
		fi
	fi
	[ ${#GROUP_B[@]} -gt 0 ] || return
	dir=$WORK/$prefix-bt
	if ! bpftrace_start "$dir" "$BT_GROUP_B"; then
		for w in "${GROUP_B[@]}"; do record_failed "$r" "$w" bpftrace "$BT_WHY"; done
		return
	fi
	for w in "${GROUP_B[@]}"; do
		if run_workload "$w" "$prefix-$w" "$BT_PID"; then
			save_run "$w"
			ran+=("$w")
		else
			record_failed "$r" "$w" bpftrace "workload failed"
		fi
	done
	bpftrace_stop "$dir"
	for w in "${ran[@]}"; do
		load_run "$w"
		if [ "$w" = file ]; then
			# distinct (call, iteration) pairs naming the loop's files
			c=($(grep -F -- "$prefix-file-" "$dir/bpftrace.out" |
				awk -v m="$prefix-file-" '{
					i = index($3, m); if (!i) next
					k = substr($3, i + length(m)); sub(/[^0-9].*/, "", k)
					if (!seen[$2, k]++) n[$2]++
				} END { printf "%d %d %d\n", n["openat"], n["rename"], n["unlink"] }'))
			record "$r" file bpftrace $((c[0] + c[1] + c[2])) "open=${c[0]} rename=${c[1]}" \
				"unlink=${c[2]} lost_lines=$BT_LOST"
		else
			c=($(awk -v p="$WL_PID" '$1 == p { n[$2]++ }
				END { printf "%d %d\n", n["connect"], n["accept"] }' "$dir/bpftrace.out"))
			record "$r" connect bpftrace $((c[0] + c[1])) "connect=${c[0]} accept=${c[1]}" \
				"lost_lines=$BT_LOST"
		fi
	done
	[ "$KEEP" = 1 ] || rm -f "$dir/bpftrace.out"
}

# ---- profile -------------------------------------------------------------
# One more vigil file loop, not in the results, with perf record on the agent.
perf_vigil_file() {
	local dir=$WORK/perf perf_pid
	command -v perf >/dev/null || { note "perf not installed: no profile"; return; }
	mkdir -p "$dir"
	vigil_start all "$dir" || return
	launch perf "$dir/perf.log" perf record -F 2999 -g -p "$VIGIL_PID" -o "$dir/perf.data" ||
		{ vigil_stop "$dir" perf all; return; }
	perf_pid=$LAUNCHED
	sleep 1
	run_workload file "vigilbench-$RUN_ID-perf-file" "$VIGIL_PID"
	note "profiled file loop: wall $((WALL_NS / 1000000)) ms, agent cpu $((CPU_NS / 1000000)) ms"
	stop_forget "$perf_pid" INT 30
	vigil_stop "$dir" perf all
	{
		echo "perf record -F 2999 -g on the agent during a file loop of ${OPS[file]}:" \
			"wall $((WALL_NS / 1000000)) ms, agent cpu $((CPU_NS / 1000000)) ms"
		perf report -i "$dir/perf.data" --no-children --sort dso,symbol --stdio \
			-g none 2>/dev/null | grep -v '^$' | head -n 60
	} >"$OUT/perf-vigil-file.txt"
	echo "profile of the agent on a file loop: $OUT/perf-vigil-file.txt" >>"$NOTES"
}

# ---- pipeline ------------------------------------------------------------
# pipeline_report fresh|append: builds and runs pipebench, then writes its table
# to results.txt (fresh) or after the watched workloads' tables (append), and
# to stdout. Returns 1 if it could not be built or failed.
pipeline_report() {
	local lib=$ROOT/.output/std/libvigil.a out=$WORK/pipeline.txt t0=$SECONDS
	local -a tee_args=()

	[ "$1" = append ] && tee_args=(-a)
	if [ ! -f "$lib" ]; then
		note "pipeline: $lib not built (make .output/std/libvigil.a)"
		echo "Pipeline benchmark: not run, $lib not built" |
			tee "${tee_args[@]}" "$OUT/results.txt"
		return 1
	fi
	# the project's flags and the link line of the Makefile's unit tests
	if ! gcc "${CFLAGS[@]}" -I.output/gen -Isrc bench/pipebench.c "$lib" -lbpf -lelf -lz \
		-lyaml -lssl -lcrypto -lzstd -lsqlite3 -lxxhash -lcap -lpthread -o "$OUT/pipebench"; then
		echo "Pipeline benchmark: not run, bench/pipebench.c does not build" |
			tee "${tee_args[@]}" "$OUT/results.txt"
		return 1
	fi
	note "pipeline: $PIPE_EVENTS agent-side events per path x $PIPE_ROUNDS rounds," \
		"$PIPE_COLL_EVENTS through the collector${BENCH_PIPE_ARGS:+, options $BENCH_PIPE_ARGS}"
	# shellcheck disable=SC2086  # BENCH_PIPE_ARGS is a list of options
	if ! timeout -k 5 300 "$OUT/pipebench" -d "$WORK" -n "$PIPE_EVENTS" \
		-c "$PIPE_COLL_EVENTS" -r "$PIPE_ROUNDS" ${BENCH_PIPE_ARGS:-} >"$out"; then
		echo "Pipeline benchmark: pipebench failed after $((SECONDS - t0)) s" \
			"(messages above)" |
			tee "${tee_args[@]}" "$OUT/results.txt"
		return 1
	fi
	# the store alone, bigger batches of bigger events (bench/storebench.c)
	if gcc "${CFLAGS[@]}" -I.output/gen -Isrc bench/storebench.c "$lib" -lbpf -lelf -lz \
		-lyaml -lssl -lcrypto -lzstd -lsqlite3 -lxxhash -lcap -lpthread \
		-o "$OUT/storebench" &&
		timeout -k 5 120 "$OUT/storebench" 100000 "$WORK/storebench.db" >"$out.store"; then
		{
			echo
			echo "Store alone (storebench: store__insert_batch_body, 100000 events of the"
			echo "agent's families, 4.5 KB each, batches of 1000, a fresh database):"
			sed 's/^/  /' "$out.store"
		} >>"$out"
	else
		echo "Store alone: storebench did not build or failed" >>"$out"
	fi
	rm -f "$WORK/storebench.db" "$WORK/storebench.db-wal" "$WORK/storebench.db-shm"
	{
		[ "$1" = append ] && echo
		cat "$out"
		echo "  kernel $(uname -r), $(nproc) CPUs, built from" \
			"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') +" \
			"$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | wc -l)" \
			"changed files under src/; pipeline run $RUN_ID took $((SECONDS - t0)) s"
	} | tee "${tee_args[@]}" "$OUT/results.txt"
}

# ---- main ----------------------------------------------------------------
CFLAGS=(-O2 -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
	-Wmissing-prototypes -D_GNU_SOURCE)
if [ ${#WORKLOADS[@]} -eq 0 ]; then
	pipeline_report fresh
	exit
fi
[ -x "$VIGIL" ] || die "$VIGIL not built (make all)"
for p in forkexec fileloop connloop; do
	gcc "${CFLAGS[@]}" "bench/$p.c" -o "$OUT/$p" -lpthread || die "cannot build bench/$p.c"
done

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$NOTES"
has_workload file && echo "file loop in $FDIR ($(stat -f -c %T "$FDIR"))" >>"$NOTES"
note "run $RUN_ID: workloads ${WORKLOADS[*]} (exec ${OPS[exec]}, file ${OPS[file]}," \
	"connect ${OPS[connect]}) x modes ${MODES[*]} x $R rounds"
: >"$ROUNDS_TSV"
nm=${#MODES[@]}
rounds_done=0
longest=0
for ((r = 1; r <= R; r++)); do
	if [ $((SECONDS + longest)) -gt "$MAX_SECONDS" ]; then
		note "time budget (${MAX_SECONDS}s): stopping after $((r - 1)) rounds"
		echo "only $((r - 1)) of $R rounds run: time budget ${MAX_SECONDS}s" >>"$NOTES"
		break
	fi
	r0=$SECONDS
	for ((k = 0; k < nm; k++)); do
		m=${MODES[$(((r - 1 + k) % nm))]}
		t0=$SECONDS
		l0=$(wc -l <"$ROUNDS_TSV")
		"mode_$m" "$r" "vigilbench-$RUN_ID-r$r-$m"
		tail -n "+$((l0 + 1))" "$ROUNDS_TSV" | awk -F'\t' -v t=$((SECONDS - t0)) '
			$4 == "FAILED" { printf "bench: round %d %s %s: FAILED (%s)\n", $1, $2, $3, $11; next }
			$3 == "none" {
				printf "bench: round %d %s none: wall %.3f s (%d s)\n", $1, $2, $4 / 1e9, t
				next
			}
			{ printf "bench: round %d %s %s: wall %.3f s, captured %s/%s, cpu %.1f us/op (%d s)\n",
				$1, $2, $3, $4 / 1e9, $7, $6, $8 / 1e3 / $5, t }' >&2
	done
	rounds_done=$r
	[ $((SECONDS - r0)) -gt "$longest" ] && longest=$((SECONDS - r0))
done
[ "${BENCH_PERF:-0}" = 1 ] && has_workload file && perf_vigil_file

{
	echo "kernel $(uname -r), $(nproc) CPUs, $("$VIGIL" version 2>/dev/null | head -n 1)," \
		"built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"+ $(git -C "$ROOT" status --porcelain -- src 2>/dev/null | wc -l) changed files under src/"
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "bench run $RUN_ID finished in ${SECONDS}s ($rounds_done rounds)"
} >>"$NOTES"
python3 bench/report.py "$ROUNDS_TSV" "$NOTES" "${MODES[*]}" "${WORKLOADS[*]}" |
	tee "$OUT/results.txt"
status=${PIPESTATUS[0]}
cp "$ROUNDS_TSV" "$OUT/rounds.tsv"
if [ "$PIPELINE" = 1 ]; then
	pipeline_report append || status=1
fi
exit "$status"
