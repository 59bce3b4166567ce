"""The reference sample with the champion's scores, so served scores can be compared.

The champion's training window holds labels but no scores; the serving log holds scores
but no labels. Scoring the (bounded) reference sample with the champion, features joined
through Feast as in training, gives the score distribution the model produced on the data
it learned from. Served traffic whose scores move away from it has drifted in a way the
request fields alone may not show (merchant features that moved, say).

Scores are cached per champion version in FRAUD_HOME/reports/reference_scores/, keyed by a
hash of each row's inputs: the reference sample of a version is the same every day (same
window, same seed), so only the first report after a promotion pays for the scoring, and a
re-landed day with other values is simply scored again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import contract, lake, settings
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.monitoring.columns import SCORE
from fraud_assets.monitoring.reference import Reference
from fraud_assets.monitoring.scoring import load_version, score_rows

CACHE_FOLDER = "reference_scores"
ROW_KEY = "row_key"
# What a score depends on: the row's identity, time (which feature row applies) and inputs.
KEYED: tuple[str, ...] = (contract.TRANSACTION_ID.name, contract.EVENT_TIMESTAMP.name,
                          *(f.name for f in contract.REQUEST_FIELDS))


def cache_path(version: str, home: Path | None = None) -> Path:
    return settings.reports_dir(home) / CACHE_FOLDER / f"v{version}.parquet"


def row_keys(frame: pd.DataFrame) -> pd.Series:
    """A stable 64-bit hash of each row's KEYED values."""
    return pd.util.hash_pandas_object(frame[list(KEYED)], index=False).astype("uint64")


def _read_cache(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame({ROW_KEY: pd.Series(dtype="uint64"),
                             SCORE: pd.Series(dtype="float64")})
    return pd.read_parquet(path)


def _score_missing(missing: pd.DataFrame, registry: MlflowRegistry, version: str,
                   open_store: Callable[[], MerchantFeatureStore]) -> pd.DataFrame:
    """ROW_KEY and SCORE for `missing`; NaN where a row has no feature row (as in training)."""
    champion = load_version(registry, version)
    store = open_store()
    store.apply()  # the join reads the feature service from the registry
    scored = score_rows(missing, champion, store).frame
    scores = pd.Series(scored[SCORE].to_numpy(), index=row_keys(scored))
    keys = row_keys(missing)
    # Rows without features are cached too (as NaN), so they are not re-joined every day.
    return pd.DataFrame({ROW_KEY: keys.to_numpy(),
                         SCORE: keys.map(scores).to_numpy(dtype="float64")})


def score_reference(reference: Reference, registry: MlflowRegistry,
                    open_store: Callable[[], MerchantFeatureStore], home: Path | None = None,
                    ) -> tuple[Reference, tuple[str, ...]]:
    """`reference` with a SCORE column from the champion it was resolved for, and notes.

    Without a champion the reference is returned as is (the score is then not compared,
    and the drift summary says so). The version comes from the reference, not a new alias
    lookup: the scores must be those of the model whose window the reference is.
    """
    version = reference.champion_version
    if version is None:
        return reference, (f"{SCORE} not compared: no champion to score the reference with",)
    frame = reference.frame.reset_index(drop=True)
    keys = row_keys(frame)
    path = cache_path(version, home)
    cache = _read_cache(path)
    missing = frame[~keys.isin(cache[ROW_KEY])]
    notes = [f"reference scored by champion v{version} ({len(frame) - len(missing):,} of "
             f"{len(frame):,} rows from the cache {path})"]
    if len(missing):
        cache = pd.concat([cache, _score_missing(missing, registry, version, open_store)],
                          ignore_index=True).drop_duplicates(ROW_KEY, keep="last")
        lake.write_frame(cache, path)
    scores = keys.map(pd.Series(cache[SCORE].to_numpy(), index=cache[ROW_KEY].to_numpy()))
    unscored = int(np.isnan(scores.to_numpy(dtype="float64")).sum())
    if unscored:
        notes.append(f"{unscored:,} reference rows have no merchant features to score with "
                     f"(left out, as training left them out)")
    return replace(reference, frame=frame.assign(**{SCORE: scores.to_numpy()})), tuple(notes)
