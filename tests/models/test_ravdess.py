"""The classifier on real speech, end to end: RAVDESS clips imported as calls through ``callqc run``,
their emotions through ``callqc labels import``, then ``callqc eval classifier`` with folds grouped by
actor (no actor in both training and test). A subset of actors small enough for CI; the whole corpus
is ``python -m bench.ravdess``."""

from __future__ import annotations

import re

import pytest

from bench import ravdess

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ravdess.corpus_dir() / "labels.csv").exists(),
                                 reason=f"no RAVDESS copy at {ravdess.corpus_dir()} (../shared/data/ravdess)")]

ACTORS, PER_ACTOR, FOLDS = 6, 20, 3


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    work = tmp_path_factory.mktemp("ravdess")
    ravdess.import_corpus(work, actors=ACTORS, per_actor=PER_ACTOR)
    return work


def test_subset_has_every_emotion_of_every_actor():
    rows = ravdess.clips(ACTORS, PER_ACTOR)
    assert len(rows) == ACTORS * PER_ACTOR
    for speaker in {r["speaker"] for r in rows}:
        assert len({r["label"] for r in rows if r["speaker"] == speaker}) == 8


def test_emotion_is_heard_in_voices_the_model_never_heard(imported, test_output):
    out = ravdess.callqc(imported, "eval", "classifier", "--folds", str(FOLDS), "--group-by", "agent_id",
                         "--out", str(test_output / "ravdess-cv"))
    lines = out.strip().splitlines()
    f1 = float(re.fullmatch(r"F1 (\d\.\d+)", lines[-1]).group(1))
    assert f"{ACTORS * PER_ACTOR} labelled calls, {ACTORS} groups by agent_id" in out
    # 8 emotions (chance 0.125), 80 training clips a fold, every test actor unheard: the words are the
    # same two sentences in every clip, so all of it is heard in the voice
    assert f1 >= 0.45, out
    baseline = float(re.search(r"baseline\s+macro-F1 (\d\.\d+)", out).group(1))
    assert f1 > baseline, out
    assert (test_output / "ravdess-cv" / "classifier-cv.md").read_text().startswith("# Classifier cross-validation")
    assert (test_output / "ravdess-cv" / "classifier-cv.png").stat().st_size > 10_000
