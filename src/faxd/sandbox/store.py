"""What the emulated accounts hold, and the counters tests assert on.

One lock guards everything; API handlers take it for the whole of a request's effect so
that counters and records never disagree. Statuses are computed from the injected clock
when asked, so tests move time instead of sleeping."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from faxd.clock import Clock
from faxd.sandbox.blobs import Blob
from faxd.sandbox.faults import FaultBook
from faxd.sandbox.scenario import RETARUS_FAILURES, Scenario
from faxd.sandbox.timeutil import docs_time, retarus_time


@dataclass
class StoredFile:
    file_id: str
    name: str
    content_type: str
    blob: Blob | None  # None once deleted
    sha256: str | None = None


@dataclass
class DocsRecord:
    """One Generic DOCS document: an outbound transmission or a received document."""

    fax_id: str
    fax_time: float  # epoch seconds; shown in whole seconds, compared with fractions
    created: float  # clock time it appeared (outbound status runs from here)
    sender: str
    recipient: str
    type: str  # Fax | DirectFileTransfer
    files: list[StoredFile]
    outbound: bool
    fails: bool = False
    fixed_status: str = "Received"  # inbound documents do not move
    # Inbound only: until then the document lists as Sending with no files (and its
    # files answer 404), as one still arriving at the provider.
    ready_at: float | None = None
    # "String or Array of String": set, the listing shows this array as the recipient.
    recipients: tuple[str, ...] = ()

    def ready(self, now: float) -> bool:
        return self.ready_at is None or now >= self.ready_at

    def status_at(self, now: float, delay: float) -> tuple[str, int]:
        if not self.outbound:
            if not self.ready(now):
                return "Sending", int(self.fax_time)
            return self.fixed_status, int(self.fax_time)
        if now - self.created < delay:
            return "Sending", int(self.fax_time)
        final_at = int(self.created + delay)
        if self.fails:
            return "Failed", final_at
        if self.type == "DirectFileTransfer" and now - self.created >= 2 * delay:
            return "Opened", int(self.created + 2 * delay)
        return "Received", final_at

    def to_json(self, now: float, scenario: Scenario) -> dict[str, Any]:
        status, status_time = self.status_at(now, scenario.status_delay)
        tz = scenario.tz
        return {
            "faxId": self.fax_id,
            "faxTime": docs_time(self.fax_time, tz),
            "senderFaxNumber": self.sender,
            "recipientFaxNumber": list(self.recipients) if self.recipients else self.recipient,
            "status": status,
            "statusTime": docs_time(status_time, tz),
            "files": [{"fileId": f.file_id, "fileName": f.name} for f in self.files]
            if self.ready(now)
            else [],
            "type": self.type,
        }


@dataclass
class RetarusRecipient:
    number: str
    properties: list[dict[str, str]] | None
    alternative_numbers: list[str] | None
    failure: str | None  # final status when not OK


@dataclass
class RetarusJob:
    job_id: str
    datacenter: str  # dc1 | dc2
    created: float
    recipients: list[RetarusRecipient]
    pages: int
    reference: dict[str, str] | None
    customer_defined_id: str | None

    def final(self, now: float, delay: float) -> bool:
        return now - self.created >= delay

    def to_json(self, now: float, delay: float) -> dict[str, Any]:
        done = self.final(now, delay)
        statuses: list[dict[str, Any]] = []
        for rcpt in self.recipients:
            item: dict[str, Any] = {
                "number": rcpt.number,
                "alternativeNumbers": rcpt.alternative_numbers,
                "properties": rcpt.properties,
            }
            dialed = "00" + rcpt.number[1:] if rcpt.number.startswith("+") else rcpt.number
            plus = "+" + rcpt.number[2:] if rcpt.number.startswith("00") else rcpt.number
            if not done:
                item.update(
                    status="PENDING",
                    reason="In progress",
                    sentTs=None,
                    durationInSecs=0,
                    sentToNumber=None,
                    remoteCsid=None,
                )
            elif rcpt.failure is None:
                item.update(
                    status="OK",
                    reason="OK",
                    sentTs=retarus_time(self.created + delay),
                    durationInSecs=12 + 8 * self.pages,
                    sentToNumber=dialed,
                    remoteCsid=plus,
                )
            else:
                item.update(
                    status=rcpt.failure,
                    reason=RETARUS_FAILURES.get(rcpt.failure, f"Simulated {rcpt.failure}"),
                    sentTs=retarus_time(self.created + delay),
                    durationInSecs=0,
                    sentToNumber=dialed,
                    remoteCsid="",
                )
            statuses.append(item)
        return {
            "jobId": self.job_id,
            "recipientStatus": statuses,
            "pages": self.pages if done else 0,
            "reference": self.reference,
        }


@dataclass
class ApiCounters:
    requests: Counter[str] = field(default_factory=Counter)  # per endpoint, every request
    send_requests: int = 0  # every send/submit request, accepted or not
    accepted: int = 0  # accepted uploads
    uploads_by_sha256: Counter[str] = field(default_factory=Counter)
    deleted: list[str] = field(default_factory=list)  # faxIds / report jobIds


class SandboxState:
    """The emulator's data and counters; every public method is thread-safe."""

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.scenario = scenario
        self.clock = clock
        self.docs_records: dict[str, DocsRecord] = {}
        self.docs_files: dict[str, tuple[DocsRecord, StoredFile]] = {}
        self.retarus_jobs: dict[str, RetarusJob] = {}
        self.retarus_deleted: set[str] = set()
        self.retarus_customer_ids: set[str] = set()
        self.retarus_placed = 0
        self.docs = ApiCounters()
        self.retarus = ApiCounters()
        self.dft_checks: Counter[str] = Counter()
        self.ha_report_queries = 0
        self.dropped = 0
        self.faults = FaultBook(scenario.faults)

    def now(self) -> float:
        return self.clock.time()

    def add_docs_record(self, record: DocsRecord) -> None:
        with self.lock:
            if record.fax_id in self.docs_records:
                raise ValueError(f"faxId {record.fax_id!r} already exists in the sandbox.")
            self.docs_records[record.fax_id] = record
            for stored in record.files:
                self.docs_files[stored.file_id] = (record, stored)

    def docs_status(self, fax_id: str) -> str | None:
        """The current status of one Generic DOCS document (None: unknown faxId)."""
        with self.lock:
            record = self.docs_records.get(fax_id)
            if record is None:
                return None
            return record.status_at(self.now(), self.scenario.status_delay)[0]

    def retarus_report(self, job_id: str) -> dict[str, Any] | None:
        """The current report of one Retarus job, wherever it lives (None: unknown/deleted)."""
        with self.lock:
            job = self.retarus_jobs.get(job_id)
            if job is None:
                return None
            return job.to_json(self.now(), self.scenario.status_delay)

    def stats(self) -> dict[str, Any]:
        """Plain data for assertions; the same as GET /_sandbox/stats."""
        # taken before the state lock: FaultBook.take may hold its lock while asking for it
        faults = self.faults.snapshot()
        with self.lock:
            now = self.now()
            delay = self.scenario.status_delay
            transmissions = {
                fax_id: {
                    "recipient": rec.recipient,
                    "sender": rec.sender,
                    "status": rec.status_at(now, delay)[0],
                    "type": rec.type,
                    "files": [f.name for f in rec.files],
                    "sha256": [f.sha256 for f in rec.files],
                    "created": rec.created,  # when the upload was accepted (benchmarks)
                }
                for fax_id, rec in self.docs_records.items()
                if rec.outbound
            }
            jobs = {
                job_id: {
                    "datacenter": job.datacenter,
                    "customerDefinedId": job.customer_defined_id,
                    "recipients": {
                        r["number"]: r["status"] for r in job.to_json(now, delay)["recipientStatus"]
                    },
                }
                for job_id, job in self.retarus_jobs.items()
            }
            return {
                "docs": {
                    "send_requests": self.docs.send_requests,
                    "accepted": self.docs.accepted,
                    "uploads_by_sha256": dict(self.docs.uploads_by_sha256),
                    "requests": dict(self.docs.requests),
                    "dft_checks": dict(self.dft_checks),
                    "deleted": list(self.docs.deleted),
                    "transmissions": transmissions,
                    "received": sum(1 for r in self.docs_records.values() if not r.outbound),
                },
                "retarus": {
                    "submit_requests": self.retarus.send_requests,
                    "accepted": self.retarus.accepted,
                    "uploads_by_sha256": dict(self.retarus.uploads_by_sha256),
                    "requests": dict(self.retarus.requests),
                    "ha_report_queries": self.ha_report_queries,
                    "deleted_reports": list(self.retarus.deleted),
                    "jobs": jobs,
                },
                "dropped_connections": self.dropped,
                "faults": faults,
            }
