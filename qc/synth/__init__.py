"""Synthetic labeled calls: espeak-ng dialogues between an agent and a customer, with their truth.

``generate_corpus(out_dir, calls, seed, layout, snr_db)`` writes a corpus (audio, calls.csv,
labels.csv, RTTM, truth JSON; see :mod:`qc.synth.corpus`). The parts, in the order a call is made:
:mod:`~qc.synth.scenario` (what happens: labels, flags, PII, voices, noise), :mod:`~qc.synth.script`
(the words, from ``phrases.yaml``), :mod:`~qc.synth.voices` (espeak-ng), :mod:`~qc.synth.render`
(telephone audio and the timeline), :mod:`~qc.synth.truth` (what the call really contains).
"""

from qc.synth.corpus import CallRow, CorpusSummary, generate_corpus, make_call
from qc.synth.scenario import Scenario, luhn_valid, sample_scenario
from qc.synth.script import forbidden_phrases, phrase_book, write_script
from qc.synth.truth import CallTruth

__all__ = ["CallRow", "CallTruth", "CorpusSummary", "Scenario", "forbidden_phrases", "generate_corpus",
           "luhn_valid", "make_call", "phrase_book", "sample_scenario", "write_script"]
