"""Wire-level simulators of the devices GridEdge reads, so everything is testable on one machine."""
