"""Documents received for the office: from the scenario, generated, or added at run time.

Generated documents can carry hostile file names, because names come from remote parties
and faxd must make them safe."""

from __future__ import annotations

import mimetypes
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faxd.sandbox.blobs import Blob, BytesBlob, GeneratedBlob, PathBlob
from faxd.sandbox.scenario import Scenario
from faxd.sandbox.store import DocsRecord, StoredFile
from faxd.sandbox.timeutil import parse_moment

HOSTILE_NAMES: tuple[str, ...] = (
    "../../etc/x",
    "/abs/path.pdf",
    "..\\..\\windows\\system32\\x.pdf",
    "nul\x00byte.pdf",
    "line\nbreak\r\tand\x1bescape.pdf",
    "x" * 300 + ".pdf",
    "caf\udce9-invalid-utf8.pdf",  # a lone surrogate: what undecodable bytes turn into
    "mojibake-Ã¤Ã¶.pdf",
    "duplicate.pdf",
    "duplicate.pdf",
    "",
    ".",
    "..",
    ".hidden.pdf",
    "-rf.pdf",
    "CON.pdf",
    'quote"semicolon;.pdf',
)


def content_type_for(name: str) -> str:
    guessed, _ = mimetypes.guess_type("x." + name.rsplit(".", 1)[-1] if "." in name else "x")
    return guessed or "application/octet-stream"


def _blob(item: Mapping[str, Any], seed: str) -> Blob:
    if "content" in item:
        content = item["content"]
        return BytesBlob(content.encode("utf-8") if isinstance(content, str) else content)
    if "path" in item:
        return PathBlob(Path(item["path"]))
    return GeneratedBlob(int(item["size"]), seed)


def record_from_entry(entry: Mapping[str, Any], scenario: Scenario, now: float) -> DocsRecord:
    """A checked entry (see scenario.check_received) as a received document."""
    fax_id = str(entry.get("faxId") or uuid.uuid4())
    files = [
        StoredFile(
            file_id=str(uuid.uuid4()),
            name=item["fileName"],
            content_type=item.get("contentType") or content_type_for(item["fileName"]),
            blob=_blob(item, f"{fax_id}:{index}"),
        )
        for index, item in enumerate(entry["files"])
    ]
    recipients = entry["recipient"] if isinstance(entry["recipient"], list) else []
    ready_after = entry.get("ready_after")
    return DocsRecord(
        fax_id=fax_id,
        fax_time=parse_moment(entry.get("faxTime", "now"), scenario.tz, now),
        created=now,
        sender=entry.get("sender", ""),
        recipient=recipients[0] if recipients else entry["recipient"],
        recipients=tuple(recipients),
        ready_at=now + float(ready_after) if ready_after else None,
        type=entry.get("type", "Fax"),
        files=files,
        outbound=False,
        fixed_status=entry.get("status", "Received"),
    )


def generated_records(spec: Mapping[str, Any], scenario: Scenario, now: float) -> list[DocsRecord]:
    """`generate_received`: `count` documents spread over `span_seconds` from `start`."""
    count = int(spec.get("count", 10))
    span = int(spec.get("span_seconds", 3600))
    start = parse_moment(spec["start"], scenario.tz, now) if "start" in spec else int(now) - span
    seed = int(spec.get("seed", 0))
    rng = random.Random(seed)
    recipients = list(spec.get("recipients") or ["+4612345678"])
    size = int(spec.get("size", 2048))
    hostile = bool(spec.get("hostile_names", False))
    records: list[DocsRecord] = []
    for index in range(count):
        sender = spec.get("sender") or f"+4687{rng.randrange(10**6, 10**7)}"
        name = HOSTILE_NAMES[index % len(HOSTILE_NAMES)] if hostile else f"received-{index}.pdf"
        fax_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        records.append(
            DocsRecord(
                fax_id=fax_id,
                fax_time=start + (rng.randint(0, span) if span else 0),
                created=now,
                sender=sender,
                recipient=recipients[index % len(recipients)],
                type=spec.get("type", "Fax"),
                files=[
                    StoredFile(
                        file_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        name=name,
                        content_type="application/pdf",
                        blob=GeneratedBlob(size, f"{seed}:{index}"),
                    )
                ],
                outbound=False,
            )
        )
    return records
