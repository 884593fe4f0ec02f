"""The process's last word: an internal error in `faxd run` is a JSON line like every
other line when the output is not a terminal (systemd, a log file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faxd.cli import main
from faxd.host import logs
from faxd.service import daemon

from ..e2e.harness import Faxd


def test_an_internal_error_in_run_is_one_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    faxd = Faxd(root=tmp_path, docs_url="http://127.0.0.1:9/Docs/api/v2")
    faxd.write_config()

    def broken(self: daemon.Daemon) -> int:
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(daemon.Daemon, "run", broken)
    try:
        code = main(["run", "--config", str(faxd.config_path)], environ={})
    finally:
        logs.reset()
    out, err = capsys.readouterr()
    assert code == 1
    assert err == ""
    last = json.loads(out.strip().splitlines()[-1])
    assert last["level"] == "critical"
    assert last["event"].startswith("internal error (RuntimeError): something nobody foresaw")
