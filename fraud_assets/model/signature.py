"""The logged model's interface: the columns and types a caller sends, declared once.

The signature is written out, not inferred from a sample: inference would mark a feature
optional or a count as a double depending on which rows the sample happened to hold.
The types are those the pipeline is fit on (`training.MODEL_INPUT_DTYPES`): request fields
in the contract's types, merchant features as doubles whose values may be null (NaN),
because the pipeline imputes a missing one; the columns themselves must be there. An int
signature for a count made `mlflow models serve` reject a row without merchant features
("Failed to convert column merchant_txn_count to type 'int64'") that the model scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from fraud_assets.features.names import CARD_FEATURES
from fraud_assets.model import training

_MLFLOW_TYPES = {"float64": "double", "int64": "long", "object": "string"}

# pandas dtype per model input column, in the model's column order.
INPUT_DTYPES: dict[str, str] = {name: str(np.dtype(dtype))
                                for name, dtype in training.MODEL_INPUT_DTYPES.items()}
if tuple(INPUT_DTYPES) != training.MODEL_INPUTS:
    raise ImportError(f"signature columns {list(INPUT_DTYPES)} differ from the model's "
                      f"inputs {list(training.MODEL_INPUTS)}")


def model_signature() -> ModelSignature:
    """Inputs: request fields + merchant and card features (doubles, null = unknown: a
    pyfunc caller without a card sends the card features as null); output:
    [P(legit), P(fraud)] per row."""
    inputs = [ColSpec(_MLFLOW_TYPES[dtype], name) for name, dtype in INPUT_DTYPES.items()]
    return ModelSignature(inputs=Schema(inputs),
                          outputs=Schema([TensorSpec(np.dtype("float64"), (-1, 2))]))


def serving_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns in the signature's dtypes (what a pyfunc caller sends).

    Fails on missing values in an int column (a request field: the contract requires it).
    """
    return training.model_input(frame).astype(INPUT_DTYPES)


def input_example(frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame | None:
    """A few complete rows for the logged model's example; None if there are none."""
    # Card features are unknown (NaN) on every card-less row: complete = the rest is there.
    needed = [c for c in training.MODEL_INPUTS if c not in CARD_FEATURES]
    complete = frame.dropna(subset=needed)
    return serving_input(complete.head(rows)) if len(complete) else None
