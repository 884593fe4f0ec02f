"""Which listed document is a lost Generic DOCS upload: tokens in names, content, and never
an id another transmission holds or a document faxd did not send."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxd.clock import FakeClock
from faxd.core.job_payload import JobOptions
from faxd.errors import AmbiguousOutcomeError, OutcomeUnknownError
from faxd.model import OutgoingFile, ReceivedDocument, ReceivedFile, Submission
from faxd.providers import docs_lookup as lookup
from faxd.providers import docs_wire as wire
from faxd.providers.docs import DocsProvider
from faxd.sandbox.server import SandboxServer
from faxd.store.journal import Journal, NewJob

from .contract_rigs import docs_settings

SENDER = "+4612345678"
NUMBER = "+46812345678"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def doc(
    fax_id: str,
    name: str,
    *,
    sender: str = SENDER,
    recipient: str | list[str] = NUMBER,
    minute: int = 0,
    type_: str = "Fax",
) -> ReceivedDocument:
    recipients = tuple(recipient) if isinstance(recipient, list) else (recipient,)
    return ReceivedDocument(
        remote_id=fax_id,
        time=T0 + timedelta(minutes=minute),
        sender=sender,
        recipient=recipients[0],
        recipients=recipients,
        status="Sending",
        type=type_,
        files=(ReceivedFile(f"file-{fax_id}", name),),
    )


def wanted(key: str = "job-a-0") -> lookup.Wanted:
    return lookup.Wanted(wire.upload_token(key), SENDER, NUMBER, 1)


def named(key: str) -> str:
    return wire.tokened_name("letter.pdf", wire.upload_token(key))


def never(_: ReceivedDocument) -> bool | None:
    raise AssertionError("no content check expected")


def test_the_token_in_the_names_identifies_the_transmission_whatever_the_order() -> None:
    listing = [doc("b", named("job-b-0"), minute=0), doc("a", named("job-a-0"), minute=1)]
    assert lookup.choose(listing, wanted("job-a-0"), frozenset(), never)[0] == listing[1]
    assert lookup.choose(listing, wanted("job-b-0"), frozenset(), never)[0] == listing[0]


def test_an_id_already_held_or_another_transmissions_token_is_never_taken() -> None:
    listing = [doc("a", named("job-a-0")), doc("b", named("job-b-0"))]
    assert lookup.choose(listing, wanted(), frozenset({"a"}), never) == (None, "")
    assert lookup.choose(listing[1:], wanted(), frozenset(), never) == (None, "")


def test_sender_recipient_and_file_count_must_match() -> None:
    mine = named("job-a-0")
    listing = [
        doc("s", mine, sender="+4699999999"),
        doc("r", mine, recipient="+46811111111"),
        doc("m", mine, recipient=[NUMBER, "+46811111111"]),  # faxd sends one per recipient
    ]
    assert lookup.choose(listing, wanted(), frozenset(), never) == (None, "")


def test_when_the_service_keeps_names_an_unnamed_document_is_not_faxds() -> None:
    listing = [doc("other", "scan.pdf"), doc("known", named("job-z-0"))]
    verdicts: list[str] = []

    def unprovable(d: ReceivedDocument) -> bool | None:
        verdicts.append(d.remote_id)
        return None

    # "known" is held by a transmission, but its name shows the service keeps names
    assert lookup.choose(listing, wanted(), frozenset({"known"}), unprovable) == (None, "")
    assert verdicts == ["other"]


def test_renamed_documents_are_told_apart_by_content() -> None:
    listing = [doc("x", "20261130_1200004612345678.pdf"), doc("y", "20261130_1200014612345678.pdf")]
    found, how = lookup.choose(listing, wanted(), frozenset(), lambda d: d.remote_id == "y")
    assert (found, how) == (listing[1], "its content")


def test_an_unprovable_renamed_fax_is_never_taken_one_or_several_are_ambiguous() -> None:
    # Taking the only candidate could credit another transmission's fax to this one.
    one = [doc("x", "20261130_1200004612345678.pdf")]
    with pytest.raises(AmbiguousOutcomeError, match="1 transmission "):
        lookup.choose(one, wanted(), frozenset(), lambda d: None)
    two = [*one, doc("y", "20261130_1200014612345678.pdf")]
    with pytest.raises(AmbiguousOutcomeError, match="2 transmissions"):
        lookup.choose(two, wanted(), frozenset(), lambda d: None)
    # a DFT document with other bytes is ruled out; the one left still proves nothing
    with pytest.raises(AmbiguousOutcomeError, match="1 transmission "):
        lookup.choose(two, wanted(), frozenset(), lambda d: None if d.remote_id == "y" else False)
    # its own bytes prove it
    found, how = lookup.choose(two, wanted(), frozenset(), lambda d: d.remote_id == "y")
    assert (found, how) == (two[1], "its content")


# --- property: no provider id is ever credited to two transmissions ---------------------------


def _journal_with(path: Path, keys: list[str]) -> Journal:
    journal = Journal(path)
    for key in keys:
        job_id = key.rsplit("-", 1)[0]
        journal.create_job(
            NewJob(
                id=job_id,
                folder="/spool",
                rel_path=f"{job_id}/letter.pdf",
                path=f"/spool/{job_id}/letter.pdf",
                sidecar=None,
                attachments=(),
                files=[],
                provider="docs",
                sender=SENDER,
                dft=False,
                reference=None,
                rule="subfolder",
                options=JobOptions(),
                ino=None,
                received_at=0.0,
                numbers=[NUMBER],
            )
        )
    return journal


uploads = st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=10)


@settings(max_examples=60, deadline=None)
@given(
    owners=uploads,  # per listed document: the transmission that uploaded it (5 = not faxd)
    names_kept=st.booleans(),
    learned=st.booleans(),  # faxd saw its own names come back in an earlier answer
    comparable=st.booleans(),  # DFT (or a service that keeps bytes) vs a rendered fax
    batches=st.lists(
        st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=4),
        min_size=1,
        max_size=8,
    ),
)
def test_no_provider_id_is_ever_credited_to_two_transmissions(
    tmp_path_factory: pytest.TempPathFactory,
    owners: list[int],
    names_kept: bool,
    learned: bool,
    comparable: bool,
    batches: list[list[int]],
) -> None:
    keys = [f"job-{i}-0" for i in range(5)]
    listing = [
        doc(
            f"fax-{n}",
            named(keys[owner]) if names_kept and owner < 5 else f"2026113012000{n}.pdf",
            minute=n,
        )
        for n, owner in enumerate(owners)
    ]
    owner_of = {d.remote_id: owners[n] for n, d in enumerate(listing)}
    journal = _journal_with(tmp_path_factory.mktemp("j") / "journal.sqlite", keys)
    try:
        for batch in batches:
            # Lookups in one batch run at once: all list before any of them claims.
            exclude = journal.remote_ids("docs")
            results: list[tuple[int, ReceivedDocument | None]] = []
            for tx in batch:

                def same(d: ReceivedDocument, tx: int = tx) -> bool | None:
                    return (owner_of[d.remote_id] == tx) if comparable else None

                try:
                    found, _ = lookup.choose(
                        listing, wanted(keys[tx]), exclude, same, names_kept and learned
                    )
                except AmbiguousOutcomeError:
                    found = None
                results.append((tx, found))
            for tx, found in results:
                if found is not None and journal.transmission(f"job-{tx}", 0).remote_id is None:  # type: ignore[union-attr]
                    journal.claim_remote_id("docs", f"job-{tx}", 0, found.remote_id)
        credited = [
            (t.remote_id, i)
            for i in range(5)
            for t in journal.transmissions(f"job-{i}")
            if t.remote_id is not None
        ]
        ids = [remote_id for remote_id, _ in credited]
        assert len(ids) == len(set(ids)), credited
        assert set(journal.remote_claims("docs")) == set(ids)
        shown = names_kept and any(owner < 5 for owner in owners)
        if (names_kept and learned) or shown or comparable:
            # Provable: every credit is the transmission that uploaded those bytes.
            assert all(owner_of[remote_id] == tx for remote_id, tx in credited), credited
    finally:
        journal.close()


# --- against the sandbox: same name, different content, lost answers ------------------------


def _letter(tmp: Path, folder: str, tag: bytes) -> OutgoingFile:
    path = tmp / folder / "letter.pdf"
    path.parent.mkdir()
    path.write_bytes(b"%PDF-1.4\n" + tag + b"\n%%EOF\n")
    return OutgoingFile(path, "letter.pdf", "application/pdf", path.stat().st_size)


@pytest.mark.parametrize(
    "scenario",
    [
        {"timezone": "Pacific/Kiritimati"},  # UTC+14, faxd assumes Stockholm
        {"timezone": "Pacific/Pago_Pago", "rename_files": True},  # UTC-11, names replaced
    ],
    ids=["names-kept-utc+14", "renamed-utc-11"],
)
def test_two_lost_uploads_of_same_named_documents_are_each_found(
    tmp_path: Path, scenario: dict[str, object]
) -> None:
    clock = FakeClock()
    with SandboxServer({"status_delay": 5, **scenario}, clock=clock) as sandbox:
        docs = DocsProvider(docs_settings(sandbox.docs_base_url), clock=clock)
        try:
            started = clock.now()
            submissions = [
                Submission(
                    f"job{n}-0", f"job{n}", SENDER, NUMBER, (_letter(tmp_path, f"u{n}", t),), True
                )
                for n, t in ((1, b"first"), (2, b"second"))
            ]
            for submission in submissions:
                sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_after"})
                with pytest.raises(OutcomeUnknownError):
                    docs.submit(submission)
                clock.advance(1)
            transmissions = sandbox.stats()["docs"]["transmissions"]
            held: frozenset[str] = frozenset()
            # the second one asks first: order must not matter
            for submission in reversed(submissions):
                found = docs.find_submission(submission, started, held)
                assert found is not None
                digest = hashlib.sha256(submission.files[0].path.read_bytes()).hexdigest()
                assert transmissions[found.remote_id]["sha256"] == [digest]
                held |= {found.remote_id}
        finally:
            docs.close()


def test_a_document_faxd_did_not_send_is_not_taken(tmp_path: Path) -> None:
    clock = FakeClock()
    with SandboxServer({"status_delay": 5}, clock=clock) as sandbox:
        docs = DocsProvider(docs_settings(sandbox.docs_base_url), clock=clock)
        try:
            started = clock.now()
            # An earlier upload of faxd's, listed with its name: the service keeps names.
            docs.submit(
                Submission("job0-0", "job0", SENDER, NUMBER, (_letter(tmp_path, "c", b"c"),), False)
            )
            held = frozenset(sandbox.stats()["docs"]["transmissions"])
            ours = Submission(
                "job1-0", "job1", SENDER, NUMBER, (_letter(tmp_path, "a", b"a"),), False
            )
            # Another program on the account sends the same name to the same number.
            foreign = Submission("x", "x", SENDER, NUMBER, (_letter(tmp_path, "b", b"b"),), False)
            sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_before"})
            with pytest.raises(OutcomeUnknownError):
                docs.submit(ours)
            _post_untokened(sandbox, foreign)
            assert docs.find_submission(ours, started, held) is None
        finally:
            docs.close()


def _post_untokened(sandbox: SandboxServer, submission: Submission) -> None:
    import requests

    item = submission.files[0]
    answer = requests.post(
        f"{sandbox.docs_base_url}/Send",
        headers={"Authorization": "Bearer sandbox-docs-key"},
        data={"senderFaxNumber": submission.sender, "recipientFaxNumber": submission.recipient},
        files=[("file", (item.name, item.path.read_bytes(), item.mime))],
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def test_names_seen_in_a_status_answer_keep_a_foreign_document_out_of_later_lookups(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with SandboxServer({"status_delay": 5}, clock=clock) as sandbox:
        docs = DocsProvider(docs_settings(sandbox.docs_base_url), clock=clock)
        try:
            earlier = Submission(
                "job0-0", "job0", SENDER, NUMBER, (_letter(tmp_path, "c", b"c"),), False
            )
            docs.status(docs.submit(earlier).remote_id)  # our token came back: names are kept
            clock.advance(3 * 86400)  # that upload is long out of any lookup's window
            started = clock.now()
            ours = Submission(
                "job1-0", "job1", SENDER, NUMBER, (_letter(tmp_path, "a", b"a"),), False
            )
            sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_before"})
            with pytest.raises(OutcomeUnknownError):
                docs.submit(ours)
            _post_untokened(
                sandbox,
                Submission("x", "x", SENDER, NUMBER, (_letter(tmp_path, "b", b"b"),), False),
            )
            assert docs.find_submission(ours, started, frozenset()) is None
            # a provider that never saw its names come back cannot rule the foreign fax
            # out, and does not take it either: the lookup is ambiguous
            fresh = DocsProvider(docs_settings(sandbox.docs_base_url), clock=clock)
            try:
                with pytest.raises(AmbiguousOutcomeError):
                    fresh.find_submission(ours, started, frozenset())
            finally:
                fresh.close()
        finally:
            docs.close()
