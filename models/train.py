"""Training: labeled calls -> a fused classifier, the single-modality models beside it, and their
evaluation on one test split.

The split is by call, stratified on the labels, into train / validation / test (or a test set given
by the caller, e.g. a cross-validation fold); with ``groups`` (e.g. each call's agent) a group's calls
stay in one split, so validation hears voices training did not. Each variant trains on the same train
split with AdamW, linear warmup then linear decay, class-weighted cross-entropy per head (calls missing a
label are masked out of that head), and early stopping on the validation mean macro-F1; seeds are fixed.

By default one fused model (``fused_concat``: the text branch's and the audio branch's vectors side
by side into one network) trains with and without the spectrogram images in its audio branch
(``fused_concat-images``), and the better one is kept, per label (:class:`models.fusion.PerLabelClassifier`
where labels differ); ``text_only`` and ``audio_only`` train beside them for the report: what each
modality alone scores on the same split. On a small labelled set the choice is by grouped
cross-validation of the training and validation examples instead of one validation split. The audio
branch reads each role's speech features (Whisper encoder statistics and eGeMAPS, the agent's against
that agent's own baseline), prosody and spectrogram images; the text branch reads the turns through
MiniLM and, in the lexical channel, their hashed words. ``fused_gated`` (a learned gate between the
branches) can be named in ``TrainConfig.variants``; ``<variant>+lex`` turns the lexical channel on
for a variant where the configuration has it off, ``<variant>-images`` leaves the images out.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn

from models.data import Prepared, concat_prepared, prepare, speech_dim
from models.evaluate import EvalReport, LabelMetrics, evaluate_predictions, mean_macro_f1
from qc.call_features import FeatureStore, call_of, parse_example
from models.fusion import Classifier, FusionClassifier, FusionConfig, PerLabelClassifier
from models.schema import MISSING, LabelSchema

log = logging.getLogger("callqc.models")
MIN_LABELED_CALLS = 5  # one each for validation and test, the rest (at least 3) to train on
EpochHook = Callable[[str, int, float, float], None]  # (variant, epoch, train loss, val mean macro-F1)


@dataclass(frozen=True)
class TrainConfig:
    model: FusionConfig = field(default_factory=FusionConfig)
    # one fused model with and one without the spectrogram images (the data decide, per label, what the
    # images earn); the single-modality models beside them say what each modality adds (the training
    # report compares them)
    variants: tuple[str, ...] = ("fused_concat", "fused_concat-images", "text_only", "audio_only")
    lexical_buckets: int = 8192  # "+lex" variants, where the model has the lexical channel off: its buckets
    per_label: bool = True  # keep, per label, the fused variant best on it on validation (fused_per_label)
    # L2 penalty on the speech features' linear heads, as a logistic regression's: speech_l2 / (training
    # calls) times the squared weights, added to the mean cross-entropy (5: scikit-learn's C = 0.1)
    speech_l2: float = 5.0
    # under this many training + validation examples one validation split is too small to choose among
    # the fused variants: they are compared by grouped cross-validation on those examples instead
    select_cv_below: int = 500
    select_folds: int = 3
    max_epochs: int = 60
    refit: bool = True  # after early stopping, train again on training + validation calls for as many epochs
    patience: int = 10  # epochs without a better validation score before stopping
    batch_size: int = 32
    lr: float = 2e-3
    encoder_lr: float = 1e-4  # the MiniLM layers trained (finetune); LoRA adapters use ``lr``
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    val_frac: float = 0.15
    test_frac: float = 0.15
    seed: int = 0
    torch_threads: int = 0  # 0: torch's default
    progress: bool = True  # a progress bar per variant, on a terminal

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["model"] = self.model.to_json()
        return d

    @classmethod
    def from_settings(cls, settings, text_mode: str = "frozen", train_layers: int = 1,
                      image_encoder: str | None = None, ngram_buckets: int | None = None, **overrides) -> "TrainConfig":
        """The training run the settings ask for (their encoders and torch threads): one place for
        ``callqc train``, the ``retrain_qc`` flow and the bench. ``overrides`` set TrainConfig fields."""
        from models.image import ImageConfig
        from models.text import TextConfig

        if text_mode not in ("frozen", "finetune", "lora"):
            raise ValueError(f"text mode must be frozen, finetune or lora, not {text_mode!r}")
        text = TextConfig(encoder=settings.text_encoder, mode=text_mode, train_layers=train_layers)  # type: ignore[arg-type]
        if ngram_buckets is not None:
            text = replace(text, ngram_buckets=ngram_buckets)
        model = FusionConfig(text=text,
                             image=ImageConfig(encoder=image_encoder or settings.image_encoder))
        overrides.setdefault("torch_threads", settings.torch_threads)
        return cls(model=model, **overrides)


LEX = "+lex"  # variant suffix: the same variant with the text branch's lexical channel on


def lexical(base: FusionConfig, buckets: int) -> FusionConfig:
    """``base`` with the text branch's lexical channel on (kept as it is where it is on already)."""
    if base.text.ngram_buckets:
        return base
    return replace(base, text=replace(base.text, ngram_buckets=buckets))


NO_IMAGES = "-images"  # variant suffix: the same variant without the spectrogram images in its audio branch


def variant_config(base: FusionConfig, variant: str, lexical_buckets: int = 8192) -> FusionConfig:
    """The model a variant trains: ``text_only``, ``audio_only``, ``fused_<fusion>``, any of them with
    the suffix ``+lex`` (the text branch's lexical channel on, ``lexical_buckets`` buckets) or
    ``-images`` (the audio branch without the spectrogram images: speech features and prosody)."""
    if variant.endswith(NO_IMAGES):
        return variant_config(replace(base, image=replace(base.image, images=False)), variant.removesuffix(NO_IMAGES),
                              lexical_buckets)
    if variant.endswith(LEX):
        return variant_config(lexical(base, lexical_buckets), variant.removesuffix(LEX))
    if variant == "text_only":
        return replace(base, modalities="text")
    if variant == "audio_only":
        return replace(base, modalities="audio")
    if variant in ("fused_concat", "fused_gated"):
        return replace(base, modalities="both", fusion=variant.removeprefix("fused_"))
    raise ValueError(f"unknown variant {variant!r}")


def with_speech(cfg: TrainConfig, store: FeatureStore, call_ids: Sequence[str]) -> TrainConfig:
    """``cfg`` with the audio branch reading the speech features the calls have stored (their width;
    unread where none has any, or where ``speech_dim`` is set to -1 to leave them out)."""
    if cfg.model.image.speech_dim < 0:
        return replace(cfg, model=replace(cfg.model, image=replace(cfg.model.image, speech_dim=0)))
    missing = [c for c in call_ids if not store.has_speech(c)]
    if 0 < len(missing) < len(call_ids):
        log.warning("%d of %d calls have no stored speech features (their audio branch reads them as "
                    "unmeasured): compute them with `callqc features backfill`", len(missing), len(call_ids))
    dim = speech_dim(store, [c for c in call_ids if c not in set(missing)])
    return replace(cfg, model=replace(cfg.model, image=replace(cfg.model.image, speech_dim=dim)))


@dataclass(frozen=True)
class LabeledData:
    """Labeled calls and spans of calls: ``rows`` of ``(example id, label, value)`` (the latest label per
    example and label); an example id is a call id or a span's (:func:`qc.call_features.span_id`)."""

    rows: tuple[tuple[str, str, str], ...]

    @property
    def call_ids(self) -> list[str]:
        return sorted({c for c, _, _ in self.rows})

    def turn_labels(self) -> tuple[str, ...]:
        """The labels every row of which names a span of a call (an utterance), not a whole call."""
        spans: dict[str, bool] = {}
        for example, label, _ in self.rows:
            spans[label] = spans.get(label, True) and parse_example(example)[1] is not None
        return tuple(sorted(lab for lab, only in spans.items() if only))

    def fingerprint(self, extra: str = "") -> str:
        h = hashlib.sha256()
        for row in sorted(self.rows):
            h.update("\x1f".join(row).encode() + b"\x1e")
        h.update(extra.encode())
        return h.hexdigest()


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def strata(targets: Mapping[str, np.ndarray]) -> list[np.ndarray | None]:
    """Stratification keys, finest first: all labels' values together, then each label alone (the one
    with the most values first), then None (no stratification)."""
    n = len(next(iter(targets.values()))) if targets else 0
    keys: list[np.ndarray | None] = [np.array(["|".join(str(targets[lab][i]) for lab in targets) for i in range(n)])]
    keys += [targets[lab].astype(str) for lab in sorted(targets, key=lambda k: -len(set(targets[k].tolist())))]
    keys.append(None)
    return keys


def split_calls(call_ids: Sequence[str], targets: Mapping[str, np.ndarray], cfg: TrainConfig,
                test: Sequence[str] | None = None, groups: Mapping[str, str] | None = None) -> Split:
    """Stratified split by example (a call or a span of one: ``call_ids`` are example ids). With ``test`` given, those calls are the test split and the rest is
    split into train and validation. Strata: all labels' values together, falling back to one label,
    then to none, where a stratum would be too small. With ``groups`` (call id -> group, e.g. agent),
    a group is wholly in one split where there are groups enough (three or more), so that early
    stopping and model choice see unheard voices, as the model will."""
    from sklearn.model_selection import train_test_split

    ids = np.array(list(call_ids))
    keys = strata(targets)
    spans = any(parse_example(str(c))[1] is not None for c in ids)
    # the spans of one call are never on both sides of a split (they share its voice and context)
    group_of = None if groups is None and not spans else \
        (lambda c: (groups or {}).get(call_of(c)) or f"call:{call_of(c)}")

    def cut(pool: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if group_of is not None:
            names = sorted({group_of(c) for c in pool})
            if len(names) >= 3:
                rng = np.random.default_rng(seed)
                take = max(1, int(round(frac * len(names))))
                held = set(rng.permutation(names)[:take].tolist())
                inside = np.array([group_of(c) in held for c in pool])
                if 0 < inside.sum() < len(pool):
                    return pool[~inside], pool[inside]
        where = np.array([pos[c] for c in pool])
        for key in keys:
            try:
                a, b = train_test_split(pool, test_size=frac, random_state=seed,
                                        stratify=None if key is None else key[where])
                return a, b
            except ValueError:
                continue
        raise ValueError("cannot split")

    pos = {c: i for i, c in enumerate(ids)}
    if test is not None:
        test_set = set(test)
        rest = np.array([c for c in ids if c not in test_set])
        train, val = cut(rest, cfg.val_frac / (1 - cfg.test_frac), cfg.seed)
        return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test_set & set(ids))))
    rest, te = cut(ids, cfg.test_frac, cfg.seed)
    train, val = cut(rest, cfg.val_frac / (1 - cfg.test_frac), cfg.seed + 1)
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(te)))


def class_weights(y: np.ndarray, n: int) -> torch.Tensor:
    """Inverse class frequency over the labeled calls, mean 1 over the classes seen."""
    y = y[y != MISSING]
    counts = np.bincount(y, minlength=n).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max(1, (counts > 0).sum()), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def batches(order: np.ndarray, size: int) -> list[np.ndarray]:
    """``order`` in batches of ``size``; a last batch of one call joins the one before (batch norm cannot
    train on a single call: a training split of 33 calls in batches of 32 would stop with an error)."""
    out = [order[s : s + size] for s in range(0, len(order), size)]
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2:] = [np.concatenate(out[-2:])]
    return out


@torch.no_grad()
def predict(model: Classifier, prep: Prepared, batch_size: int = 64, log_probs: bool = False
            ) -> dict[str, np.ndarray]:
    """label -> (n calls, classes) probabilities (``log_probs``: their logarithms, computed as such)."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(prep.call_ids), batch_size):
        logits = model(prep.batch(range(s, min(s + batch_size, len(prep.call_ids))))).logits
        for k, v in logits.items():
            out.setdefault(k, []).append((v.log_softmax(-1) if log_probs else v.softmax(-1)).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _scores(model: Classifier, prep: Prepared, y: Mapping[str, np.ndarray], schema: LabelSchema
            ) -> dict[str, LabelMetrics]:
    return _scores_and_loss(model, prep, y, schema)[0]


def _scores_and_loss(model: Classifier, prep: Prepared, y: Mapping[str, np.ndarray], schema: LabelSchema
                     ) -> tuple[dict[str, LabelMetrics], float]:
    """Metrics per label, and the cross-entropy summed over the labels (each the mean over its labeled
    calls)."""
    logp = predict(model, prep, log_probs=True)
    loss = 0.0
    for lab, lp in logp.items():
        known = y[lab] != MISSING
        if known.any():
            loss -= float(lp[known, y[lab][known]].mean())
    return evaluate_predictions(schema, y, {k: v.argmax(1) for k, v in logp.items()}), loss


def fit(cfg: TrainConfig, model_cfg: FusionConfig, schema: LabelSchema, train: Prepared,
        y_train: Mapping[str, np.ndarray], val: Prepared, y_val: Mapping[str, np.ndarray], name: str = "model",
        hook: EpochHook | None = None) -> tuple[FusionClassifier, dict[str, object]]:
    """Train one model; returns it with the weights of its best validation epoch, and its history."""
    from tqdm.auto import tqdm

    seed_everything(cfg.seed)
    model = FusionClassifier(model_cfg, schema.sizes())
    if model.image is not None and model_cfg.image.prosody and train.prosody is not None:
        model.image.fit_prosody_norm(train.prosody)
    if model.image is not None and model_cfg.image.speech_dim and train.speech is not None:
        model.image.fit_speech_norm(train.speech)
    enc = [p for n, p in model.named_parameters() if p.requires_grad and ".top." in n and "lora_" not in n]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not (".top." in n and "lora_" not in n)]
    groups = [{"params": rest, "lr": cfg.lr}] + ([{"params": enc, "lr": cfg.encoder_lr}] if enc else [])
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, int(np.ceil(len(train.call_ids) / cfg.batch_size)))
    total = steps_per_epoch * cfg.max_epochs
    warm = max(1, int(cfg.warmup_frac * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    losses = {lab: nn.CrossEntropyLoss(weight=class_weights(y_train[lab], n), ignore_index=MISSING)
              for lab, n in schema.sizes().items()}
    yt = {lab: torch.from_numpy(v) for lab, v in y_train.items()}
    rng = np.random.default_rng(cfg.seed)
    best, best_loss, best_state, best_epoch, history = -1.0, np.inf, copy.deepcopy(model.state_dict()), 0, []
    # disable=None: the bar shows on a terminal only
    bar = tqdm(range(cfg.max_epochs), desc=name, disable=None if cfg.progress else True, leave=False)
    for epoch in bar:
        model.train()
        order = rng.permutation(len(train.call_ids))
        total_loss = 0.0
        for idx in batches(order, cfg.batch_size):
            out = model(train.batch(idx))
            loss = torch.zeros(())
            for lab, fn in losses.items():
                target = yt[lab][idx]
                if bool((target != MISSING).any()):
                    loss = loss + fn(out.logits[lab], target)
                    for branch in out.aux.values():
                        loss = loss + model_cfg.aux_weight * fn(branch[lab], target)
            if model.speech_heads is not None and cfg.speech_l2 > 0:
                l2 = sum((head.weight ** 2).sum() for head in model.speech_heads.values())
                loss = loss + cfg.speech_l2 / len(train.call_ids) * l2
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
        scores, val_loss = _scores_and_loss(model, val, y_val, schema)
        val_f1 = mean_macro_f1(scores)
        history.append({"epoch": epoch, "loss": total_loss / len(order), "val_macro_f1": val_f1,
                        "val_loss": val_loss})
        bar.set_postfix(loss=f"{total_loss / len(order):.3f}", val_f1=f"{val_f1:.3f}")
        if hook:
            hook(name, epoch, total_loss / len(order), val_f1)
        # better: a higher macro-F1, or the same with a lower loss (a small validation split often ties,
        # and the first epoch to reach a score is rarely the best trained one)
        if val_f1 > best + 1e-4 or (val_f1 >= best - 1e-4 and val_loss < best_loss):
            best, best_loss, best_epoch = max(best, val_f1), val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    info = {"best_epoch": best_epoch, "val_macro_f1": best, "epochs": len(history), "history": history,
            "val_scores": {lab: asdict(m) for lab, m in _scores(model, val, y_val, schema).items()}}
    if cfg.refit and len(val.call_ids):
        # the validation calls, once they have chosen the epoch count, are worth more as training data:
        # a few hundred labelled calls cannot spare a sixth of them
        both = concat_prepared(train, val)
        y_both = {lab: np.concatenate([y_train[lab], y_val[lab]]) for lab in y_train}
        model, _ = fit(replace(cfg, refit=False, max_epochs=best_epoch + 1, patience=best_epoch + 2), model_cfg,
                       schema, both, y_both, val, y_val, name=f"{name} (refit)")
        info["refit_calls"] = len(both.call_ids)
    return model, info


def cv_scores(cfg: TrainConfig, model_cfg: FusionConfig, schema: LabelSchema, prep: Prepared,
              y: Mapping[str, np.ndarray], groups: Mapping[str, str] | None, folds: int) -> dict[str, LabelMetrics]:
    """Out-of-fold metrics of one variant on ``prep`` (the training and validation examples): ``folds``
    folds grouped like the splits (an agent's examples, a call's spans together), each model early-stopped
    on a validation share of its own training folds."""
    from models.resampling import grouped_folds

    ids = prep.call_ids
    group_of = [(groups or {}).get(call_of(c)) or f"call:{call_of(c)}" for c in ids]
    first = max(schema.names, key=lambda lab: int((y[lab] != MISSING).sum()))
    pred = {lab: np.full(len(ids), MISSING) for lab in schema.names}
    pos = {c: i for i, c in enumerate(ids)}
    quiet = replace(cfg, refit=False, progress=False)
    for held in grouped_folds(group_of, y[first], folds, cfg.seed):
        rest = np.setdiff1d(np.arange(len(ids)), held)
        inner = split_calls([ids[i] for i in rest], {lab: v[rest] for lab, v in y.items()}, cfg, test=(),
                            groups=groups if groups is not None else {})
        tr, va = [pos[c] for c in inner.train], [pos[c] for c in inner.val]
        model, _ = fit(quiet, model_cfg, schema, prep.subset(tr), {lab: v[tr] for lab, v in y.items()},
                       prep.subset(va), {lab: v[va] for lab, v in y.items()}, name="cv")
        for lab, p in predict(model, prep.subset(list(held))).items():
            pred[lab][held] = p.argmax(1)
    return evaluate_predictions(schema, y, pred)


def per_label_choice(val: Mapping[str, Mapping[str, LabelMetrics]], preference: Sequence[str]
                     ) -> dict[str, str]:
    """label -> the variant with the best validation macro-F1 on it (``val``: variant -> label ->
    metrics); a tie goes to the variant earlier in ``preference`` (the one best on all labels first)."""
    labels = next(iter(val.values())).keys()
    rank = {v: i for i, v in enumerate(preference)}
    return {lab: max(preference, key=lambda v: (round(val[v][lab].macro_f1, 6), -rank[v])) for lab in labels}


def per_label_model(choice: Mapping[str, str], models: Mapping[str, Classifier], schema: LabelSchema
                    ) -> PerLabelClassifier:
    """A :class:`PerLabelClassifier` predicting each label with ``models[choice[label]]`` (trained)."""
    used = list(dict.fromkeys(choice.values()))
    first = models[used[0]].cfg
    # the composite reads what its parts read: n-grams where any part's text branch does
    text = next((models[v].cfg.text for v in used if models[v].cfg.text.ngram_buckets), first.text)
    # and the spectrogram images where any part's audio branch does (a "-images" part ignores them)
    image = next((models[v].cfg.image for v in used if models[v].cfg.image.images), first.image)
    cfg = replace(first, text=text, image=image, fusion="per_label", parts=tuple((v, models[v].cfg) for v in used),
                  choice=tuple(choice.items()))
    model = PerLabelClassifier(cfg, schema.sizes())
    for v in used:
        model.parts[v].load_state_dict(models[v].state_dict())
    model.eval()
    return model


@dataclass
class TrainResult:
    """The kept model and everything needed to store, compare and explain it."""

    model: Classifier
    config: TrainConfig
    schema: LabelSchema
    split: Split
    report: EvalReport
    fingerprint: str
    histories: dict[str, dict[str, object]]
    seconds: dict[str, float]  # prepare + per variant training seconds
    models: dict[str, Classifier]  # every variant trained
    agents: Mapping[str, str] | None = None  # call id -> agent, as given to train_classifier
    data_fingerprint: str = ""  # of the labels alone (LabeledData.fingerprint): what the model learned from
    turn_labels: tuple[str, ...] = ()  # labels learned from spans only (labelled turns): a call's is their aggregate

    @property
    def model_config(self) -> FusionConfig:
        return self.model.cfg


def train_classifier(data: LabeledData, store: FeatureStore, cfg: TrainConfig = TrainConfig(),
                     test_call_ids: Sequence[str] | None = None, hook: EpochHook | None = None,
                     groups: Mapping[str, str] | None = None, agents: Mapping[str, str] | None = None
                     ) -> TrainResult:
    """Train every variant in ``cfg.variants`` on the same split and keep the best fused one (by
    validation score). Calls without stored features are left out (logged). ``test_call_ids``: use
    these calls (which must be in ``data``) as the test split instead of a share of ``data``.
    ``groups``: call id -> group (an agent, a queue, a day): the splits keep a group's calls together.
    ``agents``: call id -> agent for every stored call, labelled or not: each agent's speech baseline
    is drawn from all of theirs (:func:`models.data.agent_stats`)."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    schema = LabelSchema.from_rows(data.rows)
    if not schema.labels:
        raise ValueError("no label has two or more values: nothing to learn")
    ids = store.available(data.call_ids)
    missing = len(data.call_ids) - len(ids)
    if missing:
        log.warning("%d labeled calls have no stored features and are left out", missing)
    if len(ids) < MIN_LABELED_CALLS:
        raise ValueError(f"{len(ids)} labeled calls with stored features: training needs at least "
                         f"{MIN_LABELED_CALLS} (a training, a validation and a test split)")
    cfg = with_speech(cfg, store, ids)
    targets = schema.encode(ids, data.rows)
    split = split_calls(ids, targets, cfg, test=test_call_ids, groups=groups)
    pos = {c: i for i, c in enumerate(ids)}

    def y(part: Sequence[str]) -> dict[str, np.ndarray]:
        idx = [pos[c] for c in part]
        return {lab: v[idx] for lab, v in targets.items()}

    seconds: dict[str, float] = {}
    histories: dict[str, dict[str, object]] = {}
    models: dict[str, Classifier] = {}
    variants: dict[str, dict[str, LabelMetrics]] = {}
    prepared: dict[str, Prepared] = {}  # by the inputs a variant reads: prepared once, shared

    def inputs(mcfg: FusionConfig) -> dict[str, Prepared]:
        key = json.dumps([mcfg.modalities, asdict(mcfg.text), asdict(mcfg.image)], sort_keys=True)
        if key not in prepared:
            prepared[key] = prepare(store, ids, mcfg, agents=agents)
        return {name: prepared[key].subset([pos[c] for c in getattr(split, name)]) for name in ("train", "val", "test")}

    def vconfig(variant: str) -> FusionConfig:
        return variant_config(cfg.model, variant, cfg.lexical_buckets)

    def parts_of(variant: str) -> dict[str, Prepared]:
        t0 = time.perf_counter()
        out = inputs(vconfig(variant))
        seconds.setdefault(f"prepare.{variant}", time.perf_counter() - t0)
        return out

    order = list(dict.fromkeys(cfg.variants))
    if cfg.model.text.ngram_buckets:  # every variant reads n-grams already: a "+lex" one would repeat another
        order = list(dict.fromkeys(v.replace(LEX, "") for v in order))
    for variant in order:
        parts = parts_of(variant)
        t0 = time.perf_counter()
        model, hist = fit(cfg, vconfig(variant), schema, parts["train"], y(split.train),
                          parts["val"], y(split.val), name=variant, hook=hook)
        seconds[f"train.{variant}"] = time.perf_counter() - t0
        histories[variant] = hist
        models[variant] = model
        variants[variant] = _scores(model, parts["test"], y(split.test), schema)
    fused = [v for v in order if v.startswith("fused")] or order
    both = [v for v in fused if v.startswith("fused")]  # they read the same inputs: one model can hold them
    chosen_on = len(split.train) + len(split.val)
    # (and at least a few examples per fold: a handful of calls is not cross-validated at all)
    by_cv = len(both) > 1 and cfg.select_folds > 1 and 10 * cfg.select_folds <= chosen_on < cfg.select_cv_below
    if by_cv:  # a small labelled set: choose on out-of-fold predictions of all training + validation examples
        inner = [pos[c] for c in (*split.train, *split.val)]
        try:
            for v in both:
                t0 = time.perf_counter()
                key = json.dumps([vconfig(v).modalities, asdict(vconfig(v).text), asdict(vconfig(v).image)],
                                 sort_keys=True)
                scores = cv_scores(cfg, vconfig(v), schema, prepared[key].subset(inner),
                                   {lab: t[inner] for lab, t in targets.items()}, groups, cfg.select_folds)
                histories[v]["cv_scores"] = {lab: asdict(m) for lab, m in scores.items()}
                histories[v]["cv_macro_f1"] = mean_macro_f1(scores)
                seconds[f"select.{v}"] = time.perf_counter() - t0
        except ValueError as exc:  # too few groups (agents) or examples for the folds: one validation split
            log.warning("choosing on the validation split: %s", exc)
            by_cv = False
            for v in both:
                histories[v].pop("cv_scores", None)
                histories[v].pop("cv_macro_f1", None)
    score_key = "cv_macro_f1" if by_cv else "val_macro_f1"
    kept = max(fused, key=lambda v: float(histories[v].get(score_key, histories[v]["val_macro_f1"])))  # type: ignore[arg-type]
    if cfg.per_label and len(both) > 1:
        # cross-validated scores (small sets), else validation scores of the models as early stopping saw
        # them (a refit model has trained on the validation calls)
        key = "cv_scores" if by_cv else "val_scores"
        val = {v: {lab: LabelMetrics(**m) for lab, m in histories[v][key].items()}  # type: ignore[union-attr]
               if key in histories[v] else _scores(models[v], parts_of(v)["val"], y(split.val), schema)
               for v in both}
        # on a tie, the kept variant, then the one better on validation as a whole
        preference = sorted(both, key=lambda v: (v != kept, -float(histories[v]["val_macro_f1"])))  # type: ignore[arg-type]
        choice = per_label_choice(val, preference)
        if len(set(choice.values())) > 1:
            t0 = time.perf_counter()
            model = per_label_model(choice, models, schema)
            name = "fused_per_label"
            models[name] = model
            parts = inputs(model.cfg)
            val_f1 = mean_macro_f1(_scores(model, parts["val"], y(split.val), schema))
            histories[name] = {"choice": choice, "val_macro_f1": val_f1}
            variants[name] = _scores(model, parts["test"], y(split.test), schema)
            seconds[f"train.{name}"] = time.perf_counter() - t0
            kept = name
    report = EvalReport(variant=kept, variants=variants, test_call_ids=split.test)
    fp = data.fingerprint(json.dumps([cfg.to_json(), list(split.test)], sort_keys=True, default=str))
    return TrainResult(models[kept], cfg, schema, split, report, fp, histories, seconds, models, agents,
                       data.fingerprint(), data.turn_labels())
