"""Cost of the preflight's field-count check of reading files (``make bench``).

The CLI's preflight reads every reading file once before Prefect starts: it checks the
bytes are UTF-8 (``filecheck.scan_text``) and, for meters, that every line has one field per
column (``FieldCount``), so a ragged line is refused, naming it, before the run starts.
This measures that pass on an LCL-shaped file (``LCLid,stdorToU,DateTime,KWH/hh``, the
London trial's layout), plain and gzip-compressed: the baseline is the same pass without
the field count, run in the same process on the same file; the figure is the ratio, and
the extra seconds per GB of text.

Usage: ``.venv/bin/python bench/bench_preflight.py [ROWS]`` (default 20,000,000 rows, about
1 GB of text); writes bench/results/bench_preflight.json.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

from segmentation.filecheck import scan_text

RESULTS = Path(__file__).resolve().parent / "results" / "bench_preflight.json"


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


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for compressed in (False, True):
            path = Path(tmp) / ("lcl.csv.gz" if compressed else "lcl.csv")
            size = write_lcl(path, rows, compressed)
            base = best_of(3, path=path, compressed=compressed)
            checked = best_of(3, path=path, compressed=compressed, fields=True)
            results["gzip" if compressed else "plain"] = {
                "rows": rows, "text_gb": round(size / 1e9, 3),
                "utf8_scan_s": round(base, 2), "with_field_count_s": round(checked, 2),
                "ratio": round(checked / base, 2),
                "extra_s_per_gb": round((checked - base) / (size / 1e9), 2)}
            path.unlink()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
