"""The intake's attachment check reads only the sidecars it was told about (by scans and
watcher events), so a folder of 10,000 documents costs one check each, not a listing each."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.outbound.watcher import Change

from .test_intake import PDF, IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def test_a_scan_queues_every_sidecar_before_any_document(rig: IntakeRig) -> None:
    for i in range(60):
        (rig.spool / f"doc-{i:02d}.pdf").write_bytes(PDF)
    for name in ("doc-07.pdf.yaml", "doc-33.pdf.yml", "zz.pdf.yaml"):
        (rig.spool / name).write_text('to: "+46812345678"\n')
    rig.intake.scan(rig.spool)
    names = []
    while (change := rig.intake._next_scanned()) is not None:
        names.append(change.path.name)
    assert len(names) == 63
    assert sorted(names[:3]) == ["doc-07.pdf.yaml", "doc-33.pdf.yml", "zz.pdf.yaml"]
    assert all(name.endswith(".pdf") for name in names[3:])


def test_a_sidecar_reported_by_the_watcher_claims_its_attachment(rig: IntakeRig) -> None:
    rig.run()  # the start-up scan finds an empty folder
    sidecar = rig.spool / "order.pdf.yaml"
    sidecar.write_text('to: "+46812345678"\nattach: [terms.pdf]\n')
    rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
    (rig.spool / "order.pdf").write_bytes(PDF + b"%order\n")
    (rig.spool / "terms.pdf").write_bytes(PDF)
    rig.intake.changes.put(Change(rig.spool, rig.spool / "terms.pdf", "file"))
    rig.intake.changes.put(Change(rig.spool, rig.spool / "order.pdf", "file"))
    rig.run()
    [job] = rig.journal.jobs()
    assert job.rel_path == "order.pdf"
    assert [Path(a).name for a in job.attachments] == ["terms.pdf"]


def test_a_sidecar_rewritten_in_place_is_read_again(rig: IntakeRig) -> None:
    sidecar = rig.spool / "order.pdf.yaml"
    sidecar.write_text('to: "+46812345678"\nattach: [other.pdf]\n')
    (rig.spool / "order.pdf").write_bytes(PDF + b"%order\n")
    (rig.spool / "other.pdf").write_bytes(PDF + b"%other\n")
    (rig.spool / "first.pdf").write_bytes(PDF + b"%first\n")
    rig.run()  # first.pdf is checked against the sidecar, which is parsed and remembered
    assert rig.jobs() == ["first.pdf", "order.pdf"]
    before = sidecar.stat()
    # same size, same mtime: only the watcher's report tells the intake it changed
    sidecar.write_text('to: "+46812345678"\nattach: [terms.pdf]\n')
    os.utime(sidecar, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert sidecar.stat().st_size == before.st_size
    rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
    (rig.spool / "terms.pdf").write_bytes(PDF)
    rig.intake.changes.put(Change(rig.spool, rig.spool / "terms.pdf", "file"))
    rig.run()
    assert "terms.pdf" not in rig.jobs()


def test_attach_naming_a_file_that_has_its_own_job_is_refused_not_sent_twice(
    rig: IntakeRig,
) -> None:
    # terms.pdf is taken first, as a document of its own (its own sidecar, another number).
    (rig.spool / "terms.pdf").write_bytes(PDF)
    (rig.spool / "terms.pdf.yaml").write_text('to: "+46855512340"\n')
    rig.run()
    assert rig.jobs() == ["terms.pdf"]
    # Then a document arrives whose sidecar attaches the same file.
    (rig.spool / "order.pdf").write_bytes(PDF + b"%order\n")
    sidecar = rig.spool / "order.pdf.yaml"
    sidecar.write_text('to: "+46812345678"\nattach: [terms.pdf]\n')
    rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
    rig.intake.changes.put(Change(rig.spool, rig.spool / "order.pdf", "file"))
    rig.run()
    jobs = {j.rel_path: j for j in rig.journal.jobs()}
    order, terms = jobs["order.pdf"], jobs["terms.pdf"]
    # terms.pdf has a sidecar of its own: a document, never an attachment.
    assert order.error is not None and "has a sidecar of its own" in order.error
    assert order.attachments == ()
    assert all(t.state.value == "failed" for t in rig.journal.transmissions(order.id))
    assert terms.error is None and terms.archived_at is None
    # Filing the refused document left terms.pdf with the job that has it.
    assert (rig.spool / "terms.pdf").exists()
    assert not (rig.spool / "failed" / "terms.pdf").exists()
    assert (rig.spool / "failed" / "order.pdf").exists()


@pytest.mark.parametrize(
    "sidecar",
    [
        'to: "+46812345678"\nattach: [terms.pdf]\nreferense: "Contract 7"\n',  # a typo in a key
        'to: "+46812345678"\nattach: [terms.pdf, a.pdf, b.pdf, c.pdf, d.pdf]\n',  # one too many
    ],
)
def test_the_attachments_of_a_failed_sidecar_fail_with_it_never_sent_alone(
    rig: IntakeRig, sidecar: str
) -> None:
    # In a folder with fixed recipients each attachment on its own would be a fax.
    (rig.spool / "terms.pdf").write_bytes(PDF + b"%terms\n")
    for name in ("a.pdf", "b.pdf", "c.pdf", "d.pdf"):
        (rig.spool / name).write_bytes(PDF + f"%{name}\n".encode())
    (rig.spool / "contract.pdf.yaml").write_text(sidecar)
    (rig.spool / "contract.pdf").write_bytes(PDF + b"%contract\n")
    rig.run()
    jobs = {j.rel_path: j for j in rig.journal.jobs()}
    contract = jobs["contract.pdf"]
    assert contract.error is not None
    named = [n for n in ("terms.pdf", "a.pdf", "b.pdf", "c.pdf", "d.pdf") if n in sidecar]
    assert sorted(Path(a).name for a in contract.attachments) == sorted(named)
    assert not set(jobs) & set(named)  # none of them is a job (a fax) of its own
    for name in named:
        assert (rig.spool / "failed" / name).exists()
        assert not (rig.spool / name).exists()


def test_two_documents_attaching_each_other_both_fail_with_reports_never_wait(
    rig: IntakeRig,
) -> None:
    # Each waited for the other as its attachment's owner: silent, for ever.
    (rig.spool / "a8.pdf").write_bytes(PDF + b"%a8\n")
    (rig.spool / "a9.pdf").write_bytes(PDF + b"%a9\n")
    (rig.spool / "a8.pdf.yaml").write_text('to: "+46855566601"\nattach: [a9.pdf]\n')
    (rig.spool / "a9.pdf.yaml").write_text('to: "+46855566601"\nattach: [a8.pdf]\n')
    rig.run()
    jobs = {j.rel_path: j for j in rig.journal.jobs()}
    assert sorted(jobs) == ["a8.pdf", "a9.pdf"]
    # The first taken names the other a document of its own; the other then finds its
    # attachment gone (filed with the first's report).
    errors = sorted(j.error or "" for j in jobs.values())
    assert all(j.attachments == () for j in jobs.values())
    assert any("has a sidecar of its own" in e for e in errors), errors
    assert all("has a sidecar of its own" in e or "not found beside it" in e for e in errors)
    assert (rig.spool / "failed" / "a8.pdf.report.yaml").exists()
    assert (rig.spool / "failed" / "a9.pdf.report.yaml").exists()


def test_a_document_with_two_sidecars_fails_naming_both(rig: IntakeRig) -> None:
    # Which one was meant cannot be known: the .yaml one used to win without a word.
    (rig.spool / "b.pdf").write_bytes(PDF + b"%b\n")
    (rig.spool / "b.pdf.yaml").write_text('to: "+46812345678"\n')
    (rig.spool / "b.pdf.yml").write_text('to: "+46855566600"\n')
    rig.run()
    [job] = rig.journal.jobs()
    assert job.error is not None and "both b.pdf.yaml and b.pdf.yml" in job.error
    assert all(t.state.value == "failed" for t in rig.journal.transmissions(job.id))
    assert (rig.spool / "failed" / "b.pdf.report.yaml").exists()
