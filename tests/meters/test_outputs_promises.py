"""What a meter run publishes, without Prefect (segmentation/meters/outputs.py, docs/meters.md
step 7, docs/outputs.md): the declared schemas, the segments' and profiles' columns and values,
the archetype x band crosstab, the quarantine in file and row order, and the report's pieces
and sections. Tiny hand-made tables; a segment name in them is a claim the numbers back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation.kselect import KSelection
from segmentation.meters import outputs
from segmentation.meters.features import LIST_FEATURES, SCALAR_FEATURES
from segmentation.meters.segment import BANDS, MeterSegmentation
from segmentation.meters.store import QUARANTINE_SCHEMA
from segmentation.report import DASH
from tests.meters.test_segment_promises import meter_frame
from tests.test_report import selection

LOW, MEDIUM, HIGH = BANDS

# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize("file, schema", [("segments", outputs.segments_schema),
                                          ("profiles", outputs.profiles_schema)])
def test_the_declared_schemas_follow_the_page(file, schema):
    """docs/outputs.md: the columns of a meter run's files, in order, with their types (the
    ``attr_`` columns come with ``--attributes`` only)."""
    from tests.test_contract import DOC, doc_tables, expected_columns, mismatches

    expected = [(name, kind) for name, kind in expected_columns(
        doc_tables(DOC.read_text()), f"{file}.parquet", "meters") if not name.startswith("attr_")]
    assert expected and mismatches(expected, schema()) == []


def test_a_band_s_crosstab_column_is_its_name_in_snake_case():
    assert [outputs.band_column(b) for b in BANDS] == ["low_energy_users", "medium_energy_users",
                                                      "high_energy_users"]


# ---------------------------------------------------------------- segments.parquet

def full_features(n_per_kind: int = 2) -> pd.DataFrame:
    """``meter_frame`` with every feature column a run has, numbered ids, an index not from 0."""
    frame = meter_frame(n_per_kind)
    n = len(frame)
    extra = {c: np.linspace(0.1, 0.9, n) for c in SCALAR_FEATURES
             if c not in frame and c != "complete_days"}
    frame = frame.assign(**extra, complete_days=np.arange(n) + 300, n_readings=np.arange(n) * 48,
                         interpolated_intervals=np.arange(n), missing_intervals=np.arange(n) * 2)
    frame["meter_id"] = [1000 + i for i in range(n)]                 # ids that read as numbers
    return frame.set_index(pd.Index(np.arange(n) + 50))


def segmentation_of(features: pd.DataFrame, labels, names, *, atypical=None,
                    seasonal=None) -> MeterSegmentation:
    """A MeterSegmentation as ``segment_meters`` hands it on (bands indexed like the features)."""
    n = len(features)
    atypical = np.zeros(n, bool) if atypical is None else np.asarray(atypical)
    bands = pd.Series(np.array(BANDS)[np.arange(n) % 3], index=features.index, dtype="string")
    seasonal = pd.Series(np.arange(n) % 2 == 1 if seasonal is None else seasonal,
                         index=features.index)
    labels = np.asarray(labels)
    return MeterSegmentation(
        labels=labels, names=names, fallback_segments=set(), distance=np.linspace(0, 1, n),
        atypical=atypical, atypical_reason=["far from every segment" if a else None
                                            for a in atypical],
        selection=selection(), silhouette=0.5, bands=bands,
        band_rule={"text": "Low < 2.0 <= Medium < 4.0 <= High kWh/day (fixed thresholds "
                           "(--kwh-bands))"},
        seasonal=seasonal, segment_labels=[f"label {i}" for i in range(n)],
        weighting={"shape": "daily", "columns": 24},
        confidence={"segment_probability": np.full(n, 0.9), "is_low_confidence": np.zeros(n, bool)})


def test_segments_table_has_the_page_s_columns_in_order():
    """segments.parquet's columns (docs/outputs.md) bar the two the publishing step adds:
    ``previous_segment_id`` (from the previous run) and ``run_date``."""
    features = full_features()
    seg = segmentation_of(features, [0, 0, 1, 1, 2, 2], {0: "Night Users", 1: "Daytime Users",
                                                         2: "Evening Peakers"})
    table = outputs.segments_table(features, seg)
    promised = [n for n in outputs.segments_schema().names
                if n not in ("previous_segment_id", "run_date")]
    assert list(table.columns) == promised
    assert table["segment_id"].dtype == np.int32 and table["is_atypical"].dtype == bool


def test_segments_table_rows_are_the_meters_in_order_with_their_own_values():
    """One row per meter, in the features' order: its id as text, segment id and name, label,
    atypical flag with a reason only when atypical, band, seasonal flag and features."""
    features = full_features()
    names = {4: "Night Users", 7: "Daytime Users", 9: "Evening Peakers"}
    seg = segmentation_of(features, [4, 4, 7, 7, 9, 9], names,
                          atypical=[False, True, False, False, False, False])
    table = outputs.segments_table(features, seg)
    assert list(table.index) == list(range(6))
    assert table["meter_id"].tolist() == ["1000", "1001", "1002", "1003", "1004", "1005"]
    assert table["segment_id"].tolist() == [4, 4, 7, 7, 9, 9]
    assert table["segment_name"].tolist() == ["Night Users"] * 2 + ["Daytime Users"] * 2 + [
        "Evening Peakers"] * 2
    assert table["segment_label"].tolist() == [f"label {i}" for i in range(6)]
    assert table["is_atypical"].tolist() == [False, True, False, False, False, False]
    assert table["atypical_reason"].isna().tolist() == [True, False, True, True, True, True]
    assert table["atypical_reason"].iloc[1] == "far from every segment"
    assert table["consumption_band"].tolist() == [LOW, MEDIUM, HIGH] * 2
    assert table["seasonal_user"].tolist() == [False, True] * 3
    assert table["seasonal_user"].dtype == bool
    assert table["distance_to_centroid"].tolist() == pytest.approx(np.linspace(0, 1, 6))
    assert table["segment_probability"].tolist() == [0.9] * 6
    for column in ("mean_daily_kwh", "night_share", "n_readings", "missing_intervals"):
        assert table[column].tolist() == features[column].tolist(), column
    assert all(np.array_equal(a, b) for a, b in zip(table["profile"], features["profile"]))


def test_seasonal_flags_given_as_numbers_are_booleans():
    """``seasonal_user`` is bool whatever the flags were held as."""
    features = full_features(1)
    seg = segmentation_of(features, [0, 1, 2], {0: "a", 1: "b", 2: "c"},
                          seasonal=np.array([1, 0, 1]))
    column = outputs.segments_table(features, seg)["seasonal_user"]
    assert column.tolist() == [True, False, True] and column.dtype == bool


# ---------------------------------------------------------------- profiles.parquet

def members() -> pd.DataFrame:
    """Five meters of two archetypes, the second listed first: the numbers behind the names
    (Evening Peakers: evening-heavy profiles; Night Users: night-heavy ones)."""
    evening = [np.r_[np.full(16, 0.02), np.full(6, 0.1067), 0.03, 0.03],
               np.r_[np.full(16, 0.025), np.full(6, 0.09), 0.03, 0.03]]
    night = [np.r_[np.full(6, 0.1), np.full(16, 0.02), 0.04, 0.0400004],
             np.r_[np.full(6, 0.09), np.full(16, 0.025), 0.03, 0.03],
             np.r_[np.full(6, 0.11), np.full(16, 0.015), 0.05, 0.05]]
    months = np.full((5, 12), np.nan)
    months[:, 0] = [1.2, 1.4, 1.0, 1.1, 1.3]
    months[0, 6] = 0.8
    return pd.DataFrame({
        "segment_id": [1, 1, 0, 0, 0],
        "segment_name": ["Evening Peakers"] * 2 + ["Night Users"] * 3,
        "is_atypical": [False, False, False, True, True],
        "mean_daily_kwh": [10.0, 20.0, 3.0, 6.0, 30.0],
        "winter_summer_ratio": [np.nan, np.nan, 1.0, np.nan, 2.0],
        "peak_hour": [17.0, 18.0, 1.0, 2.0, 23.0],
        "consumption_band": [MEDIUM, HIGH, LOW, LOW, HIGH],
        "seasonal_user": [False, False, False, False, True],
        "profile": evening + night,
        "monthly_index": list(months)})


def test_profiles_are_one_row_per_archetype_in_id_order_with_the_members_figures():
    """size, share of all meters, atypical count, mean kWh, mean winter/summer ratio where
    available, median peak hour, the band crosstab (0 for a band with no member) and the
    seasonal users."""
    profiles = outputs.profiles_table(members())
    assert profiles["segment_id"].tolist() == [0, 1]
    assert profiles["segment_name"].tolist() == ["Night Users", "Evening Peakers"]
    assert profiles["size"].tolist() == [3, 2]
    assert profiles["share"].tolist() == pytest.approx([0.6, 0.4])
    assert profiles["atypical"].tolist() == [2, 0]
    assert profiles["mean_daily_kwh"].tolist() == pytest.approx([13.0, 15.0])
    assert profiles["winter_summer_ratio"].iloc[0] == pytest.approx(1.5)
    assert np.isnan(profiles["winter_summer_ratio"].iloc[1])
    assert profiles["peak_hour"].tolist() == [2.0, 17.5]
    assert profiles["low_energy_users"].tolist() == [2, 0]
    assert profiles["medium_energy_users"].tolist() == [0, 1]
    assert profiles["high_energy_users"].tolist() == [1, 1]
    assert profiles["seasonal_users"].tolist() == [1, 0]
    night = profiles.iloc[0]
    assert np.argmax(night["centroid_profile"]) < 6          # the name's claim: night-heavy
    assert np.argmax(profiles.iloc[1]["centroid_profile"]) in range(16, 22)


def test_a_segment_of_one_meter_is_profiled_from_that_meter():
    """Its name, size and figures are that meter's (the night-heaviest one: "strong")."""
    frame = members()
    frame.loc[4, ["segment_id", "segment_name"]] = [5, "Night Users (strong)"]
    row = outputs.profiles_table(frame).iloc[-1]
    assert (row["segment_id"], row["segment_name"], row["size"]) == (5, "Night Users (strong)", 1)
    assert row["mean_daily_kwh"] == 30.0 and row["peak_hour"] == 23.0
    assert row["profile_p10"] == row["profile_p90"] == row["centroid_profile"]


def test_profile_curves_are_the_members_mean_and_spread_point_by_point():
    """centroid_profile is the members' mean profile (6 decimals), profile_p10/p90 their 10th
    and 90th percentiles, monthly_index the mean of the months they cover (4 decimals; NaN
    where none does)."""
    frame = members()
    night = np.vstack(frame["profile"].iloc[2:].to_numpy())
    row = outputs.profiles_table(frame).iloc[0]
    assert row["centroid_profile"] == pytest.approx(night.mean(axis=0), abs=1e-6)
    assert row["centroid_profile"][0] == 0.1 and row["centroid_profile"][6] == 0.02
    assert row["profile_p10"][0] == pytest.approx(0.092) and row["profile_p90"][0] == pytest.approx(0.108)
    assert row["profile_p10"][6] == pytest.approx(0.016) and row["profile_p90"][6] == pytest.approx(0.024)
    assert len(row["profile_p10"]) == len(row["profile_p90"]) == 24
    # 0.04000013, 0.03200008 and 0.04800008 unrounded
    assert (row["centroid_profile"][23], row["profile_p10"][23], row["profile_p90"][23]) == (
        0.04, 0.032, 0.048)
    assert row["monthly_index"][0] == pytest.approx(1.1333, abs=1e-9)
    assert np.isnan(row["monthly_index"][6])
    evening = outputs.profiles_table(frame).iloc[1]
    assert evening["monthly_index"][0] == 1.3 and evening["monthly_index"][6] == 0.8


# ---------------------------------------------------------------- crosstab

def test_the_crosstab_is_archetype_by_band_with_seasonal_users_and_totals_in_id_order():
    """The report's table: one row per archetype in segment-id order (not by name), the three
    bands Low to High (0 where none), Seasonal Users and the row total."""
    table = outputs.crosstab(members())
    assert list(table.columns) == ["archetype", LOW, MEDIUM, HIGH, "Seasonal Users", "all"]
    assert table.values.tolist() == [["Night Users", 2, 0, 1, 1, 3],
                                     ["Evening Peakers", 0, 1, 1, 0, 2]]


def test_a_band_no_meter_is_in_is_a_column_of_zeros():
    frame = members()
    frame["consumption_band"] = MEDIUM
    table = outputs.crosstab(frame)
    assert table[LOW].tolist() == [0, 0] and table[HIGH].tolist() == [0, 0]
    assert table[MEDIUM].tolist() == [3, 2] and table["all"].tolist() == [3, 2]


# ---------------------------------------------------------------- quarantine.parquet

def quarantine_part(path, rows: list[tuple]) -> str:
    """One ingestion part: the contract's columns and one the published file must not carry."""
    frame = pd.DataFrame(rows, columns=["source_file", "source_row", "meter_id"]).assign(
        reason="negative reading", raw_line="x", timestamp="2024-01-01 00:00:00", kwh="-1",
        internal="not published")
    frame["source_row"] = frame["source_row"].astype("int64")
    frame.to_parquet(path, index=False)
    return str(path)


def test_the_quarantine_is_every_part_s_readings_by_file_row_and_meter(tmp_path):
    """Every rejected reading of every file, in one file with the contract's columns, ordered
    by file and row (a wide file's row holds several meters: then by meter); the row count is
    returned, the folder made, nothing else left beside it."""
    parts = [quarantine_part(tmp_path / "b.parquet", [("raw/b.csv", 3, "M1"), ("raw/a.csv", 9, "M1")]),
             quarantine_part(tmp_path / "a.parquet", [("raw/a.csv", 10, "M2"), ("raw/b.csv", 2, "M9"),
                                                      ("raw/a.csv", 9, "M0")])]
    target = tmp_path / "out" / "run" / "quarantine.parquet"
    assert outputs.write_quarantine(parts, target) == 5
    table = pq.read_table(target)
    assert table.schema.names == QUARANTINE_SCHEMA.names
    frame = table.to_pandas()
    assert list(zip(frame["source_file"], frame["source_row"], frame["meter_id"])) == [
        ("raw/a.csv", 9, "M0"), ("raw/a.csv", 9, "M1"), ("raw/a.csv", 10, "M2"),
        ("raw/b.csv", 2, "M9"), ("raw/b.csv", 3, "M1")]
    assert sorted(p.name for p in target.parent.iterdir()) == ["quarantine.parquet"]
    assert outputs.write_quarantine(parts[:1], target) == 2          # a second write replaces it
    assert len(pq.read_table(target)) == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["quarantine.parquet"]


# ---------------------------------------------------------------- plots

@pytest.mark.parametrize("points", [24, 48])
def test_archetype_curves_are_drawn_over_the_local_hours_and_sizes_counted_in_meters(points):
    """docs/meters.md step 7: archetype daily curves over the local day (a point at the start
    of each interval, 0 to 24 h) and segment sizes counted in meters."""
    import matplotlib.pyplot as plt

    from tests.test_plots import meter_tables, selection as plot_selection

    segments, _ = meter_tables()
    segments["profile"] = [np.repeat(p, points // 24) / (points // 24) for p in segments["profile"]]
    profiles = outputs.profiles_table(segments)
    figures = outputs.meter_figures(segments, profiles, plot_selection(), {
        "low_below_kwh_per_day": 10.0, "high_from_kwh_per_day": 30.0}, dataset="grid",
        run_date="2026-11-30")
    try:
        curve = figures["archetypes"].axes[0].lines[0].get_xdata()
        assert np.allclose(curve, np.arange(points) * 24 / points)
        assert figures["segment_sizes"].axes[0].get_xlabel() == "meters"
    finally:
        for fig in figures.values():
            plt.close(fig)


# ---------------------------------------------------------------- the report's pieces

@pytest.mark.parametrize("weighting, sentence", [
    ({"shape": "hourly"}, "Clustered on the hourly load shape."),
    ({}, "Clustered on the daily load shape."),
    ({"shape": "daily", "representation": "shares"}, "Clustered on the daily load shape (shares)."),
    ({"shape": "daily", "columns": 1234, "band_rule": "tertiles"},
     "Clustered on the daily load shape (1,234 columns); band rule: tertiles."),
])
def test_the_clustering_sentence_says_what_was_clustered_and_the_rest(weighting, sentence):
    """``segment.weighting`` in words: the shape, how it was represented, then every other
    key in words (underscores as spaces)."""
    assert outputs.clustering_sentence(weighting) == sentence


def test_the_clustering_sentence_leaves_the_weighting_as_it_was():
    weighting = {"shape": "daily", "representation": "r", "columns": 24, "magnitude": "m"}
    outputs.clustering_sentence(weighting)
    assert weighting == {"shape": "daily", "representation": "r", "columns": 24, "magnitude": "m"}


def test_the_archetype_table_gives_the_ratio_to_two_decimals_and_kwh_to_one():
    """The report's archetype table: winter/summer ratio with 2 decimals whatever its size,
    kWh/day and the peak hour with 1."""
    profiles = outputs.profiles_table(members()).assign(winter_summer_ratio=[10.254, 0.5])
    table = outputs.archetype_table(profiles)
    assert table["winter/summer ratio"].tolist() == ["10.25", "0.50"]
    assert table["mean daily consumption (kWh/day)"].tolist() == ["13.0", "15.0"]
    assert table["peak hour (local, median)"].tolist() == ["2.0", "17.5"]


def test_utc_time_keeps_the_minute_and_drops_the_seconds():
    assert outputs.utc_time("2024-03-31T01:30:59+00:00") == "2024-03-31 01:30"


def test_counts_by_reason_are_indented_lines_in_the_given_order():
    assert outputs.by_reason({"spring DST gap": 3, "negative reading": 12345}) == [
        "  - spring DST gap: 3", "  - negative reading: 12,345"]
    assert outputs.by_reason({}) == []


# ---------------------------------------------------------------- the report

def report(*, seasons: bool = True, quarantined: bool = True, reconciles: bool = True,
           hemisphere: dict | None = None) -> str:
    """meter_report of a two-archetype run (``members``), every argument spelled out."""
    segments = members()
    if not seasons:
        segments["winter_summer_ratio"] = np.nan
        segments["seasonal_user"] = False
    profiles = outputs.profiles_table(segments)
    features = full_features().head(5)
    seg = segmentation_of(features, [1, 1, 0, 0, 0], {0: "Night Users", 1: "Evening Peakers"})
    counts = {"readings_in": 20000, "readings_used": 17000, "readings_quarantined": 1000,
              "readings_quarantined_by_reason": {"negative reading": 1000},
              "readings_superseded": 500, "readings_superseded_by_reason": {"exact duplicate": 500},
              "readings_of_quarantined_meters": 1200,
              "readings_of_quarantined_meters_by_reason": {"all readings are zero": 1200},
              "readings_outside_window": 300, "reconciles": reconciles,
              "interpolated_intervals": 4321, "missing_intervals_left": 12}
    meters = pd.DataFrame({"meter_id": ["Z1", "Z2", "S1"],
                           "reason": ["all readings are zero"] * 2 + ["stuck register"]})
    window = {"start": "2023-01-01T00:00:00+00:00", "end": "2023-12-31T23:30:00+00:00",
              "days": 365, "timezone": "Europe/London", "resolution_min": 30,
              **(hemisphere if hemisphere is not None else
                 {"hemisphere": "south", "hemisphere_source": "from --timezone"})}
    quality = {"k": 3, "stability": 0.9, "weak_structure": False, "silhouette": 0.5,
               "smallest_segment_share": 0.4, "fallback_named_share": 0.0,
               "atypical_share": 0.4, "warnings": []}
    return outputs.meter_report(
        dataset="grid", run_date="2026-11-30",
        inputs=[{"path": "raw/meters/a.csv", "format": "long", "resolution_min": 30,
                 "rows_in": 12000, "skipped": False},
                {"path": "raw/meters/b.parquet", "format": "wide", "resolution_min": 30,
                 "rows_in": 8000, "skipped": True}],
        window=window, profiles=profiles, segments=segments, seg=seg, quality=quality,
        counts=counts, quarantined_meters=meters if quarantined else meters.head(0),
        policy={"gap_policy": "interpolate up to 2 h", "max_kwh_per_interval": 10.0},
        outputs={"segments": "data/processed/grid/segments.parquet", "plots": "outputs/plots"})


def test_the_report_has_its_sections_in_order():
    text = report()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Meter segmentation: grid, 2026-11-30", "## Inputs", "## Window",
                        "## Load-shape archetypes (segment_name)",
                        "## Archetype x consumption band", "## Segment quality",
                        "## Choice of k", "## Reading accounting", "## Quarantined meters",
                        "## Policies", "## Outputs"]


@pytest.mark.parametrize("seasons", [True, False])
def test_the_report_s_paragraphs_headings_and_tables_stand_apart(seasons):
    """Markdown: a heading, a table and a paragraph each start after a blank line (a table may
    follow its heading; a line
    right after a table row would join the table); the report starts with its title."""
    lines = report(seasons=seasons).splitlines()
    assert lines[0] == "# Meter segmentation: grid, 2026-11-30"
    for before, line in zip(lines, lines[1:]):
        if line.startswith("#"):
            assert before == "", line
        elif line.startswith("|") and not before.startswith("|"):
            assert before == "" or before.startswith("#"), line
        elif line and not line.startswith(("-", "  -", "|")):
            assert before == "" or before.startswith("#") or before.endswith(":"), line
        if before.startswith("|"):
            assert line == "" or line.startswith("|"), line


def test_the_report_lists_inputs_window_archetypes_and_bands():
    lines = report().splitlines()
    assert "- `raw/meters/a.csv` (long, 30 min, 12,000 readings, ingested now)" in lines
    assert "- `raw/meters/b.parquet` (wide, 30 min, 8,000 readings, already ingested, skipped)" in lines
    assert ("- 2023-01-01 00:00 to 2023-12-31 23:30 UTC, 365 local days in Europe/London, "
            "resolution 30 min") in lines
    assert "Clustered on the daily load shape (24 columns)." in lines
    assert ("| 0 | Night Users | 3 | 60.0% | 2 | 13.0 | 1.50 | 2.0 |") in lines
    assert ("Bands from mean daily kWh: Low < 2.0 <= Medium < 4.0 <= High kWh/day (fixed "
            "thresholds (--kwh-bands)). Seasonal Users: winter/summer ratio >= 1.5 where the "
            "window covers both seasons; southern hemisphere seasons (from --timezone).") in lines
    assert "| archetype | Low Energy Users | Medium Energy Users | High Energy Users | " \
           "Seasonal Users | all |" in lines
    assert "| Night Users | 2 | 0 | 1 | 1 | 3 |" in lines
    assert "| Evening Peakers | 0 | 1 | 1 | 0 | 2 |" in lines
    assert not any("not available" in line for line in lines)


def test_the_report_takes_northern_given_seasons_when_the_window_does_not_say():
    text = report(hemisphere={})
    assert "; northern hemisphere seasons (given)." in text


def test_without_both_seasons_the_report_says_so_and_dashes_the_seasonal_column():
    """A window that does not cover both seasons: the ratio is not available, no meter is a
    Seasonal User, and the crosstab's Seasonal Users column is a dash, not a 0."""
    lines = report(seasons=False).splitlines()
    assert ("Winter/summer ratio: not available (the window does not cover both seasons).") in lines
    assert any(line.endswith("Seasonal Users: not available (the window does not cover both "
                             "seasons), so no meter is one.") for line in lines)
    assert f"| Night Users | 2 | 0 | 1 | {DASH} | 3 |" in lines
    assert f"| Evening Peakers | 0 | 1 | 1 | {DASH} | 2 |" in lines


def test_the_report_accounts_for_every_reading_by_reason():
    lines = report().splitlines()
    start = lines.index("## Reading accounting")
    assert lines[start + 1:start + 13] == [
        "- readings in (all ingested files): 20,000",
        "- used for features: 17,000",
        "- quarantined readings: 1,000",
        "  - negative reading: 1,000",
        "- superseded by a later file (same meter and instant): 500",
        "  - exact duplicate: 500",
        "- readings of quarantined meters: 1,200",
        "  - all readings are zero: 1,200",
        "- outside the window (kept in the store): 300",
        "- reconciles (in = used + quarantined + superseded + quarantined meters + outside "
        "window): yes",
        "- intervals interpolated: 4,321; left missing: 12",
        ""]
    assert "window): NO" in report(reconciles=False)


def test_the_report_counts_quarantined_meters_by_reason_or_says_none():
    lines = report().splitlines()
    start = lines.index("## Quarantined meters")
    assert lines[start + 1:start + 7] == ["3 meters; by reason:", "",
                                          "| reason | meters |", "| --- | --- |",
                                          "| all readings are zero | 2 |", "| stuck register | 1 |"]
    lines = report(quarantined=False).splitlines()
    start = lines.index("## Quarantined meters")
    assert lines[start + 1:start + 4] == ["0 meters.", "", ""]
    assert "| reason | meters |" not in lines


def test_the_report_ends_with_the_policies_and_the_outputs():
    text = report()
    assert text.endswith("## Policies\n- gap_policy: interpolate up to 2 h\n"
                         "- max_kwh_per_interval: 10.0\n\n## Outputs\n"
                         "- segments: `data/processed/grid/segments.parquet`\n"
                         "- plots: `outputs/plots`\n")
