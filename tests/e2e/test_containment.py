"""Containment end to end: nothing outside the spool is read, faxed, quoted or moved, and
faxd sends and files exactly the bytes it checked. The real daemon against the sandbox;
documents are swapped for links to a private file or the credential file at each stage
(settling, queued, uploading, converting, filing), rewritten in place while in flight, or
come with sidecars that are FIFOs, devices or folders."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faxd.sandbox.server import SandboxServer
from tests.image_bombs import png_bomb

from .harness import DOCS_KEY, Faxd, files_under, for_sandbox, pdf, wait_for

pytestmark = pytest.mark.slow

PRIVATE = "PRIVATE-RECORD-of-a-patient-0042"
CREDENTIAL = DOCS_KEY


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def held_sandbox() -> Iterator[SandboxServer]:
    # Transmissions stay "Sending" for 3 s: long enough to change things while in flight.
    server = SandboxServer({"status_delay": 3}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fx(tmp_path: Path, held_sandbox: SandboxServer) -> Iterator[Faxd]:
    instance = for_sandbox(Faxd, tmp_path, held_sandbox)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "record.pdf").write_bytes(pdf(PRIVATE))
    (tmp_path / "private" / "record.txt").write_text(PRIVATE + "\n")
    try:
        yield instance
    finally:
        instance.stop()


def private_dir(fx: Faxd) -> Path:
    return fx.root / "private"


def credential(fx: Faxd) -> Path:
    return fx.root / "credentials" / "docs-api-key"


def uploaded(sandbox: SandboxServer) -> dict[str, int]:
    docs = sandbox.stats()["docs"]["uploads_by_sha256"]
    retarus = sandbox.stats()["retarus"]["uploads_by_sha256"]
    return {**docs, **retarus}


def everything_said(fx: Faxd) -> str:
    """Every report and the daemon's log: nothing private may appear in any of them."""
    reports = [
        p.read_text(errors="replace")
        for where in (fx.sent, fx.failed, fx.spool)
        for p in files_under(where)
        if p.name.endswith(".report.yaml")
    ]
    return "".join(reports) + fx.log_text()


def assert_contained(fx: Faxd, sandbox: SandboxServer) -> None:
    sent = uploaded(sandbox)
    forbidden = {
        sha(pdf(PRIVATE)),
        sha((PRIVATE + "\n").encode()),
        sha(credential(fx).read_bytes()),
    }
    assert not forbidden & set(sent), "a file outside the spool was uploaded"
    said = everything_said(fx)
    assert PRIVATE not in said and CREDENTIAL not in said
    assert "Traceback" not in said and "internal error" not in said
    # Nothing was moved out of the private folder, and the credential is in place.
    assert sorted(p.name for p in private_dir(fx).iterdir()) == ["record.pdf", "record.txt"]
    assert credential(fx).read_text() == CREDENTIAL + "\n"
    assert fx.alive()


def swap_for_link(path: Path, target: Path) -> None:
    tmp = path.with_name(f".{path.name}.swap")
    tmp.symlink_to(target)
    os.rename(tmp, path)  # atomic, as an attacker would


def marker_delivered(fx: Faxd, name: str = "marker.pdf") -> dict[str, Any]:
    """A later document's report: proof the daemon went on past what came before."""
    fx.drop(f"+46812345678/{name}", pdf(name))
    report = fx.report_for(name, timeout=60)
    assert report["result"] == "delivered"
    return report


@pytest.mark.parametrize(
    ("name", "content", "target"),
    [
        ("note.txt", b"hello\n", "credential"),
        ("job.prn", b"%!PS\nshowpage\n", "record.pdf"),
    ],
    ids=["txt-to-credential", "prn-to-private-pdf"],
)
def test_a_document_swapped_for_a_link_while_it_settles_is_never_read(
    fx: Faxd, held_sandbox: SandboxServer, name: str, content: bytes, target: str
) -> None:
    fx.overrides["settle"] = 2.0
    fx.start()
    path = fx.drop(f"+46812345678/{name}", content)
    swap_for_link(path, credential(fx) if target == "credential" else private_dir(fx) / target)
    marker_delivered(fx)
    assert path.is_symlink()  # never followed, never moved
    assert [r["document"] for r in fx.reports()] == ["marker.pdf"]
    assert_contained(fx, held_sandbox)


@pytest.mark.parametrize("stage", ["queued", "uploading"])
def test_a_document_swapped_for_a_link_in_flight_sends_and_files_what_was_checked(
    fx: Faxd, held_sandbox: SandboxServer, stage: str
) -> None:
    # A slow DFT check holds the job queued before its upload; a slow send holds it
    # while it uploads. The swap happens inside that window.
    endpoint = "check_dft" if stage == "queued" else "send"
    held_sandbox.add_fault({"api": "docs", "endpoint": endpoint, "action": "slow", "delay": 3})
    fx.start()
    original = b"the letter as written\n"
    path = fx.drop("+46812345678/letter.txt", original)
    wait_for(lambda: "document queued" in fx.log_text(), 30, "the job")
    if stage == "uploading":
        wait_for(lambda: "uploading" in fx.log_text(), 30, "the upload")
    swap_for_link(path, credential(fx))
    report = fx.report_for("letter.txt", timeout=60)
    assert report["result"] == "delivered"
    assert uploaded(held_sandbox) == {sha(original): 1}
    filed = fx.sent / "+46812345678" / "letter.txt"
    assert filed.read_bytes() == original and not filed.is_symlink()
    assert path.is_symlink()  # the link stays where it was put
    assert_contained(fx, held_sandbox)


def test_a_recipient_folder_swapped_for_a_link_before_filing_moves_nothing_from_outside(
    fx: Faxd, held_sandbox: SandboxServer
) -> None:
    fx.start()
    (private_dir(fx) / "scan.pdf").write_bytes(pdf(PRIVATE))
    (private_dir(fx) / "scan.pdf.yaml").write_text("to: '+46812345678'\n")
    original = pdf("scan")
    fx.drop("+46812345678/scan.pdf", original)
    wait_for(lambda: held_sandbox.stats()["docs"]["accepted"] == 1, 30, "the upload")
    folder = fx.spool / "+46812345678"
    os.rename(folder, fx.root / "moved-away")
    swap_for_link(folder, private_dir(fx))  # holds a scan.pdf and a sidecar of its own
    report = fx.report_for("scan.pdf", timeout=60)
    assert report["result"] == "delivered"
    assert (fx.sent / "+46812345678" / "scan.pdf").read_bytes() == original
    assert (private_dir(fx) / "scan.pdf").read_bytes() == pdf(PRIVATE)
    assert (private_dir(fx) / "scan.pdf.yaml").exists()
    (private_dir(fx) / "scan.pdf").unlink()
    (private_dir(fx) / "scan.pdf.yaml").unlink()
    assert_contained(fx, held_sandbox)


def test_a_document_rewritten_in_place_in_flight_is_moved_aside_and_sent_too(
    fx: Faxd, held_sandbox: SandboxServer
) -> None:
    fx.start()
    v1, v2 = pdf("version one"), pdf("version two, a little longer")
    path = fx.drop("+46812345678/a.pdf", v1)
    wait_for(lambda: held_sandbox.stats()["docs"]["accepted"] == 1, 30, "the first upload")
    with path.open("r+b") as rewrite:  # `cat v2 > a.pdf`: the same inode, new bytes
        rewrite.truncate(0)
        rewrite.write(v2)
    wait_for(lambda: len(fx.reports()) == 2, 90, "both reports")
    assert uploaded(held_sandbox) == {sha(v1): 1, sha(v2): 1}
    by_file = {Path(r["_path"]).name: r for r in fx.reports()}
    assert (fx.sent / "+46812345678" / "a.pdf").read_bytes() == v1
    assert (fx.sent / "+46812345678" / "a (2).pdf").read_bytes() == v2
    assert by_file["a.pdf.report.yaml"]["result"] == "delivered"
    assert any("moved to a (2).pdf" in n for n in by_file["a.pdf.report.yaml"]["notes"])
    assert by_file["a (2).pdf.report.yaml"]["result"] == "delivered"
    assert not path.exists()
    # Each report names the transmission that carried its bytes.
    txs = held_sandbox.stats()["docs"]["transmissions"]
    for report, data in (
        (by_file["a.pdf.report.yaml"], v1),
        (by_file["a (2).pdf.report.yaml"], v2),
    ):
        assert txs[report["recipients"][0]["id"]]["sha256"] == [sha(data)]
    # The copies are removed once filed; the report is written just before that.
    wait_for(lambda: not any((fx.state / "work").glob("*/snap")), 10, "the copies removed")


def test_a_scanner_saving_three_scans_under_one_name_sends_all_three(
    fx: Faxd, held_sandbox: SandboxServer
) -> None:
    # Every scan is saved as scan.pdf, each sooner than the first is sent (3 s).
    fx.start()
    scans = [pdf(f"scan number {n}") for n in (1, 2, 3)]
    path = fx.drop("+46812345678/scan.pdf", scans[0])

    def save(data: bytes) -> None:
        tmp = path.with_name(".scan.pdf.part")
        tmp.write_bytes(data)
        tmp.rename(path)  # over the last scan, as most scanners save

    wait_for(lambda: held_sandbox.stats()["docs"]["accepted"] == 1, 30, "the first upload")
    save(scans[1])
    wait_for(lambda: not path.exists(), 10, "the second scan moved aside")
    assert held_sandbox.stats()["docs"]["accepted"] < 3
    save(scans[2])
    wait_for(lambda: len(fx.reports()) == 3, 90, "three reports")
    assert uploaded(held_sandbox) == {sha(data): 1 for data in scans}
    folder = fx.sent / "+46812345678"
    assert [
        (folder / name).read_bytes() for name in ("scan.pdf", "scan (2).pdf", "scan (3).pdf")
    ] == scans
    assert all(r["result"] == "delivered" for r in fx.reports())
    assert "moved aside" in fx.log_text()
    assert not path.exists()


def test_a_moved_aside_scan_written_back_by_a_share_client_is_not_sent_twice(
    fx: Faxd, held_sandbox: SandboxServer
) -> None:
    # The share's client saw scan.pdf go when faxd moved the second scan aside, and wrote
    # its copy back.
    fx.start()
    scans = [pdf("scan number 1"), pdf("scan number 2")]
    path = fx.drop("+46812345678/scan.pdf", scans[0])

    def save(data: bytes) -> None:
        tmp = path.with_name(".scan.pdf.part")
        tmp.write_bytes(data)
        tmp.rename(path)

    wait_for(lambda: held_sandbox.stats()["docs"]["accepted"] == 1, 30, "the first upload")
    save(scans[1])
    wait_for(lambda: not path.exists(), 10, "the second scan moved aside")
    save(scans[1])
    wait_for(lambda: len(fx.reports()) == 2, 90, "two reports")
    wait_for(lambda: not path.exists(), 10, "the copy written back filed")
    assert uploaded(held_sandbox) == {sha(data): 1 for data in scans}
    folder = fx.sent / "+46812345678"
    assert (folder / "scan.pdf").read_bytes() == scans[0]
    assert (folder / "scan (2).pdf").read_bytes() == scans[1]
    assert (folder / "scan (2) (saved again).pdf").read_bytes() == scans[1]
    by_file = {Path(r["_path"]).name: r for r in fx.reports()}
    notes = " ".join(by_file["scan.pdf.report.yaml"]["notes"])
    assert "saved again with the bytes of scan (2).pdf" in notes
    time.sleep(1.5)  # settle and more: the name is free, nothing is taken from it
    assert held_sandbox.stats()["docs"]["accepted"] == 2


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "credential-link"])
def test_a_sidecar_that_is_no_regular_file_fails_its_document_and_nothing_else(
    fx: Faxd, held_sandbox: SandboxServer, kind: str
) -> None:
    fx.start()
    sidecar = fx.spool / "memo.pdf.yaml"
    if kind == "fifo":
        os.mkfifo(sidecar)
    elif kind == "dev-zero":
        sidecar.symlink_to("/dev/zero")
    elif kind == "directory":
        sidecar.mkdir()
    else:
        sidecar.symlink_to(credential(fx))
    fx.drop("memo.pdf", pdf("memo"))
    report = fx.report_for("memo.pdf", timeout=60)
    assert report["result"] == "failed"
    assert "memo.pdf.yaml" in report["error"]
    assert "regular file" in report["error"] or "symbolic link" in report["error"]
    marker_delivered(fx)
    assert "not healthy" not in fx.log_text()
    assert os.path.lexists(sidecar)  # never moved
    assert_contained(fx, held_sandbox)


def test_a_decompression_bomb_to_retarus_fails_with_a_report(
    fx: Faxd, held_sandbox: SandboxServer
) -> None:
    fx.folders = [{"path": str(fx.spool), "provider": "retarus", "to": "+4930123456"}]
    fx.start()
    fx.drop("bomb.png", png_bomb(rgb=True))
    report = fx.report_for("bomb.png", timeout=60)
    assert report["result"] == "failed"
    assert "13000 x 13000 pixels" in str(report["error"])
    assert held_sandbox.stats()["retarus"]["accepted"] == 0
    assert fx.proc is not None
    status = Path(f"/proc/{fx.proc.pid}/status").read_text()
    peak_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]
    )
    assert peak_kib < 250 * 1024, f"the daemon peaked at {peak_kib // 1024} MiB"
    assert fx.alive()
