"""A sample outbound job as intake records it: one document, one recipient."""

from __future__ import annotations

from pathlib import Path

from faxd.core.job_payload import JobOptions
from faxd.store.journal import NewJob


def sample_job(
    folder: Path,
    *,
    job_id: str = "j1",
    dft: bool = True,
    options: JobOptions | None = None,
    received_at: float = 1.0,
) -> NewJob:
    """`folder`/a.pdf from +4612345678 to +46812345678 through docs."""
    return NewJob(
        id=job_id,
        folder=str(folder),
        rel_path="a.pdf",
        path=str(folder / "a.pdf"),
        sidecar=None,
        attachments=(),
        files=(),
        provider="docs",
        sender="+4612345678",
        dft=dft,
        reference=None,
        rule="folder",
        options=options or JobOptions(),
        ino=None,
        received_at=received_at,
        numbers=["+46812345678"],
    )
