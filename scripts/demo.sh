#!/usr/bin/env bash
# Generates a synthetic labeled inbox, runs the nightly flow over it, then shows the classifier:
# cross-validated beside the baseline (agents kept apart), trained, promoted, and scoring every call.
set -euo pipefail
cd "$(dirname "$0")/.."
export QC_DATA_DIR="${QC_DATA_DIR:-$PWD/demo-data/callqc-data}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
INBOX="${DEMO_INBOX:-$PWD/demo-data/inbox}"
CALLQC=.venv/bin/callqc
if [ ! -f "$INBOX/calls.csv" ]; then
  $CALLQC synth --out "$INBOX" --calls "${DEMO_CALLS:-30}" --seed "${DEMO_SEED:-7}" --layout "${DEMO_LAYOUT:-mixed}"
fi
$CALLQC run "$INBOX"
echo
echo "== the analysts' labels"
$CALLQC labels import "$INBOX/labels.csv" --who demo
echo
echo "== the classifier, cross-validated (no agent in both training and test), beside the baseline"
$CALLQC eval classifier --folds "${DEMO_FOLDS:-3}" --group-by agent_id --label customer_emotion --label agent_politeness
echo
echo "== training, registering and promoting a model"
$CALLQC train
echo
echo "== scoring every stored call with the promoted model"
$CALLQC rescore
$CALLQC scores --limit 12
