"""Development tooling: the demo and the broker launcher the demo, the tests and the benchmarks share.

Production code never imports it (import-linter: "production code does not import dev tooling");
only the CLI's `demo` command, tests/ and bench/ do.
"""
