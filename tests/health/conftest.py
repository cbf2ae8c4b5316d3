from tests.ledger.conftest import ledger, ledger_url, open_ledgers  # noqa: F401
from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401
from tests.timeseries.conftest import influxdb  # noqa: F401
