#!/bin/bash
# make run: the whole pipeline on this host. Under the state directory
# (VIGIL_STATE, default /var/lib/vigil) it makes a local PKI, writes one
# config for both sides (etc/vigil.yaml with events off stdout, plus ship:
# and collector: sections pointing at the state directory), enrolls this
# host as a device, then starts `vigil collector --print` (one line per
# stored event on stdout) and `vigil agent` shipping to it over TLS 1.3.
# Ctrl-C or SIGTERM stops the agent first, so that what it has batched is
# sealed and delivered (or stays in its encrypted spool for the next run),
# then the collector. Running it again reuses the PKI, the device and the
# database.
#
# Environment: VIGIL (binary, default .output/std/vigil), VIGIL_STATE,
# VIGIL_PORT (collector port on 127.0.0.1, default 7443), VIGIL_CONFIG (the
# agent settings to start from, default etc/vigil.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

VIGIL=${VIGIL:-.output/std/vigil}
STATE=${VIGIL_STATE:-/var/lib/vigil}
PORT=${VIGIL_PORT:-7443}
BASE=${VIGIL_CONFIG:-etc/vigil.yaml}
STOP_AGENT_S=30		# the agent's own shutdown delivers what is spooled, bounded
STOP_COLLECTOR_S=10

die() {
	echo "make run: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "the agent loads eBPF programs: run as root (sudo make run)"
[ -x "$VIGIL" ] || die "$VIGIL not built (make all)"
[ -r "$BASE" ] || die "$BASE not readable"
case $PORT in
'' | *[!0-9]*) die "VIGIL_PORT must be a port number" ;;
esac
VIGIL=$(realpath "$VIGIL")
umask 077
mkdir -p "$STATE"
STATE=$(realpath "$STATE")
chmod 0700 "$STATE"
CFG=$STATE/vigil.yaml

# 1. PKI: kept when valid; the pin is the server key's, stable across renewals.
PKI_OUT=$("$VIGIL" pki --dir "$STATE/pki") || die "vigil pki failed"
PIN=$(sed -n 's/^pin_sha256: //p' <<<"$PKI_OUT")
[ ${#PIN} -eq 64 ] || die "vigil pki printed no pin"

# 2. One config for both sides, written on every run from $BASE: its ship:
# and collector: sections are replaced, events leave through the shipper
# only (output.stdout false: the collector prints them once stored).
TMP_CFG=$(mktemp "$STATE/vigil.yaml.XXXXXX")
awk '
	/^[A-Za-z_]+:/ { section = $1; skip = (section == "ship:" || section == "collector:") }
	skip { next }
	section == "output:" && /^[ \t]+stdout:/ {
		print "  stdout: false             # make run: the collector prints the events"
		next
	}
	{ print }
' "$BASE" >"$TMP_CFG"
cat >>"$TMP_CFG" <<EOF

# Written by scripts/run.sh (make run); edit $BASE instead.
ship:
  enabled: true
  collector: "127.0.0.1:$PORT"
  server_name: "localhost"
  ca_file: "$STATE/pki/ca.pem"
  pin_sha256: "$PIN"
  device_file: "$STATE/device.key"
  seq_file: "$STATE/seq"
  spool_dir: "$STATE/spool"

collector:
  listen: "127.0.0.1:$PORT"
  cert_file: "$STATE/pki/server.pem"
  key_file: "$STATE/pki/server.key"
  keystore_dir: "$STATE/keystore"
  database: "$STATE/vigil.db"
  archive_dir: "$STATE/archive"
EOF
mv "$TMP_CFG" "$CFG"

# 3. This host's device identity, registered in the collector's keystore
# (kept when it exists: enrolling again only registers it again).
mkdir -p "$STATE/keystore"
"$VIGIL" enroll --config "$CFG" >&2 || die "vigil enroll failed"

# 4. Collector, then agent, each in its own session so that the terminal's
# Ctrl-C reaches this script only and the stop order below holds.
agent_pid=
collector_pid=

stop() {	# pid seconds name
	local pid=$1 secs=$2 name=$3 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "make run: $name did not stop within ${secs}s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

shutdown() {
	trap '' INT TERM
	[ -n "$agent_pid$collector_pid" ] || return 0
	echo "make run: stopping the agent (its batches are delivered or stay spooled)," \
		"then the collector" >&2
	stop "$agent_pid" "$STOP_AGENT_S" agent
	agent_pid=
	stop "$collector_pid" "$STOP_COLLECTOR_S" collector
	collector_pid=
}
trap 'shutdown; exit 0' INT TERM
trap 'shutdown' EXIT

: >"$STATE/collector.log"
setsid "$VIGIL" collector --config "$CFG" --print 2> >(tee -i -a "$STATE/collector.log" >&2) &
collector_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q "collector: listening on" "$STATE/collector.log" && break
	kill -0 "$collector_pid" 2>/dev/null || die "the collector did not start (see above)"
	sleep 0.1
done
grep -q "collector: listening on" "$STATE/collector.log" ||
	die "the collector did not report listening within 10 s"

setsid "$VIGIL" agent --config "$CFG" &
agent_pid=$!

cat >&2 <<EOF
make run: collector on 127.0.0.1:$PORT (database $STATE/vigil.db), agent shipping to it.
make run: stored events are printed below ("!!" marks severity MEDIUM and up); Ctrl-C stops.
make run: meanwhile, in another terminal:
    $VIGIL query --config $CFG --since 10m
    $VIGIL stats --config $CFG
EOF

# Whichever ends first (on its own) ends the run.
set +e
wait -n "$agent_pid" "$collector_pid"
rc=$?
set -e
if ! kill -0 "$agent_pid" 2>/dev/null; then
	echo "make run: the agent exited ($rc)" >&2
	agent_pid=
else
	echo "make run: the collector exited ($rc)" >&2
	collector_pid=
fi
exit "$rc"
