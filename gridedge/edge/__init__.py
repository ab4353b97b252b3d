"""Shared vocabulary of gateway and centre: readings, alerts, the grid event contract, config base."""
