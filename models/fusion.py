"""The fusion classifier: text branch + spectrogram-image branch -> one head per label.

The network knows nothing of files or labels tables: it takes a :class:`FusionInputs` batch (cached
encoder outputs and images) and returns logits per label. ``FusionConfig.modalities`` builds the
single-modality ablations with the same code (``text`` or ``audio`` alone).

Fusion (``FusionConfig.fusion``):

- ``concat``: the two branch vectors side by side, into an MLP.
- ``gated``: a learned gate per dimension decides, for each call, how much of each modality to take
  (``g * text + (1 - g) * audio``); both vectors are also kept, so the gate adds to concat.
- ``stacked`` (late fusion, :class:`StackedClassifier`): text-only and audio-only models, each
  trained on its own, and per label a small learned layer over both modalities' log-probabilities,
  fitted on out-of-fold predictions (:mod:`models.train`). Where a cue is in only one modality, the
  other model's "I hear nothing" cannot drown it, as it can in one network over both vectors.
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
FusionKind = Literal["concat", "gated", "stacked"]


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
    members: int = 1  # stacked only: models per modality, their probabilities averaged
    stack_probs: bool = True  # stacked only: the stacker reads the probabilities beside their logarithms

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FusionConfig:
        d = dict(data)
        image = dict(d.pop("image"))
        image["scratch_channels"] = tuple(image.get("scratch_channels", ()))
        image.setdefault("prosody", False)  # models saved before the image branch read prosody
        d.setdefault("stack_probs", False)  # stacked models saved before the stacker read probabilities
        return cls(text=TextConfig(**d.pop("text")), image=ImageConfig(**image), **d)


@dataclass
class FusionInputs:
    """A batch of calls as the network reads them."""

    text: TextBatch | None
    image: torch.Tensor | None  # scratch: (b, 2, crops, mels, width); pretrained: (b, 2, 1280)
    present: torch.Tensor | None  # (b, 2) roles that spoke
    prosody: torch.Tensor | None = None  # (b, 2, N_PROSODY), NaN where unmeasured (qc.prosody)


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
        if cfg.modalities == "both":
            if cfg.text.out_dim != cfg.image.out_dim:
                raise ValueError("the two branches must have the same out_dim to be fused")
            d = cfg.text.out_dim
            fused_dim = 2 * d if cfg.fusion == "concat" else 3 * d
            self.gate = nn.Linear(2 * d, d) if cfg.fusion == "gated" else None
        else:
            fused_dim = cfg.text.out_dim if self.text is not None else cfg.image.out_dim
            self.gate = None
        self.trunk = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(fused_dim, cfg.hidden), nn.GELU(),
                                   nn.Dropout(cfg.dropout))
        self.heads = nn.ModuleDict({label: nn.Linear(cfg.hidden, n) for label, n in heads.items()})
        if cfg.modalities == "both" and cfg.aux_weight > 0:
            self.aux_heads = nn.ModuleDict({
                branch: nn.ModuleDict({label: nn.Linear(dim, n) for label, n in heads.items()})
                for branch, dim in (("text", cfg.text.out_dim), ("audio", cfg.image.out_dim))})
        else:
            self.aux_heads = None

    def forward(self, x: FusionInputs) -> FusionOutput:
        parts = []
        if self.text is not None:
            parts.append(self.text(x.text))
        if self.image is not None:
            parts.append(self.image(x.image, x.present, x.prosody))
        aux: dict[str, dict[str, torch.Tensor]] = {}
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
        return FusionOutput({label: head(h) for label, head in self.heads.items()}, aux)


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
            outs = [member(x).logits for member in self.branches[m]]
            per_modality.append({label: torch.logsumexp(torch.stack([o[label].log_softmax(-1) for o in outs]), 0)
                                 - math.log(len(outs)) for label in self.stack})
        return {label: torch.cat([lp[label] for lp in per_modality], -1) for label in self.stack}

    def forward(self, x: FusionInputs) -> FusionOutput:
        return FusionOutput({label: self.stack[label](stack_inputs(z, self.cfg.stack_probs))
                             for label, z in self.branch_log_probs(x).items()})


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


Classifier = FusionClassifier | StackedClassifier


def build_classifier(cfg: FusionConfig, heads: dict[str, int]) -> Classifier:
    """The network ``cfg`` describes, untrained."""
    if cfg.modalities == "both" and cfg.fusion == "stacked":
        return StackedClassifier(cfg, heads)
    return FusionClassifier(cfg, heads)
