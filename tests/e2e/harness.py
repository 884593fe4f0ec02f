"""Run the real daemon as a subprocess against the sandbox emulator on loopback."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from faxd.sandbox.server import SandboxServer

DOCS_KEY = "sandbox-docs-key"
# Outcome lookups at 1, 2, 4 s and status polls from 1 s, the default of every daemon the
# tests start (a lost answer would otherwise hold a test for 15 + 30 + 60 s); the default
# cadence is proven in-process (tests/outbound/test_engine_schedule.py).
FAST_SCHEDULE = {"lookup_delay": "1s", "status_poll": "1s"}
RETARUS_PASSWORD = "sandbox-password"

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def pdf(tag: str) -> bytes:
    """A small valid-looking PDF whose bytes differ per tag (uploads are counted by hash)."""
    return PDF.replace(b"%%EOF", f"% {tag}\n%%EOF".encode())


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


@dataclass
class Faxd:
    root: Path
    docs_url: str
    retarus_submit: str = ""
    retarus_dcs: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    folders: list[dict[str, Any]] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    env_extra: dict[str, str] = field(default_factory=dict)
    inbox: dict[str, Any] | None = None
    docs_key: str = DOCS_KEY
    # into every provider
    provider_overrides: dict[str, Any] = field(default_factory=lambda: dict(FAST_SCHEDULE))
    # Report PDFs cost a quarter of a second of CPU each; only tests marked `report_pdfs`
    # (the records, crash and retry tests) draw them, the rest run as faxd would without.
    report_pdf: bool = False
    log_level: str = "info"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def sent(self) -> Path:
        return self.root / "sent"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "faxd.yaml"

    @property
    def log_path(self) -> Path:
        return self.root / "faxd.log"

    def write_config(self) -> Path:
        creds = self.root / "credentials"
        creds.mkdir(exist_ok=True)
        (creds / "docs-api-key").write_text(self.docs_key + "\n")
        (creds / "retarus-password").write_text(RETARUS_PASSWORD + "\n")
        self.spool.mkdir(exist_ok=True)
        providers: dict[str, Any] = {
            "docs": {
                "type": "generic-docs",
                "base_url": self.docs_url,
                "api_key_file": str(creds / "docs-api-key"),
                "read_timeout": 5,
                "connect_timeout": 2,
            }
        }
        if self.retarus_submit:
            providers["retarus"] = {
                "type": "retarus",
                "customer_number": "999901",
                "submit_url": self.retarus_submit,
                "datacenter_urls": list(self.retarus_dcs),
                "username": "faxd",
                "password_file": str(creds / "retarus-password"),
                "read_timeout": 5,
                "connect_timeout": 2,
            }
        for entry in providers.values():
            entry.update(self.provider_overrides)
        defaults = {
            "provider": "docs",
            "sender": "+4612345678",
            "region": "SE",
            "settle": 0.3,
            "sidecar_wait": 0.5,
            "sent_dir": str(self.sent),
            "failed_dir": str(self.failed),
            "rescan_interval": 5,
            "report_pdf": self.report_pdf,
        }
        defaults.update(self.overrides)
        document: dict[str, Any] = {
            "state_dir": str(self.state),
            "log_level": self.log_level,
            "providers": providers,
            "defaults": defaults,
            "contacts": {"Acme AB": "+46812345678"},
            "folders": self.folders or [{"path": str(self.spool)}],
        }
        if self.inbox is not None:
            document["inbox"] = self.inbox
        self.config_path.write_text(yaml.safe_dump(document, sort_keys=False))
        return self.config_path

    def start(self, **env: str) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.write_config()
        environ = {
            k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")
        }
        environ.update(self.env_extra)
        environ.update(env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faxd", "run", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environ,
        )
        log.close()

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def drop(self, rel: str, data: bytes) -> Path:
        """Write a file the way a careful program does: a hidden temp name, then rename."""
        path = self.spool / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(data)
        tmp.rename(path)
        return path

    def reports(self, where: Path | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for base in [where] if where else [self.sent, self.failed]:
            if base.exists():
                for report in sorted(base.rglob("*.report.yaml")):
                    data = _read_report(report)
                    if data is not None:
                        found.append(data | {"_path": str(report)})
        return found

    def report_for(self, name: str, timeout: float = 30) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for report in self.reports():
                if report["document"] == name:
                    return report
            return None

        try:
            return wait_for(find, timeout, f"the report of {name}")  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(
                f"no report for {name}; daemon log:\n{self.log_text()[-4000:]}"
            ) from None


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_REPORTS: dict[tuple[str, int, int, int], dict[str, Any]] = {}


def _read_report(path: Path) -> dict[str, Any] | None:
    """A report, parsed once per version: tests poll `reports()` every 50 ms while a hundred
    documents are filed, and parsing them all each time took a core of its own. faxd
    writes each version under a new inode (write, then rename), so the key is exact."""
    try:
        st = path.stat()
    except FileNotFoundError:  # moved by `faxd retry` between the listing and now
        return None
    key = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
    if key not in _REPORTS:
        text = path.read_text()
        try:
            _REPORTS[key] = yaml.load(text, Loader=_LOADER)  # noqa: S506 - the safe loader
        except yaml.YAMLError:  # e.g. a "\udcff" escape of a name that is not UTF-8
            _REPORTS[key] = yaml.safe_load(text)
    return copy.deepcopy(_REPORTS[key])


F = TypeVar("F", bound="Faxd")


def for_sandbox(cls: type[F], root: Path, sandbox: SandboxServer) -> F:
    """A Faxd (or subclass) whose providers are the sandbox's Generic DOCS and Retarus."""
    return cls(
        root=root,
        docs_url=sandbox.docs_base_url,
        retarus_submit=sandbox.retarus_submit_url,
        retarus_dcs=tuple(sandbox.retarus_datacenter_urls),
    )


def files_under(root: Path) -> Iterable[Path]:
    # os.walk, not rglob: the running daemon removes its work folders while we look, and
    # rglob raises for a folder that vanished between its listing and its scan.
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file():
                yield path
