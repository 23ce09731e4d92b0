"""Reading customer CSVs as users really have them."""

import pandas as pd
import pytest

from segmentation.customers.config import all_numeric, numeric_columns, resolve_config
from segmentation.customers.ingest import canonical_name, normalise_gender, normalise_ids, \
    read_customer_csv
from segmentation.errors import InputError

KAGGLE = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"


def write(tmp_path, text: str | bytes, name="c.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_kaggle_header_becomes_canonical(tmp_path):
    rows, rejects = read_customer_csv(write(tmp_path, KAGGLE + "1,Male,19,15,39\n"))
    assert list(rows.columns) == ["customer_id", "gender", "age", "annual_income_k",
                                  "spending_score", "source_row"]
    assert rows.loc[0, "source_row"] == 2 and rejects.empty


@pytest.mark.parametrize("header", ["Genre", "gender", "GENDER", "Sex"])
def test_gender_header_variants(header):
    assert canonical_name(header) == "gender"


def test_crlf_bom_and_semicolons(tmp_path):
    text = "\ufeff" + KAGGLE.replace(",", ";").replace("\n", "\r\n") + "0007;f;30;50;60\r\n"
    rows, _ = read_customer_csv(write(tmp_path, text.encode("utf-8")))
    assert rows.loc[0, "customer_id"] == "0007"
    assert rows.loc[0, "spending_score"] == "60"


def test_ids_are_unpadded_and_gender_codes_spelled_out():
    assert normalise_ids(pd.Series(["0001", "12", " 0 ", "A-01"])).tolist() == ["1", "12", "0", "A-01"]
    assert normalise_gender(pd.Series(["m", "FEMALE", "Male", "x"])).tolist() == \
        ["Male", "Female", "Male", "x"]


def test_missing_markers_become_na(tmp_path):
    rows, _ = read_customer_csv(write(tmp_path, KAGGLE + "1,Male,?,15,\n"))
    assert rows[["age", "spending_score"]].isna().all(axis=None)


def test_malformed_line_is_rejected_with_its_line_number(tmp_path):
    rows, rejects = read_customer_csv(write(tmp_path, KAGGLE + "1,Male,19,15,39\n2,Male,19\n"))
    assert len(rows) == 1
    assert rejects.loc[0, "source_row"] == 3
    assert "3 fields" in rejects.loc[0, "reason"]


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (KAGGLE.encode() + b"1,M\xe9le,19,15,39\n", "not UTF-8"),
])
def test_unreadable_files_give_clear_errors(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(InputError, match=message) as err:
        read_customer_csv(path)
    assert str(path) in str(err.value)


def test_non_utf8_error_names_the_row(tmp_path):
    with pytest.raises(InputError, match="row 2"):
        read_customer_csv(write(tmp_path, KAGGLE.encode() + b"1,M\xe9le,19,15,39\n"))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_customer_csv(tmp_path / "nope.csv")


def test_other_tables_cluster_on_every_numeric_column_unless_features_are_named(tmp_path):
    header = ["member_id", "tenure", "visits", "region", "gender", "source_row"]  # canonical
    rows = pd.DataFrame({"member_id": ["1", "2", "3"], "tenure": ["4", "5", None],
                         "Visits": ["7", "x", "9"], "region": ["N", "S", "N"],
                         "gender": ["1", "2", "1"], "source_row": [2, 3, 4]})
    rows.columns = [canonical_name(c) if c != "source_row" else c for c in rows.columns]
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    candidates = [c for c in rows.columns if c != "source_row"]
    assert numeric_columns(str(path), candidates) == ["member_id", "tenure", "gender"]
    assert numeric_columns(str(path), candidates, min_share=0.6) == [
        "member_id", "tenure", "visits", "gender"]                      # 2 of 3 visits are numbers
    numeric = numeric_columns(str(path), candidates, min_share=0.6)
    config = resolve_config(header, numeric=numeric)                     # not Mall-like: all
    assert config.id_column == "member_id" and config.features == ("tenure", "visits")
    assert config.features_note == ("clustered on every numeric column but the id (2): tenure, "
                                    "visits; not numeric, left out: region")
    assert resolve_config(header, features=["all"], numeric=numeric).features == ("tenure", "visits")
    assert resolve_config(header, features=["tenure"], numeric=numeric).features == ("tenure",)
    assert resolve_config(header).features == ()                   # preflight: chosen later
    assert all_numeric(None, header) and all_numeric(["All"], header)
    assert not all_numeric(["tenure"], header)
    mall = ["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert not all_numeric(None, mall) and all_numeric(["all"], mall)
    with pytest.raises(InputError, match="no numeric column to cluster on"):
        resolve_config(["member_id", "region"], numeric=["member_id"])


TRICKY = {
    "blank, short, long and separator-only lines": "a,b,c\n1,2,3\n4,5\n\n6,7,8\n , , \n,,\n9,10,11,12\n13,14,15",
    "CRLF and semicolons": "a;b;c\r\n1;2;3\r\n\r\n4;5\r\n6;7;8\r\n",
    "BOM and missing markers": "\ufeffa,b\n1,2\n? ,NA\n",
    "whitespace-only line": "a,b\n1,2\n   \n3,4\n",
    "tabs": "a\tb\n1\t2\n\t\n3\t4\n",
}


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_fast_reader_agrees_with_the_csv_module(tmp_path, case):
    from segmentation.customers import ingest

    path = write(tmp_path, TRICKY[case])
    text = ingest.decode(path)
    separator = ingest.sniff_separator(text.splitlines()[0])
    header = [canonical_name(h) for h in text.splitlines()[0].split(separator)]
    fast = ingest._read_unquoted(path.read_bytes(), separator, header)
    assert fast is not None                      # the vectorised reader took the file
    slow = ingest._read_quoted(text, separator, header)
    pd.testing.assert_frame_equal(fast[0], slow[0])
    assert fast[1] == slow[1]


def test_quoted_fields_keep_separators_line_breaks_and_line_numbers(tmp_path):
    text = 'id,note,x\n1,"a, b",3\n2,"two\nlines",4\n3,x\n4,y,5\n'
    rows, rejects = read_customer_csv(write(tmp_path, text))
    assert rows["note"].tolist() == ["a, b", "two\nlines", "y"]
    assert rows["source_row"].tolist() == [2, 3, 6]
    assert rejects["source_row"].tolist() == [5]


def test_only_exact_role_names_get_the_mall_checks():
    config = resolve_config(["member_id", "risk_score", "income_band", "visits"],
                            features=["risk_score", "visits"])
    assert config.roles == {}
    mall = resolve_config(["customer_id", "gender", "age", "annual_income_k", "spending_score"])
    assert mall.roles == {"age": "age", "income": "annual_income_k",
                          "spending": "spending_score", "gender": "gender"}


def test_gzip_directory_and_title_line_get_clear_answers(tmp_path):
    import gzip as _gzip

    packed = tmp_path / "packed.csv"
    packed.write_bytes(_gzip.compress((KAGGLE + "1,Male,19,15,39\n").encode()))
    rows, _ = read_customer_csv(packed)
    assert rows.loc[0, "customer_id"] == "1" and rows.loc[0, "source_row"] == 2
    with pytest.raises(InputError, match="is a directory"):
        read_customer_csv(tmp_path)
    titled = write(tmp_path, "Customer export 2024\n" + KAGGLE + "1,Male,19,15,39\n", "t.csv")
    with pytest.raises(InputError, match="title line above the header") as err:
        read_customer_csv(titled)
    assert "row 1" in str(err.value)
    trailing = write(tmp_path, KAGGLE.strip() + ",,\n1,Male,19,15,39,,\n", "tr.csv")
    with pytest.raises(InputError, match="header cell 6 of 7 is empty"):
        read_customer_csv(trailing)


def test_infinite_values_are_quarantined_not_clustered(tmp_path):
    from segmentation.customers import pipeline

    text = KAGGLE + "".join(f"{i},Male,{20 + i % 40},{15 + i % 90},{1 + i % 99}\n" for i in range(1, 41))
    text += "41,Male,30,inf,50\n42,Female,30,50,-nan\n"
    rows, _ = read_customer_csv(write(tmp_path, text))
    config = resolve_config(list(rows.columns))
    valid, quarantine, _ = pipeline.validate(rows, config, "x")
    assert sorted(quarantine["reason"]) == ["annual_income_k is not a finite number: 'inf'",
                                            "spending_score is not a finite number: '-nan'"]
    assert len(valid) == 40
