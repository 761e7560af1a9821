"""Fixtures for the domain's tests: speech made with espeak-ng and the synthetic generator's calls
analysed by the front end (diarization, ASR, roles), and words and turns made in code for the QA
features (conversation metrics, rules, redaction, scorecard)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qc.records import CallResult, Role, Turn, Word

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

RATE = 8000
# Seeds of the target tests: never used while tuning the front-end (tuning used seeds 1-99).
FRONTEND_SEED = 424242
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

    def corpus(layout: str, calls: int, seed: int = FRONTEND_SEED) -> Path:
        key = (layout, calls, seed)
        if key not in made:
            out = tmp_path_factory.mktemp(f"corpus-{layout}")
            synth.generate_corpus(out, calls=calls, seed=seed, layout=layout, snr_db=None)
            made[key] = out
        return made[key]

    return corpus


# --- the QA features --------------------------------------------------------------------------

CALL = "call-1"


def say(text: str, start: float, role: Role = "agent", channel: int | None = None, step: float = 0.4,
        length: float = 0.3) -> list[Word]:
    """Words of ``text`` said from ``start``, one every ``step`` seconds, each ``length`` long."""
    channel = (0 if role == "agent" else 1) if channel is None else channel
    return [Word(CALL, round(start + k * step, 3), round(start + k * step + length, 3), w, 0.9, channel,
                 f"SPEAKER_{channel:02d}", role)
            for k, w in enumerate(text.split())]


def turn(start: float, end: float, role: Role = "agent", text: str = "", sentiment: float | None = None) -> Turn:
    channel = 0 if role == "agent" else 1
    return Turn(CALL, start, end, channel, f"SPEAKER_{channel:02d}", role, text, sentiment=sentiment)


def turns_of(words: Sequence[Word], gap: float = 1.0) -> list[Turn]:
    """One turn per run of a speaker's words with pauses shorter than ``gap``, text attached."""
    out: list[Turn] = []
    for w in sorted(words, key=lambda w: w.start):
        last = next((t for t in reversed(out) if t.speaker == w.speaker), None)
        if last is not None and w.start - last.end < gap and out.index(last) == len(out) - 1:
            out[-1] = Turn(CALL, last.start, w.end, last.channel, last.speaker, last.role, f"{last.text} {w.text}")
        else:
            out.append(Turn(CALL, w.start, w.end, w.channel, w.speaker, w.role, w.text))
    return out


def sample_call() -> list[Word]:
    """A short compliant call with a card number and a phone number said by the customer."""
    return (say("Thank you for calling Acme Bank, my name is Sarah. How can I help you today?", 0.5)
            + say("This call may be recorded for quality and training purposes.", 7.0)
            + say("Hi, I want to pay my bill.", 11.5, "customer")
            + say("Sure. Can you confirm your date of birth please?", 14.5)
            + say("It's June third. My card is four one one one one one one one one one one one one one one one.",
                  19.0, "customer")
            + say("Thank you. And a phone number to reach you?", 29.0)
            + say("Four one five, five five five, oh one two three.", 33.0, "customer")
            + say("Great, done. Is there anything else I can help you with? Have a great day.", 38.0))


@pytest.fixture
def call_words() -> list[Word]:
    return sample_call()


# --- the slow target tests: one synthetic corpus through the real pipeline per session -------------

# Never used while tuning the rules or PII recognizers (tuning used seeds 11, 12, 13 and 2468, the
# first target seed, whose failures were diagnosed); its stereo turn-edge misses were diagnosed too
# (bench.turn_edges). QC_TEST_QA_SEED runs the same targets on another seed, as a held-out check.
QA_SEED = int(os.environ.get("QC_TEST_QA_SEED", "97531"))
QA_CALLS = int(os.environ.get("QC_TEST_QA_CALLS", "24"))
NUMBER_PLACEHOLDERS = ("[CARD_NUMBER]", "[PHONE_NUMBER]", "[NUMBER]")


@dataclass(frozen=True)
class AnalysedCall:
    call_id: str
    truth: dict
    result: CallResult
    audio: Path
    redacted_audio: Path


def truth_turns(truth: dict) -> tuple[list[Turn], list[Word]]:
    """The generator's turns (and one word per reference word, for counts) as pipeline records."""
    turns, words = [], []
    for t in truth["turns"]:
        turns.append(Turn(truth["call_id"], t["start"], t["end"], t["channel"], t["speaker"], t["role"], t["text"]))
        words += [Word(truth["call_id"], t["start"], t["end"], w, 1.0, t["channel"], t["speaker"], t["role"])
                  for w in t["text"].split()]
    return turns, words


def truth_metrics(truth: dict) -> dict[str, float]:
    """The conversation metrics of the generator's own turns (the definitions of qc.conversation)."""
    from qc.conversation import measure

    turns, words = truth_turns(truth)
    return dataclasses.asdict(measure(truth["call_id"], truth["duration"], turns, words))


def truth_rule_outcomes(truth: dict) -> dict[str, bool]:
    """Whether each default rule should pass, from the generator's truth: compliance items (the
    disclosure must be early), forbidden phrases spoken, and metric rules on the truth's metrics."""
    from qc.conversation import measure
    from qc.rules import MetricRule, evaluate_rule, load_rules

    c = truth["compliance"]
    out = {"greeting": c["greeting"]["present"],
           "disclosure": c["disclosure"]["present"] and c["disclosure"]["detail"] == "early",
           "verification": c["verification"]["present"],
           "closing": c["closing"]["present"],
           "no_forbidden_language": not truth["forbidden_phrases"]}
    turns, words = truth_turns(truth)
    metrics = measure(truth["call_id"], truth["duration"], turns, words)
    for rule in load_rules().rules:
        if isinstance(rule, MetricRule):
            out[rule.id] = evaluate_rule(rule, truth["call_id"], turns, words, metrics).passed
    return out


@pytest.fixture(scope="session")
def qa_calls(tmp_path_factory) -> list[AnalysedCall]:
    """A stereo corpus from :data:`QA_SEED`, each call through ``analyze_call`` (PII redaction of
    text and audio on)."""
    synth = pytest.importorskip("qc.synth", reason="the synthetic call generator is not in the tree")
    from qc.config import Settings
    from qc.inbox import scan_inbox
    from qc.pipeline import analyze_call

    out = tmp_path_factory.mktemp("qa-targets")
    synth.generate_corpus(out, calls=QA_CALLS, seed=QA_SEED, layout="stereo")
    cfg = Settings(data_dir=out / "data", redact_audio=True)
    scan = scan_inbox(out)
    assert not scan.rejections, scan.rejections
    calls = []
    for meta in scan.calls:
        result = analyze_call(meta, cfg)
        truth = json.loads((out / "transcripts" / f"{meta.external_id}.json").read_text())
        calls.append(AnalysedCall(meta.external_id, truth, result, meta.path,
                                  cfg.redacted_dir / f"{result.call_id}.wav"))
    return calls


@pytest.fixture(scope="session")
def qa_report(test_output):
    """``report(title, summary, details)``: collected, printed and written to
    ``<test-output>/qa_targets.md`` at the end of the session."""
    sections: list[str] = []

    def report(title: str, summary: dict, details: Sequence[str]) -> None:
        lines = [f"## {title}", "", *(f"- {k}: {v}" for k, v in summary.items())]
        if details:
            lines += ["", "```", *details, "```"]
        sections.append("\n".join(lines))
        print("\n" + sections[-1])

    yield report
    if sections:
        header = f"# QA targets: {QA_CALLS} stereo calls, seed {QA_SEED}\n\n"
        (test_output / "qa_targets.md").write_text(header + "\n\n".join(sections) + "\n")
