"""Shipped model files are checked against the SHA-256 recorded for them: the installed ones match, and a
changed file is refused with a clear error (never loaded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qc import assets


def test_every_recorded_shipped_file_matches_what_is_installed():
    digests = json.loads((Path(assets.__file__).parent / "model_digests.json").read_text())
    checked = 0
    for package, files in digests.items():
        if package.startswith("("):
            continue
        for rel in files:
            assets.shipped(package, *rel.split("/"))
            checked += 1
    assert checked >= 10


def test_a_changed_weights_file_is_refused(tmp_path, monkeypatch):
    real = assets._package_dir("faster_whisper", "assets", "silero_vad_v6.onnx")
    fake_root = tmp_path / "faster_whisper"
    (fake_root / "assets").mkdir(parents=True)
    copy = fake_root / "assets" / "silero_vad_v6.onnx"
    shutil.copy2(real, copy)
    monkeypatch.setattr(assets, "_package_dir", lambda package, *parts: fake_root.joinpath(*parts))
    assert assets.vad_model_path("silero") == ("batched-onnx", copy)  # an exact copy is fine
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped
    copy.write_bytes(bytes(data))
    with pytest.raises(assets.ModelNotFound, match="does not match the SHA-256 recorded"):
        assets.vad_model_path("silero")


def test_a_damaged_joined_whisper_base_is_joined_again(tmp_path):
    target = Path(assets.whisper_path("base", tmp_path))
    model_bin = target / "model.bin"
    with open(model_bin, "r+b") as f:  # same size, one byte changed
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assets.whisper_path("base", tmp_path)
    assert assets.sha256(model_bin) == json.loads((Path(assets.__file__).parent / "model_digests.json").read_text())[
        "(assembled)"]["whisper-base/model.bin"]
