"""Rules: the YAML schema (clear errors), tolerant matching, windows, evidence, metric rules."""

from __future__ import annotations

import pytest

from qc.conversation import measure
from qc.rules import RulesError, evaluate_rules, find_phrase, load_rules, parse_rules
from tests.qc.conftest import CALL, say, turns_of


def ruleset(body: str):
    return parse_rules("version: 1\nrules:\n" + body, "test.yaml")


def run(rules, words):
    turns = turns_of(words)
    metrics = measure(CALL, max((w.end for w in words), default=0) + 1, turns, words)
    return {r.rule_id: r for r in evaluate_rules(rules, CALL, turns, words, metrics)}


# --- schema ---------------------------------------------------------------------------------------

def test_shipped_default_set_loads_and_costs_100_points():
    rules = load_rules()
    ids = [r.id for r in rules.rules]
    assert {"greeting", "disclosure", "verification", "closing", "no_forbidden_language"} <= set(ids)
    assert {r.kind for r in rules.rules} == {"required_phrase", "forbidden_phrase", "metric"}
    assert sum(r.points for r in rules.rules) + sum(m.points for m in rules.scorecard.models) == 100


@pytest.mark.parametrize("body, message", [
    ("  - id: g\n    kind: required_phrase\n    phrases: [hello]\n    treshold: 80\n",
     "rules[0] (id 'g'): unknown key 'treshold' (allowed: "),
    ("  - id: g\n    kind: required_phrase\n    phrase: [hello]\n", "rules[0] (id 'g').phrases: Field required"),
    ("  - id: g\n    kind: needed_phrase\n    phrases: [hello]\n", "'kind' must be one of required_phrase"),
    ("  - id: m\n    kind: metric\n    metric: silence_longer\n    max: 3\n", "unknown metric 'silence_longer'"),
    ("  - id: m\n    kind: metric\n    metric: silence_longest\n", "a metric rule needs min, max or both"),
    ("  - id: g\n    kind: required_phrase\n    phrases: [hi]\n    within_first: 10\n    within_last: 10\n",
     "give within_first or within_last, not both"),
    ("  - id: g\n    kind: required_phrase\n    phrases: [hi]\n    threshold: 101\n", "threshold"),
    ("  - id: a\n    kind: metric\n    metric: overtalk_ratio\n    max: 0.1\n    points: 60\n"
     "  - id: b\n    kind: metric\n    metric: overtalk_ratio\n    max: 0.2\n    points: 60\n",
     "at most 100 points in all; these add up to 120"),
    ("  - id: a\n    kind: metric\n    metric: overtalk_ratio\n    max: 0.1\n"
     "  - id: a\n    kind: metric\n    metric: overtalk_ratio\n    max: 0.2\n", "duplicate rule/item ids: a"),
])
def test_schema_errors_name_the_rule_and_the_key(body, message):
    with pytest.raises(RulesError) as err:
        ruleset(body)
    assert "invalid rules file test.yaml" in str(err.value)
    assert message in str(err.value)


def test_unknown_top_level_and_scorecard_keys_are_rejected():
    with pytest.raises(RulesError, match=r"\(top level\): unknown key 'rule'"):
        parse_rules("rule: []\n")
    with pytest.raises(RulesError, match=r"scorecard.models\[0\]: unknown key 'weight'"):
        parse_rules("scorecard:\n  models:\n    - {label: politeness, value: rude, points: 5, weight: 2}\n")


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(RulesError, match="not valid YAML"):
        parse_rules("rules: [\n")
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")
    path = tmp_path / "mine.yaml"
    path.write_text("rules:\n  - {id: r, kind: forbidden_phrase, phrases: [nope]}\n")
    assert load_rules(path).rules[0].threshold == 90  # forbidden phrases default to a stricter match


# --- matching ------------------------------------------------------------------------------------

@pytest.mark.parametrize("heard", [
    "thank you for calling acme",  # exact
    "Thank you for coling, Acme!",  # ASR misspelling, punctuation, case
    "thank you so much for calling",  # an extra word
    "thank for calling",  # a dropped word
    "thankyou for calling",  # words merged
])
def test_tolerant_matching(heard):
    words = say("um hello " + heard + " how are you", 0.0)
    hit = find_phrase(words, range(len(words)), ["thank you for calling"])
    assert hit is not None and hit.similarity >= 80, (heard, hit)


def test_unrelated_words_do_not_match():
    words = say("I would like to cancel my subscription please", 0.0)
    hit = find_phrase(words, range(len(words)), ["thank you for calling"])
    assert hit is None or hit.similarity < 70


def test_threshold_is_configurable():
    words = say("thank for coling", 0.0)
    loose = ruleset("  - {id: g, kind: required_phrase, phrases: [thank you for calling], threshold: 70}\n")
    strict = ruleset("  - {id: g, kind: required_phrase, phrases: [thank you for calling], threshold: 95}\n")
    assert run(loose, words)["g"].passed
    assert not run(strict, words)["g"].passed


def test_required_phrase_evidence_is_the_matched_words_and_their_span():
    words = say("hello", 0.0) + say("Thank you for calling Acme", 2.0)
    r = run(ruleset("  - {id: g, kind: required_phrase, phrases: [thank you for calling], within_first: 15}\n"),
            words)["g"]
    assert r.passed and r.points_lost == 0
    assert r.evidence_text.startswith("Thank you for calling")
    assert r.evidence_start == 2.0 and r.evidence_end >= words[4].end - 1e-9
    assert "similar to 'thank you for calling'" in r.detail


def test_time_window_and_role_filter():
    rules = ruleset(
        "  - {id: early, kind: required_phrase, phrases: [thank you for calling], within_first: 15, points: 10}\n"
        "  - {id: agent_only, kind: required_phrase, phrases: [my card is], role: agent}\n"
        "  - {id: closing, kind: required_phrase, phrases: [have a great day], within_last: 10}\n")
    late = say("thank you for calling", 20.0) + say("my card is", 22.0, "customer") + say("have a great day", 30.0)
    results = run(rules, late)
    assert not results["early"].passed and results["early"].points_lost == 10
    assert "from the agent in the first 15 s; nothing said there" in results["early"].detail
    assert results["early"].evidence_text is None
    assert not results["agent_only"].passed  # said, but by the customer
    assert results["closing"].passed
    early_close = say("have a great day", 1.0) + say("bye now", 30.0)
    assert not run(rules, early_close)["closing"].passed


def test_phrase_may_start_just_inside_the_window():
    rules = ruleset("  - {id: g, kind: required_phrase, phrases: [thank you for calling acme bank], within_first: 15}\n")
    assert run(rules, say("thank you for calling acme bank", 14.5))["g"].passed
    assert not run(rules, say("thank you for calling acme bank", 15.5))["g"].passed


def test_paraphrases():
    rules = ruleset("  - {id: d, kind: required_phrase, phrases: [this call may be recorded, calls are monitored]}\n")
    assert run(rules, say("just so you know calls are monitored", 0.0))["d"].passed


def test_forbidden_phrase_fails_with_evidence():
    rules = ruleset("  - {id: f, kind: forbidden_phrase, phrases: [that's not my problem], points: 20, critical: true}\n")
    bad = run(rules, say("sorry but thats not my problem sir", 3.0))["f"]
    assert not bad.passed and bad.points_lost == 20
    assert bad.evidence_text.startswith("thats not my problem")
    assert bad.evidence_start == pytest.approx(3.8)
    assert bad.detail.startswith("forbidden:")
    good = run(rules, say("let me see what I can do about this problem", 3.0))["f"]
    assert good.passed and good.evidence_text is None


def test_metric_rules():
    rules = ruleset("  - {id: s, kind: metric, metric: silence_longest, max: 5, points: 5}\n"
                    "  - {id: r, kind: metric, metric: words_per_minute_customer, min: 80}\n")
    words = say("hello there", 0.0) + say("are you still there", 12.0)
    results = run(rules, words)
    assert not results["s"].passed and results["s"].points_lost == 5
    assert "silence_longest = 11.3 > max 5" in results["s"].detail
    assert (results["s"].evidence_start, results["s"].evidence_end) == (0.7, 12.0)
    assert results["r"].passed and "not measurable" in results["r"].detail  # no customer speech


def test_evidence_is_masked_with_pii_placeholders():
    rules = ruleset("  - {id: c, kind: required_phrase, role: customer, phrases: [my card number is]}\n")
    words = say("my card number is four one one one", 0.0, "customer")
    turns = turns_of(words)
    metrics = measure(CALL, 5.0, turns, words)
    mask = [None] * 4 + ["[CARD_NUMBER]"] * 4
    # the match may take in the first digits (up to 2 extra words): those are masked, as one placeholder
    r = evaluate_rules(rules, CALL, turns, words, metrics, mask)[0]
    assert r.passed and "four" not in r.evidence_text and "one" not in r.evidence_text
    with pytest.raises(ValueError, match="mask has 3 entries for 8 words"):
        evaluate_rules(rules, CALL, turns, words, metrics, mask[:3])


def test_short_phrases_need_a_near_exact_match():
    rules = ruleset("  - {id: f, kind: forbidden_phrase, phrases: [you people], threshold: 85}\n")
    assert run(rules, say("thank you, Peter", 0.0))["f"].passed  # 88.9 similar, but another phrase
    assert not run(rules, say("you people never listen", 0.0))["f"].passed
