"""`fraud-platform rollback`, through typer's CliRunner, on a real MLflow store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fraud_assets.cli import app
from fraud_assets.model import deploy
from fraud_assets.model.registry import PREVIOUS_CHAMPION_ALIAS
from fraud_assets.settings import CHAMPION_ALIAS
from tests.support import register


@pytest.fixture
def three_champions(registry, split, good_model):
    """Versions 1, 2, 3 each became champion in turn."""
    for _ in range(3):
        version = register(registry, good_model, split[0]).version
        deploy.promote(registry, version, reason="test")
    return registry


def rollback(registry, *args: str):
    result = CliRunner().invoke(
        app, ["rollback", "--tracking-uri", registry.resolved_tracking_uri(), *args])
    return result.exit_code, result.output + (result.stderr or "")


def aliases(registry) -> tuple[str | None, str | None]:
    return (registry.alias_version(CHAMPION_ALIAS),
            registry.alias_version(PREVIOUS_CHAMPION_ALIAS))


def test_rollback_goes_to_the_previous_champion_and_further(three_champions):
    code, out = rollback(three_champions)
    assert code == 0, out
    assert "from version 3 to version 2" in out
    assert aliases(three_champions) == ("2", "1")
    code, out = rollback(three_champions)  # a second rollback walks further back
    assert code == 0 and aliases(three_champions) == ("1", None)
    code, out = rollback(three_champions)
    assert code == 1 and "no previous champion" in out and "--to" in out
    assert aliases(three_champions) == ("1", None)


def test_rollback_to_a_named_version(three_champions):
    code, out = rollback(three_champions, "--to", "1")
    assert code == 0, out
    assert "from version 3 to version 1" in out
    assert aliases(three_champions) == ("1", "3")
    code, out = rollback(three_champions)  # undoes the jump
    assert code == 0 and aliases(three_champions) == ("3", "2")


@pytest.mark.parametrize("version", ["42", "latest"])
def test_rollback_refuses_an_unknown_version(three_champions, version):
    code, out = rollback(three_champions, "--to", version)
    assert code == 1
    assert "rollback refused" in out and "known versions: 1, 2, 3" in out
    assert aliases(three_champions) == ("3", "2")


def test_rollback_without_any_champion_is_refused(registry):
    code, out = rollback(registry)
    assert code == 1 and "no champion" in out
