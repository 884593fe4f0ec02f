"""The real daemon against the sandbox: every addressing rule, DFT and fax, delivered
and failed, reports read back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, pdf, wait_for


def uploads(sandbox: SandboxServer) -> dict[str, int]:
    stats = sandbox.stats()
    return dict(stats["docs"]["uploads_by_sha256"])


def accepted_count(sandbox: SandboxServer) -> int:
    return sum(uploads(sandbox).values())


def test_subfolder_number_is_faxed_and_filed_with_its_report(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    faxd.drop("+46812345678/invoice-4711.pdf", pdf("invoice"))
    report = faxd.report_for("invoice-4711.pdf")
    assert report["result"] == "delivered"
    assert report["provider"] == "docs"
    assert report["error"] is None
    [recipient] = report["recipients"]
    assert recipient["number"] == "+46812345678"
    assert recipient["method"] == "fax"
    assert recipient["status"] == "Received"
    assert recipient["attempts"] == 1
    assert recipient["id"]
    assert (faxd.sent / "+46812345678" / "invoice-4711.pdf").read_bytes() == pdf("invoice")
    assert Path(report["_path"]) == faxd.sent / "+46812345678" / "invoice-4711.pdf.report.yaml"
    assert not (faxd.spool / "+46812345678" / "invoice-4711.pdf").exists()
    assert accepted_count(sandbox) == 1


def test_dft_capable_recipient_gets_the_original_by_dft(faxd: Faxd) -> None:
    faxd.start()
    faxd.drop("+46812345611/plan.pdf", pdf("plan"))
    report = faxd.report_for("plan.pdf")
    assert report["result"] == "delivered"
    assert report["recipients"][0]["method"] == "dft"


def test_dft_never_faxes_even_a_dft_capable_recipient(faxd: Faxd) -> None:
    faxd.overrides["dft"] = "never"
    faxd.start()
    faxd.drop("+46812345611/plan.pdf", pdf("never"))
    report = faxd.report_for("plan.pdf")
    assert report["recipients"][0]["method"] == "fax"


def test_failing_number_lands_in_failed_with_the_providers_word(faxd: Faxd) -> None:
    faxd.start()
    faxd.drop("+46812345699/letter.pdf", pdf("letter"))
    report = faxd.report_for("letter.pdf")
    assert report["result"] == "failed"
    assert report["recipients"][0]["status"] == "Failed"
    assert report["error"]
    assert (faxd.failed / "+46812345699" / "letter.pdf").exists()


def test_contact_name_national_number_and_several_numbers(faxd: Faxd) -> None:
    faxd.start()
    faxd.drop("Acme AB/a.pdf", pdf("a"))
    faxd.drop("08-123 456 11/b.pdf", pdf("b"))
    faxd.drop("+46812345678;+46812345611/c.pdf", pdf("c"))
    a = faxd.report_for("a.pdf")
    b = faxd.report_for("b.pdf")
    c = faxd.report_for("c.pdf")
    assert [r["number"] for r in a["recipients"]] == ["+46812345678"]
    assert [r["number"] for r in b["recipients"]] == ["+46812345611"]
    assert [r["number"] for r in c["recipients"]] == ["+46812345678", "+46812345611"]
    assert [r["method"] for r in c["recipients"]] == ["fax", "dft"]
    assert (faxd.sent / "Acme AB" / "a.pdf").exists()


def test_sidecar_wins_over_the_subfolder_and_travels_with_the_document(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    (faxd.spool / "+46812345678").mkdir()
    sidecar = faxd.spool / "+46812345678" / "offer.pdf.yaml"
    sidecar.write_text('to: "+46 8 123 456 11"\nreference: "Offer 12"\ndft: false\n')
    faxd.drop("+46812345678/offer.pdf", pdf("offer"))
    report = faxd.report_for("offer.pdf")
    assert report["reference"] == "Offer 12"
    assert [r["number"] for r in report["recipients"]] == ["+46812345611"]
    assert report["recipients"][0]["method"] == "fax"
    assert (faxd.sent / "+46812345678" / "offer.pdf.yaml").exists()
    assert not sidecar.exists()


def test_sidecar_arriving_after_its_document_still_counts(faxd: Faxd) -> None:
    faxd.overrides["sidecar_wait"] = 2.0
    faxd.start()
    faxd.drop("late.pdf", pdf("late"))
    (faxd.spool / "late.pdf.yaml").write_text('to: ["+46812345678"]\n')
    report = faxd.report_for("late.pdf")
    assert report["result"] == "delivered"
    assert report["addressed_by"] == "sidecar"


def test_attachments_go_in_the_same_transmission(faxd: Faxd, sandbox: SandboxServer) -> None:
    faxd.start()
    faxd.drop("terms.pdf", pdf("terms"))
    faxd.drop("order.pdf.yaml", b'to: "+46812345678"\nattach: [terms.pdf]\n')
    faxd.drop("order.pdf", pdf("order"))
    report = faxd.report_for("order.pdf")
    assert report["result"] == "delivered"
    assert report["attachments"] == ["terms.pdf"]
    assert (faxd.sent / "terms.pdf").exists()
    assert (faxd.sent / "order.pdf.yaml").exists()
    assert accepted_count(sandbox) == 2  # two files, one transmission
    assert len(faxd.reports()) == 1


def test_folder_default_recipients(tmp_path: Path, faxd: Faxd) -> None:
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    faxd.folders = [{"path": str(faxd.spool)}, {"path": str(scanner), "to": "+46812345678"}]
    faxd.start()
    (scanner / "scan0001.pdf").write_bytes(pdf("scan"))
    report = faxd.report_for("scan0001.pdf")
    assert report["addressed_by"] == "folder"
    # defaults' sent_dir serves two spool folders: each files into a subfolder of its name.
    assert (faxd.sent / "scanner" / "scan0001.pdf").exists()


def test_no_recipient_and_bad_sidecar_fail_without_an_upload(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    faxd.drop("nobody.pdf", pdf("nobody"))
    faxd.drop("typo.pdf.yaml", b'too: "+46812345678"\n')
    faxd.drop("typo.pdf", pdf("typo"))
    faxd.drop("Nobody Known/x.pdf", pdf("x"))
    nobody = faxd.report_for("nobody.pdf")
    typo = faxd.report_for("typo.pdf")
    unknown = faxd.report_for("x.pdf")
    assert nobody["result"] == "failed" and "recipient" in nobody["error"]
    assert typo["result"] == "failed" and "too" in typo["error"]
    assert unknown["result"] == "failed" and "Nobody Known" in unknown["error"]
    assert (faxd.failed / "typo.pdf.yaml").exists()
    assert accepted_count(sandbox) == 0
    assert sandbox.stats()["docs"]["send_requests"] == 0
    assert faxd.alive()


def test_content_checks_fail_before_any_upload(faxd: Faxd, sandbox: SandboxServer) -> None:
    faxd.start()
    faxd.drop("+46812345678/empty.pdf", b"")
    faxd.drop("+46812345678/fake.pdf", b"this is not a pdf at all")
    faxd.drop("+46812345678/tool.exe", b"MZ\x90\x00")
    faxd.drop(
        "+46812345678/locked.pdf", pdf("x").replace(b"trailer\n<<", b"trailer\n<< /Encrypt 9 0 R")
    )
    faxd.drop("+46812345678/cut.pdf", pdf("cut")[:-30])
    for name in ("empty.pdf", "fake.pdf", "tool.exe", "locked.pdf", "cut.pdf"):
        report = faxd.report_for(name)
        assert report["result"] == "failed", name
        assert report["error"], name
    assert sandbox.stats()["docs"]["send_requests"] == 0
    assert faxd.alive()


def test_junk_and_special_files_are_never_touched(faxd: Faxd, tmp_path: Path) -> None:
    faxd.start()
    box = faxd.spool / "+46812345678"
    box.mkdir()
    junk = [
        "Thumbs.db",
        "desktop.ini",
        ".DS_Store",
        "._x.pdf",
        "~$x.docx",
        ".~lock.x#",
        "a.tmp",
        "b.part",
        "c.crdownload",
        "d.swp",
        "e.pdf~",
    ]
    for name in junk:
        (box / name).write_bytes(pdf(name))
    outside = tmp_path / "secret.pdf"
    outside.write_bytes(pdf("secret"))
    (box / "link.pdf").symlink_to(outside)
    os.mkfifo(box / "pipe.pdf")
    (box / "folder.pdf").mkdir()
    faxd.drop("+46812345678/real.pdf", pdf("real"))
    faxd.report_for("real.pdf")
    for name in [*junk, "link.pdf", "pipe.pdf", "folder.pdf"]:
        assert (box / name).exists() or (box / name).is_symlink(), name
    assert not any(p.name in junk for p in faxd.sent.rglob("*"))
    assert faxd.alive()


def test_hard_linked_file_is_refused(faxd: Faxd, tmp_path: Path) -> None:
    faxd.start()
    original = tmp_path / "original.pdf"
    original.write_bytes(pdf("hard"))
    (faxd.spool / "+46812345678").mkdir()
    os.link(original, faxd.spool / "+46812345678" / "hard.pdf")
    report = faxd.report_for("hard.pdf")
    assert report["result"] == "failed"
    assert "hard link" in report["error"]


def test_a_hard_linked_sidecar_is_refused_with_its_document(faxd: Faxd, tmp_path: Path) -> None:
    # A second name for a file elsewhere: its lines would address (and be quoted in the
    # report of) a fax its owner never handed in.
    faxd.start()
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("to: '+46812345678'\n")
    (faxd.spool / "outbox").mkdir()
    os.link(elsewhere, faxd.spool / "outbox" / "memo.pdf.yaml")
    faxd.drop("outbox/memo.pdf", pdf("memo"))
    report = faxd.report_for("memo.pdf")
    assert report["result"] == "failed"
    assert "memo.pdf.yaml has 2 hard links" in report["error"]
    assert elsewhere.read_text() == "to: '+46812345678'\n"


def test_nothing_is_overwritten_in_sent(faxd: Faxd) -> None:
    (faxd.sent / "+46812345678").mkdir(parents=True)
    (faxd.sent / "+46812345678" / "a.pdf").write_bytes(b"older")
    faxd.start()
    faxd.drop("+46812345678/a.pdf", pdf("a-new"))
    report = faxd.sent / "+46812345678" / "a (2).pdf.report.yaml"
    wait_for(report.exists, 30, "the report of a (2).pdf")
    assert (faxd.sent / "+46812345678" / "a.pdf").read_bytes() == b"older"
    assert (faxd.sent / "+46812345678" / "a (2).pdf").read_bytes() == pdf("a-new")
    assert (faxd.sent / "+46812345678" / "a (2).pdf.report.yaml").exists()


def test_files_waiting_at_start_are_sent(faxd: Faxd, sandbox: SandboxServer) -> None:
    for i in range(5):
        faxd.drop(f"+46812345678/early-{i}.pdf", pdf(f"early-{i}"))
    faxd.start()
    for i in range(5):
        assert faxd.report_for(f"early-{i}.pdf")["result"] == "delivered"
    assert sorted(uploads(sandbox).values()) == [1] * 5


def test_a_failed_document_moved_back_is_sent_again(faxd: Faxd) -> None:
    faxd.start()
    faxd.drop("nowhere.pdf", pdf("again"))
    assert faxd.report_for("nowhere.pdf")["result"] == "failed"
    target = faxd.spool / "+46812345678"
    target.mkdir()
    shutil.move(faxd.failed / "nowhere.pdf", target / "nowhere.pdf")
    wait_for(lambda: (faxd.sent / "+46812345678" / "nowhere.pdf").exists(), 30, "resent")


def test_a_file_written_into_a_brand_new_subfolder_is_seen(faxd: Faxd) -> None:
    faxd.start()
    deep = faxd.spool / "+46812345678" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "deep.pdf").write_bytes(pdf("deep"))
    report = faxd.report_for("deep.pdf")
    assert report["result"] == "delivered"
    assert (faxd.sent / "+46812345678" / "a" / "b" / "deep.pdf").exists()


def test_growing_file_is_sent_only_once_complete(faxd: Faxd, sandbox: SandboxServer) -> None:
    import hashlib
    import time

    faxd.overrides["settle"] = 1.0
    faxd.start()
    (faxd.spool / "+46812345678").mkdir()
    path = faxd.spool / "+46812345678" / "growing.pdf"
    body = pdf("growing")
    with path.open("wb") as handle:
        handle.write(body[:20])
        handle.flush()
        for i in range(8):
            time.sleep(0.4)
            handle.write((b"%% padding line %d\n" % i) * 200)
            handle.flush()
        handle.write(body[20:])
    final = path.read_bytes()
    faxd.report_for("growing.pdf")
    assert uploads(sandbox) == {hashlib.sha256(final).hexdigest(): 1}


def test_more_uploads_at_once_than_ten_keep_their_connections(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # A session used to keep 10 connections whatever `concurrency` said: the 11th request
    # at once opened a connection, closed it after the answer, and logged a warning.
    concurrency = 14
    faxd.overrides["concurrency"] = concurrency
    sandbox.add_fault(
        {"api": "docs", "endpoint": "send", "action": "slow", "delay": 0.5, "times": "always"}
    )
    faxd.start()
    names = [f"burst-{i:02d}.pdf" for i in range(3 * concurrency)]
    for name in names:
        faxd.drop(f"+46812345678/{name}", pdf(name))
    for name in names:
        assert faxd.report_for(name, timeout=60)["result"] == "delivered"
    assert accepted_count(sandbox) == len(names)
    # Uploads, status queries and DFT checks share the pool: it holds them all.
    assert "Connection pool is full" not in faxd.log_text()
