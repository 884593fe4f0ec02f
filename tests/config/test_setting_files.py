"""Files the configuration names are regular files of modest size: a FIFO or a device is a
one-line problem, not a start that hangs or fills memory."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from faxd.config.contacts_file import read_contacts_file
from faxd.errors import ConfigError

from .cfg_helpers import MINIMAL, load

NOT_REGULAR = "not a regular file but a FIFO, device or socket"


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _problems_within(seconds: float, path: Path) -> str:
    """load(path)'s problems, from a thread: a hang fails the test instead of the run."""
    said: list[str] = []

    def run() -> None:
        try:
            load(path)
        except ConfigError as exc:
            said.extend(p.message for p in exc.problems)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading {path} did not return"
    return " | ".join(said)


def test_a_fifo_or_a_device_as_the_configuration_is_a_problem(tmp_path: Path) -> None:
    for path in (_fifo(tmp_path, "faxd.yaml"), Path("/dev/zero")):
        assert f"{path} cannot be read ({NOT_REGULAR})" in _problems_within(10, path)


def test_a_fifo_as_a_credential_file_is_a_problem(tmp_path: Path) -> None:
    _fifo(tmp_path, "key")
    config = tmp_path / "faxd.yaml"
    config.write_text(MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: key"))
    assert NOT_REGULAR in _problems_within(10, config)


def test_a_fifo_as_the_contacts_file_is_a_problem(tmp_path: Path) -> None:
    found = read_contacts_file(_fifo(tmp_path, "contacts.csv"), "SE")
    [(line, message)] = found.problems
    assert line is None
    assert message.startswith(f"{tmp_path / 'contacts.csv'} cannot be read ({NOT_REGULAR})")
