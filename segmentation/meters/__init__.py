"""Smart-meter load-profile segmentation: interval readings in, named segments out.

Modules, in pipeline order:

- ``sample``: generator of households, realistic or with planted archetypes (long Parquet).
- ``sources``: read long / LCL / wide CSV (optionally gzip) or Parquet as one
  canonical relation for DuckDB; types it in SQL, with the time-zone rule.
- ``ingest``: one raw file into the store, end to end: summary, Great
  Expectations validation (``expectations/readings.json``), resolution,
  quarantine, day vectors, commit.
- ``day_vectors``: readings into one row per (meter, local day), in numpy,
  with the duplicate policy within a file.
- ``store``: the store of day vectors (layout, ledger, commit, reading parts).
- ``pipeline``: the per-shard step (merging files, gaps, features) and the
  reading accounting.
- ``clean``: cleaning policies, the window, short-gap interpolation,
  meter-level quarantine.
- ``features``: per-meter load-profile features on the cleaned grid.
- ``seasons``: winter and summer months by hemisphere.
- ``segment``: load-shape archetypes, consumption bands, seasonal users.
- ``naming``: documented naming rules for load-shape archetypes.
- ``outputs``: output tables, meter plots and the markdown report.
- ``record``: the run's policies, accounting, manifest and report.
"""
