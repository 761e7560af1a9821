"""Compliance rules and the scorecard's weights, from one YAML file the user edits.

The file (default: the shipped ``qc/rules_default.yaml``; the user's: ``Settings.rules_file``) is
validated by the pydantic models below; unknown keys, missing keys and wrong values are rejected with
a :class:`RulesError` that names the file, the rule and the key. Three kinds of rule:

``required_phrase``
    One of ``phrases`` (paraphrases of each other) must be said by ``role`` (``agent``,
    ``customer`` or ``any``), optionally ``within_first`` seconds of the recording (the phrase must
    start by then) or ``within_last`` seconds of the conversation (it must end after the last speech's
    end minus that). Matching is tolerant (:func:`find_phrase`): ASR errors, dropped or extra words.
``forbidden_phrase``
    None of ``phrases`` may be said by ``role`` (same matching and windows).
    Phrases of one or two words need a near-exact match (``SHORT_PHRASE_THRESHOLD``) in every rule.
``metric``
    A :class:`~qc.records.ConversationMetrics` field must stay within ``min``/``max``.

Each rule may cost ``points`` on the scorecard when it fails, and a ``critical`` rule fails the whole
call. The ``scorecard`` section holds the pass mark and the model items (see :mod:`qc.scorecard`).

Every :class:`~qc.records.RuleResult` carries its evidence: the matched words and their time span, or
in ``detail`` why the rule failed (including the closest near miss for a missing phrase). Rules run on
the raw words; evidence text is masked with the PII placeholders the caller passes (``mask``), so a
stored result never holds text that redaction removed elsewhere.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qc.conversation import longest_silence
from qc.records import ConversationMetrics, RuleResult, Turn, Word

RoleFilter = Literal["agent", "customer", "any"]
DEFAULT_RULES = "rules_default.yaml"
MAX_EXTRA_WORDS = 2  # a match may span this many words more or fewer than the phrase has
SHORT_PHRASE_THRESHOLD = 95.0  # similarity a phrase of one or two words needs, whatever the rule says


class RulesError(ValueError):
    """A rules file that cannot be used; the message says where and why."""


def _metric_names() -> tuple[str, ...]:
    hints = typing.get_type_hints(ConversationMetrics)
    return tuple(f.name for f in dataclasses.fields(ConversationMetrics)
                 if f.name != "call_id" and any(t in (int, float) for t in (hints[f.name], *typing.get_args(hints[f.name]))))


METRIC_NAMES = _metric_names()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=128)
    description: str = ""
    points: float = Field(0.0, ge=0, le=100, description="Scorecard points lost when the rule fails.")
    critical: bool = Field(False, description="A failure fails the call whatever its score.")


class _PhraseRule(_Rule):
    role: RoleFilter = "agent"
    phrases: list[str] = Field(min_length=1)
    threshold: float = Field(80.0, ge=50, le=100, description="Similarity 0-100 a match needs.")
    within_first: float | None = Field(None, gt=0, description="Phrase starts within this many s of the call.")
    within_last: float | None = Field(None, gt=0, description="Phrase ends within this many s of the end.")

    @field_validator("phrases")
    @classmethod
    def _words_in_phrases(cls, phrases: list[str]) -> list[str]:
        for p in phrases:
            if not normalize(p):
                raise ValueError(f"phrase {p!r} has no words")
        return phrases

    @model_validator(mode="after")
    def _one_window(self) -> "_PhraseRule":
        if self.within_first is not None and self.within_last is not None:
            raise ValueError("give within_first or within_last, not both")
        return self


class RequiredPhrase(_PhraseRule):
    kind: Literal["required_phrase"]


class ForbiddenPhrase(_PhraseRule):
    kind: Literal["forbidden_phrase"]
    threshold: float = Field(90.0, ge=50, le=100, description="Similarity 0-100 a match needs.")


class MetricRule(_Rule):
    kind: Literal["metric"]
    metric: str
    min: float | None = None
    max: float | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        if name not in METRIC_NAMES:
            raise ValueError(f"unknown metric {name!r}; one of: {', '.join(METRIC_NAMES)}")
        return name

    @model_validator(mode="after")
    def _bounds(self) -> "MetricRule":
        if self.min is None and self.max is None:
            raise ValueError("a metric rule needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


Rule = Annotated[RequiredPhrase | ForbiddenPhrase | MetricRule, Field(discriminator="kind")]


class ModelItem(_Strict):
    """A classifier output on the scorecard: ``points`` x the probability that ``label`` is ``value``."""

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:=\-]+$", max_length=128)
    label: str
    value: str
    points: float = Field(ge=0, le=100)
    description: str = ""

    @property
    def item_id(self) -> str:
        return self.id or f"model:{self.label}={self.value}"


class Scorecard(_Strict):
    pass_score: float = Field(80.0, ge=0, le=100, description="A call passes at this score or above.")
    models: list[ModelItem] = Field(default_factory=list)


class RuleSet(_Strict):
    """The whole rules file: rules plus scorecard."""

    version: Literal[1] = 1
    rules: list[Rule] = Field(default_factory=list)
    scorecard: Scorecard = Field(default_factory=Scorecard)

    @model_validator(mode="after")
    def _consistent(self) -> "RuleSet":
        ids = [r.id for r in self.rules] + [m.item_id for m in self.scorecard.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule/item ids: {', '.join(dupes)}")
        points = sum(r.points for r in self.rules) + sum(m.points for m in self.scorecard.models)
        if points > 100 + 1e-9:
            raise ValueError(f"rules and model items may cost at most 100 points in all; these add up to {points:g}")
        return self

    def rule(self, rule_id: str) -> RequiredPhrase | ForbiddenPhrase | MetricRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


# --- loading -------------------------------------------------------------------------------------

_KINDS: dict[str, type[_Rule]] = {"required_phrase": RequiredPhrase, "forbidden_phrase": ForbiddenPhrase,
                                  "metric": MetricRule}


def _is_tag(loc: tuple, n: int) -> bool:
    """pydantic puts a discriminated union's tag in error locations: ``rules.0.metric.max``."""
    return n == 2 and loc[0] == "rules" and loc[n] in _KINDS


def _where(loc: tuple, data: object) -> str:
    """A readable location like ``rules[2] (id 'greeting').threshold``."""
    out, node = "", data
    for n, key in enumerate(loc):
        if _is_tag(loc, n):
            continue
        if isinstance(key, int):
            out += f"[{key}]"
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
            if isinstance(node, dict) and "id" in node:
                out += f" (id {node['id']!r})"
        else:
            out += ("." if out else "") + str(key)
            node = node.get(key) if isinstance(node, dict) else None
    return out or "(top level)"


def _model_at(parent: tuple) -> type[BaseModel] | None:
    """The schema model of the mapping at location ``parent`` (for listing its allowed keys)."""
    if not parent:
        return RuleSet
    if parent[0] == "rules" and len(parent) == 3:
        return _KINDS.get(str(parent[2]))
    if parent == ("scorecard",):
        return Scorecard
    if parent[:2] == ("scorecard", "models") and len(parent) == 3:
        return ModelItem
    return None


def _explain(exc: ValidationError, data: object, source: str) -> RulesError:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            where = _where(loc[:-1], data)
            model = _model_at(loc[:-1])
            hint = f" (allowed: {', '.join(model.model_fields)})" if model else ""
            lines.append(f"{where}: unknown key {loc[-1]!r}{hint}")
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            lines.append(f"{_where(loc, data)}: 'kind' must be one of required_phrase, forbidden_phrase, metric")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{_where(loc, data)}: {msg}")
    return RulesError(f"invalid rules file {source}:\n  " + "\n  ".join(lines))


@functools.lru_cache(maxsize=8)
def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """A :class:`RuleSet` from YAML text. Raises :class:`RulesError` with every problem found.

    Parsed once per text (the rule set is frozen): the nightly run reads its rules file for every
    call, and parsing the YAML and validating it took longer than checking the call's rules."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"rules file {source} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(f"rules file {source}: the top level must be a mapping with 'rules' and 'scorecard'")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, source) from None


def load_rules(path: Path | None = None) -> RuleSet:
    """The user's rules file, or the shipped default set when ``path`` is None."""
    if path is None:
        text = importlib.resources.files("qc").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        return parse_rules(text, f"qc/{DEFAULT_RULES} (shipped default)")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror or exc}") from exc
    return parse_rules(text, str(path))


# --- tolerant phrase matching ---------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Whisper's English normalisation (:func:`qc.text.normalize`: case, punctuation, contractions
    "don't" -> "do not", numbers, spellings), so phrases and ASR words compare like with like."""
    from qc.text import normalize as whisper_normalize

    return whisper_normalize(text)


@dataclass(frozen=True)
class PhraseMatch:
    """The best window of words for a phrase: word indices (into the call's words), similarity 0-100."""

    first: int
    last: int
    similarity: float
    phrase: str


def find_phrase(words: Sequence[Word], indices: Sequence[int], phrases: Sequence[str],
                min_similarity: float = 0.0, accept: Callable[[int, int], bool] | None = None
                ) -> PhraseMatch | None:
    """The window of consecutive words (``indices`` into ``words``, in time order) most similar to
    any of ``phrases``, or None when nothing reaches ``min_similarity``.

    Windows of the phrase's length give or take ``MAX_EXTRA_WORDS`` words are compared character by
    character (rapidfuzz's normalised Indel similarity on normalised text), so misrecognised,
    dropped, split or extra words still match. ``accept(first, last)`` (word indices) can rule windows
    out, e.g. ones that start after a time limit. Ties go to the earliest window.
    """
    from rapidfuzz import fuzz, process

    tokens: list[tuple[int, str]] = [(i, t) for i in indices if (t := normalize(words[i].text))]
    best: PhraseMatch | None = None
    for phrase in phrases:
        target = normalize(phrase)
        n = len(target.split())
        for size in range(max(1, n - MAX_EXTRA_WORDS), n + MAX_EXTRA_WORDS + 1):
            if size > len(tokens):
                break
            starts = [k for k in range(len(tokens) - size + 1)
                      if accept is None or accept(tokens[k][0], tokens[k + size - 1][0])]
            choices = [" ".join(t for _, t in tokens[k:k + size]) for k in starts]
            cutoff = max(min_similarity, best.similarity if best else 0.0)
            hit = process.extractOne(target, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
            if hit is None:
                continue
            _, score, pos = hit
            k = starts[pos]
            first, last = tokens[k][0], tokens[k + size - 1][0]
            if best is None or score > best.similarity or (score == best.similarity and first < best.first):
                best = PhraseMatch(first=first, last=last, similarity=round(float(score), 1), phrase=phrase)
    return best


# --- evaluation ----------------------------------------------------------------------------------

def masked_text(words: Sequence[Word], first: int, last: int, mask: Sequence[str | None] | None = None) -> str:
    """The text of ``words[first..last]``, each run of masked words replaced by its placeholder."""
    out: list[str] = []
    previous = None
    for i in range(first, last + 1):
        placeholder = mask[i] if mask is not None else None
        if placeholder is None:
            out.append(words[i].text)
        elif placeholder != previous:
            out.append(placeholder)
        previous = placeholder
    return " ".join(out)


def _needed(rule: RequiredPhrase | ForbiddenPhrase, match: PhraseMatch) -> float:
    """The similarity a match needs: the rule's threshold, and at least ``SHORT_PHRASE_THRESHOLD``
    for phrases of one or two words, where one misheard letter makes another phrase ("you people"
    against "you, Peter")."""
    if len(normalize(match.phrase).split()) <= 2:
        return max(rule.threshold, SHORT_PHRASE_THRESHOLD)
    return rule.threshold


def _phrase_seconds(rule: RequiredPhrase | ForbiddenPhrase) -> float:
    """A generous bound on how long saying the rule's longest phrase takes (0.6 s a word)."""
    return 0.6 * (max(len(normalize(p).split()) for p in rule.phrases) + MAX_EXTRA_WORDS)


def _where_words(rule: RequiredPhrase | ForbiddenPhrase) -> str:
    who = "anyone" if rule.role == "any" else f"the {rule.role}"
    if rule.within_first is not None:
        return f"{who} in the first {rule.within_first:g} s"
    if rule.within_last is not None:
        return f"{who} in the last {rule.within_last:g} s"
    return who


def _search(rule: RequiredPhrase | ForbiddenPhrase, words: Sequence[Word], turns: Sequence[Turn]
            ) -> PhraseMatch | None:
    """The rule's best match among the role's words inside its time window (any similarity)."""
    idx = [i for i, w in enumerate(words) if rule.role == "any" or w.role == rule.role]
    accept = None
    if rule.within_first is not None:
        limit = rule.within_first
        idx = [i for i in idx if words[i].start <= limit + _phrase_seconds(rule)]
        accept = lambda first, last: words[first].start <= limit  # noqa: E731
    elif rule.within_last is not None:
        limit = max((t.end for t in turns), default=0.0) - rule.within_last
        idx = [i for i in idx if words[i].end >= limit - _phrase_seconds(rule)]
        accept = lambda first, last: words[last].end >= limit  # noqa: E731
    return find_phrase(words, idx, rule.phrases, accept=accept)


def evaluate_rule(rule: RequiredPhrase | ForbiddenPhrase | MetricRule, call_id: str, turns: Sequence[Turn],
                  words: Sequence[Word], metrics: ConversationMetrics,
                  mask: Sequence[str | None] | None = None) -> RuleResult:
    """One rule on one call, with its evidence (see the module docstring)."""
    base = dict(call_id=call_id, rule_id=rule.id, kind=rule.kind)
    if isinstance(rule, MetricRule):
        return _evaluate_metric(rule, base, turns, metrics)
    best = _search(rule, words, turns)
    hit, near = (best, None) if best is not None and best.similarity >= _needed(rule, best) else (None, best)
    where = _where_words(rule)
    if hit is not None:
        text = masked_text(words, hit.first, hit.last, mask)
        evidence = dict(evidence_text=text, evidence_start=words[hit.first].start,
                        evidence_end=words[hit.last].end)
        detail = f"{where} said {text!r}, similar to {hit.phrase!r} ({hit.similarity:g} >= {_needed(rule, hit):g})"
        passed = rule.kind == "required_phrase"
        if not passed:
            detail = "forbidden: " + detail
        return RuleResult(**base, passed=passed, points_lost=0.0 if passed else rule.points, detail=detail,
                          **evidence)
    if near is not None:
        miss = (f"; closest: {masked_text(words, near.first, near.last, mask)!r} "
                f"({near.similarity:g} < {_needed(rule, near):g})")
    else:
        miss = "; nothing said there"
    if rule.kind == "forbidden_phrase":
        return RuleResult(**base, passed=True, detail=f"no forbidden phrase from {where}{miss}")
    return RuleResult(**base, passed=False, points_lost=rule.points,
                      detail=f"no phrase like {rule.phrases[0]!r} from {where}{miss}")


def _evaluate_metric(rule: MetricRule, base: dict, turns: Sequence[Turn], metrics: ConversationMetrics
                     ) -> RuleResult:
    value = getattr(metrics, rule.metric)
    if value is None:
        return RuleResult(**base, passed=True, detail=f"{rule.metric} not measurable on this call: not applied")
    low = rule.min is not None and value < rule.min
    high = rule.max is not None and value > rule.max
    bound = (f"< min {rule.min:g}" if low else f"> max {rule.max:g}" if high
             else "within " + " and ".join(b for b in (f"min {rule.min:g}" if rule.min is not None else "",
                                                       f"max {rule.max:g}" if rule.max is not None else "") if b))
    span = longest_silence(turns) if rule.metric == "silence_longest" else None
    evidence = dict(evidence_start=round(span[0], 3), evidence_end=round(span[1], 3)) if span else {}
    passed = not (low or high)
    return RuleResult(**base, passed=passed, points_lost=0.0 if passed else rule.points,
                      detail=f"{rule.metric} = {value:g} {bound}", **evidence)


def evaluate_rules(rules: RuleSet, call_id: str, turns: Sequence[Turn], words: Sequence[Word],
                   metrics: ConversationMetrics, mask: Sequence[str | None] | None = None) -> list[RuleResult]:
    """Every rule of the set on one call, in file order.

    ``words`` are the raw (unredacted) words in time order; ``mask``, when given, holds for each word
    the placeholder that replaces it in stored text (None: kept), so evidence is stored redacted.
    """
    if mask is not None and len(mask) != len(words):
        raise ValueError(f"mask has {len(mask)} entries for {len(words)} words")
    return [evaluate_rule(rule, call_id, turns, words, metrics, mask) for rule in rules.rules]
