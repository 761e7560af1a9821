"""Conversation metrics on hand-built turns: every value checked against a hand count."""

from __future__ import annotations

import pytest

from qc.conversation import longest_silence, measure
from tests.qc.conftest import CALL, say, turn

# agent:    [1,5]        [8,12]                     [22,26]
# customer:      [5.5,7.5]   [11,16] (interrupts)       [24,24.4] (backchannel)
TURNS = [
    turn(1.0, 5.0, "agent", sentiment=0.5),
    turn(5.5, 7.5, "customer", sentiment=-0.5),
    turn(8.0, 12.0, "agent", sentiment=0.1),
    turn(11.0, 16.0, "customer", sentiment=None),
    turn(22.0, 26.0, "agent", sentiment=-0.3),
    turn(24.0, 24.4, "customer", sentiment=0.6),
]
WORDS = say(" ".join(["word"] * 20), 1.0) + say(" ".join(["word"] * 10), 5.5, "customer")


@pytest.fixture(scope="module")
def m():
    return measure(CALL, 30.0, TURNS, WORDS, silence_threshold=3.0)


def test_talk_time_and_ratio(m):
    assert m.talk_time_agent == pytest.approx(12.0)
    assert m.talk_time_customer == pytest.approx(7.4)
    assert m.talk_ratio_agent == pytest.approx(12.0 / 19.4, abs=1e-4)


def test_silence_inside_the_conversation_only(m):
    # gaps 5-5.5, 7.5-8 and 16-22; leading 0-1 and trailing 26-30 are not silence
    assert m.silence_total == pytest.approx(7.0)
    assert m.silence_longest == pytest.approx(6.0)
    assert m.silence_count == 1
    assert longest_silence(TURNS) == (16.0, 22.0)


def test_overtalk(m):
    assert m.overtalk_time == pytest.approx(1.4)
    assert m.overtalk_ratio == pytest.approx(1.4 / 30, abs=1e-4)


def test_interruptions_count_who_interrupted_whom(m):
    # the customer's 11-16 turn starts 1 s into the agent's; the 0.4 s backchannel does not count
    assert m.interruptions_customer == 1
    assert m.interruptions_agent == 0


def test_turns_and_response_latency(m):
    assert (m.turns_agent, m.turns_customer) == (3, 3)
    # agent answers at 8 (customer ended 7.5) and at 22 (customer ended 16): mean 3.25
    assert m.response_latency_agent == pytest.approx(3.25)
    # the customer answers once without overtalk: 5.5 - 5.0
    assert m.response_latency_customer == pytest.approx(0.5)


def test_speaking_rate_and_greeting_time(m):
    assert m.words_per_minute_agent == pytest.approx(20 / (12 / 60), abs=0.1)
    assert m.words_per_minute_customer == pytest.approx(10 / (7.4 / 60), abs=0.1)
    assert m.time_to_greeting == pytest.approx(1.0)


def test_sentiment_trend_first_vs_last_third(m):
    assert (m.sentiment_agent_start, m.sentiment_agent_end) == (0.5, -0.3)
    # the unscored customer turn is left out: [-0.5, 0.6]
    assert (m.sentiment_customer_start, m.sentiment_customer_end) == (-0.5, 0.6)


def test_a_pause_alone_does_not_end_a_turn():
    m = measure(CALL, 20.0, [turn(0.0, 5.0), turn(6.0, 10.0), turn(12.0, 14.0, "customer")], [])
    assert m.turns_agent == 1 and m.turns_customer == 1
    assert m.silence_total == pytest.approx(3.0) and m.silence_count == 0  # 1 s and 2 s gaps


def test_empty_call_has_no_rates_or_ratio():
    m = measure(CALL, 10.0, [], [])
    assert m.talk_ratio_agent is None and m.words_per_minute_agent is None
    assert m.time_to_greeting is None and m.response_latency_agent is None
    assert m.silence_total == 0 and m.overtalk_time == 0


def test_short_pauses_inside_a_role_count_as_talk():
    turns = [turn(0.0, 2.0), turn(2.3, 4.0), turn(4.8, 6.0),  # a 0.3 s pause is talk, a 0.8 s one is not
             turn(7.0, 8.0, "customer"),
             turn(10.0, 12.0), turn(12.1, 12.3, "customer"), turn(12.4, 14.0)]  # "mm" in the pause
    m = measure(CALL, 15.0, turns, [])
    assert m.talk_time_agent == pytest.approx(4.0 + 1.2 + 2.0 + 1.6)
    assert m.silence_total == pytest.approx(0.8 + 1.0 + 2.0 + 0.1 + 0.1)
    assert m.silence_longest == pytest.approx(2.0)


def test_one_speaker_call_has_the_agent_only():
    """A voicemail or a labelled utterance: one speaker, the agent role; the customer's metrics are empty."""
    words = say("hello this is a message about my bill", 0.5) + say("please call me back", 6.0)
    m = measure(CALL, 10.0, [turn(0.5, 3.7), turn(6.0, 7.5)], words)
    assert m.talk_time_agent == pytest.approx(3.2 + 1.5) and m.talk_time_customer == 0
    assert m.talk_ratio_agent == 1.0
    assert m.turns_agent == 1 and m.turns_customer == 0  # nobody else spoke in the pause
    assert m.words_per_minute_agent == pytest.approx(12 / (4.7 / 60), abs=0.1)
    assert m.words_per_minute_customer is None and m.response_latency_customer is None
    assert m.interruptions_agent == m.interruptions_customer == 0 and m.overtalk_time == 0
    assert m.silence_total == pytest.approx(2.3) and m.time_to_greeting == pytest.approx(0.5)
    assert m.sentiment_customer_start is None and m.sentiment_customer_end is None
