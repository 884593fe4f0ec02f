"""`faxd release` in-process: which documents it takes, where their files go back, and
how a release interrupted half-way is finished."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd.core.job_payload import Hold, JobOptions
from faxd.errors import FaxdError, UsageError
from faxd.outbound.archive import REPORT_KEY
from faxd.service.daemon import open_journal
from faxd.service.release import held_documents, release
from faxd.settings import Settings
from faxd.store.journal import NewJob
from tests.settings_helpers import bare_settings, folder_settings


def settings_for(tmp: Path) -> Settings:
    spool = tmp / "spool"
    spool.mkdir(exist_ok=True)
    return bare_settings(
        tmp / "state", source=tmp / "faxd.yaml", folders=(folder_settings(spool, tmp),)
    )


def held(settings: Settings, name: str, *, attach: tuple[str, ...] = (), under: str = "") -> str:
    """A held job as intake files it: document, sidecar and attachments in hold/ (in its
    subfolder `under`)."""
    spool = settings.folders[0].path
    hold_root = settings.state_dir.parent / "hold"
    hold = hold_root / under if under else hold_root
    hold.mkdir(parents=True, exist_ok=True)
    originals = [spool / name, spool / f"{name}.yaml", *(spool / a for a in attach)]
    plan = {str(o): str(hold / o.name) for o in originals}
    for original in originals:
        Path(plan[str(original)]).write_text(f"content of {original.name}\n")
    plan[REPORT_KEY] = str(hold / f"{name}.report.yaml")
    Path(plan[REPORT_KEY]).write_text("result: held\n")
    job = NewJob(
        id=f"job-{name}",
        folder=str(spool),
        rel_path=name,
        path=str(spool / name),
        sidecar=str(spool / f"{name}.yaml"),
        attachments=[str(spool / a) for a in attach],
        files=(),
        provider="docs",
        sender="+4612345678",
        dft=False,
        reference=None,
        rule="sidecar",
        options=JobOptions(hold_dir=str(hold_root), hold=Hold(("+46812345679",), {})),
        ino=None,
        received_at=1.0,
        numbers=(),
        error="held",
        hold=True,
    )
    journal = open_journal(settings)
    try:
        journal.create_job(job)
        journal.set_archive_plan(job.id, plan)
        journal.mark_archived(job.id, plan[str(spool / name)], 2.0)
    finally:
        journal.close()
    return job.id


def test_release_puts_everything_back_and_remembers_the_number(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    job_id = held(settings, "a.pdf", attach=("terms.pdf",))
    assert release(settings, str(tmp_path / "hold" / "a.pdf")) == 0
    spool = settings.folders[0].path
    assert sorted(p.name for p in spool.iterdir()) == ["a.pdf", "a.pdf.yaml", "terms.pdf"]
    assert (tmp_path / "hold" / "a.pdf.report.yaml").exists()  # the record of the hold
    journal = open_journal(settings)
    try:
        assert journal.known_among(["+46812345679"]) == {"+46812345679"}
        assert held_documents(journal) == []
    finally:
        journal.close()
    with pytest.raises(UsageError, match="released already"):
        release(settings, job_id)


def test_a_release_never_moves_a_file_in_through_a_linked_folder(tmp_path: Path) -> None:
    # Someone who may write in hold/ swaps the document's folder for a link to a folder
    # with files of the same names: they would be put in the spool folder, and faxed.
    settings = settings_for(tmp_path)
    job_id = held(settings, "a.pdf", attach=("terms.pdf",), under="+46812345679")
    private = tmp_path / "private"
    private.mkdir()
    for name in ("a.pdf", "a.pdf.yaml", "terms.pdf"):
        (private / name).write_text("private\n")
    folder = tmp_path / "hold" / "+46812345679"
    folder.rename(tmp_path / "aside")
    folder.symlink_to(private, target_is_directory=True)
    with pytest.raises(FaxdError, match="without following a link"):
        release(settings, job_id)
    spool = settings.folders[0].path
    assert list(spool.iterdir()) == []
    assert sorted(p.name for p in private.iterdir()) == ["a.pdf", "a.pdf.yaml", "terms.pdf"]
    folder.unlink()
    (tmp_path / "aside").rename(folder)
    assert release(settings, job_id) == 0
    assert sorted(p.name for p in spool.iterdir()) == ["a.pdf", "a.pdf.yaml", "terms.pdf"]
    assert (spool / "terms.pdf").read_text() == "content of terms.pdf\n"


def test_a_taken_name_gives_the_document_and_its_sidecar_a_new_one(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    job_id = held(settings, "a.pdf")
    spool = settings.folders[0].path
    (spool / "a.pdf").write_text("a newer document\n")
    release(settings, job_id)
    assert (spool / "a.pdf").read_text() == "a newer document\n"
    assert (spool / "a (2).pdf").read_text() == "content of a.pdf\n"
    assert (spool / "a (2).pdf.yaml").read_text() == "content of a.pdf.yaml\n"


def test_a_release_interrupted_after_the_sidecar_is_finished(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    job_id = held(settings, "a.pdf")
    spool = settings.folders[0].path
    hold = tmp_path / "hold"
    plan = [
        (str(hold / "a.pdf.yaml"), str(spool / "a.pdf.yaml")),
        (str(hold / "a.pdf"), str(spool / "a.pdf")),
    ]
    journal = open_journal(settings)
    try:
        journal.start_release(job_id, ["+46812345679"], plan, 3.0)
    finally:
        journal.close()
    (hold / "a.pdf.yaml").rename(spool / "a.pdf.yaml")  # the first move, then the crash
    assert release(settings, job_id) == 0
    assert sorted(p.name for p in spool.iterdir()) == ["a.pdf", "a.pdf.yaml"]


def test_only_held_documents_are_released(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with pytest.raises(UsageError, match="no held document matches"):
        release(settings, "no-such-job")
    job_id = held(settings, "a.pdf")
    (tmp_path / "hold" / "a.pdf").unlink()  # removed by hand
    with pytest.raises(UsageError, match="no longer in hold/"):
        release(settings, job_id)


def test_two_releases_at_once_put_the_document_back_once(tmp_path: Path) -> None:
    import threading

    settings = settings_for(tmp_path)
    job_id = held(settings, "a.pdf")
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        try:
            release(settings, job_id)
            outcomes.append("released")
        except UsageError as exc:
            outcomes.append(str(exc))

    runners = [threading.Thread(target=one) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(30)
    assert sorted(outcomes) == [f"job {job_id} was released already.", "released"]
    spool = settings.folders[0].path
    assert sorted(p.name for p in spool.iterdir()) == ["a.pdf", "a.pdf.yaml"]
