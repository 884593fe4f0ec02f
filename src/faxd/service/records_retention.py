"""Retention: what `records.retention` lets go (filed sent and failed jobs, received
documents, daily activity journals; never the audit log) and its removal, each file below
the folder faxd was given, no link followed. The records keeper purges once a day,
`faxd purge` on demand."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import structlog

from faxd.core.io_errors import explain_os_error
from faxd.core.outbox_payload import received_subject
from faxd.host import contained, fsops
from faxd.host.fsops import NotRegularFileError, file_sha256
from faxd.host.inbox_folder import META_DIR, SIDECAR_SUFFIX
from faxd.model import JobState
from faxd.settings import RetentionSettings
from faxd.store.records_ledger import FiledJob, Received, RecordsLedger

log = structlog.get_logger("faxd.service.records")


@dataclass(frozen=True)
class PurgeItem:
    kind: str  # sent | failed | inbox | records
    key: str  # job id, "remote id/file id", or the file itself
    files: tuple[Path, ...]
    mark: Callable[[list[str], float], None] | None = field(default=None, compare=False)
    # The folder faxd was given that holds the files: nothing below it is followed as a
    # link when they are removed.
    root: Path | None = field(default=None, compare=False)
    # After a purge `files` are those removed; these stayed, each with why.
    left: tuple[tuple[Path, str], ...] = ()


def purge_plan(
    ledger: RecordsLedger, keep: RetentionSettings, directory: Path, now: float
) -> list[PurgeItem]:
    """The items past their retention at `now`; `directory` holds the records. A job or
    received document that a notice or delivery still pending needs (a channel's
    `give_up_after` may be longer than the retention) is not among them: it is purged at
    the first purge after that has ended."""
    items: list[PurgeItem] = []
    jobs_awaited, received_awaited = ledger.awaited()
    due = [
        (kind, filed)
        for kind, limit, state in (
            ("sent", keep.sent, JobState.DELIVERED),
            ("failed", keep.failed, JobState.FAILED),
        )
        if limit is not None
        for filed in ledger.purgeable_jobs(state.value, now - limit)
        if not _awaited(kind, filed.job.id, jobs_awaited)
    ]
    if due:
        # One look at the later filings for sent and failed alike: it reads every job
        # filed since the oldest one due.
        retried = ledger.retried([filed.job.id for _, filed in due])
        since = min(filed.job.archived_at or 0.0 for _, filed in due)
        names = {str(p) for _, filed in due for p in _names(filed)}
        filings = ledger.filings_after(since, names)
        for kind, filed in due:
            if (item := _job_item(ledger, kind, filed, retried, filings)) is not None:
                items.append(item)
    if keep.inbox is not None:
        for received in ledger.purgeable_received(now - keep.inbox):
            key = received_subject(received.remote_id, received.file_id)
            if _awaited("inbox", key, received_awaited):
                continue
            if (inbox_item := _received_item(ledger, received)) is not None:
                items.append(inbox_item)
    if keep.records is not None:
        items.extend(_records_items(directory, now - keep.records))
    return items


def _awaited(kind: str, key: str, awaited: set[str]) -> bool:
    if key not in awaited:
        return False
    log.info(
        "past its retention but kept: a notice or delivery of it is still pending",
        kind=kind,
        key=key,
    )
    return True


def _job_item(
    ledger: RecordsLedger, kind: str, filed: FiledJob, retried: set[str], filings: dict[str, float]
) -> PurgeItem | None:
    """What retention removes of a filed job; None while its document's name holds
    another file (changed since it was filed, or put there by hand after a retry): not
    faxd's to delete, and its reports stay with it.

    `retried`: jobs `faxd retry` put back, whose files all left with them; `filings`:
    the latest filing at each name. A name a later job was filed under holds that
    job's file (the same bytes, when a retry was filed where the first attempt was):
    it goes with that job, never with this one."""
    job = filed.job
    doc = Path(job.archived_path) if job.archived_path and job.id not in retried else None
    if doc is not None and not _gone(doc) and not _same(doc, filed.sha256):
        return None
    files = _names(filed) if doc is not None else []
    filed_at = job.archived_at or 0.0
    files = [p for p in files if filings.get(str(p), filed_at) <= filed_at]
    present = tuple(p for p in dict.fromkeys(files) if fsops.is_regular_file(p))

    def mark(removed: list[str], when: float) -> None:
        ledger.mark_job_purged(job.id, removed, when)

    root = job.options.filing_root(doc) if doc is not None else None
    return PurgeItem(kind, job.id, present, mark, root)


def _received_item(ledger: RecordsLedger, r: Received) -> PurgeItem | None:
    files: list[Path] = []
    if r.path:
        doc = Path(r.path)
        if not _gone(doc) and not _same(doc, r.sha256):
            return None  # another file at its name: kept, with its metadata
        files = [doc, doc.parent / META_DIR / f"{doc.name}{SIDECAR_SUFFIX}"]
    present = tuple(p for p in files if fsops.is_regular_file(p))

    def mark(removed: list[str], when: float) -> None:
        ledger.mark_received_purged(r.remote_id, r.file_id, removed, when)

    # The inbox folder it was delivered to: the document's own folder.
    root = Path(r.path).parent if r.path else None
    return PurgeItem("inbox", f"{r.remote_id}/{r.file_id}", present, mark, root)


def _records_items(directory: Path, before: float) -> list[PurgeItem]:
    """Daily activity journals older than the limit (the audit log is never purged)."""
    cutoff = datetime.fromtimestamp(before).astimezone().date()
    items = []
    for year in sorted(directory.glob("[0-9][0-9][0-9][0-9]")):
        for path in sorted(year.iterdir()):
            stem, _, suffix = path.name.partition(".")
            if suffix not in ("csv", "pdf") or not fsops.is_regular_file(path):
                continue
            try:
                day = date.fromisoformat(stem)
            except ValueError:
                continue
            if day < cutoff:
                items.append(PurgeItem("records", str(path), (path,), root=directory))
    return items


def purge(ledger: RecordsLedger, items: Sequence[PurgeItem], now: float) -> list[PurgeItem]:
    """Remove the items' files: each item with the files it removed (`files`) and those it
    left in place (`left`)."""
    done = []
    for item in items:
        removed: list[str] = []
        left: list[tuple[Path, str]] = []
        for path in item.files:
            why = _remove(item, path, removed)
            if why is not None:
                left.append((path, why))
        done.append(dataclasses.replace(item, files=tuple(map(Path, removed)), left=tuple(left)))
        if left:
            # Not marked: it is looked at again tomorrow, and said again, until someone
            # has looked at the folder.
            if removed:
                ledger.audit("purged", files=removed)
            continue
        if item.mark is not None:
            item.mark(removed, now)
        elif removed:
            ledger.audit("purged", files=removed)
        log.info("purged", kind=item.kind, key=item.key, files=len(removed))
    return done


def planned(item: PurgeItem) -> PurgeItem:
    """A dry run's item: the files a purge would remove, and those below a folder
    swapped for a link, which it would leave in place."""
    files: list[Path] = []
    left: list[tuple[Path, str]] = []
    for path in item.files:
        root = item.root if item.root is not None else path.parent
        why = contained.link_on_the_way(root, path)
        if why is None:
            files.append(path)
        else:
            left.append((path, why))
    return dataclasses.replace(item, files=tuple(files), left=tuple(left))


def _remove(item: PurgeItem, path: Path, removed: list[str]) -> str | None:
    """Remove one file of a purge (noted in `removed`); why it was left, if it was."""
    root = item.root if item.root is not None else path.parent
    try:
        if contained.unlink_beneath(root, path):
            removed.append(str(path))
    except NotRegularFileError as exc:
        log.warning(
            "past its retention but left in place: faxd does not follow links out of its folders",
            kind=item.kind,
            key=item.key,
            file=str(path),
            reason=str(exc),
        )
        return str(exc).rstrip(".")
    except OSError as exc:
        # A read-only or failing share: this file waits for the next day's purge, and
        # the rest of this one goes on.
        why = explain_os_error(exc, "").rstrip(".")
        why = why[:1].lower() + why[1:]  # the file is named beside it
        log.error(
            "past its retention but left in place: it could not be removed",
            kind=item.kind,
            key=item.key,
            file=str(path),
            reason=why,
        )
        return why
    return None


def _names(filed: FiledJob) -> list[Path]:
    """The names a filed job's files were given: the document, its sidecar and attachments
    and the YAML report (all in the archive plan), and the PDF report."""
    job = filed.job
    if not job.archived_path:
        return []
    doc = Path(job.archived_path)
    files = [doc, *(Path(p) for p in (job.archive_plan or {}).values() if p != str(doc))]
    if filed.report_pdf:
        files.append(Path(filed.report_pdf))
    return files


def _gone(path: Path) -> bool:
    """Nothing at all at `path` (a link, even a dangling one, is something)."""
    return not os.path.lexists(path)


def _same(path: Path, sha256: str | None) -> bool:
    if sha256 is None or not fsops.is_regular_file(path):
        return False
    try:
        return file_sha256(path) == sha256
    except OSError:
        return False
