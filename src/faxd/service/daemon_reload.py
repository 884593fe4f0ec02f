"""A reload (SIGHUP): the new configuration loaded, checked and its folders claimed,
then taken on by every part of the daemon; refused, the old one stays."""

from __future__ import annotations

import structlog

from faxd.errors import ConfigError, ConfigProblem
from faxd.host.folder_claims import claim_configured, configured_folders
from faxd.providers.registry import build_senders
from faxd.service.daemon_part import DaemonPart
from faxd.service.daemon_supervision import requests_at_once
from faxd.settings import Settings

log = structlog.get_logger("faxd.service.daemon")


class DaemonReload(DaemonPart):
    def _refuse_reload(self, problems: list[ConfigProblem]) -> None:
        for problem in problems:
            log.error("new configuration refused; the old one stays", problem=str(problem))
        self._notifier.ready(self._status_text())

    def _state_dir_moved(self, settings: Settings) -> ConfigProblem | None:
        """A new state_dir cannot be taken on while running: the journal and its lock stay
        open in the old one. Taken half (work folders, provider state and records moved,
        the journal not), documents' copies were left behind in the new one and the
        commands looked for a journal where there was none."""
        old = self._settings.state_dir
        if settings.state_dir == old:
            return None
        return ConfigProblem(
            "state_dir",
            f"changed from {old} to {settings.state_dir}, which takes a restart "
            "(systemctl restart faxd): a running faxd keeps its journal where it opened it.",
        )

    def _reload(self) -> None:
        self._notifier.reloading()
        try:
            settings = self._load()
        except ConfigError as exc:
            self._refuse_reload(exc.problems)
            return
        if (moved := self._state_dir_moved(settings)) is not None:
            self._refuse_reload([moved])
            return
        before = self._claims.held()
        self._create_inbox(settings)
        problems = claim_configured(self._claims, settings, self._present)
        if problems:
            for claimed in self._claims.held() - before:
                self._claims.release(claimed)
            self._refuse_reload(problems)
            return
        senders = build_senders(settings, requests_at_once(settings))
        self._senders.update(senders)
        self._intake.configure(settings)
        self._outbox.configure(settings)
        self._engine.reconfigure(settings, senders)
        self._sync_watchers(settings)
        for folder in settings.folders:
            # A folder that is away is scanned once it is back (_health_problem).
            if folder.path in self._watchers and folder.path not in self._outages:
                self._intake.scan(folder.path)
        configured = {path for _, path in configured_folders(settings)}
        for unused in self._claims.held() - configured:
            self._claims.release(unused)
        if self._poller is not None:
            self._poller_stop.set()
            self._threads.pop("poller").join(timeout=10)
            self._poller = None
        self._start_poller(settings)
        self._take_log_level(settings)
        self._settings = settings
        self._records.configure(settings)
        self._records.configuration_loaded(self._config_path)
        log.info("configuration reloaded", folders=[str(f.path) for f in settings.folders])
        self._notifier.ready(self._status_text())
