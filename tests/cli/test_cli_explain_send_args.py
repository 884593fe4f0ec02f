"""`faxd explain --folder` trusts the same numbers as the daemon's misdial guard, and
`faxd send --provider` with a provider that is not configured is a bad argument."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faxd.cli import main
from faxd.sandbox.server import SandboxServer

from ..e2e.harness import Faxd, pdf

NEAR = "+46812345677"  # one digit from Acme AB, +46812345678


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), environ={})
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_folder_trusts_every_folders_to_as_the_daemon_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
    other = tmp_path / "branch"
    other.mkdir()
    faxd.folders = [{"path": str(tmp_path / "spool")}, {"path": str(other), "to": [NEAR]}]
    cfg = str(faxd.write_config())
    outside = tmp_path / "letter.pdf"
    outside.write_bytes(pdf("explain-near"))
    code, out, _ = run(
        capsys, "explain", "--config", cfg, str(outside), "--folder", str(faxd.spool / NEAR)
    )
    assert code == 0, out
    assert "held:" not in out and "nothing; it would be sent" in out
    # The same as for the file dropped there, which the daemon's guard sees.
    dropped = faxd.drop(f"{NEAR}/letter.pdf", pdf("explain-near"))
    code, out, _ = run(capsys, "explain", "--config", cfg, str(dropped))
    assert code == 0 and "held:" not in out, out
    # A number near a contact and in no folder's `to:` is still held.
    near_too = "+46812345679"
    code, out, _ = run(
        capsys, "explain", "--config", cfg, str(outside), "--folder", str(faxd.spool / near_too)
    )
    assert code == 1 and "held:" in out and "Acme AB" in out, out
    assert sandbox.stats()["docs"]["requests"] == {}


def test_send_with_an_unknown_provider_is_refused_before_any_job(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    original = tmp_path / "some.pdf"
    original.write_bytes(pdf("unknown-provider"))
    cfg = str(setup.config_path)
    argv = ["send", "--config", cfg, str(original), "--to", "+46812345611"]
    code, _, err = run(capsys, *argv, "--provider", "nosuch")
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "'nosuch'" in err and "docs" in err
    assert not setup.failed.exists() or not any(setup.failed.rglob("*"))
    assert not (setup.state / "outbox").exists() or not any((setup.state / "outbox").iterdir())
    code, out, _ = run(capsys, "history", "--config", cfg, "some.pdf")
    assert code == 0 and "No " in out, out
    assert sandbox.stats()["docs"]["requests"] == {}


def test_explain_of_a_file_faxd_may_not_look_at_says_why_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The README sends an admin to explain when a file stays in the spool; for a file in
    # a folder faxd's user may not search it was "internal error (PermissionError)".
    # (Root may look anywhere, so the refusal is the operating system's answer put in.)
    import errno

    faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
    cfg = str(faxd.write_config())
    locked = faxd.drop(f"{NEAR}/p3.pdf", pdf("locked away"))
    real = Path.lstat

    def lstat(self: Path) -> Any:
        if self == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "lstat", lstat)
    code, out, err = run(capsys, "explain", "--config", cfg, str(locked))
    assert code == 2, (out, err)
    assert "cannot be looked at" in err and "permission" in err
    assert "internal error" not in err


@pytest.mark.parametrize(
    ("rel", "why"),
    [
        (".scan.pdf", "starts with '.'"),
        ("~$offer.docx", "starts with '~'"),
        ("scan.pdf.part", "ends in .part"),
        ("Thumbs.db", "operating system"),
        (".hidden/scan.pdf", "hidden folder .hidden"),
        ("../sent/a.pdf", "faxd files into itself"),
    ],
)
def test_explain_of_a_file_the_daemon_never_picks_up_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rel: str, why: str
) -> None:
    # The README's troubleshooting sends an admin to explain when a file stays in the
    # spool; for a hidden file it said "it would be sent", and the file stayed forever.
    faxd = Faxd(root=tmp_path, docs_url="http://127.0.0.1:9")
    # The default layout: filed inside the spool folder.
    faxd.folders = [{"path": str(faxd.spool), "sent_dir": str(faxd.spool / "sent")}]
    cfg = str(faxd.write_config())
    left = faxd.drop(f"{NEAR}/{rel}", pdf("never picked up"))
    code, out, _ = run(capsys, "explain", "--config", cfg, str(left))
    assert code == 1, out
    assert "faxd never picks this file up" in out and why in out, out
    assert "it would be sent" not in out
