"""The folders the configuration has faxd write, each with the keys that set it. The
machine's checks (check_environment), the service user's and the unit's take them from
here, so each names a folder at the same line."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from faxd.settings import FolderSettings, Settings


@dataclass(frozen=True)
class Configured:
    path: Path
    keys: tuple[str, ...]  # a problem is said at the first of these the file has


@dataclass(frozen=True)
class Filed(Configured):
    key: str  # sent_dir, failed_dir or hold_dir


@dataclass(frozen=True)
class Spool:
    folder: Configured
    filed: tuple[Filed, ...]  # where its documents go: sent/, failed/, then hold/


@dataclass(frozen=True)
class Inbox:
    folder: Configured
    routes: tuple[Configured, ...]


def state_dir(settings: Settings) -> Configured:
    return Configured(settings.state_dir, ("state_dir",))


def spools(settings: Settings) -> Iterator[Spool]:
    for index, folder in enumerate(settings.folders):
        at = f"folders[{index}]"
        own = (f"{at}.path", at)
        sent, failed = (
            Filed(getattr(folder, key), (f"{at}.{key}", f"defaults.{key}", *own), key)
            for key in ("sent_dir", "failed_dir")
        )
        # Beside failed/ unless set, so named at failed_dir's line then.
        hold_keys = (f"{at}.hold_dir", "defaults.hold_dir", f"{at}.failed_dir")
        hold = Filed(folder.hold_folder, (*hold_keys, "defaults.failed_dir", *own), "hold_dir")
        yield Spool(Configured(folder.path, own), (sent, failed, hold))


def filing_roots(settings: Settings) -> Iterator[Configured]:
    """Each sent/failed/hold root set under `defaults:`, where every spool folder files
    into a subfolder of its own: named once, at the key it came from."""
    for root in dict.fromkeys(r for f in settings.folders for r in f.filing_roots):
        key = _filing_key(settings.folders, root)
        yield Configured(root, (f"defaults.{key}", "defaults.failed_dir", "defaults"))


def _filing_key(folders: Sequence[FolderSettings], root: Path) -> str:
    for folder in folders:
        if root in folder.filing_roots:
            if folder.sent_dir.parent == root:
                return "sent_dir"
            if folder.failed_dir.parent == root:
                return "failed_dir"
    return "hold_dir"


def inbox(settings: Settings) -> Inbox | None:
    if settings.inbox is None:
        return None
    routes = (
        Configured(target, ("inbox.routes", "inbox")) for target in settings.inbox.routes.values()
    )
    return Inbox(Configured(settings.inbox.path, ("inbox.path", "inbox")), tuple(routes))


def records(settings: Settings) -> Configured:
    """The records folder: the activity journal and the audit log."""
    if settings.records.path is None:
        return Configured(settings.state_dir / "records", ("state_dir",))
    return Configured(settings.records.path, ("records.path", "records"))


def written(settings: Settings) -> Iterator[Configured]:
    """Every folder faxd writes: the state directory, each spool folder with the folders
    it files into, the inbox and its routes, the records folder (the `defaults:` roots
    are filing_roots)."""
    yield state_dir(settings)
    for spool in spools(settings):
        yield spool.folder
        yield from spool.filed
    if (received := inbox(settings)) is not None:
        yield received.folder
        yield from received.routes
    yield records(settings)
