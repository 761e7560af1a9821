"""The text branch: the shipped MiniLM encoder over a call's turns, pooled per role.

Long calls are not truncated: every turn is encoded on its own (a turn longer than ``chunk_tokens``
is cut into overlapping windows, each encoded), and the turn vectors of each role are pooled (mean
and max), so a phrase said once anywhere in the call still reaches the classifier.

Three ways to train it (``TextConfig.mode``):

- ``frozen``: the encoder is not trained; the pooled turn vectors are computed once per call and
  cached, and only the layers above them learn.
- ``finetune``: the top ``train_layers`` transformer layers are trained; the hidden states below them
  do not change between epochs, so they are computed once per call and cached.
- ``lora``: LoRA adapters (``peft``) on the query/value projections of the top ``train_layers``
  layers; the lower layers are cached as for ``finetune``.

Beside the encoder, a lexical channel (``ngram_buckets`` > 0, on by default; ``callqc train
--ngram-buckets 0`` turns it off): each role's words and word pairs, hashed into buckets
(:func:`role_ngrams`), through a small learned low-rank map, added to the branch's vector. A
mean-pooled sentence vector blurs one short phrase among the rest of its turn ("look, I already told
you" before a question about the account), while the phrase's words themselves are unmistakable: the
words that make a label (a greeting, a set apology, a competitor's name) are read as such. Hashing
needs no vocabulary fitted or stored, so a model reads any words, and is the same in every process.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from qc.assets import text_encoder_path

log = logging.getLogger("callqc.models")
N_ROLES = 2
TextMode = Literal["frozen", "finetune", "lora"]


NGRAM_BUCKETS = 8192  # the lexical channel's hashed buckets per role, by default

@dataclass(frozen=True)
class TextConfig:
    encoder: str = "minilm"  # alias, local path or hub id (see qc.assets.text_encoder_path)
    mode: TextMode = "frozen"
    train_layers: int = 1  # top layers trained (finetune) or adapted (lora); unused when frozen
    chunk_tokens: int = 96  # tokens per encoded window (a turn longer than this is windowed)
    max_windows: int = 96  # per call; more are sampled evenly over the call, with a warning
    lora_r: int = 8
    lora_alpha: int = 16
    turn_dim: int = 128  # each window's vector is mapped by a learned MLP before pooling over the role's turns
    out_dim: int = 256
    ngram_buckets: int = NGRAM_BUCKETS  # lexical channel: hashed word 1-2 grams per role (0: off)
    ngram_rank: int = 32  # ... mapped through this many dimensions

    def ngram_key(self) -> str:
        return f"ngrams-{NGRAM_VERSION}-{self.ngram_buckets}"

    @property
    def cached_layers(self) -> int:
        """How many of the encoder's layers run once and are cached (all of them when frozen)."""
        return 0 if self.mode == "frozen" else self.train_layers

    def cache_key(self) -> str:
        what = f"{self.encoder}|{self.cached_layers}|{self.chunk_tokens}|{self.max_windows}"
        return "minilm-" + hashlib.sha256(what.encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=2)
def load_encoder(name: str):
    """(tokenizer, model) of the text encoder, in eval mode (loaded once per process)."""
    from transformers import AutoModel, AutoTokenizer

    path = text_encoder_path(name)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    model.eval()
    return tok, model


LENGTH_BUCKET = 8  # frozen encoder: windows per batch, grouped by length
NGRAM_VERSION = 3  # how role_ngrams reads text (a change invalidates the cached n-grams)


def role_ngrams(texts: Sequence[str], roles: Sequence[int], buckets: int, n_roles: int = 2) -> np.ndarray:
    """(n_roles, buckets) float32: per role, its turns' lowercased words and word pairs hashed into
    ``buckets`` (signed 32-bit MurmurHash3, as scikit-learn's HashingVectorizer), counts log-scaled
    and each row scaled so that its non-zero entries have a root mean square of 1, whatever the
    call's length: a phrase's grams then move the first layer as fast as the encoder's layer-normed
    inputs do (rows of unit length, about 0.1 an entry, learned several times slower on the bench
    and on a toy phrase). Zeros for a role that said nothing."""
    from sklearn.feature_extraction.text import HashingVectorizer

    out = np.zeros((n_roles, buckets), np.float32)
    per_role = [" ".join(t for t, r in zip(texts, roles) if r == k and t) for k in range(n_roles)]
    hv = HashingVectorizer(n_features=buckets, ngram_range=(1, 2), alternate_sign=False, norm=None,
                           lowercase=True, dtype=np.float32)
    counts = np.log1p(hv.transform(per_role).toarray())
    active = np.maximum((counts > 0).sum(1, keepdims=True), 1)
    rms = np.sqrt((counts**2).sum(1, keepdims=True) / active)
    np.divide(counts, rms, out=out, where=rms > 0)
    return out


def windows(tok, texts: Sequence[str], roles: Sequence[int], cfg: TextConfig
            ) -> tuple[list[list[int]], list[int], list[int]]:
    """Token windows of the turns: (token ids with [CLS]/[SEP], role per window, turn per window)."""
    body = cfg.chunk_tokens - 2
    ids_out: list[list[int]] = []
    role_out: list[int] = []
    turn_out: list[int] = []
    for k, (text, role) in enumerate(zip(texts, roles)):
        if role < 0 or not text:
            continue
        ids = tok(text, add_special_tokens=False)["input_ids"]
        step = max(1, body * 3 // 4)
        for s in range(0, max(1, len(ids) - body + step), step):
            piece = ids[s : s + body]
            if not piece:
                break
            ids_out.append([tok.cls_token_id, *piece, tok.sep_token_id])
            role_out.append(int(role))
            turn_out.append(k)
    if len(ids_out) > cfg.max_windows:
        keep = np.linspace(0, len(ids_out) - 1, cfg.max_windows).round().astype(int)
        log.warning("call text has %d windows; encoding %d spread over the call", len(ids_out), cfg.max_windows)
        ids_out = [ids_out[i] for i in keep]
        role_out = [role_out[i] for i in keep]
        turn_out = [turn_out[i] for i in keep]
    return ids_out, role_out, turn_out


def _pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def mean_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


@torch.no_grad()
def encode_lower(texts: Sequence[str], roles: Sequence[int], cfg: TextConfig) -> dict[str, np.ndarray]:
    """The part of the encoder that does not train, run once for one call.

    Frozen: ``pooled`` (windows, dim) float32, the mean-pooled last layer per window. Otherwise:
    ``hidden`` (windows, tokens, dim) float16 below the trained layers and ``mask`` (windows, tokens).
    Both with ``roles`` (windows,) int8. A call with no words gives zero windows.
    """
    tok, model = load_encoder(cfg.encoder)
    seqs, wroles, _ = windows(tok, texts, roles, cfg)
    dim = model.config.hidden_size
    if not seqs:
        if cfg.mode == "frozen":
            return {"pooled": np.zeros((0, dim), np.float32), "roles": np.zeros(0, np.int8)}
        return {"hidden": np.zeros((0, 1, dim), np.float16), "mask": np.zeros((0, 1), np.int8),
                "roles": np.zeros(0, np.int8)}
    roles_arr = np.array(wroles, np.int8)
    if cfg.mode == "frozen":
        # Windows of similar length share a batch, so short turns are not padded to the longest one
        # (turns run from 3 to 96 tokens: padding them all to the longest tripled the work).
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        pooled = np.zeros((len(seqs), dim), np.float32)
        for k in range(0, len(order), LENGTH_BUCKET):
            part = order[k:k + LENGTH_BUCKET]
            ids, mask = _pad([seqs[i] for i in part], tok.pad_token_id)
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled[part] = mean_tokens(hidden, mask).numpy()
        return {"pooled": pooled, "roles": roles_arr}
    # the cached layer's tokens must line up across windows: one padded batch
    ids, mask = _pad(seqs, tok.pad_token_id)
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    layer = model.config.num_hidden_layers - cfg.cached_layers
    return {"hidden": out.hidden_states[layer].numpy().astype(np.float16), "mask": mask.numpy().astype(np.int8),
            "roles": roles_arr}


class TopLayers(nn.Module):
    """The encoder's top ``n`` transformer layers, run on cached hidden states (optionally with LoRA)."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        _, model = load_encoder(cfg.encoder)
        n = model.config.num_hidden_layers
        self.config = model.config
        self.layers = nn.ModuleList(copy.deepcopy(model.encoder.layer[n - cfg.train_layers :]))
        if cfg.mode == "lora":
            from peft import LoraConfig, inject_adapter_in_model

            lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.05,
                              target_modules=["query", "value"])
            inject_adapter_in_model(lora, self)
            for name, p in self.named_parameters():
                p.requires_grad = "lora_" in name

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        att = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=mask)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=att)
            if isinstance(hidden, tuple):
                hidden = hidden[0]
        return mean_tokens(hidden, mask)


def pool_roles(vectors: torch.Tensor, roles: torch.Tensor, call_index: torch.Tensor, n_calls: int
               ) -> torch.Tensor:
    """(n_calls, 2 roles x (mean, max) x dim) from window vectors; zeros for a role with no words."""
    dim = vectors.shape[1]
    out = vectors.new_zeros((n_calls, N_ROLES, 2, dim))
    for r in range(N_ROLES):
        sel = roles == r
        if not bool(sel.any()):
            continue
        v, c = vectors[sel], call_index[sel]
        counts = torch.zeros(n_calls, dtype=v.dtype).index_add_(0, c, torch.ones_like(c, dtype=v.dtype))
        mean = torch.zeros((n_calls, dim), dtype=v.dtype).index_add_(0, c, v) / counts.clamp(min=1).unsqueeze(1)
        mx = torch.full((n_calls, dim), -1e4, dtype=v.dtype).scatter_reduce(
            0, c.unsqueeze(1).expand_as(v), v, reduce="amax")
        mx = torch.where(counts.unsqueeze(1) > 0, mx, torch.zeros_like(mx))
        out[:, r, 0], out[:, r, 1] = mean, mx
    return out.flatten(1)


class TextBranch(nn.Module):
    """Cached encoder output of a batch of calls -> (batch, out_dim)."""

    def __init__(self, cfg: TextConfig, hidden_size: int = 384):
        super().__init__()
        self.cfg = cfg
        self.top = TopLayers(cfg) if cfg.mode != "frozen" else None
        # a learned map per window, then mean and max over the role's windows: one sentence that says
        # how the call went is enough to raise a max, however long the call
        self.turn = nn.Sequential(nn.LayerNorm(hidden_size), nn.Dropout(0.1), nn.Linear(hidden_size, cfg.turn_dim),
                                  nn.GELU())
        self.proj = nn.Sequential(nn.LayerNorm(N_ROLES * 2 * cfg.turn_dim), nn.Dropout(0.1),
                                  nn.Linear(N_ROLES * 2 * cfg.turn_dim, cfg.out_dim), nn.GELU())
        self.lexical = nn.Sequential(nn.Linear(N_ROLES * cfg.ngram_buckets, cfg.ngram_rank), nn.GELU(),
                                     nn.Dropout(0.1), nn.Linear(cfg.ngram_rank, cfg.out_dim)
                                     ) if cfg.ngram_buckets > 0 else None

    def forward(self, batch: TextBatch) -> torch.Tensor:
        if self.top is None:
            vectors = batch.pooled
        elif batch.hidden.shape[0] == 0:
            vectors = batch.hidden.new_zeros((0, batch.hidden.shape[-1])).float()
        else:
            vectors = self.top(batch.hidden.float(), batch.mask.long())
        pooled = pool_roles(self.turn(vectors.float()), batch.roles.long(), batch.call_index, batch.n_calls)
        out = self.proj(pooled)
        if self.lexical is not None:
            if batch.ngrams is None:
                raise ValueError("this text branch reads n-grams (ngram_buckets > 0), and the batch has none")
            out = out + self.lexical(batch.ngrams.flatten(1).float())
        return out


@dataclass
class TextBatch:
    """The windows of ``n_calls`` calls, flattened; ``call_index`` says which call each window is of."""

    n_calls: int
    roles: torch.Tensor
    call_index: torch.Tensor
    pooled: torch.Tensor | None = None  # frozen
    hidden: torch.Tensor | None = None  # finetune / lora
    mask: torch.Tensor | None = None
    ngrams: torch.Tensor | None = None  # (n_calls, roles * buckets): the lexical channel (role_ngrams)

    @classmethod
    def collate(cls, items: Sequence[dict[str, np.ndarray]], dim: int = 384) -> TextBatch:
        roles = torch.from_numpy(np.concatenate([it["roles"] for it in items]).astype(np.int64))
        call_index = torch.cat([torch.full((len(it["roles"]),), i, dtype=torch.long) for i, it in enumerate(items)])
        ngrams = None
        if "ngram_index" in items[0]:  # stored sparse (models.data.prepare), dense here
            ngrams = torch.zeros((len(items), int(items[0]["ngram_size"])))
            for i, it in enumerate(items):
                index = torch.from_numpy(it["ngram_index"].astype(np.int64))
                ngrams[i, index] = torch.from_numpy(it["ngram_value"])
        if "pooled" in items[0]:
            pooled = np.concatenate([it["pooled"].reshape(-1, dim) for it in items]).astype(np.float32)
            return cls(len(items), roles, call_index, pooled=torch.from_numpy(pooled), ngrams=ngrams)
        width = max(it["hidden"].shape[1] for it in items)
        n = sum(it["hidden"].shape[0] for it in items)
        hidden = torch.zeros((n, width, dim), dtype=torch.float16)
        mask = torch.zeros((n, width), dtype=torch.int8)
        k = 0
        for it in items:
            w, t = it["hidden"].shape[:2]
            hidden[k : k + w, :t] = torch.from_numpy(it["hidden"])
            mask[k : k + w, :t] = torch.from_numpy(it["mask"])
            k += w
        return cls(len(items), roles, call_index, hidden=hidden, mask=mask, ngrams=ngrams)
