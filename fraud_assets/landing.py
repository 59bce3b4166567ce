"""Landing files: how they are named, which ones are there, and reading them as they are.

Raw data is immutable: a landed file is never rewritten. Upstream (the simulator, or a
user) drops one CSV per day named `transactions_YYYY-MM-DD.csv` into the landing folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fraud_assets import contract

PREFIX, SUFFIX = "transactions_", ".csv"


class LandingFileError(ValueError):
    """A landing file that cannot be read at all; the message names the file."""


def landing_file(folder: Path, day: dt.date) -> Path:
    """Where the file of `day` lands: `folder/transactions_YYYY-MM-DD.csv`."""
    return folder / f"{PREFIX}{day.isoformat()}{SUFFIX}"


def day_of_file(path: Path) -> dt.date | None:
    """The partition day a landing file belongs to, or None if it is not a landing file."""
    if not path.name.startswith(PREFIX) or path.suffix != SUFFIX:
        return None
    try:
        return dt.date.fromisoformat(path.stem.removeprefix(PREFIX))
    except ValueError:
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


def landed_files(folder: Path, first_day: str, last_day: str) -> tuple[list[Landed], list[str]]:
    """Landing files for days in [first_day, last_day] (ISO dates), oldest first, and the
    names of the other CSV files in the folder."""
    files, ignored = [], []
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        day = day_of_file(path)
        if day is None or not first_day <= day.isoformat() <= last_day:
            ignored.append(path.name)
        else:
            files.append(Landed(day.isoformat(), path))
    return files, ignored


def read_raw(path: Path) -> pd.DataFrame:
    """Every value as text (or missing), exactly as landed; typing happens in validation."""
    if not path.exists():
        raise LandingFileError(f"{path}: no landing file for this day")
    if path.stat().st_size == 0:
        raise LandingFileError(f"{path}: the file is empty")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8",
                            skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise LandingFileError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LandingFileError(f"{path}: not a readable CSV file ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise LandingFileError(f"{path}: the file has a header but no rows")
    return frame


def missing_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in contract.COLUMNS if c not in frame.columns]


def fingerprint(path: Path) -> str:
    """Content hash: a re-landed (corrected) file gets a new one, a touched file does not."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
