"""The fusion classifier: text branch + spectrogram-image branch -> one head per label.

The network knows nothing of files or labels tables: it takes a :class:`FusionInputs` batch (cached
encoder outputs and images) and returns logits per label. ``FusionConfig.modalities`` builds the
single-modality ablations with the same code (``text`` or ``audio`` alone).

Fusion (``FusionConfig.fusion``):

- ``concat``: the two branch vectors side by side, into an MLP.
- ``gated``: a learned gate per dimension decides, for each call, how much of each modality to take
  (``g * text + (1 - g) * audio``); both vectors are also kept, so the gate adds to concat.
- ``per_label`` (:class:`PerLabelClassifier`): per label, one of several fused models (e.g. with and
  without the spectrogram images) that scored best on that label when training chose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

from models.image import ImageBranch, ImageConfig
from models.text import TextBatch, TextBranch, TextConfig

Modalities = Literal["text", "audio", "both"]
FusionKind = Literal["concat", "gated", "per_label"]
REMOVED_FUSIONS = ("latent", "stacked")  # models saved with these cannot be loaded: train again


@dataclass(frozen=True)
class FusionConfig:
    text: TextConfig = field(default_factory=TextConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    modalities: Modalities = "both"
    fusion: FusionKind = "concat"
    hidden: int = 256
    dropout: float = 0.3
    modality_dropout: float = 0.25  # training only: drop one modality of a call, so both are learned
    aux_weight: float = 0.5  # fused only: each branch also has its own heads, trained with this weight,
    # so that neither branch is left behind when the other one learns faster
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
        if d.get("fusion") in REMOVED_FUSIONS or d.pop("members", 1) != 1:
            raise ValueError(f"this model uses a fusion callqc no longer has ({d.get('fusion')}, an ensemble "
                             "or late fusion): train a new one with `callqc train`")
        d.pop("stack_probs", None)
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
        # the speech features also reach each head directly, linearly (a logistic regression inside
        # the network, trained with it): on a few hundred labelled calls that linear reading is most of
        # what they can teach, and the deep part adds what it can on top
        self.speech_heads = nn.ModuleDict({label: nn.Linear(self.image.speech_inputs_dim, n)
                                           for label, n in heads.items()}
                                          ) if self.image is not None and cfg.image.speech_dim and cfg.image.speech_skip \
            else None

    def forward(self, x: FusionInputs) -> FusionOutput:
        parts = []
        if self.text is not None:
            parts.append(self.text(x.text))
        if self.image is not None:
            parts.append(self.image(x.image, x.present, x.prosody, x.speech, x.agent))
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
        logits = {label: head(h) for label, head in self.heads.items()}
        if self.speech_heads is not None:
            z = self.image.speech_inputs(x.speech, x.agent, x.present)
            logits = {label: v + self.speech_heads[label](z) for label, v in logits.items()}
        return FusionOutput(logits, aux)


class PerLabelClassifier(nn.Module):
    """Per label, one of several fused models (``cfg.parts``) predicts it (``cfg.choice``): the one
    that scored best on that label on the validation split (:func:`models.train.per_label_choice`).
    The parts read the same features, except that some may read the text's n-grams or the spectrogram
    images and others not: the composite's own config asks for them then. Each part is kept whole, so its weights
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


Classifier = FusionClassifier | PerLabelClassifier


def build_classifier(cfg: FusionConfig, heads: dict[str, int]) -> Classifier:
    """The network ``cfg`` describes, untrained."""
    if cfg.fusion == "per_label":
        return PerLabelClassifier(cfg, heads)
    return FusionClassifier(cfg, heads)
