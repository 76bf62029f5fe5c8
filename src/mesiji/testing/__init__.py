"""Test doubles shipped with the package, so the project's tests and its users share them."""

from mesiji.testing.clock import VirtualClock
from mesiji.testing.ports import free_port
from mesiji.testing.waiting import eventually

__all__ = ["VirtualClock", "eventually", "free_port"]
