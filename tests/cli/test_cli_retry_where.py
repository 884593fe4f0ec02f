"""`faxd retry` of a document whose spool folder faxd no longer watches: refused, and the
document stays in failed/, rather than put back where nothing would ever send it while
the command said faxd would."""

from __future__ import annotations

import pytest

from faxd.cli import main
from faxd.sandbox.server import SandboxServer

from ..e2e.harness import Faxd
from .test_cli_retry_race import failed_document


def test_a_retry_into_a_folder_no_longer_configured_is_refused(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    failed = failed_document(setup, sandbox)
    elsewhere = setup.root / "elsewhere"
    elsewhere.mkdir()
    setup.folders = [{"path": str(elsewhere)}]  # the old spool folder was taken out
    setup.write_config()
    assert main(["retry", failed, "--config", str(setup.config_path)], environ={}) == 2
    err = capsys.readouterr().err
    assert f"came from {setup.spool}, which is no longer a spool folder" in err
    assert "from failed/ into a spool folder yourself" in err
    assert (setup.failed / "+46812345678" / "twice.pdf").exists()
    assert not (setup.spool / "+46812345678" / "twice.pdf").exists()
