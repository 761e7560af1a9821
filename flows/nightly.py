"""``nightly_qc``: every new recording in an inbox -> diarized, transcribed, measured, stored.

The flow only orchestrates: it scans the inbox, hashes files to find the ones not seen before, maps
one task per call over the configured task runner (in the ``process-calls`` subflow, so that the runner
follows the settings also in a served deployment), and writes the run's report. Each call task runs
``handle_call``, a plain function (callable without Prefect) that analyses one call and stores it; a
bad call becomes a stored rejection and never stops the batch.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE as NO_CACHE

import qc
from qc.audio import content_hash
from qc.config import Settings, get_settings
from qc.inbox import in_date_range, scan_inbox
from flows.corrections import CORRECTED, keep_correction
from flows.version import code_version
from qc.call_features import FeatureStore
from qc.pipeline import analyze_with_features
from qc.records import BadRecording, CallMeta, CallResult, Rejection
from qc.voiceprint import ENROL_CALLS
from qc.warmup import warm_up
from qc.retry import retry, transient_os_error
from qc.rules import load_rules
from warehouse import Warehouse
from warehouse import parquet
from warehouse.db import transient_db_error


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one call in a run (small: it travels back from workers)."""

    external_id: str
    file: str
    status: str  # processed | rejected | skipped
    call_id: str | None = None
    reason: str = ""
    audio_seconds: float = 0.0
    seconds: float = 0.0
    layout: str | None = None
    words: int = 0
    talk_ratio_agent: float | None = None
    qa_score: float | None = None
    qa_passed: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)
    scored_by: str | None = None  # the model version that scored the call (None: no model promoted)
    quality_flags: tuple[str, ...] = ()  # what the consistency guard found wrong (qc.quality)
    load_seconds: float = 0.0  # loading models before this call (a Dask worker's first call), not in ``timings``


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    outcomes: list[CallOutcome]
    database: str
    parquet_dir: str
    processing_seconds: float = 0.0  # wall time of the whole run
    load_seconds: float = 0.0  # loading models and compiled code in the flow's process (qc.warmup)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def audio_seconds(self) -> float:
        return sum(o.audio_seconds for o in self.outcomes if o.status == "processed")

    @property
    def mean_qa_score(self) -> float | None:
        """Over the processed calls without a quality flag (a flagged call's score is the recording's)."""
        scores = [o.qa_score for o in self.outcomes
                  if o.status == "processed" and o.qa_score is not None and not o.quality_flags]
        return sum(scores) / len(scores) if scores else None

    @property
    def loading_seconds(self) -> float:
        """Seconds spent loading models and compiling code, in the flow's process and in workers: part of
        the run's wall time, in no call's stage times."""
        return self.load_seconds + sum(o.load_seconds for o in self.outcomes)

    @property
    def quality_issues(self) -> list[CallOutcome]:
        """Processed calls the consistency guard flagged."""
        return [o for o in self.outcomes if o.status == "processed" and o.quality_flags]

    @property
    def real_time_factor(self) -> float | None:
        """Wall seconds of the run per second of audio processed (below 1: faster than real time)."""
        return self.processing_seconds / self.audio_seconds if self.audio_seconds > 0 else None

    def scored_by_line(self) -> str:
        """Which model versions scored the processed calls, in words."""
        processed = [o for o in self.outcomes if o.status == "processed"]
        versions: dict[str, int] = {}
        for o in processed:
            if o.scored_by:
                versions[o.scored_by] = versions.get(o.scored_by, 0) + 1
        unscored = sum(1 for o in processed if not o.scored_by)
        parts = [f"{n} calls scored by model {v}" for v, n in sorted(versions.items())]
        if unscored:
            parts.append(f"{unscored} not scored (no model promoted, or scoring failed: see the log)")
        return "; ".join(parts) or "-"

    @property
    def flagged(self) -> int:
        """Processed calls without a quality flag whose QA verdict is a fail."""
        return sum(1 for o in self.outcomes if o.status == "processed" and o.qa_passed is False
                   and not o.quality_flags)


@functools.lru_cache(maxsize=4)
def _open_warehouse(url: str) -> Warehouse:
    """One engine per process and database (threads share it; each Dask worker opens its own)."""
    return Warehouse.from_url(url)


def open_warehouse(cfg: Settings) -> Warehouse:
    return _open_warehouse(cfg.db_url)


def handle_call(meta: CallMeta, call_id: str, cfg: Settings, run_id: str) -> CallOutcome:
    """Analyse one call and store it (SQL + Parquet); a failure is stored as a rejection.

    Warehouse writes that fail transiently (a dropped database connection, SQLite busy, an I/O error on
    the Parquet share) are retried with backoff (``cfg.retry_attempts``, ``cfg.retry_delay``); a write
    that still fails raises, and the flow reports the call as failed without marking it done."""
    wh = open_warehouse(cfg)
    # a Dask worker loads what calls need before its first one (the flow's own process did already)
    loads = warm_up(cfg) if cfg.task_runner == "dask" else {}
    t0 = time.perf_counter()

    def store(what: str, fn, transient=transient_db_error) -> None:
        retry(fn, transient, attempts=cfg.retry_attempts, delay=cfg.retry_delay, what=f"{what} {meta.external_id}")

    def reject(reason: str) -> CallOutcome:
        rej = Rejection(file=str(meta.path), reason=reason[:2000], external_id=meta.external_id, call_id=call_id)
        store("storing the rejection of", lambda: wh.save_rejection(rej, run_id))
        return CallOutcome(meta.external_id, str(meta.path), "rejected", call_id, reason)

    try:
        # the agent's enrolled voice tells the agent of a mono call (qc.voiceprint)
        enrolled = wh.voiceprint(meta.agent_id) if cfg.voiceprints and meta.agent_id else None
        # (enrolment stops once a voiceprint averages ENROL_CALLS calls: it costs an embedding pass)
        # roles an analyst corrected on an earlier analysis of this audio are kept (flows.corrections)
        corrected = wh.load_call(call_id).turns if call_id and wh.role_strategy(call_id) == CORRECTED else None
        result, features = analyze_with_features(meta, cfg, call_id=call_id,
                                                 voiceprint=enrolled[0] if enrolled else None,
                                                 enrol_voice=enrolled is None or enrolled[1] < ENROL_CALLS)
        if corrected is not None:
            result, features, _ = keep_correction(result, features, corrected, cfg)
    except BadRecording as exc:
        return reject(exc.reason)
    except Exception as exc:  # one broken call must not stop the batch: store why, keep going
        logging.getLogger("callqc").error("call %s failed:\n%s", meta.external_id, traceback.format_exc())
        return reject(f"internal error: {type(exc).__name__}: {exc}")
    # The classifier's features first (training and `callqc rescore` read them), then the scores of the
    # promoted model, then Parquet, then SQL: the SQL row is what marks a call as done, so a crash in
    # between leaves the call unseen and the rerun rewrites the same files.
    store_features = FeatureStore.for_settings(cfg)
    store("storing the features of", lambda: store_features.save(features), transient_os_error)
    result, scored_by = _score(result, cfg, wh, store_features)
    store("writing Parquet for", lambda: parquet.write_call(result, cfg.parquet_dir), transient_os_error)
    store("storing", lambda: wh.save_call(result, run_id))
    if result.agent_voice is not None and meta.agent_id:  # a two-party stereo call: the agent's channel
        voice, seconds = result.agent_voice
        store("enrolling the agent's voice from", lambda: wh.enrol_voice(meta.agent_id, result.call_id, voice, seconds))
    return CallOutcome(
        external_id=meta.external_id, file=str(meta.path), status="processed", call_id=result.call_id,
        audio_seconds=result.call.duration, seconds=time.perf_counter() - t0, layout=result.call.layout,
        words=len(result.words), talk_ratio_agent=result.metrics.talk_ratio_agent, timings=result.timings,
        qa_score=result.qa.score if result.qa else None, qa_passed=result.qa.passed if result.qa else None,
        scored_by=scored_by, quality_flags=result.call.quality_flags, load_seconds=sum(loads.values()),
    )


def _score(result: CallResult, cfg: Settings, wh: Warehouse, features: FeatureStore) -> tuple[CallResult, str | None]:
    """The call scored by the promoted model (if any) and the version that scored it. A model that
    fails to score leaves the call stored without model scores (logged; ``callqc rescore
    --missing-only`` fills them in later) rather than losing the night's analysis of it."""
    from flows.scoring import score_new_call

    t0 = time.perf_counter()
    try:
        scored, version = score_new_call(cfg, wh, result, features, load_rules(cfg.rules_file))
    except Exception:
        logging.getLogger("callqc").error("scoring call %s failed; stored without new model scores:\n%s",
                                          result.call_id, traceback.format_exc())
        scored, version = result, None
    if version is None:
        # Scores an earlier run stored stay in SQL (the call's upsert keeps other versions): Parquet,
        # rewritten from this result, must hold them too.
        return dataclasses.replace(result, scores=wh.call_scores(result.call_id)), None
    return dataclasses.replace(scored, timings={**scored.timings, "classify": time.perf_counter() - t0}), version


@task(name="hash-file", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def hash_file(meta: CallMeta) -> str | None:
    try:
        return content_hash(meta.path)
    except (IsADirectoryError, PermissionError, FileNotFoundError):
        return None  # the call task reports why, through the decoder's own checks


@task(name="process-call", cache_policy=NO_CACHE)
def process_call(meta: CallMeta, call_id: str, cfg: Settings, run_id: str) -> CallOutcome:
    return handle_call(meta, call_id, cfg, run_id)


def plan_calls(metas: list[CallMeta], hashes: list[str | None], known: set[str], reprocess: bool
               ) -> tuple[list[tuple[CallMeta, str | None]], list[CallOutcome]]:
    """Which calls to process: new audio only (unless ``reprocess``), each distinct audio once."""
    todo: list[tuple[CallMeta, str | None]] = []
    skipped: list[CallOutcome] = []
    first_file: dict[str, str] = {}
    for meta, digest in zip(metas, hashes):
        if digest is not None and digest in first_file:
            skipped.append(CallOutcome(meta.external_id, str(meta.path), "skipped", digest,
                                       f"same audio as {first_file[digest]}"))
            continue
        if digest is not None:
            first_file[digest] = str(meta.path)
        if digest is not None and digest in known and not reprocess:
            skipped.append(CallOutcome(meta.external_id, str(meta.path), "skipped", digest, "already processed"))
            continue
        todo.append((meta, digest))
    return todo, skipped


def report_markdown(summary: RunSummary) -> str:
    rtf = summary.real_time_factor
    mean = summary.mean_qa_score
    lines = [f"# callqc nightly run `{summary.run_id}`", "",
             f"- processed: {summary.count('processed')}", f"- rejected: {summary.count('rejected')}",
             f"- skipped (seen before): {summary.count('skipped')}",
             f"- failed (not stored, retried next run): {summary.count('failed')}",
             f"- audio: {summary.audio_seconds / 3600:.3f} h",
             f"- processing: {summary.processing_seconds:.1f} s wall, real-time factor "
             + (f"{rtf:.3f}" if rtf is not None else "-"),
             f"- loading models and compiled code: {summary.loading_seconds:.1f} s (once per process; in no "
             "call's stage times)",
             "- mean QA score: " + (f"{mean:.1f}" if mean is not None else "-"),
             "- classifier: " + summary.scored_by_line(),
             f"- flagged (failed QA): {summary.flagged}",
             f"- quality issues (stored, left out of the QA statistics): {len(summary.quality_issues)}", ""]
    flagged = [o for o in summary.outcomes if o.status == "processed" and o.qa_passed is False
               and not o.quality_flags]
    if flagged:
        lines += ["## Flagged", "", "| call | score |", "| --- | --- |"]
        lines += [f"| `{o.external_id}` | {o.qa_score:.1f} |" for o in flagged] + [""]
    if summary.quality_issues:
        lines += ["## Quality issues", "", "| call | words | what is wrong |", "| --- | ---: | --- |"]
        lines += [f"| `{o.external_id}` | {o.words} | {'; '.join(o.quality_flags).replace('|', '/')} |"
                  for o in summary.quality_issues] + [""]
    rejected = [o for o in summary.outcomes if o.status in ("rejected", "failed")]
    if rejected:
        lines += ["## Rejected", "", "| file | status | reason |", "| --- | --- | --- |"]
        lines += [f"| `{o.file}` | {o.status} | {o.reason.replace('|', '/')} |" for o in rejected]
    return "\n".join(lines)


def task_runner(cfg: Settings):
    """The Prefect task runner the settings ask for."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if cfg.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if cfg.dask_address:
            return DaskTaskRunner(address=cfg.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": cfg.max_workers, "threads_per_worker": 1,
                                              "processes": True})
    return ThreadPoolTaskRunner(max_workers=1 if cfg.task_runner == "sequential" else cfg.max_workers)


def run_nightly(inbox: Path, cfg: Settings, reprocess: bool = False, date_from: date | None = None,
                date_to: date | None = None) -> RunSummary:
    """Run the flow (its per-call work on the task runner the settings ask for)."""
    return nightly_qc(str(inbox), reprocess=reprocess, settings=cfg, date_from=date_from, date_to=date_to)


@flow(name="process-calls", log_prints=True)
def process_calls(todo: list[tuple[CallMeta, str | None]], cfg: Settings, run_id: str) -> list[CallOutcome]:
    """One ``process-call`` task per call, mapped over the flow's task runner."""
    futures = [process_call.submit(meta, digest or "", cfg, run_id) for meta, digest in todo]
    outcomes = []
    for (meta, digest), future in zip(todo, futures):
        try:
            outcomes.append(future.result())
        except Exception as exc:  # e.g. the warehouse stayed unreachable through every retry
            # not stored, so not marked done: the next run processes the call again
            outcomes.append(CallOutcome(meta.external_id, str(meta.path), "failed", digest,
                                        f"not stored: {type(exc).__name__}: {exc}"[:2000]))
    return outcomes


@flow(name="nightly_qc", log_prints=True)
def nightly_qc(inbox: str, reprocess: bool = False, settings: Settings | None = None,
               date_from: date | None = None, date_to: date | None = None) -> RunSummary:
    """Process every new recording in ``inbox`` and store the results (settings: from ``QC_*``).

    ``date_from``/``date_to`` (inclusive) limit the run to calls of those days (a backfill): the day
    is ``started_at`` from calls.csv, else the file's modification time (UTC)."""
    cfg = settings or get_settings()
    logger = get_run_logger()
    load_rules(cfg.rules_file)  # a broken rules file stops the run here, not once per call
    wh = open_warehouse(cfg)
    run_id = wh.start_run(cfg.public_dict(), code_version())
    t0 = time.perf_counter()
    scan = in_date_range(scan_inbox(Path(inbox)), date_from, date_to)
    outcomes: list[CallOutcome] = []
    for rej in scan.rejections:
        wh.save_rejection(rej, run_id)
        outcomes.append(CallOutcome(rej.external_id or rej.file, rej.file, "rejected", None, rej.reason))
    hashes = [f.result() for f in hash_file.map(scan.calls)] if scan.calls else []
    digests = [h for h in hashes if h]
    # Seen means stored in both SQL and Parquet: a run killed between the two redoes the call.
    known = wh.known_call_ids(digests) & parquet.known_call_ids(cfg.parquet_dir, digests)
    todo, skipped = plan_calls(scan.calls, hashes, known, reprocess)
    outcomes += skipped
    logger.info("inbox %s: %d calls, %d to process, %d skipped, %d rejected up front", inbox,
                len(scan.calls), len(todo), len(skipped), len(scan.rejections))
    loaded = 0.0
    if todo and cfg.task_runner != "dask":  # threads share this process's models; Dask workers load their own
        loads = warm_up(cfg)
        loaded = sum(loads.values())
        if loads:
            logger.info("models and compiled code loaded in %.1f s: %s", loaded,
                        ", ".join(f"{k} {v:.1f} s" for k, v in loads.items()))
    if todo:
        # A subflow, so that the per-call task runner follows the settings also when this flow runs from
        # a deployment (which loads the flow from its module and would drop a ``with_options`` runner).
        outcomes += process_calls.with_options(task_runner=task_runner(cfg))(todo, cfg, run_id)
        parquet.compact(cfg.parquet_dir)  # one file per dataset and day instead of one per call
    summary = RunSummary(run_id=run_id, outcomes=outcomes, database=cfg.db_url.split("://")[0],
                         parquet_dir=str(cfg.parquet_dir), processing_seconds=time.perf_counter() - t0,
                         load_seconds=loaded)
    markdown = report_markdown(summary)
    wh.finish_run(run_id, processed=summary.count("processed"), rejected=summary.count("rejected"),
                  skipped=summary.count("skipped"), audio_seconds=summary.audio_seconds,
                  processing_seconds=summary.processing_seconds, mean_qa_score=summary.mean_qa_score,
                  flagged=summary.flagged, real_time_factor=summary.real_time_factor,
                  report_markdown=markdown)
    create_markdown_artifact(markdown=markdown, key="nightly-qc-report", description="callqc nightly run")
    return summary
