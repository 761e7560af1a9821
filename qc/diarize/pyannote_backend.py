"""Diarization with a ``pyannote.audio`` pipeline, loaded from a local directory or a hub id.

``Settings.pyannote_pipeline`` (``QC_PYANNOTE_PIPELINE``) names the pipeline:

- a local directory holding pyannote's ``config.yaml`` (the layout of a downloaded pipeline
  repository, e.g. a ``git clone`` of ``pyannote/speaker-diarization-community-1`` made on a machine
  with network access and copied here, or one assembled from local checkpoints), or the path of that
  ``config.yaml`` itself;
- a hub id such as ``pyannote/speaker-diarization-community-1``: needs network access and the
  ``HF_TOKEN`` of an account that accepted the model's conditions, so a default run never uses it.

The call is fed as an in-memory waveform (``{"waveform": (1, n) tensor, "sample_rate": 16000}``),
mixed down to one channel; ``num_speakers`` / ``min_speakers`` / ``max_speakers`` are passed through.
The pipeline runs on the GPU when torch sees one.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from qc.audio import Recording
from qc.config import Settings
from qc.diarize.base import Diarization, mark_overlaps, overlap_spans, speaker_bounds
from qc.records import Turn

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")


@functools.lru_cache(maxsize=2)
def load_pipeline(name: str, device: str = "cpu"):
    """The pyannote pipeline at ``name`` (directory, config.yaml or hub id), loaded once per process."""
    import torch
    from pyannote.audio import Pipeline

    from qc.assets import ModelNotFound

    from qc.assets import _not_on_disk

    path = Path(name).expanduser()
    source = str(path) if path.exists() else _not_on_disk(
        "pyannote pipeline", "QC_PYANNOTE_PIPELINE", name, "a pipeline directory or its config.yaml")
    try:
        pipeline = Pipeline.from_pretrained(source, token=os.environ.get("HF_TOKEN"))
    except Exception as exc:  # hub errors, offline mode, missing files: one clear message
        raise ModelNotFound(f"cannot load pyannote pipeline {name!r}: {exc}") from exc
    if pipeline is None:
        raise ModelNotFound(f"cannot load pyannote pipeline {name!r} (gated, missing or offline)")
    if device != "cpu":
        pipeline.to(torch.device(device))
    return pipeline


def diarize_pyannote(rec: Recording, cfg: Settings, num_speakers: int | None = None,
                     min_speakers: int | None = None, max_speakers: int | None = None) -> Diarization:
    """Turns from the configured pyannote pipeline; overlapping turns are kept and flagged."""
    import torch

    from qc.diarize.embedded import torch_device

    if not cfg.pyannote_pipeline:
        raise ValueError("the 'pyannote' backend needs Settings.pyannote_pipeline (QC_PYANNOTE_PIPELINE): "
                         "a local pipeline directory or a hub id")
    pipeline = load_pipeline(cfg.pyannote_pipeline, torch_device())
    num, lo, hi = speaker_bounds(cfg, num_speakers, min_speakers, max_speakers)
    counts = {"num_speakers": num} if num is not None else {"min_speakers": lo, "max_speakers": hi}
    waveform = torch.from_numpy(rec.mono()).unsqueeze(0)
    output = pipeline({"waveform": waveform, "sample_rate": rec.sample_rate, "uri": rec.call_id}, **counts)
    annotation = getattr(output, "speaker_diarization", output)  # pyannote 4 wraps it; 3.x returns it
    names: dict[str, str] = {}
    turns: list[Turn] = []
    for segment, _, label in annotation.itertracks(yield_label=True):
        speaker = names.setdefault(label, f"SPEAKER_{len(names):02d}")
        start, end = max(0.0, float(segment.start)), min(rec.duration, float(segment.end))
        if end > start:
            turns.append(Turn(call_id=rec.call_id, start=round(start, 3), end=round(end, 3), channel=0,
                              speaker=speaker))
    turns = mark_overlaps(sorted(turns, key=lambda t: (t.start, t.speaker)))
    return Diarization(turns=tuple(turns), backend="pyannote", overlaps=tuple(overlap_spans(turns)))
