"""One output contract, stated in docs/outputs.md: its tables are read from the page and
compared with the Parquet files a real customer run and a real meter run publish (names,
order, Arrow types); and the quarantine files hold what the page says they hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation import contract
from tests.real_runs import BAD_CUSTOMER_LINES, CUSTOMERS

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "outputs.md"
TYPES = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(),
         "float64": pa.float64(), "bool": pa.bool_(), "date": pa.date32(),
         "list of float64": pa.list_(pa.float64()), "list of int64": pa.list_(pa.int64())}


# ---------------------------------------------------------------- the page's tables

def doc_tables(text: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(file, part) -> the (column, type) rows of each column table of the page.

    ``file`` is the ``##`` heading's file name (``segments.parquet``); ``part`` is
    ``customers`` or ``meters`` when the line before the table starts with "Customers"
    or "Meters", else ``shared``.
    """
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    heading, lead, rows = "", "", None
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if rows is None:
                rows = [] if cells[:2] == ["column", "type"] else False
            elif rows is not False and not set(cells[0]) <= set("-: "):
                rows.append((cells[0], cells[1]))
            continue
        if rows:
            part = ("customers" if lead.startswith("Customers") else
                    "meters" if lead.startswith("Meters") else
                    "transactions" if lead.startswith("Purchase logs") else "shared")
            tables[(heading, part)] = rows
        rows = None
        if line.startswith("## "):
            heading, lead = line[3:].split()[0].strip("`"), ""
        elif line.strip():
            lead = line.strip()
    return tables


def expected_columns(tables: dict, file: str, kind: str) -> list[tuple[str, pa.DataType]]:
    """The columns the page promises in ``file`` of a ``kind`` run, in order: the shared
    table with the kind's own columns before ``run_date`` (last) when it has one."""
    shared = tables.get((file, "shared"), [])
    own = tables.get((file, kind), [])
    rows = (shared[:-1] + own + shared[-1:] if shared and shared[-1][0] == "`run_date`"
            else shared + own)
    return columns(rows, kind)


def columns(rows: list[tuple[str, str]], kind: str) -> list[tuple[str, pa.DataType]]:
    """Table rows as (name, Arrow type); a cell naming one column per kind
    (`customer_id` / `meter_id`) gives the kind's."""
    out = []
    for cell, type_text in rows:
        names = re.findall(r"`([^`]+)`", cell)
        id_of = {"customers": 0, "meters": 1, "transactions": 0}     # customer_id / meter_id
        out.append((names[0] if len(names) == 1 else names[id_of[kind]], TYPES[type_text]))
    return out


def name_pattern(name: str) -> re.Pattern:
    """A table's column name as a pattern: each ``<...>`` stands for any text."""
    return re.compile(".+".join(re.escape(part) for part in re.split(r"<[^>]+>", name)))


def mismatches(expected: list[tuple[str, pa.DataType]], schema: pa.Schema) -> list[str]:
    """How ``schema`` departs from ``expected`` (empty: it conforms).

    A named row takes the next column, which must have its name and type; a row with
    ``<...>`` in its name takes the following columns of its type whose names fit, up to
    one the next row names (``share_<column>_<category>`` names some; ``<text column>``
    none), and at least one.
    """
    problems, fields, i = [], list(schema), 0
    for k, (name, kind) in enumerate(expected):
        if "<" in name:
            following = expected[k + 1][0] if k + 1 < len(expected) else ""
            fits = name_pattern(name)          # the next row stops it only by a name of its own
            stop = name_pattern(following) if re.sub(r"<[^>]+>", "", following) else None
            start = i
            while (i < len(fields) and fields[i].type == kind and fits.fullmatch(fields[i].name)
                   and not (stop and stop.fullmatch(fields[i].name))):
                i += 1
            if i == start:
                problems.append(f"{name}: no {kind} column at position {i}")
        elif i >= len(fields) or (fields[i].name, fields[i].type) != (name, kind):
            found = f"{fields[i].name} {fields[i].type}" if i < len(fields) else "nothing"
            problems.append(f"position {i}: the page says {name} {kind}, the file has {found}")
            i += 1
        else:
            i += 1
    problems += [f"a column the page does not name: {f.name} {f.type}" for f in fields[i:]]
    return problems


def test_the_page_has_every_table_the_test_reads():
    tables = doc_tables(DOC.read_text())
    assert set(tables) == {(file, part) for file in ("segments.parquet", "profiles.parquet",
                                                     "quarantine.parquet")
                           for part in ("shared", "customers", "meters", "transactions")} | {
        ("quarantine_meters.parquet", "shared"), ("migrations.parquet", "shared"),
        ("predictions.parquet", "shared"), ("assignments.parquet", "shared"),
        ("assignments.parquet", "meters"), ("comparison.parquet", "shared")}
    for rows in tables.values():
        assert rows and all(kind in TYPES for _, kind in rows)


def test_a_renamed_or_retyped_column_is_a_mismatch():
    """The comparison itself: a rename, a type change, an extra or a missing column."""
    page = [("id", pa.string()), ("<numeric>", pa.float64()), ("flag", pa.bool_()),
            ("run_date", pa.date32())]
    good = pa.schema([("id", pa.string()), ("a", pa.float64()), ("b", pa.float64()),
                      ("flag", pa.bool_()), ("run_date", pa.date32())])
    assert mismatches(page, good) == []
    assert mismatches(page, good.set(3, pa.field("flagged", pa.bool_())))
    assert mismatches(page, good.set(0, pa.field("id", pa.int64())))
    assert mismatches(page, good.set(1, pa.field("a", pa.string())))
    assert mismatches(page, good.append(pa.field("extra", pa.string())))
    assert mismatches(page, good.remove(4))
    assert mismatches(page, good.remove(2).remove(1))      # a pattern needs one column at least


def test_an_input_is_named_relative_to_the_data_root_when_inside_it(tmp_path):
    root = tmp_path / "data"
    assert contract.source_file_name(root / "raw" / "meters" / "x.csv", root) == "raw/meters/x.csv"
    assert contract.source_file_name(root / "raw" / ".." / "in.csv", root) == "in.csv"
    assert contract.source_file_name(tmp_path / "out.csv", root) == str(tmp_path / "out.csv")
    assert contract.source_file_name(tmp_path / "out.csv", None) == str(tmp_path / "out.csv")


# ---------------------------------------------------------------- real runs

@pytest.fixture
def runs(real_runs) -> dict:
    """A real customer run (a categorical column, bad lines) and a real meter run (damaged
    sample readings: bad values and exact duplicates), from files under the data root."""
    return real_runs


@pytest.fixture
def runs_of_every_kind(real_runs, transaction_run) -> dict:
    """The two real runs and a purchase-log run through the CLI (generated oddities)."""
    return {**real_runs, "transactions": transaction_run}


@pytest.mark.parametrize("kind", ["customers", "meters", "transactions"])
@pytest.mark.parametrize("file", ["segments", "profiles", "quarantine", "quarantine_meters",
                                  "migrations", "comparison"])
def test_published_files_follow_the_page(runs_of_every_kind, kind, file):
    if file == "quarantine_meters" and kind != "meters":
        pytest.skip("meters only")
    expected = expected_columns(doc_tables(DOC.read_text()), f"{file}.parquet", kind)
    schema = pq.read_schema(runs_of_every_kind[kind]["published"][file])
    assert expected and mismatches(expected, schema) == []


def test_the_shared_columns_are_the_ones_the_code_declares():
    """``segmentation.contract`` declares the shared columns; the page states the same."""
    tables = doc_tables(DOC.read_text())
    for kind, id_column in contract.ID_COLUMNS.items():
        assert columns(tables[("segments.parquet", "shared")], kind) == [
            (id_column, pa.string()), *contract.SEGMENT_COLUMNS, contract.RUN_DATE]
    assert columns(tables[("profiles.parquet", "shared")], "meters") == [
        *contract.PROFILE_COLUMNS, contract.RUN_DATE]
    assert columns(tables[("quarantine.parquet", "shared")], "meters") == contract.QUARANTINE_COLUMNS
    assert columns(tables[("comparison.parquet", "shared")], "meters") == [
        (f.name, f.type) for f in contract.COMPARISON_SCHEMA]


def test_profiles_share_is_a_fraction_and_atypical_reason_is_null_exactly_when_not_atypical(
        runs_of_every_kind):
    for kind in ("customers", "meters", "transactions"):
        published = runs_of_every_kind[kind]["published"]
        total = duckdb.sql(f"SELECT sum(share), min(share), max(share) "
                           f"FROM '{published['profiles']}'").fetchall()[0]
        assert abs(total[0] - 1) < 1e-9 and 0 < total[1] <= total[2] <= 1   # not "12%"
        bad = duckdb.sql(f"SELECT count(*) FROM '{published['segments']}' WHERE is_atypical <> "
                         "(atypical_reason IS NOT NULL)").fetchall()[0][0]
        assert bad == 0


# ---------------------------------------------------------------- what quarantine holds

def test_customer_quarantine_names_the_file_and_keeps_every_line(runs):
    published = runs["customers"]["published"]
    quarantine = pd.read_parquet(published["quarantine"])
    manifest = json.loads(Path(published["manifest"]).read_text())
    by_row = quarantine.set_index("source_row")
    first = CUSTOMERS + 2                              # header, then the sample's lines
    assert list(by_row.index) == [first, first + 1, first + 2, first + 3]
    assert set(quarantine["source_file"]) == {"raw/customers/customers.csv"}   # relative
    assert quarantine["raw_line"].notna().all()
    text = runs["customers"]["input"].read_text().splitlines()
    duplicate = by_row.loc[first]                     # a copy of line 2
    assert duplicate["reason"] == "exact duplicate of line 2" and duplicate["raw_line"] == text[1]
    assert duplicate["customer_id"] == text[1].split(",")[0]       # its fields, not null
    assert by_row.loc[first + 1, "raw_line"] == BAD_CUSTOMER_LINES[0]
    assert by_row.loc[first + 1, "annual_income_k"] == "-5"
    assert by_row.loc[first + 2, "raw_line"] == BAD_CUSTOMER_LINES[1]
    assert pd.isna(by_row.loc[first + 2, "customer_id"])      # malformed: only raw_line
    assert by_row.loc[first + 3, "raw_line"] == BAD_CUSTOMER_LINES[2]  # both lines of the record
    rows = manifest["rows"]
    assert rows["rows_in"] == CUSTOMERS + 4 == rows["rows_out"] + rows["rows_quarantined"]
    assert rows["rows_quarantined"] == len(quarantine) == 4


def test_meter_quarantine_names_the_file_and_keeps_a_duplicate_s_fields(runs):
    published, counts = runs["meters"]["published"], runs["meters"]["counts"]
    quarantine = pd.read_parquet(published["quarantine"])
    assert len(quarantine) == counts["readings_quarantined"] > 0 and counts["reconciles"]
    assert quarantine["source_file"].str.fullmatch(r"raw/meters/meters_sample_\w+\.parquet").all()
    assert quarantine[["raw_line", "meter_id", "timestamp", "kwh"]].notna().all().all()
    assert (quarantine["raw_line"] == quarantine["meter_id"] + "," + quarantine["timestamp"]
            + "," + quarantine["kwh"]).all()
    duplicates = quarantine[quarantine["reason"] == "exact duplicate"]
    assert len(duplicates) and duplicates["timestamp"].str.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()


# ---------------------------------------------------------------- member attributes

def test_attributes_are_profiled_counted_and_reported_in_both_runs(runs):
    """Both real runs join an attribute table (tests/real_runs.py): profiles.parquet has
    the attribute columns, the manifest the join's counts, the report its section."""
    from tests.real_runs import ATTRIBUTE_CUSTOMERS, UNKNOWN_IDS, attributes_of

    for kind in ("customers", "meters"):
        published = runs[kind]["published"]
        manifest = json.loads(Path(published["manifest"]).read_text())["attributes"]
        members = pd.read_parquet(published["segments"], columns=[contract.ID_COLUMNS[kind]])
        members = set(members.iloc[:, 0])
        if kind == "customers":   # ids 0001-0100 match customers 1-100; 9999 matches none
            listed = {str(i) for i in range(1, ATTRIBUTE_CUSTOMERS + 1)} | {UNKNOWN_IDS[0]}
            assert manifest["columns"] == {"region": "categorical", "household_size": "numeric"}
        else:
            listed = set(pd.read_parquet(attributes_of(runs["root"], kind))["meter_id"])
            assert manifest["columns"] == {"tariff": "categorical", "floor_area_m2": "numeric"}
        matched = len(members & listed)
        assert 0 < matched < len(members)
        assert manifest["counts"] == {"attribute_rows": len(listed),
                                      "attribute_ids_unmatched": len(listed) - matched,
                                      "members_with_attributes": matched,
                                      "members_without_attributes": len(members) - matched}
        profiles = pd.read_parquet(published["profiles"])
        assert profiles["attr_members"].sum() == matched
        assert np.allclose(profiles.filter(like="attr_share_").sum(axis=1), 1.0)
        strength = manifest["strength_cramers_v"]
        assert list(strength) == [c for c, k in manifest["columns"].items() if k == "categorical"]
        assert all(0 <= v <= 1 for v in strength.values())
        report = Path(published["report"]).read_text()
        assert "## Member attributes" in report and "Cramér's V" in report


def test_every_run_publishes_its_model_beside_its_segments_in_the_partition_and_latest(
        runs_of_every_kind):
    from segmentation.artifact import ModelArtifact

    for kind in ("customers", "meters", "transactions"):
        partition = Path(runs_of_every_kind[kind]["published"]["segments"]).parent
        model = ModelArtifact.load(partition / "model.json", kind=kind)
        profiles = pd.read_parquet(partition / "profiles.parquet")
        assert [(s["segment_id"], s["segment_name"]) for s in model.segments] == list(
            zip(profiles["segment_id"], profiles["segment_name"]))
        assert model.k["chosen"] == len(profiles) == len(model.centroids)
        assert model.run_date == str(profiles["run_date"].iloc[0])
        latest = partition.parent / "latest" / "model.json"
        assert latest.read_bytes() == (partition / "model.json").read_bytes()
