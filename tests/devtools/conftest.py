from tests.vision.conftest import _resource_tracker  # the demo runs a camera worker (spawned)

__all__ = ["_resource_tracker"]
