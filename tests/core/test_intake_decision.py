"""The intake's decision from gathered facts: no file system, no provider, no journal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from faxd.core.intake_decision import GatheredFile, IntakeFacts, decide
from faxd.core.job_payload import JobFile
from faxd.core.preflight import FileFacts
from faxd.core.recipient_screen import Book
from faxd.core.sidecar import Sidecar
from faxd.model import Limits
from faxd.settings import NotifyRule, RetarusOptions
from tests.settings_helpers import bare_settings, folder_settings

PDF_HEAD = b"%PDF-1.4\n"
LIMITS = {
    "docs": Limits(
        max_files=2, max_file_size=1 << 20, extensions={"pdf": frozenset({"application/pdf"})}
    )
}
FOLDER = folder_settings(Path("/spool"), Path("/spool"), to=("+46812345678",))
SETTINGS = bare_settings(
    Path("/state"),
    source=Path("/etc/faxd.yaml"),
    folders=(FOLDER,),
    contacts={"Acme AB": "+46812345678"},
)


def pdf(name: str, path: str | None = None) -> GatheredFile:
    facts = FileFacts(name=name, size=100, head=PDF_HEAD, tail=b"%%EOF\n")
    return GatheredFile(
        JobFile(path or f"/state/work/J/snap/{name}", name, "application/pdf", 100), facts
    )


def facts(**values: object) -> IntakeFacts:
    base = IntakeFacts(
        job_id="J",
        path="/spool/a.pdf",
        rel=PurePosixPath("a.pdf"),
        received_at=10.0,
        sidecar_path=None,
        sidecar=None,
        files=(pdf("a.pdf"),),
    )
    return replace(base, **values)  # type: ignore[arg-type]


def sidecar(**values: object) -> Sidecar:
    base = Sidecar(
        to=("+46812345678",),
        sender=None,
        dft=None,
        attach=(),
        reference=None,
        provider=None,
        retarus=None,
        source="a.pdf.yaml",
    )
    return replace(base, **values)  # type: ignore[arg-type]


def nobody_known(numbers: object) -> set[str]:
    return set()


BOOK = Book.from_settings(SETTINGS)


def test_a_clean_document_is_queued_as_addressed() -> None:
    decision = decide(facts(), FOLDER, SETTINGS, LIMITS, BOOK, nobody_known)
    assert decision.problems == ()
    job = decision.final
    assert job == decision.job and job.error is None and not job.hold
    assert (job.id, job.rule, tuple(job.numbers), job.sender) == (
        "J",
        "folder",
        ("+46812345678",),
        "+4612345678",
    )
    assert job.files == [pdf("a.pdf").upload]
    assert job.options.filing_dir("failed") == "/spool/failed"


def test_every_problem_is_named_in_the_order_a_person_fixes_them() -> None:
    folder = replace(FOLDER, sender=None, provider="gone")
    gathered = facts(
        sidecar_path="/spool/a.pdf.yaml",
        sidecar=None,
        sidecar_problems=("a.pdf.yaml: bad YAML.",),
        file_problems=("b.pdf: named in the sidecar but not found beside it.",),
    )
    decision = decide(gathered, folder, SETTINGS, LIMITS, BOOK, nobody_known)
    assert decision.problems == (
        "a.pdf.yaml: bad YAML.",
        "a.pdf: provider 'gone' is not configured (known: docs).",
        "no sender number: set 'sender' for the folder or under 'defaults', "
        "or 'from' in the sidecar.",
        "b.pdf: named in the sidecar but not found beside it.",
    )
    # An unreadable sidecar is not replaced by the folder's address: nothing is sent.
    assert decision.final.numbers == () and decision.final.error is not None


def test_the_provider_limits_are_checked_on_the_gathered_files() -> None:
    many = facts(files=(pdf("a.pdf"), pdf("b.pdf"), pdf("c.pdf")))
    decision = decide(many, FOLDER, SETTINGS, LIMITS, BOOK, nobody_known)
    assert decision.final.error is not None and "3" in decision.final.error


def test_an_attachment_another_job_holds_is_refused_and_left_with_that_job() -> None:
    gathered = facts(
        sidecar_path="/spool/a.pdf.yaml",
        sidecar=sidecar(attach=("terms.pdf",)),
        attachments=("/spool/terms.pdf",),
        claimed=("/spool/terms.pdf",),
        files=(pdf("a.pdf"), pdf("terms.pdf")),
    )
    decision = decide(gathered, FOLDER, SETTINGS, LIMITS, BOOK, nobody_known)
    assert list(decision.job.attachments) == ["/spool/terms.pdf"]
    assert list(decision.final.attachments) == []
    assert decision.final.error is not None
    assert "terms.pdf (under 'attach:') is already being sent" in decision.final.error


def test_a_near_miss_is_held_unless_the_number_was_typed_for_faxd_send() -> None:
    near = facts(sidecar_path="/spool/a.pdf.yaml", sidecar=sidecar(to=("+46812345679",)))
    held = decide(near, FOLDER, SETTINGS, LIMITS, BOOK, nobody_known)
    assert held.final.hold and held.final.numbers == ()
    assert held.final.options.held_numbers() == ("+46812345679",)
    assert tuple(held.job.numbers) == ("+46812345679",)  # explain shows what was addressed
    sent = decide(near, FOLDER, SETTINGS, LIMITS, BOOK, nobody_known, guard=False)
    assert not sent.final.hold and tuple(sent.final.numbers) == ("+46812345679",)
    assert sent.held == held.held


def test_deny_refuses_also_for_faxd_send() -> None:
    folder = replace(FOLDER, deny=("+468",))
    decision = decide(facts(), folder, SETTINGS, LIMITS, BOOK, nobody_known, guard=False)
    assert decision.final.error is not None and "deny" in decision.final.error


def test_a_sidecar_retarus_key_keeps_the_folders_other_keys() -> None:
    folder = replace(FOLDER, retarus=RetarusOptions(header="Office", resolution="LOW"))
    gathered = facts(
        sidecar_path="/spool/a.pdf.yaml",
        sidecar=sidecar(retarus=RetarusOptions(express=True)),
    )
    decision = decide(gathered, folder, SETTINGS, LIMITS, BOOK, nobody_known)
    assert decision.final.options.retarus == RetarusOptions(
        header="Office", resolution="LOW", express=True
    )
    assert decide(facts(), FOLDER, SETTINGS, LIMITS, BOOK, nobody_known).job.options.retarus is None


def test_notices_name_the_owner_the_gathering_found() -> None:
    folder = replace(FOLDER, notify=(NotifyRule(on=("failed",), to=("mail:{owner}@example.com",)),))
    settings = replace(SETTINGS, folders=(folder,))
    decision = decide(facts(file_owner="anna"), folder, settings, LIMITS, BOOK, nobody_known)
    notice = decision.final.options.notice
    assert notice.owner == "anna"
    assert notice.notify[0].to == ("mail:anna@example.com",)
