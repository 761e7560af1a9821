"""The callqc warehouse: SQL tables + Alembic migrations, Parquet datasets, analyst queries.

>>> wh = Warehouse.open(settings)               # SQLite file in data_dir by default, or PostgreSQL by URL
>>> run_id = wh.start_run(settings.public_dict(), code_version)
>>> parquet.write_calls(results, settings.parquet_dir)   # Parquet first: SQL decides what a rerun skips
>>> for r in results: wh.save_call(r, run_id)
"""

from warehouse.store import LabelImportReport, ModelVersion, Warehouse

__all__ = ["LabelImportReport", "ModelVersion", "Warehouse"]
