"""Reading landed files as they are (raw data is immutable: we never rewrite them)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from fraud_assets import contract


class LandingFileError(ValueError):
    """A landing file that cannot be read at all; the message names the file."""


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
