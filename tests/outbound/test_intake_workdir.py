"""One work folder per job: the copies faxd took and a converted print file both live in
state_dir/work/JOB, minted before anything is written, and go with the job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_intake import IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def test_a_cleaned_print_file_is_uploaded_from_the_jobs_own_work_folder(
    rig: IntakeRig, tmp_path: Path
) -> None:
    (rig.spool / "order.txt").write_text("@@FAX +46812345678@@\nTwo chairs\n")
    rig.intake.scan(rig.spool)
    rig.run()
    [job] = rig.journal.jobs()
    work = tmp_path / "state" / "work"
    upload = Path(job.files[0].path)
    assert upload.read_text() == "Two chairs\n"
    assert upload.is_relative_to(work / job.id), upload
    assert Path(job.options.sources[job.path].snapshot or "").is_relative_to(work / job.id)
    assert sorted(p.name for p in work.iterdir()) == [job.id]  # no print-* beside the jobs


def test_a_document_that_changes_while_it_is_read_leaves_no_work_folder(
    rig: IntakeRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faxd.host import contained

    def changing(*args: object, **kwargs: object) -> None:
        raise contained.ChangedError("a.pdf changed while faxd was copying it.")

    (rig.spool / "a.pdf.yaml").write_text('to: "+46812345678"\n')
    (rig.spool / "a.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    monkeypatch.setattr(contained, "snapshot", changing)
    rig.intake.scan(rig.spool)
    rig.run()
    assert rig.journal.jobs() == []
    work = tmp_path / "state" / "work"
    assert not work.exists() or list(work.iterdir()) == []
