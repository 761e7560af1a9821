"""The classifier's features of stored calls, computed again from their audio and their stored analysis.

A call analysed before the current features existed (or whose features file was lost) cannot be
trained on or scored by a model that reads them. ``callqc run --reprocess`` analyses such calls again
from the start; :func:`backfill_features` does only what the features need: it decodes the audio,
encodes the stored turns' windows with Whisper (no decoding of text, no diarization, no PII search,
:func:`qc.transcribe.encode_turns`) and measures the turns, then stores the features beside the call.
The stored analysis (turns, roles, words, scores) is not touched, so a role corrected by hand stays.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qc.config import Settings

log = logging.getLogger("callqc.flows")


@dataclass
class BackfillReport:
    """What a backfill did: calls whose features it stored, calls already current, calls it could not
    do with the reason (the audio is gone or changed since the call was analysed, or it no longer decodes
    as it did)."""

    done: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [f"features computed for {len(self.done)} calls, {len(self.current)} already current, "
                 f"{len(self.failed)} failed ({self.seconds:.1f} s)"]
        lines += [f"  {call_id}: {reason}" for call_id, reason in sorted(self.failed.items())]
        if self.done:
            lines.append("score them with the promoted model: `callqc rescore`")
        return "\n".join(lines)


def stale_calls(cfg: Settings, call_ids: Sequence[str]) -> list[str]:
    """The calls among ``call_ids`` whose stored features are missing or older than the current ones."""
    from qc.call_features import FeatureStore

    store = FeatureStore.for_settings(cfg)
    return [c for c in call_ids if not store.current(c, speech=cfg.speech_features)]


def backfill_features(cfg: Settings, call_ids: Sequence[str] | None = None, everything: bool = False,
                      on_call: Callable[[str, str], None] | None = None) -> BackfillReport:
    """Compute and store the features of the stored calls that need them (``call_ids``: only these;
    ``everything``: also those already current). One call failing never stops the others; a killed
    backfill run again carries on where it stopped (each call's file is written atomically).
    ``on_call(call_id, outcome)`` hears of each call as it is done."""
    from warehouse import Warehouse

    t0 = time.perf_counter()
    report = BackfillReport()
    with Warehouse.open(cfg) as wh:
        wanted = list(call_ids) if call_ids is not None else wh.call_ids()
        unknown = sorted(set(wanted) - wh.known_call_ids(wanted))
        for call_id in unknown:
            report.failed[call_id] = "no such call in the warehouse"
        wanted = [c for c in wanted if c not in unknown]
        todo = wanted if everything else stale_calls(cfg, wanted)
        report.current = [c for c in wanted if c not in set(todo)]
        for call_id in todo:
            try:
                _backfill_one(cfg, wh.load_call(call_id))
            except BackfillError as exc:
                report.failed[call_id] = str(exc)
                log.warning("features of call %s not computed: %s", call_id, exc)
            else:
                report.done.append(call_id)
            if on_call is not None:
                on_call(call_id, report.failed.get(call_id, "done"))
    report.seconds = time.perf_counter() - t0
    return report


class BackfillError(Exception):
    """A call whose features cannot be computed from what is stored, with the reason."""


def _backfill_one(cfg: Settings, result) -> None:  # type: ignore[no-untyped-def]
    from qc.call_features import FeatureStore, call_features
    from qc.assets import load_whisper
    from qc.audio import content_hash, load_recording
    from qc.encoder_states import encoder_width
    from qc.features import turn_features
    from qc.records import BadRecording, CallMeta
    from qc.transcribe import encode_turns

    c = result.call
    path = Path(c.source_path)
    if not path.is_file():
        raise BackfillError(f"audio not found at {path}: analyse the call again from its file "
                            "(`callqc run INBOX --reprocess`)")
    if content_hash(path) != c.call_id:
        raise BackfillError(f"{path} changed since the call was analysed")
    meta = CallMeta(external_id=c.external_id, path=path, agent_id=c.agent_id, queue=c.queue,
                    started_at=c.started_at)
    try:
        rec = load_recording(meta, cfg, call_id=c.call_id)
        if rec.layout != c.layout:  # calls.csv named the layout when the call was analysed
            rec.close()
            rec = load_recording(dataclasses.replace(meta, layout=c.layout, agent_channel=c.agent_channel), cfg,
                                 call_id=c.call_id)
    except BadRecording as exc:
        raise BackfillError(f"the audio no longer decodes: {exc}") from exc
    try:
        if rec.layout != c.layout:
            raise BackfillError(f"the audio now reads as {rec.layout}, the call was analysed as {c.layout}: "
                                "analyse it again (`callqc run INBOX --reprocess`)")
        speech = None
        if cfg.speech_features:
            model = load_whisper(cfg)
            states = encode_turns(rec, result.turns, cfg, model)
            speech = turn_features(rec, result.turns, states, encoder_width(model), cfg.egemaps_seconds)
        FeatureStore.for_settings(cfg).save(call_features(dataclasses.replace(result, speech=speech), rec))
    finally:
        rec.close()
