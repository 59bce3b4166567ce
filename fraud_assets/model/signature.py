"""The logged model's interface: the columns and types a caller sends, declared once.

The signature is written out, not inferred from a sample: inference would mark a feature
optional or a count as a double depending on which rows the sample happened to hold.
Request fields take their types from the contract, merchant features from the feature
store's schema, so serving sends exactly what the store and the contract give it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from fraud_assets import contract
from fraud_assets.features.names import FEATURES
from fraud_assets.features.schema import FEATURE_DTYPES
from fraud_assets.model import training

_CONTRACT_TYPES = {"float": ("double", "float64"), "int": ("long", "int64"),
                   "category": ("string", "object"), "string": ("string", "object")}
_DTYPE_TYPES = {"float64": "double", "int64": "long"}

# pandas dtype per model input column, in the model's column order.
INPUT_DTYPES: dict[str, str] = {
    **{f.name: _CONTRACT_TYPES[f.kind][1] for f in contract.REQUEST_FIELDS},
    **{name: FEATURE_DTYPES[name] for name in FEATURES},
}
if tuple(INPUT_DTYPES) != training.MODEL_INPUTS:
    raise ImportError(f"signature columns {list(INPUT_DTYPES)} differ from the model's "
                      f"inputs {list(training.MODEL_INPUTS)}")


def model_signature() -> ModelSignature:
    """Inputs: request fields + merchant features; output: [P(legit), P(fraud)] per row."""
    inputs = [ColSpec(_CONTRACT_TYPES[f.kind][0], f.name) for f in contract.REQUEST_FIELDS]
    inputs += [ColSpec(_DTYPE_TYPES[FEATURE_DTYPES[name]], name) for name in FEATURES]
    return ModelSignature(inputs=Schema(inputs),
                          outputs=Schema([TensorSpec(np.dtype("float64"), (-1, 2))]))


def serving_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns in the signature's dtypes (what a pyfunc caller sends).

    Fails on missing values in an int column: the store never serves those.
    """
    return training.model_input(frame).astype(INPUT_DTYPES)


def input_example(frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame | None:
    """A few complete rows for the logged model's example; None if there are none."""
    complete = frame.dropna(subset=list(training.MODEL_INPUTS))
    return serving_input(complete.head(rows)) if len(complete) else None
