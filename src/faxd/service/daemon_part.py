"""What the parts of the daemon split into modules of their own (daemon_folders,
daemon_filing, daemon_supervision, daemon_reload, daemon_stop) share of
faxd.service.daemon.Daemon, which they are mixed into: its state (set up by
Daemon.__init__ and Daemon.run) and the methods one part calls of another."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faxd.clock import Clock
from faxd.host.folder_claims import FolderClaims
from faxd.host.sd_notify import Notifier
from faxd.notices.worker import OutboxWorker
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import Engine
from faxd.outbound.intake import Intake
from faxd.outbound.watcher import FolderWatcher
from faxd.providers.base import Sender
from faxd.records.pool import DrawPool
from faxd.service.records_keeper import RecordsKeeper
from faxd.settings import Settings
from faxd.store.journal import Journal


@dataclass
class Flags:
    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


class DaemonPart:
    if TYPE_CHECKING:  # Daemon's own, see faxd.service.daemon.Daemon
        _config_path: Path
        _environ: Mapping[str, str]
        _clock: Clock
        _notifier: Notifier
        _flags: Flags
        _threads: dict[str, threading.Thread]
        _watchers: dict[Path, FolderWatcher]
        _claims: FolderClaims
        _poller: Any
        _inbox_status: str
        _poller_stop: threading.Event
        _ready_at: float | None
        _unhealthy: str | None
        _intake_stuck: str | None
        _stall_limits: tuple[float, float]
        _outages: set[Path]
        _fault: str
        _exit_code: int
        _unfiled: set[str]
        _filing_checked_at: float
        _filing_tried_at: float
        _log_level: str | None
        # set by Daemon.run
        _settings: Settings
        _journal: Journal
        _draw_pool: DrawPool
        _records: RecordsKeeper
        _senders: dict[str, Sender]
        _archiver: Archiver
        _engine: Engine
        _intake: Intake
        _outbox: OutboxWorker

        # faxd.service.daemon
        def _load(self) -> Settings: ...

        def _take_log_level(self, settings: Settings) -> None: ...

        # faxd.service.daemon_folders
        def _sync_watchers(self, settings: Settings) -> None: ...

        def _present(self, path: Path) -> bool: ...

        def _create_inbox(self, settings: Settings) -> None: ...

        # faxd.service.daemon_supervision
        def _start_poller(self, settings: Settings) -> None: ...

        def _status_text(self) -> str: ...
