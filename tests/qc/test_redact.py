"""PII: numbers said aloud, Presidio detection mapped to words, placeholders, audio redaction."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from qc.pii import detect, find_spoken_numbers
from qc.records import Word
from qc.redact import PiiSpan, audio_spans, find_pii, redact_audio, redact_turns, redact_words, word_mask
from tests.conftest import tone, write_audio
from tests.qc.conftest import sample_call, say, turns_of

VISA = "4111111111111111"


def kinds(text: str) -> list[tuple[str, str]]:
    return [(n.kind, n.digits) for n in find_spoken_numbers(text)]


# --- numbers said aloud (no NLP model needed) ---------------------------------------------------

@pytest.mark.parametrize("text", [
    "my card is four one one one one one one one one one one one one one one one",
    "it's 4111 1111 1111 1111.",
    "4111-1111-1111-1111",
    "four one one one, 1111, one one one one, uh, 1111",
    "four triple one one one one one one one one one one one one one",
    "for one one one one one one one one one one one one one one one",  # ASR's "for" for "four"
])
def test_card_numbers_in_words_digits_and_mixtures(text):
    assert kinds(text) == [("CARD_NUMBER", VISA)]


@pytest.mark.parametrize("text, digits", [
    ("call me on four one five, five five five, oh one two three", "4155550123"),
    ("it's 415-555-0123.", "4155550123"),
    ("four one five five five five zero one two three", "4155550123"),
    ("two one two, double five five, one two three four", "2125551234"),
    ("one eight hundred five five five one two one two", "18005551212"),
    ("my number is four one five, five five five, twelve thirty four", "4155551234"),
])
def test_phone_numbers(text, digits):
    assert kinds(text) == [("PHONE_NUMBER", digits)]


def test_luhn_rejects_sixteen_digits_that_are_not_a_card():
    # not a card (Luhn fails, nobody said "card"): still an identifier, redacted as a number of unknown kind
    assert kinds("the reference is 1234 5678 9012 3456") == [("NUMBER", "1234567890123456")]
    assert kinds("one two three four five six seven eight one two three four five six seven eight") == [
        ("NUMBER", "1234567812345678")]
    assert kinds("the reference is 4111 1111 1111 1111") == [("CARD_NUMBER", VISA)]  # Luhn-valid: a card


def test_a_misheard_card_is_still_redacted_when_card_words_are_near():
    # one digit wrong (Luhn fails), but the customer is reading out their card
    assert kinds("my visa card number is 4111 1111 1111 1112") == [("CARD_NUMBER", "4111111111111112")]


def test_national_ids_need_context():
    assert kinds("my social security number is one two three, four five, six seven eight nine") == [
        ("NATIONAL_ID", "123456789")]
    assert kinds("one two three four five six seven eight nine") == [("NUMBER", "123456789")]  # not an id
    # never issued (area 000), or misheard: asked for, so still redacted, with a lower score
    assert [(n.kind, n.score) for n in find_spoken_numbers("my social is 000 12 3456")] == [("NATIONAL_ID", 0.5)]


def test_garbled_numbers_are_redacted_when_the_conversation_asked_for_them():
    # Whisper on a card read out digit by digit: digits lost and repeated, nothing validates
    assert kinds("my card number is -1 -1 -1 -1 ,111 ,111 41, 41") == [("CARD_NUMBER", "11111111114141")]
    assert kinds("you can reach me at 415, 515, 515, 01233.") == [("PHONE_NUMBER", "41551551501233")]
    # the last context word decides: a phone number asked for after the card was given
    assert kinds("card done. what is the best phone number to reach you? 415 515 515 0123") == [
        ("PHONE_NUMBER", "4155155150123")]
    # context from the caller (the other party's words), instead of the text itself
    found = find_spoken_numbers("1 1 1 1 1 1 1 1 5 5 5", context=lambda offset: ["what's", "your", "phone"])
    assert [(n.kind, n.score) for n in found] == [("PHONE_NUMBER", 0.5)]
    # but not for amounts, dates or the last four digits
    assert kinds("on my card I paid 1,250 dollars on June 3rd 1980, the last four are 1 1 1 1") == []


def test_a_valid_card_inside_garbage_takes_the_rest_along():
    # the run starts with a Luhn-valid card; the remaining digits are redacted as what was asked
    found = kinds("my card is 4111 1111 1111 1111 5 5 5 0")
    assert found == [("CARD_NUMBER", VISA), ("CARD_NUMBER", "5550")]


def test_short_numbers_and_money_are_left_alone():
    assert kinds("I paid 25 dollars for 2 months, the last four are one one one one") == []
    assert kinds("it's double five five, one two three four") == []  # seven digits: no area code


def test_card_followed_by_expiry_date():
    assert kinds("4111 1111 1111 1111 expiry oh four two seven") == [("CARD_NUMBER", VISA)]


# --- Presidio + spaCy over a call's words --------------------------------------------------------

@pytest.fixture(scope="module")
def call_words() -> list[Word]:
    return sample_call()


@pytest.fixture(scope="module")
def pii(call_words):
    return find_pii(call_words)


def test_detect_on_written_text():
    text = "I'm John Smith, card 4111 1111 1111 1111, phone (415) 555-0123, mail john.smith@example.com"
    found = {(d.kind, text[d.start:d.end]) for d in detect(text)}
    assert ("PERSON", "John Smith") in found
    assert ("CARD_NUMBER", "4111 1111 1111 1111") in found
    assert ("EMAIL", "john.smith@example.com") in found
    assert any(k == "PHONE_NUMBER" and "555-0123" in t for k, t in found)


def test_the_last_four_digits_written_with_dashes_are_not_a_phone_number():
    # Whisper writes digits read one by one as "1 -6 -8 -9"; Presidio's phone recognizer took that
    # for a phone number (a false redaction of an answer the QA rules need)
    assert [d for d in detect("It is 1 -6 -8 -9.") if d.kind == "PHONE_NUMBER"] == []
    assert any(d.kind == "PHONE_NUMBER" for d in detect("my number is 415 555 0123"))


def test_spoken_email_address():
    text = "you can email me at john dot smith at example dot com thanks"
    assert [(d.kind, text[d.start:d.end]) for d in detect(text) if d.kind == "EMAIL"] == [
        ("EMAIL", "john dot smith at example dot com")]


def test_pii_spans_map_to_the_words_that_said_them(pii, call_words):
    by_kind = {s.kind: s for s in pii}
    card = by_kind["CARD_NUMBER"]
    said = [call_words[i].text for i in card.words]
    assert said[0] == "four" and len(said) == 16 and said[-1] == "one."
    assert card.start == call_words[card.words[0]].start and card.end == call_words[card.words[-1]].end
    assert [call_words[i].text for i in by_kind["PHONE_NUMBER"].words][0] == "Four"
    assert {call_words[i].text.strip(".,") for s in pii if s.kind == "PERSON" for i in s.words} >= {"Sarah"}


def test_redacted_words_and_turns_hold_placeholders_only(pii, call_words):
    words = redact_words(call_words, pii)
    text = " ".join(w.text for w in words)
    assert "[CARD_NUMBER]" in text and "[PHONE_NUMBER]" in text and "[PERSON]" in text
    assert "Sarah" not in text and "oh one two three" not in text
    assert text.count("[CARD_NUMBER]") == 1  # one placeholder per entity, spanning its words' time
    placeholder = next(w for w in words if w.text == "[CARD_NUMBER]")
    assert (placeholder.start, placeholder.end) == (pii[[s.kind for s in pii].index("CARD_NUMBER")].start,
                                                    pii[[s.kind for s in pii].index("CARD_NUMBER")].end)
    turns = redact_turns(turns_of(call_words), words)
    joined = " ".join(t.text for t in turns)
    assert "[CARD_NUMBER]" in joined and "one one one" not in joined
    mask = word_mask(len(call_words), pii)
    assert sum(m == "[CARD_NUMBER]" for m in mask) == 16


def test_no_pii_no_change():
    words = say("hello, how can I help you today?", 0.0)
    assert find_pii(words) == []
    assert redact_words(words, []) == words


# --- audio ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels, rate, subtype", [(2, 8000, "PCM_16"), (1, 16000, "FLOAT")])
def test_audio_redaction_leaves_no_energy_in_the_spans(tmp_path, channels, rate, subtype):
    data = np.stack([tone(6.0, rate, 300 + 100 * c, seed=c) for c in range(channels)])
    src = write_audio(tmp_path / "call.wav", data if channels > 1 else data[0], rate, subtype=subtype)
    spans = [(1.0, 1.5), (3.2, 4.05)]
    out = redact_audio(src, tmp_path / "redacted" / "call.wav", spans, block_frames=1000)
    info, before = sf.info(str(out)), sf.read(str(src), always_2d=True)[0]
    after = sf.read(str(out), always_2d=True)[0]
    assert (info.samplerate, info.channels, info.subtype) == (rate, channels, subtype)
    assert after.shape == before.shape
    inside = np.zeros(len(after), bool)
    for a, b in spans:
        inside[int(a * rate):int(np.ceil(b * rate))] = True
        assert np.sum(after[int(a * rate):int(np.ceil(b * rate))] ** 2) == 0.0
    assert np.array_equal(after[~inside], before[~inside])  # the rest untouched, bit for bit
    assert not list((tmp_path / "redacted").glob(".*tmp"))  # no temporary file left behind


def test_audio_bleep_and_span_padding(tmp_path):
    src = write_audio(tmp_path / "call.wav", tone(3.0, 8000), 8000)
    out = redact_audio(src, tmp_path / "b.wav", [(1.0, 2.0)], mode="bleep")
    after = sf.read(str(out))[0]
    assert 0.05 < np.abs(after[8000:16000]).max() <= 0.11
    spans = [PiiSpan("CARD_NUMBER", (0,), 1.0, 2.0, 1, "SPEAKER_01", 1.0, "x"),
             PiiSpan("PERSON", (1,), 2.3, 2.6, 0, "SPEAKER_00", 0.85, "y")]
    assert audio_spans(spans, pad=0.25) == [(0.75, 2.85)]  # padded, merged


def test_the_other_partys_question_is_context_for_a_misheard_number():
    # the ASR got one digit wrong (Luhn fails) and the customer never says "card": the agent did
    words = say("Can I have the card number please?", 0.0) + say("4111 1111 1111 1112", 3.0, "customer")
    spans = find_pii(words)
    assert [(s.kind, len(s.words)) for s in spans] == [("CARD_NUMBER", 4)]
    alone = say("4111 1111 1111 1112", 3.0, "customer")
    assert [s.kind for s in find_pii(alone)] == ["NUMBER"]  # no context: a number of unknown kind


def test_a_garbled_reply_to_a_number_request_is_redacted_whole():
    # "seven six seven, six seven seven, ..." heard as a city: no digits left to find
    words = (say("Could you read me the card number please?", 0.0)
             + say("It is San Francisco, San Francisco, San Francisco.", 3.5, "customer")
             + say("Thank you, I have got that.", 7.0))
    spans = find_pii(words)
    assert [(s.kind, s.source) for s in spans] == [("CARD_NUMBER", "ReplyToRequest")]
    assert [words[i].text for i in spans[0].words][0] == "It" and len(spans[0].words) == 8
    assert "San" not in " ".join(w.text for w in redact_words(words, spans))


@pytest.mark.parametrize("question, reply", [
    ("Is this still the best number to call you on?", "Yes, that is still the best number."),  # yes/no
    ("Could you verify the last four digits of your account number?", "It is three four seven two."),  # partial
    ("I can see no new payments on the card since then.", "How long will a new card take?"),  # statement
])
def test_other_questions_about_numbers_leave_the_reply_alone(question, reply):
    words = say(question, 0.0) + say(reply, 5.0, "customer")
    assert [s for s in find_pii(words) if s.source == "ReplyToRequest"] == []


def test_hallucinated_digits_are_not_numbers():
    # Whisper in noise: one digit over and over, or a burst of tokens with no duration
    zeros = say("0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0", 1.0, "customer")
    burst = say("7 6 2 9 4 1 8 3 5 2", 20.0, "customer", step=0.0, length=0.0)
    assert find_pii(zeros + burst) == []
