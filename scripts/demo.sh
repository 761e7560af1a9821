#!/usr/bin/env bash
# Generates a small synthetic labeled inbox and runs the nightly flow over it.
set -euo pipefail
cd "$(dirname "$0")/.."
export QC_DATA_DIR="${QC_DATA_DIR:-$PWD/demo-data/callqc-data}"
INBOX="${DEMO_INBOX:-$PWD/demo-data/inbox}"
if [ ! -f "$INBOX/calls.csv" ]; then
  .venv/bin/callqc synth --out "$INBOX" --calls "${DEMO_CALLS:-8}" --seed "${DEMO_SEED:-7}" --layout "${DEMO_LAYOUT:-mixed}"
fi
.venv/bin/callqc run "$INBOX"
