"""`faxd send` failing before its job is journaled removes the outbox and work folders it
made: nothing was sent, the files given stay where they are, and no job would ever read
the copies."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from faxd.cli import main
from faxd.core.job_payload import NewJob
from faxd.host import logs
from faxd.store.journal import Journal
from faxd.store.journal_failures import JournalWriteError
from faxd.store.outbox import NewDelivery

from ..e2e.harness import Faxd, pdf


def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    copyfile = shutil.copyfile

    def copy(src: Path, dst: Path, *, follow_symlinks: bool = True) -> object:
        if Path(dst).name == "terms.pdf":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return copyfile(src, dst, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(shutil, "copyfile", copy)


def ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    copyfile = shutil.copyfile

    def copy(src: Path, dst: Path, *, follow_symlinks: bool = True) -> object:
        if Path(dst).name == "terms.pdf":
            raise KeyboardInterrupt
        return copyfile(src, dst, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(shutil, "copyfile", copy)


def journal_unwritable(monkeypatch: pytest.MonkeyPatch) -> None:
    def create_job(journal: Journal, job: NewJob, outbox: Sequence[NewDelivery] = ()) -> None:
        raise JournalWriteError(f"the journal {journal.path} cannot be written (disk I/O error)")

    monkeypatch.setattr(Journal, "create_job", create_job)


@pytest.mark.parametrize(
    ("failure", "code", "said"),
    [
        (disk_full, 2, "the disk is full"),
        (ctrl_c, 1, ""),
        (journal_unwritable, 1, "cannot be written"),
    ],
)
def test_a_send_failing_before_its_job_is_journaled_leaves_no_copies_behind(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[[pytest.MonkeyPatch], None],
    code: int,
    said: str,
) -> None:
    # The copies stayed in state_dir/outbox/JOB for ever: no job owned them, and nothing
    # ever looked there again.
    faxd = Faxd(root=tmp_path, docs_url="http://127.0.0.1:9/Docs/api/v2")
    faxd.write_config()
    letter, terms = tmp_path / "letter.pdf", tmp_path / "terms.pdf"
    letter.write_bytes(pdf("letter"))
    terms.write_bytes(pdf("terms"))
    failure(monkeypatch)
    argv = ["send", "--config", str(faxd.config_path), str(letter), str(terms)]
    try:
        assert main([*argv, "--to", "+46812345678"], environ={}) == code
    finally:
        logs.reset()
    assert said in capsys.readouterr().err
    for folder in ("outbox", "work"):
        assert list((faxd.state / folder).iterdir()) == [], folder
    assert letter.is_file() and terms.is_file()  # the files given stay where they are
