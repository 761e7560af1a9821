"""The fusion classifier: text branch + spectrogram-image branch -> one head per label.

The network knows nothing of files or labels tables: it takes a :class:`FusionInputs` batch (cached
encoder outputs and images) and returns logits per label. ``FusionConfig.modalities`` builds the
single-modality ablations with the same code (``text`` or ``audio`` alone).

Fusion (``FusionConfig.fusion``):

- ``concat``: the two branch vectors side by side, into an MLP.
- ``gated``: a learned gate per dimension decides, for each call, how much of each modality to take
  (``g * text + (1 - g) * audio``); both vectors are also kept, so the gate adds to concat.
- ``latent`` (:class:`LatentCueFusion`): each modality says which cue of a label it hears, and a
  learned table says what label each pair of cues makes; a call whose words explain its label asks
  nothing of its voice, and the other way round. Trained as an ensemble (:class:`EnsembleClassifier`).
- ``stacked`` (late fusion, :class:`StackedClassifier`): text-only and audio-only models, each
  trained on its own, and per label a small learned layer over both modalities' log-probabilities,
  fitted on out-of-fold predictions (:mod:`models.train`). Where a cue is in only one modality, the
  other model's "I hear nothing" cannot drown it, as it can in one network over both vectors.
- ``per_label`` (:class:`PerLabelClassifier`): per label, the fused model of the kinds above that
  scored best on that label on the validation split; labels differ in where their cues are, and no
  one fusion is the best for all of them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from models.image import ImageBranch, ImageConfig
from models.text import TextBatch, TextBranch, TextConfig

Modalities = Literal["text", "audio", "both"]
FusionKind = Literal["concat", "gated", "latent", "stacked", "per_label"]


@dataclass(frozen=True)
class FusionConfig:
    text: TextConfig = field(default_factory=TextConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    modalities: Modalities = "both"
    fusion: FusionKind = "gated"
    hidden: int = 256
    dropout: float = 0.3
    modality_dropout: float = 0.25  # training only: drop one modality of a call, so both are learned
    aux_weight: float = 0.5  # fused only: each branch also has its own heads, trained with this weight,
    # so that neither branch is left behind when the other one learns faster
    members: int = 1  # stacked: models per modality; latent: models; their probabilities averaged
    stack_probs: bool = True  # stacked only: the stacker reads the probabilities beside their logarithms
    parts: tuple[tuple[str, FusionConfig], ...] = ()  # per_label only: (name, config) of each model
    choice: tuple[tuple[str, str], ...] = ()  # per_label only: (label, name of the part that predicts it)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FusionConfig:
        d = dict(data)
        image = dict(d.pop("image"))
        image["scratch_channels"] = tuple(image.get("scratch_channels", ()))
        image.setdefault("prosody", False)  # models saved before the image branch read prosody
        d.setdefault("stack_probs", False)  # stacked models saved before the stacker read probabilities
        d["parts"] = tuple((name, cls.from_json(part)) for name, part in d.get("parts", ()))
        d["choice"] = tuple((label, name) for label, name in d.get("choice", ()))
        text = dict(d.pop("text"))
        text.setdefault("ngram_buckets", 0)  # models saved before the text branch read n-grams
        return cls(text=TextConfig(**text), image=ImageConfig(**image), **d)


@dataclass
class FusionInputs:
    """A batch of calls as the network reads them."""

    text: TextBatch | None
    image: torch.Tensor | None  # scratch: (b, 2, crops, mels, width); pretrained: (b, 2, 1280)
    present: torch.Tensor | None  # (b, 2) roles that spoke
    prosody: torch.Tensor | None = None  # (b, 2, N_PROSODY), NaN where unmeasured (qc.prosody)
    speech: torch.Tensor | None = None  # (b, 2, speech_dim), NaN where unmeasured (models.data.role_speech)
    agent: torch.Tensor | None = None  # (b, 3, speech_dim): the agent's baseline (models.data.agent_stats)


@dataclass
class FusionOutput:
    logits: dict[str, torch.Tensor]  # label -> (batch, classes)
    aux: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # branch -> label -> logits (training)

    def probabilities(self) -> dict[str, torch.Tensor]:
        return {k: v.softmax(-1) for k, v in self.logits.items()}


class FusionClassifier(nn.Module):
    def __init__(self, cfg: FusionConfig, heads: dict[str, int]):
        super().__init__()
        self.cfg = cfg
        self.text = TextBranch(cfg.text) if cfg.modalities in ("text", "both") else None
        self.image = ImageBranch(cfg.image) if cfg.modalities in ("audio", "both") else None
        if cfg.modalities == "both" and cfg.fusion == "stacked":
            raise ValueError("stacked fusion is a StackedClassifier: build it with build_classifier")
        self.latent = None
        if cfg.modalities == "both":
            if cfg.text.out_dim != cfg.image.out_dim:
                raise ValueError("the two branches must have the same out_dim to be fused")
            d = cfg.text.out_dim
            fused_dim = 2 * d if cfg.fusion == "concat" else 3 * d
            self.gate = nn.Linear(2 * d, d) if cfg.fusion == "gated" else None
            if cfg.fusion == "latent":
                self.latent = LatentCueFusion(cfg, heads)
        else:
            fused_dim = cfg.text.out_dim if self.text is not None else cfg.image.out_dim
            self.gate = None
        self.trunk = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(fused_dim, cfg.hidden), nn.GELU(),
                                   nn.Dropout(cfg.dropout)) if self.latent is None else None
        self.heads = nn.ModuleDict({label: nn.Linear(cfg.hidden, n) for label, n in heads.items()}
                                   ) if self.latent is None else None
        if cfg.modalities == "both" and cfg.aux_weight > 0 and self.latent is None:
            self.aux_heads = nn.ModuleDict({
                branch: nn.ModuleDict({label: nn.Linear(dim, n) for label, n in heads.items()})
                for branch, dim in (("text", cfg.text.out_dim), ("audio", cfg.image.out_dim))})
        else:
            self.aux_heads = None
        # the speech features also reach each head directly, linearly (a logistic regression inside
        # the network, trained with it): on a few hundred labelled calls that linear reading is most of
        # what they can teach, and the deep part adds what it can on top
        self.speech_heads = nn.ModuleDict({label: nn.Linear(self.image.speech_inputs_dim, n)
                                           for label, n in heads.items()}
                                          ) if self.image is not None and cfg.image.speech_dim and cfg.image.speech_skip \
            and self.latent is None else None

    def forward(self, x: FusionInputs) -> FusionOutput:
        parts = []
        if self.text is not None:
            parts.append(self.text(x.text))
        if self.image is not None:
            parts.append(self.image(x.image, x.present, x.prosody, x.speech, x.agent))
        aux: dict[str, dict[str, torch.Tensor]] = {}
        if self.latent is not None:
            return FusionOutput(self.latent(*parts))
        if len(parts) == 2:
            t, a = parts
            if self.training and self.aux_heads is not None:
                aux = {branch: {label: head(v) for label, head in self.aux_heads[branch].items()}
                       for branch, v in (("text", t), ("audio", a))}
            if self.training and self.cfg.modality_dropout > 0:
                # drop one modality per call now and then, so neither branch is left unused
                drop = torch.rand(t.shape[0], 1) < self.cfg.modality_dropout
                which = torch.rand(t.shape[0], 1) < 0.5
                t = torch.where(drop & which, torch.zeros_like(t), t)
                a = torch.where(drop & ~which, torch.zeros_like(a), a)
            if self.gate is not None:
                g = torch.sigmoid(self.gate(torch.cat([t, a], -1)))
                h = torch.cat([g * t + (1 - g) * a, t, a], -1)
            else:
                h = torch.cat([t, a], -1)
        else:
            h = parts[0]
        h = self.trunk(h)
        logits = {label: head(h) for label, head in self.heads.items()}
        if self.speech_heads is not None:
            z = self.image.speech_inputs(x.speech, x.agent, x.present)
            logits = {label: v + self.speech_heads[label](z) for label, v in logits.items()}
        return FusionOutput(logits, aux)


class LatentCueFusion(nn.Module):
    """Fusion by latent cues (``fusion="latent"``): per label, each modality says which of ``n + 1``
    cues it hears (the label's ``n`` values and "none"), and a learned table says what label each pair
    of cues makes::

        p(y) = sum over i, j of p_text(i) * p_audio(j) * p(y | i, j)

    Where a label's value is carried by the words on some calls and by the voice on others, the
    table learns that either cue makes the label, so a call whose words explain its label asks nothing
    of the audio: the voice model learns from the calls whose voice carries it, not from calls where
    it must "hear" a label that only the words hold (the label noise that a single-modality model of
    the same calls learns from, and that a concatenation learns to rely on). The table starts as "the
    label of either cue" (``table_init`` log-odds per agreeing cue) and is learned with the branches,
    so it can as well learn "only when both" or any other mix a label has. The output logits are the
    mixture's log-probabilities.

    The table is stored divided by :data:`TABLE_SCALE`, so that it learns that many times faster than
    the weights: a training run is a few hundred steps at the learning rate of the weights, in which
    an unscaled table would move by a fraction of a logit and stay "either cue" wherever the data say
    otherwise (on one split of the classifier bench, five models read politeness, whose "no cue" voice
    sounds much like a polite one, at 0.82 to 0.86 macro-F1 with a scale of 1, at 0.84 to 0.89 with
    10). There is no modality dropout and there are no auxiliary heads: the mixture itself trains each
    modality on the calls whose label it has to explain."""

    def __init__(self, cfg: FusionConfig, heads: dict[str, int], table_init: float = 2.0):
        super().__init__()
        d = cfg.text.out_dim
        self.trunks = nn.ModuleDict({m: nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(d, cfg.hidden), nn.GELU(),
                                                      nn.Dropout(cfg.dropout)) for m in ("text", "audio")})
        self.cue_heads = nn.ModuleDict({m: nn.ModuleDict({label: nn.Linear(cfg.hidden, n + 1)
                                                          for label, n in heads.items()})
                                        for m in ("text", "audio")})
        self.tables = nn.ParameterDict({label: nn.Parameter(either_cue_table(n, table_init) / TABLE_SCALE)
                                        for label, n in heads.items()})

    def table(self, label: str) -> torch.Tensor:
        """(n + 1, n + 1, n) log p(label value | text cue, audio cue)."""
        return (self.tables[label] * TABLE_SCALE).log_softmax(-1)

    def cues(self, t: torch.Tensor, a: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """modality -> label -> (batch, n + 1) cue log-probabilities."""
        return {m: {label: head(h).log_softmax(-1) for label, head in self.cue_heads[m].items()}
                for m, h in (("text", self.trunks["text"](t)), ("audio", self.trunks["audio"](a)))}

    def forward(self, t: torch.Tensor, a: torch.Tensor) -> dict[str, torch.Tensor]:
        cues = self.cues(t, a)
        out = {}
        for label in self.tables:
            joint = cues["text"][label][:, :, None, None] + cues["audio"][label][:, None, :, None]
            out[label] = torch.logsumexp((joint + self.table(label)).flatten(1, 2), 1)
        return out


TABLE_SCALE = 10.0


def either_cue_table(n: int, strength: float) -> torch.Tensor:
    """(n + 1, n + 1, n) logits of p(label | text cue i, audio cue j): ``strength`` for the label of
    each cue (cue ``n`` is "none", which favours no label)."""
    t = torch.zeros(n + 1, n + 1, n)
    for v in range(n):
        t[v, :, v] += strength
        t[:, v, v] += strength
    return t


class StackedClassifier(nn.Module):
    """Late fusion: per modality (``branches["text"]``, ``branches["audio"]``) ``cfg.members``
    single-modality :class:`FusionClassifier` models whose probabilities are averaged, and per label a
    linear layer (``stack``) over both modalities' log-probabilities and, with ``cfg.stack_probs``, the
    probabilities themselves (:func:`stack_inputs`): logarithms add up evidence, while a probability
    saturates, so one modality's certainty that it hears nothing costs a cue in the other no more than
    its mere doubt does. The members are the cross-fitting models whose out-of-fold predictions the
    stacker was fitted on (:func:`models.train.fit_stacked`), so it is applied to the same kind of
    predictions it learned from. A new one's stacker is the plain sum of the two log-probabilities."""

    def __init__(self, cfg: FusionConfig, heads: dict[str, int]):
        super().__init__()
        if cfg.modalities != "both" or cfg.fusion != "stacked" or cfg.members < 1:
            raise ValueError("a StackedClassifier needs modalities='both', fusion='stacked' and members >= 1")
        self.cfg = cfg
        self.branches = nn.ModuleDict({m: nn.ModuleList(FusionClassifier(branch_config(cfg, m), heads)
                                                        for _ in range(cfg.members)) for m in ("text", "audio")})
        width = 4 if cfg.stack_probs else 2
        self.stack = nn.ModuleDict({label: nn.Linear(width * n, n) for label, n in heads.items()})
        with torch.no_grad():
            for label, n in heads.items():
                self.stack[label].weight.copy_(plain_sum(n, width * n))
                self.stack[label].bias.zero_()

    def branch_log_probs(self, x: FusionInputs) -> dict[str, torch.Tensor]:
        """label -> (batch, 2 * classes): the text then the audio members' mean probabilities, as logs."""
        per_modality = []
        for m in ("text", "audio"):
            per_modality.append(mean_log_probs([member(x).logits for member in self.branches[m]]))
        return {label: torch.cat([lp[label] for lp in per_modality], -1) for label in self.stack}

    def forward(self, x: FusionInputs) -> FusionOutput:
        return FusionOutput({label: self.stack[label](stack_inputs(z, self.cfg.stack_probs))
                             for label, z in self.branch_log_probs(x).items()})


def mean_log_probs(outs: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """label -> the logarithm of the mean of the models' probabilities (``outs``: each model's logits)."""
    return {label: torch.logsumexp(torch.stack([o[label].log_softmax(-1) for o in outs]), 0) - math.log(len(outs))
            for label in outs[0]}


def stack_inputs(log_probs: torch.Tensor, probs: bool) -> torch.Tensor:
    """What the stacker reads of (calls, 2 * classes) log-probabilities: them, and with ``probs`` the
    probabilities after them (calls, 4 * classes)."""
    return torch.cat([log_probs, log_probs.exp()], -1) if probs else log_probs


def plain_sum(n: int, width: int | None = None) -> torch.Tensor:
    """The stacker weight (n, ``width``, default 2 * n) that adds the two modalities' log-probabilities
    class by class (and leaves any further inputs out)."""
    w = torch.zeros(n, width or 2 * n)
    w[:, :2 * n] = torch.cat([torch.eye(n), torch.eye(n)], 1)
    return w


def branch_config(cfg: FusionConfig, modality: Literal["text", "audio"]) -> FusionConfig:
    """The single-modality model a stacked config is made of (the same encoders and sizes)."""
    return replace(cfg, modalities=modality, fusion="concat")


class EnsembleClassifier(nn.Module):
    """``cfg.members`` models of one kind (``cfg`` with ``members=1``), trained with different seeds;
    their probabilities are averaged (the output logits are the mean's logarithms). On a training
    set of a few hundred calls one model's test score swings by several points with its seed (and
    its validation split, early stopping and the kept variant with it); the mean of a few does not."""

    def __init__(self, cfg: FusionConfig, heads: dict[str, int]):
        super().__init__()
        if cfg.members < 2:
            raise ValueError("an EnsembleClassifier needs members >= 2")
        self.cfg = cfg
        self.members = nn.ModuleList(FusionClassifier(replace(cfg, members=1), heads) for _ in range(cfg.members))

    def forward(self, x: FusionInputs) -> FusionOutput:
        return FusionOutput(mean_log_probs([m(x).logits for m in self.members]))


class PerLabelClassifier(nn.Module):
    """Per label, one of several fused models (``cfg.parts``) predicts it (``cfg.choice``): the one
    that scored best on that label on the validation split (:func:`models.train.per_label_choice`).
    The parts read the same features, except that some may read the text's n-grams too (``+lex``
    variants): the composite's own config asks for them then. Each part is kept whole, so its weights
    load as they were trained."""

    def __init__(self, cfg: FusionConfig, heads: dict[str, int]):
        super().__init__()
        choice = dict(cfg.choice)
        parts = dict(cfg.parts)
        if cfg.fusion != "per_label" or set(choice) != set(heads) or not set(choice.values()) <= set(parts):
            raise ValueError("a PerLabelClassifier needs fusion='per_label' and a part chosen for every "
                             "label")
        self.cfg = cfg
        self.choice = choice
        self.parts = nn.ModuleDict({name: build_classifier(parts[name], heads)
                                    for name in dict.fromkeys(choice.values())})

    def forward(self, x: FusionInputs) -> FusionOutput:
        outs = {name: part(x).logits for name, part in self.parts.items()}
        return FusionOutput({label: outs[name][label] for label, name in self.choice.items()})


Classifier = FusionClassifier | StackedClassifier | EnsembleClassifier | PerLabelClassifier


def build_classifier(cfg: FusionConfig, heads: dict[str, int]) -> Classifier:
    """The network ``cfg`` describes, untrained."""
    if cfg.fusion == "per_label":
        return PerLabelClassifier(cfg, heads)
    if cfg.modalities == "both" and cfg.fusion == "stacked":
        return StackedClassifier(cfg, heads)
    if cfg.members > 1:
        return EnsembleClassifier(cfg, heads)
    return FusionClassifier(cfg, heads)
