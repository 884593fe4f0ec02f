"""The command channel: argv without a shell, FAXD_* variables, the time limit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faxd.channels.base import ChannelError, Message
from faxd.channels.command import CommandRunner, fill_argv, fixed_program
from faxd.settings import CommandChannel


def message(**fields: object) -> Message:
    return Message(
        event_id="n.J1.failed.0",
        kind="notice",
        event="failed",
        subject="Fax NOT sent",
        text="...",
        fields=dict(fields),
    )


def test_argv_is_filled_per_argument_and_fields_are_in_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    script = (
        "import os, sys; open(sys.argv[1], 'w').write("
        "'|'.join(sys.argv[2:] + [os.environ['FAXD_EVENT'], os.environ['FAXD_DOCUMENT'], "
        "os.environ['FAXD_EVENT_ID']]))"
    )
    runner = CommandRunner(
        CommandChannel(name="c", argv=(sys.executable, "-c", script, str(out), "{document}"))
    )
    runner.send(message(document="a b; rm -rf ~.pdf"))
    assert out.read_text() == "a b; rm -rf ~.pdf|failed|a b; rm -rf ~.pdf|n.J1.failed.0"


def test_a_failing_program_is_an_error_with_its_words() -> None:
    runner = CommandRunner(
        CommandChannel(
            name="c",
            argv=(sys.executable, "-c", "import sys; sys.stderr.write('disk full'); sys.exit(3)"),
        )
    )
    with pytest.raises(ChannelError, match="exited with status 3: disk full") as caught:
        runner.send(message())
    assert not caught.value.permanent


def test_a_program_that_hangs_is_killed_at_the_limit_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n"
    )
    runner = CommandRunner(CommandChannel(name="c", argv=(sys.executable, "-c", script), timeout=1))
    with pytest.raises(ChannelError, match="still running after 1 s and was stopped"):
        runner.send(message())
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A killed child stays a zombie until its parent (gone) is reaped by init.
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the hanging program's child is still running")


def test_a_missing_program_is_permanent() -> None:
    runner = CommandRunner(CommandChannel(name="c", argv=("/nonexistent/fax-archive",)))
    with pytest.raises(ChannelError) as caught:
        runner.send(message())
    assert caught.value.permanent


def test_a_program_that_exits_0_leaving_a_child_in_the_background_is_done(
    tmp_path: Path,
) -> None:
    # faxd waited for the end of stderr, which the background child holds: the program
    # that had done its work counted as hung, and was run again at every retry.
    runs = tmp_path / "runs.log"
    script = f"echo ran >> {runs}; sleep 30 & exit 0"
    runner = CommandRunner(CommandChannel(name="c", argv=("/bin/sh", "-c", script), timeout=5))
    started = time.monotonic()
    runner.send(message())
    assert time.monotonic() - started < 4
    assert runs.read_text() == "ran\n"


def test_a_flood_on_stderr_keeps_only_its_end() -> None:
    # A program writing gigabytes to stderr (a debug flag left on) grew the daemon to
    # the size of the flood; its last words are what the error needs. Run in a process
    # of its own, whose peak memory is then measured.
    flood = (
        "import sys\n"
        "for _ in range(300):\n"
        "    sys.stderr.write('x' * 1_000_000)\n"
        "sys.stderr.write(' the disk is full'); sys.exit(4)\n"
    )
    probe = (
        "import sys\n"
        "from faxd.channels.base import ChannelError, Message\n"
        "from faxd.channels.command import CommandRunner\n"
        "from faxd.settings import CommandChannel\n"
        f"argv = (sys.executable, '-c', {flood!r})\n"
        "runner = CommandRunner(CommandChannel(name='c', argv=argv))\n"
        "message = Message(event_id='e', kind='notice', event='failed', subject='s', text='')\n"
        "try:\n"
        "    runner.send(message)\n"
        "except ChannelError as exc:\n"
        "    print(str(exc)[-60:])\n"
        # VmHWM, not ru_maxrss: that one keeps the peak of the pytest worker it forked from.
        "print(next(int(line.split()[1]) for line in open('/proc/self/status')"
        " if line.startswith('VmHWM:')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    said, peak_kib = done.stdout.strip().splitlines()
    assert said.endswith("x the disk is full") and "status 4" not in said[-20:]
    assert int(peak_kib) < 150 * 1024, f"peak {int(peak_kib) // 1024} MiB for a 300 MB flood"


def test_a_nul_in_a_field_is_dropped_from_its_argument(tmp_path: Path) -> None:
    # A sidecar's reference with a NUL gave the notice up as "faxd could not build or
    # send it (ValueError)", with a traceback in the log.
    out = tmp_path / "out.txt"
    script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    runner = CommandRunner(
        CommandChannel(name="c", argv=(sys.executable, "-c", script, str(out), "{reference}"))
    )
    runner.send(message(reference="order\x004711"))
    assert out.read_text() == "order4711"


def test_a_program_killed_by_a_signal_says_so() -> None:
    runner = CommandRunner(
        CommandChannel(
            name="c",
            argv=(sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
        )
    )
    with pytest.raises(ChannelError) as caught:
        runner.send(message())
    assert str(caught.value) == f"{sys.executable} was killed by signal 9 (SIGKILL)"


def test_the_program_is_known_before_a_message_unless_a_field_names_it() -> None:
    # check-config checks the program a channel runs, as fill_argv() makes it.
    assert fixed_program(("/usr/local/bin/fax-archive", "{path}")) == "/usr/local/bin/fax-archive"
    assert fixed_program(("/opt/{{fax}}/run",)) == fill_argv(("/opt/{{fax}}/run",), {})[0]
    assert fixed_program(("/opt/{{fax}}/run",)) == "/opt/{fax}/run"
    assert fixed_program(("/opt/fax/{event}",)) is None
