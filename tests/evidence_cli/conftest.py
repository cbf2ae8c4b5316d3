from tests.reports_cli.conftest import _restore_logging, world  # noqa: F401
from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401
