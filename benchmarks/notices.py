"""Benchmark: notices and deliveries through the outbox to a local SMTP server.

    python benchmarks/notices.py [--count 1000] [--size 51200]

The SMTP server (the sandbox's sink, storing each mail as a file) runs in a child process,
so the figures are faxd's own: 1,000 failure notices (each composed from the journal with
its report attached, one journal commit per mail) and 1,000 received documents mailed
with the document attached; wall time, faxd's CPU time and peak RSS for each, and the
sink's CPU time for both (wall time on a shared machine moves with the load; CPU time
much less)."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

from faxd.channels.smtp import SmtpSender
from faxd.clock import SystemClock
from faxd.core.job_payload import JobOptions
from faxd.core.outbox_payload import DeliveryPayload
from faxd.notices.plan import job_notices, notify_options
from faxd.notices.worker import OutboxWorker
from faxd.settings import NotifyRule, Settings, SmtpChannel
from faxd.store.journal import Journal, NewJob
from faxd.store.outbox import NewDelivery, Outbox

SINK = """
import sys
from pathlib import Path
from faxd.sandbox.smtp_sink import SmtpSink
sink = SmtpSink(0, Path(sys.argv[1])).start()
print(sink.port, flush=True)
sys.stdin.read()
sink.stop()
"""
REPORT_KEY = "\x00report"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_failed_jobs(journal: Journal, root: Path, count: int) -> None:
    options = notify_options(
        (NotifyRule(on=("failed",), to=("mail:{owner}@example.com",)),), (), "anna", None
    )
    failed = root / "failed"
    failed.mkdir()
    now = time.time()
    for i in range(count):
        job_id = f"20260101120000-{i:08x}"
        doc = failed / f"invoice-{i}.pdf"
        doc.write_bytes(b"%PDF-1.4 invoice")
        report = failed / f"invoice-{i}.pdf.report.yaml"
        report.write_text(f"document: invoice-{i}.pdf\nresult: failed\nerror: no answer\n")
        job = NewJob(
            id=job_id,
            folder=str(root / "out"),
            rel_path=doc.name,
            path=str(root / "out" / doc.name),
            sidecar=None,
            attachments=(),
            files=(),
            provider="docs",
            sender="+4612345678",
            dft=False,
            reference=None,
            rule="folder",
            options=JobOptions(notice=options, report_pdf=False),
            ino=None,
            received_at=now,
            numbers=["+46812345699"],
            error="+46812345699: no fax machine answered",
        )
        journal.create_job(job, outbox=job_notices(job_id, job.options.notice, "failed", now))
        journal.set_archive_plan(job_id, {str(doc): str(doc), REPORT_KEY: str(report)})
        journal.mark_archived(job_id, str(doc), now)


def make_deliveries(journal: Journal, root: Path, count: int, size: int) -> None:
    inbox = root / "inbox"
    inbox.mkdir()
    rows = []
    now = time.time()
    for i in range(count):
        doc = inbox / f"fax-{i}.pdf"
        doc.write_bytes(b"%PDF-1.4\n" + bytes(i % 251 for _ in range(size)))
        payload = DeliveryPayload(
            path=str(doc), sender="+4640123456", attach="document", number="+4612345679"
        )
        rows.append(
            NewDelivery(
                f"d.{i}.0",
                "delivery",
                "received",
                "mail:reception@example.com",
                now,
                f"doc{i}",
                payload,
            )
        )
    Outbox(journal).add(rows)


def drain(worker: OutboxWorker, sender: SmtpSender, journal: Journal) -> tuple[float, float]:
    """Wall seconds and faxd's own CPU seconds (this process; the sink is another)."""
    started, cpu = time.perf_counter(), time.process_time()
    while Outbox(journal).pending("mail", 1):
        worker.drain("mail", sender)
    sender.close()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=50 * 1024, help="bytes per received document")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sink = subprocess.Popen(
            [sys.executable, "-c", SINK, str(root / "mail")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sink.stdout is not None and sink.stdin is not None
        port = int(sink.stdout.readline())
        channel = SmtpChannel(
            name="mail",
            host="127.0.0.1",
            port=port,
            security="none",
            sender="Office fax <fax@example.com>",
        )
        journal = Journal(root / "journal.sqlite")
        settings = Settings(
            source=root / "faxd.yaml",
            state_dir=root,
            providers={},
            default_provider="docs",
            region="SE",
            concurrency=1,
            folders=(),
            channels={"mail": channel},
        )
        worker = OutboxWorker(settings, journal, SystemClock())
        results: dict[str, Any] = {}
        try:
            make_failed_jobs(journal, root, args.count)
            notices, cpu = drain(worker, SmtpSender(channel), journal)
            results["failure_notices"] = {
                "count": args.count,
                "seconds": round(notices, 2),
                "faxd_cpu_seconds": round(cpu, 2),
                "per_second": round(args.count / notices),
                "peak_rss_mb": round(rss_mb(), 1),
            }
            make_deliveries(journal, root, args.count, args.size)
            deliveries, cpu = drain(worker, SmtpSender(channel), journal)
            results["inbound_deliveries"] = {
                "count": args.count,
                "bytes_each": args.size,
                "seconds": round(deliveries, 2),
                "faxd_cpu_seconds": round(cpu, 2),
                "per_second": round(args.count / deliveries),
                "peak_rss_mb": round(rss_mb(), 1),
            }
            stored = len(list((root / "mail").glob("*.eml")))
            assert stored == 2 * args.count, stored
            assert Outbox(journal).counts() == {"done": 2 * args.count}
        finally:
            sink.stdin.close()
            sink.wait(10)
        sink_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        results["sink_cpu_seconds"] = round(sink_cpu.ru_utime + sink_cpu.ru_stime, 2)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
