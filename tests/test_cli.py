"""The command line as a new user meets it: help, version, refusals before Prefect starts,
errors said once, the exit status kept under --debug, and a short summary after a run."""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from segmentation import cli, prefect_startup
from segmentation.cli import build_parser, main, summary_text
from segmentation.preflight import nearest_zones

HEADER = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"
ROWS = "".join(f"{i},Male,{20 + i},{30 + i},{40 + i}\n" for i in range(1, 30))


def subparsers(parser: argparse.ArgumentParser, path=()):
    """Every (command path, parser) below ``parser``, itself included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub is not parser and name not in ("forget",):
                    yield from subparsers(sub, (*path, name))


def test_every_option_has_help_and_says_its_default():
    for path, parser in subparsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                   argparse._SubParsersAction)):
                continue
            assert action.help, (path, action.dest)
            takes_value = action.nargs != 0 and action.option_strings
            if takes_value:
                assert "default" in action.help, (path, action.dest, action.help)


def test_every_command_that_runs_something_shows_examples():
    for path, parser in subparsers(build_parser()):
        if path and path[-1] not in ("run", "list", "remove", "reset"):
            assert parser.epilog and parser.epilog.startswith("examples:"), path
            assert f"segment {' '.join(path)}" in parser.epilog, path


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"segment {cli._version()}" != "segment unknown"


def xlsx(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")


def parquet(path: Path) -> None:
    pd.DataFrame({"CustomerID": [1, 2]}).to_parquet(path)


FILES = {
    # name: (writer of the file, text expected in the one paragraph)
    "header only": (lambda p: p.write_text(HEADER), "row 2: the file has a header line and no "
                                                    "data rows: nothing to segment"),
    "header and blank lines": (lambda p: p.write_text(HEADER + "\n,,,,\n\n"),
                               "the file has a header line and no data rows"),
    "a Latin-1 byte": (lambda p: p.write_bytes((HEADER + ROWS).encode() + "30,Mäle,1,2,3\n"
                                               .encode("latin-1")),
                       "row 31: byte 0xe4 at offset"),
    "a Latin-1 byte, gzip": (lambda p: p.write_bytes(gzip.compress(
        (HEADER + "1,Ren\xe9,1,2,3\n").encode("latin-1"))), "row 2: byte 0xe9"),
    "an Excel workbook": (xlsx, "this is an Excel workbook (.xlsx), not a CSV customer table"),
    "an old Excel workbook": (lambda p: p.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 64),
                              "this is an Excel 97-2003 workbook"),
    "a PNG": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32), "this is a PNG image"),
    "a JPEG": (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 32), "this is a JPEG image"),
    "a PDF": (lambda p: p.write_bytes(b"%PDF-1.7\n"), "this is a PDF document"),
    "a zip": (lambda p: zipfile.ZipFile(p, "w").writestr("a.txt", "x"), "this is a zip archive"),
    "Parquet for a customer table": (parquet, "this is a Parquet file, not a CSV customer table"),
    "UTF-16": (lambda p: p.write_bytes(HEADER.encode("utf-16")), "this is a UTF-16 text file"),
    "a truncated gzip": (lambda p: p.write_bytes(gzip.compress((HEADER + ROWS).encode())[:40]),
                         "is it truncated?"),
}


@pytest.fixture
def no_prefect(monkeypatch):
    def refuse():
        raise AssertionError("Prefect was started before the input was checked")
    monkeypatch.setattr(prefect_startup, "start_in_background", refuse)


def run(*arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(arguments), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case", sorted(FILES))
def test_a_file_is_recognised_from_its_bytes_before_prefect_starts(case, tmp_path, no_prefect):
    write, expected = FILES[case]
    path = tmp_path / "customers.csv"                 # whatever it is, it is called .csv
    write(path)
    code, out, err = run("run", "customers", "--input", str(path))
    assert code == 2 and expected in err and out == "", err
    assert err.count("segment: error:") == 1 and "Traceback" not in err
    assert f"file '{path}'" in err


@pytest.mark.parametrize("case", ["header only", "a Latin-1 byte", "an Excel workbook", "a PNG"])
def test_meter_files_are_recognised_the_same_way(case, tmp_path, no_prefect):
    write, expected = FILES[case]
    path = tmp_path / "readings.csv"
    write(path)
    code, _, err = run("run", "meters", "--input", str(path))
    assert code == 2 and expected.replace("a CSV customer table", "a table of readings") in err


@pytest.mark.parametrize("kind", ["meters", "transactions"])
def test_a_parquet_file_without_rows_is_refused_before_prefect_starts(kind, tmp_path, no_prefect):
    """Meter readings and purchase logs may be Parquet: one without rows gets the one line
    before Prefect starts, as a CSV file with only its header does."""
    path = tmp_path / "input.parquet"
    pd.DataFrame({"meter_id": pd.Series([], dtype=str), "timestamp": pd.Series([], dtype=str),
                  "kwh": pd.Series([], dtype=float)}).to_parquet(path)
    code, out, err = run("run", kind, "--input", str(path))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.strip() == (f"segment: error: file '{path}': the Parquet file has its columns "
                           "but no rows: nothing to segment")


@pytest.mark.parametrize("name", ["readings.csv", "readings.csv.gz"])
def test_a_meter_line_with_another_field_count_is_refused_before_prefect_starts(
        name, tmp_path, no_prefect):
    text = "meter_id,timestamp,kwh\nA,2024-01-01 00:00,0.1\nA,2024-01-01 00:30\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    code, out, err = run("run", "meters", "--input", str(path))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.strip() == (f"segment: error: file '{path}', row 3: 2 fields where the header "
                           "has 3: every line needs one field per column")


def test_parquet_readings_pass_the_byte_check(tmp_path, no_prefect):
    path = tmp_path / "readings.csv"
    pd.DataFrame({"meter_id": ["A"], "timestamp": ["2024-01-01 00:00"], "kwh": [0.1]}) \
        .to_parquet(path)
    with pytest.raises(AssertionError, match="Prefect was started"):     # it got that far
        run("run", "meters", "--input", str(path))


def test_a_time_zone_typo_gets_the_nearest_names(tmp_path, no_prefect):
    code, _, err = run("run", "meters", "--timezone", "Europe/Zurch")
    assert code == 2
    assert "unknown time zone 'Europe/Zurch': did you mean Europe/Zurich?" in err
    assert nearest_zones("europe/london") == ["Europe/London"]              # only the case
    assert nearest_zones("Europe/Sydney")[0] == "Australia/Sydney"          # the city elsewhere
    assert nearest_zones("London") == ["Europe/London"]
    assert nearest_zones("Mars/Olympus") == []
    code, _, err = run("run", "meters", "--timezone", "Mars/Olympus")
    assert "use an IANA name such as Europe/London" in err


@pytest.mark.parametrize("kind", ["customers", "meters"])
def test_an_attribute_table_without_its_id_column_is_refused_before_prefect_starts(
        kind, tmp_path, no_prefect):
    table = tmp_path / "regions.csv"
    table.write_text("member,region\n1,North\n")
    code, out, err = run("run", kind, "--attributes", str(table), "--attributes-id", "Member No")
    assert code == 2 and out == "" and err.count("segment: error:") == 1
    assert f"file '{table}'" in err and "'Member No'" in err and "columns: member, region" in err


def test_debug_adds_the_traceback_and_keeps_the_exit_status(tmp_path, no_prefect):
    path = tmp_path / "t.csv"
    path.write_text(HEADER)
    code, _, err = run("run", "customers", "--input", str(path), "--debug")
    assert code == 2 and err.startswith("Traceback (most recent call last)")
    assert err.rstrip().endswith("row 2: the file has a header line and no data rows: nothing "
                                 "to segment")                    # the paragraph comes last


def test_a_bug_is_not_passed_off_as_bad_input(monkeypatch, tmp_path):
    def broken(args):
        raise ValueError("a bug")
    monkeypatch.setattr(cli, "write_samples", broken)
    with pytest.raises(ValueError, match="a bug"):                 # a traceback, exit 1
        main(["sample-data", "--out", str(tmp_path)])


RESULT = {
    "published": {"report_html": "outputs/cc/2024-05-01/report.html",
                  "segments": "/elsewhere/processed/cc/run_date=2024-05-01/segments.parquet"},
    "k": 5, "silhouette": 0.2157, "quality": {"stability": 0.7612, "warnings": []},
    "segments": {"Low Purchases": 2281, "High Cash Advance Trx": 1363},
    "counts": {"rows_in": 8950, "rows_out": 8636, "rows_quarantined": 314},
}


def test_the_summary_names_segments_sizes_and_where_the_report_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["run", "customers", "--dataset", "cc"])
    text = summary_text(RESULT, args)
    assert text.splitlines() == [
        "cc: 2 segments (k=5, stability 0.76, silhouette 0.22)",
        "  Low Purchases          2,281",
        "  High Cash Advance Trx  1,363",
        "  8,950 rows in, 8,636 segmented, 314 quarantined",
        "  report:   outputs/cc/2024-05-01/report.html",
        "  segments: /elsewhere/processed/cc/run_date=2024-05-01/segments.parquet"]
    nightly = build_parser().parse_args(["run", "nightly"])
    both = summary_text({"cc": RESULT, "mall": {**RESULT, "k": 4}}, nightly)
    assert both.count("report:") == 2 and both.split("\n\n")[1].startswith("mall: 2 segments (k=4")


@pytest.mark.parametrize("recommended, line", [
    ("kmeans", "  algorithms compared: kmeans holds (see the report)"),
    ("gmm", "  algorithms compared: gmm recommended over kmeans (see the report)"),
    (None, "  algorithms compared: none gives reproducible segments (see the report)")])
def test_the_summary_says_whether_the_published_algorithm_holds(recommended, line, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["run", "customers", "--dataset", "cc"])
    compared = {**RESULT, "comparison": {"algorithm": "kmeans", "recommended": recommended}}
    lines = summary_text(compared, args).splitlines()
    assert lines[4] == line and lines[5].startswith("  report:")
    assert summary_text({**RESULT, "comparison": None}, args) == summary_text(RESULT, args)


def test_meter_summary_counts_readings_and_bands(tmp_path):
    args = build_parser().parse_args(["run", "meters"])
    result = {**RESULT, "counts": {"readings_in": 2526048, "readings_quarantined": 1499,
                                   "meters_segmentable": 530, "meters_quarantined": 7},
              "consumption_bands": {"High Energy Users": 177, "Low Energy Users": 177}}
    lines = summary_text(result, args).splitlines()
    assert lines[3] == ("  2,526,048 readings in, 1,499 quarantined; 530 meters segmented, "
                        "7 set aside")
    assert lines[4] == "  bands: Low Energy Users 177, High Energy Users 177"


def test_a_bad_thread_count_is_refused_before_prefect_starts(monkeypatch, no_prefect, mall_csv):
    monkeypatch.setenv("SEGMENT_THREADS", "0")
    code, _, err = run("run", "customers", "--input", str(mall_csv))
    assert code == 2 and "SEGMENT_THREADS must be a whole number of 1 or more" in err


@pytest.mark.parametrize("case", ["header only", "a Latin-1 byte", "an Excel workbook", "a PNG"])
def test_purchase_logs_are_recognised_the_same_way(case, tmp_path, no_prefect):
    write, expected = FILES[case]
    path = tmp_path / "log.csv"
    write(path)
    code, _, err = run("run", "transactions", "--input", str(path))
    assert code == 2 and expected.replace("a CSV customer table", "a purchase log") in err
    assert err.count("segment: error:") == 1 and "Traceback" not in err


def test_a_purchase_log_without_its_columns_is_refused_before_prefect_starts(tmp_path, no_prefect):
    path = tmp_path / "sales.csv"
    path.write_text("client,day,dollars\n1,2024-01-01,5\n")
    code, out, err = run("run", "transactions", "--input", str(path))
    assert code == 2 and out == "" and err.count("segment: error:") == 1
    assert (f"file '{path}': cannot tell which column holds what: pass --customer-column and "
            "--timestamp-column and --amount-column (or --quantity-column with --price-column); "
            "the columns are: client, day, dollars") in err
    code, _, err = run("run", "transactions", "--input", str(path), "--customer-column", "client",
                       "--timestamp-column", "day", "--amount-column", "Dollar")
    assert code == 2 and "column 'Dollar': no column 'Dollar' (--amount-column)" in err
    with pytest.raises(AssertionError, match="Prefect was started"):     # named: it got that far
        run("run", "transactions", "--input", str(path), "--customer-column", "client",
            "--timestamp-column", "day", "--amount-column", "dollars")


def test_purchase_log_summary_counts_lines_and_customers():
    args = build_parser().parse_args(["run", "transactions"])
    result = {**RESULT, "counts": {"lines_in": 541909, "lines_used": 399556,
                                   "lines_quarantined": 140349, "lines_excluded": 2004,
                                   "customers_segmented": 4333}}
    assert summary_text(result, args).splitlines()[3] == (
        "  541,909 lines in, 399,556 used, 140,349 quarantined, 2,004 excluded; "
        "4,333 customers segmented")


@pytest.mark.parametrize("kind", ["customers", "meters", "transactions"])
def test_fresh_ids_reaches_the_flow_of_every_kind(kind, monkeypatch, tmp_path):
    """`--fresh-ids` is the flows' ``fresh_ids`` parameter (default False), for every kind."""
    seen = []
    monkeypatch.setattr(cli, "finished", lambda flow, **parameters: seen.append(parameters) or {})
    parser = cli.build_parser()
    for extra in ([], ["--fresh-ids"]):
        args = parser.parse_args(["run", kind, "--input", "x.csv", *extra])
        cli._call_flow(args)
    assert [p["fresh_ids"] for p in seen] == [False, True]


def test_a_k_for_hdbscan_or_a_wrong_algorithm_is_refused_before_prefect_starts(
        no_prefect, mall_csv, capsys):
    code, out, err = run("run", "customers", "--input", str(mall_csv), "--algorithm", "hdbscan",
                         "--k", "4")
    assert code == 2 and out == "" and err.count("segment: error:") == 1
    assert "--k 4 cannot be used with --algorithm hdbscan: it finds its own number" in err
    for arguments, said in [(["run", "meters", "--algorithm", "dbscan"], "invalid choice: 'dbscan'"),
                            (["run", "transactions", "--min-confidence", "1"],
                             "1.0 is not between 0.01 and 0.99")]:
        with pytest.raises(SystemExit) as done:           # argparse's own usage error
            main(arguments)
        assert done.value.code == 2 and said in capsys.readouterr().err
    with pytest.raises(AssertionError, match="Prefect was started"):     # a k for Ward is fine
        run("run", "customers", "--input", str(mall_csv), "--algorithm", "agglomerative",
            "--k", "4")
