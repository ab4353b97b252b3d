"""The hostile-input suite: fixtures shared with the centre's tests (PostgreSQL, the console app)."""

from tests.center.conftest import app_client, clock, downlink, pg, store

__all__ = ["app_client", "clock", "downlink", "pg", "store"]
