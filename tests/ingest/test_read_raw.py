"""`landing.read_raw` reads a landed file with Arrow's CSV reader when it can, and must give
exactly what pandas' reader (the reference, and the fallback) gives: the same columns, the
same text, the same missing values, the same errors."""

from pathlib import Path

import pandas as pd
import pytest

from fraud_assets import lake, landing

# name -> file text (UTF-8). Well-formed files take Arrow's path; the others pandas'.
FILES = {
    "plain": "a,b\n1,2\n3,4\n",
    "byte_order_mark": "\ufeffa,b\n1,2\n",
    "blank_line_before_the_header": "\na,b\n1,2\n3,4\n",
    "blank_lines_between_and_after": "a,b\n1,2\n\n3,4\n\n\n",
    "crlf_and_an_empty_last_field": "a,b\r\n1,2\r\n3,\r\n",
    "duplicate_header_names": "a,a,b\n1,2,3\n",
    "quotes_spaces_and_commas": 'a,b\n"x,y",""\n"NA", online\n" z ",None\n',
    "unicode": "a,b\ncafé,日本\n",
    "short_row": "a,b,c\n1,2\n3,4,5\n",
    "line_break_inside_quotes": 'a,b\n"x\ny",2\n',
    "unnamed_column": ",a\n1,2\n",
    "more_fields_than_names": "a,b\n1,2,3\n4,5,6\n",
    # pandas' default missing-value strings, and near misses that are text
    "missing_value_strings": "a\n" + "\n".join(
        [*(landing.PANDAS_NA_VALUES[1:]), "na", "NONE", " NA", "N A", "nul"]) + "\n",
}


def _pandas(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _values(frame: pd.DataFrame) -> list[list[object]]:
    return frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


@pytest.mark.parametrize("name", sorted(FILES))
def test_arrow_and_pandas_read_a_landed_file_alike(name, tmp_path):
    path = tmp_path / f"{name}.csv"
    path.write_text(FILES[name], encoding="utf-8")
    expected = _pandas(path)
    got = landing.read_raw(path)
    assert list(got.columns) == list(expected.columns)
    assert _values(got) == _values(expected)
    assert all(dtype == lake.ARROW_TEXT for dtype in got.dtypes)


def test_every_missing_value_string_of_pandas_is_missing(tmp_path):
    path = tmp_path / "missing.csv"
    path.write_text("a,b\n" + "\n".join(f"{v},{v}" for v in landing.PANDAS_NA_VALUES[1:])
                    + "\n", encoding="utf-8")
    got = landing.read_raw(path)
    assert len(got) == len(landing.PANDAS_NA_VALUES) - 1
    assert got.isna().all().all(), got[got.notna().any(axis=1)]
    assert _pandas(path).isna().all().all(), "pandas' own list changed: update PANDAS_NA_VALUES"


def test_a_file_neither_reader_can_read_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("a,b\ncaf\u00e9,2\n".encode("latin-1"))
    with pytest.raises(landing.LandingFileError, match=r"bad\.csv: not a readable CSV file"):
        landing.read_raw(path)
