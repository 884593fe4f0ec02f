"""`faxd explain`: how a file in a spool folder (or one that would be dropped into one)
would be sent, decided the daemon's way without sending, journaling or leaving anything.
Like the other one-shot commands it returns an exit code and prints what an admin needs;
errors are raised as FaxdError for `cli.main` to word."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

from faxd.clock import SystemClock
from faxd.core.io_errors import explain_os_error
from faxd.core.names import ignored_because
from faxd.errors import UsageError
from faxd.host.job_folders_lock import making_in
from faxd.outbound.archive import Archiver
from faxd.outbound.intake import Intake
from faxd.outbound.intake_take import new_job_id
from faxd.providers.registry import build_senders
from faxd.service.records_commands import readonly_journal
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal


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
    scratch = readonly_journal(settings) or Journal(Path(":memory:"))
    clock = SystemClock()
    intake = Intake(settings, scratch, senders, Archiver(scratch, clock), clock, lambda: None)
    job_id = new_job_id(clock.time())
    # Its copies go into a work folder of the state_dir that no journal knows: a daemon
    # starting meanwhile must not sweep it away while the decision reads them.
    with making_in(settings.work_root):
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
