"""`faxd retry` against the real daemon: the current report always has the plain name, the
earlier attempts are listed in it (their report files leave failed/), and a sidecar that
arrived after its document failed is used for the retry, and said to be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

from ..records.records_helpers import pdf_text
from .harness import Faxd, files_under, pdf, wait_for

pytestmark = pytest.mark.report_pdfs


def faxd_cli(faxd: Faxd, command: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "faxd", command, "--config", str(faxd.config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def retry(faxd: Faxd, target: Path | str) -> str:
    return faxd_cli(faxd, "retry", str(target))


def test_each_attempt_has_the_plain_report_name_and_lists_the_earlier_ones(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    sandbox.add_fault(
        {"api": "docs", "endpoint": "send", "action": "status", "status": 400, "times": 2}
    )
    faxd.start()
    folder = faxd.failed / "+46812345678"
    report = folder / "again.pdf.report.yaml"
    faxd.drop("+46812345678/again.pdf", pdf("retry-history"))
    first = faxd.report_for("again.pdf")
    assert first["result"] == "failed"
    assert "history" not in first
    # The PDF report is drawn in the background; it leaves failed/ with the YAML one.
    wait_for(report.with_suffix(".pdf").exists, 60, "the first report PDF")

    out = retry(faxd, folder / "again.pdf")
    assert "again.pdf" in out
    assert not report.exists()
    assert not report.with_suffix(".pdf").exists()

    def second_report() -> dict[str, object] | None:
        found = [r for r in faxd.reports(faxd.failed) if r["job"] != first["job"]]
        return found[0] if found else None

    second = wait_for(second_report, 60, "the second attempt's report")
    assert second["_path"] == str(report)  # not "again.pdf.report (2).yaml"
    [earlier] = second["history"]
    assert earlier["job"] == first["job"]
    assert earlier["result"] == "failed"
    assert earlier["error"] == first["error"]
    assert earlier["retried_at"]

    retry(faxd, second["job"])
    sent_report = faxd.sent / "+46812345678" / "again.pdf.report.yaml"
    wait_for(sent_report.exists, 60, "the delivered report")
    delivered = faxd.reports(faxd.sent)[0]
    assert delivered["result"] == "delivered"
    assert [h["job"] for h in delivered["history"]] == [first["job"], second["job"]]
    # The PDF report names them too.
    wait_for(sent_report.with_suffix(".pdf").exists, 60, "the delivered report PDF")
    text = " ".join(pdf_text(sent_report.with_suffix(".pdf")).split())
    assert "Earlier attempt" in text
    assert first["job"] in text and second["job"] in text
    # Nothing is left in failed/ of the two failed attempts: no report beside nothing.
    wait_for(lambda: not list(files_under(faxd.failed)), 30, "an empty failed/")
    assert faxd.stop() == 0
    # `faxd history` points each earlier attempt at the next, not at its removed report.
    history = faxd_cli(faxd, "history", "again.pdf")
    assert f"(retried as {second['job']})" in history, history
    assert f"(retried as {delivered['job']})" in history, history
    assert str(report.with_suffix(".pdf")) not in history
    assert str(sent_report.with_suffix(".pdf")) in history


def test_a_sidecar_that_came_after_the_failure_is_used_by_the_retry(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    # No recipient anywhere: the document fails at once.
    faxd.drop("lonely.pdf", pdf("late-sidecar"))
    failed = faxd.report_for("lonely.pdf")
    assert failed["result"] == "failed"
    assert not (faxd.spool / "lonely.pdf").exists()

    # The sidecar comes late (written a while ago, copied in now).
    hidden = faxd.spool / ".lonely.pdf.yaml.partial"
    hidden.write_text('to: "+46812345678"\n')
    then = time.time() - 3600
    os.utime(hidden, (then, then))
    hidden.rename(faxd.spool / "lonely.pdf.yaml")
    wait_for(
        lambda: "a sidecar arrived after its document had already failed" in faxd.log_text(),
        30,
        "the late sidecar's log line",
    )

    out = retry(faxd, failed["job"])
    assert "a sidecar lonely.pdf.yaml arrived after the document failed" in out.lower()
    assert "used for this retry" in out
    sent_report = faxd.sent / "lonely.pdf.report.yaml"
    wait_for(sent_report.exists, 60, "the delivered report")
    delivered = faxd.reports(faxd.sent)[0]
    assert delivered["result"] == "delivered"
    assert delivered["recipients"][0]["number"] == "+46812345678"
    [earlier] = delivered["history"]
    assert earlier["job"] == failed["job"]
    assert "lonely.pdf.yaml arrived after the document failed" in earlier["note"]
    assert (faxd.sent / "lonely.pdf.yaml").exists()  # filed with its document
    assert faxd.log_text().count("a sidecar arrived after its document had already") == 1
    assert faxd.stop() == 0


def test_retry_refuses_to_choose_between_two_sidecars_and_to_retry_twice(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    (faxd.spool / "twice.pdf.yaml").write_text('to: "+99"\n')  # not a number: fails
    faxd.drop("twice.pdf", pdf("two-sidecars"))
    failed = faxd.report_for("twice.pdf")
    assert failed["result"] == "failed"
    own = faxd.failed / "twice.pdf.yaml"
    assert own.exists()
    (faxd.spool / "twice.pdf.yaml").write_text('to: "+46812345678"\n')

    argv = [sys.executable, "-m", "faxd", "retry", "--config", str(faxd.config_path)]
    refused = subprocess.run([*argv, failed["job"]], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "twice.pdf.yaml arrived after" in refused.stderr
    assert (faxd.failed / "twice.pdf").exists() and own.exists()  # nothing moved

    own.unlink()  # the admin keeps the corrected sidecar
    assert "used for this retry" in retry(faxd, failed["job"])
    wait_for((faxd.sent / "twice.pdf").exists, 60, "the retried document delivered")
    again = subprocess.run([*argv, failed["job"]], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2
    assert "put back for retry already" in again.stderr
    assert faxd.stop() == 0


def test_a_retry_while_a_new_scan_holds_the_name_keeps_its_history(tmp_path: Path) -> None:
    # scan.pdf failed; the next scan.pdf is in flight (held 12 s at the provider), and the
    # one after was moved aside. The retried document must not go back to the name that
    # job still holds: it would be moved aside as a "new version" and lose its history.
    from .harness import for_sandbox

    slow = SandboxServer({"status_delay": 12}).start()
    faxd = for_sandbox(Faxd, tmp_path, slow)
    try:
        slow.add_fault(
            {"api": "docs", "endpoint": "send", "action": "status", "status": 400, "times": 1}
        )
        faxd.start()
        v0, v1, v2 = (pdf(f"scan number {n}") for n in (0, 1, 2))
        path = faxd.drop("+46812345678/scan.pdf", v0)
        first = faxd.report_for("scan.pdf")
        assert first["result"] == "failed"
        path = faxd.drop("+46812345678/scan.pdf", v1)
        wait_for(lambda: slow.stats()["docs"]["accepted"] >= 1, 30, "the upload of v1")
        tmp = path.with_name(".scan.pdf.part")
        tmp.write_bytes(v2)
        tmp.rename(path)
        wait_for(lambda: not path.exists(), 10, "v2 moved aside")
        out = retry(faxd, faxd.failed / "+46812345678" / "scan.pdf")
        assert "scan (3).pdf" in out  # not scan.pdf, which v1's job still holds
        wait_for(lambda: len(faxd.reports(faxd.sent)) == 3, 90, "three documents sent")
        by_name = {Path(r["_path"]).name: r for r in faxd.reports(faxd.sent)}
        retried = by_name["scan (3).pdf.report.yaml"]
        assert [h["job"] for h in retried["history"]] == [first["job"]]
        notes = " ".join(by_name["scan.pdf.report.yaml"].get("notes", []))
        assert "moved to scan (2).pdf" in notes and "scan (3).pdf" not in notes
    finally:
        faxd.stop()
        slow.stop()


def test_a_retry_sends_only_to_the_recipients_not_delivered(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # One of two recipients refused once: the retry must not fax the other a second time.
    sandbox.add_fault(
        {
            "api": "docs",
            "endpoint": "send",
            "action": "status",
            "status": 400,
            "times": 1,
            "match": "301112298",
        }
    )
    faxd.overrides["dft"] = "never"
    faxd.start()
    faxd.drop("+46401234567,+46301112298/both.pdf", pdf("partly delivered"))
    first = faxd.report_for("both.pdf")
    assert first["result"] == "failed"
    assert {r["number"]: r["status"] for r in first["recipients"]}["+46401234567"] != "Failed"

    out = retry(faxd, first["job"])
    assert "not sent again: +46401234567" in out

    wait_for(lambda: faxd.reports(faxd.sent), 60, "the retried document delivered")
    [second] = faxd.reports(faxd.sent)
    assert second["result"] == "delivered"
    assert [r["number"] for r in second["recipients"]] == ["+46301112298"]
    [earlier] = second["history"]
    assert earlier["job"] == first["job"]
    assert earlier["delivered"] == ["+46401234567"]
    assert any("+46401234567 was delivered by job" in n for n in second["notes"])
    sent_to = [t.get("recipient") for t in sandbox.stats()["docs"]["transmissions"].values()]
    assert sent_to.count("+46401234567") == 1
    assert sent_to.count("+46301112298") == 1
    assert faxd.stop() == 0


def test_the_first_attempt_cannot_be_retried_again_once_its_retry_failed_too(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # Both attempts fail and are filed under the same name: a second retry of the first
    # job's id would move the second attempt's document back and delete its report.
    faxd.start()
    faxd.drop("+46812345699/twice.pdf", pdf("retry the old id"))
    first = faxd.report_for("twice.pdf")
    retry(faxd, first["job"])

    def second() -> dict[str, object] | None:
        found = [r for r in faxd.reports(faxd.failed) if r["job"] != first["job"]]
        return found[0] if found else None

    again = wait_for(second, 60, "the retried attempt failed")
    argv = [sys.executable, "-m", "faxd", "retry", "--config", str(faxd.config_path)]
    refused = subprocess.run([*argv, first["job"]], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stdout
    assert f"job {again['job']} was its next attempt" in refused.stderr
    assert "Traceback" not in refused.stderr
    report = faxd.failed / "+46812345699" / "twice.pdf.report.yaml"
    assert report.exists() and (faxd.failed / "+46812345699" / "twice.pdf").exists()
    assert not (faxd.spool / "+46812345699" / "twice.pdf").exists()
    assert "retried" not in faxd_cli(faxd, "history", "twice.pdf").splitlines()[-1]
    assert faxd.stop() == 0


def test_a_failed_job_not_filed_yet_is_not_retried(faxd: Faxd, sandbox: SandboxServer) -> None:
    # A file where its failed/ subfolder belongs keeps the job from being filed: the retry
    # must not say the document went back (it did not move) nor record a retry.
    blocker = faxd.failed / "+46812345699"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    faxd.start()
    path = faxd.drop("+46812345699/early.pdf", pdf("retry before filing"))
    wait_for(lambda: "could not file the document" in faxd.log_text(), 60, "filing refused")
    line = next(x for x in faxd.log_text().splitlines() if "could not file the document" in x)
    job = json.loads(line)["job"]
    argv = [sys.executable, "-m", "faxd", "retry", "--config", str(faxd.config_path)]
    early = subprocess.run([*argv, job], capture_output=True, text=True, timeout=60)
    assert early.returncode == 1, early.stdout
    assert "is not filed in failed/ yet" in early.stderr
    assert path.exists()  # still its job's, not moved

    blocker.unlink()
    faxd.report_for("early.pdf")
    out = retry(faxd, job)
    assert f"-> {path}" in out  # back under its own name, as a first retry
    assert faxd.stop() == 0
