"""``retrain_qc``: labeled calls in the warehouse -> a trained, evaluated classifier, promoted only if it
beats the promoted version on labelled calls neither was trained on, with the evaluation report as a
Markdown artifact; skipped when no label changed since the promoted version was trained.

The flow only orchestrates: :func:`flows.training.retrain` does the work and can be called without
Prefect (``callqc train`` does).
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE as NO_CACHE

from flows.training import RetrainOutcome, labels_from_warehouse, retrain, unchanged_since_promoted
from models.train import TrainConfig
from qc.config import Settings, get_settings


@task(name="train-evaluate-register", cache_policy=NO_CACHE)
def train_task(cfg: Settings, train_cfg: TrainConfig, promote: bool) -> RetrainOutcome:
    from warehouse import Warehouse

    logger = get_run_logger()

    def hook(variant: str, epoch: int, loss: float, val_f1: float) -> None:
        logger.info("%s epoch %d: loss %.4f, validation macro-F1 %.3f", variant, epoch, loss, val_f1)

    with Warehouse.open(cfg) as wh:
        return retrain(cfg, wh, train_cfg, promote=promote, hook=hook)


@task(name="labels-changed", cache_policy=NO_CACHE)
def skip_reason(cfg: Settings) -> str | None:
    from warehouse import Warehouse

    with Warehouse.open(cfg) as wh:
        return unchanged_since_promoted(wh, labels_from_warehouse(wh))


@flow(name="retrain_qc", log_prints=True)
def retrain_qc(settings: Settings | None = None, train_config: TrainConfig | None = None,
               promote: bool = True, force: bool = False) -> RetrainOutcome | None:
    """Retrain the classifier on every labeled call (settings from ``QC_*`` unless given); skipped (None,
    with the reason in the run's report) when no label changed since the promoted version was trained,
    unless ``force``."""
    cfg = settings or get_settings()
    reason = None if force else skip_reason(cfg)
    if reason is not None:
        create_markdown_artifact(markdown=f"# Retraining skipped\n\n{reason}.", key="retrain-qc-report",
                                 description="callqc classifier: retraining skipped")
        get_run_logger().info("retraining skipped: %s", reason)
        return None
    tcfg = train_config or TrainConfig.from_settings(cfg, progress=False)
    outcome = train_task(cfg, tcfg, promote)
    create_markdown_artifact(markdown=outcome.markdown(), key="retrain-qc-report",
                             description=f"callqc classifier {outcome.version}")
    get_run_logger().info("version %s %s", outcome.version, "promoted" if outcome.promoted else "not promoted")
    return outcome
