"""Scale-out: the same batch on a local Dask cluster of two worker processes and sequentially stores
identical warehouses, and every process loads each model once, not once per call."""

from __future__ import annotations

from pathlib import Path

import pytest

from qc.config import Settings
from tests.snapshot import snapshot, assert_same


def _loader_misses() -> dict[str, int]:
    """How many times this process constructed each model (each loader is an lru_cache)."""
    from qc.assets import _load_whisper
    from qc.pii.engine import analyzer
    from qc.sentiment import _analyzer
    from qc.vad import load_vad

    return {name: fn.cache_info().misses for name, fn in
            (("whisper", _load_whisper), ("vad", load_vad), ("pii", analyzer), ("sentiment", _analyzer))}


def _clear_loaders() -> None:
    from qc.assets import _load_whisper
    from qc.pii.engine import analyzer
    from qc.sentiment import _analyzer
    from qc.vad import load_vad

    for fn in (_load_whisper, load_vad, analyzer, _analyzer):
        fn.cache_clear()


def test_task_runner_follows_settings():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.nightly import task_runner

    threads = task_runner(Settings(max_workers=3))
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    assert task_runner(Settings(task_runner="sequential", max_workers=3))._max_workers == 1
    local = task_runner(Settings(task_runner="dask", max_workers=2))
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs == {"n_workers": 2, "threads_per_worker": 1, "processes": True}
    remote = task_runner(Settings(task_runner="dask", dask_address="tcp://10.0.0.5:8786"))
    assert remote.address == "tcp://10.0.0.5:8786"


@pytest.mark.slow
def test_importing_qc_puts_numpys_blas_on_one_thread():
    """A Dask worker runs NumPy's OpenBLAS on one thread and a sequential run on every core, and the
    thread count changes its float sums (Whisper's word probabilities differed in the 4th decimal):
    importing qc pins it, even for a NumPy loaded before with more threads."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, numpy, threadpoolctl\n"
            "def blas():\n"
            "    return [i['num_threads'] for i in threadpoolctl.threadpool_info()\n"
            "            if i['user_api'] == 'blas']\n"
            "before = blas()\n"
            "import qc, scipy.linalg\n"
            "print(json.dumps([before, blas()]))")
    env = os.environ | {"OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    before, after = json.loads(out)
    assert before == [2], out  # the check can fail: NumPy really had two threads
    assert len(after) >= 2 and set(after) == {1}, out  # NumPy's, and SciPy's loaded after


def test_models_load_once_per_process(small_stereo_inbox: Path, tmp_path: Path):
    """Warmed up, then two calls in one process: one construction of each model, before the first call."""
    from qc.inbox import scan_inbox
    from qc.pipeline import analyze_call

    from qc import warmup

    cfg = Settings(data_dir=tmp_path / "data")
    metas = scan_inbox(small_stereo_inbox).calls[:2]
    _clear_loaders()
    warmup._WARM.clear()
    loads = warmup.warm_up(cfg)
    assert {"asr", "vad", "pii", "sentiment", "spectrogram and prosody"} <= set(loads)
    assert _loader_misses() == {"whisper": 1, "vad": 1, "pii": 1, "sentiment": 1}
    assert warmup.warm_up(cfg) == {}  # warm already
    results = [analyze_call(meta, cfg) for meta in metas]
    assert all(len(r.words) > 50 for r in results)
    assert _loader_misses() == {"whisper": 1, "vad": 1, "pii": 1, "sentiment": 1}  # the calls loaded nothing


@pytest.mark.slow
def test_dask_cluster_and_sequential_runs_store_identical_warehouses(small_stereo_inbox: Path, tmp_path: Path,
                                                                     small_batch_reference: Settings):
    from distributed import Client, LocalCluster

    from flows.nightly import run_nightly

    sequential = small_batch_reference  # the batch run sequentially, in this process

    # Our own local cluster (two worker processes, one thread each) at an address, so that after the
    # run we can ask each worker how often it built each model.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = Settings(data_dir=tmp_path / "dask", task_runner="dask", max_workers=2,
                        dask_address=cluster.scheduler_address)
        par = run_nightly(small_stereo_inbox, dask)
        per_worker = client.run(_loader_misses)
    assert par.count("processed") == 3 and len(par.outcomes) == 3

    # each worker that ran calls built each model exactly once, however many calls it ran
    assert len(per_worker) == 2
    busy = [m for m in per_worker.values() if m["whisper"]]
    assert busy and all(m == {"whisper": 1, "vad": 1, "pii": 1, "sentiment": 1} for m in busy), per_worker
    print(f"model constructions per worker: {per_worker}")

    a, b = snapshot(sequential), snapshot(dask)
    assert len(a["sql"]["calls"]) == 3 and len(a["sql"]["words"]) > 300
    assert len(a["parquet"]["words"]) == len(a["sql"]["words"])
    assert_same(a, b)
