"""WhisperX's transcription over a list of 16 kHz mono WAV files, timed per file; run by ``bench.suite``
inside the bench-only WhisperX environment (its own torch), so it imports nothing of callqc.

    <whisperx venv>/bin/python bench/_whisperx_run.py JOB.json OUT.json

JOB: ``{"model": CT2 dir, "files": [...], "device": "cpu", "compute_type": "int8", "threads": 2,
"batch_size": 8}``. OUT: load seconds, then per file: seconds (load_audio + transcribe, VAD included),
audio seconds, text. Offline: the local CT2 model and the VAD weights WhisperX ships; no alignment
model (that one comes from a hub).
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")


def main(job_path: str, out_path: str) -> int:
    job = json.loads(open(job_path).read())
    import whisperx

    t0 = time.perf_counter()
    model = whisperx.load_model(job["model"], job["device"], compute_type=job["compute_type"], language="en",
                                threads=job["threads"], local_files_only=True,
                                asr_options={"condition_on_previous_text": False})
    load = time.perf_counter() - t0
    # warm-up on the first file's first seconds, as the other two get
    first = whisperx.load_audio(job["files"][0])
    model.transcribe(first[: 16000 * 20], batch_size=job["batch_size"], language="en")
    files = []
    for path in job["files"]:
        t0 = time.perf_counter()
        audio = whisperx.load_audio(path)
        result = model.transcribe(audio, batch_size=job["batch_size"], language="en")
        seconds = time.perf_counter() - t0
        files.append({"file": path, "seconds": seconds, "audio_seconds": len(audio) / 16000,
                      "text": " ".join(s["text"].strip() for s in result["segments"])})
    with open(out_path, "w") as fh:
        json.dump({"load_seconds": load, "version": getattr(whisperx, "__version__", "3.8.6"), "files": files}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
