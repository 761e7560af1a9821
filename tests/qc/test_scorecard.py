"""Scorecard arithmetic, model items, critical rules and the explanation."""

from __future__ import annotations

import pytest

from qc.records import RuleResult, Score
from qc.rules import parse_rules
from qc.scorecard import explain, score_call

CARD = parse_rules("""
rules:
  - {id: greeting, kind: required_phrase, phrases: [hello], points: 15}
  - {id: disclosure, kind: required_phrase, phrases: [recorded], points: 20, critical: true}
  - {id: silence, kind: metric, metric: silence_longest, max: 20, points: 5}
scorecard:
  pass_score: 80
  models:
    - {label: agent_politeness, value: rude, points: 10}
    - {id: unhappy, label: customer_satisfaction, value: dissatisfied, points: 10}
""")


def results(**passed: bool) -> list[RuleResult]:
    return [RuleResult("c1", rule_id, "x", ok, 0.0 if ok else CARD.rule(rule_id).points, detail=f"{rule_id} detail")
            for rule_id, ok in passed.items()]


def test_points_lost_add_up_and_breakdown_lists_every_evaluated_item():
    rr = results(greeting=False, disclosure=True, silence=False)
    scores = [Score("c1", "agent_politeness", "v1", "polite", {"polite": 0.75, "rude": 0.25})]
    qa = score_call(rr, scores, CARD)
    assert qa.breakdown == {"greeting": 15.0, "disclosure": 0.0, "silence": 5.0, "model:agent_politeness=rude": 2.5}
    assert qa.score == pytest.approx(77.5) and not qa.passed  # below the pass mark of 80
    assert qa.call_id == "c1"


def test_model_items_skipped_cost_nothing_and_are_not_renormalised():
    rr = results(greeting=False, disclosure=True, silence=True)
    qa = score_call(rr, [], CARD)  # no model promoted yet
    assert qa.score == 85.0 and qa.passed
    assert "model:agent_politeness=rude" not in qa.breakdown and "unhappy" not in qa.breakdown
    # another label schema: the label exists but without the value -> skipped, not an error
    other = [Score("c1", "agent_politeness", "v2", "ok", {"ok": 0.9, "not_ok": 0.1}),
             Score("c1", "customer_satisfaction", "v2", "dissatisfied", {})]
    qa = score_call(rr, other, CARD)
    assert "model:agent_politeness=rude" not in qa.breakdown
    assert qa.breakdown["unhappy"] == 10.0  # no probabilities: the predicted value costs the full points
    assert qa.score == 75.0


def test_a_critical_failure_fails_the_call_whatever_the_score():
    qa = score_call(results(greeting=True, disclosure=False, silence=True), [], CARD)
    assert qa.score == 80.0 and not qa.passed


def test_score_is_bounded_and_inputs_are_checked():
    card = parse_rules("rules:\n  - {id: a, kind: metric, metric: overtalk_ratio, max: 0.1, points: 100}\n")
    qa = score_call([RuleResult("c1", "a", "metric", False, 100.0)], [], card)
    assert qa.score == 0.0 and not qa.passed
    with pytest.raises(ValueError, match="rule 'silence' of the scorecard has no result"):
        score_call(results(greeting=True, disclosure=True), [], CARD)
    with pytest.raises(ValueError, match="different calls"):
        score_call(results(greeting=True, disclosure=True, silence=True),
                   [Score("c2", "agent_politeness", "v1", "rude", {"rude": 1.0})], CARD)
    assert score_call([], [], parse_rules("rules: []"), call_id="c9").score == 100.0


def test_explanation_says_which_items_cost_how_many_points():
    rr = results(greeting=False, disclosure=False, silence=True)
    qa = score_call(rr, [Score("c1", "agent_politeness", "v1", "rude", {"polite": 0.4, "rude": 0.6})], CARD)
    lines = explain(qa, CARD, rr)
    assert lines[0] == "score 59/100: FAIL (pass mark 80)"
    assert lines[1] == "-20 disclosure [critical: fails the call]: disclosure detail"
    assert lines[2] == "-15 greeting: greeting detail"
    assert lines[3] == "-6 model:agent_politeness=rude"
    assert lines[4] == "not scored (no classifier output for them): unhappy"
