"""Saving a day's snapshot to the Evidently workspace from an asset, without ever failing it.

The dashboards are a view over time; the day's verdict (metadata, checks, files) is the
record. So a snapshot that cannot be saved is logged as a warning and said in metadata,
and the materialization succeeds; re-materializing the day saves it again.
"""

from collections.abc import Callable
from pathlib import Path

from dagster import AssetExecutionContext, MetadataValue

from fraud_assets.monitoring import dashboards

SNAPSHOT_KEY = "evidently_snapshot"
ERROR_KEY = "evidently_error"


def save_to_dashboards(context: AssetExecutionContext,
                       save: Callable[[], str | None], home: Path) -> dict[str, object]:
    """Run `save` (returns a snapshot id, or None when the day has nothing to plot) and
    describe the outcome as metadata: the snapshot id and the workspace under `home`
    (FRAUD_HOME), or the error."""
    try:
        snapshot_id = save()
    except Exception as exc:  # noqa: BLE001 - any failure here must not fail the asset
        message = str(exc) if isinstance(exc, dashboards.DashboardError) else (
            f"cannot save to the Evidently workspace: {type(exc).__name__}: {exc}")
        context.log.warning(f"{message} (the materialization itself succeeded)")
        return {ERROR_KEY: message}
    if snapshot_id is None:
        return {SNAPSHOT_KEY: "none (nothing to plot for this day)"}
    return {SNAPSHOT_KEY: snapshot_id,
            "evidently_workspace": MetadataValue.path(str(dashboards.workspace_dir(home)))}
