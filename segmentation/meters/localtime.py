"""Local wall-clock time to UTC, as SQL: the meter time-zone rule.

The rule (documented in the README too):

- naive timestamps are local wall-clock time in ``timezone``; timestamps with
  an offset (``...+01:00``, ``Z``) or typed as UTC in Parquet are used as they are;
- autumn, repeated hour: for each meter the first reading at an ambiguous
  local time (in file order) is summer time, the later ones winter time
  (a third one is then a duplicate, for the duplicate policy);
- spring, missing hour: a reading stamped inside the skipped hour does not
  exist; it is quarantined with that reason.

The rule is compiled from the zone's transitions into plain SQL ``CASE``
expressions, so DuckDB resolves a hundred million readings without a per-row
time-zone library call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def zone_transitions(timezone: str, years: list[int]) -> list[tuple[pd.Timestamp, int, int]]:
    """(UTC instant, offset before, offset after, in minutes) of each offset change in ``years``."""
    found = []
    for year in sorted(set(years)):
        instants = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", tz="UTC",
                                 inclusive="left")
        offset = ((instants.tz_convert(timezone).tz_localize(None) - instants.tz_localize(None))
                  // pd.Timedelta(minutes=1)).to_numpy()
        for i in np.flatnonzero(np.diff(offset)) + 1:
            found.append((instants[i].tz_localize(None), int(offset[i - 1]), int(offset[i])))
    return found


def _local_literal(ts: pd.Timestamp) -> str:
    return f"TIMESTAMP '{ts.strftime('%Y-%m-%d %H:%M:%S')}'"


def local_time_sql(timezone: str, years: list[int], column: str = "local") -> dict[str, str]:
    """SQL for the module's time-zone rule over a naive local ``column``.

    Returns expressions ``offset`` (minutes east of UTC; summer time inside an
    ambiguous hour), ``winter_offset`` (inside an ambiguous hour), ``ambiguous``
    and ``nonexistent``. Built from the zone's transitions in ``years``, so no
    per-row time-zone library call is needed.
    """
    transitions = zone_transitions(timezone, years)
    if not transitions:
        constant = int((pd.Timestamp(f"{min(years or [2000])}-01-01", tz=timezone).utcoffset()
                        // pd.Timedelta(minutes=1)))
        return {"offset": str(constant), "winter_offset": str(constant), "ambiguous": "FALSE",
                "nonexistent": "FALSE"}
    offset = ["CASE"]
    ambiguous, nonexistent, winter = [], [], ["CASE"]
    for instant, before, after in transitions:
        low = _local_literal(instant + pd.Timedelta(minutes=min(before, after)))
        high = _local_literal(instant + pd.Timedelta(minutes=max(before, after)))
        offset.append(f"WHEN {column} < {high} THEN {before}")
        in_range = f"({column} >= {low} AND {column} < {high})"
        if after < before:
            ambiguous.append(in_range)
            winter.append(f"WHEN {in_range} THEN {after}")
        else:
            nonexistent.append(in_range)
    offset.append(f"ELSE {transitions[-1][2]} END")
    winter.append("END")
    return {"offset": " ".join(offset),
            "winter_offset": " ".join(winter) if ambiguous else "NULL",
            "ambiguous": " OR ".join(ambiguous) or "FALSE",
            "nonexistent": " OR ".join(nonexistent) or "FALSE"}
