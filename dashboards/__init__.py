"""The QA analysts' dashboard (Streamlit): overview, calls, call detail, agents, labelling, models.

Start it with ``callqc dashboard [--port N] [--host ADDR]`` (runs ``streamlit run dashboards/app.py``).
It reads the warehouse through :mod:`warehouse.queries` and :class:`warehouse.Warehouse` (SQLite or
PostgreSQL, from the ``QC_*`` settings) and writes one thing: human labels (``Warehouse.set_label``),
which the retraining flow reads. See ``dashboards/README.md`` for the login and the pages.

Nothing imports this package; it imports :mod:`warehouse`, :mod:`qc.records` and :mod:`qc.config`.
"""
