#!/usr/bin/env bash
# Installs everything callqc needs on a fresh Debian machine of this kind: system packages, the
# PostgreSQL server used by the warehouse tests, and the pinned virtual environment at .venv.
# Idempotent: a second run checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng flite sox libsox-fmt-all ffmpeg libsndfile1 chromium chromium-driver)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
STAMP=.venv/.callqc-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "setup: installing pinned Python packages into .venv (first time: several minutes)"
pip_install() {
  # This machine's pip config names a local mirror folder that may be absent; its warnings are noise.
  .venv/bin/pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  return "${PIPESTATUS[0]}"
}
pip_install -r requirements.lock
pip_install --no-deps --no-build-isolation -e .
.venv/bin/python -c "import qc, flows, torch, torchaudio, pyannote.audio, faster_whisper, prefect" 
echo "$want" > "$STAMP"
echo "setup: .venv ready"
