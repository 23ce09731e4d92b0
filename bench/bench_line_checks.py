"""Costs of naming lines: the preflight's field count, and line numbers while staging
(``make bench``).

The CLI's preflight reads every reading file once before Prefect starts: it checks the
bytes are UTF-8 (``filecheck.scan_text``) and, for meters, that every line has one field per
column (``FieldCount``), so a ragged line is refused, naming it, before the run starts.
This measures that pass on an LCL-shaped file (``LCLid,stdorToU,DateTime,KWH/hh``, the
London trial's layout), plain and gzip-compressed: the baseline is the same pass without
the field count, run in the same process on the same file; the figure is the ratio, and
the extra seconds per GB of text.

Staging reads the file with Arrow through ``lines.LineCounter``, which notes the empty lines
Arrow skips so that quarantined rows keep their line numbers: the baseline is Arrow reading
the same file straight from disk, with staging's options.

Usage: ``.venv/bin/python bench/bench_line_checks.py [ROWS]`` (default 20,000,000 rows, about
1 GB of text); writes bench/results/bench_line_checks.json.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from segmentation.filecheck import scan_text
from segmentation.lines import LineCounter

RESULTS = Path(__file__).resolve().parent / "results" / "bench_line_checks.json"


def write_lcl(path: Path, rows: int, compressed: bool) -> int:
    """An LCL-shaped file of ``rows`` readings (blocks of 48 half-hours per meter); bytes of text."""
    day = "".join(f"MAC{{m:06d}},Std,2013-01-01 {h // 2:02d}:{30 * (h % 2):02d}:00.0000000,"
                  f"{0.1 + h / 100:.3f} \n" for h in range(48))
    header = "LCLid,stdorToU,DateTime,KWH/hh (per half hour) \n"
    opener = gzip.open if compressed else open
    size = len(header)
    with opener(path, "wt", encoding="utf-8", **({"compresslevel": 1} if compressed else {})) as out:
        out.write(header)
        for m in range(rows // 48):
            block = day.format(m=m)
            out.write(block)
            size += len(block)
    return size


def best_of(runs: int, **kwargs) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scan_text(**kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def arrow_read(path: Path, compressed: bool, counted: bool) -> float:
    """Seconds to read every batch as staging does (64 MB blocks, text cells)."""
    start = time.perf_counter()
    stream = pa.input_stream(path, compression="gzip" if compressed else None)
    with LineCounter(stream) if counted else stream as source:
        for _ in pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=64 << 20),
                                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                                convert_options=pacsv.ConvertOptions(
                                    column_types={"LCLid": pa.string()})):
            pass
    return time.perf_counter() - start


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for compressed in (False, True):
            path = Path(tmp) / ("lcl.csv.gz" if compressed else "lcl.csv")
            size = write_lcl(path, rows, compressed)
            base = best_of(3, path=path, compressed=compressed)
            checked = best_of(3, path=path, compressed=compressed, fields=True)
            bare = min(arrow_read(path, compressed, False) for _ in range(3))
            counted = min(arrow_read(path, compressed, True) for _ in range(3))
            gb = size / 1e9
            results["gzip" if compressed else "plain"] = {
                "rows": rows, "text_gb": round(gb, 3),
                "preflight": {"utf8_scan_s": round(base, 2), "with_field_count_s": round(checked, 2),
                              "ratio": round(checked / base, 2),
                              "extra_s_per_gb": round((checked - base) / gb, 2)},
                "staging_read": {"arrow_s": round(bare, 2), "through_line_counter_s": round(counted, 2),
                                 "ratio": round(counted / bare, 2),
                                 "extra_s_per_gb": round((counted - bare) / gb, 2)}}
            path.unlink()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
