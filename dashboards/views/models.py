"""Models: the registered classifier versions, which one is promoted, each one's evaluation report and
metrics, and how often its predictions agree with the analysts' labels."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, ui

st.title("Models")
versions = data.model_versions()
if versions.empty:
    ui.empty("No model version is registered yet. The retraining flow registers one when it has trained "
             "a classifier; until then calls carry QA scores from the rules only.")
    st.stop()

promoted = versions[versions["promoted"].astype(bool)]
if promoted.empty:
    st.warning("No version is promoted: nightly runs score calls with no model.", icon=":material/warning:")
else:
    row = promoted.iloc[0]
    since = row["promoted_at"].strftime("%Y-%m-%d %H:%M UTC") if pd.notna(row["promoted_at"]) else ""
    st.success(f"Promoted: **{ui.md(row['version'])}** since {ui.md(since)}", icon=":material/verified:")


def headline(metrics: dict) -> dict[str, float]:
    """The top-level numbers of a metrics dict (nested ones stay in the detail view)."""
    return {k: float(v) for k, v in (metrics or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


table = pd.DataFrame(
    {
        "version": versions["version"],
        "promoted": versions["promoted"].astype(bool),
        "created_at": versions["created_at"],
        "promoted_at": versions["promoted_at"],
        "labels": [", ".join(map(str, (s or {}).keys())) for s in versions["label_schema"]],
        "test calls": [len(t or []) for t in versions["test_split"]],
    }
)
table = pd.concat([table, pd.DataFrame([headline(m) for m in versions["metrics"]])], axis=1)
table["artifact"] = versions["artifact_uri"]
minute = "YYYY-MM-DD HH:mm"
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"created_at": st.column_config.DatetimeColumn("created (UTC)", format=minute),
                            "promoted_at": st.column_config.DatetimeColumn("promoted (UTC)", format=minute)})

names = list(versions["version"])
default = names.index(promoted.iloc[0]["version"]) if not promoted.empty else 0
version = st.selectbox("Version", names, index=default, key="models-version")
chosen = versions[versions["version"] == version].iloc[0]
report_tab, metrics_tab, agreement_tab = st.tabs(["Evaluation report", "Metrics and label schema",
                                                 "Agreement with analysts"])
with report_tab:
    report = chosen["report_markdown"]
    if report:
        # The report is Markdown written by the training code; HTML in it is not rendered.
        st.markdown(report)
    else:
        st.caption("This version has no evaluation report.")
with metrics_tab:
    left, right = st.columns(2)
    left.caption("Metrics")
    left.json(chosen["metrics"] or {}, expanded=2)
    right.caption("Label schema")
    right.json(chosen["label_schema"] or {}, expanded=2)
with agreement_tab:
    agreement = data.query("model_agreement")
    mine = agreement[agreement["model_version"] == version]
    if mine.empty:
        st.caption("This version has scored no stored call.")
    else:
        st.caption("Per label: calls scored, calls an analyst labelled, and how often the model agrees.")
        share = st.column_config.ProgressColumn("agreement", min_value=0, max_value=1, format="percent")
        st.dataframe(mine.drop(columns=["model_version"]), hide_index=True, width="stretch",
                     column_config={"agreement": share})
