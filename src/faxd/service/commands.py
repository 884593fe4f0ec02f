"""The one-shot commands: status, explain, retry, send. Each returns an exit code and
prints what an admin needs; errors are raised as FaxdError for `cli.main` to word."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import yaml

from faxd.clock import SystemClock
from faxd.config.sidecar import MAX_ATTACHMENTS
from faxd.core.addressing import parse_number, parse_recipients
from faxd.core.inbox_status import InboxStatus
from faxd.core.io_errors import explain_os_error
from faxd.core.names import first_free, ignored_because, report_pdf_path
from faxd.core.printable import shown, table
from faxd.core.sidecar import sidecar_names
from faxd.errors import AddressError, AlreadyRunningError, FaxdError, UsageError
from faxd.host import contained, fsops
from faxd.host.lock import InstanceLock, one_command_at_a_time
from faxd.model import JobState, TxState
from faxd.outbound.archive import REPORT_CAP, REPORT_KEY, Archiver
from faxd.outbound.engine import Engine
from faxd.outbound.intake import Intake
from faxd.outbound.intake_take import new_job_id
from faxd.providers.registry import build_senders
from faxd.service.channel_commands import delivery_lines
from faxd.service.daemon import open_journal
from faxd.service.folder_setup import make_missing
from faxd.service.records_commands import existing_journal
from faxd.service.records_keeper import RecordsKeeper
from faxd.service.release import (
    check_way_back,
    held_documents,
    require_spool_folder,
)
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal, open_journal_file
from faxd.store.journal_rows import JobRow, TxRow
from faxd.store.rows import is_text

RECENT = 15
JOURNAL_ROOM = 1024 * 1024  # bytes: with less free, a journal write can fail any moment


def _readonly_journal(settings: Settings) -> Journal | None:
    path = existing_journal(settings)
    if path is None:
        return None
    return open_journal_file(path, readonly=True)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def status(settings: Settings) -> int:
    journal = _readonly_journal(settings)
    if journal is None:
        print(f"No journal in {settings.state_dir} yet: faxd has not run with this configuration.")
        return 0
    try:
        active = journal.unfiled_jobs(limit=500)
        finished = journal.filed_jobs(limit=RECENT)
        counts = journal.queue_counts()
        pauses = journal.pauses()
        inbox = journal.inbox_statuses()
        stall = journal.intake_stall()
        active_lines = [(j, journal.transmissions(j.id)) for j in active]
        held = held_documents(journal)
        deliveries = delivery_lines(journal)
        finished_lines = [(j, journal.transmissions(j.id)) for j in finished]
    finally:
        journal.close()
    print(f"{counts.queued} queued, {counts.in_flight} in flight, {len(held)} held")
    full = fsops.no_room(settings.state_dir, JOURNAL_ROOM)
    if full is not None:
        # The daemon cannot record this in the journal it cannot write.
        print(
            f"the journal's folder {settings.state_dir} {full}: faxd can record nothing, so it"
            " takes no document in and sends nothing until it can (documents wait where"
            " they are, and are not counted above)"
        )
    if stall is not None:
        print(f"not taking documents in {stall} (see Troubleshooting in the README)")
    for line in deliveries:
        print(line)
    now = time.time()
    for pause in pauses:
        if pause.until > now:
            print(f"provider {pause.provider} paused ({pause.reason}) until {_when(pause.until)}")
    for state in inbox:
        print(_inbox_line(state))
    header = ("JOB", "DOCUMENT", "STATE", "RECIPIENTS", "SINCE")
    if active:
        print("\nIn progress:")
        print(table([header, *[_job_line(j, txs) for j, txs in active_lines]]))
    if finished:
        print("\nRecently finished:")
        print(table([header, *[_job_line(j, txs) for j, txs in finished_lines]]))
    if held:
        print("\nHeld (faxd release PATH|ID sends one as addressed):")
        rows = [("JOB", "HELD AS", "RECIPIENTS")]
        for job in held:
            numbers = job.options.held_numbers()
            rows.append((job.id, job.archived_path or "-", ", ".join(numbers)))
        print(table(rows))
    if not active and not finished:
        print("Nothing sent yet.")
    return 0


def _inbox_line(state: InboxStatus) -> str:
    last = state.last_poll or "never"
    line = f"inbox {state.inbox}: last poll {last}, {state.received_today} received today"
    if state.last_error:
        line += f"; last error: {state.last_error}"
    if state.incomplete_seconds:
        line += f"; {state.incomplete_seconds} second(s) listed incompletely (see the log)"
    return line


def _job_line(job: JobRow, txs: Sequence[TxRow]) -> tuple[str, str, str, str, str]:
    recipients = ", ".join(f"{t.number} {t.status or t.state.value}" for t in txs) or "-"
    return (job.id, job.rel_path, job.state.value, recipients, _when(job.received_at))


def _folder_for(settings: Settings, path: Path) -> FolderSettings:
    for folder in settings.folders:
        if path.is_relative_to(folder.path):
            return folder
    raise UsageError(
        f"{path} is not inside a configured spool folder.",
        "Give a file below one of: "
        + ", ".join(str(f.path) for f in settings.folders)
        + " (or any file with --folder naming one of them or its subfolder).",
    )


_RULES = {
    "sidecar": "sidecar",
    "subfolder": "recipient subfolder",
    "name": "file-name pattern (name_pattern)",
    "pjl": "PJL directives in the print job",
    "embedded": "embedded code in the document (embedded_code)",
    "folder": "the folder's to:",
}


def explain(
    settings: Settings, file: Path, where: Path | None = None, sidecar: Path | None = None
) -> int:
    """How `file` would be sent. With `where` (a spool folder or a subfolder of one) the
    file may be anywhere: it is explained as if it had been dropped there, with `sidecar`
    beside it, so an admin can ask before dropping anything."""
    if where is None and sidecar is None:
        return _explain_in_place(settings, file)
    if not file.is_file():
        raise UsageError(f"{file} is not a readable file.")
    target = (where or file.parent).resolve()
    folder = _folder_for(settings, target)
    with tempfile.TemporaryDirectory(prefix="faxd-explain-") as scratch:
        root = Path(scratch)
        rel = target.relative_to(folder.path)
        copy = root / rel / file.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, copy)
        if sidecar is not None:
            if not sidecar.is_file():
                raise UsageError(f"{sidecar} is not a readable file.")
            shutil.copyfile(sidecar, copy.with_name(copy.name + ".yaml"))
        # The other folders stay: the misdial guard trusts the numbers written in every
        # folder's `to:`, as the daemon's does, so explain and the daemon agree.
        staged = replace(
            settings,
            folders=(replace(folder, path=root), *(f for f in settings.folders if f is not folder)),
        )
        return _explain_in_place(staged, copy, shown=target / file.name)


def _explain_in_place(settings: Settings, file: Path, shown: Path | None = None) -> int:
    # The folders on the way resolved, the file itself not: a link in the spool is what
    # the daemon sees there (and ignores), not the file it points to.
    path = file.absolute().parent.resolve() / file.name
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise UsageError(f"{file} does not exist.") from None
    except OSError as exc:
        # What makes the daemon leave it in the spool too: say which, not a traceback.
        raise UsageError(f"{file} cannot be looked at: {explain_os_error(exc)}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{file} is a folder; faxd explain looks at one document in it.")
    folder = _folder_for(settings, path)
    never = (
        ignored_because(path.name)
        or _in_skipped_folder(settings, folder, path)
        or _not_a_regular_file(st)
    )
    if never is not None:
        print(f"file:       {shown or path}")
        print(f"ignored:    faxd never picks this file up: {never}")
        return 1
    senders = build_senders(settings)
    # The real journal (read-only) when there is one: the misdial guard asks it which
    # numbers faxd has delivered to.
    scratch = _readonly_journal(settings) or Journal(Path(":memory:"))
    clock = SystemClock()
    intake = Intake(settings, scratch, senders, Archiver(scratch, clock), clock, lambda: None)
    job_id = new_job_id(clock.time())
    try:
        decision = intake.decide(folder, path, path.lstat().st_mtime, job_id)
    finally:
        shutil.rmtree(intake.job_dir(job_id), ignore_errors=True)  # explain leaves nothing
    job = decision.job
    sender = senders.get(job.provider)
    print(f"file:       {shown or path}")
    print(f"folder:     {(shown.parent if shown else folder.path)}")
    print(f"rule:       {_RULES.get(job.rule or '', job.rule or '-')}")
    if job.files and job.files[0].name != path.name:
        print(f"sent as:    {job.files[0].name} (converted or cleaned for sending)")
    print(f"recipients: {', '.join(job.numbers) if job.numbers else '-'}")
    print(f"sender:     {job.sender or '-'}")
    print(f"provider:   {job.provider}")
    if sender is not None and sender.supports_dft and job.dft:
        print("method:     Direct File Transfer where the recipient supports it, else fax")
    else:
        print("method:     fax")
    if job.attachments:
        print(f"attached:   {', '.join(Path(a).name for a in job.attachments)}")
    if decision.problems:
        print("refused:")
        for problem in decision.problems:
            print(f"  - {problem}")
        return 1
    if decision.held:
        print(f"held:       in {folder.hold_folder} until 'faxd release' (nothing is sent):")
        for verdict in decision.held:
            print(f"  - {verdict.reason}")
        return 1
    print("refused:    nothing; it would be sent")
    return 0


def _not_a_regular_file(st: os.stat_result) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link, and faxd never follows one out of its folders"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file (a FIFO, a device or a socket)"
    return None


def _in_skipped_folder(settings: Settings, folder: FolderSettings, path: Path) -> str | None:
    """Why the daemon never looks into the folder `path` is in, or None."""
    for part in path.parent.relative_to(folder.path).parts:
        if part.startswith((".", "~")):
            return f"it is in the hidden folder {part}"
    own = [settings.state_dir]
    if settings.inbox is not None:
        own += [settings.inbox.path, *settings.inbox.routes.values()]
    for f in settings.folders:
        own += [f.sent_dir, f.failed_dir, f.hold_folder]
    for tree in own:
        if path.is_relative_to(tree):
            return f"it is in {tree}, a folder faxd files into itself"
    return None


def retry(settings: Settings, target: str) -> int:
    with one_command_at_a_time(settings.state_dir):
        return _retry(settings, target)


def _retry(settings: Settings, target: str) -> int:
    journal = open_journal(settings)
    try:
        job = journal.job(target)
        if job is None:
            resolved = str(Path(target).resolve())
            job = journal.job_filed_as(resolved)
        if job is None:
            raise UsageError(
                f"no finished job matches {target!r}.",
                "Give a job id from 'faxd status' or the path of a document in failed/.",
            )
        if job.state != JobState.FAILED or job.archive_plan is None:
            raise UsageError(f"job {job.id} did not fail; only failed documents are sent again.")
        if Path(job.folder).is_relative_to(settings.state_dir / "outbox"):
            raise UsageError(
                f"job {job.id} came from 'faxd send', not from a spool folder.",
                f"Send it again with: faxd send {job.archived_path} --to …",
            )
        require_spool_folder(settings, job, "failed/")
        late = _late_sidecar(job)
        doc_src = Path(job.archive_plan[job.path])
        retried = journal.retry_of(job.id)
        if retried is not None and not os.path.lexists(doc_src):
            raise UsageError(
                f"job {job.id} was put back for retry already, as {retried.path}.",
                "Run 'faxd status' to see the attempt that followed.",
            )
        original = Path(job.path)
        # Nor a name an unfiled job still holds: a new version at it would be moved
        # aside, and this attempt would lose its history.
        planned = original.parent / first_free(
            original.name,
            lambda n: (
                os.path.lexists(original.parent / n)
                or journal.unfiled_job_at(str(original.parent / n)) is not None
            ),
        )
        note = None
        if late is not None and planned == original:
            note = (
                f"a sidecar {late.name} arrived after the document failed; it is used for "
                "this retry."
            )
        reached = _reached(journal, job)
        check_way_back(job, [(src, dst) for _, src, dst in _filed_files(job)])
        report_yaml = Path(job.archive_plan[REPORT_KEY])
        # Committed before anything moves: the next attempt's report names this one, and
        # this report's text outlives its files.
        journal.record_retry(
            job.id,
            str(planned),
            _ino(doc_src),
            _read_report(job.options.filing_root(report_yaml), report_yaml),
            note,
            time.time(),
        )
        moved = _move_back(job, planned)
        doc_dst = next((dst for src, dst in moved if src == doc_src), None)
        if doc_dst is not None and doc_dst != planned:
            journal.set_retry_path(job.id, str(doc_dst))
        journal.audit("retried", job=job.id, files=[str(dst) for _, dst in moved])
        # Only now that the document is back: its old report would lie in failed/ beside
        # nothing, and the next attempt's report takes the plain name.
        left = _remove_reports(report_yaml) if doc_dst is not None else []
    finally:
        journal.close()
    for src, dst in moved:
        print(f"{src} -> {dst}")
    if note is not None:
        print(note[0].upper() + note[1:])
    elif late is not None:
        print(
            f"A sidecar {late.name} arrived after the document failed, but another "
            f"{original.name} is in the spool folder now, so the document went back as "
            f"{planned.name}: that sidecar belongs to the other {original.name}."
        )
    for path, why in left:
        print(f"the old report {path} stays ({why}).")
    if reached:
        print(
            f"Delivered already, so not sent again: {', '.join(reached)}; "
            "the new report's history names them."
        )
        print("faxd picks it up from the spool folder and sends it to the other recipients.")
    else:
        print("faxd picks it up from the spool folder and sends it again.")
    return 0


def _reached(journal: Journal, job: JobRow) -> list[str]:
    """The numbers this attempt or an earlier one delivered: the retry leaves them out."""
    jobs = [job.id, *(earlier.id for earlier, _ in journal.earlier_attempts(job.id))]
    return sorted(
        {t.number for j in jobs for t in journal.transmissions(j) if t.state == TxState.DELIVERED}
    )


def _late_sidecar(job: JobRow) -> Path | None:
    """A sidecar for the document that reached the spool folder after the job was taken
    (its own sidecar, if it had one, was filed with it)."""
    assert job.archive_plan is not None
    original = Path(job.path)
    for name in sidecar_names(original.name):
        candidate = original.parent / name
        if os.path.lexists(candidate):
            own = job.archive_plan.get(job.sidecar) if job.sidecar else None
            if own is not None and os.path.lexists(own):
                raise UsageError(
                    f"a sidecar {candidate} arrived after job {job.id} failed, and the job's "
                    f"own sidecar {own} would go back too.",
                    "Remove the one that is wrong, then run faxd retry again.",
                )
            return candidate
    return None


def _ino(path: Path) -> int | None:
    try:
        return path.lstat().st_ino
    except OSError:
        return None


def _read_report(root: Path, path: Path) -> str | None:
    """The failed attempt's report, kept in the next report's history: read below failed/
    without following a link (a link there would copy any file faxd can read into it)."""
    try:
        data, _ = contained.read_beneath(root, path, REPORT_CAP, "report")
    except (OSError, FaxdError):
        return None
    return data.decode("utf-8", errors="replace")


def _remove_reports(report_yaml: Path) -> list[tuple[Path, str]]:
    """Remove a retried job's report files; the ones that could not be removed, and why."""
    left: list[tuple[Path, str]] = []
    for path in (report_yaml, report_pdf_path(report_yaml)):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            left.append((path, explain_os_error(exc, str(path))))
    return left


def _filed_files(job: JobRow) -> list[tuple[str, Path, Path]]:
    """A failed job's files still in failed/: (spool path, where filed, where it goes)."""
    assert job.archive_plan is not None
    return [
        (original, Path(archived), Path(original))
        for original, archived in job.archive_plan.items()
        if not original.startswith("\x00") and fsops.is_regular_file(Path(archived))
    ]


def _move_back(job: JobRow, planned: Path) -> list[tuple[Path, Path]]:
    """Put a failed job's files back where they were found, under free names (the
    document under `planned`), through folder descriptors that follow no link
    (check_way_back looked at the way first)."""
    moved: list[tuple[Path, Path]] = []
    sidecar_target: Path | None = None
    for original, src, dst in _filed_files(job):
        if original == job.path:
            dst = planned
        if original == job.sidecar and moved:
            # The sidecar must keep naming the document, wherever the document landed.
            doc_dst = moved[0][1]
            dst = doc_dst.with_name(doc_dst.name + Path(original).suffix)
            sidecar_target = dst
        final = contained.move_unique_beneath(
            job.options.filing_root(src), src, Path(job.folder), dst
        )
        if final is None:
            raise FaxdError(f"{src} left failed/ while it was being moved back.")
        moved.append((src, final))
    if sidecar_target is not None and not sidecar_target.exists():
        raise FaxdError(f"could not put the sidecar of job {job.id} back beside its document.")
    return moved


def send(
    settings: Settings,
    *,
    files: Sequence[Path],
    to: Sequence[str],
    sender: str | None,
    dft: bool,
    provider: str | None,
    reference: str | None,
    wait: bool,
) -> int:
    template = _template_folder(settings)
    if provider is not None and provider not in settings.providers:
        # A bad argument like a bad number: refused before any job exists.
        known = ", ".join(sorted(settings.providers)) or "none"
        raise UsageError(
            f"send: --provider '{shown(provider)}' is not a configured provider"
            f" (configured: {known})."
        )
    try:
        numbers = parse_recipients(list(to), template.region, settings.contacts)
        from_number = parse_number(sender, template.region, settings.contacts) if sender else None
    except AddressError as exc:
        raise UsageError(f"send: {exc}") from None
    if reference is not None and not is_text(reference):
        raise UsageError("send: --reference holds bytes that are not UTF-8 text.")
    if len(files) > MAX_ATTACHMENTS + 1:
        # The sidecar faxd writes for them would be refused, naming a file nobody wrote.
        raise UsageError(
            f"send: {len(files)} files given; at most {MAX_ATTACHMENTS + 1} go in one transmission."
        )
    for file in files:
        if not file.is_file():
            raise UsageError(f"{file} is not a readable file.")
    job_id = new_job_id(time.time())
    outbox = settings.state_dir / "outbox" / job_id
    try:
        outbox.mkdir(parents=True)
    except OSError as exc:
        raise FaxdError(
            f"faxd cannot write into its state_dir {settings.state_dir} ({exc.strerror or exc}).",
            "Free space there or fix its permissions, then send again.",
        ) from None
    copies = [_copy_in(file, outbox) for file in files]
    folder = replace(
        template,
        path=outbox,
        to=numbers,
        provider=provider or settings.default_provider,
        sender=from_number or template.sender,
        dft="prefer" if dft else "never",
        sidecar_wait=0.0,
    )
    # Always a sidecar: it is the first rule, so the numbers typed are the ones dialled,
    # whatever a code in the document, a PJL header or the template folder's file-name
    # pattern would read (those are still cleaned out of what is sent).
    addressed: dict[str, object] = {"to": list(numbers)}
    if len(copies) > 1:
        addressed["attach"] = [c.name for c in copies[1:]]
    # Written by the YAML library: a file name may hold quotes, colons or newlines.
    (outbox / f"{copies[0].name}.yaml").write_text(
        yaml.safe_dump(addressed, allow_unicode=True), encoding="utf-8"
    )
    journal = open_journal(settings)
    try:
        # Before the daemon ever ran, its sent/ and failed/ may not be there yet.
        try:
            make_missing(journal, (*template.filing_roots, template.sent_dir, template.failed_dir))
        except OSError as exc:
            raise FaxdError(
                f"{exc.filename} cannot be created ({exc.strerror}), so the document could "
                "not be filed.",
                "Create the folder or fix its permissions, then send again.",
            ) from None
        return _send_now(settings, journal, folder, copies[0], job_id, reference, wait)
    finally:
        journal.close()


def _copy_in(file: Path, outbox: Path) -> Path:
    # Two files of one name from different folders (a/x.pdf b/x.pdf) stay two files:
    # "x (2).pdf", never one copied over the other.
    dst = outbox / first_free(file.name, lambda name: os.path.lexists(outbox / name))
    try:
        shutil.copyfile(file, dst)
        with dst.open("rb") as handle:
            os.fsync(handle.fileno())
    except OSError as exc:
        raise UsageError(explain_os_error(exc, str(file))) from None
    return dst


def _template_folder(settings: Settings) -> FolderSettings:
    if settings.folders:
        return settings.folders[0]
    raise UsageError(
        "faxd send needs at least one folder in the configuration.",
        "Its sent_dir and failed_dir are where sent documents are filed.",
    )


def _send_now(
    settings: Settings,
    journal: Journal,
    folder: FolderSettings,
    document: Path,
    job_id: str,
    reference: str | None,
    wait: bool,
) -> int:
    clock = SystemClock()
    senders = build_senders(settings)
    archiver = Archiver(journal, clock, work_root=settings.work_root)
    engine = Engine(settings, journal, senders, archiver, clock)
    intake = Intake(
        replace(settings, folders=(folder,)), journal, senders, archiver, clock, engine.wake
    )
    st = document.stat()
    # The daemon's decision, without the misdial guard: the number typed is the confirmation.
    decision = intake.decide(folder, document, st.st_mtime, job_id, guard=False)
    job = replace(decision.final, reference=reference)
    journal.create_job(job)
    stored = journal.job(job_id)
    assert stored is not None
    if job.error:
        archiver.archive(stored)
        print(f"faxd: {job.error}", file=sys.stderr)
        return 1
    lock = InstanceLock(settings.state_dir)
    try:
        lock.acquire()
    except AlreadyRunningError:
        print(f"job {job_id} queued; the running faxd sends it.")
        try:
            return _follow(journal, job_id, wait)
        except KeyboardInterrupt:
            _interrupted(journal, job_id)
            return 1
    stop = threading.Event()
    runner = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    runner.start()
    try:
        return _follow(journal, job_id, wait)
    except KeyboardInterrupt:
        _interrupted(journal, job_id)
        return 1
    finally:
        stop.set()
        engine.shutdown(10.0)
        # No daemon runs (we hold its lock): the report PDF and audit lines are ours to make.
        _keep_records(RecordsKeeper(settings, journal, clock))
        lock.release()


def _interrupted(journal: Journal, job_id: str) -> None:
    """Ctrl-C or SIGTERM while `faxd send` waits: say what becomes of the job."""
    txs = journal.transmissions(job_id)
    left = [t for t in txs if t.state not in (TxState.READY, TxState.WAITING)]
    if not left:
        print(
            f"interrupted: job {job_id} is still queued, and faxd sends it (the running "
            f"daemon, or the next one to start). To stop it: faxd cancel {job_id}",
            file=sys.stderr,
        )
    else:
        print(
            f"interrupted: job {job_id} may already have reached the provider; faxd "
            "follows it to its final status and files it. See 'faxd status'.",
            file=sys.stderr,
        )


def cancel(settings: Settings, job_id: str) -> int:
    """Stop a job that has not left yet: its transmissions fail as cancelled and it is
    filed in failed/ with a report. Refused once an upload may have reached the provider,
    because nothing faxd does then could stop the fax."""
    journal = open_journal(settings)
    try:
        job = journal.job(job_id)
        if job is None:
            raise UsageError(f"no job {job_id!r}.", "Job ids are listed by 'faxd status'.")
        if job.archived_at is not None:
            raise UsageError(f"job {job_id} is finished already: {job.archived_path}.")
        clock = SystemClock()
        refused = journal.cancel_unsent(job_id, clock.time(), "cancelled with faxd cancel")
        if refused is not None:
            raise FaxdError(
                f"job {job_id} cannot be cancelled: {refused}.",
                "Watch it with 'faxd status'; its report tells the outcome.",
            )
        senders = build_senders(settings)
        archiver = Archiver(journal, clock, work_root=settings.work_root)
        Engine(settings, journal, senders, archiver, clock).finish_if_done(job_id)
        filed = journal.job(job_id)
    finally:
        journal.close()
    where = filed.archived_path if filed is not None and filed.archived_path else "failed/"
    print(f"job {job_id} cancelled; filed in {where}")
    return 0


def _keep_records(keeper: RecordsKeeper) -> None:
    try:
        keeper.draw_pending()
        keeper.drain_audit()
    except Exception as exc:  # the daemon makes them at its next start
        print(f"faxd: records not written yet ({exc}).", file=sys.stderr)


def _follow(journal: Journal, job_id: str, wait: bool) -> int:
    last = ""
    while True:
        job = journal.job(job_id)
        txs = journal.transmissions(job_id)
        assert job is not None
        line = ", ".join(f"{t.number}: {t.status or t.state.value}" for t in txs)
        if line != last:
            print(f"{job_id}: {line}")
            last = line
        if job.archived_at is not None:
            print(f"filed: {job.archived_path}")
            return 0 if job.state == JobState.DELIVERED else 1
        if not wait and all(
            t.state
            not in (TxState.READY, TxState.WAITING, TxState.SUBMITTING, TxState.OUTCOME_UNKNOWN)
            for t in txs
        ):
            print("accepted; run with --wait to follow it to its final status.")
            return 0
        time.sleep(0.5)
