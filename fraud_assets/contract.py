"""The transaction contract: the one definition of a valid card transaction.

The simulator, the Great Expectations suite, the quarantine rules and the serving
validation are all derived from the objects in this module; nothing else may restate
column names, types or ranges.

Two record kinds share the machinery: a transaction (`FIELDS`) and a label of the label
feed (`LABEL_FIELDS`: a fraud verdict that arrives after its transaction, issue 16). The
functions below take the fields to judge by; the default is the transaction's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MERCHANT_CATEGORIES: tuple[str, ...] = ("grocery", "restaurant", "retail", "online", "travel")
AMOUNT_MAX = 50_000.0

Kind = Literal["string", "timestamp", "float", "int", "category"]


@dataclass(frozen=True)
class Field:
    """One column of the contract.

    `low_exclusive` marks a lower bound that is not itself allowed (amount > 0).
    `nullable`: an empty value is allowed (it means "not known yet"); a value that is
    there but does not parse or breaks the rule is still a violation.
    `optional`: the column itself may be left out of a landed file or a request body;
    every row of such a file or body then has it unknown (a nullable field's empty value).
    `max_length`: a string field's longest value, in characters (its shortest is 1: a
    blank value is missing, never a value).
    """

    name: str
    kind: Kind
    description: str
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    allowed: tuple[str | int, ...] | None = None
    is_feature_input: bool = True  # part of a scoring request (not ids or labels)
    nullable: bool = False
    optional: bool = False
    max_length: int | None = None

    def rule(self) -> str:
        """A human-readable statement of the value rule, used in error messages."""
        if self.max_length is not None:
            return f"{self.name} must be a string of 1 to {self.max_length} characters"
        if self.allowed is not None:
            return f"{self.name} must be one of {', '.join(map(str, self.allowed))}"
        if self.low is not None and self.high is not None:
            op = ">" if self.low_exclusive else ">="
            return f"{self.name} must be {op} {self.low:g} and <= {self.high:g}"
        return f"{self.name} must be a valid {self.kind}"


TRANSACTION_ID = Field("transaction_id", "string", "unique id of the transaction",
                       is_feature_input=False)
# Which card made the transaction (issue 15): the key of the per-card velocity features.
# Optional everywhere: a file or request without the column, or a row with it blank (a
# request: null or left out), has the card unknown, and its card features are "unknown".
# An id, not a model input: the model sees the features computed from it.
CARD_ID_MAX_LENGTH = 64
CARD_ID = Field("card_id", "string", "the card that made the transaction, if known",
                is_feature_input=False, nullable=True, optional=True,
                max_length=CARD_ID_MAX_LENGTH)
EVENT_TIMESTAMP = Field("event_timestamp", "timestamp", "when the card was used (UTC)",
                        is_feature_input=False)
AMOUNT = Field("amount", "float", "transaction amount", low=0.0, high=AMOUNT_MAX,
               low_exclusive=True)
HOUR = Field("hour", "int", "hour of day of the event", low=0, high=23)
DAY_OF_WEEK = Field("day_of_week", "int", "day of week of the event, Monday=0", low=0, high=6)
MERCHANT_CATEGORY = Field("merchant_category", "category", "merchant category",
                          allowed=MERCHANT_CATEGORIES)
# A landed transaction may carry its label (known at landing) or leave it empty: then it is
# unknown until the label feed brings it (`LABEL_FIELDS`).
IS_FRAUD = Field("is_fraud", "int", "label: 1 if the transaction was fraud; empty when not "
                 "known at landing", allowed=(0, 1), is_feature_input=False, nullable=True)

FIELDS: tuple[Field, ...] = (
    TRANSACTION_ID, CARD_ID, EVENT_TIMESTAMP, AMOUNT, HOUR, DAY_OF_WEEK, MERCHANT_CATEGORY,
    IS_FRAUD,
)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
# The columns every landed file has (the structure check requires them); the optional
# ones (`OPTIONAL_COLUMNS`) may be there too, and are then judged and kept.
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if not f.optional)
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.optional)
# What a caller sends to score a transaction (the handbook's request body).
REQUEST_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.is_feature_input)
# What a request may add, each optional and no model input itself: the card.
REQUEST_OPTIONAL_FIELDS: tuple[Field, ...] = (CARD_ID,)
LABEL = IS_FRAUD.name
# Fields a landed file's partition day constrains (`day_violations`).
DAY_RULE_FIELDS: tuple[Field, ...] = (EVENT_TIMESTAMP, HOUR, DAY_OF_WEEK)

# The label feed: one row per verdict, in a file per day of arrival. The verdict is
# required here (a label without a value is no label); `label_timestamp` is when it became
# known, on the file's day (a label is never known before it arrives).
LABEL_VALUE = Field("is_fraud", "int", "the verdict: 1 fraud (e.g. a chargeback), 0 legitimate",
                    allowed=(0, 1), is_feature_input=False)
LABEL_TIMESTAMP = Field("label_timestamp", "timestamp", "when the verdict became known (UTC)",
                        is_feature_input=False)
LABEL_FIELDS: tuple[Field, ...] = (TRANSACTION_ID, LABEL_VALUE, LABEL_TIMESTAMP)
LABEL_COLUMNS: tuple[str, ...] = tuple(f.name for f in LABEL_FIELDS)


def is_json_number(value: object) -> bool:
    """Whether a JSON value of a scoring request may stand for a number (`float` and
    `int` fields), before its text is parsed and its value rules apply.

    A JSON number, or a string holding one (`"150.0"`, `"14"`): FastAPI's default (lax)
    reading, which the handbook's clients rely on; the text is parsed as pydantic's lax
    mode parses it (`serving.schemas`). Never a boolean: JSON's `true` is not 1, although
    Python's `True` is an int. Never null, a list or an object. The one rule for
    /predict and every item of /predict_batch.
    """
    return not isinstance(value, bool) and isinstance(value, int | float | str)


# A time of day followed by an offset (Z, +05:30, -0100): the row says which zone it is in.
_OFFSET = re.compile(r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$",
                     re.IGNORECASE)


def arrow_backed(values: pd.Series) -> bool:
    """The column's values live in Arrow buffers (`string[pyarrow]`, the lake's text, or an
    `ArrowDtype`): Arrow kernels and GE take them without a per-value copy."""
    dtype = values.dtype
    return (isinstance(dtype, pd.ArrowDtype)
            or (isinstance(dtype, pd.StringDtype) and dtype.storage.startswith("pyarrow")))


def _arrow_text(values: pd.Series) -> pa.Array | None:
    """`values` as an Arrow string array (missing -> null), or None when they are not all
    text (a JSON body's numbers, booleans): then callers take pandas' own path.

    Why Arrow: its vectorised kernels judge a 1M-row landed day several times faster than
    pandas' per-value string methods (`python -m benchmarks.ge_validation --reference`:
    offset regex 1.29 s -> 0.22 s, numbers 0.68 s -> 0.23 s, blank check 0.29 s -> 0.02 s
    per column; `landed_reasons` 10.7 s -> 3.7 s, one loaded machine).
    """
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
        return None
    if arrow_backed(values):  # no copy
        text = pa.array(values)
        return (text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
    try:
        return pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def _has_offset(values: pd.Series) -> np.ndarray:
    """Per value, whether its text ends in a UTC offset (`_OFFSET`); False when missing."""
    text = _arrow_text(values)
    if text is not None:  # RE2 through Arrow: the same pattern, vectorised
        return np.asarray(pc.match_substring_regex(text, _OFFSET.pattern, ignore_case=True)
                          .fill_null(False), dtype=bool)
    return values.astype("string").str.contains(_OFFSET, na=False).astype(bool).to_numpy()


def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 text to UTC timestamps, each value on its own: a value with an offset is
    converted from it, a value without one is UTC (never the offset of a neighbouring row,
    which `pd.to_datetime(..., utc=True)` would give it); unparseable -> NaT.

    Each part (with an offset, without) is cast by Arrow in one pass when Arrow reads every
    value of it; any value it will not read sends the part through `pd.to_datetime(...,
    format="ISO8601")`, which decides what it means. Arrow reads a strict subset of what
    pandas reads and agrees on it (tested value by value in tests/ingest/test_contract.py):
    a 1M-row landed day 0.07 s against 0.59 s."""
    has_offset = _has_offset(values)
    text = _arrow_text(values)
    nanos = np.full(len(values), _NAT, dtype="int64")
    for part, zone in ((has_offset, "UTC"), (~has_offset, None)):
        if part.any():
            nanos[part] = _parsed_nanos(values, text, part, zone)
    return pd.Series(nanos.view("datetime64[ns]"), index=values.index).dt.tz_localize("UTC")


_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


def _parsed_nanos(values: pd.Series, text: pa.Array | None, part: np.ndarray,
                  zone: str | None) -> np.ndarray:
    """UTC nanoseconds (int64, `_NAT` = not a time) of `values[part]`: the values with an
    offset (`zone` "UTC") or those without (None, read as UTC)."""
    if text is not None:
        try:
            cast = pc.cast(text.filter(pa.array(part)), pa.timestamp("ns", zone))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            return cast.cast(pa.int64()).fill_null(_NAT).to_numpy(zero_copy_only=False)
    parsed = pd.to_datetime(values[part].astype("string").astype(object), errors="coerce",
                            utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64")


def parse_numbers(values: pd.Series) -> pd.Series:
    """Text or numbers to float64; unparseable -> NaN (`pd.to_numeric(errors="coerce")`).

    A column that is all number text is cast by Arrow in one pass; any value Arrow will
    not read sends the whole column through `pd.to_numeric`, which decides what it means.
    Arrow reads no text that `pd.to_numeric` reads otherwise (tested value by value in
    tests/ingest/test_contract.py); an infinity goes to pandas too (Arrow reads an
    overflow as inf). Arrow rounds correctly where pandas' parser may be off by one ulp.
    """
    text = _arrow_text(values)
    if text is not None:
        try:
            cast = pc.cast(text, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            numbers = cast.to_numpy(zero_copy_only=False)
            # Arrow reads an overflow ("1e400") as inf where pandas says "not a number".
            if not np.isinf(numbers).any():
                return pd.Series(numbers, index=values.index, dtype="float64")
    return pd.to_numeric(values, errors="coerce").astype("float64")


_INT64_SPAN = 2.0**63


def _whole_numbers(numeric: pd.Series) -> pd.Series:
    """float64 -> Int64: 3.0 is an int, 3.5 is not, nor is a number beyond int64 (both NA).

    Built from data and mask (`pd.arrays.IntegerArray`): `astype("Int64")` checks every
    value in Python-level code, 0.25 s per 1M-row column.
    """
    values = numeric.to_numpy()
    with np.errstate(invalid="ignore"):
        whole = np.isclose(values, np.round(values)) & (np.abs(values) < _INT64_SPAN)
    data = np.where(whole, values, 0).astype("int64")
    return pd.Series(pd.arrays.IntegerArray(data, ~whole), index=numeric.index)


def is_blank(values: pd.Series) -> pd.Series:
    """Per value, whether it is missing or only whitespace (an id of spaces is no id)."""
    text = _arrow_text(values)
    if text is not None:
        blank = pc.equal(pc.utf8_trim_whitespace(text), "").fill_null(True)
        return pd.Series(np.asarray(blank, dtype=bool), index=values.index)
    return values.astype("string").str.strip().eq("").fillna(True).astype(bool)


def text_lengths(values: pd.Series) -> pd.Series:
    """Per value, its length in characters (Unicode code points); NA when missing."""
    text = _arrow_text(values)
    if text is not None:
        return pd.Series(pc.utf8_length(text).to_pandas(types_mapper=pd.ArrowDtype),
                         index=values.index).astype("Int64")
    return values.astype("string").str.len().astype("Int64")


def _string_violations(col: pd.Series, f: Field) -> pd.Series:
    """A string field's own rules in one Arrow pass: blank (a nullable field's NA is
    "unknown", but a value that is there and blank, a request's "", is no value; coerce()
    makes a landed blank NA) and, with `max_length`, too long (in characters)."""
    text = _arrow_text(col)
    if text is None:
        blank = is_blank(col) & (col.notna() if f.nullable else True)
        too_long = (text_lengths(col) > f.max_length) if f.max_length is not None else False
        return (blank | too_long).fillna(False).astype(bool)
    blank = pc.equal(pc.utf8_trim_whitespace(text), "").fill_null(not f.nullable)
    if f.max_length is not None:
        blank = pc.or_(blank, pc.greater(pc.utf8_length(text), f.max_length).fill_null(False))
    return pd.Series(np.asarray(blank, dtype=bool), index=col.index)


def coerce_column(field: Field, values: pd.Series) -> pd.Series:
    """Parse raw (string or mixed) values into the field's type; unparseable -> NA.

    A nullable string's blank value (empty, only whitespace) is missing: NA."""
    if field.kind == "timestamp":
        return parse_timestamps(values)
    if field.kind in ("float", "int"):
        numeric = parse_numbers(values)
        if field.kind == "int":
            return _whole_numbers(numeric)
        return numeric
    # Strings and categories stay as given (never trimmed): category membership is a
    # value rule, so ' online' is refused here exactly as the API refuses it.
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    if field.nullable and field.kind == "string":
        return text.mask(is_blank(values))
    return text


def coerce(frame: pd.DataFrame, fields: tuple[Field, ...] = FIELDS) -> pd.DataFrame:
    """Typed view of a raw frame: every column of `fields` present in `frame`, parsed."""
    out = {f.name: coerce_column(f, frame[f.name]) for f in fields if f.name in frame.columns}
    return pd.DataFrame(out, index=frame.index)


def _base_violations(typed: pd.DataFrame, fields: tuple[Field, ...] = FIELDS,
                     raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per field, True where the row breaks its rule. A nullable field's empty value is
    allowed; with `raw` (the values as landed) a value that is there but does not parse
    is still refused (without it, only the typed view is known and NA passes)."""
    out = {}
    for f in fields:
        if f.name not in typed.columns:
            continue
        col = typed[f.name]
        bad = col.isna()
        if f.nullable:
            bad = bad & False
            if raw is not None and f.name in raw.columns and bad.index.size:
                empty = col.isna()  # judged from the raw text only where the value is NA
                # Values, not a Series: pandas warns (and will refuse) when a Series is
                # set through a mask. `raw.loc` keeps the rows in the mask's order.
                bad[empty] = ~is_blank(raw.loc[empty, f.name]).to_numpy()
        if f.kind == "string":
            bad |= _string_violations(col, f)
        if f.allowed is not None:
            bad |= ~col.isin(list(f.allowed)) & (col.notna() if f.nullable else True)
        if f.low is not None:
            bad |= (col <= f.low) if f.low_exclusive else (col < f.low)
        if f.high is not None:
            bad |= col > f.high
        out[f.name] = bad.fillna(True).astype(bool)
    return pd.DataFrame(out, index=typed.index)


def utc_days(timestamps: pd.Series) -> np.ndarray:
    """(n,) the UTC calendar day (numpy datetime64[D]; NaT where missing) of each tz-aware
    timestamp: a partition day, a review team's day, a label's day of arrival are UTC days.
    `.astype(str)` gives ISO dates. Why not `dt.strftime("%Y-%m-%d")`: one Python call
    per value, 6.2 s for a 1M-row day (`model_performance`'s split) against ~0.1 s here."""
    return timestamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(
        "datetime64[D]")


def event_order(rows: pd.DataFrame) -> np.ndarray:
    """(n,) positions of `rows` in event order: by `event_timestamp`, then `transaction_id`
    (stable; both columns present, no missing id). The order of the offline rows, the
    training set and a scored day. Arrow's sort: at 1M rows 0.3 s against 1.1-1.9 s for
    pandas' `sort_values` on text ids (same order: UTF-8 bytes sort as code points)."""
    keys = pa.table({EVENT_TIMESTAMP.name: pa.array(rows[EVENT_TIMESTAMP.name]),
                     TRANSACTION_ID.name: pa.array(rows[TRANSACTION_ID.name],
                                                   from_pandas=True)})
    order = pc.sort_indices(keys, sort_keys=[(EVENT_TIMESTAMP.name, "ascending"),
                                             (TRANSACTION_ID.name, "ascending")])
    return order.to_numpy()


def id_text(ids: pd.Series) -> pa.Array:
    """(n,) `ids` as Arrow `string` (null where missing), for lookups in Arrow. Text
    already in Arrow buffers is taken as it is: `astype(str)` first made a Python string
    of each id, 0.53 s per million (`model_performance`'s labels and card features each
    did it); other values (numbers, Python strings) are made text as `astype(str)` does."""
    text = _arrow_text(ids)
    if text is None:  # not all text: written as `astype(str)` writes them
        text = pa.array(ids.astype(str).where(ids.notna()), from_pandas=True)
    return text.cast(pa.string())


def rows_by_transaction_id(stored: pa.Table, transaction_ids: pd.Series) -> pa.Table:
    """The rows of `stored` (a `transaction_id` column, any others) for each id of
    `transaction_ids`, in its order: (len(transaction_ids),) rows, all null where an id is
    not stored; an id stored twice takes its last copy (a later file corrects an earlier
    one). Looked up in Arrow (`index_in`): pandas' `drop_duplicates` + `get_indexer` on
    text ids held each id as a Python string (~1 GB at a 6M-row holdout) and took 1.7 s
    of a scored 1M-row day's 11.7 s (`model_performance`).

    The smaller side is hashed: a scored day asks for 220k of its 1M stored ids, 0.10-0.15
    s hashing those against 0.23-0.62 s hashing the stored ones (three rounds, one
    process); the gate's holdout (6M rows, not sampled) asks for as many ids as are stored
    and keeps the stored ones hashed: hashing its asked ones (twice: `dictionary_encode`,
    then the value set) peaked the retraining at 5.31 GB against 5.05 GB in one A/B (on a
    later state both orders measured 5.26-5.32 GB, the spread between runs)."""
    if stored.num_rows == 0:  # nothing stored: every row null, no id read
        return stored.take(pa.nulls(len(transaction_ids), pa.int64()))
    ids = stored[TRANSACTION_ID.name].cast(pa.string())
    asked = id_text(transaction_ids)
    rows = (_last_rows_hashing_asked(ids, asked) if 2 * len(asked) < len(ids)
            else _last_rows_hashing_stored(ids, asked))
    return stored.take(rows)  # null: not stored


def _last_rows_hashing_stored(ids: pa.ChunkedArray, asked: pa.Array) -> pa.Array:
    """(len(asked),) int64: the last row of `ids` holding each asked id, null if none."""
    last = len(ids) - 1
    # index_in takes an id's first match: look up in the ids reversed, so it is the last copy.
    reversed_ids = ids.take(pa.array(np.arange(last, -1, -1)))
    at = pc.index_in(asked, value_set=reversed_ids).cast(pa.int64())
    return pc.subtract(pa.scalar(last, pa.int64()), at)


def _last_rows_hashing_asked(ids: pa.ChunkedArray, asked: pa.Array) -> pa.Array:
    """`_last_rows_hashing_stored`'s answer, the asked ids hashed and each stored id
    probed once."""
    distinct = pc.dictionary_encode(asked)
    at = pc.index_in(ids, value_set=distinct.dictionary).fill_null(-1).to_numpy()
    found = at >= 0
    last = np.full(len(distinct.dictionary), -1, dtype=np.int64)
    np.maximum.at(last, at[found], np.flatnonzero(found))  # an id stored twice: its last row
    codes = distinct.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    rows = np.full(len(codes), -1, dtype=np.int64)
    rows[codes >= 0] = last[codes[codes >= 0]]
    return pa.array(rows, mask=rows < 0)


def day_violations(typed: pd.DataFrame, day: dt.date | str) -> pd.DataFrame:
    """Rules of a landed file of `day` (its partition day, UTC), one column per field:
    `event_timestamp` outside that UTC day, `hour` / `day_of_week` that are not the UTC
    hour / weekday of the row's own `event_timestamp`. False where a value cannot be
    compared (missing or unparseable: the field's own rule says so)."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    out = pd.DataFrame(False, index=typed.index,
                       columns=[f.name for f in DAY_RULE_FIELDS if f.name in typed.columns])
    if EVENT_TIMESTAMP.name not in typed.columns:
        return out
    ts = typed[EVENT_TIMESTAMP.name]
    known = ts.notna()
    start = pd.Timestamp(day, tz="UTC")
    out[EVENT_TIMESTAMP.name] = (known & ((ts < start) | (ts >= start + pd.Timedelta(days=1)))
                                 ).astype(bool)
    for f, actual in ((HOUR, ts.dt.hour), (DAY_OF_WEEK, ts.dt.dayofweek)):
        if f.name in typed.columns:
            given = typed[f.name]
            out[f.name] = (known & given.notna() & (given != actual)).fillna(False).astype(bool)
    return out


def label_day_violations(typed: pd.DataFrame, day: dt.date | str) -> pd.DataFrame:
    """Rule of a label file of arrival `day` (UTC): `label_timestamp` on that day. A label
    stamped earlier than its delivery would let a training cut-off between the two "know"
    it before it arrived; a later one is from the future. False where not comparable."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    out = pd.DataFrame(False, index=typed.index, columns=[LABEL_TIMESTAMP.name])
    if LABEL_TIMESTAMP.name not in typed.columns:
        return out
    ts = typed[LABEL_TIMESTAMP.name]
    start = pd.Timestamp(day, tz="UTC")
    out[LABEL_TIMESTAMP.name] = (ts.notna() & ((ts < start) | (ts >= start + pd.Timedelta(days=1)))
                                 ).astype(bool)
    return out


def violations(typed: pd.DataFrame, day: dt.date | str | None = None,
               fields: tuple[Field, ...] = FIELDS) -> pd.DataFrame:
    """Boolean frame, one column per field: True where the row breaks that field's rule.

    A value that is missing, unparseable or out of range is a violation (`reasons` tells
    which, from the raw text). With `day` (a landed file's partition day) the day rules of
    `day_violations` apply too.
    """
    out = _base_violations(typed, fields)
    if day is not None:
        on_day = (day_violations(typed, day) if fields is FIELDS
                  else label_day_violations(typed, day))
        out = out | on_day.reindex(columns=out.columns, fill_value=False)
    return out


def _quoted(values: pd.Series) -> pd.Series:
    """The raw value as landed, quoted (`'online '`, `'twelve dollars'`)."""
    return values.map(lambda v: repr(v.item() if hasattr(v, "item") else v))


def reasons(typed: pd.DataFrame, raw: pd.DataFrame,
            day: dt.date | str | None = None, fields: tuple[Field, ...] = FIELDS) -> pd.Series:
    """One readable reason per row ('' for a valid row), naming every broken field and
    quoting its value as landed. With `day`, the day rules of `day_violations` too
    (`label_day_violations` for the label feed's fields)."""
    bad = _base_violations(typed, fields, raw)
    if day is None:
        on_day = pd.DataFrame(index=typed.index)
    else:
        on_day = (day_violations(typed, day) if fields is FIELDS
                  else label_day_violations(typed, day))
    out = pd.Series("", index=typed.index, dtype=object)
    rows = bad.any(axis=1) | on_day.any(axis=1)
    if not rows.any():
        return out
    # Only the (few) bad rows are described, so a per-field loop over them is cheap.
    messages: list[pd.Series] = []
    day_text = None if day is None else str(day)
    ts = typed[EVENT_TIMESTAMP.name] if EVENT_TIMESTAMP.name in typed.columns else None
    for f in fields:
        if f.name not in bad.columns:
            continue
        hit = bad.loc[rows, f.name]
        raw_col = raw.loc[rows, f.name]
        got = _quoted(raw_col)
        missing = is_blank(raw_col)
        unparsed = typed.loc[rows, f.name].isna()
        text = np.where(missing, f"{f.name} is missing",
                        np.where(unparsed, f"{f.name} is not a valid {f.kind} (got " + got + ")",
                                 f.rule() + " (got " + got + ")"))
        text = pd.Series(np.where(hit, text, None), index=hit.index, dtype=object)
        if f.name in on_day.columns:
            off = on_day.loc[rows, f.name] & ~hit
            if off.any():
                text[off] = _day_messages(
                    f, got[off], None if ts is None else ts.loc[off.index[off]], day_text)
        messages.append(text)
    joined = pd.concat(messages, axis=1).apply(lambda r: "; ".join(r.dropna()), axis=1)
    out.loc[rows] = joined
    return out


def _day_messages(f: Field, got: pd.Series, ts: pd.Series | None, day: str | None,
                  ) -> pd.Series:
    if f is LABEL_TIMESTAMP:
        return f"label_timestamp is not on the file's day of arrival {day} (UTC) (got " + got + ")"
    if f is EVENT_TIMESTAMP:
        return f"event_timestamp is not on the file's day {day} (UTC) (got " + got + ")"
    if f is HOUR:
        return ("hour is not the UTC hour of event_timestamp, "
                + ts.dt.hour.astype(str) + " (got " + got + ")")
    return ("day_of_week is not the weekday of event_timestamp (UTC), "
            + ts.dt.dayofweek.astype(str) + " (got " + got + ")")


def line_of(position: int) -> int:
    """Line of the file holding data row `position` (0-based; the header is line 1)."""
    return position + 2


def duplicates(raw: pd.DataFrame) -> pd.Series:
    """Per row, why it is a duplicate ('' if it is not), from the values as landed.

    Rows that repeat another row exactly: the first copy is kept, every later copy is
    "an exact duplicate of line N". Rows that share a `transaction_id` but differ: all of
    them are refused, each naming the other line and the values that differ, since there
    is no telling which one is right.
    """
    out = pd.Series("", index=raw.index, dtype=object)
    key = TRANSACTION_ID.name
    if key not in raw.columns:
        return out
    ids = raw[key]
    shared = ids.notna() & ids.duplicated(keep=False)
    if not shared.any():
        return out
    positions = pd.Series(np.arange(len(raw)), index=raw.index)
    rows = raw[shared]
    hashes = pd.util.hash_pandas_object(rows, index=False)
    for tid, group in rows.groupby(ids[shared], sort=False):
        group_hashes = hashes.loc[group.index]
        first = group.index[0]
        if group_hashes.nunique() == 1:
            for index in group.index[1:]:
                out[index] = (f"exact duplicate of line {line_of(positions[first])} "
                              f"(transaction_id {tid!r}); one copy kept")
            continue
        for index in group.index:
            other = next(o for o in group.index if group_hashes[o] != group_hashes[index])
            diff = [f"{c} {raw.at[index, c]!r} vs {raw.at[other, c]!r}" for c in raw.columns
                    if not _same(raw.at[index, c], raw.at[other, c])]
            out[index] = (f"transaction_id {tid!r} is also on line {line_of(positions[other])} "
                          f"with other values ({', '.join(diff)}); both refused")
    return out


def _same(a: object, b: object) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b


def landed_reasons(raw: pd.DataFrame, day: dt.date | str, fields: tuple[Field, ...] = FIELDS,
                   ) -> tuple[pd.DataFrame, pd.Series]:
    """A landed file of `day`, judged: its typed view and one reason per row ('' = valid).

    Every rule of a landed row: the field rules, the day rules and duplicates. `fields`:
    FIELDS for a transactions file, LABEL_FIELDS for a label file (its day of arrival).
    """
    typed = coerce(raw, fields)
    why = reasons(typed, raw, day, fields)
    dup = duplicates(raw)
    both = (why != "") & (dup != "")
    why = why.where(dup == "", dup).where(~both, why + "; " + dup)
    return typed, why
