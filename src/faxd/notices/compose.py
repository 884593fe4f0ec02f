"""What a notice, delivery or alert says: rendered when it is sent, from the journal, so
a re-send after a crash says the same thing and can attach the filed report."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from faxd.channels.base import Attachment, Message
from faxd.channels.command import EVENT_FIELDS
from faxd.channels.templates import Templates
from faxd.core.deadline import span
from faxd.core.names import report_pdf_path
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload, NoticePayload
from faxd.core.printable import shown, shown_lines
from faxd.model import JobState, TxState
from faxd.settings import FINAL_NOTICE_EVENTS
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow
from faxd.store.outbox import DeliveryRow

REPORT_KEY = "\x00report"  # the archive plan's entry for the report (outbound/archive.py)
FILING_WAIT = 120.0  # seconds a final notice waits for its job to be filed


class NotReady(Exception):
    """The row cannot be composed yet (its job is still being filed): try again shortly."""


class ComposeError(Exception):
    """The row can never be composed (its job is gone); the message says why."""


class Composer:
    def __init__(self, journal: Journal, templates: Templates) -> None:
        self._journal = journal
        self._templates = templates
        self._host = socket.gethostname()

    def compose(self, row: DeliveryRow, now: float) -> Message:
        payload = row.payload  # its type follows the row's kind
        if isinstance(payload, NoticePayload):
            return self._notice(row, payload, now)
        if isinstance(payload, DeliveryPayload):
            return self._delivery(row, payload)
        context = self._alert_context(row, payload)
        return self._message(row, context, fields=_fields("alert", payload.to_json()))

    def _alert_context(self, row: DeliveryRow, payload: AlertPayload) -> dict[str, Any]:
        return {
            "host": self._host,
            "channel": row.channel,
            "title": payload.title,
            "text": payload.text,
            "advice": payload.advice,
        }

    def _message(
        self,
        row: DeliveryRow,
        context: dict[str, Any],
        *,
        fields: dict[str, Any],
        attachments: tuple[Attachment, ...] = (),
        print_file: Attachment | None = None,
    ) -> Message:
        kind = row.kind if row.kind in ("notice", "delivery", "alert") else "test"
        # Names come from office users and scanners, references from sidecars and the
        # command line, senders and errors from the provider: every value is one line
        # before it reaches a template, its controls (a line break too) and bytes that are
        # not UTF-8 escaped, so none can forge a line of the text; only the template's own
        # line breaks act. The event fields stay as they are (JSON escapes them itself).
        context = {key: _one_line(value) for key, value in context.items()}
        context["attached"] = [shown(a.name) for a in attachments]
        subject = self._templates.render(f"{kind}.subject", context)
        text = self._templates.render(f"{kind}.txt", context)
        return Message(
            event_id=row.id,
            kind=row.kind,
            event=row.event,
            subject=shown(" ".join(subject.split())),
            text=shown_lines(text),
            address=row.address,
            attachments=tuple(replace(a, name=shown(a.name)) for a in attachments),
            fields=fields,
            print_file=print_file,
            created_at=row.created_at,
        )

    def _notice(self, row: DeliveryRow, payload: NoticePayload, now: float) -> Message:
        job = self._journal.job(row.subject or "")
        if job is None:
            raise ComposeError(f"job {row.subject} is no longer in the journal")
        final = row.event in FINAL_NOTICE_EVENTS
        if final and job.archived_at is None and now - row.created_at < FILING_WAIT:
            raise NotReady
        txs = self._journal.transmissions(job.id)
        recipients = [
            {
                "number": t.number,
                "result": {
                    TxState.DELIVERED: "sent",
                    TxState.FAILED: "failed",
                }.get(t.state, "not sent yet"),
                "error": t.error if t.state != TxState.DELIVERED else None,
                "status": t.status,
                "attempts": t.attempts,
            }
            for t in txs
        ]
        document = Path(job.path).name
        plan = job.archive_plan or {}
        filed = job.archived_path if job.archived_at is not None else None
        attach = payload.attach
        attachments: list[Attachment] = []
        report_yaml = Path(plan[REPORT_KEY]) if REPORT_KEY in plan else None
        if final and attach in ("report", "document") and report_yaml is not None:
            report_pdf = report_pdf_path(report_yaml)
            drawing = bool(job.options.report_pdf) and not report_pdf.is_file()
            if drawing and now - row.created_at < FILING_WAIT:
                raise NotReady  # the PDF report is drawn just after filing: attach it
            if report_pdf.is_file():
                attachments.append(_attachment(job, report_pdf, "application/pdf"))
            elif report_yaml.is_file():
                attachments.append(_attachment(job, report_yaml, "text/plain"))
        doc_path = Path(filed) if filed else Path(job.path)
        if attach == "document" and doc_path.is_file():
            attachments.append(_attachment(job, doc_path))
        error = job.error or next((t.error for t in txs if t.state == TxState.FAILED), None)
        context: dict[str, Any] = {
            "event": row.event,
            "document": document,
            "job_id": job.id,
            "reference": job.reference,
            "numbers": [t.number for t in txs],
            "recipients": recipients,
            "reason": error,
            "advice": self._advice(row.event, job.id, job.error, bool(txs), filed),
            "filed": filed,
            "folder": job.folder,
            "owner": job.options.notice.owner,
            "waited": span(now - job.received_at),
            "result": job.state.value,
        }
        fields = _fields(
            "notice",
            {
                "job": job.id,
                "document": document,
                "path": str(doc_path),
                "numbers": ",".join(t.number for t in txs),
                "result": job.state.value,
                "error": error,
                "reference": job.reference,
                "owner": job.options.notice.owner,
            },
        )
        return self._message(
            row,
            context,
            fields=fields,
            attachments=tuple(attachments),
            print_file=attachments[0] if attachments else None,  # a print channel: the report
        )

    @staticmethod
    def _advice(
        event: str, job_id: str, refused: str | None, sent: bool, filed: str | None
    ) -> str | None:
        if event == "failed":
            if refused and not sent:
                return (
                    "Correct what is named above (the number, the sidecar or the file) and put "
                    "the document back into the fax folder."
                )
            return (
                "Check the number and the reason above; to send it again, put the document "
                f"back into the fax folder or ask your administrator to run 'faxd retry {job_id}'."
            )
        if event == "delayed":
            return "Nothing yet: faxd keeps trying. If it is urgent, send it another way."
        if event == "held":
            return "Ask your administrator to release or reject it."
        return None

    def _delivery(self, row: DeliveryRow, payload: DeliveryPayload) -> Message:
        path = Path(payload.path)
        if not path.is_file():
            raise ComposeError(f"the received document {path} is no longer there")
        # Read below the inbox folder it was delivered to, never through a link.
        file = Attachment(
            path.name,
            path,
            "application/pdf" if path.suffix.lower() == ".pdf" else "application/octet-stream",
            root=path.parent,
        )
        attachments = (file,) if payload.attach == "document" else ()
        context: dict[str, Any] = {
            "number": payload.number,
            "sender": payload.sender,
            "pages": None,  # a received document's page count is not known; templates may ask
            "path": str(path),
            "document": path.name,
        }
        fields = _fields(
            "delivery",
            {
                "path": str(path),
                "number": payload.number,
                "sender": payload.sender,
                "document": path.name,
                "received_id": payload.received_id,
            },
        )
        return self._message(row, context, fields=fields, attachments=attachments, print_file=file)


def _fields(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """A message's event fields: the names EVENT_FIELDS lists for its kind, which are
    what check-config lets a command's argv name."""
    return {name: values[name] for name in EVENT_FIELDS[kind]}


def _one_line(value: Any) -> Any:
    """`value` with every string in it (in lists and dicts too) `shown`: one printable
    line, so a template shows it and cannot be made to break a line with it."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {key: _one_line(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_one_line(item) for item in value]
    return value


def is_final(state: JobState) -> bool:
    return state in (JobState.DELIVERED, JobState.FAILED)


def _attachment(job: JobRow, path: Path, mime: str = "application/octet-stream") -> Attachment:
    """A job's filed file (or, not filed yet, its document in the spool folder), read
    below the folder that holds it without following a link."""
    root = Path(job.folder) if str(path) == job.path else job.options.filing_root(path)
    return Attachment(path.name, path, mime, root=root)
