"""The consistency guard's rules on hand-made turns and words (the front end with the real models is
in tests/flows/test_quality_e2e.py)."""

from __future__ import annotations

from qc.quality import check_call, find_loop, invented_turns
from qc.records import Turn, Word


def turn(start, end, role="agent", channel=0, speaker="A"):
    return Turn("c", start, end, channel, speaker, role)


def words_in(t: Turn, texts, prob=0.9):
    step = (t.end - t.start) / max(1, len(texts))
    return [Word("c", t.start + i * step, t.start + (i + 0.8) * step, w, prob, t.channel, t.speaker, t.role)
            for i, w in enumerate(texts)]


SENTENCE = "thank you for calling riverside insurance my name is laura how can I help you today".split()


def conversation():
    turns = [turn(0, 5), turn(5.5, 10, "customer", 1, "C"), turn(10.5, 15), turn(15.5, 20, "customer", 1, "C")]
    words = [w for t in turns for w in words_in(t, SENTENCE)]
    return turns, words


def test_loops_are_found_and_ordinary_speech_is_not():
    assert find_loop("It's good. It's good. It's good. It's good. Thank you.".split()) == ("it's good", 4)
    assert find_loop(["'u'll"] * 73)[1] == 73
    assert find_loop(SENTENCE) is None
    assert find_loop("no no no thank you".split()) is None  # people say a word a few times over
    assert find_loop("I'm not sure if I'm going to do it, I'm not sure if I'm going to do it, I'm not sure "
                     "if I'm going to do it, I'm not sure if I'm going to do it".split()) is None  # 8-gram: by rate


def test_a_sound_conversation_has_no_flags():
    turns, words = conversation()
    check = check_call(turns, words, "stereo")
    assert check.flags == () and len(check.words) == len(words)


def test_text_no_one_could_say_is_dropped_and_flagged():
    turns, words = conversation()
    fast = turn(20.5, 26.4, "customer", 1, "C")
    hallucinated = words_in(fast, ("I'm not sure if I'm going to do anything with it " * 14).split())
    looped = turn(27, 35, "agent")
    loop = words_in(looped, "It's good. It's good. It's good. It's good. It's good.".split())
    drop, flags = invented_turns(turns + [fast, looped], words + hallucinated + loop)
    assert len(drop) == len(hallucinated) + len(loop)
    assert any("20.5 s" in f and "words in 5.9 s" in f for f in flags)
    assert any("27.0 s" in f and "the same 2-word phrase 5 times in a row" in f for f in flags)
    assert not any("good" in f for f in flags)  # the invented words are not quoted
    check = check_call(turns + [fast, looped], words + hallucinated + loop, "stereo")
    assert [w.text for w in check.words] == [w.text for w in words]
    assert len(check.flags) == 2


def test_speech_without_words_is_flagged():
    turns, words = conversation()
    check = check_call(turns, words[:2], "stereo")
    assert any("18 s of speech but 2 words" in f for f in check.flags)
    # as many words, but spanning a sliver of the speech's time
    slivers = [Word("c", w.start, w.start + 0.03, w.text, w.probability, w.channel, w.speaker, w.role)
               for w in words]
    check = check_call(turns, slivers, "stereo")
    assert any("words cover" in f for f in check.flags)
    assert check_call([], [], "mono").flags == ("no speech found (0.0 s)",)


def test_a_silent_party_is_flagged():
    turns, words = conversation()
    agent_only = [t for t in turns if t.role == "agent"]
    stereo = check_call(agent_only, [w for w in words if w.role == "agent"], "stereo")
    assert stereo.flags == ("the customer's channel has no turns: the customer never speaks",)
    mono = check_call(agent_only, [w for w in words if w.role == "agent"], "mono")
    assert "only one party speaks" in mono.flags[0]


def test_another_language_keeps_no_words_but_english_with_low_confidence_keeps_them():
    turns, _ = conversation()
    unsure = [w for t in turns for w in words_in(t, SENTENCE, prob=0.4)]
    asked = []

    def identify(language):
        def run(audio):
            asked.append(len(audio))
            return language, 0.97
        return run

    def speech():
        import numpy as np
        return np.zeros(16000 * 5, np.float32)

    german = check_call(turns, unsure, "stereo", speech_audio=speech, identify_language=identify("de"))
    assert german.words == () and german.language == "de"
    assert any("another language (de, 97% sure)" in f for f in german.flags)
    assert any("but 0 words" in f for f in german.flags)
    english = check_call(turns, unsure, "stereo", speech_audio=speech, identify_language=identify("en"))
    assert len(english.words) == len(unsure)
    assert english.flags == ("the ASR read this call with low confidence (mean word probability 0.40): its words "
                             "may be wrong",)
    turns, sure = conversation()
    asked.clear()
    check_call(turns, sure, "stereo", speech_audio=speech, identify_language=identify("de"))
    assert asked == []  # confident words: the language is not checked
