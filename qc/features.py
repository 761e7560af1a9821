"""How each turn was said, in numbers a classifier reads: the call's per-turn speech features.

Per turn of the call (in the call's turn order):

- ``whisper``: the mean and standard deviation of Whisper's encoder states over the turn's frames,
  captured while transcribing (:mod:`qc.encoder_states`): the speech model's view of voice, effort and
  manner, the strongest of these features for emotion on real, speaker-independent speech;
- ``egemaps``: the 88 eGeMAPS v02 functionals (openSMILE), the field's standard paralinguistic set:
  pitch, loudness, voice quality, spectral balance and tempo, with their spread and movement;
- ``mfcc``: MFCC-40 mean and standard deviation, what the built-in baseline classifier reads.

A turn too short to measure (under :data:`MIN_SECONDS` of audio) has NaN functionals; a turn no
transcription window covered has NaN Whisper states. openSMILE costs about as much per second of audio
as a third of transcription, so each speaker's eGeMAPS are measured on at most ``egemaps_seconds`` of
their turns, spread over the call (:func:`egemaps_turns`); the other turns have NaN eGeMAPS. The features are computed once, when the call
is analysed, and stored with it, so training and rescoring never decode audio again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from qc.audio import Recording
from qc.encoder_states import TurnStates
from qc.records import ROLES, Turn, TurnFeatures

SPEECH_FEATURES_VERSION = 1
EGEMAPS_DIM = 88
N_MFCC = 40
MFCC_DIM = 2 * N_MFCC
MIN_SECONDS = 0.25  # openSMILE's functionals need a few pitch periods and a couple of 60 ms frames

_local = threading.local()


def empty_features(width: int) -> TurnFeatures:
    """The speech features of a call without turns (``width``: the Whisper encoder's)."""
    return TurnFeatures(np.zeros((0, 2), np.float32), np.zeros(0, np.int8), np.zeros((0, 2 * width), np.float16),
                        np.zeros((0, EGEMAPS_DIM), np.float32), np.zeros((0, MFCC_DIM), np.float32))


def _smile():
    """One openSMILE extractor per thread (it keeps state between calls)."""
    smile = getattr(_local, "smile", None)
    if smile is None:
        import opensmile

        smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                feature_level=opensmile.FeatureLevel.Functionals)
        _local.smile = smile
    return smile


def egemaps(audio: np.ndarray, rate: int) -> np.ndarray:
    """The 88 eGeMAPS v02 functionals of ``audio`` (mono float32 at ``rate`` Hz); NaN when shorter
    than :data:`MIN_SECONDS`."""
    if len(audio) < MIN_SECONDS * rate:
        return np.full(EGEMAPS_DIM, np.nan, np.float32)
    values = _smile().process_signal(np.ascontiguousarray(audio, np.float32), rate).to_numpy()[0]
    return values.astype(np.float32)


def mfcc_stats(audio: np.ndarray, rate: int) -> np.ndarray:
    """MFCC-40 mean and standard deviation over ``audio``'s 10 ms frames; NaN when too short."""
    if len(audio) < MIN_SECONDS * rate:
        return np.full(MFCC_DIM, np.nan, np.float32)
    import librosa

    m = librosa.feature.mfcc(y=np.asarray(audio, np.float32), sr=rate, n_mfcc=N_MFCC,
                             n_fft=int(0.025 * rate), hop_length=int(0.010 * rate))
    return np.concatenate([m.mean(1), m.std(1)]).astype(np.float32)


def turn_audio(rec: Recording, turn: Turn) -> np.ndarray:
    """The turn's audio: its own channel on a stereo call, the mixed-down call otherwise."""
    if rec.layout == "stereo":
        return rec.read(turn.start, turn.end, channel=turn.channel)
    return rec.mono(turn.start, turn.end)


def egemaps_turns(turns: Sequence[Turn], seconds: float) -> set[int]:
    """Indexes of the turns whose eGeMAPS are measured: per speaker, all of them when they add up to at
    most ``seconds``, else turns evenly spread over the speaker's turns until ``seconds`` are reached."""
    chosen: set[int] = set()
    for speaker in {t.speaker for t in turns}:
        own = [k for k, t in enumerate(turns) if t.speaker == speaker]
        total = sum(turns[k].duration for k in own)
        if total <= seconds:
            chosen.update(own)
            continue
        used = 0.0
        for i in _spread(len(own)):
            if used >= seconds:
                break
            chosen.add(own[i])
            used += turns[own[i]].duration
    return chosen


def _spread(n: int) -> np.ndarray:
    """0..n-1 in an order that covers the range evenly early: 0, n/2, n/4, 3n/4, ..."""
    order, seen = [], set()
    step = n
    while len(order) < n and step >= 1:
        for i in range(0, n, max(1, step)):
            if i not in seen:
                seen.add(i)
                order.append(i)
        step //= 2
    order += [i for i in range(n) if i not in seen]
    return np.array(order, int)


def turn_features(rec: Recording, turns: Sequence[Turn], states: TurnStates, width: int,
                  egemaps_seconds: float = 4.0) -> TurnFeatures:
    """Per-turn features of an analysed call: ``states`` are the Whisper encoder states transcription
    pooled for exactly these ``turns`` (same order); ``width``: the encoder's width; eGeMAPS on at most
    ``egemaps_seconds`` of each speaker's turns (:func:`egemaps_turns`)."""
    if len(states.n) != len(turns):
        raise ValueError(f"encoder states of {len(states.n)} turns for {len(turns)} turns")
    if not turns:
        return empty_features(width)
    role_index = {r: i for i, r in enumerate(ROLES)}
    eg, mf = [], []
    measured = egemaps_turns(turns, egemaps_seconds)
    for k, t in enumerate(turns):
        audio = turn_audio(rec, t)
        eg.append(egemaps(audio, rec.sample_rate) if k in measured else np.full(EGEMAPS_DIM, np.nan, np.float32))
        mf.append(mfcc_stats(audio, rec.sample_rate))
    return TurnFeatures(
        spans=np.array([(t.start, t.end) for t in turns], np.float32),
        roles=np.array([role_index.get(t.role, -1) for t in turns], np.int8),
        whisper=states.pooled(width).astype(np.float16),
        egemaps=np.stack(eg), mfcc=np.stack(mf))
