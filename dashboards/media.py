"""A call's audio for the dashboard: which file to play, and a log-mel spectrogram image of it.

Only paths the warehouse lists are read: the call's ``source_path``, or the redacted copy
``<data_dir>/redacted/<call_id>.wav`` that the pipeline writes with ``redact_audio`` (preferred: PII
spans are silenced there). Plain functions, no Streamlit; :mod:`dashboards.data` caches the image.
"""

from __future__ import annotations

import io
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qc.records import CallRecord, Turn

ROLE_COLOURS = {"agent": "#1f77b4", "customer": "#ff7f0e", "unknown": "#7f7f7f"}
MAX_AUDIO_BYTES = 200 * 1024 * 1024  # larger files are not sent to the browser
MAX_SPECTROGRAM_SECONDS = 20 * 60.0  # longer calls: the image shows the first 20 minutes
_CALL_ID = re.compile(r"^[0-9a-fA-F]{16,128}$")
_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}


@dataclass(frozen=True)
class AudioSource:
    """The file to play for a call, and whether it is the redacted copy."""

    path: Path
    redacted: bool

    @property
    def mime(self) -> str:
        return _MIME.get(self.path.suffix.lower()) or mimetypes.guess_type(self.path.name)[0] or "audio/wav"


def audio_source(call: CallRecord, redacted_dir: Path) -> AudioSource | None:
    """The redacted copy if it exists, else the source file if it exists, else None."""
    if _CALL_ID.match(call.call_id):  # a call id is a hex digest: never a path of its own
        redacted = redacted_dir / f"{call.call_id}.wav"
        if redacted.is_file():
            return AudioSource(redacted, True)
    if call.source_path:
        source = Path(call.source_path)
        if source.is_file():
            return AudioSource(source, False)
    return None


def read_audio(source: AudioSource, max_bytes: int = MAX_AUDIO_BYTES) -> bytes:
    """The file's bytes. Raises ``ValueError`` when it is larger than ``max_bytes``."""
    size = source.path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{size / 2**20:.0f} MiB is too large to play in the browser")
    return source.path.read_bytes()


def channel_names(call: CallRecord, channels: int) -> list[str]:
    """What each channel of the file carries: 'agent'/'customer' for stereo, 'mixed' for mono."""
    if channels == 1:
        return ["mixed"]
    if call.agent_channel in (0, 1) and channels == 2:
        return ["agent" if ch == call.agent_channel else "customer" for ch in range(2)]
    return [f"channel {ch}" for ch in range(channels)]


def spectrogram_png(
    path: Path,
    names: Sequence[str],
    turns: Sequence[tuple[float, float, str]] = (),
    max_seconds: float = MAX_SPECTROGRAM_SECONDS,
    n_mels: int = 64,
) -> bytes:
    """A PNG of the log-mel spectrogram of each channel of ``path`` (one panel per name in ``names``),
    above a strip with the diarized turns ``(start_s, end_s, role)`` coloured by role.

    Reads at most ``max_seconds`` of audio. Raises ``RuntimeError`` when the file cannot be decoded.
    """
    import librosa
    import soundfile as sf
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    try:
        with sf.SoundFile(str(path)) as fh:
            rate = fh.samplerate
            data = fh.read(frames=int(max_seconds * rate), dtype="float32", always_2d=True).T
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise RuntimeError(f"cannot decode {path.name}: {exc}") from exc
    if data.shape[1] == 0:
        raise RuntimeError(f"{path.name} holds no audio")
    seconds = data.shape[1] / rate
    n_fft = 512 if rate <= 16000 else 2048
    # Keep the image about 2000 columns wide however long the call is.
    hop = max(n_fft // 4, int(np.ceil(data.shape[1] / 2000)))
    panels = min(len(names), data.shape[0])

    fig = Figure(figsize=(12, 1.9 * panels + 0.9), dpi=100, layout="constrained")
    axes = fig.subplots(panels + 1, 1, sharex=True, height_ratios=[4] * panels + [1], squeeze=False)[:, 0]
    image = None
    for ch in range(panels):
        mel = librosa.feature.melspectrogram(
            y=data[ch], sr=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmax=rate / 2
        )
        db = librosa.power_to_db(mel, ref=np.max(mel) if np.max(mel) > 0 else 1.0, top_db=80.0)
        ax = axes[ch]
        image = ax.imshow(
            db, origin="lower", aspect="auto", cmap="magma", extent=(0.0, seconds, 0, n_mels),
            vmin=-80, vmax=0,
        )
        ax.set_ylabel(f"{names[ch]}\nmel bin", fontsize=8)
        ax.tick_params(labelsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes[:panels]), label="dB", shrink=0.9, pad=0.01)
    strip = axes[-1]
    for start, end, role in turns:
        if start < seconds:
            strip.axvspan(start, min(end, seconds), color=ROLE_COLOURS.get(role, ROLE_COLOURS["unknown"]))
    strip.set_yticks([])
    strip.set_ylabel("turns", fontsize=8)
    strip.set_xlim(0, seconds)
    strip.set_xlabel("seconds from the start of the call", fontsize=8)
    strip.tick_params(labelsize=7)
    strip.legend(
        handles=[Patch(color=c, label=r) for r, c in ROLE_COLOURS.items() if r != "unknown"],
        loc="upper left", bbox_to_anchor=(1.005, 1.6), fontsize=7, frameon=False,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def turn_spans(turns: Sequence[Turn]) -> tuple[tuple[float, float, str], ...]:
    return tuple((float(t.start), float(t.end), str(t.role)) for t in turns)
