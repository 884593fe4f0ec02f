"""Where the records live, and how a records file faxd could not write is said: shared by
the records keeper's parts (report PDFs, activity journal, audit log) and the records'
one-shot commands."""

from __future__ import annotations

from pathlib import Path

from faxd.core.io_errors import explain_os_error
from faxd.host.fsops import NotRegularFileError
from faxd.settings import Settings


def records_dir(settings: Settings) -> Path:
    return settings.records.path or settings.state_dir / "records"


def said_of(exc: OSError | NotRegularFileError, name: str | None = None) -> str:
    """One sentence for a records file faxd could not write: a link or odd file in its
    place says so itself; an OSError names `name`, not the temp file written first."""
    return str(exc) if isinstance(exc, NotRegularFileError) else explain_os_error(exc, name)
