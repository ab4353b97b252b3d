"""A grid centre for end-to-end tests: SQLite in the test's folder, one officer reachable by API token."""

from pathlib import Path

from pydantic import SecretStr

from gridedge.center.settings import ApiToken, CenterConfig, HttpConfig, demo_officer
from gridedge.edge.broker import BrokerConfig

TOKEN = "end-to-end-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def centre_config(broker: BrokerConfig, folder: Path, port: int) -> CenterConfig:
    return CenterConfig(
        broker=broker,
        database=f"sqlite:///{folder / 'centre.db'}",
        http=HttpConfig(port=port),
        officers=[demo_officer()],
        api_tokens=[ApiToken(officer=demo_officer().username, token=SecretStr(TOKEN))],
    )
