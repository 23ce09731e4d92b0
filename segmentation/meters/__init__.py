"""Smart-meter load-profile segmentation: interval readings in, named segments out.

Modules, in pipeline order:

- ``sample``: generator of households with planted archetypes (long Parquet).
- ``ingest``: read long / LCL / wide CSV (optionally gzip) or Parquet as one
  canonical relation for DuckDB; types it in SQL, with the time-zone rule.
- ``store``: the processed readings store (Parquet sharded by meter) with a
  per-file ledger keyed by content hash; validates each file's (meter, month)
  summary with the Great Expectations suite ``expectations/readings.json``,
  detects the resolution, quarantines failing readings.
- ``pipeline``: the per-shard step (grid, duplicates, gaps, features) and the
  reading accounting.
- ``clean``: duplicate policy, the interval grid, short-gap interpolation,
  meter-level quarantine.
- ``features``: per-meter load-profile features on the cleaned grid.
- ``naming``: documented naming rules for load-profile segments.
- ``outputs``: output tables, meter plots and the markdown report.
- ``record``: the run's policies, accounting, manifest and report.
"""
