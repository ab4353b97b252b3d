"""One module per scenario; each exposes `run(quick: bool) -> Measured`."""
