"""Mono diarization from the offline packages: VAD + speaker embeddings + constrained clustering.

1. Speech: Silero VAD (batched ONNX, :mod:`qc.vad`) over the mixed-down call.
2. Embeddings: GE2E d-vectors (``resemblyzer``'s shipped encoder) of windows tiling each speech
   segment (``window`` long, ``hop`` apart; a segment shorter than a window is one window of its own
   length), computed in one batched LSTM pass over packed sequences, block by block, so memory does
   not grow with the call.
3. Clustering: spherical k-means into exactly ``num_speakers`` clusters, or a count chosen inside
   ``[min_speakers, max_speakers]`` (by default one or two, see :func:`qc.diarize.speaker_bounds`):
   the silhouette picks among the counts whose every speaker holds ``min_speaker_speech`` seconds of
   windows, and one speaker is chosen when the two centroids nearly coincide (``same_speaker``), so a
   voicemail or a labelled utterance is one speaker.
4. Resegmentation: every 32 ms VAD frame gets per-speaker scores (the similarity of the windows that
   cover it to each centroid, weighted towards each window's centre); a Viterbi pass with a switch
   penalty turns them into labels, so turns do not flicker at boundaries. Pauses shorter than
   ``bridge_gap`` inside one speaker's speech stay inside the turn.
5. Overlap: a change of speaker where the VAD never dips (no pause at all) and the mix is louder than
   the call's usual speech is overtalk; around it, the frames whose scores are close for both speakers
   are given to both (``Turn.overlap`` and :attr:`Diarization.overlaps`). It is deliberately
   conservative: a looser rule finds more overtalk but costs more in false alarms than it gains.

Speed: the encoder's LSTM dominates; it runs with one torch thread (see :meth:`SpeakerEncoder.embed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qc.audio import Recording
from qc.config import Settings
from qc.diarize.base import Diarization, mark_overlaps, overlap_spans, speaker_bounds
from qc.records import Turn
from qc.vad import FRAME_SECONDS, VadParams, segments, speech_probabilities

MEL_HOP = 160  # 10 ms at 16 kHz (the encoder's frame rate)
MEL_FFT = 400  # 25 ms window
MEL_BANDS = 40
TARGET_DBFS = -30.0  # the encoder was trained on speech normalised to this level
MAX_BLOCK_SECONDS = 120.0  # audio read at once for embeddings


@dataclass(frozen=True)
class EmbeddedParams:
    """Tunable numbers of the embedded backend (seconds unless noted)."""

    vad: VadParams = VadParams(onset=0.5, offset=0.35, min_speech=0.2, min_silence=0.3, pad=0.05)
    window: float = 1.6  # embedding window (the encoder's training length)
    hop: float = 0.8  # window step inside a segment
    min_window: float = 0.4  # shorter speech gets no embedding of its own (labelled from neighbours)
    same_speaker: float = 0.91  # two centroids this similar are one speaker (free count only)
    min_speaker_speech: float = 5.0  # in a free count, every speaker's windows cover this much speech (s)
    switch_penalty: float = 0.6  # Viterbi cost of a change of speaker (similarity units)
    batch_windows: int = 128  # windows per encoder pass (memory bound)
    threads: int = 1  # torch intra-op threads for the encoder on CPU (see SpeakerEncoder.embed)
    bridge_gap: float = 0.8  # a pause shorter than this between two stretches of one speaker stays in the turn
    overlap_margin: float = 0.6  # overtalk searched this far either side of an in-speech change (0: off)
    overlap_ambiguity: float = 0.08  # score difference under which a frame may be both speakers
    overtalk_radius: float = 0.5  # a change is overtalk when, this close (s), the VAD never dips ...
    overtalk_dip: float = 0.4  # ... below this probability ...
    overtalk_rise_db: float = 1.5  # ... and the mix is this much louder than the call's median speech


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"


# --- the speaker encoder -----------------------------------------------------------------------------

class SpeakerEncoder:
    """GE2E speaker encoder (resemblyzer's weights) over packed variable-length mel windows."""

    def __init__(self, weights: str | None, device: str):
        import torch
        from resemblyzer import VoiceEncoder

        self._torch = torch
        self.model = VoiceEncoder(device=device, verbose=False, weights_fpath=weights).eval()
        self.device = device
        self._lock = threading.Lock()
        import librosa

        self._mel_basis = librosa.filters.mel(sr=16000, n_fft=MEL_FFT, n_mels=MEL_BANDS).astype(np.float32)
        self._window = np.hanning(MEL_FFT + 1)[:-1].astype(np.float32)

    def mel(self, audio: np.ndarray) -> np.ndarray:
        """(frames, 40) mel power spectrogram, as resemblyzer computes it (centred, zero-padded)."""
        padded = np.pad(audio.astype(np.float32, copy=False), MEL_FFT // 2)
        n = 1 + (len(padded) - MEL_FFT) // MEL_HOP
        if n <= 0:
            return np.zeros((0, MEL_BANDS), np.float32)
        idx = np.arange(MEL_FFT)[None, :] + MEL_HOP * np.arange(n)[:, None]
        spec = np.abs(np.fft.rfft(padded[idx] * self._window, axis=1)) ** 2
        return (spec.astype(np.float32) @ self._mel_basis.T).astype(np.float32)

    def embed(self, mels: list[np.ndarray], threads: int = 1) -> np.ndarray:
        """(n, 256) L2-normalised embeddings of mel windows of any lengths.

        Windows of the common (longest) length go through the LSTM as one padded batch, the shorter
        ones as one packed batch. The LSTM's matrices are small: on CPU one intra-op thread is faster
        than several as soon as anything else runs on the machine, so torch's thread count is set to ``threads`` for the pass and restored after.
        """
        torch = self._torch
        out = np.zeros((len(mels), 256), np.float32)
        if not mels:
            return out
        lengths = np.array([len(m) for m in mels])
        full = np.flatnonzero(lengths == lengths.max())
        short = np.flatnonzero(lengths < lengths.max())
        with self._lock, torch.inference_mode(), _torch_threads(torch, threads if self.device == "cpu" else 0):
            batch = torch.from_numpy(np.stack([mels[i] for i in full])).to(self.device)
            out[full] = self._head(self.model.lstm(batch)[1][0][-1])
            if short.size:
                padded = torch.zeros((len(short), int(lengths[short].max()), MEL_BANDS))
                for row, i in enumerate(short):
                    padded[row, :lengths[i]] = torch.from_numpy(mels[i])
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    padded.to(self.device), torch.from_numpy(lengths[short]), batch_first=True, enforce_sorted=False)
                out[short] = self._head(self.model.lstm(packed)[1][0][-1])
        return out

    def _head(self, hidden):
        raw = self.model.relu(self.model.linear(hidden))
        return (raw / self._torch.linalg.norm(raw, dim=1, keepdim=True).clamp_min(1e-8)).cpu().numpy()


@contextlib.contextmanager
def _torch_threads(torch, threads: int):
    """Run with ``threads`` intra-op threads (0: leave as is), restoring the previous count."""
    previous = torch.get_num_threads()
    if threads and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads and threads != previous:
            torch.set_num_threads(previous)


@functools.lru_cache(maxsize=2)
def load_encoder(name: str = "resemblyzer", device: str = "cpu") -> SpeakerEncoder:
    """The speaker encoder for ``Settings.embedding_model`` ('resemblyzer' or a weights path)."""
    if name.strip().lower() == "resemblyzer":
        from qc.assets import shipped

        return SpeakerEncoder(str(shipped("resemblyzer", "pretrained.pt")), device)
    path = Path(name).expanduser()
    if not path.is_file():
        from qc.assets import ModelNotFound

        raise ModelNotFound(f"speaker embedding weights {name!r} not found")
    return SpeakerEncoder(str(path), device)


def torch_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # torch without a working CUDA runtime
        return "cpu"


# --- windows and embeddings -----------------------------------------------------------------------

def window_spans(speech: list[tuple[float, float]], p: EmbeddedParams) -> list[tuple[float, float]]:
    """Embedding windows tiling each speech segment (the last one aligned with the segment's end)."""
    out = []
    for a, b in speech:
        length = b - a
        if length < p.min_window:
            continue
        if length <= p.window:
            out.append((a, b))
            continue
        n = int(np.ceil((length - p.window) / p.hop)) + 1
        starts = np.linspace(a, b - p.window, n)
        out.extend((float(s), float(s) + p.window) for s in starts)
    return out


def embed_windows(rec: Recording, spans: list[tuple[float, float]], encoder: SpeakerEncoder,
                  p: EmbeddedParams) -> np.ndarray:
    """Embeddings of the windows, reading the call block by block (bounded memory): a block holds at
    most ``batch_windows`` windows and ``MAX_BLOCK_SECONDS`` of audio."""
    out = []
    for block in _blocks(spans, p.batch_windows):
        a, b = block[0][0], max(e for _, e in block)
        audio = rec.mono(a, b)
        speech_rms = np.sqrt(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
        if speech_rms > 0:  # bring speech to the level the encoder was trained on
            audio = audio * (10 ** (TARGET_DBFS / 20) / speech_rms)
        mel = encoder.mel(audio)
        mels = []
        for s, e in block:
            i, j = int(round((s - a) * 100)), int(round((e - a) * 100))
            mels.append(mel[i:max(j, i + 1)])
        out.append(encoder.embed(mels, p.threads))
    return np.concatenate(out) if out else np.zeros((0, 256), np.float32)


def _blocks(spans: list[tuple[float, float]], most: int) -> list[list[tuple[float, float]]]:
    blocks: list[list[tuple[float, float]]] = []
    for span in spans:
        if not blocks or len(blocks[-1]) >= most or span[1] - blocks[-1][0][0] > MAX_BLOCK_SECONDS:
            blocks.append([])
        blocks[-1].append(span)
    return blocks


# --- clustering -------------------------------------------------------------------------------------

def cluster(embeddings: np.ndarray, num: int | None, lo: int, hi: int, same_speaker: float,
            weights: np.ndarray | None = None, seed: int = 0, spans: list[tuple[float, float]] | None = None,
            min_speech: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(labels per embedding, unit centroids): ``num`` clusters, or a count chosen in ``[lo, hi]``.

    Spherical k-means (several restarts) on the unit embeddings; GE2E d-vectors of one call sit in a
    narrow cone, where average-linkage clustering tends to split off a single odd window instead of a
    speaker. A free count is the one with the best silhouette among the counts whose every cluster's
    windows (``spans``, seconds) cover at least ``min_speech`` seconds (``lo`` itself always counts);
    one speaker is chosen (when allowed) if no larger count qualifies, or if the two-cluster centroids
    are more similar than ``same_speaker``.
    """
    n = len(embeddings)
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 256
    if n == 0:
        return np.zeros(0, int), np.zeros((0, dim), np.float32)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    candidates = [num] if num is not None else list(range(lo, hi + 1))
    candidates = sorted({min(k, n) for k in candidates})
    fits = {k: _kmeans(embeddings, k, w, seed) for k in candidates}
    if len(fits) == 1:
        k = candidates[0]
    else:
        if spans is not None and min_speech > 0:
            fits = {k: fit for k, fit in fits.items()
                    if k == candidates[0] or min(cluster_coverage(spans, fit[0], k)) >= min_speech}
        k = _choose_count(embeddings, fits, same_speaker)
    labels, centroids = fits[k]
    return labels, centroids


def cluster_coverage(spans: list[tuple[float, float]], labels: np.ndarray, k: int) -> list[float]:
    """Seconds covered by each cluster's windows (their union: overlapping windows count once)."""
    out = []
    for c in range(k):
        total, end = 0.0, -np.inf
        for a, b in sorted(s for s, lab in zip(spans, labels) if lab == c):
            a = max(a, end)
            if b > a:
                total += b - a
            end = max(end, b)
        out.append(total)
    return out


def _kmeans(x: np.ndarray, k: int, w: np.ndarray, seed: int, restarts: int = 8, iters: int = 30
            ) -> tuple[np.ndarray, np.ndarray]:
    if k <= 1:
        labels = np.zeros(len(x), int)
        return labels, _centroids(x, labels, 1, w)
    rng = np.random.default_rng(seed)
    best, best_score = None, -np.inf
    for _ in range(restarts):
        # k-means++ seeding on cosine distance
        centres = [x[rng.choice(len(x), p=w / w.sum())]]
        for _ in range(1, k):
            d = np.clip(1.0 - np.max(x @ np.array(centres).T, axis=1), 0, None) * w
            centres.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
        c = np.array(centres, np.float32)
        labels = np.argmax(x @ c.T, axis=1)
        for _ in range(iters):
            c = _centroids(x, labels, k, w)
            new = np.argmax(x @ c.T, axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
        score = float(np.sum(w * np.max(x @ c.T, axis=1)))
        if len(set(labels.tolist())) == k and score > best_score:
            best, best_score = (labels, c), score
    if best is None:  # fewer distinct points than clusters
        labels = np.arange(len(x)) % k
        best = (labels, _centroids(x, labels, k, w))
    return best


def _choose_count(x: np.ndarray, fits: dict[int, tuple[np.ndarray, np.ndarray]], same_speaker: float) -> int:
    scores = {}
    for k, (labels, c) in fits.items():
        if k == 1:
            continue
        scores[k] = _silhouette(x, labels)
    k = max(scores, key=scores.get) if scores else min(fits)
    if 1 in fits and 2 in fits:
        c2 = fits[2][1]
        if float(c2[0] @ c2[1]) > same_speaker:
            return 1
    return k


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    if len(set(labels.tolist())) < 2 or len(x) < 3:
        return -1.0
    d = 1.0 - x @ x.T
    out = []
    for i in range(len(x)):
        own = labels == labels[i]
        own[i] = False
        a = d[i, own].mean() if own.any() else 0.0
        b = min(d[i, labels == c].mean() for c in set(labels.tolist()) if c != labels[i])
        out.append((b - a) / max(a, b, 1e-9))
    return float(np.mean(out))


def _centroids(emb: np.ndarray, labels: np.ndarray, k: int, weights: np.ndarray | None) -> np.ndarray:
    w = np.ones(len(emb)) if weights is None else weights
    out = np.zeros((k, emb.shape[1]), np.float32)
    for c in range(k):
        sel = labels == c
        if sel.any():
            v = (emb[sel] * w[sel, None]).sum(0)
            out[c] = v / max(np.linalg.norm(v), 1e-8)
    return out


# --- resegmentation ----------------------------------------------------------------------------------

def frame_scores(n_frames: int, spans: list[tuple[float, float]], sims: np.ndarray) -> np.ndarray:
    """(frames, k) similarity per VAD frame: centre-weighted mean of the windows covering it."""
    k = sims.shape[1]
    acc = np.zeros((n_frames, k))
    wsum = np.zeros(n_frames)
    for (s, e), row in zip(spans, sims):
        i, j = int(s / FRAME_SECONDS), min(n_frames, int(np.ceil(e / FRAME_SECONDS)))
        if j <= i:
            continue
        x = np.linspace(-1.0, 1.0, j - i)
        w = 1.0 - 0.9 * np.abs(x)  # triangular, never zero
        acc[i:j] += w[:, None] * row[None, :]
        wsum[i:j] += w
    covered = wsum > 0
    acc[covered] /= wsum[covered, None]
    return acc, covered


def viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """Best label path through (frames, k) scores with ``penalty`` per change of label."""
    n, k = scores.shape
    if n == 0:
        return np.zeros(0, int)
    back = np.zeros((n, k), np.int32)
    total = scores[0].copy()
    for t in range(1, n):
        stay = total
        switch = total.max() - penalty
        best_prev = int(np.argmax(total))
        choose_switch = switch > stay
        back[t] = np.where(choose_switch, best_prev, np.arange(k))
        total = np.where(choose_switch, switch, stay) + scores[t]
    path = np.zeros(n, int)
    path[-1] = int(np.argmax(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def label_frames(speech_mask: np.ndarray, scores: np.ndarray, covered: np.ndarray, penalty: float
                 ) -> np.ndarray:
    """Speaker index per frame (-1 outside speech), smoothed inside each stretch of speech."""
    labels = np.full(len(speech_mask), -1, int)
    idx = np.flatnonzero(speech_mask)
    if idx.size == 0:
        return labels
    # frames no window covers (very short bursts) take the scores of the nearest covered frame
    if not covered.all() and covered.any():
        cov = np.flatnonzero(covered)
        nearest = cov[np.clip(np.searchsorted(cov, idx), 0, len(cov) - 1)]
        left = cov[np.clip(np.searchsorted(cov, idx) - 1, 0, len(cov) - 1)]
        pick = np.where(np.abs(left - idx) < np.abs(nearest - idx), left, nearest)
        scores = scores.copy()
        scores[idx] = scores[pick]
    # one Viterbi pass over the speech frames in order: pauses do not reset it, so a short
    # interjection must be clearly another speaker to be labelled as one
    labels[idx] = viterbi(scores[idx], penalty)
    return labels


def overtalk_candidates(labels: np.ndarray, probs: np.ndarray, energy: np.ndarray, radius: int, dip: float,
                        rise_db: float) -> list[int]:
    """Changes of speaker that look like overtalk rather than a quick hand-over.

    A hand-over leaves a pause the VAD sees as a dip in speech probability (below ``dip``) within
    ``radius`` frames of the change, even when the pause is too short to split the speech; overtalk
    leaves none, and two voices at once are louder than one: the frames around the change must be
    ``rise_db`` above the call's median speech level.
    """
    speech_level = float(np.median(energy[labels >= 0])) if (labels >= 0).any() else 0.0
    out = []
    for c in np.flatnonzero((labels[1:] != labels[:-1]) & (labels[1:] >= 0) & (labels[:-1] >= 0)) + 1:
        lo, hi = max(0, c - radius), min(len(labels), c + radius)
        if probs[lo:hi].min() < dip:
            continue
        if float(np.mean(energy[lo:hi])) < speech_level + rise_db:
            continue
        out.append(int(c))
    return out


def overlap_frames(labels: np.ndarray, scores: np.ndarray, changes: list[int], margin: int, ambiguity: float
                   ) -> list[tuple[int, int, int, int]]:
    """Overtalk around changes of speaker with no pause: ``(start, end, before, after)`` frames.

    Around such a change, the frames whose two speakers' scores are within ``ambiguity`` of each
    other (at most ``margin`` frames each side, at least a third of that) are taken as both speakers
    talking.
    """
    out = []
    for c in changes:
        a, b = int(labels[c - 1]), int(labels[c])
        ambiguous = np.abs(scores[:, a] - scores[:, b]) < ambiguity
        left = c
        while left > max(0, c - margin) and labels[left - 1] == a and ambiguous[left - 1]:
            left -= 1
        right = c
        while right < min(len(labels), c + margin) and labels[right] == b and ambiguous[right]:
            right += 1
        floor = max(1, margin // 3)
        left, right = min(left, c - floor), max(right, c + floor)
        out.append((max(0, left), min(len(labels), right), a, b))
    return out


def turns_from_labels(call_id: str, labels: np.ndarray, duration: float, names: list[str]) -> list[Turn]:
    """One turn per run of a speaker's label (frames labelled -1 are silence)."""
    out: list[Turn] = []
    n = len(labels)
    i = 0
    while i < n:
        if labels[i] < 0:
            i += 1
            continue
        j = i
        while j < n and labels[j] == labels[i]:
            j += 1
        start, end = i * FRAME_SECONDS, min(duration, j * FRAME_SECONDS)
        out.append(Turn(call_id=call_id, start=round(start, 3), end=round(end, 3), channel=0,
                        speaker=names[labels[i]]))
        i = j
    return out


def bridge_pauses(turns: list[Turn], gap: float) -> list[Turn]:
    """Join consecutive turns of one speaker separated by less than ``gap`` seconds of silence (a pause
    between sentences belongs to the turn: speakers take breath, annotators keep the turn whole)."""
    import dataclasses

    out: list[Turn] = []
    for t in sorted(turns, key=lambda t: t.start):
        if out and out[-1].speaker == t.speaker and 0 <= t.start - out[-1].end < gap:
            out[-1] = dataclasses.replace(out[-1], end=max(out[-1].end, t.end))
        else:
            out.append(t)
    return out


def _add_overtalk(turns: list[Turn], spans: list[tuple[int, int, int, int]], names: list[str]) -> list[Turn]:
    """Extend the two turns meeting at each overtalk span so that both cover it."""
    import dataclasses

    turns = list(turns)
    for i0, i1, a, b in spans:
        t0, t1 = i0 * FRAME_SECONDS, i1 * FRAME_SECONDS
        for k, t in enumerate(turns):
            if t.speaker == names[a] and t0 - 1e-6 <= t.end <= t1 + 1e-6:  # the turn before the change
                turns[k] = dataclasses.replace(t, end=round(max(t.end, t1), 3))
            elif t.speaker == names[b] and t0 - 1e-6 <= t.start <= t1 + 1e-6:  # the turn after it
                turns[k] = dataclasses.replace(t, start=round(min(t.start, t0), 3))
    return turns


def mono_energy_db(rec: Recording, n_frames: int) -> np.ndarray:
    """Energy (dBFS) of the mixed-down call per 32 ms VAD frame, read in windows."""
    parts = []
    for _, block in rec.windows(60.0):
        audio = block.mean(axis=0) if block.ndim == 2 else block
        pad = (-len(audio)) % 512
        audio = np.pad(audio, (0, pad)) if pad else audio
        parts.append(10 * np.log10(np.mean(np.square(audio.reshape(-1, 512), dtype=np.float64), axis=1) + 1e-12))
    energy = np.concatenate(parts) if parts else np.zeros(0)
    return np.pad(energy, (0, max(0, n_frames - len(energy))), constant_values=-120.0)[:n_frames]


# --- the backend ---------------------------------------------------------------------------------------

def diarize_embedded(rec: Recording, cfg: Settings, params: EmbeddedParams = EmbeddedParams(),
                     num_speakers: int | None = None, min_speakers: int | None = None,
                     max_speakers: int | None = None, exclude: Sequence[tuple[float, float]] = ()) -> Diarization:
    """Diarize a (mono or mixed-down) recording; speaker count from the arguments, else ``cfg``.
    ``exclude``: spans read as no speech (recorded prompts)."""
    num, lo, hi = speaker_bounds(cfg, num_speakers, min_speakers, max_speakers)
    probs = speech_probabilities(rec, None, name=cfg.vad_model)
    if exclude:
        probs = np.array(probs, copy=True)
    for a, b in exclude:
        probs[max(0, int(a / FRAME_SECONDS)):max(0, int(np.ceil(b / FRAME_SECONDS)))] = 0.0
    mask = np.zeros(len(probs), bool)
    speech = segments(probs, params.vad, duration=rec.duration)
    for a, b in speech:
        mask[int(round(a / FRAME_SECONDS)):int(round(b / FRAME_SECONDS))] = True
    spans = window_spans(speech, params)
    if not spans:
        return Diarization(turns=(), backend="embedded")
    encoder = load_encoder(cfg.embedding_model, torch_device())
    emb = embed_windows(rec, spans, encoder, params)
    weights = np.array([e - s for s, e in spans])
    labels, centroids = cluster(emb, num, lo, hi, params.same_speaker, weights, spans=spans,
                                min_speech=params.min_speaker_speech)
    sims = emb @ centroids.T
    scores, covered = frame_scores(len(probs), spans, sims)
    frame_labels = label_frames(mask, scores, covered, params.switch_penalty)
    # speakers named by first appearance: SPEAKER_00 speaks first
    order = []
    for lab in frame_labels[frame_labels >= 0]:
        if lab not in order:
            order.append(int(lab))
            if len(order) == centroids.shape[0]:
                break
    names = [""] * centroids.shape[0]
    for rank, lab in enumerate(order):
        names[lab] = speaker_label(rank)
    turns = bridge_pauses(turns_from_labels(rec.call_id, frame_labels, rec.duration, names), params.bridge_gap)
    if params.overlap_margin > 0:
        margin = int(round(params.overlap_margin / FRAME_SECONDS))
        candidates = overtalk_candidates(frame_labels, probs, mono_energy_db(rec, len(probs)),
                                         int(round(params.overtalk_radius / FRAME_SECONDS)), params.overtalk_dip,
                                         params.overtalk_rise_db)
        found = overlap_frames(frame_labels, scores, candidates, margin, params.overlap_ambiguity)
        turns = _add_overtalk(turns, found, names)
    turns = mark_overlaps(sorted(turns, key=lambda t: (t.start, t.speaker)))
    voices = {}
    for lab, name in enumerate(names):
        if name and (labels == lab).any():
            c = np.average(emb[labels == lab], axis=0, weights=weights[labels == lab])
            voices[name] = (c / (np.linalg.norm(c) + 1e-9), float(weights[labels == lab].sum()))
    return Diarization(turns=tuple(turns), backend="embedded", overlaps=tuple(overlap_spans(turns)), voices=voices)
