"""Recipient safety at intake: the folder's allow/deny prefixes refuse a recipient (the
document fails, no API call), and the misdial guard holds a document whose recipient is
one slip from a known number, or new while `new_numbers: hold` (it goes to hold/ until an
admin runs `faxd release`). Pure: the numbers faxd knows are asked through the lookup
the caller passes; the rule for one number is faxd.core.misdial."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from faxd.core.job_payload import Hold, NewJob
from faxd.core.misdial import KnownLookup, Verdict, check, contact_index, refused_by
from faxd.settings import FolderSettings, Settings

RELEASE_HINT = (
    "Nothing was sent. If the number is right, 'faxd release' with this document's path (or "
    "its job id) sends it as addressed and remembers the number; if it is wrong, correct the "
    "address and move the document back into the spool folder."
)


@dataclass(frozen=True)
class Book:
    """What the guard compares against, built once per configuration."""

    by_number: dict[str, str]  # contacts: number -> name to suggest
    configured: frozenset[str]  # numbers written in a folder's `to:`: trusted as written

    @classmethod
    def from_settings(cls, settings: Settings) -> Book:
        configured = {n for f in settings.folders for n in f.to if n.startswith("+")}
        return cls(contact_index(settings.contacts), frozenset(configured))


def screen(
    folder: FolderSettings, numbers: Sequence[str], book: Book, known: KnownLookup
) -> tuple[list[str], list[Verdict]]:
    """(refusals by allow/deny, held verdicts). A refused document fails, so it is not
    also checked by the guard."""
    refusals = [r for r in (refused_by(n, folder.allow, folder.deny) for n in numbers) if r]
    if refusals:
        return [f"{r} Change the address, or the folder's allow/deny rules." for r in refusals], []
    held: list[Verdict] = []
    for number in numbers:
        if number in book.configured:
            continue
        verdict = check(
            number,
            book.by_number,
            known,
            guard=folder.misdial_guard,
            new_numbers=folder.new_numbers,
        )
        if verdict.hold is not None:
            held.append(verdict)
    return [], held


def held_job(job: NewJob, held: Collection[Verdict]) -> NewJob:
    """The job as filed in hold/: no transmissions, its numbers and reasons kept for the
    report and for `faxd release`."""
    reasons = {v.number: v.reason for v in held}
    sentences = " ".join(reason for reason in reasons.values() if reason)
    options = replace(job.options, hold=Hold(tuple(job.numbers), reasons))
    return replace(job, hold=True, error=f"{sentences} {RELEASE_HINT}", numbers=(), options=options)
