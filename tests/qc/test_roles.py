"""Role assignment: channel map for stereo, greeting phrases or first speaker for mono."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qc.audio import Recording
from qc.config import Settings
from qc.records import CallMeta, Turn, Word
from qc.roles import assign_roles, by_first_speaker, by_greeting


def _rec(layout: str, agent_channel: int | None = None, meta_channel: int | None = None) -> Recording:
    channels = 2 if layout == "stereo" else 1
    samples = np.zeros((channels, 16000), np.float32)
    meta = CallMeta(external_id="c", path=Path("c.wav"), agent_channel=meta_channel)
    return Recording(call_id="c", meta=meta, sample_rate=16000, frames=16000, channels=channels, layout=layout,
                     agent_channel=agent_channel, source_sample_rate=8000, source_channels=channels,
                     _samples=samples)


def _call(first: str, second: str, first_text: str, second_text: str):
    turns = [Turn("c", 0.5, 4.0, 0, first), Turn("c", 4.5, 8.0, 0, second), Turn("c", 8.5, 10.0, 0, first)]
    words = []
    for turn, text in ((turns[0], first_text), (turns[1], second_text)):
        for k, token in enumerate(text.split()):
            words.append(Word("c", turn.start + 0.2 * k, turn.start + 0.2 * k + 0.15, token, 0.9, 0, turn.speaker))
    return turns, words


def test_greeting_finds_the_agent_even_when_the_customer_speaks_first():
    turns, words = _call("SPEAKER_00", "SPEAKER_01", "Hello? Hi, I'm calling about my bill.",
                         "Thank you for calling Acme, my name is Sam, how can I help?")
    result = by_greeting(turns, words)
    assert result.role_of("SPEAKER_01") == "agent" and result.role_of("SPEAKER_00") == "customer"
    assert result.strategy == "greeting" and result.confidence >= 0.8


def test_greeting_confidence_is_higher_with_more_evidence():
    strong = by_greeting(*_call("A", "B", "Thank you for calling Acme, my name is Sam, how can I help?",
                                "Hi, I have a problem with my bill."))
    weak = by_greeting(*_call("A", "B", "Customer service, this is Sam.", "Yes."))
    assert strong.role_of("A") == weak.role_of("A") == "agent"
    assert strong.confidence > weak.confidence >= 0.5


def test_company_names_count_as_agent_evidence():
    turns, words = _call("A", "B", "Hello.", "Northwind, good morning.")
    assert by_greeting(turns, words).strategy == "greeting>first_speaker"  # no phrase: falls back
    assert by_greeting(turns, words, company_names=["Northwind"]).role_of("B") == "agent"


def test_no_phrases_falls_back_to_the_first_speaker():
    turns, words = _call("A", "B", "Good morning.", "Morning.")
    result = by_greeting(turns, words)
    assert result.role_of("A") == "agent" and result.strategy == "greeting>first_speaker"
    assert 0.5 <= result.confidence < 0.8


def test_first_speaker_strategy_and_settings():
    turns, words = _call("A", "B", "I'm calling about my bill.", "Thank you for calling.")
    assert by_first_speaker(turns).role_of("A") == "agent"
    assert assign_roles(_rec("mono"), turns, words, Settings(role_strategy="first_speaker")).role_of("A") == "agent"
    assert assign_roles(_rec("mono"), turns, words, Settings()).role_of("B") == "agent"


def test_stereo_uses_the_channel_map():
    turns = [Turn("c", 0.0, 1.0, 0, "SPEAKER_00"), Turn("c", 1.0, 2.0, 1, "SPEAKER_01")]
    given = assign_roles(_rec("stereo", agent_channel=1, meta_channel=1), turns, [], Settings())
    assert given.role_of("SPEAKER_01") == "agent" and given.confidence == 1.0 and given.strategy == "channel"
    default = assign_roles(_rec("stereo", agent_channel=0), turns, [], Settings())
    assert default.role_of("SPEAKER_00") == "agent" and default.confidence == 0.9


def test_a_sole_speaker_is_the_agent():
    """A one-speaker recording (voicemail, labelled utterance): its speaker is the agent whatever it
    says, and no customer role is made up."""
    turns = [Turn("c", 0.5, 4.0, 0, "SPEAKER_00"), Turn("c", 5.0, 8.0, 0, "SPEAKER_00")]
    for text in ("Hi, I'm calling about my bill, I was charged twice.", "Thank you for calling Acme.",
                 "Kids are talking by the door."):
        words = [Word("c", 0.5 + 0.2 * k, 0.65 + 0.2 * k, token, 0.9, 0, "SPEAKER_00")
                 for k, token in enumerate(text.split())]
        for strategy in ("greeting", "first_speaker", "channel"):
            result = assign_roles(_rec("mono"), turns, words, Settings(role_strategy=strategy))
            assert result.speakers == {"SPEAKER_00": "agent"}, (text, strategy)
            assert 0.5 <= result.confidence <= 1.0
