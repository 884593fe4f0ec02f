"""`faxd send` with two files of one name from different folders sends both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.cli import main
from faxd.host import logs
from faxd.sandbox.server import SandboxServer

from ..e2e.harness import Faxd, pdf


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer({"status_delay": 0.2}).start()
    try:
        yield server
    finally:
        server.stop()


def test_two_files_of_one_name_are_two_documents_and_no_sidecar_is_blamed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: SandboxServer
) -> None:
    faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
    faxd.write_config()
    first, second = tmp_path / "a" / "x.pdf", tmp_path / "b" / "x.pdf"
    for path in (first, second):
        path.parent.mkdir()
        path.write_bytes(pdf(str(path)))
    argv = ["send", "--config", str(faxd.config_path), str(first), str(second)]
    try:
        code = main([*argv, "--to", "+46812345678", "--wait"], environ={})
    finally:
        logs.reset()
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "sidecar" not in err
    assert (faxd.sent / "x.pdf").read_bytes() == first.read_bytes()
    assert (faxd.sent / "x (2).pdf").read_bytes() == second.read_bytes()
    assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1]


def test_an_unreadable_file_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faxd = Faxd(root=tmp_path, docs_url="http://127.0.0.1:9/Docs/api/v2")
    faxd.write_config()
    folder = tmp_path / "folder.pdf"
    folder.mkdir()
    try:
        code = main(
            ["send", "--config", str(faxd.config_path), str(folder), "--to", "+46812345678"],
            environ={},
        )
    finally:
        logs.reset()
    _, err = capsys.readouterr()
    assert code == 2
    assert "Errno" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
