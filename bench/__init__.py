"""Benchmarks: `gridedge bench NAME` runs a scenario on loopback, prints a table, writes results/NAME.json."""
