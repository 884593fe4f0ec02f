"""Transmissions' state written to the journal: each step of the state machine (checked
against faxd.core.transitions, audited when it reaches accepted, delivered or failed), a
job's cancel, the provider's ids (each credited to one transmission), the waits a lifted
pause or a reload cuts short, and the DFT answers (mixed into faxd.store.journal.Journal)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Container, Sequence
from typing import Any

from faxd.core.transitions import TxUpdate, is_legal
from faxd.model import FINAL_TX_STATES, Method, TxState
from faxd.store import audit_outbox
from faxd.store.journal_part import JournalPart
from faxd.store.outbox import NewDelivery
from faxd.store.outbox import insert as insert_outbox


class IllegalTransition(RuntimeError):
    """A bug: code asked for a state move the state machine does not allow."""

    def __init__(self, job_id: str, idx: int, before: TxState, after: TxState) -> None:
        super().__init__(
            f"transmission {job_id}-{idx}: {before.value} -> {after.value} is not a legal move"
        )


class JournalTransmissions(JournalPart):
    """Transmissions' state written (mixed into faxd.store.journal.Journal)."""

    # -- steps of the state machine ----------------------------------------------------

    def _update_tx(
        self,
        job_id: str,
        idx: int,
        *,
        outbox: Sequence[NewDelivery] = (),
        expect: Collection[TxState] | None = None,
        first: bool = False,
        **fields: Any,
    ) -> bool:
        """Commit new values for one transmission (synchronous=FULL: durable on return),
        with the notices the change causes. A change of state must be a move the state
        machine allows (`core.transitions.LEGAL_MOVES`), else IllegalTransition. With
        `expect`, nothing is written unless the transmission is in one of those states
        (False), so a decision taken on a stale read cannot overwrite a newer one.
        `first`: see transaction."""
        if not fields:
            return True
        values = [v.value if isinstance(v, TxState | Method) else v for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction(first=first) as db:
            before = None
            if "state" in fields or expect is not None:
                before = db.execute(
                    "SELECT state, number, remote_id, method FROM transmissions "
                    "WHERE job_id = ? AND idx = ?",
                    (job_id, idx),
                ).fetchone()
                if before is None:
                    return False
                current = TxState(before["state"])
                if expect is not None and current not in expect:
                    return False
                if "state" in fields and not is_legal(current, TxState(fields["state"])):
                    raise IllegalTransition(job_id, idx, current, TxState(fields["state"]))
            insert_outbox(db, outbox)
            db.execute(
                f"UPDATE transmissions SET {assignments} WHERE job_id = ? AND idx = ?",  # noqa: S608
                (*values, job_id, idx),
            )
            if before is not None and "state" in fields:
                _audit_transition(db, job_id, before, dict(zip(fields, values, strict=True)))
        return True

    def apply(
        self,
        job_id: str,
        idx: int,
        update: TxUpdate,
        *,
        expect: Collection[TxState] | None = None,
        outbox: Sequence[NewDelivery] = (),
        first: bool = False,
    ) -> bool:
        """Write a typed step of the state machine (see _update_tx for the checks)."""
        return self._update_tx(
            job_id, idx, outbox=outbox, expect=expect, first=first, **update.columns()
        )

    def cancel_unsent(self, job_id: str, now: float, reason: str) -> str | None:
        """Fail every transmission of a job that has not left for the provider, all in one
        transaction, so an engine about to upload one (its move to SUBMITTING is a
        compare-and-set on the state) either finds it failed or has already taken it, in
        which case nothing is cancelled. Transmissions that ended already (delivered, or
        failed: refused, given up) are left as they are: nothing is under way to stop.
        None on success, else why it cannot be cancelled."""
        cancellable = (TxState.READY.value, TxState.WAITING.value)
        ended = {state.value for state in FINAL_TX_STATES}
        with self.transaction() as db:
            rows = db.execute(
                "SELECT idx, state, number, remote_id, method FROM transmissions "
                "WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
            if not rows:
                return "it has no transmission left to cancel"
            for row in rows:
                if row["state"] in ended:
                    continue
                if row["state"] == TxState.SUBMITTED.value:
                    return (
                        f"the provider has accepted its upload to {row['number']} (state "
                        "submitted); cancelling now could not stop the fax"
                    )
                if row["state"] not in cancellable or row["remote_id"] is not None:
                    return (
                        f"its upload to {row['number']} may already have reached the provider "
                        f"(state {row['state']}); cancelling now could not stop the fax"
                    )
            unsent = [row for row in rows if row["state"] in cancellable]
            if not unsent:
                return "every transmission of it has ended already; nothing is left to cancel"
            for row in unsent:
                db.execute(
                    "UPDATE transmissions SET state = ?, error = ?, updated_at = ? "
                    "WHERE job_id = ? AND idx = ?",
                    (TxState.FAILED.value, reason, now, job_id, row["idx"]),
                )
                _audit_transition(db, job_id, row, {"state": TxState.FAILED.value, "error": reason})
        return None

    # -- the provider's ids ------------------------------------------------------------

    def remote_ids(self, provider: str) -> RemoteIds:
        """The provider's ids faxd recorded for its own uploads, as a container asked one
        id at a time (`remote_id in ids`): a year holds a million of them."""
        return RemoteIds(self, provider)

    def has_remote_id(self, provider: str, remote_id: str) -> bool:
        rows = self.query(
            "SELECT 1 FROM remote_claims WHERE provider = ? AND remote_id = ? "
            "UNION ALL SELECT 1 FROM transmissions t JOIN jobs j ON j.id = t.job_id "
            "WHERE t.remote_id = ? AND j.provider = ? LIMIT 1",
            (provider, remote_id, remote_id, provider),
        )
        return bool(rows)

    def claim_remote_id(
        self,
        provider: str,
        job_id: str,
        idx: int,
        remote_id: str,
        *,
        take_over: bool = False,
        **fields: Any,
    ) -> str | None:
        """Record `remote_id` (and `fields`) for one transmission, unless another holds it.

        Check and write are one transaction, so of two lookups that found the same upload
        only one gets it. Returns None when the id is now this transmission's, else the key
        (`job-idx`) of the one holding it. `take_over` is for the provider's own answer to
        an upload, which outranks a lookup's guess: the holder is sent back to asking the
        provider, unless its result is already final."""
        values = [v.value if isinstance(v, TxState | Method) else v for v in fields.values()]
        assignments = "".join(f", {name} = ?" for name in fields)
        # Not waited for: an upload's SUBMITTING commit was durable before it was sent,
        # and a claim lost to a power cut is found again by an outcome lookup.
        with self.transaction(durable=False) as db:
            held = db.execute(
                "SELECT job_id, idx FROM remote_claims WHERE provider = ? AND remote_id = ? "
                # an id recorded without a claim (by an older faxd) holds it all the same
                "UNION ALL SELECT t.job_id, t.idx FROM transmissions t JOIN jobs j "
                "ON j.id = t.job_id WHERE j.provider = ? AND t.remote_id = ? LIMIT 1",
                (provider, remote_id, provider, remote_id),
            ).fetchone()
            holder = None if held is None else (str(held["job_id"]), int(held["idx"]))
            if holder is not None and holder != (job_id, idx):
                if not take_over:
                    return f"{holder[0]}-{holder[1]}"
                db.execute(
                    "UPDATE transmissions SET state = ?, remote_id = NULL, lookups = 0, "
                    "next_attempt_at = 0 WHERE job_id = ? AND idx = ? AND remote_id = ? "
                    "AND state NOT IN (?, ?)",
                    (
                        TxState.OUTCOME_UNKNOWN.value,
                        *holder,
                        remote_id,
                        *(s.value for s in FINAL_TX_STATES),
                    ),
                )
            db.execute(
                "INSERT INTO remote_claims(provider, remote_id, job_id, idx) VALUES (?,?,?,?) "
                "ON CONFLICT(provider, remote_id) DO UPDATE SET "
                "job_id = excluded.job_id, idx = excluded.idx",
                (provider, remote_id, job_id, idx),
            )
            before = db.execute(
                "SELECT state, number, remote_id, method FROM transmissions "
                "WHERE job_id = ? AND idx = ?",
                (job_id, idx),
            ).fetchone()
            db.execute(
                f"UPDATE transmissions SET remote_id = ?{assignments} "  # noqa: S608
                "WHERE job_id = ? AND idx = ?",
                (remote_id, *values, job_id, idx),
            )
            if before is not None and "state" in fields:
                change = dict(zip(fields, values, strict=True)) | {"remote_id": remote_id}
                _audit_transition(db, job_id, before, change)
            if holder is not None and holder != (job_id, idx):
                return f"{holder[0]}-{holder[1]}"
            return None

    def remote_claims(self, provider: str) -> dict[str, str]:
        """Every provider id faxd has credited, with the transmission (`job-idx`) it went to."""
        rows = self.query(
            "SELECT remote_id, job_id, idx FROM remote_claims WHERE provider = ?", (provider,)
        )
        return {str(r["remote_id"]): f"{r['job_id']}-{r['idx']}" for r in rows}

    # -- due now -----------------------------------------------------------------------

    def wake_waiting(self, provider: str, now: float) -> int:
        """Make a provider's backed-off transmissions due now (after its pause is lifted)."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE transmissions SET next_attempt_at = ? WHERE state = ? "
                "AND next_attempt_at > ? AND job_id IN (SELECT id FROM jobs WHERE provider = ?)",
                (now, TxState.WAITING.value, now, provider),
            )
            return cur.rowcount

    def wake_queries(self, keys: Collection[tuple[str, int]], now: float) -> int:
        """Make these transmissions' status queries or lookups due now, those still
        waiting for one (a reload lifted the credentials pause they waited out)."""
        if not keys:
            return 0
        woken = 0
        with self.transaction() as db:
            for job_id, idx in keys:
                cur = db.execute(
                    "UPDATE transmissions SET next_attempt_at = ? WHERE job_id = ? AND idx = ? "
                    "AND state IN (?, ?) AND next_attempt_at > ?",
                    (
                        now,
                        job_id,
                        idx,
                        TxState.SUBMITTED.value,
                        TxState.OUTCOME_UNKNOWN.value,
                        now,
                    ),
                )
                woken += cur.rowcount
        return woken

    # -- DFT answers -------------------------------------------------------------------

    def store_dft(self, provider: str, number: str, supported: bool, when: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO dft_cache(provider, number, supported, checked_at) "
                "VALUES (?,?,?,?) ON CONFLICT(provider, number) DO UPDATE SET "
                "supported = excluded.supported, checked_at = excluded.checked_at",
                (provider, number, int(supported), when),
            )


_TX_EVENTS = {
    TxState.SUBMITTED.value: "accepted",
    TxState.DELIVERED.value: "delivered",
    TxState.FAILED.value: "failed",
}


def _audit_transition(
    db: sqlite3.Connection, job_id: str, before: sqlite3.Row, new: dict[str, Any]
) -> None:
    """An audit event for a transmission that just reached accepted, delivered or failed."""
    state = new["state"]
    event = _TX_EVENTS.get(state)
    if event is None or before["state"] == state:
        return
    audit_outbox.record(
        db,
        event,
        job=job_id,
        recipient=before["number"],
        id=new.get("remote_id", before["remote_id"]),
        method=new.get("method", before["method"]),
        status=new.get("status"),
        error=new.get("error"),
    )


class RemoteIds(Container[str]):
    """Journal.remote_ids: membership only, each test one indexed look-up."""

    def __init__(self, journal: JournalTransmissions, provider: str) -> None:
        self._journal = journal
        self._provider = provider

    def __contains__(self, remote_id: object) -> bool:
        if not isinstance(remote_id, str):
            return False
        return self._journal.has_remote_id(self._provider, remote_id)
