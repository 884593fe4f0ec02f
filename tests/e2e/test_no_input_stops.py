"""No input stops the service: file names up to NAME_MAX, folders that are missing or go
away, and filing that fails — each is handled, and faxd (and every restart) runs on."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from faxd.host.folder_claims import CLAIM_NAME
from faxd.sandbox.server import SandboxServer

from .harness import Faxd, files_under, pdf, wait_for

pytestmark = pytest.mark.slow

TO = "+46812345678"


def _long_names() -> list[str]:
    """Every length from 200 to 255 bytes, ending in a counter so no two share a prefix
    that a shortened name would keep; multi-byte names at the limit; one refused type."""
    names = ["d" * (n - 7) + f"{n:03d}.pdf" for n in range(200, 256)]
    names.append("ä" * 125 + ".pdf")  # 254 bytes in 129 characters
    names.append("€" * 83 + ".pdf")  # 253 bytes, no ASCII at all
    names.append("x" * 250 + ".xyz")  # 254 bytes, a type no provider takes: refused
    return names


def _json_lines(faxd: Faxd) -> list[dict[str, object]]:
    return [json.loads(line) for line in faxd.log_path.read_bytes().splitlines()]


def run_once(faxd: Faxd, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    faxd.write_config()
    return subprocess.run(
        [sys.executable, "-m", "faxd", "run", "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_every_name_length_up_to_name_max_is_sent_or_refused_and_restarts_live(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    names = _long_names()
    box = faxd.spool / TO
    box.mkdir(parents=True)
    # Half are there at start (the start-up scan), half arrive while it runs.
    early, late = names[::2], names[1::2]
    for name in early:
        (box / name).write_bytes(pdf(name))
    faxd.start()
    for name in late:
        (box / name).write_bytes(pdf(name))
    wait_for(lambda: len(faxd.reports()) == len(names), 120, "every long-named document's report")
    assert faxd.alive()
    delivered = {faxd.sent / TO / n for n in names[:-1]}
    assert all(p.is_file() for p in delivered)
    assert (faxd.failed / TO / names[-1]).is_file()
    reports = faxd.reports()
    assert sorted(r["document"] for r in reports) == sorted(names)
    by_name = {r["document"]: r for r in reports}
    assert by_name[names[-1]]["result"] == "failed"
    assert all(by_name[n]["result"] == "delivered" for n in names[:-1])
    for report in reports:
        assert len(Path(report["_path"]).name.encode()) <= 255
    # Names cut to fit keep their end, so each report still says which document it is.
    assert len({Path(r["_path"]).name for r in reports}) == len(names)
    assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1] * (len(names) - 1)
    # A restart with more of them waiting lives too.
    assert faxd.stop() == 0
    for name in early:
        (box / name).write_bytes(pdf(name + "-again"))
    faxd.start()
    wait_for(lambda: len(faxd.reports()) == len(names) + len(early), 120, "the second reports")
    assert faxd.alive()
    assert faxd.stop() == 0
    lines = _json_lines(faxd)
    # (watchdog's own complaint about events after its stop is not faxd's.)
    assert not [
        line
        for line in lines
        if line.get("level") in ("error", "critical")
        and not str(line.get("logger", "")).startswith("watchdog")
    ]
    assert "internal error" not in faxd.log_text()


def test_a_missing_spool_folder_is_created_when_its_parent_is_there(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    abroad = faxd.root / "abroad"
    faxd.folders = [{"path": str(faxd.spool)}, {"path": str(abroad), "to": TO}]
    faxd.start()
    wait_for(abroad.is_dir, 30, "the missing folder to be created")
    (abroad / "letter.pdf").write_bytes(pdf("abroad"))
    assert faxd.report_for("letter.pdf")["result"] == "delivered"
    created = [
        line
        for line in _json_lines(faxd)
        if line.get("event") == "created a missing folder named in the configuration"
    ]
    assert str(abroad) in {line["folder"] for line in created}
    assert faxd.stop() == 0


def test_a_spool_folder_under_a_missing_parent_is_one_configuration_error(
    faxd: Faxd,
) -> None:
    nowhere = faxd.root / "nas" / "fax" / "abroad"
    faxd.folders = [{"path": str(faxd.spool)}, {"path": str(nowhere)}]
    done = run_once(faxd)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert f"{nowhere} does not exist, nor does the folder {nowhere.parent}" in done.stderr
    assert not (faxd.root / "nas").exists()  # nothing created under a missing parent
    check = subprocess.run(
        [sys.executable, "-m", "faxd", "check-config", "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode != 0
    assert f"{nowhere} does not exist, nor does the folder" in check.stderr


def test_a_filing_error_never_stops_a_start_and_the_job_is_filed_once_it_can_be(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # A file where the sent/ subfolder would be: the filing fails, as with an unwritable
    # folder (which root, running these tests, could write anyway).
    blocker = faxd.sent / TO
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    faxd.start()
    doc = faxd.drop(f"{TO}/blocked.pdf", pdf("blocked"))
    wait_for(lambda: "could not file the document" in faxd.log_text(), 60, "the filing error")
    assert faxd.alive()
    assert doc.is_file()  # still in the spool, not lost
    assert faxd.stop() == 0
    # The next start finds the unfiled job: it logs it and runs (it used to exit 1).
    faxd.start()
    wait_for(lambda: faxd.log_text().count("faxd is running") == 2, 60, "the restart")
    time.sleep(1)
    assert faxd.alive()
    assert faxd.stop() == 0
    errors = [
        line
        for line in _json_lines(faxd)
        if str(line.get("event", "")).startswith("could not file the document")
    ]
    assert errors and all("[Errno" not in str(line["error"]) for line in errors)
    # Once the folder can be written, the job is filed (at the next start at the latest),
    # and it was uploaded exactly once.
    blocker.unlink()
    faxd.start()
    assert faxd.report_for("blocked.pdf")["result"] == "delivered"
    assert not doc.exists()
    assert list(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1]
    assert faxd.stop() == 0


def test_a_spool_that_goes_away_with_documents_in_flight_is_an_outage(
    tmp_path: Path,
) -> None:
    # Slow final statuses: the documents are in flight when their folder goes away.
    with SandboxServer({"status_delay": 4.0}) as sandbox:
        faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
        faxd.start()
        try:
            for i in range(3):
                faxd.drop(f"{TO}/inflight-{i}.pdf", pdf(f"inflight-{i}"))
            wait_for(lambda: sandbox.stats()["docs"]["send_requests"] >= 3, 30, "three uploads")
            away = tmp_path / "spool.unmounted"
            faxd.spool.rename(away)
            # The provider finishes them while the folder is away: nothing is filed, and
            # nothing is created where the folder was.
            time.sleep(8)
            assert faxd.alive()
            assert not faxd.spool.exists()
            assert not faxd.reports()
            assert sorted(p.name for p in (away / TO).iterdir()) == [
                f"inflight-{i}.pdf" for i in range(3)
            ]
            away.rename(faxd.spool)
            for i in range(3):
                report = faxd.report_for(f"inflight-{i}.pdf", timeout=120)
                assert report["result"] == "delivered"
                assert "notes" not in report, report
            assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1, 1]
            # Nothing left but faxd's claim on the folder, which came back with it.
            assert [p.name for p in files_under(faxd.spool)] == [CLAIM_NAME]
            log = faxd.log_text()
            assert "no longer in the spool" not in log
            assert log.count("spool folder is missing") <= 1  # said once, not every rescan
            warnings = [
                line
                for line in _json_lines(faxd)
                if str(line.get("event", "")).startswith("could not file the document")
            ]
            # Said once per document, not at every retry.
            assert len(warnings) == 3
            assert all("not there" in str(line["error"]) for line in warnings)
        finally:
            faxd.stop()


def _nest(folder: Path, depth: int) -> None:
    """`depth` folders named d, one inside the other, each made relative to the one before
    (as a program that walks down with descriptors would)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def _unnest(folder: Path) -> None:
    """Remove what _nest made, a level at a time from the top: rmtree recurses."""
    top = folder / "d"
    while top.is_dir():
        husk = folder / "husk"
        top.rename(husk)
        if (husk / "d").is_dir():
            (husk / "d").rename(top)
        husk.rmdir()


def test_a_folder_tree_too_deep_to_watch_costs_one_restart_then_rescans_find_documents(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    box = faxd.spool / TO
    box.mkdir(parents=True)
    faxd.start()
    try:
        faxd.drop(f"{TO}/before.pdf", pdf("before"))
        assert faxd.report_for("before.pdf")["result"] == "delivered"
        # Watching the new tree ends the reader thread of that folder's watch (watchdog
        # adds watches by recursion): faxd notices and stops, for systemd to restart it.
        _nest(box, 1200)
        # Alone it stops within 6 s; the watch's recursion through 1,200 levels and the
        # 5 s wait for the intake thread both stretch on a loaded machine (CI timed out
        # at 30 s).
        wait_for(lambda: not faxd.alive(), 90, "faxd to stop")
        assert faxd.stop() == 1
        assert f"the watcher of {faxd.spool} is not running" in faxd.log_text()
        # Restarted, it does not end at every start: the folder is found by its rescans.
        faxd.start()
        wait_for(
            lambda: "nested too deep to be watched" in faxd.log_text(), 30, "the folder's error"
        )
        faxd.drop(f"{TO}/after.pdf", pdf("after"))
        assert faxd.report_for("after.pdf", timeout=60)["result"] == "delivered"
        assert faxd.alive()
        assert "internal error" not in faxd.log_text()
    finally:
        faxd.stop()
        _unnest(box)
    assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1]


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    # Unbuffered: a buffered file would flush what did not fit again on close, and raise
    # the full disk's error from the end of the with block.
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


@pytest.fixture
def small_state_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the state directory needs root")
    disk = tmp_path / "state"
    try:
        _mount_tmpfs(disk, "16m")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("this machine does not let us mount a tmpfs")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _status(faxd: Faxd) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "faxd", "status", "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _provider_requests(sandbox: SandboxServer) -> int:
    return sum(sandbox.stats()["docs"]["requests"].values())


def test_a_full_state_disk_pauses_sending_says_so_once_and_resumes(
    small_state_disk: Path, tmp_path: Path
) -> None:
    # Slow final statuses: documents are in flight (polled for their status) when the
    # disk fills, and their final status cannot be recorded.
    with SandboxServer({"status_delay": 3.0}) as sandbox:
        faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
        faxd.start()
        try:
            for i in range(5):
                faxd.drop(f"{TO}/flying-{i}.pdf", pdf(f"flying-{i}"))
            wait_for(lambda: sandbox.stats()["docs"]["send_requests"] >= 5, 30, "the uploads")
            filler = _fill(small_state_disk)
            for i in range(40):
                faxd.drop(f"{TO}/full-{i:02d}.pdf", pdf(f"full-{i}"))
            wait_for(lambda: "journal write failed" in faxd.log_text(), 60, "the full disk")
            time.sleep(5)
            requests_while_full = _provider_requests(sandbox)
            time.sleep(5)
            assert faxd.alive()
            # Nothing spins: no upload or status query per failed write (a spinning engine
            # made hundreds a second).
            assert _provider_requests(sandbox) - requests_while_full <= 4
            assert faxd.log_text().count("journal write failed") == 1
            # `faxd status` reads the journal the daemon cannot write: without its own
            # look at the disk it showed "0 queued" and nothing wrong.
            said = _status(faxd)
            assert f"the journal's folder {small_state_disk} has " in said
            assert "KiB free: faxd can record nothing" in said
            ours = ("faxd.outbound", "faxd.service.daemon", "faxd.store.journal")
            assert not [
                line
                for line in _json_lines(faxd)
                if "exception" in line and str(line.get("logger", "")).startswith(ours)
            ]
            filler.unlink()
            names = [f"flying-{i}.pdf" for i in range(5)] + [f"full-{i:02d}.pdf" for i in range(40)]
            for name in names:
                assert faxd.report_for(name, timeout=120)["result"] == "delivered"
            uploads = sandbox.stats()["docs"]["uploads_by_sha256"]
            assert sorted(uploads.values()) == [1] * 45
            # Said once too, after writes have gone through for a while.
            wait_for(
                lambda: "the journal can be written again" in faxd.log_text(), 60, "the all-clear"
            )
            assert faxd.log_text().count("the journal can be written again") == 1
            assert "journal's folder" not in _status(faxd)
        finally:
            faxd.stop()


def test_a_damaged_journal_is_one_sentence_naming_the_file(faxd: Faxd) -> None:
    faxd.state.mkdir()
    journal = faxd.state / "journal.sqlite"
    journal.write_bytes(b"this is not an SQLite database, it was overwritten" * 100)
    done = run_once(faxd)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert f"the journal {journal} is damaged" in done.stderr
    assert "move the file aside" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unmounted_share_leaving_its_empty_mount_point_is_an_outage(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    # The share is a file system of its own (a tmpfs standing in for the NAS), bound onto
    # the spool path as a client mounts it.
    share = tmp_path / "nas-export"
    _mount_tmpfs(share, "8m")
    with SandboxServer({"status_delay": 4.0}) as sandbox:
        faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
        # sent/ and failed/ on the share too: files move by rename, on one file system.
        faxd.overrides.update(
            {"sent_dir": str(faxd.spool / "sent"), "failed_dir": str(faxd.spool / "failed")}
        )
        faxd.spool.mkdir()
        subprocess.run(["mount", "--bind", str(share), str(faxd.spool)], check=True)
        mounted = True
        faxd.start()
        try:
            for i in range(3):
                faxd.drop(f"{TO}/nas-{i}.pdf", pdf(f"nas-{i}"))
            wait_for(lambda: sandbox.stats()["docs"]["send_requests"] >= 3, 30, "three uploads")
            # The share goes away; its mount point stays behind as an empty folder.
            subprocess.run(["umount", "-l", str(faxd.spool)], check=True)
            mounted = False
            time.sleep(8)
            assert faxd.alive()
            assert not list(faxd.spool.iterdir())  # nothing created on the bare mount point
            subprocess.run(["mount", "--bind", str(share), str(faxd.spool)], check=True)
            mounted = True
            sent = faxd.spool / "sent" / TO
            for i in range(3):
                path = sent / f"nas-{i}.pdf.report.yaml"
                wait_for(path.exists, 120, f"the report of nas-{i}.pdf")
                report = yaml.safe_load(path.read_text())
                assert report["result"] == "delivered"
                assert "notes" not in report, report
                assert (sent / f"nas-{i}.pdf").is_file()
            assert not list((faxd.spool / TO).iterdir())
            assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1, 1]
        finally:
            faxd.stop()
            if mounted:
                subprocess.run(["umount", "-l", str(faxd.spool)], check=False)
            subprocess.run(["umount", "-l", str(share)], check=False)


def test_nothing_is_taken_from_a_share_s_bare_mount_point_even_over_a_restart(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    share = tmp_path / "nas-export"
    _mount_tmpfs(share, "8m")
    with SandboxServer({"status_delay": 4.0}) as sandbox:
        faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
        faxd.overrides.update(
            {"sent_dir": str(faxd.spool / "sent"), "failed_dir": str(faxd.spool / "failed")}
        )
        faxd.spool.mkdir()
        subprocess.run(["mount", "--bind", str(share), str(faxd.spool)], check=True)
        mounted = True
        faxd.start()
        try:
            faxd.drop(f"{TO}/nas.pdf", pdf("nas"))
            wait_for(lambda: sandbox.stats()["docs"]["send_requests"] >= 1, 30, "the upload")
            subprocess.run(["umount", "-l", str(faxd.spool)], check=True)
            mounted = False
            # Saved where the share was: it lies under the share once it is back, and a
            # fax sent from there would be filed as "no longer in the spool folder".
            faxd.drop(f"{TO}/bare.pdf", pdf("bare"))
            time.sleep(8)  # past a rescan (every 5 s here)
            assert sandbox.stats()["docs"]["send_requests"] == 1
            assert "bare mount point" in faxd.log_text()
            # nas.pdf's job waits to be filed on the share: a start keeps holding the folder.
            assert faxd.stop() == 0
            faxd.start()
            wait_for(lambda: faxd.log_text().count("faxd is running") == 2, 30, "the restart")
            time.sleep(6)
            assert faxd.alive()
            assert sandbox.stats()["docs"]["send_requests"] == 1
            # Neither taken nor claimed: no .faxd.lock, no sent/ on the bare mount point.
            assert [p.name for p in files_under(faxd.spool)] == ["bare.pdf"]
            subprocess.run(["mount", "--bind", str(share), str(faxd.spool)], check=True)
            mounted = True
            faxd.drop(f"{TO}/after.pdf", pdf("after"))
            sent = faxd.spool / "sent" / TO
            for name in ("nas.pdf", "after.pdf"):
                path = sent / f"{name}.report.yaml"
                wait_for(path.exists, 120, f"the report of {name}")
                report = yaml.safe_load(path.read_text())
                assert report["result"] == "delivered"
                assert "notes" not in report, report
            assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1]
        finally:
            faxd.stop()
            if mounted:
                subprocess.run(["umount", "-l", str(faxd.spool)], check=False)
            subprocess.run(["umount", "-l", str(share)], check=False)
    assert (faxd.spool / TO / "bare.pdf").read_bytes() == pdf("bare")  # never sent


def test_a_share_mounted_again_as_another_file_system_is_taken_without_a_restart(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounts need root")
    # A network share gets another device number at each mount: a second tmpfs holding a
    # copy of the first one's files, bound onto the spool path, stands in for it.
    share = tmp_path / "nas-export"
    _mount_tmpfs(share, "8m")
    again = tmp_path / "nas-export-again"
    spool = tmp_path / "spool"
    mounted = False
    try:
        with SandboxServer({"status_delay": 4.0}) as sandbox:
            faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
            assert faxd.spool == spool
            faxd.overrides.update(
                {"sent_dir": str(spool / "sent"), "failed_dir": str(spool / "failed")}
            )
            spool.mkdir()
            subprocess.run(["mount", "--bind", str(share), str(spool)], check=True)
            mounted = True
            faxd.start()
            try:
                for i in range(2):
                    faxd.drop(f"{TO}/nas-{i}.pdf", pdf(f"nas-{i}"))
                wait_for(lambda: sandbox.stats()["docs"]["send_requests"] >= 2, 30, "the uploads")
                subprocess.run(["umount", "-l", str(faxd.spool)], check=True)
                mounted = False
                faxd.drop(f"{TO}/bare.pdf", pdf("bare"))
                time.sleep(8)  # past a rescan (every 5 s here)
                assert sandbox.stats()["docs"]["send_requests"] == 2
                _mount_tmpfs(again, "8m")
                subprocess.run(["cp", "-a", f"{share}/.", str(again)], check=True)
                assert os.stat(again).st_dev != os.stat(share).st_dev
                subprocess.run(["mount", "--bind", str(again), str(faxd.spool)], check=True)
                mounted = True
                faxd.drop(f"{TO}/after.pdf", pdf("after"))
                sent = faxd.spool / "sent" / TO
                for name in ("nas-0.pdf", "nas-1.pdf", "after.pdf"):
                    path = sent / f"{name}.report.yaml"
                    wait_for(path.exists, 120, f"the report of {name}")
                    report = yaml.safe_load(path.read_text())
                    assert report["result"] == "delivered"
                    assert "notes" not in report, report
                    assert (sent / name).is_file()
                assert not list((faxd.spool / TO).iterdir())
                assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1, 1]
                # Claimed again on the share as it is now, not on the one it was.
                claim = os.open(faxd.spool / CLAIM_NAME, os.O_RDWR)
                try:
                    with pytest.raises(OSError):
                        fcntl.lockf(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
                finally:
                    os.close(claim)
                log = faxd.log_text()
                assert "spool folder is on another mounted file system now" in log
                assert "spool folder is back; watching it again" in log
                assert faxd.alive()
            finally:
                faxd.stop()
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(spool)], check=False)
        subprocess.run(["umount", "-l", str(again)], check=False)
        subprocess.run(["umount", "-l", str(share)], check=False)
    assert (spool / TO / "bare.pdf").read_bytes() == pdf("bare")  # never sent


def test_a_folder_named_as_an_attachment_is_one_sentence_in_the_report(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    (faxd.spool / "terms.pdf").mkdir()
    faxd.drop("letter.pdf.yaml", f"to: '{TO}'\nattach: [terms.pdf]\n".encode())
    faxd.drop("letter.pdf", pdf("letter"))
    report = faxd.report_for("letter.pdf")
    assert report["result"] == "failed"
    assert "Errno" not in report["error"] and "terms.pdf" in report["error"]
    assert faxd.stop() == 0


def test_a_start_while_a_known_spool_is_away_waits_for_it_instead_of_creating_it(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    faxd.folders = [{"path": str(share)}]
    faxd.start()
    wait_for(share.is_dir, 30, "the new folder to be created")
    (share / TO).mkdir()
    (share / TO / "first.pdf").write_bytes(pdf("first"))
    assert faxd.report_for("first.pdf")["result"] == "delivered"
    assert faxd.stop() == 0
    away = tmp_path / "share.away"
    share.rename(away)
    (away / TO / "later.pdf").write_bytes(pdf("later"))
    faxd.start()
    wait_for(lambda: faxd.log_text().count("faxd is running") == 2, 30, "the second start")
    time.sleep(2)
    assert faxd.alive()
    assert not share.exists()  # a folder faxd used before is not made up afresh
    away.rename(share)
    assert faxd.report_for("later.pdf", timeout=60)["result"] == "delivered"
    assert faxd.stop() == 0
