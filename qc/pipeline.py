"""One call through the speech front-end and QA features: a plain function the flow, the CLI, the
benchmarks and the tests all call.

``analyze_call`` decodes and validates the audio, diarizes, transcribes, assigns roles, measures the
conversation (with sentiment per turn), checks the compliance rules on the raw words, and redacts PII
from what is stored. It raises :class:`~qc.records.BadRecording` for a file that cannot be used; the caller
stores the rejection and moves on. Stage timings are reported through an optional hook and kept on
the result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from qc.audio import Recording, load_recording
from qc.call_features import CallFeatures, call_features
from qc.config import Settings
from qc.conversation import measure
from qc.diarize import diarize
from qc.encoder_states import TurnStates, encoder_width
from qc.features import turn_features
from qc.hold import find_non_talk
from qc.prompts import prompt_spans, without_prompts
from qc.records import CallMeta, CallRecord, CallResult
from qc.quality import check_call, speech_sample
from qc.redact import (PiiSpan, audio_spans, find_pii, redact_audio, redact_turns, redact_words,
                       word_mask)
from qc.diarize.embedded import load_encoder, torch_device
from qc.roles import apply_roles, assign_roles
from qc.rules import evaluate_rules, load_rules
from qc.scorecard import score_call
from qc.sentiment import score_turns
from qc.transcribe import attach_text, attribute_words, encode_turns, transcribe
from qc.voiceprint import speaker_embeddings
from qc.assets import identify_language, load_whisper

Hook = Callable[[str, float], None]


class StageTimer:
    """Collects seconds per stage and forwards each to an optional hook."""

    def __init__(self, hook: Hook | None = None):
        self.seconds: dict[str, float] = {}
        self._hook = hook

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.seconds[name] = self.seconds.get(name, 0.0) + dt
            if self._hook:
                self._hook(name, dt)


def analyze_call(meta: CallMeta, cfg: Settings, call_id: str | None = None, hook: Hook | None = None,
                 recording: Recording | None = None, voiceprint=None, enrol_voice: bool = True) -> CallResult:
    """Decode, diarize, transcribe, assign roles, measure, check the rules and redact one call.

    With ``cfg.redact_pii`` (the default) the result holds only redacted text (words, turns, rule
    evidence); with ``cfg.redact_audio`` a redacted copy of the audio is written to
    ``cfg.redacted_dir / f"{call_id}.wav"``. ``qa`` scores the rules only: the classifier's items are
    added by :func:`qc.scorecard.with_scores` once a model has scored the call. ``voiceprint``: the
    enrolled voice of the call's agent (:mod:`qc.voiceprint`), which decides the roles of a mono call;
    a two-party stereo call of a known agent returns that agent's voice in ``agent_voice`` to enrol
    (unless ``enrol_voice`` is False: the agent is enrolled enough)."""
    timer = StageTimer(hook)
    with timer.stage("decode"):
        rec = recording or load_recording(meta, cfg, call_id=call_id)
    try:
        with timer.stage("diarize"):
            diarization = diarize(rec, cfg)
        states = TurnStates(diarization.turns) if cfg.speech_features else None
        with timer.stage("transcribe"):
            words = transcribe(rec, diarization.turns, cfg, states=states)
        with timer.stage("features"):
            # what an IVR or a queue played is nobody's talk: out before roles are assigned
            talk, words, prompts, kept = without_prompts(diarization.turns, words)
            if states is not None and prompts:
                states = states.select(kept)
        if prompts and rec.layout == "mono":
            # the prompts' voice was one of the speakers counted: the parties are told apart again without it
            with timer.stage("diarize"):
                diarization = diarize(rec, cfg, exclude=[(p.start, p.end) for p in prompt_spans(prompts)])
                talk = list(diarization.turns)
                words = attribute_words([dataclasses.replace(w, speaker="") for w in words], talk)
            if states is not None:
                with timer.stage("speech_features"):
                    states = encode_turns(rec, talk, cfg)
        embeddings = None
        enrol = enrol_voice and cfg.voiceprints and bool(meta.agent_id) and rec.layout == "stereo"
        if cfg.voiceprints and voiceprint is not None and rec.layout == "mono" and diarization.voices:
            embeddings = diarization.voices  # the diarizer embedded every speaker already
        elif cfg.voiceprints and (enrol or (voiceprint is not None and rec.layout == "mono")):
            with timer.stage("voiceprint"):
                embeddings = speaker_embeddings(rec, talk, load_encoder(cfg.embedding_model, torch_device()))
        with timer.stage("features"):
            roles = assign_roles(rec, talk, words, cfg, voiceprint=voiceprint, embeddings=embeddings)
            turns, words = apply_roles(roles, talk, words)
        agent_voice = None
        if enrol and embeddings and not roles.doubt:
            agent = [s for s, role in roles.speakers.items() if role == "agent" and s in embeddings]
            agent_voice = embeddings[agent[0]] if len(agent) == 1 else None
        with timer.stage("quality"):
            # before anything reads the words: invented text is not measured, scored nor stored
            check = check_call(turns, words, rec.layout, speech_audio=lambda: speech_sample(rec, turns),
                               identify_language=lambda audio: identify_language(cfg, audio),
                               asr_language=cfg.asr_language)
            words = list(check.words)
            if roles.doubt:  # the channel map against the call's own evidence: a person decides
                check = dataclasses.replace(check, flags=check.flags + (roles.doubt,))
        with timer.stage("features"):
            turns = score_turns(attach_text(turns, words))
            non_talk = find_non_talk(rec, [*turns, *prompts]) + prompt_spans(prompts)
            metrics = measure(rec.call_id, rec.duration, turns, words, cfg.silence_threshold, non_talk)
        speech = None
        if states is not None:
            with timer.stage("speech_features"):
                speech = turn_features(rec, turns, states, encoder_width(load_whisper(cfg)), cfg.egemaps_seconds)
        pii: list[PiiSpan] = []
        if cfg.redact_pii or cfg.redact_audio:
            with timer.stage("pii"):
                pii = find_pii(words, cfg.pii_model)
        with timer.stage("rules"):
            # rules match the raw words; their evidence is stored with the PII placeholders
            card = load_rules(cfg.rules_file)
            mask = word_mask(len(words), pii) if cfg.redact_pii else None
            rule_results = evaluate_rules(card, rec.call_id, turns, words, metrics, mask)
            qa = score_call(rule_results, [], card, call_id=rec.call_id)  # model items: see with_scores
        if cfg.redact_pii:
            with timer.stage("redact"):
                words = redact_words(words, pii)
                turns = redact_turns(turns, words)
        if cfg.redact_audio:
            with timer.stage("redact_audio"):
                redact_audio(meta.path, cfg.redacted_dir / f"{rec.call_id}.wav", audio_spans(pii))
        call = CallRecord(
            call_id=rec.call_id, external_id=meta.external_id, source_path=str(meta.path),
            duration=round(rec.duration, 3), layout=rec.layout, channels=rec.source_channels,
            sample_rate=rec.source_sample_rate, agent_id=meta.agent_id, queue=meta.queue,
            started_at=meta.started_at, agent_channel=rec.agent_channel,
            role_confidence=roles.confidence, role_strategy=roles.strategy,
            layout_reason=rec.layout_reason or None, quality_flags=check.flags,
        )
        return CallResult(call=call, turns=tuple(turns), words=tuple(words), metrics=metrics,
                          rule_results=tuple(rule_results), qa=qa, timings=dict(timer.seconds), speech=speech,
                          agent_voice=agent_voice)
    finally:
        if recording is None:
            rec.close()


def analyze_with_features(meta: CallMeta, cfg: Settings, call_id: str | None = None, voiceprint=None,
                          enrol_voice: bool = True) -> tuple[CallResult, CallFeatures]:
    """:func:`analyze_call` and the call's features (:mod:`qc.call_features`: what the classifier
    reads) from the same decoded audio."""
    t0 = time.perf_counter()
    rec = load_recording(meta, cfg, call_id=call_id)
    decode = time.perf_counter() - t0
    try:
        result = analyze_call(meta, cfg, call_id=call_id, recording=rec, voiceprint=voiceprint,
                              enrol_voice=enrol_voice)
        t0 = time.perf_counter()
        features = call_features(result, rec)
        timings = {**result.timings, "decode": result.timings.get("decode", 0.0) + decode,
                   "spectrogram": time.perf_counter() - t0}
        return dataclasses.replace(result, timings=timings), features
    finally:
        rec.close()
