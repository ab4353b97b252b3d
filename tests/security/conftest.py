"""The hostile-input suite: fixtures shared with the centre's tests (a real Mosquitto, PostgreSQL)."""

from tests.center.conftest import pg

__all__ = ["pg"]
