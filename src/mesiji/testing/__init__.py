"""Test doubles shipped with the package, so the project's tests and its users share them."""

from mesiji.testing.clock import VirtualClock
from mesiji.testing.memory import MemoryTransport, connect_pair, memory_connector
from mesiji.testing.ports import free_port
from mesiji.testing.waiting import eventually

__all__ = [
    "MemoryTransport",
    "VirtualClock",
    "connect_pair",
    "eventually",
    "free_port",
    "memory_connector",
]
