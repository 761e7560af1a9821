"""Turn sentiment from VADER's offline lexicon."""

from __future__ import annotations

from qc.sentiment import polarity, score_turns
from tests.qc.conftest import turn


def test_polarity_range_and_sign():
    assert polarity("Thank you so much, that was really helpful, great service!") > 0.5
    assert polarity("This is ridiculous, I am furious and your service is terrible.") < -0.5
    assert -0.2 < polarity("My account number ends in four.") < 0.2
    assert polarity("") is None


def test_turns_without_words_have_no_sentiment():
    turns = score_turns([turn(0, 1, text="I love this, thanks!"), turn(1, 2, "customer", text=""),
                         turn(2, 3, "customer", text="... 42")])
    assert turns[0].sentiment > 0
    assert turns[1].sentiment is None and turns[2].sentiment is None
