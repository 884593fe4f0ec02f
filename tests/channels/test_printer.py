"""The print channel against a real cupsd: `lp` to a queue whose backend writes each job
to a file, `lpstat` to follow it; a stopped printer, an aborted job and a queue that does
not exist are failures."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from faxd.channels import printer
from faxd.channels.base import Attachment, ChannelError, Message
from faxd.channels.printer import PrintSender
from faxd.clock import FakeClock
from faxd.core.outbox_payload import DeliveryPayload
from faxd.notices.worker import OutboxWorker
from faxd.settings import PrintChannel
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox
from tests.e2e.test_cups_queue import Cups, cups
from tests.settings_helpers import bare_settings

from ..printing.conftest import needs

__all__ = ["cups"]
pytestmark = [needs("cupsd", "lp", "lpadmin", "lpstat"), pytest.mark.slow]

BACKEND = """#!/bin/sh
# A CUPS backend for tests: writes the job to OUT/job-ID; exit 1 (failed) for a title
# starting with FAIL.
case "$3" in FAIL*) echo "ERROR: told to fail" >&2; exit 1 ;; esac
if [ -n "$6" ]; then cat "$6"; else cat; fi > "{out}/job-$1"
exit 0
"""


@pytest.fixture
def queue(cups: Cups, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    out = Path(str(cups.root)) / "printed"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    backend = cups.backend_dir / "capture"
    backend.write_text(BACKEND.replace("{out}", str(out)))
    backend.chmod(0o755)
    for _ in range(20):  # a freshly started cupsd may refuse the first connection
        added = cups.run(
            "lpadmin",
            "-p",
            "FrontDesk",
            "-E",
            "-v",
            "capture:/",
            "-m",
            "raw",
            "-o",
            "printer-error-policy=abort-job",
        )
        if added.returncode == 0:
            break
        time.sleep(0.2)
    assert added.returncode == 0, added.stderr
    monkeypatch.setenv("CUPS_SERVER", str(cups.socket))
    yield out


def job(tmp_path: Path, title: str = "Fax received from +4640123") -> Message:
    document = tmp_path / "fax.pdf"
    document.write_bytes(b"%PDF-1.4 a received fax\n" + os.urandom(64))
    return Message(
        event_id="d.x.0",
        kind="delivery",
        event="received",
        subject=title,
        text="",
        print_file=Attachment(document.name, document, root=tmp_path),
    )


def sender(name: str = "FrontDesk", timeout: float = 30) -> PrintSender:
    return PrintSender(PrintChannel(name="desk", queue=name, timeout=timeout), sleep=time.sleep)


def test_a_document_is_printed_and_followed_until_completed(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    message = job(tmp_path)
    sender().send(message)
    [printed] = list(queue.iterdir())
    assert message.print_file is not None
    assert printed.read_bytes() == message.print_file.path.read_bytes()


def test_a_file_reached_through_a_link_is_never_printed(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    # The received document's name in the inbox, made a link to a file faxd can read.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    private = tmp_path / "private.pdf"
    private.write_bytes(b"%PDF-1.4 not for the printer\n")
    (inbox / "fax.pdf").symlink_to(private)
    message = dataclasses.replace(
        job(tmp_path), print_file=Attachment("fax.pdf", inbox / "fax.pdf", root=inbox)
    )
    with pytest.raises(ChannelError, match="symbolic link") as caught:
        sender().send(message)
    assert caught.value.permanent
    assert list(queue.iterdir()) == []
    assert cups.run("lpstat", "-W", "all", "-o", "FrontDesk").stdout.strip() == ""


def test_a_stopped_printer_fails_and_its_job_is_cancelled(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    assert cups.run("cupsdisable", "FrontDesk").returncode == 0
    with pytest.raises(ChannelError, match="is stopped") as caught:
        sender().send(job(tmp_path))
    assert not caught.value.permanent
    assert cups.run("lpstat", "-W", "not-completed", "-o", "FrontDesk").stdout.strip() == ""
    assert cups.run("cupsenable", "FrontDesk").returncode == 0
    time.sleep(1.0)
    assert list(queue.iterdir()) == []  # the cancelled job never comes out later


def test_an_aborted_job_is_a_failure(queue: Path, tmp_path: Path, cups: Cups) -> None:
    with pytest.raises(ChannelError, match=r"aborted job .*: told to fail") as caught:
        sender().send(job(tmp_path, title="FAIL this one"))
    assert not caught.value.permanent


def test_a_queue_that_does_not_exist_is_permanent(queue: Path, tmp_path: Path, cups: Cups) -> None:
    with pytest.raises(ChannelError) as caught:
        sender("NoSuchQueue").send(job(tmp_path))
    assert caught.value.permanent


def printed_once_as(queue: Path, job_id: str) -> Path:
    """The one file the queue's printer put out, asserted to be CUPS job `job_id`'s:
    followed again, never queued a second time."""
    [printed] = list(queue.iterdir())
    assert printed.name == f"job-{job_id.rpartition('-')[2]}"
    return printed


def test_a_job_recorded_before_a_crash_is_followed_not_printed_again(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    from faxd.clock import SystemClock
    from faxd.core.outbox_payload import DeliveryPayload
    from faxd.notices.worker import OutboxWorker
    from faxd.store.journal import Journal
    from faxd.store.outbox import NewDelivery, Outbox

    channel = PrintChannel(name="desk", queue="FrontDesk", timeout=30)
    settings = bare_settings(tmp_path, channels={"desk": channel})
    journal = Journal(tmp_path / "journal.sqlite")
    message = job(tmp_path)
    assert message.print_file is not None
    # As a crash leaves it: the job queued held and its id committed, never released.
    held = sender().submit(message.print_file, "held before the crash", hold=True)
    payload = DeliveryPayload(path=str(message.print_file.path), attach="document", cups_job=held)
    Outbox(journal).add([NewDelivery("d.x.0", "delivery", "received", "desk", 1.0, "x", payload)])
    worker = OutboxWorker(settings, journal, SystemClock())
    worker.drain("desk", PrintSender(channel))
    assert Outbox(journal).counts() == {"done": 1}
    printed = printed_once_as(queue, held)
    assert printed.read_bytes() == message.print_file.path.read_bytes()


def test_a_job_followed_while_cupsd_restarts_is_followed_again_never_printed_twice(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    # lpstat failing while the scheduler was down read as "the job is gone": the next
    # attempt queued it again, and CUPS printed both once it was back.
    from faxd.channels.printer import JobUnknownError
    from faxd.clock import FakeClock
    from faxd.core.outbox_payload import DeliveryPayload
    from faxd.notices.worker import OutboxWorker
    from faxd.store.journal import Journal
    from faxd.store.outbox import NewDelivery, Outbox

    channel = PrintChannel(name="desk", queue="FrontDesk", timeout=30)
    settings = bare_settings(tmp_path, channels={"desk": channel})
    journal = Journal(tmp_path / "journal.sqlite")
    clock = FakeClock()
    message = job(tmp_path)
    assert message.print_file is not None
    held = sender().submit(message.print_file, "queued before the restart", hold=True)
    payload = DeliveryPayload(path=str(message.print_file.path), attach="document", cups_job=held)
    Outbox(journal).add(
        [NewDelivery("d.x.0", "delivery", "received", "desk", clock.time(), "x", payload)]
    )
    cups.stop()
    with pytest.raises(JobUnknownError):
        sender().follow(held)
    worker = OutboxWorker(settings, journal, clock)
    worker.drain("desk", PrintSender(channel))
    [row] = Outbox(journal).rows()
    assert row.state == "pending"
    assert isinstance(row.payload, DeliveryPayload) and row.payload.cups_job == held
    cups.start()
    clock.advance(3600)
    worker.drain("desk", PrintSender(channel))
    assert Outbox(journal).counts() == {"done": 1}
    printed_once_as(queue, held)


def test_a_release_cups_did_not_take_is_not_forgotten(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    # lp -H resume failing while cupsd restarted went unheard: the job stayed held, was
    # followed until the time limit and cancelled, never printed.
    from faxd.channels.printer import JobUnknownError

    message = job(tmp_path)
    assert message.print_file is not None
    held = sender().submit(message.print_file, "held over the restart", hold=True)
    cups.stop()
    with pytest.raises(JobUnknownError):
        sender().resume(held)
    cups.start()
    again = sender(timeout=10)
    again.resume(held)
    again.follow(held)
    printed_once_as(queue, held)


def _one_print_row(tmp_path: Path) -> tuple[OutboxWorker, Outbox, FakeClock]:
    """A worker and an outbox holding one document to print on FrontDesk."""
    channel = PrintChannel(name="desk", queue="FrontDesk", timeout=30)
    settings = bare_settings(tmp_path, channels={"desk": channel})
    journal = Journal(tmp_path / "journal.sqlite")
    clock = FakeClock()
    message = job(tmp_path)
    assert message.print_file is not None
    payload = DeliveryPayload(path=str(message.print_file.path), attach="document")
    outbox = Outbox(journal)
    outbox.add([NewDelivery("d.x.0", "delivery", "received", "desk", clock.time(), "x", payload)])
    return OutboxWorker(settings, journal, clock), outbox, clock


def _kept_job(outbox: Outbox) -> str:
    """The CUPS job the pending row still follows."""
    [row] = outbox.rows()
    assert row.state == "pending"
    assert isinstance(row.payload, DeliveryPayload) and row.payload.cups_job is not None
    return row.payload.cups_job


def test_a_job_lpstat_hangs_on_is_followed_again_never_printed_twice(
    queue: Path, tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lpstat past its time limit read as "the job is gone": the next attempt queued the
    # document again while the first job printed.
    worker, outbox, clock = _one_print_row(tmp_path)
    tools = tmp_path / "slow-bin"
    tools.mkdir()
    (tools / "lpstat").write_text("#!/bin/sh\nexec sleep 60\n")  # a scheduler that hangs
    (tools / "lpstat").chmod(0o755)
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", f"{tools}:{path}")
    monkeypatch.setattr(printer, "RUN_TIMEOUT", 1.0)
    worker.drain("desk", PrintSender(PrintChannel(name="desk", queue="FrontDesk", timeout=30)))
    held = _kept_job(outbox)
    monkeypatch.setenv("PATH", path)
    clock.advance(3600)
    worker.drain("desk", PrintSender(PrintChannel(name="desk", queue="FrontDesk", timeout=30)))
    assert outbox.counts() == {"done": 1}
    printed_once_as(queue, held)


def test_a_cancel_cups_did_not_take_is_not_replaced_by_a_new_job(
    queue: Path, tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cancel that failed (cupsd restarting) went unheard: the job counted as cancelled,
    # the next attempt queued the document again, and the uncancelled job printed too.
    worker, outbox, clock = _one_print_row(tmp_path)
    assert cups.run("cupsdisable", "FrontDesk").returncode == 0
    run = printer._run

    def stop_cupsd_before_cancel(*argv: str, stdin: int | None = None) -> CompletedProcess[str]:
        if argv[0] == "cancel":
            cups.stop()
        return run(*argv, stdin=stdin)

    monkeypatch.setattr(printer, "_run", stop_cupsd_before_cancel)
    worker.drain("desk", PrintSender(PrintChannel(name="desk", queue="FrontDesk", timeout=30)))
    held = _kept_job(outbox)
    monkeypatch.setattr(printer, "_run", run)
    cups.start()
    assert cups.run("cupsenable", "FrontDesk").returncode == 0
    clock.advance(3600)
    worker.drain("desk", PrintSender(PrintChannel(name="desk", queue="FrontDesk", timeout=30)))
    assert outbox.counts() == {"done": 1}
    printed_once_as(queue, held)


def test_a_job_already_printed_or_unknown_is_left_as_it_is_by_resume(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    message = job(tmp_path)
    assert message.print_file is not None
    printed = sender().submit(message.print_file, "printed already")
    sender().follow(printed)
    sender().resume(printed)  # lp: "is finished and cannot be altered"
    sender().resume("FrontDesk-999")  # lp: "does not exist"
    assert len(list(queue.iterdir())) == 1


def test_a_scheduler_that_is_down_is_no_missing_queue(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    # lp says "The printer or class does not exist" while cupsd is down: given up for
    # good, the fax was never printed although the server was back seconds later.
    cups.stop()
    with pytest.raises(ChannelError) as caught:
        sender().send(job(tmp_path))
    assert not caught.value.permanent


def test_without_ipptool_nothing_is_printed(
    queue: Path, tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without ipptool a job CUPS aborted (a paper jam) counted as printed.
    import shutil

    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("lp", "lpstat", "cancel"):
        found = shutil.which(name)
        assert found is not None
        (tools / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(ChannelError, match="cups-ipp-utils") as caught:
        sender().send(job(tmp_path))
    assert caught.value.permanent
    assert cups.run("lpstat", "-W", "all", "-o", "FrontDesk").stdout.strip() == ""


def test_the_cups_tools_run_in_the_c_locale(
    queue: Path, tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under LANG=de_DE lp says "Anfrage-ID ist FrontDesk-1": faxd found no job id, and
    # every retry left one more held job. This machine has no German locale, so lp's
    # translation is played by a wrapper that answers in German unless LC_ALL=C.
    import shutil

    real = shutil.which("lp")
    assert real is not None
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "lp").write_text(
        "#!/bin/sh\n"
        f'out=$("{real}" "$@") || exit $?\n'
        'if [ "$LC_ALL" = C ]; then echo "$out"; '
        "else echo \"$out\" | sed 's/request id is/Anfrage-ID ist/'; fi\n"
    )
    (tools / "lp").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    sender().send(job(tmp_path))
    assert len(list(queue.iterdir())) == 1


def test_a_server_named_in_client_conf_is_asked_about_aborted_jobs(
    queue: Path, tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client of a print server names it in client.conf, not in CUPS_SERVER: ipptool
    # asked localhost, learnt nothing, and a jammed job counted as printed.
    home = tmp_path / "home"
    (home / ".cups").mkdir(parents=True)
    (home / ".cups" / "client.conf").write_text(f"ServerName {cups.socket}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CUPS_SERVER")
    with pytest.raises(ChannelError, match=r"aborted job .*: told to fail"):
        sender().send(job(tmp_path, title="FAIL this one"))


def test_a_job_cups_keeps_no_history_of_is_printed_once(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    # With PreserveJobHistory No, CUPS forgets a job the moment it ends: read as "lost",
    # every retry printed the received fax once more.
    conf = cups.root / "cupsd.conf"
    cups.stop()
    conf.write_text(conf.read_text() + "PreserveJobHistory No\n")
    cups.start()
    worker, outbox, clock = _one_print_row(tmp_path)
    for _ in range(3):
        worker.drain("desk", PrintSender(PrintChannel(name="desk", queue="FrontDesk")))
        clock.advance(3600)
    assert outbox.counts() == {"done": 1}
    [printed] = list(queue.iterdir())
    assert printed.read_bytes() == (tmp_path / "fax.pdf").read_bytes()


@pytest.mark.parametrize("written", ["frontdesk", "FrontDesk/duplex"])
def test_a_queue_written_otherwise_than_cups_lists_it_is_still_followed(
    written: str, queue: Path, tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lp takes a queue in any case, and an lpoptions instance (FrontDesk/duplex), but
    # lpstat lists the job as FrontDesk-1 under FrontDesk alone: faxd never found it
    # waiting and reported it printed at once, on a stopped printer too.
    monkeypatch.setenv("HOME", str(tmp_path))  # lpoptions keeps the instance in ~/.cups
    assert cups.run("lpoptions", "-p", "FrontDesk/duplex", "-o", "sides=one-sided").returncode == 0
    assert cups.run("cupsdisable", "FrontDesk").returncode == 0
    with pytest.raises(ChannelError, match="is stopped"):
        sender(written).send(job(tmp_path))
    assert cups.run("lpstat", "-W", "not-completed", "-o", "FrontDesk").stdout.strip() == ""
    assert cups.run("cupsenable", "FrontDesk").returncode == 0
    sender(written).send(job(tmp_path))
    assert len(list(queue.iterdir())) == 1


def test_a_job_moved_to_another_queue_is_not_printed_until_it_ends(
    queue: Path, tmp_path: Path, cups: Cups
) -> None:
    # Moved by the administrator (lpmove) onto a stopped printer, the job left the queue
    # faxd followed and counted as printed while it waited there.
    added = cups.run("lpadmin", "-p", "BackOffice", "-E", "-v", "capture:/", "-m", "raw")
    assert added.returncode == 0, added.stderr
    assert cups.run("cupsdisable", "BackOffice").returncode == 0
    message = job(tmp_path)
    assert message.print_file is not None
    held = sender().submit(message.print_file, "moved", hold=True)
    assert cups.run("lpmove", held, "BackOffice").returncode == 0
    sender().resume(held)
    with pytest.raises(printer.JobUnknownError, match="no longer on 'FrontDesk'"):
        sender().follow(held)
    assert cups.run("cupsenable", "BackOffice").returncode == 0
    for _ in range(100):  # until BackOffice has printed it
        if not cups.run("lpstat", "-W", "not-completed", "-o", "BackOffice").stdout.strip():
            break
        time.sleep(0.1)
    sender().follow(held)
    printed_once_as(queue, held)
