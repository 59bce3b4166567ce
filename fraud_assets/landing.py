"""Landing files: how they are named, which ones are there, and reading them as they are.

Raw data is immutable: a landed file is never rewritten. Upstream (the simulator, or a
user) drops one CSV per day named `transactions_YYYY-MM-DD.csv` into the landing folder,
and the label feed one CSV per day of arrival named `labels_YYYY-MM-DD.csv` into its
`labels/` subfolder (`LABELS`). This module is the one parser of those names: the sensors,
the assets and the runners all ask it which file belongs to which day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from fraud_assets import lake

PREFIX, SUFFIX = "transactions_", ".csv"
PATTERN = f"{PREFIX}YYYY-MM-DD{SUFFIX}"
LABEL_PREFIX = "labels_"
LABEL_PATTERN = f"{LABEL_PREFIX}YYYY-MM-DD{SUFFIX}"
LABELS_SUBFOLDER = "labels"


@dataclass(frozen=True)
class Naming:
    """How the files of one feed are named: `<prefix>YYYY-MM-DD.csv`."""

    prefix: str

    @property
    def pattern(self) -> str:
        return f"{self.prefix}YYYY-MM-DD{SUFFIX}"

    @property
    def regex(self) -> re.Pattern[str]:
        # Strict: `date.fromisoformat` alone also takes the basic form 20250208 (Python
        # 3.11), which would give one day two names.
        return re.compile(rf"^{re.escape(self.prefix)}(\d{{4}}-\d{{2}}-\d{{2}})\.csv$")


TRANSACTIONS = Naming(PREFIX)
LABELS = Naming(LABEL_PREFIX)
# A date written in a name that is not a landing file's (for a hint, never to take it).
_LOOSE_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_OTHER_DELIMITERS = {";": "`;`", "\t": "tab", "|": "`|`"}


class LandingFileError(ValueError):
    """A landing file that cannot be read at all; the message names the file."""


def label_folder(landing_folder: Path) -> Path:
    """Where the label feed lands: the `labels/` subfolder of the landing folder."""
    return landing_folder / LABELS_SUBFOLDER


def landing_file(folder: Path, day: dt.date, naming: Naming = TRANSACTIONS) -> Path:
    """Where the file of `day` lands: `folder/transactions_YYYY-MM-DD.csv` (or the
    `naming`'s prefix, e.g. `labels_` for the label feed, by day of arrival)."""
    return folder / f"{naming.prefix}{day.isoformat()}{SUFFIX}"


def label_file(folder: Path, day: dt.date) -> Path:
    """The label feed's file of arrival `day` in `folder` (the label folder)."""
    return landing_file(folder, day, LABELS)


def day_of_file(path: Path, naming: Naming = TRANSACTIONS) -> dt.date | None:
    """The partition day of a landing file, or None if the name is not exactly
    `transactions_YYYY-MM-DD.csv` (or the `naming`'s) with a real date (so
    `landing_file(day_of_file(p)) == p`)."""
    match = naming.regex.match(path.name)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _date_in_name(name: str) -> dt.date | None:
    for match in _LOOSE_DATE.finditer(name):
        try:
            return dt.date(*map(int, match.groups()))
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Landed:
    """A landing file named for a partition day (its content not read yet)."""

    day: str
    path: Path

    @property
    def stat_key(self) -> str:
        """Size and modification time: a cheap "did it change" key, no read."""
        st = self.path.stat()
        return f"{st.st_mtime_ns}:{st.st_size}"

    @property
    def mtime_ns(self) -> int:
        return self.path.stat().st_mtime_ns


@dataclass(frozen=True)
class Ignored:
    """A file in the landing folder that is not taken, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def landed_files(folder: Path, first_day: str, last_day: str | None,
                 naming: Naming = TRANSACTIONS) -> tuple[list[Landed], list[Ignored]]:
    """Landing files of days in [first_day, last_day] (ISO dates; `last_day` is the last
    complete day, None when no day is complete yet), oldest first, and every other file
    of the folder with the reason it is not taken (named after `naming`)."""
    if not folder.is_dir():
        return [], []
    paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    taken: dict[str, Landed] = {}
    ignored: list[Ignored] = []
    for path in paths:
        day = day_of_file(path, naming)
        if day is None:
            continue
        key = day.isoformat()
        if key < first_day:
            ignored.append(Ignored(path.name, f"day {key} is before the first partition "
                                              f"{first_day} (set $FRAUD_FIRST_DAY to take it)"))
        elif last_day is None or key > last_day:
            ignored.append(Ignored(path.name, f"day {key} is not complete yet (daily "
                                              "partitions exist for complete UTC days only)"))
        else:
            taken[key] = Landed(key, path)
    for path in paths:
        if day_of_file(path, naming) is not None:
            continue
        day = _date_in_name(path.name)
        if day is not None and day.isoformat() in taken:
            ignored.append(Ignored(path.name, f"a second file for {day.isoformat()}: "
                                              f"{taken[day.isoformat()].path.name} is the one "
                                              "taken"))
        elif day is not None:
            ignored.append(Ignored(path.name, f"the name does not match {naming.pattern}; "
                                              "rename it to "
                                              f"{landing_file(folder, day, naming).name} to "
                                              "land it"))
        else:
            ignored.append(Ignored(path.name, f"the name does not match {naming.pattern}"))
    return sorted(taken.values(), key=lambda f: f.day), ignored


def _near_misses(path: Path) -> str:
    """'; found X: rename it to Y' for files of the same day under another name."""
    day = day_of_file(path)
    if day is None or not path.parent.is_dir():
        return ""
    others = sorted(p.name for p in path.parent.iterdir()
                    if p.is_file() and p != path and _date_in_name(p.name) == day)
    return f"; found {', '.join(others)}: rename it to {path.name}" if others else ""


def _header(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.readline(64 * 1024).decode("utf-8-sig", errors="replace").rstrip("\r\n")


def _delimiter_hint(path: Path, header: str) -> str:
    """', looks ;-delimited: ...' when the header is one column holding another delimiter."""
    if "," in header:
        return ""
    for sep, label in _OTHER_DELIMITERS.items():
        if sep in header:
            return (f"; it looks {label}-delimited (header {header[:80]!r}): export it as "
                    "comma-separated CSV")
    return ""


def read_raw(path: Path) -> pd.DataFrame:
    """Every value as text (or missing), exactly as landed; typing happens in validation.

    Values are not trimmed: `' online'` stays `' online'` and is judged as such, like the
    same value sent to the API. Only a UTF-8 byte-order mark (spreadsheet exports) and
    spaces around header names are dropped. Columns are Arrow-backed pandas strings
    (`lake.ARROW_TEXT`, missing values `pd.NA`), as the lake hands the raw day to its
    checks. Raises LandingFileError naming the file and the problem.
    """
    if not path.exists():
        raise LandingFileError(f"{path}: no landing file for this day (expected the name "
                               f"{path.name}){_near_misses(path)}")
    if path.stat().st_size == 0:
        raise LandingFileError(f"{path}: the file is empty")
    try:
        frame = _read_text(path)
    except pd.errors.EmptyDataError:
        raise LandingFileError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        hint = "" if isinstance(exc, UnicodeDecodeError) else _delimiter_hint(path, _header(path))
        raise LandingFileError(f"{path}: not a readable CSV file ({exc}){hint}") from None
    if len(frame.columns) == 1:
        hint = _delimiter_hint(path, str(frame.columns[0]))
        if hint:
            raise LandingFileError(f"{path}: one column only{hint}")
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise LandingFileError(f"{path}: the file has a header but no rows")
    return frame


# pandas' default missing-value strings (`read_csv`'s `na_values` documentation), given to
# Arrow's reader so both readers agree on what is missing (tests/ingest/test_read_raw.py).
PANDAS_NA_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


def _read_text(path: Path) -> pd.DataFrame:
    """The file's values as Arrow text: Arrow's multi-threaded CSV reader for a well-formed
    file, pandas' (the reference) for any file Arrow refuses.

    Why two readers: pandas' C parser took 2.2-2.5 s of a 1M-row day (8 columns, 80 MB);
    Arrow's reads it in 0.3-0.4 s with the same values. Arrow refuses what pandas tolerates
    or explains better (a short row pandas pads with missing values, which validation then
    quarantines; a row with a field too many; bad UTF-8; a line break inside quotes), so
    such a file takes pandas' path and gets its verdict and messages, as before. The header
    is read by pandas either way (duplicate names become `name.1`, as pandas names them);
    a file whose first line is not the header (pandas skips blank lines before it) takes
    pandas' path too.
    """
    columns = list(pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8-sig").columns)
    table = _arrow_text(path, columns) if _header(path).strip() else None
    if table is None:
        frame = pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8-sig")
        return frame.astype(lake.ARROW_TEXT)
    return table.to_pandas(types_mapper=lake.ARROW_TEXT_TYPES.get)


def _arrow_text(path: Path, columns: list[str]) -> pa.Table | None:
    """The rows after the header as Arrow strings under `columns`; None if Arrow refuses."""
    try:
        return pa_csv.read_csv(
            path, read_options=pa_csv.ReadOptions(column_names=columns, skip_rows=1),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                null_values=list(PANDAS_NA_VALUES), strings_can_be_null=True,
                quoted_strings_can_be_null=True))
    except pa.ArrowException:
        return None


def fingerprint(path: Path) -> str:
    """Content hash: a re-landed (corrected) file gets a new one, a touched file does not."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
