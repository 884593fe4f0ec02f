"""What intake makes of a ready document, decided from the facts gathered about it.

The intake (faxd.outbound.intake) first gathers: it copies the document, its sidecar and
attachments into the job's work folder, reads the sidecar, converts a print file and
samples each upload. Everything read is in `IntakeFacts`; `decide` then addresses and
checks without any I/O, so the daemon, `faxd explain` and `faxd send` decide alike.
The numbers faxd has delivered to are asked through the `known` lookup the caller passes
(an index probe in the journal)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from faxd.core.addressing import parse_number, resolve_address
from faxd.core.job_payload import JobFile, JobOptions, NewJob, Source
from faxd.core.misdial import KnownLookup, Verdict
from faxd.core.notice_plan import notice_plan
from faxd.core.preflight import FileFacts, check_files
from faxd.core.print_clues import Clue
from faxd.core.recipient_screen import Book, held_job, screen
from faxd.core.sidecar import Sidecar
from faxd.errors import AddressError
from faxd.model import Limits
from faxd.settings import FolderSettings, RetarusOptions, Settings


@dataclass(frozen=True)
class GatheredFile:
    """One file to upload, as copied (or converted) and sampled."""

    upload: JobFile
    facts: FileFacts  # for the provider's limits


@dataclass(frozen=True)
class IntakeFacts:
    """Everything gathering read about a ready document; nothing decided yet. The problem
    lists are what reading refused, kept apart so that a refusal names them in the order
    a person fixes them (sidecar, document, conversion, files)."""

    job_id: str
    path: str  # the document in the spool folder
    rel: PurePosixPath  # relative to the spool folder
    received_at: float
    sidecar_path: str | None  # a sidecar is there (read or not)
    sidecar: Sidecar | None  # None: no sidecar, or it could not be read
    clues: tuple[Clue, ...] = ()  # addresses found in a print file or embedded codes
    files: tuple[GatheredFile, ...] = ()  # the document's upload first, then attachments
    attachments: tuple[str, ...] = ()  # files named under `attach:` that are there
    claimed: tuple[str, ...] = ()  # of those, files another unfiled job holds
    sources: Mapping[str, Source] | None = None  # spool path -> what was taken
    ino: int | None = None  # the document's inode when taken
    file_owner: str | None = None  # the Unix user owning the document (notices' {owner})
    sidecar_problems: tuple[str, ...] = ()
    document_problems: tuple[str, ...] = ()
    print_problems: tuple[str, ...] = ()
    file_problems: tuple[str, ...] = ()  # attachments missing, files that cannot be sampled


@dataclass(frozen=True)
class Decision:
    """The job as addressed and checked (`job`), and as it is to be recorded (`final`:
    refused with every problem, held by the misdial guard, or queued)."""

    job: NewJob
    final: NewJob
    problems: tuple[str, ...]
    held: tuple[Verdict, ...] = ()


def attached_elsewhere(paths: Sequence[str]) -> str:
    names = ", ".join(PurePosixPath(p).name for p in paths)
    return (
        f"{names} (under 'attach:') is already being sent as a document of its own, and a file"
        " belongs to one job at a time, so nothing was sent. Attach a copy under another name,"
        " or drop this document again once that one is filed."
    )


def decide(
    facts: IntakeFacts,
    folder: FolderSettings,
    settings: Settings,
    limits: Mapping[str, Limits],
    book: Book,
    known: KnownLookup,
    *,
    guard: bool = True,
) -> Decision:
    """Address and check a document from its facts; every problem is collected, none
    raised. `limits`: the configured providers' limits, by name. `guard`: False for
    `faxd send`, where the number typed on the command line is the confirmation (allow
    and deny still apply)."""
    sidecar = facts.sidecar
    problems = [*facts.sidecar_problems, *facts.document_problems]
    provider = (sidecar.provider if sidecar and sidecar.provider else None) or folder.provider
    if provider not in limits:
        problems.append(
            f"{PurePosixPath(facts.path).name}: provider '{provider}' is not configured "
            f"(known: {', '.join(sorted(limits))})."
        )
    problems.extend(facts.print_problems)
    numbers: tuple[str, ...] = ()
    rule: str | None = None
    if not (facts.sidecar_path is not None and sidecar is None):
        try:
            address = resolve_address(
                facts.rel, sidecar, folder.to, folder.region, settings.contacts, facts.clues
            )
            numbers, rule = tuple(address.numbers), address.rule
        except AddressError as exc:
            problems.append(str(exc))
    sender = folder.sender
    if sidecar is not None and sidecar.sender:
        try:
            sender = parse_number(sidecar.sender, folder.region, settings.contacts)
        except AddressError as exc:
            problems.append(str(exc))
    if sender is None:
        problems.append(
            "no sender number: set 'sender' for the folder or under 'defaults', "
            "or 'from' in the sidecar."
        )
    problems.extend(facts.file_problems)
    if provider in limits and facts.files:
        problems.extend(check_files([f.facts for f in facts.files], limits[provider]))
    refusals, held = screen(folder, numbers, book, known)
    problems.extend(refusals)
    allow_dft = folder.dft == "prefer"
    if sidecar is not None and sidecar.dft is not None:
        allow_dft = sidecar.dft
    types = {name: channel.type for name, channel in settings.channels.items()}
    options = JobOptions(
        sent_dir=str(folder.sent_dir),
        failed_dir=str(folder.failed_dir),
        hold_dir=str(folder.hold_folder),
        max_attempts=folder.max_attempts,
        give_up_after=folder.give_up_after,
        status_timeout=folder.status_timeout,
        retarus=_retarus_options(folder, sidecar),
        station_name=folder.station_name,  # for the report PDF, drawn after filing
        report_pdf=folder.report_pdf,
        sources=dict(facts.sources or {}),
        notice=notice_plan(folder, sidecar, facts.file_owner, types, problems),
    )
    job = NewJob(
        id=facts.job_id,
        folder=str(folder.path),
        rel_path=str(facts.rel),
        path=facts.path,
        sidecar=facts.sidecar_path,
        attachments=list(facts.attachments),
        files=[f.upload for f in facts.files],
        provider=provider,
        sender=sender,
        dft=allow_dft,
        reference=sidecar.reference if sidecar else None,
        rule=rule,
        options=options,
        ino=facts.ino,
        received_at=facts.received_at,
        numbers=numbers,
    )
    final = job
    if facts.claimed:
        # A file belongs to one job at a time: the later claim is refused, and the file
        # stays with the job that has it (it is not filed with this one either).
        problems.append(attached_elsewhere(facts.claimed))
        kept = [a for a in job.attachments if a not in facts.claimed]
        final = replace(final, attachments=kept)
    if problems:
        final = replace(final, error=" ".join(problems))
    elif held and guard:
        final = held_job(final, held)
    return Decision(job=job, final=final, problems=tuple(problems), held=tuple(held))


def _retarus_options(folder: FolderSettings, sidecar: Sidecar | None) -> RetarusOptions | None:
    # Key by key: a sidecar that sets one Retarus option keeps the folder's others.
    chosen = folder.retarus
    if sidecar is not None and sidecar.retarus is not None:
        chosen = sidecar.retarus.over(chosen)
    return chosen if any(v not in (None, {}, ()) for v in chosen.__dict__.values()) else None
