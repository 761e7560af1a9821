"""The dashboard's access to settings and the warehouse, cached across reruns and sessions.

Settings are read once per process (:func:`settings`); the :class:`~warehouse.Warehouse` is opened once
per database (:func:`warehouse`). Aggregates and lists go through :func:`query`, which calls a function
of :mod:`warehouse.queries` (bound parameters only) and caches its DataFrame for :data:`TTL` seconds;
a write (a label) calls :func:`refresh`. Per-call reads (:func:`load_call`) are primary-key lookups
and are not cached, so a call page always shows what is stored.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import media
from qc.config import Settings, get_settings
from qc.records import CallResult
from warehouse import Warehouse, queries

TTL = 60  # seconds a query result is reused; the warehouse changes nightly, labels call refresh()

# The functions of warehouse.queries that pages may run through query().
QUERIES = frozenset(
    {
        "call_list",
        "find_calls",
        "qa_summary",
        "qa_scores",
        "rule_failures",
        "distinct_values",
        "date_bounds",
        "label_values",
        "label_activity",
        "model_agreement",
        "agent_daily",
        "call_scores",
        "rejections",
        "runs",
    }
)


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The settings, read from the environment (``QC_*``) once per process."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def _open_warehouse(db_url: str, _cfg: Settings) -> Warehouse:
    return Warehouse.open(_cfg)


def warehouse() -> Warehouse:
    """The warehouse of :func:`settings` (migrated to the newest schema on first open)."""
    cfg = settings()
    return _open_warehouse(cfg.db_url, cfg)


FILTER_FIELDS = ("date_from", "date_to", "agent_id", "queue")  # what a page's filters narrow: a CallFilter


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=512)
def _query(db_url: str, name: str, **kwargs: Any) -> Any:
    fn = getattr(queries, name)
    if "where" in inspect.signature(fn).parameters:
        where = queries.CallFilter(**{k: kwargs.pop(k) for k in FILTER_FIELDS if k in kwargs})
        return fn(warehouse(), where, **kwargs)
    return fn(warehouse(), **kwargs)


def query(name: str, **kwargs: Any) -> Any:
    """``warehouse.queries.<name>(warehouse, **kwargs)``, cached for :data:`TTL` seconds; the page's
    filters (``date_from``, ``date_to``, ``agent_id``, ``queue``) become the query's
    :class:`~warehouse.queries.CallFilter`."""
    if name not in QUERIES:
        raise ValueError(f"unknown dashboard query {name!r}")
    return _query(settings().db_url, name, **kwargs)


def refresh() -> None:
    """Forget cached query results (after a write)."""
    _query.clear()


def load_call(call_id: str) -> CallResult | None:
    """Everything stored about a call, or None when no call has this id."""
    try:
        return warehouse().load_call(call_id)
    except KeyError:
        return None


def label_history(call_id: str) -> pd.DataFrame:
    return warehouse().label_history(call_id)


def model_versions() -> pd.DataFrame:
    return warehouse().model_versions()


def label_choices() -> dict[str, list[str]]:
    """Label -> values offered for labelling: the configured ones, the model versions' label schemas
    and every (label, value) already stored, merged in that order."""
    choices: dict[str, list[str]] = {k: list(v) for k, v in settings().dashboard_labels.items()}

    def add(label: Any, values: Any) -> None:
        label = str(label).strip()
        if not label:
            return
        known = choices.setdefault(label, [])
        for value in values:
            value = str(value).strip()
            if value and value not in known:
                known.append(value)

    versions = model_versions()
    for schema in versions.get("label_schema", pd.Series(dtype=object)):
        for label, spec in (schema or {}).items():
            add(label, _schema_values(spec))
    pairs = query("label_values")
    for label, group in pairs.groupby("label", sort=False):
        add(label, group["value"])
    return choices


def _schema_values(spec: Any) -> list[Any]:
    """Values of one label in a model's ``label_schema``: a list, or a dict holding one under a usual
    key (``values``/``classes``/``labels``), or a dict of value -> index."""
    if isinstance(spec, list | tuple):
        return list(spec)
    if isinstance(spec, dict):
        for key in ("values", "classes", "labels"):
            if isinstance(spec.get(key), list | tuple):
                return list(spec[key])
        if all(isinstance(v, int) for v in spec.values()):
            return list(spec)
    return []


@st.cache_data(show_spinner=False, max_entries=32)
def _spectrogram(
    path: str, mtime_ns: int, size: int, names: tuple[str, ...], turns: tuple[tuple[float, float, str], ...]
) -> bytes:
    return media.spectrogram_png(Path(path), names, turns)


def spectrogram(
    source: media.AudioSource, names: list[str], turns: tuple[tuple[float, float, str], ...]
) -> bytes:
    """The spectrogram PNG of a call's audio, cached per file version (path, mtime, size)."""
    stat = source.path.stat()
    return _spectrogram(str(source.path), stat.st_mtime_ns, stat.st_size, tuple(names), turns)
