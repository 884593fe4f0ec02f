"""Printing on a CUPS queue: `lp -d QUEUE`, then follow the job with `lpstat` until CUPS
has completed it. A stopped printer, a job CUPS aborts or one that sits past the time
limit is cancelled (so it cannot come out later, after faxd printed it again) and
counts as a failure to retry. A job CUPS cannot be asked about (the scheduler is
restarting), or whose cancel CUPS did not confirm, is followed again later, never queued
again: it may still print. A CUPS that keeps no finished jobs (`PreserveJobHistory No`)
forgets a job the moment it ends, so its end cannot be read: taken as printed, never as
lost, since printing it again would put out a second copy every time. A job is counted
as printed only once CUPS says so (or keeps no history): one still waiting elsewhere (moved
with lpmove) is followed again later.

The CUPS tools run in the C locale: faxd reads their English words (`request id is`),
which a German or French system locale translates."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable

import structlog

from faxd.channels.base import Attachment, ChannelError, Message, open_attachment
from faxd.settings import PrintChannel

_REQUEST = re.compile(r"request id is (\S+)")
_JOB_STATE = re.compile(r"job-state \(enum\) = ([a-z-]+)")
log = structlog.get_logger("faxd.channels.printer")

POLL = 1.0
RUN_TIMEOUT = 30.0
# A job cancelled while its backend runs may show "processing" a moment longer.
CANCEL_CHECKS = 5
_GONE = (None, "canceled", "aborted")


class JobUnknownError(ChannelError):
    """CUPS could not be asked about a queued job: it may still print, so the next
    attempt follows it rather than queueing it again."""


class _NoAnswerError(ChannelError):
    """A CUPS tool did not answer within RUN_TIMEOUT (the scheduler hangs)."""


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}


def _run(*argv: str, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
            env=_env(),
        )
    except FileNotFoundError:
        raise ChannelError(
            f"{argv[0]} is not installed; install the CUPS client (apt install cups-client)",
            permanent=True,
        ) from None
    except subprocess.TimeoutExpired:
        raise _NoAnswerError(f"{argv[0]} did not answer within {RUN_TIMEOUT:g} s") from None


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stderr or proc.stdout).split())[:200]


def _ask(job: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """The tool's answer about `job`; one that failed or did not come in time leaves the
    job's fate unknown (JobUnknownError): a hanging scheduler may still print it."""
    try:
        proc = _run(*argv)
    except _NoAnswerError as exc:
        raise JobUnknownError(f"CUPS could not be asked about job {job}: {exc}") from None
    if proc.returncode != 0:
        raise JobUnknownError(f"CUPS could not be asked about job {job}: {_said(proc)}")
    return proc


class PrintSender:
    def __init__(
        self,
        settings: PrintChannel,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._sleep = sleep
        self._monotonic = monotonic

    def send(self, message: Message) -> None:
        file = message.print_file
        if file is None:
            # Notices and alerts print as text.
            raise ChannelError("nothing to print for this event", permanent=True)
        job = self.submit(file, message.subject)
        self.follow(job)

    def submit(self, file: Attachment, title: str, *, hold: bool = False) -> str:
        """Queue the file; with `hold` CUPS keeps it until `resume` (so faxd can record
        the job id first: a crash then never prints it twice). lp reads it from a
        descriptor faxd opened, not by its name: a link put in its place is never printed."""
        queue = self._settings.queue
        if shutil.which("ipptool", path=_env().get("PATH")) is None:
            # lpstat shows a job CUPS aborted like one it printed: without ipptool a jam
            # would count as printed.
            raise ChannelError(
                "ipptool is not installed; faxd needs it to tell a printed job from an "
                "aborted one (apt install cups-ipp-utils)",
                permanent=True,
            )
        title = " ".join(title.split())[:100] or file.name
        held = ["-H", "hold"] if hold else []
        fd = open_attachment(file)
        try:
            proc = _run("lp", "-d", queue, "-t", title, *held, stdin=fd)
        finally:
            os.close(fd)
        if proc.returncode != 0:
            said = _said(proc)
            # lp says the same of every queue while the scheduler is down (a print
            # server rebooting): only a running one's answer is final.
            missing = ("does not exist" in said or "not exist" in said) and _scheduler_up()
            raise ChannelError(
                f"CUPS did not take the job for queue '{queue}': {said}", permanent=missing
            )
        found = _REQUEST.search(proc.stdout)
        if not found:
            raise ChannelError(f"lp gave no job id: {proc.stdout.strip()[:200]}")
        return found.group(1)

    def follow(self, job: str) -> None:
        queue = _printer(self._settings.queue)
        deadline = self._monotonic() + self._settings.timeout
        while True:
            waiting = _ask(job, "lpstat", "-W", "not-completed", "-o", queue)
            if not _lists(waiting.stdout, job):
                break
            printer = _ask(job, "lpstat", "-p", queue)
            if " disabled" in printer.stdout or "stopped" in printer.stdout.lower():
                if self._cancel(job) != "completed":
                    raise ChannelError(f"the printer '{queue}' is stopped; job {job} was cancelled")
                break
            if self._monotonic() >= deadline:
                if self._cancel(job) != "completed":
                    raise ChannelError(
                        f"job {job} was not printed within {self._settings.timeout:g} s and "
                        "was cancelled"
                    )
                break
            self._sleep(POLL)
        state = _job_state(job)
        if state not in _GONE and state != "completed":
            # Not finished, yet not on the queue faxd asked about (moved with lpmove):
            # not printed yet, and not lost either.
            raise JobUnknownError(f"job {job} is {state} but no longer on '{queue}'")
        if state in ("aborted", "canceled"):
            done = _run("lpstat", "-l", "-W", "completed", "-o", queue)
            said = _status(_job_block(done.stdout, job))
            raise ChannelError(f"CUPS {state} job {job} on '{queue}'{said}")
        if state is None:
            done = _ask(job, "lpstat", "-W", "completed", "-o", queue)
            if not done.stdout.strip():
                # No finished job at all, not even the one that just left the queue: CUPS
                # keeps none. A job purged by hand on a queue with history looks the same,
                # and was removed on purpose.
                log.warning(
                    "CUPS keeps no finished jobs, so faxd cannot tell whether this one "
                    "printed; it is not printed again (set PreserveJobHistory Yes in "
                    "cupsd.conf to have faxd follow each job to its end)",
                    queue=queue,
                    cups_job=job,
                )
                return
            if not _lists(done.stdout, job):
                raise ChannelError(f"CUPS lost job {job} on '{queue}' (cancelled by someone?)")

    def resume(self, job: str) -> None:
        """Release a held job; one already released or finished is left as it is.
        JobUnknownError: CUPS did not take the release (the scheduler is restarting) and
        the job may still be held, so the next attempt releases it again."""
        proc = _run("lp", "-i", job, "-H", "resume")
        if proc.returncode == 0:
            return
        # lp fails alike for a job that has nothing left to release and for a scheduler
        # that does not answer yet: only the job's state tells which.
        if _job_state(job) == "pending-held":
            raise JobUnknownError(f"CUPS did not release job {job}: {_said(proc)}")

    def _cancel(self, job: str) -> str | None:
        """Cancel the job; its IPP state then, "completed" if it printed first.
        JobUnknownError: CUPS did not confirm the cancel (the scheduler restarting) and the
        job may still print, so the next attempt follows it again, never queues a new one."""
        # cancel's answer, or its silence, proves nothing either way: only the job's state does.
        with contextlib.suppress(_NoAnswerError):
            _run("cancel", job)
        for _ in range(CANCEL_CHECKS):
            state = _job_state(job)
            if state in _GONE or state == "completed":
                return state
            self._sleep(POLL)
        raise JobUnknownError(f"CUPS did not cancel job {job} (it is {state})")

    def close(self) -> None:
        pass


def _scheduler_up() -> bool:
    said = _run("lpstat", "-r")
    return said.returncode == 0 and "scheduler is running" in said.stdout


def _server_uri() -> str:
    """The scheduler as an IPP URI host, as the CUPS tools find it (CUPS_SERVER, else
    ServerName in client.conf, else localhost); a socket path is %-encoded, as CUPS
    itself accepts."""
    said = _run("lpstat", "-H")
    server = said.stdout.strip() if said.returncode == 0 else ""
    server = server or os.environ.get("CUPS_SERVER", "").strip()
    if server.startswith("/"):
        return server.replace("/", "%2F")
    return server or "localhost"


def _job_state(job: str) -> str | None:
    """The IPP job-state (completed, aborted, canceled...) from ipptool: lpstat shows a
    finished job the same whether it printed or CUPS aborted it. None: CUPS does not know
    the job (any more); JobUnknownError: CUPS could not be asked."""
    number = job.rpartition("-")[2]
    if not number.isdigit():
        return None
    try:
        server = _server_uri()
    except _NoAnswerError as exc:
        raise JobUnknownError(f"CUPS could not be asked about job {job}: {exc}") from None
    try:
        proc = subprocess.run(
            [
                "ipptool",
                "-T",
                "10",
                "-tv",
                f"ipp://{server}/jobs/{number}",
                "get-job-attributes.test",
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
            env=_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        raise JobUnknownError(f"CUPS could not be asked about job {job} (ipptool)") from None
    found = _JOB_STATE.search(proc.stdout)
    if found:
        return found.group(1)
    if "client-error-not-found" in proc.stdout:
        return None
    raise JobUnknownError(f"CUPS could not be asked about job {job}: {_said(proc)}")


def _status(block: str | None) -> str:
    for line in (block or "").splitlines():
        text = line.strip()
        if text.startswith("Status:") and text[7:].strip():
            return f": {text[7:].strip()[:200]}"
    return ""


def _printer(queue: str) -> str:
    """The CUPS printer or class of `queue`: lpstat lists the jobs of `FrontDesk/duplex`
    (an lpoptions instance) under FrontDesk, and of none under the instance's name."""
    return queue.partition("/")[0]


def _names(line: str, job: str) -> bool:
    """Whether an lpstat line is `job`'s. CUPS names are case-insensitive: lp names the job
    after the queue as written (frontdesk-5), lpstat as CUPS spells it (FrontDesk-5)."""
    words = line.split()
    return bool(words) and words[0].casefold() == job.casefold()


def _lists(output: str, job: str) -> bool:
    return any(_names(line, job) for line in output.splitlines())


def _job_block(output: str, job: str) -> str | None:
    """The job's line and the indented lines that follow it in `lpstat -l`."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if _names(line, job):
            block = [line]
            for more in lines[index + 1 :]:
                if more[:1] not in (" ", "\t"):
                    break
                block.append(more)
            return "\n".join(block)
    return None
