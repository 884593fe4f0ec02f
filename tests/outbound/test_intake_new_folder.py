"""A document saved into a recipient folder made a moment before, written before faxd's
watch of that folder began: no close of it may ever be heard. Once it has been quiet for
`settle` the kernel is asked whether anyone still has it open for writing (a read lease):
closed, it goes at settle like any other; open, it waits for its writer however long the
writer pauses; when the kernel cannot say (a file of another user without CAP_LEASE, a
network file system) it waits up to APPEARED_CLOSE_WAIT of quiet, as before.

The intake in-process against real files, with the watcher's word played by hand: a new
folder is announced as the watcher announces one (the intake scans it, and what it finds
"appeared"); a polled folder's changes say nothing of writers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import structlog

from faxd.core.readiness import APPEARED_CLOSE_WAIT, ASK_AGAIN, Heard, Writers
from faxd.host import writers
from faxd.outbound import intake_tracking
from faxd.outbound.watcher import Change
from tests.leases import OTHER_UID, need_refusal, without_cap_lease
from tests.settings_helpers import folder_settings

from .test_intake import PDF, IntakeRig

SETTLE = 1.0
FIRST, SECOND = PDF[:20], PDF[20:]  # a scan's first page, and the rest written later


class NewFolderRig(IntakeRig):
    """settle 1 s; no sidecar wait."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.folder = replace(self.folder, settle=SETTLE)
        self.intake.configure(replace(self.intake._settings, folders=(self.folder,)))

    def announce(self, folder: Path, root: Path | None = None) -> None:
        """The watcher reports a folder just made, whose files it never saw being written
        (they are as new as the folder: written now, by the fake clock)."""
        now = self.clock.time()
        for path in folder.iterdir():
            os.utime(path, (now, now))
        self.intake.changes.put(Change(root or self.spool, folder, "dir"))

    def heard(self, path: Path, what: Heard) -> None:
        os.utime(path, (self.clock.time(), self.clock.time()))
        self.intake.changes.put(Change(self.spool, path, "file", what))

    def after(self, seconds: float) -> list[str]:
        self.run(2)
        self.clock.advance(seconds)
        self.run(2)
        return self.jobs()

    def sent_bytes(self, rel: str) -> bytes:
        [job] = [j for j in self.journal.jobs() if j.rel_path == rel]
        snapshot = job.options.sources[job.path].snapshot
        assert snapshot is not None
        return Path(snapshot).read_bytes()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[NewFolderRig]:
    r = NewFolderRig(tmp_path)
    r.run()  # the start-up scan: nothing there yet
    yield r
    r.journal.close()


def _new_folder(root: Path, number: str = "+46812345678") -> Path:
    folder = root / number
    folder.mkdir()
    return folder


def test_a_document_closed_before_its_new_folders_watch_goes_once_it_settles(
    rig: NewFolderRig,
) -> None:
    folder = _new_folder(rig.spool)
    (folder / "letter.pdf").write_bytes(PDF)
    rig.announce(folder)
    assert rig.after(SETTLE / 2) == []
    assert rig.after(SETTLE / 2 + 0.1) == ["+46812345678/letter.pdf"]  # not 30 s


def test_a_document_still_open_in_a_new_folder_waits_for_its_writer(rig: NewFolderRig) -> None:
    folder = _new_folder(rig.spool)
    path = folder / "scan.pdf"
    with path.open("wb") as writer:
        writer.write(FIRST)
        writer.flush()
        rig.announce(folder)
        assert rig.after(SETTLE + 0.1) == []
        # Longer than faxd waits for a writer it cannot ask about: the kernel says this
        # one still has the file open.
        assert rig.after(APPEARED_CLOSE_WAIT + 5) == []
        assert path.exists()
        writer.write(SECOND)
        writer.flush()
        rig.heard(path, "written")  # the watch has long begun: its writes are heard
        assert rig.after(SETTLE + 0.1) == []
    rig.heard(path, "closed")
    assert rig.after(SETTLE + 0.1) == ["+46812345678/scan.pdf"]
    assert rig.sent_bytes("+46812345678/scan.pdf") == FIRST + SECOND


def test_in_a_polled_folder_asking_again_finds_the_writers_close(rig: NewFolderRig) -> None:
    # Polling says nothing of writers, nor of closes: only the kernel's next answer does.
    folder = _new_folder(rig.spool)
    path = folder / "scan.pdf"
    with path.open("wb") as writer:
        writer.write(FIRST)
        writer.flush()
        rig.announce(folder)
        assert rig.after(SETTLE + 0.1) == []
        assert rig.after(APPEARED_CLOSE_WAIT + 5) == []
        writer.write(SECOND)
        writer.flush()
        rig.heard(path, "touched")  # the poll saw it grow
        assert rig.after(SETTLE + 0.1) == []
    assert rig.after(ASK_AGAIN + 0.1) == ["+46812345678/scan.pdf"]
    assert rig.sent_bytes("+46812345678/scan.pdf") == FIRST + SECOND


def test_a_file_the_kernel_will_not_answer_for_waits_as_long_as_before(
    rig: NewFolderRig,
) -> None:
    # Run as root, this thread puts CAP_LEASE aside: the kernel then refuses a lease on a
    # file of another user, as it does to faxd's user for the office's files.
    need_refusal()
    theirs = _new_folder(rig.spool) / "theirs.pdf"
    theirs.write_bytes(PDF)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    mine = _new_folder(rig.spool, "+46812345699") / "mine.pdf"
    mine.write_bytes(PDF + b"%mine\n")
    with without_cap_lease(), structlog.testing.capture_logs() as logs:
        rig.announce(theirs.parent)
        rig.announce(mine.parent)
        assert rig.after(SETTLE + 0.1) == ["+46812345699/mine.pdf"]
        assert rig.after(APPEARED_CLOSE_WAIT - SETTLE - 1) == ["+46812345699/mine.pdf"]
        assert rig.after(1.0) == ["+46812345678/theirs.pdf", "+46812345699/mine.pdf"]
    said = [e for e in logs if str(e["event"]).startswith("faxd may not ask")]
    assert len(said) == 1
    assert "CAP_LEASE" in said[0]["hint"]


def test_a_folder_on_a_network_file_system_is_not_asked_about(
    rig: NewFolderRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel knows only this machine's writers of a share's file (and NFS refuses a
    # lease whenever the server has not delegated the file). No share here: the file
    # system's type is what the mount table would say of one.
    share = tmp_path / "share"
    share.mkdir()
    on_share = folder_settings(
        share, share, provider="fake", to=("+46812345678",), settle=SETTLE, sidecar_wait=0.0
    )
    rig.intake.configure(replace(rig.intake._settings, folders=(rig.folder, on_share)))
    monkeypatch.setattr(
        intake_tracking, "filesystem_type", lambda p: "nfs4" if p == share else "ext4"
    )
    asked: list[Path] = []
    real = writers.open_writers

    def open_writers(root: Path, path: Path, ino: int) -> Writers:
        asked.append(path)
        return real(root, path, ino)

    monkeypatch.setattr(intake_tracking, "open_writers", open_writers)
    rig.run()  # the share's start-up scan
    remote = _new_folder(share) / "remote.pdf"
    remote.write_bytes(PDF + b"%remote\n")
    local = _new_folder(rig.spool) / "local.pdf"
    local.write_bytes(PDF)
    rig.announce(remote.parent, share)
    rig.announce(local.parent)
    assert rig.after(SETTLE + 0.1) == ["+46812345678/local.pdf"]
    assert asked == [local]
    assert rig.after(APPEARED_CLOSE_WAIT - SETTLE) == [
        "+46812345678/local.pdf",
        "+46812345678/remote.pdf",
    ]


def test_a_new_folders_attachment_holds_its_document_only_while_it_is_open(
    rig: NewFolderRig,
) -> None:
    folder = _new_folder(rig.spool)
    (folder / "order.pdf.yaml").write_text('to: "+46812345678"\nattach: [terms.pdf]\n')
    (folder / "order.pdf").write_bytes(PDF)
    terms = folder / "terms.pdf"
    with terms.open("wb") as writer:
        writer.write(FIRST)
        writer.flush()
        rig.announce(folder)
        assert rig.after(SETTLE + 0.1) == []
        assert rig.after(APPEARED_CLOSE_WAIT + 5) == []
        writer.write(SECOND)
    rig.heard(terms, "closed")
    assert rig.after(SETTLE + 0.1) == ["+46812345678/order.pdf"]
    [job] = rig.journal.jobs()
    snapshot = job.options.sources[str(terms)].snapshot
    assert snapshot is not None
    assert Path(snapshot).read_bytes() == FIRST + SECOND


def test_a_new_folders_closed_attachment_lets_its_document_go_at_settle(
    rig: NewFolderRig,
) -> None:
    folder = _new_folder(rig.spool)
    (folder / "order.pdf.yaml").write_text('to: "+46812345678"\nattach: [terms.pdf]\n')
    (folder / "order.pdf").write_bytes(PDF)
    (folder / "terms.pdf").write_bytes(PDF + b"%terms\n")
    rig.announce(folder)
    assert rig.after(SETTLE + 0.1) == ["+46812345678/order.pdf"]
