"""The QA scorecard: rule results and classifier outputs combined into a 0-100 score and pass/fail.

A call starts at 100 points and loses, per item of the rules file (:mod:`qc.rules`):

- a rule: its ``points`` when it failed, nothing when it passed;
- a model item (``label``, ``value``, ``points``): ``points`` x the probability the classifier gave
  ``value`` for ``label`` (when its :class:`~qc.records.Score` has no probabilities: ``points`` if the
  predicted value is ``value``, else nothing).

The score is ``100 - sum(points lost)``, floored at 0 (the file's points add up to at most 100, so
the floor only matters for hand-made cards). The call passes when the score reaches
``scorecard.pass_score`` and no ``critical`` rule failed.

Model items that cannot be evaluated are *skipped*: no classifier has scored the call yet (no model
promoted), the label is not among the call's scores, or the value is not among the label's classes
(a different label schema). A skipped item costs nothing and the score is **not** renormalised, so a
rule costs the same points with or without a model; the items that were evaluated are exactly the
keys of :attr:`~qc.records.QAScore.breakdown` (item id -> points lost, 0 for items that cost
nothing), and :func:`explain` renders them in words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from qc.records import CallResult, QAScore, RuleResult, Score
from qc.rules import ModelItem, RuleSet


def _model_points(item: ModelItem, scores: Sequence[Score]) -> float | None:
    """Points an item costs, or None when it cannot be evaluated on these scores."""
    matching = [s for s in scores if s.label == item.label]
    if not matching:
        return None
    score = matching[-1]  # scores come from one model version; with several, the last one given wins
    if score.probabilities:
        if item.value not in score.probabilities:
            return None
        return item.points * float(score.probabilities[item.value])
    return item.points if score.value == item.value else 0.0


def score_call(rule_results: Sequence[RuleResult], scores: Sequence[Score], card: RuleSet,
               call_id: str | None = None) -> QAScore:
    """The call's QA score from its rule results and classifier scores (rules: see module docstring).

    Raises ValueError when a rule of the card has no result (the results were evaluated with another
    rules file) or when the inputs belong to different calls.
    """
    ids = {r.call_id for r in rule_results} | {s.call_id for s in scores} | ({call_id} if call_id else set())
    if len(ids) > 1:
        raise ValueError(f"rule results and scores of different calls: {sorted(ids)}")
    if not ids:
        raise ValueError("no call id: pass call_id when there are no rule results or scores")
    by_id = {r.rule_id: r for r in rule_results}
    breakdown: dict[str, float] = {}
    critical_failed = False
    for rule in card.rules:
        result = by_id.get(rule.id)
        if result is None:
            raise ValueError(f"rule {rule.id!r} of the scorecard has no result for this call")
        breakdown[rule.id] = 0.0 if result.passed else float(rule.points)
        critical_failed |= rule.critical and not result.passed
    for item in card.scorecard.models:
        lost = _model_points(item, scores)
        if lost is not None:
            breakdown[item.item_id] = round(lost, 2)
    score = round(max(0.0, 100.0 - sum(breakdown.values())), 2)
    return QAScore(call_id=ids.pop(), score=score, passed=score >= card.scorecard.pass_score and not critical_failed,
                   breakdown=breakdown)


def with_scores(result: CallResult, scores: Sequence[Score], card: RuleSet) -> CallResult:
    """``result`` with the classifier's scores and the QA score recomputed from them (for the flow,
    after the classifier has scored the call)."""
    return dataclasses.replace(result, scores=tuple(scores),
                               qa=score_call(result.rule_results, scores, card, call_id=result.call_id))


def explain(qa: QAScore, card: RuleSet, rule_results: Sequence[RuleResult] = ()) -> list[str]:
    """The score in words: one line per item that cost points (largest first), then what was
    skipped; each rule line carries its result's detail."""
    details = {r.rule_id: r.detail for r in rule_results}
    failed = {r.rule_id for r in rule_results if not r.passed}
    lines = [f"score {qa.score:g}/100: {'pass' if qa.passed else 'FAIL'} (pass mark {card.scorecard.pass_score:g})"]
    critical = {r.id for r in card.rules if r.critical}
    for item, lost in sorted(qa.breakdown.items(), key=lambda kv: -kv[1]):
        critical_failure = item in critical and item in failed
        if lost <= 0 and not critical_failure:
            continue
        note = " [critical: fails the call]" if critical_failure or (item in critical and lost > 0) else ""
        why = f": {details[item]}" if item in details else ""
        lines.append(f"-{lost:g} {item}{note}{why}")
    skipped = [m.item_id for m in card.scorecard.models if m.item_id not in qa.breakdown]
    if skipped:
        lines.append(f"not scored (no classifier output for them): {', '.join(skipped)}")
    return lines
