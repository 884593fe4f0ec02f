"""Whether a spool folder is really there. An unmounted share often leaves its mount
point behind as an empty folder: the path is a directory, but on another file system
than the one faxd took documents from. faxd remembers each spool folder's file system
(in the journal) and treats a different one, like a missing folder, as an outage."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

from faxd.store.journal import Journal

log = structlog.get_logger("faxd.outbound.spool_presence")


def _device(root: Path) -> int | None:
    try:
        st = os.stat(root)
    except OSError:
        return None
    return st.st_dev if stat.S_ISDIR(st.st_mode) else None


class SpoolPresence:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def away(self, root: Path) -> bool:
        """True when `root` is missing, or is a directory on another file system than the
        one faxd recorded for it (an unmounted share's bare mount point)."""
        device = _device(root)
        if device is None:
            return True
        known = self._journal.folder_device(root)
        return known is not None and known != device

    def record(self, root: Path) -> None:
        """Remember the file system `root` is on now (at start, for folders that are
        there). A different one than before is accepted only when no unfinished job came
        from the folder: those documents are on the old one, and wait for it."""
        device = _device(root)
        if device is None:
            return
        known = self._journal.folder_device(root)
        if known == device:
            return
        if known is not None and self._journal.has_unfiled_job_from(root):
            log.warning(
                "spool folder is on another file system than when its documents were taken "
                "(an unmounted share?); they wait until it is back",
                folder=str(root),
            )
            return
        self._journal.set_folder_device(root, device)
