#!/usr/bin/env bash
# Regenerate testdata/captures/tls/: WebSocket sessions over TLS (wss://) on
# loopback, captured with tcpdump, with the key logs the endpoints wrote
# (*.keys) and endpoint-logged ground truth (*.truth.json).
#
#   sudo testdata/scripts/record/record_tls.sh               # all scenarios (+ tls13-dsb.pcapng)
#   sudo testdata/scripts/record/record_tls.sh keyupdate     # only some
#
# Then verify_tls_with_tshark.py checks the folder (decrypting with the key logs).
#
# Needs root (tcpdump on lo), tcpdump, tshark + editcap, openssl, python3 (with
# venv), node + npm, and Debian's chromium for chromium-wss.  Shares the venv
# and apt handling of record.sh (lib.sh); `ws` is installed with `npm ci` into a
# temp dir.  The TLS certificate is a throwaway self-signed one made with openssl
# in the temp dir (its private key is never written to the repository).  All
# traffic is on 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=$REPO/testdata/captures/tls
START=$(date +%s)
. "$HERE/lib.sh"
wants() { local n=$1; shift; [ $# -eq 0 ] && return 0; for a in "$@"; do [ "$a" = "$n" ] && return 0; done; return 1; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (tcpdump on lo)"; exit 1
fi

missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v tshark >/dev/null || missing+=(tshark)
command -v editcap >/dev/null || missing+=(wireshark-common)
command -v openssl >/dev/null || missing+=(openssl)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
if wants chromium-wss "$@"; then
  command -v chromium >/dev/null || missing+=(chromium)
fi
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
install_missing ${missing[@]+"${missing[@]}"}

ensure_venv

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wsscope-record-tls.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/node"
cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/node/"
(cd "$WORK/node" && timeout 300 npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
export NODE_PATH=$WORK/node/node_modules
export PYTHONDONTWRITEBYTECODE=1

say "websockets $("$VENV/bin/python" -c 'import websockets; print(websockets.__version__)')," \
    "$("$VENV/bin/python" -c 'import ssl; print(ssl.OPENSSL_VERSION)') (Python)," \
    "ws $(node -p "require('ws/package.json').version"), node $(node --version) ($(node -p 'process.versions.openssl'))," \
    "$(openssl version), $(tcpdump --version 2>&1 | head -1), $(tshark --version 2>/dev/null | head -1)," \
    "$(chromium --version 2>/dev/null | tail -1 || echo 'no chromium')"

mkdir -p "$OUT"
# record_tls.py bounds each scenario to 20 s (Chromium: 40 s); this is the outer safety net.
timeout -k 10 300 "$VENV/bin/python" "$HERE/record_tls.py" --out "$OUT" --work "$WORK" "$@"
# the tls-nokeys key log stays in $WORK: verification may use it, the repository never gets it
timeout -k 10 240 "$VENV/bin/python" "$HERE/verify_tls_with_tshark.py" --extra-keys "$WORK" "$OUT"

say "done in $(( $(date +%s) - START )) s"
