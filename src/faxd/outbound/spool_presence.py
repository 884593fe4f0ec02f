"""Whether a spool folder is really there. An unmounted share often leaves its mount
point behind as an empty folder: the path is a directory (or, below the mount point, one
made there by hand), but on the disk holding the mount point instead of the file system
faxd took documents from. faxd remembers each spool folder's file system and where that
file system is mounted (in the journal, as it does an inbox folder's) and treats the
folder found below that mount point, now a plain folder, like a missing folder: as an
outage. A file system mounted at that mount point again, or on the folder itself, is
where faxd takes documents from: the share back — a network share gets another device
number at each mount, so every reconnect of the NAS may change it — or a new disk; faxd
remembers that one from then on."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import structlog

from faxd.host.folder_place import FolderPlace, KnownPlace, place_of
from faxd.store.journal import Journal, JournalWriteError

log = structlog.get_logger("faxd.outbound.spool_presence")


class SpoolPresence:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        # What was confirmed last, so the intake's look before each take asks the journal
        # only when the folder's file system changed.
        self._confirmed: dict[Path, int] = {}
        # The file system the daemon claimed and watches each folder on.
        self._watched: dict[Path, int] = {}
        self._lock = threading.Lock()

    def away(self, root: Path) -> bool:
        """True when `root` is missing, or is below the mount point of the file system
        faxd recorded for it, with that no longer mounted there (an unmounted share's bare
        mount point, or a folder under it). A file system mounted there again, or on the
        folder itself, is not away, and is recorded as the folder's."""
        place = place_of(root)
        if place is None:
            return True
        if self._confirmed.get(root) == place.device:
            return False
        with self._lock:
            known = self._journal.folder_place(root)
            if place.left_behind(known):
                return True
            if known is not None and place.news_to(known):
                if known.device != place.device:
                    self._say_mounted(root, place, known)
                # Said by the journal; a start records it, as it is still mounted then.
                with contextlib.suppress(JournalWriteError):
                    self._remember(root, place)
            self._confirmed[root] = place.device
        return False

    def record(self, root: Path) -> None:
        """Remember the file system `root` is on now (at start, for folders that are there).
        One mounted where faxd knew the folder's, or on the folder, is taken as away()
        takes it. Found below that mount point, now a plain folder, instead, the folder is
        taken there only when no unfinished job came from it: those documents are on the
        share, and wait for it. Without one, that is how a folder moved off its share onto
        the disk holding it on purpose is taken, at a restart."""
        place = place_of(root)
        if place is None:
            return
        with self._lock:
            known = self._journal.folder_place(root)
            if known is not None and known.device == place.device:
                if place.news_to(known):
                    self._remember(root, place)
                self._confirmed[root] = place.device
                return
            if place.left_behind(known):
                if self._journal.has_unfiled_job_from(root):
                    log.warning(
                        "spool folder is on the disk holding it, not on the file system its "
                        "documents were taken from (an unmounted share?); they wait until it "
                        "is back",
                        folder=str(root),
                    )
                    return
                log.warning(
                    "spool folder is on the disk holding it now, not on the file system faxd "
                    "took documents from before (moved there, or a share not mounted yet); "
                    "no document from it is unfinished, so faxd takes documents from it there",
                    folder=str(root),
                )
            elif known is not None:
                self._say_mounted(root, place, known)
            self._remember(root, place)
            self._confirmed[root] = place.device

    def watching(self, root: Path) -> None:
        """The daemon claimed and watches `root` where it is now."""
        place = place_of(root)
        if place is None:
            self._watched.pop(root, None)
        else:
            self._watched[root] = place.device

    def remounted(self, root: Path) -> bool:
        """`root` was found on another mounted file system since the daemon claimed and
        watched it: its claim and its watch are still on the old one (a watch follows the
        folder it began on, not the path). Asks nothing of the disk."""
        watched = self._watched.get(root)
        confirmed = self._confirmed.get(root)
        return watched is not None and confirmed is not None and watched != confirmed

    def _remember(self, root: Path, place: FolderPlace) -> None:
        self._journal.set_folder_device(root, place.device, place.mount_root)

    def _say_mounted(self, root: Path, place: FolderPlace, known: KnownPlace) -> None:
        if place.mounted_over(known):
            # Taken from while it was a plain folder (a start before the share was
            # mounted, say): what was saved into it and not taken is under the mount now.
            log.warning(
                "a file system is mounted on the spool folder now and faxd takes documents "
                "from it; documents saved into the folder before are under the mount, out "
                "of sight: unmount it to move them",
                folder=str(root),
            )
        else:
            log.info(
                "spool folder is on another mounted file system now (the share mounted "
                "again, perhaps under another device number, or a new disk); faxd takes "
                "documents from it",
                folder=str(root),
            )
