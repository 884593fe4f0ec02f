"""The engine commits notices with the state change that causes them (in-process, fake
clock and a scripted provider from the engine's own tests)."""

from __future__ import annotations

from faxd.errors import TransientError
from faxd.model import TxState
from faxd.notices.plan import notify_options
from faxd.settings import NotifyRule
from faxd.store.outbox import Outbox

from .engine_rig import Rig


def test_requeued_on_every_retry_then_failed_once(rig: Rig) -> None:
    options = notify_options(
        (NotifyRule(on=("requeued", "failed"), to=("hook",)),), (), "anna", None
    )
    job = rig.job(notice=options)
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
    job = rig.job(notice=options)
    rig.settle()
    rig.clock.advance(60)
    rig.settle()
    [row] = Outbox(rig.journal).by_subject(job)
    assert (row.event, row.target) == ("delivered", "mail:anna@example.com")
