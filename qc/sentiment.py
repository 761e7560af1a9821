"""Sentiment of each turn, from VADER (``vaderSentiment``: a lexicon and rules that ship with the
package, so nothing is downloaded and scoring a turn takes well under a millisecond).

A turn's sentiment is VADER's ``compound`` score of its text, in -1 (negative) .. +1 (positive);
turns without words have none. The trend over the call (start vs end per role) is computed with the
other conversation metrics (:func:`qc.conversation.sentiment_trend`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

from qc.records import Turn


@functools.lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def polarity(text: str) -> float | None:
    """VADER compound score of ``text`` in -1..1, or None when it holds no word."""
    if not any(ch.isalpha() for ch in text):
        return None
    return round(float(_analyzer().polarity_scores(text)["compound"]), 4)


def score_turns(turns: Sequence[Turn]) -> list[Turn]:
    """The turns with ``sentiment`` set from their text (None for turns without words)."""
    return [dataclasses.replace(t, sentiment=polarity(t.text)) for t in turns]
