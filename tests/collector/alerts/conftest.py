"""Every test here runs with process-wide logging restored afterwards
(restore_logging, tests/plugins/reports_world.py)."""

import pytest


@pytest.fixture(autouse=True)
def _restore_logging(restore_logging: None) -> None:
    """The CLIs under test configure logging at their edge."""
