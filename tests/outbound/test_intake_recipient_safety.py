"""Recipient safety at intake, in-process: allow/deny fail a document before any upload,
the misdial guard files it in hold/ with a report that names the near number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from faxd.clock import FakeClock
from faxd.core.job_payload import JobOptions
from faxd.core.transitions import TxUpdate
from faxd.model import JobState, TxState
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import Engine
from faxd.outbound.intake import Intake
from faxd.outbound.watcher import Change
from faxd.store.journal import Journal, NewJob
from tests.settings_helpers import bare_settings, folder_settings

from .engine_rig import FakeSender

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
CONTACTS = {"Acme AB": "+46812345678", "Beta": "+46812345611"}


class Rig:
    def __init__(self, tmp: Path, **folder_keys: Any) -> None:
        self.tmp = tmp
        self.spool = tmp / "spool"
        self.spool.mkdir(exist_ok=True)
        self.clock = FakeClock()
        self.journal = Journal(tmp / "state" / "journal.sqlite")
        self.sender = FakeSender()
        self.queued = 0
        self.configure(**folder_keys)

    def configure(self, **folder_keys: Any) -> None:
        self.folder = folder_settings(
            self.spool, self.spool, provider="fake", settle=0.0, sidecar_wait=0.0, **folder_keys
        )
        settings = bare_settings(
            self.tmp / "state",
            source=self.tmp / "faxd.yaml",
            default_provider="fake",
            folders=(self.folder,),
            contacts=dict(CONTACTS),
        )

        def on_job() -> None:
            self.queued += 1

        self.settings = settings
        self.archiver = Archiver(self.journal, self.clock)
        self.intake = Intake(
            settings, self.journal, {"fake": self.sender}, self.archiver, self.clock, on_job
        )

    def drop(self, rel: str) -> Path:
        path = self.spool / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PDF)
        self.intake.changes.put(Change(self.spool, path, "file"))
        for _ in range(5):
            self.intake.step(max_wait=0.01)
        return path

    def report(self, path: Path) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(
            path.with_name(path.name + ".report.yaml").read_text()
        )
        return data

    def delivered(self, number: str) -> None:
        """A past job delivered to `number`, as the engine leaves it in the journal."""
        job = NewJob(
            id=f"past-{number}",
            folder=str(self.spool),
            rel_path="past.pdf",
            path=str(self.tmp / f"past-{number}.pdf"),
            sidecar=None,
            attachments=(),
            files=(),
            provider="fake",
            sender="+4612345678",
            dft=False,
            reference=None,
            rule="subfolder",
            options=JobOptions(),
            ino=None,
            received_at=0.0,
            numbers=(number,),
        )
        self.journal.create_job(job)
        for state in (TxState.SUBMITTING, TxState.SUBMITTED, TxState.DELIVERED):
            self.journal.apply(job.id, 0, TxUpdate(state=state))
        self.journal.mark_archived(job.id, job.path, 1.0)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.journal.close()


def test_one_digit_off_a_contact_is_held_with_the_contact_suggested(rig: Rig) -> None:
    rig.drop("+46812345679/letter.pdf")
    held = rig.spool / "hold" / "+46812345679" / "letter.pdf"
    assert held.read_bytes() == PDF
    assert not (rig.spool / "+46812345679" / "letter.pdf").exists()
    report = rig.report(held)
    assert report["result"] == "held"
    assert "did you mean Acme AB, +46812345678?" in report["error"]
    assert "faxd release" in report["error"]
    [recipient] = report["recipients"]
    assert recipient["number"] == "+46812345679"
    assert recipient["status"] == "held"
    assert rig.queued == 0
    [job] = rig.journal.jobs()
    assert job.state == JobState.HELD
    assert rig.journal.transmissions(job.id) == []


def test_one_digit_off_a_number_delivered_to_is_held(rig: Rig) -> None:
    rig.delivered("+46855512345")
    rig.drop("+46855512354/letter.pdf")  # the last two digits swapped
    report = rig.report(rig.spool / "hold" / "+46855512354" / "letter.pdf")
    assert "did you mean +46855512345 (delivered to before)?" in report["error"]
    assert "two neighbouring digits swapped" in report["error"]


def test_contacts_and_numbers_delivered_to_go_straight_out(rig: Rig) -> None:
    rig.delivered("+46855512345")
    rig.drop("Acme AB/a.pdf")
    rig.drop("+46812345611/b.pdf")  # Beta: a contact, though one digit off nothing known
    rig.drop("+46855512345/c.pdf")
    rig.drop("+46927654321/d.pdf")  # new, far from everything: new_numbers is send
    assert rig.queued == 4
    assert not (rig.spool / "hold").exists()


def test_new_numbers_hold_holds_only_the_first_fax_to_an_unknown_number(tmp_path: Path) -> None:
    rig = Rig(tmp_path, new_numbers="hold")
    rig.delivered("+46855512345")
    rig.drop("+46927654321/new.pdf")
    rig.drop("+46855512345/known.pdf")
    rig.drop("Acme AB/contact.pdf")
    assert rig.queued == 2
    report = rig.report(rig.spool / "hold" / "+46927654321" / "new.pdf")
    assert "new numbers are held (new_numbers: hold)" in report["error"]
    rig.journal.close()


def test_a_held_document_whose_filing_failed_stays_held_when_filing_is_tried_again(
    tmp_path: Path,
) -> None:
    # The daemon tries a failed filing again through the engine's finish_if_done. A held
    # job has no transmission, so "every transmission final" held, and it was made a
    # failed job: `faxd release` no longer found it, and its report said failed.
    rig = Rig(tmp_path, new_numbers="hold")
    in_the_way = rig.spool / "hold" / "+46855512345"
    in_the_way.parent.mkdir()
    in_the_way.write_text("a file where the folder goes\n")
    rig.drop("+46855512345/new.pdf")
    [job] = rig.journal.jobs()
    assert job.state is JobState.HELD and job.archived_at is None
    engine = Engine(rig.settings, rig.journal, {"fake": rig.sender}, rig.archiver, rig.clock)
    engine.finish_if_done(job.id)
    again = rig.journal.job(job.id)
    assert again is not None and again.state is JobState.HELD and again.archived_at is None
    in_the_way.unlink()
    engine.finish_if_done(job.id)
    filed = rig.journal.job(job.id)
    assert filed is not None and filed.state is JobState.HELD and filed.archived_at is not None
    assert rig.report(in_the_way / "new.pdf")["result"] == "held"
    rig.journal.close()


def test_a_number_released_once_is_known(tmp_path: Path) -> None:
    rig = Rig(tmp_path, new_numbers="hold")
    rig.journal.start_release("some-job", ["+46812345679"], [], 0.0)
    rig.drop("+46812345679/again.pdf")
    assert rig.queued == 1
    rig.journal.close()


def test_the_guard_off_sends_near_numbers(tmp_path: Path) -> None:
    rig = Rig(tmp_path, misdial_guard=False)
    rig.drop("+46812345679/letter.pdf")
    assert rig.queued == 1
    rig.journal.close()


def test_deny_fails_the_document_naming_the_rule_without_an_upload(tmp_path: Path) -> None:
    rig = Rig(tmp_path, allow=("+46",), deny=("+46900",))
    rig.drop("+46900123456/premium.pdf")
    report = rig.report(rig.spool / "failed" / "+46900123456" / "premium.pdf")
    assert report["result"] == "failed"
    assert "deny rule '+46900'" in report["error"]
    assert rig.queued == 0
    [job] = rig.journal.jobs()
    # Nothing for the engine to upload: the only transmission is failed already.
    assert [t.state for t in rig.journal.transmissions(job.id)] == [TxState.FAILED]
    rig.journal.close()


def test_a_number_outside_allow_fails_naming_the_allowed_prefixes(tmp_path: Path) -> None:
    rig = Rig(tmp_path, allow=("+46", "+47"))
    rig.drop("+4930123456/abroad.pdf")
    report = rig.report(rig.spool / "failed" / "+4930123456" / "abroad.pdf")
    assert "none of the allow rules ('+46', '+47')" in report["error"]
    rig.drop("+46812345678/home.pdf")
    assert rig.queued == 1
    rig.journal.close()


def test_a_refused_document_is_not_also_held(tmp_path: Path) -> None:
    rig = Rig(tmp_path, deny=("+468",))
    rig.drop("+46812345679/both.pdf")
    assert (rig.spool / "failed" / "+46812345679" / "both.pdf").exists()
    assert not (rig.spool / "hold").exists()
    rig.journal.close()


def test_hold_dir_inside_the_spool_is_never_input_and_can_be_moved(tmp_path: Path) -> None:
    rig = Rig(tmp_path, hold_dir=tmp_path / "spool" / "wait")
    rig.drop("+46812345679/letter.pdf")
    held = rig.spool / "wait" / "+46812345679" / "letter.pdf"
    assert held.exists()
    rig.intake.scan(rig.spool)
    for _ in range(5):
        rig.intake.step(max_wait=0.01)
    assert len(rig.journal.jobs()) == 1
    rig.journal.close()


def test_moved_back_unchanged_it_is_held_again(rig: Rig) -> None:
    rig.drop("+46812345679/letter.pdf")
    held = rig.spool / "hold" / "+46812345679" / "letter.pdf"
    back = rig.spool / "+46812345679" / "letter.pdf"
    held.rename(back)
    rig.intake.changes.put(Change(rig.spool, back, "file"))
    for _ in range(5):
        rig.intake.step(max_wait=0.01)
    assert not back.exists()
    # The first hold's report is still beside letter.pdf's name: the second hold takes a
    # fresh number for the document and its report together.
    again = held.with_name("letter (2).pdf")
    assert again.exists() and not held.exists()
    assert rig.report(again)["result"] == "held"
    assert [j.state for j in rig.journal.jobs()] == [JobState.HELD, JobState.HELD]
    assert rig.queued == 0
