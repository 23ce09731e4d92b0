"""Smart-meter load-profile segmentation: interval readings in, named segments out.

Modules, in pipeline order:

- ``sample``: generator of households with planted archetypes (long Parquet).
- ``ingest``: read long / LCL / wide CSV (optionally gzip) or Parquet in
  chunks, detect the resolution, read naive timestamps in a time zone.
- ``store``: the processed readings store (Parquet sharded by meter) with a
  per-file ledger keyed by content hash; runs the Great Expectations suite
  ``expectations/readings.json`` on every chunk.
- ``clean``: duplicate policy, the interval grid, short-gap interpolation,
  meter-level quarantine.
- ``features``: per-meter load-profile features on the cleaned grid.
- ``naming``: documented naming rules for load-profile segments.
- ``outputs``: output tables, meter plots and the markdown report.
"""
