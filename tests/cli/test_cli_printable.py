"""What the one-shot commands print of names office users chose: a name with escape
sequences or a line break stays one escaped cell of its row, and one whose bytes are not
UTF-8 does not end the command in an encoding error on a strict UTF-8 terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faxd.cli import main
from faxd.core.printable import shown, shown_lines, table
from faxd.sandbox.server import SandboxServer

from ..e2e.harness import Faxd, pdf, wait_for

TO = "+46812345678"
# Sets the terminal's title, turns the text red, and breaks the line.
TRICK = "esc\x1b]2;owned\x07\x1b[31mred\nline.pdf"
TRICK_SHOWN = "esc\\x1b]2;owned\\x07\\x1b[31mred\\x0aline.pdf"
LATIN1 = os.fsdecode(b"caf\xe9.pdf")  # written by a client that does not speak UTF-8


def _faxd(setup: Faxd, *argv: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    return subprocess.run(
        [sys.executable, "-m", "faxd", *argv, "--config", str(setup.config_path)],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_status_and_history_show_such_names_escaped_in_one_row(
    setup: Faxd, sandbox: SandboxServer
) -> None:
    setup.start()
    try:
        setup.drop(f"{TO}/{TRICK}", pdf("trick"))
        setup.drop(f"{TO}/{LATIN1}", pdf("latin-1"))
        wait_for(lambda: len(setup.reports()) == 2, 60, "both documents filed")
    finally:
        assert setup.stop() == 0
    for argv in (["status"], ["history", TO]):
        done = _faxd(setup, *argv)
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode("utf-8")  # strictly: valid UTF-8
        assert "\x1b" not in out and "\x07" not in out
        tricked = [line for line in out.splitlines() if "esc" in line]
        assert len(tricked) == 1 and TRICK_SHOWN in tricked[0]
        assert "caf\\xe9.pdf" in out


def test_an_error_naming_such_a_file_is_one_escaped_line(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    code = main(["retry", TRICK, "--config", str(setup.config_path)], environ={})
    _, err = capsys.readouterr()
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err
    assert len(err.strip().splitlines()) == 1 and "esc\\x1b]2;owned" in err


def test_the_text_helpers() -> None:
    assert shown("a\tb\nc\x85d\u2028") == "a\\x09b\\x0ac\\x85d\\u2028"
    assert shown_lines("one\n\ttwo\r\x1b[2J") == "one\n\ttwo\\x0d\\x1b[2J"
    assert shown(LATIN1) == "caf\\xe9.pdf"
    assert table([("A", "LONG"), ("x\ny", "z")]) == "A       LONG\nx\\x0ay  z"


def test_a_table_aligns_by_the_columns_a_name_takes_on_screen() -> None:
    # Two columns per CJK character or emoji: padded by characters, the next column of a
    # Japanese name's row started far to the right of the others'.
    rows = [("NAME", "STATE"), ("請求書.pdf", "queued"), ("invoice.pdf", "sent"), ("📠.pdf", "x")]
    lines = table(rows).splitlines()
    starts = []
    for line, (name, state) in zip(lines, rows, strict=True):
        before = line[: line.index(state, len(name))]
        starts.append(sum(2 if c >= "\u3000" else 1 for c in before))
    assert len(set(starts)) == 1, lines
