"""The code location: everything under `defs/`, loaded automatically (a `dg` project).

Each domain folder of `defs/` (ingest, features, model, monitoring, serving) holds its
assets, checks, sensors, jobs and resources; nothing is listed here by hand.
`dg check defs`, `dg list defs`, `dg dev` and workspace.yaml all load this module.
"""

from pathlib import Path

from dagster import Definitions, definitions, load_from_defs_folder


@definitions
def defs() -> Definitions:
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
