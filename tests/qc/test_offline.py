"""Offline by default: importing qc turns the model hubs' clients offline whatever the environment said,
unless QC_ALLOW_DOWNLOADS=1, and a model setting that names nothing on disk fails at once, saying how to
provide the model, instead of trying the network."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qc import assets


def _offline_flags(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                               "HF_DATASETS_OFFLINE", "QC_ALLOW_DOWNLOADS")}
    code = "import os, qc; print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'))"
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_qc_turns_the_hub_clients_offline():
    assert _offline_flags() == "1 1"
    assert _offline_flags(HF_HUB_OFFLINE="0") == "1 1"  # enforced, not a default
    assert _offline_flags(QC_ALLOW_DOWNLOADS="1", HF_HUB_OFFLINE="0") == "0 None"


@pytest.mark.parametrize(("resolve", "setting"), [
    (lambda: assets.whisper_path("small.en", __import__("pathlib").Path("/tmp")), "QC_ASR_MODEL"),
    (lambda: assets.text_encoder_path("sentence-transformers/all-mpnet-base-v2"), "QC_TEXT_ENCODER"),
])
def test_a_model_not_on_disk_is_a_clear_error_not_a_download(resolve, setting, monkeypatch):
    monkeypatch.delenv("QC_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(assets.ModelNotFound, match=f"downloads are off: point {setting} at .*QC_ALLOW_DOWNLOADS=1"):
        resolve()
    monkeypatch.setenv("QC_ALLOW_DOWNLOADS", "1")
    assert resolve() in ("small.en", "sentence-transformers/all-mpnet-base-v2")  # handed to the hub client


def test_shipped_models_resolve_offline(monkeypatch):
    monkeypatch.delenv("QC_ALLOW_DOWNLOADS", raising=False)
    assert os.path.isfile(os.path.join(assets.whisper_path("tiny.en", __import__("pathlib").Path("/tmp")), "model.bin"))
    assert os.path.isdir(assets.text_encoder_path("minilm"))
