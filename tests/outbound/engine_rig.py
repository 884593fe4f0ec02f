"""An engine with a scripted provider and an injected clock, for the engine's tests:
`Rig` makes jobs, dispatches them and waits for the worker threads, without sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from faxd.clock import FakeClock
from faxd.core.job_payload import JobFile, JobOptions
from faxd.core.retry import RetryPolicy
from faxd.model import Accepted, Limits, Method, OutgoingFile, RemoteStatus, Submission
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import Engine
from faxd.providers.base import Gate, open_gate
from faxd.providers.docs_type import DOCS_LIMITS
from faxd.store.journal import Journal, NewJob
from tests.settings_helpers import bare_settings

Script = Callable[[Submission], Accepted]


class FakeSender:
    """A provider whose answers the test scripts; it records every call."""

    name = "fake"
    supports_dft = False
    limits: Limits = DOCS_LIMITS

    def __init__(self) -> None:
        self.submits: list[tuple[float, str]] = []
        self.answers: list[Exception | None] = []
        self.found: Accepted | None = None
        self.lookups = 0
        self.final = True
        self.gate: threading.Event | None = None
        self.unbuildable: list[Exception] = []
        self.active = 0
        self.max_active = 0
        self.clock: FakeClock | None = None
        self.cleaned: list[str] = []
        self.swept: list[tuple[str, RemoteStatus]] = []
        self._lock = threading.Lock()

    def prepare(self, files: Sequence[OutgoingFile], workdir: Path) -> tuple[OutgoingFile, ...]:
        return tuple(files)

    def check_dft(self, number: str) -> bool:
        return False

    def submit(self, submission: Submission, gate: Gate = open_gate) -> Accepted:
        if self.unbuildable:  # the request could not be built: raised before the gate
            raise self.unbuildable.pop(0)
        with gate():
            with self._lock:
                assert self.clock is not None
                self.submits.append((self.clock.time(), submission.key))
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                answer = self.answers.pop(0) if self.answers else None
            try:
                if self.gate is not None:
                    self.gate.wait(10)
                if answer is not None:
                    raise answer
                return Accepted(f"remote-{submission.key}", Method.FAX)
            finally:
                with self._lock:
                    self.active -= 1

    def status(self, remote_id: str) -> RemoteStatus:
        return RemoteStatus(remote_id, "Received" if self.final else "Sending", self.final, True)

    def find_submission(
        self, submission: Submission, sent_after: datetime, exclude: Container[str]
    ) -> Accepted | None:
        self.lookups += 1
        return self.found

    def cleanup(self, remote_id: str) -> None:
        self.cleaned.append(remote_id)

    def close(self) -> None:
        return None


class Rig:
    def __init__(self, tmp: Path, concurrency: int = 2) -> None:
        self.tmp = tmp
        self.clock = FakeClock()
        self.journal = Journal(tmp / "state" / "journal.sqlite")
        self.sender = FakeSender()
        self.sender.clock = self.clock
        self.spool = tmp / "spool"
        self.spool.mkdir()
        settings = bare_settings(
            tmp / "state",
            source=tmp / "faxd.yaml",
            default_provider="fake",
            concurrency=concurrency,
        )
        self.engine = Engine(
            settings,
            self.journal,
            {"fake": self.sender},
            Archiver(self.journal, self.clock),
            self.clock,
            retry=RetryPolicy(max_attempts=5),
            rand=lambda: 0.5,
        )
        self.count = 0

    def job(self, **options: Any) -> str:
        self.count += 1
        doc = self.spool / f"doc-{self.count}.pdf"
        doc.write_bytes(b"%PDF-1.4\n%%EOF\n")
        job_id = f"job-{self.count:04d}"
        self.journal.create_job(
            NewJob(
                id=job_id,
                folder=str(self.spool),
                rel_path=doc.name,
                path=str(doc),
                sidecar=None,
                attachments=(),
                files=[JobFile(str(doc), doc.name, "application/pdf", 15)],
                provider="fake",
                sender="+4612345678",
                dft=False,
                reference=None,
                rule="folder",
                options=replace(
                    JobOptions(
                        sent_dir=str(self.tmp / "sent"), failed_dir=str(self.tmp / "failed")
                    ),
                    **options,
                ),
                ino=doc.stat().st_ino,
                received_at=self.clock.time(),
                numbers=["+46812345678"],
            )
        )
        return job_id

    def settle(self) -> None:
        """Dispatch what is due and wait for the worker threads to finish it."""
        self.engine.dispatch()
        deadline = time.monotonic() + 10
        while self.engine.in_flight() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not self.engine.in_flight()

    def tx(self, job_id: str):  # type: ignore[no-untyped-def]
        tx = self.journal.transmission(job_id, 0)
        assert tx is not None
        return tx

    def close(self) -> None:
        self.engine.shutdown(5)
        self.journal.close()
