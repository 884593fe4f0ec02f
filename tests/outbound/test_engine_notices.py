"""The engine commits notices with the state change that causes them (in-process, fake
clock and a scripted provider from the engine's own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.core.job_payload import JobFile, JobOptions, NoticePlan
from faxd.errors import TransientError
from faxd.model import TxState
from faxd.notices.plan import notify_options
from faxd.settings import NotifyRule
from faxd.store.journal import NewJob
from faxd.store.outbox import Outbox

from .test_engine import Rig


def add_job(rig: Rig, notice: NoticePlan) -> str:
    """A queued job whose options carry the notice plan (as the intake writes it)."""
    rig.count += 1
    doc = rig.spool / f"doc-{rig.count}.pdf"
    doc.write_bytes(b"%PDF-1.4\n%%EOF\n")
    job_id = f"job-{rig.count:04d}"
    options = JobOptions(
        sent_dir=str(rig.tmp / "sent"), failed_dir=str(rig.tmp / "failed"), notice=notice
    )
    rig.journal.create_job(
        NewJob(
            id=job_id,
            folder=str(rig.spool),
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
            options=options,
            ino=doc.stat().st_ino,
            received_at=rig.clock.time(),
            numbers=["+46812345678"],
        )
    )
    return job_id


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.engine.shutdown(5)
    r.journal.close()


def test_requeued_on_every_retry_then_failed_once(rig: Rig) -> None:
    options = notify_options(
        (NotifyRule(on=("requeued", "failed"), to=("hook",)),), (), "anna", None
    )
    job = add_job(rig, options)
    rig.sender.answers = [TransientError("503") for _ in range(10)]
    for _ in range(6):
        rig.settle()
        tx = rig.tx(job)
        if tx.state == TxState.FAILED:
            break
        rig.clock.advance(tx.next_attempt_at - rig.clock.time())
    assert rig.tx(job).state == TxState.FAILED
    rows = Outbox(rig.journal).by_subject(job)
    assert [r.event for r in rows] == ["requeued"] * 4 + ["failed"]
    assert len({r.id for r in rows}) == 5
    # Finishing again (a restart's reconcile) plans nothing new.
    rig.engine.finish_if_done(job)
    assert len(Outbox(rig.journal).by_subject(job)) == 5


def test_delivered_is_committed_with_the_result(rig: Rig) -> None:
    options = notify_options(
        (NotifyRule(on=("delivered",), to=("mail:{owner}@example.com",)),), (), "anna", None
    )
    job = add_job(rig, options)
    rig.settle()
    rig.clock.advance(60)
    rig.settle()
    [row] = Outbox(rig.journal).by_subject(job)
    assert (row.event, row.target) == ("delivered", "mail:anna@example.com")
