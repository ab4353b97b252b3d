"""The composition root: settings, the agent that wires the parts, the CLI. Nothing imports it."""
