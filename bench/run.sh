#!/bin/bash
# Process-telemetry benchmark: what watching exec costs the watched workload and
# the watcher, for the Vigil agent and for auditd and bpftrace as baselines.
#
# Workload: .output/bench/forkexec fork+execs "/bin/true <marker>-<i>" N times,
# waiting for each child. Modes, interleaved in R rounds (each round runs every
# mode once, the order rotating from round to round, because these machines are
# noisy):
#   none      no watcher
#   vigil     vigil agent, process events + hashing, file sink, stdout off
#   auditd    auditd -n with a temporary config and log, execve rule keyed vigilbench
#   bpftrace  tracepoint:sched:sched_process_exec printing pid and filename
# Per round and mode: workload wall time; events captured (vigil: Process Created
# with the round's marker; auditd: EXECVE records with it; bpftrace: lines whose
# pid is one of the workload's children); watcher CPU time (sum of
# /proc/PID/task/*/schedstat run time, ns; utime+stime ticks are kept as a cross
# check) from just before the workload until the watcher is idle again after it.
# bench/report.py turns the rounds into the table, also written to
# .output/bench/results.txt.
#
# Environment:
#   BENCH_EXECS=3000 BENCH_ROUNDS=5 BENCH_MODES="none vigil auditd bpftrace"
#   BENCH_MAX_SECONDS=270      start no new round after this many seconds
#   BENCH_KEEP=1               keep the work dir (event files, logs)
#   BENCH_VIGIL_HASHING=true   hashing.enabled
#   BENCH_VIGIL_FILE=false     events.file (file events of the workload's execs)
#   BENCH_VIGIL_WAKEUP=        ebpf.wakeup_bytes (default: the agent's)
#   BENCH_VIGIL_POLL_MS=       ebpf.poll_interval_ms (default: the agent's)
#   BENCH_VIGIL_THREADS=       events.thread (default: the agent's)
#   VIGIL=.output/std/vigil
#
# Exit status: 0 unless a mode could not complete a single round (or setup failed).
# Everything started here is stopped, the audit rule deleted, the audit state
# restored and tracefs unmounted (when mounted here) by the EXIT trap.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=$ROOT/.output/bench
VIGIL=${VIGIL:-$ROOT/.output/std/vigil}
N=${BENCH_EXECS:-3000}
R=${BENCH_ROUNDS:-5}
MODES=(${BENCH_MODES:-none vigil auditd bpftrace})
MAX_SECONDS=${BENCH_MAX_SECONDS:-270}
KEEP=${BENCH_KEEP:-0}
TRACEFS=/sys/kernel/tracing
AUDIT_KEY=vigilbench
AUDIT_RULE=(always,exit -F arch=b64 -S execve -k "$AUDIT_KEY")
# Hard cap on any process started here, in case this script is killed with
# SIGKILL and its trap never runs.
HARD_CAP=900

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (BPF, audit, tracefs)"
case $N in '' | *[!0-9]*) die "BENCH_EXECS must be a positive integer" ;; esac
case $R in '' | *[!0-9]*) die "BENCH_ROUNDS must be a positive integer" ;; esac
[ "$N" -ge 1 ] && [ "$R" -ge 1 ] || die "BENCH_EXECS and BENCH_ROUNDS must be >= 1"
for m in "${MODES[@]}"; do
	case $m in none | vigil | auditd | bpftrace) ;; *) die "unknown mode '$m'" ;; esac
done
for t in gcc python3 timeout; do command -v $t >/dev/null || die "$t not found"; done

RUN_ID=$(date +%H%M%S)$$
mkdir -p "$OUT" || die "cannot create $OUT"
WORK=$(mktemp -d "$OUT/work.XXXXXX") || die "cannot create a work dir in $OUT"
chmod 700 "$WORK"
ROUNDS_TSV=$WORK/rounds.tsv
NOTES=$WORK/notes.txt
: >"$NOTES"

# ---- cleanup -------------------------------------------------------------
STARTED=()             # "pid:name" of every watcher started, until it is stopped
AUDIT_RULE_ADDED=0
AUDIT_SAVED=0          # 1: AUDIT_PREV_* hold the state to restore
AUDIT_PREV_ENABLED=0
AUDIT_PREV_BACKLOG=64
TRACEFS_MOUNTED=0

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

audit_restore() {
	if [ "$AUDIT_RULE_ADDED" = 1 ]; then
		auditctl -d "${AUDIT_RULE[@]}" >/dev/null 2>&1 ||
			note "could not delete the audit rule (-k $AUDIT_KEY); check auditctl -l"
		AUDIT_RULE_ADDED=0
	fi
	if [ "$AUDIT_SAVED" = 1 ]; then
		auditctl -b "$AUDIT_PREV_BACKLOG" >/dev/null 2>&1
		auditctl -e "$AUDIT_PREV_ENABLED" >/dev/null 2>&1
		AUDIT_SAVED=0
	fi
}

cleanup() {
	local e
	trap '' INT TERM
	for e in "${STARTED[@]}"; do
		stop_pid "${e%%:*}" TERM 5
	done
	STARTED=()
	audit_restore
	if [ "$TRACEFS_MOUNTED" = 1 ]; then
		umount "$TRACEFS" 2>/dev/null || note "could not unmount $TRACEFS"
		TRACEFS_MOUNTED=0
	fi
	wait 2>/dev/null
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

# Runs the workload with MARKER prefix; sets WALL_NS and WL_CPU_NS (the
# workload's own CPU time), CPU_NS and TICKS for the watcher pids given
# (none: 0). Returns 1 if the workload failed.
run_workload() {
	local marker=$1 pidfile=$2 res c0 c1 k0 k1
	shift 2
	WALL_NS=""
	WL_CPU_NS=""
	CPU_NS=0
	TICKS=0
	c0=$(cpu_ns "$@")
	k0=0
	[ $# -gt 0 ] && k0=$(cpu_ticks "$1")
	res=$(BENCH_EXECS=$N timeout 300 "$OUT/forkexec" "$marker" "$pidfile") || {
		note "workload failed: $res"
		return 1
	}
	WALL_NS=$(sed -n 's/^wall_ns=\([0-9]*\).*/\1/p' <<<"$res")
	WL_CPU_NS=$(sed -n 's/.* cpu_ns=\([0-9]*\).*/\1/p' <<<"$res")
	if [ $# -gt 0 ]; then
		wait_quiet 30 "$@" || note "$marker: watcher still busy 30 s after the workload"
		c1=$(cpu_ns "$@")
		k1=$(cpu_ticks "$1")
		CPU_NS=$((c1 - c0))
		TICKS=$((k1 - k0))
	fi
	[ -n "$WALL_NS" ] && [ -n "$WL_CPU_NS" ]
}

# count_markers PREFIX < lines: distinct PREFIX-<i> seen.
count_markers() { grep -oE -- "$1-[0-9]+" | sort -u | wc -l; }

record() { # round mode wall_ns captured cpu_ns ticks extra (+ N, WL_CPU_NS)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$N" "$4" "$5" "$6" \
		"$WL_CPU_NS" "$7" >>"$ROUNDS_TSV"
}

# ---- modes ---------------------------------------------------------------
mode_none() {
	local r=$1 marker=$2
	run_workload "$marker" "$WORK/$marker.pids" || return 1
	record "$r" none "$WALL_NS" "$N" 0 0 ""
}

mode_vigil() {
	local r=$1 marker=$2 dir=$WORK/$marker pid created terminated warn
	mkdir -p "$dir/events"
	{
		echo "agent:"
		echo "  log_level: info"
		echo "events:"
		echo "  process: true"
		# the exec workload measures process telemetry; BENCH_VIGIL_FILE=true
		# adds the file events of every exec (ld.so's opens)
		echo "  file: ${BENCH_VIGIL_FILE:-false}"
		[ -n "${BENCH_VIGIL_THREADS:-}" ] && echo "  thread: $BENCH_VIGIL_THREADS"
		echo "hashing:"
		echo "  enabled: ${BENCH_VIGIL_HASHING:-true}"
		echo "output:"
		echo "  stdout: false"
		echo "  log_folder: \"$dir/events\""
		if [ -n "${BENCH_VIGIL_WAKEUP:-}${BENCH_VIGIL_POLL_MS:-}" ]; then
			echo "ebpf:"
			[ -n "${BENCH_VIGIL_WAKEUP:-}" ] && echo "  wakeup_bytes: $BENCH_VIGIL_WAKEUP"
			[ -n "${BENCH_VIGIL_POLL_MS:-}" ] && echo "  poll_interval_ms: $BENCH_VIGIL_POLL_MS"
		fi
	} >"$dir/vigil.yaml"
	launch vigil "$dir/agent.log" "$VIGIL" agent --config "$dir/vigil.yaml" || return 1
	pid=$LAUNCHED
	if ! wait_for 30 grep -q 'Service Initialization Successful' "$dir/agent.log"; then
		note "vigil did not report running within 30 s:"
		tail -n 5 "$dir/agent.log" >&2
		stop_pid "$pid" TERM 10
		forget "$pid"
		return 1
	fi
	wait_quiet 30 "$pid" || note "vigil still busy 30 s after start (start-up hashing?)"
	run_workload "$marker" "$dir/pids" "$pid" || { stop_pid "$pid" TERM 30; forget "$pid"; return 1; }
	stop_pid "$pid" TERM 30 || note "vigil did not stop"
	forget "$pid"
	created=$(cat "$dir"/events/vigil-events.json* 2>/dev/null |
		grep -F '"name":"Process Created"' | count_markers "$marker")
	terminated=$(cat "$dir"/events/vigil-events.json* 2>/dev/null |
		grep -F '"name":"Process Terminated"' | count_markers "$marker")
	warn=$(grep -ciE 'drop|lost|limit reached|error|warn' "$dir/agent.log")
	grep -iE 'drop|lost|limit reached|error|warn' "$dir/agent.log" | head -n 5 |
		sed "s/^/round $r vigil: /" >>"$NOTES"
	record "$r" vigil "$WALL_NS" "$created" "$CPU_NS" "$TICKS" \
		"terminated=$terminated agent_log_warnings=$warn"
}

audit_prepare() { # once: refuse to fight another audit daemon; save the state
	local pid enabled
	command -v auditd >/dev/null && command -v auditctl >/dev/null ||
		{ note "auditd/auditctl not installed (make bench-deps)"; return 1; }
	pid=$(audit_status pid)
	enabled=$(audit_status enabled)
	[ -n "$enabled" ] || { note "auditctl -s failed: no audit support?"; return 1; }
	if [ "${pid:-0}" != 0 ]; then
		note "an audit daemon is already registered (pid $pid); auditd mode skipped"
		return 1
	fi
	if [ "$enabled" = 2 ]; then
		note "audit configuration is locked (enabled 2); auditd mode skipped"
		return 1
	fi
	if auditctl -l 2>/dev/null | grep -q -- "-k $AUDIT_KEY\$\|key=$AUDIT_KEY"; then
		note "an audit rule keyed $AUDIT_KEY already exists (left by an earlier run?): deleting it"
		auditctl -d "${AUDIT_RULE[@]}" >/dev/null 2>&1
	fi
	if [ "$AUDIT_SAVED" = 0 ]; then
		AUDIT_PREV_ENABLED=$enabled
		AUDIT_PREV_BACKLOG=$(audit_status backlog_limit)
		AUDIT_SAVED=1
	fi
}

mode_auditd() {
	local r=$1 marker=$2 dir=$WORK/$marker pid kpid k0 k1 lost0 lost1 captured kcpu
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
	# (64) makes a fast exec loop wait in the kernel, not what a deployment sees.
	auditctl -b 8192 >/dev/null 2>&1
	launch auditd "$dir/auditd.out" auditd -n -c "$dir/conf" || return 1
	pid=$LAUNCHED
	if ! wait_for 15 audit_pid_is "$pid"; then
		note "auditd did not register with the kernel within 15 s:"
		tail -n 5 "$dir/auditd.out" >&2
		stop_pid "$pid" TERM 10
		forget "$pid"
		auditctl -e "$AUDIT_PREV_ENABLED" >/dev/null 2>&1
		return 1
	fi
	if ! auditctl -a "${AUDIT_RULE[@]}" >/dev/null 2>"$dir/auditctl.err"; then
		note "auditctl -a failed: $(cat "$dir/auditctl.err")"
		stop_pid "$pid" TERM 10
		forget "$pid"
		return 1
	fi
	AUDIT_RULE_ADDED=1
	kpid=$(kauditd_pid)
	wait_quiet 15 "$pid" || note "auditd still busy 15 s after start"
	lost0=$(audit_status lost)
	k0=0
	[ -n "$kpid" ] && k0=$(cpu_ns "$kpid")
	if ! run_workload "$marker" "$dir/pids" "$pid" ${kpid:+"$kpid"}; then
		audit_restore_rule_only "$pid"
		return 1
	fi
	# run_workload summed auditd and kauditd; split kauditd out.
	k1=0
	[ -n "$kpid" ] && k1=$(cpu_ns "$kpid")
	kcpu=$((k1 - k0))
	lost1=$(audit_status lost)
	auditctl -d "${AUDIT_RULE[@]}" >/dev/null 2>&1 && AUDIT_RULE_ADDED=0
	stop_pid "$pid" TERM 15 || note "auditd did not stop"
	forget "$pid"
	auditctl -e "$AUDIT_PREV_ENABLED" >/dev/null 2>&1
	captured=$(cat "$dir"/log/audit.log* 2>/dev/null | grep '^type=EXECVE' |
		count_markers "$marker")
	record "$r" auditd "$WALL_NS" "$captured" $((CPU_NS - kcpu)) "$TICKS" \
		"kauditd_cpu_ns=$kcpu kernel_lost=$((${lost1:-0} - ${lost0:-0}))"
}

audit_restore_rule_only() {
	auditctl -d "${AUDIT_RULE[@]}" >/dev/null 2>&1 && AUDIT_RULE_ADDED=0
	stop_pid "$1" TERM 15
	forget "$1"
	auditctl -e "$AUDIT_PREV_ENABLED" >/dev/null 2>&1
}

tracefs_prepare() {
	[ -d "$TRACEFS/events" ] && return 0
	mount -t tracefs nodev "$TRACEFS" 2>/dev/null || {
		note "cannot mount tracefs on $TRACEFS"
		return 1
	}
	TRACEFS_MOUNTED=1
}

mode_bpftrace() {
	local r=$1 marker=$2 dir=$WORK/$marker pid captured lost
	command -v bpftrace >/dev/null || { note "bpftrace not installed (make bench-deps)"; return 1; }
	tracefs_prepare || return 1
	mkdir -p "$dir"
	launch bpftrace "$dir/bpftrace.err" bpftrace -o "$dir/bpftrace.out" -e \
		'tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, str(args->filename)); }' ||
		return 1
	pid=$LAUNCHED
	if ! wait_for 60 grep -qs '^Attaching' "$dir/bpftrace.out"; then
		note "bpftrace did not attach within 60 s:"
		tail -n 5 "$dir/bpftrace.err" >&2
		stop_pid "$pid" INT 10
		forget "$pid"
		return 1
	fi
	wait_quiet 15 "$pid" || note "bpftrace still busy 15 s after attaching"
	run_workload "$marker" "$dir/pids" "$pid" || { stop_pid "$pid" INT 10; forget "$pid"; return 1; }
	stop_pid "$pid" INT 15 || note "bpftrace did not stop"
	forget "$pid"
	captured=$(awk 'NR == FNR { want[$1] = 1; next }
		($1 in want) && ($2 == "/bin/true") && !seen[$1]++ { n++ }
		END { print n + 0 }' "$dir/pids" "$dir/bpftrace.out")
	lost=$(grep -ciE 'lost' "$dir/bpftrace.out" "$dir/bpftrace.err" | awk -F: '{ s += $NF } END { print s + 0 }')
	record "$r" bpftrace "$WALL_NS" "$captured" "$CPU_NS" "$TICKS" "lost_lines=$lost"
}

# ---- main ----------------------------------------------------------------
[ -x "$VIGIL" ] || die "$VIGIL not built (make all)"
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -D_GNU_SOURCE bench/forkexec.c -o "$OUT/forkexec" ||
	die "cannot build bench/forkexec.c"

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$NOTES"
note "run $RUN_ID: $N execs x ${#MODES[@]} modes (${MODES[*]}) x $R rounds"
: >"$ROUNDS_TSV"
nm=${#MODES[@]}
rounds_done=0
for ((r = 1; r <= R; r++)); do
	if [ "$SECONDS" -ge "$MAX_SECONDS" ]; then
		note "time budget (${MAX_SECONDS}s) used: stopping after $((r - 1)) rounds"
		echo "only $((r - 1)) of $R rounds run: time budget ${MAX_SECONDS}s used" >>"$NOTES"
		break
	fi
	for ((k = 0; k < nm; k++)); do
		m=${MODES[$(((r - 1 + k) % nm))]}
		marker=vigilbench-$RUN_ID-r$r-$m
		t0=$SECONDS
		if "mode_$m" "$r" "$marker"; then
			line=$(tail -n 1 "$ROUNDS_TSV")
			note "round $r/$R $m: $(awk -F'\t' '{ printf "wall %.3f s, captured %s/%s, cpu %.1f us/exec", $3 / 1e9, $5, $4, $6 / 1e3 / $4 }' <<<"$line") ($((SECONDS - t0)) s)"
		else
			note "round $r/$R $m: FAILED"
			printf '%s\t%s\tFAILED\t%s\t\t\t\t\t\n' "$r" "$m" "$N" >>"$ROUNDS_TSV"
			echo "round $r $m failed to run" >>"$NOTES"
		fi
	done
	rounds_done=$r
done

{
	echo "kernel $(uname -r), $(nproc) CPUs, $("$VIGIL" version 2>/dev/null | head -n 1)," \
		"built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"+ $(git -C "$ROOT" status --porcelain -- src 2>/dev/null | wc -l) changed files under src/"
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "bench run $RUN_ID finished in ${SECONDS}s ($rounds_done rounds)"
} >>"$NOTES"
python3 bench/report.py "$ROUNDS_TSV" "$NOTES" "${MODES[@]}" | tee "$OUT/results.txt"
status=${PIPESTATUS[0]}
cp "$ROUNDS_TSV" "$OUT/rounds.tsv"
exit "$status"
