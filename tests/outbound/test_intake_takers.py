"""Documents taken on several taker threads: each exactly once, and a file two documents
claim (an attachment named by two sidecars) goes with one of them only."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faxd.model import Limits
from faxd.outbound.claims import Claims
from faxd.outbound.watcher import Change
from faxd.providers.docs_type import DOCS_LIMITS

from .engine_rig import FakeSender
from .test_intake import PDF, IntakeRig

TAKERS = 4


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path, takers=TAKERS)
    yield r
    r.intake.close()
    r.journal.close()


def test_takers_take_every_document_once(rig: IntakeRig) -> None:
    names = [f"doc-{i:03d}.pdf" for i in range(80)]
    for i, name in enumerate(names):
        (rig.spool / name).write_bytes(PDF + f"%{i}\n".encode())
        rig.intake.changes.put(Change(rig.spool, rig.spool / name, "file"))
    rig.run_until_idle()
    assert rig.jobs() == names
    assert rig.queued == len(names)
    # Every document's file is held by its job, none by a take still under way.
    assert rig.intake._claims.taking() == 0
    assert all(str(rig.spool / name) in rig.intake._claims for name in names)


def test_an_attachment_two_sidecars_name_goes_with_one_document_only(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    (rig.spool / "shared.pdf").write_bytes(PDF + b"%shared\n")
    docs = [rig.spool / "a.pdf", rig.spool / "b.pdf"]
    for doc in docs:
        doc.write_bytes(PDF + doc.name.encode())
        sidecar = doc.with_name(doc.name + ".yaml")
        sidecar.write_text('to: "+46812345678"\nattach: [shared.pdf]\n')
        rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
    # Both takes are between gathering and journaling at the same moment: the window in
    # which both would have found the attachment free.
    both = threading.Barrier(2, timeout=10)
    real = rig.intake._decide

    def decide_together(*args: Any, **kwargs: Any) -> Any:
        both.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(rig.intake, "_decide", decide_together)
    for doc in docs:
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
    rig.run_until_idle()
    jobs = {j.rel_path: j for j in rig.journal.jobs()}
    assert sorted(jobs) == ["a.pdf", "b.pdf"]  # the attachment is no document of its own
    carried = [j for j in jobs.values() if j.attachments]
    refused = [j for j in jobs.values() if j.error]
    assert len(carried) == 1 and len(refused) == 1
    assert [Path(a).name for a in carried[0].attachments] == ["shared.pdf"]
    assert carried[0].error is None and "shared.pdf" in (refused[0].error or "")


def test_claims_reserve_each_file_for_one_taker_only() -> None:
    claims = Claims(held=["/spool/held.pdf"])
    paths = [f"/spool/f{i}.pdf" for i in range(200)] + ["/spool/held.pdf"]
    won: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def taker(n: int) -> None:
        start.wait()
        for path in paths:
            if claims.reserve(path):
                won[n].append(path)

    threads = [threading.Thread(target=taker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [p for w in won for p in w]
    assert sorted(every) == sorted(paths[:-1])  # each once; the held one by nobody
    assert claims.reserve_free(["/spool/f1.pdf", "/spool/new.pdf"]) == ("/spool/f1.pdf",)
    claims.settle(every, held=["/spool/f1.pdf"])
    assert claims.taking() == 1  # new.pdf, still reserved
    assert "/spool/f1.pdf" in claims and "/spool/f2.pdf" not in claims
    claims.forget(["/spool/f1.pdf"])
    assert claims.reserve("/spool/f1.pdf")


@pytest.mark.parametrize("takers", [0, TAKERS])
def test_a_job_whose_commit_stood_but_whose_fsync_failed_is_not_taken_twice(
    tmp_path: Path, takers: int
) -> None:
    rig = IntakeRig(tmp_path, takers=takers)
    try:
        doc = rig.spool / "a.pdf"
        doc.write_bytes(PDF)
        real = rig.journal._durable.sync_to_disk
        failures = [OSError(errno.EIO, "Input/output error")]

        def flaky() -> None:
            if failures:
                raise failures.pop()
            real()

        rig.journal._durable.sync_to_disk = flaky  # type: ignore[method-assign]
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
        rig.run_until_idle()
        [job] = rig.journal.jobs()
        assert job.rel_path == "a.pdf" and rig.queued == 1  # the engine was told
        # A rescan, the watcher or the next start: the document belongs to that job.
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
        rig.intake.scan(rig.spool)
        rig.clock.advance(60)
        rig.run_until_idle()
        assert [j.id for j in rig.journal.jobs()] == [job.id]
        assert (rig.intake.snapshot_dir(job.id) / "a.pdf").read_bytes() == PDF  # kept
    finally:
        rig.intake.close()
        rig.journal.close()


def test_a_provider_added_by_a_reload_while_a_take_decides_costs_nothing(
    tmp_path: Path,
) -> None:
    """A reload adds the new providers to the mapping the takers read. A take that reads
    it at that moment still decides: before, the loop over it stopped with a
    RuntimeError, and the document waited 30 s for its next try."""
    rig = IntakeRig(tmp_path)
    senders: dict[str, Any] = dict(rig.intake._senders)
    rig.intake._senders = senders

    class ReloadedMeanwhile(FakeSender):
        @property
        def limits(self) -> Limits:
            senders.setdefault("added", FakeSender())  # the reload, between two reads
            return DOCS_LIMITS

        @limits.setter
        def limits(self, value: Limits) -> None:
            raise AssertionError("not set in this test")

    senders["fake"] = ReloadedMeanwhile()
    (rig.spool / "a.pdf").write_bytes(PDF)
    rig.run()
    try:
        assert rig.jobs() == ["a.pdf"]
    finally:
        rig.journal.close()
