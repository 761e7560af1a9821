"""The ``pyannote`` backend end to end, with a pipeline assembled here from locally instantiated
models (untrained weights: pyannote's published ones cannot be downloaded in tests). It proves the
code path: directory -> ``Pipeline.from_pretrained`` -> in-memory waveform -> speaker counts passed
through -> well-formed turns. Quality is not expected from random weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qc.audio import load_recording
from qc.config import Settings
from qc.diarize import diarize
from qc.records import CallMeta


def build_local_pipeline(out: Path) -> Path:
    """A pyannote SpeakerDiarization pipeline directory (config.yaml + checkpoints) from scratch."""
    import lightning
    import torch
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorMFCC
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    segmentation = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": 32, "num_layers": 1},
                           linear={"hidden_size": 32, "num_layers": 1})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2, permutation_invariant=True)
    segmentation.build()
    embedding = XVectorMFCC(dimension=64)
    embedding.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                              duration=3.0)
    out.mkdir(parents=True, exist_ok=True)
    for name, model in (("segmentation.ckpt", segmentation), ("embedding.ckpt", embedding)):
        checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                      "pytorch-lightning_version": lightning.__version__}
        model.on_save_checkpoint(checkpoint)  # pyannote's own metadata: versions, class, specifications
        torch.save(checkpoint, out / name)
    # PLDA files are required by the pipeline's constructor even when VBx is not the clustering
    rng = np.random.default_rng(0)
    (out / "plda").mkdir(exist_ok=True)
    np.savez(out / "plda" / "xvec_transform.npz", mean1=np.zeros(64), mean2=np.zeros(32),
             lda=np.linalg.qr(rng.standard_normal((64, 32)))[0])
    np.savez(out / "plda" / "plda.npz", mu=np.zeros(32), tr=np.eye(32), psi=np.ones(32))
    config = {
        "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization",
                     "params": {"segmentation": str(out / "segmentation.ckpt"),
                                "embedding": str(out / "embedding.ckpt"), "plda": str(out / "plda"),
                                "clustering": "AgglomerativeClustering", "segmentation_step": 0.5,
                                "embedding_batch_size": 16, "segmentation_batch_size": 16}},
        "params": {"segmentation": {"min_duration_off": 0.0},
                   "clustering": {"method": "centroid", "min_cluster_size": 1, "threshold": 0.5}},
    }
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    return out


@pytest.fixture(scope="module")
def local_pipeline(tmp_path_factory) -> Path:
    pytest.importorskip("pyannote.audio")
    return build_local_pipeline(tmp_path_factory.mktemp("pyannote-pipeline"))


@pytest.fixture(scope="module")
def short_call(dialogue, tmp_path_factory) -> Path:
    audio, rate = sf.read(str(dialogue.mono), dtype="float32")
    path = tmp_path_factory.mktemp("short") / "short.wav"
    sf.write(str(path), audio[: int(12 * rate)], rate)
    return path


def test_pipeline_from_local_directory_returns_wellformed_turns(local_pipeline, short_call, tmp_path):
    cfg = Settings(data_dir=tmp_path, pyannote_pipeline=str(local_pipeline), diarization_backend="pyannote")
    rec = load_recording(CallMeta(external_id="short", path=short_call), cfg, call_id="short")
    result = diarize(rec, cfg)
    assert result.backend == "pyannote"
    assert len(result.turns) >= 1
    assert 1 <= len(result.speakers) <= 2  # the default bounds (one or two speakers) are passed through
    for turn in result.turns:
        assert 0.0 <= turn.start < turn.end <= rec.duration + 1e-6
        assert turn.channel == 0 and turn.speaker.startswith("SPEAKER_")
    assert [t.start for t in result.turns] == sorted(t.start for t in result.turns)
    assert result.turns[0].speaker == "SPEAKER_00"  # named by first appearance
    one = diarize(rec, cfg, num_speakers=1)
    assert len(one.speakers) == 1
    bounded = diarize(rec, cfg, min_speakers=1, max_speakers=3)
    assert 1 <= len(bounded.speakers) <= 3


def test_pipeline_setting_is_required(tmp_path, short_call):
    cfg = Settings(data_dir=tmp_path)
    rec = load_recording(CallMeta(external_id="short", path=short_call), cfg, call_id="short")
    with pytest.raises(ValueError, match="QC_PYANNOTE_PIPELINE"):
        diarize(rec, cfg, backend="pyannote")
