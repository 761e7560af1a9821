"""Whisper-style English text normalization, for word error rates that compare words, not spelling.

The normalizer is the one OpenAI published with Whisper, as shipped by ``transformers``
(``EnglishTextNormalizer``: case, punctuation, contractions, numbers, "mr" -> "mister", fillers out).
It also maps British spellings to American ones with Whisper's spelling list, found offline in this
order: a ``normalizer.json`` beside the ASR model (Hugging Face Whisper repositories ship it), the
``whisper-normalizer`` package, the ``openai-whisper`` package. When none is installed the spelling
step is skipped (:data:`SPELLING_SOURCE` says which was used); everything else still applies.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from pathlib import Path

SPELLING_SOURCE = "none"


def _spelling_candidates(model_dir: str | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if model_dir:
        out.append(("model normalizer.json", Path(model_dir) / "normalizer.json"))
    for package, parts in (("whisper_normalizer", ("normalizers", "english.json")),
                           ("whisper", ("normalizers", "english.json"))):
        try:
            out.append((package, Path(str(importlib.resources.files(package).joinpath(*parts)))))
        except (ModuleNotFoundError, TypeError):
            continue
    return out


@functools.lru_cache(maxsize=4)
def spelling_map(model_dir: str | None = None) -> tuple[str, dict[str, str]]:
    """(source, British -> American map) from the first available source; ("none", {}) if none."""
    for source, path in _spelling_candidates(model_dir):
        if path.is_file():
            return source, json.loads(path.read_text(encoding="utf-8"))
    return "none", {}


@functools.lru_cache(maxsize=4)
def english_normalizer(model_dir: str | None = None):
    """The Whisper English normalizer (a callable str -> str)."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    global SPELLING_SOURCE
    SPELLING_SOURCE, mapping = spelling_map(model_dir)
    return EnglishTextNormalizer(mapping)


def normalize(text: str, model_dir: str | None = None, split_digits: bool = True) -> str:
    """``text`` lower-cased, without punctuation, with numbers and spellings standardised.

    With ``split_digits`` (the default) every digit becomes a word of its own after Whisper's
    normalization: it joins spoken digits into one number ("four six seven" -> "467"), so a card or
    phone number misheard in one digit, or split differently ("46 7"), would otherwise count as one
    or several whole-word errors unrelated to how many digits were wrong. Two spellings of the same
    spoken words are made one before that: digits read one by one and written with dots ("9.7.6.0",
    never a decimal number with more than one dot) and web addresses ("example.com" is "example dot
    com"); with ``split_digits``, "one" and "1" are one word.
    """
    text = re.sub(r"\b\d(?:\.\d){2,}\b", lambda m: m.group(0).replace(".", " "), text)
    text = re.sub(r"(?<=\w)\.(com|org|net)\b", r" dot \1", text, flags=re.IGNORECASE)
    out = english_normalizer(model_dir)(text)
    if split_digits:
        out = re.sub(r"(?<=\d)(?=\d)", " ", out)
        # Whisper's normalizer keeps a lone "one" as a word and turns a lone "1" into "one" too, but
        # "four one seven" into "4 1 7": with digits as words, "one" and "1" are the same word.
        out = re.sub(r"\bone\b", "1", out)
    return " ".join(out.split())
