"""Decode, validate and normalise call audio.

A :class:`Recording` is the decoded call at the processing rate (16 kHz, float32, one row per
channel). Short calls live in memory; calls longer than ``Settings.in_memory_seconds`` are decoded
once, in blocks, to a 16-bit work file and read back in windows, so memory stays bounded however long
the call is. Stages read audio through :meth:`Recording.read` / :meth:`Recording.windows` only.

Validators raise :class:`~qc.records.BadRecording` with a reason a QA analyst can read; nothing here
returns a neutral value for a broken file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from qc.channels import analyse_channels
from qc.config import Settings
from qc.records import BadRecording, CallMeta, Layout
from qc.retry import retry, transient_os_error

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".amr")
# containers and codecs libsndfile does not read (AAC in M4A, AMR) are decoded by ffmpeg into a work file
FFMPEG = "FFMPEG"
_BLOCK_FRAMES = 1 << 18  # decode block for long files (~5 s at 48 kHz)


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the call's identity in the warehouse."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class AudioInfo:
    frames: int
    sample_rate: int
    channels: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(path: Path) -> AudioInfo:
    """Header facts of an audio file. Raises BadRecording for empty, unreadable or non-audio files."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadRecording(f"cannot read file: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise BadRecording("cannot read file: not a regular file")
    if size == 0:
        raise BadRecording("empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise BadRecording("cannot read file: permission denied")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        found = _ffprobe(path)
        if found is None:
            raise BadRecording(f"not a readable audio file ({_short(exc)})") from exc
        return found
    except OSError as exc:
        raise BadRecording(f"cannot read file: {exc.strerror or exc}") from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise BadRecording("not a readable audio file (no sample rate or channels in header)")
    if path.suffix.lower() == ".wav" or info.format in ("WAV", "WAVEX", "RF64"):
        _check_wav_not_truncated(path, size)
    return AudioInfo(frames=int(info.frames), sample_rate=int(info.samplerate), channels=int(info.channels),
                     format=str(info.format))


def _ffprobe(path: Path) -> AudioInfo | None:
    """The first audio stream of a file libsndfile cannot open, as ffprobe reads it (None: no audio)."""
    import json
    import subprocess

    try:
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                              "stream=codec_name,sample_rate,channels,duration:format=duration", "-of", "json",
                              str(path)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    data = json.loads(out.stdout or "{}")
    streams = data.get("streams") or []
    if not streams:
        return None
    st = streams[0]
    rate, channels = int(st.get("sample_rate") or 0), int(st.get("channels") or 0)
    duration = float(st.get("duration") or (data.get("format") or {}).get("duration") or 0.0)
    if rate <= 0 or channels <= 0:
        return None
    return AudioInfo(frames=int(round(duration * rate)), sample_rate=rate, channels=channels,
                     format=f"{FFMPEG}:{st.get('codec_name', '?')}")


def _transcode(path: Path, work_dir: Path, call_id: str) -> Path:
    """A file only ffmpeg reads, decoded once to 16-bit PCM WAV (its own rate and channels)."""
    import subprocess

    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / f"{call_id}-source.wav"
    fd, tmp_name = tempfile.mkstemp(dir=work_dir, suffix=".wav.tmp")
    os.close(fd)
    try:
        out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", "0:a:0", "-vn",
                              "-c:a", "pcm_s16le", "-f", "wav", tmp_name], capture_output=True, text=True)
        if out.returncode != 0:
            raise BadRecording(f"cannot decode audio (ffmpeg: {(out.stderr.strip().splitlines() or ['?'])[-1][:200]})")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _check_wav_not_truncated(path: Path, size: int) -> None:
    """A WAV whose data chunk declares more bytes than the file holds was cut off in transfer."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return  # not plain RIFF/WAVE: leave it to the decoder
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):  # streaming writers leave the size unknown
                    return
                available = size - (offset + 8)
                if chunk_size > available:
                    raise BadRecording(
                        f"truncated file: header declares {chunk_size} bytes of audio, file holds {available}"
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


@dataclass(frozen=True, eq=False)
class Recording:
    """A decoded call at ``sample_rate`` Hz. Read audio with :meth:`read` or :meth:`windows`."""

    call_id: str
    meta: CallMeta
    sample_rate: int
    frames: int
    channels: int
    layout: Layout
    agent_channel: int | None
    source_sample_rate: int
    source_channels: int
    notes: tuple[str, ...] = ()
    _samples: np.ndarray | None = field(default=None, repr=False)  # (channels, frames) float32
    _work_file: Path | None = field(default=None, repr=False)  # PCM_16 WAV at sample_rate

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def in_memory(self) -> bool:
        return self._samples is not None

    def read(self, start: float = 0.0, end: float | None = None, channel: int | None = None) -> np.ndarray:
        """Samples between ``start`` and ``end`` seconds: shape (channels, n), or (n,) for one channel."""
        a = max(0, int(round(start * self.sample_rate)))
        b = self.frames if end is None else min(self.frames, int(round(end * self.sample_rate)))
        b = max(a, b)
        if self._samples is not None:
            block = self._samples[:, a:b]
        else:
            assert self._work_file is not None
            data = sf.read(str(self._work_file), start=a, stop=b, dtype="float32", always_2d=True)[0]
            block = data.T
        if channel is not None:
            return np.ascontiguousarray(block[channel])
        return np.ascontiguousarray(block)

    def mono(self, start: float = 0.0, end: float | None = None) -> np.ndarray:
        """All channels mixed down (mean) for the span."""
        block = self.read(start, end)
        return block[0] if block.shape[0] == 1 else block.mean(axis=0)

    def windows(self, seconds: float, channel: int | None = None, hop: float | None = None
                ) -> Iterator[tuple[float, np.ndarray]]:
        """Consecutive windows ``(start_seconds, samples)`` covering the call."""
        hop = hop or seconds
        start = 0.0
        while start < self.duration:
            yield start, self.read(start, start + seconds, channel)
            start += hop

    @property
    def layout_reason(self) -> str:
        """Why the call has its layout (the notes of decoding, joined)."""
        return "; ".join(self.notes)

    def with_note(self, note: str) -> "Recording":
        return dataclasses.replace(self, notes=self.notes + (note,))

    def close(self) -> None:
        """Delete the work file of a long call (idempotent)."""
        if self._work_file is not None:
            self._work_file.unlink(missing_ok=True)


def decide_layout(meta: CallMeta, channels: int, cfg: Settings) -> tuple[Layout, int | None, str | None]:
    """Layout and agent channel for a file with ``channels`` channels; a note when audio is mixed down."""
    if channels > cfg.max_channels:
        raise BadRecording(f"{channels} channels: at most {cfg.max_channels} are supported")
    if meta.layout == "stereo" and channels != 2:
        raise BadRecording(f"calls.csv says stereo, but the file has {channels} channel(s)")
    if channels == 2 and meta.layout != "mono":
        agent = meta.agent_channel if meta.agent_channel is not None else cfg.stereo_agent_channel
        return "stereo", agent, None
    if channels == 1:
        return "mono", None, None
    return "mono", None, f"mixed {channels} channels down to mono"


def load_recording(meta: CallMeta, cfg: Settings, call_id: str | None = None, *, _channel: int | None = None,
                   _reason: str | None = None, _source: CallMeta | None = None) -> Recording:
    """Decode and validate one call. Raises BadRecording with the reason when it cannot be used.

    A two-channel file is a stereo call only when its channels hold two parties
    (:func:`qc.channels.analyse_channels`); dual mono, a silent channel or a channel that only copies
    the other make it a mono call on one channel, and ``Recording.layout_reason`` says why."""
    path = meta.path
    # A file on a network share can be briefly unavailable (EIO, ESTALE, EBUSY): try again before rejecting.
    info = retry(lambda: probe(path), lambda exc: transient_os_error(exc.__cause__), attempts=cfg.retry_attempts,
                 delay=cfg.retry_delay, what=f"reading {path.name}")
    if info.frames <= 0:
        raise BadRecording("no audio samples in file")
    if info.duration < cfg.min_duration:
        raise BadRecording(f"too short: {info.duration:.3f} s (minimum {cfg.min_duration} s)")
    if info.duration > cfg.max_duration:
        raise BadRecording(f"too long: {info.duration / 3600:.1f} h (maximum {cfg.max_duration / 3600:.1f} h)")
    call_id = call_id or content_hash(path)
    if info.format.startswith(FFMPEG):
        source = _transcode(path, cfg.work_dir, call_id)
        try:
            decoded = probe(source)
            if decoded.frames < 0.9 * info.frames:
                raise BadRecording(f"truncated file: ffmpeg decoded {decoded.duration:.1f} s of the "
                                   f"{info.duration:.1f} s the container declares")
            return load_recording(dataclasses.replace(meta, path=source), cfg, call_id=call_id, _channel=_channel,
                                  _reason=_reason, _source=meta)
        finally:
            source.unlink(missing_ok=True)
    if _channel is not None:
        layout, agent_channel, note = "mono", None, _reason
    else:
        layout, agent_channel, note = decide_layout(meta, info.channels, cfg)
    out_channels = 2 if layout == "stereo" else 1
    notes = (note,) if note else ()
    if _source is not None:  # decoded by ffmpeg from the original file
        meta = _source
    if info.duration <= cfg.in_memory_seconds:
        samples = _decode_in_memory(path, info, cfg.sample_rate, out_channels, _channel)
        rec = Recording(call_id=call_id, meta=meta, sample_rate=cfg.sample_rate, frames=samples.shape[1],
                        channels=out_channels, layout=layout, agent_channel=agent_channel,
                        source_sample_rate=info.sample_rate, source_channels=info.channels, notes=notes,
                        _samples=samples)
    else:
        work = _decode_to_work_file(path, info, cfg.sample_rate, out_channels, cfg.work_dir, call_id, _channel)
        frames = sf.info(str(work)).frames
        rec = Recording(call_id=call_id, meta=meta, sample_rate=cfg.sample_rate, frames=int(frames),
                        channels=out_channels, layout=layout, agent_channel=agent_channel,
                        source_sample_rate=info.sample_rate, source_channels=info.channels, notes=notes,
                        _work_file=work)
    if layout == "stereo":
        verdict = analyse_channels(lambda a, b: rec.read(a, b), rec.duration, rec.sample_rate)
        if verdict.one_conversation:
            # one conversation on two channels: diarizing by channel would take a copy for cross-talk
            reason = verdict.reason + (" (calls.csv says stereo)" if meta.layout == "stereo" else "")
            rec.close()
            return load_recording(meta, cfg, call_id=call_id, _channel=verdict.channel, _reason=reason)
        rec = rec.with_note(verdict.reason)
    elif not rec.notes:
        rec = rec.with_note("one channel" if info.channels == 1 else f"calls.csv says mono: {info.channels} "
                            "channels mixed down")
    return rec


def _mix(block: np.ndarray, out_channels: int, channel: int | None = None) -> np.ndarray:
    """(frames, channels) -> (frames, out_channels): keep stereo, take one channel, or average down to mono."""
    if channel is not None:
        return block[:, channel:channel + 1]
    if block.shape[1] == out_channels:
        return block
    return block.mean(axis=1, keepdims=True)


def _decode_in_memory(path: Path, info: AudioInfo, rate: int, out_channels: int, channel: int | None = None
                      ) -> np.ndarray:
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise BadRecording(f"cannot decode audio ({_short(exc)})") from exc
    _check_complete(len(data), info)
    data = _mix(data, out_channels, channel)
    if sr != rate:
        data = soxr.resample(data, sr, rate, quality="HQ").astype(np.float32, copy=False)
    _check_finite(data)
    return np.ascontiguousarray(data.T)


def _check_complete(decoded: int, info: AudioInfo) -> None:
    if decoded == 0:
        raise BadRecording("no audio samples could be decoded")
    if info.format not in ("MP3",) and decoded < 0.99 * info.frames:
        raise BadRecording(f"truncated file: decoded {decoded} of {info.frames} frames the header declares")


def _check_finite(data: np.ndarray) -> None:
    if not np.isfinite(data).all():
        raise BadRecording("audio contains NaN or infinite samples")


def _decode_to_work_file(path: Path, info: AudioInfo, rate: int, out_channels: int, work_dir: Path,
                         call_id: str, channel: int | None = None) -> Path:
    """Stream-decode a long call block by block into a 16-bit WAV at ``rate`` (bounded memory)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / (f"{call_id}-{out_channels}ch.wav" if channel is None else f"{call_id}-ch{channel}.wav")
    if target.exists() and sf.info(str(target)).samplerate == rate:
        return target
    resampler = soxr.ResampleStream(info.sample_rate, rate, out_channels, dtype="float32", quality="HQ")
    fd, tmp_name = tempfile.mkstemp(dir=work_dir, suffix=".wav.tmp")
    os.close(fd)
    decoded = 0
    try:
        with sf.SoundFile(tmp_name, "w", samplerate=rate, channels=out_channels, subtype="PCM_16", format="WAV") as out:
            try:
                for block in sf.blocks(str(path), blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
                    decoded += len(block)
                    block = _mix(block, out_channels, channel)
                    _check_finite(block)
                    out.write(resampler.resample_chunk(np.ascontiguousarray(block)))
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise BadRecording(f"cannot decode audio ({_short(exc)})") from exc
            out.write(resampler.resample_chunk(np.zeros((0, out_channels), np.float32), last=True))
        _check_complete(decoded, info)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def rms_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (-inf for digital silence)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")
