"""Fixtures of the speech front-end tests: small espeak-ng dialogues made in code, and (for the slow
target tests) a corpus from the synthetic call generator, made once per session."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

RATE = 8000
# Seeds of the target tests: never used while tuning the front-end (tuning used seeds 1-99).
TARGET_SEED = 424242
TARGET_MONO_CALLS = int(os.environ.get("QC_TEST_MONO_CALLS", "20"))
TARGET_STEREO_CALLS = int(os.environ.get("QC_TEST_STEREO_CALLS", "8"))


@dataclass(frozen=True)
class Dialogue:
    """A short two-party call written as mono and stereo WAVs, with its reference turns."""

    mono: Path
    stereo: Path
    turns: tuple[tuple[float, float, str, str], ...]  # (start, end, speaker, text)

    @property
    def text(self) -> str:
        return " ".join(t[3] for t in sorted(self.turns))


def speak(text: str, voice: str, speed: int = 160) -> np.ndarray:
    """espeak-ng speech at 8 kHz, trimmed of leading and trailing silence."""
    import soxr

    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                         check=True).stdout
    data, rate = sf.read(io.BytesIO(wav), dtype="float32")
    data = soxr.resample(data, rate, RATE).astype(np.float32)
    loud = np.flatnonzero(np.abs(data) > 1e-3)
    return data[loud[0]:loud[-1] + 1]


def make_dialogue(out: Path, lines: list[tuple[str, str]], voices: dict[str, str], gaps: list[float],
                  leak: float = 0.03, noise: float = 0.002, seed: int = 0) -> Dialogue:
    """Write ``lines`` ((speaker, text), in order) as a call; a negative gap is overtalk."""
    out.mkdir(parents=True, exist_ok=True)
    t = 0.5
    placed = []
    for k, (speaker, text) in enumerate(lines):
        audio = speak(text, voices[speaker]) * 0.6
        placed.append((t, speaker, text, audio))
        t += len(audio) / RATE + (gaps[k] if k < len(gaps) else 0.5)
    total = int((max(p[0] + len(p[3]) / RATE for p in placed) + 0.8) * RATE)
    tracks = {s: np.zeros(total, np.float32) for s in voices}
    turns = []
    for start, speaker, text, audio in placed:
        a = int(start * RATE)
        tracks[speaker][a:a + len(audio)] += audio
        turns.append((round(start, 3), round(start + len(audio) / RATE, 3), speaker, text))
    rng = np.random.default_rng(seed)
    agent, customer = tracks["agent"], tracks["customer"]
    mono = agent + customer + noise * rng.standard_normal(total).astype(np.float32)
    stereo = np.stack([agent + leak * customer + noise * rng.standard_normal(total).astype(np.float32),
                       customer + leak * agent + noise * rng.standard_normal(total).astype(np.float32)], axis=1)
    sf.write(out / "mono.wav", mono, RATE)
    sf.write(out / "stereo.wav", stereo, RATE)
    return Dialogue(mono=out / "mono.wav", stereo=out / "stereo.wav", turns=tuple(turns))


@pytest.fixture(scope="session")
def dialogue(tmp_path_factory) -> Dialogue:
    """~25 s agent/customer call with one overtalk, as mono and stereo files."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    lines = [
        ("agent", "Thank you for calling Northwind, my name is Anna. How can I help you today?"),
        ("customer", "Hello, I am calling about my last bill. I think it is wrong."),
        ("agent", "I am sorry to hear that. Let me check your account for you."),
        ("customer", "Thank you, I will wait."),
        ("agent", "I found the problem, there was a double charge. I will refund it today."),
        ("customer", "That is great, thank you very much for your help."),
    ]
    voices = {"agent": "en-us+f3", "customer": "en-gb+m3"}
    return make_dialogue(tmp_path_factory.mktemp("dialogue"), lines, voices, gaps=[0.6, 0.7, -0.6, 0.8, 0.5])


@pytest.fixture(scope="session")
def corpus_factory(tmp_path_factory):
    """``corpus(layout, calls)`` -> directory written by ``qc.synth.generate_corpus`` (cached)."""
    synth = pytest.importorskip("qc.synth", reason="the synthetic call generator is not built yet")
    made: dict[tuple[str, int, int], Path] = {}

    def corpus(layout: str, calls: int, seed: int = TARGET_SEED) -> Path:
        key = (layout, calls, seed)
        if key not in made:
            out = tmp_path_factory.mktemp(f"corpus-{layout}")
            synth.generate_corpus(out, calls=calls, seed=seed, layout=layout, snr_db=None)
            made[key] = out
        return made[key]

    return corpus
