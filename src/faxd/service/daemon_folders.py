"""The daemon's folders: the spool folders watched (and claimed, so no second faxd works
them), and the spool folders, their sent/ and failed/, and the inbox created when missing
— unless faxd has used them before, when a missing one is an outage."""

from __future__ import annotations

import contextlib
from pathlib import Path

import structlog

from faxd.errors import ConfigError, ConfigProblem
from faxd.host.folder_place import place_of
from faxd.host.inbox_folder import InboxFolder
from faxd.outbound.watcher import FolderWatcher
from faxd.service.daemon_part import DaemonPart
from faxd.service.folder_setup import make_missing
from faxd.settings import FolderSettings, Settings

log = structlog.get_logger("faxd.service.daemon")


class DaemonFolders(DaemonPart):
    def _sync_watchers(self, settings: Settings) -> None:
        wanted = {f.path: f for f in settings.folders}
        for path in [p for p in self._watchers if p not in wanted]:
            self._watchers.pop(path).stop()
            log.info("folder released", folder=str(path))
        for path, folder in wanted.items():
            current = self._watchers.get(path)
            if current is not None and current.wanted == folder.watch:
                continue
            if current is not None:
                # `watch:` changed on reload: a share found unseen by inotify must be polled
                # from now on, not after the next restart. The reload scans every folder
                # afterwards, so what arrives in between is found.
                self._watchers.pop(path).stop()
            self._create_folders(folder)
            present = self._present(path)
            if present and (refused := self._claims.claim(path)) is not None:
                log.error("folder not watched", folder=str(path), problem=refused)
                continue
            watcher = FolderWatcher(path, folder.watch, self._intake.changes)
            self._watchers[path] = watcher
            if not present and path.is_dir():
                # The bare mount point of a share that is not mounted: a watch begun on it
                # would go on watching that folder, under the share, once it is back.
                self._outages.add(path)
                log.warning(
                    "spool folder is the bare mount point of a share that is not mounted; "
                    "watching it once the share is back",
                    folder=str(path),
                )
                continue
            try:
                mode = watcher.start()
            except OSError:
                if path.is_dir():
                    raise
                # Gone since the configuration check (or a share faxd knew that is not
                # mounted): an outage, watched again by the health check once it is back.
                self._outages.add(path)
                log.warning(
                    "spool folder is not there; watching it once it is back", folder=str(path)
                )
                continue
            self._outages.discard(path)  # one that came back before a reload re-made its watcher
            self._archiver.presence.watching(path)
            log.info("watching folder", folder=str(path), mode=mode)

    def _present(self, path: Path) -> bool:
        """A folder that is there, and not the bare mount point of a share away (nor a
        folder below it): one with a file system mounted where the share was, or on the
        folder, is (the share back, perhaps under another device number, or a new disk).
        Asked for the inbox too, whose file system is remembered alike."""
        place = place_of(path)
        return place is not None and not place.left_behind(self._journal.folder_place(path))

    def _create_inbox(self, settings: Settings) -> None:
        """Make a missing inbox now, not at the poller's first cycle: made there, after the
        folder claims, it went unclaimed, and a second faxd delivered every received
        document into it again."""
        if settings.inbox is None or settings.inbox.path.is_dir():
            return
        # One that cannot be made, or that must not be (a share that is not mounted), is
        # the poller's to say in words, and to try again.
        journal = self._journal
        with contextlib.suppress(OSError):
            InboxFolder(
                settings.inbox.path, may_make_root=lambda root: not journal.folder_seen(root)
            ).ensure()

    def _create_folders(self, folder: FolderSettings) -> None:
        """Create a spool folder (and its sent/ and failed/) that is missing but whose parent
        is there — unless faxd has used it before: then it is a share that is not mounted
        or a folder renamed away, an outage that must not get a fresh, empty folder."""
        self._archiver.presence.record(folder.path)
        # A shared sent/failed/hold root first: this folder files into a subfolder of it.
        paths = (*folder.filing_roots, folder.path, folder.sent_dir, folder.failed_dir)
        try:
            made = make_missing(self._journal, paths)
        except OSError as exc:
            # Checked at start (check_environment); this is a change since, or root's
            # view of a share: a sentence and exit 2, never an internal error.
            raise ConfigError(
                str(self._config_path),
                [ConfigProblem("folders", f"{exc.filename} cannot be created ({exc.strerror}).")],
            ) from None
        for path in made:
            log.info("created a missing folder named in the configuration", folder=str(path))
