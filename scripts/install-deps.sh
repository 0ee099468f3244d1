#!/bin/sh
# Installs the Debian packages a target needs, only those missing, quietly.
# Usage: scripts/install-deps.sh build|test|bench
set -eu
build="make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
       libyaml-dev libssl-dev libzstd-dev libsqlite3-dev libcap-dev libxxhash-dev"
test="$build python3 python3-jsonschema libclang-rt-14-dev"
bench="$test auditd bpftrace libbpf-tools"
case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine are empty; refresh them once.
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
