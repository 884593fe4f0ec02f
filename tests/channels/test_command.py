"""The command channel: argv without a shell, FAXD_* variables, the time limit."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from faxd.channels.base import ChannelError, Message
from faxd.channels.command import CommandRunner
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
