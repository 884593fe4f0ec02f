"""The command line, in-process: exit codes, one-sentence errors, and each command's
effect against the sandbox."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from faxd.cli import main
from faxd.sandbox.server import SandboxServer
from faxd.store.journal import Journal

from ..e2e.harness import Faxd, pdf, wait_for
from ..unfinished_write import leave_unfinished_write


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), environ={})
    out, err = capsys.readouterr()
    return code, out, err


def test_usage_errors_exit_2_with_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "send", "x.pdf")
    assert code == 2
    assert "--to" in err
    assert "faxd: faxd" not in err
    assert err.startswith("faxd: send: ")


def test_send_takes_files_after_the_numbers(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    original = tmp_path / "after.pdf"
    original.write_bytes(pdf("files-after-numbers"))
    code, _, err = run(
        capsys, "send", "--config", str(setup.config_path), "--to", "+46812345678", str(original)
    )
    assert code == 0, err
    assert "required: FILE" not in err
    assert sandbox.stats()["docs"]["requests"].get("send") == 1


def test_a_closed_pipe_is_a_normal_end(setup: Faxd) -> None:
    import os
    import subprocess
    import sys

    # `faxd status | head -1` once head has gone: every write meets a closed pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "faxd", "status", "--config", str(setup.config_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert b"BrokenPipe" not in done.stderr
    assert b"internal error" not in done.stderr
    assert done.returncode == 0


def test_help_says_history_takes_a_document_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"], environ={})
    assert "transmissions of a number or a document" in capsys.readouterr().out


def test_missing_configuration_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "status", "--config", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_check_config_prints_the_effective_configuration(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    code, out, err = run(capsys, "check-config", "--config", str(setup.config_path))
    assert code == 0
    assert "***" in out
    assert "sandbox-docs-key" not in out + err
    assert "OK" in err


def test_a_spool_folder_faxd_cannot_look_into_is_one_sentence(
    capsys: pytest.CaptureFixture[str], setup: Faxd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Owned by another user with mode 0700: Path.exists() on sent/ inside raised
    PermissionError, an internal error. Simulated, as root looks into any folder."""
    closed = setup.spool
    inside = {"sent_dir": str(closed / "sent"), "failed_dir": str(closed / "failed")}
    setup.folders = [{"path": str(closed), **inside}]
    setup.write_config()
    real_stat, real_access = os.stat, os.access

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if isinstance(path, (str, Path)) and Path(path).parent == closed:
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        return Path(path) != closed and real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "access", access)
    for command in ("check-config", "run"):
        code, _, err = run(capsys, command, "--config", str(setup.config_path))
        assert code in (1, 2), err
        assert "internal error" not in err and "Traceback" not in err
        assert f"cannot look into {closed}, so it cannot use {closed / 'sent'}" in err
        assert "give that user access" in err


def test_check_config_lists_every_problem_with_its_line(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    text = setup.config_path.read_text()
    text = text.replace("settle:", "setle:").replace("region: SE", "region: XX")
    setup.config_path.write_text(text + "bogus_key: 1\n")
    code, _, err = run(capsys, "check-config", "--config", str(setup.config_path))
    assert code == 1  # problems found; 2 is for a command line it cannot parse
    assert "setle" in err and "settle" in err
    assert "XX" in err
    assert "bogus_key" in err
    assert err.count("line ") >= 3


def test_a_deny_prefix_with_the_trunk_digit_is_said_by_check_config_and_refused_by_run(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    # `deny: "+460900"` (the office meant +46 900) refused nothing, and nothing said so.
    setup.overrides = {"deny": ["+46939", "+460900"]}
    setup.write_config()
    for command, exit_code in (("check-config", 1), ("run", 2)):
        code, _, err = run(capsys, command, "--config", str(setup.config_path))
        assert code == exit_code, err
        assert "'+460900' matches no number: after +46 it begins with 0, the trunk" in err
        assert "write '+46900'" in err


def test_check_config_escapes_controls_in_what_it_quotes(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    setup.config_path.write_text(setup.config_path.read_text() + '"\\e]0;pwned\\a\\e[2Jbogus": 1\n')
    code, _, err = run(capsys, "check-config", "--config", str(setup.config_path))
    assert code == 1
    assert "bogus" in err
    assert "\x1b" not in err and "\x07" not in err  # shown escaped, never sent to the terminal


def test_check_config_keeps_its_verdict_when_its_output_is_cut_off(setup: Faxd) -> None:
    # `faxd check-config | head -1`: the configuration's problems still count and are said.
    # A problem only the machine check finds: a spool folder on a share not mounted.
    setup.folders = [{"path": str(setup.root / "nas" / "fax" / "abroad")}]
    setup.write_config()
    child = subprocess.Popen(
        [sys.executable, "-m", "faxd", "check-config", "--config", str(setup.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before the first line
    err = child.stderr.read().decode()
    assert child.wait(30) == 1, err
    assert "abroad does not exist" in err and "Traceback" not in err


def test_an_internal_error_is_one_sentence_and_the_advice(
    capsys: pytest.CaptureFixture[str], setup: Faxd, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> int:
        raise RuntimeError("no stop at the end")

    monkeypatch.setattr("faxd.cli._dispatch", broken)
    code, _, err = run(capsys, "status", "--config", str(setup.config_path))
    assert code == 1
    assert "no stop at the end. Run again with --debug" in err


def test_check_config_exits_1_for_problems_and_2_for_a_bad_command_line(
    capsys: pytest.CaptureFixture[str], setup: Faxd, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "check-config", "--config", str(tmp_path / "missing.yaml"))
    assert code == 1
    assert "missing.yaml does not exist" in err
    code, _, err = run(capsys, "check-config", "--config", str(setup.config_path), "--bogus")
    assert code == 2
    assert "--bogus" in err


def test_explain_names_the_rule_numbers_and_method(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    doc = setup.drop("Acme AB/offer.pdf", pdf("explain"))
    code, out, _ = run(capsys, "explain", "--config", str(setup.config_path), str(doc))
    assert code == 0
    assert "subfolder" in out
    assert "+46812345678" in out
    assert "Direct File Transfer" in out
    assert "nothing; it would be sent" in out
    assert doc.exists()


def test_explain_of_a_folder_or_a_link_says_so_in_a_sentence(
    capsys: pytest.CaptureFixture[str], setup: Faxd, tmp_path: Path
) -> None:
    doc = setup.drop("+46812345678/real.pdf", pdf("explain-link"))
    for folder in (setup.spool, doc.parent):
        code, _, err = run(capsys, "explain", "--config", str(setup.config_path), str(folder))
        assert code == 2
        assert "is a folder" in err and "internal error" not in err
    secret = tmp_path / "private.pdf"
    secret.write_bytes(pdf("private"))
    link = doc.parent / "link.pdf"
    link.symlink_to(secret)
    code, out, err = run(capsys, "explain", "--config", str(setup.config_path), str(link))
    assert code == 1
    assert "symbolic link" in out and str(link) in out
    assert "private" not in err


@pytest.mark.parametrize("command", ["retry", "cancel", "release", "history"])
def test_an_argument_that_is_not_utf8_is_a_sentence_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, command: str
) -> None:
    setup.start()  # a journal to look in
    try:
        # Set up, not only there: a daemon stopped while it creates the journal is
        # test_history_right_after_a_first_start_was_killed's case.
        wait_for(lambda: "faxd is running" in setup.log_text(), 30, "the daemon")
    finally:
        setup.stop()
    code, out, err = run(capsys, command, "--config", str(setup.config_path), "lat\udce9n")
    assert "internal error" not in err
    assert code == (0 if command == "history" else 2), err
    if command == "history":
        assert "No transmissions" in out
    # Echoed as the byte it is, the way faxd shows every name that is not UTF-8; its repr
    # showed Python's stand-in for it, '\udce9'.
    assert "'lat\\xe9n'" in out + err
    assert "udce9" not in out + err


def test_history_right_after_a_first_start_was_killed(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    # Killed while it created the journal: `faxd history` said "attempt to write a
    # readonly database" and to chown the folder.
    setup.state.mkdir()
    leave_unfinished_write(setup.state / "journal.sqlite")
    code, out, err = run(capsys, "history", "--config", str(setup.config_path), "+46812345678")
    assert code == 0, err
    assert "No transmissions" in out


def test_bad_arguments_are_usage_errors_in_a_sentence_before_any_copy(
    capsys: pytest.CaptureFixture[str], setup: Faxd, tmp_path: Path
) -> None:
    letter = tmp_path / "a.pdf"
    letter.write_bytes(pdf("bad-arguments"))
    config = ["--config", str(setup.config_path)]
    cases = {
        "not a valid phone number": ["send", *config, str(letter), "--to", "12"],
        "at most 5": ["send", *config, *[str(letter)] * 6, "--to", "+46812345611"],
        "not UTF-8": ["send", *config, str(letter), "--to", "+46812345611", "--reference",
                      "r\udce9f"],
        # Bytes that are not UTF-8 shown as bytes, as in every other message:
        "'no\\xffpe' is not a configured provider": ["send", *config, str(letter), "--to",
                                                     "+46812345611", "--provider", "no\udcffpe"],
        "'2026-01-0\\xff' is not a date": ["journal", *config, "--day", "2026-01-0\udcff"],
    }  # fmt: skip
    for said, argv in cases.items():
        code, _, err = run(capsys, *argv)
        assert code == 2, (said, err)
        assert said in err and "internal error" not in err and ".yaml" not in err
        assert "udcff" not in err
    assert not list(setup.state.glob("outbox/*/*"))  # nothing copied for a refused send


def test_explain_lists_what_would_be_refused(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    doc = setup.drop("+46812345678/fake.pdf", b"not a pdf")
    code, out, _ = run(capsys, "explain", "--config", str(setup.config_path), str(doc))
    assert code == 1
    assert "%PDF-" in out
    assert sandbox.stats()["docs"]["requests"] == {}


def test_send_wait_delivers_a_copy_and_status_shows_it(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    original = tmp_path / "letter.pdf"
    original.write_bytes(pdf("cli-send"))
    code, out, err = run(
        capsys,
        "send",
        "--config",
        str(setup.config_path),
        str(original),
        "--to",
        "+46812345611",
        "--reference",
        "CLI test",
        "--wait",
    )
    assert code == 0, err
    assert "filed:" in out
    assert original.exists()  # the original stays; faxd filed its copy
    assert (setup.sent / "letter.pdf").read_bytes() == original.read_bytes()
    report = (setup.sent / "letter.pdf.report.yaml").read_text()
    assert "method: dft" in report and "CLI test" in report
    assert list(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1]
    code, out, _ = run(capsys, "status", "--config", str(setup.config_path))
    assert code == 0
    assert "letter.pdf" in out
    assert "delivered" in out


def test_send_before_the_daemon_ever_ran_makes_its_sent_and_failed_folders(
    capsys: pytest.CaptureFixture[str], setup: Faxd, tmp_path: Path
) -> None:
    # A new admin's first hour: check-config says OK, no daemon has run yet. `send --wait`
    # reached "delivered", could not file, and never returned.
    # Two spool folders share sent/ and failed/, each filing into a subfolder of its own.
    setup.folders = [{"path": str(setup.spool)}, {"path": str(setup.root / "scanner")}]
    setup.write_config()
    assert not setup.sent.exists() and not setup.failed.exists()
    letter, empty = tmp_path / "letter.pdf", tmp_path / "empty.pdf"
    letter.write_bytes(pdf("first-hour"))
    empty.write_bytes(b"")
    code, out, err = run(
        capsys, "send", "--config", str(setup.config_path), str(letter), "--to", "+46812345611",
        "--wait",
    )  # fmt: skip
    assert code == 0, err
    [filed] = setup.sent.rglob("letter.pdf")
    assert filed.read_bytes() == letter.read_bytes()
    code, out, err = run(
        capsys, "send", "--config", str(setup.config_path), str(empty), "--to", "+46812345611"
    )
    assert code == 1
    assert "empty" in out + err and "mount the share" not in out + err
    assert list(setup.failed.rglob("empty.pdf.report.yaml"))


def test_send_to_a_failing_number_exits_1(
    capsys: pytest.CaptureFixture[str], setup: Faxd, tmp_path: Path
) -> None:
    original = tmp_path / "doomed.pdf"
    original.write_bytes(pdf("doomed"))
    argv = ["send", "--config", str(setup.config_path), str(original), "--to", "+46812345699"]
    code, _, _ = run(capsys, *argv, "--wait")
    assert code == 1
    report = setup.failed / "doomed.pdf.report.yaml"
    # Its advice names the command that sends it again: `faxd retry` refuses it.
    assert "send it again later (faxd send)" in report.read_text(encoding="utf-8")
    assert "faxd retry" not in report.read_text(encoding="utf-8")
    retry = ["retry", "--config", str(setup.config_path), str(setup.failed / "doomed.pdf")]
    code, _, err = run(capsys, *retry)
    assert code == 2
    assert "faxd send" in err


def test_retry_puts_a_failed_document_back_and_the_daemon_sends_it(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "status", "status": 400})
    setup.start()
    try:
        setup.drop("+46812345678/again.pdf", pdf("retry-cli"))
        report = setup.report_for("again.pdf")
        assert report["result"] == "failed"
        failed = setup.failed / "+46812345678" / "again.pdf"
        code, out, err = run(capsys, "retry", "--config", str(setup.config_path), str(failed))
        assert code == 0, err
        assert "again.pdf" in out
        assert not failed.exists()
        from ..e2e.harness import wait_for

        wait_for(lambda: (setup.sent / "+46812345678" / "again.pdf").exists(), 30, "resent")
        code, _, err = run(capsys, "retry", "--config", str(setup.config_path), "no-such-job")
        assert code == 2
        assert "no-such-job" in err
    finally:
        setup.stop()


def test_sandbox_on_a_taken_port_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "sandbox", "--port", str(port))
    assert code == 1
    assert f"port {port}" in err
    assert "Traceback" not in err


def test_status_shows_the_inbox_of_a_running_daemon(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    from ..e2e.harness import wait_for

    sandbox.add_received(
        {
            "faxTime": "-1h",
            "sender": "+46855512345",
            "recipient": "+4612345678",
            "type": "Fax",
            "files": [{"fileName": "hello.pdf", "size": 2048}],
        }
    )
    setup.inbox = {"path": str(setup.root / "inbox"), "poll_interval": 1}
    setup.start()
    try:
        wait_for(lambda: any((setup.root / "inbox").glob("*hello.pdf")), 30, "the inbox file")

        def shown() -> str | None:
            code, out, _ = run(capsys, "status", "--config", str(setup.config_path))
            return out if code == 0 and "1 received today" in out else None

        out = wait_for(shown, 30, "the inbox line in faxd status")
        # In local time and to the second, like the table's SINCE column.
        assert re.search(
            rf"inbox {re.escape(str(setup.root / 'inbox'))}: last poll "
            r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d, 1 received today",
            out,
        ), out
    finally:
        setup.stop()


def test_send_with_a_quote_in_a_file_name_writes_valid_yaml(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    first = tmp_path / 'a "b".pdf'
    first.write_bytes(pdf("quoted-name"))
    second = tmp_path / 'e "f": g.pdf'
    second.write_bytes(pdf("colon-name"))
    code, _, err = run(
        capsys,
        "send",
        "--config",
        str(setup.config_path),
        str(first),
        str(second),
        "--to",
        "+46812345678",
        "--wait",
    )
    assert code == 0, err
    assert "sidecar" not in err
    assert (setup.sent / 'a "b".pdf').read_bytes() == first.read_bytes()
    assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1]


def test_explain_takes_a_file_from_anywhere_with_folder(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "offer.pdf"
    outside.parent.mkdir()
    outside.write_bytes(pdf("explain-anywhere"))
    code, _, err = run(capsys, "explain", "--config", str(setup.config_path), str(outside))
    assert code == 2
    assert "--folder" in err
    code, out, _ = run(
        capsys,
        "explain",
        "--config",
        str(setup.config_path),
        str(outside),
        "--folder",
        str(setup.spool / "Acme AB"),
    )
    assert code == 0, out
    assert "+46812345678" in out and "subfolder" in out
    sidecar = tmp_path / "side.yaml"
    sidecar.write_text('to: "+46812345611"\n')
    code, out, _ = run(
        capsys,
        "explain",
        "--config",
        str(setup.config_path),
        str(outside),
        "--folder",
        str(setup.spool),
        "--sidecar",
        str(sidecar),
    )
    assert code == 0, out
    assert "+46812345611" in out and "rule:       sidecar" in out
    assert not list(setup.spool.rglob("offer.pdf"))  # nothing was dropped
    # A sidecar problem names its line and key, as a configuration problem does.
    sidecar.write_text('to: "+46812345611"\nretarus:\n  resolution: hgih\n')
    code, out, err = run(
        capsys,
        "explain",
        "--config",
        str(setup.config_path),
        str(outside),
        "--folder",
        str(setup.spool),
        "--sidecar",
        str(sidecar),
    )
    assert code == 1 and "refused:" in out, out + err
    assert "offer.pdf.yaml: line 3, retarus.resolution: 'hgih' is not one of HIGH | LOW" in out
    assert "did you mean 'HIGH'?" in out
    assert sandbox.stats()["docs"]["requests"] == {}


@pytest.mark.parametrize("argv", [["--port", "99999"], ["--smtp-port", "-1"], ["--port", "x"]])
def test_sandbox_with_an_impossible_port_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, "sandbox", *argv)
    assert code == 2, err
    assert "internal error" not in err and "port" in err


def test_send_dials_the_number_typed_whatever_the_document_says(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # A letter printed with another number's fax code in it: the number on the command
    # line is the confirmation, the code is only cleaned out of what is sent.
    letter = tmp_path / "letter.txt"
    letter.write_text("Dear customer,\n@@FAX +46 8 555 000 01@@\nregards\n")
    code, _, err = run(
        capsys, "send", "--config", str(setup.config_path), str(letter), "--to", "+46812345678",
        "--wait",
    )  # fmt: skip
    assert code == 0, err
    [tx] = sandbox.stats()["docs"]["transmissions"].values()
    assert tx["recipient"] == "+46812345678"
    report = yaml.safe_load((setup.sent / "letter.txt.report.yaml").read_text())
    assert [r["number"] for r in report["recipients"]] == ["+46812345678"]


def test_status_and_history_read_an_empty_journal_as_nothing_recorded(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    """0 bytes, as a first start on a full disk leaves it: "no such table: jobs"."""
    setup.state.mkdir(parents=True, exist_ok=True)
    (setup.state / "journal.sqlite").write_bytes(b"")
    for argv in (("status",), ("history", "+46812345678"), ("history", "order")):
        code, out, err = run(capsys, *argv, "--config", str(setup.config_path))
        assert (code, err) == (0, ""), argv
    assert "No transmissions" in out


def test_history_reads_a_journal_from_before_filed_records(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    setup.state.mkdir(parents=True, exist_ok=True)
    path = setup.state / "journal.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:  # as an older faxd left it
        db.execute("DROP TABLE filed_records")
    code, out, err = run(capsys, "history", "+46812345678", "--config", str(setup.config_path))
    assert (code, err) == (0, "")
    assert "No transmissions" in out


def test_run_on_a_read_only_state_disk_exits_1_for_systemd_to_try_again(
    capsys: pytest.CaptureFixture[str], setup: Faxd
) -> None:
    """It said "not writable by faxd's user; fix its owner" and exited 2, which systemd
    never restarts (RestartPreventExitStatus=2): a disk remounted read-only stayed down."""
    setup.state.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(setup.state)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a read-only file system needs root (CAP_SYS_ADMIN)")
    try:
        code, _, err = run(capsys, "run", "--config", str(setup.config_path))
    finally:
        subprocess.run(["umount", str(setup.state)], check=True)
    assert code == 1, err
    assert f"{setup.state} is on a read-only file system; remount it read-write." in err
    assert "fix its owner" not in err
