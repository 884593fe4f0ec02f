"""A fake InboxSource with the Generic DOCS listing rules (inclusive bounds, first 100 by
time), fault injection, and a record of every call."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from faxd.errors import RejectedError
from faxd.model import ReceivedDocument, ReceivedFile

OURS = "+4612345678"
SUPPORT = "+4612345679"
STRANGER = "+4698765432"


@dataclass
class Stored:
    doc: ReceivedDocument
    contents: dict[str, bytes]
    disposition: dict[str, str | None] = field(default_factory=dict)


class FakeSource:
    name = "docs"

    def __init__(self, page_limit: int = 100) -> None:
        self.page_limit = page_limit
        self.docs: dict[str, Stored] = {}
        self.listings: list[tuple[datetime, datetime]] = []
        self.fetches: list[str] = []
        self.deletes: list[str] = []
        self.deleted_content: set[str] = set()
        self.list_errors: list[Exception] = []
        self.fetch_errors: dict[str, list[Exception]] = {}
        self.delete_errors: list[Exception] = []
        self.on_delete: Callable[[str], None] | None = None
        self.on_list: Callable[[], None] | None = None
        self.fractions = True  # honours bounds with fractions of a second
        self._serial = 0

    def add(
        self,
        time: datetime,
        *,
        recipient: str = OURS,
        sender: str = "+46927654321",
        names: tuple[str, ...] = ("fax.pdf",),
        size: int = 1000,
        disposition: str | None = None,
        remote_id: str | None = None,
    ) -> ReceivedDocument:
        self._serial += 1
        rid = remote_id or f"fax-{self._serial:05d}"
        files = tuple(ReceivedFile(f"{rid}-f{i}", name) for i, name in enumerate(names))
        doc = ReceivedDocument(
            remote_id=rid,
            time=time,
            sender=sender,
            recipient=recipient,
            status="Received",
            type="Fax",
            files=files,
        )
        contents = {
            f.file_id: hashlib.sha256(f.file_id.encode()).digest() * (size // 32 + 1) for f in files
        }
        contents = {k: v[:size] for k, v in contents.items()}
        self.docs[rid] = Stored(doc, contents, {f.file_id: disposition for f in files})
        return doc

    def content(self, file_id: str) -> bytes:
        for stored in self.docs.values():
            if file_id in stored.contents:
                return stored.contents[file_id]
        raise KeyError(file_id)

    # -- the InboxSource protocol ------------------------------------------------------

    def list_received(
        self, start: datetime, end: datetime, *, fractions: bool = False
    ) -> list[ReceivedDocument]:
        self.listings.append((start, end))
        if fractions and not self.fractions:
            raise RejectedError("400 Bad Request: dateFrom is not a valid date", status_code=400)
        if self.on_list is not None:
            self.on_list()
        if self.list_errors:
            raise self.list_errors.pop(0)
        found = sorted(
            (s.doc for s in self.docs.values() if start <= s.doc.time <= end),
            key=lambda d: (d.time, d.remote_id),
        )
        return found[: self.page_limit]

    def fetch(self, file_id: str, dest: BinaryIO) -> str | None:
        self.fetches.append(file_id)
        errors = self.fetch_errors.get(file_id)
        if errors:
            raise errors.pop(0)
        for stored in self.docs.values():
            if file_id in stored.contents:
                if stored.doc.remote_id in self.deleted_content:
                    raise RejectedError("404 Not Found", status_code=404)
                data = stored.contents[file_id]
                for at in range(0, len(data), 4096):
                    dest.write(data[at : at + 4096])
                return stored.disposition[file_id]
        raise RejectedError(f"file {file_id} not found", status_code=404)

    def delete(self, remote_id: str) -> None:
        if self.on_delete is not None:
            self.on_delete(remote_id)
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        self.deletes.append(remote_id)
        self.deleted_content.add(remote_id)

    def close(self) -> None:
        pass


def inbox_files(root: Path, skip: str = "state") -> dict[str, bytes]:
    """Every document (not metadata) under root, outside `.tmp/`, `.meta/` and the state
    folder, by relative path."""
    found: dict[str, bytes] = {}
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if parts[0] == skip or ".tmp" in parts or ".meta" in parts:
            continue
        if path.is_file():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def tmp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" in p.parts]


def at(base: datetime, seconds: float) -> datetime:
    return base + timedelta(seconds=seconds)
