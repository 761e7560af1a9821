#!/usr/bin/env bash
# Runs the whole test suite offline: any accidental hub download fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_postgres.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PYANNOTE_METRICS_ENABLED=0 DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_HOME="$PWD/.prefect"   # tests keep Prefect's local state inside the checkout
export QC_TEST_POSTGRES_URL="${QC_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
export QC_TEST_OUTPUT="${QC_TEST_OUTPUT:-$PWD/test-output}"
mkdir -p "$QC_TEST_OUTPUT"
set +e
.venv/bin/python -m pytest -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
exit $rc
