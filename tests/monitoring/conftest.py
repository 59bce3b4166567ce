"""One small trained platform per session, shared by the tests that need a champion."""

from __future__ import annotations

import pytest

from tests.monitoring.platform import Platform, landed_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """Read-only for tests, apart from days and caches they add after the window."""
    return landed_platform(tmp_path_factory.mktemp("platform"))
