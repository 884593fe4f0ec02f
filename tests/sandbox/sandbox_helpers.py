"""Shared helpers for the sandbox tests: credentials, sample files, request shortcuts."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import requests

from faxd.sandbox.server import SandboxServer

DOCS_KEY = "sandbox-docs-key"
DOCS_AUTH = {"Authorization": f"Bearer {DOCS_KEY}"}
RETARUS_AUTH = ("faxd", "sandbox-password")
SENDER = "+4612345678"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def ooxml(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}/document.xml", "<doc/>")
    return buffer.getvalue()


def send(
    http: requests.Session,
    srv: SandboxServer,
    recipient: str | list[str] = "+46812345678",
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    dft: str | None = None,
    extra: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    data: dict[str, Any] = {"senderFaxNumber": SENDER, "recipientFaxNumber": recipient}
    if dft is not None:
        data["allowDirectFileTransfer"] = dft
    data.update(extra or {})
    return http.post(
        f"{srv.docs_base_url}/Send",
        headers=DOCS_AUTH if headers is None else headers,
        data=data,
        files=files if files is not None else [("file", ("letter.pdf", PDF, "application/pdf"))],
        timeout=10,
    )


def docs_post(
    http: requests.Session, srv: SandboxServer, endpoint: str, body: dict[str, Any]
) -> requests.Response:
    return http.post(f"{srv.docs_base_url}/{endpoint}", headers=DOCS_AUTH, json=body, timeout=10)
