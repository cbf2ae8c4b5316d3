from tests.reports_cli.conftest import _restore_logging  # noqa: F401
