"""Recipient safety with the real daemon against the sandbox: held documents wait in
hold/ until `faxd release`, near misses name the contact, moving a held document back
holds it again, a crash during release still sends once, and contacts_file is re-read
on SIGHUP."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from faxd.sandbox.server import SandboxServer
from faxd.service.daemon_filing import FILING_QUICK_RETRY

from .harness import Faxd, pdf, wait_for


def uploads(sandbox: SandboxServer) -> dict[str, int]:
    return dict(sandbox.stats()["docs"]["uploads_by_sha256"])


def cli(faxd: Faxd, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET",)}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "faxd", argv[0], "--config", str(faxd.config_path), *argv[1:]],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def hold(faxd: Faxd) -> Path:
    return faxd.root / "hold"


def held_report(faxd: Faxd, rel: str, count: int = 1) -> dict[str, Any]:
    """The newest hold report of document `rel`, once `count` of them exist."""
    doc = hold(faxd) / rel

    def found() -> list[Path]:
        reports = sorted(doc.parent.glob(f"{doc.name}.report*.yaml")) if doc.parent.exists() else []
        return reports if len(reports) >= count and doc.exists() else []

    try:
        reports = wait_for(found, 30, f"{rel} held in hold/")
    except AssertionError:
        raise AssertionError(f"not held; daemon log:\n{faxd.log_text()[-3000:]}") from None
    data: dict[str, Any] = yaml.safe_load(max(reports, key=lambda p: p.stat().st_mtime).read_text())
    return data


def test_a_new_number_is_held_released_delivered_and_then_known(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.overrides["new_numbers"] = "hold"
    faxd.start()
    first = pdf("first to a new number")
    faxd.drop("+46855512345/first.pdf", first)
    report = held_report(faxd, "+46855512345/first.pdf")
    assert report["result"] == "held"
    assert "new_numbers: hold" in report["error"]
    assert uploads(sandbox) == {}
    status = cli(faxd, "status")
    assert ", 1 held" in status.stdout, status.stdout + status.stderr

    released = cli(faxd, "release", str(hold(faxd) / "+46855512345" / "first.pdf"))
    assert released.returncode == 0, released.stderr
    assert "+46855512345: remembered" in released.stdout
    assert faxd.report_for("first.pdf")["result"] == "delivered"
    assert (faxd.sent / "+46855512345" / "first.pdf").read_bytes() == first
    assert not (hold(faxd) / "+46855512345" / "first.pdf").exists()
    assert (hold(faxd) / "+46855512345" / "first.pdf.report.yaml").exists()  # the record
    assert ", 0 held" in cli(faxd, "status").stdout

    second = pdf("second to the same number")
    faxd.drop("+46855512345/second.pdf", second)
    assert faxd.report_for("second.pdf")["result"] == "delivered"
    assert uploads(sandbox) == {
        hashlib.sha256(first).hexdigest(): 1,
        hashlib.sha256(second).hexdigest(): 1,
    }


def test_one_digit_off_a_contact_is_held_again_when_moved_back_and_sent_after_release(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    body = pdf("near miss")
    faxd.drop("+46812345679/letter.pdf", body)
    report = held_report(faxd, "+46812345679/letter.pdf")
    assert "did you mean Acme AB, +46812345678?" in report["error"]
    assert report["recipients"][0]["number"] == "+46812345679"

    held = hold(faxd) / "+46812345679" / "letter.pdf"
    back = faxd.spool / "+46812345679" / "letter.pdf"
    held.rename(back)  # moved back unchanged: checked again, held again
    wait_for(lambda: not back.exists(), 30, "the moved-back document taken")
    # Filed beside the first attempt's report, under a number of its own with its report.
    again = held_report(faxd, "+46812345679/letter (2).pdf")
    assert again["job"] != report["job"]
    assert "did you mean Acme AB, +46812345678?" in again["error"]
    assert uploads(sandbox) == {}

    released = cli(faxd, "release", again["job"])
    assert released.returncode == 0, released.stderr
    assert faxd.report_for("letter.pdf")["result"] == "delivered"
    assert uploads(sandbox) == {hashlib.sha256(body).hexdigest(): 1}
    assert cli(faxd, "release", again["job"]).returncode == 2  # released already


def test_a_crash_during_release_still_sends_once(faxd: Faxd, sandbox: SandboxServer) -> None:
    faxd.start()
    body = pdf("crash during release")
    faxd.drop("offer.pdf.yaml", b'to: "+46812345670"\nreference: "Offer 12"\n')
    faxd.drop("offer.pdf", body)
    report = held_report(faxd, "offer.pdf")
    assert "did you mean Acme AB, +46812345678?" in report["error"]

    crashed = cli(faxd, "release", report["job"], FAXD_CRASH_AT="release_between_moves")
    assert crashed.returncode == -signal.SIGKILL
    # The sidecar went back first; alone it is never sent.
    assert (faxd.spool / "offer.pdf.yaml").exists()
    assert (hold(faxd) / "offer.pdf").exists()

    finished = cli(faxd, "release", report["job"])
    assert finished.returncode == 0, finished.stderr
    delivered = faxd.report_for("offer.pdf")
    assert delivered["result"] == "delivered"
    assert delivered["reference"] == "Offer 12"
    assert uploads(sandbox) == {hashlib.sha256(body).hexdigest(): 1}
    assert sorted(p.name for p in faxd.sent.rglob("*") if p.is_file()) == [
        "offer.pdf",
        "offer.pdf.report.yaml",
        "offer.pdf.yaml",
    ]
    assert not (hold(faxd) / "offer.pdf").exists()
    assert not (hold(faxd) / "offer.pdf.yaml").exists()


def test_explain_says_a_document_would_be_held_and_why(faxd: Faxd) -> None:
    faxd.write_config()
    doc = faxd.drop("+46812345677/draft.pdf", pdf("explain"))
    explained = cli(faxd, "explain", str(doc))
    assert explained.returncode == 1
    assert "held:" in explained.stdout
    assert "did you mean Acme AB, +46812345678?" in explained.stdout


class WithContactsFile(Faxd):
    def write_config(self) -> Path:
        path = super().write_config()
        document = yaml.safe_load(path.read_text())
        document["contacts_file"] = str(self.root / "contacts.csv")
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path


def test_contacts_file_is_read_again_on_sighup(tmp_path: Path, sandbox: SandboxServer) -> None:
    faxd = WithContactsFile(root=tmp_path, docs_url=sandbox.docs_base_url)
    book = tmp_path / "contacts.csv"
    book.write_bytes("\ufeffNamn;Fax\r\nBeta AB;08-123 456 11\r\n".encode())
    try:
        faxd.start()
        faxd.drop("Beta AB/a.pdf", pdf("beta"))
        assert faxd.report_for("a.pdf")["recipients"][0]["number"] == "+46812345611"
        book.write_bytes(
            "\ufeffNamn;Fax\r\nBeta AB;08-123 456 11\r\nGamma;08-555 123 45\r\n".encode()
        )
        assert faxd.proc is not None
        faxd.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in faxd.log_text(), 30, "the reload")
        faxd.drop("Gamma/b.pdf", pdf("gamma"))
        assert faxd.report_for("b.pdf")["recipients"][0]["number"] == "+46855512345"
    finally:
        faxd.stop()


def test_release_of_a_held_document_not_yet_filed_in_hold_says_so(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # A file where its subfolder of hold/ goes: the held document cannot be filed there
    # and stays where it was dropped. It was never in hold/, so "no longer in hold/" was
    # not true; and the daemon's filing retry must not make it a failed job meanwhile.
    faxd.overrides["new_numbers"] = "hold"
    in_the_way = hold(faxd) / "+46855512345"
    in_the_way.parent.mkdir()
    in_the_way.write_text("in the way\n")
    faxd.start()
    body = pdf("held, filing blocked")
    dropped = faxd.drop("+46855512345/blocked.pdf", body)
    wait_for(lambda: "could not file the document" in faxd.log_text(), 30, "a failed filing")
    time.sleep(FILING_QUICK_RETRY + 1.5)  # past the daemon's first filing retry
    job_id, state = _job_of(faxd, "+46855512345/blocked.pdf")
    assert state == "held"
    refused = cli(faxd, "release", job_id)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no longer in hold/" not in refused.stderr
    assert f"job {job_id} is held but not filed in hold/ yet" in refused.stderr
    assert f"its document is still at {dropped}" in refused.stderr
    assert "Nothing was released" in refused.stderr and "faxd release again" in refused.stderr
    assert "remembered" not in refused.stdout and dropped.exists()

    in_the_way.unlink()  # filed at the next retry, as held
    assert held_report(faxd, "+46855512345/blocked.pdf")["result"] == "held"
    released = cli(faxd, "release", job_id)
    assert released.returncode == 0, released.stderr
    assert faxd.report_for("blocked.pdf")["result"] == "delivered"
    assert uploads(sandbox) == {hashlib.sha256(body).hexdigest(): 1}
    assert faxd.stop() == 0


def _job_of(faxd: Faxd, rel: str) -> tuple[str, str]:
    db = sqlite3.connect(f"file:{faxd.state / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT id, state FROM jobs WHERE rel_path = ?", (rel,)).fetchone()
    finally:
        db.close()
    assert row is not None, rel
    return str(row[0]), str(row[1])
