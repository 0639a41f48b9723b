"""Test helpers that ship with unyo: a fault-injecting OpenAI-compatible server."""

from unyo.testing._fault_server import FaultServer

__all__ = ["FaultServer"]
