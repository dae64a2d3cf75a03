#!/usr/bin/env bash
# Regenerate testdata/captures/field/: WebSocket sessions between the Python
# endpoints captured as captures are made in the field (tcpdump -i any with
# LINUX_SLL / LINUX_SLL2, VXLAN, a userspace GRE tunnel, two directions merged
# at skewed clocks, a userspace impairment path, tcpdump started mid-frame),
# inside network namespaces this script creates and deletes; then
# verify_field.py checks every capture with tshark.
#
#   sudo testdata/scripts/record/field.sh              # all runs
#   sudo testdata/scripts/record/field.sh vxlan late   # only some (sll1 sll2 vxlan gre merged impaired late)
#
# Needs root (namespaces, tcpdump), iproute2, tcpdump, tshark (with mergecap,
# editcap and capinfos), python3 with venv, /dev/net/tun and a kernel with veth
# and VXLAN.  Missing packages are installed with apt-get on Debian (set
# WSSCOPE_NO_APT=1 to refuse).  The Python venv is record.sh's (lib.sh).
# The namespaces are wsf-c and wsf-s; they are deleted at the end, also on
# failure or timeout.  See testdata/captures/field/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=$REPO/testdata/captures/field
START=$(date +%s)
# say, install_missing, ensure_venv (shared with record.sh)
. "$HERE/lib.sh"

if [ "$(id -u)" != 0 ]; then
  say "must run as root (network namespaces, tcpdump)"; exit 1
fi

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v tshark >/dev/null || missing+=(tshark)
command -v mergecap >/dev/null || missing+=(wireshark-common)
command -v python3 >/dev/null || missing+=(python3)
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
install_missing ${missing[@]+"${missing[@]}"}
[ -c /dev/net/tun ] || { say "no /dev/net/tun"; exit 1; }
ensure_venv

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wsscope-field.XXXXXX")
# field.py deletes its namespaces itself; this is the safety net for a killed field.py
cleanup() {
  for ns in wsf-c wsf-s; do
    if ip netns list | grep -q "^$ns\b"; then
      for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
export PYTHONDONTWRITEBYTECODE=1

say "websockets $("$VENV/bin/python" -c 'import websockets; print(websockets.__version__)'), python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')," \
    "$(tcpdump --version 2>&1 | head -1), $(tcpdump --version 2>&1 | sed -n 2p), $(tshark --version 2>/dev/null | head -1)," \
    "$(ip -V), kernel $(uname -r)"

mkdir -p "$OUT"
# each run bounds its endpoints to 30 s itself; this is the outer safety net
timeout -k 10 300 "$VENV/bin/python" "$HERE/field.py" --out "$OUT" --work "$WORK" "$@"
timeout -k 10 240 python3 "$HERE/verify_field.py" "$OUT"

say "done in $(( $(date +%s) - START )) s"
