# Shared by record.sh and field.sh (source it; needs HERE set to this folder).
#   say MSG...              print "[<script>] MSG"
#   install_missing PKG...  apt-get install (Debian) unless WSSCOPE_NO_APT=1
#   ensure_venv             the cached Python venv with requirements.txt; sets VENV

CACHE=${WSSCOPE_RECORD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wsscope-record}

say() { echo "[$(basename "$0")] $*"; }

install_missing() {
  [ $# -eq 0 ] && return 0
  if [ "${WSSCOPE_NO_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
    say "missing: $*"; exit 1
  fi
  say "installing with apt-get: $*"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The venv is reused while requirements.txt and the Python version stay the same.
ensure_venv() {
  VENV=$CACHE/venv
  local stamp
  stamp=$(sha256sum < "$HERE/requirements.txt" | cut -c1-16)-$(python3 -c 'import sys; print(sys.version.split()[0])')
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "creating venv in $VENV"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$stamp" > "$VENV/.stamp"
  fi
}
