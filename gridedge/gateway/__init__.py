"""The gateway agent's services: pipeline, read model and control port (ports.py), local API, metrics,
telemetry, downlink commands; agent.py wires them (docs/architecture.md). Only the CLI imports it."""
