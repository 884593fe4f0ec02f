"""Filing names: a job's document, sidecar, attachments and reports share one numbering,
so `X.report.yaml` (and `X.yaml`) beside a filed `X` always belong to that `X`, never to
an earlier attempt whose files were moved away. Real Archiver, real folders."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
import yaml

from faxd.core.names import NAME_MAX, name_bytes, report_name
from faxd.core.sidecar import document_of
from faxd.model import JobState
from faxd.outbound.watcher import Change

from .test_intake_recipient_safety import PDF, Rig

FOLDER = "+46 8 123"  # not a valid number: every document in it fails at intake
SIDECAR = 'to: "+46 8 123"\n'


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.journal.close()


def _run(rig: Rig, path: Path) -> None:
    rig.intake.changes.put(Change(rig.spool, path, "file"))
    for _ in range(5):
        rig.intake.step(max_wait=0.01)


def _drop(rig: Rig, name: str, tag: str, sidecar: str | None = None) -> Path:
    path = rig.spool / FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if sidecar is not None:
        path.with_name(name + ".yaml").write_text(sidecar)
    path.write_bytes(PDF + f"%{tag}\n".encode())
    _run(rig, path)
    return path


def _failed(rig: Rig) -> Path:
    return rig.spool / "failed" / FOLDER


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _new_job(rig: Rig, seen: Collection[str] = ()) -> str:
    """The one filed, failed job whose id is not in `seen`."""
    jobs = [j for j in rig.journal.jobs() if j.id not in seen]
    [job] = jobs
    assert job.state == JobState.FAILED and job.archived_at is not None
    return job.id


def _job_of(report: Path) -> str:
    data = yaml.safe_load(report.read_text())
    assert data["result"] == "failed"
    return str(data["job"])


def test_a_document_moved_back_and_failed_again_gets_a_fresh_set_of_names(rig: Rig) -> None:
    first = _drop(rig, "doc.pdf", "first", SIDECAR)
    failed = _failed(rig)
    assert set(_listing(failed)) == {"doc.pdf", "doc.pdf.yaml", "doc.pdf.report.yaml"}
    first_job = _new_job(rig)
    # The admin moves the failed document (with its sidecar) back: it is sent again. Its
    # report stays in failed/, beside nothing.
    (failed / "doc.pdf").rename(first)
    (failed / "doc.pdf.yaml").rename(first.with_name("doc.pdf.yaml"))
    first.write_bytes(PDF + b"%second\n")
    first.with_name("doc.pdf.yaml").write_text(SIDECAR + "reference: again\n")
    before = _listing(failed)
    _run(rig, first)

    second_job = _new_job(rig, {first_job})
    after = _listing(failed)
    assert {k: after[k] for k in before} == before  # the old report is untouched
    assert set(after) - set(before) == {
        "doc (2).pdf",
        "doc (2).pdf.yaml",
        "doc (2).pdf.report.yaml",
    }
    assert after["doc (2).pdf"] == PDF + b"%second\n"
    assert b"again" in after["doc (2).pdf.yaml"]
    assert _job_of(failed / "doc (2).pdf.report.yaml") == second_job
    assert _job_of(failed / "doc.pdf.report.yaml") == first_job
    job = rig.journal.job(second_job)
    assert job is not None and job.archive_plan is not None
    assert job.archived_path == str(failed / "doc (2).pdf")
    assert sorted(Path(p).name for p in job.archive_plan.values()) == sorted(
        set(after) - set(before)
    )


@pytest.mark.parametrize(
    "taken",
    ["doc.pdf.report.yaml", "doc.pdf.report.pdf", "doc.pdf.yaml", "doc.pdf.yml"],
)
def test_a_name_that_pairs_with_the_document_being_taken_numbers_them_all(
    rig: Rig, taken: str
) -> None:
    failed = _failed(rig)
    failed.mkdir(parents=True)
    (failed / taken).write_bytes(b"an earlier attempt's\n")
    _drop(rig, "doc.pdf", "new", SIDECAR)

    assert set(_listing(failed)) == {
        taken,
        "doc (2).pdf",
        "doc (2).pdf.yaml",
        "doc (2).pdf.report.yaml",
    }
    assert (failed / taken).read_bytes() == b"an earlier attempt's\n"
    assert _job_of(failed / "doc (2).pdf.report.yaml") == _new_job(rig)


def test_a_taken_sidecar_name_numbers_the_document_with_it(rig: Rig) -> None:
    # Before, the sidecar alone was numbered ("a10.pdf (2).yaml", no sidecar of anything)
    # and the document kept a name whose sidecar is another attempt's.
    failed = _failed(rig)
    _drop(rig, "a10.pdf", "first", SIDECAR)
    first_job = _new_job(rig)
    (failed / "a10.pdf").rename(rig.spool / FOLDER / "a10.pdf")  # moved back alone
    _drop(rig, "a10.pdf", "second", SIDECAR + "reference: second\n")

    assert set(_listing(failed)) == {
        "a10.pdf.yaml",
        "a10.pdf.report.yaml",
        "a10 (2).pdf",
        "a10 (2).pdf.yaml",
        "a10 (2).pdf.report.yaml",
    }
    assert b"second" in (failed / "a10 (2).pdf.yaml").read_bytes()
    assert document_of("a10 (2).pdf.yaml") == "a10 (2).pdf"
    assert _job_of(failed / "a10 (2).pdf.report.yaml") == _new_job(rig, {first_job})


def test_attachments_take_names_of_their_own_and_never_number_the_document(rig: Rig) -> None:
    # The same terms.pdf attached to order after order: each filed terms.pdf is numbered,
    # the orders are not (and a report's name still pairs with its order).
    failed = _failed(rig)
    failed.mkdir(parents=True)
    (failed / "order.pdf.report.yaml").write_text("result: failed\n")  # an old attempt's
    (failed / "terms.pdf").write_bytes(b"an earlier order's terms")
    (rig.spool / FOLDER).mkdir(parents=True)
    (rig.spool / FOLDER / "terms.pdf").write_bytes(PDF + b"%terms\n")
    _drop(rig, "order.pdf", "order", SIDECAR + "attach: [terms.pdf]\n")
    (rig.spool / FOLDER / "terms.pdf").write_bytes(PDF + b"%terms\n")
    _drop(rig, "invoice.pdf", "invoice", SIDECAR + "attach: [terms.pdf]\n")

    assert set(_listing(failed)) == {
        "order.pdf.report.yaml",
        "terms.pdf",
        "order (2).pdf",
        "order (2).pdf.yaml",
        "order (2).pdf.report.yaml",
        "terms (2).pdf",
        "invoice.pdf",
        "invoice.pdf.yaml",
        "invoice.pdf.report.yaml",
        "terms (3).pdf",
    }
    assert (failed / "terms.pdf").read_bytes() == b"an earlier order's terms"
    assert (failed / "terms (2).pdf").read_bytes() == PDF + b"%terms\n"


def test_a_long_name_is_cut_so_its_sidecar_and_report_still_pair_with_it(rig: Rig) -> None:
    # The longest document name a `.yaml` sidecar can have: numbering it must cut it
    # further, or "NAME (2).pdf.yaml" would not fit in 255 bytes.
    name = "ä" * ((NAME_MAX - len(".pdf.yaml")) // 2) + ".pdf"
    assert name_bytes(name + ".yaml") == NAME_MAX
    failed = _failed(rig)
    first = _drop(rig, name, "first", SIDECAR)
    first_job = _new_job(rig)
    old_report = report_name(name)  # cut: the document's name plus its suffix is too long
    assert set(_listing(failed)) == {name, name + ".yaml", old_report}
    (failed / name).rename(first)
    (failed / (name + ".yaml")).rename(first.with_name(name + ".yaml"))
    before = _listing(failed)
    _run(rig, first)

    new = set(_listing(failed)) - set(before)
    [document] = [n for n in new if n.endswith(".pdf") and not n.endswith(".report.pdf")]
    assert document != name and document.endswith(" (2).pdf")
    assert new == {document, document + ".yaml", report_name(document)}
    assert document_of(document + ".yaml") == document
    assert all(name_bytes(n) <= NAME_MAX for n in new)
    assert _listing(failed)[old_report] == before[old_report]
    assert _job_of(failed / report_name(document)) == _new_job(rig, {first_job})
