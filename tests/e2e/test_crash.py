"""SIGKILL at the worst moments, then restart: every document is uploaded exactly once
and filed exactly once."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time

import pytest

from faxd.cli import main
from faxd.sandbox.server import SandboxServer

from .harness import FAST_SCHEDULE, Faxd, pdf, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.report_pdfs]


def uploads(sandbox: SandboxServer) -> dict[str, int]:
    return dict(sandbox.stats()["docs"]["uploads_by_sha256"])


@pytest.mark.parametrize(
    "point",
    [
        "intake_before_journal",
        "after_submitting_commit",
        "after_accept_before_commit",
        "archive_between_moves",
    ],
)
def test_sigkill_at_a_crash_point_then_restart_sends_exactly_once(
    faxd: Faxd, sandbox: SandboxServer, point: str
) -> None:
    faxd.provider_overrides.update(FAST_SCHEDULE)  # the restart's lookups: 1, 2, 4 s
    faxd.start(FAXD_CRASH_AT=point)
    body = pdf(point)
    faxd.drop("+46812345678/crash.pdf.yaml", b'to: "+46812345678"\nreference: "crash test"\n')
    faxd.drop("+46812345678/crash.pdf", body)
    assert faxd.proc is not None
    proc = faxd.proc
    wait_for(lambda: proc.poll() is not None, 60, f"the crash at {point}")
    assert proc.returncode == -9
    faxd.proc = None
    faxd.start()
    report = faxd.report_for("crash.pdf", timeout=120)
    assert report["result"] == "delivered"
    assert uploads(sandbox) == {hashlib.sha256(body).hexdigest(): 1}
    wait_for(lambda: any(faxd.sent.rglob("crash.pdf.report.pdf")), 60, "the report PDF")
    sent = sorted(p.name for p in faxd.sent.rglob("*") if p.is_file())
    assert sent == ["crash.pdf", "crash.pdf.report.pdf", "crash.pdf.report.yaml", "crash.pdf.yaml"]
    assert not any(p.is_file() for p in faxd.spool.rglob("crash*"))
    # No copy of the document is left in the state folder, not even one the kill cut off
    # between its copy and its journal record (swept at the restart).
    work = faxd.state / "work"
    wait_for(lambda: not work.exists() or not any(work.iterdir()), 10, "the work folders gone")


def test_random_sigkills_during_a_hundred_document_run(faxd: Faxd, sandbox: SandboxServer) -> None:
    rng = random.Random(20261123)
    faxd.provider_overrides.update(FAST_SCHEDULE)
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_after", "times": 3})
    bodies = {}
    for i in range(100):
        number = ["+46812345678", "+46812345611", "Acme AB"][i % 3]
        name = f"{number}/doc-{i:03d}.pdf"
        bodies[name] = pdf(f"random-{i}")
        faxd.drop(name, bodies[name])
    faxd.start()
    for _ in range(6):
        time.sleep(rng.uniform(0.3, 2.0))
        faxd.kill()
        started = faxd.log_text().count('"faxd is running"')
        faxd.start()
    # The clean stop below must reach a running daemon: one still starting when every
    # document is filed (by an earlier one) would die of the SIGTERM before it could
    # drain the audit events the kill left in the journal.
    wait_for(lambda: faxd.log_text().count('"faxd is running"') > started, 60, "the last start")

    def filed() -> int:
        if not faxd.sent.exists():
            return 0
        return sum(1 for p in faxd.sent.rglob("doc-*.pdf") if not p.name.endswith(".report.pdf"))

    try:
        wait_for(lambda: filed() == 100, 400, "100 documents in sent/", step=0.5)
    except AssertionError:
        raise AssertionError(f"{filed()} filed; log tail:\n{faxd.log_text()[-3000:]}") from None
    expected = {hashlib.sha256(b).hexdigest() for b in bodies.values()}
    counted = uploads(sandbox)
    assert set(counted) == expected
    assert set(counted.values()) == {1}
    for name, body in bodies.items():
        assert (faxd.sent / name).read_bytes() == body
    assert not list(faxd.spool.rglob("*.pdf"))
    assert not faxd.failed.exists() or not list(faxd.failed.rglob("*.pdf"))
    assert not list(faxd.sent.rglob("* (2)*"))
    assert faxd.stop() == 0
    work = faxd.state / "work"
    assert not work.exists() or not any(work.iterdir())  # no copies left behind by a kill
    db = sqlite3.connect(faxd.state / "journal.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        states = {row[0] for row in db.execute("SELECT state FROM transmissions")}
        assert states == {"delivered"}
        jobs = {row[0] for row in db.execute("SELECT id FROM jobs")}
        assert db.execute("SELECT COUNT(*) FROM audit_outbox").fetchone()[0] == 0
    finally:
        db.close()
    # The audit chain survived the kills and holds every committed event exactly once.
    assert main(["audit", "verify", "--config", str(faxd.config_path)]) == 0
    audit = faxd.state / "records" / "audit"
    events = [
        json.loads(line)
        for path in sorted(audit.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    for name in ("picked up", "filed"):
        assert sorted(e["job"] for e in events if e["event"] == name) == sorted(jobs), name
    delivered = [(e["job"], e["recipient"]) for e in events if e["event"] == "delivered"]
    assert len(delivered) == len(set(delivered)) == 100
