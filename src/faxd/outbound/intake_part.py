"""What the parts of the intake split into modules of their own (intake_tracking,
intake_take, intake_held) share of faxd.outbound.intake.Intake, which they are mixed
into: its state (set up by Intake.__init__ and Intake.configure) and the methods one part
calls of another."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from faxd.clock import Clock
from faxd.core.readiness import Heard, Track
from faxd.core.recipient_screen import Book
from faxd.host import contained
from faxd.outbound.archive import Archiver
from faxd.outbound.claims import Claims
from faxd.outbound.intake_progress import IntakeProgress
from faxd.outbound.watcher import Change
from faxd.providers.base import Sender
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal

if TYPE_CHECKING:
    from faxd.outbound.intake_take import Retake


class IntakePart:
    if TYPE_CHECKING:  # Intake's own, see faxd.outbound.intake.Intake
        changes: queue.SimpleQueue[Change]
        progress: IntakeProgress
        _journal: Journal
        _senders: Mapping[str, Sender]
        _archiver: Archiver
        _clock: Clock
        _on_job: Callable[[], None]
        _settings: Settings
        _parent_skipped: dict[Path, bool]
        _excluded: frozenset[Path]
        _book: Book
        _sidecar_roots: set[Path]
        _tracks: dict[Path, Track]
        _heap: list[tuple[float, int, Path]]
        _claims: Claims
        _pool: ThreadPoolExecutor | None
        _in_flight: int
        _takes: dict[Future[Retake | None], Path]
        _takes_lock: threading.Lock
        _outcomes: queue.SimpleQueue[Retake | None]
        _ignored_logged: set[Path]
        _sidecars: dict[Path, set[Path]]
        _attach_cache: dict[Path, tuple[tuple[int, int, int], frozenset[str]]]
        _open_writers: set[str]
        _held_seen: dict[str, contained.Identity | None]
        _late_checked: set[Path]
        _local_roots: dict[Path, bool]
        _writers_refused_said: bool

        # faxd.outbound.intake
        def _folder_of(self, path: Path) -> FolderSettings | None: ...

        def scan(self, root: Path, *, first: bool = False) -> None: ...

        def _push(self, path: Path, when: float) -> None: ...

        def _takers_busy(self) -> bool: ...

        # faxd.outbound.intake_tracking
        def _attachment_owner(self, path: Path) -> Path | None: ...

        # faxd.outbound.intake_take
        def _dispatch(self, folder: FolderSettings, path: Path, track: Track) -> None: ...

        # faxd.outbound.intake_held
        def skip_dir(self, path: Path) -> bool: ...

        def _skipped(self, folder: FolderSettings, path: Path) -> bool: ...

        def _in_skipped_tree(self, folder: FolderSettings, path: Path) -> bool: ...

        def _note_writer(self, path: Path, what: Heard) -> None: ...

        def _still_open(self, path: Path) -> bool: ...

        def _held_file_changed(self, path: Path) -> bool: ...

        def _claimed_due(self, folder: FolderSettings, path: Path, track: Track) -> None: ...

        def release(self, job_id: str) -> None: ...
