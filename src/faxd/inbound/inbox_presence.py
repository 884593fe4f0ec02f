"""Whether an inbox folder is still on the file system faxd delivers into.

An inbox on a share does not go missing when the share is not mounted: its mount point
stays behind as an empty folder on the disk holding it (the inbox itself, or a folder
above it, such as /srv/fax for /srv/fax/in, below which someone may make the inbox
again), and what faxd delivered there would vanish under the share once it is mounted
again. faxd remembers each inbox folder's file system and where that file system is
mounted in the journal — the record a spool folder's goes in, which the daemon's start
reads too, so it writes no claim onto such a mount point either — and holds deliveries
while the folder is on another file system below that mount point, a plain folder now:
the share is away. A file system mounted at that mount point again, or on the folder
itself, is where faxd delivers: the share back (perhaps under another device number, as
a network share gets at each mount), or a new disk an admin mounted there. Any other
change is the admin's to confirm, with `faxd accept-inbox`, which makes faxd forget what
it remembered."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from faxd.host.folder_place import FolderPlace, KnownPlace, place_of
from faxd.store.journal import Journal

log = structlog.get_logger("faxd.inbound.poller")


class InboxPresence:
    """The inbox folders' file systems, for one poller (its workers share it)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        # What was confirmed last, so a delivery asks the journal only when it changed.
        self._confirmed: dict[Path, int] = {}
        self._lock = threading.Lock()

    def moved_away(self, path: Path, *, follow: bool = True) -> str | None:
        """None when faxd may deliver into `path` (remembering its file system when it
        knew none); otherwise why not, in words. A missing folder (or a link, unless
        `follow`) is None: the folder checks speak of those."""
        place = place_of(path, follow=follow)
        if place is None or self._confirmed.get(path) == place.device:
            return None
        with self._lock:
            known = self._journal.folder_place(path)
            if place.left_behind(known):
                return moved_text(path, known)
            if known is not None and known.device != place.device:
                self._say_mounted(path, place, known)
            if place.news_to(known):
                self._journal.set_folder_device(path, place.device, place.mount_root)
            self._confirmed[path] = place.device
        return None

    def device(self, path: Path) -> int | None:
        """The file system `path` was last found on where faxd may deliver (None: not yet).
        Asks nothing of the disk."""
        return self._confirmed.get(path)

    def _say_mounted(self, path: Path, place: FolderPlace, known: KnownPlace) -> None:
        if place.mounted_over(known):
            # Delivered into while it was a plain folder (a first start before the share
            # was mounted, say): those documents are under the mount now.
            log.warning(
                "a file system is mounted on the inbox folder now and faxd delivers into "
                "it; documents faxd delivered into the folder before are under the mount, "
                "out of sight: unmount it to move them",
                folder=str(path),
            )
        else:
            log.info(
                "the inbox folder is on another mounted file system now (the share mounted "
                "again, or a new disk); faxd delivers into it",
                folder=str(path),
            )


def moved_text(path: Path, known: KnownPlace | None) -> str:
    """Why nothing is delivered into `path`, which is below a bare mount point now."""
    point = known.mount_root if known is not None and known.mount_root is not None else path
    return (
        f"the inbox folder {path} is not on the file system faxd delivered into but on the "
        f"one holding {point.parent} (is {point} the bare mount point of a share that is not "
        "mounted?); received documents wait at the provider until it is back"
    )


def moved_hint(path: Path) -> str:
    return (
        "Mount the share again and faxd delivers into it by itself. Moved the folder onto "
        f"that disk on purpose? Run 'faxd accept-inbox {path}'."
    )
