"""The journal's rows as faxd reads them: jobs, transmissions, retries, and the paths
stored in them (file names that are not UTF-8 included)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from faxd.core.job_payload import JobFile, JobOptions, files_from_json
from faxd.model import FINAL_TX_STATES, JobState, Method, TxState
from faxd.store.rows import row_mapper


@dataclass(frozen=True)
class JobRow:
    id: str
    folder: str
    rel_path: str
    path: str
    sidecar: str | None
    attachments: tuple[str, ...]
    files: tuple[JobFile, ...]
    provider: str
    sender: str | None
    dft: bool
    reference: str | None
    rule: str | None
    options: JobOptions
    state: JobState
    error: str | None
    ino: int | None
    received_at: float
    finished_at: float | None
    archive_plan: dict[str, str] | None
    archived_at: float | None
    archived_path: str | None


@dataclass(frozen=True)
class ProviderPause:
    """A provider faxd stopped sending to until `until` (epoch seconds), and why."""

    provider: str
    until: float
    reason: str  # "auth", "config", "throttled" …


@dataclass(frozen=True)
class QueueCounts:
    queued: int  # transmissions ready or waiting to be uploaded
    in_flight: int  # uploading, asking after an interrupted upload, or awaiting the result


@dataclass(frozen=True)
class TxRow:
    job_id: str
    idx: int
    number: str
    state: TxState
    method: Method | None
    remote_id: str | None
    status: str | None
    attempts: int
    polls: int
    lookups: int
    first_attempt_at: float | None
    submit_started_at: float | None
    submitted_at: float | None
    next_attempt_at: float
    error: str | None

    @property
    def key(self) -> str:
        return f"{self.job_id}-{self.idx}"


class DueTx(NamedTuple):
    """A transmission whose time has come: which one and whose, not its row. The thread
    that works on it reads the row itself, so the dispatcher, which looks again after
    every upload, maps no columns it would throw away."""

    job_id: str
    idx: int
    provider: str

    @property
    def key(self) -> str:
        return f"{self.job_id}-{self.idx}"


def encode_path(path: str) -> str:
    """A path as SQLite can store it: file names may hold bytes that are not UTF-8
    (kept by Python as lone surrogates), which are stored as NUL + hex instead. No real
    path contains NUL, so the two forms never collide."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "\x00" + os.fsencode(path).hex()
    return path


def decode_path(stored: str) -> str:
    if stored.startswith("\x00"):
        return os.fsdecode(bytes.fromhex(stored[1:]))
    return stored


def opt_path(stored: str | None) -> str | None:
    return decode_path(stored) if stored is not None else None


job_row = row_mapper(
    JobRow,
    folder=decode_path,
    rel_path=decode_path,
    path=decode_path,
    sidecar=opt_path,
    attachments=lambda text: tuple(json.loads(text)),
    files=files_from_json,
    dft=bool,
    options=JobOptions.loads,
    state=JobState,
    archive_plan=lambda text: json.loads(text) if text else None,
    archived_path=opt_path,
)
tx_row = row_mapper(TxRow, state=TxState, method=lambda value: Method(value) if value else None)


@dataclass(frozen=True)
class RetryRow:
    """A failed job's document put back by `faxd retry`."""

    job_id: str
    path: str
    retried_at: float
    report: str | None  # the earlier report's YAML, whose files left failed/
    note: str | None  # e.g. a sidecar that arrived after the document failed
    next_job: str | None


retry_row = row_mapper(RetryRow, path=decode_path)


def all_final(txs: Sequence[TxRow]) -> bool:
    return all(t.state in FINAL_TX_STATES for t in txs)
