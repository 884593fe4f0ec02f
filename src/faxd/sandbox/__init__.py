"""A local emulator of both provider APIs (`faxd sandbox`).

Generic DOCS v2 and Retarus Fax-for-Applications v1 on one loopback port, with the
validation the API documents describe, statuses that move on, received documents to
poll, injected faults, and counters that prove exactly-once delivery in tests."""

from faxd.sandbox.scenario import load_scenario
from faxd.sandbox.server import SandboxServer, serve_forever

__all__ = ["SandboxServer", "load_scenario", "serve_forever"]
