"""A new version saved at the name of a document still being sent is moved aside to a
numbered name and taken from there, so a scanner that reuses one name loses no scan."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from faxd.model import JobState
from faxd.outbound import new_version
from faxd.outbound.archive import Archiver
from faxd.outbound.watcher import Change

from .test_intake import PDF, IntakeRig


@pytest.fixture
def rig(intake_rig: IntakeRig) -> IntakeRig:
    return intake_rig


def version(n: int) -> bytes:
    return PDF.replace(b"%%EOF", f"% version {n}\n%%EOF".encode())


def save(rig: IntakeRig, path: Path, data: bytes, *, in_place: bool = True) -> None:
    """What a scanner does, and what the watcher then reports."""
    if in_place:
        with path.open("r+b" if path.exists() else "wb") as out:
            out.truncate(0)
            out.write(data)
    else:
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    rig.intake.changes.put(Change(rig.spool, path, "file", "written"))
    rig.intake.changes.put(Change(rig.spool, path, "file", "closed"))


def first_taken(rig: IntakeRig, name: str = "scan.pdf") -> Path:
    """Version 1 saved as `name` and taken: its job is in flight."""
    scan = rig.spool / name
    scan.write_bytes(version(1))
    rig.intake.scan(rig.spool)
    rig.run()
    return scan


def copies(rig: IntakeRig) -> dict[str, bytes]:
    """Each job's document name and the bytes it would send."""
    return {j.rel_path: Path(j.files[0].path).read_bytes() for j in rig.journal.jobs()}


def file_job(rig: IntakeRig, rel: str) -> dict[str, object]:
    job = next(j for j in rig.journal.jobs() if j.rel_path == rel)
    rig.journal.set_job_state(job.id, JobState.DELIVERED, finished_at=rig.clock.time())
    stored = rig.journal.job(job.id)
    assert stored is not None
    Archiver(rig.journal, rig.clock).archive(stored)
    rig.intake.release(job.id)
    report: dict[str, object] = yaml.safe_load(
        (rig.spool / "sent" / f"{Path(rel).name}.report.yaml").read_text()
    )
    return report


@pytest.mark.parametrize("in_place", [True, False], ids=["rewritten", "replaced"])
def test_every_version_saved_at_one_name_in_flight_becomes_a_job(
    rig: IntakeRig, in_place: bool
) -> None:
    scan = first_taken(rig)
    save(rig, scan, version(2), in_place=in_place)
    rig.run()
    save(rig, scan, version(3), in_place=in_place)
    rig.run()
    assert copies(rig) == {
        "scan.pdf": version(1),
        "scan (2).pdf": version(2),
        "scan (3).pdf": version(3),
    }
    assert not scan.exists()
    report = file_job(rig, "scan.pdf")
    assert (rig.spool / "sent" / "scan.pdf").read_bytes() == version(1)
    notes = " ".join(str(n) for n in report["notes"])  # type: ignore[attr-defined]
    assert "moved to scan (2).pdf, scan (3).pdf" in notes
    assert "no longer in the spool folder" not in notes
    rig.run()
    assert len(rig.journal.jobs()) == 3  # freeing the name takes nothing again
    assert rig.journal.moved_aside(rig.journal.jobs()[0].id) == []


def test_a_version_still_being_written_is_not_moved(rig: IntakeRig) -> None:
    scan = first_taken(rig)
    with scan.open("r+b") as out:
        out.truncate(0)
        out.write(version(2)[:100])
    now = rig.clock.time()
    os.utime(scan, (now, now))  # written "now" on the test's clock
    rig.intake.changes.put(Change(rig.spool, scan, "file", "written"))
    rig.run()
    rig.clock.advance(5)  # quiet for longer than settle, but never closed
    rig.run()
    assert scan.exists()
    assert sorted(copies(rig)) == ["scan.pdf"]


def test_the_jobs_own_file_touched_is_not_moved(rig: IntakeRig) -> None:
    scan = first_taken(rig)
    os.chmod(scan, 0o640)
    rig.intake.changes.put(Change(rig.spool, scan, "file", "touched"))
    rig.run()
    assert scan.read_bytes() == version(1)
    assert sorted(copies(rig)) == ["scan.pdf"]


def test_a_document_with_a_sidecar_waits_for_its_job_to_be_filed(rig: IntakeRig) -> None:
    scan = rig.spool / "scan.pdf"
    (rig.spool / "scan.pdf.yaml").write_text("to: '+4930123456'\n")
    scan.write_bytes(version(1))
    rig.intake.scan(rig.spool)
    rig.run()
    save(rig, scan, version(2))
    rig.run()
    assert scan.read_bytes() == version(2)  # not parted from the sidecar it may have
    assert sorted(copies(rig)) == ["scan.pdf"]
    file_job(rig, "scan.pdf")
    rig.run()
    sent = sorted(Path(j.files[0].path).read_bytes() for j in rig.journal.jobs())
    assert sent == [version(1), version(2)]


def test_the_next_free_name_skips_names_on_disk_and_names_a_job_holds(rig: IntakeRig) -> None:
    scan = rig.spool / "scan.pdf"
    (rig.spool / "scan (2).pdf").write_bytes(version(9))  # a document of its own
    scan.write_bytes(version(1))
    rig.intake.scan(rig.spool)
    rig.run()
    (rig.spool / "scan (2).pdf").unlink()  # gone from the folder, still its job's name
    save(rig, scan, version(2))
    rig.run()
    assert copies(rig) == {
        "scan.pdf": version(1),
        "scan (2).pdf": version(9),
        "scan (3).pdf": version(2),
    }


@pytest.mark.parametrize(
    ("pattern", "moved"),
    [(r"^fax (?P<to>\+\d+)", True), (r"^fax (?P<to>[^.]+)", False)],
    ids=["number-only", "up-to-the-dot"],
)
def test_a_name_the_folders_pattern_would_read_otherwise_is_not_moved(
    rig: IntakeRig, pattern: str, moved: bool
) -> None:
    folder = replace(rig.folder, to=(), name_pattern=pattern)
    rig.folder = folder
    rig.intake.configure(replace(rig.intake._settings, folders=(folder,)))
    scan = first_taken(rig, "fax +46812345678.pdf")
    save(rig, scan, version(2))
    rig.run()
    numbered = rig.spool / "fax +46812345678 (2).pdf"
    assert numbered.exists() is moved
    assert scan.exists() is not moved  # "+46812345678 (2)" would be dialled otherwise
    numbers = sorted(t.number for j in rig.journal.jobs() for t in rig.journal.transmissions(j.id))
    assert numbers == ["+46812345678"] * (2 if moved else 1)


def test_a_file_at_a_name_being_taken_waits_without_spinning(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = rig.spool / "scan.pdf"
    scan.write_bytes(version(1))
    assert rig.intake._claims.reserve(str(scan))  # a take of it under way on a taker
    looks: list[str] = []
    being_taken = rig.intake._claims.being_taken

    def counted(path: str) -> bool:
        looks.append(path)
        return being_taken(path)

    monkeypatch.setattr(rig.intake._claims, "being_taken", counted)
    rig.intake.changes.put(Change(rig.spool, scan, "file", "closed"))
    rig.intake.step(max_wait=0.01)
    assert len(looks) == 1  # looked at again later, not 200 times in one step (settle 0)
    assert scan in rig.intake._tracks
    rig.intake._claims.settle([str(scan)])  # that take ended without a job
    rig.clock.advance(1)
    rig.run()
    assert copies(rig) == {"scan.pdf": version(1)}


@pytest.mark.parametrize("how", ["touched", "written-again"])
def test_the_same_bytes_saved_again_are_filed_once_and_not_sent_again(
    rig: IntakeRig, how: str
) -> None:
    # A touch, or a share's client that writes the file a second time: the same fax.
    scan = first_taken(rig)
    if how == "touched":
        os.utime(scan, (1_000_000, 1_000_000))
        rig.intake.changes.put(Change(rig.spool, scan, "file", "touched"))
    else:
        save(rig, scan, version(1), in_place=False)
    rig.run()
    assert scan.exists()  # not moved aside: nothing new to send
    report = file_job(rig, "scan.pdf")
    assert (rig.spool / "sent" / "scan.pdf").read_bytes() == version(1)
    assert not scan.exists()
    assert not report.get("notes")
    rig.clock.advance(1)
    rig.run()
    assert len(rig.journal.jobs()) == 1  # sent once


def test_a_new_version_only_a_scan_sees_is_moved_aside_too(rig: IntakeRig) -> None:
    # Saved while faxd was down, or its events lost (the watcher's queue overflowed): only
    # the start-up scan or a rescan sees it, and the next save must not destroy it.
    scan = first_taken(rig)
    tmp = scan.with_name(".scan.pdf.part")
    tmp.write_bytes(version(2))
    tmp.replace(scan)  # no event
    rig.intake.scan(rig.spool)
    rig.run()
    assert copies(rig) == {"scan.pdf": version(1), "scan (2).pdf": version(2)}
    save(rig, scan, version(3))
    rig.run()
    assert sorted(copies(rig).values()) == [version(1), version(2), version(3)]


def test_a_rescan_looks_up_a_held_name_once(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = first_taken(rig)
    asked: list[str] = []
    lookup = rig.journal.unfiled_job_at

    def counted(path: str) -> object:
        asked.append(path)
        return lookup(path)

    monkeypatch.setattr(rig.journal, "unfiled_job_at", counted)
    for _ in range(3):
        rig.intake.scan(rig.spool)
        rig.run()
    assert asked == [str(scan)]  # remembered, not asked at every rescan
    assert sorted(copies(rig)) == ["scan.pdf"]


def test_a_numbered_name_with_a_sidecar_waiting_is_skipped(rig: IntakeRig) -> None:
    # A sidecar that came after its document failed waits in the spool for `faxd retry`:
    # a version moved to its name would be faxed to that sidecar's recipient.
    (rig.spool / "scan (2).pdf.yaml").write_text("to: '+46855555555'\n")
    scan = first_taken(rig)
    save(rig, scan, version(2))
    rig.run()
    assert copies(rig) == {"scan.pdf": version(1), "scan (3).pdf": version(2)}
    numbers = {t.number for j in rig.journal.jobs() for t in rig.journal.transmissions(j.id)}
    assert numbers == {"+46812345678"}


def test_a_filing_during_the_move_still_names_where_the_version_went(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = first_taken(rig)
    real = new_version.move

    def move_then_file(*args: Any) -> Any:
        moved = real(*args)
        file_job(rig, "scan.pdf")  # the engine's thread files the first job meanwhile
        return moved

    monkeypatch.setattr(new_version, "move", move_then_file)
    save(rig, scan, version(2))
    rig.run()
    report = yaml.safe_load((rig.spool / "sent" / "scan.pdf.report.yaml").read_text())
    assert any("moved to scan (2).pdf" in n for n in report["notes"]), report["notes"]
    assert copies(rig)["scan (2).pdf"] == version(2)


def test_the_report_names_a_version_moved_aside_when_the_first_was_saved_again(
    rig: IntakeRig,
) -> None:
    scan = first_taken(rig)
    save(rig, scan, version(2), in_place=False)
    rig.run()
    save(rig, scan, version(1), in_place=False)  # the first one's bytes, once more
    rig.run()
    assert copies(rig) == {"scan.pdf": version(1), "scan (2).pdf": version(2)}
    report = file_job(rig, "scan.pdf")
    assert (rig.spool / "sent" / "scan.pdf").read_bytes() == version(1)
    notes = " ".join(str(n) for n in report["notes"])  # type: ignore[attr-defined]
    assert "moved to scan (2).pdf" in notes


@pytest.mark.parametrize("in_place", [True, False], ids=["rewritten", "replaced"])
def test_a_version_moved_aside_saved_again_at_the_name_is_not_sent_twice(
    rig: IntakeRig, in_place: bool
) -> None:
    # A share's client sees scan.pdf moved away and writes its copy back: the bytes of the
    # version faxd moved aside and sends already.
    scan = first_taken(rig)
    save(rig, scan, version(2), in_place=in_place)
    rig.run()
    save(rig, scan, version(2), in_place=in_place)
    rig.run()
    assert scan.read_bytes() == version(2)  # not moved aside a second time
    assert copies(rig) == {"scan.pdf": version(1), "scan (2).pdf": version(2)}
    report = file_job(rig, "scan.pdf")
    sent = rig.spool / "sent"
    assert (sent / "scan.pdf").read_bytes() == version(1)
    assert (sent / "scan (2) (saved again).pdf").read_bytes() == version(2)
    assert not scan.exists()
    notes = " ".join(str(n) for n in report["notes"])  # type: ignore[attr-defined]
    assert "saved again with the bytes of scan (2).pdf" in notes
    assert "sent as a new document" not in notes
    rig.clock.advance(1)
    rig.run()
    assert len(rig.journal.jobs()) == 2  # freeing the name took nothing again
    file_job(rig, "scan (2).pdf")  # its own filing keeps its own name
    assert (sent / "scan (2).pdf").read_bytes() == version(2)


def test_other_bytes_after_a_version_saved_again_are_moved_aside(rig: IntakeRig) -> None:
    scan = first_taken(rig)
    save(rig, scan, version(2))
    rig.run()
    save(rig, scan, version(2))
    rig.run()
    save(rig, scan, version(3))
    rig.run()
    assert copies(rig) == {
        "scan.pdf": version(1),
        "scan (2).pdf": version(2),
        "scan (3).pdf": version(3),
    }
    report = file_job(rig, "scan.pdf")
    notes = " ".join(str(n) for n in report["notes"])  # type: ignore[attr-defined]
    assert "moved to scan (2).pdf, scan (3).pdf" in notes
    assert "saved again" not in notes


def test_what_was_moved_aside_is_remembered_across_a_restart(tmp_path: Path) -> None:
    first = IntakeRig(tmp_path)
    scan = first_taken(first)
    save(first, scan, version(2))
    first.run()
    first.journal.close()
    again = IntakeRig(tmp_path)  # the same folders and journal, a new daemon
    tmp = scan.with_name(".scan.pdf.part")
    tmp.write_bytes(version(2))
    tmp.replace(scan)  # while faxd was down
    again.intake.scan(again.spool, first=True)
    again.run()
    assert scan.exists()
    assert sorted(copies(again).values()) == [version(1), version(2)]
    again.journal.close()
