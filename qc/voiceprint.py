"""Agent voiceprints: which speaker of a mono call is the agent, by the agent's voice.

A voiceprint is one GE2E speaker embedding per ``agent_id`` (the diarizer's shipped Resemblyzer
encoder), the duration-weighted mean of the agent's speech over the calls it was enrolled from: the
agent channel of two-party stereo calls, whose roles the channel map gives. On a mono call whose agent
is enrolled, each speaker's embedding is compared with the voiceprint and the closer one is the agent;
the phrase heuristic and the first speaker remain the fallback where no agent is enrolled or the voices
do not decide.

Voiceprints are biometric data. ``QC_VOICEPRINTS=false`` turns enrolment and matching off;
``callqc agents forget AGENT`` deletes one; nothing else about a voice is stored (the per-call speaker
embeddings live only while the call is analysed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from qc.audio import Recording
from qc.records import RoleAssignment, Turn

ENROL_SECONDS = 60.0  # of a speaker's speech embedded per call (longest turns first)
ENROL_CALLS = 20  # an agent's voiceprint stops growing after this many calls
MIN_SPEECH_S = 3.0  # a speaker with less speech is not compared (nor enrolled)
# the agent's voice against the other speaker's: similarity margin -> probability the roles are right;
# a logistic fitted on the synthetic corpora (bench.roles)
MARGIN_SCALE = 0.025
MARGIN_DECIDES = 0.05  # a smaller margin does not decide: the phrase heuristic does
ONE_SPEAKER_MATCH = 0.75  # a lone speaker this close to the voiceprint is the agent


def speaker_embeddings(rec: Recording, turns: Sequence[Turn], encoder) -> dict[str, tuple[np.ndarray, float]]:
    """speaker -> (L2-normalised mean embedding, seconds embedded), over up to ``ENROL_SECONDS`` of each
    speaker's turns (on the speaker's own channel in a stereo call)."""
    from qc.diarize.embedded import TARGET_DBFS

    out: dict[str, tuple[np.ndarray, float]] = {}
    for speaker in dict.fromkeys(t.speaker for t in turns):
        own = sorted((t for t in turns if t.speaker == speaker), key=lambda t: t.start - t.end)
        spans, total = [], 0.0
        for t in own:
            take = min(t.end - t.start, ENROL_SECONDS - total)
            if take < 0.4:
                continue
            spans.append((t.start, t.start + take, t.channel))
            total += take
            if total >= ENROL_SECONDS:
                break
        if total < MIN_SPEECH_S:
            continue
        mels, weights = [], []
        for a, b, ch in spans:
            audio = rec.read(a, b, channel=ch if rec.channels > 1 else 0)
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
            if rms <= 0:
                continue
            audio = audio * (10 ** (TARGET_DBFS / 20) / rms)
            mel = encoder.mel(audio.astype(np.float32))
            for i in range(0, max(1, len(mel) - 40), 160):  # 1.6 s windows, as the diarizer embeds
                mels.append(mel[i:i + 160])
                weights.append(len(mels[-1]))
        if not mels:
            continue
        emb = encoder.embed(mels)
        mean = np.average(emb, axis=0, weights=np.asarray(weights, float))
        out[speaker] = (mean / (np.linalg.norm(mean) + 1e-9), total)
    return out


def margin_confidence(margin: float) -> float:
    """The probability that the closer voice is the agent, given how much closer it is."""
    return round(1.0 / (1.0 + math.exp(-margin / MARGIN_SCALE)), 3)


def by_voiceprint(embeddings: dict[str, tuple[np.ndarray, float]], voiceprint: np.ndarray,
                  speakers: Sequence[str]) -> RoleAssignment | None:
    """Roles from the agent's voiceprint, or None when the voices do not decide."""
    vp = voiceprint / (np.linalg.norm(voiceprint) + 1e-9)
    sims = {s: float(e @ vp) for s, (e, _) in embeddings.items()}
    if not sims:
        return None
    if len(speakers) == 1:
        s = speakers[0]
        if s not in sims:
            return None
        role = "agent" if sims[s] >= ONE_SPEAKER_MATCH else "customer"
        return RoleAssignment(speakers={s: role}, confidence=margin_confidence(abs(sims[s] - ONE_SPEAKER_MATCH)),
                              strategy="voiceprint")
    ranked = sorted(sims, key=lambda s: -sims[s])
    if len(ranked) < 2 or len([s for s in speakers if s in sims]) < 2:
        return None
    margin = sims[ranked[0]] - sims[ranked[1]]
    if margin < MARGIN_DECIDES:
        return None
    roles = {s: ("agent" if s == ranked[0] else "customer") for s in speakers}
    return RoleAssignment(speakers=roles, confidence=margin_confidence(margin), strategy="voiceprint")


def update(mean: np.ndarray | None, seconds: float, new: np.ndarray, new_seconds: float
           ) -> tuple[np.ndarray, float]:
    """A voiceprint with one more enrolment folded in (duration-weighted; normalised)."""
    if mean is None or seconds <= 0:
        v = new
    else:
        v = (np.asarray(mean) * seconds + new * new_seconds) / (seconds + new_seconds)
    return v / (np.linalg.norm(v) + 1e-9), seconds + new_seconds
