"""Roles on mono calls: right or wrong, and how sure the front end said it was, with and without the
agents' voiceprints.

    python -m bench.roles [--seed 77] [--calls 24] [--out DIR]

Synthetic calls (one TTS voice per agent id): each agent is enrolled from up to two of their stereo
calls (:func:`qc.voiceprint.speaker_embeddings` on the agent channel), then every mono call of the
seed is analysed twice over the same decoded audio and diarization: as it is (the agent greets first)
and cut to start just before the customer's first turn (the customer speaks first, no greeting). For
each, the roles come from the phrase heuristic (no voiceprint) and from the voiceprint. Printed: the
share of calls with their roles right per condition, every wrong call's confidence, and the
calibration table (calls binned by confidence: mean confidence against the share right).
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import qc  # noqa: E402,F401  (telemetry off first)


def _agent_speaker(turns, truth_turns) -> str | None:
    """The diarized speaker whose talk overlaps the truth agent's the most."""
    best: dict[str, float] = {}
    for t in turns:
        for a, b, role in truth_turns:
            if role == "agent":
                best[t.speaker] = best.get(t.speaker, 0.0) + max(0.0, min(b, t.end) - max(a, t.start))
    return max(best, key=best.get) if best else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--calls", type=int, default=24, help="Scenario indices scanned (each gives a mono call).")
    args = ap.parse_args(argv)

    import numpy as np
    import soundfile as sf

    from qc.audio import load_recording
    from qc.config import Settings
    from qc.diarize import diarize
    from qc.diarize.embedded import load_encoder, torch_device
    from qc.records import CallMeta
    from qc.roles import assign_roles
    from qc.synth import make_call
    from qc.transcribe import transcribe
    from qc.voiceprint import by_voiceprint, speaker_embeddings, update

    work = Path(tempfile.mkdtemp(prefix="bench-roles-"))
    cfg = Settings(data_dir=work / "data")
    encoder = load_encoder(cfg.embedding_model, torch_device())
    prints: dict[str, tuple[np.ndarray, float, int]] = {}
    rows = []  # (condition, strategy, confidence, right)
    for index in range(args.calls):
        truth, wav = make_call(args.seed, index, "stereo", None)
        agent = truth.scenario["agent_id"]
        if prints.get(agent, (None, 0.0, 0))[2] < 2:  # enrol from the first two stereo calls of each agent
            path = work / f"s{index}.wav"
            path.write_bytes(wav)
            rec = load_recording(CallMeta(external_id=path.stem, path=path, layout="stereo",
                                          agent_channel=truth.agent_channel), cfg)
            turns = diarize(rec, cfg).turns
            emb = speaker_embeddings(rec, [t for t in turns if t.channel == truth.agent_channel], encoder)
            if emb:
                voice, seconds = next(iter(emb.values()))
                mean, total, n = prints.get(agent, (None, 0.0, 0))
                v, s = update(mean, total, voice, seconds)
                prints[agent] = (v, s, n + 1)
            continue  # a call enrolled from is not scored
        truth, wav = make_call(args.seed, index, "mono", None)
        x, sr = sf.read(io.BytesIO(wav), dtype="float32")
        cut = min(t.start for t in truth.turns if t.role == "customer") - 0.3
        for condition, audio, shift in (("agent first", x, 0.0), ("customer first", x[int(cut * sr):], cut)):
            path = work / f"m{index}-{condition.split()[0]}.wav"
            sf.write(path, audio, sr)
            rec = load_recording(CallMeta(external_id=path.stem, path=path), cfg)
            diarization = diarize(rec, cfg)
            turns = diarization.turns
            words = transcribe(rec, turns, cfg)
            truth_turns = [(t.start - shift, t.end - shift, t.role) for t in truth.turns if t.end > shift]
            agent_speaker = _agent_speaker(turns, truth_turns)
            heuristic = assign_roles(rec, turns, words, cfg)
            rows.append((condition, "no voiceprint", heuristic.strategy, heuristic.confidence,
                         heuristic.role_of(agent_speaker) == "agent"))
            if agent in prints:
                emb = diarization.voices or speaker_embeddings(rec, turns, encoder)  # as qc.pipeline does
                voiced = assign_roles(rec, turns, words, cfg, voiceprint=prints[agent][0], embeddings=emb)
                rows.append((condition, "voiceprint", voiced.strategy, voiced.confidence,
                             voiced.role_of(agent_speaker) == "agent"))
            rec.close()
        print(f"call {index} done ({len(rows)} rows)", flush=True)

    print("\n## roles right on mono calls\n")
    print("| call | roles from | calls | right | wrong calls' confidence |")
    print("| --- | --- | ---: | ---: | --- |")
    for condition in ("agent first", "customer first"):
        for how in ("no voiceprint", "voiceprint"):
            sel = [r for r in rows if r[0] == condition and r[1] == how]
            if not sel:
                continue
            wrong = sorted(r[3] for r in sel if not r[4])
            strategies = sorted({r[2] for r in sel})
            print(f"| {condition} | {how} ({', '.join(strategies)}) | {len(sel)} | "
                  f"{sum(r[4] for r in sel) / len(sel):.2f} | {', '.join(f'{c:.2f}' for c in wrong) or '-'} |")
    print("\n## by strategy\n")
    print("| strategy | calls | mean confidence | share right |")
    print("| --- | ---: | ---: | ---: |")
    for strategy in sorted({r[2] for r in rows}):
        sel = [r for r in rows if r[2] == strategy]
        print(f"| {strategy} | {len(sel)} | {np.mean([r[3] for r in sel]):.2f} | {np.mean([r[4] for r in sel]):.2f} |")
    print("\nrows (condition, roles from, strategy, confidence, right):")
    for r in rows:
        print("  " + ", ".join(str(x) for x in r))
    print("\n## calibration (every call and condition above)\n")
    print("| confidence | calls | mean confidence | share right |")
    print("| --- | ---: | ---: | ---: |")
    for lo, hi in ((0.0, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        sel = [r for r in rows if lo <= r[3] < hi]
        if sel:
            print(f"| {lo:.1f}-{min(hi, 1.0):.1f} | {len(sel)} | {np.mean([r[3] for r in sel]):.2f} | "
                  f"{np.mean([r[4] for r in sel]):.2f} |")


if __name__ == "__main__":
    main()
