"""GridEdge: smart-community edge gateway and grid centre."""

__version__ = "0.1.0"
