"""Each upload whose outcome is unknown gets its own outcome lookups: a second attempt cut
off by a stop is not failed at its first ambiguous lookup because the first attempt's
lookups were used up."""

from __future__ import annotations

from faxd.core.transitions import OUTCOME_LOOKUPS, TxUpdate
from faxd.errors import AmbiguousOutcomeError
from faxd.model import Accepted, TxState

from .engine_rig import Rig
from .test_engine_lookup import due, lose_answers


def test_a_second_lost_upload_is_looked_up_again_before_it_is_failed(rig: Rig) -> None:
    (job,) = lose_answers(rig, 1)
    for _ in range(OUTCOME_LOOKUPS):  # the first upload left no trace: sent again
        due(rig)
    assert rig.tx(job).state == TxState.WAITING
    # The second upload is under way when faxd is killed; the next start asks the
    # provider about it (as after a SIGKILL right after the SUBMITTING commit).
    now = rig.clock.time()
    started = TxUpdate(state=TxState.SUBMITTING, attempts=2, submit_started_at=now)
    assert rig.journal.apply(job, 0, started, expect={TxState.WAITING})
    assert rig.journal.reset_interrupted(now) == 1
    assert rig.tx(job).state == TxState.OUTCOME_UNKNOWN
    # Its first lookup meets an upload of another transmission whose own lookup has not
    # credited it yet (lookups run side by side): a reason to ask again, not to give up.
    ambiguous = AmbiguousOutcomeError("2 transmissions could each be it", "ask the recipient")

    def find(*_: object) -> Accepted | None:
        rig.sender.lookups += 1
        raise ambiguous

    rig.sender.find_submission = find  # type: ignore[method-assign,assignment]
    due(rig)
    assert rig.sender.lookups == OUTCOME_LOOKUPS + 1
    assert rig.tx(job).state == TxState.OUTCOME_UNKNOWN, rig.tx(job).error
    assert len(rig.sender.submits) == 1  # nothing uploaded again meanwhile
