"""Which listed Generic DOCS document, if any, is the upload whose answer was lost.

A date-range Retrieve shows, per document, sender, recipient, time, type and file names.
faxd's upload names carry the transmission's token (`docs_wire.tokened_name`), but a
service may rename files, and other programs may send from the same account. So:

1. Only documents from our sender to exactly our recipient, with as many files, and with
   a faxId no transmission holds yet, are candidates.
2. A candidate whose names carry this transmission's token is it. One carrying another
   token belongs to another transmission and is never taken.
3. A candidate without a token (renamed, or not sent by faxd) is compared by content:
   the same bytes prove it; other bytes in a Direct File Transfer document (kept as
   uploaded) rule it out; a fax document is stored rendered, so its bytes prove nothing.
4. If the service is known to keep names (the caller saw a token come back, or a listed
   document shows one), a candidate without a token was not uploaded by faxd unless its
   bytes say so.
5. Otherwise any unproven candidate makes the lookup ambiguous, one as much as several:
   taking it could credit another transmission's fax to this one (a report that says
   delivered for bytes never sent, while the other transmission, finding its own upload
   taken, sends again). The engine asks again, so the rightful transmission can prove its
   bytes meanwhile, and only after the last lookup fails the document with a report that
   asks the office: neither taken nor uploaded again.

6. A listed record faxd cannot read (no faxId, no time, a broken file entry) is left out
   only when what can be read of it rules it out by the rules above (another sender or
   recipient, another file count, a faxId a transmission holds, another transmission's
   token, no token where names are kept). Otherwise it may be this upload, so "not
   found" is not certain: the lookup is ambiguous (rule 5), never an upload sent again.

Names only break ties between proofs; time only bounds the listing (the server's zone is
unknown, see `docs_wire.lookup_range_body`)."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass

from faxd.core.number_match import same_number
from faxd.errors import AmbiguousOutcomeError
from faxd.model import ReceivedDocument
from faxd.providers import docs_wire as wire

# A lookup downloads at most this many unnamed candidates to compare their bytes.
MAX_CONTENT_CHECKS = 10


@dataclass(frozen=True)
class Wanted:
    """What identifies the lost upload."""

    token: str
    sender: str
    recipient: str
    file_count: int


def candidates(
    documents: Iterable[ReceivedDocument], wanted: Wanted, exclude: Container[str]
) -> list[ReceivedDocument]:
    """Rule 1: plausible documents, earliest first."""
    found = [
        d
        for d in documents
        if d.remote_id not in exclude
        and same_number(d.sender, wanted.sender)
        and len(d.all_recipients()) == 1
        and same_number(d.all_recipients()[0], wanted.recipient)
        and len(d.files) == wanted.file_count
    ]
    return sorted(found, key=lambda d: (d.time, d.remote_id))


def could_be(
    record: wire.Unreadable, wanted: Wanted, exclude: Container[str], names_kept: bool
) -> bool:
    """Rule 6: whether a record faxd cannot read might be the lost upload. Only a field
    that can be read rules it out, by the same tests as rules 1, 2 and 4."""
    if record.fax_id is not None and record.fax_id in exclude:
        return False
    if record.sender is not None and not same_number(record.sender, wanted.sender):
        return False
    if record.recipients is not None and (
        len(record.recipients) != 1 or not same_number(record.recipients[0], wanted.recipient)
    ):
        return False
    if record.file_count is not None and record.file_count != wanted.file_count:
        return False
    tokens = record.tokens()
    if tokens and wanted.token not in tokens:
        return False  # another transmission's upload
    return not (names_kept and not tokens and record.all_names_read())


def choose(
    documents: Sequence[ReceivedDocument],
    wanted: Wanted,
    exclude: Container[str],
    same_content: Callable[[ReceivedDocument], bool | None],
    names_kept: bool = False,
    unreadable: Sequence[wire.Unreadable] = (),
) -> tuple[ReceivedDocument | None, str]:
    """The document that is the lost upload (None: not found) and how it was recognised.

    `same_content(d)`: True when d holds our bytes, False when it cannot be ours, None
    when its bytes prove nothing. `names_kept`: the service is known to keep upload names.
    `unreadable`: listed records that could not be read (rule 6).
    Raises AmbiguousOutcomeError (rules 5 and 6)."""
    plausible = candidates(documents, wanted, exclude)
    named = [d for d in plausible if wanted.token in wire.name_tokens(d)]
    if named:
        return named[0], "its file names"
    unnamed = [d for d in plausible if not wire.name_tokens(d)]
    unproven: list[ReceivedDocument] = []
    for document in unnamed[:MAX_CONTENT_CHECKS]:
        verdict = same_content(document)
        if verdict is True:
            return document, "its content"
        if verdict is None:
            unproven.append(document)
    names_kept = names_kept or any(wire.name_tokens(d) for d in documents)
    # A proof above (token or bytes) stands whatever else is listed. Without one, "not
    # found" makes the engine upload again: a record that cannot be read but may be this
    # upload makes that uncertain, so the lookup is ambiguous, as for an unproven
    # candidate: asked again later (the provider may mend the record), and in the end
    # failed for the office to decide, never faxed twice. Records whose readable fields
    # rule them out are left out like any other document that is not ours.
    doubtful = [r for r in unreadable if could_be(r, wanted, exclude, names_kept)]
    if doubtful:
        ids = ", ".join(f"{r.fax_id or 'without a faxId'} ({r.problem})" for r in doubtful[:3])
        count = "1 record" if len(doubtful) == 1 else f"{len(doubtful)} records"
        raise AmbiguousOutcomeError(
            f"the upload's answer was lost, and the provider lists {count} that faxd"
            f" cannot read and that could be it ({ids}), so faxd cannot tell whether the"
            f" upload to {wanted.recipient} was accepted.",
            "faxd did not send it again, so it is not faxed twice: ask the recipient whether"
            " it arrived, then drop it again if it did not.",
        )
    if names_kept or not unproven:
        return None, ""
    ids = ", ".join(d.remote_id for d in unproven[:5])
    count = "1 transmission" if len(unproven) == 1 else f"{len(unproven)} transmissions"
    raise AmbiguousOutcomeError(
        f"the upload's answer was lost, and the provider lists {count} to"
        f" {wanted.recipient} that could be it ({ids}); it renames files and keeps faxes"
        " only rendered, so faxd cannot tell whether it is this document.",
        "faxd did not send it again, so it is not faxed twice: ask the recipient whether it"
        " arrived, then drop it again if it did not.",
    )
