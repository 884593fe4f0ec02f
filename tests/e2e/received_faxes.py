"""Faxes the sandbox holds for the office, and where they arrived: for the tests of inbox
folders on shares."""

from __future__ import annotations

import base64
from pathlib import Path

from faxd.sandbox.server import SandboxServer

from .harness import pdf

OURS = "+4612345678"
SENDER = "+46927654321"


def fax(server: SandboxServer, tag: str) -> bytes:
    """A one-page PDF received for OURS, named TAG.pdf at the provider; its bytes."""
    content = pdf(tag)
    server.add_received(
        {
            "sender": SENDER,
            "recipient": OURS,
            "files": [
                {"fileName": f"{tag}.pdf", "content_base64": base64.b64encode(content).decode()}
            ],
        }
    )
    return content


def arrived(folder: Path, tag: str) -> list[bytes]:
    """What faxd delivered into `folder` of the fax TAG.pdf (each copy, if twice)."""
    return [p.read_bytes() for p in folder.glob(f"*_{tag}.pdf")]
